/*
 * check_header.c - unit tests for policy/header.c: address lists (RFC
 * 5322 §3.4, obsolete forms), RFC 2047 decoding (Japanese charsets
 * included), the header block, MIME attachment names (RFC 2231), the Bcc
 * rewrite, and hostile input that must parse in bounded time.
 *
 * Table-driven: each table row names its input and what must come out.
 */
#include <check.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "header.h"
#include "util.h"

#define nitems(a)	(sizeof(a) / sizeof((a)[0]))
/* Hostile inputs must finish well within this, even under ASan. */
#define HDR_TIME_MS	3000

/* ------------------------------------------------------------------ */
/* Address lists                                                       */

struct hdr_list_case {
	const char	*label;
	const char	*in;
	const char	*want_addrs;	/* "a|b|c" */
	const char	*want_names;	/* "n1|-|n3", "-" for none */
	size_t		 want_bad;
	size_t		 want_groups;
	unsigned	 want_defects;	/* bits that must be set */
	unsigned	 deny_defects;	/* bits that must not be set */
};

static const struct hdr_list_case hdr_list_cases[] = {
	{ .label = "bare addr-spec", .in = "a@example.com",
	  .want_addrs = "a@example.com", .want_names = "-",
	  .deny_defects = ~0u },
	{ .label = "name-addr", .in = "Taro Yamada <taro@example.co.jp>",
	  .want_addrs = "taro@example.co.jp", .want_names = "Taro Yamada",
	  .deny_defects = ~0u },
	{ .label = "quoted display with comma",
	  .in = "\"Yamada, Taro\" <taro@example.co.jp>, b@c.d",
	  .want_addrs = "taro@example.co.jp|b@c.d",
	  .want_names = "Yamada, Taro|-", .deny_defects = ~0u },
	{ .label = "quoted pair in display",
	  .in = "\"a \\\"q\\\" b\" <x@y.z>",
	  .want_addrs = "x@y.z", .want_names = "a \"q\" b" },
	{ .label = "comment as name (obsolete)",
	  .in = "john@example.com (John Smith)",
	  .want_addrs = "john@example.com", .want_names = "John Smith" },
	{ .label = "comments everywhere",
	  .in = "(c1) a (c2) . (c3) b @ (c4) example (c5) . com (c6)",
	  .want_addrs = "a.b@example.com" },
	{ .label = "nested comment", .in = "x@y.z (a (nested) comment)",
	  .want_addrs = "x@y.z", .want_names = "a (nested) comment" },
	{ .label = "group", .in = "friends: a@b.c, \"D E\" <d@e.f>;, g@h.i",
	  .want_addrs = "a@b.c|d@e.f|g@h.i", .want_names = "-|D E|-",
	  .want_groups = 1, .deny_defects = ~0u },
	{ .label = "empty group", .in = "undisclosed-recipients:;",
	  .want_addrs = "", .want_groups = 1, .deny_defects = ~0u },
	{ .label = "obs-route", .in = "<@a.example,@b.example:c@d.example>",
	  .want_addrs = "c@d.example" },
	{ .label = "obsolete empty items", .in = ",, a@b.c ,,, d@e.f,",
	  .want_addrs = "a@b.c|d@e.f", .deny_defects = ~0u },
	{ .label = "quoted local part kept quoted",
	  .in = "\"john doe\"@example.com",
	  .want_addrs = "\"john doe\"@example.com" },
	{ .label = "quoted dot-atom unquoted", .in = "\"john.doe\"@example.com",
	  .want_addrs = "john.doe@example.com" },
	{ .label = "domain literal", .in = "a@[192.0.2.1]",
	  .want_addrs = "a@[192.0.2.1]" },
	{ .label = "UTF-8 display (RFC 6532)",
	  .in = "山田 太郎 <yamada@example.co.jp>",
	  .want_addrs = "yamada@example.co.jp", .want_names = "山田 太郎" },
	{ .label = "encoded-word display ISO-2022-JP",
	  .in = "=?ISO-2022-JP?B?GyRCOzNFRBsoQg==?= <yamada@example.co.jp>",
	  .want_addrs = "yamada@example.co.jp", .want_names = "山田" },
	{ .label = "encoded word inside quotes (common)",
	  .in = "\"=?UTF-8?B?5bGx55Sw?=\" <y@example.jp>",
	  .want_addrs = "y@example.jp", .want_names = "山田" },
	{ .label = "unquoted @ in display (broken client)",
	  .in = "a@b.c <a@b.c>", .want_addrs = "a@b.c",
	  .want_names = "a@b.c" },
	{ .label = "missing @ skipped", .in = "undisclosed, a@b.c",
	  .want_addrs = "a@b.c", .want_bad = 1,
	  .want_defects = HEADER_D_BAD_ADDR },
	{ .label = "empty angle skipped", .in = "<>, a@b.c",
	  .want_addrs = "a@b.c", .want_bad = 1,
	  .want_defects = HEADER_D_BAD_ADDR },
	{ .label = "unterminated quote", .in = "\"abc <a@b.c>, d@e.f",
	  .want_addrs = "", .want_bad = 1,
	  .want_defects = HEADER_D_UNTERMINATED },
	{ .label = "unterminated angle", .in = "x <a@b.c, d@e.f",
	  .want_addrs = "", .want_bad = 1,
	  .want_defects = HEADER_D_UNTERMINATED },
	{ .label = "unterminated comment", .in = "a@b.c (oops",
	  .want_addrs = "a@b.c", .want_defects = HEADER_D_UNTERMINATED },
	{ .label = "unterminated group", .in = "g: a@b.c, d@e.f",
	  .want_addrs = "a@b.c|d@e.f", .want_groups = 1,
	  .want_defects = HEADER_D_UNTERMINATED },
	{ .label = "junk after angle", .in = "<a@b.c> junk, d@e.f",
	  .want_addrs = "d@e.f", .want_bad = 1 },
	{ .label = "bad domain refused by RFC 5321 parser",
	  .in = "a@-bad-.com, b@exa_mple.com, c@ok.com",
	  .want_addrs = "c@ok.com", .want_bad = 2 },
	{ .label = "local part too long",
	  .in = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
	  "aaaaaa@b.c", .want_addrs = "", .want_bad = 1 },
	{ .label = "semicolon outside group", .in = "a@b.c; d@e.f",
	  .want_addrs = "a@b.c|d@e.f", .want_defects = HEADER_D_BAD_ADDR },
	{ .label = "folded", .in = "a@b.c,\r\n\tD <d@e.f>",
	  .want_addrs = "a@b.c|d@e.f", .want_names = "-|D" },
	{ .label = "control octet", .in = "a\x01@b.c, d@e.f",
	  .want_addrs = "d@e.f", .want_bad = 1 },
};

