/*
 * queue.c - the durable message queue on SQLite (see queue.h).
 *
 * Connections: the write connection belongs to the writer thread once
 * queue_open() has returned; the loop thread's short queries use one
 * read-only connection; each open body stream borrows a read-only
 * connection of its own from a small pool, because an open blob handle
 * keeps its connection's read snapshot (see queue_body_open()).
 * Loop <-> writer: requests go through q->pend under q->mtx, results come
 * back through q->done plus event_active(); nothing else is shared.
 */
#include "queue.h"
#include "queue_priv.h"

#include <sys/random.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/types.h>

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/event.h>
#include <sqlite3.h>

#include "log.h"
#include "policy.h"
#include "util.h"

#define QUEUE_ADDR_MAX		512	/* a recipient as stored, bounded */

#define QUEUE_GROUP_MAX_DEFAULT	256
#define QUEUE_GROUP_MAX_LIMIT	65536
#define QUEUE_CHUNK		(256 * 1024)	/* body write chunk */
#define QUEUE_BUSY_W_MS		5000	/* writer thread may wait */
#define QUEUE_BUSY_R_MS		500	/* the loop thread must not */
#define QUEUE_TEXT_MAX		4096	/* longest text column we store */
#define QUEUE_VERDICT_MAX	(64 * 1024)	/* the verdict JSON */
#define QUEUE_SUBJECT_MAX	1024	/* decoded Subject, octets */
#define QUEUE_FRCPTS_MAX	(64 * 1024)	/* a finding's recipients */
#define QUEUE_RCPTS_MAX		100000	/* sanity cap when loading */
#define QUEUE_BCONN_IDLE_MAX	4	/* idle body connections kept */
#define QUEUE_APP_ID		0x4d484c44	/* application_id "MHLD" */
#define QUEUE_SPACE_CACHE_MS	1000	/* statvfs at most this often */
#define QUEUE_FLAGS_ALL		(QUEUE_F_8BITMIME | QUEUE_F_SMTPUTF8 | \
				 QUEUE_F_NOTICE)

/*
 * Forward migrations: entry i takes user_version i to i + 1.  Never edit
 * an entry once released; append a new one.  States are stored by name
 * (readable in the sqlite3 shell and in audit rows) and have no CHECK
 * constraint, so adding a state needs no table rebuild; rows are validated
 * when read back instead.  bodies is a rowid table because incremental
 * blob I/O needs a rowid.
 */
static const char *const queue_migrations[] = {
	/* 1: the initial schema. */
	"CREATE TABLE messages ("
	"  id TEXT PRIMARY KEY NOT NULL,"
	"  state TEXT NOT NULL,"
	"  sender TEXT NOT NULL,"
	"  auth_user TEXT,"
	"  client_addr TEXT,"
	"  helo TEXT,"
	"  flags INTEGER NOT NULL DEFAULT 0,"
	"  size INTEGER NOT NULL,"
	"  received_at INTEGER NOT NULL,"
	"  release_at INTEGER NOT NULL,"
	"  next_attempt INTEGER NOT NULL,"
	"  attempts INTEGER NOT NULL DEFAULT 0,"
	"  last_error TEXT,"
	"  updated_at INTEGER NOT NULL"
	") WITHOUT ROWID;"
	"CREATE TABLE bodies ("
	"  msg_id TEXT PRIMARY KEY NOT NULL"
	"    REFERENCES messages(id) ON DELETE CASCADE,"
	"  data BLOB NOT NULL"
	");"
	"CREATE TABLE recipients ("
	"  msg_id TEXT NOT NULL REFERENCES messages(id) ON DELETE CASCADE,"
	"  idx INTEGER NOT NULL,"
	"  addr TEXT NOT NULL,"
	"  status INTEGER NOT NULL DEFAULT 0,"
	"  last_reply TEXT,"
	"  PRIMARY KEY (msg_id, idx)"
	") WITHOUT ROWID;"
	"CREATE TABLE audit ("
	"  id INTEGER PRIMARY KEY,"
	"  msg_id TEXT NOT NULL,"
	"  at INTEGER NOT NULL,"
	"  actor TEXT NOT NULL,"
	"  from_state TEXT,"
	"  to_state TEXT NOT NULL,"
	"  why TEXT"
	");"
	"CREATE INDEX messages_state ON messages(state, next_attempt);"
	/* The due queries repeat exactly this WHERE and say INDEXED BY (the
	 * planner, without ANALYZE statistics, prefers messages_state and
	 * then sorts every held row): they walk this index in order and
	 * stop at LIMIT.  The primary key id ends each entry, so the
	 * ORDER BY's tie-break needs no sort either. */
	"CREATE INDEX messages_due ON messages(next_attempt, received_at)"
	"  WHERE state IN ('held', 'deferred');"
	"CREATE INDEX audit_msg ON audit(msg_id, at);"
	"PRAGMA application_id = 1296583748;",	/* QUEUE_APP_ID */

	/* 2: the policy (issue 4).  verdict: the policy's JSON verdict;
	 * sender_key: the authenticated user, else the envelope sender,
	 * lowercased (whose history a message counts in); history: who each
	 * sender's mail was actually delivered to (grows on "sent", never
	 * on held or cancelled). */
	"ALTER TABLE messages ADD COLUMN verdict TEXT;"
	"ALTER TABLE messages ADD COLUMN sender_key TEXT NOT NULL DEFAULT '';"
	"UPDATE messages SET sender_key = lower(coalesce(auth_user, sender));"
	"CREATE INDEX messages_sender ON messages(sender_key, received_at);"
	"CREATE TABLE history ("
	"  sender_key TEXT NOT NULL,"
	"  addr TEXT NOT NULL,"
	"  domain TEXT NOT NULL,"
	"  first_at INTEGER NOT NULL,"
	"  last_at INTEGER NOT NULL,"
	"  count INTEGER NOT NULL,"
	"  PRIMARY KEY (sender_key, addr)"
	") WITHOUT ROWID;"
	"CREATE INDEX history_domain ON history(domain);",

	/* 3: the sender's alert and page (issue 5).  subject: decoded,
	 * for the page and mailholdctl; tokens: the page link (selector,
	 * SHA-256 of the secret, CSRF value), kept after the message
	 * leaves the queue so the page can say what became of it;
	 * findings: the enforced findings in the form the page shows
	 * (recipients LF-separated). */
	"ALTER TABLE messages ADD COLUMN subject TEXT;"
	"CREATE TABLE tokens ("
	"  selector TEXT PRIMARY KEY NOT NULL,"
	"  msg_id TEXT NOT NULL REFERENCES messages(id) ON DELETE CASCADE,"
	"  hash BLOB NOT NULL,"
	"  csrf BLOB NOT NULL,"
	"  created_at INTEGER NOT NULL"
	") WITHOUT ROWID;"
	"CREATE INDEX tokens_msg ON tokens(msg_id);"
	"CREATE TABLE findings ("
	"  msg_id TEXT NOT NULL REFERENCES messages(id) ON DELETE CASCADE,"
	"  idx INTEGER NOT NULL,"
	"  rule TEXT NOT NULL,"
	"  severity TEXT NOT NULL,"
	"  rcpts TEXT NOT NULL,"
	"  suggestion TEXT,"
	"  msg_en TEXT NOT NULL,"
	"  msg_ja TEXT NOT NULL,"
	"  PRIMARY KEY (msg_id, idx)"
	") WITHOUT ROWID;"
	/* Hold windows set at run time (mailholdctl hold set, issue 6):
	 * scope default (key ''), rule, user or domain; and who changed
	 * them (admin_audit: one row per change, old and new value). */
	"CREATE TABLE holds ("
	"  scope TEXT NOT NULL,"
	"  key TEXT NOT NULL,"
	"  hold INTEGER NOT NULL,"
	"  set_at INTEGER NOT NULL,"
	"  set_by TEXT NOT NULL,"
	"  PRIMARY KEY (scope, key)"
	") WITHOUT ROWID;"
	"CREATE TABLE admin_audit ("
	"  id INTEGER PRIMARY KEY,"
	"  at INTEGER NOT NULL,"
	"  actor TEXT NOT NULL,"
	"  what TEXT NOT NULL,"
	"  old TEXT,"
	"  new TEXT"
	");",
};
#define QUEUE_SCHEMA_VERSION \
	((int)(sizeof(queue_migrations) / sizeof(queue_migrations[0])))

_Static_assert(QUEUE_APP_ID == 1296583748, "application_id in migration 1");
_Static_assert(QUEUE_STATE_MAX == 6, "QUEUE_SQL_STATE_SET binds one "
    "parameter per state; update it and the state names");

enum queue_sql {
	/* write connection */
	QUEUE_SQL_BEGIN,
	QUEUE_SQL_COMMIT,
	QUEUE_SQL_ROLLBACK,
	QUEUE_SQL_SAVEPOINT,
	QUEUE_SQL_RELEASE,
	QUEUE_SQL_ROLLBACK_TO,
	QUEUE_SQL_MSG_INSERT,
	QUEUE_SQL_RCPT_INSERT,
	QUEUE_SQL_BODY_INSERT,
	QUEUE_SQL_AUDIT_INSERT,
	QUEUE_SQL_STATE_GET,
	QUEUE_SQL_STATE_SET,
	QUEUE_SQL_RCPT_UPDATE,
	QUEUE_SQL_ATTEMPT_UPDATE,
	QUEUE_SQL_RECOVER_AUDIT,
	QUEUE_SQL_RECOVER,
	QUEUE_SQL_HISTORY_ADD,
	QUEUE_SQL_RCPT_ADDR,
	QUEUE_SQL_TOKEN_INSERT,
	QUEUE_SQL_FINDING_INSERT,
	QUEUE_SQL_NOTICE_SCRUB,
	QUEUE_SQL_HOLD_GET,
	QUEUE_SQL_HOLD_PUT,
	QUEUE_SQL_HOLD_DEL,
	QUEUE_SQL_ADMIN_AUDIT,
	QUEUE_SQL_RESCHED_AUDIT,
	QUEUE_SQL_RESCHED,
	QUEUE_SQL_PURGE_AUDIT,
	QUEUE_SQL_PURGE,
	/* read connections */
	QUEUE_SQL_MSG_LOAD,
	QUEUE_SQL_RCPT_LOAD,
	QUEUE_SQL_DUE_LIST,
	QUEUE_SQL_NEXT_DUE,
	QUEUE_SQL_COUNT,
	QUEUE_SQL_BODY_LOOKUP,
	QUEUE_SQL_HISTORY_KNOWN,
	QUEUE_SQL_HISTORY_DOMAINS,
	QUEUE_SQL_RECENT,
	QUEUE_SQL_EXPIRED_LIST,
	QUEUE_SQL_NEXT_EXPIRY,
	QUEUE_SQL_LIST,
	QUEUE_SQL_AUDIT_LOAD,
	QUEUE_SQL_TOKEN_FIND,
	QUEUE_SQL_FINDINGS_LOAD,
	QUEUE_SQL_HOLDS_LOAD,
	QUEUE_SQL_OLDEST,
	QUEUE_SQL_SHIFT,
	QUEUE_SQL_MAX
};

