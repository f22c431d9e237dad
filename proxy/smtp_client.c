/*
 * smtp_client.c - the relay to the upstream; see smtp_client.h.
 */
#include "smtp_client.h"

#include <arpa/inet.h>

#include <stdarg.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/dns.h>
#include <event2/event.h>

#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include "config.h"
#include "log.h"
#include "metrics.h"
#include "notify.h"
#include "queue.h"
#include "scheduler.h"
#include "smtp_parse.h"
#include "tls.h"
#include "util.h"

#define RELAY_LINE_MAX		2048	/* one reply line, with CRLF */
#define RELAY_REPLY_LINES_MAX	64	/* lines in one multi-line reply */
#define RELAY_REPLY_TEXT_MAX	1024	/* text kept for logs and the queue */
#define RELAY_BODY_CHUNK	(16 * 1024)
#define RELAY_OUT_HIGH		(256 * 1024)
#define RELAY_OUT_LOW		(64 * 1024)
#define RELAY_IDLE_SECS		1	/* linger of an idle connection */

enum relay_state {
	RELAY_ST_CONNECT = 0,
	RELAY_ST_BANNER,
	RELAY_ST_EHLO,
	RELAY_ST_HELO,
	RELAY_ST_STARTTLS,
	RELAY_ST_HANDSHAKE,
	RELAY_ST_AUTH_PLAIN,
	RELAY_ST_AUTH_LOGIN_USER,
	RELAY_ST_AUTH_LOGIN_PASS,
	RELAY_ST_AUTH_LOGIN_DONE,
	RELAY_ST_READY,
	RELAY_ST_MAIL,
	RELAY_ST_RCPT,
	RELAY_ST_DATA,
	RELAY_ST_BODY,
	RELAY_ST_EOM,
	RELAY_ST_RSET,
	RELAY_ST_QUIT,
};

#define RELAY_PROBE_RETRY	60	/* s between probes while unknown */
#define RELAY_DOWN_MAX		300	/* s, longest pause between connection
					   attempts while the upstream is down */
#define RELAY_WARN_EVERY	60	/* s, one upstream_error warning per */

struct relay_job {
	struct relay_job *next;
	struct queue_msg *msg;
	size_t		*pending;	/* indexes into msg->rcpts still to do */
	size_t		 npending;
	/* per pending recipient, this attempt */
	int		*result;	/* enum queue_rcpt_status or -1 (deferred) */
	char		**reply;
	bool		*accepted;	/* RCPT got 2xx */
	size_t		 naccepted;
	bool		 mail_ok;
	int		 mail_code;
	char		*mail_reply;
	char		*error;		/* connection-level error, if any */
	int64_t		 mail_ms;	/* monotonic, when MAIL went; 0 never */
};

struct relay_conn {
	struct relay_conn *next;
	struct relay	*r;
	struct bufferevent *bev;
	struct event	*free_ev;
	enum relay_state state;
	unsigned	 caps;
	bool		 tls;
	bool		 authed;
	bool		 dirty;		/* a transaction needs RSET */
	bool		 closing;
	int		 nmsgs;
	struct relay_job *job;
	/* reply being gathered */
	int		 code;
	size_t		 nlines;
	struct mh_buf	 text;
	/* pipelined replies still expected (RCPTs then DATA) */
	size_t		 rcpt_sent;
	size_t		 rcpt_replied;
	bool		 data_sent;
	/* body streaming */
	struct queue_body *body;
	bool		 bol;
	char		 last2[2];
	size_t		 written;
	bool		 ignore_eom;
	/* READY without a job: linger briefly for the next release */
	bool		 idle;
	struct event	*idle_ev;
	bool		 probe;		/* EHLO and QUIT only (capabilities) */
};

struct relay {
	struct event_base *base;
	struct evdns_base *dns;
	struct config	*conf;
	struct queue	*q;
	struct sched	*sched;
	SSL_CTX		*ssl_ctx;
	struct relay_job *wait_head, *wait_tail;
	size_t		 nwait;
	size_t		 inflight;
	struct relay_conn *conns;
	size_t		 nconns;
	/* the upstream's capabilities from the last EHLO seen */
	bool		 caps_known;
	unsigned	 caps;
	int64_t		 caps_at;
	struct event	*probe_ev;
	bool		 probing;	/* a probe connection is open */
	int64_t		 probe_last;	/* when the last probe was due */
	/* Upstream down: connection set-ups fail.  While down_fails > 0,
	 * at most one connection is opened at a time and none before
	 * connect_after; jobs released meanwhile are deferred at once. */
	int		 down_fails;	/* consecutive set-up failures */
	int64_t		 down_since;	/* monotonic ms, first failure */
	int64_t		 connect_after;	/* monotonic ms */
	char		 down_why[256];	/* the last failure */
	bool		 warned;	/* warn_last is set */
	int64_t		 warn_last;	/* monotonic ms, last warning line */
	uint64_t	 warn_suppressed; /* failures not warned since */
};

static void	relay_enter_state(struct relay_conn *, enum relay_state);
static void	relay_dispatch(struct relay *);
static void	relay_conn_close(struct relay_conn *, const char *why);
static void	relay_job_finish(struct relay *, struct relay_job *);
static void	relay_body_pump(struct relay_conn *);
static void	relay_fail_waiting(struct relay *, const char *);
static void	relay_probe_arm(struct relay *);
static void	relay_upstream_failed(struct relay *, bool probe,
		    enum relay_state, const char *why);
static void	relay_upstream_ok(struct relay *);
static void	relay_send(struct relay_conn *, const char *, ...)
		    MH_PRINTF(2, 3);

static const char *
relay_strstate(enum relay_state st)
{
	static const char *const names[] = {
		"CONNECT", "BANNER", "EHLO", "HELO", "STARTTLS", "HANDSHAKE",
		"AUTH_PLAIN", "AUTH_LOGIN_USER", "AUTH_LOGIN_PASS",
		"AUTH_LOGIN_DONE", "READY", "MAIL", "RCPT", "DATA", "BODY",
		"EOM", "RSET", "QUIT",
	};

	if ((size_t)st < sizeof(names) / sizeof(names[0]))
		return names[st];
	return "?";
}

/* ------------------------------------------------------------------ */
/* pure reply parser */

const char *
relay_parse_reply_line(const char *line, size_t len, int *code, bool *more)
{
	size_t i;

	if (len < 3)
		return "reply line too short";
	if (line[0] < '2' || line[0] > '5' || line[1] < '0' || line[1] > '9' ||
	    line[2] < '0' || line[2] > '9')
		return "reply code is not 2xx-5xx";
	*code = (line[0] - '0') * 100 + (line[1] - '0') * 10 + (line[2] - '0');
	*more = false;
	if (len > 3) {
		if (line[3] == '-')
			*more = true;
		else if (line[3] != ' ')
			return "bad separator after reply code";
	}
	for (i = 3; i < len; i++) {
		unsigned char c = (unsigned char)line[i];
		if (c == '\0' || c == '\r' || c == '\n')
			return "control character in reply";
	}
	return NULL;
}

/* ------------------------------------------------------------------ */
/* output helpers */

static void
relay_send(struct relay_conn *c, const char *fmt, ...)
{
	char line[1200];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = mh_vsnprintf(line, sizeof(line) - 2, fmt, ap);
	va_end(ap);
	if (n < 0) {
		MH_BUG("relay command too long");
		relay_conn_close(c, "local error");
		return;
	}
	/* Never a bare CR or LF upstream: envelope data was parsed strictly
	 * on the way in and re-validated on load; check once more. */
	if (memchr(line, '\r', (size_t)n) || memchr(line, '\n', (size_t)n)) {
		MH_BUG("CR/LF in relay command");
		relay_conn_close(c, "local error");
		return;
	}
	/* Credentials never reach the log, whatever the level (G4). */
	if (c->state >= RELAY_ST_AUTH_PLAIN &&
	    c->state <= RELAY_ST_AUTH_LOGIN_DONE)
		log_debug("relay event=send state=%s cmd=\"********\"",
		    relay_strstate(c->state));
	else
		log_debug("relay event=send state=%s cmd=\"%.*s\"",
		    relay_strstate(c->state), n, line);
	line[n++] = '\r';
	line[n++] = '\n';
	bufferevent_write(c->bev, line, (size_t)n);
	OPENSSL_cleanse(line, sizeof(line));
}

