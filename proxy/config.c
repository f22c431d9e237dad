/*
 * config.c - see config.h.
 *
 * Every key lives in config_table[]: dotted name, type, default (a string
 * that goes through the same parser as a value read from the file, so the
 * defaults are validated on every load), bounds, reload flag, offset into
 * struct config and a one-line description.  Loading, defaults, config_dump
 * and config.example.yaml (config_example_) all come from that table.
 *
 * The file is read with libyaml's event API and walked by a small
 * recursive-descent reader whose grammar is fixed by the table: the top
 * level is a mapping of sections, a section is a mapping of keys, a value
 * is a scalar or (two list types) a sequence.  Nothing is ever skipped, so
 * the walk never goes deeper than four levels whatever the input.
 *
 * Decisions worth knowing:
 *  - YAML aliases are refused where they appear (billion laughs).  Anchors
 *    are accepted and ignored, since nothing can refer to them.
 *  - One document only.  An empty file, or a document that is only "---",
 *    means all defaults; a section written as "limits:" with nothing under
 *    it is an empty section.
 *  - Errors stop at the first one and read "FILE:LINE:COL: key.path: what"
 *    (1-based; libyaml marks are 0-based).  Document-level errors (syntax,
 *    top level not a mapping, aliases, several documents) have no key path:
 *    "FILE:LINE:COL: what".  Cross-field errors point at the key that was
 *    set in the file (the later one when both were); an error about
 *    defaults alone, or about a file, has no position: "FILE: key: what".
 *  - upstream.auth_file is read at load time.  Its content never appears
 *    in a message, and the password is cleansed before it is freed.
 *  - The policy: section fills cfg->policy (struct policy_config).  Its
 *    defaults are policy_config_init()'s, not strings in the table
 *    (CONFIG_F_POLICY), so policy.c stays their one source; the example
 *    and the dump format them from a freshly initialised policy_config.
 *    Every list the policy_config points to is a copy owned by the
 *    config, the built-in TLD map and patterns included.
 *  - policy.rules is a mapping rule -> settings.  The keys every rule has
 *    (enabled, mode, action, hold, users, domains) live in
 *    config_rule_keys[]; a rule's own thresholds are ordinary table rows
 *    named "policy.rules.RULE.KEY" (CONFIG_F_RULE), reachable only
 *    through policy.rules.  The policy is compiled once, at load.
 */
#include "config.h"
#include "config_priv.h"

#include <sys/types.h>
#include <sys/socket.h>
#include <sys/stat.h>

#include <arpa/inet.h>
#include <netinet/in.h>

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <yaml.h>

#include "log.h"
#include "util.h"

#define CONFIG_FILE_MAX		(1024 * 1024)	/* config file size cap */
#define CONFIG_AUTH_FILE_MAX	4096		/* auth_file size cap */
#define CONFIG_KEY_MAX		64	/* longer keys are unknown anyway */
#define CONFIG_PATH_MAX		160	/* "key.path" buffers */
#define CONFIG_WHY_MAX		320	/* reason buffers */
#define CONFIG_DUMP_MAX		(1024 * 1024)	/* one dump/example line */
#define CONFIG_WRAP		78	/* example comment width */

#define CONFIG_KIB	1024LL
#define CONFIG_MIB	(1024LL * 1024)
#define CONFIG_GIB	(1024LL * 1024 * 1024)
#define CONFIG_MINUTE	60LL
#define CONFIG_HOUR	3600LL
#define CONFIG_DAY	86400LL

#define CONFIG_NITEMS(a)	(sizeof(a) / sizeof((a)[0]))

enum config_type {
	CONFIG_T_STRING,	/* char *; min/max bound the length */
	CONFIG_T_BOOL,		/* bool */
	CONFIG_T_INT,		/* int or size_t; digits only */
	CONFIG_T_SIZE,		/* size_t; 512, 64k, 25M, 1G */
	CONFIG_T_DURATION,	/* int64_t seconds; 0, 90s, 5m, 2h, 1d */
	CONFIG_T_ENUM,		/* int or bool: index into names */
	CONFIG_T_LISTENERS,	/* listeners/nlisteners; min/max: count */
	CONFIG_T_CIDRLIST,	/* struct config_cidr * at off, size_t at
				   noff; min/max: count */
	CONFIG_T_SENDERS,	/* senders/nsenders; min/max: users */
	CONFIG_T_STRLIST,	/* const char *const * at off, size_t at
				   noff; min/max: count; item checks */
	CONFIG_T_TLDMAP,	/* struct policy_tld_map *; min/max: count */
	CONFIG_T_RULES,		/* policy.rules: rule -> settings mapping */
};

#define CONFIG_F_OPTIONAL	0x01	/* STRING: may stay unset (NULL) */
#define CONFIG_F_DERIVED	0x02	/* STRING: unset -> computed at load */
#define CONFIG_F_SECRET		0x04	/* names a file holding a secret */
#define CONFIG_F_POLICY		0x08	/* def NULL: policy_config_init()'s */
#define CONFIG_F_RULE		0x10	/* "policy.rules.RULE.KEY" */

/* Checks a string value; returns NULL or why it is wrong (static). */
typedef const char *config_check_cb(const char *);
/* Checks one list item (NUL-terminated) and may rewrite it in place
 * (lowercase); returns NULL or why it is wrong (static). */
typedef const char *config_item_cb(char *);

struct config_entry {
	const char		*name;		/* "section.key" */
	enum config_type	 type;
	const char		*def;		/* NULL: OPTIONAL/DERIVED */
	long long		 min;
	long long		 max;		/* hard maximum */
	bool			 reloadable;	/* false: restart needed */
	size_t			 off;		/* offsetof(struct config) */
	size_t			 size;		/* sizeof that member */
	size_t			 noff;		/* STRLIST, TLDMAP: count */
	config_item_cb		*item;		/* STRLIST: item check */
	const char *const	*names;		/* ENUM: NULL-terminated */
	config_check_cb		*check;		/* STRING: extra validation */
	unsigned		 flags;		/* CONFIG_F_* */
	const char		*example;	/* shown when def is NULL */
	const char		*desc;		/* for docs and the example */
};

#define CONFIG_FIELD(m)	.off = offsetof(struct config, m),		\
			.size = sizeof(((struct config *)0)->m)
#define CONFIG_COUNT(m)	.noff = offsetof(struct config, m)
/* Offsets into one struct policy_rule_config (config_rule_keys[]). */
#define CONFIG_RFIELD(m) .off = offsetof(struct policy_rule_config, m),	\
			.size = sizeof(((struct policy_rule_config *)0)->m)
#define CONFIG_RCOUNT(m) .noff = offsetof(struct policy_rule_config, m)

#define CONFIG_DOMAINS_MAX	10000	/* entries of a domain list */
#define CONFIG_ZONEINFO		"/usr/share/zoneinfo"	/* glibc's TZDIR */
#define CONFIG_RULES_BASE	offsetof(struct config, policy.rules)

static const char *config_check_hostname(const char *);
static const char *config_check_host(const char *);
static const char *config_check_tls_list(const char *);
static const char *config_check_mode(const char *);
static const char *config_check_group(const char *);
static const char *config_item_domain(char *);
static const char *config_item_glob(char *);
static const char *config_item_text(char *);
static const char *config_item_user(char *);
static const char *config_check_ipaddr(const char *);
static const char *config_check_url(const char *);
static const char *config_check_mailbox(const char *);
static const char *config_check_timezone(const char *);

static const char *const config_bool_names[] = {
	"false", "true", "no", "yes", "off", "on", NULL
};
static const char *const config_listen_names[] = {
	[CONFIG_LISTEN_PLAIN] = "plain",
	[CONFIG_LISTEN_STARTTLS] = "starttls",
	[CONFIG_LISTEN_TLS] = "tls",
	NULL
};
static const char *const config_tls_names[] = {
	[CONFIG_TLS_NONE] = "none",
	[CONFIG_TLS_STARTTLS] = "starttls",
	[CONFIG_TLS_IMPLICIT] = "implicit",
	NULL
};
static const char *const config_bare_nl_names[] = {
	[CONFIG_BARE_NL_NORMALIZE] = "normalize",
	[CONFIG_BARE_NL_REJECT] = "reject",
	NULL
};
static const char *const config_tlsver_names[] = {
	[CONFIG_TLS_V12] = "1.2",
	[CONFIG_TLS_V13] = "1.3",
	NULL
};
static const char *const config_notify_names[] = {
	[CONFIG_NOTIFY_NEVER] = "never",
	[CONFIG_NOTIFY_ON_FINDING] = "on_finding",
	[CONFIG_NOTIFY_ALWAYS] = "always",
	NULL
};
/* In the order of enum alert_lang (proxy/alert.h). */
static const char *const config_lang_names[] = {
	"en",
	"ja",
	NULL
};
/* In the order of enum log_format (policy/log.h). */
static const char *const config_logfmt_names[] = {
	"logfmt",
	"json",
	NULL
};
static const char *const config_backend_names[] = {
	[CONFIG_AUTH_NONE] = "none",
	[CONFIG_AUTH_FILE] = "file",
	[CONFIG_AUTH_UPSTREAM] = "upstream",
	NULL
};
static const char *const config_level_names[] = {
	[LOG_LVL_DEBUG] = "debug",
	[LOG_LVL_INFO] = "info",
	[LOG_LVL_WARN] = "warn",
	[LOG_LVL_ERR] = "error",
	NULL
};
static const char *const config_target_names[] = {
	"stderr",		/* log_syslog = false */
	"syslog",		/* log_syslog = true */
	NULL
};
/* policy_mode_to_str() and policy_action_to_str(); config_table_check
 * makes sure they agree. */
static const char *const config_mode_names[] = {
	[POLICY_M_ENFORCE] = "enforce",
	[POLICY_M_AUDIT] = "audit",
	NULL
};
static const char *const config_action_names[] = {
	[POLICY_A_HOLD] = "hold",
	[POLICY_A_HOLD_LONGER] = "hold_longer",
	[POLICY_A_REWRITE_BCC] = "rewrite_to_bcc",
	[POLICY_A_HOLD_FOR_RELEASE] = "hold_for_release",
	[POLICY_A_REJECT] = "reject",
	NULL
};

/* What each rule looks for, for the example (index: enum policy_rule). */
static const char *const config_rule_desc[POLICY_R_COUNT] = {
	[POLICY_R_TYPO_DOMAIN] = "A recipient domain one or two typing "
	"errors away from a known domain (internal, partner, provider or "
	"one the organisation has written to).",
	[POLICY_R_CONFUSABLE_TLD] = "A recipient domain whose top-level "
	"label is a confusable one of a known domain (army.ml for army.mil; "
	"policy.confusable_tlds).",
	[POLICY_R_BLOCKED_DOMAIN] = "A recipient domain that matches "
	"policy.blocked_domains.",
	[POLICY_R_VISIBLE_RECIPIENTS] = "Many external addresses, or several "
	"organisations, visible in To and Cc: the Bcc mistake.",
	[POLICY_R_FIRST_TIME] = "A recipient the sender has never written "
	"to.",
	[POLICY_R_EXTERNAL] = "Any recipient outside "
	"policy.internal_domains.",
	[POLICY_R_BURST] = "Too many messages or recipients from one sender "
	"in a short time: a stolen account or a runaway script spraying "
	"external addresses.  Internal recipients count only against the "
	"much higher max_internal_* limits.",
	[POLICY_R_CC_CARRYOVER] = "Recipient lists that keep growing from one "
	"reply to the next.",
	[POLICY_R_SENSITIVE] = "A message that contains one of "
	"policy.sensitive_patterns.",
	[POLICY_R_MALFORMED] = "Headers or recipient domains that cannot be "
	"checked.",
};

static const struct config_section {
	const char	*name;
	const char	*desc;
} config_sections[] = {
	{ "server", "Inbound SMTP: names, listeners and who may submit." },
	{ "tls", "TLS for the starttls and tls listeners (OpenSSL).  The "
	    "certificate and key are read again on SIGHUP; a bad new pair "
	    "keeps the running one." },
	{ "auth", "SMTP AUTH (RFC 4954, PLAIN and LOGIN), offered only inside "
	    "TLS, and what an authenticated user may send as." },
	{ "limits", "Resource limits (RFC 5321 section 4.5.3.1).  Each has a "
	    "hard maximum." },
	{ "timeouts", "Time limits (RFC 5321 section 4.5.3.2)." },
	{ "queue", "The durable SQLite queue." },
	{ "hold", "How long messages wait before they are relayed." },
	{ "policy", "The checks run on each message before it is queued: "
	    "likely typos in recipient domains, visible recipient lists, "
	    "bursts, sensitive words.  Each rule can hold the message "
	    "longer, hold it until the sender releases it, move To and Cc to "
	    "Bcc, or refuse it.  Everything here changes on SIGHUP." },
	{ "upstream", "The real submission server messages are relayed to." },
	{ "retry", "Retries after a temporary upstream failure." },
	{ "log", "Logging." },
	{ "metrics", "Prometheus metrics at /metrics on a listener of their "
	    "own, for administrators only: loopback, or a bearer token." },
	{ "notify", "Alert mails to senders: when the policy flags a message "
	    "its sender gets a mail at once, with a link to a page where "
	    "they cancel it or send it now." },
	{ "web", "The sender's page behind the alert's link (HTTP, or HTTPS "
	    "with tls.cert_file).  Plain HTTP only on a loopback address, "
	    "behind a reverse proxy that does TLS.  Fetching the page never "
	    "changes anything (mail scanners open links); its buttons POST." },
	{ "control", "The unix control socket mailholdctl talks to (list, "
	    "show, release and cancel held messages, stats, reload).  Whoever "
	    "can connect to it can release any message: keep it 0660 and give "
	    "its group only to administrators." },
};

