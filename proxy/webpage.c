/*
 * webpage.c - the sender's page (/m/<token>), the error pages around it
 * and their stylesheet, in English and Japanese.
 *
 * Pure rendering: no I/O, no clock (the view carries "now"), no globals
 * but the static string tables.  Every value taken from the message goes
 * through mh_buf_html() (cut to a fixed length first); the token is also
 * percent-encoded for the form action.  The page is built in one struct
 * mh_buf with a hard cap; lists (recipients, findings) stop at a count and
 * at a soft budget well below that cap, so the cap is never reached
 * (each list item is bounded, see WEBPAGE_ITEM_MAX).
 *
 * No script, no inline style: the CSP (default-src 'none'; style-src
 * 'self') forbids both, so all presentation is in webpage_css().
 */
#include "webpage.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "alert.h"
#include "log.h"
#include "util.h"

/* Hard cap on a page, and the soft budget checked before each list item. */
#define WEBPAGE_MAX		(4u * 1024 * 1024)
#define WEBPAGE_BUDGET		(3u * 1024 * 1024)
/*
 * What one list item can take at most: an escaped octet grows to at most
 * 6 ("&quot;"), so a finding item is about 6 * (TEXT + ADDR +
 * FINDING_RCPTS * ADDR) plus markup (~70 KiB), a recipient item about
 * 6 * ADDR (~3 KiB).  The budget leaves far
 * more than that (and the page's tail) below WEBPAGE_MAX.
 */
#define WEBPAGE_ITEM_MAX	(128u * 1024)

#define WEBPAGE_RCPTS_MAX	500	/* recipients listed */
#define WEBPAGE_FINDINGS_MAX	50	/* findings listed and matched */
#define WEBPAGE_FINDING_RCPTS_MAX 20	/* recipients named per finding */
#define WEBPAGE_MATCH_MAX	1000	/* recipients matched per finding */

/* Octets of a value shown before it is cut (at a UTF-8 boundary). */
#define WEBPAGE_SUBJECT_MAX	1000
#define WEBPAGE_ADDR_MAX	512
#define WEBPAGE_TEXT_MAX	1000
#define WEBPAGE_ID_MAX		64
#define WEBPAGE_TOKEN_MAX	512

/* Accept-Language bounds (see webpage.h). */
#define WEBPAGE_AL_OCTETS	1000
#define WEBPAGE_AL_ITEMS	32

#define WEBPAGE_NSTATES		(WEBPAGE_CANCELLED + 1)
#define WEBPAGE_NERRORS		(WEBPAGE_E_UNAVAILABLE + 1)

_Static_assert(WEBPAGE_BUDGET + 4 * WEBPAGE_ITEM_MAX < WEBPAGE_MAX,
    "webpage budget leaves no room below the hard cap");

/* ------------------------------------------------------------------ */
/* Strings                                                             */

/*
 * Templates: %T is the time (an HTML fragment we build), %C the time left,
 * %S a value from the message (escaped), %N a count; "%%" is a '%'.
 */
struct webpage_str {
	const char	*lang;
	const char	*brand_note;
	const char	*h1[WEBPAGE_NSTATES];
	const char	*line[WEBPAGE_NSTATES];		/* with %T, %C */
	const char	*line_notime[WEBPAGE_NSTATES];
	const char	*extra[WEBPAGE_NSTATES];	/* or NULL */
	const char	*extra_notime[WEBPAGE_NSTATES];
	const char	*hint_held;
	const char	*hint_awaiting;
	const char	*btn_cancel;
	const char	*btn_send;
	const char	*actions_label;
	const char	*countdown_note;
	const char	*n_cancelled;
	const char	*n_released;
	const char	*n_too_late[WEBPAGE_NSTATES];	/* with %T */
	const char	*n_too_late_notime[WEBPAGE_NSTATES];
	const char	*n_bad_csrf;
	const char	*n_error;
	const char	*l_subject;
	const char	*l_from;
	const char	*l_received;
	const char	*l_id;
	const char	*no_subject;
	const char	*empty_sender;
	const char	*h_findings;
	const char	*h_rcpts;			/* %N */
	const char	*flag;
	const char	*did_you_mean;			/* %S */
	const char	*concerns;
	const char	*and_more;			/* %N */
	/* time left */
	const char	*soon;
	const char	*in_pre;
	const char	*in_post;
	const char	*u_day;
	const char	*u_days;
	const char	*u_h;
	const char	*u_min;
	const char	*u_s;
	/* error pages */
	const char	*e_title[WEBPAGE_NERRORS];
	const char	*e_text[WEBPAGE_NERRORS];
	const char	*e_code;			/* %N */
};