static char *
relay_b64(const char *in, size_t len)
{
	char *out;

	if (len > 4096)
		return NULL;
	out = xmalloc(((len + 2) / 3) * 4 + 1);
	EVP_EncodeBlock((unsigned char *)out, (const unsigned char *)in,
	    (int)len);
	return out;
}

/* ------------------------------------------------------------------ */
/* jobs */

static void
relay_job_free(struct relay_job *j)
{
	size_t i;

	if (j == NULL)
		return;
	for (i = 0; i < j->npending; i++)
		free(j->reply[i]);
	free(j->reply);
	free(j->result);
	free(j->accepted);
	free(j->pending);
	free(j->mail_reply);
	free(j->error);
	queue_msg_free(j->msg);
	free(j);
}

/* Sets the outcome of pending recipient i from a reply code and text,
 * unless it already has one. */
static void
relay_job_set(struct relay_job *j, size_t i, int code, const char *text)
{
	if (j->result[i] != QUEUE_RCPT_PENDING)
		return;
	j->result[i] = code >= 200 && code < 300 ? QUEUE_RCPT_SENT :
	    code >= 500 ? QUEUE_RCPT_FAILED : -1;
	free(j->reply[i]);
	j->reply[i] = xstrdup(text);
}

/* Every recipient without an outcome is deferred with why. */
static void
relay_job_defer_rest(struct relay_job *j, const char *why)
{
	size_t i;

	for (i = 0; i < j->npending; i++)
		if (j->result[i] == QUEUE_RCPT_PENDING)
			relay_job_set(j, i, 451, why);
}

/*
 * An attempt on its way to the queue.  The per-recipient outcome lines
 * (event=sent, failed, deferred) and the notice lines that follow from
 * them wait in log until the attempt is committed, so that a log reader
 * who sees "sent" also sees the state and the history the queue now
 * holds, and sees them in the order they happened.
 */
struct relay_record {
	struct relay	*r;
	char		 id[QUEUE_ID_LEN + 1];
	struct mh_buf	 log;		/* lines: level char, text, \n */
	size_t		 omitted;	/* lines that did not fit (never, by
					   the cap; counted all the same) */
};

#define RELAY_LOG_LINE_MAX	4096	/* longest line relay_record_log()
					   is given: two escaped fields */

static struct relay_record *
relay_record_new(struct relay *r, const char *id, size_t nlines)
{
	struct relay_record *rec = xcalloc(1, sizeof(*rec));

	rec->r = r;
	mh_strlcpy(rec->id, id, sizeof(rec->id));
	mh_buf_init(&rec->log, (nlines + 8) * RELAY_LOG_LINE_MAX);
	return rec;
}

/* One line for later; warn: log_warnx, else log_info. */
static void MH_PRINTF(3, 4)
relay_record_log(struct relay_record *rec, bool warn, const char *fmt, ...)
{
	char line[RELAY_LOG_LINE_MAX];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = mh_vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	if (n < 0 || mh_buf_printf(&rec->log, "%c%s\n", warn ? 'W' : 'I',
	    line) == -1)
		rec->omitted++;
}

/* Writes the lines that waited for the commit, and frees rec. */
static void
relay_record_free(struct relay_record *rec)
{
	char *line, *nl;

	for (line = rec->log.data; line != NULL && *line != '\0';
	    line = nl + 1) {
		if ((nl = strchr(line, '\n')) == NULL)
			break;
		if (line[0] == 'W')
			log_warnx("%.*s", (int)(nl - line - 1), line + 1);
		else
			log_info("%.*s", (int)(nl - line - 1), line + 1);
	}
	if (rec->omitted > 0)
		log_warnx("id=%s event=log_truncated omitted=%zu", rec->id,
		    rec->omitted);
	mh_buf_clear(&rec->log);
	free(rec);
}

static void
relay_recorded_cb(int result, void *arg)
{
	struct relay_record *rec = arg;
	struct relay *r = rec->r;

	if (result == 1)
		log_info("id=%s event=record_skipped reason=\"state changed "
		    "meanwhile\"", rec->id);
	else if (result != 0)
		log_warnx("id=%s event=record_error", rec->id);
	relay_record_free(rec);
	/* A committed attempt is announced by the queue (the scheduler
	 * looks again); one that did not commit freed a slot all the
	 * same. */
	if (result != 0 && r->sched)
		sched_wakeup(r->sched);
}

static int64_t
relay_backoff(const struct config *conf, int attempts)
{
	int64_t d = conf->retry_initial;
	int i;

	for (i = 1; i < attempts && d < conf->retry_max; i++)
		d = d > INT64_MAX / 2 ? INT64_MAX : d * 2;
	if (d > conf->retry_max)
		d = conf->retry_max;
	return d > 0 ? d : 1;
}

/*
 * Tells someone that recipients of m failed for good: m's sender, by a
 * failure notice.  A notice never vanishes in silence:
 *  - a sender whose UTF-8 address the upstream cannot carry (its last
 *    EHLO had no SMTPUTF8) gets nothing it could receive: the notice goes
 *    to notify.admin instead (warn, mailhold_notices_to_admin_total);
 *  - when m is itself an alert or a notice, its recipient was not told:
 *    notify.admin gets a notice about it, unless m was for notify.admin
 *    already (no loops); then it is lost: logged at warn and counted
 *    (mailhold_notices_lost_total).
 */
static void
relay_notice(struct relay *r, struct relay_record *rec,
    const struct queue_msg *m, const char **faddr, const char **freply,
    size_t nfailed)
{
	const struct config *conf = r->conf;
	struct queue_msg_new *n;
	const char *to = m->sender, *for_addr;
	char la[1500], lt[1500];
	unsigned caps;
	size_t i;
	bool to_admin = false;

	if (m->flags & QUEUE_F_NOTICE) {
		for (i = 0; i < nfailed; i++)
			if (mh_strcasecmp(faddr[i], conf->notify_admin) == 0)
				break;
		if (i < nfailed) {
			metrics_inc(METRICS_NOTICES_LOST);
			for (i = 0; i < nfailed; i++)
				relay_record_log(rec, true, "id=%s "
				    "event=notice_lost rcpt=%s reason=\"an "
				    "alert or notice failed for good; nobody "
				    "else can be told\"", m->id,
				    mh_log_addr(faddr[i], la, sizeof(la)));
			return;
		}
		to = conf->notify_admin;
		to_admin = true;
	} else if (m->sender[0] == '\0')
		return;		/* null sender: nobody to tell (RFC 5321) */
	else if (!mh_is_ascii(m->sender, strlen(m->sender)) &&
	    relay_upstream_caps(r, &caps, NULL) &&
	    !(caps & RELAY_CAP_SMTPUTF8)) {
		to = conf->notify_admin;
		to_admin = true;
	}
	for_addr = !to_admin ? NULL : m->flags & QUEUE_F_NOTICE ? faddr[0] :
	    m->sender;
	n = notify_failure_new(r->q, m, to, for_addr, faddr, freply, nfailed,
	    conf->hostname, (enum alert_lang)config_user_lang(conf,
	    to_admin ? NULL : m->auth_user, to));
	if (n == NULL) {
		metrics_inc(METRICS_NOTICES_LOST);
		relay_record_log(rec, true, "id=%s event=notice_lost to=%s "
		    "reason=\"the notice could not be built\"", m->id,
		    mh_log_addr(to, la, sizeof(la)));
		return;
	}
	if (to_admin) {
		metrics_inc(METRICS_NOTICES_TO_ADMIN);
		relay_record_log(rec, true, "id=%s event=notice_to_admin "
		    "notice_id=%s to=%s for=%s reason=\"%s\"", m->id, n->id,
		    mh_log_addr(to, la, sizeof(la)),
		    mh_log_addr(for_addr, lt, sizeof(lt)),
		    m->flags & QUEUE_F_NOTICE ? "an alert or notice failed" :
		    "the upstream cannot carry the sender's UTF-8 address "
		    "(no SMTPUTF8)");
	} else
		relay_record_log(rec, false, "id=%s event=notice "
		    "notice_id=%s to=%s", m->id, n->id,
		    mh_log_addr(to, la, sizeof(la)));
	metrics_inc(METRICS_NOTICES);
	queue_submit(r->q, n, NULL, NULL);	/* due now: announced */
}

