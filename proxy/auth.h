/*
 * auth.h - SMTP AUTH for clients (RFC 4954): SASL PLAIN and LOGIN
 * decoding, password back ends, sender binding, brute-force limits.
 *
 * Back ends (auth.backend): "file" checks crypt(3) hashes from
 * auth.password_file; "upstream" asks the upstream submission server
 * (auth_upstream.c) and may remember a success for auth.cache_ttl as a
 * salted scrypt hash.  Slow hashing never runs on the loop: one worker
 * thread takes jobs from a locked list and hands them back through a
 * second list plus event_active(), as the queue's writer does.  A
 * password given to auth_check() is copied, and every copy is cleansed
 * (OPENSSL_cleanse) before it is freed; no password is ever logged.
 *
 * Ownership: struct auth is owned by main; it holds a reference to its
 * config.  auth_check() calls cb exactly once, later, on the loop (never
 * from inside auth_check), unless auth_free() runs first, in which case
 * it is never called; arg should therefore carry an id, not a pointer
 * that may die (STYLE G3).
 * Thread: loop thread, except the pure functions (any thread).
 * Errors: 0 / -1; parsers return an error string (static) or NULL, or a
 * status enum.
 */
#ifndef MH_PROXY_AUTH_H
#define MH_PROXY_AUTH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct config;
struct event_base;
struct auth;

#define AUTH_USER_MAX	255	/* octets of a login name */
#define AUTH_PASS_MAX	1024	/* octets of a password */
/* The longest SASL message we decode: authzid NUL authcid NUL passwd. */
#define AUTH_SASL_MAX	(2 * AUTH_USER_MAX + AUTH_PASS_MAX + 2)
/* Longest base64 line we accept (AUTH command or response, no CRLF). */
#define AUTH_B64_MAX	(((AUTH_SASL_MAX + 2) / 3) * 4)

enum auth_result {
	AUTH_OK = 0,
	AUTH_FAIL,		/* wrong user or password: 535 5.7.8 */
	AUTH_TEMPFAIL,		/* back end unavailable: 454 4.7.0 */
};

typedef void auth_done_cb(enum auth_result, void *arg);

struct auth	*auth_new(struct event_base *, struct config *, char *errbuf,
		    size_t errsz);
/* Takes the new config and reads the password file again.  On error the
 * running state (config and passwords) stays and errbuf says why. */
int		 auth_reload(struct auth *, struct config *, char *errbuf,
		    size_t errsz);
void		 auth_free(struct auth *);

/* Checks a login asynchronously.  user is NUL-terminated; the password is
 * counted (it never contains NUL: the SASL decoders refuse it). */
int		 auth_check(struct auth *, const char *user, const char *pass,
		    size_t passlen, auth_done_cb *cb, void *arg);

/* Brute-force limits (auth.max_failures and friends).  Keys are the
 * client address and the user name (ASCII-lowercased). */
bool		 auth_addr_blocked(struct auth *, const char *addr);
bool		 auth_user_blocked(struct auth *, const char *user);
/* Records one failure; returns the delay in ms before the 535 reply and
 * sets *close when the address has reached auth.max_failures. */
int64_t		 auth_failed(struct auth *, const char *addr, const char *user,
		    bool *close);
void		 auth_succeeded(struct auth *, const char *addr,
		    const char *user);

/*
 * Sender binding.  true when user may use addr ("" = the null sender) as
 * envelope sender or From: address: its auth.senders patterns, or, for a
 * user not listed there, the login itself when it is an address.
 * Comparison is ASCII case-insensitive.
 */
bool		 auth_sender_ok(const struct config *, const char *user,
		    const char *addr);
/*
 * auth.check_from_header: every address in every From: field of the
 * header block hdr (CRLF lines, up to the empty line; not necessarily
 * NUL-terminated) must pass auth_sender_ok().  A simple bounded scanner
 * (quoted strings, comments, groups, angle addresses; no RFC 2047), not
 * a full RFC 5322 parser.  Returns NULL when allowed, else why not.
 */
