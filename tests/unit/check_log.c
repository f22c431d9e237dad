/*
 * check_log.c - the logger (policy/log.c): the logfmt -> JSON conversion
 * (exact outputs, cuts at every size, hostile and random input, all of it
 * checked by a small JSON object parser) and JSON lines end to end
 * through a stderr redirected to a pipe or a file.
 */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "log.h"
#include "util.h"

#define NITEMS(a)	(sizeof(a) / sizeof((a)[0]))
#define MARK		"\"truncated\":\"true\""
#define BIG		(6 * 4096 + 256)

/*
 * A JSON object checker, strict where we emit: one object, members whose
 * names are strings and whose values are strings or non-negative
 * integers, only printable ASCII between the tokens, no white space, no
 * duplicate names (compared as written: ours never hold escapes).
 */
struct jc_key {
	const char	*p;
	size_t		 n;
};

static const char *
jc_string(const char *p)
{
	int i;

	if (*p++ != '"')
		return NULL;
	while (*p != '"') {
		size_t k;

		/* JSON text is UTF-8 (RFC 8259 §8.1): whole sequences only. */
		if ((unsigned char)*p >= 0x80) {
			k = mh_utf8_seq((const unsigned char *)p, strlen(p),
			    NULL);
			if (k < 2)
				return NULL;
			p += k;
			continue;
		}
		if ((unsigned char)*p < 0x20 || (unsigned char)*p == 0x7f)
			return NULL;
		if (*p++ != '\\')
			continue;
		if (*p != '\0' && strchr("\"\\/bfnrt", *p) != NULL) {
			p++;
			continue;
		}
		if (*p++ != 'u')
			return NULL;
		for (i = 0; i < 4; i++, p++)
			if (*p == '\0' ||
			    strchr("0123456789abcdefABCDEF", *p) == NULL)
				return NULL;
	}
	return p + 1;
}

static bool
jc_object(const char *s)
{
	static struct jc_key keys[1024];
	const char *p = s, *k;
	size_t nkeys = 0, i;

	if (*p++ != '{')
		return false;
	if (*p == '}')
		return p[1] == '\0';
	for (;;) {
		k = p;
		if ((p = jc_string(p)) == NULL)
			return false;
		for (i = 0; i < nkeys; i++)
			if (keys[i].n == (size_t)(p - k) &&
			    memcmp(keys[i].p, k, keys[i].n) == 0)
				return false;
		if (nkeys == NITEMS(keys))
			return false;
		keys[nkeys].p = k;
		keys[nkeys++].n = (size_t)(p - k);
		if (*p++ != ':')
			return false;
		if (*p == '"') {
			if ((p = jc_string(p)) == NULL)
				return false;
		} else if (*p >= '0' && *p <= '9') {
			while (*p >= '0' && *p <= '9')
				p++;
		} else
			return false;
		if (*p == ',') {
			p++;
			continue;
		}
		return *p == '}' && p[1] == '\0';
	}
}

/* Members as log_logfmt_to_json() writes them, checked inside braces. */
static bool
jc_members(const char *m)
{
	static char buf[BIG + 4];
	size_t n = strlen(m);

	if (n + 3 > sizeof(buf))
		return false;
	buf[0] = '{';
	memcpy(buf + 1, m, n);
	buf[n + 1] = '}';
	buf[n + 2] = '\0';
	return jc_object(buf);
}

static bool
ends_with(const char *s, const char *suffix)
{
	size_t n = strlen(s), m = strlen(suffix);

	return n >= m && strcmp(s + n - m, suffix) == 0;
}

/* Exact conversions.  Inputs are logfmt as callers write it, outputs are
 * JSON text: read "\\\"" in a want as the two characters \". */
