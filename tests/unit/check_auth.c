/*
 * check_auth.c - unit tests for proxy/auth.c: base64, SASL PLAIN and
 * LOGIN, the password file, crypt(3) hashes, sender binding, the From:
 * scanner, the brute-force limiter, and the file back end end to end
 * (worker thread and completion on a real event loop).
 *
 * Table-driven (STYLE G10): one row per forked test.
 */
#include "auth.h"

#include <sys/stat.h>

#include <check.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/event.h>
#include <event2/thread.h>

#include "config.h"
#include "config_priv.h"
#include "util.h"

#define NITEMS(a)	(sizeof(a) / sizeof((a)[0]))

/*
 * base64
 */

struct b64_case {
	const char	*label;
	const char	*in;
	size_t		 outsz;		/* 0: 64 */
	enum auth_b64_status want;
	const char	*want_out;
	size_t		 want_len;
};

static const struct b64_case b64_cases[] = {
	{ "empty marker", "=", 0, AUTH_B64_OK, "", 0 },
	{ "empty string", "", 0, AUTH_B64_BAD, NULL, 0 },
	{ "one byte", "YQ==", 0, AUTH_B64_OK, "a", 1 },
	{ "two bytes", "YWI=", 0, AUTH_B64_OK, "ab", 2 },
	{ "three bytes", "YWJj", 0, AUTH_B64_OK, "abc", 3 },
	{ "plain message", "AGFsaWNlAHNlY3JldA==", 0, AUTH_B64_OK,
	  "\0alice\0secret", 13 },
	{ "Username:", "VXNlcm5hbWU6", 0, AUTH_B64_OK, "Username:", 9 },
	{ "not multiple of 4", "YWJ", 0, AUTH_B64_BAD, NULL, 0 },
	{ "bad char", "YW!j", 0, AUTH_B64_BAD, NULL, 0 },
	{ "space", "YW j", 0, AUTH_B64_BAD, NULL, 0 },
	{ "pad in middle", "YQ==YWJj", 0, AUTH_B64_BAD, NULL, 0 },
	{ "pad first", "=YWJ", 0, AUTH_B64_BAD, NULL, 0 },
	{ "three pads", "Y===", 0, AUTH_B64_BAD, NULL, 0 },
	{ "url alphabet", "YW-_", 0, AUTH_B64_BAD, NULL, 0 },
	{ "star", "*", 0, AUTH_B64_BAD, NULL, 0 },
	{ "fits exactly", "YWJj", 3, AUTH_B64_OK, "abc", 3 },
	{ "too long", "YWJjZA==", 3, AUTH_B64_TOO_LONG, NULL, 0 },
};

START_TEST(test_b64)
{
	const struct b64_case *c = &b64_cases[_i];
	unsigned char out[64];
	size_t len = 999;

	ck_assert_msg(auth_b64_decode(c->in, strlen(c->in), out,
	    c->outsz ? c->outsz : sizeof(out), &len) == c->want, "%s",
	    c->label);
	if (c->want == AUTH_B64_OK) {
		ck_assert_uint_eq(len, c->want_len);
		ck_assert(memcmp(out, c->want_out, len) == 0);
	}
}
END_TEST

START_TEST(test_b64_roundtrip)
{
	unsigned char in[64] = { 0 }, out[64];
	char enc[100];
	size_t n, len, i;

	for (n = 0; n < sizeof(in); n++) {
		for (i = 0; i < n; i++)
			in[i] = (unsigned char)(i * 37 + n);
		ck_assert_uint_eq(auth_b64_encode(in, n, enc),
		    4 * ((n + 2) / 3));
		if (n == 0)
			continue;
		ck_assert_int_eq(auth_b64_decode(enc, strlen(enc), out,
		    sizeof(out), &len), AUTH_B64_OK);
		ck_assert_uint_eq(len, n);
		ck_assert(memcmp(in, out, n) == 0);
	}
}
END_TEST

