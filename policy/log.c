/*
 * log.c - see log.h.
 */
#include "log.h"

#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#define LOG_MSG_MAX	2048	/* one formatted message */
#define LOG_ERR_MAX	256	/* the strerror text of log_warn/fatal */
#define LOG_IDENT_MAX	64	/* octets of the ident put in JSON lines */
/*
 * A JSON line: every message octet may become \u00XX (6x), the strerror
 * text too, plus the prefix, member names and the cut marker.  Too big
 * for the stack (G5), so one buffer per thread: a line is still built
 * and written by one thread with one write(2).
 */
#define LOG_JSON_LINE_MAX	(6 * (LOG_MSG_MAX + LOG_ERR_MAX) + 2048)

int log_level_cur = LOG_LVL_INFO;
static bool log_use_syslog;
static int log_format = LOG_FMT_LOGFMT;
static const char *log_ident = "mailhold";
static char log_ident_json[6 * LOG_IDENT_MAX + 1] = "mailhold";
static _Thread_local char log_json_line[LOG_JSON_LINE_MAX];

static const char *const log_names[] = { "debug", "info", "warn", "error" };
static const char *const log_fmt_names[] = { "logfmt", "json" };

static size_t	log_json_escape(char *, unsigned char);

void
log_init(const char *ident, bool use_syslog)
{
	char esc[8];
	size_t i, n, o = 0;

	log_ident = ident;
	log_use_syslog = use_syslog;
	/* Escaped once here, not on every line. */
	for (i = 0; ident[i] != '\0' && i < LOG_IDENT_MAX; i++) {
		n = log_json_escape(esc, (unsigned char)ident[i]);
		memcpy(log_ident_json + o, esc, n);
		o += n;
	}
	log_ident_json[o] = '\0';
	if (use_syslog)
		openlog(ident, LOG_PID | LOG_NDELAY, LOG_MAIL);
}

void
log_setformat(int fmt)
{
	log_format = fmt == LOG_FMT_JSON ? LOG_FMT_JSON : LOG_FMT_LOGFMT;
}

