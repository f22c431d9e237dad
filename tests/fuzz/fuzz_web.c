/*
 * fuzz_web.c - libFuzzer target for the sender-facing parsers and
 * renderers of issue 5 (STYLE G11).  The first octet picks the target,
 * the rest is the input:
 *   0  webpage_pick_lang()   (Accept-Language)
 *   1  token_parse()         (the link's token)
 *   2  log_logfmt_to_json()  (JSON logs: output must stay one valid,
 *                             UTF-8, quote-balanced object body)
 *   3  webpage_render()      (the input as subject, sender, recipient,
 *                             finding text: no tag may come through)
 *   4  alert_encode_subject() (lines <= 78 octets, no bare CR or LF)
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "alert.h"
#include "log.h"
#include "token.h"
#include "util.h"
#include "webpage.h"

#define FUZZ_ASSERT(x)	do { if (!(x)) abort(); } while (0)
#define FUZZ_MAX	(64 * 1024)

int LLVMFuzzerTestOneInput(const uint8_t *, size_t);

/* One JSON object body: no control character, no DEL, octets >= 0x80
 * only as valid UTF-8 (readable UTF-8 in JSON logs, issue 17),
 * quote-balanced. */
static void
fuzz_json_ok(const char *s)
{
	bool in = false;
	size_t k;

	for (; *s; s++) {
		if ((unsigned char)*s >= 0x80) {
			k = mh_utf8_seq((const unsigned char *)s, strlen(s),
			    NULL);
			FUZZ_ASSERT(k > 1);
			s += k - 1;
			continue;
		}
		FUZZ_ASSERT((unsigned char)*s >= 0x20 &&
		    (unsigned char)*s < 0x7f);
		if (in && *s == '\\') {
			s++;
			FUZZ_ASSERT(*s != '\0');
			continue;
		}
		if (*s == '"')
			in = !in;
	}
	FUZZ_ASSERT(!in);
}

static void
fuzz_no_tag(const char *page, const char *in)
{
	const char *p;

	/* The page has its own tags; none may start inside the input's
	 * text: every '<' from the input must have become "&lt;". */
	FUZZ_ASSERT(strstr(page, "<script") == NULL);
	FUZZ_ASSERT(strstr(page, "<img") == NULL);
	if (strchr(in, '<') != NULL)
		FUZZ_ASSERT((p = strstr(page, "&lt;")) != NULL);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *in, *out;
	size_t n, len;

	if (size < 1 || size > FUZZ_MAX)
		return 0;
	n = size - 1;
	in = malloc(n + 1);
	if (in == NULL)
		return 0;
	memcpy(in, data + 1, n);
	in[n] = '\0';
	switch (data[0] % 5) {
	case 0: {
		enum alert_lang l = webpage_pick_lang(in, ALERT_LANG_JA);

		FUZZ_ASSERT(l == ALERT_LANG_EN || l == ALERT_LANG_JA);
		break;
	}
	case 1: {
		char sel[QUEUE_TOKEN_SEL_LEN + 1];
		unsigned char h[QUEUE_TOKEN_HASH_LEN];

		if (token_parse(in, n, sel, h) == 0) {
			FUZZ_ASSERT(n == TOKEN_LEN);
			FUZZ_ASSERT(strlen(sel) == QUEUE_TOKEN_SEL_LEN);
		}
		break;
	}
	case 2:
		if (strlen(in) < 2048) {
			out = malloc(16 * 1024);
			if (out != NULL && log_logfmt_to_json(in, out,
			    16 * 1024) == 0)
				fuzz_json_ok(out);
			free(out);
		}
		break;
	case 3: {
		struct webpage_view v;
		struct alert_finding f;
		const char *r[2];

		r[0] = in;
		r[1] = "x@example.org";
		memset(&f, 0, sizeof(f));
		f.rule = "typo_domain";
		f.text = in;
		f.suggestion = in;
		f.rcpts = r;
		f.nrcpts = 1;
		memset(&v, 0, sizeof(v));
		v.lang = (data[0] / 5) & 1 ? ALERT_LANG_JA : ALERT_LANG_EN;
		v.token = "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA";
		v.csrf = "BBBBBBBBBBBBBBBBBBBBBB";
		v.id = "0123456789abcdef";
		v.sender = in;
		v.subject = in;
		v.rcpts = r;
		v.nrcpts = 2;
		v.findings = &f;
		v.nfindings = 1;
		v.state = (enum webpage_state)((data[0] / 10) % 7);
		v.now = 1795000000;
		v.received_at = v.now - 10;
		v.release_at = v.now + 300;
		v.done_at = v.now;
		out = webpage_render(&v, &len);
		FUZZ_ASSERT(strlen(out) == len);
		fuzz_no_tag(out, in);
		free(out);
		break;
	}
	case 4: {
		struct mh_buf b;
		const char *p, *e;

		mh_buf_init(&b, 256 * 1024);
		if (alert_encode_subject(&b, in, 9) == 0 && b.data != NULL) {
			for (p = b.data; *p; p = e + 2) {
				e = strstr(p, "\r\n");
				if (e == NULL)
					e = p + strlen(p);
				FUZZ_ASSERT((size_t)(e - p) + (p == b.data ?
				    9 : 0) <= 78);
				FUZZ_ASSERT(memchr(p, '\r', (size_t)(e - p)) ==
				    NULL && memchr(p, '\n', (size_t)(e - p)) ==
				    NULL);
				if (*e == '\0')
					break;
			}
		}
		mh_buf_clear(&b);
		break;
	}
	}
	free(in);
	return 0;
}
