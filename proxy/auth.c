/*
 * auth.c - SMTP AUTH back ends, SASL decoding, sender binding and
 * brute-force limits; see auth.h.
 *
 * Threads: the loop owns struct auth.  The worker thread only runs
 * crypt(3) and scrypt over jobs it is handed through a->todo (under
 * a->mtx) and hands them back through a->done plus event_active(); while
 * a job is out, the loop does not touch it or the request it points to.
 *
 * Timing: for an unknown user the file back end still runs crypt(3), on
 * a dummy hash with the same settings (algorithm and cost) as the first
 * entry of the file, so the reply comes after the same work; the
 * brute-force delay then depends only on the failure counters, which
 * count unknown users like known ones.
 */
#include "auth.h"
#include "auth_upstream.h"

#include <sys/stat.h>

#include <crypt.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/event.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

#include "config.h"
#include "log.h"
#include "policy.h"
#include "util.h"

#define AUTH_PWFILE_MAX		(16 * 1024 * 1024)	/* file size cap */
#define AUTH_PWFILE_LINE_MAX	4096
#define AUTH_PWFILE_ENTRIES_MAX	100000
#define AUTH_LIMITER_MAX	65536	/* keys remembered per limiter */
#define AUTH_CACHE_MAX		4096	/* cached upstream logins */
#define AUTH_SALT_LEN		16
#define AUTH_DIGEST_LEN		32
/* scrypt for the upstream cache: 16 MiB, some tens of ms. */
#define AUTH_SCRYPT_N		16384
#define AUTH_SCRYPT_R		8
#define AUTH_SCRYPT_P		1
#define AUTH_SCRYPT_MAXMEM	(64 * 1024 * 1024)

/* ------------------------------------------------------------------ */
/* base64 (RFC 4648 section 4), strict                                 */

enum auth_b64_status
auth_b64_decode(const char *in, size_t len, unsigned char *out, size_t outsz,
    size_t *outlen)
{
	const unsigned char *p = (const unsigned char *)in;
	size_t i, o = 0, pad = 0, need;
	int v[4], k;

	if (len == 1 && p[0] == '=') {	/* RFC 4954 section 4: empty */
		*outlen = 0;
		return AUTH_B64_OK;
	}
	if (len == 0 || len % 4 != 0)
		return AUTH_B64_BAD;
	if (p[len - 1] == '=')
		pad = p[len - 2] == '=' ? 2 : 1;
	need = len / 4 * 3 - pad;
	if (need > outsz)
		return AUTH_B64_TOO_LONG;
	for (i = 0; i < len; i += 4) {
		bool last = i + 4 == len;

		for (k = 0; k < 4; k++) {
			if (last && p[i + (size_t)k] == '=' &&
			    k >= 4 - (int)pad)
				v[k] = 0;
			else if ((v[k] = mh_b64_val(p[i + (size_t)k])) < 0)
				return AUTH_B64_BAD;
		}
		out[o++] = (unsigned char)(v[0] << 2 | v[1] >> 4);
		if (!last || pad < 2)
			out[o++] = (unsigned char)((v[1] & 0xf) << 4 |
			    v[2] >> 2);
		if (!last || pad < 1)
			out[o++] = (unsigned char)((v[2] & 0x3) << 6 | v[3]);
	}
	*outlen = o;
	return AUTH_B64_OK;
}

size_t
auth_b64_encode(const unsigned char *in, size_t len, char *out)
{
	static const char tab[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnop"
	    "qrstuvwxyz0123456789+/";
	size_t i, o = 0;
	unsigned v;

	for (i = 0; i + 2 < len; i += 3) {
		v = (unsigned)in[i] << 16 | (unsigned)in[i + 1] << 8 | in[i + 2];
		out[o++] = tab[v >> 18];
		out[o++] = tab[(v >> 12) & 63];
		out[o++] = tab[(v >> 6) & 63];
		out[o++] = tab[v & 63];
	}
	if (i < len) {
		v = (unsigned)in[i] << 16 | (i + 1 < len ?
		    (unsigned)in[i + 1] << 8 : 0);
		out[o++] = tab[v >> 18];
		out[o++] = tab[(v >> 12) & 63];
		out[o++] = i + 1 < len ? tab[(v >> 6) & 63] : '=';
		out[o++] = '=';
	}
	out[o] = '\0';
	return o;
}

/* ------------------------------------------------------------------ */
/* SASL PLAIN and LOGIN                                                 */

/* A login name: 1 to AUTH_USER_MAX octets, no control characters (it is
 * logged, escaped, and stored with the message). */
static const char *
auth_user_check(const unsigned char *p, size_t len)
{
	size_t i;

	if (len == 0)
		return "empty user name";
	if (len > AUTH_USER_MAX)
		return "user name too long";
	for (i = 0; i < len; i++)
		if (p[i] < 0x20 || p[i] == 0x7f)
			return "control character in user name";
	return NULL;
}

const char *
auth_sasl_plain_parse(const unsigned char *p, size_t len,
    struct auth_creds *c)
{
	const unsigned char *n1, *n2;
	size_t zlen, ulen, plen;
	const char *why;

	memset(c, 0, sizeof(*c));
	if ((n1 = memchr(p, '\0', len)) == NULL)
		return "malformed PLAIN message";
	zlen = (size_t)(n1 - p);
	if ((n2 = memchr(n1 + 1, '\0', len - zlen - 1)) == NULL)
		return "malformed PLAIN message";
	ulen = (size_t)(n2 - n1 - 1);
	plen = len - zlen - ulen - 2;
	if (memchr(n2 + 1, '\0', plen) != NULL)
		return "malformed PLAIN message";
	if ((why = auth_user_check(n1 + 1, ulen)) != NULL)
		return why;
	if (plen > AUTH_PASS_MAX)
		return "password too long";
	/* RFC 4616 section 2: we do not act for another identity. */
	if (zlen != 0 && (zlen != ulen || memcmp(p, n1 + 1, ulen) != 0))
		return "authorization identity not supported";
	memcpy(c->user, n1 + 1, ulen);
	c->user[ulen] = '\0';
	memcpy(c->pass, n2 + 1, plen);
	c->pass[plen] = '\0';
	c->passlen = plen;
	return NULL;
}

const char *
auth_sasl_login_parse(const unsigned char *p, size_t len, bool is_user,
    struct auth_creds *c)
{
	const char *why;

	if (is_user) {
		memset(c, 0, sizeof(*c));
		if ((why = auth_user_check(p, len)) != NULL)
			return why;
		memcpy(c->user, p, len);
		c->user[len] = '\0';
		return NULL;
	}
	if (memchr(p, '\0', len) != NULL)
		return "NUL in password";
	if (len > AUTH_PASS_MAX)
		return "password too long";
	memcpy(c->pass, p, len);
	c->pass[len] = '\0';
	c->passlen = len;
	return NULL;
}

void
auth_creds_clear(struct auth_creds *c)
{
	OPENSSL_cleanse(c->pass, sizeof(c->pass));
	c->passlen = 0;
}

/* ------------------------------------------------------------------ */
/* password file                                                        */

struct auth_pwent {
	char	*user;
	char	*hash;
};

struct auth_pwfile {
	struct auth_pwent *ents;
	size_t	 n;
};

static bool
auth_hash_syntax_ok(const char *h, size_t len)
{
	size_t i;

	if (len == 0 || len > 512)
		return false;
	for (i = 0; i < len; i++) {
		char c = h[i];

		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		    (c >= '0' && c <= '9') || strchr("./$=,+-!*", c) != NULL))
			return false;
	}
	return true;
}

