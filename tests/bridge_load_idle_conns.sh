#!/bin/bash
# bridge_load_idle_conns.sh - the bridge under 1000 concurrent idle
# connections (python3 holds them open) while one active client sends 100k
# numbered lines (--framing lines):
#  - all 1000 are accepted and none is closed while the test runs;
#  - every line of the active client arrives, whole and in order;
#  - the bridge stays responsive: `shmpipe write --connect` probes go
#    through (each within 10 s) while the load runs, SIGUSR1 is answered;
#  - memory stays small (sampled every 0.2 s): RssAnon grows by less
#    than 8 MiB over what serve had with no connection, and VmRSS stays
#    under 64 MiB. Why these bounds: a connection that holds no unit must
#    hold no buffer, so 1000 idle ones cost ~1000 x 200 B of bookkeeping
#    (+ the active one's unit buffer, < 1.1 MiB); one 64 KiB read buffer
#    each would be 62.5 MiB. VmRSS also counts the pages of the 16 MiB
#    pipe the bridge touched (RssShmem: the data's home, not the bridge's
#    memory) and the binary. Under SANITIZE=1, ASan's shadow, redzones and
#    quarantine take tens of MiB of their own: only the growth is checked,
#    against 40 MiB (still less than one 64 KiB buffer per connection);
#  - its fd count is 1000 + its own few (<= 16 with no connection).
# Loopback only, ephemeral port, pipe t-PID-..., everything cleaned up.
set -u
P=t-$$-idle
. "$(dirname "$0")/bridge_load_lib.bash"
ulimit -n 4096 2>/dev/null || { echo "cannot raise ulimit -n to 4096"; exit 77; }

T "$S" create "$P" --size 16M || fail "create"
start_serve --framing lines --idle-timeout 300
case $addr in tcp://127.*) ;; *) fail "not loopback: $addr" ;; esac
base_fds=$(nfds)
[ "$base_fds" -le 16 ] || fail "serve has $base_fds fds with no connection"
base_anon=$(mem RssAnon)

# RSS sampler: the largest VmRSS and RssAnon seen, every 0.2 s.
(
	maxv=0 maxa=0
	while kill -0 "$spid" 2>/dev/null; do
		v=$(mem VmRSS) a=$(mem RssAnon)
		[ -n "$v" ] && [ "$v" -gt $maxv ] && maxv=$v
		[ -n "$a" ] && [ "$a" -gt $maxa ] && maxa=$a
		echo "$maxv $maxa" >"$tmp/rss.tmp" && mv "$tmp/rss.tmp" "$tmp/rss"
		sleep 0.2
	done
) &
bg+=($!)

# 1000 idle connections, held until $tmp/release exists (80 s at most);
# then report how many the bridge closed meanwhile.
cat >"$tmp/idle.py" <<'EOF'
import os, socket, sys, time
port, n, release = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
socks = []
for i in range(n):
    s = socket.create_connection(("127.0.0.1", port), timeout=10)
    socks.append(s)
print("connected", len(socks), flush=True)
end = time.time() + 80
while not os.path.exists(release) and time.time() < end:
    time.sleep(0.1)
closed = 0
for s in socks:
    s.setblocking(False)
    try:
        if s.recv(1) == b"":
            closed += 1
    except BlockingIOError:
        pass
    except OSError:
        closed += 1
print("closed", closed, flush=True)
EOF
T python3 "$tmp/idle.py" "$port" 1000 "$tmp/release" >"$tmp/idle.out" 2>&1 &
idle_pid=$!
bg+=("$idle_pid")
for _ in $(seq 300); do
	grep -q connected "$tmp/idle.out" && break
	kill -0 $idle_pid 2>/dev/null || fail "idle client: $(cat "$tmp/idle.out")"
	sleep 0.1
done
grep -q 'connected 1000' "$tmp/idle.out" || fail "idle client: $(cat "$tmp/idle.out")"
wait_for bridge.active 1000 30
fds=$(nfds)
[ "$fds" -ge $((base_fds + 1000)) ] && [ "$fds" -le $((base_fds + 1002)) ] ||
	fail "serve has $fds fds with 1000 connections (base $base_fds)"

# The active client: 100k numbered lines, sent in small pieces as a
# real producer would, then half-close and wait for the bridge's close.
python3 -c '
import sys
sys.stdout.write("".join("active %06d %s\n" % (i, "x" * (i % 50)) for i in range(100000)))
' >"$tmp/lines"
cat >"$tmp/active.py" <<'EOF'
import socket, sys
port, path = int(sys.argv[1]), sys.argv[2]
data = open(path, "rb").read()
s = socket.create_connection(("127.0.0.1", port), timeout=30)
for i in range(0, len(data), 4000):
    s.sendall(data[i:i + 4000])
s.shutdown(socket.SHUT_WR)
s.recv(1)  # the bridge closes once it has committed everything
EOF
T python3 "$tmp/active.py" "$port" "$tmp/lines" &
active_pid=$!
bg+=("$active_pid")

# Responsive meanwhile: probes through the project's own client, and
# the SIGUSR1 report.
for i in 1 2 3 4 5; do
	t0=$SECONDS
	echo "probe $i" | timeout -k 2 10 "$S" write --connect "$addr" ||
		fail "probe $i did not go through within 10 s"
	[ $((SECONDS - t0)) -le 10 ] || fail "probe $i took $((SECONDS - t0)) s"
done
kill -USR1 "$spid"
for _ in $(seq 50); do
	grep -q 'stats:' "$tmp/serve.err" && break
	sleep 0.1
done
grep -q 'stats: accepted' "$tmp/serve.err" || fail "no answer to SIGUSR1"

wait "$active_pid" || fail "the active client failed"
want=$(($(stat -c %s "$tmp/lines") + 5 * 8))
wait_for bridge.bytes "$want" 30

# Every line there, in order (the probes' lines are among them, whole).
T "$S" read "$P" --lines --count 100005 --timeout 30 >"$tmp/out" || fail "read"
[ "$(grep -c '^probe [1-5]$' "$tmp/out")" = 5 ] || fail "probe lines: $(grep probe "$tmp/out")"
grep -v '^probe ' "$tmp/out" | cmp -s - "$tmp/lines" ||
	fail "the active client's lines differ ($(grep -vc '^probe ' "$tmp/out") lines)"
[ "$(field bytes_buffered)" = 0 ] || fail "left in the pipe: $(field bytes_buffered)"

# The idle ones were all still open (none closed by the bridge).
touch "$tmp/release"
wait "$idle_pid" || fail "idle client: $(cat "$tmp/idle.out")"
grep -q '^closed 0$' "$tmp/idle.out" || fail "idle connections closed: $(cat "$tmp/idle.out")"
[ "$(field bridge.partial_discarded)" = 0 ] || fail "partial units discarded"

read -r maxv maxa <"$tmp/rss"
echo "serve: max VmRSS $maxv kB, max RssAnon $maxa kB (base $base_anon kB), $fds fds (base $base_fds)"
[ "$maxv" -gt 0 ] || fail "no memory sample"
growth_max=$((8 * 1024))
[ "${SANITIZE:-0}" = 1 ] && growth_max=$((40 * 1024))
[ $((maxa - base_anon)) -lt $growth_max ] ||
	fail "RssAnon grew from $base_anon to $maxa kB"
[ "${SANITIZE:-0}" = 1 ] || [ "$maxv" -lt $((64 * 1024)) ] || fail "VmRSS reached $maxv kB"
kill -TERM "$spid"
T tail --pid="$spid" -f /dev/null
wait "$spid" || fail "serve exit status $?"
exit 0