int
log_format_parse(const char *s)
{
	size_t i;

	for (i = 0; i < sizeof(log_fmt_names) / sizeof(log_fmt_names[0]); i++)
		if (strcmp(s, log_fmt_names[i]) == 0)
			return (int)i;
	return -1;
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

/*
 * logfmt -> JSON members (log_logfmt_to_json).  A writer appends to out
 * up to lim; a conversion runs once with the whole of out and, if that
 * does not fit, again with room kept for the closing quote of a cut value
 * and the marker, so a result that fits is never marked cut.
 */
#define LOG_JSON_MARK	"\"truncated\":\"true\""

/* Base names that are not in the message; the first LOG_JN_NRESERVED are
 * taken before the first key. */
static const char *const log_jn_fixed[] = {
	"ts", "ident", "pid", "level", "truncated", "msg", "error",
};
#define LOG_JN_NRESERVED	5
#define LOG_JN_MSG		5
#define LOG_JN_ERROR		6

/* A member name: a base (in the message, or fixed) and a _N suffix. */
struct log_jname {
	uint32_t	off;	/* into the message, or into log_jn_fixed */
	uint16_t	sfx;	/* 0: none */
	uint8_t		len;	/* of the base, <= LOG_JSON_KEY_MAX */
	uint8_t		fixed;
};

struct log_jw {
	const char	*msg;
	const char	*err;	/* the strerror text, or NULL */
	char		*out;
	size_t		 len;
	size_t		 lim;	/* len stays <= lim ... */
	size_t		 qres;	/* ... but a closing quote may pass by qres */
	bool		 full;	/* something did not fit: stop */
	size_t		 nnames;
	struct log_jname names[LOG_JN_NRESERVED + LOG_JSON_NAMES_MAX];
};

/* Writes the JSON form of c (1, 2 or 6 octets) to dst; returns its
 * length.  A byte >= 0x80 that is not part of valid UTF-8 (log_jw_seq())
 * is taken as U+0080..U+00FF so the output stays valid whatever the
 * input. */
static size_t
log_json_escape(char *dst, unsigned char c)
{
	static const char hex[] = "0123456789abcdef";

	if (c == '"' || c == '\\') {
		dst[0] = '\\';
		dst[1] = (char)c;
		return 2;
	}
	if (c < 0x20 || c >= 0x7f) {
		memcpy(dst, "\\u00", 4);
		dst[4] = hex[c >> 4];
		dst[5] = hex[c & 15];
		return 6;
	}
	dst[0] = (char)c;
	return 1;
}

static int
log_jw_raw(struct log_jw *w, const char *s, size_t n)
{
	if (w->full || w->len > w->lim || n > w->lim - w->len) {
		w->full = true;
		return -1;
	}
	memcpy(w->out + w->len, s, n);
	w->len += n;
	return 0;
}

/* One escaped octet: never split, so a cut value stays valid. */
static int
log_jw_char(struct log_jw *w, unsigned char c)
{
	char esc[6];

	return log_jw_raw(w, esc, log_json_escape(esc, c));
}

/* One character of s (n > 0 octets): a valid UTF-8 sequence goes out
 * as it is (JSON text is UTF-8, RFC 8259 §8.1), whole or not at all;
 * anything else as log_jw_char().  Returns the octets consumed. */
static size_t
log_jw_seq(struct log_jw *w, const char *s, size_t n)
{
	size_t k;

	if ((unsigned char)s[0] >= 0x80 &&
	    (k = mh_utf8_seq((const unsigned char *)s, n, NULL)) > 1) {
		(void)log_jw_raw(w, s, k);
		return k;
	}
	(void)log_jw_char(w, (unsigned char)s[0]);
	return 1;
}

static void
log_jw_close(struct log_jw *w)
{
	if (!w->full || w->qres > 0) {
		if (w->len < w->lim + w->qres) {
			w->out[w->len++] = '"';
			return;
		}
	}
	w->full = true;
}

static const char *
log_jn_base(const struct log_jw *w, const struct log_jname *jn)
{
	return jn->fixed ? log_jn_fixed[jn->off] : w->msg + jn->off;
}

/* The text of a name into buf (LOG_JSON_KEY_MAX + 8); returns its length. */
static size_t
log_jn_text(const struct log_jw *w, const struct log_jname *jn, char *buf)
{
	char d[8];
	size_t n = jn->len, k = 0;
	unsigned v = jn->sfx;

	memcpy(buf, log_jn_base(w, jn), n);
	if (v > 0) {
		buf[n++] = '_';
		do {
			d[k++] = (char)('0' + v % 10);
			v /= 10;
		} while (v > 0);
		while (k > 0)
			buf[n++] = d[--k];
	}
	return n;
}

static bool
log_jn_taken(const struct log_jw *w, const char *name, size_t n)
{
	char buf[LOG_JSON_KEY_MAX + 8];
	size_t i;

	for (i = 0; i < w->nnames; i++)
		if (log_jn_text(w, &w->names[i], buf) == n &&
		    memcmp(buf, name, n) == 0)
			return true;
	return false;
}

/*
 * Adds the name for a base: the base itself when free, else base_N with
 * N from 2, after the last suffix this base got (so "a a a_2 a" gives a,
 * a_2, a_2_2, a_3).  Returns its index, or -1 when the table is full.
 */
static int
log_jn_add(struct log_jw *w, bool fixed, size_t off, size_t len)
{
	struct log_jname cand;
	const struct log_jname *jn;
	const char *base = fixed ? log_jn_fixed[off] : w->msg + off;
	char buf[LOG_JSON_KEY_MAX + 8];
	size_t i, n;
	unsigned sfx;

	if (w->nnames == sizeof(w->names) / sizeof(w->names[0]) ||
	    off > UINT32_MAX || len > LOG_JSON_KEY_MAX) {
		w->full = true;
		return -1;
	}
	cand.off = (uint32_t)off;
	cand.len = (uint8_t)len;
	cand.fixed = fixed;
	cand.sfx = 0;
	n = log_jn_text(w, &cand, buf);
	if (log_jn_taken(w, buf, n)) {
		sfx = 2;
		for (i = 0; i < w->nnames; i++) {
			jn = &w->names[i];
			if (jn->sfx >= sfx && jn->len == len &&
			    memcmp(log_jn_base(w, jn), base, len) == 0)
				sfx = jn->sfx + 1u;
		}
		/* Ends: fewer than nnames candidates are taken. */
		for (;; sfx++) {
			cand.sfx = (uint16_t)sfx;
			n = log_jn_text(w, &cand, buf);
			if (!log_jn_taken(w, buf, n))
				break;
		}
	}
	w->names[w->nnames] = cand;
	return (int)w->nnames++;
}

/* Starts a member: [,]"name":" -- all of it or, on -1, nothing. */
static int
log_jw_member(struct log_jw *w, bool fixed, size_t off, size_t len)
{
	char name[LOG_JSON_KEY_MAX + 8];
	size_t mark = w->len, n;
	int i;

	if (w->full || (i = log_jn_add(w, fixed, off, len)) == -1)
		return -1;
	n = log_jn_text(w, &w->names[i], name);
	if ((w->len > 0 && log_jw_raw(w, ",", 1) == -1) ||
	    log_jw_raw(w, "\"", 1) == -1 || log_jw_raw(w, name, n) == -1 ||
	    log_jw_raw(w, "\":\"", 3) == -1) {
		w->len = mark;
		return -1;
	}
	return 0;
}

/*
 * The next token at or after *pp, or false at the end.  Tokens end at a
 * space outside quotes; a quote opens only at the start of the token or
 * right after its first '=', and a backslash inside protects the next
 * octet.  An unterminated quote runs to the end of the message.
 */
static bool
log_json_token(const char **pp, const char **tokp, size_t *lenp)
{
	const char *p = *pp, *start, *eq = NULL;

	while (*p == ' ')
		p++;
	if (*p == '\0')
		return false;
	for (start = p; *p != '\0' && *p != ' ';) {
		if (*p == '"' && (p == start || (eq != NULL && p == eq + 1))) {
			for (p++; *p != '\0' && *p != '"'; p++)
				if (*p == '\\' && p[1] != '\0')
					p++;
			if (*p == '"')
				p++;
			continue;
		}
		if (*p == '=' && eq == NULL)
			eq = p;
		p++;
	}
	*tokp = start;
	*lenp = (size_t)(p - start);
	*pp = p;
	return true;
}

/* The length of the token's key, or 0 when it has no valid one. */
static size_t
log_json_keylen(const char *tok, size_t len)
{
	size_t i;
	char c;

	for (i = 0; i < len && tok[i] != '='; i++) {
		c = tok[i];
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		    (c >= '0' && c <= '9') || c == '_' || c == '.' || c == '-'))
			return 0;
	}
	if (i == 0 || i == len || i > LOG_JSON_KEY_MAX)
		return 0;
	return i;
}

