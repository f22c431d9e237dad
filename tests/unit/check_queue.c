/*
 * check_queue.c - unit tests for queue/queue.c against a real SQLite file
 * in a temporary directory and a real, thread-aware libevent base.
 *
 * Completions are collected by queue_test_cb() and awaited by running the
 * loop with EVLOOP_ONCE a bounded number of times; a persistent 10 ms tick
 * keeps the loop from returning at once when nothing else is pending.
 */
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/types.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <check.h>
#include <event2/event.h>
#include <event2/thread.h>
#include <sqlite3.h>

#include "log.h"
#include "queue.h"
#include "queue_priv.h"
#include "util.h"

#define QT_MAXDONE	2048
#define QT_WAIT_ITER	1000	/* x 10 ms tick: 10 s at most */
#define QT_T0		((int64_t)1700000000)	/* fixed "now" for envelopes */

static struct {
	char			 dir[64];
	char			 path[128];
	struct event_base	*base;
	struct event		*tick;
	struct queue		*q;
} fx;

static struct {
	int	n;
	int	tag[QT_MAXDONE];
	int	res[QT_MAXDONE];
} done;

/* ------------------------------------------------------------------ */
/* Fixture and helpers                                                 */
/* ------------------------------------------------------------------ */

static void
queue_test_tick(evutil_socket_t fd, short what, void *arg)
{
}

static struct queue *
queue_test_open(size_t group_max)
{
	char err[256];
	struct queue *q;

	err[0] = '\0';
	q = queue_open(fx.base, fx.path, group_max, 10000, err, sizeof(err));
	ck_assert_msg(q != NULL, "queue_open: %s", err);
	return q;
}

static void
queue_test_setup(void)
{
	struct timeval tv = { 0, 10000 };

	ck_assert_int_eq(evthread_use_pthreads(), 0);
	mh_strlcpy(fx.dir, "/tmp/check_queue.XXXXXX", sizeof(fx.dir));
	ck_assert_ptr_nonnull(mkdtemp(fx.dir));
	ck_assert_int_ne(mh_snprintf(fx.path, sizeof(fx.path), "%s/queue.db",
	    fx.dir), -1);
	fx.base = event_base_new();
	ck_assert_ptr_nonnull(fx.base);
	fx.tick = event_new(fx.base, -1, EV_PERSIST, queue_test_tick, NULL);
	ck_assert_ptr_nonnull(fx.tick);
	ck_assert_int_eq(event_add(fx.tick, &tv), 0);
	fx.q = queue_test_open(0);
	done.n = 0;
}

static void
queue_test_teardown(void)
{
	char p[PATH_MAX];
	struct dirent *de;
	DIR *d;

	queue_close(fx.q);
	fx.q = NULL;
	event_free(fx.tick);
	event_base_free(fx.base);
	if ((d = opendir(fx.dir)) != NULL) {
		while ((de = readdir(d)) != NULL) {
			if (strcmp(de->d_name, ".") == 0 ||
			    strcmp(de->d_name, "..") == 0)
				continue;
			if (mh_snprintf(p, sizeof(p), "%s/%s", fx.dir,
			    de->d_name) != -1)
				unlink(p);
		}
		closedir(d);
	}
	rmdir(fx.dir);
}

static void
queue_test_cb(int result, void *arg)
{
	ck_assert_int_lt(done.n, QT_MAXDONE);
	done.tag[done.n] = (int)(intptr_t)arg;
	done.res[done.n] = result;
	done.n++;
}

/* Runs the loop until want completions have arrived, bounded. */
static void
queue_test_wait(int want)
{
	int i;

	for (i = 0; i < QT_WAIT_ITER && done.n < want; i++)
		event_base_loop(fx.base, EVLOOP_ONCE);
	ck_assert_int_eq(done.n, want);
}

static struct queue_msg_new *
queue_test_msg(const char *id, enum queue_state state, int64_t release_at,
    size_t nrcpts, const char *body)
{
	struct queue_msg_new *m;
	char addr[64];
	size_t i;

	m = xcalloc(1, sizeof(*m));
	if (id != NULL)
		mh_strlcpy(m->id, id, sizeof(m->id));
	else
		queue_id_new(m->id);
	m->sender = xstrdup("alice@example.org");
	m->nrcpts = nrcpts;
	m->rcpts = xcalloc(nrcpts, sizeof(*m->rcpts));
	for (i = 0; i < nrcpts; i++) {
		ck_assert_int_ne(mh_snprintf(addr, sizeof(addr),
		    "rcpt%zu@example.net", i), -1);
		m->rcpts[i] = xstrdup(addr);
	}
	m->auth_user = xstrdup("alice");
	m->client_addr = xstrdup("192.0.2.7");
	m->helo = xstrdup("laptop.example.org");
	m->flags = QUEUE_F_8BITMIME;
	m->received_at = QT_T0;
	m->release_at = release_at;
	m->state = state;
	m->body_fd = -1;
	if (body != NULL) {
		m->body = xstrdup(body);
		m->body_len = strlen(body);
	}
	return m;
}

/* Submits a message, waits for its completion and returns the result. */
static int
queue_test_put(enum queue_state state, int64_t release_at, char *idout)
{
	struct queue_msg_new *m;
	int want = done.n + 1;

	m = queue_test_msg(NULL, state, release_at, 2,
	    "Subject: t\r\n\r\nhello\r\n");
	if (idout != NULL)
		mh_strlcpy(idout, m->id, QUEUE_ID_LEN + 1);
	ck_assert_int_eq(queue_submit(fx.q, m, queue_test_cb, NULL), 0);
	queue_test_wait(want);
	return done.res[want - 1];
}

static int
queue_test_state(const char *id, unsigned mask, enum queue_state to,
    int64_t next_attempt)
{
	int want = done.n + 1;

	ck_assert_int_eq(queue_set_state(fx.q, id, mask, to, next_attempt,
	    "test", "unit test", queue_test_cb, NULL), 0);
	queue_test_wait(want);
	return done.res[want - 1];
}

static sqlite3 *
queue_test_db(void)
{
	sqlite3 *db;

	ck_assert_int_eq(sqlite3_open_v2(fx.path, &db, SQLITE_OPEN_READWRITE,
	    NULL), SQLITE_OK);
	sqlite3_busy_timeout(db, 5000);
	return db;
}

static void
queue_test_exec(const char *sql)
{
	sqlite3 *db = queue_test_db();
	char *err = NULL;

	ck_assert_msg(sqlite3_exec(db, sql, NULL, NULL, &err) == SQLITE_OK,
	    "%s: %s", sql, err ? err : "?");
	sqlite3_close(db);
}

/* First column of the first row of sql with ?1 bound to id, as integer;
 * -1 when there is no row. */
static int64_t
queue_test_int(const char *sql, const char *id)
{
	sqlite3 *db = queue_test_db();
	sqlite3_stmt *st;
	int64_t v = -1;

	ck_assert_int_eq(sqlite3_prepare_v2(db, sql, -1, &st, NULL),
	    SQLITE_OK);
	if (id != NULL)
		sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
	if (sqlite3_step(st) == SQLITE_ROW)
		v = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	sqlite3_close(db);
	return v;
}

static void
queue_test_text(const char *sql, const char *id, char *buf, size_t bufsz)
{
	sqlite3 *db = queue_test_db();
	sqlite3_stmt *st;
	const unsigned char *t;

	buf[0] = '\0';
	ck_assert_int_eq(sqlite3_prepare_v2(db, sql, -1, &st, NULL),
	    SQLITE_OK);
	sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
	if (sqlite3_step(st) == SQLITE_ROW &&
	    (t = sqlite3_column_text(st, 0)) != NULL)
		mh_strlcpy(buf, (const char *)t, bufsz);
	sqlite3_finalize(st);
	sqlite3_close(db);
}

/* A deterministic pseudo-random byte pattern. */
static void
queue_test_fill(unsigned char *p, size_t n, uint32_t seed)
{
	size_t i;

	for (i = 0; i < n; i++) {
		seed = seed * 1103515245u + 12345u;
		p[i] = (unsigned char)(seed >> 16);
	}
}

/* Reads the whole body of id with reads of chunk bytes into a new buffer. */
static unsigned char *
queue_test_read_body(const char *id, size_t chunk, size_t *lenp)
{
	struct queue_body *b;
	unsigned char *out, *buf;
	size_t size, off = 0;
	long n;

	b = queue_body_open(fx.q, id);
	ck_assert_ptr_nonnull(b);
	size = queue_body_size(b);
	out = xmalloc(size + 1);
	buf = xmalloc(chunk);
	while ((n = queue_body_read(b, buf, chunk)) > 0) {
		ck_assert_uint_le(off + (size_t)n, size);
		memcpy(out + off, buf, (size_t)n);
		off += (size_t)n;
	}
	ck_assert_int_eq(n, 0);
	ck_assert_uint_eq(off, size);
	free(buf);
	queue_body_close(b);
	*lenp = size;
	return out;
}

/* ------------------------------------------------------------------ */
/* ids and state names                                                 */
/* ------------------------------------------------------------------ */

static const struct {
	const char	*label;
	const char	*in;
	bool		 want;
} queue_test_id_cases[] = {
	{ .label = "ok", .in = "0123456789abcdef", .want = true },
	{ .label = "upper", .in = "0123456789ABCDEF", .want = false },
	{ .label = "short", .in = "0123456789abcde", .want = false },
	{ .label = "long", .in = "0123456789abcdef0", .want = false },
	{ .label = "empty", .in = "", .want = false },
	{ .label = "non-hex", .in = "0123456789abcdeg", .want = false },
	{ .label = "space", .in = " 123456789abcdef", .want = false },
	{ .label = "null", .in = NULL, .want = false },
};

START_TEST(queue_test_id_ok)
{
	ck_assert_msg(queue_id_ok(queue_test_id_cases[_i].in) ==
	    queue_test_id_cases[_i].want, "%s", queue_test_id_cases[_i].label);
}
END_TEST

START_TEST(queue_test_id_new)
{
	char a[QUEUE_ID_LEN + 1], b[QUEUE_ID_LEN + 1];

	queue_id_new(a);
	queue_id_new(b);
	ck_assert(queue_id_ok(a));
	ck_assert(queue_id_ok(b));
	ck_assert_str_ne(a, b);
}
END_TEST

START_TEST(queue_test_state_names)
{
	int s;

	for (s = 0; s <= QUEUE_STATE_MAX; s++)
		ck_assert_int_eq(queue_state_parse(queue_state_to_str(s)), s);
	ck_assert_str_eq(queue_state_to_str(QUEUE_AWAITING_RELEASE),
	    "awaiting_release");
	ck_assert_int_eq(queue_state_parse("HELD"), -1);
	ck_assert_int_eq(queue_state_parse(""), -1);
	ck_assert_int_eq(queue_state_parse(NULL), -1);
	ck_assert_str_eq(queue_state_to_str(QUEUE_STATE_MAX + 1), "invalid");
}
END_TEST

/* ------------------------------------------------------------------ */
/* open, migrate, reopen                                               */
/* ------------------------------------------------------------------ */

START_TEST(queue_test_open_new)
{
	struct stat sb;
	char mode[16];

	ck_assert_int_eq(stat(fx.path, &sb), 0);
	ck_assert_uint_eq(sb.st_mode & 0777, 0600);
	ck_assert_int_eq(queue_test_int("PRAGMA user_version", NULL), 3);
	ck_assert_int_eq(queue_test_int("PRAGMA application_id", NULL),
	    0x4d484c44);
	queue_test_text("PRAGMA journal_mode", NULL, mode, sizeof(mode));
	ck_assert_str_eq(mode, "wal");
	ck_assert_int_eq(queue_test_int("SELECT count(*) FROM sqlite_master"
	    " WHERE type = 'table' AND name IN ('messages', 'bodies',"
	    " 'recipients', 'audit')", NULL), 4);
	ck_assert_int_eq(queue_test_int("SELECT count(*) FROM sqlite_master"
	    " WHERE type = 'index' AND name IN ('messages_state',"
	    " 'messages_due')", NULL), 2);

	/* Reopen: no migration runs again, the data stays. */
	ck_assert_int_eq(queue_test_put(QUEUE_HELD, QT_T0, NULL), 0);
	queue_close(fx.q);
	fx.q = queue_test_open(0);
	ck_assert_int_eq(queue_test_int("PRAGMA user_version", NULL), 3);
	ck_assert_int_eq(queue_test_int("SELECT count(*) FROM messages",
	    NULL), 1);
	/* The -wal and -shm files get the database file's mode. */
	ck_assert_int_eq(queue_test_put(QUEUE_HELD, QT_T0, NULL), 0);
	{
		char p[192];

		ck_assert_int_ne(mh_snprintf(p, sizeof(p), "%s-wal",
		    fx.path), -1);
		ck_assert_int_eq(stat(p, &sb), 0);
		ck_assert_uint_eq(sb.st_mode & 0077, 0);
	}
}
END_TEST

START_TEST(queue_test_open_tightens_mode)
{
	struct stat sb;

	queue_close(fx.q);
	fx.q = NULL;
	ck_assert_int_eq(chmod(fx.path, 0644), 0);
	fx.q = queue_test_open(0);
	ck_assert_int_eq(stat(fx.path, &sb), 0);
	ck_assert_uint_eq(sb.st_mode & 0777, 0600);
}
END_TEST

/* How queue_test_open_bad spoils the file it then opens. */
enum queue_test_spoil {
	QT_SPOIL_SQL,		/* run sql on it */
	QT_SPOIL_JUNK,		/* 8 KiB of 'j' in a new file */
	QT_SPOIL_TRUNCATE,	/* the fixture's queue, cut to len octets */
	QT_SPOIL_PAGE,		/* one page of the fixture's queue overwritten */
};

