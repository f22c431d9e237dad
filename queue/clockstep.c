/*
 * clockstep.c - wall clock steps; see clockstep.h.
 */
#include "clockstep.h"

#include <stdbool.h>
#include <stddef.h>

int64_t
clockstep_check(struct clockstep *c, int64_t wall_ms, int64_t mono_ms,
    int64_t *old_end)
{
	int64_t expect, diff;
	bool first = c->wall_ms == 0;

	expect = first ? wall_ms : c->wall_ms + (mono_ms - c->mono_ms);
	if (old_end != NULL)
		*old_end = (expect + 999) / 1000;
	c->wall_ms = wall_ms;
	c->mono_ms = mono_ms;
	if (first)
		return 0;
	diff = wall_ms - expect;
	if (diff > -CLOCKSTEP_MIN_MS && diff < CLOCKSTEP_MIN_MS)
		return 0;
	return diff / 1000;
}
