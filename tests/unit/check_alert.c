/*
 * check_alert.c - unit tests for proxy/alert.c (the alert mail, the
 * failure notice and their building blocks) and proxy/notify.c (the
 * notice built from a message read back from a real queue).
 *
 * Every built message is taken apart again: wire rules (CRLF, 998, no
 * NUL), header lines of at most 78 octets, the Subject decoded by the
 * project's own RFC 2047 decoder (header_parse()), each encoded word
 * decoded on its own (<= 75 octets, whole UTF-8 characters), the MIME
 * parts split at the boundary and their base64 decoded strictly.  Times
 * are in TZ=JST-9 (no tzdata needed).
 */
#include <sys/stat.h>
#include <sys/types.h>

#include <dirent.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <check.h>
#include <event2/event.h>
#include <event2/thread.h>

#include "alert.h"
#include "header.h"
#include "notify.h"
#include "queue.h"
#include "util.h"

#include "check_utf8.h"

#define nitems(a)	(sizeof(a) / sizeof((a)[0]))

/* 2026-11-23 14:05:00 +0900 (a Monday), 05:05 UTC. */
#define AT_T	((int64_t)1795410300)
#define AT_URL	"https://mh.example/m/TOKEN123"
#define AT_HOST	"mh.example"
#define AT_FROM	"mailhold@mh.example"
#define AT_TO	"sender@example.com"
#define AT_ID	"0123456789abcdef"

static void
alert_test_tz(void)
{
	ck_assert_int_eq(setenv("TZ", "JST-9", 1), 0);
	tzset();
}

/* ------------------------------------------------------------------ */
/* Helpers: taking a message apart                                     */

static int
t_b64_val(char c)
{
	static const char tab[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
	    "abcdefghijklmnopqrstuvwxyz0123456789+/";
	const char *p;

	if (c == '\0' || (p = strchr(tab, c)) == NULL)
		return -1;
	return (int)(p - tab);
}

/* Strict base64 of one chunk (no white space); appends to out. */
static bool
t_b64_chunk(const char *s, size_t n, struct mh_buf *out)
{
	size_t i;
	int v[4], k;
	unsigned char o[3];

	if (n % 4 != 0)
		return false;
	for (i = 0; i < n; i += 4) {
		for (k = 0; k < 4; k++) {
			if (s[i + k] == '=' && i + 4 == n && k >= 2 &&
			    (k == 3 || s[i + 3] == '='))
				v[k] = -2;
			else if ((v[k] = t_b64_val(s[i + k])) < 0)
				return false;
		}
		o[0] = (unsigned char)(v[0] << 2 | v[1] >> 4);
		o[1] = (unsigned char)((v[1] & 15) << 4 | (v[2] < 0 ? 0 :
		    v[2] >> 2));
		o[2] = (unsigned char)((v[2] < 0 ? 0 : (v[2] & 3) << 6) |
		    (v[3] < 0 ? 0 : v[3]));
		mh_buf_append(out, o, v[2] < 0 ? 1 : v[3] < 0 ? 2 : 3);
	}
	return true;
}

/* A base64 body: CRLF lines of at most 76, only the last may be short,
 * padding only at the very end. */
static void
t_b64_body(const char *s, size_t n, struct mh_buf *out)
{
	size_t i = 0, e;
	bool last = false;

	while (i < n) {
		const char *crlf = memmem(s + i, n - i, "\r\n", 2);
		ck_assert_msg(crlf != NULL, "base64 line without CRLF");
		e = (size_t)(crlf - s);
		if (e == i) {		/* the empty line before the boundary */
			i = e + 2;
			continue;
		}
		ck_assert_msg(!last, "base64: short line before the end");
		ck_assert_uint_le(e - i, 76);
		if (e - i < 76)
			last = true;
		ck_assert_msg(t_b64_chunk(s + i, e - i, out),
		    "bad base64 line %.*s", (int)(e - i), s + i);
		if (memchr(s + i, '=', e - i) != NULL)
			last = true;
		i = e + 2;
	}
}

/* Wire rules for a whole message (RFC 5322 section 2.1.1, 2.3): CRLF
 * lines of at most max octets; for a decoded text part, max is 0 (a
 * base64 part has no line limit inside). */
static void
t_check_wire(const char *m, size_t len, bool ascii, size_t max)
{
	size_t i, line = 0;

	ck_assert_uint_gt(len, 2);
	ck_assert_msg(m[len - 2] == '\r' && m[len - 1] == '\n',
	    "message does not end in CRLF");
	ck_assert_ptr_null(memchr(m, '\0', len));
	ck_assert_msg(m[len] == '\0', "not NUL-terminated");
	for (i = 0; i < len; i++) {
		if (m[i] == '\r') {
			ck_assert_msg(i + 1 < len && m[i + 1] == '\n',
			    "bare CR at %zu", i);
			if (max > 0)
				ck_assert_uint_le(line, max);
			line = 0;
			i++;
			continue;
		}
		ck_assert_msg(m[i] != '\n', "bare LF at %zu", i);
		if (ascii)
			ck_assert_msg((unsigned char)m[i] < 0x80,
			    "8-bit octet at %zu", i);
		line++;
	}
}

struct t_part {
	char	*ctype;		/* Content-Type value, unfolded */
	char	*cte;		/* Content-Transfer-Encoding or NULL */
	char	*desc;
	struct mh_buf body;	/* decoded */
};

struct t_msg {
	const char	*raw;
	size_t		 len;
	size_t		 hlen;		/* header block with the empty line */
	struct header_msg h;
	char		 bnd[128];
	struct t_part	 part[8];
	size_t		 nparts;
};

/* The unfolded value of the n-th field called name in a header block,
 * or NULL; the caller frees. */
static char *
t_field(const char *blk, size_t len, const char *name, int nth)
{
	size_t i = 0, e, nl = strlen(name);
	struct mh_buf v;
	int seen = 0;

	while (i < len) {
		const char *crlf = memmem(blk + i, len - i, "\r\n", 2);
		if (crlf == NULL || crlf == blk + i)
			break;
		e = (size_t)(crlf - blk);
		if (e - i > nl && blk[i + nl] == ':' &&
		    mh_strncasecmp(blk + i, name, nl) == 0 && seen++ == nth) {
			mh_buf_init(&v, len);
			mh_buf_append(&v, blk + i + nl + 1, e - i - nl - 1);
			i = e + 2;
			while (i < len && (blk[i] == ' ' || blk[i] == '\t')) {
				crlf = memmem(blk + i, len - i, "\r\n", 2);
				e = crlf ? (size_t)(crlf - blk) : len;
				mh_buf_append(&v, blk + i, e - i);
				i = e + 2;
			}
			i = 0;
			while (i < v.len && (v.data[i] == ' ' ||
			    v.data[i] == '\t'))
				i++;
			memmove(v.data, v.data + i, v.len - i + 1);
			return v.data;
		}
		i = e + 2;
	}
	return NULL;
}

static int
t_field_count(const char *blk, size_t len, const char *name)
{
	int n = 0;
	char *v;

	while ((v = t_field(blk, len, name, n)) != NULL) {
		free(v);
		n++;
	}
	return n;
}

/* Every header line <= 78 octets (To: <addr> may need up to 998: an
 * address cannot be folded); the first line is not a continuation. */
static void
t_check_header_lines(const char *m, size_t hlen)
{
	size_t i = 0, e;
	bool first = true;

	while (i + 2 < hlen) {
		const char *crlf = memmem(m + i, hlen - i, "\r\n", 2);
		ck_assert_ptr_nonnull(crlf);
		e = (size_t)(crlf - m);
		ck_assert_msg(e - i <= (strncmp(m + i, "To: <", 5) == 0 ?
		    998 : 78), "header line of %zu octets: %.*s",
		    e - i, (int)(e - i), m + i);
		if (first)
			ck_assert_msg(m[i] != ' ' && m[i] != '\t',
			    "header starts with a continuation");
		first = false;
		i = e + 2;
	}
}

/* Each encoded word of a header value (already unfolded or not): <= 75
 * octets, UTF-8, B, and its own text whole UTF-8.  Returns the count. */
static int
t_check_encoded_words(const char *v)
{
	const char *p = v, *q, *t;
	struct mh_buf d;
	int n = 0;

	while ((p = strstr(p, "=?")) != NULL) {
		ck_assert_msg(strncmp(p, "=?UTF-8?B?", 10) == 0,
		    "odd encoded word %.20s", p);
		t = p + 10;
		q = strstr(t, "?=");
		ck_assert_ptr_nonnull(q);
		ck_assert_msg(q + 2 - p <= 75, "encoded word of %zu octets",
		    (size_t)(q + 2 - p));
		ck_assert_msg(q[2] == '\0' || q[2] == ' ' || q[2] == '\r',
		    "encoded word not followed by space");
		mh_buf_init(&d, 1024);
		ck_assert(t_b64_chunk(t, (size_t)(q - t), &d));
		ck_assert_msg(check_utf8_valid(d.data ? d.data : "", d.len),
		    "encoded word splits a UTF-8 character");
		mh_buf_clear(&d);
		p = q + 2;
		n++;
	}
	return n;
}

static void
t_part_clear(struct t_part *p)
{
	free(p->ctype);
	free(p->cte);
	free(p->desc);
	mh_buf_clear(&p->body);
}

/* Parses m: wire rules, header lines, header_parse(), then the MIME
 * parts of the top-level multipart. */
static void
t_msg_parse(struct t_msg *t, const char *m, size_t len)
{
	const char *end, *p, *next, *b;
	char delim[160], *ct;
	size_t dl, phl;
	struct t_part *pt;

	memset(t, 0, sizeof(*t));
	t->raw = m;
	t->len = len;
	t_check_wire(m, len, true, 998);
	end = memmem(m, len, "\r\n\r\n", 4);
	ck_assert_ptr_nonnull(end);
	t->hlen = (size_t)(end - m) + 4;
	t_check_header_lines(m, t->hlen);
	ck_assert_int_eq(header_parse(m, len, NULL, &t->h), HEADER_OK);

	ct = t_field(m, t->hlen, "Content-Type", 0);
	ck_assert_ptr_nonnull(ct);
	b = strstr(ct, "boundary=\"");
	ck_assert_ptr_nonnull(b);
	b += 10;
	ck_assert_ptr_nonnull(strchr(b, '"'));
	ck_assert_uint_lt((size_t)(strchr(b, '"') - b), sizeof(t->bnd));
	memcpy(t->bnd, b, (size_t)(strchr(b, '"') - b));
	free(ct);
	ck_assert_msg(strncmp(t->bnd, "=_mh_", 5) == 0 &&
	    strlen(t->bnd) == 5 + 24, "boundary %s", t->bnd);

	dl = (size_t)snprintf(delim, sizeof(delim), "\r\n--%s", t->bnd);
	p = memmem(m + t->hlen - 2, len - t->hlen + 2, delim, dl);
	ck_assert_ptr_nonnull(p);
	for (;;) {
		p += dl;
		if (p[0] == '-' && p[1] == '-') {
			ck_assert_msg(p + 4 == m + len, "epilogue after end");
			break;
		}
		ck_assert(p[0] == '\r' && p[1] == '\n');
		p += 2;
		next = memmem(p, (size_t)(m + len - p), delim, dl);
		ck_assert_ptr_nonnull(next);
		ck_assert_uint_lt(t->nparts, nitems(t->part));
		pt = &t->part[t->nparts++];
		end = memmem(p, (size_t)(next - p), "\r\n\r\n", 4);
		ck_assert_ptr_nonnull(end);
		phl = (size_t)(end - p) + 4;
		pt->ctype = t_field(p, phl, "Content-Type", 0);
		pt->cte = t_field(p, phl, "Content-Transfer-Encoding", 0);
		pt->desc = t_field(p, phl, "Content-Description", 0);
		ck_assert_ptr_nonnull(pt->ctype);
		mh_buf_init(&pt->body, len);
		mh_buf_append(&pt->body, "", 0);
		if (pt->cte != NULL && strcmp(pt->cte, "base64") == 0)
			t_b64_body(p + phl, (size_t)(next - p - phl),
			    &pt->body);
		else {
			ck_assert_msg(pt->cte == NULL ||
			    strcmp(pt->cte, "7bit") == 0, "cte %s", pt->cte);
			/* The CRLF before the delimiter is the
			 * delimiter's (RFC 2046 section 5.1.1). */
			mh_buf_append(&pt->body, p + phl,
			    (size_t)(next - p - phl));
		}
		p = next;
	}
}

static void
t_msg_clear(struct t_msg *t)
{
	size_t i;

	for (i = 0; i < t->nparts; i++)
		t_part_clear(&t->part[i]);
	header_msg_clear(&t->h);
}

static int
t_count(const char *hay, const char *needle)
{
	int n = 0;
	size_t nl = strlen(needle);

	while ((hay = strstr(hay, needle)) != NULL) {
		n++;
		hay += nl;
	}
	return n;
}

/* No line of s starts with word (case-insensitive). */
static void
t_no_line_start(const char *s, const char *word)
{
	const char *p = s;
	size_t n = strlen(word);

	for (;;) {
		ck_assert_msg(mh_strncasecmp(p, word, n) != 0,
		    "a line starts with %s", word);
		if ((p = strchr(p, '\n')) == NULL)
			break;
		p++;
	}
}

/* (Check cannot carry long messages: the haystack is cut.) */
#define t_has(hay, needle) ck_assert_msg(strstr((hay), (needle)) != NULL, \
	"missing \"%.500s\" in:\n%.2000s", (needle), (hay))