/* Records the attempt, builds a failure notice for recipients that just
 * failed for good, and frees the job. */
static void
relay_job_finish(struct relay *r, struct relay_job *j)
{
	struct queue_msg *m = j->msg;
	struct queue_attempt *a;
	struct relay_record *rec;
	const char **faddr, **freply;
	size_t i, nfailed = 0, nsent = 0, ndeferred = 0, nfinal_sent = 0;
	int64_t now = mh_now();
	bool give_up;
	char la[1500], lr[1700];
	const char *rp;

	give_up = now - m->received_at >= r->conf->retry_give_up;
	if (j->mail_ms > 0 && j->error == NULL)
		metrics_upstream_latency(mh_mono_ms() - j->mail_ms);
	rec = relay_record_new(r, m->id, j->npending);
	a = xcalloc(1, sizeof(*a));
	mh_strlcpy(a->id, m->id, sizeof(a->id));
	a->rcpts = xcalloc(j->npending ? j->npending : 1, sizeof(*a->rcpts));
	a->nrcpts = j->npending;
	faddr = xcalloc(j->npending ? j->npending : 1, sizeof(*faddr));
	freply = xcalloc(j->npending ? j->npending : 1, sizeof(*freply));
	for (i = 0; i < j->npending; i++) {
		const struct queue_rcpt *qr = &m->rcpts[j->pending[i]];
		int st = j->result[i];

		if (st == QUEUE_RCPT_PENDING)
			relay_job_set(j, i, 451, "no outcome"), st = -1;
		if (st == -1 && give_up) {
			char why[RELAY_REPLY_TEXT_MAX + 64];
			mh_snprintf(why, sizeof(why), "gave up after %lld s: "
			    "%.900s", (long long)(now - m->received_at),
			    j->reply[i] ? j->reply[i] : "");
			free(j->reply[i]);
			j->reply[i] = xstrdup(why);
			st = QUEUE_RCPT_FAILED;
		}
		a->rcpts[i].idx = qr->idx;
		a->rcpts[i].status = st == -1 ? QUEUE_RCPT_PENDING : st;
		a->rcpts[i].reply = j->reply[i] ? xstrdup(j->reply[i]) : NULL;
		mh_log_addr(qr->addr, la, sizeof(la));
		rp = j->reply[i] ? j->reply[i] : "";
		mh_log_escape(rp, strlen(rp), 400, lr, sizeof(lr));
		if (st == QUEUE_RCPT_SENT) {
			nsent++;
			relay_record_log(rec, false, "id=%s event=sent "
			    "rcpt=%s reply=\"%s\"", m->id, la, lr);
		} else if (st == QUEUE_RCPT_FAILED) {
			faddr[nfailed] = qr->addr;
			freply[nfailed] = rp;
			nfailed++;
			relay_record_log(rec, false, "id=%s event=failed "
			    "rcpt=%s reply=\"%s\"", m->id, la, lr);
		} else {
			ndeferred++;
			relay_record_log(rec, false, "id=%s event=deferred "
			    "rcpt=%s reason=\"%s\"", m->id, la, lr);
		}
	}
	/* Recipients finished in earlier attempts count too. */
	for (i = 0; i < m->nrcpts; i++)
		if (m->rcpts[i].status == QUEUE_RCPT_SENT)
			nfinal_sent++;
	if (ndeferred > 0) {
		a->new_state = QUEUE_DEFERRED;
		metrics_inc(METRICS_DEFERRED);
		a->next_attempt = now + relay_backoff(r->conf, m->attempts + 1);
		if (r->down_fails > 0) {
			/* Not due before the relay tries the upstream
			 * again: no release only to be deferred at once. */
			int64_t left = r->connect_after - mh_mono_ms();
			if (left > 0 && now + (left + 999) / 1000 >
			    a->next_attempt)
				a->next_attempt = now + (left + 999) / 1000;
		}
		a->last_error = xstrdup(j->error ? j->error : "deferred");
		relay_record_log(rec, false, "id=%s event=deferred "
		    "next_attempt=%lld attempts=%d", m->id,
		    (long long)a->next_attempt, m->attempts + 1);
	} else if (nsent + nfinal_sent > 0) {
		a->new_state = QUEUE_SENT;
		metrics_inc(METRICS_SENT);
		if (nfailed)
			a->last_error = xstrdup("some recipients failed");
	} else {
		a->new_state = QUEUE_FAILED;
		metrics_inc(METRICS_FAILED);
		a->last_error = xstrdup(nfailed ? freply[0] : "failed");
	}
	if (nfailed > 0)
		relay_notice(r, rec, m, faddr, freply, nfailed);
	free(faddr);
	free(freply);
	if (queue_record_attempt(r->q, a, relay_recorded_cb, rec) == -1)
		relay_record_free(rec);		/* logged: record failed */
	r->inflight--;
	relay_job_free(j);
}

/* ------------------------------------------------------------------ */
/* connection */

static void
relay_idle_cb(evutil_socket_t fd, short ev, void *arg)
{
	struct relay_conn *c = arg;

	c->idle = false;
	if (!c->closing)
		relay_enter_state(c, RELAY_ST_QUIT);
}

static void
relay_conn_free_cb(evutil_socket_t fd, short ev, void *arg)
{
	struct relay_conn *c = arg;
	struct relay *r = c->r;
	struct relay_conn **pp;

	for (pp = &r->conns; *pp; pp = &(*pp)->next)
		if (*pp == c) {
			*pp = c->next;
			break;
		}
	r->nconns--;
	if (c->probe) {
		r->probing = false;
		relay_probe_arm(r);
	}
	if (c->bev)
		bufferevent_free(c->bev);
	queue_body_close(c->body);
	mh_buf_clear(&c->text);
	event_free(c->free_ev);
	event_free(c->idle_ev);
	free(c);
	relay_dispatch(r);
}

/* Ends the connection; its job (if any) is finished with every open
 * recipient deferred.  Frees from a zero-delay event (G7), so callers
 * inside bufferevent callbacks may return normally. */
static void
relay_conn_close(struct relay_conn *c, const char *why)
{
	struct relay *r = c->r;
	struct relay_job *j = c->job;

	if (c->closing)
		return;
	c->closing = true;
	if (c->bev)
		bufferevent_disable(c->bev, EV_READ | EV_WRITE);
	if (c->idle_ev)
		evtimer_del(c->idle_ev);
	c->idle = false;
	if (c->probe) {
		if (c->state < RELAY_ST_READY)
			relay_upstream_failed(r, true, c->state, why);
	} else if (j == NULL && c->state < RELAY_ST_READY) {
		/* Set-up failed (banner, EHLO, STARTTLS, TLS, AUTH): every
		 * waiting message would meet the same fate; defer them now
		 * rather than reconnect in a loop (and re-try a wrong password
		 * against the upstream hundreds of times a second). */
		relay_upstream_failed(r, false, c->state, why);
		relay_fail_waiting(r, why);
	}
	if (j != NULL) {
		char text[RELAY_REPLY_TEXT_MAX];
		mh_snprintf(text, sizeof(text), "upstream %s:%d: %s",
		    r->conf->up_host, r->conf->up_port, why);
		if (j->error == NULL)
			j->error = xstrdup(text);
		relay_job_defer_rest(j, text);
		c->job = NULL;
		relay_job_finish(r, j);
	}
	log_debug("relay event=close state=%s why=\"%s\"",
	    relay_strstate(c->state), why);
	event_active(c->free_ev, EV_TIMEOUT, 0);
}

