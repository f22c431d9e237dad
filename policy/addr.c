/*
 * addr.c - see addr.h.
 *
 * A recursive-descent parser for the RFC 5321 §4.1.2 Path and Mailbox
 * rules, with the RFC 6531 §3.3 extensions (UTF8-non-ascii in atext,
 * qtextSMTP and sub-domain) when ADDR_F_UTF8 is given.  The parser walks
 * the input once with a cursor; every error names its cause in a static
 * string.  Lengths are checked as each part ends (RFC 5321 §4.5.3.1).
 */
#include "addr.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <string.h>

#include "util.h"

/* RFC 1035 §2.3.4: a label is at most 63 octets. */
#define ADDR_LABEL_MAX	63
/* A mailbox must fit in a path once wrapped in "<" ">". */
#define ADDR_MAILBOX_MAX	(ADDR_PATH_MAX - 2)
/* "IPv6:" and the longest IPv6 text form fit easily. */
#define ADDR_LITERAL_IP_MAX	64

struct addr_cur {
	const unsigned char	*s;
	size_t			 len;
	size_t			 pos;
	unsigned		 flags;
	const char		*why;
};

static enum addr_status
addr_fail(struct addr_cur *c, enum addr_status st, const char *why)
{
	c->why = why;
	return st;
}

static bool
addr_at(const struct addr_cur *c, unsigned char ch)
{
	return c->pos < c->len && c->s[c->pos] == ch;
}

static bool
addr_is_alnum(unsigned char ch)
{
	return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
	    (ch >= '0' && ch <= '9');
}

/* RFC 5322 §3.2.3 atext, ASCII part. */
static bool
addr_is_atext(unsigned char ch)
{
	return addr_is_alnum(ch) ||
	    (ch != '\0' && strchr("!#$%&'*+-/=?^_`{|}~", ch) != NULL);
}

/*
 * The octet at the cursor is not allowed where it is: pick the most
 * useful reason.  ctx is used for a printable ASCII octet.
 */
static enum addr_status
addr_unexpected(struct addr_cur *c, const char *ctx)
{
	unsigned char ch;

	if (c->pos >= c->len)
		return addr_fail(c, ADDR_BAD, "unexpected end of address");
	ch = c->s[c->pos];
	if (ch == '\0')
		return addr_fail(c, ADDR_BAD, "NUL in address");
	if (ch == '\r' || ch == '\n')
		return addr_fail(c, ADDR_BAD, "CR or LF in address");
	if (ch < 0x20 || ch == 0x7f)
		return addr_fail(c, ADDR_BAD, "control character in address");
	if (ch == ' ')
		return addr_fail(c, ADDR_BAD, "space in address");
	if (ch >= 0x80 && !(c->flags & ADDR_F_UTF8))
		return addr_fail(c, ADDR_8BIT,
		    "non-ASCII octet without SMTPUTF8");
	return addr_fail(c, ADDR_BAD, ctx);
}

/*
 * Accepts one well-formed UTF-8 sequence (RFC 3629 §4) at the cursor, the
 * first octet being >= 0x80.  Overlong forms, surrogates, code points
 * above U+10FFFF, truncated sequences and C1 controls (U+0080-U+009F) are
 * refused.
 */
static enum addr_status
addr_utf8(struct addr_cur *c)
{
	const unsigned char *p = c->s + c->pos;
	size_t avail = c->len - c->pos, n, i;
	unsigned char lo = 0x80, hi = 0xbf;

	if (!(c->flags & ADDR_F_UTF8))
		return addr_fail(c, ADDR_8BIT,
		    "non-ASCII octet without SMTPUTF8");
	if (p[0] >= 0xc2 && p[0] <= 0xdf)
		n = 2;
	else if (p[0] >= 0xe0 && p[0] <= 0xef) {
		n = 3;
		if (p[0] == 0xe0)
			lo = 0xa0;	/* overlong */
		else if (p[0] == 0xed)
			hi = 0x9f;	/* UTF-16 surrogates */
	} else if (p[0] >= 0xf0 && p[0] <= 0xf4) {
		n = 4;
		if (p[0] == 0xf0)
			lo = 0x90;	/* overlong */
		else if (p[0] == 0xf4)
			hi = 0x8f;	/* above U+10FFFF */
	} else
		return addr_fail(c, ADDR_8BIT, "malformed UTF-8");
	if (avail < n)
		return addr_fail(c, ADDR_8BIT, "truncated UTF-8");
	if (p[1] < lo || p[1] > hi)
		return addr_fail(c, ADDR_8BIT, "malformed UTF-8");
	for (i = 2; i < n; i++)
		if (p[i] < 0x80 || p[i] > 0xbf)
			return addr_fail(c, ADDR_8BIT, "malformed UTF-8");
	if (p[0] == 0xc2 && p[1] <= 0x9f)
		return addr_fail(c, ADDR_BAD, "control character in address");
	c->pos += n;
	return ADDR_OK;
}

