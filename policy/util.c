/*
 * util.c - see util.h.
 */
#include "util.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"

size_t
mh_strlcpy(char *dst, const char *src, size_t dsize)
{
	size_t n = strlen(src);

	if (dsize > 0) {
		size_t c = n < dsize - 1 ? n : dsize - 1;
		memcpy(dst, src, c);
		dst[c] = '\0';
	}
	return n;
}

int
mh_vsnprintf(char *buf, size_t size, const char *fmt, va_list ap)
{
	int n;

	n = vsnprintf(buf, size, fmt, ap);
	if (n < 0 || (size_t)n >= size)
		return -1;
	return n;
}

int
mh_snprintf(char *buf, size_t size, const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = mh_vsnprintf(buf, size, fmt, ap);
	va_end(ap);
	return n;
}

int
mh_strtonum_n(const char *s, size_t len, long long min, long long max,
    long long *out)
{
	unsigned long long v = 0, lim;
	bool neg = false;
	size_t i = 0;

	if (len == 0)
		return -1;
	if (s[0] == '-') {
		neg = true;
		i = 1;
		if (len == 1)
			return -1;
	}
	lim = neg ? (unsigned long long)LLONG_MAX + 1 : (unsigned long long)LLONG_MAX;
	for (; i < len; i++) {
		unsigned d;
		if (s[i] < '0' || s[i] > '9')
			return -1;
		d = (unsigned)(s[i] - '0');
		if (v > (lim - d) / 10)
			return -1;
		v = v * 10 + d;
	}
	if (neg) {
		long long r = v == (unsigned long long)LLONG_MAX + 1 ?
		    LLONG_MIN : -(long long)v;
		if (r < min || r > max)
			return -1;
		*out = r;
	} else {
		if ((long long)v < min || (long long)v > max)
			return -1;
		*out = (long long)v;
	}
	return 0;
}

int
mh_strtonum(const char *s, long long min, long long max, long long *out)
{
	return mh_strtonum_n(s, strlen(s), min, max, out);
}

void *
xmalloc(size_t n)
{
	void *p = malloc(n ? n : 1);

	if (p == NULL)
		fatal("xmalloc %zu", n);
	return p;
}

void *
xcalloc(size_t n, size_t sz)
{
	void *p = calloc(n ? n : 1, sz ? sz : 1);

	if (p == NULL)
		fatal("xcalloc %zu*%zu", n, sz);
	return p;
}

void *
xreallocarray(void *old, size_t n, size_t sz)
{
	void *p;

	if (sz && n > SIZE_MAX / sz)
		fatalx("xreallocarray overflow %zu*%zu", n, sz);
	p = realloc(old, (n * sz) != 0 ? n * sz : 1);
	if (p == NULL)
		fatal("xreallocarray %zu*%zu", n, sz);
	return p;
}

char *
xstrdup(const char *s)
{
	char *p = strdup(s);

	if (p == NULL)
		fatal("xstrdup");
	return p;
}

char *
xstrndup(const char *s, size_t n)
{
	char *p = xmalloc(n + 1);

	memcpy(p, s, n);
	p[n] = '\0';
	return p;
}

int
mh_strncasecmp(const char *a, const char *b, size_t n)
{
	for (; n > 0; a++, b++, n--) {
		int ca = mh_tolower((unsigned char)*a);
		int cb = mh_tolower((unsigned char)*b);
		if (ca != cb)
			return ca - cb;
		if (ca == '\0')
			break;
	}
	return 0;
}

int
mh_strcasecmp(const char *a, const char *b)
{
	return mh_strncasecmp(a, b, SIZE_MAX);
}

void
mh_buf_init(struct mh_buf *b, size_t max)
{
	b->data = NULL;
	b->len = 0;
	b->cap = 0;
	b->max = max;
}

void
mh_buf_clear(struct mh_buf *b)
{
	free(b->data);
	b->data = NULL;
	b->len = 0;
	b->cap = 0;
}

void
mh_buf_reset(struct mh_buf *b)
{
	b->len = 0;
	if (b->data)
		b->data[0] = '\0';
}

int
mh_buf_append(struct mh_buf *b, const void *p, size_t n)
{
	size_t need, ncap;

	if (n > b->max || b->len > b->max - n)
		return -1;
	need = b->len + n + 1;
	if (need > b->cap) {
		ncap = b->cap ? b->cap : 64;
		while (ncap < need) {
			if (ncap > SIZE_MAX / 2)
				return -1;
			ncap *= 2;
		}
		if (ncap > b->max + 1)
			ncap = b->max + 1;
		b->data = xreallocarray(b->data, ncap, 1);
		b->cap = ncap;
	}
	if (n)
		memcpy(b->data + b->len, p, n);
	b->len += n;
	b->data[b->len] = '\0';
	return 0;
}

