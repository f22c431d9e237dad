/*
 * screen.c - see screen.h.
 */
#include "screen.h"

#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

#include "alert.h"
#include "config.h"
#include "header.h"
#include "log.h"
#include "metrics.h"
#include "policy.h"
#include "queue.h"
#include "token.h"
#include "util.h"

#define SCREEN_JSON_MAX	(64 * 1024)

/* The decoded Subject cut to SCREEN_SUBJECT_MAX octets without splitting
 * a UTF-8 character; control characters become spaces. */
static char *
screen_subject(const char *s)
{
	size_t len, i;
	char *out;

	if (s == NULL)
		return NULL;
	len = strlen(s);
	if (len > SCREEN_SUBJECT_MAX) {
		len = SCREEN_SUBJECT_MAX;
		while (len > 0 && ((unsigned char)s[len] & 0xc0) == 0x80)
			len--;
	}
	out = xstrndup(s, len);
	for (i = 0; i < len; i++)
		if ((unsigned char)out[i] < 0x20 || out[i] == 0x7f)
			out[i] = ' ';
	return out;
}

struct screen_holds {
	struct queue_hold	*v;
	size_t			 n;
};

struct screen_holds *
screen_holds_load(struct queue *q)
{
	struct screen_holds *h = xcalloc(1, sizeof(*h));

	if (q == NULL || queue_holds_load(q, &h->v, &h->n) == -1) {
		free(h);
		return NULL;
	}
	return h;
}

void
screen_holds_free(struct screen_holds *h)
{
	if (h == NULL)
		return;
	queue_holds_free(h->v, h->n);
	free(h);
}

/* Is domain d (lowercase) the domain of addr, or a parent of it? */
static bool
screen_domain_match(const char *addr, const char *d)
{
	const char *at = strrchr(addr, '@');
	size_t al, dl = strlen(d);

	if (at == NULL)
		return false;
	at++;
	al = strlen(at);
	if (al < dl || mh_strcasecmp(at + al - dl, d) != 0)
		return false;
	return al == dl || at[al - dl - 1] == '.';
}

/*
 * The baseline for one message: per recipient, the longest domain
 * window that matches it, else the sender's window (user, else default,
 * else hold.default); the message takes the longest of those.  So a short
 * window for one partner domain never shortens the hold of the other
 * recipients on the same message.
 */
static void
screen_holds_apply(const struct screen_holds *h, int64_t config_default,
    const char *sender_key, const char *const *rcpts, size_t nrcpts,
    struct policy_holds *out)
{
	int64_t user = -1, dflt = -1, base, best = -1, w;
	size_t i, j;
	int r;

	for (r = 0; r < POLICY_R_COUNT; r++)
		out->rule[r] = -1;
	for (i = 0; i < h->n; i++) {
		const struct queue_hold *e = &h->v[i];

		if (e->scope == QUEUE_HOLD_DEFAULT)
			dflt = e->hold;
		else if (e->scope == QUEUE_HOLD_RULE &&
		    (r = policy_rule_parse(e->key)) >= 0)
			out->rule[r] = e->hold;
		else if (e->scope == QUEUE_HOLD_USER && sender_key != NULL &&
		    mh_strcasecmp(sender_key, e->key) == 0 && e->hold > user)
			user = e->hold;
	}
	base = user >= 0 ? user : dflt >= 0 ? dflt : config_default;
	for (j = 0; j < nrcpts; j++) {
		w = -1;
		for (i = 0; i < h->n; i++)
			if (h->v[i].scope == QUEUE_HOLD_DOMAIN &&
			    screen_domain_match(rcpts[j], h->v[i].key) &&
			    h->v[i].hold > w)
				w = h->v[i].hold;
		if ((w >= 0 ? w : base) > best)
			best = w >= 0 ? w : base;
	}
	out->hold_default = nrcpts > 0 ? best : base;
}

/* "burst,typo_domain" (the queue's form) as policy rule bits; unknown
 * names are left out. */
static unsigned
screen_rules(const char *list)
{
	char name[64];
	unsigned bits = 0;
	size_t n;
	int r;

	while (list != NULL && *list != '\0') {
		n = strcspn(list, ",");
		if (n < sizeof(name)) {
			memcpy(name, list, n);
			name[n] = '\0';
			if ((r = policy_rule_parse(name)) >= 0)
				bits |= 1u << r;
		}
		list += n;
		if (*list == ',')
			list++;
	}
	return bits;
}

