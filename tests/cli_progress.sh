#!/bin/bash
# cli_progress.sh - `write --progress` and `read --progress`.
# Under a pseudo-terminal (python3's pty module, a set window size) on
# stderr: 64 MiB written through a 1 MiB pipe to a slow reader (and read
# from a slow writer) draw live lines with a byte count, a rate and the
# pipe's fill percent, redrawn in place; the last line is the exact total
# and a newline; no line is wider than the terminal (60 columns for write,
# 40 for read: the line gets shorter); the data arrives intact (sha256).
# With stderr on a file, --progress prints nothing at all. write
# --connect (through `serve`, on a Unix socket): no fill level, the total.
# Every pipe is named t-PID-...; all are removed on exit, failed or not.
set -u
S=$SHMPIPE
P=t-$$
tmp=$(mktemp -d "${TMPDIR:-/tmp}/cli_progress.XXXXXX")
bg=() # background processes to end on exit, by pid

cleanup() {
	for p in "${bg[@]}"; do kill -TERM "$p" 2>/dev/null; done
	sleep 0.2
	for p in "${bg[@]}"; do kill -9 "$p" 2>/dev/null; done
	wait 2>/dev/null
	rm -f /dev/shm/shmpipe."$P"-*
	rm -rf "$tmp"
}
trap cleanup EXIT
fail() {
	echo "FAIL: $*"
	exit 1
}
T() { timeout -k 5 120 "$@"; } # no command may hang the test

python3 -c 'import pty, termios, fcntl' 2>/dev/null ||
	{ echo "python3 without the pty module"; exit 77; }

# ptyrun COLS OUT CMD...: CMD with its stderr on a pseudo-terminal COLS
# wide (stdin and stdout as given); what the terminal got goes to OUT;
# the exit status is CMD's.
cat >"$tmp/ptyrun.py" <<'EOF'
import fcntl, os, struct, subprocess, sys, termios
cols, out = int(sys.argv[1]), sys.argv[2]
master, slave = os.openpty()
fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 24, cols, 0, 0))
p = subprocess.Popen(sys.argv[3:], stderr=slave, start_new_session=True)
os.close(slave)
data = b""
while True:
    try:
        chunk = os.read(master, 65536)
    except OSError:  # EIO: the other side is closed
        break
    if not chunk:
        break
    data += chunk
open(out, "wb").write(data)
sys.exit(p.wait())
EOF
ptyrun() { T python3 "$tmp/ptyrun.py" "$@"; }

# check_progress FILE COLS VERB TOTAL [nofill]: the terminal's output.
check_progress() {
	python3 - "$@" <<'EOF'
import re, sys
path, cols, verb, total = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
fill = len(sys.argv) < 6
raw = open(path, "rb").read()
if not raw.endswith(b"\n"):
    sys.exit("the output does not end with a newline: %r" % raw[-80:])
text = re.sub(rb"\x1b\[[0-9;?]*[A-Za-z]", b"", raw).decode()
if "\x1b" in text:
    sys.exit("an escape sequence other than CSI: %r" % raw[-200:])
if "\x1b[K" not in raw.decode():
    sys.exit("lines are not cleared to the end: %r" % raw[:200])
lines = [l for l in re.split(r"[\r\n]", text) if l]
for l in lines:
    if len(l) > cols:
        sys.exit("a line of %d columns on %d: %r" % (len(l), cols, l))
final = lines[-1]
if not re.match(r"%s %s bytes\b" % (verb, total), final):
    sys.exit("final line %r, want '%s %s bytes ...'" % (final, verb, total))
size = r"\d+(\.\d)? (B|KiB|MiB|GiB)"
live = [l for l in lines[:-1] if re.match(r"^ *%s +%s/s" % (size, size), l)]
if len(live) != len(lines) - 1:
    sys.exit("not a progress line: %r" % [l for l in lines[:-1] if l not in live])
if fill:
    if not any(re.search(r"fill +\d+%", l) and not re.match(r" *0 B ", l)
               for l in live):
        sys.exit("no live line with bytes and a fill percent: %r" % live[-3:])
elif any("fill" in l for l in lines):
    sys.exit("a fill level without a local pipe: %r" % lines)
EOF
}

