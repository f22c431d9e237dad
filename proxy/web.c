/*
 * web.c - see web.h.
 */
#include "web.h"
#include "web_priv.h"

#include <sys/queue.h>
#include <sys/socket.h>

#include <arpa/inet.h>
#include <netinet/in.h>

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <openssl/ssl.h>

#include "alert.h"
#include "auth.h"
#include "config.h"
#include "httpconn.h"
#include "lbackoff.h"
#include "log.h"
#include "metrics.h"
#include "queue.h"
#include "tls.h"
#include "token.h"
#include "util.h"
#include "webpage.h"

#define WEB_HEADERS_MAX		(8 * 1024)
#define WEB_BODY_MAX		(4 * 1024)
#define WEB_FORM_MAX		1024	/* octets of the form we read */
#define WEB_UA_MAX		200	/* user agent octets in audit rows */
#define WEB_LIMITER_KEYS	100000
#define WEB_CSP			"default-src 'none'; style-src 'self'; " \
				"img-src 'self'; form-action 'self'; "    \
				"frame-ancestors 'none'; base-uri 'none'"
#define WEB_ACTIONABLE		((1u << QUEUE_HELD) |			\
				 (1u << QUEUE_AWAITING_RELEASE) |	\
				 (1u << QUEUE_DEFERRED))

enum web_action {
	WEB_A_CANCEL = 0,
	WEB_A_SEND,
};

struct web {
	struct event_base		*base;
	struct evhttp			*http;
	struct evhttp_bound_socket	*bound;
	struct lbackoff			*bo;	/* accept failures */
	struct config			*conf;
	struct queue			*q;
	SSL_CTX				*tls;
	struct auth_limiter		*lim;
	struct httpconn			*conns;		/* accounting */
	int				 port;		/* bound */
};

/* One POSTed action waiting for its queue transaction. */
struct web_op {
	struct web		*w;
	struct evhttp_request	*req;
	enum web_action		 action;
	enum alert_lang		 lang;
	char			 id[QUEUE_ID_LEN + 1];
	char			 token[TOKEN_LEN + 1];
	struct queue_token	 row;
	char			 client[INET6_ADDRSTRLEN];
};

/* ------------------------------------------------------------------ */
/* connections */

/* The client's address: the peer's, or the last X-Forwarded-For entry
 * when the peer is a trusted proxy. */
static void
web_client(struct web *w, struct evhttp_request *req, char *buf, size_t sz)
{
	struct evhttp_connection *evcon = evhttp_request_get_connection(req);
	const struct sockaddr *sa = evcon ? evhttp_connection_get_addr(evcon) :
	    NULL;
	const struct evkeyval *kv;
	const char *xff, *p;
	char tmp[64];
	unsigned char bin[16];
	size_t len;

	mh_strlcpy(buf, "unknown", sz);
	if (sa == NULL)
		return;
	if (sa->sa_family == AF_INET)
		inet_ntop(AF_INET, &((const struct sockaddr_in *)(const void *)
		    sa)->sin_addr, buf, (socklen_t)sz);
	else if (sa->sa_family == AF_INET6)
		inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)
		    (const void *)sa)->sin6_addr, buf, (socklen_t)sz);
	if (w->conf->nweb_proxies == 0 ||
	    !config_cidr_match(w->conf->web_proxies, w->conf->nweb_proxies,
	    sa))
		return;
	/* The proxy appends the client to the LAST X-Forwarded-For line
	 * (or adds a line of its own): only that entry is the proxy's
	 * word; earlier ones come from the client. */
	xff = NULL;
	TAILQ_FOREACH(kv, evhttp_request_get_input_headers(req), next)
		if (mh_strcasecmp(kv->key, "X-Forwarded-For") == 0)
			xff = kv->value;
	if (xff == NULL)
		return;
	p = strrchr(xff, ',');
	p = p ? p + 1 : xff;
	p += strspn(p, " \t");
	len = strcspn(p, " \t");
	if (len >= 2 && p[0] == '[') {		/* [v6] or [v6]:port */
		const char *e = memchr(p, ']', len);

		if (e == NULL)
			return;
		p++;
		len = (size_t)(e - p);
	} else if (memchr(p, ':', len) != NULL &&
	    memchr(p, ':', len) == memrchr(p, ':', len))
		len = (size_t)((const char *)memchr(p, ':', len) - p);
						/* v4:port */
	if (len == 0 || len >= sizeof(tmp))
		return;
	memcpy(tmp, p, len);
	tmp[len] = '\0';
	if (inet_pton(AF_INET, tmp, bin) == 1 ||
	    inet_pton(AF_INET6, tmp, bin) == 1)
		mh_strlcpy(buf, tmp, sz);
}