#define t_hasnt(hay, needle) ck_assert_msg(strstr((hay), (needle)) == NULL, \
	"unexpected \"%.500s\" in:\n%.2000s", (needle), (hay))

/* ------------------------------------------------------------------ */
/* alert_encode_subject()                                              */

struct enc_case {
	const char	*label;
	const char	*in;
	const char	*want;		/* decoded; NULL: same as in */
	bool		 want_plain;	/* no encoded word at all */
	size_t		 used;		/* 0: "Subject: " */
};

static const struct enc_case enc_cases[] = {
	{ .label = "ASCII stays plain", .in = "Hello world",
	  .want_plain = true },
	{ .label = "ASCII exact octets", .in = "Re: [list] v2.1 (draft) ok?",
	  .want_plain = true },
	{ .label = "long ASCII folded, still plain",
	  .in = "Lorem ipsum dolor sit amet, consectetur adipiscing elit, "
	  "sed do eiusmod tempor incididunt ut labore et dolore magna "
	  "aliqua. Ut enim ad minim veniam, quis nostrud exercitation "
	  "ullamco laboris nisi ut aliquip ex ea commodo consequat.",
	  .want_plain = true },
	{ .label = "white space runs become one space",
	  .in = "  a \t\t b   c  ", .want = "a b c", .want_plain = true },
	{ .label = "Japanese", .in = "会議の資料について" },
	{ .label = "mixed ASCII and Japanese",
	  .in = "Re: 会議の資料 (draft v2) 送付します" },
	{ .label = "emoji", .in = "Party \xf0\x9f\x8e\x89 tonight!" },
	{ .label = "emoji run, offset 0",
	  .in = "\xf0\x9f\x8e\x89\xf0\x9f\x8e\x89\xf0\x9f\x8e\x89\xf0\x9f"
	  "\x8e\x89\xf0\x9f\x8e\x89\xf0\x9f\x8e\x89\xf0\x9f\x8e\x89\xf0\x9f"
	  "\x8e\x89\xf0\x9f\x8e\x89\xf0\x9f\x8e\x89\xf0\x9f\x8e\x89\xf0\x9f"
	  "\x8e\x89\xf0\x9f\x8e\x89\xf0\x9f\x8e\x89\xf0\x9f\x8e\x89\xf0\x9f"
	  "\x8e\x89\xf0\x9f\x8e\x89\xf0\x9f\x8e\x89\xf0\x9f\x8e\x89\xf0\x9f"
	  "\x8e\x89" },
	{ .label = "emoji run, offset 1",
	  .in = "a\xf0\x9f\x8e\x89\xf0\x9f\x8e\x89\xf0\x9f\x8e\x89\xf0\x9f"
	  "\x8e\x89\xf0\x9f\x8e\x89\xf0\x9f\x8e\x89\xf0\x9f\x8e\x89\xf0\x9f"
	  "\x8e\x89\xf0\x9f\x8e\x89\xf0\x9f\x8e\x89\xf0\x9f\x8e\x89\xf0\x9f"
	  "\x8e\x89\xf0\x9f\x8e\x89\xf0\x9f\x8e\x89\xf0\x9f\x8e\x89" },
	{ .label = "emoji run, offset 2",
	  .in = "ab\xf0\x9f\x8e\x89\xf0\x9f\x8e\x89\xf0\x9f\x8e\x89\xf0\x9f"
	  "\x8e\x89\xf0\x9f\x8e\x89\xf0\x9f\x8e\x89\xf0\x9f\x8e\x89\xf0\x9f"
	  "\x8e\x89\xf0\x9f\x8e\x89\xf0\x9f\x8e\x89\xf0\x9f\x8e\x89\xf0\x9f"
	  "\x8e\x89\xf0\x9f\x8e\x89\xf0\x9f\x8e\x89\xf0\x9f\x8e\x89" },
	{ .label = "long Japanese",
	  .in = "いろはにほへとちりぬるをわかよたれそつねならむうゐのおくやま"
	  "けふこえてあさきゆめみしゑひもせすいろはにほへとちりぬるをわかよ"
	  "たれそつねならむうゐのおくやまけふこえてあさきゆめみしゑひもせす"
	  "いろはにほへとちりぬるをわかよたれそつねならむうゐのおくやまけふ" },
	{ .label = "looks like an encoded word: encoded",
	  .in = "see =?UTF-8?B?SGk=?= literally" },
	{ .label = "ASCII word over 60 octets: encoded",
	  .in = "x https://example.com/a/very/long/path/that/does/not/fit/"
	  "on/one/line/at/all?query=1 y" },
	{ .label = "CR LF cannot start a field",
	  .in = "Hi\r\nBcc: evil@example.net\r\n\r\nbody",
	  .want = "Hi Bcc: evil@example.net body", .want_plain = true },
	{ .label = "bare LF and CR too", .in = "a\nBcc: x@y\rTo: z@w",
	  .want = "a Bcc: x@y To: z@w", .want_plain = true },
	{ .label = "control characters", .in = "a\x01" "b\x7f" "c\x1b[31m",
	  .want = "a b c [31m", .want_plain = true },
	{ .label = "C1 control", .in = "a\xc2\x85" "b", .want = "a b",
	  .want_plain = true },
	{ .label = "invalid UTF-8 becomes U+FFFD", .in = "caf\xe9 ok",
	  .want = "caf\xef\xbf\xbd ok" },
	{ .label = "overlong and surrogate", .in = "\xc0\xaf \xed\xa0\x80",
	  .want = "\xef\xbf\xbd\xef\xbf\xbd \xef\xbf\xbd\xef\xbf\xbd"
	  "\xef\xbf\xbd" },
	{ .label = "truncated sequence at the end", .in = "abc \xe4\xbc",
	  .want = "abc \xef\xbf\xbd\xef\xbf\xbd" },
	{ .label = "bidi override", .in = "abc\xe2\x80\xae" "def",
	  .want = "abc\xef\xbf\xbd" "def" },
	{ .label = "Japanese after a long prefix", .in = "会議の資料について",
	  .used = 40 },
	{ .label = "plain after a long prefix", .in = "tiny words here",
	  .used = 70, .want_plain = true },
	{ .label = "plain, encoded, plain",
	  .in = "[mailhold] Held: 会議 \xe2\x80\x94 goes out at 14:05" },
};

/* "Subject: " + the value + CRLF CRLF, checked and decoded. */
static char *
t_encode(const char *in, size_t used, char **rawp)
{
	struct header_msg h;
	struct mh_buf b;
	char *dec, *sub, *hdr;
	size_t i, pre;

	mh_buf_init(&b, 1 << 20);
	/* A prefix of used octets ("Subject: " padded with a comment). */
	mh_buf_puts(&b, "Subject: ");
	pre = used > 9 ? used : 9;
	for (i = 9; i < pre; i++)
		mh_buf_puts(&b, i == 9 ? "(" : i + 1 == pre ? ")" : "x");
	ck_assert_int_eq(alert_encode_subject(&b, in, pre), 0);
	mh_buf_puts(&b, "\r\n\r\n");
	t_check_wire(b.data, b.len, true, 998);
	t_check_header_lines(b.data, b.len);
	/* Only the one field: nothing in it could open another. */
	ck_assert_int_eq(t_field_count(b.data, b.len, "Subject"), 1);
	ck_assert_int_eq(header_parse(b.data, b.len, NULL, &h), HEADER_OK);
	ck_assert_uint_eq(h.nfields, 1);
	ck_assert_uint_eq(h.bcc.n, 0);
	sub = t_field(b.data, b.len, "Subject", 0);
	ck_assert_ptr_nonnull(sub);
	t_check_encoded_words(sub);
	free(sub);
	dec = xstrdup(h.subject != NULL ? h.subject : "");
	header_msg_clear(&h);
	hdr = mh_buf_steal(&b, NULL);
	if (rawp != NULL)
		*rawp = hdr;
	else
		free(hdr);
	/* The comment of a long prefix decodes too: drop it. */
	if (pre > 9) {
		char *p = strchr(dec, ')');
		ck_assert_ptr_nonnull(p);
		p++;
		while (*p == ' ')
			p++;
		memmove(dec, p, strlen(p) + 1);
	}
	return dec;
}

