/*
 * notify.h - mails that mailhold itself sends to senders.
 *
 * For now: the failure notice (a recipient failed for good), built by
 * alert_build_failure() (alert.h) as an RFC 3464 report in the sender's
 * language.  Notices are queued like any message but carry
 * QUEUE_F_NOTICE, a null reverse-path and a zero hold, so they are never
 * held, never alerted on, and never cause a notice themselves (no mail
 * loops).
 *
 * Ownership: returns a struct queue_msg_new for queue_submit(), or NULL.
 * Thread: loop thread (reads the original headers from the queue).
 */
#ifndef MH_PROXY_NOTIFY_H
#define MH_PROXY_NOTIFY_H

#include <stddef.h>

#include "alert.h"	/* enum alert_lang */

struct queue;
struct queue_msg;
struct queue_msg_new;

/*
 * The failure notice for m, to `to`: addrs[i] failed for good with
 * replies[i] (n of each).  for_addr NULL: `to` is m's sender.  Else `to`
 * is the administrator, told that for_addr could not be told (when m is
 * mailhold's own alert or notice, it was to for_addr; else the upstream
 * cannot carry for_addr's address), in words for the administrator.
 * The original header block is read back from the queue and quoted, its
 * Subject decoded into the notice's Subject.  The notice needs SMTPUTF8
 * only when `to` is a UTF-8 address.
 */
struct queue_msg_new *notify_failure_new(struct queue *,
		    const struct queue_msg *m, const char *to,
		    const char *for_addr, const char **addrs,
		    const char **replies, size_t n, const char *hostname,
		    enum alert_lang lang);

#endif