# 64 MiB of random bytes; a slow reader (or writer) takes 2 s or more, so
# several lines are drawn (at most 4 a second) while the pipe is full (or
# empty).
N=$((64 << 20))
python3 -c 'import random, sys
sys.stdout.buffer.write(random.Random(11).randbytes(64 << 20))' >"$tmp/in"
want=$(sha256sum <"$tmp/in")
slow() { # copy stdin to stdout, 1 MiB each 40 ms
	python3 -c 'import sys, time
while True:
    b = sys.stdin.buffer.read(1 << 20)
    if not b:
        break
    sys.stdout.buffer.write(b)
    sys.stdout.buffer.flush()
    time.sleep(0.04)'
}

# ------------------------------------------------------------ write
T "$S" create "$P-w" --size 1M || fail "create"
T "$S" read "$P-w" | slow | sha256sum >"$tmp/got" &
bg+=($!)
reader=$!
ptyrun 60 "$tmp/tty" "$S" write "$P-w" --progress <"$tmp/in" >/dev/null ||
	fail "write --progress exit $?"
wait $reader || fail "reader"
[ "$(cat "$tmp/got")" = "$want" ] || fail "write --progress: the data differs"
check_progress "$tmp/tty" 60 wrote $N || fail "write --progress on 60 columns"

# Without a terminal: nothing on stderr, the same data. (A new pipe: a
# reader of a pipe that had a writer sees end of file while none is
# attached, as it might be before the next one starts.)
T "$S" rm "$P-w"
T "$S" create "$P-w" --size 1M || fail "create"
T "$S" read "$P-w" | sha256sum >"$tmp/got" &
bg+=($!)
reader=$!
T "$S" write "$P-w" --progress <"$tmp/in" 2>"$tmp/err" || fail "write --progress to a file: exit $?"
wait $reader || fail "reader"
[ -s "$tmp/err" ] && fail "write --progress without a terminal wrote: $(head -c 300 "$tmp/err")"
[ "$(cat "$tmp/got")" = "$want" ] || fail "write --progress (no tty): the data differs"
T "$S" rm "$P-w"

# ------------------------------------------------------------- read
T "$S" create "$P-r" --size 1M || fail "create"
slow <"$tmp/in" | T "$S" write "$P-r" &
bg+=($!)
writer=$!
ptyrun 40 "$tmp/tty" "$S" read "$P-r" --progress >"$tmp/out" ||
	fail "read --progress exit $?"
wait $writer || fail "writer"
[ "$(sha256sum <"$tmp/out")" = "$want" ] || fail "read --progress: the data differs"
check_progress "$tmp/tty" 40 read $N || fail "read --progress on 40 columns"

T "$S" rm "$P-r"
T "$S" create "$P-r" --size 1M || fail "create"
T "$S" write "$P-r" <"$tmp/in" &
bg+=($!)
writer=$!
T "$S" read "$P-r" --progress 2>"$tmp/err" | sha256sum >"$tmp/got"
wait $writer || fail "writer"
[ -s "$tmp/err" ] && fail "read --progress without a terminal wrote: $(head -c 300 "$tmp/err")"
[ "$(cat "$tmp/got")" = "$want" ] || fail "read --progress (no tty): the data differs"
T "$S" rm "$P-r"

# ---------------------------------------------------- write --connect
T "$S" create "$P-c" --size 16M || fail "create"
"$S" serve "$P-c" --listen "unix:$tmp/sock" --quiet >"$tmp/serve.out" 2>&1 &
serve=$!
bg+=($serve)
for _ in $(seq 100); do
	grep -q '^listening ' "$tmp/serve.out" && break
	sleep 0.1
done
grep -q '^listening ' "$tmp/serve.out" || fail "serve: $(cat "$tmp/serve.out")"
head -c 8M "$tmp/in" >"$tmp/in8"
ptyrun 60 "$tmp/tty" "$S" write --connect "unix:$tmp/sock" --progress <"$tmp/in8" ||
	fail "write --connect --progress exit $?"
check_progress "$tmp/tty" 60 wrote $((8 << 20)) nofill || fail "write --connect --progress"
kill -TERM $serve
wait $serve || fail "serve exit $?"
[ "$(T "$S" read "$P-c" | sha256sum)" = "$(sha256sum <"$tmp/in8")" ] ||
	fail "write --connect --progress: the data differs"
T "$S" rm "$P-c"
echo ok
