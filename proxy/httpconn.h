/*
 * httpconn.h - connection accounting for an evhttp server.
 *
 * libevent 2.1 has no accept hook for evhttp, but it asks the server's
 * bufferevent callback (evhttp_set_bevcb) for one bufferevent per
 * accepted connection.  httpconn_bev() makes it there, counts it and
 * takes a reference, so it outlives evhttp's use of it; evhttp's
 * bufferevent_free() clears its callbacks, which is how a one-second
 * sweeper sees the connection is gone (and then drops the reference,
 * which frees it).  A connection over the limit is shut (shutdown(2))
 * right after accept; one older than its lifetime is shut by the sweeper,
 * so a client trickling a request line by line holds nothing for long.
 *
 * Thread: loop thread.  Ownership: httpconn_free() after evhttp_free().
 */
#ifndef MH_PROXY_HTTPCONN_H
#define MH_PROXY_HTTPCONN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <openssl/ssl.h>

struct bufferevent;
struct event_base;
struct httpconn;

/* what: for log lines ("web", "metrics"). */
struct httpconn	*httpconn_new(struct event_base *, const char *what,
		    size_t max, int64_t life_ms);
void		 httpconn_set_limits(struct httpconn *, size_t max,
		    int64_t life_ms);
/* For the bevcb: a bufferevent for the new connection (TLS when ssl is
 * not NULL; the SSL is taken over), counted; shut at once when refuse
 * is set or the limit is reached.  NULL when none could be made. */
struct bufferevent *httpconn_bev(struct httpconn *, struct event_base *,
		    SSL *ssl, bool refuse);
size_t		 httpconn_count(const struct httpconn *);
void		 httpconn_free(struct httpconn *);	/* NULL no-op */

#endif
