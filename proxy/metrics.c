/*
 * metrics.c - see metrics.h.
 */
#include "metrics.h"

#include <sys/queue.h>
#include <sys/socket.h>

#include <netinet/in.h>

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <openssl/crypto.h>

#include "config.h"
#include "httpconn.h"
#include "lbackoff.h"
#include "log.h"
#include "policy.h"
#include "queue.h"
#include "util.h"

#ifndef MH_VERSION
#define MH_VERSION		"unknown"
#endif

#define METRICS_HEADERS_MAX	(8 * 1024)
#define METRICS_BODY_MAX	1024
#define METRICS_TIMEOUT		10	/* seconds per request */
#define METRICS_MAX_CONNS	16
#define METRICS_RENDER_MAX	(64 * 1024)
#define METRICS_CTYPE		"text/plain; version=0.0.4; charset=utf-8"
#define METRICS_PATH		"/metrics"
#define METRICS_NBUCKETS	12	/* finite buckets; +Inf is the count */
#define METRICS_LAG_INTERVAL_US	(100 * 1000)	/* loop-lag tick */

_Static_assert(METRICS_QUEUE_STATES == QUEUE_STATE_MAX + 1,
    "metrics_gauges.queue must have one slot per enum queue_state");

/* One counter: its family, its labels within the family (NULL: none)
 * and the family's help.  Counters of one family are adjacent in enum
 * metrics_counter, so the family's HELP and TYPE are printed once. */
static const struct metrics_def {
	const char	*name;
	const char	*labels;
	const char	*help;
} metrics_defs[METRICS_COUNTER_MAX] = {
	[METRICS_RECEIVED] = { "mailhold_messages_received_total", NULL,
	    "Messages accepted with 250 at the end of DATA." },
	[METRICS_REJECTED] = { "mailhold_messages_rejected_total", NULL,
	    "Messages refused at the end of DATA (policy or checks)." },
	[METRICS_HELD] = { "mailhold_messages_held_total", "mode=\"timer\"",
	    "Messages queued on hold, by mode: timer (released when the "
	    "hold ends) or awaiting_release (released by a person only)." },
	[METRICS_AWAITING] = { "mailhold_messages_held_total",
	    "mode=\"awaiting_release\"", NULL },
	[METRICS_RELEASED] = { "mailhold_messages_released_total", NULL,
	    "Messages handed to the relay, one per delivery attempt." },
	[METRICS_SENT] = { "mailhold_messages_sent_total", NULL,
	    "Delivery attempts that ended with the message sent." },
	[METRICS_DEFERRED] = { "mailhold_messages_deferred_total", NULL,
	    "Delivery attempts that ended deferred (temporary failure)." },
	[METRICS_FAILED] = { "mailhold_messages_failed_total", NULL,
	    "Delivery attempts that ended failed (permanent failure or "
	    "gave up)." },
	[METRICS_CANCELLED_WEB] = { "mailhold_messages_cancelled_total",
	    "by=\"web\"", "Messages cancelled, by who cancelled them: the "
	    "sender's web page, mailholdctl, or expiry of awaiting_release." },
	[METRICS_CANCELLED_CTL] = { "mailhold_messages_cancelled_total",
	    "by=\"ctl\"", NULL },
	[METRICS_CANCELLED_EXPIRY] = { "mailhold_messages_cancelled_total",
	    "by=\"expiry\"", NULL },
	[METRICS_ALERTS] = { "mailhold_alerts_total", NULL,
	    "Alert mails queued to senders." },
	[METRICS_NOTICES] = { "mailhold_notices_total", NULL,
	    "Failure notices queued to senders." },
	[METRICS_NOTICES_TO_ADMIN] = { "mailhold_notices_to_admin_total",
	    NULL, "Failure notices sent to notify.admin because the upstream "
	    "cannot carry the sender's UTF-8 address." },
	[METRICS_NOTICES_LOST] = { "mailhold_notices_lost_total", NULL,
	    "Alerts and failure notices that failed for good: their "
	    "recipient was not told (see the log, event=notice_lost)." },
	[METRICS_AUTH_FAILURES] = { "mailhold_auth_failures_total", NULL,
	    "SMTP AUTH attempts that failed." },
	[METRICS_WEB_NOTFOUND] = { "mailhold_web_notfound_total", NULL,
	    "Web page requests with an unknown or wrong token (404)." },
	[METRICS_WEB_RATE_LIMITED] = { "mailhold_web_rate_limited_total",
	    NULL, "Web page requests refused by the failure limit (429)." },
	[METRICS_UPSTREAM_CONNECT_FAILURES] = {
	    "mailhold_upstream_connect_failures_total", NULL,
	    "Connections to the upstream that failed before a message could "
	    "be sent (refused, timeout, greeting, TLS, AUTH)." },
};

