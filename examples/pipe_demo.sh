#!/bin/bash
# examples/pipe_demo.sh - the buffered pipe at work (run by `make demo`).
#  1. a 1 MiB message pipe is filled by four writers at once, with no
#     reader; one of them is SIGKILLed while it waits on the full pipe;
#  2. the writers are gone, the data waits; a reader started now gets every
#     line whole and in order per writer, then end of file (the killed
#     writer is noticed, not waited for);
#  3. 64 MiB of random bytes through a 256 KiB stream pipe, sha256 checked.
# Exits non-zero if anything is wrong.
set -u
S=${B:?}/shmpipe
n=demo-$$ m=demo-$$-stream
tmp=$(mktemp -d)
trap '$S rm --force $n $m; rm -rf "$tmp"' EXIT
fail() { echo "demo: FAIL: $*"; exit 1; }
lines() { for ((i = 1; i <= $2; i++)); do echo "$1 $i"; done; }

echo "== 1. create a 1 MiB message pipe; four writers at once, no reader yet"
$S create $n --size 1M --message || fail create
for w in w1 w2 w4; do lines $w 5000 | $S write $n --lines & done
# w3 has far more to say than the pipe holds: it blocks once the pipe is full
lines w3 200000 >"$tmp/w3.in"
$S write $n --lines <"$tmp/w3.in" &
w3=$!
wait %1 %2 %3
for _ in $(seq 100); do
	full=$($S stat $n --json | sed 's/.*"fill":\([0-9]*\).*/\1/')
	[ "$full" -gt 1000000 ] && break
	sleep 0.05
done
kill -9 $w3; wait $w3 2>/dev/null
echo "   writer w3 (pid $w3) SIGKILLed while blocked on the full pipe"
$S stat $n | sed 's/^/   /'

echo "== 2. nobody writes any more; a reader started now drains it"
$S read $n --lines >"$tmp/out" || fail "read exit $?"
for w in w1 w2 w4; do
	grep "^$w " "$tmp/out" | cut -d' ' -f2 >"$tmp/$w"
	[ "$(wc -l <"$tmp/$w")" = 5000 ] && cmp -s "$tmp/$w" <(seq 5000) ||
		fail "writer $w: lines lost or out of order"
done
k=$(grep -c '^w3 ' "$tmp/out")
grep '^w3 ' "$tmp/out" | cut -d' ' -f2 | cmp -s - <(seq "$k") ||
	fail "w3: a gap or a torn line"
bad=$(grep -cvE '^w[1-4] [0-9]+$' "$tmp/out")
[ "$bad" = 0 ] || fail "$bad torn lines"
echo "   read $(wc -l <"$tmp/out") lines: w1, w2, w4 5000 each, in order;"
echo "   w3 the first $k, no gap, nothing torn; then end of file"

echo "== 3. 64 MiB through a 256 KiB stream pipe, writer and reader at once"
$S create $m --size 256K || fail create
head -c $((64 << 20)) /dev/urandom >"$tmp/data"
start=$(date +%s%N)
$S read $m >"$tmp/copy" &
$S write $m <"$tmp/data" || fail write
wait $! || fail "read exit"
ms=$((($(date +%s%N) - start) / 1000000))
a=$(sha256sum <"$tmp/data" | cut -c1-16) b=$(sha256sum <"$tmp/copy" | cut -c1-16)
[ "$a" = "$b" ] || fail "sha256 differs"
echo "   sha256 $a... equal on both sides; $((64 * 1000 / (ms + 1))) MiB/s through the CLI"
echo "demo: PASS (pipe)"