/* ------------------------------------------------------------------ */
/* replies */

static void
web_headers(struct web *w, struct evhttp_request *req, const char *ctype,
    bool cache)
{
	struct evkeyvalq *h = evhttp_request_get_output_headers(req);

	evhttp_add_header(h, "Content-Type", ctype);
	evhttp_add_header(h, "Content-Security-Policy", WEB_CSP);
	evhttp_add_header(h, "X-Frame-Options", "DENY");
	evhttp_add_header(h, "X-Content-Type-Options", "nosniff");
	evhttp_add_header(h, "Referrer-Policy", "no-referrer");
	evhttp_add_header(h, "Cross-Origin-Opener-Policy", "same-origin");
	evhttp_add_header(h, "Cross-Origin-Resource-Policy", "same-origin");
	evhttp_add_header(h, "X-Robots-Tag", "noindex, nofollow");
	evhttp_add_header(h, "Cache-Control", cache ? "public, max-age=86400" :
	    "no-store");
	if (!cache)
		evhttp_add_header(h, "Vary", "Accept-Language");
	if (w->tls != NULL)
		evhttp_add_header(h, "Strict-Transport-Security",
		    "max-age=31536000");
}

static void
web_send(struct web *w, struct evhttp_request *req, int code,
    const char *reason, const char *ctype, bool cache, const char *body,
    size_t len)
{
	struct evbuffer *b = evbuffer_new();

	if (b == NULL)
		fatalx("event=web_error error=\"evbuffer_new\"");
	web_headers(w, req, ctype, cache);
	if (evhttp_request_get_command(req) != EVHTTP_REQ_HEAD)
		evbuffer_add(b, body, len);
	evhttp_send_reply(req, code, reason, b);
	evbuffer_free(b);
}

static enum alert_lang
web_lang(struct web *w, struct evhttp_request *req, enum alert_lang dflt)
{
	return webpage_pick_lang(evhttp_find_header(
	    evhttp_request_get_input_headers(req), "Accept-Language"), dflt);
}

static void
web_error(struct web *w, struct evhttp_request *req, enum webpage_error e)
{
	static const struct {
		int		 code;
		const char	*reason;
	} codes[] = {
		[WEBPAGE_E_NOT_FOUND] = { 404, "Not Found" },
		[WEBPAGE_E_RATE] = { 429, "Too Many Requests" },
		[WEBPAGE_E_BAD_REQUEST] = { 400, "Bad Request" },
		[WEBPAGE_E_METHOD] = { 405, "Method Not Allowed" },
		[WEBPAGE_E_UNAVAILABLE] = { 503, "Service Unavailable" },
	};
	char *page;
	size_t len;

	page = webpage_render_error(e, web_lang(w, req,
	    (enum alert_lang)w->conf->notify_lang), &len);
	if (e == WEBPAGE_E_METHOD)
		evhttp_add_header(evhttp_request_get_output_headers(req),
		    "Allow", "GET, HEAD, POST");
	if (e == WEBPAGE_E_RATE) {
		char ra[32];

		(void)mh_snprintf(ra, sizeof(ra), "%lld",
		    (long long)w->conf->web_failure_window);
		evhttp_add_header(evhttp_request_get_output_headers(req),
		    "Retry-After", ra);
	}
	web_send(w, req, codes[e].code, codes[e].reason,
	    "text/html; charset=utf-8", false, page, len);
	free(page);
}

/* ------------------------------------------------------------------ */
/* the page */

