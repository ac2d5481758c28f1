#!/bin/bash
# bench/bridge_bench.sh - the bridge against socat, mbuffer and nc (part
# of `make bench`, after the pipe benchmarks; QUICK=1 for a short look):
# 2 GiB (QUICK: 256 MiB) over TCP loopback into one reader through each
# relay, alternating, 5 runs (QUICK: 3); medians, min-max, CPU per GB and
# the ratios against the targets; the bridge's memory with 1000 idle
# connections; then (not with QUICK) the same against the competitors
# tuned as well as we could. The method is in bench/bridge_bench.c. The
# tables are appended to bench/results/latest.txt, the raw runs written to
# bench/results/bridge.csv. A relay whose tool is missing is left out
# (scripts/deps.sh bench installs them).
set -eu
b=${B:?B=the build directory}
cd "$(dirname "$0")/.."
mkdir -p bench/results
out=bench/results/latest.txt
csv=bench/results/bridge.csv
rm -f "$csv"
if [ "${QUICK:-0}" = 1 ]; then
	args=(--runs 3 --bytes $((256 << 20)) --check-bytes $((64 << 20)))
else
	args=(--runs 5 --bytes $((2 << 30)) --check-bytes $((256 << 20)))
fi
args+=(--shmpipe "$b/shmpipe" --csv "$csv")
"$b/bridge_bench" "${args[@]}" | tee -a "$out"
if [ "${QUICK:-0}" != 1 ]; then
	"$b/bridge_bench" "${args[@]}" --tuned --relays shmpipe,socat,mbuffer |
		tee -a "$out"
fi