/*
 * SASL PLAIN / LOGIN
 */

struct plain_case {
	const char	*label;
	const char	*in;
	size_t		 len;
	const char	*want_err;	/* NULL: ok */
	const char	*want_user;
	const char	*want_pass;
};

static const struct plain_case plain_cases[] = {
	{ "simple", "\0alice\0secret", 13, NULL, "alice", "secret" },
	{ "same authzid", "alice\0alice\0pw", 14, NULL, "alice", "pw" },
	{ "empty password", "\0alice\0", 7, NULL, "alice", "" },
	{ "password with colon", "\0bob\0a:b c", 10, NULL, "bob", "a:b c" },
	{ "other authzid", "root\0alice\0pw", 13,
	  "authorization identity not supported", NULL, NULL },
	{ "no NUL", "alicesecret", 11, "malformed PLAIN message", NULL, NULL },
	{ "one NUL", "\0alicesecret", 12, "malformed PLAIN message", NULL,
	  NULL },
	{ "three NULs", "\0alice\0sec\0ret", 14, "malformed PLAIN message",
	  NULL, NULL },
	{ "empty user", "\0\0secret", 8, "empty user name", NULL, NULL },
	{ "control in user", "\0al\x01ice\0pw", 10,
	  "control character in user name", NULL, NULL },
	{ "empty", "", 0, "malformed PLAIN message", NULL, NULL },
};

START_TEST(test_plain)
{
	const struct plain_case *c = &plain_cases[_i];
	struct auth_creds cr;
	const char *why;

	why = auth_sasl_plain_parse((const unsigned char *)c->in, c->len, &cr);
	if (c->want_err != NULL) {
		ck_assert_msg(why != NULL, "%s: accepted", c->label);
		ck_assert_str_eq(why, c->want_err);
		return;
	}
	ck_assert_msg(why == NULL, "%s: %s", c->label, why);
	ck_assert_str_eq(cr.user, c->want_user);
	ck_assert_str_eq(cr.pass, c->want_pass);
	ck_assert_uint_eq(cr.passlen, strlen(c->want_pass));
	auth_creds_clear(&cr);
	ck_assert_uint_eq(cr.passlen, 0);
	ck_assert_int_eq(cr.pass[0], 0);
}
END_TEST

START_TEST(test_plain_long)
{
	unsigned char buf[AUTH_SASL_MAX + 10];
	struct auth_creds cr;

	memset(buf, 'u', sizeof(buf));
	buf[0] = '\0';
	buf[1 + AUTH_USER_MAX] = '\0';		/* user of the maximum size */
	ck_assert_ptr_null(auth_sasl_plain_parse(buf, 2 + AUTH_USER_MAX +
	    AUTH_PASS_MAX, &cr));
	ck_assert_str_eq(auth_sasl_plain_parse(buf, 2 + AUTH_USER_MAX +
	    AUTH_PASS_MAX + 1, &cr), "password too long");
	buf[1 + AUTH_USER_MAX] = 'u';
	buf[2 + AUTH_USER_MAX] = '\0';
	ck_assert_str_eq(auth_sasl_plain_parse(buf, 10 + AUTH_USER_MAX,
	    &cr), "user name too long");
}
END_TEST

START_TEST(test_login)
{
	struct auth_creds cr;

	ck_assert_ptr_null(auth_sasl_login_parse((const unsigned char *)
	    "alice", 5, true, &cr));
	ck_assert_str_eq(cr.user, "alice");
	ck_assert_ptr_null(auth_sasl_login_parse((const unsigned char *)
	    "s3cret", 6, false, &cr));
	ck_assert_str_eq(cr.user, "alice");
	ck_assert_str_eq(cr.pass, "s3cret");
	ck_assert_str_eq(auth_sasl_login_parse((const unsigned char *)"a\0b",
	    3, false, &cr), "NUL in password");
	ck_assert_str_eq(auth_sasl_login_parse((const unsigned char *)"a\0b",
	    3, true, &cr), "control character in user name");
	ck_assert_str_eq(auth_sasl_login_parse((const unsigned char *)"", 0,
	    true, &cr), "empty user name");
	ck_assert_ptr_null(auth_sasl_login_parse((const unsigned char *)"", 0,
	    false, &cr));
}
END_TEST