static const char *const queue_sql_text[QUEUE_SQL_MAX] = {
	[QUEUE_SQL_BEGIN] = "BEGIN IMMEDIATE",
	[QUEUE_SQL_COMMIT] = "COMMIT",
	[QUEUE_SQL_ROLLBACK] = "ROLLBACK",
	[QUEUE_SQL_SAVEPOINT] = "SAVEPOINT req",
	[QUEUE_SQL_RELEASE] = "RELEASE req",
	[QUEUE_SQL_ROLLBACK_TO] = "ROLLBACK TO req",
	[QUEUE_SQL_MSG_INSERT] =
	    "INSERT INTO messages (id, state, sender, auth_user, client_addr,"
	    " helo, flags, size, received_at, release_at, next_attempt,"
	    " attempts, last_error, updated_at, verdict, sender_key, subject)"
	    " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?10, 0, NULL,"
	    " ?11, ?12, lower(coalesce(?4, ?3)), ?13)",
	[QUEUE_SQL_RCPT_INSERT] =
	    "INSERT INTO recipients (msg_id, idx, addr, status, last_reply)"
	    " VALUES (?1, ?2, ?3, 0, NULL)",
	[QUEUE_SQL_BODY_INSERT] =
	    "INSERT INTO bodies (msg_id, data) VALUES (?1, ?2)",
	[QUEUE_SQL_AUDIT_INSERT] =
	    "INSERT INTO audit (msg_id, at, actor, from_state, to_state, why)"
	    " VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
	[QUEUE_SQL_STATE_GET] = "SELECT state FROM messages WHERE id = ?1",
	[QUEUE_SQL_STATE_SET] =
	    "UPDATE messages SET state = ?2,"
	    " next_attempt = CASE WHEN ?3 >= 0 THEN ?3 ELSE next_attempt END,"
	    " updated_at = ?4"
	    " WHERE id = ?1 AND state IN (?5, ?6, ?7, ?8, ?9, ?10, ?11)",
	[QUEUE_SQL_RCPT_UPDATE] =
	    "UPDATE recipients SET status = ?3, last_reply = ?4"
	    " WHERE msg_id = ?1 AND idx = ?2",
	[QUEUE_SQL_ATTEMPT_UPDATE] =
	    "UPDATE messages SET state = ?2, attempts = attempts + 1,"
	    " next_attempt = CASE WHEN ?3 >= 0 THEN ?3 ELSE next_attempt END,"
	    " last_error = ?4, updated_at = ?5"
	    " WHERE id = ?1 AND state = 'releasing'",
	[QUEUE_SQL_RECOVER_AUDIT] =
	    "INSERT INTO audit (msg_id, at, actor, from_state, to_state, why)"
	    " SELECT id, ?1, 'recover', 'releasing', 'deferred',"
	    " 'restarted while releasing' FROM messages"
	    " WHERE state = 'releasing'",
	[QUEUE_SQL_RECOVER] =
	    "UPDATE messages SET state = 'deferred', next_attempt = ?1,"
	    " updated_at = ?1 WHERE state = 'releasing'",
	[QUEUE_SQL_TOKEN_INSERT] =
	    "INSERT INTO tokens (selector, msg_id, hash, csrf, created_at)"
	    " VALUES (?1, ?2, ?3, ?4, ?5)",
	[QUEUE_SQL_FINDING_INSERT] =
	    "INSERT INTO findings (msg_id, idx, rule, severity, rcpts,"
	    " suggestion, msg_en, msg_ja)"
	    " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
	/* A mail mailhold wrote (the alert carries the page's link) is
	 * zeroed in place once it has gone: same size, same pages, so the
	 * link leaves the database file at the next checkpoint. */
	[QUEUE_SQL_NOTICE_SCRUB] =
	    "UPDATE bodies SET data = zeroblob(length(data))"
	    " WHERE msg_id = ?1 AND EXISTS (SELECT 1 FROM messages"
	    " WHERE id = ?1 AND (flags & 4) != 0)",
	[QUEUE_SQL_HOLD_GET] =
	    "SELECT hold FROM holds WHERE scope = ?1 AND key = ?2",
	[QUEUE_SQL_HOLD_PUT] =
	    "INSERT INTO holds (scope, key, hold, set_at, set_by)"
	    " VALUES (?1, ?2, ?3, ?4, ?5) ON CONFLICT (scope, key) DO UPDATE"
	    " SET hold = excluded.hold, set_at = excluded.set_at,"
	    " set_by = excluded.set_by",
	[QUEUE_SQL_HOLD_DEL] =
	    "DELETE FROM holds WHERE scope = ?1 AND key = ?2",
	[QUEUE_SQL_ADMIN_AUDIT] =
	    "INSERT INTO admin_audit (at, actor, what, old, new)"
	    " VALUES (?1, ?2, ?3, ?4, ?5)",
	/* The held messages a hold change reaches (?1 scope, ?2 key;
	 * never mailhold's own mails, flag 4 = QUEUE_F_NOTICE, nor one
	 * already due, e.g. released by its sender a moment ago):
	 * every one for the default, the user's (sender_key), those with a
	 * recipient in the domain or below it, those with a finding of the
	 * rule.  Both statements repeat the same WHERE. */
	[QUEUE_SQL_RESCHED_AUDIT] =
	    "INSERT INTO audit (msg_id, at, actor, from_state, to_state, why)"
	    " SELECT id, ?3, ?4, 'held', 'held', ?5 FROM messages m"
	    " WHERE m.state = 'held' AND (m.flags & 4) = 0"
	    " AND m.next_attempt > ?3 AND (?1 = 'default'"
	    " OR (?1 = 'user' AND m.sender_key = ?2)"
	    " OR (?1 = 'domain' AND EXISTS (SELECT 1 FROM recipients r"
	    "  WHERE r.msg_id = m.id AND (lower(r.addr) LIKE '%@' || ?2"
	    "  OR lower(r.addr) LIKE '%.' || ?2)))"
	    " OR (?1 = 'rule' AND EXISTS (SELECT 1 FROM findings f"
	    "  WHERE f.msg_id = m.id AND f.rule = ?2)))",
	[QUEUE_SQL_RESCHED] =
	    "UPDATE messages SET next_attempt = received_at + ?6,"
	    " release_at = received_at + ?6, updated_at = ?3"
	    " WHERE state = 'held' AND (flags & 4) = 0"
	    " AND next_attempt > ?3 AND (?1 = 'default'"
	    " OR (?1 = 'user' AND sender_key = ?2)"
	    " OR (?1 = 'domain' AND EXISTS (SELECT 1 FROM recipients r"
	    "  WHERE r.msg_id = messages.id AND (lower(r.addr) LIKE '%@' || ?2"
	    "  OR lower(r.addr) LIKE '%.' || ?2)))"
	    " OR (?1 = 'rule' AND EXISTS (SELECT 1 FROM findings f"
	    "  WHERE f.msg_id = messages.id AND f.rule = ?2)))",
	/* A wall clock step (scheduler.c): the waiting messages' times,
	 * read from the clock before the step (updated_at up to ?2), move
	 * with it, so their holds last as set in real time. */
	[QUEUE_SQL_SHIFT] =
	    "UPDATE messages SET received_at = max(received_at + ?1, 1),"
	    " release_at = max(release_at + ?1, 0),"
	    " next_attempt = max(next_attempt + ?1, 0),"
	    " updated_at = max(updated_at + ?1, 0)"
	    " WHERE state IN ('held', 'awaiting_release', 'deferred')"
	    " AND updated_at <= ?2",
	[QUEUE_SQL_OLDEST] =
	    "SELECT min(received_at) FROM messages WHERE state IN"
	    " ('held', 'awaiting_release', 'deferred', 'releasing')",
	/* Retention: messages in a final state, last changed before ?1,
	 * oldest first, at most ?2 per transaction.  Bodies, recipients,
	 * tokens and findings go with them (ON DELETE CASCADE); audit rows
	 * have no foreign key and are deleted first, with the same list. */
	[QUEUE_SQL_PURGE_AUDIT] =
	    "DELETE FROM audit WHERE msg_id IN (SELECT id FROM messages"
	    " WHERE state IN ('sent', 'failed', 'cancelled')"
	    " AND updated_at < ?1 ORDER BY updated_at, id LIMIT ?2)",
	[QUEUE_SQL_PURGE] =
	    "DELETE FROM messages WHERE id IN (SELECT id FROM messages"
	    " WHERE state IN ('sent', 'failed', 'cancelled')"
	    " AND updated_at < ?1 ORDER BY updated_at, id LIMIT ?2)",
	[QUEUE_SQL_HOLDS_LOAD] =
	    "SELECT scope, key, hold, set_at, set_by FROM holds"
	    " ORDER BY scope, key LIMIT ?1",
	[QUEUE_SQL_TOKEN_FIND] =
	    "SELECT msg_id, hash, csrf, created_at FROM tokens"
	    " WHERE selector = ?1",
	[QUEUE_SQL_FINDINGS_LOAD] =
	    "SELECT idx, rule, severity, rcpts, suggestion, msg_en, msg_ja"
	    " FROM findings WHERE msg_id = ?1 ORDER BY idx LIMIT ?2",
	[QUEUE_SQL_RCPT_ADDR] =
	    "SELECT addr FROM recipients WHERE msg_id = ?1 AND idx = ?2",
	[QUEUE_SQL_HISTORY_ADD] =
	    "INSERT INTO history (sender_key, addr, domain, first_at, last_at,"
	    " count) SELECT sender_key, ?2, ?3, ?4, ?4, 1 FROM messages"
	    " WHERE id = ?1"
	    " ON CONFLICT (sender_key, addr) DO UPDATE SET"
	    " last_at = excluded.last_at, count = count + 1",
	[QUEUE_SQL_MSG_LOAD] =
	    "SELECT m.id, m.state, m.sender, m.auth_user, m.client_addr,"
	    " m.helo, m.flags, m.size, m.received_at, m.release_at,"
	    " m.next_attempt, m.attempts, m.last_error, length(b.data),"
	    " m.verdict, m.subject, m.updated_at"
	    " FROM messages m LEFT JOIN bodies b ON b.msg_id = m.id"
	    " WHERE m.id = ?1",
	[QUEUE_SQL_RCPT_LOAD] =
	    "SELECT idx, addr, status, last_reply FROM recipients"
	    " WHERE msg_id = ?1 ORDER BY idx",
	[QUEUE_SQL_DUE_LIST] =
	    "SELECT id FROM messages INDEXED BY messages_due"
	    " WHERE state IN ('held', 'deferred') AND next_attempt <= ?1"
	    " ORDER BY next_attempt, received_at, id LIMIT ?2",
	[QUEUE_SQL_NEXT_DUE] =
	    "SELECT next_attempt FROM messages INDEXED BY messages_due"
	    " WHERE state IN ('held', 'deferred')"
	    " ORDER BY next_attempt LIMIT 1",
	[QUEUE_SQL_COUNT] =
	    "SELECT state, count(*) FROM messages GROUP BY state",
	[QUEUE_SQL_BODY_LOOKUP] =
	    "SELECT b.rowid, m.size FROM bodies b"
	    " JOIN messages m ON m.id = b.msg_id WHERE b.msg_id = ?1",
	[QUEUE_SQL_HISTORY_KNOWN] =
	    "SELECT 1 FROM history WHERE sender_key = ?1 AND addr = ?2",
	[QUEUE_SQL_HISTORY_DOMAINS] =
	    "SELECT DISTINCT domain FROM history ORDER BY domain LIMIT ?1",
	/* The sender's recent submissions, newest first, one row per
	 * recipient.  Per message (worked out once, for at most as many
	 * messages as rows are wanted): the rules of its enforced
	 * findings, and whether it was released (by a person: from
	 * awaiting_release back to held; or it left after its hold).  Per
	 * recipient: whether the sender's mail had been delivered to it
	 * before the message came in (history.first_at). */
	[QUEUE_SQL_RECENT] =
	    "WITH m AS MATERIALIZED (SELECT s.id, s.received_at,"
	    " (SELECT group_concat(f.rule, ',') FROM findings f"
	    "  WHERE f.msg_id = s.id) AS rules,"
	    " (s.state IN ('releasing', 'deferred', 'sent', 'failed')"
	    "  OR EXISTS (SELECT 1 FROM audit a WHERE a.msg_id = s.id"
	    "  AND a.from_state = 'awaiting_release'"
	    "  AND a.to_state = 'held')) AS released"
	    " FROM messages s WHERE s.sender_key = ?1 AND s.received_at >= ?2"
	    " ORDER BY s.received_at DESC, s.id LIMIT ?3)"
	    " SELECT m.id, m.received_at, r.addr, m.rules, m.released,"
	    " EXISTS (SELECT 1 FROM history h WHERE h.sender_key = ?1"
	    "  AND h.addr = lower(r.addr) AND h.first_at < m.received_at)"
	    " FROM m JOIN recipients r ON r.msg_id = m.id"
	    " ORDER BY m.received_at DESC, m.id, r.idx LIMIT ?3",
	[QUEUE_SQL_EXPIRED_LIST] =
	    "SELECT id FROM messages WHERE state = 'awaiting_release'"
	    " AND next_attempt <= ?1 ORDER BY next_attempt LIMIT ?2",
	[QUEUE_SQL_NEXT_EXPIRY] =
	    "SELECT next_attempt FROM messages"
	    " WHERE state = 'awaiting_release' ORDER BY next_attempt LIMIT 1",
	[QUEUE_SQL_LIST] =
	    "SELECT m.id, m.state, m.sender, m.auth_user, m.received_at,"
	    " m.release_at, m.next_attempt, m.verdict,"
	    " (SELECT count(*) FROM recipients r WHERE r.msg_id = m.id),"
	    " m.subject"
	    " FROM messages m"
	    " WHERE m.state IN (?1, ?2, ?3, ?4, ?5, ?6, ?7)"
	    " AND (?8 IS NULL OR m.sender_key = ?8)"
	    " ORDER BY m.received_at, m.id LIMIT ?9",
	[QUEUE_SQL_AUDIT_LOAD] =
	    "SELECT at, actor, from_state, to_state, why FROM audit"
	    " WHERE msg_id = ?1 ORDER BY at, id LIMIT ?2",
};

static const char *const queue_state_names[QUEUE_STATE_MAX + 1] = {
	[QUEUE_HELD] = "held",
	[QUEUE_AWAITING_RELEASE] = "awaiting_release",
	[QUEUE_RELEASING] = "releasing",
	[QUEUE_DEFERRED] = "deferred",
	[QUEUE_SENT] = "sent",
	[QUEUE_FAILED] = "failed",
	[QUEUE_CANCELLED] = "cancelled",
};

/* A connection and its cached statements (prepared on first use). */
struct queue_conn {
	sqlite3		*db;
	sqlite3_stmt	*st[QUEUE_SQL_MAX];
};

/* A pooled read-only connection for one body stream. */
struct queue_bconn {
	struct queue_bconn	*next;
	struct queue_conn	 c;
};

enum queue_req_type {
	QUEUE_REQ_SUBMIT,
	QUEUE_REQ_STATE,
	QUEUE_REQ_ATTEMPT,
	QUEUE_REQ_RECOVER,
	QUEUE_REQ_HOLD,
	QUEUE_REQ_PURGE,
	QUEUE_REQ_SHIFT,
};

/*
 * One write request.  Owned by the loop until queued, by the writer from
 * then until it is on q->done (the writer frees the payload), then by the
 * loop again.  A RECOVER request is synchronous: it never goes on q->done;
 * the writer sets finished and signals q->sync_cond instead.
 */
struct queue_req {
	struct queue_req	*next;
	enum queue_req_type	 type;
	int			 result;	/* 0, 1 (no change) or -1 */
	bool			 final;		/* writer: result settled */
	/* The wall clock when it was queued, on the loop: the writer
	 * stamps updated_at (and history) with it, so that every time one
	 * request writes comes from the same side of a clock step as the
	 * times the loop put in it (a shift moves them together). */
	int64_t			 now;
	queue_done_cb		*cb;
	void			*arg;
	char			 id[QUEUE_ID_LEN + 1];
	/* What a commit of this request changes, announced to the
	 * observer on result 0: set when queued, completed by the writer
	 * (which alone knows the state it found). */
	unsigned		 ch_what;	/* QUEUE_CH_* */
	int64_t			 ch_due;
	union {
		struct queue_msg_new	*msg;
		struct {
			unsigned	 mask;
			int		 to;
			int64_t		 next_attempt;
			char		*actor;
			char		*why;
		} st;
		struct queue_attempt	*att;
		struct {
			int64_t		 now;
			int		 count;
			bool		 finished;
		} rec;
		struct {
			int64_t		 before;
			int64_t		 max;
			int64_t		*count;
		} purge;
		struct {
			int64_t		 delta;
			int64_t		 old_end;
			int64_t		*count;
		} shift;
		struct {
			int		 scope;
			char		*key;
			int64_t		 hold;
			int64_t		 resched;
			char		*actor;
			int64_t		*changed;
		} hold;
	} u;
};

struct queue {
	struct event_base	*base;
	char			*path;
	size_t			 group_max;

	/* loop thread only */
	struct queue_conn	 r;
	struct queue_bconn	*bidle;
	size_t			 nbidle;
	size_t			 nbodies;	/* open queue_body handles */
	struct event		*ev_done;
	bool			 closing;
	queue_observer_cb	*observer;
	void			*observer_arg;
	int64_t			 space_at;	/* mono ms of the last statvfs */
	uint64_t		 space_avail;	/* its answer, octets */
	int64_t			 space_fail_at;	/* mono ms, last failure logged */

	/* writer thread only (the loop before the thread starts) */
	struct queue_conn	 w;
	struct queue_req	**batch;	/* group_max slots */
	char			*wbuf;		/* QUEUE_CHUNK for pread */
	long			 max_pages_set;

	/* shared, under mtx */
	pthread_mutex_t		 mtx;
	pthread_cond_t		 cond;		/* writer: work or stop */
	pthread_cond_t		 sync_cond;	/* loop: sync request done */
	struct queue_req	*pend, **pend_tail;
	struct queue_req	*done, **done_tail;
	bool			 stopping;
	bool			 paused;		/* tests only */
	uint64_t		 commits;
	int			 fail_commits;
	long			 max_pages;

	pthread_t		 thread;
	bool			 sync_init;
	bool			 thread_started;
};

struct queue_body {
	struct queue		*q;
	struct queue_bconn	*bc;
	sqlite3_blob		*blob;
	char			 id[QUEUE_ID_LEN + 1];
	size_t			 size;
	size_t			 off;
};

static void	queue_err(char *, size_t, const char *, ...) MH_PRINTF(3, 4);

/* ------------------------------------------------------------------ */
/* Small helpers                                                       */
/* ------------------------------------------------------------------ */

const char *
queue_state_to_str(enum queue_state s)
{
	if ((int)s < 0 || s > QUEUE_STATE_MAX)
		return "invalid";
	return queue_state_names[s];
}

int
queue_state_parse(const char *s)
{
	int i;

	if (s == NULL)
		return -1;
	for (i = 0; i <= QUEUE_STATE_MAX; i++)
		if (strcmp(s, queue_state_names[i]) == 0)
			return i;
	return -1;
}

void
queue_id_new(char buf[QUEUE_ID_LEN + 1])
{
	static const char hex[] = "0123456789abcdef";
	unsigned char rnd[QUEUE_ID_LEN / 2];
	size_t got = 0, i;
	ssize_t n;

	while (got < sizeof(rnd)) {
		n = getrandom(rnd + got, sizeof(rnd) - got, 0);
		if (n == -1) {
			if (errno == EINTR)
				continue;
			/* Linux >= 3.17 always has it; nothing to fall
			 * back to that would be as good. */
			fatal("getrandom");
		}
		got += (size_t)n;
	}
	for (i = 0; i < sizeof(rnd); i++) {
		buf[2 * i] = hex[rnd[i] >> 4];
		buf[2 * i + 1] = hex[rnd[i] & 0x0f];
	}
	buf[QUEUE_ID_LEN] = '\0';
}

bool
queue_id_ok(const char *s)
{
	size_t i;

	if (s == NULL)
		return false;
	for (i = 0; i < QUEUE_ID_LEN; i++)
		if (!((s[i] >= '0' && s[i] <= '9') ||
		    (s[i] >= 'a' && s[i] <= 'f')))
			return false;
	return s[QUEUE_ID_LEN] == '\0';
}

static void
queue_err(char *errbuf, size_t errsz, const char *fmt, ...)
{
	va_list ap;

	if (errbuf == NULL || errsz == 0)
		return;
	va_start(ap, fmt);
	/* A truncated message is still worth having. */
	(void)mh_vsnprintf(errbuf, errsz, fmt, ap);
	va_end(ap);
}

static void
queue_log_sqlerr(sqlite3 *db, const char *op, const char *id)
{
	char esc[256];
	const char *msg = sqlite3_errmsg(db);

	log_warnx("event=queue_error op=%s id=%s err=\"%s\"", op,
	    id != NULL && *id != '\0' ? id : "-",
	    mh_log_escape(msg, strlen(msg), 200, esc, sizeof(esc)));
}

static bool
queue_text_ok(const char *s, bool nullable)
{
	if (s == NULL)
		return nullable;
	return strlen(s) <= QUEUE_TEXT_MAX;
}

/* Binds a text that may be NULL, cut to max bytes (validation refuses
 * longer input first; this is the last guard). */
static int
queue_bind_text_max(sqlite3_stmt *st, int i, const char *s, size_t max)
{
	size_t len;

	if (s == NULL)
		return sqlite3_bind_null(st, i);
	len = strlen(s);
	if (len > max)
		len = max;
	return sqlite3_bind_text(st, i, s, (int)len, SQLITE_STATIC);
}

static int
queue_bind_text(sqlite3_stmt *st, int i, const char *s)
{
	return queue_bind_text_max(st, i, s, QUEUE_TEXT_MAX);
}

static sqlite3_stmt *
queue_stmt(struct queue_conn *c, enum queue_sql which)
{
	int rc;

	if (c->st[which] != NULL)
		return c->st[which];
	rc = sqlite3_prepare_v3(c->db, queue_sql_text[which], -1,
	    SQLITE_PREPARE_PERSISTENT, &c->st[which], NULL);
	if (rc != SQLITE_OK) {
		queue_log_sqlerr(c->db, "prepare", NULL);
		c->st[which] = NULL;
		return NULL;
	}
	return c->st[which];
}

/* Resets a statement so it holds no read snapshot, and drops bindings
 * that may point at memory about to be freed. */
static void
queue_stmt_done(sqlite3_stmt *st)
{
	if (st == NULL)
		return;
	sqlite3_reset(st);
	sqlite3_clear_bindings(st);
}

/* Steps a statement that returns no row; logs and resets it. */
static int
queue_stmt_exec(struct queue_conn *c, sqlite3_stmt *st, const char *op,
    const char *id)
{
	int rc;

	rc = sqlite3_step(st);
	if (rc != SQLITE_DONE && rc != SQLITE_ROW) {
		queue_log_sqlerr(c->db, op, id);
		queue_stmt_done(st);
		return -1;
	}
	queue_stmt_done(st);
	return 0;
}

static int
queue_sql_run(struct queue_conn *c, enum queue_sql which, const char *op,
    const char *id)
{
	sqlite3_stmt *st;

	if ((st = queue_stmt(c, which)) == NULL)
		return -1;
	return queue_stmt_exec(c, st, op, id);
}

static void
queue_conn_close(struct queue_conn *c)
{
	int i;

	for (i = 0; i < QUEUE_SQL_MAX; i++) {
		sqlite3_finalize(c->st[i]);
		c->st[i] = NULL;
	}
	if (c->db != NULL && sqlite3_close(c->db) != SQLITE_OK)
		queue_log_sqlerr(c->db, "close", NULL);
	c->db = NULL;
}

/* ------------------------------------------------------------------ */
/* Frees                                                               */
/* ------------------------------------------------------------------ */

