/*
 * web.h - the sender's page: HTTP(S) with libevent's evhttp.
 *
 * Routes (anything else is 404, other methods 405):
 *   GET  /m/<token>               the page (proxy/webpage.h); changes
 *                                 nothing, whoever fetches it
 *   POST /m/<token>               action=cancel|send with csrf=<value>
 *                                 (application/x-www-form-urlencoded)
 *   GET  /static/mailhold.css     the stylesheet
 *
 * A token is looked up by its selector and checked in constant time
 * (proxy/token.h); an unknown, malformed or wrong token gets the same
 * 404, and counts against the client address (web.max_failures within
 * web.failure_window; past it failed look-ups get 429, while a valid link
 * still works: many senders may share one address).  The client address
 * is the peer's, or the last entry of the last X-Forwarded-For line when
 * the peer is in web.trusted_proxies.
 *
 * An action is one queue_set_state() (one transaction with its audit row:
 * actor "web:<client address>", why with the user agent) from the states
 * in which the sender may still act (held, awaiting_release, deferred);
 * when the message has moved on meanwhile (sent, cancelled, being
 * relayed) the page says so instead.  POSTs need the page's CSRF value;
 * an Origin other than web.base_url's (or "null", which browsers send for
 * a no-referrer page) or a Sec-Fetch-Site other than same-origin is
 * refused.
 *
 * Every answer has CSP (no scripts, no inline styles, forms to self),
 * X-Frame-Options: DENY, Referrer-Policy: no-referrer,
 * X-Content-Type-Options: nosniff, Cache-Control: no-store (pages), and
 * over TLS HSTS.  Request limits: 8 KiB of header, 4 KiB of body,
 * web.timeout of silence, web.max_connections connections (counted from
 * accept: a connection over the limit is shut at once) and a lifetime of
 * 2 x web.timeout per connection, so trickling a request holds nothing
 * for long.
 *
 * Ownership: borrows the queue; holds a config
 * reference, replaced by web_set_config().  Thread: loop thread.
 * Errors: web_new() NULL (logged).
 */
#ifndef MH_PROXY_WEB_H
#define MH_PROXY_WEB_H

#include <openssl/ssl.h>

struct config;
struct event_base;
struct queue;
struct web;

/* Binds web.address:web.port and serves.  tls: the server context when
 * web.tls is on (a reference is taken), else NULL.  When web.base_url is
 * derived, it is rewritten to name the port actually bound (web.port: 0
 * picks any free port; config_web_bound()): at start, before the event
 * loop runs.  A config given later to web_set_config() (a reload) must
 * already name that port: the caller applies config_web_bound() with
 * web_port() before it hands the new config to any module. */
struct web	*web_new(struct event_base *, struct config *, struct queue *,
		    SSL_CTX *tls);
/* The port the listener is bound to (0 for NULL). */
int		 web_port(const struct web *);
void		 web_set_config(struct web *, struct config *);
void		 web_set_tls(struct web *, SSL_CTX *);
/* Stops listening (shutdown): connections in flight finish. */
void		 web_stop(struct web *);
void		 web_free(struct web *);	/* NULL is a no-op */

#endif
