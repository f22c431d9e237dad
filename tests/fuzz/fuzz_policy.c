/*
 * fuzz_policy.c - libFuzzer target for policy_evaluate() on fuzzed
 * envelopes, history and headers, and for the JSON / text writers
 * (STYLE G11).
 *
 * Input: one octet of flags (bit 0: the strict policy with rewrite,
 * blocked globs, scopes and every rule on), then lines until a line "--",
 * then the message.  Lines: "F:addr" MAIL FROM, "U:user" auth user,
 * "R:addr" recipient, "H:addr" history address, "D:domain" history
 * domain, "S:secs-ago:addr,addr" a recent submission, "A:" the last
 * one was released after a burst finding.
 *
 * Checks the verdict contract: the action and hold are in range and
 * consistent, a reject carries printable ASCII text and no rewrite,
 * every finding is bilingual, audit findings never raise the action, and
 * the writers succeed.  The two compiled policies are built once and kept
 * (reachable, so not a leak).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "header.h"
#include "policy.h"
#include "util.h"

#define FUZZ_ASSERT(x)	do { if (!(x)) abort(); } while (0)
#define FUZZ_ITEMS_MAX	256
#define FUZZ_NOW	1700000000

int LLVMFuzzerTestOneInput(const uint8_t *, size_t);

static struct policy *fuzz_policies[2];

static struct policy *
fuzz_policy_get(int strict)
{
	static const char *const internal[] = { "example.co.jp" };
	static const char *const partners[] = { "example.com", "partner.jp" };
	static const char *const blocked[] = { "*.ml", "b?d.*", "*x*y*z*" };
	static const char *const users[] = { "alice" };
	static const char *const doms[] = { "example.co.jp" };
	struct policy_config c;
	size_t r;

	if (fuzz_policies[strict] != NULL)
		return fuzz_policies[strict];
	policy_config_init(&c);
	c.internal_domains = internal;
	c.ninternal = 1;
	c.partner_domains = partners;
	c.npartner = 2;
	if (strict) {
		c.blocked_domains = blocked;
		c.nblocked = 3;
		for (r = 0; r < POLICY_R_COUNT; r++)
			c.rules[r].enabled = true;
		c.rules[POLICY_R_VISIBLE_RECIPIENTS].action =
		    POLICY_A_REWRITE_BCC;
		c.rules[POLICY_R_FIRST_TIME].mode = POLICY_M_AUDIT;
		c.rules[POLICY_R_SENSITIVE].users = users;
		c.rules[POLICY_R_SENSITIVE].nusers = 1;
		c.rules[POLICY_R_SENSITIVE].domains = doms;
		c.rules[POLICY_R_SENSITIVE].ndomains = 1;
		c.visible_max_external = 2;
		c.burst_max_messages = 3;
		c.burst_max_recipients = 5;
		c.burst_max_first_time = 4;
		c.burst_max_internal_messages = 3;
		c.burst_max_internal_recipients = 5;
		c.burst_max_internal_first_time = 4;
		c.carryover_min_run = 1;
		c.first_time_detail_max = 2;
		c.sensitive_external_only = false;
	}
	fuzz_policies[strict] = policy_new(&c, NULL, 0);
	FUZZ_ASSERT(fuzz_policies[strict] != NULL);
	return fuzz_policies[strict];
}

struct fuzz_items {
	char		*v[FUZZ_ITEMS_MAX];
	size_t		 n;
};

static void
fuzz_items_add(struct fuzz_items *it, const char *s, size_t n)
{
	if (it->n < FUZZ_ITEMS_MAX)
		it->v[it->n++] = xstrndup(s, n);
}

static void
fuzz_items_clear(struct fuzz_items *it)
{
	while (it->n > 0)
		free(it->v[--it->n]);
}

static void
fuzz_policy_check(const struct policy_verdict *v, int64_t hold_max)
{
	const struct policy_finding *f;
	enum policy_action max = POLICY_A_HOLD;
	struct mh_buf b;
	size_t i;

	FUZZ_ASSERT((unsigned)v->action <= POLICY_A_REJECT);
	FUZZ_ASSERT(v->hold >= 0 && v->hold <= hold_max);
	for (i = 0; i < v->nfindings; i++) {
		f = &v->findings[i];
		FUZZ_ASSERT((unsigned)f->rule < POLICY_R_COUNT);
		FUZZ_ASSERT(f->msg_en != NULL && f->msg_ja != NULL);
		FUZZ_ASSERT(f->nrcpts <= f->nrcpts_total &&
		    f->nrcpts <= POLICY_FINDING_RCPTS_MAX);
		if (f->mode == POLICY_M_ENFORCE && f->action > max)
			max = f->action;
	}
	FUZZ_ASSERT(v->action == max);
	if (v->action == POLICY_A_REJECT) {
		FUZZ_ASSERT(v->hold == 0 && v->header == NULL);
		FUZZ_ASSERT(v->reject_text != NULL);
		for (i = 0; v->reject_text[i] != '\0'; i++)
			FUZZ_ASSERT(v->reject_text[i] >= 0x20 &&
			    v->reject_text[i] < 0x7f);
	} else
		FUZZ_ASSERT(v->reject_text == NULL);
	if (v->header != NULL)
		FUZZ_ASSERT(strlen(v->header) <= v->header_len);
	mh_buf_init(&b, 64 << 20);
	FUZZ_ASSERT(policy_verdict_json(v, &b) == 0);
	FUZZ_ASSERT(b.len >= 2 && b.data[0] == '{' && b.data[b.len - 1] == '}');
	FUZZ_ASSERT(memchr(b.data, '\n', b.len) == NULL);
	mh_buf_reset(&b);
	FUZZ_ASSERT(policy_verdict_explain(v, &b) == 0);
	mh_buf_clear(&b);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fuzz_items rcpts, haddrs, hdoms, sent, misc;
	struct policy_send recent[32];
	struct policy_envelope env;
	struct policy_history hist;
	struct policy_input in;
	struct policy_verdict *v;
	struct header_msg h;
	const char *s, *end, *lf, *p, *q;
	size_t len, nrecent = 0, first;
	long long ago;
	int strict;

	if (size == 0)
		return 0;
	strict = data[0] & 1;
	s = (const char *)data + 1;
	len = size - 1;
	end = s + len;
	memset(&rcpts, 0, sizeof(rcpts));
	memset(&haddrs, 0, sizeof(haddrs));
	memset(&hdoms, 0, sizeof(hdoms));
	memset(&sent, 0, sizeof(sent));
	memset(&misc, 0, sizeof(misc));
	memset(&env, 0, sizeof(env));
	memset(recent, 0, sizeof(recent));

	/* Envelope and history lines, up to "--". */
	while (s < end) {
		lf = memchr(s, '\n', (size_t)(end - s));
		q = lf != NULL ? lf : end;
		if (q - s == 2 && s[0] == '-' && s[1] == '-') {
			s = q + (lf != NULL);
			break;
		}
		if (q - s >= 2 && s[1] == ':' && memchr(s, '\0',
		    (size_t)(q - s)) == NULL) {
			p = s + 2;
			switch (s[0]) {
			case 'R':
				fuzz_items_add(&rcpts, p, (size_t)(q - p));
				break;
			case 'H':
				fuzz_items_add(&haddrs, p, (size_t)(q - p));
				break;
			case 'D':
				fuzz_items_add(&hdoms, p, (size_t)(q - p));
				break;
			case 'F':
				fuzz_items_add(&misc, p, (size_t)(q - p));
				env.mail_from = misc.v[misc.n - 1];
				break;
			case 'U':
				fuzz_items_add(&misc, p, (size_t)(q - p));
				env.auth_user = misc.v[misc.n - 1];
				break;
			case 'S': {
				const char *c = memchr(p, ':', (size_t)(q - p));

				if (c == NULL || nrecent >= 32 ||
				    mh_strtonum_n(p, (size_t)(c - p), 0,
				    100000000, &ago) == -1)
					break;
				first = sent.n;
				for (p = c + 1; p < q;) {
					c = memchr(p, ',', (size_t)(q - p));
					if (c == NULL)
						c = q;
					fuzz_items_add(&sent, p,
					    (size_t)(c - p));
					p = c + 1;
				}
				recent[nrecent].time = FUZZ_NOW - ago;
				recent[nrecent].rcpts =
				    (const char *const *)sent.v + first;
				recent[nrecent].nrcpts = sent.n - first;
				nrecent++;
				break;
			}
			case 'A':
				/* The last S: released after a burst finding. */
				if (nrecent > 0) {
					recent[nrecent - 1].released = true;
					recent[nrecent - 1].rules |=
					    1u << POLICY_R_BURST;
				}
				break;
			default:
				break;
			}
		}
		s = q + (lf != NULL);
	}
	len = (size_t)(end - s);

	(void)header_parse(s, len, NULL, &h);
	env.rcpts = (const char *const *)rcpts.v;
	env.nrcpts = rcpts.n;
	memset(&hist, 0, sizeof(hist));
	hist.addrs = (const char *const *)haddrs.v;
	hist.naddrs = haddrs.n;
	hist.domains = (const char *const *)hdoms.v;
	hist.ndomains = hdoms.n;
	hist.recent = recent;
	hist.nrecent = nrecent;
	memset(&in, 0, sizeof(in));
	in.env = &env;
	in.hdr = &h;
	in.msg = s;
	in.msg_len = len;
	in.hist = &hist;
	in.now = FUZZ_NOW;
	v = policy_evaluate(fuzz_policy_get(strict), &in);
	fuzz_policy_check(v, 86400);
	if (v->header != NULL)
		FUZZ_ASSERT(v->header_replaces == h.header_len);
	policy_verdict_free(v);
	header_msg_clear(&h);
	fuzz_items_clear(&rcpts);
	fuzz_items_clear(&haddrs);
	fuzz_items_clear(&hdoms);
	fuzz_items_clear(&sent);
	fuzz_items_clear(&misc);
	return 0;
}
