/*
 * alert.h - the mails mailhold writes to a sender: the alert about a held
 * message (with its cancel / send-now link) and, with the same care, the
 * failure notice (notify.c).
 *
 * Pure: builds a whole RFC 5322 message (header and body, CRLF lines of at
 * most 998 octets, no NUL) from a view the caller fills in; no I/O, no
 * config, no globals except the clock-free time formatting below.
 *
 * The alert is MIME: multipart/alternative with a text/plain and a
 * text/html part, both UTF-8 (base64 or quoted-printable, so every line
 * is short whatever the input), Subject encoded with RFC 2047 when it is
 * not plain ASCII, "Auto-Submitted: auto-generated", no remote images, no
 * tracking, nothing but the two action links (both to the same page: the
 * page, not the link, carries the buttons; GET never acts).  Every field
 * taken from the message (subject, addresses, finding texts) is escaped
 * for HTML and never placed in a header unencoded.
 *
 * Ownership: alert_build_*() return a malloc'd buffer (*lenp octets, also
 * NUL-terminated) the caller frees.  Never NULL (OOM is fatal).
 * Thread: any.
 */
#ifndef MH_PROXY_ALERT_H
#define MH_PROXY_ALERT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum alert_lang {
	ALERT_LANG_EN = 0,
	ALERT_LANG_JA,
};

/* "en" / "ja" (case-insensitive, region ignored: "ja-JP") -> lang, or -1. */
int		 alert_lang_parse(const char *);
const char	*alert_lang_to_str(enum alert_lang);

/* One enforced policy finding, already in the view's language. */
struct alert_finding {
	const char		*rule;		/* "typo_domain", ... */
	const char		*text;		/* UTF-8, plain words */
	const char		*suggestion;	/* likely intended, or NULL */
	const char *const	*rcpts;		/* the recipients concerned */
	size_t			 nrcpts;
};

/* Whether x and y give the same explanation: equal text and suggestion
 * (either may be NULL), compared over their first text_max / sugg_max
 * octets (what a reader is shown); the mail and the page tell each
 * explanation once, with all its recipients. */
bool	alert_finding_same(const struct alert_finding *x,
	    const struct alert_finding *y, size_t text_max, size_t sugg_max);

struct alert_view {
	enum alert_lang		 lang;
	const char		*hostname;	/* this server, for From and
						   Message-ID */
	const char		*from_addr;	/* alert sender address, e.g.
						   "mailhold@<hostname>" */
	const char		*id;		/* queue id of the held mail */
	const char		*to;		/* the sender we alert */
	const char		*subject;	/* original, decoded UTF-8, or
						   NULL when it had none */
	const char *const	*rcpts;		/* envelope recipients */
	size_t			 nrcpts;
	const struct alert_finding *findings;
	size_t			 nfindings;
	bool			 awaiting;	/* hold_for_release: goes out
						   only if the sender clicks
						   send; release_at is then
						   when it is dropped */
	int64_t			 now;		/* Date: */
	int64_t			 release_at;	/* unix seconds */
	const char		*url;		/* the page, with the token */
};

/*
 * The alert mail.  Subject (English):
 *   "[mailhold] Held: <subject> — goes out at 14:05"
 *   "[mailhold] Waiting for you: <subject> — will not be sent unless you
 *    release it"  (awaiting)
 * and the Japanese equivalents.  Times are in notify.timezone (see
 * alert_time_str()), with the zone in the body.  The body lists the recipients (flagged ones
 * marked), each finding with its likely intended address, when the mail
 * goes out (or that it will not, and when it is dropped), and the links.
 */
char	*alert_build(const struct alert_view *, size_t *lenp);

/* The failure notice: the recipients that failed for good with the
 * upstream's reply for each, and the original header block quoted
 * (hdr, hlen octets, may be 0).  From is MAILER-DAEMON@hostname;
 * "Auto-Submitted: auto-replied". */
struct alert_failure_view {
	enum alert_lang		 lang;
	const char		*hostname;
	const char		*id;		/* queue id of the failed mail */
	const char		*to;		/* its sender, or notify.admin */
	/* A notice to notify.admin because the sender could not be told:
	 * for_addr is that sender; for_notice says why (the failed mail was
	 * mailhold's own alert or notice to for_addr; else the upstream
	 * cannot carry for_addr's UTF-8 address).  NULL: to the sender. */
	const char		*for_addr;
	bool			 for_notice;
	const char		*subject;	/* original, decoded, or NULL */
	const char *const	*addrs;		/* failed recipients */
	const char *const	*replies;	/* upstream reply for each */
	size_t			 n;
	int64_t			 now;
	const char		*hdr;
	size_t			 hlen;
};
char	*alert_build_failure(const struct alert_failure_view *, size_t *lenp);

/*
 * Building blocks, exposed for the tests and the web page:
 * alert_encode_subject() appends an unstructured header value (UTF-8) as
 * RFC 2047 "B" encoded words when it is not printable ASCII, folded so no
 * header line passes 78 octets and no encoded word passes 75 or splits a
 * UTF-8 character (RFC 2047 section 5 rule 3); used is the octets already
 * on the first line ("Subject: ").
 * alert_time_str() formats t for people in the process's time zone
 * (notify.timezone: main.c sets TZ once at start): "09:49" when t falls
 * on now's date there, else with the date, "8 Dec 09:49" / "12月8日
 * 09:49", and the year when it is not now's ("8 Dec 2027 09:49" /
 * "2027年12月8日 09:49"); with_zone appends the zone's abbreviation
 * (" JST" / " (JST)", its UTC offset when it has none), dropped when only
 * it does not fit.  Returns 0, or -1 with buf "" (sz > 0) when t is not
 * a usable time or does not fit.
 * alert_encode_subject() returns 0, or -1 when b is full (b is then as
 * it was).
 */
struct mh_buf;
int	alert_encode_subject(struct mh_buf *, const char *utf8, size_t used);
int	alert_time_str(int64_t t, int64_t now, enum alert_lang,
	    bool with_zone, char *buf, size_t sz);

#endif
