/*
 * policy.c - see policy.h.
 *
 * Layout: small containers (string arena, open-addressing hash set, the
 * symmetric-deletion index used for typo search), domain normalisation
 * and the public-suffix approximation, compilation (policy_new), one
 * function per rule, verdict assembly, and the JSON / text writers.
 *
 * Typo search: every known domain is indexed under itself and each of
 * its one-octet deletions.  Two names within Damerau distance 1 (OSA)
 * always share such a key, so a query costs about len+1 hash probes
 * whatever the number of known domains (SymSpell's idea); candidates are
 * then measured exactly and judged by kind of edit and label length.
 */
#include "policy.h"

#include <idn2.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "addr.h"
#include "header.h"
#include "util.h"

#define POLICY_DOMAIN_MAX	255
#define POLICY_KEY_MAX		512	/* normalised "local@domain" */
#define POLICY_CAND_MAX		64	/* typo candidates kept per query */
#define POLICY_NONE		UINT32_MAX

/* Recipient flags. */
#define POLICY_RC_INTERNAL	0x01
#define POLICY_RC_LITERAL	0x02
#define POLICY_RC_BADIDN	0x04
#define POLICY_RC_KNOWN_ADDR	0x08
#define POLICY_RC_NODOMAIN	0x10

/* Domain-group flags. */
#define POLICY_DG_KNOWN		0x01
#define POLICY_DG_SUPPRESS	0x02	/* an enforced domain finding */
#define POLICY_DG_TYPO		0x04	/* typo_domain found it */

/* ------------------------------------------------------------------ */
/* Built-in lists                                                      */

/*
 * Big mail providers, Japanese carriers and ISPs included.  They are
 * known domains (never typos, and typos of them are found), and their
 * users are individuals: each address counts as its own organisation.
 */
static const char *const policy_providers[] = {
	"gmail.com", "googlemail.com", "outlook.com", "outlook.jp",
	"hotmail.com", "hotmail.co.jp", "hotmail.co.uk", "live.com",
	"live.jp", "msn.com", "yahoo.com", "yahoo.co.jp", "ymail.com",
	"rocketmail.com", "icloud.com", "me.com", "mac.com", "aol.com",
	"mail.com", "email.com", "gmx.com", "gmx.net", "gmx.de", "web.de",
	"protonmail.com", "proton.me", "pm.me", "tutanota.com", "zoho.com",
	"yandex.ru", "yandex.com", "mail.ru", "qq.com", "163.com",
	"126.com", "naver.com", "daum.net", "hanmail.net",
	/* Japanese carriers (feature phones and smartphones) */
	"docomo.ne.jp", "ezweb.ne.jp", "au.com", "softbank.ne.jp",
	"i.softbank.jp", "ymobile.ne.jp", "y-mobile.ne.jp", "disney.ne.jp",
	"uqmobile.jp", "rakuten.jp", "mineo.jp", "willcom.com", "pdx.ne.jp",
	"emnet.ne.jp", "mopera.net",
	/* Japanese ISPs and portals */
	"nifty.com", "biglobe.ne.jp", "ocn.ne.jp", "so-net.ne.jp",
	"plala.or.jp", "dion.ne.jp", "excite.co.jp", "infoseek.jp",
	"livedoor.com", "goo.jp", "zaq.ne.jp", "eonet.ne.jp",
};

/*
 * Second-level public suffixes, so that "example.co.jp" is one
 * organisation.  XXX: an approximation of the Public Suffix List that
 * covers the registries our users write to; libpsl would be exact.
 */
static const char *const policy_slds[] = {
	"co.jp", "ne.jp", "or.jp", "ac.jp", "ad.jp", "ed.jp", "go.jp",
	"gr.jp", "lg.jp", "co.uk", "org.uk", "ac.uk", "gov.uk", "ltd.uk",
	"plc.uk", "me.uk", "net.uk", "sch.uk", "nhs.uk", "com.au", "net.au",
	"org.au", "edu.au", "gov.au", "asn.au", "id.au", "co.nz", "net.nz",
	"org.nz", "ac.nz", "govt.nz", "co.kr", "or.kr", "ac.kr", "go.kr",
	"ne.kr", "re.kr", "com.cn", "net.cn", "org.cn", "edu.cn", "gov.cn",
	"ac.cn", "com.tw", "net.tw", "org.tw", "edu.tw", "gov.tw", "idv.tw",
	"com.hk", "net.hk", "org.hk", "edu.hk", "gov.hk", "idv.hk",
	"com.sg", "net.sg", "org.sg", "edu.sg", "gov.sg", "com.br",
	"net.br", "org.br", "gov.br", "edu.br", "co.in", "net.in", "org.in",
	"ac.in", "gov.in", "edu.in", "co.za", "org.za", "ac.za", "gov.za",
	"com.mx", "org.mx", "gob.mx", "edu.mx", "com.ar", "com.tr", "com.my",
	"com.ph", "com.vn", "co.th", "ac.th", "go.th", "co.id", "ac.id",
	"go.id", "co.il", "ac.il", "org.il", "or.at", "ac.at", "co.at",
	"com.sa", "com.eg",
};

const struct policy_tld_map policy_default_tlds[] = {
	{ "ml", "mil" }, { "co", "com" }, { "cm", "com" }, { "om", "com" },
	{ "ne", "net" }, { "con", "com" }, { "cpm", "com" }, { "vom", "com" },
	{ "xom", "com" }, { "comm", "com" }, { "nte", "net" },
	{ "ogr", "org" }, { "rog", "org" },
};
const size_t policy_default_ntlds =
    sizeof(policy_default_tlds) / sizeof(policy_default_tlds[0]);

const char *const policy_default_patterns[] = {
	"社外秘", "機密", "極秘", "マル秘", "㊙", "個人情報",
	"マイナンバー", "confidential", "internal only", "do not forward",
	"personal data",
};
const size_t policy_default_npatterns =
    sizeof(policy_default_patterns) / sizeof(policy_default_patterns[0]);

static const struct {
	bool			 enabled;
	enum policy_action	 action;
	int64_t			 hold;
	enum policy_severity	 severity;
	const char		*name;
} policy_rule_defaults[POLICY_R_COUNT] = {
	/*
	 * Shipped defaults.  Until a sender can release a message (the alert
	 * link, mailholdctl release), hold_for_release means "cancelled at
	 * hold.max" for everyone, so only burst (a stolen account) uses it
	 * by default; the likely mistakes get an hour's hold, and a new
	 * recipient only the normal window (its finding is what the alert
	 * will show).  Admins opt into hold_for_release per rule.
	 */
	[POLICY_R_TYPO_DOMAIN] = { true, POLICY_A_HOLD_LONGER, 3600,
	    POLICY_S_WARNING, "typo_domain" },
	[POLICY_R_CONFUSABLE_TLD] = { true, POLICY_A_HOLD_LONGER, 3600,
	    POLICY_S_WARNING, "confusable_tld" },
	[POLICY_R_BLOCKED_DOMAIN] = { true, POLICY_A_REJECT, 0,
	    POLICY_S_CRITICAL, "blocked_domains" },
	[POLICY_R_VISIBLE_RECIPIENTS] = { true, POLICY_A_HOLD_LONGER, 3600,
	    POLICY_S_CRITICAL, "visible_recipients" },
	[POLICY_R_FIRST_TIME] = { true, POLICY_A_HOLD, 0,
	    POLICY_S_INFO, "first_time_recipient" },
	[POLICY_R_EXTERNAL] = { false, POLICY_A_HOLD_LONGER, 900,
	    POLICY_S_INFO, "external_recipient" },
	[POLICY_R_BURST] = { true, POLICY_A_HOLD_FOR_RELEASE, 0,
	    POLICY_S_CRITICAL, "burst" },
	[POLICY_R_CC_CARRYOVER] = { true, POLICY_A_HOLD_LONGER, 3600,
	    POLICY_S_CRITICAL, "cc_carryover" },
	[POLICY_R_SENSITIVE] = { true, POLICY_A_HOLD_LONGER, 3600,
	    POLICY_S_WARNING, "sensitive_content" },
	[POLICY_R_MALFORMED] = { true, POLICY_A_HOLD, 0,
	    POLICY_S_WARNING, "malformed_header" },
};

static const char *const policy_action_names[] = {
	"hold", "hold_longer", "rewrite_to_bcc", "hold_for_release", "reject",
};
static const char *const policy_mode_names[] = { "enforce", "audit" };
static const char *const policy_severity_names[] = {
	"info", "warning", "critical",
};

/* ------------------------------------------------------------------ */
/* Containers                                                          */

struct policy_chunk {
	struct policy_chunk	*next;
	size_t			 used;
	size_t			 cap;
	char			 data[];
};

/* Strings that live as long as their owner; freed all at once. */
struct policy_arena {
	struct policy_chunk	*head;
};

static char *
policy_arena_dup(struct policy_arena *a, const char *s, size_t n)
{
	struct policy_chunk *c = a->head;
	size_t cap;
	char *p;

	if (c == NULL || c->cap - c->used < n + 1) {
		cap = 65536 - sizeof(*c);
		if (n + 1 > cap)
			cap = n + 1;
		c = xmalloc(sizeof(*c) + cap);
		c->next = a->head;
		c->used = 0;
		c->cap = cap;
		a->head = c;
	}
	p = c->data + c->used;
	memcpy(p, s, n);
	p[n] = '\0';
	c->used += n + 1;
	return p;
}

static void
policy_arena_clear(struct policy_arena *a)
{
	struct policy_chunk *c, *next;

	for (c = a->head; c != NULL; c = next) {
		next = c->next;
		free(c);
	}
	a->head = NULL;
}

/* FNV-1a, 64 bits; del (< n) names one octet to skip. */
static uint64_t
policy_hash(const char *s, size_t n, size_t del)
{
	uint64_t h = 0xcbf29ce484222325ULL;
	size_t i;

	for (i = 0; i < n; i++) {
		if (i == del)
			continue;
		h ^= (unsigned char)s[i];
		h *= 0x100000001b3ULL;
	}
	return h;
}

struct policy_ent {
	const char	*key;		/* NULL: empty slot */
	size_t		 len;
	uint64_t	 h;
	uint32_t	 val;
};

/* Open addressing, linear probing, at most half full.  Keys borrowed. */
struct policy_set {
	struct policy_ent	*v;
	size_t			 cap;	/* 0 or a power of two */
	size_t			 n;
};

static void
policy_set_clear(struct policy_set *s)
{
	free(s->v);
	memset(s, 0, sizeof(*s));
}

static struct policy_ent *
policy_set_slot(const struct policy_set *s, const char *k, size_t n,
    uint64_t h)
{
	size_t i, mask = s->cap - 1;

	for (i = h & mask;; i = (i + 1) & mask) {
		struct policy_ent *e = &s->v[i];

		if (e->key == NULL || (e->h == h && e->len == n &&
		    memcmp(e->key, k, n) == 0))
			return e;
	}
}

static void
policy_set_grow(struct policy_set *s)
{
	struct policy_set ns;
	size_t i;

	ns.cap = s->cap ? s->cap * 2 : 16;
	ns.n = s->n;
	ns.v = xreallocarray(NULL, ns.cap, sizeof(*ns.v));
	memset(ns.v, 0, ns.cap * sizeof(*ns.v));
	for (i = 0; i < s->cap; i++)
		if (s->v[i].key != NULL)
			*policy_set_slot(&ns, s->v[i].key, s->v[i].len,
			    s->v[i].h) = s->v[i];
	free(s->v);
	*s = ns;
}

/* Adds k unless present; returns the entry, *added tells which. */
static struct policy_ent *
policy_set_add(struct policy_set *s, const char *k, size_t n, uint32_t val,
    bool *added)
{
	struct policy_ent *e;
	uint64_t h = policy_hash(k, n, SIZE_MAX);

	if (s->n + 1 > s->cap / 2)
		policy_set_grow(s);
	e = policy_set_slot(s, k, n, h);
	if (added != NULL)
		*added = e->key == NULL;
	if (e->key == NULL) {
		e->key = k;
		e->len = n;
		e->h = h;
		e->val = val;
		s->n++;
	}
	return e;
}

