/*
 * check_metrics.c - unit tests for proxy/metrics.c: the exposition
 * (checked line by line by a small text-format parser below), the
 * counters, findings, latency and loop-lag buckets, the loop-lag timer, the bearer token check, and
 * the listener on a loopback port with a raw HTTP client (STYLE G10).
 */
#include "metrics.h"

#include <sys/socket.h>

#include <arpa/inet.h>
#include <netinet/in.h>

#include <check.h>
#include <signal.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>

#include "config.h"
#include "log.h"
#include "policy.h"
#include "queue.h"
#include "util.h"

#define NITEMS(a)	(sizeof(a) / sizeof((a)[0]))
#define TOKEN		"s3cret-Token_0123456789.~+/="
#define RENDER_MAX	(64 * 1024)

/* ------------------------------------------------------------------ */
/* a text format 0.0.4 checker */

#define EXPO_FAMS	64
#define EXPO_SERIES	256
#define EXPO_NAME	128
#define EXPO_LINE	512

struct expo_fam {
	char	 name[EXPO_NAME];
	char	 type[16];
	bool	 help, typed;
	size_t	 nsamples;
	/* histogram */
	double	 last_le, last_bucket, inf_bucket, count;
	bool	 have_inf, have_sum, have_count;
};

struct expo {
	struct expo_fam	 fams[EXPO_FAMS];
	size_t		 nfams;
	char		 series[EXPO_SERIES][EXPO_LINE];
	size_t		 nseries;
	char		 err[256];
};

static bool
expo_name_ok(const char *s, size_t n, bool colon)
{
	size_t i;

	if (n == 0)
		return false;
	for (i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];
		bool alpha = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		    c == '_' || (colon && c == ':');

		if (!alpha && !(i > 0 && c >= '0' && c <= '9'))
			return false;
	}
	return true;
}

static bool
expo_value(const char *s, double *v)
{
	char *end;

	if (strcmp(s, "+Inf") == 0) {
		*v = INFINITY;
		return true;
	}
	if (strcmp(s, "-Inf") == 0) {
		*v = -INFINITY;
		return true;
	}
	if (strcmp(s, "NaN") == 0) {
		*v = NAN;
		return true;
	}
	if (*s == '\0' || *s == ' ')
		return false;
	*v = strtod(s, &end);
	return *end == '\0';
}

static bool
expo_fail(struct expo *e, int lineno, const char *what)
{
	(void)mh_snprintf(e->err, sizeof(e->err), "line %d: %s", lineno,
	    what);
	return false;
}

/* The end of a family: histograms must be complete and consistent. */
static bool
expo_fam_end(struct expo *e, struct expo_fam *f, int lineno)
{
	if (f == NULL)
		return true;
	if (!f->typed || f->nsamples == 0)
		return expo_fail(e, lineno, "family without TYPE or samples");
	if (strcmp(f->type, "histogram") != 0)
		return true;
	if (!f->have_inf || !f->have_sum || !f->have_count)
		return expo_fail(e, lineno, "histogram lacks +Inf, sum or "
		    "count");
	if (f->inf_bucket != f->count)
		return expo_fail(e, lineno, "+Inf bucket != _count");
	return true;
}

/* Parses {a="b",c="d"} at *pp into a canonical copy; le, when present,
 * into *le. */
static bool
expo_labels(struct expo *e, int lineno, const char **pp, char *le,
    size_t lesz)
{
	const char *p = *pp, *q;
	char names[16][EXPO_NAME];
	size_t nnames = 0, i, k;

	*le = '\0';
	p++;				/* '{' */
	while (*p != '}') {
		q = p;
		while (*p != '=' && *p != '\0')
			p++;
		if (*p != '=' || !expo_name_ok(q, (size_t)(p - q), false))
			return expo_fail(e, lineno, "bad label name");
		if ((size_t)(p - q) >= EXPO_NAME || nnames >= NITEMS(names))
			return expo_fail(e, lineno, "label too long");
		for (i = 0; i < nnames; i++)
			if (strlen(names[i]) == (size_t)(p - q) &&
			    memcmp(names[i], q, (size_t)(p - q)) == 0)
				return expo_fail(e, lineno, "duplicate label");
		memcpy(names[nnames], q, (size_t)(p - q));
		names[nnames][p - q] = '\0';
		p++;
		if (*p++ != '"')
			return expo_fail(e, lineno, "label value not quoted");
		k = 0;
		for (; *p != '"'; p++) {
			if (*p == '\0')
				return expo_fail(e, lineno, "unterminated "
				    "label value");
			if (*p == '\\') {
				p++;
				if (*p != '\\' && *p != '"' && *p != 'n')
					return expo_fail(e, lineno, "bad "
					    "escape");
			}
			if (strcmp(names[nnames], "le") == 0 && k + 1 < lesz)
				le[k++] = *p;
		}
		if (strcmp(names[nnames], "le") == 0)
			le[k] = '\0';
		nnames++;
		p++;			/* '"' */
		if (*p == ',') {
			p++;
			if (*p == '}')
				return expo_fail(e, lineno, "trailing comma");
		} else if (*p != '}')
			return expo_fail(e, lineno, "expected , or }");
	}
	*pp = p + 1;
	return true;
}

static bool
expo_sample(struct expo *e, struct expo_fam *f, int lineno,
    const char *line)
{
	const char *p = line, *sfx;
	char le[32];
	size_t n, flen, i;
	double v, lev;

	while (*p != '{' && *p != ' ' && *p != '\0')
		p++;
	n = (size_t)(p - line);
	if (!expo_name_ok(line, n, true))
		return expo_fail(e, lineno, "bad metric name");
	if (f == NULL || !f->help || !f->typed)
		return expo_fail(e, lineno, "sample before HELP and TYPE");
	le[0] = '\0';
	if (*p == '{' && !expo_labels(e, lineno, &p, le, sizeof(le)))
		return false;
	if (*p != ' ')
		return expo_fail(e, lineno, "expected one space");
	/* No duplicate series. */
	if ((size_t)(p - line) >= EXPO_LINE || e->nseries >= EXPO_SERIES)
		return expo_fail(e, lineno, "too many series");
	for (i = 0; i < e->nseries; i++)
		if (strlen(e->series[i]) == (size_t)(p - line) &&
		    memcmp(e->series[i], line, (size_t)(p - line)) == 0)
			return expo_fail(e, lineno, "duplicate series");
	memcpy(e->series[e->nseries], line, (size_t)(p - line));
	e->series[e->nseries++][p - line] = '\0';
	if (!expo_value(p + 1, &v))
		return expo_fail(e, lineno, "bad value (or a timestamp)");
	flen = strlen(f->name);
	f->nsamples++;
	if (strcmp(f->type, "histogram") != 0) {
		if (n != flen || memcmp(line, f->name, n) != 0)
			return expo_fail(e, lineno, "sample outside its "
			    "family");
		if (*le != '\0')
			return expo_fail(e, lineno, "le outside a histogram");
		return true;
	}
	if (n <= flen || memcmp(line, f->name, flen) != 0)
		return expo_fail(e, lineno, "sample outside its family");
	sfx = line + flen;
	n -= flen;
	if (n == 7 && memcmp(sfx, "_bucket", 7) == 0) {
		if (*le == '\0' || !expo_value(le, &lev) || isnan(lev))
			return expo_fail(e, lineno, "bucket without le");
		if (f->have_inf || (f->nsamples > 1 && lev <= f->last_le))
			return expo_fail(e, lineno, "le not increasing");
		if (f->nsamples > 1 && v < f->last_bucket)
			return expo_fail(e, lineno, "buckets not cumulative");
		f->last_le = lev;
		f->last_bucket = v;
		if (isinf(lev)) {
			f->have_inf = true;
			f->inf_bucket = v;
		}
	} else if (n == 4 && memcmp(sfx, "_sum", 4) == 0)
		f->have_sum = true;
	else if (n == 6 && memcmp(sfx, "_count", 6) == 0) {
		f->have_count = true;
		f->count = v;
	} else
		return expo_fail(e, lineno, "unknown histogram sample");
	if ((f->have_sum || f->have_count) && !f->have_inf)
		return expo_fail(e, lineno, "sum or count before +Inf");
	return true;
}

