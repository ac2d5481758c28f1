/* SPDX-License-Identifier: MIT */
/*
 * replay_main.c - runs a libFuzzer target without libFuzzer: every file
 * named on the command line, or found in a directory named there, is
 * passed once to LLVMFuzzerTestOneInput() in a heap block of exactly its
 * size (so ASan, in `make check SANITIZE=1`, sees any overrun). This is
 * how `make check` replays the corpora (tests/fuzz_replay.sh) on machines
 * without a fuzzer. Prints "replayed N inputs"; exit 0, or the crash.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int replay_file(const char *path)
{
	FILE *f = fopen(path, "rb");
	if (!f) {
		perror(path);
		return -1;
	}
	struct stat st;
	if (fstat(fileno(f), &st) < 0 || !S_ISREG(st.st_mode)) {
		fclose(f);
		return 0;
	}
	size_t size = (size_t)st.st_size;
	uint8_t *buf = malloc(size ? size : 1);
	if (!buf || fread(buf, 1, size, f) != size) {
		fprintf(stderr, "%s: cannot read\n", path);
		free(buf);
		fclose(f);
		return -1;
	}
	fclose(f);
	LLVMFuzzerTestOneInput(buf, size);
	free(buf);
	return 1;
}

int main(int argc, char **argv)
{
	long n = 0;
	for (int i = 1; i < argc; i++) {
		DIR *d = opendir(argv[i]);
		if (!d) {
			int r = replay_file(argv[i]);
			if (r < 0)
				return 1;
			n += r;
			continue;
		}
		struct dirent *e;
		while ((e = readdir(d))) {
			if (e->d_name[0] == '.')
				continue;
			char path[4096];
			snprintf(path, sizeof(path), "%s/%s", argv[i], e->d_name);
			int r = replay_file(path);
			if (r < 0)
				return 1;
			n += r;
		}
		closedir(d);
	}
	printf("replayed %ld inputs\n", n);
	return 0;
}
