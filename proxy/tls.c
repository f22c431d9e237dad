/*
 * tls.c - server TLS contexts; see tls.h.
 *
 * Session resumption: off by default (tls.session_tickets: false): no
 * tickets (TLS 1.2 and 1.3), no session cache, so the server keeps no
 * session state and every connection does a full handshake.  With tickets
 * on, ticket keys come from RAND_bytes, live only in memory (ex_data of
 * the SSL_CTX, freed and cleansed with it) and rotate lazily: when a
 * ticket is issued and the current key is more than TLSCTX_TICKET_ROTATE
 * old, it becomes the previous key and a new one is made.  A ticket under
 * the previous key is still accepted (and renewed) until that key is
 * itself TLSCTX_TICKET_ROTATE old; older tickets mean a full handshake.
 * A reload makes a new context and so new keys (old tickets then fail).
 */
#include "tls.h"

#include <arpa/inet.h>

#include <pthread.h>
#include <stdbool.h>
#include <string.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/bufferevent_struct.h>
#include <event2/event.h>

#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <openssl/x509v3.h>

#include "config.h"
#include "log.h"
#include "util.h"

#define TLSCTX_TICKET_ROTATE	(3600 * 1000LL)	/* ms */
#define TLSCTX_SESSION_TIMEOUT	7200		/* s: two key lifetimes */

struct tlsctx_key {
	unsigned char	 name[16];
	unsigned char	 aes[32];
	unsigned char	 hmac[32];
	int64_t		 born_ms;
	int		 valid;
};

struct tlsctx_tickets {
	struct tlsctx_key cur;
	struct tlsctx_key prev;
};

static int		tlsctx_ex_index = -1;
static pthread_once_t	tlsctx_once = PTHREAD_ONCE_INIT;

static void
tlsctx_ex_free(void *parent, void *ptr, CRYPTO_EX_DATA *ad, int idx,
    long argl, void *argp)
{
	if (ptr != NULL) {
		OPENSSL_cleanse(ptr, sizeof(struct tlsctx_tickets));
		OPENSSL_free(ptr);
	}
}

static void
tlsctx_once_init(void)
{
	tlsctx_ex_index = SSL_CTX_get_ex_new_index(0, NULL, NULL, NULL,
	    tlsctx_ex_free);
}

const char *
tlsctx_error(const char *what, char *buf, size_t sz)
{
	unsigned long e = ERR_get_error();
	char ebuf[256];

	if (e == 0) {
		mh_strlcpy(buf, what, sz);
		return buf;
	}
	ERR_error_string_n(e, ebuf, sizeof(ebuf));
	ERR_clear_error();
	if (mh_snprintf(buf, sz, "%s: %s", what, ebuf) == -1)
		mh_strlcpy(buf, what, sz);
	return buf;
}

static int
tlsctx_key_new(struct tlsctx_key *k)
{
	if (RAND_bytes(k->name, sizeof(k->name)) != 1 ||
	    RAND_bytes(k->aes, sizeof(k->aes)) != 1 ||
	    RAND_bytes(k->hmac, sizeof(k->hmac)) != 1)
		return -1;
	k->born_ms = mh_mono_ms();
	k->valid = 1;
	return 0;
}

static int
tlsctx_key_use(const struct tlsctx_key *k, unsigned char *iv,
    EVP_CIPHER_CTX *cctx, EVP_MAC_CTX *hctx, int enc)
{
	OSSL_PARAM params[3];

	params[0] = OSSL_PARAM_construct_octet_string(OSSL_MAC_PARAM_KEY,
	    (void *)k->hmac, sizeof(k->hmac));
	params[1] = OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST,
	    (char *)"SHA256", 0);
	params[2] = OSSL_PARAM_construct_end();
	if (EVP_MAC_CTX_set_params(hctx, params) != 1)
		return -1;
	if (enc)
		return EVP_EncryptInit_ex(cctx, EVP_aes_256_cbc(), NULL,
		    k->aes, iv) == 1 ? 0 : -1;
	return EVP_DecryptInit_ex(cctx, EVP_aes_256_cbc(), NULL, k->aes,
	    iv) == 1 ? 0 : -1;
}

