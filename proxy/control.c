/*
 * control.c - the unix control socket (see control.h for the protocol).
 *
 * One connection is one request: a bounded line reader (LF within
 * CONTROL_LINE_MAX, a read high-watermark, a read timeout), the pure
 * parser, then either an answer built at once from reads on the queue's
 * read connection, or (release/cancel) one queue_set_state() per message
 * whose completions are counted down before the answer goes out.  A
 * connection whose peer goes away while completions are owed is marked
 * closed and freed by the last completion.
 */
#include "control.h"

#include <sys/queue.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>

#include <errno.h>
#include <grp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/listener.h>

#include "config.h"
#include "lbackoff.h"
#include "log.h"
#include "metrics.h"
#include "policy.h"
#include "queue_backup.h"
#include "util.h"

#define CONTROL_TIMEOUT_S	10		/* to send the request line */
#define CONTROL_REPLY_MAX	(16 * 1024 * 1024)
#define CONTROL_LIST_MAX	10000		/* rows in one queue answer */
#define CONTROL_AUDIT_MAX	1000		/* audit rows in show */
#define CONTROL_FINDINGS_MAX	16		/* rule names in a summary */

#define CONTROL_ACTIONABLE	((1u << QUEUE_HELD) |			\
				 (1u << QUEUE_AWAITING_RELEASE) |	\
				 (1u << QUEUE_DEFERRED))

struct control_conn;

/* One release/cancel of one message, in flight on the writer thread. */
struct control_op {
	struct control_conn	*c;
	char			 id[QUEUE_ID_LEN + 1];
	const char		*error;		/* static, or NULL: done */
	int			 state;		/* state before */
};

struct control_conn {
	TAILQ_ENTRY(control_conn) entry;
	struct control		*ctl;
	struct bufferevent	*bev;		/* NULL once closed */
	unsigned		 uid;
	unsigned		 gid;
	int			 pid;
	char			 actor[32];	/* "ctl:uid=N" */
	struct control_request	*req;
	struct control_op	*ops;
	size_t			 nops;
	size_t			 pending;	/* queue completions owed */
	int64_t			 changed;	/* hold set --reschedule */
	bool			 answered;	/* reply queued; free at drain */
};

struct control {
	struct event_base	*base;
	struct queue		*q;
	struct control_hooks	 hooks;
	struct evconnlistener	*lev;
	struct lbackoff		*bo;	/* accept failures */
	char			*path;
	dev_t			 dev;
	ino_t			 ino;
	int64_t			 started;
	TAILQ_HEAD(, control_conn) conns;
	struct queue_backup	*backup;	/* one at a time */
};

/* ------------------------------------------------------------------ */
/* Request parser (pure)                                               */
/* ------------------------------------------------------------------ */

static const struct {
	const char		*verb;
	enum control_cmd	 cmd;
} control_verbs[] = {
	{ "queue", CONTROL_CMD_QUEUE },
	{ "show", CONTROL_CMD_SHOW },
	{ "release", CONTROL_CMD_RELEASE },
	{ "cancel", CONTROL_CMD_CANCEL },
	{ "stats", CONTROL_CMD_STATS },
	{ "reload", CONTROL_CMD_RELOAD },
	{ "hold", CONTROL_CMD_HOLD },
	{ "backup", CONTROL_CMD_BACKUP },
};

static bool
control_tok_is(const char *t, size_t tl, const char *s)
{
	return strlen(s) == tl && memcmp(t, s, tl) == 0;
}

/* A comma-separated list of state names -> mask. */
static const char *
control_parse_states(const char *t, size_t tl, unsigned *mask)
{
	char name[32];
	size_t i, j;
	int s;

	*mask = 0;
	for (i = 0; i <= tl; i = j + 1) {
		for (j = i; j < tl && t[j] != ','; j++)
			;
		if (j == i || j - i >= sizeof(name))
			return "bad --state (held, awaiting_release, "
			    "releasing, deferred, sent, failed, cancelled, "
			    "or all)";
		memcpy(name, t + i, j - i);
		name[j - i] = '\0';
		if (strcmp(name, "all") == 0)
			*mask |= (1u << (QUEUE_STATE_MAX + 1)) - 1;
		else if ((s = queue_state_parse(name)) == -1)
			return "bad --state (held, awaiting_release, "
			    "releasing, deferred, sent, failed, cancelled, "
			    "or all)";
		else
			*mask |= 1u << s;
	}
	return NULL;
}

/*
 * One word of "hold ...".  *st: 0 before the sub-command, 1 after it,
 * 2/3/4 waiting for the value of --rule/--user/--domain.
 */
static const char *
control_parse_hold(struct control_request *out, const char *t, size_t tl,
    int *st)
{
	char v[CONTROL_HOLD_KEY_MAX + 1];
	size_t k;
	int r;

	if (*st == 0) {
		if (control_tok_is(t, tl, "get"))
			out->hold_op = CONTROL_HOLD_GET;
		else if (control_tok_is(t, tl, "set"))
			out->hold_op = CONTROL_HOLD_SET;
		else if (control_tok_is(t, tl, "unset"))
			out->hold_op = CONTROL_HOLD_UNSET;
		else
			return "hold needs get, set DURATION or unset";
		out->hold_secs = -1;
		out->hold_scope = QUEUE_HOLD_DEFAULT;
		*st = 1;
		return NULL;
	}
	if (*st >= 2) {
		if (tl > CONTROL_HOLD_KEY_MAX)
			return "value too long";
		for (k = 0; k < tl; k++) {
			unsigned char c = (unsigned char)t[k];

			if (c <= 0x20 || c == 0x7f || c == '"' || c == '\\')
				return "bad value";
			v[k] = (char)mh_tolower(c);
		}
		v[tl] = '\0';
		if (*st == 2) {
			if ((r = policy_rule_parse(v)) < 0)
				return "unknown rule";
			out->hold_scope = QUEUE_HOLD_RULE;
		} else if (*st == 3)
			out->hold_scope = QUEUE_HOLD_USER;
		else {
			if (v[strspn(v, "abcdefghijklmnopqrstuvwxyz"
			    "0123456789-.")] != '\0' || v[0] == '.' ||
			    v[0] == '-')
				return "bad --domain (a domain such as "
				    "example.org)";
			out->hold_scope = QUEUE_HOLD_DOMAIN;
		}
		mh_strlcpy(out->hold_key, v, sizeof(out->hold_key));
		*st = 1;
		return NULL;
	}
	if (out->hold_op == CONTROL_HOLD_GET)
		return "unexpected argument";
	if (control_tok_is(t, tl, "--rule") || control_tok_is(t, tl,
	    "--user") || control_tok_is(t, tl, "--domain")) {
		if (out->hold_scope != QUEUE_HOLD_DEFAULT)
			return "give one of --rule, --user, --domain";
		*st = t[2] == 'r' ? 2 : t[2] == 'u' ? 3 : 4;
		return NULL;
	}
	if (control_tok_is(t, tl, "--reschedule")) {
		if (out->hold_op != CONTROL_HOLD_SET || out->reschedule)
			return "unexpected --reschedule";
		out->reschedule = true;
		return NULL;
	}
	if (out->hold_op == CONTROL_HOLD_SET && out->hold_secs < 0) {
		char d[32];

		if (tl >= sizeof(d))
			return "bad DURATION (0, 90s, 5m, 2h, 1d)";
		memcpy(d, t, tl);
		d[tl] = '\0';
		if (config_parse_duration(d, &out->hold_secs) == -1)
			return "bad DURATION (0, 90s, 5m, 2h, 1d)";
		return NULL;
	}
	return "unexpected argument";
}

