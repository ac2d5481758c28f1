#!/bin/bash
# fuzz_replay.sh - every libFuzzer target's corpus (tests/fuzz/corpus/
# NAME, the inputs that found new paths and the crashes once fixed) is fed
# to the target through a plain main() ($BUILD/fuzz/NAME-replay), so the
# corpus is a regression test wherever no fuzzer is installed (and under
# ASan+UBSan in `make check SANITIZE=1`). Each target must have a corpus.
set -u
root=$(cd "$(dirname "$0")/.." && pwd)
fail() { echo "FAIL: $*"; exit 1; }
n=0
for src in "$root"/tests/fuzz/*.c; do
	name=$(basename "$src" .c)
	[ "$name" = replay_main ] && continue
	bin=$BUILD/fuzz/$name-replay
	corpus=$root/tests/fuzz/corpus/$name
	[ -x "$bin" ] || fail "$bin is not built"
	[ -n "$(ls -A "$corpus" 2>/dev/null)" ] || fail "no corpus in $corpus"
	out=$("$bin" "$corpus" 2>&1) || fail "$name: $out"
	echo "$name: $out"
	n=$((n + 1))
done
[ $n -gt 0 ] || fail "no fuzz targets in tests/fuzz"
echo ok
