/*
 * config_priv.h - test and fuzz seams of config.c (STYLE G1: symbols that
 * exist only for tests end in '_').
 *
 * config_load_buffer_() is config_load() without the file: name is used in
 * error messages and as cfg->path.  data need not be NUL-terminated.
 * config_example_() writes the commented example configuration generated
 * from the table; config.example.yaml at the top of the tree is its
 * output, and the unit test checks that the two agree.
 * config_man_() writes the manual page mailhold.yaml(5) (man(7) macros)
 * from the same table; docs/man/mailhold.yaml.5 is its output, checked
 * the same way (tests/unit/check_man.c).
 * Thread: any (no globals).  Errors: as config_load().
 */
#ifndef MH_PROXY_CONFIG_PRIV_H
#define MH_PROXY_CONFIG_PRIV_H

#include <stddef.h>

#include "config.h"

struct config	*config_load_buffer_(const char *name, const char *data,
		    size_t len, char *errbuf, size_t errsz);
void		 config_example_(void (*out)(const char *line, void *arg),
		    void *arg);
void		 config_man_(void (*out)(const char *line, void *arg),
		    void *arg);

#endif
