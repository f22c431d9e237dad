/*
 * policy.h - the verdict engine: looks at one message before it is
 * queued and says, in Japanese and English, what could be a mistake.
 *
 * The caller compiles a struct policy_config once (policy_new builds the
 * known-domain sets and the typo index), then evaluates messages: the
 * envelope, the parsed headers (header.h), a snapshot of the sender's
 * history and the time go in; a struct policy_verdict comes out.
 *
 * Pure: no I/O, no globals, no logging.  Thread safety: a compiled policy
 * is immutable and may be shared; policy_evaluate() is reentrant.
 * Ownership: policy_new() copies the config; evaluation input is borrowed
 * for the call; the verdict is the caller's (policy_verdict_free()).
 * Errors: policy_new() returns NULL with a reason; evaluation cannot fail
 * on any input (allocation failure is fatal, as with xmalloc).
 */
#ifndef MH_POLICY_POLICY_H
#define MH_POLICY_POLICY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "header.h"
#include "util.h"

enum policy_rule {
	POLICY_R_TYPO_DOMAIN = 0,	/* close to a known domain */
	POLICY_R_CONFUSABLE_TLD,	/* army.ml for army.mil */
	POLICY_R_BLOCKED_DOMAIN,	/* blocked_domains, wildcards */
	POLICY_R_VISIBLE_RECIPIENTS,	/* the Bcc mistake */
	POLICY_R_FIRST_TIME,		/* never written to before */
	POLICY_R_EXTERNAL,		/* outside internal_domains */
	POLICY_R_BURST,			/* stolen account, runaway script */
	POLICY_R_CC_CARRYOVER,		/* recipient lists that accumulate */
	POLICY_R_SENSITIVE,		/* 社外秘 ... to external recipients */
	POLICY_R_MALFORMED,		/* headers or domains we cannot check */
};
#define POLICY_R_COUNT	(POLICY_R_MALFORMED + 1)

/*
 * From mild to strict.  rewrite_to_bcc sits below hold_for_release: it
 * repairs the message and lets it leave by timer, while hold_for_release
 * stops it until a person decides, which is the stronger measure.  The
 * two combine: a message can be rewritten and also await release (the
 * verdict then carries both the rewritten header and HOLD_FOR_RELEASE).
 */
enum policy_action {
	POLICY_A_HOLD = 0,		/* the normal window */
	POLICY_A_HOLD_LONGER,		/* the rule's window */
	POLICY_A_REWRITE_BCC,		/* To/Cc moved out of the headers */
	POLICY_A_HOLD_FOR_RELEASE,	/* sender must release; expires */
	POLICY_A_REJECT,		/* 5xx at end of data */
};

enum policy_mode {
	POLICY_M_ENFORCE = 0,
	POLICY_M_AUDIT,			/* reported, changes nothing */
};

enum policy_severity {
	POLICY_S_INFO = 0,
	POLICY_S_WARNING,
	POLICY_S_CRITICAL,
};

/* Per-rule settings; policy_config_init() sets the defaults listed in
 * policy.c (policy_rule_defaults). */
struct policy_rule_config {
	bool			 enabled;
	enum policy_mode	 mode;
	enum policy_action	 action;
	/* Seconds the rule asks for; 0 = hold.default, or for
	 * hold_for_release hold.max (its expiry). */
	int64_t			 hold;
	/* Scope: the rule applies only to these senders (auth user or
	 * MAIL FROM address, case-insensitive) or sender domains
	 * (subdomains included).  Both empty: every sender. */
	const char *const	*users;
	size_t			 nusers;
	const char *const	*domains;
	size_t			 ndomains;
};

/* confusable_tlds: "ml" is often typed for "mil". */
struct policy_tld_map {
	const char	*from;
	const char	*to;
};

struct policy_config {
	int64_t			 hold_default;	/* hold.default: 300 */
	int64_t			 hold_max;	/* hold.max: 86400 */

	/* None: the sender's own domain and its subdomains, unless it is a
	 * free-mail provider (then no recipient is internal). */
	const char *const	*internal_domains;
	size_t			 ninternal;
	const char *const	*partner_domains;
	size_t			 npartner;
	bool			 builtin_providers;	/* true */
	const char *const	*provider_domains;	/* extra free-mail */
	size_t			 nprovider;

