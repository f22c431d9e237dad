/*
 * check_config.c - unit tests for proxy/config.c.
 *
 * Table-driven (STYLE G10): each table row has a label, the YAML input and
 * what is wanted; tcase_add_loop_test runs one row per test, forked.
 * Errors are checked by prefix, so the "name:LINE:COL: key.path" part is
 * exact.  Golden inputs live in $MH_TEST_DATA/config (ok-*.yaml must load;
 * bad-*.yaml must fail with the message in bad-*.err), and the example
 * configuration at $MH_TEST_DATA/../../config.example.yaml must load and
 * match config_example_().
 */
#include "config.h"
#include "config_priv.h"

#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>

#include <arpa/inet.h>
#include <netinet/in.h>

#include <check.h>
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"
#include "util.h"
#include "check_files.h"

#define NITEMS(a)	(sizeof(a) / sizeof((a)[0]))
#define ERRSZ		1024

/*
 * Helpers.
 */

static struct config *
load_str(const char *yaml, size_t len, char *err)
{
	return config_load_buffer_("t.yaml", yaml, len, err, ERRSZ);
}

/* The dump of cfg as one string, one line per key; caller frees. */
static char *
dump_str(const struct config *cfg)
{
	struct mh_buf b;

	mh_buf_init(&b, 1 << 20);
	config_dump(cfg, collect_line_cb, &b);
	return mh_buf_steal(&b, NULL);
}

static bool
has_line(const char *text, const char *line)
{
	size_t n = strlen(line);
	const char *p = text;

	while ((p = strstr(p, line)) != NULL) {
		if ((p == text || p[-1] == '\n') && p[n] == '\n')
			return true;
		p++;
	}
	return false;
}

/*
 * Loading: every type, every error kind.
 */

struct load_case {
	const char	*label;
	const char	*yaml;
	size_t		 len;		/* 0: strlen(yaml) */
	bool		 want_ok;
	const char	*want_err;	/* prefix of the message */
};