static bool
auth_pwuser_ok(const char *u, size_t len)
{
	if (auth_user_check((const unsigned char *)u, len) != NULL)
		return false;
	return memchr(u, ':', len) == NULL && u[0] != '#' && u[0] != ' ' &&
	    u[0] != '\t';
}

static int
auth_pwent_cmp(const void *a, const void *b)
{
	return strcmp(((const struct auth_pwent *)a)->user,
	    ((const struct auth_pwent *)b)->user);
}

const char *
auth_pwfile_parse(const char *data, size_t len, struct auth_pwfile **out,
    size_t *linep)
{
	struct auth_pwfile *pw;
	const char *p = data, *end = data + len, *nl, *colon, *why = NULL;
	size_t line = 0, ll, cap = 0, i;

	*out = NULL;
	*linep = 0;
	if (len > AUTH_PWFILE_MAX)
		return "file too large";
	if (memchr(data, '\0', len) != NULL) {
		*linep = 1;
		return "NUL byte in file";
	}
	pw = xcalloc(1, sizeof(*pw));
	while (p < end) {
		line++;
		nl = memchr(p, '\n', (size_t)(end - p));
		ll = nl ? (size_t)(nl - p) : (size_t)(end - p);
		if (ll > 0 && p[ll - 1] == '\r')
			ll--;
		if (ll > AUTH_PWFILE_LINE_MAX) {
			why = "line too long";
			goto bad;
		}
		if (ll == 0 || p[0] == '#')
			goto next;
		if ((colon = memchr(p, ':', ll)) == NULL) {
			why = "expected user:hash";
			goto bad;
		}
		if (!auth_pwuser_ok(p, (size_t)(colon - p))) {
			why = "bad user name";
			goto bad;
		}
		if (!auth_hash_syntax_ok(colon + 1, ll - (size_t)(colon - p) -
		    1)) {
			why = "bad hash (expected a crypt(3) string such as "
			    "$y$...)";
			goto bad;
		}
		if (pw->n >= AUTH_PWFILE_ENTRIES_MAX) {
			why = "too many entries";
			goto bad;
		}
		if (pw->n == cap) {
			cap = cap ? cap * 2 : 16;
			pw->ents = xreallocarray(pw->ents, cap,
			    sizeof(*pw->ents));
		}
		pw->ents[pw->n].user = xstrndup(p, (size_t)(colon - p));
		pw->ents[pw->n].hash = xstrndup(colon + 1, ll -
		    (size_t)(colon - p) - 1);
		pw->n++;
next:
		if (nl == NULL)
			break;
		p = nl + 1;
	}
	if (pw->n > 1)
		qsort(pw->ents, pw->n, sizeof(*pw->ents), auth_pwent_cmp);
	for (i = 1; i < pw->n; i++)
		if (strcmp(pw->ents[i - 1].user, pw->ents[i].user) == 0) {
			line = 0;
			why = "duplicate user";
			goto bad;
		}
	*out = pw;
	return NULL;
bad:
	*linep = line;
	auth_pwfile_free(pw);
	return why;
}

const char *
auth_pwfile_lookup(const struct auth_pwfile *pw, const char *user)
{
	struct auth_pwent key, *e;

	if (pw == NULL || pw->n == 0)
		return NULL;
	key.user = (char *)user;
	e = bsearch(&key, pw->ents, pw->n, sizeof(*pw->ents), auth_pwent_cmp);
	return e ? e->hash : NULL;
}

size_t
auth_pwfile_count(const struct auth_pwfile *pw)
{
	return pw ? pw->n : 0;
}

void
auth_pwfile_free(struct auth_pwfile *pw)
{
	size_t i;

	if (pw == NULL)
		return;
	for (i = 0; i < pw->n; i++) {
		free(pw->ents[i].user);
		free(pw->ents[i].hash);
	}
	free(pw->ents);
	free(pw);
}

