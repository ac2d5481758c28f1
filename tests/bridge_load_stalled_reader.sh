#!/bin/bash
# bridge_load_stalled_reader.sh - a stalled reader: a 64 MiB pipe that
# nobody reads, and four python3 clients pushing 1 GiB in all through the
# bridge (--framing lines, 1 KiB numbered lines, 256 MiB each). Asserts:
#  - the pipe fills (>= 63 MiB buffered), then the bridge stops: its
#    committed byte count does not move for 2 s, while all four writers
#    are still sending (held back by TCP flow control: what they have
#    handed to the kernel is far from 1 GiB), and no connection is closed;
#  - the bridge's memory stays bounded the whole time (sampled every
#    0.2 s): its private memory (VmRSS - RssShmem) < 32 MiB, because each
#    connection holds at most one unit (a 1 KiB line; the buffer of a
#    connection never exceeds max_unit + 64 KiB, ~1.1 MiB) whatever is
#    pushed at it; and VmRSS < 96 MiB: the pages of the 64 MiB pipe it
#    wrote count as RssShmem, they are the data's home, not the bridge's
#    memory. A bridge that buffered instead of pushing back would grow
#    towards 1 GiB. (Under SANITIZE=1, ASan's shadow and allocator add
#    their own: the bounds are 32 MiB higher);
#  - once a reader starts, every byte arrives: exactly 1 GiB, every line
#    of every client whole and in that client's order, nothing discarded.
# Loopback only, ephemeral port, pipe t-PID-..., everything cleaned up.
set -u
P=t-$$-stall
T_SECONDS=80
. "$(dirname "$0")/bridge_load_lib.bash"
# The pipe plus slack must fit in /dev/shm.
[ "$(df -Pk /dev/shm | awk 'NR == 2 { print $4 }')" -gt $((128 * 1024)) ] ||
	{ echo "/dev/shm has less than 128 MiB free"; exit 77; }

CLIENTS=4
LINES=262144 # of 1024 bytes: 256 MiB per client, 1 GiB in all
TOTAL=$((CLIENTS * LINES * 1024))

T "$S" create "$P" --size 64M || fail "create"
start_serve --framing lines --idle-timeout 120

# RSS sampler: the largest VmRSS and VmRSS - RssShmem, every 0.2 s.
(
	maxv=0 maxp=0
	while kill -0 "$spid" 2>/dev/null; do
		v=$(mem VmRSS) s=$(mem RssShmem)
		if [ -n "$v" ] && [ -n "$s" ]; then
			[ "$v" -gt $maxv ] && maxv=$v
			[ $((v - s)) -gt $maxp ] && maxp=$((v - s))
		fi
		echo "$maxv $maxp" >"$tmp/rss.tmp" && mv "$tmp/rss.tmp" "$tmp/rss"
		sleep 0.2
	done
) &
bg+=($!)

# Client K sends LINES lines "K SEQ aaaa...\n" of 1024 bytes in 1 MiB
# sendall()s, writing how much it has handed to the kernel to sent.K.
cat >"$tmp/send.py" <<'EOF'
import socket, sys
port, k, lines, d = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
def line(k, i):
    head = b"%d %09d " % (k, i)
    return head + bytes([97 + i % 26]) * (1023 - len(head)) + b"\n"
s = socket.create_connection(("127.0.0.1", port), timeout=90)
sent = 0
for start in range(0, lines, 1024):
    block = b"".join(line(k, i) for i in range(start, min(start + 1024, lines)))
    s.sendall(block)
    sent += len(block)
    with open("%s/sent.%d.tmp" % (d, k), "w") as f:
        f.write(str(sent))
    import os
    os.replace("%s/sent.%d.tmp" % (d, k), "%s/sent.%d" % (d, k))