/*
 * A histogram with fixed buckets.  Values are integers in the family's
 * unit (ms for the upstream latency, us for the loop lag), the bounds in
 * the same unit, and the le labels are the bounds in seconds as text.
 * Recording is a short scan and three additions: no allocation.
 */
struct metrics_hist {
	const char	*name;
	const char	*help;
	int64_t		 per_sec;		/* units per second */
	const int64_t	*bound;			/* METRICS_NBUCKETS, rising */
	const char *const *le;
	uint64_t	 bucket[METRICS_NBUCKETS];	/* not cumulative */
	uint64_t	 count;
	uint64_t	 sum;			/* in units */
};

static const int64_t metrics_latency_ms[METRICS_NBUCKETS] = {
	10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000, 30000, 60000,
};
static const char *const metrics_latency_le[METRICS_NBUCKETS] = {
	"0.01", "0.025", "0.05", "0.1", "0.25", "0.5", "1", "2.5", "5", "10",
	"30", "60",
};
/* Loop lag: a healthy loop is late by well under a millisecond (epoll
 * waits in whole ms, so up to 1 ms is the timer's own rounding); a stall
 * shows from 2.5 ms up, and anything past 5 s is +Inf. */
static const int64_t metrics_lag_us[METRICS_NBUCKETS] = {
	1000, 2500, 5000, 10000, 25000, 50000, 100000, 250000, 500000,
	1000000, 2500000, 5000000,
};
static const char *const metrics_lag_le[METRICS_NBUCKETS] = {
	"0.001", "0.0025", "0.005", "0.01", "0.025", "0.05", "0.1", "0.25",
	"0.5", "1", "2.5", "5",
};

/* The counters: loop thread only (see metrics.h). */
static uint64_t metrics_counters[METRICS_COUNTER_MAX];
static uint64_t metrics_findings[POLICY_R_COUNT];
static struct metrics_hist metrics_latency = {
	"mailhold_upstream_latency_seconds", "Relay transactions, MAIL "
	"FROM to the final reply, in seconds.", 1000, metrics_latency_ms,
	metrics_latency_le, { 0 }, 0, 0,
};
static struct metrics_hist metrics_lag = {
	"mailhold_event_loop_lag_seconds", "How late a timer that should "
	"fire every 0.1 s on the event loop fired, in seconds: the time the "
	"loop was busy and served nobody else.", 1000000, metrics_lag_us,
	metrics_lag_le, { 0 }, 0, 0,
};

/* The loop-lag timer (metrics_lag_new()). */
struct metrics_lag {
	struct event	*ev;
	int64_t		 due_us;	/* monotonic time it should fire */
};

struct metrics_http {
	struct event_base		*base;
	struct evhttp			*http;
	struct evhttp_bound_socket	*bound;
	struct lbackoff			*bo;	/* accept failures */
	metrics_gauges_cb		*cb;
	void				*arg;
	char				*token;		/* NULL: none */
	int				 port;
	struct httpconn			*conns;		/* accounting */
};

/* ------------------------------------------------------------------ */
/* counters */

void
metrics_add(enum metrics_counter c, uint64_t n)
{
	if ((unsigned)c >= METRICS_COUNTER_MAX) {
		MH_BUG("metrics counter out of range");
		return;
	}
	metrics_counters[c] += n;
}

void
metrics_inc(enum metrics_counter c)
{
	metrics_add(c, 1);
}

void
metrics_finding(const char *rule)
{
	const char *name;
	int i;

	if (rule == NULL)
		return;
	for (i = 0; i < POLICY_R_COUNT; i++) {
		name = policy_rule_to_str((enum policy_rule)i);
		if (strcmp(rule, name) == 0) {
			metrics_findings[i]++;
			return;
		}
	}
}

static void
metrics_hist_observe(struct metrics_hist *h, int64_t v)
{
	size_t i;

	if (v < 0)
		v = 0;
	for (i = 0; i < METRICS_NBUCKETS; i++)
		if (v <= h->bound[i]) {
			h->bucket[i]++;
			break;
		}
	h->count++;
	h->sum += (uint64_t)v;
}

