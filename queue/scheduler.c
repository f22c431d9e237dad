/*
 * scheduler.c - one timer at the earliest due time; see scheduler.h.
 */
#include "scheduler.h"

#include <sys/time.h>

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>

#include "clockstep.h"
#include "log.h"
#include "queue.h"
#include "scheduler_priv.h"
#include "util.h"

#define SCHED_BATCH	64	/* ids listed per look */

struct sched_pending {
	struct sched	*sc;
	char		 id[QUEUE_ID_LEN + 1];
	struct sched_pending *next, *prev;
};

/* Totals since start, for metrics (loop thread only). */
static uint64_t sched_nreleased, sched_nexpired;

struct sched {
	struct event_base *base;
	struct queue	*q;
	sched_capacity_cb *capacity;
	sched_release_cb *release;
	void		*arg;
	struct event	*timer;
	int64_t		 armed_at;	/* unix seconds the timer is set for,
					   INT64_MAX when idle */
	bool		 stopped;
	/* ids whose RELEASING transition is in flight (not yet seen by the
	 * consumer): never list them twice. */
	struct sched_pending *pending;
	size_t		 npending;
	/* Wall clock steps (clockstep.h): looked for every second and
	 * before each run; while the stored times move, nothing leaves. */
	struct clockstep clock;
	struct event	*tick;
	int		 nshifts;	/* shifts not yet committed */
};

/* One shift of the stored times in flight. */
struct sched_shift {
	struct sched	*sc;
	int64_t		 delta;
	int64_t		 moved;
};

static void	sched_run(struct sched *);
static void	sched_kick(struct sched *, int64_t);

static void
sched_shifted_cb(int result, void *arg)
{
	struct sched_shift *sh = arg;
	struct sched *sc = sh->sc;

	sc->nshifts--;
	if (result == 0)
		log_warnx("event=clock_step seconds=%lld messages_moved=%lld "
		    "(waiting messages keep their hold in real time)",
		    (long long)sh->delta, (long long)sh->moved);
	else
		log_warnx("event=clock_step seconds=%lld result=failed "
		    "(due times not moved)", (long long)sh->delta);
	free(sh);
	if (!sc->stopped && sc->nshifts == 0) {
		sc->armed_at = INT64_MAX;
		sched_run(sc);
	}
}

bool
sched_clock_check(struct sched *sc)
{
	struct sched_shift *sh;
	int64_t step, old_end;

	step = clockstep_check(&sc->clock, mh_now_ms(), mh_boot_ms(),
	    &old_end);
	if (step == 0 || sc->stopped)
		return sc->nshifts > 0;
	/* Forward, a time written after the step is above old_end and
	 * stays; backward, the two clocks' times overlap and all move (a
	 * message accepted in the same second as the step may move too;
	 * smtp_server.c looks before it stamps a new message).  A second
	 * step while the first is applied queues behind it (one writer,
	 * in order). */
	sh = xcalloc(1, sizeof(*sh));
	sh->sc = sc;
	sh->delta = step;
	if (queue_shift_times(sc->q, step, step > 0 ? old_end : INT64_MAX,
	    &sh->moved, sched_shifted_cb, sh) == 0)
		sc->nshifts++;
	else
		free(sh);
	return sc->nshifts > 0;
}

static void
sched_tick_cb(evutil_socket_t fd, short ev, void *arg)
{
	(void)sched_clock_check(arg);
}

static void
sched_arm(struct sched *sc, int64_t when)
{
	struct timeval tv;
	int64_t delta;

	if (sc->stopped)
		return;
	/* Fire at the start of second "when", not up to a second early or
	 * late: due times are whole seconds, the clock is not. */
	delta = when * 1000 - mh_now_ms();
	if (delta < 0)
		delta = 0;
	tv.tv_sec = (time_t)(delta / 1000);
	tv.tv_usec = (suseconds_t)((delta % 1000) * 1000);
	sc->armed_at = when;
	evtimer_add(sc->timer, &tv);
}

static void
sched_timer_cb(evutil_socket_t fd, short ev, void *arg)
{
	struct sched *sc = arg;

	sc->armed_at = INT64_MAX;
	sched_run(sc);
}

static bool
sched_is_pending(struct sched *sc, const char *id)
{
	struct sched_pending *p;

	for (p = sc->pending; p; p = p->next)
		if (strcmp(p->id, id) == 0)
			return true;
	return false;
}