static const struct load_case load_cases[] = {
	/* Documents that mean "all defaults" or nearly. */
	{ .label = "empty", .yaml = "", .want_ok = true },
	{ .label = "comments only", .yaml = "# nothing\n\n", .want_ok = true },
	{ .label = "bare document", .yaml = "---\n", .want_ok = true },
	{ .label = "null section", .yaml = "limits:\n", .want_ok = true },
	{ .label = "explicit end", .yaml = "---\nlimits: {}\n...\n",
	  .want_ok = true },
	{ .label = "flow style", .yaml = "{limits: {max_recipients: 5}}",
	  .want_ok = true },
	{ .label = "anchor, no alias",
	  .yaml = "limits: &l\n  max_recipients: 5\n", .want_ok = true },
	{ .label = "quoted keys and values",
	  .yaml = "'limits':\n  \"max_recipients\": '7'\n", .want_ok = true },
	{ .label = "tags ignored",
	  .yaml = "limits:\n  max_recipients: !!int 5\n", .want_ok = true },
	{ .label = "hold 0", .yaml = "hold:\n  default: 0\n",
	  .want_ok = true },
	{ .label = "every section",
	  .yaml = "server: {}\nlimits: {}\ntimeouts: {}\nqueue: {}\n"
	  "hold: {}\nupstream: {}\nretry: {}\nlog: {}\n", .want_ok = true },

	/* Document-level errors. */
	{ .label = "top-level sequence", .yaml = "- a\n",
	  .want_err = "t.yaml:1:1: the top level must be a mapping of "
	  "sections, found a sequence" },
	{ .label = "top-level scalar", .yaml = "hello\n",
	  .want_err = "t.yaml:1:1: the top level must be a mapping of "
	  "sections, found a scalar" },
	{ .label = "two documents", .yaml = "limits: {}\n---\nlog: {}\n",
	  .want_err = "t.yaml:2:1: only one YAML document is allowed" },
	{ .label = "syntax: unclosed flow",
	  .yaml = "limits: {max_recipients: 5\n",
	  .want_err = "t.yaml:2:1: syntax error: did not find expected ',' "
	  "or '}' (while parsing a flow mapping at line 1)" },
	{ .label = "syntax: unclosed quote", .yaml = "log:\n  level: 'info\n",
	  .want_err = "t.yaml:3:1: syntax error: found unexpected end of "
	  "stream (while scanning a quoted scalar at line 2)" },
	{ .label = "value parsed before a later syntax error",
	  .yaml = "limits:\n  max_recipients: [1\n",
	  .want_err = "t.yaml:2:19: limits.max_recipients: expected an "
	  "integer, found a sequence" },
	{ .label = "syntax: tab indent",
	  .yaml = "limits:\n\tmax_recipients: 5\n",
	  .want_err = "t.yaml:2:1: syntax error: found character that "
	  "cannot start any token (while scanning for the next token at "
	  "line 2)" },
	{ .label = "syntax: bad indent",
	  .yaml = "limits:\n  max_recipients: 5\n bad: 1\n",
	  .want_err = "t.yaml:3:2: syntax error: did not find expected key "
	  "(while parsing a block mapping at line 1)" },
	{ .label = "alias", .yaml = "limits:\n  max_recipients: &n 5\n"
	  "  max_junk_commands: *n\n",
	  .want_err = "t.yaml:3:22: YAML aliases are not allowed" },
	{ .label = "alias as section", .yaml = "a: &a {}\n",
	  .want_err = "t.yaml:1:1: a: unknown section" },
	{ .label = "alias for a section",
	  .yaml = "limits: &a {}\ntimeouts: *a\n",
	  .want_err = "t.yaml:2:11: YAML aliases are not allowed" },
	{ .label = "control character",
	  .yaml = "limits:\n  max_recipients: \x01\n",
	  .want_err = "t.yaml:2:19: invalid input: control characters are "
	  "not allowed (#x1)" },
	{ .label = "invalid UTF-8", .yaml = "log:\n  level: \xff\n",
	  .want_err = "t.yaml:2:10: invalid input: invalid leading UTF-8 "
	  "octet (#xFF)" },
	{ .label = "NUL in the input", .yaml = "log:\n  level: i\0nfo\n",
	  .len = 20, .want_err = "t.yaml:2:11: invalid input: control "
	  "characters are not allowed (#x0)" },

	/* Keys. */
	{ .label = "unknown section", .yaml = "bogus: 1\n",
	  .want_err = "t.yaml:1:1: bogus: unknown section (expected server, "
	  "tls, auth, limits, timeouts, queue, hold, policy, upstream, retry, "
	  "log, metrics, notify, web or control)" },
	{ .label = "metrics public without token",
	  .yaml = "metrics:\n  address: 192.0.2.1\n",
	  .want_err = "t.yaml:2:12: metrics.address: metrics on a non-loopback "
	  "address need metrics.token_file" },
	{ .label = "log format bad", .yaml = "log:\n  format: xml\n",
	  .want_err = "t.yaml:2:11: log.format: must be" },
	/* web: and notify: (the sender's page and alerts) */
	{ .label = "web plain on a public address",
	  .yaml = "web:\n  address: 192.0.2.1\n",
	  .want_err = "t.yaml:2:12: web.address: plain HTTP is served only "
	  "on a loopback address" },
	{ .label = "web tls without a certificate",
	  .yaml = "web:\n  tls: true\n",
	  .want_err = "t.yaml:2:8: web.tls: needs tls.cert_file" },
	{ .label = "notify timezone IANA",
	  .yaml = "notify:\n  timezone: Asia/Tokyo\n", .want_ok = true },
	{ .label = "notify timezone three parts",
	  .yaml = "notify:\n  timezone: America/Argentina/Buenos_Aires\n",
	  .want_ok = true },
	{ .label = "notify timezone UTC",
	  .yaml = "notify:\n  timezone: UTC\n", .want_ok = true },
	{ .label = "notify timezone unknown",
	  .yaml = "notify:\n  timezone: Asia/Atlantis\n",
	  .want_err = "t.yaml:2:13: notify.timezone: names no time zone in "
	  "/usr/share/zoneinfo" },
	{ .label = "notify timezone directory",
	  .yaml = "notify:\n  timezone: Asia\n",
	  .want_err = "t.yaml:2:13: notify.timezone: names no time zone" },
	{ .label = "notify timezone not TZif",
	  .yaml = "notify:\n  timezone: zone1970.tab\n",
	  .want_err = "t.yaml:2:13: notify.timezone: names a file that is "
	  "not a time zone" },
	{ .label = "notify timezone climbs out",
	  .yaml = "notify:\n  timezone: ../../../etc/passwd\n",
	  .want_err = "t.yaml:2:13: notify.timezone: must be a time zone "
	  "name" },
	{ .label = "notify timezone absolute",
	  .yaml = "notify:\n  timezone: /etc/localtime\n",
	  .want_err = "t.yaml:2:13: notify.timezone: must be a time zone "
	  "name" },
	{ .label = "notify timezone POSIX string",
	  .yaml = "notify:\n  timezone: \"JST-9\"\n",
	  .want_err = "t.yaml:2:13: notify.timezone: names no time zone" },
	{ .label = "notify timezone empty part",
	  .yaml = "notify:\n  timezone: Asia//Tokyo\n",
	  .want_err = "t.yaml:2:13: notify.timezone: must be a time zone "
	  "name" },
	{ .label = "web base_url scheme",
	  .yaml = "web:\n  base_url: ftp://x.example\n",
	  .want_err = "t.yaml:2:13: web.base_url: must start with https://" },
	{ .label = "web base_url query",
	  .yaml = "web:\n  base_url: \"https://x.example/?a=1\"\n",
	  .want_err = "t.yaml:2:13: web.base_url: must be a plain URL" },
	{ .label = "web base_url quote",
	  .yaml = "web:\n  base_url: \"https://x.example/\\\"><b\"\n",
	  .want_err = "t.yaml:2:13: web.base_url: must be a plain URL" },
	{ .label = "web base_url path",
	  .yaml = "web:\n  base_url: https://x.example/mailhold\n",
	  .want_err = "t.yaml:2:13: web.base_url: must not have a path" },
	{ .label = "web base_url no host",
	  .yaml = "web:\n  base_url: https:///m\n",
	  .want_err = "t.yaml:2:13: web.base_url: has no host" },
	{ .label = "web address not numeric",
	  .yaml = "web:\n  address: localhost\n",
	  .want_err = "t.yaml:2:12: web.address: must be a numeric" },
	{ .label = "web trusted_proxies bad",
	  .yaml = "web:\n  trusted_proxies: [10.0.0.0/33]\n",
	  .want_err = "t.yaml:2:21: web.trusted_proxies[0]:" },
	{ .label = "notify alerts bad", .yaml = "notify:\n  alerts: sometimes\n",
	  .want_err = "t.yaml:2:11: notify.alerts: must be" },
	{ .label = "notify language bad", .yaml = "notify:\n  language: fr\n",
	  .want_err = "t.yaml:2:13: notify.language: must be" },
	{ .label = "notify from bad", .yaml = "notify:\n  from: \"a b@x\"\n",
	  .want_err = "t.yaml:2:9: notify.from: must be a plain address" },
	{ .label = "notify users_ja bad item",
	  .yaml = "notify:\n  users_ja: [\"a b\"]\n",
	  .want_err = "t.yaml:2:14: notify.users_ja[0]:" },
	{ .label = "web and notify ok",
	  .yaml = "web:\n  address: \"::1\"\n  port: 8443\n"
	  "  base_url: https://hold.example.org/\n"
	  "  trusted_proxies: [127.0.0.1]\n"
	  "notify:\n  alerts: always\n  language: ja\n"
	  "  users_en: [bob, carol@example.com]\n  from: alerts@example.org\n",
	  .want_ok = true },
	/* control: (mailholdctl's socket) */
	{ .label = "control ok",
	  .yaml = "control:\n  socket: /run/mh.sock\n  mode: 0770\n"
	  "  group: mail-admin\n", .want_ok = true },
	{ .label = "control.mode not octal",
	  .yaml = "control:\n  mode: 0689\n",
	  .want_err = "t.yaml:2:9: control.mode: must be an octal mode" },
	{ .label = "control.mode for others",
	  .yaml = "control:\n  mode: 0666\n",
	  .want_err = "t.yaml:2:9: control.mode: must give nothing to others" },
	{ .label = "control.mode setuid",
	  .yaml = "control:\n  mode: 4660\n",
	  .want_err = "t.yaml:2:9: control.mode: must give nothing to others" },
	{ .label = "control.mode owner cannot write",
	  .yaml = "control:\n  mode: 0460\n",
	  .want_err = "t.yaml:2:9: control.mode: must let the owner" },
	{ .label = "control.group bad",
	  .yaml = "control:\n  group: \"a b\"\n",
	  .want_err = "t.yaml:2:10: control.group: must be a group name" },
	{ .label = "control.socket too long",
	  .yaml = "control:\n  socket: /aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
	  "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\n",
	  .want_err = "t.yaml:2:11: control.socket:" },
	{ .label = "unknown key", .yaml = "limits:\n  bogus: 1\n",
	  .want_err = "t.yaml:2:3: limits.bogus: unknown key" },
	{ .label = "unknown key is escaped",
	  .yaml = "limits:\n  \"a\\tb\\\"\": 1\n",
	  .want_err = "t.yaml:2:3: limits.a\\x09b\\x22: unknown key" },
	{ .label = "key of another section",
	  .yaml = "limits:\n  command: 5m\n",
	  .want_err = "t.yaml:2:3: limits.command: unknown key" },
	{ .label = "merge key", .yaml = "limits:\n  <<: {}\n",
	  .want_err = "t.yaml:2:3: limits.<<: unknown key" },
	{ .label = "duplicate key",
	  .yaml = "limits:\n  max_recipients: 5\n  max_recipients: 6\n",
	  .want_err = "t.yaml:3:3: limits.max_recipients: duplicate key" },
	{ .label = "duplicate section", .yaml = "limits: {}\nlimits: {}\n",
	  .want_err = "t.yaml:2:1: limits: duplicate key" },
	{ .label = "complex key", .yaml = "? [a]\n: 1\n",
	  .want_err = "t.yaml:1:3: keys must be scalars, found a sequence" },
	{ .label = "complex key in section",
	  .yaml = "limits:\n  ? {a: 1}\n  : 2\n",
	  .want_err = "t.yaml:2:5: limits: keys must be scalars, found a "
	  "mapping" },

	/* Wrong shapes. */
	{ .label = "mapping for an integer",
	  .yaml = "limits:\n  max_recipients: {a: 1}\n",
	  .want_err = "t.yaml:2:19: limits.max_recipients: expected an "
	  "integer, found a mapping" },
	{ .label = "sequence for an enum", .yaml = "log:\n  level: [debug]\n",
	  .want_err = "t.yaml:2:10: log.level: expected a name, found a "
	  "sequence" },
	{ .label = "mapping for a string",
	  .yaml = "queue:\n  path: {a: b}\n",
	  .want_err = "t.yaml:2:9: queue.path: expected a string, found a "
	  "mapping" },
	{ .label = "scalar for a section", .yaml = "limits: 5\n",
	  .want_err = "t.yaml:1:9: limits: expected a mapping of keys, found "
	  "a scalar" },
	{ .label = "sequence for a section", .yaml = "limits: [1]\n",
	  .want_err = "t.yaml:1:9: limits: expected a mapping of keys, found "
	  "a sequence" },
	{ .label = "missing integer", .yaml = "limits:\n  max_recipients:\n",
	  .want_err = "t.yaml:2:18: limits.max_recipients: missing value: "
	  "expected an integer" },
	{ .label = "deep nesting",
	  .yaml = "limits:\n  max_recipients: [[[[[[[[[[[[[[[[[[[[1]]]]]]]]]]]]"
	  "]]]]]]]]\n",
	  .want_err = "t.yaml:2:19: limits.max_recipients: expected an "
	  "integer, found a sequence" },

	/* STRING. */
	{ .label = "string: NUL", .yaml = "queue:\n  path: \"a\\0b\"\n",
	  .want_err = "t.yaml:2:9: queue.path: must not contain a NUL byte" },
	{ .label = "string: control", .yaml = "queue:\n  path: \"a\\tb\"\n",
	  .want_err = "t.yaml:2:9: queue.path: must not contain control "
	  "characters" },
	{ .label = "string: DEL", .yaml = "queue:\n  path: \"a\\x7fb\"\n",
	  .want_err = "t.yaml:2:9: queue.path: must not contain control "
	  "characters" },
	{ .label = "string: empty", .yaml = "queue:\n  path: ''\n",
	  .want_err = "t.yaml:2:9: queue.path: must not be empty" },
	{ .label = "string: null", .yaml = "queue:\n  path: ~\n",
	  .want_err = "t.yaml:2:9: queue.path: must not be empty" },
	{ .label = "string: UTF-8 path", .yaml = "queue:\n  path: /var/\xc3\xa9"
	  "t\xc3\xa9.db\n", .want_ok = true },
	{ .label = "hostname: space",
	  .yaml = "server:\n  hostname: bad host\n",
	  .want_err = "t.yaml:2:13: server.hostname: must be a host name "
	  "(letters, digits, '-' and '.')" },
	{ .label = "hostname: empty label",
	  .yaml = "server:\n  hostname: a..b\n",
	  .want_err = "t.yaml:2:13: server.hostname: has an empty label" },
	{ .label = "hostname: trailing dot",
	  .yaml = "server:\n  hostname: a.b.\n",
	  .want_err = "t.yaml:2:13: server.hostname: has an empty label" },
	{ .label = "hostname: leading dash",
	  .yaml = "server:\n  hostname: -a.b\n",
	  .want_err = "t.yaml:2:13: server.hostname: has a label starting "
	  "with '-'" },
	{ .label = "hostname: trailing dash",
	  .yaml = "server:\n  hostname: a-.b\n",
	  .want_err = "t.yaml:2:13: server.hostname: has a label ending in "
	  "'-'" },
	{ .label = "hostname: long label",
	  .yaml = "server:\n  hostname: "
	  "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
	  ".b\n",
	  .want_err = "t.yaml:2:13: server.hostname: has a label longer than "
	  "63 characters" },
	{ .label = "helo_name checked",
	  .yaml = "upstream:\n  helo_name: \"x_y\"\n",
	  .want_err = "t.yaml:2:14: upstream.helo_name: must be a host name" },
	{ .label = "upstream host: bracket",
	  .yaml = "upstream:\n  host: \"[::1]\"\n",
	  .want_err = "t.yaml:2:9: upstream.host: must be a host name or a "
	  "numeric address" },
	{ .label = "upstream host: bad v6",
	  .yaml = "upstream:\n  host: \"::g\"\n",
	  .want_err = "t.yaml:2:9: upstream.host: must be a host name or a "
	  "numeric address" },
	{ .label = "upstream host: v6", .yaml = "upstream:\n  host: \"::1\"\n",
	  .want_ok = true },
	{ .label = "ca_file: missing",
	  .yaml = "upstream:\n  ca_file: /nonexistent/ca.pem\n",
	  .want_err = "t.yaml:2:12: upstream.ca_file: /nonexistent/ca.pem: "
	  "cannot read: No such file or directory" },
	{ .label = "ca_file: null", .yaml = "upstream:\n  ca_file: ~\n",
	  .want_ok = true },

	/* BOOL. */
	{ .label = "bool: maybe", .yaml = "server:\n  smtputf8: maybe\n",
	  .want_err = "t.yaml:2:13: server.smtputf8: must be true or false" },
	{ .label = "bool: 1", .yaml = "server:\n  smtputf8: 1\n",
	  .want_err = "t.yaml:2:13: server.smtputf8: must be true or false" },
	{ .label = "bool: null", .yaml = "server:\n  smtputf8: null\n",
	  .want_err = "t.yaml:2:13: server.smtputf8: missing value: expected "
	  "true or false" },

	/* INT. */
	{ .label = "int: letters",
	  .yaml = "limits:\n  max_recipients: abc\n",
	  .want_err = "t.yaml:2:19: limits.max_recipients: must be an "
	  "integer" },
	{ .label = "int: negative", .yaml = "limits:\n  max_recipients: -1\n",
	  .want_err = "t.yaml:2:19: limits.max_recipients: must be an "
	  "integer" },
	{ .label = "int: plus", .yaml = "limits:\n  max_recipients: +5\n",
	  .want_err = "t.yaml:2:19: limits.max_recipients: must be an "
	  "integer" },
	{ .label = "int: float", .yaml = "limits:\n  max_recipients: 1.5\n",
	  .want_err = "t.yaml:2:19: limits.max_recipients: must be an "
	  "integer" },
	{ .label = "int: hex", .yaml = "limits:\n  max_recipients: 0x10\n",
	  .want_err = "t.yaml:2:19: limits.max_recipients: must be an "
	  "integer" },
	{ .label = "int: space", .yaml = "limits:\n  max_recipients: ' 5'\n",
	  .want_err = "t.yaml:2:19: limits.max_recipients: must be an "
	  "integer" },
	{ .label = "int: unit", .yaml = "limits:\n  max_recipients: 5k\n",
	  .want_err = "t.yaml:2:19: limits.max_recipients: must be an "
	  "integer" },
	{ .label = "int: below min", .yaml = "limits:\n  max_recipients: 0\n",
	  .want_err = "t.yaml:2:19: limits.max_recipients: must be between 1 "
	  "and 10000" },
	{ .label = "int: above max",
	  .yaml = "limits:\n  max_recipients: 10001\n",
	  .want_err = "t.yaml:2:19: limits.max_recipients: must be between 1 "
	  "and 10000" },
	{ .label = "int: overflow",
	  .yaml = "limits:\n  max_recipients: 99999999999999999999999\n",
	  .want_err = "t.yaml:2:19: limits.max_recipients: must be between 1 "
	  "and 10000" },
	{ .label = "int: min", .yaml = "limits:\n  max_recipients: 1\n",
	  .want_ok = true },
	{ .label = "int: max", .yaml = "limits:\n  max_recipients: 10000\n",
	  .want_ok = true },
	{ .label = "int: max_sessions max",
	  .yaml = "limits:\n  max_sessions: 100001\n",
	  .want_err = "t.yaml:2:17: limits.max_sessions: must be between 1 "
	  "and 100000" },
	{ .label = "upstream port 0", .yaml = "upstream:\n  port: 0\n",
	  .want_err = "t.yaml:2:9: upstream.port: must be between 1 and "
	  "65535" },
	{ .label = "upstream max_connections",
	  .yaml = "upstream:\n  max_connections: 257\n",
	  .want_err = "t.yaml:2:20: upstream.max_connections: must be "
	  "between 1 and 256" },

	/* SIZE. */
	{ .label = "size: terabyte", .yaml = "limits:\n  message_size: 1T\n",
	  .want_err = "t.yaml:2:17: limits.message_size: must be a size such "
	  "as 512, 64k, 25M or 1G" },
	{ .label = "size: negative", .yaml = "limits:\n  message_size: -1k\n",
	  .want_err = "t.yaml:2:17: limits.message_size: must be a size" },
	{ .label = "size: unit only", .yaml = "limits:\n  message_size: k\n",
	  .want_err = "t.yaml:2:17: limits.message_size: must be a size" },
	{ .label = "size: kb", .yaml = "limits:\n  message_size: 100kb\n",
	  .want_err = "t.yaml:2:17: limits.message_size: must be a size" },
	{ .label = "size: fraction", .yaml = "limits:\n  message_size: 1.5M\n",
	  .want_err = "t.yaml:2:17: limits.message_size: must be a size" },
	{ .label = "size: space", .yaml = "limits:\n  message_size: 25 M\n",
	  .want_err = "t.yaml:2:17: limits.message_size: must be a size" },
	{ .label = "size: above max", .yaml = "limits:\n  message_size: 2G\n",
	  .want_err = "t.yaml:2:17: limits.message_size: must be between 64k "
	  "and 1G" },
	{ .label = "size: below min", .yaml = "limits:\n  message_size: 63k\n",
	  .want_err = "t.yaml:2:17: limits.message_size: must be between 64k "
	  "and 1G" },
	{ .label = "size: overflow",
	  .yaml = "limits:\n  message_size: 99999999999999999999G\n",
	  .want_err = "t.yaml:2:17: limits.message_size: must be between 64k "
	  "and 1G" },
	{ .label = "size: command_line min",
	  .yaml = "limits:\n  command_line: 511\n",
	  .want_err = "t.yaml:2:17: limits.command_line: must be between 512 "
	  "and 64k" },
	{ .label = "size: text_line max",
	  .yaml = "limits:\n  text_line: 1025k\n",
	  .want_err = "t.yaml:2:14: limits.text_line: must be between 1000 "
	  "and 1M" },
	{ .label = "size: memory_per_message min",
	  .yaml = "limits:\n  memory_per_message: 4095\n",
	  .want_err = "t.yaml:2:23: limits.memory_per_message: must be "
	  "between 4k and 64M" },
	{ .label = "size: memory_per_message max",
	  .yaml = "limits:\n  memory_per_message: 64M\n", .want_ok = true },

	/* DURATION. */
	{ .label = "duration: unit", .yaml = "timeouts:\n  command: 5x\n",
	  .want_err = "t.yaml:2:12: timeouts.command: must be a duration such "
	  "as 0, 90s, 5m, 2h or 1d" },
	{ .label = "duration: negative", .yaml = "timeouts:\n  command: -5m\n",
	  .want_err = "t.yaml:2:12: timeouts.command: must be a duration" },
	{ .label = "duration: compound",
	  .yaml = "timeouts:\n  command: 1h30m\n",
	  .want_err = "t.yaml:2:12: timeouts.command: must be a duration" },
	{ .label = "duration: upper case",
	  .yaml = "timeouts:\n  command: 5M\n",
	  .want_err = "t.yaml:2:12: timeouts.command: must be a duration" },
	{ .label = "duration: space", .yaml = "timeouts:\n  command: 5 m\n",
	  .want_err = "t.yaml:2:12: timeouts.command: must be a duration" },
	{ .label = "duration: empty", .yaml = "timeouts:\n  command: ''\n",
	  .want_err = "t.yaml:2:12: timeouts.command: missing value: "
	  "expected a duration" },
	{ .label = "duration: zero", .yaml = "timeouts:\n  command: 0\n",
	  .want_err = "t.yaml:2:12: timeouts.command: must be between 1s and "
	  "1h" },
	{ .label = "duration: above max", .yaml = "timeouts:\n  command: 2h\n",
	  .want_err = "t.yaml:2:12: timeouts.command: must be between 1s and "
	  "1h" },
	{ .label = "duration: overflow",
	  .yaml = "timeouts:\n  command: 9999999999999999999d\n",
	  .want_err = "t.yaml:2:12: timeouts.command: must be between 1s and "
	  "1h" },
	{ .label = "duration: hold max", .yaml = "hold:\n  default: 8d\n",
	  .want_err = "t.yaml:2:12: hold.default: must be between 0 and 7d" },
	{ .label = "duration: give_up min", .yaml = "retry:\n  give_up: 59\n",
	  .want_err = "t.yaml:2:12: retry.give_up: must be between 1m and "
	  "30d" },

	/* ENUM. */
	{ .label = "enum: tls", .yaml = "upstream:\n  tls: ssl\n",
	  .want_err = "t.yaml:2:8: upstream.tls: must be none, starttls or "
	  "implicit" },
	{ .label = "enum: level", .yaml = "log:\n  level: loud\n",
	  .want_err = "t.yaml:2:10: log.level: must be debug, info, warn or "
	  "error" },
	{ .label = "enum: target", .yaml = "log:\n  target: file\n",
	  .want_err = "t.yaml:2:11: log.target: must be stderr or syslog" },
	{ .label = "enum: prefix", .yaml = "log:\n  level: inf\n",
	  .want_err = "t.yaml:2:10: log.level: must be debug" },

	/* LISTENERS. */
	{ .label = "listeners: mapping",
	  .yaml = "server:\n  listeners: {address: 127.0.0.1}\n",
	  .want_err = "t.yaml:2:14: server.listeners: expected a sequence of "
	  "{address, port, mode} mappings, found a mapping" },
	{ .label = "listeners: null", .yaml = "server:\n  listeners:\n",
	  .want_err = "t.yaml:2:13: server.listeners: expected a sequence of "
	  "{address, port, mode} mappings, found nothing" },
	{ .label = "listeners: scalar item",
	  .yaml = "server:\n  listeners: [\"127.0.0.1\"]\n",
	  .want_err = "t.yaml:2:15: server.listeners[0]: expected a mapping "
	  "{address, port, mode}, found a scalar" },
	{ .label = "listeners: empty", .yaml = "server:\n  listeners: []\n",
	  .want_err = "t.yaml:2:14: server.listeners: at least 1 listener is "
	  "needed" },
	{ .label = "listeners: name, not address",
	  .yaml = "server:\n  listeners:\n"
	  "    - {address: localhost, port: 25}\n",
	  .want_err = "t.yaml:3:17: server.listeners[0].address: not a numeric "
	  "IPv4 or IPv6 address" },
	{ .label = "listeners: v6 zone",
	  .yaml = "server:\n  listeners:\n    - {address: \"fe80::1%lo\", "
	  "port: 25}\n",
	  .want_err = "t.yaml:3:17: server.listeners[0].address: not a numeric "
	  "IPv4 or IPv6 address" },
	{ .label = "listeners: port too big",
	  .yaml = "server:\n  listeners:\n    - {address: 127.0.0.1, "
	  "port: 65536}\n",
	  .want_err = "t.yaml:3:34: server.listeners[0].port: must be a port "
	  "number from 0 to 65535" },
	{ .label = "listeners: port negative",
	  .yaml = "server:\n  listeners:\n    - {address: 127.0.0.1, "
	  "port: -1}\n",
	  .want_err = "t.yaml:3:34: server.listeners[0].port: must be a port "
	  "number" },
	{ .label = "listeners: port name",
	  .yaml = "server:\n  listeners:\n    - {address: 127.0.0.1, "
	  "port: smtp}\n",
	  .want_err = "t.yaml:3:34: server.listeners[0].port: must be a port "
	  "number" },
	{ .label = "listeners: missing port",
	  .yaml = "server:\n  listeners:\n    - {address: 127.0.0.1}\n",
	  .want_err = "t.yaml:3:7: server.listeners[0]: missing port" },
	{ .label = "listeners: missing address",
	  .yaml = "server:\n  listeners:\n    - port: 25\n",
	  .want_err = "t.yaml:3:7: server.listeners[0]: missing address" },
	{ .label = "listeners: unknown field",
	  .yaml = "server:\n  listeners:\n    - {address: 127.0.0.1, port: 25, "
	  "tls: yes}\n",
	  .want_err = "t.yaml:3:38: server.listeners[0].tls: unknown key "
	  "(expected address, port, mode or require_tls)" },
	{ .label = "listeners: duplicate field",
	  .yaml = "server:\n  listeners:\n    - address: 127.0.0.1\n"
	  "      port: 25\n      port: 26\n",
	  .want_err = "t.yaml:5:7: server.listeners[0].port: duplicate key" },
	{ .label = "listeners: mapping value",
	  .yaml = "server:\n  listeners:\n    - {address: {a: 1}, port: 1}\n",
	  .want_err = "t.yaml:3:17: server.listeners[0].address: expected a "
	  "scalar, found a mapping" },
	{ .label = "listeners: starttls",
	  .yaml = "server:\n  listeners:\n"
	  "    - {address: 127.0.0.1, port: 587, "
	  "mode: starttls}\n",
	  .want_err = "t.yaml:3:5: tls.cert_file: must be set: "
	  "server.listeners[0] has mode starttls" },
	{ .label = "listeners: tls without key",
	  .yaml = "server:\n  listeners:\n"
	  "    - {address: 127.0.0.1, port: 465, mode: tls}\n"
	  "tls:\n  cert_file: /dev/null\n",
	  .want_err = "t.yaml:3:5: tls.key_file: must be set: "
	  "server.listeners[0] has mode tls" },
	{ .label = "listeners: cert not a file",
	  .yaml = "server:\n  listeners:\n"
	  "    - {address: 127.0.0.1, port: 465, mode: tls}\n"
	  "tls:\n  cert_file: /\n  key_file: /\n",
	  .want_err = "t.yaml:5:14: tls.cert_file: /: not a regular file" },
	{ .label = "listeners: cert missing",
	  .yaml = "tls:\n  cert_file: /nonexistent/c.pem\n"
	  "  key_file: /nonexistent/k.pem\n",
	  .want_err = "t.yaml:2:14: tls.cert_file: /nonexistent/c.pem: cannot "
	  "read: No such file or directory" },
	{ .label = "tls: key without cert",
	  .yaml = "tls:\n  key_file: /nonexistent/k.pem\n",
	  .want_err = "t.yaml:2:13: tls.key_file: tls.cert_file must be set "
	  "too" },
	{ .label = "listeners: require_tls on plain",
	  .yaml = "server:\n  listeners:\n"
	  "    - {address: 127.0.0.1, port: 25, require_tls: true}\n",
	  .want_err = "t.yaml:3:51: server.listeners[0].require_tls: a plain "
	  "listener has no TLS to require (use mode starttls)" },
	{ .label = "listeners: require_tls not a bool",
	  .yaml = "server:\n  listeners:\n"
	  "    - {address: 127.0.0.1, port: 25, require_tls: 2}\n",
	  .want_err = "t.yaml:3:51: server.listeners[0].require_tls: must be "
	  "true or false" },
	{ .label = "listeners: require_tls false on plain",
	  .yaml = "server:\n  listeners:\n"
	  "    - {address: 127.0.0.1, port: 25, require_tls: false}\n",
	  .want_ok = true },
	{ .label = "tls: min_version",
	  .yaml = "tls:\n  min_version: 1.1\n",
	  .want_err = "t.yaml:2:16: tls.min_version: must be 1.2 or 1.3" },
	{ .label = "tls: ciphers charset",
	  .yaml = "tls:\n  ciphers: \"HIGH;rm\"\n",
	  .want_err = "t.yaml:2:12: tls.ciphers: must be an OpenSSL list such "
	  "as A:B:!C (letters, digits and _+-!:@=.)" },
	{ .label = "tls: 1.3 only, groups", .yaml = "tls:\n  min_version: "
	  "1.3\n  groups: X25519\n  session_tickets: yes\n",
	  .want_ok = true },
	{ .label = "auth: bad backend", .yaml = "auth:\n  backend: ldap\n",
	  .want_err = "t.yaml:2:12: auth.backend: must be none, file or "
	  "upstream" },
	{ .label = "auth: file without password_file",
	  .yaml = "auth:\n  backend: file\n",
	  .want_err = "t.yaml:2:12: auth.backend: file needs "
	  "auth.password_file" },
	{ .label = "auth: password_file missing",
	  .yaml = "auth:\n  backend: file\n  password_file: /nonexistent/p\n",
	  .want_err = "t.yaml:3:18: auth.password_file: /nonexistent/p: "
	  "cannot read: No such file or directory" },
	{ .label = "auth: upstream in clear text",
	  .yaml = "upstream:\n  host: smtp.example.org\n  tls: none\n"
	  "auth:\n  backend: upstream\n",
	  .want_err = "t.yaml:5:12: auth.backend: refusing to send users' "
	  "passwords in clear text: auth.backend is upstream, upstream.tls "
	  "is none and upstream.host is not a loopback address" },
	{ .label = "auth: upstream over loopback",
	  .yaml = "upstream:\n  tls: none\nauth:\n  backend: upstream\n",
	  .want_ok = true },
	{ .label = "auth: no trusted networks with AUTH",
	  .yaml = "server:\n  trusted_networks: []\nauth:\n  backend: upstream\n",
	  .want_ok = true },
	{ .label = "auth: senders", .yaml = "auth:\n  senders:\n"
	  "    alice: [alice@example.com, \"*@sales.example.com\"]\n"
	  "    bob@example.com: \"*\"\n    carol: []\n",
	  .want_ok = true },
	{ .label = "auth: senders UTF-8 (RFC 6531)", .yaml = "auth:\n  senders:\n"
	  "    hanako: [\"\xe8\x8a\xb1\xe5\xad\x90@example.jp\", "
	  "\"*@\xe4\xbe\x8b\xe3\x81\x88.jp\"]\n",
	  .want_ok = true },
	{ .label = "auth: senders C1 control (YAML \\x85 is U+0085)",
	  .yaml = "auth:\n  senders: {a: \"\\x85@x\"}\n",
	  .want_err = "t.yaml:2:16: auth.senders.a: must not contain control "
	  "characters" },
	{ .label = "auth: senders bad IDN",
	  .yaml = "auth:\n  senders: {a: \"*@\xe2\x98\x83\xe2\x80\x8b.jp\"}\n",
	  .want_err = "t.yaml:2:16: auth.senders.a: has a domain that is not a "
	  "valid internationalised domain name" },
	{ .label = "auth: senders not a mapping",
	  .yaml = "auth:\n  senders: [a]\n",
	  .want_err = "t.yaml:2:12: auth.senders: expected a mapping {user: "
	  "[address, ...]}, found a sequence" },
	{ .label = "auth: senders duplicate user",
	  .yaml = "auth:\n  senders: {a: x@y, a: z@y}\n",
	  .want_err = "t.yaml:2:21: auth.senders.a: duplicate key" },
	{ .label = "auth: senders bad pattern",
	  .yaml = "auth:\n  senders: {a: [x@y, \"x*@y\"]}\n",
	  .want_err = "t.yaml:2:22: auth.senders.a[1]: '*' must be the whole "
	  "local part" },
	{ .label = "auth: senders wildcard domain",
	  .yaml = "auth:\n  senders: {a: \"*@*.y\"}\n",
	  .want_err = "t.yaml:2:16: auth.senders.a: '*' is allowed in the "
	  "local part only" },
	{ .label = "auth: senders no at",
	  .yaml = "auth:\n  senders: {a: alice}\n",
	  .want_err = "t.yaml:2:16: auth.senders.a: must be an address "
	  "local@domain, *@domain or *" },
	{ .label = "auth: senders quote in user",
	  .yaml = "auth:\n  senders: {\"a\\\"b\": x@y}\n",
	  .want_err = "t.yaml:2:13: auth.senders.a\\x22b: the user name must "
	  "be printable ASCII without spaces, quotes or backslashes" },
	{ .label = "auth: senders nested",
	  .yaml = "auth:\n  senders: {a: [[x@y]]}\n",
	  .want_err = "t.yaml:2:17: auth.senders.a[0]: expected an address or "
	  "pattern, found a sequence" },
	{ .label = "auth: failure_delay range",
	  .yaml = "auth:\n  failure_delay: 2m\n",
	  .want_err = "t.yaml:2:18: auth.failure_delay: must be between 0 and "
	  "1m" },
	{ .label = "listeners: tls",
	  .yaml = "server:\n  listeners:\n"
	  "    - {address: 127.0.0.1, port: 465, "
	  "mode: tls}\n",
	  .want_err = "t.yaml:3:5: tls.cert_file: must be set: "
	  "server.listeners[0] has mode tls" },
	{ .label = "listeners: bad mode",
	  .yaml = "server:\n  listeners:\n    - {address: 127.0.0.1, port: 25, "
	  "mode: ssl}\n",
	  .want_err = "t.yaml:3:44: server.listeners[0].mode: must be plain, "
	  "starttls or tls" },
	{ .label = "listeners: same address and port",
	  .yaml = "server:\n  listeners:\n"
	  "    - {address: 127.0.0.1, port: 25}\n"
	  "    - {address: 127.0.0.1, port: 25}\n",
	  .want_err = "t.yaml:4:7: server.listeners[1]: same address and port "
	  "as server.listeners[0]" },
	{ .label = "listeners: same v6 address, other spelling",
	  .yaml = "server:\n  listeners:\n    - {address: \"::1\", port: 25}\n"
	  "    - {address: \"0::0:1\", port: 25}\n",
	  .want_err = "t.yaml:4:7: server.listeners[1]: same address and port "
	  "as server.listeners[0]" },
	{ .label = "listeners: two on port 0",
	  .yaml = "server:\n  listeners:\n    - {address: 127.0.0.1, port: 0}\n"
	  "    - {address: 127.0.0.1, port: 0}\n", .want_ok = true },
	{ .label = "listeners: block style",
	  .yaml = "server:\n  listeners:\n    - address: \"::\"\n"
	  "      port: 2525\n      mode: plain\n"
	  "    - address: 0.0.0.0\n      port: 2525\n", .want_ok = true },

	/* CIDRLIST. */
	{ .label = "trusted: host bits",
	  .yaml = "server:\n  trusted_networks: [10.0.0.1/8]\n",
	  .want_err = "t.yaml:2:22: server.trusted_networks[0]: host bits are "
	  "set beyond the /8 prefix (the network is 10.0.0.0/8)" },
	{ .label = "trusted: v6 host bits",
	  .yaml = "server:\n  trusted_networks: [\"2001:db8::1/64\"]\n",
	  .want_err = "t.yaml:2:22: server.trusted_networks[0]: host bits are "
	  "set beyond the /64 prefix (the network is 2001:db8::/64)" },
	{ .label = "trusted: prefix too long",
	  .yaml = "server:\n  trusted_networks: [10.0.0.0/33]\n",
	  .want_err = "t.yaml:2:22: server.trusted_networks[0]: the prefix "
	  "length must be 0 to 32" },
	{ .label = "trusted: v6 prefix too long",
	  .yaml = "server:\n  trusted_networks: [\"::1/129\"]\n",
	  .want_err = "t.yaml:2:22: server.trusted_networks[0]: the prefix "
	  "length must be 0 to 128" },
	{ .label = "trusted: empty prefix",
	  .yaml = "server:\n  trusted_networks: [10.0.0.0/]\n",
	  .want_err = "t.yaml:2:22: server.trusted_networks[0]: the prefix "
	  "length must be 0 to 32" },
	{ .label = "trusted: host name",
	  .yaml = "server:\n  trusted_networks: [127.0.0.1, localhost]\n",
	  .want_err = "t.yaml:2:33: server.trusted_networks[1]: not a numeric "
	  "IPv4 or IPv6 address or network" },
	{ .label = "trusted: short v4",
	  .yaml = "server:\n  trusted_networks: [10.0.0]\n",
	  .want_err = "t.yaml:2:22: server.trusted_networks[0]: not a numeric "
	  "IPv4 or IPv6 address or network" },
	{ .label = "trusted: scalar",
	  .yaml = "server:\n  trusted_networks: 10.0.0.0/8\n",
	  .want_err = "t.yaml:2:21: server.trusted_networks: expected a "
	  "sequence of networks, found a scalar" },
	{ .label = "trusted: mapping item",
	  .yaml = "server:\n  trusted_networks: [{a: 1}]\n",
	  .want_err = "t.yaml:2:22: server.trusted_networks[0]: expected a "
	  "network such as 10.0.0.0/8, found a mapping" },
	{ .label = "trusted: empty",
	  .yaml = "server:\n  trusted_networks: []\n",
	  .want_err = "t.yaml:2:21: server.trusted_networks: is empty and "
	  "auth.backend is none, so no client could submit" },
	{ .label = "trusted: NUL",
	  .yaml = "server:\n  trusted_networks: [\"10.0.0.0/8\\0\"]\n",
	  .want_err = "t.yaml:2:22: server.trusted_networks[0]: must not "
	  "contain a NUL byte" },

	/* Cross-field rules. */
	{ .label = "cross: text_line > message_size",
	  .yaml = "limits:\n  text_line: 1M\n  message_size: 64k\n",
	  .want_err = "t.yaml:3:17: limits.message_size: limits.text_line "
	  "(1M) must not exceed limits.message_size (64k)" },
	{ .label = "cross: order in file decides",
	  .yaml = "limits:\n  message_size: 64k\n  text_line: 1M\n",
	  .want_err = "t.yaml:3:14: limits.text_line: limits.text_line "
	  "(1M) must not exceed limits.message_size (64k)" },
	{ .label = "cross: against a default",
	  .yaml = "limits:\n  max_sessions: 10\n",
	  .want_err = "t.yaml:2:17: limits.max_sessions: "
	  "limits.max_sessions_per_ip (50) must not exceed limits.max_sessions "
	  "(10)" },
	{ .label = "cross: retry.initial > retry.max",
	  .yaml = "retry:\n  initial: 2h\n",
	  .want_err = "t.yaml:2:12: retry.initial: retry.initial (2h) must not "
	  "exceed retry.max (1h)" },
	{ .label = "cross: retry.max > give_up",
	  .yaml = "retry:\n  max: 7d\n  give_up: 1d\n",
	  .want_err = "t.yaml:3:12: retry.give_up: retry.max (7d) must not "
	  "exceed retry.give_up (1d)" },
	{ .label = "cross: command > session",
	  .yaml = "timeouts:\n  session: 1m\n  command: 2m\n",
	  .want_err = "t.yaml:3:12: timeouts.command: timeouts.command (2m) "
	  "must not exceed timeouts.session (1m)" },
	{ .label = "cross: equal is fine",
	  .yaml = "timeouts:\n  session: 1h\n  command: 1h\n  data: 1h\n",
	  .want_ok = true },

	/* hold.max and policy: good. */
	{ .label = "policy: empty", .yaml = "policy: {}\n", .want_ok = true },
	{ .label = "policy: null", .yaml = "policy:\n", .want_ok = true },
	{ .label = "policy: every key",
	  .yaml = "hold:\n  default: 5m\n  max: 1d\npolicy:\n"
	  "  internal_domains: [example.com]\n  partner_domains: []\n"
	  "  builtin_providers: true\n  provider_domains: [mail.example]\n"
	  "  blocked_domains: [\"*.example.invalid\"]\n"
	  "  confusable_tlds: {ml: mil, co: com, cm: com, om: com, ne: net}\n"
	  "  sensitive_patterns: [\"社外秘\", \"機密\", confidential]\n"
	  "  rules:\n"
	  "    typo_domain: {enabled: true, mode: enforce, action: "
	  "hold_longer, hold: 30m, users: [], domains: [], min_label: 4, "
	  "weak_min_label: 6, two_edit_min_label: 10}\n"
	  "    confusable_tld: {mode: audit}\n"
	  "    blocked_domains: {action: reject}\n"
	  "    visible_recipients: {action: rewrite_to_bcc, max_external: 5, "
	  "min_orgs: 2, reply_exempt: true}\n"
	  "    first_time_recipient: {internal: false, detail_max: 5}\n"
	  "    external_recipient: {enabled: true, users: [bob]}\n"
	  "    burst: {window: 1h, max_messages: 100, max_recipients: 1000, "
	  "max_first_time: 100}\n"
	  "    cc_carryover: {min_run: 3, window: 1d}\n"
	  "    sensitive_content: {external_only: true}\n"
	  "    malformed_header: {enabled: false}\n", .want_ok = true },
	{ .label = "policy: rule with nothing", .yaml = "policy:\n  rules:\n"
	  "    burst:\n", .want_ok = true },
	{ .label = "policy: empty rules", .yaml = "policy: {rules: {}}\n",
	  .want_ok = true },
	{ .label = "policy: built-in lists emptied",
	  .yaml = "policy: {confusable_tlds: {}, sensitive_patterns: []}\n",
	  .want_ok = true },
	{ .label = "policy: IDN domain",
	  .yaml = "policy: {internal_domains: [\"例え.jp\", xn--r8jz45g.jp]}\n",
	  .want_ok = true },
	{ .label = "policy: hold.max equal to hold.default",
	  .yaml = "hold: {default: 1h, max: 1h}\n", .want_ok = true },
	{ .label = "policy: rule hold equal to hold.max",
	  .yaml = "hold: {max: 2h}\npolicy: {rules: {burst: {hold: 2h}}}\n",
	  .want_ok = true },
	{ .label = "policy: hold.max 0",
	  .yaml = "hold: {default: 0, max: 0}\npolicy: {rules: {"
	  "first_time_recipient: {hold: 0}, external_recipient: {hold: 0}, "
	  "sensitive_content: {hold: 0}}}\n", .want_ok = true },

	/* hold.max and policy: errors. */
	{ .label = "hold.max too large", .yaml = "hold:\n  max: 31d\n",
	  .want_err = "t.yaml:2:8: hold.max: must be between 0 and 30d" },
	{ .label = "hold.max below hold.default",
	  .yaml = "hold:\n  default: 2h\n  max: 1h\n",
	  .want_err = "t.yaml:3:8: hold.max: hold.default (2h) must not exceed "
	  "hold.max (1h)" },
	{ .label = "hold.default above the default hold.max",
	  .yaml = "hold:\n  default: 2d\n",
	  .want_err = "t.yaml:2:12: hold.default: hold.default (2d) must not "
	  "exceed hold.max (1d)" },
	{ .label = "rule hold above hold.max",
	  .yaml = "hold: {max: 1h}\npolicy:\n  rules:\n    burst: {hold: 2h}\n",
	  .want_err = "t.yaml:4:19: policy.rules.burst.hold: 2h must not "
	  "exceed hold.max (1h)" },
	/* A default rule hold above hold.max is capped, not an error. */
	{ .label = "default rule hold above hold.max",
	  .yaml = "hold:\n  max: 10m\n", .want_ok = true },
	{ .label = "policy: unknown key",
	  .yaml = "policy:\n  internal_domain: [a.example]\n",
	  .want_err = "t.yaml:2:3: policy.internal_domain: unknown key" },
	{ .label = "policy: rule key written flat",
	  .yaml = "policy:\n  rules.burst.window: 1h\n",
	  .want_err = "t.yaml:2:3: policy.rules.burst.window: unknown key" },
	{ .label = "policy: not a mapping", .yaml = "policy: [a]\n",
	  .want_err = "t.yaml:1:9: policy: expected a mapping of keys, found "
	  "a sequence" },
	{ .label = "policy: bool", .yaml = "policy:\n  builtin_providers: 2\n",
	  .want_err = "t.yaml:2:22: policy.builtin_providers: must be true or "
	  "false" },
	{ .label = "list: scalar",
	  .yaml = "policy:\n  internal_domains: example.com\n",
	  .want_err = "t.yaml:2:21: policy.internal_domains: expected a "
	  "sequence of strings, found a scalar" },
	{ .label = "list: mapping",
	  .yaml = "policy:\n  partner_domains: {a: b}\n",
	  .want_err = "t.yaml:2:20: policy.partner_domains: expected a "
	  "sequence of strings, found a mapping" },
	{ .label = "list: null item",
	  .yaml = "policy:\n  internal_domains: [a.example, ~]\n",
	  .want_err = "t.yaml:2:33: policy.internal_domains[1]: expected a "
	  "string, found nothing" },
	{ .label = "list: nested",
	  .yaml = "policy:\n  provider_domains: [[a.example]]\n",
	  .want_err = "t.yaml:2:22: policy.provider_domains[0]: expected a "
	  "string, found a sequence" },
	{ .label = "domain: empty",
	  .yaml = "policy:\n  internal_domains: [\"\"]\n",
	  .want_err = "t.yaml:2:22: policy.internal_domains[0]: must be a "
	  "domain name of 1 to 253 bytes" },
	{ .label = "domain: underscore",
	  .yaml = "policy:\n  internal_domains: [ex_ample.com]\n",
	  .want_err = "t.yaml:2:22: policy.internal_domains[0]: must be a host "
	  "name (letters, digits, '-' and '.')" },
	{ .label = "domain: address",
	  .yaml = "policy:\n  partner_domains: [a@example.com]\n",
	  .want_err = "t.yaml:2:21: policy.partner_domains[0]: must be a host "
	  "name (letters, digits, '-' and '.')" },
	{ .label = "domain: empty label",
	  .yaml = "policy:\n  internal_domains: [a..example]\n",
	  .want_err = "t.yaml:2:22: policy.internal_domains[0]: has an empty "
	  "label" },
	{ .label = "domain: trailing dot",
	  .yaml = "policy:\n  internal_domains: [example.com.]\n",
	  .want_err = "t.yaml:2:22: policy.internal_domains[0]: has an empty "
	  "label" },
	{ .label = "domain: bad IDN",
	  .yaml = "policy:\n  internal_domains: [\"\xe2\x98\x83.example\"]\n",
	  .want_err = "t.yaml:2:22: policy.internal_domains[0]: is not a valid "
	  "internationalised domain name" },
	{ .label = "domain: long label",
	  .yaml = "policy:\n  internal_domains: [aaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
	  "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa.example]\n",
	  .want_err = "t.yaml:2:22: policy.internal_domains[0]: has a label "
	  "longer than 63 characters" },
	{ .label = "glob: space",
	  .yaml = "policy:\n  blocked_domains: [\"*.exa mple\"]\n",
	  .want_err = "t.yaml:2:21: policy.blocked_domains[0]: must be a "
	  "domain pattern (letters, digits, '-', '.', '*' and '?')" },
	{ .label = "glob: unquoted star is an alias",
	  .yaml = "policy:\n  blocked_domains: [*.example]\n",
	  .want_err = "t.yaml:2:22: syntax error: did not find expected "
	  "alphabetic or numeric character (while scanning an alias at line "
	  "2)" },
	{ .label = "tlds: not a mapping",
	  .yaml = "policy:\n  confusable_tlds: [ml]\n",
	  .want_err = "t.yaml:2:20: policy.confusable_tlds: expected a mapping "
	  "{typed: intended}, found a sequence" },
	{ .label = "tlds: dotted",
	  .yaml = "policy:\n  confusable_tlds: {ml: mil.x}\n",
	  .want_err = "t.yaml:2:25: policy.confusable_tlds.ml: must be a "
	  "top-level label such as com (letters, digits and '-', no dots)" },
	{ .label = "tlds: bad key",
	  .yaml = "policy:\n  confusable_tlds: {\"-ml\": mil}\n",
	  .want_err = "t.yaml:2:21: policy.confusable_tlds.-ml: must not start "
	  "or end with '-'" },
	{ .label = "tlds: duplicate",
	  .yaml = "policy:\n  confusable_tlds: {ml: mil, ML: mil}\n",
	  .want_err = "t.yaml:2:30: policy.confusable_tlds.ML: duplicate "
	  "key" },
	{ .label = "tlds: to itself",
	  .yaml = "policy:\n  confusable_tlds: {com: COM}\n",
	  .want_err = "t.yaml:2:26: policy.confusable_tlds.com: maps a label "
	  "to itself" },
	{ .label = "tlds: value a sequence",
	  .yaml = "policy:\n  confusable_tlds: {ml: [mil]}\n",
	  .want_err = "t.yaml:2:25: policy.confusable_tlds.ml: expected a "
	  "label, found a sequence" },
	{ .label = "tlds: value null",
	  .yaml = "policy:\n  confusable_tlds: {ml: }\n",
	  .want_err = "t.yaml:2:25: policy.confusable_tlds.ml: expected a "
	  "label, found nothing" },
	{ .label = "pattern: control character",
	  .yaml = "policy:\n  sensitive_patterns: [\"a\\tb\"]\n",
	  .want_err = "t.yaml:2:24: policy.sensitive_patterns[0]: must not "
	  "contain control characters" },
	{ .label = "pattern: empty",
	  .yaml = "policy:\n  sensitive_patterns: ['']\n",
	  .want_err = "t.yaml:2:24: policy.sensitive_patterns[0]: must be 1 to "
	  "256 bytes long" },
	{ .label = "rules: not a mapping",
	  .yaml = "policy:\n  rules: [burst]\n",
	  .want_err = "t.yaml:2:10: policy.rules: expected a mapping {rule: "
	  "{key: value}}, found a sequence" },
	{ .label = "rules: unknown rule",
	  .yaml = "policy:\n  rules:\n    bursts: {}\n",
	  .want_err = "t.yaml:3:5: policy.rules.bursts: unknown rule (expected "
	  "typo_domain, confusable_tld, blocked_domains, visible_recipients, "
	  "first_time_recipient, external_recipient, burst, cc_carryover, "
	  "sensitive_content or malformed_header)" },
	{ .label = "rules: duplicate rule",
	  .yaml = "policy:\n  rules:\n    burst: {}\n    burst: {}\n",
	  .want_err = "t.yaml:4:5: policy.rules.burst: duplicate key" },
	{ .label = "rules: rule not a mapping",
	  .yaml = "policy:\n  rules:\n    burst: off\n",
	  .want_err = "t.yaml:3:12: policy.rules.burst: expected a mapping of "
	  "rule settings, found a scalar" },
	{ .label = "rules: unknown key",
	  .yaml = "policy:\n  rules:\n    burst:\n      max_mesages: 5\n",
	  .want_err = "t.yaml:4:7: policy.rules.burst.max_mesages: unknown "
	  "key" },
	{ .label = "rules: key of another rule",
	  .yaml = "policy:\n  rules:\n    typo_domain: {window: 1h}\n",
	  .want_err = "t.yaml:3:19: policy.rules.typo_domain.window: unknown "
	  "key" },
	{ .label = "rules: key with a dot",
	  .yaml = "policy:\n  rules:\n    burst: {burst.window: 1h}\n",
	  .want_err = "t.yaml:3:13: policy.rules.burst.burst.window: unknown "
	  "key" },
	{ .label = "rules: duplicate common key",
	  .yaml = "policy:\n  rules:\n    burst: {mode: audit, mode: audit}\n",
	  .want_err = "t.yaml:3:26: policy.rules.burst.mode: duplicate key" },
	{ .label = "rules: duplicate own key",
	  .yaml = "policy:\n  rules:\n    burst: {window: 1h, window: 2h}\n",
	  .want_err = "t.yaml:3:25: policy.rules.burst.window: duplicate key" },
	{ .label = "rules: bad mode",
	  .yaml = "policy:\n  rules:\n    burst: {mode: warn}\n",
	  .want_err = "t.yaml:3:19: policy.rules.burst.mode: must be enforce or "
	  "audit" },
	{ .label = "rules: bad action",
	  .yaml = "policy:\n  rules:\n    burst: {action: drop}\n",
	  .want_err = "t.yaml:3:21: policy.rules.burst.action: must be hold, "
	  "hold_longer, rewrite_to_bcc, hold_for_release or reject" },
	{ .label = "rules: bad enabled",
	  .yaml = "policy:\n  rules:\n    burst: {enabled: maybe}\n",
	  .want_err = "t.yaml:3:22: policy.rules.burst.enabled: must be true "
	  "or false" },
	{ .label = "rules: bad hold",
	  .yaml = "policy:\n  rules:\n    burst: {hold: 5 min}\n",
	  .want_err = "t.yaml:3:19: policy.rules.burst.hold: must be a duration "
	  "such as 0, 90s, 5m, 2h or 1d" },
	{ .label = "rules: hold too large",
	  .yaml = "policy:\n  rules:\n    burst: {hold: 31d}\n",
	  .want_err = "t.yaml:3:19: policy.rules.burst.hold: must be between 0 "
	  "and 30d" },
	{ .label = "rules: hold a sequence",
	  .yaml = "policy:\n  rules:\n    burst: {hold: [1]}\n",
	  .want_err = "t.yaml:3:19: policy.rules.burst.hold: expected a "
	  "duration, found a sequence" },
	{ .label = "rules: min_label 0",
	  .yaml = "policy:\n  rules:\n    typo_domain: {min_label: 0}\n",
	  .want_err = "t.yaml:3:30: policy.rules.typo_domain.min_label: must "
	  "be between 1 and 63" },
	{ .label = "rules: window 0",
	  .yaml = "policy:\n  rules:\n    burst: {window: 0}\n",
	  .want_err = "t.yaml:3:21: policy.rules.burst.window: must be between "
	  "1s and 7d" },
	{ .label = "rules: detail_max too large",
	  .yaml = "policy:\n  rules:\n    first_time_recipient: "
	  "{detail_max: 101}\n",
	  .want_err = "t.yaml:3:40: policy.rules.first_time_recipient."
	  "detail_max: must be between 0 and 100" },
	{ .label = "rules: min_run not a number",
	  .yaml = "policy:\n  rules:\n    cc_carryover: {min_run: three}\n",
	  .want_err = "t.yaml:3:29: policy.rules.cc_carryover.min_run: must be "
	  "an integer" },
	{ .label = "rules: users not a list",
	  .yaml = "policy:\n  rules:\n    burst: {users: alice}\n",
	  .want_err = "t.yaml:3:20: policy.rules.burst.users: expected a "
	  "sequence of strings, found a scalar" },
	{ .label = "rules: bad user",
	  .yaml = "policy:\n  rules:\n    burst: {users: [alice, \"a b\"]}\n",
	  .want_err = "t.yaml:3:28: policy.rules.burst.users[1]: must be a "
	  "user name or address without spaces, quotes or backslashes" },
	{ .label = "rules: bad scope domain",
	  .yaml = "policy:\n  rules:\n    burst: {domains: [-a.example]}\n",
	  .want_err = "t.yaml:3:23: policy.rules.burst.domains[0]: has a label "
	  "starting with '-'" },
	{ .label = "rules: key not a scalar",
	  .yaml = "policy:\n  rules:\n    burst: {[a]: 1}\n",
	  .want_err = "t.yaml:3:13: policy.rules.burst: keys must be scalars, "
	  "found a sequence" },
	{ .label = "rules: alias",
	  .yaml = "policy:\n  rules:\n    burst: &b {}\n    cc_carryover: *b\n",
	  .want_err = "t.yaml:4:19: YAML aliases are not allowed" },
	{ .label = "policy_new: rewrite_to_bcc elsewhere",
	  .yaml = "policy:\n  rules:\n    typo_domain: {action: "
	  "rewrite_to_bcc}\n",
	  .want_err = "t.yaml:2:3: policy: typo_domain.action: rewrite_to_bcc "
	  "only applies to visible_recipients" },

	/* auth_file that cannot be used (see the auth tests for the rest). */
	{ .label = "auth_file: missing",
	  .yaml = "upstream:\n  auth_file: /nonexistent/auth\n",
	  .want_err = "t.yaml:2:14: upstream.auth_file: /nonexistent/auth: "
	  "cannot open: No such file or directory" },
	{ .label = "auth_file: device",
	  .yaml = "upstream:\n  auth_file: /dev/null\n",
	  .want_err = "t.yaml:2:14: upstream.auth_file: /dev/null: not a "
	  "regular file" },
	{ .label = "auth_file: directory",
	  .yaml = "upstream:\n  auth_file: /\n",
	  .want_err = "t.yaml:2:14: upstream.auth_file: /: not a regular "
	  "file" },
};

