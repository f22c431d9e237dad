/*
 * smtp_server.c - inbound SMTP sessions; see smtp_server.h.
 *
 * Shape follows OpenSMTPD smtp_session.c: a state enum with one writer,
 * a command table of (verb, allowed states, flags, check, proceed), and a
 * per-message struct smtp_tx.  Framing follows Postfix postscreen: a whole
 * command must end in CRLF within limits.command_line octets and within
 * one deadline; partial input never resets the timer.
 *
 * TLS (RFC 3207, RFC 8314) goes through bufferevent_openssl: a socket
 * bufferevent for implicit TLS, a filter over the plain one after
 * STARTTLS.  Every octet the client sent after STARTTLS and before the
 * handshake is discarded (CVE-2011-0411), and the session goes back to
 * the greeting state.  AUTH (RFC 4954) is a short exchange of base64
 * lines in SMTP_ST_AUTH_INPUT, then SMTP_ST_WAIT_AUTH while the back end
 * (proxy/auth.c) checks the password off the loop; AUTH lines are never
 * logged.
 */
#include "smtp_server.h"

#include <sys/socket.h>
#include <sys/stat.h>

#include <arpa/inet.h>
#include <netinet/in.h>

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/event.h>
#include <event2/listener.h>

#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/ssl.h>

#include "addr.h"
#include "auth.h"
#include "config.h"
#include "lbackoff.h"
#include "log.h"
#include "metrics.h"
#include "queue.h"
#include "policy.h"
#include "screen.h"
#include "scheduler.h"
#include "smtp_client.h"
#include "smtp_parse.h"
#include "tls.h"
#include "util.h"

enum smtp_state {
	SMTP_ST_HELO = 0,	/* waiting for EHLO/HELO */
	SMTP_ST_READY,		/* greeted, no transaction */
	SMTP_ST_MAIL,		/* MAIL accepted, no RCPT yet */
	SMTP_ST_RCPT,		/* at least one RCPT accepted */
	SMTP_ST_DATA,		/* reading the message */
	SMTP_ST_WAIT_COMMIT,	/* message handed to the queue writer */
	SMTP_ST_QUIT,		/* flushing the last reply, then free */
	SMTP_ST_TLS,		/* TLS handshake (implicit or STARTTLS) */
	SMTP_ST_AUTH_INPUT,	/* reading a SASL response line */
	SMTP_ST_WAIT_AUTH,	/* password check in progress, or delay */
};

/* The step of an AUTH exchange in SMTP_ST_AUTH_INPUT. */
enum smtp_auth_step {
	SMTP_AUTH_PLAIN = 0,	/* sent "334 ", want the PLAIN message */
	SMTP_AUTH_LOGIN_USER,	/* sent "334 VXNlcm5hbWU6" (Username:) */
	SMTP_AUTH_LOGIN_PASS,	/* sent "334 UGFzc3dvcmQ6" (Password:) */
};

#define SMTP_STM(st)	(1u << (st))
#define SMTP_STM_ANY	(SMTP_STM(SMTP_ST_HELO) | SMTP_STM(SMTP_ST_READY) | \
			 SMTP_STM(SMTP_ST_MAIL) | SMTP_STM(SMTP_ST_RCPT))

/* command flags (Postfix SMTPD_CMD flags) */
#define SMTP_CMD_JUNK	0x01	/* counts against limits.max_junk_commands */
#define SMTP_CMD_LAST	0x02	/* PIPE_LAST: ends an RFC 2920 group */

/* session flags */
#define SMTP_SF_EHLO		0x01	/* EHLO (not HELO) was used */
#define SMTP_SF_CLOSING		0x02	/* free from a zero-delay event */
#define SMTP_SF_DISCARD		0x04	/* discarding an over-long line */
#define SMTP_SF_SHUTDOWN	0x08	/* 421 after the current message */
#define SMTP_SF_TLS		0x10	/* bev is an SSL bufferevent */
#define SMTP_SF_TLS_UP		0x20	/* handshake done */
#define SMTP_SF_STARTTLS	0x40	/* wrap in TLS after this batch */
#define SMTP_SF_AUTH_DELAY	0x80	/* WAIT_AUTH: failure delay running */
#define SMTP_SF_AUTH_CLOSE	0x100	/* after the delay: 421, close */
#define SMTP_SF_MASK_LOG	0x200	/* next unknown line may be a secret */
#define SMTP_SF_TLS_CLOSED	0x400	/* QUIT: close_notify sent */
#define SMTP_SF_UTF8_OFFERED	0x800	/* this EHLO offered SMTPUTF8 */

#define SMTP_INBUF_MAX	(256 * 1024)	/* read high-watermark */
/* AUTH lines may carry an initial response (RFC 4954 section 4). */
#define SMTP_AUTH_LINE_MAX	(AUTH_B64_MAX + 32)
#define SMTP_TLS_TIMEOUT	30	/* s, for a handshake */
#define SMTP_HDR_MAX		(64 * 1024)	/* From: check header cap */

struct smtp_tx {
	char		 id[QUEUE_ID_LEN + 1];
	char		*sender;
	char		**rcpts;
	size_t		 nrcpts;
	size_t		 rcptcap;
	bool		 smtputf8;
	int		 body;		/* enum smtp_body */
	struct smtp_dotreader dr;
	struct mh_buf	 mem;		/* body while small */
	int		 spill_fd;	/* body once past memory_per_message */
	size_t		 len;		/* body octets kept */
	bool		 too_big;
	bool		 io_error;
	struct mh_buf	 hdr;		/* header block, auth.check_from_header */
	bool		 hdr_on;	/* collecting into hdr */
};

struct smtp_session {
	uint64_t	 id;
	struct smtp_server *srv;
	struct config	*conf;
	struct bufferevent *bev;
	struct evbuffer	*replies;	/* not yet handed to the socket */
	struct event	*timer;
	struct sockaddr_storage ss;
	char		 addr[INET6_ADDRSTRLEN];
	enum smtp_state	 state;
	unsigned	 flags;
	char		*helo;
	struct smtp_tx	*tx;
	size_t		 junk;
	int64_t		 deadline_ms;	/* of the command or DATA block */
	int64_t		 session_end_ms;
	int		 mode;		/* enum config_listen_mode */
	bool		 require_tls;
	bool		 trusted;	/* in server.trusted_networks */
	bool		 loopback;
	const char	*refuse;	/* implicit TLS: refusal after handshake */
	struct bufferevent *under;	/* STARTTLS: plain bev under the filter */
	struct event	*flush_ev;	/* STARTTLS QUIT: wait for under */
	char		 tlsinfo[128];	/* "TLSv1.3 with cipher ..." */
	char		*auth_user;	/* set after 235 */
	struct auth_creds *creds;	/* during an AUTH exchange */
	int		 auth_step;	/* enum smtp_auth_step */
	const char	*auth_mech;
};

/* Session table: id = generation << 32 | slot, so a completion that
 * carries an id finds a freed or reused slot and knows (OpenSMTPD
 * mta_tree_pop; G3). */
struct smtp_slot {
	struct smtp_session *s;
	uint32_t	 gen;
	uint32_t	 next_free;
};

struct smtp_listener {
	struct evconnlistener *l;
	struct lbackoff	*bo;		/* pauses it when accept fails */
	struct smtp_server *srv;
	int		 mode;		/* enum config_listen_mode */
	bool		 require_tls;
};

struct smtp_server {
	struct event_base *base;
	struct config	*conf;
	struct queue	*queue;
	struct smtp_listener *ls;
	size_t		 nls;
	struct smtp_slot *slots;
	uint32_t	 nslots;
	uint32_t	 free_head;	/* UINT32_MAX = none */
	size_t		 nsessions;
	bool		 shutting_down;
	void		(*shutdown_done)(void *);
	void		*shutdown_arg;
	struct event	*reaper;	/* frees CLOSING sessions */
	SSL_CTX		*tls;		/* for new handshakes; NULL: none */
	struct auth	*auth;		/* NULL: no AUTH */
	const struct screen_holds *holds; /* run-time hold windows, or NULL */
	const struct relay *relay;	/* upstream capabilities, or NULL */
	struct sched	*sched;		/* clock step check, or NULL */
	bool		 space_low;	/* below queue.min_free last we looked */
	int64_t		 space_logged;	/* mono ms of the last "low" warning */
	int64_t		 size_logged;	/* mono ms of the last SIZE= warning */
};

struct smtp_cmd_def {
	enum smtp_verb	 verb;
	const char	*name;
	unsigned	 states;	/* SMTP_STM mask where allowed */
	unsigned	 flags;
	int		(*check)(struct smtp_session *, const struct smtp_cmd *);
	void		(*proceed)(struct smtp_session *, const struct smtp_cmd *);
};

/* An AUTH check in flight carries the session id, not the pointer. */
struct smtp_auth_req {
	struct smtp_server *srv;
	uint64_t	 sid;
};

struct smtp_commit_req {
	struct smtp_server *srv;
	uint64_t	 sid;
	char		 id[QUEUE_ID_LEN + 1];
	int64_t		 release_at;
	bool		 awaiting;	/* AWAITING_RELEASE: release_at expires */
	bool		 alert;		/* an alert went in with it */
	size_t		 size;
	size_t		 nrcpts;
	char		*sender;
};

static void	smtp_read_cb(struct bufferevent *, void *);
static void	smtp_write_cb(struct bufferevent *, void *);
static void	smtp_event_cb(struct bufferevent *, short, void *);
static void	smtp_timer_cb(evutil_socket_t, short, void *);
static void	smtp_process(struct smtp_session *);
static size_t	smtp_line_max(struct smtp_session *, struct evbuffer *);
static void	smtp_free(struct smtp_session *, const char *reason);
static void	smtp_reply(struct smtp_session *, const char *fmt, ...)
		    MH_PRINTF(2, 3);
static void	smtp_tx_free(struct smtp_tx *);
static void	smtp_flush(struct smtp_session *);
static void	smtp_arm_timer(struct smtp_session *, int64_t secs);
static void	smtp_arm_timer_ms(struct smtp_session *, int64_t ms);
static void	smtp_auth_fail_reply(struct smtp_session *);
static void	smtp_starttls_begin(struct smtp_session *);
static bool	smtp_auth_offered(const struct smtp_session *);
static bool	smtp_starttls_offered(const struct smtp_session *);
static void	smtp_tx_rollback(struct smtp_session *);
static bool	smtp_addr_is_loopback(const struct sockaddr *);
static bool	smtp_may_submit(const struct smtp_session *);

static const char *
smtp_strstate(enum smtp_state st)
{
	switch (st) {
	case SMTP_ST_HELO:		return "HELO";
	case SMTP_ST_READY:		return "READY";
	case SMTP_ST_MAIL:		return "MAIL";
	case SMTP_ST_RCPT:		return "RCPT";
	case SMTP_ST_DATA:		return "DATA";
	case SMTP_ST_WAIT_COMMIT:	return "WAIT_COMMIT";
	case SMTP_ST_QUIT:		return "QUIT";
	case SMTP_ST_TLS:		return "TLS";
	case SMTP_ST_AUTH_INPUT:	return "AUTH_INPUT";
	case SMTP_ST_WAIT_AUTH:		return "WAIT_AUTH";
	}
	return "?";
}

static void
smtp_enter_state(struct smtp_session *s, enum smtp_state st)
{
	log_debug("session=%016llx event=state old=%s new=%s",
	    (unsigned long long)s->id, smtp_strstate(s->state),
	    smtp_strstate(st));
	s->state = st;
}

/* ------------------------------------------------------------------ */
/* session table */