static const struct config_entry config_table[] = {
	/* server: */
	{ .name = "server.hostname", .type = CONFIG_T_STRING,
	  .def = NULL, .min = 1, .max = 253, .reloadable = true,
	  CONFIG_FIELD(hostname), .check = config_check_hostname,
	  .flags = CONFIG_F_DERIVED, .example = "mail.example.org",
	  .desc = "Name used in the greeting, the EHLO reply and Received: "
	  "headers.  Default: the system host name (gethostname)." },
	{ .name = "server.listeners", .type = CONFIG_T_LISTENERS,
	  .def = "[{address: \"127.0.0.1\", port: 2525, mode: plain}]",
	  .min = 1, .max = 64, .reloadable = false, CONFIG_FIELD(listeners),
	  .desc = "Where to accept SMTP: a list of {address, port, mode, "
	  "require_tls}.  address is a numeric IPv4 or IPv6 address, port 0 "
	  "picks a free port.  mode is plain, starttls (submission, 587: "
	  "STARTTLS, RFC 3207) or tls (submissions, 465: implicit TLS, RFC "
	  "8314); starttls and tls need tls.cert_file and tls.key_file.  "
	  "require_tls (starttls only, default true) refuses MAIL and AUTH "
	  "before STARTTLS." },
	{ .name = "server.user", .type = CONFIG_T_STRING, .def = NULL,
	  .min = 1, .max = 32, .reloadable = false, CONFIG_FIELD(server_user),
	  .check = config_check_group, .flags = CONFIG_F_OPTIONAL,
	  .example = "mailhold",
	  .desc = "Started as root: the user mailhold becomes after it has "
	  "bound its ports and read its keys and secret files, before it "
	  "reads anything from the network (it must exist; the queue "
	  "directory must be writable by it).  Not needed under the "
	  "systemd unit, which starts it as that user (User=).  Started as "
	  "root without it, mailhold stays root and says so." },
	{ .name = "server.group", .type = CONFIG_T_STRING, .def = NULL,
	  .min = 1, .max = 32, .reloadable = false, CONFIG_FIELD(server_group),
	  .check = config_check_group, .flags = CONFIG_F_OPTIONAL,
	  .example = "mailhold",
	  .desc = "The group for server.user (it must exist).  Default: "
	  "server.user's login group.  Supplementary groups are dropped." },
	{ .name = "server.trusted_networks", .type = CONFIG_T_CIDRLIST,
	  .def = "[\"127.0.0.0/8\", \"::1/128\"]", .min = 0, .max = 1024,
	  .reloadable = true, CONFIG_FIELD(trusted), CONFIG_COUNT(ntrusted),
	  .desc = "Client networks that may submit without AUTH, in CIDR "
	  "notation; a bare address means /32 or /128.  With auth.backend "
	  "none they are the only clients served." },
	{ .name = "server.received_header", .type = CONFIG_T_BOOL,
	  .def = "true", .reloadable = true, CONFIG_FIELD(received_header),
	  .desc = "Prepend a Received: header to each message (RFC 5321 "
	  "section 4.4)." },
	{ .name = "server.smtputf8", .type = CONFIG_T_BOOL, .def = "true",
	  .reloadable = true, CONFIG_FIELD(smtputf8),
	  .desc = "Advertise SMTPUTF8 (RFC 6531)." },
	{ .name = "server.bare_newline", .type = CONFIG_T_ENUM,
	  .def = "normalize", .reloadable = true, CONFIG_FIELD(bare_newline),
	  .names = config_bare_nl_names,
	  .desc = "A bare LF (no CR before it) inside DATA, as scripts and "
	  "curl --upload-file send: normalize stores it as CRLF (Postfix's "
	  "smtpd_forbid_bare_newline = normalize); reject refuses the "
	  "message with 550 5.5.0.  In both modes only CRLF \".\" CRLF "
	  "ends the data (no SMTP smuggling), and a bare CR is refused." },

	/* tls: */
	{ .name = "tls.cert_file", .type = CONFIG_T_STRING, .def = NULL,
	  .min = 1, .max = 4096, .reloadable = true,
	  CONFIG_FIELD(tls_cert_file), .flags = CONFIG_F_OPTIONAL,
	  .example = "/etc/mailhold/cert.pem",
	  .desc = "PEM certificate chain, server certificate first.  Needed "
	  "by starttls and tls listeners." },
	{ .name = "tls.key_file", .type = CONFIG_T_STRING, .def = NULL,
	  .min = 1, .max = 4096, .reloadable = true,
	  CONFIG_FIELD(tls_key_file), .flags = CONFIG_F_OPTIONAL,
	  .example = "/etc/mailhold/key.pem",
	  .desc = "PEM private key of the certificate; it must not be "
	  "world-readable." },
	{ .name = "tls.min_version", .type = CONFIG_T_ENUM, .def = "1.2",
	  .reloadable = true, CONFIG_FIELD(tls_min_version),
	  .names = config_tlsver_names,
	  .desc = "Oldest TLS version accepted: 1.2 or 1.3." },
	{ .name = "tls.ciphers", .type = CONFIG_T_STRING,
	  .def = "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:"
	  "ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:"
	  "ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305:"
	  "DHE-RSA-AES128-GCM-SHA256:DHE-RSA-AES256-GCM-SHA384:"
	  "DHE-RSA-CHACHA20-POLY1305", .min = 1, .max = 1024,
	  .reloadable = true, CONFIG_FIELD(tls_ciphers),
	  .check = config_check_tls_list,
	  .desc = "OpenSSL cipher list for TLS 1.2 (ciphers(1)).  The "
	  "default is Mozilla's \"intermediate\" profile: forward secrecy "
	  "and AEAD only, no CBC suites." },
	{ .name = "tls.ciphersuites", .type = CONFIG_T_STRING,
	  .def = "TLS_AES_128_GCM_SHA256:TLS_AES_256_GCM_SHA384:"
	  "TLS_CHACHA20_POLY1305_SHA256", .min = 1, .max = 1024,
	  .reloadable = true, CONFIG_FIELD(tls_ciphersuites),
	  .check = config_check_tls_list,
	  .desc = "TLS 1.3 cipher suites, colon-separated." },
	{ .name = "tls.groups", .type = CONFIG_T_STRING,
	  .def = "X25519:P-256:P-384", .min = 1, .max = 512,
	  .reloadable = true, CONFIG_FIELD(tls_groups),
	  .check = config_check_tls_list,
	  .desc = "Key exchange groups, most preferred first." },
	{ .name = "tls.session_tickets", .type = CONFIG_T_BOOL,
	  .def = "false", .reloadable = true,
	  CONFIG_FIELD(tls_session_tickets),
	  .desc = "Offer session resumption with tickets (RFC 5077, RFC 8446 "
	  "section 4.6.1).  Off: every connection does a full handshake and "
	  "no server state is kept.  On: ticket keys are random, never "
	  "written anywhere, rotated every hour, and the previous key is "
	  "still accepted for one more hour." },

	/* auth: */
	{ .name = "auth.backend", .type = CONFIG_T_ENUM, .def = "none",
	  .reloadable = false, CONFIG_FIELD(auth_backend),
	  .names = config_backend_names,
	  .desc = "Where passwords are checked: none (no AUTH; only "
	  "server.trusted_networks may submit), file (auth.password_file) or "
	  "upstream (the upstream server checks them with AUTH PLAIN)." },
	{ .name = "auth.password_file", .type = CONFIG_T_STRING, .def = NULL,
	  .min = 1, .max = 4096, .reloadable = true,
	  CONFIG_FIELD(auth_password_file), .flags = CONFIG_F_OPTIONAL,
	  .example = "/etc/mailhold/passwd",
	  .desc = "For auth.backend file: lines user:hash with crypt(3) "
	  "hashes (yescrypt or sha512-crypt; \"mailhold passwd USER\" writes "
	  "them).  Read at start and on SIGHUP; it must not be "
	  "world-readable." },
	{ .name = "auth.allow_plaintext", .type = CONFIG_T_BOOL,
	  .def = "false", .reloadable = true,
	  CONFIG_FIELD(auth_allow_plaintext),
	  .desc = "Also offer AUTH without TLS, to loopback clients only." },
	{ .name = "auth.cache_ttl", .type = CONFIG_T_DURATION, .def = "5m",
	  .min = 0, .max = CONFIG_DAY, .reloadable = true,
	  CONFIG_FIELD(auth_cache_ttl),
	  .desc = "For auth.backend upstream: how long a successful login is "
	  "remembered (as a salted scrypt hash in memory, never the "
	  "password); 0 asks the upstream every time." },
	{ .name = "auth.senders", .type = CONFIG_T_SENDERS, .def = "{}",
	  .min = 0, .max = 100000, .reloadable = true, CONFIG_FIELD(senders),
	  .desc = "Envelope senders each user may use: {user: [address or "
	  "pattern, ...]}.  Patterns: \"alice@example.com\", "
	  "\"*@sales.example.com\" (any local part), \"*\" (anything, the "
	  "null sender included).  A user not listed may use only the login "
	  "name itself, when it is an address.  Mismatch: 553 5.7.1." },
	{ .name = "auth.check_from_header", .type = CONFIG_T_BOOL,
	  .def = "false", .reloadable = true, CONFIG_FIELD(auth_check_from),
	  .desc = "Also hold the From: header of an authenticated user's "
	  "message to auth.senders (every address in it)." },
	{ .name = "auth.max_failures", .type = CONFIG_T_INT, .def = "5",
	  .min = 1, .max = 1000, .reloadable = true,
	  CONFIG_FIELD(auth_max_failures),
	  .desc = "Failed logins from one client address within "
	  "auth.failure_window; the last one closes the session (421 4.7.0) "
	  "and further AUTH gets 454 4.7.0 until the window has passed." },
	{ .name = "auth.max_user_failures", .type = CONFIG_T_INT,
	  .def = "10", .min = 1, .max = 10000, .reloadable = true,
	  CONFIG_FIELD(auth_max_user_failures),
	  .desc = "Failed logins for one user name within auth.failure_window "
	  "from all addresses; past it AUTH for that user gets 454 4.7.0." },
	{ .name = "auth.failure_window", .type = CONFIG_T_DURATION,
	  .def = "15m", .min = 1, .max = CONFIG_DAY, .reloadable = true,
	  CONFIG_FIELD(auth_failure_window),
	  .desc = "How long a failed login counts." },
	{ .name = "auth.failure_delay", .type = CONFIG_T_DURATION,
	  .def = "1s", .min = 0, .max = CONFIG_MINUTE, .reloadable = true,
	  CONFIG_FIELD(auth_failure_delay),
	  .desc = "Delay before the 535 reply to a failed login; it doubles "
	  "with each failure from the same address, up to 8 times this." },

	/* limits: */
	{ .name = "limits.max_sessions", .type = CONFIG_T_INT, .def = "1000",
	  .min = 1, .max = 100000, .reloadable = true,
	  CONFIG_FIELD(max_sessions),
	  .desc = "Concurrent SMTP sessions; more are refused with 421." },
	{ .name = "limits.max_sessions_per_ip", .type = CONFIG_T_INT,
	  .def = "50", .min = 1, .max = 100000, .reloadable = true,
	  CONFIG_FIELD(max_sessions_per_ip),
	  .desc = "Concurrent sessions from one client address." },
	{ .name = "limits.command_line", .type = CONFIG_T_SIZE, .def = "512",
	  .min = 512, .max = 64 * CONFIG_KIB, .reloadable = true,
	  CONFIG_FIELD(line_max),
	  .desc = "Longest command line in octets, CRLF included (RFC 5321 "
	  "section 4.5.3.1.4)." },
	{ .name = "limits.text_line", .type = CONFIG_T_SIZE, .def = "1000",
	  .min = 1000, .max = CONFIG_MIB, .reloadable = true,
	  CONFIG_FIELD(text_line_max),
	  .desc = "Longest line of message text in octets, CRLF included "
	  "(RFC 5321 section 4.5.3.1.6)." },
	{ .name = "limits.max_recipients", .type = CONFIG_T_INT, .def = "1000",
	  .min = 1, .max = 10000, .reloadable = true,
	  CONFIG_FIELD(max_recipients),
	  .desc = "Recipients per message; more get 452 4.5.3 and the client "
	  "sends them in another message (RFC 5321 section 4.5.3.1.8 asks "
	  "for at least 100; Postfix's smtpd_recipient_limit is 1000).  An "
	  "all-hands mail to every colleague must fit." },
	{ .name = "limits.message_size", .type = CONFIG_T_SIZE, .def = "25M",
	  .min = 64 * CONFIG_KIB, .max = CONFIG_GIB, .reloadable = true,
	  CONFIG_FIELD(message_size_max),
	  .desc = "Largest message accepted, advertised with SIZE (RFC 1870); "
	  "at least 64k (RFC 5321 section 4.5.3.1.7)." },
	{ .name = "limits.max_junk_commands", .type = CONFIG_T_INT,
	  .def = "20", .min = 1, .max = 1000, .reloadable = true,
	  CONFIG_FIELD(max_junk),
	  .desc = "Unknown or malformed commands before the session is "
	  "closed." },
	{ .name = "limits.memory_per_message", .type = CONFIG_T_SIZE,
	  .def = "256k", .min = 4 * CONFIG_KIB, .max = 64 * CONFIG_MIB,
	  .reloadable = true, CONFIG_FIELD(memory_per_message),
	  .desc = "Message bytes kept in memory; past this the message "
	  "spills to a temporary file." },

	/* timeouts: */
	{ .name = "timeouts.command", .type = CONFIG_T_DURATION, .def = "5m",
	  .min = 1, .max = CONFIG_HOUR, .reloadable = true,
	  CONFIG_FIELD(timeout_command),
	  .desc = "Wait for one whole command line (RFC 5321 section "
	  "4.5.3.2.7)." },
	{ .name = "timeouts.data", .type = CONFIG_T_DURATION, .def = "10m",
	  .min = 1, .max = CONFIG_HOUR, .reloadable = true,
	  CONFIG_FIELD(timeout_data),
	  .desc = "Wait between blocks of message text." },
	{ .name = "timeouts.session", .type = CONFIG_T_DURATION, .def = "1h",
	  .min = CONFIG_MINUTE, .max = CONFIG_DAY, .reloadable = true,
	  CONFIG_FIELD(timeout_session),
	  .desc = "Longest whole session." },
	{ .name = "timeouts.upstream", .type = CONFIG_T_DURATION, .def = "5m",
	  .min = 1, .max = CONFIG_HOUR, .reloadable = true,
	  CONFIG_FIELD(timeout_upstream),
	  .desc = "Wait for each reply of the upstream server." },

	/* queue: */
	{ .name = "queue.path", .type = CONFIG_T_STRING,
	  .def = "./var/queue.db", .min = 1, .max = 4096, .reloadable = false,
	  CONFIG_FIELD(queue_path),
	  .desc = "SQLite queue database; a relative path is relative to "
	  "the working directory at start." },
	{ .name = "queue.group_commit_max", .type = CONFIG_T_INT,
	  .def = "256", .min = 1, .max = 65536, .reloadable = true,
	  CONFIG_FIELD(group_commit_max),
	  .desc = "Most queue writes committed in one transaction." },
	{ .name = "queue.startup_check", .type = CONFIG_T_DURATION,
	  .def = "10s", .min = 0, .max = CONFIG_HOUR, .reloadable = false,
	  CONFIG_FIELD(queue_startup_check),
	  .desc = "At start, the queue file is checked with SQLite's "
	  "quick_check for at most this long (it reads every page: about "
	  "a second per GB); a damaged file stops the start.  When the time "
	  "runs out the rest is not checked and a warning is logged.  0 "
	  "skips the check.  A file that is not a mailhold queue is always "
	  "refused and left unchanged." },
	{ .name = "queue.min_free", .type = CONFIG_T_SIZE, .def = "100M",
	  .min = 0, .max = 1024 * CONFIG_GIB, .reloadable = true,
	  CONFIG_FIELD(queue_min_free),
	  .desc = "Free space to keep on the queue's file system.  Below it "
	  "new mail is refused at MAIL FROM with 452 4.3.1 (the client "
	  "tries again later) while held mail is still relayed; a MAIL FROM "
	  "whose SIZE= does not fit twice in the space above it is refused "
	  "the same way (a message is written to the WAL, then to the "
	  "database).  Mail is accepted again by itself once space is "
	  "back.  0 refuses only what does not fit at all." },
	{ .name = "queue.retention", .type = CONFIG_T_DURATION, .def = "30d",
	  .min = 0, .max = 3650 * CONFIG_DAY, .reloadable = true,
	  CONFIG_FIELD(queue_retention),
	  .desc = "How long sent, failed and cancelled messages (body, "
	  "recipients, audit rows, page link) are kept after their last "
	  "change; then they are deleted.  0 keeps them forever.  The "
	  "senders' history (who wrote to whom) is kept apart and stays." },

	/* hold: */
	{ .name = "hold.default", .type = CONFIG_T_DURATION, .def = "5m",
	  .min = 0, .max = 7 * CONFIG_DAY, .reloadable = true,
	  CONFIG_FIELD(hold_default),
	  .desc = "Hold before relaying when the policy asks for nothing "
	  "else; 0 means no hold." },
	{ .name = "hold.max", .type = CONFIG_T_DURATION, .def = "1d",
	  .min = 0, .max = 30 * CONFIG_DAY, .reloadable = true,
	  CONFIG_FIELD(hold_max),
	  .desc = "Longest hold any rule may ask for (at least hold.default), "
	  "and how long a message held for release (action "
	  "hold_for_release) waits for the sender." },

	/* policy: (defaults: policy_config_init) */
	{ .name = "policy.internal_domains", .type = CONFIG_T_STRLIST,
	  .min = 0, .max = CONFIG_DOMAINS_MAX, .reloadable = true,
	  CONFIG_FIELD(policy.internal_domains),
	  CONFIG_COUNT(policy.ninternal), .item = config_item_domain,
	  .flags = CONFIG_F_POLICY,
	  .desc = "The organisation's own domains, subdomains included; "
	  "recipients elsewhere are external.  Empty: each sender's own "
	  "domain counts as internal, with its subdomains (not for a sender "
	  "at a free-mail provider: none of its users are colleagues)." },
	{ .name = "policy.partner_domains", .type = CONFIG_T_STRLIST,
	  .min = 0, .max = CONFIG_DOMAINS_MAX, .reloadable = true,
	  CONFIG_FIELD(policy.partner_domains),
	  CONFIG_COUNT(policy.npartner), .item = config_item_domain,
	  .flags = CONFIG_F_POLICY,
	  .desc = "Domains of organisations written to often; they are known "
	  "domains, so a near miss of one is a likely typo." },
	{ .name = "policy.builtin_providers", .type = CONFIG_T_BOOL,
	  .reloadable = true, CONFIG_FIELD(policy.builtin_providers),
	  .flags = CONFIG_F_POLICY,
	  .desc = "Use the built-in list of free-mail providers (gmail.com, "
	  "outlook.com, yahoo.co.jp, ...): known domains where each address "
	  "is its own organisation." },
	{ .name = "policy.provider_domains", .type = CONFIG_T_STRLIST,
	  .min = 0, .max = CONFIG_DOMAINS_MAX, .reloadable = true,
	  CONFIG_FIELD(policy.provider_domains),
	  CONFIG_COUNT(policy.nprovider), .item = config_item_domain,
	  .flags = CONFIG_F_POLICY,
	  .desc = "More free-mail provider domains." },
	{ .name = "policy.blocked_domains", .type = CONFIG_T_STRLIST,
	  .min = 0, .max = CONFIG_DOMAINS_MAX, .reloadable = true,
	  CONFIG_FIELD(policy.blocked_domains),
	  CONFIG_COUNT(policy.nblocked), .item = config_item_glob,
	  .flags = CONFIG_F_POLICY,
	  .desc = "Recipient domains for the blocked_domains rule: names or "
	  "patterns where * matches any characters and ? one, such as "
	  "\"*.example.invalid\" (quote patterns that start with *)." },
	{ .name = "policy.confusable_tlds", .type = CONFIG_T_TLDMAP,
	  .min = 0, .max = 1000, .reloadable = true,
	  CONFIG_FIELD(policy.confusable_tlds),
	  CONFIG_COUNT(policy.nconfusable), .flags = CONFIG_F_POLICY,
	  .desc = "For the confusable_tld rule: {typed: intended} top-level "
	  "labels, such as ml for mil.  Setting it replaces the built-in "
	  "list shown here." },
	{ .name = "policy.sensitive_patterns", .type = CONFIG_T_STRLIST,
	  .min = 0, .max = 1000, .reloadable = true,
	  CONFIG_FIELD(policy.sensitive_patterns),
	  CONFIG_COUNT(policy.nsensitive), .item = config_item_text,
	  .flags = CONFIG_F_POLICY,
	  .desc = "For the sensitive_content rule: words or phrases (UTF-8, "
	  "1 to 256 bytes).  Setting it replaces the built-in list shown "
	  "here." },
	{ .name = "policy.rules", .type = CONFIG_T_RULES, .reloadable = true,
	  CONFIG_FIELD(policy.rules), .flags = CONFIG_F_POLICY,
	  .desc = "What each rule does: {rule: {key: value}}; keys left out "
	  "keep the defaults shown.  Every rule has enabled (true or false); "
	  "mode (enforce, or audit: report only); action (hold: the normal "
	  "hold.default; hold_longer: the rule's hold; rewrite_to_bcc, "
	  "visible_recipients only: move To and Cc to Bcc; hold_for_release: "
	  "wait for the sender's release, at most hold.max; reject: 5xx); "
	  "hold (0 to hold.max, 0: hold.default, or hold.max for "
	  "hold_for_release); users and domains (the rule applies only to "
	  "these senders, auth user or MAIL FROM address, or sender domains "
	  "with their subdomains; both empty: every sender)." },
	{ .name = "policy.rules.typo_domain.min_label", .type = CONFIG_T_INT,
	  .min = 1, .max = 63, .reloadable = true,
	  CONFIG_FIELD(policy.typo_min_label),
	  .flags = CONFIG_F_POLICY | CONFIG_F_RULE,
	  .desc = "Shortest label in which one transposition or deletion is "
	  "a typo." },
	{ .name = "policy.rules.typo_domain.weak_min_label",
	  .type = CONFIG_T_INT, .min = 1, .max = 63, .reloadable = true,
	  CONFIG_FIELD(policy.typo_weak_min_label),
	  .flags = CONFIG_F_POLICY | CONFIG_F_RULE,
	  .desc = "Shortest label in which one substitution or insertion is "
	  "a typo." },
	{ .name = "policy.rules.typo_domain.two_edit_min_label",
	  .type = CONFIG_T_INT, .min = 0, .max = 63, .reloadable = true,
	  CONFIG_FIELD(policy.typo_two_edit_min_label),
	  .flags = CONFIG_F_POLICY | CONFIG_F_RULE,
	  .desc = "Shortest label in which two edits are a typo; 0: never." },
	{ .name = "policy.rules.visible_recipients.max_external",
	  .type = CONFIG_T_INT, .min = 0, .max = 10000, .reloadable = true,
	  CONFIG_FIELD(policy.visible_max_external),
	  .flags = CONFIG_F_POLICY | CONFIG_F_RULE,
	  .desc = "More external addresses than this in To and Cc fire the "
	  "rule." },
	{ .name = "policy.rules.visible_recipients.min_orgs",
	  .type = CONFIG_T_INT, .min = 0, .max = 10000, .reloadable = true,
	  CONFIG_FIELD(policy.visible_min_orgs),
	  .flags = CONFIG_F_POLICY | CONFIG_F_RULE,
	  .desc = "This many external organisations in To and Cc fire the "
	  "rule (each free-mail address is one); 0: off." },
	{ .name = "policy.rules.visible_recipients.reply_exempt",
	  .type = CONFIG_T_BOOL, .reloadable = true,
	  CONFIG_FIELD(policy.visible_reply_exempt),
	  .flags = CONFIG_F_POLICY | CONFIG_F_RULE,
	  .desc = "A reply keeps the visible recipients it was sent to." },
	{ .name = "policy.rules.first_time_recipient.internal",
	  .type = CONFIG_T_BOOL, .reloadable = true,
	  CONFIG_FIELD(policy.first_time_internal),
	  .flags = CONFIG_F_POLICY | CONFIG_F_RULE,
	  .desc = "Also count internal recipients." },
	{ .name = "policy.rules.first_time_recipient.detail_max",
	  .type = CONFIG_T_INT, .min = 0, .max = POLICY_FINDING_RCPTS_MAX,
	  .reloadable = true, CONFIG_FIELD(policy.first_time_detail_max),
	  .flags = CONFIG_F_POLICY | CONFIG_F_RULE,
	  .desc = "Most new recipients named in the finding." },
	{ .name = "policy.rules.burst.window", .type = CONFIG_T_DURATION,
	  .min = 1, .max = 7 * CONFIG_DAY, .reloadable = true,
	  CONFIG_FIELD(policy.burst_window),
	  .flags = CONFIG_F_POLICY | CONFIG_F_RULE,
	  .desc = "The sliding window the limits below count in, the new "
	  "message included.  Once the sender has released a message held "
	  "for a burst (or it left after its hold), what was sent up to it "
	  "no longer counts." },
	{ .name = "policy.rules.burst.max_messages", .type = CONFIG_T_INT,
	  .min = 1, .max = 1000000, .reloadable = true,
	  CONFIG_FIELD(policy.burst_max_messages),
	  .flags = CONFIG_F_POLICY | CONFIG_F_RULE,
	  .desc = "Messages with an external recipient from one sender "
	  "within the window." },
	{ .name = "policy.rules.burst.max_recipients", .type = CONFIG_T_INT,
	  .min = 1, .max = 10000000, .reloadable = true,
	  CONFIG_FIELD(policy.burst_max_recipients),
	  .flags = CONFIG_F_POLICY | CONFIG_F_RULE,
	  .desc = "External recipients from one sender within the window." },
	{ .name = "policy.rules.burst.max_first_time", .type = CONFIG_T_INT,
	  .min = 1, .max = 10000000, .reloadable = true,
	  CONFIG_FIELD(policy.burst_max_first_time),
	  .flags = CONFIG_F_POLICY | CONFIG_F_RULE,
	  .desc = "Distinct external recipients the sender had never "
	  "written to, within the window." },
	{ .name = "policy.rules.burst.max_internal_messages",
	  .type = CONFIG_T_INT, .min = 1, .max = 10000000,
	  .reloadable = true,
	  CONFIG_FIELD(policy.burst_max_internal_messages),
	  .flags = CONFIG_F_POLICY | CONFIG_F_RULE,
	  .desc = "Messages to internal recipients only, within the "
	  "window." },
	{ .name = "policy.rules.burst.max_internal_recipients",
	  .type = CONFIG_T_INT, .min = 1, .max = 100000000,
	  .reloadable = true,
	  CONFIG_FIELD(policy.burst_max_internal_recipients),
	  .flags = CONFIG_F_POLICY | CONFIG_F_RULE,
	  .desc = "Internal recipients within the window (an all-hands "
	  "mail to every colleague is ordinary)." },
	{ .name = "policy.rules.burst.max_internal_first_time",
	  .type = CONFIG_T_INT, .min = 1, .max = 100000000,
	  .reloadable = true,
	  CONFIG_FIELD(policy.burst_max_internal_first_time),
	  .flags = CONFIG_F_POLICY | CONFIG_F_RULE,
	  .desc = "Distinct internal recipients the sender had never "
	  "written to, within the window." },
	{ .name = "policy.rules.cc_carryover.min_run", .type = CONFIG_T_INT,
	  .min = 1, .max = 1000, .reloadable = true,
	  CONFIG_FIELD(policy.carryover_min_run),
	  .flags = CONFIG_F_POLICY | CONFIG_F_RULE,
	  .desc = "Messages in a row whose recipient lists grow before the "
	  "rule fires." },
	{ .name = "policy.rules.cc_carryover.window", .type = CONFIG_T_DURATION,
	  .min = 1, .max = 30 * CONFIG_DAY, .reloadable = true,
	  CONFIG_FIELD(policy.carryover_window),
	  .flags = CONFIG_F_POLICY | CONFIG_F_RULE,
	  .desc = "How far back those messages are looked for." },
	{ .name = "policy.rules.sensitive_content.external_only",
	  .type = CONFIG_T_BOOL, .reloadable = true,
	  CONFIG_FIELD(policy.sensitive_external_only),
	  .flags = CONFIG_F_POLICY | CONFIG_F_RULE,
	  .desc = "Only messages with an external recipient." },

	/* upstream: */
	{ .name = "upstream.host", .type = CONFIG_T_STRING,
	  .def = "127.0.0.1", .min = 1, .max = 253, .reloadable = true,
	  CONFIG_FIELD(up_host), .check = config_check_host,
	  .desc = "Submission server to relay to: a host name or a numeric "
	  "address." },
	{ .name = "upstream.port", .type = CONFIG_T_INT, .def = "587",
	  .min = 1, .max = 65535, .reloadable = true, CONFIG_FIELD(up_port),
	  .desc = "Port of the upstream server." },
	{ .name = "upstream.tls", .type = CONFIG_T_ENUM, .def = "starttls",
	  .reloadable = true, CONFIG_FIELD(up_tls), .names = config_tls_names,
	  .desc = "TLS to the upstream: none, starttls, or implicit (port "
	  "465)." },
	{ .name = "upstream.verify", .type = CONFIG_T_BOOL, .def = "true",
	  .reloadable = true, CONFIG_FIELD(up_verify),
	  .desc = "Verify the upstream certificate and host name." },
	{ .name = "upstream.ca_file", .type = CONFIG_T_STRING, .def = NULL,
	  .min = 1, .max = 4096, .reloadable = true, CONFIG_FIELD(up_ca_file),
	  .flags = CONFIG_F_OPTIONAL,
	  .example = "/etc/ssl/certs/ca-certificates.crt",
	  .desc = "CA bundle used to verify the upstream.  Default: the "
	  "system store." },
	{ .name = "upstream.auth_file", .type = CONFIG_T_STRING, .def = NULL,
	  .min = 1, .max = 4096, .reloadable = false,
	  CONFIG_FIELD(up_auth_file),
	  .flags = CONFIG_F_OPTIONAL | CONFIG_F_SECRET,
	  .example = "/etc/mailhold/upstream-auth",
	  .desc = "File holding one line user:password for AUTH to the "
	  "upstream, read at start; it must not be world-readable, and "
	  "upstream.tls none is refused unless the host is loopback.  "
	  "Default: no AUTH." },
	{ .name = "upstream.helo_name", .type = CONFIG_T_STRING, .def = NULL,
	  .min = 1, .max = 253, .reloadable = true, CONFIG_FIELD(up_helo),
	  .check = config_check_hostname, .flags = CONFIG_F_DERIVED,
	  .example = "mail.example.org",
	  .desc = "Name sent in EHLO to the upstream.  Default: "
	  "server.hostname." },
	{ .name = "upstream.max_connections", .type = CONFIG_T_INT,
	  .def = "4", .min = 1, .max = 256, .reloadable = true,
	  CONFIG_FIELD(up_max_connections),
	  .desc = "Concurrent connections to the upstream." },
	{ .name = "upstream.messages_per_connection", .type = CONFIG_T_INT,
	  .def = "100", .min = 1, .max = 100000, .reloadable = true,
	  CONFIG_FIELD(up_max_per_connection),
	  .desc = "Messages relayed over one connection before it is "
	  "closed." },
	{ .name = "upstream.probe_interval", .type = CONFIG_T_DURATION,
	  .def = "10m", .min = 0, .max = CONFIG_DAY, .reloadable = true,
	  CONFIG_FIELD(up_probe_interval),
	  .desc = "mailhold refuses at MAIL FROM / RCPT TO an address the "
	  "upstream cannot carry (UTF-8 addresses need its SMTPUTF8), so it "
	  "must know what the upstream offers.  Every relay connection "
	  "learns that from the upstream's EHLO reply; when none has for "
	  "this long, mailhold connects only to ask (EHLO, QUIT), at start "
	  "too, and every minute while the upstream cannot be reached.  "
	  "0: never ask, learn from relay connections only (UTF-8 addresses "
	  "then get 451 until the first one)." },

	/* retry: */
	{ .name = "retry.initial", .type = CONFIG_T_DURATION, .def = "1m",
	  .min = 1, .max = CONFIG_DAY, .reloadable = true,
	  CONFIG_FIELD(retry_initial),
	  .desc = "First retry delay; it doubles up to retry.max." },
	{ .name = "retry.max", .type = CONFIG_T_DURATION, .def = "1h",
	  .min = 1, .max = 7 * CONFIG_DAY, .reloadable = true,
	  CONFIG_FIELD(retry_max),
	  .desc = "Longest retry delay." },
	{ .name = "retry.give_up", .type = CONFIG_T_DURATION, .def = "5d",
	  .min = CONFIG_MINUTE, .max = 30 * CONFIG_DAY, .reloadable = true,
	  CONFIG_FIELD(retry_give_up),
	  .desc = "Age after which a message that still fails is marked "
	  "failed and the sender told (RFC 5321 section 4.5.4.1: 4-5 days)." },

	/* log: */
	{ .name = "log.level", .type = CONFIG_T_ENUM, .def = "info",
	  .reloadable = true, CONFIG_FIELD(log_level),
	  .names = config_level_names,
	  .desc = "Least severe level logged: debug, info, warn or error." },
	{ .name = "log.target", .type = CONFIG_T_ENUM, .def = "stderr",
	  .reloadable = false, CONFIG_FIELD(log_syslog),
	  .names = config_target_names,
	  .desc = "Where log lines go: stderr or syslog (facility mail)." },

	{ .name = "log.format", .type = CONFIG_T_ENUM, .def = "logfmt",
	  .reloadable = true, CONFIG_FIELD(log_format),
	  .names = config_logfmt_names,
	  .desc = "Log line format: logfmt (key=value) or json (one object "
	  "per line)." },

	/* metrics: */
	{ .name = "metrics.enabled", .type = CONFIG_T_BOOL, .def = "true",
	  .reloadable = false, CONFIG_FIELD(metrics_enabled),
	  .desc = "Serve /metrics (Prometheus text format)." },
	{ .name = "metrics.address", .type = CONFIG_T_STRING,
	  .def = "127.0.0.1", .min = 1, .max = 64, .reloadable = false,
	  CONFIG_FIELD(metrics_address), .check = config_check_ipaddr,
	  .desc = "Numeric address of the metrics listener." },
	{ .name = "metrics.port", .type = CONFIG_T_INT, .def = "9425",
	  .min = 0, .max = 65535, .reloadable = false,
	  CONFIG_FIELD(metrics_port),
	  .desc = "Port of the metrics listener (0: any free port)." },
	{ .name = "metrics.token_file", .type = CONFIG_T_STRING, .def = NULL,
	  .min = 1, .max = 4096, .reloadable = true,
	  CONFIG_FIELD(metrics_token_file),
	  .flags = CONFIG_F_OPTIONAL | CONFIG_F_SECRET,
	  .example = "/etc/mailhold/metrics-token",
	  .desc = "File holding the bearer token scrapers must send "
	  "(Authorization: Bearer ...); it must not be world-readable.  "
	  "Required when metrics.address is not loopback." },

	/* notify: */
	{ .name = "notify.alerts", .type = CONFIG_T_ENUM, .def = "on_finding",
	  .reloadable = true, CONFIG_FIELD(notify_alerts),
	  .names = config_notify_names,
	  .desc = "When the sender gets an alert: on_finding (an enforced "
	  "policy finding), always (every message accepted), or never." },
	{ .name = "notify.language", .type = CONFIG_T_ENUM, .def = "en",
	  .reloadable = true, CONFIG_FIELD(notify_lang),
	  .names = config_lang_names,
	  .desc = "Language of alerts and notices: en or ja.  The page "
	  "follows the browser's Accept-Language first." },
	{ .name = "notify.users_ja", .type = CONFIG_T_STRLIST, .def = "[]",
	  .min = 0, .max = 100000, .reloadable = true,
	  CONFIG_FIELD(notify_users_ja), CONFIG_COUNT(nnotify_users_ja),
	  .item = config_item_user,
	  .desc = "Users (login or sender address) who get Japanese mails "
	  "whatever notify.language says." },
	{ .name = "notify.users_en", .type = CONFIG_T_STRLIST, .def = "[]",
	  .min = 0, .max = 100000, .reloadable = true,
	  CONFIG_FIELD(notify_users_en), CONFIG_COUNT(nnotify_users_en),
	  .item = config_item_user,
	  .desc = "Users who get English mails whatever notify.language "
	  "says." },
	{ .name = "notify.timezone", .type = CONFIG_T_STRING, .def = NULL,
	  .min = 1, .max = 64, .reloadable = false,
	  CONFIG_FIELD(notify_timezone), .check = config_check_timezone,
	  .flags = CONFIG_F_OPTIONAL, .example = "Asia/Tokyo",
	  .desc = "Time zone of every time shown to people (alerts, the "
	  "page, the Received: date): an IANA name from "
	  CONFIG_ZONEINFO ", e.g. Asia/Tokyo.  Default: the system's "
	  "(TZ, else /etc/localtime)." },
	{ .name = "notify.from", .type = CONFIG_T_STRING, .def = NULL,
	  .min = 3, .max = 254, .reloadable = true, CONFIG_FIELD(notify_from),
	  .check = config_check_mailbox, .flags = CONFIG_F_DERIVED,
	  .example = "mailhold@example.org",
	  .desc = "From: address of alerts (their envelope sender is empty, "
	  "so they never bounce).  Default: mailhold@server.hostname." },
	{ .name = "notify.admin", .type = CONFIG_T_STRING, .def = NULL,
	  .min = 3, .max = 254, .reloadable = true, CONFIG_FIELD(notify_admin),
	  .check = config_check_mailbox, .flags = CONFIG_F_DERIVED,
	  .example = "postmaster@example.org",
	  .desc = "Administrator's address (plain ASCII).  A failure notice "
	  "for a sender whose UTF-8 address the upstream cannot carry "
	  "(no SMTPUTF8) goes here instead, so that someone is told.  "
	  "Default: postmaster@server.hostname." },

	/* web: */
	{ .name = "web.enabled", .type = CONFIG_T_BOOL, .def = "true",
	  .reloadable = false, CONFIG_FIELD(web_enabled),
	  .desc = "Serve the sender's page.  Off: alerts carry no link and "
	  "only an administrator can cancel or release (mailholdctl)." },
	{ .name = "web.address", .type = CONFIG_T_STRING,
	  .def = "127.0.0.1", .min = 1, .max = 64, .reloadable = false,
	  CONFIG_FIELD(web_address), .check = config_check_ipaddr,
	  .desc = "Numeric address the page listens on." },
	{ .name = "web.port", .type = CONFIG_T_INT, .def = "8025",
	  .min = 0, .max = 65535, .reloadable = false, CONFIG_FIELD(web_port),
	  .desc = "Port the page listens on (0: any free port)." },
	{ .name = "web.tls", .type = CONFIG_T_BOOL, .def = "false",
	  .reloadable = false, CONFIG_FIELD(web_tls),
	  .desc = "Serve HTTPS with tls.cert_file and tls.key_file.  false "
	  "is allowed only on a loopback web.address." },
	{ .name = "web.base_url", .type = CONFIG_T_STRING, .def = NULL,
	  .min = 8, .max = 200, .reloadable = true, CONFIG_FIELD(web_base_url),
	  .check = config_check_url, .flags = CONFIG_F_DERIVED,
	  .example = "https://mailhold.example.org",
	  .desc = "The page's address as senders reach it, used in alert "
	  "links: https://host[:port], no path (https:// unless only local "
	  "users read them).  Default: built from web.tls, web.address and "
	  "web.port, which on loopback only works on this machine." },
	{ .name = "web.max_connections", .type = CONFIG_T_INT, .def = "256",
	  .min = 1, .max = 100000, .reloadable = true,
	  CONFIG_FIELD(web_max_connections),
	  .desc = "Concurrent connections to the page; more are closed at "
	  "once." },
	{ .name = "web.timeout", .type = CONFIG_T_DURATION, .def = "30s",
	  .min = 1, .max = CONFIG_HOUR, .reloadable = false,
	  CONFIG_FIELD(web_timeout),
	  .desc = "Time for one request to arrive and its answer to go." },
	{ .name = "web.max_failures", .type = CONFIG_T_INT, .def = "20",
	  .min = 1, .max = 100000, .reloadable = true,
	  CONFIG_FIELD(web_max_failures),
	  .desc = "Look-ups of unknown links from one client address within "
	  "web.failure_window; past it the page answers 429." },
	{ .name = "web.failure_window", .type = CONFIG_T_DURATION,
	  .def = "10m", .min = 1, .max = CONFIG_DAY, .reloadable = true,
	  CONFIG_FIELD(web_failure_window),
	  .desc = "How long a failed look-up counts." },
	{ .name = "web.trusted_proxies", .type = CONFIG_T_CIDRLIST,
	  .def = "[]", .min = 0, .max = 64, .reloadable = true,
	  CONFIG_FIELD(web_proxies), CONFIG_COUNT(nweb_proxies),
	  .desc = "Reverse proxies whose X-Forwarded-For (its last address) "
	  "names the client, for the audit rows and the failure limit." },

	/* control: */
	{ .name = "control.socket", .type = CONFIG_T_STRING,
	  .def = "./var/mailhold.sock", .min = 1, .max = 107,
	  .reloadable = false, CONFIG_FIELD(control_socket),
	  .desc = "Path of the control socket; a relative path is relative "
	  "to the working directory at start.  A stale socket file nobody "
	  "listens on is removed at start." },
	{ .name = "control.mode", .type = CONFIG_T_STRING, .def = "0660",
	  .min = 1, .max = 4, .reloadable = false,
	  CONFIG_FIELD(control_mode), .check = config_check_mode,
	  .desc = "Permissions of the control socket, in octal (at most "
	  "0770: never for others)." },
	{ .name = "control.group", .type = CONFIG_T_STRING, .def = NULL,
	  .min = 1, .max = 32, .reloadable = false,
	  CONFIG_FIELD(control_group), .check = config_check_group,
	  .flags = CONFIG_F_OPTIONAL, .example = "mailhold-admin",
	  .desc = "Group the control socket is given (it must exist).  "
	  "Default: the daemon's own group." },
};

