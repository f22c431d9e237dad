/*
 * addr.h - RFC 5321 address (Path / Mailbox) parser, shared by the SMTP
 * server (MAIL FROM / RCPT TO) and the policy.
 *
 * Pure functions over (const char *, size_t): no I/O, no globals, no
 * fatal.  Strict and bounded: local part <= 64 octets, domain <= 255,
 * path <= 256 (RFC 5321 §4.5.3.1).  Source routes ("@a,@b:") are accepted
 * and dropped (§4.1.2, C.).  Quoted local parts and address literals
 * ([1.2.3.4], [IPv6:...]) are accepted.  8-bit bytes are accepted only with
 * ADDR_F_UTF8 and only as well-formed UTF-8 (RFC 6531); NUL, CR, LF and
 * other control bytes never.
 * Thread safety: reentrant.
 */
#ifndef MH_POLICY_ADDR_H
#define MH_POLICY_ADDR_H

#include <stdbool.h>
#include <stddef.h>

#define ADDR_LOCAL_MAX	64
#define ADDR_DOMAIN_MAX	255
#define ADDR_PATH_MAX	256

/* parse flags */
#define ADDR_F_UTF8		0x01	/* SMTPUTF8 in effect: allow UTF-8 */
#define ADDR_F_ALLOW_NULL	0x02	/* "<>" allowed (reverse-path) */
#define ADDR_F_ALLOW_POSTMASTER	0x04	/* "<Postmaster>" without domain */

enum addr_status {
	ADDR_OK = 0,
	ADDR_BAD,	/* syntax error */
	ADDR_TOO_LONG,	/* a length limit exceeded */
	ADDR_8BIT,	/* non-ASCII without ADDR_F_UTF8, or bad UTF-8 */
};

struct addr_path {
	/* "local@domain" exactly as it will be sent on the wire (quoted
	 * local part kept as quoted, domain as given), without angle
	 * brackets; "" for the null path <>, "Postmaster" for that form. */
	char	 addr[ADDR_PATH_MAX + 1];
	size_t	 local_len;	/* octets before '@' (== strlen when no '@') */
	bool	 is_null;
	bool	 is_utf8;	/* contains non-ASCII */
	bool	 domain_literal;	/* domain is [...] */
};

/*
 * Parses a Path "<...>" at the start of s.  *consumed is set to the number
 * of octets used (through the '>'), so the caller can parse ESMTP
 * parameters after it.  A human-readable reason is put in *why (static
 * string) on error.
 */
enum addr_status addr_parse_path(const char *s, size_t len, unsigned flags,
		    struct addr_path *out, size_t *consumed, const char **why);

/* Same for a bare "local@domain" mailbox (no angle brackets, whole string). */
enum addr_status addr_parse_mailbox(const char *s, size_t len, unsigned flags,
		    struct addr_path *out, const char **why);

/* The domain part of a parsed path ("" for null or Postmaster). */
const char	*addr_domain(const struct addr_path *);

#endif
