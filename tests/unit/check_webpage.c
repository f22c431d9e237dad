/*
 * check_webpage.c - unit tests for proxy/webpage.c: Accept-Language
 * selection, the sender's page in every state and language (texts, the
 * two POST forms, notices, times and countdowns), HTML escaping of every
 * value taken from the message, bounds on huge input, the error pages and
 * the stylesheet.
 *
 * Table-driven.  Times are checked in a fixed zone (TZ=JST-9, set in a
 * checked fixture so it runs inside each forked test).  Every page also
 * goes through wp_check_page(): valid UTF-8, only whitelisted tags and
 * attributes, no script, no inline style.
 */
#include <check.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "webpage.h"
#include "util.h"

#include "check_utf8.h"

#define nitems(a)	(sizeof(a) / sizeof((a)[0]))
/* 2026-11-23 14:00:30 +0900 */
#define NOW		1795410030
#define EN		ALERT_LANG_EN
#define JA		ALERT_LANG_JA
#define WP_MAX		(4u * 1024 * 1024)	/* webpage.c's hard cap */
#define WP_TIME_MS	5000			/* huge input, ASan */

static void
wp_setup(void)
{
	ck_assert_int_eq(setenv("TZ", "JST-9", 1), 0);
	tzset();
}

/* ------------------------------------------------------------------ */
/* Helpers                                                             */

static const char *
wp_strcasestr(const char *h, const char *n)
{
	size_t nl = strlen(n);

	for (; *h != '\0'; h++)
		if (mh_strncasecmp(h, n, nl) == 0)
			return h;
	return NULL;
}

static size_t
wp_count(const char *h, const char *n)
{
	size_t c = 0, nl = strlen(n);

	while ((h = strstr(h, n)) != NULL) {
		c++;
		h += nl;
	}
	return c;
}

static bool
wp_in(const char *name, const char *const *list)
{
	for (; *list != NULL; list++)
		if (strcmp(name, *list) == 0)
			return true;
	return false;
}

static const char *const wp_tags[] = {
	"!DOCTYPE", "html", "head", "meta", "title", "link", "body", "main",
	"p", "div", "h1", "h2", "section", "dl", "dt", "dd", "ul", "li",
	"span", "strong", "code", "form", "input", "button", "footer", "time",
	"a", NULL
};
static const char *const wp_attrs[] = {
	"lang", "charset", "name", "content", "rel", "href", "class", "role",
	"aria-label", "aria-labelledby", "id", "method", "action", "type",
	"value", "datetime", NULL
};

/*
 * Every '<' opens a whitelisted tag whose attributes are whitelisted and
 * double-quoted with no '<' '>' '"' inside; so nothing from the message
 * formed markup.
 */
static void
wp_check_tags(const char *h)
{
	const char *p = h, *e;
	char name[32];
	size_t n;

	while ((p = strchr(p, '<')) != NULL) {
		p++;
		if (*p == '/')
			p++;
		for (n = 0; p[n] != '\0' && p[n] != ' ' && p[n] != '>' &&
		    p[n] != '\n'; n++)
			;
		ck_assert_msg(n > 0 && n < sizeof(name), "bad tag at %.40s",
		    p);
		memcpy(name, p, n);
		name[n] = '\0';
		ck_assert_msg(wp_in(name, wp_tags), "tag <%s>", name);
		p += n;
		if (strcmp(name, "!DOCTYPE") == 0) {
			ck_assert(strncmp(p, " html>", 6) == 0);
			continue;
		}
		while (*p == ' ') {
			p++;
			for (n = 0; p[n] != '\0' && p[n] != '='; n++)
				if (p[n] == ' ' || p[n] == '>' || p[n] == '<')
					ck_abort_msg("attr at %.40s", p);
			ck_assert(n < sizeof(name));
			memcpy(name, p, n);
			name[n] = '\0';
			ck_assert_msg(wp_in(name, wp_attrs), "attr %s", name);
			p += n;
			ck_assert_msg(p[0] == '=' && p[1] == '"', "unquoted %s",
			    name);
			e = strchr(p + 2, '"');
			ck_assert(e != NULL);
			/* (no ck_assert per octet: each one writes to the
			 * runner's pipe) */
			for (p += 2; p < e; p++)
				if (*p == '<' || *p == '>')
					ck_abort_msg("markup in attribute %s",
					    name);
			p = e + 1;
		}
		ck_assert_msg(*p == '>', "tag not closed at %.40s", p);
	}
}

/* What every page must be. */
static void
wp_check_page(const char *h, size_t len, const char *lang)
{
	char want[64];
	const char *p;

	ck_assert_ptr_nonnull(h);
	ck_assert_uint_eq(strlen(h), len);
	ck_assert_uint_le(len, WP_MAX);
	ck_assert(strncmp(h, "<!DOCTYPE html>\n", 16) == 0);
	ck_assert(len > 8 && strcmp(h + len - 8, "</html>\n") == 0);
	snprintf(want, sizeof(want), "<html lang=\"%s\">", lang);
	ck_assert_ptr_nonnull(strstr(h, want));
	ck_assert_ptr_nonnull(strstr(h, "<meta charset=\"utf-8\">"));
	ck_assert_ptr_nonnull(strstr(h, "<meta name=\"viewport\" content=\""
	    "width=device-width, initial-scale=1\">"));
	ck_assert_ptr_nonnull(strstr(h, "<meta name=\"referrer\" "
	    "content=\"no-referrer\">"));
	ck_assert_ptr_nonnull(strstr(h, "<meta name=\"robots\" "
	    "content=\"noindex\">"));
	ck_assert_ptr_nonnull(strstr(h, "<link rel=\"stylesheet\" href=\""
	    WEBPAGE_CSS_PATH "\">"));
	ck_assert_ptr_nonnull(strstr(h, "<title>"));
	ck_assert_ptr_null(wp_strcasestr(h, "<script"));
	ck_assert_ptr_null(wp_strcasestr(h, "<style"));
	/* An attribute, not the text " style=&quot;" of a hostile value. */
	ck_assert_ptr_null(wp_strcasestr(h, " style=\""));
	ck_assert_ptr_null(wp_strcasestr(h, "javascript:"));
	ck_assert_msg(check_utf8_valid(h, len), "page is not valid UTF-8");
	for (p = h; *p != '\0'; p++)
		if ((unsigned char)*p < 0x20 && *p != '\n')
			ck_abort_msg("control octet 0x%02x",
			    (unsigned char)*p);
	ck_assert_ptr_null(strchr(h, 0x7f));
	wp_check_tags(h);
}

/* The page's text with the tags removed (entities kept), for checking
 * sentences that run across <time> and <span> elements. */
static char *
wp_text(const char *h)
{
	char *t = xmalloc(strlen(h) + 1), *o = t;
	bool in = false;

	for (; *h != '\0'; h++) {
		if (*h == '<')
			in = true;
		else if (*h == '>')
			in = false;
		else if (!in)
			*o++ = *h;
	}
	*o = '\0';
	return t;
}

/* A plain view: three recipients, one flagged. */
struct wp_fixture {
	struct webpage_view	 v;
	const char		*rcpts[3];
	const char		*frcpts[1];
	struct alert_finding	 f[1];
};

