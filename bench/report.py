#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""bench/report.py - turn the raw rows of `make bench` into BENCHMARKS.md,
the plots, and the summary of the targets.

  report.py --csv bench/results/latest.csv --machine bench/results/machine.txt
            --out BENCHMARKS.md --plots bench/results [--quick]

The CSV has one row per (case, transport, param, placement, run, metric):
  case,transport,param,placement,run,metric,value,note
(written by bench/common.c and bench/bridge_bench.c). Every figure here is
a median over the runs, with min-max beside it; ratios are of medians,
against the kernel pipe for the local cases and against socat and mbuffer
for the bridge. Plots are drawn with gnuplot (pngcairo); when gnuplot is
missing the tables are still written and the plots are said to be missing.
Exit status 1 if a target is missed, so `make bench` says so.
"""
import argparse
import csv
import os
import shutil
import statistics
import subprocess
import sys
from collections import defaultdict

PLACEMENTS = ("unpinned", "pinned")

# Labels in the order the tables list them.
LABELS = {
    "shmpipe": "shmpipe stream, read()",
    "shmpipe-peek": "shmpipe stream, peek/release (zero-copy)",
    "shmpipe-excl": "shmpipe message, exclusive",
    "shmpipe-spin": "shmpipe, 100 µs spin budget",
    "pipe": "kernel pipe (default size)",
    "pipe-1m": "kernel pipe, F_SETPIPE_SZ 1 MiB",
    "fifo": "named FIFO",
    "socketpair": "AF_UNIX stream socketpair",
    "socketpair-seqpacket": "AF_UNIX seqpacket socketpair",
    "unix-dgram": "AF_UNIX datagram socket",
    "tcp": "TCP loopback",
    "tcp-nodelay": "TCP loopback, TCP_NODELAY",
    "mq": "POSIX message queue",
    "eventfd": "eventfd (8-byte signal, no payload)",
    "socat": "socat into a FIFO",
    "mbuffer": "mbuffer into a FIFO",
    "nc": "nc into a FIFO",
}
CASE_LABELS = {
    "msgrate": {"shmpipe": "shmpipe message pipe", "pipe": "kernel pipe, one write per message"},
    "latency": {"shmpipe": "shmpipe, sleeping", "pipe": "kernel pipe pair"},
    "writers": {"shmpipe": "shmpipe stream pipe"},
    "bridge": {"shmpipe": "shmpipe serve into a pipe"},
    "bridge-tuned": {"shmpipe": "shmpipe serve into a pipe"},
}
UNITS = {
    "gbps": "GB/s", "mmsgs": "M msgs/s", "median_us": "µs", "p99_us": "µs",
    "p999_us": "µs", "cpu_s_per_gb": "CPU s/GB", "rss_kib": "KiB", "fds": "fds",
    "sender_cpu_s_per_gb": "sender CPU s/GB", "relay_maxrss_kib": "KiB",
}
LOWER_IS_BETTER = {"median_us", "p99_us", "p999_us", "cpu_s_per_gb", "rss_kib", "fds",
                   "sender_cpu_s_per_gb", "relay_maxrss_kib"}


def label(case, transport):
    return CASE_LABELS.get(case, {}).get(transport) or LABELS.get(transport, transport)


def human_size(n):
    for unit, shift in (("GiB", 30), ("MiB", 20), ("KiB", 10)):
        if n >= 1 << shift and n % (1 << shift) == 0:
            return "%d %s" % (n >> shift, unit)
    return "%d B" % n


def fmt(v):
    if v is None:
        return "-"
    if v >= 100:
        return "%.0f" % v
    if v >= 10:
        return "%.1f" % v
    if v >= 1:
        return "%.2f" % v
    return "%.3f" % v


class Cells:
    """values[(case, transport, param, placement, metric)] = [run values]"""

    def __init__(self, path):
        self.values = defaultdict(list)
        self.skips = {}
        self.order = defaultdict(list)  # case -> transports, first seen first
        with open(path, newline="") as f:
            for row in csv.DictReader(f):
                case, tr = row["case"], row["transport"]
                key = (case, tr, int(row["param"]), row["placement"])
                if tr not in self.order[case]:
                    self.order[case].append(tr)
                if row["metric"] == "skip":
                    self.skips[key] = row["note"]
                elif row["value"] != "":
                    self.values[key + (row["metric"],)].append(float(row["value"]))

    def params(self, case):
        return sorted({k[2] for k in self.values if k[0] == case} |
                      {k[2] for k in self.skips if k[0] == case})

    def placements(self, case):
        have = {k[3] for k in self.values if k[0] == case}
        return [p for p in PLACEMENTS if p in have]

    def runs(self, case, tr, param, placement, metric):
        return self.values.get((case, tr, param, placement, metric), [])

    def median(self, case, tr, param, placement, metric):
        v = self.runs(case, tr, param, placement, metric)
        return statistics.median(v) if v else None

    def spread(self, case, tr, param, placement, metric):
        v = self.runs(case, tr, param, placement, metric)
        if not v:
            return None
        return statistics.median(v), min(v), max(v), len(v)


def ratio(a, b, metric):
    """How many times better a is than b (>1: a better)."""
    if a is None or b is None or a == 0 or b == 0:
        return None
    return b / a if metric in LOWER_IS_BETTER else a / b


def cell_text(cells, case, tr, param, placement, metric, base):
    key = (case, tr, param, placement)
    if key in cells.skips:
        return "impossible: " + cells.skips[key]
    s = cells.spread(case, tr, param, placement, metric)
    if not s:
        return "-"
    med, lo, hi, _ = s
    text = "**%s** (%s–%s)" % (fmt(med), fmt(lo), fmt(hi))
    if base is not None:
        b = cells.median(case, base, param, placement, metric)
        r = ratio(med, b, metric)
        if r is not None and tr != base:
            text += " x%.2f" % r
    return text


def table(cells, case, metric, base, param_name, param_fmt, transports=None):
    """One markdown table per placement: a row per transport, a column per
    param, each cell the median (min-max) and the ratio to @base."""
    out = []
    params = cells.params(case)
    for placement in cells.placements(case):
        trs = transports or cells.order[case]
        out.append("*%s, %s%s:*\n" % (placement, UNITS.get(metric, metric),
                   ", lower is better" if metric in LOWER_IS_BETTER else ", higher is better"))
        out.append("| transport | " + " | ".join("%s %s" % (param_name, param_fmt(p)) for p in params) + " |")
        out.append("|---|" + "---|" * len(params))
        for tr in trs:
            row = [cell_text(cells, case, tr, p, placement, metric, base) for p in params]
            if all(c == "-" for c in row):
                continue
            out.append("| %s | %s |" % (label(case, tr), " | ".join(row)))
        out.append("")
    return "\n".join(out)


# ----------------------------------------------------------------- targets

def targets(cells):
    """(what, placement, measured text, ratio or value, passed) rows."""
    rows = []

    def add(what, placement, r, need, text=None):
        if r is None:
            rows.append((what, placement, "not measured", None))
            return
        rows.append((what, placement, text or "x%.2f" % r, r >= need))

    for pl in PLACEMENTS:
        a = cells.median("throughput", "shmpipe", 65536, pl, "gbps")
        b = cells.median("throughput", "pipe-1m", 65536, pl, "gbps")
        if a is not None or b is not None:
            add("64 KiB writes, 8 MiB stream pipe >= 5x kernel pipe of 1 MiB", pl,
                ratio(a, b, "gbps"), 5)
        a = cells.median("msgrate", "shmpipe", 64, pl, "mmsgs")
        b = cells.median("msgrate", "pipe", 64, pl, "mmsgs")
        if a is not None or b is not None:
            add("64-byte messages >= 5x kernel pipe (one write each)", pl,
                ratio(a, b, "mmsgs"), 5)
        a = cells.median("latency", "shmpipe", 64, pl, "median_us")
        b = cells.median("latency", "pipe", 64, pl, "median_us")
        if a is not None or b is not None:
            r = ratio(a, b, "median_us")
            add("ping-pong, sleeping: no slower than a kernel pipe pair", pl, r, 1,
                None if r is None else "%.1f µs vs %.1f µs, x%.2f" % (a, b, r))
        a = cells.median("latency", "shmpipe-spin", 64, pl, "median_us")
        if a is not None:
            rows.append(("ping-pong with a spin budget < 2 µs", pl, "%.2f µs" % a, a < 2))
        for comp, need in (("socat", 2.0), ("mbuffer", 1.2)):
            params = cells.params("bridge")
            if not params:
                continue
            p = params[-1]
            a = cells.median("bridge", "shmpipe", p, pl, "gbps")
            b = cells.median("bridge", comp, p, pl, "gbps")
            if a is None and b is None:
                continue
            add("bridge, 2 GiB over TCP: >= %gx %s" % (need, comp), pl,
                ratio(a, b, "gbps"), need)
            ca = cells.median("bridge", "shmpipe", p, pl, "cpu_s_per_gb")
            cb = cells.median("bridge", comp, p, pl, "cpu_s_per_gb")
            if ca is not None and cb is not None:
                rows.append(("bridge: fewer CPU s/GB than %s" % comp, pl,
                             "%.2f vs %.2f s/GB" % (ca, cb), ca < cb))
    return rows


def summary_text(rows):
    lines = ["| target | placement | measured | met |", "|---|---|---|---|"]
    for what, pl, text, ok in rows:
        lines.append("| %s | %s | %s | %s |" % (what, pl, text,
                     "n/a" if ok is None else ("**yes**" if ok else "**NO**")))
    return "\n".join(lines)


# ------------------------------------------------------------------- plots

def gnuplot(script, plots_dir):
    if not shutil.which("gnuplot"):
        return False
    r = subprocess.run(["gnuplot"], input=script, text=True, cwd=plots_dir,
                       capture_output=True)
    if r.returncode != 0:
        sys.stderr.write("report.py: gnuplot failed:\n" + r.stderr)
        return False
    return True


def plot_throughput(cells, plots_dir):
    """Throughput against write size, log axes, a line per transport; the
    unpinned runs solid, the pinned ones in a second panel."""
    pls = cells.placements("throughput")
    if not pls:
        return None
    trs = [t for t in cells.order["throughput"]]
    files = []
    for pl in pls:
        path = os.path.join(plots_dir, "throughput-%s.dat" % pl)
        with open(path, "w") as f:
            for tr in trs:
                f.write("# %s\n" % label("throughput", tr))
                for p in cells.params("throughput"):
                    s = cells.spread("throughput", tr, p, pl, "gbps")
                    if s:
                        f.write("%d %g %g %g\n" % (p, s[0], s[1], s[2]))
                f.write("\n\n")
        files.append((pl, os.path.basename(path)))
    script = ["set terminal pngcairo size 1200,%d font 'sans,10' noenhanced" % (480 * len(files)),
              "set output 'throughput.png'",
              "set multiplot layout %d,1" % len(files),
              "set logscale xy", "set grid",
              "set xlabel 'write size (bytes)'", "set ylabel 'GB/s (median; bars: min-max)'",
              "set xtics ('64 B' 64, '4 KiB' 4096, '64 KiB' 65536, '1 MiB' 1048576)",
              "set key outside right top"]
    for pl, name in files:
        script.append("set title 'Throughput, one writer and one reader process (%s)'" % pl)
        parts = []
        for i, tr in enumerate(trs):
            parts.append("'%s' index %d using 1:2:3:4 with yerrorlines lw 2 pt 7 title '%s'"
                         % (name, i, label("throughput", tr).replace("'", "")))
        script.append("plot " + ", \\\n  ".join(parts))
    script.append("unset multiplot")
    return "throughput.png" if gnuplot("\n".join(script) + "\n", plots_dir) else None


def plot_latency(cells, plots_dir):
    """Round-trip latency per transport: median and p99 bars (log y)."""
    pls = cells.placements("latency")
    if not pls:
        return None
    trs = cells.order["latency"]
    path = os.path.join(plots_dir, "latency.dat")
    with open(path, "w") as f:
        f.write("# transport median_unpinned p99_unpinned median_pinned p99_pinned\n")
        for tr in trs:
            vals = []
            for pl in PLACEMENTS:
                for m in ("median_us", "p99_us"):
                    v = cells.median("latency", tr, 64, pl, m)
                    vals.append("%g" % v if v is not None else "NaN")
            f.write('"%s" %s\n' % (label("latency", tr).replace('"', ""), " ".join(vals)))
    script = """set terminal pngcairo size 1200,520 font 'sans,10' noenhanced
