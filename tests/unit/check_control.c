/*
 * check_control.c - unit tests for proxy/control.c: the request-line
 * parser (pure), table-driven (STYLE G10).
 */
#include "control.h"

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define NITEMS(a)	(sizeof(a) / sizeof((a)[0]))
#define ACTIONABLE	((1u << QUEUE_HELD) | (1u << QUEUE_AWAITING_RELEASE) | \
			 (1u << QUEUE_DEFERRED))

struct parse_case {
	const char	*label;
	const char	*line;
	size_t		 len;		/* 0: strlen(line) */
	const char	*want_err;	/* prefix; NULL: must parse */
	int		 want_cmd;
	unsigned	 want_mask;	/* 0: not checked */
	const char	*want_sender;	/* NULL: not by sender */
	size_t		 want_nids;
	const char	*want_id0;
	const char	*want_path;	/* backup */
};

static const struct parse_case parse_cases[] = {
	{ .label = "queue", .line = "queue", .want_cmd = CONTROL_CMD_QUEUE,
	  .want_mask = ACTIONABLE },
	{ .label = "queue states", .line = "queue --state sent,cancelled",
	  .want_cmd = CONTROL_CMD_QUEUE,
	  .want_mask = (1u << QUEUE_SENT) | (1u << QUEUE_CANCELLED) },
	{ .label = "queue all", .line = "queue --state all",
	  .want_cmd = CONTROL_CMD_QUEUE, .want_mask = 0x7f },
	{ .label = "queue sender folded",
	  .line = "queue --sender Alice@Example.COM",
	  .want_cmd = CONTROL_CMD_QUEUE, .want_sender = "alice@example.com" },
	{ .label = "show", .line = "show 0123456789ABCDEF",
	  .want_cmd = CONTROL_CMD_SHOW, .want_nids = 1,
	  .want_id0 = "0123456789abcdef" },
	{ .label = "release two",
	  .line = "release 0123456789abcdef fedcba9876543210",
	  .want_cmd = CONTROL_CMD_RELEASE, .want_nids = 2,
	  .want_id0 = "0123456789abcdef" },
	{ .label = "cancel by sender", .line = "cancel --sender a@b",
	  .want_cmd = CONTROL_CMD_CANCEL, .want_sender = "a@b" },
	{ .label = "stats", .line = "stats", .want_cmd = CONTROL_CMD_STATS },
	{ .label = "reload", .line = "reload", .want_cmd = CONTROL_CMD_RELOAD },

	{ .label = "empty", .line = "", .want_err = "empty request" },
	{ .label = "unknown", .line = "frobnicate", .want_err = "unknown" },
	{ .label = "case matters", .line = "STATS", .want_err = "unknown" },
	{ .label = "CR", .line = "stats\r", .want_err = "CR in request" },
	{ .label = "NUL", .line = "sta\0ts", .len = 6,
	  .want_err = "NUL in request" },
	{ .label = "tab", .line = "stats\t", .want_err = "control character" },
	{ .label = "DEL", .line = "stats\x7f", .want_err = "control character" },
	{ .label = "two spaces", .line = "show  0123456789abcdef",
	  .want_err = "malformed" },
	{ .label = "leading space", .line = " stats", .want_err = "malformed" },
	{ .label = "trailing space", .line = "stats ", .want_err = "malformed" },
	{ .label = "stats with argument", .line = "stats x",
	  .want_err = "unexpected argument" },
	{ .label = "show none", .line = "show", .want_err = "show needs" },
	{ .label = "show two",
	  .line = "show 0123456789abcdef 0123456789abcdef",
	  .want_err = "show needs" },
	{ .label = "short id", .line = "show 0123", .want_err = "bad id" },
	{ .label = "non-hex id", .line = "show 0123456789abcdeg",
	  .want_err = "bad id" },
	{ .label = "release nothing", .line = "release",
	  .want_err = "give ids or --sender" },
	{ .label = "release both",
	  .line = "release 0123456789abcdef --sender a@b",
	  .want_err = "give ids or --sender" },
	{ .label = "sender twice", .line = "cancel --sender a@b --sender c@d",
	  .want_err = "unexpected --sender" },
	{ .label = "sender on show", .line = "show --sender a@b",
	  .want_err = "unexpected --sender" },
	{ .label = "state on release", .line = "release --state held",
	  .want_err = "unexpected --state" },
	{ .label = "bad state", .line = "queue --state nope",
	  .want_err = "bad --state" },
	{ .label = "empty state item", .line = "queue --state held,",
	  .want_err = "bad --state" },
	{ .label = "missing value", .line = "queue --sender",
	  .want_err = "option needs a value" },
	{ .label = "backup", .line = "backup /var/backups/mailhold.db",
	  .want_cmd = CONTROL_CMD_BACKUP,
	  .want_path = "/var/backups/mailhold.db" },
	{ .label = "backup keeps case", .line = "backup /tmp/Q.DB",
	  .want_cmd = CONTROL_CMD_BACKUP, .want_path = "/tmp/Q.DB" },
	{ .label = "backup relative", .line = "backup q.db",
	  .want_err = "backup needs an absolute path" },
	{ .label = "backup without file", .line = "backup",
	  .want_err = "backup needs a FILE" },
	{ .label = "backup two files", .line = "backup /a /b",
	  .want_err = "unexpected argument" },
	{ .label = "backup --sender", .line = "backup --sender a@b",
	  .want_err = "backup needs an absolute path" },
};