const char *
control_parse_request(const char *line, size_t len,
    struct control_request *out)
{
	const char *t, *err;
	size_t i, tl;
	bool have_verb = false, want_sender = false, want_state = false;
	bool have_state = false;
	int hold_want = 0;

	memset(out, 0, sizeof(*out));
	out->state_mask = CONTROL_ACTIONABLE;
	if (len >= CONTROL_LINE_MAX)
		return "request too long";
	if (memchr(line, '\0', len) != NULL)
		return "NUL in request";
	if (memchr(line, '\r', len) != NULL)
		return "CR in request";
	for (i = 0; i < len; i++)
		if ((unsigned char)line[i] < 0x20 ||
		    (unsigned char)line[i] == 0x7f)
			return "control character in request";
	if (len == 0)
		return "empty request";

	for (i = 0; i <= len; i += tl + 1) {
		t = line + i;
		for (tl = 0; i + tl < len && t[tl] != ' '; tl++)
			;
		if (tl == 0)
			return "malformed request (one space between words)";
		if (!have_verb) {
			size_t k;

			for (k = 0; k < sizeof(control_verbs) /
			    sizeof(control_verbs[0]); k++)
				if (control_tok_is(t, tl, control_verbs[k].verb))
					break;
			if (k == sizeof(control_verbs) /
			    sizeof(control_verbs[0]))
				return "unknown command";
			out->cmd = control_verbs[k].cmd;
			have_verb = true;
			continue;
		}
		if (out->cmd == CONTROL_CMD_HOLD) {
			if ((err = control_parse_hold(out, t, tl,
			    &hold_want)) != NULL)
				return err;
			continue;
		}
		if (out->cmd == CONTROL_CMD_BACKUP) {
			if (out->path[0] != '\0')
				return "unexpected argument";
			if (t[0] != '/')
				return "backup needs an absolute path";
			if (tl > CONTROL_PATH_MAX)
				return "path too long";
			memcpy(out->path, t, tl);
			out->path[tl] = '\0';
			continue;
		}
		if (want_state) {
			if ((err = control_parse_states(t, tl,
			    &out->state_mask)) != NULL)
				return err;
			want_state = false;
			continue;
		}
		if (want_sender) {
			if (tl > CONTROL_SENDER_MAX)
				return "--sender too long";
			for (size_t k = 0; k < tl; k++)
				out->sender[k] = (char)mh_tolower(
				    (unsigned char)t[k]);
			out->sender[tl] = '\0';
			out->by_sender = true;
			want_sender = false;
			continue;
		}
		if (control_tok_is(t, tl, "--sender")) {
			if (out->by_sender || (out->cmd != CONTROL_CMD_QUEUE &&
			    out->cmd != CONTROL_CMD_RELEASE &&
			    out->cmd != CONTROL_CMD_CANCEL))
				return "unexpected --sender";
			want_sender = true;
			continue;
		}
		if (control_tok_is(t, tl, "--state")) {
			if (have_state || out->cmd != CONTROL_CMD_QUEUE)
				return "unexpected --state";
			have_state = want_state = true;
			continue;
		}
		if (out->cmd == CONTROL_CMD_SHOW ||
		    out->cmd == CONTROL_CMD_RELEASE ||
		    out->cmd == CONTROL_CMD_CANCEL) {
			char *id;

			if (tl != QUEUE_ID_LEN)
				return "bad id (16 hexadecimal digits)";
			if (out->nids >= CONTROL_IDS_MAX)
				return "too many ids";
			id = out->ids[out->nids];
			for (size_t k = 0; k < tl; k++)
				id[k] = (char)mh_tolower((unsigned char)t[k]);
			id[tl] = '\0';
			if (!queue_id_ok(id))
				return "bad id (16 hexadecimal digits)";
			out->nids++;
			continue;
		}
		return "unexpected argument";
	}
	if (want_sender || want_state || hold_want > 1)
		return "option needs a value";
	switch (out->cmd) {
	case CONTROL_CMD_HOLD:
		if (hold_want == 0)
			return "hold needs get, set DURATION or unset";
		if (out->hold_op == CONTROL_HOLD_SET && out->hold_secs < 0)
			return "hold set needs a DURATION";
		break;
	case CONTROL_CMD_SHOW:
		if (out->nids != 1)
			return "show needs exactly one id";
		break;
	case CONTROL_CMD_BACKUP:
		if (out->path[0] == '\0')
			return "backup needs a FILE";
		break;
	case CONTROL_CMD_RELEASE:
	case CONTROL_CMD_CANCEL:
		if (out->by_sender == (out->nids > 0))
			return "give ids or --sender ADDR (not both)";
		break;
	default:
		break;
	}
	return NULL;
}

/* ------------------------------------------------------------------ */
/* JSON and text output                                                */
/* ------------------------------------------------------------------ */

/* Appends s as a JSON string (RFC 8259: quote, backslash, controls). */
static void
control_json_str(struct mh_buf *b, const char *s)
{
	const unsigned char *p;

	if (s == NULL) {
		(void)mh_buf_puts(b, "null");
		return;
	}
	(void)mh_buf_puts(b, "\"");
	for (p = (const unsigned char *)s; *p; p++) {
		if (*p == '"' || *p == '\\')
			(void)mh_buf_printf(b, "\\%c", *p);
		else if (*p == '\n')
			(void)mh_buf_puts(b, "\\n");
		else if (*p < 0x20 || *p == 0x7f)
			(void)mh_buf_printf(b, "\\u%04x", *p);
		else
			(void)mh_buf_append(b, p, 1);
	}
	(void)mh_buf_puts(b, "\"");
}

