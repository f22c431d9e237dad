/*
 * main.c - mailhold daemon: arguments, signals, life cycle.
 *
 * Runs in the foreground (systemd, or a terminal); logs to stderr or
 * syslog.  SIGTERM/SIGINT: stop accepting, let sessions in flight finish
 * their message (never a 250 without a commit), let relays in flight
 * finish for a short grace time, commit what is queued, exit 0.  SIGHUP:
 * load and validate the config again, build the new TLS context (the
 * certificate and key are read again) and read the password file again,
 * then swap them in; if any step fails, everything running stays as it
 * was and the log says why.
 *
 * "mailhold passwd [-c config] [-f FILE] USER" creates or changes one
 * entry of the auth.password_file (yescrypt), reading the password from
 * the terminal (twice, without echo) or from the first line of stdin.
 */
#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>

#include <openssl/crypto.h>

#include <event2/event.h>
#include <event2/thread.h>

#include "auth.h"
#include "config.h"
#include "control.h"
#include "header.h"
#include "log.h"
#include "metrics.h"
#include "policy.h"
#include "queue.h"
#include "scheduler.h"
#include "screen.h"
#include "smtp_client.h"
#include "smtp_server.h"
#include "tls.h"
#include "web.h"
#include "util.h"

#define MAIN_RELAY_GRACE_MS	10000	/* relays in flight at SIGTERM */

struct main_ctx {
	struct event_base *base;
	struct config	*conf;
	const char	*path;
	struct queue	*q;
	struct relay	*relay;
	struct sched	*sched;
	struct smtp_server *srv;
	struct auth	*auth;
	struct control	*ctl;
	struct web	*web;
	struct screen_holds *holds;	/* run-time hold windows */
	struct metrics_http *metrics;
	struct metrics_lag *lag;
	int64_t		 started;
	uint64_t	 released_seen;	/* scheduler totals already counted */
	uint64_t	 expired_seen;
	struct event	*purge_ev;	/* queue.retention timer */
	int64_t		 purged;	/* last purge's count */
	bool		 purging;
	struct event	*drain_ev;
	int64_t		 drain_deadline;
	bool		 stopping;
	bool		 debug;
	/* server.user: started as root, the ids to drop to. */
	bool		 drop;		/* set when they are to be dropped */
	bool		 dropped;	/* done: secrets cannot be re-read */
	uid_t		 uid;
	gid_t		 gid;
};

static bool
main_streq(const char *a, const char *b)
{
	return a == b || (a != NULL && b != NULL && strcmp(a, b) == 0);
}

static void	main_usage_exit(int) __attribute__((noreturn));

static void
main_usage(void)
{
	main_usage_exit(2);
}

static void
main_usage_exit(int code)
{
	fprintf(stderr,
	    "usage: mailhold [-d] [-c config.yaml]\n"
	    "       mailhold --check-config -c config.yaml\n"
	    "       mailhold passwd [-c config.yaml] [-f FILE] USER\n"
	    "       mailhold check [-c config.yaml] [--from ADDR] [--to ADDR]...\n"
	    "                      [--user USER] [--explain] [--no-history] "
	    "message.eml\n"
	    "       mailhold -V\n");
	exit(code);
}

static void
main_drain_cb(evutil_socket_t fd, short ev, void *arg)
{
	struct main_ctx *m = arg;
	struct timeval tv = { 0, 100 * 1000 };

	if (relay_inflight(m->relay) == 0 ||
	    mh_mono_ms() >= m->drain_deadline) {
		if (relay_inflight(m->relay))
			log_info("event=shutdown relays_abandoned=%zu (they "
			    "will be sent again after restart)",
			    relay_inflight(m->relay));
		event_base_loopexit(m->base, NULL);
		return;
	}
	evtimer_add(m->drain_ev, &tv);
}

static void
main_sessions_done(void *arg)
{
	struct main_ctx *m = arg;

	log_info("event=shutdown sessions=0 relays=%zu",
	    relay_inflight(m->relay));
	m->drain_deadline = mh_mono_ms() + MAIN_RELAY_GRACE_MS;
	m->drain_ev = evtimer_new(m->base, main_drain_cb, m);
	main_drain_cb(-1, 0, m);
}

static void
main_sigterm_cb(evutil_socket_t sig, short ev, void *arg)
{
	struct main_ctx *m = arg;

	if (m->stopping)
		return;
	m->stopping = true;
	log_info("event=shutdown signal=%d sessions=%zu", (int)sig,
	    smtp_server_nsessions(m->srv));
	sched_stop(m->sched);
	event_del(m->purge_ev);
	web_stop(m->web);
	smtp_server_shutdown(m->srv, main_sessions_done, m);
}

/*
 * SIGHUP and "mailholdctl reload": load and validate the config, build the
 * new TLS context and read the password file again, then swap them in.
 * Returns 0, or -1 with why in err (everything running stays as it was).
 */
