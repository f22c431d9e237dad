/*
 * metrics.h - Prometheus metrics (text exposition format 0.0.4) served
 * at GET /metrics on a listener of their own (metrics.address and
 * metrics.port), optionally behind a bearer token (metrics.token_file).
 *
 * Two halves.  Counters and the upstream latency histogram are process
 * globals that the daemon bumps as things happen (metrics_inc() and
 * friends); what only the daemon knows at scrape time (queue depth per
 * state, oldest waiting message, sessions open) is asked for through a
 * callback on each scrape.  metrics_render() turns both into the
 * exposition text and is pure apart from reading the counters.
 *
 * Every family is always present, zeros included (every rule of
 * findings_total, every queue state), so that rate() and absent() work
 * from the first scrape.  Families:
 *   mailhold_messages_received_total           counter
 *   mailhold_messages_rejected_total           counter
 *   mailhold_messages_held_total{mode=timer|awaiting_release}  counter
 *   mailhold_messages_released_total           counter
 *   mailhold_messages_sent_total               counter
 *   mailhold_messages_deferred_total           counter
 *   mailhold_messages_failed_total             counter
 *   mailhold_messages_cancelled_total{by=web|ctl|expiry}  counter
 *   mailhold_alerts_total, mailhold_notices_total         counter
 *   mailhold_notices_to_admin_total, mailhold_notices_lost_total  counter
 *   mailhold_auth_failures_total               counter
 *   mailhold_web_notfound_total, mailhold_web_rate_limited_total  counter
 *   mailhold_findings_total{rule=<policy rule name>}  counter
 *   mailhold_upstream_connect_failures_total   counter
 *   mailhold_upstream_latency_seconds          histogram
 *   mailhold_event_loop_lag_seconds            histogram
 *   mailhold_queue_messages{state=<queue state>}  gauge
 *   mailhold_queue_oldest_age_seconds          gauge (0 when none waits)
 *   mailhold_queue_free_bytes                  gauge (statvfs, -1 unknown)
 *   mailhold_queue_space_low                   gauge, 1 below queue.min_free
 *   mailhold_smtp_sessions, mailhold_relay_connections  gauge
 *   mailhold_upstream_up                       gauge, 0 while set-ups fail
 *   mailhold_start_time_seconds                gauge
 *   mailhold_build_info{version=...}           gauge, always 1
 *
 * Thread: the loop thread only.  The counters are plain globals, not
 * atomics: every writer and the scrape run on the loop thread.
 * Ownership: metrics_http_new() copies what it needs from the config
 * (address, port, token); nothing is borrowed past the call but the
 * event base and the callback's argument.
 * Errors: 0 / -1; metrics_http_new() NULL (logged).
 */
#ifndef MH_PROXY_METRICS_H
#define MH_PROXY_METRICS_H

#include <stdbool.h>
#include <stdint.h>

struct config;
struct event_base;
struct mh_buf;
struct metrics_http;
struct metrics_lag;

enum metrics_counter {
	METRICS_RECEIVED = 0,	/* accepted with 250 */
	METRICS_REJECTED,	/* refused at end of DATA (policy or checks) */
	METRICS_HELD,		/* queued held (timer) */
	METRICS_AWAITING,	/* queued awaiting_release */
	METRICS_RELEASED,	/* handed to the relay (one per attempt) */
	METRICS_SENT,		/* attempts ending sent */
	METRICS_DEFERRED,	/* attempts ending deferred */
	METRICS_FAILED,		/* attempts ending failed */
	METRICS_CANCELLED_WEB,
	METRICS_CANCELLED_CTL,
	METRICS_CANCELLED_EXPIRY,
	METRICS_ALERTS,		/* alert mails queued */
	METRICS_NOTICES,	/* failure notices queued */
	METRICS_NOTICES_TO_ADMIN, /* notices sent to notify.admin instead */
	METRICS_NOTICES_LOST,	/* alerts/notices failed: nobody told */
	METRICS_AUTH_FAILURES,
	METRICS_WEB_NOTFOUND,
	METRICS_WEB_RATE_LIMITED,
	METRICS_UPSTREAM_CONNECT_FAILURES, /* relay set-ups that failed */
	METRICS_COUNTER_MAX
};

/* The queue states, enum queue_state (queue/queue.h), checked in
 * metrics.c. */
#define METRICS_QUEUE_STATES	7