/* "a|b" of the list's addresses or names. */
static void
hdr_join(const struct header_addrlist *l, bool names, char *buf, size_t sz)
{
	size_t i, o = 0;
	const char *s;

	buf[0] = '\0';
	for (i = 0; i < l->n; i++) {
		s = names ? (l->v[i].name ? l->v[i].name : "-") : l->v[i].addr;
		o += (size_t)snprintf(buf + o, sz - o, "%s%s", i ? "|" : "", s);
		ck_assert(o < sz);
	}
}

START_TEST(test_hdr_addrlist)
{
	const struct hdr_list_case *t = &hdr_list_cases[_i];
	struct header_addrlist l;
	char got[1024];
	unsigned d;

	memset(&l, 0, sizeof(l));
	d = header_parse_addrlist(t->in, strlen(t->in), 100, 1024, &l);
	hdr_join(&l, false, got, sizeof(got));
	ck_assert_msg(strcmp(got, t->want_addrs) == 0, "%s: addrs \"%s\", "
	    "want \"%s\"", t->label, got, t->want_addrs);
	if (t->want_names != NULL) {
		hdr_join(&l, true, got, sizeof(got));
		ck_assert_msg(strcmp(got, t->want_names) == 0, "%s: names "
		    "\"%s\", want \"%s\"", t->label, got, t->want_names);
	}
	ck_assert_msg(l.nbad == t->want_bad, "%s: nbad %zu want %zu",
	    t->label, l.nbad, t->want_bad);
	ck_assert_msg(l.ngroups == t->want_groups, "%s: groups %zu",
	    t->label, l.ngroups);
	ck_assert_msg((d & t->want_defects) == t->want_defects,
	    "%s: defects 0x%x lack 0x%x", t->label, d, t->want_defects);
	ck_assert_msg((d & t->deny_defects) == 0, "%s: defects 0x%x",
	    t->label, d);
	header_addrlist_clear(&l);
}
END_TEST

/* ------------------------------------------------------------------ */
/* RFC 2047                                                            */

struct hdr_text_case {
	const char	*label;
	const char	*in;
	size_t		 max;		/* 0: 1024 */
	const char	*want;
	unsigned	 want_defects;	/* exactly */
};

static const struct hdr_text_case hdr_text_cases[] = {
	{ "plain", "Hello world", 0, "Hello world", 0 },
	{ "folded", "Hello\r\n world", 0, "Hello world", 0 },
	{ "UTF-8 B", "=?UTF-8?B?5qmf5a+G?=", 0, "機密", 0 },
	{ "UTF-8 Q with underscore", "=?utf-8?q?a_b=3Dc?=", 0, "a b=c", 0 },
	/* 【社外秘】見積 in ISO-2022-JP */
	{ "ISO-2022-JP subject",
	  "=?ISO-2022-JP?B?GyRCIVo8UjMwSGshWzgrQFEbKEI=?=", 0,
	  "【社外秘】見積", 0 },
	/* ① (NEC row 13, CP50220) in ISO-2022-JP */
	{ "ISO-2022-JP NEC special", "=?iso-2022-jp?B?GyRCLSEbKEI=?=", 0,
	  "①", 0 },
	{ "ISO-2022-JP split over two words",
	  "=?ISO-2022-JP?B?GyRCOzM=?= =?ISO-2022-JP?B?RUQbKEI=?=", 0,
	  "山田", 0 },
	{ "Shift_JIS", "=?Shift_JIS?B?jMKQbI/ulfE=?=", 0, "個人情報", 0 },
	{ "EUC-JP", "=?EUC-JP?B?taHMqQ==?=", 0, "機密", 0 },
	{ "ISO-8859-1", "=?ISO-8859-1?Q?caf=E9?=", 0, "café", 0 },
	{ "US-ASCII", "=?us-ascii?q?abc?=", 0, "abc", 0 },
	{ "language suffix (RFC 2231)", "=?UTF-8*ja?B?5qmf5a+G?=", 0, "機密",
	  0 },
	{ "blanks between words dropped",
	  "=?UTF-8?Q?a?=  \t =?UTF-8?Q?b?=", 0, "ab", 0 },
	{ "blank before plain word kept", "=?UTF-8?Q?a?= b", 0, "a b", 0 },
	{ "multibyte split across B words",
	  "=?UTF-8?B?5qk=?= =?UTF-8?B?n+Wvhg==?=", 0, "機密", 0 },
	{ "encoded word inside a word", "Re:=?UTF-8?B?5qmf5a+G?=", 0,
	  "Re:機密", 0 },
	{ "unknown charset", "=?x-klingon?Q?abc?=", 0, "abc",
	  HEADER_D_CHARSET },
	{ "bad base64 kept literally", "=?UTF-8?B?!!!?=", 0,
	  "=?UTF-8?B?!!!?=", HEADER_D_BAD_ENCODING },
	{ "bad Q escape kept literally", "=?UTF-8?Q?=ZZ?=", 0,
	  "=?UTF-8?Q?=ZZ?=", HEADER_D_BAD_ENCODING },
	{ "not an encoded word", "a =?b c ?= d", 0, "a =?b c ?= d", 0 },
	{ "invalid UTF-8 in UTF-8 word", "=?UTF-8?B?/w==?=", 0, "\xef\xbf\xbd",
	  HEADER_D_CHARSET },
	{ "raw 8-bit that is not UTF-8", "a\xff" "b", 0, "a\xef\xbf\xbd" "b",
	  HEADER_D_8BIT },
	{ "control characters become spaces", "=?UTF-8?Q?a=0Ab=00c?=", 0,
	  "a b c", 0 },
	{ "bad Shift_JIS octet", "=?Shift_JIS?B?gf8=?=", 0, NULL,
	  HEADER_D_CHARSET },
	{ "truncated at text_max", "abcdefghij", 4, "abcd",
	  HEADER_D_TEXT_TRUNCATED },
	{ "truncated on a character boundary", "機密機密", 7, "機密",
	  HEADER_D_TEXT_TRUNCATED },
};