/* HELP or TYPE: starts a family at its HELP. */
static bool
expo_comment(struct expo *e, struct expo_fam **fp, int lineno,
    const char *line)
{
	bool help = strncmp(line, "# HELP ", 7) == 0;
	const char *name = line + 7, *sp;
	struct expo_fam *f = *fp;
	size_t n, i;

	if (!help && strncmp(line, "# TYPE ", 7) != 0)
		return expo_fail(e, lineno, "unexpected comment");
	sp = strchr(name, ' ');
	if (sp == NULL || sp[1] == '\0')
		return expo_fail(e, lineno, "HELP or TYPE without text");
	n = (size_t)(sp - name);
	if (!expo_name_ok(name, n, true) || n >= EXPO_NAME)
		return expo_fail(e, lineno, "bad family name");
	if (help) {
		if (!expo_fam_end(e, f, lineno))
			return false;
		for (i = 0; i < e->nfams; i++)
			if (strlen(e->fams[i].name) == n &&
			    memcmp(e->fams[i].name, name, n) == 0)
				return expo_fail(e, lineno, "family twice");
		if (e->nfams >= EXPO_FAMS)
			return expo_fail(e, lineno, "too many families");
		f = *fp = &e->fams[e->nfams++];
		memcpy(f->name, name, n);
		f->help = true;
		return true;
	}
	if (f == NULL || strlen(f->name) != n || memcmp(f->name, name, n) ||
	    f->typed || f->nsamples > 0)
		return expo_fail(e, lineno, "TYPE not right after its HELP");
	if (strcmp(sp + 1, "counter") != 0 && strcmp(sp + 1, "gauge") != 0 &&
	    strcmp(sp + 1, "histogram") != 0)
		return expo_fail(e, lineno, "unknown TYPE");
	mh_strlcpy(f->type, sp + 1, sizeof(f->type));
	f->typed = true;
	if (strcmp(f->type, "counter") == 0 && (n < 6 ||
	    strncmp(name + n - 6, "_total", 6) != 0))
		return expo_fail(e, lineno, "counter not named _total");
	return true;
}

/* NULL when text is a valid exposition, else why not (in e->err). */
static const char *
expo_check(struct expo *e, const char *text)
{
	struct expo_fam *f = NULL;
	char line[EXPO_LINE];
	const char *p = text, *nl;
	int lineno = 0;
	bool ok;

	memset(e, 0, sizeof(*e));
	if (*text == '\0')
		return "empty";
	while (*p != '\0') {
		lineno++;
		if ((nl = strchr(p, '\n')) == NULL) {
			expo_fail(e, lineno, "no final newline");
			return e->err;
		}
		if ((size_t)(nl - p) >= sizeof(line) || nl == p) {
			expo_fail(e, lineno, "empty or long line");
			return e->err;
		}
		memcpy(line, p, (size_t)(nl - p));
		line[nl - p] = '\0';
		p = nl + 1;
		if (line[0] == '#')
			ok = expo_comment(e, &f, lineno, line);
		else
			ok = expo_sample(e, f, lineno, line);
		if (!ok)
			return e->err;
	}
	if (!expo_fam_end(e, f, lineno))
		return e->err;
	return NULL;
}

/* The value of one series ("name" or "name{labels}"), or -1. */
static double
series_value(const char *text, const char *series)
{
	size_t n = strlen(series);
	const char *p = text;
	double v;

	for (;;) {
		if (strncmp(p, series, n) == 0 && p[n] == ' ') {
			char buf[64];
			const char *nl = strchr(p + n + 1, '\n');
			size_t len = nl ? (size_t)(nl - p - n - 1) : 0;

			if (len == 0 || len >= sizeof(buf))
				return -1;
			memcpy(buf, p + n + 1, len);
			buf[len] = '\0';
			return expo_value(buf, &v) ? v : -1;
		}
		if ((p = strchr(p, '\n')) == NULL || *++p == '\0')
			return -1;
	}
}

/* Renders into a fresh buffer, checks it, returns it (caller frees). */
static char *
render_checked(const struct metrics_gauges *g)
{
	struct mh_buf b;
	struct expo *e = xcalloc(1, sizeof(*e));
	const char *why;
	char *s;

	mh_buf_init(&b, RENDER_MAX);
	ck_assert_int_eq(metrics_render(&b, g), 0);
	s = mh_buf_steal(&b, NULL);
	why = expo_check(e, s);
	ck_assert_msg(why == NULL, "%s\n%s", why, s);
	free(e);
	return s;
}

static void
setup(void)
{
	metrics_reset_();
}

/* ------------------------------------------------------------------ */
/* the checker itself must refuse bad text */

struct bad_expo {
	const char	*label;
	const char	*text;
	const char	*want;		/* substring of the error */
};

#define HT(n, t)	"# HELP " n " h\n# TYPE " n " " t "\n"

static const struct bad_expo bad_expos[] = {
	{ "no HELP", "# TYPE a_total counter\na_total 1\n", "TYPE not" },
	{ "no TYPE", "# HELP a_total h\na_total 1\n", "before HELP" },
	{ "no newline", HT("a_total", "counter") "a_total 1", "newline" },
	{ "bad name", HT("a_total", "counter") "a-b_total 1\n", "bad metric" },
	{ "digit first", HT("1a", "gauge") "1a 1\n", "bad family" },
	{ "other family", HT("a_total", "counter") "b_total 1\n",
	  "outside" },
	{ "unquoted", HT("a", "gauge") "a{x=1} 1\n", "not quoted" },
	{ "bad escape", HT("a", "gauge") "a{x=\"\\t\"} 1\n", "escape" },
	{ "open value", HT("a", "gauge") "a{x=\"1} 1\n", "unterminated" },
	{ "dup label", HT("a", "gauge") "a{x=\"1\",x=\"2\"} 1\n", "duplicate" },
	{ "dup series", HT("a", "gauge") "a 1\na 2\n", "duplicate series" },
	{ "bad value", HT("a", "gauge") "a x\n", "bad value" },
	{ "two spaces", HT("a", "gauge") "a  1\n", "bad value" },
	{ "timestamp", HT("a", "gauge") "a 1 1700000000\n", "bad value" },
	{ "not _total", HT("a", "counter") "a 1\n", "_total" },
	{ "family twice", HT("a", "gauge") "a 1\n" HT("a", "gauge") "a 2\n",
	  "twice" },
	{ "empty family", HT("a", "gauge") HT("b", "gauge") "b 1\n",
	  "without TYPE or samples" },
	{ "not cumulative", HT("h", "histogram") "h_bucket{le=\"1\"} 2\n"
	  "h_bucket{le=\"+Inf\"} 1\nh_sum 1\nh_count 1\n", "cumulative" },
	{ "le order", HT("h", "histogram") "h_bucket{le=\"2\"} 1\n"
	  "h_bucket{le=\"1\"} 1\nh_bucket{le=\"+Inf\"} 1\nh_sum 1\n"
	  "h_count 1\n", "increasing" },
	{ "inf != count", HT("h", "histogram") "h_bucket{le=\"1\"} 1\n"
	  "h_bucket{le=\"+Inf\"} 1\nh_sum 1\nh_count 2\n", "_count" },
	{ "no inf", HT("h", "histogram") "h_bucket{le=\"1\"} 1\nh_sum 1\n"
	  "h_count 1\n", "before +Inf" },
	{ "empty line", HT("a", "gauge") "\na 1\n", "empty" },
};