START_TEST(test_enc_subject)
{
	const struct enc_case *c = &enc_cases[_i];
	const char *want = c->want ? c->want : c->in;
	char *dec, *raw, *sub;

	dec = t_encode(c->in, c->used, &raw);
	ck_assert_msg(strcmp(dec, want) == 0, "%s: decoded \"%.1000s\", "
	    "want \"%.1000s\"", c->label, dec, want);
	sub = t_field(raw, strlen(raw), "Subject", 0);
	if (c->want_plain)
		ck_assert_msg(strstr(sub, "=?") == NULL, "%s: encoded: %.1000s",
		    c->label, sub);
	else
		ck_assert_msg(t_check_encoded_words(sub) > 0,
		    "%s: not encoded: %s", c->label, sub);
	/* Plain ASCII words are kept as they are (readable in any client):
	 * an unfolded plain value is the input itself. */
	if (c->want_plain && c->used == 0)
		ck_assert_str_eq(sub, want);
	free(sub);
	free(raw);
	free(dec);
}
END_TEST

/* The words around an encoded run stay readable. */
START_TEST(test_enc_subject_mixed_readable)
{
	char *raw, *dec;

	dec = t_encode("[mailhold] Held: 会議 \xe2\x80\x94 goes out at 14:05",
	    0, &raw);
	ck_assert_msg(strncmp(raw, "Subject: [mailhold] Held: =?UTF-8?B?",
	    36) == 0, "%s", raw);
	t_has(raw, "?= goes out at 14:05\r\n");
	free(raw);
	free(dec);
}
END_TEST

/* Over 1000 characters: cut at a character boundary, "…" at the end. */
START_TEST(test_enc_subject_bounded)
{
	struct mh_buf in, want;
	char *dec;
	size_t i;

	mh_buf_init(&in, 1 << 20);
	mh_buf_init(&want, 1 << 20);
	for (i = 0; i < 5000; i++) {
		mh_buf_puts(&in, "漢");
		if (i < 1000)
			mh_buf_puts(&want, "漢");
	}
	mh_buf_puts(&want, "\xe2\x80\xa6");
	dec = t_encode(in.data, 0, NULL);
	ck_assert_str_eq(dec, want.data);
	free(dec);
	mh_buf_clear(&in);
	mh_buf_clear(&want);
}
END_TEST

/* Random bytes: whatever comes in, the header is well formed and the
 * decoded text is valid UTF-8 without control characters. */
START_TEST(test_enc_subject_random)
{
	unsigned char in[300];
	uint64_t x = 0x9e3779b97f4a7c15ULL;
	char *dec;
	size_t i, n, k;
	int iter;

	for (iter = 0; iter < 400; iter++) {
		n = (size_t)(iter % 290) + 1;
		for (i = 0; i < n; i++) {
			x = x * 6364136223846793005ULL + 1442695040888963407ULL;
			k = (size_t)(x >> 59);
			/* Mostly UTF-8 text, some spaces, CR, LF, junk. */
			in[i] = k < 12 ? (unsigned char)"\xe3\x81\x82 \r\n="
			    "?abc"[k] : (unsigned char)(x >> 33);
			if (in[i] == 0)
				in[i] = 'z';
		}
		in[n] = '\0';
		dec = t_encode((const char *)in, iter % 3 == 0 ? 0 :
		    (size_t)(11 + iter % 50), NULL);
		ck_assert(check_utf8_valid(dec, strlen(dec)));
		for (k = 0; dec[k] != '\0'; k++)
			ck_assert((unsigned char)dec[k] >= 0x20 &&
			    dec[k] != 0x7f);
		free(dec);
	}
}
END_TEST

/* A full buffer: -1 and nothing of the value left in it. */
START_TEST(test_enc_subject_full)
{
	struct mh_buf b;

	mh_buf_init(&b, 40);
	mh_buf_puts(&b, "Subject: ");
	ck_assert_int_eq(alert_encode_subject(&b, "会議の資料について、"
	    "来週の月曜日までにお送りします", 9), -1);
	ck_assert_uint_eq(b.len, 9);
	ck_assert_str_eq(b.data, "Subject: ");
	mh_buf_clear(&b);
}
END_TEST

/* ------------------------------------------------------------------ */
/* alert_time_str(), alert_lang_*()                                    */

struct time_case {
	const char	*label;
	const char	*tz;
	int64_t		 t, now;
	enum alert_lang	 lang;
	bool		 zone;
	size_t		 sz;		/* 0: 64 */
	const char	*want;
	int		 want_ret;
};

#define EN	ALERT_LANG_EN
#define JA	ALERT_LANG_JA

static const struct time_case time_cases[] = {
	{ "today", "JST-9", AT_T, AT_T - 300, EN, false, 0, "14:05", 0 },
	{ "today ja", "JST-9", AT_T, AT_T - 300, JA, false, 0, "14:05", 0 },
	{ "today with zone", "JST-9", AT_T, AT_T - 300, EN, true, 0,
	  "14:05 JST", 0 },
	{ "today with zone ja", "JST-9", AT_T, AT_T - 300, JA, true, 0,
	  "14:05 (JST)", 0 },
	{ "IANA Asia/Tokyo", "Asia/Tokyo", AT_T, AT_T, EN, true, 0,
	  "14:05 JST", 0 },
	{ "IANA Asia/Tokyo ja", "Asia/Tokyo", AT_T, AT_T, JA, true, 0,
	  "14:05 (JST)", 0 },
	{ "earlier today", "JST-9", AT_T, AT_T + 3600, EN, false, 0, "14:05",
	  0 },
	{ "tomorrow, less than a day away", "JST-9", AT_T, AT_T - 86399, EN,
	  true, 0, "23 Nov 14:05 JST", 0 },
	{ "tomorrow ja", "JST-9", AT_T, AT_T - 86399, JA, true, 0,
	  "11月23日 14:05 (JST)", 0 },
	{ "after midnight is another day", "JST-9", AT_T + 36000, AT_T, EN,
	  false, 0, "24 Nov 00:05", 0 },
	{ "yesterday ja", "JST-9", AT_T - 86400, AT_T, JA, false, 0,
	  "11月22日 14:05", 0 },
	{ "next year", "JST-9", AT_T + 40 * 86400, AT_T, EN, true, 0,
	  "2 Jan 2027 14:05 JST", 0 },
	{ "next year ja", "JST-9", AT_T + 40 * 86400, AT_T, JA, true, 0,
	  "2027年1月2日 14:05 (JST)", 0 },
	{ "UTC", "UTC0", AT_T, AT_T, EN, true, 0, "05:05 UTC", 0 },
	{ "UTC is another day", "UTC0", AT_T, AT_T + 20 * 3600, EN, true, 0,
	  "23 Nov 05:05 UTC", 0 },
	{ "IANA Europe/Berlin", "Europe/Berlin", AT_T, AT_T, EN, true, 0,
	  "06:05 CET", 0 },
	{ "negative zone", "EST5", AT_T, AT_T, JA, true, 0, "00:05 (EST)",
	  0 },
	{ "buffer too small for the zone", "JST-9", AT_T, AT_T, EN, true, 8,
	  "14:05", 0 },
	{ "buffer too small at all", "JST-9", AT_T, AT_T, EN, false, 3, "",
	  -1 },
	{ "extreme now does not overflow", "JST-9", AT_T, INT64_MIN, EN,
	  false, 0, "23 Nov 2026 14:05", 0 },
	{ "unusable time", "JST-9", INT64_MAX, AT_T, EN, true, 0, "", -1 },
};

START_TEST(test_time_str)
{
	const struct time_case *c = &time_cases[_i];
	char buf[64];
	size_t sz = c->sz ? c->sz : sizeof(buf);
	int r;

	ck_assert_int_eq(setenv("TZ", c->tz, 1), 0);
	tzset();
	memset(buf, 'Z', sizeof(buf));
	r = alert_time_str(c->t, c->now, c->lang, c->zone, buf, sz);
	ck_assert_msg(strcmp(buf, c->want) == 0, "%s: \"%s\", want \"%s\"",
	    c->label, buf, c->want);
	ck_assert_msg(r == c->want_ret, "%s: returned %d", c->label, r);
	ck_assert_uint_lt(strlen(buf), sz);
	ck_assert(sz == sizeof(buf) || buf[sz] == 'Z');
}
END_TEST

struct lang_case {
	const char	*in;
	int		 want;
};

static const struct lang_case lang_cases[] = {
	{ "en", ALERT_LANG_EN }, { "EN", ALERT_LANG_EN },
	{ "ja", ALERT_LANG_JA }, { "Ja", ALERT_LANG_JA },
	{ "ja-JP", ALERT_LANG_JA }, { "ja_JP.UTF-8", ALERT_LANG_JA },
	{ "en-US", ALERT_LANG_EN }, { "en_GB", ALERT_LANG_EN },
	{ "", -1 }, { "j", -1 }, { "jp", -1 }, { "jpn", -1 },
	{ "japanese", -1 }, { "de", -1 }, { "ja-", -1 }, { "-ja", -1 },
	{ "ja ", -1 }, { NULL, -1 },
};

START_TEST(test_lang_parse)
{
	const struct lang_case *c = &lang_cases[_i];

	ck_assert_msg(alert_lang_parse(c->in) == c->want, "\"%s\"",
	    c->in ? c->in : "(null)");
}
END_TEST

START_TEST(test_lang_to_str)
{
	ck_assert_str_eq(alert_lang_to_str(ALERT_LANG_EN), "en");
	ck_assert_str_eq(alert_lang_to_str(ALERT_LANG_JA), "ja");
	ck_assert_int_eq(alert_lang_parse(alert_lang_to_str(ALERT_LANG_JA)),
	    ALERT_LANG_JA);
	ck_assert_int_eq(alert_lang_parse(alert_lang_to_str(ALERT_LANG_EN)),
	    ALERT_LANG_EN);
}
END_TEST

/* ------------------------------------------------------------------ */
/* alert_build()                                                       */

static const char *const at_rcpts[] = {
	"alice@example.com", "bob@exampel.com", "carol@example.org",
};
static const char *const at_frcpts[] = { "bob@exampel.com" };

/* The view every alert case starts from. */
static void
t_view(struct alert_view *v, struct alert_finding *f, enum alert_lang lang,
    bool awaiting)
{
	memset(f, 0, sizeof(*f));
	f->rule = "typo_domain";
	f->text = lang == ALERT_LANG_JA ?
	    "ドメイン exampel.com は example.com の入力ミスのようです。" :
	    "The domain exampel.com looks like a typo of example.com.";
	f->suggestion = "bob@example.com";
	f->rcpts = at_frcpts;
	f->nrcpts = nitems(at_frcpts);
	memset(v, 0, sizeof(*v));
	v->lang = lang;
	v->hostname = AT_HOST;
	v->from_addr = AT_FROM;
	v->id = AT_ID;
	v->to = AT_TO;
	v->subject = lang == ALERT_LANG_JA ? "四半期報告" : "Quarterly report";
	v->rcpts = at_rcpts;
	v->nrcpts = nitems(at_rcpts);
	v->findings = f;
	v->nfindings = 1;
	v->awaiting = awaiting;
	v->now = AT_T - 300;
	v->release_at = awaiting ? AT_T + 3 * 86400 : AT_T;
	v->url = AT_URL;
}