static const struct {
	const char	*label;
	enum queue_test_spoil spoil;
	const char	*sql;		/* QT_SPOIL_SQL */
	bool		 fresh;		/* on a new file, not the fixture's */
	off_t		 len;		/* QT_SPOIL_TRUNCATE; 0: half */
	const char	*want_err;	/* substring of errbuf */
} queue_test_open_bad_cases[] = {
	{ .label = "future version", .sql = "PRAGMA user_version = 99",
	  .want_err = "schema version 99" },
	{ .label = "foreign database", .fresh = true,
	  .sql = "CREATE TABLE t (x)", .want_err = "not a mailhold" },
	{ .label = "foreign application_id",
	  .sql = "PRAGMA application_id = 7", .want_err = "not a mailhold" },
	{ .label = "foreign with our version", .fresh = true,
	  .sql = "CREATE TABLE t (x); PRAGMA user_version = 3",
	  .want_err = "not a mailhold" },
	{ .label = "not sqlite", .fresh = true, .spoil = QT_SPOIL_JUNK,
	  .want_err = "not a readable SQLite database" },
	{ .label = "truncated to 100 octets", .fresh = true,
	  .spoil = QT_SPOIL_TRUNCATE, .len = 100,
	  .want_err = "not a readable SQLite database" },
	{ .label = "truncated to half", .fresh = true,
	  .spoil = QT_SPOIL_TRUNCATE, .len = 0, .want_err = "damaged" },
	{ .label = "one damaged page", .fresh = true, .spoil = QT_SPOIL_PAGE,
	  .want_err = "damaged" },
};

/* Reads a whole (small) file into a fresh buffer. */
static char *
queue_test_slurp(const char *path, size_t *lenp)
{
	struct stat sb;
	char *buf;
	int fd;

	ck_assert_int_ge(fd = open(path, O_RDONLY), 0);
	ck_assert_int_eq(fstat(fd, &sb), 0);
	ck_assert_int_lt(sb.st_size, 16 * 1024 * 1024);
	buf = malloc((size_t)sb.st_size + 1);
	ck_assert_ptr_nonnull(buf);
	ck_assert_int_eq(read(fd, buf, (size_t)sb.st_size),
	    (ssize_t)sb.st_size);
	close(fd);
	*lenp = (size_t)sb.st_size;
	return buf;
}

static void
queue_test_spit(const char *path, const char *buf, size_t len, mode_t mode)
{
	int fd;

	ck_assert_int_ge(fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, mode),
	    0);
	ck_assert_int_eq(write(fd, buf, len), (ssize_t)len);
	close(fd);
	ck_assert_int_eq(chmod(path, mode), 0);
}

/* The fixture's queue with some messages and bodies in it, closed (so
 * the WAL is checkpointed into the file).  Returns the page size and the
 * root page of the recipients table. */
static void
queue_test_filled(int64_t *pgsz, int64_t *root)
{
	sqlite3 *db;
	sqlite3_stmt *st;
	int i;

	for (i = 0; i < 20; i++)
		ck_assert_int_eq(queue_test_put(QUEUE_HELD, QT_T0, NULL), 0);
	queue_close(fx.q);
	fx.q = NULL;
	ck_assert_int_eq(sqlite3_open_v2(fx.path, &db, SQLITE_OPEN_READONLY,
	    NULL), SQLITE_OK);
	ck_assert_int_eq(sqlite3_prepare_v2(db, "SELECT rootpage, "
	    "(SELECT page_size FROM pragma_page_size) FROM sqlite_master "
	    "WHERE name = 'recipients'", -1, &st, NULL), SQLITE_OK);
	ck_assert_int_eq(sqlite3_step(st), SQLITE_ROW);
	*root = sqlite3_column_int64(st, 0);
	*pgsz = sqlite3_column_int64(st, 1);
	sqlite3_finalize(st);
	sqlite3_close(db);
	ck_assert_int_gt(*root, 1);
}

START_TEST(queue_test_open_bad)
{
	char err[512], path[192], junk[8192], *before, *after, *q0;
	struct stat sb0, sb1;
	struct queue *q;
	sqlite3 *db;
	size_t blen, alen, qlen;
	int64_t pgsz, root;

	queue_close(fx.q);
	fx.q = NULL;
	mh_strlcpy(path, fx.path, sizeof(path));
	if (queue_test_open_bad_cases[_i].fresh)
		ck_assert_int_ne(mh_snprintf(path, sizeof(path), "%s/other.db",
		    fx.dir), -1);
	switch (queue_test_open_bad_cases[_i].spoil) {
	case QT_SPOIL_SQL:
		ck_assert_int_eq(sqlite3_open(path, &db), SQLITE_OK);
		ck_assert_int_eq(sqlite3_exec(db,
		    queue_test_open_bad_cases[_i].sql, NULL, NULL, NULL),
		    SQLITE_OK);
		sqlite3_close(db);
		break;
	case QT_SPOIL_JUNK:
		memset(junk, 'j', sizeof(junk));
		queue_test_spit(path, junk, sizeof(junk), 0644);
		break;
	case QT_SPOIL_TRUNCATE:
	case QT_SPOIL_PAGE:
		fx.q = queue_test_open(0);
		queue_test_filled(&pgsz, &root);
		q0 = queue_test_slurp(fx.path, &qlen);
		ck_assert_uint_gt(qlen, 4 * (size_t)pgsz);
		if (queue_test_open_bad_cases[_i].spoil == QT_SPOIL_PAGE) {
			ck_assert_uint_le((size_t)(root * pgsz), qlen);
			memset(q0 + (root - 1) * pgsz, 0xa5, (size_t)pgsz);
		} else if (queue_test_open_bad_cases[_i].len > 0)
			qlen = (size_t)queue_test_open_bad_cases[_i].len;
		else
			qlen /= 2;
		queue_test_spit(path, q0, qlen, 0644);
		free(q0);
		break;
	}
	/* Readable by others: a chmod would show. */
	ck_assert_int_eq(chmod(path, 0644), 0);
	ck_assert_int_eq(stat(path, &sb0), 0);
	before = queue_test_slurp(path, &blen);

	err[0] = '\0';
	q = queue_open(fx.base, path, 0, 10000, err, sizeof(err));
	ck_assert_msg(q == NULL, "%s: opened",
	    queue_test_open_bad_cases[_i].label);
	ck_assert_msg(err[0] != '\0' && strstr(err,
	    queue_test_open_bad_cases[_i].want_err) != NULL, "%s: err=%s",
	    queue_test_open_bad_cases[_i].label, err);
	/* The message names the file, and the file is left as it was:
	 * same octets (no WAL switch, no migration), same mode. */
	ck_assert_msg(strstr(err, path) != NULL, "%s: err=%s",
	    queue_test_open_bad_cases[_i].label, err);
	ck_assert_int_eq(stat(path, &sb1), 0);
	ck_assert_uint_eq(sb1.st_mode & 0777, 0644);
	after = queue_test_slurp(path, &alen);
	ck_assert_msg(alen == blen && memcmp(before, after, blen) == 0,
	    "%s: file changed", queue_test_open_bad_cases[_i].label);
	free(before);
	free(after);
}
END_TEST

static const struct {
	const char	*label;
	uint64_t	 avail, min_free, size;
	bool		 want;
} queue_test_space_cases[] = {
	{ "plenty", 1000, 100, 0, true },
	{ "exactly min_free", 100, 100, 0, true },
	{ "below min_free", 99, 100, 0, false },
	{ "min_free 0, disk full", 0, 0, 0, true },
	{ "size fits twice", 300, 100, 100, true },
	{ "size fits once only", 299, 100, 100, false },
	{ "size over free space", 12 << 20, 0, 20 << 20, false },
	{ "size and min_free 0", 0, 0, 1, false },
	{ "huge size", UINT64_MAX, 100, UINT64_MAX, false },
	{ "huge avail", UINT64_MAX, UINT64_MAX, 0, true },
};

START_TEST(queue_test_space_ok)
{
	ck_assert_msg(queue_space_ok(queue_test_space_cases[_i].avail,
	    queue_test_space_cases[_i].min_free,
	    queue_test_space_cases[_i].size) ==
	    queue_test_space_cases[_i].want, "%s",
	    queue_test_space_cases[_i].label);
}
END_TEST

START_TEST(queue_test_space)
{
	struct statvfs vfs;
	uint64_t avail, again, want;

	ck_assert_int_eq(queue_space(fx.q, &avail), 0);
	ck_assert_int_eq(statvfs(fx.dir, &vfs), 0);
	want = (uint64_t)vfs.f_bavail * vfs.f_frsize;
	/* Same file system, give or take what others write meanwhile. */
	ck_assert_uint_le(avail > want ? avail - want : want - avail,
	    64 * 1024 * 1024);
	/* Cached: a second call within the second gives the same answer. */
	ck_assert_int_eq(queue_space(fx.q, &again), 0);
	ck_assert_uint_eq(again, avail);
}
END_TEST

START_TEST(queue_test_open_healthy)
{
	char err[256];
	struct queue *q;
	int64_t pgsz, root;

	/* A healthy queue opens with the check on, and with it off. */
	queue_test_filled(&pgsz, &root);
	err[0] = '\0';
	q = queue_open(fx.base, fx.path, 0, 0, err, sizeof(err));
	ck_assert_msg(q != NULL, "no check: %s", err);
	queue_close(q);
	fx.q = queue_test_open(0);
	ck_assert_int_eq(queue_test_int("SELECT count(*) FROM messages",
	    NULL), 20);
}
END_TEST

/* ------------------------------------------------------------------ */
/* submit and body                                                     */
/* ------------------------------------------------------------------ */

START_TEST(queue_test_submit_memory)
{
	static const char body[] = "From: alice@example.org\r\n"
	    "Subject: hello\r\n\r\nbody line\r\n.leading dot\r\n";
	struct queue_msg_new *m;
	struct queue_msg *l;
	unsigned char *got;
	char id[QUEUE_ID_LEN + 1], why[64];
	size_t len;

	m = queue_test_msg(NULL, QUEUE_HELD, QT_T0 + 3600, 3, body);
	m->flags = QUEUE_F_8BITMIME | QUEUE_F_SMTPUTF8;
	mh_strlcpy(id, m->id, sizeof(id));
	ck_assert_int_eq(queue_submit(fx.q, m, queue_test_cb, (void *)7), 0);
	queue_test_wait(1);
	ck_assert_int_eq(done.res[0], 0);
	ck_assert_int_eq(done.tag[0], 7);

	l = queue_msg_load(fx.q, id);
	ck_assert_ptr_nonnull(l);
	ck_assert_str_eq(l->id, id);
	ck_assert_int_eq(l->state, QUEUE_HELD);
	ck_assert_str_eq(l->sender, "alice@example.org");
	ck_assert_str_eq(l->auth_user, "alice");
	ck_assert_str_eq(l->client_addr, "192.0.2.7");
	ck_assert_str_eq(l->helo, "laptop.example.org");
	ck_assert_uint_eq(l->flags, QUEUE_F_8BITMIME | QUEUE_F_SMTPUTF8);
	ck_assert_uint_eq(l->size, strlen(body));
	ck_assert_int_eq(l->received_at, QT_T0);
	ck_assert_int_eq(l->release_at, QT_T0 + 3600);
	ck_assert_int_eq(l->next_attempt, QT_T0 + 3600);
	ck_assert_int_eq(l->attempts, 0);
	ck_assert_ptr_null(l->last_error);
	ck_assert_uint_eq(l->nrcpts, 3);
	ck_assert_str_eq(l->rcpts[2].addr, "rcpt2@example.net");
	ck_assert_int_eq(l->rcpts[2].idx, 2);
	ck_assert_int_eq(l->rcpts[2].status, QUEUE_RCPT_PENDING);
	ck_assert_ptr_null(l->rcpts[2].last_reply);
	queue_msg_free(l);

	got = queue_test_read_body(id, 5, &len);
	ck_assert_uint_eq(len, strlen(body));
	ck_assert_int_eq(memcmp(got, body, len), 0);
	free(got);

	ck_assert_int_eq(queue_test_int("SELECT count(*) FROM audit WHERE "
	    "msg_id = ?1 AND actor = 'smtp' AND from_state IS NULL AND "
	    "to_state = 'held'", id), 1);
	queue_test_text("SELECT why FROM audit WHERE msg_id = ?1", id, why,
	    sizeof(why));
	ck_assert_str_eq(why, "received");
	ck_assert_ptr_null(queue_msg_load(fx.q, "0000000000000000"));
	ck_assert_ptr_null(queue_msg_load(fx.q, "not an id"));
}
END_TEST

START_TEST(queue_test_submit_file)
{
	const size_t len = 3 * 1024 * 1024 + 17;
	struct queue_msg_new *m;
	struct queue_msg *l;
	unsigned char *data, *got;
	char id[QUEUE_ID_LEN + 1], tmp[192];
	size_t glen;
	int fd;

	data = xmalloc(len);
	queue_test_fill(data, len, 42);
	ck_assert_int_ne(mh_snprintf(tmp, sizeof(tmp), "%s/body.XXXXXX",
	    fx.dir), -1);
	fd = mkstemp(tmp);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(unlink(tmp), 0);
	ck_assert_int_eq(write(fd, data, len), (ssize_t)len);

	m = queue_test_msg(NULL, QUEUE_AWAITING_RELEASE, QT_T0, 1, NULL);
	mh_strlcpy(id, m->id, sizeof(id));
	m->body_fd = fd;
	m->body_len = len;
	ck_assert_int_eq(queue_submit(fx.q, m, queue_test_cb, NULL), 0);
	queue_test_wait(1);
	ck_assert_int_eq(done.res[0], 0);

	l = queue_msg_load(fx.q, id);
	ck_assert_ptr_nonnull(l);
	ck_assert_int_eq(l->state, QUEUE_AWAITING_RELEASE);
	ck_assert_uint_eq(l->size, len);
	queue_msg_free(l);

	got = queue_test_read_body(id, 64 * 1024, &glen);
	ck_assert_uint_eq(glen, len);
	ck_assert_int_eq(memcmp(got, data, len), 0);
	free(got);
	free(data);
}
END_TEST