static void
control_time_str(int64_t t, char *buf, size_t sz)
{
	struct tm tm;
	time_t tt = (time_t)t;

	if (t <= 0 || gmtime_r(&tt, &tm) == NULL ||
	    strftime(buf, sz, "%Y-%m-%d %H:%M:%SZ", &tm) == 0)
		mh_strlcpy(buf, "-", sz);
}

/* The rule names of a stored verdict ("rule":"NAME" members), comma
 * separated into buf.  A bounded scan, not a JSON parser: the verdict
 * was written by policy_verdict_json(), and a name is [a-z_] only. */
static void
control_findings(const char *verdict, char *buf, size_t sz)
{
	const char *p = verdict, *key = "\"rule\":\"";
	size_t n, len = 0, count = 0;

	buf[0] = '\0';
	while (p != NULL && (p = strstr(p, key)) != NULL &&
	    count < CONTROL_FINDINGS_MAX) {
		p += strlen(key);
		n = strspn(p, "abcdefghijklmnopqrstuvwxyz_");
		if (n == 0 || p[n] != '"' || len + n + 2 >= sz)
			continue;
		if (len > 0)
			buf[len++] = ',';
		memcpy(buf + len, p, n);
		len += n;
		buf[len] = '\0';
		count++;
	}
}

/* The rule names as a JSON array. */
static void
control_findings_json(struct mh_buf *b, const char *names)
{
	const char *p = names;
	size_t n;
	char one[64];

	(void)mh_buf_puts(b, "[");
	while (*p) {
		n = strcspn(p, ",");
		if (n < sizeof(one)) {
			memcpy(one, p, n);
			one[n] = '\0';
			if (p != names)
				(void)mh_buf_puts(b, ",");
			control_json_str(b, one);
		}
		p += n;
		if (*p == ',')
			p++;
	}
	(void)mh_buf_puts(b, "]");
}

/* Sends {"ok":..,"error":..,"text":..,"result":..} and closes after it
 * has been written.  result is raw JSON or NULL. */
static void
control_reply(struct control_conn *c, const char *error, const char *text,
    const char *result)
{
	struct mh_buf b;

	c->answered = true;
	if (c->bev == NULL)
		return;
	mh_buf_init(&b, CONTROL_REPLY_MAX);
	(void)mh_buf_printf(&b, "{\"ok\":%s", error ? "false" : "true");
	if (error != NULL) {
		(void)mh_buf_puts(&b, ",\"error\":");
		control_json_str(&b, error);
	}
	(void)mh_buf_puts(&b, ",\"text\":");
	control_json_str(&b, text ? text : "");
	if (result != NULL) {
		(void)mh_buf_puts(&b, ",\"result\":");
		(void)mh_buf_puts(&b, result);
	}
	if (mh_buf_puts(&b, "}\n") == -1) {
		mh_buf_reset(&b);
		(void)mh_buf_puts(&b, "{\"ok\":false,\"error\":\"answer too "
		    "large\",\"text\":\"answer too large\"}\n");
	}
	bufferevent_write(c->bev, b.data, b.len);
	bufferevent_disable(c->bev, EV_READ);
	mh_buf_clear(&b);
}

/* ------------------------------------------------------------------ */
/* Connections                                                         */
/* ------------------------------------------------------------------ */

static void
control_conn_free(struct control_conn *c)
{
	TAILQ_REMOVE(&c->ctl->conns, c, entry);
	if (c->bev != NULL)
		bufferevent_free(c->bev);
	free(c->req);
	free(c->ops);
	free(c);
}

/* The peer is gone or the answer is out: free now, or let the last owed
 * completion do it. */
static void
control_conn_close(struct control_conn *c)
{
	if (c->bev != NULL) {
		bufferevent_free(c->bev);
		c->bev = NULL;
	}
	if (c->pending == 0)
		control_conn_free(c);
}

static void
control_cmd_queue(struct control_conn *c)
{
	struct control_request *r = c->req;
	struct queue_summary *v;
	struct mh_buf res, txt;
	char when[32], rules[512];
	size_t n, i;

	if (queue_list(c->ctl->q, r->state_mask, r->by_sender ? r->sender :
	    NULL, CONTROL_LIST_MAX, &v, &n) == -1) {
		control_reply(c, "queue read failed", "queue read failed",
		    NULL);
		return;
	}
	mh_buf_init(&res, CONTROL_REPLY_MAX);
	mh_buf_init(&txt, CONTROL_REPLY_MAX);
	(void)mh_buf_printf(&txt, "%-16s  %-16s  %-20s  %-30s  %5s  %s\n",
	    "ID", "STATE", "RELEASE (UTC)", "SENDER", "RCPTS", "FINDINGS");
	(void)mh_buf_puts(&res, "[");
	for (i = 0; i < n; i++) {
		/* Held and deferred leave at next_attempt; awaiting_release
		 * never leaves by time (release_at is its expiry). */
		int64_t rel = v[i].state == QUEUE_AWAITING_RELEASE ?
		    v[i].release_at : v[i].next_attempt;

		control_findings(v[i].verdict, rules, sizeof(rules));
		(void)mh_buf_printf(&res, "%s{\"id\":\"%s\",\"state\":\"%s\","
		    "\"sender\":", i ? "," : "", v[i].id,
		    queue_state_to_str(v[i].state));
		control_json_str(&res, v[i].sender);
		(void)mh_buf_puts(&res, ",\"auth_user\":");
		control_json_str(&res, v[i].auth_user);
		(void)mh_buf_printf(&res, ",\"recipients\":%zu,"
		    "\"received_at\":%lld,\"release_at\":%lld,"
		    "\"next_attempt\":%lld,\"findings\":", v[i].nrcpts,
		    (long long)v[i].received_at, (long long)v[i].release_at,
		    (long long)v[i].next_attempt);
		control_findings_json(&res, rules);
		(void)mh_buf_puts(&res, ",\"subject\":");
		control_json_str(&res, v[i].subject);
		(void)mh_buf_puts(&res, "}");
		control_time_str(rel, when, sizeof(when));
		(void)mh_buf_printf(&txt, "%-16s  %-16s  %-20s  %-30s  %5zu  "
		    "%s\n", v[i].id, queue_state_to_str(v[i].state),
		    v[i].state == QUEUE_AWAITING_RELEASE ? "(waits)" : when,
		    v[i].sender[0] ? v[i].sender : "<>", v[i].nrcpts,
		    rules[0] ? rules : "-");
		if (v[i].subject != NULL) {
			size_t sl = strlen(v[i].subject);

			/* Cut on a UTF-8 boundary for the terminal. */
			if (sl > 70) {
				sl = 70;
				while (sl > 0 && ((unsigned char)
				    v[i].subject[sl] & 0xc0) == 0x80)
					sl--;
			}
			(void)mh_buf_printf(&txt, "%18s%.*s%s\n", "",
			    (int)sl, v[i].subject,
			    sl < strlen(v[i].subject) ? "..." : "");
		}
	}
	(void)mh_buf_puts(&res, "]");
	(void)mh_buf_printf(&txt, "%zu message%s\n", n, n == 1 ? "" : "s");
	control_reply(c, NULL, txt.data, res.data);
	mh_buf_clear(&res);
	mh_buf_clear(&txt);
	queue_summary_free(v, n);
}