/*
 * Every tag is one of the few the alert uses, with no attribute but
 * style, lang, charset, name/content (meta) and href (a), and no other
 * scheme than https in href: nothing taken from the message became
 * markup, and nothing loads from elsewhere.
 */
static void
t_check_html_tags(const char *html)
{
	static const char *const ok[] = {
		"!DOCTYPE", "html", "head", "meta", "title", "body", "div",
		"p", "table", "tr", "th", "td", "h2", "ul", "li", "strong",
		"span", "br", "hr", "a",
	};
	static const char *const attrs[] = {
		"style=\"", "lang=\"", "charset=\"", "name=\"", "content=\"",
		"href=\"https://",
	};
	const char *p = html, *e, *q;
	size_t i, n;
	bool found;

	while ((p = strchr(p, '<')) != NULL) {
		p++;
		if (*p == '/')
			p++;
		n = strcspn(p, " >");
		found = false;
		for (i = 0; i < nitems(ok); i++)
			if (strlen(ok[i]) == n && strncmp(p, ok[i], n) == 0)
				found = true;
		ck_assert_msg(found, "tag <%.*s>", (int)n, p);
		e = strchr(p, '>');
		ck_assert_ptr_nonnull(e);
		/* Each attribute: a known name, a quoted value. */
		for (q = p + n; q < e; ) {
			if (*q == ' ') {
				q++;
				continue;
			}
			if (strncmp(p, "!DOCTYPE", 8) == 0)
				break;
			found = false;
			for (i = 0; i < nitems(attrs); i++)
				if (strncmp(q, attrs[i], strlen(attrs[i])) == 0)
					found = true;
			ck_assert_msg(found, "attribute %.20s", q);
			q = strchr(strchr(q, '"') + 1, '"');
			ck_assert_ptr_nonnull(q);
			ck_assert_msg(q < e, "attribute runs past its tag");
			q++;
		}
		p = e + 1;
	}
}

/* Builds, parses and checks what every alert must have. */
static char *
t_alert(const struct alert_view *v, struct t_msg *t)
{
	char *m, *f;
	size_t len;
	const char *html;

	m = alert_build(v, &len);
	ck_assert_ptr_nonnull(m);
	ck_assert_uint_eq(strlen(m), len);
	t_msg_parse(t, m, len);

	ck_assert_int_eq(t_field_count(m, t->hlen, "From"), 1);
	ck_assert_int_eq(t_field_count(m, t->hlen, "To"), 1);
	ck_assert_int_eq(t_field_count(m, t->hlen, "Subject"), 1);
	ck_assert_int_eq(t_field_count(m, t->hlen, "Date"), 1);
	ck_assert_int_eq(t_field_count(m, t->hlen, "Message-ID"), 1);
	ck_assert_int_eq(t_field_count(m, t->hlen, "Bcc"), 0);
	ck_assert_int_eq(t_field_count(m, t->hlen, "Cc"), 0);
	f = t_field(m, t->hlen, "Auto-Submitted", 0);
	ck_assert_str_eq(f, "auto-generated");
	free(f);
	f = t_field(m, t->hlen, "MIME-Version", 0);
	ck_assert_str_eq(f, "1.0");
	free(f);
	f = t_field(m, t->hlen, "Content-Type", 0);
	ck_assert_msg(strncmp(f, "multipart/alternative;", 22) == 0, "%s", f);
	free(f);
	f = t_field(m, t->hlen, "Message-ID", 0);
	ck_assert_msg(f[0] == '<' && strstr(f, ".alert@") != NULL &&
	    f[strlen(f) - 1] == '>' && strchr(f, ' ') == NULL, "%s", f);
	free(f);
	f = t_field(m, t->hlen, "Subject", 0);
	t_check_encoded_words(f);
	free(f);

	ck_assert_uint_eq(t->nparts, 2);
	ck_assert_str_eq(t->part[0].ctype, "text/plain; charset=UTF-8");
	ck_assert_str_eq(t->part[0].cte, "base64");
	ck_assert_str_eq(t->part[1].ctype, "text/html; charset=UTF-8");
	ck_assert_str_eq(t->part[1].cte, "base64");
	ck_assert(check_utf8_valid(t->part[0].body.data, t->part[0].body.len));
	ck_assert(check_utf8_valid(t->part[1].body.data, t->part[1].body.len));
	ck_assert_ptr_null(memchr(t->part[1].body.data, '\0',
	    t->part[1].body.len));
	/* Text in canonical form: CRLF lines. */
	t_check_wire(t->part[0].body.data, t->part[0].body.len, false, 0);

	/* No remote anything, no tracking, no script. */
	html = t->part[1].body.data;
	t_check_html_tags(html);
	t_hasnt(html, "url(");
	t_hasnt(html, "@import");
	return m;
}

struct alert_case {
	const char	*label;
	enum alert_lang	 lang;
	bool		 awaiting;
	const char	*want_subject;
	const char	*want_text[10];
	const char	*want_html[10];
	const char	*deny[4];	/* in neither part */
};

static const struct alert_case alert_cases[] = {
	{ .label = "en held", .lang = ALERT_LANG_EN,
	  .want_subject = "[mailhold] Held: Quarterly report \xe2\x80\x94 "
	  "goes out at 14:05",
	  .want_text = { "It will be sent at 14:05 JST unless you "
	  "cancel it.", "Subject: Quarterly report",
	  "Goes out: 14:05 JST",
	  "  - The domain exampel.com looks like a typo of example.com.",
	  "Did you mean bob@example.com?",
	  "Recipients concerned: bob@exampel.com",
	  "  * bob@exampel.com\r\n    alice@example.com\r\n"
	  "    carol@example.org\r\n",
	  "To cancel it, or to send it now, open this page:\r\n\r\n  "
	  AT_URL "\r\n", "Opening the page changes nothing",
	  "queue id " AT_ID },
	  .want_html = { "<html lang=\"en\">",
	  "<a href=\"" AT_URL "\"", ">Cancel sending</a>", ">Send now</a>",
	  "\xe2\x9a\xa0 bob@exampel.com</strong> (please check)",
	  "<li>alice@example.com</li>", "Did you mean bob@example.com?",
	  "<title>[mailhold] Held: Quarterly report" },
	  .deny = { "NOT be sent", "dropped" } },
	{ .label = "en awaiting", .lang = ALERT_LANG_EN, .awaiting = true,
	  .want_subject = "[mailhold] Waiting for you: Quarterly report "
	  "\xe2\x80\x94 will not be sent unless you release it",
	  .want_text = { "It will NOT be sent unless you open the page "
	  "below and click \"Send now\".",
	  "Dropped: 26 Nov 14:05 JST",
	  "If you do nothing, it will not be sent: it is dropped at "
	  "26 Nov 14:05 JST.", AT_URL,
	  "Did you mean bob@example.com?" },
	  .want_html = { "<strong>mailhold is holding your message. It "
	  "will NOT be sent", "&quot;Send now&quot;",
	  "<a href=\"" AT_URL "\"" },
	  .deny = { "goes out at", "unless you cancel it" } },
	{ .label = "ja held", .lang = ALERT_LANG_JA,
	  .want_subject = "[mailhold] 保留中: 四半期報告 \xe2\x80\x94 14:05 "
	  "に送信されます",
	  .want_text = { "取り消さない限り、14:05 (JST) に送信されます。",
	  "件名: 四半期報告", "送信予定: 14:05 (JST)",
	  "ドメイン exampel.com は example.com の入力ミスのようです。",
	  "本来の宛先は bob@example.com ではありませんか？",
	  "該当する宛先: bob@exampel.com", "  * bob@exampel.com",
	  "送信を取り消す場合や、今すぐ送信する場合は", AT_URL,
	  "キュー ID: " AT_ID },
	  .want_html = { "<html lang=\"ja\">", ">送信を取り消す</a>",
	  ">今すぐ送信</a>", "bob@exampel.com</strong> (要確認)" },
	  .deny = { "破棄", "Held" } },
	{ .label = "ja awaiting", .lang = ALERT_LANG_JA, .awaiting = true,
	  .want_subject = "[mailhold] 確認待ち: 四半期報告 \xe2\x80\x94 "
	  "送信をクリックしない限り送信されません",
	  .want_text = { "このメールは、あなたが送信をクリックしない限り"
	  "送信されません。", "破棄予定: 11月26日 14:05 (JST)",
	  "何もしなければ、このメールは送信されず、11月26日 14:05 "
	  "(JST) に破棄されます。", "「今すぐ送信」をクリックしてください" },
	  .want_html = { "<strong>送信前のメールを mailhold が保留しています。"
	  "このメールは、あなたが送信をクリックしない限り送信されません。" },
	  .deny = { "送信予定" } },
};

START_TEST(test_alert_build)
{
	const struct alert_case *c = &alert_cases[_i];
	struct alert_finding f;
	struct alert_view v;
	struct t_msg t;
	const char *txt, *html;
	char *m, *fld;
	size_t i;

	alert_test_tz();
	t_view(&v, &f, c->lang, c->awaiting);
	m = t_alert(&v, &t);
	ck_assert_ptr_nonnull(t.h.subject);
	ck_assert_msg(strcmp(t.h.subject, c->want_subject) == 0,
	    "%s: subject \"%s\"", c->label, t.h.subject);
	fld = t_field(m, t.hlen, "From", 0);
	ck_assert_str_eq(fld, "\"mailhold\" <" AT_FROM ">");
	free(fld);
	fld = t_field(m, t.hlen, "To", 0);
	ck_assert_str_eq(fld, "<" AT_TO ">");
	free(fld);
	fld = t_field(m, t.hlen, "Date", 0);
	ck_assert_str_eq(fld, "Mon, 23 Nov 2026 14:00:00 +0900");
	free(fld);
	fld = t_field(m, t.hlen, "Content-Language", 0);
	ck_assert_str_eq(fld, alert_lang_to_str(c->lang));
	free(fld);

	txt = t.part[0].body.data;
	html = t.part[1].body.data;
	for (i = 0; i < nitems(c->want_text) && c->want_text[i]; i++)
		t_has(txt, c->want_text[i]);
	for (i = 0; i < nitems(c->want_html) && c->want_html[i]; i++)
		t_has(html, c->want_html[i]);
	for (i = 0; i < nitems(c->deny) && c->deny[i]; i++) {
		t_hasnt(txt, c->deny[i]);
		t_hasnt(html, c->deny[i]);
	}
	/* Two links, both to the page. */
	ck_assert_int_eq(t_count(html, "<a href="), 2);
	ck_assert_int_eq(t_count(html, "<a href=\"" AT_URL "\""), 2);
	/* Every recipient in both parts. */
	for (i = 0; i < nitems(at_rcpts); i++) {
		t_has(txt, at_rcpts[i]);
		t_has(html, at_rcpts[i]);
	}
	t_msg_clear(&t);
	free(m);
}
END_TEST

