/*
 * check_smtp_parse.c - unit tests for proxy/smtp_parse.c.
 *
 * Table-driven.  The DATA reader cases are each run whole, byte by byte,
 * at every two-way split and (for short inputs) every three-way split:
 * the reader is our SMTP smuggling defence, and its answer must never
 * depend on how the peer's octets were cut into reads.
 */
#include <check.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "smtp_parse.h"

#define nitems(a)	(sizeof(a) / sizeof((a)[0]))
/* A string literal and its length; the literal may hold NUL. */
#define IN(s)		.in = (s), .inlen = sizeof(s) - 1
#define OUT(s)		.want_out = (s), .want_outlen = sizeof(s) - 1

/*
 * smtp_parse_cmd()
 */
struct cmd_case {
	const char	*label;
	const char	*in;
	size_t		 inlen;
	bool		 want_err;
	enum smtp_verb	 want_verb;
	const char	*want_args;	/* NULL: "" */
};

static const struct cmd_case cmd_cases[] = {
	{ .label = "MAIL", IN("MAIL FROM:<a@b>"), .want_verb = SMTP_VERB_MAIL,
	  .want_args = "FROM:<a@b>" },
	{ .label = "mail lower case", IN("mail from:<a@b>"),
	  .want_verb = SMTP_VERB_MAIL, .want_args = "from:<a@b>" },
	{ .label = "mixed case", IN("MaIl FROM:<a@b>"),
	  .want_verb = SMTP_VERB_MAIL, .want_args = "FROM:<a@b>" },
	{ .label = "trailing spaces", IN("RCPT TO:<a@b>   "),
	  .want_verb = SMTP_VERB_RCPT, .want_args = "TO:<a@b>" },
	{ .label = "second SP kept", IN("MAIL  FROM:<a@b>"),
	  .want_verb = SMTP_VERB_MAIL, .want_args = " FROM:<a@b>" },
	{ .label = "trailing TAB kept", IN("EHLO x\t"),
	  .want_verb = SMTP_VERB_EHLO, .want_args = "x\t" },
	{ .label = "EHLO", IN("EHLO client.example"),
	  .want_verb = SMTP_VERB_EHLO, .want_args = "client.example" },
	{ .label = "HELO", IN("helo x"), .want_verb = SMTP_VERB_HELO,
	  .want_args = "x" },
	{ .label = "DATA", IN("DATA"), .want_verb = SMTP_VERB_DATA },
	{ .label = "DATA spaces", IN("DATA   "), .want_verb = SMTP_VERB_DATA },
	{ .label = "DATA with arg", IN("DATA x"), .want_verb = SMTP_VERB_DATA,
	  .want_args = "x" },
	{ .label = "RSET", IN("RSET"), .want_verb = SMTP_VERB_RSET },
	{ .label = "NOOP", IN("noop"), .want_verb = SMTP_VERB_NOOP },
	{ .label = "NOOP arg", IN("NOOP hello there"),
	  .want_verb = SMTP_VERB_NOOP, .want_args = "hello there" },
	{ .label = "QUIT", IN("QUIT"), .want_verb = SMTP_VERB_QUIT },
	{ .label = "VRFY", IN("VRFY x"), .want_verb = SMTP_VERB_VRFY,
	  .want_args = "x" },
	{ .label = "EXPN", IN("EXPN list"), .want_verb = SMTP_VERB_EXPN,
	  .want_args = "list" },
	{ .label = "HELP", IN("HELP"), .want_verb = SMTP_VERB_HELP },
	{ .label = "STARTTLS", IN("StartTLS"),
	  .want_verb = SMTP_VERB_STARTTLS },
	{ .label = "AUTH", IN("AUTH PLAIN AGFAYgBw"),
	  .want_verb = SMTP_VERB_AUTH, .want_args = "PLAIN AGFAYgBw" },
	{ .label = "BDAT", IN("BDAT 100 LAST"), .want_verb = SMTP_VERB_BDAT,
	  .want_args = "100 LAST" },
	{ .label = "8-bit args", IN("MAIL FROM:<\xc3\xa9@b>"),
	  .want_verb = SMTP_VERB_MAIL, .want_args = "FROM:<\xc3\xa9@b>" },

	{ .label = "MAILX", IN("MAILX FROM:<a@b>"),
	  .want_verb = SMTP_VERB_UNKNOWN, .want_args = "FROM:<a@b>" },
	{ .label = "MAIL colon", IN("MAIL:FROM:<a@b>"),
	  .want_verb = SMTP_VERB_UNKNOWN },
	{ .label = "MAIL TAB", IN("MAIL\tFROM:<a@b>"),
	  .want_verb = SMTP_VERB_UNKNOWN },
	{ .label = "DAT", IN("DAT"), .want_verb = SMTP_VERB_UNKNOWN },
	{ .label = "DATAX", IN("DATAX"), .want_verb = SMTP_VERB_UNKNOWN },
	{ .label = "STARTTLSX", IN("STARTTLSX"),
	  .want_verb = SMTP_VERB_UNKNOWN },
	{ .label = "unknown verb", IN("XYZZY plugh"),
	  .want_verb = SMTP_VERB_UNKNOWN, .want_args = "plugh" },
	{ .label = "GET", IN("GET / HTTP/1.0"),
	  .want_verb = SMTP_VERB_UNKNOWN, .want_args = "/ HTTP/1.0" },
	{ .label = "empty line", IN(""), .want_verb = SMTP_VERB_UNKNOWN },
	{ .label = "only spaces", IN("   "), .want_verb = SMTP_VERB_UNKNOWN },
	{ .label = "leading space", IN(" MAIL FROM:<a@b>"),
	  .want_verb = SMTP_VERB_UNKNOWN, .want_args = "MAIL FROM:<a@b>" },
	{ .label = "8-bit verb", IN("M\xc3\x81IL x"),
	  .want_verb = SMTP_VERB_UNKNOWN, .want_args = "x" },

	{ .label = "NUL", IN("DATA\0"), .want_err = true },
	{ .label = "NUL in args", IN("MAIL FROM:<a\0@b>"), .want_err = true },
	{ .label = "CR", IN("MAIL FROM:<a@b>\r"), .want_err = true },
	{ .label = "LF", IN("RSET\n"), .want_err = true },
	{ .label = "embedded CR", IN("QUIT x\rRSET"), .want_err = true },
	{ .label = "embedded LF", IN("NOOP\nDATA"), .want_err = true },
};

