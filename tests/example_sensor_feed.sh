#!/bin/bash
# tests/example_sensor_feed.sh - examples/sensor_feed.c does what it says:
#  - 4 producers x 10000 readings: exit 0, the last line says "received
#    40000 readings from 4 producers, none lost, in order per producer",
#    every producer exited 0; the pipe is gone;
#  - a producer SIGKILLed midway: the feed still ends (end of file, within
#    60 s), exit 1, the killed producer's readings arrived in order up to
#    some k < 10000, the others' all 10000, and the last line reports
#    exactly 30000 + k readings, without claiming none lost;
#  - SIGTERM to the consumer stops everything: exit 1, "stopped by signal
#    15", no producer left running, the pipe gone;
#  - an existing pipe name: exit 1 with a message naming it; usage: exit 2.
# BUILD=<build directory>, SHMPIPE=<CLI> (defaults: beside this script).
set -u
here=$(cd "$(dirname "$0")" && pwd)
BUILD=${BUILD:-$here/../build}
S=${SHMPIPE:-$BUILD/shmpipe}
prog=$BUILD/examples/sensor_feed
name=t-$$-feed
tmp=$(mktemp -d "${TMPDIR:-/tmp}/example_sensor_feed.XXXXXX")
bg= # the consumer running in the background, if any

# The consumer's producers die with it (PR_SET_PDEATHSIG); producers named
# in its log are ended too, by pid, should it have been SIGKILLed.
cleanup() {
	local p
	if [ -n "$bg" ]; then
		for p in $(sed -n 's/^producer [0-9]*: pid //p' "$tmp/log" 2>/dev/null); do
			[ "$(ps -o ppid= -p "$p" 2>/dev/null | tr -d ' ')" = "$bg" ] &&
				kill -KILL "$p" 2>/dev/null
		done
		kill -KILL "$bg" 2>/dev/null
		wait "$bg" 2>/dev/null
	fi
	rm -f /dev/shm/shmpipe."$name"*
	rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 1' INT TERM HUP
fail() {
	echo "FAIL: $*"
	[ -s "$tmp/log" ] && sed 's/^/  log: /' "$tmp/log" | tail -n 15
	exit 1
}
# wait_for REGEX [SECONDS]: until the log has a line matching REGEX.
wait_for() {
	local end=$((SECONDS + ${2:-30}))
	until grep -Eq "$1" "$tmp/log"; do
		[ $SECONDS -lt $end ] || fail "no line /$1/ in ${2:-30} s"
		kill -0 "$bg" 2>/dev/null || fail "sensor_feed died before /$1/"
		sleep 0.05
	done
}
# reap [SECONDS]: wait for the background consumer, boundedly; sets rc.
reap() {
	local end=$((SECONDS + ${1:-60}))
	while kill -0 "$bg" 2>/dev/null; do
		[ $SECONDS -lt $end ] || fail "sensor_feed did not end in ${1:-60} s"
		sleep 0.1
	done
	wait "$bg"
	rc=$?
	bg=
}

[ -x "$prog" ] || fail "$prog is not built"

# ------------------------------------------------------- all of them
timeout -k 5 120 "$prog" "$name" 4 10000 >"$tmp/log" 2>&1
rc=$?
[ $rc = 0 ] || fail "4 x 10000: exit $rc, want 0"
last=$(tail -n 1 "$tmp/log")
[ "$last" = "received 40000 readings from 4 producers, none lost, in order per producer" ] ||
	fail "4 x 10000: last line: $last"
[ "$(grep -c '^producer [0-3]: 10000 of 10000 readings, all in order; exited 0$' "$tmp/log")" = 4 ] ||
	fail "4 x 10000: not every producer complete and exited 0"
[ -e "/dev/shm/shmpipe.$name" ] && fail "the pipe stays after the feed"

# ---------------------------------------------------- one SIGKILLed
# 500 us between readings: each producer needs 5 s at least, so the kill
# after the first summary (1 s) comes midway.
"$prog" --interval-us 500 "$name" 4 10000 >"$tmp/log" 2>&1 &
bg=$!
wait_for '^producer 3: pid [0-9]+$'
wait_for ' s: [0-9]+ readings'
victim=$(sed -n 's/^producer 2: pid //p' "$tmp/log")
[ "$(ps -o ppid= -p "$victim" | tr -d ' ')" = "$bg" ] ||
	fail "producer 2 (pid $victim) is not a child of sensor_feed $bg"
kill -KILL "$victim"
reap 60
[ $rc = 1 ] || fail "a producer killed: exit $rc, want 1"
line=$(grep '^producer 2: ' "$tmp/log" | tail -n 1)
k=$(sed -n 's/^producer 2: \([0-9]*\) of 10000 readings, in order, then nothing; killed by signal 9$/\1/p' <<<"$line")
[ -n "$k" ] || fail "the killed producer's line: $line"
[ "$k" -lt 10000 ] || fail "producer 2 had finished before the kill"
for i in 0 1 3; do
	grep -q "^producer $i: 10000 of 10000 readings, all in order; exited 0$" "$tmp/log" ||
		fail "producer $i is not complete"
done
last=$(tail -n 1 "$tmp/log")
got=$(sed -n 's/^received \([0-9]*\) readings from 4 producers; NOT complete: \([0-9]*\) missing, 0 out of order, 0 malformed$/\1 \2/p' <<<"$last")
[ "$got" = "$((30000 + k)) $((10000 - k))" ] ||
	fail "want $((30000 + k)) received, $((10000 - k)) missing; last line: $last"
[ -e "/dev/shm/shmpipe.$name" ] && fail "the pipe stays after a killed producer"

# ---------------------------------------------------------- SIGTERM
"$prog" --interval-us 1000 "$name" 4 100000 >"$tmp/log" 2>&1 &
bg=$!
wait_for '^producer 3: pid [0-9]+$'
wait_for ' s: [0-9]+ readings'
producers=$(sed -n 's/^producer [0-9]*: pid //p' "$tmp/log")
kill -TERM "$bg"
reap 30
[ $rc = 1 ] || fail "SIGTERM: exit $rc, want 1"
grep -q '^stopped by signal 15 ' "$tmp/log" || fail "SIGTERM not reported"
tail -n 1 "$tmp/log" | grep -q '^received [0-9]* readings from 4 producers; NOT complete: ' ||
	fail "SIGTERM: last line: $(tail -n 1 "$tmp/log")"
for p in $producers; do
	kill -0 "$p" 2>/dev/null && fail "producer $p still runs after SIGTERM"
done
[ -e "/dev/shm/shmpipe.$name" ] && fail "the pipe stays after SIGTERM"

# ----------------------------------------------------------- errors
"$S" create "$name-taken" --message >/dev/null || fail "shmpipe create"
"$prog" "$name-taken" 2 10 >"$tmp/log" 2>&1
rc=$?
[ $rc = 1 ] || fail "an existing pipe: exit $rc, want 1"
grep -q "cannot create pipe '$name-taken': .*exists" "$tmp/log" ||
	fail "an existing pipe: $(cat "$tmp/log")"
"$S" rm "$name-taken" || fail "the existing pipe was removed by sensor_feed"
for args in "" "$name 0" "$name 4 0" "$name 99" "$name 4 10 x" "--bogus $name"; do
	# shellcheck disable=SC2086
	"$prog" $args >/dev/null 2>&1
	rc=$?
	[ $rc = 2 ] || fail "usage '$args': exit $rc, want 2"
done
[ -e "/dev/shm/shmpipe.$name" ] && fail "a usage error created the pipe"
echo "PASS"
exit 0
