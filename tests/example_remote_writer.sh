#!/bin/bash
# tests/example_remote_writer.sh - examples/remote_writer.c does what it
# says, against `shmpipe serve` on an ephemeral loopback port:
#  - 32 MiB of random bytes into a 1 MiB stream pipe (raw framing) while
#    `shmpipe read` drains it: exit 0 only once the bridge has read it all;
#    what comes out has the same sha256;
#  - tokens: with a wrong --token-file, exit 1, a message naming host:port
#    and the reset, nothing committed, one token failure counted; with the
#    right one and --lines, input whose last line has no newline arrives
#    whole (the bridge frames lines, into a message pipe); a missing token
#    file: exit 1 naming it, before any connection;
#  - a port where nobody listens: exit 1, "cannot connect to
#    127.0.0.1:PORT" (and "[::1]:PORT" when ::1 is configured); an unknown
#    host: exit 1 naming it; usage errors: exit 2;
#  - it does not include shmpipe.h: it builds on its own with cc alone.
. "$(dirname "$0")/bridge_lib.bash"

BUILD=${BUILD:-$(dirname "$0")/../build}
RW=$BUILD/examples/remote_writer
[ -x "$RW" ] || fail "$RW is not built"
src=$(dirname "$0")/../examples/remote_writer.c
grep -Eq '^#include [<"]shmpipe' "$src" && fail "remote_writer.c includes shmpipe.h"
# It is one file that builds on its own, without shmpipe's headers.
if command -v cc >/dev/null; then
	cc -std=c11 -Wall -Wextra -Werror -o "$tmp/rw" "$src" ||
		fail "remote_writer.c does not build on its own"
fi

# ------------------------------------------------------ 32 MiB, raw
name=$P-rw
T "$S" create "$name" --size 1M || fail "create"
serve "$name" --listen tcp://:0
head -c 32M /dev/urandom >"$tmp/data"
T "$S" read "$name" >"$tmp/copy" &
reader=$!
bg+=($reader)
T "$RW" "$HOST" "$PORT" <"$tmp/data" 2>"$tmp/rw.err" ||
	fail "remote_writer exit $?: $(cat "$tmp/rw.err")"
# exit 0 means the bridge has read (and committed) everything
[ "$(field "$name" bytes_in)" = $((32 << 20)) ] ||
	fail "after remote_writer's exit 0 the pipe took $(field "$name" bytes_in) bytes"
stop "$SERVE_PID" # the bridge detaches: the reader gets end of file
reap $reader 60
[ "$REAPED" = 0 ] || fail "shmpipe read exit $REAPED"
[ "$(sha256sum <"$tmp/copy")" = "$(sha256sum <"$tmp/data")" ] ||
	fail "32 MiB: sha256 differs ($(wc -c <"$tmp/copy") bytes came out)"
closed_port=$PORT # nobody listens there any more
T "$S" rm "$name"

# ---------------------------------------------------------- tokens
name=$P-rw-token
token=$(od -An -tx1 -N16 /dev/urandom | tr -d ' \n')
echo "$token" >"$tmp/token"
echo "not-$token" >"$tmp/wrong"
T "$S" create "$name" --size 64K --message || fail "create"
serve "$name" --listen tcp://:0 --framing lines --token-file "$tmp/token"
printf 'secret 1\nsecret 2\n' | T "$RW" "$HOST" "$PORT" --token-file "$tmp/wrong" 2>"$tmp/rw.err"
rc=$?
[ $rc = 1 ] || fail "a wrong token: exit $rc, want 1"
grep -q "$HOST:$PORT reset the connection" "$tmp/rw.err" ||
	fail "a wrong token: $(cat "$tmp/rw.err")"
wait_field "$name" bridge.token_failures 1
[ "$(field "$name" messages_in bytes_in)" = "0 0" ] || fail "a wrong token committed something"

printf 'one\ntwo\nthree' | T "$RW" "$HOST" "$PORT" --token-file "$tmp/token" --lines 2>"$tmp/rw.err" ||
	fail "the right token: exit $?: $(cat "$tmp/rw.err")"
[ "$(field "$name" messages_in)" = 3 ] || fail "the right token: $(field "$name" messages_in) messages, want 3"
T "$RW" "$HOST" "$PORT" --token-file "$tmp/none" </dev/null 2>"$tmp/rw.err"
rc=$?
[ $rc = 1 ] && grep -q "token file '$tmp/none'" "$tmp/rw.err" ||
	fail "a missing token file: exit $rc: $(cat "$tmp/rw.err")"
[ "$(field "$name" bridge.accepted)" = 2 ] || fail "a missing token file still connected"
stop "$SERVE_PID"
[ "$(T "$S" read "$name" --lines | tr '\n' ,)" = "one,two,three," ] ||
	fail "the pipe holds something else than one, two, three"
T "$S" rm "$name"

# ---------------------------------------------------------- failures
T "$RW" 127.0.0.1 "$closed_port" </dev/null 2>"$tmp/rw.err"
rc=$?
[ $rc = 1 ] || fail "a closed port: exit $rc, want 1"
grep -q "cannot connect to 127.0.0.1:$closed_port: Connection refused" "$tmp/rw.err" ||
	fail "a closed port: $(cat "$tmp/rw.err")"
if python3 -c 'import socket; socket.socket(socket.AF_INET6).bind(("::1", 0))' 2>/dev/null; then
	T "$RW" ::1 "$closed_port" </dev/null 2>"$tmp/rw.err"
	rc=$?
	[ $rc = 1 ] && grep -q "cannot connect to \[::1\]:$closed_port" "$tmp/rw.err" ||
		fail "a closed IPv6 port: exit $rc: $(cat "$tmp/rw.err")"
fi
T "$RW" no-such-host.invalid 9 </dev/null 2>"$tmp/rw.err"
rc=$?
[ $rc = 1 ] && grep -q "no-such-host.invalid:9" "$tmp/rw.err" ||
	fail "an unknown host: exit $rc: $(cat "$tmp/rw.err")"
for args in "" "127.0.0.1" "127.0.0.1 1 extra" "--bogus 127.0.0.1 1"; do
	# shellcheck disable=SC2086
	T "$RW" $args </dev/null >/dev/null 2>&1
	rc=$?
	[ $rc = 2 ] || fail "usage '$args': exit $rc, want 2"
done
echo ok