START_TEST(test_hdr_text)
{
	const struct hdr_text_case *t = &hdr_text_cases[_i];
	unsigned d = 0;
	char *s;

	s = header_decode_text(t->in, strlen(t->in), t->max ? t->max : 1024,
	    &d);
	if (t->want != NULL)
		ck_assert_msg(strcmp(s, t->want) == 0, "%s: \"%s\" want "
		    "\"%s\"", t->label, s, t->want);
	ck_assert_msg(d == t->want_defects, "%s: defects 0x%x want 0x%x",
	    t->label, d, t->want_defects);
	free(s);
}
END_TEST

/* ------------------------------------------------------------------ */
/* Whole messages                                                      */

struct hdr_msg_case {
	const char	*label;
	const char	*in;
	size_t		 inlen;		/* 0: strlen(in) */
	enum header_status want;
	size_t		 want_fields;
	const char	*want_subject;	/* NULL: absent */
	const char	*want_to;	/* "a|b" */
	const char	*want_cc;
	bool		 want_reply;
	const char	*want_attach;	/* "n1|n2" */
	const char	*want_body;	/* what follows header_len */
	unsigned	 want_defects;	/* bits that must be set */
	unsigned	 deny_defects;
};

#define MIME_HDR	"From: a@example.jp\r\nMIME-Version: 1.0\r\n"