void
queue_msg_new_free(struct queue_msg_new *m)
{
	size_t i;

	if (m == NULL)
		return;
	free(m->sender);
	if (m->rcpts != NULL)
		for (i = 0; i < m->nrcpts; i++)
			free(m->rcpts[i]);
	free(m->rcpts);
	free(m->auth_user);
	free(m->client_addr);
	free(m->helo);
	free(m->verdict);
	free(m->subject);
	queue_findings_free(m->findings, m->nfindings);
	free(m->token);
	queue_msg_new_free(m->alert);
	free(m->body);
	if (m->body_fd >= 0)
		close(m->body_fd);
	free(m);
}

void
queue_findings_free(struct queue_finding *v, size_t n)
{
	size_t i, j;

	if (v == NULL)
		return;
	for (i = 0; i < n; i++) {
		free(v[i].rule);
		free(v[i].severity);
		if (v[i].rcpts != NULL)
			for (j = 0; j < v[i].nrcpts; j++)
				free(v[i].rcpts[j]);
		free(v[i].rcpts);
		free(v[i].suggestion);
		free(v[i].msg_en);
		free(v[i].msg_ja);
	}
	free(v);
}

void
queue_msg_free(struct queue_msg *m)
{
	size_t i;

	if (m == NULL)
		return;
	free(m->sender);
	free(m->auth_user);
	free(m->client_addr);
	free(m->helo);
	free(m->last_error);
	free(m->verdict);
	free(m->subject);
	if (m->rcpts != NULL)
		for (i = 0; i < m->nrcpts; i++) {
			free(m->rcpts[i].addr);
			free(m->rcpts[i].last_reply);
		}
	free(m->rcpts);
	free(m);
}

void
queue_attempt_free(struct queue_attempt *a)
{
	size_t i;

	if (a == NULL)
		return;
	free(a->last_error);
	if (a->rcpts != NULL)
		for (i = 0; i < a->nrcpts; i++)
			free(a->rcpts[i].reply);
	free(a->rcpts);
	free(a);
}

static void
queue_req_payload_free(struct queue_req *r)
{
	switch (r->type) {
	case QUEUE_REQ_SUBMIT:
		queue_msg_new_free(r->u.msg);
		r->u.msg = NULL;
		break;
	case QUEUE_REQ_STATE:
		free(r->u.st.actor);
		free(r->u.st.why);
		r->u.st.actor = r->u.st.why = NULL;
		break;
	case QUEUE_REQ_ATTEMPT:
		queue_attempt_free(r->u.att);
		r->u.att = NULL;
		break;
	case QUEUE_REQ_RECOVER:
		break;
	case QUEUE_REQ_PURGE:
	case QUEUE_REQ_SHIFT:
		break;
	case QUEUE_REQ_HOLD:
		free(r->u.hold.key);
		free(r->u.hold.actor);
		r->u.hold.key = r->u.hold.actor = NULL;
		break;
	}
}

/* ------------------------------------------------------------------ */
/* Opening and migrating                                               */
/* ------------------------------------------------------------------ */

static int	queue_db_open(const char *, bool, int, sqlite3 **, char *,
		    size_t);
static int	queue_db_get(sqlite3 *, const char *, int64_t *, char *,
		    size_t);

/* sqlite3_progress_handler(): non-zero stops the statement (SQLITE_INTERRUPT)
 * once the monotonic deadline has passed. */
static int
queue_check_progress(void *arg)
{
	return mh_mono_ms() > *(const int64_t *)arg;
}

/*
 * PRAGMA quick_check on the read-only connection, stopped after check_ms
 * (0: not run).  quick_check reads every page once (O(size), about a
 * second per GB from the page cache, more from a cold disk), so a big
 * queue gets a partial check and a warning rather than minutes of delay;
 * quick_check(10) bounds the report.  -1 with errbuf when a page is
 * damaged.
 */
static int
queue_quick_check(sqlite3 *db, const char *path, int64_t check_ms,
    char *errbuf, size_t errsz)
{
	sqlite3_stmt *st;
	const unsigned char *t;
	char esc[256];
	int64_t start, deadline;
	int rc;

	if (check_ms <= 0)
		return 0;
	start = mh_mono_ms();
	deadline = start + check_ms;
	sqlite3_progress_handler(db, 10000, queue_check_progress, &deadline);
	if (sqlite3_prepare_v2(db, "PRAGMA quick_check(10)", -1, &st, NULL) !=
	    SQLITE_OK) {
		queue_err(errbuf, errsz, "%s: the database is damaged (%s); "
		    "restore it from a backup", path, sqlite3_errmsg(db));
		sqlite3_progress_handler(db, 0, NULL, NULL);
		return -1;
	}
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		t = sqlite3_column_text(st, 0);
		if (t == NULL || strcmp((const char *)t, "ok") != 0) {
			queue_err(errbuf, errsz, "%s: the database is damaged "
			    "(quick_check: %s); restore it from a backup",
			    path, mh_log_escape(t != NULL ? (const char *)t :
			    "", t != NULL ? strlen((const char *)t) : 0, 200,
			    esc, sizeof(esc)));
			rc = -1;
		} else
			rc = 0;
	} else if (rc == SQLITE_INTERRUPT) {
		log_warnx("event=queue_check path=%s result=unfinished "
		    "ms=%lld note=\"queue.startup_check ran out; the rest of "
		    "the file was not checked\"", path, (long long)check_ms);
		rc = 0;
	} else {
		queue_err(errbuf, errsz, "%s: the database is damaged (%s); "
		    "restore it from a backup", path, sqlite3_errmsg(db));
		rc = -1;
	}
	sqlite3_finalize(st);
	sqlite3_progress_handler(db, 0, NULL, NULL);
	if (rc == 0)
		log_info("event=queue_check path=%s result=ok ms=%lld", path,
		    (long long)(mh_mono_ms() - start));
	return rc;
}

/*
 * Is an existing, non-empty file at path a mailhold queue in good health?
 * Asked on a read-only connection, before anything is changed: a foreign
 * or damaged file is refused as it is (no chmod, no journal mode, no
 * migration).  A read-only connection never writes the database file;
 * for a file already in WAL mode SQLite may create its -wal and -shm.
 * An SQLite file with no schema at all is accepted as new.
 */
static int
queue_file_verify(const char *path, int64_t check_ms, char *errbuf,
    size_t errsz)
{
	sqlite3 *db;
	int64_t ver, appid, nobj;
	char err[256];
	int rc = -1;

	if (queue_db_open(path, true, QUEUE_BUSY_W_MS, &db, err,
	    sizeof(err)) == -1) {
		queue_err(errbuf, errsz, "cannot read it: %s", err);
		return -1;
	}
	if (queue_db_get(db, "PRAGMA user_version", &ver, NULL, 0) == -1 ||
	    queue_db_get(db, "PRAGMA application_id", &appid, NULL, 0) ==
	    -1 || queue_db_get(db, "SELECT count(*) FROM sqlite_master",
	    &nobj, NULL, 0) == -1) {
		queue_err(errbuf, errsz, "%s: not a readable SQLite database "
		    "(%s): damaged, truncated or not a queue; left as it is",
		    path, sqlite3_errmsg(db));
		goto done;
	}
	if (ver == 0 && nobj == 0) {
		rc = 0;		/* an empty database: ours to set up */
		goto done;
	}
	if (appid != QUEUE_APP_ID || ver <= 0) {
		queue_err(errbuf, errsz, "%s: not a mailhold queue database "
		    "(user_version %lld, application_id %lld); left as it is: "
		    "check queue.path", path, (long long)ver,
		    (long long)appid);
		goto done;
	}
	if (ver > QUEUE_SCHEMA_VERSION) {
		queue_err(errbuf, errsz, "%s: schema version %lld is not one "
		    "this mailhold knows (up to %d): made by a newer mailhold; "
		    "left as it is", path, (long long)ver,
		    QUEUE_SCHEMA_VERSION);
		goto done;
	}
	rc = queue_quick_check(db, path, check_ms, errbuf, errsz);
done:
	sqlite3_close(db);
	return rc;
}

/*
 * Creates the file 0600 before SQLite sees it (SQLite gives the -wal and
 * -shm files the database file's mode).  An existing file is verified
 * first (queue_file_verify()); only a file that is a healthy queue is
 * tightened when it is readable by others: it holds whole messages.  Not
 * umask(2), which is process-wide and would race with other threads.
 */
static int
queue_file_prepare(const char *path, int64_t check_ms, char *errbuf,
    size_t errsz)
{
	struct stat sb;
	int fd;

	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	if (fd == -1 && errno == ENOENT)
		fd = open(path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC |
		    O_NOCTTY, 0600);
	if (fd == -1) {
		queue_err(errbuf, errsz, "%s: %s", path, strerror(errno));
		return -1;
	}
	if (fstat(fd, &sb) == -1) {
		queue_err(errbuf, errsz, "%s: fstat: %s", path,
		    strerror(errno));
		close(fd);
		return -1;
	}
	if (!S_ISREG(sb.st_mode)) {
		queue_err(errbuf, errsz, "%s: not a regular file", path);
		close(fd);
		return -1;
	}
	if (sb.st_size > 0 && queue_file_verify(path, check_ms, errbuf,
	    errsz) == -1) {
		close(fd);
		return -1;
	}
	if ((sb.st_mode & 077) != 0) {
		log_warnx("event=queue_chmod path=%s mode=%03o new=600", path,
		    (unsigned)(sb.st_mode & 0777));
		if (fchmod(fd, 0600) == -1) {
			queue_err(errbuf, errsz, "%s: fchmod: %s", path,
			    strerror(errno));
			close(fd);
			return -1;
		}
	}
	close(fd);
	return 0;
}

static int
queue_db_open(const char *path, bool ro, int busy_ms, sqlite3 **dbp,
    char *errbuf, size_t errsz)
{
	int flags, rc;

	/* NOMUTEX: each connection is used by one thread at a time. */
	flags = SQLITE_OPEN_NOMUTEX |
	    (ro ? SQLITE_OPEN_READONLY : SQLITE_OPEN_READWRITE);
	*dbp = NULL;
	rc = sqlite3_open_v2(path, dbp, flags, NULL);
	if (rc != SQLITE_OK) {
		queue_err(errbuf, errsz, "%s: %s", path, *dbp != NULL ?
		    sqlite3_errmsg(*dbp) : sqlite3_errstr(rc));
		sqlite3_close(*dbp);
		*dbp = NULL;
		return -1;
	}
	sqlite3_extended_result_codes(*dbp, 1);
	sqlite3_busy_timeout(*dbp, busy_ms);
	return 0;
}

/* Runs a statement that returns one row, first column as integer or as
 * text (when txt != NULL). */
static int
queue_db_get(sqlite3 *db, const char *sql, int64_t *v, char *txt,
    size_t txtsz)
{
	sqlite3_stmt *st;
	const unsigned char *t;
	int rc;

	if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK)
		return -1;
	rc = sqlite3_step(st);
	if (rc != SQLITE_ROW) {
		sqlite3_finalize(st);
		return -1;
	}
	if (v != NULL)
		*v = sqlite3_column_int64(st, 0);
	if (txt != NULL) {
		t = sqlite3_column_text(st, 0);
		mh_strlcpy(txt, t != NULL ? (const char *)t : "", txtsz);
	}
	sqlite3_finalize(st);
	return 0;
}

#define QUEUE_WAL_LIMIT	"16777216"	/* octets: the WAL file, at rest */

static int
queue_db_setup_write(sqlite3 *db, char *errbuf, size_t errsz)
{
	char mode[16];
	int64_t fk;

	if (queue_db_get(db, "PRAGMA journal_mode = WAL", NULL, mode,
	    sizeof(mode)) == -1 || strcmp(mode, "wal") != 0) {
		queue_err(errbuf, errsz, "cannot enable WAL mode: %s",
		    sqlite3_errmsg(db));
		return -1;
	}
	/* journal_size_limit: once a checkpoint has reset the WAL, its
	 * file is cut back to this size (without it, the file keeps the
	 * largest size a busy spell ever gave it). */
	if (sqlite3_exec(db, "PRAGMA synchronous = FULL;"
	    "PRAGMA foreign_keys = ON;"
	    "PRAGMA journal_size_limit = " QUEUE_WAL_LIMIT ";", NULL, NULL,
	    NULL) != SQLITE_OK ||
	    queue_db_get(db, "PRAGMA foreign_keys", &fk, NULL, 0) == -1 ||
	    fk != 1) {
		queue_err(errbuf, errsz, "cannot set pragmas: %s",
		    sqlite3_errmsg(db));
		return -1;
	}
	return 0;
}

/*
 * Brings the schema to QUEUE_SCHEMA_VERSION in one transaction.  The
 * version is read inside BEGIN IMMEDIATE so that two processes opening
 * the same new file cannot both create the schema.
 */
static int
queue_migrate(sqlite3 *db, char *errbuf, size_t errsz)
{
	char sql[64];
	int64_t ver, appid, nobj;
	int v;

	if (sqlite3_exec(db, "BEGIN IMMEDIATE", NULL, NULL, NULL) !=
	    SQLITE_OK) {
		queue_err(errbuf, errsz, "begin: %s", sqlite3_errmsg(db));
		return -1;
	}
	if (queue_db_get(db, "PRAGMA user_version", &ver, NULL, 0) == -1 ||
	    queue_db_get(db, "PRAGMA application_id", &appid, NULL, 0) ==
	    -1 || queue_db_get(db, "SELECT count(*) FROM sqlite_master",
	    &nobj, NULL, 0) == -1) {
		queue_err(errbuf, errsz, "reading schema version: %s",
		    sqlite3_errmsg(db));
		goto fail;
	}
	if ((ver == 0 && nobj != 0) || (ver != 0 && appid != QUEUE_APP_ID)) {
		queue_err(errbuf, errsz, "not a mailhold queue database "
		    "(user_version %lld, application_id %lld)",
		    (long long)ver, (long long)appid);
		goto fail;
	}
	if (ver < 0 || ver > QUEUE_SCHEMA_VERSION) {
		queue_err(errbuf, errsz, "schema version %lld is not one "
		    "this mailhold knows (up to %d)", (long long)ver,
		    QUEUE_SCHEMA_VERSION);
		goto fail;
	}
	for (v = (int)ver; v < QUEUE_SCHEMA_VERSION; v++) {
		if (sqlite3_exec(db, queue_migrations[v], NULL, NULL, NULL) !=
		    SQLITE_OK) {
			queue_err(errbuf, errsz, "migration to %d: %s", v + 1,
			    sqlite3_errmsg(db));
			goto fail;
		}
		if (mh_snprintf(sql, sizeof(sql), "PRAGMA user_version = %d",
		    v + 1) == -1 ||
		    sqlite3_exec(db, sql, NULL, NULL, NULL) != SQLITE_OK) {
			queue_err(errbuf, errsz, "setting version %d: %s",
			    v + 1, sqlite3_errmsg(db));
			goto fail;
		}
	}
	if (sqlite3_exec(db, "COMMIT", NULL, NULL, NULL) != SQLITE_OK) {
		queue_err(errbuf, errsz, "commit: %s", sqlite3_errmsg(db));
		goto fail;
	}
	if (ver != QUEUE_SCHEMA_VERSION)
		log_info("event=queue_migrate from=%lld to=%d", (long long)ver,
		    QUEUE_SCHEMA_VERSION);
	return 0;
fail:
	if (!sqlite3_get_autocommit(db))
		sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
	return -1;
}

static void	*queue_writer_main(void *);
static void	 queue_done_event(evutil_socket_t, short, void *);
static int	 queue_w_history_add(struct queue *, const char *, int, int64_t);

static void
queue_free_all(struct queue *q)
{
	struct queue_bconn *bc;

	while ((bc = q->bidle) != NULL) {
		q->bidle = bc->next;
		queue_conn_close(&bc->c);
		free(bc);
	}
	queue_conn_close(&q->r);
	queue_conn_close(&q->w);
	if (q->ev_done != NULL)
		event_free(q->ev_done);
	if (q->sync_init) {
		pthread_mutex_destroy(&q->mtx);
		pthread_cond_destroy(&q->cond);
		pthread_cond_destroy(&q->sync_cond);
	}
	free(q->wbuf);
	free(q->batch);
	free(q->path);
	free(q);
}

/*
 * The base must be thread-aware: evthread_use_pthreads() must have been
 * called before event_base_new(), because the writer thread wakes the loop
 * with event_active().
 */
struct queue *
queue_open(struct event_base *base, const char *path, size_t group_max,
    int64_t check_ms, char *errbuf, size_t errsz)
{
	struct queue *q;
	sigset_t all, old;
	int rc;

	if (base == NULL || path == NULL) {
		queue_err(errbuf, errsz, "queue_open: no base or path");
		return NULL;
	}
	q = xcalloc(1, sizeof(*q));
	q->base = base;
	q->path = xstrdup(path);
	if (group_max == 0)
		group_max = QUEUE_GROUP_MAX_DEFAULT;
	if (group_max > QUEUE_GROUP_MAX_LIMIT)
		group_max = QUEUE_GROUP_MAX_LIMIT;
	q->group_max = group_max;
	q->batch = xcalloc(group_max, sizeof(*q->batch));
	q->pend_tail = &q->pend;
	q->done_tail = &q->done;

	if (queue_file_prepare(path, check_ms, errbuf, errsz) == -1 ||
	    queue_db_open(path, false, QUEUE_BUSY_W_MS, &q->w.db, errbuf,
	    errsz) == -1 ||
	    queue_db_setup_write(q->w.db, errbuf, errsz) == -1 ||
	    queue_migrate(q->w.db, errbuf, errsz) == -1 ||
	    queue_db_open(path, true, QUEUE_BUSY_R_MS, &q->r.db, errbuf,
	    errsz) == -1)
		goto fail;

	q->ev_done = event_new(base, -1, 0, queue_done_event, q);
	if (q->ev_done == NULL) {
		queue_err(errbuf, errsz, "event_new failed");
		goto fail;
	}
	if (pthread_mutex_init(&q->mtx, NULL) != 0 ||
	    pthread_cond_init(&q->cond, NULL) != 0 ||
	    pthread_cond_init(&q->sync_cond, NULL) != 0)
		fatalx("queue_open: pthread init");
	q->sync_init = true;

	/* The writer takes no signals: the loop handles them. */
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	rc = pthread_create(&q->thread, NULL, queue_writer_main, q);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (rc != 0) {
		queue_err(errbuf, errsz, "pthread_create: %s", strerror(rc));
		goto fail;
	}
	q->thread_started = true;
	return q;
fail:
	queue_free_all(q);
	return NULL;
}

