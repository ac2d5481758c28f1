#!/bin/bash
# bridge_frames.sh - len32 and raw framing through the bridge.
# len32: three concurrent clients (2 python3 in chunks of random sizes,
# 1 socat) each send 300 frames of random sizes, plus frames of 1 byte and
# of the largest size the pipe takes in one write (262136 in a 256 KiB
# message pipe, 262140 in a stream pipe, where the 4-byte length goes in
# too), into a message pipe and a stream pipe drained by `read --len32`:
# each client's frames come back exactly, whole and in order (an empty
# frame is kept by a stream pipe and carries nothing in a message pipe);
# bridge.units counts the frames.
# raw: 64 MiB of random bytes by nc into a 1 MiB stream pipe, and by
# `write --connect` into a message pipe, read back with the same sha256.
. "$(dirname "$0")/bridge_lib.bash"

# frames.py TAG MAX OUT: 300 frames of random sizes that start with TAG,
# then frames of MAX, 1 (TAG's last letter), 0 and 9 bytes, into OUT (as
# sent) and OUT.want (the same without the empty frame).
cat >"$tmp/frames.py" <<'EOF'
import random, struct, sys
tag, top, out = sys.argv[1].encode(), int(sys.argv[2]), sys.argv[3]
r = random.Random(tag)
sizes = [r.choice((r.randint(2, 100), r.randint(2, 5000), r.randint(2, 70000)))
         for _ in range(300)] + [top, 1, 0, 9]
with open(out, "wb") as f, open(out + ".want", "wb") as w:
    for n in sizes:
        body = tag + r.randbytes(n) if n > 1 else tag[-1:]
        frame = struct.pack(">I", n) + body[:n]
        f.write(frame)
        if n:
            w.write(frame)
EOF
# split.py FILE EMPTY TAG...: FILE must be whole frames; each TAG's
# (non-empty) frames go into FILE.TAG, and there must be EMPTY empty ones.
cat >"$tmp/split.py" <<'EOF'
import struct, sys
data, empty, tags = open(sys.argv[1], "rb").read(), int(sys.argv[2]), sys.argv[3:]
out, i, seen_empty = {t: bytearray() for t in tags}, 0, 0
while i < len(data):
    if len(data) - i < 4:
        sys.exit("a cut length prefix at %d" % i)
    n = struct.unpack(">I", data[i:i + 4])[0]
    if len(data) - i - 4 < n:
        sys.exit("a cut frame at %d" % i)
    body = data[i + 4:i + 4 + n]
    t = next((t for t in tags if body.startswith(t.encode()) or
              (n == 1 and body == t[-1:].encode())), None)
    if n == 0:
        seen_empty += 1
    elif t is None:
        sys.exit("a foreign or torn frame at %d: %r" % (i, body[:20]))
    else:
        out[t] += data[i:i + 4 + n]
    i += 4 + n
if seen_empty != empty:
    sys.exit("%d empty frames, want %d" % (seen_empty, empty))
for t in tags:
    open(sys.argv[1] + "." + t, "wb").write(out[t])
EOF

tags=(f0 f1 f2)
for kind in --message ""; do
	name=$P-len${kind:+-msg}
	T "$S" create "$name" --size 256K $kind || fail "create"
	if [ -n "$kind" ]; then top=262136 empty=0; else top=262140 empty=3; fi
	for t in "${tags[@]}"; do
		python3 "$tmp/frames.py" "$t" "$top" "$tmp/in.$t" || fail "frames.py"
	done
	serve "$name" --listen tcp://:0 --framing len32
	T "$S" read "$name" --len32 >"$tmp/out" &
	reader=$!
	bg+=("$reader")
	sendpy "$ADDR" <"$tmp/in.f0" &
	c0=$!
	sendpy "$ADDR" <"$tmp/in.f1" &
	c1=$!
	T socat -u "OPEN:$tmp/in.f2" "TCP:$HOST:$PORT" &
	c2=$!
	bg+=($c0 $c1 $c2)
	for c in $c0 $c1 $c2; do
		reap $c 60
		[ "$REAPED" = 0 ] || fail "${kind:-stream}: a len32 client exit $REAPED"
	done
	# 304 frames a client; a message pipe takes no empty message.
	wait_field "$name" bridge.units $((3 * (304 - (3 - empty) / 3))) 30
	wait_field "$name" bridge.active 0
	[ "$(field "$name" bridge.partial_discarded)" = 0 ] || fail "partial units discarded"
	stop "$SERVE_PID"
	reap "$reader"
	[ "$REAPED" = 0 ] || fail "read --len32 exit $REAPED"
	python3 "$tmp/split.py" "$tmp/out" $empty "${tags[@]}" || fail "${kind:-stream}: frames read back"
	for t in "${tags[@]}"; do
		cmp -s "$tmp/out.$t" "$tmp/in.$t.want" || fail "${kind:-stream}: the frames of $t differ"
	done
	[ "$(field "$name" bytes_buffered)" = 0 ] || fail "data left in the pipe"
	T "$S" rm "$name"
done

# ------------------------------------------------------------- raw
head -c 64M /dev/urandom >"$tmp/big" || fail "random file"
want=$(sha256sum <"$tmp/big")
for kind in "" --message; do
	name=$P-raw${kind:+-msg}
	T "$S" create "$name" --size 1M $kind || fail "create"
	serve "$name" --listen tcp://:0
	T "$S" read "$name" | sha256sum >"$tmp/got" &
	reader=$!
	bg+=("$reader")
	if [ -n "$kind" ]; then
		T "$S" write --connect "$ADDR" <"$tmp/big" || fail "write --connect 64 MiB"
	else
		T nc -N "$HOST" "$PORT" <"$tmp/big" >/dev/null || fail "nc 64 MiB"
	fi
	wait_field "$name" bridge.bytes $((64 << 20))
	stop "$SERVE_PID"
	reap "$reader" 30
	[ "$REAPED" = 0 ] || fail "read exit $REAPED"
	[ "$(cat "$tmp/got")" = "$want" ] || fail "raw ${kind:-stream}: sha256 differs"
	T "$S" rm "$name"
done
echo ok
