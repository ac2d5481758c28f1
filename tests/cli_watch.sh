#!/bin/bash
# cli_watch.sh - `stat --watch`.
# Two pipes: A (stream) fed slowly in the background, B (message) holding
# 50 lines. Under a pseudo-terminal of 100x30 (python3's pty module),
# `stat --watch 0.2` redraws in place and shows both names, B's fill
# percent as `stat --json` gives it and a rate in above zero for A, every
# line within 100 columns; resized to 50 columns with a SIGWINCH, every
# line drawn from the redraw on is within 50; SIGINT ends it with exit 0,
# the cursor shown again and the screen restored. With a long interval
# (30 s), a resize still redraws at once. With stdout to a file: plain
# lines, no escape byte, one per pipe per interval after a timestamp, a
# pipe created meanwhile appears, a removed one shows "(removed)" once and
# no more. --json: an object per interval, with rates. A pipe that
# `serve` serves shows its bridge connections. An interval of 0 or below
# is a usage error (2).
# Every pipe is named t-PID-...; all are removed on exit, failed or not.
set -u
S=$SHMPIPE
P=t-$$
tmp=$(mktemp -d "${TMPDIR:-/tmp}/cli_watch.XXXXXX")
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
T() { timeout -k 5 60 "$@"; } # no command may hang the test

python3 -c 'import pty, termios, fcntl' 2>/dev/null ||
	{ echo "python3 without the pty module"; exit 77; }

# expect_usage ARGS...: `stat ARGS...` exits 2 with a usage message.
expect_usage() {
	T "$S" stat "$@" >"$tmp/out" 2>"$tmp/err"
	local rc=$?
	[ $rc = 2 ] || fail "stat $*: exit $rc, want 2: $(cat "$tmp/err")"
	grep -q "bad interval" "$tmp/err" || fail "stat $*: $(cat "$tmp/err")"
	[ -s "$tmp/out" ] && fail "stat $*: printed $(head -c 200 "$tmp/out")"
	return 0
}
expect_usage --watch 0
expect_usage --watch -1
expect_usage --watch -0.5
expect_usage --watch=0
expect_usage "$P-a" --watch 0

A=$P-a B=$P-b C=$P-c
T "$S" create "$A" --size 16M || fail "create A"
T "$S" create "$B" --size 4K --message || fail "create B"
seq 1 50 | T "$S" write "$B" --lines || fail "write B"
# about 100 KiB/s into A for a minute at most: a rate, and room to spare
python3 -c 'import sys, time
for _ in range(6000):
    sys.stdout.buffer.write(b"x" * 1024)
    sys.stdout.buffer.flush()
    time.sleep(0.01)' 2>/dev/null | "$S" write "$A" &