/* The reason quotes the config file (file:line:col, key, what is wrong):
 * escaped, so a quote in it cannot break the log line. */
static void
main_reload_failed(const char *err, const char *keeping)
{
	char esc[4200];

	log_warnx("event=reload result=failed error=\"%s\" keeping=\"%s\"",
	    mh_log_escape(err, strlen(err), 1000, esc, sizeof(esc)), keeping);
}

/*
 * notify.timezone: every time shown to people (alerts, the page, the
 * Received: date) is formatted with localtime_r(), so the zone is the
 * process's TZ, set here once, before any thread exists: setenv() is not
 * safe while another thread may read the environment, which is why the
 * key takes effect only at start (main_reload() says so).  Logs stay in
 * UTC (log.c uses gmtime_r()).
 */
static void
main_timezone(const struct config *conf)
{
	if (conf->notify_timezone != NULL &&
	    setenv("TZ", conf->notify_timezone, 1) == -1)
		fatal("event=start error=\"cannot set TZ\"");
	tzset();
	log_info("event=timezone zone=%s", conf->notify_timezone != NULL ?
	    conf->notify_timezone : "system");
}

static void	main_purge_arm(struct main_ctx *, int64_t);
static int64_t	main_purge_interval(const struct config *);

static int
main_reload(void *arg, char *err, size_t errsz)
{
	struct main_ctx *m = arg;
	struct config *nc;
	SSL_CTX *tls = NULL;

	if (m->path == NULL) {
		log_info("event=reload result=skipped reason=\"no config "
		    "file\"");
		mh_strlcpy(err, "no config file (started without -c)", errsz);
		return -1;
	}
	if ((nc = config_load(m->path, err, errsz)) == NULL) {
		main_reload_failed(err, "the running config");
		return -1;
	}
	/* Build everything new first; swap only if all of it is good.
	 * After the privilege drop (server.user) a key or password file
	 * may be readable by root only: the ones read at start stay, and a
	 * new path needs a restart. */
	if (config_has_tls(m->conf) && m->dropped &&
	    (!main_streq(nc->tls_cert_file, m->conf->tls_cert_file) ||
	    !main_streq(nc->tls_key_file, m->conf->tls_key_file)))
		log_warnx("event=reload note=\"tls.cert_file and tls.key_file "
		    "take effect after a restart (mailhold no longer runs as "
		    "root); keeping the certificate in use\"");
	else if (config_has_tls(m->conf) &&
	    (tls = tlsctx_new(nc, err, errsz)) == NULL) {
		if (!m->dropped) {
			main_reload_failed(err,
			    "the running config and certificate");
			config_unref(nc);
			return -1;
		}
		log_warnx("event=reload note=\"the certificate or key cannot be "
		    "read again as the unprivileged user, keeping the ones in "
		    "use\" error=\"%s\"", err);
	}
	if (m->auth != NULL && m->dropped &&
	    !main_streq(nc->auth_password_file,
	    m->conf->auth_password_file))
		log_warnx("event=reload note=\"auth.password_file takes effect "
		    "after a restart (mailhold no longer runs as root); "
		    "keeping the passwords in use\"");
	else if (m->auth != NULL && auth_reload(m->auth, nc, err, errsz) ==
	    -1) {
		if (!m->dropped) {
			main_reload_failed(err, "the running config");
			tlsctx_free(tls);
			config_unref(nc);
			return -1;
		}
		log_warnx("event=reload note=\"the password file cannot be "
		    "read again as the unprivileged user, keeping the "
		    "passwords in use\" error=\"%s\"", err);
	}
	if (tls != NULL) {
		smtp_server_set_tls(m->srv, tls);
		web_set_tls(m->web, tls);
		tlsctx_free(tls);
	}
	if (strcmp(nc->queue_path, m->conf->queue_path) != 0 ||
	    nc->nlisteners != m->conf->nlisteners)
		log_warnx("event=reload note=\"queue.path and "
		    "server.listeners take effect after a restart\"");
	if (nc->auth_backend != m->conf->auth_backend)
		log_warnx("event=reload note=\"auth.backend takes effect "
		    "after a restart\"");
	if (nc->web_enabled != m->conf->web_enabled ||
	    nc->web_tls != m->conf->web_tls ||
	    nc->web_port != m->conf->web_port ||
	    strcmp(nc->web_address, m->conf->web_address) != 0)
		log_warnx("event=reload note=\"web.enabled, web.tls, "
		    "web.address and web.port take effect after a restart\"");
	if (nc->metrics_enabled != m->conf->metrics_enabled ||
	    nc->metrics_port != m->conf->metrics_port ||
	    strcmp(nc->metrics_address, m->conf->metrics_address) != 0)
		log_warnx("event=reload note=\"metrics.enabled, "
		    "metrics.address and metrics.port take effect after a "
		    "restart\"");
	if ((nc->notify_timezone == NULL) !=
	    (m->conf->notify_timezone == NULL) ||
	    (nc->notify_timezone != NULL &&
	    strcmp(nc->notify_timezone, m->conf->notify_timezone) != 0))
		log_warnx("event=reload note=\"notify.timezone takes effect "
		    "after a restart\"");
	if (strcmp(nc->control_socket, m->conf->control_socket) != 0 ||
	    strcmp(nc->control_mode, m->conf->control_mode) != 0)
		log_warnx("event=reload note=\"control.* takes effect after a "
		    "restart\"");
	log_setlevel(m->debug ? LOG_LVL_DEBUG : nc->log_level);
	log_setformat(nc->log_format);
	/* web.port is not reloadable: the new config names the running
	 * listener's port (web.port: 0) before any module holds it. */
	if (m->web != NULL)
		config_web_bound(nc, web_port(m->web));
	smtp_server_set_config(m->srv, nc);
	relay_set_config(m->relay, nc);
	web_set_config(m->web, nc);
	metrics_http_set_config(m->metrics, nc);
	config_unref(m->conf);
	m->conf = nc;
	/* queue.retention may have changed: the next run follows it. */
	if (!m->purging)
		main_purge_arm(m, main_purge_interval(nc));
	log_info("event=reload result=ok");
	return 0;
}

