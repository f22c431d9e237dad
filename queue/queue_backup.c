/*
 * queue_backup.c - online copy of the queue database; see queue_backup.h.
 */
#include "queue_backup.h"

#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/event.h>
#include <sqlite3.h>

#include "log.h"
#include "util.h"

#define QUEUE_BACKUP_BUSY_MS	10000	/* waiting for a read snapshot */
#define QUEUE_BACKUP_PAGES	1024	/* pages per step, between checks */

struct queue_backup {
	char		*src_path;
	char		*dest;
	struct event	*ev;		/* the thread's "done" */
	pthread_t	 thread;
	queue_backup_cb	*cb;
	void		*arg;

	/* set by the thread, read by the loop after the join */
	int		 result;
	long long	 bytes;
	char		 error[512];

	/* under mtx: abort sets aborted and interrupts the copy's check */
	pthread_mutex_t	 mtx;
	sqlite3		*dst;
	bool		 aborted;
};

static void
queue_backup_fail(struct queue_backup *b, const char *what, sqlite3 *db,
    int rc)
{
	(void)mh_snprintf(b->error, sizeof(b->error), "%s: %s", what,
	    db != NULL ? sqlite3_errmsg(db) : sqlite3_errstr(rc));
	b->result = -1;
}

static bool
queue_backup_aborted(struct queue_backup *b)
{
	bool a;

	pthread_mutex_lock(&b->mtx);
	a = b->aborted;
	pthread_mutex_unlock(&b->mtx);
	return a;
}

/*
 * Copies, converts to a rollback journal, checks.  0 or -1 (b->error).
 * The read transaction opened on src first pins one WAL snapshot: the
 * copy goes step by step (so an abort is seen between steps) and still
 * does not restart when the daemon commits meanwhile.
 */
static int
queue_backup_copy(struct queue_backup *b, sqlite3 *src, sqlite3 *dst)
{
	sqlite3_backup *bk;
	sqlite3_stmt *st = NULL;
	int rc;

	if (sqlite3_exec(src, "BEGIN; SELECT count(*) FROM sqlite_master;",
	    NULL, NULL, NULL) != SQLITE_OK) {
		queue_backup_fail(b, "read snapshot", src, 0);
		return -1;
	}
	if ((bk = sqlite3_backup_init(dst, "main", src, "main")) == NULL) {
		queue_backup_fail(b, "backup", dst, 0);
		return -1;
	}
	do {
		if (queue_backup_aborted(b)) {
			(void)sqlite3_backup_finish(bk);
			(void)mh_snprintf(b->error, sizeof(b->error),
			    "stopped (mailhold is stopping)");
			return -1;
		}
		rc = sqlite3_backup_step(bk, QUEUE_BACKUP_PAGES);
	} while (rc == SQLITE_OK || rc == SQLITE_BUSY || rc == SQLITE_LOCKED);
	(void)sqlite3_backup_finish(bk);
	(void)sqlite3_exec(src, "COMMIT", NULL, NULL, NULL);
	if (rc != SQLITE_DONE) {
		queue_backup_fail(b, "copy", NULL, rc);
		return -1;
	}
	/* One self-contained file: no -wal beside it. */
	if (sqlite3_exec(dst, "PRAGMA journal_mode=DELETE", NULL, NULL,
	    NULL) != SQLITE_OK) {
		queue_backup_fail(b, "journal_mode", dst, 0);
		return -1;
	}
	if (sqlite3_prepare_v2(dst, "PRAGMA quick_check(1)", -1, &st,
	    NULL) != SQLITE_OK || sqlite3_step(st) != SQLITE_ROW) {
		sqlite3_finalize(st);
		queue_backup_fail(b, "check of the copy", dst, 0);
		return -1;
	}
	if (strcmp((const char *)sqlite3_column_text(st, 0), "ok") != 0) {
		(void)mh_snprintf(b->error, sizeof(b->error), "check of the "
		    "copy: %.200s", (const char *)sqlite3_column_text(st, 0));
		sqlite3_finalize(st);
		b->result = -1;
		return -1;
	}
	sqlite3_finalize(st);
	return 0;
}

