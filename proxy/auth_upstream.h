/*
 * auth_upstream.h - the "upstream" AUTH back end: checks a user's login
 * against the upstream submission server.
 *
 * One short SMTP client session per check, on the loop: connect, EHLO,
 * STARTTLS (upstream.tls starttls; implicit TLS for "implicit"), EHLO,
 * AUTH PLAIN, QUIT.  The upstream certificate is verified as the relay
 * does (upstream.verify, upstream.ca_file; host name or IP, RFC 6125).
 * 235 is AUTH_OK, a 5xx to AUTH is AUTH_FAIL, anything else (connect
 * error, timeout, TLS failure, 4xx, no AUTH PLAIN offered) is
 * AUTH_TEMPFAIL.  The password is copied and cleansed when the check
 * ends; no line holding it is ever logged.
 *
 * Ownership: owned by struct auth.  auth_upstream_free() ends every check
 * in flight without calling its callback.
 * Thread: loop thread only.
 * Errors: constructors NULL; auth_upstream_check() 0 / -1 (-1: too many
 * checks in flight, cb is not called).
 */
#ifndef MH_PROXY_AUTH_UPSTREAM_H
#define MH_PROXY_AUTH_UPSTREAM_H

#include <stddef.h>

#include "auth.h"

struct event_base;
struct config;
struct auth_upstream;

struct auth_upstream *auth_upstream_new(struct event_base *, struct config *,
		    char *errbuf, size_t errsz);
/* New settings for checks started from now on; -1 keeps the old ones. */
int		 auth_upstream_set_config(struct auth_upstream *,
		    struct config *, char *errbuf, size_t errsz);
int		 auth_upstream_check(struct auth_upstream *, const char *user,
		    const char *pass, size_t passlen, auth_done_cb *cb,
		    void *arg);
void		 auth_upstream_free(struct auth_upstream *);

#endif