static void
wp_view(struct wp_fixture *x, enum alert_lang lang, enum webpage_state st)
{
	memset(x, 0, sizeof(*x));
	x->rcpts[0] = "a@example.com";
	x->rcpts[1] = "b@example.con";
	x->rcpts[2] = "c@example.org";
	x->frcpts[0] = "b@example.con";
	x->f[0].rule = "typo_domain";
	x->f[0].text = "example.con looks like a typo";
	x->f[0].suggestion = "b@example.com";
	x->f[0].rcpts = x->frcpts;
	x->f[0].nrcpts = 1;
	x->v.lang = lang;
	x->v.token = "tok_ABC-123";
	x->v.csrf = "csrf-VALUE-xyz";
	x->v.id = "Q1234";
	x->v.sender = "taro@example.co.jp";
	x->v.subject = "見積書 Q3";
	x->v.rcpts = x->rcpts;
	x->v.nrcpts = 3;
	x->v.findings = x->f;
	x->v.nfindings = 1;
	x->v.state = st;
	x->v.now = NOW;
	x->v.received_at = NOW - 30;
	x->v.release_at = NOW + 270;
	x->v.done_at = NOW - 60;
	x->v.notice = WEBPAGE_N_NONE;
}

static char *
wp_render(const struct webpage_view *v, size_t *lenp)
{
	char *h = webpage_render(v, lenp);

	wp_check_page(h, *lenp, v->lang == JA ? "ja" : "en");
	return h;
}

#define WP_FORM(act) "<form method=\"post\" action=\"/m/tok_ABC-123\">\n" \
	"<input type=\"hidden\" name=\"csrf\" value=\"csrf-VALUE-xyz\">\n" \
	"<button type=\"submit\" name=\"action\" value=\"" act "\""

/* ------------------------------------------------------------------ */
/* Accept-Language                                                     */

struct wp_lang_case {
	const char	*label;
	const char	*in;
	enum alert_lang	 dflt;
	enum alert_lang	 want;
};

static const struct wp_lang_case wp_lang_cases[] = {
	{ "NULL -> default en", NULL, EN, EN },
	{ "NULL -> default ja", NULL, JA, JA },
	{ "empty", "", JA, JA },
	{ "only blanks and commas", " , ,\t,", JA, JA },
	{ "ja", "ja", EN, JA },
	{ "en over default ja", "en", JA, EN },
	{ "Chrome ja-JP", "ja-JP,ja;q=0.9,en-US;q=0.8,en;q=0.7", EN, JA },
	{ "Chrome en-US", "en-US,en;q=0.9,ja;q=0.8", JA, EN },
	{ "unsupported first", "fr-FR, fr;q=0.9, ja;q=0.5, en;q=0.4", EN,
	  JA },
	{ "tie: earlier wins (ja)", "ja;q=0.5, en;q=0.5", EN, JA },
	{ "tie: earlier wins (en)", "en;q=0.5, ja;q=0.5", JA, EN },
	{ "q=0 refuses ja", "ja;q=0, en;q=0.1", JA, EN },
	{ "only refusals -> default", "ja;q=0, en;q=0", JA, JA },
	{ "star -> default ja", "*", JA, JA },
	{ "star -> default en", "*", EN, EN },
	{ "star covers the unnamed one", "ja;q=0, *", JA, EN },
	{ "unsupported then low star", "fr, *;q=0.1", JA, JA },
	{ "star beats a low named", "en;q=0.1, *;q=0.5", EN, JA },
	{ "star first covers en", "*, ja;q=0.5", JA, EN },
	{ "star q=0", "*;q=0", EN, EN },
	{ "case-insensitive", "JA-jp", EN, JA },
	{ "upper-case Q", "ja;Q=0.9", EN, JA },
	{ "q=1.000", "ja;q=1.000", EN, JA },
	{ "q=1.", "ja;q=1.", EN, JA },
	{ "q=1.5 malformed", "ja;q=1.5", EN, EN },
	{ "huge q malformed", "ja;q=99999999999999999999", EN, EN },
	{ "negative q malformed", "ja;q=-1", EN, EN },
	{ "four decimals malformed", "ja;q=0.0001", EN, EN },
	{ "q=1.001 malformed", "ja;q=1.001", EN, EN },
	{ "empty q malformed", "ja;q=", EN, EN },
	{ "blank in q malformed", "ja;q= 0.9", EN, EN },
	{ "missing semicolon", "ja q=0.9", EN, EN },
	{ "other parameter", "ja;level=1, en;q=0.5", JA, EN },
	{ "two q malformed", "ja;q=0.8;q=0.9, en;q=0.85", JA, EN },
	{ "blanks everywhere", " \t ja \t ; \t q=0.8 \t , en;q=0.7", EN, JA },
	{ "OWS before semicolon", "ja ;q=0.9", EN, JA },
	{ "empty elements", ",,, ,ja", EN, JA },
	{ "bad octet skipped", "j@, ja", EN, JA },
	{ "dangling hyphen", "ja-, en", JA, EN },
	{ "primary over 8", "toolongtag, ja", EN, JA },
	{ "subtag over 8", "ja-abcdefghi", EN, EN },
	{ "digits in primary", "j4, ja", EN, JA },
	{ "private use subtags", "ja-JP-x-priv", EN, JA },
	{ "max over one language's ranges",
	  "en-US;q=0, en;q=0.5, ja;q=0.4", JA, EN },
	{ "control octet", "ja\x01", EN, EN },
	{ "three-letter primary is not ja", "jav", EN, EN },
	{ "en-GB refused, en ok", "en-GB;q=0, en;q=0.6, ja;q=0.5", JA, EN },
};

START_TEST(test_wp_lang)
{
	const struct wp_lang_case *t = &wp_lang_cases[_i];
	enum alert_lang got = webpage_pick_lang(t->in, t->dflt);

	ck_assert_msg(got == t->want, "%s: got %d want %d", t->label,
	    (int)got, (int)t->want);
}
END_TEST

/* Appends s to the string in h (strcat is banned, STYLE G5). */
static void
wp_cat(char *h, const char *s)
{
	size_t l = strlen(h);

	memcpy(h + l, s, strlen(s) + 1);
}

/* Built headers: the octet and item bounds. */
START_TEST(test_wp_lang_bounds)
{
	char *h = xmalloc(100 * 1024);
	size_t i;

	/* ja after the first 1000 octets is not seen. */
	memset(h, ' ', 1200);
	h[1200] = '\0';
	memcpy(h, "fr", 2);
	memcpy(h + 1100, ",ja", 4);
	ck_assert_int_eq(webpage_pick_lang(h, EN), EN);
	/* An element cut at octet 1000 is dropped whole: "jaxx" must not
	 * read as "ja". */
	memset(h, ' ', 1200);
	memcpy(h, "fr", 2);
	memcpy(h + 997, ",jaxx", 6);
	ck_assert_int_eq(webpage_pick_lang(h, EN), EN);
	/* ... while one that ends at the limit counts. */
	memset(h, ' ', 1200);
	memcpy(h, "fr", 2);
	memcpy(h + 996, ",ja,fr", 7);
	ck_assert_int_eq(webpage_pick_lang(h, EN), JA);
	/* 32 elements: the 33rd is not seen, the 32nd is. */
	h[0] = '\0';
	for (i = 0; i < 32; i++)
		wp_cat(h, "fr,");
	wp_cat(h, "ja");
	ck_assert_int_eq(webpage_pick_lang(h, EN), EN);
	h[0] = '\0';
	for (i = 0; i < 31; i++)
		wp_cat(h, "fr,");
	wp_cat(h, "ja");
	ck_assert_int_eq(webpage_pick_lang(h, EN), JA);
	/* Empty elements do not use up the 32. */
	h[0] = '\0';
	for (i = 0; i < 100; i++)
		wp_cat(h, ",");
	wp_cat(h, "ja");
	ck_assert_int_eq(webpage_pick_lang(h, EN), JA);
	/* 100 KiB of junk ends fast and falls back. */
	memset(h, 'x', 100 * 1024 - 1);
	h[100 * 1024 - 1] = '\0';
	ck_assert_int_eq(webpage_pick_lang(h, JA), JA);
	/* An out-of-range default is read as en. */
	ck_assert_int_eq(webpage_pick_lang("fr", (enum alert_lang)7), EN);
	free(h);
}
END_TEST

