/*
 * check_tls.c - unit tests for proxy/tls.c: building server contexts from
 * the tls.* keys, the errors for bad certificates, keys and lists, and a
 * real handshake in memory (BIO pairs) with the minimum version, the
 * certificate served and session tickets on and off.
 *
 * Certificates are made here with the OpenSSL API (a self-signed P-256
 * certificate per test), so the test needs no files from the tree.
 */
#include "tls.h"

#include <sys/stat.h>

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "config.h"
#include "config_priv.h"
#include "util.h"

static char	dir[64];
static char	cert1[128], key1[128], cert2[128], key2[128], junk[128];

static void
write_cert(const char *cpath, const char *kpath, const char *cn)
{
	EVP_PKEY *pk = EVP_EC_gen("P-256");
	X509 *x = X509_new();
	X509_NAME *n;
	FILE *f;

	ck_assert_ptr_nonnull(pk);
	ck_assert_ptr_nonnull(x);
	ASN1_INTEGER_set(X509_get_serialNumber(x), 1);
	X509_gmtime_adj(X509_getm_notBefore(x), -60);
	X509_gmtime_adj(X509_getm_notAfter(x), 86400);
	X509_set_pubkey(x, pk);
	n = X509_get_subject_name(x);
	X509_NAME_add_entry_by_txt(n, "CN", MBSTRING_ASC,
	    (const unsigned char *)cn, -1, -1, 0);
	X509_set_issuer_name(x, n);
	ck_assert_int_gt(X509_sign(x, pk, EVP_sha256()), 0);
	ck_assert_ptr_nonnull(f = fopen(cpath, "w"));
	PEM_write_X509(f, x);
	fclose(f);
	ck_assert_ptr_nonnull(f = fopen(kpath, "w"));
	PEM_write_PrivateKey(f, pk, NULL, NULL, 0, NULL, NULL);
	fclose(f);
	ck_assert_int_eq(chmod(kpath, 0600), 0);
	ck_assert_int_eq(chmod(cpath, 0600), 0);	/* also used as a key */
	X509_free(x);
	EVP_PKEY_free(pk);
}

static void
setup(void)
{
	FILE *f;

	mh_strlcpy(dir, "/tmp/check_tls.XXXXXX", sizeof(dir));
	ck_assert_ptr_nonnull(mkdtemp(dir));
	(void)mh_snprintf(cert1, sizeof(cert1), "%s/c1.pem", dir);
	(void)mh_snprintf(key1, sizeof(key1), "%s/k1.pem", dir);
	(void)mh_snprintf(cert2, sizeof(cert2), "%s/c2.pem", dir);
	(void)mh_snprintf(key2, sizeof(key2), "%s/k2.pem", dir);
	(void)mh_snprintf(junk, sizeof(junk), "%s/junk.pem", dir);
	write_cert(cert1, key1, "one.example");
	write_cert(cert2, key2, "two.example");
	ck_assert_ptr_nonnull(f = fopen(junk, "w"));
	fputs("-----BEGIN CERTIFICATE-----\nnot base64\n"
	    "-----END CERTIFICATE-----\n", f);
	fclose(f);
	ck_assert_int_eq(chmod(junk, 0600), 0);
}

static void
teardown(void)
{
	char cmd[128];

	(void)mh_snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	/* (void) does not silence warn_unused_result under
	 * _FORTIFY_SOURCE, which the Debian package build sets. */
	if (system(cmd) != 0)
		fprintf(stderr, "%s: %s failed\n", __func__, cmd);
}

static struct config *
conf_with(const char *cert, const char *key, const char *extra)
{
	char yaml[1024], err[1024];
	struct config *cfg;

	(void)mh_snprintf(yaml, sizeof(yaml), "server:\n  listeners: "
	    "[{address: 127.0.0.1, port: 0, mode: tls}]\n"
	    "tls:\n  cert_file: %s\n  key_file: %s\n%s", cert, key,
	    extra ? extra : "");
	cfg = config_load_buffer_("t.yaml", yaml, strlen(yaml), err,
	    sizeof(err));
	ck_assert_msg(cfg != NULL, "%s", err);
	return cfg;
}

struct bad_case {
	const char	*label;
	int		 cert;		/* 1, 2, 3 = junk */
	int		 key;
	const char	*extra;
	const char	*want;		/* substring of the error */
};