START_TEST(test_cmd_table)
{
	const struct cmd_case *t = &cmd_cases[_i];
	const char *want_args = t->want_args ? t->want_args : "";
	struct smtp_cmd cmd;
	const char *err;
	char *copy;

	copy = malloc(t->inlen ? t->inlen : 1);
	ck_assert_ptr_nonnull(copy);
	memcpy(copy, t->in, t->inlen);
	err = smtp_parse_cmd(copy, t->inlen, &cmd);
	if (t->want_err) {
		ck_assert_msg(err != NULL, "%s: accepted", t->label);
		free(copy);
		return;
	}
	ck_assert_msg(err == NULL, "%s: %s", t->label, err);
	ck_assert_msg(cmd.verb == t->want_verb, "%s: verb %d, want %d",
	    t->label, (int)cmd.verb, (int)t->want_verb);
	ck_assert_msg(cmd.argslen == strlen(want_args) &&
	    memcmp(cmd.args, want_args, cmd.argslen) == 0,
	    "%s: args \"%.*s\", want \"%s\"", t->label, (int)cmd.argslen,
	    cmd.args, want_args);
	ck_assert(cmd.args >= copy && cmd.args + cmd.argslen <=
	    copy + t->inlen);
	free(copy);
}
END_TEST

/*
 * smtp_parse_mail() and smtp_parse_rcpt()
 */
struct arg_case {
	const char	*label;
	const char	*in;
	size_t		 inlen;
	bool		 rcpt;		/* smtp_parse_rcpt() */
	bool		 utf8;		/* allow_utf8 / utf8 */
	int		 want_code;	/* 0: success */
	const char	*want_ecode;
	const char	*want_addr;
	bool		 want_null;
	bool		 want_has_size;
	uint64_t	 want_size;
	int		 want_body;
	bool		 want_smtputf8;
};

