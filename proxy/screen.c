/*
 * screen.c - see screen.h.
 */
#include "screen.h"

#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "header.h"
#include "log.h"
#include "policy.h"
#include "queue.h"
#include "util.h"

#define SCREEN_JSON_MAX	(64 * 1024)

struct policy_verdict *
screen_message(const struct config *conf, struct queue *q,
    const char *auth_user, const char *mail_from, const char *const *rcpts,
    size_t nrcpts, const char *msg, size_t len, int64_t now)
{
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
			}
		}
		hist.recent = recent;
		hist.nrecent = qh.nrecent;
	}

	memset(&in, 0, sizeof(in));
	in.env = &env;
	in.hdr = &hdr;
	in.msg = msg;
	in.msg_len = len < SCREEN_SCAN_MAX ? len : SCREEN_SCAN_MAX;
	in.hist = &hist;
	in.now = now;
	v = policy_evaluate(conf->policy_compiled, &in);

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