static const struct {
	const char	*label;
	const char	*in;
	const char	*want;
} conv_cases[] = {
	{ .label = "empty", .in = "", .want = "" },
	{ .label = "spaces only", .in = "   ", .want = "" },
	{ .label = "one pair", .in = "a=b", .want = "\"a\":\"b\"" },
	{ .label = "example of the header",
	  .in = "id=abc event=sent reply=\"250 ok\"",
	  .want = "\"id\":\"abc\",\"event\":\"sent\",\"reply\":\"250 ok\"" },
	{ .label = "line of the daemon",
	  .in = "id=f590606b599fcf66 event=sent rcpt=<sender@example.com> "
	    "reply=\"250 2.0.0 Ok: queued as 533D3A92413\"",
	  .want = "\"id\":\"f590606b599fcf66\",\"event\":\"sent\","
	    "\"rcpt\":\"<sender@example.com>\","
	    "\"reply\":\"250 2.0.0 Ok: queued as 533D3A92413\"" },
	{ .label = "runs of spaces", .in = "  a=1   b=2  ",
	  .want = "\"a\":\"1\",\"b\":\"2\"" },
	{ .label = "a tab does not separate", .in = "a=1\tb=2",
	  .want = "\"a\":\"1\\u0009b=2\"" },
	{ .label = "escaped quotes", .in = "note=\"say \\\"hi\\\"\"",
	  .want = "\"note\":\"say \\\"hi\\\"\"" },
	{ .label = "escaped backslashes", .in = "path=\"C:\\\\dir\\\\\"",
	  .want = "\"path\":\"C:\\\\dir\\\\\"" },
	{ .label = "\\xNN kept in quotes", .in = "reply=\"550 \\x22no\\x22\"",
	  .want = "\"reply\":\"550 \\\\x22no\\\\x22\"" },
	{ .label = "\\xNN kept unquoted", .in = "helo=a\\x0d\\x0ab",
	  .want = "\"helo\":\"a\\\\x0d\\\\x0ab\"" },
	{ .label = "other escapes kept", .in = "note=\"a\\nb\"",
	  .want = "\"note\":\"a\\\\nb\"" },
	{ .label = "empty value", .in = "a= b=2",
	  .want = "\"a\":\"\",\"b\":\"2\"" },
	{ .label = "empty value at the end", .in = "a=1 b=",
	  .want = "\"a\":\"1\",\"b\":\"\"" },
	{ .label = "empty quoted value", .in = "a=\"\" b=2",
	  .want = "\"a\":\"\",\"b\":\"2\"" },
	{ .label = "= in a value", .in = "q=a=b", .want = "\"q\":\"a=b\"" },
	{ .label = "bare words after pairs",
	  .in = "event=shutdown relays_abandoned=2 (they will be sent again "
	    "after restart)",
	  .want = "\"event\":\"shutdown\",\"relays_abandoned\":\"2\","
	    "\"msg\":\"(they will be sent again after restart)\"" },
	{ .label = "bare words first", .in = "mailhold starting version=0.1.0",
	  .want = "\"msg\":\"mailhold starting\",\"version\":\"0.1.0\"" },
	{ .label = "bare words scattered", .in = "a b=1 c  d=2 e",
	  .want = "\"msg\":\"a c e\",\"b\":\"1\",\"d\":\"2\"" },
	{ .label = "invalid key", .in = "bad/key=1 ok=2",
	  .want = "\"msg\":\"bad/key=1\",\"ok\":\"2\"" },
	{ .label = "empty key", .in = "=x y=1",
	  .want = "\"msg\":\"=x\",\"y\":\"1\"" },
	{ .label = "key characters", .in = "tls.version=1.3 x-y=z A_9=0",
	  .want = "\"tls.version\":\"1.3\",\"x-y\":\"z\",\"A_9\":\"0\"" },
	{ .label = "values stay strings", .in = "n=42 ok=true none=null",
	  .want = "\"n\":\"42\",\"ok\":\"true\",\"none\":\"null\"" },
	{ .label = "duplicate keys", .in = "a=1 a=2 a=3",
	  .want = "\"a\":\"1\",\"a_2\":\"2\",\"a_3\":\"3\"" },
	{ .label = "duplicate meets a written suffix",
	  .in = "a=1 a=2 a_2=x a=3",
	  .want = "\"a\":\"1\",\"a_2\":\"2\",\"a_2_2\":\"x\",\"a_3\":\"3\"" },
	{ .label = "written suffix first", .in = "a_2=x a=1 a=2",
	  .want = "\"a_2\":\"x\",\"a\":\"1\",\"a_3\":\"2\"" },
	{ .label = "names of the prefix are taken",
	  .in = "ts=1 ident=i pid=2 level=x truncated=no",
	  .want = "\"ts_2\":\"1\",\"ident_2\":\"i\",\"pid_2\":\"2\","
	    "\"level_2\":\"x\",\"truncated_2\":\"no\"" },
	{ .label = "msg key, then bare words", .in = "msg=hi hello",
	  .want = "\"msg\":\"hi\",\"msg_2\":\"hello\"" },
	{ .label = "bare words, then msg key", .in = "hello msg=hi",
	  .want = "\"msg\":\"hello\",\"msg_2\":\"hi\"" },
	{ .label = "error key is the caller's",
	  .in = "event=control error=\"socket\"",
	  .want = "\"event\":\"control\",\"error\":\"socket\"" },
	{ .label = "reload line",
	  .in = "event=reload result=failed error=\"config.yaml:3:5: unknown "
	    "key\" (keeping the running config)",
	  .want = "\"event\":\"reload\",\"result\":\"failed\","
	    "\"error\":\"config.yaml:3:5: unknown key\","
	    "\"msg\":\"(keeping the running config)\"" },
	{ .label = "bug line",
	  .in = "event=bug file=proxy/smtp_server.c line=1234 "
	    "what=\"bad state\"",
	  .want = "\"event\":\"bug\",\"file\":\"proxy/smtp_server.c\","
	    "\"line\":\"1234\",\"what\":\"bad state\"" },
	{ .label = "control octets", .in = "a=x\x01y b=\"\x1b[0m\"",
	  .want = "\"a\":\"x\\u0001y\",\"b\":\"\\u001b[0m\"" },
	{ .label = "newline and DEL", .in = "a=1\n2 b=\x7f",
	  .want = "\"a\":\"1\\u000a2\",\"b\":\"\\u007f\"" },
	/* Valid UTF-8 stays as it is (JSON text is UTF-8); other octets
	 * >= 0x80 become U+0080..U+00FF, never a broken sequence. */
	{ .label = "octets >= 0x80", .in = "a=caf\xc3\xa9 b=\xff",
	  .want = "\"a\":\"caf\xc3\xa9\",\"b\":\"\\u00ff\"" },
	{ .label = "UTF-8 address, quoted", .in = "to=\"<\xe8\x8a\xb1@x.jp>\"",
	  .want = "\"to\":\"<\xe8\x8a\xb1@x.jp>\"" },
	{ .label = "truncated UTF-8", .in = "a=\xe8\x8a b=1",
	  .want = "\"a\":\"\\u00e8\\u008a\",\"b\":\"1\"" },
	{ .label = "octet >= 0x80 in a key", .in = "k\xe9y=1 z=2",
	  .want = "\"msg\":\"k\\u00e9y=1\",\"z\":\"2\"" },
	{ .label = "unterminated quote", .in = "a=\"abc def",
	  .want = "\"a\":\"\\\"abc def\"" },
	{ .label = "unterminated quote takes the rest", .in = "a=\"x b=2",
	  .want = "\"a\":\"\\\"x b=2\"" },
	{ .label = "text after the closing quote", .in = "a=\"x\"y b=1",
	  .want = "\"a\":\"\\\"x\\\"y\",\"b\":\"1\"" },
	{ .label = "quote inside an unquoted value", .in = "a=x\"y z\"",
	  .want = "\"a\":\"x\\\"y\",\"msg\":\"z\\\"\"" },
	{ .label = "escaped closing quote", .in = "a=\"x\\\"",
	  .want = "\"a\":\"\\\"x\\\\\\\"\"" },
	{ .label = "backslash at the end", .in = "a=\"x\\",
	  .want = "\"a\":\"\\\"x\\\\\"" },
	{ .label = "quoted bare token", .in = "\"hello world\" a=1",
	  .want = "\"msg\":\"\\\"hello world\\\"\",\"a\":\"1\"" },
	{ .label = "quoted text with =", .in = "\"a=b c\" d=1",
	  .want = "\"msg\":\"\\\"a=b c\\\"\",\"d\":\"1\"" },
	{ .label = "lone quote", .in = "\"", .want = "\"msg\":\"\\\"\"" },
	{ .label = "lone =", .in = "=", .want = "\"msg\":\"=\"" },
};