char *
auth_pwfile_update(const char *data, size_t len, const char *user,
    const char *hash)
{
	const char *p = data, *end = data + len, *nl;
	size_t ulen = strlen(user), ll;
	struct mh_buf b;
	bool done = false;

	if (!auth_pwuser_ok(user, ulen) || !auth_hash_syntax_ok(hash,
	    strlen(hash)) || len > AUTH_PWFILE_MAX)
		return NULL;
	mh_buf_init(&b, AUTH_PWFILE_MAX + 4096);
	while (p < end) {
		nl = memchr(p, '\n', (size_t)(end - p));
		ll = nl ? (size_t)(nl - p) : (size_t)(end - p);
		if (!done && ll > ulen && memcmp(p, user, ulen) == 0 &&
		    p[ulen] == ':') {
			if (mh_buf_printf(&b, "%s:%s\n", user, hash) == -1)
				goto fail;
			done = true;
		} else if (mh_buf_append(&b, p, ll) == -1 ||
		    mh_buf_puts(&b, "\n") == -1)
			goto fail;
		if (nl == NULL)
			break;
		p = nl + 1;
	}
	if (!done && mh_buf_printf(&b, "%s:%s\n", user, hash) == -1)
		goto fail;
	return mh_buf_steal(&b, NULL);
fail:
	mh_buf_clear(&b);
	return NULL;
}

char *
auth_hash_new(const char *pass)
{
	static const char *const prefixes[] = { "$y$", "$6$", NULL };
	char setting[CRYPT_GENSALT_OUTPUT_SIZE], *out = NULL;
	struct crypt_data *cd;
	size_t i;

	cd = xcalloc(1, sizeof(*cd));
	for (i = 0; prefixes[i] != NULL; i++) {
		if (crypt_gensalt_rn(prefixes[i], 0, NULL, 0, setting,
		    sizeof(setting)) == NULL)
			continue;
		if (crypt_rn(pass, setting, cd, sizeof(*cd)) != NULL &&
		    cd->output[0] == '$') {
			out = xstrdup(cd->output);
			break;
		}
	}
	OPENSSL_cleanse(cd, sizeof(*cd));
	free(cd);
	return out;
}

bool
auth_hash_verify(const char *pass, const char *hash)
{
	struct crypt_data *cd;
	size_t hl = strlen(hash);
	bool ok = false;

	cd = xcalloc(1, sizeof(*cd));
	/* A locked entry ("!", "*") makes crypt fail: never a match. */
	if (crypt_rn(pass, hash, cd, sizeof(*cd)) != NULL &&
	    cd->output[0] == '$' && strlen(cd->output) == hl)
		ok = CRYPTO_memcmp(cd->output, hash, hl) == 0;
	OPENSSL_cleanse(cd, sizeof(*cd));
	free(cd);
	return ok;
}

/* ------------------------------------------------------------------ */
/* brute-force limiter                                                  */

struct auth_lim_ent {
	struct auth_lim_ent *next;	/* bucket chain */
	char		*key;
	size_t		 count;
	int64_t		 first_ms;
};

#define AUTH_LIM_BUCKETS	4096

struct auth_limiter {
	struct auth_lim_ent *b[AUTH_LIM_BUCKETS];
	size_t		 n;
	size_t		 max;
	uint64_t	 seed;
};

struct auth_limiter *
auth_limiter_new(size_t max)
{
	struct auth_limiter *l = xcalloc(1, sizeof(*l));

	l->max = max ? max : 1;
	if (RAND_bytes((unsigned char *)&l->seed, sizeof(l->seed)) != 1)
		l->seed = (uint64_t)mh_mono_ms();
	return l;
}

void
auth_limiter_free(struct auth_limiter *l)
{
	struct auth_lim_ent *e, *nx;
	size_t i;

	if (l == NULL)
		return;
	for (i = 0; i < AUTH_LIM_BUCKETS; i++)
		for (e = l->b[i]; e != NULL; e = nx) {
			nx = e->next;
			free(e->key);
			free(e);
		}
	free(l);
}

/* FNV-1a with a random seed: user names are chosen by clients. */
static size_t
auth_lim_hash(const struct auth_limiter *l, const char *key)
{
	uint64_t h = 1469598103934665603ULL ^ l->seed;

	for (; *key != '\0'; key++) {
		h ^= (unsigned char)mh_tolower((unsigned char)*key);
		h *= 1099511628211ULL;
	}
	h ^= h >> 29;
	return (size_t)(h % AUTH_LIM_BUCKETS);
}

static struct auth_lim_ent **
auth_lim_find(struct auth_limiter *l, const char *key)
{
	struct auth_lim_ent **pp = &l->b[auth_lim_hash(l, key)];

	for (; *pp != NULL; pp = &(*pp)->next)
		if (mh_strcasecmp((*pp)->key, key) == 0)
			return pp;
	return pp;
}

static void
auth_lim_unlink(struct auth_limiter *l, struct auth_lim_ent **pp)
{
	struct auth_lim_ent *e = *pp;

	*pp = e->next;
	free(e->key);
	free(e);
	l->n--;
}

/* Makes room: drops expired keys, then the oldest one. */
static void
auth_lim_evict(struct auth_limiter *l, int64_t now, int64_t window)
{
	struct auth_lim_ent **pp, **oldest = NULL;
	size_t i;

	for (i = 0; i < AUTH_LIM_BUCKETS; i++)
		for (pp = &l->b[i]; *pp != NULL; ) {
			if (now - (*pp)->first_ms >= window) {
				auth_lim_unlink(l, pp);
				continue;
			}
			if (oldest == NULL ||
			    (*pp)->first_ms < (*oldest)->first_ms)
				oldest = pp;
			pp = &(*pp)->next;
		}
	if (l->n >= l->max && oldest != NULL)
		auth_lim_unlink(l, oldest);
}

