/*
 * replay_main.c - plain driver that feeds every file of a corpus folder to
 * LLVMFuzzerTestOneInput, so the normal test run (and its ASan build)
 * replays the fuzz corpora without libFuzzer (STYLE G11).
 */
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
main(int argc, char **argv)
{
	struct dirent *de;
	DIR *d;
	int n = 0;

	if (argc != 2) {
		fprintf(stderr, "usage: %s CORPUS_DIR\n", argv[0]);
		return 2;
	}
	if ((d = opendir(argv[1])) == NULL) {
		perror(argv[1]);
		return 1;
	}
	while ((de = readdir(d)) != NULL) {
		char path[4096];
		uint8_t *buf;
		FILE *f;
		long sz;

		if (de->d_name[0] == '.')
			continue;
		if (snprintf(path, sizeof(path), "%s/%s", argv[1],
		    de->d_name) >= (int)sizeof(path))
			continue;
		if ((f = fopen(path, "rb")) == NULL) {
			perror(path);
			closedir(d);
			return 1;
		}
		fseek(f, 0, SEEK_END);
		sz = ftell(f);
		fseek(f, 0, SEEK_SET);
		buf = malloc(sz > 0 ? (size_t)sz : 1);
		if (sz < 0 || buf == NULL ||
		    fread(buf, 1, (size_t)sz, f) != (size_t)sz) {
			fprintf(stderr, "%s: cannot read\n", path);
			free(buf);
			fclose(f);
			closedir(d);
			return 1;
		}
		LLVMFuzzerTestOneInput(buf, (size_t)sz);
		n++;
		free(buf);
		fclose(f);
	}
	closedir(d);
	printf("replayed %d inputs from %s\n", n, argv[1]);
	/* An empty or missing corpus tests nothing: that is a failure. */
	if (n == 0) {
		fprintf(stderr, "%s: no inputs\n", argv[1]);
		return 1;
	}
	return 0;
}