START_TEST(test_convert)
{
	char out[1024];

	ck_assert_msg(log_logfmt_to_json(conv_cases[_i].in, out,
	    sizeof(out)) == 0, "%s: -1", conv_cases[_i].label);
	ck_assert_msg(strcmp(out, conv_cases[_i].want) == 0,
	    "%s: got %s, want %s", conv_cases[_i].label, out,
	    conv_cases[_i].want);
	ck_assert_msg(jc_members(out), "%s: not JSON: %s",
	    conv_cases[_i].label, out);
}
END_TEST

/* Every octet through mh_log_escape(), quoted and not: the \xNN text
 * comes out as written, with its backslash escaped for JSON. */
START_TEST(test_escape_roundtrip)
{
	char esc[64], dbl[64], in[160], want[160], out[512];
	size_t i, o;
	int c;

	for (c = 1; c < 256; c++) {
		in[0] = (char)c;
		mh_log_escape(in, 1, 100, esc, sizeof(esc));
		for (i = o = 0; esc[i] != '\0'; i++) {
			if (esc[i] == '\\')
				dbl[o++] = '\\';
			dbl[o++] = esc[i];
		}
		dbl[o] = '\0';
		ck_assert_int_ge(mh_snprintf(in, sizeof(in),
		    "v=\"x%sx\" w=%s", esc, esc), 0);
		ck_assert_int_eq(log_logfmt_to_json(in, out, sizeof(out)), 0);
		ck_assert(jc_members(out));
		if (c == ' ') {
			/* Unquoted, the space ends the token: w is empty. */
			ck_assert_str_eq(out, "\"v\":\"x x\",\"w\":\"\"");
			continue;
		}
		ck_assert_int_ge(mh_snprintf(want, sizeof(want),
		    "\"v\":\"x%sx\",\"w\":\"%s\"", dbl, dbl), 0);
		ck_assert_msg(strcmp(out, want) == 0, "octet %#x: %s", c, out);
	}
}
END_TEST

/* mh_log_escape_utf8(): readable UTF-8, escaped only where it would
 * break the line or mislead (issue 17). */
