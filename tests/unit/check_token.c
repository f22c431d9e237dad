/*
 * check_token.c - the page link's token (proxy/token.c): generation,
 * parsing, hashing, constant-time checks, CSRF values.
 */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#include "token.h"
#include "util.h"

#define NITEMS(a)	(sizeof(a) / sizeof((a)[0]))

/* RFC 4648 section 10 vectors, and the two characters base64url changes. */
static const struct {
	const char	*in;
	size_t		 len;
	const char	*want;
} b64_cases[] = {
	{ "", 0, "" },
	{ "f", 1, "Zg" },
	{ "fo", 2, "Zm8" },
	{ "foo", 3, "Zm9v" },
	{ "foob", 4, "Zm9vYg" },
	{ "fooba", 5, "Zm9vYmE" },
	{ "foobar", 6, "Zm9vYmFy" },
	{ "\xfb\xff", 2, "-_8" },
	{ "\xff\xff\xff", 3, "____" },
	{ "\x00\x00\x00", 3, "AAAA" },
};

START_TEST(test_b64url)
{
	char out[16];

	token_b64url((const unsigned char *)b64_cases[_i].in,
	    b64_cases[_i].len, out);
	ck_assert_str_eq(out, b64_cases[_i].want);
}
END_TEST

START_TEST(test_new_roundtrip)
{
	struct queue_token row;
	char tok[TOKEN_LEN + 1], sel[QUEUE_TOKEN_SEL_LEN + 1];
	unsigned char hash[QUEUE_TOKEN_HASH_LEN], want[QUEUE_TOKEN_HASH_LEN];
	unsigned int hl;
	size_t i;

	ck_assert_int_eq(token_new(tok, &row), 0);
	ck_assert_uint_eq(strlen(tok), TOKEN_LEN);
	ck_assert_uint_eq(strlen(row.selector), QUEUE_TOKEN_SEL_LEN);
	ck_assert_int_eq(strncmp(tok, row.selector, QUEUE_TOKEN_SEL_LEN), 0);
	for (i = 0; i < TOKEN_LEN; i++)
		ck_assert_ptr_nonnull(strchr("ABCDEFGHIJKLMNOPQRSTUVWXYZ"
		    "abcdefghijklmnopqrstuvwxyz0123456789-_", tok[i]));
	/* Stored: SHA-256 of the verifier's text, never the verifier. */
	ck_assert_int_eq(EVP_Digest(tok + QUEUE_TOKEN_SEL_LEN, TOKEN_VER_LEN,
	    want, &hl, EVP_sha256(), NULL), 1);
	ck_assert_mem_eq(row.hash, want, sizeof(want));
	ck_assert_ptr_null(memmem(&row, sizeof(row), tok + QUEUE_TOKEN_SEL_LEN,
	    8));

	ck_assert_int_eq(token_parse(tok, strlen(tok), sel, hash), 0);
	ck_assert_str_eq(sel, row.selector);
	ck_assert(token_check(&row, hash));
	/* One character off in the verifier: refused. */
	tok[TOKEN_LEN - 1] = tok[TOKEN_LEN - 1] == 'A' ? 'B' : 'A';
	ck_assert_int_eq(token_parse(tok, strlen(tok), sel, hash), 0);
	ck_assert(!token_check(&row, hash));
}
END_TEST

/* 1,000 tokens: no repeated selector or verifier (192 + 72 random bits),
 * and every character position takes many values. */
START_TEST(test_new_unique)
{
	enum { N = 1000 };
	char (*toks)[TOKEN_LEN + 1] = xcalloc(N, sizeof(*toks));
	struct queue_token row;
	size_t i, j;
	bool seen[TOKEN_LEN][64];

	memset(seen, 0, sizeof(seen));
	for (i = 0; i < N; i++) {
		ck_assert_int_eq(token_new(toks[i], &row), 0);
		for (j = 0; j < TOKEN_LEN; j++) {
			const char *a = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijk"
			    "lmnopqrstuvwxyz0123456789-_";
			seen[j][strchr(a, toks[i][j]) - a] = true;
		}
	}
	/* Plain ifs: a ck_assert per pair costs a pipe write each. */
	for (i = 0; i < N; i++)
		for (j = i + 1; j < N; j++)
			if (strncmp(toks[i], toks[j], QUEUE_TOKEN_SEL_LEN) == 0 ||
			    strcmp(toks[i] + QUEUE_TOKEN_SEL_LEN,
			    toks[j] + QUEUE_TOKEN_SEL_LEN) == 0)
				ck_abort_msg("tokens %zu and %zu share a part",
				    i, j);
	for (j = 0; j < TOKEN_LEN; j++) {
		size_t n = 0, k;

		for (k = 0; k < 64; k++)
			n += seen[j][k];
		ck_assert_msg(n > 40, "position %zu took only %zu values", j, n);
	}
	free(toks);
}
END_TEST