static const struct policy_ent *
policy_set_get(const struct policy_set *s, const char *k)
{
	const struct policy_ent *e;
	size_t n = strlen(k);

	if (s->n == 0)
		return NULL;
	e = policy_set_slot(s, k, n, policy_hash(k, n, SIZE_MAX));
	return e->key != NULL ? e : NULL;
}

static bool
policy_set_has(const struct policy_set *s, const char *k)
{
	return policy_set_get(s, k) != NULL;
}

/* One key of the deletion index: domain dom with octet del removed. */
struct policy_dent {
	uint64_t	 h;
	uint32_t	 dom;		/* POLICY_NONE: empty slot */
	uint32_t	 del;		/* POLICY_NONE: nothing removed */
};

struct policy_dindex {
	struct policy_dent	*v;
	size_t			 cap;
	const char *const	*names;	/* borrowed */
};

/* True if a minus octet adel equals b minus octet bdel. */
static bool
policy_variant_eq(const char *a, size_t an, size_t adel, const char *b,
    size_t bn, size_t bdel)
{
	size_t i = 0, j = 0;

	if (an - (adel < an) != bn - (bdel < bn))
		return false;
	for (;;) {
		if (i == adel)
			i++;
		if (j == bdel)
			j++;
		if (i >= an || j >= bn)
			return i >= an && j >= bn;
		if (a[i] != b[j])
			return false;
		i++;
		j++;
	}
}

/* Deleting either octet of a run gives the same key: index it once. */
static bool
policy_del_dup(const char *s, size_t i)
{
	return i > 0 && s[i] == s[i - 1];
}

static void
policy_dindex_put(struct policy_dindex *x, uint64_t h, uint32_t dom,
    uint32_t del)
{
	size_t i, mask = x->cap - 1;

	for (i = h & mask; x->v[i].dom != POLICY_NONE; i = (i + 1) & mask)
		;
	x->v[i].h = h;
	x->v[i].dom = dom;
	x->v[i].del = del;
}

static void
policy_dindex_build(struct policy_dindex *x, const char *const *names,
    size_t n)
{
	size_t total = 0, i, k, len;

	for (i = 0; i < n; i++)
		total += strlen(names[i]) + 1;
	x->names = names;
	for (x->cap = 16; x->cap < total * 2; x->cap *= 2)
		;
	x->v = xreallocarray(NULL, x->cap, sizeof(*x->v));
	memset(x->v, 0xff, x->cap * sizeof(*x->v));
	for (i = 0; i < n; i++) {
		len = strlen(names[i]);
		policy_dindex_put(x, policy_hash(names[i], len, SIZE_MAX),
		    (uint32_t)i, POLICY_NONE);
		for (k = 0; k < len; k++)
			if (!policy_del_dup(names[i], k))
				policy_dindex_put(x, policy_hash(names[i], len,
				    k), (uint32_t)i, (uint32_t)k);
	}
}

static void
policy_dindex_clear(struct policy_dindex *x)
{
	free(x->v);
	memset(x, 0, sizeof(*x));
}

/* Known domains sharing a key with q (distance <= 1, some 2). */
static size_t
policy_dindex_find(const struct policy_dindex *x, const char *q, size_t qn,
    uint32_t *out, size_t outmax)
{
	size_t k, i, m, nout = 0, mask = x->cap - 1, del;
	const struct policy_dent *e;
	uint64_t h;

	if (x->v == NULL)
		return 0;
	for (k = 0; k <= qn; k++) {
		del = k == qn ? SIZE_MAX : k;
		if (del != SIZE_MAX && policy_del_dup(q, del))
			continue;
		h = policy_hash(q, qn, del);
		for (i = h & mask; x->v[i].dom != POLICY_NONE;
		    i = (i + 1) & mask) {
			e = &x->v[i];
			if (e->h != h || !policy_variant_eq(q, qn, del,
			    x->names[e->dom], strlen(x->names[e->dom]),
			    e->del == POLICY_NONE ? SIZE_MAX : e->del))
				continue;
			for (m = 0; m < nout && out[m] != e->dom; m++)
				;
			if (m == nout && nout < outmax)
				out[nout++] = e->dom;
		}
	}
	return nout;
}

/* ------------------------------------------------------------------ */
/* Domains and addresses                                               */

static void
policy_lower(char *dst, const char *src, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		dst[i] = (char)mh_tolower((unsigned char)src[i]);
	dst[n] = '\0';
}

int
policy_domain_normalize(const char *in, char *out, size_t outsz)
{
	char tmp[POLICY_DOMAIN_MAX + 1], *a = NULL;
	size_t n = strlen(in);
	bool ascii;
	int rc;

	if (outsz == 0)
		return -1;
	if (n > 0 && in[n - 1] == '.' && in[0] != '[')
		n--;
	ascii = mh_is_ascii(in, n);
	if (n >= outsz) {
		policy_lower(out, in, outsz - 1);
		return -1;
	}
	if (ascii || n > POLICY_DOMAIN_MAX) {
		policy_lower(out, in, n);
		return ascii ? 0 : -1;
	}
	memcpy(tmp, in, n);
	tmp[n] = '\0';
	rc = idn2_to_ascii_8z(tmp, &a, IDN2_NONTRANSITIONAL | IDN2_NFC_INPUT);
	if (rc == IDN2_OK && strlen(a) < outsz) {
		policy_lower(out, a, strlen(a));
		idn2_free(a);
		return 0;
	}
	if (rc == IDN2_OK)
		idn2_free(a);
	policy_lower(out, in, n);
	return -1;
}

/*
 * Normalises "local@domain" into buf: the local part ASCII-lowercased
 * (RFC 5321 says it is case-sensitive; no real server treats it so), the
 * domain as policy_domain_normalize().  The '@' that splits is the last
 * one, since a quoted local part may hold '@'.  Returns the offset of the
 * domain in buf, or -1 when the result does not fit.
 */
static int
policy_addr_norm(const char *a, char *buf, size_t bufsz, unsigned *flags)
{
	const char *at = strrchr(a, '@');
	size_t ll;

	*flags = 0;
	if (at == NULL) {
		ll = strlen(a);
		if (ll >= bufsz)
			return -1;
		policy_lower(buf, a, ll);
		*flags |= POLICY_RC_NODOMAIN;
		return (int)ll;
	}
	ll = (size_t)(at - a);
	if (ll + 2 >= bufsz || bufsz > INT32_MAX)
		return -1;
	policy_lower(buf, a, ll);
	buf[ll] = '@';
	if (at[1] == '\0')
		*flags |= POLICY_RC_NODOMAIN;
	else if (at[1] == '[')
		*flags |= POLICY_RC_LITERAL;
	if (policy_domain_normalize(at + 1, buf + ll + 1, bufsz - ll - 1) ==
	    -1)
		*flags |= POLICY_RC_BADIDN;
	return (int)(ll + 1);
}

/* ------------------------------------------------------------------ */
/* The compiled policy                                                 */

struct policy_rulec {
	bool			 enabled;
	enum policy_mode	 mode;
	enum policy_action	 action;
	int64_t			 hold;
	struct policy_set	 users;
	struct policy_set	 domains;
};

struct policy {
	struct policy_config	 cfg;		/* scalars only */
	struct policy_arena	 arena;
	struct policy_rulec	 rules[POLICY_R_COUNT];
	const char		**known;	/* id -> name */
	size_t			 nknown;
	struct policy_set	 known_set;	/* name -> id */
	struct policy_set	 internal;
	struct policy_set	 providers;
	struct policy_set	 slds;
	struct policy_dindex	 idx;
	const char		**blocked;
	size_t			 nblocked;
	struct policy_tld_map	*tlds;
	size_t			 ntlds;
	const char		**patterns;
	size_t			 npatterns;
};

static int
policy_err(char *err, size_t errsz, const char *fmt, ...)
    MH_PRINTF(3, 4);

static int
policy_err(char *err, size_t errsz, const char *fmt, ...)
{
	va_list ap;

	if (errsz > 0) {
		va_start(ap, fmt);
		(void)vsnprintf(err, errsz, fmt, ap);
		va_end(ap);
	}
	return -1;
}

/* Normalises a configured domain into the arena; NULL if invalid. */
static const char *
policy_cfg_domain(struct policy *p, const char *d)
{
	char buf[POLICY_DOMAIN_MAX + 1];
	const char *s = d;

	if (s == NULL)
		return NULL;
	if (s[0] == '@')
		s++;
	if (s[0] == '\0' || s[0] == '.' ||
	    policy_domain_normalize(s, buf, sizeof(buf)) == -1 ||
	    strchr(buf, ' ') != NULL)
		return NULL;
	return policy_arena_dup(&p->arena, buf, strlen(buf));
}

static void
policy_known_add(struct policy *p, const char *name)
{
	bool added;

	policy_set_add(&p->known_set, name, strlen(name), (uint32_t)p->nknown,
	    &added);
	if (!added)
		return;
	if ((p->nknown & (p->nknown - 1)) == 0)
		p->known = xreallocarray(p->known,
		    p->nknown ? p->nknown * 2 : 1, sizeof(*p->known));
	p->known[p->nknown++] = name;
}

/* Adds a list of configured domains to the known set (and to extra). */
static int
policy_cfg_domains(struct policy *p, const char *what,
    const char *const *v, size_t n, struct policy_set *extra, char *err,
    size_t errsz)
{
	const char *d;
	size_t i;

	for (i = 0; i < n; i++) {
		if ((d = policy_cfg_domain(p, v[i])) == NULL)
			return policy_err(err, errsz, "%s: \"%s\" is not a "
			    "valid domain", what, v[i] ? v[i] : "(null)");
		policy_known_add(p, d);
		if (extra != NULL)
			policy_set_add(extra, d, strlen(d), 0, NULL);
	}
	return 0;
}

void
policy_config_init(struct policy_config *c)
{
	size_t r;

	memset(c, 0, sizeof(*c));
	c->hold_default = 300;
	c->hold_max = 86400;
	c->builtin_providers = true;
	for (r = 0; r < POLICY_R_COUNT; r++) {
		c->rules[r].enabled = policy_rule_defaults[r].enabled;
		c->rules[r].mode = POLICY_M_ENFORCE;
		c->rules[r].action = policy_rule_defaults[r].action;
		c->rules[r].hold = policy_rule_defaults[r].hold;
	}
	c->typo_min_label = 4;
	c->typo_weak_min_label = 6;
	c->typo_two_edit_min_label = 10;
	c->confusable_tlds = policy_default_tlds;
	c->nconfusable = policy_default_ntlds;
	c->visible_max_external = 10;
	c->visible_min_orgs = 3;
	c->visible_reply_exempt = true;
	c->first_time_internal = false;
	c->first_time_detail_max = 5;
	c->burst_window = 3600;
	c->burst_max_messages = 100;
	c->burst_max_recipients = 1000;
	c->burst_max_first_time = 100;
	c->burst_max_internal_messages = 1000;
	c->burst_max_internal_recipients = 10000;
	c->burst_max_internal_first_time = 5000;
	c->carryover_min_run = 3;
	c->carryover_window = 86400;
	c->sensitive_patterns = policy_default_patterns;
	c->nsensitive = policy_default_npatterns;
	c->sensitive_external_only = true;
}

