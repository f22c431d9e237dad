/*
 * lbackoff.c - back off a listener whose accept fails; see lbackoff.h.
 */
#include "lbackoff.h"

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>
#include <event2/listener.h>

#include "log.h"
#include "util.h"

#define LBACKOFF_MAX	80	/* server.listeners (at most 64), web,
				   metrics, control */

struct lbackoff {
	struct evconnlistener *lev;
	struct event	*timer;
	const char	*what;
	int64_t		 delay_ms;	/* next pause */
	int64_t		 last_fail_ms;	/* monotonic */
	int64_t		 logged_ms;	/* last log line, monotonic */
	uint64_t	 unlogged;	/* pauses since that line */
	int		 err;		/* last errno */
};

/* Loop thread only: the error callback's argument is the listener's
 * user data (the evhttp for evhttp's listeners), so the state is looked
 * up by listener. */
static struct lbackoff *lbackoff_tab[LBACKOFF_MAX];
static uint64_t lbackoff_npauses;

uint64_t
lbackoff_pauses(void)
{
	return lbackoff_npauses;
}

static void
lbackoff_resume_cb(evutil_socket_t fd, short ev, void *arg)
{
	struct lbackoff *b = arg;

	(void)evconnlistener_enable(b->lev);
}

static void
lbackoff_error_cb(struct evconnlistener *lev, void *arg)
{
	struct lbackoff *b = NULL;
	struct timeval tv;
	int64_t now = mh_mono_ms();
	int err = EVUTIL_SOCKET_ERROR();
	size_t i;

	for (i = 0; i < LBACKOFF_MAX; i++)
		if (lbackoff_tab[i] != NULL && lbackoff_tab[i]->lev == lev)
			b = lbackoff_tab[i];
	(void)evconnlistener_disable(lev);
	if (b == NULL) {
		/* Not registered (cannot happen): never spin either. */
		log_warnx("event=accept_error err=\"%s\" "
		    "reason=\"listener not registered\"", strerror(err));
		return;
	}
	/* Failures in a row double the pause; after a quiet spell (ten
	 * pauses' worth) it starts small again. */
	if (now - b->last_fail_ms > 10 * LBACKOFF_MAX_MS)
		b->delay_ms = LBACKOFF_MIN_MS;
	else if ((b->delay_ms *= 2) > LBACKOFF_MAX_MS)
		b->delay_ms = LBACKOFF_MAX_MS;
	b->last_fail_ms = now;
	b->err = err;
	b->unlogged++;
	lbackoff_npauses++;
	if (b->logged_ms == 0 || now - b->logged_ms >= LBACKOFF_LOG_S * 1000) {
		log_warnx("event=accept_paused listener=%s err=\"%s\" "
		    "pause_ms=%lld pauses=%llu (new connections wait; "
		    "open ones go on)", b->what, strerror(err),
		    (long long)b->delay_ms, (unsigned long long)b->unlogged);
		b->logged_ms = now;
		b->unlogged = 0;
	}
	tv.tv_sec = (time_t)(b->delay_ms / 1000);
	tv.tv_usec = (suseconds_t)(b->delay_ms % 1000 * 1000);
	evtimer_add(b->timer, &tv);
}

struct lbackoff *
lbackoff_new(struct event_base *base, struct evconnlistener *lev,
    const char *what)
{
	struct lbackoff *b;
	size_t i;

	for (i = 0; i < LBACKOFF_MAX && lbackoff_tab[i] != NULL; i++)
		;
	if (i == LBACKOFF_MAX || lev == NULL)
		return NULL;
	b = xcalloc(1, sizeof(*b));
	b->lev = lev;
	b->what = what;
	b->delay_ms = LBACKOFF_MIN_MS;
	b->last_fail_ms = mh_mono_ms() - 20 * LBACKOFF_MAX_MS;
	if ((b->timer = evtimer_new(base, lbackoff_resume_cb, b)) == NULL) {
		free(b);
		return NULL;
	}
	lbackoff_tab[i] = b;
	evconnlistener_set_error_cb(lev, lbackoff_error_cb);
	return b;
}

void
lbackoff_free(struct lbackoff *b)
{
	size_t i;

	if (b == NULL)
		return;
	for (i = 0; i < LBACKOFF_MAX; i++)
		if (lbackoff_tab[i] == b)
			lbackoff_tab[i] = NULL;
	evconnlistener_set_error_cb(b->lev, NULL);
	event_free(b->timer);
	free(b);
}