START_TEST(test_load_table)
{
	const struct load_case *c = &load_cases[_i];
	char err[ERRSZ];
	struct config *cfg;

	memset(err, 'X', sizeof(err));
	cfg = load_str(c->yaml, c->len ? c->len : strlen(c->yaml), err);
	if (c->want_ok) {
		ck_assert_msg(cfg != NULL, "%s: unexpected error: %s",
		    c->label, err);
	} else {
		ck_assert_msg(cfg == NULL, "%s: loaded, want error \"%s\"",
		    c->label, c->want_err);
		ck_assert_msg(strncmp(err, c->want_err,
		    strlen(c->want_err)) == 0, "%s:\n got \"%s\"\nwant \"%s\"",
		    c->label, err, c->want_err);
		ck_assert_msg(strchr(err, '\n') == NULL, "%s: multi-line",
		    c->label);
	}
	config_unref(cfg);
}
END_TEST

/*
 * Values: what a load produces, read back through config_dump.
 */

struct value_case {
	const char	*label;
	const char	*yaml;
	const char	*want_line;	/* one line of the dump */
};

static const struct value_case value_cases[] = {
	{ .label = "hostname",
	  .yaml = "server:\n  hostname: mx.example.org\n",
	  .want_line = "server.hostname: mx.example.org" },
	{ .label = "helo follows hostname",
	  .yaml = "server:\n  hostname: mx.example.org\n",
	  .want_line = "upstream.helo_name: mx.example.org" },
	{ .label = "helo set",
	  .yaml = "upstream:\n  helo_name: relay.example.org\n",
	  .want_line = "upstream.helo_name: relay.example.org" },
	{ .label = "hostname null is derived",
	  .yaml = "server:\n  hostname: ~\nupstream:\n  helo_name: h.example\n",
	  .want_line = "upstream.helo_name: h.example" },
	{ .label = "bool yes", .yaml = "server:\n  smtputf8: yes\n",
	  .want_line = "server.smtputf8: true" },
	{ .label = "bool off", .yaml = "server:\n  smtputf8: off\n",
	  .want_line = "server.smtputf8: false" },
	{ .label = "bool FALSE",
	  .yaml = "server:\n  received_header: FALSE\n",
	  .want_line = "server.received_header: false" },
	{ .label = "bool quoted",
	  .yaml = "server:\n  received_header: 'no'\n",
	  .want_line = "server.received_header: false" },
	{ .label = "int", .yaml = "limits:\n  max_recipients: 10000\n",
	  .want_line = "limits.max_recipients: 10000" },
	{ .label = "int leading zeros",
	  .yaml = "limits:\n  max_recipients: 007\n",
	  .want_line = "limits.max_recipients: 7" },
	{ .label = "int port", .yaml = "upstream:\n  port: 65535\n",
	  .want_line = "upstream.port: 65535" },
	{ .label = "size G", .yaml = "limits:\n  message_size: 1G\n",
	  .want_line = "limits.message_size: 1G" },
	{ .label = "size g", .yaml = "limits:\n  message_size: 1g\n",
	  .want_line = "limits.message_size: 1G" },
	{ .label = "size m", .yaml = "limits:\n  message_size: 10m\n",
	  .want_line = "limits.message_size: 10M" },
	{ .label = "size K", .yaml = "limits:\n  message_size: 100K\n",
	  .want_line = "limits.message_size: 100k" },
	{ .label = "size bytes", .yaml = "limits:\n  message_size: 65536\n",
	  .want_line = "limits.message_size: 64k" },
	{ .label = "size odd", .yaml = "limits:\n  message_size: 65537\n",
	  .want_line = "limits.message_size: 65537" },
	{ .label = "size text_line", .yaml = "limits:\n  text_line: 1048576\n",
	  .want_line = "limits.text_line: 1M" },
	{ .label = "size command_line",
	  .yaml = "limits:\n  command_line: 1k\n",
	  .want_line = "limits.command_line: 1k" },
	{ .label = "duration s", .yaml = "timeouts:\n  command: 90s\n",
	  .want_line = "timeouts.command: 90s" },
	{ .label = "duration plain", .yaml = "timeouts:\n  command: 120\n",
	  .want_line = "timeouts.command: 2m" },
	{ .label = "duration h", .yaml = "timeouts:\n  data: 3600s\n",
	  .want_line = "timeouts.data: 1h" },
	{ .label = "duration d", .yaml = "timeouts:\n  session: 86400\n",
	  .want_line = "timeouts.session: 1d" },
	{ .label = "duration zero", .yaml = "hold:\n  default: 0s\n",
	  .want_line = "hold.default: 0" },
	{ .label = "duration hold max",
	  .yaml = "hold:\n  default: 7d\n  max: 7d\n",
	  .want_line = "hold.default: 7d" },
	{ .label = "enum none", .yaml = "upstream:\n  tls: none\n",
	  .want_line = "upstream.tls: none" },
	{ .label = "enum implicit", .yaml = "upstream:\n  tls: implicit\n",
	  .want_line = "upstream.tls: implicit" },
	{ .label = "enum case", .yaml = "log:\n  level: DEBUG\n",
	  .want_line = "log.level: debug" },
	{ .label = "enum error", .yaml = "log:\n  level: error\n",
	  .want_line = "log.level: error" },
	{ .label = "enum target", .yaml = "log:\n  target: syslog\n",
	  .want_line = "log.target: syslog" },
	{ .label = "listener v6 port 0",
	  .yaml = "server:\n  listeners: [{address: \"::1\", port: 0}]\n",
	  .want_line = "server.listeners: [{address: \"::1\", port: 0, "
	  "mode: plain}]" },
	{ .label = "two listeners",
	  .yaml = "server:\n  listeners:\n    - {address: 0.0.0.0, port: 25, "
	  "mode: plain}\n    - {port: 26, address: \"::\"}\n",
	  .want_line = "server.listeners: [{address: \"0.0.0.0\", port: 25, "
	  "mode: plain}, {address: \"::\", port: 26, mode: plain}]" },
	{ .label = "trusted bare v4",
	  .yaml = "server:\n  trusted_networks: [10.1.2.3]\n",
	  .want_line = "server.trusted_networks: [\"10.1.2.3/32\"]" },
	{ .label = "trusted mapped",
	  .yaml = "server:\n  trusted_networks: [\"::ffff:10.0.0.0/104\"]\n",
	  .want_line = "server.trusted_networks: [\"10.0.0.0/8\"]" },
	{ .label = "trusted v6 case",
	  .yaml = "server:\n  trusted_networks: [\"2001:DB8::/32\"]\n",
	  .want_line = "server.trusted_networks: [\"2001:db8::/32\"]" },
	{ .label = "trusted everything",
	  .yaml = "server:\n  trusted_networks: [0.0.0.0/0, \"::/0\"]\n",
	  .want_line = "server.trusted_networks: [\"0.0.0.0/0\", \"::/0\"]" },
	{ .label = "trusted block",
	  .yaml = "server:\n  trusted_networks:\n    - 192.168.0.0/16\n"
	  "    - 10.128.0.0/9\n",
	  .want_line = "server.trusted_networks: [\"192.168.0.0/16\", "
	  "\"10.128.0.0/9\"]" },
	{ .label = "ca_file", .yaml = "upstream:\n  ca_file: /dev/null\n",
	  .want_line = "upstream.ca_file: /dev/null" },
	{ .label = "ca_file unset", .yaml = "upstream:\n  ca_file: ''\n",
	  .want_line = "upstream.ca_file: (none)" },
	{ .label = "auth_file unset", .yaml = "upstream:\n  auth_file: null\n",
	  .want_line = "upstream.auth_file: (none)" },
	{ .label = "queue path",
	  .yaml = "queue:\n  path: /var/lib/mailhold/q.db\n",
	  .want_line = "queue.path: /var/lib/mailhold/q.db" },
	{ .label = "hold.max", .yaml = "hold:\n  max: 48h\n",
	  .want_line = "hold.max: 2d" },
	{ .label = "domains lowercased",
	  .yaml = "policy:\n  internal_domains: [Example.COM, sub.example.org]\n",
	  .want_line = "policy.internal_domains: [\"example.com\", "
	  "\"sub.example.org\"]" },
	{ .label = "IDN kept as written",
	  .yaml = "policy:\n  partner_domains: [\"例え.JP\"]\n",
	  .want_line = "policy.partner_domains: [\"例え.jp\"]" },
	{ .label = "glob lowercased",
	  .yaml = "policy:\n  blocked_domains: [\"*.Example.INVALID\", "
	  "\"?x.example\"]\n",
	  .want_line = "policy.blocked_domains: [\"*.example.invalid\", "
	  "\"?x.example\"]" },
	{ .label = "tld map replaces the built-in one",
	  .yaml = "policy:\n  confusable_tlds: {ML: Mil, cm: com}\n",
	  .want_line = "policy.confusable_tlds: {\"ml\": \"mil\", "
	  "\"cm\": \"com\"}" },
	{ .label = "tld map empty",
	  .yaml = "policy:\n  confusable_tlds: {}\n",
	  .want_line = "policy.confusable_tlds: {}" },
	{ .label = "patterns escaped",
	  .yaml = "policy:\n  sensitive_patterns: [\"社外秘\", 'say \"hi\"', "
	  "'a\\b']\n",
	  .want_line = "policy.sensitive_patterns: [\"社外秘\", "
	  "\"say \\\"hi\\\"\", \"a\\\\b\"]" },
	{ .label = "builtin_providers off",
	  .yaml = "policy:\n  builtin_providers: no\n",
	  .want_line = "policy.builtin_providers: false" },
	{ .label = "rule: common keys",
	  .yaml = "policy:\n  rules:\n    external_recipient: {enabled: yes, "
	  "mode: AUDIT, action: reject, hold: 90, users: [bob, "
	  "carol@example.com], domains: [Sales.Example.com]}\n",
	  .want_line = "policy.rules.external_recipient: {enabled: true, "
	  "mode: audit, action: reject, hold: 90s, users: [\"bob\", "
	  "\"carol@example.com\"], domains: [\"sales.example.com\"]}" },
	{ .label = "rule: own keys",
	  .yaml = "policy:\n  rules:\n    burst: {window: 7200, max_messages: "
	  "5, max_recipients: 6, max_first_time: 7, max_internal_messages: "
	  "8, max_internal_recipients: 9, max_internal_first_time: 10}\n",
	  .want_line = "policy.rules.burst: {enabled: true, mode: enforce, "
	  "action: hold_for_release, hold: 0, users: [], domains: [], "
	  "window: 2h, max_messages: 5, max_recipients: 6, "
	  "max_first_time: 7, max_internal_messages: 8, "
	  "max_internal_recipients: 9, max_internal_first_time: 10}" },
	{ .label = "rule: typo thresholds",
	  .yaml = "policy:\n  rules:\n    typo_domain: {min_label: 3, "
	  "weak_min_label: 5, two_edit_min_label: 0}\n",
	  .want_line = "policy.rules.typo_domain: {enabled: true, mode: "
	  "enforce, action: hold_longer, hold: 1h, users: [], domains: [], "
	  "min_label: 3, weak_min_label: 5, two_edit_min_label: 0}" },
	{ .label = "rule: visible",
	  .yaml = "policy:\n  rules:\n    visible_recipients: {action: "
	  "rewrite_to_bcc, max_external: 0, min_orgs: 0, reply_exempt: off}\n",
	  .want_line = "policy.rules.visible_recipients: {enabled: true, mode: "
	  "enforce, action: rewrite_to_bcc, hold: 1h, users: [], domains: [], "
	  "max_external: 0, min_orgs: 0, reply_exempt: false}" },
	{ .label = "rule: first time, carryover, sensitive",
	  .yaml = "policy:\n  rules:\n    first_time_recipient: {internal: "
	  "true, detail_max: 100}\n    cc_carryover: {min_run: 2, window: 3d}\n"
	  "    sensitive_content: {external_only: false}\n",
	  .want_line = "policy.rules.cc_carryover: {enabled: true, mode: "
	  "enforce, action: hold_longer, hold: 1h, users: [], domains: [], "
	  "min_run: 2, window: 3d}" },
	{ .label = "rule untouched keeps defaults",
	  .yaml = "policy:\n  rules:\n    burst: {mode: audit}\n",
	  .want_line = "policy.rules.sensitive_content: {enabled: true, mode: "
	  "enforce, action: hold_longer, hold: 1h, users: [], domains: [], "
	  "external_only: true}" },
};

