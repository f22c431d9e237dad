/*
 * control.h - the unix control socket that mailholdctl talks to.
 *
 * The daemon listens on control.socket (AF_UNIX stream, created with
 * control.mode and given control.group; a stale socket file that nobody
 * listens on is removed at start).  The kernel's permission check on the
 * socket file is the access control; the peer's uid/gid/pid
 * (SO_PEERCRED) are logged with every request and name the actor of the
 * audit rows ("ctl:uid=N").
 *
 * Protocol: the client sends ONE request line, at most CONTROL_LINE_MAX
 * octets including the final LF; tokens are separated by one space;
 * NUL, CR and other control characters are refused.  The daemon answers
 * with one JSON object on one line and closes the connection:
 *
 *   {"ok":true,"text":"...","result":...}
 *   {"ok":false,"error":"unknown id","text":"...","result":...}
 *
 * The members come in this order ("error" only when ok is false); "text"
 * is the human rendering mailholdctl prints without --json; "result"
 * is the data (omitted for a request that could not be parsed).
 * Requests:
 *   queue [--state S[,S...]] [--sender ADDR]   default held,
 *                                   awaiting_release,deferred
 *   show ID
 *   release ID... | release --sender ADDR       to held, due now
 *   cancel ID...  | cancel --sender ADDR        to cancelled
 *   stats
 *   reload                                      as SIGHUP
 *   hold get                                    every hold window
 *   hold set DURATION [--rule R | --user U | --domain D] [--reschedule]
 *   hold unset [--rule R | --user U | --domain D]
 * hold set/unset store the window in the queue database (it survives a
 * restart), with an admin_audit row naming the caller; it applies to
 * messages received from then on, and with --reschedule also to those
 * already held (their release becomes received + DURATION).  DURATION is
 * 0, 90s, 5m, 2h or 1d, at most hold.max.
 * release/cancel act on held, awaiting_release and deferred messages;
 * "result" lists every id with its own ok/error, and ok is false when
 * any of them failed.  --sender ADDR matches the sender key (the
 * authenticated user, else the envelope sender; ASCII case-insensitive).
 *
 * Thread: loop thread only.  Errors: control_new() NULL (logged);
 * control_parse_request() returns NULL or a static error string.
 */
#ifndef MH_PROXY_CONTROL_H
#define MH_PROXY_CONTROL_H

#include <stdbool.h>
#include <stddef.h>

#include "queue.h"

#define CONTROL_LINE_MAX	4096	/* request line, LF included */
#define CONTROL_IDS_MAX		200	/* ids in one request */
#define CONTROL_SENDER_MAX	320	/* --sender, octets */
#define CONTROL_SENDER_OPS_MAX	10000	/* messages one --sender acts on */

enum control_cmd {
	CONTROL_CMD_QUEUE = 0,
	CONTROL_CMD_SHOW,
	CONTROL_CMD_RELEASE,
	CONTROL_CMD_CANCEL,
	CONTROL_CMD_STATS,
	CONTROL_CMD_RELOAD,
	CONTROL_CMD_HOLD,
	CONTROL_CMD_BACKUP,
};

enum control_hold_op {
	CONTROL_HOLD_GET = 0,
	CONTROL_HOLD_SET,
	CONTROL_HOLD_UNSET,
};

#define CONTROL_HOLD_KEY_MAX	254
#define CONTROL_PATH_MAX	1024	/* backup FILE, octets */

/* One parsed request (large: allocate it, do not put it on the stack). */
struct control_request {
	enum control_cmd cmd;
	unsigned	 state_mask;	/* queue: bit 1 << state */
	bool		 by_sender;	/* release/cancel --sender, queue
					   --sender */
	char		 sender[CONTROL_SENDER_MAX + 1];  /* lowercased */
	size_t		 nids;
	char		 ids[CONTROL_IDS_MAX][QUEUE_ID_LEN + 1]; /* lower */
	/* hold: */
	enum control_hold_op hold_op;
	int		 hold_scope;	/* enum queue_hold_scope */
	char		 hold_key[CONTROL_HOLD_KEY_MAX + 1]; /* lowercased */
	int64_t		 hold_secs;
	bool		 reschedule;
	/* backup: */
	char		 path[CONTROL_PATH_MAX + 1];	/* absolute */
};

/* Parses one request line (without its LF; len octets, need not be
 * NUL-terminated).  Pure.  NULL on success, else why it is wrong. */
const char	*control_parse_request(const char *line, size_t len,
		    struct control_request *out);

struct config;
struct event_base;
struct control;

/* What the daemon lends the control socket.  reload: as SIGHUP; 0, or
 * -1 with a message in err.  nsessions: SMTP sessions open now. */
struct control_hooks {
	int	(*reload)(void *arg, char *err, size_t errsz);
	size_t	(*nsessions)(void *arg);
	/* The stored hold windows changed: load them again. */
	void	(*holds_changed)(void *arg);
	/* The config in force now (it changes on reload). */
	const struct config *(*config)(void *arg);
	void	*arg;
};

/* Creates the socket (control.socket, control.mode, control.group) and
 * listens.  Borrows q and hooks' arg for its lifetime. */
struct control	*control_new(struct event_base *, const struct config *,
		    struct queue *, const struct control_hooks *);
/* Closes every connection, the listener, and removes the socket file.
 * Call after queue_close() (so no queue completion is still owed to a
 * connection).  NULL is a no-op. */
void		 control_free(struct control *);

#endif
