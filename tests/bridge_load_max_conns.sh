#!/bin/bash
# bridge_load_max_conns.sh - the connection cap: with --max-conns 10, ten
# python3 clients connect and stay; 50 more are each refused: closed at
# once by the bridge (the client reads end of file, or a reset, within
# 5 s) with nothing committed, and `stat --json`'s bridge.refused grows by
# exactly 50 while bridge.active stays 10. The ten keep working: each then
# sends 1000 numbered lines, all of which arrive whole. Once they are gone
# the slots are free again: a new client is accepted and served.
# Loopback only, ephemeral port, pipe t-PID-..., everything cleaned up.
set -u
P=t-$$-cap
. "$(dirname "$0")/bridge_load_lib.bash"

T "$S" create "$P" --size 4M || fail "create"
start_serve --framing lines --max-conns 10

# One python3 process plays all the clients, step by step, driven by
# files: it connects the ten and reports; on "go-extra" it makes the 50
# extra connections and reports how each ended; on "go-send" the ten each
# send their lines and close.
cat >"$tmp/clients.py" <<'EOF'
import os, socket, sys, time
port, d = int(sys.argv[1]), sys.argv[2]
def wait_file(name):
    end = time.time() + 60
    while not os.path.exists(os.path.join(d, name)):
        if time.time() > end:
            sys.exit("timed out waiting for " + name)
        time.sleep(0.05)
ten = [socket.create_connection(("127.0.0.1", port), timeout=10) for _ in range(10)]
print("ten connected", flush=True)
wait_file("go-extra")
refused = 0
for i in range(50):
    s = socket.create_connection(("127.0.0.1", port), timeout=10)
    s.settimeout(5)
    try:
        s.sendall(b"extra %d\n" % i)   # never committed
        if s.recv(1) == b"":
            refused += 1
    except (ConnectionResetError, BrokenPipeError):
        refused += 1
    except socket.timeout:
        pass  # still open after 5 s: not refused
    s.close()
print("refused", refused, flush=True)
wait_file("go-send")
for k, s in enumerate(ten):
    s.sendall(b"".join(b"conn %d line %04d\n" % (k, i) for i in range(1000)))
for s in ten:
    s.shutdown(socket.SHUT_WR)
for s in ten:
    s.settimeout(30)
    if s.recv(1) != b"":
        sys.exit("the bridge sent something")
print("sent", flush=True)
EOF
T python3 "$tmp/clients.py" "$port" "$tmp" >"$tmp/clients.out" 2>&1 &
cpid=$!
bg+=("$cpid")
for _ in $(seq 100); do
	grep -q 'ten connected' "$tmp/clients.out" && break
	sleep 0.1
done
grep -q 'ten connected' "$tmp/clients.out" || fail "clients: $(cat "$tmp/clients.out")"
wait_for bridge.active 10 20
[ "$(field bridge.refused)" = 0 ] || fail "refused before the cap"

touch "$tmp/go-extra"
for _ in $(seq 400); do
	grep -q '^refused' "$tmp/clients.out" && break
	kill -0 "$cpid" 2>/dev/null || break
	sleep 0.1
done
grep -q '^refused 50$' "$tmp/clients.out" || fail "extra connections: $(cat "$tmp/clients.out")"
wait_for bridge.refused 50 10
[ "$(field bridge.active)" = 10 ] || fail "active $(field bridge.active), want 10"
[ "$(field bridge.accepted)" = 10 ] || fail "accepted $(field bridge.accepted), want 10"
[ "$(field bytes_in)" = 0 ] || fail "something was committed: $(field bytes_in) bytes"
grep -q 'limit' "$tmp/serve.err" || fail "the refusal was not logged"

touch "$tmp/go-send"
wait "$cpid" || fail "clients: $(cat "$tmp/clients.out")"
wait_for bridge.active 0 20
T "$S" read "$P" --lines --count 10000 --timeout 30 >"$tmp/out" || fail "read"
for k in $(seq 0 9); do
	grep "^conn $k " "$tmp/out" |
		cmp -s - <(printf "conn $k line %04d\n" $(seq 0 999)) ||
		fail "connection $k's lines differ (or are out of order)"
done
[ "$(wc -l <"$tmp/out")" = 10000 ] || fail "$(wc -l <"$tmp/out") lines, want 10000"
grep -q extra "$tmp/out" && fail "a refused connection's bytes were committed"

# The slots are free again.
echo again | timeout -k 2 10 "$S" write --connect "$addr" || fail "no slot after the ten left"
wait_for bridge.accepted 11 10
T "$S" read "$P" --lines --count 1 --timeout 10 | grep -qx again || fail "the new client's line"
kill -TERM "$spid"
wait "$spid" || fail "serve exit status"
exit 0