static void
main_sighup_cb(evutil_socket_t sig, short ev, void *arg)
{
	char err[1024];

	(void)main_reload(arg, err, sizeof(err));
}

/* mailholdctl hold set/unset committed: load the windows again. */
static void
main_holds_changed(void *arg)
{
	struct main_ctx *m = arg;
	struct screen_holds *h;

	if ((h = screen_holds_load(m->q)) == NULL) {
		log_warnx("event=holds_load result=failed (keeping the "
		    "windows in force)");
		return;
	}
	smtp_server_set_holds(m->srv, h);
	screen_holds_free(m->holds);
	m->holds = h;
}

#define MAIN_PURGE_BATCH	1000	/* messages deleted per transaction */

/* Seconds to the next retention run: half the retention, 1 s to 10 min. */
static int64_t
main_purge_interval(const struct config *conf)
{
	int64_t s = conf->queue_retention / 2;

	return conf->queue_retention == 0 || s > 600 ? 600 : s < 1 ? 1 : s;
}

static void
main_purge_arm(struct main_ctx *m, int64_t secs)
{
	struct timeval tv = { (time_t)secs, 0 };

	if (!m->stopping)
		event_add(m->purge_ev, &tv);
}

static void
main_purge_done(int result, void *arg)
{
	struct main_ctx *m = arg;

	m->purging = false;
	if (result != 0)
		log_warnx("event=purge result=failed");
	else if (m->purged > 0)
		log_info("event=purge messages=%lld retention=%llds",
		    (long long)m->purged, (long long)m->conf->queue_retention);
	/* A full batch: more are due, go on soon. */
	main_purge_arm(m, result == 0 && m->purged == MAIN_PURGE_BATCH ? 1 :
	    main_purge_interval(m->conf));
}

/* queue.retention: sent, failed and cancelled messages go after it. */
static void
main_purge_cb(evutil_socket_t fd, short ev, void *arg)
{
	struct main_ctx *m = arg;

	if (m->purging || m->stopping)
		return;
	if (m->conf->queue_retention == 0) {
		main_purge_arm(m, 600);
		return;
	}
	m->purging = true;
	if (queue_purge(m->q, mh_now() - m->conf->queue_retention,
	    MAIN_PURGE_BATCH, &m->purged, main_purge_done, m) == -1) {
		m->purging = false;
		main_purge_arm(m, 600);
	}
}

/* A scrape: what only the daemon knows now. */
static void
main_gauges(struct metrics_gauges *g, void *arg)
{
	struct main_ctx *m = arg;
	uint64_t rel, exp, avail;
	int64_t oldest;
	int s;

	if (queue_count_states(m->q, g->queue) == -1)
		for (s = 0; s < METRICS_QUEUE_STATES; s++)
			g->queue[s] = 0;
	g->oldest_age = queue_oldest(m->q, &oldest) == 0 ?
	    mh_now() - oldest : -1;
	g->sessions = smtp_server_nsessions(m->srv);
	g->relay_connections = relay_nconns(m->relay);
	g->upstream_down = relay_upstream_down(m->relay);
	g->start_time = m->started;
	if (queue_space(m->q, &avail) == 0) {
		g->queue_free = avail > INT64_MAX ? INT64_MAX : (int64_t)avail;
		g->space_low = !queue_space_ok(avail, m->conf->queue_min_free,
		    0);
	}
	/* The scheduler lives in mh_queue and keeps plain totals. */
	sched_totals(&rel, &exp);
	metrics_add(METRICS_RELEASED, rel - m->released_seen);
	metrics_add(METRICS_CANCELLED_EXPIRY, exp - m->expired_seen);
	m->released_seen = rel;
	m->expired_seen = exp;
}

