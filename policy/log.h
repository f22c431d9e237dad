/*
 * log.h - leveled logging to stderr or syslog (STYLE G6).
 *
 * One line per event, key=value ("logfmt") by convention of the callers.
 * The level is tested before any formatting.  Untrusted bytes must be
 * escaped by the caller with mh_log_escape(); secrets are never logged.
 * With log_setformat(LOG_FMT_JSON) each line is instead one JSON object
 * built from the same logfmt text by log_logfmt_to_json(), so callers
 * never change.
 *
 * Thread safety: log_* may be called from any thread (one write(2) per
 * line); log_init/log_setlevel/log_setformat only before threads start or
 * from the loop.
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

enum log_format {
	LOG_FMT_LOGFMT = 0,	/* as today */
	LOG_FMT_JSON,		/* one JSON object per line */
};

extern int log_level_cur;

void	log_init(const char *ident, bool use_syslog);
void	log_setlevel(int level);
/* "debug" | "info" | "warn" | "error" -> level, or -1. */
int	log_level_parse(const char *);

/*
 * Selects the line format; anything but LOG_FMT_JSON means logfmt.
 * JSON lines on stderr read
 *   {"ts":"2026-11-22T22:39:19.189Z","ident":"mailhold","pid":123,
 *    "level":"info",<members of the message>}
 * and on syslog the same object without ts and pid (syslog adds them);
 * there the object is cut (see below) at LOG_JSON_SYSLOG_MAX octets so a
 * relay with an 8 KiB message limit never receives half an object.
 * log_warn/fatal add their strerror text as the member "error" (renamed
 * "error_2" when the message has its own error=).
 */
void	log_setformat(int fmt);
/* "logfmt" | "json" -> enum log_format, or -1. */
int	log_format_parse(const char *);

/*
 * Converts one logfmt message, as callers write it, into the members of a
 * JSON object, without the braces, written to out (NUL-terminated):
 *   id=abc event=sent reply="250 ok"
 *   -> "id":"abc","event":"sent","reply":"250 ok"
 * Pure and reentrant, exported for tests.  Any input gives valid ASCII
 * JSON:
 * - tokens are split on spaces outside double quotes; a quote opens only
 *   at the start of a token or right after its first '=', and inside it
 *   a backslash protects the next octet;
 * - key=value gives "key":"value"; a value that is entirely one quoted
 *   string is unquoted (only \" and \\ are undone: \xNN from
 *   mh_log_escape() stays as the text \xNN); any other value, an empty
 *   one or an unterminated quote included, is kept as written;
 * - values are always JSON strings: nothing guesses numbers or booleans,
 *   so a field keeps one type whatever it holds;
 * - a token without '=', or whose key is not 1 to LOG_JSON_KEY_MAX of
 *   [A-Za-z0-9_.-], is kept as written in one member "msg" (space
 *   separated, placed where the first such token is);
 * - the first of several equal keys keeps its name, the next ones become
 *   key_2, key_3, ...; "ts", "ident", "pid", "level" and "truncated" are
 *   taken from the start (the line prefix and the cut marker own them);
 * - '"', '\\', control octets, DEL and octets >= 0x80 (which callers
 *   should never produce) are escaped, the latter two as \u00XX of the
 *   octet.
 * Returns 0, or -1 when the result does not fit in outsz or has more than
 * LOG_JSON_NAMES_MAX members: out then holds the whole members that fit,
 * possibly a cut value, and the last member "truncated":"true" (out is
 * "" when outsz < 21, too small even for that).
 */
int	log_logfmt_to_json(const char *msg, char *out, size_t outsz);
#define LOG_JSON_KEY_MAX	64
#define LOG_JSON_NAMES_MAX	200
#define LOG_JSON_SYSLOG_MAX	7936

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
