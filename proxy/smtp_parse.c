/*
 * smtp_parse.c - see smtp_parse.h.
 *
 * Command splitting, MAIL/RCPT arguments (RFC 5321 §4.1.1.2-3, §4.1.2,
 * RFC 1870 SIZE, RFC 6152 BODY, RFC 6531 SMTPUTF8, RFC 4954 §5 AUTH=),
 * and the DATA reader, a byte-level state machine so that the result
 * never depends on how the input was split across reads.
 */
#include "smtp_parse.h"

#include <string.h>

#include "util.h"

/* RFC 1870 §3: SIZE value, at most 20 digits. */
#define SMTP_SIZE_DIGITS_MAX	20

/* ESMTP parameters seen on MAIL, to refuse duplicates. */
#define SMTP_P_SIZE	0x01
#define SMTP_P_BODY	0x02
#define SMTP_P_SMTPUTF8	0x04
#define SMTP_P_AUTH	0x08

static const struct {
	const char	*name;
	enum smtp_verb	 verb;
} smtp_verbs[] = {
	{ "HELO", SMTP_VERB_HELO },
	{ "EHLO", SMTP_VERB_EHLO },
	{ "MAIL", SMTP_VERB_MAIL },
	{ "RCPT", SMTP_VERB_RCPT },
	{ "DATA", SMTP_VERB_DATA },
	{ "RSET", SMTP_VERB_RSET },
	{ "NOOP", SMTP_VERB_NOOP },
	{ "QUIT", SMTP_VERB_QUIT },
	{ "VRFY", SMTP_VERB_VRFY },
	{ "HELP", SMTP_VERB_HELP },
	{ "EXPN", SMTP_VERB_EXPN },
	{ "STARTTLS", SMTP_VERB_STARTTLS },
	{ "AUTH", SMTP_VERB_AUTH },
	{ "BDAT", SMTP_VERB_BDAT },
};

const char *
smtp_parse_cmd(const char *line, size_t len, struct smtp_cmd *out)
{
	const char *sp;
	size_t toklen, i;

	out->verb = SMTP_VERB_UNKNOWN;
	out->args = len ? line + len : line;
	out->argslen = 0;
	if (len == 0)
		return NULL;
	/* G4: refuse NUL before any str* function could see the line. */
	if (memchr(line, '\0', len) != NULL)
		return "NUL in command line";
	if (memchr(line, '\r', len) != NULL || memchr(line, '\n', len) != NULL)
		return "bare CR or LF in command line";

	sp = memchr(line, ' ', len);
	toklen = sp != NULL ? (size_t)(sp - line) : len;
	for (i = 0; i < sizeof(smtp_verbs) / sizeof(smtp_verbs[0]); i++) {
		if (strlen(smtp_verbs[i].name) == toklen &&
		    mh_strncasecmp(smtp_verbs[i].name, line, toklen) == 0) {
			out->verb = smtp_verbs[i].verb;
			break;
		}
	}
	if (sp != NULL) {
		out->args = sp + 1;
		out->argslen = len - toklen - 1;
		while (out->argslen > 0 && out->args[out->argslen - 1] == ' ')
			out->argslen--;
	}
	return NULL;
}

static const char *
smtp_parse_err(int *code, const char **ecode, int c, const char *ec,
    const char *why)
{
	*code = c;
	*ecode = ec;
	return why;
}

/* esmtp-keyword = (ALPHA / DIGIT) *(ALPHA / DIGIT / "-") */
static bool
smtp_param_keyword_ok(const char *p, size_t n)
{
	size_t i;

	if (n == 0 || p[0] == '-')
		return false;
	for (i = 0; i < n; i++) {
		unsigned char ch = (unsigned char)p[i];

		if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
		    (ch >= '0' && ch <= '9') || ch == '-'))
			return false;
	}
	return true;
}

/* esmtp-value = 1*(%d33-60 / %d62-126); non-ASCII is never needed here. */
static bool
smtp_param_value_ok(const char *p, size_t n)
{
	size_t i;

	if (n == 0)
		return false;
	for (i = 0; i < n; i++) {
		unsigned char ch = (unsigned char)p[i];

		if (ch < 33 || ch > 126 || ch == '=')
			return false;
	}
	return true;
}

/* RFC 3461 §4 xtext: "!".."~" except "+" and "=", or "+" 2HEXCHAR. */
static bool
smtp_param_xtext_ok(const char *p, size_t n)
{
	size_t i, j;

	for (i = 0; i < n; i++) {
		if (p[i] != '+')
			continue;
		if (n - i < 3)
			return false;
		for (j = i + 1; j <= i + 2; j++)
			if (!((p[j] >= '0' && p[j] <= '9') ||
			    (p[j] >= 'A' && p[j] <= 'F')))
				return false;
		i += 2;
	}
	return true;
}