/* ------------------------------------------------------------------ */
/* States                                                              */

struct wp_state_case {
	const char		*label;
	enum alert_lang		 lang;
	enum webpage_state	 state;
	bool			 forms;
	const char		*want[4];	/* in the text, tags removed */
	const char		*deny[3];
};

static const struct wp_state_case wp_state_cases[] = {
	{ .label = "en held", .lang = EN, .state = WEBPAGE_HELD, .forms = true,
	  .want = { "This message is on hold",
	    "It goes out at 14:05 JST (in 4 min 30 s).",
	    "If something is wrong, press Cancel sending now." } },
	{ .label = "en awaiting", .lang = EN, .state = WEBPAGE_AWAITING,
	  .forms = true,
	  .want = { "This message is waiting for you",
	    "It will NOT be sent unless you click Send now.",
	    "If you do nothing, it will be dropped at 14:05 JST "
	    "(in 4 min 30 s)." },
	  .deny = { "It goes out at" } },
	{ .label = "en deferred", .lang = EN, .state = WEBPAGE_DEFERRED,
	  .forms = true,
	  .want = { "Delivery is delayed",
	    "Next try at 14:05 JST (in 4 min 30 s).",
	    "You can still cancel sending it." } },
	{ .label = "en sending", .lang = EN, .state = WEBPAGE_SENDING,
	  .want = { "Being sent", "It can no longer be cancelled." },
	  .deny = { "JST (in" } },
	{ .label = "en sent", .lang = EN, .state = WEBPAGE_SENT,
	  .want = { "Sent at 13:59 JST." }, .deny = { "(in " } },
	{ .label = "en failed", .lang = EN, .state = WEBPAGE_FAILED,
	  .want = { "Not delivered",
	    "Could not be delivered (at 13:59 JST)." } },
	{ .label = "en cancelled", .lang = EN, .state = WEBPAGE_CANCELLED,
	  .want = { "Cancelled at 13:59 JST. It was not sent." } },
	{ .label = "ja held", .lang = JA, .state = WEBPAGE_HELD, .forms = true,
	  .want = { "送信を保留しています",
	    "このメールは 14:05 (JST) に送信されます（あと 4 分 30 秒）。",
	    "間違いがあれば、今すぐ「送信を取り消す」を押してください。" } },
	{ .label = "ja awaiting", .lang = JA, .state = WEBPAGE_AWAITING,
	  .forms = true,
	  .want = { "送信の確認待ちです",
	    "「今すぐ送信」を押さない限り、このメールは送信されません。",
	    "何もしなければ、14:05 (JST) に破棄されます"
	    "（あと 4 分 30 秒）。" },
	  .deny = { "に送信されます" } },
	{ .label = "ja deferred", .lang = JA, .state = WEBPAGE_DEFERRED,
	  .forms = true,
	  .want = { "配信が遅れています",
	    "次は 14:05 (JST) に再送します（あと 4 分 30 秒）。",
	    "まだ送信を取り消せます。" } },
	{ .label = "ja sending", .lang = JA, .state = WEBPAGE_SENDING,
	  .want = { "送信中です", "もう取り消せません。" } },
	{ .label = "ja sent", .lang = JA, .state = WEBPAGE_SENT,
	  .want = { "送信済みです", "13:59 (JST) に送信しました。" } },
	{ .label = "ja failed", .lang = JA, .state = WEBPAGE_FAILED,
	  .want = { "配信できませんでした（13:59 (JST)）。" } },
	{ .label = "ja cancelled", .lang = JA, .state = WEBPAGE_CANCELLED,
	  .want = { "送信を取り消しました",
	    "13:59 (JST) に送信を取り消しました。"
	    "このメールは送信されません。" } },
};

START_TEST(test_wp_state)
{
	const struct wp_state_case *t = &wp_state_cases[_i];
	struct wp_fixture x;
	const char *c, *s;
	char *h, *txt;
	size_t len, i;

	wp_view(&x, t->lang, t->state);
	h = wp_render(&x.v, &len);
	txt = wp_text(h);
	for (i = 0; i < nitems(t->want) && t->want[i] != NULL; i++)
		ck_assert_msg(strstr(txt, t->want[i]) != NULL,
		    "%s: no \"%s\" in\n%s", t->label, t->want[i], txt);
	for (i = 0; i < nitems(t->deny) && t->deny[i] != NULL; i++)
		ck_assert_msg(strstr(txt, t->deny[i]) == NULL,
		    "%s: \"%s\"", t->label, t->deny[i]);
	/* The message itself, in every state. */
	ck_assert_ptr_nonnull(strstr(txt, "見積書 Q3"));
	ck_assert_ptr_nonnull(strstr(txt, "taro@example.co.jp"));
	ck_assert_ptr_nonnull(strstr(txt, "c@example.org"));
	ck_assert_ptr_nonnull(strstr(txt, "Q1234"));
	ck_assert_ptr_nonnull(strstr(h, "<h1>"));
	ck_assert_ptr_nonnull(strstr(h, "<ul class=\"rcpts\">"));
	ck_assert_ptr_null(strstr(h, "class=\"notice"));
	c = strstr(h, WP_FORM("cancel"));
	s = strstr(h, WP_FORM("send"));
	if (t->forms) {
		ck_assert_msg(c != NULL && s != NULL, "%s: forms", t->label);
		ck_assert_msg(c < s, "%s: Cancel comes first", t->label);
		ck_assert_uint_eq(wp_count(h, "<form "), 2);
		ck_assert_uint_eq(wp_count(h, "</form>"), 2);
		ck_assert_uint_eq(wp_count(h, "<button "), 2);
		ck_assert_ptr_nonnull(strstr(c, t->lang == JA ?
		    "class=\"btn btn-primary\">送信を取り消す</button>" :
		    "class=\"btn btn-primary\">Cancel sending</button>"));
		ck_assert_ptr_nonnull(strstr(s, t->lang == JA ?
		    "class=\"btn btn-secondary\">今すぐ送信</button>" :
		    "class=\"btn btn-secondary\">Send now</button>"));
		ck_assert_ptr_nonnull(strstr(h, t->lang == JA ?
		    "<time datetime=\"2026-11-23T14:05:00+0900\">"
		    "14:05 (JST)</time>" :
		    "<time datetime=\"2026-11-23T14:05:00+0900\">"
		    "14:05 JST</time>"));
	} else {
		ck_assert_msg(c == NULL && s == NULL, "%s: forms", t->label);
		ck_assert_ptr_null(strstr(h, "<form"));
		ck_assert_ptr_null(strstr(h, "<button"));
		ck_assert_ptr_null(strstr(h, "csrf"));
	}
	free(txt);
	free(h);
}
END_TEST

/* ------------------------------------------------------------------ */
/* Notices                                                             */