static const struct arg_case arg_cases[] = {
	/* MAIL: accepted. */
	{ .label = "plain", IN("FROM:<a@b.c>"), .want_addr = "a@b.c" },
	{ .label = "lower case", IN("from:<a@b.c>"), .want_addr = "a@b.c" },
	{ .label = "one space", IN("FROM: <a@b.c>"), .want_addr = "a@b.c" },
	{ .label = "null path", IN("FROM:<>"), .want_addr = "",
	  .want_null = true },
	{ .label = "null path SIZE", IN("FROM:<> SIZE=1000"), .want_addr = "",
	  .want_null = true, .want_has_size = true, .want_size = 1000 },
	{ .label = "all params",
	  IN("FROM:<a@b.c> SIZE=1000 BODY=8BITMIME SMTPUTF8"),
	  .utf8 = true, .want_addr = "a@b.c", .want_has_size = true,
	  .want_size = 1000, .want_body = SMTP_BODY_8BITMIME,
	  .want_smtputf8 = true },
	{ .label = "many spaces", IN("FROM:<a@b.c>   SIZE=1    BODY=7BIT  "),
	  .want_addr = "a@b.c", .want_has_size = true, .want_size = 1,
	  .want_body = SMTP_BODY_7BIT },
	{ .label = "keyword case", IN("FROM:<a@b.c> size=7 body=8bitmime"),
	  .want_addr = "a@b.c", .want_has_size = true, .want_size = 7,
	  .want_body = SMTP_BODY_8BITMIME },
	{ .label = "SIZE=0", IN("FROM:<a@b.c> SIZE=0"), .want_addr = "a@b.c",
	  .want_has_size = true, .want_size = 0 },
	{ .label = "SIZE max", IN("FROM:<a@b.c> SIZE=18446744073709551615"),
	  .want_addr = "a@b.c", .want_has_size = true,
	  .want_size = UINT64_MAX },
	{ .label = "SIZE leading zeros",
	  IN("FROM:<a@b.c> SIZE=00000000000000000042"),
	  .want_addr = "a@b.c", .want_has_size = true, .want_size = 42 },
	{ .label = "AUTH=<>", IN("FROM:<a@b.c> AUTH=<>"),
	  .want_addr = "a@b.c" },
	{ .label = "AUTH=xtext", IN("FROM:<a@b.c> AUTH=a+2Bb@c.d"),
	  .want_addr = "a@b.c" },
	{ .label = "UTF-8 with SMTPUTF8", IN("FROM:<\xc3\xa9@b.c> SMTPUTF8"),
	  .utf8 = true, .want_addr = "\xc3\xa9@b.c", .want_smtputf8 = true },
	{ .label = "quoted local", IN("FROM:<\"a b\"@c>"),
	  .want_addr = "\"a b\"@c" },
	{ .label = "source route", IN("FROM:<@x,@y:a@b>"),
	  .want_addr = "a@b" },

	/* MAIL: refused. */
	{ .label = "empty", IN(""), .want_code = 501,
	  .want_ecode = "5.5.4" },
	{ .label = "no FROM:", IN("<a@b.c>"), .want_code = 501,
	  .want_ecode = "5.5.4" },
	{ .label = "FROM without colon", IN("FROM<a@b.c>"), .want_code = 501,
	  .want_ecode = "5.5.4" },
	{ .label = "TO: in MAIL", IN("TO:<a@b.c>"), .want_code = 501,
	  .want_ecode = "5.5.4" },
	{ .label = "FROM: only", IN("FROM:"), .want_code = 501,
	  .want_ecode = "5.1.7" },
	{ .label = "no brackets", IN("FROM:a@b.c"), .want_code = 501,
	  .want_ecode = "5.1.7" },
	{ .label = "two spaces", IN("FROM:  <a@b.c>"), .want_code = 501,
	  .want_ecode = "5.1.7" },
	{ .label = "junk address", IN("FROM:<a@@b>"), .want_code = 501,
	  .want_ecode = "5.1.7" },
	{ .label = "Postmaster sender", IN("FROM:<Postmaster>"),
	  .want_code = 501, .want_ecode = "5.1.7" },
	{ .label = "NUL in address", IN("FROM:<a\0@b>"), .want_code = 501,
	  .want_ecode = "5.1.7" },
	{ .label = "trailing junk", IN("FROM:<a@b.c>x"), .want_code = 501,
	  .want_ecode = "5.5.4" },
	{ .label = "param without SP", IN("FROM:<a@b.c>SIZE=1"),
	  .want_code = 501, .want_ecode = "5.5.4" },
	{ .label = "SIZE overflow",
	  IN("FROM:<a@b.c> SIZE=18446744073709551616"),
	  .want_code = 501, .want_ecode = "5.5.4" },
	{ .label = "SIZE 21 digits",
	  IN("FROM:<a@b.c> SIZE=000000000000000000001"),
	  .want_code = 501, .want_ecode = "5.5.4" },
	{ .label = "SIZE huge", IN("FROM:<a@b.c> SIZE=99999999999999999999999"),
	  .want_code = 501, .want_ecode = "5.5.4" },
	{ .label = "SIZE not digits", IN("FROM:<a@b.c> SIZE=12a"),
	  .want_code = 501, .want_ecode = "5.5.4" },
	{ .label = "SIZE negative", IN("FROM:<a@b.c> SIZE=-1"),
	  .want_code = 501, .want_ecode = "5.5.4" },
	{ .label = "SIZE plus", IN("FROM:<a@b.c> SIZE=+1"),
	  .want_code = 501, .want_ecode = "5.5.4" },
	{ .label = "SIZE empty", IN("FROM:<a@b.c> SIZE="),
	  .want_code = 501, .want_ecode = "5.5.4" },
	{ .label = "SIZE no value", IN("FROM:<a@b.c> SIZE"),
	  .want_code = 501, .want_ecode = "5.5.4" },
	{ .label = "SIZE twice", IN("FROM:<a@b.c> SIZE=1 SIZE=2"),
	  .want_code = 501, .want_ecode = "5.5.4" },
	{ .label = "SIZE twice, case", IN("FROM:<a@b.c> SIZE=1 size=1"),
	  .want_code = 501, .want_ecode = "5.5.4" },
	{ .label = "SIZE 8-bit", IN("FROM:<a@b.c> SIZE=1\xff"),
	  .want_code = 501, .want_ecode = "5.5.4" },
	{ .label = "BODY bad", IN("FROM:<a@b.c> BODY=BINARYMIME"),
	  .want_code = 501, .want_ecode = "5.5.4" },
	{ .label = "BODY no value", IN("FROM:<a@b.c> BODY"),
	  .want_code = 501, .want_ecode = "5.5.4" },
	{ .label = "BODY twice", IN("FROM:<a@b.c> BODY=7BIT BODY=7BIT"),
	  .want_code = 501, .want_ecode = "5.5.4" },
	{ .label = "SMTPUTF8 not offered", IN("FROM:<a@b.c> SMTPUTF8"),
	  .want_code = 555, .want_ecode = "5.5.4" },
	{ .label = "SMTPUTF8 value", IN("FROM:<a@b.c> SMTPUTF8=yes"),
	  .utf8 = true, .want_code = 501, .want_ecode = "5.5.4" },
	{ .label = "SMTPUTF8 twice", IN("FROM:<a@b.c> SMTPUTF8 SMTPUTF8"),
	  .utf8 = true, .want_code = 501, .want_ecode = "5.5.4" },
	{ .label = "AUTH no value", IN("FROM:<a@b.c> AUTH"),
	  .want_code = 501, .want_ecode = "5.5.4" },
	{ .label = "AUTH bad xtext", IN("FROM:<a@b.c> AUTH=a+4"),
	  .want_code = 501, .want_ecode = "5.5.4" },
	{ .label = "AUTH lower hex", IN("FROM:<a@b.c> AUTH=a+2b"),
	  .want_code = 501, .want_ecode = "5.5.4" },
	{ .label = "unknown param", IN("FROM:<a@b.c> X-FOO=bar"),
	  .want_code = 555, .want_ecode = "5.5.4" },
	{ .label = "DSN RET", IN("FROM:<a@b.c> RET=HDRS"),
	  .want_code = 555, .want_ecode = "5.5.4" },
	{ .label = "unknown flag param", IN("FROM:<a@b.c> SIZE=1 XYZ"),
	  .want_code = 555, .want_ecode = "5.5.4" },
	{ .label = "empty keyword", IN("FROM:<a@b.c> =1"),
	  .want_code = 501, .want_ecode = "5.5.4" },
	{ .label = "keyword starts with -", IN("FROM:<a@b.c> -X=1"),
	  .want_code = 501, .want_ecode = "5.5.4" },
	{ .label = "value with =", IN("FROM:<a@b.c> SIZE=1=2"),
	  .want_code = 501, .want_ecode = "5.5.4" },
	{ .label = "keyword 8-bit", IN("FROM:<a@b.c> \xc3\xa9"),
	  .want_code = 501, .want_ecode = "5.5.4" },
	{ .label = "TAB separator", IN("FROM:<a@b.c>\tSIZE=1"),
	  .want_code = 501, .want_ecode = "5.5.4" },
	{ .label = "UTF-8 without SMTPUTF8", IN("FROM:<\xc3\xa9@b.c>"),
	  .utf8 = true, .want_code = 553, .want_ecode = "5.6.7" },
	{ .label = "UTF-8 not offered", IN("FROM:<\xc3\xa9@b.c>"),
	  .want_code = 553, .want_ecode = "5.6.7" },
	{ .label = "UTF-8 not offered, param given",
	  IN("FROM:<\xc3\xa9@b.c> SMTPUTF8"),
	  .want_code = 553, .want_ecode = "5.6.7" },
	{ .label = "malformed UTF-8", IN("FROM:<\xc0\xaf@b.c> SMTPUTF8"),
	  .utf8 = true, .want_code = 501, .want_ecode = "5.1.7" },
	{ .label = "address too long",
	  IN("FROM:<aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
	     "aaaaaaaaaaa@b>"),
	  .want_code = 501, .want_ecode = "5.1.7" },

	/* RCPT. */
	{ .label = "RCPT", IN("TO:<a@b.c>"), .rcpt = true,
	  .want_addr = "a@b.c" },
	{ .label = "RCPT lower", IN("to:<a@b.c>"), .rcpt = true,
	  .want_addr = "a@b.c" },
	{ .label = "RCPT one space", IN("TO: <a@b.c>"), .rcpt = true,
	  .want_addr = "a@b.c" },
	{ .label = "RCPT trailing space", IN("TO:<a@b.c>  "), .rcpt = true,
	  .want_addr = "a@b.c" },
	{ .label = "RCPT Postmaster", IN("TO:<postmaster>"), .rcpt = true,
	  .want_addr = "Postmaster" },
	{ .label = "RCPT literal", IN("TO:<a@[192.0.2.1]>"), .rcpt = true,
	  .want_addr = "a@[192.0.2.1]" },
	{ .label = "RCPT source route", IN("TO:<@r1,@r2:a@b.c>"),
	  .rcpt = true, .want_addr = "a@b.c" },
	{ .label = "RCPT UTF-8", IN("TO:<a@\xe4\xbe\x8b.jp>"), .rcpt = true,
	  .utf8 = true, .want_addr = "a@\xe4\xbe\x8b.jp" },
	{ .label = "RCPT UTF-8 without SMTPUTF8", IN("TO:<a@\xe4\xbe\x8b.jp>"),
	  .rcpt = true, .want_code = 553, .want_ecode = "5.6.7" },
	{ .label = "RCPT null path", IN("TO:<>"), .rcpt = true,
	  .want_code = 501, .want_ecode = "5.1.3" },
	{ .label = "RCPT junk", IN("TO:junk"), .rcpt = true,
	  .want_code = 501, .want_ecode = "5.1.3" },
	{ .label = "RCPT space in address", IN("TO:<a b@c>"), .rcpt = true,
	  .want_code = 501, .want_ecode = "5.1.3" },
	{ .label = "RCPT bad domain", IN("TO:<a@-b.c>"), .rcpt = true,
	  .want_code = 501, .want_ecode = "5.1.3" },
	{ .label = "RCPT FROM:", IN("FROM:<a@b.c>"), .rcpt = true,
	  .want_code = 501, .want_ecode = "5.5.4" },
	{ .label = "RCPT empty", IN(""), .rcpt = true,
	  .want_code = 501, .want_ecode = "5.5.4" },
	{ .label = "RCPT trailing junk", IN("TO:<a@b.c>junk"), .rcpt = true,
	  .want_code = 501, .want_ecode = "5.5.4" },
	{ .label = "RCPT param", IN("TO:<a@b.c> NOTIFY=NEVER"), .rcpt = true,
	  .want_code = 555, .want_ecode = "5.5.4" },
	{ .label = "RCPT SIZE", IN("TO:<a@b.c> SIZE=1"), .rcpt = true,
	  .want_code = 555, .want_ecode = "5.5.4" },
	{ .label = "RCPT bad param syntax", IN("TO:<a@b.c> =x"), .rcpt = true,
	  .want_code = 501, .want_ecode = "5.5.4" },
};

