/*
 * auth_upstream.c - checks logins against the upstream submission server;
 * see auth_upstream.h.
 *
 * Shape follows the relay (smtp_client.c, itself after OpenSMTPD
 * mta_session.c): auth_upstream_enter() sends the command of the new
 * state, auth_upstream_reply() reads a whole reply and picks the next.
 */
#include "auth_upstream.h"

#include <arpa/inet.h>

#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/dns.h>
#include <event2/event.h>

#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include "config.h"
#include "log.h"
#include "tls.h"
#include "util.h"

#define AUP_LINE_MAX		1024	/* one reply line with CRLF */
#define AUP_LINES_MAX		64	/* lines in one reply */
#define AUP_INFLIGHT_MAX	32	/* concurrent checks */
#define AUP_TIMEOUT_MAX		30	/* s, per reply: a client is waiting */

enum aup_state {
	AUP_ST_CONNECT = 0,
	AUP_ST_BANNER,
	AUP_ST_EHLO,
	AUP_ST_STARTTLS,
	AUP_ST_HANDSHAKE,
	AUP_ST_AUTH,
	AUP_ST_QUIT,
};

struct aup_conn {
	struct aup_conn	*prev, *next;
	struct auth_upstream *u;
	struct bufferevent *bev;
	enum aup_state	 state;
	bool		 tls;
	bool		 cap_starttls;
	bool		 cap_plain;
	bool		 finished;	/* freed from free_ev soon */
	size_t		 nlines;
	int		 code;
	char		*user;
	char		*pass;		/* cleansed on free */
	size_t		 passlen;
	auth_done_cb	*cb;
	void		*arg;
	struct event	*free_ev;	/* deferred free from callbacks */
};

struct auth_upstream {
	struct event_base *base;
	struct evdns_base *dns;
	struct config	*conf;
	SSL_CTX		*ssl_ctx;
	struct aup_conn	*conns;
	size_t		 nconns;
};

static void	auth_upstream_enter(struct aup_conn *, enum aup_state);

static const char *
auth_upstream_strstate(enum aup_state st)
{
	switch (st) {
	case AUP_ST_CONNECT:	return "CONNECT";
	case AUP_ST_BANNER:	return "BANNER";
	case AUP_ST_EHLO:	return "EHLO";
	case AUP_ST_STARTTLS:	return "STARTTLS";
	case AUP_ST_HANDSHAKE:	return "HANDSHAKE";
	case AUP_ST_AUTH:	return "AUTH";
	case AUP_ST_QUIT:	return "QUIT";
	}
	return "?";
}

static void
auth_upstream_conn_free(struct aup_conn *c)
{
	struct auth_upstream *u = c->u;

	if (c->prev)
		c->prev->next = c->next;
	else
		u->conns = c->next;
	if (c->next)
		c->next->prev = c->prev;
	u->nconns--;
	if (c->bev)
		bufferevent_free(c->bev);
	if (c->free_ev)
		event_free(c->free_ev);
	OPENSSL_cleanse(c->pass, c->passlen + 1);
	free(c->pass);
	free(c->user);
	free(c);
}

static void
auth_upstream_free_cb(evutil_socket_t fd, short ev, void *arg)
{
	auth_upstream_conn_free(arg);
}

/* Reports the result once, and frees the connection from a zero-delay
 * event (we are inside one of its bufferevent's callbacks). */
static void
auth_upstream_finish(struct aup_conn *c, enum auth_result res,
    const char *why)
{
	auth_done_cb *cb = c->cb;

	if (c->finished)
		return;
	c->finished = true;
	if (why != NULL)
		log_info("event=auth_upstream result=%s state=%s reason=\"%s\"",
		    res == AUTH_OK ? "ok" : res == AUTH_FAIL ? "fail" :
		    "tempfail", auth_upstream_strstate(c->state), why);
	c->cb = NULL;
	if (c->bev)
		bufferevent_disable(c->bev, EV_READ | EV_WRITE);
	event_active(c->free_ev, EV_TIMEOUT, 0);
	if (cb != NULL)
		cb(res, c->arg);
}

static void
auth_upstream_send(struct aup_conn *c, const char *s)
{
	evbuffer_add_printf(bufferevent_get_output(c->bev), "%s\r\n", s);
}