START_TEST(test_checker_refuses)
{
	const struct bad_expo *c = &bad_expos[_i];
	struct expo *e = xcalloc(1, sizeof(*e));
	const char *why = expo_check(e, c->text);

	ck_assert_msg(why != NULL, "%s: accepted", c->label);
	ck_assert_msg(strstr(why, c->want) != NULL, "%s: %s", c->label, why);
	free(e);
}
END_TEST

START_TEST(test_checker_accepts)
{
	struct expo *e = xcalloc(1, sizeof(*e));
	const char *why = expo_check(e, HT("a", "gauge")
	    "a{x=\"q\\\"\\\\\\n\",y=\"\"} -1.5e3\n"
	    HT("h", "histogram") "h_bucket{le=\"0.5\"} 0\n"
	    "h_bucket{le=\"+Inf\"} 2\nh_sum 3.25\nh_count 2\n");

	ck_assert_msg(why == NULL, "%s", why);
	free(e);
}
END_TEST

/* ------------------------------------------------------------------ */
/* render */

START_TEST(test_render_zero)
{
	char *s = render_checked(NULL), series[128];
	int i;

	ck_assert_double_eq(series_value(s,
	    "mailhold_messages_received_total"), 0);
	for (i = 0; i < POLICY_R_COUNT; i++) {
		(void)mh_snprintf(series, sizeof(series),
		    "mailhold_findings_total{rule=\"%s\"}",
		    policy_rule_to_str((enum policy_rule)i));
		ck_assert_msg(series_value(s, series) == 0, "%s", series);
	}
	for (i = 0; i <= QUEUE_STATE_MAX; i++) {
		(void)mh_snprintf(series, sizeof(series),
		    "mailhold_queue_messages{state=\"%s\"}",
		    queue_state_to_str((enum queue_state)i));
		ck_assert_msg(series_value(s, series) == 0, "%s", series);
	}
	ck_assert_double_eq(series_value(s,
	    "mailhold_queue_oldest_age_seconds"), 0);
	ck_assert_double_eq(series_value(s,
	    "mailhold_upstream_latency_seconds_count"), 0);
	ck_assert_double_eq(series_value(s,
	    "mailhold_build_info{version=\"" MH_VERSION "\"}"), 1);
	ck_assert_ptr_nonnull(strstr(s, "# TYPE "
	    "mailhold_upstream_latency_seconds histogram\n"));
	ck_assert_ptr_nonnull(strstr(s, "# TYPE mailhold_smtp_sessions "
	    "gauge\n"));
	free(s);
}
END_TEST

START_TEST(test_render_busy)
{
	struct metrics_gauges g;
	char *s;
	int i;

	memset(&g, 0, sizeof(g));
	for (i = 0; i < METRICS_COUNTER_MAX; i++)
		metrics_add((enum metrics_counter)i, (uint64_t)i * 1000 + 7);
	for (i = 0; i < POLICY_R_COUNT; i++)
		metrics_finding(policy_rule_to_str((enum policy_rule)i));
	for (i = 0; i < 100; i++)
		metrics_upstream_latency(i * 997);
	g.queue[QUEUE_HELD] = 3;
	g.oldest_age = 1;
	g.start_time = 1700000000;
	s = render_checked(&g);
	ck_assert_double_eq(series_value(s,
	    "mailhold_upstream_latency_seconds_count"), 100);
	free(s);
}
END_TEST

START_TEST(test_render_full)
{
	struct mh_buf b;

	mh_buf_init(&b, 512);
	ck_assert_int_eq(metrics_render(&b, NULL), -1);
	mh_buf_clear(&b);
}
END_TEST

START_TEST(test_gauges)
{
	struct metrics_gauges g;
	char *s;

	memset(&g, 0, sizeof(g));
	g.queue[QUEUE_HELD] = 5;
	g.queue[QUEUE_AWAITING_RELEASE] = 6;
	g.queue[QUEUE_RELEASING] = 7;
	g.queue[QUEUE_DEFERRED] = 8;
	g.queue[QUEUE_SENT] = 9;
	g.queue[QUEUE_FAILED] = 10;
	g.queue[QUEUE_CANCELLED] = 11;
	g.oldest_age = 4242;
	g.sessions = 12;
	g.relay_connections = 2;
	g.start_time = 1700000123;
	s = render_checked(&g);
	ck_assert_double_eq(series_value(s,
	    "mailhold_queue_messages{state=\"held\"}"), 5);
	ck_assert_double_eq(series_value(s,
	    "mailhold_queue_messages{state=\"awaiting_release\"}"), 6);
	ck_assert_double_eq(series_value(s,
	    "mailhold_queue_messages{state=\"releasing\"}"), 7);
	ck_assert_double_eq(series_value(s,
	    "mailhold_queue_messages{state=\"deferred\"}"), 8);
	ck_assert_double_eq(series_value(s,
	    "mailhold_queue_messages{state=\"sent\"}"), 9);
	ck_assert_double_eq(series_value(s,
	    "mailhold_queue_messages{state=\"failed\"}"), 10);
	ck_assert_double_eq(series_value(s,
	    "mailhold_queue_messages{state=\"cancelled\"}"), 11);
	ck_assert_double_eq(series_value(s,
	    "mailhold_queue_oldest_age_seconds"), 4242);
	ck_assert_double_eq(series_value(s, "mailhold_smtp_sessions"), 12);
	ck_assert_double_eq(series_value(s, "mailhold_relay_connections"),
	    2);
	ck_assert_double_eq(series_value(s, "mailhold_start_time_seconds"),
	    1700000123);
	ck_assert_double_eq(series_value(s, "mailhold_upstream_up"), 1);
	free(s);

	g.oldest_age = -1;	/* none waiting */
	g.upstream_down = true;
	s = render_checked(&g);
	ck_assert_double_eq(series_value(s, "mailhold_upstream_up"), 0);
	ck_assert_double_eq(series_value(s,
	    "mailhold_queue_oldest_age_seconds"), 0);
	free(s);
}
END_TEST

/* ------------------------------------------------------------------ */
/* counters */