/*
 * A connection set-up failed (refused, timeout, banner, EHLO, TLS, AUTH).
 * The relay backs off between connection attempts, not only per
 * message: retry.initial after the first failure, doubling up to
 * retry.max but at most RELAY_DOWN_MAX, so that hours of outage cost a
 * few attempts a minute whatever the queue holds.  One warning line per
 * RELAY_WARN_EVERY with the number of failures not warned about; the
 * rest go to debug.  mailhold_upstream_up shows the state.
 */
static void
relay_upstream_failed(struct relay *r, bool probe, enum relay_state st,
    const char *why)
{
	int64_t now = mh_mono_ms(), d, cap;
	int i;

	metrics_inc(METRICS_UPSTREAM_CONNECT_FAILURES);
	if (r->down_fails == 0)
		r->down_since = now;
	if (r->down_fails < INT32_MAX)
		r->down_fails++;
	cap = r->conf->retry_max < RELAY_DOWN_MAX ? r->conf->retry_max :
	    RELAY_DOWN_MAX;
	d = r->conf->retry_initial > 0 ? r->conf->retry_initial : 1;
	for (i = 1; i < r->down_fails && d < cap; i++)
		d *= 2;
	if (d > cap)
		d = cap;
	r->connect_after = now + d * 1000;
	mh_snprintf(r->down_why, sizeof(r->down_why), "upstream %s:%d: %s",
	    r->conf->up_host, r->conf->up_port, why);
	if (!r->warned || now - r->warn_last >= RELAY_WARN_EVERY * 1000) {
		log_warnx("relay event=upstream_error probe=%s state=%s "
		    "reason=\"%s\" failures=%d down_for=%llds suppressed=%llu "
		    "next_connect=%llds", probe ? "yes" : "no",
		    relay_strstate(st), why, r->down_fails,
		    (long long)((now - r->down_since) / 1000),
		    (unsigned long long)r->warn_suppressed, (long long)d);
		r->warned = true;
		r->warn_last = now;
		r->warn_suppressed = 0;
	} else {
		r->warn_suppressed++;
		log_debug("relay event=upstream_error probe=%s state=%s "
		    "reason=\"%s\" failures=%d", probe ? "yes" : "no",
		    relay_strstate(st), why, r->down_fails);
	}
}

/* A connection got through (READY, or a probe's EHLO): up again. */
static void
relay_upstream_ok(struct relay *r)
{
	if (r->down_fails == 0)
		return;
	log_info("relay event=upstream_up down_for=%llds failures=%d "
	    "suppressed=%llu", (long long)((mh_mono_ms() - r->down_since) /
	    1000), r->down_fails, (unsigned long long)r->warn_suppressed);
	r->down_fails = 0;
	r->connect_after = 0;
	r->warn_suppressed = 0;
	r->warned = false;
}

/* Connection-level failure before any message moved: every waiting job
 * would meet the same fate, so defer them now instead of hammering a
 * down upstream with one connection each. */
static void
relay_fail_waiting(struct relay *r, const char *why)
{
	struct relay_job *j;
	char text[RELAY_REPLY_TEXT_MAX];

	mh_snprintf(text, sizeof(text), "upstream %s:%d: %s",
	    r->conf->up_host, r->conf->up_port, why);
	while ((j = r->wait_head) != NULL) {
		r->wait_head = j->next;
		r->nwait--;
		j->error = xstrdup(text);
		relay_job_defer_rest(j, text);
		relay_job_finish(r, j);
	}
	r->wait_tail = NULL;
}

static void
relay_mail_params(struct relay_conn *c, char *buf, size_t sz)
{
	struct queue_msg *m = c->job->msg;
	size_t o = 0;
	int n;

	buf[0] = '\0';
	if (c->caps & RELAY_CAP_SIZE) {
		n = mh_snprintf(buf + o, sz - o, " SIZE=%zu", m->size);
		if (n > 0)
			o += (size_t)n;
	}
	if ((m->flags & QUEUE_F_8BITMIME) && (c->caps & RELAY_CAP_8BITMIME)) {
		n = mh_snprintf(buf + o, sz - o, " BODY=8BITMIME");
		if (n > 0)
			o += (size_t)n;
	}
	if (m->flags & QUEUE_F_SMTPUTF8)
		mh_snprintf(buf + o, sz - o, " SMTPUTF8");
}

static void
relay_send_rcpt(struct relay_conn *c)
{
	struct relay_job *j = c->job;

	relay_send(c, "RCPT TO:<%s>",
	    j->msg->rcpts[j->pending[c->rcpt_sent]].addr);
	c->rcpt_sent++;
}

static void
relay_start_tx(struct relay_conn *c)
{
	struct relay_job *j = c->job;
	char params[128];

	if ((j->msg->flags & QUEUE_F_SMTPUTF8) &&
	    !(c->caps & RELAY_CAP_SMTPUTF8)) {
		size_t i;
		for (i = 0; i < j->npending; i++)
			relay_job_set(j, i, 553, "5.6.7 upstream does not "
			    "support SMTPUTF8 (RFC 6531)");
		c->job = NULL;
		relay_job_finish(c->r, j);
		relay_enter_state(c, RELAY_ST_READY);
		return;
	}
	c->rcpt_sent = c->rcpt_replied = 0;
	c->data_sent = false;
	c->dirty = true;
	c->nmsgs++;
	relay_mail_params(c, params, sizeof(params));
	c->state = RELAY_ST_MAIL;
	j->mail_ms = mh_mono_ms();
	relay_send(c, "MAIL FROM:<%s>%s", j->msg->sender, params);
	if (c->caps & RELAY_CAP_PIPELINING) {
		/* RFC 2920: MAIL, every RCPT and DATA in one group. */
		while (c->rcpt_sent < j->npending)
			relay_send_rcpt(c);
		relay_send(c, "DATA");
		c->data_sent = true;
	}
}