static const struct config *
main_config(void *arg)
{
	return ((struct main_ctx *)arg)->conf;
}

static size_t
main_nsessions(void *arg)
{
	struct main_ctx *m = arg;

	return smtp_server_nsessions(m->srv);
}

static int
main_mkdirs(const char *queue_path)
{
	char dir[4096], *p;

	if (mh_strlcpy(dir, queue_path, sizeof(dir)) >= sizeof(dir))
		return -1;
	if ((p = strrchr(dir, '/')) == NULL)
		return 0;
	*p = '\0';
	for (p = dir + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		if (mkdir(dir, 0700) == -1 && errno != EEXIST)
			return -1;
		*p = '/';
	}
	if (dir[0] && mkdir(dir, 0700) == -1 && errno != EEXIST)
		return -1;
	return 0;
}

/* Reads one password: from the terminal without echo (twice), else the
 * first line of stdin.  Returns a string to cleanse and free, or NULL. */
static char *
main_read_password(void)
{
	char a[AUTH_PASS_MAX + 2], b[AUTH_PASS_MAX + 2], *r = NULL;
	struct termios old, quiet;
	FILE *tty;
	bool echo_off = false;
	size_t n;

	tty = fopen("/dev/tty", "r+");
	if (tty != NULL && isatty(STDIN_FILENO) &&
	    tcgetattr(fileno(tty), &old) == 0) {
		quiet = old;
		quiet.c_lflag &= ~(tcflag_t)ECHO;
		echo_off = tcsetattr(fileno(tty), TCSAFLUSH, &quiet) == 0;
		fputs("Password: ", tty);
		fflush(tty);
		if (fgets(a, sizeof(a), tty) != NULL) {
			fputs("\nAgain: ", tty);
			fflush(tty);
			if (fgets(b, sizeof(b), tty) != NULL &&
			    strcmp(a, b) == 0)
				r = a;
			else
				fputs("\nmailhold: passwords differ", tty);
		}
		fputs("\n", tty);
		if (echo_off)
			(void)tcsetattr(fileno(tty), TCSAFLUSH, &old);
	} else if (fgets(a, sizeof(a), stdin) != NULL)
		r = a;
	if (tty != NULL)
		fclose(tty);
	if (r != NULL) {
		n = strcspn(r, "\r\n");
		if (r[n] == '\0' && n >= AUTH_PASS_MAX) {
			fprintf(stderr, "mailhold: password too long\n");
			r = NULL;
		} else {
			r[n] = '\0';
			r = n > 0 ? xstrdup(r) : NULL;
			if (n == 0)
				fprintf(stderr, "mailhold: empty password\n");
		}
	}
	OPENSSL_cleanse(a, sizeof(a));
	OPENSSL_cleanse(b, sizeof(b));
	return r;
}

/* Reads path into a new string; a missing file is an empty one. */
static char *
main_read_file(const char *path, size_t *lenp)
{
	struct mh_buf b;
	char chunk[4096];
	ssize_t n;
	int fd;

	*lenp = 0;
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) == -1)
		return errno == ENOENT ? xstrdup("") : NULL;
	mh_buf_init(&b, 16 * 1024 * 1024);
	while ((n = read(fd, chunk, sizeof(chunk))) > 0)
		if (mh_buf_append(&b, chunk, (size_t)n) == -1) {
			n = -1;
			break;
		}
	close(fd);
	if (n < 0) {
		mh_buf_clear(&b);
		return NULL;
	}
	if (b.data == NULL)
		return xstrdup("");
	return mh_buf_steal(&b, lenp);
}

/*
 * mailhold check: the policy's verdict on a message file, as JSON (and as
 * text with --explain), without sending anything.  The envelope comes
 * from --from/--to, else from the From: and To/Cc/Bcc headers.  The
 * sender's history comes from the queue database of the config when it
 * exists (--no-history: none).  Exit status: 0 hold, 1 hold_longer,
 * 2 rewrite_to_bcc, 3 hold_for_release, 4 reject; 64 usage, 65 unreadable
 * message, 78 config error.
 */
#define MAIN_CHECK_RCPTS_MAX	10000

