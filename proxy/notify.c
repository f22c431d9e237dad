/*
 * notify.c - see notify.h.
 */
#include "notify.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "alert.h"
#include "header.h"
#include "log.h"
#include "queue.h"
#include "util.h"

#define NOTIFY_HEADERS_MAX	(16 * 1024)	/* original headers quoted */

/* Reads the original header block (up to the first empty line, which is
 * left out); 0 when the body is gone. */
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

/* The decoded Subject of the header block, or NULL. */
static char *
notify_subject(const char *hdr, size_t hlen)
{
	struct header_msg h;
	char *s = NULL;

	if (hlen == 0)
		return NULL;
	/* Status and defects do not matter: the subject is only shown. */
	(void)header_parse(hdr, hlen, NULL, &h);
	if (h.subject != NULL)
		s = xstrdup(h.subject);
	header_msg_clear(&h);
	return s;
}

struct queue_msg_new *
notify_failure_new(struct queue *q, const struct queue_msg *m,
    const char *to, const char *for_addr, const char **addrs,
    const char **replies, size_t n, const char *hostname,
    enum alert_lang lang)
{
	struct alert_failure_view v;
	struct queue_msg_new *nm;
	char *hdr, *subject;
	int64_t now = mh_now();
	size_t hlen;

	nm = xcalloc(1, sizeof(*nm));
	queue_id_new(nm->id);
	hdr = xmalloc(NOTIFY_HEADERS_MAX);
	hlen = notify_read_headers(q, m->id, hdr, NOTIFY_HEADERS_MAX);
	subject = notify_subject(hdr, hlen);

	memset(&v, 0, sizeof(v));
	v.lang = lang;
	v.hostname = hostname;
	v.id = m->id;
	v.to = to;
	v.for_addr = for_addr;
	v.for_notice = (m->flags & QUEUE_F_NOTICE) != 0;
	v.subject = subject;
	v.addrs = addrs;
	v.replies = replies;
	v.n = n;
	v.now = now;
	v.hdr = hdr;
	v.hlen = hlen;
	nm->body = alert_build_failure(&v, &nm->body_len);
	free(subject);
	free(hdr);

	nm->sender = xstrdup("");
	nm->rcpts = xcalloc(1, sizeof(*nm->rcpts));
	nm->rcpts[0] = xstrdup(to);
	nm->nrcpts = 1;
	nm->client_addr = xstrdup("local");
	nm->helo = xstrdup(hostname);
	/* The body is 7bit (base64 parts); only a UTF-8 address in To:
	 * makes it 8-bit, and then SMTPUTF8 goes with it (RFC 6531). */
	nm->flags = QUEUE_F_NOTICE;
	if (!mh_is_ascii(to, strlen(to)))
		nm->flags |= QUEUE_F_SMTPUTF8 | QUEUE_F_8BITMIME;
	nm->received_at = now;
	nm->release_at = now;
	nm->state = QUEUE_HELD;
	nm->body_fd = -1;
	return nm;
}
