/*
 * check_smtp_client.c - the relay's pure parts: reply-line parsing.
 * The relay's protocol behaviour is covered by the integration tests
 * against a real Postfix upstream.
 */
#include <check.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "smtp_client.h"

struct reply_case {
	const char	*label;
	const char	*line;
	bool		 want_ok;
	int		 want_code;
	bool		 want_more;
};

static const struct reply_case reply_cases[] = {
	{ .label = "simple", .line = "250 ok", .want_ok = true,
	    .want_code = 250 },
	{ .label = "continuation", .line = "250-PIPELINING", .want_ok = true,
	    .want_code = 250, .want_more = true },
	{ .label = "code only", .line = "354", .want_ok = true,
	    .want_code = 354 },
	{ .label = "4xx", .line = "451 4.3.0 try later", .want_ok = true,
	    .want_code = 451 },
	{ .label = "5xx", .line = "554 5.7.1 no", .want_ok = true,
	    .want_code = 554 },
	{ .label = "1xx is not a reply", .line = "150 what" },
	{ .label = "6xx", .line = "600 what" },
	{ .label = "letters", .line = "2x0 ok" },
	{ .label = "too short", .line = "25" },
	{ .label = "empty", .line = "" },
	{ .label = "bad separator", .line = "250_ok" },
	{ .label = "tab separator", .line = "250\tok" },
	{ .label = "embedded CR", .line = "250 o\rk" },
};

START_TEST(test_reply_line)
{
	const struct reply_case *c = &reply_cases[_i];
	int code = -1;
	bool more = false;
	const char *why;

	why = relay_parse_reply_line(c->line, strlen(c->line), &code, &more);
	if (c->want_ok) {
		ck_assert_msg(why == NULL, "%s: %s", c->label, why);
		ck_assert_int_eq(code, c->want_code);
		ck_assert_int_eq(more, c->want_more);
	} else
		ck_assert_msg(why != NULL, "%s: accepted", c->label);
}
END_TEST

START_TEST(test_reply_nul)
{
	int code;
	bool more;

	ck_assert_ptr_nonnull(relay_parse_reply_line("250 a\0b", 7, &code,
	    &more));
}
END_TEST

/* EHLO keyword lines (after "250-"): whole keywords only. */
static const struct ehlo_case {
	const char	*label;
	const char	*line;
	unsigned	 want;
} ehlo_cases[] = {
	{ "smtputf8", "SMTPUTF8", RELAY_CAP_SMTPUTF8 },
	{ "smtputf8 lower case", "smtputf8", RELAY_CAP_SMTPUTF8 },
	{ "smtputf8 prefix of another keyword", "SMTPUTF8X", 0 },
	{ "smtputf8 with junk glued on", "SMTPUTF8=yes", 0 },
	{ "8bitmime", "8BITMIME", RELAY_CAP_8BITMIME },
	{ "8bitmimex", "8BITMIMEX", 0 },
	{ "pipelining", "PIPELINING", RELAY_CAP_PIPELINING },
	{ "size with value", "SIZE 10240000", RELAY_CAP_SIZE },
	{ "sizes", "SIZES", 0 },
	{ "starttls", "STARTTLS", RELAY_CAP_STARTTLS },
	{ "auth", "AUTH PLAIN LOGIN",
	    RELAY_CAP_AUTH_PLAIN | RELAY_CAP_AUTH_LOGIN },
	{ "auth old form", "AUTH=LOGIN", RELAY_CAP_AUTH_LOGIN },
	{ "auth other mechanisms", "AUTH CRAM-MD5 PLAINX XLOGIN", 0 },
	{ "auth word inside", "AUTH SCRAM-SHA-1 PLAIN", RELAY_CAP_AUTH_PLAIN },
	{ "unknown", "ENHANCEDSTATUSCODES", 0 },
	{ "empty", "", 0 },
};

START_TEST(test_ehlo_line)
{
	const struct ehlo_case *c = &ehlo_cases[_i];

	ck_assert_msg(relay_parse_ehlo_line(c->line, strlen(c->line)) ==
	    c->want, "%s", c->label);
}
END_TEST

static Suite *
smtp_client_suite(void)
{
	Suite *s = suite_create("smtp_client");
	TCase *tc = tcase_create("reply_line");

	tcase_add_loop_test(tc, test_reply_line, 0,
	    sizeof(reply_cases) / sizeof(reply_cases[0]));
	tcase_add_test(tc, test_reply_nul);
	tcase_add_loop_test(tc, test_ehlo_line, 0,
	    (int)(sizeof(ehlo_cases) / sizeof(ehlo_cases[0])));
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner *sr = srunner_create(smtp_client_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
