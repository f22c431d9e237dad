/*
 * scheduler.h - release timing: one libevent timer at the earliest due
 * time (no table scan every second).
 *
 * When the timer fires the scheduler lists due messages (HELD past their
 * hold window, DEFERRED past their retry time), moves each to RELEASING in
 * one queue transaction and hands its id to the release callback (the
 * relay).  It never releases more than the capacity callback allows.
 * Crash recovery (RELEASING back to due) is queue_recover(), called
 * before sched_new().
 *
 * It learns of new due times from the queue itself: sched_new()
 * subscribes to the queue's commit announcements (queue_observe()), and
 * sched_stop() unsubscribes.  No module tells it about its own writes.
 *
 * Thread: loop thread only.  Errors: constructors NULL.
 */
#ifndef MH_QUEUE_SCHEDULER_H
#define MH_QUEUE_SCHEDULER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct event_base;
struct queue;
struct sched;

/* How many more messages the consumer can take now. */
typedef size_t sched_capacity_cb(void *arg);
/* Takes a message now in RELEASING.  The consumer must eventually record
 * an attempt (queue_record_attempt) or fail it (queue_set_state): the
 * commit's announcement tells the scheduler the slot is free.  Should
 * that write not commit, the consumer calls sched_wakeup(). */
typedef void sched_release_cb(const char *id, void *arg);

struct sched	*sched_new(struct event_base *, struct queue *,
		    sched_capacity_cb *, sched_release_cb *, void *arg);
/* Looks for a step of the wall clock (clockstep.h) and, on one, moves
 * the stored times of waiting messages by it.  Returns true while such a
 * move is not yet committed (nothing is released meanwhile).  Called
 * every second and before each run; call it also right before stamping
 * a new message with the wall clock. */
bool		 sched_clock_check(struct sched *);
/* Capacity freed without a commit to announce it: look again now. */
void		 sched_wakeup(struct sched *);
/* Stop releasing (shutdown); pending state changes still complete. */
void		 sched_stop(struct sched *);
void		 sched_free(struct sched *);
/* Messages handed to the relay and awaiting_release messages expired,
 * since start (for metrics). */
void		 sched_totals(uint64_t *released, uint64_t *expired);

#endif
