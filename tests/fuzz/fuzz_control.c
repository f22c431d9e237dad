/*
 * fuzz_control.c - libFuzzer target for the control socket's request
 * parser, control_parse_request() (STYLE G11).
 *
 * The input is one request line.  Checked: the parser is pure (the same
 * line parses to the same request or the same error twice), an error is
 * a non-empty string, and a parsed request is within its bounds: a known
 * command, at most CONTROL_IDS_MAX ids of QUEUE_ID_LEN lowercase hex
 * digits, lowercased sender and hold key that are NUL-terminated inside
 * their arrays, a hold window that is never negative when set, an
 * absolute path for backup (and for nothing else), and nothing
 * parsed from a line holding CR, LF or NUL.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "control.h"

#define FUZZ_ASSERT(x)	do { if (!(x)) abort(); } while (0)

int LLVMFuzzerTestOneInput(const uint8_t *, size_t);

static void
fuzz_control_lower(const char *s, size_t cap)
{
	size_t i;

	FUZZ_ASSERT(memchr(s, '\0', cap) != NULL);
	for (i = 0; s[i] != '\0'; i++)
		FUZZ_ASSERT(!(s[i] >= 'A' && s[i] <= 'Z'));
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct control_request *a, *b;
	const char *e1, *e2, *line = (const char *)data;
	size_t i, j;

	if (size > CONTROL_LINE_MAX)
		return 0;
	a = calloc(1, sizeof(*a));
	b = calloc(1, sizeof(*b));
	FUZZ_ASSERT(a != NULL && b != NULL);
	e1 = control_parse_request(line, size, a);
	e2 = control_parse_request(line, size, b);
	FUZZ_ASSERT((e1 == NULL) == (e2 == NULL));
	if (e1 != NULL) {
		FUZZ_ASSERT(strcmp(e1, e2) == 0 && e1[0] != '\0');
		goto out;
	}
	FUZZ_ASSERT(memchr(line, '\r', size) == NULL &&
	    memchr(line, '\n', size) == NULL &&
	    memchr(line, '\0', size) == NULL);
	FUZZ_ASSERT(a->cmd >= CONTROL_CMD_QUEUE &&
	    a->cmd <= CONTROL_CMD_BACKUP);
	FUZZ_ASSERT(memchr(a->path, '\0', sizeof(a->path)) != NULL &&
	    strcmp(a->path, b->path) == 0);
	/* backup: one absolute path; nothing else has one. */
	FUZZ_ASSERT(a->cmd == CONTROL_CMD_BACKUP ? a->path[0] == '/' :
	    a->path[0] == '\0');
	FUZZ_ASSERT(a->cmd == b->cmd && a->nids == b->nids &&
	    a->by_sender == b->by_sender && a->state_mask == b->state_mask);
	FUZZ_ASSERT(a->nids <= CONTROL_IDS_MAX);
	for (i = 0; i < a->nids; i++) {
		FUZZ_ASSERT(strlen(a->ids[i]) == QUEUE_ID_LEN);
		for (j = 0; j < QUEUE_ID_LEN; j++)
			FUZZ_ASSERT((a->ids[i][j] >= '0' &&
			    a->ids[i][j] <= '9') || (a->ids[i][j] >= 'a' &&
			    a->ids[i][j] <= 'f'));
		FUZZ_ASSERT(strcmp(a->ids[i], b->ids[i]) == 0);
	}
	fuzz_control_lower(a->sender, sizeof(a->sender));
	FUZZ_ASSERT(strcmp(a->sender, b->sender) == 0);
	if (a->cmd == CONTROL_CMD_HOLD) {
		FUZZ_ASSERT(a->hold_op >= CONTROL_HOLD_GET &&
		    a->hold_op <= CONTROL_HOLD_UNSET);
		if (a->hold_op == CONTROL_HOLD_SET)
			FUZZ_ASSERT(a->hold_secs >= 0);
		fuzz_control_lower(a->hold_key, sizeof(a->hold_key));
		FUZZ_ASSERT(a->hold_op == b->hold_op &&
		    a->hold_scope == b->hold_scope &&
		    a->hold_secs == b->hold_secs &&
		    a->reschedule == b->reschedule &&
		    strcmp(a->hold_key, b->hold_key) == 0);
	}
out:
	free(a);
	free(b);
	return 0;
}
