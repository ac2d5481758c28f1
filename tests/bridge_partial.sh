#!/bin/bash
# bridge_partial.sh - units cut off and units too large, for lines and
# len32, into a message pipe and a stream pipe (64 KiB).
# Cut off: a client that sends whole units and then part of one (a line
# without its newline; a frame cut in its body; a frame cut in its length)
# and disconnects: the whole units are committed, nothing of the part is,
# bridge.partial_discarded counts it, the bridge closes with a reset (so
# the client can tell), and the next client is served. `write --connect`
# whose input ends inside a unit exits 1.
# Too large: --max-unit 1000 bounds what goes into the pipe per unit: a
# line of 1000 bytes (message pipe, which does not keep the newline) or
# 999 and its newline (stream pipe), a frame of 1000 (message) or 996
# bytes (stream, which keeps the 4-byte length) goes in; one byte more, a
# long line without newline, or a length of 4 GiB - 1 closes the
# connection at once with a reset (before the client has sent the rest),
# is logged on stderr ("refused a unit larger than 1000 bytes"), counted
# in bridge.oversize (not as a partial unit), and nothing of it nor after
# it is committed. Without --max-unit the limit is what the pipe holds
# (65528 bytes in a 64 KiB message pipe, 65536 in a stream pipe). `write
# --connect` of a unit too large exits 1.
. "$(dirname "$0")/bridge_lib.bash"

# send ADDR PYTHON-BYTES-EXPR [hold]: connect, send the bytes, then (with
# hold) wait for the bridge to close the connection before sending more,
# else half-close; either way wait (10 s at most) for the bridge's close.
# Prints how it ended: "eof" or "reset".
send() {
	T python3 -c '
import re, socket, sys, struct
host, port = re.fullmatch(r"tcp://(.*):(\d+)", sys.argv[1]).groups()
s = socket.create_connection((host, int(port)))
s.settimeout(10)
try:
    s.sendall(eval(sys.argv[2]))
    if len(sys.argv) < 4:
        s.shutdown(socket.SHUT_WR)
    while s.recv(4096):
        pass
    print("eof")
except (ConnectionResetError, BrokenPipeError):
    print("reset")
except OSError as e:  # the reset came before the half-close
    import errno
    print("reset" if e.errno == errno.ENOTCONN else e)
' "$@"
}
# in_is NAME WHAT MESSAGES BYTES-MESSAGE BYTES-STREAM: what went into the
# pipe since the last in_is: MESSAGES messages of BYTES-MESSAGE bytes in
# all (message pipe), or BYTES-STREAM bytes (stream pipe). Each client
# has seen the bridge close when this runs: its units are in the pipe.
last_in=
in_is() {
	local now got want
	now=$(field "$1" messages_in bytes_in)
	set -- "$@" $now ${last_in:-0 0}
	last_in=$now
	if [ "$m" = 1 ]; then
		got="$(($6 - $8)) messages $(($7 - $9)) bytes" want="$3 messages $4 bytes"
	else
		got="$(($7 - $9)) bytes" want="$5 bytes"
	fi
	[ "$got" = "$want" ] || fail "$k: $2: in the pipe $got, want $want"
}
# counter NAME KEY WANT: bridge.KEY is (or becomes, within 20 s) WANT.
counter() { wait_field "$1" "bridge.$2" "$3"; }
# expect WHAT GOT WANT
expect() { [ "$2" = "$3" ] || fail "$k: $1: got '$2', want '$3'"; }
# wc_exit WHAT WANT-STATUS COMMAND...: `shmpipe write --connect` and such.
wc_exit() {
	local what=$1 want=$2 rc
	shift 2
	T "$@" 2>"$tmp/err"
	rc=$?
	[ $rc = "$want" ] || fail "$k: $what: exit $rc, want $want: $(cat "$tmp/err")"
}