static void
auth_upstream_enter(struct aup_conn *c, enum aup_state st)
{
	const struct config *conf = c->u->conf;
	unsigned char raw[AUTH_SASL_MAX];
	char b64[AUTH_B64_MAX + 16], line[AUTH_B64_MAX + 32];
	size_t n;

	log_debug("event=auth_upstream_state old=%s new=%s",
	    auth_upstream_strstate(c->state), auth_upstream_strstate(st));
	c->state = st;
	c->nlines = 0;
	switch (st) {
	case AUP_ST_EHLO:
		c->cap_starttls = c->cap_plain = false;
		(void)mh_snprintf(line, sizeof(line), "EHLO %s", conf->up_helo);
		auth_upstream_send(c, line);
		break;
	case AUP_ST_STARTTLS:
		auth_upstream_send(c, "STARTTLS");
		break;
	case AUP_ST_AUTH:
		/* RFC 4616: NUL user NUL password.  Never logged. */
		n = strlen(c->user);
		if (n + c->passlen + 2 > sizeof(raw)) {
			auth_upstream_finish(c, AUTH_FAIL, "credentials too "
			    "long");
			return;
		}
		raw[0] = '\0';
		memcpy(raw + 1, c->user, n);
		raw[n + 1] = '\0';
		memcpy(raw + n + 2, c->pass, c->passlen);
		(void)auth_b64_encode(raw, n + 2 + c->passlen, b64);
		(void)mh_snprintf(line, sizeof(line), "AUTH PLAIN %s", b64);
		auth_upstream_send(c, line);
		OPENSSL_cleanse(raw, sizeof(raw));
		OPENSSL_cleanse(b64, sizeof(b64));
		OPENSSL_cleanse(line, sizeof(line));
		break;
	case AUP_ST_QUIT:
		auth_upstream_send(c, "QUIT");
		break;
	default:
		break;
	}
}

static void	auth_upstream_read_cb(struct bufferevent *, void *);
static void	auth_upstream_event_cb(struct bufferevent *, short, void *);

static void
auth_upstream_timeouts(struct aup_conn *c)
{
	struct timeval tv;

	tv.tv_sec = (time_t)(c->u->conf->timeout_upstream < AUP_TIMEOUT_MAX ?
	    c->u->conf->timeout_upstream : AUP_TIMEOUT_MAX);
	tv.tv_usec = 0;
	bufferevent_set_timeouts(c->bev, &tv, &tv);
}

static void
auth_upstream_starttls(struct aup_conn *c)
{
	struct bufferevent *tls;
	SSL *ssl;

	/* Whatever came with or after the 220 is not part of TLS. */
	evbuffer_drain(bufferevent_get_input(c->bev),
	    evbuffer_get_length(bufferevent_get_input(c->bev)));
	ssl = tlsctx_client_ssl_new(c->u->ssl_ctx, c->u->conf->up_host);
	if (ssl == NULL) {
		auth_upstream_finish(c, AUTH_TEMPFAIL, "TLS set-up failed");
		return;
	}
	tls = bufferevent_openssl_filter_new(c->u->base, c->bev, ssl,
	    BUFFEREVENT_SSL_CONNECTING, BEV_OPT_CLOSE_ON_FREE);
	if (tls == NULL) {
		SSL_free(ssl);
		auth_upstream_finish(c, AUTH_TEMPFAIL, "TLS set-up failed");
		return;
	}
	c->bev = tls;
	c->state = AUP_ST_HANDSHAKE;
	bufferevent_setcb(tls, auth_upstream_read_cb, NULL,
	    auth_upstream_event_cb, c);
	auth_upstream_timeouts(c);
	bufferevent_enable(tls, EV_READ | EV_WRITE);
}

/* One whole reply has arrived; code is its code. */
static void
auth_upstream_reply(struct aup_conn *c, int code)
{
	const struct config *conf = c->u->conf;
	char why[64];

	switch (c->state) {
	case AUP_ST_BANNER:
		if (code != 220)
			break;
		auth_upstream_enter(c, AUP_ST_EHLO);
		return;
	case AUP_ST_EHLO:
		if (code != 250)
			break;
		if (conf->up_tls == CONFIG_TLS_STARTTLS && !c->tls) {
			if (!c->cap_starttls) {
				auth_upstream_finish(c, AUTH_TEMPFAIL,
				    "STARTTLS required but not offered");
				return;
			}
			auth_upstream_enter(c, AUP_ST_STARTTLS);
			return;
		}
		if (!c->cap_plain) {
			auth_upstream_finish(c, AUTH_TEMPFAIL, "AUTH PLAIN not "
			    "offered");
			return;
		}
		auth_upstream_enter(c, AUP_ST_AUTH);
		return;
	case AUP_ST_STARTTLS:
		if (code != 220)
			break;
		auth_upstream_starttls(c);
		return;
	case AUP_ST_AUTH:
		if (code == 235) {
			/* The answer is known; QUIT politely, then free. */
			auth_done_cb *cb = c->cb;

			c->cb = NULL;
			auth_upstream_enter(c, AUP_ST_QUIT);
			if (cb != NULL)
				cb(AUTH_OK, c->arg);
			return;
		}
		if (code >= 500 && code <= 599) {
			(void)mh_snprintf(why, sizeof(why), "upstream said %d",
			    code);
			auth_upstream_finish(c, AUTH_FAIL, why);
			return;
		}
		break;
	case AUP_ST_QUIT:
		auth_upstream_finish(c, AUTH_OK, NULL);
		return;
	default:
		break;
	}
	(void)mh_snprintf(why, sizeof(why), "unexpected reply %d", code);
	auth_upstream_finish(c, AUTH_TEMPFAIL, why);
}

