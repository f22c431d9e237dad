/*
 * notify.h - mails that mailhold itself sends to senders.
 *
 * For now: the plain failure notice (a recipient failed for good).  The
 * alert mail with cancel / send-now links comes with the alerts issue.
 * Notices are queued like any message but carry QUEUE_F_NOTICE, a null
 * reverse-path and a zero hold, so they are never held, never alerted on,
 * and never cause a notice themselves (no mail loops).
 *
 * Ownership: returns a struct queue_msg_new for queue_submit(), or NULL.
 * Thread: loop thread (reads the original headers from the queue).
 */
#ifndef MH_PROXY_NOTIFY_H
#define MH_PROXY_NOTIFY_H

#include <stddef.h>

struct queue;
struct queue_msg;
struct queue_msg_new;

struct queue_msg_new *notify_failure_new(struct queue *, const struct queue_msg *m,
		    const char **addrs, const char **replies, size_t n,
		    const char *hostname);

#endif