static void
metrics_hist_reset(struct metrics_hist *h)
{
	memset(h->bucket, 0, sizeof(h->bucket));
	h->count = 0;
	h->sum = 0;
}

void
metrics_upstream_latency(int64_t ms)
{
	metrics_hist_observe(&metrics_latency, ms);
}

void
metrics_loop_lag(int64_t us)
{
	metrics_hist_observe(&metrics_lag, us);
}

void
metrics_reset_(void)
{
	memset(metrics_counters, 0, sizeof(metrics_counters));
	memset(metrics_findings, 0, sizeof(metrics_findings));
	metrics_hist_reset(&metrics_latency);
	metrics_hist_reset(&metrics_lag);
}

/* ------------------------------------------------------------------ */
/* exposition */

static int
metrics_family(struct mh_buf *b, const char *name, const char *type,
    const char *help)
{
	return mh_buf_printf(b, "# HELP %s %s\n# TYPE %s %s\n", name, help,
	    name, type);
}

/*
 * A label value: '\\', '"' and LF escaped as the text format wants.
 * Our values are rule and state names and the version, but nothing
 * here relies on that.
 */
static int
metrics_label_value(struct mh_buf *b, const char *v)
{
	int r = 0;

	for (; *v != '\0'; v++) {
		if (*v == '\\')
			r |= mh_buf_puts(b, "\\\\");
		else if (*v == '"')
			r |= mh_buf_puts(b, "\\\"");
		else if (*v == '\n')
			r |= mh_buf_puts(b, "\\n");
		else
			r |= mh_buf_append(b, v, 1);
	}
	return r;
}

/* name{key="value"} n */
static int
metrics_sample_label(struct mh_buf *b, const char *name, const char *key,
    const char *value, uint64_t n)
{
	int r;

	r = mh_buf_printf(b, "%s{%s=\"", name, key);
	r |= metrics_label_value(b, value);
	r |= mh_buf_printf(b, "\"} %" PRIu64 "\n", n);
	return r;
}

static int
metrics_render_counters(struct mh_buf *b)
{
	const struct metrics_def *d;
	size_t i;
	int r = 0;

	for (i = 0; i < METRICS_COUNTER_MAX; i++) {
		d = &metrics_defs[i];
		if (i == 0 || strcmp(d->name, metrics_defs[i - 1].name) != 0)
			r |= metrics_family(b, d->name, "counter", d->help);
		if (d->labels != NULL)
			r |= mh_buf_printf(b, "%s{%s} %" PRIu64 "\n", d->name,
			    d->labels, metrics_counters[i]);
		else
			r |= mh_buf_printf(b, "%s %" PRIu64 "\n", d->name,
			    metrics_counters[i]);
	}
	r |= metrics_family(b, "mailhold_findings_total", "counter",
	    "Policy findings, by rule (a message may have several).");
	for (i = 0; i < POLICY_R_COUNT; i++)
		r |= metrics_sample_label(b, "mailhold_findings_total", "rule",
		    policy_rule_to_str((enum policy_rule)i),
		    metrics_findings[i]);
	return r;
}

static int
metrics_render_hist(struct mh_buf *b, const struct metrics_hist *h)
{
	uint64_t cum = 0, ps = (uint64_t)h->per_sec;
	size_t i;
	int r;

	r = metrics_family(b, h->name, "histogram", h->help);
	for (i = 0; i < METRICS_NBUCKETS; i++) {
		cum += h->bucket[i];
		r |= mh_buf_printf(b, "%s_bucket{le=\"%s\"} %" PRIu64 "\n",
		    h->name, h->le[i], cum);
	}
	r |= mh_buf_printf(b, "%s_bucket{le=\"+Inf\"} %" PRIu64 "\n",
	    h->name, h->count);
	/* The sum in seconds with as many decimals as the unit has. */
	r |= mh_buf_printf(b, "%s_sum %" PRIu64 ".%0*" PRIu64 "\n", h->name,
	    h->sum / ps, ps == 1000 ? 3 : 6, h->sum % ps);
	r |= mh_buf_printf(b, "%s_count %" PRIu64 "\n", h->name, h->count);
	return r;
}