for kind in --message ""; do
	k=${kind:-stream}
	m=$([ -n "$kind" ] && echo 1 || echo 0) # 1: message pipe

	# ------------------------------------------------------- lines
	name=$P-lines$m
	T "$S" create "$name" --size 64K $kind || fail "create"
	serve "$name" --listen tcp://:0 --framing lines --max-unit 1000
	last_in=
	in_is "$name" start 0 0 0
	# cut off: whole lines, then a line without its newline
	expect "cut line" "$(send "$ADDR" 'b"ok1\nok22\npartial line"')" reset
	counter "$name" partial_discarded 1
	in_is "$name" "cut line" 2 7 9
	# the next client is fine
	printf 'next\n' | T nc -N "$HOST" "$PORT" || fail "$k: nc after a cut line"
	in_is "$name" "after a cut line" 1 4 5
	wc_exit "write --connect, cut line" 1 "$S" write --connect "$ADDR" < <(printf 'w1\nw2')
	counter "$name" partial_discarded 2
	in_is "$name" "write --connect, cut line" 1 2 3
	# the largest line (what the pipe gets: 1000 bytes), then one byte
	# more: refused at once, nothing of it or after it goes in
	top=$((m ? 1000 : 999))
	line=$(printf 'y%.0s' $(seq $top))
	expect "line of $top" "$(send "$ADDR" "b'$line\n'")" eof
	in_is "$name" "line of $top" 1 1000 1000
	expect "line of $((top + 1))" "$(send "$ADDR" "b'a\nb\ny$line\nafter\n'")" reset
	counter "$name" oversize 1
	grep -q 'refused a unit larger than 1000 bytes' "$SERVE_ERR" || fail "$k: no refusal on stderr"
	in_is "$name" "line of $((top + 1))" 2 2 4
	# a long line without a newline is refused before it ends (the
	# client keeps the connection open)
	expect "long line, held" "$(send "$ADDR" "b'z' * 5000" hold)" reset
	counter "$name" oversize 2
	in_is "$name" "long line, held" 0 0 0
	wc_exit "write --connect, line too large" 1 "$S" write --connect "$ADDR" < <(printf 'a\n%s\nb\n' "y$line")
	counter "$name" oversize 3
	in_is "$name" "write --connect, line too large" 1 1 2
	counter "$name" partial_discarded 2 # a refused unit is not a cut one
	counter "$name" active 0
	stop "$SERVE_PID"
	T "$S" read "$name" >/dev/null || fail "drain"

	# without --max-unit: what the pipe holds (65528 bytes in a message
	# pipe, the newline not counted; 65536 with it in a stream pipe)
	serve "$name" --listen tcp://:0 --framing lines
	top=$((m ? 65528 : 65535))
	expect "line of $top" "$(send "$ADDR" "b'q' * $top + b'\n'")" eof
	in_is "$name" "line of $top" 1 65528 65536
	T "$S" read "$name" --count 1 >/dev/null || fail "read"
	expect "line of $((top + 1))" "$(send "$ADDR" "b'q' * $((top + 1)) + b'\n'")" reset
	counter "$name" oversize 1
	in_is "$name" "line of $((top + 1))" 0 0 0
	stop "$SERVE_PID"
	T "$S" rm "$name"

	# ------------------------------------------------------- len32
	name=$P-len$m
	T "$S" create "$name" --size 64K $kind || fail "create"
	serve "$name" --listen tcp://:0 --framing len32 --max-unit 1000
	last_in=
	in_is "$name" start 0 0 0
	f3='struct.pack(">I", 3) + b"abc"'
	expect "frame cut in its body" "$(send "$ADDR" "$f3 + struct.pack('>I', 100) + b'x' * 50")" reset
	counter "$name" partial_discarded 1
	in_is "$name" "frame cut in its body" 1 3 7
	expect "frame cut in its length" "$(send "$ADDR" "$f3 + $f3 + b'\0\0'")" reset
	counter "$name" partial_discarded 2
	in_is "$name" "frame cut in its length" 2 6 14
	expect "after cut frames" "$(send "$ADDR" "$f3")" eof
	in_is "$name" "after cut frames" 1 3 7
	wc_exit "write --connect, cut frame" 1 "$S" write --connect "$ADDR" < <(python3 -c '
import struct, sys
sys.stdout.buffer.write(struct.pack(">I", 3) + b"abc" + struct.pack(">I", 9) + b"cut")')
	counter "$name" partial_discarded 3
	in_is "$name" "write --connect, cut frame" 1 3 7
	# the largest frame (what the pipe gets: 1000 bytes), then a frame
	# one byte larger: refused as soon as its length is seen; so is a
	# length of 4 GiB - 1
	top=$((m ? 1000 : 996))
	expect "frame of $top" "$(send "$ADDR" "struct.pack('>I', $top) + b'x' * $top")" eof
	in_is "$name" "frame of $top" 1 1000 1000
	expect "frame of $((top + 1)), held" "$(send "$ADDR" "$f3 + struct.pack('>I', $((top + 1)))" hold)" reset
	counter "$name" oversize 1
	in_is "$name" "frame of $((top + 1))" 1 3 7
	expect "frame of 4 GiB" "$(send "$ADDR" "b'\xff\xff\xff\xff' + b'x' * 100")" reset
	counter "$name" oversize 2
	in_is "$name" "frame of 4 GiB" 0 0 0
	wc_exit "write --connect, frame too large" 1 "$S" write --connect "$ADDR" < <(python3 -c '
import struct, sys
sys.stdout.buffer.write(struct.pack(">I", 2000) + bytes(2000))')
	counter "$name" oversize 3
	in_is "$name" "write --connect, frame too large" 0 0 0
	counter "$name" partial_discarded 3
	expect "after frames too large" "$(send "$ADDR" "$f3")" eof
	in_is "$name" "after frames too large" 1 3 7
	stop "$SERVE_PID"
	grep -q 'refused a unit larger than 1000 bytes' "$SERVE_ERR" || fail "$k: no refusal on stderr"
	T "$S" rm "$name"
done
echo ok