static struct smtp_session *
smtp_session_lookup(struct smtp_server *srv, uint64_t id)
{
	uint32_t slot = (uint32_t)(id & 0xffffffffu);
	uint32_t gen = (uint32_t)(id >> 32);

	if (slot >= srv->nslots || srv->slots[slot].gen != gen)
		return NULL;
	return srv->slots[slot].s;
}

static uint64_t
smtp_session_register(struct smtp_server *srv, struct smtp_session *s)
{
	uint32_t slot, i, ncap;

	if (srv->free_head == UINT32_MAX) {
		ncap = srv->nslots ? srv->nslots * 2 : 64;
		srv->slots = xreallocarray(srv->slots, ncap,
		    sizeof(*srv->slots));
		for (i = srv->nslots; i < ncap; i++) {
			srv->slots[i].s = NULL;
			srv->slots[i].gen = 1;
			srv->slots[i].next_free = i + 1 < ncap ? i + 1 :
			    UINT32_MAX;
		}
		srv->free_head = srv->nslots;
		srv->nslots = ncap;
	}
	slot = srv->free_head;
	srv->free_head = srv->slots[slot].next_free;
	srv->slots[slot].s = s;
	srv->nsessions++;
	return ((uint64_t)srv->slots[slot].gen << 32) | slot;
}

static void
smtp_session_unregister(struct smtp_server *srv, uint64_t id)
{
	uint32_t slot = (uint32_t)(id & 0xffffffffu);

	if (smtp_session_lookup(srv, id) == NULL) {
		MH_BUG("unregister of unknown session");
		return;
	}
	srv->slots[slot].s = NULL;
	srv->slots[slot].gen++;
	srv->slots[slot].next_free = srv->free_head;
	srv->free_head = slot;
	srv->nsessions--;
}

static size_t
smtp_sessions_from(struct smtp_server *srv, const struct sockaddr_storage *ss)
{
	size_t i, n = 0;

	for (i = 0; i < srv->nslots; i++) {
		struct smtp_session *o = srv->slots[i].s;
		if (o == NULL || o->ss.ss_family != ss->ss_family)
			continue;
		if (ss->ss_family == AF_INET &&
		    memcmp(&((const struct sockaddr_in *)&o->ss)->sin_addr,
		    &((const struct sockaddr_in *)ss)->sin_addr, 4) == 0)
			n++;
		else if (ss->ss_family == AF_INET6 &&
		    memcmp(&((const struct sockaddr_in6 *)&o->ss)->sin6_addr,
		    &((const struct sockaddr_in6 *)ss)->sin6_addr, 16) == 0)
			n++;
	}
	return n;
}

/* ------------------------------------------------------------------ */
/* replies and logging */

static void
smtp_reply(struct smtp_session *s, const char *fmt, ...)
{
	char line[1024];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = mh_vsnprintf(line, sizeof(line) - 2, fmt, ap);
	va_end(ap);
	if (n < 0) {
		MH_BUG("reply too long");
		n = mh_snprintf(line, sizeof(line) - 2,
		    "451 4.3.0 Local error");
	}
	if (line[0] == '4' || line[0] == '5')
		log_info("session=%016llx event=reply state=%s reply=\"%s\"",
		    (unsigned long long)s->id, smtp_strstate(s->state), line);
	line[n++] = '\r';
	line[n++] = '\n';
	evbuffer_add(s->replies, line, (size_t)n);
}

/* Sends a final reply, then closes once the output is flushed. */
static void
smtp_close_with(struct smtp_session *s, const char *reply)
{
	smtp_reply(s, "%s", reply);
	smtp_enter_state(s, SMTP_ST_QUIT);
	smtp_flush(s);
	bufferevent_disable(s->bev, EV_READ);
	if (s->timer)
		evtimer_del(s->timer);
	/* Bound the flush: a peer that never reads must not pin us. */
	smtp_arm_timer(s, 30);
}

/*
 * Hands the replies produced by one callback to the socket.  When nothing
 * is queued in the bufferevent they are written right away, which saves
 * the loop iteration a write event would cost for each reply; whatever
 * the socket does not take, and everything in QUIT (where the
 * bufferevent's write callback must see the drain to free the session),
 * goes through the bufferevent, as does everything on a TLS session.
 * Every callback that may reply ends here.
 */
static void
smtp_flush(struct smtp_session *s)
{
	struct evbuffer *out = bufferevent_get_output(s->bev);

	if (evbuffer_get_length(s->replies) == 0)
		return;
	/* Never around TLS: the octets must go through SSL_write. */
	if (!(s->flags & SMTP_SF_TLS) && s->state != SMTP_ST_QUIT &&
	    evbuffer_get_length(out) == 0)
		/* Errors are seen again by the bufferevent's own I/O. */
		(void)evbuffer_write(s->replies, bufferevent_getfd(s->bev));
	if (evbuffer_get_length(s->replies) > 0)
		evbuffer_add_buffer(out, s->replies);
}

static void
smtp_junk(struct smtp_session *s)
{
	if (++s->junk > s->conf->max_junk) {
		log_info("session=%016llx event=disconnect reason=junk",
		    (unsigned long long)s->id);
		smtp_close_with(s, "421 4.7.0 Too many errors, closing");
	}
}

/* ------------------------------------------------------------------ */
/* timers */

static void
smtp_arm_timer(struct smtp_session *s, int64_t secs)
{
	smtp_arm_timer_ms(s, secs * 1000);
}

static void
smtp_arm_timer_ms(struct smtp_session *s, int64_t ms)
{
	int64_t now = mh_mono_ms(), until = now + ms, left;
	struct timeval tv;

	if (s->state != SMTP_ST_QUIT && until > s->session_end_ms)
		until = s->session_end_ms;
	s->deadline_ms = until;
	left = until > now ? until - now : 0;
	tv.tv_sec = (time_t)(left / 1000);
	tv.tv_usec = (suseconds_t)((left % 1000) * 1000);
	evtimer_add(s->timer, &tv);
}

static void
smtp_timer_cb(evutil_socket_t fd, short ev, void *arg)
{
	struct smtp_session *s = arg;

	if (s->state == SMTP_ST_QUIT) {
		smtp_free(s, "flush timeout");
		return;
	}
	if (s->state == SMTP_ST_WAIT_COMMIT) {
		/* The writer thread answers; never drop a message whose
		 * commit may still succeed.  Look again later. */
		smtp_arm_timer(s, 5);
		return;
	}
	if (s->state == SMTP_ST_WAIT_AUTH) {
		if (s->flags & SMTP_SF_AUTH_DELAY)
			smtp_auth_fail_reply(s);	/* may free s */
		else if (mh_mono_ms() < s->session_end_ms)
			smtp_arm_timer(s, 5);	/* the back end answers */
		else	/* the completion finds the session gone or QUIT */
			smtp_close_with(s, "421 4.4.2 Timeout, closing "
			    "connection");
		return;
	}
	if (s->state == SMTP_ST_TLS) {
		log_info("session=%016llx event=tls_error reason=\"handshake "
		    "timeout\"", (unsigned long long)s->id);
		smtp_free(s, "TLS handshake timeout");
		return;
	}
	log_info("session=%016llx event=timeout state=%s",
	    (unsigned long long)s->id, smtp_strstate(s->state));
	smtp_close_with(s, "421 4.4.2 Timeout, closing connection");
}

/* ------------------------------------------------------------------ */
/* transactions */

static void
smtp_tx_free(struct smtp_tx *tx)
{
	size_t i;

	if (tx == NULL)
		return;
	free(tx->sender);
	for (i = 0; i < tx->nrcpts; i++)
		free(tx->rcpts[i]);
	free(tx->rcpts);
	mh_buf_clear(&tx->mem);
	mh_buf_clear(&tx->hdr);
	if (tx->spill_fd >= 0)
		close(tx->spill_fd);
	free(tx);
}

/* Keeps the header block (up to the empty line, at most SMTP_HDR_MAX)
 * for auth.check_from_header.  An over-long block is kept cut: the
 * From: check then refuses the message. */
static void
smtp_tx_hdr_feed(struct smtp_tx *tx, const char *p, size_t n)
{
	const char *end;
	size_t take;

	if (!tx->hdr_on)
		return;
	take = n;
	if (tx->hdr.len + n > SMTP_HDR_MAX)
		take = SMTP_HDR_MAX - tx->hdr.len;
	if (take > 0 && mh_buf_append(&tx->hdr, p, take) == -1)
		take = 0;
	if (tx->hdr.len >= SMTP_HDR_MAX ||
	    (tx->hdr.len >= 2 && memcmp(tx->hdr.data, "\r\n", 2) == 0)) {
		tx->hdr_on = false;
		return;
	}
	if ((end = memmem(tx->hdr.data, tx->hdr.len, "\r\n\r\n", 4)) !=
	    NULL) {
		tx->hdr.len = (size_t)(end - tx->hdr.data) + 2;
		tx->hdr.data[tx->hdr.len] = '\0';
		tx->hdr_on = false;
	}
}

static void
smtp_tx_rollback(struct smtp_session *s)
{
	smtp_tx_free(s->tx);
	s->tx = NULL;
}