struct policy_verdict *
screen_message(const struct config *conf, struct queue *q,
    const struct screen_holds *holds, const char *auth_user,
    const char *mail_from, const char *const *rcpts, size_t nrcpts,
    const char *msg, size_t len, int64_t now, char **subject)
{
	struct policy_holds ph;
	struct policy_envelope env;
	struct policy_history hist;
	struct policy_input in;
	struct policy_send *recent = NULL;
	struct queue_history qh;
	struct header_msg hdr;
	struct policy_verdict *v;
	const struct policy_config *pc = &conf->policy;
	int64_t window;
	size_t i;
	bool have_hist = false;

	memset(&env, 0, sizeof(env));
	env.auth_user = auth_user;
	env.mail_from = mail_from;
	env.rcpts = rcpts;
	env.nrcpts = nrcpts;

	header_msg_init(&hdr);
	(void)header_parse(msg, len < SCREEN_SCAN_MAX ? len : SCREEN_SCAN_MAX,
	    NULL, &hdr);	/* defects become a malformed_header finding */

	memset(&hist, 0, sizeof(hist));
	window = pc->burst_window > pc->carryover_window ? pc->burst_window :
	    pc->carryover_window;
	if (q != NULL && queue_history_load(q, auth_user ? auth_user :
	    mail_from, rcpts, nrcpts, now - window, &qh) == 0) {
		have_hist = true;
		hist.addrs = (const char *const *)qh.addrs;
		hist.naddrs = qh.naddrs;
		hist.domains = (const char *const *)qh.domains;
		hist.ndomains = qh.ndomains;
		if (qh.nrecent > 0) {
			recent = xcalloc(qh.nrecent, sizeof(*recent));
			for (i = 0; i < qh.nrecent; i++) {
				recent[i].time = qh.recent[i].time;
				recent[i].rcpts =
				    (const char *const *)qh.recent[i].rcpts;
				recent[i].nrcpts = qh.recent[i].nrcpts;
				recent[i].known = qh.recent[i].known;
				recent[i].rules =
				    screen_rules(qh.recent[i].rules);
				recent[i].released = qh.recent[i].released;
			}
		}
		hist.recent = recent;
		hist.nrecent = qh.nrecent;
	}

	memset(&in, 0, sizeof(in));
	if (holds != NULL && holds->n > 0) {
		screen_holds_apply(holds, conf->hold_default, auth_user ?
		    auth_user : mail_from, rcpts, nrcpts, &ph);
		in.holds = &ph;
	}
	in.env = &env;
	in.hdr = &hdr;
	in.msg = msg;
	in.msg_len = len < SCREEN_SCAN_MAX ? len : SCREEN_SCAN_MAX;
	in.hist = &hist;
	in.now = now;
	v = policy_evaluate(conf->policy_compiled, &in);
	if (subject != NULL)
		*subject = screen_subject(hdr.subject);

	free(recent);
	if (have_hist)
		queue_history_clear(&qh);
	header_msg_clear(&hdr);
	return v;
}

char *
screen_verdict_json(const struct policy_verdict *v)
{
	struct mh_buf b;

	mh_buf_init(&b, SCREEN_JSON_MAX);
	if (policy_verdict_json(v, &b) == -1) {
		mh_buf_clear(&b);
		return NULL;
	}
	return mh_buf_steal(&b, NULL);
}

void
screen_log(const char *id, const struct policy_verdict *v)
{
	size_t i;

	for (i = 0; i < v->nfindings; i++) {
		const struct policy_finding *f = &v->findings[i];
		char esc[256];

		/* Finding texts come from the policy; details may quote
		 * recipient domains: escape them. */
		metrics_finding(policy_rule_to_str(f->rule));
		log_info("id=%s event=finding rule=%s mode=%s action=%s "
		    "nrcpt=%zu detail=\"%s\"", id, policy_rule_to_str(f->rule),
		    policy_mode_to_str(f->mode),
		    policy_action_to_str(f->action), f->nrcpts_total,
		    f->detail ? mh_log_escape(f->detail, strlen(f->detail), 100,
		    esc, sizeof(esc)) : "");
	}
	log_info("id=%s event=verdict action=%s hold=%lld findings=%zu", id,
	    policy_action_to_str(v->action), (long long)v->hold,
	    v->nfindings);
}

/* The enforced findings in the queue's form. */
static void
screen_findings(struct queue_msg_new *m, const struct policy_verdict *v)
{
	struct queue_finding *qf;
	size_t i, j, n = 0;

	for (i = 0; i < v->nfindings; i++)
		if (v->findings[i].mode == POLICY_M_ENFORCE)
			n++;
	if (n > QUEUE_FINDINGS_MAX)
		n = QUEUE_FINDINGS_MAX;
	if (n == 0)
		return;
	m->findings = xcalloc(n, sizeof(*m->findings));
	for (i = 0; i < v->nfindings && m->nfindings < n; i++) {
		const struct policy_finding *f = &v->findings[i];

		if (f->mode != POLICY_M_ENFORCE)
			continue;
		qf = &m->findings[m->nfindings++];
		qf->rule = xstrdup(policy_rule_to_str(f->rule));
		qf->severity = xstrdup(policy_severity_to_str(f->severity));
		qf->nrcpts = f->nrcpts < QUEUE_FINDING_RCPTS_MAX ? f->nrcpts :
		    QUEUE_FINDING_RCPTS_MAX;
		qf->rcpts = xcalloc(qf->nrcpts ? qf->nrcpts : 1,
		    sizeof(*qf->rcpts));
		for (j = 0; j < qf->nrcpts; j++)
			qf->rcpts[j] = xstrdup(f->rcpts[j]);
		qf->suggestion = f->suggestion ? xstrdup(f->suggestion) : NULL;
		qf->msg_en = xstrdup(f->msg_en ? f->msg_en : "");
		qf->msg_ja = xstrdup(f->msg_ja ? f->msg_ja : "");
	}
}

