/*
 * fake_clock.h - a clock the test sets (STYLE G10, link seam).
 *
 * A unit test built with tests/unit/fake_clock.c gets these definitions
 * of mh_now(), mh_now_ms(), mh_mono_ms() and mh_mono_us() instead of
 * policy/clock.c's: time stands still until the test moves it.  It
 * starts at unix time FAKE_CLOCK_T0 (ms 0 of that second); the monotonic
 * clock moves with it.  Atomic: the queue's writer thread reads it too.
 */
#ifndef MH_TESTS_FAKE_CLOCK_H
#define MH_TESTS_FAKE_CLOCK_H

#include <stdint.h>

#define FAKE_CLOCK_T0	((int64_t)1700000000)

/* Wall clock to unix ms (the monotonic clock moves by the same step;
 * backwards too, as a stepped wall clock would not, but no test needs
 * that). */
void	fake_clock_set_ms(int64_t unix_ms);
/* Both clocks forward by ms. */
void	fake_clock_advance_ms(int64_t ms);

#endif