static const struct counter_case {
	const char		*label;
	enum metrics_counter	 c;
	const char		*want_series;
} counter_cases[] = {
	{ "received", METRICS_RECEIVED, "mailhold_messages_received_total" },
	{ "rejected", METRICS_REJECTED, "mailhold_messages_rejected_total" },
	{ "held", METRICS_HELD,
	  "mailhold_messages_held_total{mode=\"timer\"}" },
	{ "awaiting", METRICS_AWAITING,
	  "mailhold_messages_held_total{mode=\"awaiting_release\"}" },
	{ "released", METRICS_RELEASED, "mailhold_messages_released_total" },
	{ "sent", METRICS_SENT, "mailhold_messages_sent_total" },
	{ "deferred", METRICS_DEFERRED, "mailhold_messages_deferred_total" },
	{ "failed", METRICS_FAILED, "mailhold_messages_failed_total" },
	{ "cancelled web", METRICS_CANCELLED_WEB,
	  "mailhold_messages_cancelled_total{by=\"web\"}" },
	{ "cancelled ctl", METRICS_CANCELLED_CTL,
	  "mailhold_messages_cancelled_total{by=\"ctl\"}" },
	{ "cancelled expiry", METRICS_CANCELLED_EXPIRY,
	  "mailhold_messages_cancelled_total{by=\"expiry\"}" },
	{ "alerts", METRICS_ALERTS, "mailhold_alerts_total" },
	{ "notices", METRICS_NOTICES, "mailhold_notices_total" },
	{ "notices to admin", METRICS_NOTICES_TO_ADMIN,
	    "mailhold_notices_to_admin_total" },
	{ "notices lost", METRICS_NOTICES_LOST, "mailhold_notices_lost_total" },
	{ "auth failures", METRICS_AUTH_FAILURES,
	  "mailhold_auth_failures_total" },
	{ "web notfound", METRICS_WEB_NOTFOUND, "mailhold_web_notfound_total" },
	{ "web rate limited", METRICS_WEB_RATE_LIMITED,
	  "mailhold_web_rate_limited_total" },
	{ "upstream connect failures", METRICS_UPSTREAM_CONNECT_FAILURES,
	  "mailhold_upstream_connect_failures_total" },
};

/* Every counter has a case (a new one must be added here). */
START_TEST(test_counter_cases_complete)
{
	ck_assert_int_eq(NITEMS(counter_cases), METRICS_COUNTER_MAX);
}
END_TEST

START_TEST(test_counter)
{
	const struct counter_case *c = &counter_cases[_i];
	char *s;
	size_t k;

	metrics_inc(c->c);
	metrics_add(c->c, 4);
	metrics_add(c->c, 0);
	s = render_checked(NULL);
	ck_assert_msg(series_value(s, c->want_series) == 5, "%s", c->label);
	/* And no other counter moved. */
	for (k = 0; k < NITEMS(counter_cases); k++)
		if (k != (size_t)_i)
			ck_assert_msg(series_value(s,
			    counter_cases[k].want_series) == 0, "%s moved %s",
			    c->label, counter_cases[k].label);
	free(s);
	metrics_reset_();
	s = render_checked(NULL);
	ck_assert_double_eq(series_value(s, c->want_series), 0);
	free(s);
}
END_TEST

START_TEST(test_counter_large)
{
	char *s;

	metrics_add(METRICS_SENT, UINT64_C(1) << 40);
	metrics_inc(METRICS_SENT);
	s = render_checked(NULL);
	ck_assert_ptr_nonnull(strstr(s,
	    "\nmailhold_messages_sent_total 1099511627777\n"));
	free(s);
}
END_TEST

START_TEST(test_finding)
{
	const char *rule = policy_rule_to_str((enum policy_rule)_i);
	char *s, series[128];
	int k;

	metrics_finding(rule);
	metrics_finding(rule);
	s = render_checked(NULL);
	for (k = 0; k < POLICY_R_COUNT; k++) {
		(void)mh_snprintf(series, sizeof(series),
		    "mailhold_findings_total{rule=\"%s\"}",
		    policy_rule_to_str((enum policy_rule)k));
		ck_assert_msg(series_value(s, series) == (k == _i ? 2 : 0),
		    "%s", series);
	}
	free(s);
}
END_TEST

/* The names the issue lists are the policy's names. */
START_TEST(test_finding_names)
{
	static const char *const names[] = {
		"typo_domain", "confusable_tld", "blocked_domains",
		"visible_recipients", "first_time_recipient",
		"external_recipient", "burst", "cc_carryover",
		"sensitive_content", "malformed_header",
	};
	char *s, series[128];
	size_t i;

	for (i = 0; i < NITEMS(names); i++)
		metrics_finding(names[i]);
	s = render_checked(NULL);
	for (i = 0; i < NITEMS(names); i++) {
		(void)mh_snprintf(series, sizeof(series),
		    "mailhold_findings_total{rule=\"%s\"}", names[i]);
		ck_assert_msg(series_value(s, series) == 1, "%s", series);
	}
	free(s);
}
END_TEST

START_TEST(test_finding_unknown)
{
	static const char *const bad[] = {
		"", "nosuch", "TYPO_DOMAIN", "typo_domain ", " typo_domain",
		"typo_domai", "typo_domainx", "rule=\"x\"", "?",
	};
	size_t i;
	char *s;

	for (i = 0; i < NITEMS(bad); i++)
		metrics_finding(bad[i]);
	metrics_finding(NULL);
	s = render_checked(NULL);
	ck_assert_ptr_null(strstr(s, "nosuch"));
	ck_assert_ptr_null(strstr(s, "rule=\"?\""));
	ck_assert_ptr_null(strstr(s, "_total{rule=\"rule"));
	ck_assert_ptr_null(strstr(s, "findings_total{rule=\"\"}"));
	ck_assert_ptr_null(strstr(s, "findings_total{rule=\"typo_domain\"} "
	    "1"));
	ck_assert_ptr_nonnull(strstr(s, "findings_total{rule=\"typo_domain\"} "
	    "0\n"));
	free(s);
}
END_TEST

/* ------------------------------------------------------------------ */
/* latency */

static const char *const les[] = {
	"0.01", "0.025", "0.05", "0.1", "0.25", "0.5", "1", "2.5", "5", "10",
	"30", "60", "+Inf",
};

static const struct latency_case {
	int64_t		 ms;
	const char	*want_le;	/* the first bucket that counts it */
	const char	*want_sum;
} latency_cases[] = {
	{ 0, "0.01", "0.000" },
	{ 1, "0.01", "0.001" },
	{ 10, "0.01", "0.010" },		/* le is inclusive */
	{ 11, "0.025", "0.011" },
	{ 25, "0.025", "0.025" },
	{ 26, "0.05", "0.026" },
	{ 100, "0.1", "0.100" },
	{ 101, "0.25", "0.101" },
	{ 999, "1", "0.999" },
	{ 1000, "1", "1.000" },
	{ 1001, "2.5", "1.001" },
	{ 5000, "5", "5.000" },
	{ 10000, "10", "10.000" },
	{ 29999, "30", "29.999" },
	{ 60000, "60", "60.000" },
	{ 60001, "+Inf", "60.001" },
	{ 86400000, "+Inf", "86400.000" },
	{ -5, "0.01", "0.000" },		/* a clock step */
};

START_TEST(test_latency)
{
	const struct latency_case *c = &latency_cases[_i];
	char *s, series[128], sum[64];
	bool reached = false;
	size_t k;

	metrics_upstream_latency(c->ms);
	s = render_checked(NULL);
	for (k = 0; k < NITEMS(les); k++) {
		if (strcmp(les[k], c->want_le) == 0)
			reached = true;
		(void)mh_snprintf(series, sizeof(series),
		    "mailhold_upstream_latency_seconds_bucket{le=\"%s\"}",
		    les[k]);
		ck_assert_msg(series_value(s, series) == (reached ? 1 : 0),
		    "%lld ms: %s", (long long)c->ms, series);
	}
	ck_assert(reached);
	ck_assert_double_eq(series_value(s,
	    "mailhold_upstream_latency_seconds_count"), 1);
	(void)mh_snprintf(sum, sizeof(sum),
	    "\nmailhold_upstream_latency_seconds_sum %s\n", c->want_sum);
	ck_assert_msg(strstr(s, sum) != NULL, "%s", sum);
	free(s);
}
END_TEST

