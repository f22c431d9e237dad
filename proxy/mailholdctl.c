/*
 * mailholdctl.c - the administrator's command line for a running mailhold.
 *
 *   mailholdctl [-s SOCKET | -c CONFIG] [--json] COMMAND [ARG...]
 *
 * Sends one request line over the control socket (proxy/control.h has the
 * protocol), prints the daemon's "text" (or, with --json, its whole JSON
 * answer) and exits 0 ok, 1 the command failed, 2 usage, 3 the daemon is
 * not running or the socket may not be used.  The request is checked with
 * the daemon's own parser before it is sent, so a typo is a usage error
 * without a round trip.
 */
#include <sys/socket.h>
#include <sys/un.h>

#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config.h"
#include "control.h"
#include "log.h"
#include "util.h"

#define CTL_EXIT_OK		0
#define CTL_EXIT_FAILED		1
#define CTL_EXIT_USAGE		2
#define CTL_EXIT_NOTRUNNING	3
#define CTL_TIMEOUT_MS		60000
#define CTL_ANSWER_MAX		(32 * 1024 * 1024)

static void
ctl_usage(const char *why)
{
	if (why != NULL)
		fprintf(stderr, "mailholdctl: %s\n", why);
	fprintf(stderr,
	    "usage: mailholdctl [-s SOCKET | -c CONFIG] [--json] COMMAND ...\n"
	    "commands:\n"
	    "  queue [--state S[,S...]] [--sender ADDR]\n"
	    "  show ID\n"
	    "  release ID... | release --sender ADDR\n"
	    "  cancel ID...  | cancel --sender ADDR\n"
	    "  stats\n"
	    "  reload\n"
	    "  hold get\n"
	    "  hold set DURATION [--rule R | --user U | --domain D] "
	    "[--reschedule]\n"
	    "  hold unset [--rule R | --user U | --domain D]\n"
	    "  backup FILE   (a new file, written by the daemon)\n");
	exit(CTL_EXIT_USAGE);
}

/*
 * Appends one argument.  The FILE of "backup FILE" is written by the
 * daemon, whose working directory is not ours: a relative name is made
 * absolute here.
 */
static int
ctl_put_arg(struct mh_buf *line, const char *arg)
{
	char cwd[PATH_MAX];

	if (strcmp(line->data != NULL ? line->data : "", "backup ") == 0 &&
	    arg[0] != '/') {
		if (getcwd(cwd, sizeof(cwd)) == NULL)
			ctl_usage("cannot tell the current directory");
		if (mh_buf_puts(line, cwd) == -1 ||
		    (strcmp(cwd, "/") != 0 && mh_buf_puts(line, "/") == -1))
			return -1;
	}
	return mh_buf_puts(line, arg);
}

/* Decodes the JSON string at *pp (which points at its opening quote)
 * into out; moves *pp past it.  -1 when malformed.  \uXXXX below 0x80
 * only (the daemon escapes nothing else that way). */
static int
ctl_json_string(const char **pp, struct mh_buf *out)
{
	const char *p = *pp;
	char ch;

	if (*p++ != '"')
		return -1;
	for (; *p && *p != '"'; p++) {
		if (*p != '\\') {
			(void)mh_buf_append(out, p, 1);
			continue;
		}
		switch (*++p) {
		case 'n':
			ch = '\n';
			break;
		case 't':
			ch = '\t';
			break;
		case '"':
		case '\\':
		case '/':
			ch = *p;
			break;
		case 'u': {
			unsigned v = 0;
			int k;

			for (k = 1; k <= 4; k++) {
				char h = p[k];

				if (h >= '0' && h <= '9')
					v = v * 16 + (unsigned)(h - '0');
				else if (h >= 'a' && h <= 'f')
					v = v * 16 + (unsigned)(h - 'a' + 10);
				else if (h >= 'A' && h <= 'F')
					v = v * 16 + (unsigned)(h - 'A' + 10);
				else
					return -1;
			}
			ch = (v > 0 && v < 0x80) ? (char)v : '?';
			p += 4;
			break;
		}
		default:
			return -1;
		}
		(void)mh_buf_append(out, &ch, 1);
	}
	if (*p != '"')
		return -1;
	*pp = p + 1;
	return 0;
}

/* Reads the answer's ok, error and text members (in that order, as the
 * daemon writes them).  -1 when it is not such an answer. */
static int
ctl_answer_parse(const char *a, bool *ok, struct mh_buf *error,
    struct mh_buf *text)
{
	const char *p = a;

	if (strncmp(p, "{\"ok\":true", 10) == 0) {
		*ok = true;
		p += 10;
	} else if (strncmp(p, "{\"ok\":false", 11) == 0) {
		*ok = false;
		p += 11;
	} else
		return -1;
	if (strncmp(p, ",\"error\":", 9) == 0) {
		p += 9;
		if (ctl_json_string(&p, error) == -1)
			return -1;
	}
	if (strncmp(p, ",\"text\":", 8) != 0)
		return -1;
	p += 8;
	return ctl_json_string(&p, text);
}