static void
relay_enter_state(struct relay_conn *c, enum relay_state st)
{
	struct relay *r = c->r;
	const struct config *conf = r->conf;

	log_debug("relay event=state old=%s new=%s", relay_strstate(c->state),
	    relay_strstate(st));
	c->state = st;
	switch (st) {
	case RELAY_ST_EHLO:
		c->caps = 0;
		relay_send(c, "EHLO %s", conf->up_helo);
		break;
	case RELAY_ST_HELO:
		relay_send(c, "HELO %s", conf->up_helo);
		break;
	case RELAY_ST_STARTTLS:
		relay_send(c, "STARTTLS");
		break;
	case RELAY_ST_AUTH_PLAIN: {
		char raw[1024], *b;
		int n = mh_snprintf(raw, sizeof(raw), "%c%s%c%s", 0,
		    conf->up_user, 0, conf->up_password);
		if (n < 0 || (b = relay_b64(raw, (size_t)n)) == NULL) {
			OPENSSL_cleanse(raw, sizeof(raw));
			relay_conn_close(c, "credentials too long");
			return;
		}
		relay_send(c, "AUTH PLAIN %s", b);
		OPENSSL_cleanse(raw, sizeof(raw));
		OPENSSL_cleanse(b, strlen(b));
		free(b);
		break;
	}
	case RELAY_ST_AUTH_LOGIN_USER:
		relay_send(c, "AUTH LOGIN");
		break;
	case RELAY_ST_AUTH_LOGIN_PASS: {
		char *b = relay_b64(conf->up_user, strlen(conf->up_user));
		if (b == NULL) {
			relay_conn_close(c, "credentials too long");
			return;
		}
		relay_send(c, "%s", b);
		free(b);
		break;
	}
	case RELAY_ST_AUTH_LOGIN_DONE: {
		char *b = relay_b64(conf->up_password,
		    strlen(conf->up_password));
		if (b == NULL) {
			relay_conn_close(c, "credentials too long");
			return;
		}
		relay_send(c, "%s", b);
		OPENSSL_cleanse(b, strlen(b));
		free(b);
		break;
	}
	case RELAY_ST_READY:
		relay_upstream_ok(r);
		if (c->job == NULL && r->wait_head != NULL &&
		    c->nmsgs < (int)conf->up_max_per_connection) {
			c->job = r->wait_head;
			r->wait_head = c->job->next;
			if (r->wait_head == NULL)
				r->wait_tail = NULL;
			r->nwait--;
			c->job->next = NULL;
		}
		if (c->job == NULL && c->nmsgs <
		    (int)conf->up_max_per_connection) {
			/* The scheduler releases in small asynchronous steps;
			 * keep the connection a moment for the next one. */
			struct timeval tv = { RELAY_IDLE_SECS, 0 };
			c->idle = true;
			evtimer_add(c->idle_ev, &tv);
			return;
		}
		if (c->job == NULL) {
			relay_enter_state(c, RELAY_ST_QUIT);
			return;
		}
		if (c->dirty) {
			relay_enter_state(c, RELAY_ST_RSET);
			return;
		}
		relay_start_tx(c);
		break;
	case RELAY_ST_RSET:
		relay_send(c, "RSET");
		break;
	case RELAY_ST_BODY:
		c->body = queue_body_open(r->q, c->job->msg->id);
		if (c->body == NULL) {
			relay_conn_close(c, "cannot read message body");
			return;
		}
		c->bol = true;
		c->last2[0] = '\r';
		c->last2[1] = '\n';
		c->written = 0;
		bufferevent_setwatermark(c->bev, EV_WRITE, RELAY_OUT_LOW, 0);
		/* No reply is due while the body goes out, and a long body
		 * must not trip the read timeout: only the write timeout
		 * guards this phase. */
		bufferevent_disable(c->bev, EV_READ);
		relay_body_pump(c);
		break;
	case RELAY_ST_QUIT:
		relay_send(c, "QUIT");
		break;
	default:
		break;
	}
}

/* Sends body chunks until the output buffer is full; the write callback
 * calls again as it drains. */
static void
relay_body_pump(struct relay_conn *c)
{
	struct evbuffer *out = bufferevent_get_output(c->bev);
	char in[RELAY_BODY_CHUNK], stuffed[2 * RELAY_BODY_CHUNK];
	long n;
	size_t sn;

	while (evbuffer_get_length(out) < RELAY_OUT_HIGH) {
		n = queue_body_read(c->body, in, sizeof(in));
		if (n < 0) {
			relay_conn_close(c, "error reading message body");
			return;
		}
		if (n == 0) {
			/* The queue holds CRLF text; a body that does not end
			 * in CRLF (only possible when empty) gets one so the
			 * terminator is CRLF "." CRLF. */
			if (c->written > 0 && !(c->last2[0] == '\r' &&
			    c->last2[1] == '\n'))
				evbuffer_add(out, "\r\n", 2);
			evbuffer_add(out, ".\r\n", 3);
			queue_body_close(c->body);
			c->body = NULL;
			bufferevent_setwatermark(c->bev, EV_WRITE, 0, 0);
			c->state = RELAY_ST_EOM;
			bufferevent_enable(c->bev, EV_READ);
			return;
		}
		if (n >= 2) {
			c->last2[0] = in[n - 2];
			c->last2[1] = in[n - 1];
		} else {
			c->last2[0] = c->last2[1];
			c->last2[1] = in[0];
		}
		c->written += (size_t)n;
		sn = smtp_dot_stuff(in, (size_t)n, stuffed, &c->bol);
		evbuffer_add(out, stuffed, sn);
	}
}

static void	relay_read_cb(struct bufferevent *, void *);
static void	relay_write_cb(struct bufferevent *, void *);
static void	relay_event_cb(struct bufferevent *, short, void *);

static void
relay_set_timeouts(struct relay_conn *c)
{
	struct timeval tv;

	tv.tv_sec = (time_t)c->r->conf->timeout_upstream;
	tv.tv_usec = 0;
	bufferevent_set_timeouts(c->bev, &tv, &tv);
}

static void
relay_start_tls(struct relay_conn *c)
{
	struct relay *r = c->r;
	struct bufferevent *tls;
	SSL *ssl;

	/* CVE-2021-38371 class: anything that arrived with or after the 220
	 * is not part of the TLS session; drop it. */
	evbuffer_drain(bufferevent_get_input(c->bev),
	    evbuffer_get_length(bufferevent_get_input(c->bev)));
	ssl = tlsctx_client_ssl_new(r->ssl_ctx, r->conf->up_host);
	if (ssl == NULL) {
		relay_conn_close(c, "TLS set-up failed");
		return;
	}
	tls = bufferevent_openssl_filter_new(r->base, c->bev, ssl,
	    BUFFEREVENT_SSL_CONNECTING, BEV_OPT_CLOSE_ON_FREE);
	if (tls == NULL) {
		SSL_free(ssl);
		relay_conn_close(c, "TLS set-up failed");
		return;
	}
	c->bev = tls;
	c->state = RELAY_ST_HANDSHAKE;
	bufferevent_setcb(tls, relay_read_cb, relay_write_cb, relay_event_cb,
	    c);
	relay_set_timeouts(c);
	bufferevent_enable(tls, EV_READ | EV_WRITE);
}

static void
relay_caps_seen(struct relay *r, unsigned caps)
{
	bool changed = !r->caps_known ||
	    ((r->caps ^ caps) & RELAY_CAP_SMTPUTF8);

	r->caps_known = true;
	r->caps = caps;
	r->caps_at = mh_now();
	if (changed)
		log_info("relay event=upstream_caps smtputf8=%s 8bitmime=%s "
		    "pipelining=%s", caps & RELAY_CAP_SMTPUTF8 ? "yes" : "no",
		    caps & RELAY_CAP_8BITMIME ? "yes" : "no",
		    caps & RELAY_CAP_PIPELINING ? "yes" : "no");
}

static void
relay_after_greeting(struct relay_conn *c)
{
	const struct config *conf = c->r->conf;

	if (conf->up_tls == CONFIG_TLS_STARTTLS && !c->tls) {
		if (!(c->caps & RELAY_CAP_STARTTLS)) {
			relay_conn_close(c, "STARTTLS required by config but "
			    "not offered");
			return;
		}
		relay_enter_state(c, RELAY_ST_STARTTLS);
		return;
	}
	/* This EHLO (or HELO: no extensions) is the one the connection
	 * goes on with: what the upstream can carry now. */
	relay_caps_seen(c->r, c->caps);
	if (c->probe) {
		relay_upstream_ok(c->r);
		relay_enter_state(c, RELAY_ST_QUIT);
		return;
	}
	if (conf->up_user && !c->authed) {
		if (c->caps & RELAY_CAP_AUTH_PLAIN)
			relay_enter_state(c, RELAY_ST_AUTH_PLAIN);
		else if (c->caps & RELAY_CAP_AUTH_LOGIN)
			relay_enter_state(c, RELAY_ST_AUTH_LOGIN_USER);
		else
			relay_conn_close(c, "AUTH PLAIN/LOGIN not offered");
		return;
	}
	relay_enter_state(c, RELAY_ST_READY);
}

/* true when line starts with keyword kw as a whole word. */
static bool
relay_ehlo_kw(const char *line, size_t len, const char *kw)
{
	size_t n = strlen(kw);

	return len >= n && mh_strncasecmp(line, kw, n) == 0 &&
	    (len == n || line[n] == ' ');
}

