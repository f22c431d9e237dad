/*
 * alert.c - see alert.h.
 *
 * Every string taken from a message (subject, addresses, finding texts,
 * suggestions, upstream replies) first goes through alert_clean(): one
 * line, valid UTF-8, no control characters, cut to a bound.  From there
 * it goes only into a base64 body part, into the HTML part through
 * mh_buf_html(), or into the Subject through alert_encode_subject().  The
 * few values that sit in other header fields (addresses, host name, queue
 * id) are reduced to safe octets by alert_hdr_*() first.
 *
 * Every input is cut before use, so every buffer has a bound that the
 * worst input cannot reach; an append that fails anyway is a bug
 * (MH_BUG: abort in test builds, a truncated part otherwise).
 */
#include "alert.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/rand.h>

#include "log.h"
#include "util.h"

#define ALERT_MSG_MAX		(16 * 1024 * 1024)
#define ALERT_PART_MAX		(4 * 1024 * 1024)
#define ALERT_SUBJ_CHARS	200	/* the original subject */
#define ALERT_HDRVAL_CHARS	1000	/* alert_encode_subject() input */
#define ALERT_TEXT_CHARS	1000	/* one finding text */
#define ALERT_ADDR_CHARS	320	/* one address (RFC 5321: 256) */
#define ALERT_REPLY_CHARS	500	/* one upstream reply */
#define ALERT_URL_MAX		2048
#define ALERT_HOST_MAX		255
#define ALERT_ID_MAX		64
#define ALERT_RCPTS_MAX		200	/* recipients listed */
#define ALERT_RCPTS_SCAN	1000	/* recipients looked at for flags */
#define ALERT_FINDINGS_MAX	50
#define ALERT_FRCPTS_MAX	10	/* recipients listed per finding */
#define ALERT_FRCPTS_SCAN	200	/* ... and compared for flags */
#define ALERT_FAILED_MAX	200	/* failed recipients listed */
#define ALERT_ORIGHDR_MAX	(64 * 1024)
#define ALERT_LINE_MAX		78	/* RFC 5322 section 2.1.1 */
#define ALERT_WIRE_MAX		998	/* same, MUST */
#define ALERT_EW_MAX		75	/* RFC 2047 section 2 */
#define ALERT_EW_PREFIX		"=?UTF-8?B?"
#define ALERT_EW_OVERHEAD	12	/* prefix and "?=" */
#define ALERT_PLAIN_WORD_MAX	60	/* longer ASCII words are encoded */
#define ALERT_B64_IN_LINE	57	/* 76 base64 chars (RFC 2045 6.8) */
#define ALERT_BOUNDARY_PREFIX	"=_mh_"	/* "=_" is never base64 */
#define ALERT_ORIG_DESC		"Undelivered message headers"
#define ALERT_DSN_VALUE_MAX	900	/* one delivery-status value */

/* ------------------------------------------------------------------ */
/* Texts                                                               */

/*
 * "{1}" and "{2}" in a template are replaced by arguments (escaped in
 * the HTML part; the template itself is trusted).  Plain text only: no
 * markup, so one template serves both parts.
 */
struct alert_text {
	const char	*lang;
	const char	*no_subject;
	const char	*subj_held;	/* {1} subject, {2} time */
	const char	*subj_await;	/* {1} subject */
	const char	*intro_held;	/* {1} time */
	const char	*intro_await;
	const char	*l_subject;
	const char	*l_goes_out;
	const char	*l_dropped;
	const char	*h_findings;
	const char	*suggest;	/* {1} address */
	const char	*concerns;	/* {1} list */
	const char	*h_rcpts;
	const char	*legend;
	const char	*flagged;
	const char	*more;		/* {1} count */
	const char	*act_held;	/* {1} time */
	const char	*act_await;	/* {1} time */
	const char	*open_held;
	const char	*open_await;
	const char	*btn_cancel;
	const char	*btn_send;
	const char	*page_note;
	const char	*no_link;
	const char	*footer;	/* {1} host, {2} queue id */
	const char	*automatic;
	/* failure notice */
	const char	*f_subj;
	const char	*f_subj_orig;	/* {1} subject */
	const char	*f_intro;	/* {1} host */
	const char	*f_explain;
	const char	*f_id;
	const char	*f_headers;
	const char	*f_no_headers;
	/* failure notice to notify.admin, {1}: the sender not told */
	const char	*f_admin_subj;
	const char	*f_admin_utf8;
	const char	*f_admin_notice;
	const char	*f_admin_headers;
	const char	*f_admin_no_headers;
};

static const struct alert_text alert_text_en = {
	.lang = "en",
	.no_subject = "(no subject)",
	.subj_held = "[mailhold] Held: {1} \u2014 goes out at {2}",
	.subj_await = "[mailhold] Waiting for you: {1} \u2014 will not be "
	    "sent unless you release it",
	.intro_held = "mailhold is holding your message before it goes "
	    "out. It will be sent at {1} unless you cancel it.",
	.intro_await = "mailhold is holding your message. It will NOT be "
	    "sent unless you open the page below and click \"Send now\".",
	.l_subject = "Subject",
	.l_goes_out = "Goes out",
	.l_dropped = "Dropped",
	.h_findings = "Why it was held",
	.suggest = "Did you mean {1}?",
	.concerns = "Recipients concerned: {1}",
	.h_rcpts = "Recipients",
	.legend = "(* = please check)",
	.flagged = "please check",
	.more = "and {1} more",
	.act_held = "If this is what you meant, there is nothing to do: "
	    "it goes out at {1}.",
	.act_await = "If you do nothing, it will not be sent: it is "
	    "dropped at {1}.",
	.open_held = "To cancel it, or to send it now, open this page:",
	.open_await = "To send it, open this page and click \"Send now\" "
	    "(you can also cancel it there):",
	.btn_cancel = "Cancel sending",
	.btn_send = "Send now",
	.page_note = "Opening the page changes nothing; only its buttons "
	    "do.",
	.no_link = "(The link is not available; ask your mail "
	    "administrator.)",
	.footer = "mailhold on {1}, queue id {2}",
	.automatic = "This is an automatic message.",
	.f_subj = "Undelivered Mail Returned to Sender",
	.f_subj_orig = "Undelivered Mail Returned to Sender: {1}",
	.f_intro = "This is the mailhold submission proxy at {1}.",
	.f_explain = "Your message could not be delivered to the "
	    "recipients below. For each of them, the answer of the "
	    "upstream mail server is given.",
	.f_id = "Queue id",
	.f_headers = "The headers of your message are attached.",
	.f_no_headers = "The headers of your message are no longer "
	    "available.",
	.f_admin_subj = "[mailhold] Could not tell {1} that their mail "
	    "failed",
	.f_admin_utf8 = "A message from {1} could not be delivered to the "
	    "recipients below, and mailhold cannot tell {1}: the upstream "
	    "mail server cannot carry that address (it does not offer "
	    "SMTPUTF8). Please tell them yourself.",
	.f_admin_notice = "mailhold's message to {1} (a notice about their "
	    "mail, or a hold alert) could not be delivered, so {1} has not "
	    "been told. Please tell them yourself. The failed recipient and "
	    "the upstream mail server's answer are below.",
	.f_admin_headers = "The headers of the message are attached.",
	.f_admin_no_headers = "The headers of the message are no longer "
	    "available.",
};

