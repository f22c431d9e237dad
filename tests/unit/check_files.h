/*
 * check_files.h - the test-data folder and whole-file reads, for the unit
 * tests that compare a checked-in file with what the code generates
 * (config.example.yaml, mailhold.yaml(5)), and the line collector they
 * generate it with.  Failures are Check failures.
 */
#ifndef MH_TESTS_CHECK_FILES_H
#define MH_TESTS_CHECK_FILES_H

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <check.h>

#include "util.h"

/* $MH_TEST_DATA: <src>/tests/data, set by CMake for every unit test. */
static inline const char *
test_data(void)
{
	const char *d = getenv("MH_TEST_DATA");

	ck_assert_msg(d != NULL && d[0] != '\0', "MH_TEST_DATA is not set "
	    "(CMake sets it to <src>/tests/data)");
	return d;
}

/* A line callback (config_dump(), config_example_(), config_man_())
 * that appends each line and a newline to the struct mh_buf at arg. */
static inline void
collect_line_cb(const char *line, void *arg)
{
	struct mh_buf *b = arg;

	ck_assert_int_eq(mh_buf_puts(b, line), 0);
	ck_assert_int_eq(mh_buf_puts(b, "\n"), 0);
}

/* The whole file as a string (at most 4 MiB); the caller frees it. */
static inline char *
read_text(const char *path)
{
	struct mh_buf b;
	char chunk[4096];
	size_t n;
	FILE *f;

	ck_assert_msg((f = fopen(path, "r")) != NULL, "%s: %s", path,
	    strerror(errno));
	mh_buf_init(&b, 1 << 22);
	while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0)
		ck_assert_int_eq(mh_buf_append(&b, chunk, n), 0);
	fclose(f);
	return mh_buf_steal(&b, NULL);
}

#endif
