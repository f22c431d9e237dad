/*
 * clockstep.h - tells a step of the wall clock from time passing.
 *
 * Due times are stored as wall time (unix seconds) so they survive a
 * restart; timers run on the monotonic clock.  An NTP step or a VM
 * restore moves the wall clock and not the monotonic one: comparing how
 * far each moved since the last look tells the step, and the scheduler
 * shifts the stored due times of waiting messages by it (scheduler.c), so
 * a hold lasts as long as it was set in real time.
 *
 * Pure: the caller passes both clocks.  Thread: any (no shared state).
 */
#ifndef MH_QUEUE_CLOCKSTEP_H
#define MH_QUEUE_CLOCKSTEP_H

#include <stdint.h>

/* Differences under this are drift, slew or scheduling noise: due times
 * are whole seconds anyway. */
#define CLOCKSTEP_MIN_MS	2000

struct clockstep {
	int64_t	 wall_ms;	/* at the last look, 0 = never looked */
	int64_t	 mono_ms;
};

/*
 * Looks at both clocks.  Returns the wall clock's step in whole seconds
 * (positive: it jumped forward; rounded toward zero), 0 when there was
 * none (or on the first look).  *old_end is set to the last wall second
 * that belonged to the clock before the step (the last look's wall time
 * plus the real time passed since, rounded up): a time stored up to then
 * was read from the old clock.  The next look measures from now.
 */
int64_t	clockstep_check(struct clockstep *, int64_t wall_ms, int64_t mono_ms,
	    int64_t *old_end);

#endif