/* ------------------------------------------------------------------ */
/* Free space                                                          */
/* ------------------------------------------------------------------ */

int
queue_space(struct queue *q, uint64_t *avail)
{
	struct statvfs vfs;
	int64_t now;

	now = mh_mono_ms();
	if (q->space_at != 0 && now - q->space_at < QUEUE_SPACE_CACHE_MS &&
	    now >= q->space_at) {
		*avail = q->space_avail;
		return 0;
	}
	if (statvfs(q->path, &vfs) == -1) {
		/* Said once per cache period, not at every MAIL FROM. */
		if (q->space_fail_at == 0 || now < q->space_fail_at ||
		    now - q->space_fail_at >= 60 * 1000) {
			log_warn("event=queue_error op=statvfs path=%s",
			    q->path);
			q->space_fail_at = now != 0 ? now : 1;
		}
		return -1;
	}
	/* f_bavail: what a writer that is not root may still use. */
	if (vfs.f_frsize != 0 && vfs.f_bavail > UINT64_MAX / vfs.f_frsize)
		q->space_avail = UINT64_MAX;
	else
		q->space_avail = (uint64_t)vfs.f_bavail * vfs.f_frsize;
	q->space_at = now != 0 ? now : 1;
	*avail = q->space_avail;
	return 0;
}

bool
queue_space_ok(uint64_t avail, uint64_t min_free, uint64_t size)
{
	if (avail < min_free)
		return false;
	/* Twice the size fits in what is left above min_free. */
	return size <= (avail - min_free) / 2;
}

/* ------------------------------------------------------------------ */
/* Writer thread                                                       */
/* ------------------------------------------------------------------ */

static int
queue_w_audit(struct queue *q, const char *id, int64_t now,
    const char *actor, const char *from, const char *to, const char *why)
{
	sqlite3_stmt *st;

	if ((st = queue_stmt(&q->w, QUEUE_SQL_AUDIT_INSERT)) == NULL)
		return -1;
	if (sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC) != SQLITE_OK ||
	    sqlite3_bind_int64(st, 2, now) != SQLITE_OK ||
	    queue_bind_text(st, 3, actor) != SQLITE_OK ||
	    queue_bind_text(st, 4, from) != SQLITE_OK ||
	    queue_bind_text(st, 5, to) != SQLITE_OK ||
	    queue_bind_text(st, 6, why) != SQLITE_OK) {
		queue_log_sqlerr(q->w.db, "audit", id);
		queue_stmt_done(st);
		return -1;
	}
	return queue_stmt_exec(&q->w, st, "audit", id);
}

/* Current state of id as text into buf; 1 when there is no such row. */
static int
queue_w_state_get(struct queue *q, const char *id, char *buf, size_t bufsz)
{
	sqlite3_stmt *st;
	const unsigned char *t;
	int rc;

	if ((st = queue_stmt(&q->w, QUEUE_SQL_STATE_GET)) == NULL)
		return -1;
	if (sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC) != SQLITE_OK) {
		queue_log_sqlerr(q->w.db, "state_get", id);
		queue_stmt_done(st);
		return -1;
	}
	rc = sqlite3_step(st);
	if (rc == SQLITE_DONE) {
		queue_stmt_done(st);
		return 1;
	}
	if (rc != SQLITE_ROW) {
		queue_log_sqlerr(q->w.db, "state_get", id);
		queue_stmt_done(st);
		return -1;
	}
	t = sqlite3_column_text(st, 0);
	mh_strlcpy(buf, t != NULL ? (const char *)t : "", bufsz);
	queue_stmt_done(st);
	return 0;
}

/* Fills the zeroblob row by row chunks, from memory or from the temp
 * file, so a large body is never in memory whole. */
static int
queue_w_body_write(struct queue *q, sqlite3_blob *blob,
    const struct queue_msg_new *m)
{
	const void *src;
	size_t off = 0, n;
	ssize_t got;

	while (off < m->body_len) {
		n = m->body_len - off;
		if (n > QUEUE_CHUNK)
			n = QUEUE_CHUNK;
		if (m->body != NULL)
			src = m->body + off;
		else {
			if (q->wbuf == NULL)
				q->wbuf = xmalloc(QUEUE_CHUNK);
			got = pread(m->body_fd, q->wbuf, n, (off_t)off);
			if (got == -1) {
				if (errno == EINTR)
					continue;
				log_warn("event=queue_error op=body_read id=%s",
				    m->id);
				return -1;
			}
			if (got == 0) {
				log_warnx("event=queue_error op=body_read "
				    "id=%s err=\"temp file shorter than "
				    "%zu bytes\"", m->id, m->body_len);
				return -1;
			}
			n = (size_t)got;
			src = q->wbuf;
		}
		if (sqlite3_blob_write(blob, src, (int)n, (int)off) !=
		    SQLITE_OK) {
			queue_log_sqlerr(q->w.db, "body_write", m->id);
			return -1;
		}
		off += n;
	}
	return 0;
}

static int
queue_w_findings(struct queue *q, const struct queue_msg_new *m)
{
	const struct queue_finding *f;
	sqlite3_stmt *st;
	struct mh_buf rc;
	size_t i, j;
	int r;

	if (m->nfindings == 0)
		return 0;
	if ((st = queue_stmt(&q->w, QUEUE_SQL_FINDING_INSERT)) == NULL)
		return -1;
	mh_buf_init(&rc, QUEUE_FRCPTS_MAX);
	for (i = 0; i < m->nfindings; i++) {
		f = &m->findings[i];
		mh_buf_reset(&rc);
		for (j = 0; j < f->nrcpts; j++)
			if ((j > 0 && mh_buf_puts(&rc, "\n") == -1) ||
			    mh_buf_puts(&rc, f->rcpts[j]) == -1)
				break;
		r = sqlite3_bind_text(st, 1, m->id, -1, SQLITE_STATIC) |
		    sqlite3_bind_int64(st, 2, (sqlite3_int64)i) |
		    queue_bind_text(st, 3, f->rule) |
		    queue_bind_text(st, 4, f->severity) |
		    queue_bind_text_max(st, 5, rc.data ? rc.data : "",
		    QUEUE_FRCPTS_MAX) |
		    queue_bind_text(st, 6, f->suggestion) |
		    queue_bind_text(st, 7, f->msg_en) |
		    queue_bind_text(st, 8, f->msg_ja);
		if (r != SQLITE_OK) {
			queue_log_sqlerr(q->w.db, "submit_finding", m->id);
			queue_stmt_done(st);
			mh_buf_clear(&rc);
			return -1;
		}
		if (queue_stmt_exec(&q->w, st, "submit_finding", m->id) ==
		    -1) {
			mh_buf_clear(&rc);
			return -1;
		}
	}
	mh_buf_clear(&rc);
	return 0;
}

static int
queue_w_token(struct queue *q, const struct queue_msg_new *m, int64_t now)
{
	const struct queue_token *t = m->token;
	sqlite3_stmt *st;

	if (t == NULL)
		return 0;
	if ((st = queue_stmt(&q->w, QUEUE_SQL_TOKEN_INSERT)) == NULL)
		return -1;
	if ((queue_bind_text(st, 1, t->selector) |
	    sqlite3_bind_text(st, 2, m->id, -1, SQLITE_STATIC) |
	    sqlite3_bind_blob(st, 3, t->hash, sizeof(t->hash),
	    SQLITE_STATIC) |
	    sqlite3_bind_blob(st, 4, t->csrf, sizeof(t->csrf),
	    SQLITE_STATIC) |
	    sqlite3_bind_int64(st, 5, now)) != SQLITE_OK) {
		queue_log_sqlerr(q->w.db, "submit_token", m->id);
		queue_stmt_done(st);
		return -1;
	}
	return queue_stmt_exec(&q->w, st, "submit_token", m->id);
}

static int
queue_w_submit(struct queue *q, struct queue_msg_new *m, int64_t now)
{
	sqlite3_stmt *st;
	sqlite3_blob *blob = NULL;
	sqlite3_int64 rowid;
	const char *state = queue_state_to_str(m->state);
	size_t i;
	int rc;

	if ((st = queue_stmt(&q->w, QUEUE_SQL_MSG_INSERT)) == NULL)
		return -1;
	if (sqlite3_bind_text(st, 1, m->id, -1, SQLITE_STATIC) != SQLITE_OK ||
	    queue_bind_text(st, 2, state) != SQLITE_OK ||
	    queue_bind_text(st, 3, m->sender) != SQLITE_OK ||
	    queue_bind_text(st, 4, m->auth_user) != SQLITE_OK ||
	    queue_bind_text(st, 5, m->client_addr) != SQLITE_OK ||
	    queue_bind_text(st, 6, m->helo) != SQLITE_OK ||
	    sqlite3_bind_int64(st, 7, m->flags) != SQLITE_OK ||
	    sqlite3_bind_int64(st, 8, (sqlite3_int64)m->body_len) !=
	    SQLITE_OK ||
	    sqlite3_bind_int64(st, 9, m->received_at) != SQLITE_OK ||
	    sqlite3_bind_int64(st, 10, m->release_at) != SQLITE_OK ||
	    sqlite3_bind_int64(st, 11, now) != SQLITE_OK ||
	    queue_bind_text_max(st, 12, m->verdict, QUEUE_VERDICT_MAX) !=
	    SQLITE_OK ||
	    queue_bind_text_max(st, 13, m->subject, QUEUE_SUBJECT_MAX) !=
	    SQLITE_OK) {
		queue_log_sqlerr(q->w.db, "submit", m->id);
		queue_stmt_done(st);
		return -1;
	}
	if (queue_stmt_exec(&q->w, st, "submit", m->id) == -1)
		return -1;

	if ((st = queue_stmt(&q->w, QUEUE_SQL_RCPT_INSERT)) == NULL)
		return -1;
	for (i = 0; i < m->nrcpts; i++) {
		if (sqlite3_bind_text(st, 1, m->id, -1, SQLITE_STATIC) !=
		    SQLITE_OK ||
		    sqlite3_bind_int64(st, 2, (sqlite3_int64)i) != SQLITE_OK ||
		    queue_bind_text(st, 3, m->rcpts[i]) != SQLITE_OK) {
			queue_log_sqlerr(q->w.db, "submit_rcpt", m->id);
			queue_stmt_done(st);
			return -1;
		}
		if (queue_stmt_exec(&q->w, st, "submit_rcpt", m->id) == -1)
			return -1;
	}

	if ((st = queue_stmt(&q->w, QUEUE_SQL_BODY_INSERT)) == NULL)
		return -1;
	if (sqlite3_bind_text(st, 1, m->id, -1, SQLITE_STATIC) != SQLITE_OK ||
	    sqlite3_bind_zeroblob64(st, 2, m->body_len) != SQLITE_OK) {
		queue_log_sqlerr(q->w.db, "submit_body", m->id);
		queue_stmt_done(st);
		return -1;
	}
	if (queue_stmt_exec(&q->w, st, "submit_body", m->id) == -1)
		return -1;
	rowid = sqlite3_last_insert_rowid(q->w.db);
	if (m->body_len > 0) {
		if (sqlite3_blob_open(q->w.db, "main", "bodies", "data",
		    rowid, 1, &blob) != SQLITE_OK) {
			queue_log_sqlerr(q->w.db, "body_open", m->id);
			sqlite3_blob_close(blob);
			return -1;
		}
		rc = queue_w_body_write(q, blob, m);
		if (sqlite3_blob_close(blob) != SQLITE_OK && rc == 0) {
			queue_log_sqlerr(q->w.db, "body_close", m->id);
			rc = -1;
		}
		if (rc == -1)
			return -1;
	}
	if (queue_w_findings(q, m) == -1 || queue_w_token(q, m, now) == -1)
		return -1;
	if (queue_w_audit(q, m->id, now, "smtp", NULL, state,
	    "received") == -1)
		return -1;
	/* The alert goes in with its message or not at all. */
	return m->alert != NULL ? queue_w_submit(q, m->alert, now) : 0;
}

/* Zeroes the body of a mail mailhold wrote itself (no-op otherwise). */
static int
queue_w_notice_scrub(struct queue *q, const char *id)
{
	sqlite3_stmt *st;

	_Static_assert(QUEUE_F_NOTICE == 4, "QUEUE_SQL_NOTICE_SCRUB");
	if ((st = queue_stmt(&q->w, QUEUE_SQL_NOTICE_SCRUB)) == NULL)
		return -1;
	if (sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC) != SQLITE_OK) {
		queue_stmt_done(st);
		return -1;
	}
	return queue_stmt_exec(&q->w, st, "notice_scrub", id);
}

static int
queue_w_set_state(struct queue *q, struct queue_req *r, int64_t now)
{
	sqlite3_stmt *st;
	char from[32];
	int rc, s;

	rc = queue_w_state_get(q, r->id, from, sizeof(from));
	if (rc != 0)
		return rc;	/* -1, or 1: no such message */
	if ((st = queue_stmt(&q->w, QUEUE_SQL_STATE_SET)) == NULL)
		return -1;
	rc = sqlite3_bind_text(st, 1, r->id, -1, SQLITE_STATIC) |
	    queue_bind_text(st, 2, queue_state_to_str(r->u.st.to)) |
	    sqlite3_bind_int64(st, 3, r->u.st.next_attempt) |
	    sqlite3_bind_int64(st, 4, now);
	/* A state outside the mask binds NULL, which matches nothing. */
	for (s = 0; s <= QUEUE_STATE_MAX; s++)
		rc |= queue_bind_text(st, 5 + s, (r->u.st.mask & (1u << s)) ?
		    queue_state_names[s] : NULL);
	if (rc != SQLITE_OK) {
		queue_log_sqlerr(q->w.db, "set_state", r->id);
		queue_stmt_done(st);
		return -1;
	}
	if (queue_stmt_exec(&q->w, st, "set_state", r->id) == -1)
		return -1;
	if (sqlite3_changes(q->w.db) == 0)
		return 1;
	if (strcmp(from, queue_state_names[QUEUE_RELEASING]) == 0)
		r->ch_what |= QUEUE_CH_UNRELEASED;
	/* A cancelled alert never goes: its link leaves the body now. */
	if (r->u.st.to == QUEUE_CANCELLED &&
	    queue_w_notice_scrub(q, r->id) == -1)
		return -1;
	return queue_w_audit(q, r->id, now, r->u.st.actor, from,
	    queue_state_to_str(r->u.st.to), r->u.st.why);
}

static int
queue_w_attempt(struct queue *q, struct queue_req *r, int64_t now)
{
	struct queue_attempt *a = r->u.att;
	sqlite3_stmt *st;
	char from[32];
	size_t i;
	int rc;

	rc = queue_w_state_get(q, a->id, from, sizeof(from));
	if (rc == 1)
		log_warnx("event=queue_error op=attempt id=%s "
		    "err=\"no such message\"", a->id);
	if (rc != 0)
		return -1;
	/* Only the relay's own RELEASING message takes a result, so a late
	 * result cannot bring back a message cancelled meanwhile. */
	if (strcmp(from, queue_state_names[QUEUE_RELEASING]) != 0)
		return 1;

	if ((st = queue_stmt(&q->w, QUEUE_SQL_RCPT_UPDATE)) == NULL)
		return -1;
	for (i = 0; i < a->nrcpts; i++) {
		rc = sqlite3_bind_text(st, 1, a->id, -1, SQLITE_STATIC) |
		    sqlite3_bind_int(st, 2, a->rcpts[i].idx) |
		    sqlite3_bind_int(st, 3, a->rcpts[i].status) |
		    queue_bind_text(st, 4, a->rcpts[i].reply);
		if (rc != SQLITE_OK) {
			queue_log_sqlerr(q->w.db, "attempt_rcpt", a->id);
			queue_stmt_done(st);
			return -1;
		}
		if (queue_stmt_exec(&q->w, st, "attempt_rcpt", a->id) == -1)
			return -1;
		if (sqlite3_changes(q->w.db) != 1) {
			log_warnx("event=queue_error op=attempt id=%s "
			    "err=\"no recipient idx %d\"", a->id,
			    a->rcpts[i].idx);
			return -1;
		}
	}
	for (i = 0; i < a->nrcpts; i++)
		if (a->rcpts[i].status == QUEUE_RCPT_SENT) {
			if (queue_w_history_add(q, a->id, a->rcpts[i].idx,
			    now) == -1)
				return -1;
			r->ch_what |= QUEUE_CH_DELIVERED;
		}

	if ((st = queue_stmt(&q->w, QUEUE_SQL_ATTEMPT_UPDATE)) == NULL)
		return -1;
	rc = sqlite3_bind_text(st, 1, a->id, -1, SQLITE_STATIC) |
	    queue_bind_text(st, 2, queue_state_to_str(a->new_state)) |
	    sqlite3_bind_int64(st, 3, a->new_state == QUEUE_DEFERRED ?
	    a->next_attempt : -1) |
	    queue_bind_text(st, 4, a->last_error) |
	    sqlite3_bind_int64(st, 5, now);
	if (rc != SQLITE_OK) {
		queue_log_sqlerr(q->w.db, "attempt", a->id);
		queue_stmt_done(st);
		return -1;
	}
	if (queue_stmt_exec(&q->w, st, "attempt", a->id) == -1)
		return -1;
	if (sqlite3_changes(q->w.db) != 1)
		return -1;	/* cannot happen inside this transaction */
	if (a->new_state != QUEUE_DEFERRED &&
	    queue_w_notice_scrub(q, a->id) == -1)
		return -1;
	return queue_w_audit(q, a->id, now, "relay", from,
	    queue_state_to_str(a->new_state),
	    a->last_error != NULL ? a->last_error : "delivered");
}

