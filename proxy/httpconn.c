/*
 * httpconn.c - see httpconn.h.
 */
#include "httpconn.h"

#include <sys/socket.h>

#include <stdlib.h>

#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/event.h>

#include "log.h"
#include "util.h"

struct httpconn_ent {
	struct httpconn_ent	*next;
	struct bufferevent	*bev;
	int64_t			 born_ms;	/* monotonic */
	bool			 kill;
	bool			 shut;
};

struct httpconn {
	const char		*what;
	size_t			 max;
	int64_t			 life_ms;
	struct httpconn_ent	*list;
	size_t			 n;
	struct event		*sweep;
};

/* evhttp sees EOF and frees the connection. */
static void
httpconn_shut(struct httpconn_ent *c)
{
	evutil_socket_t fd = bufferevent_getfd(c->bev);

	if (fd >= 0 && !c->shut) {
		(void)shutdown(fd, SHUT_RDWR);
		c->shut = true;
	}
}

static void
httpconn_sweep_cb(evutil_socket_t fd, short ev, void *arg)
{
	struct httpconn *h = arg;
	struct httpconn_ent **pp, *c;
	bufferevent_data_cb rcb, wcb;
	bufferevent_event_cb ecb;
	int64_t now = mh_mono_ms();
	struct timeval tv = { 1, 0 };

	for (pp = &h->list; (c = *pp) != NULL;) {
		bufferevent_getcb(c->bev, &rcb, &wcb, &ecb, NULL);
		if (rcb == NULL && wcb == NULL && ecb == NULL) {
			*pp = c->next;
			bufferevent_decref(c->bev);
			free(c);
			h->n--;
			continue;
		}
		if (c->kill || now - c->born_ms > h->life_ms)
			httpconn_shut(c);
		pp = &c->next;
	}
	if (h->n > 0)
		event_add(h->sweep, &tv);
}

/* Right after accept (evhttp has set the fd by now).  The event holds
 * its own reference on the bufferevent: the sweeper may have dropped the
 * entry meanwhile. */
static void
httpconn_kill_cb(evutil_socket_t unused, short ev, void *arg)
{
	struct bufferevent *bev = arg;
	evutil_socket_t fd = bufferevent_getfd(bev);

	if (fd >= 0)
		(void)shutdown(fd, SHUT_RDWR);
	bufferevent_decref(bev);
}

struct httpconn *
httpconn_new(struct event_base *base, const char *what, size_t max,
    int64_t life_ms)
{
	struct httpconn *h = xcalloc(1, sizeof(*h));

	h->what = what;
	h->max = max;
	h->life_ms = life_ms;
	if ((h->sweep = evtimer_new(base, httpconn_sweep_cb, h)) == NULL)
		fatalx("event=%s_error error=\"evtimer_new\"", what);
	return h;
}

void
httpconn_set_limits(struct httpconn *h, size_t max, int64_t life_ms)
{
	h->max = max;
	h->life_ms = life_ms;
}

struct bufferevent *
httpconn_bev(struct httpconn *h, struct event_base *base, SSL *ssl,
    bool refuse)
{
	struct bufferevent *bev;
	struct httpconn_ent *c;
	struct timeval tv = { 1, 0 };

	if (!refuse && h->n >= h->max) {
		log_warnx("event=%s_refused reason=\"too many connections\" "
		    "max=%zu", h->what, h->max);
		refuse = true;
	}
	if (ssl != NULL)
		bev = bufferevent_openssl_socket_new(base, -1, ssl,
		    BUFFEREVENT_SSL_ACCEPTING, BEV_OPT_CLOSE_ON_FREE);
	else
		bev = bufferevent_socket_new(base, -1, BEV_OPT_CLOSE_ON_FREE);
	if (bev == NULL)
		return NULL;	/* evhttp then makes its own */
	bufferevent_incref(bev);
	c = xcalloc(1, sizeof(*c));
	c->bev = bev;
	c->born_ms = mh_mono_ms();
	c->kill = refuse;
	c->next = h->list;
	h->list = c;
	if (h->n++ == 0)
		event_add(h->sweep, &tv);
	if (refuse) {
		bufferevent_incref(bev);
		if (event_base_once(base, -1, EV_TIMEOUT, httpconn_kill_cb, bev,
		    NULL) == -1)
			bufferevent_decref(bev);	/* the sweeper shuts it */
	}
	return bev;
}

size_t
httpconn_count(const struct httpconn *h)
{
	return h->n;
}

void
httpconn_free(struct httpconn *h)
{
	struct httpconn_ent *c, *nx;

	if (h == NULL)
		return;
	for (c = h->list; c != NULL; c = nx) {
		nx = c->next;
		bufferevent_decref(c->bev);
		free(c);
	}
	event_free(h->sweep);
	free(h);
}