static const struct esc8_case {
	const char	*label;
	const char	*in;
	size_t		 maxin;		/* 0: 100 */
	const char	*want;
} esc8_cases[] = {
	{ "ascii", "a@b.c", 0, "a@b.c" },
	{ "latin", "\xc3\xbcml\xc3\xa4ut@example.org", 0,
	    "\xc3\xbcml\xc3\xa4ut@example.org" },
	{ "cjk local part and U-label", "\xe8\x8a\xb1@\xe4\xbe\x8b.jp", 0,
	    "\xe8\x8a\xb1@\xe4\xbe\x8b.jp" },
	{ "4-octet", "\xf0\x9f\x98\x80@x", 0, "\xf0\x9f\x98\x80@x" },
	{ "quote and backslash", "\"a\\b\"@x", 0,
	    "\\x22a\\x5cb\\x22@x" },
	{ "controls", "a\r\n\x01\x7f", 0, "a\\x0d\\x0a\\x01\\x7f" },
	{ "invalid lone byte", "caf\xe9@x", 0, "caf\\xe9@x" },
	{ "overlong", "\xc0\xaf", 0, "\\xc0\\xaf" },
	{ "surrogate", "\xed\xa0\x80", 0, "\\xed\\xa0\\x80" },
	{ "truncated sequence", "a\xe8\x8a", 0, "a\\xe8\\x8a" },
	{ "C1 control U+0085", "a\xc2\x85" "b", 0, "a\\xc2\\x85b" },
	{ "line separator U+2028", "a\xe2\x80\xa8" "b", 0,
	    "a\\xe2\\x80\\xa8b" },
	{ "bidi override U+202E", "a\xe2\x80\xae" "b", 0,
	    "a\\xe2\\x80\\xaeb" },
	{ "bidi isolate U+2066", "\xe2\x81\xa6", 0, "\\xe2\\x81\\xa6" },
	{ "BOM", "\xef\xbb\xbf" "a", 0, "\\xef\\xbb\\xbfa" },
	{ "no-break space U+00A0", "a\xc2\xa0" "b", 0, "a\\xc2\\xa0b" },
	{ "ideographic space U+3000", "a\xe3\x80\x80" "event=x", 0,
	    "a\\xe3\\x80\\x80event=x" },
	{ "zero width space U+200B", "a\xe2\x80\x8b" "b", 0,
	    "a\\xe2\\x80\\x8bb" },
	{ "soft hyphen U+00AD", "a\xc2\xad", 0, "a\\xc2\\xad" },
	{ "word joiner U+2060", "\xe2\x81\xa0", 0, "\\xe2\\x81\\xa0" },
	{ "variation selector U+FE0F", "\xef\xb8\x8f", 0,
	    "\\xef\\xb8\\x8f" },
	{ "tag U+E0041", "\xf3\xa0\x81\x81", 0,
	    "\\xf3\\xa0\\x81\\x81" },
	{ "kana and CJK stay readable", "\xe3\x81\x82\xe4\xb8\x80", 0,
	    "\xe3\x81\x82\xe4\xb8\x80" },
	{ "cut before a character, never inside", "ab\xe8\x8a\xb1", 3,
	    "ab..." },
	{ "cut after a character", "\xe8\x8a\xb1" "z", 3, "\xe8\x8a\xb1..." },
};

START_TEST(test_escape_utf8)
{
	const struct esc8_case *c = &esc8_cases[_i];
	char out[256], a[300];

	mh_log_escape_utf8(c->in, strlen(c->in), c->maxin ? c->maxin : 100,
	    out, sizeof(out));
	ck_assert_msg(strcmp(out, c->want) == 0, "%s: got %s", c->label, out);
	/* mh_log_escape() keeps every octet >= 0x80 escaped. */
	mh_log_escape(c->in, strlen(c->in), 100, out, sizeof(out));
	for (size_t i = 0; out[i] != '\0'; i++)
		ck_assert_msg((unsigned char)out[i] < 0x80, "%s", c->label);
	/* Addresses use the same readable form, in <>, quoted when the
	 * escaped form has a space. */
	mh_log_escape_utf8(c->in, strlen(c->in), 320, out, sizeof(out));
	mh_log_addr(c->in, a, sizeof(a));
	ck_assert_msg(strncmp(a, strchr(out, ' ') ? "\"<" : "<", 1 +
	    (strchr(out, ' ') != NULL)) == 0 && strstr(a, out) != NULL,
	    "%s: mh_log_addr gave %s", c->label, a);
}
END_TEST

START_TEST(test_log_addr_utf8)
{
	char a[300];

	ck_assert_str_eq(mh_log_addr("\xe8\x8a\xb1\xe5\xad\x90@example.com",
	    a, sizeof(a)), "<\xe8\x8a\xb1\xe5\xad\x90@example.com>");
	ck_assert_str_eq(mh_log_addr("\"a b\"@x", a, sizeof(a)),
	    "\"<\\x22a b\\x22@x>\"");
	/* Output too small for a whole character: cut before it. */
	mh_log_escape_utf8("\xe8\x8a\xb1", 3, 100, a, 3);
	ck_assert_str_eq(a, "");
}
END_TEST