#define CONFIG_NENTRIES		CONFIG_NITEMS(config_table)
#define CONFIG_NSECTIONS	CONFIG_NITEMS(config_sections)

/* Cross-field rules: the value of lo must not exceed the value of hi. */
static const struct config_order {
	const char	*lo;
	const char	*hi;
} config_orders[] = {
	{ "limits.text_line", "limits.message_size" },
	{ "limits.max_sessions_per_ip", "limits.max_sessions" },
	{ "timeouts.command", "timeouts.session" },
	{ "timeouts.data", "timeouts.session" },
	{ "retry.initial", "retry.max" },
	{ "retry.max", "retry.give_up" },
	{ "hold.default", "hold.max" },
};

/*
 * The keys every rule has, below "policy.rules.RULE"; offsets are into
 * one struct policy_rule_config.  Defaults: policy_config_init().
 */
static const struct config_entry config_rule_keys[] = {
	{ .name = "enabled", .type = CONFIG_T_BOOL,
	  CONFIG_RFIELD(enabled), .desc = "Run the rule." },
	{ .name = "mode", .type = CONFIG_T_ENUM, .names = config_mode_names,
	  CONFIG_RFIELD(mode), .desc = "enforce, or audit (report only)." },
	{ .name = "action", .type = CONFIG_T_ENUM,
	  .names = config_action_names, CONFIG_RFIELD(action),
	  .desc = "What a finding does to the message." },
	{ .name = "hold", .type = CONFIG_T_DURATION, .min = 0,
	  .max = 30 * CONFIG_DAY, CONFIG_RFIELD(hold),
	  .desc = "Seconds the rule asks for (at most hold.max)." },
	{ .name = "users", .type = CONFIG_T_STRLIST, .min = 0,
	  .max = CONFIG_DOMAINS_MAX, CONFIG_RFIELD(users),
	  CONFIG_RCOUNT(nusers), .item = config_item_user,
	  .desc = "Senders the rule applies to." },
	{ .name = "domains", .type = CONFIG_T_STRLIST, .min = 0,
	  .max = CONFIG_DOMAINS_MAX, CONFIG_RFIELD(domains),
	  CONFIG_RCOUNT(ndomains), .item = config_item_domain,
	  .desc = "Sender domains the rule applies to." },
};
#define CONFIG_NRULEKEYS	CONFIG_NITEMS(config_rule_keys)

/* One load: the parser, where errors go, and which keys the file set. */
struct config_ctx {
	yaml_parser_t	 parser;
	bool		 parser_ok;
	yaml_event_t	 ev;		/* valid until the next config_next */
	bool		 have_ev;
	const char	*name;		/* for messages */
	const char	*data;
	size_t		 len;
	char		*err;
	size_t		 errsz;
	struct config	*cfg;
	bool		 seen[CONFIG_NENTRIES];
	yaml_mark_t	 mark[CONFIG_NENTRIES];	/* where each value starts */
	bool		 seen_section[CONFIG_NSECTIONS];
	yaml_mark_t	 section_mark[CONFIG_NSECTIONS];
	/* policy.rules: which rules and common rule keys the file set. */
	bool		 seen_rule[POLICY_R_COUNT];
	bool		 seen_rkey[POLICY_R_COUNT][CONFIG_NRULEKEYS];
	yaml_mark_t	 rkey_mark[POLICY_R_COUNT][CONFIG_NRULEKEYS];
};

static void	config_free(struct config *);
static int	config_parse_value(struct config_ctx *,
		    const struct config_entry *);
static int	config_rule_key_find(const char *, size_t);

/*
 * Error reporting.
 */

static void config_errf(char *, size_t, const char *, ...) MH_PRINTF(3, 4);

static void
config_errf(char *buf, size_t sz, const char *fmt, ...)
{
	va_list ap;

	if (buf == NULL || sz == 0)
		return;
	va_start(ap, fmt);
	/* A truncated message is still worth having. */
	(void)mh_vsnprintf(buf, sz, fmt, ap);
	va_end(ap);
}

static void config_err(struct config_ctx *, const yaml_mark_t *,
    const char *, const char *, ...) MH_PRINTF(4, 5);

/* "NAME:LINE:COL: PATH: MSG"; mark and path may each be NULL. */
static void
config_err(struct config_ctx *ctx, const yaml_mark_t *mark, const char *path,
    const char *fmt, ...)
{
	char msg[CONFIG_WHY_MAX + CONFIG_PATH_MAX], pos[48];
	va_list ap;

	va_start(ap, fmt);
	(void)mh_vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	pos[0] = '\0';
	if (mark != NULL)
		(void)mh_snprintf(pos, sizeof(pos), ":%zu:%zu",
		    mark->line + 1, mark->column + 1);
	if (path != NULL && path[0] != '\0')
		config_errf(ctx->err, ctx->errsz, "%s%s: %s: %s", ctx->name,
		    pos, path, msg);
	else
		config_errf(ctx->err, ctx->errsz, "%s%s: %s", ctx->name, pos,
		    msg);
}

/* Turns a byte offset into a 0-based mark, counting UTF-8 characters. */
static yaml_mark_t
config_offset_mark(const struct config_ctx *ctx, size_t off)
{
	yaml_mark_t m;
	size_t i;

	memset(&m, 0, sizeof(m));
	m.index = off;
	for (i = 0; i < off && i < ctx->len; i++) {
		unsigned char c = (unsigned char)ctx->data[i];

		if (c == '\n') {
			m.line++;
			m.column = 0;
		} else if ((c & 0xc0) != 0x80)
			m.column++;
	}
	return m;
}

static void
config_err_yaml(struct config_ctx *ctx)
{
	const yaml_parser_t *p = &ctx->parser;
	const char *problem = p->problem ? p->problem : "unknown error";
	yaml_mark_t m;

	switch (p->error) {
	case YAML_MEMORY_ERROR:
		config_err(ctx, NULL, NULL, "out of memory parsing YAML");
		break;
	case YAML_READER_ERROR:
		m = config_offset_mark(ctx, p->problem_offset);
		if (p->problem_value != -1)
			config_err(ctx, &m, NULL, "invalid input: %s (#x%X)",
			    problem, (unsigned)p->problem_value);
		else
			config_err(ctx, &m, NULL, "invalid input: %s",
			    problem);
		break;
	default:
		if (p->context != NULL)
			config_err(ctx, &p->problem_mark, NULL,
			    "syntax error: %s (%s at line %zu)", problem,
			    p->context, p->context_mark.line + 1);
		else
			config_err(ctx, &p->problem_mark, NULL,
			    "syntax error: %s", problem);
		break;
	}
}

/*
 * Small pure helpers.
 */

static int
config_entry_index(const char *name)
{
	size_t i;

	for (i = 0; i < CONFIG_NENTRIES; i++)
		if (strcmp(config_table[i].name, name) == 0)
			return (int)i;
	return -1;
}

/* Index of the entry "section.key", or -1; key is counted. */
static int
config_entry_find(size_t sec, const char *key, size_t len)
{
	const char *sn = config_sections[sec].name;
	size_t sl = strlen(sn), i;

	for (i = 0; i < CONFIG_NENTRIES; i++) {
		const char *n = config_table[i].name;

		if (config_table[i].flags & CONFIG_F_RULE)
			continue;	/* only inside policy.rules */
		if (strncmp(n, sn, sl) == 0 && n[sl] == '.' &&
		    strlen(n + sl + 1) == len &&
		    memcmp(n + sl + 1, key, len) == 0)
			return (int)i;
	}
	return -1;
}

static int
config_section_find(const char *key, size_t len)
{
	size_t i;

	for (i = 0; i < CONFIG_NSECTIONS; i++)
		if (strlen(config_sections[i].name) == len &&
		    memcmp(config_sections[i].name, key, len) == 0)
			return (int)i;
	return -1;
}

static int
config_names_find(const char *const *names, const char *s)
{
	int i;

	for (i = 0; names[i] != NULL; i++)
		if (mh_strcasecmp(names[i], s) == 0)
			return i;
	return -1;
}

/* "a, b or c" into buf. */
static void
config_names_join(const char *const *names, char *buf, size_t sz)
{
	size_t n, i, o = 0;
	int w;

	buf[0] = '\0';
	for (n = 0; names[n] != NULL; n++)
		;
	for (i = 0; i < n; i++) {
		w = mh_snprintf(buf + o, sz - o, "%s%s",
		    i == 0 ? "" : i + 1 == n ? " or " : ", ", names[i]);
		if (w == -1)
			return;
		o += (size_t)w;
	}
}

static bool
config_is_null(const yaml_event_t *ev)
{
	const char *v = (const char *)ev->data.scalar.value;
	size_t len = ev->data.scalar.length;

	if (ev->type != YAML_SCALAR_EVENT ||
	    ev->data.scalar.style != YAML_PLAIN_SCALAR_STYLE)
		return false;
	return len == 0 || strcmp(v, "~") == 0 || strcmp(v, "null") == 0 ||
	    strcmp(v, "Null") == 0 || strcmp(v, "NULL") == 0;
}

static const char *
config_event_what(const yaml_event_t *ev)
{
	switch (ev->type) {
	case YAML_SCALAR_EVENT:
		return config_is_null(ev) ? "nothing" : "a scalar";
	case YAML_SEQUENCE_START_EVENT:
		return "a sequence";
	case YAML_MAPPING_START_EVENT:
		return "a mapping";
	default:
		return "something else";
	}
}

static const char *
config_type_what(enum config_type t)
{
	switch (t) {
	case CONFIG_T_STRING:
		return "a string";
	case CONFIG_T_BOOL:
		return "true or false";
	case CONFIG_T_INT:
		return "an integer";
	case CONFIG_T_SIZE:
		return "a size";
	case CONFIG_T_DURATION:
		return "a duration";
	case CONFIG_T_ENUM:
		return "a name";
	case CONFIG_T_LISTENERS:
	case CONFIG_T_CIDRLIST:
	case CONFIG_T_STRLIST:
		return "a sequence";
	case CONFIG_T_SENDERS:
	case CONFIG_T_TLDMAP:
	case CONFIG_T_RULES:
		return "a mapping";
	}
	return "a value";
}

/* Escapes an untrusted key for a message. */
static const char *
config_key_escape(const yaml_event_t *ev, char *buf, size_t sz)
{
	return mh_log_escape((const char *)ev->data.scalar.value,
	    ev->data.scalar.length, CONFIG_KEY_MAX, buf, sz);
}

static bool
config_is_digit(char c)
{
	return c >= '0' && c <= '9';
}

/* Digits, then at most one character of units: the shape of a number. */
static bool
config_num_syntax_ok(const char *s, const char *units)
{
	size_t n = strspn(s, "0123456789");

	if (n == 0)
		return false;
	if (s[n] == '\0')
		return true;
	return strchr(units, s[n]) != NULL && s[n + 1] == '\0';
}

/*
 * Value parsers.
 */

int
config_parse_duration(const char *s, int64_t *secs)
{
	long long mult = 1, v;
	size_t len;

	if (s == NULL || !config_is_digit(s[0]))
		return -1;
	len = strlen(s);
	switch (s[len - 1]) {
	case 's':
		mult = 1;
		len--;
		break;
	case 'm':
		mult = CONFIG_MINUTE;
		len--;
		break;
	case 'h':
		mult = CONFIG_HOUR;
		len--;
		break;
	case 'd':
		mult = CONFIG_DAY;
		len--;
		break;
	default:
		break;
	}
	/* mh_strtonum_n checks that only digits remain. */
	if (mh_strtonum_n(s, len, 0, LLONG_MAX / mult, &v) == -1)
		return -1;
	*secs = (int64_t)(v * mult);
	return 0;
}

int
config_parse_size(const char *s, size_t *bytes)
{
	long long mult = 1, v, cap;
	size_t len;

	if (s == NULL || !config_is_digit(s[0]))
		return -1;
	len = strlen(s);
	switch (s[len - 1]) {
	case 'k':
	case 'K':
		mult = CONFIG_KIB;
		len--;
		break;
	case 'm':
	case 'M':
		mult = CONFIG_MIB;
		len--;
		break;
	case 'g':
	case 'G':
		mult = CONFIG_GIB;
		len--;
		break;
	default:
		break;
	}
	cap = (unsigned long long)SIZE_MAX < (unsigned long long)LLONG_MAX ?
	    (long long)SIZE_MAX : LLONG_MAX;
	if (mh_strtonum_n(s, len, 0, cap / mult, &v) == -1)
		return -1;
	*bytes = (size_t)(v * mult);
	return 0;
}

static void
config_fmt_duration(int64_t v, char *buf, size_t sz)
{
	if (v != 0 && v % CONFIG_DAY == 0)
		(void)mh_snprintf(buf, sz, "%lldd",
		    (long long)(v / CONFIG_DAY));
	else if (v != 0 && v % CONFIG_HOUR == 0)
		(void)mh_snprintf(buf, sz, "%lldh",
		    (long long)(v / CONFIG_HOUR));
	else if (v != 0 && v % CONFIG_MINUTE == 0)
		(void)mh_snprintf(buf, sz, "%lldm",
		    (long long)(v / CONFIG_MINUTE));
	else if (v != 0)
		(void)mh_snprintf(buf, sz, "%llds", (long long)v);
	else
		(void)mh_snprintf(buf, sz, "0");
}