struct wp_notice_case {
	const char		*label;
	enum alert_lang		 lang;
	enum webpage_state	 state;
	enum webpage_notice	 notice;
	const char		*cls;
	const char		*want;
};

static const struct wp_notice_case wp_notice_cases[] = {
	{ "en cancelled", EN, WEBPAGE_CANCELLED, WEBPAGE_N_CANCELLED,
	  "notice-ok", "Done: sending cancelled. It will not be sent." },
	{ "ja cancelled", JA, WEBPAGE_CANCELLED, WEBPAGE_N_CANCELLED,
	  "notice-ok", "送信を取り消しました。このメールは送信されません。" },
	{ "en released", EN, WEBPAGE_SENDING, WEBPAGE_N_RELEASED,
	  "notice-ok", "Sent now: it is on its way." },
	{ "ja released", JA, WEBPAGE_SENDING, WEBPAGE_N_RELEASED,
	  "notice-ok", "送信を開始しました。" },
	{ "en too late: sent", EN, WEBPAGE_SENT, WEBPAGE_N_TOO_LATE,
	  "notice-warn", "Too late: this message was already sent at "
	  "13:59 JST." },
	{ "en too late: cancelled", EN, WEBPAGE_CANCELLED, WEBPAGE_N_TOO_LATE,
	  "notice-warn", "Too late: this message was already cancelled at "
	  "13:59 JST." },
	{ "en too late: failed", EN, WEBPAGE_FAILED, WEBPAGE_N_TOO_LATE,
	  "notice-warn", "already failed at 13:59 JST." },
	{ "en too late: sending", EN, WEBPAGE_SENDING, WEBPAGE_N_TOO_LATE,
	  "notice-warn", "Too late: this message is already being sent." },
	{ "ja too late: sent", JA, WEBPAGE_SENT, WEBPAGE_N_TOO_LATE,
	  "notice-warn", "このメールは 13:59 (JST) にすでに送信されて"
	  "います。" },
	{ "ja too late: cancelled", JA, WEBPAGE_CANCELLED, WEBPAGE_N_TOO_LATE,
	  "notice-warn", "このメールは 13:59 (JST) にすでに送信が取り消されて"
	  "います。" },
	{ "ja too late: sending", JA, WEBPAGE_SENDING, WEBPAGE_N_TOO_LATE,
	  "notice-warn", "このメールはすでに送信中です。" },
	{ "en bad csrf", EN, WEBPAGE_HELD, WEBPAGE_N_BAD_CSRF, "notice-warn",
	  "This form has expired; please use the buttons on this page "
	  "again." },
	{ "ja bad csrf", JA, WEBPAGE_HELD, WEBPAGE_N_BAD_CSRF, "notice-warn",
	  "フォームの有効期限が切れました。" },
	{ "en error", EN, WEBPAGE_AWAITING, WEBPAGE_N_ERROR, "notice-err",
	  "Something went wrong; nothing changed. Please try again." },
	{ "ja error", JA, WEBPAGE_DEFERRED, WEBPAGE_N_ERROR, "notice-err",
	  "エラーが発生しました。変更はありません。" },
	{ "unknown notice is an error", EN, WEBPAGE_HELD,
	  (enum webpage_notice)99, "notice-err", "Something went wrong" },
};

START_TEST(test_wp_notice)
{
	const struct wp_notice_case *t = &wp_notice_cases[_i];
	struct wp_fixture x;
	char *h, *txt, cls[64];
	const char *n, *h1;
	size_t len;

	wp_view(&x, t->lang, t->state);
	x.v.notice = t->notice;
	h = wp_render(&x.v, &len);
	txt = wp_text(h);
	ck_assert_msg(strstr(txt, t->want) != NULL, "%s: no \"%s\"",
	    t->label, t->want);
	snprintf(cls, sizeof(cls), "<div id=\"notice\" class=\"notice %s\"", t->cls);
	n = strstr(h, cls);
	h1 = strstr(h, "<h1>");
	ck_assert_msg(n != NULL, "%s: no %s", t->label, cls);
	ck_assert_msg(n < h1, "%s: notice is not on top", t->label);
	ck_assert_uint_eq(wp_count(h, "class=\"notice "), 1);
	/* The buttons follow the state, not the notice. */
	ck_assert_int_eq(strstr(h, "<form") != NULL,
	    t->state <= WEBPAGE_DEFERRED);
	free(txt);
	free(h);
}
END_TEST

/*
 * After an action the whole page shows the new state: heading, text and
 * buttons agree with the notice.  "Send now" leaves the message held with
 * release_at = now (web.c), which must read as being sent.
 */
struct wp_after_case {
	const char		*label;
	enum alert_lang		 lang;
	enum webpage_state	 state;
	int64_t			 release;	/* offset from NOW */
	enum webpage_notice	 notice;
	const char		*h1;
	const char		*want;
	const char		*deny[4];
};

static const struct wp_after_case wp_after_cases[] = {
	{ "ja send now", JA, WEBPAGE_HELD, 0, WEBPAGE_N_RELEASED,
	  "<h1>送信中です</h1>", "送信を開始しました。",
	  { "送信を保留しています", "送信を取り消す", "キャンセル",
	    "間違いがあれば" } },
	{ "en send now", EN, WEBPAGE_HELD, 0, WEBPAGE_N_RELEASED,
	  "<h1>Being sent</h1>", "Sent now: it is on its way.",
	  { "on hold", "Cancel sending", "cancel it now",
	    "If something is wrong" } },
	{ "ja send now, a second later", JA, WEBPAGE_HELD, -1,
	  WEBPAGE_N_RELEASED, "<h1>送信中です</h1>", "もう取り消せません。",
	  { "送信を保留しています", "あと " } },
	{ "ja already sent", JA, WEBPAGE_SENT, 0, WEBPAGE_N_RELEASED,
	  "<h1>送信済みです</h1>", "に送信しました。",
	  { "送信を保留しています", "送信を取り消す" } },
	{ "ja cancel", JA, WEBPAGE_CANCELLED, 0, WEBPAGE_N_CANCELLED,
	  "<h1>送信を取り消しました</h1>", "このメールは送信されません。",
	  { "送信を保留しています", "今すぐ送信", "間違いがあれば" } },
	{ "en cancel", EN, WEBPAGE_CANCELLED, 0, WEBPAGE_N_CANCELLED,
	  "<h1>Sending cancelled</h1>", "It was not sent.",
	  { "on hold", "Send now", "If something is wrong" } },
};

START_TEST(test_wp_after_action)
{
	const struct wp_after_case *t = &wp_after_cases[_i];
	struct wp_fixture x;
	char *h, *txt;
	size_t len, i;

	wp_view(&x, t->lang, t->state);
	x.v.release_at = NOW + t->release;
	x.v.notice = t->notice;
	h = wp_render(&x.v, &len);
	txt = wp_text(h);
	ck_assert_msg(strstr(h, t->h1) != NULL, "%s: no %s", t->label,
	    t->h1);
	ck_assert_msg(strstr(txt, t->want) != NULL, "%s: no \"%s\" in\n%s",
	    t->label, t->want, txt);
	for (i = 0; i < nitems(t->deny) && t->deny[i] != NULL; i++)
		ck_assert_msg(strstr(txt, t->deny[i]) == NULL,
		    "%s: \"%s\" in\n%s", t->label, t->deny[i], txt);
	ck_assert_ptr_null(strstr(h, "<form"));
	ck_assert_ptr_null(strstr(h, "<button"));
	ck_assert_uint_eq(wp_count(h, "id=\"notice\""), 1);
	free(txt);
	free(h);
}
END_TEST

