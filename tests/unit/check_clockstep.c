/*
 * check_clockstep.c - wall clock steps told from time passing.
 */
#include <check.h>
#include <stdlib.h>

#include "clockstep.h"

#define NITEMS(a)	(sizeof(a) / sizeof((a)[0]))

/* Looks at (wall, mono) pairs in order; the last look's step and
 * old_end are checked. */
static const struct {
	const char	*name;
	int64_t		 wall[3], mono[3];
	int		 n;
	int64_t		 step, old_end;
} cases[] = {
	{ "first look", { 1700000000000 }, { 5000 }, 1, 0, 1700000000 },
	{ "time passes", { 1700000000000, 1700000001000 }, { 5000, 6000 },
	    2, 0, 1700000001 },
	{ "forward a day", { 1700000000000, 1700086401000 }, { 5000, 6000 },
	    2, 86400, 1700000001 },
	{ "back an hour", { 1700000000000, 1699996401500 }, { 5000, 6000 },
	    2, -3599, 1700000001 },
	{ "slew under the threshold", { 1700000000000, 1700000002900 },
	    { 5000, 6000 }, 2, 0, 1700000001 },
	{ "just the threshold", { 1700000000000, 1700000003000 },
	    { 5000, 6000 }, 2, 2, 1700000001 },
	{ "back under the threshold", { 1700000000000, 1699999999100 },
	    { 5000, 6000 }, 2, 0, 1700000001 },
	/* old_end rounds up: a second partly in the old clock counts. */
	{ "old_end rounds up", { 1700000000000, 1700100000000 },
	    { 5000, 5400 }, 2, 99999, 1700000001 },
	/* The next look measures from the last one, not from the start:
	 * a step is reported once. */
	{ "reported once", { 1700000000000, 1700086401000, 1700086402000 },
	    { 5000, 6000, 7000 }, 3, 0, 1700086402 },
	/* The loop thread stalled 10 s: both clocks moved, no step. */
	{ "stall", { 1700000000000, 1700000010000 }, { 5000, 15000 }, 2, 0,
	    1700000010 },
};

START_TEST(test_step)
{
	struct clockstep c = { 0, 0 };
	int64_t step = -1, old_end = -1;
	int k;

	for (k = 0; k < cases[_i].n; k++)
		step = clockstep_check(&c, cases[_i].wall[k], cases[_i].mono[k],
		    &old_end);
	ck_assert_msg(step == cases[_i].step, "%s: step %lld, want %lld",
	    cases[_i].name, (long long)step, (long long)cases[_i].step);
	ck_assert_msg(old_end == cases[_i].old_end, "%s: old_end %lld, want "
	    "%lld", cases[_i].name, (long long)old_end,
	    (long long)cases[_i].old_end);
}
END_TEST

static Suite *
clockstep_suite(void)
{
	Suite *s = suite_create("clockstep");
	TCase *tc = tcase_create("clockstep");

	tcase_add_loop_test(tc, test_step, 0, NITEMS(cases));
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner *sr = srunner_create(clockstep_suite());
	int nf;

	srunner_run_all(sr, CK_NORMAL);
	nf = srunner_ntests_failed(sr);
	srunner_free(sr);
	return nf == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