static void
config_fmt_size(unsigned long long v, char *buf, size_t sz)
{
	if (v != 0 && v % CONFIG_GIB == 0)
		(void)mh_snprintf(buf, sz, "%lluG", v / CONFIG_GIB);
	else if (v != 0 && v % CONFIG_MIB == 0)
		(void)mh_snprintf(buf, sz, "%lluM", v / CONFIG_MIB);
	else if (v != 0 && v % CONFIG_KIB == 0)
		(void)mh_snprintf(buf, sz, "%lluk", v / CONFIG_KIB);
	else
		(void)mh_snprintf(buf, sz, "%llu", v);
}

/* A numeric IPv4 or IPv6 address into a 16-byte buffer; family or -1. */
static int
config_addr_parse(const char *s, uint8_t *out)
{
	uint8_t tmp[16];

	if (out == NULL)
		out = tmp;
	if (strchr(s, ':') != NULL)
		return inet_pton(AF_INET6, s, out) == 1 ? AF_INET6 : -1;
	return inet_pton(AF_INET, s, out) == 1 ? AF_INET : -1;
}

static bool
config_prefix_match(const uint8_t *a, const uint8_t *net, int prefix)
{
	int full = prefix / 8, rem = prefix % 8;
	uint8_t mask;

	if (memcmp(a, net, (size_t)full) != 0)
		return false;
	if (rem == 0)
		return true;
	mask = (uint8_t)(0xff << (8 - rem));
	return (a[full] & mask) == (net[full] & mask);
}

static const uint8_t config_v4mapped[12] = {
	0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff
};

/*
 * Parses "addr[/prefix]".  Host bits beyond the prefix are an error (a
 * typo such as 10.0.0.1/8 usually means something else was intended).
 * An IPv4-mapped IPv6 network with a prefix of 96 or more is stored as the
 * IPv4 network it denotes, so matching needs one representation only.
 */
static int
config_cidr_parse(const char *s, struct config_cidr *c, char *why,
    size_t whysz)
{
	char addr[INET6_ADDRSTRLEN + 1], net[INET6_ADDRSTRLEN];
	const char *slash;
	long long prefix;
	uint8_t masked[16];
	size_t alen, nbytes, i;
	int maxp;

	memset(c, 0, sizeof(*c));
	slash = strchr(s, '/');
	alen = slash != NULL ? (size_t)(slash - s) : strlen(s);
	if (alen == 0 || alen >= sizeof(addr))
		goto badaddr;
	memcpy(addr, s, alen);
	addr[alen] = '\0';
	if ((c->family = config_addr_parse(addr, c->addr)) == -1)
		goto badaddr;
	maxp = c->family == AF_INET ? 32 : 128;
	nbytes = (size_t)maxp / 8;
	prefix = maxp;
	if (slash != NULL && (!config_is_digit(slash[1]) ||
	    mh_strtonum(slash + 1, 0, maxp, &prefix) == -1)) {
		config_errf(why, whysz, "the prefix length must be 0 to %d",
		    maxp);
		return -1;
	}
	memcpy(masked, c->addr, nbytes);
	for (i = 0; i < nbytes; i++) {
		long long bit = (long long)i * 8;

		if (bit >= prefix)
			masked[i] = 0;
		else if (bit + 8 > prefix)
			masked[i] &= (uint8_t)(0xff << (8 - (prefix - bit)));
	}
	if (memcmp(masked, c->addr, nbytes) != 0) {
		if (inet_ntop(c->family, masked, net, sizeof(net)) == NULL)
			mh_strlcpy(net, "?", sizeof(net));
		config_errf(why, whysz, "host bits are set beyond the /%lld "
		    "prefix (the network is %s/%lld)", prefix, net, prefix);
		return -1;
	}
	c->prefix = (int)prefix;
	if (c->family == AF_INET6 && c->prefix >= 96 &&
	    memcmp(c->addr, config_v4mapped, 12) == 0) {
		memmove(c->addr, c->addr + 12, 4);
		memset(c->addr + 4, 0, 12);
		c->family = AF_INET;
		c->prefix -= 96;
	}
	return 0;

badaddr:
	config_errf(why, whysz, "not a numeric IPv4 or IPv6 address or "
	    "network");
	return -1;
}

int
config_parse_cidr(const char *s, struct config_cidr *c)
{
	if (s == NULL || c == NULL)
		return -1;
	return config_cidr_parse(s, c, NULL, 0);
}

bool
config_cidr_match(const struct config_cidr *nets, size_t n,
    const struct sockaddr *sa)
{
	struct sockaddr_in sin;
	struct sockaddr_in6 sin6;
	uint8_t v4[4], v6[16];
	bool has4 = false;
	size_t i;

	if (sa == NULL || nets == NULL)
		return false;
	switch (sa->sa_family) {
	case AF_INET:
		memcpy(&sin, sa, sizeof(sin));
		memcpy(v4, &sin.sin_addr, 4);
		memcpy(v6, config_v4mapped, 12);
		memcpy(v6 + 12, v4, 4);
		has4 = true;
		break;
	case AF_INET6:
		memcpy(&sin6, sa, sizeof(sin6));
		memcpy(v6, &sin6.sin6_addr, 16);
		if (memcmp(v6, config_v4mapped, 12) == 0) {
			memcpy(v4, v6 + 12, 4);
			has4 = true;
		}
		break;
	default:
		return false;
	}
	for (i = 0; i < n; i++) {
		if (nets[i].family == AF_INET && has4 &&
		    config_prefix_match(v4, nets[i].addr, nets[i].prefix))
			return true;
		if (nets[i].family == AF_INET6 &&
		    config_prefix_match(v6, nets[i].addr, nets[i].prefix))
			return true;
	}
	return false;
}

/* LDH labels separated by dots (RFC 1123 section 2.1); no trailing dot. */
static const char *
config_check_hostname(const char *s)
{
	size_t len = strlen(s), label = 0, i;

	if (len == 0 || len > 253)
		return "must be a host name of 1 to 253 characters";
	for (i = 0; i <= len; i++) {
		char c = s[i];

		if (c == '.' || c == '\0') {
			if (label == 0)
				return "has an empty label";
			if (s[i - 1] == '-')
				return "has a label ending in '-'";
			label = 0;
			continue;
		}
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		    config_is_digit(c) || c == '-'))
			return "must be a host name (letters, digits, '-' "
			    "and '.')";
		if (label == 0 && c == '-')
			return "has a label starting with '-'";
		if (++label > 63)
			return "has a label longer than 63 characters";
	}
	return NULL;
}

static const char *
config_check_host(const char *s)
{
	if (strchr(s, ':') != NULL)
		return config_addr_parse(s, NULL) == AF_INET6 ? NULL :
		    "must be a host name or a numeric address";
	return config_check_hostname(s);
}

static const char *
config_check_ipaddr(const char *s)
{
	return config_addr_parse(s, NULL) == -1 ? "must be a numeric IPv4 or "
	    "IPv6 address" : NULL;
}

/* http(s)://host[:port][/path], printable ASCII without characters that
 * would need escaping in a mail or an HTML attribute. */
static const char *
config_check_url(const char *s)
{
	const char *p;
	size_t i;

	if (strncmp(s, "https://", 8) == 0)
		p = s + 8;
	else if (strncmp(s, "http://", 7) == 0)
		p = s + 7;
	else
		return "must start with https:// (or http://)";
	if (*p == '\0' || *p == '/')
		return "has no host";
	for (i = 0; s[i] != '\0'; i++) {
		unsigned char c = (unsigned char)s[i];

		if (c <= 0x20 || c >= 0x7f || strchr("\"'<>\\^`{|}?#", c))
			return "must be a plain URL without spaces, quotes, "
			    "a query or a fragment";
	}
	/* The page's forms and stylesheet use absolute paths (/m/,
	 * /static/): a reverse proxy must map the root. */
	if ((p = strchr(p, '/')) != NULL && p[strspn(p, "/")] != '\0')
		return "must not have a path (https://host[:port] only)";
	return NULL;
}

/* local@domain: printable ASCII, no spaces, quotes or brackets. */
/*
 * An IANA zone name (tz database "Area/Location", e.g. Asia/Tokyo, UTC,
 * America/Argentina/Buenos_Aires, Etc/GMT-9) that names a TZif file under
 * CONFIG_ZONEINFO: parts of [A-Za-z0-9._+-] joined by '/', none starting
 * with '.', so the name cannot leave the directory.
 */
static const char *
config_check_timezone(const char *s)
{
	char path[sizeof(CONFIG_ZONEINFO) + 80], magic[4];
	const char *p;
	struct stat st;
	size_t n;
	FILE *f;
	bool ok;

	for (p = s; *p != '\0'; p += n + (p[n] == '/')) {
		n = strspn(p, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
		    "0123456789._+-");
		if (n == 0 || p[0] == '.' || (p[n] != '/' && p[n] != '\0') ||
		    (p[n] == '/' && p[n + 1] == '\0'))
			return "must be a time zone name such as Asia/Tokyo "
			    "or UTC";
	}
	if (mh_snprintf(path, sizeof(path), "%s/%s", CONFIG_ZONEINFO, s) == -1)
		return "is too long";
	if (stat(path, &st) == -1 || !S_ISREG(st.st_mode))
		return "names no time zone in " CONFIG_ZONEINFO " (is "
		    "tzdata installed?)";
	if ((f = fopen(path, "rb")) == NULL)
		return "cannot be read in " CONFIG_ZONEINFO;
	ok = fread(magic, 1, sizeof(magic), f) == sizeof(magic) &&
	    memcmp(magic, "TZif", 4) == 0;
	fclose(f);
	return ok ? NULL : "names a file that is not a time zone (TZif)";
}

static const char *
config_check_mailbox(const char *s)
{
	const char *at = strrchr(s, '@');
	size_t i;

	if (at == NULL || at == s || at[1] == '\0')
		return "must be an address local@domain";
	for (i = 0; s[i] != '\0'; i++) {
		unsigned char c = (unsigned char)s[i];

		if (c <= 0x20 || c >= 0x7f || strchr("\"<>()[]\\,;:", c))
			return "must be a plain address without spaces, "
			    "quotes or brackets";
	}
	return config_check_hostname(at + 1) ? "has a bad domain" : NULL;
}

/* OpenSSL list syntax (ciphers, suites, groups): checked by OpenSSL when
 * the context is built; here only the character set. */
static const char *
config_check_tls_list(const char *s)
{
	if (s[strspn(s, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
	    "0123456789_+-!:@=.")] != '\0')
		return "must be an OpenSSL list such as A:B:!C (letters, "
		    "digits and _+-!:@=.)";
	return NULL;
}

/* control.mode: octal, 1 to 4 digits, nothing for others (o=---). */
static const char *
config_check_mode(const char *s)
{
	unsigned long v = 0;

	if (s[strspn(s, "01234567")] != '\0')
		return "must be an octal mode such as 0660";
	for (; *s; s++)
		v = v * 8 + (unsigned long)(*s - '0');
	if (v & ~0770UL)
		return "must give nothing to others and no special bits "
		    "(at most 0770)";
	if ((v & 0600) != 0600)
		return "must let the owner read and write (at least 0600)";
	return NULL;
}

/* control.group: a POSIX-portable group name (checked to exist at start). */
static const char *
config_check_group(const char *s)
{
	if (s[0] == '-' || s[strspn(s, "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
	    "abcdefghijklmnopqrstuvwxyz0123456789_.-")] != '\0')
		return "must be a group name (letters, digits, _ . -)";
	return NULL;
}

static bool
config_host_is_loopback(const char *s)
{
	uint8_t a[16];
	int af;

	if (mh_strcasecmp(s, "localhost") == 0)
		return true;
	if ((af = config_addr_parse(s, a)) == AF_INET)
		return a[0] == 127;
	if (af == AF_INET6) {
		static const uint8_t one[16] = { [15] = 1 };

		return memcmp(a, one, 16) == 0 ||
		    (memcmp(a, config_v4mapped, 12) == 0 && a[12] == 127);
	}
	return false;
}

/*
 * Storing values through the table.
 */

static void *
config_field(struct config *cfg, const struct config_entry *e)
{
	return (char *)cfg + e->off;
}

static const void *
config_cfield(const struct config *cfg, const struct config_entry *e)
{
	return (const char *)cfg + e->off;
}

static void
config_store_num(struct config *cfg, const struct config_entry *e,
    long long v)
{
	void *p = config_field(cfg, e);

	switch (e->type) {
	case CONFIG_T_BOOL:
		*(bool *)p = v != 0;
		break;
	case CONFIG_T_ENUM:
	case CONFIG_T_INT:
		if (e->size == sizeof(bool))
			*(bool *)p = v != 0;
		else if (e->size == sizeof(int))
			*(int *)p = (int)v;
		else
			*(size_t *)p = (size_t)v;
		break;
	case CONFIG_T_SIZE:
		*(size_t *)p = (size_t)v;
		break;
	case CONFIG_T_DURATION:
		*(int64_t *)p = (int64_t)v;
		break;
	default:
		break;
	}
}

static long long
config_get_num(const struct config *cfg, const struct config_entry *e)
{
	const void *p = config_cfield(cfg, e);

	switch (e->type) {
	case CONFIG_T_BOOL:
		return *(const bool *)p;
	case CONFIG_T_ENUM:
	case CONFIG_T_INT:
		if (e->size == sizeof(bool))
			return *(const bool *)p;
		if (e->size == sizeof(int))
			return *(const int *)p;
		return (long long)*(const size_t *)p;
	case CONFIG_T_SIZE:
		return (long long)*(const size_t *)p;
	case CONFIG_T_DURATION:
		return (long long)*(const int64_t *)p;
	default:
		return 0;
	}
}

/* Formats an INT, SIZE or DURATION value the way the file would say it. */
static void
config_fmt_num(const struct config_entry *e, long long v, char *buf,
    size_t sz)
{
	if (e->type == CONFIG_T_SIZE)
		config_fmt_size((unsigned long long)v, buf, sz);
	else if (e->type == CONFIG_T_DURATION)
		config_fmt_duration(v, buf, sz);
	else
		(void)mh_snprintf(buf, sz, "%lld", v);
}

static int
config_set_string(struct config *cfg, const struct config_entry *e,
    const char *v, size_t len, bool isnull, char *why, size_t whysz)
{
	char **p = config_field(cfg, e);
	const char *w;
	size_t i;

	if (isnull || len == 0) {
		if (e->flags & (CONFIG_F_OPTIONAL | CONFIG_F_DERIVED)) {
			free(*p);
			*p = NULL;
			return 0;
		}
		config_errf(why, whysz, "must not be empty");
		return -1;
	}
	if ((long long)len < e->min || (long long)len > e->max) {
		config_errf(why, whysz, "must be %lld to %lld bytes long",
		    e->min, e->max);
		return -1;
	}
	for (i = 0; i < len; i++) {
		unsigned char c = (unsigned char)v[i];

		if (c < 0x20 || c == 0x7f) {
			config_errf(why, whysz, "must not contain control "
			    "characters");
			return -1;
		}
	}
	if (e->check != NULL && (w = e->check(v)) != NULL) {
		config_errf(why, whysz, "%s", w);
		return -1;
	}
	free(*p);
	*p = xstrndup(v, len);
	return 0;
}

/*
 * Parses one scalar value v (NUL-terminated, len bytes) for entry e and
 * stores it.  Used for values read from the file and for the defaults.
 */
static int
config_set_scalar(struct config *cfg, const struct config_entry *e,
    const char *v, size_t len, bool isnull, char *why, size_t whysz)
{
	char lo[32], hi[32], names[128];
	long long n;
	int64_t secs;
	size_t bytes;
	int i;

	if (memchr(v, '\0', len) != NULL) {
		config_errf(why, whysz, "must not contain a NUL byte");
		return -1;
	}
	if (e->type == CONFIG_T_STRING)
		return config_set_string(cfg, e, v, len, isnull, why, whysz);
	if (isnull || len == 0) {
		config_errf(why, whysz, "missing value: expected %s",
		    config_type_what(e->type));
		return -1;
	}
	switch (e->type) {
	case CONFIG_T_BOOL:
		if ((i = config_names_find(config_bool_names, v)) == -1) {
			config_errf(why, whysz, "must be true or false");
			return -1;
		}
		config_store_num(cfg, e, i % 2);
		return 0;
	case CONFIG_T_ENUM:
		if ((i = config_names_find(e->names, v)) == -1) {
			config_names_join(e->names, names, sizeof(names));
			config_errf(why, whysz, "must be %s", names);
			return -1;
		}
		config_store_num(cfg, e, i);
		return 0;
	case CONFIG_T_INT:
		/* Well-formed but too large for any type: out of range. */
		if (!config_num_syntax_ok(v, "")) {
			config_errf(why, whysz, "must be an integer");
			return -1;
		}
		if (mh_strtonum_n(v, len, 0, LLONG_MAX, &n) == -1)
			n = LLONG_MAX;
		break;
	case CONFIG_T_SIZE:
		if (!config_num_syntax_ok(v, "kKmMgG")) {
			config_errf(why, whysz, "must be a size such as 512, "
			    "64k, 25M or 1G");
			return -1;
		}
		if (config_parse_size(v, &bytes) == -1 ||
		    bytes > (size_t)LLONG_MAX)
			n = LLONG_MAX;
		else
			n = (long long)bytes;
		break;
	case CONFIG_T_DURATION:
		if (!config_num_syntax_ok(v, "smhd")) {
			config_errf(why, whysz, "must be a duration such as 0, "
			    "90s, 5m, 2h or 1d");
			return -1;
		}
		if (config_parse_duration(v, &secs) == -1)
			n = LLONG_MAX;
		else
			n = (long long)secs;
		break;
	default:
		config_errf(why, whysz, "internal error: not a scalar type");
		return -1;
	}
	if (n < e->min || n > e->max) {
		config_fmt_num(e, e->min, lo, sizeof(lo));
		config_fmt_num(e, e->max, hi, sizeof(hi));
		config_errf(why, whysz, "must be between %s and %s", lo, hi);
		return -1;
	}
	config_store_num(cfg, e, n);
	return 0;
}

/* "policy.rules.RULE.KEY" with a known rule and a key of its own. */
static bool
config_rule_row_ok(const char *name)
{
	static const char pre[] = "policy.rules.";
	char rule[CONFIG_KEY_MAX];
	const char *dot;

	if (strncmp(name, pre, sizeof(pre) - 1) != 0)
		return false;
	name += sizeof(pre) - 1;
	if ((dot = strchr(name, '.')) == NULL ||
	    (size_t)(dot - name) >= sizeof(rule) || strchr(dot + 1, '.') !=
	    NULL || config_rule_key_find(dot + 1, strlen(dot + 1)) != -1)
		return false;
	memcpy(rule, name, (size_t)(dot - name));
	rule[dot - name] = '\0';
	return policy_rule_parse(rule) != -1;
}

/* The table is data; a wrong row would corrupt memory, so check it. */
static const char *
config_table_check(void)
{
	size_t i;

	for (i = 0; i < CONFIG_NENTRIES; i++) {
		const struct config_entry *e = &config_table[i];
		const char *dot = strchr(e->name, '.');
		bool ok;

		if (dot == NULL || config_section_find(e->name,
		    (size_t)(dot - e->name)) == -1)
			return e->name;
		if (e->min < 0 || e->min > e->max || e->desc == NULL)
			return e->name;
		if (e->def == NULL && !(e->flags &
		    (CONFIG_F_OPTIONAL | CONFIG_F_DERIVED | CONFIG_F_POLICY)))
			return e->name;
		if ((e->flags & CONFIG_F_POLICY) && (e->def != NULL ||
		    e->off < offsetof(struct config, policy) ||
		    e->off >= offsetof(struct config, policy) +
		    sizeof(struct policy_config)))
			return e->name;
		if ((e->flags & CONFIG_F_RULE) && !config_rule_row_ok(e->name))
			return e->name;
		switch (e->type) {
		case CONFIG_T_STRING:
			ok = e->size == sizeof(char *);
			break;
		case CONFIG_T_BOOL:
			ok = e->size == sizeof(bool);
			break;
		case CONFIG_T_INT:
			ok = e->size == sizeof(int) ||
			    e->size == sizeof(size_t);
			break;
		case CONFIG_T_SIZE:
			ok = e->size == sizeof(size_t);
			break;
		case CONFIG_T_DURATION:
			ok = e->size == sizeof(int64_t);
			break;
		case CONFIG_T_ENUM:
			ok = e->names != NULL && (e->size == sizeof(int) ||
			    e->size == sizeof(bool));
			break;
		case CONFIG_T_LISTENERS:
			ok = e->off == offsetof(struct config, listeners);
			break;
		case CONFIG_T_CIDRLIST:
			ok = e->size == sizeof(struct config_cidr *) &&
			    e->noff != 0;
			break;
		case CONFIG_T_SENDERS:
			ok = e->off == offsetof(struct config, senders);
			break;
		case CONFIG_T_STRLIST:
			ok = e->size == sizeof(const char *const *) &&
			    e->noff != 0 && e->item != NULL;
			break;
		case CONFIG_T_TLDMAP:
			ok = e->off == offsetof(struct config,
			    policy.confusable_tlds) && e->noff ==
			    offsetof(struct config, policy.nconfusable);
			break;
		case CONFIG_T_RULES:
			ok = e->off == offsetof(struct config, policy.rules);
			break;
		default:
			ok = false;
			break;
		}
		if (!ok)
			return e->name;
	}
	for (i = 0; i < CONFIG_NRULEKEYS; i++) {
		const struct config_entry *e = &config_rule_keys[i];

		if (e->type == CONFIG_T_ENUM ? e->size != sizeof(int) :
		    e->type == CONFIG_T_BOOL ? e->size != sizeof(bool) :
		    e->type == CONFIG_T_DURATION ? e->size != sizeof(int64_t) :
		    e->type != CONFIG_T_STRLIST || e->item == NULL)
			return e->name;
	}
	/* The enum names must be the policy's own. */
	for (i = 0; config_mode_names[i] != NULL; i++)
		if (policy_mode_parse(config_mode_names[i]) != (int)i)
			return "policy.rules mode names";
	if (i != POLICY_M_AUDIT + 1)
		return "policy.rules mode names";
	for (i = 0; config_action_names[i] != NULL; i++)
		if (policy_action_parse(config_action_names[i]) != (int)i)
			return "policy.rules action names";
	if (i != POLICY_A_REJECT + 1)
		return "policy.rules action names";
	for (i = 0; i < CONFIG_NITEMS(config_orders); i++)
		if (config_entry_index(config_orders[i].lo) == -1 ||
		    config_entry_index(config_orders[i].hi) == -1)
			return config_orders[i].lo;
	return NULL;
}

/*
 * The event reader.
 */