static const struct {
	const char	*label;
	const char	*in;
} parse_bad[] = {
	{ "empty", "" },
	{ "short", "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA" },
	{ "long", "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA" },
	{ "padding", "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=" },
	{ "plus", "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA+" },
	{ "slash", "AAAAAAAAAAAA/AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA" },
	{ "percent", "AAAAAAAAAAAA%41AAAAAAAAAAAAAAAAAAAAAAAAAAAAA" },
	{ "space", "AAAAAAAAAAAA AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA" },
	{ "utf8", "AAAAAAAAAAA\xc3\xa9" "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAA" },
	{ "dot", "AAAAAAAAAAAA.AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA" },
};

START_TEST(test_parse_bad)
{
	char sel[QUEUE_TOKEN_SEL_LEN + 1];
	unsigned char hash[QUEUE_TOKEN_HASH_LEN];

	ck_assert_msg(token_parse(parse_bad[_i].in, strlen(parse_bad[_i].in),
	    sel, hash) == -1, "%s accepted", parse_bad[_i].label);
}
END_TEST

/* An embedded NUL within the length is refused too. */
START_TEST(test_parse_nul)
{
	char tok[TOKEN_LEN + 1], sel[QUEUE_TOKEN_SEL_LEN + 1];
	unsigned char hash[QUEUE_TOKEN_HASH_LEN];

	memset(tok, 'A', TOKEN_LEN);
	tok[TOKEN_LEN] = '\0';
	ck_assert_int_eq(token_parse(tok, TOKEN_LEN, sel, hash), 0);
	tok[20] = '\0';
	ck_assert_int_eq(token_parse(tok, TOKEN_LEN, sel, hash), -1);
}
END_TEST

START_TEST(test_csrf)
{
	struct queue_token a, b;
	char tok[TOKEN_LEN + 1], ca[TOKEN_CSRF_STRLEN + 1];
	char cb[TOKEN_CSRF_STRLEN + 1];

	ck_assert_int_eq(token_new(tok, &a), 0);
	ck_assert_int_eq(token_new(tok, &b), 0);
	token_csrf_str(&a, ca);
	token_csrf_str(&b, cb);
	ck_assert_uint_eq(strlen(ca), TOKEN_CSRF_STRLEN);
	ck_assert_str_ne(ca, cb);
	ck_assert(token_csrf_check(&a, ca, strlen(ca)));
	ck_assert(!token_csrf_check(&a, cb, strlen(cb)));
	ck_assert(!token_csrf_check(&a, ca, strlen(ca) - 1));
	ck_assert(!token_csrf_check(&a, "", 0));
	ca[0] = ca[0] == 'x' ? 'y' : 'x';
	ck_assert(!token_csrf_check(&a, ca, strlen(ca)));
}
END_TEST

static Suite *
token_suite(void)
{
	Suite *s = suite_create("token");
	TCase *tc = tcase_create("token");

	tcase_add_loop_test(tc, test_b64url, 0, NITEMS(b64_cases));
	tcase_add_test(tc, test_new_roundtrip);
	tcase_add_test(tc, test_new_unique);
	tcase_add_loop_test(tc, test_parse_bad, 0, NITEMS(parse_bad));
	tcase_add_test(tc, test_parse_nul);
	tcase_add_test(tc, test_csrf);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner *sr = srunner_create(token_suite());
	int nf;

	srunner_run_all(sr, CK_NORMAL);
	nf = srunner_ntests_failed(sr);
	srunner_free(sr);
	return nf == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