/* Two builds differ in boundary and Message-ID (random), nothing else
 * of the header. */
START_TEST(test_alert_random_ids)
{
	struct alert_finding f;
	struct alert_view v;
	char *a, *b, *ia, *ib, *ca, *cb;
	size_t la, lb;

	alert_test_tz();
	t_view(&v, &f, ALERT_LANG_EN, false);
	a = alert_build(&v, &la);
	b = alert_build(&v, &lb);
	ia = t_field(a, la, "Message-ID", 0);
	ib = t_field(b, lb, "Message-ID", 0);
	ca = t_field(a, la, "Content-Type", 0);
	cb = t_field(b, lb, "Content-Type", 0);
	ck_assert_str_ne(ia, ib);
	ck_assert_str_ne(ca, cb);
	ck_assert_msg(strncmp(ia, "<" AT_ID ".", 18) == 0, "%s", ia);
	t_has(ia, ".alert@" AT_HOST ">");
	free(ia);
	free(ib);
	free(ca);
	free(cb);
	free(a);
	free(b);
}
END_TEST

/* No subject, no findings, no recipients: still a whole message. */
START_TEST(test_alert_minimal)
{
	struct alert_view v;
	struct t_msg t;
	char *m;

	alert_test_tz();
	memset(&v, 0, sizeof(v));
	v.lang = ALERT_LANG_EN;
	v.now = AT_T - 60;
	v.release_at = AT_T;
	v.url = AT_URL;
	m = t_alert(&v, &t);
	ck_assert_str_eq(t.h.subject, "[mailhold] Held: (no subject) "
	    "\xe2\x80\x94 goes out at 14:05");
	t_hasnt(t.part[0].body.data, "Why it was held");
	t_has(t.part[0].body.data, "queue id");
	t_has(m, "From: \"mailhold\" <mailhold@localhost>\r\n");
	t_has(m, "\r\nTo: undisclosed-recipients:;\r\n");
	t_has(m, "@localhost>\r\n");
	t_msg_clear(&t);
	free(m);

	v.lang = ALERT_LANG_JA;
	v.subject = "   ";
	m = t_alert(&v, &t);
	ck_assert_str_eq(t.h.subject, "[mailhold] 保留中: (件名なし) "
	    "\xe2\x80\x94 14:05 に送信されます");
	t_msg_clear(&t);
	free(m);
}
END_TEST

/* Attacker-chosen subject, addresses, finding texts: escaped in HTML,
 * never a header of their own. */
START_TEST(test_alert_hostile_html)
{
	static const char *const rc[] = {
		"\"<img src=x onerror=alert(1)>\"@example.com",
		"plain@example.com",
	};
	struct alert_finding f;
	struct alert_view v;
	struct t_msg t;
	const char *txt, *html;
	char *m;

	alert_test_tz();
	t_view(&v, &f, ALERT_LANG_EN, false);
	v.subject = "<script>alert(1)</script>\"'&";
	v.rcpts = rc;
	v.nrcpts = nitems(rc);
	f.rcpts = rc;
	f.nrcpts = 1;
	f.text = "<b>bold</b> & <a href=\"javascript:x\">click</a>";
	f.suggestion = "\"><svg onload=alert(1)>@x";
	v.url = "https://mh.example/m/T?a=1&b=2";
	m = t_alert(&v, &t);
	txt = t.part[0].body.data;
	html = t.part[1].body.data;

	t_hasnt(html, "<script");
	t_hasnt(html, "<img");
	t_hasnt(html, "<svg");
	t_hasnt(html, "<b>");
	t_hasnt(html, "javascript:x\"");
	t_has(html, "&lt;script&gt;alert(1)&lt;/script&gt;&quot;&#39;&amp;");
	t_has(html, "&quot;&lt;img src=x onerror=alert(1)&gt;&quot;"
	    "@example.com");
	t_has(html, "&lt;b&gt;bold&lt;/b&gt; &amp; &lt;a href=&quot;"
	    "javascript:x&quot;&gt;click&lt;/a&gt;");
	t_has(html, "&quot;&gt;&lt;svg onload=alert(1)&gt;@x");
	t_has(html, "href=\"https://mh.example/m/T?a=1&amp;b=2\"");
	ck_assert_int_eq(t_count(html, "<a "), 2);
	/* The text part is text: as it was. */
	t_has(txt, "Subject: <script>alert(1)</script>\"'&");
	t_has(txt, "* \"<img src=x onerror=alert(1)>\"@example.com");
	ck_assert_str_eq(t.h.subject, "[mailhold] Held: <script>alert(1)"
	    "</script>\"'& \xe2\x80\x94 goes out at 14:05");
	t_msg_clear(&t);
	free(m);
}
END_TEST

START_TEST(test_alert_hostile_headers)
{
	struct alert_finding f;
	struct alert_view v;
	struct t_msg t;
	char *m, *fld;
	size_t i;

	alert_test_tz();
	t_view(&v, &f, ALERT_LANG_EN, false);
	v.subject = "Hi\r\nBcc: evil@example.net\r\n\r\n<html>body";
	v.to = "a@b.example\r\nBcc: evil2@example.net";
	v.from_addr = "mh@x\nReply-To: evil3@example.net";
	v.hostname = "mh.example\r\nCc: evil4@example.net";
	v.id = "id\r\nX-Evil: 1";
	m = t_alert(&v, &t);
	ck_assert_uint_eq(t.h.bcc.n, 0);
	ck_assert_uint_eq(t.h.cc.n, 0);
	ck_assert_uint_eq(t.h.reply_to.n, 0);
	ck_assert_int_eq(t_field_count(m, t.hlen, "Reply-To"), 0);
	ck_assert_int_eq(t_field_count(m, t.hlen, "X-Evil"), 0);
	/* No header line starts with what came after a CR or LF. */
	for (i = 0; i + 1 < t.hlen; i++)
		if (m[i] == '\n') {
			ck_assert(mh_strncasecmp(m + i + 1, "Bcc", 3) != 0);
			ck_assert(mh_strncasecmp(m + i + 1, "Cc", 2) != 0);
			ck_assert(mh_strncasecmp(m + i + 1, "<html>", 6) != 0);
		}
	ck_assert_str_eq(t.h.subject, "[mailhold] Held: Hi Bcc: "
	    "evil@example.net <html>body \xe2\x80\x94 goes out at 14:05");
	/* An address with spaces or specials is not shown at all. */
	fld = t_field(m, t.hlen, "To", 0);
	ck_assert_str_eq(fld, "undisclosed-recipients:;");
	free(fld);
	fld = t_field(m, t.hlen, "Message-ID", 0);
	ck_assert_msg(strchr(fld, ' ') == NULL && strchr(fld, ':') == NULL,
	    "%s", fld);
	free(fld);
	t_msg_clear(&t);
	free(m);
}
END_TEST

/* Only an http(s) page becomes a link. */
START_TEST(test_alert_bad_url)
{
	static const char *const urls[] = {
		"javascript:alert(1)", "data:text/html,x", "", NULL,
		"https://x.example/\"onmouseover=\"x", "https://a b",
		"//mh.example/m/T",
	};
	struct alert_finding f;
	struct alert_view v;
	struct t_msg t;
	char *m;
	size_t i;

	alert_test_tz();
	for (i = 0; i < nitems(urls); i++) {
		t_view(&v, &f, ALERT_LANG_EN, false);
		v.url = urls[i];
		m = t_alert(&v, &t);
		ck_assert_int_eq(t_count(t.part[1].body.data, "<a "), 0);
		t_has(t.part[0].body.data, "The link is not available");
		if (urls[i] != NULL && urls[i][0] != '\0')
			t_hasnt(t.part[0].body.data, urls[i]);
		t_msg_clear(&t);
		free(m);
	}
}
END_TEST

/* 1000 recipients: 200 listed, the flagged one first although it is
 * the last, "and 800 more". */
START_TEST(test_alert_many_rcpts)
{
	struct alert_finding f;
	struct alert_view v;
	struct t_msg t;
	char **rc, *m, buf[64];
	const char *fr[1];
	size_t i;

	alert_test_tz();
	rc = xcalloc(1000, sizeof(*rc));
	for (i = 0; i < 1000; i++) {
		snprintf(buf, sizeof(buf), "r%04zu@example.com", i);
		rc[i] = xstrdup(buf);
	}
	t_view(&v, &f, ALERT_LANG_EN, false);
	v.rcpts = (const char *const *)rc;
	v.nrcpts = 1000;
	fr[0] = rc[999];
	f.rcpts = fr;
	f.nrcpts = 1;
	m = t_alert(&v, &t);
	t_has(t.part[0].body.data, "(* = please check):\r\n\r\n"
	    "  * r0999@example.com\r\n    r0000@example.com\r\n");
	t_has(t.part[0].body.data, "    r0198@example.com\r\n"
	    "    and 800 more\r\n");
	t_hasnt(t.part[0].body.data, "r0199@");
	ck_assert_int_eq(t_count(t.part[1].body.data, "<li>r0"), 199);
	t_has(t.part[1].body.data, "<li>and 800 more</li>");
	t_msg_clear(&t);
	free(m);

	/* A finding naming all of them lists ten. */
	f.rcpts = (const char *const *)rc;
	f.nrcpts = 1000;
	m = t_alert(&v, &t);
	t_has(t.part[0].body.data, "Recipients concerned: r0000@example.com, "
	    "r0001@example.com, r0002@example.com, r0003@example.com, "
	    "r0004@example.com, r0005@example.com, r0006@example.com, "
	    "r0007@example.com, r0008@example.com, r0009@example.com, "
	    "and 990 more\r\n");
	t_msg_clear(&t);
	free(m);
	for (i = 0; i < 1000; i++)
		free(rc[i]);
	free(rc);
}
END_TEST

/*
 * 100 flagged recipients, one finding each with the same text (or one
 * finding for all): the explanation is told once, with its recipients
 * ("a, b, ..., and 90 more", each address once), in both parts.
 */