	struct policy_rule_config rules[POLICY_R_COUNT];

	/* typo_domain: shortest label length for each kind of edit. */
	size_t			 typo_min_label;	/* 4 */
	size_t			 typo_weak_min_label;	/* 6 */
	size_t			 typo_two_edit_min_label; /* 10; 0 = never */

	/* confusable_tld (default: policy_default_tlds) */
	const struct policy_tld_map *confusable_tlds;
	size_t			 nconfusable;

	/* blocked_domains: "*.ml", "example.com", "?" and "*" globs */
	const char *const	*blocked_domains;
	size_t			 nblocked;

	/* visible_recipients */
	/* 10 people of one client or an introduction between two
	 * organisations are ordinary: 11 addresses or 3 organisations. */
	size_t			 visible_max_external;	/* 10: more fires */
	size_t			 visible_min_orgs;	/* 3; 0 = off */
	bool			 visible_reply_exempt;	/* true */

	/* first_time_recipient */
	bool			 first_time_internal;	/* false */
	size_t			 first_time_detail_max;	/* 5 */

	/*
	 * burst: counted in the sliding window, this message included.
	 * External (the spray of a stolen account or a runaway script):
	 * messages with an external recipient, external recipients, and
	 * distinct external first-time recipients.  Internal ones (an
	 * all-hands mail is ordinary) only against the much higher
	 * internal limits: messages to internal recipients only, internal
	 * recipients, distinct internal first-time recipients.
	 */
	int64_t			 burst_window;		/* 3600 */
	size_t			 burst_max_messages;	/* 100 */
	size_t			 burst_max_recipients;	/* 1000 */
	size_t			 burst_max_first_time;	/* 100 */
	size_t			 burst_max_internal_messages;	/* 1000 */
	size_t			 burst_max_internal_recipients;	/* 10000 */
	size_t			 burst_max_internal_first_time;	/* 5000 */

	/* cc_carryover */
	size_t			 carryover_min_run;	/* 3 */
	int64_t			 carryover_window;	/* 86400 */

	/* sensitive_content (default: policy_default_patterns) */
	const char *const	*sensitive_patterns;
	size_t			 nsensitive;
	bool			 sensitive_external_only;	/* true */
};

/* Fills every field with its default (lists empty, except the built-in
 * confusable TLD map and sensitive patterns, which are static). */
void	policy_config_init(struct policy_config *);

struct policy;

/* Compiles cfg (copied).  NULL with a reason in err on a bad value. */
struct policy	*policy_new(const struct policy_config *cfg, char *err,
		    size_t errsz);
void		 policy_free(struct policy *);	/* NULL is a no-op */

/* The envelope as the SMTP session saw it (RFC 5321 forms). */
struct policy_envelope {
	const char		*auth_user;	/* NULL: not authenticated */
	const char		*mail_from;	/* "" for <> */
	const char *const	*rcpts;		/* "local@domain" */
	size_t			 nrcpts;
};

/* One message the sender submitted recently (any queue state). */
struct policy_send {
	int64_t			 time;		/* unix seconds */
	const char *const	*rcpts;		/* envelope recipients */
	size_t			 nrcpts;
	/* Per recipient: the sender's mail had been delivered to it before
	 * this message was submitted (it was no first-time recipient
	 * then).  NULL: none had. */
	const bool		*known;
	/* The enforced findings it got: bit (1u << enum policy_rule). */
	unsigned		 rules;
	/* A person released it (the sender's page, mailholdctl), or it
	 * left the queue after its hold (being relayed, sent, failed). */
	bool			 released;
};

/*
 * What the queue database knows, filled by the caller.  addrs: the
 * addresses this sender's mail was actually delivered to (history grows
 * when a message is sent, not when it is held or cancelled); domains:
 * the domains the organisation has delivered to; recent: this sender's
 * submissions within max(burst_window, carryover_window), in any state
 * (held messages count for burst and carryover), in any order.  A
 * message that got a burst finding and was then released (released and
 * the burst bit in rules) acknowledges that burst: burst counts only what
 * the sender submitted after it.
 */