static int
main_check(int argc, char **argv)
{
	const char *path = NULL, *file = NULL, *from = NULL, *user = NULL;
	const char **to = NULL;
	size_t nto = 0, len, i;
	bool explain = false, history = true;
	struct config *conf;
	struct event_base *base = NULL;
	struct queue *q = NULL;
	struct header_msg hdr;
	struct policy_verdict *v;
	struct mh_buf out;
	struct stat sb;
	char err[1024], *msg;
	int rc, a;

	to = xcalloc(MAIN_CHECK_RCPTS_MAX, sizeof(*to));
	for (a = 2; a < argc; a++) {
		if (strcmp(argv[a], "-c") == 0 && a + 1 < argc)
			path = argv[++a];
		else if (strcmp(argv[a], "--from") == 0 && a + 1 < argc)
			from = argv[++a];
		else if (strcmp(argv[a], "--to") == 0 && a + 1 < argc &&
		    nto < MAIN_CHECK_RCPTS_MAX)
			to[nto++] = argv[++a];
		else if (strcmp(argv[a], "--user") == 0 && a + 1 < argc)
			user = argv[++a];
		else if (strcmp(argv[a], "--explain") == 0)
			explain = true;
		else if (strcmp(argv[a], "--no-history") == 0)
			history = false;
		else if (argv[a][0] != '-' && file == NULL)
			file = argv[a];
		else {
			free(to);
			main_usage_exit(64);
		}
	}
	if (file == NULL) {
		free(to);
		main_usage_exit(64);
	}
	conf = path ? config_load(path, err, sizeof(err)) :
	    config_default(err, sizeof(err));
	if (conf == NULL) {
		fprintf(stderr, "mailhold: %s\n", err);
		free(to);
		return 78;
	}
	if (stat(file, &sb) == -1 || !S_ISREG(sb.st_mode) ||
	    (msg = main_read_file(file, &len)) == NULL) {
		fprintf(stderr, "mailhold: cannot read %s\n", file);
		config_unref(conf);
		free(to);
		return 65;
	}

	header_msg_init(&hdr);
	(void)header_parse(msg, len, NULL, &hdr);
	if (from == NULL)
		from = hdr.from.n > 0 ? hdr.from.v[0].addr : "";
	if (nto == 0) {
		const struct header_addrlist *lists[] = { &hdr.to, &hdr.cc,
		    &hdr.bcc };
		for (i = 0; i < 3; i++) {
			size_t k;
			for (k = 0; k < lists[i]->n &&
			    nto < MAIN_CHECK_RCPTS_MAX; k++)
				to[nto++] = lists[i]->v[k].addr;
		}
	}

	if (history && stat(conf->queue_path, &sb) == 0) {
		if (evthread_use_pthreads() == -1 ||
		    (base = event_base_new()) == NULL ||
		    (q = queue_open(base, conf->queue_path, 0, 0, err,
		    sizeof(err))) == NULL)
			fprintf(stderr, "mailhold: check: no history (queue "
			    "%s: %s)\n", conf->queue_path, err);
	}
	v = screen_message(conf, q, NULL, user, from, to, nto, msg, len,
	    mh_now(), NULL);
	mh_buf_init(&out, 4 * 1024 * 1024);
	if (policy_verdict_json(v, &out) == 0)
		printf("%s\n", out.data ? out.data : "{}");
	if (explain) {
		mh_buf_reset(&out);
		if (policy_verdict_explain(v, &out) == 0 && out.data)
			printf("%s", out.data);
	}
	mh_buf_clear(&out);
	switch (v->action) {
	case POLICY_A_HOLD:		rc = 0; break;
	case POLICY_A_HOLD_LONGER:	rc = 1; break;
	case POLICY_A_REWRITE_BCC:	rc = 2; break;
	case POLICY_A_HOLD_FOR_RELEASE:	rc = 3; break;
	default:			rc = 4; break;
	}
	policy_verdict_free(v);
	header_msg_clear(&hdr);
	queue_close(q);
	if (base)
		event_base_free(base);
	free(msg);
	free(to);
	config_unref(conf);
	return rc;
}