s.shutdown(socket.SHUT_WR)
s.recv(1)  # the bridge closes once it has committed everything
print("done", sent)
EOF
# The checker: every line whole, each client's in order, all there.
cat >"$tmp/check.py" <<'EOF'
import sys
clients, lines = int(sys.argv[1]), int(sys.argv[2])
nxt = [0] * clients
total = 0
for ln in sys.stdin.buffer:
    total += len(ln)
    k, i = ln.split(b" ", 2)[:2]
    k, i = int(k), int(i)
    if i != nxt[k]:
        sys.exit("client %d: line %d where %d was due" % (k, i, nxt[k]))
    head = b"%d %09d " % (k, i)
    if ln != head + bytes([97 + i % 26]) * (1023 - len(head)) + b"\n":
        sys.exit("client %d line %d is torn: %r" % (k, i, ln[:60]))
    nxt[k] += 1
if nxt != [lines] * clients:
    sys.exit("lines per client: %r" % nxt)
print("ok", total)
EOF
spids=()
for k in $(seq 0 $((CLIENTS - 1))); do
	T python3 "$tmp/send.py" "$port" "$k" "$LINES" "$tmp" >"$tmp/send.$k.out" 2>&1 &
	spids+=($!)
	bg+=($!)
done

# The pipe fills...
end=$((SECONDS + 40))
while [ "$(field bytes_buffered)" -lt $((63 << 20)) ]; do
	[ $SECONDS -lt $end ] || fail "the pipe never filled: $(field bytes_buffered) bytes"
	sleep 0.2
done
# ... then the bridge holds: nothing more committed, the writers wait.
sleep 1
b1=$(field bridge.bytes)
sleep 2
b2=$(field bridge.bytes)
[ "$b1" = "$b2" ] || fail "committed $b1 then $b2 bytes into a full pipe"
[ "$(field bytes_buffered)" = "$b2" ] || fail "buffered $(field bytes_buffered) != committed $b2"
for p in "${spids[@]}"; do
	kill -0 "$p" 2>/dev/null || fail "a writer finished while the pipe was full"
done
[ "$(field bridge.active)" = "$CLIENTS" ] || fail "active $(field bridge.active)"
sent=0
for k in $(seq 0 $((CLIENTS - 1))); do
	[ -s "$tmp/sent.$k" ] && sent=$((sent + $(cat "$tmp/sent.$k")))
done
echo "stalled: $b2 bytes committed, $sent handed to the kernel by the writers"
[ "$sent" -lt $((TOTAL / 2)) ] || fail "the writers were not held back: $sent bytes sent"
read -r maxv maxp <"$tmp/rss"
echo "stalled: serve max VmRSS $maxv kB, max VmRSS - RssShmem $maxp kB"

# A reader starts: everything arrives.
T "$S" read "$P" --count "$TOTAL" --timeout 75 |
	T python3 "$tmp/check.py" "$CLIENTS" "$LINES" >"$tmp/check.out" 2>&1
rc=("${PIPESTATUS[@]}")
[ "${rc[0]}" = 0 ] || fail "read exit ${rc[0]}"
[ "${rc[1]}" = 0 ] || fail "check: $(cat "$tmp/check.out")"
grep -qx "ok $TOTAL" "$tmp/check.out" || fail "check: $(cat "$tmp/check.out")"
for k in $(seq 0 $((CLIENTS - 1))); do
	wait "${spids[$k]}" || fail "writer $k: $(cat "$tmp/send.$k.out")"
done
[ "$(field bridge.bytes)" = "$TOTAL" ] || fail "bridge committed $(field bridge.bytes)"
[ "$(field bytes_buffered)" = 0 ] || fail "left in the pipe: $(field bytes_buffered)"
[ "$(field bridge.partial_discarded)" = 0 ] || fail "partial units discarded"

sleep 0.3 # one more sample
read -r maxv maxp <"$tmp/rss"
echo "serve: max VmRSS $maxv kB, max VmRSS - RssShmem $maxp kB"
slack=0
[ "${SANITIZE:-0}" = 1 ] && slack=$((32 * 1024))
[ "$maxp" -gt 0 ] && [ "$maxp" -lt $((32 * 1024 + slack)) ] || fail "private memory reached $maxp kB"
[ "$maxv" -lt $((96 * 1024 + slack)) ] || fail "VmRSS reached $maxv kB"
kill -TERM "$spid"
wait "$spid" || fail "serve exit status"
exit 0
