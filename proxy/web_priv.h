/*
 * web_priv.h - web.c's parsers, exposed for the tests and fuzz targets
 * only (STYLE G1: test-only symbols end in "_").
 */
#ifndef MH_PROXY_WEB_PRIV_H
#define MH_PROXY_WEB_PRIV_H

#include <stddef.h>

/*
 * The POST body of the sender's page: exactly one "csrf" and one
 * "action", in any order, each value of base64url characters, shorter
 * than csz / asz (the copies are NUL-terminated).  0, or -1 when
 * malformed (anything else, twice, empty key, no "=").
 */
int	web_form_parse_(const char *p, size_t len, char *csrf, size_t csz,
	    char *action, size_t asz);

#endif
