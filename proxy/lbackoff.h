/*
 * lbackoff.h - a listener that cannot accept backs off instead of spinning.
 *
 * When accept(2) fails with EMFILE, ENFILE, ENOBUFS or ENOMEM, the
 * connection stays in the kernel's backlog and the listening socket stays
 * readable: libevent would call accept again at once, for ever (a whole
 * core and a log line per try).  lbackoff_new() sets the listener's error
 * callback: on a failure the listener is disabled and enabled again after
 * LBACKOFF_MIN_MS, doubling up to LBACKOFF_MAX_MS while the failures go on;
 * one log line per LBACKOFF_LOG_S at most says how often it paused.
 * Sessions already open go on; the pending connections are taken as soon
 * as descriptors are free again.
 *
 * Works for any evconnlistener, evhttp's too
 * (evhttp_bound_socket_get_listener()): the state is found by the listener,
 * not by the callback argument (evhttp's is the evhttp).
 * Thread: loop thread.  Ownership: lbackoff_free() before
 * evconnlistener_free() (or evhttp_free()); lbackoff_free(NULL) is a no-op.
 */
#ifndef MH_PROXY_LBACKOFF_H
#define MH_PROXY_LBACKOFF_H

#include <stdint.h>

struct event_base;
struct evconnlistener;
struct lbackoff;

#define LBACKOFF_MIN_MS	100
#define LBACKOFF_MAX_MS	1000
#define LBACKOFF_LOG_S	10

/* what: for the log ("smtp", "web", "metrics", "control"); a constant. */
struct lbackoff	*lbackoff_new(struct event_base *, struct evconnlistener *,
		    const char *what);
void		 lbackoff_free(struct lbackoff *);
/* Times the listener paused since start (all listeners), for tests and
 * metrics. */
uint64_t	 lbackoff_pauses(void);

#endif