static int
policy_compile_rules(struct policy *p, const struct policy_config *c,
    char *err, size_t errsz)
{
	const struct policy_rule_config *rc;
	struct policy_rulec *r;
	const char *d;
	char *u;
	size_t i, k, n;

	for (i = 0; i < POLICY_R_COUNT; i++) {
		rc = &c->rules[i];
		r = &p->rules[i];
		if ((unsigned)rc->mode > POLICY_M_AUDIT)
			return policy_err(err, errsz, "%s.mode: invalid",
			    policy_rule_defaults[i].name);
		if ((unsigned)rc->action > POLICY_A_REJECT)
			return policy_err(err, errsz, "%s.action: invalid",
			    policy_rule_defaults[i].name);
		if (rc->action == POLICY_A_REWRITE_BCC &&
		    i != POLICY_R_VISIBLE_RECIPIENTS)
			return policy_err(err, errsz, "%s.action: "
			    "rewrite_to_bcc only applies to "
			    "visible_recipients",
			    policy_rule_defaults[i].name);
		if (rc->hold < 0 || rc->hold > c->hold_max)
			return policy_err(err, errsz, "%s.hold: must be "
			    "between 0 and hold.max",
			    policy_rule_defaults[i].name);
		r->enabled = rc->enabled;
		r->mode = rc->mode;
		r->action = rc->action;
		r->hold = rc->hold;
		for (k = 0; k < rc->nusers; k++) {
			if (rc->users[k] == NULL || rc->users[k][0] == '\0')
				return policy_err(err, errsz,
				    "%s.users: empty entry",
				    policy_rule_defaults[i].name);
			n = strlen(rc->users[k]);
			u = policy_arena_dup(&p->arena, rc->users[k], n);
			policy_lower(u, rc->users[k], n);
			policy_set_add(&r->users, u, n, 0, NULL);
		}
		for (k = 0; k < rc->ndomains; k++) {
			if ((d = policy_cfg_domain(p, rc->domains[k])) == NULL)
				return policy_err(err, errsz, "%s.domains: "
				    "\"%s\" is not a valid domain",
				    policy_rule_defaults[i].name,
				    rc->domains[k] ? rc->domains[k] : "");
			policy_set_add(&r->domains, d, strlen(d), 0, NULL);
		}
	}
	return 0;
}

/* A glob or TLD label: lowercase, IDN labels as A-labels. */
static const char *
policy_cfg_pattern(struct policy *p, const char *s)
{
	char buf[POLICY_DOMAIN_MAX + 1];
	size_t i, n;

	if (s == NULL || (n = strlen(s)) == 0 || n > POLICY_DOMAIN_MAX)
		return NULL;
	for (i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];

		if (c <= 0x20 || c == 0x7f || c == '@')
			return NULL;
		if (c >= 0x80) {
			/* "*.例え.jp": convert the part after the globs. */
			size_t g = 0;

			while (s[g] == '*' || s[g] == '?' || s[g] == '.')
				g++;
			if (g >= n || g + 1 > sizeof(buf) ||
			    policy_domain_normalize(s + g, buf + g,
			    sizeof(buf) - g) == -1)
				return NULL;
			memcpy(buf, s, g);
			return policy_arena_dup(&p->arena, buf, strlen(buf));
		}
	}
	policy_lower(buf, s, n);
	return policy_arena_dup(&p->arena, buf, n);
}

struct policy *
policy_new(const struct policy_config *c, char *err, size_t errsz)
{
	struct policy *p;
	const char *s, *t;
	size_t i;

	if (errsz > 0)
		err[0] = '\0';
	if (c->hold_default < 0 || c->hold_max < c->hold_default) {
		policy_err(err, errsz, "hold: need 0 <= hold.default <= "
		    "hold.max");
		return NULL;
	}
	if (c->carryover_min_run == 0 || c->burst_window <= 0 ||
	    c->carryover_window <= 0) {
		policy_err(err, errsz, "burst.window, cc_carryover.window and "
		    "cc_carryover.min_run must be positive");
		return NULL;
	}
	if (c->typo_min_label == 0 || c->typo_weak_min_label == 0) {
		policy_err(err, errsz, "typo_domain: label lengths must be "
		    "positive");
		return NULL;
	}
	p = xcalloc(1, sizeof(*p));
	p->cfg = *c;
	p->cfg.internal_domains = p->cfg.partner_domains = NULL;
	p->cfg.provider_domains = p->cfg.blocked_domains = NULL;
	p->cfg.sensitive_patterns = NULL;
	p->cfg.confusable_tlds = NULL;
	memset(p->cfg.rules, 0, sizeof(p->cfg.rules));

	if (policy_compile_rules(p, c, err, errsz) == -1)
		goto fail;
	for (i = 0; i < sizeof(policy_slds) / sizeof(policy_slds[0]); i++)
		policy_set_add(&p->slds, policy_slds[i],
		    strlen(policy_slds[i]), 0, NULL);
	if (policy_cfg_domains(p, "internal_domains", c->internal_domains,
	    c->ninternal, &p->internal, err, errsz) == -1 ||
	    policy_cfg_domains(p, "partner_domains", c->partner_domains,
	    c->npartner, NULL, err, errsz) == -1 ||
	    policy_cfg_domains(p, "provider_domains", c->provider_domains,
	    c->nprovider, &p->providers, err, errsz) == -1)
		goto fail;
	if (c->builtin_providers)
		for (i = 0; i < sizeof(policy_providers) /
		    sizeof(policy_providers[0]); i++) {
			policy_known_add(p, policy_providers[i]);
			policy_set_add(&p->providers, policy_providers[i],
			    strlen(policy_providers[i]), 0, NULL);
		}
	policy_dindex_build(&p->idx, p->known, p->nknown);

	p->blocked = xreallocarray(NULL, c->nblocked, sizeof(*p->blocked));
	for (i = 0; i < c->nblocked; i++) {
		if ((s = policy_cfg_pattern(p, c->blocked_domains[i])) ==
		    NULL) {
			policy_err(err, errsz, "blocked_domains: \"%s\" is not "
			    "a valid pattern", c->blocked_domains[i] ?
			    c->blocked_domains[i] : "");
			goto fail;
		}
		p->blocked[p->nblocked++] = s;
	}
	p->tlds = xreallocarray(NULL, c->nconfusable, sizeof(*p->tlds));
	for (i = 0; i < c->nconfusable; i++) {
		s = policy_cfg_pattern(p, c->confusable_tlds[i].from);
		t = policy_cfg_pattern(p, c->confusable_tlds[i].to);
		if (s == NULL || t == NULL || strchr(s, '.') != NULL ||
		    strchr(t, '.') != NULL || strchr(s, '*') != NULL ||
		    strchr(t, '*') != NULL) {
			policy_err(err, errsz, "confusable_tlds: entry %zu is "
			    "not a pair of TLD labels", i + 1);
			goto fail;
		}
		p->tlds[p->ntlds].from = s;
		p->tlds[p->ntlds].to = t;
		p->ntlds++;
	}
	p->patterns = xreallocarray(NULL, c->nsensitive, sizeof(*p->patterns));
	for (i = 0; i < c->nsensitive; i++) {
		s = c->sensitive_patterns[i];
		if (s == NULL || s[0] == '\0' || strlen(s) > 256) {
			policy_err(err, errsz, "sensitive_content.patterns: "
			    "entry %zu is empty or too long", i + 1);
			goto fail;
		}
		p->patterns[p->npatterns++] = policy_arena_dup(&p->arena, s,
		    strlen(s));
	}
	return p;
fail:
	policy_free(p);
	return NULL;
}

void
policy_free(struct policy *p)
{
	size_t i;

	if (p == NULL)
		return;
	for (i = 0; i < POLICY_R_COUNT; i++) {
		policy_set_clear(&p->rules[i].users);
		policy_set_clear(&p->rules[i].domains);
	}
	free(p->known);
	policy_set_clear(&p->known_set);
	policy_set_clear(&p->internal);
	policy_set_clear(&p->providers);
	policy_set_clear(&p->slds);
	policy_dindex_clear(&p->idx);
	free(p->blocked);
	free(p->tlds);
	free(p->patterns);
	policy_arena_clear(&p->arena);
	free(p);
}

/*
 * Splits a domain around its public suffix: *suf is the offset of the
 * suffix ("com", "co.jp"), *reg and *reglen the label before it (the
 * organisation's own name); reglen 0 when there is none.
 */
static void
policy_split(const struct policy *p, const char *d, size_t n, size_t *reg,
    size_t *reglen, size_t *suf)
{
	size_t last, prev;
	const char *dot;

	dot = memrchr(d, '.', n);
	if (dot == NULL) {
		*suf = 0;
		*reg = *reglen = 0;
		return;
	}
	last = (size_t)(dot - d) + 1;
	*suf = last;
	if (last >= 2 && (dot = memrchr(d, '.', last - 1)) != NULL) {
		prev = (size_t)(dot - d) + 1;
		if (policy_set_has(&p->slds, d + prev))
			*suf = prev;
	} else if (last >= 2 && policy_set_has(&p->slds, d))
		*suf = 0;
	if (*suf < 2) {
		*reg = *reglen = 0;
		return;
	}
	dot = memrchr(d, '.', *suf - 1);
	*reg = dot != NULL ? (size_t)(dot - d) + 1 : 0;
	*reglen = *suf - 1 - *reg;
}

/* The registrable domain ("example.co.jp" of "mail.example.co.jp"). */
static const char *
policy_org(const struct policy *p, const char *d)
{
	size_t reg, reglen, suf;

	policy_split(p, d, strlen(d), &reg, &reglen, &suf);
	return reglen > 0 ? d + reg : d;
}

/* ------------------------------------------------------------------ */
/* Typo judgement                                                      */

enum policy_typo_kind {
	POLICY_T_TRANSPOSED = 0,	/* strongest evidence first */
	POLICY_T_DOUBLED,
	POLICY_T_MISSING,
	POLICY_T_NEIGHBOUR,
	POLICY_T_EXTRA_KEY,
	POLICY_T_DOT,
	POLICY_T_SUBST,
	POLICY_T_EXTRA,
	POLICY_T_TWO,
};

static const char *const policy_typo_en[] = {
	"transposed letters", "doubled letter", "missing letter",
	"neighbouring key", "extra neighbouring key", "misplaced dot",
	"one letter different", "extra letter", "two letters different",
};
static const char *const policy_typo_ja[] = {
	"文字の入れ替わり", "文字の重複", "文字の抜け", "隣のキーの打ち間違い",
	"隣のキーの余分な入力", "ドットの位置違い", "1文字違い", "余分な文字",
	"2文字違い",
};

/* QWERTY (also the letter layout of JIS keyboards), x in quarter keys. */
static bool
policy_key_pos(unsigned char c, int *row, int *x)
{
	static const char *const rows[] = {
		"1234567890-", "qwertyuiop", "asdfghjkl", "zxcvbnm",
	};
	static const int off[] = { 0, 2, 3, 5 };
	const char *q;
	int r;

	if (c == '\0')
		return false;
	for (r = 0; r < 4; r++)
		if ((q = strchr(rows[r], c)) != NULL) {
			*row = r;
			*x = 4 * (int)(q - rows[r]) + off[r];
			return true;
		}
	return false;
}

static bool
policy_key_adjacent(unsigned char a, unsigned char b)
{
	int ra, xa, rb, xb, dr, dx;

	if (a == b || !policy_key_pos(a, &ra, &xa) ||
	    !policy_key_pos(b, &rb, &xb))
		return false;
	dr = ra > rb ? ra - rb : rb - ra;
	dx = xa > xb ? xa - xb : xb - xa;
	return (dr == 0 && dx == 4) || (dr == 1 && dx <= 4);
}

/* Optimal string alignment distance (Damerau with adjacent swaps),
 * or max + 1 when it is larger than max. */
static size_t
policy_osa(const char *a, size_t an, const char *b, size_t bn, size_t max)
{
	uint16_t r0[POLICY_DOMAIN_MAX + 2], r1[POLICY_DOMAIN_MAX + 2];
	uint16_t r2[POLICY_DOMAIN_MAX + 2], *pp = r0, *p = r1, *c = r2, *t;
	size_t i, j, best, v, cost;

	if (an > POLICY_DOMAIN_MAX || bn > POLICY_DOMAIN_MAX ||
	    (an > bn ? an - bn : bn - an) > max)
		return max + 1;
	for (j = 0; j <= bn; j++)
		p[j] = (uint16_t)j;
	for (i = 1; i <= an; i++) {
		c[0] = (uint16_t)i;
		best = i;
		for (j = 1; j <= bn; j++) {
			cost = a[i - 1] == b[j - 1] ? 0 : 1;
			v = (size_t)p[j - 1] + cost;
			if ((size_t)p[j] + 1 < v)
				v = (size_t)p[j] + 1;
			if ((size_t)c[j - 1] + 1 < v)
				v = (size_t)c[j - 1] + 1;
			if (i > 1 && j > 1 && a[i - 1] == b[j - 2] &&
			    a[i - 2] == b[j - 1] && (size_t)pp[j - 2] + 1 < v)
				v = (size_t)pp[j - 2] + 1;
			c[j] = (uint16_t)v;
			if (v < best)
				best = v;
		}
		if (best > max)
			return max + 1;
		t = pp;
		pp = p;
		p = c;
		c = t;
	}
	return p[bn] > max ? max + 1 : p[bn];
}

