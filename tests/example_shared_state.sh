#!/bin/bash
# tests/example_shared_state.sh - the shared_state example and its demo do
# what they say:
#  - the demo (examples/demo.sh) exits 0 with a PASS verdict, and its output
#    shows, checked here on their own: the killed holder's status 137; one
#    repair report, naming the pid that was killed; A and B exiting 0 on
#    SIGINT; both their last views of the panel consistent (total == sum)
#    with one repair; the final total == A's + B's updates + the one reading
#    C had made when it died; nothing of its state left in /dev/shm;
#  - the example alone: without --remove the state outlives the process and
#    the next one opens it and goes on counting; with --remove it is gone at
#    exit; SIGTERM stops it cleanly (exit 0) and removes the state too;
#  - usage errors exit 2, a bad name exits 1 with a message naming it.
# BUILD=<absolute build directory> (default: ../build beside this script).
set -u
here=$(cd "$(dirname "$0")" && pwd)
BUILD=${BUILD:-$here/../build}
prog=$BUILD/examples/shared_state
name=t-$$-panel
bg=

cleanup() {
	[ -n "$bg" ] && kill -KILL "$bg" 2>/dev/null
	rm -f "/dev/shm/shmpipe.$name"
}
trap cleanup EXIT

fail() {
	echo "FAIL: $*"
	exit 1
}
# number TEXT REGEX: the number captured by \(...\) in REGEX, from TEXT.
number() {
	sed -n "s/.*$2.*/\1/p" <<<"$1" | head -n 1
}

[ -x "$prog" ] || fail "$prog is not built"

# ---------------------------------------------------------------- the demo
out=$(B=$BUILD "$here/../examples/demo.sh" 2>&1)
rc=$?
echo "$out"
echo
[ "$rc" -eq 0 ] || fail "demo exited $rc"
[[ "$(tail -n 1 <<<"$out")" == "demo: PASS"* ]] || fail "no PASS verdict"
demo=$(number "$out" "the state '\(demo-[0-9]*\)'")
[ -n "$demo" ] || fail "demo does not name its state"

victim=$(number "$out" 'kill -KILL \([0-9]*\):')
grep -q "C: exit status 137" <<<"$out" || fail "C not killed by SIGKILL"
repairs=$(grep -c 'died in the middle of an update: .*; repaired' <<<"$out")
[ "$repairs" -eq 1 ] || fail "want 1 repair report, got $repairs"
grep -q "the lock holder (pid $victim) died in the middle" <<<"$out" ||
	fail "the repair report does not name the killed pid $victim"
grep -q "A: exit status 0, B: exit status 0" <<<"$out" ||
	fail "A and B did not both exit 0"

max=0 sum_updates=0
for p in A B; do
	line=$(grep "^    $p | \[pid [0-9]*\] done: " <<<"$out")
	[ -n "$line" ] || fail "no summary from $p"
	updates=$(number "$line" ' \([0-9]*\) updates by this process')
	total=$(number "$line" 'panel total \([0-9]*\),')
	sum=$(number "$line" 'sensors sum \([0-9]*\) ')
	if [ -z "$total" ] || [ "$total" != "$sum" ]; then
		fail "$p: panel total ${total:-?} != sensors sum ${sum:-?}"
	fi
	grep -q '(consistent), 1 repair(s)$' <<<"$line" ||
		fail "$p: not consistent with exactly one repair: $line"
	sum_updates=$((sum_updates + updates))
	[ "$total" -gt "$max" ] && max=$total
done
[ "$max" -eq $((sum_updates + 1)) ] ||
	fail "final total $max != A's and B's $sum_updates updates + C's 1"
[ ! -e "/dev/shm/shmpipe.$demo" ] || fail "demo left /dev/shm/shmpipe.$demo"

# ------------------------------------------------------- the example alone
out=$("$prog" --name "$name" --updates 3 --interval-ms 10 2>&1) ||
	fail "3 updates: exit $?: $out"
grep -q "created alarm panel '$name'" <<<"$out" || fail "not created: $out"
grep -q 'done: 3 updates by this process; panel total 3, sensors sum 3 (consistent), 0 repair(s)' <<<"$out" ||
	fail "bad summary after 3 updates: $out"
[ -e "/dev/shm/shmpipe.$name" ] || fail "without --remove the state is gone"

out=$("$prog" --name "$name" --updates 2 --interval-ms 10 --remove 2>&1) ||
	fail "2 more updates: exit $?: $out"
grep -q "opened alarm panel '$name'" <<<"$out" || fail "not opened: $out"
grep -q 'panel total 5, sensors sum 5 (consistent)' <<<"$out" ||
	fail "counting did not go on from 3: $out"
[ ! -e "/dev/shm/shmpipe.$name" ] || fail "--remove left the state behind"

log=$(mktemp)
"$prog" --name "$name" --interval-ms 20 --remove >"$log" 2>&1 &
bg=$!
for ((i = 0; i < 100; i++)); do
	grep -q 'update 2:' "$log" && break
	sleep 0.05
done
kill -TERM "$bg"
wait "$bg"
rc=$?
bg=
out=$(cat "$log")
rm -f "$log"
[ "$rc" -eq 0 ] || fail "SIGTERM: exit $rc: $out"
grep -q "stopping on SIGTERM" <<<"$out" || fail "SIGTERM not reported: $out"
[ ! -e "/dev/shm/shmpipe.$name" ] || fail "SIGTERM left the state behind"

"$prog" --bogus >/dev/null 2>&1
[ $? -eq 2 ] || fail "--bogus: want exit 2"
"$prog" --interval-ms -5 >/dev/null 2>&1
[ $? -eq 2 ] || fail "--interval-ms -5: want exit 2"
"$prog" --updates 1 extra >/dev/null 2>&1
[ $? -eq 2 ] || fail "extra argument: want exit 2"
err=$("$prog" --name 'bad/name' --updates 1 2>&1 >/dev/null)
[ $? -eq 1 ] || fail "bad name: want exit 1"
grep -q "'bad/name'" <<<"$err" || fail "the error does not name the state: $err"
echo "PASS"
exit 0
