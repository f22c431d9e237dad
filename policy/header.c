/*
 * header.c - see header.h.
 *
 * Layout: UTF-8 text output and charsets (RFC 2047 §4, iconv(3)); the
 * line splitter shared by the top-level block and by MIME part headers
 * (RFC 5322 §2.2, §2.2.3 unfolding); the address-list tokenizer and
 * parser (RFC 5322 §3.4 plus the obsolete forms of §4.4); MIME parameters
 * (RFC 2045 §5.1, RFC 2231); the multipart walk (RFC 2046 §5.1.1); the
 * Bcc rewrite.  Every loop advances its cursor, every buffer has a cap
 * derived from struct header_limits, so time is linear in the input.
 */
#include "header.h"

#include <errno.h>
#include <iconv.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "addr.h"
#include "util.h"

/* Tokens in one address-list item: more is junk, not a mailbox. */
#define HEADER_ITEM_TOKENS_MAX	1024
/* Octets of the header block of one MIME part. */
#define HEADER_PART_BLOCK_MAX	(64 * 1024)
/* RFC 2231 continuations kept per parameter. */
#define HEADER_SECTIONS_MAX	32
/* RFC 2046 §5.1.1: a boundary is 1 to 70 characters. */
#define HEADER_BOUNDARY_MAX	70
/* "type/subtype" kept for a part. */
#define HEADER_TYPE_MAX		127

static const char header_fffd[] = "\xef\xbf\xbd";	/* U+FFFD */

/* ------------------------------------------------------------------ */
/* UTF-8 output with a cap                                             */

struct header_text {
	struct mh_buf	 buf;
	unsigned	*defects;
	bool		 full;
};

static void
header_text_init(struct header_text *t, size_t max, unsigned *defects)
{
	mh_buf_init(&t->buf, max);
	t->defects = defects;
	t->full = false;
}

/* Appends one whole character (or n ASCII octets that may be cut). */
static void
header_text_put(struct header_text *t, const void *p, size_t n, bool cut)
{
	size_t room;

	if (t->full)
		return;
	room = t->buf.max - t->buf.len;
	if (n > room) {
		if (cut && room > 0)
			(void)mh_buf_append(&t->buf, p, room);
		t->full = true;
		*t->defects |= HEADER_D_TEXT_TRUNCATED;
		return;
	}
	if (mh_buf_append(&t->buf, p, n) == -1) {
		t->full = true;
		*t->defects |= HEADER_D_TEXT_TRUNCATED;
	}
}

/* Length of the well-formed UTF-8 sequence at p (RFC 3629 §4), or 0. */
static size_t
header_utf8_len(const unsigned char *p, size_t avail)
{
	unsigned char lo = 0x80, hi = 0xbf;
	size_t n, i;

	if (p[0] < 0x80)
		return 1;
	if (p[0] >= 0xc2 && p[0] <= 0xdf)
		n = 2;
	else if (p[0] >= 0xe0 && p[0] <= 0xef) {
		n = 3;
		if (p[0] == 0xe0)
			lo = 0xa0;
		else if (p[0] == 0xed)
			hi = 0x9f;
	} else if (p[0] >= 0xf0 && p[0] <= 0xf4) {
		n = 4;
		if (p[0] == 0xf0)
			lo = 0x90;
		else if (p[0] == 0xf4)
			hi = 0x8f;
	} else
		return 0;
	if (avail < n || p[1] < lo || p[1] > hi)
		return 0;
	for (i = 2; i < n; i++)
		if (p[i] < 0x80 || p[i] > 0xbf)
			return 0;
	return n;
}

/*
 * Appends text that should be UTF-8: well-formed sequences are copied,
 * other octets become U+FFFD and set the defect bad; C0 controls, DEL and
 * C1 controls become a space, so the result is safe to show and to log.
 */
static void
header_text_utf8(struct header_text *t, const unsigned char *p, size_t n,
    unsigned bad)
{
	size_t i = 0, k;

	while (i < n && !t->full) {
		if (p[i] < 0x80) {
			for (k = i; k < n && p[k] >= 0x20 && p[k] < 0x7f; k++)
				;
			if (k > i) {
				header_text_put(t, p + i, k - i, true);
				i = k;
			} else {
				header_text_put(t, " ", 1, true);
				i++;
			}
			continue;
		}
		k = header_utf8_len(p + i, n - i);
		if (k == 0) {
			header_text_put(t, header_fffd, 3, false);
			*t->defects |= bad;
			i++;
			continue;
		}
		if (k == 2 && p[i] == 0xc2 && p[i + 1] < 0xa0)
			header_text_put(t, " ", 1, true);
		else
			header_text_put(t, p + i, k, false);
		i += k;
	}
}

/* Returns the NUL-terminated text and releases t; trailing blanks cut. */
static char *
header_text_finish(struct header_text *t)
{
	char *s;
	size_t n;

	while (t->buf.len > 0 && t->buf.data[t->buf.len - 1] == ' ')
		t->buf.len--;
	if (t->buf.data != NULL)
		t->buf.data[t->buf.len] = '\0';
	s = mh_buf_steal(&t->buf, &n);
	return s;
}

/* ------------------------------------------------------------------ */
/* Charsets                                                            */

enum header_cs {
	HEADER_CS_UTF8 = 0,
	HEADER_CS_ASCII,
	HEADER_CS_LATIN1,
	HEADER_CS_2022JP,
	HEADER_CS_ICONV,
};

struct header_charset {
	const char	*name;		/* lowercase MIME name or alias */
	int		 cs;		/* enum header_cs */
	const char	*iconv;		/* iconv(3) name for HEADER_CS_ICONV */
};

/*
 * Japanese labels are read as the Microsoft supersets that Japanese
 * mailers actually write: Shift_JIS as CP932, EUC-JP as EUC-JP-MS, and
 * ISO-2022-JP through EUC-JP-MS (see header_2022jp_to_euc) so that NEC
 * special characters such as U+2460 decode.  XXX: CP932 maps 0x8160 to
 * U+FF5E, not U+301C; subjects are compared by substring, which is fine.
 */
static const struct header_charset header_charsets[] = {
	{ "utf-8", HEADER_CS_UTF8, NULL },
	{ "utf8", HEADER_CS_UTF8, NULL },
	{ "us-ascii", HEADER_CS_ASCII, NULL },
	{ "ascii", HEADER_CS_ASCII, NULL },
	{ "iso-8859-1", HEADER_CS_LATIN1, NULL },
	{ "iso8859-1", HEADER_CS_LATIN1, NULL },
	{ "latin1", HEADER_CS_LATIN1, NULL },
	{ "iso-2022-jp", HEADER_CS_2022JP, NULL },
	{ "csiso2022jp", HEADER_CS_2022JP, NULL },
	{ "shift_jis", HEADER_CS_ICONV, "CP932" },
	{ "shift-jis", HEADER_CS_ICONV, "CP932" },
	{ "sjis", HEADER_CS_ICONV, "CP932" },
	{ "x-sjis", HEADER_CS_ICONV, "CP932" },
	{ "ms_kanji", HEADER_CS_ICONV, "CP932" },
	{ "csshiftjis", HEADER_CS_ICONV, "CP932" },
	{ "windows-31j", HEADER_CS_ICONV, "CP932" },
	{ "cp932", HEADER_CS_ICONV, "CP932" },
	{ "euc-jp", HEADER_CS_ICONV, "EUC-JP-MS" },
	{ "x-euc-jp", HEADER_CS_ICONV, "EUC-JP-MS" },
	{ "windows-1252", HEADER_CS_ICONV, "CP1252" },
};
#define HEADER_NCHARSETS \
	(sizeof(header_charsets) / sizeof(header_charsets[0]))

/*
 * The table index of a charset label (RFC 2231 §5: "charset*lang" is
 * allowed in an encoded word; the language is ignored), or -1.
 */
static int
header_charset_find(const char *s, size_t n)
{
	const char *star;
	size_t i;

	if ((star = memchr(s, '*', n)) != NULL)
		n = (size_t)(star - s);
	for (i = 0; i < HEADER_NCHARSETS; i++)
		if (strlen(header_charsets[i].name) == n &&
		    mh_strncasecmp(header_charsets[i].name, s, n) == 0)
			return (int)i;
	return -1;
}

/*
 * Rewrites ISO-2022-JP (RFC 1468) as EUC-JP for iconv's EUC-JP-MS: JIS X
 * 0208 pairs get the high bit, JIS X 0201 kana take SS2, JIS X 0212 takes
 * SS3.  glibc's own ISO-2022-JP refuses the NEC row 13 that every
 * Japanese mailer emits (CP50220); EUC-JP-MS has it.  Octets that do not
 * fit become 0xff, which iconv then reports as invalid.
 */