static void
auth_upstream_read_cb(struct bufferevent *bev, void *arg)
{
	struct aup_conn *c = arg;
	struct evbuffer *in = bufferevent_get_input(bev);
	struct evbuffer_ptr eol;
	char line[AUP_LINE_MAX + 1];
	size_t eollen, ll;
	int code;

	while (!c->finished) {
		eol = evbuffer_search_eol(in, NULL, &eollen, EVBUFFER_EOL_CRLF);
		if (eol.pos < 0) {
			if (evbuffer_get_length(in) > AUP_LINE_MAX)
				auth_upstream_finish(c, AUTH_TEMPFAIL, "reply "
				    "line too long");
			return;
		}
		ll = (size_t)eol.pos;
		if (ll + eollen > AUP_LINE_MAX || ++c->nlines > AUP_LINES_MAX) {
			auth_upstream_finish(c, AUTH_TEMPFAIL, "reply too long");
			return;
		}
		evbuffer_remove(in, line, ll + eollen);
		line[ll] = '\0';
		if (ll < 3 || line[0] < '2' || line[0] > '5' ||
		    line[1] < '0' || line[1] > '9' || line[2] < '0' ||
		    line[2] > '9' || (ll > 3 && line[3] != ' ' &&
		    line[3] != '-')) {
			auth_upstream_finish(c, AUTH_TEMPFAIL, "malformed reply");
			return;
		}
		code = (line[0] - '0') * 100 + (line[1] - '0') * 10 +
		    (line[2] - '0');
		if (c->nlines == 1)
			c->code = code;
		else if (code != c->code) {
			auth_upstream_finish(c, AUTH_TEMPFAIL, "reply code "
			    "changed inside a reply");
			return;
		}
		if (c->state == AUP_ST_EHLO && code == 250 && ll > 4) {
			const char *kw = line + 4;

			if (mh_strcasecmp(kw, "STARTTLS") == 0)
				c->cap_starttls = true;
			else if (mh_strncasecmp(kw, "AUTH", 4) == 0 &&
			    (kw[4] == ' ' || kw[4] == '=')) {
				const char *p = kw + 5;
				size_t wl;

				while (*p != '\0') {
					wl = strcspn(p, " ");
					if (wl == 5 && mh_strncasecmp(p,
					    "PLAIN", 5) == 0)
						c->cap_plain = true;
					p += wl;
					p += strspn(p, " ");
				}
			}
		}
		if (ll > 3 && line[3] == '-')
			continue;
		auth_upstream_reply(c, code);
		c->nlines = 0;
	}
}

static void
auth_upstream_event_cb(struct bufferevent *bev, short what, void *arg)
{
	struct aup_conn *c = arg;
	char why[256], e[200];
	unsigned long err;

	if (c->finished)
		return;
	if (what & BEV_EVENT_CONNECTED) {
		if (c->state == AUP_ST_HANDSHAKE) {
			c->tls = true;
			auth_upstream_enter(c, AUP_ST_EHLO);
		} else {
			c->tls = c->u->conf->up_tls == CONFIG_TLS_IMPLICIT;
			c->state = AUP_ST_BANNER;
		}
		tlsctx_bev_read_pending(c->bev);
		return;
	}
	if (c->state == AUP_ST_QUIT && c->cb == NULL) {
		auth_upstream_finish(c, AUTH_OK, NULL);
		return;
	}
	if (what & BEV_EVENT_TIMEOUT)
		mh_strlcpy(why, "timeout", sizeof(why));
	else if (what & BEV_EVENT_EOF)
		mh_strlcpy(why, "connection closed by upstream", sizeof(why));
	else if ((err = bufferevent_get_openssl_error(bev)) != 0) {
		ERR_error_string_n(err, e, sizeof(e));
		(void)mh_snprintf(why, sizeof(why), "TLS error: %s", e);
	} else
		(void)mh_snprintf(why, sizeof(why), "connection error: %s",
		    evutil_socket_error_to_string(EVUTIL_SOCKET_ERROR()));
	auth_upstream_finish(c, AUTH_TEMPFAIL, why);
}