START_TEST(test_value_table)
{
	const struct value_case *c = &value_cases[_i];
	char err[ERRSZ], *text;
	struct config *cfg;

	cfg = load_str(c->yaml, strlen(c->yaml), err);
	ck_assert_msg(cfg != NULL, "%s: %s", c->label, err);
	text = dump_str(cfg);
	ck_assert_msg(has_line(text, c->want_line), "%s: no line \"%s\" in:\n"
	    "%s", c->label, c->want_line, text);
	free(text);
	config_unref(cfg);
}
END_TEST

/*
 * web.port: 0 -> the derived base_url follows the port bound; a base_url
 * set in the file never changes.
 */
START_TEST(test_web_bound)
{
	static const char y0[] = "web:\n  port: 0\n";
	static const char y6[] = "web:\n  address: \"::1\"\n  port: 0\n";
	static const char ys[] = "web:\n  port: 0\n  base_url: "
	    "https://mh.example.org\n";
	char err[ERRSZ];
	struct config *cfg;

	cfg = load_str(y0, strlen(y0), err);
	ck_assert_msg(cfg != NULL, "%s", err);
	ck_assert_str_eq(cfg->web_base_url, "http://127.0.0.1:0");
	config_web_bound(cfg, 41234);
	ck_assert_str_eq(cfg->web_base_url, "http://127.0.0.1:41234");
	config_web_bound(cfg, 0);		/* nothing bound: kept */
	config_web_bound(cfg, 70000);
	ck_assert_str_eq(cfg->web_base_url, "http://127.0.0.1:41234");
	config_unref(cfg);

	cfg = load_str(y6, strlen(y6), err);
	ck_assert_msg(cfg != NULL, "%s", err);
	config_web_bound(cfg, 8443);
	ck_assert_str_eq(cfg->web_base_url, "http://[::1]:8443");
	config_unref(cfg);

	cfg = load_str(ys, strlen(ys), err);
	ck_assert_msg(cfg != NULL, "%s", err);
	config_web_bound(cfg, 41234);
	ck_assert_str_eq(cfg->web_base_url, "https://mh.example.org");
	config_unref(cfg);
}
END_TEST