static const struct bad_case bad_cases[] = {
	{ "key of another cert", 1, 2, NULL, "key values mismatch" },
	{ "junk certificate", 3, 1, NULL, "tls.cert_file" },
	{ "junk key", 1, 3, NULL, "tls.key_file" },
	{ "cert as key", 1, 1 + 10, NULL, "tls.key_file" },
	{ "no cipher", 1, 1, "  ciphers: NOPE\n", "tls.ciphers" },
	{ "bad suite", 1, 1, "  ciphersuites: TLS_NOPE\n", "tls.ciphersuites" },
	{ "bad group", 1, 1, "  groups: bogus\n", "tls.groups" },
};

static const char *
pick(int which, bool cert)
{
	switch (which) {
	case 1:
		return cert ? cert1 : key1;
	case 2:
		return cert ? cert2 : key2;
	case 11:
		return cert1;		/* a certificate given as the key */
	default:
		return junk;
	}
}

START_TEST(test_bad)
{
	const struct bad_case *c = &bad_cases[_i];
	struct config *cfg;
	char err[1024];
	SSL_CTX *ctx;

	cfg = conf_with(pick(c->cert, true), pick(c->key, false), c->extra);
	ctx = tlsctx_new(cfg, err, sizeof(err));
	ck_assert_msg(ctx == NULL, "%s: accepted", c->label);
	ck_assert_msg(strstr(err, c->want) != NULL, "%s: %s", c->label, err);
	config_unref(cfg);
}
END_TEST

/* Runs a handshake between ctx and a fresh client over a BIO pair.
 * Returns the client SSL (caller frees) or NULL when it failed. */
static SSL *
handshake(SSL_CTX *sctx, int cmax, SSL_SESSION *resume, SSL **sslp)
{
	SSL_CTX *cctx = SSL_CTX_new(TLS_client_method());
	SSL *c, *s;
	BIO *bc, *bs;
	int i, rc, rs;

	ck_assert_ptr_nonnull(cctx);
	if (cmax)
		SSL_CTX_set_max_proto_version(cctx, cmax);
	c = SSL_new(cctx);
	SSL_CTX_free(cctx);
	s = tlsctx_ssl_new(sctx);
	ck_assert_ptr_nonnull(s);
	ck_assert_int_eq(BIO_new_bio_pair(&bc, 0, &bs, 0), 1);
	SSL_set_bio(c, bc, bc);
	SSL_set_bio(s, bs, bs);
	SSL_set_connect_state(c);
	SSL_set_accept_state(s);
	SSL_set_tlsext_host_name(c, "one.example");
	if (resume)
		SSL_set_session(c, resume);
	for (i = 0; i < 100; i++) {
		rc = SSL_do_handshake(c);
		rs = SSL_do_handshake(s);
		if (rc == 1 && rs == 1)
			break;
		if ((rc != 1 && SSL_get_error(c, rc) != SSL_ERROR_WANT_READ) ||
		    (rs != 1 && SSL_get_error(s, rs) != SSL_ERROR_WANT_READ)) {
			ERR_clear_error();
			SSL_free(c);
			SSL_free(s);
			return NULL;
		}
	}
	/* TLS 1.3 tickets arrive after the handshake. */
	{
		char b[16];

		(void)SSL_write(s, "x", 1);
		(void)SSL_read(c, b, sizeof(b));
	}
	*sslp = s;
	return c;
}

START_TEST(test_handshake)
{
	struct config *cfg = conf_with(cert1, key1, NULL);
	char err[1024], info[160];
	SSL_CTX *ctx;
	SSL *c, *s;
	X509 *peer;

	ctx = tlsctx_new(cfg, err, sizeof(err));
	ck_assert_msg(ctx != NULL, "%s", err);
	ck_assert_int_eq(SSL_CTX_get_min_proto_version(ctx), TLS1_2_VERSION);
	ck_assert(SSL_CTX_get_options(ctx) & SSL_OP_NO_TICKET);

	/* TLS 1.3 by default; the certificate served is ours. */
	ck_assert_ptr_nonnull(c = handshake(ctx, 0, NULL, &s));
	ck_assert_int_eq(SSL_version(c), TLS1_3_VERSION);
	ck_assert_ptr_nonnull(peer = SSL_get1_peer_certificate(c));
	ck_assert_int_eq(X509_NAME_get_text_by_NID(X509_get_subject_name(peer),
	    NID_commonName, info, sizeof(info)), 11);
	ck_assert_str_eq(info, "one.example");
	X509_free(peer);
	tlsctx_describe(s, info, sizeof(info));
	ck_assert_msg(strncmp(info, "TLSv1.3 with cipher TLS_", 24) == 0, "%s",
	    info);
	/* Tickets off: nothing to resume. */
	ck_assert(!SSL_SESSION_is_resumable(SSL_get_session(c)));
	SSL_free(c);
	SSL_free(s);

	/* A TLS 1.2 client is fine at the default minimum. */
	ck_assert_ptr_nonnull(c = handshake(ctx, TLS1_2_VERSION, NULL, &s));
	ck_assert_int_eq(SSL_version(c), TLS1_2_VERSION);
	SSL_free(c);
	SSL_free(s);
	/* And TLS 1.1 is not. */
	ck_assert_ptr_null(handshake(ctx, TLS1_1_VERSION, NULL, &s));
	tlsctx_free(ctx);
	config_unref(cfg);
}
END_TEST