static const struct hdr_msg_case hdr_msg_cases[] = {
	{ .label = "simple", .in = "From: a@example.jp\r\nTo: b@example.jp\r\n"
	  "Subject: hi\r\n\r\nbody\r\n", .want_fields = 3,
	  .want_subject = "hi", .want_to = "b@example.jp", .want_cc = "",
	  .want_attach = "", .want_body = "body\r\n", .deny_defects = ~0u },
	{ .label = "bare LF lines", .in = "To: b@example.jp\nCc: c@x.jp,\n"
	  " d@x.jp\n\nbody\n", .want_fields = 2, .want_to = "b@example.jp",
	  .want_cc = "c@x.jp|d@x.jp", .want_attach = "", .want_body = "body\n",
	  .deny_defects = ~0u },
	{ .label = "mbox From line", .in = "From someone Mon Jan  1 00:00:00 "
	  "2024\nTo: b@example.jp\n\n", .want_fields = 1,
	  .want_to = "b@example.jp", .want_cc = "", .want_attach = "",
	  .want_body = "" },
	{ .label = "reply", .in = "To: b@x.jp\r\nIn-Reply-To: <1@x>\r\n"
	  "References: <0@x>\r\n <1@x>\r\nSubject: Re: =?UTF-8?B?5qmf5a+G?=\r\n"
	  "\r\n", .want_fields = 4, .want_subject = "Re: 機密",
	  .want_to = "b@x.jp", .want_cc = "", .want_reply = true,
	  .want_attach = "", .want_body = "" },
	{ .label = "no body separator", .in = "To: b@x.jp\r\nSubject: s",
	  .want_fields = 2, .want_subject = "s", .want_to = "b@x.jp",
	  .want_cc = "", .want_attach = "", .want_body = "",
	  .want_defects = HEADER_D_NO_BODY_SEP },
	{ .label = "duplicate To fields: both read",
	  .in = "To: a@x.jp\r\nTo: b@x.jp\r\n\r\n", .want_fields = 2,
	  .want_to = "a@x.jp|b@x.jp", .want_cc = "", .want_attach = "",
	  .want_body = "", .want_defects = HEADER_D_DUP_FIELD },
	{ .label = "WSP before colon (obsolete)",
	  .in = "To : a@x.jp\r\nSubject\t: s\r\n\r\n", .want_fields = 2,
	  .want_subject = "s", .want_to = "a@x.jp", .want_cc = "",
	  .want_attach = "", .want_body = "" },
	{ .label = "line without colon skipped",
	  .in = "To: a@x.jp\r\nthis is not a header\r\nCc: c@x.jp\r\n\r\nb",
	  .want_fields = 3, .want_to = "a@x.jp", .want_cc = "c@x.jp",
	  .want_attach = "", .want_body = "b",
	  .want_defects = HEADER_D_BAD_FIELD },
	{ .label = "continuation first", .in = " folded\r\nTo: a@x.jp\r\n\r\n",
	  .want_fields = 2, .want_to = "a@x.jp", .want_cc = "",
	  .want_attach = "", .want_body = "",
	  .want_defects = HEADER_D_BAD_FOLD },
	{ .label = "NUL skips the field",
	  .in = "To: a@x.jp\r\nCc: c\0@x.jp\r\n\r\n", .inlen = 27,
	  .want_fields = 2,
	  .want_to = "a@x.jp", .want_cc = "", .want_attach = "",
	  .want_body = "", .want_defects = HEADER_D_NUL },
	{ .label = "empty input", .in = "", .want = HEADER_BAD,
	  .want_to = "", .want_cc = "", .want_attach = "", .want_body = "" },
	{ .label = "body only", .in = "\r\nbody", .want = HEADER_BAD,
	  .want_to = "", .want_cc = "", .want_attach = "",
	  .want_body = "body" },
	/* MIME */
	{ .label = "attachments, RFC 2231 and 2047 names",
	  .in = MIME_HDR "Content-Type: multipart/mixed; boundary=\"b1\"\r\n"
	  "\r\npreamble\r\n--b1\r\nContent-Type: text/plain\r\n\r\ntext\r\n"
	  "--b1\r\nContent-Type: application/pdf;\r\n name=\"=?UTF-8?B?"
	  "6KaL56mN5pu4LnBkZg==?=\"\r\nContent-Disposition: attachment\r\n\r\n"
	  "JVBERi0=\r\n--b1\r\nContent-Type: application/octet-stream\r\n"
	  "Content-Disposition: attachment;\r\n filename*0*=UTF-8''"
	  "%E7%A4%BE%E5%A4%96;\r\n filename*1*=%E7%A7%98;\r\n"
	  " filename*2=\".xlsx\"\r\n\r\nAAAA\r\n--b1--\r\nepilogue\r\n",
	  .want_fields = 3, .want_to = "", .want_cc = "",
	  .want_attach = "見積書.pdf|社外秘.xlsx", .deny_defects = ~0u },
	{ .label = "filename* with ISO-2022-JP charset and language",
	  .in = MIME_HDR "Content-Type: multipart/mixed; boundary=b\r\n\r\n"
	  "--b\r\nContent-Disposition: attachment; filename*=iso-2022-jp'ja'"
	  "%1B%24B%3CR%33%30%48%6B%1B%28B.doc\r\n\r\nx\r\n--b--\r\n",
	  .want_fields = 3, .want_to = "", .want_cc = "",
	  .want_attach = "社外秘.doc" },
	{ .label = "Shift_JIS encoded name=",
	  .in = MIME_HDR "Content-Type: multipart/mixed; boundary=b\r\n\r\n"
	  "--b\r\nContent-Type: text/csv; name=\"=?Shift_JIS?B?jMKQbI/ulfEu"
	  "Y3N2?=\"\r\n\r\nx\r\n--b--\r\n", .want_fields = 3, .want_to = "",
	  .want_cc = "", .want_attach = "個人情報.csv" },
	{ .label = "nested multipart",
	  .in = MIME_HDR "Content-Type: multipart/mixed; boundary=outer\r\n"
	  "\r\n--outer\r\nContent-Type: multipart/alternative; boundary=in\r\n"
	  "\r\n--in\r\nContent-Type: text/plain\r\n\r\nx\r\n--in\r\n"
	  "Content-Type: text/html\r\n\r\n<p>\r\n--in--\r\n--outer\r\n"
	  "Content-Type: image/png; name=a.png\r\n\r\nxx\r\n--outer--\r\n",
	  .want_fields = 3, .want_to = "", .want_cc = "",
	  .want_attach = "a.png", .deny_defects = ~0u },
	{ .label = "inner multipart left open",
	  .in = MIME_HDR "Content-Type: multipart/mixed; boundary=outer\r\n"
	  "\r\n--outer\r\nContent-Type: multipart/alternative; boundary=in\r\n"
	  "\r\n--in\r\nContent-Type: text/plain\r\n\r\nx\r\n--outer\r\n"
	  "Content-Type: image/png; name=b.png\r\n\r\nxx\r\n--outer--\r\n",
	  .want_fields = 3, .want_to = "", .want_cc = "",
	  .want_attach = "b.png", .want_defects = HEADER_D_MIME_BAD },
	{ .label = "multipart without boundary",
	  .in = MIME_HDR "Content-Type: multipart/mixed\r\n\r\n--x\r\n",
	  .want_fields = 3, .want_to = "", .want_cc = "", .want_attach = "",
	  .want_defects = HEADER_D_MIME_BAD },
	{ .label = "multipart cut short (prefix only)",
	  .in = MIME_HDR "Content-Type: multipart/mixed; boundary=b\r\n\r\n"
	  "--b\r\nContent-Disposition: attachment; filename=first.pdf\r\n\r\n"
	  "AAAA", .want_fields = 3, .want_to = "", .want_cc = "",
	  .want_attach = "first.pdf", .want_defects = HEADER_D_MIME_TRUNCATED },
	{ .label = "single-part attachment",
	  .in = "To: a@x.jp\r\nContent-Type: application/pdf; "
	  "name=\"r.pdf\"\r\nContent-Disposition: attachment; "
	  "filename=\"report.pdf\"\r\n\r\n%PDF",
	  .want_fields = 3, .want_to = "a@x.jp", .want_cc = "",
	  .want_attach = "report.pdf", .want_body = "%PDF" },
	{ .label = "unquoted filename with space",
	  .in = MIME_HDR "Content-Type: multipart/mixed; boundary=b\r\n\r\n"
	  "--b\r\nContent-Disposition: attachment; filename=my file.pdf ;"
	  " size=3\r\n\r\nx\r\n--b--\r\n", .want_fields = 3, .want_to = "",
	  .want_cc = "", .want_attach = "my file.pdf" },
	{ .label = "boundary with transport padding",
	  .in = MIME_HDR "Content-Type: multipart/mixed; boundary=b\r\n\r\n"
	  "--b  \r\nContent-Type: text/plain; name=t.txt\r\n\r\nx\r\n"
	  "--b-- \r\n",
	  .want_fields = 3, .want_to = "", .want_cc = "",
	  .want_attach = "t.txt", .deny_defects = ~0u },
};