/*
 * Defaults, ref counting, dump.
 */

START_TEST(test_defaults)
{
	char err[ERRSZ], host[256], net[INET6_ADDRSTRLEN];
	struct config *cfg;

	cfg = config_default(err, sizeof(err));
	ck_assert_msg(cfg != NULL, "%s", err);
	ck_assert_int_eq(cfg->refs, 1);
	memset(host, 0, sizeof(host));
	ck_assert_int_eq(gethostname(host, sizeof(host) - 1), 0);
	ck_assert_str_eq(cfg->hostname, host);
	ck_assert_uint_eq(cfg->nlisteners, 1);
	ck_assert_str_eq(cfg->listeners[0].address, "127.0.0.1");
	ck_assert_int_eq(cfg->listeners[0].port, 2525);
	ck_assert_int_eq(cfg->listeners[0].mode, CONFIG_LISTEN_PLAIN);
	ck_assert_uint_eq(cfg->ntrusted, 2);
	ck_assert_int_eq(cfg->trusted[0].family, AF_INET);
	ck_assert_int_eq(cfg->trusted[0].prefix, 8);
	ck_assert_ptr_nonnull(inet_ntop(AF_INET, cfg->trusted[0].addr, net,
	    sizeof(net)));
	ck_assert_str_eq(net, "127.0.0.0");
	ck_assert_int_eq(cfg->trusted[1].family, AF_INET6);
	ck_assert_int_eq(cfg->trusted[1].prefix, 128);
	ck_assert_ptr_nonnull(inet_ntop(AF_INET6, cfg->trusted[1].addr, net,
	    sizeof(net)));
	ck_assert_str_eq(net, "::1");
	ck_assert(cfg->received_header);
	ck_assert(cfg->smtputf8);
	ck_assert_ptr_null(cfg->tls_cert_file);
	ck_assert_ptr_null(cfg->tls_key_file);
	ck_assert_int_eq(cfg->tls_min_version, CONFIG_TLS_V12);
	ck_assert(!cfg->tls_session_tickets);
	ck_assert_str_eq(cfg->tls_groups, "X25519:P-256:P-384");
	ck_assert_int_eq(cfg->auth_backend, CONFIG_AUTH_NONE);
	ck_assert_ptr_null(cfg->auth_password_file);
	ck_assert(!cfg->auth_allow_plaintext);
	ck_assert_int_eq(cfg->auth_cache_ttl, 300);
	ck_assert_uint_eq(cfg->nsenders, 0);
	ck_assert(!cfg->auth_check_from);
	ck_assert_uint_eq(cfg->auth_max_failures, 5);
	ck_assert_uint_eq(cfg->auth_max_user_failures, 10);
	ck_assert_int_eq(cfg->auth_failure_window, 900);
	ck_assert_int_eq(cfg->auth_failure_delay, 1);
	ck_assert_uint_eq(cfg->max_sessions, 1000);
	ck_assert_uint_eq(cfg->max_sessions_per_ip, 50);
	ck_assert_uint_eq(cfg->line_max, 512);
	ck_assert_uint_eq(cfg->text_line_max, 1000);
	ck_assert_uint_eq(cfg->max_recipients, 1000);
	ck_assert_uint_eq(cfg->message_size_max, 25 * 1024 * 1024);
	ck_assert_uint_eq(cfg->max_junk, 20);
	ck_assert_uint_eq(cfg->memory_per_message, 256 * 1024);
	ck_assert_int_eq(cfg->timeout_command, 300);
	ck_assert_int_eq(cfg->timeout_data, 600);
	ck_assert_int_eq(cfg->timeout_session, 3600);
	ck_assert_int_eq(cfg->timeout_upstream, 300);
	ck_assert_str_eq(cfg->queue_path, "./var/queue.db");
	ck_assert_uint_eq(cfg->group_commit_max, 256);
	ck_assert_int_eq(cfg->hold_default, 300);
	ck_assert_str_eq(cfg->up_host, "127.0.0.1");
	ck_assert_int_eq(cfg->up_port, 587);
	ck_assert_int_eq(cfg->up_tls, CONFIG_TLS_STARTTLS);
	ck_assert(cfg->up_verify);
	ck_assert_ptr_null(cfg->up_ca_file);
	ck_assert_ptr_null(cfg->up_auth_file);
	ck_assert_ptr_null(cfg->up_user);
	ck_assert_ptr_null(cfg->up_password);
	ck_assert_str_eq(cfg->up_helo, cfg->hostname);
	ck_assert_uint_eq(cfg->up_max_connections, 4);
	ck_assert_uint_eq(cfg->up_max_per_connection, 100);
	ck_assert_int_eq(cfg->retry_initial, 60);
	ck_assert_int_eq(cfg->retry_max, 3600);
	ck_assert_int_eq(cfg->retry_give_up, 5 * 86400);
	ck_assert_int_eq(cfg->log_level, LOG_LVL_INFO);
	ck_assert(!cfg->log_syslog);
	ck_assert_str_eq(cfg->path, "(defaults)");
	config_unref(cfg);
}
END_TEST

START_TEST(test_defaults_equal_empty_file)
{
	char err[ERRSZ], *a, *b;
	struct config *c1, *c2;

	ck_assert_ptr_nonnull(c1 = config_default(err, sizeof(err)));
	ck_assert_ptr_nonnull(c2 = load_str("# empty\n", 8, err));
	a = dump_str(c1);
	b = dump_str(c2);
	ck_assert_str_eq(a, b);
	free(a);
	free(b);
	config_unref(c1);
	config_unref(c2);
}
END_TEST

START_TEST(test_refcount)
{
	char err[ERRSZ];
	struct config *cfg;

	config_unref(NULL);
	ck_assert_ptr_null(config_ref(NULL));
	ck_assert_ptr_nonnull(cfg = config_default(err, sizeof(err)));
	ck_assert_ptr_eq(config_ref(cfg), cfg);
	ck_assert_int_eq(cfg->refs, 2);
	config_unref(cfg);
	ck_assert_int_eq(cfg->refs, 1);
	config_unref(cfg);	/* freed: ASan reports a leak otherwise */
}
END_TEST

START_TEST(test_errbuf_edge)
{
	char err[16];
	struct config *cfg;

	/* No error buffer at all, and a tiny one: truncated, terminated. */
	ck_assert_ptr_null(config_load_buffer_("t", "x: 1", 4, NULL, 0));
	ck_assert_ptr_null(config_load_buffer_("t", "x: 1", 4, err,
	    sizeof(err)));
	ck_assert_uint_eq(strlen(err), sizeof(err) - 1);
	ck_assert_ptr_nonnull(cfg = config_load_buffer_(NULL, NULL, 0, err,
	    sizeof(err)));
	ck_assert_str_eq(err, "");
	config_unref(cfg);
}
END_TEST

/* Every key appears once, in table order, as "key: value". */
START_TEST(test_dump_every_key)
{
	static const char *const keys[] = {
		"server.hostname", "server.listeners",
		"server.user", "server.group",
		"server.trusted_networks", "server.received_header",
		"server.smtputf8", "server.bare_newline", "tls.cert_file",
		"tls.key_file",
		"tls.min_version", "tls.ciphers", "tls.ciphersuites",
		"tls.groups", "tls.session_tickets", "auth.backend",
		"auth.password_file", "auth.allow_plaintext", "auth.cache_ttl",
		"auth.senders", "auth.check_from_header", "auth.max_failures",
		"auth.max_user_failures", "auth.failure_window",
		"auth.failure_delay", "limits.max_sessions",
		"limits.max_sessions_per_ip", "limits.command_line",
		"limits.text_line", "limits.max_recipients",
		"limits.message_size", "limits.max_junk_commands",
		"limits.memory_per_message", "timeouts.command",
		"timeouts.data", "timeouts.session", "timeouts.upstream",
		"queue.path", "queue.group_commit_max", "queue.startup_check",
		"queue.min_free", "queue.retention", "hold.default",
		"hold.max", "policy.internal_domains",
		"policy.partner_domains", "policy.builtin_providers",
		"policy.provider_domains", "policy.blocked_domains",
		"policy.confusable_tlds", "policy.sensitive_patterns",
		"policy.rules.typo_domain", "policy.rules.confusable_tld",
		"policy.rules.blocked_domains",
		"policy.rules.visible_recipients",
		"policy.rules.first_time_recipient",
		"policy.rules.external_recipient", "policy.rules.burst",
		"policy.rules.cc_carryover", "policy.rules.sensitive_content",
		"policy.rules.malformed_header", "upstream.host", "upstream.port", "upstream.tls",
		"upstream.verify", "upstream.ca_file", "upstream.auth_file",
		"upstream.helo_name", "upstream.max_connections",
		"upstream.messages_per_connection", "upstream.probe_interval",
		"retry.initial",
		"retry.max", "retry.give_up", "log.level", "log.target",
		"log.format", "metrics.enabled", "metrics.address",
		"metrics.port", "metrics.token_file",
		"notify.alerts", "notify.language", "notify.users_ja",
		"notify.users_en", "notify.timezone", "notify.from",
		"notify.admin", "web.enabled",
		"web.address",
		"web.port", "web.tls", "web.base_url", "web.max_connections",
		"web.timeout", "web.max_failures", "web.failure_window",
		"web.trusted_proxies",
		"control.socket", "control.mode", "control.group",
	};
	char err[ERRSZ], *text, *line, *nl;
	struct config *cfg;
	size_t i = 0;

	ck_assert_ptr_nonnull(cfg = config_default(err, sizeof(err)));
	text = dump_str(cfg);
	for (line = text; *line != '\0'; line = nl + 1, i++) {
		ck_assert_ptr_nonnull(nl = strchr(line, '\n'));
		*nl = '\0';
		ck_assert_uint_lt(i, NITEMS(keys));
		ck_assert_msg(strncmp(line, keys[i], strlen(keys[i])) == 0 &&
		    strncmp(line + strlen(keys[i]), ": ", 2) == 0,
		    "line %zu is \"%s\", want key %s", i, line, keys[i]);
	}
	ck_assert_uint_eq(i, NITEMS(keys));
	free(text);
	config_unref(cfg);
}
END_TEST

/*
 * A dump, turned back into YAML, loads into the same configuration: the
 * formatter and the parsers agree.
 */