static int
smtp_tx_spill_open(struct smtp_session *s)
{
	char dir[4096];
	int fd;

	if (mh_strlcpy(dir, s->conf->queue_path, sizeof(dir)) >= sizeof(dir))
		return -1;
	/* dirname() may modify its argument: dir is our copy. */
	fd = open(dirname(dir), O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
	if (fd < 0) {
		char tmpl[4096 + 32];
		if (mh_snprintf(tmpl, sizeof(tmpl), "%s/.spill-XXXXXX",
		    dir) < 0)
			return -1;
		fd = mkostemp(tmpl, O_CLOEXEC);
		if (fd >= 0)
			unlink(tmpl);
	}
	return fd;
}

/* Appends message octets, spilling to a temporary file past the memory
 * threshold so a session never holds a large message in memory. */
static void
smtp_tx_append(struct smtp_session *s, const char *p, size_t n)
{
	struct smtp_tx *tx = s->tx;
	ssize_t w;

	if (n == 0 || tx->too_big || tx->io_error)
		return;
	smtp_tx_hdr_feed(tx, p, n);
	if (tx->len > s->conf->message_size_max - n ||
	    n > s->conf->message_size_max) {
		tx->too_big = true;
		return;
	}
	if (tx->spill_fd < 0 && tx->mem.len + n > s->conf->memory_per_message) {
		if ((tx->spill_fd = smtp_tx_spill_open(s)) < 0) {
			log_warn("session=%016llx event=spill_error",
			    (unsigned long long)s->id);
			tx->io_error = true;
			return;
		}
		/* XXX blocking write on the loop thread; it goes to the page
		 * cache, never fsync'd (SQLite owns durability). */
		if (tx->mem.len && write(tx->spill_fd, tx->mem.data,
		    tx->mem.len) != (ssize_t)tx->mem.len) {
			tx->io_error = true;
			return;
		}
		mh_buf_clear(&tx->mem);
	}
	if (tx->spill_fd >= 0) {
		while (n > 0) {
			w = write(tx->spill_fd, p, n);
			if (w < 0 && errno == EINTR)
				continue;
			if (w <= 0) {
				log_warn("session=%016llx event=spill_error",
				    (unsigned long long)s->id);
				tx->io_error = true;
				return;
			}
			p += w;
			n -= (size_t)w;
			tx->len += (size_t)w;
		}
		return;
	}
	if (mh_buf_append(&tx->mem, p, n) == -1) {
		tx->too_big = true;
		return;
	}
	tx->len += n;
}

static void
smtp_tx_received(struct smtp_session *s)
{
	char date[64], line[1024], proto[16], tls[160];
	struct tm tm;
	time_t now = time(NULL);
	int n;

	localtime_r(&now, &tm);
	strftime(date, sizeof(date), "%a, %d %b %Y %H:%M:%S %z", &tm);
	/* RFC 3848 / RFC 6531 protocol names: ESMTP + S (TLS) + A (AUTH). */
	(void)mh_snprintf(proto, sizeof(proto), "%s%s%s",
	    s->tx->smtputf8 ? "UTF8SMTP" :
	    (s->flags & SMTP_SF_EHLO) ? "ESMTP" : "SMTP",
	    (s->flags & SMTP_SF_TLS_UP) ? "S" : "",
	    s->auth_user != NULL ? "A" : "");
	tls[0] = '\0';
	if (s->flags & SMTP_SF_TLS_UP)
		(void)mh_snprintf(tls, sizeof(tls), "\t(using %s)\r\n",
		    s->tlsinfo);
	/* RFC 5321 §4.4; no "for <rcpt>": it would reveal Bcc recipients. */
	n = mh_snprintf(line, sizeof(line),
	    "Received: from %s (%s%s%s)\r\n%s"
	    "\tby %s (mailhold) with %s id %s;\r\n\t%s\r\n",
	    s->helo ? s->helo : "unknown",
	    s->ss.ss_family == AF_INET6 ? "[IPv6:" : "[", s->addr, "]", tls,
	    s->conf->hostname, proto, s->tx->id, date);
	if (n > 0)
		smtp_tx_append(s, line, (size_t)n);
}

/* ------------------------------------------------------------------ */
/* commands */

static int
smtp_check_helo(struct smtp_session *s, const struct smtp_cmd *c)
{
	size_t i;

	if (c->argslen == 0) {
		smtp_reply(s, "501 5.5.4 Syntax: %s hostname",
		    c->verb == SMTP_VERB_EHLO ? "EHLO" : "HELO");
		return -1;
	}
	/* A domain or address literal; we keep it only for the trace
	 * header, so accept any printable ASCII without spaces. */
	for (i = 0; i < c->argslen; i++) {
		unsigned char ch = (unsigned char)c->args[i];
		if (ch <= 0x20 || ch >= 0x7f || ch == '(' || ch == ')') {
			smtp_reply(s, "501 5.5.4 Invalid domain name");
			return -1;
		}
	}
	if (c->argslen > 255) {
		smtp_reply(s, "501 5.5.4 Domain name too long");
		return -1;
	}
	return 0;
}

enum smtp_utf8 {
	SMTP_UTF8_YES,		/* the upstream offers SMTPUTF8 */
	SMTP_UTF8_NO,		/* its last EHLO did not */
	SMTP_UTF8_UNKNOWN,	/* no EHLO seen yet (just started, or down) */
};

/* Whether the relay can carry SMTPUTF8, from the upstream's last EHLO
 * (proxy/smtp_client.h).  Without a relay nothing restricts it. */
static enum smtp_utf8
smtp_upstream_utf8(const struct smtp_session *s)
{
	unsigned caps;

	if (s->srv->relay == NULL)
		return SMTP_UTF8_YES;
	if (!relay_upstream_caps(s->srv->relay, &caps, NULL))
		return SMTP_UTF8_UNKNOWN;
	return caps & RELAY_CAP_SMTPUTF8 ? SMTP_UTF8_YES : SMTP_UTF8_NO;
}

/*
 * RFC 6531: refuse at MAIL / RCPT, not after the hold, a UTF-8 address
 * the upstream cannot carry.  §3.5: 553 with X.6.7 "Non-ASCII addresses
 * not permitted for that sender/recipient".  An ASCII sender with the
 * SMTPUTF8 parameter while the upstream lacks it and it was not offered
 * in this session's EHLO: 555 5.5.4, a MAIL parameter that cannot be
 * implemented (RFC 5321 §4.1.1.11); when it was offered (the upstream
 * changed since), the client did nothing wrong: 451 4.4.0, and its next
 * session sees no SMTPUTF8.  While nothing is known (no EHLO seen yet), a
 * UTF-8 address gets 451 4.4.0 (the client tries again later); an ASCII
 * sender passes.  Returns -1 after replying.
 */
static int
smtp_check_utf8(struct smtp_session *s, bool param, bool utf8_addr,
    const char *who)
{
	enum smtp_utf8 u;

	if (!param || (u = smtp_upstream_utf8(s)) == SMTP_UTF8_YES)
		return 0;
	if (u == SMTP_UTF8_UNKNOWN) {
		if (!utf8_addr)
			return 0;
		smtp_reply(s, "451 4.4.0 Cannot tell yet whether the upstream "
		    "server accepts UTF-8 addresses, try again later");
		return -1;
	}
	if (utf8_addr)
		smtp_reply(s, "553 5.6.7 Non-ASCII %s address not permitted: "
		    "the upstream server does not support SMTPUTF8", who);
	else if (s->flags & SMTP_SF_UTF8_OFFERED)
		smtp_reply(s, "451 4.4.0 SMTPUTF8 is no longer available: the "
		    "upstream server stopped offering it, try again");
	else
		smtp_reply(s, "555 5.5.4 SMTPUTF8 not available: the upstream "
		    "server does not support it");
	return -1;
}

static void
smtp_proceed_helo(struct smtp_session *s, const struct smtp_cmd *c)
{
	free(s->helo);
	s->helo = xstrndup(c->args, c->argslen);
	smtp_tx_rollback(s);
	if (c->verb == SMTP_VERB_HELO) {
		s->flags &= ~(SMTP_SF_EHLO | SMTP_SF_UTF8_OFFERED);
		smtp_reply(s, "250 %s", s->conf->hostname);
	} else {
		s->flags |= SMTP_SF_EHLO;
		smtp_reply(s, "250-%s", s->conf->hostname);
		smtp_reply(s, "250-PIPELINING");
		smtp_reply(s, "250-SIZE %zu", s->conf->message_size_max);
		smtp_reply(s, "250-8BITMIME");
		/* Not when the upstream is known not to carry it: clients
		 * that always use it when offered then send plain mail. */
		s->flags &= ~SMTP_SF_UTF8_OFFERED;
		if (s->conf->smtputf8 &&
		    smtp_upstream_utf8(s) != SMTP_UTF8_NO) {
			s->flags |= SMTP_SF_UTF8_OFFERED;
			smtp_reply(s, "250-SMTPUTF8");
		}
		if (smtp_starttls_offered(s))
			smtp_reply(s, "250-STARTTLS");
		if (smtp_auth_offered(s))
			smtp_reply(s, "250-AUTH PLAIN LOGIN");
		smtp_reply(s, "250 ENHANCEDSTATUSCODES");
	}
	smtp_enter_state(s, SMTP_ST_READY);
}

/* STARTTLS may be used now: on a starttls listener, not yet inside TLS. */
static bool
smtp_starttls_offered(const struct smtp_session *s)
{
	return s->mode == CONFIG_LISTEN_STARTTLS && s->srv->tls != NULL &&
	    !(s->flags & SMTP_SF_TLS);
}

/* AUTH may be used now: inside TLS, or on loopback when allowed. */
static bool
smtp_auth_offered(const struct smtp_session *s)
{
	if (s->srv->auth == NULL || s->conf->auth_backend == CONFIG_AUTH_NONE ||
	    s->auth_user != NULL)
		return false;
	if (s->flags & SMTP_SF_TLS_UP)
		return true;
	if (s->mode == CONFIG_LISTEN_STARTTLS && s->require_tls)
		return false;
	return s->conf->auth_allow_plaintext && s->loopback;
}

/* RFC 3207 section 4: require_tls refuses MAIL and AUTH before TLS. */
static bool
smtp_tls_missing(const struct smtp_session *s)
{
	return s->mode == CONFIG_LISTEN_STARTTLS && s->require_tls &&
	    !(s->flags & SMTP_SF_TLS_UP);
}

static int
smtp_check_mail(struct smtp_session *s, const struct smtp_cmd *c)
{
	if (smtp_tls_missing(s)) {
		smtp_reply(s, "530 5.7.0 Must issue a STARTTLS command first");
		return -1;
	}
	/* RFC 4954 section 6: no open relay. */
	if (s->auth_user == NULL && !s->trusted) {
		smtp_reply(s, "530 5.7.0 Authentication required");
		return -1;
	}
	return 0;
}

/*
 * queue.min_free (issue 16): is there room on the queue's file system for
 * a new message of size octets (0: not announced)?  Otherwise 452 4.3.1
 * (RFC 3463: mail system full; RFC 1870 section 6.1 for SIZE=) and -1.
 * Each warning (space low, SIZE= too big) is logged at most once a
 * minute, a new shortage at once; the return to normal once.
 * queue_space() caches statvfs for a second.
 */
#define SMTP_SPACE_LOG_MS	60000

static int
smtp_check_space(struct smtp_session *s, uint64_t size)
{
	struct smtp_server *srv = s->srv;
	uint64_t avail, min_free = s->conf->queue_min_free;
	bool low;
	int64_t now, *last;

	if (queue_space(srv->queue, &avail) == -1)
		return 0;	/* unknown: an ENOSPC at commit still says 451 */
	low = !queue_space_ok(avail, min_free, 0);
	if (!low && srv->space_low) {
		log_info("event=queue_space state=ok free=%llu min_free=%llu",
		    (unsigned long long)avail, (unsigned long long)min_free);
		srv->space_logged = 0;	/* a new shortage is told at once */
	}
	srv->space_low = low;
	if (!low && queue_space_ok(avail, min_free, size))
		return 0;
	now = mh_mono_ms();
	last = low ? &srv->space_logged : &srv->size_logged;
	if (*last == 0 || now - *last >= SMTP_SPACE_LOG_MS || now < *last) {
		*last = now != 0 ? now : 1;
		if (low)
			log_warnx("event=queue_space state=low free=%llu "
			    "min_free=%llu note=\"new mail gets 452 4.3.1 "
			    "until space is freed on the queue's file "
			    "system\"", (unsigned long long)avail,
			    (unsigned long long)min_free);
		else
			log_warnx("event=queue_space state=too_big size=%llu "
			    "free=%llu min_free=%llu note=\"a MAIL FROM "
			    "SIZE= larger than the free space got 452 "
			    "4.3.1\"", (unsigned long long)size,
			    (unsigned long long)avail,
			    (unsigned long long)min_free);
	}
	smtp_reply(s, "452 4.3.1 Insufficient system storage, try again "
	    "later");
	return -1;
}

static void
smtp_proceed_mail(struct smtp_session *s, const struct smtp_cmd *c)
{
	struct smtp_mail_args ma;
	const char *why, *ecode;
	struct smtp_tx *tx;
	int code;

	why = smtp_parse_mail(c->args, c->argslen, s->conf->smtputf8, &ma,
	    &code, &ecode);
	if (why != NULL) {
		smtp_reply(s, "%d %s %s", code, ecode, why);
		smtp_junk(s);
		return;
	}
	if (ma.has_size && ma.size > s->conf->message_size_max) {
		smtp_reply(s, "552 5.3.4 Message size exceeds fixed limit "
		    "of %zu octets", s->conf->message_size_max);
		return;
	}
	if (smtp_check_space(s, ma.has_size ? ma.size : 0) == -1)
		return;
	if (smtp_check_utf8(s, ma.smtputf8, ma.path.is_utf8, "sender") == -1)
		return;
	/* Sender binding: a stolen login must not send as someone else. */
	if (s->auth_user != NULL && !auth_sender_ok(s->conf, s->auth_user,
	    ma.path.addr)) {
		char esc[1500];

		log_info("session=%016llx event=reject cmd=MAIL reason="
		    "sender_not_owned from=%s", (unsigned long long)s->id,
		    mh_log_addr(ma.path.addr, esc, sizeof(esc)));
		smtp_reply(s, "553 5.7.1 Sender address not owned by user");
		return;
	}
	tx = xcalloc(1, sizeof(*tx));
	tx->spill_fd = -1;
	tx->sender = xstrdup(ma.path.addr);
	tx->smtputf8 = ma.smtputf8;
	tx->body = ma.body;
	mh_buf_init(&tx->mem, s->conf->memory_per_message);
	mh_buf_init(&tx->hdr, SMTP_HDR_MAX);
	tx->hdr_on = s->auth_user != NULL && s->conf->auth_check_from;
	s->tx = tx;
	smtp_reply(s, "250 2.1.0 Ok");
	smtp_enter_state(s, SMTP_ST_MAIL);
}

static int
smtp_check_rcpt(struct smtp_session *s, const struct smtp_cmd *c)
{
	return 0;
}

static void
smtp_proceed_rcpt(struct smtp_session *s, const struct smtp_cmd *c)
{
	struct smtp_rcpt_args ra;
	struct smtp_tx *tx = s->tx;
	const char *why, *ecode;
	int code;

	/* RFC 5321 §4.5.3.1.10: a temporary reply; the client sends the
	 * rest in another transaction.  Not junk: a big list is legitimate. */
	if (tx->nrcpts >= s->conf->max_recipients) {
		smtp_reply(s, "452 4.5.3 Too many recipients");
		return;
	}
	why = smtp_parse_rcpt(c->args, c->argslen, tx->smtputf8, &ra, &code,
	    &ecode);
	if (why != NULL) {
		smtp_reply(s, "%d %s %s", code, ecode, why);
		smtp_junk(s);
		return;
	}
	if (smtp_check_utf8(s, ra.path.is_utf8, ra.path.is_utf8,
	    "recipient") == -1)
		return;
	if (tx->nrcpts == tx->rcptcap) {
		tx->rcptcap = tx->rcptcap ? tx->rcptcap * 2 : 4;
		tx->rcpts = xreallocarray(tx->rcpts, tx->rcptcap,
		    sizeof(*tx->rcpts));
	}
	tx->rcpts[tx->nrcpts++] = xstrdup(ra.path.addr);
	smtp_reply(s, "250 2.1.5 Ok");
	smtp_enter_state(s, SMTP_ST_RCPT);
}

static int
smtp_check_noargs(struct smtp_session *s, const struct smtp_cmd *c)
{
	if (c->argslen != 0) {
		smtp_reply(s, "501 5.5.4 Syntax error, no parameters allowed");
		return -1;
	}
	return 0;
}

static void
smtp_proceed_data(struct smtp_session *s, const struct smtp_cmd *c)
{
	struct smtp_tx *tx = s->tx;

	queue_id_new(tx->id);
	smtp_dot_init(&tx->dr, s->conf->text_line_max,
	    s->conf->bare_newline == CONFIG_BARE_NL_NORMALIZE);
	if (s->conf->received_header)
		smtp_tx_received(s);
	smtp_reply(s, "354 End data with <CR><LF>.<CR><LF>");
	smtp_enter_state(s, SMTP_ST_DATA);
	smtp_arm_timer(s, s->conf->timeout_data);
}

static void
smtp_proceed_rset(struct smtp_session *s, const struct smtp_cmd *c)
{
	smtp_tx_rollback(s);
	if (s->state != SMTP_ST_HELO)
		smtp_enter_state(s, SMTP_ST_READY);
	smtp_reply(s, "250 2.0.0 Ok");
}

static void
smtp_proceed_noop(struct smtp_session *s, const struct smtp_cmd *c)
{
	smtp_reply(s, "250 2.0.0 Ok");
}

static void
smtp_proceed_quit(struct smtp_session *s, const struct smtp_cmd *c)
{
	smtp_close_with(s, "221 2.0.0 Bye");
}

static void
smtp_proceed_vrfy(struct smtp_session *s, const struct smtp_cmd *c)
{
	/* RFC 5321 §3.5.3: we neither verify nor refuse. */
	smtp_reply(s, "252 2.5.0 Cannot VRFY user, but will accept message "
	    "and attempt delivery");
}

static void
smtp_proceed_help(struct smtp_session *s, const struct smtp_cmd *c)
{
	/* Only what this session may use now, as in the EHLO reply. */
	smtp_reply(s, "214 2.0.0 Commands: EHLO HELO MAIL RCPT DATA RSET "
	    "NOOP QUIT VRFY HELP%s%s", smtp_starttls_offered(s) ?
	    " STARTTLS" : "", smtp_auth_offered(s) ? " AUTH" : "");
}

/* ------------------------------------------------------------------ */
/* STARTTLS (RFC 3207) */

static int
smtp_check_starttls(struct smtp_session *s, const struct smtp_cmd *c)
{
	if (s->mode != CONFIG_LISTEN_STARTTLS || s->srv->tls == NULL) {
		smtp_reply(s, "502 5.5.1 Command not implemented");
		return -1;
	}
	if (s->flags & SMTP_SF_TLS) {
		/* RFC 3207 section 4.2: not offered again inside TLS. */
		smtp_reply(s, "503 5.5.1 TLS already active");
		return -1;
	}
	return smtp_check_noargs(s, c);
}

static void
smtp_proceed_starttls(struct smtp_session *s, const struct smtp_cmd *c)
{
	smtp_reply(s, "220 2.0.0 Ready to start TLS");
	/* smtp_process() stops here; smtp_starttls_begin() runs once this
	 * reply has been handed to the socket. */
	s->flags |= SMTP_SF_STARTTLS;
	smtp_enter_state(s, SMTP_ST_TLS);
}

/* ------------------------------------------------------------------ */
/* AUTH (RFC 4954) */

static void
smtp_auth_clear(struct smtp_session *s)
{
	if (s->creds != NULL) {
		auth_creds_clear(s->creds);
		OPENSSL_cleanse(s->creds, sizeof(*s->creds));
		free(s->creds);
		s->creds = NULL;
	}
}

/* Ends an exchange that did not reach the back end. */
static void
smtp_auth_abort(struct smtp_session *s, const char *reply)
{
	smtp_auth_clear(s);
	smtp_enter_state(s, SMTP_ST_READY);
	smtp_reply(s, "%s", reply);
}

static int
smtp_check_auth(struct smtp_session *s, const struct smtp_cmd *c)
{
	if (s->srv->auth == NULL || s->conf->auth_backend == CONFIG_AUTH_NONE) {
		smtp_reply(s, "502 5.5.1 AUTH not available");
		return -1;
	}
	if (s->auth_user != NULL) {
		smtp_reply(s, "503 5.5.1 Already authenticated");
		return -1;
	}
	if (smtp_tls_missing(s)) {
		smtp_reply(s, "530 5.7.0 Must issue a STARTTLS command first");
		return -1;
	}
	if (!smtp_auth_offered(s)) {
		smtp_reply(s, "538 5.7.11 Encryption required for requested "
		    "authentication mechanism");
		return -1;
	}
	if (auth_addr_blocked(s->srv->auth, s->addr)) {
		smtp_reply(s, "454 4.7.0 Too many failed logins, try again "
		    "later");
		return -1;
	}
	return 0;
}

static void	smtp_auth_done(enum auth_result, void *);

/* The credentials are complete: hand them to the back end. */
static void
smtp_auth_start(struct smtp_session *s)
{
	struct smtp_auth_req *r;
	char esc[300];

	if (auth_user_blocked(s->srv->auth, s->creds->user)) {
		log_info("session=%016llx event=auth_blocked user=\"%s\"",
		    (unsigned long long)s->id, mh_log_escape(s->creds->user,
		    strlen(s->creds->user), 64, esc, sizeof(esc)));
		smtp_auth_abort(s, "454 4.7.0 Too many failed logins, try "
		    "again later");
		return;
	}
	r = xcalloc(1, sizeof(*r));
	r->srv = s->srv;
	r->sid = s->id;
	smtp_enter_state(s, SMTP_ST_WAIT_AUTH);
	bufferevent_disable(s->bev, EV_READ);
	if (auth_check(s->srv->auth, s->creds->user, s->creds->pass,
	    s->creds->passlen, smtp_auth_done, r) == -1) {
		free(r);
		bufferevent_enable(s->bev, EV_READ);
		smtp_auth_abort(s, "454 4.7.0 Temporary authentication "
		    "failure");
		return;
	}
	/* auth_check() copied it; keep only the user name. */
	auth_creds_clear(s->creds);
	smtp_arm_timer(s, 5);
}

/* After the failure delay (or right away): 535, or 421 at the limit. */
static void
smtp_auth_fail_reply(struct smtp_session *s)
{
	bool close = (s->flags & SMTP_SF_AUTH_CLOSE) != 0;

	s->flags &= ~(SMTP_SF_AUTH_DELAY | SMTP_SF_AUTH_CLOSE);
	smtp_auth_clear(s);
	smtp_enter_state(s, SMTP_ST_READY);
	if (close) {
		log_info("session=%016llx event=disconnect reason=auth_failures",
		    (unsigned long long)s->id);
		smtp_reply(s, "535 5.7.8 Authentication credentials invalid");
		smtp_close_with(s, "421 4.7.0 Too many failed logins, closing "
		    "connection");
		return;
	}
	smtp_reply(s, "535 5.7.8 Authentication credentials invalid");
	bufferevent_enable(s->bev, EV_READ);
	smtp_arm_timer(s, s->conf->timeout_command);
	smtp_process(s);
	smtp_flush(s);
}

static void
smtp_auth_done(enum auth_result res, void *arg)
{
	struct smtp_auth_req *r = arg;
	struct smtp_session *s;
	char esc[300];
	int64_t delay;
	bool close;

	s = smtp_session_lookup(r->srv, r->sid);
	free(r);
	if (s == NULL || s->state != SMTP_ST_WAIT_AUTH || s->creds == NULL)
		return;		/* the client left; nothing to say */
	mh_log_escape(s->creds->user, strlen(s->creds->user), 64, esc,
	    sizeof(esc));
	switch (res) {
	case AUTH_OK:
		auth_succeeded(s->srv->auth, s->addr, s->creds->user);
		s->auth_user = xstrdup(s->creds->user);
		log_info("session=%016llx event=auth result=ok user=\"%s\" "
		    "mech=%s", (unsigned long long)s->id, esc, s->auth_mech);
		smtp_auth_clear(s);
		smtp_enter_state(s, SMTP_ST_READY);
		smtp_reply(s, "235 2.7.0 Authentication successful");
		break;
	case AUTH_TEMPFAIL:
		log_info("session=%016llx event=auth result=tempfail "
		    "user=\"%s\" mech=%s", (unsigned long long)s->id, esc,
		    s->auth_mech);
		smtp_auth_clear(s);
		smtp_enter_state(s, SMTP_ST_READY);
		smtp_reply(s, "454 4.7.0 Temporary authentication failure");
		break;
	case AUTH_FAIL:
		metrics_inc(METRICS_AUTH_FAILURES);
		delay = auth_failed(s->srv->auth, s->addr, s->creds->user,
		    &close);
		s->flags |= SMTP_SF_AUTH_DELAY | (close ? SMTP_SF_AUTH_CLOSE :
		    0);
		if (delay > 0) {
			smtp_arm_timer_ms(s, delay);
			return;
		}
		smtp_auth_fail_reply(s);	/* may free s */
		return;
	}
	bufferevent_enable(s->bev, EV_READ);
	smtp_arm_timer(s, s->conf->timeout_command);
	smtp_process(s);
	smtp_flush(s);
}

/* Decodes one base64 SASL field and feeds the exchange. */
static void
smtp_auth_feed(struct smtp_session *s, const char *b64, size_t len)
{
	unsigned char dec[AUTH_SASL_MAX];
	const char *why;
	size_t dlen = 0;

	switch (auth_b64_decode(b64, len, dec, sizeof(dec), &dlen)) {
	case AUTH_B64_OK:
		break;
	case AUTH_B64_TOO_LONG:
		smtp_auth_abort(s, "500 5.5.6 Authentication exchange line is "
		    "too long");
		smtp_junk(s);
		return;
	default:
		smtp_auth_abort(s, "501 5.5.2 Invalid base64 data");
		smtp_junk(s);
		return;
	}
	switch (s->auth_step) {
	case SMTP_AUTH_PLAIN:
		why = auth_sasl_plain_parse(dec, dlen, s->creds);
		break;
	case SMTP_AUTH_LOGIN_USER:
		why = auth_sasl_login_parse(dec, dlen, true, s->creds);
		break;
	default:
		why = auth_sasl_login_parse(dec, dlen, false, s->creds);
		break;
	}
	OPENSSL_cleanse(dec, sizeof(dec));
	if (why != NULL) {
		char msg[128];

		(void)mh_snprintf(msg, sizeof(msg), "501 5.5.2 Malformed "
		    "authentication data: %s", why);
		smtp_auth_abort(s, msg);
		smtp_junk(s);
		return;
	}
	if (s->auth_step == SMTP_AUTH_LOGIN_USER) {
		s->auth_step = SMTP_AUTH_LOGIN_PASS;
		smtp_enter_state(s, SMTP_ST_AUTH_INPUT);
		smtp_reply(s, "334 UGFzc3dvcmQ6");	/* "Password:" */
		return;
	}
	smtp_auth_start(s);
}

/* One line in SMTP_ST_AUTH_INPUT (CRLF removed).  Never logged. */
static void
smtp_auth_input(struct smtp_session *s, const char *line, size_t len)
{
	s->flags |= SMTP_SF_MASK_LOG;
	if (len == 1 && line[0] == '*') {	/* RFC 4954 section 4 */
		smtp_auth_abort(s, "501 5.0.0 Authentication cancelled");
		return;
	}
	smtp_auth_feed(s, line, len);
}

static void
smtp_proceed_auth(struct smtp_session *s, const struct smtp_cmd *c)
{
	const char *sp, *ir = NULL;
	size_t mlen, irlen = 0;

	s->flags |= SMTP_SF_MASK_LOG;
	sp = memchr(c->args, ' ', c->argslen);
	mlen = sp ? (size_t)(sp - c->args) : c->argslen;
	if (sp != NULL) {
		ir = sp + 1;
		irlen = c->argslen - mlen - 1;
		if (irlen == 0 || memchr(ir, ' ', irlen) != NULL) {
			smtp_reply(s, "501 5.5.4 Syntax: AUTH mechanism "
			    "[initial-response]");
			smtp_junk(s);
			return;
		}
	}
	if (mlen == 5 && mh_strncasecmp(c->args, "PLAIN", 5) == 0) {
		s->auth_mech = "PLAIN";
		s->auth_step = SMTP_AUTH_PLAIN;
	} else if (mlen == 5 && mh_strncasecmp(c->args, "LOGIN", 5) == 0) {
		s->auth_mech = "LOGIN";
		s->auth_step = SMTP_AUTH_LOGIN_USER;
	} else {
		smtp_reply(s, "504 5.5.4 Unrecognized authentication type");
		smtp_junk(s);
		return;
	}
	s->creds = xcalloc(1, sizeof(*s->creds));
	if (ir != NULL) {
		smtp_auth_feed(s, ir, irlen);
		return;
	}
	smtp_enter_state(s, SMTP_ST_AUTH_INPUT);
	/* LOGIN's prompts are the de-facto standard texts. */
	smtp_reply(s, s->auth_step == SMTP_AUTH_PLAIN ? "334 " :
	    "334 VXNlcm5hbWU6");
}

static void
smtp_proceed_unsupported(struct smtp_session *s, const struct smtp_cmd *c)
{
	smtp_reply(s, "502 5.5.1 Command not implemented");
	smtp_junk(s);
}

static const struct smtp_cmd_def smtp_cmds[] = {
	{ SMTP_VERB_EHLO, "EHLO", SMTP_STM_ANY, SMTP_CMD_LAST,
	    smtp_check_helo, smtp_proceed_helo },
	{ SMTP_VERB_HELO, "HELO", SMTP_STM_ANY, SMTP_CMD_LAST,
	    smtp_check_helo, smtp_proceed_helo },
	{ SMTP_VERB_MAIL, "MAIL", SMTP_STM(SMTP_ST_READY), 0,
	    smtp_check_mail, smtp_proceed_mail },
	{ SMTP_VERB_RCPT, "RCPT",
	    SMTP_STM(SMTP_ST_MAIL) | SMTP_STM(SMTP_ST_RCPT), 0,
	    smtp_check_rcpt, smtp_proceed_rcpt },
	{ SMTP_VERB_DATA, "DATA", SMTP_STM(SMTP_ST_RCPT), SMTP_CMD_LAST,
	    smtp_check_noargs, smtp_proceed_data },
	{ SMTP_VERB_RSET, "RSET", SMTP_STM_ANY, 0,
	    smtp_check_noargs, smtp_proceed_rset },
	{ SMTP_VERB_NOOP, "NOOP", SMTP_STM_ANY, SMTP_CMD_LAST,
	    NULL, smtp_proceed_noop },
	{ SMTP_VERB_QUIT, "QUIT", SMTP_STM_ANY, SMTP_CMD_LAST,
	    NULL, smtp_proceed_quit },
	{ SMTP_VERB_VRFY, "VRFY", SMTP_STM_ANY, SMTP_CMD_LAST | SMTP_CMD_JUNK,
	    NULL, smtp_proceed_vrfy },
	{ SMTP_VERB_HELP, "HELP", SMTP_STM_ANY, SMTP_CMD_LAST | SMTP_CMD_JUNK,
	    NULL, smtp_proceed_help },
	{ SMTP_VERB_EXPN, "EXPN", SMTP_STM_ANY, SMTP_CMD_LAST,
	    NULL, smtp_proceed_unsupported },
	{ SMTP_VERB_STARTTLS, "STARTTLS", SMTP_STM(SMTP_ST_HELO) |
	    SMTP_STM(SMTP_ST_READY), SMTP_CMD_LAST,
	    smtp_check_starttls, smtp_proceed_starttls },
	/* RFC 4954 section 4: not during a mail transaction. */
	{ SMTP_VERB_AUTH, "AUTH", SMTP_STM(SMTP_ST_READY), SMTP_CMD_LAST,
	    smtp_check_auth, smtp_proceed_auth },
	/* CHUNKING is not advertised: BDAT would bypass the end-of-data
	 * scrutiny of smtp_dot_feed(). */
	{ SMTP_VERB_BDAT, "BDAT", SMTP_STM_ANY, SMTP_CMD_LAST,
	    NULL, smtp_proceed_unsupported },
};

static void
smtp_dispatch(struct smtp_session *s, const char *line, size_t len)
{
	const struct smtp_cmd_def *d = NULL;
	struct smtp_cmd c;
	char esc[128];
	const char *why;
	size_t i;

	if ((why = smtp_parse_cmd(line, len, &c)) != NULL) {
		smtp_reply(s, "500 5.5.2 %s", why);
		smtp_junk(s);
		return;
	}
	for (i = 0; i < sizeof(smtp_cmds) / sizeof(smtp_cmds[0]); i++)
		if (smtp_cmds[i].verb == c.verb) {
			d = &smtp_cmds[i];
			break;
		}
	if (d == NULL) {
		/* Right after AUTH, a stray line may be a password. */
		log_info("session=%016llx event=unknown_command line=\"%s\"",
		    (unsigned long long)s->id, (s->flags & SMTP_SF_MASK_LOG) ?
		    "********" : mh_log_escape(line, len, 40, esc, sizeof(esc)));
		smtp_reply(s, "500 5.5.1 Command unrecognized");
		smtp_junk(s);
		return;
	}
	log_debug("session=%016llx event=command cmd=%s", (unsigned long long)
	    s->id, d->name);
	s->flags &= ~SMTP_SF_MASK_LOG;
	if ((d->states & SMTP_STM(s->state)) == 0) {
		if (s->state == SMTP_ST_HELO)
			smtp_reply(s, "503 5.5.1 Send EHLO/HELO first");
		else if (c.verb == SMTP_VERB_MAIL)
			smtp_reply(s, "503 5.5.1 Nested MAIL command");
		else if (c.verb == SMTP_VERB_DATA && s->state == SMTP_ST_MAIL)
			smtp_reply(s, "503 5.5.1 No valid recipients");
		else
			smtp_reply(s, "503 5.5.1 Bad sequence of commands");
		smtp_junk(s);
		return;
	}
	if (d->check && d->check(s, &c) == -1) {
		smtp_junk(s);
		return;
	}
	d->proceed(s, &c);
	if ((d->flags & SMTP_CMD_JUNK) && s->state != SMTP_ST_QUIT)
		smtp_junk(s);
}

/* ------------------------------------------------------------------ */
/* end of message and commit */

static void
smtp_commit_done(int result, void *arg)
{
	struct smtp_commit_req *r = arg;
	struct smtp_session *s;

	s = smtp_session_lookup(r->srv, r->sid);
	if (result == 0) {
		char la[1500];

		log_info("id=%s event=received from=%s nrcpt=%zu size=%zu "
		    "session=%016llx", r->id, mh_log_addr(r->sender, la,
		    sizeof(la)), r->nrcpts, r->size,
		    (unsigned long long)r->sid);
		metrics_inc(METRICS_RECEIVED);
		metrics_inc(r->awaiting ? METRICS_AWAITING : METRICS_HELD);
		if (r->alert)
			metrics_inc(METRICS_ALERTS);
		if (r->awaiting)
			log_info("id=%s event=awaiting_release expires=%lld",
			    r->id, (long long)r->release_at);
		else
			log_info("id=%s event=held until=%lld", r->id,
			    (long long)r->release_at);
	}
	if (s == NULL || s->state != SMTP_ST_WAIT_COMMIT) {
		/* Client went away: the message (if committed) stays queued
		 * and will be sent; the client may resend (at-least-once). */
		log_info("id=%s event=commit_orphan result=%d", r->id,
		    result);
		goto done;
	}
	if (result == 0)
		smtp_reply(s, "250 2.0.0 Ok: queued as %s", r->id);
	else
		smtp_reply(s, "451 4.3.0 Queue write failed, try again later");
	smtp_enter_state(s, SMTP_ST_READY);
	if (s->flags & SMTP_SF_SHUTDOWN) {
		smtp_close_with(s, "421 4.3.2 Service shutting down");
		goto done;
	}
	bufferevent_enable(s->bev, EV_READ);
	smtp_arm_timer(s, s->conf->timeout_command);
	/* Pipelined commands may already be buffered (RFC 2920). */
	smtp_process(s);
	smtp_flush(s);
done:
	free(r->sender);
	free(r);
}

/*
 * The message as the policy sees it: the bytes kept in memory, or a
 * bounded prefix read back from the spill file (*freeme is then set).
 */
static const char *
smtp_tx_prefix(struct smtp_tx *tx, size_t *len, char **freeme)
{
	size_t want = tx->len < SCREEN_SCAN_MAX ? tx->len : SCREEN_SCAN_MAX;
	ssize_t n;
	char *buf;

	*freeme = NULL;
	if (tx->spill_fd < 0) {
		*len = tx->mem.len;
		return tx->mem.data ? tx->mem.data : "";
	}
	buf = xmalloc(want ? want : 1);
	n = pread(tx->spill_fd, buf, want, 0);
	*len = n > 0 ? (size_t)n : 0;
	*freeme = buf;
	return buf;
}

/*
 * rewrite_to_bcc: the policy's new header block replaces the first
 * v->header_replaces octets of the message (envelope and body untouched).
 */
static int
smtp_tx_rewrite(struct smtp_session *s, const struct policy_verdict *v)
{
	struct smtp_tx *tx = s->tx;
	struct mh_buf nb;
	char *chunk;
	off_t off;
	ssize_t n;
	int fd;

	if (v->header_replaces > tx->len)
		return -1;
	if (tx->spill_fd < 0) {
		mh_buf_init(&nb, tx->len - v->header_replaces + v->header_len);
		if (mh_buf_append(&nb, v->header, v->header_len) == -1 ||
		    mh_buf_append(&nb, tx->mem.data + v->header_replaces,
		    tx->mem.len - v->header_replaces) == -1) {
			mh_buf_clear(&nb);
			return -1;
		}
		mh_buf_clear(&tx->mem);
		tx->mem = nb;
		tx->len = nb.len;
		return 0;
	}
	/* Spilled: a new file with the new header, then the rest copied. */
	if ((fd = smtp_tx_spill_open(s)) < 0)
		return -1;
	chunk = xmalloc(64 * 1024);
	if (write(fd, v->header, v->header_len) != (ssize_t)v->header_len)
		goto fail;
	for (off = (off_t)v->header_replaces; (size_t)off < tx->len;
	    off += n) {
		n = pread(tx->spill_fd, chunk, 64 * 1024, off);
		if (n <= 0 || write(fd, chunk, (size_t)n) != n)
			goto fail;
	}
	free(chunk);
	close(tx->spill_fd);
	tx->spill_fd = fd;
	tx->len = tx->len - v->header_replaces + v->header_len;
	return 0;
fail:
	free(chunk);
	close(fd);
	return -1;
}

static void
smtp_data_end(struct smtp_session *s)
{
	struct smtp_tx *tx = s->tx;
	struct queue_msg_new *m;
	struct smtp_commit_req *r;
	struct policy_verdict *v = NULL;
	const char *reply = NULL;
	char rbuf[512], *subject = NULL;
	int64_t now = mh_now();

	if (tx->dr.flags & SMTP_DOT_BARE_CR)
		reply = "550 5.5.0 Message contains a bare CR "
		    "(lines must end in CRLF)";
	else if (tx->dr.flags & SMTP_DOT_BARE_LF)
		reply = "550 5.5.0 Message contains a bare LF "
		    "(lines must end in CRLF)";
	else if (tx->dr.flags & SMTP_DOT_NUL)
		reply = "550 5.6.0 Message contains NUL characters";
	else if (tx->too_big)
		reply = "552 5.3.4 Message size exceeds fixed limit";
	else if (tx->dr.flags & SMTP_DOT_LONG_LINE)
		reply = "550 5.6.0 Message contains a line longer than "
		    "allowed (RFC 5321 4.5.3.1.6)";
	else if (tx->io_error)
		reply = "451 4.3.0 Local error while storing the message";
	else if (s->auth_user != NULL && s->conf->auth_check_from &&
	    auth_from_check(s->conf, s->auth_user, tx->hdr.data,
	    tx->hdr.len) != NULL)
		reply = "550 5.7.1 From: header address not owned by user";
	if (reply == NULL) {
		/* The policy (issue 4): before anything is queued. */
		const char *msg;
		size_t mlen;
		char *freeme;

		msg = smtp_tx_prefix(tx, &mlen, &freeme);
		v = screen_message(s->conf, s->srv->queue, s->srv->holds,
		    s->auth_user, tx->sender, (const char *const *)tx->rcpts,
		    tx->nrcpts, msg, mlen, now, &subject);
		free(freeme);
		screen_log(tx->id, v);
		if (v->action == POLICY_A_REJECT) {
			mh_snprintf(rbuf, sizeof(rbuf), "550 5.7.1 %.400s",
			    v->reject_text ? v->reject_text :
			    "Message refused by policy");
			reply = rbuf;
		} else if (v->header != NULL && smtp_tx_rewrite(s, v) == -1)
			reply = "451 4.3.0 Local error while rewriting the "
			    "message";
	}
	if (reply) {
		metrics_inc(METRICS_REJECTED);
		policy_verdict_free(v);
		free(subject);
		log_info("id=%s event=rejected session=%016llx reply=\"%s\"",
		    tx->id, (unsigned long long)s->id, reply);
		smtp_tx_rollback(s);
		smtp_enter_state(s, SMTP_ST_READY);
		if (s->flags & SMTP_SF_SHUTDOWN) {
			smtp_close_with(s, reply);
			return;
		}
		smtp_reply(s, "%s", reply);
		smtp_arm_timer(s, s->conf->timeout_command);
		return;
	}

	/* A wall clock step is applied to what is stored before this
	 * message, stamped with the new clock, is (scheduler.h). */
	if (s->srv->sched != NULL)
		(void)sched_clock_check(s->srv->sched);
	now = mh_now();
	m = xcalloc(1, sizeof(*m));
	mh_strlcpy(m->id, tx->id, sizeof(m->id));
	m->sender = tx->sender;
	tx->sender = NULL;
	m->rcpts = tx->rcpts;
	m->nrcpts = tx->nrcpts;
	tx->rcpts = NULL;
	tx->nrcpts = 0;
	m->client_addr = xstrdup(s->addr);
	m->helo = xstrdup(s->helo ? s->helo : "");
	m->auth_user = s->auth_user ? xstrdup(s->auth_user) : NULL;
	m->flags = (tx->body == SMTP_BODY_8BITMIME ? QUEUE_F_8BITMIME : 0) |
	    (tx->smtputf8 ? QUEUE_F_SMTPUTF8 : 0);
	m->received_at = now;
	/* Whole seconds, rounded up: a hold is never shorter than set.  For
	 * hold_for_release, v->hold is the expiry. */
	m->release_at = (mh_now_ms() + 999) / 1000 + v->hold;
	m->state = v->action == POLICY_A_HOLD_FOR_RELEASE ?
	    QUEUE_AWAITING_RELEASE : QUEUE_HELD;
	m->verdict = screen_verdict_json(v);
	/* Findings, Subject, and the alert with its link: committed with
	 * the message. */
	screen_attach(s->conf, m, v, &subject, now);
	policy_verdict_free(v);
	m->body_len = tx->len;
	m->body_fd = tx->spill_fd;
	tx->spill_fd = -1;
	if (m->body_fd < 0)
		m->body = mh_buf_steal(&tx->mem, NULL);

	r = xcalloc(1, sizeof(*r));
	r->srv = s->srv;
	r->sid = s->id;
	mh_strlcpy(r->id, m->id, sizeof(r->id));
	r->release_at = m->release_at;
	r->awaiting = m->state == QUEUE_AWAITING_RELEASE;
	r->alert = m->alert != NULL;
	r->size = m->body_len;
	r->nrcpts = m->nrcpts;
	r->sender = xstrdup(m->sender);

	smtp_tx_rollback(s);
	smtp_enter_state(s, SMTP_ST_WAIT_COMMIT);
	bufferevent_disable(s->bev, EV_READ);
	if (queue_submit(s->srv->queue, m, smtp_commit_done, r) == -1) {
		smtp_enter_state(s, SMTP_ST_READY);
		bufferevent_enable(s->bev, EV_READ);
		smtp_reply(s, "451 4.3.0 Queue unavailable, try again later");
		free(r->sender);
		free(r);
		return;
	}
	smtp_arm_timer(s, 60);
}

/* Feeds buffered DATA octets to the dot reader.  Returns true when the
 * end of data was reached. */
static bool
smtp_data_read(struct smtp_session *s, struct evbuffer *in)
{
	struct smtp_tx *tx = s->tx;
	struct evbuffer_iovec v;
	char out[4096];
	size_t chunk, outlen, used;
	enum smtp_dot_status st;

	while (evbuffer_get_length(in) > 0) {
		if (evbuffer_peek(in, -1, NULL, &v, 1) < 1)
			break;
		/* A bare LF may become CRLF: out holds twice the input. */
		chunk = v.iov_len < sizeof(out) / 2 ? v.iov_len :
		    sizeof(out) / 2;
		st = smtp_dot_feed(&tx->dr, v.iov_base, chunk, out, &outlen,
		    &used);
		smtp_tx_append(s, out, outlen);
		evbuffer_drain(in, used);
		if (st == SMTP_DOT_END)
			return true;
	}
	return false;
}

/* ------------------------------------------------------------------ */
/* input */

static void
smtp_process(struct smtp_session *s)
{
	struct evbuffer *in = bufferevent_get_input(s->bev);
	struct evbuffer_ptr eol;
	size_t len, eollen, linelen, maxline;
	char *line;

	while (!(s->flags & SMTP_SF_CLOSING) && s->state != SMTP_ST_QUIT &&
	    s->state != SMTP_ST_WAIT_COMMIT && s->state != SMTP_ST_TLS &&
	    s->state != SMTP_ST_WAIT_AUTH) {
		if (s->state == SMTP_ST_DATA) {
			if (!smtp_data_read(s, in))
				return;
			smtp_data_end(s);
			continue;
		}
		len = evbuffer_get_length(in);
		if (len == 0)
			return;
		maxline = smtp_line_max(s, in);
		eol = evbuffer_search_eol(in, NULL, &eollen, EVBUFFER_EOL_LF);
		if (eol.pos < 0) {
			if (len >= maxline) {
				/* Discard and stay in sync: answer when the
				 * line finally ends (G4). */
				evbuffer_drain(in, len);
				s->flags |= SMTP_SF_DISCARD;
			}
			return;
		}
		linelen = (size_t)eol.pos + 1;	/* with LF */
		if (s->state == SMTP_ST_AUTH_INPUT &&
		    ((s->flags & SMTP_SF_DISCARD) || linelen > maxline ||
		    linelen < 2 || memchr(evbuffer_pullup(in,
		    (ev_ssize_t)linelen), '\0', linelen) != NULL)) {
			/* A malformed SASL line ends the exchange. */
			evbuffer_drain(in, linelen);
			s->flags &= ~SMTP_SF_DISCARD;
			smtp_auth_abort(s, "501 5.5.2 Malformed authentication "
			    "line");
			smtp_junk(s);
			continue;
		}
		if (s->flags & SMTP_SF_DISCARD) {
			evbuffer_drain(in, linelen);
			s->flags &= ~SMTP_SF_DISCARD;
			smtp_reply(s, "500 5.5.2 Line too long");
			smtp_junk(s);
			continue;
		}
		if (linelen > maxline) {
			evbuffer_drain(in, linelen);
			smtp_reply(s, "500 5.5.2 Line too long");
			smtp_junk(s);
			continue;
		}
		line = (char *)evbuffer_pullup(in, (ev_ssize_t)linelen);
		if (line == NULL) {
			smtp_close_with(s, "421 4.3.0 Local error, closing");
			return;
		}
		if (s->state == SMTP_ST_AUTH_INPUT) {
			bool ok = line[linelen - 2] == '\r' &&
			    memchr(line, '\r', linelen - 2) == NULL;

			if (ok)
				smtp_auth_input(s, line, linelen - 2);
			OPENSSL_cleanse(line, linelen);
			evbuffer_drain(in, linelen);
			if (!ok) {
				smtp_auth_abort(s, "501 5.5.2 Malformed "
				    "authentication line");
				smtp_junk(s);
			}
			if (s->state == SMTP_ST_READY ||
			    s->state == SMTP_ST_AUTH_INPUT)
				smtp_arm_timer(s, s->conf->timeout_command);
			continue;
		}
		if (linelen < 2 || line[linelen - 2] != '\r') {
			evbuffer_drain(in, linelen);
			smtp_reply(s, "500 5.5.2 Bare LF: commands must end "
			    "in CRLF");
			smtp_junk(s);
			continue;
		}
		if (memchr(line, '\0', linelen - 2) != NULL) {
			evbuffer_drain(in, linelen);
			smtp_reply(s, "500 5.5.2 NUL character in command");
			smtp_junk(s);
			continue;
		}
		if (memchr(line, '\r', linelen - 2) != NULL) {
			evbuffer_drain(in, linelen);
			smtp_reply(s, "500 5.5.2 Bare CR in command");
			smtp_junk(s);
			continue;
		}
		/* line stays valid until the drain below. */
		smtp_dispatch(s, line, linelen - 2);
		if (linelen > 5 && mh_strncasecmp(line, "AUTH ", 5) == 0)
			OPENSSL_cleanse(line, linelen);	/* initial response */
		evbuffer_drain(in, linelen);
		if (s->state != SMTP_ST_DATA && s->state != SMTP_ST_QUIT &&
		    s->state != SMTP_ST_WAIT_COMMIT &&
		    s->state != SMTP_ST_TLS && s->state != SMTP_ST_WAIT_AUTH)
			smtp_arm_timer(s, s->conf->timeout_command);
	}
}

/* The longest line allowed now: AUTH lines may be longer than commands
 * (RFC 4954 section 4), everything else is limits.command_line. */
static size_t
smtp_line_max(struct smtp_session *s, struct evbuffer *in)
{
	char head[5];

	if (s->state == SMTP_ST_AUTH_INPUT)
		return SMTP_AUTH_LINE_MAX;
	if (s->srv->auth != NULL && evbuffer_copyout(in, head, 5) == 5 &&
	    mh_strncasecmp(head, "AUTH ", 5) == 0 &&
	    SMTP_AUTH_LINE_MAX > s->conf->line_max)
		return SMTP_AUTH_LINE_MAX;
	return s->conf->line_max;
}

static void
smtp_read_cb(struct bufferevent *bev, void *arg)
{
	struct smtp_session *s = arg;

	if (s->state == SMTP_ST_DATA)	/* a block arrived: RFC 5321 4.5.3.2.5 */
		smtp_arm_timer(s, s->conf->timeout_data);
	smtp_process(s);
	smtp_flush(s);
	if (s->flags & SMTP_SF_STARTTLS)
		smtp_starttls_begin(s);		/* may free s */
}

/*
 * After "220 Ready to start TLS" went to the plain bufferevent: drop
 * every octet the client sent after STARTTLS (CVE-2011-0411: they were
 * sent in clear and must not be answered inside TLS), reset the session
 * to the greeting state (RFC 3207 section 4.2) and put a TLS filter over
 * the plain bufferevent.
 */
static void
smtp_starttls_begin(struct smtp_session *s)
{
	struct evbuffer *in = bufferevent_get_input(s->bev);
	struct bufferevent *tls;
	size_t junk = evbuffer_get_length(in);
	SSL *ssl;

	s->flags &= ~SMTP_SF_STARTTLS;
	if (junk > 0) {
		log_info("session=%016llx event=starttls_discard octets=%zu "
		    "(sent before the TLS handshake)",
		    (unsigned long long)s->id, junk);
		evbuffer_drain(in, junk);
	}
	free(s->helo);
	s->helo = NULL;
	s->flags &= ~(SMTP_SF_EHLO | SMTP_SF_UTF8_OFFERED);
	smtp_tx_rollback(s);
	if ((ssl = tlsctx_ssl_new(s->srv->tls)) == NULL) {
		smtp_free(s, "TLS set-up failed");
		return;
	}
	tls = bufferevent_openssl_filter_new(s->srv->base, s->bev, ssl,
	    BUFFEREVENT_SSL_ACCEPTING, BEV_OPT_CLOSE_ON_FREE);
	if (tls == NULL) {
		SSL_free(ssl);
		smtp_free(s, "TLS set-up failed");
		return;
	}
	s->under = s->bev;
	s->bev = tls;
	s->flags |= SMTP_SF_TLS;
	bufferevent_openssl_set_allow_dirty_shutdown(tls, 1);
	bufferevent_setcb(tls, smtp_read_cb, smtp_write_cb, smtp_event_cb, s);
	bufferevent_setwatermark(tls, EV_READ, 0, SMTP_INBUF_MAX);
	bufferevent_enable(tls, EV_READ | EV_WRITE);
	smtp_arm_timer(s, SMTP_TLS_TIMEOUT);
}

/* The handshake is done: log it, then greet (implicit TLS) or wait for
 * EHLO again (STARTTLS). */
static void
smtp_tls_ready(struct smtp_session *s)
{
	SSL *ssl = bufferevent_openssl_get_ssl(s->bev);

	s->flags |= SMTP_SF_TLS_UP;
	if (ssl != NULL)
		tlsctx_describe(ssl, s->tlsinfo, sizeof(s->tlsinfo));
	log_info("session=%016llx event=tls %s", (unsigned long long)s->id,
	    s->tlsinfo);
	if (s->refuse != NULL) {
		smtp_close_with(s, s->refuse);
		return;
	}
	if (s->mode == CONFIG_LISTEN_TLS)
		smtp_reply(s, "220 %s ESMTP mailhold", s->conf->hostname);
	smtp_enter_state(s, SMTP_ST_HELO);
	smtp_arm_timer(s, s->conf->timeout_command);
	smtp_flush(s);
	/* A command that came with the client's Finished is already here. */
	tlsctx_bev_read_pending(s->bev);
}

static void
smtp_flush_retry_cb(evutil_socket_t fd, short ev, void *arg)
{
	struct smtp_session *s = arg;

	smtp_write_cb(s->bev, s);
}

static void
smtp_write_cb(struct bufferevent *bev, void *arg)
{
	struct smtp_session *s = arg;
	struct timeval tv = { 0, 20 * 1000 };

	if (s->state != SMTP_ST_QUIT)
		return;
	/* A write callback may be stale: bufferevent_openssl defers it,
	 * so it can run after the last replies were queued behind the
	 * write that scheduled it.  Free only once they are out. */
	if (evbuffer_get_length(bufferevent_get_output(s->bev)) > 0)
		return;
	/* The last reply is out: end TLS with a close_notify (RFC 8446
	 * section 6.1), so that the client knows nothing was cut off.  It
	 * goes straight to the socket, or into the plain bufferevent under
	 * a STARTTLS filter (waited for below).  We do not wait for the
	 * client's own close_notify. */
	if ((s->flags & (SMTP_SF_TLS_UP | SMTP_SF_TLS_CLOSED)) ==
	    SMTP_SF_TLS_UP) {
		SSL *ssl = bufferevent_openssl_get_ssl(s->bev);

		s->flags |= SMTP_SF_TLS_CLOSED;
		if (ssl != NULL && SSL_shutdown(ssl) < 0)
			ERR_clear_error();
	}
	/* A TLS filter has only handed the records to the plain
	 * bufferevent below it: wait until that one is empty too. */
	if (s->under != NULL &&
	    evbuffer_get_length(bufferevent_get_output(s->under)) > 0) {
		if (s->flush_ev == NULL)
			s->flush_ev = evtimer_new(s->srv->base,
			    smtp_flush_retry_cb, s);
		if (s->flush_ev != NULL) {
			evtimer_add(s->flush_ev, &tv);
			return;
		}
	}
	smtp_free(s, "quit");
}

static void
smtp_event_cb(struct bufferevent *bev, short what, void *arg)
{
	struct smtp_session *s = arg;
	char why[300];
	unsigned long e;

	if (what & BEV_EVENT_CONNECTED) {
		if (s->state == SMTP_ST_TLS)
			smtp_tls_ready(s);
		return;
	}
	if (what & BEV_EVENT_EOF) {
		smtp_free(s, s->state == SMTP_ST_TLS ? "disconnect during TLS "
		    "handshake" : "disconnect");
		return;
	}
	if (what & BEV_EVENT_ERROR) {
		if ((s->flags & SMTP_SF_TLS) &&
		    (e = bufferevent_get_openssl_error(bev)) != 0) {
			char err[200];

			ERR_error_string_n(e, err, sizeof(err));
			while (bufferevent_get_openssl_error(bev) != 0)
				;
			log_info("session=%016llx event=tls_error addr=%s "
			    "reason=\"%s\"", (unsigned long long)s->id,
			    s->addr, err);
			(void)mh_snprintf(why, sizeof(why), "TLS error");
			smtp_free(s, why);
			return;
		}
		smtp_free(s, "io error");
	}
}

/* ------------------------------------------------------------------ */
/* life cycle */

static void
smtp_reaper_cb(evutil_socket_t fd, short ev, void *arg)
{
	struct smtp_server *srv = arg;

	if (srv->shutting_down && srv->nsessions == 0 && srv->shutdown_done) {
		void (*done)(void *) = srv->shutdown_done;
		srv->shutdown_done = NULL;
		done(srv->shutdown_arg);
	}
}

/* The single teardown path (G7).  The caller returns right after. */
static void
smtp_free(struct smtp_session *s, const char *reason)
{
	struct smtp_server *srv = s->srv;

	log_info("session=%016llx event=close addr=%s reason=\"%s\"",
	    (unsigned long long)s->id, s->addr, reason);
	smtp_session_unregister(srv, s->id);
	smtp_tx_free(s->tx);
	smtp_auth_clear(s);
	if (s->timer)
		event_free(s->timer);
	if (s->flush_ev)
		event_free(s->flush_ev);
	/* Closes the socket; a TLS filter frees the plain one under it and
	 * the SSL (which drops its reference to the SSL_CTX). */
	bufferevent_free(s->bev);
	evbuffer_free(s->replies);
	free(s->helo);
	free(s->auth_user);
	config_unref(s->conf);
	free(s);
	if (srv->shutting_down && srv->nsessions == 0)
		event_active(srv->reaper, EV_TIMEOUT, 0);
}

static bool
smtp_addr_is_loopback(const struct sockaddr *sa)
{
	static const uint8_t v4mapped[12] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
	    0xff, 0xff };
	const uint8_t *a;

	if (sa->sa_family == AF_INET) {
		a = (const uint8_t *)&((const struct sockaddr_in *)sa)->sin_addr;
		return a[0] == 127;
	}
	if (sa->sa_family == AF_INET6) {
		a = ((const struct sockaddr_in6 *)sa)->sin6_addr.s6_addr;
		if (memcmp(a, v4mapped, 12) == 0)
			return a[12] == 127;
		return memcmp(a, in6addr_loopback.s6_addr, 16) == 0;
	}
	return false;
}

