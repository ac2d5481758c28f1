#!/bin/bash
# bridge_signals.sh - stopping and reporting.
# For each of SIGTERM, SIGINT and SIGHUP, with four python3 clients
# connected that each send numbered lines and then half a line, and keep
# their connection open: two send 5000 lines over TCP; then serve is
# stopped (SIGSTOP) and two send 30000 lines (1 MB) over a Unix socket,
# which all waits in serve's sockets, more than it reads for one event;
# then the signal, and SIGCONT. serve exits 0 within seconds; every whole
# line sent is in the pipe (whole, each client's in order: nothing
# received is lost, even what was still in the sockets when the signal
# came), the half lines are not (the last stats line counts 4 partial
# units discarded), each client sees its connection closed, the Unix
# socket file and the --fifo FIFO are removed, and the pipe stays with
# its data.
# A full pipe (nobody reads) does not hold a stop up: serve exits 0 in a
# few seconds, the pipe full of whole lines.
# SIGUSR1 logs a stats line on stderr (and again on the next one), and
# serve goes on serving.
. "$(dirname "$0")/bridge_lib.bash"

N=5000 M=30000
# Unix clients queue M lines in serve's socket while it is stopped: that
# needs a send buffer larger than the default, which only root may force.
[ "$(id -u)" = 0 ] || M=1000
cat >"$tmp/client.py" <<'EOF'
import os, re, socket, sys
import time
addr, tag, n, go, mark = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4], sys.argv[5]
if addr.startswith("unix:"):
    s = socket.socket(socket.AF_UNIX)
    if os.getuid() == 0:
        s.setsockopt(socket.SOL_SOCKET, 32, 16 << 20)  # SO_SNDBUFFORCE
    s.connect(addr[5:])
else:
    host, port = re.fullmatch(r"tcp://(.*):(\d+)", addr).groups()
    s = socket.create_connection((host, int(port)))
while not os.path.exists(go):
    time.sleep(0.01)
xs = "x" * 40
s.sendall("".join("%s %d %s %s-%d\n" % (tag, i, xs[:i % 37], tag, i)
                  for i in range(n)).encode() + b"half a line")
open(mark, "w").close()
s.settimeout(30)
try:
    while s.recv(4096):
        pass
except ConnectionResetError:
    pass
except socket.timeout:
    sys.exit("%s: still open 30 s after the stop" % tag)
EOF
# marks K: wait (30 s at most) until K clients have sent all.
marks() {
	local end=$((SECONDS + 30))
	while [ "$(ls "$tmp" | grep -c '^sent\.')" != "$1" ]; do
		[ $SECONDS -lt $end ] || fail "SIG$sig: $1 clients did not send in 30 s"
		sleep 0.02
	done
}

