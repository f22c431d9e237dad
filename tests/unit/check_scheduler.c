/*
 * check_scheduler.c - unit tests for queue/scheduler.c on a fake clock
 * (tests/unit/fake_clock.c, linked in place of policy/clock.c) and a
 * real SQLite queue in a temporary directory.
 *
 * No sleeps: the test moves the fake clock past the second the timer is
 * armed for and fires the timer itself (sched_fire_()), as libevent
 * would at that time.  Queue completions come from the real writer
 * thread; they are awaited by running the loop with EVLOOP_ONCE a
 * bounded number of times (a persistent 10 ms tick keeps each turn
 * short when nothing else is pending).
 */
#include <sys/types.h>

#include <dirent.h>
#include <limits.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <check.h>
#include <event2/event.h>
#include <event2/thread.h>

#include "fake_clock.h"
#include "log.h"
#include "queue.h"
#include "scheduler.h"
#include "scheduler_priv.h"
#include "util.h"

#define NITEMS(a)	(sizeof(a) / sizeof((a)[0]))
#define ST_MAXREL	256
#define ST_WAIT_ITER	1000	/* x 10 ms tick: 10 s at most */
#define T0		FAKE_CLOCK_T0
#define BIT(s)		(1u << (s))

static struct {
	char			 dir[64];
	char			 path[128];
	struct event_base	*base;
	struct event		*tick;
	struct queue		*q;
	struct sched		*sc;
	size_t			 cap;		/* the "relay": at most this
						   many in flight */
	int			 nrel;		/* release callbacks so far */
	int			 nfin;		/* attempts recorded */
	char			 rel[ST_MAXREL][QUEUE_ID_LEN + 1];
	int			 ndone;		/* test's own completions */
	int			 res;		/* the last one's result */
} fx;

/* ------------------------------------------------------------------ */
/* fixture and helpers */

static void	st_totals_tick(void);

static void
st_tick(evutil_socket_t fd, short what, void *arg)
{
	st_totals_tick();
}

/* As relay_capacity(): what is left of cap after those in flight. */
static size_t
st_capacity(void *arg)
{
	size_t inflight = (size_t)(fx.nrel - fx.nfin);

	return fx.cap > inflight ? fx.cap - inflight : 0;
}

static void
st_release(const char *id, void *arg)
{
	ck_assert_int_lt(fx.nrel, ST_MAXREL);
	mh_strlcpy(fx.rel[fx.nrel], id, sizeof(fx.rel[0]));
	fx.nrel++;
}

static void
st_done(int result, void *arg)
{
	fx.res = result;
	fx.ndone++;
}

static void
st_open(void)
{
	char err[256];

	err[0] = '\0';
	fx.q = queue_open(fx.base, fx.path, 0, 0, err, sizeof(err));
	ck_assert_msg(fx.q != NULL, "queue_open: %s", err);
}

static void
st_setup(void)
{
	struct timeval tv = { 0, 10000 };

	ck_assert_int_eq(evthread_use_pthreads(), 0);
	memset(&fx, 0, sizeof(fx));
	fake_clock_set_ms(T0 * 1000);
	mh_strlcpy(fx.dir, "/tmp/check_scheduler.XXXXXX", sizeof(fx.dir));
	ck_assert_ptr_nonnull(mkdtemp(fx.dir));
	ck_assert_int_ne(mh_snprintf(fx.path, sizeof(fx.path), "%s/queue.db",
	    fx.dir), -1);
	ck_assert_ptr_nonnull(fx.base = event_base_new());
	fx.tick = event_new(fx.base, -1, EV_PERSIST, st_tick, NULL);
	ck_assert_ptr_nonnull(fx.tick);
	ck_assert_int_eq(event_add(fx.tick, &tv), 0);
	st_open();
	fx.cap = 100;
}