static int
metrics_render_gauges(struct mh_buf *b, const struct metrics_gauges *g)
{
	size_t i;
	int r;

	r = metrics_family(b, "mailhold_queue_messages", "gauge",
	    "Messages in the queue, by state.");
	for (i = 0; i < METRICS_QUEUE_STATES; i++)
		r |= metrics_sample_label(b, "mailhold_queue_messages",
		    "state", queue_state_to_str((enum queue_state)i),
		    g->queue[i]);
	r |= metrics_family(b, "mailhold_queue_oldest_age_seconds", "gauge",
	    "Age of the oldest message still waiting (held, "
	    "awaiting_release, releasing, deferred); 0 when none.");
	r |= mh_buf_printf(b, "mailhold_queue_oldest_age_seconds %" PRId64
	    "\n", g->oldest_age > 0 ? g->oldest_age : 0);
	r |= metrics_family(b, "mailhold_queue_free_bytes", "gauge",
	    "Octets free on the queue's file system; -1 when unknown.");
	r |= mh_buf_printf(b, "mailhold_queue_free_bytes %" PRId64 "\n",
	    g->queue_free);
	r |= metrics_family(b, "mailhold_queue_space_low", "gauge",
	    "1 while free space is below queue.min_free and new mail is "
	    "refused with 452 4.3.1.");
	r |= mh_buf_printf(b, "mailhold_queue_space_low %d\n",
	    g->space_low ? 1 : 0);
	r |= metrics_family(b, "mailhold_smtp_sessions", "gauge",
	    "SMTP sessions open.");
	r |= mh_buf_printf(b, "mailhold_smtp_sessions %" PRIu64 "\n",
	    g->sessions);
	r |= metrics_family(b, "mailhold_relay_connections", "gauge",
	    "Connections to the upstream relay open.");
	r |= mh_buf_printf(b, "mailhold_relay_connections %" PRIu64 "\n",
	    g->relay_connections);
	r |= metrics_family(b, "mailhold_upstream_up", "gauge",
	    "0 while connections to the upstream fail (refused, timeout, "
	    "greeting, TLS, AUTH); 1 otherwise.");
	r |= mh_buf_printf(b, "mailhold_upstream_up %d\n",
	    g->upstream_down ? 0 : 1);
	r |= metrics_family(b, "mailhold_start_time_seconds", "gauge",
	    "Start time of the daemon, in seconds since the epoch.");
	r |= mh_buf_printf(b, "mailhold_start_time_seconds %" PRId64 "\n",
	    g->start_time);
	r |= metrics_family(b, "mailhold_build_info", "gauge",
	    "Always 1; the version is in the label.");
	r |= metrics_sample_label(b, "mailhold_build_info", "version",
	    MH_VERSION, 1);
	return r;
}

int
metrics_render(struct mh_buf *b, const struct metrics_gauges *g)
{
	struct metrics_gauges zero;
	int r;

	if (g == NULL) {
		memset(&zero, 0, sizeof(zero));
		zero.oldest_age = -1;
		zero.queue_free = -1;
		g = &zero;
	}
	r = metrics_render_counters(b);
	r |= metrics_render_hist(b, &metrics_latency);
	r |= metrics_render_hist(b, &metrics_lag);
	r |= metrics_render_gauges(b, g);
	return r != 0 ? -1 : 0;
}

/* ------------------------------------------------------------------ */
/* authorization */

bool
metrics_auth_ok(const char *header, const char *token)
{
	const char *p;
	size_t n, tn;
	bool ok;

	if (header == NULL || token == NULL || (tn = strlen(token)) == 0)
		return false;
	/* credentials = auth-scheme 1*SP token68 (RFC 7235 section 2.1,
	 * RFC 6750 section 2.1); the scheme is case-insensitive. */
	if (mh_strncasecmp(header, "Bearer", 6) != 0 || header[6] != ' ')
		return false;
	p = header + 6;
	p += strspn(p, " ");
	n = strlen(p);
	/* Compares tn octets either way (against the token itself when the
	 * length differs): the time depends on neither content. */
	ok = n == tn;
	ok &= CRYPTO_memcmp(ok ? p : token, token, tn) == 0;
	return ok;
}

/* ------------------------------------------------------------------ */
/* HTTP */

/* Each accepted connection, counted from accept (proxy/httpconn.h). */
static struct bufferevent *
metrics_bev_cb(struct event_base *base, void *arg)
{
	struct metrics_http *m = arg;

	return httpconn_bev(m->conns, base, NULL, false);
}

static const char *
metrics_client(struct evhttp_request *req)
{
	struct evhttp_connection *evcon = evhttp_request_get_connection(req);
	char *addr = NULL;
	ev_uint16_t port;

	if (evcon != NULL)
		evhttp_connection_get_peer(evcon, &addr, &port);
	return addr != NULL ? addr : "unknown";
}