int
mh_buf_puts(struct mh_buf *b, const char *s)
{
	return mh_buf_append(b, s, strlen(s));
}

int
mh_buf_printf(struct mh_buf *b, const char *fmt, ...)
{
	va_list ap;
	char small[512];
	char *big;
	int n, r;

	va_start(ap, fmt);
	n = vsnprintf(small, sizeof(small), fmt, ap);
	va_end(ap);
	if (n < 0)
		return -1;
	if ((size_t)n < sizeof(small))
		return mh_buf_append(b, small, (size_t)n);
	if ((size_t)n > b->max)
		return -1;
	big = xmalloc((size_t)n + 1);
	va_start(ap, fmt);
	r = vsnprintf(big, (size_t)n + 1, fmt, ap);
	va_end(ap);
	if (r != n) {
		free(big);
		return -1;
	}
	r = mh_buf_append(b, big, (size_t)n);
	free(big);
	return r;
}

char *
mh_buf_steal(struct mh_buf *b, size_t *lenp)
{
	char *p;

	if (b->data == NULL)
		mh_buf_append(b, "", 0);
	p = b->data;
	if (lenp)
		*lenp = b->len;
	b->data = NULL;
	b->len = b->cap = 0;
	return p;
}

/* Code points a reader must never see raw in a log line even in valid
 * UTF-8: C1 controls, line and paragraph separators (a viewer may break
 * the line there), bidirectional controls (they reorder what is shown,
 * CVE-2021-42574) and the BOM / zero width no-break space. */
static bool
mh_log_cp_hidden(unsigned cp)
{
	/* Ranges, ascending: C1 controls; spaces other than U+0020
	 * (category Zs: a reader takes them for a field separator);
	 * format characters (Cf: invisible, or reordering); variation
	 * selectors and fillers (shown as nothing). */
	static const unsigned r[][2] = {
		{ 0x0080, 0x00a0 }, { 0x00ad, 0x00ad }, { 0x034f, 0x034f },
		{ 0x0600, 0x0605 }, { 0x061c, 0x061c }, { 0x06dd, 0x06dd },
		{ 0x070f, 0x070f }, { 0x08e2, 0x08e2 }, { 0x115f, 0x1160 },
		{ 0x1680, 0x1680 }, { 0x180b, 0x180f }, { 0x2000, 0x200f },
		{ 0x2028, 0x202f }, { 0x205f, 0x206f }, { 0x3000, 0x3000 },
		{ 0x3164, 0x3164 }, { 0xfe00, 0xfe0f }, { 0xfeff, 0xfeff },
		{ 0xffa0, 0xffa0 }, { 0xfff9, 0xfffb }, { 0x110bd, 0x110bd },
		{ 0x110cd, 0x110cd }, { 0x13430, 0x1343f },
		{ 0x1bca0, 0x1bca3 }, { 0x1d173, 0x1d17a },
		{ 0xe0000, 0xe0fff },
	};
	size_t i;

	for (i = 0; i < sizeof(r) / sizeof(r[0]) && cp >= r[i][0]; i++)
		if (cp <= r[i][1])
			return true;
	return false;
}

static const char *
mh_log_escape_any(const char *in, size_t len, size_t maxin, char *out,
    size_t outsz, bool utf8)
{
	static const char hex[] = "0123456789abcdef";
	const unsigned char *p = (const unsigned char *)in;
	size_t i, o = 0, n, k, end = len < maxin ? len : maxin;
	unsigned cp;

	if (outsz == 0)
		return out;
	for (i = 0; i < end; i += n) {
		unsigned char c = p[i];
		n = 1;
		if (c >= 0x20 && c < 0x7f && c != '"' && c != '\\') {
			if (o + 1 >= outsz)
				break;
			out[o++] = (char)c;
			continue;
		}
		/* A whole valid sequence inside the cut, or \xNN octets. */
		if (utf8 && c >= 0x80 &&
		    (k = mh_utf8_seq(p + i, len - i, &cp)) > 1 &&
		    !mh_log_cp_hidden(cp)) {
			if (i + k > end || o + k >= outsz)
				break;
			memcpy(out + o, p + i, k);
			o += k;
			n = k;
			continue;
		}
		if (o + 4 >= outsz)
			break;
		out[o++] = '\\';
		out[o++] = 'x';
		out[o++] = hex[c >> 4];
		out[o++] = hex[c & 15];
	}
	if (i < len && o + 3 < outsz) {
		memcpy(out + o, "...", 3);
		o += 3;
	}
	out[o] = '\0';
	return out;
}

