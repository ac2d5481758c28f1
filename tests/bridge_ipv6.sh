#!/bin/bash
# bridge_ipv6.sh - IPv6 loopback: `serve --listen 'tcp://[::1]:0'` says
# "listening tcp://[::1]:PORT"; nc -6, socat TCP6, python3 AF_INET6 and
# `write --connect 'tcp://[::1]:PORT'` (with a token) all write into the
# pipe at once, every line arriving whole and in order; `serve --out` on
# [::1] is read by `read --connect`. Skipped (77) only when ::1 is not
# configured.
. "$(dirname "$0")/bridge_lib.bash"

python3 -c 'import socket; socket.socket(socket.AF_INET6).bind(("::1", 0))' 2>/dev/null ||
	{ echo "::1 is not configured here"; exit 77; }

N=20000
name=$P-v6
token=$(od -An -tx1 -N16 /dev/urandom | tr -d ' \n')
echo "$token" >"$tmp/token"
T "$S" create "$name" --size 256K --message || fail "create"
serve "$name" --listen 'tcp://[::1]:0' --framing lines --token-file "$tmp/token"
[[ $ADDR =~ ^tcp://\[::1\]:[0-9]+$ ]] || fail "listening $ADDR"
[ "$HOST" = ::1 ] || fail "host $HOST"
{ cat "$tmp/token"; lines_gen a $N; } | T nc -6 -N ::1 "$PORT" >/dev/null &
c1=$!
{ cat "$tmp/token"; lines_gen b $N; } | T socat -u - "TCP6:[::1]:$PORT" &
c2=$!
lines_gen c $N | sendpy "$ADDR" "$token" &
c3=$!
lines_gen d $N | T "$S" write --connect "$ADDR" --token-file "$tmp/token" &
c4=$!
bg+=($c1 $c2 $c3 $c4)
T "$S" read "$name" --lines --count $((4 * N)) >"$tmp/out" &
reader=$!
bg+=($reader)
for c in $c1 $c2 $c3 $c4; do
	reap $c 60
	[ "$REAPED" = 0 ] || fail "a client over ::1 exit $REAPED"
done
reap $reader 30
[ "$REAPED" = 0 ] || fail "read exit $REAPED"
check_lines "$tmp/out" $N a b c d || fail "lines over ::1"
[ "$(field "$name" bridge.accepted bridge.token_failures)" = "4 0" ] || fail "counters: $(field "$name" bridge.accepted bridge.token_failures)"
stop "$SERVE_PID"

# --out over ::1
seq 1 1000 | T "$S" write "$name" --lines || fail "write"
serve "$name" --listen 'tcp://[::1]:0' --framing lines --out
T "$S" read --connect "$ADDR" --timeout 2 >"$tmp/got" || fail "read --connect over ::1"
seq 1 1000 | cmp -s - "$tmp/got" || fail "read --connect over ::1: $(wc -l <"$tmp/got") lines"
stop "$SERVE_PID"
T "$S" rm "$name"
echo ok