/* The recipient's address, from the row (the attempt carries only its
 * index), lowercased, with its domain in the policy's normal form. */
static int
queue_w_history_add(struct queue *q, const char *id, int idx, int64_t now)
{
	sqlite3_stmt *st;
	char addr[QUEUE_ADDR_MAX + 1], dom[QUEUE_ADDR_MAX + 1], *at;
	const unsigned char *t;
	size_t i;
	int rc;

	if ((st = queue_stmt(&q->w, QUEUE_SQL_RCPT_ADDR)) == NULL)
		return -1;
	if (sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC) != SQLITE_OK ||
	    sqlite3_bind_int(st, 2, idx) != SQLITE_OK) {
		queue_stmt_done(st);
		return -1;
	}
	rc = sqlite3_step(st);
	if (rc != SQLITE_ROW || (t = sqlite3_column_text(st, 0)) == NULL ||
	    mh_strlcpy(addr, (const char *)t, sizeof(addr)) >= sizeof(addr)) {
		queue_stmt_done(st);
		return rc == SQLITE_ROW ? 0 : -1;	/* odd row: skip it */
	}
	queue_stmt_done(st);
	for (i = 0; addr[i]; i++)
		addr[i] = (char)mh_tolower((unsigned char)addr[i]);
	if ((at = strrchr(addr, '@')) == NULL)
		return 0;			/* <Postmaster>: no history */
	policy_domain_normalize(at + 1, dom, sizeof(dom));
	if ((st = queue_stmt(&q->w, QUEUE_SQL_HISTORY_ADD)) == NULL)
		return -1;
	rc = sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC) |
	    sqlite3_bind_text(st, 2, addr, -1, SQLITE_STATIC) |
	    sqlite3_bind_text(st, 3, dom, -1, SQLITE_STATIC) |
	    sqlite3_bind_int64(st, 4, now);
	if (rc != SQLITE_OK) {
		queue_log_sqlerr(q->w.db, "history", id);
		queue_stmt_done(st);
		return -1;
	}
	return queue_stmt_exec(&q->w, st, "history", id);
}

static int
queue_w_recover(struct queue *q, struct queue_req *r)
{
	sqlite3_stmt *st;
	int i;
	const enum queue_sql steps[] = {
		QUEUE_SQL_RECOVER_AUDIT, QUEUE_SQL_RECOVER
	};

	for (i = 0; i < 2; i++) {
		if ((st = queue_stmt(&q->w, steps[i])) == NULL)
			return -1;
		if (sqlite3_bind_int64(st, 1, r->u.rec.now) != SQLITE_OK) {
			queue_log_sqlerr(q->w.db, "recover", NULL);
			queue_stmt_done(st);
			return -1;
		}
		if (queue_stmt_exec(&q->w, st, "recover", NULL) == -1)
			return -1;
	}
	r->u.rec.count = sqlite3_changes(q->w.db);
	return 0;
}

static const char *const queue_hold_scopes[] = {
	[QUEUE_HOLD_DEFAULT] = "default",
	[QUEUE_HOLD_RULE] = "rule",
	[QUEUE_HOLD_USER] = "user",
	[QUEUE_HOLD_DOMAIN] = "domain",
};

const char *
queue_hold_scope_to_str(int scope)
{
	if (scope < 0 || scope > QUEUE_HOLD_DOMAIN)
		return "invalid";
	return queue_hold_scopes[scope];
}

static int
queue_w_hold(struct queue *q, struct queue_req *r, int64_t now)
{
	const char *scope = queue_hold_scopes[r->u.hold.scope];
	const char *key = r->u.hold.key;
	char what[400], oldv[32], newv[32], why[64];
	sqlite3_stmt *st;
	int rc;
	enum queue_sql steps[2] = { QUEUE_SQL_RESCHED_AUDIT,
	    QUEUE_SQL_RESCHED };
	size_t i;

	/* The old value, for the audit row. */
	if ((st = queue_stmt(&q->w, QUEUE_SQL_HOLD_GET)) == NULL)
		return -1;
	oldv[0] = '\0';
	if ((sqlite3_bind_text(st, 1, scope, -1, SQLITE_STATIC) |
	    sqlite3_bind_text(st, 2, key, -1, SQLITE_STATIC)) != SQLITE_OK) {
		queue_stmt_done(st);
		return -1;
	}
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW)
		(void)mh_snprintf(oldv, sizeof(oldv), "%lld",
		    (long long)sqlite3_column_int64(st, 0));
	queue_stmt_done(st);
	if (rc != SQLITE_ROW && rc != SQLITE_DONE) {
		queue_log_sqlerr(q->w.db, "hold_get", NULL);
		return -1;
	}

	if ((st = queue_stmt(&q->w, r->u.hold.hold >= 0 ? QUEUE_SQL_HOLD_PUT :
	    QUEUE_SQL_HOLD_DEL)) == NULL)
		return -1;
	rc = sqlite3_bind_text(st, 1, scope, -1, SQLITE_STATIC) |
	    sqlite3_bind_text(st, 2, key, -1, SQLITE_STATIC);
	if (r->u.hold.hold >= 0)
		rc |= sqlite3_bind_int64(st, 3, r->u.hold.hold) |
		    sqlite3_bind_int64(st, 4, now) |
		    queue_bind_text(st, 5, r->u.hold.actor);
	if (rc != SQLITE_OK) {
		queue_log_sqlerr(q->w.db, "hold_set", NULL);
		queue_stmt_done(st);
		return -1;
	}
	if (queue_stmt_exec(&q->w, st, "hold_set", NULL) == -1)
		return -1;
	if (r->u.hold.hold < 0 && sqlite3_changes(q->w.db) == 0)
		return 1;	/* unset of a window that was not set */

	(void)mh_snprintf(what, sizeof(what), "hold %s%s%s%s", scope,
	    *key ? " " : "", key, r->u.hold.resched >= 0 ? " reschedule" :
	    "");
	newv[0] = '\0';
	if (r->u.hold.hold >= 0)
		(void)mh_snprintf(newv, sizeof(newv), "%lld",
		    (long long)r->u.hold.hold);
	if ((st = queue_stmt(&q->w, QUEUE_SQL_ADMIN_AUDIT)) == NULL)
		return -1;
	if ((sqlite3_bind_int64(st, 1, now) |
	    queue_bind_text(st, 2, r->u.hold.actor) |
	    queue_bind_text(st, 3, what) |
	    queue_bind_text(st, 4, oldv[0] ? oldv : NULL) |
	    queue_bind_text(st, 5, newv[0] ? newv : NULL)) != SQLITE_OK) {
		queue_log_sqlerr(q->w.db, "admin_audit", NULL);
		queue_stmt_done(st);
		return -1;
	}
	if (queue_stmt_exec(&q->w, st, "admin_audit", NULL) == -1)
		return -1;

	*r->u.hold.changed = 0;
	if (r->u.hold.resched < 0)
		return 0;
	(void)mh_snprintf(why, sizeof(why), "rescheduled: hold %llds",
	    (long long)r->u.hold.resched);
	for (i = 0; i < 2; i++) {
		if ((st = queue_stmt(&q->w, steps[i])) == NULL)
			return -1;
		rc = sqlite3_bind_text(st, 1, scope, -1, SQLITE_STATIC) |
		    sqlite3_bind_text(st, 2, key, -1, SQLITE_STATIC) |
		    sqlite3_bind_int64(st, 3, now);
		if (i == 0)
			rc |= queue_bind_text(st, 4, r->u.hold.actor) |
			    queue_bind_text(st, 5, why);
		else
			rc |= sqlite3_bind_int64(st, 6, r->u.hold.resched);
		if (rc != SQLITE_OK) {
			queue_log_sqlerr(q->w.db, "reschedule", NULL);
			queue_stmt_done(st);
			return -1;
		}
		if (queue_stmt_exec(&q->w, st, "reschedule", NULL) == -1)
			return -1;
	}
	*r->u.hold.changed = sqlite3_changes(q->w.db);
	if (*r->u.hold.changed > 0) {
		/* Due times moved, the earliest is not known here. */
		r->ch_what = QUEUE_CH_DUE;
		r->ch_due = now;
	}
	return 0;
}

static int
queue_w_purge(struct queue *q, struct queue_req *r)
{
	enum queue_sql steps[2] = { QUEUE_SQL_PURGE_AUDIT, QUEUE_SQL_PURGE };
	sqlite3_stmt *st;
	size_t i;

	for (i = 0; i < 2; i++) {
		if ((st = queue_stmt(&q->w, steps[i])) == NULL)
			return -1;
		if ((sqlite3_bind_int64(st, 1, r->u.purge.before) |
		    sqlite3_bind_int64(st, 2, r->u.purge.max)) != SQLITE_OK) {
			queue_log_sqlerr(q->w.db, "purge", NULL);
			queue_stmt_done(st);
			return -1;
		}
		if (queue_stmt_exec(&q->w, st, "purge", NULL) == -1)
			return -1;
	}
	*r->u.purge.count = sqlite3_changes(q->w.db);
	return 0;
}

static int
queue_w_shift(struct queue *q, struct queue_req *r)
{
	sqlite3_stmt *st;

	if ((st = queue_stmt(&q->w, QUEUE_SQL_SHIFT)) == NULL)
		return -1;
	if (sqlite3_bind_int64(st, 1, r->u.shift.delta) != SQLITE_OK ||
	    sqlite3_bind_int64(st, 2, r->u.shift.old_end) != SQLITE_OK) {
		queue_log_sqlerr(q->w.db, "shift", NULL);
		queue_stmt_done(st);
		return -1;
	}
	if (queue_stmt_exec(&q->w, st, "shift", NULL) == -1)
		return -1;
	*r->u.shift.count = sqlite3_changes(q->w.db);
	return 0;
}

static int
queue_w_run(struct queue *q, struct queue_req *r, int64_t now)
{
	switch (r->type) {
	case QUEUE_REQ_SUBMIT:
		return queue_w_submit(q, r->u.msg, now);
	case QUEUE_REQ_STATE:
		return queue_w_set_state(q, r, now);
	case QUEUE_REQ_ATTEMPT:
		return queue_w_attempt(q, r, now);
	case QUEUE_REQ_RECOVER:
		return queue_w_recover(q, r);
	case QUEUE_REQ_HOLD:
		return queue_w_hold(q, r, now);
	case QUEUE_REQ_PURGE:
		return queue_w_purge(q, r);
	case QUEUE_REQ_SHIFT:
		return queue_w_shift(q, r);
	}
	MH_BUG("queue_w_run: request type");
	return -1;
}

/* Every request of the batch gets -1 (nothing of it is kept). */
static void
queue_w_fail(struct queue_req **reqs, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++) {
		reqs[i]->result = -1;
		reqs[i]->final = true;
	}
}

/*
 * Runs one request inside its own savepoint.  Returns false when the
 * enclosing transaction is gone (SQLite rolls the whole transaction back
 * by itself on some SQLITE_FULL, IOERR and NOMEM errors) or in a state we
 * cannot trust.
 */
static bool
queue_w_one(struct queue *q, struct queue_req *r, int64_t now)
{
	int rc;

	if (queue_sql_run(&q->w, QUEUE_SQL_SAVEPOINT, "savepoint",
	    r->id) == -1)
		rc = -1;
	else
		rc = queue_w_run(q, r, now);
	r->result = rc;
	if (sqlite3_get_autocommit(q->w.db))
		return false;
	if (rc == -1) {
		/* Failed alone: undo just this request. */
		r->final = true;
		if (queue_sql_run(&q->w, QUEUE_SQL_ROLLBACK_TO, "rollback_to",
		    r->id) == -1)
			return false;
	}
	return queue_sql_run(&q->w, QUEUE_SQL_RELEASE, "release",
	    r->id) == 0;
}

/*
 * Runs reqs[0..n) as one transaction, each request in its own savepoint,
 * so a request that fails is rolled back alone and reported -1 while the
 * others commit.  If the transaction itself is lost at request i, i is
 * reported -1 and the others are run again in a new transaction, so one
 * message too big for the disk does not fail its neighbours; after
 * QUEUE_LOST_MAX such losses the rest fail too.  A failed COMMIT fails
 * the whole batch.  Returns the number of COMMITs (0 or 1).
 */
#define QUEUE_LOST_MAX	3

static uint64_t
queue_w_batch(struct queue *q, struct queue_req **reqs, size_t n,
    int *fail_commits)
{
	size_t i;
	int lost, rc;
	bool ok;

	for (i = 0; i < n; i++)
		reqs[i]->final = false;
	for (lost = 0;; lost++) {
		if (lost == QUEUE_LOST_MAX) {
			queue_w_fail(reqs, n);
			return 0;
		}
		if (queue_sql_run(&q->w, QUEUE_SQL_BEGIN, "begin",
		    NULL) == -1) {
			queue_w_fail(reqs, n);
			return 0;
		}
		ok = true;
		for (i = 0; i < n && ok; i++)
			if (!reqs[i]->final)
				ok = queue_w_one(q, reqs[i], reqs[i]->now);
		if (ok)
			break;
		i--;
		log_warnx("event=queue_error op=batch id=%s "
		    "err=\"transaction lost\" requests=%zu", reqs[i]->id, n);
		reqs[i]->result = -1;
		reqs[i]->final = true;
		if (!sqlite3_get_autocommit(q->w.db))
			queue_sql_run(&q->w, QUEUE_SQL_ROLLBACK, "rollback",
			    NULL);
	}

	if (*fail_commits > 0) {
		(*fail_commits)--;
		log_warnx("event=queue_error op=commit "
		    "err=\"injected failure\"");
		rc = -1;
	} else
		rc = queue_sql_run(&q->w, QUEUE_SQL_COMMIT, "commit", NULL);
	if (rc == -1) {
		if (!sqlite3_get_autocommit(q->w.db))
			queue_sql_run(&q->w, QUEUE_SQL_ROLLBACK, "rollback",
			    NULL);
		queue_w_fail(reqs, n);
		return 0;
	}
	return 1;
}

static void *
queue_writer_main(void *arg)
{
	struct queue *q = arg;
	struct queue_req *r;
	char sql[64];
	uint64_t commits;
	size_t n, i;
	long max_pages;
	int fail_commits;
	bool wake;

	for (;;) {
		pthread_mutex_lock(&q->mtx);
		while ((q->pend == NULL || q->paused) && !q->stopping)
			pthread_cond_wait(&q->cond, &q->mtx);
		if (q->pend == NULL) {
			pthread_mutex_unlock(&q->mtx);
			break;
		}
		for (n = 0; n < q->group_max && q->pend != NULL; n++) {
			r = q->pend;
			q->pend = r->next;
			r->next = NULL;
			q->batch[n] = r;
		}
		if (q->pend == NULL)
			q->pend_tail = &q->pend;
		fail_commits = q->fail_commits;
		max_pages = q->max_pages;
		pthread_mutex_unlock(&q->mtx);

		if (max_pages != q->max_pages_set) {
			if (mh_snprintf(sql, sizeof(sql),
			    "PRAGMA max_page_count = %ld", max_pages) != -1)
				sqlite3_exec(q->w.db, sql, NULL, NULL, NULL);
			q->max_pages_set = max_pages;
		}
		commits = queue_w_batch(q, q->batch, n, &fail_commits);
		log_debug("event=queue_batch requests=%zu commits=%llu", n,
		    (unsigned long long)commits);
		for (i = 0; i < n; i++)
			queue_req_payload_free(q->batch[i]);

		pthread_mutex_lock(&q->mtx);
		q->commits += commits;
		q->fail_commits = fail_commits;
		wake = false;
		for (i = 0; i < n; i++) {
			r = q->batch[i];
			q->batch[i] = NULL;
			if (r->type == QUEUE_REQ_RECOVER) {
				/* The waiter frees r once we unlock. */
				r->u.rec.finished = true;
				continue;
			}
			*q->done_tail = r;
			q->done_tail = &r->next;
			wake = true;
		}
		pthread_cond_broadcast(&q->sync_cond);
		pthread_mutex_unlock(&q->mtx);
		if (wake)
			event_active(q->ev_done, 0, 0);
	}
	return NULL;
}

/* ------------------------------------------------------------------ */
/* Loop side of the writer                                             */
/* ------------------------------------------------------------------ */