START_TEST(test_dump_roundtrip)
{
	static const char yaml[] =
	    "server:\n  hostname: rt.example\n"
	    "  listeners: [{address: \"::1\", port: 0}, "
	    "{address: 10.0.0.1, port: 2526}]\n"
	    "  trusted_networks: [10.0.0.0/8, \"fd00::/8\", 192.0.2.7]\n"
	    "  smtputf8: no\n"
	    "limits:\n  message_size: 100000\n  memory_per_message: 8k\n"
	    "timeouts:\n  command: 61\n  session: 1d\n"
	    "hold:\n  default: 0\n  max: 12h\n"
	    "policy:\n  internal_domains: [Example.COM, \"例え.jp\"]\n"
	    "  blocked_domains: [\"*.invalid\", \"ex?mple.org\"]\n"
	    "  builtin_providers: off\n"
	    "  confusable_tlds: {ml: mil, xn--q9jyb4c: com}\n"
	    "  sensitive_patterns: [\"社外秘\", 'say \"hi\"', 'a\\b']\n"
	    "  rules:\n    burst: {mode: audit, window: 2h, users: [alice]}\n"
	    "    visible_recipients: {action: rewrite_to_bcc, min_orgs: 0}\n"
	    "    typo_domain: {domains: [example.com], hold: 10m}\n"
	    "upstream:\n  host: relay.example\n  tls: implicit\n  port: 465\n"
	    "  verify: false\n"
	    "retry:\n  initial: 30s\n  max: 2h\n  give_up: 3d\n"
	    "log:\n  level: debug\n  target: syslog\n";
	char err[ERRSZ], *d1, *d2, *p, *nl, *dot;
	char section[32] = "";
	bool rules = false;
	struct config *c1, *c2;
	struct mh_buf y;

	ck_assert_msg((c1 = load_str(yaml, strlen(yaml), err)) != NULL, "%s",
	    err);
	d1 = dump_str(c1);
	mh_buf_init(&y, 1 << 20);
	for (p = d1; *p != '\0'; p = nl + 1) {
		nl = strchr(p, '\n');
		*nl = '\0';
		dot = strchr(p, '.');
		if (strstr(p, "(none)") != NULL)
			continue;
		if (strncmp(section, p, (size_t)(dot - p)) != 0 ||
		    section[dot - p] != '\0') {
			ck_assert_uint_lt((size_t)(dot - p), sizeof(section));
			memcpy(section, p, (size_t)(dot - p));
			section[dot - p] = '\0';
			ck_assert_int_ne(mh_buf_printf(&y, "%s:\n", section),
			    -1);
		}
		/* "policy.rules.burst: {...}" is one rule of policy.rules. */
		if (strncmp(dot + 1, "rules.", 6) == 0) {
			if (!rules)
				ck_assert_int_ne(mh_buf_puts(&y, "  rules:\n"),
				    -1);
			rules = true;
			ck_assert_int_ne(mh_buf_printf(&y, "    %s\n",
			    dot + 7), -1);
			continue;
		}
		ck_assert_int_ne(mh_buf_printf(&y, "  %s\n", dot + 1), -1);
	}
	c2 = load_str(y.data, y.len, err);
	ck_assert_msg(c2 != NULL, "%s\n%s", err, y.data);
	d2 = dump_str(c2);
	free(d1);
	d1 = dump_str(c1);
	ck_assert_str_eq(d1, d2);
	free(d1);
	free(d2);
	mh_buf_clear(&y);
	config_unref(c1);
	config_unref(c2);
}
END_TEST

/*
 * Generated inputs: counts at and past the hard maxima, long values.
 */

START_TEST(test_listener_count)
{
	char err[ERRSZ];
	struct config *cfg;
	struct mh_buf y;
	int i;

	mh_buf_init(&y, 1 << 20);
	ck_assert_int_eq(mh_buf_puts(&y, "server:\n  listeners:\n"), 0);
	for (i = 0; i < 64; i++)
		ck_assert_int_ne(mh_buf_printf(&y, "    - {address: 127.0.0.1, "
		    "port: %d}\n", 3000 + i), -1);
	ck_assert_msg((cfg = load_str(y.data, y.len, err)) != NULL, "%s",
	    err);
	ck_assert_uint_eq(cfg->nlisteners, 64);
	config_unref(cfg);
	ck_assert_int_ne(mh_buf_printf(&y, "    - {address: 127.0.0.1, "
	    "port: 4000}\n"), -1);
	ck_assert_ptr_null(load_str(y.data, y.len, err));
	ck_assert_str_eq(err, "t.yaml:67:7: server.listeners[64]: too many "
	    "listeners (at most 64)");
	mh_buf_clear(&y);
}
END_TEST

START_TEST(test_network_count)
{
	char err[ERRSZ];
	struct config *cfg;
	struct mh_buf y;
	int i;

	mh_buf_init(&y, 1 << 20);
	ck_assert_int_eq(mh_buf_puts(&y, "server:\n  trusted_networks:\n"), 0);
	for (i = 0; i < 1024; i++)
		ck_assert_int_ne(mh_buf_printf(&y, "    - 10.%d.%d.0/24\n",
		    i / 256, i % 256), -1);
	ck_assert_msg((cfg = load_str(y.data, y.len, err)) != NULL, "%s",
	    err);
	ck_assert_uint_eq(cfg->ntrusted, 1024);
	config_unref(cfg);
	ck_assert_int_eq(mh_buf_puts(&y, "    - 11.0.0.0/8\n"), 0);
	ck_assert_ptr_null(load_str(y.data, y.len, err));
	ck_assert_str_eq(err, "t.yaml:1027:7: server.trusted_networks[1024]: "
	    "too many networks (at most 1024)");
	mh_buf_clear(&y);
}
END_TEST

START_TEST(test_long_values)
{
	char err[ERRSZ];
	struct config *cfg;
	struct mh_buf y;
	size_t i;

	/* A path of 4096 bytes is fine; 4097 is not. */
	mh_buf_init(&y, 1 << 20);
	ck_assert_int_eq(mh_buf_puts(&y, "queue:\n  path: /"), 0);
	for (i = 1; i < 4096; i++)
		ck_assert_int_eq(mh_buf_puts(&y, "a"), 0);
	ck_assert_msg((cfg = load_str(y.data, y.len, err)) != NULL, "%s",
	    err);
	ck_assert_uint_eq(strlen(cfg->queue_path), 4096);
	config_unref(cfg);
	ck_assert_int_eq(mh_buf_puts(&y, "a"), 0);
	ck_assert_ptr_null(load_str(y.data, y.len, err));
	ck_assert_str_eq(err, "t.yaml:2:9: queue.path: must be 1 to 4096 "
	    "bytes long");

	/* An unknown key of 1000 bytes is cut in the message. */
	mh_buf_reset(&y);
	ck_assert_int_eq(mh_buf_puts(&y, "limits:\n  "), 0);
	for (i = 0; i < 1000; i++)
		ck_assert_int_eq(mh_buf_puts(&y, "k"), 0);
	ck_assert_int_eq(mh_buf_puts(&y, ": 1\n"), 0);
	ck_assert_ptr_null(load_str(y.data, y.len, err));
	ck_assert_msg(strncmp(err, "t.yaml:2:3: limits.kkkk", 23) == 0 &&
	    strstr(err, "...: unknown key") != NULL && strlen(err) < 200,
	    "%s", err);

	/* Deep nesting at the top level stops at the first bracket. */
	mh_buf_reset(&y);
	for (i = 0; i < 100000; i++)
		ck_assert_int_eq(mh_buf_puts(&y, "["), 0);
	ck_assert_ptr_null(load_str(y.data, y.len, err));
	ck_assert_str_eq(err, "t.yaml:1:1: the top level must be a mapping of "
	    "sections, found a sequence");
	mh_buf_clear(&y);
}
END_TEST

/*
 * Pure parsers.
 */

struct duration_case {
	const char	*in;
	bool		 ok;
	int64_t		 want;
};

static const struct duration_case duration_cases[] = {
	{ .in = "0", .ok = true, .want = 0 },
	{ .in = "0s", .ok = true, .want = 0 },
	{ .in = "90s", .ok = true, .want = 90 },
	{ .in = "5m", .ok = true, .want = 300 },
	{ .in = "2h", .ok = true, .want = 7200 },
	{ .in = "1d", .ok = true, .want = 86400 },
	{ .in = "60", .ok = true, .want = 60 },
	{ .in = "007s", .ok = true, .want = 7 },
	{ .in = "9223372036854775807", .ok = true, .want = INT64_MAX },
	{ .in = "9223372036854775807s", .ok = true, .want = INT64_MAX },
	{ .in = "106751991167300d", .ok = true,
	  .want = 106751991167300LL * 86400 },
	{ .in = "9223372036854775808", .ok = false, .want = 0 },
	{ .in = "106751991167301d", .ok = false, .want = 0 },
	{ .in = "153722867280912931m", .ok = false, .want = 0 },
	{ .in = "", .ok = false, .want = 0 },
	{ .in = "s", .ok = false, .want = 0 },
	{ .in = "m", .ok = false, .want = 0 },
	{ .in = "-5m", .ok = false, .want = 0 },
	{ .in = "-0", .ok = false, .want = 0 },
	{ .in = "+5", .ok = false, .want = 0 },
	{ .in = " 5", .ok = false, .want = 0 },
	{ .in = "5 ", .ok = false, .want = 0 },
	{ .in = "5 s", .ok = false, .want = 0 },
	{ .in = "5x", .ok = false, .want = 0 },
	{ .in = "5M", .ok = false, .want = 0 },
	{ .in = "5S", .ok = false, .want = 0 },
	{ .in = "1h30m", .ok = false, .want = 0 },
	{ .in = "5ss", .ok = false, .want = 0 },
	{ .in = "1.5h", .ok = false, .want = 0 },
	{ .in = "1e3", .ok = false, .want = 0 },
	{ .in = "0x10", .ok = false, .want = 0 },
	{ .in = "5w", .ok = false, .want = 0 },
};

START_TEST(test_duration_table)
{
	const struct duration_case *c = &duration_cases[_i];
	int64_t v = -42;

	if (c->ok) {
		ck_assert_msg(config_parse_duration(c->in, &v) == 0, "\"%s\"",
		    c->in);
		ck_assert_msg(v == c->want, "\"%s\": got %lld", c->in,
		    (long long)v);
	} else {
		ck_assert_msg(config_parse_duration(c->in, &v) == -1,
		    "\"%s\" accepted", c->in);
		ck_assert_int_eq(v, -42);
	}
}
END_TEST

struct size_case {
	const char	*in;
	bool		 ok;
	unsigned long long want;
};

static const struct size_case size_cases[] = {
	{ .in = "0", .ok = true, .want = 0 },
	{ .in = "512", .ok = true, .want = 512 },
	{ .in = "10k", .ok = true, .want = 10240 },
	{ .in = "10K", .ok = true, .want = 10240 },
	{ .in = "25M", .ok = true, .want = 25ULL << 20 },
	{ .in = "25m", .ok = true, .want = 25ULL << 20 },
	{ .in = "1G", .ok = true, .want = 1ULL << 30 },
	{ .in = "1g", .ok = true, .want = 1ULL << 30 },
	{ .in = "0k", .ok = true, .want = 0 },
	{ .in = "9223372036854775807", .ok = true,
	  .want = 9223372036854775807ULL },
	{ .in = "8589934591G", .ok = true, .want = 8589934591ULL << 30 },
	{ .in = "9223372036854775808", .ok = false, .want = 0 },
	{ .in = "8589934592G", .ok = false, .want = 0 },
	{ .in = "9007199254740992k", .ok = false, .want = 0 },
	{ .in = "", .ok = false, .want = 0 },
	{ .in = "k", .ok = false, .want = 0 },
	{ .in = "-1", .ok = false, .want = 0 },
	{ .in = "-1k", .ok = false, .want = 0 },
	{ .in = "+1", .ok = false, .want = 0 },
	{ .in = "1T", .ok = false, .want = 0 },
	{ .in = "1kb", .ok = false, .want = 0 },
	{ .in = "1KiB", .ok = false, .want = 0 },
	{ .in = "1.5M", .ok = false, .want = 0 },
	{ .in = " 1", .ok = false, .want = 0 },
	{ .in = "1 ", .ok = false, .want = 0 },
	{ .in = "1 k", .ok = false, .want = 0 },
	{ .in = "1kk", .ok = false, .want = 0 },
	{ .in = "0x10", .ok = false, .want = 0 },
};

START_TEST(test_size_table)
{
	const struct size_case *c = &size_cases[_i];
	size_t v = 42;

	if (c->ok) {
		ck_assert_msg(config_parse_size(c->in, &v) == 0, "\"%s\"",
		    c->in);
		ck_assert_msg(v == c->want, "\"%s\": got %zu", c->in, v);
	} else {
		ck_assert_msg(config_parse_size(c->in, &v) == -1,
		    "\"%s\" accepted", c->in);
		ck_assert_uint_eq(v, 42);
	}
}
END_TEST

START_TEST(test_parsers_null)
{
	struct config_cidr c;
	int64_t d;
	size_t s;

	ck_assert_int_eq(config_parse_duration(NULL, &d), -1);
	ck_assert_int_eq(config_parse_size(NULL, &s), -1);
	ck_assert_int_eq(config_parse_cidr(NULL, &c), -1);
	ck_assert_int_eq(config_parse_cidr("10.0.0.0/8", NULL), -1);
	ck_assert(!config_cidr_match(NULL, 0, NULL));
}
END_TEST

struct cidr_case {
	const char	*in;
	bool		 ok;
	int		 family;
	const char	*want_addr;	/* inet_ntop of the network */
	int		 want_prefix;
};

static const struct cidr_case cidr_cases[] = {
	{ .in = "10.0.0.0/8", .ok = true, .family = AF_INET,
	  .want_addr = "10.0.0.0", .want_prefix = 8 },
	{ .in = "10.1.2.3", .ok = true, .family = AF_INET,
	  .want_addr = "10.1.2.3", .want_prefix = 32 },
	{ .in = "10.1.2.3/32", .ok = true, .family = AF_INET,
	  .want_addr = "10.1.2.3", .want_prefix = 32 },
	{ .in = "0.0.0.0/0", .ok = true, .family = AF_INET,
	  .want_addr = "0.0.0.0", .want_prefix = 0 },
	{ .in = "10.128.0.0/9", .ok = true, .family = AF_INET,
	  .want_addr = "10.128.0.0", .want_prefix = 9 },
	{ .in = "10.0.0.0/08", .ok = true, .family = AF_INET,
	  .want_addr = "10.0.0.0", .want_prefix = 8 },
	{ .in = "::1", .ok = true, .family = AF_INET6,
	  .want_addr = "::1", .want_prefix = 128 },
	{ .in = "::/0", .ok = true, .family = AF_INET6,
	  .want_addr = "::", .want_prefix = 0 },
	{ .in = "2001:db8::/32", .ok = true, .family = AF_INET6,
	  .want_addr = "2001:db8::", .want_prefix = 32 },
	{ .in = "2001:DB8:0:0::/64", .ok = true, .family = AF_INET6,
	  .want_addr = "2001:db8::", .want_prefix = 64 },
	{ .in = "fe80::/10", .ok = true, .family = AF_INET6,
	  .want_addr = "fe80::", .want_prefix = 10 },
	{ .in = "::ffff:10.0.0.0/104", .ok = true, .family = AF_INET,
	  .want_addr = "10.0.0.0", .want_prefix = 8 },
	{ .in = "::ffff:1.2.3.4", .ok = true, .family = AF_INET,
	  .want_addr = "1.2.3.4", .want_prefix = 32 },
	{ .in = "::ffff:0:0/96", .ok = true, .family = AF_INET,
	  .want_addr = "0.0.0.0", .want_prefix = 0 },
	{ .in = "::fffe:0:0/95", .ok = true, .family = AF_INET6,
	  .want_addr = "::fffe:0:0", .want_prefix = 95 },
	{ .in = "10.0.0.1/8" },
	{ .in = "10.192.0.0/9" },
	{ .in = "10.0.0.0/33" },
	{ .in = "10.0.0.0/" },
	{ .in = "/8" },
	{ .in = "" },
	{ .in = "10.0.0.0/+8" },
	{ .in = "10.0.0.0/-0" },
	{ .in = "10.0.0.0/ 8" },
	{ .in = "10.0.0.0/8 " },
	{ .in = "10.0.0.0/8/8" },
	{ .in = "10.0.0.0/8x" },
	{ .in = "::1/129" },
	{ .in = "2001:db8::1/64" },
	{ .in = "fe80::1%lo" },
	{ .in = "10.0.0" },
	{ .in = "1.2.3.4.5" },
	{ .in = "256.0.0.0" },
	{ .in = "010.0.0.0/8" },
	{ .in = "localhost" },
	{ .in = "[::1]" },
	{ .in = "::ffff:10.0.0.1/104" },
	{ .in = "0000:0000:0000:0000:0000:0000:0000:0000:0000/0" },
};

START_TEST(test_cidr_table)
{
	const struct cidr_case *c = &cidr_cases[_i];
	char net[INET6_ADDRSTRLEN];
	struct config_cidr n;

	if (!c->ok) {
		ck_assert_msg(config_parse_cidr(c->in, &n) == -1,
		    "\"%s\" accepted", c->in);
		return;
	}
	ck_assert_msg(config_parse_cidr(c->in, &n) == 0, "\"%s\"", c->in);
	ck_assert_int_eq(n.family, c->family);
	ck_assert_int_eq(n.prefix, c->want_prefix);
	ck_assert_ptr_nonnull(inet_ntop(n.family, n.addr, net, sizeof(net)));
	ck_assert_str_eq(net, c->want_addr);
}
END_TEST

struct match_case {
	const char	*nets[4];
	const char	*addr;		/* ':' in it: an AF_INET6 sockaddr */
	bool		 want;
};