START_TEST(test_key_length)
{
	char in[LOG_JSON_KEY_MAX + 16], want[LOG_JSON_KEY_MAX + 32];
	char out[256];

	memset(in, 'k', LOG_JSON_KEY_MAX);
	memcpy(in + LOG_JSON_KEY_MAX, "=v", 3);
	ck_assert_int_ge(mh_snprintf(want, sizeof(want), "\"%.*s\":\"v\"",
	    LOG_JSON_KEY_MAX, in), 0);
	ck_assert_int_eq(log_logfmt_to_json(in, out, sizeof(out)), 0);
	ck_assert_str_eq(out, want);

	/* One more: not a key, so the whole token goes to msg. */
	memset(in, 'k', LOG_JSON_KEY_MAX + 1);
	memcpy(in + LOG_JSON_KEY_MAX + 1, "=v", 3);
	ck_assert_int_ge(mh_snprintf(want, sizeof(want), "\"msg\":\"%s\"",
	    in), 0);
	ck_assert_int_eq(log_logfmt_to_json(in, out, sizeof(out)), 0);
	ck_assert_str_eq(out, want);
}
END_TEST

/* 150 equal keys: a, a_2 ... a_150, all distinct. */
START_TEST(test_many_duplicates)
{
	static char in[1024], out[BIG];
	size_t i;

	for (i = 0; i < 150; i++)
		memcpy(in + 3 * i, "a= ", 3);
	in[3 * 150] = '\0';
	ck_assert_int_eq(log_logfmt_to_json(in, out, sizeof(out)), 0);
	ck_assert(jc_members(out));
	ck_assert(strncmp(out, "\"a\":\"\",\"a_2\":\"\",\"a_3\":\"\",",
	    25) == 0);
	ck_assert(ends_with(out, ",\"a_150\":\"\""));
}
END_TEST

/* Past LOG_JSON_NAMES_MAX members the object is cut, even with room. */
START_TEST(test_too_many_members)
{
	static char in[4096], out[BIG];
	char want[32];
	size_t len = 0;
	int i, n;

	for (i = 0; i < LOG_JSON_NAMES_MAX + 50; i++) {
		n = mh_snprintf(in + len, sizeof(in) - len, "k%d=1 ", i);
		ck_assert_int_gt(n, 0);
		len += (size_t)n;
	}
	ck_assert_int_eq(log_logfmt_to_json(in, out, sizeof(out)), -1);
	ck_assert(jc_members(out));
	ck_assert(ends_with(out, "," MARK));
	ck_assert_int_ge(mh_snprintf(want, sizeof(want), "\"k%d\":\"1\",",
	    LOG_JSON_NAMES_MAX - 1), 0);
	ck_assert_ptr_nonnull(strstr(out, want));
	ck_assert_int_ge(mh_snprintf(want, sizeof(want), "\"k%d\":",
	    LOG_JSON_NAMES_MAX), 0);
	ck_assert_ptr_null(strstr(out, want));
}
END_TEST

/* Messages to cut at every output size. */
static const char *const cut_msgs[] = {
	"id=f590606b599fcf66 event=sent rcpt=<sender@example.com> "
	    "reply=\"250 2.0.0 Ok: queued as 533D3A92413\"",
	"event=reload result=failed error=\"x \\\"y\\\" \\\\z\" (keeping the "
	    "running config) a=1 a=2",
	"a=\x01\x02\x03\x04\x05\x06\x07\x08\x09\x0a b=\"\x1f\x1f\" c \xff\xfe",
	"x y z w=\"\" v= \"q r\" s=\"unterminated",
	"",
};

/*
 * For every size: -1 exactly when the whole result does not fit; then
 * valid JSON ending in the marker, whose members are those of the whole
 * result up to the cut (the last value may be cut short, at an escape
 * boundary, and closed).  The exact-size malloc lets ASan see any write
 * past outsz.
 */
START_TEST(test_cut_every_size)
{
	static char full[BIG];
	const char *msg = cut_msgs[_i];
	size_t flen, sz, blen;
	char *out, *body;
	int r;

	ck_assert_int_eq(log_logfmt_to_json(msg, full, sizeof(full)), 0);
	flen = strlen(full);
	for (sz = 0; sz <= flen + 2; sz++) {
		out = malloc(sz > 0 ? sz : 1);
		ck_assert_ptr_nonnull(out);
		r = log_logfmt_to_json(msg, sz > 0 ? out : NULL, sz);
		if (sz > flen) {
			ck_assert_int_eq(r, 0);
			ck_assert_str_eq(out, full);
			free(out);
			continue;
		}
		ck_assert_int_eq(r, -1);
		if (sz < 21) {
			ck_assert(sz == 0 || out[0] == '\0');
			free(out);
			continue;
		}
		ck_assert_uint_lt(strlen(out), sz);
		ck_assert_msg(jc_members(out), "size %zu: %s", sz, out);
		ck_assert_msg(ends_with(out, MARK), "size %zu: %s", sz, out);
		body = strdup(out);
		ck_assert_ptr_nonnull(body);
		blen = strlen(body) - strlen(MARK);
		if (blen > 0)
			blen--;		/* the comma */
		body[blen] = '\0';
		ck_assert_msg(strncmp(body, full, blen) == 0 || (blen > 0 &&
		    body[blen - 1] == '"' &&
		    strncmp(body, full, blen - 1) == 0),
		    "size %zu: %s is not a cut of %s", sz, out, full);
		free(body);
		free(out);
	}
}
END_TEST