/* RFC 5077 section 4 key_name/IV/HMAC scheme, as OpenSSL expects. */
static int
tlsctx_ticket_cb(SSL *ssl, unsigned char name[16], unsigned char *iv,
    EVP_CIPHER_CTX *cctx, EVP_MAC_CTX *hctx, int enc)
{
	struct tlsctx_tickets *t;
	int64_t now = mh_mono_ms();

	t = SSL_CTX_get_ex_data(SSL_get_SSL_CTX(ssl), tlsctx_ex_index);
	if (t == NULL)
		return -1;
	if (enc) {
		if (!t->cur.valid || now - t->cur.born_ms >=
		    TLSCTX_TICKET_ROTATE) {
			t->prev = t->cur;
			t->prev.born_ms = now;	/* retired now */
			if (tlsctx_key_new(&t->cur) == -1)
				return -1;
		}
		memcpy(name, t->cur.name, sizeof(t->cur.name));
		if (RAND_bytes(iv, EVP_CIPHER_get_iv_length(
		    EVP_aes_256_cbc())) != 1)
			return -1;
		return tlsctx_key_use(&t->cur, iv, cctx, hctx, 1) == 0 ? 1 :
		    -1;
	}
	if (t->cur.valid && CRYPTO_memcmp(name, t->cur.name, 16) == 0 &&
	    now - t->cur.born_ms < 2 * TLSCTX_TICKET_ROTATE)
		return tlsctx_key_use(&t->cur, iv, cctx, hctx, 0) == 0 ?
		    (now - t->cur.born_ms >= TLSCTX_TICKET_ROTATE ? 2 : 1) :
		    -1;
	if (t->prev.valid && CRYPTO_memcmp(name, t->prev.name, 16) == 0 &&
	    now - t->prev.born_ms < TLSCTX_TICKET_ROTATE)
		/* 2: accepted, and a new ticket under the current key. */
		return tlsctx_key_use(&t->prev, iv, cctx, hctx, 0) == 0 ? 2 :
		    -1;
	return 0;	/* unknown or expired key: full handshake */
}

/*
 * SNI hook.  One certificate today: the name is only logged.  This is
 * where a per-name context would be chosen with SSL_set_SSL_CTX().
 */
static int
tlsctx_sni_cb(SSL *ssl, int *alert, void *arg)
{
	const char *name = SSL_get_servername(ssl, TLSEXT_NAMETYPE_host_name);
	char esc[300];

	if (name != NULL)
		log_debug("event=tls_sni name=\"%s\"", mh_log_escape(name,
		    strlen(name), 255, esc, sizeof(esc)));
	return SSL_TLSEXT_ERR_OK;
}

SSL_CTX *
tlsctx_new(const struct config *conf, char *errbuf, size_t errsz)
{
	struct tlsctx_tickets *t = NULL;
	char why[512];
	SSL_CTX *ctx;

	ERR_clear_error();
	pthread_once(&tlsctx_once, tlsctx_once_init);
	if (tlsctx_ex_index < 0) {
		mh_strlcpy(errbuf, "TLS: no ex_data index", errsz);
		return NULL;
	}
	if (conf->tls_cert_file == NULL || conf->tls_key_file == NULL) {
		mh_strlcpy(errbuf, "tls.cert_file and tls.key_file are not set",
		    errsz);
		return NULL;
	}
	if ((ctx = SSL_CTX_new(TLS_server_method())) == NULL) {
		(void)mh_snprintf(errbuf, errsz, "%s", tlsctx_error(
		    "SSL_CTX_new", why, sizeof(why)));
		return NULL;
	}
	if (SSL_CTX_set_min_proto_version(ctx,
	    conf->tls_min_version == CONFIG_TLS_V13 ? TLS1_3_VERSION :
	    TLS1_2_VERSION) != 1) {
		(void)mh_snprintf(errbuf, errsz, "tls.min_version: %s",
		    tlsctx_error("not supported", why, sizeof(why)));
		goto fail;
	}
	/* Server preference; no renegotiation (client-initiated
	 * renegotiation costs the server CPU); small idle sessions. */
	SSL_CTX_set_options(ctx, SSL_OP_CIPHER_SERVER_PREFERENCE |
	    SSL_OP_NO_RENEGOTIATION | SSL_OP_NO_COMPRESSION);
	SSL_CTX_set_mode(ctx, SSL_MODE_RELEASE_BUFFERS);
	if (SSL_CTX_set_cipher_list(ctx, conf->tls_ciphers) != 1) {
		(void)mh_snprintf(errbuf, errsz, "tls.ciphers: %s",
		    tlsctx_error("no usable cipher", why, sizeof(why)));
		goto fail;
	}
	if (SSL_CTX_set_ciphersuites(ctx, conf->tls_ciphersuites) != 1) {
		(void)mh_snprintf(errbuf, errsz, "tls.ciphersuites: %s",
		    tlsctx_error("no usable suite", why, sizeof(why)));
		goto fail;
	}
	if (SSL_CTX_set1_groups_list(ctx, conf->tls_groups) != 1) {
		(void)mh_snprintf(errbuf, errsz, "tls.groups: %s",
		    tlsctx_error("unknown group", why, sizeof(why)));
		goto fail;
	}
	SSL_CTX_set_dh_auto(ctx, 1);
	if (SSL_CTX_use_certificate_chain_file(ctx, conf->tls_cert_file) !=
	    1) {
		(void)mh_snprintf(errbuf, errsz, "tls.cert_file %s: %s",
		    conf->tls_cert_file, tlsctx_error("cannot load", why,
		    sizeof(why)));
		goto fail;
	}
	if (SSL_CTX_use_PrivateKey_file(ctx, conf->tls_key_file,
	    SSL_FILETYPE_PEM) != 1) {
		(void)mh_snprintf(errbuf, errsz, "tls.key_file %s: %s",
		    conf->tls_key_file, tlsctx_error("cannot load", why,
		    sizeof(why)));
		goto fail;
	}
	if (SSL_CTX_check_private_key(ctx) != 1) {
		(void)mh_snprintf(errbuf, errsz, "tls.key_file %s: %s",
		    conf->tls_key_file, tlsctx_error("does not match "
		    "tls.cert_file", why, sizeof(why)));
		goto fail;
	}
	SSL_CTX_set_tlsext_servername_callback(ctx, tlsctx_sni_cb);
	SSL_CTX_set_session_id_context(ctx, (const unsigned char *)"mailhold",
	    8);
	SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
	if (!conf->tls_session_tickets) {
		SSL_CTX_set_options(ctx, SSL_OP_NO_TICKET);
		SSL_CTX_set_num_tickets(ctx, 0);
	} else {
		if ((t = OPENSSL_zalloc(sizeof(*t))) == NULL ||
		    tlsctx_key_new(&t->cur) == -1 ||
		    SSL_CTX_set_ex_data(ctx, tlsctx_ex_index, t) != 1) {
			if (t != NULL) {
				OPENSSL_cleanse(t, sizeof(*t));
				OPENSSL_free(t);
			}
			mh_strlcpy(errbuf, "tls.session_tickets: cannot make "
			    "ticket keys", errsz);
			goto fail;
		}
		SSL_CTX_set_timeout(ctx, TLSCTX_SESSION_TIMEOUT);
		SSL_CTX_set_num_tickets(ctx, 1);
		if (SSL_CTX_set_tlsext_ticket_key_evp_cb(ctx,
		    tlsctx_ticket_cb) != 1) {
			mh_strlcpy(errbuf, "tls.session_tickets: cannot set "
			    "the ticket callback", errsz);
			goto fail;
		}
	}
	return ctx;
fail:
	SSL_CTX_free(ctx);	/* frees the ticket keys through ex_data */
	return NULL;
}

