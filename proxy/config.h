/*
 * config.h - the daemon's configuration: one validated, immutable struct.
 *
 * config_load() reads a YAML file with libyaml and fills struct config from
 * one declarative table (name, type, default, min, max, reloadable,
 * offset), as Postfix CONFIG_INT_TABLE and Redis static_configs[] do.
 * Defaults, validation, "config show" and the documentation all come from
 * that table.  Unknown keys, wrong types, out-of-range values, bad
 * durations, sizes, addresses and ports are errors that name
 * file:line:column and the key path.
 *
 * Ownership: config_load() returns a config with one reference; sessions
 * and requests that must outlive a reload take config_ref() and drop it
 * with config_unref().  The struct is never modified after load.
 * Thread: loop thread (loading may run anywhere; it touches no globals).
 * Errors: config_load() returns NULL and writes a one-line message
 * "FILE:LINE:COL: key.path: what is wrong" into errbuf.
 */
#ifndef MH_PROXY_CONFIG_H
#define MH_PROXY_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "policy.h"

enum config_listen_mode {
	CONFIG_LISTEN_PLAIN = 0,	/* SMTP without TLS */
	CONFIG_LISTEN_STARTTLS,		/* 587: STARTTLS (RFC 3207) */
	CONFIG_LISTEN_TLS,		/* 465: implicit TLS (RFC 8314) */
};

struct config_listener {
	char	*address;	/* numeric IPv4 or IPv6, e.g. "127.0.0.1", "::1" */
	int	 port;		/* 0 = pick a free port (tests) */
	int	 mode;		/* enum config_listen_mode */
	bool	 require_tls;	/* starttls: MAIL/AUTH only after STARTTLS */
};

enum config_bare_newline {
	CONFIG_BARE_NL_NORMALIZE = 0,	/* bare LF in DATA is stored as CRLF */
	CONFIG_BARE_NL_REJECT,		/* bare LF in DATA: 550 at the end */
};

enum config_tls_version {
	CONFIG_TLS_V12 = 0,
	CONFIG_TLS_V13,
};

enum config_auth_backend {
	CONFIG_AUTH_NONE = 0,
	CONFIG_AUTH_FILE,
	CONFIG_AUTH_UPSTREAM,
};

enum config_notify {
	CONFIG_NOTIFY_NEVER = 0,
	CONFIG_NOTIFY_ON_FINDING,	/* an enforced finding */
	CONFIG_NOTIFY_ALWAYS,		/* every message held */
};

/* auth.senders: the envelope senders one user may use. */
struct config_sender {
	char	*user;
	char	**patterns;	/* "a@b", "*@domain", "*" */
	size_t	 npatterns;
};

/* A CIDR network: family AF_INET or AF_INET6, network bytes, prefix. */
struct config_cidr {
	int	 family;
	uint8_t	 addr[16];
	int	 prefix;
};

enum config_upstream_tls {
	CONFIG_TLS_NONE = 0,
	CONFIG_TLS_STARTTLS,
	CONFIG_TLS_IMPLICIT,
};

struct config {
	int	 refs;
	char	*path;			/* the file it was loaded from */

	/* server: */
	char	*hostname;		/* server.hostname, default gethostname() */
	char	*server_user;		/* server.user, NULL = no change */
	char	*server_group;		/* server.group, NULL = user's */
	struct config_listener *listeners;	/* server.listeners */
	size_t	 nlisteners;
	struct config_cidr *trusted;	/* server.trusted_networks */
	size_t	 ntrusted;
	bool	 received_header;	/* server.received_header */
	bool	 smtputf8;		/* server.smtputf8: advertise SMTPUTF8 */
	int	 bare_newline;		/* server.bare_newline: enum config_bare_newline */

	/* limits: (RFC 5321 §4.5.3.1) */
	size_t	 max_sessions;		/* limits.max_sessions */
	size_t	 max_sessions_per_ip;	/* limits.max_sessions_per_ip */
	size_t	 line_max;		/* limits.command_line: octets incl CRLF */
	size_t	 text_line_max;		/* limits.text_line: octets incl CRLF */
	size_t	 max_recipients;	/* limits.max_recipients */
	size_t	 message_size_max;	/* limits.message_size */
	size_t	 max_junk;		/* limits.max_junk_commands */
	size_t	 memory_per_message;	/* limits.memory_per_message: spill past it */

