/*
 * clock.h - the process's clocks: wall time (seconds, milliseconds) and
 * a monotonic clock (milliseconds, microseconds).
 *
 * Every module reads time through these four functions and nothing
 * else (log.c's timestamps aside), so that this file is the one seam for
 * time: clock.c holds only them, and a unit test links
 * tests/unit/fake_clock.c in its place (STYLE G10, a link seam: the
 * test's object defines all four, so the linker never pulls clock.o out
 * of libmh_policy.a).
 *
 * Thread: any thread (the queue's writer thread reads mh_now() too).
 * Errors: none; clock_gettime(2) on these clocks cannot fail.
 */
#ifndef MH_POLICY_CLOCK_H
#define MH_POLICY_CLOCK_H

#include <stdint.h>

/* Wall clock: unix seconds and unix milliseconds. */
int64_t	mh_now(void);
int64_t	mh_now_ms(void);
/* Monotonic clock, for intervals and deadlines: ms and us. */
int64_t	mh_mono_ms(void);
int64_t	mh_mono_us(void);
/* Like mh_mono_ms(), but counting time the machine spent suspended
 * (CLOCK_BOOTTIME): a clock-step check compares the wall clock with it,
 * so a suspend, during which real time did pass, is not taken for a
 * step. */
int64_t	mh_boot_ms(void);

#endif
