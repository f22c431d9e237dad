/*
 * token.h - the secret in the link of an alert mail (/m/<token>).
 *
 * A token is TOKEN_LEN base64url characters (RFC 4648 section 5, no
 * padding): a 9-octet selector (12 characters) that finds the row, then a
 * 24-octet verifier (32 characters, 192 bits from the OpenSSL CSPRNG).
 * Only SHA-256(verifier) is stored (queue tokens.hash); the alert mail
 * that carries the link is zeroed in the queue once it has gone (or is
 * cancelled).  The presented verifier's hash is
 * compared with the stored one in constant time (CRYPTO_memcmp).  Each
 * token also gets a random CSRF value for the page's forms, compared in
 * constant time as well.
 *
 * Pure apart from the CSPRNG.  Thread: any.  Errors: -1 / false.
 */
#ifndef MH_PROXY_TOKEN_H
#define MH_PROXY_TOKEN_H

#include <stdbool.h>
#include <stddef.h>

#include "queue.h"

#define TOKEN_SEL_OCTETS	9
#define TOKEN_VER_OCTETS	24
#define TOKEN_VER_LEN		32	/* base64url characters */
#define TOKEN_LEN		(QUEUE_TOKEN_SEL_LEN + TOKEN_VER_LEN)
#define TOKEN_CSRF_STRLEN	22	/* base64url of QUEUE_TOKEN_CSRF_LEN */

/* A fresh token: its text in buf and the row to store.  -1 when the
 * CSPRNG fails (nothing usable is returned). */
int	token_new(char buf[TOKEN_LEN + 1], struct queue_token *row);

/* Splits a presented token (len octets, untrusted): the selector and the
 * SHA-256 of its verifier.  -1 unless it is exactly TOKEN_LEN base64url
 * characters. */
int	token_parse(const char *s, size_t len,
	    char sel[QUEUE_TOKEN_SEL_LEN + 1],
	    unsigned char hash[QUEUE_TOKEN_HASH_LEN]);

/* Does the presented verifier's hash match the stored row? (constant
 * time) */
bool	token_check(const struct queue_token *row,
	    const unsigned char hash[QUEUE_TOKEN_HASH_LEN]);

/* The row's CSRF value as text, and a constant-time check of a
 * presented one (len octets, untrusted). */
void	token_csrf_str(const struct queue_token *row,
	    char out[TOKEN_CSRF_STRLEN + 1]);
bool	token_csrf_check(const struct queue_token *row, const char *s,
	    size_t len);

/* base64url without padding: writes 4*ceil(n/3) - padding characters and
 * a NUL; out must hold (n * 4 + 2) / 3 + 1 octets. */
void	token_b64url(const unsigned char *in, size_t n, char *out);

#endif