START_TEST(test_min13)
{
	struct config *cfg = conf_with(cert1, key1, "  min_version: 1.3\n");
	char err[1024];
	SSL_CTX *ctx;
	SSL *s;

	ck_assert_ptr_nonnull(ctx = tlsctx_new(cfg, err, sizeof(err)));
	ck_assert_int_eq(SSL_CTX_get_min_proto_version(ctx), TLS1_3_VERSION);
	ck_assert_ptr_null(handshake(ctx, TLS1_2_VERSION, NULL, &s));
	tlsctx_free(ctx);
	config_unref(cfg);
}
END_TEST

START_TEST(test_tickets)
{
	struct config *cfg = conf_with(cert1, key1,
	    "  session_tickets: true\n");
	SSL_SESSION *sess;
	char err[1024];
	SSL_CTX *ctx;
	SSL *c, *s;
	int v;

	ck_assert_ptr_nonnull(ctx = tlsctx_new(cfg, err, sizeof(err)));
	ck_assert(!(SSL_CTX_get_options(ctx) & SSL_OP_NO_TICKET));
	for (v = 0; v < 2; v++) {
		int max = v == 0 ? 0 : TLS1_2_VERSION;

		ck_assert_ptr_nonnull(c = handshake(ctx, max, NULL, &s));
		sess = SSL_get1_session(c);
		ck_assert(SSL_SESSION_is_resumable(sess));
		/* A clean close: freeing an SSL that was not shut down
		 * marks its session not resumable. */
		SSL_set_shutdown(c, SSL_SENT_SHUTDOWN | SSL_RECEIVED_SHUTDOWN);
		SSL_free(c);
		SSL_free(s);
		ck_assert_ptr_nonnull(c = handshake(ctx, max, sess, &s));
		ck_assert_msg(SSL_session_reused(c) == 1, "version %d", v);
		SSL_free(c);
		SSL_free(s);
		SSL_SESSION_free(sess);
	}
	tlsctx_free(ctx);
	config_unref(cfg);
}
END_TEST

/* The context outlives its last holder's reference while an SSL uses
 * it: what a reload relies on. */
START_TEST(test_refcount)
{
	struct config *cfg = conf_with(cert1, key1, NULL);
	char err[1024];
	SSL_CTX *ctx;
	SSL *s;

	ck_assert_ptr_nonnull(ctx = tlsctx_new(cfg, err, sizeof(err)));
	ck_assert_ptr_eq(tlsctx_ref(ctx), ctx);
	tlsctx_free(ctx);
	ck_assert_ptr_nonnull(s = tlsctx_ssl_new(ctx));
	tlsctx_free(ctx);		/* the SSL still holds it */
	ck_assert_ptr_eq(SSL_get_SSL_CTX(s), ctx);
	SSL_free(s);			/* ASan: freed exactly once */
	tlsctx_free(NULL);
	ck_assert_ptr_null(tlsctx_ref(NULL));
	config_unref(cfg);
}
END_TEST

static Suite *
tls_suite(void)
{
	Suite *s = suite_create("tls");
	TCase *tc = tcase_create("ctx");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_loop_test(tc, test_bad, 0, sizeof(bad_cases) /
	    sizeof(bad_cases[0]));
	tcase_add_test(tc, test_handshake);
	tcase_add_test(tc, test_min13);
	tcase_add_test(tc, test_tickets);
	tcase_add_test(tc, test_refcount);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner *sr = srunner_create(tls_suite());
	int nfail;

	srunner_run_all(sr, CK_NORMAL);
	nfail = srunner_ntests_failed(sr);
	srunner_free(sr);
	return nfail == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
