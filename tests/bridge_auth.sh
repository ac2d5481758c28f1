#!/bin/bash
# bridge_auth.sh - tokens and the non-loopback rule.
# Tokens (serve --token-file, lines into a message pipe, over TCP and a
# Unix socket): a wrong token, no token (the client sends its data at
# once), a line that only starts with the token, the token without its
# last byte, a long first line with no newline held open, `write
# --connect` without --token-file or with the wrong file: each connection
# is closed (reset) with nothing committed, bridge.token_failures counts
# each and stderr says "token check failed"; `write --connect` exits 1.
# The right token works from nc, socat (ending in CRLF), bash's /dev/tcp,
# `write --connect --token-file` (exit 0) and over the Unix socket: the
# pipe holds exactly their lines. A missing or empty token file: exit 1.
# Non-loopback: --listen tcp://0.0.0.0:0 or tcp://[::]:0 without a token is
# refused with exit 2 and a message naming the address, --token-file and
# --insecure; so is a host name; with --insecure, or with a token, it
# starts (and is then spoken to over 127.0.0.1 only).
. "$(dirname "$0")/bridge_lib.bash"

token=$(od -An -tx1 -N16 /dev/urandom | tr -d ' \n')
echo "$token" >"$tmp/token"
echo "not-$token" >"$tmp/wrong"
name=$P-auth
T "$S" create "$name" --size 64K --message || fail "create"

# refused INPUT CLIENT...: a client sending INPUT (printf escapes) with a
# wrong token: token_failures grows by one, nothing goes in.
failures=0
refused() {
	local input=$1
	shift
	printf "$input" | "$@" >/dev/null 2>&1
	failures=$((failures + 1))
	wait_field "$name" bridge.token_failures $failures
	[ "$(field "$name" messages_in)" = "$committed" ] || fail "a refused client ($*) committed something"
}
committed=0
# took N: N more messages went in.
took() {
	committed=$((committed + $1))
	wait_field "$name" messages_in $committed
}

