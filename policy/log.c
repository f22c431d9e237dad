/*
 * log.c - see log.h.
 */
#include "log.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

int log_level_cur = LOG_LVL_INFO;
static bool log_use_syslog;
static const char *log_ident = "mailhold";

static const char *const log_names[] = { "debug", "info", "warn", "error" };

void
log_init(const char *ident, bool use_syslog)
{
	log_ident = ident;
	log_use_syslog = use_syslog;
	if (use_syslog)
		openlog(ident, LOG_PID | LOG_NDELAY, LOG_MAIL);
}

void
log_setlevel(int level)
{
	log_level_cur = level;
}

int
log_level_parse(const char *s)
{
	size_t i;

	for (i = 0; i < sizeof(log_names) / sizeof(log_names[0]); i++)
		if (strcmp(s, log_names[i]) == 0)
			return (int)i;
	return -1;
}

static void	log_vmsg(int, const char *, va_list, const char *)
		    MH_PRINTF(2, 0);

static void
log_vmsg(int level, const char *fmt, va_list ap, const char *suffix)
{
	static const int prio[] = { LOG_DEBUG, LOG_INFO, LOG_WARNING, LOG_ERR };
	char msg[2048], line[2200], ts[32];
	struct timespec now;
	struct tm tm;
	int n;

	if (vsnprintf(msg, sizeof(msg), fmt, ap) < 0)
		mh_strlcpy(msg, "(log format error)", sizeof(msg));
	if (log_use_syslog) {
		syslog(prio[level], "level=%s %s%s%s", log_names[level], msg,
		    suffix ? ": " : "", suffix ? suffix : "");
		return;
	}
	clock_gettime(CLOCK_REALTIME, &now);
	gmtime_r(&now.tv_sec, &tm);
	strftime(ts, sizeof(ts), "%Y-%m-%dT%H:%M:%S", &tm);
	n = snprintf(line, sizeof(line), "%s.%03ldZ %s[%d]: level=%s %s%s%s\n",
	    ts, now.tv_nsec / 1000000, log_ident, (int)getpid(),
	    log_names[level], msg, suffix ? ": " : "", suffix ? suffix : "");
	if (n < 0)
		return;
	if ((size_t)n >= sizeof(line)) {
		n = sizeof(line) - 1;
		line[n - 1] = '\n';
	}
	/* One write per line so lines from several threads never mix. */
	if (write(STDERR_FILENO, line, (size_t)n) < 0) {
		/* nothing sensible to do */
	}
}

void
log_msg(int level, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_vmsg(level, fmt, ap, NULL);
	va_end(ap);
}

void
log_warn(const char *fmt, ...)
{
	va_list ap;
	char err[256];
	int saved = errno;

	if (!log_enabled(LOG_LVL_WARN))
		return;
	mh_strlcpy(err, strerror(saved), sizeof(err));
	va_start(ap, fmt);
	log_vmsg(LOG_LVL_WARN, fmt, ap, err);
	va_end(ap);
	errno = saved;
}

void
fatal(const char *fmt, ...)
{
	va_list ap;
	char err[256];

	mh_strlcpy(err, strerror(errno), sizeof(err));
	va_start(ap, fmt);
	log_vmsg(LOG_LVL_ERR, fmt, ap, err);
	va_end(ap);
	exit(1);
}

void
fatalx(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_vmsg(LOG_LVL_ERR, fmt, ap, NULL);
	va_end(ap);
	exit(1);
}

void
mh_bug(const char *file, int line, const char *what)
{
	log_msg(LOG_LVL_ERR, "event=bug file=%s line=%d what=\"%s\"", file,
	    line, what);
#ifdef MH_DEBUG_ABORT
	abort();
#endif
}
