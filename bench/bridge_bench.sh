#!/bin/bash
# bench/bridge_bench.sh - the bridge against socat, mbuffer and nc (part
# of `make bench`: bench/run.sh; QUICK=1 for a short look):
# 2 GiB (QUICK: 256 MiB) over TCP loopback into one reader through each
# relay, alternating, 5 runs (QUICK: 3), unpinned and then pinned (relay
# and sender on CPU 0, reader on CPU 1); medians, min-max, CPU per GB and
# the ratios against the targets; then (not with QUICK) the same,
# unpinned, against the competitors tuned as well as we could; then the
# bridge's memory with 1000 idle connections. The method is in
# bench/bridge_bench.c. The tables are appended to $TXT (default
# bench/results/latest.txt), the CSV rows (case bridge, bridge-tuned,
# bridge-idle) to $CSV (default bench/results/latest.csv; bench/run.sh
# writes its header). A relay whose tool is missing is left out
# (scripts/deps.sh bench installs them).
#   B=build [CSV=file] [TXT=file] [QUICK=1] bench/bridge_bench.sh
set -euo pipefail
b=${B:?B=the build directory}
b=$(cd "$b" && pwd)
here() { # a path given by the caller, relative to the caller's directory
	case $1 in /* | '') echo "$1" ;; *) echo "$PWD/$1" ;; esac
}
csv=$(here "${CSV:-}") out=$(here "${TXT:-}")
cd "$(dirname "$0")/.."
csv=${csv:-bench/results/latest.csv} out=${out:-bench/results/latest.txt}
mkdir -p "$(dirname "$csv")" "$(dirname "$out")"
if [ "${QUICK:-0}" = 1 ]; then
	args=(--quick --runs 3) # 256 MiB per run, 32 MiB checked
else
	args=(--runs 5) # 2 GiB per run, 128 MiB checked
fi
args+=(--shmpipe "$b/shmpipe" --csv "$csv")
{
	"$b/bridge_bench" "${args[@]}"
	"$b/bridge_bench" "${args[@]}" --pin
	if [ "${QUICK:-0}" != 1 ]; then
		"$b/bridge_bench" "${args[@]}" --tuned --relays shmpipe,socat,mbuffer
	fi
	"$b/bridge_bench" --shmpipe "$b/shmpipe" --csv "$csv" --idle 1000
} | tee -a "$out"