static int
config_ctx_init(struct config_ctx *ctx, const char *name, const char *data,
    size_t len, struct config *cfg, char *err, size_t errsz)
{
	memset(ctx, 0, sizeof(*ctx));
	ctx->name = name;
	ctx->data = data != NULL ? data : "";
	ctx->len = data != NULL ? len : 0;
	ctx->err = err;
	ctx->errsz = errsz;
	ctx->cfg = cfg;
	if (!yaml_parser_initialize(&ctx->parser)) {
		config_err(ctx, NULL, NULL, "out of memory");
		return -1;
	}
	ctx->parser_ok = true;
	yaml_parser_set_input_string(&ctx->parser,
	    (const unsigned char *)ctx->data, ctx->len);
	return 0;
}

static void
config_ctx_clear(struct config_ctx *ctx)
{
	if (ctx->have_ev)
		yaml_event_delete(&ctx->ev);
	ctx->have_ev = false;
	if (ctx->parser_ok)
		yaml_parser_delete(&ctx->parser);
	ctx->parser_ok = false;
}

/*
 * Replaces ctx->ev with the next event.  Aliases are refused here, at the
 * alias's own position: expanding them is how "billion laughs" inputs
 * blow up, and a configuration does not need them.
 */
static int
config_next(struct config_ctx *ctx)
{
	if (ctx->have_ev)
		yaml_event_delete(&ctx->ev);
	ctx->have_ev = false;
	if (!yaml_parser_parse(&ctx->parser, &ctx->ev)) {
		config_err_yaml(ctx);
		return -1;
	}
	ctx->have_ev = true;
	if (ctx->ev.type == YAML_ALIAS_EVENT) {
		config_err(ctx, &ctx->ev.start_mark, NULL, "YAML aliases are "
		    "not allowed");
		return -1;
	}
	return 0;
}

static int
config_expect(struct config_ctx *ctx, yaml_event_type_t type)
{
	if (config_next(ctx) == -1)
		return -1;
	if (ctx->ev.type != type) {
		config_err(ctx, &ctx->ev.start_mark, NULL, "unexpected YAML "
		    "event");
		return -1;
	}
	return 0;
}

/* The current event must be a scalar mapping key. */
static int
config_key_check(struct config_ctx *ctx, const char *parent)
{
	if (ctx->ev.type != YAML_SCALAR_EVENT) {
		config_err(ctx, &ctx->ev.start_mark, parent, "keys must be "
		    "scalars, found %s", config_event_what(&ctx->ev));
		return -1;
	}
	return 0;
}

/* The current event is the mapping of one listener; fills listeners[i]. */
static int
config_parse_listener(struct config_ctx *ctx, const struct config_entry *e,
    size_t i)
{
	static const char *const fields[] = { "address", "port", "mode",
	    "require_tls", NULL };
	struct config_listener *l = &ctx->cfg->listeners[i];
	yaml_mark_t start = ctx->ev.start_mark;
	char base[CONFIG_PATH_MAX], path[CONFIG_PATH_MAX];
	char kesc[CONFIG_KEY_MAX * 4 + 8], names[64];
	bool seen[4] = { false, false, false, false };
	yaml_mark_t rtmark;
	int rt = -1;
	const yaml_event_t *ev = &ctx->ev;
	const char *v;
	long long port;
	size_t j;
	int f;

	(void)mh_snprintf(base, sizeof(base), "%s[%zu]", e->name, i);
	for (;;) {
		if (config_next(ctx) == -1)
			return -1;
		if (ev->type == YAML_MAPPING_END_EVENT)
			break;
		if (config_key_check(ctx, base) == -1)
			return -1;
		f = -1;
		for (j = 0; fields[j] != NULL; j++)
			if (strlen(fields[j]) == ev->data.scalar.length &&
			    memcmp(fields[j], ev->data.scalar.value,
			    ev->data.scalar.length) == 0)
				f = (int)j;
		if (f == -1) {
			(void)mh_snprintf(path, sizeof(path), "%s.%s", base,
			    config_key_escape(ev, kesc, sizeof(kesc)));
			config_err(ctx, &ev->start_mark, path, "unknown key "
			    "(expected address, port, mode or require_tls)");
			return -1;
		}
		(void)mh_snprintf(path, sizeof(path), "%s.%s", base,
		    fields[f]);
		if (seen[f]) {
			config_err(ctx, &ev->start_mark, path, "duplicate key");
			return -1;
		}
		seen[f] = true;
		if (config_next(ctx) == -1)
			return -1;
		if (ev->type != YAML_SCALAR_EVENT || config_is_null(ev)) {
			config_err(ctx, &ev->start_mark, path, "expected a "
			    "scalar, found %s", config_event_what(ev));
			return -1;
		}
		v = (const char *)ev->data.scalar.value;
		if (memchr(v, '\0', ev->data.scalar.length) != NULL) {
			config_err(ctx, &ev->start_mark, path, "must not "
			    "contain a NUL byte");
			return -1;
		}
		switch (f) {
		case 0:
			if (config_addr_parse(v, NULL) == -1) {
				config_err(ctx, &ev->start_mark, path, "not a "
				    "numeric IPv4 or IPv6 address");
				return -1;
			}
			l->address = xstrdup(v);
			break;
		case 1:
			if (!config_is_digit(v[0]) ||
			    mh_strtonum(v, 0, 65535, &port) == -1) {
				config_err(ctx, &ev->start_mark, path,
				    "must be a port number from 0 to 65535");
				return -1;
			}
			l->port = (int)port;
			break;
		case 2:
			if ((l->mode = config_names_find(config_listen_names,
			    v)) == -1) {
				config_names_join(config_listen_names, names,
				    sizeof(names));
				config_err(ctx, &ev->start_mark, path,
				    "must be %s", names);
				return -1;
			}
			break;
		default:
			if ((rt = config_names_find(config_bool_names, v)) ==
			    -1) {
				config_err(ctx, &ev->start_mark, path,
				    "must be true or false");
				return -1;
			}
			rt %= 2;
			rtmark = ev->start_mark;
			break;
		}
	}
	for (j = 0; j < 2; j++)
		if (!seen[j]) {
			config_err(ctx, &start, base, "missing %s", fields[j]);
			return -1;
		}
	if (!seen[2])
		l->mode = CONFIG_LISTEN_PLAIN;
	/* RFC 3207 section 4: a publicly referenced server must not
	 * require TLS, but a submission server may, and should. */
	l->require_tls = l->mode == CONFIG_LISTEN_STARTTLS;
	if (rt != -1) {
		if (l->mode == CONFIG_LISTEN_PLAIN && rt == 1) {
			(void)mh_snprintf(path, sizeof(path), "%s.require_tls",
			    base);
			config_err(ctx, &rtmark, path, "a plain listener has "
			    "no TLS to require (use mode starttls)");
			return -1;
		}
		l->require_tls = l->mode == CONFIG_LISTEN_TLS || rt == 1;
	}
	/* Two sockets on one address and port would fail to bind. */
	for (j = 0; j < i; j++) {
		const struct config_listener *o = &ctx->cfg->listeners[j];
		uint8_t a[16], b[16];

		memset(a, 0, sizeof(a));
		memset(b, 0, sizeof(b));
		if (l->port != 0 && o->port == l->port &&
		    config_addr_parse(l->address, a) ==
		    config_addr_parse(o->address, b) &&
		    memcmp(a, b, sizeof(a)) == 0) {
			config_err(ctx, &start, base, "same address and port "
			    "as %s[%zu]", e->name, j);
			return -1;
		}
	}
	return 0;
}

static int
config_parse_listeners(struct config_ctx *ctx, const struct config_entry *e)
{
	struct config *cfg = ctx->cfg;
	yaml_mark_t start = ctx->ev.start_mark;
	char path[CONFIG_PATH_MAX];
	size_t n;

	if (ctx->ev.type != YAML_SEQUENCE_START_EVENT) {
		config_err(ctx, &ctx->ev.start_mark, e->name, "expected a "
		    "sequence of {address, port, mode} mappings, found %s",
		    config_event_what(&ctx->ev));
		return -1;
	}
	for (;;) {
		if (config_next(ctx) == -1)
			return -1;
		if (ctx->ev.type == YAML_SEQUENCE_END_EVENT)
			break;
		n = cfg->nlisteners;
		(void)mh_snprintf(path, sizeof(path), "%s[%zu]", e->name, n);
		if ((long long)n >= e->max) {
			config_err(ctx, &ctx->ev.start_mark, path, "too many "
			    "listeners (at most %lld)", e->max);
			return -1;
		}
		if (ctx->ev.type != YAML_MAPPING_START_EVENT) {
			config_err(ctx, &ctx->ev.start_mark, path, "expected "
			    "a mapping {address, port, mode}, found %s",
			    config_event_what(&ctx->ev));
			return -1;
		}
		cfg->listeners = xreallocarray(cfg->listeners, n + 1,
		    sizeof(*cfg->listeners));
		memset(&cfg->listeners[n], 0, sizeof(cfg->listeners[n]));
		cfg->nlisteners = n + 1;
		if (config_parse_listener(ctx, e, n) == -1)
			return -1;
	}
	if ((long long)cfg->nlisteners < e->min) {
		config_err(ctx, &start, e->name, "at least %lld listener is "
		    "needed", e->min);
		return -1;
	}
	return 0;
}

static int
config_parse_cidrs(struct config_ctx *ctx, const struct config_entry *e)
{
	struct config_cidr **list = (struct config_cidr **)(void *)
	    ((char *)ctx->cfg + e->off);
	size_t *count = (size_t *)(void *)((char *)ctx->cfg + e->noff);
	char path[CONFIG_PATH_MAX], why[CONFIG_WHY_MAX];
	const yaml_event_t *ev = &ctx->ev;
	struct config_cidr c;
	const char *v;
	size_t n;

	if (ev->type != YAML_SEQUENCE_START_EVENT) {
		config_err(ctx, &ev->start_mark, e->name, "expected a sequence "
		    "of networks, found %s", config_event_what(ev));
		return -1;
	}
	for (;;) {
		if (config_next(ctx) == -1)
			return -1;
		if (ev->type == YAML_SEQUENCE_END_EVENT)
			break;
		n = *count;
		(void)mh_snprintf(path, sizeof(path), "%s[%zu]", e->name, n);
		if ((long long)n >= e->max) {
			config_err(ctx, &ev->start_mark, path, "too many "
			    "networks (at most %lld)", e->max);
			return -1;
		}
		if (ev->type != YAML_SCALAR_EVENT || config_is_null(ev)) {
			config_err(ctx, &ev->start_mark, path, "expected a "
			    "network such as 10.0.0.0/8, found %s",
			    config_event_what(ev));
			return -1;
		}
		v = (const char *)ev->data.scalar.value;
		if (memchr(v, '\0', ev->data.scalar.length) != NULL) {
			config_err(ctx, &ev->start_mark, path, "must not "
			    "contain a NUL byte");
			return -1;
		}
		if (config_cidr_parse(v, &c, why, sizeof(why)) == -1) {
			config_err(ctx, &ev->start_mark, path, "%s", why);
			return -1;
		}
		*list = xreallocarray(*list, n + 1, sizeof(**list));
		(*list)[n] = c;
		*count = n + 1;
	}
	if ((long long)*count < e->min) {
		config_err(ctx, &ev->start_mark, e->name, "at least %lld "
		    "networks are needed", e->min);
		return -1;
	}
	return 0;
}

/* A user name or sender pattern: printable ASCII, nothing that would
 * need quoting in a dump.  Returns NULL or why not. */
static const char *
config_check_token(const char *v, size_t len, size_t max)
{
	size_t i;

	if (len == 0 || len > max)
		return "must be 1 to 254 characters long";
	for (i = 0; i < len; i++) {
		unsigned char c = (unsigned char)v[i];

		if (c <= 0x20 || c >= 0x7f || c == '"' || c == '\\')
			return "must be printable ASCII without spaces, quotes "
			    "or backslashes";
	}
	return NULL;
}

/* A sender pattern's text: printable ASCII without spaces, quotes or
 * backslashes, and UTF-8 (RFC 6531 local parts, U-labels) as whole valid
 * sequences without controls.  Returns NULL or why not. */
static const char *
config_check_addr_text(const char *v, size_t len)
{
	const unsigned char *p = (const unsigned char *)v;
	size_t i, k;
	unsigned cp;

	if (len == 0 || len > 254)
		return "must be 1 to 254 characters long";
	for (i = 0; i < len; i += k) {
		k = 1;
		if (p[i] >= 0x80) {
			if ((k = mh_utf8_seq(p + i, len - i, &cp)) == 0)
				return "must be valid UTF-8";
			if (cp < 0xa0)
				return "must not contain control characters";
			continue;
		}
		if (p[i] <= 0x20 || p[i] == 0x7f || p[i] == '"' ||
		    p[i] == '\\')
			return "must be printable without spaces, quotes or "
			    "backslashes";
	}
	return NULL;
}

/* "*", "*@domain" or "local@domain"; UTF-8 allowed (RFC 6531), and an
 * internationalised domain must be a valid IDN (it is compared in its
 * A-label form, as the policy does). */
static const char *
config_check_sender_pattern(const char *v, size_t len)
{
	const char *at, *w;
	char dom[300], norm[300];
	size_t dl;

	if ((w = config_check_addr_text(v, len)) != NULL)
		return w;
	if (len == 1 && v[0] == '*')
		return NULL;
	at = memchr(v, '@', len);
	if (at == NULL || at == v || at == v + len - 1 ||
	    memchr(at + 1, '@', len - (size_t)(at - v) - 1) != NULL)
		return "must be an address local@domain, *@domain or *";
	if (memchr(v, '*', (size_t)(at - v)) != NULL && at - v != 1)
		return "'*' must be the whole local part";
	if (memchr(at, '*', len - (size_t)(at - v)) != NULL)
		return "'*' is allowed in the local part only";
	dl = len - (size_t)(at - v) - 1;
	if (dl < sizeof(dom)) {
		memcpy(dom, at + 1, dl);
		dom[dl] = '\0';
		if (policy_domain_normalize(dom, norm, sizeof(norm)) == -1)
			return "has a domain that is not a valid "
			    "internationalised domain name";
	}
	return NULL;
}

static int
config_sender_pattern_add(struct config_ctx *ctx, struct config_sender *u,
    const char *path, size_t max)
{
	const yaml_event_t *ev = &ctx->ev;
	const char *v = (const char *)ev->data.scalar.value, *w;
	size_t len = ev->data.scalar.length;

	if (ev->type != YAML_SCALAR_EVENT || config_is_null(ev)) {
		config_err(ctx, &ev->start_mark, path, "expected an address "
		    "or pattern, found %s", config_event_what(ev));
		return -1;
	}
	if (memchr(v, '\0', len) != NULL)
		w = "must not contain a NUL byte";
	else if (u->npatterns >= max)
		w = "too many patterns for one user";
	else
		w = config_check_sender_pattern(v, len);
	if (w != NULL) {
		config_err(ctx, &ev->start_mark, path, "%s", w);
		return -1;
	}
	u->patterns = xreallocarray(u->patterns, u->npatterns + 1,
	    sizeof(*u->patterns));
	u->patterns[u->npatterns++] = xstrndup(v, len);
	return 0;
}

/* auth.senders: a mapping user -> address, or user -> [addresses]. */
static int
config_parse_senders(struct config_ctx *ctx, const struct config_entry *e)
{
	struct config *cfg = ctx->cfg;
	const yaml_event_t *ev = &ctx->ev;
	char path[CONFIG_PATH_MAX], kesc[CONFIG_KEY_MAX * 4 + 8];
	char ipath[CONFIG_PATH_MAX + 16];
	struct config_sender *u;
	const char *v, *w;
	size_t n, i, len;

	if (ev->type != YAML_MAPPING_START_EVENT) {
		config_err(ctx, &ev->start_mark, e->name, "expected a mapping "
		    "{user: [address, ...]}, found %s", config_event_what(ev));
		return -1;
	}
	for (;;) {
		if (config_next(ctx) == -1)
			return -1;
		if (ev->type == YAML_MAPPING_END_EVENT)
			break;
		if (config_key_check(ctx, e->name) == -1)
			return -1;
		v = (const char *)ev->data.scalar.value;
		len = ev->data.scalar.length;
		(void)mh_snprintf(path, sizeof(path), "%s.%s", e->name,
		    config_key_escape(ev, kesc, sizeof(kesc)));
		n = cfg->nsenders;
		if ((long long)n >= e->max) {
			config_err(ctx, &ev->start_mark, path, "too many users "
			    "(at most %lld)", e->max);
			return -1;
		}
		w = memchr(v, '\0', len) != NULL ? "must not contain a NUL "
		    "byte" : config_check_token(v, len, 254);
		if (w != NULL) {
			config_err(ctx, &ev->start_mark, path, "the user name "
			    "%s", w);
			return -1;
		}
		for (i = 0; i < n; i++)
			if (strlen(cfg->senders[i].user) == len &&
			    memcmp(cfg->senders[i].user, v, len) == 0) {
				config_err(ctx, &ev->start_mark, path,
				    "duplicate key");
				return -1;
			}
		cfg->senders = xreallocarray(cfg->senders, n + 1,
		    sizeof(*cfg->senders));
		u = &cfg->senders[n];
		memset(u, 0, sizeof(*u));
		u->user = xstrndup(v, len);
		cfg->nsenders = n + 1;
		if (config_next(ctx) == -1)
			return -1;
		if (ev->type == YAML_SEQUENCE_START_EVENT) {
			for (;;) {
				if (config_next(ctx) == -1)
					return -1;
				if (ev->type == YAML_SEQUENCE_END_EVENT)
					break;
				(void)mh_snprintf(ipath, sizeof(ipath),
				    "%s[%zu]", path, u->npatterns);
				if (config_sender_pattern_add(ctx, u, ipath,
				    1000) == -1)
					return -1;
			}
		} else if (config_sender_pattern_add(ctx, u, path, 1000) == -1)
			return -1;
	}
	return 0;
}

/*
 * The policy: lists, the TLD map and the rules.
 */

static void
config_lower(char *v)
{
	for (; *v != '\0'; v++)
		if (*v >= 'A' && *v <= 'Z')
			*v = (char)(*v - 'A' + 'a');
}

static bool
config_has_ctl(const char *v)
{
	for (; *v != '\0'; v++)
		if ((unsigned char)*v < 0x20 || (unsigned char)*v == 0x7f)
			return true;
	return false;
}

/* A domain name: LDH labels (RFC 1123 section 2.1), or an IDN that
 * libidn2 accepts (policy_domain_normalize); kept as written, ASCII
 * lowercased. */
static const char *
config_item_domain(char *v)
{
	char buf[1024];
	const char *w;

	if (v[0] == '\0' || strlen(v) > 253)
		return "must be a domain name of 1 to 253 bytes";
	if (mh_is_ascii(v, strlen(v))) {
		if ((w = config_check_hostname(v)) != NULL)
			return w;
	} else if (config_has_ctl(v) || strchr(v, ' ') != NULL ||
	    strchr(v, '@') != NULL || v[0] == '.' ||
	    v[strlen(v) - 1] == '.' ||
	    policy_domain_normalize(v, buf, sizeof(buf)) == -1 ||
	    config_check_hostname(buf) != NULL)
		return "is not a valid internationalised domain name";
	config_lower(v);
	return NULL;
}

/* A domain pattern: letters, digits, '-', '.', '*' and '?', or UTF-8. */
static const char *
config_item_glob(char *v)
{
	size_t i;

	if (v[0] == '\0' || strlen(v) > 253)
		return "must be a domain pattern of 1 to 253 bytes";
	for (i = 0; v[i] != '\0'; i++) {
		unsigned char c = (unsigned char)v[i];

		if (c < 0x80 && !((c >= 'a' && c <= 'z') ||
		    (c >= 'A' && c <= 'Z') || config_is_digit((char)c) ||
		    c == '-' || c == '.' || c == '*' || c == '?'))
			return "must be a domain pattern (letters, digits, "
			    "'-', '.', '*' and '?')";
	}
	config_lower(v);
	return NULL;
}

/* A top-level label: letters, digits and '-', or UTF-8; no dots. */
static const char *
config_item_tld(char *v)
{
	size_t i, n = strlen(v);

	if (n == 0 || n > 63)
		return "must be a top-level label of 1 to 63 bytes";
	for (i = 0; i < n; i++) {
		unsigned char c = (unsigned char)v[i];

		if (c < 0x80 && !((c >= 'a' && c <= 'z') ||
		    (c >= 'A' && c <= 'Z') || config_is_digit((char)c) ||
		    c == '-'))
			return "must be a top-level label such as com "
			    "(letters, digits and '-', no dots)";
	}
	if (v[0] == '-' || v[n - 1] == '-')
		return "must not start or end with '-'";
	config_lower(v);
	return NULL;
}

/* Free text (UTF-8) of 1 to 256 bytes, as policy_new() accepts. */
static const char *
config_item_text(char *v)
{
	if (v[0] == '\0' || strlen(v) > 256)
		return "must be 1 to 256 bytes long";
	if (config_has_ctl(v))
		return "must not contain control characters";
	return NULL;
}

/* An auth user or an address (UTF-8 allowed, RFC 6531). */
static const char *
config_item_user(char *v)
{
	size_t i;

	if (v[0] == '\0' || strlen(v) > 254)
		return "must be 1 to 254 bytes long";
	for (i = 0; v[i] != '\0'; i++) {
		unsigned char c = (unsigned char)v[i];

		if (c <= 0x20 || c == 0x7f || c == '"' || c == '\\')
			return "must be a user name or address without "
			    "spaces, quotes or backslashes";
	}
	return NULL;
}

/* The current event is a scalar list item or map entry; copies it into
 * a new NUL-terminated string (NULL and an error when it is not one). */
static char *
config_item_dup(struct config_ctx *ctx, const char *path, const char *what)
{
	const yaml_event_t *ev = &ctx->ev;

	if (ev->type != YAML_SCALAR_EVENT || config_is_null(ev)) {
		config_err(ctx, &ev->start_mark, path, "expected %s, found %s",
		    what, config_event_what(ev));
		return NULL;
	}
	if (memchr(ev->data.scalar.value, '\0', ev->data.scalar.length) !=
	    NULL) {
		config_err(ctx, &ev->start_mark, path, "must not contain a NUL "
		    "byte");
		return NULL;
	}
	return xstrndup((const char *)ev->data.scalar.value,
	    ev->data.scalar.length);
}

static void
config_strlist_free(const char *const *list, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		free((void *)(uintptr_t)list[i]);
	free((void *)(uintptr_t)list);
}

static void
config_tldmap_free(const struct policy_tld_map *map, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++) {
		free((void *)(uintptr_t)map[i].from);
		free((void *)(uintptr_t)map[i].to);
	}
	free((void *)(uintptr_t)map);
}

/*
 * A list of strings: base + e->off holds the array, base + e->noff the
 * count (base is the config, or one rule's settings).  path names it in
 * messages.  What was there before (a default) is freed first.
 */
