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
 * never NULL (the policy never fails; OOM is fatal as everywhere).
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

struct policy_verdict *screen_message(const struct config *, struct queue *,
		    const char *auth_user, const char *mail_from,
		    const char *const *rcpts, size_t nrcpts, const char *msg,
		    size_t len, int64_t now);

/* The verdict as JSON for storage, or NULL if it does not fit (64 KiB). */
char		*screen_verdict_json(const struct policy_verdict *);

/* One log line per finding: "id=… event=finding rule=… mode=… …". */
void		 screen_log(const char *id, const struct policy_verdict *);

#endif