START_TEST(test_alert_grouped)
{
	static const size_t n = 100;
	struct alert_finding *fs;
	struct alert_view v;
	struct t_msg t;
	char **rc, *m;
	size_t i, len, pass;

	alert_test_tz();
	rc = xcalloc(n, sizeof(*rc));
	for (i = 0; i < n; i++) {
		rc[i] = xmalloc(48);
		snprintf(rc[i], 48, "user%03zu@ext.example", i);
	}
	fs = xcalloc(n, sizeof(*fs));
	for (pass = 0; pass < 2; pass++) {
		memset(fs, 0, n * sizeof(*fs));
		for (i = 0; i < (pass == 0 ? 50 : 1); i++) {
			fs[i].rule = "first_time_recipient";
			fs[i].text = "初めて送信する宛先が 100 件あります。";
			/* pass 0: 50 findings of 3 overlapping ones (the
			 * third is the next one's first); pass 1: one of
			 * 100 */
			fs[i].rcpts = (const char *const *)rc + (pass == 0 ?
			    2 * i : 0);
			fs[i].nrcpts = pass == 1 ? n : i < 49 ? 3 : 2;
		}
		memset(&v, 0, sizeof(v));
		v.lang = ALERT_LANG_JA;
		v.hostname = AT_HOST;
		v.from_addr = AT_FROM;
		v.to = AT_TO;
		v.subject = "お知らせ";
		v.rcpts = (const char *const *)rc;
		v.nrcpts = n;
		v.findings = fs;
		v.nfindings = pass == 0 ? 50 : 1;
		v.now = AT_T - 60;
		v.release_at = AT_T;
		v.url = AT_URL;
		m = alert_build(&v, &len);
		t_msg_parse(&t, m, len);
		ck_assert_int_eq(t_count(t.part[0].body.data,
		    "初めて送信する宛先が"), 1);
		ck_assert_int_eq(t_count(t.part[1].body.data,
		    "初めて送信する宛先が"), 1);
		t_has(t.part[0].body.data, "該当する宛先: user000@ext.example, "
		    "user001@ext.example");
		t_has(t.part[0].body.data, "user009@ext.example, ほか 90 件");
		ck_assert_ptr_null(strstr(t.part[0].body.data,
		    "first_time_recipient"));
		ck_assert_ptr_null(strstr(t.part[1].body.data,
		    "first_time_recipient"));
		t_msg_clear(&t);
		free(m);
	}
	free(fs);
	for (i = 0; i < n; i++)
		free(rc[i]);
	free(rc);
}
END_TEST

/* Huge subject, finding text, suggestion, address, many findings: all
 * cut, the message stays small and well formed. */
START_TEST(test_alert_bounds)
{
	struct alert_finding *fs;
	struct alert_view v;
	struct t_msg t;
	struct mh_buf subj, want, big;
	const char *rc[1];
	char *m;
	size_t i, len;

	alert_test_tz();
	mh_buf_init(&subj, 1 << 20);
	mh_buf_init(&want, 1 << 20);
	mh_buf_init(&big, 1 << 20);
	mh_buf_puts(&want, "[mailhold] Held: ");
	for (i = 0; i < 10000; i++) {
		mh_buf_puts(&subj, "件");
		if (i < 200)
			mh_buf_puts(&want, "件");
	}
	mh_buf_puts(&want, "\xe2\x80\xa6 \xe2\x80\x94 goes out at 14:05");
	for (i = 0; i < 100000; i++)
		mh_buf_append(&big, "<", 1);
	rc[0] = big.data;

	fs = xcalloc(1000, sizeof(*fs));
	for (i = 0; i < 1000; i++) {
		/* distinct texts (same ones would be told once): 1001 to
		 * 2000 "<", each cut at 1000 */
		fs[i].rule = "r";
		fs[i].text = big.data + big.len - (1001 + i);
		fs[i].suggestion = fs[i].text;
		fs[i].rcpts = rc;
		fs[i].nrcpts = 1;
	}
	memset(&v, 0, sizeof(v));
	v.lang = ALERT_LANG_EN;
	v.hostname = AT_HOST;
	v.from_addr = AT_FROM;
	v.to = big.data;
	v.subject = subj.data;
	v.rcpts = rc;
	v.nrcpts = 1;
	v.findings = fs;
	v.nfindings = 1000;
	v.now = AT_T - 60;
	v.release_at = AT_T;
	v.url = AT_URL;
	m = alert_build(&v, &len);
	ck_assert_uint_lt(len, 8 * 1024 * 1024);
	t_msg_parse(&t, m, len);
	ck_assert_str_eq(t.h.subject, want.data);
	ck_assert_int_eq(t_count(t.part[1].body.data,
	    "<li style=\"margin-bottom:8px\">"), 50);
	/* A finding text: 1000 characters and the cut mark. */
	t_has(t.part[1].body.data, "&lt;&lt;\xe2\x80\xa6");
	ck_assert_int_eq(t_count(t.part[0].body.data, "  - "), 50);
	ck_assert_ptr_nonnull(strstr(t.part[0].body.data, "  - <<<"));
	{
		const char *p = strstr(t.part[0].body.data, "  - ") + 4;
		ck_assert_uint_eq(strcspn(p, "\xe2"), 1000);
	}
	/* The To line stays under 998 (t_check_wire); an address of "<"s
	 * is not shown. */
	t_has(m, "\r\nTo: undisclosed-recipients:;");
	t_msg_clear(&t);
	free(m);
	free(fs);
	mh_buf_clear(&subj);
	mh_buf_clear(&want);
	mh_buf_clear(&big);
}
END_TEST

/* Bad UTF-8 in every field: both parts stay valid UTF-8 (t_alert). */
START_TEST(test_alert_bad_utf8)
{
	static const char *const rc[] = { "\xff\xfe@example.com" };
	struct alert_finding f;
	struct alert_view v;
	struct t_msg t;
	char *m;

	alert_test_tz();
	t_view(&v, &f, ALERT_LANG_JA, false);
	v.subject = "\xe4\xbc\x9a\xe8\xad";
	v.rcpts = rc;
	v.nrcpts = 1;
	f.text = "\xc3\x28 text";
	f.suggestion = "\xed\xa0\x80@x";
	m = t_alert(&v, &t);
	ck_assert_str_eq(t.h.subject, "[mailhold] 保留中: 会\xef\xbf\xbd"
	    "\xef\xbf\xbd \xe2\x80\x94 14:05 に送信されます");
	t_has(t.part[0].body.data, "\xef\xbf\xbd\xef\xbf\xbd@example.com");
	t_msg_clear(&t);
	free(m);
}
END_TEST

/* ------------------------------------------------------------------ */
/* alert_build_failure()                                               */

static const char at_hdr[] =
    "From: Taro <taro@example.jp>\r\n"
    "To: nobody@example.org, gone@example.net\r\n"
    "Subject: =?UTF-8?B?5Lya6K2w?=\r\n"
    "Message-ID: <orig@example.jp>\r\n";

static void
t_fview(struct alert_failure_view *v, enum alert_lang lang,
    const char *const *addrs, const char *const *replies, size_t n)
{
	memset(v, 0, sizeof(*v));
	v->lang = lang;
	v->hostname = AT_HOST;
	v->id = AT_ID;
	v->to = "taro@example.jp";
	v->subject = "会議";
	v->addrs = addrs;
	v->replies = replies;
	v->n = n;
	v->now = AT_T;
	v->hdr = at_hdr;
	v->hlen = sizeof(at_hdr) - 1;
}

/* Builds, parses and checks what every notice must have. */
static char *
t_failure(const struct alert_failure_view *v, struct t_msg *t)
{
	char *m, *f;
	size_t len;

	m = alert_build_failure(v, &len);
	ck_assert_ptr_nonnull(m);
	ck_assert_uint_eq(strlen(m), len);
	t_msg_parse(t, m, len);
	f = t_field(m, t->hlen, "Auto-Submitted", 0);
	ck_assert_str_eq(f, "auto-replied");
	free(f);
	f = t_field(m, t->hlen, "From", 0);
	ck_assert_str_eq(f, "\"Mail Delivery System\" <MAILER-DAEMON@"
	    AT_HOST ">");
	free(f);
	f = t_field(m, t->hlen, "Content-Type", 0);
	ck_assert_msg(strncmp(f, "multipart/report;\treport-type="
	    "delivery-status;\tboundary=\"=_mh_", 55) == 0, "%s", f);
	free(f);
	f = t_field(m, t->hlen, "Message-ID", 0);
	ck_assert_msg(strstr(f, ".notice@" AT_HOST ">") != NULL, "%s", f);
	free(f);
	ck_assert_int_eq(t_field_count(m, t->hlen, "Subject"), 1);
	ck_assert_int_eq(t_field_count(m, t->hlen, "To"), 1);
	ck_assert_int_eq(t_field_count(m, t->hlen, "Bcc"), 0);
	ck_assert_uint_ge(t->nparts, 2);
	ck_assert_str_eq(t->part[0].ctype, "text/plain; charset=UTF-8");
	ck_assert_str_eq(t->part[0].cte, "base64");
	ck_assert(check_utf8_valid(t->part[0].body.data, t->part[0].body.len));
	t_check_wire(t->part[0].body.data, t->part[0].body.len, false, 0);
	ck_assert_str_eq(t->part[1].ctype, "message/delivery-status");
	ck_assert_ptr_null(t->part[1].cte);
	return m;
}

START_TEST(test_failure_en)
{
	static const char *const addrs[] = {
		"nobody@example.org", "gone@example.net",
	};
	static const char *const replies[] = {
		"550 5.1.1 <nobody@example.org>: Recipient address rejected: "
		"User unknown in virtual mailbox table",
		"554 Transaction failed",
	};
	struct alert_failure_view v;
	struct t_msg t;
	const char *txt, *dsn;
	char *m;

	alert_test_tz();
	t_fview(&v, ALERT_LANG_EN, addrs, replies, 2);
	m = t_failure(&v, &t);
	ck_assert_str_eq(t.h.subject, "Undelivered Mail Returned to Sender: "
	    "会議");
	ck_assert_str_eq(t.h.to.v[0].addr, "taro@example.jp");
	txt = t.part[0].body.data;
	dsn = t.part[1].body.data;
	t_has(txt, "This is the mailhold submission proxy at " AT_HOST ".");
	t_has(txt, "<nobody@example.org>\r\n    550 5.1.1 "
	    "<nobody@example.org>: Recipient address rejected: User unknown "
	    "in virtual mailbox table\r\n");
	t_has(txt, "<gone@example.net>\r\n    554 Transaction failed\r\n");
	t_has(txt, "Subject: 会議");
	t_has(txt, "Queue id: " AT_ID);
	t_has(txt, "The headers of your message are attached.");
	t_has(dsn, "Reporting-MTA: dns; " AT_HOST "\r\n");
	t_has(dsn, "\r\n\r\nFinal-Recipient: rfc822; nobody@example.org\r\n"
	    "Action: failed\r\nStatus: 5.1.1\r\nDiagnostic-Code: smtp; 550 "
	    "5.1.1 <nobody@example.org>: Recipient");
	/* Folded at 78, the whole reply once unfolded. */
	{
		const char *g = strstr(dsn, "\r\n\r\nFinal-Recipient:") + 4;
		char *d = t_field(g, strlen(g), "Diagnostic-Code", 0);
		ck_assert_str_eq(d, "smtp; 550 5.1.1 <nobody@example.org>: "
		    "Recipient address rejected: User unknown in virtual "
		    "mailbox table");
		free(d);
	}
	t_has(dsn, "\r\n\r\nFinal-Recipient: rfc822; gone@example.net\r\n"
	    "Action: failed\r\nStatus: 5.0.0\r\nDiagnostic-Code: smtp; 554 "
	    "Transaction failed\r\n");
	ck_assert_uint_eq(t.nparts, 3);
	ck_assert_str_eq(t.part[2].ctype, "text/rfc822-headers");
	ck_assert_ptr_null(t.part[2].cte);
	/* Quoted octet for octet, its last CRLF kept. */
	ck_assert_uint_eq(t.part[2].body.len, sizeof(at_hdr) - 1);
	ck_assert_mem_eq(t.part[2].body.data, at_hdr, sizeof(at_hdr) - 1);
	t_msg_clear(&t);
	free(m);
}
END_TEST