START_TEST(queue_test_submit_empty_body)
{
	struct queue_msg_new *m;
	struct queue_body *b;
	char id[QUEUE_ID_LEN + 1], c;

	m = queue_test_msg(NULL, QUEUE_HELD, QT_T0, 1, NULL);
	mh_strlcpy(id, m->id, sizeof(id));
	ck_assert_int_eq(queue_submit(fx.q, m, queue_test_cb, NULL), 0);
	queue_test_wait(1);
	ck_assert_int_eq(done.res[0], 0);
	b = queue_body_open(fx.q, id);
	ck_assert_ptr_nonnull(b);
	ck_assert_uint_eq(queue_body_size(b), 0);
	ck_assert_int_eq(queue_body_read(b, &c, 1), 0);
	queue_body_close(b);
}
END_TEST

/* Each case spoils one field of a good message; submit must refuse it at
 * once (-1, no callback) and free it. */
static const struct {
	const char	*label;
	int		 what;
} queue_test_submit_bad_cases[] = {
	{ .label = "bad id", .what = 0 },
	{ .label = "no recipients", .what = 1 },
	{ .label = "state releasing", .what = 2 },
	{ .label = "NULL sender", .what = 3 },
	{ .label = "body and fd", .what = 4 },
	{ .label = "no body but length", .what = 5 },
	{ .label = "unknown flag", .what = 6 },
	{ .label = "over-long recipient", .what = 7 },
	{ .label = "NULL recipient", .what = 8 },
	{ .label = "empty recipient", .what = 9 },
};

START_TEST(queue_test_submit_bad)
{
	struct queue_msg_new *m;
	char *longaddr;

	m = queue_test_msg(NULL, QUEUE_HELD, QT_T0, 2, "x\r\n");
	switch (queue_test_submit_bad_cases[_i].what) {
	case 0:
		mh_strlcpy(m->id, "ABC", sizeof(m->id));
		break;
	case 1:
		free(m->rcpts[0]);
		free(m->rcpts[1]);
		m->nrcpts = 0;
		break;
	case 2:
		m->state = QUEUE_RELEASING;
		break;
	case 3:
		free(m->sender);
		m->sender = NULL;
		break;
	case 4:
		m->body_fd = open("/dev/null", O_RDONLY);
		ck_assert_int_ge(m->body_fd, 0);
		break;
	case 5:
		free(m->body);
		m->body = NULL;
		break;
	case 6:
		m->flags = 0x80;
		break;
	case 7:
		longaddr = xmalloc(5000);
		memset(longaddr, 'a', 4999);
		longaddr[4999] = '\0';
		free(m->rcpts[1]);
		m->rcpts[1] = longaddr;
		break;
	case 8:
		free(m->rcpts[1]);
		m->rcpts[1] = NULL;
		break;
	case 9:
		m->rcpts[1][0] = '\0';
		break;
	}
	ck_assert_int_eq(queue_submit(fx.q, m, queue_test_cb, NULL), -1);
	ck_assert_int_eq(queue_submit(fx.q, NULL, queue_test_cb, NULL), -1);
	event_base_loop(fx.base, EVLOOP_NONBLOCK);
	ck_assert_int_eq(done.n, 0);
	ck_assert_int_eq(queue_test_int("SELECT count(*) FROM messages", NULL),
	    0);
}
END_TEST

/* ------------------------------------------------------------------ */
/* body streams                                                        */
/* ------------------------------------------------------------------ */

static const struct {
	const char	*label;
	size_t		 chunk;
} queue_test_chunk_cases[] = {
	{ .label = "1 byte", .chunk = 1 },
	{ .label = "odd", .chunk = 4093 },
	{ .label = "64 KiB", .chunk = 65536 },
	{ .label = "bigger than body", .chunk = 1 << 20 },
};

START_TEST(queue_test_body_chunks)
{
	const size_t len = 200 * 1000 + 3;
	struct queue_msg_new *m;
	unsigned char *data, *got;
	char id[QUEUE_ID_LEN + 1];
	size_t glen;

	data = xmalloc(len + 1);
	queue_test_fill(data, len, 7);
	m = queue_test_msg(NULL, QUEUE_HELD, QT_T0, 1, NULL);
	mh_strlcpy(id, m->id, sizeof(id));
	m->body = (char *)data;
	m->body_len = len;
	data = xmalloc(len);
	memcpy(data, m->body, len);
	ck_assert_int_eq(queue_submit(fx.q, m, queue_test_cb, NULL), 0);
	queue_test_wait(1);
	ck_assert_int_eq(done.res[0], 0);
	got = queue_test_read_body(id, queue_test_chunk_cases[_i].chunk,
	    &glen);
	ck_assert_uint_eq(glen, len);
	ck_assert_int_eq(memcmp(got, data, len), 0);
	free(got);
	free(data);
}
END_TEST

/* An expired blob handle is reopened at the same offset. */
START_TEST(queue_test_body_reopen)
{
	const size_t len = 100000;
	struct queue_msg_new *m;
	struct queue_body *b;
	unsigned char *data, *got;
	char id[QUEUE_ID_LEN + 1];
	size_t off = 0;
	long n;
	int reads = 0;

	data = xmalloc(len);
	queue_test_fill(data, len, 99);
	m = queue_test_msg(NULL, QUEUE_HELD, QT_T0, 1, NULL);
	mh_strlcpy(id, m->id, sizeof(id));
	m->body = xmalloc(len);
	memcpy(m->body, data, len);
	m->body_len = len;
	ck_assert_int_eq(queue_submit(fx.q, m, queue_test_cb, NULL), 0);
	queue_test_wait(1);

	got = xmalloc(len);
	b = queue_body_open(fx.q, id);
	ck_assert_ptr_nonnull(b);
	while ((n = queue_body_read(b, got + off, 7000)) > 0) {
		off += (size_t)n;
		if (++reads % 3 == 0)
			queue_body_expire_(b);
	}
	ck_assert_int_eq(n, 0);
	ck_assert_uint_eq(off, len);
	ck_assert_int_eq(memcmp(got, data, len), 0);
	queue_body_close(b);
	free(got);
	free(data);
}
END_TEST

/* An open body stream must not freeze what the loop's other reads see:
 * a message committed while a stream is open is visible at once. */
START_TEST(queue_test_body_snapshot)
{
	struct queue_body *b1, *b2;
	struct queue_msg *l;
	char id1[QUEUE_ID_LEN + 1], id2[QUEUE_ID_LEN + 1];
	char id3[QUEUE_ID_LEN + 1], buf[4];
	int64_t when;

	ck_assert_int_eq(queue_test_put(QUEUE_HELD, QT_T0 + 100, id1), 0);
	b1 = queue_body_open(fx.q, id1);
	ck_assert_ptr_nonnull(b1);
	ck_assert_int_eq(queue_body_read(b1, buf, sizeof(buf)), 4);

	ck_assert_int_eq(queue_test_put(QUEUE_HELD, QT_T0 + 50, id2), 0);
	l = queue_msg_load(fx.q, id2);
	ck_assert_ptr_nonnull(l);
	queue_msg_free(l);
	ck_assert_int_eq(queue_next_due(fx.q, &when), 0);
	ck_assert_int_eq(when, QT_T0 + 50);
	b2 = queue_body_open(fx.q, id2);
	ck_assert_ptr_nonnull(b2);

	ck_assert_int_eq(queue_test_put(QUEUE_HELD, QT_T0 + 10, id3), 0);
	ck_assert_int_eq(queue_next_due(fx.q, &when), 0);
	ck_assert_int_eq(when, QT_T0 + 10);

	queue_body_close(b1);
	queue_body_close(b2);
	ck_assert_ptr_null(queue_body_open(fx.q, "0123456789abcdef"));
}
END_TEST

/* ------------------------------------------------------------------ */
/* group commit                                                        */
/* ------------------------------------------------------------------ */

START_TEST(queue_test_group_commit)
{
	struct queue_msg_new *m;
	uint64_t before;
	int i;

	before = queue_stats_commits_(fx.q);
	for (i = 0; i < 50; i++) {
		m = queue_test_msg(NULL, QUEUE_HELD, QT_T0 + i, 1,
		    "Subject: g\r\n\r\nx\r\n");
		ck_assert_int_eq(queue_submit(fx.q, m, queue_test_cb,
		    (void *)(intptr_t)i), 0);
	}
	queue_test_wait(50);
	for (i = 0; i < 50; i++) {
		ck_assert_int_eq(done.res[i], 0);
		ck_assert_int_eq(done.tag[i], i);	/* submission order */
	}
	ck_assert_uint_lt(queue_stats_commits_(fx.q) - before, 50);
	ck_assert_int_eq(queue_test_int("SELECT count(*) FROM messages", NULL),
	    50);
}
END_TEST

/* Paused writer: the whole line-up is one transaction. */
START_TEST(queue_test_group_commit_one)
{
	struct queue_msg_new *m;
	uint64_t before;
	int i;

	before = queue_stats_commits_(fx.q);
	queue_pause_(fx.q, true);
	for (i = 0; i < 50; i++) {
		m = queue_test_msg(NULL, QUEUE_HELD, QT_T0, 1, "x\r\n");
		ck_assert_int_eq(queue_submit(fx.q, m, queue_test_cb,
		    (void *)(intptr_t)i), 0);
	}
	queue_pause_(fx.q, false);
	queue_test_wait(50);
	for (i = 0; i < 50; i++)
		ck_assert_int_eq(done.res[i], 0);
	ck_assert_uint_eq(queue_stats_commits_(fx.q) - before, 1);
}
END_TEST

/* The writer wakes a sleeping loop itself (event_active() on a
 * thread-aware base): no tick here, only a 5 s guard timer. */
START_TEST(queue_test_wakeup)
{
	struct timeval guard = { 5, 0 };
	struct event_base *base;
	struct event *ev;
	struct queue *q;
	char err[256];
	int64_t t0;
	int i;

	base = event_base_new();
	ck_assert_ptr_nonnull(base);
	ev = event_new(base, -1, 0, queue_test_tick, NULL);
	ck_assert_int_eq(event_add(ev, &guard), 0);
	queue_close(fx.q);
	fx.q = NULL;
	q = queue_open(base, fx.path, 0, 10000, err, sizeof(err));
	ck_assert_msg(q != NULL, "%s", err);
	t0 = mh_mono_ms();
	ck_assert_int_eq(queue_submit(q, queue_test_msg(NULL, QUEUE_HELD,
	    QT_T0, 1, "x\r\n"), queue_test_cb, NULL), 0);
	for (i = 0; i < 3 && done.n == 0; i++)
		event_base_loop(base, EVLOOP_ONCE);
	ck_assert_int_eq(done.n, 1);
	ck_assert_int_eq(done.res[0], 0);
	ck_assert_int_lt(mh_mono_ms() - t0, 2500);
	queue_close(q);
	event_free(ev);
	event_base_free(base);
}
END_TEST

/* group_max caps the requests per transaction. */
START_TEST(queue_test_group_max)
{
	struct queue_msg_new *m;
	int i;

	queue_close(fx.q);
	fx.q = queue_test_open(4);
	queue_pause_(fx.q, true);
	for (i = 0; i < 10; i++) {
		m = queue_test_msg(NULL, QUEUE_HELD, QT_T0, 1, "x\r\n");
		ck_assert_int_eq(queue_submit(fx.q, m, queue_test_cb,
		    (void *)(intptr_t)i), 0);
	}
	queue_pause_(fx.q, false);
	queue_test_wait(10);
	for (i = 0; i < 10; i++) {
		ck_assert_int_eq(done.res[i], 0);
		ck_assert_int_eq(done.tag[i], i);
	}
	ck_assert_uint_eq(queue_stats_commits_(fx.q), 3);
}
END_TEST

/* A request that fails in its savepoint does not spoil the others. */
START_TEST(queue_test_group_dup)
{
	struct queue_msg_new *m;
	struct queue_msg *l;
	char a[QUEUE_ID_LEN + 1], c[QUEUE_ID_LEN + 1];

	queue_pause_(fx.q, true);
	m = queue_test_msg(NULL, QUEUE_HELD, QT_T0, 1, "first\r\n");
	mh_strlcpy(a, m->id, sizeof(a));
	ck_assert_int_eq(queue_submit(fx.q, m, queue_test_cb, (void *)0), 0);
	m = queue_test_msg(a, QUEUE_HELD, QT_T0, 3, "second\r\n");
	ck_assert_int_eq(queue_submit(fx.q, m, queue_test_cb, (void *)1), 0);
	m = queue_test_msg(NULL, QUEUE_HELD, QT_T0, 1, "third\r\n");
	mh_strlcpy(c, m->id, sizeof(c));
	ck_assert_int_eq(queue_submit(fx.q, m, queue_test_cb, (void *)2), 0);
	queue_pause_(fx.q, false);
	queue_test_wait(3);
	ck_assert_int_eq(done.res[0], 0);
	ck_assert_int_eq(done.res[1], -1);
	ck_assert_int_eq(done.res[2], 0);
	ck_assert_uint_eq(queue_stats_commits_(fx.q), 1);

	l = queue_msg_load(fx.q, a);
	ck_assert_ptr_nonnull(l);
	ck_assert_uint_eq(l->nrcpts, 1);	/* the first one's */
	ck_assert_uint_eq(l->size, strlen("first\r\n"));
	queue_msg_free(l);
	l = queue_msg_load(fx.q, c);
	ck_assert_ptr_nonnull(l);
	queue_msg_free(l);
	ck_assert_int_eq(queue_test_int("SELECT count(*) FROM audit WHERE "
	    "msg_id = ?1", a), 1);
}
END_TEST

/* A failed COMMIT reports -1 for every request in the batch and keeps
 * nothing; the next batch works again. */