START_TEST(test_hdr_msg)
{
	const struct hdr_msg_case *t = &hdr_msg_cases[_i];
	struct header_msg h;
	enum header_status st;
	char got[1024];
	size_t len, i, o = 0;

	len = t->inlen != 0 ? t->inlen : strlen(t->in);
	st = header_parse(t->in, len, NULL, &h);
	ck_assert_msg(st == t->want, "%s: status %d", t->label, (int)st);
	if (t->want_fields != 0)
		ck_assert_msg(h.nfields == t->want_fields, "%s: %zu fields",
		    t->label, h.nfields);
	if (t->want_subject != NULL)
		ck_assert_msg(h.subject != NULL && strcmp(h.subject,
		    t->want_subject) == 0, "%s: subject \"%s\"", t->label,
		    h.subject ? h.subject : "(null)");
	hdr_join(&h.to, false, got, sizeof(got));
	ck_assert_msg(strcmp(got, t->want_to) == 0, "%s: to \"%s\"", t->label,
	    got);
	hdr_join(&h.cc, false, got, sizeof(got));
	ck_assert_msg(strcmp(got, t->want_cc) == 0, "%s: cc \"%s\"", t->label,
	    got);
	ck_assert_msg(h.is_reply == t->want_reply, "%s: is_reply", t->label);
	got[0] = '\0';
	for (i = 0; i < h.nattach; i++)
		o += (size_t)snprintf(got + o, sizeof(got) - o, "%s%s",
		    i ? "|" : "", h.attach[i].name);
	ck_assert_msg(strcmp(got, t->want_attach) == 0, "%s: attach \"%s\"",
	    t->label, got);
	if (t->want_body != NULL)
		ck_assert_msg(h.header_len <= len &&
		    strcmp(t->in + h.header_len, t->want_body) == 0,
		    "%s: body at %zu", t->label, h.header_len);
	ck_assert_msg((h.defects & t->want_defects) == t->want_defects,
	    "%s: defects 0x%x lack 0x%x", t->label, h.defects,
	    t->want_defects);
	ck_assert_msg((h.defects & t->deny_defects) == 0, "%s: defects 0x%x",
	    t->label, h.defects);
	header_msg_clear(&h);
}
END_TEST

/* ------------------------------------------------------------------ */
/* Golden files: $MH_TEST_DATA/policy/NAME.eml parses to NAME.ref      */

static const char *const hdr_golden[] = {
	"jp_mailer", "thunderbird", "outlook", "hostile",
};

static void
hdr_dump_list(struct mh_buf *b, const char *what,
    const struct header_addrlist *l)
{
	size_t i;

	for (i = 0; i < l->n; i++)
		mh_buf_printf(b, "%s: %s%s%s%s%s\n", what, l->v[i].addr,
		    l->v[i].name ? " \"" : "", l->v[i].name ? l->v[i].name : "",
		    l->v[i].name ? "\"" : "", l->v[i].in_group ? " (group)" :
		    "");
	if (l->nbad || l->ngroups)
		mh_buf_printf(b, "%s: skipped %zu, groups %zu\n", what, l->nbad,
		    l->ngroups);
}

/* A stable, readable dump of everything header_parse() returns. */
static void
hdr_dump(struct mh_buf *b, enum header_status st, const struct header_msg *h)
{
	unsigned bit;
	size_t i;

	mh_buf_printf(b, "status: %s\nfields: %zu\nheader_len: %zu\n"
	    "defects:", st == HEADER_OK ? "ok" : st == HEADER_TRUNCATED ?
	    "truncated" : "bad", h->nfields, h->header_len);
	for (bit = 1; bit <= HEADER_D_LAST; bit <<= 1)
		if (h->defects & bit)
			mh_buf_printf(b, " %s", header_defect_to_str(bit));
	mh_buf_puts(b, "\n");
	hdr_dump_list(b, "from", &h->from);
	hdr_dump_list(b, "to", &h->to);
	hdr_dump_list(b, "cc", &h->cc);
	hdr_dump_list(b, "reply-to", &h->reply_to);
	mh_buf_printf(b, "subject: %s\nreply: %s\ncontent-type: %s\n"
	    "parts: %zu\n", h->subject ? h->subject : "(none)",
	    h->is_reply ? "yes" : "no",
	    h->content_type ? h->content_type : "(none)", h->nparts);
	for (i = 0; i < h->nattach; i++)
		mh_buf_printf(b, "attach: %s (%s, depth %zu)\n",
		    h->attach[i].name, h->attach[i].type, h->attach[i].depth);
}

static char *
hdr_read(const char *path, size_t *len)
{
	struct mh_buf b;
	char chunk[4096];
	size_t n;
	FILE *f;

	if ((f = fopen(path, "rb")) == NULL)
		return NULL;
	mh_buf_init(&b, 1 << 22);
	while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0)
		ck_assert_int_eq(mh_buf_append(&b, chunk, n), 0);
	fclose(f);
	return mh_buf_steal(&b, len);
}