static const struct match_case match_cases[] = {
	{ .nets = { "127.0.0.0/8" }, .addr = "127.0.0.1", .want = true },
	{ .nets = { "127.0.0.0/8" }, .addr = "127.255.255.255", .want = true },
	{ .nets = { "127.0.0.0/8" }, .addr = "128.0.0.1", .want = false },
	{ .nets = { "127.0.0.0/8" }, .addr = "126.255.255.255", .want = false },
	{ .nets = { "::1/128" }, .addr = "::1", .want = true },
	{ .nets = { "::1/128" }, .addr = "::2", .want = false },
	{ .nets = { "127.0.0.0/8", "::1/128" },
	  .addr = "::ffff:127.0.0.1", .want = true },
	{ .nets = { "127.0.0.0/8" }, .addr = "::ffff:10.0.0.1", .want = false },
	{ .nets = { "::1/128" }, .addr = "127.0.0.1", .want = false },
	{ .nets = { "::1/128" }, .addr = "::ffff:127.0.0.1", .want = false },
	/* compatible, not mapped */
	{ .nets = { "127.0.0.1" }, .addr = "::127.0.0.1", .want = false },
	{ .nets = { "10.0.0.0/15" }, .addr = "10.1.255.255", .want = true },
	{ .nets = { "10.0.0.0/15" }, .addr = "10.2.0.0", .want = false },
	{ .nets = { "0.0.0.0/0" }, .addr = "192.168.1.1", .want = true },
	{ .nets = { "0.0.0.0/0" }, .addr = "::ffff:192.168.1.1", .want = true },
	{ .nets = { "0.0.0.0/0" }, .addr = "2001:db8::1", .want = false },
	{ .nets = { "::ffff:192.168.0.0/112" },
	  .addr = "::ffff:192.168.1.1", .want = true },
	{ .nets = { "::ffff:192.168.0.0/112" },
	  .addr = "192.168.1.1", .want = true },
	{ .nets = { "::ffff:192.168.0.0/112" },
	  .addr = "192.169.0.1", .want = false },
	{ .nets = { "::fffe:0:0/95" }, .addr = "1.2.3.4", .want = true },
	{ .nets = { "2001:db8::/32" }, .addr = "2001:db8::5", .want = true },
	{ .nets = { "2001:db8::/32" }, .addr = "2001:db9::", .want = false },
	{ .nets = { "2001:db8::/33" },
	  .addr = "2001:db8:8000::", .want = false },
	{ .nets = { "fe80::/10" }, .addr = "febf::1", .want = true },
	{ .nets = { "fe80::/10" }, .addr = "fec0::1", .want = false },
	{ .nets = { "::/0" }, .addr = "2001:db8::5", .want = true },
	/* seen as ::ffff:1.2.3.4 */
	{ .nets = { "::/0" }, .addr = "1.2.3.4", .want = true },
	{ .nets = { "10.0.0.0/8", "192.168.0.0/16", "fd00::/8" },
	  .addr = "fd12::1", .want = true },
	{ .nets = { "10.0.0.0/8", "192.168.0.0/16", "fd00::/8" },
	  .addr = "192.168.9.9", .want = true },
	{ .nets = { "10.0.0.0/8", "192.168.0.0/16", "fd00::/8" },
	  .addr = "172.16.0.1", .want = false },
	{ .nets = { NULL }, .addr = "127.0.0.1", .want = false },
};

START_TEST(test_match_table)
{
	const struct match_case *c = &match_cases[_i];
	struct config_cidr nets[4];
	struct sockaddr_storage ss;
	size_t n;

	for (n = 0; n < NITEMS(c->nets) && c->nets[n] != NULL; n++)
		ck_assert_msg(config_parse_cidr(c->nets[n], &nets[n]) == 0,
		    "%s", c->nets[n]);
	memset(&ss, 0, sizeof(ss));
	if (strchr(c->addr, ':') != NULL) {
		struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&ss;

		sin6->sin6_family = AF_INET6;
		sin6->sin6_port = htons(25);
		ck_assert_int_eq(inet_pton(AF_INET6, c->addr,
		    &sin6->sin6_addr), 1);
	} else {
		struct sockaddr_in *sin = (struct sockaddr_in *)&ss;

		sin->sin_family = AF_INET;
		sin->sin_port = htons(25);
		ck_assert_int_eq(inet_pton(AF_INET, c->addr, &sin->sin_addr),
		    1);
	}
	ck_assert_msg(config_cidr_match(nets, n, (struct sockaddr *)&ss) ==
	    c->want, "%s in %s...: want %d", c->addr,
	    n ? c->nets[0] : "(none)", c->want);
}
END_TEST

START_TEST(test_match_other_family)
{
	struct config_cidr all[2];
	struct sockaddr_un sun;

	ck_assert_int_eq(config_parse_cidr("0.0.0.0/0", &all[0]), 0);
	ck_assert_int_eq(config_parse_cidr("::/0", &all[1]), 0);
	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	ck_assert(!config_cidr_match(all, 2, (struct sockaddr *)&sun));
	ck_assert(!config_cidr_match(all, 2, NULL));
}
END_TEST

/*
 * upstream.auth_file: a real file from mkstemp, made per test.
 */

static char auth_path[64];

static void
auth_setup(void)
{
	int fd;

	mh_strlcpy(auth_path, "/tmp/check_config_authXXXXXX",
	    sizeof(auth_path));
	fd = mkstemp(auth_path);
	ck_assert_int_ne(fd, -1);
	close(fd);
}

static void
auth_teardown(void)
{
	unlink(auth_path);
}

static void
auth_write(const char *content, size_t len, mode_t mode)
{
	FILE *f;

	ck_assert_ptr_nonnull(f = fopen(auth_path, "w"));
	ck_assert_uint_eq(fwrite(content, 1, len, f), len);
	ck_assert_int_eq(fclose(f), 0);
	ck_assert_int_eq(chmod(auth_path, mode), 0);
}

struct auth_case {
	const char	*label;
	const char	*content;	/* every password holds "s3cr3t" */
	size_t		 len;		/* 0: strlen(content) */
	mode_t		 mode;
	const char	*extra;		/* more upstream: keys */
	bool		 want_ok;
	const char	*want_user;
	const char	*want_pass;
	const char	*want_prefix;	/* "t.yaml:L:C: key: " */
	const char	*want_err;	/* substring after the prefix */
};

#define AUTH_AT	"t.yaml:2:14: upstream.auth_file: "

static const struct auth_case auth_cases[] = {
	{ .label = "plain", .content = "alice:s3cr3t\n", .mode = 0600,
	  .want_ok = true, .want_user = "alice", .want_pass = "s3cr3t" },
	{ .label = "crlf", .content = "alice:s3cr3t\r\n", .mode = 0600,
	  .want_ok = true, .want_user = "alice", .want_pass = "s3cr3t" },
	{ .label = "no newline", .content = "alice:s3cr3t", .mode = 0400,
	  .want_ok = true, .want_user = "alice", .want_pass = "s3cr3t" },
	{ .label = "colons in password", .content = "a@b.example:s3:cr3t:\n",
	  .mode = 0600, .want_ok = true, .want_user = "a@b.example",
	  .want_pass = "s3:cr3t:" },
	{ .label = "spaces kept", .content = " bob : s3cr3t \n", .mode = 0600,
	  .want_ok = true, .want_user = " bob ", .want_pass = " s3cr3t " },
	{ .label = "group-readable is allowed", .content = "alice:s3cr3t\n",
	  .mode = 0640, .want_ok = true, .want_user = "alice",
	  .want_pass = "s3cr3t" },
	{ .label = "world-readable", .content = "alice:s3cr3t\n",
	  .mode = 0644, .want_prefix = AUTH_AT,
	  .want_err = " is world-readable (mode 0644); refusing to use it" },
	{ .label = "world-writable", .content = "alice:s3cr3t\n",
	  .mode = 0602, .want_prefix = AUTH_AT,
	  .want_err = " is world-writable (mode 0602)" },
	{ .label = "empty user", .content = ":s3cr3t\n", .mode = 0600,
	  .want_prefix = AUTH_AT, .want_err = " has an empty user name" },
	{ .label = "empty password", .content = "alice:\n", .mode = 0600,
	  .want_prefix = AUTH_AT, .want_err = " has an empty password" },
	{ .label = "no colon", .content = "alices3cr3t\n", .mode = 0600,
	  .want_prefix = AUTH_AT, .want_err = " must hold one line "
	  "user:password (no ':' found)" },
	{ .label = "empty file", .content = "", .mode = 0600,
	  .want_prefix = AUTH_AT, .want_err = "(no ':' found)" },
	{ .label = "only a newline", .content = "\n", .mode = 0600,
	  .want_prefix = AUTH_AT, .want_err = "(no ':' found)" },
	{ .label = "two lines", .content = "alice:s3cr3t\nbob:s3cr3t\n",
	  .mode = 0600, .want_prefix = AUTH_AT,
	  .want_err = " must hold exactly one line user:password" },
	{ .label = "blank second line", .content = "alice:s3cr3t\n\n",
	  .mode = 0600, .want_prefix = AUTH_AT,
	  .want_err = " must hold exactly one line" },
	{ .label = "bare CR", .content = "alice:s3cr3t\r", .mode = 0600,
	  .want_prefix = AUTH_AT, .want_err = " must hold exactly one line" },
	{ .label = "NUL", .content = "alice:s3\0cr3t\n", .len = 14,
	  .mode = 0600, .want_prefix = AUTH_AT,
	  .want_err = " must hold exactly one line" },
	{ .label = "control in user", .content = "al\x01ice:s3cr3t\n",
	  .mode = 0600, .want_prefix = AUTH_AT,
	  .want_err = ": the user name contains control characters" },
	{ .label = "tls none, remote host", .content = "alice:s3cr3t\n",
	  .mode = 0600, .extra = "  tls: none\n  host: 10.0.0.1\n",
	  .want_prefix = "t.yaml:3:8: upstream.tls: ",
	  .want_err = "refusing to send the upstream password in clear text" },
	{ .label = "tls none, tls first", .content = "alice:s3cr3t\n",
	  .mode = 0600, .extra = "  host: mx.example\n",
	  .want_prefix = "t.yaml:3:14: upstream.auth_file: ",
	  .want_err = "refusing to send the upstream password in clear text" },
	{ .label = "tls none, localhost", .content = "alice:s3cr3t\n",
	  .mode = 0600, .extra = "  tls: none\n  host: localhost\n",
	  .want_ok = true, .want_user = "alice", .want_pass = "s3cr3t" },
	{ .label = "tls none, 127.0.0.2", .content = "alice:s3cr3t\n",
	  .mode = 0600, .extra = "  tls: none\n  host: 127.0.0.2\n",
	  .want_ok = true, .want_user = "alice", .want_pass = "s3cr3t" },
	{ .label = "tls none, ::1", .content = "alice:s3cr3t\n",
	  .mode = 0600, .extra = "  tls: none\n  host: \"::1\"\n",
	  .want_ok = true, .want_user = "alice", .want_pass = "s3cr3t" },
	{ .label = "implicit tls, remote", .content = "alice:s3cr3t\n",
	  .mode = 0600, .extra = "  tls: implicit\n  host: mx.example\n",
	  .want_ok = true, .want_user = "alice", .want_pass = "s3cr3t" },
};

START_TEST(test_auth_table)
{
	const struct auth_case *c = &auth_cases[_i];
	char yaml[512], err[ERRSZ], *text;
	struct config *cfg;

	auth_write(c->content, c->len ? c->len : strlen(c->content), c->mode);
	if (strcmp(c->label, "tls none, tls first") == 0)
		ck_assert_int_ne(mh_snprintf(yaml, sizeof(yaml), "upstream:\n"
		    "  tls: none\n  auth_file: %s\n%s", auth_path,
		    c->extra), -1);
	else
		ck_assert_int_ne(mh_snprintf(yaml, sizeof(yaml), "upstream:\n"
		    "  auth_file: %s\n%s", auth_path,
		    c->extra ? c->extra : ""), -1);
	cfg = load_str(yaml, strlen(yaml), err);
	if (!c->want_ok) {
		ck_assert_msg(cfg == NULL, "%s: loaded", c->label);
		ck_assert_msg(strncmp(err, c->want_prefix,
		    strlen(c->want_prefix)) == 0, "%s: got \"%s\", want "
		    "prefix \"%s\"", c->label, err, c->want_prefix);
		ck_assert_msg(strstr(err, c->want_err) != NULL, "%s: got "
		    "\"%s\", want \"%s\"", c->label, err, c->want_err);
		/* The file's random name (mkstemp) may hold "s3" by
		 * chance: look at the message without it. */
		for (char *p = strstr(err, auth_path); p != NULL;
		    p = strstr(p, auth_path))
			memset(p, '_', strlen(auth_path));
		ck_assert_msg(strstr(err, "s3") == NULL &&
		    strstr(err, "cr3t") == NULL, "%s: the secret leaked: %s",
		    c->label, err);
		return;
	}
	ck_assert_msg(cfg != NULL, "%s: %s", c->label, err);
	ck_assert_str_eq(cfg->up_auth_file, auth_path);
	ck_assert_str_eq(cfg->up_user, c->want_user);
	ck_assert_str_eq(cfg->up_password, c->want_pass);
	text = dump_str(cfg);
	ck_assert_msg(strstr(text, "s3cr3t") == NULL && strstr(text,
	    c->want_pass) == NULL, "%s: password in the dump:\n%s", c->label,
	    text);
	ck_assert_msg(strstr(text, "password ********") != NULL, "%s",
	    text);
	free(text);
	config_unref(cfg);
}
END_TEST

START_TEST(test_auth_dump_line)
{
	char yaml[256], err[ERRSZ], want[256], *text;
	struct config *cfg;

	auth_write("alice:s3cr3t\n", 13, 0600);
	ck_assert_int_ne(mh_snprintf(yaml, sizeof(yaml), "upstream:\n"
	    "  auth_file: %s\n", auth_path), -1);
	ck_assert_msg((cfg = load_str(yaml, strlen(yaml), err)) != NULL, "%s",
	    err);
	text = dump_str(cfg);
	ck_assert_int_ne(mh_snprintf(want, sizeof(want), "upstream.auth_file: "
	    "%s (user alice, password ********)", auth_path), -1);
	ck_assert_msg(has_line(text, want), "%s", text);
	free(text);
	config_unref(cfg);
}
END_TEST

START_TEST(test_auth_too_large)
{
	char yaml[256], err[ERRSZ], big[5000];

	memset(big, 'x', sizeof(big));
	memcpy(big, "alice:", 6);
	auth_write(big, sizeof(big), 0600);
	ck_assert_int_ne(mh_snprintf(yaml, sizeof(yaml), "upstream:\n"
	    "  auth_file: %s\n", auth_path), -1);
	ck_assert_ptr_null(load_str(yaml, strlen(yaml), err));
	ck_assert_msg(strstr(err, ": too large (more than 4096 bytes)") !=
	    NULL, "%s", err);
}
END_TEST

/*
 * The policy: defaults, the compiled policy, counts, enum names.
 */

/* With no policy: section the config holds policy_config_init()'s
 * values, in lists of its own. */
START_TEST(test_policy_defaults)
{
	struct policy_config want;
	const struct policy_config *pc;
	char err[ERRSZ];
	struct config *cfg;
	size_t i;

	policy_config_init(&want);
	ck_assert_ptr_nonnull(cfg = config_default(err, sizeof(err)));
	pc = &cfg->policy;
	ck_assert_ptr_nonnull(cfg->policy_compiled);
	ck_assert_int_eq(cfg->hold_max, 86400);
	ck_assert_int_eq(pc->hold_default, cfg->hold_default);
	ck_assert_int_eq(pc->hold_default, want.hold_default);
	ck_assert_int_eq(pc->hold_max, cfg->hold_max);
	ck_assert_int_eq(pc->hold_max, want.hold_max);
	ck_assert_uint_eq(pc->ninternal, want.ninternal);
	ck_assert_uint_eq(pc->npartner, want.npartner);
	ck_assert_uint_eq(pc->nprovider, want.nprovider);
	ck_assert_uint_eq(pc->nblocked, want.nblocked);
	ck_assert(pc->builtin_providers == want.builtin_providers);
	for (i = 0; i < POLICY_R_COUNT; i++) {
		const struct policy_rule_config *r = &pc->rules[i];

		ck_assert_msg(r->enabled == want.rules[i].enabled &&
		    r->mode == want.rules[i].mode &&
		    r->action == want.rules[i].action &&
		    r->hold == want.rules[i].hold && r->nusers == 0 &&
		    r->ndomains == 0, "rule %s differs",
		    policy_rule_to_str((enum policy_rule)i));
	}
	ck_assert_uint_eq(pc->typo_min_label, want.typo_min_label);
	ck_assert_uint_eq(pc->typo_weak_min_label, want.typo_weak_min_label);
	ck_assert_uint_eq(pc->typo_two_edit_min_label,
	    want.typo_two_edit_min_label);
	ck_assert_uint_eq(pc->visible_max_external, want.visible_max_external);
	ck_assert_uint_eq(pc->visible_min_orgs, want.visible_min_orgs);
	ck_assert(pc->visible_reply_exempt == want.visible_reply_exempt);
	ck_assert(pc->first_time_internal == want.first_time_internal);
	ck_assert_uint_eq(pc->first_time_detail_max,
	    want.first_time_detail_max);
	ck_assert_int_eq(pc->burst_window, want.burst_window);
	ck_assert_uint_eq(pc->burst_max_messages, want.burst_max_messages);
	ck_assert_uint_eq(pc->burst_max_recipients,
	    want.burst_max_recipients);
	ck_assert_uint_eq(pc->burst_max_first_time,
	    want.burst_max_first_time);
	ck_assert_uint_eq(pc->carryover_min_run, want.carryover_min_run);
	ck_assert_int_eq(pc->carryover_window, want.carryover_window);
	ck_assert(pc->sensitive_external_only == want.sensitive_external_only);
	/* The built-in lists, copied (the config frees what it holds). */
	ck_assert_uint_eq(pc->nconfusable, want.nconfusable);
	ck_assert_ptr_ne(pc->confusable_tlds, want.confusable_tlds);
	for (i = 0; i < pc->nconfusable; i++) {
		ck_assert_str_eq(pc->confusable_tlds[i].from,
		    want.confusable_tlds[i].from);
		ck_assert_str_eq(pc->confusable_tlds[i].to,
		    want.confusable_tlds[i].to);
	}
	ck_assert_uint_eq(pc->nsensitive, want.nsensitive);
	ck_assert_ptr_ne(pc->sensitive_patterns, want.sensitive_patterns);
	for (i = 0; i < pc->nsensitive; i++)
		ck_assert_str_eq(pc->sensitive_patterns[i],
		    want.sensitive_patterns[i]);
	config_unref(cfg);
}
END_TEST