/* RFC 1870: SIZE value, digits only, checked against uint64 overflow. */
static bool
smtp_param_size(const char *p, size_t n, uint64_t *out)
{
	uint64_t v = 0;
	size_t i;

	if (n == 0 || n > SMTP_SIZE_DIGITS_MAX)
		return false;
	for (i = 0; i < n; i++) {
		unsigned d;

		if (p[i] < '0' || p[i] > '9')
			return false;
		d = (unsigned)(p[i] - '0');
		if (v > (UINT64_MAX - d) / 10)
			return false;
		v = v * 10 + d;
	}
	*out = v;
	return true;
}

static bool
smtp_param_is(const char *kw, size_t n, const char *name)
{
	return strlen(name) == n && mh_strncasecmp(kw, name, n) == 0;
}

/*
 * Applies one MAIL parameter.  m is NULL for RCPT, which has none.
 */
static const char *
smtp_param_apply(const char *kw, size_t kwlen, const char *val,
    size_t vallen, bool hasval, bool allow_utf8, struct smtp_mail_args *m,
    unsigned *seen, int *code, const char **ecode)
{
	unsigned bit;

	if (m == NULL)
		return smtp_parse_err(code, ecode, 555, "5.5.4",
		    "RCPT parameters not supported");
	if (smtp_param_is(kw, kwlen, "SIZE"))
		bit = SMTP_P_SIZE;
	else if (smtp_param_is(kw, kwlen, "BODY"))
		bit = SMTP_P_BODY;
	else if (smtp_param_is(kw, kwlen, "SMTPUTF8"))
		bit = SMTP_P_SMTPUTF8;
	else if (smtp_param_is(kw, kwlen, "AUTH"))
		bit = SMTP_P_AUTH;
	else
		return smtp_parse_err(code, ecode, 555, "5.5.4",
		    "unknown MAIL parameter");
	if (*seen & bit)
		return smtp_parse_err(code, ecode, 501, "5.5.4",
		    "duplicate MAIL parameter");
	*seen |= bit;

	switch (bit) {
	case SMTP_P_SIZE:
		if (!hasval || !smtp_param_size(val, vallen, &m->size))
			return smtp_parse_err(code, ecode, 501, "5.5.4",
			    "bad SIZE value");
		m->has_size = true;
		break;
	case SMTP_P_BODY:
		if (hasval && smtp_param_is(val, vallen, "7BIT"))
			m->body = SMTP_BODY_7BIT;
		else if (hasval && smtp_param_is(val, vallen, "8BITMIME"))
			m->body = SMTP_BODY_8BITMIME;
		else
			return smtp_parse_err(code, ecode, 501, "5.5.4",
			    "bad BODY value");
		break;
	case SMTP_P_SMTPUTF8:
		if (!allow_utf8)
			return smtp_parse_err(code, ecode, 555, "5.5.4",
			    "SMTPUTF8 not supported");
		if (hasval)
			return smtp_parse_err(code, ecode, 501, "5.5.4",
			    "SMTPUTF8 takes no value");
		m->smtputf8 = true;
		break;
	case SMTP_P_AUTH:
		/*
		 * RFC 4954 §5: clients that authenticated may send
		 * AUTH=<mailbox> or AUTH=<>.  Syntax is checked and the
		 * value ignored: the session knows who authenticated.
		 */
		if (!hasval || !smtp_param_xtext_ok(val, vallen))
			return smtp_parse_err(code, ecode, 501, "5.5.4",
			    "bad AUTH value");
		break;
	}
	return NULL;
}

/*
 * Parses "[SP param *(SP param)]" after a path.  Parameters may be
 * separated by more than one SP, and trailing SP is ignored.
 */
static const char *
smtp_parse_params(const char *p, size_t len, bool allow_utf8,
    struct smtp_mail_args *m, int *code, const char **ecode)
{
	const char *kw, *val, *err;
	size_t pos = 0, kwlen, vallen;
	unsigned seen = 0;
	bool hasval;

	if (len == 0)
		return NULL;
	if (p[0] != ' ')
		return smtp_parse_err(code, ecode, 501, "5.5.4",
		    "junk after address");
	for (;;) {
		while (pos < len && p[pos] == ' ')
			pos++;
		if (pos == len)
			return NULL;
		kw = p + pos;
		while (pos < len && p[pos] != ' ' && p[pos] != '=')
			pos++;
		kwlen = (size_t)(p + pos - kw);
		val = NULL;
		vallen = 0;
		hasval = false;
		if (pos < len && p[pos] == '=') {
			pos++;
			val = p + pos;
			while (pos < len && p[pos] != ' ')
				pos++;
			vallen = (size_t)(p + pos - val);
			hasval = true;
		}
		if (!smtp_param_keyword_ok(kw, kwlen) ||
		    (hasval && !smtp_param_value_ok(val, vallen)))
			return smtp_parse_err(code, ecode, 501, "5.5.4",
			    "bad parameter syntax");
		err = smtp_param_apply(kw, kwlen, val, vallen, hasval,
		    allow_utf8, m, &seen, code, ecode);
		if (err != NULL)
			return err;
	}
}