/* A value: one whole quoted string loses its quotes and its \" and \\
 * escapes; anything else is kept as written. */
static void
log_jw_value(struct log_jw *w, const char *v, size_t n)
{
	size_t i;

	if (n >= 2 && v[0] == '"') {
		for (i = 1; i < n && v[i] != '"'; i++)
			if (v[i] == '\\' && i + 1 < n)
				i++;
		if (i == n - 1) {
			for (i = 1; i < n - 1 && !w->full;) {
				if (v[i] == '\\' && i + 2 < n &&
				    (v[i + 1] == '"' || v[i + 1] == '\\'))
					i++;
				i += log_jw_seq(w, v + i, n - 1 - i);
			}
			return;
		}
	}
	for (i = 0; i < n && !w->full;)
		i += log_jw_seq(w, v + i, n - i);
}

/* The member "msg": every token from p on that is not key=value. */
static void
log_jw_bare(struct log_jw *w, const char *p)
{
	const char *tok;
	size_t len, i;
	bool first = true;

	if (log_jw_member(w, true, LOG_JN_MSG, 3) == -1)
		return;
	while (!w->full && log_json_token(&p, &tok, &len)) {
		if (log_json_keylen(tok, len) > 0)
			continue;
		if (!first)
			log_jw_char(w, ' ');
		first = false;
		for (i = 0; i < len && !w->full;)
			i += log_jw_seq(w, tok + i, len - i);
	}
	log_jw_close(w);
}

static int
log_json_pass(struct log_jw *w)
{
	const char *p = w->msg, *tok;
	size_t len, klen, i;
	bool bare = false;

	w->len = 0;
	w->full = false;
	w->nnames = 0;
	for (i = 0; i < LOG_JN_NRESERVED; i++)
		(void)log_jn_add(w, true, i, strlen(log_jn_fixed[i]));
	while (!w->full && log_json_token(&p, &tok, &len)) {
		if ((klen = log_json_keylen(tok, len)) == 0) {
			if (!bare)
				log_jw_bare(w, tok);
			bare = true;
			continue;
		}
		if (log_jw_member(w, false, (size_t)(tok - w->msg), klen) == -1)
			break;
		log_jw_value(w, tok + klen + 1, len - klen - 1);
		log_jw_close(w);
	}
	if (w->err != NULL && log_jw_member(w, true, LOG_JN_ERROR, 5) == 0) {
		for (i = 0; w->err[i] != '\0' && !w->full; i++)
			log_jw_char(w, (unsigned char)w->err[i]);
		log_jw_close(w);
	}
	return w->full ? -1 : 0;
}