/* Runs the completions of finished requests, in submission order. */
static void
queue_done_run(struct queue *q)
{
	struct queue_req *list, *r;

	pthread_mutex_lock(&q->mtx);
	list = q->done;
	q->done = NULL;
	q->done_tail = &q->done;
	pthread_mutex_unlock(&q->mtx);

	while ((r = list) != NULL) {
		list = r->next;
		if (r->result == 0 && r->ch_what != 0 && q->observer != NULL) {
			struct queue_change ch = { r->ch_what, r->ch_due,
			    r->type == QUEUE_REQ_HOLD ? "" : r->id };

			q->observer(&ch, q->observer_arg);
		}
		if (r->cb != NULL)
			r->cb(r->result, r->arg);
		free(r);
	}
}

void
queue_observe(struct queue *q, queue_observer_cb *cb, void *arg)
{
	q->observer = cb;
	q->observer_arg = arg;
}

static void
queue_done_event(evutil_socket_t fd, short what, void *arg)
{
	queue_done_run(arg);
}

static void
queue_req_push(struct queue *q, struct queue_req *r)
{
	r->now = mh_now();
	pthread_mutex_lock(&q->mtx);
	*q->pend_tail = r;
	q->pend_tail = &r->next;
	pthread_cond_signal(&q->cond);
	pthread_mutex_unlock(&q->mtx);
}

/* A selector is base64url (RFC 4648 section 5), no padding. */
static bool
queue_token_sel_ok(const char *s)
{
	for (; *s; s++)
		if (!((*s >= 'A' && *s <= 'Z') || (*s >= 'a' && *s <= 'z') ||
		    (*s >= '0' && *s <= '9') || *s == '-' || *s == '_'))
			return false;
	return true;
}

static bool
queue_finding_ok(const struct queue_finding *f)
{
	size_t i, len = 0;

	if (f->rule == NULL || *f->rule == '\0' || f->severity == NULL ||
	    f->msg_en == NULL || f->msg_ja == NULL ||
	    !queue_text_ok(f->rule, false) ||
	    !queue_text_ok(f->severity, false) ||
	    !queue_text_ok(f->suggestion, true) ||
	    !queue_text_ok(f->msg_en, false) ||
	    !queue_text_ok(f->msg_ja, false) ||
	    f->nrcpts > QUEUE_FINDING_RCPTS_MAX ||
	    (f->nrcpts > 0 && f->rcpts == NULL))
		return false;
	for (i = 0; i < f->nrcpts; i++) {
		if (f->rcpts[i] == NULL || *f->rcpts[i] == '\0' ||
		    strchr(f->rcpts[i], '\n') != NULL)
			return false;
		len += strlen(f->rcpts[i]) + 1;
	}
	return len <= QUEUE_FRCPTS_MAX;
}

static bool
queue_msg_new_ok(const struct queue_msg_new *m)
{
	size_t i;

	if (!queue_id_ok(m->id) || (m->state != QUEUE_HELD &&
	    m->state != QUEUE_AWAITING_RELEASE) ||
	    (m->flags & ~QUEUE_FLAGS_ALL) != 0 ||
	    !queue_text_ok(m->sender, false) ||
	    !queue_text_ok(m->auth_user, true) ||
	    !queue_text_ok(m->client_addr, true) ||
	    !queue_text_ok(m->helo, true) ||
	    m->nrcpts == 0 || m->nrcpts > QUEUE_RCPTS_MAX ||
	    m->rcpts == NULL || m->received_at <= 0 || m->release_at < 0 ||
	    m->body_len > INT_MAX ||
	    (m->body != NULL && m->body_fd >= 0) ||
	    (m->body == NULL && m->body_fd < 0 && m->body_len > 0))
		return false;
	for (i = 0; i < m->nrcpts; i++)
		if (!queue_text_ok(m->rcpts[i], false) || *m->rcpts[i] == '\0')
			return false;
	if ((m->verdict != NULL && strlen(m->verdict) > QUEUE_VERDICT_MAX) ||
	    (m->subject != NULL && strlen(m->subject) > QUEUE_SUBJECT_MAX) ||
	    m->nfindings > QUEUE_FINDINGS_MAX ||
	    (m->nfindings > 0 && m->findings == NULL))
		return false;
	for (i = 0; i < m->nfindings; i++)
		if (!queue_finding_ok(&m->findings[i]))
			return false;
	if (m->token != NULL && (strlen(m->token->selector) !=
	    QUEUE_TOKEN_SEL_LEN || !queue_token_sel_ok(m->token->selector)))
		return false;
	/* An alert is a plain message of its own: no alert, no token. */
	if (m->alert != NULL && (m->alert->alert != NULL ||
	    m->alert->token != NULL || strcmp(m->alert->id, m->id) == 0 ||
	    !queue_msg_new_ok(m->alert)))
		return false;
	return true;
}

int
queue_submit(struct queue *q, struct queue_msg_new *m, queue_done_cb *cb,
    void *arg)
{
	const struct queue_msg_new *a;
	struct queue_req *r;

	if (m == NULL)
		return -1;
	if (q == NULL || q->closing || !queue_msg_new_ok(m)) {
		log_warnx("event=queue_error op=submit id=%s err=\"%s\"",
		    queue_id_ok(m->id) ? m->id : "-",
		    q == NULL || q->closing ? "queue closed" :
		    "invalid message");
		queue_msg_new_free(m);
		return -1;
	}
	r = xcalloc(1, sizeof(*r));
	r->type = QUEUE_REQ_SUBMIT;
	r->cb = cb;
	r->arg = arg;
	mh_strlcpy(r->id, m->id, sizeof(r->id));
	r->u.msg = m;
	/* Its hold's end (or awaiting_release expiry), or its alert's
	 * (due at once), whichever is first. */
	r->ch_what = QUEUE_CH_STATE | QUEUE_CH_DUE;
	r->ch_due = m->release_at;
	for (a = m->alert; a != NULL; a = a->alert)
		if (a->release_at < r->ch_due)
			r->ch_due = a->release_at;
	queue_req_push(q, r);
	return 0;
}

int
queue_set_state(struct queue *q, const char *id, unsigned from_mask,
    enum queue_state to, int64_t next_attempt, const char *actor,
    const char *why, queue_done_cb *cb, void *arg)
{
	struct queue_req *r;

	if (q == NULL || q->closing || !queue_id_ok(id) || (int)to < 0 ||
	    to > QUEUE_STATE_MAX || actor == NULL) {
		log_warnx("event=queue_error op=set_state id=%s "
		    "err=\"invalid request\"", queue_id_ok(id) ? id : "-");
		return -1;
	}
	r = xcalloc(1, sizeof(*r));
	r->type = QUEUE_REQ_STATE;
	r->cb = cb;
	r->arg = arg;
	mh_strlcpy(r->id, id, sizeof(r->id));
	r->u.st.mask = from_mask;
	r->u.st.to = (int)to;
	r->u.st.next_attempt = next_attempt;
	r->u.st.actor = xstrdup(actor);
	r->u.st.why = why != NULL ? xstrdup(why) : NULL;
	r->ch_what = QUEUE_CH_STATE;
	if (to == QUEUE_HELD || to == QUEUE_DEFERRED ||
	    to == QUEUE_AWAITING_RELEASE) {
		/* Due at next_attempt; kept (-1): unknown here, look now. */
		r->ch_what |= QUEUE_CH_DUE;
		r->ch_due = next_attempt >= 0 ? next_attempt : mh_now();
	}
	queue_req_push(q, r);
	return 0;
}

int
queue_record_attempt(struct queue *q, struct queue_attempt *a,
    queue_done_cb *cb, void *arg)
{
	struct queue_req *r;
	size_t i;
	bool ok;

	if (a == NULL)
		return -1;
	ok = q != NULL && !q->closing && queue_id_ok(a->id) &&
	    (a->new_state == QUEUE_SENT || a->new_state == QUEUE_FAILED ||
	    a->new_state == QUEUE_DEFERRED) &&
	    (a->nrcpts == 0 || a->rcpts != NULL);
	for (i = 0; ok && i < a->nrcpts; i++)
		if (a->rcpts[i].idx < 0 || a->rcpts[i].status < 0 ||
		    a->rcpts[i].status > QUEUE_RCPT_FAILED)
			ok = false;
	if (!ok) {
		log_warnx("event=queue_error op=attempt id=%s "
		    "err=\"invalid request\"",
		    queue_id_ok(a->id) ? a->id : "-");
		queue_attempt_free(a);
		return -1;
	}
	r = xcalloc(1, sizeof(*r));
	r->type = QUEUE_REQ_ATTEMPT;
	r->cb = cb;
	r->arg = arg;
	mh_strlcpy(r->id, a->id, sizeof(r->id));
	r->u.att = a;
	/* Only a RELEASING message takes a result (else 1, unannounced). */
	r->ch_what = QUEUE_CH_STATE | QUEUE_CH_UNRELEASED;
	if (a->new_state == QUEUE_DEFERRED) {
		r->ch_what |= QUEUE_CH_DUE;
		r->ch_due = a->next_attempt;
	}
	queue_req_push(q, r);
	return 0;
}

/*
 * Goes through the writer like any request (the write connection is the
 * writer's), but waits for it here: the caller runs this before the loop
 * and must know the result before scheduling anything.
 */
int
queue_recover(struct queue *q)
{
	struct queue_req *r;
	int n;

	if (q == NULL || q->closing)
		return -1;
	r = xcalloc(1, sizeof(*r));
	r->type = QUEUE_REQ_RECOVER;
	r->u.rec.now = mh_now();
	queue_req_push(q, r);
	pthread_mutex_lock(&q->mtx);
	while (!r->u.rec.finished)
		pthread_cond_wait(&q->sync_cond, &q->mtx);
	pthread_mutex_unlock(&q->mtx);
	n = r->result == -1 ? -1 : r->u.rec.count;
	free(r);
	if (n > 0)
		log_info("event=queue_recover count=%d", n);
	return n;
}

/*
 * Completion callbacks must not call queue_close(); they may queue new
 * requests, which fail with -1 once closing has begun.
 */
void
queue_close(struct queue *q)
{
	if (q == NULL)
		return;
	q->closing = true;
	if (q->thread_started) {
		pthread_mutex_lock(&q->mtx);
		q->stopping = true;
		pthread_cond_signal(&q->cond);
		pthread_mutex_unlock(&q->mtx);
		pthread_join(q->thread, NULL);
		q->thread_started = false;
	}
	queue_done_run(q);
	if (q->nbodies != 0)
		MH_BUG("queue_close with body streams open");
	queue_free_all(q);
}

uint64_t
queue_stats_commits_(struct queue *q)
{
	uint64_t n;

	pthread_mutex_lock(&q->mtx);
	n = q->commits;
	pthread_mutex_unlock(&q->mtx);
	return n;
}

void
queue_fail_commits_(struct queue *q, int n)
{
	pthread_mutex_lock(&q->mtx);
	q->fail_commits = n;
	pthread_mutex_unlock(&q->mtx);
}

void
queue_pause_(struct queue *q, bool paused)
{
	pthread_mutex_lock(&q->mtx);
	q->paused = paused;
	pthread_cond_signal(&q->cond);
	pthread_mutex_unlock(&q->mtx);
}

void
queue_max_pages_(struct queue *q, long pages)
{
	pthread_mutex_lock(&q->mtx);
	q->max_pages = pages;
	pthread_mutex_unlock(&q->mtx);
}

/* ------------------------------------------------------------------ */
/* Reads on the loop thread                                            */
/* ------------------------------------------------------------------ */

/*
 * Column readers for re-validation (STYLE G4): a row read back is input.
 * Each returns -1 for a wrong type, a NULL where none is allowed, a value
 * out of range, an over-long text or one with an embedded NUL.
 */
static int
queue_col_int(sqlite3_stmt *st, int i, int64_t min, int64_t max,
    int64_t *out)
{
	int64_t v;

	if (sqlite3_column_type(st, i) != SQLITE_INTEGER)
		return -1;
	v = sqlite3_column_int64(st, i);
	if (v < min || v > max)
		return -1;
	*out = v;
	return 0;
}

static int
queue_col_text_max(sqlite3_stmt *st, int i, bool nullable, size_t max,
    char **out)
{
	const unsigned char *t;
	int len;

	*out = NULL;
	switch (sqlite3_column_type(st, i)) {
	case SQLITE_NULL:
		return nullable ? 0 : -1;
	case SQLITE_TEXT:
		break;
	default:
		return -1;
	}
	t = sqlite3_column_text(st, i);
	len = sqlite3_column_bytes(st, i);
	if (t == NULL || len < 0 || (size_t)len > max ||
	    memchr(t, '\0', (size_t)len) != NULL)
		return -1;
	*out = xstrndup((const char *)t, (size_t)len);
	return 0;
}

static int
queue_col_text(sqlite3_stmt *st, int i, bool nullable, char **out)
{
	return queue_col_text_max(st, i, nullable, QUEUE_TEXT_MAX, out);
}

/* Reads a state name column; -1 when it names no state. */
static int
queue_col_state(sqlite3_stmt *st, int i)
{
	if (sqlite3_column_type(st, i) != SQLITE_TEXT)
		return -1;
	return queue_state_parse((const char *)sqlite3_column_text(st, i));
}

static void
queue_log_corrupt(const char *id, const char *field)
{
	log_warnx("event=queue_corrupt id=%s field=%s", id, field);
}

static int
queue_rcpts_load(struct queue *q, struct queue_msg *m)
{
	sqlite3_stmt *st;
	struct queue_rcpt *rc;
	const char *bad = NULL;
	size_t cap = 0;
	int64_t v;
	int step;

	if ((st = queue_stmt(&q->r, QUEUE_SQL_RCPT_LOAD)) == NULL)
		return -1;
	if (sqlite3_bind_text(st, 1, m->id, -1, SQLITE_STATIC) != SQLITE_OK) {
		queue_log_sqlerr(q->r.db, "load_rcpts", m->id);
		queue_stmt_done(st);
		return -1;
	}
	while ((step = sqlite3_step(st)) == SQLITE_ROW) {
		if (m->nrcpts == QUEUE_RCPTS_MAX) {
			bad = "nrcpts";
			break;
		}
		if (m->nrcpts == cap) {
			cap = cap ? cap * 2 : 4;
			m->rcpts = xreallocarray(m->rcpts, cap,
			    sizeof(*m->rcpts));
		}
		rc = &m->rcpts[m->nrcpts];
		memset(rc, 0, sizeof(*rc));
		m->nrcpts++;
		/* idx is the stable key: 0, 1, 2, ... without gaps. */
		if (queue_col_int(st, 0, (int64_t)m->nrcpts - 1,
		    (int64_t)m->nrcpts - 1, &v) == -1) {
			bad = "rcpt.idx";
			break;
		}
		rc->idx = (int)v;
		if (queue_col_text(st, 1, false, &rc->addr) == -1 ||
		    *rc->addr == '\0') {
			bad = "rcpt.addr";
			break;
		}
		if (queue_col_int(st, 2, QUEUE_RCPT_PENDING, QUEUE_RCPT_FAILED,
		    &v) == -1) {
			bad = "rcpt.status";
			break;
		}
		rc->status = (int)v;
		if (queue_col_text(st, 3, true, &rc->last_reply) == -1) {
			bad = "rcpt.last_reply";
			break;
		}
	}
	if (bad == NULL && step != SQLITE_DONE) {
		queue_log_sqlerr(q->r.db, "load_rcpts", m->id);
		queue_stmt_done(st);
		return -1;
	}
	queue_stmt_done(st);
	if (bad == NULL && m->nrcpts == 0)
		bad = "nrcpts";
	if (bad != NULL) {
		queue_log_corrupt(m->id, bad);
		return -1;
	}
	return 0;
}

/*
 * Loads and re-validates one message (OpenSMTPD envelope_validate): a row
 * that fails any check is logged and treated as absent, never trusted.
 * The recipients are read while the message statement is still open, so
 * both come from the same snapshot.
 */