set output 'latency.png'
set title '64-byte round trip between two processes (median and p99 of each run, then the median over runs)'
set style data histogram
set style histogram clustered gap 1
set style fill solid 0.8 border -1
set logscale y
set grid ytics
set ylabel 'microseconds (log), lower is better'
set xtics rotate by -20 scale 0
set key outside right top
plot 'latency.dat' using 2:xtic(1) title 'median, unpinned', \\
  '' using 3 title 'p99, unpinned', \\
  '' using 4 title 'median, pinned', \\
  '' using 5 title 'p99, pinned'
"""
    return "latency.png" if gnuplot(script, plots_dir) else None


def plot_lines(cells, plots_dir, case, metric, xlabel, ylabel, title, name):
    pls = cells.placements(case)
    if not pls:
        return None
    trs = cells.order[case]
    path = os.path.join(plots_dir, "%s.dat" % case)
    blocks = []
    with open(path, "w") as f:
        for pl in pls:
            for tr in trs:
                f.write("# %s %s\n" % (tr, pl))
                for p in cells.params(case):
                    s = cells.spread(case, tr, p, pl, metric)
                    if s:
                        f.write("%d %g %g %g\n" % (p, s[0], s[1], s[2]))
                f.write("\n\n")
                blocks.append("%s, %s" % (label(case, tr), pl))
    parts = ["'%s.dat' index %d using 1:2:3:4 with yerrorlines lw 2 title '%s'"
             % (case, i, b.replace("'", "")) for i, b in enumerate(blocks)]
    script = ["set terminal pngcairo size 1000,480 font 'sans,10' noenhanced",
              "set output '%s'" % name, "set title '%s'" % title, "set grid",
              "set logscale x 2", "set xlabel '%s'" % xlabel, "set ylabel '%s'" % ylabel,
              "set key outside right top", "plot " + ", \\\n  ".join(parts)]
    return name if gnuplot("\n".join(script) + "\n", plots_dir) else None


# ------------------------------------------------------------------ output

METHOD = """## Method