static enum webpage_state
web_state(int qs)
{
	switch (qs) {
	case QUEUE_HELD:
		return WEBPAGE_HELD;
	case QUEUE_AWAITING_RELEASE:
		return WEBPAGE_AWAITING;
	case QUEUE_DEFERRED:
		return WEBPAGE_DEFERRED;
	case QUEUE_RELEASING:
		return WEBPAGE_SENDING;
	case QUEUE_SENT:
		return WEBPAGE_SENT;
	case QUEUE_FAILED:
		return WEBPAGE_FAILED;
	default:
		return WEBPAGE_CANCELLED;
	}
}

/*
 * Renders the page of message id for the holder of token (row: its
 * stored row).  Returns -1 when the message is gone (purged): the caller
 * answers 404.
 */
static int
web_page(struct web *w, struct evhttp_request *req, const char *id,
    const char *token, const struct queue_token *row, enum alert_lang lang,
    enum webpage_notice notice, int code, const char *reason)
{
	struct webpage_view v;
	struct queue_msg *m;
	struct queue_finding *qf = NULL;
	struct alert_finding *af = NULL;
	const char **rcpts;
	char csrf[TOKEN_CSRF_STRLEN + 1], *page;
	size_t i, nqf = 0, len;

	if ((m = queue_msg_load(w->q, id)) == NULL)
		return -1;
	if (queue_findings_load(w->q, id, &qf, &nqf) == -1)
		nqf = 0;	/* logged; the page still shows the rest */
	rcpts = xcalloc(m->nrcpts, sizeof(*rcpts));
	for (i = 0; i < m->nrcpts; i++)
		rcpts[i] = m->rcpts[i].addr;
	af = xcalloc(nqf ? nqf : 1, sizeof(*af));
	for (i = 0; i < nqf; i++) {
		af[i].rule = qf[i].rule;
		af[i].text = lang == ALERT_LANG_JA ? qf[i].msg_ja :
		    qf[i].msg_en;
		af[i].suggestion = qf[i].suggestion;
		af[i].rcpts = (const char *const *)qf[i].rcpts;
		af[i].nrcpts = qf[i].nrcpts;
	}
	token_csrf_str(row, csrf);
	memset(&v, 0, sizeof(v));
	v.lang = lang;
	v.token = token;
	v.csrf = csrf;
	v.id = m->id;
	v.sender = m->sender;
	v.subject = m->subject;
	v.rcpts = rcpts;
	v.nrcpts = m->nrcpts;
	v.findings = af;
	v.nfindings = nqf;
	v.state = web_state(m->state);
	v.now = mh_now();
	v.received_at = m->received_at;
	v.release_at = m->next_attempt;
	v.done_at = m->updated_at;
	v.notice = notice;
	page = webpage_render(&v, &len);
	web_send(w, req, code, reason, "text/html; charset=utf-8", false,
	    page, len);
	free(page);
	free(af);
	free(rcpts);
	queue_findings_free(qf, nqf);
	queue_msg_free(m);
	return 0;
}

/*
 * The token of /m/<token>: checks the failure limit, parses, finds and
 * verifies it.  On success fills id and row and returns 0; otherwise
 * answers (404, 429 or 503) and returns -1.
 */
static int
web_token(struct web *w, struct evhttp_request *req, const char *client,
    const char *tok, char id[QUEUE_ID_LEN + 1], struct queue_token *row)
{
	char sel[QUEUE_TOKEN_SEL_LEN + 1];
	unsigned char hash[QUEUE_TOKEN_HASH_LEN];
	int64_t now = mh_mono_ms(), win = w->conf->web_failure_window * 1000;
	int r;

	/*
	 * The token first: a valid link always works, also for an address
	 * over its failure limit (many users share one NAT address; the
	 * 192-bit verifier, not the limit, is what stops guessing).  The
	 * limit throttles what fails: past it, 429 instead of 404.
	 */
	if (token_parse(tok, strlen(tok), sel, hash) == -1)
		r = 1;
	else if ((r = queue_token_find(w->q, sel, row, id)) == 0 &&
	    !token_check(row, hash))
		r = 1;
	if (r == -1) {
		web_error(w, req, WEBPAGE_E_UNAVAILABLE);
		return -1;
	}
	if (r == 1 && auth_limiter_get(w->lim, client, now, win) >=
	    w->conf->web_max_failures) {
		metrics_inc(METRICS_WEB_RATE_LIMITED);
		log_info("event=web_refused client=%s reason=rate", client);
		web_error(w, req, WEBPAGE_E_RATE);
		return -1;
	}
	if (r == 1) {
		size_t n = auth_limiter_fail(w->lim, client, now, win);

		metrics_inc(METRICS_WEB_NOTFOUND);
		log_info("event=web_notfound client=%s failures=%zu", client,
		    n);
		web_error(w, req, WEBPAGE_E_NOT_FOUND);
		return -1;
	}
	return 0;
}

