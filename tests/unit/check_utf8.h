/*
 * check_utf8.h - a UTF-8 validity check for the unit tests, written
 * apart from policy/util.c's mh_utf8_seq() on purpose: the tests check
 * the daemon's output with an oracle that does not share its code.
 */
#ifndef MH_TESTS_CHECK_UTF8_H
#define MH_TESTS_CHECK_UTF8_H

#include <stdbool.h>
#include <stddef.h>

/* Is s[0..len) well-formed UTF-8 (no overlong forms, no surrogates,
 * nothing above U+10FFFF)? */
static inline bool
check_utf8_valid(const char *s, size_t len)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t i = 0, n, k;
	unsigned cp;

	while (i < len) {
		if (p[i] < 0x80) {
			i++;
			continue;
		}
		if (p[i] >= 0xc2 && p[i] <= 0xdf)
			n = 2, cp = p[i] & 0x1f;
		else if (p[i] >= 0xe0 && p[i] <= 0xef)
			n = 3, cp = p[i] & 0x0f;
		else if (p[i] >= 0xf0 && p[i] <= 0xf4)
			n = 4, cp = p[i] & 0x07;
		else
			return false;
		if (len - i < n)
			return false;
		for (k = 1; k < n; k++) {
			if ((p[i + k] & 0xc0) != 0x80)
				return false;
			cp = (cp << 6) | (p[i + k] & 0x3f);
		}
		if ((n == 3 && (cp < 0x800 || (cp >= 0xd800 && cp <= 0xdfff)))
		    || (n == 4 && (cp < 0x10000 || cp > 0x10ffff)))
			return false;
		i += n;
	}
	return true;
}

#endif
