/*
 * fuzz_smtp_cmd.c - libFuzzer target for smtp_parse_cmd(),
 * smtp_parse_mail() and smtp_parse_rcpt() (STYLE G11).
 *
 * The input is one command line (without CRLF).  It is split, and the
 * arguments of MAIL and RCPT are parsed as the session would; the whole
 * input is also given to the argument parsers directly.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "smtp_parse.h"

#define FUZZ_ASSERT(x)	do { if (!(x)) abort(); } while (0)

int LLVMFuzzerTestOneInput(const uint8_t *, size_t);

static void
fuzz_cmd_check_err(const char *err, int code, const char *ecode,
    const struct addr_path *p)
{
	FUZZ_ASSERT(err[0] != '\0');
	FUZZ_ASSERT(code == 501 || code == 553 || code == 555);
	FUZZ_ASSERT(ecode != NULL);
	FUZZ_ASSERT(strcmp(ecode, "5.5.4") == 0 ||
	    strcmp(ecode, "5.1.7") == 0 || strcmp(ecode, "5.1.3") == 0 ||
	    strcmp(ecode, "5.6.7") == 0);
	FUZZ_ASSERT(p->addr[0] == '\0');
}

static void
fuzz_cmd_check_path(const struct addr_path *p)
{
	size_t n = strnlen(p->addr, sizeof(p->addr));

	FUZZ_ASSERT(n <= ADDR_PATH_MAX - 2);
	FUZZ_ASSERT(p->local_len <= n);
	FUZZ_ASSERT(memchr(p->addr, '\r', n) == NULL);
	FUZZ_ASSERT(memchr(p->addr, '\n', n) == NULL);
	FUZZ_ASSERT(memchr(p->addr, ' ', n) == NULL || p->addr[0] == '"');
}

static void
fuzz_cmd_mail(const char *s, size_t len, bool utf8)
{
	struct smtp_mail_args m;
	const char *err, *ecode;
	int code;

	err = smtp_parse_mail(s, len, utf8, &m, &code, &ecode);
	if (err != NULL) {
		fuzz_cmd_check_err(err, code, ecode, &m.path);
		FUZZ_ASSERT(!m.has_size && !m.smtputf8);
		return;
	}
	FUZZ_ASSERT(code == 0 && ecode == NULL);
	fuzz_cmd_check_path(&m.path);
	FUZZ_ASSERT(!m.path.is_utf8 || (utf8 && m.smtputf8));
	FUZZ_ASSERT(!m.smtputf8 || utf8);
	FUZZ_ASSERT(m.body >= SMTP_BODY_NONE && m.body <= SMTP_BODY_8BITMIME);
	FUZZ_ASSERT(m.has_size || m.size == 0);
}

static void
fuzz_cmd_rcpt(const char *s, size_t len, bool utf8)
{
	struct smtp_rcpt_args r;
	const char *err, *ecode;
	int code;

	err = smtp_parse_rcpt(s, len, utf8, &r, &code, &ecode);
	if (err != NULL) {
		fuzz_cmd_check_err(err, code, ecode, &r.path);
		return;
	}
	FUZZ_ASSERT(code == 0 && ecode == NULL);
	fuzz_cmd_check_path(&r.path);
	FUZZ_ASSERT(!r.path.is_null);
	FUZZ_ASSERT(!r.path.is_utf8 || utf8);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *s = (const char *)data, *err;
	struct smtp_cmd cmd;

	err = smtp_parse_cmd(s, size, &cmd);
	if (err != NULL) {
		FUZZ_ASSERT(err[0] != '\0');
		FUZZ_ASSERT(memchr(s, '\0', size) != NULL ||
		    memchr(s, '\r', size) != NULL ||
		    memchr(s, '\n', size) != NULL);
	} else {
		FUZZ_ASSERT(cmd.verb >= SMTP_VERB_UNKNOWN &&
		    cmd.verb < SMTP_VERB_MAX);
		if (size > 0) {
			FUZZ_ASSERT(cmd.args >= s &&
			    cmd.args + cmd.argslen <= s + size);
			FUZZ_ASSERT(cmd.argslen == 0 ||
			    cmd.args[cmd.argslen - 1] != ' ');
		}
		FUZZ_ASSERT(cmd.verb == SMTP_VERB_UNKNOWN || size >= 4);
		if (cmd.verb == SMTP_VERB_MAIL) {
			fuzz_cmd_mail(cmd.args, cmd.argslen, false);
			fuzz_cmd_mail(cmd.args, cmd.argslen, true);
		} else if (cmd.verb == SMTP_VERB_RCPT) {
			fuzz_cmd_rcpt(cmd.args, cmd.argslen, false);
			fuzz_cmd_rcpt(cmd.args, cmd.argslen, true);
		}
	}
	fuzz_cmd_mail(s, size, false);
	fuzz_cmd_mail(s, size, true);
	fuzz_cmd_rcpt(s, size, false);
	fuzz_cmd_rcpt(s, size, true);
	return 0;
}