/* Could this client ever send mail here: trusted, or able to AUTH on
 * this listener? */
static bool
smtp_may_submit(const struct smtp_session *s)
{
	if (s->trusted)
		return true;
	if (s->srv->auth == NULL || s->conf->auth_backend == CONFIG_AUTH_NONE)
		return false;
	return s->mode != CONFIG_LISTEN_PLAIN ||
	    (s->conf->auth_allow_plaintext && s->loopback);
}

static void
smtp_accept_cb(struct evconnlistener *l, evutil_socket_t fd,
    struct sockaddr *sa, int salen, void *arg)
{
	struct smtp_listener *lis = arg;
	struct smtp_server *srv = lis->srv;
	struct smtp_session *s;
	struct config *conf = srv->conf;
	const char *refuse = NULL;

	s = xcalloc(1, sizeof(*s));
	s->srv = srv;
	s->conf = config_ref(conf);
	if ((size_t)salen > sizeof(s->ss))
		salen = sizeof(s->ss);
	memcpy(&s->ss, sa, (size_t)salen);
	if (sa->sa_family == AF_INET)
		inet_ntop(AF_INET, &((struct sockaddr_in *)sa)->sin_addr,
		    s->addr, sizeof(s->addr));
	else if (sa->sa_family == AF_INET6)
		inet_ntop(AF_INET6, &((struct sockaddr_in6 *)sa)->sin6_addr,
		    s->addr, sizeof(s->addr));
	else
		mh_strlcpy(s->addr, "unknown", sizeof(s->addr));