size_t
auth_limiter_get(struct auth_limiter *l, const char *key, int64_t now,
    int64_t window)
{
	struct auth_lim_ent **pp = auth_lim_find(l, key);

	if (*pp == NULL)
		return 0;
	if (now - (*pp)->first_ms >= window) {
		auth_lim_unlink(l, pp);
		return 0;
	}
	return (*pp)->count;
}

size_t
auth_limiter_fail(struct auth_limiter *l, const char *key, int64_t now,
    int64_t window)
{
	struct auth_lim_ent **pp = auth_lim_find(l, key), *e;

	if (*pp != NULL && now - (*pp)->first_ms >= window)
		auth_lim_unlink(l, pp);
	if ((pp = auth_lim_find(l, key)) != NULL && *pp != NULL)
		return ++(*pp)->count;
	if (l->n >= l->max)
		auth_lim_evict(l, now, window);
	pp = auth_lim_find(l, key);
	e = xcalloc(1, sizeof(*e));
	e->key = xstrdup(key);
	e->count = 1;
	e->first_ms = now;
	*pp = e;
	l->n++;
	return 1;
}

void
auth_limiter_clear(struct auth_limiter *l, const char *key)
{
	struct auth_lim_ent **pp = auth_lim_find(l, key);

	if (*pp != NULL)
		auth_lim_unlink(l, pp);
}

int64_t
auth_failure_delay(int64_t base_ms, size_t n)
{
	int64_t d = base_ms;
	size_t i;

	if (n == 0 || base_ms <= 0)
		return 0;
	for (i = 1; i < n && d < base_ms * 8; i++)
		d *= 2;
	return d < base_ms * 8 ? d : base_ms * 8;
}

/* ------------------------------------------------------------------ */
/* sender binding                                                       */

/* Domains as the policy compares them: ASCII lowercase, A-labels for
 * U-labels (libidn2), so "例え.jp" and "xn--r8jz45g.jp" are one. */
static bool
auth_domain_eq(const char *a, const char *b)
{
	char na[300], nb[300];

	if (mh_strcasecmp(a, b) == 0)
		return true;
	if (policy_domain_normalize(a, na, sizeof(na)) == -1 ||
	    policy_domain_normalize(b, nb, sizeof(nb)) == -1)
		return false;
	return strcmp(na, nb) == 0;
}

/* local@domain against local@domain: the local parts equal up to ASCII
 * case (a UTF-8 local part octet for octet: RFC 6531 leaves its
 * comparison to the domain, and no normalisation is assumed), the
 * domains as auth_domain_eq().  The '@' that splits is the last one. */
static bool
auth_addr_eq(const char *a, const char *b)
{
	const char *ata = strrchr(a, '@'), *atb = strrchr(b, '@');
	size_t la, lb;

	if (ata == NULL || atb == NULL)
		return mh_strcasecmp(a, b) == 0;
	la = (size_t)(ata - a);
	lb = (size_t)(atb - b);
	return la == lb && mh_strncasecmp(a, b, la) == 0 &&
	    auth_domain_eq(ata + 1, atb + 1);
}

bool
auth_pattern_match(const char *pat, const char *addr)
{
	const char *at;

	if (strcmp(pat, "*") == 0)
		return true;
	if (addr[0] == '\0')
		return false;	/* the null sender needs "*" */
	if (pat[0] == '*' && pat[1] == '@') {
		if ((at = strrchr(addr, '@')) == NULL || at == addr)
			return false;
		return auth_domain_eq(at + 1, pat + 2);
	}
	return auth_addr_eq(pat, addr);
}

bool
auth_sender_ok(const struct config *conf, const char *user, const char *addr)
{
	const struct config_sender *s;
	const char *at;
	size_t i;

	if (user == NULL || addr == NULL)
		return false;
	if ((s = config_sender_find(conf, user)) != NULL) {
		for (i = 0; i < s->npatterns; i++)
			if (auth_pattern_match(s->patterns[i], addr))
				return true;
		return false;
	}
	/* Default: the login itself, when it looks like an address. */
	at = strrchr(user, '@');
	if (at == NULL || at == user || at[1] == '\0')
		return false;
	return auth_addr_eq(user, addr);
}

/* Checks one address of a From: field ("a@b", spaces trimmed). */
static bool
auth_from_addr_ok(const struct config *conf, const char *user,
    const char *p, size_t len)
{
	char addr[320];

	while (len > 0 && (p[0] == ' ' || p[0] == '\t'))
		p++, len--;
	while (len > 0 && (p[len - 1] == ' ' || p[len - 1] == '\t'))
		len--;
	if (len == 0 || len >= sizeof(addr))
		return false;
	memcpy(addr, p, len);
	addr[len] = '\0';
	return auth_sender_ok(conf, user, addr);
}

/* One unfolded From: value.  Returns false on a forbidden address, an
 * empty field or a syntax the scanner does not follow. */