START_TEST(test_failure_ja)
{
	static const char *const addrs[] = { "nobody@example.org" };
	static const char *const replies[] = { "550 5.1.1 unknown" };
	struct alert_failure_view v;
	struct t_msg t;
	char *m, *cl;

	alert_test_tz();
	t_fview(&v, ALERT_LANG_JA, addrs, replies, 1);
	m = t_failure(&v, &t);
	ck_assert_str_eq(t.h.subject, "配信できなかったメールのお知らせ: 会議");
	t_has(t.part[0].body.data, "こちらは " AT_HOST " のメール送信プロキシ "
	    "mailhold です。");
	t_has(t.part[0].body.data, "次の宛先に配信できませんでした。");
	t_has(t.part[0].body.data, "<nobody@example.org>\r\n    550 5.1.1 "
	    "unknown");
	t_has(t.part[0].body.data, "キュー ID: " AT_ID);
	cl = t_field(m, t.hlen, "Content-Language", 0);
	ck_assert_str_eq(cl, "ja");
	free(cl);
	t_msg_clear(&t);
	free(m);

	v.subject = NULL;
	m = t_failure(&v, &t);
	ck_assert_str_eq(t.h.subject, "配信できなかったメールのお知らせ");
	t_msg_clear(&t);
	free(m);
}
END_TEST

/* The RFC 3464 status and diagnostic taken from the reply. */
struct dsn_case {
	const char	*reply;
	const char	*want_status;
	const char	*want_diag;	/* NULL: no Diagnostic-Code */
};

static const struct dsn_case dsn_cases[] = {
	{ "550 5.1.1 no such user", "5.1.1", "smtp; 550 5.1.1 no such user" },
	{ "550-5.7.1 policy", "5.7.1", "smtp; 550-5.7.1 policy" },
	{ "421 4.4.2 timeout", "4.4.2", "smtp; 421 4.4.2 timeout" },
	{ "450 try later", "4.0.0", "smtp; 450 try later" },
	{ "550 denied", "5.0.0", "smtp; 550 denied" },
	{ "550", "5.0.0", "smtp; 550" },
	{ "550 5.1.1234 odd", "5.0.0", "smtp; 550 5.1.1234 odd" },
	{ "550 5.1 short", "5.0.0", "smtp; 550 5.1 short" },
	{ "550 3.1.1 wrong class", "5.0.0", "smtp; 550 3.1.1 wrong class" },
	{ "gave up after 432000 s", "5.0.0",
	  "X-mailhold; gave up after 432000 s" },
	{ "55 short", "5.0.0", "X-mailhold; 55 short" },
	{ "", "5.0.0", NULL },
	{ NULL, "5.0.0", NULL },
	{ "550 5.1.1 caf\xc3\xa9\r\nBcc: x@y", "5.1.1",
	  "smtp; 550 5.1.1 caf+C3+A9 Bcc: x@y" },
};

START_TEST(test_failure_dsn)
{
	const struct dsn_case *c = &dsn_cases[_i];
	const char *addrs[1] = { "rcpt@example.org" };
	const char *replies[1] = { c->reply };
	struct alert_failure_view v;
	struct t_msg t;
	struct mh_buf want;
	char *m, *st, *diag;
	const char *grp;

	alert_test_tz();
	t_fview(&v, ALERT_LANG_EN, addrs, replies, 1);
	m = t_failure(&v, &t);
	grp = strstr(t.part[1].body.data, "\r\n\r\nFinal-Recipient:");
	ck_assert_ptr_nonnull(grp);
	grp += 4;
	st = t_field(grp, strlen(grp), "Status", 0);
	ck_assert_str_eq(st, c->want_status);
	diag = t_field(grp, strlen(grp), "Diagnostic-Code", 0);
	if (c->want_diag == NULL)
		ck_assert_ptr_null(diag);
	else {
		ck_assert_ptr_nonnull(diag);
		ck_assert_str_eq(diag, c->want_diag);
	}
	t_no_line_start(t.part[1].body.data, "Bcc");
	/* The text part has the reply cleaned. */
	mh_buf_init(&want, 4096);
	mh_buf_printf(&want, "<rcpt@example.org>\r\n    %s\r\n",
	    c->reply == NULL ? "" : strstr(c->reply, "\r\n") ?
	    "550 5.1.1 caf\xc3\xa9 Bcc: x@y" : c->reply);
	t_has(t.part[0].body.data, want.data);
	mh_buf_clear(&want);
	free(st);
	free(diag);
	t_msg_clear(&t);
	free(m);
}
END_TEST

/* 8-bit, long-lined or LF-only original headers go base64, made CRLF. */
START_TEST(test_failure_orig_8bit)
{
	const char *addrs[1] = { "rcpt@example.org" };
	const char *replies[1] = { "550 5.1.1 x" };
	struct alert_failure_view v;
	struct t_msg t;
	struct mh_buf h, want;
	char *m;
	size_t i;

	alert_test_tz();
	mh_buf_init(&h, 1 << 20);
	mh_buf_init(&want, 1 << 20);
	mh_buf_puts(&h, "Subject: 生の UTF-8\nX-Long: ");
	mh_buf_puts(&want, "Subject: 生の UTF-8\r\nX-Long: ");
	for (i = 0; i < 2000; i++) {
		mh_buf_puts(&h, "y");
		mh_buf_puts(&want, "y");
	}
	mh_buf_puts(&h, "\n");
	mh_buf_puts(&want, "\r\n");
	t_fview(&v, ALERT_LANG_EN, addrs, replies, 1);
	v.hdr = h.data;
	v.hlen = h.len;
	m = t_failure(&v, &t);
	ck_assert_uint_eq(t.nparts, 3);
	ck_assert_str_eq(t.part[2].ctype, "text/rfc822-headers; "
	    "charset=UTF-8");
	ck_assert_str_eq(t.part[2].cte, "base64");
	ck_assert_uint_eq(t.part[2].body.len, want.len);
	ck_assert_mem_eq(t.part[2].body.data, want.data, want.len);
	t_msg_clear(&t);
	free(m);

	/* Not UTF-8 at all (Shift_JIS): no charset claimed. */
	v.hdr = "Subject: \x89\xef\x8b\x63\r\n";
	v.hlen = strlen(v.hdr);
	m = t_failure(&v, &t);
	ck_assert_str_eq(t.part[2].ctype, "text/rfc822-headers");
	ck_assert_str_eq(t.part[2].cte, "base64");
	ck_assert_mem_eq(t.part[2].body.data, v.hdr, v.hlen);
	t_msg_clear(&t);
	free(m);
	mh_buf_clear(&h);
	mh_buf_clear(&want);
}
END_TEST

/* No headers left, many recipients, hostile addresses. */
START_TEST(test_failure_bounds)
{
	struct alert_failure_view v;
	struct t_msg t;
	struct mh_buf a1, r1;
	char **addrs, **replies, *m, buf[64];
	size_t i;

	alert_test_tz();
	addrs = xcalloc(500, sizeof(*addrs));
	replies = xcalloc(500, sizeof(*replies));
	for (i = 0; i < 500; i++) {
		snprintf(buf, sizeof(buf), "r%03zu@example.org", i);
		addrs[i] = xstrdup(buf);
		replies[i] = xstrdup("550 5.1.1 no");
	}
	free(addrs[0]);
	addrs[0] = xstrdup("\"a\r\nBcc: evil@x\"@example.org");
	/* Words that cannot be folded, 3 octets per octet as "+XX": the
	 * delivery-status lines must still stay under 998. */
	free(addrs[1]);
	free(replies[1]);
	mh_buf_init(&a1, 4096);
	mh_buf_init(&r1, 4096);
	mh_buf_puts(&r1, "550 ");
	for (i = 0; i < 500; i++) {
		if (i < 300)
			mh_buf_puts(&a1, "漢");
		mh_buf_puts(&r1, "字");
	}
	mh_buf_puts(&a1, "@example.org");
	addrs[1] = mh_buf_steal(&a1, NULL);
	replies[1] = mh_buf_steal(&r1, NULL);
	t_fview(&v, ALERT_LANG_EN, (const char *const *)addrs,
	    (const char *const *)replies, 500);
	v.hdr = NULL;
	v.hlen = 0;
	v.subject = "Hi\r\nBcc: evil@example.net";
	m = t_failure(&v, &t);
	ck_assert_uint_eq(t.nparts, 2);
	ck_assert_uint_eq(t.h.bcc.n, 0);
	ck_assert_str_eq(t.h.subject, "Undelivered Mail Returned to Sender: "
	    "Hi Bcc: evil@example.net");
	t_has(t.part[0].body.data, "no longer available");
	t_has(t.part[0].body.data, "<r199@example.org>");
	t_hasnt(t.part[0].body.data, "<r200@example.org>");
	t_has(t.part[0].body.data, "and 300 more");
	ck_assert_int_eq(t_count(t.part[1].body.data, "Final-Recipient:"),
	    200);
	t_no_line_start(t.part[1].body.data, "Bcc");
	t_has(t.part[1].body.data, "Final-Recipient: rfc822; \"a Bcc: "
	    "evil@x\"@example.org\r\n");
	t_msg_clear(&t);
	free(m);
	for (i = 0; i < 500; i++) {
		free(addrs[i]);
		free(replies[i]);
	}
	free(addrs);
	free(replies);
}
END_TEST

/* ------------------------------------------------------------------ */
/* notify_failure_new() against a real queue                           */

static struct {
	char			 dir[64];
	char			 path[128];
	struct event_base	*base;
	struct event		*tick;
	struct queue		*q;
	int			 done, res;
} nfx;

static void
notify_test_tick(evutil_socket_t fd, short what, void *arg)
{
}

static void
notify_test_cb(int result, void *arg)
{
	nfx.done++;
	nfx.res = result;
}