static int
config_parse_strlist(struct config_ctx *ctx, const struct config_entry *e,
    char *base, const char *path)
{
	const char *const **listp = (const char *const **)(void *)
	    (base + e->off);
	size_t *np = (size_t *)(void *)(base + e->noff);
	const yaml_event_t *ev = &ctx->ev;
	char ipath[CONFIG_PATH_MAX + 16];
	const char **list;
	const char *w;
	char *v;

	config_strlist_free(*listp, *np);
	*listp = NULL;
	*np = 0;
	if (ev->type != YAML_SEQUENCE_START_EVENT) {
		config_err(ctx, &ev->start_mark, path, "expected a sequence "
		    "of strings, found %s", config_event_what(ev));
		return -1;
	}
	for (;;) {
		if (config_next(ctx) == -1)
			return -1;
		if (ev->type == YAML_SEQUENCE_END_EVENT)
			return 0;
		(void)mh_snprintf(ipath, sizeof(ipath), "%s[%zu]", path, *np);
		if ((long long)*np >= e->max) {
			config_err(ctx, &ev->start_mark, ipath, "too many "
			    "entries (at most %lld)", e->max);
			return -1;
		}
		if ((v = config_item_dup(ctx, ipath, "a string")) == NULL)
			return -1;
		if (e->item != NULL && (w = e->item(v)) != NULL) {
			free(v);
			config_err(ctx, &ev->start_mark, ipath, "%s", w);
			return -1;
		}
		list = xreallocarray((void *)(uintptr_t)*listp, *np + 1,
		    sizeof(*list));
		list[(*np)++] = v;
		*listp = list;
	}
}

/* policy.confusable_tlds: {from: to, ...}. */
static int
config_parse_tldmap(struct config_ctx *ctx, const struct config_entry *e)
{
	struct policy_config *pc = &ctx->cfg->policy;
	const yaml_event_t *ev = &ctx->ev;
	char path[CONFIG_PATH_MAX], kesc[CONFIG_KEY_MAX * 4 + 8];
	struct policy_tld_map *map;
	char *from, *to;
	const char *w;
	size_t i;

	config_tldmap_free(pc->confusable_tlds, pc->nconfusable);
	pc->confusable_tlds = NULL;
	pc->nconfusable = 0;
	if (ev->type != YAML_MAPPING_START_EVENT) {
		config_err(ctx, &ev->start_mark, e->name, "expected a mapping "
		    "{typed: intended}, found %s", config_event_what(ev));
		return -1;
	}
	for (;;) {
		if (config_next(ctx) == -1)
			return -1;
		if (ev->type == YAML_MAPPING_END_EVENT)
			return 0;
		if (config_key_check(ctx, e->name) == -1)
			return -1;
		(void)mh_snprintf(path, sizeof(path), "%s.%s", e->name,
		    config_key_escape(ev, kesc, sizeof(kesc)));
		if ((long long)pc->nconfusable >= e->max) {
			config_err(ctx, &ev->start_mark, path, "too many "
			    "entries (at most %lld)", e->max);
			return -1;
		}
		if ((from = config_item_dup(ctx, path, "a label")) == NULL)
			return -1;
		if ((w = config_item_tld(from)) != NULL) {
			free(from);
			config_err(ctx, &ev->start_mark, path, "%s", w);
			return -1;
		}
		for (i = 0; i < pc->nconfusable; i++)
			if (strcmp(pc->confusable_tlds[i].from, from) == 0) {
				free(from);
				config_err(ctx, &ev->start_mark, path,
				    "duplicate key");
				return -1;
			}
		map = xreallocarray((void *)(uintptr_t)pc->confusable_tlds,
		    pc->nconfusable + 1, sizeof(*map));
		map[pc->nconfusable].from = from;
		map[pc->nconfusable].to = NULL;
		pc->confusable_tlds = map;
		pc->nconfusable++;
		if (config_next(ctx) == -1)
			return -1;
		if ((to = config_item_dup(ctx, path, "a label")) == NULL)
			return -1;
		map[pc->nconfusable - 1].to = to;
		if ((w = config_item_tld(to)) != NULL) {
			config_err(ctx, &ev->start_mark, path, "%s", w);
			return -1;
		}
		if (strcmp(from, to) == 0) {
			config_err(ctx, &ev->start_mark, path, "maps a label "
			    "to itself");
			return -1;
		}
	}
}

static int
config_rule_key_find(const char *key, size_t len)
{
	size_t i;

	for (i = 0; i < CONFIG_NRULEKEYS; i++)
		if (strlen(config_rule_keys[i].name) == len &&
		    memcmp(config_rule_keys[i].name, key, len) == 0)
			return (int)i;
	return -1;
}

/* The table row "policy.rules.RULE.KEY", or -1; key is counted. */
static int
config_rule_entry_find(size_t rule, const char *key, size_t len)
{
	char name[CONFIG_PATH_MAX];

	if (len > CONFIG_KEY_MAX || memchr(key, '\0', len) != NULL ||
	    memchr(key, '.', len) != NULL)
		return -1;
	(void)mh_snprintf(name, sizeof(name), "policy.rules.%s.%.*s",
	    policy_rule_to_str((enum policy_rule)rule), (int)len, key);
	return config_entry_index(name);
}

/* The settings of one rule: the current event starts their mapping. */
static int
config_parse_rule(struct config_ctx *ctx, size_t r)
{
	const yaml_event_t *ev = &ctx->ev;
	const char *key, *rname = policy_rule_to_str((enum policy_rule)r);
	char base[CONFIG_PATH_MAX], path[CONFIG_PATH_MAX];
	char kesc[CONFIG_KEY_MAX * 4 + 8];
	struct config_entry tmp;
	char *rbase;
	size_t len;
	int k, i;

	rbase = (char *)&ctx->cfg->policy.rules[r];
	(void)mh_snprintf(base, sizeof(base), "policy.rules.%s", rname);
	for (;;) {
		if (config_next(ctx) == -1)
			return -1;
		if (ev->type == YAML_MAPPING_END_EVENT)
			return 0;
		if (config_key_check(ctx, base) == -1)
			return -1;
		key = (const char *)ev->data.scalar.value;
		len = ev->data.scalar.length;
		(void)mh_snprintf(path, sizeof(path), "%s.%s", base,
		    config_key_escape(ev, kesc, sizeof(kesc)));
		i = -1;
		if ((k = config_rule_key_find(key, len)) == -1 &&
		    (i = config_rule_entry_find(r, key, len)) == -1) {
			config_err(ctx, &ev->start_mark, path, "unknown key");
			return -1;
		}
		if (k != -1 ? ctx->seen_rkey[r][k] : ctx->seen[i]) {
			config_err(ctx, &ev->start_mark, path, "duplicate key");
			return -1;
		}
		if (config_next(ctx) == -1)
			return -1;
		if (i != -1) {
			ctx->seen[i] = true;
			ctx->mark[i] = ev->start_mark;
			if (config_parse_value(ctx, &config_table[i]) == -1)
				return -1;
			continue;
		}
		ctx->seen_rkey[r][k] = true;
		ctx->rkey_mark[r][k] = ev->start_mark;
		tmp = config_rule_keys[k];
		tmp.name = path;
		if (tmp.type == CONFIG_T_STRLIST) {
			if (config_parse_strlist(ctx, &tmp, rbase, path) == -1)
				return -1;
			continue;
		}
		/* A scalar: through the table code, at this rule's offset. */
		tmp.off += CONFIG_RULES_BASE + r * sizeof(struct
		    policy_rule_config);
		if (config_parse_value(ctx, &tmp) == -1)
			return -1;
	}
}

/* policy.rules: {rule: {key: value, ...}, ...}. */
static int
config_parse_rules(struct config_ctx *ctx, const struct config_entry *e)
{
	const yaml_event_t *ev = &ctx->ev;
	char path[CONFIG_PATH_MAX], kesc[CONFIG_KEY_MAX * 4 + 8];
	char names[CONFIG_WHY_MAX];
	const char *list[POLICY_R_COUNT + 1];
	size_t r;
	int i;

	if (ev->type != YAML_MAPPING_START_EVENT) {
		config_err(ctx, &ev->start_mark, e->name, "expected a mapping "
		    "{rule: {key: value}}, found %s", config_event_what(ev));
		return -1;
	}
	for (;;) {
		if (config_next(ctx) == -1)
			return -1;
		if (ev->type == YAML_MAPPING_END_EVENT)
			return 0;
		if (config_key_check(ctx, e->name) == -1)
			return -1;
		(void)mh_snprintf(path, sizeof(path), "%s.%s", e->name,
		    config_key_escape(ev, kesc, sizeof(kesc)));
		i = -1;
		if (ev->data.scalar.length <= CONFIG_KEY_MAX &&
		    memchr(ev->data.scalar.value, '\0',
		    ev->data.scalar.length) == NULL)
			i = policy_rule_parse((const char *)
			    ev->data.scalar.value);
		if (i < 0 || i >= (int)POLICY_R_COUNT) {
			for (r = 0; r < POLICY_R_COUNT; r++)
				list[r] = policy_rule_to_str(
				    (enum policy_rule)r);
			list[r] = NULL;
			config_names_join(list, names, sizeof(names));
			config_err(ctx, &ev->start_mark, path, "unknown rule "
			    "(expected %s)", names);
			return -1;
		}
		if (ctx->seen_rule[i]) {
			config_err(ctx, &ev->start_mark, path, "duplicate key");
			return -1;
		}
		ctx->seen_rule[i] = true;
		if (config_next(ctx) == -1)
			return -1;
		if (ev->type == YAML_MAPPING_START_EVENT) {
			if (config_parse_rule(ctx, (size_t)i) == -1)
				return -1;
		} else if (!config_is_null(ev)) {
			config_err(ctx, &ev->start_mark, path, "expected a "
			    "mapping of rule settings, found %s",
			    config_event_what(ev));
			return -1;
		}
	}
}

const struct config_sender *
config_sender_find(const struct config *cfg, const char *user)
{
	size_t i;

	if (cfg == NULL || user == NULL)
		return NULL;
	for (i = 0; i < cfg->nsenders; i++)
		if (strcmp(cfg->senders[i].user, user) == 0)
			return &cfg->senders[i];
	return NULL;
}

static bool
config_list_has(const char *const *v, size_t n, const char *s)
{
	size_t i;

	if (s == NULL || *s == '\0')
		return false;
	for (i = 0; i < n; i++)
		if (mh_strcasecmp(v[i], s) == 0)
			return true;
	return false;
}

int
config_user_lang(const struct config *cfg, const char *auth_user,
    const char *sender)
{
	const char *who[2] = { auth_user, sender };
	size_t i;

	for (i = 0; i < 2; i++) {
		if (config_list_has(cfg->notify_users_ja,
		    cfg->nnotify_users_ja, who[i]))
			return 1;	/* ALERT_LANG_JA */
		if (config_list_has(cfg->notify_users_en,
		    cfg->nnotify_users_en, who[i]))
			return 0;	/* ALERT_LANG_EN */
	}
	return cfg->notify_lang;
}

bool
config_has_tls(const struct config *cfg)
{
	size_t i;

	if (cfg->web_enabled && cfg->web_tls)
		return true;
	for (i = 0; i < cfg->nlisteners; i++)
		if (cfg->listeners[i].mode != CONFIG_LISTEN_PLAIN)
			return true;
	return false;
}

/* The current event is the value of entry e. */
static int
config_parse_value(struct config_ctx *ctx, const struct config_entry *e)
{
	const yaml_event_t *ev = &ctx->ev;
	char why[CONFIG_WHY_MAX];

	switch (e->type) {
	case CONFIG_T_LISTENERS:
		return config_parse_listeners(ctx, e);
	case CONFIG_T_CIDRLIST:
		return config_parse_cidrs(ctx, e);
	case CONFIG_T_SENDERS:
		return config_parse_senders(ctx, e);
	case CONFIG_T_STRLIST:
		return config_parse_strlist(ctx, e, (char *)ctx->cfg, e->name);
	case CONFIG_T_TLDMAP:
		return config_parse_tldmap(ctx, e);
	case CONFIG_T_RULES:
		return config_parse_rules(ctx, e);
	default:
		break;
	}
	if (ev->type != YAML_SCALAR_EVENT) {
		config_err(ctx, &ev->start_mark, e->name, "expected %s, found "
		    "%s", config_type_what(e->type), config_event_what(ev));
		return -1;
	}
	if (config_set_scalar(ctx->cfg, e, (const char *)ev->data.scalar.value,
	    ev->data.scalar.length, config_is_null(ev), why,
	    sizeof(why)) == -1) {
		config_err(ctx, &ev->start_mark, e->name, "%s", why);
		return -1;
	}
	return 0;
}

/* The current event is the start of section sec's mapping. */
static int
config_parse_section(struct config_ctx *ctx, size_t sec)
{
	const char *sname = config_sections[sec].name;
	const yaml_event_t *ev = &ctx->ev;
	char path[CONFIG_PATH_MAX], kesc[CONFIG_KEY_MAX * 4 + 8];
	int i;

	for (;;) {
		if (config_next(ctx) == -1)
			return -1;
		if (ev->type == YAML_MAPPING_END_EVENT)
			return 0;
		if (config_key_check(ctx, sname) == -1)
			return -1;
		i = config_entry_find(sec, (const char *)ev->data.scalar.value,
		    ev->data.scalar.length);
		if (i == -1) {
			(void)mh_snprintf(path, sizeof(path), "%s.%s", sname,
			    config_key_escape(ev, kesc, sizeof(kesc)));
			config_err(ctx, &ev->start_mark, path, "unknown key");
			return -1;
		}
		if (ctx->seen[i]) {
			config_err(ctx, &ev->start_mark, config_table[i].name,
			    "duplicate key");
			return -1;
		}
		ctx->seen[i] = true;
		if (config_next(ctx) == -1)
			return -1;
		ctx->mark[i] = ev->start_mark;
		if (config_parse_value(ctx, &config_table[i]) == -1)
			return -1;
	}
}

/* The current event is the start of the top-level mapping. */
static int
config_parse_root(struct config_ctx *ctx)
{
	const yaml_event_t *ev = &ctx->ev;
	char kesc[CONFIG_KEY_MAX * 4 + 8], names[CONFIG_WHY_MAX];
	const char *list[CONFIG_NSECTIONS + 1], *sname;
	size_t j;
	int sec;

	for (;;) {
		if (config_next(ctx) == -1)
			return -1;
		if (ev->type == YAML_MAPPING_END_EVENT)
			return 0;
		if (config_key_check(ctx, NULL) == -1)
			return -1;
		sec = config_section_find((const char *)ev->data.scalar.value,
		    ev->data.scalar.length);
		if (sec == -1) {
			for (j = 0; j < CONFIG_NSECTIONS; j++)
				list[j] = config_sections[j].name;
			list[j] = NULL;
			config_names_join(list, names, sizeof(names));
			config_err(ctx, &ev->start_mark,
			    config_key_escape(ev, kesc, sizeof(kesc)),
			    "unknown section (expected %s)", names);
			return -1;
		}
		sname = config_sections[sec].name;
		if (ctx->seen_section[sec]) {
			config_err(ctx, &ev->start_mark, sname,
			    "duplicate key");
			return -1;
		}
		ctx->seen_section[sec] = true;
		if (config_next(ctx) == -1)
			return -1;
		ctx->section_mark[sec] = ev->start_mark;
		if (ev->type == YAML_MAPPING_START_EVENT) {
			if (config_parse_section(ctx, (size_t)sec) == -1)
				return -1;
		} else if (!config_is_null(ev)) {
			config_err(ctx, &ev->start_mark, sname, "expected a "
			    "mapping of keys, found %s", config_event_what(ev));
			return -1;
		}
	}
}

static int
config_parse_stream(struct config_ctx *ctx)
{
	const yaml_event_t *ev = &ctx->ev;

	if (config_expect(ctx, YAML_STREAM_START_EVENT) == -1 ||
	    config_next(ctx) == -1)
		return -1;
	if (ev->type == YAML_STREAM_END_EVENT)
		return 0;			/* empty: all defaults */
	if (ev->type != YAML_DOCUMENT_START_EVENT) {
		config_err(ctx, &ev->start_mark, NULL, "unexpected YAML event");
		return -1;
	}
	if (config_next(ctx) == -1)
		return -1;
	if (ev->type == YAML_MAPPING_START_EVENT) {
		if (config_parse_root(ctx) == -1)
			return -1;
	} else if (!config_is_null(ev)) {
		config_err(ctx, &ev->start_mark, NULL, "the top level must be "
		    "a mapping of sections, found %s", config_event_what(ev));
		return -1;
	}
	if (config_expect(ctx, YAML_DOCUMENT_END_EVENT) == -1 ||
	    config_next(ctx) == -1)
		return -1;
	if (ev->type != YAML_STREAM_END_EVENT) {
		config_err(ctx, &ev->start_mark, NULL, "only one YAML document "
		    "is allowed");
		return -1;
	}
	return 0;
}

/* A list default is YAML flow text, read with the same code as the file. */
static int
config_default_list(struct config_ctx *ctx, const struct config_entry *e)
{
	struct config_ctx *sub;
	int r = -1;

	sub = xcalloc(1, sizeof(*sub));
	if (config_ctx_init(sub, "<default>", e->def, strlen(e->def),
	    ctx->cfg, ctx->err, ctx->errsz) == 0 &&
	    config_expect(sub, YAML_STREAM_START_EVENT) == 0 &&
	    config_expect(sub, YAML_DOCUMENT_START_EVENT) == 0 &&
	    config_next(sub) == 0 &&
	    config_parse_value(sub, e) == 0 &&
	    config_expect(sub, YAML_DOCUMENT_END_EVENT) == 0 &&
	    config_expect(sub, YAML_STREAM_END_EVENT) == 0)
		r = 0;
	config_ctx_clear(sub);
	free(sub);
	return r;
}

static int
config_apply_defaults(struct config_ctx *ctx)
{
	char why[CONFIG_WHY_MAX];
	size_t i;

	for (i = 0; i < CONFIG_NENTRIES; i++) {
		const struct config_entry *e = &config_table[i];

		/* Policy keys keep what policy_config_init() set. */
		if (ctx->seen[i] || (e->flags & CONFIG_F_POLICY))
			continue;
		if (e->type == CONFIG_T_LISTENERS ||
		    e->type == CONFIG_T_CIDRLIST ||
		    e->type == CONFIG_T_SENDERS ||
		    e->type == CONFIG_T_STRLIST) {
			if (config_default_list(ctx, e) == -1)
				return -1;
			continue;
		}
		if (config_set_scalar(ctx->cfg, e, e->def ? e->def : "",
		    e->def ? strlen(e->def) : 0, e->def == NULL, why,
		    sizeof(why)) == -1) {
			config_err(ctx, NULL, e->name, "invalid default: %s",
			    why);
			return -1;
		}
	}
	return 0;
}

/*
 * After the walk.
 */

static void config_err_key(struct config_ctx *, const char *, const char *,
    ...) MH_PRINTF(3, 4);

/* An error about key name, at the value's position when the file set it. */
static void
config_err_key(struct config_ctx *ctx, const char *name, const char *fmt,
    ...)
{
	char msg[CONFIG_WHY_MAX + CONFIG_PATH_MAX];
	va_list ap;
	int i;

	va_start(ap, fmt);
	(void)mh_vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	i = config_entry_index(name);
	config_err(ctx, i != -1 && ctx->seen[i] ? &ctx->mark[i] : NULL, name,
	    "%s", msg);
}

/* Which of two keys to blame: the one set in the file, the later one. */
static const char *
config_blame(const struct config_ctx *ctx, const char *a, const char *b)
{
	int ia = config_entry_index(a), ib = config_entry_index(b);

	if (ia == -1 || ib == -1 || !ctx->seen[ia])
		return b;
	if (!ctx->seen[ib] || ctx->mark[ia].index > ctx->mark[ib].index)
		return a;
	return b;
}

/*
 * Reads a small regular file without following it into a device or a
 * FIFO (O_NONBLOCK, then S_ISREG).  *datap is NUL-terminated; the caller
 * frees it (and cleanses it when it holds a secret).
 */
static int
config_file_read(const char *path, size_t max, char **datap, size_t *lenp,
    struct stat *st, char *why, size_t whysz)
{
	char *buf;
	size_t len = 0, want;
	ssize_t r;
	int fd;

	if ((fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC |
	    O_NOCTTY)) == -1) {
		config_errf(why, whysz, "cannot open: %s", strerror(errno));
		return -1;
	}
	if (fstat(fd, st) == -1) {
		config_errf(why, whysz, "cannot stat: %s", strerror(errno));
		close(fd);
		return -1;
	}
	if (!S_ISREG(st->st_mode)) {
		config_errf(why, whysz, "not a regular file");
		close(fd);
		return -1;
	}
	if (st->st_size < 0 || (unsigned long long)st->st_size > max) {
		config_errf(why, whysz, "too large (more than %zu bytes)", max);
		close(fd);
		return -1;
	}
	want = (size_t)st->st_size;
	buf = xmalloc(want + 1);
	while (len < want) {
		r = read(fd, buf + len, want - len);
		if (r == -1 && errno == EINTR)
			continue;
		if (r == -1) {
			config_errf(why, whysz, "cannot read: %s",
			    strerror(errno));
			OPENSSL_cleanse(buf, want + 1);
			free(buf);
			close(fd);
			return -1;
		}
		if (r == 0)
			break;
		len += (size_t)r;
	}
	close(fd);
	buf[len] = '\0';
	*datap = buf;
	*lenp = len;
	return 0;
}

/*
 * Reads upstream.auth_file: one line "user:password", split at the first
 * ':' (the password may contain ':'), with an optional trailing LF or
 * CRLF.  No message ever quotes the content.
 */
static int
config_auth_load(struct config_ctx *ctx)
{
	static const char key[] = "upstream.auth_file";
	struct config *cfg = ctx->cfg;
	const char *path = cfg->up_auth_file;
	char why[CONFIG_WHY_MAX];
	const char *colon, *bad = NULL;
	struct stat st;
	char *data;
	size_t len, alloc, ulen, i;
	int rc = -1;

	if (path == NULL)
		return 0;
	if (config_file_read(path, CONFIG_AUTH_FILE_MAX, &data, &len, &st,
	    why, sizeof(why)) == -1) {
		config_err_key(ctx, key, "%s: %s", path, why);
		return -1;
	}
	alloc = len + 1;
	if (st.st_mode & (S_IROTH | S_IWOTH)) {
		config_err_key(ctx, key, "%s is world-%s (mode %04o); "
		    "refusing to use it: chmod o-rwx it", path,
		    (st.st_mode & S_IROTH) ? "readable" : "writable",
		    (unsigned)(st.st_mode & 07777));
		goto done;
	}
	if (len > 0 && data[len - 1] == '\n') {
		len--;
		if (len > 0 && data[len - 1] == '\r')
			len--;
	}
	colon = memchr(data, ':', len);
	if (memchr(data, '\0', len) != NULL || memchr(data, '\n', len) !=
	    NULL || memchr(data, '\r', len) != NULL)
		bad = "must hold exactly one line user:password";
	else if (colon == NULL)
		bad = "must hold one line user:password (no ':' found)";
	else if (colon == data)
		bad = "has an empty user name";
	else if ((size_t)(colon - data) + 1 == len)
		bad = "has an empty password";
	if (bad != NULL) {
		config_err_key(ctx, key, "%s %s", path, bad);
		goto done;
	}
	ulen = (size_t)(colon - data);
	for (i = 0; i < ulen; i++)
		if ((unsigned char)data[i] < 0x20 ||
		    (unsigned char)data[i] == 0x7f) {
			config_err_key(ctx, key, "%s: the user name contains "
			    "control characters", path);
			goto done;
		}
	cfg->up_user = xstrndup(data, ulen);
	cfg->up_password = xstrndup(colon + 1, len - ulen - 1);
	rc = 0;
done:
	OPENSSL_cleanse(data, alloc);
	free(data);
	return rc;
}

