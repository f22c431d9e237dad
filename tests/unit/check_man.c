/*
 * check_man.c - the manual page mailhold.yaml(5) against the config table.
 *
 * docs/man/mailhold.yaml.5 is config_man_()'s output, checked in so that it
 * is read and reviewed like any other page; this test fails when the table
 * changed and the page did not (it then writes the new page as
 * mailhold.yaml.5.new into ctest's working directory, the build tree).
 * It also checks that every key config_dump() knows has its entry, so a
 * generator that skipped a kind of key could not pass.  That the page
 * renders without warnings is tests/man/lint.sh's job (groff -wall).
 */
#include "config.h"
#include "config_priv.h"

#include <check.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "util.h"
#include "check_files.h"

#define ERRSZ	1024

/* The page as config_man_() writes it; caller frees. */
static char *
man_generate(void)
{
	struct mh_buf gen;

	mh_buf_init(&gen, 1 << 22);
	config_man_(collect_line_cb, &gen);
	ck_assert_ptr_nonnull(gen.data);
	return mh_buf_steal(&gen, NULL);
}

START_TEST(test_page_current)
{
	char path[PATH_MAX], cwd[PATH_MAX], *have, *gen;
	FILE *f;

	ck_assert_int_ne(mh_snprintf(path, sizeof(path),
	    "%s/../../docs/man/mailhold.yaml.5", test_data()), -1);
	gen = man_generate();
	have = read_text(path);
	if (strcmp(have, gen) != 0) {
		f = fopen("mailhold.yaml.5.new", "w");
		if (f != NULL) {
			fputs(gen, f);
			fclose(f);
		}
		ck_abort_msg("docs/man/mailhold.yaml.5 is out of date: see "
		    "diff -u %s %s/mailhold.yaml.5.new", path,
		    getcwd(cwd, sizeof(cwd)) != NULL ? cwd : ".");
	}
	free(have);
	free(gen);
}
END_TEST

/* Every key of the dump ("key: value" lines, policy.rules.RULE included)
 * is the tag of an entry: ".B key" with roff's "\-" for '-'. */
struct man_keys {
	const char	*page;
	size_t		 nkeys;
};

static void
man_key_cb(const char *line, void *arg)
{
	struct man_keys *k = arg;
	struct mh_buf want;
	const char *p;

	mh_buf_init(&want, 512);
	ck_assert_int_eq(mh_buf_puts(&want, "\n.B "), 0);
	for (p = line; *p != '\0' && *p != ':'; p++)
		ck_assert_int_eq(*p == '-' ? mh_buf_puts(&want, "\\-") :
		    mh_buf_append(&want, p, 1), 0);
	ck_assert_int_eq(mh_buf_puts(&want, "\n"), 0);
	ck_assert_msg(strstr(k->page, want.data) != NULL,
	    "no entry for %.*s in mailhold.yaml(5)", (int)(p - line), line);
	mh_buf_clear(&want);
	k->nkeys++;
}

START_TEST(test_every_key)
{
	struct man_keys k = { 0 };
	struct config *def;
	char err[ERRSZ], *page;

	page = man_generate();
	ck_assert_ptr_nonnull(def = config_default(err, sizeof(err)));
	k.page = page;
	config_dump(def, man_key_cb, &k);
	/* The dump is not empty, and the page has sections and keys. */
	ck_assert_uint_gt(k.nkeys, 50);
	ck_assert_ptr_nonnull(strstr(page, "\n.SS server\n"));
	ck_assert_ptr_nonnull(strstr(page, "\n.SS policy\n"));
	config_unref(def);
	free(page);
}
END_TEST

/* groff -Tutf8 reads raw octets as Latin-1: the generator writes
 * non-ASCII (the built-in sensitive_patterns are Japanese) as \[uXXXX],
 * and policy keys never say "Restart needed" (they change on SIGHUP). */
START_TEST(test_escapes)
{
	const unsigned char *p;
	char *page, *rules, *end;

	page = man_generate();
	for (p = (const unsigned char *)page; *p != '\0'; p++)
		ck_assert_msg(*p < 0x80, "raw non-ASCII octet 0x%02x at "
		    "offset %zu", *p, (size_t)(p - (const unsigned char *)page));
	/* U+793E U+5916 U+79D8: the first built-in sensitive pattern. */
	ck_assert_ptr_nonnull(strstr(page, "\\[u793E]\\[u5916]\\[u79D8]"));
	rules = strstr(page, "\n.SS policy\n");
	ck_assert_ptr_nonnull(rules);
	end = strstr(rules + 1, "\n.SS ");
	ck_assert_ptr_nonnull(end);
	*end = '\0';
	ck_assert_msg(strstr(rules, "Restart needed") == NULL,
	    "a policy key says \"Restart needed\"");
	free(page);
}
END_TEST

static Suite *
man_suite(void)
{
	Suite *s = suite_create("man");
	TCase *tc = tcase_create("mailhold.yaml.5");

	tcase_add_test(tc, test_page_current);
	tcase_add_test(tc, test_every_key);
	tcase_add_test(tc, test_escapes);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner *sr;
	int failed;

	sr = srunner_create(man_suite());
	srunner_run_all(sr, CK_ENV);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? 0 : 1;
}