/* Length of the label of d that holds offset i. */
static size_t
policy_label_len(const char *d, size_t n, size_t i)
{
	size_t s = i, e = i;

	while (s > 0 && d[s - 1] != '.')
		s--;
	while (e < n && d[e] != '.')
		e++;
	return e - s;
}

/*
 * Is q a plausible typo of the known domain k?  Distance 1 is judged by
 * the kind of edit and the length of the label it falls in: short labels
 * (mac, gmx, aol) tolerate only swaps and doubled letters, any single
 * substitution needs typo_weak_min_label; in the public suffix only the
 * strong kinds count (example.cm, example.co, but not example.de for
 * example.dk).  Distance 2 needs a long own label and the same suffix.
 */
static bool
policy_typo_judge(const struct policy *p, const char *q, size_t qn,
    const char *k, size_t kn, int *kind, size_t *dist)
{
	size_t d, i, reg, reglen, suf, tail, at, ll;
	unsigned char ch;

	d = policy_osa(q, qn, k, kn, 2);
	if (d == 0 || d > 2)
		return false;
	policy_split(p, k, kn, &reg, &reglen, &suf);
	*dist = d;
	if (d == 2) {
		if (p->cfg.typo_two_edit_min_label == 0 ||
		    reglen < p->cfg.typo_two_edit_min_label)
			return false;
		tail = kn - reg;
		tail -= reglen;
		if (qn < tail || memcmp(q + qn - tail, k + kn - tail,
		    tail) != 0)
			return false;
		*kind = POLICY_T_TWO;
		return true;
	}
	for (i = 0; i < qn && i < kn && q[i] == k[i]; i++)
		;
	if (qn == kn) {
		if (i + 1 < qn && q[i] == k[i + 1] && q[i + 1] == k[i]) {
			*kind = POLICY_T_TRANSPOSED;
			ch = q[i] == '.' || q[i + 1] == '.' ? '.' : 'a';
		} else {
			*kind = policy_key_adjacent((unsigned char)q[i],
			    (unsigned char)k[i]) ? POLICY_T_NEIGHBOUR :
			    POLICY_T_SUBST;
			ch = q[i] == '.' || k[i] == '.' ? '.' : 'a';
		}
		at = i;
	} else if (qn == kn + 1) {
		ch = (unsigned char)q[i];
		if ((i > 0 && q[i - 1] == q[i]) ||
		    (i + 1 < qn && q[i + 1] == q[i]))
			*kind = POLICY_T_DOUBLED;
		else if ((i > 0 && policy_key_adjacent(ch,
		    (unsigned char)q[i - 1])) || (i + 1 < qn &&
		    policy_key_adjacent(ch, (unsigned char)q[i + 1])))
			*kind = POLICY_T_EXTRA_KEY;
		else
			*kind = POLICY_T_EXTRA;
		/* The extra octet belongs to the label on its left. */
		at = i > 0 ? i - 1 : 0;
		if (at < kn && k[at] == '.' && i < kn)
			at = i;
	} else {
		ch = (unsigned char)k[i];
		*kind = POLICY_T_MISSING;
		at = i;
	}
	if (ch == '.') {
		*kind = POLICY_T_DOT;
		return qn >= 6 && kn >= 6 && reglen >= 4;
	}
	if (at >= kn)
		at = kn - 1;
	if (at >= suf) {
		if (reglen < 3)
			return false;
		return *kind == POLICY_T_TRANSPOSED ||
		    *kind == POLICY_T_DOUBLED || *kind == POLICY_T_MISSING ||
		    *kind == POLICY_T_NEIGHBOUR || *kind == POLICY_T_EXTRA_KEY;
	}
	ll = policy_label_len(k, kn, at);
	switch (*kind) {
	case POLICY_T_TRANSPOSED:
	case POLICY_T_DOUBLED:
		return ll >= 3;
	case POLICY_T_MISSING:
	case POLICY_T_NEIGHBOUR:
	case POLICY_T_EXTRA_KEY:
		return ll >= p->cfg.typo_min_label;
	default:
		return ll >= p->cfg.typo_weak_min_label;
	}
}

/* ------------------------------------------------------------------ */
/* Evaluation state                                                    */

struct policy_rcpt {
	const char	*addr;		/* normalised (arena) */
	const char	*domain;	/* into addr */
	const char	*org;		/* into domain */
	unsigned	 flags;		/* POLICY_RC_* */
	size_t		 group;		/* index of its domain group */
	size_t		 next;		/* next in the group, or SIZE_MAX */
};

struct policy_dgroup {
	const char	*domain;
	unsigned	 flags;		/* POLICY_DG_* */
	size_t		 first;		/* first recipient */
	size_t		 last;
	size_t		 n;
};

struct policy_eval {
	const struct policy		*p;
	const struct policy_input	*in;
	const struct policy_history	*hist;
	struct policy_arena		 arena;
	struct policy_rcpt		*rc;
	size_t				 nrc;
	struct policy_set		 rcset;	/* addr -> index */
	struct policy_dgroup		*dg;
	size_t				 ndg;
	struct policy_set		 dgset;
	const char			*sender;	/* normalised */
	const char			*sender_domain;
	struct policy_set		 hist_addrs;
	const char			**hist_addr_v;
	size_t				 nhist_addr;
	struct policy_set		 hist_doms;
	const char			**hist_dom_v;
	size_t				 nhist_dom;
	struct policy_dindex		 hist_idx;
	bool				 hist_idx_built;
	size_t				 next;		/* external rcpts */
	struct policy_verdict		*v;
};

static const struct policy_history policy_no_history;

/* Normalised copy in the evaluation arena; *flags as policy_addr_norm. */
static const char *
policy_eval_key(struct policy_eval *e, const char *a, unsigned *flags,
    size_t *domoff)
{
	char buf[POLICY_KEY_MAX];
	int off;

	if ((off = policy_addr_norm(a, buf, sizeof(buf), flags)) == -1)
		return NULL;
	if (domoff != NULL)
		*domoff = (size_t)off;
	return policy_arena_dup(&e->arena, buf, strlen(buf));
}

/* The parent of a domain ("example.com" of "a.example.com"), or NULL. */
static const char *
policy_parent(const char *d)
{
	const char *dot = strchr(d, '.');

	return dot != NULL ? dot + 1 : NULL;
}

static bool
policy_eval_internal(const struct policy_eval *e, const char *d)
{
	const struct policy_set *s = &e->p->internal;
	size_t n, sn;
	const char *q;

	if (d[0] == '\0')
		return false;
	if (s->n == 0) {
		/* No internal_domains: the sender's own domain is, with its
		 * subdomains; but a free-mail sender has no organisation, and
		 * the provider's other users are not colleagues. */
		sn = strlen(e->sender_domain);
		n = strlen(d);
		return sn > 0 && n >= sn && strcmp(d + n - sn,
		    e->sender_domain) == 0 && (n == sn ||
		    d[n - sn - 1] == '.') &&
		    !policy_set_has(&e->p->providers, e->sender_domain);
	}
	for (q = d; q != NULL; q = policy_parent(q))
		if (policy_set_has(s, q))
			return true;
	return false;
}

static bool
policy_eval_known_domain(const struct policy_eval *e, const char *d)
{
	return policy_set_has(&e->p->known_set, d) ||
	    policy_set_has(&e->hist_doms, d) || policy_eval_internal(e, d);
}

static void
policy_eval_hist_domain(struct policy_eval *e, const char *d)
{
	bool added;

	policy_set_add(&e->hist_doms, d, strlen(d), 0, &added);
	if (!added)
		return;
	if ((e->nhist_dom & (e->nhist_dom - 1)) == 0)
		e->hist_dom_v = xreallocarray(e->hist_dom_v,
		    e->nhist_dom ? e->nhist_dom * 2 : 1,
		    sizeof(*e->hist_dom_v));
	e->hist_dom_v[e->nhist_dom++] = d;
}

/* Builds the history sets: normalised addresses and domains. */
static void
policy_eval_history(struct policy_eval *e)
{
	const struct policy_history *h = e->hist;
	char buf[POLICY_DOMAIN_MAX + 1];
	const char *k;
	unsigned fl;
	size_t i, off;
	bool added;

	for (i = 0; i < h->naddrs; i++) {
		if (h->addrs[i] == NULL ||
		    (k = policy_eval_key(e, h->addrs[i], &fl, &off)) == NULL)
			continue;
		policy_set_add(&e->hist_addrs, k, strlen(k), 0, &added);
		if (!added)
			continue;
		if ((e->nhist_addr & (e->nhist_addr - 1)) == 0)
			e->hist_addr_v = xreallocarray(e->hist_addr_v,
			    e->nhist_addr ? e->nhist_addr * 2 : 1,
			    sizeof(*e->hist_addr_v));
		e->hist_addr_v[e->nhist_addr++] = k;
		if (!(fl & (POLICY_RC_NODOMAIN | POLICY_RC_LITERAL)))
			policy_eval_hist_domain(e, k + off);
	}
	for (i = 0; i < h->ndomains; i++) {
		if (h->domains[i] == NULL || h->domains[i][0] == '\0')
			continue;
		(void)policy_domain_normalize(h->domains[i], buf, sizeof(buf));
		policy_eval_hist_domain(e, policy_arena_dup(&e->arena, buf,
		    strlen(buf)));
	}
}

/* The envelope recipients, normalised, deduplicated, grouped by domain. */
static void
policy_eval_rcpts(struct policy_eval *e)
{
	const struct policy_envelope *env = e->in->env;
	struct policy_rcpt *r;
	struct policy_dgroup *g;
	struct policy_ent *ent;
	const char *k;
	unsigned fl;
	size_t i, off;
	bool added;

	if (env == NULL || env->nrcpts == 0)
		return;
	e->rc = xreallocarray(NULL, env->nrcpts, sizeof(*e->rc));
	e->dg = xreallocarray(NULL, env->nrcpts, sizeof(*e->dg));
	for (i = 0; i < env->nrcpts; i++) {
		if (env->rcpts[i] == NULL ||
		    (k = policy_eval_key(e, env->rcpts[i], &fl, &off)) == NULL)
			continue;
		policy_set_add(&e->rcset, k, strlen(k), (uint32_t)e->nrc,
		    &added);
		if (!added)
			continue;
		r = &e->rc[e->nrc];
		r->addr = k;
		r->domain = k + off;
		r->flags = fl;
		r->org = policy_org(e->p, r->domain);
		if (policy_eval_internal(e, r->domain))
			r->flags |= POLICY_RC_INTERNAL;
		else if (!(fl & POLICY_RC_NODOMAIN))
			e->next++;
		if (policy_set_has(&e->hist_addrs, k))
			r->flags |= POLICY_RC_KNOWN_ADDR;
		ent = policy_set_add(&e->dgset, r->domain, strlen(r->domain),
		    (uint32_t)e->ndg, &added);
		if (added) {
			g = &e->dg[e->ndg++];
			g->domain = r->domain;
			g->flags = policy_eval_known_domain(e, r->domain) ?
			    POLICY_DG_KNOWN : 0;
			g->first = SIZE_MAX;
			g->n = 0;
		}
		r->group = ent->val;
		g = &e->dg[r->group];
		/* Keep envelope order inside a group: append at the end. */
		r->next = SIZE_MAX;
		if (g->first == SIZE_MAX)
			g->first = e->nrc;
		else
			e->rc[g->last].next = e->nrc;
		g->last = e->nrc;
		g->n++;
		e->nrc++;
	}
}

