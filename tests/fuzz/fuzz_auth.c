/*
 * fuzz_auth.c - libFuzzer target for the SASL and base64 decoding of
 * proxy/auth.c (STYLE G11): auth_b64_decode(), auth_sasl_plain_parse(),
 * auth_sasl_login_parse(), and the password file parser.
 *
 * The input is one AUTH line as a client sends it (base64).  It is
 * decoded as the session would, the result parsed as PLAIN and as LOGIN;
 * the raw input is also parsed directly, as SASL data and as a password
 * file.  Invariants are checked with abort().
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "auth.h"

#define FUZZ_ASSERT(x)	do { if (!(x)) abort(); } while (0)

int LLVMFuzzerTestOneInput(const uint8_t *, size_t);

static void
fuzz_auth_sasl(const unsigned char *p, size_t len)
{
	struct auth_creds c;
	const char *why;

	why = auth_sasl_plain_parse(p, len, &c);
	if (why == NULL) {
		size_t ul = strlen(c.user);

		FUZZ_ASSERT(ul >= 1 && ul <= AUTH_USER_MAX);
		FUZZ_ASSERT(c.passlen <= AUTH_PASS_MAX);
		FUZZ_ASSERT(strlen(c.pass) == c.passlen);
		FUZZ_ASSERT(memchr(p, '\0', len) != NULL);
	} else
		FUZZ_ASSERT(why[0] != '\0');
	auth_creds_clear(&c);
	FUZZ_ASSERT(c.passlen == 0);
	why = auth_sasl_login_parse(p, len, true, &c);
	FUZZ_ASSERT(why != NULL || (strlen(c.user) == len && len > 0));
	why = auth_sasl_login_parse(p, len, false, &c);
	FUZZ_ASSERT(why != NULL || c.passlen == len);
	auth_creds_clear(&c);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	unsigned char out[AUTH_SASL_MAX];
	char *enc;
	struct auth_pwfile *pw = NULL;
	enum auth_b64_status st;
	size_t outlen = 0, line, n;

	st = auth_b64_decode((const char *)data, size, out, sizeof(out),
	    &outlen);
	FUZZ_ASSERT(st == AUTH_B64_OK || st == AUTH_B64_BAD ||
	    st == AUTH_B64_TOO_LONG);
	if (st == AUTH_B64_OK) {
		FUZZ_ASSERT(outlen <= sizeof(out));
		FUZZ_ASSERT(outlen <= size);
		/* Round trip: canonical input encodes back to itself. */
		enc = malloc(4 * ((outlen + 2) / 3) + 1);
		FUZZ_ASSERT(enc != NULL);
		n = auth_b64_encode(out, outlen, enc);
		FUZZ_ASSERT(n == 4 * ((outlen + 2) / 3));
		if (outlen > 0) {
			unsigned char again[AUTH_SASL_MAX];
			size_t alen;

			FUZZ_ASSERT(auth_b64_decode(enc, n, again,
			    sizeof(again), &alen) == AUTH_B64_OK);
			FUZZ_ASSERT(alen == outlen && memcmp(again, out,
			    alen) == 0);
		}
		free(enc);
		fuzz_auth_sasl(out, outlen);
	}
	if (size <= AUTH_SASL_MAX)
		fuzz_auth_sasl(data, size);
	if (auth_pwfile_parse((const char *)data, size, &pw, &line) == NULL) {
		FUZZ_ASSERT(pw != NULL);
		FUZZ_ASSERT(auth_pwfile_count(pw) <= size);
		auth_pwfile_free(pw);
	} else
		FUZZ_ASSERT(pw == NULL);
	return 0;
}