START_TEST(queue_test_group_commit_fails)
{
	struct queue_msg_new *m;
	char ids[3][QUEUE_ID_LEN + 1];
	int i;

	queue_fail_commits_(fx.q, 1);
	queue_pause_(fx.q, true);
	for (i = 0; i < 3; i++) {
		m = queue_test_msg(NULL, QUEUE_HELD, QT_T0, 1, "x\r\n");
		mh_strlcpy(ids[i], m->id, sizeof(ids[i]));
		ck_assert_int_eq(queue_submit(fx.q, m, queue_test_cb, NULL),
		    0);
	}
	queue_pause_(fx.q, false);
	queue_test_wait(3);
	for (i = 0; i < 3; i++) {
		ck_assert_int_eq(done.res[i], -1);
		ck_assert_ptr_null(queue_msg_load(fx.q, ids[i]));
	}
	ck_assert_int_eq(queue_test_int("SELECT count(*) FROM messages", NULL),
	    0);
	ck_assert_int_eq(queue_test_int("SELECT count(*) FROM bodies", NULL),
	    0);
	ck_assert_int_eq(queue_test_int("SELECT count(*) FROM audit", NULL),
	    0);
	ck_assert_uint_eq(queue_stats_commits_(fx.q), 0);
	ck_assert_int_eq(queue_test_put(QUEUE_HELD, QT_T0, NULL), 0);
	ck_assert_uint_eq(queue_stats_commits_(fx.q), 1);
}
END_TEST

/* A real SQLITE_FULL (max_page_count): SQLite drops the whole transaction
 * then, and the writer runs the neighbours again in a new one, so only
 * the big message fails; a result of 0 always means it is stored. */
START_TEST(queue_test_disk_full)
{
	const size_t big = 1024 * 1024;
	struct queue_msg_new *m;
	struct queue_msg *l;
	char ids[3][QUEUE_ID_LEN + 1];
	int64_t pages;
	int i;

	ck_assert_int_eq(queue_test_put(QUEUE_HELD, QT_T0, NULL), 0);
	pages = queue_test_int("PRAGMA page_count", NULL);
	ck_assert_int_gt(pages, 0);
	queue_max_pages_(fx.q, (long)pages + 16);
	queue_pause_(fx.q, true);
	for (i = 0; i < 3; i++) {
		m = queue_test_msg(NULL, QUEUE_HELD, QT_T0, 1, NULL);
		mh_strlcpy(ids[i], m->id, sizeof(ids[i]));
		m->body_len = i == 1 ? big : 10;
		m->body = xcalloc(1, m->body_len);
		ck_assert_int_eq(queue_submit(fx.q, m, queue_test_cb, NULL),
		    0);
	}
	queue_pause_(fx.q, false);
	queue_test_wait(4);
	ck_assert_int_eq(done.res[1], 0);
	ck_assert_int_eq(done.res[2], -1);
	ck_assert_int_eq(done.res[3], 0);
	ck_assert_uint_eq(queue_stats_commits_(fx.q), 2);
	for (i = 0; i < 3; i++) {
		l = queue_msg_load(fx.q, ids[i]);
		ck_assert_msg((l != NULL) == (done.res[1 + i] == 0),
		    "request %d result %d but %s", i, done.res[1 + i],
		    l != NULL ? "stored" : "absent");
		queue_msg_free(l);
	}
	/* Room again: the queue keeps working. */
	queue_max_pages_(fx.q, 1073741823);
	ck_assert_int_eq(queue_test_put(QUEUE_HELD, QT_T0, NULL), 0);
}
END_TEST

/* ------------------------------------------------------------------ */
/* set_state                                                           */
/* ------------------------------------------------------------------ */

#define QT_BIT(s)	(1u << (s))

static const struct {
	const char		*label;
	enum queue_state	 from;
	unsigned		 mask;
	enum queue_state	 to;
	int64_t			 next_attempt;
	int			 want;
	enum queue_state	 want_state;
	int64_t			 want_next;
} queue_test_state_cases[] = {
	{ .label = "held to releasing", .from = QUEUE_HELD,
	  .mask = QT_BIT(QUEUE_HELD) | QT_BIT(QUEUE_DEFERRED),
	  .to = QUEUE_RELEASING, .next_attempt = -1, .want = 0,
	  .want_state = QUEUE_RELEASING, .want_next = QT_T0 + 60 },
	{ .label = "held cancelled", .from = QUEUE_HELD,
	  .mask = QT_BIT(QUEUE_HELD) | QT_BIT(QUEUE_AWAITING_RELEASE),
	  .to = QUEUE_CANCELLED, .next_attempt = -1, .want = 0,
	  .want_state = QUEUE_CANCELLED, .want_next = QT_T0 + 60 },
	{ .label = "awaiting released now", .from = QUEUE_AWAITING_RELEASE,
	  .mask = QT_BIT(QUEUE_AWAITING_RELEASE), .to = QUEUE_HELD,
	  .next_attempt = QT_T0 + 5, .want = 0, .want_state = QUEUE_HELD,
	  .want_next = QT_T0 + 5 },
	{ .label = "awaiting not in mask", .from = QUEUE_AWAITING_RELEASE,
	  .mask = QT_BIT(QUEUE_HELD), .to = QUEUE_RELEASING,
	  .next_attempt = -1, .want = 1,
	  .want_state = QUEUE_AWAITING_RELEASE, .want_next = QT_T0 + 60 },
	{ .label = "sent cannot be cancelled", .from = QUEUE_SENT,
	  .mask = QT_BIT(QUEUE_HELD) | QT_BIT(QUEUE_AWAITING_RELEASE) |
	  QT_BIT(QUEUE_DEFERRED), .to = QUEUE_CANCELLED, .next_attempt = 0,
	  .want = 1, .want_state = QUEUE_SENT, .want_next = QT_T0 + 60 },
	{ .label = "deferred to releasing", .from = QUEUE_DEFERRED,
	  .mask = QT_BIT(QUEUE_DEFERRED), .to = QUEUE_RELEASING,
	  .next_attempt = -1, .want = 0, .want_state = QUEUE_RELEASING,
	  .want_next = QT_T0 + 60 },
	{ .label = "empty mask", .from = QUEUE_HELD, .mask = 0,
	  .to = QUEUE_CANCELLED, .next_attempt = -1, .want = 1,
	  .want_state = QUEUE_HELD, .want_next = QT_T0 + 60 },
	{ .label = "unknown mask bits", .from = QUEUE_HELD, .mask = 1u << 20,
	  .to = QUEUE_CANCELLED, .next_attempt = -1, .want = 1,
	  .want_state = QUEUE_HELD, .want_next = QT_T0 + 60 },
};

START_TEST(queue_test_set_state)
{
	char id[QUEUE_ID_LEN + 1];
	struct queue_msg *l;
	enum queue_state from = queue_test_state_cases[_i].from;
	int64_t audits;

	ck_assert_int_eq(queue_test_put(from == QUEUE_AWAITING_RELEASE ?
	    QUEUE_AWAITING_RELEASE : QUEUE_HELD, QT_T0 + 60, id), 0);
	if (from != QUEUE_HELD && from != QUEUE_AWAITING_RELEASE)
		ck_assert_int_eq(queue_test_state(id, QT_BIT(QUEUE_HELD), from,
		    -1), 0);
	audits = queue_test_int("SELECT count(*) FROM audit WHERE msg_id = ?1",
	    id);

	ck_assert_int_eq(queue_test_state(id, queue_test_state_cases[_i].mask,
	    queue_test_state_cases[_i].to,
	    queue_test_state_cases[_i].next_attempt),
	    queue_test_state_cases[_i].want);
	l = queue_msg_load(fx.q, id);
	ck_assert_ptr_nonnull(l);
	ck_assert_int_eq(l->state, queue_test_state_cases[_i].want_state);
	ck_assert_int_eq(l->next_attempt, queue_test_state_cases[_i].want_next);
	queue_msg_free(l);
	ck_assert_int_eq(queue_test_int("SELECT count(*) FROM audit WHERE "
	    "msg_id = ?1", id), audits +
	    (queue_test_state_cases[_i].want == 0 ? 1 : 0));
	if (queue_test_state_cases[_i].want == 0) {
		char buf[64];

		queue_test_text("SELECT from_state || '>' || to_state || ' ' ||"
		    " actor || ' ' || why FROM audit WHERE msg_id = ?1"
		    " ORDER BY id DESC LIMIT 1", id, buf, sizeof(buf));
		ck_assert_ptr_nonnull(strstr(buf, " test unit test"));
		ck_assert_ptr_nonnull(strstr(buf,
		    queue_state_to_str(queue_test_state_cases[_i].to)));
	}
}
END_TEST

START_TEST(queue_test_set_state_unknown)
{
	ck_assert_int_eq(queue_test_state("0123456789abcdef",
	    QT_BIT(QUEUE_HELD), QUEUE_CANCELLED, -1), 1);
	ck_assert_int_eq(queue_set_state(fx.q, "nope", QT_BIT(QUEUE_HELD),
	    QUEUE_CANCELLED, -1, "test", NULL, queue_test_cb, NULL), -1);
	ck_assert_int_eq(queue_set_state(fx.q, "0123456789abcdef",
	    QT_BIT(QUEUE_HELD), QUEUE_STATE_MAX + 1, -1, "test", NULL,
	    queue_test_cb, NULL), -1);
	ck_assert_int_eq(queue_set_state(fx.q, "0123456789abcdef",
	    QT_BIT(QUEUE_HELD), QUEUE_SENT, -1, NULL, NULL, queue_test_cb,
	    NULL), -1);
	ck_assert_int_eq(done.n, 1);
}
END_TEST

/* ------------------------------------------------------------------ */
/* record_attempt                                                      */
/* ------------------------------------------------------------------ */

static struct queue_attempt *
queue_test_attempt(const char *id, enum queue_state st, int64_t next,
    const char *err, size_t n, const int *idx, const int *status)
{
	struct queue_attempt *a;
	size_t i;

	a = xcalloc(1, sizeof(*a));
	mh_strlcpy(a->id, id, sizeof(a->id));
	a->new_state = st;
	a->next_attempt = next;
	a->last_error = err != NULL ? xstrdup(err) : NULL;
	a->nrcpts = n;
	a->rcpts = xcalloc(n, sizeof(*a->rcpts));
	for (i = 0; i < n; i++) {
		a->rcpts[i].idx = idx[i];
		a->rcpts[i].status = status[i];
		a->rcpts[i].reply = xstrdup(status[i] == QUEUE_RCPT_SENT ?
		    "250 2.0.0 ok" : status[i] == QUEUE_RCPT_FAILED ?
		    "550 5.1.1 no such user" : "451 4.3.0 later");
	}
	return a;
}

static int
queue_test_record(struct queue_attempt *a)
{
	int want = done.n + 1;

	ck_assert_int_eq(queue_record_attempt(fx.q, a, queue_test_cb, NULL),
	    0);
	queue_test_wait(want);
	return done.res[want - 1];
}

/* ------------------------------------------------------------------ */
/* the sender's page: subject, findings, token, alert (schema 3)       */
/* ------------------------------------------------------------------ */

static void
queue_test_add_page(struct queue_msg_new *m, const char *sel)
{
	struct queue_finding *f;
	size_t i;

	m->subject = xstrdup("Quarterly figures \xe5\x9b\x9b\xe5\x8d\x8a\xe6\x9c\x9f");
	m->verdict = xmalloc(10000);	/* longer than any other text */
	memset(m->verdict, 'v', 9999);
	m->verdict[9999] = '\0';
	m->nfindings = 2;
	m->findings = xcalloc(2, sizeof(*m->findings));
	for (i = 0; i < 2; i++) {
		f = &m->findings[i];
		f->rule = xstrdup(i ? "visible_recipients" : "typo_domain");
		f->severity = xstrdup("warning");
		f->nrcpts = i ? 2 : 1;
		f->rcpts = xcalloc(f->nrcpts, sizeof(*f->rcpts));
		f->rcpts[0] = xstrdup("rcpt0@example.net");
		if (i)
			f->rcpts[1] = xstrdup("rcpt1@example.net");
		f->suggestion = i ? NULL : xstrdup("rcpt0@example.com");
		f->msg_en = xstrdup("looks like a typo");
		f->msg_ja = xstrdup("\xe8\xaa\xa4\xe3\x82\x8a");
	}
	m->token = xcalloc(1, sizeof(*m->token));
	mh_strlcpy(m->token->selector, sel, sizeof(m->token->selector));
	memset(m->token->hash, 0xab, sizeof(m->token->hash));
	memset(m->token->csrf, 0xcd, sizeof(m->token->csrf));
	m->alert = queue_test_msg(NULL, QUEUE_HELD, QT_T0, 1,
	    "Subject: alert http://x/m/SECRET\r\n\r\nSECRET\r\n");
	m->alert->flags = QUEUE_F_NOTICE;
	free(m->alert->sender);
	m->alert->sender = xstrdup("");
}