static void
metrics_send(struct evhttp_request *req, int code, const char *reason,
    const char *body, size_t len)
{
	struct evkeyvalq *h = evhttp_request_get_output_headers(req);
	struct evbuffer *b = evbuffer_new();

	if (b == NULL)
		fatalx("event=metrics_error error=\"evbuffer_new\"");
	evhttp_add_header(h, "Content-Type", code == 200 ? METRICS_CTYPE :
	    "text/plain; charset=utf-8");
	evhttp_add_header(h, "Cache-Control", "no-store");
	evhttp_add_header(h, "X-Content-Type-Options", "nosniff");
	if (evhttp_request_get_command(req) != EVHTTP_REQ_HEAD)
		evbuffer_add(b, body, len);
	evhttp_send_reply(req, code, reason, b);
	evbuffer_free(b);
}

static void
metrics_error(struct evhttp_request *req, int code, const char *reason)
{
	char body[64];
	int n;

	n = mh_snprintf(body, sizeof(body), "%d %s\n", code, reason);
	metrics_send(req, code, reason, body, n > 0 ? (size_t)n : 0);
}

/*
 * With a token, exactly one Authorization header must carry it: with
 * two, which one counts would depend on the proxy in front.  Answers
 * 401 and returns false otherwise.
 */
static bool
metrics_check_auth(struct metrics_http *m, struct evhttp_request *req)
{
	struct evkeyvalq *in = evhttp_request_get_input_headers(req);
	struct evkeyval *kv;
	const char *value = NULL, *why;
	size_t n = 0;

	if (m->token == NULL)
		return true;
	TAILQ_FOREACH(kv, in, next)
		if (mh_strcasecmp(kv->key, "Authorization") == 0) {
			value = kv->value;
			n++;
		}
	if (n == 1 && metrics_auth_ok(value, m->token))
		return true;
	why = n == 0 ? "no_token" : n > 1 ? "several_tokens" : "bad_token";
	/* The presented value is never logged (G4). */
	log_info("event=metrics_refused client=%s reason=%s",
	    metrics_client(req), why);
	evhttp_add_header(evhttp_request_get_output_headers(req),
	    "WWW-Authenticate", n == 0 ? "Bearer realm=\"mailhold\"" :
	    "Bearer realm=\"mailhold\", error=\"invalid_token\"");
	metrics_error(req, 401, "Unauthorized");
	return false;
}

static void
metrics_request_cb(struct evhttp_request *req, void *arg)
{
	struct metrics_http *m = arg;
	enum evhttp_cmd_type cmd = evhttp_request_get_command(req);
	const struct evhttp_uri *uri = evhttp_request_get_evhttp_uri(req);
	const char *path = uri ? evhttp_uri_get_path(uri) : NULL;
	struct metrics_gauges g;
	struct mh_buf b;

	if (path == NULL || strcmp(path, METRICS_PATH) != 0) {
		metrics_error(req, 404, "Not Found");
		return;
	}
	if (cmd != EVHTTP_REQ_GET && cmd != EVHTTP_REQ_HEAD) {
		evhttp_add_header(evhttp_request_get_output_headers(req),
		    "Allow", "GET, HEAD");
		metrics_error(req, 405, "Method Not Allowed");
		return;
	}
	if (!metrics_check_auth(m, req))
		return;
	memset(&g, 0, sizeof(g));
	g.oldest_age = -1;
	g.queue_free = -1;
	if (m->cb != NULL)
		m->cb(&g, m->arg);
	mh_buf_init(&b, METRICS_RENDER_MAX);
	if (metrics_render(&b, &g) == -1) {
		log_warnx("event=metrics_error error=\"exposition over %d "
		    "bytes\"", METRICS_RENDER_MAX);
		metrics_error(req, 500, "Internal Server Error");
	} else
		metrics_send(req, 200, "OK", b.data, b.len);
	mh_buf_clear(&b);
}

/* An empty token (config.c refuses one) fails closed: nothing
 * matches it. */
static char *
metrics_token_dup(const struct config *conf)
{
	return conf->metrics_token != NULL ? xstrdup(conf->metrics_token) :
	    NULL;
}

static void
metrics_token_free(char *token)
{
	if (token == NULL)
		return;
	OPENSSL_cleanse(token, strlen(token));
	free(token);
}

