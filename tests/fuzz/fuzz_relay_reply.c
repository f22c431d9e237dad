/*
 * fuzz_relay_reply.c - the upstream reply-line parser on arbitrary bytes,
 * split at every LF as the relay does.
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "smtp_client.h"

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *p = (const char *)data, *end = p + size, *nl;
	int code;
	bool more;

	while (p < end) {
		nl = memchr(p, '\n', (size_t)(end - p));
		if (nl == NULL)
			nl = end;
		if (relay_parse_reply_line(p, (size_t)(nl - p), &code,
		    &more) == NULL && (code < 200 || code > 599))
			__builtin_trap();
		p = nl + 1;
	}
	return 0;
}