static const struct alert_text alert_text_ja = {
	.lang = "ja",
	.no_subject = "(件名なし)",
	.subj_held = "[mailhold] 保留中: {1} \u2014 {2} に送信されます",
	.subj_await = "[mailhold] 確認待ち: {1} \u2014 "
	    "送信をクリックしない限り送信されません",
	.intro_held = "送信前のメールを mailhold が保留しています。"
	    "取り消さない限り、{1} に送信されます。",
	.intro_await = "送信前のメールを mailhold が保留しています。"
	    "このメールは、あなたが送信をクリックしない限り送信されません。",
	.l_subject = "件名",
	.l_goes_out = "送信予定",
	.l_dropped = "破棄予定",
	.h_findings = "確認が必要な点",
	.suggest = "本来の宛先は {1} ではありませんか？",
	.concerns = "該当する宛先: {1}",
	.h_rcpts = "宛先",
	.legend = "(* は確認が必要な宛先)",
	.flagged = "要確認",
	.more = "ほか {1} 件",
	.act_held = "このままでよければ、何もする必要はありません。"
	    "{1} に送信されます。",
	.act_await = "何もしなければ、このメールは送信されず、"
	    "{1} に破棄されます。",
	.open_held = "送信を取り消す場合や、今すぐ送信する場合は、"
	    "次のページを開いてください:",
	.open_await = "送信する場合は、次のページを開いて"
	    "「今すぐ送信」をクリックしてください (取り消すこともできます):",
	.btn_cancel = "送信を取り消す",
	.btn_send = "今すぐ送信",
	.page_note = "ページを開くだけでは何も変更されません。"
	    "ページ上のボタンを押したときだけ変更されます。",
	.no_link = "(リンクを用意できませんでした。"
	    "メール管理者にお問い合わせください。)",
	.footer = "{1} の mailhold より (キュー ID: {2})",
	.automatic = "このメールは自動で送信されています。",
	.f_subj = "配信できなかったメールのお知らせ",
	.f_subj_orig = "配信できなかったメールのお知らせ: {1}",
	.f_intro = "こちらは {1} のメール送信プロキシ mailhold です。",
	.f_explain = "お送りいただいたメールを、次の宛先に配信できません"
	    "でした。宛先ごとに、送信先メールサーバーからの応答を記載します。",
	.f_id = "キュー ID",
	.f_headers = "お送りいただいたメールのヘッダーを添付しています。",
	.f_no_headers = "お送りいただいたメールのヘッダーは、"
	    "すでに残っていません。",
	.f_admin_subj = "[mailhold] {1} さんに配信不能を知らせられません"
	    "でした",
	.f_admin_utf8 = "{1} さんのメールを次の宛先に配信できませんでした"
	    "が、{1} さんにはお知らせを届けられません（送信先メールサーバーが"
	    "このアドレスの形式 SMTPUTF8 に対応していません）。ご本人に直接"
	    "お伝えください。",
	.f_admin_notice = "mailhold から {1} さんへのお知らせ（配信できな"
	    "かったメールのお知らせ、または保留のお知らせ）を配信できなかった"
	    "ため、{1} さんはこのことを知りません。ご本人に直接お伝えくださ"
	    "い。配信できなかった宛先と、送信先メールサーバーの応答を次に記載"
	    "します。",
	.f_admin_headers = "元のメールのヘッダーを添付しています。",
	.f_admin_no_headers = "元のメールのヘッダーは、すでに残っていま"
	    "せん。",
};

static const struct alert_text *
alert_text(enum alert_lang lang)
{
	return lang == ALERT_LANG_JA ? &alert_text_ja : &alert_text_en;
}

int
alert_lang_parse(const char *s)
{
	size_t n;

	if (s == NULL)
		return -1;
	/* The primary subtag: "ja", "ja-JP", "ja_JP.UTF-8". */
	n = strcspn(s, "-_.");
	if (n != 2 || (n < strlen(s) && s[n + 1] == '\0'))
		return -1;
	if (mh_strncasecmp(s, "en", 2) == 0)
		return ALERT_LANG_EN;
	if (mh_strncasecmp(s, "ja", 2) == 0)
		return ALERT_LANG_JA;
	return -1;
}

const char *
alert_lang_to_str(enum alert_lang lang)
{
	return alert_text(lang)->lang;
}

/* ------------------------------------------------------------------ */
/* Buffers                                                             */

static void
alert_putn(struct mh_buf *b, const void *p, size_t n)
{
	/* Cannot fail: every input is cut first (see the top comment). */
	if (mh_buf_append(b, p, n) == -1)
		MH_BUG("alert: buffer over its bound");
}

static void
alert_put(struct mh_buf *b, const char *s)
{
	alert_putn(b, s, strlen(s));
}

static void alert_printf(struct mh_buf *, const char *, ...) MH_PRINTF(2, 3);

/* Short lines of our own only: the arguments are bounded. */
static void
alert_printf(struct mh_buf *b, const char *fmt, ...)
{
	char line[1024];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = mh_vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	if (n < 0) {
		MH_BUG("alert: line too long");
		return;
	}
	alert_putn(b, line, (size_t)n);
}

static void
alert_html(struct mh_buf *b, const char *s)
{
	if (mh_buf_html(b, s, strlen(s)) == -1)
		MH_BUG("alert: buffer over its bound");
}

/* Appends tpl with {1} and {2} replaced by a1 and a2 (escaped for HTML
 * when html is set). */
static void
alert_tpl(struct mh_buf *b, bool html, const char *tpl, const char *a1,
    const char *a2)
{
	const char *p = tpl, *q, *a;

	while ((q = strchr(p, '{')) != NULL) {
		if ((q[1] != '1' && q[1] != '2') || q[2] != '}') {
			q++;
			alert_putn(b, p, (size_t)(q - p));
			p = q;
			continue;
		}
		alert_putn(b, p, (size_t)(q - p));
		a = q[1] == '1' ? a1 : a2;
		if (a == NULL)
			a = "";
		if (html)
			alert_html(b, a);
		else
			alert_put(b, a);
		p = q + 3;
	}
	alert_put(b, p);
}

/* ------------------------------------------------------------------ */
/* Cleaning untrusted text                                             */

static bool
alert_cp_is_space(unsigned cp)
{
	/* C0, DEL, C1, and the Unicode line / paragraph separators. */
	return cp < 0x20 || cp == 0x7f || (cp >= 0x80 && cp < 0xa0) ||
	    cp == 0x2028 || cp == 0x2029;
}

static bool
alert_cp_is_bidi(unsigned cp)
{
	/* Embeddings, overrides and isolates can make an address read
	 * backwards; marks (U+200E, U+200F) are harmless. */
	return (cp >= 0x202a && cp <= 0x202e) ||
	    (cp >= 0x2066 && cp <= 0x2069);
}

/*
 * Returns s (NULL as "") as one clean line: valid UTF-8 (bad octets and
 * bidi controls become U+FFFD), control characters as spaces, runs of
 * white space as one space, none at either end, and at most maxchars
 * characters, "…" marking a cut.  Reads at most about 4 * maxchars
 * octets of s.  The caller frees the result.
 */
static char *
alert_clean(const char *s, size_t maxchars)
{
	const unsigned char *p = (const unsigned char *)(s ? s : "");
	size_t len, bound, i = 0, n, nchars = 0;
	struct mh_buf b;
	bool pend = false, cut = false;
	unsigned cp;

	bound = maxchars * 4 + 16;
	len = strnlen((const char *)p, bound);
	mh_buf_init(&b, maxchars * 4 + 16);
	alert_putn(&b, "", 0);
	while (i < len) {
		if ((n = mh_utf8_seq(p + i, len - i, &cp)) == 0) {
			n = 1;
			cp = 0xfffd;
		}
		if (alert_cp_is_space(cp) || cp == ' ') {
			pend = b.len > 0;
			i += n;
			continue;
		}
		if (nchars + (pend ? 1 : 0) >= maxchars) {
			cut = true;
			break;
		}
		if (pend) {
			alert_putn(&b, " ", 1);
			nchars++;
			pend = false;
		}
		if (cp == 0xfffd || alert_cp_is_bidi(cp))
			alert_put(&b, "\xef\xbf\xbd");
		else
			alert_putn(&b, p + i, n);
		nchars++;
		i += n;
	}
	/* strnlen() stopped at the bound: there is more. */
	if (i == len && len == bound && p[len] != '\0')
		cut = true;
	if (cut)
		alert_put(&b, "\xe2\x80\xa6");	/* … */
	return mh_buf_steal(&b, NULL);
}

/* Appends an address for a header field (no CR, LF or other control
 * character, no invalid UTF-8, bounded). */
static void
alert_hdr_addr(struct mh_buf *b, const char *a)
{
	char *c = alert_clean(a, ALERT_ADDR_CHARS);
	size_t n = strlen(c);

	/* A cut address is wrong anyway: no 8-bit mark for it. */
	if (n >= 3 && strcmp(c + n - 3, "\xe2\x80\xa6") == 0)
		n -= 3;
	alert_putn(b, c, n);
	free(c);
}