/* ------------------------------------------------------------------ */
/* Times and the countdown                                             */

struct wp_time_case {
	const char		*label;
	enum alert_lang		 lang;
	enum webpage_state	 state;
	int64_t			 release;	/* offset from NOW */
	int64_t			 done;		/* absolute; 0: unset */
	const char		*want;
	const char		*deny;
};

static const struct wp_time_case wp_time_cases[] = {
	/* Held and due (after "Send now", or the timer): being sent, not
	 * "on hold ... cancel it now". */
	{ "due now", EN, WEBPAGE_HELD, 0, 0, "Being sent", "on hold" },
	{ "overdue", EN, WEBPAGE_HELD, -100, 0, "It can no longer be "
	  "cancelled.", "Cancel sending" },
	{ "overdue ja", JA, WEBPAGE_HELD, -1, 0, "送信中です",
	  "送信を保留しています" },
	{ "deferred retry due", EN, WEBPAGE_DEFERRED, -5, 0,
	  "(any moment now)", "(in " },
	{ "deferred retry due ja", JA, WEBPAGE_DEFERRED, 0, 0, "（まもなく）",
	  "あと" },
	{ "1 s", EN, WEBPAGE_HELD, 1, 0, "(in 1 s)", NULL },
	{ "59 s", EN, WEBPAGE_HELD, 59, 0, "14:01 JST (in 59 s)", NULL },
	{ "1 min", EN, WEBPAGE_HELD, 60, 0, "(in 1 min)", "0 s" },
	{ "1 min 1 s", EN, WEBPAGE_HELD, 61, 0, "(in 1 min 1 s)", NULL },
	{ "1 h", EN, WEBPAGE_HELD, 3600, 0, "(in 1 h)", "(in 1 h " },
	{ "2 h 5 min", EN, WEBPAGE_HELD, 7500, 0, "16:05 JST (in 2 h 5 min)",
	  NULL },
	{ "2 h 5 min ja", JA, WEBPAGE_HELD, 7500, 0, "（あと 2 時間 5 分）",
	  NULL },
	{ "seconds dropped past an hour", EN, WEBPAGE_HELD, 3601 + 60, 0,
	  "(in 1 h 1 min)", " s)" },
	{ "tomorrow: full date", EN, WEBPAGE_HELD, 86400, 0,
	  "24 Nov 14:00 JST (in 1 day)", NULL },
	{ "tomorrow ja", JA, WEBPAGE_HELD, 86400 + 3600, 0,
	  "11月24日 15:00 (JST) に送信されます"
	  "（あと 1 日 1 時間）", NULL },
	{ "after midnight is another day", EN, WEBPAGE_HELD, 36000, 0,
	  "24 Nov 00:00 JST (in 10 h)", NULL },
	{ "days", EN, WEBPAGE_AWAITING, 3 * 86400 + 5, 0,
	  "dropped at 26 Nov 14:00 JST (in 3 days)", NULL },
	{ "unset release: no time", EN, WEBPAGE_HELD, -NOW, 0,
	  "It goes out soon unless you cancel it.", "goes out at" },
	{ "unset release awaiting", EN, WEBPAGE_AWAITING, -NOW, 0,
	  "If you do nothing, it will be dropped.", "(in " },
	{ "unset done: sent", EN, WEBPAGE_SENT, 0, 0, "Sent.", "Sent at" },
	{ "unset done ja", JA, WEBPAGE_CANCELLED, 0, 0,
	  "送信を取り消しました。このメールは送信されません。", NULL },
	{ "yesterday", EN, WEBPAGE_SENT, 0, NOW - 86400,
	  "Sent at 22 Nov 14:00 JST.", NULL },
	{ "yesterday ja", JA, WEBPAGE_FAILED, 0, NOW - 86400,
	  "配信できませんでした（11月22日 14:00 (JST)）。", NULL },
	{ "absurd time", EN, WEBPAGE_SENT, 0, INT64_MAX, "Sent.", "Sent at" },
};

START_TEST(test_wp_time)
{
	const struct wp_time_case *t = &wp_time_cases[_i];
	struct wp_fixture x;
	char *h, *txt;
	size_t len;

	wp_view(&x, t->lang, t->state);
	x.v.release_at = NOW + t->release;
	x.v.done_at = t->done;
	h = wp_render(&x.v, &len);
	txt = wp_text(h);
	ck_assert_msg(strstr(txt, t->want) != NULL, "%s: no \"%s\" in\n%s",
	    t->label, t->want, txt);
	if (t->deny != NULL)
		ck_assert_msg(strstr(txt, t->deny) == NULL, "%s: \"%s\"",
		    t->label, t->deny);
	free(txt);
	free(h);
}
END_TEST

/* ------------------------------------------------------------------ */
/* Recipients and findings                                             */

START_TEST(test_wp_flagged)
{
	struct wp_fixture x;
	char *h, *txt;
	size_t len;

	wp_view(&x, EN, WEBPAGE_HELD);
	h = wp_render(&x.v, &len);
	txt = wp_text(h);
	ck_assert_ptr_nonnull(strstr(h, "<li class=\"rcpt\"><span class="
	    "\"addr\">a@example.com</span></li>"));
	ck_assert_ptr_nonnull(strstr(h, "<li class=\"rcpt flagged\"><span "
	    "class=\"addr\">b@example.con</span> <a class=\"flag\" "
	    "href=\"#why\">\xe2\x9a\xa0 Check this address</a></li>"));
	ck_assert_ptr_nonnull(strstr(h, "<li class=\"rcpt\"><span class="
	    "\"addr\">c@example.org</span></li>"));
	ck_assert_uint_eq(wp_count(h, "rcpt flagged"), 1);
	ck_assert_ptr_nonnull(strstr(txt, "Recipients (3)"));
	ck_assert_ptr_nonnull(strstr(txt, "Why it was held"));
	ck_assert_ptr_nonnull(strstr(h, "<p>example.con looks like a typo</p>"
	    "\n<p>Did you mean <span class=\"suggestion addr\">b@example.com"
	    "</span>?</p>\n<p>Recipients concerned:</p>\n<ul class=\"frcpts\">"
	    "\n<li><span class=\"addr\">b@example.con</span></li>\n</ul>"));
	/* The explanation once; no rule names. */
	ck_assert_uint_eq(wp_count(txt, "example.con looks like a typo"), 1);
	ck_assert_ptr_null(strstr(txt, "typo_domain"));
	ck_assert_ptr_null(strstr(txt, "Rule"));
	free(txt);
	free(h);

	wp_view(&x, JA, WEBPAGE_HELD);
	h = wp_render(&x.v, &len);
	txt = wp_text(h);
	ck_assert_ptr_nonnull(strstr(txt, "\xe2\x9a\xa0 要確認"));
	ck_assert_ptr_nonnull(strstr(txt, "宛先（3 件）"));
	ck_assert_ptr_nonnull(strstr(txt, "保留の理由"));
	ck_assert_ptr_nonnull(strstr(txt, "該当する宛先:"));
	ck_assert_ptr_nonnull(strstr(txt, "正しくは b@example.com ではあり"
	    "ませんか？"));
	ck_assert_ptr_null(strstr(txt, "typo_domain"));
	ck_assert_ptr_null(strstr(txt, "ルール"));
	free(txt);
	free(h);
}
END_TEST