/* MH_GOLDEN_WRITE=1 rewrites the .ref files (check them by eye). */
START_TEST(test_hdr_golden)
{
	const char *dir = getenv("MH_TEST_DATA");
	char path[1024], *in, *ref;
	struct header_msg h;
	enum header_status st;
	struct mh_buf out;
	size_t len, rlen;
	FILE *f;

	ck_assert_msg(dir != NULL && dir[0] != '\0', "MH_TEST_DATA is not "
	    "set (CMake sets it to <src>/tests/data)");
	ck_assert(mh_snprintf(path, sizeof(path), "%s/policy/%s.eml", dir,
	    hdr_golden[_i]) > 0);
	ck_assert_msg((in = hdr_read(path, &len)) != NULL, "%s", path);
	st = header_parse(in, len, NULL, &h);
	mh_buf_init(&out, 1 << 20);
	hdr_dump(&out, st, &h);
	ck_assert(mh_snprintf(path, sizeof(path), "%s/policy/%s.ref", dir,
	    hdr_golden[_i]) > 0);
	if (getenv("MH_GOLDEN_WRITE") != NULL) {
		ck_assert((f = fopen(path, "wb")) != NULL);
		ck_assert(fwrite(out.data, 1, out.len, f) == out.len);
		fclose(f);
	}
	ck_assert_msg((ref = hdr_read(path, &rlen)) != NULL, "%s", path);
	ck_assert_msg(rlen == out.len && memcmp(ref, out.data, rlen) == 0,
	    "%s differs; got:\n%s", path, out.data);
	free(ref);
	mh_buf_clear(&out);
	header_msg_clear(&h);
	free(in);
}
END_TEST

/* ------------------------------------------------------------------ */
/* Rewrite                                                             */

struct hdr_rw_case {
	const char	*label;
	const char	*in;
	const char	*want;		/* the new block */
};

static const struct hdr_rw_case hdr_rw_cases[] = {
	{ "To replaced, Cc removed",
	  "From: a@x.jp\r\nTo: b@y.jp, c@z.jp\r\nCc: d@w.jp,\r\n e@v.jp\r\n"
	  "Subject: s\r\n\r\nbody\r\n",
	  "From: a@x.jp\r\nTo: undisclosed-recipients:;\r\n"
	  "Subject: s\r\n\r\n" },
	{ "folded To, two Cc fields, LF endings",
	  "Subject: s\nCc: d@w.jp\nTo: b@y.jp,\n\tc@z.jp\nCc: e@v.jp\nX: y\n\n",
	  "Subject: s\nTo: undisclosed-recipients:;\nX: y\n\n" },
	{ "no To: one is added",
	  "From: a@x.jp\r\nCc: b@y.jp\r\n\r\n",
	  "From: a@x.jp\r\nTo: undisclosed-recipients:;\r\n\r\n" },
	{ "other fields byte for byte",
	  "Received: from x\r\n\tby y\r\nTo: b@y.jp\r\nX-Weird:   spaced  \r\n"
	  "\r\n",
	  "Received: from x\r\n\tby y\r\nTo: undisclosed-recipients:;\r\n"
	  "X-Weird:   spaced  \r\n\r\n" },
};

START_TEST(test_hdr_rewrite)
{
	const struct hdr_rw_case *t = &hdr_rw_cases[_i];
	struct header_msg h, h2;
	struct mh_buf out;
	size_t len = strlen(t->in);

	(void)header_parse(t->in, len, NULL, &h);
	mh_buf_init(&out, 1 << 20);
	ck_assert_int_eq(header_rewrite_undisclosed(t->in, len, &h, &out), 0);
	ck_assert_msg(strcmp(out.data, t->want) == 0, "%s: got \"%s\"",
	    t->label, out.data);
	/* The new block parses to no visible recipient. */
	(void)header_parse(out.data, out.len, NULL, &h2);
	ck_assert_uint_eq(h2.to.n, 0);
	ck_assert_uint_eq(h2.cc.n, 0);
	ck_assert_uint_eq(h2.to.ngroups, 1);
	header_msg_clear(&h2);
	header_msg_clear(&h);
	mh_buf_clear(&out);
}
END_TEST

START_TEST(test_hdr_rewrite_refused)
{
	struct header_limits lim;
	struct header_msg h;
	struct mh_buf out;
	const char *in = "To: a@x.jp\r\nX-Long: 0123456789012345678901234567"
	    "89\r\n\r\n";

	header_limits_init(&lim);
	lim.block_max = 20;
	ck_assert_int_eq(header_parse(in, strlen(in), &lim, &h),
	    HEADER_TRUNCATED);
	ck_assert(h.defects & HEADER_D_BLOCK_TOO_LONG);
	mh_buf_init(&out, 1 << 20);
	ck_assert_int_eq(header_rewrite_undisclosed(in, strlen(in), &h, &out),
	    -1);
	mh_buf_clear(&out);
	header_msg_clear(&h);
}
END_TEST

/* ------------------------------------------------------------------ */
/* Hostile input                                                       */

/* Builds a hostile message; the caller frees. */
typedef char *hdr_gen_cb(size_t *len);

static char *
hdr_gen_many_addrs(size_t *len, size_t n)
{
	struct mh_buf b;
	size_t i;

	mh_buf_init(&b, SIZE_MAX / 2);
	mh_buf_puts(&b, "To: ");
	for (i = 0; i < n; i++)
		mh_buf_printf(&b, "%s\"User %zu\" <user%zu@host%zu.example>",
		    i ? ",\r\n " : "", i, i, i % 97);
	mh_buf_puts(&b, "\r\n\r\nbody\r\n");
	return mh_buf_steal(&b, len);
}

static char *
hdr_gen_10000(size_t *len)
{
	return hdr_gen_many_addrs(len, 10000);
}

