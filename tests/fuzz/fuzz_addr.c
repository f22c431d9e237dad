/*
 * fuzz_addr.c - libFuzzer target for addr_parse_path() and
 * addr_parse_mailbox() (STYLE G11).
 *
 * Input: one flag octet (ADDR_F_* in its low three bits), then the text.
 * Besides memory safety it checks the documented contract: bounds on
 * every part, consistency of the flags, and that an accepted address
 * parses again, bare and bracketed, to the same result.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "addr.h"

#define FUZZ_ASSERT(x)	do { if (!(x)) abort(); } while (0)

int LLVMFuzzerTestOneInput(const uint8_t *, size_t);

static bool
fuzz_addr_is_pm(const char *s, size_t n)
{
	static const char pm[] = "postmaster";
	size_t i;

	if (n != sizeof(pm) - 1)
		return false;
	for (i = 0; i < n; i++) {
		char c = s[i];

		if (c >= 'A' && c <= 'Z')
			c = (char)(c - 'A' + 'a');
		if (c != pm[i])
			return false;
	}
	return true;
}

/* Checks an accepted result and that it parses again identically. */
static void
fuzz_addr_check_ok(const struct addr_path *p, unsigned flags)
{
	struct addr_path q;
	char buf[ADDR_PATH_MAX + 3];
	const char *why, *dom;
	size_t n, i, consumed;
	bool hi = false;

	n = strnlen(p->addr, sizeof(p->addr));
	FUZZ_ASSERT(n < sizeof(p->addr));
	FUZZ_ASSERT(n <= ADDR_PATH_MAX - 2);
	for (i = 0; i < n; i++)
		if ((unsigned char)p->addr[i] >= 0x80)
			hi = true;
	FUZZ_ASSERT(hi == p->is_utf8);
	FUZZ_ASSERT(!hi || (flags & ADDR_F_UTF8));
	if (p->is_null) {
		FUZZ_ASSERT(flags & ADDR_F_ALLOW_NULL);
		FUZZ_ASSERT(n == 0 && p->local_len == 0);
		FUZZ_ASSERT(!p->domain_literal && !p->is_utf8);
		return;
	}
	FUZZ_ASSERT(p->local_len <= n);
	dom = addr_domain(p);
	if (p->local_len == n) {
		/* Only "Postmaster" has no domain. */
		FUZZ_ASSERT(flags & ADDR_F_ALLOW_POSTMASTER);
		FUZZ_ASSERT(strcmp(p->addr, "Postmaster") == 0);
		FUZZ_ASSERT(dom[0] == '\0');
	} else {
		FUZZ_ASSERT(p->local_len >= 1 &&
		    p->local_len <= ADDR_LOCAL_MAX);
		FUZZ_ASSERT(p->addr[p->local_len] == '@');
		FUZZ_ASSERT(strlen(dom) >= 1 && strlen(dom) <= ADDR_DOMAIN_MAX);
		FUZZ_ASSERT(p->domain_literal == (dom[0] == '['));
	}
	for (i = 0; i < n; i++) {
		unsigned char c = (unsigned char)p->addr[i];

		FUZZ_ASSERT(c >= 0x20 && c != 0x7f);
	}

	FUZZ_ASSERT(addr_parse_mailbox(p->addr, n, flags, &q, &why) ==
	    ADDR_OK);
	FUZZ_ASSERT(memcmp(p, &q, sizeof(q)) == 0);
	buf[0] = '<';
	memcpy(buf + 1, p->addr, n);
	buf[n + 1] = '>';
	FUZZ_ASSERT(addr_parse_path(buf, n + 2, flags, &q, &consumed,
	    &why) == ADDR_OK);
	FUZZ_ASSERT(consumed == n + 2);
	FUZZ_ASSERT(memcmp(p, &q, sizeof(q)) == 0);
}

static void
fuzz_addr_check_err(enum addr_status st, const struct addr_path *p,
    const char *why)
{
	FUZZ_ASSERT(st == ADDR_BAD || st == ADDR_TOO_LONG || st == ADDR_8BIT);
	FUZZ_ASSERT(why != NULL && why[0] != '\0');
	FUZZ_ASSERT(p->addr[0] == '\0' && p->local_len == 0 && !p->is_null);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct addr_path p;
	enum addr_status st;
	const char *s, *why;
	unsigned flags;
	size_t len, consumed, n;

	if (size == 0)
		return 0;
	flags = data[0] & (ADDR_F_UTF8 | ADDR_F_ALLOW_NULL |
	    ADDR_F_ALLOW_POSTMASTER);
	s = (const char *)data + 1;
	len = size - 1;

	st = addr_parse_path(s, len, flags, &p, &consumed, &why);
	if (st == ADDR_OK) {
		FUZZ_ASSERT(why == NULL);
		FUZZ_ASSERT(consumed >= 2 && consumed <= len &&
		    consumed <= ADDR_PATH_MAX);
		FUZZ_ASSERT(s[0] == '<' && s[consumed - 1] == '>');
		fuzz_addr_check_ok(&p, flags);
		n = strlen(p.addr);
		/* The mailbox is the input minus brackets and route. */
		if (!p.is_null && strcmp(p.addr, "Postmaster") != 0)
			FUZZ_ASSERT(n + 2 <= consumed && memcmp(p.addr,
			    s + consumed - 1 - n, n) == 0);
	} else {
		FUZZ_ASSERT(consumed == 0);
		fuzz_addr_check_err(st, &p, why);
	}

	st = addr_parse_mailbox(s, len, flags, &p, &why);
	if (st == ADDR_OK) {
		FUZZ_ASSERT(why == NULL);
		fuzz_addr_check_ok(&p, flags);
		n = strlen(p.addr);
		FUZZ_ASSERT(n == len);
		FUZZ_ASSERT(memcmp(p.addr, s, n) == 0 ||
		    ((flags & ADDR_F_ALLOW_POSTMASTER) &&
		    fuzz_addr_is_pm(s, len)));
	} else
		fuzz_addr_check_err(st, &p, why);
	return 0;
}
