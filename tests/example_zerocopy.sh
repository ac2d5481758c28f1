#!/bin/bash
# tests/example_zerocopy.sh - examples/zerocopy_producer.c does what it
# says:
#  - the consumer started first (it creates the 16 KiB pipe), the producer
#    then, 200000 records of 64 bytes through it at once: both exit 0, the
#    consumer verified all 200000 in order, both saw the ring wrap (12 MiB
#    through 16 KiB), the pipe is gone after the consumer;
#  - the other way round (the producer creates the pipe and fills it, the
#    consumer comes later, with batches of 5): the same;
#  - a consumer expecting more than was sent: exit 1, FAILED;
#  - SIGTERM to a producer blocked on a full pipe: exit 1 within seconds,
#    its records stay for a consumer;
#  - a bad pipe name, for either side: exit 1 with a message naming it; a
#    stream pipe: exit 1, "not a message pipe"; usage errors: exit 2.
# BUILD=<build directory>, SHMPIPE=<CLI> (defaults: beside this script).
set -u
here=$(cd "$(dirname "$0")" && pwd)
BUILD=${BUILD:-$here/../build}
S=${SHMPIPE:-$BUILD/shmpipe}
prog=$BUILD/examples/zerocopy_producer
name=t-$$-zc
tmp=$(mktemp -d "${TMPDIR:-/tmp}/example_zerocopy.XXXXXX")
pids=() # background processes, ended by pid on exit

cleanup() {
	local p
	for p in "${pids[@]}"; do kill -KILL "$p" 2>/dev/null; done
	wait 2>/dev/null
	rm -f /dev/shm/shmpipe."$name"*
	rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 1' INT TERM HUP
fail() {
	local f
	echo "FAIL: $*"
	for f in "$tmp"/*.log; do
		[ -s "$f" ] && sed "s|^|  ${f##*/}: |" "$f" | tail -n 5
	done
	exit 1
}
T() { timeout -k 5 60 "$@"; }
# number FILE REGEX: the number captured by \(...\) in REGEX, from FILE.
number() { sed -n "s/.*$2.*/\1/p" "$1" | head -n 1; }

[ -x "$prog" ] || fail "$prog is not built"

# pass COUNT: the producer's and the consumer's logs say all went well.
pass() {
	grep -q "^consumer: all $1 records verified, in order$" "$tmp/consumer.log" ||
		fail "the consumer did not verify $1 records"
	grep -q "^producer: $1 records in " "$tmp/producer.log" ||
		fail "the producer did not write $1 records"
	[ -e "/dev/shm/shmpipe.$name" ] && fail "the pipe stays after the consumer"
}

# ----------------------------------------------- consumer first, at once
N=200000
T "$prog" --consume --capacity 16384 "$name" $N >"$tmp/consumer.log" 2>&1 &
consumer=$!
pids+=($consumer)
for _ in $(seq 100); do
	[ -e "/dev/shm/shmpipe.$name" ] && break
	sleep 0.05
done
T "$prog" "$name" $N >"$tmp/producer.log" 2>&1
rc=$?
[ $rc = 0 ] || fail "producer: exit $rc"
wait $consumer
rc=$?
[ $rc = 0 ] || fail "consumer: exit $rc"
pass $N
for side in producer consumer; do
	wraps=$(number "$tmp/$side.log" 'the ring wrapped \([0-9]*\) times')
	[ "${wraps:-0}" -gt 0 ] || fail "$side: the ring never wrapped"
done
cat "$tmp/producer.log" "$tmp/consumer.log"

# ------------------------------------------ producer first, small batches
N=3000
T "$prog" --capacity 8192 --batch 5 "$name" $N >"$tmp/producer.log" 2>&1 &
producer=$!
pids+=($producer)
# It fills the pipe and waits for room: only then the consumer comes.
for _ in $(seq 100); do
	[ "$("$S" stat "$name" --json 2>/dev/null | sed -n 's/.*"fill":\([0-9]*\).*/\1/p')" -gt 7000 ] 2>/dev/null && break
	sleep 0.05
done
T "$prog" --consume "$name" $N >"$tmp/consumer.log" 2>&1 || fail "consumer: exit $?"
wait $producer || fail "producer: exit $?"
pass $N
messages=$(number "$tmp/producer.log" 'records in \([0-9]*\) messages')
[ "${messages:-0}" -ge $((N / 5)) ] || fail "batches of 5: $messages messages for $N records"

# --------------------------------------------- fewer records than expected
T "$prog" "$name" 100 >"$tmp/producer.log" 2>&1 || fail "producer: exit $?"
T "$prog" --consume "$name" 200 >"$tmp/consumer.log" 2>&1
rc=$?
[ $rc = 1 ] || fail "consumer of 100 records expecting 200: exit $rc, want 1"
grep -q '^consumer: FAILED: 100 of 200 records verified, 0 bad$' "$tmp/consumer.log" ||
	fail "consumer of 100 records expecting 200"
[ -e "/dev/shm/shmpipe.$name" ] && fail "the pipe stays after a failed consumer"

# --------------------------------------------- SIGTERM on a full pipe
"$prog" --capacity 8192 "$name" 100000 >"$tmp/producer.log" 2>&1 &
producer=$!
pids+=($producer)
for _ in $(seq 100); do
	[ "$("$S" stat "$name" --json 2>/dev/null | sed -n 's/.*"fill":\([0-9]*\).*/\1/p')" -gt 4000 ] 2>/dev/null && break
	sleep 0.05
done
kill -TERM $producer
end=$((SECONDS + 10))
while kill -0 $producer 2>/dev/null; do
	[ $SECONDS -lt $end ] || fail "the producer ignores SIGTERM"
	sleep 0.05
done
wait $producer
rc=$?
[ $rc = 1 ] || fail "producer on SIGTERM: exit $rc, want 1"
grep -q 'producer stopped by a signal' "$tmp/producer.log" || fail "SIGTERM not reported"
written=$(number "$tmp/producer.log" ' \([0-9]*\) records in ')
[ "${written:-0}" -gt 0 ] || fail "the producer wrote nothing before SIGTERM"
T "$prog" --consume "$name" "$written" >"$tmp/consumer.log" 2>&1 ||
	fail "the $written records left by the stopped producer: consumer exit $?"

# ------------------------------------------------------------- errors
for side in "" --consume; do
	T "$prog" $side 'bad/name' 10 >"$tmp/bad.log" 2>&1
	rc=$?
	[ $rc = 1 ] || fail "a bad name ($side): exit $rc, want 1"
	grep -q "cannot open pipe 'bad/name': Invalid argument" "$tmp/bad.log" ||
		fail "a bad name ($side): $(cat "$tmp/bad.log")"
done
"$S" create "$name-stream" --size 64K || fail "shmpipe create"
T "$prog" "$name-stream" 10 >"$tmp/bad.log" 2>&1
rc=$?
[ $rc = 1 ] && grep -q "pipe '$name-stream' is not a message pipe" "$tmp/bad.log" ||
	fail "a stream pipe: exit $rc: $(cat "$tmp/bad.log")"
"$S" rm "$name-stream"
for args in "" "$name" "$name 0" "$name 10 x" "--bogus $name 10" "--batch 0 $name 10"; do
	# shellcheck disable=SC2086
	"$prog" $args >/dev/null 2>&1
	rc=$?
	[ $rc = 2 ] || fail "usage '$args': exit $rc, want 2"
done
rm -f "$tmp"/*.log
echo "PASS"
exit 0