/*
 * Password file
 */

struct pw_case {
	const char	*label;
	const char	*in;
	const char	*want_err;
	size_t		 want_line;
	size_t		 want_n;
};

static const struct pw_case pw_cases[] = {
	{ "empty", "", NULL, 0, 0 },
	{ "comments and blanks", "# c\n\n  \n", "expected user:hash", 3, 0 },
	{ "one", "alice:$y$j9T$abc$def\n", NULL, 0, 1 },
	{ "crlf, no final newline", "a:$6$x$y\r\nb:$6$z$w", NULL, 0, 2 },
	{ "locked entry", "a:!\nb:*\n", NULL, 0, 2 },
	{ "address user", "bob@example.com:$6$rounds=5000$s$h\n", NULL, 0, 1 },
	{ "no colon", "# x\nalice\n", "expected user:hash", 2, 0 },
	{ "empty user", ":$6$x$y\n", "bad user name", 1, 0 },
	{ "empty hash", "a:\n", "bad hash (expected a crypt(3) string such "
	  "as $y$...)", 1, 0 },
	{ "space in hash", "a:$6$x y\n", "bad hash (expected a crypt(3) "
	  "string such as $y$...)", 1, 0 },
	{ "extra field", "a:$6$x$y:1000\n", "bad hash (expected a crypt(3) "
	  "string such as $y$...)", 1, 0 },
	{ "duplicate", "a:$6$x$y\nb:!\na:$6$x$z\n", "duplicate user", 0, 0 },
	{ "control in user", "a\tb:$6$x$y\n", "bad user name", 1, 0 },
};

START_TEST(test_pwfile)
{
	const struct pw_case *c = &pw_cases[_i];
	struct auth_pwfile *pw = NULL;
	const char *why;
	size_t line = 99;

	why = auth_pwfile_parse(c->in, strlen(c->in), &pw, &line);
	if (c->want_err != NULL) {
		ck_assert_msg(why != NULL, "%s: accepted", c->label);
		ck_assert_str_eq(why, c->want_err);
		ck_assert_uint_eq(line, c->want_line);
		ck_assert_ptr_null(pw);
		return;
	}
	ck_assert_msg(why == NULL, "%s: %s", c->label, why);
	ck_assert_uint_eq(auth_pwfile_count(pw), c->want_n);
	auth_pwfile_free(pw);
}
END_TEST

START_TEST(test_pwfile_lookup_update)
{
	static const char in[] = "# users\nbob:$6$b$b\nalice:$6$a$a\n";
	struct auth_pwfile *pw;
	size_t line;
	char *out;

	ck_assert_ptr_null(auth_pwfile_parse(in, strlen(in), &pw, &line));
	ck_assert_str_eq(auth_pwfile_lookup(pw, "alice"), "$6$a$a");
	ck_assert_str_eq(auth_pwfile_lookup(pw, "bob"), "$6$b$b");
	ck_assert_ptr_null(auth_pwfile_lookup(pw, "carol"));
	ck_assert_ptr_null(auth_pwfile_lookup(pw, "Alice"));
	auth_pwfile_free(pw);

	out = auth_pwfile_update(in, strlen(in), "alice", "$y$new");
	ck_assert_str_eq(out, "# users\nbob:$6$b$b\nalice:$y$new\n");
	free(out);
	out = auth_pwfile_update(in, strlen(in), "al", "$y$new");
	ck_assert_str_eq(out, "# users\nbob:$6$b$b\nalice:$6$a$a\nal:$y$new\n");
	free(out);
	out = auth_pwfile_update("x:!", 3, "y", "$y$1");
	ck_assert_str_eq(out, "x:!\ny:$y$1\n");
	free(out);
	ck_assert_ptr_null(auth_pwfile_update("", 0, "a:b", "$y$1"));
	ck_assert_ptr_null(auth_pwfile_update("", 0, "#a", "$y$1"));
	ck_assert_ptr_null(auth_pwfile_update("", 0, "a", "x y"));
}
END_TEST