static bool
auth_from_value_ok(const struct config *conf, const char *user,
    const char *v, size_t len)
{
	char bare[320];
	size_t i, blen = 0, n = 0, depth;
	bool angle = false, quoted = false;
	const char *lt = NULL;

	for (i = 0; i <= len; i++) {
		char c = i < len ? v[i] : ',';

		if (quoted) {
			if (c == '\\' && i + 1 < len)
				i++;
			else if (c == '"')
				quoted = false;
			continue;
		}
		if (c == '"') {
			quoted = true;
			continue;
		}
		if (c == '(') {		/* comment, nested */
			for (depth = 1, i++; i < len && depth > 0; i++) {
				if (v[i] == '\\')
					i++;
				else if (v[i] == '(')
					depth++;
				else if (v[i] == ')')
					depth--;
			}
			if (depth > 0)
				return false;
			i--;
			continue;
		}
		if (c == '<') {
			if (angle)
				return false;
			angle = true;
			lt = v + i + 1;
			continue;
		}
		if (c == '>') {
			if (!angle || !auth_from_addr_ok(conf, user, lt,
			    (size_t)(v + i - lt)))
				return false;
			angle = false;
			n++;
			blen = 0;
			bare[0] = '\0';
			lt = NULL;
			continue;
		}
		if (angle)
			continue;
		if (c == ':') {		/* group display name */
			blen = 0;
			continue;
		}
		if (c == ',' || c == ';') {
			if (blen > 0) {
				if (!auth_from_addr_ok(conf, user, bare, blen))
					return false;
				n++;
			}
			blen = 0;
			continue;
		}
		if (lt == NULL && blen + 1 < sizeof(bare))
			bare[blen++] = c;
		else if (lt == NULL)
			return false;
		/* Text before "<...>" is a display name: dropped above. */
	}
	return !quoted && !angle && n > 0;
}

const char *
auth_from_check(const struct config *conf, const char *user,
    const char *hdr, size_t len)
{
	const char *p = hdr, *end = hdr + len, *nl, *q;
	struct mh_buf v;
	bool any = false, ok = true;

	if (hdr == NULL)
		return "no header";
	mh_buf_init(&v, 64 * 1024);
	while (p < end && ok) {
		nl = memchr(p, '\n', (size_t)(end - p));
		q = nl ? nl + 1 : end;
		if (p[0] == '\r' || p[0] == '\n')
			break;			/* end of the header block */
		if ((size_t)(end - p) >= 5 && mh_strncasecmp(p, "From:", 5) ==
		    0) {
			mh_buf_reset(&v);
			if (mh_buf_append(&v, p + 5, (size_t)(q - p - 5)) == -1)
				ok = false;
			/* Unfold continuation lines. */
			while (ok && q < end && (*q == ' ' || *q == '\t')) {
				nl = memchr(q, '\n', (size_t)(end - q));
				if (mh_buf_append(&v, q, (size_t)((nl ? nl + 1 :
				    end) - q)) == -1)
					ok = false;
				q = nl ? nl + 1 : end;
			}
			if (ok) {
				size_t i, o = 0;

				for (i = 0; i < v.len; i++)
					if (v.data[i] != '\r' &&
					    v.data[i] != '\n')
						v.data[o++] = v.data[i];
				v.len = o;
				ok = auth_from_value_ok(conf, user, v.data,
				    v.len);
			}
			any = true;
		}
		p = q;
	}
	mh_buf_clear(&v);
	if (!ok)
		return "From: address not owned by user";
	return any ? NULL : "no From: field";
}

/* ------------------------------------------------------------------ */
/* the auth object, the worker thread                                   */

enum auth_job_kind {
	AUTH_JOB_CRYPT,		/* verify pass against hash */
	AUTH_JOB_CACHE_CHECK,	/* scrypt(pass, salt) == digest? */
	AUTH_JOB_CACHE_MAKE,	/* new salt, digest */
};

/* One auth_check() in progress; owned by the loop. */
struct auth_req {
	struct auth_req	*prev, *next;	/* a->reqs */
	struct auth	*a;
	char		*user;
	char		*pass;		/* cleansed on free */
	size_t		 passlen;
	auth_done_cb	*cb;
	void		*arg;
	bool		 upstream;	/* in auth_upstream_check */
};

struct auth_job {
	struct auth_job	*next;
	enum auth_job_kind kind;
	struct auth_req	*req;
	char		*hash;		/* CRYPT */
	bool		 known;		/* CRYPT: false = dummy, fail */
	unsigned char	 salt[AUTH_SALT_LEN];
	unsigned char	 digest[AUTH_DIGEST_LEN];
	enum auth_result result;
};

struct auth_cache_ent {
	char		*user;
	unsigned char	 salt[AUTH_SALT_LEN];
	unsigned char	 digest[AUTH_DIGEST_LEN];
	int64_t		 expires_ms;
};

struct auth {
	struct event_base *base;
	struct config	*conf;
	struct auth_pwfile *pw;
	char		*dummy;		/* hash checked for unknown users */
	struct auth_limiter *lim_addr;
	struct auth_limiter *lim_user;
	struct auth_upstream *up;
	struct auth_req	*reqs;
	struct auth_cache_ent *cache;
	size_t		 ncache;

	pthread_t	 thread;
	bool		 thread_ok;
	pthread_mutex_t	 mtx;
	pthread_cond_t	 cond;
	struct auth_job	*todo, **todo_tail;	/* under mtx */
	struct auth_job	*done, **done_tail;	/* under mtx */
	bool		 stop;			/* under mtx */
	struct event	*ev_done;
};

static void	auth_req_finish(struct auth_req *, enum auth_result);
static void	auth_upstream_done(enum auth_result, void *);

static int
auth_scrypt(const char *pass, size_t passlen, const unsigned char *salt,
    unsigned char *out)
{
	return EVP_PBE_scrypt(pass, passlen, salt, AUTH_SALT_LEN,
	    AUTH_SCRYPT_N, AUTH_SCRYPT_R, AUTH_SCRYPT_P, AUTH_SCRYPT_MAXMEM,
	    out, AUTH_DIGEST_LEN) == 1 ? 0 : -1;
}