bg+=($!)
fill_b=$(T "$S" stat --json "$B" | python3 -c 'import json, sys
st = json.load(sys.stdin)
print("%.1f" % (100.0 * st["fill"] / st["capacity"]))')

# ------------------------------------------------------ on a terminal
# The common part of the two terminal sessions below.
cat >"$tmp/term.py" <<'EOF'
import fcntl, os, re, select, signal, struct, subprocess, sys, termios, time

def fail(msg):
    print("FAIL: " + msg)
    sys.exit(1)

class Term:
    """A command on a pseudo-terminal; self.out is everything it drew."""
    def __init__(self, argv, cols, rows):
        self.master, slave = os.openpty()
        self.resize(cols, rows)
        self.p = subprocess.Popen(
            argv, stdin=slave, stdout=slave, stderr=slave,
            start_new_session=True,
            # a background job of a script starts with SIGINT ignored
            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
        os.close(slave)
        self.out = b""

    def resize(self, cols, rows):
        fcntl.ioctl(self.master, termios.TIOCSWINSZ,
                    struct.pack("HHHH", rows, cols, 0, 0))

    def pump(self, secs):
        """Read for secs; False once the other side is closed."""
        end = time.time() + secs
        while time.time() < end:
            r, _, _ = select.select([self.master], [], [], 0.05)
            if not r:
                continue
            try:
                chunk = os.read(self.master, 65536)
            except OSError:
                return False
            if not chunk:
                return False
            self.out += chunk
        return True

    def wait_for(self, secs, pred, what):
        end = time.time() + secs
        while time.time() < end:
            if pred():
                return
            if not self.pump(0.1):
                break
        fail("%s: not within %d s; the last frame:\n%s" %
             (what, secs, "\n".join(lines(frames(self.out)[-1:]))))

    def interrupt(self):
        self.p.send_signal(signal.SIGINT)
        end = time.time() + 10
        while time.time() < end and self.pump(0.1):
            pass
        try:
            return self.p.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.p.kill()
            fail("SIGINT did not end it")

def frames(out, since=0):
    """The complete frames (each starts at the cursor home) from since."""
    parts = out[since:].split(b"\x1b[H")
    return [p for p in parts[1:-1]] + \
        ([parts[-1]] if len(parts) > 1 and b"\x1b[J" in parts[-1] else [])

def lines(frs):
    out = []
    for f in frs:
        text = re.sub(rb"\x1b\[[0-9;?]*[A-Za-z]", b"", f).decode()
        if "\x1b" in text:
            fail("an escape that is not CSI in %r" % f)
        out += [l for l in text.split("\r\n") if l]
    return out

def row(frame_lines, name):
    found = [l for l in frame_lines if l.split()[:1] == [name]]
    return found[0] if found else None
EOF

python3 - "$S" "$A" "$B" "$fill_b" "$tmp/term.py" <<'EOF' || fail "stat --watch on a terminal"
import re, signal, sys, time
S, A, B, fill_b = sys.argv[1:5]
exec(open(sys.argv[5]).read())

t = Term([S, "stat", "--watch", "0.2"], 100, 30)
rate = re.compile(r"\b[1-9][0-9.]* (B|KiB|MiB)/s")
def ready():
    fr = frames(t.out)[-1:]
    ls = lines(fr)
    a, b = row(ls, A), row(ls, B)
    return a and b and rate.search(a) and re.search(r"\b%s%%" % re.escape(fill_b), b)
t.wait_for(15, ready, "both pipes, B %s%% full, A with a rate in" % fill_b)
if not t.out.startswith(b"\x1b[?1049h\x1b[?25l"):
    fail("the alternate screen and a hidden cursor do not come first: %r" % t.out[:40])
for l in lines(frames(t.out)):
    if len(l) > 100:
        fail("a line of %d columns on 100: %r" % (len(l), l))

# Resize: the redraw that SIGWINCH brings clears the screen first; from
# there on, every line is within 50 columns.
mark = len(t.out)
t.resize(50, 30)
t.p.send_signal(signal.SIGWINCH)
t.wait_for(5, lambda: b"\x1b[2J" in t.out[mark:], "a redraw after SIGWINCH")
after = t.out.index(b"\x1b[2J", mark) - len(b"\x1b[H")
t.wait_for(20, lambda: len(frames(t.out, after)) >= 3, "3 frames after the resize")
narrow = lines(frames(t.out, after))
for l in narrow:
    if len(l) > 50:
        fail("after the resize, a line of %d columns on 50: %r" % (len(l), l))
if not row(narrow, A) or not row(narrow, B):
    fail("the names are gone on 50 columns: %r" % narrow[-6:])

rc = t.interrupt()
if rc != 0:
    fail("exit %d after SIGINT, want 0" % rc)
tail = t.out[t.out.rindex(b"\x1b[?25l"):]
if b"\x1b[?25h" not in tail or b"\x1b[?1049l" not in tail:
    fail("after SIGINT the cursor is not shown again, or the screen not "
         "restored: %r" % t.out[-60:])

# A long interval: a resize still redraws at once.
t = Term([S, "stat", "--watch", "30", A, B], 100, 30)
t.wait_for(10, lambda: len(frames(t.out)) >= 1, "the first frame")
mark = len(t.out)
t.resize(50, 30)
t.p.send_signal(signal.SIGWINCH)
t.wait_for(5, lambda: frames(t.out, mark), "a redraw after SIGWINCH (interval 30 s)")
ls = lines(frames(t.out, mark))
if any(len(l) > 50 for l in ls) or not row(ls, A) or not row(ls, B):
    fail("the redraw after SIGWINCH: %r" % ls)
if t.interrupt() != 0:
    fail("exit after SIGINT (interval 30 s)")
EOF

# --------------------------------------------------- without a terminal
# SIGINT as from Ctrl-C (python3 starts it with SIGINT not ignored).
python3 - "$S" "$A" "$B" "$C" "$tmp/plain" <<'EOF' || fail "stat --watch to a file"
import re, signal, subprocess, sys, time
S, A, B, C, out = sys.argv[1:6]
p = subprocess.Popen([S, "stat", "--watch", "0.2"], stdout=open(out, "wb"),
                     preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
def wait_for(what, pattern):
    end = time.time() + 20
    while time.time() < end:
        if re.search(pattern, open(out).read(), re.M | re.S):
            return
        time.sleep(0.1)
    p.kill()
    sys.exit("not within 20 s: " + what)
wait_for("the first interval", r" %s " % A)
subprocess.run([S, "create", C, "--size", "4K"], check=True)
wait_for("the new pipe", r" %s " % C)
subprocess.run([S, "rm", B], check=True)
wait_for("an interval after the removal", r" %s \(removed\)$.* %s " % (B, A))
p.send_signal(signal.SIGINT)
rc = p.wait(timeout=10)
if rc != 0:
    sys.exit("exit %d after SIGINT, want 0" % rc)
EOF
python3 - "$tmp/plain" "$A" "$B" "$C" "$fill_b" <<'EOF' || fail "stat --watch lines: $(tail -n 5 "$tmp/plain")"
import re, sys
path, A, B, C, fill_b = sys.argv[1:6]
raw = open(path, "rb").read()
if b"\x1b" in raw:
    sys.exit("an escape byte in the lines")
rounds = {}  # timestamp -> names in that round, in order
for line in raw.decode().splitlines():
    m = re.fullmatch(r"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}) (\S+) (.*)", line)
    if not m:
        sys.exit("not a plain line: %r" % line)
    stamp, name, rest = m.groups()
    if name in rounds.setdefault(stamp, []):
        sys.exit("%s twice at %s" % (name, stamp))
    rounds[stamp].append(name)
    if name == B and rest != "(removed)" and "fill %s%%" % fill_b not in rest:
        sys.exit("B: %r, want fill %s%%" % (line, fill_b))
    if name == A and not re.match(r"stream capacity 16\.0 MiB fill [\d.]+% in ", rest):
        sys.exit("A: %r" % line)
order = sorted(rounds)
if any(A not in rounds[s] for s in order):
    sys.exit("A is missing from an interval")
removed = [l for l in raw.decode().splitlines() if l.endswith(" %s (removed)" % B)]
if len(removed) != 1:
    sys.exit("%d '(removed)' lines for B, want 1" % len(removed))
gone = removed[0].split()[0]
if any(B in rounds[s] for s in order if s > gone):
    sys.exit("B shown after its '(removed)'")
if not any(B in rounds[s] for s in order if s < gone):
    sys.exit("B never shown before it was removed")
first_c = [s for s in order if C in rounds[s]]
if not first_c or first_c[0] == order[0] or any(C not in rounds[s] for s in order if s > first_c[0]):
    sys.exit("C, created meanwhile, does not appear (and stay)")
EOF

# ----------------------------------------------------------------- --json
T "$S" stat --json --watch 0.2 "$A" "$C" >"$tmp/json" &
watcher=$!
bg+=($watcher)
for _ in $(seq 200); do
	[ "$(wc -l <"$tmp/json")" -ge 4 ] && break
	sleep 0.1
done
kill -TERM $watcher
wait $watcher
python3 - "$tmp/json" "$A" "$C" <<'EOF' || fail "stat --watch --json"
import json, sys
path, A, C = sys.argv[1:4]
objs = [json.loads(l) for l in open(path)]
if len(objs) < 4:
    sys.exit("%d objects in 20 s at 0.2 s" % len(objs))
for o in objs:
    if sorted(p["name"] for p in o["pipes"]) != sorted([A, C]) or o["removed"]:
        sys.exit("pipes of an interval: %r" % o)
    if not isinstance(o["time"], (int, float)):
        sys.exit("time %r" % o["time"])
if any(p["rates"] is not None for p in objs[0]["pipes"]):
    sys.exit("rates in the first interval, with nothing to compare")
a = [p for o in objs[1:] for p in o["pipes"] if p["name"] == A]
if not any(p["rates"]["bytes_in"] > 0 for p in a):
    sys.exit("A: no bytes in per second: %r" % [p["rates"] for p in a])
if a[-1]["capacity"] != 16 << 20 or a[-1]["kind"] != "stream":
    sys.exit("A: %r" % a[-1])
EOF

# ------------------------------------------- a pipe a bridge serves
D=$P-d
T "$S" create "$D" --size 64K || fail "create D"
"$S" serve "$D" --listen "unix:$tmp/sock" --quiet >"$tmp/serve.out" 2>&1 &
bg+=($!)
for _ in $(seq 100); do
	grep -q '^listening ' "$tmp/serve.out" && break
	sleep 0.1
done
grep -q '^listening ' "$tmp/serve.out" || fail "serve: $(cat "$tmp/serve.out")"
# a client that stays connected (30 s at most)
python3 -c 'import socket, sys, time
s = socket.socket(socket.AF_UNIX)
s.connect(sys.argv[1])
time.sleep(30)' "$tmp/sock" &
bg+=($!)
T "$S" stat --watch 0.2 "$D" >"$tmp/bridge" &
watcher=$!
bg+=($watcher)
for _ in $(seq 100); do
	grep -q " $D .* bridge 1 connection$" "$tmp/bridge" && break
	sleep 0.1
done
kill -TERM $watcher
grep -q " $D .* bridge 1 connection$" "$tmp/bridge" ||
	fail "no bridge connection shown: $(tail -n 2 "$tmp/bridge")"
echo ok
