/*
 * screen.h - runs the policy (policy/policy.h) over one message before it
 * is queued: parses its header, reads the sender's history from the queue
 * and asks the compiled policy of the config for a verdict.
 *
 * Used by the SMTP session at the end of DATA and by "mailhold check"
 * (which may have no queue: then the history is empty).  The message bytes
 * given are the message as it will be queued (a large message: a bounded
 * prefix, see SCREEN_SCAN_MAX; the header and the MIME structure of that
 * prefix are what the policy sees).
 *
 * Ownership: returns a verdict the caller frees with policy_verdict_free();
 * never NULL (the policy never fails; OOM is fatal as everywhere).  When
 * subject is not NULL, *subject gets the decoded Subject (UTF-8, cut to
 * SCREEN_SUBJECT_MAX octets on a character boundary) or NULL; the caller
 * frees it.
 * Thread: loop thread (the history read uses the queue's read connection).
 */
#ifndef MH_PROXY_SCREEN_H
#define MH_PROXY_SCREEN_H

#include <stddef.h>
#include <stdint.h>

struct config;
struct queue;
struct policy_verdict;

#define SCREEN_SCAN_MAX	(1024 * 1024)	/* octets of a message examined */
#define SCREEN_SUBJECT_MAX	1000	/* octets of Subject kept */

/*
 * The hold windows set at run time (queue_holds_load), in the form the
 * screen applies them: per recipient, the longest domain window that
 * matches it (subdomains included), else the sender's window (user, by
 * sender key), else the default window, else hold.default; the message's
 * baseline is the longest of those.  A rule window replaces that rule's
 * hold.  NULL: none.
 */
struct screen_holds;
struct screen_holds *screen_holds_load(struct queue *);
void		 screen_holds_free(struct screen_holds *);

struct policy_verdict *screen_message(const struct config *, struct queue *,
		    const struct screen_holds *, const char *auth_user,
		    const char *mail_from, const char *const *rcpts,
		    size_t nrcpts, const char *msg, size_t len, int64_t now,
		    char **subject);

/*
 * After the verdict, before queue_submit(): stores the enforced findings
 * and the Subject (taken over: *subject becomes NULL) with m, and when
 * notify.alerts asks for it, a page token and the alert mail to the
 * sender (m->token, m->alert), so that message and alert are committed
 * together.  m->release_at and m->state must be final.  Nothing happens
 * for a null sender or a mail mailhold generated itself.
 */
struct queue_msg_new;
void		 screen_attach(const struct config *, struct queue_msg_new *m,
		    const struct policy_verdict *, char **subject, int64_t now);

/* The verdict as JSON for storage, or NULL if it does not fit (64 KiB). */
char		*screen_verdict_json(const struct policy_verdict *);

/* One log line per finding: "id=… event=finding rule=… mode=… …". */
void		 screen_log(const char *id, const struct policy_verdict *);

#endif
