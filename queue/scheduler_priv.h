/*
 * scheduler_priv.h - test-only hooks into scheduler.c (STYLE G1: names
 * end in _).
 *
 * Not part of the API: only tests/unit/check_scheduler.c includes this.
 * With the fake clock (tests/unit/fake_clock.h) a test moves time past
 * the armed second and fires the timer itself instead of waiting for
 * libevent's real one.  Threads: loop thread.
 */
#ifndef MH_QUEUE_SCHEDULER_PRIV_H
#define MH_QUEUE_SCHEDULER_PRIV_H

#include <stdint.h>

struct sched;

/* The unix second the timer is armed for, INT64_MAX when it is not
 * pending. */
int64_t	sched_armed_at_(const struct sched *);
/* Milliseconds of real time until libevent fires the timer (from
 * event_pending()), or -1 when it is not pending. */
int64_t	sched_timer_left_ms_(const struct sched *);
/* Fires the timer now, as libevent would at its time: the callback runs
 * in the next turn of the loop. */
void	sched_fire_(struct sched *);

#endif