unsigned
relay_parse_ehlo_line(const char *line, size_t len)
{
	unsigned caps = 0;
	size_t i, w;

	if (relay_ehlo_kw(line, len, "PIPELINING"))
		return RELAY_CAP_PIPELINING;
	if (relay_ehlo_kw(line, len, "SIZE"))
		return RELAY_CAP_SIZE;
	if (relay_ehlo_kw(line, len, "8BITMIME"))
		return RELAY_CAP_8BITMIME;
	if (relay_ehlo_kw(line, len, "SMTPUTF8"))
		return RELAY_CAP_SMTPUTF8;
	if (relay_ehlo_kw(line, len, "STARTTLS"))
		return RELAY_CAP_STARTTLS;
	/* "AUTH PLAIN LOGIN", or the pre-RFC "AUTH=PLAIN LOGIN". */
	if (len < 5 || mh_strncasecmp(line, "AUTH", 4) != 0 ||
	    (line[4] != ' ' && line[4] != '='))
		return 0;
	for (i = 5; i < len; i = w + 1) {
		for (w = i; w < len && line[w] != ' '; w++)
			;
		if (w - i == 5 && mh_strncasecmp(line + i, "PLAIN", 5) == 0)
			caps |= RELAY_CAP_AUTH_PLAIN;
		else if (w - i == 5 &&
		    mh_strncasecmp(line + i, "LOGIN", 5) == 0)
			caps |= RELAY_CAP_AUTH_LOGIN;
	}
	return caps;
}

/* After the last RCPT reply (and DATA reply when pipelined). */
static void
relay_after_rcpts(struct relay_conn *c)
{
	struct relay_job *j = c->job;

	if (j->naccepted == 0) {
		if (!c->data_sent) {
			/* Nothing accepted: no DATA; finish and reset. */
			c->job = NULL;
			relay_job_finish(c->r, j);
			relay_enter_state(c, RELAY_ST_READY);
			return;
		}
		return;		/* wait for the (pipelined) DATA reply */
	}
	if (!c->data_sent) {
		c->data_sent = true;
		c->state = RELAY_ST_DATA;
		relay_send(c, "DATA");
	}
}

static void
relay_response(struct relay_conn *c, int code, const char *text)
{
	struct relay_job *j = c->job;
	size_t i;

	switch (c->state) {
	case RELAY_ST_BANNER:
		if (code != 220) {
			relay_conn_close(c, text);
			return;
		}
		relay_enter_state(c, RELAY_ST_EHLO);
		break;
	case RELAY_ST_EHLO:
		if (code >= 500 && !c->tls) {
			relay_enter_state(c, RELAY_ST_HELO);
			return;
		}
		if (code != 250) {
			relay_conn_close(c, text);
			return;
		}
		relay_after_greeting(c);
		break;
	case RELAY_ST_HELO:
		if (code != 250) {
			relay_conn_close(c, text);
			return;
		}
		relay_after_greeting(c);
		break;
	case RELAY_ST_STARTTLS:
		if (code != 220) {
			relay_conn_close(c, text);
			return;
		}
		relay_start_tls(c);
		break;
	case RELAY_ST_AUTH_PLAIN:
	case RELAY_ST_AUTH_LOGIN_DONE:
		if (code != 235) {
			log_warnx("relay event=auth_failed user=%s reply=\"%s\"",
			    c->r->conf->up_user, text);
			relay_conn_close(c, text);
			return;
		}
		c->authed = true;
		relay_enter_state(c, RELAY_ST_READY);
		break;
	case RELAY_ST_AUTH_LOGIN_USER:
	case RELAY_ST_AUTH_LOGIN_PASS:
		if (code != 334) {
			relay_conn_close(c, text);
			return;
		}
		relay_enter_state(c, c->state == RELAY_ST_AUTH_LOGIN_USER ?
		    RELAY_ST_AUTH_LOGIN_PASS : RELAY_ST_AUTH_LOGIN_DONE);
		break;
	case RELAY_ST_MAIL:
		j->mail_ok = code >= 200 && code < 300;
		j->mail_code = code;
		free(j->mail_reply);
		j->mail_reply = xstrdup(text);
		if (!j->mail_ok && code < 400) {
			relay_conn_close(c, text);	/* 3xx: nonsense */
			return;
		}
		c->state = RELAY_ST_RCPT;
		if (!(c->caps & RELAY_CAP_PIPELINING)) {
			if (!j->mail_ok) {
				for (i = 0; i < j->npending; i++)
					relay_job_set(j, i, code, text);
				c->job = NULL;
				relay_job_finish(c->r, j);
				relay_enter_state(c, RELAY_ST_READY);
				return;
			}
			relay_send_rcpt(c);
		}
		break;
	case RELAY_ST_RCPT:
		i = c->rcpt_replied++;
		if (!j->mail_ok)
			relay_job_set(j, i, j->mail_code, j->mail_reply);
		else if (code >= 200 && code < 300) {
			j->accepted[i] = true;
			j->naccepted++;
		} else if (code >= 400)
			relay_job_set(j, i, code, text);
		else {
			relay_conn_close(c, text);
			return;
		}
		if (c->rcpt_replied < j->npending) {
			if (!(c->caps & RELAY_CAP_PIPELINING))
				relay_send_rcpt(c);
			return;
		}
		c->state = RELAY_ST_DATA;
		relay_after_rcpts(c);
		break;
	case RELAY_ST_DATA:
		if (code == 354) {
			if (j->naccepted == 0) {
				/* RFC 2920 §3.1: DATA accepted without valid
				 * recipients; send an empty message and drop
				 * its outcome. */
				c->ignore_eom = true;
				bufferevent_write(c->bev, ".\r\n", 3);
				c->state = RELAY_ST_EOM;
				return;
			}
			relay_enter_state(c, RELAY_ST_BODY);
			return;
		}
		for (i = 0; i < j->npending; i++)
			if (j->accepted[i])
				relay_job_set(j, i, code < 400 ? 451 : code,
				    text);
		c->job = NULL;
		relay_job_finish(c->r, j);
		relay_enter_state(c, RELAY_ST_READY);
		break;
	case RELAY_ST_EOM:
		if (!c->ignore_eom)
			for (i = 0; i < j->npending; i++)
				if (j->accepted[i])
					relay_job_set(j, i, code >= 300 &&
					    code < 400 ? 451 : code, text);
		c->ignore_eom = false;
		/* After a 2xx the transaction is over; else RSET first. */
		c->dirty = !(code >= 200 && code < 300);
		c->job = NULL;
		relay_job_finish(c->r, j);
		relay_enter_state(c, RELAY_ST_READY);
		break;
	case RELAY_ST_RSET:
		if (code != 250) {
			relay_conn_close(c, text);
			return;
		}
		c->dirty = false;
		relay_enter_state(c, RELAY_ST_READY);
		break;
	case RELAY_ST_QUIT:
		relay_conn_close(c, "quit");
		break;
	default:
		MH_BUG("relay reply in unexpected state");
		relay_conn_close(c, "protocol error");
		break;
	}
}

