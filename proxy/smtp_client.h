/*
 * smtp_client.h - the relay: delivers released messages to the upstream
 * submission server (RFC 5321 client, RFC 3207 STARTTLS, RFC 4954 AUTH,
 * RFC 2920 PIPELINING).
 *
 * Follows OpenSMTPD mta_session.c: relay_enter_state() sends the command
 * for the new state and relay_response() switches on the state to read
 * the reply and pick the next one.  The upstream is untrusted input:
 * reply lines and multi-line replies are bounded, every continuation line
 * must carry the same code, and anything odd is a temporary failure,
 * never a success.  Outbound data is pure CRLF, dot-stuffed here.
 *
 * One connection carries several messages in turn (RSET between when a
 * transaction did not complete); at most upstream.max_connections are
 * open.  Each attempt's per-recipient outcome is recorded in the queue;
 * permanent failures produce a failure notice to the sender.
 *
 * Thread: loop thread only.  Errors: 0 / -1; constructors NULL.
 */
#ifndef MH_PROXY_SMTP_CLIENT_H
#define MH_PROXY_SMTP_CLIENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct event_base;
struct config;
struct queue;
struct sched;
struct relay;

/* Upstream capabilities, from its EHLO reply (RELAY_CAP_* bits). */
#define RELAY_CAP_PIPELINING	0x01
#define RELAY_CAP_SIZE		0x02
#define RELAY_CAP_8BITMIME	0x04
#define RELAY_CAP_SMTPUTF8	0x08
#define RELAY_CAP_STARTTLS	0x10
#define RELAY_CAP_AUTH_PLAIN	0x20
#define RELAY_CAP_AUTH_LOGIN	0x40

/* The relay starts probing the upstream (see relay_upstream_caps()) as
 * soon as the loop runs. */
struct relay	*relay_new(struct event_base *, struct config *,
		    struct queue *);
/* The scheduler is created after the relay (it needs the relay's
 * callbacks); wire it here. */
void		 relay_set_sched(struct relay *, struct sched *);
void		 relay_set_config(struct relay *, struct config *);
/* Scheduler callbacks (sched_capacity_cb, sched_release_cb). */
size_t		 relay_capacity(void *relay);
void		 relay_release(const char *id, void *relay);
/* Number of messages being delivered or waiting for a connection. */
size_t		 relay_inflight(const struct relay *);
size_t		 relay_nconns(const struct relay *);	/* open connections */
/* true while connection set-ups to the upstream fail (none has got
 * through since the last failure): mailhold_upstream_up 0. */
bool		 relay_upstream_down(const struct relay *);
void		 relay_free(struct relay *);

/*
 * What the upstream offers, so that the SMTP server can refuse at MAIL
 * and RCPT what the relay could not carry later (RFC 6531 SMTPUTF8).
 * Every relay connection records the capabilities of the EHLO it goes on
 * with (after STARTTLS when there is one); when no connection has done so
 * for upstream.probe_interval, a probe connection (EHLO, QUIT: no AUTH, no
 * mail) asks again, every minute while the upstream cannot be reached.
 * Returns false while no EHLO has been seen since start or since the
 * upstream settings changed (*caps and *at untouched); else true with the
 * RELAY_CAP_* bits in *caps and the time they were seen in *at (either
 * may be NULL).  A known set stays in force while the upstream is down.
 */
bool		 relay_upstream_caps(const struct relay *, unsigned *caps,
		    int64_t *at);

/*
 * Parses one EHLO keyword line (the text after "250-" or "250 ") into
 * RELAY_CAP_* bits: the keyword must match whole (RFC 5321 §4.1.1.1:
 * ehlo-keyword, then SP and parameters or the end), ASCII case-insensitive;
 * AUTH's mechanism list gives the AUTH bits.  Unknown keywords give 0.
 */
unsigned	 relay_parse_ehlo_line(const char *line, size_t len);

/*
 * Parses one reply line (without CRLF).  Sets *code (200..599) and *more
 * (a '-' continuation).  Returns NULL or the reason the line is invalid.
 */
const char	*relay_parse_reply_line(const char *line, size_t len, int *code,
		    bool *more);

#endif