static const char *
control_rcpt_status(int s)
{
	switch (s) {
	case QUEUE_RCPT_SENT:
		return "sent";
	case QUEUE_RCPT_FAILED:
		return "failed";
	default:
		return "pending";
	}
}

static void
control_cmd_show(struct control_conn *c)
{
	struct queue_msg *m;
	struct queue_audit *a = NULL;
	struct mh_buf res, txt;
	char t1[32], t2[32], rules[512];
	size_t i, na = 0;

	if ((m = queue_msg_load(c->ctl->q, c->req->ids[0])) == NULL) {
		control_reply(c, "unknown id", "unknown id", NULL);
		return;
	}
	(void)queue_audit_load(c->ctl->q, m->id, CONTROL_AUDIT_MAX, &a, &na);
	mh_buf_init(&res, CONTROL_REPLY_MAX);
	mh_buf_init(&txt, CONTROL_REPLY_MAX);
	control_findings(m->verdict, rules, sizeof(rules));

	(void)mh_buf_printf(&res, "{\"id\":\"%s\",\"state\":\"%s\","
	    "\"sender\":", m->id, queue_state_to_str(m->state));
	control_json_str(&res, m->sender);
	(void)mh_buf_puts(&res, ",\"auth_user\":");
	control_json_str(&res, m->auth_user);
	(void)mh_buf_puts(&res, ",\"client_addr\":");
	control_json_str(&res, m->client_addr);
	(void)mh_buf_puts(&res, ",\"helo\":");
	control_json_str(&res, m->helo);
	(void)mh_buf_printf(&res, ",\"size\":%zu,\"received_at\":%lld,"
	    "\"release_at\":%lld,\"next_attempt\":%lld,\"attempts\":%d,"
	    "\"last_error\":", m->size, (long long)m->received_at,
	    (long long)m->release_at, (long long)m->next_attempt,
	    m->attempts);
	control_json_str(&res, m->last_error);
	(void)mh_buf_puts(&res, ",\"findings\":");
	control_findings_json(&res, rules);
	/* The stored verdict goes out as a string: it is read back from the
	 * database, and we do not re-parse it here. */
	(void)mh_buf_puts(&res, ",\"verdict\":");
	control_json_str(&res, m->verdict);
	(void)mh_buf_puts(&res, ",\"subject\":");
	control_json_str(&res, m->subject);
	(void)mh_buf_puts(&res, ",\"recipients\":[");

	control_time_str(m->received_at, t1, sizeof(t1));
	control_time_str(m->state == QUEUE_AWAITING_RELEASE ? m->release_at :
	    m->next_attempt, t2, sizeof(t2));
	(void)mh_buf_printf(&txt, "id:          %s\nstate:       %s\n"
	    "subject:     %s\n"
	    "sender:      %s\nauth user:   %s\nclient:      %s (%s)\n"
	    "size:        %zu\nreceived:    %s\n%s %s\nattempts:    %d\n"
	    "last error:  %s\nfindings:    %s\nrecipients:\n", m->id,
	    queue_state_to_str(m->state), m->subject ? m->subject : "-",
	    m->sender[0] ? m->sender : "<>",
	    m->auth_user ? m->auth_user : "-",
	    m->client_addr ? m->client_addr : "-", m->helo ? m->helo : "-",
	    m->size, t1, m->state == QUEUE_AWAITING_RELEASE ?
	    "expires:    " : "due:        ", t2, m->attempts,
	    m->last_error ? m->last_error : "-", rules[0] ? rules : "-");
	for (i = 0; i < m->nrcpts; i++) {
		struct queue_rcpt *r = &m->rcpts[i];

		(void)mh_buf_puts(&res, i ? ",{\"addr\":" : "{\"addr\":");
		control_json_str(&res, r->addr);
		(void)mh_buf_printf(&res, ",\"status\":\"%s\",\"last_reply\":",
		    control_rcpt_status(r->status));
		control_json_str(&res, r->last_reply);
		(void)mh_buf_puts(&res, "}");
		(void)mh_buf_printf(&txt, "  %-40s  %-8s %s\n", r->addr,
		    control_rcpt_status(r->status),
		    r->last_reply ? r->last_reply : "");
	}
	(void)mh_buf_puts(&res, "],\"audit\":[");
	(void)mh_buf_puts(&txt, "history:\n");
	for (i = 0; i < na; i++) {
		(void)mh_buf_printf(&res, "%s{\"at\":%lld,\"actor\":",
		    i ? "," : "", (long long)a[i].at);
		control_json_str(&res, a[i].actor);
		(void)mh_buf_puts(&res, ",\"from\":");
		control_json_str(&res, a[i].from_state);
		(void)mh_buf_puts(&res, ",\"to\":");
		control_json_str(&res, a[i].to_state);
		(void)mh_buf_puts(&res, ",\"why\":");
		control_json_str(&res, a[i].why);
		(void)mh_buf_puts(&res, "}");
		control_time_str(a[i].at, t1, sizeof(t1));
		(void)mh_buf_printf(&txt, "  %s  %-12s %s -> %s  %s\n", t1,
		    a[i].actor, a[i].from_state ? a[i].from_state : "-",
		    a[i].to_state, a[i].why ? a[i].why : "");
	}
	(void)mh_buf_puts(&res, "]}");
	control_reply(c, NULL, txt.data, res.data);
	mh_buf_clear(&res);
	mh_buf_clear(&txt);
	queue_audit_free(a, na);
	queue_msg_free(m);
}

