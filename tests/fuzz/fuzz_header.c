/*
 * fuzz_header.c - libFuzzer target for header_parse() (header block,
 * address lists, RFC 2047, MIME names), header_decode_text(),
 * header_parse_addrlist() and header_rewrite_undisclosed() (STYLE G11).
 *
 * Input: one octet that picks small or default limits, then the message.
 * Besides memory safety it checks the contract of header.h: every
 * returned address passes the RFC 5321 mailbox parser, every text is
 * well-formed UTF-8 without control characters and within text_max,
 * offsets stay inside the input, and a rewritten block parses again to
 * no visible recipient.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "addr.h"
#include "header.h"
#include "util.h"

#define FUZZ_ASSERT(x)	do { if (!(x)) abort(); } while (0)

int LLVMFuzzerTestOneInput(const uint8_t *, size_t);

/* Well-formed UTF-8 (RFC 3629), no C0, DEL or C1 controls. */
static void
fuzz_header_text(const char *s, size_t max)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t n = strlen(s), i = 0, k, j;

	FUZZ_ASSERT(n <= max);
	while (i < n) {
		if (p[i] < 0x80) {
			FUZZ_ASSERT(p[i] >= 0x20 && p[i] != 0x7f);
			i++;
			continue;
		}
		if (p[i] >= 0xc2 && p[i] <= 0xdf)
			k = 2;
		else if (p[i] >= 0xe0 && p[i] <= 0xef)
			k = 3;
		else {
			FUZZ_ASSERT(p[i] >= 0xf0 && p[i] <= 0xf4);
			k = 4;
		}
		FUZZ_ASSERT(i + k <= n);
		for (j = 1; j < k; j++)
			FUZZ_ASSERT((p[i + j] & 0xc0) == 0x80);
		FUZZ_ASSERT(!(p[i] == 0xc2 && p[i + 1] < 0xa0));
		FUZZ_ASSERT(!(p[i] == 0xe0 && p[i + 1] < 0xa0));
		FUZZ_ASSERT(!(p[i] == 0xed && p[i + 1] > 0x9f));
		FUZZ_ASSERT(!(p[i] == 0xf0 && p[i + 1] < 0x90));
		FUZZ_ASSERT(!(p[i] == 0xf4 && p[i + 1] > 0x8f));
		i += k;
	}
}

static void
fuzz_header_list(const struct header_addrlist *l, size_t text_max)
{
	struct addr_path p;
	const char *why;
	size_t i;

	for (i = 0; i < l->n; i++) {
		FUZZ_ASSERT(addr_parse_mailbox(l->v[i].addr,
		    strlen(l->v[i].addr), ADDR_F_UTF8, &p, &why) == ADDR_OK);
		FUZZ_ASSERT(strcmp(p.addr, l->v[i].addr) == 0);
		FUZZ_ASSERT(l->v[i].local_len == p.local_len);
		FUZZ_ASSERT(strcmp(header_addr_domain(&l->v[i]),
		    addr_domain(&p)) == 0);
		if (l->v[i].name != NULL)
			fuzz_header_text(l->v[i].name, text_max);
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct header_limits lim;
	struct header_msg h, h2;
	struct header_addrlist l;
	struct mh_buf out;
	const char *s;
	size_t len, i, total;
	unsigned d = 0;
	char *t;

	if (size == 0)
		return 0;
	header_limits_init(&lim);
	if (data[0] & 1) {
		/* Small limits, so the fuzzer reaches every cut-off. */
		lim.block_max = 64 + data[0] * 4;
		lim.line_max = 16 + data[0];
		lim.fields_max = 1 + (data[0] >> 4);
		lim.addrs_max = 1 + (data[0] >> 5);
		lim.text_max = 8 + (data[0] >> 2);
		lim.scan_max = 128 + data[0] * 8;
		lim.mime_depth = 1 + (data[0] >> 6);
		lim.mime_parts = 1 + (data[0] >> 5);
	}
	s = (const char *)data + 1;
	len = size - 1;

	(void)header_parse(s, len, &lim, &h);
	FUZZ_ASSERT(h.header_len <= len);
	for (i = 0; i < h.nfields; i++) {
		FUZZ_ASSERT(h.fields[i].off + h.fields[i].len <= h.header_len);
		FUZZ_ASSERT(i == 0 || h.fields[i].off == h.fields[i - 1].off +
		    h.fields[i - 1].len);
	}
	FUZZ_ASSERT(h.nfields <= lim.fields_max);
	total = h.from.n + h.sender.n + h.to.n + h.cc.n + h.bcc.n +
	    h.reply_to.n;
	FUZZ_ASSERT(total <= lim.addrs_max);
	fuzz_header_list(&h.from, lim.text_max);
	fuzz_header_list(&h.to, lim.text_max);
	fuzz_header_list(&h.cc, lim.text_max);
	fuzz_header_list(&h.bcc, lim.text_max);
	fuzz_header_list(&h.reply_to, lim.text_max);
	if (h.subject != NULL)
		fuzz_header_text(h.subject, lim.text_max);
	FUZZ_ASSERT(h.nparts <= lim.mime_parts);
	for (i = 0; i < h.nattach; i++) {
		fuzz_header_text(h.attach[i].name, lim.text_max);
		FUZZ_ASSERT(h.attach[i].depth <= lim.mime_depth);
	}

	mh_buf_init(&out, len + 64);
	if (header_rewrite_undisclosed(s, len, &h, &out) == 0) {
		(void)header_parse(out.data, out.len, NULL, &h2);
		FUZZ_ASSERT(h2.to.n == 0 && h2.cc.n == 0);
		header_msg_clear(&h2);
	}
	mh_buf_clear(&out);
	header_msg_clear(&h);

	/* The same octets as one address list and as one text. */
	memset(&l, 0, sizeof(l));
	(void)header_parse_addrlist(s, len, lim.addrs_max, lim.text_max, &l);
	FUZZ_ASSERT(l.n <= lim.addrs_max);
	fuzz_header_list(&l, lim.text_max);
	header_addrlist_clear(&l);
	t = header_decode_text(s, len, lim.text_max, &d);
	fuzz_header_text(t, lim.text_max);
	free(t);
	return 0;
}
