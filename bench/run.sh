#!/bin/bash
# bench/run.sh - `make bench`: the whole benchmark suite in one go, then
# BENCHMARKS.md, the plots and the summary of the targets.
#   xfer_bench    throughput, message rate, cost growth   (unpinned, pinned)
#   lat_bench     round-trip latency, many writers         (unpinned, pinned)
#   bridge_bench  the bridge against socat, mbuffer, nc    (bridge_bench.sh)
# Full: 5 alternating runs per cell, ~10 minutes on 2 cores; results in
# bench/results/ (latest.csv, latest.txt, machine.txt, *.png) and
# BENCHMARKS.md. QUICK=1: 3 runs of smaller volumes in about a minute,
# written to bench/results/quick/ so the committed results stay.
# Exit 1 if a bench fails its correctness checks or a target is missed.
set -euo pipefail
b=${B:?B=the build directory}
cd "$(dirname "$0")/.."
if [ "${QUICK:-0}" = 1 ]; then
	res=bench/results/quick md=bench/results/quick/BENCHMARKS.md
	args=(--quick --runs 3) quick=(--quick)
else
	res=bench/results md=BENCHMARKS.md args=(--runs 5) quick=()
fi
mkdir -p "$res"
csv=$res/latest.csv txt=$res/latest.txt
echo "case,transport,param,placement,run,metric,value,note" >"$csv"

version=$(sed -n 's/^#define SHMPIPE_VERSION_STRING "\(.*\)"/\1/p' include/shmpipe.h)
{
	echo "shmpipe: $version ($(git describe --always --dirty 2>/dev/null || echo 'no git'))"
	echo "date: $(date -u +%Y-%m-%dT%H:%MZ)"
	echo "CPU: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ //')"
	echo "CPUs: $(nproc)"
	echo "kernel: $(uname -r)"
	echo "pipe-max-size: $(cat /proc/sys/fs/pipe-max-size) bytes"
	echo "mq msgsize_max: $(cat /proc/sys/fs/mqueue/msgsize_max 2>/dev/null || echo '?') bytes"
	echo "/dev/shm: $(df -h --output=size /dev/shm | tail -n 1 | tr -d ' ')"
	echo "load before: $(cut -d' ' -f1-3 /proc/loadavg)"
} >"$res/machine.txt"

start=$SECONDS
{
	echo "shmpipe benchmarks"
	sed 's/^/  /' "$res/machine.txt"
	for pin in "" --pin; do
		"$b/xfer_bench" "${args[@]}" $pin --csv "$csv"
		"$b/lat_bench" "${args[@]}" $pin --csv "$csv"
	done
} | tee "$txt"
B=$b CSV=$csv TXT=$txt bench/bridge_bench.sh
echo "load after: $(cut -d' ' -f1-3 /proc/loadavg)" >>"$res/machine.txt"
echo "duration: $((SECONDS - start)) s" >>"$res/machine.txt"

python3 bench/report.py "${quick[@]}" --csv "$csv" --machine "$res/machine.txt" \
	--out "$md" --plots "$res" | tee -a "$txt"
echo "wrote $md, $csv, $txt and the plots in $res/ ($((SECONDS - start)) s)"
