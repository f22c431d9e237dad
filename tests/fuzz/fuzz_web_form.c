/*
 * fuzz_web_form.c - libFuzzer target for the sender's page's POST body
 * parser, web_form_parse_() (STYLE G11).
 *
 * The input is the body.  Checked: the same body parses the same way
 * twice; on success both values are NUL-terminated inside their buffers,
 * made only of base64url characters, and appear in the input as
 * "csrf=VALUE" and "action=VALUE"; a body with any other octet in a value
 * (percent, plus, space...) is refused.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "web_priv.h"

#define FUZZ_ASSERT(x)	do { if (!(x)) abort(); } while (0)
#define FUZZ_CSRF	64
#define FUZZ_ACTION	16

int LLVMFuzzerTestOneInput(const uint8_t *, size_t);

static void
fuzz_form_value_ok(const char *v, size_t cap, const char *key,
    const char *in, size_t len)
{
	char pat[FUZZ_CSRF + 16];
	size_t i, n;

	FUZZ_ASSERT(memchr(v, '\0', cap) != NULL);
	for (i = 0; v[i] != '\0'; i++)
		FUZZ_ASSERT((v[i] >= 'A' && v[i] <= 'Z') || (v[i] >= 'a' &&
		    v[i] <= 'z') || (v[i] >= '0' && v[i] <= '9') ||
		    v[i] == '-' || v[i] == '_');
	n = strlen(key);
	memcpy(pat, key, n);
	pat[n++] = '=';
	memcpy(pat + n, v, i);
	n += i;
	FUZZ_ASSERT(memmem(in, len, pat, n) != NULL);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char c1[FUZZ_CSRF], a1[FUZZ_ACTION], c2[FUZZ_CSRF], a2[FUZZ_ACTION];
	const char *in = (const char *)data;
	int r1, r2;

	if (size > 64 * 1024)
		return 0;
	r1 = web_form_parse_(in, size, c1, sizeof(c1), a1, sizeof(a1));
	r2 = web_form_parse_(in, size, c2, sizeof(c2), a2, sizeof(a2));
	FUZZ_ASSERT(r1 == r2 && (r1 == 0 || r1 == -1));
	if (r1 != 0)
		return 0;
	FUZZ_ASSERT(strcmp(c1, c2) == 0 && strcmp(a1, a2) == 0);
	fuzz_form_value_ok(c1, sizeof(c1), "csrf", in, size);
	fuzz_form_value_ok(a1, sizeof(a1), "action", in, size);
	FUZZ_ASSERT(memchr(in, '%', size) == NULL &&
	    memchr(in, '+', size) == NULL && memchr(in, ' ', size) == NULL);
	return 0;
}