static void
auth_job_run(struct auth_job *j)
{
	unsigned char d[AUTH_DIGEST_LEN];
	bool ok;

	switch (j->kind) {
	case AUTH_JOB_CRYPT:
		ok = auth_hash_verify(j->req->pass, j->hash);
		j->result = ok && j->known && j->req->passlen > 0 ? AUTH_OK :
		    AUTH_FAIL;
		break;
	case AUTH_JOB_CACHE_CHECK:
		j->result = auth_scrypt(j->req->pass, j->req->passlen,
		    j->salt, d) == 0 && CRYPTO_memcmp(d, j->digest,
		    sizeof(d)) == 0 ? AUTH_OK : AUTH_FAIL;
		OPENSSL_cleanse(d, sizeof(d));
		break;
	case AUTH_JOB_CACHE_MAKE:
		j->result = RAND_bytes(j->salt, sizeof(j->salt)) == 1 &&
		    auth_scrypt(j->req->pass, j->req->passlen, j->salt,
		    j->digest) == 0 ? AUTH_OK : AUTH_FAIL;
		break;
	}
}

static void *
auth_worker_main(void *arg)
{
	struct auth *a = arg;
	struct auth_job *j;

	for (;;) {
		pthread_mutex_lock(&a->mtx);
		while (a->todo == NULL && !a->stop)
			pthread_cond_wait(&a->cond, &a->mtx);
		if (a->stop) {
			pthread_mutex_unlock(&a->mtx);
			break;
		}
		j = a->todo;
		a->todo = j->next;
		if (a->todo == NULL)
			a->todo_tail = &a->todo;
		j->next = NULL;
		pthread_mutex_unlock(&a->mtx);

		auth_job_run(j);

		pthread_mutex_lock(&a->mtx);
		*a->done_tail = j;
		a->done_tail = &j->next;
		pthread_mutex_unlock(&a->mtx);
		event_active(a->ev_done, 0, 0);
	}
	return NULL;
}

static void
auth_job_free(struct auth_job *j)
{
	free(j->hash);
	OPENSSL_cleanse(j->digest, sizeof(j->digest));
	free(j);
}

static void
auth_job_push(struct auth *a, struct auth_job *j)
{
	pthread_mutex_lock(&a->mtx);
	*a->todo_tail = j;
	a->todo_tail = &j->next;
	pthread_cond_signal(&a->cond);
	pthread_mutex_unlock(&a->mtx);
}

static struct auth_req *
auth_req_new(struct auth *a, const char *user, const char *pass,
    size_t passlen, auth_done_cb *cb, void *arg)
{
	struct auth_req *r = xcalloc(1, sizeof(*r));

	r->a = a;
	r->user = xstrdup(user);
	r->pass = xmalloc(passlen + 1);
	memcpy(r->pass, pass, passlen);
	r->pass[passlen] = '\0';
	r->passlen = passlen;
	r->cb = cb;
	r->arg = arg;
	r->next = a->reqs;
	if (a->reqs)
		a->reqs->prev = r;
	a->reqs = r;
	return r;
}

static void
auth_req_free(struct auth_req *r)
{
	struct auth *a = r->a;

	if (r->prev)
		r->prev->next = r->next;
	else
		a->reqs = r->next;
	if (r->next)
		r->next->prev = r->prev;
	OPENSSL_cleanse(r->pass, r->passlen + 1);
	free(r->pass);
	free(r->user);
	free(r);
}

static void
auth_req_finish(struct auth_req *r, enum auth_result res)
{
	auth_done_cb *cb = r->cb;
	void *arg = r->arg;

	r->cb = NULL;
	if (cb != NULL)
		cb(res, arg);
}

static struct auth_cache_ent *
auth_cache_find(struct auth *a, const char *user)
{
	size_t i;

	for (i = 0; i < a->ncache; i++)
		if (strcmp(a->cache[i].user, user) == 0)
			return &a->cache[i];
	return NULL;
}

static void
auth_cache_drop(struct auth *a, struct auth_cache_ent *e)
{
	size_t i = (size_t)(e - a->cache);

	free(e->user);
	OPENSSL_cleanse(e, sizeof(*e));
	a->cache[i] = a->cache[--a->ncache];
}

static void
auth_cache_store(struct auth *a, const struct auth_job *j)
{
	struct auth_cache_ent *e;
	int64_t now = mh_mono_ms();
	size_t i;

	if ((e = auth_cache_find(a, j->req->user)) == NULL) {
		if (a->ncache >= AUTH_CACHE_MAX) {
			for (i = 0; i < a->ncache; )
				if (a->cache[i].expires_ms <= now)
					auth_cache_drop(a, &a->cache[i]);
				else
					i++;
			if (a->ncache >= AUTH_CACHE_MAX)
				return;	/* full of live entries: skip */
		}
		if (a->cache == NULL)
			a->cache = xcalloc(AUTH_CACHE_MAX, sizeof(*a->cache));
		e = &a->cache[a->ncache++];
		e->user = xstrdup(j->req->user);
	}
	memcpy(e->salt, j->salt, sizeof(e->salt));
	memcpy(e->digest, j->digest, sizeof(e->digest));
	e->expires_ms = now + a->conf->auth_cache_ttl * 1000;
	log_info("event=auth_cache_store entries=%zu ttl=%llds", a->ncache,
	    (long long)a->conf->auth_cache_ttl);
}

static void
auth_upstream_start(struct auth_req *r)
{
	if (r->a->up == NULL || auth_upstream_check(r->a->up, r->user,
	    r->pass, r->passlen, auth_upstream_done, r) == -1) {
		auth_req_finish(r, AUTH_TEMPFAIL);
		auth_req_free(r);
		return;
	}
	r->upstream = true;
}

