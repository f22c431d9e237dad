/*
 * webpage.h - the HTML of the sender's page (/m/<token>) and the small
 * pages around it (404, 429, errors), in Japanese and English.
 *
 * Pure: renders from a view the caller fills in (proxy/web.c does the
 * HTTP, the token check and the queue); no I/O.  Every value taken from a
 * message (subject, addresses, finding texts, user agent) goes through
 * mh_buf_html().  The page works without JavaScript (it has none: the CSP
 * forbids scripts), uses one inline-free stylesheet served at
 * WEBPAGE_CSS_PATH, reads well on a phone (viewport meta, fluid layout,
 * large buttons) and holds the two buttons as two POST forms carrying the
 * CSRF value:
 *
 *   <form method="post" action="/m/TOKEN">
 *     <input type="hidden" name="csrf" value="...">
 *     <button type="submit" name="action" value="cancel">Cancel
 *     sending</button>
 *   </form>   (and the same with value="send")
 *
 * Ownership: webpage_render*() return a malloc'd NUL-terminated buffer
 * (*lenp octets) the caller frees; never NULL.  Thread: any.
 */
#ifndef MH_PROXY_WEBPAGE_H
#define MH_PROXY_WEBPAGE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "alert.h"	/* enum alert_lang, struct alert_finding */

#define WEBPAGE_CSS_PATH	"/static/mailhold.css"

/* What the page says about the message. */
enum webpage_state {
	WEBPAGE_HELD = 0,	/* goes out at release_at unless cancelled;
				   shown as SENDING once release_at <= now
				   (after "send now", or due) */
	WEBPAGE_AWAITING,	/* goes out only on "send now"; dropped at
				   release_at */
	WEBPAGE_DEFERRED,	/* upstream refused for now; retried at
				   release_at; still cancellable */
	WEBPAGE_SENDING,	/* handed to the relay: no buttons */
	WEBPAGE_SENT,		/* at done_at */
	WEBPAGE_FAILED,		/* at done_at */
	WEBPAGE_CANCELLED,	/* at done_at */
};

/* The outcome of the POST that produced this page, if any. */
enum webpage_notice {
	WEBPAGE_N_NONE = 0,
	WEBPAGE_N_CANCELLED,	/* "Cancelled. It will not be sent." */
	WEBPAGE_N_RELEASED,	/* "Sent now: it is on its way." */
	WEBPAGE_N_TOO_LATE,	/* the action came too late: the page's
				   state says why ("already sent at 14:05") */
	WEBPAGE_N_BAD_CSRF,	/* "This form has expired; please use the
				   buttons on this page again." */
	WEBPAGE_N_ERROR,	/* "Something went wrong; nothing changed;
				   try again." */
};

struct webpage_view {
	enum alert_lang		 lang;
	const char		*token;		/* for the form action */
	const char		*csrf;		/* hidden form value */
	const char		*id;		/* queue id */
	const char		*sender;
	const char		*subject;	/* decoded UTF-8, or NULL */
	const char *const	*rcpts;
	size_t			 nrcpts;
	const struct alert_finding *findings;	/* flagged recipients are
						   marked in the list */
	size_t			 nfindings;
	enum webpage_state	 state;
	int64_t			 now;
	int64_t			 received_at;
	int64_t			 release_at;	/* see enum webpage_state */
	int64_t			 done_at;	/* sent / failed / cancelled */
	enum webpage_notice	 notice;
};

/* The page (status 200).  Heading, text and buttons all follow the
 * state (after an action, the new one; the notice only adds the
 * outcome).  Shows subject, sender, why it was held (each explanation
 * once, with the recipients it concerns under it), the recipients with
 * the flagged ones marked, the send time with the countdown computed now
 * ("in 4 min 30 s"; no script), and, in the HELD, AWAITING and DEFERRED
 * states, the buttons "Cancel sending" and "Send now". */
char	*webpage_render(const struct webpage_view *, size_t *lenp);

enum webpage_error {
	WEBPAGE_E_NOT_FOUND = 0,	/* 404: says nothing about whether a
					   token ever existed */
	WEBPAGE_E_RATE,			/* 429: too many failed look-ups */
	WEBPAGE_E_BAD_REQUEST,		/* 400 */
	WEBPAGE_E_METHOD,		/* 405 */
	WEBPAGE_E_UNAVAILABLE,		/* 503 */
};
/* A short plain page for an error, in lang. */
char	*webpage_render_error(enum webpage_error, enum alert_lang,
	    size_t *lenp);

/* The stylesheet (static, served with a long max-age). */
const char	*webpage_css(size_t *lenp);

/*
 * Picks the page language from an Accept-Language header (RFC 9110
 * section 12.5.4: q-values, "*", region subtags; malformed parts are
 * skipped): the supported language with the highest q > 0, ties going to
 * the earlier one; dflt when the header is NULL or names none.  Bounded:
 * looks at the first 1,000 octets and 32 items.
 */
enum alert_lang	webpage_pick_lang(const char *accept_language,
		    enum alert_lang dflt);

#endif