struct metrics_http *
metrics_http_new(struct event_base *base, const struct config *conf,
    metrics_gauges_cb *cb, void *arg)
{
	struct evhttp_bound_socket *bs;
	struct sockaddr_storage ss;
	socklen_t sl = sizeof(ss);
	struct metrics_http *m;

	m = xcalloc(1, sizeof(*m));
	m->base = base;
	m->cb = cb;
	m->arg = arg;
	m->token = metrics_token_dup(conf);
	m->port = conf->metrics_port;
	if ((m->http = evhttp_new(base)) == NULL) {
		log_warnx("event=metrics_error error=\"evhttp_new\"");
		metrics_http_free(m);
		return NULL;
	}
	evhttp_set_max_headers_size(m->http, METRICS_HEADERS_MAX);
	evhttp_set_max_body_size(m->http, METRICS_BODY_MAX);
	evhttp_set_timeout(m->http, METRICS_TIMEOUT);
	/* Every method reaches metrics_request_cb, which answers 405 with
	 * Allow; evhttp itself would say 501. */
	evhttp_set_allowed_methods(m->http, EVHTTP_REQ_GET | EVHTTP_REQ_HEAD |
	    EVHTTP_REQ_POST | EVHTTP_REQ_PUT | EVHTTP_REQ_DELETE |
	    EVHTTP_REQ_OPTIONS | EVHTTP_REQ_TRACE | EVHTTP_REQ_CONNECT |
	    EVHTTP_REQ_PATCH);
	evhttp_set_default_content_type(m->http, "text/plain; charset=utf-8");
	evhttp_set_gencb(m->http, metrics_request_cb, m);
	m->conns = httpconn_new(base, "metrics", METRICS_MAX_CONNS,
	    METRICS_TIMEOUT * 2000);
	evhttp_set_bevcb(m->http, metrics_bev_cb, m);
	bs = evhttp_bind_socket_with_handle(m->http, conf->metrics_address,
	    (ev_uint16_t)conf->metrics_port);
	m->bound = bs;
	if (bs == NULL) {
		log_warn("event=metrics_error error=\"cannot listen on %s "
		    "port %d\"", conf->metrics_address, conf->metrics_port);
		metrics_http_free(m);
		return NULL;
	}
	if (getsockname(evhttp_bound_socket_get_fd(bs),
	    (struct sockaddr *)&ss, &sl) == 0)
		m->port = ntohs(ss.ss_family == AF_INET6 ?
		    ((struct sockaddr_in6 *)&ss)->sin6_port :
		    ((struct sockaddr_in *)&ss)->sin_port);
	/* Never spin on accept when descriptors run out (lbackoff.h). */
	m->bo = lbackoff_new(base, evhttp_bound_socket_get_listener(bs),
	    "metrics");
	log_info("event=metrics_listening address=%s port=%d token=%s",
	    conf->metrics_address, m->port, m->token ? "yes" : "no");
	return m;
}

int
metrics_http_port(const struct metrics_http *m)
{
	return m != NULL ? m->port : -1;
}

void
metrics_http_set_config(struct metrics_http *m, const struct config *conf)
{
	if (m == NULL)
		return;
	metrics_token_free(m->token);
	m->token = metrics_token_dup(conf);
}

void
metrics_http_free(struct metrics_http *m)
{
	if (m == NULL)
		return;
	lbackoff_free(m->bo);
	if (m->http != NULL)
		evhttp_free(m->http);	/* frees every connection */
	httpconn_free(m->conns);
	metrics_token_free(m->token);
	free(m);
}

/* ------------------------------------------------------------------ */
/* loop lag */

static void
metrics_lag_arm(struct metrics_lag *l)
{
	struct timeval tv = { 0, METRICS_LAG_INTERVAL_US };

	l->due_us = mh_mono_us() + METRICS_LAG_INTERVAL_US;
	evtimer_add(l->ev, &tv);
}

static void
metrics_lag_cb(evutil_socket_t fd, short what, void *arg)
{
	struct metrics_lag *l = arg;

	metrics_loop_lag(mh_mono_us() - l->due_us);
	metrics_lag_arm(l);
}

struct metrics_lag *
metrics_lag_new(struct event_base *base)
{
	struct metrics_lag *l;

	l = xcalloc(1, sizeof(*l));
	if ((l->ev = evtimer_new(base, metrics_lag_cb, l)) == NULL) {
		free(l);
		return NULL;
	}
	metrics_lag_arm(l);
	return l;
}

void
metrics_lag_free(struct metrics_lag *l)
{
	if (l == NULL)
		return;
	event_free(l->ev);
	free(l);
}