const char	*auth_from_check(const struct config *, const char *user,
		    const char *hdr, size_t len);
/* One pattern: "a@b", "*@b" or "*". */
bool		 auth_pattern_match(const char *pattern, const char *addr);

/*
 * Pure decoders for the SMTP session and the fuzz target.
 */
enum auth_b64_status {
	AUTH_B64_OK = 0,
	AUTH_B64_BAD,		/* not base64: 501 5.5.2 */
	AUTH_B64_TOO_LONG,	/* decoded data would not fit out */
};

/* Strict RFC 4648 base64 (no whitespace, padding required to a multiple
 * of 4, no data after padding).  "=" alone is the empty string (RFC 4954
 * section 4).  out has room for outsz octets; *outlen is set on OK. */
enum auth_b64_status auth_b64_decode(const char *in, size_t len,
		    unsigned char *out, size_t outsz, size_t *outlen);
/* Encodes; out must hold 4 * ((len + 2) / 3) + 1 octets.  Returns the
 * length written (NUL-terminated). */
size_t		 auth_b64_encode(const unsigned char *in, size_t len,
		    char *out);

struct auth_creds {
	char	 user[AUTH_USER_MAX + 1];
	char	 pass[AUTH_PASS_MAX + 1];
	size_t	 passlen;
};

/* SASL PLAIN (RFC 4616): [authzid] NUL authcid NUL passwd.  An authzid
 * must be empty or equal to authcid (no proxy logins).  Returns NULL or
 * why the message is malformed (501 5.5.2). */
const char	*auth_sasl_plain_parse(const unsigned char *, size_t,
		    struct auth_creds *);
/* One LOGIN response: a user name (is_user) or a password.  Same rules
 * as PLAIN for the field. */
const char	*auth_sasl_login_parse(const unsigned char *, size_t,
		    bool is_user, struct auth_creds *);
/* Wipes the password in creds. */
void		 auth_creds_clear(struct auth_creds *);

/*
 * The password file: "user:hash" lines, '#' comments and blank lines;
 * CRLF or LF.  Returns NULL and a new table in *out, or an error with
 * the 1-based line in *line.
 */
struct auth_pwfile;
const char	*auth_pwfile_parse(const char *data, size_t len,
		    struct auth_pwfile **out, size_t *line);
/* The hash of user, or NULL (borrowed, valid while the table lives). */
const char	*auth_pwfile_lookup(const struct auth_pwfile *, const char *user);
size_t		 auth_pwfile_count(const struct auth_pwfile *);
void		 auth_pwfile_free(struct auth_pwfile *);
/* data with user's line replaced by (or appended as) user:hash; comments
 * and other lines kept.  Returns a new NUL-terminated string, or NULL
 * when user or hash is not valid in the file. */
char		*auth_pwfile_update(const char *data, size_t len,
		    const char *user, const char *hash);
/* Makes a crypt(3) hash of pass: yescrypt, or sha512-crypt when
 * yescrypt is not available.  NULL on error; the caller frees. */
char		*auth_hash_new(const char *pass);
/* Checks pass against a crypt(3) hash in constant time for the hash. */
bool		 auth_hash_verify(const char *pass, const char *hash);

/*
 * The brute-force counter, exported for tests: failures per key within
 * a fixed window that starts at the key's first failure.  At most max
 * keys are kept (the oldest is forgotten first).
 */
struct auth_limiter;
struct auth_limiter *auth_limiter_new(size_t max);
void		 auth_limiter_free(struct auth_limiter *);
size_t		 auth_limiter_get(struct auth_limiter *, const char *key,
		    int64_t now_ms, int64_t window_ms);
size_t		 auth_limiter_fail(struct auth_limiter *, const char *key,
		    int64_t now_ms, int64_t window_ms);
void		 auth_limiter_clear(struct auth_limiter *, const char *key);
/* Delay for the n-th failure: base doubled per failure, at most 8x. */
int64_t		 auth_failure_delay(int64_t base_ms, size_t n);

#endif