/*
 * Common part of MAIL and RCPT: "<kw>" [SP] Path params.  Returns the
 * octets used by the keyword and path in *used.
 */
static const char *
smtp_parse_path_arg(const char *args, size_t len, const char *kw,
    const char *synerr, unsigned flags, const char *addr_ecode,
    struct addr_path *path, size_t *used, int *code, const char **ecode)
{
	enum addr_status st;
	const char *why;
	size_t kwlen = strlen(kw), pos, n;

	if (len < kwlen || mh_strncasecmp(args, kw, kwlen) != 0)
		return smtp_parse_err(code, ecode, 501, "5.5.4", synerr);
	pos = kwlen;
	/* "FROM: <a@b>": one space, as deployed clients send it. */
	if (pos < len && args[pos] == ' ')
		pos++;
	st = addr_parse_path(args + pos, len - pos, flags, path, &n, &why);
	if (st == ADDR_8BIT && !(flags & ADDR_F_UTF8))
		return smtp_parse_err(code, ecode, 553, "5.6.7",
		    "non-ASCII address without SMTPUTF8");
	if (st != ADDR_OK)
		return smtp_parse_err(code, ecode, 501, addr_ecode, why);
	*used = pos + n;
	return NULL;
}

const char *
smtp_parse_mail(const char *args, size_t len, bool allow_utf8,
    struct smtp_mail_args *out, int *code, const char **ecode)
{
	const char *err;
	unsigned flags = ADDR_F_ALLOW_NULL;
	size_t used;

	memset(out, 0, sizeof(*out));
	*code = 0;
	*ecode = NULL;
	if (allow_utf8)
		flags |= ADDR_F_UTF8;
	err = smtp_parse_path_arg(args, len, "FROM:",
	    "syntax: MAIL FROM:<address>", flags, "5.1.7", &out->path, &used,
	    code, ecode);
	if (err == NULL)
		err = smtp_parse_params(args + used, len - used, allow_utf8,
		    out, code, ecode);
	/* RFC 6531 §3.7.4.1: a UTF-8 address needs SMTPUTF8 on MAIL. */
	if (err == NULL && out->path.is_utf8 && !out->smtputf8)
		err = smtp_parse_err(code, ecode, 553, "5.6.7",
		    "non-ASCII address without SMTPUTF8");
	if (err != NULL)
		memset(out, 0, sizeof(*out));
	return err;
}

const char *
smtp_parse_rcpt(const char *args, size_t len, bool utf8,
    struct smtp_rcpt_args *out, int *code, const char **ecode)
{
	const char *err;
	unsigned flags = ADDR_F_ALLOW_POSTMASTER;
	size_t used;

	memset(out, 0, sizeof(*out));
	*code = 0;
	*ecode = NULL;
	if (utf8)
		flags |= ADDR_F_UTF8;
	err = smtp_parse_path_arg(args, len, "TO:",
	    "syntax: RCPT TO:<address>", flags, "5.1.3", &out->path, &used,
	    code, ecode);
	if (err == NULL)
		err = smtp_parse_params(args + used, len - used, utf8, NULL,
		    code, ecode);
	if (err != NULL)
		memset(out, 0, sizeof(*out));
	return err;
}

/*
 * DATA reader states.  A '.' at the start of a line is held back until
 * the next octets say whether the line is the terminator; everything
 * else is copied out as it arrives.
 */
enum smtp_dot_state {
	SMTP_DOT_ST_BOL = 0,	/* at the start of a line */
	SMTP_DOT_ST_TEXT,	/* inside a line */
	SMTP_DOT_ST_CR,		/* inside a line, just after CR */
	SMTP_DOT_ST_DOT,	/* BOL "." held back */
	SMTP_DOT_ST_DOT_CR,	/* BOL "." CR held back */
	SMTP_DOT_ST_END,	/* CRLF "." CRLF consumed */
};

void
smtp_dot_init(struct smtp_dotreader *r, size_t maxline, bool normalize)
{
	memset(r, 0, sizeof(*r));
	r->st = SMTP_DOT_ST_BOL;
	r->maxline = maxline;
	r->normalize = normalize;
}

/* Counts one input octet against the line limit (saturating). */
static void
smtp_dot_count(struct smtp_dotreader *r)
{
	if (r->linelen < SIZE_MAX)
		r->linelen++;
	if (r->linelen > r->maxline)
		r->flags |= SMTP_DOT_LONG_LINE;
}