START_TEST(queue_test_page_rows)
{
	struct queue_msg_new *m;
	struct queue_msg *l;
	struct queue_token row;
	struct queue_finding *f = NULL;
	struct queue_summary *v = NULL;
	char id[QUEUE_ID_LEN + 1], aid[QUEUE_ID_LEN + 1], mid[QUEUE_ID_LEN + 1];
	unsigned char want[QUEUE_TOKEN_HASH_LEN];
	size_t n = 0;

	m = queue_test_msg(NULL, QUEUE_HELD, QT_T0 + 300, 2, "x\r\n");
	queue_test_add_page(m, "AbCd-_0123zZ");
	mh_strlcpy(id, m->id, sizeof(id));
	mh_strlcpy(aid, m->alert->id, sizeof(aid));
	ck_assert_int_eq(queue_submit(fx.q, m, queue_test_cb, NULL), 0);
	queue_test_wait(1);
	ck_assert_int_eq(done.res[0], 0);

	/* Message and alert went in together; the alert is due now. */
	l = queue_msg_load(fx.q, aid);
	ck_assert_ptr_nonnull(l);
	ck_assert_uint_eq(l->flags & QUEUE_F_NOTICE, QUEUE_F_NOTICE);
	queue_msg_free(l);
	l = queue_msg_load(fx.q, id);
	ck_assert_ptr_nonnull(l);
	ck_assert_str_eq(l->subject,
	    "Quarterly figures \xe5\x9b\x9b\xe5\x8d\x8a\xe6\x9c\x9f");
	ck_assert_uint_eq(strlen(l->verdict), 9999);
	ck_assert_int_gt(l->updated_at, 0);
	queue_msg_free(l);

	ck_assert_int_eq(queue_token_find(fx.q, "AbCd-_0123zZ", &row, mid), 0);
	ck_assert_str_eq(mid, id);
	memset(want, 0xab, sizeof(want));
	ck_assert_mem_eq(row.hash, want, sizeof(want));
	ck_assert_uint_eq(row.csrf[0], 0xcd);
	ck_assert_int_eq(queue_token_find(fx.q, "AbCd-_0123zY", &row, mid), 1);
	ck_assert_int_eq(queue_token_find(fx.q, "short", &row, mid), 1);
	ck_assert_int_eq(queue_token_find(fx.q, "AbCd-_0123z'", &row, mid), 1);

	ck_assert_int_eq(queue_findings_load(fx.q, id, &f, &n), 0);
	ck_assert_uint_eq(n, 2);
	ck_assert_str_eq(f[0].rule, "typo_domain");
	ck_assert_str_eq(f[0].suggestion, "rcpt0@example.com");
	ck_assert_uint_eq(f[0].nrcpts, 1);
	ck_assert_uint_eq(f[1].nrcpts, 2);
	ck_assert_str_eq(f[1].rcpts[1], "rcpt1@example.net");
	ck_assert_ptr_null(f[1].suggestion);
	ck_assert_str_eq(f[1].msg_ja, "\xe8\xaa\xa4\xe3\x82\x8a");
	queue_findings_free(f, n);

	ck_assert_int_eq(queue_list(fx.q, QT_BIT(QUEUE_HELD), NULL, 10, &v,
	    &n), 0);
	ck_assert_uint_eq(n, 2);
	ck_assert_ptr_nonnull(v[0].subject != NULL ? v[0].subject :
	    v[1].subject);
	queue_summary_free(v, n);

	/* A malformed findings row is refused, not trusted. */
	queue_test_exec("UPDATE findings SET rcpts = 'a' || char(10) || ''"
	    " WHERE idx = 1");
	ck_assert_int_eq(queue_findings_load(fx.q, id, &f, &n), -1);
	ck_assert_ptr_null(f);
}
END_TEST

/* Retention: only final messages last changed before the cut go, with
 * every row that belongs to them; batches are bounded. */
START_TEST(queue_test_purge)
{
	struct queue_msg_new *m;
	char ids[6][QUEUE_ID_LEN + 1];
	int64_t count = -1;
	int i, want;
	static const enum queue_state st[6] = { QUEUE_HELD, QUEUE_HELD,
	    QUEUE_SENT, QUEUE_FAILED, QUEUE_CANCELLED, QUEUE_CANCELLED };

	for (i = 0; i < 6; i++) {
		m = queue_test_msg(NULL, QUEUE_HELD, QT_T0, 2, "x\r\n");
		if (i == 5)
			queue_test_add_page(m, "AAAAAAAAAAAA");
		mh_strlcpy(ids[i], m->id, sizeof(ids[i]));
		ck_assert_int_eq(queue_submit(fx.q, m, queue_test_cb, NULL), 0);
		queue_test_wait(i + 1);
	}
	queue_test_exec("UPDATE messages SET updated_at = 1000");
	for (i = 0; i < 6; i++) {
		char sql[200];

		mh_snprintf(sql, sizeof(sql), "UPDATE messages SET state = '%s'"
		    "%s WHERE id = '%s'", queue_state_to_str(st[i]),
		    i == 4 ? ", updated_at = 5000" : "", ids[i]);
		queue_test_exec(sql);
	}
	/* Batch of 1: one message per transaction. */
	want = done.n + 1;
	ck_assert_int_eq(queue_purge(fx.q, 2000, 1, &count, queue_test_cb,
	    NULL), 0);
	queue_test_wait(want);
	ck_assert_int_eq(done.res[want - 1], 0);
	ck_assert_int_eq(count, 1);
	want = done.n + 1;
	ck_assert_int_eq(queue_purge(fx.q, 2000, 100, &count, queue_test_cb,
	    NULL), 0);
	queue_test_wait(want);
	ck_assert_int_eq(count, 2);	/* sent, failed/cancelled-with-page */
	/* Held ones (and the alert, held) and the newer cancelled stay. */
	ck_assert_int_eq(queue_test_int("SELECT count(*) FROM messages WHERE"
	    " id IN (?1)", ids[4]), 1);
	ck_assert_int_eq(queue_test_int("SELECT count(*) FROM messages WHERE"
	    " state = 'held'", NULL), 3);
	for (i = 2; i < 6; i++) {
		if (i == 4)
			continue;
		ck_assert_int_eq(queue_test_int("SELECT count(*) FROM messages"
		    " WHERE id = ?1", ids[i]), 0);
		ck_assert_int_eq(queue_test_int("SELECT count(*) FROM bodies"
		    " WHERE msg_id = ?1", ids[i]), 0);
		ck_assert_int_eq(queue_test_int("SELECT count(*) FROM recipients"
		    " WHERE msg_id = ?1", ids[i]), 0);
		ck_assert_int_eq(queue_test_int("SELECT count(*) FROM audit"
		    " WHERE msg_id = ?1", ids[i]), 0);
	}
	ck_assert_int_eq(queue_test_int("SELECT count(*) FROM tokens", NULL),
	    0);
	ck_assert_int_eq(queue_test_int("SELECT count(*) FROM findings",
	    NULL), 0);
	ck_assert_int_eq(queue_test_int("SELECT count(*) FROM audit WHERE"
	    " msg_id = ?1", ids[0]), 1);
	/* Nothing left to purge. */
	want = done.n + 1;
	ck_assert_int_eq(queue_purge(fx.q, 2000, 100, &count, queue_test_cb,
	    NULL), 0);
	queue_test_wait(want);
	ck_assert_int_eq(count, 0);
}
END_TEST

/* The alert's body (it holds the link) is zeroed once it has gone. */
START_TEST(queue_test_notice_scrub)
{
	static const int idx[] = { 0 }, st[] = { QUEUE_RCPT_SENT };
	struct queue_msg_new *m;
	char id[QUEUE_ID_LEN + 1], aid[QUEUE_ID_LEN + 1];
	unsigned char *b;
	size_t len, i;

	m = queue_test_msg(NULL, QUEUE_HELD, QT_T0 + 300, 2, "x\r\n");
	queue_test_add_page(m, "AAAAAAAAAAAA");
	mh_strlcpy(id, m->id, sizeof(id));
	mh_strlcpy(aid, m->alert->id, sizeof(aid));
	ck_assert_int_eq(queue_submit(fx.q, m, queue_test_cb, NULL), 0);
	queue_test_wait(1);
	ck_assert_int_eq(queue_test_state(aid, QT_BIT(QUEUE_HELD),
	    QUEUE_RELEASING, -1), 0);
	ck_assert_int_eq(queue_test_record(queue_test_attempt(aid, QUEUE_SENT,
	    0, NULL, 1, idx, st)), 0);
	b = queue_test_read_body(aid, 7, &len);
	ck_assert_uint_gt(len, 0);
	for (i = 0; i < len; i++)
		ck_assert_uint_eq(b[i], 0);
	free(b);
	/* An ordinary message keeps its body. */
	ck_assert_int_eq(queue_test_state(id, QT_BIT(QUEUE_HELD),
	    QUEUE_RELEASING, -1), 0);
	ck_assert_int_eq(queue_test_record(queue_test_attempt(id, QUEUE_SENT,
	    0, NULL, 1, idx, st)), 0);
	b = queue_test_read_body(id, 7, &len);
	ck_assert_mem_eq(b, "x\r\n", 3);
	free(b);
}
END_TEST

/* Invalid companions and findings are refused before anything is
 * written. */
static const char *const queue_test_page_bad_cases[] = {
	"alert of an alert", "token selector", "finding rule", "finding rcpt LF",
	"too many finding recipients", "same id",
};

START_TEST(queue_test_page_bad)
{
	struct queue_msg_new *m;

	m = queue_test_msg(NULL, QUEUE_HELD, QT_T0, 1, "x\r\n");
	queue_test_add_page(m, "AAAAAAAAAAAA");
	switch (_i) {
	case 0:
		m->alert->alert = queue_test_msg(NULL, QUEUE_HELD, QT_T0, 1,
		    "y\r\n");
		break;
	case 1:
		mh_strlcpy(m->token->selector, "AAAAAAAAAAA=",
		    sizeof(m->token->selector));
		break;
	case 2:
		free(m->findings[0].rule);
		m->findings[0].rule = xstrdup("");
		break;
	case 3:
		free(m->findings[1].rcpts[1]);
		m->findings[1].rcpts[1] = xstrdup("a\nb");
		break;
	case 4: {
		struct queue_finding *f = &m->findings[0];
		size_t i;

		f->rcpts = xreallocarray(f->rcpts, QUEUE_FINDING_RCPTS_MAX + 1,
		    sizeof(*f->rcpts));
		for (i = f->nrcpts; i <= QUEUE_FINDING_RCPTS_MAX; i++)
			f->rcpts[i] = xstrdup("r@example.net");
		f->nrcpts = QUEUE_FINDING_RCPTS_MAX + 1;
		break;
	}
	default:
		mh_strlcpy(m->alert->id, m->id, sizeof(m->alert->id));
		break;
	}
	ck_assert_msg(queue_submit(fx.q, m, queue_test_cb, NULL) == -1, "%s",
	    queue_test_page_bad_cases[_i]);
	ck_assert_int_eq(queue_test_int("SELECT count(*) FROM messages",
	    NULL), 0);
}
END_TEST

START_TEST(queue_test_attempt_deferred_then_sent)
{
	static const int idx3[] = { 0, 1, 2 }, st3[] = { QUEUE_RCPT_SENT,
	    QUEUE_RCPT_FAILED, QUEUE_RCPT_PENDING };
	static const int idx1[] = { 2 }, st1[] = { QUEUE_RCPT_SENT };
	struct queue_msg_new *m;
	struct queue_msg *l;
	char id[QUEUE_ID_LEN + 1], buf[128];

	m = queue_test_msg(NULL, QUEUE_HELD, QT_T0, 3, "x\r\n");
	mh_strlcpy(id, m->id, sizeof(id));
	ck_assert_int_eq(queue_submit(fx.q, m, queue_test_cb, NULL), 0);
	queue_test_wait(1);
	ck_assert_int_eq(queue_test_state(id, QT_BIT(QUEUE_HELD),
	    QUEUE_RELEASING, -1), 0);

	ck_assert_int_eq(queue_test_record(queue_test_attempt(id,
	    QUEUE_DEFERRED, QT_T0 + 600, "451 4.3.0 later", 3, idx3, st3)), 0);
	l = queue_msg_load(fx.q, id);
	ck_assert_ptr_nonnull(l);
	ck_assert_int_eq(l->state, QUEUE_DEFERRED);
	ck_assert_int_eq(l->attempts, 1);
	ck_assert_int_eq(l->next_attempt, QT_T0 + 600);
	ck_assert_str_eq(l->last_error, "451 4.3.0 later");
	ck_assert_int_eq(l->rcpts[0].status, QUEUE_RCPT_SENT);
	ck_assert_str_eq(l->rcpts[0].last_reply, "250 2.0.0 ok");
	ck_assert_int_eq(l->rcpts[1].status, QUEUE_RCPT_FAILED);
	ck_assert_str_eq(l->rcpts[1].last_reply, "550 5.1.1 no such user");
	ck_assert_int_eq(l->rcpts[2].status, QUEUE_RCPT_PENDING);
	queue_msg_free(l);
	queue_test_text("SELECT actor || ' ' || from_state || '>' || to_state"
	    " || ' ' || why FROM audit WHERE msg_id = ?1 ORDER BY id DESC"
	    " LIMIT 1", id, buf, sizeof(buf));
	ck_assert_str_eq(buf, "relay releasing>deferred 451 4.3.0 later");

	/* The retry delivers the last recipient. */
	ck_assert_int_eq(queue_test_state(id, QT_BIT(QUEUE_DEFERRED),
	    QUEUE_RELEASING, -1), 0);
	ck_assert_int_eq(queue_test_record(queue_test_attempt(id, QUEUE_SENT,
	    0, NULL, 1, idx1, st1)), 0);
	l = queue_msg_load(fx.q, id);
	ck_assert_ptr_nonnull(l);
	ck_assert_int_eq(l->state, QUEUE_SENT);
	ck_assert_int_eq(l->attempts, 2);
	ck_assert_int_eq(l->next_attempt, QT_T0 + 600);	/* kept */
	ck_assert_ptr_null(l->last_error);
	ck_assert_int_eq(l->rcpts[1].status, QUEUE_RCPT_FAILED);
	ck_assert_int_eq(l->rcpts[2].status, QUEUE_RCPT_SENT);
	queue_msg_free(l);
}
END_TEST

/* Results that must change nothing. */
static const struct {
	const char	*label;
	bool		 releasing;	/* put the message in RELEASING */
	int		 idx;		/* second recipient entry */
	int		 want;
} queue_test_attempt_nochange_cases[] = {
	{ .label = "not releasing", .releasing = false, .idx = 1,
	  .want = 1 },
	{ .label = "unknown recipient", .releasing = true, .idx = 7,
	  .want = -1 },
};