START_TEST(test_latency_many)
{
	char *s;

	metrics_upstream_latency(5);
	metrics_upstream_latency(5);
	metrics_upstream_latency(30);
	metrics_upstream_latency(1234);
	metrics_upstream_latency(120000);
	s = render_checked(NULL);
	ck_assert_double_eq(series_value(s,
	    "mailhold_upstream_latency_seconds_bucket{le=\"0.01\"}"), 2);
	ck_assert_double_eq(series_value(s,
	    "mailhold_upstream_latency_seconds_bucket{le=\"0.025\"}"), 2);
	ck_assert_double_eq(series_value(s,
	    "mailhold_upstream_latency_seconds_bucket{le=\"0.05\"}"), 3);
	ck_assert_double_eq(series_value(s,
	    "mailhold_upstream_latency_seconds_bucket{le=\"2.5\"}"), 4);
	ck_assert_double_eq(series_value(s,
	    "mailhold_upstream_latency_seconds_bucket{le=\"60\"}"), 4);
	ck_assert_double_eq(series_value(s,
	    "mailhold_upstream_latency_seconds_bucket{le=\"+Inf\"}"), 5);
	ck_assert_double_eq(series_value(s,
	    "mailhold_upstream_latency_seconds_count"), 5);
	ck_assert_ptr_nonnull(strstr(s,
	    "\nmailhold_upstream_latency_seconds_sum 121.274\n"));
	free(s);
}
END_TEST

/* ------------------------------------------------------------------ */
/* event-loop lag */

static const char *const lag_les[] = {
	"0.001", "0.0025", "0.005", "0.01", "0.025", "0.05", "0.1", "0.25",
	"0.5", "1", "2.5", "5", "+Inf",
};

static const struct lag_case {
	int64_t		 us;
	const char	*want_le;	/* the first bucket that counts it */
	const char	*want_sum;
} lag_cases[] = {
	{ 0, "0.001", "0.000000" },
	{ 1, "0.001", "0.000001" },
	{ 999, "0.001", "0.000999" },
	{ 1000, "0.001", "0.001000" },		/* le is inclusive */
	{ 1001, "0.0025", "0.001001" },
	{ 2500, "0.0025", "0.002500" },
	{ 2501, "0.005", "0.002501" },
	{ 5000, "0.005", "0.005000" },
	{ 9999, "0.01", "0.009999" },
	{ 25000, "0.025", "0.025000" },
	{ 50001, "0.1", "0.050001" },
	{ 250000, "0.25", "0.250000" },
	{ 999999, "1", "0.999999" },
	{ 2500000, "2.5", "2.500000" },
	{ 5000000, "5", "5.000000" },
	{ 5000001, "+Inf", "5.000001" },
	{ 3600000000LL, "+Inf", "3600.000000" },
	{ -250, "0.001", "0.000000" },		/* fired early: 0 */
};

START_TEST(test_lag)
{
	const struct lag_case *c = &lag_cases[_i];
	char *s, series[128], sum[64];
	bool reached = false;
	size_t k;

	metrics_loop_lag(c->us);
	s = render_checked(NULL);
	for (k = 0; k < NITEMS(lag_les); k++) {
		if (strcmp(lag_les[k], c->want_le) == 0)
			reached = true;
		(void)mh_snprintf(series, sizeof(series),
		    "mailhold_event_loop_lag_seconds_bucket{le=\"%s\"}",
		    lag_les[k]);
		ck_assert_msg(series_value(s, series) == (reached ? 1 : 0),
		    "%lld us: %s", (long long)c->us, series);
	}
	ck_assert(reached);
	ck_assert_double_eq(series_value(s,
	    "mailhold_event_loop_lag_seconds_count"), 1);
	(void)mh_snprintf(sum, sizeof(sum),
	    "\nmailhold_event_loop_lag_seconds_sum %s\n", c->want_sum);
	ck_assert_msg(strstr(s, sum) != NULL, "%s", sum);
	/* The other histogram is untouched. */
	ck_assert_double_eq(series_value(s,
	    "mailhold_upstream_latency_seconds_count"), 0);
	free(s);
}
END_TEST

START_TEST(test_lag_many)
{
	char *s;
	int i;

	for (i = 0; i < 1000; i++)
		metrics_loop_lag(300);		/* an idle loop */
	metrics_loop_lag(4000);
	metrics_loop_lag(70000);
	metrics_loop_lag(7000000);
	s = render_checked(NULL);
	ck_assert_double_eq(series_value(s,
	    "mailhold_event_loop_lag_seconds_bucket{le=\"0.001\"}"), 1000);
	ck_assert_double_eq(series_value(s,
	    "mailhold_event_loop_lag_seconds_bucket{le=\"0.0025\"}"), 1000);
	ck_assert_double_eq(series_value(s,
	    "mailhold_event_loop_lag_seconds_bucket{le=\"0.005\"}"), 1001);
	ck_assert_double_eq(series_value(s,
	    "mailhold_event_loop_lag_seconds_bucket{le=\"0.1\"}"), 1002);
	ck_assert_double_eq(series_value(s,
	    "mailhold_event_loop_lag_seconds_bucket{le=\"5\"}"), 1002);
	ck_assert_double_eq(series_value(s,
	    "mailhold_event_loop_lag_seconds_bucket{le=\"+Inf\"}"), 1003);
	ck_assert_double_eq(series_value(s,
	    "mailhold_event_loop_lag_seconds_count"), 1003);
	/* 1000 * 0.0003 + 0.004 + 0.07 + 7 */
	ck_assert_ptr_nonnull(strstr(s,
	    "\nmailhold_event_loop_lag_seconds_sum 7.374000\n"));
	free(s);
}
END_TEST

/* The real timer on a real loop: a loop kept busy past the tick's due
 * time records it that late.  Only a lower bound is asserted (a loaded
 * machine makes the tick later, never earlier). */
START_TEST(test_lag_timer)
{
	struct event_base *base;
	struct metrics_lag *l;
	struct timespec busy = { 0, 180 * 1000 * 1000 };
	char *s;

	ck_assert_ptr_nonnull(base = event_base_new());
	ck_assert_ptr_nonnull(l = metrics_lag_new(base));
	/* The loop is stalled for 0.18 s: the 0.1 s tick is >= 0.08 s
	 * late when the loop gets to it. */
	while (nanosleep(&busy, &busy) == -1)
		;
	ck_assert_int_eq(event_base_loop(base, EVLOOP_ONCE), 0);
	s = render_checked(NULL);
	ck_assert_double_eq(series_value(s,
	    "mailhold_event_loop_lag_seconds_count"), 1);
	ck_assert_double_eq(series_value(s,
	    "mailhold_event_loop_lag_seconds_bucket{le=\"0.05\"}"), 0);
	free(s);
	/* It re-arms itself: the next tick comes by itself. */
	ck_assert_int_eq(event_base_loop(base, EVLOOP_ONCE), 0);
	s = render_checked(NULL);
	ck_assert_double_eq(series_value(s,
	    "mailhold_event_loop_lag_seconds_count"), 2);
	free(s);
	metrics_lag_free(l);
	metrics_lag_free(NULL);
	event_base_free(base);
}
END_TEST

/* ------------------------------------------------------------------ */
/* bearer token */