/* mailhold passwd [-c config] [-f FILE] USER */
static int
main_passwd(int argc, char **argv)
{
	const char *file = NULL, *cpath = NULL, *user = NULL;
	char err[1024], tmp[4096], *pass, *hash, *data, *nd;
	struct config *conf = NULL;
	size_t len;
	int i, fd, rc = 1;

	for (i = 2; i < argc; i++) {
		if (strcmp(argv[i], "-f") == 0 && i + 1 < argc)
			file = argv[++i];
		else if (strcmp(argv[i], "-c") == 0 && i + 1 < argc)
			cpath = argv[++i];
		else if (argv[i][0] != '-' && user == NULL)
			user = argv[i];
		else
			main_usage();
	}
	if (user == NULL)
		main_usage();
	if (file == NULL && cpath != NULL) {
		if ((conf = config_load(cpath, err, sizeof(err))) == NULL) {
			fprintf(stderr, "mailhold: %s\n", err);
			return 1;
		}
		file = conf->auth_password_file;
	}
	if (file == NULL) {
		fprintf(stderr, "mailhold: passwd needs -f FILE, or -c CONFIG "
		    "with auth.password_file\n");
		config_unref(conf);
		return 2;
	}
	if ((pass = main_read_password()) == NULL)
		goto out;
	hash = auth_hash_new(pass);
	OPENSSL_cleanse(pass, strlen(pass));
	free(pass);
	if (hash == NULL) {
		fprintf(stderr, "mailhold: crypt(3) failed\n");
		goto out;
	}
	if ((data = main_read_file(file, &len)) == NULL) {
		fprintf(stderr, "mailhold: %s: %s\n", file, strerror(errno));
		free(hash);
		goto out;
	}
	nd = auth_pwfile_update(data, len, user, hash);
	free(data);
	free(hash);
	if (nd == NULL) {
		fprintf(stderr, "mailhold: invalid user name (no ':', no "
		    "control characters, 1 to %d octets)\n", AUTH_USER_MAX);
		goto out;
	}
	/* Atomically: a temporary file (0600) next to it, then rename. */
	if (mh_snprintf(tmp, sizeof(tmp), "%s.XXXXXX", file) == -1 ||
	    (fd = mkostemp(tmp, O_CLOEXEC)) == -1) {
		fprintf(stderr, "mailhold: %s: cannot create a temporary file: "
		    "%s\n", file, strerror(errno));
		free(nd);
		goto out;
	}
	len = strlen(nd);
	/* An existing file keeps its owner, group and mode (the daemon's
	 * group must still read it; never more than 0660); a new one is
	 * 0600. */
	{
		struct stat st;
		mode_t mode = 0600;

		if (stat(file, &st) == 0) {
			mode = st.st_mode & 0660;
			if (fchown(fd, st.st_uid, st.st_gid) == -1)
				fprintf(stderr, "mailhold: %s: cannot keep its "
				    "owner and group: %s\n", file,
				    strerror(errno));
		}
		if (fchmod(fd, mode) == -1) {
			fprintf(stderr, "mailhold: %s: %s\n", tmp,
			    strerror(errno));
			close(fd);
			unlink(tmp);
			free(nd);
			goto out;
		}
	}
	if (write(fd, nd, len) != (ssize_t)len ||
	    fsync(fd) == -1 || close(fd) == -1 || rename(tmp, file) == -1) {
		fprintf(stderr, "mailhold: %s: cannot write: %s\n", file,
		    strerror(errno));
		unlink(tmp);
		free(nd);
		goto out;
	}
	free(nd);
	printf("mailhold: %s: password of %s set; send SIGHUP to a running "
	    "mailhold\n", file, user);
	rc = 0;
out:
	config_unref(conf);
	return rc;
}

/*
 * server.user/server.group (STYLE G12, OpenSMTPD dispatcher.c): started as
 * root, the ids to become.  Without server.user, or not started as root
 * (the systemd unit's User=), nothing changes.
 */
static void
main_ids_resolve(struct main_ctx *m)
{
	const struct config *conf = m->conf;
	struct passwd *pw;
	struct group *gr;

	if (conf->server_user == NULL) {
		if (geteuid() == 0)
			log_warnx("event=start note=\"running as root: set "
			    "server.user, or start it as its own user\"");
		return;
	}
	errno = 0;
	if ((pw = getpwnam(conf->server_user)) == NULL)
		fatalx("event=start error=\"server.user %s: no such user\"",
		    conf->server_user);
	m->uid = pw->pw_uid;
	m->gid = pw->pw_gid;
	if (conf->server_group != NULL) {
		if ((gr = getgrnam(conf->server_group)) == NULL)
			fatalx("event=start error=\"server.group %s: no such "
			    "group\"", conf->server_group);
		m->gid = gr->gr_gid;
	}
	if (geteuid() != 0) {
		/* Already someone else: fine if it is that user. */
		if (geteuid() != m->uid)
			fatalx("event=start error=\"server.user is %s but "
			    "mailhold was started as uid %u, not as root\"",
			    conf->server_user, (unsigned)geteuid());
		return;
	}
	if (m->uid == 0)
		fatalx("event=start error=\"server.user %s is root\"",
		    conf->server_user);
	m->drop = true;
}

/* While on, files are created and checked as the user (the queue: it
 * must stay writable after the drop).  Root can switch back. */
static void
main_as_user(const struct main_ctx *m, bool on)
{
	if (!m->drop)
		return;
	/* Without root's supplementary groups too: what the queue needs
	 * must be reachable by server.user alone, as after the drop. */
	if (on ? setgroups(1, &m->gid) == -1 || setegid(m->gid) == -1 ||
	    seteuid(m->uid) == -1 : seteuid(0) == -1 || setegid(0) == -1)
		fatal("event=start error=\"cannot switch the effective user\"");
}

/* For good: no supplementary groups, all three gids and uids; then
 * checked, including that root cannot be had back. */