static const struct webpage_str webpage_en = {
	.lang = "en",
	.brand_note = "This page changes nothing when opened; only the "
	    "buttons do.",
	.h1 = {
		[WEBPAGE_HELD] = "This message is on hold",
		[WEBPAGE_AWAITING] = "This message is waiting for you",
		[WEBPAGE_DEFERRED] = "Delivery is delayed",
		[WEBPAGE_SENDING] = "Being sent",
		[WEBPAGE_SENT] = "Sent",
		[WEBPAGE_FAILED] = "Not delivered",
		[WEBPAGE_CANCELLED] = "Sending cancelled",
	},
	.line = {
		[WEBPAGE_HELD] = "It goes out at %T (%C).",
		[WEBPAGE_AWAITING] = "It will <strong>NOT</strong> be sent "
		    "unless you click Send now.",
		[WEBPAGE_DEFERRED] = "The receiving server did not accept it "
		    "yet. Next try at %T (%C).",
		[WEBPAGE_SENDING] = "This message is being sent now. It can "
		    "no longer be cancelled.",
		[WEBPAGE_SENT] = "Sent at %T.",
		[WEBPAGE_FAILED] = "Could not be delivered (at %T).",
		[WEBPAGE_CANCELLED] = "Cancelled at %T. It was not sent.",
	},
	.line_notime = {
		[WEBPAGE_HELD] = "It goes out soon unless you cancel it.",
		[WEBPAGE_AWAITING] = "It will <strong>NOT</strong> be sent "
		    "unless you click Send now.",
		[WEBPAGE_DEFERRED] = "The receiving server did not accept it "
		    "yet. It will be tried again.",
		[WEBPAGE_SENDING] = "This message is being sent now. It can "
		    "no longer be cancelled.",
		[WEBPAGE_SENT] = "Sent.",
		[WEBPAGE_FAILED] = "Could not be delivered.",
		[WEBPAGE_CANCELLED] = "Cancelled. It was not sent.",
	},
	.extra = {
		[WEBPAGE_HELD] = "If something is wrong, press Cancel sending "
		    "now.",
		[WEBPAGE_AWAITING] = "If you do nothing, it will be dropped "
		    "at %T (%C).",
		[WEBPAGE_DEFERRED] = "You can still cancel sending it.",
	},
	.extra_notime = {
		[WEBPAGE_HELD] = "If something is wrong, press Cancel sending "
		    "now.",
		[WEBPAGE_AWAITING] = "If you do nothing, it will be dropped.",
		[WEBPAGE_DEFERRED] = "You can still cancel sending it.",
	},
	.hint_held = "Cancel sending stops this message for good. Send now "
	    "sends it right away.",
	.hint_awaiting = "Cancel sending drops this message now. Send now "
	    "sends it as it is.",
	.btn_cancel = "Cancel sending",
	.btn_send = "Send now",
	.actions_label = "Actions",
	.countdown_note = "The time left is as of when this page was loaded.",
	.n_cancelled = "Done: sending cancelled. It will not be sent.",
	.n_released = "Sent now: it is on its way.",
	.n_too_late = {
		[WEBPAGE_HELD] = "That came too late; nothing changed.",
		[WEBPAGE_AWAITING] = "That came too late; nothing changed.",
		[WEBPAGE_DEFERRED] = "That came too late; nothing changed.",
		[WEBPAGE_SENDING] = "Too late: this message is already being "
		    "sent.",
		[WEBPAGE_SENT] = "Too late: this message was already sent "
		    "at %T.",
		[WEBPAGE_FAILED] = "Too late: delivery of this message "
		    "already failed at %T.",
		[WEBPAGE_CANCELLED] = "Too late: this message was already "
		    "cancelled at %T.",
	},
	.n_too_late_notime = {
		[WEBPAGE_HELD] = "That came too late; nothing changed.",
		[WEBPAGE_AWAITING] = "That came too late; nothing changed.",
		[WEBPAGE_DEFERRED] = "That came too late; nothing changed.",
		[WEBPAGE_SENDING] = "Too late: this message is already being "
		    "sent.",
		[WEBPAGE_SENT] = "Too late: this message was already sent.",
		[WEBPAGE_FAILED] = "Too late: delivery of this message "
		    "already failed.",
		[WEBPAGE_CANCELLED] = "Too late: this message was already "
		    "cancelled.",
	},
	.n_bad_csrf = "This form has expired; please use the buttons on this "
	    "page again.",
	.n_error = "Something went wrong; nothing changed. Please try again.",
	.l_subject = "Subject",
	.l_from = "From",
	.l_received = "Received",
	.l_id = "Queue ID",
	.no_subject = "(no subject)",
	.empty_sender = "(empty sender)",
	.h_findings = "Why it was held",
	.h_rcpts = "Recipients (%N)",
	.flag = "\xe2\x9a\xa0 Check this address",
	.did_you_mean = "Did you mean %S?",
	.concerns = "Recipients concerned:",
	.and_more = "and %N more",
	.soon = "any moment now",
	.in_pre = "in ",
	.in_post = "",
	.u_day = " day",
	.u_days = " days",
	.u_h = " h",
	.u_min = " min",
	.u_s = " s",
	.e_title = {
		[WEBPAGE_E_NOT_FOUND] = "Link not valid",
		[WEBPAGE_E_RATE] = "Too many requests",
		[WEBPAGE_E_BAD_REQUEST] = "Bad request",
		[WEBPAGE_E_METHOD] = "Not allowed",
		[WEBPAGE_E_UNAVAILABLE] = "Temporarily unavailable",
	},
	.e_text = {
		[WEBPAGE_E_NOT_FOUND] = "This link is not valid or has "
		    "expired.",
		[WEBPAGE_E_RATE] = "Too many requests. Please wait a few "
		    "minutes and try again.",
		[WEBPAGE_E_BAD_REQUEST] = "The request could not be "
		    "understood.",
		[WEBPAGE_E_METHOD] = "This method is not allowed here.",
		[WEBPAGE_E_UNAVAILABLE] = "The service is temporarily "
		    "unavailable. Please try again later.",
	},
	.e_code = "Error %N",
};

static const struct webpage_str webpage_ja = {
	.lang = "ja",
	.brand_note = "このページを開いただけでは何も変わりません。"
	    "操作はボタンでのみ行われます。",
	.h1 = {
		[WEBPAGE_HELD] = "送信を保留しています",
		[WEBPAGE_AWAITING] = "送信の確認待ちです",
		[WEBPAGE_DEFERRED] = "配信が遅れています",
		[WEBPAGE_SENDING] = "送信中です",
		[WEBPAGE_SENT] = "送信済みです",
		[WEBPAGE_FAILED] = "配信できませんでした",
		[WEBPAGE_CANCELLED] = "送信を取り消しました",
	},
	.line = {
		[WEBPAGE_HELD] = "このメールは %T に送信されます（%C）。",
		[WEBPAGE_AWAITING] = "「今すぐ送信」を押さない限り、"
		    "このメールは<strong>送信されません</strong>。",
		[WEBPAGE_DEFERRED] = "送信先のサーバーがまだ"
		    "受け付けていません。次は %T に再送します（%C）。",
		[WEBPAGE_SENDING] = "このメールは現在送信中です。"
		    "もう取り消せません。",
		[WEBPAGE_SENT] = "%T に送信しました。",
		[WEBPAGE_FAILED] = "配信できませんでした（%T）。",
		[WEBPAGE_CANCELLED] = "%T に送信を取り消しました。"
		    "このメールは送信されません。",
	},
	.line_notime = {
		[WEBPAGE_HELD] = "取り消さない限り、"
		    "このメールはまもなく送信されます。",
		[WEBPAGE_AWAITING] = "「今すぐ送信」を押さない限り、"
		    "このメールは<strong>送信されません</strong>。",
		[WEBPAGE_DEFERRED] = "送信先のサーバーがまだ"
		    "受け付けていません。後で再送します。",
		[WEBPAGE_SENDING] = "このメールは現在送信中です。"
		    "もう取り消せません。",
		[WEBPAGE_SENT] = "送信しました。",
		[WEBPAGE_FAILED] = "配信できませんでした。",
		[WEBPAGE_CANCELLED] = "送信を取り消しました。"
		    "このメールは送信されません。",
	},
	.extra = {
		[WEBPAGE_HELD] = "間違いがあれば、"
		    "今すぐ「送信を取り消す」を押してください。",
		[WEBPAGE_AWAITING] = "何もしなければ、%T に破棄されます"
		    "（%C）。",
		[WEBPAGE_DEFERRED] = "まだ送信を取り消せます。",
	},
	.extra_notime = {
		[WEBPAGE_HELD] = "間違いがあれば、"
		    "今すぐ「送信を取り消す」を押してください。",
		[WEBPAGE_AWAITING] = "何もしなければ、"
		    "このメールは破棄されます。",
		[WEBPAGE_DEFERRED] = "まだ送信を取り消せます。",
	},
	.hint_held = "「送信を取り消す」を押すと、このメールは送信されません。"
	    "「今すぐ送信」を押すと、待たずに送信します。",
	.hint_awaiting = "「送信を取り消す」を押すと、このメールを破棄します。"
	    "「今すぐ送信」を押すと、このまま送信します。",
	.btn_cancel = "送信を取り消す",
	.btn_send = "今すぐ送信",
	.actions_label = "操作",
	.countdown_note = "残り時間はこのページを開いた時点のものです。",
	.n_cancelled = "送信を取り消しました。このメールは送信されません。",
	.n_released = "送信を開始しました。",
	.n_too_late = {
		[WEBPAGE_HELD] = "操作が間に合いませんでした。"
		    "変更はありません。",
		[WEBPAGE_AWAITING] = "操作が間に合いませんでした。"
		    "変更はありません。",
		[WEBPAGE_DEFERRED] = "操作が間に合いませんでした。"
		    "変更はありません。",
		[WEBPAGE_SENDING] = "間に合いませんでした。"
		    "このメールはすでに送信中です。",
		[WEBPAGE_SENT] = "間に合いませんでした。"
		    "このメールは %T にすでに送信されています。",
		[WEBPAGE_FAILED] = "間に合いませんでした。"
		    "このメールは %T にすでに配信に失敗しています。",
		[WEBPAGE_CANCELLED] = "このメールは %T に"
		    "すでに送信が取り消されています。",
	},
	.n_too_late_notime = {
		[WEBPAGE_HELD] = "操作が間に合いませんでした。"
		    "変更はありません。",
		[WEBPAGE_AWAITING] = "操作が間に合いませんでした。"
		    "変更はありません。",
		[WEBPAGE_DEFERRED] = "操作が間に合いませんでした。"
		    "変更はありません。",
		[WEBPAGE_SENDING] = "間に合いませんでした。"
		    "このメールはすでに送信中です。",
		[WEBPAGE_SENT] = "間に合いませんでした。"
		    "このメールはすでに送信されています。",
		[WEBPAGE_FAILED] = "間に合いませんでした。"
		    "このメールはすでに配信に失敗しています。",
		[WEBPAGE_CANCELLED] = "このメールはすでに"
		    "送信が取り消されています。",
	},
	.n_bad_csrf = "フォームの有効期限が切れました。"
	    "このページのボタンからもう一度操作してください。",
	.n_error = "エラーが発生しました。変更はありません。"
	    "もう一度お試しください。",
	.l_subject = "件名",
	.l_from = "差出人",
	.l_received = "受付日時",
	.l_id = "キュー ID",
	.no_subject = "（件名なし）",
	.empty_sender = "（差出人なし）",
	.h_findings = "保留の理由",
	.h_rcpts = "宛先（%N 件）",
	.flag = "\xe2\x9a\xa0 要確認",
	.did_you_mean = "正しくは %S ではありませんか？",
	.concerns = "該当する宛先:",
	.and_more = "ほか %N 件",
	.soon = "まもなく",
	.in_pre = "あと ",
	.in_post = "",
	.u_day = " 日",
	.u_days = " 日",
	.u_h = " 時間",
	.u_min = " 分",
	.u_s = " 秒",
	.e_title = {
		[WEBPAGE_E_NOT_FOUND] = "リンクが無効です",
		[WEBPAGE_E_RATE] = "アクセスが多すぎます",
		[WEBPAGE_E_BAD_REQUEST] = "不正なリクエスト",
		[WEBPAGE_E_METHOD] = "許可されていない操作",
		[WEBPAGE_E_UNAVAILABLE] = "一時的に利用できません",
	},
	.e_text = {
		[WEBPAGE_E_NOT_FOUND] = "このリンクは無効か、"
		    "有効期限が切れています。",
		[WEBPAGE_E_RATE] = "アクセスが多すぎます。"
		    "数分待ってからもう一度お試しください。",
		[WEBPAGE_E_BAD_REQUEST] = "リクエストを処理できませんでした。",
		[WEBPAGE_E_METHOD] = "この操作は許可されていません。",
		[WEBPAGE_E_UNAVAILABLE] = "ただいまサービスを利用できません。"
		    "しばらくしてからもう一度お試しください。",
	},
	.e_code = "エラー %N",
};

