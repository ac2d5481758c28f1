#!/bin/bash
# bridge_fifo.sh - the FIFO front (`serve --fifo PATH`).
# In: PATH is a FIFO (made by serve) fed from the pipe; `cat PATH` gets
# the lines two nc clients send (2 x 20000, whole, each client's in
# order) into a message pipe, and, from a stream pipe with raw framing,
# 8 MiB of random bytes by socat with the same sha256. cat sees end of
# file when serve stops; the FIFO is removed on exit; an existing PATH is
# refused (exit 1) and left alone.
# Stopping while a slow reader holds the FIFO loses nothing: what the
# FIFO did not take stays in the pipe, and the FIFO's reader plus what
# is left in the pipe are exactly the bytes sent.
# Out (--out --fifo PATH): lines written into PATH by unmodified programs
# (printf, seq) go into the pipe, and from there to a `read --connect`
# client; the FIFO is removed on exit.
. "$(dirname "$0")/bridge_lib.bash"

N=20000
name=$P-fifo
T "$S" create "$name" --size 256K --message || fail "create"
serve "$name" --listen tcp://:0 --framing lines --fifo "$tmp/fifo"
[ -p "$tmp/fifo" ] || fail "serve --fifo made no FIFO"
T cat "$tmp/fifo" >"$tmp/out" &
reader=$!
bg+=($reader)
lines_gen a $N | T nc -N "$HOST" "$PORT" >/dev/null &
c1=$!
lines_gen b $N | T nc -N "$HOST" "$PORT" >/dev/null &
c2=$!
bg+=($c1 $c2)
for c in $c1 $c2; do
	reap $c 60
	[ "$REAPED" = 0 ] || fail "nc exit $REAPED"
done
end=$((SECONDS + 30))
while [ "$(wc -l <"$tmp/out")" -lt $((2 * N)) ]; do
	[ $SECONDS -lt $end ] || fail "cat got $(wc -l <"$tmp/out") lines, want $((2 * N))"
	sleep 0.1
done
stop "$SERVE_PID"
reap $reader
[ "$REAPED" = 0 ] || fail "cat exit $REAPED"
check_lines "$tmp/out" $N a b || fail "lines through the FIFO"
[ -e "$tmp/fifo" ] && fail "the FIFO stays after serve"
[ "$(field "$name" bytes_buffered)" = 0 ] || fail "data left in the pipe"

# An existing path: refused, untouched.
echo keep >"$tmp/file"
T "$S" serve "$name" --listen tcp://:0 --fifo "$tmp/file" >"$tmp/o" 2>"$tmp/err"
rc=$?
[ $rc = 1 ] || fail "--fifo on an existing file: exit $rc, want 1: $(cat "$tmp/err")"
grep -Fq "$tmp/file" "$tmp/err" || fail "--fifo on an existing file said: $(cat "$tmp/err")"
[ "$(cat "$tmp/file")" = keep ] || fail "--fifo replaced an existing file"
T "$S" rm "$name"

# Raw bytes from a stream pipe.
name=$P-fifo-raw
T "$S" create "$name" --size 1M || fail "create"
head -c 8M /dev/urandom >"$tmp/big"
serve "$name" --listen tcp://:0 --fifo "$tmp/fifo"
T cat "$tmp/fifo" | sha256sum >"$tmp/sum" &
reader=$!
bg+=($reader)
T socat -u "OPEN:$tmp/big" "TCP:$HOST:$PORT" || fail "socat"
wait_field "$name" bytes_out $((8 << 20)) 30
stop "$SERVE_PID"
reap $reader
[ "$(cat "$tmp/sum")" = "$(sha256sum <"$tmp/big")" ] || fail "8 MiB through the FIFO: sha256 differs"
[ -e "$tmp/fifo" ] && fail "the FIFO stays after serve"
T "$S" rm "$name"

# A slow reader, then a stop: nothing taken from the pipe is lost.
name=$P-fifo-stop
T "$S" create "$name" --size 1M || fail "create"
head -c 300000 /dev/urandom >"$tmp/part"
serve "$name" --listen tcp://:0 --fifo "$tmp/fifo"
(sleep 2; T cat) <"$tmp/fifo" >"$tmp/first" &
reader=$!
bg+=($reader)
T "$S" write "$name" <"$tmp/part" || fail "write"
sleep 0.5
stop "$SERVE_PID"
reap $reader
T "$S" read --timeout 1 "$name" >"$tmp/rest"
got=$(wc -c <"$tmp/first") left=$(wc -c <"$tmp/rest")
[ $((got + left)) = 300000 ] || fail "stop with a slow FIFO reader: $got bytes through the FIFO + $left left in the pipe, want 300000"
[ "$(cat "$tmp/first" "$tmp/rest" | sha256sum)" = "$(sha256sum <"$tmp/part")" ] ||
	fail "stop with a slow FIFO reader: the bytes differ"
T "$S" rm "$name"

# --out: the FIFO feeds the pipe.
name=$P-fifo-out
T "$S" create "$name" --size 256K --message || fail "create"
serve "$name" --listen tcp://:0 --out --framing lines --fifo "$tmp/fifo"
[ -p "$tmp/fifo" ] || fail "serve --out --fifo made no FIFO"
printf 'one\ntwo\n' >"$tmp/fifo" || fail "printf into the FIFO"
seq 1 1000 >"$tmp/fifo" || fail "seq into the FIFO"
wait_field "$name" messages_in 1002
T "$S" read --connect "$ADDR" --timeout 1 >"$tmp/got" || fail "read --connect"
[ "$(cat "$tmp/got")" = "$(printf 'one\ntwo\n'; seq 1 1000)" ] || fail "--out --fifo: read $(wc -l <"$tmp/got") lines, not what went into the FIFO"
stop "$SERVE_PID"
[ -e "$tmp/fifo" ] && fail "the FIFO stays after serve --out"
T "$S" rm "$name"
echo ok
