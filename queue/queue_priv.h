/*
 * queue_priv.h - test-only hooks into queue.c (STYLE G1: names end in _).
 *
 * Not part of the API: only tests/unit/check_queue.c includes this.
 * Threads: loop thread, like the rest of the queue interface.
 */
#ifndef MH_QUEUE_QUEUE_PRIV_H
#define MH_QUEUE_QUEUE_PRIV_H

#include <stdbool.h>
#include <stdint.h>

struct queue;
struct queue_body;

/* Number of group-commit transactions committed so far. */
uint64_t	queue_stats_commits_(struct queue *);
/* The next n COMMITs are replaced by ROLLBACK and treated as failed, so a
 * test can see every request of the batch reported -1. */
void		queue_fail_commits_(struct queue *, int n);
/* While paused the writer takes no new requests, so a test can line up a
 * batch and know it is committed as one group. */
void		queue_pause_(struct queue *, bool paused);
/* Sets PRAGMA max_page_count on the write connection before the writer's
 * next batch: a way to get a real SQLITE_FULL ("disk full") in a test. */
void		queue_max_pages_(struct queue *, long pages);
/* Closes the body's blob handle as if SQLite had expired it, so the next
 * read must reopen it at the same offset. */
void		queue_body_expire_(struct queue_body *);

#endif