START_TEST(test_hash)
{
	char *h = auth_hash_new("correct horse");

	ck_assert_ptr_nonnull(h);
	ck_assert_msg(strncmp(h, "$y$", 3) == 0 || strncmp(h, "$6$", 3) == 0,
	    "%s", h);
	ck_assert(auth_hash_verify("correct horse", h));
	ck_assert(!auth_hash_verify("correct horsE", h));
	ck_assert(!auth_hash_verify("", h));
	ck_assert(!auth_hash_verify("x", "!"));
	ck_assert(!auth_hash_verify("x", "*"));
	/* A known sha512-crypt vector (crypt(3) of "Hello world!"). */
	ck_assert(auth_hash_verify("Hello world!", "$6$saltstring$svn8UoSVapNtMuq1ukKS4tPQd8"
	    "iKwSMHWjl/O817G3uBnIFNjnQJuesI68u4OTLiBFdcbYEdFCoEOfaS35inz1"));
	ck_assert(!auth_hash_verify("Hello world", "$6$saltstring$svn8UoSVapNtMuq1ukKS4tPQd8"
	    "iKwSMHWjl/O817G3uBnIFNjnQJuesI68u4OTLiBFdcbYEdFCoEOfaS35inz1"));
	free(h);
}
END_TEST

/*
 * Sender binding and the From: scanner
 */

static const char senders_yaml[] =
    "auth:\n  senders:\n"
    "    alice: [alice@example.com, \"*@sales.example.com\"]\n"
    "    admin: \"*\"\n"
    "    nobody: []\n"
    "    carol@example.com: carol.c@example.com\n";

struct sender_case {
	const char	*label;
	const char	*user;
	const char	*addr;
	bool		 want;
};

static const struct sender_case sender_cases[] = {
	{ "listed exact", "alice", "alice@example.com", true },
	{ "listed exact, case", "alice", "ALICE@Example.COM", true },
	{ "listed domain", "alice", "bob@sales.example.com", true },
	{ "listed domain, case", "alice", "bob@SALES.example.com", true },
	{ "subdomain is not the domain", "alice", "x@eu.sales.example.com",
	  false },
	{ "other address", "alice", "bob@example.com", false },
	{ "null sender not listed", "alice", "", false },
	{ "star allows all", "admin", "anyone@anywhere.example", true },
	{ "star allows null", "admin", "", true },
	{ "empty list", "nobody", "nobody@example.com", false },
	{ "listed replaces default", "carol@example.com",
	  "carol@example.com", false },
	{ "listed alias", "carol@example.com", "carol.c@example.com", true },
	{ "default: login", "dave@example.com", "dave@example.com", true },
	{ "default: login, case", "dave@example.com", "Dave@EXAMPLE.com",
	  true },
	{ "default: other", "dave@example.com", "eve@example.com", false },
	{ "default: not an address", "dave", "dave", false },
	{ "default: not an address 2", "dave", "dave@example.com", false },
	{ "default: null sender", "dave@example.com", "", false },
};

static struct config *
senders_config(void)
{
	char err[1024];
	struct config *cfg;

	cfg = config_load_buffer_("t.yaml", senders_yaml,
	    strlen(senders_yaml), err, sizeof(err));
	ck_assert_msg(cfg != NULL, "%s", err);
	return cfg;
}

START_TEST(test_sender)
{
	const struct sender_case *c = &sender_cases[_i];
	struct config *cfg = senders_config();

	ck_assert_msg(auth_sender_ok(cfg, c->user, c->addr) == c->want,
	    "%s: %s as <%s>", c->label, c->user, c->addr);
	config_unref(cfg);
}
END_TEST