/*
 * 100 flagged recipients: the explanation is shown once, with its
 * recipients under it (20 named, then "and 80 more"), whether the policy
 * gave one finding for all of them or one finding each with the same
 * text; each recipient in the list is only marked.
 */
START_TEST(test_wp_grouped)
{
	static const size_t n = 100;
	const char **rc;
	char (*addr)[48];
	struct alert_finding *f;
	struct webpage_view v;
	char *h, *txt;
	size_t len, i, pass;

	rc = xreallocarray(NULL, n + 1, sizeof(*rc));
	addr = xreallocarray(NULL, n + 1, sizeof(*addr));
	for (i = 0; i <= n; i++) {
		snprintf(addr[i], sizeof(addr[i]), "user%03zu@ext.example", i);
		rc[i] = addr[i];
	}
	f = xcalloc(n + 1, sizeof(*f));
	for (pass = 0; pass < 2; pass++) {
		memset(&v, 0, sizeof(v));
		v.lang = JA;
		v.state = WEBPAGE_HELD;
		v.now = NOW;
		v.release_at = NOW + 600;
		v.rcpts = rc;
		v.nrcpts = n + 1;	/* the last one is not flagged */
		v.findings = f;
		memset(f, 0, (n + 1) * sizeof(*f));
		if (pass == 0) {
			/* one finding naming all 100 */
			f[0].rule = "first_time_recipient";
			f[0].text = "初めて送信する宛先が 100 件あります。";
			f[0].rcpts = rc;
			f[0].nrcpts = n;
			v.nfindings = 1;
		} else {
			/* 50 findings (the most matched) alike, 2 each */
			for (i = 0; i < 50; i++) {
				f[i].rule = "first_time_recipient";
				f[i].text = "初めて送信する宛先が 100 件あります。";
				f[i].rcpts = rc + 2 * i;
				f[i].nrcpts = 2;
			}
			v.nfindings = 50;
		}
		h = wp_render(&v, &len);
		txt = wp_text(h);
		ck_assert_uint_eq(wp_count(txt, "初めて送信する宛先が"), 1);
		ck_assert_uint_eq(wp_count(h, "rcpt flagged"), 100);
		ck_assert_uint_eq(wp_count(h, "<li class=\"rcpt\">"), 1);
		ck_assert_uint_eq(wp_count(txt, "該当する宛先:"), 1);
		ck_assert_uint_eq(wp_count(txt, "user000@ext.example"), 2);
		ck_assert_uint_eq(wp_count(txt, "user019@ext.example"), 2);
		ck_assert_uint_eq(wp_count(txt, "user020@ext.example"), 1);
		ck_assert_ptr_nonnull(strstr(txt, "ほか 80 件"));
		ck_assert_ptr_null(strstr(txt, "first_time_recipient"));
		free(txt);
		free(h);
	}
	free(f);
	free(addr);
	free(rc);
}
END_TEST

/* Different explanations stay apart; a recipient named twice in one
 * finding, or in another case, is listed once. */
START_TEST(test_wp_flagged_more)
{
	static const char *const rc[] = { "x@a.example", "Y@B.example",
	    NULL };
	static const char *const f0[] = { "X@A.EXAMPLE", "x@a.example" };
	static const char *const f1[] = { "y@b.example", NULL };
	struct webpage_view v;
	struct alert_finding f[6];
	char *h, *txt, text[6][32];
	size_t len, i;

	memset(&v, 0, sizeof(v));
	memset(f, 0, sizeof(f));
	for (i = 0; i < 6; i++) {
		snprintf(text[i], sizeof(text[i]), "finding number %zu", i);
		f[i].text = text[i];
		f[i].rcpts = i < 5 ? f0 : f1;
		f[i].nrcpts = 2;
	}
	f[5].suggestion = "y@b.example.com";
	v.lang = EN;
	v.state = WEBPAGE_HELD;
	v.now = NOW;
	v.release_at = NOW + 10;
	v.rcpts = rc;
	v.nrcpts = 3;		/* a NULL recipient is shown empty */
	v.findings = f;
	v.nfindings = 6;
	/* no token, csrf, id, sender or subject: still a page */
	h = wp_render(&v, &len);
	txt = wp_text(h);
	ck_assert_uint_eq(wp_count(h, "rcpt flagged"), 2);
	ck_assert_ptr_nonnull(strstr(h, "<h2 id=\"why\">"));
	ck_assert_uint_eq(wp_count(h, "<a class=\"flag\" href=\"#why\">"),
	    2);
	for (i = 0; i < 6; i++) {
		char want[64];

		snprintf(want, sizeof(want), "<p>finding number %zu</p>", i);
		ck_assert_uint_eq(wp_count(h, want), 1);
	}
	/* x@a.example once under each of findings 0..4 (case folded) */
	ck_assert_uint_eq(wp_count(h, "<li><span class=\"addr\">"), 6);
	ck_assert_ptr_nonnull(strstr(txt, "Did you mean y@b.example.com?"));
	ck_assert_ptr_nonnull(strstr(txt, "(no subject)"));
	ck_assert_ptr_nonnull(strstr(txt, "(empty sender)"));
	ck_assert_ptr_nonnull(strstr(h, "action=\"/m/\""));
	ck_assert_ptr_nonnull(strstr(h, "name=\"csrf\" value=\"\""));
	ck_assert_ptr_null(strstr(h, "Queue ID"));
	free(txt);
	free(h);
}
END_TEST

START_TEST(test_wp_many_rcpts)
{
	struct webpage_view v;
	const char **rc;
	char (*addr)[48];
	char *h, *txt;
	size_t len, i, n = 600;

	rc = xreallocarray(NULL, n, sizeof(*rc));
	addr = xreallocarray(NULL, n, sizeof(*addr));
	for (i = 0; i < n; i++) {
		snprintf(addr[i], sizeof(addr[i]), "user%zu@example.com", i);
		rc[i] = addr[i];
	}
	memset(&v, 0, sizeof(v));
	v.lang = JA;
	v.state = WEBPAGE_SENT;
	v.now = NOW;
	v.done_at = NOW;
	v.rcpts = rc;
	v.nrcpts = n;
	h = wp_render(&v, &len);
	txt = wp_text(h);
	ck_assert_ptr_nonnull(strstr(txt, "宛先（600 件）"));
	ck_assert_ptr_nonnull(strstr(txt, "user499@example.com"));
	ck_assert_ptr_null(strstr(txt, "user500@example.com"));
	ck_assert_ptr_nonnull(strstr(txt, "ほか 100 件"));
	ck_assert_uint_eq(wp_count(h, "<li class=\"rcpt\">"), 500);
	free(txt);
	free(h);
	free(rc);
	free(addr);
}
END_TEST

/* ------------------------------------------------------------------ */
/* Hostile values                                                      */

struct wp_hostile_case {
	const char	*label;
	const char	*in;
	const char	*want;		/* escaped, in the page */
	const char	*deny[3];	/* never in the page */
};

