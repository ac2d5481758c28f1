#!/bin/bash
# fuzz_run.sh - every libFuzzer target of tests/fuzz/ (built by `make
# fuzz` into $FUZZ) runs FUZZ_SECONDS seconds from its corpus
# (tests/fuzz/corpus/NAME, read only: new inputs go to a temp dir) under
# ASan+UBSan. A crash, leak, timeout or sanitizer report fails the test
# and leaves the input in $tmp for the log (the per-input limit is 60 s:
# a stall of this small shared machine must not pass for a hang; an input
# takes milliseconds). Figures: fuzz_executions,
# fuzz_targets.
set -u
here=$(cd "$(dirname "$0")/.." && pwd)
[ -d "${FUZZ:-}" ] || { echo "no libFuzzer builds (FUZZ=${FUZZ:-unset}; make fuzz needs clang)"; exit 77; }
secs=${FUZZ_SECONDS:-30}
tmp=$(mktemp -d "${TMPDIR:-/tmp}/fuzz.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
fail=0 total=0 n=0
for src in "$here"/fuzz/*.c; do
	name=$(basename "$src" .c)
	[ "$name" = replay_main ] && continue
	bin=$FUZZ/$name
	[ -x "$bin" ] || { echo "FAIL: $name not built in $FUZZ"; fail=1; continue; }
	mkdir -p "$tmp/$name" "$here/fuzz/corpus/$name"
	(cd "$tmp" && "$bin" -max_total_time="$secs" -print_final_stats=1 \
		-timeout=60 -rss_limit_mb=2048 -artifact_prefix="$tmp/$name-" \
		"$tmp/$name" "$here/fuzz/corpus/$name") >"$tmp/$name.log" 2>&1
	rc=$?
	execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$tmp/$name.log")
	echo "$name: exit $rc, ${execs:-0} executions in ${secs} s"
	if [ $rc -ne 0 ]; then
		fail=1
		grep -E 'ERROR|SUMMARY|crash|Test unit written' "$tmp/$name.log" | head -20
		for a in "$tmp/$name-"*; do [ -f "$a" ] && { echo "input $a:"; od -A d -t x1 "$a" | head -20; }; done
	fi
	total=$((total + ${execs:-0})) n=$((n + 1))
done
echo "figure fuzz_executions $total"
echo "figure fuzz_targets $n"
exit $fail