/* Local-part = Dot-string / Quoted-string (RFC 5321 §4.1.2). */
static enum addr_status
addr_parse_local(struct addr_cur *c)
{
	enum addr_status st;
	size_t start = c->pos, atom;
	unsigned char ch;

	if (addr_at(c, '"')) {
		c->pos++;
		for (;;) {
			if (c->pos >= c->len)
				return addr_fail(c, ADDR_BAD,
				    "unterminated quoted string");
			ch = c->s[c->pos];
			if (ch == '"') {
				c->pos++;
				break;
			}
			if (ch == '\\') {
				/* quoted-pairSMTP = %d92 %d32-126 */
				if (c->pos + 1 >= c->len ||
				    c->s[c->pos + 1] < 32 ||
				    c->s[c->pos + 1] > 126)
					return addr_fail(c, ADDR_BAD,
					    "bad quoted-pair in local part");
				c->pos += 2;
			} else if (ch >= 32 && ch <= 126)
				c->pos++;	/* qtextSMTP */
			else if (ch >= 0x80) {
				if ((st = addr_utf8(c)) != ADDR_OK)
					return st;
			} else
				return addr_unexpected(c,
				    "bad character in quoted string");
		}
	} else {
		for (;;) {
			atom = c->pos;
			while (c->pos < c->len) {
				ch = c->s[c->pos];
				if (addr_is_atext(ch))
					c->pos++;
				else if (ch >= 0x80) {
					if ((st = addr_utf8(c)) != ADDR_OK)
						return st;
				} else
					break;
			}
			if (c->pos == atom) {
				if (addr_at(c, '.'))
					return addr_fail(c, ADDR_BAD,
					    atom == start ?
					    "local part starts with '.'" :
					    "empty atom in local part");
				if (c->pos < c->len && !addr_at(c, '@') &&
				    !addr_at(c, '>'))
					return addr_unexpected(c,
					    "invalid character in local part");
				return addr_fail(c, ADDR_BAD, atom == start ?
				    "empty local part" :
				    "local part ends with '.'");
			}
			if (!addr_at(c, '.'))
				break;
			c->pos++;
		}
	}
	if (c->pos - start > ADDR_LOCAL_MAX)
		return addr_fail(c, ADDR_TOO_LONG, "local part too long");
	return ADDR_OK;
}

/* True if the cursor is where a domain may end inside a path. */
static bool
addr_at_domain_end(const struct addr_cur *c)
{
	return c->pos >= c->len || addr_at(c, '>') || addr_at(c, ',') ||
	    addr_at(c, ':');
}

/*
 * Domain = sub-domain *("." sub-domain); sub-domain = Let-dig [Ldh-str],
 * extended with UTF8-non-ascii (RFC 6531 §3.3).  Stops at the first octet
 * that cannot be part of a domain; the caller checks what follows.
 */
static enum addr_status
addr_parse_domain(struct addr_cur *c)
{
	enum addr_status st;
	size_t start = c->pos, label;
	unsigned char ch;

	for (;;) {
		label = c->pos;
		while (c->pos < c->len) {
			ch = c->s[c->pos];
			if (addr_is_alnum(ch) || ch == '-')
				c->pos++;
			else if (ch >= 0x80) {
				if ((st = addr_utf8(c)) != ADDR_OK)
					return st;
			} else
				break;
		}
		if (c->pos == label) {
			if (addr_at(c, '.'))
				return addr_fail(c, ADDR_BAD,
				    label == start ? "domain starts with '.'" :
				    "empty domain label");
			if (!addr_at_domain_end(c))
				return addr_unexpected(c,
				    "invalid character in domain");
			return addr_fail(c, ADDR_BAD, label == start ?
			    "missing domain" : "domain ends with '.'");
		}
		if (c->pos - label > ADDR_LABEL_MAX)
			return addr_fail(c, ADDR_TOO_LONG,
			    "domain label too long");
		if (c->s[label] == '-')
			return addr_fail(c, ADDR_BAD,
			    "domain label starts with '-'");
		if (c->s[c->pos - 1] == '-')
			return addr_fail(c, ADDR_BAD,
			    "domain label ends with '-'");
		if (!addr_at(c, '.'))
			break;
		c->pos++;
	}
	if (c->pos - start > ADDR_DOMAIN_MAX)
		return addr_fail(c, ADDR_TOO_LONG, "domain too long");
	return ADDR_OK;
}