for sig in TERM INT HUP; do
	name=$P-sig$sig
	T "$S" create "$name" --size 16M --message || fail "create"
	serve "$name" --listen tcp://:0 --listen "unix:$tmp/sock" --framing lines --fifo "$tmp/fifo"
	[ -S "$tmp/sock" ] && [ -p "$tmp/fifo" ] || fail "no socket file or FIFO"
	rm -f "$tmp"/sent.* "$tmp"/go.*
	clients=()
	for i in 0 1 2 3; do
		if [ $i -lt 2 ]; then
			T python3 "$tmp/client.py" "$ADDR" c$i $N "$tmp/go.$i" "$tmp/sent.$i" &
		else
			T python3 "$tmp/client.py" "${ADDRS[1]}" c$i $M "$tmp/go.$i" "$tmp/sent.$i" &
		fi
		clients+=($!)
		bg+=($!)
	done
	wait_field "$name" bridge.accepted 4
	touch "$tmp/go.0" "$tmp/go.1"
	marks 2
	kill -STOP "$SERVE_PID"
	touch "$tmp/go.2" "$tmp/go.3"
	marks 4
	kill -$sig "$SERVE_PID"
	kill -CONT "$SERVE_PID"
	reap "$SERVE_PID"
	[ "$REAPED" = 0 ] || fail "serve exit $REAPED after SIG$sig, want 0"
	for c in "${clients[@]}"; do
		reap $c 40
		[ "$REAPED" = 0 ] || fail "SIG$sig: a client exit $REAPED"
	done
	[ -e "$tmp/sock" ] && fail "SIG$sig: the Unix socket file stays"
	[ -e "$tmp/fifo" ] && fail "SIG$sig: the FIFO stays"
	tail -n 1 "$SERVE_ERR" | grep -q 'stats: accepted 4, .*partial units discarded 4,' ||
		fail "SIG$sig: last stats line: $(tail -n 1 "$SERVE_ERR")"
	[ -e "/dev/shm/shmpipe.$name" ] || fail "SIG$sig: the pipe is gone"
	[ "$(field "$name" messages_buffered)" = $((2 * N + 2 * M)) ] ||
		fail "SIG$sig: $(field "$name" messages_buffered) lines in the pipe, want $((2 * N + 2 * M))"
	T "$S" read "$name" --lines >"$tmp/out" || fail "read"
	check_lines "$tmp/out" $N c0 c1 c2:$M c3:$M || fail "SIG$sig: the lines in the pipe"
	T "$S" rm "$name"
done

# A full pipe does not hold the stop up.
name=$P-full
T "$S" create "$name" --size 64K --message || fail "create"
serve "$name" --listen tcp://:0 --framing lines
lines_gen f 100000 | T nc "$HOST" "$PORT" >/dev/null 2>&1 &
client=$!
bg+=($client)
wait_field "$name" bridge.active 1
end=$((SECONDS + 20))
while [ "$(field "$name" fill)" -lt 60000 ]; do
	[ $SECONDS -lt $end ] || fail "the pipe did not fill"
	sleep 0.1
done
kill -TERM "$SERVE_PID"
reap "$SERVE_PID" 15
[ "$REAPED" = 0 ] || fail "stop with a full pipe: exit $REAPED"
reap $client 15
T "$S" read "$name" --lines >"$tmp/out" || fail "read"
python3 - "$tmp/out" <<'EOF' || fail "the full pipe holds something else than the first lines, whole"
import sys
lines = open(sys.argv[1], "rb").read().split(b"\n")
if lines.pop() != b"":
    sys.exit("a torn last line")
for i, l in enumerate(lines):
    if l != b"f %d %s f-%d" % (i, b"x" * (i % 37), i):
        sys.exit("line %d: %r" % (i, l))
EOF
T "$S" rm "$name"

# SIGUSR1: a stats line, and serving goes on.
name=$P-usr1
T "$S" create "$name" --size 64K --message || fail "create"
serve "$name" --listen tcp://:0 --framing lines
seq 1 10 | T nc -N "$HOST" "$PORT" || fail "nc"
kill -USR1 "$SERVE_PID"
end=$((SECONDS + 10))
until grep -q 'stats: accepted 1, refused 0, active 0, units 10, bytes 11,' "$SERVE_ERR"; do
	[ $SECONDS -lt $end ] || fail "no stats line after SIGUSR1: $(cat "$SERVE_ERR")"
	sleep 0.05
done
kill -0 "$SERVE_PID" || fail "serve died on SIGUSR1"
seq 1 5 | T nc -N "$HOST" "$PORT" || fail "nc after SIGUSR1"
kill -USR1 "$SERVE_PID"
end=$((SECONDS + 10))
until grep -q 'stats: accepted 2, refused 0, active 0, units 15, bytes 16,' "$SERVE_ERR"; do
	[ $SECONDS -lt $end ] || fail "no second stats line: $(cat "$SERVE_ERR")"
	sleep 0.05
done
stop "$SERVE_PID"
[ "$(grep -c 'stats:' "$SERVE_ERR")" = 3 ] || fail "stats lines: $(cat "$SERVE_ERR")"
T "$S" rm "$name"
echo ok
