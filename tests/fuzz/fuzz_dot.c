/*
 * fuzz_dot.c - libFuzzer target for the DATA reader, smtp_dot_feed(),
 * and smtp_dot_stuff() (STYLE G11).
 *
 * Input: a maxline octet, a chunking seed octet whose lowest bit picks
 * the bare-LF mode (1: normalize), then the raw DATA stream.  The stream
 * is read once whole and once in pseudo-random chunks (sizes drawn from
 * the seed); both runs must agree with each other and with a simple,
 * independent model of the rules in smtp_parse.h: in both modes the data
 * ends at the first CRLF "." CRLF (the start of input counting as a
 * CRLF); a line is text up to CRLF (reject) or up to any LF (normalize,
 * where a bare LF is written as CRLF); a leading "." is removed; the CR
 * of a "." CR <not LF> line is dropped.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "smtp_parse.h"

#define FUZZ_ASSERT(x)	do { if (!(x)) abort(); } while (0)

int LLVMFuzzerTestOneInput(const uint8_t *, size_t);

struct fuzz_dot_run {
	enum smtp_dot_status	 st;
	size_t			 consumed;
	size_t			 outlen;
	unsigned		 flags;
};

/*
 * Reads in[0..len) in chunks; chunk sizes come from a xorshift generator
 * (seed 0: one chunk).  out has room for 2 * len octets.
 */
static void
fuzz_dot_run(const char *in, size_t len, size_t maxline, bool normalize,
    uint32_t seed, char *out, struct fuzz_dot_run *res)
{
	struct smtp_dotreader r;
	size_t off = 0, n, outlen, consumed;
	uint32_t x = seed;
	char *chunk;

	smtp_dot_init(&r, maxline, normalize);
	res->st = SMTP_DOT_MORE;
	res->outlen = 0;
	while (res->st == SMTP_DOT_MORE && off < len) {
		if (seed == 0)
			n = len - off;
		else {
			x ^= x << 13;
			x ^= x >> 17;
			x ^= x << 5;
			n = (x % 16 == 0) ? 0 : 1 + x % 9;
			if (n > len - off)
				n = len - off;
		}
		/* Exact-size copy so ASan catches reads past the chunk. */
		chunk = malloc(n ? n : 1);
		FUZZ_ASSERT(chunk != NULL);
		memcpy(chunk, in + off, n);
		res->st = smtp_dot_feed(&r, chunk, n, out + res->outlen,
		    &outlen, &consumed);
		free(chunk);
		FUZZ_ASSERT(consumed <= n);
		FUZZ_ASSERT(outlen <= 2 * consumed);
		FUZZ_ASSERT(normalize || outlen <= consumed);
		FUZZ_ASSERT(res->st == SMTP_DOT_END || consumed == n);
		off += consumed;
		res->outlen += outlen;
		FUZZ_ASSERT(res->outlen <= 2 * off);
		FUZZ_ASSERT(r.total == res->outlen);
	}
	res->consumed = off;
	res->flags = r.flags;
}

/* Where a terminator may start: after CRLF, or at the very start. */
static bool
fuzz_dot_bol(const char *in, size_t j)
{
	return j == 0 || (j >= 2 && in[j - 2] == '\r' && in[j - 1] == '\n');
}

/* Where a line starts: in normalize mode after any LF. */
static bool
fuzz_dot_line_start(const char *in, size_t j, bool normalize)
{
	if (normalize)
		return j == 0 || in[j - 1] == '\n';
	return fuzz_dot_bol(in, j);
}

