/*
 * queue_backup.h - a consistent copy of the queue database while mailhold
 * runs (`mailholdctl backup FILE`).
 *
 * The copy is made by SQLite's online backup API on a thread of its own,
 * from a read-only connection of its own that first opens a read
 * transaction: one WAL snapshot for the whole copy (a moment's state while
 * writers go on), copied in steps of QUEUE_BACKUP_PAGES so that an abort
 * is seen between two, without restarting at every commit.  The copy is then switched to a rollback
 * journal (one self-contained file) and checked with quick_check.
 *
 * dest must be an absolute path that does not exist yet (created with
 * O_EXCL, mode 0600, never through a symbolic link) and is not the
 * database itself; a failed copy is removed.
 *
 * Ownership: the caller owns the handle until its callback has run (then
 * it is freed) or until queue_backup_abort() (which interrupts the copy,
 * waits for the thread, removes the file, frees the handle and never
 * calls the callback).  Thread: start and abort on the loop thread; the
 * callback runs there.  libevent must be thread-aware
 * (evthread_use_pthreads), as for the queue's writer thread.
 */
#ifndef MH_QUEUE_QUEUE_BACKUP_H
#define MH_QUEUE_QUEUE_BACKUP_H

#include <stddef.h>

struct event_base;
struct queue_backup;

/* result 0: dest holds the copy (bytes: its size); -1: error says why
 * and dest was removed.  error is borrowed for the call. */
typedef void queue_backup_cb(int result, const char *error, long long bytes,
    void *arg);

/* NULL with errbuf when it cannot even start (bad path, dest exists). */
struct queue_backup *queue_backup_start(struct event_base *,
		    const char *db_path, const char *dest,
		    queue_backup_cb *cb, void *arg, char *errbuf,
		    size_t errsz);
void		 queue_backup_abort(struct queue_backup *);	/* NULL ok */

#endif
