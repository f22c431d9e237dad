/*
 * fake_clock.c - see fake_clock.h.  Defines every function of
 * policy/clock.h, so clock.o is never linked with it.
 */
#include "fake_clock.h"

#include <stdatomic.h>

#include "clock.h"

static _Atomic int64_t fake_wall_ms = FAKE_CLOCK_T0 * 1000;
static _Atomic int64_t fake_mono_us = (int64_t)1000000 * 1000000;

void
fake_clock_set_ms(int64_t unix_ms)
{
	int64_t d = unix_ms - atomic_load(&fake_wall_ms);

	atomic_fetch_add(&fake_mono_us, d * 1000);
	atomic_store(&fake_wall_ms, unix_ms);
}

void
fake_clock_advance_ms(int64_t ms)
{
	atomic_fetch_add(&fake_mono_us, ms * 1000);
	atomic_fetch_add(&fake_wall_ms, ms);
}

int64_t
mh_now(void)
{
	return atomic_load(&fake_wall_ms) / 1000;
}

int64_t
mh_now_ms(void)
{
	return atomic_load(&fake_wall_ms);
}

int64_t
mh_mono_ms(void)
{
	return atomic_load(&fake_mono_us) / 1000;
}

int64_t
mh_mono_us(void)
{
	return atomic_load(&fake_mono_us);
}

int64_t
mh_boot_ms(void)
{
	return atomic_load(&fake_mono_us) / 1000;	/* no suspend here */
}