START_TEST(test_args_table)
{
	const struct arg_case *t = &arg_cases[_i];
	struct smtp_mail_args m;
	struct smtp_rcpt_args r;
	const struct addr_path *p;
	const char *err, *ecode = "unset";
	int code = -1;
	char *copy;

	copy = malloc(t->inlen ? t->inlen : 1);
	ck_assert_ptr_nonnull(copy);
	memcpy(copy, t->in, t->inlen);
	memset(&m, 0x5a, sizeof(m));
	memset(&r, 0x5a, sizeof(r));
	if (t->rcpt) {
		err = smtp_parse_rcpt(copy, t->inlen, t->utf8, &r, &code,
		    &ecode);
		p = &r.path;
	} else {
		err = smtp_parse_mail(copy, t->inlen, t->utf8, &m, &code,
		    &ecode);
		p = &m.path;
	}
	free(copy);
	if (t->want_code != 0) {
		ck_assert_msg(err != NULL, "%s: accepted", t->label);
		ck_assert_msg(code == t->want_code &&
		    strcmp(ecode, t->want_ecode) == 0,
		    "%s: got %d %s (%s), want %d %s", t->label, code, ecode,
		    err, t->want_code, t->want_ecode);
		ck_assert_msg(err[0] != '\0', "%s: empty reason", t->label);
		ck_assert_msg(p->addr[0] == '\0', "%s: output not cleared",
		    t->label);
		return;
	}
	ck_assert_msg(err == NULL, "%s: %d %s %s", t->label, code, ecode,
	    err);
	ck_assert_msg(strcmp(p->addr, t->want_addr) == 0,
	    "%s: addr \"%s\", want \"%s\"", t->label, p->addr, t->want_addr);
	ck_assert(p->is_null == t->want_null);
	if (!t->rcpt) {
		ck_assert(m.has_size == t->want_has_size);
		ck_assert(m.size == t->want_size);
		ck_assert_int_eq(m.body, t->want_body);
		ck_assert(m.smtputf8 == t->want_smtputf8);
	}
}
END_TEST

/*
 * The DATA reader.
 */
struct dot_case {
	const char		*label;
	const char		*in;
	size_t			 inlen;
	size_t			 maxline;	/* 0: 1000 */
	bool			 normalize;	/* server.bare_newline */
	enum smtp_dot_status	 want;
	const char		*want_out;
	size_t			 want_outlen;
	size_t			 want_rest;	/* left unconsumed */
	unsigned		 want_flags;
};

#define SMUGGLE_TAIL	"MAIL FROM:<ceo@corp.example>\r\n" \
			"RCPT TO:<victim@example.org>\r\n" \
			"DATA\r\n" \
			"Subject: forged\r\n\r\nforged\r\n"