/* The action of a policy verdict for one recipient. */
static enum policy_action
verdict_action(const struct config *cfg, const char *rcpt)
{
	const char *rcpts[1] = { rcpt };
	struct policy_envelope env = {
		.auth_user = "alice@example.com",
		.mail_from = "alice@example.com",
		.rcpts = rcpts,
		.nrcpts = 1,
	};
	struct policy_input in = { .env = &env, .now = 1700000000 };
	struct policy_verdict *v;
	enum policy_action a;

	ck_assert_ptr_nonnull(cfg->policy_compiled);
	v = policy_evaluate(cfg->policy_compiled, &in);
	ck_assert_ptr_nonnull(v);
	a = v->action;
	policy_verdict_free(v);
	return a;
}

/* A full policy loads, lands in struct policy_config, and compiles to a
 * policy that acts on it. */
START_TEST(test_policy_full)
{
	static const char yaml[] =
	    "hold:\n  default: 10m\n  max: 2d\n"
	    "policy:\n"
	    "  internal_domains: [Example.com]\n"
	    "  partner_domains: [partner.example]\n"
	    "  builtin_providers: false\n"
	    "  provider_domains: [mail.example]\n"
	    "  blocked_domains: [\"*.example.invalid\"]\n"
	    "  confusable_tlds: {ml: mil, co: com, cm: com, om: com, ne: net}\n"
	    "  sensitive_patterns: [\"社外秘\", \"機密\", confidential, "
	    "\"個人情報\"]\n"
	    "  rules:\n"
	    "    typo_domain: {mode: audit, action: hold_longer, hold: 30m, "
	    "min_label: 5, weak_min_label: 7, two_edit_min_label: 0}\n"
	    "    visible_recipients: {action: rewrite_to_bcc, max_external: 3, "
	    "min_orgs: 0, reply_exempt: false}\n"
	    "    first_time_recipient: {internal: true, detail_max: 9}\n"
	    "    external_recipient: {enabled: true, users: [alice], "
	    "domains: [example.com, sub.example.com]}\n"
	    "    burst: {window: 2h, max_messages: 10, max_recipients: 20, "
	    "max_first_time: 30}\n"
	    "    cc_carryover: {min_run: 4, window: 2d}\n"
	    "    sensitive_content: {external_only: false, hold: 2d}\n"
	    "    malformed_header: {enabled: false}\n";
	const struct policy_config *pc;
	char err[ERRSZ];
	struct config *cfg;

	cfg = load_str(yaml, strlen(yaml), err);
	ck_assert_msg(cfg != NULL, "%s", err);
	ck_assert_ptr_nonnull(cfg->policy_compiled);
	pc = &cfg->policy;
	ck_assert_int_eq(cfg->hold_max, 2 * 86400);
	ck_assert_int_eq(pc->hold_default, 600);
	ck_assert_int_eq(pc->hold_max, 2 * 86400);
	ck_assert_uint_eq(pc->ninternal, 1);
	ck_assert_str_eq(pc->internal_domains[0], "example.com");
	ck_assert_uint_eq(pc->npartner, 1);
	ck_assert(!pc->builtin_providers);
	ck_assert_uint_eq(pc->nprovider, 1);
	ck_assert_uint_eq(pc->nblocked, 1);
	ck_assert_str_eq(pc->blocked_domains[0], "*.example.invalid");
	ck_assert_uint_eq(pc->nconfusable, 5);
	ck_assert_str_eq(pc->confusable_tlds[4].from, "ne");
	ck_assert_str_eq(pc->confusable_tlds[4].to, "net");
	ck_assert_uint_eq(pc->nsensitive, 4);
	ck_assert_str_eq(pc->sensitive_patterns[3], "個人情報");
	ck_assert_int_eq(pc->rules[POLICY_R_TYPO_DOMAIN].mode, POLICY_M_AUDIT);
	ck_assert_int_eq(pc->rules[POLICY_R_TYPO_DOMAIN].action,
	    POLICY_A_HOLD_LONGER);
	ck_assert_int_eq(pc->rules[POLICY_R_TYPO_DOMAIN].hold, 1800);
	ck_assert_uint_eq(pc->typo_min_label, 5);
	ck_assert_uint_eq(pc->typo_weak_min_label, 7);
	ck_assert_uint_eq(pc->typo_two_edit_min_label, 0);
	ck_assert_int_eq(pc->rules[POLICY_R_VISIBLE_RECIPIENTS].action,
	    POLICY_A_REWRITE_BCC);
	ck_assert_uint_eq(pc->visible_max_external, 3);
	ck_assert_uint_eq(pc->visible_min_orgs, 0);
	ck_assert(!pc->visible_reply_exempt);
	ck_assert(pc->first_time_internal);
	ck_assert_uint_eq(pc->first_time_detail_max, 9);
	ck_assert(pc->rules[POLICY_R_EXTERNAL].enabled);
	ck_assert_uint_eq(pc->rules[POLICY_R_EXTERNAL].nusers, 1);
	ck_assert_str_eq(pc->rules[POLICY_R_EXTERNAL].users[0], "alice");
	ck_assert_uint_eq(pc->rules[POLICY_R_EXTERNAL].ndomains, 2);
	ck_assert_str_eq(pc->rules[POLICY_R_EXTERNAL].domains[1],
	    "sub.example.com");
	ck_assert_int_eq(pc->burst_window, 7200);
	ck_assert_uint_eq(pc->burst_max_messages, 10);
	ck_assert_uint_eq(pc->burst_max_recipients, 20);
	ck_assert_uint_eq(pc->burst_max_first_time, 30);
	ck_assert_uint_eq(pc->carryover_min_run, 4);
	ck_assert_int_eq(pc->carryover_window, 2 * 86400);
	ck_assert(!pc->sensitive_external_only);
	ck_assert_int_eq(pc->rules[POLICY_R_SENSITIVE].hold, 2 * 86400);
	ck_assert(!pc->rules[POLICY_R_MALFORMED].enabled);

	/* The compiled policy uses it: a blocked domain is refused. */
	ck_assert_int_eq(verdict_action(cfg, "bob@x.example.invalid"),
	    POLICY_A_REJECT);
	config_unref(cfg);
}
END_TEST

/* The same recipient passes when blocked_domains is in audit mode: the
 * rule settings reach the compiled policy. */
START_TEST(test_policy_audit)
{
	static const char yaml[] =
	    "policy:\n  internal_domains: [example.com]\n"
	    "  blocked_domains: [\"*.example.invalid\"]\n"
	    "  rules:\n    blocked_domains: {mode: audit}\n"
	    "    first_time_recipient: {enabled: false}\n";
	char err[ERRSZ];
	struct config *cfg;

	cfg = load_str(yaml, strlen(yaml), err);
	ck_assert_msg(cfg != NULL, "%s", err);
	ck_assert_int_ne(verdict_action(cfg, "bob@x.example.invalid"),
	    POLICY_A_REJECT);
	config_unref(cfg);
}
END_TEST

/* Every action and mode name the policy knows loads, and maps back. */
START_TEST(test_policy_enum_names)
{
	char yaml[256], err[ERRSZ];
	struct config *cfg;
	int a, m;

	for (a = 0; a <= POLICY_A_REJECT; a++)
		for (m = 0; m <= POLICY_M_AUDIT; m++) {
			ck_assert_int_ne(mh_snprintf(yaml, sizeof(yaml),
			    "policy: {rules: {visible_recipients: {action: %s, "
			    "mode: %s}}}\n",
			    policy_action_to_str((enum policy_action)a),
			    policy_mode_to_str((enum policy_mode)m)), -1);
			cfg = load_str(yaml, strlen(yaml), err);
			ck_assert_msg(cfg != NULL, "%s: %s", yaml, err);
			ck_assert_int_eq(cfg->policy.rules[
			    POLICY_R_VISIBLE_RECIPIENTS].action, a);
			ck_assert_int_eq(cfg->policy.rules[
			    POLICY_R_VISIBLE_RECIPIENTS].mode, m);
			config_unref(cfg);
		}
}
END_TEST

/* A list of n generated items under key: loads, or fails at item max. */
static struct config *
load_list(const char *key, size_t n, char *err)
{
	struct mh_buf y;
	struct config *cfg;
	size_t i;

	mh_buf_init(&y, 1 << 24);
	ck_assert_int_ne(mh_buf_printf(&y, "policy:\n  %s:\n", key), -1);
	for (i = 0; i < n; i++) {
		ck_assert_int_ne(mh_buf_printf(&y, "    - d%zu.example\n", i),
		    -1);
	}
	cfg = load_str(y.data, y.len, err);
	mh_buf_clear(&y);
	return cfg;
}

START_TEST(test_policy_counts)
{
	char err[ERRSZ], yaml[600];
	struct config *cfg;

	ck_assert_msg((cfg = load_list("internal_domains", 10000, err)) !=
	    NULL, "%s", err);
	ck_assert_uint_eq(cfg->policy.ninternal, 10000);
	ck_assert_ptr_nonnull(cfg->policy_compiled);
	config_unref(cfg);
	ck_assert_ptr_null(load_list("blocked_domains", 10001, err));
	ck_assert_msg(strstr(err, ": policy.blocked_domains[10000]: too many "
	    "entries (at most 10000)") != NULL, "%s", err);
	ck_assert_ptr_null(load_list("sensitive_patterns", 1001, err));
	ck_assert_msg(strstr(err, ": policy.sensitive_patterns[1000]: too "
	    "many entries (at most 1000)") != NULL, "%s", err);

	/* A pattern of 256 bytes is the longest. */
	memset(yaml, 0, sizeof(yaml));
	memcpy(yaml, "policy: {sensitive_patterns: [", 30);
	memset(yaml + 30, 'p', 256);
	memcpy(yaml + 286, "]}\n", 3);
	ck_assert_msg((cfg = load_str(yaml, strlen(yaml), err)) != NULL, "%s",
	    err);
	config_unref(cfg);
	memcpy(yaml + 286, "p]}\n", 4);
	ck_assert_ptr_null(load_str(yaml, strlen(yaml), err));
	ck_assert_str_eq(err, "t.yaml:1:31: policy.sensitive_patterns[0]: "
	    "must be 1 to 256 bytes long");
}
END_TEST

/*
 * Files: config_load, golden files, the example.
 */

START_TEST(test_load_files)
{
	char err[ERRSZ];

	ck_assert_ptr_null(config_load(NULL, err, sizeof(err)));
	ck_assert_str_eq(err, "no configuration file given");
	ck_assert_ptr_null(config_load("/nonexistent/mailhold.yaml", err,
	    sizeof(err)));
	ck_assert_str_eq(err, "/nonexistent/mailhold.yaml: cannot open: No "
	    "such file or directory");
	ck_assert_ptr_null(config_load("/", err, sizeof(err)));
	ck_assert_str_eq(err, "/: not a regular file");
	ck_assert_ptr_null(config_load("/dev/zero", err, sizeof(err)));
	ck_assert_str_eq(err, "/dev/zero: not a regular file");
}
END_TEST

START_TEST(test_golden)
{
	char dir[PATH_MAX], path[PATH_MAX], err[ERRSZ], *want, *nl;
	struct dirent *de;
	struct config *cfg;
	int nok = 0, nbad = 0;
	size_t n;
	DIR *d;

	ck_assert_int_ne(mh_snprintf(dir, sizeof(dir), "%s/config",
	    test_data()), -1);
	ck_assert_msg((d = opendir(dir)) != NULL, "%s: %s", dir,
	    strerror(errno));
	while ((de = readdir(d)) != NULL) {
		n = strlen(de->d_name);
		if (n < 5 || strcmp(de->d_name + n - 5, ".yaml") != 0)
			continue;
		ck_assert_int_ne(mh_snprintf(path, sizeof(path), "%s/%s", dir,
		    de->d_name), -1);
		cfg = config_load(path, err, sizeof(err));
		if (strncmp(de->d_name, "ok-", 3) == 0) {
			ck_assert_msg(cfg != NULL, "%s", err);
			nok++;
		} else {
			ck_assert_msg(strncmp(de->d_name, "bad-", 4) == 0,
			    "%s: golden files are ok-*.yaml or bad-*.yaml",
			    de->d_name);
			ck_assert_msg(cfg == NULL, "%s: loaded", path);
			/* bad-x.yaml -> bad-x.err, whose first line is the
			 * message with the file's base name. */
			memcpy(path + strlen(path) - 5, ".err", 5);
			want = read_text(path);
			if ((nl = strchr(want, '\n')) != NULL)
				*nl = '\0';
			ck_assert_msg(strncmp(err, dir, strlen(dir)) == 0 &&
			    err[strlen(dir)] == '/' &&
			    strcmp(err + strlen(dir) + 1, want) == 0,
			    "%s:\n got \"%s\"\nwant \"%s\"", de->d_name, err,
			    want);
			free(want);
			nbad++;
		}
		config_unref(cfg);
	}
	closedir(d);
	ck_assert_int_gt(nok, 0);
	ck_assert_int_gt(nbad, 0);
}
END_TEST

START_TEST(test_example)
{
	char path[PATH_MAX], err[ERRSZ], *text, *have;
	struct config *cfg, *def;
	struct mh_buf gen;
	FILE *f;

	ck_assert_int_ne(mh_snprintf(path, sizeof(path),
	    "%s/../../config.example.yaml", test_data()), -1);
	cfg = config_load(path, err, sizeof(err));
	ck_assert_msg(cfg != NULL, "%s", err);
	ck_assert_ptr_nonnull(cfg->policy_compiled);

	/* It holds the defaults, apart from the derived host names. */
	ck_assert_ptr_nonnull(def = config_default(err, sizeof(err)));
	text = dump_str(cfg);
	have = dump_str(def);
	ck_assert_str_eq(text, have);
	free(text);
	free(have);
	config_unref(def);
	config_unref(cfg);

	/* And it is exactly what the table generates. */
	mh_buf_init(&gen, 1 << 20);
	config_example_(collect_line_cb, &gen);
	have = read_text(path);
	if (strcmp(have, gen.data) != 0) {
		char cwd[PATH_MAX];

		/* In ctest's working directory (the build tree), not in a
		 * /tmp that other checkouts share. */
		f = fopen("config.example.yaml.new", "w");
		if (f != NULL) {
			fputs(gen.data, f);
			fclose(f);
		}
		ck_abort_msg("config.example.yaml is out of date: see diff -u "
		    "%s %s/config.example.yaml.new", path,
		    getcwd(cwd, sizeof(cwd)) != NULL ? cwd : ".");
	}
	free(have);
	mh_buf_clear(&gen);
}
END_TEST

static Suite *
config_suite(void)
{
	Suite *s = suite_create("config");
	TCase *tc;

	tc = tcase_create("load");
	tcase_add_loop_test(tc, test_load_table, 0, NITEMS(load_cases));
	tcase_add_loop_test(tc, test_value_table, 0, NITEMS(value_cases));
	tcase_add_test(tc, test_listener_count);
	tcase_add_test(tc, test_network_count);
	tcase_add_test(tc, test_long_values);
	tcase_add_test(tc, test_errbuf_edge);
	suite_add_tcase(s, tc);

	tc = tcase_create("defaults");
	tcase_add_test(tc, test_defaults);
	tcase_add_test(tc, test_defaults_equal_empty_file);
	tcase_add_test(tc, test_refcount);
	tcase_add_test(tc, test_web_bound);
	suite_add_tcase(s, tc);

	tc = tcase_create("dump");
	tcase_add_test(tc, test_dump_every_key);
	tcase_add_test(tc, test_dump_roundtrip);
	suite_add_tcase(s, tc);

	tc = tcase_create("parsers");
	tcase_add_loop_test(tc, test_duration_table, 0,
	    NITEMS(duration_cases));
	tcase_add_loop_test(tc, test_size_table, 0, NITEMS(size_cases));
	tcase_add_loop_test(tc, test_cidr_table, 0, NITEMS(cidr_cases));
	tcase_add_test(tc, test_parsers_null);
	suite_add_tcase(s, tc);

	tc = tcase_create("cidr_match");
	tcase_add_loop_test(tc, test_match_table, 0, NITEMS(match_cases));
	tcase_add_test(tc, test_match_other_family);
	suite_add_tcase(s, tc);

	tc = tcase_create("auth_file");
	tcase_add_checked_fixture(tc, auth_setup, auth_teardown);
	tcase_add_loop_test(tc, test_auth_table, 0, NITEMS(auth_cases));
	tcase_add_test(tc, test_auth_dump_line);
	tcase_add_test(tc, test_auth_too_large);
	suite_add_tcase(s, tc);

	tc = tcase_create("policy");
	tcase_add_test(tc, test_policy_defaults);
	tcase_add_test(tc, test_policy_full);
	tcase_add_test(tc, test_policy_audit);
	tcase_add_test(tc, test_policy_enum_names);
	tcase_add_test(tc, test_policy_counts);
	suite_add_tcase(s, tc);

	tc = tcase_create("files");
	tcase_add_test(tc, test_load_files);
	tcase_add_test(tc, test_golden);
	tcase_add_test(tc, test_example);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner *sr;
	int failed;

	sr = srunner_create(config_suite());
	srunner_run_all(sr, CK_ENV);	/* CK_VERBOSITY, default normal */
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? 0 : 1;
}
