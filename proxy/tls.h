/*
 * tls.h - server TLS contexts for the starttls and tls listeners.
 *
 * tlsctx_new() builds one OpenSSL SSL_CTX from the tls.* keys: certificate
 * chain and key (checked to match), minimum version (TLS 1.2 by default),
 * TLS 1.2 cipher list, TLS 1.3 suites, groups, session tickets off or on
 * with in-memory keys rotated every hour, an SNI callback hook.  On SIGHUP
 * the daemon builds a new context and swaps it in; a bad new certificate
 * or key makes tlsctx_new() fail and the old context stays.
 *
 * Ownership: the context is reference counted by OpenSSL itself: every SSL
 * made from it holds a reference (SSL_new), so sessions in flight keep the
 * context they started with after a reload.  tlsctx_ref() takes one more
 * (SSL_CTX_up_ref), tlsctx_free() drops one; NULL is a no-op.
 * Thread: loop thread (building may run anywhere; no globals but one
 * ex_data index, made once).
 * Errors: tlsctx_new() returns NULL and writes one line into errbuf.
 */
#ifndef MH_PROXY_TLS_H
#define MH_PROXY_TLS_H

#include <stddef.h>

#include <openssl/ssl.h>

struct bufferevent;
struct config;

SSL_CTX	*tlsctx_new(const struct config *, char *errbuf, size_t errsz);
SSL_CTX	*tlsctx_ref(SSL_CTX *);
void	 tlsctx_free(SSL_CTX *);

/* A new server-side SSL for one connection, or NULL. */
SSL	*tlsctx_ssl_new(SSL_CTX *);

/* "TLSv1.3 with cipher TLS_AES_128_GCM_SHA256 (128/128 bits)" for the
 * Received: header and the log.  Returns buf. */
const char *tlsctx_describe(SSL *, char *buf, size_t sz);

/* A client SSL on ctx for the upstream host: SNI and name check for a
 * host name, IP check for an address literal (RFC 6125); whether the
 * check is enforced is the context's verify mode.  NULL on error. */
SSL	*tlsctx_client_ssl_new(SSL_CTX *ctx, const char *host);

/*
 * Call once a bufferevent_openssl reports BEV_EVENT_CONNECTED.  A peer may
 * send its last handshake message and its first application data in one
 * TCP segment (GnuTLS does, for TLS 1.3 Finished + EHLO).  The handshake
 * consumes only the handshake record; the rest then sits in the filter's
 * underlying input buffer or inside OpenSSL, and no socket event will ever
 * announce it: the session would wait for input it already has.  This
 * schedules one read of the TLS bufferevent (deferred: the caller's
 * callback returns first) when such input exists, and does nothing
 * otherwise.  Loop thread.
 */
void	 tlsctx_bev_read_pending(struct bufferevent *);

/* The first line of the OpenSSL error queue (which it clears) or what. */
const char *tlsctx_error(const char *what, char *buf, size_t sz);

#endif