static const struct dot_case dot_cases[] = {
	/* Normal messages. */
	{ .label = "simple", IN("Subject: x\r\n\r\nhello\r\n.\r\n"),
	  .want = SMTP_DOT_END, OUT("Subject: x\r\n\r\nhello\r\n") },
	{ .label = "empty message", IN(".\r\n"), .want = SMTP_DOT_END,
	  OUT("") },
	{ .label = "empty line then end", IN("\r\n.\r\n"),
	  .want = SMTP_DOT_END, OUT("\r\n") },
	{ .label = "blank lines", IN("\r\n\r\n.\r\n"), .want = SMTP_DOT_END,
	  OUT("\r\n\r\n") },
	{ .label = "dots inside lines", IN("a.b\r\n a..\r\nx.\r\n.\r\n"),
	  .want = SMTP_DOT_END, OUT("a.b\r\n a..\r\nx.\r\n") },

	/* Dot-unstuffing (RFC 5321 §4.5.2). */
	{ .label = "unstuff ..", IN("..\r\n.\r\n"), .want = SMTP_DOT_END,
	  OUT(".\r\n") },
	{ .label = "unstuff ...", IN("...\r\n.\r\n"), .want = SMTP_DOT_END,
	  OUT("..\r\n") },
	{ .label = "unstuff ..x", IN("a\r\n..x\r\n.\r\n"),
	  .want = SMTP_DOT_END, OUT("a\r\n.x\r\n") },
	{ .label = "unstuff .x", IN(".x\r\n.\r\n"), .want = SMTP_DOT_END,
	  OUT("x\r\n") },
	{ .label = "unstuff every line", IN("..a\r\n..b\r\n...\r\n.\r\n"),
	  .want = SMTP_DOT_END, OUT(".a\r\n.b\r\n..\r\n") },
	{ .label = "stuffed dot line only", IN("..\r\n"),
	  .want = SMTP_DOT_MORE, OUT(".\r\n") },

	/* Pipelined commands after the end. */
	{ .label = "QUIT pipelined", IN("hi\r\n.\r\nQUIT\r\n"),
	  .want = SMTP_DOT_END, OUT("hi\r\n"), .want_rest = 6 },
	{ .label = "next transaction pipelined",
	  IN("hi\r\n.\r\nMAIL FROM:<a@b>\r\nRCPT TO:<c@d>\r\n"),
	  .want = SMTP_DOT_END, OUT("hi\r\n"), .want_rest = 32 },
	{ .label = "second terminator pipelined", IN("x\r\n.\r\n.\r\n"),
	  .want = SMTP_DOT_END, OUT("x\r\n"), .want_rest = 3 },
	{ .label = "empty message, QUIT", IN(".\r\nQUIT\r\n"),
	  .want = SMTP_DOT_END, OUT(""), .want_rest = 6 },

	/* Incomplete input. */
	{ .label = "no end yet", IN("abc"), .want = SMTP_DOT_MORE,
	  OUT("abc") },
	{ .label = "nothing", IN(""), .want = SMTP_DOT_MORE, OUT("") },
	{ .label = "lone dot", IN("."), .want = SMTP_DOT_MORE, OUT("") },
	{ .label = "dot CR", IN(".\r"), .want = SMTP_DOT_MORE, OUT("") },
	{ .label = "line then dot CR", IN("a\r\n.\r"),
	  .want = SMTP_DOT_MORE, OUT("a\r\n") },
	{ .label = "trailing CR", IN("a\r"), .want = SMTP_DOT_MORE,
	  OUT("a\r") },

	/* SMTP smuggling: none of these ends the data. */
	{ .label = "LF . LF", IN("a\n.\n" SMUGGLE_TAIL),
	  .want = SMTP_DOT_MORE, OUT("a\n.\n" SMUGGLE_TAIL),
	  .want_flags = SMTP_DOT_BARE_LF },
	{ .label = "CR . CRLF", IN("a\r.\r\n" SMUGGLE_TAIL),
	  .want = SMTP_DOT_MORE, OUT("a\r.\r\n" SMUGGLE_TAIL),
	  .want_flags = SMTP_DOT_BARE_CR },
	{ .label = "LF . CRLF", IN("a\n.\r\n" SMUGGLE_TAIL),
	  .want = SMTP_DOT_MORE, OUT("a\n.\r\n" SMUGGLE_TAIL),
	  .want_flags = SMTP_DOT_BARE_LF },
	{ .label = "CR . CR", IN("a\r.\r" "b"), .want = SMTP_DOT_MORE,
	  OUT("a\r.\rb"), .want_flags = SMTP_DOT_BARE_CR },
	{ .label = "CRLF . LF", IN("a\r\n.\n" SMUGGLE_TAIL),
	  .want = SMTP_DOT_MORE, OUT("a\r\n\n" SMUGGLE_TAIL),
	  .want_flags = SMTP_DOT_BARE_LF },
	{ .label = "CRLF . CR x", IN("a\r\n.\r" SMUGGLE_TAIL),
	  .want = SMTP_DOT_MORE, OUT("a\r\n" SMUGGLE_TAIL),
	  .want_flags = SMTP_DOT_BARE_CR },
	{ .label = "CRLF . CR CR LF", IN("a\r\n.\r\r\nb"),
	  .want = SMTP_DOT_MORE, OUT("a\r\n\r\nb"),
	  .want_flags = SMTP_DOT_BARE_CR },
	{ .label = ". LF at start", IN(".\n" SMUGGLE_TAIL),
	  .want = SMTP_DOT_MORE, OUT("\n" SMUGGLE_TAIL),
	  .want_flags = SMTP_DOT_BARE_LF },
	{ .label = ". CR at start", IN(".\rx"), .want = SMTP_DOT_MORE,
	  OUT("x"), .want_flags = SMTP_DOT_BARE_CR },
	{ .label = "LF . CRLF at start", IN("\n.\r\nx"),
	  .want = SMTP_DOT_MORE, OUT("\n.\r\nx"),
	  .want_flags = SMTP_DOT_BARE_LF },
	{ .label = "LF LF . LF LF", IN("a\n\n.\n\nb"),
	  .want = SMTP_DOT_MORE, OUT("a\n\n.\n\nb"),
	  .want_flags = SMTP_DOT_BARE_LF },
	{ .label = "dot line after bare-LF line", IN("a\nb\n.\r\nc\r\n"),
	  .want = SMTP_DOT_MORE, OUT("a\nb\n.\r\nc\r\n"),
	  .want_flags = SMTP_DOT_BARE_LF },
	{ .label = "bare LF inside a CRLF line", IN("a\nb\r\n.\r\n"),
	  .want = SMTP_DOT_END, OUT("a\nb\r\n"),
	  .want_flags = SMTP_DOT_BARE_LF },
	{ .label = "bare CR before CRLF", IN("a\r\r\n.\r\n"),
	  .want = SMTP_DOT_END, OUT("a\r\r\n"),
	  .want_flags = SMTP_DOT_BARE_CR },
	{ .label = "hidden transaction after LF.LF",
	  IN("Subject: hi\r\n\r\nbody\n.\n" SMUGGLE_TAIL ".\r\nQUIT\r\n"),
	  .want = SMTP_DOT_END,
	  OUT("Subject: hi\r\n\r\nbody\n.\n" SMUGGLE_TAIL),
	  .want_rest = 6, .want_flags = SMTP_DOT_BARE_LF },
	{ .label = "hidden transaction after LF.CRLF",
	  IN("body\n.\r\n" SMUGGLE_TAIL ".\r\n"),
	  .want = SMTP_DOT_END, OUT("body\n.\r\n" SMUGGLE_TAIL),
	  .want_flags = SMTP_DOT_BARE_LF },
	{ .label = "hidden transaction after CR.CRLF",
	  IN("body\r.\r\n" SMUGGLE_TAIL ".\r\n"),
	  .want = SMTP_DOT_END, OUT("body\r.\r\n" SMUGGLE_TAIL),
	  .want_flags = SMTP_DOT_BARE_CR },
	{ .label = "hidden transaction after CRLF.LF",
	  IN("body\r\n.\n" SMUGGLE_TAIL ".\r\n"),
	  .want = SMTP_DOT_END, OUT("body\r\n\n" SMUGGLE_TAIL),
	  .want_flags = SMTP_DOT_BARE_LF },
	{ .label = "hidden transaction after CRLF.CR",
	  IN("body\r\n.\r" SMUGGLE_TAIL ".\r\n"),
	  .want = SMTP_DOT_END, OUT("body\r\n" SMUGGLE_TAIL),
	  .want_flags = SMTP_DOT_BARE_CR },
	{ .label = "real end, then smuggled text",
	  IN("body\r\n.\r\n" SMUGGLE_TAIL), .want = SMTP_DOT_END,
	  OUT("body\r\n"), .want_rest = sizeof(SMUGGLE_TAIL) - 1 },

	/* NUL and 8-bit. */
	{ .label = "NUL", IN("a\0b\r\n.\r\n"), .want = SMTP_DOT_END,
	  OUT("a\0b\r\n"), .want_flags = SMTP_DOT_NUL },
	{ .label = "NUL at start of line", IN("\0\r\n.\r\n"),
	  .want = SMTP_DOT_END, OUT("\0\r\n"), .want_flags = SMTP_DOT_NUL },
	{ .label = "NUL after leading dot", IN(".\0\r\n.\r\n"),
	  .want = SMTP_DOT_END, OUT("\0\r\n"), .want_flags = SMTP_DOT_NUL },
	{ .label = "NUL after bare CR", IN("a\r\0\r\n.\r\n"),
	  .want = SMTP_DOT_END, OUT("a\r\0\r\n"),
	  .want_flags = SMTP_DOT_NUL | SMTP_DOT_BARE_CR },
	{ .label = "8-bit", IN("caf\xc3\xa9\r\n.\r\n"), .want = SMTP_DOT_END,
	  OUT("caf\xc3\xa9\r\n"), .want_flags = SMTP_DOT_8BIT },
	{ .label = "8-bit after leading dot", IN(".\xff\r\n.\r\n"),
	  .want = SMTP_DOT_END, OUT("\xff\r\n"), .want_flags = SMTP_DOT_8BIT },

	/* Line length: maxline counts octets on the wire, CRLF included. */
	{ .label = "line of exactly maxline", IN("12345678\r\n.\r\n"),
	  .maxline = 10, .want = SMTP_DOT_END, OUT("12345678\r\n") },
	{ .label = "line of maxline+1", IN("123456789\r\n.\r\n"),
	  .maxline = 10, .want = SMTP_DOT_END, OUT("123456789\r\n"),
	  .want_flags = SMTP_DOT_LONG_LINE },
	{ .label = "stuffed line of exactly maxline", IN("..345678\r\n.\r\n"),
	  .maxline = 10, .want = SMTP_DOT_END, OUT(".345678\r\n") },
	{ .label = "stuffed line of maxline+1", IN("..3456789\r\n.\r\n"),
	  .maxline = 10, .want = SMTP_DOT_END, OUT(".3456789\r\n"),
	  .want_flags = SMTP_DOT_LONG_LINE },
	{ .label = "long line without end", IN("12345678901"),
	  .maxline = 10, .want = SMTP_DOT_MORE, OUT("12345678901"),
	  .want_flags = SMTP_DOT_LONG_LINE },
	{ .label = "maxline without CRLF yet", IN("1234567890"),
	  .maxline = 10, .want = SMTP_DOT_MORE, OUT("1234567890") },
	{ .label = "counter resets per line",
	  IN("12345678\r\n12345678\r\n12345678\r\n.\r\n"), .maxline = 10,
	  .want = SMTP_DOT_END, OUT("12345678\r\n12345678\r\n12345678\r\n") },
	{ .label = "bare LF does not end a line", IN("1234\n5678\r\n.\r\n"),
	  .maxline = 10, .want = SMTP_DOT_END, OUT("1234\n5678\r\n"),
	  .want_flags = SMTP_DOT_BARE_LF | SMTP_DOT_LONG_LINE },
	{ .label = "all flags",
	  IN("\0\xff\n12345678901234567890\r\n.\r\n"), .maxline = 10,
	  .want = SMTP_DOT_END, OUT("\0\xff\n12345678901234567890\r\n"),
	  .want_flags = SMTP_DOT_NUL | SMTP_DOT_8BIT | SMTP_DOT_BARE_LF |
	  SMTP_DOT_LONG_LINE },

	/*
	 * server.bare_newline: normalize.  A bare LF ends the line and is
	 * stored as CRLF; only CRLF "." CRLF ends the data; bare CR is
	 * still refused.
	 */
	{ .label = "N: CRLF message unchanged", .normalize = true,
	  IN("Subject: x\r\n\r\nhello\r\n.\r\n"), .want = SMTP_DOT_END,
	  OUT("Subject: x\r\n\r\nhello\r\n") },
	{ .label = "N: curl --upload-file of an LF file", .normalize = true,
	  IN("Subject: x\n\nhello\n\r\n.\r\n"), .want = SMTP_DOT_END,
	  OUT("Subject: x\r\n\r\nhello\r\n\r\n"),
	  .want_flags = SMTP_DOT_LF_FIXED },
	{ .label = "N: mixed line ends", .normalize = true,
	  IN("a\r\nb\nc\r\n.\r\n"), .want = SMTP_DOT_END,
	  OUT("a\r\nb\r\nc\r\n"), .want_flags = SMTP_DOT_LF_FIXED },
	{ .label = "N: unstuff after bare LF", .normalize = true,
	  IN("a\n..b\n.c\r\n.\r\n"), .want = SMTP_DOT_END,
	  OUT("a\r\n.b\r\nc\r\n"), .want_flags = SMTP_DOT_LF_FIXED },
	{ .label = "N: line length restarts at a bare LF", .normalize = true,
	  IN("12345678\n12345678\r\n.\r\n"), .maxline = 10,
	  .want = SMTP_DOT_END, OUT("12345678\r\n12345678\r\n"),
	  .want_flags = SMTP_DOT_LF_FIXED },
	{ .label = "N: a bare LF counts as the CRLF it becomes",
	  .normalize = true, IN("123456789\n.\r\n.\r\n"), .maxline = 10,
	  .want = SMTP_DOT_END, OUT("123456789\r\n\r\n"),
	  .want_flags = SMTP_DOT_LF_FIXED | SMTP_DOT_LONG_LINE },
	{ .label = "N: long line still flagged", .normalize = true,
	  IN("123456789012\n.\r\n.\r\n"), .maxline = 10,
	  .want = SMTP_DOT_END, OUT("123456789012\r\n\r\n"),
	  .want_flags = SMTP_DOT_LF_FIXED | SMTP_DOT_LONG_LINE },
	{ .label = "N: LF . LF", .normalize = true,
	  IN("a\n.\n" SMUGGLE_TAIL), .want = SMTP_DOT_MORE,
	  OUT("a\r\n\r\n" SMUGGLE_TAIL), .want_flags = SMTP_DOT_LF_FIXED },
	{ .label = "N: LF . CRLF", .normalize = true,
	  IN("a\n.\r\n" SMUGGLE_TAIL), .want = SMTP_DOT_MORE,
	  OUT("a\r\n\r\n" SMUGGLE_TAIL), .want_flags = SMTP_DOT_LF_FIXED },
	{ .label = "N: CRLF . LF", .normalize = true,
	  IN("a\r\n.\n" SMUGGLE_TAIL), .want = SMTP_DOT_MORE,
	  OUT("a\r\n\r\n" SMUGGLE_TAIL), .want_flags = SMTP_DOT_LF_FIXED },
	{ .label = "N: CR . CRLF", .normalize = true,
	  IN("a\r.\r\n" SMUGGLE_TAIL), .want = SMTP_DOT_MORE,
	  OUT("a\r.\r\n" SMUGGLE_TAIL), .want_flags = SMTP_DOT_BARE_CR },
	{ .label = "N: CRLF . CR x", .normalize = true,
	  IN("a\r\n.\r" SMUGGLE_TAIL), .want = SMTP_DOT_MORE,
	  OUT("a\r\n" SMUGGLE_TAIL), .want_flags = SMTP_DOT_BARE_CR },
	{ .label = "N: . LF at start", .normalize = true,
	  IN(".\n" SMUGGLE_TAIL), .want = SMTP_DOT_MORE,
	  OUT("\r\n" SMUGGLE_TAIL), .want_flags = SMTP_DOT_LF_FIXED },
	{ .label = "N: LF . CRLF at start", .normalize = true,
	  IN("\n.\r\nx"), .want = SMTP_DOT_MORE, OUT("\r\n\r\nx"),
	  .want_flags = SMTP_DOT_LF_FIXED },
	{ .label = "N: LF LF . LF LF", .normalize = true,
	  IN("a\n\n.\n\nb"), .want = SMTP_DOT_MORE,
	  OUT("a\r\n\r\n\r\n\r\nb"), .want_flags = SMTP_DOT_LF_FIXED },
	{ .label = "N: hidden transaction after LF.LF", .normalize = true,
	  IN("body\n.\n" SMUGGLE_TAIL ".\r\nQUIT\r\n"), .want = SMTP_DOT_END,
	  OUT("body\r\n\r\n" SMUGGLE_TAIL), .want_rest = 6,
	  .want_flags = SMTP_DOT_LF_FIXED },
	{ .label = "N: hidden transaction after LF.CRLF", .normalize = true,
	  IN("body\n.\r\n" SMUGGLE_TAIL ".\r\n"), .want = SMTP_DOT_END,
	  OUT("body\r\n\r\n" SMUGGLE_TAIL),
	  .want_flags = SMTP_DOT_LF_FIXED },
	{ .label = "N: hidden transaction after CR.CRLF", .normalize = true,
	  IN("body\r.\r\n" SMUGGLE_TAIL ".\r\n"), .want = SMTP_DOT_END,
	  OUT("body\r.\r\n" SMUGGLE_TAIL), .want_flags = SMTP_DOT_BARE_CR },
	{ .label = "N: LF . CRLF then the real end", .normalize = true,
	  IN("a\n.\r\n.\r\nQUIT\r\n"), .want = SMTP_DOT_END,
	  OUT("a\r\n\r\n"), .want_rest = 6, .want_flags = SMTP_DOT_LF_FIXED },
	{ .label = "N: bare CR still refused", .normalize = true,
	  IN("a\rb\r\n.\r\n"), .want = SMTP_DOT_END, OUT("a\rb\r\n"),
	  .want_flags = SMTP_DOT_BARE_CR },
	{ .label = "N: CR CR LF", .normalize = true,
	  IN("a\r\r\n.\r\n"), .want = SMTP_DOT_END, OUT("a\r\r\n"),
	  .want_flags = SMTP_DOT_BARE_CR },
	{ .label = "N: NUL still refused", .normalize = true,
	  IN("a\0\n.\r\n.\r\n"), .want = SMTP_DOT_END, OUT("a\0\r\n\r\n"),
	  .want_flags = SMTP_DOT_NUL | SMTP_DOT_LF_FIXED },
};