static void
control_cmd_stats(struct control_conn *c)
{
	uint64_t counts[QUEUE_STATE_MAX + 1];
	struct mh_buf res, txt;
	size_t sessions = 0;
	int64_t up = mh_now() - c->ctl->started;
	int s;

	if (queue_count_states(c->ctl->q, counts) == -1) {
		control_reply(c, "queue read failed", "queue read failed",
		    NULL);
		return;
	}
	if (c->ctl->hooks.nsessions != NULL)
		sessions = c->ctl->hooks.nsessions(c->ctl->hooks.arg);
	mh_buf_init(&res, 64 * 1024);
	mh_buf_init(&txt, 64 * 1024);
	(void)mh_buf_puts(&res, "{\"states\":{");
	for (s = 0; s <= QUEUE_STATE_MAX; s++) {
		(void)mh_buf_printf(&res, "%s\"%s\":%llu", s ? "," : "",
		    queue_state_to_str(s), (unsigned long long)counts[s]);
		(void)mh_buf_printf(&txt, "%-18s %llu\n",
		    queue_state_to_str(s), (unsigned long long)counts[s]);
	}
	(void)mh_buf_printf(&res, "},\"sessions\":%zu,\"uptime\":%lld,"
	    "\"version\":\"%s\"}", sessions, (long long)up, MH_VERSION);
	(void)mh_buf_printf(&txt, "%-18s %zu\n%-18s %llds\n%-18s %s\n",
	    "sessions", sessions, "uptime", (long long)up, "version",
	    MH_VERSION);
	control_reply(c, NULL, txt.data, res.data);
	mh_buf_clear(&res);
	mh_buf_clear(&txt);
}

static void
control_cmd_reload(struct control_conn *c)
{
	char err[1024];

	if (c->ctl->hooks.reload == NULL ||
	    c->ctl->hooks.reload(c->ctl->hooks.arg, err, sizeof(err)) == -1) {
		if (c->ctl->hooks.reload == NULL)
			mh_strlcpy(err, "reload not available", sizeof(err));
		control_reply(c, err, err, "{\"reloaded\":false}");
		return;
	}
	control_reply(c, NULL, "reloaded", "{\"reloaded\":true}");
}

/* All release/cancel completions are in: answer. */
static void
control_ops_done(struct control_conn *c)
{
	struct mh_buf res, txt;
	const char *first = NULL, *verb;
	size_t i, nok = 0;

	verb = c->req->cmd == CONTROL_CMD_RELEASE ? "released" : "cancelled";
	mh_buf_init(&res, CONTROL_REPLY_MAX);
	mh_buf_init(&txt, CONTROL_REPLY_MAX);
	(void)mh_buf_puts(&res, "[");
	for (i = 0; i < c->nops; i++) {
		struct control_op *op = &c->ops[i];

		(void)mh_buf_printf(&res, "%s{\"id\":\"%s\",\"ok\":%s", i ?
		    "," : "", op->id, op->error ? "false" : "true");
		if (op->error) {
			(void)mh_buf_puts(&res, ",\"error\":");
			control_json_str(&res, op->error);
			(void)mh_buf_printf(&txt, "%s: %s\n", op->id,
			    op->error);
			if (first == NULL)
				first = op->error;
		} else {
			(void)mh_buf_printf(&txt, "%s: %s\n", op->id, verb);
			nok++;
		}
		(void)mh_buf_puts(&res, "}");
	}
	(void)mh_buf_puts(&res, "]");
	if (c->nops == 0) {
		(void)mh_buf_puts(&txt, "no matching message\n");
		if (c->req->by_sender)
			first = "no matching message";
	}
	control_reply(c, first, txt.data, res.data);
	mh_buf_clear(&res);
	mh_buf_clear(&txt);
}

static void
control_op_cb(int result, void *arg)
{
	struct control_op *op = arg;
	struct control_conn *c = op->c;

	if (result == 1)
		op->error = "state changed meanwhile (being relayed?)";
	else if (result != 0)
		op->error = "queue write failed";
	else if (c->req->cmd == CONTROL_CMD_CANCEL)
		metrics_inc(METRICS_CANCELLED_CTL);
	log_info("id=%s event=%s actor=%s result=%s", op->id,
	    c->req->cmd == CONTROL_CMD_RELEASE ? "ctl_release" : "ctl_cancel",
	    c->actor, op->error ? "failed" : "ok");
	if (--c->pending > 0)
		return;
	if (c->bev == NULL) {
		control_conn_free(c);
		return;
	}
	control_ops_done(c);
}

static const char *
control_state_error(int state)
{
	switch (state) {
	case QUEUE_RELEASING:
		return "being relayed now";
	case QUEUE_SENT:
		return "already sent";
	case QUEUE_FAILED:
		return "already failed";
	case QUEUE_CANCELLED:
		return "already cancelled";
	default:
		return "wrong state";
	}
}

static void
control_cmd_change(struct control_conn *c)
{
	struct control_request *r = c->req;
	struct queue_summary *v = NULL;
	struct queue_msg *m;
	bool rel = r->cmd == CONTROL_CMD_RELEASE;
	int64_t now = mh_now();
	size_t i, n = 0;

	if (r->by_sender) {
		if (queue_list(c->ctl->q, CONTROL_ACTIONABLE, r->sender,
		    CONTROL_SENDER_OPS_MAX, &v, &n) == -1) {
			control_reply(c, "queue read failed",
			    "queue read failed", NULL);
			return;
		}
		c->nops = n;
	} else
		c->nops = r->nids;
	c->ops = xcalloc(c->nops ? c->nops : 1, sizeof(*c->ops));
	for (i = 0; i < c->nops; i++) {
		struct control_op *op = &c->ops[i];

		op->c = c;
		mh_strlcpy(op->id, r->by_sender ? v[i].id : r->ids[i],
		    sizeof(op->id));
		if (!r->by_sender) {
			if ((m = queue_msg_load(c->ctl->q, op->id)) == NULL) {
				op->error = "unknown id";
				continue;
			}
			op->state = m->state;
			queue_msg_free(m);
			if (!(CONTROL_ACTIONABLE & (1u << op->state))) {
				op->error = control_state_error(op->state);
				continue;
			}
		}
		/* Release: back to held and due now, whatever the state
		 * it waited in; the scheduler takes it from there. */
		if (queue_set_state(c->ctl->q, op->id, CONTROL_ACTIONABLE,
		    rel ? QUEUE_HELD : QUEUE_CANCELLED, rel ? now : -1,
		    c->actor, rel ? "released by mailholdctl" :
		    "cancelled by mailholdctl", control_op_cb, op) == -1) {
			op->error = "queue write failed";
			continue;
		}
		c->pending++;
	}
	queue_summary_free(v, n);
	if (c->pending == 0)
		control_ops_done(c);
}

/* ------------------------------------------------------------------ */
/* hold get / set / unset                                              */
/* ------------------------------------------------------------------ */

static const struct config *
control_conf(struct control *ctl)
{
	return ctl->hooks.config != NULL ? ctl->hooks.config(ctl->hooks.arg) :
	    NULL;
}