/* The worst message the logger formats (2047 octets that all need
 * \u00XX) fits in 6x; in less it is cut cleanly. */
START_TEST(test_long_message)
{
	static char in[2048], out[6 * 2048 + 64], small[4096];

	memcpy(in, "a=", 2);
	memset(in + 2, 0x01, sizeof(in) - 3);
	in[sizeof(in) - 1] = '\0';
	ck_assert_int_eq(log_logfmt_to_json(in, out, sizeof(out)), 0);
	ck_assert(jc_members(out));
	ck_assert_uint_eq(strlen(out), 6 + 6 * 2045);
	ck_assert_ptr_null(strstr(out, "truncated"));

	ck_assert_int_eq(log_logfmt_to_json(in, small, sizeof(small)), -1);
	ck_assert(jc_members(small));
	ck_assert(ends_with(small, "\"," MARK));
	ck_assert(strncmp(small, "\"a\":\"\\u0001\\u0001", 17) == 0);
}
END_TEST

/* Random messages over an alphabet of the awkward octets, random sizes. */
START_TEST(test_random)
{
	static const char alpha[] = "ab=  \"\"\\\\x1_.-/\t\x01\x7f\x80\xff";
	static char in[600], out[BIG];
	unsigned long long seed = 0x9e3779b97f4a7c15ull;
	size_t i, len, sz;
	int n, r;

	for (n = 0; n < 3000; n++) {
		seed = seed * 6364136223846793005ull + 1442695040888963407ull;
		len = (size_t)(seed >> 33) % (sizeof(in) - 1);
		for (i = 0; i < len; i++) {
			seed = seed * 6364136223846793005ull +
			    1442695040888963407ull;
			in[i] = alpha[(seed >> 33) % (sizeof(alpha) - 1)];
		}
		in[len] = '\0';
		sz = n % 2 == 0 ? sizeof(out) : 21 + (size_t)(seed >> 40) %
		    (6 * len + 1);
		r = log_logfmt_to_json(in, out, sz);
		ck_assert_msg(jc_members(out), "%d: not JSON: %s", n, out);
		ck_assert(r == 0 || ends_with(out, MARK));
		ck_assert(n % 2 == 1 || r == 0);
	}
}
END_TEST

START_TEST(test_format_parse)
{
	ck_assert_int_eq(log_format_parse("logfmt"), LOG_FMT_LOGFMT);
	ck_assert_int_eq(log_format_parse("json"), LOG_FMT_JSON);
	ck_assert_int_eq(log_format_parse("JSON"), -1);
	ck_assert_int_eq(log_format_parse(""), -1);
}
END_TEST

/*
 * End to end.  stderr goes to a pipe (or a file) for the duration of a
 * test; each test runs in its own forked process (CK_FORK), so the
 * logger's globals never leak between tests.
 */
static int	cap_fd = -1, cap_saved = -1;

static void
cap_start(void)
{
	int fds[2];

	ck_assert_int_eq(pipe(fds), 0);
	cap_saved = dup(STDERR_FILENO);
	ck_assert_int_ge(cap_saved, 0);
	ck_assert_int_eq(dup2(fds[1], STDERR_FILENO), STDERR_FILENO);
	close(fds[1]);
	cap_fd = fds[0];
}

/* Restores stderr and returns all that was written (static). */
static char *
cap_end(void)
{
	static char buf[65536];
	size_t len = 0;
	ssize_t n;

	ck_assert_int_eq(dup2(cap_saved, STDERR_FILENO), STDERR_FILENO);
	close(cap_saved);
	while ((n = read(cap_fd, buf + len, sizeof(buf) - 1 - len)) > 0)
		len += (size_t)n;
	close(cap_fd);
	buf[len] = '\0';
	return buf;
}

