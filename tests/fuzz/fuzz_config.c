/*
 * fuzz_config.c - libFuzzer target for the YAML configuration loader
 * (STYLE G11).
 *
 * Feeds the input to config_load_buffer_() twice and, when it loads,
 * through config_dump() too.  Checked: loading is deterministic (same
 * result, same error text, same dump); a refusal always says where
 * ("fuzz.yaml:LINE..."); a dump is "key: value" lines.  The first line of
 * the input, cut to 255 bytes, also goes to the pure value parsers
 * (duration, size, CIDR): a duration is never negative, a parsed network
 * contains its own address.  Never exits,
 * never leaks: the loader returns NULL on any error.
 */
#include <sys/socket.h>

#include <netinet/in.h>

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "config_priv.h"

#define FUZZ_ASSERT(x)	do { if (!(x)) abort(); } while (0)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* A dump, as text, with every line checked. */
struct fuzz_config_dump {
	char	*text;
	size_t	 len;
};

static void
fuzz_config_sink(const char *line, void *arg)
{
	struct fuzz_config_dump *d = arg;
	size_t n = strlen(line);
	const char *sep = strstr(line, ": ");

	FUZZ_ASSERT(n > 0 && strchr(line, '\n') == NULL);
	FUZZ_ASSERT(sep != NULL && sep > line);
	d->text = realloc(d->text, d->len + n + 2);
	FUZZ_ASSERT(d->text != NULL);
	memcpy(d->text + d->len, line, n);
	d->len += n;
	d->text[d->len++] = '\n';
	d->text[d->len] = '\0';
}

/* Loads data, returns the dump (or NULL) and the error text. */
static char *
fuzz_config_load(const uint8_t *data, size_t size, char *err, size_t errsz)
{
	struct fuzz_config_dump d = { NULL, 0 };
	struct config *cfg;

	err[0] = '\0';
	cfg = config_load_buffer_("fuzz.yaml", (const char *)data, size, err,
	    errsz);
	if (cfg == NULL) {
		/* Every refusal names the file (and line, where it has one). */
		FUZZ_ASSERT(strncmp(err, "fuzz.yaml", 9) == 0);
		return NULL;
	}
	config_dump(cfg, fuzz_config_sink, &d);
	config_unref(cfg);
	FUZZ_ASSERT(d.text != NULL && d.len > 0);
	return d.text;
}

static void
fuzz_config_parsers(const uint8_t *data, size_t size)
{
	struct sockaddr_in6 sin6;
	struct sockaddr_in sin;
	struct config_cidr c;
	char s[256];
	int64_t secs;
	size_t n, bytes;

	for (n = 0; n < size && n < sizeof(s) - 1 && data[n] != '\n'; n++)
		s[n] = (char)data[n];
	s[n] = '\0';
	if (config_parse_duration(s, &secs) == 0)
		FUZZ_ASSERT(secs >= 0);
	(void)config_parse_size(s, &bytes);
	if (config_parse_cidr(s, &c) == 0) {
		FUZZ_ASSERT(c.family == AF_INET || c.family == AF_INET6);
		FUZZ_ASSERT(c.prefix >= 0 &&
		    c.prefix <= (c.family == AF_INET ? 32 : 128));
		/* A network contains its own (first) address. */
		memset(&sin, 0, sizeof(sin));
		sin.sin_family = AF_INET;
		memcpy(&sin.sin_addr, c.addr, 4);
		memset(&sin6, 0, sizeof(sin6));
		sin6.sin6_family = AF_INET6;
		memcpy(&sin6.sin6_addr, c.addr, 16);
		FUZZ_ASSERT(config_cidr_match(&c, 1, c.family == AF_INET ?
		    (struct sockaddr *)&sin : (struct sockaddr *)&sin6));
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char err1[512], err2[512], *d1, *d2;

	fuzz_config_parsers(data, size);
	d1 = fuzz_config_load(data, size, err1, sizeof(err1));
	d2 = fuzz_config_load(data, size, err2, sizeof(err2));
	FUZZ_ASSERT((d1 == NULL) == (d2 == NULL));
	if (d1 != NULL)
		FUZZ_ASSERT(strcmp(d1, d2) == 0);
	else
		FUZZ_ASSERT(strcmp(err1, err2) == 0);
	free(d1);
	free(d2);
	return 0;
}
