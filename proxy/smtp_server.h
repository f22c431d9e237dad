/*
 * smtp_server.h - the inbound SMTP submission server (RFC 5321, RFC 6409).
 *
 * Owns the listeners and every session.  A session is an explicit state
 * machine (enum smtp_state, smtp_enter_state() is its only writer) over a
 * bounded line reader; per-message data lives in a separate struct smtp_tx
 * freed on RSET, at end of message and on disconnect.  A message is
 * answered 250 only after the queue's writer thread has committed it.
 *
 * Ownership: the server holds a reference to the config it was given and
 * each session holds the one it started with; smtp_server_set_config()
 * affects new sessions only.
 * Thread: loop thread only.
 * Errors: 0 / -1 (logged); constructors NULL.
 */
#ifndef MH_PROXY_SMTP_SERVER_H
#define MH_PROXY_SMTP_SERVER_H

#include <stddef.h>
#include <stdint.h>

struct event_base;
struct config;
struct queue;
struct smtp_server;
struct auth;
struct ssl_ctx_st;

struct smtp_server *smtp_server_new(struct event_base *, struct config *,
		    struct queue *);
/* Binds every configured listener and logs "event=listening" with the
 * real port (port 0 picks a free one). */
int		 smtp_server_listen(struct smtp_server *);
void		 smtp_server_set_config(struct smtp_server *, struct config *);
/* The TLS context for new handshakes (a reference is taken; sessions in
 * flight keep the one they started with).  Call before listening when
 * a listener is starttls or tls, and again after a reload. */
void		 smtp_server_set_tls(struct smtp_server *, struct ssl_ctx_st *);
/* The AUTH back end (borrowed; it must outlive the server).  NULL: none,
 * and only server.trusted_networks may submit. */
void		 smtp_server_set_auth(struct smtp_server *, struct auth *);
/* The run-time hold windows (borrowed; NULL: none) new messages get. */
struct screen_holds;
void		 smtp_server_set_holds(struct smtp_server *,
		    const struct screen_holds *);
/* The relay (borrowed; NULL: none): MAIL and RCPT ask it what the
 * upstream can carry (relay_upstream_caps()), and refuse at once a UTF-8
 * address it could not deliver after the hold (RFC 6531). */
struct relay;
void		 smtp_server_set_relay(struct smtp_server *,
		    const struct relay *);
/* The scheduler (borrowed; NULL: none), asked only for a wall clock step
 * before a new message is stamped (sched_clock_check()): queue writes
 * themselves are announced by the queue, not by the server. */
struct sched;
void		 smtp_server_set_sched(struct smtp_server *, struct sched *);
/* Stops accepting; idle sessions get 421 now, sessions in DATA or waiting
 * for a commit finish their message first (never a 250 without a commit).
 * done(arg) runs once the last session is gone. */
void		 smtp_server_shutdown(struct smtp_server *,
		    void (*done)(void *), void *arg);
size_t		 smtp_server_nsessions(const struct smtp_server *);
void		 smtp_server_free(struct smtp_server *);

#endif