struct dot_result {
	enum smtp_dot_status	 st;
	char			*out;
	size_t			 outlen;
	size_t			 consumed;
	unsigned		 flags;
};

/*
 * Feeds in[0..len) in the pieces given by cuts (ascending offsets),
 * stopping at END, and checks the per-call contract on the way.
 */
static void
dot_run(const char *in, size_t len, size_t maxline, bool normalize,
    const size_t *cuts, size_t ncuts, struct dot_result *res)
{
	struct smtp_dotreader r;
	size_t k, from = 0, to, outlen, consumed;
	char *chunk, *buf;

	smtp_dot_init(&r, maxline, normalize);
	res->out = malloc(len ? 2 * len : 1);
	ck_assert_ptr_nonnull(res->out);
	res->outlen = 0;
	res->consumed = 0;
	res->st = SMTP_DOT_MORE;
	for (k = 0; k <= ncuts && res->st == SMTP_DOT_MORE; k++) {
		to = k < ncuts ? cuts[k] : len;
		/* Exact-size copies so ASan sees any over-read or -write. */
		chunk = malloc(to - from ? to - from : 1);
		buf = malloc(to - from ? 2 * (to - from) : 1);
		ck_assert(chunk != NULL && buf != NULL);
		memcpy(chunk, in + from, to - from);
		res->st = smtp_dot_feed(&r, chunk, to - from, buf, &outlen,
		    &consumed);
		ck_assert(consumed <= to - from);
		ck_assert(outlen <= 2 * consumed);
		ck_assert(normalize || outlen <= consumed);
		if (res->st == SMTP_DOT_MORE)
			ck_assert_uint_eq(consumed, to - from);
		memcpy(res->out + res->outlen, buf, outlen);
		res->outlen += outlen;
		res->consumed += consumed;
		ck_assert(r.total == res->outlen);
		free(chunk);
		free(buf);
		from = to;
	}
	res->flags = r.flags;
}