/* Copies a host name or id, keeping only [A-Za-z0-9] and the octets in
 * extra; fallback when nothing is left. */
static void
alert_token(char *dst, size_t sz, const char *s, size_t max,
    const char *extra, const char *fallback)
{
	size_t i, o = 0;
	unsigned char c;

	for (i = 0; s != NULL && s[i] != '\0' && i < max && o + 1 < sz;
	    i++) {
		c = (unsigned char)s[i];
		if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		    (c >= '0' && c <= '9') ||
		    (extra != NULL && strchr(extra, c) != NULL))
			dst[o++] = (char)c;
	}
	dst[o] = '\0';
	if (o == 0)
		mh_strlcpy(dst, fallback, sz);
}

/* ------------------------------------------------------------------ */
/* Encodings                                                           */

static const char alert_b64_tab[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/* Writes the base64 of in[0..n) to out (4 * ceil(n / 3) octets, no NUL);
 * returns that length. */
static size_t
alert_b64(char *out, const unsigned char *in, size_t n)
{
	size_t i, o = 0;
	unsigned v;

	for (i = 0; i + 2 < n; i += 3) {
		v = (unsigned)in[i] << 16 | (unsigned)in[i + 1] << 8 |
		    in[i + 2];
		out[o++] = alert_b64_tab[v >> 18];
		out[o++] = alert_b64_tab[(v >> 12) & 63];
		out[o++] = alert_b64_tab[(v >> 6) & 63];
		out[o++] = alert_b64_tab[v & 63];
	}
	if (i < n) {
		v = (unsigned)in[i] << 16;
		if (i + 1 < n)
			v |= (unsigned)in[i + 1] << 8;
		out[o++] = alert_b64_tab[v >> 18];
		out[o++] = alert_b64_tab[(v >> 12) & 63];
		out[o++] = i + 1 < n ? alert_b64_tab[(v >> 6) & 63] : '=';
		out[o++] = '=';
	}
	return o;
}

static size_t
alert_b64_len(size_t n)
{
	return (n + 2) / 3 * 4;
}

/* Appends p[0..n) as base64 lines of 76 characters, each ending CRLF. */
static void
alert_b64_lines(struct mh_buf *b, const char *p, size_t n)
{
	char line[ALERT_B64_IN_LINE / 3 * 4 + 2];
	size_t i, k, o;

	for (i = 0; i < n; i += k) {
		k = n - i < ALERT_B64_IN_LINE ? n - i : ALERT_B64_IN_LINE;
		o = alert_b64(line, (const unsigned char *)p + i, k);
		line[o++] = '\r';
		line[o++] = '\n';
		alert_putn(b, line, o);
	}
}

/* Folding of one unstructured header value (RFC 5322 section 2.2.3). */
struct alert_fold {
	struct mh_buf	*b;
	size_t		 col;		/* octets on the current line */
	bool		 start;		/* nothing of the value yet */
	bool		 full;		/* an append failed */
};

static void
alert_fold_append(struct alert_fold *f, const char *p, size_t n)
{
	if (!f->full && mh_buf_append(f->b, p, n) == -1)
		f->full = true;
}

/* Appends one word, after a space or a fold when it would pass 78. */
static void
alert_fold_put(struct alert_fold *f, const char *w, size_t n)
{
	size_t sep = f->start ? 0 : 1;

	if (f->col > 1 && f->col + sep + n > ALERT_LINE_MAX) {
		alert_fold_append(f, "\r\n ", 3);
		f->col = 1;
	} else if (sep) {
		alert_fold_append(f, " ", 1);
		f->col++;
	}
	alert_fold_append(f, w, n);
	f->col += n;
	f->start = false;
}

/*
 * Appends r[0..n) (clean UTF-8) as encoded words.  Each takes as many
 * whole characters as fit in 75 octets and in what is left of the line,
 * so no character is split across words (RFC 2047 section 5 rule 3).
 * The white space between adjacent encoded words is not part of the text
 * (RFC 2047 section 6.2): spaces inside the run are encoded.
 */
static void
alert_fold_ew(struct alert_fold *f, const char *r, size_t n)
{
	char w[ALERT_EW_MAX + 1];
	size_t pos = 0, k, c, room, sep, o;
	unsigned cp;

	while (pos < n) {
		sep = f->start ? 0 : 1;
		room = f->col + sep < ALERT_LINE_MAX ?
		    ALERT_LINE_MAX - f->col - sep : 0;
		if (room > ALERT_EW_MAX)
			room = ALERT_EW_MAX;
		if ((c = mh_utf8_seq((const unsigned char *)r + pos,
		    n - pos, &cp)) == 0)
			c = 1;
		/* Not even one character fits: the word goes on a new
		 * line (alert_fold_put() folds). */
		if (room < ALERT_EW_OVERHEAD + alert_b64_len(c))
			room = ALERT_EW_MAX;
		for (k = 0; pos + k < n; k += c) {
			if ((c = mh_utf8_seq((const unsigned char *)r +
			    pos + k, n - pos - k, &cp)) == 0)
				c = 1;
			if (ALERT_EW_OVERHEAD + alert_b64_len(k + c) > room)
				break;
		}
		if (k == 0)		/* cannot happen: room >= 20 */
			k = c;
		memcpy(w, ALERT_EW_PREFIX, sizeof(ALERT_EW_PREFIX) - 1);
		o = sizeof(ALERT_EW_PREFIX) - 1;
		o += alert_b64(w + o, (const unsigned char *)r + pos, k);
		w[o++] = '?';
		w[o++] = '=';
		alert_fold_put(f, w, o);
		pos += k;
	}
}

/* Can this word stay as it is in an unstructured field? */
static bool
alert_word_plain(const char *w, size_t n)
{
	size_t i;

	if (n > ALERT_PLAIN_WORD_MAX)
		return false;
	for (i = 0; i < n; i++) {
		if ((unsigned char)w[i] <= 0x20 || (unsigned char)w[i] >= 0x7f)
			return false;
		/* It would read as the start of an encoded word. */
		if (w[i] == '=' && i + 1 < n && w[i + 1] == '?')
			return false;
	}
	return true;
}

int
alert_encode_subject(struct mh_buf *b, const char *utf8, size_t used)
{
	struct alert_fold f = { .b = b, .col = used, .start = true };
	size_t n, i, e, fs = SIZE_MAX, le = 0, len0 = b->len;
	char *s;

	s = alert_clean(utf8, ALERT_HDRVAL_CHARS);
	n = strlen(s);
	/* The words from the first to the last that cannot stay plain
	 * become one encoded run; the words around it stay readable. */
	for (i = 0; i < n; i = e + 1) {
		e = i + strcspn(s + i, " ");
		if (!alert_word_plain(s + i, e - i)) {
			if (fs == SIZE_MAX)
				fs = i;
			le = e;
		}
	}
	for (i = 0; i < n; i = e + 1) {
		if (i == fs) {
			alert_fold_ew(&f, s + fs, le - fs);
			e = le;
			continue;
		}
		e = i + strcspn(s + i, " ");
		alert_fold_put(&f, s + i, e - i);
	}
	free(s);
	if (f.full) {
		/* Take back the partial value. */
		b->len = len0;
		if (b->data != NULL)
			b->data[len0] = '\0';
		return -1;
	}
	return 0;
}

/* ------------------------------------------------------------------ */
/* Time                                                                */

int
alert_time_str(int64_t t, int64_t now, enum alert_lang lang, bool with_zone,
    char *buf, size_t sz)
{
	static const char *const mo[] = { "Jan", "Feb", "Mar", "Apr", "May",
	    "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec" };
	struct tm tm, tn;
	time_t tt, nt;
	char date[64], zone[24], z[32];
	bool today = false, thisyear = false;
	int r;

	if (sz == 0)
		return -1;
	buf[0] = '\0';
	tt = (time_t)t;
	if ((int64_t)tt != t || localtime_r(&tt, &tm) == NULL ||
	    tm.tm_mon < 0 || tm.tm_mon > 11)
		return -1;
	nt = (time_t)now;
	if ((int64_t)nt == now && localtime_r(&nt, &tn) != NULL) {
		thisyear = tn.tm_year == tm.tm_year;
		today = thisyear && tn.tm_yday == tm.tm_yday;
	}
	if (today)
		r = mh_snprintf(date, sizeof(date), "%s", "");
	else if (lang == ALERT_LANG_JA && thisyear)
		r = mh_snprintf(date, sizeof(date), "%d\xe6\x9c\x88%d"
		    "\xe6\x97\xa5 ", tm.tm_mon + 1, tm.tm_mday); /* 月 日 */
	else if (lang == ALERT_LANG_JA)
		r = mh_snprintf(date, sizeof(date), "%lld\xe5\xb9\xb4%d"
		    "\xe6\x9c\x88%d\xe6\x97\xa5 ",	/* 年 月 日 */
		    (long long)tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday);
	else if (thisyear)
		r = mh_snprintf(date, sizeof(date), "%d %s ", tm.tm_mday,
		    mo[tm.tm_mon]);
	else
		r = mh_snprintf(date, sizeof(date), "%d %s %lld ", tm.tm_mday,
		    mo[tm.tm_mon], (long long)tm.tm_year + 1900);
	if (r == -1)
		return -1;
	z[0] = '\0';
	if (with_zone) {
		/* The zone's abbreviation ("JST"), else its offset. */
		if (strftime(zone, sizeof(zone), "%Z", &tm) == 0 ||
		    zone[0] == '\0')
			if (strftime(zone, sizeof(zone), "%z", &tm) == 0)
				zone[0] = '\0';
		if (zone[0] != '\0' && mh_snprintf(z, sizeof(z),
		    lang == ALERT_LANG_JA ? " (%s)" : " %s", zone) == -1)
			z[0] = '\0';
	}
	/* Without the zone when only that does not fit. */
	if (mh_snprintf(buf, sz, "%s%02d:%02d%s", date, tm.tm_hour, tm.tm_min,
	    z) == -1 && mh_snprintf(buf, sz, "%s%02d:%02d", date,
	    tm.tm_hour, tm.tm_min) == -1) {
		buf[0] = '\0';
		return -1;
	}
	return 0;
}

/* RFC 5322 section 3.3 date-time in local time; the names are not taken
 * from the locale. */
static void
alert_date(int64_t t, char *buf, size_t sz)
{
	static const char *const wd[] = { "Sun", "Mon", "Tue", "Wed", "Thu",
	    "Fri", "Sat" };
	static const char *const mo[] = { "Jan", "Feb", "Mar", "Apr", "May",
	    "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec" };
	time_t tt = (time_t)t;
	struct tm tm;
	char zone[8];

	if (localtime_r(&tt, &tm) == NULL || tm.tm_wday < 0 ||
	    tm.tm_wday > 6 || tm.tm_mon < 0 || tm.tm_mon > 11) {
		tt = 0;
		gmtime_r(&tt, &tm);
	}
	if (strftime(zone, sizeof(zone), "%z", &tm) == 0)
		mh_strlcpy(zone, "+0000", sizeof(zone));
	if (mh_snprintf(buf, sz, "%s, %d %s %04d %02d:%02d:%02d %s",
	    wd[tm.tm_wday], tm.tm_mday, mo[tm.tm_mon], tm.tm_year + 1900,
	    tm.tm_hour, tm.tm_min, tm.tm_sec, zone) < 0)
		mh_strlcpy(buf, "Thu, 1 Jan 1970 00:00:00 +0000", sz);
}

/* ------------------------------------------------------------------ */
/* Message skeleton                                                    */

/* n random octets as 2n hex digits. */
static void
alert_rand_hex(char *out, size_t n)
{
	static const char hex[] = "0123456789abcdef";
	unsigned char r[32];
	size_t i;

	if (n > sizeof(r))
		n = sizeof(r);
	if (RAND_bytes(r, (int)n) != 1) {
		/* The boundary is safe without randomness ("=_" never
		 * occurs in base64); only the Message-ID loses. */
		uint64_t x = (uint64_t)mh_now_ms() ^ (uint64_t)(uintptr_t)out;
		log_warnx("event=alert_rand_failed");
		for (i = 0; i < n; i++) {
			x = x * 6364136223846793005ULL + 1442695040888963407ULL;
			r[i] = (unsigned char)(x >> 56);
		}
	}
	for (i = 0; i < n; i++) {
		out[2 * i] = hex[r[i] >> 4];
		out[2 * i + 1] = hex[r[i] & 15];
	}
	out[2 * n] = '\0';
}

struct alert_ids {
	char	 host[ALERT_HOST_MAX + 1];
	char	 id[ALERT_ID_MAX + 1];
	char	 bnd[sizeof(ALERT_BOUNDARY_PREFIX) + 24];
	char	 msgid[ALERT_ID_MAX + 24];	/* before ".kind@host" */
	char	 date[64];
};

static void
alert_ids_init(struct alert_ids *x, const char *host, const char *id,
    int64_t now)
{
	char r[17];

	alert_token(x->host, sizeof(x->host), host, ALERT_HOST_MAX, ".-",
	    "localhost");
	alert_token(x->id, sizeof(x->id), id, ALERT_ID_MAX, NULL, "");
	memcpy(x->bnd, ALERT_BOUNDARY_PREFIX,
	    sizeof(ALERT_BOUNDARY_PREFIX) - 1);
	alert_rand_hex(x->bnd + sizeof(ALERT_BOUNDARY_PREFIX) - 1, 12);
	alert_rand_hex(r, 8);
	if (x->id[0] != '\0')
		mh_snprintf(x->msgid, sizeof(x->msgid), "%s.%s", x->id, r);
	else
		mh_strlcpy(x->msgid, r, sizeof(x->msgid));
	alert_date(now, x->date, sizeof(x->date));
}

/* To: the one recipient; never CR, LF or another control.  An address
 * with a quoted local part (which may hold "<", "," or spaces and read
 * as several recipients in a lax mail client) is not shown: the
 * envelope says where the alert goes. */
static void
alert_hdr_to(struct mh_buf *m, const char *to)
{
	if (to == NULL || to[0] == '\0' || strpbrk(to, "\"<>,; ()\\") !=
	    NULL) {
		alert_put(m, "To: undisclosed-recipients:;\r\n");
		return;
	}
	alert_put(m, "To: <");
	alert_hdr_addr(m, to);
	alert_put(m, ">\r\n");
}

static void
alert_hdr_subject(struct mh_buf *m, const char *subj)
{
	alert_put(m, "Subject: ");
	if (alert_encode_subject(m, subj, sizeof("Subject: ") - 1) == -1)
		MH_BUG("alert: subject over its bound");
	alert_put(m, "\r\n");
}

/* One base64 body part; data is the whole text, CRLF lines. */
static void
alert_part_b64(struct mh_buf *m, const char *bnd, const char *ctype,
    const char *desc, const struct mh_buf *data)
{
	alert_printf(m, "--%s\r\n", bnd);
	alert_printf(m, "Content-Type: %s\r\n", ctype);
	if (desc != NULL)
		alert_printf(m, "Content-Description: %s\r\n", desc);
	alert_put(m, "Content-Transfer-Encoding: base64\r\n\r\n");
	alert_b64_lines(m, data->data ? data->data : "", data->len);
	alert_put(m, "\r\n");
}

/* ------------------------------------------------------------------ */
/* The alert                                                           */

/* A cleaned copy of the view's recipients and findings. */
struct alert_lists {
	char	**rcpt;		/* shown: flagged first, at most 200 */
	bool	 *flag;
	size_t	  nrcpt;
	size_t	  more;		/* recipients not shown */
	size_t	  nfind;
	char	**ftext, **fsugg;
	char	**frcpts;	/* "a, b, and N more" (text, not escaped) */
};

static bool
alert_flagged(const struct alert_view *v, const char *r)
{
	const struct alert_finding *f;
	size_t i, j, n;

	for (i = 0; i < v->nfindings && i < ALERT_FINDINGS_MAX; i++) {
		f = &v->findings[i];
		n = f->nrcpts < ALERT_FRCPTS_SCAN ? f->nrcpts :
		    ALERT_FRCPTS_SCAN;
		for (j = 0; f->rcpts != NULL && j < n; j++)
			if (f->rcpts[j] != NULL &&
			    mh_strcasecmp(f->rcpts[j], r) == 0)
				return true;
	}
	return false;
}

bool
alert_finding_same(const struct alert_finding *x,
    const struct alert_finding *y, size_t text_max, size_t sugg_max)
{
	return (x->text == y->text || (x->text != NULL && y->text != NULL &&
	    strncmp(x->text, y->text, text_max) == 0)) &&
	    (x->suggestion == y->suggestion || (x->suggestion != NULL &&
	    y->suggestion != NULL && strncmp(x->suggestion, y->suggestion,
	    sugg_max) == 0));
}

/* Same explanation, as far as alert_clean() reads them. */
static bool
alert_same_finding(const struct alert_finding *x,
    const struct alert_finding *y)
{
	return alert_finding_same(x, y, 4 * ALERT_TEXT_CHARS + 16,
	    4 * ALERT_ADDR_CHARS + 16);
}

static int
alert_addr_cmp(const void *a, const void *b)
{
	return mh_strcasecmp(*(const char *const *)a,
	    *(const char *const *)b);
}

/*
 * "a, b, c, and 4 more" of the recipients of the findings fs[0..n) (one
 * explanation: findings with the same text are told once), each address
 * once (ASCII case ignored).  At most ALERT_FRCPTS_SCAN addresses of each
 * finding are compared; those past it are counted as they are.
 */
static char *
alert_join_rcpts(const struct alert_text *T,
    const struct alert_finding *const *fs, size_t n)
{
	struct mh_buf b;
	const char **all, *shown[ALERT_FRCPTS_MAX];
	char num[32], *c;
	size_t i, j, k, m, nall = 0, nshown = 0, total = 0, extra = 0;

	for (i = 0; i < n; i++)
		if (fs[i]->rcpts != NULL)
			total += fs[i]->nrcpts < ALERT_FRCPTS_SCAN ?
			    fs[i]->nrcpts : ALERT_FRCPTS_SCAN;
	all = xcalloc(total + 1, sizeof(*all));
	for (i = 0; i < n; i++) {
		if (fs[i]->rcpts == NULL) {
			extra += fs[i]->nrcpts;
			continue;
		}
		m = fs[i]->nrcpts < ALERT_FRCPTS_SCAN ? fs[i]->nrcpts :
		    ALERT_FRCPTS_SCAN;
		extra += fs[i]->nrcpts - m;
		for (j = 0; j < m; j++) {
			if (fs[i]->rcpts[j] == NULL)
				continue;
			all[nall++] = fs[i]->rcpts[j];
			for (k = 0; k < nshown && mh_strcasecmp(shown[k],
			    fs[i]->rcpts[j]) != 0; k++)
				;
			if (k == nshown && nshown < ALERT_FRCPTS_MAX)
				shown[nshown++] = fs[i]->rcpts[j];
		}
	}
	/* Distinct addresses: sorted, runs counted once. */
	qsort(all, nall, sizeof(*all), alert_addr_cmp);
	for (i = total = 0; i < nall; i++)
		if (i == 0 || mh_strcasecmp(all[i - 1], all[i]) != 0)
			total++;
	free(all);
	total += extra;

	mh_buf_init(&b, ALERT_FRCPTS_MAX * (ALERT_ADDR_CHARS * 4 + 20) + 64);
	alert_putn(&b, "", 0);
	for (i = 0; i < nshown; i++) {
		c = alert_clean(shown[i], ALERT_ADDR_CHARS);
		if (i > 0)
			alert_put(&b, ", ");
		alert_put(&b, c);
		free(c);
	}
	if (total > nshown) {
		mh_snprintf(num, sizeof(num), "%zu", total - nshown);
		alert_put(&b, nshown > 0 ? ", " : "");
		alert_tpl(&b, false, T->more, num, NULL);
	}
	return mh_buf_steal(&b, NULL);
}

static void
alert_lists_init(struct alert_lists *l, const struct alert_view *v,
    const struct alert_text *T)
{
	size_t i, j, pass, nscan, nf;
	bool *flag;

	memset(l, 0, sizeof(*l));
	nscan = v->rcpts == NULL ? 0 :
	    v->nrcpts < ALERT_RCPTS_SCAN ? v->nrcpts : ALERT_RCPTS_SCAN;
	flag = xcalloc(nscan + 1, sizeof(*flag));
	for (i = 0; i < nscan; i++)
		flag[i] = v->rcpts[i] != NULL && alert_flagged(v, v->rcpts[i]);
	l->rcpt = xcalloc(ALERT_RCPTS_MAX, sizeof(*l->rcpt));
	l->flag = xcalloc(ALERT_RCPTS_MAX, sizeof(*l->flag));
	/* Flagged ones first, so the cap never hides them. */
	for (pass = 0; pass < 2; pass++)
		for (i = 0; i < nscan && l->nrcpt < ALERT_RCPTS_MAX; i++) {
			if (v->rcpts[i] == NULL || flag[i] != (pass == 0))
				continue;
			l->rcpt[l->nrcpt] = alert_clean(v->rcpts[i],
			    ALERT_ADDR_CHARS);
			l->flag[l->nrcpt++] = flag[i];
		}
	free(flag);
	l->more = v->nrcpts > l->nrcpt ? v->nrcpts - l->nrcpt : 0;

	nf = v->findings == NULL ? 0 : v->nfindings <
	    ALERT_FINDINGS_MAX ? v->nfindings : ALERT_FINDINGS_MAX;
	l->ftext = xcalloc(nf + 1, sizeof(*l->ftext));
	l->fsugg = xcalloc(nf + 1, sizeof(*l->fsugg));
	l->frcpts = xcalloc(nf + 1, sizeof(*l->frcpts));
	/* One entry per explanation: findings with the same text (a rule
	 * that flags many recipients alike) are told once, with all their
	 * recipients. */
	for (i = 0; i < nf; i++) {
		const struct alert_finding *fs[ALERT_FINDINGS_MAX];
		size_t n = 0;

		for (j = 0; j < i && !alert_same_finding(&v->findings[j],
		    &v->findings[i]); j++)
			;
		if (j < i)
			continue;	/* told with the first one */
		for (j = i; j < nf; j++)
			if (alert_same_finding(&v->findings[i],
			    &v->findings[j]))
				fs[n++] = &v->findings[j];
		l->ftext[l->nfind] = alert_clean(v->findings[i].text,
		    ALERT_TEXT_CHARS);
		if (v->findings[i].suggestion != NULL)
			l->fsugg[l->nfind] = alert_clean(
			    v->findings[i].suggestion, ALERT_ADDR_CHARS);
		for (j = 0; j < n && fs[j]->nrcpts == 0; j++)
			;
		if (j < n)
			l->frcpts[l->nfind] = alert_join_rcpts(T, fs, n);
		l->nfind++;
	}
}

static void
alert_lists_clear(struct alert_lists *l)
{
	size_t i;

	for (i = 0; i < l->nrcpt; i++)
		free(l->rcpt[i]);
	for (i = 0; i < l->nfind; i++) {
		free(l->ftext[i]);
		free(l->fsugg[i]);
		free(l->frcpts[i]);
	}
	free(l->rcpt);
	free(l->flag);
	free(l->ftext);
	free(l->fsugg);
	free(l->frcpts);
}

/* Only an http(s) URL becomes a link (never "javascript:" or data:). */
static bool
alert_url_ok(const char *u)
{
	size_t i, n;

	if (u == NULL)
		return false;
	n = strnlen(u, ALERT_URL_MAX + 1);
	if (n > ALERT_URL_MAX)
		return false;
	if (mh_strncasecmp(u, "https://", 8) != 0 &&
	    mh_strncasecmp(u, "http://", 7) != 0)
		return false;
	for (i = 0; i < n; i++)
		if ((unsigned char)u[i] <= 0x20 ||
		    (unsigned char)u[i] >= 0x7f || strchr("\"'<>\\", u[i]))
			return false;
	return true;
}

/* What the two parts share. */
struct alert_ctx {
	const struct alert_view	*v;
	const struct alert_text	*T;
	struct alert_lists	 l;
	const struct alert_ids	*x;
	const char		*subject;	/* clean, or "(no subject)" */
	const char		*subject_line;	/* the Subject field, UTF-8 */
	char			 when[96];	/* "14:05" */
	char			 whenz[128];	/* "14:05 JST" */
	bool			 url_ok;
	char			 more[32];	/* l.more as digits */
};

static void
alert_text_part(const struct alert_ctx *c, struct mh_buf *b)
{
	const struct alert_view *v = c->v;
	const struct alert_text *T = c->T;
	size_t i;

	alert_tpl(b, false, v->awaiting ? T->intro_await : T->intro_held,
	    c->whenz, NULL);
	alert_put(b, "\r\n\r\n");
	alert_tpl(b, false, "  {1}: {2}\r\n", T->l_subject, c->subject);
	alert_tpl(b, false, "  {1}: {2}\r\n",
	    v->awaiting ? T->l_dropped : T->l_goes_out, c->whenz);
	if (c->l.nfind > 0) {
		alert_tpl(b, false, "\r\n{1}:\r\n\r\n", T->h_findings, NULL);
		for (i = 0; i < c->l.nfind; i++) {
			alert_tpl(b, false, "  - {1}\r\n", c->l.ftext[i],
			    NULL);
			/* The policy's text usually names it already. */
			if (c->l.fsugg[i] != NULL && (c->l.ftext[i] == NULL ||
			    strstr(c->l.ftext[i], c->l.fsugg[i]) == NULL)) {
				alert_put(b, "    ");
				alert_tpl(b, false, T->suggest, c->l.fsugg[i],
				    NULL);
				alert_put(b, "\r\n");
			}
			if (c->l.frcpts[i] != NULL) {
				alert_put(b, "    ");
				alert_tpl(b, false, T->concerns,
				    c->l.frcpts[i], NULL);
				alert_put(b, "\r\n");
			}
		}
	}
	alert_tpl(b, false, "\r\n{1} {2}:\r\n\r\n", T->h_rcpts, T->legend);
	for (i = 0; i < c->l.nrcpt; i++)
		alert_tpl(b, false, c->l.flag[i] ? "  * {1}\r\n" :
		    "    {1}\r\n", c->l.rcpt[i], NULL);
	if (c->l.more > 0) {
		alert_put(b, "    ");
		alert_tpl(b, false, T->more, c->more, NULL);
		alert_put(b, "\r\n");
	}
	alert_put(b, "\r\n");
	alert_tpl(b, false, v->awaiting ? T->act_await : T->act_held,
	    c->whenz, NULL);
	alert_put(b, "\r\n\r\n");
	alert_put(b, v->awaiting ? T->open_await : T->open_held);
	alert_put(b, "\r\n\r\n  ");
	alert_put(b, c->url_ok ? v->url : T->no_link);
	alert_put(b, "\r\n\r\n");
	if (c->url_ok) {
		alert_put(b, T->page_note);
		alert_put(b, "\r\n\r\n");
	}
	alert_put(b, "-- \r\n");
	alert_tpl(b, false, T->footer, c->x->host, c->x->id);
	alert_put(b, "\r\n");
	alert_put(b, T->automatic);
	alert_put(b, "\r\n");
}

#define ALERT_CSS_BODY	"margin:0;padding:16px;background:#ffffff;" \
	"color:#222222;font-family:sans-serif;font-size:15px;line-height:1.5"
#define ALERT_CSS_TH	"text-align:left;vertical-align:top;" \
	"padding:2px 16px 2px 0;font-weight:normal;color:#555555"
#define ALERT_CSS_H2	"font-size:16px;margin:24px 0 8px 0"
#define ALERT_CSS_WARN	"margin:0 0 16px 0;padding:8px 12px;" \
	"border-left:4px solid #c62828;background:#fdecea"
#define ALERT_CSS_BTN	"display:inline-block;margin:0 8px 8px 0;" \
	"padding:10px 18px;border-radius:4px;text-decoration:none;" \
	"font-weight:bold;color:#ffffff;background:"
#define ALERT_CSS_NOTE	"color:#555555;font-size:13px"

static void
alert_html_button(const struct alert_ctx *c, struct mh_buf *b,
    const char *label, const char *bg)
{
	alert_put(b, "<a href=\"");
	alert_html(b, c->v->url);
	alert_printf(b, "\" style=\"%s%s\">", ALERT_CSS_BTN, bg);
	alert_html(b, label);
	alert_put(b, "</a>\r\n");
}

static void
alert_html_part(const struct alert_ctx *c, struct mh_buf *b)
{
	const struct alert_view *v = c->v;
	const struct alert_text *T = c->T;
	size_t i;

	alert_printf(b, "<!DOCTYPE html>\r\n<html lang=\"%s\">\r\n<head>\r\n"
	    "<meta charset=\"utf-8\">\r\n<meta name=\"viewport\" "
	    "content=\"width=device-width, initial-scale=1\">\r\n<title>",
	    T->lang);
	alert_html(b, c->subject_line);
	alert_printf(b, "</title>\r\n</head>\r\n<body style=\"%s\">\r\n"
	    "<div style=\"max-width:640px\">\r\n", ALERT_CSS_BODY);
	if (v->awaiting) {
		alert_printf(b, "<p style=\"%s\"><strong>", ALERT_CSS_WARN);
		alert_tpl(b, true, T->intro_await, NULL, NULL);
		alert_put(b, "</strong></p>\r\n");
	} else {
		alert_put(b, "<p>");
		alert_tpl(b, true, T->intro_held, c->whenz, NULL);
		alert_put(b, "</p>\r\n");
	}
	alert_put(b, "<table style=\"border-collapse:collapse\">\r\n");
	alert_printf(b, "<tr><th style=\"%s\">", ALERT_CSS_TH);
	alert_tpl(b, true, "{1}</th><td>{2}</td></tr>\r\n", T->l_subject,
	    c->subject);
	alert_printf(b, "<tr><th style=\"%s\">", ALERT_CSS_TH);
	alert_tpl(b, true, "{1}</th><td><strong>{2}</strong></td></tr>\r\n",
	    v->awaiting ? T->l_dropped : T->l_goes_out, c->whenz);
	alert_put(b, "</table>\r\n");

	if (c->l.nfind > 0) {
		alert_printf(b, "<h2 style=\"%s\">", ALERT_CSS_H2);
		alert_tpl(b, true, "{1}</h2>\r\n"
		    "<ul style=\"padding-left:20px\">\r\n", T->h_findings,
		    NULL);
		for (i = 0; i < c->l.nfind; i++) {
			alert_tpl(b, true, "<li style=\"margin-bottom:8px\">"
			    "{1}", c->l.ftext[i], NULL);
			/* The policy's text usually names it already. */
			if (c->l.fsugg[i] != NULL && (c->l.ftext[i] == NULL ||
			    strstr(c->l.ftext[i], c->l.fsugg[i]) == NULL)) {
				alert_put(b, "<br>\r\n<strong>");
				alert_tpl(b, true, T->suggest, c->l.fsugg[i],
				    NULL);
				alert_put(b, "</strong>");
			}
			if (c->l.frcpts[i] != NULL) {
				alert_printf(b, "<br>\r\n<span style=\"%s\">",
				    ALERT_CSS_NOTE);
				alert_tpl(b, true, T->concerns,
				    c->l.frcpts[i], NULL);
				alert_put(b, "</span>");
			}
			alert_put(b, "</li>\r\n");
		}
		alert_put(b, "</ul>\r\n");
	}

	alert_printf(b, "<h2 style=\"%s\">", ALERT_CSS_H2);
	alert_tpl(b, true, "{1}</h2>\r\n<ul style=\"padding-left:20px\">\r\n",
	    T->h_rcpts, NULL);
	for (i = 0; i < c->l.nrcpt; i++) {
		if (c->l.flag[i])
			alert_tpl(b, true, "<li><strong style=\"color:#c62828"
			    "\">\u26a0 {1}</strong> ({2})</li>\r\n",
			    c->l.rcpt[i], T->flagged);
		else
			alert_tpl(b, true, "<li>{1}</li>\r\n", c->l.rcpt[i],
			    NULL);
	}
	if (c->l.more > 0) {
		alert_put(b, "<li>");
		alert_tpl(b, true, T->more, c->more, NULL);
		alert_put(b, "</li>\r\n");
	}
	alert_put(b, "</ul>\r\n<p>");
	alert_tpl(b, true, v->awaiting ? T->act_await : T->act_held,
	    c->whenz, NULL);
	alert_put(b, "</p>\r\n<p>");
	alert_html(b, v->awaiting ? T->open_await : T->open_held);
	alert_put(b, "</p>\r\n");
	if (c->url_ok) {
		alert_put(b, "<p>\r\n");
		if (v->awaiting) {
			alert_html_button(c, b, T->btn_send, "#2e7d32");
			alert_html_button(c, b, T->btn_cancel, "#c62828");
		} else {
			alert_html_button(c, b, T->btn_cancel, "#c62828");
			alert_html_button(c, b, T->btn_send, "#2e7d32");
		}
		alert_put(b, "</p>\r\n");
		alert_printf(b, "<p style=\"%s\">", ALERT_CSS_NOTE);
		alert_html(b, T->page_note);
		alert_put(b, "<br>\r\n");
		alert_html(b, v->url);
		alert_put(b, "</p>\r\n");
	} else {
		alert_put(b, "<p>");
		alert_html(b, T->no_link);
		alert_put(b, "</p>\r\n");
	}
	alert_printf(b, "<hr style=\"border:0;border-top:1px solid #dddddd\">"
	    "\r\n<p style=\"%s\">", ALERT_CSS_NOTE);
	alert_tpl(b, true, T->footer, c->x->host, c->x->id);
	alert_put(b, "<br>\r\n");
	alert_html(b, T->automatic);
	alert_put(b, "</p>\r\n</div>\r\n</body>\r\n</html>\r\n");
}

char *
alert_build(const struct alert_view *v, size_t *lenp)
{
	const struct alert_text *T = alert_text(v->lang);
	struct alert_ctx c;
	struct alert_ids x;
	struct mh_buf m, txt, html, subj;
	char *s;

	memset(&c, 0, sizeof(c));
	c.v = v;
	c.T = T;
	c.x = &x;
	alert_ids_init(&x, v->hostname, v->id, v->now);
	alert_lists_init(&c.l, v, T);
	mh_snprintf(c.more, sizeof(c.more), "%zu", c.l.more);
	s = alert_clean(v->subject, ALERT_SUBJ_CHARS);
	c.subject = s[0] != '\0' ? s : T->no_subject;
	if (alert_time_str(v->release_at, v->now, v->lang, false, c.when,
	    sizeof(c.when)) == -1)
		mh_strlcpy(c.when, "?", sizeof(c.when));
	if (alert_time_str(v->release_at, v->now, v->lang, true, c.whenz,
	    sizeof(c.whenz)) == -1)
		mh_strlcpy(c.whenz, "?", sizeof(c.whenz));
	c.url_ok = alert_url_ok(v->url);

	mh_buf_init(&subj, ALERT_HDRVAL_CHARS * 4);
	alert_tpl(&subj, false, v->awaiting ? T->subj_await : T->subj_held,
	    c.subject, c.when);
	c.subject_line = subj.data;

	mh_buf_init(&txt, ALERT_PART_MAX);
	alert_text_part(&c, &txt);
	mh_buf_init(&html, ALERT_PART_MAX);
	alert_html_part(&c, &html);

	mh_buf_init(&m, ALERT_MSG_MAX);
	alert_put(&m, "From: \"mailhold\" <");
	if (v->from_addr != NULL && v->from_addr[0] != '\0')
		alert_hdr_addr(&m, v->from_addr);
	else
		alert_printf(&m, "mailhold@%s", x.host);
	alert_put(&m, ">\r\n");
	alert_hdr_to(&m, v->to);
	alert_hdr_subject(&m, c.subject_line);
	alert_printf(&m, "Date: %s\r\n", x.date);
	alert_printf(&m, "Message-ID: <%s.alert@%s>\r\n", x.msgid, x.host);
	alert_put(&m, "Auto-Submitted: auto-generated\r\n"
	    "X-Auto-Response-Suppress: All\r\n"
	    "MIME-Version: 1.0\r\n");
	alert_printf(&m, "Content-Language: %s\r\n", T->lang);
	alert_printf(&m, "Content-Type: multipart/alternative;\r\n"
	    "\tboundary=\"%s\"\r\n\r\n", x.bnd);
	alert_put(&m, "This is a multi-part message in MIME format.\r\n\r\n");
	alert_part_b64(&m, x.bnd, "text/plain; charset=UTF-8", NULL, &txt);
	alert_part_b64(&m, x.bnd, "text/html; charset=UTF-8", NULL, &html);
	alert_printf(&m, "--%s--\r\n", x.bnd);

	mh_buf_clear(&txt);
	mh_buf_clear(&html);
	mh_buf_clear(&subj);
	alert_lists_clear(&c.l);
	free(s);
	return mh_buf_steal(&m, lenp);
}

/* ------------------------------------------------------------------ */
/* The failure notice                                                  */

/*
 * The RFC 3464 status of a reply: "550 5.1.1 ..." gives 5.1.1, a bare
 * "550 ..." gives 5.0.0; *smtp says it was an SMTP reply at all (else a
 * local reason such as a timeout, reported as 5.0.0).
 */
static void
alert_dsn_status(const char *r, char *st, size_t sz, bool *smtp)
{
	size_t i, n;

	*smtp = false;
	mh_strlcpy(st, "5.0.0", sz);
	if (r == NULL || !(r[0] >= '2' && r[0] <= '5') ||
	    !(r[1] >= '0' && r[1] <= '9') || !(r[2] >= '0' && r[2] <= '9') ||
	    (r[3] != ' ' && r[3] != '-' && r[3] != '\0'))
		return;
	*smtp = true;
	if (r[0] == '4')
		mh_strlcpy(st, "4.0.0", sz);
	if (r[3] == '\0')
		return;
	/* class "." subject "." detail (RFC 3463 section 2) */
	r += 4;
	if ((r[0] != '2' && r[0] != '4' && r[0] != '5') || r[1] != '.')
		return;
	for (i = 2, n = 0; r[i] >= '0' && r[i] <= '9'; i++, n++)
		;
	if (n < 1 || n > 3 || r[i] != '.')
		return;
	for (i++, n = 0; r[i] >= '0' && r[i] <= '9'; i++, n++)
		;
	if (n < 1 || n > 3 || (r[i] != ' ' && r[i] != '\0'))
		return;
	if (i < sz) {
		memcpy(st, r, i);
		st[i] = '\0';
	}
}

/* A delivery-status field value: printable ASCII only (RFC 3464
 * section 2.1: the part is 7bit); other octets become "+XX" as in xtext
 * (RFC 3461 section 4).  At most ALERT_DSN_VALUE_MAX octets, so a line
 * stays under 998 even when a word cannot be folded.  XXX an SMTPUTF8
 * address would want RFC 6533 message/global-delivery-status. */
static void
alert_dsn_ascii(struct mh_buf *b, const char *s)
{
	static const char hex[] = "0123456789ABCDEF";
	size_t start = b->len;
	unsigned char c;
	char e[3];

	for (; *s != '\0'; s++) {
		c = (unsigned char)*s;
		if (c >= 0x20 && c < 0x7f) {
			e[0] = (char)c;
			if (b->len - start + 1 > ALERT_DSN_VALUE_MAX)
				break;
			alert_putn(b, e, 1);
			continue;
		}
		if (b->len - start + 3 > ALERT_DSN_VALUE_MAX)
			break;
		e[0] = '+';
		e[1] = hex[c >> 4];
		e[2] = hex[c & 15];
		alert_putn(b, e, 3);
	}
}

/* "Name: value" folded at spaces (value is printable ASCII). */
static void
alert_dsn_field(struct mh_buf *b, const char *name, const char *value)
{
	struct alert_fold f = { .b = b, .start = true };
	size_t i, e, n = strlen(value);

	alert_put(b, name);
	alert_put(b, ": ");
	f.col = strlen(name) + 2;
	for (i = 0; i < n; i = e + 1) {
		e = i + strcspn(value + i, " ");
		if (e > i)
			alert_fold_put(&f, value + i, e - i);
	}
	alert_put(b, "\r\n");
}

static void
alert_dsn_part(struct mh_buf *m, const struct alert_failure_view *v,
    const struct alert_ids *x)
{
	struct mh_buf val;
	char st[16], *a, *r;
	size_t i;
	bool smtp;

	alert_printf(m, "--%s\r\n", x->bnd);
	alert_put(m, "Content-Type: message/delivery-status\r\n"
	    "Content-Description: Delivery report\r\n\r\n");
	alert_printf(m, "Reporting-MTA: dns; %s\r\n", x->host);
	if (x->id[0] != '\0')
		alert_printf(m, "X-Mailhold-Queue-ID: %s\r\n", x->id);
	mh_buf_init(&val, ALERT_ADDR_CHARS * 12 + ALERT_REPLY_CHARS * 12);
	for (i = 0; i < v->n && i < ALERT_FAILED_MAX; i++) {
		a = alert_clean(v->addrs[i], ALERT_ADDR_CHARS);
		r = alert_clean(v->replies != NULL ? v->replies[i] : NULL,
		    ALERT_REPLY_CHARS);
		alert_dsn_status(r, st, sizeof(st), &smtp);
		alert_put(m, "\r\n");
		mh_buf_reset(&val);
		alert_put(&val, "rfc822; ");
		alert_dsn_ascii(&val, a);
		alert_dsn_field(m, "Final-Recipient", val.data);
		alert_put(m, "Action: failed\r\n");
		alert_printf(m, "Status: %s\r\n", st);
		if (r[0] != '\0') {
			mh_buf_reset(&val);
			alert_put(&val, smtp ? "smtp; " : "X-mailhold; ");
			alert_dsn_ascii(&val, r);
			alert_dsn_field(m, "Diagnostic-Code", val.data);
		}
		free(a);
		free(r);
	}
	mh_buf_clear(&val);
	alert_put(m, "\r\n");
}

/* The original header block, lines made CRLF, as text/rfc822-headers:
 * 7bit when it is plain short-lined ASCII, else base64. */
static void
alert_orig_part(struct mh_buf *m, const struct alert_failure_view *v,
    const struct alert_ids *x)
{
	struct mh_buf h;
	size_t i, n = v->hlen, line = 0;
	bool sevenbit = true, utf8 = true;
	unsigned char c;
	unsigned cp;
	size_t k;

	if (n > ALERT_ORIGHDR_MAX) {
		n = ALERT_ORIGHDR_MAX;
		while (n > 0 && v->hdr[n - 1] != '\n')
			n--;
	}
	mh_buf_init(&h, ALERT_ORIGHDR_MAX * 2 + 4);
	for (i = 0; i < n; i++) {
		c = (unsigned char)v->hdr[i];
		if (c == '\r' || c == '\n') {
			if (c == '\r' && i + 1 < n && v->hdr[i + 1] == '\n')
				i++;
			alert_putn(&h, "\r\n", 2);
			line = 0;
			continue;
		}
		if (c == '\0')
			c = ' ';
		if (c >= 0x80)
			sevenbit = false;
		if (++line > ALERT_WIRE_MAX)
			sevenbit = false;
		alert_putn(&h, &c, 1);
	}
	if (h.len > 0 && line > 0)
		alert_putn(&h, "\r\n", 2);
	if (h.len > 0 && memmem(h.data, h.len, x->bnd, strlen(x->bnd)))
		sevenbit = false;
	for (i = 0; !sevenbit && i < h.len; i += k)
		if ((k = mh_utf8_seq((unsigned char *)h.data + i,
		    h.len - i, &cp)) == 0) {
			utf8 = false;
			break;
		}

	if (sevenbit) {
		alert_printf(m, "--%s\r\n", x->bnd);
		alert_put(m, "Content-Type: text/rfc822-headers\r\n"
		    "Content-Description: " ALERT_ORIG_DESC "\r\n\r\n");
		alert_putn(m, h.data ? h.data : "", h.len);
		alert_put(m, "\r\n");
	} else
		alert_part_b64(m, x->bnd, utf8 ?
		    "text/rfc822-headers; charset=UTF-8" :
		    "text/rfc822-headers", ALERT_ORIG_DESC, &h);
	mh_buf_clear(&h);
}

char *
alert_build_failure(const struct alert_failure_view *v, size_t *lenp)
{
	const struct alert_text *T = alert_text(v->lang);
	struct alert_ids x;
	struct mh_buf m, txt, subj;
	char *s, *a, *r, *fa, num[32];
	size_t i;

	alert_ids_init(&x, v->hostname, v->id, v->now);
	s = alert_clean(v->subject, ALERT_SUBJ_CHARS);

	fa = v->for_addr != NULL ? alert_clean(v->for_addr,
	    ALERT_ADDR_CHARS) : NULL;
	mh_buf_init(&subj, ALERT_HDRVAL_CHARS * 4);
	if (fa != NULL)
		alert_tpl(&subj, false, T->f_admin_subj, fa, NULL);
	else if (s[0] != '\0')
		alert_tpl(&subj, false, T->f_subj_orig, s, NULL);
	else
		alert_put(&subj, T->f_subj);

	mh_buf_init(&txt, ALERT_PART_MAX);
	alert_tpl(&txt, false, T->f_intro, x.host, NULL);
	alert_put(&txt, "\r\n\r\n");
	if (fa != NULL)
		alert_tpl(&txt, false, v->for_notice ? T->f_admin_notice :
		    T->f_admin_utf8, fa, NULL);
	else
		alert_put(&txt, T->f_explain);
	alert_put(&txt, "\r\n\r\n");
	alert_tpl(&txt, false, "  {1}: {2}\r\n", T->l_subject,
	    s[0] != '\0' ? s : T->no_subject);
	if (x.id[0] != '\0')
		alert_tpl(&txt, false, "  {1}: {2}\r\n", T->f_id, x.id);
	alert_put(&txt, "\r\n");
	for (i = 0; i < v->n && i < ALERT_FAILED_MAX; i++) {
		a = alert_clean(v->addrs[i], ALERT_ADDR_CHARS);
		r = alert_clean(v->replies != NULL ? v->replies[i] : NULL,
		    ALERT_REPLY_CHARS);
		alert_tpl(&txt, false, "<{1}>\r\n    {2}\r\n\r\n", a, r);
		free(a);
		free(r);
	}
	if (v->n > ALERT_FAILED_MAX) {
		mh_snprintf(num, sizeof(num), "%zu", v->n - ALERT_FAILED_MAX);
		alert_tpl(&txt, false, T->more, num, NULL);
		alert_put(&txt, "\r\n\r\n");
	}
	if (fa != NULL)
		alert_put(&txt, v->hlen > 0 ? T->f_admin_headers :
		    T->f_admin_no_headers);
	else
		alert_put(&txt, v->hlen > 0 ? T->f_headers : T->f_no_headers);
	alert_put(&txt, "\r\n\r\n-- \r\n");
	alert_put(&txt, T->automatic);
	alert_put(&txt, "\r\n");

	mh_buf_init(&m, ALERT_MSG_MAX);
	alert_printf(&m, "From: \"Mail Delivery System\" "
	    "<MAILER-DAEMON@%s>\r\n", x.host);
	alert_hdr_to(&m, v->to);
	alert_hdr_subject(&m, subj.data);
	alert_printf(&m, "Date: %s\r\n", x.date);
	alert_printf(&m, "Message-ID: <%s.notice@%s>\r\n", x.msgid, x.host);
	alert_put(&m, "Auto-Submitted: auto-replied\r\n"
	    "X-Auto-Response-Suppress: All\r\n"
	    "MIME-Version: 1.0\r\n");
	alert_printf(&m, "Content-Language: %s\r\n", T->lang);
	alert_printf(&m, "Content-Type: multipart/report;\r\n"
	    "\treport-type=delivery-status;\r\n"
	    "\tboundary=\"%s\"\r\n\r\n", x.bnd);
	alert_put(&m, "This is a MIME-encapsulated message.\r\n\r\n");
	alert_part_b64(&m, x.bnd, "text/plain; charset=UTF-8",
	    "Notification", &txt);
	alert_dsn_part(&m, v, &x);
	if (v->hdr != NULL && v->hlen > 0)
		alert_orig_part(&m, v, &x);
	alert_printf(&m, "--%s--\r\n", x.bnd);

	mh_buf_clear(&txt);
	mh_buf_clear(&subj);
	free(s);
	free(fa);
	return mh_buf_steal(&m, lenp);
}