	s->mode = lis->mode;
	s->require_tls = lis->require_tls;
	s->loopback = smtp_addr_is_loopback(sa);
	s->trusted = config_cidr_match(conf->trusted, conf->ntrusted, sa);
	if (s->mode == CONFIG_LISTEN_TLS) {
		SSL *ssl = tlsctx_ssl_new(srv->tls);

		s->bev = ssl == NULL ? NULL : bufferevent_openssl_socket_new(
		    srv->base, fd, ssl, BUFFEREVENT_SSL_ACCEPTING,
		    BEV_OPT_CLOSE_ON_FREE);
		if (s->bev == NULL && ssl != NULL)
			SSL_free(ssl);
		if (s->bev != NULL) {
			s->flags |= SMTP_SF_TLS;
			bufferevent_openssl_set_allow_dirty_shutdown(s->bev, 1);
		}
	} else
		s->bev = bufferevent_socket_new(srv->base, fd,
		    BEV_OPT_CLOSE_ON_FREE);
	if (s->bev == NULL) {
		log_warnx("event=accept_error addr=%s", s->addr);
		evutil_closesocket(fd);
		config_unref(s->conf);
		free(s);
		return;
	}
	s->timer = evtimer_new(srv->base, smtp_timer_cb, s);
	if ((s->replies = evbuffer_new()) == NULL)
		fatal("evbuffer_new");
	s->id = smtp_session_register(srv, s);
	s->session_end_ms = mh_mono_ms() + conf->timeout_session * 1000;
	bufferevent_setcb(s->bev, smtp_read_cb, smtp_write_cb, smtp_event_cb,
	    s);
	bufferevent_setwatermark(s->bev, EV_READ, 0, SMTP_INBUF_MAX);
	bufferevent_enable(s->bev, EV_READ | EV_WRITE);
	log_info("session=%016llx event=connect addr=%s",
	    (unsigned long long)s->id, s->addr);