SSL_CTX *
tlsctx_ref(SSL_CTX *ctx)
{
	if (ctx != NULL)
		SSL_CTX_up_ref(ctx);
	return ctx;
}

void
tlsctx_free(SSL_CTX *ctx)
{
	if (ctx != NULL)
		SSL_CTX_free(ctx);
}

SSL *
tlsctx_ssl_new(SSL_CTX *ctx)
{
	return ctx != NULL ? SSL_new(ctx) : NULL;
}

const char *
tlsctx_describe(SSL *ssl, char *buf, size_t sz)
{
	const SSL_CIPHER *c = SSL_get_current_cipher(ssl);
	int alg = 0, bits = 0;

	if (c != NULL)
		bits = SSL_CIPHER_get_bits(c, &alg);
	if (mh_snprintf(buf, sz, "%s with cipher %s (%d/%d bits)",
	    SSL_get_version(ssl), c ? SSL_CIPHER_get_name(c) : "none", bits,
	    alg) == -1)
		mh_strlcpy(buf, SSL_get_version(ssl), sz);
	return buf;
}

SSL *
tlsctx_client_ssl_new(SSL_CTX *ctx, const char *host)
{
	struct in6_addr a6;
	struct in_addr a4;
	SSL *ssl;

	if ((ssl = SSL_new(ctx)) == NULL)
		return NULL;
	if (inet_pton(AF_INET, host, &a4) == 1 ||
	    inet_pton(AF_INET6, host, &a6) == 1) {
		if (X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl),
		    host) != 1)
			goto fail;
	} else if (SSL_set_tlsext_host_name(ssl, host) != 1 ||
	    SSL_set1_host(ssl, host) != 1)
		goto fail;
	return ssl;
fail:
	SSL_free(ssl);
	return NULL;
}

void
tlsctx_bev_read_pending(struct bufferevent *bev)
{
	struct bufferevent *under = bufferevent_get_underlying(bev);
	SSL *ssl = bufferevent_openssl_get_ssl(bev);

	if (ssl == NULL)
		return;
	if (evbuffer_get_length(bufferevent_get_input(bev)) > 0) {
		/* Already decrypted while the handshake finished: the
		 * read callback ran (if at all) before the caller knew the
		 * session was ready.  Run it again. */
		bufferevent_trigger(bev, EV_READ, BEV_TRIG_IGNORE_WATERMARKS |
		    BEV_TRIG_DEFER_CALLBACKS);
	} else if (under != NULL) {
		/* Filter: still encrypted in the underlying buffer; its read
		 * callback is the filter's, which decrypts and reads. */
		if (SSL_has_pending(ssl) ||
		    evbuffer_get_length(bufferevent_get_input(under)) > 0)
			bufferevent_trigger(under, EV_READ,
			    BEV_TRIG_IGNORE_WATERMARKS |
			    BEV_TRIG_DEFER_CALLBACKS);
	} else if (SSL_has_pending(ssl)) {
		/* Socket: the record is inside OpenSSL, not in the kernel;
		 * activate the read event as if the socket had spoken. */
		event_active(&bev->ev_read, EV_READ, 1);
	}
}