static const int webpage_error_status[WEBPAGE_NERRORS] = {
	[WEBPAGE_E_NOT_FOUND] = 404,
	[WEBPAGE_E_RATE] = 429,
	[WEBPAGE_E_BAD_REQUEST] = 400,
	[WEBPAGE_E_METHOD] = 405,
	[WEBPAGE_E_UNAVAILABLE] = 503,
};

static const char webpage_stylesheet[] =
	":root {\n"
	"\tcolor-scheme: light dark;\n"
	"\t--bg: #f3f4f6; --card: #ffffff; --fg: #1b1f24;"
	" --muted: #596270;\n"
	"\t--line: #d6dae0; --primary: #0b57d0; --primary-fg: #ffffff;\n"
	"\t--ok-bg: #e7f5eb; --ok-fg: #0c5d2a; --ok-line: #7cc38f;\n"
	"\t--warn-bg: #fff6dc; --warn-fg: #6b4500; --warn-line: #e0b24a;\n"
	"\t--err-bg: #fdeceb; --err-fg: #9b1c13; --err-line: #e48a83;\n"
	"\t--flag: #b3261e; --flag-bg: #fdf1f0;\n"
	"}\n"
	"@media (prefers-color-scheme: dark) {\n"
	"\t:root {\n"
	"\t\t--bg: #14171b; --card: #1e2228; --fg: #e8eaed;"
	" --muted: #a4acb7;\n"
	"\t\t--line: #3a4049; --primary: #8ab4f8; --primary-fg: #0b1a33;\n"
	"\t\t--ok-bg: #13301d; --ok-fg: #a8dab5; --ok-line: #2f7a47;\n"
	"\t\t--warn-bg: #33290e; --warn-fg: #f6d68a; --warn-line: #8a6d1f;\n"
	"\t\t--err-bg: #3a1614; --err-fg: #f4b4ae; --err-line: #8c2f28;\n"
	"\t\t--flag: #f28b82; --flag-bg: #2d1a19;\n"
	"\t}\n"
	"}\n"
	"*, *::before, *::after { box-sizing: border-box; }\n"
	"html { -webkit-text-size-adjust: 100%; text-size-adjust: 100%; }\n"
	"body {\n"
	"\tmargin: 0; background: var(--bg); color: var(--fg);\n"
	"\tfont-family: system-ui, -apple-system, \"Segoe UI\", Roboto,"
	" \"Helvetica Neue\",\n"
	"\t    Arial, \"Hiragino Sans\", \"Hiragino Kaku Gothic ProN\","
	" \"Noto Sans JP\",\n"
	"\t    \"Noto Sans CJK JP\", \"Yu Gothic UI\", Meiryo, sans-serif;\n"
	"\tfont-size: 1rem; line-height: 1.6;\n"
	"}\n"
	".page {\n"
	"\tmax-width: 42rem; margin: 0 auto; padding: 1rem;\n"
	"}\n"
	".card {\n"
	"\tbackground: var(--card); border: 1px solid var(--line);\n"
	"\tborder-radius: 0.75rem; padding: 1rem 1.25rem; margin: 0 0 1rem;\n"
	"}\n"
	".brand { margin: 0 0 0.75rem; color: var(--muted);"
	" font-weight: 600; }\n"
	"h1 { font-size: 1.5rem; line-height: 1.3; margin: 0 0 0.75rem; }\n"
	"h2 { font-size: 1.15rem; line-height: 1.3; margin: 0 0 0.5rem; }\n"
	"p { margin: 0 0 0.5rem; }\n"
	"a { color: var(--primary); }\n"
	"code { font-family: ui-monospace, SFMono-Regular, Menlo, Consolas,"
	" monospace; font-size: 0.95em; }\n"
	".addr, .value, code { overflow-wrap: anywhere; word-break: break-word;"
	" }\n"
	".notice {\n"
	"\tborder: 2px solid; border-radius: 0.75rem; padding: 0.75rem 1rem;\n"
	"\tmargin: 0 0 1rem; font-weight: 600;\n"
	"}\n"
	".notice p { margin: 0; }\n"
	".notice-ok { background: var(--ok-bg); color: var(--ok-fg);"
	" border-color: var(--ok-line); }\n"
	".notice-warn { background: var(--warn-bg); color: var(--warn-fg);"
	" border-color: var(--warn-line); }\n"
	".notice-err { background: var(--err-bg); color: var(--err-fg);"
	" border-color: var(--err-line); }\n"
	".meta { display: grid; grid-template-columns: max-content 1fr;"
	" gap: 0.25rem 1rem; margin: 0 0 1rem; }\n"
	".meta dt { color: var(--muted); }\n"
	".meta dd { margin: 0; }\n"
	".status { font-size: 1.1rem; }\n"
	".status-awaiting .lead { color: var(--flag); }\n"
	".countdown { white-space: nowrap; }\n"
	".status time, .countdown { font-weight: 700; }\n"
	".note { color: var(--muted); font-size: 0.9rem; }\n"
	".actions { display: flex; flex-wrap: wrap; gap: 0.75rem;"
	" margin: 1rem 0 0.5rem; }\n"
	".actions form { flex: 1 1 12rem; margin: 0; }\n"
	".btn {\n"
	"\tdisplay: block; width: 100%; min-height: 3rem; padding: 0.75rem"
	" 1rem;\n"
	"\tborder-radius: 0.5rem; border: 2px solid var(--primary);\n"
	"\tfont: inherit; font-size: 1.1rem; font-weight: 700;"
	" cursor: pointer;\n"
	"\ttouch-action: manipulation;\n"
	"}\n"
	".btn-primary { background: var(--primary); color: var(--primary-fg);"
	" }\n"
	".btn-secondary { background: transparent; color: var(--primary); }\n"
	".btn:focus-visible { outline: 3px solid var(--fg);"
	" outline-offset: 2px; }\n"
	".findings, .rcpts { list-style: none; margin: 0; padding: 0; }\n"
	".findings > li, .rcpts > li {\n"
	"\tpadding: 0.5rem 0.75rem; border-top: 1px solid var(--line);\n"
	"}\n"
	".findings > li:first-child, .rcpts > li:first-child"
	" { border-top: 0; }\n"
	".rcpts > li.flagged {\n"
	"\tbackground: var(--flag-bg); border-left: 4px solid var(--flag);\n"
	"}\n"
	".flag { display: inline-block; color: var(--flag); font-weight: 700;"
	" }\n"
	".frcpts { margin: 0.25rem 0 0; padding-left: 1.25rem; }\n"
	".suggestion { font-weight: 700; }\n"
	".more { color: var(--muted); font-style: italic; }\n"
	".footer { color: var(--muted); font-size: 0.85rem; }\n"
	"@media (max-width: 30rem) {\n"
	"\t.page { padding: 0.5rem; }\n"
	"\t.card { padding: 0.75rem 1rem; }\n"
	"\t.meta { grid-template-columns: 1fr; gap: 0; }\n"
	"\t.meta dd { margin-bottom: 0.5rem; }\n"
	"\t.actions form { flex-basis: 100%; }\n"
	"}\n";