void
mh_fmt_duration(int64_t s, char *buf, size_t sz)
{
	if (s > 0 && s % 86400 == 0)
		(void)mh_snprintf(buf, sz, "%lldd", (long long)(s / 86400));
	else if (s > 0 && s % 3600 == 0)
		(void)mh_snprintf(buf, sz, "%lldh", (long long)(s / 3600));
	else if (s > 0 && s % 60 == 0)
		(void)mh_snprintf(buf, sz, "%lldm", (long long)(s / 60));
	else
		(void)mh_snprintf(buf, sz, "%llds", (long long)s);
}

void
mh_fmt_duration_words(int64_t s, bool ja, char *buf, size_t sz)
{
	static const struct {
		int64_t		 secs;
		const char	*en, *ens, *ja;
	} u[] = {
		{ 86400, "day", "days", "\xe6\x97\xa5" },		/* 日 */
		{ 3600, "hour", "hours", "\xe6\x99\x82\xe9\x96\x93" },	/* 時間 */
		{ 60, "minute", "minutes", "\xe5\x88\x86" },		/* 分 */
		{ 1, "second", "seconds", "\xe7\xa7\x92" },		/* 秒 */
	};
	size_t i;
	int64_t n;

	if (s < 0)
		s = 0;
	for (i = 0; i < 3 && (s == 0 || s % u[i].secs != 0); i++)
		;
	n = s / u[i].secs;
	(void)mh_snprintf(buf, sz, "%lld %s", (long long)n, ja ? u[i].ja :
	    n == 1 ? u[i].en : u[i].ens);
}

const char *
mh_log_escape(const char *in, size_t len, size_t maxin, char *out,
    size_t outsz)
{
	return mh_log_escape_any(in, len, maxin, out, outsz, false);
}

const char *
mh_log_escape_utf8(const char *in, size_t len, size_t maxin, char *out,
    size_t outsz)
{
	return mh_log_escape_any(in, len, maxin, out, outsz, true);
}

const char *
mh_log_addr(const char *addr, char *out, size_t sz)
{
	char esc[1400];

	mh_log_escape_utf8(addr ? addr : "", addr ? strlen(addr) : 0, 320, esc,
	    sizeof(esc));
	if (strchr(esc, ' ') != NULL)
		(void)mh_snprintf(out, sz, "\"<%s>\"", esc);
	else
		(void)mh_snprintf(out, sz, "<%s>", esc);
	return out;
}

bool
mh_is_ascii(const char *s, size_t len)
{
	size_t i;

	for (i = 0; i < len; i++)
		if ((unsigned char)s[i] >= 0x80)
			return false;
	return true;
}

size_t
mh_utf8_seq(const unsigned char *p, size_t len, unsigned *cpp)
{
	unsigned c = p[0], cp;
	size_t n, i;

	if (c < 0x80) {
		if (cpp != NULL)
			*cpp = c;
		return 1;
	}
	if (c >= 0xc2 && c <= 0xdf)
		n = 2, cp = c & 0x1f;
	else if (c >= 0xe0 && c <= 0xef)
		n = 3, cp = c & 0x0f;
	else if (c >= 0xf0 && c <= 0xf4)
		n = 4, cp = c & 0x07;
	else
		return 0;
	if (len < n)
		return 0;
	for (i = 1; i < n; i++) {
		if ((p[i] & 0xc0) != 0x80)
			return 0;
		cp = (cp << 6) | (p[i] & 0x3f);
	}
	if ((n == 3 && (cp < 0x800 || (cp >= 0xd800 && cp <= 0xdfff))) ||
	    (n == 4 && (cp < 0x10000 || cp > 0x10ffff)))
		return 0;
	if (cpp != NULL)
		*cpp = cp;
	return n;
}

int
mh_buf_html(struct mh_buf *b, const char *s, size_t len)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t i = 0, run = 0, n;
	const char *ent;

	while (i < len) {
		ent = NULL;
		n = 1;
		switch (p[i]) {
		case '&': ent = "&amp;"; break;
		case '<': ent = "&lt;"; break;
		case '>': ent = "&gt;"; break;
		case '"': ent = "&quot;"; break;
		case '\'': ent = "&#39;"; break;
		default:
			if ((p[i] < 0x20 && p[i] != '\t' && p[i] != '\n' &&
			    p[i] != '\r') || p[i] == 0x7f)
				ent = "\xef\xbf\xbd";
			else if ((n = mh_utf8_seq(p + i, len - i, NULL)) == 0) {
				ent = "\xef\xbf\xbd";
				n = 1;
			}
		}
		if (ent == NULL) {
			i += n;
			run += n;
			continue;
		}
		if (mh_buf_append(b, p + i - run, run) == -1 ||
		    mh_buf_puts(b, ent) == -1)
			return -1;
		run = 0;
		i += n;
	}
	return mh_buf_append(b, p + i - run, run);
}

int
mh_b64_val(unsigned char c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == '+')
		return 62;
	if (c == '/')
		return 63;
	return -1;
}