struct from_case {
	const char	*label;
	const char	*hdr;
	bool		 want_ok;
};

static const struct from_case from_cases[] = {
	{ "bare", "From: alice@example.com\r\n\r\n", true },
	{ "angle", "From: Alice <alice@example.com>\r\n\r\n", true },
	{ "quoted name with angle", "From: \"Bob <bob@example.com>\" "
	  "<alice@example.com>\r\n", true },
	{ "comment", "From: alice@example.com (Bob <bob@example.com>)\r\n",
	  true },
	{ "folded", "Subject: x\r\nFrom: Alice\r\n <x@sales.example.com>\r\n"
	  "\r\n", true },
	{ "two allowed", "From: a@sales.example.com, Alice "
	  "<alice@example.com>\r\n", true },
	{ "case", "from: ALICE@EXAMPLE.COM\r\n", true },
	{ "group", "From: Team: a@sales.example.com, b@sales.example.com;\r\n",
	  true },
	{ "other", "From: bob@example.com\r\n\r\n", false },
	{ "one of two bad", "From: alice@example.com, bob@example.com\r\n",
	  false },
	{ "second From: bad", "From: alice@example.com\r\nFrom: "
	  "bob@example.com\r\n", false },
	{ "no From:", "Subject: hi\r\n\r\nFrom: bob@example.com\r\n", false },
	{ "From: in body only", "Subject: hi\r\n\r\nFrom: alice@example.com\r\n",
	  false },
	{ "empty", "From:\r\n", false },
	{ "unclosed angle", "From: <alice@example.com\r\n", false },
	{ "unclosed quote", "From: \"x <alice@example.com>\r\n", false },
	{ "unclosed comment", "From: alice@example.com (x\r\n", false },
	{ "nested angle", "From: <<alice@example.com>>\r\n", false },
	{ "sender: not checked", "Sender: bob@example.com\r\nFrom: "
	  "alice@example.com\r\n", true },
};

START_TEST(test_from)
{
	const struct from_case *c = &from_cases[_i];
	struct config *cfg = senders_config();
	const char *why;

	why = auth_from_check(cfg, "alice", c->hdr, strlen(c->hdr));
	ck_assert_msg((why == NULL) == c->want_ok, "%s: %s", c->label,
	    why ? why : "allowed");
	config_unref(cfg);
}
END_TEST

/*
 * The limiter
 */

START_TEST(test_limiter)
{
	struct auth_limiter *l = auth_limiter_new(3);
	const int64_t w = 1000;

	ck_assert_uint_eq(auth_limiter_get(l, "1.2.3.4", 0, w), 0);
	ck_assert_uint_eq(auth_limiter_fail(l, "1.2.3.4", 0, w), 1);
	ck_assert_uint_eq(auth_limiter_fail(l, "1.2.3.4", 10, w), 2);
	ck_assert_uint_eq(auth_limiter_get(l, "1.2.3.4", 999, w), 2);
	/* Case-insensitive keys (user names). */
	ck_assert_uint_eq(auth_limiter_fail(l, "Alice", 10, w), 1);
	ck_assert_uint_eq(auth_limiter_fail(l, "alice", 20, w), 2);
	/* The window starts at the first failure. */
	ck_assert_uint_eq(auth_limiter_get(l, "1.2.3.4", 1000, w), 0);
	ck_assert_uint_eq(auth_limiter_fail(l, "1.2.3.4", 1001, w), 1);
	/* Clearing. */
	auth_limiter_clear(l, "ALICE");
	ck_assert_uint_eq(auth_limiter_get(l, "alice", 30, w), 0);
	auth_limiter_clear(l, "unknown");
	auth_limiter_free(l);
	auth_limiter_free(NULL);
}
END_TEST