/* ------------------------------------------------------------------ */
/* Output                                                              */

/* The page being built; once an append fails, everything after it is
 * dropped and full says so (the caller then serves the 503 page). */
struct webpage_out {
	struct mh_buf	b;
	bool		full;
};

/* Template arguments: HTML fragments built or escaped by us. */
struct webpage_args {
	const char	*t;
	const char	*c;
	const char	*s;
	const char	*n;
};

static const struct webpage_str *
webpage_strings(enum alert_lang lang)
{
	return lang == ALERT_LANG_JA ? &webpage_ja : &webpage_en;
}

static void
webpage_putn(struct webpage_out *o, const char *s, size_t n)
{
	if (!o->full && mh_buf_append(&o->b, s, n) == -1)
		o->full = true;
}

static void
webpage_put(struct webpage_out *o, const char *s)
{
	webpage_putn(o, s, strlen(s));
}

/* Where to cut s (at most max octets) without splitting a UTF-8
 * sequence; s holds more than max octets. */
static size_t
webpage_utf8_cut(const char *s, size_t max)
{
	size_t n = max;

	while (n > 0 && max - n < 3 && ((unsigned char)s[n] & 0xc0) == 0x80)
		n--;
	return ((unsigned char)s[n] & 0xc0) == 0x80 ? max : n;
}

/* Appends untrusted s escaped for HTML, cut to max octets with an
 * ellipsis.  NULL appends nothing. */
static void
webpage_esc(struct webpage_out *o, const char *s, size_t max)
{
	size_t n;

	if (s == NULL || o->full)
		return;
	n = strnlen(s, max + 1);
	if (n > max)
		n = webpage_utf8_cut(s, max);
	if (mh_buf_html(&o->b, s, n) == -1) {
		o->full = true;
		return;
	}
	if (s[n] != '\0')
		webpage_put(o, "\xe2\x80\xa6");	/* U+2026 */
}

/* Appends tpl with %T %C %S %N replaced by a's fragments. */
static void
webpage_tpl(struct webpage_out *o, const char *tpl,
    const struct webpage_args *a)
{
	const char *p, *v;

	while ((p = strchr(tpl, '%')) != NULL) {
		webpage_putn(o, tpl, (size_t)(p - tpl));
		switch (p[1]) {
		case 'T': v = a ? a->t : NULL; break;
		case 'C': v = a ? a->c : NULL; break;
		case 'S': v = a ? a->s : NULL; break;
		case 'N': v = a ? a->n : NULL; break;
		case '%': v = "%"; break;
		default:
			MH_BUG("webpage template");
			v = NULL;
			break;
		}
		if (v != NULL)
			webpage_put(o, v);
		tpl = p[1] != '\0' ? p + 2 : p + 1;
	}
	webpage_put(o, tpl);
}

/* ------------------------------------------------------------------ */
/* Times                                                               */

/*
 * t for people (alert_time_str(): notify.timezone, the date only when t
 * is not on now's date, the zone) as "<time datetime=ISO>14:05
 * JST</time>".  Returns -1 when t is not a usable time (unset, or out of
 * range for the C library).
 */
static int
webpage_time_html(int64_t t, int64_t now, enum alert_lang lang,
    char *buf, size_t sz)
{
	struct tm tm;
	time_t tt;
	char iso[64], shown[128];

	if (t <= 0 || (int64_t)(time_t)t != t)
		return -1;
	tt = (time_t)t;
	if (localtime_r(&tt, &tm) == NULL ||
	    strftime(iso, sizeof(iso), "%Y-%m-%dT%H:%M:%S%z", &tm) == 0 ||
	    alert_time_str(t, now, lang, true, shown, sizeof(shown)) == -1)
		return -1;
	/* shown holds no markup: digits, month names, 年月日, the zone's
	 * abbreviation from tzdata. */
	if (mh_snprintf(buf, sz, "<time datetime=\"%s\">%s</time>", iso,
	    shown) == -1)
		return -1;
	return 0;
}

/* The time left until t ("in 4 min 30 s", "あと 4 分 30 秒"). */
static void
webpage_countdown(int64_t t, int64_t now, const struct webpage_str *L,
    char *buf, size_t sz)
{
	int64_t d, u[4];
	const char *name[4];
	size_t i, shown = 0;
	int r;
	struct mh_buf b;

	if (now < 0 || t <= now) {
		(void)mh_strlcpy(buf, L->soon, sz);
		return;
	}
	d = t - now;	/* now >= 0: no overflow */
	u[0] = d / 86400;
	u[1] = d % 86400 / 3600;
	u[2] = d % 3600 / 60;
	u[3] = d % 60;
	name[0] = u[0] == 1 ? L->u_day : L->u_days;
	name[1] = L->u_h;
	name[2] = L->u_min;
	name[3] = L->u_s;
	mh_buf_init(&b, sz - 1);
	r = mh_buf_puts(&b, L->in_pre);
	/* The two largest units that matter: "3 days 4 h", "4 min 30 s". */
	for (i = 0; i < 4 && shown < 2; i++) {
		if (u[i] == 0 && shown == 0)
			continue;
		if (shown == 1 && u[i] == 0)
			break;
		if (r == 0 && shown > 0)
			r = mh_buf_puts(&b, " ");
		if (r == 0)
			r = mh_buf_printf(&b, "%lld%s", (long long)u[i],
			    name[i]);
		shown++;
	}
	if (r == 0)
		r = mh_buf_puts(&b, L->in_post);
	if (r == 0)
		(void)mh_strlcpy(buf, b.data, sz);
	else
		(void)mh_strlcpy(buf, L->soon, sz);
	mh_buf_clear(&b);
}