START_TEST(queue_test_attempt_nochange)
{
	const int idx[] = { 0, queue_test_attempt_nochange_cases[_i].idx };
	const int st[] = { QUEUE_RCPT_SENT, QUEUE_RCPT_SENT };
	struct queue_msg *l;
	char id[QUEUE_ID_LEN + 1];
	enum queue_state before;

	ck_assert_int_eq(queue_test_put(QUEUE_HELD, QT_T0, id), 0);
	before = QUEUE_HELD;
	if (queue_test_attempt_nochange_cases[_i].releasing) {
		ck_assert_int_eq(queue_test_state(id, QT_BIT(QUEUE_HELD),
		    QUEUE_RELEASING, -1), 0);
		before = QUEUE_RELEASING;
	}
	ck_assert_int_eq(queue_test_record(queue_test_attempt(id, QUEUE_SENT,
	    0, NULL, 2, idx, st)), queue_test_attempt_nochange_cases[_i].want);
	l = queue_msg_load(fx.q, id);
	ck_assert_ptr_nonnull(l);
	ck_assert_int_eq(l->state, before);
	ck_assert_int_eq(l->attempts, 0);
	ck_assert_int_eq(l->rcpts[0].status, QUEUE_RCPT_PENDING);
	ck_assert_ptr_null(l->rcpts[0].last_reply);
	queue_msg_free(l);
}
END_TEST

START_TEST(queue_test_attempt_invalid)
{
	static const int idx[] = { 0 }, st[] = { QUEUE_RCPT_SENT };
	static const int bad[] = { 5 };

	ck_assert_int_eq(queue_record_attempt(fx.q, queue_test_attempt(
	    "0123456789abcdef", QUEUE_HELD, 0, NULL, 1, idx, st),
	    queue_test_cb, NULL), -1);
	ck_assert_int_eq(queue_record_attempt(fx.q, queue_test_attempt(
	    "0123456789abcdef", QUEUE_SENT, 0, NULL, 1, idx, bad),
	    queue_test_cb, NULL), -1);
	ck_assert_int_eq(queue_record_attempt(fx.q, queue_test_attempt(
	    "xyz", QUEUE_SENT, 0, NULL, 1, idx, st), queue_test_cb, NULL), -1);
	ck_assert_int_eq(queue_record_attempt(fx.q, NULL, queue_test_cb,
	    NULL), -1);
	/* Well-formed but no such message: the writer says -1. */
	ck_assert_int_eq(queue_test_record(queue_test_attempt(
	    "0123456789abcdef", QUEUE_SENT, 0, NULL, 1, idx, st)), -1);
}
END_TEST

/* ------------------------------------------------------------------ */
/* due list and next_due                                               */
/* ------------------------------------------------------------------ */

START_TEST(queue_test_due)
{
	char (*ids)[QUEUE_ID_LEN + 1];
	char a[QUEUE_ID_LEN + 1], b[QUEUE_ID_LEN + 1], c[QUEUE_ID_LEN + 1];
	char d[QUEUE_ID_LEN + 1], e[QUEUE_ID_LEN + 1], f[QUEUE_ID_LEN + 1];
	char g[QUEUE_ID_LEN + 1], h[QUEUE_ID_LEN + 1];
	struct queue_msg_new *m;
	uint64_t counts[QUEUE_STATE_MAX + 1];
	int64_t when;
	size_t n;

	ids = xcalloc(10, sizeof(*ids));
	ck_assert_int_eq(queue_next_due(fx.q, &when), 1);
	ck_assert_int_eq(queue_due_list(fx.q, QT_T0, 10, ids, &n), 0);
	ck_assert_uint_eq(n, 0);

	ck_assert_int_eq(queue_test_put(QUEUE_HELD, QT_T0 + 100, a), 0);
	ck_assert_int_eq(queue_test_put(QUEUE_HELD, QT_T0 + 50, b), 0);
	ck_assert_int_eq(queue_test_put(QUEUE_AWAITING_RELEASE, QT_T0 + 10,
	    c), 0);
	ck_assert_int_eq(queue_test_put(QUEUE_HELD, QT_T0 + 300, d), 0);
	ck_assert_int_eq(queue_test_put(QUEUE_HELD, QT_T0 + 20, e), 0);
	ck_assert_int_eq(queue_test_state(e, QT_BIT(QUEUE_HELD),
	    QUEUE_DEFERRED, QT_T0 + 150), 0);
	ck_assert_int_eq(queue_test_put(QUEUE_HELD, QT_T0 + 5, f), 0);
	ck_assert_int_eq(queue_test_state(f, QT_BIT(QUEUE_HELD),
	    QUEUE_RELEASING, -1), 0);
	ck_assert_int_eq(queue_test_put(QUEUE_HELD, QT_T0 + 6, g), 0);
	ck_assert_int_eq(queue_test_state(g, QT_BIT(QUEUE_HELD), QUEUE_SENT,
	    -1), 0);
	/* Same due time as a, received earlier: goes first. */
	m = queue_test_msg(NULL, QUEUE_HELD, QT_T0 + 100, 1, "x\r\n");
	m->received_at = QT_T0 - 100;
	mh_strlcpy(h, m->id, sizeof(h));
	ck_assert_int_eq(queue_submit(fx.q, m, queue_test_cb, NULL), 0);
	queue_test_wait(done.n + 1);

	ck_assert_int_eq(queue_next_due(fx.q, &when), 0);
	ck_assert_int_eq(when, QT_T0 + 50);
	ck_assert_int_eq(queue_due_list(fx.q, QT_T0 + 200, 10, ids, &n), 0);
	ck_assert_uint_eq(n, 4);
	ck_assert_str_eq(ids[0], b);
	ck_assert_str_eq(ids[1], h);
	ck_assert_str_eq(ids[2], a);
	ck_assert_str_eq(ids[3], e);
	ck_assert_int_eq(queue_due_list(fx.q, QT_T0 + 200, 2, ids, &n), 0);
	ck_assert_uint_eq(n, 2);
	ck_assert_str_eq(ids[1], h);
	ck_assert_int_eq(queue_due_list(fx.q, QT_T0 + 49, 10, ids, &n), 0);
	ck_assert_uint_eq(n, 0);
	ck_assert_int_eq(queue_due_list(fx.q, QT_T0 + 200, 0, ids, &n), 0);
	ck_assert_uint_eq(n, 0);

	ck_assert_int_eq(queue_count_states(fx.q, counts), 0);
	ck_assert_uint_eq(counts[QUEUE_HELD], 4);
	ck_assert_uint_eq(counts[QUEUE_AWAITING_RELEASE], 1);
	ck_assert_uint_eq(counts[QUEUE_DEFERRED], 1);
	ck_assert_uint_eq(counts[QUEUE_RELEASING], 1);
	ck_assert_uint_eq(counts[QUEUE_SENT], 1);
	ck_assert_uint_eq(counts[QUEUE_FAILED], 0);

	/* Only AWAITING_RELEASE, RELEASING and final states left. */
	ck_assert_int_eq(queue_test_int("SELECT count(*) FROM messages WHERE"
	    " state IN ('held', 'deferred')", NULL), 5);
	queue_test_state(a, QT_BIT(QUEUE_HELD), QUEUE_CANCELLED, -1);
	queue_test_state(b, QT_BIT(QUEUE_HELD), QUEUE_CANCELLED, -1);
	queue_test_state(d, QT_BIT(QUEUE_HELD), QUEUE_CANCELLED, -1);
	queue_test_state(h, QT_BIT(QUEUE_HELD), QUEUE_RELEASING, -1);
	queue_test_state(e, QT_BIT(QUEUE_DEFERRED), QUEUE_FAILED, -1);
	ck_assert_int_eq(queue_next_due(fx.q, &when), 1);
	ck_assert_int_eq(queue_due_list(fx.q, INT64_MAX, 10, ids, &n), 0);
	ck_assert_uint_eq(n, 0);
	free(ids);
}
END_TEST

/* The due queries (text as in queue.c) walk the partial index in ORDER BY
 * order: no temporary b-tree, whatever the number of due rows. */
START_TEST(queue_test_due_plan)
{
	static const char *const sql[] = {
		"EXPLAIN QUERY PLAN SELECT id FROM messages"
		" INDEXED BY messages_due"
		" WHERE state IN ('held', 'deferred') AND next_attempt <= 5"
		" ORDER BY next_attempt, received_at, id LIMIT 10",
		"EXPLAIN QUERY PLAN SELECT next_attempt FROM messages"
		" INDEXED BY messages_due WHERE state IN ('held', 'deferred')"
		" ORDER BY next_attempt LIMIT 1",
	};
	sqlite3 *db = queue_test_db();
	sqlite3_stmt *st;
	const char *detail;
	size_t i;
	bool idx, sort;

	for (i = 0; i < sizeof(sql) / sizeof(sql[0]); i++) {
		idx = sort = false;
		ck_assert_int_eq(sqlite3_prepare_v2(db, sql[i], -1, &st, NULL),
		    SQLITE_OK);
		while (sqlite3_step(st) == SQLITE_ROW) {
			detail = (const char *)sqlite3_column_text(st, 3);
			if (strstr(detail, "messages_due") != NULL)
				idx = true;
			if (strstr(detail, "TEMP B-TREE") != NULL)
				sort = true;
		}
		sqlite3_finalize(st);
		ck_assert_msg(idx && !sort, "plan %zu", i);
	}
	sqlite3_close(db);
}
END_TEST

/* ------------------------------------------------------------------ */
/* recover                                                             */
/* ------------------------------------------------------------------ */

START_TEST(queue_test_recover)
{
	char a[QUEUE_ID_LEN + 1], b[QUEUE_ID_LEN + 1], c[QUEUE_ID_LEN + 1];
	struct queue_msg *l;
	int64_t t0, when;
	char buf[128];

	ck_assert_int_eq(queue_recover(fx.q), 0);
	ck_assert_int_eq(queue_test_put(QUEUE_HELD, QT_T0 + 1000000000, a), 0);
	ck_assert_int_eq(queue_test_put(QUEUE_HELD, QT_T0 + 1000000000, b), 0);
	ck_assert_int_eq(queue_test_put(QUEUE_HELD, QT_T0 + 1000000000, c), 0);
	ck_assert_int_eq(queue_test_state(a, QT_BIT(QUEUE_HELD),
	    QUEUE_RELEASING, -1), 0);
	ck_assert_int_eq(queue_test_state(b, QT_BIT(QUEUE_HELD),
	    QUEUE_RELEASING, -1), 0);

	/* As after a crash: close and reopen, then recover. */
	queue_close(fx.q);
	fx.q = queue_test_open(0);
	t0 = mh_now();
	ck_assert_int_eq(queue_recover(fx.q), 2);
	l = queue_msg_load(fx.q, a);
	ck_assert_ptr_nonnull(l);
	ck_assert_int_eq(l->state, QUEUE_DEFERRED);
	ck_assert_int_ge(l->next_attempt, t0);
	ck_assert_int_le(l->next_attempt, mh_now());
	queue_msg_free(l);
	l = queue_msg_load(fx.q, c);
	ck_assert_ptr_nonnull(l);
	ck_assert_int_eq(l->state, QUEUE_HELD);
	queue_msg_free(l);
	queue_test_text("SELECT actor || ' ' || from_state || '>' || to_state"
	    " FROM audit WHERE msg_id = ?1 ORDER BY id DESC LIMIT 1", b, buf,
	    sizeof(buf));
	ck_assert_str_eq(buf, "recover releasing>deferred");
	ck_assert_int_eq(queue_next_due(fx.q, &when), 0);
	ck_assert_int_le(when, mh_now());
	ck_assert_int_eq(queue_recover(fx.q), 0);
	ck_assert_int_eq(done.n, 5);	/* recover has no callback */
}
END_TEST

/* ------------------------------------------------------------------ */
/* durability and close                                                */
/* ------------------------------------------------------------------ */

START_TEST(queue_test_reopen_keeps_all)
{
	static const int idx[] = { 0, 1 }, st[] = { QUEUE_RCPT_SENT,
	    QUEUE_RCPT_PENDING };
	const size_t len = 700000;
	struct queue_msg_new *m;
	struct queue_msg *l;
	unsigned char *data, *got;
	char a[QUEUE_ID_LEN + 1], b[QUEUE_ID_LEN + 1];
	size_t glen;

	data = xmalloc(len);
	queue_test_fill(data, len, 5);
	m = queue_test_msg(NULL, QUEUE_HELD, QT_T0, 2, NULL);
	m->body = xmalloc(len);
	memcpy(m->body, data, len);
	m->body_len = len;
	mh_strlcpy(a, m->id, sizeof(a));
	ck_assert_int_eq(queue_submit(fx.q, m, queue_test_cb, NULL), 0);
	queue_test_wait(1);
	ck_assert_int_eq(queue_test_put(QUEUE_HELD, QT_T0, b), 0);
	ck_assert_int_eq(queue_test_state(a, QT_BIT(QUEUE_HELD),
	    QUEUE_RELEASING, -1), 0);
	ck_assert_int_eq(queue_test_record(queue_test_attempt(a,
	    QUEUE_DEFERRED, QT_T0 + 900, "421 busy", 2, idx, st)), 0);
	ck_assert_int_eq(queue_test_state(b, QT_BIT(QUEUE_HELD),
	    QUEUE_CANCELLED, -1), 0);

	queue_close(fx.q);
	fx.q = queue_test_open(0);

	l = queue_msg_load(fx.q, a);
	ck_assert_ptr_nonnull(l);
	ck_assert_int_eq(l->state, QUEUE_DEFERRED);
	ck_assert_int_eq(l->attempts, 1);
	ck_assert_int_eq(l->next_attempt, QT_T0 + 900);
	ck_assert_str_eq(l->last_error, "421 busy");
	ck_assert_int_eq(l->rcpts[0].status, QUEUE_RCPT_SENT);
	queue_msg_free(l);
	l = queue_msg_load(fx.q, b);
	ck_assert_ptr_nonnull(l);
	ck_assert_int_eq(l->state, QUEUE_CANCELLED);
	queue_msg_free(l);
	got = queue_test_read_body(a, 256 * 1024, &glen);
	ck_assert_uint_eq(glen, len);
	ck_assert_int_eq(memcmp(got, data, len), 0);
	free(got);
	free(data);
	ck_assert_int_eq(queue_test_int("SELECT count(*) FROM audit", NULL), 5);
}
END_TEST