START_TEST(test_limiter_bound)
{
	struct auth_limiter *l = auth_limiter_new(100);
	char key[32];
	int i;

	/* Far more keys than the bound: the oldest are forgotten. */
	for (i = 0; i < 1000; i++) {
		(void)mh_snprintf(key, sizeof(key), "k%d", i);
		ck_assert_uint_eq(auth_limiter_fail(l, key, i, 1000000), 1);
	}
	ck_assert_uint_eq(auth_limiter_get(l, "k999", 1000, 1000000), 1);
	ck_assert_uint_eq(auth_limiter_get(l, "k0", 1000, 1000000), 0);
	auth_limiter_free(l);
}
END_TEST

struct delay_case {
	int64_t	 base;
	size_t	 n;
	int64_t	 want;
};

static const struct delay_case delay_cases[] = {
	{ 1000, 0, 0 }, { 1000, 1, 1000 }, { 1000, 2, 2000 },
	{ 1000, 3, 4000 }, { 1000, 4, 8000 }, { 1000, 5, 8000 },
	{ 1000, 1000, 8000 }, { 0, 5, 0 }, { 250, 3, 1000 },
};

START_TEST(test_delay)
{
	const struct delay_case *c = &delay_cases[_i];

	ck_assert_int_eq(auth_failure_delay(c->base, c->n), c->want);
}
END_TEST

START_TEST(test_pattern)
{
	ck_assert(auth_pattern_match("*", ""));
	ck_assert(auth_pattern_match("*@a.b", "x@A.B"));
	ck_assert(!auth_pattern_match("*@a.b", "@a.b"));
	ck_assert(!auth_pattern_match("*@a.b", "x@c.a.b"));
	ck_assert(!auth_pattern_match("x@a.b", ""));
	ck_assert(auth_pattern_match("x@a.b", "X@a.B"));
}
END_TEST

/* RFC 6531 addresses in auth.senders (issue 17): UTF-8 local parts, and
 * U-labels equal to their A-labels. */
static const struct upat_case {
	const char	*label;
	const char	*pat;
	const char	*addr;
	bool		 want;
} upat_cases[] = {
	{ "utf-8 local part", "\xe8\x8a\xb1\xe5\xad\x90@example.jp",
	    "\xe8\x8a\xb1\xe5\xad\x90@example.jp", true },
	{ "utf-8 local part, domain case", "\xe8\x8a\xb1@example.jp",
	    "\xe8\x8a\xb1@EXAMPLE.jp", true },
	{ "other utf-8 local part", "\xe8\x8a\xb1@example.jp",
	    "\xe5\xad\x90@example.jp", false },
	{ "U-label pattern, A-label address", "*@\xe4\xbe\x8b\xe3\x81\x88.jp",
	    "a@xn--r8jz45g.jp", true },
	{ "A-label pattern, U-label address", "*@xn--r8jz45g.jp",
	    "a@\xe4\xbe\x8b\xe3\x81\x88.jp", true },
	{ "whole address, U-label vs A-label",
	    "\xe8\x8a\xb1@\xe4\xbe\x8b\xe3\x81\x88.jp",
	    "\xe8\x8a\xb1@xn--r8jz45g.jp", true },
	{ "other IDN", "*@\xe4\xbe\x8b\xe3\x81\x88.jp",
	    "a@xn--wgv71a.jp", false },
	{ "ascii still case-insensitive", "Alice@Example.COM",
	    "alice@example.com", true },
	{ "local part length differs", "ab@x.y", "a@x.y", false },
};

START_TEST(test_pattern_utf8)
{
	const struct upat_case *c = &upat_cases[_i];

	ck_assert_msg(auth_pattern_match(c->pat, c->addr) == c->want, "%s",
	    c->label);
}
END_TEST

/*
 * The file back end on a real loop
 */

static char	tmpdir[64];

static void
backend_setup(void)
{
	mh_strlcpy(tmpdir, "/tmp/check_auth.XXXXXX", sizeof(tmpdir));
	ck_assert_ptr_nonnull(mkdtemp(tmpdir));
	ck_assert_int_eq(evthread_use_pthreads(), 0);
}

