#!/bin/bash
# tests/torture/run.sh - `make torture`: the proofs of RELIABILITY.md.
# Runs every program built from tests/torture/*.c, every
# tests/torture/*.sh, the libFuzzer targets (fuzz_run.sh) and the TSan
# programs (tsan_run.sh) through the test runner, then prints the figures
# table: the sum of every "figure NAME VALUE" line the tests printed.
#   SOAK=SECONDS       the random-kill soak's length (default 60)
#   FUZZ_SECONDS=N     each fuzzer's run (default 30)
#   TORTURE_TIMEOUT=S  per test (default 1200)
# Env from make: BUILD, SHMPIPE, FUZZ (libFuzzer builds), TSAN.
set -u
here=$(cd "$(dirname "$0")" && pwd)
figs=$(mktemp "${TMPDIR:-/tmp}/torture-figures.XXXXXX")
trap 'rm -f "$figs"' EXIT
tests=("$BUILD"/torture/*)
for t in "$here"/*.sh; do
	[ "$(basename "$t")" = run.sh ] || tests+=("$t")
done
export SOAK=${SOAK:-60} FUZZ_SECONDS=${FUZZ_SECONDS:-30}
start=$SECONDS
FIGURES_FILE=$figs TEST_TIMEOUT=${TORTURE_TIMEOUT:-1200} \
	"$here/../run.sh" "${tests[@]}" | tee "$figs.out"
rc=${PIPESTATUS[0]}
echo
echo "Figures of this run ($((SECONDS - start)) s, SOAK=$SOAK, FUZZ_SECONDS=$FUZZ_SECONDS):"
awk '{ sum[$2] += $3; if (!($2 in seen)) { seen[$2] = 1; order[n++] = $2 } }
	END { for (i = 0; i < n; i++) printf "  %-36s %14d\n", order[i], sum[order[i]] }' "$figs"
printf '  %-36s %14d\n' failures "$(grep -c '^FAIL ' "$figs.out")"
tail -n 1 "$figs.out"
rm -f "$figs.out"
exit "$rc"