static const struct auth_case {
	const char	*label;
	const char	*header;
	const char	*token;
	bool		 want;
} auth_cases[] = {
	{ "exact", "Bearer " TOKEN, TOKEN, true },
	{ "scheme lowercase", "bearer " TOKEN, TOKEN, true },
	{ "scheme uppercase", "BEARER " TOKEN, TOKEN, true },
	{ "scheme mixed", "bEaReR " TOKEN, TOKEN, true },
	{ "several spaces", "Bearer   " TOKEN, TOKEN, true },
	{ "missing header", NULL, TOKEN, false },
	{ "empty header", "", TOKEN, false },
	{ "scheme only", "Bearer", TOKEN, false },
	{ "scheme and space", "Bearer ", TOKEN, false },
	{ "scheme and spaces", "Bearer    ", TOKEN, false },
	{ "no space", "Bearer" TOKEN, TOKEN, false },
	{ "tab", "Bearer\t" TOKEN, TOKEN, false },
	{ "leading space", " Bearer " TOKEN, TOKEN, false },
	{ "trailing space", "Bearer " TOKEN " ", TOKEN, false },
	{ "basic", "Basic " TOKEN, TOKEN, false },
	{ "bearerx", "Bearerx " TOKEN, TOKEN, false },
	{ "token alone", TOKEN, TOKEN, false },
	{ "wrong token same length", "Bearer s3cret-Token_0123456789.~+/-",
	  TOKEN, false },
	{ "wrong first char", "Bearer S3cret-Token_0123456789.~+/=", TOKEN,
	  false },
	{ "token case", "Bearer S3CRET-TOKEN_0123456789.~+/=", TOKEN, false },
	{ "prefix of token", "Bearer s3cret-Token_0123", TOKEN, false },
	{ "one short", "Bearer s3cret-Token_0123456789.~+/", TOKEN, false },
	{ "token plus one", "Bearer " TOKEN "x", TOKEN, false },
	{ "token twice", "Bearer " TOKEN TOKEN, TOKEN, false },
	{ "two credentials", "Bearer " TOKEN ", Bearer " TOKEN, TOKEN, false },
	{ "empty token configured", "Bearer ", "", false },
	{ "empty token vs value", "Bearer x", "", false },
	{ "no token configured", "Bearer " TOKEN, NULL, false },
	{ "both empty", "", "", false },
};

START_TEST(test_auth)
{
	const struct auth_case *c = &auth_cases[_i];

	ck_assert_msg(metrics_auth_ok(c->header, c->token) == c->want, "%s",
	    c->label);
}
END_TEST

/* ------------------------------------------------------------------ */
/* the listener */

struct http_fx {
	struct event_base	*base;
	struct config		 conf;
	char			 addr[16];
	struct metrics_http	*m;
	int			 ncb;
	size_t			 pending;	/* clients without a status */
};

struct http_cli {
	struct http_fx		*fx;
	struct bufferevent	*bev;
	struct evbuffer		*resp;
	bool			 headed, eof;
};

static struct http_fx hfx;

static void
http_gauges(struct metrics_gauges *g, void *arg)
{
	struct http_fx *fx = arg;

	ck_assert_int_eq(g->oldest_age, -1);	/* arrives cleared */
	ck_assert_int_eq(g->sessions, 0);
	fx->ncb++;
	g->sessions = 7;
	g->queue[QUEUE_DEFERRED] = 3;
}

static void
http_setup(void)
{
	metrics_reset_();
	log_setlevel(LOG_LVL_WARN);	/* quiet; test_http_refused_logged
					   raises it */
	memset(&hfx, 0, sizeof(hfx));
	mh_strlcpy(hfx.addr, "127.0.0.1", sizeof(hfx.addr));
	hfx.conf.metrics_enabled = true;
	hfx.conf.metrics_address = hfx.addr;
	hfx.conf.metrics_port = 0;
	ck_assert_ptr_nonnull(hfx.base = event_base_new());
}

static void
http_teardown(void)
{
	metrics_http_free(hfx.m);
	event_base_free(hfx.base);
}

static void
http_start(const char *token)
{
	/* The daemon ignores SIGPIPE; a client writing to a connection
	 * the server shut must not kill the test either. */
	signal(SIGPIPE, SIG_IGN);
	hfx.conf.metrics_token = (char *)token;
	hfx.m = metrics_http_new(hfx.base, &hfx.conf, http_gauges, &hfx);
	ck_assert_ptr_nonnull(hfx.m);
	ck_assert_int_gt(metrics_http_port(hfx.m), 0);
}

static void
http_cli_check(struct http_cli *c)
{
	if (!c->headed && evbuffer_search(c->resp, "\r\n\r\n", 4, NULL).pos !=
	    -1) {
		c->headed = true;
		if (--c->fx->pending == 0)
			event_base_loopbreak(c->fx->base);
	}
}

static void
http_cli_read(struct bufferevent *bev, void *arg)
{
	struct http_cli *c = arg;

	evbuffer_add_buffer(c->resp, bufferevent_get_input(bev));
	http_cli_check(c);
}

static void
http_cli_event(struct bufferevent *bev, short what, void *arg)
{
	struct http_cli *c = arg;

	if (!(what & (BEV_EVENT_EOF | BEV_EVENT_ERROR)))
		return;
	evbuffer_add_buffer(c->resp, bufferevent_get_input(bev));
	c->eof = true;
	http_cli_check(c);
	if (!c->headed) {		/* closed without an answer */
		c->headed = true;
		if (--c->fx->pending == 0)
			event_base_loopbreak(c->fx->base);
	}
}

static void
http_timeout(evutil_socket_t fd, short what, void *arg)
{
	ck_abort_msg("HTTP test timed out");
}

static struct http_cli *
http_cli_new(const char *req, size_t len)
{
	struct http_cli *c = xcalloc(1, sizeof(*c));
	struct sockaddr_in sin;

	c->fx = &hfx;
	ck_assert_ptr_nonnull(c->resp = evbuffer_new());
	c->bev = bufferevent_socket_new(hfx.base, -1, BEV_OPT_CLOSE_ON_FREE);
	ck_assert_ptr_nonnull(c->bev);
	bufferevent_setcb(c->bev, http_cli_read, NULL, http_cli_event, c);
	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_port = htons((uint16_t)metrics_http_port(hfx.m));
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	ck_assert_int_eq(bufferevent_socket_connect(c->bev,
	    (struct sockaddr *)&sin, sizeof(sin)), 0);
	ck_assert_int_eq(bufferevent_write(c->bev, req, len), 0);
	ck_assert_int_eq(bufferevent_enable(c->bev, EV_READ), 0);
	hfx.pending++;
	return c;
}

static void
http_cli_free(struct http_cli *c)
{
	bufferevent_free(c->bev);
	evbuffer_free(c->resp);
	free(c);
}

/* Runs the loop until every client has its status line and headers
 * (or has been closed). */
static void
http_run(void)
{
	struct timeval tv = { 10, 0 };
	struct event *t = evtimer_new(hfx.base, http_timeout, NULL);

	ck_assert_ptr_nonnull(t);
	ck_assert_int_eq(evtimer_add(t, &tv), 0);
	if (hfx.pending > 0)
		event_base_dispatch(hfx.base);
	event_free(t);
}

struct http_resp {
	int	 code;
	char	*head;		/* status line and headers */
	char	*body;
};

/* One HTTP/1.0 exchange: the server closes after the answer. */
static void
http_fetch(const char *req, struct http_resp *r)
{
	struct http_cli *c = http_cli_new(req, strlen(req));
	char *all, *sep;
	size_t len;

	http_run();
	while (!c->eof)			/* the rest of the body */
		event_base_loop(hfx.base, EVLOOP_ONCE);
	len = evbuffer_get_length(c->resp);
	all = xcalloc(1, len + 1);
	evbuffer_remove(c->resp, all, len);
	http_cli_free(c);
	memset(r, 0, sizeof(*r));
	ck_assert_msg(sscanf(all, "HTTP/1.%*d %d ", &r->code) == 1, "%s", all);
	ck_assert_ptr_nonnull(sep = strstr(all, "\r\n\r\n"));
	r->body = xstrdup(sep + 4);
	sep[2] = '\0';
	r->head = all;
}

