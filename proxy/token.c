/*
 * token.c - see token.h.
 */
#include "token.h"

#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

#include "util.h"

static const char token_alphabet[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

_Static_assert((TOKEN_SEL_OCTETS * 4 + 2) / 3 == QUEUE_TOKEN_SEL_LEN,
    "selector length");
_Static_assert((TOKEN_VER_OCTETS * 4 + 2) / 3 == TOKEN_VER_LEN,
    "verifier length");
_Static_assert((QUEUE_TOKEN_CSRF_LEN * 4 + 2) / 3 == TOKEN_CSRF_STRLEN,
    "csrf length");

void
token_b64url(const unsigned char *in, size_t n, char *out)
{
	size_t i, o = 0;
	unsigned v;

	for (i = 0; i + 2 < n; i += 3) {
		v = (unsigned)in[i] << 16 | (unsigned)in[i + 1] << 8 | in[i + 2];
		out[o++] = token_alphabet[(v >> 18) & 63];
		out[o++] = token_alphabet[(v >> 12) & 63];
		out[o++] = token_alphabet[(v >> 6) & 63];
		out[o++] = token_alphabet[v & 63];
	}
	if (n - i == 1) {
		v = (unsigned)in[i] << 16;
		out[o++] = token_alphabet[(v >> 18) & 63];
		out[o++] = token_alphabet[(v >> 12) & 63];
	} else if (n - i == 2) {
		v = (unsigned)in[i] << 16 | (unsigned)in[i + 1] << 8;
		out[o++] = token_alphabet[(v >> 18) & 63];
		out[o++] = token_alphabet[(v >> 12) & 63];
		out[o++] = token_alphabet[(v >> 6) & 63];
	}
	out[o] = '\0';
}

static bool
token_char_ok(unsigned char c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
	    (c >= '0' && c <= '9') || c == '-' || c == '_';
}

static int
token_sha256(const void *p, size_t n, unsigned char out[QUEUE_TOKEN_HASH_LEN])
{
	unsigned int len = 0;

	if (EVP_Digest(p, n, out, &len, EVP_sha256(), NULL) != 1 ||
	    len != QUEUE_TOKEN_HASH_LEN)
		return -1;
	return 0;
}

int
token_new(char buf[TOKEN_LEN + 1], struct queue_token *row)
{
	unsigned char sel[TOKEN_SEL_OCTETS], ver[TOKEN_VER_OCTETS];
	int rc = -1;

	memset(row, 0, sizeof(*row));
	if (RAND_bytes(sel, sizeof(sel)) != 1 ||
	    RAND_bytes(ver, sizeof(ver)) != 1 ||
	    RAND_bytes(row->csrf, sizeof(row->csrf)) != 1)
		goto done;
	token_b64url(sel, sizeof(sel), row->selector);
	token_b64url(ver, sizeof(ver), buf + QUEUE_TOKEN_SEL_LEN);
	memcpy(buf, row->selector, QUEUE_TOKEN_SEL_LEN);
	buf[TOKEN_LEN] = '\0';
	/* The hash is of the verifier's text form, as presented later. */
	if (token_sha256(buf + QUEUE_TOKEN_SEL_LEN, TOKEN_VER_LEN,
	    row->hash) == -1)
		goto done;
	rc = 0;
done:
	OPENSSL_cleanse(ver, sizeof(ver));
	if (rc == -1) {
		OPENSSL_cleanse(buf, TOKEN_LEN + 1);
		memset(row, 0, sizeof(*row));
	}
	return rc;
}

int
token_parse(const char *s, size_t len, char sel[QUEUE_TOKEN_SEL_LEN + 1],
    unsigned char hash[QUEUE_TOKEN_HASH_LEN])
{
	size_t i;

	if (len != TOKEN_LEN)
		return -1;
	for (i = 0; i < len; i++)
		if (!token_char_ok((unsigned char)s[i]))
			return -1;
	/* The last character of each part carries padding bits only when
	 * the octet count is not a multiple of 3: both are, so every
	 * string of the alphabet is canonical. */
	memcpy(sel, s, QUEUE_TOKEN_SEL_LEN);
	sel[QUEUE_TOKEN_SEL_LEN] = '\0';
	return token_sha256(s + QUEUE_TOKEN_SEL_LEN, TOKEN_VER_LEN, hash);
}

bool
token_check(const struct queue_token *row,
    const unsigned char hash[QUEUE_TOKEN_HASH_LEN])
{
	return CRYPTO_memcmp(row->hash, hash, QUEUE_TOKEN_HASH_LEN) == 0;
}

void
token_csrf_str(const struct queue_token *row, char out[TOKEN_CSRF_STRLEN + 1])
{
	token_b64url(row->csrf, sizeof(row->csrf), out);
}

bool
token_csrf_check(const struct queue_token *row, const char *s, size_t len)
{
	char want[TOKEN_CSRF_STRLEN + 1];
	bool ok;

	if (len != TOKEN_CSRF_STRLEN)
		return false;
	token_csrf_str(row, want);
	ok = CRYPTO_memcmp(want, s, TOKEN_CSRF_STRLEN) == 0;
	OPENSSL_cleanse(want, sizeof(want));
	return ok;
}