/*
 * Reads metrics.token_file: one line, 16 to 256 printable ASCII
 * characters without spaces (an optional final LF).  Required when the
 * metrics listener is not on loopback.
 */
static int
config_metrics_finish(struct config_ctx *ctx)
{
	static const char key[] = "metrics.token_file";
	struct config *cfg = ctx->cfg;
	char why[CONFIG_WHY_MAX];
	struct stat st;
	char *data;
	size_t len, alloc, i;
	int rc = -1;

	if (!cfg->metrics_enabled)
		return 0;
	if (cfg->metrics_token_file == NULL) {
		if (config_host_is_loopback(cfg->metrics_address))
			return 0;
		config_err_key(ctx, config_blame(ctx, "metrics.address",
		    key), "metrics on a non-loopback address need "
		    "metrics.token_file");
		return -1;
	}
	if (config_file_read(cfg->metrics_token_file, 4096, &data, &len, &st,
	    why, sizeof(why)) == -1) {
		config_err_key(ctx, key, "%s: %s", cfg->metrics_token_file,
		    why);
		return -1;
	}
	alloc = len + 1;
	if (st.st_mode & (S_IROTH | S_IWOTH)) {
		config_err_key(ctx, key, "%s is world-%s (mode %04o); "
		    "refusing to use it: chmod o-rwx it",
		    cfg->metrics_token_file, (st.st_mode & S_IROTH) ?
		    "readable" : "writable", (unsigned)(st.st_mode & 07777));
		goto done;
	}
	if (len > 0 && data[len - 1] == '\n')
		len--;
	for (i = 0; i < len; i++)
		if ((unsigned char)data[i] <= 0x20 ||
		    (unsigned char)data[i] >= 0x7f)
			break;
	if (i < len || len < 16 || len > 256) {
		config_err_key(ctx, key, "%s must hold one token of 16 to 256 "
		    "printable characters without spaces",
		    cfg->metrics_token_file);
		goto done;
	}
	cfg->metrics_token = xstrndup(data, len);
	rc = 0;
done:
	OPENSSL_cleanse(data, alloc);
	free(data);
	return rc;
}

/* A file named by key must be a readable regular file, and (secret)
 * not readable or writable by others. */
static int
config_check_file(struct config_ctx *ctx, const char *key, const char *path,
    bool secret)
{
	struct stat st;

	if (stat(path, &st) == -1 || access(path, R_OK) == -1) {
		config_err_key(ctx, key, "%s: cannot read: %s", path,
		    strerror(errno));
		return -1;
	}
	if (!S_ISREG(st.st_mode)) {
		config_err_key(ctx, key, "%s: not a regular file", path);
		return -1;
	}
	if (secret && (st.st_mode & (S_IROTH | S_IWOTH))) {
		config_err_key(ctx, key, "%s is world-%s (mode %04o); refusing "
		    "to use it: chmod o-rwx it", path,
		    (st.st_mode & S_IROTH) ? "readable" : "writable",
		    (unsigned)(st.st_mode & 07777));
		return -1;
	}
	return 0;
}

static int
config_tls_finish(struct config_ctx *ctx)
{
	struct config *cfg = ctx->cfg;
	int li = config_entry_index("server.listeners");
	const yaml_mark_t *lm = li != -1 && ctx->seen[li] ? &ctx->mark[li] :
	    NULL;
	size_t i;

	for (i = 0; i < cfg->nlisteners; i++) {
		const char *mode = config_listen_names[cfg->listeners[i].mode];

		if (cfg->listeners[i].mode == CONFIG_LISTEN_PLAIN)
			continue;
		if (cfg->tls_cert_file == NULL) {
			config_err(ctx, lm, "tls.cert_file", "must be set: "
			    "server.listeners[%zu] has mode %s", i, mode);
			return -1;
		}
		if (cfg->tls_key_file == NULL) {
			config_err(ctx, lm, "tls.key_file", "must be set: "
			    "server.listeners[%zu] has mode %s", i, mode);
			return -1;
		}
	}
	if (cfg->tls_cert_file != NULL && cfg->tls_key_file == NULL) {
		config_err_key(ctx, "tls.cert_file", "tls.key_file must be set "
		    "too");
		return -1;
	}
	if (cfg->tls_key_file != NULL && cfg->tls_cert_file == NULL) {
		config_err_key(ctx, "tls.key_file", "tls.cert_file must be set "
		    "too");
		return -1;
	}
	if (cfg->tls_cert_file != NULL && (config_check_file(ctx,
	    "tls.cert_file", cfg->tls_cert_file, false) == -1 ||
	    config_check_file(ctx, "tls.key_file", cfg->tls_key_file,
	    true) == -1))
		return -1;
	return 0;
}

static int
config_auth_finish(struct config_ctx *ctx)
{
	struct config *cfg = ctx->cfg;

	switch (cfg->auth_backend) {
	case CONFIG_AUTH_FILE:
		if (cfg->auth_password_file == NULL) {
			config_err_key(ctx, "auth.backend", "file needs "
			    "auth.password_file");
			return -1;
		}
		return config_check_file(ctx, "auth.password_file",
		    cfg->auth_password_file, true);
	case CONFIG_AUTH_UPSTREAM:
		if (cfg->up_tls == CONFIG_TLS_NONE &&
		    !config_host_is_loopback(cfg->up_host)) {
			config_err_key(ctx, config_blame(ctx, "upstream.tls",
			    "auth.backend"), "refusing to send users' "
			    "passwords in clear text: auth.backend is upstream, "
			    "upstream.tls is none and upstream.host is not a "
			    "loopback address");
			return -1;
		}
		return 0;
	default:
		return 0;
	}
}

/*
 * The policy: hold.default and hold.max go in, no rule may hold longer
 * than hold.max, and then it is compiled once; a message from
 * policy_new() names the policy section.
 */
static int
config_policy_finish(struct config_ctx *ctx)
{
	struct config *cfg = ctx->cfg;
	struct policy_config *pc = &cfg->policy;
	char why[CONFIG_WHY_MAX], path[CONFIG_PATH_MAX], a[32], b[32];
	int psec = config_section_find("policy", 6);
	size_t r, k = (size_t)config_rule_key_find("hold", 4);

	pc->hold_default = cfg->hold_default;
	pc->hold_max = cfg->hold_max;
	for (r = 0; r < POLICY_R_COUNT; r++) {
		if (pc->rules[r].hold <= pc->hold_max)
			continue;
		(void)mh_snprintf(path, sizeof(path), "policy.rules.%s.hold",
		    policy_rule_to_str((enum policy_rule)r));
		config_fmt_duration(pc->rules[r].hold, a, sizeof(a));
		config_fmt_duration(pc->hold_max, b, sizeof(b));
		/* A hold the file set is an error; a default one is capped
		 * (every verdict is capped by hold.max anyway), so a short
		 * hold.max needs no edit of every rule. */
		if (ctx->seen_rkey[r][k]) {
			config_err(ctx, &ctx->rkey_mark[r][k], path, "%s must "
			    "not exceed hold.max (%s)", a, b);
			return -1;
		}
		pc->rules[r].hold = pc->hold_max;
	}
	cfg->policy_compiled = policy_new(pc, why, sizeof(why));
	if (cfg->policy_compiled == NULL) {
		config_err(ctx, ctx->seen_section[psec] ?
		    &ctx->section_mark[psec] : NULL, "policy", "%s",
		    why[0] != '\0' ? why : "cannot be compiled");
		return -1;
	}
	return 0;
}


/* The default web.base_url: scheme, web.address and port. */
static void
config_web_url(const struct config *cfg, int port, char *url, size_t sz)
{
	bool v6 = strchr(cfg->web_address, ':') != NULL;

	(void)mh_snprintf(url, sz, "%s://%s%s%s:%d",
	    cfg->web_tls ? "https" : "http", v6 ? "[" : "",
	    cfg->web_address, v6 ? "]" : "", port);
}

void
config_web_bound(struct config *cfg, int port)
{
	char url[128];

	if (cfg == NULL || !cfg->web_base_url_derived || port <= 0 ||
	    port > 65535)
		return;
	config_web_url(cfg, port, url, sizeof(url));
	free(cfg->web_base_url);
	cfg->web_base_url = xstrdup(url);
}

static int
config_web_finish(struct config_ctx *ctx)
{
	struct config *cfg = ctx->cfg;
	char url[300];
	size_t len;

	if (!cfg->web_enabled)
		return 0;
	if (!cfg->web_tls && !config_host_is_loopback(cfg->web_address)) {
		config_err_key(ctx, config_blame(ctx, "web.tls", "web.address"),
		    "plain HTTP is served only on a loopback address (for a "
		    "reverse proxy that does TLS); set web.tls: true");
		return -1;
	}
	if (cfg->web_tls && (cfg->tls_cert_file == NULL ||
	    cfg->tls_key_file == NULL)) {
		config_err_key(ctx, "web.tls", "needs tls.cert_file and "
		    "tls.key_file");
		return -1;
	}
	if (cfg->web_base_url == NULL) {
		config_web_url(cfg, cfg->web_port, url, sizeof(url));
		cfg->web_base_url = xstrdup(url);
		cfg->web_base_url_derived = true;
	}
	len = strlen(cfg->web_base_url);
	while (len > 8 && cfg->web_base_url[len - 1] == '/')
		cfg->web_base_url[--len] = '\0';
	return 0;
}

static int
config_finish(struct config_ctx *ctx)
{
	struct config *cfg = ctx->cfg;
	char host[256], esc[96], a[32], b[32];
	const struct config_entry *elo, *ehi;
	long long vlo, vhi;
	const char *w;
	size_t i;

	/* Derived defaults. */
	if (cfg->hostname == NULL) {
		memset(host, 0, sizeof(host));
		if (gethostname(host, sizeof(host) - 1) == -1) {
			config_err_key(ctx, "server.hostname", "cannot get the "
			    "system host name (%s); set server.hostname",
			    strerror(errno));
			return -1;
		}
		if ((w = config_check_hostname(host)) != NULL) {
			config_err_key(ctx, "server.hostname", "the system "
			    "host name \"%s\" %s; set server.hostname",
			    mh_log_escape(host, strlen(host), 64, esc,
			    sizeof(esc)), w);
			return -1;
		}
		cfg->hostname = xstrdup(host);
	}
	if (cfg->up_helo == NULL)
		cfg->up_helo = xstrdup(cfg->hostname);
	if (cfg->notify_from == NULL) {
		char from[300];

		(void)mh_snprintf(from, sizeof(from), "mailhold@%s",
		    cfg->hostname);
		cfg->notify_from = xstrdup(from);
	}
	if (cfg->notify_admin == NULL) {
		char admin[300];

		(void)mh_snprintf(admin, sizeof(admin), "postmaster@%s",
		    cfg->hostname);
		cfg->notify_admin = xstrdup(admin);
	}
	if (config_web_finish(ctx) == -1)
		return -1;

	/* Cross-field rules. */
	for (i = 0; i < CONFIG_NITEMS(config_orders); i++) {
		elo = &config_table[config_entry_index(config_orders[i].lo)];
		ehi = &config_table[config_entry_index(config_orders[i].hi)];
		vlo = config_get_num(cfg, elo);
		vhi = config_get_num(cfg, ehi);
		if (vlo <= vhi)
			continue;
		config_fmt_num(elo, vlo, a, sizeof(a));
		config_fmt_num(ehi, vhi, b, sizeof(b));
		config_err_key(ctx, config_blame(ctx, elo->name, ehi->name),
		    "%s (%s) must not exceed %s (%s)", elo->name, a,
		    ehi->name, b);
		return -1;
	}
	/* Without AUTH only trusted networks may submit. */
	if (cfg->ntrusted == 0 && cfg->auth_backend == CONFIG_AUTH_NONE) {
		config_err_key(ctx, "server.trusted_networks", "is empty and "
		    "auth.backend is none, so no client could submit");
		return -1;
	}
	if (config_tls_finish(ctx) == -1 || config_auth_finish(ctx) == -1)
		return -1;
	if (cfg->up_ca_file != NULL && access(cfg->up_ca_file, R_OK) == -1) {
		config_err_key(ctx, "upstream.ca_file", "%s: cannot read: %s",
		    cfg->up_ca_file, strerror(errno));
		return -1;
	}
	if (cfg->up_auth_file != NULL && cfg->up_tls == CONFIG_TLS_NONE &&
	    !config_host_is_loopback(cfg->up_host)) {
		config_err_key(ctx, config_blame(ctx, "upstream.tls",
		    "upstream.auth_file"), "refusing to send the upstream "
		    "password in clear text: upstream.tls is none and "
		    "upstream.host is not a loopback address");
		return -1;
	}
	if (config_policy_finish(ctx) == -1 || config_metrics_finish(ctx) == -1)
		return -1;
	return config_auth_load(ctx);
}

/*
 * policy_config_init(), with the built-in lists it points to copied, so
 * that the config owns every list of its policy_config.
 */
static void
config_policy_init(struct policy_config *pc)
{
	struct policy_tld_map *map;
	const char **list;
	size_t i;

	policy_config_init(pc);
	map = xreallocarray(NULL, pc->nconfusable + 1, sizeof(*map));
	for (i = 0; i < pc->nconfusable; i++) {
		map[i].from = xstrdup(pc->confusable_tlds[i].from);
		map[i].to = xstrdup(pc->confusable_tlds[i].to);
	}
	pc->confusable_tlds = map;
	list = xreallocarray(NULL, pc->nsensitive + 1, sizeof(*list));
	for (i = 0; i < pc->nsensitive; i++)
		list[i] = xstrdup(pc->sensitive_patterns[i]);
	pc->sensitive_patterns = list;
}

/*
 * Public interface.
 */

struct config *
config_load_buffer_(const char *name, const char *data, size_t len,
    char *errbuf, size_t errsz)
{
	struct config_ctx *ctx;
	struct config *cfg;
	const char *bad;

	if (errbuf != NULL && errsz > 0)
		errbuf[0] = '\0';
	if (name == NULL)
		name = "(buffer)";
	if ((bad = config_table_check()) != NULL) {
		config_errf(errbuf, errsz, "%s: %s: internal error: bad "
		    "config_table entry", name, bad);
		return NULL;
	}
	cfg = xcalloc(1, sizeof(*cfg));
	cfg->refs = 1;
	cfg->path = xstrdup(name);
	config_policy_init(&cfg->policy);
	ctx = xcalloc(1, sizeof(*ctx));
	if (config_ctx_init(ctx, name, data, len, cfg, errbuf, errsz) == -1 ||
	    config_parse_stream(ctx) == -1)
		goto fail;
	/* Release libyaml's buffers before the checks that read files. */
	config_ctx_clear(ctx);
	if (config_apply_defaults(ctx) == -1 || config_finish(ctx) == -1)
		goto fail;
	free(ctx);
	return cfg;

fail:
	config_ctx_clear(ctx);
	free(ctx);
	config_free(cfg);
	return NULL;
}

struct config *
config_load(const char *path, char *errbuf, size_t errsz)
{
	char why[CONFIG_WHY_MAX];
	struct config *cfg;
	struct stat st;
	char *data;
	size_t len;

	if (errbuf != NULL && errsz > 0)
		errbuf[0] = '\0';
	if (path == NULL) {
		config_errf(errbuf, errsz, "no configuration file given");
		return NULL;
	}
	if (config_file_read(path, CONFIG_FILE_MAX, &data, &len, &st, why,
	    sizeof(why)) == -1) {
		config_errf(errbuf, errsz, "%s: %s", path, why);
		return NULL;
	}
	cfg = config_load_buffer_(path, data, len, errbuf, errsz);
	free(data);
	return cfg;
}

struct config *
config_default(char *errbuf, size_t errsz)
{
	return config_load_buffer_("(defaults)", "", 0, errbuf, errsz);
}

struct config *
config_ref(struct config *cfg)
{
	if (cfg != NULL)
		cfg->refs++;
	return cfg;
}

static void
config_free(struct config *cfg)
{
	size_t i;

	if (cfg == NULL)
		return;
	for (i = 0; i < CONFIG_NENTRIES; i++)
		if (config_table[i].type == CONFIG_T_STRING)
			free(*(char **)config_field(cfg, &config_table[i]));
	for (i = 0; i < cfg->nlisteners; i++)
		free(cfg->listeners[i].address);
	free(cfg->listeners);
	free(cfg->trusted);
	free(cfg->web_proxies);
	for (i = 0; i < cfg->nsenders; i++) {
		size_t j;

		for (j = 0; j < cfg->senders[i].npatterns; j++)
			free(cfg->senders[i].patterns[j]);
		free(cfg->senders[i].patterns);
		free(cfg->senders[i].user);
	}
	free(cfg->senders);
	policy_free(cfg->policy_compiled);
	for (i = 0; i < CONFIG_NENTRIES; i++)
		if (config_table[i].type == CONFIG_T_STRLIST)
			config_strlist_free(*(const char *const **)
			    config_field(cfg, &config_table[i]),
			    *(size_t *)(void *)((char *)cfg +
			    config_table[i].noff));
	config_tldmap_free(cfg->policy.confusable_tlds,
	    cfg->policy.nconfusable);
	for (i = 0; i < POLICY_R_COUNT; i++) {
		config_strlist_free(cfg->policy.rules[i].users,
		    cfg->policy.rules[i].nusers);
		config_strlist_free(cfg->policy.rules[i].domains,
		    cfg->policy.rules[i].ndomains);
	}
	free(cfg->up_user);
	if (cfg->metrics_token != NULL) {
		OPENSSL_cleanse(cfg->metrics_token, strlen(cfg->metrics_token));
		free(cfg->metrics_token);
	}
	if (cfg->up_password != NULL) {
		OPENSSL_cleanse(cfg->up_password, strlen(cfg->up_password));
		free(cfg->up_password);
	}
	free(cfg->path);
	free(cfg);
}

void
config_unref(struct config *cfg)
{
	if (cfg == NULL)
		return;
	if (cfg->refs <= 0) {
		MH_BUG("config_unref: reference count already zero");
		return;
	}
	if (--cfg->refs == 0)
		config_free(cfg);
}

/* s as a YAML double-quoted scalar; control characters were refused at
 * load, so only '"' and '\\' need escaping. */
static int
config_fmt_quoted(struct mh_buf *b, const char *s)
{
	int r = mh_buf_puts(b, "\"");

	for (; *s != '\0'; s++) {
		if (*s == '"' || *s == '\\')
			r |= mh_buf_puts(b, "\\");
		r |= mh_buf_append(b, s, 1);
	}
	return r | mh_buf_puts(b, "\"");
}

static int	config_fmt_value(const struct config *,
		    const struct config_entry *, struct mh_buf *);

/* config_rule_keys[k] as an entry with offsets into struct config. */
static struct config_entry
config_rule_entry(size_t r, size_t k)
{
	struct config_entry e = config_rule_keys[k];
	size_t base = CONFIG_RULES_BASE + r * sizeof(struct policy_rule_config);

	e.off += base;
	if (e.type == CONFIG_T_STRLIST)
		e.noff += base;
	return e;
}

/* The settings of rule r, every key, as a flow mapping. */
static int
config_fmt_rule(const struct config *cfg, size_t r, struct mh_buf *b)
{
	const char *rname = policy_rule_to_str((enum policy_rule)r);
	struct config_entry e;
	size_t i, k, rl = strlen(rname);
	int rc = mh_buf_puts(b, "{");

	for (k = 0; k < CONFIG_NRULEKEYS; k++) {
		e = config_rule_entry(r, k);
		rc |= mh_buf_printf(b, "%s%s: ", k ? ", " : "", e.name);
		rc |= config_fmt_value(cfg, &e, b);
	}
	for (i = 0; i < CONFIG_NENTRIES; i++) {
		const char *n = config_table[i].name + sizeof("policy.rules.") -
		    1;

		if (!(config_table[i].flags & CONFIG_F_RULE) ||
		    strncmp(n, rname, rl) != 0 || n[rl] != '.')
			continue;
		rc |= mh_buf_printf(b, ", %s: ", n + rl + 1);
		rc |= config_fmt_value(cfg, &config_table[i], b);
	}
	return rc | mh_buf_puts(b, "}");
}

/* Appends the effective value of e, in the syntax the file would use. */
static int
config_fmt_value(const struct config *cfg, const struct config_entry *e,
    struct mh_buf *b)
{
	char num[32], net[INET6_ADDRSTRLEN];
	const char *s;
	size_t i;
	int r = 0;

	switch (e->type) {
	case CONFIG_T_STRING:
		s = *(char *const *)config_cfield(cfg, e);
		return mh_buf_puts(b, s != NULL ? s : "(none)");
	case CONFIG_T_BOOL:
		return mh_buf_puts(b, config_get_num(cfg, e) ? "true" :
		    "false");
	case CONFIG_T_ENUM:
		return mh_buf_puts(b, e->names[config_get_num(cfg, e)]);
	case CONFIG_T_INT:
	case CONFIG_T_SIZE:
	case CONFIG_T_DURATION:
		config_fmt_num(e, config_get_num(cfg, e), num, sizeof(num));
		return mh_buf_puts(b, num);
	case CONFIG_T_LISTENERS:
		r |= mh_buf_puts(b, "[");
		for (i = 0; i < cfg->nlisteners; i++) {
			const struct config_listener *l = &cfg->listeners[i];

			r |= mh_buf_printf(b, "%s{address: \"%s\", port: %d, "
			    "mode: %s", i ? ", " : "", l->address, l->port,
			    config_listen_names[l->mode]);
			if (l->mode == CONFIG_LISTEN_STARTTLS)
				r |= mh_buf_printf(b, ", require_tls: %s",
				    l->require_tls ? "true" : "false");
			r |= mh_buf_puts(b, "}");
		}
		r |= mh_buf_puts(b, "]");
		return r;
	case CONFIG_T_CIDRLIST: {
		const struct config_cidr *cl = *(struct config_cidr *const *)
		    (const void *)((const char *)cfg + e->off);
		size_t cn = *(const size_t *)(const void *)
		    ((const char *)cfg + e->noff);

		r |= mh_buf_puts(b, "[");
		for (i = 0; i < cn; i++) {
			if (inet_ntop(cl[i].family, cl[i].addr, net,
			    sizeof(net)) == NULL)
				mh_strlcpy(net, "?", sizeof(net));
			r |= mh_buf_printf(b, "%s\"%s/%d\"", i ? ", " : "", net,
			    cl[i].prefix);
		}
		r |= mh_buf_puts(b, "]");
		return r;
	}
	case CONFIG_T_SENDERS:
		/* Tokens were checked to need no escaping. */
		r |= mh_buf_puts(b, "{");
		for (i = 0; i < cfg->nsenders; i++) {
			const struct config_sender *u = &cfg->senders[i];
			size_t j;

			r |= mh_buf_printf(b, "%s\"%s\": [", i ? ", " : "",
			    u->user);
			for (j = 0; j < u->npatterns; j++)
				r |= mh_buf_printf(b, "%s\"%s\"", j ? ", " : "",
				    u->patterns[j]);
			r |= mh_buf_puts(b, "]");
		}
		r |= mh_buf_puts(b, "}");
		return r;
	case CONFIG_T_STRLIST: {
		const char *const *list = *(const char *const *const *)
		    config_cfield(cfg, e);
		size_t n = *(const size_t *)(const void *)
		    ((const char *)cfg + e->noff);

		r |= mh_buf_puts(b, "[");
		for (i = 0; i < n; i++) {
			r |= mh_buf_puts(b, i ? ", " : "");
			r |= config_fmt_quoted(b, list[i]);
		}
		return r | mh_buf_puts(b, "]");
	}
	case CONFIG_T_TLDMAP:
		r |= mh_buf_puts(b, "{");
		for (i = 0; i < cfg->policy.nconfusable; i++) {
			r |= mh_buf_puts(b, i ? ", " : "");
			r |= config_fmt_quoted(b,
			    cfg->policy.confusable_tlds[i].from);
			r |= mh_buf_puts(b, ": ");
			r |= config_fmt_quoted(b,
			    cfg->policy.confusable_tlds[i].to);
		}
		return r | mh_buf_puts(b, "}");
	case CONFIG_T_RULES:
		r |= mh_buf_puts(b, "{");
		for (i = 0; i < POLICY_R_COUNT; i++) {
			r |= mh_buf_printf(b, "%s%s: ", i ? ", " : "",
			    policy_rule_to_str((enum policy_rule)i));
			r |= config_fmt_rule(cfg, i, b);
		}
		return r | mh_buf_puts(b, "}");
	}
	return -1;
}