/*
 * A line ends.  crlf: it ended in CRLF, so the next line may be the
 * terminator; otherwise it ended in a bare LF (normalize mode), and the
 * next line never is, whatever it holds.
 */
static void
smtp_dot_eol(struct smtp_dotreader *r, bool crlf)
{
	r->st = SMTP_DOT_ST_BOL;
	r->linelen = 0;
	r->after_lf = !crlf;
}

/*
 * One octet inside a line, already counted; writes what it stands for to
 * out and returns the octets written (at most 2).  In reject mode a bare
 * LF is written and flagged but does not end the line (the line only
 * ends at CRLF), so it can never start a "." terminator line.  In
 * normalize mode it ends the line and is written as CRLF.
 */
static size_t
smtp_dot_text(struct smtp_dotreader *r, unsigned char ch, char *out)
{
	if (ch == '\n' && r->normalize) {
		r->flags |= SMTP_DOT_LF_FIXED;
		smtp_dot_count(r);	/* stored as two octets: CRLF */
		smtp_dot_eol(r, false);
		out[0] = '\r';
		out[1] = '\n';
		return 2;
	}
	if (ch == '\r')
		r->st = SMTP_DOT_ST_CR;
	else {
		r->st = SMTP_DOT_ST_TEXT;
		if (ch == '\n')
			r->flags |= SMTP_DOT_BARE_LF;
		else if (ch == '\0')
			r->flags |= SMTP_DOT_NUL;
		else if (ch >= 0x80)
			r->flags |= SMTP_DOT_8BIT;
	}
	out[0] = (char)ch;
	return 1;
}

enum smtp_dot_status
smtp_dot_feed(struct smtp_dotreader *r, const char *in, size_t len,
    char *out, size_t *outlen, size_t *consumed)
{
	size_t i, o = 0;
	unsigned char ch;

	for (i = 0; i < len && r->st != SMTP_DOT_ST_END; i++) {
		ch = (unsigned char)in[i];
		smtp_dot_count(r);
		switch (r->st) {
		case SMTP_DOT_ST_BOL:
			if (ch == '.') {
				r->st = SMTP_DOT_ST_DOT;
				break;
			}
			o += smtp_dot_text(r, ch, out + o);
			break;
		case SMTP_DOT_ST_TEXT:
			o += smtp_dot_text(r, ch, out + o);
			break;
		case SMTP_DOT_ST_CR:
			if (ch == '\n') {
				out[o++] = '\n';
				smtp_dot_eol(r, true);
				break;
			}
			r->flags |= SMTP_DOT_BARE_CR;
			o += smtp_dot_text(r, ch, out + o);
			break;
		case SMTP_DOT_ST_DOT:
			if (ch == '\r') {
				r->st = SMTP_DOT_ST_DOT_CR;
				break;
			}
			/*
			 * RFC 5321 §4.5.2: a line that starts with "." and
			 * is not the terminator loses that first ".".  In
			 * normalize mode ".\n" is such a line: an empty one.
			 */
			o += smtp_dot_text(r, ch, out + o);
			break;
		case SMTP_DOT_ST_DOT_CR:
			if (ch == '\n' && !r->after_lf) {
				r->st = SMTP_DOT_ST_END;
				break;
			}
			if (ch == '\n') {
				/*
				 * LF "." CRLF: the line before ended in a bare
				 * LF, so this is no terminator (the SMTP
				 * smuggling class); it is an empty line.
				 */
				out[o++] = '\r';
				out[o++] = '\n';
				smtp_dot_eol(r, true);
				break;
			}
			/*
			 * "." CR <not LF>: the leading "." is removed and the
			 * bare CR is dropped rather than written.  The
			 * message is refused anyway (BARE_CR).
			 */
			r->flags |= SMTP_DOT_BARE_CR;
			o += smtp_dot_text(r, ch, out + o);
			break;
		default:
			break;
		}
	}
	*outlen = o;
	*consumed = i;
	r->total += o;
	return r->st == SMTP_DOT_ST_END ? SMTP_DOT_END : SMTP_DOT_MORE;
}

size_t
smtp_dot_stuff(const char *in, size_t len, char *out, bool *bol)
{
	size_t i, o = 0;

	for (i = 0; i < len; i++) {
		if (*bol && in[i] == '.')
			out[o++] = '.';
		out[o++] = in[i];
		/*
		 * The input should be CRLF-only; treating a stray CR or LF
		 * as a line end too stuffs more, never less, so no server
		 * can see a terminator inside the message.
		 */
		*bol = in[i] == '\n' || in[i] == '\r';
	}
	return o;
}