	/* timeouts: (seconds; RFC 5321 §4.5.3.2) */
	int64_t	 timeout_command;	/* timeouts.command */
	int64_t	 timeout_data;		/* timeouts.data: between DATA blocks */
	int64_t	 timeout_session;	/* timeouts.session: whole session */
	int64_t	 timeout_upstream;	/* timeouts.upstream: per relay reply */

	/* queue: */
	char	*queue_path;		/* queue.path, SQLite file */
	size_t	 group_commit_max;	/* queue.group_commit_max: reqs per txn */
	int64_t	 queue_startup_check;	/* queue.startup_check: seconds */
	size_t	 queue_min_free;	/* queue.min_free: octets */
	int64_t	 queue_retention;	/* queue.retention: 0 = keep forever */

	/* hold: */
	int64_t	 hold_default;		/* hold.default, seconds */

	/* upstream: */
	char	*up_host;		/* upstream.host */
	int	 up_port;		/* upstream.port */
	int	 up_tls;		/* upstream.tls: enum config_upstream_tls */
	bool	 up_verify;		/* upstream.verify */
	char	*up_ca_file;		/* upstream.ca_file, NULL = system store */
	char	*up_auth_file;		/* upstream.auth_file, NULL = no AUTH */
	char	*up_user;		/* from auth_file */
	char	*up_password;		/* from auth_file; cleansed on free */
	char	*up_helo;		/* upstream.helo_name, default hostname */
	size_t	 up_max_connections;	/* upstream.max_connections */
	size_t	 up_max_per_connection;	/* upstream.messages_per_connection */
	int64_t	 up_probe_interval;	/* upstream.probe_interval, 0 = never */

	/* retry: */
	int64_t	 retry_initial;		/* retry.initial */
	int64_t	 retry_max;		/* retry.max */
	int64_t	 retry_give_up;		/* retry.give_up: age after which -> failed */

	/* tls: (inbound listeners) */
	char	*tls_cert_file;		/* tls.cert_file: PEM chain, leaf first */
	char	*tls_key_file;		/* tls.key_file */
	int	 tls_min_version;	/* tls.min_version: enum config_tls_version */
	char	*tls_ciphers;		/* tls.ciphers: TLS 1.2 cipher list */
	char	*tls_ciphersuites;	/* tls.ciphersuites: TLS 1.3 suites */
	char	*tls_groups;		/* tls.groups: key exchange groups */
	bool	 tls_session_tickets;	/* tls.session_tickets */

	/* auth: (SMTP AUTH, RFC 4954) */
	int	 auth_backend;		/* auth.backend: enum config_auth_backend */
	char	*auth_password_file;	/* auth.password_file */
	bool	 auth_allow_plaintext;	/* auth.allow_plaintext: loopback only */
	int64_t	 auth_cache_ttl;	/* auth.cache_ttl: upstream successes */
	struct config_sender *senders;	/* auth.senders */
	size_t	 nsenders;
	bool	 auth_check_from;	/* auth.check_from_header */
	size_t	 auth_max_failures;	/* auth.max_failures: per client address */
	size_t	 auth_max_user_failures; /* auth.max_user_failures: per user */
	int64_t	 auth_failure_window;	/* auth.failure_window */
	int64_t	 auth_failure_delay;	/* auth.failure_delay: doubles per failure */

	/* log: */
	int	 log_level;		/* log.level: enum log_level */
	bool	 log_syslog;		/* log.target: stderr | syslog */
	int	 log_format;		/* log.format: enum log_format */

	/* metrics: (Prometheus, issue 6) */
	bool	 metrics_enabled;	/* metrics.enabled */
	char	*metrics_address;	/* metrics.address: numeric */
	int	 metrics_port;		/* metrics.port, 0 = pick (tests) */
	char	*metrics_token_file;	/* metrics.token_file, NULL = none */
	char	*metrics_token;		/* its contents; cleansed on free */

	/* control: (mailholdctl) */
	char	*control_socket;	/* control.socket: unix socket path */
	char	*control_mode;		/* control.mode: octal text, checked */
	char	*control_group;		/* control.group, NULL = our own */