int
auth_upstream_check(struct auth_upstream *u, const char *user,
    const char *pass, size_t passlen, auth_done_cb *cb, void *arg)
{
	struct aup_conn *c;
	SSL *ssl = NULL;

	if (u->nconns >= AUP_INFLIGHT_MAX) {
		log_warnx("event=auth_upstream result=tempfail reason=\"too "
		    "many checks in flight\"");
		return -1;
	}
	c = xcalloc(1, sizeof(*c));
	c->u = u;
	c->user = xstrdup(user);
	c->pass = xmalloc(passlen + 1);
	memcpy(c->pass, pass, passlen);
	c->pass[passlen] = '\0';
	c->passlen = passlen;
	c->cb = cb;
	c->arg = arg;
	c->next = u->conns;
	if (u->conns)
		u->conns->prev = c;
	u->conns = c;
	u->nconns++;
	if ((c->free_ev = event_new(u->base, -1, 0, auth_upstream_free_cb,
	    c)) == NULL)
		goto fail;
	if (u->conf->up_tls == CONFIG_TLS_IMPLICIT) {
		ssl = tlsctx_client_ssl_new(u->ssl_ctx, u->conf->up_host);
		if (ssl == NULL)
			goto fail;
		c->bev = bufferevent_openssl_socket_new(u->base, -1, ssl,
		    BUFFEREVENT_SSL_CONNECTING, BEV_OPT_CLOSE_ON_FREE);
		if (c->bev == NULL) {
			SSL_free(ssl);
			goto fail;
		}
	} else if ((c->bev = bufferevent_socket_new(u->base, -1,
	    BEV_OPT_CLOSE_ON_FREE)) == NULL)
		goto fail;
	bufferevent_setcb(c->bev, auth_upstream_read_cb, NULL,
	    auth_upstream_event_cb, c);
	auth_upstream_timeouts(c);
	bufferevent_enable(c->bev, EV_READ | EV_WRITE);
	if (bufferevent_socket_connect_hostname(c->bev, u->dns, AF_UNSPEC,
	    u->conf->up_host, u->conf->up_port) == -1)
		goto fail;
	return 0;
fail:
	c->cb = NULL;
	auth_upstream_conn_free(c);
	return -1;
}

static SSL_CTX *
auth_upstream_ctx_new(const struct config *conf, char *errbuf, size_t errsz)
{
	SSL_CTX *ctx;

	if ((ctx = SSL_CTX_new(TLS_client_method())) == NULL) {
		mh_strlcpy(errbuf, "auth upstream: SSL_CTX_new failed", errsz);
		return NULL;
	}
	SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
	if (conf->up_verify) {
		SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
		if (conf->up_ca_file != NULL) {
			if (SSL_CTX_load_verify_locations(ctx,
			    conf->up_ca_file, NULL) != 1) {
				(void)mh_snprintf(errbuf, errsz, "cannot load "
				    "upstream.ca_file %s", conf->up_ca_file);
				SSL_CTX_free(ctx);
				ERR_clear_error();
				return NULL;
			}
		} else
			SSL_CTX_set_default_verify_paths(ctx);
	}
	return ctx;
}

struct auth_upstream *
auth_upstream_new(struct event_base *base, struct config *conf, char *errbuf,
    size_t errsz)
{
	struct auth_upstream *u;

	u = xcalloc(1, sizeof(*u));
	u->base = base;
	u->conf = config_ref(conf);
	u->dns = evdns_base_new(base, EVDNS_BASE_INITIALIZE_NAMESERVERS |
	    EVDNS_BASE_DISABLE_WHEN_INACTIVE);
	if (u->dns == NULL)
		u->dns = evdns_base_new(base, EVDNS_BASE_DISABLE_WHEN_INACTIVE);
	if (u->dns == NULL) {
		mh_strlcpy(errbuf, "auth upstream: evdns_base_new failed",
		    errsz);
		goto fail;
	}
	if ((u->ssl_ctx = auth_upstream_ctx_new(conf, errbuf, errsz)) == NULL)
		goto fail;
	return u;
fail:
	auth_upstream_free(u);
	return NULL;
}

int
auth_upstream_set_config(struct auth_upstream *u, struct config *conf,
    char *errbuf, size_t errsz)
{
	SSL_CTX *ctx;

	if ((ctx = auth_upstream_ctx_new(conf, errbuf, errsz)) == NULL)
		return -1;
	/* Connections in flight keep theirs: SSL_new took a reference. */
	SSL_CTX_free(u->ssl_ctx);
	u->ssl_ctx = ctx;
	config_unref(u->conf);
	u->conf = config_ref(conf);
	return 0;
}

void
auth_upstream_free(struct auth_upstream *u)
{
	if (u == NULL)
		return;
	while (u->conns != NULL)
		auth_upstream_conn_free(u->conns);
	if (u->dns)
		evdns_base_free(u->dns, 0);
	if (u->ssl_ctx)
		SSL_CTX_free(u->ssl_ctx);
	config_unref(u->conf);
	free(u);
}