static void
sched_released_cb(int result, void *arg)
{
	struct sched_pending *p = arg;
	struct sched *sc = p->sc;

	if (p->prev)
		p->prev->next = p->next;
	else
		sc->pending = p->next;
	if (p->next)
		p->next->prev = p->prev;
	sc->npending--;
	if (result == 0 && sc->stopped) {
		/* Shutting down: it stays RELEASING and queue_recover() makes
		 * it due again at the next start. */
		log_info("id=%s event=release_postponed reason=shutdown",
		    p->id);
	} else if (result == 0) {
		log_info("id=%s event=released", p->id);
		sched_nreleased++;
		sc->release(p->id, sc->arg);
		/* sched_run() left the timer off while releases were in
		 * flight ("the completions wake us"): the last one looks
		 * again, so the next due time is armed even while the relay
		 * still holds these. */
		if (sc->npending == 0)
			sched_kick(sc, mh_now());
	} else if (result == 1) {
		/* Cancelled or released by someone else meanwhile. */
		log_debug("id=%s event=release_skipped", p->id);
		sched_arm(sc, mh_now());
	} else {
		log_warnx("id=%s event=release_error", p->id);
		sched_arm(sc, mh_now() + 5);
	}
	free(p);
}

static void
sched_expired_cb(int result, void *arg)
{
	char *id = arg;

	if (result == 0) {
		log_info("id=%s event=expired state=cancelled reason=\"not "
		    "released by the sender within hold.max\"", id);
		sched_nexpired++;
	}
	free(id);
}

void
sched_totals(uint64_t *released, uint64_t *expired)
{
	*released = sched_nreleased;
	*expired = sched_nexpired;
}

/* AWAITING_RELEASE messages never leave by timer; past their expiry
 * (release_at) they are cancelled.  Returns the next expiry or
 * INT64_MAX. */
static int64_t
sched_expire(struct sched *sc, int64_t now)
{
	char (*ids)[QUEUE_ID_LEN + 1];
	size_t n = 0, i;
	int64_t next;

	ids = xcalloc(SCHED_BATCH, sizeof(*ids));
	if (queue_expired_list(sc->q, now, SCHED_BATCH, ids, &n) == 0)
		for (i = 0; i < n; i++) {
			char *id = xstrdup(ids[i]);
			if (queue_set_state(sc->q, id,
			    1u << QUEUE_AWAITING_RELEASE, QUEUE_CANCELLED, -1,
			    "expiry", "not released within hold.max",
			    sched_expired_cb, id) == -1)
				free(id);
		}
	free(ids);
	if (n == SCHED_BATCH)
		return now + 1;		/* more to expire: come back soon */
	if (queue_next_expiry(sc->q, &next) != 0 || next <= now)
		return INT64_MAX;	/* being cancelled now, or none */
	return next;
}

/* Releases what is due, within capacity, then re-arms for the next due
 * time.  The capacity check keeps RELEASING rows (which survive a crash
 * only as "send again") to what the relay can actually take. */
static void
sched_run(struct sched *sc)
{
	char (*ids)[QUEUE_ID_LEN + 1];
	size_t cap, n = 0, i, taken = 0;
	int64_t now = mh_now(), next, expiry;
	int r;

	if (sc->stopped || sched_clock_check(sc))
		return;		/* shifting: sched_shifted_cb() runs us */
	expiry = sched_expire(sc, now);
	cap = sc->capacity(sc->arg);
	cap = cap > sc->npending ? cap - sc->npending : 0;
	if (cap > 0) {
		ids = xcalloc(SCHED_BATCH, sizeof(*ids));
		if (queue_due_list(sc->q, now, SCHED_BATCH, ids, &n) == -1) {
			free(ids);
			sched_arm(sc, now + 5);
			return;
		}
		for (i = 0; i < n && taken < cap; i++) {
			struct sched_pending *p;

			if (sched_is_pending(sc, ids[i]))
				continue;
			p = xcalloc(1, sizeof(*p));
			p->sc = sc;
			mh_strlcpy(p->id, ids[i], sizeof(p->id));
			if (queue_set_state(sc->q, p->id,
			    (1u << QUEUE_HELD) | (1u << QUEUE_DEFERRED),
			    QUEUE_RELEASING, -1, "scheduler", "due",
			    sched_released_cb, p) == -1) {
				free(p);
				continue;
			}
			p->next = sc->pending;
			if (sc->pending)
				sc->pending->prev = p;
			sc->pending = p;
			sc->npending++;
			taken++;
		}
		free(ids);
		if (n > taken && taken == cap) {
			/* full: sched_wakeup() comes when a slot frees */
			if (expiry != INT64_MAX)
				sched_arm(sc, expiry);
			return;
		}
	}
	if (cap == 0) {
		if (expiry != INT64_MAX)
			sched_arm(sc, expiry);
		return;
	}
	r = queue_next_due(sc->q, &next);
	if (r == 0) {
		if (next <= now && sc->npending == 0)
			next = now + 1;	/* due but not listed: look again soon */
		if (next <= now && sc->npending > 0)
			next = INT64_MAX;	/* the completions wake us */
	} else
		next = r == -1 ? now + 5 : INT64_MAX;
	if (expiry < next)
		next = expiry;
	if (next != INT64_MAX)
		sched_arm(sc, next);
}

