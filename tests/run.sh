#!/bin/bash
# tests/run.sh - the test runner: runs each test program under a timeout,
# exit 0 pass, 77 skip, anything else (or a timeout) fail. A test that
# leaves a new shmpipe object in /dev/shm fails too (and the object is
# removed). Last line: "N passed, N failed[, N skipped]"; exit 1 on failure.
#   TEST_TIMEOUT=seconds (default 300)   VERBOSE=1 shows every test's output
#   FIGURES_FILE=path: lines "figure NAME VALUE" that tests print are
#   appended there (make torture sums them into its table)
set -u
timeout_s=${TEST_TIMEOUT:-300}
pass=0 fail=0 skip=0 failed=()
logdir=$(mktemp -d "${TMPDIR:-/tmp}/shmpipe-tests.XXXXXX")
trap 'rm -rf "$logdir"' EXIT

shm_objects() { ls -A /dev/shm 2>/dev/null | grep -E '(^|\.)shmpipe' | sort; }
# Objects a finished test left: test names are t-PID-... and temporary
# files .shmpipe-tmp.PID...; only those whose PID is gone count, so a
# test run by someone else at the same time is neither blamed nor touched.
leftovers() {
	comm -13 <(echo "$1") <(shm_objects) | while read -r o; do
		pid=$(sed -nE 's/^(sem\.)?shmpipe\.t-([0-9]+)-.*/\2/p; s/^\.shmpipe-tmp\.([0-9]+)\..*/\1/p' <<<"$o")
		[ -n "$pid" ] && ! kill -0 "$pid" 2>/dev/null && echo "$o"
	done
}

for t in "$@"; do
	name=$(basename "$t")
	before=$(shm_objects)
	start=${EPOCHREALTIME/./}
	timeout -k 10 "$timeout_s" "$t" >"$logdir/$name.log" 2>&1 </dev/null
	rc=$?
	ms=$(((${EPOCHREALTIME/./} - start) / 1000))
	secs=$(printf '%d.%02d' $((ms / 1000)) $((ms % 1000 / 10)))
	leaked=$(leftovers "$before")
	if [ -n "$leaked" ] && [ "$rc" -eq 0 ]; then
		echo "leaked in /dev/shm: $leaked" >>"$logdir/$name.log"
		rc=1
	fi
	for o in $leaked; do rm -f "/dev/shm/$o"; done
	if [ -n "${FIGURES_FILE:-}" ]; then
		grep -E '^figure [A-Za-z0-9_]+ [0-9]+$' "$logdir/$name.log" >>"$FIGURES_FILE"
	fi
	case $rc in
	0) pass=$((pass + 1)); echo "PASS $name (${secs}s)" ;;
	77) skip=$((skip + 1)); echo "SKIP $name: $(tail -n 1 "$logdir/$name.log")" ;;
	*)
		fail=$((fail + 1)); failed+=("$name")
		[ "$rc" -eq 124 ] && echo "timed out after ${timeout_s}s" >>"$logdir/$name.log"
		echo "FAIL $name (exit $rc, ${secs}s)"
		sed 's/^/    /' "$logdir/$name.log" | tail -n 40
		;;
	esac
	if [ "${VERBOSE:-0}" = 1 ] && [ "$rc" -ne 1 ]; then
		sed 's/^/    /' "$logdir/$name.log"
	fi
done
[ ${#failed[@]} -gt 0 ] && echo "failed: ${failed[*]}"
summary="$pass passed, $fail failed"
[ "$skip" -gt 0 ] && summary="$summary, $skip skipped"
echo "$summary"
[ "$fail" -eq 0 ]
