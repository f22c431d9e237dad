/*
 * notify.c - see notify.h.
 */
#include "notify.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "log.h"
#include "queue.h"
#include "util.h"

#define NOTIFY_HEADERS_MAX	(16 * 1024)	/* original headers quoted */
#define NOTIFY_LINE_MAX		900		/* < 998 (RFC 5322 §2.1.1) */

/* Appends text as CRLF lines no longer than NOTIFY_LINE_MAX octets. */
static void
notify_add_lines(struct mh_buf *b, const char *p, size_t len)
{
	size_t start = 0, i;

	for (i = 0; i <= len; i++) {
		if (i < len && p[i] != '\n')
			continue;
		{
			size_t n = i - start;
			if (n > 0 && p[start + n - 1] == '\r')
				n--;
			if (n > NOTIFY_LINE_MAX)
				n = NOTIFY_LINE_MAX;
			if (i < len || n > 0) {
				mh_buf_append(b, p + start, n);
				mh_buf_append(b, "\r\n", 2);
			}
		}
		start = i + 1;
	}
}

/* Reads the original header block (up to the first empty line). */
static size_t
notify_read_headers(struct queue *q, const char *id, char *buf, size_t sz)
{
	struct queue_body *qb;
	size_t got = 0;
	long n;
	char *end;

	if ((qb = queue_body_open(q, id)) == NULL)
		return 0;
	while (got < sz && (n = queue_body_read(qb, buf + got, sz - got)) > 0)
		got += (size_t)n;
	queue_body_close(qb);
	if ((end = memmem(buf, got, "\r\n\r\n", 4)) != NULL)
		got = (size_t)(end - buf) + 2;
	return got;
}

struct queue_msg_new *
notify_failure_new(struct queue *q, const struct queue_msg *m,
    const char **addrs, const char **replies, size_t n, const char *hostname)
{
	struct queue_msg_new *nm;
	struct mh_buf b;
	char date[64], *hdr;
	struct tm tm;
	time_t now = time(NULL);
	size_t i, hlen;

	nm = xcalloc(1, sizeof(*nm));
	queue_id_new(nm->id);
	localtime_r(&now, &tm);
	strftime(date, sizeof(date), "%a, %d %b %Y %H:%M:%S %z", &tm);

	mh_buf_init(&b, NOTIFY_HEADERS_MAX * 2 + 64 * 1024);
	mh_buf_printf(&b,
	    "From: Mail Delivery System <MAILER-DAEMON@%s>\r\n"
	    "To: <%s>\r\n"
	    "Subject: Undelivered Mail Returned to Sender\r\n"
	    "Date: %s\r\n"
	    "Message-ID: <%s.notice@%s>\r\n"
	    "Auto-Submitted: auto-replied\r\n"
	    "MIME-Version: 1.0\r\n"
	    "Content-Type: text/plain; charset=utf-8\r\n"
	    "Content-Transfer-Encoding: 8bit\r\n"
	    "\r\n"
	    "This is the mailhold submission proxy at %s.\r\n"
	    "\r\n"
	    "Your message (queue id %s) could not be delivered to the\r\n"
	    "following recipients. The upstream mail server's answer is\r\n"
	    "given for each of them.\r\n"
	    "\r\n",
	    hostname, m->sender, date, nm->id, hostname, hostname, m->id);
	for (i = 0; i < n; i++) {
		char line[2 * NOTIFY_LINE_MAX];
		if (mh_snprintf(line, sizeof(line), "<%.400s>: %.800s",
		    addrs[i], replies[i]) < 0)
			mh_strlcpy(line, "(reply too long)", sizeof(line));
		notify_add_lines(&b, line, strlen(line));
	}
	mh_buf_puts(&b, "\r\n-- Headers of the original message --\r\n\r\n");
	hdr = xmalloc(NOTIFY_HEADERS_MAX);
	hlen = notify_read_headers(q, m->id, hdr, NOTIFY_HEADERS_MAX);
	notify_add_lines(&b, hdr, hlen);
	free(hdr);

	nm->sender = xstrdup("");
	nm->rcpts = xcalloc(1, sizeof(*nm->rcpts));
	nm->rcpts[0] = xstrdup(m->sender);
	nm->nrcpts = 1;
	nm->client_addr = xstrdup("local");
	nm->helo = xstrdup(hostname);
	nm->flags = QUEUE_F_NOTICE | QUEUE_F_8BITMIME |
	    (m->flags & QUEUE_F_SMTPUTF8);
	nm->received_at = now;
	nm->release_at = now;
	nm->state = QUEUE_HELD;
	nm->body_fd = -1;
	nm->body = mh_buf_steal(&b, &nm->body_len);
	return nm;
}