static const struct wp_hostile_case wp_hostile_cases[] = {
	{ "script", "<script>alert(1)</script>",
	  "&lt;script&gt;alert(1)&lt;/script&gt;",
	  { "<script", "</script" } },
	{ "attribute break-out", "\"><img src=x onerror=alert(1)>",
	  "&quot;&gt;&lt;img src=x onerror=alert(1)&gt;",
	  { "\"><img", "<img" } },
	{ "single quote", "it's", "it&#39;s", { "it's", "'" } },
	{ "ampersand", "a&b&lt;", "a&amp;b&amp;lt;", { "a&b", "b&lt;" } },
	{ "invalid UTF-8", "x\xff\xfey\xc3(z\xe3\x81",
	  "x\xef\xbf\xbd\xef\xbf\xbdy\xef\xbf\xbd(z\xef\xbf\xbd",
	  { "\xff", "\xfe" } },
	{ "control octets", "a\x01" "b\x1b[31mc\x7f" "d\x0b",
	  "a\xef\xbf\xbd" "b\xef\xbf\xbd[31mc\xef\xbf\xbd" "d\xef\xbf\xbd",
	  { "\x1b", "\x01", "\x0b" } },
	{ "raw-text elements", "</title></textarea><plaintext>",
	  "&lt;/title&gt;&lt;/textarea&gt;&lt;plaintext&gt;",
	  { "<plaintext", "</textarea" } },
	{ "style attribute", "x\" style=\"color:red",
	  "x&quot; style=&quot;color:red", { "\" style=" } },
	{ "overlong UTF-8 slash", "a\xc0\xaf" "b", "a\xef\xbf\xbd\xef\xbf\xbd"
	  "b", { "\xc0" } },
};

START_TEST(test_wp_hostile)
{
	const struct wp_hostile_case *t = &wp_hostile_cases[_i];
	const char *rc[3] = { t->in, "ok@example.com", t->in };
	const char *fr[1] = { t->in };
	struct alert_finding f = {
		.rule = t->in, .text = t->in, .suggestion = t->in,
		.rcpts = fr, .nrcpts = 1,
	};
	struct webpage_view v;
	enum alert_lang lang;
	char *h;
	size_t len, i;

	for (lang = EN; lang <= JA; lang++) {
		memset(&v, 0, sizeof(v));
		v.lang = lang;
		v.token = t->in;
		v.csrf = t->in;
		v.id = t->in;
		v.sender = t->in;
		v.subject = t->in;
		v.rcpts = rc;
		v.nrcpts = 3;
		v.findings = &f;
		v.nfindings = 1;
		v.state = WEBPAGE_HELD;
		v.now = NOW;
		v.received_at = NOW;
		v.release_at = NOW + 60;
		v.notice = WEBPAGE_N_TOO_LATE;
		h = wp_render(&v, &len);
		for (i = 0; i < nitems(t->deny) && t->deny[i] != NULL; i++)
			ck_assert_msg(strstr(h, t->deny[i]) == NULL,
			    "%s: raw \"%s\" in the page", t->label,
			    t->deny[i]);
		/* subject, sender, 2 recipients, the finding's text (once:
		 * its suggestion is in it), its recipient, the id and the
		 * csrf value (twice): all escaped */
		ck_assert_msg(wp_count(h, t->want) >= 9, "%s: escaped form "
		    "%zu times", t->label, wp_count(h, t->want));
		/* two flagged recipients */
		ck_assert_uint_eq(wp_count(h, "rcpt flagged"), 2);
		/* the token is percent-encoded: one path segment */
		ck_assert_ptr_nonnull(strstr(h, "<form method=\"post\" "
		    "action=\"/m/"));
		ck_assert_ptr_null(strstr(h, "action=\"/m/<"));
		free(h);
	}
}
END_TEST

struct wp_token_case {
	const char	*label;
	const char	*token;
	const char	*want;
};

static const struct wp_token_case wp_token_cases[] = {
	{ "URL-safe base64 kept", "AbC-_09xyz", "action=\"/m/AbC-_09xyz\"" },
	{ "path tricks", "abc/../x?y#z",
	  "action=\"/m/abc%2F%2E%2E%2Fx%3Fy%23z\"" },
	{ "markup", "\"><script>", "action=\"/m/%22%3E%3Cscript%3E\"" },
	{ "scheme", "javascript:alert(1)",
	  "action=\"/m/javascript%3Aalert%281%29\"" },
	{ "octets", "\xff\x01 +", "action=\"/m/%FF%01%20%2B\"" },
};

START_TEST(test_wp_token)
{
	const struct wp_token_case *t = &wp_token_cases[_i];
	struct wp_fixture x;
	char *h;
	size_t len;

	wp_view(&x, EN, WEBPAGE_AWAITING);
	x.v.token = t->token;
	h = webpage_render(&x.v, &len);
	ck_assert_msg(wp_count(h, t->want) == 2, "%s: no %s", t->label,
	    t->want);
	free(h);
}
END_TEST

/* ------------------------------------------------------------------ */
/* Bounds                                                              */

START_TEST(test_wp_huge)
{
	static const size_t big = 1024 * 1024;
	static const size_t n = 100000, nf = 10000;
	char *quotes, *h, *txt;
	const char **rc;
	struct alert_finding *f;
	struct webpage_view v;
	size_t len, i;
	int64_t t0;

	/* '"' escapes to 6 octets: the worst case for every field. */
	quotes = xmalloc(big + 1);
	memset(quotes, '"', big);
	quotes[big] = '\0';
	rc = xreallocarray(NULL, n, sizeof(*rc));
	for (i = 0; i < n; i++)
		rc[i] = quotes + big - 300;	/* 300 octets */
	f = xreallocarray(NULL, nf, sizeof(*f));
	for (i = 0; i < nf; i++) {
		f[i].rule = quotes;
		f[i].text = quotes;
		f[i].suggestion = quotes;
		f[i].rcpts = rc;
		f[i].nrcpts = n;
	}
	memset(&v, 0, sizeof(v));
	v.lang = JA;
	v.token = quotes;
	v.csrf = quotes;
	v.id = quotes;
	v.sender = quotes;
	v.subject = quotes;
	v.rcpts = rc;
	v.nrcpts = n;
	v.findings = f;
	v.nfindings = nf;
	v.state = WEBPAGE_AWAITING;
	v.now = NOW;
	v.release_at = NOW + 60;
	t0 = mh_mono_ms();
	h = webpage_render(&v, &len);
	ck_assert_msg(mh_mono_ms() - t0 < WP_TIME_MS, "took %lld ms",
	    (long long)(mh_mono_ms() - t0));
	wp_check_page(h, len, "ja");
	ck_assert_uint_le(len, WP_MAX);
	txt = wp_text(h);
	ck_assert_ptr_nonnull(strstr(txt, "宛先（100000 件）"));
	ck_assert_ptr_nonnull(strstr(txt, "ほか "));
	/* the page still ends properly, buttons included */
	ck_assert_ptr_nonnull(strstr(h, "</footer>\n</main>"));
	ck_assert_uint_eq(wp_count(h, "<button "), 2);
	free(txt);
	free(h);
	free(f);
	free(rc);
	free(quotes);
}
END_TEST

/* A long UTF-8 subject is cut at a character boundary. */
START_TEST(test_wp_cut)
{
	struct wp_fixture x;
	char *subj, *h;
	size_t len, i, n = 3 * 1000;

	subj = xmalloc(n + 1);
	for (i = 0; i < n; i += 3)
		memcpy(subj + i, "あ", 3);
	subj[n] = '\0';
	wp_view(&x, JA, WEBPAGE_HELD);
	x.v.subject = subj;
	h = wp_render(&x.v, &len);		/* checks UTF-8 */
	ck_assert_ptr_nonnull(strstr(h, "ああ…</dd>"));
	ck_assert_ptr_null(strstr(h, "\xef\xbf\xbd"));
	ck_assert_uint_lt(wp_count(h, "あ"), 400);
	free(h);
	free(subj);
}
END_TEST

