/*
 * main.c - mailhold daemon: arguments, signals, life cycle.
 *
 * Runs in the foreground (systemd, or a terminal); logs to stderr or
 * syslog.  SIGTERM/SIGINT: stop accepting, let sessions in flight finish
 * their message (never a 250 without a commit), let relays in flight
 * finish for a short grace time, commit what is queued, exit 0.  SIGHUP:
 * load and validate the config again and swap it in; a bad file keeps the
 * old config and logs why.
 */
#include <sys/stat.h>

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/event.h>
#include <event2/thread.h>

#include "config.h"
#include "log.h"
#include "queue.h"
#include "scheduler.h"
#include "smtp_client.h"
#include "smtp_server.h"
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
	struct event	*drain_ev;
	int64_t		 drain_deadline;
	bool		 stopping;
	bool		 debug;
};

static void
main_usage(void)
{
	fprintf(stderr,
	    "usage: mailhold [-d] [-c config.yaml]\n"
	    "       mailhold --check-config -c config.yaml\n"
	    "       mailhold -V\n");
	exit(2);
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
	smtp_server_shutdown(m->srv, main_sessions_done, m);
}

static void
main_sighup_cb(evutil_socket_t sig, short ev, void *arg)
{
	struct main_ctx *m = arg;
	struct config *nc;
	char err[1024];

	if (m->path == NULL) {
		log_info("event=reload result=skipped reason=\"no config "
		    "file\"");
		return;
	}
	if ((nc = config_load(m->path, err, sizeof(err))) == NULL) {
		log_warnx("event=reload result=failed error=\"%s\" (keeping "
		    "the running config)", err);
		return;
	}
	if (strcmp(nc->queue_path, m->conf->queue_path) != 0 ||
	    nc->nlisteners != m->conf->nlisteners)
		log_warnx("event=reload note=\"queue.path and "
		    "server.listeners take effect after a restart\"");
	log_setlevel(m->debug ? LOG_LVL_DEBUG : nc->log_level);
	smtp_server_set_config(m->srv, nc);
	relay_set_config(m->relay, nc);
	config_unref(m->conf);
	m->conf = nc;
	log_info("event=reload result=ok");
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

int
main(int argc, char **argv)
{
	struct main_ctx m;
	struct event *ev_term, *ev_int, *ev_hup;
	struct event_config *evcfg;
	bool check_only = false;
	char err[1024];
	int i, n;

	memset(&m, 0, sizeof(m));
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
	if (check_only) {
		printf("%s: configuration ok\n", m.path ? m.path :
		    "(defaults)");
		config_unref(m.conf);
		return 0;
	}
	log_init("mailhold", m.conf->log_syslog);
	log_setlevel(m.debug ? LOG_LVL_DEBUG : m.conf->log_level);
	signal(SIGPIPE, SIG_IGN);

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
	if (main_mkdirs(m.conf->queue_path) == -1)
		fatal("event=start error=\"cannot create the directory of "
		    "%s\"", m.conf->queue_path);
	m.q = queue_open(m.base, m.conf->queue_path,
	    m.conf->group_commit_max, err, sizeof(err));
	if (m.q == NULL)
		fatalx("event=start error=\"queue %s: %s\"",
		    m.conf->queue_path, err);
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
	m.srv = smtp_server_new(m.base, m.conf, m.q, m.sched);
	if (smtp_server_listen(m.srv) == -1)
		fatalx("event=start error=\"cannot listen\"");

	ev_term = evsignal_new(m.base, SIGTERM, main_sigterm_cb, &m);
	ev_int = evsignal_new(m.base, SIGINT, main_sigterm_cb, &m);
	ev_hup = evsignal_new(m.base, SIGHUP, main_sighup_cb, &m);
	event_add(ev_term, NULL);
	event_add(ev_int, NULL);
	event_add(ev_hup, NULL);
	log_info("event=start version=%s queue=%s upstream=%s:%d hold=%llds",
	    MH_VERSION, m.conf->queue_path, m.conf->up_host, m.conf->up_port,
	    (long long)m.conf->hold_default);

	event_base_dispatch(m.base);

	/* Commit what is queued and run its completions before anything
	 * those completions refer to goes away. */
	queue_close(m.q);
	smtp_server_free(m.srv);
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