struct policy_history {
	const char *const	*addrs;
	size_t			 naddrs;
	const char *const	*domains;
	size_t			 ndomains;
	const struct policy_send *recent;
	size_t			 nrecent;
};

/*
 * Hold windows changed at run time (mailholdctl hold set), which win over
 * the config: -1 means "the config's".  hold_default replaces
 * hold.default as the baseline of this message; rule[r] replaces rule r's
 * hold (for hold_for_release: its expiry).  hold.max still caps all.
 */
struct policy_holds {
	int64_t	 hold_default;
	int64_t	 rule[POLICY_R_COUNT];
};

struct policy_input {
	const struct policy_envelope	*env;
	const struct policy_holds	*holds;	/* NULL: the config's */
	const struct header_msg		*hdr;	/* NULL: no header rules */
	const char			*msg;	/* what hdr was parsed from */
	size_t				 msg_len;
	const struct policy_history	*hist;	/* NULL: empty */
	int64_t				 now;
};

#define POLICY_FINDING_RCPTS_MAX	100

struct policy_finding {
	enum policy_rule	 rule;
	enum policy_severity	 severity;
	enum policy_mode	 mode;
	enum policy_action	 action;	/* what the rule asks */
	int64_t			 hold;		/* seconds the rule asks */
	char			**rcpts;	/* concerned, normalised */
	size_t			 nrcpts;	/* at most ..._RCPTS_MAX */
	size_t			 nrcpts_total;
	char			*detail;	/* domain, pattern or NULL */
	char			*suggestion;	/* likely intended, or NULL */
	char			*msg_ja;	/* UTF-8 */
	char			*msg_en;
};

struct policy_verdict {
	enum policy_action	 action;	/* strictest enforced */
	int64_t			 hold;		/* seconds from submission;
						 * for hold_for_release the
						 * expiry; 0 for reject */
	struct policy_finding	*findings;	/* enforce and audit */
	size_t			 nfindings;
	/* rewrite_to_bcc: the new header block, which replaces the first
	 * header_replaces octets of the message; NULL otherwise. */
	char			*header;
	size_t			 header_len;
	size_t			 header_replaces;
	char			*reject_text;	/* printable ASCII, or NULL */
};

/*
 * Evaluates one message.  Never fails: a message that cannot be checked
 * (unparseable header, bad IDN) gets a malformed finding instead.  The
 * time is in->now (sliding windows end there).
 */
struct policy_verdict *policy_evaluate(const struct policy *,
		    const struct policy_input *in);
void		 policy_verdict_free(struct policy_verdict *);

/* The verdict as one JSON object (RFC 8259, UTF-8), appended to out
 * (mailhold check, storage).  0, or -1 when out is full. */
int	policy_verdict_json(const struct policy_verdict *, struct mh_buf *out);
/* The verdict as readable text in both languages (--explain). */
int	policy_verdict_explain(const struct policy_verdict *,
	    struct mh_buf *out);

/*
 * A domain in the form every comparison uses: ASCII lowercase, no final
 * dot, A-labels for internationalised names (libidn2, IDNA 2008 with
 * non-transitional UTS #46 mapping).  Returns 0, or -1 when the name is
 * not a valid IDN: out then holds the lowercased raw form, which the
 * policy still uses as the key, and a recipient with such a domain gets a
 * malformed_header finding.  The daemon should store history in this form
 * (the policy normalises history again anyway).
 */
int	policy_domain_normalize(const char *in, char *out, size_t outsz);

const char	*policy_rule_to_str(enum policy_rule);
const char	*policy_action_to_str(enum policy_action);
const char	*policy_mode_to_str(enum policy_mode);
const char	*policy_severity_to_str(enum policy_severity);
/* "typo_domain" ... -> enum value, or -1 (for the config loader). */
int		 policy_rule_parse(const char *);
int		 policy_action_parse(const char *);
int		 policy_mode_parse(const char *);

/* The built-in lists policy_config_init() points at. */
extern const struct policy_tld_map policy_default_tlds[];
extern const size_t policy_default_ntlds;
extern const char *const policy_default_patterns[];
extern const size_t policy_default_npatterns;

#endif