static void
control_cmd_hold_get(struct control_conn *c)
{
	const struct config *conf = control_conf(c->ctl);
	struct queue_hold *v = NULL;
	struct mh_buf res, txt;
	char d[32], t[64];
	size_t i, n = 0;
	int r;

	if (conf == NULL || queue_holds_load(c->ctl->q, &v, &n) == -1) {
		control_reply(c, "queue read failed", "queue read failed",
		    NULL);
		return;
	}
	mh_buf_init(&res, CONTROL_REPLY_MAX);
	mh_buf_init(&txt, CONTROL_REPLY_MAX);
	mh_fmt_duration(conf->hold_default, d, sizeof(d));
	(void)mh_buf_printf(&res, "{\"config\":{\"default\":%lld,"
	    "\"max\":%lld,\"rules\":{", (long long)conf->hold_default,
	    (long long)conf->hold_max);
	(void)mh_buf_printf(&txt, "config: hold.default %s", d);
	mh_fmt_duration(conf->hold_max, d, sizeof(d));
	(void)mh_buf_printf(&txt, ", hold.max %s\n", d);
	for (r = 0; r < POLICY_R_COUNT; r++) {
		const struct policy_rule_config *rc = &conf->policy.rules[r];

		(void)mh_buf_printf(&res, "%s\"%s\":%lld", r ? "," : "",
		    policy_rule_to_str((enum policy_rule)r),
		    (long long)rc->hold);
	}
	(void)mh_buf_puts(&res, "}},\"set\":[");
	if (n == 0)
		(void)mh_buf_puts(&txt, "no hold window set at run time\n");
	for (i = 0; i < n; i++) {
		mh_fmt_duration(v[i].hold, d, sizeof(d));
		control_time_str(v[i].set_at, t, sizeof(t));
		(void)mh_buf_printf(&res, "%s{\"scope\":\"%s\",\"key\":",
		    i ? "," : "", queue_hold_scope_to_str(v[i].scope));
		control_json_str(&res, v[i].key);
		(void)mh_buf_printf(&res, ",\"hold\":%lld,\"set_at\":%lld,"
		    "\"set_by\":", (long long)v[i].hold,
		    (long long)v[i].set_at);
		control_json_str(&res, v[i].set_by);
		(void)mh_buf_puts(&res, "}");
		(void)mh_buf_printf(&txt, "%-8s %-32s %-6s set %s by %s\n",
		    queue_hold_scope_to_str(v[i].scope), *v[i].key ?
		    v[i].key : "-", d, t, v[i].set_by);
	}
	(void)mh_buf_puts(&res, "]}");
	control_reply(c, NULL, txt.data, res.data);
	mh_buf_clear(&res);
	mh_buf_clear(&txt);
	queue_holds_free(v, n);
}

static void
control_hold_done(int result, void *arg)
{
	struct control_conn *c = arg;
	struct control_request *r = c->req;
	char d[32], txt[512], res[512];

	c->pending--;
	if (result == 0) {
		if (c->ctl->hooks.holds_changed != NULL)
			c->ctl->hooks.holds_changed(c->ctl->hooks.arg);
	}
	log_info("event=ctl_hold actor=%s op=%s scope=%s key=\"%s\" "
	    "hold=%lld rescheduled=%lld result=%s", c->actor,
	    r->hold_op == CONTROL_HOLD_SET ? "set" : "unset",
	    queue_hold_scope_to_str(r->hold_scope), r->hold_key,
	    (long long)r->hold_secs, (long long)(result == 0 ? c->changed : 0),
	    result == 0 ? "ok" : result == 1 ? "not_set" : "failed");
	if (c->bev == NULL) {
		control_conn_free(c);
		return;
	}
	if (result == 1) {
		control_reply(c, "no such hold window", "no such hold window "
		    "(see: hold get)", NULL);
		return;
	}
	if (result != 0) {
		control_reply(c, "queue write failed", "queue write failed",
		    NULL);
		return;
	}
	mh_fmt_duration(r->hold_secs, d, sizeof(d));
	(void)mh_snprintf(txt, sizeof(txt), "hold %s%s%s %s%s",
	    queue_hold_scope_to_str(r->hold_scope), *r->hold_key ? " " : "",
	    r->hold_key, r->hold_op == CONTROL_HOLD_SET ? "set to " :
	    "unset (the config's value applies)", r->hold_op ==
	    CONTROL_HOLD_SET ? d : "");
	if (r->reschedule)
		(void)mh_snprintf(txt + strlen(txt), sizeof(txt) - strlen(txt),
		    "; %lld held message(s) rescheduled", (long long)c->changed);
	(void)mh_snprintf(res, sizeof(res), "{\"scope\":\"%s\",\"hold\":%lld,"
	    "\"rescheduled\":%lld}", queue_hold_scope_to_str(r->hold_scope),
	    (long long)(r->hold_op == CONTROL_HOLD_SET ? r->hold_secs : -1),
	    (long long)c->changed);
	mh_strlcpy(txt + strlen(txt), "\n", sizeof(txt) - strlen(txt));
	control_reply(c, NULL, txt, res);
}

static void
control_cmd_hold(struct control_conn *c)
{
	const struct config *conf = control_conf(c->ctl);
	struct control_request *r = c->req;
	char a[32], b[32], err[128];

	if (r->hold_op == CONTROL_HOLD_GET) {
		control_cmd_hold_get(c);
		return;
	}
	if (conf != NULL && r->hold_op == CONTROL_HOLD_SET &&
	    r->hold_secs > conf->hold_max) {
		mh_fmt_duration(r->hold_secs, a, sizeof(a));
		mh_fmt_duration(conf->hold_max, b, sizeof(b));
		(void)mh_snprintf(err, sizeof(err), "%s is longer than "
		    "hold.max (%s)", a, b);
		control_reply(c, err, err, NULL);
		return;
	}
	if (r->hold_op == CONTROL_HOLD_SET) {
		struct queue_hold *v = NULL;
		size_t n = 0, i;
		bool exists = false;

		/* Windows past QUEUE_HOLDS_MAX would never be loaded. */
		if (queue_holds_load(c->ctl->q, &v, &n) == -1) {
			control_reply(c, "queue read failed",
			    "queue read failed", NULL);
			return;
		}
		for (i = 0; i < n; i++)
			if (v[i].scope == r->hold_scope &&
			    strcmp(v[i].key, r->hold_key) == 0)
				exists = true;
		queue_holds_free(v, n);
		if (!exists && n >= QUEUE_HOLDS_MAX) {
			control_reply(c, "too many hold windows",
			    "too many hold windows (unset some first)", NULL);
			return;
		}
	}
	if (queue_hold_set(c->ctl->q, r->hold_scope, r->hold_key,
	    r->hold_op == CONTROL_HOLD_SET ? r->hold_secs : -1,
	    r->reschedule ? r->hold_secs : -1, c->actor, &c->changed,
	    control_hold_done, c) == -1) {
		control_reply(c, "queue write failed", "queue write failed",
		    NULL);
		return;
	}
	c->pending++;
}