static struct queue *queue_test_closing_q;
static int queue_test_late_rc = 99;

static void
queue_test_close_cb(int result, void *arg)
{
	struct queue_msg_new *m;

	queue_test_cb(result, arg);
	/* New work while closing is refused (and m is freed). */
	m = queue_test_msg(NULL, QUEUE_HELD, QT_T0, 1, "x\r\n");
	queue_test_late_rc = queue_submit(queue_test_closing_q, m,
	    queue_test_cb, NULL);
}

/* queue_close() commits what is queued and runs its completions. */
START_TEST(queue_test_close_runs_completions)
{
	struct queue_msg_new *m;
	char ids[20][QUEUE_ID_LEN + 1];
	struct queue_msg *l;
	int i;

	queue_test_closing_q = fx.q;
	for (i = 0; i < 20; i++) {
		m = queue_test_msg(NULL, QUEUE_HELD, QT_T0, 1, "x\r\n");
		mh_strlcpy(ids[i], m->id, sizeof(ids[i]));
		ck_assert_int_eq(queue_submit(fx.q, m, i == 19 ?
		    queue_test_close_cb : queue_test_cb, (void *)(intptr_t)i),
		    0);
	}
	queue_close(fx.q);
	fx.q = NULL;
	ck_assert_int_eq(done.n, 20);
	for (i = 0; i < 20; i++) {
		ck_assert_int_eq(done.res[i], 0);
		ck_assert_int_eq(done.tag[i], i);
	}
	ck_assert_int_eq(queue_test_late_rc, -1);

	fx.q = queue_test_open(0);
	for (i = 0; i < 20; i++) {
		l = queue_msg_load(fx.q, ids[i]);
		ck_assert_ptr_nonnull(l);
		queue_msg_free(l);
	}
	queue_close(NULL);
}
END_TEST

/* ------------------------------------------------------------------ */
/* re-validation on load                                               */
/* ------------------------------------------------------------------ */

static const struct {
	const char	*label;
	const char	*sql;
} queue_test_corrupt_cases[] = {
	{ "unknown state", "UPDATE messages SET state = 'bogus'" },
	{ "integer state", "UPDATE messages SET state = 3" },
	{ "blob sender", "UPDATE messages SET sender = X'616263'" },
	{ "NUL in sender",
	  "UPDATE messages SET sender = CAST(X'6100622063' AS TEXT)" },
	{ "over-long helo",
	  "UPDATE messages SET helo = printf('%.5000c', 'h')" },
	{ "negative size", "UPDATE messages SET size = -1" },
	{ "size not a number", "UPDATE messages SET size = 'big'" },
	{ "size mismatch", "UPDATE messages SET size = size + 1" },
	{ "unknown flag", "UPDATE messages SET flags = 256" },
	{ "received_at zero", "UPDATE messages SET received_at = 0" },
	{ "real next_attempt", "UPDATE messages SET next_attempt = 1.5" },
	{ "negative attempts", "UPDATE messages SET attempts = -1" },
	{ "blob last_error", "UPDATE messages SET last_error = X'00'" },
	{ "body missing", "DELETE FROM bodies" },
	{ "no recipients", "DELETE FROM recipients" },
	{ "recipient status", "UPDATE recipients SET status = 9" },
	{ "recipient idx gap", "UPDATE recipients SET idx = 5 WHERE idx = 1" },
	{ "recipient addr empty",
	  "UPDATE recipients SET addr = '' WHERE idx = 1" },
	{ "recipient addr blob",
	  "UPDATE recipients SET addr = X'00' WHERE idx = 0" },
};

START_TEST(queue_test_load_corrupt)
{
	char id[QUEUE_ID_LEN + 1];
	struct queue_msg *l;

	ck_assert_int_eq(queue_test_put(QUEUE_HELD, QT_T0, id), 0);
	l = queue_msg_load(fx.q, id);
	ck_assert_ptr_nonnull(l);
	queue_msg_free(l);
	queue_test_exec(queue_test_corrupt_cases[_i].sql);
	ck_assert_msg(queue_msg_load(fx.q, id) == NULL, "%s: loaded",
	    queue_test_corrupt_cases[_i].label);
}
END_TEST

/* Bad rows are skipped by the list and count reads, never trusted. */
START_TEST(queue_test_corrupt_lists)
{
	char (*ids)[QUEUE_ID_LEN + 1];
	char a[QUEUE_ID_LEN + 1], b[QUEUE_ID_LEN + 1];
	uint64_t counts[QUEUE_STATE_MAX + 1];
	size_t n;

	ids = xcalloc(4, sizeof(*ids));
	ck_assert_int_eq(queue_test_put(QUEUE_HELD, QT_T0, a), 0);
	ck_assert_int_eq(queue_test_put(QUEUE_HELD, QT_T0 + 1, b), 0);
	queue_test_exec("PRAGMA foreign_keys = OFF;"
	    "UPDATE messages SET id = 'NOT-AN-ID'"
	    " WHERE release_at = 1700000000;"
	    "INSERT INTO messages (id, state, sender, size, received_at,"
	    " release_at, next_attempt, updated_at) VALUES"
	    " ('0000000000000001', 'weird', 's', 0, 1, 1, 1, 1)");
	ck_assert_int_eq(queue_due_list(fx.q, QT_T0 + 10, 4, ids, &n), 0);
	ck_assert_uint_eq(n, 1);
	ck_assert_str_eq(ids[0], b);
	ck_assert_int_eq(queue_count_states(fx.q, counts), 0);
	ck_assert_uint_eq(counts[QUEUE_HELD], 2);
	ck_assert_ptr_null(queue_msg_load(fx.q, "0000000000000001"));
	ck_assert_ptr_null(queue_msg_load(fx.q, a));
	free(ids);
}
END_TEST

/* ------------------------------------------------------------------ */

/* ------------------------------------------------------------------ */
/* policy history and awaiting_release expiry                          */
/* ------------------------------------------------------------------ */

START_TEST(queue_test_history)
{
	static const int idx2[] = { 0, 1 }, st2[] = { QUEUE_RCPT_SENT,
	    QUEUE_RCPT_FAILED };
	static const char *const ask[] = { "RCPT0@Example.NET",
	    "rcpt1@example.net", "nobody@example.net" };
	struct queue_history h;
	struct queue_msg_new *m;
	struct queue_msg *l;
	char id[QUEUE_ID_LEN + 1];

	m = queue_test_msg(NULL, QUEUE_HELD, QT_T0, 2, "x\r\n");
	m->verdict = xstrdup("{\"action\":\"hold\"}");
	mh_strlcpy(id, m->id, sizeof(id));
	ck_assert_int_eq(queue_submit(fx.q, m, queue_test_cb, NULL), 0);
	queue_test_wait(1);
	l = queue_msg_load(fx.q, id);
	ck_assert_ptr_nonnull(l);
	ck_assert_str_eq(l->verdict, "{\"action\":\"hold\"}");
	queue_msg_free(l);

	/* Held only: counts as recent, not as history. */
	ck_assert_int_eq(queue_history_load(fx.q, "ALICE", ask, 3, QT_T0 - 10,
	    &h), 0);
	ck_assert_uint_eq(h.naddrs, 0);
	ck_assert_uint_eq(h.ndomains, 0);
	ck_assert_uint_eq(h.nrecent, 1);
	ck_assert_uint_eq(h.recent[0].nrcpts, 2);
	ck_assert_int_eq(h.recent[0].time, QT_T0);
	queue_history_clear(&h);

	/* Sent to rcpt0, failed for rcpt1: only rcpt0 becomes history. */
	ck_assert_int_eq(queue_test_state(id, QT_BIT(QUEUE_HELD),
	    QUEUE_RELEASING, -1), 0);
	ck_assert_int_eq(queue_test_record(queue_test_attempt(id, QUEUE_SENT,
	    0, NULL, 2, idx2, st2)), 0);
	ck_assert_int_eq(queue_history_load(fx.q, "alice", ask, 3, QT_T0 + 1,
	    &h), 0);
	ck_assert_uint_eq(h.naddrs, 1);
	ck_assert_str_eq(h.addrs[0], "rcpt0@example.net");
	ck_assert_uint_eq(h.ndomains, 1);
	ck_assert_str_eq(h.domains[0], "example.net");
	ck_assert_uint_eq(h.nrecent, 0);	/* since is after it */
	queue_history_clear(&h);
	/* Another sender has no history of its own. */
	ck_assert_int_eq(queue_history_load(fx.q, "bob", ask, 3, 0, &h), 0);
	ck_assert_uint_eq(h.naddrs, 0);
	ck_assert_uint_eq(h.ndomains, 1);	/* organisation-wide */
	queue_history_clear(&h);
}
END_TEST

/* Submits m (a test message), waits, returns its id in idout. */
static void
queue_test_submit(struct queue_msg_new *m, char *idout)
{
	int want = done.n + 1;

	mh_strlcpy(idout, m->id, QUEUE_ID_LEN + 1);
	ck_assert_int_eq(queue_submit(fx.q, m, queue_test_cb, NULL), 0);
	queue_test_wait(want);
	ck_assert_int_eq(done.res[want - 1], 0);
}

/* The recent submission with this id in h, or NULL. */
static const struct queue_recent *
queue_test_recent(const struct queue_history *h, int64_t time)
{
	size_t i;

	for (i = 0; i < h->nrecent; i++)
		if (h->recent[i].time == time)
			return &h->recent[i];
	return NULL;
}

/*
 * What the burst rule needs of each recent submission (issue 17): the
 * rules of its findings, whether a person released it or it left after
 * its hold, and per recipient whether it was known when the message
 * came in.
 */
START_TEST(queue_test_history_flags)
{
	static const int idx1[] = { 0 }, st1[] = { QUEUE_RCPT_SENT };
	static const char *const ask[] = { "rcpt0@example.net" };
	const struct queue_recent *r;
	struct queue_history h;
	struct queue_msg_new *m;
	char a[QUEUE_ID_LEN + 1], b[QUEUE_ID_LEN + 1], c[QUEUE_ID_LEN + 1],
	    d[QUEUE_ID_LEN + 1];
	int64_t later = mh_now() + 1000;
	size_t i;

	/* a: held for release with two findings (burst first). */
	m = queue_test_msg(NULL, QUEUE_AWAITING_RELEASE, QT_T0 + 3600, 2,
	    "x\r\n");
	m->received_at = QT_T0;
	m->nfindings = 2;
	m->findings = xcalloc(2, sizeof(*m->findings));
	for (i = 0; i < 2; i++) {
		m->findings[i].rule = xstrdup(i ? "first_time_recipient" :
		    "burst");
		m->findings[i].severity = xstrdup("critical");
		m->findings[i].nrcpts = 1;
		m->findings[i].rcpts = xcalloc(1, sizeof(char *));
		m->findings[i].rcpts[0] = xstrdup("rcpt0@example.net");
		m->findings[i].msg_en = xstrdup("many");
		m->findings[i].msg_ja = xstrdup("many");
	}
	queue_test_submit(m, a);
	/* b: an ordinary held message; d: held for release, then expired. */
	m = queue_test_msg(NULL, QUEUE_HELD, QT_T0 + 300, 2, "x\r\n");
	m->received_at = QT_T0 + 10;
	queue_test_submit(m, b);
	m = queue_test_msg(NULL, QUEUE_AWAITING_RELEASE, QT_T0 + 3600, 1,
	    "x\r\n");
	m->received_at = QT_T0 + 20;
	queue_test_submit(m, d);

	ck_assert_int_eq(queue_history_load(fx.q, "alice", ask, 1, QT_T0 - 10,
	    &h), 0);
	ck_assert_uint_eq(h.nrecent, 3);
	ck_assert_ptr_nonnull(r = queue_test_recent(&h, QT_T0));
	/* group_concat's order is not defined: a set of two rules. */
	ck_assert_msg(strcmp(r->rules, "burst,first_time_recipient") == 0 ||
	    strcmp(r->rules, "first_time_recipient,burst") == 0, "%s",
	    r->rules);
	ck_assert(!r->released);
	ck_assert_uint_eq(r->nrcpts, 2);
	ck_assert(!r->known[0] && !r->known[1]);
	ck_assert_ptr_nonnull(r = queue_test_recent(&h, QT_T0 + 10));
	ck_assert_ptr_null(r->rules);
	ck_assert(!r->released);
	queue_history_clear(&h);

	/* The sender releases a; b leaves after its hold; d expires. */
	ck_assert_int_eq(queue_test_state(a, QT_BIT(QUEUE_AWAITING_RELEASE),
	    QUEUE_HELD, QT_T0), 0);
	ck_assert_int_eq(queue_test_state(b, QT_BIT(QUEUE_HELD),
	    QUEUE_RELEASING, -1), 0);
	ck_assert_int_eq(queue_test_state(d, QT_BIT(QUEUE_AWAITING_RELEASE),
	    QUEUE_CANCELLED, -1), 0);
	/* b is delivered to rcpt0 (history.first_at: now)... */
	ck_assert_int_eq(queue_test_record(queue_test_attempt(b, QUEUE_SENT,
	    0, NULL, 1, idx1, st1)), 0);
	/* ...so c, received later, writes to a known rcpt0, a new rcpt1. */
	m = queue_test_msg(NULL, QUEUE_HELD, later + 300, 2, "x\r\n");
	m->received_at = later;
	queue_test_submit(m, c);

	ck_assert_int_eq(queue_history_load(fx.q, "alice", ask, 1, QT_T0 - 10,
	    &h), 0);
	ck_assert_uint_eq(h.nrecent, 4);
	ck_assert_int_eq(h.recent[0].time, later);	/* newest first */
	ck_assert_ptr_nonnull(r = queue_test_recent(&h, QT_T0));
	ck_assert(r->released);				/* by a person */
	/* group_concat's order is not defined: a set of two rules. */
	ck_assert_msg(strcmp(r->rules, "burst,first_time_recipient") == 0 ||
	    strcmp(r->rules, "first_time_recipient,burst") == 0, "%s",
	    r->rules);
	ck_assert(!r->known[0] && !r->known[1]);	/* new back then */
	ck_assert_ptr_nonnull(r = queue_test_recent(&h, QT_T0 + 10));
	ck_assert(r->released);				/* left after hold */
	ck_assert(!r->known[0]);
	ck_assert_ptr_nonnull(r = queue_test_recent(&h, QT_T0 + 20));
	ck_assert(!r->released);			/* expired */
	ck_assert_ptr_nonnull(r = queue_test_recent(&h, later));
	ck_assert(!r->released);
	ck_assert_uint_eq(r->nrcpts, 2);
	ck_assert(r->known[0]);
	ck_assert(!r->known[1]);
	queue_history_clear(&h);
}
END_TEST

