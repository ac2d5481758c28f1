#!/bin/bash
# bridge_netns.sh - a truly remote writer: two network namespaces made by
# the test, joined by a veth pair (10.199.0.1/30 in one, 10.199.0.2/30 in
# the other: addresses that exist only inside them). serve runs in the
# first, listening on its veth address: without a token that is refused
# (exit 2); with --token-file it starts. From the second namespace, where
# the server's loopback does not exist, `shmpipe write --connect
# --token-file` and nc (token first) write 20000 lines each, all arriving
# whole and in order; a wrong token from there commits nothing. The
# namespaces are deleted on exit. Skipped (77) only when namespaces cannot
# be made here.
. "$(dirname "$0")/bridge_lib.bash"

command -v ip >/dev/null || { echo "ip (iproute2) is missing"; exit 77; }
A=t-$$-a B=t-$$-b
ip netns add "$A" 2>"$tmp/err" || { echo "cannot create network namespaces: $(cat "$tmp/err")"; exit 77; }
on_exit+=('ip netns del "$A" 2>/dev/null')
ip netns add "$B" || fail "ip netns add $B"
on_exit+=('ip netns del "$B" 2>/dev/null')
ip -n "$A" link add va type veth peer name vb netns "$B" || fail "veth pair"
ip -n "$A" addr add 10.199.0.1/30 dev va || fail "address in $A"
ip -n "$B" addr add 10.199.0.2/30 dev vb || fail "address in $B"
for ns in "$A" "$B"; do
	ip -n "$ns" link set lo up || fail "lo up in $ns"
done
ip -n "$A" link set va up && ip -n "$B" link set vb up || fail "veth up"
inA=(ip netns exec "$A")
inB=(ip netns exec "$B")
# The link works: a connection to a closed port there is refused (the
# first packets may wait for the veth to come up).
end=$((SECONDS + 10))
until [ "$("${inB[@]}" python3 -c 'import socket
s = socket.socket()
s.settimeout(1)
print(s.connect_ex(("10.199.0.1", 9)))')" = 111 ]; do
	[ $SECONDS -lt $end ] || fail "10.199.0.1 cannot be reached from $B"
	sleep 0.2
done

N=20000
name=$P-netns
token=$(od -An -tx1 -N16 /dev/urandom | tr -d ' \n')
echo "$token" >"$tmp/token"
echo "wrong-$token" >"$tmp/wrong"
T "$S" create "$name" --size 8M --message || fail "create"

T "${inA[@]}" "$S" serve "$name" --listen tcp://10.199.0.1:0 >"$tmp/out" 2>"$tmp/err"
rc=$?
[ $rc = 2 ] || fail "a veth address without a token: exit $rc, want 2: $(cat "$tmp/err")"
grep -q 'non-loopback' "$tmp/err" || fail "a veth address without a token said: $(cat "$tmp/err")"

serve_prefix=("${inA[@]}")
serve "$name" --listen tcp://10.199.0.1:0 --framing lines --token-file "$tmp/token"
serve_prefix=()
[ "$HOST" = 10.199.0.1 ] || fail "listening $ADDR"
lines_gen a $N | T "${inB[@]}" "$S" write --connect "$ADDR" --token-file "$tmp/token" &
c1=$!
{ cat "$tmp/token"; lines_gen b $N; } | T "${inB[@]}" nc -N "$HOST" "$PORT" >/dev/null &
c2=$!
bg+=($c1 $c2)
for c in $c1 $c2; do
	reap $c 60
	[ "$REAPED" = 0 ] || fail "a client in $B: exit $REAPED"
done
printf 'intruder\n' | T "${inB[@]}" "$S" write --connect "$ADDR" --token-file "$tmp/wrong" 2>/dev/null &&
	fail "a wrong token from $B: exit 0"
wait_field "$name" bridge.token_failures 1
[ "$(field "$name" messages_in bridge.accepted)" = "$((2 * N)) 3" ] ||
	fail "messages_in, accepted: $(field "$name" messages_in bridge.accepted)"
stop "$SERVE_PID"
T "$S" read "$name" --lines >"$tmp/lines" || fail "read"
check_lines "$tmp/lines" $N a b || fail "lines from $B"
T "$S" rm "$name"
echo ok