static void
http_resp_clear(struct http_resp *r)
{
	free(r->head);
	free(r->body);
}

#define GET_M	"GET /metrics HTTP/1.0\r\n"
#define AUTH(v)	"Authorization: " v "\r\n"

static const struct http_case {
	const char	*label;
	const char	*token;		/* configured; NULL: none */
	const char	*req;
	int		 want_code;
	const char	*want_head;	/* in the head; NULL: not checked */
	bool		 want_metrics;	/* body is the exposition */
	bool		 want_cb;	/* the gauges were asked for */
} http_cases[] = {
	{ "open get", NULL, GET_M "\r\n", 200,
	  "Content-Type: text/plain; version=0.0.4; charset=utf-8\r\n",
	  true, true },
	{ "open get 1.1", NULL, "GET /metrics HTTP/1.1\r\nHost: x\r\n"
	  "Connection: close\r\n\r\n", 200, "Cache-Control: no-store\r\n",
	  true, true },
	{ "open query ignored", NULL, "GET /metrics?name[]=x HTTP/1.0\r\n\r\n",
	  200, NULL, true, true },
	{ "open head", NULL, "HEAD /metrics HTTP/1.0\r\n\r\n", 200,
	  "Content-Type: text/plain; version=0.0.4", false, true },
	{ "open root", NULL, "GET / HTTP/1.0\r\n\r\n", 404, NULL, false,
	  false },
	{ "open trailing slash", NULL, "GET /metrics/ HTTP/1.0\r\n\r\n", 404,
	  NULL, false, false },
	{ "open longer", NULL, "GET /metricsx HTTP/1.0\r\n\r\n", 404, NULL,
	  false, false },
	{ "open case", NULL, "GET /METRICS HTTP/1.0\r\n\r\n", 404, NULL,
	  false, false },
	{ "open post", NULL, "POST /metrics HTTP/1.0\r\nContent-Length: 0\r\n"
	  "\r\n", 405, "Allow: GET, HEAD\r\n", false, false },
	{ "open delete", NULL, "DELETE /metrics HTTP/1.0\r\n\r\n", 405,
	  "Allow: GET, HEAD\r\n", false, false },
	{ "open ignores auth", NULL, GET_M AUTH("Bearer nope") "\r\n", 200,
	  NULL, true, true },

	{ "token right", TOKEN, GET_M AUTH("Bearer " TOKEN) "\r\n", 200,
	  NULL, true, true },
	{ "token lowercase scheme", TOKEN, GET_M AUTH("bearer " TOKEN) "\r\n",
	  200, NULL, true, true },
	{ "token header case", TOKEN, GET_M "authorization: Bearer " TOKEN
	  "\r\n\r\n", 200, NULL, true, true },
	{ "token missing", TOKEN, GET_M "\r\n", 401,
	  "WWW-Authenticate: Bearer realm=\"mailhold\"\r\n", false, false },
	{ "token wrong", TOKEN, GET_M
	  AUTH("Bearer s3cret-Token_0123456789.~+/-") "\r\n", 401,
	  "error=\"invalid_token\"", false, false },
	{ "token basic", TOKEN, GET_M AUTH("Basic dXNlcjpwYXNz") "\r\n", 401,
	  "WWW-Authenticate: Bearer", false, false },
	{ "token prefix", TOKEN, GET_M AUTH("Bearer s3cret") "\r\n", 401,
	  NULL, false, false },
	{ "token good then bad", TOKEN, GET_M AUTH("Bearer " TOKEN)
	  AUTH("Bearer x") "\r\n", 401, NULL, false, false },
	{ "token bad then good", TOKEN, GET_M AUTH("Bearer x")
	  AUTH("Bearer " TOKEN) "\r\n", 401, NULL, false, false },
	{ "token twice", TOKEN, GET_M AUTH("Bearer " TOKEN)
	  AUTH("Bearer " TOKEN) "\r\n", 401, NULL, false, false },
	{ "token head missing", TOKEN, "HEAD /metrics HTTP/1.0\r\n\r\n", 401,
	  NULL, false, false },
	{ "token other path", TOKEN, "GET /x HTTP/1.0\r\n\r\n", 404, NULL,
	  false, false },
	{ "token post right", TOKEN, "POST /metrics HTTP/1.0\r\n"
	  AUTH("Bearer " TOKEN) "Content-Length: 0\r\n\r\n", 405, NULL, false,
	  false },
	{ "empty token fails closed", "", GET_M AUTH("Bearer ") "\r\n", 401,
	  NULL, false, false },
	{ "body too large", NULL, "GET /metrics HTTP/1.0\r\n"
	  "Content-Length: 4096\r\n\r\n", 413, NULL, false, false },
};

START_TEST(test_http)
{
	const struct http_case *c = &http_cases[_i];
	struct http_resp r;

	http_start(c->token);
	metrics_inc(METRICS_RECEIVED);
	http_fetch(c->req, &r);
	ck_assert_msg(r.code == c->want_code, "%s: %d\n%s", c->label, r.code,
	    r.head);
	if (c->want_head != NULL)
		ck_assert_msg(strstr(r.head, c->want_head) != NULL, "%s:\n%s",
		    c->label, r.head);
	if (c->want_code != 413)	/* evhttp's own answer */
		ck_assert_msg(strstr(r.head, "X-Content-Type-Options: "
		    "nosniff\r\n") != NULL, "%s:\n%s", c->label, r.head);
	ck_assert_int_eq(hfx.ncb, c->want_cb ? 1 : 0);
	if (c->want_metrics) {
		struct expo *e = xcalloc(1, sizeof(*e));
		const char *why = expo_check(e, r.body);

		ck_assert_msg(why == NULL, "%s: %s", c->label, why);
		ck_assert_double_eq(series_value(r.body,
		    "mailhold_messages_received_total"), 1);
		ck_assert_double_eq(series_value(r.body,
		    "mailhold_smtp_sessions"), 7);
		ck_assert_double_eq(series_value(r.body,
		    "mailhold_queue_messages{state=\"deferred\"}"), 3);
		free(e);
	} else
		ck_assert_ptr_null(strstr(r.body, "mailhold_"));
	if (c->want_code == 401)
		ck_assert_ptr_null(strstr(r.body, TOKEN));
	http_resp_clear(&r);
}
END_TEST

START_TEST(test_http_headers_too_large)
{
	struct mh_buf b;
	struct http_resp r;

	http_start(NULL);
	mh_buf_init(&b, 64 * 1024);
	ck_assert_int_eq(mh_buf_puts(&b, GET_M "X-Pad: "), 0);
	while (b.len < 9 * 1024)
		ck_assert_int_eq(mh_buf_puts(&b, "aaaaaaaaaaaaaaaa"), 0);
	ck_assert_int_eq(mh_buf_puts(&b, "\r\n\r\n"), 0);
	http_fetch(b.data, &r);
	ck_assert_int_ne(r.code, 200);
	ck_assert_int_ge(r.code, 400);
	ck_assert_int_eq(hfx.ncb, 0);
	http_resp_clear(&r);
	mh_buf_clear(&b);
}
END_TEST

