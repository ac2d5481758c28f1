#!/bin/bash
# tests/example_fifo_front.sh - the FIFO front used by unmodified programs:
#  - examples/fifo_front.sh exits 0 with its PASS verdict (it checks for
#    itself that sha256sum of 16 MiB read from the FIFO is the input's, and
#    that sort read every line of three concurrent writers), and leaves
#    none of its pipes in /dev/shm;
#  - its steps, checked here on their own with another program and
#    another writer: 100000 lines sent by examples/remote_writer through
#    the bridge into a message pipe; tee reads the FIFO like a file into
#    wc -l, which counts 100000, and a copy, which is the input byte for
#    byte, once serve is stopped (exit 0, the FIFO removed).
. "$(dirname "$0")/bridge_lib.bash"

here=$(cd "$(dirname "$0")" && pwd)
BUILD=${BUILD:-$here/../build}
RW=$BUILD/examples/remote_writer
[ -x "$RW" ] || fail "$RW is not built"

# ------------------------------------------------------------ the script
SHMPIPE=$S "$here/../examples/fifo_front.sh" >"$tmp/demo.out" 2>&1 &
demo=$!
bg+=($demo)
reap $demo 120
sed 's/^/  | /' "$tmp/demo.out"
[ "$REAPED" = 0 ] || fail "examples/fifo_front.sh exit $REAPED"
[ "$(tail -n 1 "$tmp/demo.out")" = "fifo_front: PASS" ] || fail "no PASS verdict"
grep -q '^   sha256sum FIFO: [0-9a-f]\{16\}\.\.\., the input' "$tmp/demo.out" ||
	fail "no sha256 line"
left=$(ls /dev/shm | grep "fifo-front-$demo")
[ -z "$left" ] || fail "fifo_front.sh left $left in /dev/shm"

# --------------------------------------------------- its steps, wc and cmp
N=100000
lines_gen a $N >"$tmp/in"
name=$P-fifo
T "$S" create "$name" --size 256K --message || fail "create"
serve "$name" --listen tcp://:0 --framing lines --fifo "$tmp/fifo"
[ -p "$tmp/fifo" ] || fail "serve --fifo made no FIFO"
# The FIFO has one reader: tee, which hands the bytes to wc -l and a copy.
T bash -c 'tee "$2" <"$1" | wc -l >"$3"' _ "$tmp/fifo" "$tmp/out" "$tmp/count" &
reader=$!
bg+=($reader)
T "$RW" "$HOST" "$PORT" --lines <"$tmp/in" || fail "remote_writer exit $?"
wait_field "$name" messages_out $N 60
# Stop at once: serve finishes the unit it has begun to hand over.
stop "$SERVE_PID"
reap $reader 60
[ "$REAPED" = 0 ] || fail "wc -l exit $REAPED"
[ "$(cat "$tmp/count")" = $N ] || fail "wc -l FIFO: $(cat "$tmp/count"), want $N"
cmp -s "$tmp/in" "$tmp/out" || fail "the FIFO's bytes are not the input"
[ -e "$tmp/fifo" ] && fail "the FIFO stays after serve"
T "$S" rm "$name"
echo ok