struct queue_msg *
queue_msg_load(struct queue *q, const char *id)
{
	sqlite3_stmt *st;
	struct queue_msg *m;
	const char *bad = NULL;
	char *s = NULL;
	int64_t v, size, blen;
	int step;

	if (q == NULL || !queue_id_ok(id))
		return NULL;
	if ((st = queue_stmt(&q->r, QUEUE_SQL_MSG_LOAD)) == NULL)
		return NULL;
	if (sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC) != SQLITE_OK) {
		queue_log_sqlerr(q->r.db, "load", id);
		queue_stmt_done(st);
		return NULL;
	}
	step = sqlite3_step(st);
	if (step != SQLITE_ROW) {
		if (step != SQLITE_DONE)
			queue_log_sqlerr(q->r.db, "load", id);
		else
			log_debug("event=queue_load id=%s err=\"unknown\"", id);
		queue_stmt_done(st);
		return NULL;
	}
	m = xcalloc(1, sizeof(*m));
	if (queue_col_text(st, 0, false, &s) == -1 || !queue_id_ok(s) ||
	    strcmp(s, id) != 0)
		bad = "id";
	else
		mh_strlcpy(m->id, s, sizeof(m->id));
	free(s);
	if (bad == NULL && (m->state = queue_col_state(st, 1)) == -1)
		bad = "state";
	if (bad == NULL && queue_col_text(st, 2, false, &m->sender) == -1)
		bad = "sender";
	if (bad == NULL && queue_col_text(st, 3, true, &m->auth_user) == -1)
		bad = "auth_user";
	if (bad == NULL && queue_col_text(st, 4, true, &m->client_addr) == -1)
		bad = "client_addr";
	if (bad == NULL && queue_col_text(st, 5, true, &m->helo) == -1)
		bad = "helo";
	if (bad == NULL) {
		if (queue_col_int(st, 6, 0, QUEUE_FLAGS_ALL, &v) == -1 ||
		    ((unsigned)v & ~QUEUE_FLAGS_ALL) != 0)
			bad = "flags";
		else
			m->flags = (unsigned)v;
	}
	if (bad == NULL && queue_col_int(st, 7, 0, INT_MAX, &size) == -1)
		bad = "size";
	if (bad == NULL && queue_col_int(st, 8, 1, INT64_MAX,
	    &m->received_at) == -1)
		bad = "received_at";
	if (bad == NULL && queue_col_int(st, 9, 0, INT64_MAX,
	    &m->release_at) == -1)
		bad = "release_at";
	if (bad == NULL && queue_col_int(st, 10, 0, INT64_MAX,
	    &m->next_attempt) == -1)
		bad = "next_attempt";
	if (bad == NULL) {
		if (queue_col_int(st, 11, 0, INT_MAX, &v) == -1)
			bad = "attempts";
		else
			m->attempts = (int)v;
	}
	if (bad == NULL && queue_col_text(st, 12, true, &m->last_error) == -1)
		bad = "last_error";
	if (bad == NULL && queue_col_text_max(st, 14, true, QUEUE_VERDICT_MAX,
	    &m->verdict) == -1)
		bad = "verdict";
	if (bad == NULL && queue_col_text_max(st, 15, true, QUEUE_SUBJECT_MAX,
	    &m->subject) == -1)
		bad = "subject";
	if (bad == NULL && queue_col_int(st, 16, 0, INT64_MAX,
	    &m->updated_at) == -1)
		bad = "updated_at";
	/* The body must exist and match the recorded size. */
	if (bad == NULL && (queue_col_int(st, 13, 0, INT_MAX, &blen) == -1 ||
	    blen != size))
		bad = "body";
	if (bad == NULL) {
		m->size = (size_t)size;
		if (queue_rcpts_load(q, m) == -1) {
			queue_stmt_done(st);
			queue_msg_free(m);
			return NULL;
		}
	}
	queue_stmt_done(st);
	if (bad != NULL) {
		queue_log_corrupt(id, bad);
		queue_msg_free(m);
		return NULL;
	}
	return m;
}

int
queue_next_due(struct queue *q, int64_t *when)
{
	sqlite3_stmt *st;
	int step, ret;

	if ((st = queue_stmt(&q->r, QUEUE_SQL_NEXT_DUE)) == NULL)
		return -1;
	step = sqlite3_step(st);
	if (step == SQLITE_DONE)
		ret = 1;
	else if (step != SQLITE_ROW) {
		queue_log_sqlerr(q->r.db, "next_due", NULL);
		ret = -1;
	} else if (queue_col_int(st, 0, 0, INT64_MAX, when) == -1) {
		queue_log_corrupt("-", "next_attempt");
		ret = -1;
	} else
		ret = 0;
	queue_stmt_done(st);
	return ret;
}

int
queue_due_list(struct queue *q, int64_t now, size_t max,
    char (*ids)[QUEUE_ID_LEN + 1], size_t *n)
{
	sqlite3_stmt *st;
	const char *id;
	int step = SQLITE_DONE;

	*n = 0;
	if (max == 0)
		return 0;
	if ((st = queue_stmt(&q->r, QUEUE_SQL_DUE_LIST)) == NULL)
		return -1;
	if (sqlite3_bind_int64(st, 1, now) != SQLITE_OK ||
	    sqlite3_bind_int64(st, 2, max > INT64_MAX ? INT64_MAX :
	    (sqlite3_int64)max) != SQLITE_OK) {
		queue_log_sqlerr(q->r.db, "due_list", NULL);
		queue_stmt_done(st);
		return -1;
	}
	while (*n < max && (step = sqlite3_step(st)) == SQLITE_ROW) {
		id = (const char *)sqlite3_column_text(st, 0);
		if (sqlite3_column_type(st, 0) != SQLITE_TEXT ||
		    !queue_id_ok(id)) {
			/* Skipped, not fatal: the rest are still due. */
			queue_log_corrupt("-", "id");
			continue;
		}
		mh_strlcpy(ids[*n], id, QUEUE_ID_LEN + 1);
		(*n)++;
	}
	if (*n < max && step != SQLITE_DONE) {
		queue_log_sqlerr(q->r.db, "due_list", NULL);
		queue_stmt_done(st);
		return -1;
	}
	queue_stmt_done(st);
	return 0;
}

int
queue_count_states(struct queue *q, uint64_t *counts)
{
	sqlite3_stmt *st;
	int64_t v;
	int step, s;

	memset(counts, 0, (QUEUE_STATE_MAX + 1) * sizeof(*counts));
	if ((st = queue_stmt(&q->r, QUEUE_SQL_COUNT)) == NULL)
		return -1;
	while ((step = sqlite3_step(st)) == SQLITE_ROW) {
		s = queue_col_state(st, 0);
		if (s == -1 || queue_col_int(st, 1, 0, INT64_MAX, &v) == -1) {
			queue_log_corrupt("-", "state");
			continue;
		}
		counts[s] = (uint64_t)v;
	}
	if (step != SQLITE_DONE) {
		queue_log_sqlerr(q->r.db, "count", NULL);
		queue_stmt_done(st);
		return -1;
	}
	queue_stmt_done(st);
	return 0;
}

/* ------------------------------------------------------------------ */
/* Body streams                                                        */
/* ------------------------------------------------------------------ */

static struct queue_bconn *
queue_bconn_get(struct queue *q)
{
	struct queue_bconn *bc;
	char err[256];

	if ((bc = q->bidle) != NULL) {
		q->bidle = bc->next;
		q->nbidle--;
		bc->next = NULL;
		return bc;
	}
	bc = xcalloc(1, sizeof(*bc));
	if (queue_db_open(q->path, true, QUEUE_BUSY_R_MS, &bc->c.db, err,
	    sizeof(err)) == -1) {
		log_warnx("event=queue_error op=body_conn err=\"%s\"", err);
		free(bc);
		return NULL;
	}
	return bc;
}

static void
queue_bconn_put(struct queue *q, struct queue_bconn *bc)
{
	if (q->nbidle >= QUEUE_BCONN_IDLE_MAX) {
		queue_conn_close(&bc->c);
		free(bc);
		return;
	}
	bc->next = q->bidle;
	q->bidle = bc;
	q->nbidle++;
}

/*
 * Finds the body row and opens a blob handle on it.  The handle is opened
 * while the lookup statement still holds its snapshot, so rowid and size
 * come from the same read.  Returns 1 when there is no such body.
 */
static int
queue_body_attach(struct queue_body *b, bool first)
{
	struct queue_conn *c = &b->bc->c;
	sqlite3_stmt *st;
	int64_t rowid, size;
	int step;

	if ((st = queue_stmt(c, QUEUE_SQL_BODY_LOOKUP)) == NULL)
		return -1;
	if (sqlite3_bind_text(st, 1, b->id, -1, SQLITE_STATIC) != SQLITE_OK) {
		queue_log_sqlerr(c->db, "body_open", b->id);
		queue_stmt_done(st);
		return -1;
	}
	step = sqlite3_step(st);
	if (step != SQLITE_ROW) {
		if (step != SQLITE_DONE)
			queue_log_sqlerr(c->db, "body_open", b->id);
		queue_stmt_done(st);
		return step == SQLITE_DONE ? 1 : -1;
	}
	if (queue_col_int(st, 0, 1, INT64_MAX, &rowid) == -1 ||
	    queue_col_int(st, 1, 0, INT_MAX, &size) == -1 ||
	    (!first && (size_t)size != b->size)) {
		queue_log_corrupt(b->id, "size");
		queue_stmt_done(st);
		return -1;
	}
	if (sqlite3_blob_open(c->db, "main", "bodies", "data", rowid, 0,
	    &b->blob) != SQLITE_OK) {
		queue_log_sqlerr(c->db, "body_open", b->id);
		sqlite3_blob_close(b->blob);
		b->blob = NULL;
		queue_stmt_done(st);
		return -1;
	}
	queue_stmt_done(st);
	if (sqlite3_blob_bytes(b->blob) != size) {
		queue_log_corrupt(b->id, "body");
		sqlite3_blob_close(b->blob);
		b->blob = NULL;
		return -1;
	}
	b->size = (size_t)size;
	return 0;
}

/*
 * Each stream borrows its own read-only connection: an open blob handle
 * keeps its connection's read transaction open, and if all streams shared
 * one connection (or the connection used for due queries), overlapping
 * relays would pin one old snapshot forever, hide newer messages and stop
 * WAL checkpoints from ever resetting the log.
 */
struct queue_body *
queue_body_open(struct queue *q, const char *id)
{
	struct queue_body *b;
	int rc;

	if (q == NULL || !queue_id_ok(id))
		return NULL;
	b = xcalloc(1, sizeof(*b));
	b->q = q;
	mh_strlcpy(b->id, id, sizeof(b->id));
	if ((b->bc = queue_bconn_get(q)) == NULL) {
		free(b);
		return NULL;
	}
	if ((rc = queue_body_attach(b, true)) != 0) {
		if (rc == 1)
			log_debug("event=queue_body id=%s err=\"unknown\"", id);
		queue_bconn_put(q, b->bc);
		free(b);
		return NULL;
	}
	q->nbodies++;
	return b;
}

long
queue_body_read(struct queue_body *b, void *buf, size_t len)
{
	size_t n;
	int rc, tries;

	if (b->off >= b->size || len == 0)
		return 0;
	n = b->size - b->off;
	if (n > len)
		n = len;
	if (n > INT_MAX)
		n = INT_MAX;
	for (tries = 0;; tries++) {
		if (b->blob == NULL && queue_body_attach(b, false) != 0)
			return -1;
		rc = sqlite3_blob_read(b->blob, buf, (int)n, (int)b->off);
		if (rc == SQLITE_OK)
			break;
		if (rc == SQLITE_ABORT && tries == 0) {
			/* Expired handle: a new one, same offset. */
			log_debug("event=queue_body id=%s reopen off=%zu",
			    b->id, b->off);
			sqlite3_blob_close(b->blob);
			b->blob = NULL;
			continue;
		}
		queue_log_sqlerr(b->bc->c.db, "body_read", b->id);
		return -1;
	}
	b->off += n;
	return (long)n;
}

size_t
queue_body_size(const struct queue_body *b)
{
	return b->size;
}

void
queue_body_close(struct queue_body *b)
{
	if (b == NULL)
		return;
	/* Closing a read-only handle ends the read transaction. */
	sqlite3_blob_close(b->blob);
	queue_bconn_put(b->q, b->bc);
	b->q->nbodies--;
	free(b);
}

void
queue_body_expire_(struct queue_body *b)
{
	sqlite3_blob_close(b->blob);
	b->blob = NULL;
}

/* ------------------------------------------------------------------ */
/* policy history (loop thread, read connection) */

#define QUEUE_HISTORY_DOMAINS_MAX	100000
#define QUEUE_RECENT_ROWS_MAX		20000
#define QUEUE_RECENT_RULES_MAX		(QUEUE_FINDINGS_MAX * 32)

void
queue_history_clear(struct queue_history *h)
{
	size_t i, j;

	for (i = 0; i < h->naddrs; i++)
		free(h->addrs[i]);
	free(h->addrs);
	for (i = 0; i < h->ndomains; i++)
		free(h->domains[i]);
	free(h->domains);
	for (i = 0; i < h->nrecent; i++) {
		for (j = 0; j < h->recent[i].nrcpts; j++)
			free(h->recent[i].rcpts[j]);
		free(h->recent[i].rcpts);
		free(h->recent[i].known);
		free(h->recent[i].rules);
	}
	free(h->recent);
	memset(h, 0, sizeof(*h));
}

static void
queue_strv_push(char ***v, size_t *n, size_t *cap, const char *s)
{
	if (*n == *cap) {
		*cap = *cap ? *cap * 2 : 16;
		*v = xreallocarray(*v, *cap, sizeof(**v));
	}
	(*v)[(*n)++] = xstrdup(s);
}

int
queue_history_load(struct queue *q, const char *sender_key,
    const char *const *rcpts, size_t nrcpts, int64_t since,
    struct queue_history *h)
{
	char key[QUEUE_ADDR_MAX + 1], addr[QUEUE_ADDR_MAX + 1];
	const unsigned char *t;
	size_t i, cap = 0, dcap = 0, rcap = 0, ccap = 0, kcap;
	sqlite3_stmt *st;
	char cur[QUEUE_ID_LEN + 1] = "";
	int rc;

	memset(h, 0, sizeof(*h));
	if (mh_strlcpy(key, sender_key, sizeof(key)) >= sizeof(key))
		return -1;
	for (i = 0; key[i]; i++)
		key[i] = (char)mh_tolower((unsigned char)key[i]);

	/* This message's recipients that the sender has written to. */
	if ((st = queue_stmt(&q->r, QUEUE_SQL_HISTORY_KNOWN)) == NULL)
		return -1;
	for (i = 0; i < nrcpts; i++) {
		size_t k;
		if (mh_strlcpy(addr, rcpts[i], sizeof(addr)) >= sizeof(addr))
			continue;
		for (k = 0; addr[k]; k++)
			addr[k] = (char)mh_tolower((unsigned char)addr[k]);
		sqlite3_reset(st);
		if (sqlite3_bind_text(st, 1, key, -1, SQLITE_STATIC) !=
		    SQLITE_OK || sqlite3_bind_text(st, 2, addr, -1,
		    SQLITE_STATIC) != SQLITE_OK)
			goto fail_st;
		rc = sqlite3_step(st);
		if (rc == SQLITE_ROW)
			queue_strv_push(&h->addrs, &h->naddrs, &cap, addr);
		else if (rc != SQLITE_DONE)
			goto fail_st;
	}
	queue_stmt_done(st);

	/* Every domain the organisation has delivered to. */
	if ((st = queue_stmt(&q->r, QUEUE_SQL_HISTORY_DOMAINS)) == NULL)
		goto fail;
	sqlite3_bind_int(st, 1, QUEUE_HISTORY_DOMAINS_MAX);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW)
		if ((t = sqlite3_column_text(st, 0)) != NULL &&
		    strlen((const char *)t) <= 255)
			queue_strv_push(&h->domains, &h->ndomains, &dcap,
			    (const char *)t);
	queue_stmt_done(st);
	if (rc != SQLITE_DONE)
		goto fail;

	/* This sender's recent submissions, any state, newest first. */
	if ((st = queue_stmt(&q->r, QUEUE_SQL_RECENT)) == NULL)
		goto fail;
	if (sqlite3_bind_text(st, 1, key, -1, SQLITE_STATIC) != SQLITE_OK ||
	    sqlite3_bind_int64(st, 2, since) != SQLITE_OK ||
	    sqlite3_bind_int(st, 3, QUEUE_RECENT_ROWS_MAX) != SQLITE_OK)
		goto fail_st;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		const unsigned char *id = sqlite3_column_text(st, 0);
		struct queue_recent *r;

		t = sqlite3_column_text(st, 2);
		if (id == NULL || t == NULL ||
		    !queue_id_ok((const char *)id))
			continue;
		if (strcmp(cur, (const char *)id) != 0) {
			if (h->nrecent == rcap) {
				rcap = rcap ? rcap * 2 : 16;
				h->recent = xreallocarray(h->recent, rcap,
				    sizeof(*h->recent));
			}
			r = &h->recent[h->nrecent++];
			memset(r, 0, sizeof(*r));
			r->time = sqlite3_column_int64(st, 1);
			/* Rule names, re-checked: "a,b", bounded. */
			if ((t = sqlite3_column_text(st, 3)) != NULL &&
			    strlen((const char *)t) <= QUEUE_RECENT_RULES_MAX &&
			    strspn((const char *)t, "abcdefghijklmnopqrstuvwxyz"
			    "_,") == strlen((const char *)t))
				r->rules = xstrdup((const char *)t);
			r->released = sqlite3_column_int(st, 4) != 0;
			mh_strlcpy(cur, (const char *)id, sizeof(cur));
			ccap = 0;
		}
		r = &h->recent[h->nrecent - 1];
		kcap = ccap;
		queue_strv_push(&r->rcpts, &r->nrcpts, &ccap,
		    (const char *)sqlite3_column_text(st, 2));
		if (ccap != kcap)	/* known[] has the size of rcpts[] */
			r->known = xreallocarray(r->known, ccap,
			    sizeof(*r->known));
		r->known[r->nrcpts - 1] = sqlite3_column_int(st, 5) != 0;
	}
	queue_stmt_done(st);
	if (rc != SQLITE_DONE)
		goto fail;
	return 0;
fail_st:
	queue_stmt_done(st);
fail:
	queue_log_sqlerr(q->r.db, "history", sender_key);
	queue_history_clear(h);
	return -1;
}

/* ------------------------------------------------------------------ */
/* awaiting_release expiry */

int
queue_next_expiry(struct queue *q, int64_t *when)
{
	sqlite3_stmt *st;
	int rc;

	if ((st = queue_stmt(&q->r, QUEUE_SQL_NEXT_EXPIRY)) == NULL)
		return -1;
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW)
		*when = sqlite3_column_int64(st, 0);
	queue_stmt_done(st);
	return rc == SQLITE_ROW ? 0 : rc == SQLITE_DONE ? 1 : -1;
}