START_TEST(test_parse_table)
{
	const struct parse_case *tc = &parse_cases[_i];
	struct control_request *r = calloc(1, sizeof(*r));
	const char *err;
	size_t len = tc->len ? tc->len : strlen(tc->line);

	ck_assert_ptr_nonnull(r);
	err = control_parse_request(tc->line, len, r);
	if (tc->want_err != NULL) {
		ck_assert_msg(err != NULL, "%s: parsed", tc->label);
		ck_assert_msg(strncmp(err, tc->want_err,
		    strlen(tc->want_err)) == 0, "%s: got \"%s\"", tc->label,
		    err);
	} else {
		ck_assert_msg(err == NULL, "%s: %s", tc->label, err);
		ck_assert_int_eq(r->cmd, tc->want_cmd);
		if (tc->want_mask)
			ck_assert_uint_eq(r->state_mask, tc->want_mask);
		ck_assert_int_eq(r->by_sender, tc->want_sender != NULL);
		if (tc->want_sender)
			ck_assert_str_eq(r->sender, tc->want_sender);
		ck_assert_uint_eq(r->nids, tc->want_nids);
		if (tc->want_id0)
			ck_assert_str_eq(r->ids[0], tc->want_id0);
		ck_assert_str_eq(r->path, tc->want_path ? tc->want_path : "");
	}
	free(r);
}
END_TEST

/* hold get / set / unset (issue 6). */
static const struct {
	const char	*line;
	const char	*want_err;	/* prefix; NULL: must parse */
	int		 op;
	int		 scope;
	const char	*key;
	long long	 secs;
	bool		 resched;
} hold_cases[] = {
	{ "hold get", NULL, CONTROL_HOLD_GET, QUEUE_HOLD_DEFAULT, "", -1,
	  false },
	{ "hold set 10m", NULL, CONTROL_HOLD_SET, QUEUE_HOLD_DEFAULT, "", 600,
	  false },
	{ "hold set 0 --user Scanner@Example.ORG", NULL, CONTROL_HOLD_SET,
	  QUEUE_HOLD_USER, "scanner@example.org", 0, false },
	{ "hold set 1d --user alice --reschedule", NULL, CONTROL_HOLD_SET,
	  QUEUE_HOLD_USER, "alice", 86400, true },
	{ "hold set --reschedule 2h --domain Partner.Example", NULL,
	  CONTROL_HOLD_SET, QUEUE_HOLD_DOMAIN, "partner.example", 7200, true },
	{ "hold set 30m --rule typo_domain", NULL, CONTROL_HOLD_SET,
	  QUEUE_HOLD_RULE, "typo_domain", 1800, false },
	{ "hold unset", NULL, CONTROL_HOLD_UNSET, QUEUE_HOLD_DEFAULT, "", -1,
	  false },
	{ "hold unset --domain a.example", NULL, CONTROL_HOLD_UNSET,
	  QUEUE_HOLD_DOMAIN, "a.example", -1, false },
	{ "hold", "hold needs", 0, 0, NULL, 0, false },
	{ "hold frob", "hold needs", 0, 0, NULL, 0, false },
	{ "hold get 5m", "unexpected argument", 0, 0, NULL, 0, false },
	{ "hold set", "hold set needs a DURATION", 0, 0, NULL, 0, false },
	{ "hold set 5x", "bad DURATION", 0, 0, NULL, 0, false },
	{ "hold set 5m 6m", "unexpected argument", 0, 0, NULL, 0, false },
	{ "hold set 5m --user", "option needs a value", 0, 0, NULL, 0, false },
	{ "hold set 5m --rule nope", "unknown rule", 0, 0, NULL, 0, false },
	{ "hold set 5m --user a --domain b.c", "give one of", 0, 0, NULL, 0,
	  false },
	{ "hold set 5m --domain a_b.example", "bad --domain", 0, 0, NULL, 0,
	  false },
	{ "hold set 5m --domain %.example", "bad --domain", 0, 0, NULL, 0,
	  false },
	{ "hold set 5m --domain .example", "bad --domain", 0, 0, NULL, 0,
	  false },
	{ "hold set 5m --user a\"b", "bad value", 0, 0, NULL, 0, false },
	{ "hold unset --reschedule", "unexpected --reschedule", 0, 0, NULL, 0,
	  false },
	{ "hold set 5m --reschedule --reschedule", "unexpected --reschedule",
	  0, 0, NULL, 0, false },
};