static void
dot_check(const struct dot_case *t, const struct dot_result *res,
    const char *how)
{
	ck_assert_msg(res->st == t->want, "%s (%s): status %d", t->label,
	    how, (int)res->st);
	ck_assert_msg(res->outlen == t->want_outlen &&
	    memcmp(res->out, t->want_out, res->outlen) == 0,
	    "%s (%s): output differs (%zu octets, want %zu)", t->label, how,
	    res->outlen, t->want_outlen);
	ck_assert_msg(res->consumed == t->inlen - t->want_rest,
	    "%s (%s): consumed %zu, want %zu", t->label, how, res->consumed,
	    t->inlen - t->want_rest);
	ck_assert_msg(res->flags == t->want_flags,
	    "%s (%s): flags %#x, want %#x", t->label, how, res->flags,
	    t->want_flags);
}

/*
 * Each case is read whole, byte by byte, at every two-way split and, for
 * inputs up to 64 octets, at every three-way split (empty pieces
 * included): all must give the same status, output, flags and consumed
 * total.
 */
START_TEST(test_dot_table)
{
	const struct dot_case *t = &dot_cases[_i];
	size_t maxline = t->maxline ? t->maxline : 1000;
	struct dot_result res;
	size_t *cuts, i;

	dot_run(t->in, t->inlen, maxline, t->normalize, NULL, 0, &res);
	dot_check(t, &res, "whole");
	free(res.out);

	cuts = calloc(t->inlen + 2, sizeof(*cuts));
	ck_assert_ptr_nonnull(cuts);
	for (i = 0; i < t->inlen; i++)
		cuts[i] = i + 1;
	dot_run(t->in, t->inlen, maxline, t->normalize, cuts,
	    t->inlen ? t->inlen - 1 : 0, &res);
	dot_check(t, &res, "byte by byte");
	free(res.out);

	for (cuts[0] = 0; cuts[0] <= t->inlen; cuts[0]++) {
		dot_run(t->in, t->inlen, maxline, t->normalize, cuts, 1, &res);
		dot_check(t, &res, "two pieces");
		free(res.out);
	}

	for (cuts[0] = 0; t->inlen <= 64 && cuts[0] <= t->inlen; cuts[0]++) {
		for (cuts[1] = cuts[0]; cuts[1] <= t->inlen; cuts[1]++) {
			dot_run(t->in, t->inlen, maxline, t->normalize, cuts,
			    2, &res);
			dot_check(t, &res, "three pieces");
			free(res.out);
		}
	}
	free(cuts);
}
END_TEST