	if (srv->shutting_down)
		refuse = "421 4.3.2 Service shutting down";
	else if (!smtp_may_submit(s))
		/* Neither trusted nor able to AUTH here: never an open
		 * relay. */
		refuse = "554 5.7.1 Access denied: client not in "
		    "trusted_networks";
	else if (srv->nsessions > conf->max_sessions)
		refuse = "421 4.7.0 Too many connections, try again later";
	else if (smtp_sessions_from(srv, &s->ss) > conf->max_sessions_per_ip)
		refuse = "421 4.7.0 Too many connections from your address";
	if (s->mode == CONFIG_LISTEN_TLS) {
		/* RFC 8314: the greeting (or refusal) comes inside TLS. */
		s->refuse = refuse;
		smtp_enter_state(s, SMTP_ST_TLS);
		smtp_arm_timer(s, SMTP_TLS_TIMEOUT);
		return;
	}
	if (refuse) {
		smtp_close_with(s, refuse);
		return;
	}
	smtp_reply(s, "220 %s ESMTP mailhold", conf->hostname);
	smtp_enter_state(s, SMTP_ST_HELO);
	smtp_arm_timer(s, conf->timeout_command);
	smtp_flush(s);
}

struct smtp_server *
smtp_server_new(struct event_base *base, struct config *conf,
    struct queue *q)
{
	struct smtp_server *srv;

