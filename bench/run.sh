#!/bin/bash
# bench/run.sh - `make bench`: the buffered pipe against kernel pipes, side
# by side, unpinned and pinned, then the bridge against socat, mbuffer and
# nc (bench/bridge_bench.sh); QUICK=1 for a short look. Results go to
# stdout and bench/results/latest.txt.
set -eu
b=${B:?}
out=bench/results/latest.txt
mkdir -p bench/results
args=()
[ "${QUICK:-0}" = 1 ] && args+=(--quick --runs 3)
{
	echo "shmpipe $(sed -n 's/^#define SHMPIPE_VERSION_STRING "\(.*\)"/\1/p' include/shmpipe.h) benchmarks, $(date -u +%Y-%m-%dT%H:%MZ)"
	echo "machine: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ //'), $(nproc) CPUs, kernel $(uname -r), pipe-max-size $(cat /proc/sys/fs/pipe-max-size)"
	"$b/pipe_bench" "${args[@]}"
	"$b/pipe_bench" "${args[@]}" --pin
} | tee "$out"
bench/bridge_bench.sh # appends its table to $out