/* Runs inet_pton over a counted string. */
static bool
addr_ip_ok(int af, const unsigned char *p, size_t n)
{
	char buf[ADDR_LITERAL_IP_MAX];
	unsigned char bin[sizeof(struct in6_addr)];

	if (n == 0 || n >= sizeof(buf))
		return false;
	memcpy(buf, p, n);
	buf[n] = '\0';
	return inet_pton(af, buf, bin) == 1;
}

/*
 * address-literal = "[" ( IPv4-address-literal / IPv6-address-literal /
 * General-address-literal ) "]" (RFC 5321 §4.1.3).  IP forms are checked
 * with inet_pton(3), which also refuses leading zeros in IPv4 octets.
 */
static enum addr_status
addr_parse_literal(struct addr_cur *c)
{
	const unsigned char *body, *colon;
	size_t start = c->pos, n, i, taglen;
	unsigned char ch;

	c->pos++;	/* '[' */
	body = c->s + c->pos;
	while (c->pos < c->len && c->s[c->pos] != ']') {
		/* dcontent = %d33-90 / %d94-126 */
		ch = c->s[c->pos];
		if ((ch >= 33 && ch <= 90) || (ch >= 94 && ch <= 126))
			c->pos++;
		else
			return addr_unexpected(c,
			    "invalid character in address literal");
	}
	if (c->pos >= c->len)
		return addr_fail(c, ADDR_BAD, "unterminated address literal");
	n = (size_t)(c->s + c->pos - body);
	c->pos++;	/* ']' */
	if (c->pos - start > ADDR_DOMAIN_MAX)
		return addr_fail(c, ADDR_TOO_LONG, "domain too long");
	if (n == 0)
		return addr_fail(c, ADDR_BAD, "empty address literal");
	if ((colon = memchr(body, ':', n)) == NULL) {
		if (!addr_ip_ok(AF_INET, body, n))
			return addr_fail(c, ADDR_BAD,
			    "bad IPv4 address literal");
		return ADDR_OK;
	}
	if (n >= 5 && mh_strncasecmp((const char *)body, "IPv6:", 5) == 0) {
		if (!addr_ip_ok(AF_INET6, body + 5, n - 5))
			return addr_fail(c, ADDR_BAD,
			    "bad IPv6 address literal");
		return ADDR_OK;
	}
	/* General-address-literal = Standardized-tag ":" 1*dcontent */
	taglen = (size_t)(colon - body);
	if (taglen == 0 || body[taglen - 1] == '-')
		return addr_fail(c, ADDR_BAD, "bad address literal tag");
	for (i = 0; i < taglen; i++)
		if (!addr_is_alnum(body[i]) && body[i] != '-')
			return addr_fail(c, ADDR_BAD,
			    "bad address literal tag");
	if (taglen + 1 == n)
		return addr_fail(c, ADDR_BAD, "empty address literal");
	return ADDR_OK;
}

/*
 * Mailbox = Local-part "@" ( Domain / address-literal ).  On success the
 * mailbox text is copied to out.
 */
static enum addr_status
addr_parse_mbox(struct addr_cur *c, struct addr_path *out)
{
	enum addr_status st;
	size_t start = c->pos, at, n, i;

	if ((st = addr_parse_local(c)) != ADDR_OK)
		return st;
	at = c->pos;
	if (!addr_at(c, '@')) {
		if (c->pos >= c->len || addr_at(c, '>'))
			return addr_fail(c, ADDR_BAD, "missing '@' in address");
		return addr_unexpected(c, "invalid character in local part");
	}
	c->pos++;
	if (addr_at(c, '[')) {
		st = addr_parse_literal(c);
		out->domain_literal = true;
	} else
		st = addr_parse_domain(c);
	if (st != ADDR_OK)
		return st;
	n = c->pos - start;
	if (n > ADDR_MAILBOX_MAX)
		return addr_fail(c, ADDR_TOO_LONG, "address too long");
	memcpy(out->addr, c->s + start, n);
	out->addr[n] = '\0';
	out->local_len = at - start;
	for (i = 0; i < n; i++)
		if (c->s[start + i] >= 0x80)
			out->is_utf8 = true;
	return ADDR_OK;
}

static void
addr_set_postmaster(struct addr_path *out)
{
	mh_strlcpy(out->addr, "Postmaster", sizeof(out->addr));
	out->local_len = strlen(out->addr);
}