	srv = xcalloc(1, sizeof(*srv));
	srv->base = base;
	srv->conf = config_ref(conf);
	srv->queue = q;
	srv->free_head = UINT32_MAX;
	srv->reaper = event_new(base, -1, 0, smtp_reaper_cb, srv);
	return srv;
}

int
smtp_server_listen(struct smtp_server *srv)
{
	const struct config *conf = srv->conf;
	size_t i;

	srv->ls = xcalloc(conf->nlisteners, sizeof(*srv->ls));
	for (i = 0; i < conf->nlisteners; i++) {
		const struct config_listener *cl = &conf->listeners[i];
		struct sockaddr_storage ss;
		socklen_t sl;
		char buf[INET6_ADDRSTRLEN];
		int port = 0;

		memset(&ss, 0, sizeof(ss));
		if (inet_pton(AF_INET, cl->address,
		    &((struct sockaddr_in *)&ss)->sin_addr) == 1) {
			ss.ss_family = AF_INET;
			((struct sockaddr_in *)&ss)->sin_port =
			    htons((uint16_t)cl->port);
			sl = sizeof(struct sockaddr_in);
		} else if (inet_pton(AF_INET6, cl->address,
		    &((struct sockaddr_in6 *)&ss)->sin6_addr) == 1) {
			ss.ss_family = AF_INET6;
			((struct sockaddr_in6 *)&ss)->sin6_port =
			    htons((uint16_t)cl->port);
			sl = sizeof(struct sockaddr_in6);
		} else {
			log_warnx("event=listen_error address=%s reason=\"bad "
			    "address\"", cl->address);
			return -1;
		}
		srv->ls[i].srv = srv;
		/* IPv6 sockets take IPv6 only, so "0.0.0.0" and "::" on
		 * one port can both be listeners. */
		srv->ls[i].l = evconnlistener_new_bind(srv->base,
		    smtp_accept_cb, &srv->ls[i], LEV_OPT_CLOSE_ON_FREE |
		    LEV_OPT_REUSEABLE | LEV_OPT_CLOSE_ON_EXEC |
		    (ss.ss_family == AF_INET6 ? LEV_OPT_BIND_IPV6ONLY : 0), 128,
		    (struct sockaddr *)&ss, (int)sl);
		if (srv->ls[i].l == NULL) {
			log_warn("event=listen_error address=%s port=%d",
			    cl->address, cl->port);
			return -1;
		}
		srv->nls++;
		srv->ls[i].mode = cl->mode;
		srv->ls[i].require_tls = cl->require_tls;
		if (cl->mode != CONFIG_LISTEN_PLAIN && srv->tls == NULL) {
			log_warnx("event=listen_error address=%s port=%d "
			    "reason=\"no TLS context\"", cl->address, cl->port);
			return -1;
		}
		/* EMFILE and friends: pause, never spin (lbackoff.h). */
		if ((srv->ls[i].bo = lbackoff_new(srv->base, srv->ls[i].l,
		    "smtp")) == NULL) {
			log_warnx("event=listen_error address=%s port=%d "
			    "reason=\"too many listeners\"", cl->address,
			    cl->port);
			return -1;
		}
		sl = sizeof(ss);
		if (getsockname(evconnlistener_get_fd(srv->ls[i].l),
		    (struct sockaddr *)&ss, &sl) == 0) {
			if (ss.ss_family == AF_INET) {
				port = ntohs(((struct sockaddr_in *)&ss)->
				    sin_port);
				inet_ntop(AF_INET, &((struct sockaddr_in *)&ss)
				    ->sin_addr, buf, sizeof(buf));
			} else {
				port = ntohs(((struct sockaddr_in6 *)&ss)->
				    sin6_port);
				inet_ntop(AF_INET6, &((struct sockaddr_in6 *)
				    &ss)->sin6_addr, buf, sizeof(buf));
			}
			log_info("event=listening address=%s port=%d mode=%s",
			    buf, port, cl->mode == CONFIG_LISTEN_TLS ? "tls" :
			    cl->mode == CONFIG_LISTEN_STARTTLS ? "starttls" :
			    "plain");
		}
	}
	return 0;
}