- One command: `make bench` builds everything, installs the competitors
  (socat, mbuffer, netcat, gnuplot) with apt when missing, runs every case
  below, and regenerates this file, `bench/results/latest.csv` (every run's
  raw figure) and the plots in `bench/results/`. `make bench QUICK=1` is a
  one-minute look (3 runs, smaller volumes) written to
  `bench/results/quick/` instead.
- Contenders alternate run by run (A B C A B C ...), so drift on a shared
  machine hits all of them; each cell has at least 5 runs (3 with QUICK);
  tables give the median in bold, min-max in brackets, and the ratio of
  medians against the baseline.
- Every case runs twice: **unpinned** (what users get) and **pinned**, the
  two processes on different CPUs (placement alone changes results 3-4x on
  small machines).
- Writers and readers are separate processes using only shmpipe's public
  API, and every run checks that the bytes received are the bytes sent (a
  pattern compared byte for byte, sequence numbers in messages and
  records); a run that fails the check stops the bench, so a broken fast
  path cannot look good.
- Sources: `bench/xfer_bench.c` (throughput, message rate, cost growth),
  `bench/lat_bench.c` (round trips, many writers), `bench/bridge_bench.c`
  (the bridge against socat, mbuffer and nc), `bench/common.c` (the
  alternating runner), `bench/report.py` (this file and the plots).