/* True if the n octets at p are "Postmaster", ASCII case-insensitive. */
static bool
addr_is_postmaster(const char *p, size_t n)
{
	static const char pm[] = "postmaster";
	size_t i;

	if (n != sizeof(pm) - 1)
		return false;
	for (i = 0; i < n; i++)
		if (mh_tolower((unsigned char)p[i]) != pm[i])
			return false;
	return true;
}

/* Path = "<" [ A-d-l ":" ] Mailbox ">" (RFC 5321 §4.1.2). */
static enum addr_status
addr_parse_path_body(struct addr_cur *c, struct addr_path *out)
{
	enum addr_status st;

	if (!addr_at(c, '<'))
		return addr_fail(c, ADDR_BAD, "missing '<'");
	c->pos++;
	if (addr_at(c, '>')) {
		if (!(c->flags & ADDR_F_ALLOW_NULL))
			return addr_fail(c, ADDR_BAD, "null path not allowed");
		c->pos++;
		out->is_null = true;
		return ADDR_OK;
	}
	if ((c->flags & ADDR_F_ALLOW_POSTMASTER) && c->len - c->pos > 10 &&
	    c->s[c->pos + 10] == '>' &&
	    addr_is_postmaster((const char *)c->s + c->pos, 10)) {
		c->pos += 11;
		addr_set_postmaster(out);
		return ADDR_OK;
	}
	if (addr_at(c, '@')) {
		/*
		 * A-d-l = At-domain *( "," At-domain ): obsolete source
		 * route, accepted and dropped (RFC 5321 §4.1.2, Appendix C).
		 */
		for (;;) {
			if (!addr_at(c, '@'))
				return addr_unexpected(c, "bad source route");
			c->pos++;
			if ((st = addr_parse_domain(c)) != ADDR_OK)
				return st;
			if (addr_at(c, ',')) {
				c->pos++;
				continue;
			}
			if (addr_at(c, ':')) {
				c->pos++;
				break;
			}
			if (addr_at(c, '>'))
				return addr_fail(c, ADDR_BAD,
				    "missing local part");
			return addr_unexpected(c, "bad source route");
		}
	}
	if ((st = addr_parse_mbox(c, out)) != ADDR_OK)
		return st;
	if (!addr_at(c, '>')) {
		if (c->pos >= c->len)
			return addr_fail(c, ADDR_BAD, "missing '>'");
		return addr_unexpected(c, "invalid character in domain");
	}
	c->pos++;
	/* RFC 5321 §4.5.3.1.3: 256 octets, punctuation included. */
	if (c->pos > ADDR_PATH_MAX)
		return addr_fail(c, ADDR_TOO_LONG, "path too long");
	return ADDR_OK;
}

enum addr_status
addr_parse_path(const char *s, size_t len, unsigned flags,
    struct addr_path *out, size_t *consumed, const char **why)
{
	struct addr_cur c = {
		.s = (const unsigned char *)s, .len = len, .flags = flags,
	};
	enum addr_status st;

	memset(out, 0, sizeof(*out));
	*consumed = 0;
	if ((st = addr_parse_path_body(&c, out)) != ADDR_OK) {
		memset(out, 0, sizeof(*out));
		*why = c.why;
		return st;
	}
	*consumed = c.pos;
	*why = NULL;
	return ADDR_OK;
}

enum addr_status
addr_parse_mailbox(const char *s, size_t len, unsigned flags,
    struct addr_path *out, const char **why)
{
	struct addr_cur c = {
		.s = (const unsigned char *)s, .len = len, .flags = flags,
	};
	enum addr_status st;

	memset(out, 0, sizeof(*out));
	*why = NULL;
	if (len == 0 && (flags & ADDR_F_ALLOW_NULL)) {
		out->is_null = true;
		return ADDR_OK;
	}
	if ((flags & ADDR_F_ALLOW_POSTMASTER) && addr_is_postmaster(s, len)) {
		addr_set_postmaster(out);
		return ADDR_OK;
	}
	st = addr_parse_mbox(&c, out);
	if (st == ADDR_OK && c.pos != c.len)
		st = addr_unexpected(&c, "invalid character in domain");
	if (st != ADDR_OK) {
		memset(out, 0, sizeof(*out));
		*why = c.why;
	}
	return st;
}

const char *
addr_domain(const struct addr_path *p)
{
	size_t n = strnlen(p->addr, sizeof(p->addr));

	if (p->is_null || p->local_len >= n)
		return "";
	return p->addr + p->local_len + 1;
}