static int
ctl_connect(const char *path)
{
	struct sockaddr_un sun;
	int fd, e;

	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	if (mh_strlcpy(sun.sun_path, path, sizeof(sun.sun_path)) >=
	    sizeof(sun.sun_path)) {
		fprintf(stderr, "mailholdctl: socket path too long: %s\n", path);
		return -1;
	}
	if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) == -1) {
		fprintf(stderr, "mailholdctl: socket: %s\n", strerror(errno));
		return -1;
	}
	if (connect(fd, (struct sockaddr *)&sun, sizeof(sun)) == 0)
		return fd;
	e = errno;
	close(fd);
	if (e == ECONNREFUSED || e == ENOENT)
		fprintf(stderr, "mailholdctl: mailhold is not running (no "
		    "socket at %s)\n", path);
	else if (e == EACCES || e == EPERM)
		fprintf(stderr, "mailholdctl: permission denied: %s (the "
		    "socket's mode and group, control.mode and "
		    "control.group, decide who may use it)\n", path);
	else
		fprintf(stderr, "mailholdctl: %s: %s\n", path, strerror(e));
	return -1;
}

static int
ctl_write_all(int fd, const char *p, size_t n)
{
	ssize_t w;

	while (n > 0) {
		if ((w = write(fd, p, n)) == -1) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

/* Reads to EOF, waiting at most timeout_ms (-1: as long as it takes,
 * for a backup of a large queue) for each chunk.  -1 on error or
 * timeout. */
static int
ctl_read_all(int fd, struct mh_buf *out, int timeout_ms)
{
	struct pollfd pfd = { .fd = fd, .events = POLLIN };
	char chunk[4096];
	ssize_t n;
	int r;

	for (;;) {
		if ((r = poll(&pfd, 1, timeout_ms)) == -1 && errno == EINTR)
			continue;
		if (r <= 0)
			return -1;
		if ((n = read(fd, chunk, sizeof(chunk))) == -1) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		if (n == 0)
			return 0;
		if (mh_buf_append(out, chunk, (size_t)n) == -1)
			return -1;
	}
}

int
main(int argc, char **argv)
{
	const char *sock = NULL, *cpath = NULL, *why;
	struct config *conf = NULL;
	struct control_request *req;
	struct mh_buf line, answer, error, text;
	char err[1024];
	bool json = false, ok = false;
	int i, fd, rc;

	log_init("mailholdctl", false);
	log_setlevel(LOG_LVL_WARN);
	mh_buf_init(&line, CONTROL_LINE_MAX);
	for (i = 1; i < argc; i++) {
		if (strcmp(argv[i], "-s") == 0 && i + 1 < argc && !line.len)
			sock = argv[++i];
		else if (strcmp(argv[i], "-c") == 0 && i + 1 < argc &&
		    !line.len)
			cpath = argv[++i];
		else if (strcmp(argv[i], "--json") == 0)
			json = true;
		else if (strcmp(argv[i], "-h") == 0 ||
		    strcmp(argv[i], "--help") == 0)
			ctl_usage(NULL);
		else if (argv[i][0] == '\0' || strpbrk(argv[i], " \t\r\n"))
			ctl_usage("arguments may not be empty or hold "
			    "white space");
		else if ((line.len && mh_buf_puts(&line, " ") == -1) ||
		    ctl_put_arg(&line, argv[i]) == -1)
			ctl_usage("request too long");
	}
	if (line.len == 0)
		ctl_usage(NULL);
	if (sock != NULL && cpath != NULL)
		ctl_usage("-s and -c exclude each other");
	req = xcalloc(1, sizeof(*req));
	if ((why = control_parse_request(line.data, line.len, req)) != NULL)
		ctl_usage(why);
	free(req);
	if (sock == NULL) {
		conf = cpath ? config_load(cpath, err, sizeof(err)) :
		    config_default(err, sizeof(err));
		if (conf == NULL) {
			fprintf(stderr, "mailholdctl: %s\n", err);
			return CTL_EXIT_USAGE;
		}
		sock = conf->control_socket;
	}
	if ((fd = ctl_connect(sock)) == -1) {
		config_unref(conf);
		mh_buf_clear(&line);
		return CTL_EXIT_NOTRUNNING;
	}
	(void)mh_buf_puts(&line, "\n");
	mh_buf_init(&answer, CTL_ANSWER_MAX);
	mh_buf_init(&error, CTL_ANSWER_MAX);
	mh_buf_init(&text, CTL_ANSWER_MAX);
	rc = CTL_EXIT_FAILED;
	if (ctl_write_all(fd, line.data, line.len) == -1 ||
	    ctl_read_all(fd, &answer, strncmp(line.data, "backup ", 7) == 0 ?
	    -1 : CTL_TIMEOUT_MS) == -1 || answer.len == 0 ||
	    memchr(answer.data, '\0', answer.len) != NULL ||
	    ctl_answer_parse(answer.data, &ok, &error, &text) == -1) {
		fprintf(stderr, "mailholdctl: no valid answer from mailhold "
		    "at %s\n", sock);
		goto out;
	}
	if (json)
		fputs(answer.data, stdout);
	else if (text.len > 0) {
		fputs(text.data, ok ? stdout : stderr);
		if (text.data[text.len - 1] != '\n')
			fputc('\n', ok ? stdout : stderr);
	}
	if (!ok && error.len > 0 && (json || strcmp(error.data,
	    text.data ? text.data : "") != 0))
		fprintf(stderr, "mailholdctl: %s\n", error.data);
	rc = ok ? CTL_EXIT_OK : CTL_EXIT_FAILED;
out:
	close(fd);
	mh_buf_clear(&line);
	mh_buf_clear(&answer);
	mh_buf_clear(&error);
	mh_buf_clear(&text);
	config_unref(conf);
	return rc;
}
