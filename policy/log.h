/*
 * log.h - leveled logging to stderr or syslog (STYLE G6).
 *
 * One line per event, key=value ("logfmt") by convention of the callers.
 * The level is tested before any formatting.  Untrusted bytes must be
 * escaped by the caller with mh_log_escape(); secrets are never logged.
 *
 * Thread safety: log_* may be called from any thread (one write(2) per
 * line); log_init/log_setlevel only before threads start or from the loop.
 * fatal/fatalx are for start-up, config and unsafe states only, never for
 * anything a peer can cause.
 */
#ifndef MH_POLICY_LOG_H
#define MH_POLICY_LOG_H

#include <stdbool.h>

#include "util.h"

enum log_level {
	LOG_LVL_DEBUG = 0,
	LOG_LVL_INFO,
	LOG_LVL_WARN,
	LOG_LVL_ERR,
};

extern int log_level_cur;

void	log_init(const char *ident, bool use_syslog);
void	log_setlevel(int level);
/* "debug" | "info" | "warn" | "error" -> level, or -1. */
int	log_level_parse(const char *);

#define log_enabled(lvl)	((lvl) >= log_level_cur)

void	log_msg(int level, const char *fmt, ...) MH_PRINTF(2, 3);
#define log_debug(...) do { if (log_enabled(LOG_LVL_DEBUG)) \
	log_msg(LOG_LVL_DEBUG, __VA_ARGS__); } while (0)
#define log_info(...) do { if (log_enabled(LOG_LVL_INFO)) \
	log_msg(LOG_LVL_INFO, __VA_ARGS__); } while (0)
#define log_warnx(...) do { if (log_enabled(LOG_LVL_WARN)) \
	log_msg(LOG_LVL_WARN, __VA_ARGS__); } while (0)
/* Like log_warnx, with ": strerror(errno)" appended. */
void	log_warn(const char *fmt, ...) MH_PRINTF(1, 2);

void	fatal(const char *fmt, ...) MH_PRINTF(1, 2)
	    __attribute__((noreturn));
void	fatalx(const char *fmt, ...) MH_PRINTF(1, 2)
	    __attribute__((noreturn));

/*
 * An impossible state: logs file and line; aborts in test and sanitizer
 * builds (MH_DEBUG_ABORT), otherwise returns so the caller can close only
 * the affected session.
 */
void	mh_bug(const char *file, int line, const char *what);
#define MH_BUG(what)	mh_bug(__FILE__, __LINE__, (what))

#endif