/* Does rule r apply to this sender? */
static bool
policy_eval_on(const struct policy_eval *e, enum policy_rule r)
{
	const struct policy_rulec *rc = &e->p->rules[r];
	const char *au = e->in->env ? e->in->env->auth_user : NULL;
	char buf[POLICY_KEY_MAX];
	const char *q;
	size_t n;

	if (!rc->enabled)
		return false;
	if (rc->users.n == 0 && rc->domains.n == 0)
		return true;
	if (au != NULL && (n = strlen(au)) < sizeof(buf)) {
		policy_lower(buf, au, n);
		if (policy_set_has(&rc->users, buf))
			return true;
	}
	if (e->sender[0] != '\0' && policy_set_has(&rc->users, e->sender))
		return true;
	for (q = e->sender_domain; q != NULL && q[0] != '\0';
	    q = policy_parent(q))
		if (policy_set_has(&rc->domains, q))
			return true;
	return false;
}

static char *
policy_strf(const char *fmt, ...) MH_PRINTF(1, 2);

static char *
policy_strf(const char *fmt, ...)
{
	va_list ap;
	char *s;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	if (n < 0)
		return xstrdup("");
	s = xmalloc((size_t)n + 1);
	va_start(ap, fmt);
	(void)vsnprintf(s, (size_t)n + 1, fmt, ap);
	va_end(ap);
	return s;
}

/* The baseline hold of this message: a run-time override, else
 * hold.default. */
static int64_t
policy_hold_default(const struct policy_eval *e)
{
	const struct policy_holds *h = e->in->holds;

	return h != NULL && h->hold_default >= 0 ? h->hold_default :
	    e->p->cfg.hold_default;
}

/* The hold a rule asks for (see struct policy_rule_config). */
static int64_t
policy_rule_hold(const struct policy_eval *e, enum policy_action a,
    int64_t hold)
{
	if (a == POLICY_A_REJECT)
		return 0;
	if (hold > 0)
		return hold;
	return a == POLICY_A_HOLD_FOR_RELEASE ? e->p->cfg.hold_max :
	    policy_hold_default(e);
}

static struct policy_finding *
policy_finding_new(struct policy_eval *e, enum policy_rule r)
{
	struct policy_verdict *v = e->v;
	const struct policy_rulec *rc = &e->p->rules[r];
	struct policy_finding *f;

	if ((v->nfindings & (v->nfindings - 1)) == 0)
		v->findings = xreallocarray(v->findings,
		    v->nfindings ? v->nfindings * 2 : 1, sizeof(*v->findings));
	f = &v->findings[v->nfindings++];
	memset(f, 0, sizeof(*f));
	f->rule = r;
	f->severity = policy_rule_defaults[r].severity;
	f->mode = rc->mode;
	f->action = rc->action;
	f->hold = policy_rule_hold(e, rc->action,
	    e->in->holds != NULL && e->in->holds->rule[r] >= 0 ?
	    e->in->holds->rule[r] : rc->hold);
	return f;
}

static void
policy_finding_rcpt(struct policy_finding *f, const char *addr)
{
	f->nrcpts_total++;
	if (f->nrcpts >= POLICY_FINDING_RCPTS_MAX)
		return;
	if ((f->nrcpts & (f->nrcpts - 1)) == 0)
		f->rcpts = xreallocarray(f->rcpts,
		    f->nrcpts ? f->nrcpts * 2 : 1, sizeof(*f->rcpts));
	f->rcpts[f->nrcpts++] = xstrdup(addr);
}

static void
policy_finding_group(struct policy_finding *f, const struct policy_eval *e,
    const struct policy_dgroup *g)
{
	size_t j;

	for (j = g->first; j != SIZE_MAX; j = e->rc[j].next)
		policy_finding_rcpt(f, e->rc[j].addr);
}

/* "local@" of the group's only recipient + domain, or just the domain. */
static char *
policy_suggest(const struct policy_eval *e, const struct policy_dgroup *g,
    const char *domain)
{
	const struct policy_rcpt *r = &e->rc[g->first];

	if (g->n != 1)
		return xstrdup(domain);
	return policy_strf("%.*s@%s", (int)(r->domain - 1 - r->addr),
	    r->addr, domain);
}

/* ------------------------------------------------------------------ */
/* Rules                                                               */

/* The best known domain q is a typo of, searching config and history. */
static const char *
policy_typo_search(struct policy_eval *e, const char *q, int *kind)
{
	uint32_t cand[POLICY_CAND_MAX];
	const char *best = NULL, *k;
	size_t qn = strlen(q), n, i, d, bestd = 3;
	int kd, bestk = 99, pass;

	if (qn == 0 || qn > POLICY_DOMAIN_MAX || strchr(q, '.') == NULL)
		return NULL;
	for (pass = 0; pass < 2; pass++) {
		const struct policy_dindex *x;

		if (pass == 1) {
			if (e->nhist_dom == 0)
				break;
			if (!e->hist_idx_built) {
				policy_dindex_build(&e->hist_idx,
				    e->hist_dom_v, e->nhist_dom);
				e->hist_idx_built = true;
			}
			x = &e->hist_idx;
		} else
			x = &e->p->idx;
		n = policy_dindex_find(x, q, qn, cand, POLICY_CAND_MAX);
		for (i = 0; i < n; i++) {
			k = x->names[cand[i]];
			if (!policy_typo_judge(e->p, q, qn, k, strlen(k), &kd,
			    &d))
				continue;
			if (d < bestd || (d == bestd && kd < bestk)) {
				best = k;
				bestd = d;
				bestk = kd;
			}
		}
	}
	*kind = bestk;
	return best;
}

static void
policy_rule_typo(struct policy_eval *e)
{
	struct policy_finding *f;
	struct policy_dgroup *g;
	const char *k, *org;
	char *sugg_dom;
	size_t i, pre;
	int kind;

	for (i = 0; i < e->ndg; i++) {
		g = &e->dg[i];
		if (g->flags & POLICY_DG_KNOWN ||
		    e->rc[g->first].flags & (POLICY_RC_LITERAL |
		    POLICY_RC_BADIDN | POLICY_RC_NODOMAIN))
			continue;
		pre = 0;
		if ((k = policy_typo_search(e, g->domain, &kind)) == NULL) {
			/* mail.exmaple.com: try the organisation's name. */
			org = e->rc[g->first].org;
			if (org == g->domain ||
			    policy_eval_known_domain(e, org) ||
			    (k = policy_typo_search(e, org, &kind)) == NULL)
				continue;
			pre = (size_t)(org - g->domain);
		}
		sugg_dom = policy_strf("%.*s%s", (int)pre, g->domain, k);
		f = policy_finding_new(e, POLICY_R_TYPO_DOMAIN);
		f->detail = xstrdup(g->domain);
		f->suggestion = policy_suggest(e, g, sugg_dom);
		policy_finding_group(f, e, g);
		f->msg_en = policy_strf("%s looks like a typo of %s (%s); "
		    "did you mean %s?", g->domain, sugg_dom,
		    policy_typo_en[kind], f->suggestion);
		f->msg_ja = policy_strf("%s は %s の誤りではありませんか"
		    "（%s）。意図した宛先は %s ではありませんか。", g->domain,
		    sugg_dom,
		    policy_typo_ja[kind], f->suggestion);
		free(sugg_dom);
		g->flags |= POLICY_DG_TYPO;
		if (f->mode == POLICY_M_ENFORCE)
			g->flags |= POLICY_DG_SUPPRESS;
	}
}

static void
policy_rule_confusable(struct policy_eval *e)
{
	const struct policy *p = e->p;
	struct policy_finding *f;
	struct policy_dgroup *g;
	const char *dot, *tld;
	char *sugg_dom;
	size_t i, t;

	for (i = 0; i < e->ndg; i++) {
		g = &e->dg[i];
		if (g->flags & POLICY_DG_KNOWN ||
		    e->rc[g->first].flags & (POLICY_RC_LITERAL |
		    POLICY_RC_NODOMAIN))
			continue;
		/* typo_domain said it better, with a concrete domain. */
		if ((g->flags & POLICY_DG_SUPPRESS) || ((g->flags &
		    POLICY_DG_TYPO) && p->rules[POLICY_R_CONFUSABLE_TLD].mode ==
		    POLICY_M_AUDIT))
			continue;
		if ((dot = strrchr(g->domain, '.')) == NULL)
			continue;
		tld = dot + 1;
		for (t = 0; t < p->ntlds && strcmp(p->tlds[t].from, tld) != 0;
		    t++)
			;
		if (t == p->ntlds)
			continue;
		sugg_dom = policy_strf("%.*s.%s", (int)(dot - g->domain),
		    g->domain, p->tlds[t].to);
		f = policy_finding_new(e, POLICY_R_CONFUSABLE_TLD);
		f->detail = xstrdup(g->domain);
		f->suggestion = policy_suggest(e, g, sugg_dom);
		policy_finding_group(f, e, g);
		f->msg_en = policy_strf("%s ends in .%s, which is often typed "
		    "for .%s; did you mean %s?", g->domain, tld,
		    p->tlds[t].to, f->suggestion);
		f->msg_ja = policy_strf("%s の .%s は .%s の打ち間違いでは"
		    "ありませんか。意図した宛先は %s ではありませんか。",
		    g->domain, tld, p->tlds[t].to, f->suggestion);
		free(sugg_dom);
		if (f->mode == POLICY_M_ENFORCE)
			g->flags |= POLICY_DG_SUPPRESS;
	}
}

/* Glob match: '*' any run (dots included), '?' one octet.  Linear
 * backtracking over the last '*', so O(len(p) * len(s)) at worst. */
static bool
policy_glob(const char *p, const char *s)
{
	const char *star = NULL, *ss = NULL;

	while (*s != '\0') {
		if (*p == '*') {
			star = p++;
			ss = s;
		} else if (*p == '?' || *p == *s) {
			p++;
			s++;
		} else if (star != NULL) {
			p = star + 1;
			s = ++ss;
		} else
			return false;
	}
	while (*p == '*')
		p++;
	return *p == '\0';
}

static void
policy_rule_blocked(struct policy_eval *e)
{
	const struct policy *p = e->p;
	struct policy_finding *f;
	struct policy_dgroup *g;
	size_t i, b;

	for (i = 0; i < e->ndg; i++) {
		g = &e->dg[i];
		if (g->domain[0] == '\0')
			continue;
		for (b = 0; b < p->nblocked &&
		    !policy_glob(p->blocked[b], g->domain); b++)
			;
		if (b == p->nblocked)
			continue;
		f = policy_finding_new(e, POLICY_R_BLOCKED_DOMAIN);
		f->detail = xstrdup(p->blocked[b]);
		policy_finding_group(f, e, g);
		f->msg_en = policy_strf("%s is a blocked domain (%s); the "
		    "message is refused", g->domain, p->blocked[b]);
		f->msg_ja = policy_strf("%s は送信が禁止されているドメインです"
		    "（%s）。このメールは送信されません。", g->domain,
		    p->blocked[b]);
		if (f->mode == POLICY_M_ENFORCE)
			g->flags |= POLICY_DG_SUPPRESS;
	}
}

/* Counts the external To or Cc addresses into seen and orgs. */
static void
policy_visible_list(struct policy_eval *e, const struct header_addrlist *l,
    struct policy_set *seen, struct policy_set *orgs,
    struct policy_finding *f, size_t *next, size_t *nexempt, bool exempt)
{
	const struct policy *p = e->p;
	const char *k, *d, *org;
	unsigned fl;
	size_t i, off;
	bool added;

	for (i = 0; i < l->n; i++) {
		if ((k = policy_eval_key(e, l->v[i].addr, &fl, &off)) == NULL)
			continue;
		d = k + off;
		if ((fl & POLICY_RC_NODOMAIN) || policy_eval_internal(e, d))
			continue;
		policy_set_add(seen, k, strlen(k), 0, &added);
		if (!added)
			continue;
		if (exempt && policy_set_has(&e->hist_addrs, k)) {
			(*nexempt)++;
			continue;
		}
		(*next)++;
		org = policy_set_has(&p->providers, d) ? k : policy_org(p, d);
		policy_set_add(orgs, org, strlen(org), 0, NULL);
		policy_finding_rcpt(f, k);
	}
}