static void
notify_test_setup(void)
{
	struct timeval tv = { 0, 10000 };
	char err[256];

	ck_assert_int_eq(evthread_use_pthreads(), 0);
	mh_strlcpy(nfx.dir, "/tmp/check_alert.XXXXXX", sizeof(nfx.dir));
	ck_assert_ptr_nonnull(mkdtemp(nfx.dir));
	ck_assert_int_ne(mh_snprintf(nfx.path, sizeof(nfx.path),
	    "%s/queue.db", nfx.dir), -1);
	nfx.base = event_base_new();
	ck_assert_ptr_nonnull(nfx.base);
	nfx.tick = event_new(nfx.base, -1, EV_PERSIST, notify_test_tick,
	    NULL);
	ck_assert_int_eq(event_add(nfx.tick, &tv), 0);
	err[0] = '\0';
	nfx.q = queue_open(nfx.base, nfx.path, 0, 0, err, sizeof(err));
	ck_assert_msg(nfx.q != NULL, "queue_open: %s", err);
	nfx.done = 0;
}

static void
notify_test_teardown(void)
{
	char p[PATH_MAX];
	struct dirent *de;
	DIR *d;

	queue_close(nfx.q);
	event_free(nfx.tick);
	event_base_free(nfx.base);
	if ((d = opendir(nfx.dir)) != NULL) {
		while ((de = readdir(d)) != NULL) {
			if (strcmp(de->d_name, ".") == 0 ||
			    strcmp(de->d_name, "..") == 0)
				continue;
			if (mh_snprintf(p, sizeof(p), "%s/%s", nfx.dir,
			    de->d_name) != -1)
				unlink(p);
		}
		closedir(d);
	}
	rmdir(nfx.dir);
}

START_TEST(test_notify_failure)
{
	static const char body[] =
	    "From: Hanako <hanako@example.jp>\r\n"
	    "To: x@example.org\r\n"
	    "Subject: =?ISO-2022-JP?B?GyRCOzNFRBsoQg==?= san\r\n"
	    "\r\n"
	    "secret body text\r\n";
	const char *addrs[1] = { "x@example.org" };
	const char *replies[1] = { "550 5.1.1 <x@example.org>: unknown" };
	struct queue_msg_new *nm, *n;
	struct queue_msg m;
	struct t_msg t;
	int i;

	nm = xcalloc(1, sizeof(*nm));
	queue_id_new(nm->id);
	nm->sender = xstrdup("hanako@example.jp");
	nm->nrcpts = 1;
	nm->rcpts = xcalloc(1, sizeof(*nm->rcpts));
	nm->rcpts[0] = xstrdup("x@example.org");
	nm->client_addr = xstrdup("192.0.2.1");
	nm->helo = xstrdup("client");
	nm->received_at = mh_now();
	nm->release_at = nm->received_at + 60;
	nm->state = QUEUE_HELD;
	nm->body_fd = -1;
	nm->body = xstrdup(body);
	nm->body_len = strlen(body);
	memset(&m, 0, sizeof(m));
	mh_strlcpy(m.id, nm->id, sizeof(m.id));
	m.sender = "hanako@example.jp";
	ck_assert_int_eq(queue_submit(nfx.q, nm, notify_test_cb, NULL), 0);
	for (i = 0; i < 1000 && nfx.done == 0; i++)
		event_base_loop(nfx.base, EVLOOP_ONCE);
	ck_assert_int_eq(nfx.done, 1);
	ck_assert_int_eq(nfx.res, 0);

	n = notify_failure_new(nfx.q, &m, m.sender, NULL, addrs, replies, 1,
	    AT_HOST, ALERT_LANG_JA);
	ck_assert_ptr_nonnull(n);
	ck_assert_str_eq(n->sender, "");
	ck_assert_uint_eq(n->nrcpts, 1);
	ck_assert_str_eq(n->rcpts[0], "hanako@example.jp");
	ck_assert(n->flags & QUEUE_F_NOTICE);
	ck_assert(!(n->flags & QUEUE_F_SMTPUTF8));
	ck_assert_int_eq(n->state, QUEUE_HELD);
	ck_assert_int_eq(n->release_at, n->received_at);
	ck_assert_str_ne(n->id, m.id);
	ck_assert_ptr_nonnull(n->body);
	ck_assert_uint_eq(strlen(n->body), n->body_len);
	t_msg_parse(&t, n->body, n->body_len);
	/* The original Subject (ISO-2022-JP) decoded into the notice's. */
	ck_assert_str_eq(t.h.subject, "配信できなかったメールのお知らせ: "
	    "山田 san");
	ck_assert_uint_eq(t.nparts, 3);
	t_has(t.part[0].body.data, "550 5.1.1 <x@example.org>: unknown");
	t_has(t.part[1].body.data, "Final-Recipient: rfc822; x@example.org");
	/* The header block only, never the body. */
	ck_assert_str_eq(t.part[2].body.data, "From: Hanako "
	    "<hanako@example.jp>\r\nTo: x@example.org\r\nSubject: "
	    "=?ISO-2022-JP?B?GyRCOzNFRBsoQg==?= san\r\n");
	t_hasnt(n->body, "secret body");
	t_msg_clear(&t);
	queue_msg_new_free(n);

	/* The body is gone: a notice all the same, without headers.  The
	 * notice needs SMTPUTF8 only for a UTF-8 recipient, whatever the
	 * original needed (its headers are quoted in base64). */
	mh_strlcpy(m.id, "ffffffffffffffff", sizeof(m.id));
	m.flags = QUEUE_F_SMTPUTF8;
	n = notify_failure_new(nfx.q, &m, m.sender, NULL, addrs, replies, 1,
	    AT_HOST, ALERT_LANG_EN);
	ck_assert_ptr_nonnull(n);
	ck_assert(!(n->flags & QUEUE_F_SMTPUTF8));
	t_msg_parse(&t, n->body, n->body_len);
	ck_assert_str_eq(t.h.subject, "Undelivered Mail Returned to Sender");
	ck_assert_uint_eq(t.nparts, 2);
	t_msg_clear(&t);
	queue_msg_new_free(n);

	m.sender = "\xe8\x8a\xb1\xe5\xad\x90@example.jp";
	n = notify_failure_new(nfx.q, &m, m.sender, NULL, addrs, replies, 1,
	    AT_HOST, ALERT_LANG_EN);
	ck_assert_ptr_nonnull(n);
	ck_assert(n->flags & QUEUE_F_SMTPUTF8);
	ck_assert_str_eq(n->rcpts[0], m.sender);
	queue_msg_new_free(n);

	/* The same notice to the administrator (the upstream cannot carry
	 * the sender's address): plain ASCII, no SMTPUTF8. */
	n = notify_failure_new(nfx.q, &m, "postmaster@" AT_HOST, m.sender,
	    addrs, replies, 1, AT_HOST, ALERT_LANG_EN);
	ck_assert_ptr_nonnull(n);
	ck_assert(!(n->flags & QUEUE_F_SMTPUTF8));
	ck_assert_str_eq(n->rcpts[0], "postmaster@" AT_HOST);
	t_has(n->body, "To: <postmaster@" AT_HOST ">");
	/* Worded for the administrator: whose mail, why they were not
	 * told, what to do; never "your message". */
	t_msg_parse(&t, n->body, n->body_len);
	ck_assert_str_eq(t.h.subject, "[mailhold] Could not tell "
	    "\xe8\x8a\xb1\xe5\xad\x90@example.jp that their mail failed");
	t_has(t.part[0].body.data, "A message from \xe8\x8a\xb1\xe5\xad\x90"
	    "@example.jp could not be delivered");
	t_has(t.part[0].body.data, "SMTPUTF8");
	t_has(t.part[0].body.data, "Please tell them yourself.");
	t_hasnt(t.part[0].body.data, "Your message");
	t_hasnt(t.part[0].body.data, "your message");
	t_msg_clear(&t);
	queue_msg_new_free(n);

	/* mailhold's own notice to the sender failed: the administrator is
	 * told that, in Japanese too. */
	m.flags = QUEUE_F_NOTICE;
	m.sender = "";
	n = notify_failure_new(nfx.q, &m, "postmaster@" AT_HOST,
	    "hanako@example.jp", addrs, replies, 1, AT_HOST, ALERT_LANG_JA);
	ck_assert_ptr_nonnull(n);
	t_msg_parse(&t, n->body, n->body_len);
	ck_assert_str_eq(t.h.subject, "[mailhold] hanako@example.jp さんに"
	    "配信不能を知らせられませんでした");
	t_has(t.part[0].body.data, "mailhold から hanako@example.jp さんへの"
	    "お知らせ");
	t_has(t.part[0].body.data, "ご本人に直接お伝えください。");
	t_hasnt(t.part[0].body.data, "お送りいただいた");
	t_msg_clear(&t);
	queue_msg_new_free(n);
}
END_TEST

/* ------------------------------------------------------------------ */

static Suite *
alert_suite(void)
{
	Suite *s = suite_create("alert");
	TCase *tc;

	tc = tcase_create("subject");
	tcase_add_loop_test(tc, test_enc_subject, 0, (int)nitems(enc_cases));
	tcase_add_test(tc, test_enc_subject_mixed_readable);
	tcase_add_test(tc, test_enc_subject_bounded);
	tcase_add_test(tc, test_enc_subject_random);
	tcase_add_test(tc, test_enc_subject_full);
	suite_add_tcase(s, tc);

	tc = tcase_create("time_lang");
	tcase_add_loop_test(tc, test_time_str, 0, (int)nitems(time_cases));
	tcase_add_loop_test(tc, test_lang_parse, 0, (int)nitems(lang_cases));
	tcase_add_test(tc, test_lang_to_str);
	suite_add_tcase(s, tc);

	tc = tcase_create("alert");
	tcase_set_timeout(tc, 60);
	tcase_add_loop_test(tc, test_alert_build, 0,
	    (int)nitems(alert_cases));
	tcase_add_test(tc, test_alert_random_ids);
	tcase_add_test(tc, test_alert_minimal);
	tcase_add_test(tc, test_alert_many_rcpts);
	tcase_add_test(tc, test_alert_bounds);
	tcase_add_test(tc, test_alert_grouped);
	tcase_add_test(tc, test_alert_bad_utf8);
	suite_add_tcase(s, tc);

	tc = tcase_create("hostile");
	tcase_add_test(tc, test_alert_hostile_html);
	tcase_add_test(tc, test_alert_hostile_headers);
	tcase_add_test(tc, test_alert_bad_url);
	suite_add_tcase(s, tc);

	tc = tcase_create("failure");
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_failure_en);
	tcase_add_test(tc, test_failure_ja);
	tcase_add_loop_test(tc, test_failure_dsn, 0, (int)nitems(dsn_cases));
	tcase_add_test(tc, test_failure_orig_8bit);
	tcase_add_test(tc, test_failure_bounds);
	suite_add_tcase(s, tc);

	tc = tcase_create("notify");
	tcase_set_timeout(tc, 60);
	tcase_add_checked_fixture(tc, notify_test_setup,
	    notify_test_teardown);
	tcase_add_test(tc, test_notify_failure);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner *sr = srunner_create(alert_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
