#!/bin/bash
# examples/fifo_front.sh - unmodified programs read a shmpipe pipe as if it
# were a file, through the FIFO front of `shmpipe serve --fifo PATH`:
#  1. 16 MiB of random bytes go into a 1 MiB stream pipe with `shmpipe
#     write`; `sha256sum FIFO` reads them, and its sum is the input's;
#  2. lines from a local writer and two remote ones (over the bridge's
#     ephemeral loopback port) go into a message pipe at once; `sort FIFO`
#     reads them, and its output is the sorted input.
# serve keeps the FIFO open for writing while it runs, so the program
# reading it sees end of file only when serve stops: each step waits until
# the pipe has handed everything to the FIFO, then stops serve with SIGTERM
# (a clean stop: exit 0, the FIFO removed). The pipes are removed at exit.
# Uses the CLI $SHMPIPE, or ${B:-build}/shmpipe. The last line is the
# verdict; exit 0 when every check held, 1 otherwise.
set -u
S=${SHMPIPE:-${B:-build}/shmpipe}
n=fifo-front-$$
tmp=$(mktemp -d "${TMPDIR:-/tmp}/fifo-front.XXXXXX")
pids=() # every process started in the background, ended on exit

cleanup() {
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null; done
	wait 2>/dev/null
	"$S" rm --force "$n-bytes" "$n-lines"
	rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 1' INT TERM HUP
fail() {
	echo "fifo_front: FAIL: $*"
	exit 1
}
lines() { awk -v t="$1" -v n="$2" 'BEGIN { for (i = 1; i <= n; i++) print t, i }'; }
# pipe_stat PIPE KEY: a number from `shmpipe stat --json PIPE`.
pipe_stat() { "$S" stat --json "$1" | sed -n "s/.*\"$2\":\([0-9]*\).*/\1/p"; }

# front PIPE [OPTION...]: serve PIPE on an ephemeral loopback port (for
# remote writers) with its FIFO front at $tmp/PIPE.fifo. Sets fifo, serve
# (its pid) and addr (where it listens, from its "listening" line).
front() {
	fifo=$tmp/$1.fifo
	"$S" serve "$@" --listen tcp://:0 --fifo "$fifo" \
		>"$tmp/serve.out" 2>"$tmp/serve.err" &
	serve=$!
	pids+=("$serve")
	for _ in $(seq 100); do
		grep -q '^listening ' "$tmp/serve.out" && break
		sleep 0.05
	done
	addr=$(sed -n 's/^listening //p' "$tmp/serve.out")
	[ -n "$addr" ] || fail "serve did not start: $(cat "$tmp/serve.err")"
	[ -p "$fifo" ] || fail "serve made no FIFO at $fifo"
}

# stop_front PIPE KEY VALUE: wait (60 s at most) until the FIFO front has
# taken everything from PIPE (stat KEY, bytes_out or messages_out, reaches
# VALUE), then stop serve: it closes the FIFO, the reader sees end of file.
stop_front() {
	for _ in $(seq 600); do
		[ "$(pipe_stat "$1" "$2")" = "$3" ] && break
		sleep 0.1
	done
	[ "$(pipe_stat "$1" "$2")" = "$3" ] ||
		fail "$1: $2 is $(pipe_stat "$1" "$2"), want $3"
	# Nothing is lost by stopping now: serve takes a stream's bytes from
	# the pipe only as the FIFO takes them, and finishes a message it
	# has begun to hand over before it exits.
	kill -TERM "$serve"
	wait "$serve" || fail "serve exit $? on SIGTERM, want 0"
	[ -e "$fifo" ] && fail "the FIFO stays after serve"
}

echo "== 1. 16 MiB through a 1 MiB stream pipe; sha256sum reads the FIFO"
"$S" create "$n-bytes" --size 1M || fail "create"
front "$n-bytes"
# Unmodified: sha256sum opens the path like any file. Start it first:
# the FIFO front moves data only while someone reads the FIFO, and the
# writer below blocks whenever the pipe is full (nothing is dropped).
sha256sum "$fifo" >"$tmp/sum" &
reader=$!
pids+=("$reader")
head -c 16M /dev/urandom >"$tmp/data"
"$S" write "$n-bytes" <"$tmp/data" || fail "write exit $?"
stop_front "$n-bytes" bytes_out $((16 << 20))
wait "$reader" || fail "sha256sum exit $?"
want=$(sha256sum <"$tmp/data" | cut -d' ' -f1)
got=$(cut -d' ' -f1 "$tmp/sum")
[ "$got" = "$want" ] || fail "sha256sum read $got from the FIFO, want $want"
echo "   sha256sum FIFO: ${got:0:16}..., the input's sum"

echo "== 2. lines from three writers at once into a message pipe; sort reads the FIFO"
N=20000
"$S" create "$n-lines" --size 256K --message || fail "create"
front "$n-lines" --framing lines # each message comes out as a line
LC_ALL=C sort "$fifo" >"$tmp/sorted" &
reader=$!
pids+=("$reader")
for w in local remote1 remote2; do lines "$w" $N >"$tmp/$w.in"; done
writers=()
"$S" write "$n-lines" --lines <"$tmp/local.in" &
writers+=($!)
for w in remote1 remote2; do
	"$S" write --connect "$addr" <"$tmp/$w.in" &
	writers+=($!)
done
pids+=("${writers[@]}")
for w in "${writers[@]}"; do wait "$w" || fail "a writer failed"; done
stop_front "$n-lines" messages_out $((3 * N))
wait "$reader" || fail "sort exit $?"
LC_ALL=C sort "$tmp"/*.in | cmp -s - "$tmp/sorted" ||
	fail "sort read $(wc -l <"$tmp/sorted") lines, not the $((3 * N)) sent"
echo "   sort FIFO: $(wc -l <"$tmp/sorted") lines, exactly the input, sorted"
echo "fifo_front: PASS"