START_TEST(test_parse_hold)
{
	struct control_request *r = calloc(1, sizeof(*r));
	const char *err;

	ck_assert_ptr_nonnull(r);
	err = control_parse_request(hold_cases[_i].line,
	    strlen(hold_cases[_i].line), r);
	if (hold_cases[_i].want_err != NULL) {
		ck_assert_msg(err != NULL, "%s: parsed", hold_cases[_i].line);
		ck_assert_msg(strncmp(err, hold_cases[_i].want_err,
		    strlen(hold_cases[_i].want_err)) == 0, "%s: got \"%s\"",
		    hold_cases[_i].line, err);
	} else {
		ck_assert_msg(err == NULL, "%s: %s", hold_cases[_i].line, err);
		ck_assert_int_eq(r->cmd, CONTROL_CMD_HOLD);
		ck_assert_int_eq(r->hold_op, hold_cases[_i].op);
		ck_assert_int_eq(r->hold_scope, hold_cases[_i].scope);
		ck_assert_str_eq(r->hold_key, hold_cases[_i].key);
		if (hold_cases[_i].op == CONTROL_HOLD_SET)
			ck_assert_int_eq(r->hold_secs, hold_cases[_i].secs);
		ck_assert_int_eq(r->reschedule, hold_cases[_i].resched);
	}
	free(r);
}
END_TEST

START_TEST(test_parse_limits)
{
	struct control_request *r = calloc(1, sizeof(*r));
	char *line = malloc(CONTROL_LINE_MAX + 32);
	size_t i, len;

	ck_assert_ptr_nonnull(r);
	ck_assert_ptr_nonnull(line);
	/* CONTROL_IDS_MAX ids fit (and fit the line); one more does not. */
	len = (size_t)snprintf(line, 16, "release");
	for (i = 0; i <= CONTROL_IDS_MAX && len + 17 < CONTROL_LINE_MAX; i++)
		len += (size_t)snprintf(line + len, 18, " %016zx", i);
	ck_assert_uint_eq(i, CONTROL_IDS_MAX + 1);
	ck_assert_str_eq(control_parse_request(line, len, r), "too many ids");
	len -= 17;
	ck_assert_ptr_null(control_parse_request(line, len, r));
	ck_assert_uint_eq(r->nids, CONTROL_IDS_MAX);
	/* The line limit counts the LF: CONTROL_LINE_MAX - 1 octets max. */
	memset(line, 'x', CONTROL_LINE_MAX);
	ck_assert_str_eq(control_parse_request(line, CONTROL_LINE_MAX, r),
	    "request too long");
	/* --sender is bounded. */
	len = (size_t)snprintf(line, 32, "queue --sender ");
	memset(line + len, 'a', CONTROL_SENDER_MAX + 1);
	ck_assert_str_eq(control_parse_request(line,
	    len + CONTROL_SENDER_MAX + 1, r), "--sender too long");
	ck_assert_ptr_null(control_parse_request(line, len +
	    CONTROL_SENDER_MAX, r));
	free(line);
	free(r);
}
END_TEST

static Suite *
control_suite(void)
{
	Suite *s = suite_create("control");
	TCase *tc = tcase_create("parse");

	tcase_add_loop_test(tc, test_parse_table, 0, NITEMS(parse_cases));
	tcase_add_test(tc, test_parse_limits);
	tcase_add_loop_test(tc, test_parse_hold, 0, NITEMS(hold_cases));
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner *sr = srunner_create(control_suite());
	int nf;

	srunner_run_all(sr, CK_NORMAL);
	nf = srunner_ntests_failed(sr);
	srunner_free(sr);
	return nf == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