static void
config_dump_rules(const struct config *cfg, struct mh_buf *b,
    void (*out)(const char *, void *), void *arg)
{
	const char *rname;
	size_t r;

	for (r = 0; r < POLICY_R_COUNT; r++) {
		rname = policy_rule_to_str((enum policy_rule)r);
		mh_buf_reset(b);
		if ((mh_buf_printf(b, "policy.rules.%s: ", rname) |
		    config_fmt_rule(cfg, r, b)) != 0) {
			mh_buf_reset(b);
			(void)mh_buf_printf(b, "policy.rules.%s: (too long "
			    "to show)", rname);
		}
		out(b->data, arg);
	}
}

void
config_dump(const struct config *cfg, void (*out)(const char *line,
    void *arg), void *arg)
{
	struct mh_buf b;
	size_t i;

	if (cfg == NULL || out == NULL)
		return;
	mh_buf_init(&b, CONFIG_DUMP_MAX);
	for (i = 0; i < CONFIG_NENTRIES; i++) {
		const struct config_entry *e = &config_table[i];
		int r;

		/* policy.rules: one line a rule, its own keys included. */
		if (e->flags & CONFIG_F_RULE)
			continue;
		if (e->type == CONFIG_T_RULES) {
			config_dump_rules(cfg, &b, out, arg);
			continue;
		}
		mh_buf_reset(&b);
		r = mh_buf_printf(&b, "%s: ", e->name);
		r |= config_fmt_value(cfg, e, &b);
		/* The password itself is never shown (STYLE G4). */
		if ((e->flags & CONFIG_F_SECRET) && cfg->up_password != NULL)
			r |= mh_buf_printf(&b, " (user %s, password ********)",
			    cfg->up_user != NULL ? cfg->up_user : "");
		if (r != 0) {
			mh_buf_reset(&b);
			(void)mh_buf_printf(&b, "%s: (too long to show)",
			    e->name);
		}
		out(b.data, arg);
	}
	mh_buf_clear(&b);
}

/* Writes "indent# text" lines wrapped at CONFIG_WRAP columns. */
static void
config_example_comment(struct mh_buf *b, const char *indent,
    const char *text, void (*out)(const char *, void *), void *arg)
{
	const char *p = text, *sp, *end;
	size_t width = CONFIG_WRAP - strlen(indent) - 2;

	while (*p != '\0') {
		end = p + strlen(p);
		if ((size_t)(end - p) > width) {
			end = p + width;
			for (sp = end; sp > p && *sp != ' '; sp--)
				;
			if (sp > p)
				end = sp;
			while (end > p + 1 && end[-1] == ' ')
				end--;
		}
		mh_buf_reset(b);
		(void)mh_buf_printf(b, "%s# %.*s", indent, (int)(end - p), p);
		out(b->data, arg);
		p = end;
		while (*p == ' ')
			p++;
	}
}

/* A list or map that is not empty, in block style: one entry a line. */
static void
config_example_block(struct mh_buf *b, const char *indent, const char *key,
    const struct config_entry *e, const struct config *dflt,
    void (*out)(const char *, void *), void *arg)
{
	const char *const *list = *(const char *const *const *)
	    config_cfield(dflt, e);
	const struct policy_tld_map *map = dflt->policy.confusable_tlds;
	size_t i, n = *(const size_t *)(const void *)((const char *)dflt +
	    e->noff);

	mh_buf_reset(b);
	(void)mh_buf_printf(b, "%s%s:", indent, key);
	out(b->data, arg);
	for (i = 0; i < n; i++) {
		mh_buf_reset(b);
		(void)mh_buf_printf(b, "%s  ", indent);
		if (e->type == CONFIG_T_TLDMAP) {
			(void)config_fmt_quoted(b, map[i].from);
			(void)mh_buf_puts(b, ": ");
			(void)config_fmt_quoted(b, map[i].to);
		} else {
			(void)mh_buf_puts(b, "- ");
			(void)config_fmt_quoted(b, list[i]);
		}
		out(b->data, arg);
	}
}

/*
 * The bounds of e as a sentence ("Integer from 1 to 64.", "One of a, b or
 * c.", "0 to 8 entries."), plus "Restart needed." for a key read at start
 * only; "" when there is nothing to say.  For the example and the manual.
 */
static void
config_entry_bounds(const struct config_entry *e, char *text, size_t sz)
{
	char lo[32], hi[32], names[128];

	config_fmt_num(e, e->min, lo, sizeof(lo));
	config_fmt_num(e, e->max, hi, sizeof(hi));
	text[0] = '\0';
	switch (e->type) {
	case CONFIG_T_INT:
	case CONFIG_T_SIZE:
	case CONFIG_T_DURATION:
		(void)mh_snprintf(text, sz, "%s from %s to %s.",
		    e->type == CONFIG_T_INT ? "Integer" :
		    e->type == CONFIG_T_SIZE ? "Size" : "Duration", lo, hi);
		break;
	case CONFIG_T_ENUM:
		config_names_join(e->names, names, sizeof(names));
		(void)mh_snprintf(text, sz, "One of %s.", names);
		break;
	case CONFIG_T_LISTENERS:
	case CONFIG_T_CIDRLIST:
	case CONFIG_T_SENDERS:
	case CONFIG_T_STRLIST:
	case CONFIG_T_TLDMAP:
		(void)mh_snprintf(text, sz, "%lld to %lld entries.", e->min,
		    e->max);
		break;
	default:
		break;
	}
	if (!e->reloadable && !(e->flags & CONFIG_F_POLICY))
		(void)mh_snprintf(text + strlen(text), sz - strlen(text),
		    "%sRestart needed.", text[0] ? "  " : "");
}

/*
 * One key of the example: its description, its bounds, then "key: value"
 * at indent.  dflt holds the policy's defaults for CONFIG_F_POLICY keys.
 */
static void
config_example_key(struct mh_buf *b, const char *indent, const char *key,
    const struct config_entry *e, const char *desc,
    const struct config *dflt, void (*out)(const char *, void *), void *arg)
{
	char text[512];

	if (desc != NULL)
		config_example_comment(b, indent, desc, out, arg);
	config_entry_bounds(e, text, sizeof(text));
	if (desc != NULL && text[0] != '\0')
		config_example_comment(b, indent, text, out, arg);
	mh_buf_reset(b);
	if ((e->type == CONFIG_T_STRLIST || e->type == CONFIG_T_TLDMAP) &&
	    *(const size_t *)(const void *)((const char *)dflt + e->noff) > 0) {
		config_example_block(b, indent, key, e, dflt, out, arg);
		return;
	}
	if (e->flags & CONFIG_F_POLICY) {
		(void)mh_buf_printf(b, "%s%s: ", indent, key);
		(void)config_fmt_value(dflt, e, b);
	} else if (e->def != NULL)
		(void)mh_buf_printf(b, "%s%s: %s", indent, key, e->def);
	else
		(void)mh_buf_printf(b, "%s#%s: %s", indent, key, e->example);
	out(b->data, arg);
}

/* policy.rules as nested blocks, every rule with every key. */
static void
config_example_rules(struct mh_buf *b, const struct config *dflt,
    void (*out)(const char *, void *), void *arg)
{
	struct config_entry e;
	const char *rname, *n;
	size_t r, k, i, rl;

	out("  rules:", arg);
	for (r = 0; r < POLICY_R_COUNT; r++) {
		rname = policy_rule_to_str((enum policy_rule)r);
		rl = strlen(rname);
		config_example_comment(b, "    ", config_rule_desc[r], out,
		    arg);
		mh_buf_reset(b);
		(void)mh_buf_printf(b, "    %s:", rname);
		out(b->data, arg);
		for (k = 0; k < CONFIG_NRULEKEYS; k++) {
			e = config_rule_entry(r, k);
			e.flags |= CONFIG_F_POLICY;
			config_example_key(b, "      ", e.name, &e, NULL, dflt,
			    out, arg);
		}
		for (i = 0; i < CONFIG_NENTRIES; i++) {
			n = config_table[i].name + sizeof("policy.rules.") - 1;
			if (!(config_table[i].flags & CONFIG_F_RULE) ||
			    strncmp(n, rname, rl) != 0 || n[rl] != '.')
				continue;
			config_example_key(b, "      ", n + rl + 1,
			    &config_table[i], config_table[i].desc, dflt, out,
			    arg);
		}
	}
}

void
config_example_(void (*out)(const char *line, void *arg), void *arg)
{
	static const char *const head[] = {
		"mailhold configuration.",
		"",
		"Generated from config_table[] in proxy/config.c by "
		"config_example_(); tests/unit/check_config.c checks that "
		"this file matches, so change the table, then this file.",
		"",
		"Every key is shown with its default; delete what you do not "
		"change.  Unknown keys are errors.  Durations: 0, 90s, 5m, "
		"2h, 1d (a plain number is seconds).  Sizes: 512, 64k, 25M, "
		"1G (binary multiples).  Keys marked \"Restart needed\" are "
		"read at start only; the others change on SIGHUP.",
		NULL
	};
	struct config *dflt;
	struct mh_buf b;
	size_t s, i;

	/* The policy's defaults, pointing at its static lists. */
	dflt = xcalloc(1, sizeof(*dflt));
	policy_config_init(&dflt->policy);
	mh_buf_init(&b, CONFIG_DUMP_MAX);
	for (i = 0; head[i] != NULL; i++) {
		if (head[i][0] == '\0')
			out("#", arg);
		else
			config_example_comment(&b, "", head[i], out, arg);
	}
	for (s = 0; s < CONFIG_NSECTIONS; s++) {
		const char *sname = config_sections[s].name;
		size_t sl = strlen(sname);

		out("", arg);
		config_example_comment(&b, "", config_sections[s].desc, out,
		    arg);
		mh_buf_reset(&b);
		(void)mh_buf_printf(&b, "%s:", sname);
		out(b.data, arg);
		for (i = 0; i < CONFIG_NENTRIES; i++) {
			const struct config_entry *e = &config_table[i];

			if (strncmp(e->name, sname, sl) != 0 ||
			    e->name[sl] != '.' || (e->flags & CONFIG_F_RULE))
				continue;
			if (e->type == CONFIG_T_RULES) {
				config_example_comment(&b, "  ", e->desc, out,
				    arg);
				config_example_rules(&b, dflt, out, arg);
				continue;
			}
			config_example_key(&b, "  ", e->name + sl + 1, e,
			    e->desc, dflt, out, arg);
		}
	}
	mh_buf_clear(&b);
	free(dflt);
}

/*
 * mailhold.yaml(5): the manual page, in man(7) macros, generated from the
 * same table as the example (docs/man/mailhold.yaml.5 is its output).
 */

/* Appends s as roff text: '\' and '-' escaped, a leading '.' or '\''
 * made literal, non-ASCII as \[uXXXX] (groff -Tutf8 needs no preconv).
 * In a value (value true), a ':' or ',' not followed by a space is also a
 * break point (\:), or a long cipher list could not be broken to the page
 * width; the page is set ragged right (.ad l) for the same reason. */
static int
config_man_esc(struct mh_buf *b, const char *s, bool value)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t n, len = strlen(s);
	unsigned cp;
	int r = 0;

	if (*p == '.' || *p == '\'')
		r |= mh_buf_puts(b, "\\&");
	while (len > 0) {
		if (*p == '\\')
			r |= mh_buf_puts(b, "\\e");
		else if (*p == '-')
			r |= mh_buf_puts(b, "\\-");
		else if (value && (*p == ':' || *p == ',') && len > 1 &&
		    p[1] != ' ')
			r |= mh_buf_printf(b, "%c\\:", *p);
		else if (*p < 0x80)
			r |= mh_buf_append(b, *p < 0x20 ? " " : (const char *)p,
			    1);
		else if ((n = mh_utf8_seq(p, len, &cp)) > 0) {
			r |= mh_buf_printf(b, "\\[u%04X]", cp);
			p += n - 1;
			len -= n - 1;
		} else
			r |= mh_buf_puts(b, "?");
		p++;
		len--;
	}
	return r;
}

static int
config_man_text(struct mh_buf *b, const char *s)
{
	return config_man_esc(b, s, false);
}

/* Writes one line: prefix (roff, as is), then text escaped, then suffix. */
static void
config_man_line(struct mh_buf *b, const char *prefix, const char *text,
    const char *suffix, void (*out)(const char *, void *), void *arg)
{
	mh_buf_reset(b);
	(void)mh_buf_puts(b, prefix);
	if (text != NULL)
		(void)config_man_text(b, text);
	(void)mh_buf_puts(b, suffix);
	out(b->data, arg);
}

/* One key: ".TP" with its dotted name, its description, then a paragraph
 * with its default and bounds.  dflt: as in config_example_key(). */
static void
config_man_key(struct mh_buf *b, const char *name,
    const struct config_entry *e, const char *desc,
    const struct config *dflt, void (*out)(const char *, void *), void *arg)
{
	struct mh_buf v;
	char text[512];

	out(".TP", arg);
	config_man_line(b, ".B ", name, "", out, arg);
	if (desc != NULL)
		config_man_line(b, "", desc, "", out, arg);
	mh_buf_init(&v, CONFIG_DUMP_MAX);
	if (e->flags & CONFIG_F_POLICY)
		(void)config_fmt_value(dflt, e, &v);
	else if (e->def != NULL)
		(void)mh_buf_puts(&v, e->def);
	out(".br", arg);
	mh_buf_reset(b);
	if (v.data != NULL) {
		(void)mh_buf_puts(b, "Default: \\fB");
		(void)config_man_esc(b, v.data, true);
		(void)mh_buf_puts(b, "\\fR.");
	} else {
		(void)mh_buf_puts(b, (e->flags & CONFIG_F_DERIVED) ?
		    "For example \\fB" : "Not set by default; for example "
		    "\\fB");
		(void)config_man_esc(b, e->example != NULL ? e->example : "",
		    true);
		(void)mh_buf_puts(b, "\\fR.");
	}
	mh_buf_clear(&v);
	config_entry_bounds(e, text, sizeof(text));
	if (text[0] != '\0') {
		(void)mh_buf_puts(b, "  ");
		(void)config_man_text(b, text);
	}
	out(b->data, arg);
}

/* policy.rules: the keys every rule has, then each rule and its own. */
static void
config_man_rules(struct mh_buf *b, const struct config_entry *rules,
    const struct config *dflt, void (*out)(const char *, void *), void *arg)
{
	const char *rname, *n;
	char text[512];
	size_t r, k, i, rl;

	out(".TP", arg);
	config_man_line(b, ".B ", rules->name, "", out, arg);
	config_man_line(b, "", rules->desc, "", out, arg);
	out(".IP", arg);
	out("Every rule takes these keys:", arg);
	out(".RS", arg);
	for (k = 0; k < CONFIG_NRULEKEYS; k++) {
		struct config_entry e = config_rule_keys[k];

		/* Policy keys change on SIGHUP (as in the example). */
		e.flags |= CONFIG_F_POLICY;
		out(".TP", arg);
		config_man_line(b, ".B ", e.name, "", out, arg);
		config_man_line(b, "", e.desc, "", out, arg);
		config_entry_bounds(&e, text, sizeof(text));
		if (text[0] != '\0')
			config_man_line(b, "", text, "", out, arg);
	}
	out(".RE", arg);
	for (r = 0; r < POLICY_R_COUNT; r++) {
		rname = policy_rule_to_str((enum policy_rule)r);
		rl = strlen(rname);
		out(".TP", arg);
		mh_buf_reset(b);
		(void)mh_buf_puts(b, ".B ");
		(void)config_man_text(b, rules->name);
		(void)mh_buf_puts(b, ".");
		(void)config_man_text(b, rname);
		out(b->data, arg);
		config_man_line(b, "", config_rule_desc[r], "", out, arg);
		out(".br", arg);
		mh_buf_reset(b);
		(void)mh_buf_puts(b, "Default: \\fB");
		{
			struct mh_buf v;

			mh_buf_init(&v, CONFIG_DUMP_MAX);
			if (config_fmt_rule(dflt, r, &v) == 0)
				(void)config_man_esc(b, v.data, true);
			mh_buf_clear(&v);
		}
		(void)mh_buf_puts(b, "\\fR.");
		out(b->data, arg);
		for (i = 0; i < CONFIG_NENTRIES; i++) {
			n = config_table[i].name + sizeof("policy.rules.") - 1;
			if (!(config_table[i].flags & CONFIG_F_RULE) ||
			    strncmp(n, rname, rl) != 0 || n[rl] != '.')
				continue;
			config_man_key(b, config_table[i].name,
			    &config_table[i], config_table[i].desc, dflt, out,
			    arg);
		}
	}
}

void
config_man_(void (*out)(const char *line, void *arg), void *arg)
{
	static const char *const head[] = {
		".\\\" mailhold.yaml(5).  Generated from config_table[] in "
		"proxy/config.c by config_man_();",
		".\\\" tests/unit/check_man.c checks that "
		"docs/man/mailhold.yaml.5 matches: change the",
		".\\\" table, then this file (copy build/mailhold.yaml.5.new "
		"over it).",
		".TH MAILHOLD.YAML 5 \"\" \"mailhold\" \"File Formats Manual\"",
		".ad l",
		".SH NAME",
		"mailhold.yaml \\- configuration file of the mailhold SMTP "
		"submission proxy",
		".SH SYNOPSIS",
		".B /etc/mailhold/mailhold.yaml",
		".SH DESCRIPTION",
		".BR mailhold (8)",
		"and",
		".BR mailholdctl (8)",
		"read their settings from the YAML file given with",
		".BR \\-c .",
		"The file is a mapping of sections, and each section a mapping "
		"of keys.",
		"A key shown below as",
		".B hold.default",
		"is written as",
		".PP",
		".EX",
		"hold:",
		"  default: 10m",
		".EE",
		".PP",
		"Every key is optional: a file needs only the keys it changes, "
		"the others keep the default shown here, and an empty file "
		"means all defaults.",
		"Unknown keys are errors; errors name the file, line, column "
		"and key.",
		"Durations are written 0, 90s, 5m, 2h or 1d (a plain number is "
		"seconds).",
		"Sizes are written 512, 64k, 25M or 1G (binary multiples).",
		"Relative paths are relative to the working directory at "
		"start.",
		".PP",
		"Keys marked \\(lqRestart needed\\(rq are read at start only; "
		"the others change when",
		".B mailhold",
		"gets",
		".B SIGHUP",
		"or",
		".BR \"mailholdctl reload\" .",
		"A reload that fails changes nothing.",
		"Check a file with",
		".B mailhold \\-\\-check\\-config \\-c",
		".IR FILE .",
		".SH KEYS",
		NULL
	};
	static const char *const tail[] = {
		".SH EXAMPLES",
		"Submission on ports 587 and 465 for logged-in users, relayed "
		"to the organisation's server:",
		".PP",
		".EX",
		"server:",
		"  hostname: mail.example.org",
		"  listeners:",
		"    \\- {address: \"::\", port: 587, mode: starttls}",
		"    \\- {address: \"::\", port: 465, mode: tls}",
		"  trusted_networks: []",
		"tls:",
		"  cert_file: /etc/mailhold/fullchain.pem",
		"  key_file: /etc/mailhold/privkey.pem",
		"auth:",
		"  backend: file",
		"  password_file: /etc/mailhold/passwd",
		"queue:",
		"  path: /var/lib/mailhold/queue.db",
		"upstream:",
		"  host: submission.example.org",
		"  auth_file: /etc/mailhold/upstream\\-auth",
		"control:",
		"  socket: /run/mailhold/control.sock",
		".EE",
		".SH FILES",
		".TP",
		".I /etc/mailhold/mailhold.yaml",
		"The configuration the systemd unit and the Debian package use.",
		".TP",
		".I /usr/share/doc/mailhold/examples/config.example.yaml",
		"Every key with its default, as comments and YAML; generated "
		"from the same table as this page.",
		".SH SEE ALSO",
		".BR mailhold (8),",
		".BR mailholdctl (8)",
		NULL
	};
	struct config *dflt;
	struct mh_buf b;
	size_t s, i;

	dflt = xcalloc(1, sizeof(*dflt));
	policy_config_init(&dflt->policy);
	mh_buf_init(&b, CONFIG_DUMP_MAX);
	for (i = 0; head[i] != NULL; i++)
		out(head[i], arg);
	for (s = 0; s < CONFIG_NSECTIONS; s++) {
		const char *sname = config_sections[s].name;
		size_t sl = strlen(sname);

		config_man_line(&b, ".SS ", sname, "", out, arg);
		config_man_line(&b, "", config_sections[s].desc, "", out, arg);
		for (i = 0; i < CONFIG_NENTRIES; i++) {
			const struct config_entry *e = &config_table[i];

			if (strncmp(e->name, sname, sl) != 0 ||
			    e->name[sl] != '.' || (e->flags & CONFIG_F_RULE))
				continue;
			if (e->type == CONFIG_T_RULES)
				config_man_rules(&b, e, dflt, out, arg);
			else
				config_man_key(&b, e->name, e, e->desc, dflt,
				    out, arg);
		}
	}
	for (i = 0; tail[i] != NULL; i++)
		out(tail[i], arg);
	mh_buf_clear(&b);
	free(dflt);
}
