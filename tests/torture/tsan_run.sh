#!/bin/bash
# tsan_run.sh - the programs of tests/tsan/ (built by `make tsan` into
# $TSAN, the library compiled in under ThreadSanitizer): many writer and
# reader threads sharing one mapping. Any data race report fails.
# Figure: tsan_programs.
set -u
[ -d "${TSAN:-}" ] || { echo "no TSan builds (TSAN=${TSAN:-unset})"; exit 77; }
fail=0 n=0
for bin in "$TSAN"/*; do
	[ -x "$bin" ] || continue
	out=$(TSAN_OPTIONS="halt_on_error=1 exitcode=66 second_deadlock_stack=1" "$bin" 2>&1)
	rc=$?
	n=$((n + 1))
	echo "$(basename "$bin"): exit $rc"
	if [ $rc -ne 0 ] || grep -q 'WARNING: ThreadSanitizer' <<<"$out"; then
		fail=1
		echo "$out" | tail -n 60
	else
		echo "$out" | grep '^figure ' || true
	fi
done
[ $n -gt 0 ] || { echo "FAIL: no TSan program in $TSAN"; exit 1; }
echo "figure tsan_programs $n"
exit $fail
