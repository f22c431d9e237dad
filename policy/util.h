/*
 * util.h - small libc-only helpers shared by every mailhold module.
 *
 * Bounded string copy and formatting (STYLE G5), a checked integer parser
 * (never atoi), fatal-on-OOM allocators for small internal objects, a
 * growable bounded buffer (struct mh_buf, in the spirit of Postfix VSTRING)
 * and log escaping of untrusted bytes.
 *
 * Thread safety: every function here is reentrant; mh_buf objects are owned
 * by one thread at a time.
 * Errors: functions that act return 0 / -1; parsers return -1 on bad input
 * and never call fatal.  x*alloc() call fatal() on OOM (see G7: only for
 * small internal objects; input-sized allocations are checked first).
 */
#ifndef MH_POLICY_UTIL_H
#define MH_POLICY_UTIL_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define MH_PRINTF(f, a) __attribute__((format(printf, f, a)))

/* Copies src into dst (size dsize), always NUL-terminates when dsize > 0.
 * Returns strlen(src); truncation happened when the result >= dsize. */
size_t	mh_strlcpy(char *dst, const char *src, size_t dsize);

/* snprintf that returns -1 on error or truncation, else the length. */
int	mh_snprintf(char *buf, size_t size, const char *fmt, ...)
	    MH_PRINTF(3, 4);
int	mh_vsnprintf(char *buf, size_t size, const char *fmt, va_list ap)
	    MH_PRINTF(3, 0);

/* Parses a whole decimal integer (optional leading '-') in [min, max].
 * Returns 0 and sets *out, or -1 on syntax error, overflow or range. */
int	mh_strtonum(const char *s, long long min, long long max,
	    long long *out);
/* Same over a counted, not NUL-terminated, string. */
int	mh_strtonum_n(const char *s, size_t len, long long min, long long max,
	    long long *out);

void	*xmalloc(size_t);
void	*xcalloc(size_t, size_t);
void	*xreallocarray(void *, size_t, size_t);
char	*xstrdup(const char *);
char	*xstrndup(const char *, size_t);

/* ASCII-only, locale-free case-insensitive comparisons (G4). */
int	mh_strcasecmp(const char *, const char *);
int	mh_strncasecmp(const char *, const char *, size_t);
static inline int
mh_tolower(int c)
{
	return (c >= 'A' && c <= 'Z') ? c + ('a' - 'A') : c;
}

/*
 * Growable buffer with a hard cap.  data is always NUL-terminated (the NUL
 * is not counted in len) so it can be passed to str* functions once the
 * caller knows it holds no embedded NUL.  A pointer into data is valid only
 * until the next append.
 */
struct mh_buf {
	char	*data;
	size_t	 len;
	size_t	 cap;
	size_t	 max;	/* hard cap on len; appends past it fail */
};

void	mh_buf_init(struct mh_buf *, size_t max);
void	mh_buf_clear(struct mh_buf *);	/* frees; buffer is reusable */
void	mh_buf_reset(struct mh_buf *);	/* len = 0, keeps memory */
int	mh_buf_append(struct mh_buf *, const void *, size_t);
int	mh_buf_puts(struct mh_buf *, const char *);
int	mh_buf_printf(struct mh_buf *, const char *, ...) MH_PRINTF(2, 3);
/* Returns data and gives it to the caller (who frees it); buf is reset. */
char	*mh_buf_steal(struct mh_buf *, size_t *lenp);

/*
 * Escapes untrusted bytes for a log line: printable ASCII is kept, '"'
 * and '\\' and everything else become \xNN; the result is cut to about
 * maxin input bytes with "..." appended.  Returns out.
 */
const char *mh_log_escape(const char *in, size_t len, size_t maxin,
	    char *out, size_t outsz);
/*
 * The same, but valid UTF-8 stays readable (addresses, RFC 6531): only
 * what would break the line or mislead a reader is escaped (controls,
 * '"', '\\', invalid UTF-8, C1 controls, line separators, bidi controls,
 * the BOM), octet by octet as \xNN.  The cut never splits a character.
 */
const char *mh_log_escape_utf8(const char *in, size_t len, size_t maxin,
	    char *out, size_t outsz);

/* Whether s[0..len) is all ASCII (no octet >= 0x80). */
bool	mh_is_ascii(const char *s, size_t len);

/* Length of the valid UTF-8 sequence at p (1 to 4 octets, len > 0
 * available) and its code point in *cp (may be NULL), or 0 when it is
 * not valid UTF-8 (overlong forms, surrogates, above U+10FFFF). */
size_t	mh_utf8_seq(const unsigned char *p, size_t len, unsigned *cp);

/*
 * Appends len bytes of untrusted text for HTML element content or a
 * quoted attribute value: & < > " ' are escaped as entities, control
 * characters other than TAB/LF/CR and invalid UTF-8 bytes become U+FFFD,
 * so nothing taken from a message can open a tag or leave an attribute.
 * 0, or -1 when b is full.
 */
int	mh_buf_html(struct mh_buf *b, const char *s, size_t len);

/*
 * An envelope address for a log line as one logfmt value: "<addr>",
 * escaped with mh_log_escape_utf8() (at most 320 input octets), and quoted when
 * it holds a space, so a quoted local part cannot forge fields.  Returns
 * out (sz >= 8).
 */
const char *mh_log_addr(const char *addr, char *out, size_t sz);

/* A duration for people: "2d", "3h", "5m", else "90s" (0: "0s"). */
void	mh_fmt_duration(int64_t secs, char *buf, size_t sz);
/* The same in words for texts people read, in the largest whole unit:
 * "1 hour", "2 days", "90 seconds"; ja: "1 時間", "2 日", "90 秒". */
void	mh_fmt_duration_words(int64_t secs, bool ja, char *buf, size_t sz);

/* The value of one base64 digit (RFC 4648 section 4), or -1: shared by
 * the strict SASL decoder and the lenient MIME one. */
int	mh_b64_val(unsigned char c);

/* The clock (mh_now(), mh_mono_ms(), ...) is in clock.h, its own file so
 * that a unit test can link a fake one; included here for the callers
 * that have always found it in util.h. */
#include "clock.h"

#endif