static void
control_backup_done(int result, const char *error, long long bytes,
    void *arg)
{
	struct control_conn *c = arg;
	char esc[1300], eesc[1300];
	struct mh_buf j, txt;

	c->pending--;
	c->ctl->backup = NULL;
	/* Both may hold the path as given: escaped, cut (STYLE G4). */
	mh_log_escape_utf8(c->req->path, strlen(c->req->path), 300, esc,
	    sizeof(esc));
	if (result == 0)
		log_info("event=ctl_backup actor=%s file=\"%s\" bytes=%lld "
		    "result=ok", c->actor, esc, bytes);
	else
		log_warnx("event=ctl_backup actor=%s file=\"%s\" result=failed "
		    "error=\"%s\"", c->actor, esc, mh_log_escape_utf8(error,
		    strlen(error), 300, eesc, sizeof(eesc)));
	if (c->bev == NULL) {
		control_conn_free(c);
		return;
	}
	if (result != 0) {
		control_reply(c, error, error, NULL);
		return;
	}
	mh_buf_init(&txt, CONTROL_PATH_MAX + 256);
	(void)mh_buf_printf(&txt, "backup written to %s (%lld bytes); "
	    "restore: see docs/ADMIN.md, section 8\n", c->req->path, bytes);
	mh_buf_init(&j, CONTROL_PATH_MAX * 6 + 64);	/* \uXXXX each */
	(void)mh_buf_puts(&j, "{\"file\":");
	control_json_str(&j, c->req->path);
	(void)mh_buf_printf(&j, ",\"bytes\":%lld}", bytes);
	control_reply(c, NULL, txt.data, j.data);
	mh_buf_clear(&txt);
	mh_buf_clear(&j);
}

/* The copy runs on a thread of its own (queue/queue_backup.c); the
 * answer comes when it is written and checked. */
static void
control_cmd_backup(struct control_conn *c)
{
	const struct config *conf = control_conf(c->ctl);
	char err[CONTROL_PATH_MAX + 256];

	if (conf == NULL) {
		control_reply(c, "no configuration", "no configuration", NULL);
		return;
	}
	/* The daemon writes the file with its own rights: only root or
	 * its own user may choose where (not every control.group member). */
	if (c->uid != 0 && c->uid != (unsigned)geteuid()) {
		control_reply(c, "backup is for root or the daemon's user",
		    "backup is for root or the daemon's user (the file is "
		    "written with the daemon's rights)", NULL);
		return;
	}
	if (c->ctl->backup != NULL) {
		control_reply(c, "a backup is already running",
		    "a backup is already running; try again when it is done",
		    NULL);
		return;
	}
	c->ctl->backup = queue_backup_start(c->ctl->base, conf->queue_path,
	    c->req->path, control_backup_done, c, err, sizeof(err));
	if (c->ctl->backup == NULL) {
		control_reply(c, err, err, NULL);
		return;
	}
	c->pending++;
}

static void
control_dispatch(struct control_conn *c, const char *line, size_t len)
{
	char esc[256];
	const char *err;

	bufferevent_disable(c->bev, EV_READ);
	mh_log_escape(line, len, 100, esc, sizeof(esc));
	log_info("event=control uid=%u gid=%u pid=%d request=\"%s\"", c->uid,
	    c->gid, c->pid, esc);
	c->req = xcalloc(1, sizeof(*c->req));
	if ((err = control_parse_request(line, len, c->req)) != NULL) {
		log_info("event=control uid=%u result=refused error=\"%s\"",
		    c->uid, err);
		control_reply(c, err, err, NULL);
		return;
	}
	switch (c->req->cmd) {
	case CONTROL_CMD_QUEUE:
		control_cmd_queue(c);
		break;
	case CONTROL_CMD_SHOW:
		control_cmd_show(c);
		break;
	case CONTROL_CMD_RELEASE:
	case CONTROL_CMD_CANCEL:
		control_cmd_change(c);
		break;
	case CONTROL_CMD_STATS:
		control_cmd_stats(c);
		break;
	case CONTROL_CMD_RELOAD:
		log_info("event=reload actor=%s", c->actor);
		control_cmd_reload(c);
		break;
	case CONTROL_CMD_HOLD:
		control_cmd_hold(c);
		break;
	case CONTROL_CMD_BACKUP:
		log_info("event=ctl_backup actor=%s result=started", c->actor);
		control_cmd_backup(c);
		break;
	}
}

static void
control_read_cb(struct bufferevent *bev, void *arg)
{
	struct control_conn *c = arg;
	struct evbuffer *in = bufferevent_get_input(bev);
	struct evbuffer_ptr eol;
	size_t len;
	char *line;

	if (c->req != NULL)
		return;		/* one request per connection */
	eol = evbuffer_search_eol(in, NULL, NULL, EVBUFFER_EOL_LF);
	if (eol.pos == -1) {
		if (evbuffer_get_length(in) >= CONTROL_LINE_MAX) {
			c->req = xcalloc(1, sizeof(*c->req));
			control_reply(c, "request too long",
			    "request too long", NULL);
		}
		return;
	}
	len = (size_t)eol.pos;
	if (len >= CONTROL_LINE_MAX) {
		c->req = xcalloc(1, sizeof(*c->req));
		control_reply(c, "request too long", "request too long", NULL);
		return;
	}
	line = xmalloc(len + 1);
	evbuffer_remove(in, line, len + 1);
	line[len] = '\0';
	control_dispatch(c, line, len);
	free(line);
}

static void
control_write_cb(struct bufferevent *bev, void *arg)
{
	struct control_conn *c = arg;

	if (c->answered && evbuffer_get_length(bufferevent_get_output(bev)) ==
	    0)
		control_conn_close(c);	/* may free c */
}

static void
control_event_cb(struct bufferevent *bev, short what, void *arg)
{
	struct control_conn *c = arg;

	if ((what & BEV_EVENT_TIMEOUT) && c->req == NULL) {
		c->req = xcalloc(1, sizeof(*c->req));
		control_reply(c, "timeout", "timeout", NULL);
		return;
	}
	control_conn_close(c);		/* may free c */
}