static char *
hdr_gen_10001(size_t *len)
{
	return hdr_gen_many_addrs(len, 10001);
}

static char *
hdr_gen_overlong_line(size_t *len)
{
	struct mh_buf b;
	size_t i;

	mh_buf_init(&b, SIZE_MAX / 2);
	mh_buf_puts(&b, "To: ");
	for (i = 0; i < 2000; i++)
		mh_buf_printf(&b, "u%zu@x.example, ", i);
	mh_buf_puts(&b, "\r\nCc: c@x.jp\r\n\r\n");
	return mh_buf_steal(&b, len);
}

static char *
hdr_gen_huge_block(size_t *len)
{
	struct mh_buf b;
	size_t i;

	/* 3 MiB of folded Received fields, over the 1 MiB default. */
	mh_buf_init(&b, SIZE_MAX / 2);
	for (i = 0; i < 40000; i++)
		mh_buf_puts(&b, "Received: from a by b with ESMTP id x\r\n"
		    " for <x@y.example>; Mon, 1 Jan 2024\r\n");
	mh_buf_puts(&b, "To: late@x.jp\r\n\r\n");
	return mh_buf_steal(&b, len);
}

static char *
hdr_gen_quotes(size_t *len)
{
	struct mh_buf b;
	size_t i;

	mh_buf_init(&b, SIZE_MAX / 2);
	mh_buf_puts(&b, "To: \"");
	for (i = 0; i < 20000; i++)
		mh_buf_puts(&b, "=?a\\\"(<,;:@\r\n ");
	mh_buf_puts(&b, "\r\nCc: (((((((((((((((\r\n\r\n");
	return mh_buf_steal(&b, len);
}

static char *
hdr_gen_comments(size_t *len)
{
	struct mh_buf b;
	size_t i;

	mh_buf_init(&b, SIZE_MAX / 2);
	mh_buf_puts(&b, "To: a@b.c ");
	for (i = 0; i < 100000; i++)
		mh_buf_puts(&b, i % 1000 == 999 ? "(\r\n " : "(");
	for (i = 0; i < 99990; i++)
		mh_buf_puts(&b, i % 1000 == 999 ? ")\r\n " : ")");
	mh_buf_puts(&b, "\r\n\r\n");
	return mh_buf_steal(&b, len);
}

static char *
hdr_gen_encoded_words(size_t *len)
{
	struct mh_buf b;
	size_t i;

	mh_buf_init(&b, SIZE_MAX / 2);
	mh_buf_puts(&b, "Subject: ");
	for (i = 0; i < 10000; i++)
		mh_buf_puts(&b, i % 3 ?
		    "=?ISO-2022-JP?B?GyRCOzNFRBsoQg==?=\r\n " :
		    "=?x?q?=?x?q?=?Shift_JIS?B?gf8=?= =?UTF-8?B?/w=?=\r\n ");
	mh_buf_puts(&b, "\r\nTo: =?UTF-8?B?");
	for (i = 0; i < 3000; i++)
		mh_buf_puts(&b, "5qmf");
	mh_buf_puts(&b, "?= <a@b.example>\r\n\r\n");
	return mh_buf_steal(&b, len);
}

static char *
hdr_gen_deep_mime(size_t *len)
{
	struct mh_buf b;
	size_t i;

	mh_buf_init(&b, SIZE_MAX / 2);
	mh_buf_puts(&b, "Content-Type: multipart/mixed; boundary=b0\r\n\r\n");
	for (i = 0; i < 5000; i++)
		mh_buf_printf(&b, "--b%zu\r\nContent-Type: multipart/mixed; "
		    "boundary=b%zu\r\n\r\n", i, i + 1);
	for (i = 0; i < 5000; i++)
		mh_buf_printf(&b, "--b%zu\r\nContent-Disposition: attachment; "
		    "filename=f%zu.bin\r\n\r\nxx\r\n", i % 9, i);
	return mh_buf_steal(&b, len);
}

static char *
hdr_gen_many_parts(size_t *len)
{
	struct mh_buf b;
	size_t i;

	mh_buf_init(&b, SIZE_MAX / 2);
	mh_buf_puts(&b, "Content-Type: multipart/mixed; boundary=b\r\n\r\n");
	for (i = 0; i < 200000; i++)
		mh_buf_puts(&b, "--b\r\nContent-Type: text/plain; name=\"x\";"
		    " name*0=a; name*1=b\r\n\r\n");
	return mh_buf_steal(&b, len);
}

static char *
hdr_gen_binary(size_t *len)
{
	uint32_t x = 2463534242u;
	size_t i, n = 4 << 20;
	char *s = malloc(n);

	ck_assert(s != NULL);
	for (i = 0; i < n; i++) {
		x ^= x << 13;
		x ^= x >> 17;
		x ^= x << 5;
		s[i] = (char)(i % 64 == 63 ? '\n' : (char)(x & 0xff));
	}
	memcpy(s, "To: a@b.c\r\n", 11);
	*len = n;
	return s;
}

static char *
hdr_gen_many_fields(size_t *len)
{
	struct mh_buf b;
	size_t i;

	mh_buf_init(&b, SIZE_MAX / 2);
	for (i = 0; i < 30000; i++)
		mh_buf_puts(&b, "X:y\r\nTo:\r\n");
	mh_buf_puts(&b, "\r\n");
	return mh_buf_steal(&b, len);
}

struct hdr_hostile_case {
	const char	*label;
	hdr_gen_cb	*gen;
	size_t		 want_to;	/* SIZE_MAX: any */
	unsigned	 want_defects;
	enum header_status want;
};

