/*
 * header.h - strict, bounded RFC 5322 header parser for the policy: the
 * address lists, the Subject, reply markers and MIME attachment names.
 *
 * Text comes back as UTF-8: RFC 2047 words (UTF-8, US-ASCII, ISO-8859-1,
 * ISO-2022-JP, Shift_JIS, EUC-JP and aliases) and RFC 2231 parameters are
 * decoded with iconv(3); bad octets become U+FFFD.  Nothing malformed
 * stops a parse: the field or address is skipped and a HEADER_D_* defect
 * bit says so.  Every size is capped by struct header_limits and time is
 * linear in the input.
 *
 * Pure: no I/O (iconv may load its gconv modules), no globals, no fatal
 * on bad input.  Ownership: strings in struct header_msg die with
 * header_msg_clear().  Thread safety: reentrant.  Errors: status enums
 * and defect bits; the rewrite returns 0 / -1.
 */
#ifndef MH_POLICY_HEADER_H
#define MH_POLICY_HEADER_H

#include <stdbool.h>
#include <stddef.h>

#include "util.h"

/* Defaults and hard maxima of struct header_limits. */
#define HEADER_BLOCK_MAX_DEF	(1024 * 1024)
#define HEADER_BLOCK_MAX_HARD	(16 * 1024 * 1024)
#define HEADER_LINE_MAX_DEF	(16 * 1024)	/* RFC 5322 §2.1.1 says 998 */
#define HEADER_LINE_MAX_HARD	(1024 * 1024)
#define HEADER_FIELDS_MAX_DEF	10000
#define HEADER_FIELDS_MAX_HARD	1000000
#define HEADER_ADDRS_MAX_DEF	10000
#define HEADER_ADDRS_MAX_HARD	1000000
#define HEADER_TEXT_MAX_DEF	(16 * 1024)	/* decoded subject / name */
#define HEADER_TEXT_MAX_HARD	(1024 * 1024)
#define HEADER_SCAN_MAX_DEF	(8 * 1024 * 1024)
#define HEADER_MIME_DEPTH_DEF	8
#define HEADER_MIME_DEPTH_HARD	64
#define HEADER_MIME_PARTS_DEF	500
#define HEADER_MIME_PARTS_HARD	100000

/* Every limit of the parser.  header_limits_init() sets the defaults;
 * header_parse() clamps each value to its hard maximum (0 = default). */
struct header_limits {
	size_t	block_max;	/* octets of the top-level header block */
	size_t	line_max;	/* octets of one physical line, CRLF included */
	size_t	fields_max;	/* fields in the top-level block */
	size_t	addrs_max;	/* addresses over all address fields */
	size_t	text_max;	/* octets of one decoded text (UTF-8) */
	size_t	scan_max;	/* octets of the message walked for MIME */
	size_t	mime_depth;	/* multipart nesting */
	size_t	mime_parts;	/* body parts visited */
};

enum header_status {
	HEADER_OK = 0,		/* parsed; defects may still be set */
	HEADER_TRUNCATED,	/* a limit cut the parse; result is partial */
	HEADER_BAD,		/* no header field at all */
};

/* Defects: what was wrong and skipped (bit set in header_msg.defects). */
#define HEADER_D_BLOCK_TOO_LONG	0x00001	/* header block over block_max */
#define HEADER_D_LONG_LINE	0x00002	/* line over line_max; field skipped */
#define HEADER_D_BAD_FIELD	0x00004	/* line is not "name: value" */
#define HEADER_D_BAD_FOLD	0x00008	/* continuation line with no field */
#define HEADER_D_NUL		0x00010	/* NUL octet; field skipped */
#define HEADER_D_BARE_CR	0x00020	/* CR not followed by LF */
#define HEADER_D_DUP_FIELD	0x00040	/* second From/To/Cc/Subject/... */
#define HEADER_D_BAD_ADDR	0x00080	/* an address list item was skipped */
#define HEADER_D_UNTERMINATED	0x00100	/* quote, comment, <> or group open */
#define HEADER_D_TOO_MANY_ADDRS	0x00200	/* addrs_max reached */
#define HEADER_D_TOO_MANY_FIELDS 0x00400 /* fields_max reached */
#define HEADER_D_BAD_ENCODING	0x00800	/* bad encoded word, base64, %XX */
#define HEADER_D_CHARSET	0x01000	/* unknown charset or bad bytes in it */
#define HEADER_D_8BIT		0x02000	/* raw 8-bit text that is not UTF-8 */
#define HEADER_D_TEXT_TRUNCATED	0x04000	/* a decoded text was cut */
#define HEADER_D_NO_BODY_SEP	0x08000	/* no empty line after the header */
#define HEADER_D_MIME_DEPTH	0x10000	/* multipart nesting over mime_depth */
#define HEADER_D_MIME_PARTS	0x20000	/* over mime_parts parts */
#define HEADER_D_MIME_TRUNCATED	0x40000	/* multipart not closed in the scan */
#define HEADER_D_MIME_BAD	0x80000	/* multipart without boundary, ... */
#define HEADER_D_LAST		HEADER_D_MIME_BAD