static void
st_teardown(void)
{
	char p[PATH_MAX];
	struct dirent *de;
	DIR *d;

	if (fx.sc != NULL)
		sched_stop(fx.sc);
	queue_close(fx.q);		/* runs the last completions */
	sched_free(fx.sc);
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

/* Runs the loop until *counter reaches want, bounded; then a few more
 * turns so that nothing more is about to happen unseen. */
static void
st_wait(const int *counter, int want)
{
	int i;

	for (i = 0; i < ST_WAIT_ITER && *counter < want; i++)
		event_base_loop(fx.base, EVLOOP_ONCE);
	ck_assert_int_eq(*counter, want);
	for (i = 0; i < 5; i++)
		event_base_loop(fx.base, EVLOOP_NONBLOCK);
}

/* Runs the loop until *v reaches want, bounded. */
static void
st_wait_u64(const uint64_t *v, uint64_t want)
{
	int i;

	for (i = 0; i < ST_WAIT_ITER && *v < want; i++)
		event_base_loop(fx.base, EVLOOP_ONCE);
	ck_assert_uint_eq(*v, want);
}

/* Runs the loop until the scheduler's timer is armed for want, bounded
 * (a run in flight: its own state changes complete first). */
static void
st_wait_armed(int64_t want)
{
	int i;

	for (i = 0; i < ST_WAIT_ITER && sched_armed_at_(fx.sc) != want; i++)
		event_base_loop(fx.base, EVLOOP_ONCE);
	ck_assert_int_eq(sched_armed_at_(fx.sc), want);
}

/* Submits a message (two recipients) and waits for its commit. */
static void
st_put(enum queue_state state, int64_t release_at, char *idout)
{
	struct queue_msg_new *m;
	int want = fx.ndone + 1;

	m = xcalloc(1, sizeof(*m));
	queue_id_new(m->id);
	m->sender = xstrdup("alice@example.org");
	m->nrcpts = 2;
	m->rcpts = xcalloc(2, sizeof(*m->rcpts));
	m->rcpts[0] = xstrdup("bob@example.net");
	m->rcpts[1] = xstrdup("carol@example.net");
	m->client_addr = xstrdup("192.0.2.7");
	m->helo = xstrdup("laptop.example.org");
	m->received_at = mh_now();
	m->release_at = release_at;
	m->state = state;
	m->body = xstrdup("Subject: t\r\n\r\nhello\r\n");
	m->body_len = strlen(m->body);
	m->body_fd = -1;
	if (idout != NULL)
		mh_strlcpy(idout, m->id, QUEUE_ID_LEN + 1);
	ck_assert_int_eq(queue_submit(fx.q, m, st_done, NULL), 0);
	st_wait(&fx.ndone, want);
	ck_assert_int_eq(fx.res, 0);
}

/* The relay's part: records an attempt in which every recipient got
 * status (QUEUE_RCPT_PENDING: deferred until next), and waits. */
static void
st_attempt(const char *id, enum queue_state to, int status, int64_t next)
{
	struct queue_attempt *a;
	int want = fx.ndone + 1, i;

	a = xcalloc(1, sizeof(*a));
	mh_strlcpy(a->id, id, sizeof(a->id));
	a->new_state = to;
	a->next_attempt = next;
	a->last_error = to == QUEUE_DEFERRED ? xstrdup("451 try later") :
	    NULL;
	a->nrcpts = 2;
	a->rcpts = xcalloc(2, sizeof(*a->rcpts));
	for (i = 0; i < 2; i++) {
		a->rcpts[i].idx = i;
		a->rcpts[i].status = status;
		a->rcpts[i].reply = xstrdup(status == QUEUE_RCPT_SENT ?
		    "250 ok" : "451 try later");
	}
	fx.nfin++;	/* the relay is done with it (before the commit) */
	ck_assert_int_eq(queue_record_attempt(fx.q, a, st_done, NULL), 0);
	st_wait(&fx.ndone, want);
	ck_assert_int_eq(fx.res, 0);
}

static void
st_state(const char *id, unsigned from, enum queue_state to, int64_t next)
{
	int want = fx.ndone + 1;

	ck_assert_int_eq(queue_set_state(fx.q, id, from, to, next, "test",
	    "unit test", st_done, NULL), 0);
	st_wait(&fx.ndone, want);
	ck_assert_int_eq(fx.res, 0);
}

/* The stored state and attempts of a message. */
static int
st_msg_state(const char *id, int *attempts, int64_t *next)
{
	struct queue_msg *m;
	int state;

	ck_assert_ptr_nonnull(m = queue_msg_load(fx.q, id));
	state = m->state;
	if (attempts != NULL)
		*attempts = m->attempts;
	if (next != NULL)
		*next = m->next_attempt;
	queue_msg_free(m);
	return state;
}

/* sched_totals() expired, refreshed on each turn of the loop. */
static uint64_t st_expired;

static void
st_totals_tick(void)
{
	uint64_t rel;

	sched_totals(&rel, &st_expired);
}

static void
st_sched(void)
{
	fx.sc = sched_new(fx.base, fx.q, st_capacity, st_release, NULL);
	ck_assert_ptr_nonnull(fx.sc);
}

/* Moves the clock to unix second t (plus ms) and fires the timer, as
 * libevent would when that time comes. */
static void
st_at(int64_t t, int64_t ms)
{
	fake_clock_set_ms(t * 1000 + ms);
	sched_fire_(fx.sc);
}

/* ------------------------------------------------------------------ */
/* timers */

/* One timer at the earliest due time; each firing releases what is due
 * and nothing else, then re-arms for the next. */
START_TEST(test_timer_earliest)
{
	char a[QUEUE_ID_LEN + 1], b[QUEUE_ID_LEN + 1], c[QUEUE_ID_LEN + 1];
	int64_t left;

	st_put(QUEUE_HELD, T0 + 300, a);
	st_put(QUEUE_HELD, T0 + 100, b);
	st_put(QUEUE_HELD, T0 + 200, c);
	st_sched();
	/* The first look is at once (start), then the earliest due time. */
	st_wait_armed(T0 + 100);
	ck_assert_int_eq(fx.nrel, 0);
	/* libevent's own timer is really set 100 s out (fake clock at a
	 * whole second; a little real time has passed since). */
	left = sched_timer_left_ms_(fx.sc);
	ck_assert_int_le(left, 100 * 1000 + 50);	/* libevent's rounding */
	ck_assert_int_gt(left, 100 * 1000 - 5000);

	/* Fired a moment early (clock one ms short): nothing is due yet,
	 * and it comes back for the same second. */
	st_at(T0 + 99, 999);
	st_wait_armed(T0 + 100);
	ck_assert_int_eq(fx.nrel, 0);
	left = sched_timer_left_ms_(fx.sc);
	ck_assert_int_le(left, 50);	/* 1 ms, give or take */

	st_at(T0 + 100, 0);
	st_wait(&fx.nrel, 1);
	ck_assert_str_eq(fx.rel[0], b);
	ck_assert_int_eq(st_msg_state(b, NULL, NULL), QUEUE_RELEASING);
	ck_assert_int_eq(st_msg_state(c, NULL, NULL), QUEUE_HELD);
	/* The relay records the attempt; the queue's announcement of it
	 * makes the scheduler look again. */
	st_attempt(b, QUEUE_SENT, QUEUE_RCPT_SENT, -1);
	st_wait_armed(T0 + 200);

	/* Late (the loop was busy): both due ones go, oldest due first. */
	st_at(T0 + 400, 500);
	st_wait(&fx.nrel, 3);
	ck_assert_str_eq(fx.rel[1], c);
	ck_assert_str_eq(fx.rel[2], a);
	/* Nothing more is due: no timer. */
	ck_assert_int_eq(sched_armed_at_(fx.sc), INT64_MAX);
}
END_TEST

/* While the relay holds a released message, the timer is armed for the
 * next due one: it does not wait for the relay to report back. */
START_TEST(test_timer_next_while_relaying)
{
	char a[QUEUE_ID_LEN + 1], b[QUEUE_ID_LEN + 1];

	st_put(QUEUE_HELD, T0, a);
	st_put(QUEUE_HELD, T0 + 30, b);
	st_sched();
	st_wait(&fx.nrel, 1);
	ck_assert_str_eq(fx.rel[0], a);
	/* No attempt recorded, no wakeup: the release's own completion
	 * re-arms. */
	st_wait_armed(T0 + 30);
	st_at(T0 + 30, 0);
	st_wait(&fx.nrel, 2);
	ck_assert_str_eq(fx.rel[1], b);
}
END_TEST

/* A due time that is not a whole second away from now: the timer is set
 * for the start of that second, not a second early or late. */
START_TEST(test_timer_subsecond)
{
	int64_t left;

	fake_clock_set_ms((T0 + 10) * 1000 + 400);
	st_put(QUEUE_HELD, T0 + 12, NULL);
	st_sched();
	st_wait_armed(T0 + 12);
	left = sched_timer_left_ms_(fx.sc);
	/* 1.6 s (not 1 or 2), give or take the few ms between libevent's
	 * cached clocks and a busy machine's real time since. */
	ck_assert_int_le(left, 1650);
	ck_assert_int_gt(left, 1000);
}
END_TEST

/* A new message due earlier than the armed time re-arms the timer; a
 * later one leaves it.  Nobody tells the scheduler: the queue announces
 * the commit (queue_observe()). */
START_TEST(test_kick)
{
	char a[QUEUE_ID_LEN + 1], b[QUEUE_ID_LEN + 1];

	st_put(QUEUE_HELD, T0 + 1000, NULL);
	st_sched();
	st_wait_armed(T0 + 1000);

	st_put(QUEUE_HELD, T0 + 2000, a);
	st_wait_armed(T0 + 1000);

	st_put(QUEUE_HELD, T0 + 10, b);
	st_wait_armed(T0 + 10);

	st_at(T0 + 10, 0);
	st_wait(&fx.nrel, 1);
	ck_assert_str_eq(fx.rel[0], b);
	ck_assert_int_eq(st_msg_state(a, NULL, NULL), QUEUE_HELD);
}
END_TEST

/* Released from the page or mailholdctl (held, due now): it goes at
 * once, without waiting for the timer armed for later. */
START_TEST(test_release_now)
{
	char a[QUEUE_ID_LEN + 1];

	st_put(QUEUE_HELD, T0 + 3600, a);
	st_sched();
	st_wait_armed(T0 + 3600);
	fake_clock_advance_ms(5000);
	st_state(a, BIT(QUEUE_HELD), QUEUE_HELD, mh_now());
	st_wait(&fx.nrel, 1);
	ck_assert_str_eq(fx.rel[0], a);
}
END_TEST

/* hold set --reschedule moves held messages: the scheduler looks again
 * and arms for the new earliest time. */
START_TEST(test_reschedule)
{
	int64_t changed = -1;
	int want;

	st_put(QUEUE_HELD, T0 + 3600, NULL);
	st_sched();
	st_wait_armed(T0 + 3600);
	want = fx.ndone + 1;
	ck_assert_int_eq(queue_hold_set(fx.q, QUEUE_HOLD_DEFAULT, "", 60, 60,
	    "test", &changed, st_done, NULL), 0);
	st_wait(&fx.ndone, want);
	ck_assert_int_eq(fx.res, 0);
	ck_assert_int_eq(changed, 1);
	st_wait_armed(T0 + 60);
}
END_TEST

/* A message with its alert (due at once) in one submit: the alert goes
 * now, the message at its time. */
START_TEST(test_alert_now)
{
	struct queue_msg_new *m, *al;
	char aid[QUEUE_ID_LEN + 1];
	int want = fx.ndone + 1;

	st_put(QUEUE_HELD, T0 + 900, NULL);
	st_sched();
	st_wait_armed(T0 + 900);
	m = xcalloc(1, sizeof(*m));
	queue_id_new(m->id);
	m->sender = xstrdup("alice@example.org");
	m->nrcpts = 1;
	m->rcpts = xcalloc(1, sizeof(*m->rcpts));
	m->rcpts[0] = xstrdup("bob@example.net");
	m->received_at = mh_now();
	m->release_at = T0 + 600;
	m->state = QUEUE_HELD;
	m->body_fd = -1;
	al = xcalloc(1, sizeof(*al));
	queue_id_new(al->id);
	al->sender = xstrdup("");
	al->nrcpts = 1;
	al->rcpts = xcalloc(1, sizeof(*al->rcpts));
	al->rcpts[0] = xstrdup("alice@example.org");
	al->flags = QUEUE_F_NOTICE;
	al->received_at = mh_now();
	al->release_at = mh_now();
	al->state = QUEUE_HELD;
	al->body_fd = -1;
	m->alert = al;
	mh_strlcpy(aid, al->id, sizeof(aid));	/* the queue owns al now */
	ck_assert_int_eq(queue_submit(fx.q, m, st_done, NULL), 0);
	st_wait(&fx.ndone, want);
	ck_assert_int_eq(fx.res, 0);
	st_wait(&fx.nrel, 1);
	ck_assert_str_eq(fx.rel[0], aid);
	st_wait_armed(T0 + 600);
}
END_TEST

/* ------------------------------------------------------------------ */
/* backoff */

/* A deferred attempt comes back at its next_attempt, and again after
 * each further deferral; then it is sent and nothing is armed. */
START_TEST(test_backoff)
{
	static const int64_t waits[] = { 300, 600, 1200 };
	char a[QUEUE_ID_LEN + 1];
	int64_t next;
	int attempts;
	size_t i;

	st_put(QUEUE_HELD, T0, a);
	st_sched();
	st_wait(&fx.nrel, 1);
	for (i = 0; i < NITEMS(waits); i++) {
		next = mh_now() + waits[i];
		st_attempt(a, QUEUE_DEFERRED, QUEUE_RCPT_PENDING, next);
		st_wait_armed(next);
		ck_assert_int_eq(st_msg_state(a, &attempts, NULL),
		    QUEUE_DEFERRED);
		ck_assert_int_eq(attempts, (int)i + 1);
		/* Not a second early. */
		st_at(next - 1, 0);
		st_wait_armed(next);
		ck_assert_int_eq(fx.nrel, (int)i + 1);
		st_at(next, 0);
		st_wait(&fx.nrel, (int)i + 2);
		ck_assert_str_eq(fx.rel[i + 1], a);
	}
	st_attempt(a, QUEUE_SENT, QUEUE_RCPT_SENT, -1);
	st_wait(&fx.nrel, (int)NITEMS(waits) + 1);
	ck_assert_int_eq(st_msg_state(a, &attempts, NULL), QUEUE_SENT);
	ck_assert_int_eq(attempts, (int)NITEMS(waits) + 1);
	ck_assert_int_eq(sched_armed_at_(fx.sc), INT64_MAX);
}
END_TEST

/* ------------------------------------------------------------------ */
/* expiry */

/* awaiting_release never leaves by timer: at its expiry (release_at,
 * hold.max) it becomes cancelled; the timer covers both kinds. */
START_TEST(test_expiry)
{
	char a[QUEUE_ID_LEN + 1], h[QUEUE_ID_LEN + 1];
	uint64_t rel0, exp0, rel1, exp1;

	sched_totals(&rel0, &exp0);
	st_put(QUEUE_AWAITING_RELEASE, T0 + 50, a);
	st_put(QUEUE_HELD, T0 + 80, h);
	st_sched();
	st_wait_armed(T0 + 50);

	st_at(T0 + 49, 0);
	st_wait_armed(T0 + 50);
	ck_assert_int_eq(st_msg_state(a, NULL, NULL), QUEUE_AWAITING_RELEASE);

	st_at(T0 + 50, 0);
	st_wait_armed(T0 + 80);
	/* The totals move in the cancel's completion. */
	st_wait_u64(&st_expired, exp0 + 1);
	ck_assert_int_eq(st_msg_state(a, NULL, NULL), QUEUE_CANCELLED);
	ck_assert_int_eq(fx.nrel, 0);		/* cancelled, not released */

	st_at(T0 + 80, 0);
	st_wait(&fx.nrel, 1);
	ck_assert_str_eq(fx.rel[0], h);
	sched_totals(&rel1, &exp1);
	ck_assert_uint_eq(rel1 - rel0, 1);
	ck_assert_uint_eq(exp1 - exp0, 1);
}
END_TEST

/* A person's release before the expiry (awaiting -> held, due now)
 * wins: it is sent, not cancelled. */
START_TEST(test_expiry_released_first)
{
	char a[QUEUE_ID_LEN + 1];

	st_put(QUEUE_AWAITING_RELEASE, T0 + 50, a);
	st_sched();
	st_wait_armed(T0 + 50);
	fake_clock_advance_ms(10 * 1000);
	st_state(a, BIT(QUEUE_AWAITING_RELEASE), QUEUE_HELD, mh_now());
	st_wait(&fx.nrel, 1);
	st_at(T0 + 50, 0);
	ck_assert_int_eq(st_msg_state(a, NULL, NULL), QUEUE_RELEASING);
}
END_TEST

/* ------------------------------------------------------------------ */
/* recovery and capacity */

/* A message handed to the relay when the daemon stopped is due again at
 * the next start (releasing -> deferred, now) and released again. */
START_TEST(test_recovery)
{
	char a[QUEUE_ID_LEN + 1], b[QUEUE_ID_LEN + 1];
	int64_t next;
	int attempts;

	st_put(QUEUE_HELD, T0, a);
	st_put(QUEUE_HELD, T0 + 500, b);
	st_sched();
	st_wait(&fx.nrel, 1);
	ck_assert_int_eq(st_msg_state(a, NULL, NULL), QUEUE_RELEASING);

	/* Stop, as at shutdown or a crash: no attempt recorded. */
	sched_stop(fx.sc);
	queue_close(fx.q);
	sched_free(fx.sc);
	fx.sc = NULL;
	fake_clock_advance_ms(60 * 1000);
	st_open();
	ck_assert_int_eq(queue_recover(fx.q), 1);
	ck_assert_int_eq(st_msg_state(a, &attempts, &next), QUEUE_DEFERRED);
	ck_assert_int_eq(next, mh_now());
	ck_assert_int_eq(attempts, 0);
	ck_assert_int_eq(st_msg_state(b, NULL, NULL), QUEUE_HELD);

	st_sched();
	st_wait(&fx.nrel, 2);
	ck_assert_str_eq(fx.rel[1], a);
	st_wait_armed(T0 + 500);
}
END_TEST

/* Never more than the consumer can take; the rest goes when it says a
 * slot is free. */
START_TEST(test_capacity)
{
	char ids[5][QUEUE_ID_LEN + 1];
	int i;

	for (i = 0; i < 5; i++)
		st_put(QUEUE_HELD, T0 - 10 + i, ids[i]);
	fx.cap = 2;
	st_sched();
	st_wait(&fx.nrel, 2);
	ck_assert_str_eq(fx.rel[0], ids[0]);
	ck_assert_str_eq(fx.rel[1], ids[1]);
	/* Full: the release completions do not bring more. */
	for (i = 0; i < 20; i++)
		event_base_loop(fx.base, EVLOOP_ONCE);
	ck_assert_int_eq(fx.nrel, 2);

	/* One done: one slot (the attempt's commit says so). */
	st_attempt(ids[0], QUEUE_SENT, QUEUE_RCPT_SENT, -1);
	st_wait(&fx.nrel, 3);
	ck_assert_str_eq(fx.rel[2], ids[2]);
	for (i = 0; i < 20; i++)
		event_base_loop(fx.base, EVLOOP_ONCE);
	ck_assert_int_eq(fx.nrel, 3);

	/* More room without a commit: the consumer says so itself. */
	fx.cap = 10;
	sched_wakeup(fx.sc);
	st_wait(&fx.nrel, 5);
	ck_assert_int_eq(st_msg_state(ids[4], NULL, NULL), QUEUE_RELEASING);
}
END_TEST

/* After sched_stop() nothing is armed and nothing released. */
START_TEST(test_stop)
{
	st_put(QUEUE_HELD, T0 + 100, NULL);
	st_sched();
	st_wait_armed(T0 + 100);
	sched_stop(fx.sc);
	ck_assert_int_eq(sched_armed_at_(fx.sc), INT64_MAX);
	fake_clock_advance_ms(200 * 1000);
	sched_wakeup(fx.sc);
	st_put(QUEUE_HELD, mh_now(), NULL);	/* announced to nobody */
	ck_assert_int_eq(sched_armed_at_(fx.sc), INT64_MAX);
	ck_assert_int_eq(fx.nrel, 0);
}
END_TEST

/* ------------------------------------------------------------------ */

static Suite *
sched_suite(void)
{
	Suite *s = suite_create("scheduler");
	TCase *tc;

	tc = tcase_create("timers");
	tcase_add_checked_fixture(tc, st_setup, st_teardown);
	tcase_add_test(tc, test_timer_earliest);
	tcase_add_test(tc, test_timer_next_while_relaying);
	tcase_add_test(tc, test_timer_subsecond);
	tcase_add_test(tc, test_kick);
	tcase_add_test(tc, test_release_now);
	tcase_add_test(tc, test_reschedule);
	tcase_add_test(tc, test_alert_now);
	suite_add_tcase(s, tc);

	tc = tcase_create("backoff");
	tcase_add_checked_fixture(tc, st_setup, st_teardown);
	tcase_add_test(tc, test_backoff);
	suite_add_tcase(s, tc);

	tc = tcase_create("expiry");
	tcase_add_checked_fixture(tc, st_setup, st_teardown);
	tcase_add_test(tc, test_expiry);
	tcase_add_test(tc, test_expiry_released_first);
	suite_add_tcase(s, tc);

	tc = tcase_create("recovery");
	tcase_add_checked_fixture(tc, st_setup, st_teardown);
	tcase_add_test(tc, test_recovery);
	tcase_add_test(tc, test_capacity);
	tcase_add_test(tc, test_stop);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner *sr = srunner_create(sched_suite());
	int nf;

	if (getenv("MH_TEST_VERBOSE") == NULL)
		log_setlevel(LOG_LVL_ERR);
	srunner_run_all(sr, CK_NORMAL);
	nf = srunner_ntests_failed(sr);
	srunner_free(sr);
	return nf == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