/* The page's default language for this message's sender. */
static enum alert_lang
web_msg_lang(struct web *w, struct evhttp_request *req, const char *id)
{
	struct queue_msg *m = queue_msg_load(w->q, id);
	int dflt = w->conf->notify_lang;

	if (m != NULL) {
		dflt = config_user_lang(w->conf, m->auth_user, m->sender);
		queue_msg_free(m);
	}
	return web_lang(w, req, (enum alert_lang)dflt);
}

/* ------------------------------------------------------------------ */
/* actions */

static void
web_op_done(int result, void *arg)
{
	struct web_op *op = arg;
	struct web *w = op->w;
	enum webpage_notice n;
	int code = 200;
	const char *reason = "OK";

	if (result == 0) {
		if (op->action == WEB_A_CANCEL)
			metrics_inc(METRICS_CANCELLED_WEB);
		n = op->action == WEB_A_CANCEL ? WEBPAGE_N_CANCELLED :
		    WEBPAGE_N_RELEASED;
	} else if (result == 1) {
		n = WEBPAGE_N_TOO_LATE;
		code = 409;
		reason = "Conflict";
	} else {
		n = WEBPAGE_N_ERROR;
		code = 503;
		reason = "Service Unavailable";
	}
	log_info("id=%s event=%s actor=web client=%s result=%s", op->id,
	    op->action == WEB_A_CANCEL ? "web_cancel" : "web_release",
	    op->client, result == 0 ? "ok" : result == 1 ? "too_late" :
	    "failed");
	if (web_page(w, op->req, op->id, op->token, &op->row, op->lang, n,
	    code, reason) == -1)
		web_error(w, op->req, WEBPAGE_E_NOT_FOUND);
	OPENSSL_cleanse(op->token, sizeof(op->token));
	free(op);
}

/* "application/x-www-form-urlencoded", parameters allowed. */
static bool
web_form_type_ok(const char *ct)
{
	static const char want[] = "application/x-www-form-urlencoded";
	size_t n = sizeof(want) - 1;

	return ct != NULL && mh_strncasecmp(ct, want, n) == 0 &&
	    (ct[n] == '\0' || ct[n] == ';' || ct[n] == ' ');
}

/*
 * Parses the form strictly: only "csrf" and "action", each at most
 * once, values of base64url characters (no percent-decoding needed: the
 * browser sends them as they are).  0, or -1 when malformed.
 */