/* The defects that may hide recipients or mean a hostile header. */
#define HEADER_D_SERIOUS	(HEADER_D_BLOCK_TOO_LONG | \
	HEADER_D_LONG_LINE | HEADER_D_BAD_FIELD | HEADER_D_BAD_FOLD | \
	HEADER_D_NUL | HEADER_D_DUP_FIELD | HEADER_D_BAD_ADDR | \
	HEADER_D_UNTERMINATED | HEADER_D_TOO_MANY_ADDRS | \
	HEADER_D_TOO_MANY_FIELDS)

/* One field of the top-level block, by offset into the input. */
struct header_field {
	size_t	 off;		/* first octet of the name */
	size_t	 len;		/* through the last line end */
	size_t	 name_len;
	int	 kind;		/* enum header_kind */
};

enum header_kind {
	HEADER_K_OTHER = 0,
	HEADER_K_FROM,
	HEADER_K_SENDER,
	HEADER_K_TO,
	HEADER_K_CC,
	HEADER_K_BCC,
	HEADER_K_REPLY_TO,
	HEADER_K_SUBJECT,
	HEADER_K_MESSAGE_ID,
	HEADER_K_IN_REPLY_TO,
	HEADER_K_REFERENCES,
	HEADER_K_CONTENT_TYPE,
	HEADER_K_CONTENT_DISPOSITION,
	HEADER_K_BAD,		/* skipped: malformed line(s) */
};

struct header_addr {
	char	*addr;		/* "local@domain", RFC 5321 form (quoted
				 * local part kept quoted), never NULL */
	char	*name;		/* decoded display name, or NULL */
	size_t	 local_len;	/* octets before the '@' */
	bool	 in_group;	/* listed inside "name: ...;" */
};

struct header_addrlist {
	struct header_addr	*v;
	size_t			 n;
	size_t			 cap;
	size_t			 nbad;		/* items skipped */
	size_t			 ngroups;	/* groups, empty ones too */
};

struct header_attach {
	char	*name;		/* decoded file name (UTF-8), never NULL */
	char	*type;		/* "type/subtype", lowercase */
	size_t	 depth;		/* multipart nesting (0 = top) */
};

struct header_msg {
	struct header_field	*fields;	/* top-level block, in order */
	size_t			 nfields;
	size_t			 header_len;	/* octets through the empty
						 * line (or all of the input) */
	struct header_addrlist	 from, sender, to, cc, bcc, reply_to;
	char			*subject;	/* decoded, NULL if absent */
	bool			 is_reply;	/* In-Reply-To or References */
	char			*content_type;	/* top level, lowercase */
	struct header_attach	*attach;
	size_t			 nattach;
	size_t			 nparts;	/* MIME parts seen */
	unsigned		 defects;	/* HEADER_D_* */
};

void	header_limits_init(struct header_limits *);

/*
 * Parses msg[0..len), the message as submitted (DATA bytes, not
 * dot-stuffed): the whole top-level header block (up to block_max), then
 * as much of the body as the caller has in memory.  The body is walked
 * for MIME parts only within the first scan_max octets, so a prefix of a
 * large message yields the attachments named in that prefix
 * (HEADER_D_MIME_TRUNCATED says the walk did not see the end).  Lines end
 * in CRLF; a bare LF ends a line too (mailhold check reads .eml files),
 * and a leading mbox "From " line is skipped.
 *
 * out is always initialised, even on error, and must be released with
 * header_msg_clear().  lim may be NULL for the defaults.  Returns
 * HEADER_BAD when the input holds no header field, HEADER_TRUNCATED when
 * a limit stopped the parse early (the result holds what came before).
 */
enum header_status header_parse(const char *msg, size_t len,
		    const struct header_limits *lim, struct header_msg *out);

void	header_msg_init(struct header_msg *);
void	header_msg_clear(struct header_msg *);	/* frees; reusable */

/*
 * Parses one address-list field body (the text after "To:"; folded lines
 * allowed) and appends to list, at most max addresses in all.  Returns the
 * HEADER_D_* defects found (0 when clean).  Used by header_parse() and by
 * callers that take addresses from the command line.
 */
unsigned header_parse_addrlist(const char *s, size_t len, size_t max,
	    size_t text_max, struct header_addrlist *list);
void	header_addrlist_clear(struct header_addrlist *);

/*
 * Decodes unstructured text (RFC 5322 §3.2.5 with RFC 2047 encoded words)
 * to UTF-8 of at most text_max octets; folds are removed and control
 * characters become spaces.  Returns a string the caller frees and ORs the
 * defects found into *defects.
 */
char	*header_decode_text(const char *s, size_t len, size_t text_max,
	    unsigned *defects);

/*
 * Builds the header block with To replaced by "To: undisclosed-recipients:;"
 * and every Cc field removed (the Bcc rewrite, RFC 5322 §3.6.3): the other
 * fields are copied byte for byte and in order, and the line ends follow
 * the original.  The result replaces the first h->header_len octets of
 * msg; the body is not touched.  Returns 0, or -1 when the block was not
 * parsed whole (HEADER_D_BLOCK_TOO_LONG, too many fields) or out is full.
 */
int	header_rewrite_undisclosed(const char *msg, size_t len,
	    const struct header_msg *h, struct mh_buf *out);

/* "bad_addr", "long_line", ... for one defect bit; "?" if unknown. */
const char *header_defect_to_str(unsigned bit);

/* The domain of an address (the text after its '@'), borrowed. */
const char *header_addr_domain(const struct header_addr *);

#endif
