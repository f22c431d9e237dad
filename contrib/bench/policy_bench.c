/*
 * policy_bench.c - how long policy_evaluate() takes for one message with
 * many recipients against many known domains (issue 4's closing note).
 *
 * Builds a policy whose partner list holds KNOWN pseudo-random domains,
 * and a message with RCPTS recipients, all of them in To (so the header
 * rules work too): a quarter at known domains, a quarter one transposition
 * away from a known domain (typos to find), the rest at unknown domains.
 * Each run parses the header and evaluates; the median, minimum and
 * maximum of RUNS runs are printed.  A second series passes the same
 * domains as sender history instead of config, which is what the daemon
 * will do for "domains the organisation has sent to" (the deletion index
 * is then built per message).
 *
 *   policy_bench [-k KNOWN] [-r RCPTS] [-n RUNS]
 *
 * Not part of CI; contrib/bench/policy.sh builds and runs it.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "header.h"
#include "policy.h"
#include "util.h"

static double
bench_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static int
bench_cmp(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

/* A reproducible pseudo-random domain. */
static void
bench_domain(uint32_t *x, char *buf, size_t sz)
{
	static const char *const tld[] = { "com", "co.jp", "jp", "net",
	    "ne.jp", "org", "de", "co.uk" };
	size_t i, n;

	*x = *x * 1103515245u + 12345u;
	n = 5 + (*x >> 16) % 10;
	for (i = 0; i < n && i + 1 < sz; i++) {
		*x = *x * 1103515245u + 12345u;
		buf[i] = (char)('a' + (*x >> 16) % 26);
	}
	*x = *x * 1103515245u + 12345u;
	(void)mh_snprintf(buf + i, sz - i, ".%s", tld[(*x >> 16) % 8]);
}

struct bench {
	char		**known;
	size_t		  nknown;
	char		**rcpts;
	size_t		  nrcpts;
	struct mh_buf	  msg;
};

static void
bench_series(const char *label, const struct policy *p,
    const struct bench *b, const struct policy_history *hist, int runs)
{
	struct policy_envelope env;
	struct policy_input in;
	struct policy_verdict *v;
	struct header_msg h;
	double *t, t0, sum = 0;
	size_t nf = 0;
	int i;

	t = calloc((size_t)runs, sizeof(*t));
	if (t == NULL)
		exit(1);
	memset(&env, 0, sizeof(env));
	env.mail_from = "sender@example.co.jp";
	env.rcpts = (const char *const *)b->rcpts;
	env.nrcpts = b->nrcpts;
	for (i = 0; i < runs; i++) {
		t0 = bench_now_ms();
		(void)header_parse(b->msg.data, b->msg.len, NULL, &h);
		memset(&in, 0, sizeof(in));
		in.env = &env;
		in.hdr = &h;
		in.msg = b->msg.data;
		in.msg_len = b->msg.len;
		in.hist = hist;
		in.now = 1700000000;
		v = policy_evaluate(p, &in);
		t[i] = bench_now_ms() - t0;
		sum += t[i];
		nf = v->nfindings;
		policy_verdict_free(v);
		header_msg_clear(&h);
	}
	qsort(t, (size_t)runs, sizeof(*t), bench_cmp);
	printf("%-28s median %8.3f ms  min %8.3f  max %8.3f  mean %8.3f  "
	    "(%zu findings)\n", label, t[runs / 2], t[0], t[runs - 1],
	    sum / runs, nf);
	free(t);
}

int
main(int argc, char **argv)
{
	static const char *const internal[] = { "example.co.jp" };
	struct policy_config c;
	struct policy_history hist;
	struct policy *p;
	struct bench b;
	char d[64], a[128], err[256];
	double t0;
	long long v;
	size_t known = 10000, nr = 1000, i;
	uint32_t x = 20240401;
	int runs = 51, ch;

	while ((ch = getopt(argc, argv, "k:r:n:")) != -1) {
		if (ch == '?' || mh_strtonum(optarg, 1, 10000000, &v) == -1) {
			fprintf(stderr, "usage: policy_bench [-k known] "
			    "[-r rcpts] [-n runs]\n");
			return 2;
		}
		if (ch == 'k')
			known = (size_t)v;
		else if (ch == 'r')
			nr = (size_t)v;
		else
			runs = (int)v;
	}
	memset(&b, 0, sizeof(b));
	b.known = xcalloc(known, sizeof(*b.known));
	for (i = 0; i < known; i++) {
		bench_domain(&x, d, sizeof(d));
		b.known[i] = xstrdup(d);
	}
	b.nknown = known;
	b.rcpts = xcalloc(nr, sizeof(*b.rcpts));
	mh_buf_init(&b.msg, SIZE_MAX / 2);
	mh_buf_puts(&b.msg, "From: sender@example.co.jp\r\nSubject: bench\r\n"
	    "To: ");
	for (i = 0; i < nr; i++) {
		if (i % 4 == 0)
			(void)mh_snprintf(d, sizeof(d), "%s",
			    b.known[i % known]);
		else if (i % 4 == 1) {
			(void)mh_snprintf(d, sizeof(d), "%s",
			    b.known[i % known]);
			ch = d[1];
			d[1] = d[2];
			d[2] = (char)ch;
		} else
			bench_domain(&x, d, sizeof(d));
		(void)mh_snprintf(a, sizeof(a), "user%zu@%s", i, d);
		b.rcpts[i] = xstrdup(a);
		mh_buf_printf(&b.msg, "%s%s", i ? ",\r\n " : "", a);
	}
	mh_buf_puts(&b.msg, "\r\n\r\nbody\r\n");
	b.nrcpts = nr;

	printf("policy_bench: %zu recipients, %zu known domains, %d runs\n",
	    nr, known, runs);
	policy_config_init(&c);
	c.internal_domains = internal;
	c.ninternal = 1;
	c.partner_domains = (const char *const *)b.known;
	c.npartner = known;
	t0 = bench_now_ms();
	if ((p = policy_new(&c, err, sizeof(err))) == NULL) {
		fprintf(stderr, "policy_new: %s\n", err);
		return 1;
	}
	printf("%-28s %8.3f ms (once per config)\n", "compile (policy_new)",
	    bench_now_ms() - t0);
	memset(&hist, 0, sizeof(hist));
	bench_series("known as partner config", p, &b, &hist, runs);
	policy_free(p);

	c.npartner = 0;
	p = policy_new(&c, err, sizeof(err));
	hist.domains = (const char *const *)b.known;
	hist.ndomains = known;
	bench_series("known as sender history", p, &b, &hist, runs);
	policy_free(p);

	for (i = 0; i < known; i++)
		free(b.known[i]);
	for (i = 0; i < nr; i++)
		free(b.rcpts[i]);
	free(b.known);
	free(b.rcpts);
	mh_buf_clear(&b.msg);
	return 0;
}