/*
 * The Bcc mistake: more than visible_max_external external addresses in
 * To and Cc, or visible_min_orgs organisations.  A free-mail address is
 * an organisation of its own.  In a reply (In-Reply-To or References),
 * people the sender has already written to are not counted: a reply-all
 * shows them nothing the thread did not.
 */
static void
policy_rule_visible(struct policy_eval *e)
{
	const struct header_msg *h = e->in->hdr;
	const struct policy_config *c = &e->p->cfg;
	struct policy_set seen, orgs;
	struct policy_finding tmp, *f;
	size_t next = 0, nexempt = 0, norgs;
	bool exempt;

	if (h == NULL)
		return;
	memset(&seen, 0, sizeof(seen));
	memset(&orgs, 0, sizeof(orgs));
	memset(&tmp, 0, sizeof(tmp));
	exempt = h->is_reply && c->visible_reply_exempt;
	policy_visible_list(e, &h->to, &seen, &orgs, &tmp, &next, &nexempt,
	    exempt);
	policy_visible_list(e, &h->cc, &seen, &orgs, &tmp, &next, &nexempt,
	    exempt);
	norgs = orgs.n;
	policy_set_clear(&seen);
	policy_set_clear(&orgs);
	if (next > c->visible_max_external || (c->visible_min_orgs > 0 &&
	    norgs >= c->visible_min_orgs)) {
		f = policy_finding_new(e, POLICY_R_VISIBLE_RECIPIENTS);
		f->rcpts = tmp.rcpts;
		f->nrcpts = tmp.nrcpts;
		f->nrcpts_total = tmp.nrcpts_total;
		f->detail = policy_strf("external=%zu organisations=%zu", next,
		    norgs);
		f->msg_en = policy_strf("%zu external recipients from %zu "
		    "organisations are in To/Cc and will see each other's "
		    "addresses; use Bcc", next, norgs);
		f->msg_ja = policy_strf("To/Cc に %zu 組織の社外の宛先が "
		    "%zu 件入っており、受信者どうしでお互いのアドレスが"
		    "見えてしまいます。Bcc を使ってください。", norgs, next);
		return;
	}
	while (tmp.nrcpts > 0)
		free(tmp.rcpts[--tmp.nrcpts]);
	free(tmp.rcpts);
}

/*
 * The address the sender probably meant: a known address with the same
 * local part at another domain (autocomplete picked the wrong person),
 * or at the same domain one with a local part within distance 2.
 */
static const char *
policy_first_suggest(const struct policy_eval *e, const struct policy_rcpt *r)
{
	size_t ll = (size_t)(r->domain - 1 - r->addr), i, kl, d, bestd = 99;
	const char *best = NULL, *k, *kd;

	for (i = 0; i < e->nhist_addr; i++) {
		k = e->hist_addr_v[i];
		if ((kd = strrchr(k, '@')) == NULL)
			continue;
		kl = (size_t)(kd - k);
		kd++;
		if (kl == ll && ll >= 2 && memcmp(k, r->addr, ll) == 0 &&
		    strcmp(kd, r->domain) != 0)
			d = 0;
		else if (strcmp(kd, r->domain) == 0 && ll >= 4 && kl >= 4)
			d = policy_osa(k, kl, r->addr, ll, 2);
		else
			continue;
		if (d <= 2 && d < bestd) {
			best = k;
			bestd = d;
		}
	}
	return best;
}

static void
policy_rule_first_time(struct policy_eval *e)
{
	const struct policy_config *c = &e->p->cfg;
	struct policy_finding *f = NULL;
	const struct policy_rcpt *r;
	const char *s;
	size_t i, n = 0;
	bool *is;

	if (e->nrc == 0)
		return;
	is = xcalloc(e->nrc, sizeof(*is));
	for (i = 0; i < e->nrc; i++) {
		r = &e->rc[i];
		if (r->flags & (POLICY_RC_KNOWN_ADDR | POLICY_RC_NODOMAIN))
			continue;
		if ((r->flags & POLICY_RC_INTERNAL) && !c->first_time_internal)
			continue;
		if (e->dg[r->group].flags & POLICY_DG_SUPPRESS)
			continue;
		is[i] = true;
		n++;
	}
	for (i = 0; i < e->nrc && n > 0; i++) {
		if (!is[i])
			continue;
		r = &e->rc[i];
		if (n > c->first_time_detail_max) {
			if (f == NULL) {
				f = policy_finding_new(e, POLICY_R_FIRST_TIME);
				f->msg_en = policy_strf("%zu recipients have "
				    "never received mail from you; check the "
				    "addresses", n);
				f->msg_ja = policy_strf("初めて送信する宛先"
				    "が %zu 件あります。宛先が正しいか確認"
				    "してください。", n);
			}
			policy_finding_rcpt(f, r->addr);
			continue;
		}
		f = policy_finding_new(e, POLICY_R_FIRST_TIME);
		policy_finding_rcpt(f, r->addr);
		f->detail = xstrdup(r->addr);
		if ((s = policy_first_suggest(e, r)) != NULL) {
			f->suggestion = xstrdup(s);
			f->msg_en = policy_strf("You have never written to %s "
			    "before; did you mean %s?", r->addr, s);
			f->msg_ja = policy_strf("%s へは初めての送信です。%s の"
			    "誤りではありませんか。", r->addr, s);
		} else {
			f->msg_en = policy_strf("You have never written to %s "
			    "before; check the address", r->addr);
			f->msg_ja = policy_strf("%s へは初めての送信です。"
			    "宛先が正しいか確認してください。", r->addr);
		}
		f = NULL;
	}
	free(is);
}

static void
policy_rule_external(struct policy_eval *e)
{
	struct policy_finding *f;
	size_t i;

	if (e->next == 0)
		return;
	f = policy_finding_new(e, POLICY_R_EXTERNAL);
	for (i = 0; i < e->nrc; i++)
		if (!(e->rc[i].flags & (POLICY_RC_INTERNAL |
		    POLICY_RC_NODOMAIN)))
			policy_finding_rcpt(f, e->rc[i].addr);
	f->msg_en = policy_strf("%zu recipients are outside the "
	    "organisation", e->next);
	f->msg_ja = policy_strf("社外の宛先が %zu 件あります。", e->next);
}

/* ASCII case-insensitive substring search (patterns may be UTF-8). */
static bool
policy_contains(const char *s, const char *pat)
{
	size_t n = strlen(s), m = strlen(pat), i;

	if (m == 0 || m > n)
		return false;
	for (i = 0; i + m <= n; i++)
		if (mh_tolower((unsigned char)s[i]) ==
		    mh_tolower((unsigned char)pat[0]) &&
		    mh_strncasecmp(s + i, pat, m) == 0)
			return true;
	return false;
}

static void
policy_rule_sensitive(struct policy_eval *e)
{
	const struct policy *p = e->p;
	const struct header_msg *h = e->in->hdr;
	struct policy_finding *f;
	const char *pat = NULL, *att = NULL;
	size_t i, k;

	if (h == NULL || p->npatterns == 0 || e->nrc == 0 ||
	    (p->cfg.sensitive_external_only && e->next == 0))
		return;
	for (k = 0; k < p->npatterns && pat == NULL; k++) {
		if (h->subject != NULL && policy_contains(h->subject,
		    p->patterns[k])) {
			pat = p->patterns[k];
			break;
		}
		for (i = 0; i < h->nattach; i++)
			if (policy_contains(h->attach[i].name,
			    p->patterns[k])) {
				pat = p->patterns[k];
				att = h->attach[i].name;
				break;
			}
	}
	if (pat == NULL)
		return;
	f = policy_finding_new(e, POLICY_R_SENSITIVE);
	f->detail = xstrdup(pat);
	for (i = 0; i < e->nrc; i++)
		if (!p->cfg.sensitive_external_only ||
		    !(e->rc[i].flags & (POLICY_RC_INTERNAL |
		    POLICY_RC_NODOMAIN)))
			policy_finding_rcpt(f, e->rc[i].addr);
	if (att == NULL) {
		f->msg_en = policy_strf("The subject contains \"%s\" and the "
		    "message goes to %zu external recipients", pat, e->next);
		f->msg_ja = policy_strf("件名に「%s」が含まれており、"
		    "社外の宛先 %zu 件に送信されます。", pat, e->next);
	} else {
		f->msg_en = policy_strf("The attachment \"%s\" contains \"%s\" "
		    "in its name and the message goes to %zu external "
		    "recipients", att, pat, e->next);
		f->msg_ja = policy_strf("添付ファイル名「%s」に「%s」が"
		    "含まれており、社外の宛先 %zu 件に送信されます。", att,
		    pat, e->next);
	}
}

/* Normalised key of a history address into buf; NULL if unusable. */
static const char *
policy_hist_key(const char *a, char *buf, size_t sz)
{
	unsigned fl;

	if (a == NULL || policy_addr_norm(a, buf, sz, &fl) == -1)
		return NULL;
	return buf;
}

/* What the burst window holds, for one kind of recipient. */
struct policy_burst_count {
	size_t	 msgs;
	size_t	 rcpts;
	size_t	 fresh;		/* distinct first-time recipients */
};

/* Adds a first-time recipient (normalised key) once to its count. */
static void
policy_burst_fresh(struct policy_eval *e, struct policy_set *fresh,
    const char *k, struct policy_burst_count *cnt)
{
	bool added;

	if (policy_set_has(fresh, k))
		return;
	k = policy_arena_dup(&e->arena, k, strlen(k));
	policy_set_add(fresh, k, strlen(k), 0, &added);
	if (added)
		cnt->fresh++;
}

/* Counts one earlier submission of the window. */
static void
policy_burst_send(struct policy_eval *e, const struct policy_send *s,
    struct policy_set *fresh, struct policy_burst_count *ext,
    struct policy_burst_count *in)
{
	char buf[POLICY_KEY_MAX];
	struct policy_burst_count *cnt;
	unsigned fl;
	size_t j, next = 0;
	int off;

	for (j = 0; j < s->nrcpts; j++) {
		if (s->rcpts[j] == NULL || (off = policy_addr_norm(s->rcpts[j],
		    buf, sizeof(buf), &fl)) == -1)
			continue;
		/* As for this message: no domain (<Postmaster>) is not
		 * external. */
		if ((fl & POLICY_RC_NODOMAIN) ||
		    policy_eval_internal(e, buf + off))
			cnt = in;
		else {
			cnt = ext;
			next++;
		}
		cnt->rcpts++;
		if ((s->known == NULL || !s->known[j]) &&
		    !policy_set_has(&e->hist_addrs, buf))
			policy_burst_fresh(e, fresh, buf, cnt);
	}
	if (next > 0)
		ext->msgs++;
	else
		in->msgs++;
}

/*
 * Sliding window over the sender's submissions, this message included:
 * a stolen account or a runaway script sprays external addresses, so
 * messages with an external recipient, external recipients and distinct
 * external first-time recipients count against max_messages,
 * max_recipients and max_first_time; internal ones (an all-hands mail)
 * only against the much higher max_internal_* limits.  A burst the sender
 * has acknowledged (a message of it with a burst finding was released,
 * or left after its hold) no longer counts: only what was submitted after
 * the last such message does, so the next ordinary message is not held
 * for it, while a script that goes on fills the window again.
 */
