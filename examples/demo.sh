#!/bin/bash
# examples/demo.sh - crash-safe shared state at work (`make demo`).
#
# Three processes share an alarm panel (examples/shared_state.c). One of
# them, C, holds the lock for a long time in the middle of an update, and we
# SIGKILL it right there. The other two, A and B, carry on: the first to get
# the lock is told that C's update was torn, repairs the panel and says so.
# Then we stop A and B with SIGINT, as Ctrl-C would, and check that they
# exited cleanly, that the panel adds up and that nothing is left in
# /dev/shm. The last line is the verdict; the exit status is 0 when every
# check held, 1 otherwise.
#   B=<build directory> (default: ../build beside this script)
set -u
here=$(cd "$(dirname "$0")" && pwd)
B=${B:-$here/../build}
prog=$B/examples/shared_state
name=demo-$$
logs=$(mktemp -d "${TMPDIR:-/tmp}/shmpipe-demo.XXXXXX")
pids=()

cleanup() {
	for p in "${pids[@]}"; do
		kill -KILL "$p" 2>/dev/null
	done
	wait 2>/dev/null
	rm -f "/dev/shm/shmpipe.$name"
	rm -rf "$logs"
}
trap cleanup EXIT
trap 'echo "demo: interrupted"; exit 130' INT TERM

problems=0
bad() {
	echo "  !! $*"
	problems=$((problems + 1))
}
step() {
	echo
	echo "$*"
}
# show LABEL: copy stdin indented, each line labelled with its process.
show() {
	sed "s/^/    $1 | /"
}
# wait_for FILE REGEX SECONDS: wait until a line of FILE matches REGEX.
wait_for() {
	local end=$((SECONDS + $3))
	until grep -q -- "$2" "$1" 2>/dev/null; do
		[ "$SECONDS" -ge "$end" ] && return 1
		sleep 0.05
	done
}
# updates FILE: how many updates the process has completed so far.
updates() {
	grep -c '^\[pid [0-9]*\] update [0-9]*: sensor' "$1"
}
# wait_exit PID SECONDS: wait for a background process to end, its exit
# status in $status ("still running" if it did not end in time).
wait_exit() {
	local i
	for ((i = 0; i < $2 * 20; i++)); do
		kill -0 "$1" 2>/dev/null || break
		sleep 0.05
	done
	if kill -0 "$1" 2>/dev/null; then
		status="still running"
		return 1
	fi
	wait "$1" 2>/dev/null
	status=$?
}
start() { # start LABEL ARGS...: run an updater in the background
	local label=$1
	shift
	"$prog" --name "$name" --remove "$@" >"$logs/$label" 2>&1 &
	pids+=($!)
}

if [ ! -x "$prog" ]; then
	echo "demo: $prog is not built (run make)" >&2
	exit 1
fi
echo "shmpipe demo: three processes share an alarm panel, the state '$name',"
echo "under a crash-safe lock; one of them is killed while it holds the lock."

step "1. A and B record a sensor reading every 200 ms."
start A --interval-ms 200
a=${pids[-1]}
start B --interval-ms 200
b=${pids[-1]}
if ! wait_for "$logs/A" 'update 2:' 5 || ! wait_for "$logs/B" 'update 2:' 5; then
	bad "A and B did not start updating"
fi
head -n 3 "$logs/A" | show A
head -n 3 "$logs/B" | show B

step "2. C joins, and holds the lock for 30 s in the middle of each update."
start C --interval-ms 200 --hold-ms 30000
c=${pids[-1]}
wait_for "$logs/C" 'holding lock' 5 || bad "C never took the lock"
show C <"$logs/C"
sleep 1.5
before_a=$(updates "$logs/A")
before_b=$(updates "$logs/B")
echo "  A and B are stuck behind C's lock:"
tail -n 1 "$logs/A" | show A
tail -n 1 "$logs/B" | show B