static void
header_2022jp_to_euc(const unsigned char *p, size_t n, struct mh_buf *o)
{
	enum { M_ASCII, M_KANA, M_0208, M_0212 } m = M_ASCII;
	unsigned char b[3];
	size_t i = 0;

	while (i < n) {
		unsigned char c = p[i];

		if (c == 0x1b) {
			size_t r = n - i;

			if (r >= 3 && p[i + 1] == '(' && (p[i + 2] == 'B' ||
			    p[i + 2] == 'J' || p[i + 2] == 'H')) {
				m = M_ASCII;
				i += 3;
			} else if (r >= 3 && p[i + 1] == '(' &&
			    p[i + 2] == 'I') {
				m = M_KANA;
				i += 3;
			} else if (r >= 3 && p[i + 1] == '$' &&
			    (p[i + 2] == '@' || p[i + 2] == 'B')) {
				m = M_0208;
				i += 3;
			} else if (r >= 4 && p[i + 1] == '$' &&
			    p[i + 2] == '(' && p[i + 3] == 'D') {
				m = M_0212;
				i += 4;
			} else if (r >= 4 && p[i + 1] == '$' &&
			    p[i + 2] == '(' && (p[i + 3] == 'B' ||
			    p[i + 3] == '@')) {
				m = M_0208;
				i += 4;
			} else {
				b[0] = 0xff;
				(void)mh_buf_append(o, b, 1);
				i++;
			}
			continue;
		}
		if (c >= 0x80) {
			b[0] = 0xff;
			(void)mh_buf_append(o, b, 1);
			i++;
			continue;
		}
		if (c < 0x21 || c > 0x7e || m == M_ASCII) {
			if (c == '\r' || c == '\n')
				m = M_ASCII;
			b[0] = c;
			(void)mh_buf_append(o, b, 1);
			i++;
			continue;
		}
		if (m == M_KANA) {
			if (c <= 0x5f) {
				b[0] = 0x8e;
				b[1] = (unsigned char)(c | 0x80);
				(void)mh_buf_append(o, b, 2);
			} else {
				b[0] = 0xff;
				(void)mh_buf_append(o, b, 1);
			}
			i++;
			continue;
		}
		if (i + 1 >= n || p[i + 1] < 0x21 || p[i + 1] > 0x7e) {
			b[0] = 0xff;
			(void)mh_buf_append(o, b, 1);
			i++;
			continue;
		}
		if (m == M_0212) {
			b[0] = 0x8f;
			b[1] = (unsigned char)(c | 0x80);
			b[2] = (unsigned char)(p[i + 1] | 0x80);
			(void)mh_buf_append(o, b, 3);
		} else {
			b[0] = (unsigned char)(c | 0x80);
			b[1] = (unsigned char)(p[i + 1] | 0x80);
			(void)mh_buf_append(o, b, 2);
		}
		i += 2;
	}
}

/*
 * Converts with iconv(3) to UTF-8 in 1 KiB steps (iconv writes whole
 * characters only, so a step never splits one).  An invalid or truncated
 * sequence costs one octet and one U+FFFD; the loop always advances.
 */
static void
header_text_iconv(struct header_text *t, const char *from,
    const unsigned char *p, size_t n)
{
	char out[1024], *in = (char *)(uintptr_t)p, *op;
	size_t inleft = n, oleft, r;
	iconv_t cd;

	if ((cd = iconv_open("UTF-8", from)) == (iconv_t)-1) {
		*t->defects |= HEADER_D_CHARSET;
		header_text_utf8(t, p, n, HEADER_D_CHARSET);
		return;
	}
	while (inleft > 0 && !t->full) {
		op = out;
		oleft = sizeof(out);
		r = iconv(cd, &in, &inleft, &op, &oleft);
		header_text_utf8(t, (const unsigned char *)out,
		    sizeof(out) - oleft, HEADER_D_CHARSET);
		if (r != (size_t)-1)
			break;
		if (errno == E2BIG)
			continue;
		header_text_put(t, header_fffd, 3, false);
		*t->defects |= HEADER_D_CHARSET;
		in++;
		inleft--;
		(void)iconv(cd, NULL, NULL, NULL, NULL);
	}
	op = out;
	oleft = sizeof(out);
	if (iconv(cd, NULL, NULL, &op, &oleft) != (size_t)-1)
		header_text_utf8(t, (const unsigned char *)out,
		    sizeof(out) - oleft, HEADER_D_CHARSET);
	iconv_close(cd);
}

/* Appends n octets in charset csi (-1: unknown) as UTF-8. */
static void
header_text_charset(struct header_text *t, int csi, const unsigned char *p,
    size_t n)
{
	struct mh_buf euc;
	unsigned char u[2];
	size_t i;

	if (csi < 0) {
		*t->defects |= HEADER_D_CHARSET;
		header_text_utf8(t, p, n, HEADER_D_CHARSET);
		return;
	}
	switch (header_charsets[csi].cs) {
	case HEADER_CS_UTF8:
		header_text_utf8(t, p, n, HEADER_D_CHARSET);
		break;
	case HEADER_CS_ASCII:
		for (i = 0; i < n && !t->full; i++) {
			if (p[i] < 0x80)
				header_text_utf8(t, p + i, 1, 0);
			else {
				header_text_put(t, header_fffd, 3, false);
				*t->defects |= HEADER_D_CHARSET;
			}
		}
		break;
	case HEADER_CS_LATIN1:
		for (i = 0; i < n && !t->full; i++) {
			if (p[i] < 0xa0)
				header_text_utf8(t, p + i, 1, 0);
			else {
				u[0] = (unsigned char)(0xc0 | (p[i] >> 6));
				u[1] = (unsigned char)(0x80 | (p[i] & 0x3f));
				header_text_put(t, u, 2, false);
			}
		}
		break;
	case HEADER_CS_2022JP:
		/* At most three EUC octets per input octet. */
		if (n > (SIZE_MAX - 16) / 3) {
			*t->defects |= HEADER_D_TEXT_TRUNCATED;
			break;
		}
		mh_buf_init(&euc, n * 3 + 16);
		header_2022jp_to_euc(p, n, &euc);
		header_text_iconv(t, "EUC-JP-MS",
		    (const unsigned char *)euc.data, euc.len);
		mh_buf_clear(&euc);
		break;
	default:
		header_text_iconv(t, header_charsets[csi].iconv, p, n);
		break;
	}
}

/* ------------------------------------------------------------------ */
/* RFC 2047 encoded words                                              */

struct header_ew {
	const char	*cs;
	size_t		 cslen;
	char		 enc;		/* 'B' or 'Q' */
	const char	*text;
	size_t		 textlen;
	size_t		 end;		/* offset after "?=" */
};

/* RFC 2047 §2 token: no SPACE, CTLs or especials ('*' is RFC 2231). */
static bool
header_is_ewtoken(unsigned char c)
{
	return c > 0x20 && c < 0x7f && strchr("()<>@,;:\"/[]?.=", c) == NULL;
}

/*
 * Parses "=?charset?B|Q?text?=" at s[i].  The scan stops at the first
 * octet that cannot be in the word, so a failed attempt costs at most the
 * distance to the next '?' or blank.
 */
static bool
header_ew_parse(const char *s, size_t n, size_t i, struct header_ew *ew)
{
	size_t p = i + 2, q;

	if (n - i < 8 || s[i] != '=' || s[i + 1] != '?')
		return false;
	for (q = p; q < n && q - p <= 64 &&
	    header_is_ewtoken((unsigned char)s[q]); q++)
		;
	if (q == p || q >= n || s[q] != '?' || q - p > 64)
		return false;
	ew->cs = s + p;
	ew->cslen = q - p;
	if (q + 2 >= n || s[q + 2] != '?')
		return false;
	ew->enc = (char)mh_tolower((unsigned char)s[q + 1]) == 'b' ? 'B' :
	    (char)mh_tolower((unsigned char)s[q + 1]) == 'q' ? 'Q' : 0;
	if (ew->enc == 0)
		return false;
	p = q + 3;
	for (q = p; q < n && s[q] != '?' && (unsigned char)s[q] > 0x20 &&
	    (unsigned char)s[q] < 0x7f; q++)
		;
	if (q + 1 >= n || s[q] != '?' || s[q + 1] != '=')
		return false;
	ew->text = s + p;
	ew->textlen = q - p;
	ew->end = q + 2;
	return true;
}