/* ------------------------------------------------------------------ */
/* Findings matched to recipients                                      */

struct webpage_pair {
	const char	*addr;
	size_t		 fi;
};

static int
webpage_pair_cmp(const void *a, const void *b)
{
	const struct webpage_pair *x = a, *y = b;
	int c = x->addr == y->addr ? 0 : mh_strcasecmp(x->addr, y->addr);

	if (c != 0)
		return c;
	return x->fi < y->fi ? -1 : x->fi > y->fi;
}

/* All (recipient, finding) pairs, sorted for lookup; bounded by
 * WEBPAGE_FINDINGS_MAX * WEBPAGE_MATCH_MAX. */
static struct webpage_pair *
webpage_pairs_new(const struct webpage_view *v, size_t nf, size_t *np)
{
	struct webpage_pair *p = NULL;
	const struct alert_finding *f;
	size_t i, j, n = 0, total = 0, m;

	for (i = 0; i < nf; i++) {
		f = &v->findings[i];
		if (f->rcpts != NULL)
			total += f->nrcpts < WEBPAGE_MATCH_MAX ? f->nrcpts :
			    WEBPAGE_MATCH_MAX;
	}
	*np = 0;
	if (total == 0)
		return NULL;
	p = xreallocarray(NULL, total, sizeof(*p));
	for (i = 0; i < nf; i++) {
		f = &v->findings[i];
		if (f->rcpts == NULL)
			continue;
		m = f->nrcpts < WEBPAGE_MATCH_MAX ? f->nrcpts :
		    WEBPAGE_MATCH_MAX;
		for (j = 0; j < m; j++) {
			if (f->rcpts[j] == NULL)
				continue;
			p[n].addr = f->rcpts[j];
			p[n].fi = i;
			n++;
		}
	}
	qsort(p, n, sizeof(*p), webpage_pair_cmp);
	/* One pair per (recipient, finding): a finding may list an
	 * address twice, and the reasons loop walks one address's run. */
	for (i = j = 0; i < n; i++)
		if (j == 0 || webpage_pair_cmp(&p[j - 1], &p[i]) != 0)
			p[j++] = p[i];
	*np = j;
	return p;
}