/* Checks the prefix of one stderr JSON line and returns the rest. */
static const char *
json_prefix(const char *line, const char *level)
{
	static const char ts[] = "dddd-dd-ddTdd:dd:dd.dddZ";
	char want[128];
	size_t i;

	ck_assert_msg(strncmp(line, "{\"ts\":\"", 7) == 0, "%s", line);
	line += 7;
	for (i = 0; ts[i] != '\0'; i++)
		ck_assert_msg(ts[i] == 'd' ? line[i] >= '0' && line[i] <= '9' :
		    line[i] == ts[i], "ts at %zu: %s", i, line);
	line += i;
	ck_assert_int_gt(mh_snprintf(want, sizeof(want),
	    "\",\"ident\":\"mailhold\",\"pid\":%d,\"level\":\"%s\"",
	    (int)getpid(), level), 0);
	ck_assert_msg(strncmp(line, want, strlen(want)) == 0, "%s", line);
	return line + strlen(want);
}

/* The next line of *pp (without its LF), or NULL. */
static char *
next_line(char **pp)
{
	char *line = *pp, *nl;

	if (*line == '\0')
		return NULL;
	nl = strchr(line, '\n');
	ck_assert_ptr_nonnull(nl);
	*nl = '\0';
	*pp = nl + 1;
	return line;
}

START_TEST(test_e2e_json)
{
	char *all, *line, esc[64], want[256];
	static char longmsg[2048];

	memcpy(longmsg, "a=", 2);
	memset(longmsg + 2, 0x01, sizeof(longmsg) - 3);
	mh_log_escape("250 \"ok\"\r\n", 10, 100, esc, sizeof(esc));

	log_init("mailhold", false);
	log_setformat(LOG_FMT_JSON);
	log_setlevel(LOG_LVL_INFO);
	cap_start();
	log_info("id=%s event=sent rcpt=<%s> reply=\"%s\"", "f590606b599fcf66",
	    "sender@example.com", "250 2.0.0 Ok: queued as 533D3A92413");
	log_info("event=x reply=\"%s\"", esc);
	log_debug("event=hidden");
	errno = ENOENT;
	log_warn("event=accept_error");
	errno = EACCES;
	log_warn("event=control error=\"socket\"");
	log_warnx("%s", "");
	log_msg(LOG_LVL_ERR, "%s", longmsg);
	log_setformat(LOG_FMT_LOGFMT);
	log_info("event=back");
	all = cap_end();

	line = next_line(&all);
	ck_assert_ptr_nonnull(line);
	ck_assert(jc_object(line));
	ck_assert_str_eq(json_prefix(line, "info"),
	    ",\"id\":\"f590606b599fcf66\",\"event\":\"sent\","
	    "\"rcpt\":\"<sender@example.com>\","
	    "\"reply\":\"250 2.0.0 Ok: queued as 533D3A92413\"}");

	line = next_line(&all);
	ck_assert_ptr_nonnull(line);
	ck_assert(jc_object(line));
	ck_assert_str_eq(json_prefix(line, "info"), ",\"event\":\"x\","
	    "\"reply\":\"250 \\\\x22ok\\\\x22\\\\x0d\\\\x0a\"}");

	line = next_line(&all);
	ck_assert_ptr_nonnull(line);
	ck_assert(jc_object(line));
	ck_assert_int_gt(mh_snprintf(want, sizeof(want),
	    ",\"event\":\"accept_error\",\"error\":\"%s\"}", strerror(ENOENT)),
	    0);
	ck_assert_str_eq(json_prefix(line, "warn"), want);

	line = next_line(&all);
	ck_assert_ptr_nonnull(line);
	ck_assert(jc_object(line));
	ck_assert_int_gt(mh_snprintf(want, sizeof(want),
	    ",\"event\":\"control\",\"error\":\"socket\",\"error_2\":\"%s\"}",
	    strerror(EACCES)), 0);
	ck_assert_str_eq(json_prefix(line, "warn"), want);

	/* No member: no comma after the prefix. */
	line = next_line(&all);
	ck_assert_ptr_nonnull(line);
	ck_assert(jc_object(line));
	ck_assert_str_eq(json_prefix(line, "warn"), "}");

	/* 2047 octets, each 6 in JSON: the whole of it, not cut. */
	line = next_line(&all);
	ck_assert_ptr_nonnull(line);
	ck_assert(jc_object(line));
	ck_assert_ptr_null(strstr(line, "truncated"));
	ck_assert_uint_eq(strlen(json_prefix(line, "error")),
	    strlen(",\"a\":\"\"}") + 6 * 2045);

	line = next_line(&all);
	ck_assert_ptr_nonnull(line);
	ck_assert_int_gt(mh_snprintf(want, sizeof(want),
	    "Z mailhold[%d]: level=info event=back", (int)getpid()), 0);
	ck_assert_msg(strstr(line, want) != NULL, "%s", line);
	ck_assert_ptr_null(next_line(&all));
}
END_TEST

/* An ident with octets to escape; a format value that is not known
 * means logfmt. */