static int
header_hexval(unsigned char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	c = (unsigned char)mh_tolower(c);
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

/* RFC 2045 §6.8 base64; missing padding is tolerated. */
static bool
header_b64_decode(const char *s, size_t n, struct mh_buf *o)
{
	unsigned acc = 0;
	size_t i, bits = 0, pad = 0;
	unsigned char c;
	int v;

	for (i = 0; i < n; i++) {
		if (s[i] == '=') {
			pad++;
			continue;
		}
		if (pad > 0 || (v = mh_b64_val((unsigned char)s[i])) < 0)
			return false;
		acc = (acc << 6) | (unsigned)v;
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			c = (unsigned char)(acc >> bits);
			acc &= (1u << bits) - 1;
			if (mh_buf_append(o, &c, 1) == -1)
				return false;
		}
	}
	return pad <= 2 && bits < 6;
}

/* RFC 2047 §4.2 "Q": '_' is a space, "=XX" an octet. */
static bool
header_q_decode(const char *s, size_t n, struct mh_buf *o)
{
	unsigned char c;
	size_t i;
	int h, l;

	for (i = 0; i < n; i++) {
		c = (unsigned char)s[i];
		if (c == '_')
			c = ' ';
		else if (c == '=') {
			if (i + 2 >= n)
				return false;
			if ((h = header_hexval((unsigned char)s[i + 1])) < 0 ||
			    (l = header_hexval((unsigned char)s[i + 2])) < 0)
				return false;
			c = (unsigned char)(h << 4 | l);
			i += 2;
		}
		if (mh_buf_append(o, &c, 1) == -1)
			return false;
	}
	return true;
}