static void
control_accept_cb(struct evconnlistener *lev, evutil_socket_t fd,
    struct sockaddr *sa, int salen, void *arg)
{
	struct control *ctl = arg;
	struct control_conn *c;
	struct ucred cred;
	socklen_t cl = sizeof(cred);
	struct timeval tv = { CONTROL_TIMEOUT_S, 0 };

	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &cl) == -1) {
		log_warn("event=control error=\"SO_PEERCRED\"");
		close(fd);
		return;
	}
	c = xcalloc(1, sizeof(*c));
	c->ctl = ctl;
	c->uid = (unsigned)cred.uid;
	c->gid = (unsigned)cred.gid;
	c->pid = (int)cred.pid;
	(void)mh_snprintf(c->actor, sizeof(c->actor), "ctl:uid=%u", c->uid);
	c->bev = bufferevent_socket_new(ctl->base, fd, BEV_OPT_CLOSE_ON_FREE);
	if (c->bev == NULL) {
		log_warnx("event=control error=\"bufferevent_socket_new\"");
		close(fd);
		free(c);
		return;
	}
	TAILQ_INSERT_TAIL(&ctl->conns, c, entry);
	bufferevent_setcb(c->bev, control_read_cb, control_write_cb,
	    control_event_cb, c);
	bufferevent_setwatermark(c->bev, EV_READ, 0, CONTROL_LINE_MAX + 1);
	bufferevent_set_timeouts(c->bev, &tv, &tv);
	bufferevent_enable(c->bev, EV_READ | EV_WRITE);
}

/* ------------------------------------------------------------------ */
/* Socket                                                              */
/* ------------------------------------------------------------------ */

/* A socket file left by a daemon that died is removed; one somebody
 * listens on is an error (another mailhold), and so is any other file. */
static int
control_unlink_stale(const struct sockaddr_un *sun)
{
	struct stat sb;
	int fd, r;

	if (lstat(sun->sun_path, &sb) == -1)
		return errno == ENOENT ? 0 : -1;
	if (!S_ISSOCK(sb.st_mode)) {
		log_warnx("event=control error=\"%s exists and is not a "
		    "socket\"", sun->sun_path);
		return -1;
	}
	if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) == -1)
		return -1;
	r = connect(fd, (const struct sockaddr *)sun, sizeof(*sun));
	close(fd);
	if (r == 0) {
		log_warnx("event=control error=\"%s: another daemon listens "
		    "on it\"", sun->sun_path);
		return -1;
	}
	if (errno != ECONNREFUSED) {
		log_warn("event=control error=\"%s\"", sun->sun_path);
		return -1;
	}
	log_info("event=control note=\"removing stale socket %s\"",
	    sun->sun_path);
	return unlink(sun->sun_path);
}

static int
control_mkdir_parent(const char *path)
{
	char dir[sizeof(((struct sockaddr_un *)0)->sun_path)], *p;

	if (mh_strlcpy(dir, path, sizeof(dir)) >= sizeof(dir))
		return -1;
	if ((p = strrchr(dir, '/')) == NULL || p == dir)
		return 0;
	*p = '\0';
	if (mkdir(dir, 0750) == -1 && errno != EEXIST)
		return -1;
	return 0;
}

struct control *
control_new(struct event_base *base, const struct config *conf,
    struct queue *q, const struct control_hooks *hooks)
{
	struct control *ctl;
	struct sockaddr_un sun;
	struct group *gr = NULL;
	struct stat sb;
	mode_t mode = 0, old;
	const char *p;
	int fd;

	for (p = conf->control_mode; *p; p++)	/* checked by config */
		mode = (mode_t)(mode * 8 + (mode_t)(*p - '0'));
	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	if (mh_strlcpy(sun.sun_path, conf->control_socket,
	    sizeof(sun.sun_path)) >= sizeof(sun.sun_path)) {
		log_warnx("event=control error=\"control.socket too long\"");
		return NULL;
	}
	if (conf->control_group != NULL &&
	    (gr = getgrnam(conf->control_group)) == NULL) {
		log_warnx("event=control error=\"control.group %s: no such "
		    "group\"", conf->control_group);
		return NULL;
	}
	if (control_mkdir_parent(sun.sun_path) == -1 ||
	    control_unlink_stale(&sun) == -1)
		return NULL;
	if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC,
	    0)) == -1) {
		log_warn("event=control error=\"socket\"");
		return NULL;
	}
	/* Created with the mode (no window with looser permissions). */
	old = umask(0777 & ~mode);
	if (bind(fd, (struct sockaddr *)&sun, sizeof(sun)) == -1) {
		umask(old);
		log_warn("event=control error=\"bind %s\"", sun.sun_path);
		close(fd);
		return NULL;
	}
	umask(old);
	if ((gr != NULL && chown(sun.sun_path, (uid_t)-1, gr->gr_gid) == -1) ||
	    chmod(sun.sun_path, mode) == -1 || stat(sun.sun_path, &sb) == -1) {
		log_warn("event=control error=\"chown/chmod %s\"",
		    sun.sun_path);
		unlink(sun.sun_path);
		close(fd);
		return NULL;
	}
	ctl = xcalloc(1, sizeof(*ctl));
	ctl->base = base;
	ctl->q = q;
	if (hooks != NULL)
		ctl->hooks = *hooks;
	ctl->path = xstrdup(sun.sun_path);
	ctl->dev = sb.st_dev;
	ctl->ino = sb.st_ino;
	ctl->started = mh_now();
	TAILQ_INIT(&ctl->conns);
	ctl->lev = evconnlistener_new(base, control_accept_cb, ctl,
	    LEV_OPT_CLOSE_ON_FREE | LEV_OPT_CLOSE_ON_EXEC, 16, fd);
	if (ctl->lev == NULL) {
		log_warn("event=control error=\"listen %s\"", sun.sun_path);
		unlink(sun.sun_path);
		close(fd);
		free(ctl->path);
		free(ctl);
		return NULL;
	}
	ctl->bo = lbackoff_new(base, ctl->lev, "control");
	log_info("event=control_listening path=%s mode=%04o group=%s",
	    ctl->path, (unsigned)mode, gr ? gr->gr_name : "-");
	return ctl;
}

void
control_free(struct control *ctl)
{
	struct control_conn *c;
	struct stat sb;

	if (ctl == NULL)
		return;
	/* A copy still running is stopped and removed (no callback). */
	queue_backup_abort(ctl->backup);
	ctl->backup = NULL;
	while ((c = TAILQ_FIRST(&ctl->conns)) != NULL) {
		c->pending = 0;	/* queue_close() ran every completion */
		control_conn_free(c);
	}
	lbackoff_free(ctl->bo);
	evconnlistener_free(ctl->lev);
	/* Only our own socket: a new daemon may already have replaced it. */
	if (stat(ctl->path, &sb) == 0 && sb.st_dev == ctl->dev &&
	    sb.st_ino == ctl->ino)
		unlink(ctl->path);
	free(ctl->path);
	free(ctl);
}