/* ------------------------------------------------------------------ */
/* Error pages and the stylesheet                                      */

struct wp_error_case {
	enum webpage_error	 e;
	enum alert_lang		 lang;
	const char		*want;
	const char		*code;
};

static const struct wp_error_case wp_error_cases[] = {
	{ WEBPAGE_E_NOT_FOUND, EN, "This link is not valid or has expired.",
	  "Error 404" },
	{ WEBPAGE_E_NOT_FOUND, JA, "このリンクは無効か、有効期限が切れて"
	  "います。", "エラー 404" },
	{ WEBPAGE_E_RATE, EN, "Too many requests.", "Error 429" },
	{ WEBPAGE_E_RATE, JA, "数分待ってからもう一度お試しください。",
	  "エラー 429" },
	{ WEBPAGE_E_BAD_REQUEST, EN, "The request could not be understood.",
	  "Error 400" },
	{ WEBPAGE_E_BAD_REQUEST, JA, "リクエストを処理できませんでした。",
	  "エラー 400" },
	{ WEBPAGE_E_METHOD, EN, "This method is not allowed here.",
	  "Error 405" },
	{ WEBPAGE_E_METHOD, JA, "この操作は許可されていません。",
	  "エラー 405" },
	{ WEBPAGE_E_UNAVAILABLE, EN, "temporarily unavailable", "Error 503" },
	{ WEBPAGE_E_UNAVAILABLE, JA, "ただいまサービスを利用できません。",
	  "エラー 503" },
	{ (enum webpage_error)42, EN, "The request could not be understood.",
	  "Error 400" },
};

START_TEST(test_wp_error)
{
	const struct wp_error_case *t = &wp_error_cases[_i];
	char *h;
	size_t len;

	h = webpage_render_error(t->e, t->lang, &len);
	wp_check_page(h, len, t->lang == JA ? "ja" : "en");
	ck_assert_msg(strstr(h, t->want) != NULL, "no \"%s\"", t->want);
	ck_assert_msg(strstr(h, t->code) != NULL, "no \"%s\"", t->code);
	ck_assert_ptr_null(strstr(h, "/m/"));
	ck_assert_ptr_null(strstr(h, "<form"));
	ck_assert_ptr_null(strstr(h, "csrf"));
	ck_assert_uint_lt(len, 4096);
	free(h);
}
END_TEST

/* The 404 page is the same whatever was looked up: it cannot tell a
 * token that never existed from one that expired. */
START_TEST(test_wp_error_same)
{
	char *a, *b;
	size_t la, lb;

	a = webpage_render_error(WEBPAGE_E_NOT_FOUND, EN, &la);
	b = webpage_render_error(WEBPAGE_E_NOT_FOUND, EN, &lb);
	ck_assert_uint_eq(la, lb);
	ck_assert(memcmp(a, b, la) == 0);
	free(a);
	free(b);
}
END_TEST

START_TEST(test_wp_css)
{
	static const char *const want[] = {
		".btn-primary", ".btn-secondary", ".flagged", ".flag",
		".notice-ok", ".notice-warn", ".notice-err", ".actions",
		"max-width", "@media (prefers-color-scheme: dark)",
		"Hiragino", "Noto Sans JP", "system-ui", "min-height: 3rem",
		"overflow-wrap: anywhere",
	};
	const char *css;
	size_t len, i;

	css = webpage_css(&len);
	ck_assert_ptr_nonnull(css);
	ck_assert_uint_eq(strlen(css), len);
	ck_assert_uint_gt(len, 1000);
	ck_assert_ptr_null(strchr(css, '<'));
	ck_assert_ptr_null(strstr(css, "url("));
	ck_assert_ptr_null(strstr(css, "@import"));
	ck_assert(check_utf8_valid(css, len));
	for (i = 0; i < nitems(want); i++)
		ck_assert_msg(strstr(css, want[i]) != NULL, "no %s", want[i]);
	ck_assert_ptr_eq(webpage_css(NULL), css);
}
END_TEST

/* Every class the pages use has a rule in the stylesheet. */
START_TEST(test_wp_classes_styled)
{
	struct wp_fixture x;
	enum webpage_state st;
	const char *css = webpage_css(NULL), *p, *e, *c;
	char *h, cls[64];
	size_t len, n;

	for (st = WEBPAGE_HELD; st <= WEBPAGE_CANCELLED; st++) {
		wp_view(&x, EN, st);
		x.v.notice = WEBPAGE_N_ERROR;
		h = webpage_render(&x.v, &len);
		for (p = h; (p = strstr(p, "class=\"")) != NULL; p = e) {
			p += 7;
			e = strchr(p, '"');
			ck_assert_ptr_nonnull(e);
			for (c = p; c < e; c += n) {
				while (*c == ' ')
					c++;
				n = strcspn(c, " \"");
				if (n == 0)
					break;
				ck_assert(n + 2 < sizeof(cls));
				cls[0] = '.';
				memcpy(cls + 1, c, n);
				cls[n + 1] = '\0';
				/* state and item classes are hooks only */
				if (strncmp(cls, ".status-", 8) == 0 ||
				    strcmp(cls, ".rcpt") == 0 ||
				    strcmp(cls, ".lead") == 0)
					continue;
				ck_assert_msg(strstr(css, cls) != NULL,
				    "class %s has no rule", cls);
			}
		}
		free(h);
	}
}
END_TEST

static Suite *
wp_suite(void)
{
	Suite *s = suite_create("webpage");
	TCase *tc;

	tc = tcase_create("lang");
	tcase_add_loop_test(tc, test_wp_lang, 0, (int)nitems(wp_lang_cases));
	tcase_add_test(tc, test_wp_lang_bounds);
	suite_add_tcase(s, tc);

	tc = tcase_create("render");
	tcase_add_checked_fixture(tc, wp_setup, NULL);
	tcase_add_loop_test(tc, test_wp_state, 0,
	    (int)nitems(wp_state_cases));
	tcase_add_loop_test(tc, test_wp_notice, 0,
	    (int)nitems(wp_notice_cases));
	tcase_add_loop_test(tc, test_wp_time, 0, (int)nitems(wp_time_cases));
	tcase_add_loop_test(tc, test_wp_after_action, 0,
	    (int)nitems(wp_after_cases));
	tcase_add_test(tc, test_wp_flagged);
	tcase_add_test(tc, test_wp_flagged_more);
	tcase_add_test(tc, test_wp_grouped);
	tcase_add_test(tc, test_wp_many_rcpts);
	suite_add_tcase(s, tc);

	tc = tcase_create("hostile");
	tcase_add_checked_fixture(tc, wp_setup, NULL);
	tcase_set_timeout(tc, 60);
	tcase_add_loop_test(tc, test_wp_hostile, 0,
	    (int)nitems(wp_hostile_cases));
	tcase_add_loop_test(tc, test_wp_token, 0,
	    (int)nitems(wp_token_cases));
	tcase_add_test(tc, test_wp_huge);
	tcase_add_test(tc, test_wp_cut);
	suite_add_tcase(s, tc);

	tc = tcase_create("static");
	tcase_add_loop_test(tc, test_wp_error, 0,
	    (int)nitems(wp_error_cases));
	tcase_add_test(tc, test_wp_error_same);
	tcase_add_test(tc, test_wp_css);
	tcase_add_checked_fixture(tc, wp_setup, NULL);
	tcase_add_test(tc, test_wp_classes_styled);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner *sr = srunner_create(wp_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