/* The queue's announcement of a commit (queue_observe()): a new due
 * time or expiry re-arms the timer if it is earlier; a message the relay
 * let go of frees a slot, so look again now. */
static void
sched_changed(const struct queue_change *ch, void *arg)
{
	struct sched *sc = arg;

	if (ch->what & QUEUE_CH_DUE)
		sched_kick(sc, ch->due);
	if (ch->what & QUEUE_CH_UNRELEASED)
		sched_kick(sc, mh_now());
}

struct sched *
sched_new(struct event_base *base, struct queue *q, sched_capacity_cb *cap,
    sched_release_cb *rel, void *arg)
{
	struct sched *sc;

	sc = xcalloc(1, sizeof(*sc));
	sc->base = base;
	sc->q = q;
	sc->capacity = cap;
	sc->release = rel;
	sc->arg = arg;
	sc->armed_at = INT64_MAX;
	sc->timer = evtimer_new(base, sched_timer_cb, sc);
	sc->tick = event_new(base, -1, EV_PERSIST, sched_tick_cb, sc);
	if (sc->timer == NULL || sc->tick == NULL) {
		if (sc->timer)
			event_free(sc->timer);
		if (sc->tick)
			event_free(sc->tick);
		free(sc);
		return NULL;
	}
	queue_observe(q, sched_changed, sc);
	(void)sched_clock_check(sc);
	{
		struct timeval tv = { 1, 0 };

		event_add(sc->tick, &tv);
	}
	sched_arm(sc, mh_now());
	return sc;
}

/* Something became due at unix time when: re-arm if that is earlier. */
static void
sched_kick(struct sched *sc, int64_t when)
{
	if (sc->stopped || when >= sc->armed_at)
		return;
	sched_arm(sc, when);
}

void
sched_wakeup(struct sched *sc)
{
	sched_arm(sc, mh_now());
}

void
sched_stop(struct sched *sc)
{
	sc->stopped = true;
	queue_observe(sc->q, NULL, NULL);
	evtimer_del(sc->timer);
	event_del(sc->tick);
}

void
sched_free(struct sched *sc)
{
	struct sched_pending *p;

	if (sc == NULL)
		return;
	/* Pending completions still reference their entries; they are run
	 * by queue_close() before this, so none should remain. */
	while ((p = sc->pending) != NULL) {
		sc->pending = p->next;
		free(p);
	}
	event_free(sc->timer);
	event_free(sc->tick);
	free(sc);
}

/* ------------------------------------------------------------------ */
/* test hooks (scheduler_priv.h) */

int64_t
sched_armed_at_(const struct sched *sc)
{
	return evtimer_pending(sc->timer, NULL) ? sc->armed_at : INT64_MAX;
}

int64_t
sched_timer_left_ms_(const struct sched *sc)
{
	struct timeval at, now;
	int64_t left;

	if (!evtimer_pending(sc->timer, &at))
		return -1;
	/* event_pending() gives the expiry on the wall clock. */
	gettimeofday(&now, NULL);
	left = ((int64_t)at.tv_sec - now.tv_sec) * 1000 +
	    ((int64_t)at.tv_usec - now.tv_usec) / 1000;
	return left < 0 ? 0 : left;
}

void
sched_fire_(struct sched *sc)
{
	evtimer_del(sc->timer);
	sc->armed_at = INT64_MAX;	/* as the callback will: not armed */
	event_active(sc->timer, EV_TIMEOUT, 1);
}