static void
relay_read_cb(struct bufferevent *bev, void *arg)
{
	struct relay_conn *c = arg;
	struct evbuffer *in = bufferevent_get_input(bev);
	struct evbuffer_ptr eol;
	size_t eollen, len;
	const char *why;
	char *line;
	bool more;
	int code;

	while (!c->closing) {
		eol = evbuffer_search_eol(in, NULL, &eollen, EVBUFFER_EOL_LF);
		if (eol.pos < 0) {
			if (evbuffer_get_length(in) > RELAY_LINE_MAX)
				relay_conn_close(c, "reply line too long");
			return;
		}
		len = (size_t)eol.pos + 1;
		if (len > RELAY_LINE_MAX) {
			relay_conn_close(c, "reply line too long");
			return;
		}
		line = (char *)evbuffer_pullup(in, (ev_ssize_t)len);
		if (len < 2 || line[len - 2] != '\r') {
			relay_conn_close(c, "reply line without CRLF");
			return;
		}
		if (c->state == RELAY_ST_CONNECT || c->state ==
		    RELAY_ST_HANDSHAKE || c->state == RELAY_ST_BODY) {
			/* A reply nobody asked for. */
			relay_conn_close(c, "unexpected reply");
			return;
		}
		why = relay_parse_reply_line(line, len - 2, &code, &more);
		if (why != NULL) {
			relay_conn_close(c, why);
			return;
		}
		if (c->nlines > 0 && code != c->code) {
			relay_conn_close(c, "reply code changed inside a "
			    "multi-line reply");
			return;
		}
		if (++c->nlines > RELAY_REPLY_LINES_MAX) {
			relay_conn_close(c, "multi-line reply too long");
			return;
		}
		c->code = code;
		if (c->state == RELAY_ST_EHLO && c->nlines > 1 && len > 6)
			c->caps |= relay_parse_ehlo_line(line + 4, len - 6);
		if (c->text.len < RELAY_REPLY_TEXT_MAX) {
			size_t room = RELAY_REPLY_TEXT_MAX - c->text.len;
			size_t n = len - 2 < room ? len - 2 : room;
			if (c->text.len)
				mh_buf_append(&c->text, " ", 1);
			mh_buf_append(&c->text, line, n);
		}
		evbuffer_drain(in, len);
		if (more)
			continue;
		{
			char *text = mh_buf_steal(&c->text, NULL);
			char esc[RELAY_REPLY_TEXT_MAX * 4 + 8];
			/* Stored and logged replies are escaped untrusted
			 * bytes from the upstream. */
			mh_log_escape(text, strlen(text), RELAY_REPLY_TEXT_MAX,
			    esc, sizeof(esc));
			free(text);
			c->nlines = 0;
			mh_buf_init(&c->text, RELAY_REPLY_TEXT_MAX + 8);
			relay_response(c, code, esc);
		}
	}
}

static void
relay_write_cb(struct bufferevent *bev, void *arg)
{
	struct relay_conn *c = arg;

	if (c->state == RELAY_ST_BODY && !c->closing)
		relay_body_pump(c);
}

static void
relay_event_cb(struct bufferevent *bev, short what, void *arg)
{
	struct relay_conn *c = arg;
	struct relay *r = c->r;
	int serr = EVUTIL_SOCKET_ERROR();	/* before anything resets it */
	char why[256];
	unsigned long e;

	if (what & BEV_EVENT_CONNECTED) {
		if (c->state == RELAY_ST_HANDSHAKE) {
			c->tls = true;
			relay_enter_state(c, RELAY_ST_EHLO);
		} else {
			if (r->conf->up_tls == CONFIG_TLS_IMPLICIT)
				c->tls = true;
			c->state = RELAY_ST_BANNER;
		}
		tlsctx_bev_read_pending(c->bev);
		return;
	}
	if (what & BEV_EVENT_TIMEOUT)
		mh_strlcpy(why, "timeout", sizeof(why));
	else if (what & BEV_EVENT_EOF)
		mh_strlcpy(why, "connection closed by upstream", sizeof(why));
	else if ((e = bufferevent_get_openssl_error(bev)) != 0 &&
	    ERR_GET_LIB(e) != 0) {
		char err[200];
		ERR_error_string_n(e, err, sizeof(err));
		mh_snprintf(why, sizeof(why), "TLS error: %s", err);
	} else {
		/* No OpenSSL reason (libevent may queue a bare SSL_get_error()
		 * value, lib 0): the socket's errno, if there is one. */
		int dnserr = bufferevent_socket_get_dns_error(bev);
		if (dnserr)
			mh_snprintf(why, sizeof(why), "DNS error: %s",
			    evutil_gai_strerror(dnserr));
		else if (serr != 0)
			mh_snprintf(why, sizeof(why), "connection error: %s",
			    evutil_socket_error_to_string(serr));
		else if (c->state == RELAY_ST_CONNECT)
			/* libevent 2.1 reports a connect() refused at once
			 * (loopback) as an error with errno cleared. */
			mh_strlcpy(why, "connection refused", sizeof(why));
		else
			/* The peer closed the TCP connection under TLS
			 * without close_notify: an error without errno. */
			mh_strlcpy(why, "connection closed by upstream",
			    sizeof(why));
	}
	if (c->state == RELAY_ST_QUIT) {
		relay_conn_close(c, "quit");
		return;
	}
	if (c->state >= RELAY_ST_READY)
		log_warnx("relay event=upstream_error state=%s reason=\"%s\"",
		    relay_strstate(c->state), why);
	relay_conn_close(c, why);	/* defers waiting jobs before READY */
}

/* Opens a connection: for the waiting jobs, or a probe (EHLO, QUIT).
 * false when it could not even be set up (logged). */
static bool
relay_conn_new(struct relay *r, bool probe)
{
	struct relay_conn *c;
	SSL *ssl = NULL;

	c = xcalloc(1, sizeof(*c));
	c->r = r;
	c->probe = probe;
	c->state = RELAY_ST_CONNECT;
	mh_buf_init(&c->text, RELAY_REPLY_TEXT_MAX + 8);
	c->free_ev = event_new(r->base, -1, 0, relay_conn_free_cb, c);
	c->idle_ev = evtimer_new(r->base, relay_idle_cb, c);
	if (r->conf->up_tls == CONFIG_TLS_IMPLICIT) {
		ssl = tlsctx_client_ssl_new(r->ssl_ctx, r->conf->up_host);
		if (ssl == NULL)
			goto fail;
		c->bev = bufferevent_openssl_socket_new(r->base, -1, ssl,
		    BUFFEREVENT_SSL_CONNECTING, BEV_OPT_CLOSE_ON_FREE);
	} else
		c->bev = bufferevent_socket_new(r->base, -1,
		    BEV_OPT_CLOSE_ON_FREE);
	if (c->bev == NULL)
		goto fail;
	c->next = r->conns;
	r->conns = c;
	r->nconns++;
	bufferevent_setcb(c->bev, relay_read_cb, relay_write_cb,
	    relay_event_cb, c);
	relay_set_timeouts(c);
	bufferevent_enable(c->bev, EV_READ | EV_WRITE);
	/* The job is taken when the connection reaches READY. */
	if (probe)
		r->probing = true;	/* until relay_conn_free_cb() */
	if (bufferevent_socket_connect_hostname(c->bev, r->dns, AF_UNSPEC,
	    r->conf->up_host, r->conf->up_port) == -1) {
		if (!probe)
			relay_fail_waiting(r, "cannot connect");
		relay_conn_close(c, "cannot connect");
	}
	return true;
fail:
	if (ssl)
		SSL_free(ssl);
	log_warnx("relay event=conn_error reason=\"set-up failed\"");
	event_free(c->free_ev);
	event_free(c->idle_ev);
	mh_buf_clear(&c->text);
	free(c);
	return false;
}

/* Arms the probe timer: when the last EHLO seen gets
 * upstream.probe_interval old (at once while none was seen), but never
 * sooner than RELAY_PROBE_RETRY after the last probe (or the last one
 * skipped because every connection was busy).  Relay connections refresh
 * the capabilities, so a busy relay never probes. */
static void
relay_probe_arm(struct relay *r)
{
	int64_t iv = r->conf->up_probe_interval, now = mh_now(), due;
	struct timeval tv;

	if (r->probe_ev == NULL)
		return;
	evtimer_del(r->probe_ev);
	if (iv <= 0 || r->probing)
		return;
	due = r->caps_known ? r->caps_at + iv : now;
	if (r->probe_last > 0 && due < r->probe_last + RELAY_PROBE_RETRY)
		due = r->probe_last + RELAY_PROBE_RETRY;
	tv.tv_sec = (time_t)(due > now ? due - now : 0);
	tv.tv_usec = 0;
	evtimer_add(r->probe_ev, &tv);
}