/* What the daemon knows only at scrape time. */
struct metrics_gauges {
	uint64_t queue[METRICS_QUEUE_STATES];	/* messages per state, index
						   = enum queue_state */
	int64_t	 oldest_age;	/* seconds; oldest message still waiting
				   (held, awaiting, releasing, deferred),
				   -1 if none: rendered as 0 */
	uint64_t sessions;	/* SMTP sessions open */
	uint64_t relay_connections;
	int64_t	 start_time;	/* unix seconds */
	int64_t	 queue_free;	/* octets free for the queue, -1 unknown */
	bool	 space_low;	/* below queue.min_free: new mail refused */
	bool	 upstream_down;	/* relay set-ups fail (relay_upstream_down) */
};

/* Fills the gauges, which arrive zeroed with oldest_age -1. */
typedef void metrics_gauges_cb(struct metrics_gauges *, void *arg);

/* Adds one, or n, to a counter.  An out-of-range counter is a bug
 * (MH_BUG), never a crash. */
void	metrics_inc(enum metrics_counter);
void	metrics_add(enum metrics_counter, uint64_t n);

/*
 * Counts one finding of the named policy rule (policy_rule_to_str()
 * names).  Unknown names are ignored: the label set stays bounded
 * whatever a caller passes.
 */
void	metrics_finding(const char *rule);

/*
 * Records one relay transaction, MAIL FROM to the final reply, in ms.
 * Buckets (seconds, le is inclusive): 0.01 0.025 0.05 0.1 0.25 0.5 1 2.5
 * 5 10 30 60 +Inf.  A negative value (clock step) counts as 0.
 */
void	metrics_upstream_latency(int64_t ms);

/*
 * Records how late (us, monotonic) the loop-lag timer fired.  Buckets
 * (seconds, le inclusive): 0.001 0.0025 0.005 0.01 0.025 0.05 0.1 0.25
 * 0.5 1 2.5 5 +Inf.  A negative value counts as 0.
 */
void	metrics_loop_lag(int64_t us);

/*
 * Starts the loop-lag timer: every 0.1 s on base, recording into
 * mailhold_event_loop_lag_seconds how late it fired.  A tick costs two
 * clock reads and an evtimer_add (no allocation).  0.1 s rather than
 * less: ten samples a second are enough for a p99 over a scrape
 * interval, and a stall of t < 0.1 s still shows with probability
 * t / 0.1 s.  NULL on failure.
 */
struct metrics_lag *metrics_lag_new(struct event_base *);
void	metrics_lag_free(struct metrics_lag *);	/* NULL is a no-op */

/*
 * Appends the exposition of every counter and of g (NULL: all zero)
 * to b.  0, or -1 when b is full (its hard cap): the text is then
 * incomplete and must not be served.
 */
int	metrics_render(struct mh_buf *b, const struct metrics_gauges *g);

/*
 * Is header (the Authorization value, NULL when absent) "Bearer <token>"?
 * The scheme is case-insensitive (RFC 7235 section 2.1) and followed by
 * one or more spaces; nothing may follow the token (evhttp has already
 * trimmed surrounding whitespace).  The comparison checks the length,
 * then compares strlen(token) octets with CRYPTO_memcmp whether or not
 * the length matched, so the time does not depend on the content.  A
 * NULL or empty token never matches: callers skip the check when no
 * token is configured.
 */
bool	metrics_auth_ok(const char *header, const char *token);

/*
 * Binds metrics.address:metrics.port (0: any free port) and serves GET
 * and HEAD /metrics; other paths get 404, other methods 405.  With
 * metrics.token set, a scrape without "Authorization: Bearer <token>"
 * (exactly one such header) gets 401 with WWW-Authenticate and is
 * logged.  cb (may be NULL) fills the gauges on each scrape.  Requests
 * are limited to 8 KiB of header, 1 KiB of body and 10 seconds of
 * silence; at most 16 connections, counted from accept (more are shut at
 * once), each living at most 20 seconds (proxy/httpconn.h).
 * The caller checks metrics.enabled.
 */
struct metrics_http *metrics_http_new(struct event_base *,
	    const struct config *, metrics_gauges_cb *cb, void *arg);
/* The bound port (useful with port 0). */
int	metrics_http_port(const struct metrics_http *);
/* Takes the (reloadable) token of a new config. */
void	metrics_http_set_config(struct metrics_http *, const struct config *);
void	metrics_http_free(struct metrics_http *);	/* NULL is a no-op */

/* For tests: zero every counter and the histograms.  (XXX G1 wants test
 * seams in metrics_priv.h; kept here as in the agreed API.) */
void	metrics_reset_(void);

#endif