static void
backend_teardown(void)
{
	char cmd[128];

	(void)mh_snprintf(cmd, sizeof(cmd), "rm -rf %s", tmpdir);
	/* (void) does not silence warn_unused_result under
	 * _FORTIFY_SOURCE, which the Debian package build sets. */
	if (system(cmd) != 0)
		fprintf(stderr, "%s: %s failed\n", __func__, cmd);
}

struct backend_wait {
	struct event_base *base;
	int	 n;
	enum auth_result res[4];
};

static void
backend_done(enum auth_result r, void *arg)
{
	struct backend_wait *w = arg;

	w->res[w->n++] = r;
	event_base_loopbreak(w->base);
}

static struct config *
backend_config(const char *pwdata, mode_t mode)
{
	char path[128], yaml[512], err[1024];
	struct config *cfg;
	FILE *f;

	(void)mh_snprintf(path, sizeof(path), "%s/passwd", tmpdir);
	ck_assert_ptr_nonnull(f = fopen(path, "w"));
	fputs(pwdata, f);
	fclose(f);
	ck_assert_int_eq(chmod(path, mode), 0);
	(void)mh_snprintf(yaml, sizeof(yaml), "auth:\n  backend: file\n"
	    "  password_file: %s\n", path);
	cfg = config_load_buffer_("t.yaml", yaml, strlen(yaml), err,
	    sizeof(err));
	ck_assert_msg(cfg != NULL, "%s", err);
	return cfg;
}

START_TEST(test_backend_file)
{
	struct timeval tv = { 60, 0 };
	struct backend_wait w;
	struct event *keep;
	struct config *cfg;
	struct auth *a;
	char err[1024], *h, line[256];

	memset(&w, 0, sizeof(w));
	ck_assert_ptr_nonnull(h = auth_hash_new("pw1"));
	(void)mh_snprintf(line, sizeof(line), "alice:%s\nlocked:!\n", h);
	free(h);
	cfg = backend_config(line, 0600);
	ck_assert_ptr_nonnull(w.base = event_base_new());
	/* Keeps the loop running while the worker works. */
	ck_assert_ptr_nonnull(keep = event_new(w.base, -1, EV_PERSIST, NULL,
	    NULL));
	ck_assert_int_eq(event_add(keep, &tv), 0);
	a = auth_new(w.base, cfg, err, sizeof(err));
	ck_assert_msg(a != NULL, "%s", err);

	ck_assert_int_eq(auth_check(a, "alice", "pw1", 3, backend_done, &w),
	    0);
	ck_assert_int_eq(w.n, 0);		/* never synchronous */
	event_base_dispatch(w.base);
	ck_assert_int_eq(auth_check(a, "alice", "pw2", 3, backend_done, &w),
	    0);
	event_base_dispatch(w.base);
	ck_assert_int_eq(auth_check(a, "nobody", "pw1", 3, backend_done, &w),
	    0);
	event_base_dispatch(w.base);
	ck_assert_int_eq(auth_check(a, "locked", "", 0, backend_done, &w), 0);
	event_base_dispatch(w.base);
	ck_assert_int_eq(w.n, 4);
	ck_assert_int_eq(w.res[0], AUTH_OK);
	ck_assert_int_eq(w.res[1], AUTH_FAIL);
	ck_assert_int_eq(w.res[2], AUTH_FAIL);
	ck_assert_int_eq(w.res[3], AUTH_FAIL);

	/* A check in flight when the back end goes away: no callback. */
	ck_assert_int_eq(auth_check(a, "alice", "pw1", 3, backend_done, &w),
	    0);
	auth_free(a);
	ck_assert_int_eq(w.n, 4);
	config_unref(cfg);
	event_free(keep);
	event_base_free(w.base);
}
END_TEST