/* The token follows the config on reload. */
START_TEST(test_http_reload)
{
	struct http_resp r;

	http_start(NULL);
	http_fetch(GET_M "\r\n", &r);
	ck_assert_int_eq(r.code, 200);
	http_resp_clear(&r);

	hfx.conf.metrics_token = (char *)TOKEN;
	metrics_http_set_config(hfx.m, &hfx.conf);
	hfx.conf.metrics_token = NULL;	/* the listener keeps a copy */
	http_fetch(GET_M "\r\n", &r);
	ck_assert_int_eq(r.code, 401);
	http_resp_clear(&r);
	http_fetch(GET_M AUTH("Bearer " TOKEN) "\r\n", &r);
	ck_assert_int_eq(r.code, 200);
	http_resp_clear(&r);

	metrics_http_set_config(hfx.m, &hfx.conf);
	http_fetch(GET_M "\r\n", &r);
	ck_assert_int_eq(r.code, 200);
	http_resp_clear(&r);
	ck_assert_int_eq(hfx.ncb, 3);
}
END_TEST

/* Refused scrapes are logged, the presented token never. */
START_TEST(test_http_refused_logged)
{
	struct http_resp r;
	char path[] = "/tmp/check_metrics.XXXXXX", log[4096];
	int fd, saved;
	ssize_t n;

	ck_assert_int_ge(fd = mkstemp(path), 0);
	unlink(path);
	ck_assert_int_ge(saved = dup(STDERR_FILENO), 0);
	ck_assert_int_eq(dup2(fd, STDERR_FILENO), STDERR_FILENO);
	log_setlevel(LOG_LVL_INFO);
	http_start(TOKEN);
	http_fetch(GET_M AUTH("Bearer WRONG-secret-value-xyz") "\r\n", &r);
	http_resp_clear(&r);
	http_fetch(GET_M "\r\n", &r);
	http_resp_clear(&r);
	http_fetch(GET_M AUTH("Bearer " TOKEN) "\r\n", &r);
	http_resp_clear(&r);
	ck_assert_int_eq(dup2(saved, STDERR_FILENO), STDERR_FILENO);
	close(saved);
	ck_assert_int_ge(n = pread(fd, log, sizeof(log) - 1, 0), 0);
	log[n] = '\0';
	close(fd);
	ck_assert_msg(strstr(log, "event=metrics_listening address=127.0.0.1 "
	    "port=") != NULL, "%s", log);
	ck_assert_msg(strstr(log, "event=metrics_refused client=127.0.0.1 "
	    "reason=bad_token") != NULL, "%s", log);
	ck_assert_msg(strstr(log, "event=metrics_refused client=127.0.0.1 "
	    "reason=no_token") != NULL, "%s", log);
	ck_assert_ptr_null(strstr(log, "WRONG-secret"));
	ck_assert_ptr_null(strstr(log, TOKEN));
}
END_TEST

/* A client until it is closed: the octets it got. */
static size_t
http_cli_drain(struct http_cli *c)
{
	int i;

	for (i = 0; i < 5000 && !c->eof; i++)
		event_base_loop(hfx.base, EVLOOP_ONCE);
	ck_assert(c->eof);
	return evbuffer_get_length(c->resp);
}

/* Connections are counted from accept: past 16 the next one is shut
 * without an answer; when one closes, the sweeper frees its slot. */
START_TEST(test_http_connection_limit)
{
	static const char keep[] = "GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n";
	struct http_cli *c[16], *x;
	size_t i;
	bool ok = false;

	http_start(NULL);
	for (i = 0; i < NITEMS(c); i++)
		c[i] = http_cli_new(keep, sizeof(keep) - 1);
	http_run();
	for (i = 0; i < NITEMS(c); i++) {
		ck_assert(c[i]->headed);
		ck_assert(!c[i]->eof);		/* kept alive */
	}
	x = http_cli_new(GET_M "\r\n", sizeof(GET_M "\r\n") - 1);
	ck_assert_uint_eq(http_cli_drain(x), 0);	/* shut, no answer */
	http_cli_free(x);
	/* One closes: room again within the sweeper's second. */
	http_cli_free(c[0]);
	for (i = 0; i < 40 && !ok; i++) {
		struct timeval tv = { 0, 100000 };

		event_base_loopexit(hfx.base, &tv);
		event_base_dispatch(hfx.base);
		x = http_cli_new(GET_M "\r\n", sizeof(GET_M "\r\n") - 1);
		if (http_cli_drain(x) > 12) {
			char line[13];

			evbuffer_copyout(x->resp, line, 12);
			line[12] = '\0';
			ok = strcmp(line, "HTTP/1.1 200") == 0 ||
			    strcmp(line, "HTTP/1.0 200") == 0;
		}
		http_cli_free(x);
	}
	ck_assert(ok);
	for (i = 1; i < NITEMS(c); i++)
		http_cli_free(c[i]);
}
END_TEST

START_TEST(test_http_bind_fails)
{
	struct metrics_http *m2;

	http_start(NULL);
	hfx.conf.metrics_port = metrics_http_port(hfx.m);
	m2 = metrics_http_new(hfx.base, &hfx.conf, NULL, NULL);
	ck_assert_ptr_null(m2);
	metrics_http_free(NULL);
}
END_TEST

/* ------------------------------------------------------------------ */

static Suite *
metrics_suite(void)
{
	Suite *s = suite_create("metrics");
	TCase *tc;

	tc = tcase_create("checker");
	tcase_add_loop_test(tc, test_checker_refuses, 0, NITEMS(bad_expos));
	tcase_add_test(tc, test_checker_accepts);
	suite_add_tcase(s, tc);

	tc = tcase_create("render");
	tcase_add_checked_fixture(tc, setup, NULL);
	tcase_add_test(tc, test_render_zero);
	tcase_add_test(tc, test_render_busy);
	tcase_add_test(tc, test_render_full);
	tcase_add_test(tc, test_gauges);
	suite_add_tcase(s, tc);

	tc = tcase_create("counters");
	tcase_add_checked_fixture(tc, setup, NULL);
	tcase_add_test(tc, test_counter_cases_complete);
	tcase_add_loop_test(tc, test_counter, 0, NITEMS(counter_cases));
	tcase_add_test(tc, test_counter_large);
	tcase_add_loop_test(tc, test_finding, 0, POLICY_R_COUNT);
	tcase_add_test(tc, test_finding_names);
	tcase_add_test(tc, test_finding_unknown);
	suite_add_tcase(s, tc);

	tc = tcase_create("latency");
	tcase_add_checked_fixture(tc, setup, NULL);
	tcase_add_loop_test(tc, test_latency, 0, NITEMS(latency_cases));
	tcase_add_test(tc, test_latency_many);
	suite_add_tcase(s, tc);

	tc = tcase_create("lag");
	tcase_add_checked_fixture(tc, setup, NULL);
	tcase_add_loop_test(tc, test_lag, 0, NITEMS(lag_cases));
	tcase_add_test(tc, test_lag_many);
	tcase_add_test(tc, test_lag_timer);
	suite_add_tcase(s, tc);

	tc = tcase_create("auth");
	tcase_add_loop_test(tc, test_auth, 0, NITEMS(auth_cases));
	suite_add_tcase(s, tc);

	tc = tcase_create("http");
	tcase_add_checked_fixture(tc, http_setup, http_teardown);
	tcase_set_timeout(tc, 30);
	tcase_add_loop_test(tc, test_http, 0, NITEMS(http_cases));
	tcase_add_test(tc, test_http_headers_too_large);
	tcase_add_test(tc, test_http_reload);
	tcase_add_test(tc, test_http_refused_logged);
	tcase_add_test(tc, test_http_connection_limit);
	tcase_add_test(tc, test_http_bind_fails);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner *sr = srunner_create(metrics_suite());
	int nf;

	srunner_run_all(sr, CK_NORMAL);
	nf = srunner_ntests_failed(sr);
	srunner_free(sr);
	return nf == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