step "3. kill -KILL $c: C dies holding the lock, its update half done."
exec 3>&2 2>/dev/null # bash would add its own "Killed" message
kill -KILL "$c"
wait_exit "$c" 5
exec 2>&3 3>&-
echo "  C: exit status $status (137 = killed by SIGKILL)"
[ "$status" = 137 ] || bad "C was not killed by SIGKILL (status $status)"

step "4. A and B carry on; the first to get the lock repairs the panel."
end=$((SECONDS + 5))
while [ "$(updates "$logs/A")" -lt $((before_a + 3)) ] ||
	[ "$(updates "$logs/B")" -lt $((before_b + 3)) ]; do
	[ "$SECONDS" -ge "$end" ] && break
	sleep 0.05
done
[ "$(updates "$logs/A")" -ge $((before_a + 3)) ] ||
	bad "A made no progress after C died"
[ "$(updates "$logs/B")" -ge $((before_b + 3)) ] ||
	bad "B made no progress after C died"
grep -h 'died' "$logs/A" | show A
grep -h 'died' "$logs/B" | show B
repairs=$(cat "$logs/A" "$logs/B" | grep -c 'died in the middle of an update')
[ "$repairs" = 1 ] || bad "expected one repair report, got $repairs"
tail -n 1 "$logs/A" | show A
tail -n 1 "$logs/B" | show B

step "5. Ctrl-C for A and B (kill -INT $a $b)."
kill -INT "$a" "$b"
wait_exit "$a" 5
status_a=$status
wait_exit "$b" 5
status_b=$status
echo "  A: exit status $status_a, B: exit status $status_b"
[ "$status_a" = 0 ] || bad "A did not exit cleanly (status $status_a)"
[ "$status_b" = 0 ] || bad "B did not exit cleanly (status $status_b)"

# Each prints the panel as it leaves, then a "done:" line:
#   [pid N] done: U updates by this process; panel total T, sensors sum S
#   (consistent), R repair(s)
field() { # field LOG REGEX: the number captured by REGEX in the done line
	sed -n "s/.*done: .*$2.*/\1/p" "$1"
}
done_a=$(field "$logs/A" '\([0-9][0-9]*\) updates by this')
done_b=$(field "$logs/B" '\([0-9][0-9]*\) updates by this')
total_a=$(field "$logs/A" 'panel total \([0-9][0-9]*\)')
total_b=$(field "$logs/B" 'panel total \([0-9][0-9]*\)')
last=A
[ "${total_b:-0}" -gt "${total_a:-0}" ] && last=B
echo "  each printed the panel as it left, and a summary:"
sed -n '/stopping on/,/last update by/p' "$logs/$last" | show $last
grep -h 'done:' "$logs/A" | show A
grep -h 'done:' "$logs/B" | show B
for l in A B; do
	grep -q 'done: .*(consistent), 1 repair(s)' "$logs/$l" ||
		bad "$l's last view of the panel is not consistent with one repair"
done

step "6. What is left in /dev/shm:"
if [ -e "/dev/shm/shmpipe.$name" ]; then
	bad "left behind: /dev/shm/shmpipe.$name"
else
	echo "  nothing named shmpipe.$name"
fi

# Every reading A and B recorded, plus the one C had recorded when it died
# (the repair kept it: the per-sensor counts are what it trusts).
expected=$((${done_a:-0} + ${done_b:-0} + 1))
final=$((${total_a:-0} > ${total_b:-0} ? ${total_a:-0} : ${total_b:-0}))
echo
if [ "$final" != "$expected" ]; then
	bad "panel total $final, expected A's ${done_a:-?} + B's ${done_b:-?} + C's 1 = $expected"
fi
if [ "$problems" -eq 0 ]; then
	echo "demo: PASS (C killed holding the lock, its torn update repaired;" \
		"A and B stopped cleanly; $done_a + $done_b + 1 = $final readings;" \
		"/dev/shm clean)"
	exit 0
fi
echo "demo: FAIL: $problems problem(s), marked !! above."
echo "  full logs:"
for l in A B C; do
	show $l <"$logs/$l"
done
exit 1