static void
relay_probe_cb(evutil_socket_t fd, short ev, void *arg)
{
	struct relay *r = arg;

	if (r->probing)
		return;		/* re-armed when that probe ends */
	if (r->caps_known &&
	    mh_now() - r->caps_at < r->conf->up_probe_interval) {
		relay_probe_arm(r);
		return;
	}
	r->probe_last = mh_now();
	if (r->nconns >= r->conf->up_max_connections ||
	    !relay_conn_new(r, true))
		relay_probe_arm(r);
}

/* Hands waiting jobs to lingering idle connections first, then opens
 * new ones within upstream.max_connections. */
static void
relay_kick(struct relay *r)
{
	struct relay_conn *c;

	for (c = r->conns; c && r->wait_head; c = c->next) {
		if (!c->idle || c->closing)
			continue;
		c->idle = false;
		evtimer_del(c->idle_ev);
		relay_enter_state(c, RELAY_ST_READY);
	}
	relay_dispatch(r);
}

/* Opens connections for waiting jobs, within upstream.max_connections.
 * Connections in READY pick jobs themselves. */
static void
relay_dispatch(struct relay *r)
{
	size_t opening = 0, limit = r->conf->up_max_connections;
	struct relay_conn *c;
	int64_t left;
	char why[sizeof(r->down_why) + 64];

	for (c = r->conns; c; c = c->next)
		if (!c->closing && !c->probe && c->state < RELAY_ST_READY)
			opening++;
	if (r->down_fails > 0) {
		/* Down: one trial connection at a time, and none before
		 * connect_after.  Jobs released meanwhile are deferred at
		 * once (no connection): their next attempt comes due when
		 * the relay tries the upstream again. */
		left = r->connect_after - mh_mono_ms();
		if (left > 0 && opening == 0 && r->nwait > 0) {
			mh_snprintf(why, sizeof(why), "%s; next connection "
			    "attempt in %lld s", r->down_why,
			    (long long)((left + 999) / 1000));
			relay_fail_waiting(r, why);
			return;
		}
		if (left > 0 || opening > 0)
			return;
		limit = r->nconns + 1;
	}
	while (r->nwait > opening && r->nconns < r->conf->up_max_connections &&
	    r->nconns < limit) {
		relay_conn_new(r, false);
		opening++;
		if (r->nwait == 0)
			break;
	}
}

/* ------------------------------------------------------------------ */
/* public */

void
relay_release(const char *id, void *arg)
{
	struct relay *r = arg;
	struct relay_job *j;
	struct queue_msg *m;
	size_t i, n = 0;

	if ((m = queue_msg_load(r->q, id)) == NULL) {
		/* queue_msg_load() re-validates rows; one that fails is
		 * corrupt and would fail again: stop it for good. */
		log_warnx("id=%s event=failed reason=\"stored message is "
		    "invalid\"", id);
		queue_set_state(r->q, id, 1u << QUEUE_RELEASING,
		    QUEUE_FAILED, -1, "relay", "stored message is invalid",
		    NULL, NULL);
		return;
	}
	j = xcalloc(1, sizeof(*j));
	j->msg = m;
	j->pending = xcalloc(m->nrcpts ? m->nrcpts : 1, sizeof(*j->pending));
	for (i = 0; i < m->nrcpts; i++)
		if (m->rcpts[i].status == QUEUE_RCPT_PENDING)
			j->pending[n++] = i;
	j->npending = n;
	j->result = xcalloc(n ? n : 1, sizeof(*j->result));
	j->reply = xcalloc(n ? n : 1, sizeof(*j->reply));
	j->accepted = xcalloc(n ? n : 1, sizeof(*j->accepted));
	r->inflight++;
	if (n == 0) {
		relay_job_finish(r, j);
		return;
	}
	if (r->wait_tail)
		r->wait_tail->next = j;
	else
		r->wait_head = j;
	r->wait_tail = j;
	r->nwait++;
	relay_kick(r);
}

size_t
relay_capacity(void *arg)
{
	struct relay *r = arg;
	size_t cap = r->conf->up_max_connections * 2;

	return r->inflight >= cap ? 0 : cap - r->inflight;
}

size_t
relay_inflight(const struct relay *r)
{
	return r->inflight;
}

size_t
relay_nconns(const struct relay *r)
{
	return r->nconns;
}

bool
relay_upstream_down(const struct relay *r)
{
	return r->down_fails > 0;
}

bool
relay_upstream_caps(const struct relay *r, unsigned *caps, int64_t *at)
{
	if (r == NULL || !r->caps_known)
		return false;
	if (caps != NULL)
		*caps = r->caps;
	if (at != NULL)
		*at = r->caps_at;
	return true;
}

struct relay *
relay_new(struct event_base *base, struct config *conf, struct queue *q)
{
	struct relay *r;

	r = xcalloc(1, sizeof(*r));
	r->base = base;
	r->conf = config_ref(conf);
	r->q = q;
	r->dns = evdns_base_new(base, EVDNS_BASE_INITIALIZE_NAMESERVERS |
	    EVDNS_BASE_DISABLE_WHEN_INACTIVE);
	if (r->dns == NULL)
		r->dns = evdns_base_new(base, EVDNS_BASE_DISABLE_WHEN_INACTIVE);
	if (r->dns == NULL)
		goto fail;
	r->ssl_ctx = SSL_CTX_new(TLS_client_method());
	if (r->ssl_ctx == NULL)
		goto fail;
	SSL_CTX_set_min_proto_version(r->ssl_ctx, TLS1_2_VERSION);
	if (conf->up_verify) {
		SSL_CTX_set_verify(r->ssl_ctx, SSL_VERIFY_PEER, NULL);
		if (conf->up_ca_file) {
			if (SSL_CTX_load_verify_locations(r->ssl_ctx,
			    conf->up_ca_file, NULL) != 1) {
				log_warnx("event=tls_error reason=\"cannot load "
				    "upstream.ca_file %s\"", conf->up_ca_file);
				goto fail;
			}
		} else
			SSL_CTX_set_default_verify_paths(r->ssl_ctx);
	}
	if ((r->probe_ev = evtimer_new(base, relay_probe_cb, r)) == NULL)
		goto fail;
	relay_probe_arm(r);
	return r;
fail:
	relay_free(r);
	return NULL;
}

void
relay_set_sched(struct relay *r, struct sched *sc)
{
	r->sched = sc;
}

void
relay_set_config(struct relay *r, struct config *conf)
{
	struct config *old = r->conf;

	r->conf = config_ref(conf);
	/* Another upstream (or another way to reach it): what the old one
	 * offered says nothing; ask again. */
	if (strcmp(old->up_host, conf->up_host) != 0 ||
	    old->up_port != conf->up_port || old->up_tls != conf->up_tls) {
		r->caps_known = false;
		r->probe_last = 0;
		log_info("relay event=upstream_caps reason=\"upstream settings "
		    "changed\" smtputf8=unknown");
	}
	config_unref(old);
	relay_probe_arm(r);
}

void
relay_free(struct relay *r)
{
	struct relay_conn *c;
	struct relay_job *j;

	if (r == NULL)
		return;
	while ((c = r->conns) != NULL) {
		r->conns = c->next;
		if (c->bev)
			bufferevent_free(c->bev);
		queue_body_close(c->body);
		relay_job_free(c->job);
		mh_buf_clear(&c->text);
		event_free(c->free_ev);
		event_free(c->idle_ev);
		free(c);
	}
	while ((j = r->wait_head) != NULL) {
		r->wait_head = j->next;
		relay_job_free(j);
	}
	if (r->probe_ev)
		event_free(r->probe_ev);
	if (r->ssl_ctx)
		SSL_CTX_free(r->ssl_ctx);
	if (r->dns)
		evdns_base_free(r->dns, 0);
	config_unref(r->conf);
	free(r);
}