/* After END the reader consumes nothing more. */
START_TEST(test_dot_after_end)
{
	struct smtp_dotreader r;
	char out[16];
	size_t outlen, consumed;

	smtp_dot_init(&r, 1000, false);
	ck_assert(smtp_dot_feed(&r, ".\r\nQUIT\r\n", 9, out, &outlen,
	    &consumed) == SMTP_DOT_END);
	ck_assert_uint_eq(consumed, 3);
	ck_assert(smtp_dot_feed(&r, "QUIT\r\n", 6, out, &outlen,
	    &consumed) == SMTP_DOT_END);
	ck_assert_uint_eq(consumed, 0);
	ck_assert_uint_eq(outlen, 0);
	ck_assert(r.total == 0);
}
END_TEST

/* A long message of many lines: totals add up and nothing is flagged. */
START_TEST(test_dot_big)
{
	struct smtp_dotreader r;
	static char in[200000], out[sizeof(in)];
	size_t i, len = 0, outlen, consumed, off = 0, got = 0;
	enum smtp_dot_status st = SMTP_DOT_MORE;

	while (len + 1003 < sizeof(in) - 3) {
		for (i = 0; i < 998; i++)
			in[len + i] = (char)('a' + (i % 26));
		len += 998;
		in[len++] = '\r';
		in[len++] = '\n';
	}
	memcpy(in + len, ".\r\n", 3);
	len += 3;
	smtp_dot_init(&r, 1000, false);
	while (st == SMTP_DOT_MORE && off < len) {
		size_t n = len - off < 4093 ? len - off : 4093;

		st = smtp_dot_feed(&r, in + off, n, out + got, &outlen,
		    &consumed);
		off += consumed;
		got += outlen;
	}
	ck_assert(st == SMTP_DOT_END);
	ck_assert_uint_eq(off, len);
	ck_assert_uint_eq(got, len - 3);
	ck_assert(r.total == got);
	ck_assert_uint_eq(r.flags, 0);
	ck_assert(memcmp(in, out, got) == 0);
}
END_TEST

/*
 * smtp_dot_stuff()
 */
struct stuff_case {
	const char	*label;
	const char	*in;
	size_t		 inlen;
	bool		 bol;		/* *bol before the call */
	const char	*want_out;
	size_t		 want_outlen;
	bool		 want_bol;
};

static const struct stuff_case stuff_cases[] = {
	{ .label = "no dots", IN("abc\r\n"), .bol = true, OUT("abc\r\n"),
	  .want_bol = true },
	{ .label = "dot line", IN(".\r\n"), .bol = true, OUT("..\r\n"),
	  .want_bol = true },
	{ .label = "leading dots", IN(".a\r\n..b\r\nc.\r\n"), .bol = true,
	  OUT("..a\r\n...b\r\nc.\r\n"), .want_bol = true },
	{ .label = "mid-line dot", IN("a.b"), .bol = true, OUT("a.b") },
	{ .label = "not at bol", IN(".x"), .bol = false, OUT(".x") },
	{ .label = "bol carried in", IN("."), .bol = true, OUT("..") },
	{ .label = "ends mid-line", IN("x\r\n.y"), .bol = true,
	  OUT("x\r\n..y") },
	{ .label = "ends after CR", IN("x\r"), .bol = false, OUT("x\r"),
	  .want_bol = true },
	{ .label = "stray LF stuffed", IN("x\n.\n"), .bol = false,
	  OUT("x\n..\n"), .want_bol = true },
	{ .label = "stray CR stuffed", IN("x\r.\r"), .bol = false,
	  OUT("x\r..\r"), .want_bol = true },
	{ .label = "empty", IN(""), .bol = true, OUT(""), .want_bol = true },
};

START_TEST(test_stuff_table)
{
	const struct stuff_case *t = &stuff_cases[_i];
	char *out;
	bool bol = t->bol;
	size_t n;

	out = malloc(2 * t->inlen + 1);
	ck_assert_ptr_nonnull(out);
	n = smtp_dot_stuff(t->in, t->inlen, out, &bol);
	ck_assert_msg(n == t->want_outlen && memcmp(out, t->want_out, n) == 0,
	    "%s: \"%.*s\"", t->label, (int)n, out);
	ck_assert_msg(bol == t->want_bol, "%s: bol", t->label);
	free(out);
}
END_TEST

static const char *const stuff_msgs[] = {
	"", "a\r\n", ".\r\n", "..\r\n", ".a\r\n.\r\n..\r\n",
	"Subject: x\r\n\r\n.\r\n.hidden\r\nend\r\n",
};

/* Stuffing then reading back gives the message, cut anywhere. */
START_TEST(test_stuff_roundtrip)
{
	const char *msg = stuff_msgs[_i];
	size_t len = strlen(msg), cut, n1, n2, outlen, consumed;
	struct smtp_dotreader r;
	char wire[64], out[64];
	bool bol;

	for (cut = 0; cut <= len; cut++) {
		bol = true;
		n1 = smtp_dot_stuff(msg, cut, wire, &bol);
		n2 = smtp_dot_stuff(msg + cut, len - cut, wire + n1, &bol);
		ck_assert(bol);
		memcpy(wire + n1 + n2, ".\r\n", 3);
		smtp_dot_init(&r, 1000, false);
		ck_assert(smtp_dot_feed(&r, wire, n1 + n2 + 3, out, &outlen,
		    &consumed) == SMTP_DOT_END);
		ck_assert_uint_eq(consumed, n1 + n2 + 3);
		ck_assert_uint_eq(outlen, len);
		ck_assert(memcmp(out, msg, len) == 0);
		ck_assert_uint_eq(r.flags, 0);
	}
}
END_TEST

static Suite *
smtp_parse_suite(void)
{
	Suite *s = suite_create("smtp_parse");
	TCase *tc;

	tc = tcase_create("cmd");
	tcase_add_loop_test(tc, test_cmd_table, 0, (int)nitems(cmd_cases));
	suite_add_tcase(s, tc);

	tc = tcase_create("mail_rcpt");
	tcase_add_loop_test(tc, test_args_table, 0, (int)nitems(arg_cases));
	suite_add_tcase(s, tc);

	tc = tcase_create("dot_feed");
	tcase_add_loop_test(tc, test_dot_table, 0, (int)nitems(dot_cases));
	tcase_add_test(tc, test_dot_after_end);
	tcase_add_test(tc, test_dot_big);
	suite_add_tcase(s, tc);

	tc = tcase_create("dot_stuff");
	tcase_add_loop_test(tc, test_stuff_table, 0,
	    (int)nitems(stuff_cases));
	tcase_add_loop_test(tc, test_stuff_roundtrip, 0,
	    (int)nitems(stuff_msgs));
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner *sr = srunner_create(smtp_parse_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