START_TEST(test_e2e_ident)
{
	char *all, *line;

	log_init("mail\"hold", false);
	log_setformat(LOG_FMT_JSON);
	cap_start();
	log_info("a=1");
	log_setformat(42);
	log_info("b=2");
	all = cap_end();
	line = next_line(&all);
	ck_assert(jc_object(line));
	ck_assert_ptr_nonnull(strstr(line, ",\"ident\":\"mail\\\"hold\","));
	ck_assert(ends_with(line, ",\"a\":\"1\"}"));
	line = next_line(&all);
	ck_assert_ptr_nonnull(strstr(line, " mail\"hold["));
	ck_assert(ends_with(line, " level=info b=2"));
}
END_TEST

/* fatal: a JSON line with "error", then exit(1). */
START_TEST(test_e2e_fatal)
{
	char *all, *line, want[128];
	pid_t pid;
	int status;

	log_init("mailhold", false);
	log_setformat(LOG_FMT_JSON);
	cap_start();
	if ((pid = fork()) == 0) {
		errno = ENOENT;
		fatal("event=start error=\"cannot open %s\"", "/x");
	}
	ck_assert_int_gt(pid, 0);
	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	all = cap_end();
	ck_assert(WIFEXITED(status) && WEXITSTATUS(status) == 1);
	line = next_line(&all);
	ck_assert_ptr_nonnull(line);
	ck_assert(jc_object(line));
	ck_assert_int_gt(mh_snprintf(want, sizeof(want),
	    ",\"level\":\"error\",\"event\":\"start\",\"error\":\"cannot open "
	    "/x\",\"error_2\":\"%s\"}", strerror(ENOENT)), 0);
	ck_assert_msg(ends_with(line, want), "%s", line);
}
END_TEST

/* Several threads, one buffer each: every line whole and valid. */
enum { THR_N = 4, THR_LINES = 300 };

static void *
thr_log(void *arg)
{
	int i, t = (int)(long)arg;

	for (i = 0; i < THR_LINES; i++)
		log_info("thread=%d line=%d note=\"%*s\" \x01", t, i,
		    40 + t * 20, "x");
	return NULL;
}

START_TEST(test_e2e_threads)
{
	char path[] = "/tmp/check_log.XXXXXX", *all, *line;
	pthread_t th[THR_N];
	int fd, saved, i, lines = 0;
	static char buf[1 << 20];
	ssize_t n;
	size_t len = 0;

	ck_assert_int_ge(fd = mkstemp(path), 0);
	unlink(path);
	ck_assert_int_eq(fcntl(fd, F_SETFL, O_APPEND), 0);
	log_init("mailhold", false);
	log_setformat(LOG_FMT_JSON);
	saved = dup(STDERR_FILENO);
	ck_assert_int_eq(dup2(fd, STDERR_FILENO), STDERR_FILENO);
	for (i = 0; i < THR_N; i++)
		ck_assert_int_eq(pthread_create(&th[i], NULL, thr_log,
		    (void *)(long)i), 0);
	for (i = 0; i < THR_N; i++)
		pthread_join(th[i], NULL);
	ck_assert_int_eq(dup2(saved, STDERR_FILENO), STDERR_FILENO);
	ck_assert_int_eq(lseek(fd, 0, SEEK_SET), 0);
	while ((n = read(fd, buf + len, sizeof(buf) - 1 - len)) > 0)
		len += (size_t)n;
	buf[len] = '\0';
	close(fd);
	all = buf;
	while ((line = next_line(&all)) != NULL) {
		ck_assert_msg(jc_object(line), "%s", line);
		ck_assert(ends_with(line, "\",\"msg\":\"\\u0001\"}"));
		lines++;
	}
	ck_assert_int_eq(lines, THR_N * THR_LINES);
}
END_TEST

static Suite *
log_suite(void)
{
	Suite *s = suite_create("log");
	TCase *tc;

	tc = tcase_create("logfmt_to_json");
	tcase_add_loop_test(tc, test_convert, 0, NITEMS(conv_cases));
	tcase_add_test(tc, test_escape_roundtrip);
	tcase_add_loop_test(tc, test_escape_utf8, 0, NITEMS(esc8_cases));
	tcase_add_test(tc, test_log_addr_utf8);
	tcase_add_test(tc, test_key_length);
	tcase_add_test(tc, test_many_duplicates);
	tcase_add_test(tc, test_too_many_members);
	tcase_add_loop_test(tc, test_cut_every_size, 0, NITEMS(cut_msgs));
	tcase_add_test(tc, test_long_message);
	tcase_add_test(tc, test_random);
	tcase_add_test(tc, test_format_parse);
	suite_add_tcase(s, tc);

	tc = tcase_create("json_lines");
	tcase_add_test(tc, test_e2e_json);
	tcase_add_test(tc, test_e2e_ident);
	tcase_add_test(tc, test_e2e_fatal);
	tcase_add_test(tc, test_e2e_threads);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner *sr = srunner_create(log_suite());
	int nfail;

	srunner_run_all(sr, CK_NORMAL);
	nfail = srunner_ntests_failed(sr);
	srunner_free(sr);
	return nfail == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
