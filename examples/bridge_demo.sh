#!/bin/bash
# examples/bridge_demo.sh - remote writers into a buffered pipe through the
# bridge (run by `make demo`): a pipe, `shmpipe serve` on an ephemeral
# loopback port, four different clients (nc, socat, bash's /dev/tcp and
# `shmpipe write --connect`) sending numbered lines at once, then the pipe
# drained and every line checked: whole, once, in order per client.
set -u
S=${B:?}/shmpipe
n=bridge-demo-$$
tmp=$(mktemp -d)
serve=
trap '[ -n "$serve" ] && kill $serve 2>/dev/null; wait 2>/dev/null; $S rm --force $n; rm -rf "$tmp"' EXIT
fail() { echo "demo: FAIL: $*"; exit 1; }
lines() { awk -v t="$1" -v n="$2" 'BEGIN { for (i = 1; i <= n; i++) print t, i }'; }
N=50000

echo "== 1. a 64 MiB message pipe, and the bridge on an ephemeral loopback port"
$S create $n --size 64M --message || fail create
$S serve $n --listen tcp://:0 --framing lines >"$tmp/serve.out" 2>"$tmp/serve.err" &
serve=$!
for _ in $(seq 50); do grep -q listening "$tmp/serve.out" && break; sleep 0.1; done
addr=$(sed -n 's/^listening //p' "$tmp/serve.out")
port=${addr##*:}
[ -n "$port" ] || fail "serve did not start: $(cat "$tmp/serve.err")"
echo "   $(cat "$tmp/serve.out")"

echo "== 2. four clients at once, $N lines each"
for c in nc socat devtcp cli; do lines $c $N >"$tmp/$c.in"; done
start=$(date +%s%N)
timeout 60 nc -N 127.0.0.1 "$port" <"$tmp/nc.in" &
timeout 60 socat -u "FILE:$tmp/socat.in" "TCP:127.0.0.1:$port" &
timeout 60 bash -c "cat '$tmp/devtcp.in' >/dev/tcp/127.0.0.1/$port" &
timeout 60 $S write --connect "$addr" <"$tmp/cli.in" &
wait %2 %3 %4 %5 || fail "a client failed"
for _ in $(seq 100); do
	[ "$($S stat $n --json | sed 's/.*"messages_in":\([0-9]*\).*/\1/')" -ge $((4 * N)) ] && break
	sleep 0.1
done
ms=$((($(date +%s%N) - start) / 1000000))
$S stat $n | sed 's/^/   /'

echo "== 3. stop the bridge (SIGTERM) and drain the pipe"
kill -TERM $serve
wait $serve || fail "serve exit $?"
serve=
$S read $n --lines >"$tmp/out" || fail "read exit $?"
for c in nc socat devtcp cli; do
	grep "^$c " "$tmp/out" | cmp -s - "$tmp/$c.in" ||
		fail "client $c: lines lost, torn or out of order"
done
total=$(wc -l <"$tmp/out")
[ "$total" = $((4 * N)) ] || fail "$total lines, want $((4 * N))"
bytes=$(wc -c <"$tmp/out")
echo "   $total lines, every one whole and in order per client"
echo "   $((bytes * 1000 / (ms + 1) / 1024)) KiB/s of lines, $((total * 1000 / (ms + 1))) lines/s over the bridge"
echo "demo: PASS (bridge)"