	/* notify: (alerts to senders, issue 5) */
	int	 notify_alerts;		/* notify.alerts: enum config_notify */
	int	 notify_lang;		/* notify.language: enum alert_lang */
	const char *const *notify_users_ja; /* notify.users_ja */
	size_t	 nnotify_users_ja;
	const char *const *notify_users_en; /* notify.users_en */
	size_t	 nnotify_users_en;
	char	*notify_from;		/* notify.from, default
					   mailhold@hostname */
	char	*notify_timezone;	/* notify.timezone: IANA name, NULL =
					   the system's; applied once at start
					   (TZ) by main.c */
	char	*notify_admin;		/* notify.admin, default
					   postmaster@hostname */

	/* web: (the sender's page, issue 5) */
	bool	 web_enabled;		/* web.enabled */
	char	*web_address;		/* web.address: numeric */
	int	 web_port;		/* web.port, 0 = pick (tests) */
	bool	 web_tls;		/* web.tls: HTTPS with tls.cert_file */
	char	*web_base_url;		/* web.base_url, no final '/';
					   default from address and port */
	bool	 web_base_url_derived;	/* not set in the file: built from
					   web.address and the port bound */
	size_t	 web_max_connections;	/* web.max_connections */
	int64_t	 web_timeout;		/* web.timeout: per request */
	size_t	 web_max_failures;	/* web.max_failures: per client */
	int64_t	 web_failure_window;	/* web.failure_window */
	struct config_cidr *web_proxies; /* web.trusted_proxies */
	size_t	 nweb_proxies;

	/* hold.max and policy: (issue 4).  The policy's settings, filled
	 * from the YAML "policy:" section and hold.default / hold.max; every
	 * array and string they point to is owned by this config and freed
	 * with it.  policy.hold_default mirrors hold_default. */
	int64_t	 hold_max;		/* hold.max */
	struct policy_config policy;
	struct policy	*policy_compiled;	/* policy_new(&policy), built at
						   load; never NULL in a loaded
						   config */
};

/* Loads and validates path; NULL and errbuf set on any error. */
struct config	*config_load(const char *path, char *errbuf, size_t errsz);
/* A config with every default, as if loaded from an empty file. */
struct config	*config_default(char *errbuf, size_t errsz);
struct config	*config_ref(struct config *);
void		 config_unref(struct config *);	/* NULL is a no-op */

/* Writes every key with its effective value, one "key: value" a line. */
void		 config_dump(const struct config *, void (*out)(const char *line,
		    void *arg), void *arg);

/* Pure parsers, exported for tests and for mailholdctl. */
/* "90s", "5m", "2h", "1d", "0" -> seconds.  0 / -1. */
int	config_parse_duration(const char *, int64_t *secs);
/* "512", "10k", "25M", "1G" (binary multiples) -> bytes.  0 / -1. */
int	config_parse_size(const char *, size_t *bytes);
/* "10.0.0.0/8", "::1", "2001:db8::/32" -> struct.  0 / -1. */
int	config_parse_cidr(const char *, struct config_cidr *);
/* true when the sockaddr's address is inside one of the networks. */
struct sockaddr;
bool	config_cidr_match(const struct config_cidr *, size_t n,
	    const struct sockaddr *);
/* true when tls.cert_file is needed: a starttls or tls listener, or
 * web.tls. */
bool	config_has_tls(const struct config *);
/* The language (enum alert_lang) of mails and pages for a sender:
 * notify.users_ja / users_en by auth user or envelope sender (ASCII
 * case-insensitive), else notify.language.  Either may be NULL. */
int	config_user_lang(const struct config *, const char *auth_user,
	    const char *sender);
/*
 * When web.base_url was not set (derived from web.address and web.port),
 * rebuilds it with the port the page actually listens on, so that
 * web.port: 0 gives links and an Origin check that name the real port.
 * Called by web_new() right after binding (before the event loop runs)
 * and by main_reload() for each new config before it is handed to any
 * module (configs are immutable once shared).  A set base_url, or
 * port <= 0, leaves it alone.
 */
void	config_web_bound(struct config *, int port);
/* The auth.senders entry of user (exact match), or NULL. */
const struct config_sender *config_sender_find(const struct config *,
	    const char *user);

#endif