/* The model: status, consumed, flags and output. */
static void
fuzz_dot_model(const char *in, size_t len, size_t maxline, bool normalize,
    char *out, struct fuzz_dot_run *res)
{
	size_t j, c = len, body, linelen = 0, o = 0;
	unsigned flags = 0;
	unsigned char ch;

	res->st = SMTP_DOT_MORE;
	for (j = 0; j + 3 <= len; j++) {
		if (fuzz_dot_bol(in, j) && memcmp(in + j, ".\r\n", 3) == 0) {
			res->st = SMTP_DOT_END;
			c = j + 3;
			break;
		}
	}
	for (j = 0; j < c; j++) {
		ch = (unsigned char)in[j];
		if (ch == '\0')
			flags |= SMTP_DOT_NUL;
		if (ch >= 0x80)
			flags |= SMTP_DOT_8BIT;
		if (ch == '\n' && (j == 0 || in[j - 1] != '\r'))
			flags |= normalize ? SMTP_DOT_LF_FIXED :
			    SMTP_DOT_BARE_LF;
		if (ch == '\r' && j + 1 < c && in[j + 1] != '\n')
			flags |= SMTP_DOT_BARE_CR;
		if (linelen < SIZE_MAX)
			linelen++;
		/* Normalize: a bare LF is stored as CRLF, two octets. */
		if (normalize && ch == '\n' && (j == 0 || in[j - 1] != '\r') &&
		    linelen < SIZE_MAX)
			linelen++;
		if (linelen > maxline)
			flags |= SMTP_DOT_LONG_LINE;
		if (ch == '\n' && (normalize || (j > 0 && in[j - 1] == '\r')))
			linelen = 0;
	}
	body = res->st == SMTP_DOT_END ? c - 3 : c;
	for (j = 0; j < body; j++) {
		if (fuzz_dot_line_start(in, j, normalize) && in[j] == '.')
			continue;
		if (in[j] == '\r' && j >= 1 && in[j - 1] == '.' &&
		    fuzz_dot_line_start(in, j - 1, normalize) &&
		    (j + 1 >= body || in[j + 1] != '\n'))
			continue;
		if (normalize && in[j] == '\n' && (j == 0 || in[j - 1] != '\r'))
			out[o++] = '\r';
		out[o++] = in[j];
	}
	res->consumed = c;
	res->outlen = o;
	res->flags = flags;
}

/* A clean message, stuffed again and read back, comes out unchanged. */
static void
fuzz_dot_restuff(const char *msg, size_t len)
{
	struct fuzz_dot_run res;
	char *wire, *back;
	size_t n;
	bool bol = true;

	wire = malloc(2 * len + 3);
	back = malloc(2 * len + 3);
	FUZZ_ASSERT(wire != NULL && back != NULL);
	n = smtp_dot_stuff(msg, len, wire, &bol);
	FUZZ_ASSERT(n >= len && n <= 2 * len);
	FUZZ_ASSERT(bol);
	memcpy(wire + n, ".\r\n", 3);
	fuzz_dot_run(wire, n + 3, SIZE_MAX, false, 0, back, &res);
	FUZZ_ASSERT(res.st == SMTP_DOT_END && res.consumed == n + 3);
	FUZZ_ASSERT(res.outlen == len && memcmp(back, msg, len) == 0);
	FUZZ_ASSERT((res.flags & ~(unsigned)SMTP_DOT_8BIT) == 0);
	free(wire);
	free(back);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fuzz_dot_run whole, parts, model;
	char *o1, *o2, *o3;
	const char *in;
	size_t len, maxline;
	uint32_t seed;
	bool normalize;

	if (size < 2)
		return 0;
	maxline = (size_t)data[0] * 4 + 3;
	seed = (uint32_t)data[1] * 2654435761u | 1;
	normalize = data[1] & 1;
	in = (const char *)data + 2;
	len = size - 2;

	o1 = malloc(len ? 2 * len : 1);
	o2 = malloc(len ? 2 * len : 1);
	o3 = malloc(len ? 2 * len : 1);
	FUZZ_ASSERT(o1 != NULL && o2 != NULL && o3 != NULL);
	fuzz_dot_run(in, len, maxline, normalize, 0, o1, &whole);
	fuzz_dot_run(in, len, maxline, normalize, seed, o2, &parts);
	fuzz_dot_model(in, len, maxline, normalize, o3, &model);

	FUZZ_ASSERT(whole.consumed <= len);
	FUZZ_ASSERT(whole.st == SMTP_DOT_MORE ? whole.consumed == len :
	    whole.consumed >= 3);
	FUZZ_ASSERT(whole.st == parts.st && whole.st == model.st);
	FUZZ_ASSERT(whole.consumed == parts.consumed &&
	    whole.consumed == model.consumed);
	FUZZ_ASSERT(whole.flags == parts.flags && whole.flags == model.flags);
	FUZZ_ASSERT(whole.outlen == parts.outlen &&
	    whole.outlen == model.outlen);
	FUZZ_ASSERT(memcmp(o1, o2, whole.outlen) == 0);
	FUZZ_ASSERT(memcmp(o1, o3, whole.outlen) == 0);
	if (whole.st == SMTP_DOT_END)
		FUZZ_ASSERT(memcmp(in + whole.consumed - 3, ".\r\n", 3) == 0);
	/* Accepted (no refusing flag): CRLF-only, safe to relay. */
	if (whole.st == SMTP_DOT_END &&
	    (whole.flags & ~(unsigned)(SMTP_DOT_8BIT | SMTP_DOT_LF_FIXED)) == 0)
		fuzz_dot_restuff(o1, whole.outlen);
	free(o1);
	free(o2);
	free(o3);
	return 0;
}