serve "$name" --listen tcp://:0 --listen "unix:$tmp/sock" --framing lines --token-file "$tmp/token"
[ "${ADDRS[1]}" = "unix:$tmp/sock" ] || fail "second listener: ${ADDRS[1]}"
refused 'nope\nsecret-1\n' T nc -N "$HOST" "$PORT"
refused 'secret-2\nsecret-3\n' T nc -N "$HOST" "$PORT"
refused "$(printf '%sx\nsecret-4\n' "$token")" T nc -N "$HOST" "$PORT"
refused "$(printf '%s\nsecret-5\n' "${token%?}")" T nc -N "$HOST" "$PORT"
refused 'secret-6\n' T "$S" write --connect "$ADDR"
refused 'secret-7\n' T "$S" write --connect "$ADDR" --token-file "$tmp/wrong"
refused 'secret-8\n' T socat -u - "UNIX-CONNECT:$tmp/sock"
# A long first line without a newline, the client waiting: the bridge
# does not wait for the rest of it.
out=$(T python3 -c '
import socket, sys
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
s.sendall(b"s" * 10000)
s.settimeout(10)
try:
    print("eof" if s.recv(1) == b"" else "data")
except ConnectionResetError:
    print("reset")
except socket.timeout:
    print("still open after 10 s")' "$PORT")
failures=$((failures + 1))
[ "$out" = reset ] || fail "a long line instead of the token: $out"
wait_field "$name" bridge.token_failures $failures
# write --connect refused: exit 1 and a message
printf 'secret-9\n' | T "$S" write --connect "$ADDR" --token-file "$tmp/wrong" 2>"$tmp/err"
[ $? = 1 ] || fail "write --connect with a wrong token: exit 0"
grep -q 'reset the connection' "$tmp/err" || fail "write --connect with a wrong token said: $(cat "$tmp/err")"
failures=$((failures + 1))
wait_field "$name" bridge.token_failures $failures
[ "$(grep -c 'token check failed' "$SERVE_ERR")" = $failures ] || fail "stderr: $(cat "$SERVE_ERR")"

# The right token, from every kind of client.
{ cat "$tmp/token"; printf 'a\nb\n'; } | T nc -N "$HOST" "$PORT" || fail "nc with the token"
took 2
printf '%s\r\nc\n' "$token" | T socat -u - "TCP:$HOST:$PORT" || fail "socat, token with CRLF"
took 1
exec 5<>"/dev/tcp/$HOST/$PORT" || fail "/dev/tcp"
printf '%s\nd\n' "$token" >&5
exec 5>&-
took 1
printf 'e\nf\n' | T "$S" write --connect "$ADDR" --token-file "$tmp/token" || fail "write --connect --token-file"
took 2
printf 'g\n' | T "$S" write --connect "unix:$tmp/sock" --token-file "$tmp/token" || fail "write --connect unix: --token-file"
took 1
{ cat "$tmp/token"; printf 'h\n'; } | T socat -u - "UNIX-CONNECT:$tmp/sock" || fail "socat unix with the token"
took 1
[ "$(field "$name" bridge.token_failures)" = $failures ] || fail "a right token failed"
stop "$SERVE_PID"
[ "$(T "$S" read "$name" --lines | tr '\n' ,)" = "a,b,c,d,e,f,g,h," ] || fail "the pipe holds something else than a..h"
[ -e "$tmp/sock" ] && fail "the Unix socket file stays after serve"

# Token files that cannot serve.
: >"$tmp/empty"
T "$S" serve "$name" --listen tcp://:0 --token-file "$tmp/empty" >"$tmp/out" 2>"$tmp/err"
[ $? = 1 ] && grep -q 'first line is empty' "$tmp/err" || fail "empty token file: $(cat "$tmp/err")"
T "$S" serve "$name" --listen tcp://:0 --token-file "$tmp/none" >"$tmp/out" 2>"$tmp/err"
[ $? = 1 ] && grep -q "$tmp/none" "$tmp/err" || fail "missing token file: $(cat "$tmp/err")"
[ -s "$tmp/out" ] && fail "serve listened with a bad token file"

# ----------------------------------------------------------- non-loopback
for addr in tcp://0.0.0.0:0 'tcp://[::]:0' 'tcp://:0 --listen tcp://0.0.0.0:0'; do
	T "$S" serve "$name" --listen $addr >"$tmp/out" 2>"$tmp/err"
	rc=$?
	[ $rc = 2 ] || fail "--listen $addr without a token: exit $rc, want 2"
	grep "non-loopback" "$tmp/err" | grep "token" | grep -Fq "'${addr##* }'" &&
		grep -q "needs --token-file F (or --insecure)" "$tmp/err" ||
		fail "--listen $addr without a token said: $(cat "$tmp/err")"
	[ -s "$tmp/out" ] && fail "--listen $addr without a token: $(cat "$tmp/out")"
done
T "$S" serve "$name" --listen tcp://example.com:0 >"$tmp/out" 2>"$tmp/err"
[ $? = 2 ] && grep -q "bad address 'tcp://example.com:0'" "$tmp/err" || fail "a host name: $(cat "$tmp/err")"
[ "$(field "$name" bridge_pid)" = 0 ] || fail "a refused serve left its pid"

serve "$name" --listen tcp://0.0.0.0:0 --insecure --framing lines
[[ $ADDR =~ ^tcp://0\.0\.0\.0:[0-9]+$ ]] || fail "--insecure: listening $ADDR"
printf 'i\n' | T nc -N 127.0.0.1 "$PORT" || fail "nc to --insecure"
took 1
stop "$SERVE_PID"
serve "$name" --listen tcp://0.0.0.0:0 --token-file "$tmp/token" --framing lines
{ cat "$tmp/token"; printf 'j\n'; } | T nc -N 127.0.0.1 "$PORT" || fail "nc to 0.0.0.0 with a token"
took 1
printf 'k\n' | T nc -N 127.0.0.1 "$PORT"
wait_field "$name" bridge.token_failures 1
stop "$SERVE_PID"
[ "$(T "$S" read "$name" --lines | tr '\n' ,)" = "i,j," ] || fail "non-loopback: the pipe holds something else than i, j"
T "$S" rm "$name"
echo ok