START_TEST(test_backend_reload)
{
	struct config *c1, *c2;
	struct event_base *base;
	struct auth *a;
	char err[1024];

	c1 = backend_config("a:$6$x$y\n", 0600);
	ck_assert_ptr_nonnull(base = event_base_new());
	ck_assert_ptr_nonnull(a = auth_new(base, c1, err, sizeof(err)));
	/* A broken file keeps the running table. */
	c2 = backend_config("a:$6$x$y\nbroken\n", 0600);
	ck_assert_int_eq(auth_reload(a, c2, err, sizeof(err)), -1);
	ck_assert_msg(strstr(err, "passwd:2: expected user:hash") != NULL,
	    "%s", err);
	config_unref(c2);
	c2 = backend_config("a:$6$x$y\nb:$6$x$z\n", 0600);
	ck_assert_int_eq(auth_reload(a, c2, err, sizeof(err)), 0);
	auth_free(a);
	config_unref(c1);
	config_unref(c2);
	event_base_free(base);
}
END_TEST

START_TEST(test_backend_world_readable)
{
	struct event_base *base;
	char path[128], yaml[256], err[1024];
	struct config *cfg;

	/* config_load refuses it already. */
	config_unref(backend_config("a:$6$x$y\n", 0600));
	(void)mh_snprintf(path, sizeof(path), "%s/passwd", tmpdir);
	ck_assert_int_eq(chmod(path, 0644), 0);
	(void)mh_snprintf(yaml, sizeof(yaml), "auth:\n  backend: file\n"
	    "  password_file: %s\n", path);
	cfg = config_load_buffer_("t.yaml", yaml, strlen(yaml), err,
	    sizeof(err));
	ck_assert_ptr_null(cfg);
	ck_assert_msg(strstr(err, "is world-readable") != NULL, "%s", err);
	ck_assert_ptr_nonnull(base = event_base_new());
	event_base_free(base);
}
END_TEST

static Suite *
auth_suite(void)
{
	Suite *s = suite_create("auth");
	TCase *tc;

	tc = tcase_create("base64");
	tcase_add_loop_test(tc, test_b64, 0, NITEMS(b64_cases));
	tcase_add_test(tc, test_b64_roundtrip);
	suite_add_tcase(s, tc);

	tc = tcase_create("sasl");
	tcase_add_loop_test(tc, test_plain, 0, NITEMS(plain_cases));
	tcase_add_test(tc, test_plain_long);
	tcase_add_test(tc, test_login);
	suite_add_tcase(s, tc);

	tc = tcase_create("pwfile");
	tcase_add_loop_test(tc, test_pwfile, 0, NITEMS(pw_cases));
	tcase_add_test(tc, test_pwfile_lookup_update);
	tcase_add_test(tc, test_hash);
	suite_add_tcase(s, tc);

	tc = tcase_create("senders");
	tcase_add_loop_test(tc, test_sender, 0, NITEMS(sender_cases));
	tcase_add_loop_test(tc, test_from, 0, NITEMS(from_cases));
	tcase_add_test(tc, test_pattern);
	tcase_add_loop_test(tc, test_pattern_utf8, 0,
	    (int)(sizeof(upat_cases) / sizeof(upat_cases[0])));
	suite_add_tcase(s, tc);

	tc = tcase_create("limiter");
	tcase_add_test(tc, test_limiter);
	tcase_add_test(tc, test_limiter_bound);
	tcase_add_loop_test(tc, test_delay, 0, NITEMS(delay_cases));
	suite_add_tcase(s, tc);

	tc = tcase_create("backend");
	tcase_add_checked_fixture(tc, backend_setup, backend_teardown);
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_backend_file);
	tcase_add_test(tc, test_backend_reload);
	tcase_add_test(tc, test_backend_world_readable);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner *sr = srunner_create(auth_suite());
	int nfail;

	srunner_run_all(sr, CK_NORMAL);
	nfail = srunner_ntests_failed(sr);
	srunner_free(sr);
	return nfail == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