int
web_form_parse_(const char *p, size_t len, char *csrf, size_t csz,
    char *action, size_t asz)
{
	const char *end = p + len, *amp, *eq;
	bool seen_c = false, seen_a = false;
	size_t klen, vlen, i;

	*csrf = *action = '\0';
	while (p < end) {
		amp = memchr(p, '&', (size_t)(end - p));
		if (amp == NULL)
			amp = end;
		eq = memchr(p, '=', (size_t)(amp - p));
		if (eq == NULL)
			return -1;
		klen = (size_t)(eq - p);
		vlen = (size_t)(amp - eq - 1);
		for (i = 0; i < vlen; i++) {
			unsigned char c = (unsigned char)eq[1 + i];

			if (!((c >= 'A' && c <= 'Z') || (c >= 'a' &&
			    c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
			    c == '_'))
				return -1;
		}
		if (klen == 4 && memcmp(p, "csrf", 4) == 0 && !seen_c &&
		    vlen < csz) {
			memcpy(csrf, eq + 1, vlen);
			csrf[vlen] = '\0';
			seen_c = true;
		} else if (klen == 6 && memcmp(p, "action", 6) == 0 &&
		    !seen_a && vlen < asz) {
			memcpy(action, eq + 1, vlen);
			action[vlen] = '\0';
			seen_a = true;
		} else
			return -1;
		p = amp + (amp < end);
	}
	return seen_c && seen_a ? 0 : -1;
}

/*
 * A POST must come from our own page.  The CSRF value is the defence;
 * these headers refuse a cross-site form early: Sec-Fetch-Site, when the
 * browser sends it, must be same-origin; Origin, when sent, must be
 * web.base_url's scheme://host[:port] or "null" (browsers send "null" for
 * a same-origin POST from a page with Referrer-Policy: no-referrer).
 */
static bool
web_origin_ok(struct web *w, struct evhttp_request *req)
{
	struct evkeyvalq *h = evhttp_request_get_input_headers(req);
	const char *o = evhttp_find_header(h, "Origin");
	const char *site = evhttp_find_header(h, "Sec-Fetch-Site");
	const char *base = w->conf->web_base_url, *host, *slash;
	size_t n;

	if (site != NULL && strcmp(site, "same-origin") != 0)
		return false;
	if (o == NULL || strcmp(o, "null") == 0)
		return true;
	host = strstr(base, "://");
	if (host == NULL)
		return false;
	slash = strchr(host + 3, '/');
	n = slash ? (size_t)(slash - base) : strlen(base);
	return strlen(o) == n && mh_strncasecmp(o, base, n) == 0;
}

static void
web_post(struct web *w, struct evhttp_request *req, const char *client,
    const char *tok)
{
	struct evbuffer *in = evhttp_request_get_input_buffer(req);
	struct web_op *op;
	struct queue_msg *m;
	char form[WEB_FORM_MAX + 1], csrf[64], action[16], why[512];
	char ua[WEB_UA_MAX * 4 + 8], actor[64];
	const char *uah;
	size_t len;
	int state;

	op = xcalloc(1, sizeof(*op));
	op->w = w;
	op->req = req;
	mh_strlcpy(op->client, client, sizeof(op->client));
	if (web_token(w, req, client, tok, op->id, &op->row) == -1) {
		free(op);
		return;
	}
	mh_strlcpy(op->token, tok, sizeof(op->token));
	op->lang = web_msg_lang(w, req, op->id);
	len = evbuffer_get_length(in);
	if (len > WEB_FORM_MAX || !web_form_type_ok(evhttp_find_header(
	    evhttp_request_get_input_headers(req), "Content-Type")) ||
	    evbuffer_copyout(in, form, len) != (ev_ssize_t)len ||
	    web_form_parse_(form, len, csrf, sizeof(csrf), action,
	    sizeof(action)) == -1 ||
	    (strcmp(action, "cancel") != 0 && strcmp(action, "send") != 0)) {
		web_error(w, req, WEBPAGE_E_BAD_REQUEST);
		goto done;
	}
	op->action = strcmp(action, "cancel") == 0 ? WEB_A_CANCEL :
	    WEB_A_SEND;
	if (!web_origin_ok(w, req) ||
	    !token_csrf_check(&op->row, csrf, strlen(csrf))) {
		log_info("id=%s event=web_refused client=%s reason=csrf",
		    op->id, client);
		if (web_page(w, req, op->id, op->token, &op->row, op->lang,
		    WEBPAGE_N_BAD_CSRF, 403, "Forbidden") == -1)
			web_error(w, req, WEBPAGE_E_NOT_FOUND);
		goto done;
	}
	if ((m = queue_msg_load(w->q, op->id)) == NULL) {
		web_error(w, req, WEBPAGE_E_NOT_FOUND);
		goto done;
	}
	state = m->state;
	queue_msg_free(m);
	if (!(WEB_ACTIONABLE & (1u << state))) {
		/* Sent, cancelled or being relayed: say so, change nothing. */
		web_op_done(1, op);
		return;
	}
	uah = evhttp_find_header(evhttp_request_get_input_headers(req),
	    "User-Agent");
	mh_log_escape(uah ? uah : "", uah ? strlen(uah) : 0, WEB_UA_MAX, ua,
	    sizeof(ua));
	(void)mh_snprintf(actor, sizeof(actor), "web:%s", client);
	(void)mh_snprintf(why, sizeof(why), "%s by the sender on the web "
	    "page; user_agent=\"%s\"", op->action == WEB_A_CANCEL ?
	    "cancelled" : "released", ua);
	/* The state check above is advisory: the transaction's own
	 * from-mask decides (the scheduler may have taken it since). */
	if (queue_set_state(w->q, op->id, WEB_ACTIONABLE,
	    op->action == WEB_A_CANCEL ? QUEUE_CANCELLED : QUEUE_HELD,
	    op->action == WEB_A_CANCEL ? -1 : mh_now(), actor, why,
	    web_op_done, op) == -1) {
		web_op_done(-1, op);
		return;
	}
	return;
done:
	OPENSSL_cleanse(op->token, sizeof(op->token));
	free(op);
}

/* ------------------------------------------------------------------ */
/* dispatch */

static void
web_request_cb(struct evhttp_request *req, void *arg)
{
	struct web *w = arg;
	enum evhttp_cmd_type cmd = evhttp_request_get_command(req);
	const struct evhttp_uri *uri = evhttp_request_get_evhttp_uri(req);
	const char *path = uri ? evhttp_uri_get_path(uri) : NULL;
	char client[INET6_ADDRSTRLEN], id[QUEUE_ID_LEN + 1];
	struct queue_token row;
	size_t len;

	if (path == NULL) {
		web_error(w, req, WEBPAGE_E_BAD_REQUEST);
		return;
	}
	if (strcmp(path, WEBPAGE_CSS_PATH) == 0) {
		const char *css;

		if (cmd != EVHTTP_REQ_GET && cmd != EVHTTP_REQ_HEAD) {
			web_error(w, req, WEBPAGE_E_METHOD);
			return;
		}
		css = webpage_css(&len);
		web_send(w, req, 200, "OK", "text/css; charset=utf-8", true,
		    css, len);
		return;
	}
	if (strncmp(path, "/m/", 3) != 0) {
		web_error(w, req, WEBPAGE_E_NOT_FOUND);
		return;
	}
	web_client(w, req, client, sizeof(client));
	switch (cmd) {
	case EVHTTP_REQ_GET:
	case EVHTTP_REQ_HEAD:
		/* Never changes anything: link scanners fetch it too. */
		if (web_token(w, req, client, path + 3, id, &row) == -1)
			return;
		log_info("id=%s event=web_view client=%s", id, client);
		if (web_page(w, req, id, path + 3, &row, web_msg_lang(w, req,
		    id), WEBPAGE_N_NONE, 200, "OK") == -1)
			web_error(w, req, WEBPAGE_E_NOT_FOUND);
		OPENSSL_cleanse(&row, sizeof(row));
		return;
	case EVHTTP_REQ_POST:
		web_post(w, req, client, path + 3);
		return;
	default:
		web_error(w, req, WEBPAGE_E_METHOD);
		return;
	}
}

/* ------------------------------------------------------------------ */
/* set-up */

/* evhttp asks for each accepted connection's bufferevent: counted
 * there (proxy/httpconn.h), with TLS when web.tls is on. */
static struct bufferevent *
web_bev_cb(struct event_base *base, void *arg)
{
	struct web *w = arg;
	SSL *ssl = NULL;
	bool refuse = false;

	if (w->tls != NULL && (ssl = tlsctx_ssl_new(w->tls)) == NULL) {
		log_warnx("event=web_refused reason=\"no TLS session\"");
		refuse = true;	/* never answer in plain text */
	}
	return httpconn_bev(w->conns, base, ssl, refuse);
}

static bool
web_base_is_loopback(const char *url)
{
	const char *h = strstr(url, "://");

	if (h == NULL)
		return false;
	h += 3;
	return strncmp(h, "127.", 4) == 0 || strncmp(h, "[::1]", 5) == 0 ||
	    mh_strncasecmp(h, "localhost", 9) == 0;
}

struct web *
web_new(struct event_base *base, struct config *conf, struct queue *q,
    SSL_CTX *tls)
{
	struct evhttp_bound_socket *bs;
	struct sockaddr_storage ss;
	socklen_t sl = sizeof(ss);
	struct web *w;
	int port = conf->web_port;

	w = xcalloc(1, sizeof(*w));
	w->base = base;
	w->conf = config_ref(conf);
	w->q = q;
	w->lim = auth_limiter_new(WEB_LIMITER_KEYS);
	w->conns = httpconn_new(base, "web", conf->web_max_connections,
	    conf->web_timeout * 2000);
	if (conf->web_tls && tls != NULL)
		w->tls = tlsctx_ref(tls);
	if ((w->http = evhttp_new(base)) == NULL) {
		log_warnx("event=web_error error=\"evhttp_new\"");
		web_free(w);
		return NULL;
	}
	evhttp_set_max_headers_size(w->http, WEB_HEADERS_MAX);
	evhttp_set_max_body_size(w->http, WEB_BODY_MAX);
	evhttp_set_timeout(w->http, (int)conf->web_timeout);
	/* Every method reaches web_request_cb, which answers 405 (with
	 * Allow) for all but GET, HEAD and POST; evhttp itself would say
	 * 501. */
	evhttp_set_allowed_methods(w->http, EVHTTP_REQ_GET | EVHTTP_REQ_HEAD |
	    EVHTTP_REQ_POST | EVHTTP_REQ_PUT | EVHTTP_REQ_DELETE |
	    EVHTTP_REQ_OPTIONS | EVHTTP_REQ_TRACE | EVHTTP_REQ_CONNECT |
	    EVHTTP_REQ_PATCH);
	evhttp_set_default_content_type(w->http, "text/plain; charset=utf-8");
	evhttp_set_gencb(w->http, web_request_cb, w);
	evhttp_set_bevcb(w->http, web_bev_cb, w);
	bs = evhttp_bind_socket_with_handle(w->http, conf->web_address,
	    (ev_uint16_t)conf->web_port);
	w->bound = bs;
	if (bs == NULL) {
		log_warn("event=web_error error=\"cannot listen on %s port "
		    "%d\"", conf->web_address, conf->web_port);
		web_free(w);
		return NULL;
	}
	if (getsockname(evhttp_bound_socket_get_fd(bs),
	    (struct sockaddr *)&ss, &sl) == 0)
		port = ntohs(ss.ss_family == AF_INET6 ?
		    ((struct sockaddr_in6 *)&ss)->sin6_port :
		    ((struct sockaddr_in *)&ss)->sin_port);
	/* web.port: 0 binds any free port: a derived base_url (alert links,
	 * the Origin check) must name that one, not 0. */
	w->port = port;
	/* evhttp has no error callback of its own: without this, a full
	 * descriptor table makes it spin on accept (lbackoff.h). */
	w->bo = lbackoff_new(base, evhttp_bound_socket_get_listener(bs),
	    "web");
	config_web_bound(conf, port);
	log_info("event=web_listening address=%s port=%d tls=%s base_url=%s",
	    conf->web_address, port, w->tls ? "yes" : "no",
	    conf->web_base_url);
	if (web_base_is_loopback(conf->web_base_url) &&
	    conf->notify_alerts != CONFIG_NOTIFY_NEVER)
		log_warnx("event=web_warning base_url=%s reason=\"alert links "
		    "point at a loopback address: they work only on this "
		    "machine; set web.base_url to the name senders reach\"",
		    conf->web_base_url);
	return w;
}

int
web_port(const struct web *w)
{
	return w != NULL ? w->port : 0;
}

void
web_set_config(struct web *w, struct config *conf)
{
	if (w == NULL)
		return;
	config_unref(w->conf);
	w->conf = config_ref(conf);
	httpconn_set_limits(w->conns, conf->web_max_connections,
	    conf->web_timeout * 2000);
}

void
web_set_tls(struct web *w, SSL_CTX *tls)
{
	if (w == NULL || w->tls == NULL || tls == NULL)
		return;
	tlsctx_free(w->tls);
	w->tls = tlsctx_ref(tls);
}

void
web_stop(struct web *w)
{
	if (w == NULL || w->http == NULL || w->bound == NULL)
		return;
	lbackoff_free(w->bo);
	w->bo = NULL;
	evhttp_del_accept_socket(w->http, w->bound);
	w->bound = NULL;
}

void
web_free(struct web *w)
{
	if (w == NULL)
		return;
	lbackoff_free(w->bo);
	if (w->http != NULL)
		evhttp_free(w->http);	/* frees every connection */
	httpconn_free(w->conns);
	auth_limiter_free(w->lim);
	tlsctx_free(w->tls);
	config_unref(w->conf);
	free(w);
}