static const struct hdr_hostile_case hdr_hostile_cases[] = {
	{ "10,000 addresses", hdr_gen_10000, 10000, 0, HEADER_OK },
	{ "10,001 addresses", hdr_gen_10001, 10000, HEADER_D_TOO_MANY_ADDRS,
	  HEADER_TRUNCATED },
	{ "overlong line", hdr_gen_overlong_line, 0, HEADER_D_LONG_LINE,
	  HEADER_OK },
	{ "header block over 1 MiB", hdr_gen_huge_block, 0,
	  HEADER_D_BLOCK_TOO_LONG, HEADER_TRUNCATED },
	{ "unterminated quotes and comments", hdr_gen_quotes, 0,
	  HEADER_D_UNTERMINATED, HEADER_OK },
	{ "100,000 nested comments", hdr_gen_comments, 1,
	  HEADER_D_UNTERMINATED, HEADER_OK },
	{ "10,000 encoded words, bad encodings", hdr_gen_encoded_words, 1,
	  HEADER_D_TEXT_TRUNCATED | HEADER_D_CHARSET, HEADER_OK },
	{ "5,000 nested multiparts", hdr_gen_deep_mime, 0,
	  HEADER_D_MIME_DEPTH, HEADER_TRUNCATED },
	{ "200,000 parts", hdr_gen_many_parts, 0, HEADER_D_MIME_PARTS,
	  HEADER_TRUNCATED },
	{ "4 MiB of random octets", hdr_gen_binary, SIZE_MAX, 0, 99 },
	{ "60,000 fields", hdr_gen_many_fields, 0, HEADER_D_TOO_MANY_FIELDS,
	  HEADER_TRUNCATED },
};

START_TEST(test_hdr_hostile)
{
	const struct hdr_hostile_case *t = &hdr_hostile_cases[_i];
	struct header_msg h;
	enum header_status st;
	struct mh_buf out;
	int64_t t0, ms;
	size_t len;
	char *s;

	s = t->gen(&len);
	t0 = mh_mono_ms();
	st = header_parse(s, len, NULL, &h);
	mh_buf_init(&out, len + 1024);
	(void)header_rewrite_undisclosed(s, len, &h, &out);
	ms = mh_mono_ms() - t0;
	ck_assert_msg(ms < HDR_TIME_MS, "%s: %lld ms", t->label,
	    (long long)ms);
	if ((int)t->want != 99)
		ck_assert_msg(st == t->want, "%s: status %d", t->label,
		    (int)st);
	if (t->want_to != SIZE_MAX)
		ck_assert_msg(h.to.n == t->want_to, "%s: %zu To addresses",
		    t->label, h.to.n);
	ck_assert_msg((h.defects & t->want_defects) == t->want_defects,
	    "%s: defects 0x%x lack 0x%x", t->label, h.defects,
	    t->want_defects);
	ck_assert(h.header_len <= len);
	ck_assert(h.nattach <= HEADER_MIME_PARTS_DEF);
	if (h.subject != NULL)
		ck_assert(strlen(h.subject) <= HEADER_TEXT_MAX_DEF);
	mh_buf_clear(&out);
	header_msg_clear(&h);
	free(s);
}
END_TEST

START_TEST(test_hdr_limits_clamped)
{
	struct header_limits lim;
	struct header_msg h;
	const char *in = "To: a@b.c, d@e.f, g@h.i\r\n\r\n";

	memset(&lim, 0, sizeof(lim));		/* 0 = defaults */
	lim.addrs_max = 2;
	ck_assert_int_eq(header_parse(in, strlen(in), &lim, &h),
	    HEADER_TRUNCATED);
	ck_assert_uint_eq(h.to.n, 2);
	ck_assert(h.defects & HEADER_D_TOO_MANY_ADDRS);
	header_msg_clear(&h);
	header_msg_clear(&h);	/* clear twice is fine */
}
END_TEST

START_TEST(test_hdr_defect_names)
{
	unsigned b;

	for (b = 1; b <= HEADER_D_LAST; b <<= 1)
		ck_assert_str_ne(header_defect_to_str(b), "?");
	ck_assert_str_eq(header_defect_to_str(HEADER_D_LAST << 1), "?");
	ck_assert_str_eq(header_defect_to_str(3), "?");
}
END_TEST

static Suite *
hdr_suite(void)
{
	Suite *s = suite_create("header");
	TCase *tc;

	tc = tcase_create("addrlist");
	tcase_add_loop_test(tc, test_hdr_addrlist, 0,
	    (int)nitems(hdr_list_cases));
	suite_add_tcase(s, tc);

	tc = tcase_create("rfc2047");
	tcase_add_loop_test(tc, test_hdr_text, 0, (int)nitems(hdr_text_cases));
	suite_add_tcase(s, tc);

	tc = tcase_create("message");
	tcase_add_loop_test(tc, test_hdr_msg, 0, (int)nitems(hdr_msg_cases));
	tcase_add_test(tc, test_hdr_limits_clamped);
	tcase_add_test(tc, test_hdr_defect_names);
	suite_add_tcase(s, tc);

	tc = tcase_create("golden");
	tcase_add_loop_test(tc, test_hdr_golden, 0, (int)nitems(hdr_golden));
	suite_add_tcase(s, tc);

	tc = tcase_create("rewrite");
	tcase_add_loop_test(tc, test_hdr_rewrite, 0, (int)nitems(hdr_rw_cases));
	tcase_add_test(tc, test_hdr_rewrite_refused);
	suite_add_tcase(s, tc);

	tc = tcase_create("hostile");
	tcase_set_timeout(tc, 60);
	tcase_add_loop_test(tc, test_hdr_hostile, 0,
	    (int)nitems(hdr_hostile_cases));
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner *sr = srunner_create(hdr_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
