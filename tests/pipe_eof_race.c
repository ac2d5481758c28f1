/* SPDX-License-Identifier: MIT */
/*
 * pipe_eof_race.c - end of file only once the pipe is empty: writers
 * that write their last records and close while the reader is between
 * finding the pipe empty and counting the writers must not make it see
 * end of file with their data still in the pipe. Many rounds of W writer
 * processes closing at about the same time, one reader reading big chunks
 * until end of file: it must get every byte, and the pipe must be empty.
 * (Before the fix about 1 round in 300 ended early here; 250 rounds, run
 * twice by CI, catch a regression most of the time.)
 */
#include "helpers.h"

#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#define WRITERS 8
#define RECORDS 12500
#define RECORD 512
#define ROUNDS 250

/* Every writer is attached before any writes (else end of file after the
 * first ones would be right: a FIFO's rule), then they all go at once. */
static void writer(const char *name, int attached, int go)
{
	shmpipe *w = t_pipe_open(name, SHMPIPE_WRITE);
	char c = 'a';
	if (write(attached, &c, 1) != 1 || read(go, &c, 1) != 1)
		_exit(3);
	char rec[RECORD];
	memset(rec, 'r', sizeof(rec));
	for (int i = 0; i < RECORDS; i++)
		if (shmpipe_write(w, rec, sizeof(rec), 10000) != RECORD)
			_exit(2);
	shmpipe_close(w); /* the last records and the close race the reader */
	_exit(0);
}

int main(void)
{
	static char buf[64 << 10];
	const char *name = t_pipe_create("race", 8 << 20, SHMPIPE_STREAM);
	for (int round = 0; round < ROUNDS; round++) {
		struct shmpipe_config cfg = { .capacity = 8 << 20,
					      .flags = SHMPIPE_REPLACE };
		T_OK(shmpipe_create(name, &cfg));
		shmpipe *r = t_pipe_open(name, SHMPIPE_READ | SHMPIPE_EXCLUSIVE);
		pid_t pids[WRITERS];
		int attached[2], go[2];
		T_ASSERT(pipe(attached) == 0 && pipe(go) == 0);
		for (int i = 0; i < WRITERS; i++) {
			pids[i] = fork();
			T_ASSERT(pids[i] >= 0);
			if (pids[i] == 0)
				writer(name, attached[1], go[0]);
		}
		char c[WRITERS];
		for (int i = 0; i < WRITERS; i++)
			T_EQ(read(attached[0], c, 1), 1);
		memset(c, 'g', sizeof(c));
		T_EQ(write(go[1], c, sizeof(c)), WRITERS);
		for (int i = 0; i < 2; i++)
			close(attached[i]), close(go[i]);
		uint64_t got = 0;
		for (;;) {
			ssize_t n = shmpipe_read(r, buf, sizeof(buf), 20000);
			T_ASSERT(n >= 0);
			if (n == 0)
				break;
			got += (uint64_t)n;
		}
		for (int i = 0; i < WRITERS; i++) {
			int st;
			T_EQ(waitpid(pids[i], &st, 0), pids[i]);
			T_ASSERT(WIFEXITED(st) && WEXITSTATUS(st) == 0);
		}
		struct shmpipe_stats st;
		T_OK(shmpipe_stat_handle(r, &st));
		if (got != (uint64_t)WRITERS * RECORDS * RECORD)
			printf("round %d: end of file after %llu bytes with %llu "
			       "still in the pipe\n", round,
			       (unsigned long long)got,
			       (unsigned long long)st.bytes_buffered);
		T_EQ(got, (uint64_t)WRITERS * RECORDS * RECORD);
		T_EQ(st.bytes_buffered, 0);
		shmpipe_close(r);
	}
	shmpipe_unlink(name);
	return 0;
}