void
screen_attach(const struct config *conf, struct queue_msg_new *m,
    const struct policy_verdict *v, char **subject, int64_t now)
{
	struct alert_view av;
	struct alert_finding *af = NULL;
	struct queue_msg_new *a;
	char tok[TOKEN_LEN + 1], *url = NULL;
	enum alert_lang lang;
	size_t i, len;

	m->subject = *subject;
	*subject = NULL;
	screen_findings(m, v);
	if (conf->notify_alerts == CONFIG_NOTIFY_NEVER ||
	    (conf->notify_alerts == CONFIG_NOTIFY_ON_FINDING &&
	    m->nfindings == 0) || (m->flags & QUEUE_F_NOTICE))
		return;
	if (m->sender == NULL || m->sender[0] == '\0') {
		log_info("id=%s event=alert_skipped reason=\"null sender\"",
		    m->id);
		return;
	}
	if (conf->web_enabled) {
		m->token = xcalloc(1, sizeof(*m->token));
		if (token_new(tok, m->token) == -1) {
			/* No CSPRNG: the alert still goes, without a link. */
			log_warnx("id=%s event=alert_error error=\"no random "
			    "token\"", m->id);
			free(m->token);
			m->token = NULL;
		} else {
			len = strlen(conf->web_base_url) + 3 + TOKEN_LEN + 1;
			url = xmalloc(len);
			(void)mh_snprintf(url, len, "%s/m/%s",
			    conf->web_base_url, tok);
			OPENSSL_cleanse(tok, sizeof(tok));
		}
	}
	lang = (enum alert_lang)config_user_lang(conf, m->auth_user,
	    m->sender);
	af = xcalloc(m->nfindings ? m->nfindings : 1, sizeof(*af));
	for (i = 0; i < m->nfindings; i++) {
		af[i].rule = m->findings[i].rule;
		af[i].text = lang == ALERT_LANG_JA ? m->findings[i].msg_ja :
		    m->findings[i].msg_en;
		af[i].suggestion = m->findings[i].suggestion;
		af[i].rcpts = (const char *const *)m->findings[i].rcpts;
		af[i].nrcpts = m->findings[i].nrcpts;
	}
	memset(&av, 0, sizeof(av));
	av.lang = lang;
	av.hostname = conf->hostname;
	av.from_addr = conf->notify_from;
	av.id = m->id;
	av.to = m->sender;
	av.subject = m->subject;
	av.rcpts = (const char *const *)m->rcpts;
	av.nrcpts = m->nrcpts;
	av.findings = af;
	av.nfindings = m->nfindings;
	av.awaiting = m->state == QUEUE_AWAITING_RELEASE;
	av.now = now;
	av.release_at = m->release_at;
	av.url = url;

	a = xcalloc(1, sizeof(*a));
	queue_id_new(a->id);
	a->body = alert_build(&av, &a->body_len);
	a->body_fd = -1;
	a->sender = xstrdup("");
	a->rcpts = xcalloc(1, sizeof(*a->rcpts));
	a->rcpts[0] = xstrdup(m->sender);
	a->nrcpts = 1;
	a->client_addr = xstrdup("local");
	a->helo = xstrdup(conf->hostname);
	/* The alert's body is 7-bit (encoded parts, RFC 2047 header). */
	a->flags = QUEUE_F_NOTICE |
	    (mh_is_ascii(m->sender, strlen(m->sender)) ? 0 : QUEUE_F_SMTPUTF8);
	a->received_at = now;
	a->release_at = now;
	a->state = QUEUE_HELD;
	m->alert = a;
	{
		char esc[700];

		log_info("id=%s event=alert alert_id=%s to=\"<%s>\" lang=%s "
		    "link=%s", m->id, a->id, mh_log_escape_utf8(m->sender,
		    strlen(m->sender), 320, esc, sizeof(esc)),
		    alert_lang_to_str(lang), url ? "yes" : "no");
	}
	if (url != NULL) {
		OPENSSL_cleanse(url, strlen(url));
		free(url);
	}
	free(af);
}
