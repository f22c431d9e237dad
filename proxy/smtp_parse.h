/*
 * smtp_parse.h - pure parsers for the inbound SMTP session.
 *
 * Command line splitting, MAIL FROM / RCPT TO arguments with ESMTP
 * parameters, and the DATA reader: dot-unstuffing and end-of-data
 * detection that only accepts CRLF "." CRLF (never \n.\n, \r.\r\n or
 * \n.\r\n: the SMTP smuggling class), flagging bare CR, bare LF, NUL and
 * over-long lines instead of acting on them (or, by choice, storing a
 * bare LF as CRLF).
 *
 * Pure functions: no I/O, no globals, no fatal, no allocation.  Each
 * returns a status or an error string (static) and fills a caller struct.
 * Thread safety: reentrant.
 */
#ifndef MH_PROXY_SMTP_PARSE_H
#define MH_PROXY_SMTP_PARSE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "addr.h"

enum smtp_verb {
	SMTP_VERB_UNKNOWN = 0,
	SMTP_VERB_HELO, SMTP_VERB_EHLO, SMTP_VERB_MAIL, SMTP_VERB_RCPT,
	SMTP_VERB_DATA, SMTP_VERB_RSET, SMTP_VERB_NOOP, SMTP_VERB_QUIT,
	SMTP_VERB_VRFY, SMTP_VERB_HELP, SMTP_VERB_EXPN, SMTP_VERB_STARTTLS,
	SMTP_VERB_AUTH, SMTP_VERB_BDAT,
	SMTP_VERB_MAX
};

struct smtp_cmd {
	enum smtp_verb	 verb;
	const char	*args;		/* points into the line; after one SP */
	size_t		 argslen;	/* trailing spaces removed */
};

/*
 * Splits one command line (without its CRLF; len excludes it).  The line
 * must not contain NUL, CR or LF (the caller has checked framing; this
 * re-checks and returns an error).  Verb match is ASCII case-insensitive.
 * Returns NULL on success (verb may be SMTP_VERB_UNKNOWN), else a reason.
 */
const char	*smtp_parse_cmd(const char *line, size_t len, struct smtp_cmd *out);

enum smtp_body { SMTP_BODY_NONE = 0, SMTP_BODY_7BIT, SMTP_BODY_8BITMIME };

struct smtp_mail_args {
	struct addr_path path;
	bool	 has_size;
	uint64_t size;		/* SIZE=, checked against UINT64 overflow */
	int	 body;		/* enum smtp_body */
	bool	 smtputf8;
};

struct smtp_rcpt_args {
	struct addr_path path;
};

/*
 * Parses the argument of MAIL ("FROM:<path> [SP param=value]...").
 * RFC 5321 §4.1.1.2 and §3.3; accepts "FROM: <path>" (one optional space,
 * as deployed clients send).  Known parameters: SIZE (digits only, at most
 * 20), BODY=7BIT|8BITMIME, SMTPUTF8 (no value); each at most once; any
 * other parameter is an error ("555 5.5.4" by the caller).  When SMTPUTF8
 * is present the path is parsed with ADDR_F_UTF8.
 * AUTH=<mailbox> (RFC 4954 §5) is accepted, syntax-checked and ignored.
 * On error returns a reason and sets *code to the SMTP reply the caller
 * should send: 501 (syntax 5.5.4; bad address 5.1.7 for MAIL, 5.1.3 for
 * RCPT), 553 5.6.7 (non-ASCII address without SMTPUTF8, RFC 6531) or 555
 * 5.5.4 (unknown or unoffered parameter), and *ecode to the enhanced
 * status string ("5.1.7").
 */
const char	*smtp_parse_mail(const char *args, size_t len, bool allow_utf8,
		    struct smtp_mail_args *out, int *code, const char **ecode);

/* Same for RCPT ("TO:<path>"); no parameters are supported (555 5.5.4).
 * utf8 says whether the transaction's MAIL carried SMTPUTF8. */
const char	*smtp_parse_rcpt(const char *args, size_t len, bool utf8,
		    struct smtp_rcpt_args *out, int *code, const char **ecode);

/*
 * The DATA reader.  Feed it the raw octets that follow the 354 reply; it
 * writes the message bytes (dot-unstuffed, CRLF line ends kept, the final
 * "." line removed) to out and stops exactly after CRLF "." CRLF.
 *
 * The end of data is a line that is exactly "." CRLF and that follows a
 * line that itself ended in CRLF (or is the first line): nothing else, in
 * either mode, so "\n.\n", "\n.\r\n", "\r.\r\n" and ".\n" never end the
 * data (the SMTP smuggling class).
 *
 * Bare LF (LF not preceded by CR), the choice of server.bare_newline:
 *  - reject (normalize false): a bare LF ends no line; it sets
 *    SMTP_DOT_BARE_LF and the caller refuses the message.
 *  - normalize (true, Postfix's smtpd_forbid_bare_newline = normalize):
 *    a bare LF ends the line and is written as CRLF (SMTP_DOT_LF_FIXED
 *    records that it happened); dot-unstuffing applies to the next line
 *    as to any, but that line is never the terminator.
 * A bare CR (CR not followed by LF) sets SMTP_DOT_BARE_CR in both modes.
 * NUL sets SMTP_DOT_NUL.  A line longer than maxline octets (line end
 * included, a bare LF counting as the CRLF it becomes in normalize mode)
 * sets SMTP_DOT_LONG_LINE.  The caller refuses the message at
 * the end if BARE_LF, BARE_CR, NUL or LONG_LINE is set (a delayed reject
 * keeps the session in sync).
 */
#define SMTP_DOT_BARE_LF	0x01
#define SMTP_DOT_NUL		0x02
#define SMTP_DOT_LONG_LINE	0x04
#define SMTP_DOT_8BIT		0x08	/* saw a byte >= 0x80 (informational) */
#define SMTP_DOT_BARE_CR	0x10
#define SMTP_DOT_LF_FIXED	0x20	/* normalize: a bare LF became CRLF */

struct smtp_dotreader {
	int	 st;		/* private */
	bool	 after_lf;	/* private: this line follows a bare LF */
	bool	 normalize;	/* private: bare LF is a line end */
	size_t	 linelen;	/* private: octets of current line so far */
	size_t	 maxline;
	unsigned flags;		/* SMTP_DOT_* seen so far */
	uint64_t total;		/* message octets written to out so far */
};

enum smtp_dot_status { SMTP_DOT_MORE = 0, SMTP_DOT_END };

void	smtp_dot_init(struct smtp_dotreader *, size_t maxline, bool normalize);
/*
 * Consumes input octets in[0..len).  Writes at most 2 * len octets to out
 * (a bare LF may become CRLF; the caller provides that room) and sets
 * *outlen; sets *consumed to the octets used.  Returns SMTP_DOT_END once
 * the terminating CRLF "." CRLF has been consumed (*consumed < len when
 * pipelined commands follow); the reader must not be fed again after
 * that.
 */
enum smtp_dot_status smtp_dot_feed(struct smtp_dotreader *, const char *in,
		    size_t len, char *out, size_t *outlen, size_t *consumed);

/*
 * Dot-stuffing for the relay: copies in to out doubling a '.' at the
 * start of every line.  *bol carries "at beginning of line" across calls
 * (start with true).  out must have room for 2*len octets; returns the
 * octets written.  Input is trusted to be CRLF-only (it is our own queue).
 */
size_t	smtp_dot_stuff(const char *in, size_t len, char *out, bool *bol);

#endif