static bool
header_is_blank(unsigned char c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

/* Blanks between words: each becomes one space; CR and LF vanish. */
static void
header_text_blank(struct header_text *t, const char *s, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (s[i] == ' ' || s[i] == '\t')
			header_text_put(t, " ", 1, true);
}

/*
 * Unstructured text with encoded words (RFC 2047 §5 (1), §6.2).  Adjacent
 * encoded words of one charset are decoded together before conversion,
 * since mailers split multi-octet characters across words; the blanks
 * between encoded words are dropped.  Encoded words are also recognised
 * inside a word ("Re:=?...?="), as common readers do.
 */
static void
header_text_decode(struct header_text *t, const char *s, size_t n)
{
	struct mh_buf run, tmp;
	struct header_ew ew;
	size_t i = 0, j, wsoff = 0, wslen = 0;
	bool prev_ew = false, ok;
	int runcs = -1, csi;

	mh_buf_init(&run, n);
	mh_buf_init(&tmp, n);
	while (i < n && !t->full) {
		if (header_is_blank((unsigned char)s[i])) {
			for (j = i; j < n &&
			    header_is_blank((unsigned char)s[j]); j++)
				;
			if (prev_ew) {
				wsoff = i;
				wslen = j - i;
			} else
				header_text_blank(t, s + i, j - i);
			i = j;
			continue;
		}
		if (s[i] == '=' && header_ew_parse(s, n, i, &ew)) {
			csi = header_charset_find(ew.cs, ew.cslen);
			mh_buf_reset(&tmp);
			ok = ew.enc == 'B' ?
			    header_b64_decode(ew.text, ew.textlen, &tmp) :
			    header_q_decode(ew.text, ew.textlen, &tmp);
			if (ok) {
				if ((!prev_ew || csi != runcs) &&
				    run.len > 0) {
					header_text_charset(t, runcs,
					    (const unsigned char *)run.data,
					    run.len);
					mh_buf_reset(&run);
				}
				runcs = csi;
				(void)mh_buf_append(&run, tmp.data, tmp.len);
				wslen = 0;
				prev_ew = true;
				i = ew.end;
				continue;
			}
			*t->defects |= HEADER_D_BAD_ENCODING;
		}
		if (run.len > 0) {
			header_text_charset(t, runcs,
			    (const unsigned char *)run.data, run.len);
			mh_buf_reset(&run);
		}
		if (wslen > 0) {
			header_text_blank(t, s + wsoff, wslen);
			wslen = 0;
		}
		prev_ew = false;
		for (j = i + 1; j < n &&
		    !header_is_blank((unsigned char)s[j]) &&
		    !(s[j] == '=' && j + 1 < n && s[j + 1] == '?'); j++)
			;
		header_text_utf8(t, (const unsigned char *)s + i, j - i,
		    HEADER_D_8BIT);
		i = j;
	}
	if (run.len > 0)
		header_text_charset(t, runcs, (const unsigned char *)run.data,
		    run.len);
	mh_buf_clear(&run);
	mh_buf_clear(&tmp);
}

char *
header_decode_text(const char *s, size_t len, size_t text_max,
    unsigned *defects)
{
	struct header_text t;

	while (len > 0 && header_is_blank((unsigned char)*s)) {
		s++;
		len--;
	}
	header_text_init(&t, text_max, defects);
	header_text_decode(&t, s, len);
	return header_text_finish(&t);
}

/* ------------------------------------------------------------------ */
/* Lines and fields                                                    */

struct header_blk {
	const char	*s;
	size_t		 len;		/* end of the region */
	size_t		 pos;
	size_t		 lim;		/* start + block_max, <= len */
	size_t		 line_max;
	bool		 part;		/* stop at a line starting "--" */
	bool		 done;
	size_t		 end;		/* after the empty line */
	unsigned	 defects;	/* block-level defects */
};

static void
header_blk_init(struct header_blk *b, const char *s, size_t len,
    size_t start, size_t block_max, size_t line_max, bool part)
{
	memset(b, 0, sizeof(*b));
	b->s = s;
	b->len = len;
	b->pos = start;
	b->lim = len - start > block_max ? start + block_max : len;
	b->line_max = line_max;
	b->part = part;
	b->end = start;
}

static const struct {
	const char	*name;
	int		 kind;
} header_kinds[] = {
	{ "from", HEADER_K_FROM },
	{ "sender", HEADER_K_SENDER },
	{ "to", HEADER_K_TO },
	{ "cc", HEADER_K_CC },
	{ "bcc", HEADER_K_BCC },
	{ "reply-to", HEADER_K_REPLY_TO },
	{ "subject", HEADER_K_SUBJECT },
	{ "message-id", HEADER_K_MESSAGE_ID },
	{ "in-reply-to", HEADER_K_IN_REPLY_TO },
	{ "references", HEADER_K_REFERENCES },
	{ "content-type", HEADER_K_CONTENT_TYPE },
	{ "content-disposition", HEADER_K_CONTENT_DISPOSITION },
};

static int
header_kind_find(const char *name, size_t n)
{
	size_t i;

	for (i = 0; i < sizeof(header_kinds) / sizeof(header_kinds[0]); i++)
		if (strlen(header_kinds[i].name) == n &&
		    mh_strncasecmp(header_kinds[i].name, name, n) == 0)
			return header_kinds[i].kind;
	return HEADER_K_OTHER;
}

/*
 * The next field of the block: its first line and every continuation
 * line (RFC 5322 §2.2.3).  Returns false at the end of the block, which
 * is the empty line (consumed), the end of the region, the block limit,
 * or in a MIME part a line that starts with "--" (left for the caller).
 * *fdef gets the defects of this field.
 */
static bool
header_blk_next(struct header_blk *b, struct header_field *f, unsigned *fdef)
{
	const char *s = b->s, *lf;
	size_t eol, next, cend, i;
	bool first = true;

	*fdef = 0;
	memset(f, 0, sizeof(*f));
	f->off = b->pos;
	while (!b->done) {
		if (b->pos >= b->len) {
			b->defects |= HEADER_D_NO_BODY_SEP;
			b->done = true;
			b->end = b->pos;
			break;
		}
		if (b->pos >= b->lim) {
			b->defects |= HEADER_D_BLOCK_TOO_LONG;
			b->done = true;
			b->end = b->pos;
			break;
		}
		lf = memchr(s + b->pos, '\n', b->lim - b->pos);
		if (lf == NULL && b->lim < b->len) {
			/* The line runs past the block limit. */
			b->defects |= HEADER_D_BLOCK_TOO_LONG;
			b->done = true;
			b->end = b->pos;
			break;
		}
		eol = lf != NULL ? (size_t)(lf - s) : b->lim;
		next = lf != NULL ? eol + 1 : eol;
		cend = eol > b->pos && s[eol - 1] == '\r' ? eol - 1 : eol;
		if (first) {
			if (cend == b->pos) {
				b->done = true;
				b->end = next;
				break;
			}
			if (b->part && cend - b->pos >= 2 && s[b->pos] == '-' &&
			    s[b->pos + 1] == '-') {
				b->done = true;
				b->end = b->pos;
				break;
			}
			if (s[b->pos] == ' ' || s[b->pos] == '\t') {
				*fdef |= HEADER_D_BAD_FOLD;
				f->kind = HEADER_K_BAD;
			}
		} else if (cend == b->pos ||
		    (s[b->pos] != ' ' && s[b->pos] != '\t'))
			break;
		if (next - b->pos > b->line_max)
			*fdef |= HEADER_D_LONG_LINE;
		if (memchr(s + b->pos, '\0', eol - b->pos) != NULL)
			*fdef |= HEADER_D_NUL;
		if (memchr(s + b->pos, '\r', cend - b->pos) != NULL)
			*fdef |= HEADER_D_BARE_CR;
		b->pos = next;
		first = false;
	}
	if (first)
		return false;
	f->len = b->pos - f->off;
	if (f->kind == HEADER_K_BAD)
		return true;
	/* field-name = 1*ftext; obs-optional allows WSP before ':'. */
	for (i = f->off; i < f->off + f->len && (unsigned char)s[i] > 32 &&
	    (unsigned char)s[i] < 127 && s[i] != ':'; i++)
		;
	f->name_len = i - f->off;
	while (i < f->off + f->len && (s[i] == ' ' || s[i] == '\t'))
		i++;
	if (f->name_len == 0 || i >= f->off + f->len || s[i] != ':') {
		*fdef |= HEADER_D_BAD_FIELD;
		f->kind = HEADER_K_BAD;
		f->name_len = 0;
		return true;
	}
	f->kind = header_kind_find(s + f->off, f->name_len);
	return true;
}

/* The unfolded body of a field (after the colon), leading blanks cut. */
static void
header_field_value(const char *s, const struct header_field *f,
    struct mh_buf *v)
{
	size_t i = f->off + f->name_len, end = f->off + f->len, j;

	mh_buf_reset(v);
	while (i < end && s[i] != ':')
		i++;
	i++;
	while (i < end && (s[i] == ' ' || s[i] == '\t'))
		i++;
	while (i < end) {
		for (j = i; j < end && s[j] != '\r' && s[j] != '\n'; j++)
			;
		(void)mh_buf_append(v, s + i, j - i);
		while (j < end && (s[j] == '\r' || s[j] == '\n'))
			j++;
		i = j;
	}
}

/* ------------------------------------------------------------------ */
/* Address lists                                                       */

enum header_tok_type {
	HEADER_T_END = 0,
	HEADER_T_ATOM,
	HEADER_T_QSTR,
	HEADER_T_DLIT,
	HEADER_T_SPECIAL,
};

struct header_tok {
	int	 type;
	size_t	 off;		/* raw span, quotes and brackets included */
	size_t	 len;
	bool	 ws;		/* blank or comment before it */
	char	 c;		/* HEADER_T_SPECIAL */
};

struct header_lex {
	const char	*s;
	size_t		 len;
	size_t		 pos;
	unsigned	 defects;
	bool		 cmt;		/* a comment was seen in this item */
	size_t		 cmt_off;
	size_t		 cmt_len;
};

/* RFC 5322 §3.2.3 atext; 8-bit octets are atext under RFC 6532. */
static bool
header_is_atext(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	    (c >= '0' && c <= '9') || c >= 0x80 ||
	    (c != '\0' && strchr("!#$%&'*+-/=?^_`{|}~", c) != NULL);
}

/* A comment (RFC 5322 §3.2.2), nested, with quoted pairs. */
static void
header_lex_comment(struct header_lex *x)
{
	size_t start = x->pos, depth = 0;

	do {
		if (x->s[x->pos] == '\\' && x->pos + 1 < x->len)
			x->pos++;
		else if (x->s[x->pos] == '(')
			depth++;
		else if (x->s[x->pos] == ')')
			depth--;
		x->pos++;
	} while (x->pos < x->len && depth > 0);
	if (depth > 0)
		x->defects |= HEADER_D_UNTERMINATED;
	if (!x->cmt) {
		x->cmt = true;
		x->cmt_off = start + 1;
		x->cmt_len = x->pos - start - 1 - (depth == 0 ? 1 : 0);
	}
}

/* Scans a quoted string or domain literal that ends with close. */
static void
header_lex_quoted(struct header_lex *x, char close)
{
	x->pos++;
	while (x->pos < x->len && x->s[x->pos] != close) {
		if (x->s[x->pos] == '\\' && x->pos + 1 < x->len)
			x->pos++;
		x->pos++;
	}
	if (x->pos >= x->len)
		x->defects |= HEADER_D_UNTERMINATED;
	else
		x->pos++;
}

static void
header_lex_next(struct header_lex *x, struct header_tok *t)
{
	unsigned char c = 0;

	memset(t, 0, sizeof(*t));
	while (x->pos < x->len) {
		c = (unsigned char)x->s[x->pos];
		if (header_is_blank(c))
			x->pos++;
		else if (c == '(')
			header_lex_comment(x);
		else
			break;
		t->ws = true;
	}
	t->off = x->pos;
	if (x->pos >= x->len) {
		t->type = HEADER_T_END;
		return;
	}
	if (c == '"') {
		header_lex_quoted(x, '"');
		t->type = HEADER_T_QSTR;
	} else if (c == '[') {
		header_lex_quoted(x, ']');
		t->type = HEADER_T_DLIT;
	} else if (header_is_atext(c)) {
		while (x->pos < x->len &&
		    header_is_atext((unsigned char)x->s[x->pos]))
			x->pos++;
		t->type = HEADER_T_ATOM;
	} else {
		t->type = HEADER_T_SPECIAL;
		t->c = (char)c;
		x->pos++;
	}
	t->len = x->pos - t->off;
}

static bool
header_tok_is(const struct header_tok *t, char c)
{
	return t->type == HEADER_T_SPECIAL && t->c == c;
}

/* Appends n octets to a fixed buffer; -1 when they do not fit. */
static int
header_cat(char *dst, size_t dstsz, size_t *dlen, const char *p, size_t n)
{
	if (n >= dstsz - *dlen)
		return -1;
	memcpy(dst + *dlen, p, n);
	*dlen += n;
	dst[*dlen] = '\0';
	return 0;
}

/* The content of a quoted string token, quoted pairs undone. */
static int
header_cat_unquote(char *dst, size_t dstsz, size_t *dlen, const char *p,
    size_t n)
{
	size_t i, end = n;

	if (n > 0 && p[n - 1] == p[0] && n >= 2)
		end = n - 1;
	for (i = 1; i < end; i++) {
		if (p[i] == '\\' && i + 1 < end)
			i++;
		if (header_cat(dst, dstsz, dlen, p + i, 1) == -1)
			return -1;
	}
	return 0;
}

/* True if s is a dot-atom-text (RFC 5322 §3.2.3). */
static bool
header_is_dot_atom(const char *s, size_t n)
{
	size_t i;

	if (n == 0 || s[0] == '.' || s[n - 1] == '.')
		return false;
	for (i = 0; i < n; i++) {
		if (s[i] == '.') {
			if (s[i + 1] == '.')
				return false;
		} else if (!header_is_atext((unsigned char)s[i]))
			return false;
	}
	return true;
}

/*
 * addr-spec = local-part "@" domain over the tokens t[0..n), obsolete
 * forms included (§4.4: words joined by dots, CFWS around them).  The
 * result is the RFC 5321 form: a local part that is not a dot-atom is
 * quoted again.  Returns 0 or -1.
 */
static int
header_addrspec(const char *s, const struct header_tok *t, size_t n,
    char *out, size_t outsz)
{
	char local[ADDR_PATH_MAX + 1], dom[ADDR_PATH_MAX + 1];
	size_t i = 0, ll = 0, dl = 0, ol = 0, k;
	bool quoted = false;

	for (;;) {
		if (i >= n)
			return -1;
		if (t[i].type == HEADER_T_ATOM) {
			if (header_cat(local, sizeof(local), &ll, s + t[i].off,
			    t[i].len) == -1)
				return -1;
		} else if (t[i].type == HEADER_T_QSTR) {
			quoted = true;
			if (header_cat_unquote(local, sizeof(local), &ll,
			    s + t[i].off, t[i].len) == -1)
				return -1;
		} else
			return -1;
		i++;
		if (i < n && header_tok_is(&t[i], '.')) {
			if (header_cat(local, sizeof(local), &ll, ".", 1) == -1)
				return -1;
			i++;
			continue;
		}
		if (i < n && header_tok_is(&t[i], '@'))
			break;
		return -1;
	}
	i++;
	if (i < n && t[i].type == HEADER_T_DLIT) {
		if (header_cat(dom, sizeof(dom), &dl, s + t[i].off,
		    t[i].len) == -1)
			return -1;
		i++;
	} else {
		for (;;) {
			if (i >= n || t[i].type != HEADER_T_ATOM)
				return -1;
			if (header_cat(dom, sizeof(dom), &dl, s + t[i].off,
			    t[i].len) == -1)
				return -1;
			i++;
			if (i < n && header_tok_is(&t[i], '.')) {
				if (header_cat(dom, sizeof(dom), &dl, ".",
				    1) == -1)
					return -1;
				i++;
				continue;
			}
			break;
		}
	}
	if (i != n || ll == 0)
		return -1;
	if (quoted && !header_is_dot_atom(local, ll)) {
		if (header_cat(out, outsz, &ol, "\"", 1) == -1)
			return -1;
		for (k = 0; k < ll; k++) {
			if ((local[k] == '"' || local[k] == '\\') &&
			    header_cat(out, outsz, &ol, "\\", 1) == -1)
				return -1;
			if (header_cat(out, outsz, &ol, local + k, 1) == -1)
				return -1;
		}
		if (header_cat(out, outsz, &ol, "\"", 1) == -1)
			return -1;
	} else if (header_cat(out, outsz, &ol, local, ll) == -1)
		return -1;
	if (header_cat(out, outsz, &ol, "@", 1) == -1 ||
	    header_cat(out, outsz, &ol, dom, dl) == -1)
		return -1;
	return 0;
}

/* A display name: the phrase tokens joined, then decoded. */
static char *
header_phrase(const char *s, const struct header_tok *t, size_t n,
    size_t text_max, unsigned *defects)
{
	struct mh_buf raw;
	char *name;
	size_t i, j, end;

	/* The raw phrase may be longer than the decoded text; cap it. */
	mh_buf_init(&raw, text_max > SIZE_MAX / 8 ? SIZE_MAX / 8 :
	    text_max * 8);
	for (i = 0; i < n; i++) {
		if (i > 0 && t[i].ws)
			(void)mh_buf_append(&raw, " ", 1);
		if (t[i].type == HEADER_T_QSTR) {
			end = t[i].len >= 2 && s[t[i].off + t[i].len - 1] ==
			    '"' ? t[i].len - 1 : t[i].len;
			for (j = 1; j < end; j++) {
				if (s[t[i].off + j] == '\\' && j + 1 < end)
					j++;
				(void)mh_buf_append(&raw, s + t[i].off + j, 1);
			}
		} else
			(void)mh_buf_append(&raw, s + t[i].off, t[i].len);
	}
	name = header_decode_text(raw.data != NULL ? raw.data : "", raw.len,
	    text_max, defects);
	mh_buf_clear(&raw);
	if (name[0] == '\0') {
		free(name);
		return NULL;
	}
	return name;
}

static void
header_addrlist_add(struct header_addrlist *l, const char *addr,
    size_t local_len, char *name, bool in_group)
{
	struct header_addr *a;

	if (l->n == l->cap) {
		l->cap = l->cap ? l->cap * 2 : 8;
		l->v = xreallocarray(l->v, l->cap, sizeof(*l->v));
	}
	a = &l->v[l->n++];
	a->addr = xstrdup(addr);
	a->local_len = local_len;
	a->name = name;
	a->in_group = in_group;
}

/*
 * One list item: name-addr ("phrase <addr-spec>", obs-route dropped) or
 * a bare addr-spec, whose display name may be in a comment.  The address
 * must also pass the RFC 5321 mailbox parser, since it is the one the
 * envelope will carry.  Returns 0 or -1 (item skipped).
 */
static int
header_item_parse(const char *s, const struct header_tok *t, size_t n,
    const struct header_lex *x, bool in_group, size_t text_max,
    struct header_addrlist *l, unsigned *defects)
{
	char buf[ADDR_PATH_MAX + 1];
	struct addr_path p;
	const char *why;
	char *name = NULL;
	size_t a, b, as, ae;

	for (a = 0; a < n && !header_tok_is(&t[a], '<'); a++)
		;
	if (a < n) {
		for (b = a + 1; b < n && !header_tok_is(&t[b], '>'); b++)
			;
		if (b == n) {
			*defects |= HEADER_D_UNTERMINATED;
			return -1;
		}
		if (b + 1 != n)
			return -1;
		as = a + 1;
		ae = b;
		if (as < ae && header_tok_is(&t[as], '@')) {
			while (as < ae && !header_tok_is(&t[as], ':'))
				as++;
			if (as == ae)
				return -1;
			as++;
		}
	} else {
		as = 0;
		ae = n;
	}
	buf[0] = '\0';
	if (header_addrspec(s, t + as, ae - as, buf, sizeof(buf)) == -1)
		return -1;
	if (addr_parse_mailbox(buf, strlen(buf), ADDR_F_UTF8, &p,
	    &why) != ADDR_OK)
		return -1;
	if (a < n && a > 0)
		name = header_phrase(s, t, a, text_max, defects);
	else if (a == n && x->cmt) {
		name = header_decode_text(s + x->cmt_off, x->cmt_len,
		    text_max, defects);
		if (name[0] == '\0') {
			free(name);
			name = NULL;
		}
	}
	header_addrlist_add(l, p.addr, p.local_len, name, in_group);
	return 0;
}

unsigned
header_parse_addrlist(const char *s, size_t len, size_t max,
    size_t text_max, struct header_addrlist *list)
{
	struct header_lex x = { .s = s, .len = len };
	struct header_tok t, *item;
	size_t n = 0, added = 0;
	bool in_group = false, angle = false, seen_at = false, seen_lt = false;
	bool bad = false, boundary;
	unsigned d = 0;

	item = xreallocarray(NULL, HEADER_ITEM_TOKENS_MAX, sizeof(*item));
	for (;;) {
		header_lex_next(&x, &t);
		boundary = t.type == HEADER_T_END;
		if (t.type == HEADER_T_SPECIAL && !angle &&
		    (t.c == ',' || t.c == ';'))
			boundary = true;
		else if (t.type == HEADER_T_SPECIAL && !angle && t.c == ':' &&
		    !in_group && !seen_at && !seen_lt) {
			/* group = display-name ":" [group-list] ";" */
			list->ngroups++;
			in_group = true;
			n = 0;
			bad = false;
			x.cmt = false;
			continue;
		} else if (t.type == HEADER_T_SPECIAL) {
			if (t.c == '<') {
				if (angle)
					bad = true;
				angle = seen_lt = true;
			} else if (t.c == '>') {
				if (!angle)
					bad = true;
				angle = false;
			} else if (t.c == '@')
				seen_at = true;
		}
		if (!boundary) {
			if (n < HEADER_ITEM_TOKENS_MAX)
				item[n++] = t;
			else
				bad = true;
			continue;
		}
		if (n > 0 || bad) {
			if (added >= max) {
				d |= HEADER_D_TOO_MANY_ADDRS;
				break;
			}
			if (bad || header_item_parse(s, item, n, &x, in_group,
			    text_max, list, &d) == -1) {
				list->nbad++;
				d |= HEADER_D_BAD_ADDR;
			} else
				added++;
		}
		n = 0;
		angle = seen_at = seen_lt = bad = false;
		x.cmt = false;
		if (header_tok_is(&t, ';')) {
			if (in_group)
				in_group = false;
			else
				d |= HEADER_D_BAD_ADDR;
		}
		if (t.type == HEADER_T_END) {
			if (in_group)
				d |= HEADER_D_UNTERMINATED;
			break;
		}
	}
	free(item);
	return d | x.defects;
}

void
header_addrlist_clear(struct header_addrlist *l)
{
	size_t i;

	for (i = 0; i < l->n; i++) {
		free(l->v[i].addr);
		free(l->v[i].name);
	}
	free(l->v);
	memset(l, 0, sizeof(*l));
}

const char *
header_addr_domain(const struct header_addr *a)
{
	if (a->addr[a->local_len] != '@')
		return "";
	return a->addr + a->local_len + 1;
}

/* ------------------------------------------------------------------ */
/* MIME parameters                                                     */

struct header_span {
	size_t	 off;
	size_t	 len;
	bool	 set;
	bool	 quoted;
	bool	 ext;		/* RFC 2231 "*": charset'lang'%XX */
};

struct header_param {
	const char		*attr;
	struct header_span	 plain;
	struct header_span	 sec[HEADER_SECTIONS_MAX];
};

struct header_ctype {
	char	 type[HEADER_TYPE_MAX + 1];	/* lowercase */
	char	*boundary;
	char	*name;		/* name= or filename=, decoded */
};

/* RFC 2045 §5.1 token octet. */
static bool
header_is_ttext(unsigned char c)
{
	return c > 0x20 && c < 0x7f && strchr("()<>@,;:\\\"/[]?=", c) == NULL;
}

static size_t
header_skip_cfws(const char *s, size_t n, size_t i)
{
	struct header_lex x = { .s = s, .len = n, .pos = i };

	while (x.pos < n) {
		if (header_is_blank((unsigned char)s[x.pos]))
			x.pos++;
		else if (s[x.pos] == '(')
			header_lex_comment(&x);
		else
			break;
	}
	return x.pos;
}

/* Appends a span's octets, undoing quoted pairs of a quoted string. */
static void
header_span_raw(const char *s, const struct header_span *sp,
    struct mh_buf *o)
{
	size_t i;

	if (!sp->quoted) {
		(void)mh_buf_append(o, s + sp->off, sp->len);
		return;
	}
	for (i = 0; i < sp->len; i++) {
		if (s[sp->off + i] == '\\' && i + 1 < sp->len)
			i++;
		(void)mh_buf_append(o, s + sp->off + i, 1);
	}
}

/* RFC 2231 §4: "%XX" escapes; a bad one is kept as it is. */
static void
header_pct_decode(const char *s, size_t n, struct mh_buf *o,
    unsigned *defects)
{
	unsigned char c;
	size_t i;
	int h, l;

	for (i = 0; i < n; i++) {
		c = (unsigned char)s[i];
		if (c == '%') {
			if (i + 2 < n &&
			    (h = header_hexval((unsigned char)s[i + 1])) >= 0 &&
			    (l = header_hexval((unsigned char)s[i + 2])) >= 0) {
				c = (unsigned char)(h << 4 | l);
				i += 2;
			} else
				*defects |= HEADER_D_BAD_ENCODING;
		}
		(void)mh_buf_append(o, &c, 1);
	}
}

/*
 * Assembles one parameter: RFC 2231 sections 0..k-1 (charset and
 * language in the first extended one), or else the plain value, which
 * may hold RFC 2047 encoded words (not allowed, but what most Japanese
 * mailers send).  Returns the UTF-8 value or NULL.
 */
static char *
header_param_value(const char *s, const struct header_param *p,
    size_t text_max, unsigned *defects)
{
	struct header_text t;
	struct mh_buf raw, val;
	const char *v, *q1, *q2;
	size_t k, vn;
	int csi = 0;
	char *r;

	mh_buf_init(&raw, SIZE_MAX / 2);
	mh_buf_init(&val, SIZE_MAX / 2);
	header_text_init(&t, text_max, defects);
	if (p->sec[0].set) {
		for (k = 0; k < HEADER_SECTIONS_MAX && p->sec[k].set; k++) {
			mh_buf_reset(&raw);
			header_span_raw(s, &p->sec[k], &raw);
			v = raw.data != NULL ? raw.data : "";
			vn = raw.len;
			if (k == 0 && p->sec[0].ext) {
				q1 = memchr(v, '\'', vn);
				q2 = q1 ? memchr(q1 + 1, '\'',
				    vn - (size_t)(q1 + 1 - v)) : NULL;
				if (q2 == NULL) {
					*defects |= HEADER_D_BAD_ENCODING;
					csi = 0;
				} else {
					csi = q1 == v ? 0 :
					    header_charset_find(v,
					    (size_t)(q1 - v));
					vn -= (size_t)(q2 + 1 - v);
					v = q2 + 1;
				}
			}
			if (p->sec[k].ext)
				header_pct_decode(v, vn, &val, defects);
			else
				(void)mh_buf_append(&val, v, vn);
		}
		header_text_charset(&t, p->sec[0].ext ? csi : 0,
		    (const unsigned char *)(val.data ? val.data : ""),
		    val.len);
	} else if (p->plain.set) {
		header_span_raw(s, &p->plain, &raw);
		header_text_decode(&t, raw.data ? raw.data : "", raw.len);
	}
	mh_buf_clear(&raw);
	mh_buf_clear(&val);
	r = header_text_finish(&t);
	if (r[0] == '\0') {
		free(r);
		return NULL;
	}
	return r;
}

/* Records one attribute=value into p when the attribute is p->attr. */
static void
header_param_note(struct header_param *p, const char *a, size_t an,
    const struct header_span *val)
{
	size_t bn = strlen(p->attr), i;
	long long sec;
	bool ext = false;

	if (an < bn || mh_strncasecmp(a, p->attr, bn) != 0)
		return;
	if (an == bn) {
		if (!p->plain.set)
			p->plain = *val;
		return;
	}
	if (a[bn] != '*')
		return;
	a += bn + 1;
	an -= bn + 1;
	if (an == 0) {
		/* name*=charset'lang'value */
		p->sec[0] = *val;
		p->sec[0].ext = true;
		return;
	}
	if (a[an - 1] == '*') {
		ext = true;
		an--;
	}
	for (i = 0; i < an; i++)
		if (a[i] < '0' || a[i] > '9')
			return;
	/* RFC 2231 §3: no leading zeros. */
	if (an == 0 || (an > 1 && a[0] == '0') ||
	    mh_strtonum_n(a, an, 0, HEADER_SECTIONS_MAX - 1, &sec) == -1)
		return;
	if (p->sec[sec].set)
		return;
	p->sec[sec] = *val;
	p->sec[sec].ext = ext;
}

/*
 * Content-Type / Content-Disposition (RFC 2045 §5.1, RFC 2183): the
 * (sub)type, then parameters.  want is "name" or "filename"; the boundary
 * is taken from Content-Type.  Lenient where mailers are sloppy: an
 * unquoted value runs to the next ';'.
 */
static void
header_ctype_parse(const char *s, size_t n, bool is_ctype, size_t text_max,
    struct header_ctype *ct, unsigned *defects)
{
	struct header_param pw, pb;
	struct header_span val;
	size_t i, a, an, tl = 0, k;

	memset(&pw, 0, sizeof(pw));
	memset(&pb, 0, sizeof(pb));
	pw.attr = is_ctype ? "name" : "filename";
	pb.attr = "boundary";
	i = header_skip_cfws(s, n, 0);
	while (i < n && (header_is_ttext((unsigned char)s[i]) ||
	    (is_ctype && s[i] == '/')) && tl < HEADER_TYPE_MAX) {
		ct->type[tl++] = (char)mh_tolower((unsigned char)s[i]);
		i++;
	}
	ct->type[tl] = '\0';
	for (;;) {
		while (i < n && s[i] != ';')
			i++;
		if (i >= n)
			break;
		i = header_skip_cfws(s, n, i + 1);
		for (a = i; i < n && (header_is_ttext((unsigned char)s[i]));
		    i++)
			;
		an = i - a;
		i = header_skip_cfws(s, n, i);
		if (an == 0 || i >= n || s[i] != '=')
			continue;
		i = header_skip_cfws(s, n, i + 1);
		memset(&val, 0, sizeof(val));
		val.set = true;
		if (i < n && s[i] == '"') {
			val.quoted = true;
			val.off = ++i;
			while (i < n && s[i] != '"') {
				if (s[i] == '\\' && i + 1 < n)
					i++;
				i++;
			}
			val.len = (i < n ? i : n) - val.off;
			if (i >= n)
				*defects |= HEADER_D_MIME_BAD;
			else
				i++;
		} else {
			val.off = i;
			while (i < n && s[i] != ';')
				i++;
			for (k = i; k > val.off && header_is_blank(
			    (unsigned char)s[k - 1]); k--)
				;
			val.len = k - val.off;
		}
		header_param_note(&pw, s + a, an, &val);
		if (is_ctype)
			header_param_note(&pb, s + a, an, &val);
	}
	free(ct->name);
	ct->name = header_param_value(s, &pw, text_max, defects);
	if (is_ctype && pb.plain.set) {
		struct mh_buf b;

		mh_buf_init(&b, HEADER_BOUNDARY_MAX);
		header_span_raw(s, &pb.plain, &b);
		free(ct->boundary);
		ct->boundary = NULL;
		if (b.len == 0 || b.len > HEADER_BOUNDARY_MAX ||
		    memchr(b.data, '\0', b.len) != NULL) {
			*defects |= HEADER_D_MIME_BAD;
			mh_buf_clear(&b);
		} else
			ct->boundary = mh_buf_steal(&b, NULL);
	}
}

static void
header_ctype_clear(struct header_ctype *ct)
{
	free(ct->boundary);
	free(ct->name);
	memset(ct, 0, sizeof(*ct));
}

static void
header_attach_add(struct header_msg *h, char *name, const char *type,
    size_t depth)
{
	struct header_attach *a;

	if ((h->nattach & (h->nattach - 1)) == 0)
		h->attach = xreallocarray(h->attach,
		    h->nattach ? h->nattach * 2 : 1, sizeof(*h->attach));
	a = &h->attach[h->nattach++];
	a->name = name;
	a->type = xstrdup(type[0] != '\0' ? type : "text/plain");
	a->depth = depth;
}

/* ------------------------------------------------------------------ */
/* Multipart walk                                                      */

struct header_mstack {
	char	*boundary;
	size_t	 len;
};

/*
 * If the line s[0..n) is a delimiter of one of the open multiparts
 * ("--" boundary, transport padding allowed, RFC 2046 §5.1.1), returns
 * its level (innermost first) and sets *close for "--boundary--".
 */
static int
header_mime_match(const char *s, size_t n, const struct header_mstack *st,
    size_t depth, bool *close)
{
	size_t k, i, bl;

	if (n < 3 || s[0] != '-' || s[1] != '-')
		return -1;
	for (k = depth; k-- > 0;) {
		bl = st[k].len;
		if (n - 2 < bl || memcmp(s + 2, st[k].boundary, bl) != 0)
			continue;
		i = 2 + bl;
		*close = false;
		if (n - i >= 2 && s[i] == '-' && s[i + 1] == '-') {
			*close = true;
			i += 2;
		}
		while (i < n && (s[i] == ' ' || s[i] == '\t'))
			i++;
		if (i == n)
			return (int)k;
	}
	return -1;
}

/* The part headers at *pos: Content-Type and Content-Disposition. */
static void
header_mime_part(struct header_msg *h, const struct header_limits *lim,
    const char *s, size_t end, size_t *pos, struct header_ctype *ct,
    struct header_ctype *cd, struct mh_buf *v)
{
	struct header_blk b;
	struct header_field f;
	unsigned fdef;

	header_blk_init(&b, s, end, *pos, HEADER_PART_BLOCK_MAX,
	    lim->line_max, true);
	while (header_blk_next(&b, &f, &fdef)) {
		if (fdef & (HEADER_D_NUL | HEADER_D_LONG_LINE))
			continue;
		if (f.kind != HEADER_K_CONTENT_TYPE &&
		    f.kind != HEADER_K_CONTENT_DISPOSITION)
			continue;
		header_field_value(s, &f, v);
		header_ctype_parse(v->data ? v->data : "", v->len,
		    f.kind == HEADER_K_CONTENT_TYPE, lim->text_max,
		    f.kind == HEADER_K_CONTENT_TYPE ? ct : cd, &h->defects);
	}
	*pos = b.end;
}

/*
 * Walks the multipart body from start to end (the scan limit) and notes
 * every part that has a file name.  One pass over the lines; each line
 * that starts with "--" is compared with the open boundaries (at most
 * mime_depth of them).
 */
static void
header_mime_walk(struct header_msg *h, const struct header_limits *lim,
    const char *s, size_t start, size_t end, const char *top_boundary)
{
	struct header_mstack *st;
	struct header_ctype ct, cd;
	struct mh_buf v;
	const char *lf;
	size_t depth = 1, pos = start, next, cend, k;
	bool close;
	int lvl;
	char *name;

	st = xreallocarray(NULL, lim->mime_depth, sizeof(*st));
	st[0].boundary = xstrdup(top_boundary);
	st[0].len = strlen(top_boundary);
	mh_buf_init(&v, HEADER_PART_BLOCK_MAX);
	memset(&ct, 0, sizeof(ct));
	memset(&cd, 0, sizeof(cd));
	while (pos < end && depth > 0) {
		lf = memchr(s + pos, '\n', end - pos);
		next = lf != NULL ? (size_t)(lf - s) + 1 : end;
		cend = lf != NULL ? (size_t)(lf - s) : end;
		if (cend > pos && s[cend - 1] == '\r')
			cend--;
		lvl = header_mime_match(s + pos, cend - pos, st, depth, &close);
		pos = next;
		if (lvl < 0)
			continue;
		if ((size_t)lvl + 1 < depth)
			h->defects |= HEADER_D_MIME_BAD;  /* inner left open */
		while (depth > (size_t)lvl + 1)
			free(st[--depth].boundary);
		if (close) {
			free(st[--depth].boundary);
			continue;
		}
		if (h->nparts >= lim->mime_parts) {
			h->defects |= HEADER_D_MIME_PARTS;
			break;
		}
		h->nparts++;
		header_mime_part(h, lim, s, end, &pos, &ct, &cd, &v);
		name = cd.name != NULL ? cd.name : ct.name;
		if (name != NULL) {
			if (name == cd.name)
				cd.name = NULL;
			else
				ct.name = NULL;
			header_attach_add(h, name, ct.type, depth);
		}
		if (strncmp(ct.type, "multipart/", 10) == 0) {
			if (ct.boundary == NULL)
				h->defects |= HEADER_D_MIME_BAD;
			else if (depth >= lim->mime_depth)
				h->defects |= HEADER_D_MIME_DEPTH;
			else {
				st[depth].boundary = ct.boundary;
				st[depth].len = strlen(ct.boundary);
				ct.boundary = NULL;
				depth++;
			}
		}
		header_ctype_clear(&ct);
		header_ctype_clear(&cd);
	}
	if (depth > 0)
		h->defects |= HEADER_D_MIME_TRUNCATED;
	for (k = 0; k < depth; k++)
		free(st[k].boundary);
	free(st);
	header_ctype_clear(&ct);
	header_ctype_clear(&cd);
	mh_buf_clear(&v);
}

/* ------------------------------------------------------------------ */
/* The top-level block                                                 */

void
header_limits_init(struct header_limits *l)
{
	l->block_max = HEADER_BLOCK_MAX_DEF;
	l->line_max = HEADER_LINE_MAX_DEF;
	l->fields_max = HEADER_FIELDS_MAX_DEF;
	l->addrs_max = HEADER_ADDRS_MAX_DEF;
	l->text_max = HEADER_TEXT_MAX_DEF;
	l->scan_max = HEADER_SCAN_MAX_DEF;
	l->mime_depth = HEADER_MIME_DEPTH_DEF;
	l->mime_parts = HEADER_MIME_PARTS_DEF;
}

static size_t
header_clamp(size_t v, size_t def, size_t hard)
{
	if (v == 0)
		return def;
	return v > hard ? hard : v;
}

void
header_msg_init(struct header_msg *h)
{
	memset(h, 0, sizeof(*h));
}

void
header_msg_clear(struct header_msg *h)
{
	size_t i;

	free(h->fields);
	header_addrlist_clear(&h->from);
	header_addrlist_clear(&h->sender);
	header_addrlist_clear(&h->to);
	header_addrlist_clear(&h->cc);
	header_addrlist_clear(&h->bcc);
	header_addrlist_clear(&h->reply_to);
	free(h->subject);
	free(h->content_type);
	for (i = 0; i < h->nattach; i++) {
		free(h->attach[i].name);
		free(h->attach[i].type);
	}
	free(h->attach);
	memset(h, 0, sizeof(*h));
}

static struct header_addrlist *
header_list_for(struct header_msg *h, int kind)
{
	switch (kind) {
	case HEADER_K_FROM:
		return &h->from;
	case HEADER_K_SENDER:
		return &h->sender;
	case HEADER_K_TO:
		return &h->to;
	case HEADER_K_CC:
		return &h->cc;
	case HEADER_K_BCC:
		return &h->bcc;
	case HEADER_K_REPLY_TO:
		return &h->reply_to;
	default:
		return NULL;
	}
}

struct header_state {
	const struct header_limits	*lim;
	struct mh_buf			 v;	/* unfolded value */
	unsigned			 seen;	/* 1 << kind */
	size_t				 naddrs;
	struct header_ctype		 ct, cd;
};

/* Interprets one top-level field. */
static void
header_field_apply(struct header_msg *h, struct header_state *st,
    const char *msg, const struct header_field *f)
{
	struct header_addrlist *l;
	const char *v;
	size_t before, i;

	if (f->kind == HEADER_K_OTHER || f->kind == HEADER_K_MESSAGE_ID)
		return;
	if ((st->seen & (1u << f->kind)) && f->kind != HEADER_K_REFERENCES &&
	    f->kind != HEADER_K_IN_REPLY_TO)
		h->defects |= HEADER_D_DUP_FIELD;
	st->seen |= 1u << f->kind;
	header_field_value(msg, f, &st->v);
	v = st->v.data != NULL ? st->v.data : "";
	if ((l = header_list_for(h, f->kind)) != NULL) {
		before = l->n;
		if (st->naddrs >= st->lim->addrs_max) {
			h->defects |= HEADER_D_TOO_MANY_ADDRS;
			return;
		}
		h->defects |= header_parse_addrlist(v, st->v.len,
		    st->lim->addrs_max - st->naddrs, st->lim->text_max, l);
		st->naddrs += l->n - before;
		return;
	}
	switch (f->kind) {
	case HEADER_K_SUBJECT:
		if (h->subject == NULL)
			h->subject = header_decode_text(v, st->v.len,
			    st->lim->text_max, &h->defects);
		break;
	case HEADER_K_IN_REPLY_TO:
	case HEADER_K_REFERENCES:
		for (i = 0; i < st->v.len; i++)
			if (!header_is_blank((unsigned char)v[i]))
				h->is_reply = true;
		break;
	case HEADER_K_CONTENT_TYPE:
		if (h->content_type == NULL) {
			header_ctype_parse(v, st->v.len, true,
			    st->lim->text_max, &st->ct, &h->defects);
			h->content_type = xstrdup(st->ct.type);
		}
		break;
	case HEADER_K_CONTENT_DISPOSITION:
		header_ctype_parse(v, st->v.len, false, st->lim->text_max,
		    &st->cd, &h->defects);
		break;
	default:
		break;
	}
}

enum header_status
header_parse(const char *msg, size_t len, const struct header_limits *limp,
    struct header_msg *h)
{
	struct header_limits lim;
	struct header_state st;
	struct header_blk b;
	struct header_field f;
	size_t start = 0, scan_end;
	unsigned fdef;
	char *name;

	header_msg_init(h);
	header_limits_init(&lim);
	if (limp != NULL) {
		lim.block_max = header_clamp(limp->block_max,
		    HEADER_BLOCK_MAX_DEF, HEADER_BLOCK_MAX_HARD);
		lim.line_max = header_clamp(limp->line_max,
		    HEADER_LINE_MAX_DEF, HEADER_LINE_MAX_HARD);
		lim.fields_max = header_clamp(limp->fields_max,
		    HEADER_FIELDS_MAX_DEF, HEADER_FIELDS_MAX_HARD);
		lim.addrs_max = header_clamp(limp->addrs_max,
		    HEADER_ADDRS_MAX_DEF, HEADER_ADDRS_MAX_HARD);
		lim.text_max = header_clamp(limp->text_max,
		    HEADER_TEXT_MAX_DEF, HEADER_TEXT_MAX_HARD);
		lim.scan_max = header_clamp(limp->scan_max,
		    HEADER_SCAN_MAX_DEF, SIZE_MAX);
		lim.mime_depth = header_clamp(limp->mime_depth,
		    HEADER_MIME_DEPTH_DEF, HEADER_MIME_DEPTH_HARD);
		lim.mime_parts = header_clamp(limp->mime_parts,
		    HEADER_MIME_PARTS_DEF, HEADER_MIME_PARTS_HARD);
	}
	memset(&st, 0, sizeof(st));
	st.lim = &lim;
	mh_buf_init(&st.v, lim.block_max);

	/* An mbox "From " line (mailhold check on a saved file). */
	if (len >= 5 && memcmp(msg, "From ", 5) == 0) {
		const char *lf = memchr(msg, '\n',
		    len < lim.line_max ? len : lim.line_max);

		if (lf != NULL)
			start = (size_t)(lf - msg) + 1;
	}
	header_blk_init(&b, msg, len, start, lim.block_max, lim.line_max,
	    false);
	while (header_blk_next(&b, &f, &fdef)) {
		if (h->nfields >= lim.fields_max) {
			h->defects |= HEADER_D_TOO_MANY_FIELDS;
			continue;
		}
		if ((h->nfields & (h->nfields - 1)) == 0)
			h->fields = xreallocarray(h->fields,
			    h->nfields ? h->nfields * 2 : 1,
			    sizeof(*h->fields));
		h->fields[h->nfields++] = f;
		h->defects |= fdef;
		if (fdef & (HEADER_D_NUL | HEADER_D_LONG_LINE))
			continue;
		header_field_apply(h, &st, msg, &f);
	}
	h->defects |= b.defects;
	h->header_len = b.end;

	/* A single-part message that is itself a named attachment. */
	name = st.cd.name != NULL ? st.cd.name : st.ct.name;
	if (name != NULL) {
		if (name == st.cd.name)
			st.cd.name = NULL;
		else
			st.ct.name = NULL;
		header_attach_add(h, name, st.ct.type, 0);
	}
	if (h->content_type != NULL &&
	    strncmp(h->content_type, "multipart/", 10) == 0) {
		scan_end = len < lim.scan_max ? len : lim.scan_max;
		if (st.ct.boundary == NULL)
			h->defects |= HEADER_D_MIME_BAD;
		else if (!(h->defects & (HEADER_D_NO_BODY_SEP |
		    HEADER_D_BLOCK_TOO_LONG)) && h->header_len < scan_end)
			header_mime_walk(h, &lim, msg, h->header_len,
			    scan_end, st.ct.boundary);
		else
			h->defects |= HEADER_D_MIME_TRUNCATED;
	}
	header_ctype_clear(&st.ct);
	header_ctype_clear(&st.cd);
	mh_buf_clear(&st.v);

	if (h->nfields == 0 || (h->nfields == 1 &&
	    h->fields[0].kind == HEADER_K_BAD && h->header_len == len))
		return HEADER_BAD;
	if (h->defects & (HEADER_D_BLOCK_TOO_LONG | HEADER_D_TOO_MANY_FIELDS |
	    HEADER_D_TOO_MANY_ADDRS | HEADER_D_MIME_PARTS |
	    HEADER_D_MIME_DEPTH))
		return HEADER_TRUNCATED;
	return HEADER_OK;
}

/* ------------------------------------------------------------------ */
/* Rewrite                                                             */

int
header_rewrite_undisclosed(const char *msg, size_t len,
    const struct header_msg *h, struct mh_buf *out)
{
	static const char to[] = "To: undisclosed-recipients:;";
	const struct header_field *f;
	const char *eol = "\r\n";
	size_t i, pos;
	bool done = false;

	if (h->defects & (HEADER_D_BLOCK_TOO_LONG | HEADER_D_TOO_MANY_FIELDS))
		return -1;
	if (h->header_len > len || (h->nfields > 0 &&
	    h->fields[h->nfields - 1].off + h->fields[h->nfields - 1].len >
	    h->header_len))
		return -1;
	pos = h->nfields > 0 ? h->fields[0].off : h->header_len;
	if (mh_buf_append(out, msg, pos) == -1)
		return -1;
	for (i = 0; i < h->nfields; i++) {
		f = &h->fields[i];
		if (f->len >= 1 && msg[f->off + f->len - 1] == '\n')
			eol = f->len >= 2 && msg[f->off + f->len - 2] == '\r' ?
			    "\r\n" : "\n";
		if (f->kind == HEADER_K_CC)
			continue;
		if (f->kind == HEADER_K_TO) {
			if (done)
				continue;
			done = true;
			if (mh_buf_puts(out, to) == -1 ||
			    mh_buf_puts(out, eol) == -1)
				return -1;
			continue;
		}
		if (mh_buf_append(out, msg + f->off, f->len) == -1)
			return -1;
	}
	if (!done && (mh_buf_puts(out, to) == -1 || mh_buf_puts(out,
	    eol) == -1))
		return -1;
	pos = h->nfields > 0 ? h->fields[h->nfields - 1].off +
	    h->fields[h->nfields - 1].len : h->header_len;
	if (pos < h->header_len &&
	    mh_buf_append(out, msg + pos, h->header_len - pos) == -1)
		return -1;
	return 0;
}

static const char *const header_defect_names[] = {
	"block_too_long", "long_line", "bad_field", "bad_fold", "nul",
	"bare_cr", "duplicate_field", "bad_address", "unterminated",
	"too_many_addresses", "too_many_fields", "bad_encoding", "charset",
	"8bit", "text_truncated", "no_body_separator", "mime_depth",
	"mime_parts", "mime_truncated", "mime_bad",
};

const char *
header_defect_to_str(unsigned bit)
{
	size_t i;

	for (i = 0; i < sizeof(header_defect_names) /
	    sizeof(header_defect_names[0]); i++)
		if (bit == (1u << i))
			return header_defect_names[i];
	return "?";
}