static void *
queue_backup_main(void *arg)
{
	struct queue_backup *b = arg;
	sqlite3 *src = NULL, *dst = NULL;
	struct stat sb;
	bool created = false;
	int fd, rc;

	b->result = -1;
	fd = open(b->dest, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW |
	    O_CLOEXEC, 0600);
	if (fd == -1) {
		(void)mh_snprintf(b->error, sizeof(b->error), "cannot create "
		    "%s: %s", b->dest, strerror(errno));
		goto done;
	}
	created = true;
	(void)close(fd);
	rc = sqlite3_open_v2(b->src_path, &src, SQLITE_OPEN_READONLY |
	    SQLITE_OPEN_NOMUTEX, NULL);
	if (rc != SQLITE_OK) {
		queue_backup_fail(b, "open the queue", src, rc);
		goto done;
	}
	sqlite3_busy_timeout(src, QUEUE_BACKUP_BUSY_MS);
	/* NOFOLLOW: the name was created above without following a link;
	 * a link swapped in since is refused, not written through. */
	rc = sqlite3_open_v2(b->dest, &dst, SQLITE_OPEN_READWRITE |
	    SQLITE_OPEN_NOMUTEX | SQLITE_OPEN_NOFOLLOW, NULL);
	if (rc != SQLITE_OK) {
		queue_backup_fail(b, b->dest, dst, rc);
		goto done;
	}
	pthread_mutex_lock(&b->mtx);
	b->dst = dst;
	if (b->aborted)
		sqlite3_interrupt(dst);
	pthread_mutex_unlock(&b->mtx);
	if (queue_backup_copy(b, src, dst) == 0) {
		b->result = 0;
		if (stat(b->dest, &sb) == 0)
			b->bytes = (long long)sb.st_size;
	}
done:
	pthread_mutex_lock(&b->mtx);
	b->dst = NULL;
	pthread_mutex_unlock(&b->mtx);
	sqlite3_close(src);
	/* sqlite3_close syncs nothing more: the copy committed (and was
	 * synced, synchronous=FULL for a rollback journal) above. */
	if (sqlite3_close(dst) != SQLITE_OK && b->result == 0) {
		(void)mh_snprintf(b->error, sizeof(b->error), "close %s",
		    b->dest);
		b->result = -1;
	}
	if (b->result != 0 && created)
		(void)unlink(b->dest);
	event_active(b->ev, EV_TIMEOUT, 0);
	return NULL;
}

static void
queue_backup_free(struct queue_backup *b)
{
	event_free(b->ev);
	pthread_mutex_destroy(&b->mtx);
	free(b->src_path);
	free(b->dest);
	free(b);
}

static void
queue_backup_done_cb(evutil_socket_t fd, short ev, void *arg)
{
	struct queue_backup *b = arg;

	(void)pthread_join(b->thread, NULL);
	b->cb(b->result, b->result == 0 ? NULL : b->error, b->bytes, b->arg);
	queue_backup_free(b);
}

/* The database itself, its WAL or its shared memory: never a target. */
static bool
queue_backup_is_db(const char *db_path, const char *dest)
{
	size_t n = strlen(db_path);

	return strncmp(dest, db_path, n) == 0 && (dest[n] == '\0' ||
	    strcmp(dest + n, "-wal") == 0 || strcmp(dest + n, "-shm") == 0 ||
	    strcmp(dest + n, "-journal") == 0);
}

struct queue_backup *
queue_backup_start(struct event_base *base, const char *db_path,
    const char *dest, queue_backup_cb *cb, void *arg, char *errbuf,
    size_t errsz)
{
	struct queue_backup *b;
	char real[PATH_MAX];
	int rc;

	if (dest[0] != '/') {
		(void)mh_snprintf(errbuf, errsz, "the backup file must be an "
		    "absolute path");
		return NULL;
	}
	if (queue_backup_is_db(db_path, dest) ||
	    (realpath(db_path, real) != NULL &&
	    queue_backup_is_db(real, dest))) {
		(void)mh_snprintf(errbuf, errsz, "the backup file may not be "
		    "the queue database itself");
		return NULL;
	}
	if (access(dest, F_OK) == 0 || errno != ENOENT) {
		(void)mh_snprintf(errbuf, errsz, "%s exists: choose a new "
		    "name", dest);
		return NULL;
	}
	b = xcalloc(1, sizeof(*b));
	b->src_path = xstrdup(db_path);
	b->dest = xstrdup(dest);
	b->cb = cb;
	b->arg = arg;
	(void)pthread_mutex_init(&b->mtx, NULL);
	if ((b->ev = event_new(base, -1, 0, queue_backup_done_cb, b)) ==
	    NULL) {
		(void)mh_snprintf(errbuf, errsz, "event_new failed");
		pthread_mutex_destroy(&b->mtx);
		free(b->src_path);
		free(b->dest);
		free(b);
		return NULL;
	}
	if ((rc = pthread_create(&b->thread, NULL, queue_backup_main, b)) !=
	    0) {
		(void)mh_snprintf(errbuf, errsz, "pthread_create: %s",
		    strerror(rc));
		queue_backup_free(b);
		return NULL;
	}
	return b;
}

void
queue_backup_abort(struct queue_backup *b)
{
	if (b == NULL)
		return;
	pthread_mutex_lock(&b->mtx);
	b->aborted = true;
	if (b->dst != NULL)
		sqlite3_interrupt(b->dst);	/* the copy's quick_check */
	pthread_mutex_unlock(&b->mtx);
	(void)pthread_join(b->thread, NULL);
	/* Interrupted or not, an abandoned copy is not kept. */
	if (b->result == 0)
		(void)unlink(b->dest);
	queue_backup_free(b);	/* the pending event goes with it */
}