static void
auth_upstream_done(enum auth_result res, void *arg)
{
	struct auth_req *r = arg;
	struct auth *a = r->a;
	struct auth_job *j;

	r->upstream = false;
	auth_req_finish(r, res);
	if (res == AUTH_OK && a->conf->auth_cache_ttl > 0) {
		/* Remember it, as a slow salted hash, off the loop. */
		j = xcalloc(1, sizeof(*j));
		j->kind = AUTH_JOB_CACHE_MAKE;
		j->req = r;
		auth_job_push(a, j);
		return;
	}
	auth_req_free(r);
}

static void
auth_done_event(evutil_socket_t fd, short what, void *arg)
{
	struct auth *a = arg;
	struct auth_job *list, *j;
	struct auth_req *r;

	pthread_mutex_lock(&a->mtx);
	list = a->done;
	a->done = NULL;
	a->done_tail = &a->done;
	pthread_mutex_unlock(&a->mtx);

	while ((j = list) != NULL) {
		list = j->next;
		r = j->req;
		switch (j->kind) {
		case AUTH_JOB_CRYPT:
			auth_req_finish(r, j->result);
			auth_req_free(r);
			break;
		case AUTH_JOB_CACHE_CHECK:
			if (j->result == AUTH_OK) {
				log_info("event=auth_cache_hit");
				auth_req_finish(r, AUTH_OK);
				auth_req_free(r);
			} else
				auth_upstream_start(r);	/* may free r */
			break;
		case AUTH_JOB_CACHE_MAKE:
			if (j->result == AUTH_OK)
				auth_cache_store(a, j);
			auth_req_free(r);
			break;
		}
		auth_job_free(j);
	}
}

/* Reads the password file; on error returns -1 and says why. */
static int
auth_pwfile_load(const char *path, struct auth_pwfile **out, char **dummy,
    char *errbuf, size_t errsz)
{
	struct stat st;
	char *data = NULL, rnd[33];
	const char *why;
	size_t len = 0, line;
	ssize_t n;
	int fd;

	*out = NULL;
	*dummy = NULL;
	if ((fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC | O_NOCTTY)) ==
	    -1) {
		(void)mh_snprintf(errbuf, errsz, "auth.password_file %s: "
		    "cannot open: %s", path, strerror(errno));
		return -1;
	}
	if (fstat(fd, &st) == -1 || !S_ISREG(st.st_mode) ||
	    st.st_size > AUTH_PWFILE_MAX || (st.st_mode & S_IROTH)) {
		(void)mh_snprintf(errbuf, errsz, "auth.password_file %s: not a "
		    "regular file of at most 16M that others cannot read",
		    path);
		close(fd);
		return -1;
	}
	data = xmalloc((size_t)st.st_size + 1);
	while (len < (size_t)st.st_size) {
		n = read(fd, data + len, (size_t)st.st_size - len);
		if (n == -1 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		len += (size_t)n;
	}
	close(fd);
	why = auth_pwfile_parse(data, len, out, &line);
	OPENSSL_cleanse(data, len);
	free(data);
	if (why != NULL) {
		if (line > 0)
			(void)mh_snprintf(errbuf, errsz, "auth.password_file "
			    "%s:%zu: %s", path, line, why);
		else
			(void)mh_snprintf(errbuf, errsz, "auth.password_file "
			    "%s: %s", path, why);
		return -1;
	}
	/* The dummy hash has the first entry's algorithm and cost. */
	if ((*out)->n > 0 && (*out)->ents[0].hash[0] == '$')
		*dummy = xstrdup((*out)->ents[0].hash);
	else {
		unsigned char r[16];

		if (RAND_bytes(r, sizeof(r)) != 1)
			memset(r, 'x', sizeof(r));
		(void)auth_b64_encode(r, sizeof(r), rnd);
		*dummy = auth_hash_new(rnd);
		OPENSSL_cleanse(r, sizeof(r));
		if (*dummy == NULL)
			*dummy = xstrdup("$6$mailhold$dummy");
	}
	return 0;
}

struct auth *
auth_new(struct event_base *base, struct config *conf, char *errbuf,
    size_t errsz)
{
	struct auth *a;
	sigset_t all, old;
	int rc;

	a = xcalloc(1, sizeof(*a));
	a->base = base;
	a->conf = config_ref(conf);
	a->todo_tail = &a->todo;
	a->done_tail = &a->done;
	a->lim_addr = auth_limiter_new(AUTH_LIMITER_MAX);
	a->lim_user = auth_limiter_new(AUTH_LIMITER_MAX);
	if (pthread_mutex_init(&a->mtx, NULL) != 0 ||
	    pthread_cond_init(&a->cond, NULL) != 0)
		fatalx("auth_new: pthread init");
	if ((a->ev_done = event_new(base, -1, 0, auth_done_event, a)) == NULL)
		fatalx("auth_new: event_new");
	if (conf->auth_backend == CONFIG_AUTH_FILE &&
	    auth_pwfile_load(conf->auth_password_file, &a->pw, &a->dummy,
	    errbuf, errsz) == -1)
		goto fail;
	if (conf->auth_backend == CONFIG_AUTH_UPSTREAM &&
	    (a->up = auth_upstream_new(base, conf, errbuf, errsz)) == NULL)
		goto fail;
	if (conf->auth_backend != CONFIG_AUTH_NONE) {
		/* The worker takes no signals: the loop handles them. */
		sigfillset(&all);
		pthread_sigmask(SIG_SETMASK, &all, &old);
		rc = pthread_create(&a->thread, NULL, auth_worker_main, a);
		pthread_sigmask(SIG_SETMASK, &old, NULL);
		if (rc != 0) {
			(void)mh_snprintf(errbuf, errsz, "auth: pthread_create: "
			    "%s", strerror(rc));
			goto fail;
		}
		a->thread_ok = true;
	}
	return a;
fail:
	auth_free(a);
	return NULL;
}