int
queue_expired_list(struct queue *q, int64_t now, size_t max,
    char (*ids)[QUEUE_ID_LEN + 1], size_t *n)
{
	sqlite3_stmt *st;
	const unsigned char *t;
	int rc;

	*n = 0;
	if ((st = queue_stmt(&q->r, QUEUE_SQL_EXPIRED_LIST)) == NULL)
		return -1;
	sqlite3_bind_int64(st, 1, now);
	sqlite3_bind_int64(st, 2, (sqlite3_int64)max);
	while (*n < max && (rc = sqlite3_step(st)) == SQLITE_ROW)
		if ((t = sqlite3_column_text(st, 0)) != NULL &&
		    queue_id_ok((const char *)t))
			mh_strlcpy(ids[(*n)++], (const char *)t,
			    QUEUE_ID_LEN + 1);
	queue_stmt_done(st);
	return 0;
}

/* ------------------------------------------------------------------ */
/* Listings for mailholdctl                                            */
/* ------------------------------------------------------------------ */

void
queue_summary_free(struct queue_summary *v, size_t n)
{
	size_t i;

	if (v == NULL)
		return;
	for (i = 0; i < n; i++) {
		free(v[i].sender);
		free(v[i].auth_user);
		free(v[i].verdict);
		free(v[i].subject);
	}
	free(v);
}

int
queue_list(struct queue *q, unsigned state_mask, const char *sender_key,
    size_t max, struct queue_summary **out, size_t *n)
{
	struct queue_summary *v = NULL, *e;
	sqlite3_stmt *st;
	char *s;
	int64_t cnt;
	int i, step = SQLITE_DONE;
	bool ok = true;

	*out = NULL;
	*n = 0;
	if (max == 0)
		return 0;
	if ((st = queue_stmt(&q->r, QUEUE_SQL_LIST)) == NULL)
		return -1;
	for (i = 0; i <= QUEUE_STATE_MAX; i++)
		if (state_mask & (1u << i))
			ok &= sqlite3_bind_text(st, i + 1, queue_state_names[i],
			    -1, SQLITE_STATIC) == SQLITE_OK;
	if (sender_key != NULL)
		ok &= sqlite3_bind_text(st, 8, sender_key, -1,
		    SQLITE_STATIC) == SQLITE_OK;
	ok &= sqlite3_bind_int64(st, 9, max > INT64_MAX ? INT64_MAX :
	    (sqlite3_int64)max) == SQLITE_OK;
	if (!ok) {
		queue_log_sqlerr(q->r.db, "list", NULL);
		queue_stmt_done(st);
		return -1;
	}
	v = xreallocarray(NULL, max < 64 ? max : 64, sizeof(*v));
	while (*n < max && (step = sqlite3_step(st)) == SQLITE_ROW) {
		if (*n >= 64 && (*n & (*n - 1)) == 0)
			v = xreallocarray(v, *n * 2 > max ? max : *n * 2,
			    sizeof(*v));
		e = &v[*n];
		memset(e, 0, sizeof(*e));
		/* Rows are validated again; a bad one is skipped. */
		if (queue_col_text(st, 0, false, &s) == -1 || !queue_id_ok(s)) {
			free(s);
			queue_log_corrupt("-", "id");
			continue;
		}
		mh_strlcpy(e->id, s, sizeof(e->id));
		free(s);
		if ((e->state = queue_col_state(st, 1)) == -1 ||
		    queue_col_text(st, 2, false, &e->sender) == -1 ||
		    queue_col_text(st, 3, true, &e->auth_user) == -1 ||
		    queue_col_int(st, 4, 1, INT64_MAX, &e->received_at) == -1 ||
		    queue_col_int(st, 5, 0, INT64_MAX, &e->release_at) == -1 ||
		    queue_col_int(st, 6, 0, INT64_MAX, &e->next_attempt) == -1 ||
		    queue_col_text_max(st, 7, true, QUEUE_VERDICT_MAX,
		    &e->verdict) == -1 ||
		    queue_col_int(st, 8, 0, QUEUE_RCPTS_MAX, &cnt) == -1 ||
		    queue_col_text_max(st, 9, true, QUEUE_SUBJECT_MAX,
		    &e->subject) == -1) {
			queue_log_corrupt(e->id, "list");
			free(e->sender);
			free(e->auth_user);
			free(e->verdict);
			free(e->subject);
			continue;
		}
		e->nrcpts = (size_t)cnt;
		(*n)++;
	}
	if (*n < max && step != SQLITE_DONE) {
		queue_log_sqlerr(q->r.db, "list", NULL);
		queue_stmt_done(st);
		queue_summary_free(v, *n);
		*n = 0;
		return -1;
	}
	queue_stmt_done(st);
	*out = v;
	return 0;
}

void
queue_audit_free(struct queue_audit *v, size_t n)
{
	size_t i;

	if (v == NULL)
		return;
	for (i = 0; i < n; i++) {
		free(v[i].actor);
		free(v[i].from_state);
		free(v[i].to_state);
		free(v[i].why);
	}
	free(v);
}

int
queue_audit_load(struct queue *q, const char *id, size_t max,
    struct queue_audit **out, size_t *n)
{
	struct queue_audit *v, *e;
	sqlite3_stmt *st;
	int step = SQLITE_DONE;

	*out = NULL;
	*n = 0;
	if (max == 0 || !queue_id_ok(id))
		return max == 0 ? 0 : -1;
	if ((st = queue_stmt(&q->r, QUEUE_SQL_AUDIT_LOAD)) == NULL)
		return -1;
	if (sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC) != SQLITE_OK ||
	    sqlite3_bind_int64(st, 2, max > INT64_MAX ? INT64_MAX :
	    (sqlite3_int64)max) != SQLITE_OK) {
		queue_log_sqlerr(q->r.db, "audit_load", id);
		queue_stmt_done(st);
		return -1;
	}
	v = xreallocarray(NULL, max, sizeof(*v));
	while (*n < max && (step = sqlite3_step(st)) == SQLITE_ROW) {
		e = &v[*n];
		memset(e, 0, sizeof(*e));
		if (queue_col_int(st, 0, 0, INT64_MAX, &e->at) == -1 ||
		    queue_col_text(st, 1, false, &e->actor) == -1 ||
		    queue_col_text(st, 2, true, &e->from_state) == -1 ||
		    queue_col_text(st, 3, false, &e->to_state) == -1 ||
		    queue_col_text(st, 4, true, &e->why) == -1) {
			queue_log_corrupt(id, "audit");
			free(e->actor);
			free(e->from_state);
			free(e->to_state);
			free(e->why);
			continue;
		}
		(*n)++;
	}
	if (*n < max && step != SQLITE_DONE) {
		queue_log_sqlerr(q->r.db, "audit_load", id);
		queue_stmt_done(st);
		queue_audit_free(v, *n);
		*n = 0;
		return -1;
	}
	queue_stmt_done(st);
	*out = v;
	return 0;
}

/* ------------------------------------------------------------------ */
/* The sender's page                                                   */
/* ------------------------------------------------------------------ */

int
queue_token_find(struct queue *q, const char *selector,
    struct queue_token *out, char msg_id[QUEUE_ID_LEN + 1])
{
	sqlite3_stmt *st;
	char *s = NULL;
	const void *h, *c;
	int step, rc = -1;

	memset(out, 0, sizeof(*out));
	if (strlen(selector) != QUEUE_TOKEN_SEL_LEN ||
	    !queue_token_sel_ok(selector))
		return 1;
	if ((st = queue_stmt(&q->r, QUEUE_SQL_TOKEN_FIND)) == NULL)
		return -1;
	if (sqlite3_bind_text(st, 1, selector, -1, SQLITE_STATIC) !=
	    SQLITE_OK) {
		queue_log_sqlerr(q->r.db, "token_find", NULL);
		queue_stmt_done(st);
		return -1;
	}
	if ((step = sqlite3_step(st)) == SQLITE_DONE) {
		queue_stmt_done(st);
		return 1;
	}
	if (step != SQLITE_ROW) {
		queue_log_sqlerr(q->r.db, "token_find", NULL);
		queue_stmt_done(st);
		return -1;
	}
	if (queue_col_text(st, 0, false, &s) == -1 || !queue_id_ok(s) ||
	    sqlite3_column_type(st, 1) != SQLITE_BLOB ||
	    sqlite3_column_bytes(st, 1) != QUEUE_TOKEN_HASH_LEN ||
	    (h = sqlite3_column_blob(st, 1)) == NULL ||
	    sqlite3_column_type(st, 2) != SQLITE_BLOB ||
	    sqlite3_column_bytes(st, 2) != QUEUE_TOKEN_CSRF_LEN ||
	    (c = sqlite3_column_blob(st, 2)) == NULL ||
	    queue_col_int(st, 3, 0, INT64_MAX, &out->created_at) == -1) {
		queue_log_corrupt(s && queue_id_ok(s) ? s : "-", "token");
		goto done;
	}
	mh_strlcpy(out->selector, selector, sizeof(out->selector));
	memcpy(out->hash, h, QUEUE_TOKEN_HASH_LEN);
	memcpy(out->csrf, c, QUEUE_TOKEN_CSRF_LEN);
	mh_strlcpy(msg_id, s, QUEUE_ID_LEN + 1);
	rc = 0;
done:
	free(s);
	queue_stmt_done(st);
	return rc;
}

/* Splits an LF-separated list into f->rcpts; -1 when it is malformed. */
static int
queue_finding_rcpts(struct queue_finding *f, const char *list)
{
	const char *p = list, *e;

	if (*list == '\0')
		return 0;
	f->rcpts = xcalloc(QUEUE_FINDING_RCPTS_MAX, sizeof(*f->rcpts));
	for (;;) {
		e = strchr(p, '\n');
		if (e == p || *p == '\0' ||
		    f->nrcpts == QUEUE_FINDING_RCPTS_MAX)
			return -1;
		f->rcpts[f->nrcpts++] = e ? xstrndup(p, (size_t)(e - p)) :
		    xstrdup(p);
		if (e == NULL)
			return 0;
		p = e + 1;
	}
}

int
queue_findings_load(struct queue *q, const char *id,
    struct queue_finding **out, size_t *n)
{
	struct queue_finding *v, *f;
	sqlite3_stmt *st;
	char *list;
	int64_t idx;
	int step;

	*out = NULL;
	*n = 0;
	if (!queue_id_ok(id))
		return -1;
	if ((st = queue_stmt(&q->r, QUEUE_SQL_FINDINGS_LOAD)) == NULL)
		return -1;
	if (sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC) != SQLITE_OK ||
	    sqlite3_bind_int64(st, 2, QUEUE_FINDINGS_MAX) != SQLITE_OK) {
		queue_log_sqlerr(q->r.db, "findings", id);
		queue_stmt_done(st);
		return -1;
	}
	v = xcalloc(QUEUE_FINDINGS_MAX, sizeof(*v));
	while ((step = sqlite3_step(st)) == SQLITE_ROW) {
		f = &v[*n];
		list = NULL;
		if (queue_col_int(st, 0, (int64_t)*n, (int64_t)*n, &idx) == -1 ||
		    queue_col_text(st, 1, false, &f->rule) == -1 ||
		    queue_col_text(st, 2, false, &f->severity) == -1 ||
		    queue_col_text_max(st, 3, false, QUEUE_FRCPTS_MAX,
		    &list) == -1 ||
		    queue_finding_rcpts(f, list) == -1 ||
		    queue_col_text(st, 4, true, &f->suggestion) == -1 ||
		    queue_col_text(st, 5, false, &f->msg_en) == -1 ||
		    queue_col_text(st, 6, false, &f->msg_ja) == -1) {
			free(list);
			(*n)++;
			queue_log_corrupt(id, "finding");
			queue_stmt_done(st);
			queue_findings_free(v, *n);
			*n = 0;
			return -1;
		}
		free(list);
		(*n)++;
	}
	if (step != SQLITE_DONE) {
		queue_log_sqlerr(q->r.db, "findings", id);
		queue_stmt_done(st);
		queue_findings_free(v, *n);
		*n = 0;
		return -1;
	}
	queue_stmt_done(st);
	*out = v;
	return 0;
}

/* ------------------------------------------------------------------ */
/* Run-time hold windows                                               */
/* ------------------------------------------------------------------ */

int
queue_hold_set(struct queue *q, int scope, const char *key, int64_t hold,
    int64_t resched, const char *actor, int64_t *changed, queue_done_cb *cb,
    void *arg)
{
	struct queue_req *r;

	if (q == NULL || q->closing || scope < 0 || scope > QUEUE_HOLD_DOMAIN ||
	    key == NULL || strlen(key) > 255 ||
	    (scope == QUEUE_HOLD_DEFAULT) != (*key == '\0') ||
	    (scope == QUEUE_HOLD_DOMAIN && key[strspn(key,
	    "abcdefghijklmnopqrstuvwxyz0123456789.-")] != '\0') ||
	    actor == NULL || changed == NULL) {
		log_warnx("event=queue_error op=hold_set err=\"invalid "
		    "request\"");
		return -1;
	}
	r = xcalloc(1, sizeof(*r));
	r->type = QUEUE_REQ_HOLD;
	r->cb = cb;
	r->arg = arg;
	mh_strlcpy(r->id, "-", sizeof(r->id));
	r->u.hold.scope = scope;
	r->u.hold.key = xstrdup(key);
	r->u.hold.hold = hold;
	r->u.hold.resched = resched;
	r->u.hold.actor = xstrdup(actor);
	r->u.hold.changed = changed;
	queue_req_push(q, r);
	return 0;
}

void
queue_holds_free(struct queue_hold *v, size_t n)
{
	size_t i;

	if (v == NULL)
		return;
	for (i = 0; i < n; i++) {
		free(v[i].key);
		free(v[i].set_by);
	}
	free(v);
}

int
queue_holds_load(struct queue *q, struct queue_hold **out, size_t *n)
{
	struct queue_hold *v, *h;
	sqlite3_stmt *st;
	char *scope;
	int step, sc;

	*out = NULL;
	*n = 0;
	if ((st = queue_stmt(&q->r, QUEUE_SQL_HOLDS_LOAD)) == NULL)
		return -1;
	if (sqlite3_bind_int64(st, 1, QUEUE_HOLDS_MAX) != SQLITE_OK) {
		queue_stmt_done(st);
		return -1;
	}
	v = xcalloc(QUEUE_HOLDS_MAX, sizeof(*v));
	while ((step = sqlite3_step(st)) == SQLITE_ROW) {
		h = &v[*n];
		scope = NULL;
		if (queue_col_text(st, 0, false, &scope) == -1) {
			queue_log_corrupt("-", "holds.scope");
			continue;
		}
		for (sc = 0; sc <= QUEUE_HOLD_DOMAIN; sc++)
			if (strcmp(scope, queue_hold_scopes[sc]) == 0)
				break;
		free(scope);
		if (sc > QUEUE_HOLD_DOMAIN ||
		    queue_col_text(st, 1, false, &h->key) == -1 ||
		    queue_col_int(st, 2, 0, INT64_MAX, &h->hold) == -1 ||
		    queue_col_int(st, 3, 0, INT64_MAX, &h->set_at) == -1 ||
		    queue_col_text(st, 4, false, &h->set_by) == -1) {
			free(h->key);
			free(h->set_by);
			memset(h, 0, sizeof(*h));
			queue_log_corrupt("-", "holds");
			continue;
		}
		h->scope = sc;
		(*n)++;
	}
	queue_stmt_done(st);
	if (step != SQLITE_DONE) {
		queue_log_sqlerr(q->r.db, "holds", NULL);
		queue_holds_free(v, *n);
		*n = 0;
		return -1;
	}
	*out = v;
	return 0;
}

int
queue_oldest(struct queue *q, int64_t *received_at)
{
	sqlite3_stmt *st;
	int rc, r = -1;

	if ((st = queue_stmt(&q->r, QUEUE_SQL_OLDEST)) == NULL)
		return -1;
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		if (sqlite3_column_type(st, 0) == SQLITE_NULL)
			r = 1;
		else {
			*received_at = sqlite3_column_int64(st, 0);
			r = 0;
		}
	} else
		queue_log_sqlerr(q->r.db, "oldest", NULL);
	queue_stmt_done(st);
	return r;
}

/* ------------------------------------------------------------------ */
/* Retention                                                           */
/* ------------------------------------------------------------------ */

int
queue_purge(struct queue *q, int64_t before, size_t max, int64_t *count,
    queue_done_cb *cb, void *arg)
{
	struct queue_req *r;

	if (q == NULL || q->closing || max == 0 || count == NULL)
		return -1;
	r = xcalloc(1, sizeof(*r));
	r->type = QUEUE_REQ_PURGE;
	r->cb = cb;
	r->arg = arg;
	mh_strlcpy(r->id, "-", sizeof(r->id));
	r->u.purge.before = before;
	r->u.purge.max = max > INT64_MAX ? INT64_MAX : (int64_t)max;
	r->u.purge.count = count;
	*count = 0;
	queue_req_push(q, r);
	return 0;
}

/* ------------------------------------------------------------------ */
/* Wall clock steps                                                    */
/* ------------------------------------------------------------------ */

int
queue_shift_times(struct queue *q, int64_t delta, int64_t old_end,
    int64_t *count, queue_done_cb *cb, void *arg)
{
	struct queue_req *r;

	if (q == NULL || q->closing || count == NULL)
		return -1;
	r = xcalloc(1, sizeof(*r));
	r->type = QUEUE_REQ_SHIFT;
	r->cb = cb;
	r->arg = arg;
	mh_strlcpy(r->id, "-", sizeof(r->id));
	r->u.shift.delta = delta;
	r->u.shift.old_end = old_end;
	r->u.shift.count = count;
	queue_req_push(q, r);
	return 0;
}