static void
main_drop_privileges(struct main_ctx *m)
{
	uid_t ru, eu, su;
	gid_t rg, eg, sg;

	if (!m->drop)
		return;
	if (setgroups(1, &m->gid) == -1)
		fatal("event=start error=\"setgroups\"");
	if (setresgid(m->gid, m->gid, m->gid) == -1)
		fatal("event=start error=\"setresgid\"");
	if (setresuid(m->uid, m->uid, m->uid) == -1)
		fatal("event=start error=\"setresuid\"");
	if (getresuid(&ru, &eu, &su) == -1 || getresgid(&rg, &eg, &sg) == -1 ||
	    ru != m->uid || eu != m->uid || su != m->uid ||
	    rg != m->gid || eg != m->gid || sg != m->gid)
		fatalx("event=start error=\"the user or group did not change\"");
	if (setuid(0) != -1 || setgid(0) != -1)
		fatalx("event=start error=\"root could be regained after the "
		    "privilege drop\"");
	m->dropped = true;
	log_info("event=privileges_dropped user=%s uid=%u gid=%u",
	    m->conf->server_user, (unsigned)m->uid, (unsigned)m->gid);
}

int
main(int argc, char **argv)
{
	struct main_ctx m;
	struct event *ev_term, *ev_int, *ev_hup;
	struct event_config *evcfg;
	bool check_only = false;
	SSL_CTX *tls = NULL;
	char err[1024];
	int i, n;

	memset(&m, 0, sizeof(m));
	if (argc >= 2 && strcmp(argv[1], "check") == 0) {
		log_init("mailhold", false);
		log_setlevel(LOG_LVL_WARN);
		return main_check(argc, argv);
	}
	if (argc >= 2 && strcmp(argv[1], "passwd") == 0) {
		umask(077);
		log_init("mailhold", false);
		return main_passwd(argc, argv);
	}
	for (i = 1; i < argc; i++) {
		if (strcmp(argv[i], "-c") == 0 && i + 1 < argc)
			m.path = argv[++i];
		else if (strcmp(argv[i], "--check-config") == 0)
			check_only = true;
		else if (strcmp(argv[i], "-d") == 0)
			m.debug = true;
		else if (strcmp(argv[i], "-V") == 0) {
			printf("mailhold %s\n", MH_VERSION);
			return 0;
		} else
			main_usage();
	}

	umask(077);
	log_init("mailhold", false);
	m.conf = m.path ? config_load(m.path, err, sizeof(err)) :
	    config_default(err, sizeof(err));
	if (m.conf == NULL) {
		fprintf(stderr, "mailhold: %s\n", err);
		return 1;
	}
	if (config_has_tls(m.conf)) {
		/* Read the certificate and key now, before anything starts
		 * (and as root, when started as root: G12). */
		if ((tls = tlsctx_new(m.conf, err, sizeof(err))) == NULL) {
			fprintf(stderr, "mailhold: %s\n", err);
			config_unref(m.conf);
			return 1;
		}
	}
	if (check_only) {
		struct auth *a = NULL;

		/* The password file parses (no thread is started for a
		 * file that fails). */
		if (m.conf->auth_backend == CONFIG_AUTH_FILE) {
			struct event_base *b = event_base_new();

			a = b ? auth_new(b, m.conf, err, sizeof(err)) : NULL;
			auth_free(a);
			if (b)
				event_base_free(b);
			if (a == NULL) {
				fprintf(stderr, "mailhold: %s\n", err);
				tlsctx_free(tls);
				config_unref(m.conf);
				return 1;
			}
		}
		printf("%s: configuration ok\n", m.path ? m.path :
		    "(defaults)");
		tlsctx_free(tls);
		config_unref(m.conf);
		return 0;
	}
	log_init("mailhold", m.conf->log_syslog);
	log_setlevel(m.debug ? LOG_LVL_DEBUG : m.conf->log_level);
	log_setformat(m.conf->log_format);
	signal(SIGPIPE, SIG_IGN);
	main_timezone(m.conf);

	if (evthread_use_pthreads() == -1)
		fatalx("event=start error=\"libevent threads\"");
	/* The changelist folds the add/del pairs that bufferevents make
	 * around every reply into one epoll_ctl per loop iteration. */
	if ((evcfg = event_config_new()) == NULL ||
	    event_config_set_flag(evcfg,
	    EVENT_BASE_FLAG_EPOLL_USE_CHANGELIST) == -1 ||
	    (m.base = event_base_new_with_config(evcfg)) == NULL)
		fatalx("event=start error=\"event_base_new\"");
	event_config_free(evcfg);
	main_ids_resolve(&m);
	/* The queue is created and opened as server.user: its files are
	 * the user's, and a directory it cannot write is an error now. */
	main_as_user(&m, true);
	if (main_mkdirs(m.conf->queue_path) == -1)
		fatal("event=start error=\"cannot create the directory of "
		    "%s%s%s\"", m.conf->queue_path, m.drop ? " as user " : "",
		    m.drop ? m.conf->server_user : "");
	m.q = queue_open(m.base, m.conf->queue_path,
	    m.conf->group_commit_max, m.conf->queue_startup_check * 1000,
	    err, sizeof(err));
	if (m.q == NULL)
		fatalx("event=start error=\"queue %s: %s%s%s%s\"",
		    m.conf->queue_path, err, m.drop ? " (it must be writable "
		    "by server.user " : "", m.drop ? m.conf->server_user : "",
		    m.drop ? ")" : "");
	main_as_user(&m, false);
	if ((n = queue_recover(m.q)) == -1)
		fatalx("event=start error=\"queue recovery failed\"");
	if (n > 0)
		log_info("event=recover messages=%d", n);
	if ((m.relay = relay_new(m.base, m.conf, m.q)) == NULL)
		fatalx("event=start error=\"relay set-up failed\"");
	m.sched = sched_new(m.base, m.q, relay_capacity, relay_release,
	    m.relay);
	if (m.sched == NULL)
		fatalx("event=start error=\"scheduler set-up failed\"");
	relay_set_sched(m.relay, m.sched);
	if (m.conf->auth_backend != CONFIG_AUTH_NONE &&
	    (m.auth = auth_new(m.base, m.conf, err, sizeof(err))) == NULL)
		fatalx("event=start error=\"%s\"", err);
	m.srv = smtp_server_new(m.base, m.conf, m.q);
	smtp_server_set_tls(m.srv, tls);
	if (m.conf->web_enabled && (m.web = web_new(m.base, m.conf, m.q,
	    tls)) == NULL)
		fatalx("event=start error=\"cannot serve the web page on %s "
		    "port %d\"", m.conf->web_address, m.conf->web_port);
	tlsctx_free(tls);
	tls = NULL;
	smtp_server_set_auth(m.srv, m.auth);
	if ((m.holds = screen_holds_load(m.q)) == NULL)
		fatalx("event=start error=\"cannot read the hold windows\"");
	smtp_server_set_holds(m.srv, m.holds);
	smtp_server_set_relay(m.srv, m.relay);
	smtp_server_set_sched(m.srv, m.sched);
	if (smtp_server_listen(m.srv) == -1)
		fatalx("event=start error=\"cannot listen\"");
	{
		struct control_hooks hooks = { main_reload, main_nsessions,
		    main_holds_changed, main_config, &m };

		if ((m.ctl = control_new(m.base, m.conf, m.q,
		    &hooks)) == NULL)
			fatalx("event=start error=\"cannot create the control "
			    "socket %s\"", m.conf->control_socket);
	}

	m.started = mh_now();
	if ((m.purge_ev = evtimer_new(m.base, main_purge_cb, &m)) == NULL)
		fatalx("event=start error=\"evtimer_new\"");
	main_purge_arm(&m, main_purge_interval(m.conf));
	if (m.conf->metrics_enabled && (m.metrics = metrics_http_new(m.base,
	    m.conf, main_gauges, &m)) == NULL)
		fatalx("event=start error=\"cannot serve metrics on %s port "
		    "%d\"", m.conf->metrics_address, m.conf->metrics_port);
	if (m.conf->metrics_enabled && (m.lag = metrics_lag_new(m.base)) ==
	    NULL)
		fatalx("event=start error=\"evtimer_new\"");

	ev_term = evsignal_new(m.base, SIGTERM, main_sigterm_cb, &m);
	ev_int = evsignal_new(m.base, SIGINT, main_sigterm_cb, &m);
	ev_hup = evsignal_new(m.base, SIGHUP, main_sighup_cb, &m);
	event_add(ev_term, NULL);
	event_add(ev_int, NULL);
	event_add(ev_hup, NULL);
	/* Every port is bound, every key and secret read: nothing has been
	 * read from the network yet. */
	main_drop_privileges(&m);
	log_info("event=start version=%s queue=%s upstream=%s:%d hold=%llds",
	    MH_VERSION, m.conf->queue_path, m.conf->up_host, m.conf->up_port,
	    (long long)m.conf->hold_default);

	event_base_dispatch(m.base);

	/* Commit what is queued and run its completions before anything
	 * those completions refer to goes away. */
	metrics_http_free(m.metrics);
	metrics_lag_free(m.lag);
	queue_close(m.q);
	event_free(m.purge_ev);
	web_free(m.web);
	control_free(m.ctl);
	smtp_server_free(m.srv);
	screen_holds_free(m.holds);
	auth_free(m.auth);
	relay_free(m.relay);
	sched_free(m.sched);
	event_free(ev_term);
	event_free(ev_int);
	event_free(ev_hup);
	if (m.drain_ev)
		event_free(m.drain_ev);
	config_unref(m.conf);
	event_base_free(m.base);
	log_info("event=exit status=0");
	return 0;
}
