/*
 * fuzz_config.c - libFuzzer target for the YAML configuration loader
 * (STYLE G11).
 *
 * Feeds the input to config_load_buffer_() and, when it loads, through
 * config_dump() too.  The first line of the input, cut to 255 bytes, also
 * goes to the pure value parsers (duration, size, CIDR) and the matcher.
 * Never exits, never leaks: the loader returns NULL on any error.
 */
#include <sys/socket.h>

#include <netinet/in.h>

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "config.h"
#include "config_priv.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
fuzz_config_sink(const char *line, void *arg)
{
	size_t *total = arg;

	*total += strlen(line);
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
	(void)config_parse_duration(s, &secs);
	(void)config_parse_size(s, &bytes);
	if (config_parse_cidr(s, &c) == 0) {
		memset(&sin, 0, sizeof(sin));
		sin.sin_family = AF_INET;
		memcpy(&sin.sin_addr, c.addr, 4);
		(void)config_cidr_match(&c, 1, (struct sockaddr *)&sin);
		memset(&sin6, 0, sizeof(sin6));
		sin6.sin6_family = AF_INET6;
		memcpy(&sin6.sin6_addr, c.addr, 16);
		(void)config_cidr_match(&c, 1, (struct sockaddr *)&sin6);
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct config *cfg;
	char err[512];
	size_t total = 0;

	fuzz_config_parsers(data, size);
	cfg = config_load_buffer_("fuzz.yaml", (const char *)data, size, err,
	    sizeof(err));
	if (cfg != NULL) {
		config_dump(cfg, fuzz_config_sink, &total);
		config_unref(cfg);
	}
	return 0;
}