START_TEST(queue_test_expiry)
{
	char (*ids)[QUEUE_ID_LEN + 1], id[QUEUE_ID_LEN + 1];
	int64_t when;
	size_t n;

	ck_assert_int_eq(queue_next_expiry(fx.q, &when), 1);
	ck_assert_int_eq(queue_test_put(QUEUE_AWAITING_RELEASE, QT_T0 + 100,
	    id), 0);
	ck_assert_int_eq(queue_next_expiry(fx.q, &when), 0);
	ck_assert_int_eq(when, QT_T0 + 100);
	/* Never due for release by timer. */
	ck_assert_int_eq(queue_next_due(fx.q, &when), 1);
	ids = xcalloc(4, sizeof(*ids));
	ck_assert_int_eq(queue_expired_list(fx.q, QT_T0 + 99, 4, ids, &n), 0);
	ck_assert_uint_eq(n, 0);
	ck_assert_int_eq(queue_expired_list(fx.q, QT_T0 + 100, 4, ids, &n), 0);
	ck_assert_uint_eq(n, 1);
	ck_assert_str_eq(ids[0], id);
	free(ids);
}
END_TEST

/* ------------------------------------------------------------------ */
/* announcements (queue_observe)                                       */
/* ------------------------------------------------------------------ */

#define QT_MAXCH	32
static struct {
	int		 n;
	unsigned	 what[QT_MAXCH];
	int64_t		 due[QT_MAXCH];
	char		 id[QT_MAXCH][QUEUE_ID_LEN + 1];
	int		 done_before[QT_MAXCH];	/* completions run before */
} ch;

static void
queue_test_observer(const struct queue_change *c, void *arg)
{
	ck_assert_int_lt(ch.n, QT_MAXCH);
	ck_assert_ptr_eq(arg, &ch);
	ch.what[ch.n] = c->what;
	ch.due[ch.n] = (c->what & QUEUE_CH_DUE) ? c->due : -1;
	mh_strlcpy(ch.id[ch.n], c->id, sizeof(ch.id[0]));
	ch.done_before[ch.n] = done.n;
	ch.n++;
}

/* The last announcement is (what, due, id), made before its request's
 * own completion ran. */
static void
queue_test_announced(int n, unsigned what, int64_t due, const char *id)
{
	ck_assert_int_eq(ch.n, n);
	ck_assert_uint_eq(ch.what[n - 1], what);
	ck_assert_int_eq(ch.due[n - 1], due);
	ck_assert_str_eq(ch.id[n - 1], id);
	ck_assert_int_eq(ch.done_before[n - 1], done.n - 1);
}

START_TEST(queue_test_observe)
{
	char a[QUEUE_ID_LEN + 1], b[QUEUE_ID_LEN + 1], c[QUEUE_ID_LEN + 1];
	struct queue_msg_new *m;
	const int idx[2] = { 0, 1 };
	const int defer[2] = { QUEUE_RCPT_SENT, QUEUE_RCPT_PENDING };
	const int sent[1] = { QUEUE_RCPT_SENT };
	int64_t changed = -1, count = -1;
	int want;

	memset(&ch, 0, sizeof(ch));
	queue_observe(fx.q, queue_test_observer, &ch);

	/* A submit: inserted, due at its release_at. */
	ck_assert_int_eq(queue_test_put(QUEUE_HELD, QT_T0 + 500, a), 0);
	queue_test_announced(1, QUEUE_CH_STATE | QUEUE_CH_DUE, QT_T0 + 500,
	    a);
	/* With an alert due at once: the earlier of the two. */
	m = queue_test_msg(NULL, QUEUE_AWAITING_RELEASE, QT_T0 + 900, 1,
	    "x\r\n");
	m->alert = queue_test_msg(NULL, QUEUE_HELD, QT_T0 + 3, 1, "y\r\n");
	m->alert->flags |= QUEUE_F_NOTICE;
	queue_test_submit(m, b);
	queue_test_announced(2, QUEUE_CH_STATE | QUEUE_CH_DUE, QT_T0 + 3, b);

	/* State changes: due again at next_attempt; cancelled: no due. */
	ck_assert_int_eq(queue_test_state(a, QT_BIT(QUEUE_HELD), QUEUE_HELD,
	    QT_T0 + 7), 0);
	queue_test_announced(3, QUEUE_CH_STATE | QUEUE_CH_DUE, QT_T0 + 7, a);
	ck_assert_int_eq(queue_test_state(b, QT_BIT(QUEUE_AWAITING_RELEASE),
	    QUEUE_CANCELLED, -1), 0);
	queue_test_announced(4, QUEUE_CH_STATE, -1, b);
	/* Nothing changed (not in an allowed state): nothing announced. */
	ck_assert_int_eq(queue_test_state(b, QT_BIT(QUEUE_HELD),
	    QUEUE_CANCELLED, -1), 1);
	ck_assert_int_eq(ch.n, 4);

	/* The relay's part: released, then an attempt that delivered one
	 * recipient and deferred the other. */
	ck_assert_int_eq(queue_test_state(a, QT_BIT(QUEUE_HELD),
	    QUEUE_RELEASING, -1), 0);
	queue_test_announced(5, QUEUE_CH_STATE, -1, a);
	ck_assert_int_eq(queue_test_record(queue_test_attempt(a,
	    QUEUE_DEFERRED, QT_T0 + 600, "451 later", 2, idx, defer)), 0);
	queue_test_announced(6, QUEUE_CH_STATE | QUEUE_CH_UNRELEASED |
	    QUEUE_CH_DUE | QUEUE_CH_DELIVERED, QT_T0 + 600, a);
	/* A late result for a message no longer releasing: nothing. */
	ck_assert_int_eq(queue_test_record(queue_test_attempt(a, QUEUE_SENT,
	    0, NULL, 1, idx, sent)), 1);
	ck_assert_int_eq(ch.n, 6);
	/* Failed by the relay straight from releasing. */
	ck_assert_int_eq(queue_test_put(QUEUE_HELD, QT_T0, c), 0);
	ck_assert_int_eq(queue_test_state(c, QT_BIT(QUEUE_HELD),
	    QUEUE_RELEASING, -1), 0);
	ck_assert_int_eq(queue_test_state(c, QT_BIT(QUEUE_RELEASING),
	    QUEUE_FAILED, -1), 0);
	queue_test_announced(9, QUEUE_CH_STATE | QUEUE_CH_UNRELEASED, -1, c);

	/* hold set --reschedule that moved a message: look now. */
	ck_assert_int_eq(queue_test_put(QUEUE_HELD, mh_now() + 5000, NULL), 0);
	ck_assert_int_eq(ch.n, 10);
	want = done.n + 1;
	ck_assert_int_eq(queue_hold_set(fx.q, QUEUE_HOLD_DEFAULT, "", 60, 60,
	    "test", &changed, queue_test_cb, NULL), 0);
	queue_test_wait(want);
	ck_assert_int_eq(changed, 1);
	ck_assert_int_eq(ch.n, 11);
	ck_assert_uint_eq(ch.what[10], QUEUE_CH_DUE);
	ck_assert_int_ge(ch.due[10], QT_T0);
	ck_assert_int_le(ch.due[10], mh_now());
	ck_assert_str_eq(ch.id[10], "");
	/* One that moved nothing, and a purge: nothing. */
	want = done.n + 1;
	ck_assert_int_eq(queue_hold_set(fx.q, QUEUE_HOLD_USER, "nobody", 60,
	    60, "test", &changed, queue_test_cb, NULL), 0);
	queue_test_wait(want);
	ck_assert_int_eq(changed, 0);
	want = done.n + 1;
	ck_assert_int_eq(queue_purge(fx.q, INT64_MAX, 100, &count,
	    queue_test_cb, NULL), 0);
	queue_test_wait(want);
	ck_assert_int_eq(count, 2);
	ck_assert_int_eq(ch.n, 11);

	/* Unsubscribed: silence. */
	queue_observe(fx.q, NULL, NULL);
	ck_assert_int_eq(queue_test_put(QUEUE_HELD, QT_T0, NULL), 0);
	ck_assert_int_eq(ch.n, 11);
}
END_TEST

static Suite *
queue_test_suite(void)
{
	Suite *s = suite_create("queue");
	TCase *tc;

#define QT_N(a)	((int)(sizeof(a) / sizeof((a)[0])))
#define QT_TCASE(name) do {						\
	tc = tcase_create(name);					\
	tcase_add_checked_fixture(tc, queue_test_setup,			\
	    queue_test_teardown);					\
	tcase_set_timeout(tc, 60);					\
	suite_add_tcase(s, tc);						\
} while (0)

	tc = tcase_create("id_state");
	tcase_add_loop_test(tc, queue_test_id_ok, 0,
	    QT_N(queue_test_id_cases));
	tcase_add_test(tc, queue_test_id_new);
	tcase_add_test(tc, queue_test_state_names);
	suite_add_tcase(s, tc);

	QT_TCASE("open");
	tcase_add_test(tc, queue_test_open_new);
	tcase_add_test(tc, queue_test_open_tightens_mode);
	tcase_add_test(tc, queue_test_open_healthy);
	tcase_add_loop_test(tc, queue_test_space_ok, 0,
	    QT_N(queue_test_space_cases));
	tcase_add_test(tc, queue_test_space);
	tcase_add_loop_test(tc, queue_test_open_bad, 0,
	    QT_N(queue_test_open_bad_cases));

	QT_TCASE("submit");
	tcase_add_test(tc, queue_test_submit_memory);
	tcase_add_test(tc, queue_test_submit_file);
	tcase_add_test(tc, queue_test_submit_empty_body);
	tcase_add_loop_test(tc, queue_test_submit_bad, 0,
	    QT_N(queue_test_submit_bad_cases));

	QT_TCASE("body");
	tcase_add_loop_test(tc, queue_test_body_chunks, 0,
	    QT_N(queue_test_chunk_cases));
	tcase_add_test(tc, queue_test_body_reopen);
	tcase_add_test(tc, queue_test_body_snapshot);

	QT_TCASE("group_commit");
	tcase_add_test(tc, queue_test_group_commit);
	tcase_add_test(tc, queue_test_group_commit_one);
	tcase_add_test(tc, queue_test_wakeup);
	tcase_add_test(tc, queue_test_group_max);
	tcase_add_test(tc, queue_test_group_dup);
	tcase_add_test(tc, queue_test_group_commit_fails);
	tcase_add_test(tc, queue_test_disk_full);

	QT_TCASE("observe");
	tcase_add_test(tc, queue_test_observe);

	QT_TCASE("set_state");
	tcase_add_loop_test(tc, queue_test_set_state, 0,
	    QT_N(queue_test_state_cases));
	tcase_add_test(tc, queue_test_set_state_unknown);

	QT_TCASE("record_attempt");
	tcase_add_test(tc, queue_test_attempt_deferred_then_sent);
	tcase_add_test(tc, queue_test_history);
	tcase_add_test(tc, queue_test_history_flags);
	tcase_add_test(tc, queue_test_expiry);
	tcase_add_test(tc, queue_test_page_rows);
	tcase_add_test(tc, queue_test_notice_scrub);
	tcase_add_test(tc, queue_test_purge);
	tcase_add_loop_test(tc, queue_test_page_bad, 0,
	    (int)(sizeof(queue_test_page_bad_cases) /
	    sizeof(queue_test_page_bad_cases[0])));
	tcase_add_loop_test(tc, queue_test_attempt_nochange, 0,
	    QT_N(queue_test_attempt_nochange_cases));
	tcase_add_test(tc, queue_test_attempt_invalid);

	QT_TCASE("due");
	tcase_add_test(tc, queue_test_due);
	tcase_add_test(tc, queue_test_due_plan);

	QT_TCASE("recover");
	tcase_add_test(tc, queue_test_recover);

	QT_TCASE("durability");
	tcase_add_test(tc, queue_test_reopen_keeps_all);
	tcase_add_test(tc, queue_test_close_runs_completions);

	QT_TCASE("validate");
	tcase_add_loop_test(tc, queue_test_load_corrupt, 0,
	    QT_N(queue_test_corrupt_cases));
	tcase_add_test(tc, queue_test_corrupt_lists);
#undef QT_TCASE
#undef QT_N
	return s;
}

int
main(void)
{
	SRunner *sr;
	int failed;

	if (getenv("MH_TEST_VERBOSE") == NULL)
		log_setlevel(LOG_LVL_ERR);
	sr = srunner_create(queue_test_suite());
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