"""


def machine_lines(path):
    out = []
    if path and os.path.exists(path):
        with open(path) as f:
            for line in f:
                line = line.rstrip("\n")
                if line:
                    k, _, v = line.partition(":")
                    out.append("| %s | %s |" % (k.strip(), v.strip()))
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--csv", required=True)
    ap.add_argument("--machine")
    ap.add_argument("--out", required=True)
    ap.add_argument("--plots", required=True)
    ap.add_argument("--quick", action="store_true")
    a = ap.parse_args()

    cells = Cells(a.csv)
    os.makedirs(a.plots, exist_ok=True)
    rel = os.path.relpath(a.plots, os.path.dirname(os.path.abspath(a.out)))
    plots = {
        "throughput": plot_throughput(cells, a.plots),
        "latency": plot_latency(cells, a.plots),
        "writers": plot_lines(cells, a.plots, "writers", "mmsgs", "writer processes",
                              "M records/s (512 B)", "Many writers into one reader", "writers.png"),
        "growth": plot_lines(cells, a.plots, "growth", "gbps", "capacity L (bytes)",
                             "GB/s", "shmpipe throughput against capacity, 64 KiB writes",
                             "growth.png"),
    }
    rows = targets(cells)

    md = ["# shmpipe benchmarks", "",
          "Generated by `make bench%s` (`bench/report.py`); do not edit by hand." %
          (" QUICK=1" if a.quick else ""), ""]
    md += ["## Machine", "", "| | |", "|---|---|"] + machine_lines(a.machine) + [""]
    md += ["## Summary of the targets", "", summary_text(rows), ""]
    if plots["throughput"]:
        md += ["![throughput against write size](%s/%s)" % (rel, plots["throughput"]), ""]
    md += [METHOD]

    md += ["## Throughput", "",
           "One writer process, one reader process; the reader copies every byte "
           "into its own buffer (except the zero-copy row). GB/s = 10^9 bytes per "
           "second; ratios against the kernel pipe of default size.", "",
           table(cells, "throughput", "gbps", "pipe", "writes of", human_size)]
    md += ["## Message rate", "",
           "64-byte messages, one write or send per message, the reader checks "
           "each message's sequence number. Ratios against the kernel pipe.", "",
           table(cells, "msgrate", "mmsgs", "pipe", "messages of", human_size)]
    md += ["## Round-trip latency", "",
           "A 64-byte ping-pong between two processes; per run the median, "
           "p99 and p99.9 of every round trip; below, the median of those over "
           "the runs. Ratios: the kernel pipe pair's time over this one's.", ""]
    for metric, title in (("median_us", "Median"), ("p99_us", "p99"), ("p999_us", "p99.9")):
        md += ["### %s" % title, "", table(cells, "latency", metric, "pipe", "payload", human_size)]
    if plots["latency"]:
        md += ["![round-trip latency](%s/%s)" % (rel, plots["latency"]), ""]
    md += ["## Many writers", "",
           "W writer processes into one reader, 512-byte records (<= PIPE_BUF, "
           "so a kernel pipe write is atomic) carrying writer id, sequence and "
           "checksum, all checked. Million records per second; ratios against "
           "the kernel pipe.", "",
           table(cells, "writers", "mmsgs", "pipe", "W =", str)]
    if plots["writers"]:
        md += ["![many writers](%s/%s)" % (rel, plots["writers"]), ""]
    md += ["## Cost growth with capacity", "",
           "shmpipe throughput with 64 KiB writes as the capacity L grows; "
           "ratios against L = 64 KiB. At L = 64 KiB each write needs the "
           "whole ring, so writer and reader take turns (a wake-up per "
           "write); from 1 MiB on they overlap. Each run uses a fresh pipe, "
           "so the time includes the first touch of its pages (256 MiB: "
           "65536 page faults on each side).", ""]
    growth = cells.order.get("growth", [])
    md += [table(cells, "growth", "gbps", growth[0] if growth else None, "L =", human_size)]
    if plots["growth"]:
        md += ["![cost growth](%s/%s)" % (rel, plots["growth"]), ""]
    md += ["## The bridge", "",
           "Bytes over TCP loopback from one sender into one reader through a "
           "relay: `shmpipe serve` into a pipe drained with shmpipe_read(), "
           "against socat, mbuffer and nc relaying into a FIFO drained with "
           "read(). GB/s of the whole pipeline; CPU seconds (user+sys of relay "
           "and reader) per GB. Ratios against socat.", ""]
    for case, title in (("bridge", "Competitors as they come"),
                        ("bridge-tuned", "Competitors tuned (FIFO grown to 1 MiB, socat -b 1M)")):
        if not cells.placements(case):
            continue
        md += ["### %s" % title, "", table(cells, case, "gbps", "socat", "", human_size),
               table(cells, case, "cpu_s_per_gb", "socat", "", human_size)]
    rss = cells.median("bridge-idle", "shmpipe", 1000, "unpinned", "rss_kib")
    fds = cells.median("bridge-idle", "shmpipe", 1000, "unpinned", "fds")
    if rss is not None:
        md += ["`shmpipe serve` holding 1000 idle connections: VmRSS %.1f MiB, %d fds." %
               (rss / 1024, fds or 0), ""]
    missing = [k for k, v in plots.items() if v is None and cells.placements(k)]
    if missing:
        md += ["(Plots not drawn: %s; gnuplot missing or failed.)" % ", ".join(missing), ""]

    with open(a.out, "w") as f:
        f.write("\n".join(md).rstrip() + "\n")

    print("\nSummary of the targets (medians; details in %s):" % a.out)
    for what, pl, text, ok in rows:
        print("  %-62s %-9s %-28s %s" % (what, pl, text,
              "n/a" if ok is None else ("met" if ok else "MISSED")))
    return 1 if any(ok is False for _, _, _, ok in rows) else 0


if __name__ == "__main__":
    sys.exit(main())