/* log_logfmt_to_json, plus the member "error" for err; *lenp is the
 * length written. */
static int
log_json_members(const char *msg, const char *err, char *out, size_t outsz,
    size_t *lenp)
{
	struct log_jw w;
	const size_t mark = sizeof(LOG_JSON_MARK) - 1;

	*lenp = 0;
	if (outsz == 0)
		return -1;
	w.msg = msg;
	w.err = err;
	w.out = out;
	w.lim = outsz - 1;
	w.qres = 0;
	if (log_json_pass(&w) == 0) {
		out[w.len] = '\0';
		*lenp = w.len;
		return 0;
	}
	/* NUL, the quote of a cut value, the comma and the marker. */
	if (outsz < 3 + mark) {
		out[0] = '\0';
		return -1;
	}
	w.lim = outsz - 3 - mark;
	w.qres = 1;
	(void)log_json_pass(&w);
	if (w.len > 0)
		w.out[w.len++] = ',';
	memcpy(w.out + w.len, LOG_JSON_MARK, mark);
	w.len += mark;
	w.out[w.len] = '\0';
	*lenp = w.len;
	return -1;
}

int
log_logfmt_to_json(const char *msg, char *out, size_t outsz)
{
	size_t len;

	return log_json_members(msg, NULL, out, outsz, &len);
}

static const int log_prio[] = { LOG_DEBUG, LOG_INFO, LOG_WARNING, LOG_ERR };

/* One JSON line for msg (and the strerror text suffix, or NULL). */
static void
log_json_write(int level, const char *msg, const char *suffix)
{
	char *line = log_json_line, ts[32];
	struct timespec now;
	struct tm tm;
	size_t size, len, mlen;
	int n;

	if (log_use_syslog) {
		size = LOG_JSON_SYSLOG_MAX;
		n = mh_snprintf(line, size, "{\"ident\":\"%s\",\"level\":"
		    "\"%s\",", log_ident_json, log_names[level]);
	} else {
		size = sizeof(log_json_line);
		clock_gettime(CLOCK_REALTIME, &now);
		gmtime_r(&now.tv_sec, &tm);
		strftime(ts, sizeof(ts), "%Y-%m-%dT%H:%M:%S", &tm);
		n = mh_snprintf(line, size, "{\"ts\":\"%s.%03ldZ\",\"ident\":"
		    "\"%s\",\"pid\":%d,\"level\":\"%s\",", ts,
		    now.tv_nsec / 1000000, log_ident_json, (int)getpid(),
		    log_names[level]);
	}
	if (n < 0)
		return;
	len = (size_t)n;
	/* Room for "}\n" (syslog: "}" and the NUL). */
	(void)log_json_members(msg, suffix, line + len, size - len - 2, &mlen);
	if (mlen == 0)
		len--;		/* no member: no comma after the prefix */
	len += mlen;
	line[len++] = '}';
	if (log_use_syslog) {
		line[len] = '\0';
		syslog(log_prio[level], "%s", line);
		return;
	}
	line[len++] = '\n';
	/* One write per line so lines from several threads never mix. */
	if (write(STDERR_FILENO, line, len) < 0) {
		/* nothing sensible to do */
	}
}

static void	log_vmsg(int, const char *, va_list, const char *)
		    MH_PRINTF(2, 0);

static void
log_vmsg(int level, const char *fmt, va_list ap, const char *suffix)
{
	char msg[LOG_MSG_MAX], line[2200], ts[32];
	struct timespec now;
	struct tm tm;
	int n;

	if (vsnprintf(msg, sizeof(msg), fmt, ap) < 0)
		mh_strlcpy(msg, "(log format error)", sizeof(msg));
	if (log_format == LOG_FMT_JSON) {
		log_json_write(level, msg, suffix);
		return;
	}
	if (log_use_syslog) {
		syslog(log_prio[level], "level=%s %s%s%s", log_names[level],
		    msg, suffix ? ": " : "", suffix ? suffix : "");
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
	char err[LOG_ERR_MAX];
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
	char err[LOG_ERR_MAX];

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