static void
policy_rule_burst(struct policy_eval *e)
{
	const struct policy_config *c = &e->p->cfg;
	const struct policy_history *h = e->hist;
	const struct policy_send *s;
	struct policy_burst_count ext, in;
	struct policy_finding *f;
	struct policy_set fresh;
	struct mh_buf en, ja;
	char win[32], win_en[64], win_ja[64];
	int64_t from = e->in->now - c->burst_window, cut = INT64_MIN;
	size_t i;
	bool over_ext, over_in;

	for (i = 0; i < h->nrecent; i++) {
		s = &h->recent[i];
		if (s->time > from && s->time > cut && s->released &&
		    (s->rules & (1u << POLICY_R_BURST)))
			cut = s->time;
	}
	memset(&ext, 0, sizeof(ext));
	memset(&in, 0, sizeof(in));
	memset(&fresh, 0, sizeof(fresh));
	for (i = 0; i < e->nrc; i++) {
		const struct policy_rcpt *r = &e->rc[i];
		struct policy_burst_count *cnt =
		    (r->flags & (POLICY_RC_INTERNAL | POLICY_RC_NODOMAIN)) ?
		    &in : &ext;

		cnt->rcpts++;
		if (!(r->flags & POLICY_RC_KNOWN_ADDR))
			policy_burst_fresh(e, &fresh, r->addr, cnt);
	}
	if (e->next > 0)
		ext.msgs++;
	else
		in.msgs++;
	for (i = 0; i < h->nrecent; i++) {
		s = &h->recent[i];
		/* Same second as the acknowledged one: only it is out. */
		if (s->time <= from || s->time < cut || (s->time == cut &&
		    s->released && (s->rules & (1u << POLICY_R_BURST))))
			continue;
		policy_burst_send(e, s, &fresh, &ext, &in);
	}
	policy_set_clear(&fresh);
	over_ext = ext.msgs > c->burst_max_messages ||
	    ext.rcpts > c->burst_max_recipients ||
	    ext.fresh > c->burst_max_first_time;
	over_in = in.msgs > c->burst_max_internal_messages ||
	    in.rcpts > c->burst_max_internal_recipients ||
	    in.fresh > c->burst_max_internal_first_time;
	if (!over_ext && !over_in)
		return;
	mh_fmt_duration_words(c->burst_window, false, win_en, sizeof(win_en));
	mh_fmt_duration_words(c->burst_window, true, win_ja, sizeof(win_ja));
	f = policy_finding_new(e, POLICY_R_BURST);
	for (i = 0; i < e->nrc; i++)
		policy_finding_rcpt(f, e->rc[i].addr);
	/* The first three are the external counts: the key names of the
	 * limits they are held to. */
	mh_fmt_duration(c->burst_window, win, sizeof(win));
	f->detail = policy_strf("messages=%zu recipients=%zu first_time=%zu "
	    "internal_messages=%zu internal_recipients=%zu "
	    "internal_first_time=%zu window=%s", ext.msgs, ext.rcpts,
	    ext.fresh, in.msgs, in.rcpts, in.fresh, win);
	mh_buf_init(&en, 4096);
	mh_buf_init(&ja, 4096);
	/* "in the last hour", not "in the last 1 hour". */
	(void)mh_buf_printf(&en, "Unusual volume in the last %s:",
	    strncmp(win_en, "1 ", 2) == 0 ? win_en + 2 : win_en);
	(void)mh_buf_printf(&ja, "直近 %sに", win_ja);
	if (over_ext) {
		(void)mh_buf_printf(&en, " %zu messages to %zu recipients "
		    "outside the organisation (%zu of them never written to "
		    "before)", ext.msgs, ext.rcpts, ext.fresh);
		(void)mh_buf_printf(&ja, "社外へ %zu 通（宛先 %zu 件、うち"
		    "初めての宛先 %zu 件）", ext.msgs, ext.rcpts, ext.fresh);
	}
	if (over_in) {
		(void)mh_buf_printf(&en, "%s %zu messages to %zu recipients "
		    "inside the organisation (%zu of them never written to "
		    "before)", over_ext ? ", and" : "", in.msgs, in.rcpts,
		    in.fresh);
		(void)mh_buf_printf(&ja, "%s社内へ %zu 通（宛先 %zu 件、うち"
		    "初めての宛先 %zu 件）", over_ext ? "、" : "", in.msgs,
		    in.rcpts, in.fresh);
	}
	(void)mh_buf_puts(&en, ". Someone else may be using the account, or "
	    "a program may be sending in a loop.");
	(void)mh_buf_puts(&ja, "を送信しています。アカウントが他人に使われて"
	    "いるか、プログラムが繰り返し送信している可能性があります。");
	f->msg_en = mh_buf_steal(&en, NULL);
	f->msg_ja = mh_buf_steal(&ja, NULL);
}

struct policy_order {
	int64_t		 time;
	size_t		 idx;
};

/* Newest first; among equal times, later in the array first. */
static int
policy_order_cmp(const void *a, const void *b)
{
	const struct policy_order *x = a, *y = b;

	if (x->time != y->time)
		return x->time > y->time ? -1 : 1;
	return x->idx > y->idx ? -1 : x->idx < y->idx;
}

/*
 * The PHPMailer bug: the previous messages' recipient sets are each a
 * strict subset of the next one, carryover_min_run times in a row up to
 * this message.  Only the newest submissions are compared, so the work
 * is bounded by min_run times the size of this message's recipient set.
 */
static void
policy_rule_carryover(struct policy_eval *e)
{
	const struct policy_config *c = &e->p->cfg;
	const struct policy_history *h = e->hist;
	struct policy_set sets[2], *prev = &e->rcset, *cur;
	struct policy_finding *f;
	struct policy_order *ord;
	char buf[POLICY_KEY_MAX];
	const char *k;
	size_t n = 0, i, j, run = 0, prevn = e->nrc, which = 0, carried = 0;
	int64_t from = e->in->now - c->carryover_window;
	bool ok;

	if (h->nrecent == 0 || e->nrc < 2)
		return;
	ord = xreallocarray(NULL, h->nrecent, sizeof(*ord));
	for (i = 0; i < h->nrecent; i++)
		if (h->recent[i].time > from) {
			ord[n].time = h->recent[i].time;
			ord[n].idx = i;
			n++;
		}
	qsort(ord, n, sizeof(*ord), policy_order_cmp);
	memset(sets, 0, sizeof(sets));
	for (i = 0; i < n && run < c->carryover_min_run; i++) {
		const struct policy_send *s = &h->recent[ord[i].idx];

		if (s->nrcpts == 0 || s->nrcpts >= prevn)
			break;
		cur = &sets[which];
		policy_set_clear(cur);
		ok = true;
		for (j = 0; j < s->nrcpts && ok; j++) {
			if ((k = policy_hist_key(s->rcpts[j], buf,
			    sizeof(buf))) == NULL || !policy_set_has(prev, k)) {
				ok = false;
				break;
			}
			if (!policy_set_has(cur, k)) {
				k = policy_arena_dup(&e->arena, k, strlen(k));
				policy_set_add(cur, k, strlen(k), 0, NULL);
			}
		}
		if (!ok || cur->n >= prevn)
			break;
		if (run == 0)
			carried = cur->n;
		run++;
		prevn = cur->n;
		prev = cur;
		which ^= 1;
	}
	policy_set_clear(&sets[0]);
	policy_set_clear(&sets[1]);
	free(ord);
	if (run < c->carryover_min_run)
		return;
	f = policy_finding_new(e, POLICY_R_CC_CARRYOVER);
	for (i = 0; i < e->nrc; i++)
		policy_finding_rcpt(f, e->rc[i].addr);
	f->detail = policy_strf("run=%zu carried=%zu", run, carried);
	f->msg_en = policy_strf("The last %zu messages each carried over the "
	    "recipients of the one before, and this one carries %zu of them "
	    "(%zu recipients in all); a script may not be clearing its "
	    "recipient list", run, carried, e->nrc);
	f->msg_ja = policy_strf("直前 %zu 通のメールで、宛先が前のメール"
	    "から引き継がれて増え続けています（今回は %zu 件を引き継ぎ、"
	    "計 %zu 件）。スクリプトが宛先をリセットしていない可能性が"
	    "あります。", run, carried, e->nrc);
}

static void
policy_rule_malformed(struct policy_eval *e)
{
	const struct header_msg *h = e->in->hdr;
	struct policy_finding *f = NULL;
	struct mh_buf what;
	unsigned bits = h != NULL ? h->defects & HEADER_D_SERIOUS : 0, b;
	size_t i;

	mh_buf_init(&what, 1024);
	for (b = 1; b != 0 && b <= HEADER_D_LAST; b <<= 1)
		if (bits & b)
			(void)mh_buf_printf(&what, "%s%s", what.len ? "," : "",
			    header_defect_to_str(b));
	if (bits != 0) {
		f = policy_finding_new(e, POLICY_R_MALFORMED);
		f->detail = xstrdup(what.data);
		f->msg_en = policy_strf("Some headers could not be parsed "
		    "(%s); recipients in them could not be checked",
		    what.data);
		f->msg_ja = policy_strf("ヘッダーの一部を解析できませんでした"
		    "（%s）。その中の宛先は確認できていません。", what.data);
	}
	mh_buf_clear(&what);
	for (i = 0; i < e->nrc; i++) {
		if (!(e->rc[i].flags & POLICY_RC_BADIDN) ||
		    (e->rc[i].flags & POLICY_RC_LITERAL))
			continue;
		f = policy_finding_new(e, POLICY_R_MALFORMED);
		f->detail = xstrdup(e->rc[i].domain);
		policy_finding_rcpt(f, e->rc[i].addr);
		f->msg_en = policy_strf("%s is not a valid internationalised "
		    "domain name", e->rc[i].domain);
		f->msg_ja = policy_strf("%s は正しい国際化ドメイン名では"
		    "ありません。", e->rc[i].domain);
	}
}

/* ------------------------------------------------------------------ */
/* Verdict                                                             */

/* Printable ASCII copy of s for an SMTP reply (RFC 5321 §4.2). */
static char *
policy_ascii(const char *s)
{
	size_t n = strlen(s), i, o = 0;
	char *r = xmalloc(n + 1);

	for (i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];

		if (c >= 0x20 && c < 0x7f)
			r[o++] = (char)c;
		else if (c < 0x80 || (c & 0xc0) == 0xc0)
			r[o++] = '?';
	}
	r[o] = '\0';
	return r;
}

/*
 * Applies rewrite_to_bcc, then takes the strictest enforced action and
 * the longest enforced hold, capped by hold.max.  When the header cannot
 * be rewritten the finding falls back to hold_for_release, so the
 * mistake still cannot leave by timer.
 */
static void
policy_verdict_finish(struct policy_eval *e)
{
	const struct policy *p = e->p;
	const struct policy_input *in = e->in;
	struct policy_verdict *v = e->v;
	struct policy_finding *f;
	struct mh_buf out;
	bool want_rewrite = false;
	char *s;
	size_t i;

	v->action = POLICY_A_HOLD;
	v->hold = policy_hold_default(e);
	for (i = 0; i < v->nfindings; i++) {
		f = &v->findings[i];
		if (f->mode == POLICY_M_ENFORCE &&
		    f->action == POLICY_A_REWRITE_BCC)
			want_rewrite = true;
	}
	if (want_rewrite) {
		mh_buf_init(&out, in->msg_len + 1024);
		if (in->hdr != NULL && in->msg != NULL &&
		    header_rewrite_undisclosed(in->msg, in->msg_len, in->hdr,
		    &out) == 0) {
			v->header_replaces = in->hdr->header_len;
			v->header = mh_buf_steal(&out, &v->header_len);
		} else {
			for (i = 0; i < v->nfindings; i++) {
				f = &v->findings[i];
				if (f->mode != POLICY_M_ENFORCE ||
				    f->action != POLICY_A_REWRITE_BCC)
					continue;
				f->action = POLICY_A_HOLD_FOR_RELEASE;
				f->hold = policy_rule_hold(e, f->action, 0);
				s = policy_strf("%s (the headers could not be "
				    "rewritten: held for release)", f->msg_en);
				free(f->msg_en);
				f->msg_en = s;
				s = policy_strf("%s（ヘッダーを書き換えられない"
				    "ため、送信者の確認待ちにします）",
				    f->msg_ja);
				free(f->msg_ja);
				f->msg_ja = s;
			}
		}
		mh_buf_clear(&out);
	}
	for (i = 0; i < v->nfindings; i++) {
		f = &v->findings[i];
		if (f->mode != POLICY_M_ENFORCE)
			continue;
		if (f->action > v->action)
			v->action = f->action;
		if (f->hold > v->hold)
			v->hold = f->hold;
		if (f->action == POLICY_A_REJECT && v->reject_text == NULL) {
			s = policy_strf("Message refused by policy: %s",
			    f->msg_en);
			v->reject_text = policy_ascii(s);
			free(s);
		}
	}
	if (v->hold > p->cfg.hold_max)
		v->hold = p->cfg.hold_max;
	if (v->action == POLICY_A_REJECT) {
		v->hold = 0;
		free(v->header);
		v->header = NULL;
		v->header_len = v->header_replaces = 0;
	}
}