int
auth_reload(struct auth *a, struct config *conf, char *errbuf, size_t errsz)
{
	struct auth_pwfile *pw = NULL;
	char *dummy = NULL;

	if (conf->auth_backend != a->conf->auth_backend) {
		(void)mh_snprintf(errbuf, errsz, "auth.backend changes need a "
		    "restart");
		return -1;
	}
	if (conf->auth_backend == CONFIG_AUTH_FILE &&
	    auth_pwfile_load(conf->auth_password_file, &pw, &dummy, errbuf,
	    errsz) == -1)
		return -1;
	if (a->up != NULL && auth_upstream_set_config(a->up, conf, errbuf,
	    errsz) == -1) {
		auth_pwfile_free(pw);
		free(dummy);
		return -1;
	}
	if (conf->auth_backend == CONFIG_AUTH_FILE) {
		auth_pwfile_free(a->pw);
		free(a->dummy);
		a->pw = pw;
		a->dummy = dummy;
		log_info("event=auth_reload users=%zu", auth_pwfile_count(pw));
	}
	config_unref(a->conf);
	a->conf = config_ref(conf);
	return 0;
}

void
auth_free(struct auth *a)
{
	struct auth_job *j;
	size_t i;

	if (a == NULL)
		return;
	if (a->thread_ok) {
		pthread_mutex_lock(&a->mtx);
		a->stop = true;
		pthread_cond_signal(&a->cond);
		pthread_mutex_unlock(&a->mtx);
		pthread_join(a->thread, NULL);
	}
	/* Checks in flight end here without their callbacks. */
	auth_upstream_free(a->up);
	while ((j = a->todo) != NULL) {
		a->todo = j->next;
		auth_job_free(j);
	}
	while ((j = a->done) != NULL) {
		a->done = j->next;
		auth_job_free(j);
	}
	while (a->reqs != NULL)
		auth_req_free(a->reqs);
	for (i = 0; i < a->ncache; i++) {
		free(a->cache[i].user);
		OPENSSL_cleanse(&a->cache[i], sizeof(a->cache[i]));
	}
	free(a->cache);
	if (a->ev_done)
		event_free(a->ev_done);
	pthread_mutex_destroy(&a->mtx);
	pthread_cond_destroy(&a->cond);
	auth_limiter_free(a->lim_addr);
	auth_limiter_free(a->lim_user);
	auth_pwfile_free(a->pw);
	free(a->dummy);
	config_unref(a->conf);
	free(a);
}

int
auth_check(struct auth *a, const char *user, const char *pass,
    size_t passlen, auth_done_cb *cb, void *arg)
{
	struct auth_cache_ent *e;
	struct auth_req *r;
	struct auth_job *j;
	const char *hash;

	if (a->conf->auth_backend == CONFIG_AUTH_NONE || !a->thread_ok)
		return -1;
	r = auth_req_new(a, user, pass, passlen, cb, arg);
	if (a->conf->auth_backend == CONFIG_AUTH_FILE) {
		hash = auth_pwfile_lookup(a->pw, user);
		j = xcalloc(1, sizeof(*j));
		j->kind = AUTH_JOB_CRYPT;
		j->req = r;
		j->known = hash != NULL;
		j->hash = xstrdup(hash != NULL ? hash : a->dummy);
		auth_job_push(a, j);
		return 0;
	}
	/* upstream: a live cache entry is checked first, off the loop. */
	e = auth_cache_find(a, user);
	if (e != NULL && e->expires_ms <= mh_mono_ms()) {
		auth_cache_drop(a, e);
		e = NULL;
	}
	if (e != NULL && a->conf->auth_cache_ttl > 0) {
		j = xcalloc(1, sizeof(*j));
		j->kind = AUTH_JOB_CACHE_CHECK;
		j->req = r;
		memcpy(j->salt, e->salt, sizeof(j->salt));
		memcpy(j->digest, e->digest, sizeof(j->digest));
		auth_job_push(a, j);
		return 0;
	}
	if (a->up == NULL || auth_upstream_check(a->up, r->user, r->pass,
	    r->passlen, auth_upstream_done, r) == -1) {
		r->cb = NULL;
		auth_req_free(r);
		return -1;
	}
	r->upstream = true;
	return 0;
}

/* ------------------------------------------------------------------ */
/* brute force, per daemon                                              */

bool
auth_addr_blocked(struct auth *a, const char *addr)
{
	return auth_limiter_get(a->lim_addr, addr, mh_mono_ms(),
	    a->conf->auth_failure_window * 1000) >= a->conf->auth_max_failures;
}

bool
auth_user_blocked(struct auth *a, const char *user)
{
	return auth_limiter_get(a->lim_user, user, mh_mono_ms(),
	    a->conf->auth_failure_window * 1000) >=
	    a->conf->auth_max_user_failures;
}

int64_t
auth_failed(struct auth *a, const char *addr, const char *user, bool *close)
{
	int64_t now = mh_mono_ms(), win = a->conf->auth_failure_window * 1000;
	size_t na, nu;
	char esc[300];

	na = auth_limiter_fail(a->lim_addr, addr, now, win);
	nu = auth_limiter_fail(a->lim_user, user, now, win);
	*close = na >= a->conf->auth_max_failures;
	log_info("event=auth_failed addr=%s user=\"%s\" failures_addr=%zu "
	    "failures_user=%zu", addr, mh_log_escape(user, strlen(user), 64,
	    esc, sizeof(esc)), na, nu);
	return auth_failure_delay(a->conf->auth_failure_delay * 1000, na);
}

void
auth_succeeded(struct auth *a, const char *addr, const char *user)
{
	/* The address keeps its count: one good account must not reset
	 * the limit for guessing others from the same address. */
	auth_limiter_clear(a->lim_user, user);
}
