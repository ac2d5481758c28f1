#!/bin/bash
# bridge_out.sh - `serve --out`: connections read the pipe, each unit
# going to exactly one of them (competing consumers).
# Two readers, `read --connect` and nc, connect first (bridge.active 2);
# then 50000 numbered lines are written into the pipe (message pipe, then
# stream pipe) with `shmpipe write --lines`: every line reaches exactly
# one reader, whole (no line is split between them), the union is every
# line, each reader's share is in order, and bridge.units counts the
# units sent; after SIGTERM serve exits 0 and the readers see the end.
# A backlog (a 32 MiB pipe filled first, then two python3 readers): lines
# and len32 frames of random sizes, from a message pipe and a stream pipe;
# a stream pipe goes out in pieces of up to 256 KiB, which must end at a
# unit's end: every unit reaches exactly one reader, whole, in order, and
# (stream) both readers get some.
. "$(dirname "$0")/bridge_lib.bash"

N=50000
# check_shares N SOME FILE...: the lines 1..N (as `seq`), each in exactly
# one FILE, whole, in order within each, and (SOME=1) every FILE has some.
check_shares() {
	python3 - "$@" <<'EOF'
import sys
n, some, files = int(sys.argv[1]), sys.argv[2] == "1", sys.argv[3:]
seen = []
for f in files:
    data = open(f, "rb").read()
    if data and not data.endswith(b"\n"):
        sys.exit("%s ends inside a line" % f)
    nums = []
    for line in data.split(b"\n")[:-1]:
        if not line.isdigit() or not 1 <= int(line) <= n:
            sys.exit("%s: torn or foreign line %r" % (f, line[:40]))
        nums.append(int(line))
    if nums != sorted(nums):
        sys.exit("%s: out of order" % f)
    if not nums and some:
        sys.exit("%s got nothing" % f)
    seen += nums
if sorted(seen) != list(range(1, n + 1)):
    sys.exit("%d lines, %d distinct, want %d once each" % (len(seen), len(set(seen)), n))
EOF
}

for kind in --message ""; do
	name=$P-out${kind:+-msg}
	T "$S" create "$name" --size 256K $kind || fail "create"
	serve "$name" --listen tcp://:0 --out --framing lines
	T "$S" read --connect "$ADDR" >"$tmp/r1" &
	r1=$!
	T nc -d "$HOST" "$PORT" >"$tmp/r2" &
	r2=$!
	bg+=($r1 $r2)
	wait_field "$name" bridge.active 2
	seq 1 $N | T "$S" write "$name" --lines || fail "write"
	# every line has gone out, and reached a reader
	end=$((SECONDS + 30))
	while [ "$(cat "$tmp/r1" "$tmp/r2" | wc -l)" != $N ]; do
		[ $SECONDS -lt $end ] || fail "${kind:-stream}: $(cat "$tmp/r1" "$tmp/r2" | wc -l) lines read, want $N"
		sleep 0.1
	done
	[ -n "$kind" ] && { [ "$(field "$name" bridge.units)" = $N ] || fail "bridge.units $(field "$name" bridge.units)"; }
	stop "$SERVE_PID"
	reap $r1
	[ "$REAPED" = 0 ] || fail "read --connect exit $REAPED"
	reap $r2
	check_shares $N 0 "$tmp/r1" "$tmp/r2" || fail "${kind:-stream}: shares of the two readers"
	[ "$(field "$name" bytes_buffered)" = 0 ] || fail "data left in the pipe"
	T "$S" rm "$name"
done

# A backlog: the pipe (32 MiB) is filled first, then two python3 readers
# connect and read. A stream pipe goes out in pieces of up to 256 KiB,
# shared by the two: each piece must still end at a unit's end (lines:
# 1.2 million numbers, 8.5 MB; len32: 2400 frames of random sizes, 12 MB),
# so that no unit is split between the readers; message pipes go out
# message by message.
python3 -c '
import random, struct, sys
r = random.Random(11)
for i in range(2400):
    n = r.choice((8, r.randint(8, 100), r.randint(8, 30000)))
    body = b"%07d " % i + r.randbytes(n - 8)
    sys.stdout.buffer.write(struct.pack(">I", n) + body)' >"$tmp/frames"
seq 1 1200000 >"$tmp/lines"
cat >"$tmp/readers.py" <<'EOF'
import select, socket, sys
port, total, outs = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3:]
socks = [socket.create_connection(("127.0.0.1", port)) for _ in outs]
files = {s: open(o, "wb") for s, o in zip(socks, outs)}
got = 0
while got < total:
    ready, _, _ = select.select(socks, [], [], 30)
    if not ready:
        sys.exit("%d bytes of %d, then nothing for 30 s" % (got, total))
    for s in ready:
        b = s.recv(65536)
        if not b:
            sys.exit("the bridge closed a reader after %d bytes of %d" % (got, total))
        files[s].write(b)
        got += len(b)
EOF
check_frames() {
	python3 - "$@" <<'EOF'
import struct, sys
def frames(path):
    d, i, out = open(path, "rb").read(), 0, []
    while i < len(d):
        if len(d) - i < 4:
            sys.exit("%s: cut length" % path)
        n = struct.unpack(">I", d[i:i + 4])[0]
        if len(d) - i - 4 < n:
            sys.exit("%s: cut frame" % path)
        out.append(d[i + 4:i + 4 + n])
        i += 4 + n
    return out
want, some = frames(sys.argv[1]), sys.argv[2] == "1"
got = []
for p in sys.argv[3:]:
    mine = frames(p)
    if not mine and some:
        sys.exit("%s got nothing" % p)
    if [int(f[:7]) for f in mine] != sorted(int(f[:7]) for f in mine):
        sys.exit("%s: out of order" % p)
    got += mine
if sorted(got) != sorted(want):
    sys.exit("%d frames back, want %d, or some differ" % (len(got), len(want)))
EOF
}
for framing in lines len32; do
	for kind in --message ""; do
		k="$framing ${kind:-stream}"
		name=$P-backlog
		T "$S" create "$name" --size 32M $kind || fail "create"
		if [ $framing = lines ]; then
			input=$tmp/lines
		else
			input=$tmp/frames
		fi
		T "$S" write "$name" --$framing <"$input" || fail "$k: write"
		serve "$name" --listen tcp://:0 --out --framing $framing
		T python3 "$tmp/readers.py" "$PORT" "$(stat -c %s "$input")" "$tmp/b1" "$tmp/b2" ||
			fail "$k: readers"
		wait_field "$name" bytes_buffered 0
		stop "$SERVE_PID"
		# Either reader may get everything: loopback TCP buffers can
		# grow to hold the whole backlog before the second reader
		# connects (seen in CI). What must hold: no unit split between
		# them, nothing lost or duplicated.
		some=0
		if [ $framing = lines ]; then
			check_shares 1200000 $some "$tmp/b1" "$tmp/b2" || fail "$k: shares of the two readers"
		else
			check_frames "$input" $some "$tmp/b1" "$tmp/b2" || fail "$k: shares of the two readers"
		fi
		T "$S" rm "$name"
	done
done
echo ok