void
smtp_server_set_tls(struct smtp_server *srv, SSL_CTX *ctx)
{
	SSL_CTX *old = srv->tls;

	/* Sessions in flight keep theirs: each SSL holds a reference. */
	srv->tls = tlsctx_ref(ctx);
	tlsctx_free(old);
}

void
smtp_server_set_auth(struct smtp_server *srv, struct auth *a)
{
	srv->auth = a;
}

void
smtp_server_set_holds(struct smtp_server *srv, const struct screen_holds *h)
{
	srv->holds = h;
}

void
smtp_server_set_relay(struct smtp_server *srv, const struct relay *r)
{
	srv->relay = r;
}

void
smtp_server_set_sched(struct smtp_server *srv, struct sched *sc)
{
	srv->sched = sc;
}

void
smtp_server_set_config(struct smtp_server *srv, struct config *conf)
{
	struct config *old = srv->conf;

	srv->conf = config_ref(conf);
	config_unref(old);
}

size_t
smtp_server_nsessions(const struct smtp_server *srv)
{
	return srv->nsessions;
}

void
smtp_server_shutdown(struct smtp_server *srv, void (*done)(void *),
    void *arg)
{
	uint32_t i;

	srv->shutting_down = true;
	srv->shutdown_done = done;
	srv->shutdown_arg = arg;
	for (i = 0; i < srv->nls; i++) {
		lbackoff_free(srv->ls[i].bo);
		srv->ls[i].bo = NULL;
		evconnlistener_free(srv->ls[i].l);
		srv->ls[i].l = NULL;
	}
	srv->nls = 0;
	for (i = 0; i < srv->nslots; i++) {
		struct smtp_session *s = srv->slots[i].s;
		if (s == NULL || s->state == SMTP_ST_QUIT)
			continue;
		if (s->state == SMTP_ST_TLS) {
			smtp_free(s, "shutdown during TLS handshake");
			continue;
		}
		if (s->state == SMTP_ST_DATA ||
		    s->state == SMTP_ST_WAIT_COMMIT) {
			/* Let the message finish; 421 right after it. */
			s->flags |= SMTP_SF_SHUTDOWN;
			continue;
		}
		smtp_close_with(s, "421 4.3.2 Service shutting down");
	}
	if (srv->nsessions == 0)
		event_active(srv->reaper, EV_TIMEOUT, 0);
}

void
smtp_server_free(struct smtp_server *srv)
{
	uint32_t i;

	if (srv == NULL)
		return;
	for (i = 0; i < srv->nls; i++) {
		lbackoff_free(srv->ls[i].bo);
		if (srv->ls[i].l)
			evconnlistener_free(srv->ls[i].l);
	}
	for (i = 0; i < srv->nslots; i++)
		if (srv->slots[i].s)
			smtp_free(srv->slots[i].s, "server shutdown");
	free(srv->ls);
	free(srv->slots);
	event_free(srv->reaper);
	tlsctx_free(srv->tls);
	config_unref(srv->conf);
	free(srv);
}