struct policy_verdict *
policy_evaluate(const struct policy *p, const struct policy_input *in)
{
	char buf[POLICY_KEY_MAX];
	struct policy_eval e;
	const char *mf;
	unsigned fl;
	int off;

	memset(&e, 0, sizeof(e));
	e.p = p;
	e.in = in;
	e.hist = in->hist != NULL ? in->hist : &policy_no_history;
	e.v = xcalloc(1, sizeof(*e.v));

	/* The sender: MAIL FROM, else the auth user if it is an address. */
	mf = in->env != NULL ? in->env->mail_from : NULL;
	if ((mf == NULL || mf[0] == '\0') && in->env != NULL &&
	    in->env->auth_user != NULL &&
	    strchr(in->env->auth_user, '@') != NULL)
		mf = in->env->auth_user;
	e.sender = e.sender_domain = "";
	if (mf != NULL && mf[0] != '\0' &&
	    (off = policy_addr_norm(mf, buf, sizeof(buf), &fl)) != -1) {
		e.sender = policy_arena_dup(&e.arena, buf, strlen(buf));
		e.sender_domain = e.sender + off;
	}

	policy_eval_history(&e);
	policy_eval_rcpts(&e);
	if (policy_eval_on(&e, POLICY_R_BLOCKED_DOMAIN))
		policy_rule_blocked(&e);
	if (policy_eval_on(&e, POLICY_R_TYPO_DOMAIN))
		policy_rule_typo(&e);
	if (policy_eval_on(&e, POLICY_R_CONFUSABLE_TLD))
		policy_rule_confusable(&e);
	if (policy_eval_on(&e, POLICY_R_VISIBLE_RECIPIENTS))
		policy_rule_visible(&e);
	if (policy_eval_on(&e, POLICY_R_FIRST_TIME))
		policy_rule_first_time(&e);
	if (policy_eval_on(&e, POLICY_R_EXTERNAL))
		policy_rule_external(&e);
	if (policy_eval_on(&e, POLICY_R_SENSITIVE))
		policy_rule_sensitive(&e);
	if (policy_eval_on(&e, POLICY_R_BURST))
		policy_rule_burst(&e);
	if (policy_eval_on(&e, POLICY_R_CC_CARRYOVER))
		policy_rule_carryover(&e);
	if (policy_eval_on(&e, POLICY_R_MALFORMED))
		policy_rule_malformed(&e);
	policy_verdict_finish(&e);

	free(e.rc);
	free(e.dg);
	free(e.hist_addr_v);
	free(e.hist_dom_v);
	policy_set_clear(&e.rcset);
	policy_set_clear(&e.dgset);
	policy_set_clear(&e.hist_addrs);
	policy_set_clear(&e.hist_doms);
	policy_dindex_clear(&e.hist_idx);
	policy_arena_clear(&e.arena);
	return e.v;
}

void
policy_verdict_free(struct policy_verdict *v)
{
	struct policy_finding *f;
	size_t i, k;

	if (v == NULL)
		return;
	for (i = 0; i < v->nfindings; i++) {
		f = &v->findings[i];
		for (k = 0; k < f->nrcpts; k++)
			free(f->rcpts[k]);
		free(f->rcpts);
		free(f->detail);
		free(f->suggestion);
		free(f->msg_ja);
		free(f->msg_en);
	}
	free(v->findings);
	free(v->header);
	free(v->reject_text);
	free(v);
}

/* ------------------------------------------------------------------ */
/* Output                                                              */

/* A JSON string (RFC 8259 §7); invalid UTF-8 becomes U+FFFD. */
static int
policy_json_str(struct mh_buf *b, const char *s)
{
	static const char hex[] = "0123456789abcdef";
	const unsigned char *p = (const unsigned char *)s;
	char esc[7];
	size_t i = 0, n, k;
	int r = 0;

	if (s == NULL)
		return mh_buf_puts(b, "null");
	n = strlen(s);
	r |= mh_buf_append(b, "\"", 1);
	while (i < n) {
		if (p[i] == '"' || p[i] == '\\') {
			esc[0] = '\\';
			esc[1] = (char)p[i];
			r |= mh_buf_append(b, esc, 2);
			i++;
		} else if (p[i] < 0x20 || p[i] == 0x7f) {
			memcpy(esc, "\\u00", 4);
			esc[4] = hex[p[i] >> 4];
			esc[5] = hex[p[i] & 15];
			r |= mh_buf_append(b, esc, 6);
			i++;
		} else if (p[i] < 0x80) {
			for (k = i; k < n && p[k] >= 0x20 && p[k] < 0x7f &&
			    p[k] != '"' && p[k] != '\\'; k++)
				;
			r |= mh_buf_append(b, s + i, k - i);
			i = k;
		} else {
			/* Reuse the header module's notion of UTF-8. */
			unsigned char lo = 0x80, hi = 0xbf;
			size_t m = 0, j;

			if (p[i] >= 0xc2 && p[i] <= 0xdf)
				m = 2;
			else if (p[i] >= 0xe0 && p[i] <= 0xef) {
				m = 3;
				lo = p[i] == 0xe0 ? 0xa0 : 0x80;
				hi = p[i] == 0xed ? 0x9f : 0xbf;
			} else if (p[i] >= 0xf0 && p[i] <= 0xf4) {
				m = 4;
				lo = p[i] == 0xf0 ? 0x90 : 0x80;
				hi = p[i] == 0xf4 ? 0x8f : 0xbf;
			}
			if (m == 0 || i + m > n || p[i + 1] < lo ||
			    p[i + 1] > hi)
				m = 0;
			for (j = 2; m != 0 && j < m; j++)
				if (p[i + j] < 0x80 || p[i + j] > 0xbf)
					m = 0;
			if (m == 0) {
				r |= mh_buf_puts(b, "\\ufffd");
				i++;
			} else {
				r |= mh_buf_append(b, s + i, m);
				i += m;
			}
		}
	}
	r |= mh_buf_append(b, "\"", 1);
	return r != 0 ? -1 : 0;
}

int
policy_verdict_json(const struct policy_verdict *v, struct mh_buf *b)
{
	const struct policy_finding *f;
	size_t i, k;
	int r = 0;

	r |= mh_buf_printf(b, "{\"action\":\"%s\",\"hold\":%lld,"
	    "\"reject_text\":", policy_action_to_str(v->action),
	    (long long)v->hold);
	r |= policy_json_str(b, v->reject_text);
	r |= mh_buf_printf(b, ",\"rewritten\":%s,\"findings\":[",
	    v->header != NULL ? "true" : "false");
	for (i = 0; i < v->nfindings; i++) {
		f = &v->findings[i];
		r |= mh_buf_printf(b, "%s{\"rule\":\"%s\",\"severity\":\"%s\","
		    "\"mode\":\"%s\",\"action\":\"%s\",\"hold\":%lld,"
		    "\"detail\":", i ? "," : "", policy_rule_to_str(f->rule),
		    policy_severity_to_str(f->severity),
		    policy_mode_to_str(f->mode),
		    policy_action_to_str(f->action), (long long)f->hold);
		r |= policy_json_str(b, f->detail);
		r |= mh_buf_puts(b, ",\"suggestion\":");
		r |= policy_json_str(b, f->suggestion);
		r |= mh_buf_puts(b, ",\"recipients\":[");
		for (k = 0; k < f->nrcpts; k++) {
			if (k > 0)
				r |= mh_buf_puts(b, ",");
			r |= policy_json_str(b, f->rcpts[k]);
		}
		r |= mh_buf_printf(b, "],\"recipients_total\":%zu,"
		    "\"message\":{\"ja\":", f->nrcpts_total);
		r |= policy_json_str(b, f->msg_ja);
		r |= mh_buf_puts(b, ",\"en\":");
		r |= policy_json_str(b, f->msg_en);
		r |= mh_buf_puts(b, "}}");
	}
	r |= mh_buf_puts(b, "]}");
	return r != 0 ? -1 : 0;
}

int
policy_verdict_explain(const struct policy_verdict *v, struct mh_buf *b)
{
	const struct policy_finding *f;
	char d[32];
	size_t i, k;
	int r = 0;

	mh_fmt_duration(v->hold, d, sizeof(d));
	switch (v->action) {
	case POLICY_A_REJECT:
		r |= mh_buf_printf(b, "verdict: reject (%s)\n",
		    v->reject_text ? v->reject_text : "");
		break;
	case POLICY_A_HOLD_FOR_RELEASE:
		r |= mh_buf_printf(b, "verdict: hold_for_release (the sender "
		    "must release it; cancelled after %s)\n", d);
		break;
	default:
		r |= mh_buf_printf(b, "verdict: %s (held %s)\n",
		    policy_action_to_str(v->action), d);
		break;
	}
	if (v->header != NULL)
		r |= mh_buf_puts(b, "headers: rewritten (To: "
		    "undisclosed-recipients:; and no Cc)\n");
	if (v->nfindings == 0)
		r |= mh_buf_puts(b, "findings: none\n");
	for (i = 0; i < v->nfindings; i++) {
		f = &v->findings[i];
		mh_fmt_duration(f->hold, d, sizeof(d));
		r |= mh_buf_printf(b, "[%zu] %s: severity %s, %s, asks %s "
		    "(%s)\n", i + 1, policy_rule_to_str(f->rule),
		    policy_severity_to_str(f->severity),
		    policy_mode_to_str(f->mode),
		    policy_action_to_str(f->action), d);
		if (f->nrcpts_total > 0) {
			r |= mh_buf_puts(b, "    recipients:");
			for (k = 0; k < f->nrcpts; k++)
				r |= mh_buf_printf(b, " %s", f->rcpts[k]);
			if (f->nrcpts_total > f->nrcpts)
				r |= mh_buf_printf(b, " (and %zu more)",
				    f->nrcpts_total - f->nrcpts);
			r |= mh_buf_puts(b, "\n");
		}
		if (f->suggestion != NULL)
			r |= mh_buf_printf(b, "    likely intended: %s\n",
			    f->suggestion);
		r |= mh_buf_printf(b, "    en: %s\n    ja: %s\n", f->msg_en,
		    f->msg_ja);
	}
	return r != 0 ? -1 : 0;
}

const char *
policy_rule_to_str(enum policy_rule r)
{
	return (unsigned)r < POLICY_R_COUNT ? policy_rule_defaults[r].name :
	    "?";
}

const char *
policy_action_to_str(enum policy_action a)
{
	return (unsigned)a <= POLICY_A_REJECT ? policy_action_names[a] : "?";
}

const char *
policy_mode_to_str(enum policy_mode m)
{
	return (unsigned)m <= POLICY_M_AUDIT ? policy_mode_names[m] : "?";
}

const char *
policy_severity_to_str(enum policy_severity s)
{
	return (unsigned)s <= POLICY_S_CRITICAL ? policy_severity_names[s] :
	    "?";
}

int
policy_rule_parse(const char *s)
{
	size_t i;

	for (i = 0; i < POLICY_R_COUNT; i++)
		if (strcmp(s, policy_rule_defaults[i].name) == 0)
			return (int)i;
	return -1;
}

int
policy_action_parse(const char *s)
{
	size_t i;

	for (i = 0; i <= POLICY_A_REJECT; i++)
		if (strcmp(s, policy_action_names[i]) == 0)
			return (int)i;
	return -1;
}

int
policy_mode_parse(const char *s)
{
	size_t i;

	for (i = 0; i <= POLICY_M_AUDIT; i++)
		if (strcmp(s, policy_mode_names[i]) == 0)
			return (int)i;
	return -1;
}