/* Index of the first pair for addr, or np. */
static size_t
webpage_pairs_find(const struct webpage_pair *p, size_t np, const char *addr)
{
	size_t lo = 0, hi = np, mid;

	while (lo < hi) {
		mid = lo + (hi - lo) / 2;
		if (mh_strcasecmp(p[mid].addr, addr) < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	if (lo < np && mh_strcasecmp(p[lo].addr, addr) == 0)
		return lo;
	return np;
}

/* ------------------------------------------------------------------ */
/* Page parts                                                          */

static void
webpage_head(struct webpage_out *o, const struct webpage_str *L,
    const char *title)
{
	webpage_put(o, "<!DOCTYPE html>\n<html lang=\"");
	webpage_put(o, L->lang);
	webpage_put(o, "\">\n<head>\n"
	    "<meta charset=\"utf-8\">\n"
	    "<meta name=\"viewport\" content=\"width=device-width, "
	    "initial-scale=1\">\n"
	    "<meta name=\"referrer\" content=\"no-referrer\">\n"
	    "<meta name=\"robots\" content=\"noindex\">\n"
	    "<title>");
	webpage_put(o, title);
	webpage_put(o, " - mailhold</title>\n"
	    "<link rel=\"stylesheet\" href=\"" WEBPAGE_CSS_PATH "\">\n"
	    "</head>\n<body>\n<main class=\"page\">\n"
	    "<p class=\"brand\">mailhold</p>\n");
}

static void
webpage_tail(struct webpage_out *o)
{
	webpage_put(o, "</main>\n</body>\n</html>\n");
}

static void
webpage_notice(struct webpage_out *o, const struct webpage_view *v,
    const struct webpage_str *L, const struct webpage_args *a)
{
	const char *cls, *role = "status", *tpl;
	enum webpage_state st = v->state;

	switch (v->notice) {
	case WEBPAGE_N_NONE:
		return;
	case WEBPAGE_N_CANCELLED:
		cls = "notice-ok";
		tpl = L->n_cancelled;
		break;
	case WEBPAGE_N_RELEASED:
		cls = "notice-ok";
		tpl = L->n_released;
		break;
	case WEBPAGE_N_TOO_LATE:
		cls = "notice-warn";
		role = "alert";
		tpl = a->t != NULL ? L->n_too_late[st] :
		    L->n_too_late_notime[st];
		break;
	case WEBPAGE_N_BAD_CSRF:
		cls = "notice-warn";
		role = "alert";
		tpl = L->n_bad_csrf;
		break;
	case WEBPAGE_N_ERROR:
	default:
		cls = "notice-err";
		role = "alert";
		tpl = L->n_error;
		break;
	}
	webpage_put(o, "<div id=\"notice\" class=\"notice ");
	webpage_put(o, cls);
	webpage_put(o, "\" role=\"");
	webpage_put(o, role);
	webpage_put(o, "\"><p>");
	webpage_tpl(o, tpl, a);
	webpage_put(o, "</p></div>\n");
}

/* The form for one button; token and csrf are escaped here. */
static void
webpage_form(struct webpage_out *o, const struct webpage_view *v,
    const char *action, const char *cls, const char *label)
{
	static const char hex[] = "0123456789ABCDEF";
	const char *tok = v->token != NULL ? v->token : "";
	char enc[3 * WEBPAGE_TOKEN_MAX + 1];
	size_t i, e = 0;
	unsigned char c;

	/* Percent-encode all but the URL-safe base64 alphabet (RFC 4648
	 * section 5), so the token can only ever name one path segment. */
	for (i = 0; tok[i] != '\0' && i < WEBPAGE_TOKEN_MAX; i++) {
		c = (unsigned char)tok[i];
		if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
		    (c >= '0' && c <= '9') || c == '-' || c == '_')
			enc[e++] = (char)c;
		else {
			enc[e++] = '%';
			enc[e++] = hex[c >> 4];
			enc[e++] = hex[c & 15];
		}
	}
	enc[e] = '\0';
	webpage_put(o, "<form method=\"post\" action=\"/m/");
	webpage_esc(o, enc, sizeof(enc));
	webpage_put(o, "\">\n<input type=\"hidden\" name=\"csrf\" value=\"");
	webpage_esc(o, v->csrf != NULL ? v->csrf : "", WEBPAGE_TOKEN_MAX);
	webpage_put(o, "\">\n<button type=\"submit\" name=\"action\" value=\"");
	webpage_put(o, action);
	webpage_put(o, "\" class=\"btn ");
	webpage_put(o, cls);
	webpage_put(o, "\">");
	webpage_put(o, label);
	webpage_put(o, "</button>\n</form>\n");
}

static void
webpage_status(struct webpage_out *o, const struct webpage_view *v,
    const struct webpage_str *L, const struct webpage_args *a)
{
	enum webpage_state st = v->state;
	bool timed = a->t != NULL;
	const char *line, *extra;

	line = timed ? L->line[st] : L->line_notime[st];
	extra = timed ? L->extra[st] : L->extra_notime[st];
	webpage_put(o, "<div class=\"status status-");
	switch (st) {
	case WEBPAGE_HELD: webpage_put(o, "held"); break;
	case WEBPAGE_AWAITING: webpage_put(o, "awaiting"); break;
	case WEBPAGE_DEFERRED: webpage_put(o, "deferred"); break;
	case WEBPAGE_SENDING: webpage_put(o, "sending"); break;
	case WEBPAGE_SENT: webpage_put(o, "sent"); break;
	case WEBPAGE_FAILED: webpage_put(o, "failed"); break;
	case WEBPAGE_CANCELLED: webpage_put(o, "cancelled"); break;
	}
	webpage_put(o, "\">\n<p class=\"lead\">");
	webpage_tpl(o, line, a);
	webpage_put(o, "</p>\n");
	if (extra != NULL) {
		webpage_put(o, "<p>");
		webpage_tpl(o, extra, a);
		webpage_put(o, "</p>\n");
	}
	webpage_put(o, "</div>\n");
	if (st != WEBPAGE_HELD && st != WEBPAGE_AWAITING &&
	    st != WEBPAGE_DEFERRED)
		return;
	/* Cancel first and primary: it is what stops a mistake. */
	webpage_put(o, "<div class=\"actions\" role=\"group\" aria-label=\"");
	webpage_put(o, L->actions_label);
	webpage_put(o, "\">\n");
	webpage_form(o, v, "cancel", "btn-primary", L->btn_cancel);
	webpage_form(o, v, "send", "btn-secondary", L->btn_send);
	webpage_put(o, "</div>\n<p class=\"note\">");
	webpage_put(o, st == WEBPAGE_AWAITING ? L->hint_awaiting :
	    L->hint_held);
	webpage_put(o, "</p>\n");
	if (timed) {
		webpage_put(o, "<p class=\"note\">");
		webpage_put(o, L->countdown_note);
		webpage_put(o, "</p>\n");
	}
}

static void
webpage_summary(struct webpage_out *o, const struct webpage_view *v,
    const struct webpage_str *L)
{
	webpage_put(o, "<dl class=\"meta\">\n<dt>");
	webpage_put(o, L->l_subject);
	webpage_put(o, "</dt><dd class=\"value\">");
	if (v->subject == NULL || v->subject[0] == '\0')
		webpage_put(o, L->no_subject);
	else
		webpage_esc(o, v->subject, WEBPAGE_SUBJECT_MAX);
	webpage_put(o, "</dd>\n<dt>");
	webpage_put(o, L->l_from);
	webpage_put(o, "</dt><dd class=\"addr\">");
	if (v->sender == NULL || v->sender[0] == '\0')
		webpage_put(o, L->empty_sender);
	else
		webpage_esc(o, v->sender, WEBPAGE_ADDR_MAX);
	webpage_put(o, "</dd>\n</dl>\n");
}

static void
webpage_more(struct webpage_out *o, const struct webpage_str *L, size_t n,
    const char *tag)
{
	char num[32];
	struct webpage_args a = { .n = num };

	if (mh_snprintf(num, sizeof(num), "%zu", n) == -1) {
		o->full = true;
		return;
	}
	webpage_put(o, "<");
	webpage_put(o, tag);
	webpage_put(o, " class=\"more\">");
	webpage_tpl(o, L->and_more, &a);
	webpage_put(o, "</");
	webpage_put(o, tag);
	webpage_put(o, ">");
}

/* "Did you mean <s>?" with s escaped. */
static void
webpage_suggest(struct webpage_out *o, const struct webpage_str *L,
    const char *s)
{
	const char *p = strstr(L->did_you_mean, "%S");

	if (p == NULL) {
		MH_BUG("webpage did_you_mean");
		return;
	}
	webpage_putn(o, L->did_you_mean, (size_t)(p - L->did_you_mean));
	webpage_put(o, "<span class=\"suggestion addr\">");
	webpage_esc(o, s, WEBPAGE_ADDR_MAX);
	webpage_put(o, "</span>");
	webpage_put(o, p + 2);
}

/* Same explanation, as far as the page shows them. */
static bool
webpage_same_finding(const struct alert_finding *x,
    const struct alert_finding *y)
{
	return alert_finding_same(x, y, WEBPAGE_TEXT_MAX + 1,
	    WEBPAGE_ADDR_MAX + 1);
}

/* By group (in fi), then address: one run of distinct addresses per
 * group. */
static int
webpage_gpair_cmp(const void *a, const void *b)
{
	const struct webpage_pair *x = a, *y = b;

	if (x->fi != y->fi)
		return x->fi < y->fi ? -1 : 1;
	return x->addr == y->addr ? 0 : mh_strcasecmp(x->addr, y->addr);
}

/*
 * "Why it was held": each explanation once, with the recipients it is
 * about listed under it.  Findings with the same text (a rule that
 * flags each of 100 recipients alike) make one group, so a page with 100
 * flagged recipients does not repeat one explanation 100 times.  p holds
 * the (recipient, finding) pairs of webpage_pairs_new().
 */
static void
webpage_findings(struct webpage_out *o, const struct webpage_view *v,
    const struct webpage_str *L, size_t nf, const struct webpage_pair *p,
    size_t np)
{
	const struct alert_finding *f;
	struct webpage_pair *gp = NULL;
	size_t grp[WEBPAGE_FINDINGS_MAX];
	size_t i, j, k, ngp = 0, shown;

	if (nf == 0)
		return;
	for (i = 0; i < nf; i++) {
		for (j = 0; j < i && !webpage_same_finding(&v->findings[j],
		    &v->findings[i]); j++)
			;
		grp[i] = j;	/* the group's first finding */
	}
	if (np > 0) {
		gp = xreallocarray(NULL, np, sizeof(*gp));
		for (i = 0; i < np; i++) {
			gp[i].addr = p[i].addr;
			gp[i].fi = grp[p[i].fi];
		}
		qsort(gp, np, sizeof(*gp), webpage_gpair_cmp);
		for (i = ngp = 0; i < np; i++)
			if (ngp == 0 || webpage_gpair_cmp(&gp[ngp - 1],
			    &gp[i]) != 0)
				gp[ngp++] = gp[i];
	}
	webpage_put(o, "<section class=\"card\" aria-labelledby=\"why\">\n"
	    "<h2 id=\"why\">");
	webpage_put(o, L->h_findings);
	webpage_put(o, "</h2>\n<ul class=\"findings\">\n");
	for (i = k = 0; i < nf; i++) {
		if (o->b.len > WEBPAGE_BUDGET)
			break;
		if (grp[i] != i)
			continue;	/* shown with its group */
		f = &v->findings[i];
		webpage_put(o, "<li>\n<p>");
		webpage_esc(o, f->text != NULL ? f->text : "",
		    WEBPAGE_TEXT_MAX);
		webpage_put(o, "</p>\n");
		if (f->suggestion != NULL && f->suggestion[0] != '\0' &&
		    (f->text == NULL || strstr(f->text, f->suggestion) ==
		    NULL)) {
			webpage_put(o, "<p>");
			webpage_suggest(o, L, f->suggestion);
			webpage_put(o, "</p>\n");
		}
		/* The group's run in gp (sorted by group). */
		while (k < ngp && gp[k].fi < i)
			k++;
		for (j = k, shown = 0; j < ngp && gp[j].fi == i; j++) {
			if (shown == WEBPAGE_FINDING_RCPTS_MAX)
				continue;
			if (shown++ == 0) {
				webpage_put(o, "<p>");
				webpage_put(o, L->concerns);
				webpage_put(o, "</p>\n<ul class=\"frcpts\">\n");
			}
			webpage_put(o, "<li><span class=\"addr\">");
			webpage_esc(o, gp[j].addr, WEBPAGE_ADDR_MAX);
			webpage_put(o, "</span></li>\n");
		}
		if (shown > 0) {
			if (j - k > shown) {
				webpage_put(o, "<li>");
				webpage_more(o, L, j - k - shown, "span");
				webpage_put(o, "</li>\n");
			}
			webpage_put(o, "</ul>\n");
		}
		k = j;
		webpage_put(o, "</li>\n");
	}
	if (i < nf || nf < v->nfindings) {
		webpage_put(o, "<li>");
		webpage_more(o, L, v->nfindings - i, "p");
		webpage_put(o, "</li>\n");
	}
	webpage_put(o, "</ul>\n</section>\n");
	free(gp);
}

/* The recipients, the flagged ones marked; why is said once above. */
static void
webpage_rcpts(struct webpage_out *o, const struct webpage_view *v,
    const struct webpage_str *L, const struct webpage_pair *p, size_t np)
{
	size_t i, n;
	bool flagged;
	const char *r;
	char num[32];
	struct webpage_args a = { .n = num };

	n = v->rcpts != NULL ? v->nrcpts : 0;
	if (mh_snprintf(num, sizeof(num), "%zu", n) == -1)
		o->full = true;
	webpage_put(o, "<section class=\"card\" aria-labelledby=\"rcpts\">\n"
	    "<h2 id=\"rcpts\">");
	webpage_tpl(o, L->h_rcpts, &a);
	webpage_put(o, "</h2>\n");
	if (n == 0) {
		webpage_put(o, "</section>\n");
		return;
	}
	webpage_put(o, "<ul class=\"rcpts\">\n");
	for (i = 0; i < n && i < WEBPAGE_RCPTS_MAX; i++) {
		if (o->b.len > WEBPAGE_BUDGET)
			break;
		r = v->rcpts[i] != NULL ? v->rcpts[i] : "";
		flagged = webpage_pairs_find(p, np, r) < np;
		webpage_put(o, flagged ? "<li class=\"rcpt flagged\">" :
		    "<li class=\"rcpt\">");
		webpage_put(o, "<span class=\"addr\">");
		webpage_esc(o, r, WEBPAGE_ADDR_MAX);
		webpage_put(o, "</span>");
		if (flagged) {
			webpage_put(o, " <a class=\"flag\" href=\"#why\">");
			webpage_put(o, L->flag);
			webpage_put(o, "</a>");
		}
		webpage_put(o, "</li>\n");
	}
	if (i < n) {
		webpage_put(o, "<li>");
		webpage_more(o, L, n - i, "p");
		webpage_put(o, "</li>\n");
	}
	webpage_put(o, "</ul>\n</section>\n");
}

static void
webpage_footer(struct webpage_out *o, const struct webpage_view *v,
    const struct webpage_str *L)
{
	char t[256];

	webpage_put(o, "<footer class=\"footer\">\n<dl class=\"meta\">\n");
	if (webpage_time_html(v->received_at, v->now, v->lang, t,
	    sizeof(t)) == 0) {
		webpage_put(o, "<dt>");
		webpage_put(o, L->l_received);
		webpage_put(o, "</dt><dd>");
		webpage_put(o, t);
		webpage_put(o, "</dd>\n");
	}
	if (v->id != NULL && v->id[0] != '\0') {
		webpage_put(o, "<dt>");
		webpage_put(o, L->l_id);
		webpage_put(o, "</dt><dd><code>");
		webpage_esc(o, v->id, WEBPAGE_ID_MAX);
		webpage_put(o, "</code></dd>\n");
	}
	webpage_put(o, "</dl>\n<p>");
	webpage_put(o, L->brand_note);
	webpage_put(o, "</p>\n</footer>\n");
}

/* ------------------------------------------------------------------ */
/* Public                                                              */

char *
webpage_render(const struct webpage_view *v, size_t *lenp)
{
	struct webpage_view vv = *v;
	const struct webpage_str *L;
	struct webpage_out o;
	struct webpage_args a;
	char t[256], cd[96], c[160];
	int64_t when;
	struct webpage_pair *p;
	size_t nf, np;

	if (vv.lang != ALERT_LANG_JA)
		vv.lang = ALERT_LANG_EN;
	if ((unsigned)vv.state >= WEBPAGE_NSTATES) {
		MH_BUG("webpage state");
		return webpage_render_error(WEBPAGE_E_UNAVAILABLE, vv.lang,
		    lenp);
	}
	L = webpage_strings(vv.lang);
	/*
	 * A held message whose time has come is the relay's now: "Send now"
	 * sets release_at to now, and so does the timer.  Saying "on hold",
	 * with the buttons and "cancel it now", next to "Sent now" would
	 * contradict it: the page shows it being sent.
	 */
	if (vv.state == WEBPAGE_HELD && vv.release_at > 0 &&
	    vv.release_at <= vv.now)
		vv.state = WEBPAGE_SENDING;
	nf = vv.findings != NULL ? vv.nfindings : 0;
	if (nf > WEBPAGE_FINDINGS_MAX)
		nf = WEBPAGE_FINDINGS_MAX;
	if (vv.findings == NULL)
		vv.nfindings = 0;

	/* The time the page is about: release_at while the message waits,
	 * done_at once it is done. */
	switch (vv.state) {
	case WEBPAGE_HELD:
	case WEBPAGE_AWAITING:
	case WEBPAGE_DEFERRED:
		when = vv.release_at;
		break;
	case WEBPAGE_SENDING:
		when = 0;
		break;
	default:
		when = vv.done_at;
		break;
	}
	memset(&a, 0, sizeof(a));
	if (when > 0 && webpage_time_html(when, vv.now, vv.lang, t,
	    sizeof(t)) == 0) {
		webpage_countdown(when, vv.now, L, cd, sizeof(cd));
		if (mh_snprintf(c, sizeof(c), "<span class=\"countdown\">%s"
		    "</span>", cd) != -1) {
			a.t = t;
			a.c = c;
		}
	}

	mh_buf_init(&o.b, WEBPAGE_MAX);
	o.full = false;
	webpage_head(&o, L, L->h1[vv.state]);
	webpage_notice(&o, &vv, L, &a);
	webpage_put(&o, "<section class=\"card\">\n<h1>");
	webpage_put(&o, L->h1[vv.state]);
	webpage_put(&o, "</h1>\n");
	webpage_summary(&o, &vv, L);
	webpage_status(&o, &vv, L, &a);
	webpage_put(&o, "</section>\n");
	p = webpage_pairs_new(&vv, nf, &np);
	webpage_findings(&o, &vv, L, nf, p, np);
	webpage_rcpts(&o, &vv, L, p, np);
	free(p);
	webpage_footer(&o, &vv, L);
	webpage_tail(&o);
	if (o.full) {
		/* Cannot happen: every part is bounded (see the top). */
		mh_buf_clear(&o.b);
		MH_BUG("webpage over its hard cap");
		return webpage_render_error(WEBPAGE_E_UNAVAILABLE, vv.lang,
		    lenp);
	}
	return mh_buf_steal(&o.b, lenp);
}

char *
webpage_render_error(enum webpage_error e, enum alert_lang lang,
    size_t *lenp)
{
	const struct webpage_str *L = webpage_strings(lang);
	struct webpage_out o;

	if ((unsigned)e >= WEBPAGE_NERRORS)
		e = WEBPAGE_E_BAD_REQUEST;
	mh_buf_init(&o.b, 16 * 1024);
	o.full = false;
	webpage_head(&o, L, L->e_title[e]);
	webpage_put(&o, "<section class=\"card\">\n<h1>");
	webpage_put(&o, L->e_title[e]);
	webpage_put(&o, "</h1>\n<p>");
	webpage_put(&o, L->e_text[e]);
	webpage_put(&o, "</p>\n<p class=\"note\">");
	{
		char num[16];
		struct webpage_args a = { .n = num };

		if (mh_snprintf(num, sizeof(num), "%d",
		    webpage_error_status[e]) == -1)
			o.full = true;
		webpage_tpl(&o, L->e_code, &a);
	}
	webpage_put(&o, "</p>\n</section>\n");
	webpage_tail(&o);
	if (o.full)
		fatalx("webpage: error page over its cap"); /* static */
	return mh_buf_steal(&o.b, lenp);
}

const char *
webpage_css(size_t *lenp)
{
	if (lenp != NULL)
		*lenp = sizeof(webpage_stylesheet) - 1;
	return webpage_stylesheet;
}

/* ------------------------------------------------------------------ */
/* Accept-Language (RFC 9110 section 12.5.4)                           */

enum webpage_al_kind {
	WEBPAGE_AL_EMPTY = 0,	/* empty list element: not counted */
	WEBPAGE_AL_BAD,		/* malformed: skipped */
	WEBPAGE_AL_STAR,
	WEBPAGE_AL_EN,
	WEBPAGE_AL_JA,
	WEBPAGE_AL_OTHER,
};

static bool
webpage_al_alpha(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

/*
 * One list element: language-range [ OWS ";" OWS "q=" qvalue ], with
 *   language-range = 1*8ALPHA *("-" 1*8alphanum) / "*"   (RFC 4647)
 *   qvalue = ( "0" [ "." 0*3DIGIT ] ) / ( "1" [ "." 0*3("0") ] )
 * *qp gets q in thousandths.
 */
static enum webpage_al_kind
webpage_al_item(const char *p, size_t n, int *qp)
{
	enum webpage_al_kind kind;
	size_t j = 0, k, sub;
	int q, scale;

	while (n > 0 && (p[0] == ' ' || p[0] == '\t'))
		p++, n--;
	while (n > 0 && (p[n - 1] == ' ' || p[n - 1] == '\t'))
		n--;
	if (n == 0)
		return WEBPAGE_AL_EMPTY;
	if (p[0] == '*') {
		kind = WEBPAGE_AL_STAR;
		j = 1;
	} else {
		for (k = 0; k < n && webpage_al_alpha((unsigned char)p[k]); k++)
			;
		if (k == 0 || k > 8)
			return WEBPAGE_AL_BAD;
		if (k == 2 && mh_strncasecmp(p, "en", 2) == 0)
			kind = WEBPAGE_AL_EN;
		else if (k == 2 && mh_strncasecmp(p, "ja", 2) == 0)
			kind = WEBPAGE_AL_JA;
		else
			kind = WEBPAGE_AL_OTHER;
		j = k;
		while (j < n && p[j] == '-') {
			for (k = j + 1, sub = 0; k < n && sub <= 8 &&
			    (webpage_al_alpha((unsigned char)p[k]) ||
			    (p[k] >= '0' && p[k] <= '9')); k++)
				sub++;
			if (sub == 0 || sub > 8)
				return WEBPAGE_AL_BAD;
			j = k;
		}
	}
	while (j < n && (p[j] == ' ' || p[j] == '\t'))
		j++;
	if (j == n) {
		*qp = 1000;
		return kind;
	}
	if (p[j++] != ';')
		return WEBPAGE_AL_BAD;
	while (j < n && (p[j] == ' ' || p[j] == '\t'))
		j++;
	if (n - j < 3 || (p[j] != 'q' && p[j] != 'Q') || p[j + 1] != '=')
		return WEBPAGE_AL_BAD;
	j += 2;
	if (p[j] != '0' && p[j] != '1')
		return WEBPAGE_AL_BAD;
	q = (p[j] - '0') * 1000;
	j++;
	if (j < n && p[j] == '.') {
		j++;
		for (scale = 100; j < n && p[j] >= '0' && p[j] <= '9' &&
		    scale > 0; j++, scale /= 10)
			q += (p[j] - '0') * scale;
	}
	if (j != n || q > 1000)
		return WEBPAGE_AL_BAD;
	*qp = q;
	return kind;
}

enum alert_lang
webpage_pick_lang(const char *h, enum alert_lang dflt)
{
	int bestq[2] = { -1, -1 }, starq = -1, q = 0;
	size_t bestpos[2] = { 0, 0 }, starpos = 0, len, start, i, items = 0;
	bool named[2] = { false, false };
	enum webpage_al_kind kind;
	int l, other;

	if (dflt != ALERT_LANG_JA)
		dflt = ALERT_LANG_EN;
	if (h == NULL)
		return dflt;
	len = strnlen(h, WEBPAGE_AL_OCTETS + 1);
	if (len > WEBPAGE_AL_OCTETS) {
		/* Only whole elements: an element cut at the limit could
		 * read as another ("en;q=0.5" as "en;q=0."). */
		len = WEBPAGE_AL_OCTETS;
		while (len > 0 && h[len] != ',')
			len--;
	}
	for (start = 0; start < len && items < WEBPAGE_AL_ITEMS;
	    start = i + 1) {
		for (i = start; i < len && h[i] != ','; i++)
			;
		kind = webpage_al_item(h + start, i - start, &q);
		if (kind == WEBPAGE_AL_EMPTY)
			continue;
		items++;
		switch (kind) {
		case WEBPAGE_AL_EN:
		case WEBPAGE_AL_JA:
			l = kind == WEBPAGE_AL_JA ? ALERT_LANG_JA :
			    ALERT_LANG_EN;
			named[l] = true;
			if (q > bestq[l]) {
				bestq[l] = q;
				bestpos[l] = items;
			}
			break;
		case WEBPAGE_AL_STAR:
			if (q > starq) {
				starq = q;
				starpos = items;
			}
			break;
		default:
			break;
		}
	}
	/* "*" stands for every language no other element names. */
	for (l = 0; l < 2; l++)
		if (!named[l] && starq >= 0) {
			bestq[l] = starq;
			bestpos[l] = starpos;
		}
	l = dflt;
	other = dflt == ALERT_LANG_JA ? ALERT_LANG_EN : ALERT_LANG_JA;
	if (bestq[other] > 0 && (bestq[other] > bestq[l] ||
	    (bestq[other] == bestq[l] && bestpos[other] < bestpos[l])))
		return (enum alert_lang)other;
	return dflt;
}
