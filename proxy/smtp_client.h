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

struct event_base;
struct config;
struct queue;
struct sched;
struct relay;

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
void		 relay_free(struct relay *);

/*
 * Parses one reply line (without CRLF).  Sets *code (200..599) and *more
 * (a '-' continuation).  Returns NULL or the reason the line is invalid.
 */
const char	*relay_parse_reply_line(const char *line, size_t len, int *code,
		    bool *more);

#endif
