#!/bin/bash
# bridge_load_idle_timeout.sh - --idle-timeout 2 with --framing lines:
#  - a trickling client (one byte every 0.5 s, never finishing its line)
#    is closed by the bridge after about 2 s (asserted: between 1.5 and
#    8 s, the machines being noisy), although it was never idle for 0.5 s;
#    its partial line is discarded and counted (bridge.partial_discarded
#    is 1) and none of its bytes is committed;
#  - a silent client (connects, sends nothing) is closed too, with no
#    partial unit counted;
#  - meanwhile a normal client sending a whole line every 0.5 s for 6 s
#    (three times the timeout) is unaffected: it stays connected and
#    every line arrives, in order;
#  - `stat --json` (bridge.idle_closed) and the SIGUSR1 report count the
#    two closed ("idle closed 2").
# Loopback only, ephemeral port, pipe t-PID-..., everything cleaned up.
set -u
P=t-$$-idlet
fail_details() {
	for f in trickle silent normal; do
		[ -s "$tmp/$f.out" ] && sed "s/^/  $f: /" "$tmp/$f.out"
	done
}
. "$(dirname "$0")/bridge_load_lib.bash"

T "$S" create "$P" --size 1M || fail "create"
start_serve --framing lines --idle-timeout 2

# client.py PORT MODE: trickle | silent | normal. Prints how long the
# connection lasted and how it ended.
cat >"$tmp/client.py" <<'EOF'
import socket, sys, time
port, mode = int(sys.argv[1]), sys.argv[2]
s = socket.create_connection(("127.0.0.1", port), timeout=10)
t0 = time.monotonic()
def closed_by_peer():
    s.setblocking(False)
    try:
        return s.recv(1) == b""
    except BlockingIOError:
        return False
    except OSError:
        return True
    finally:
        s.setblocking(True)
if mode == "normal":
    for i in range(12):
        s.sendall(b"normal line %02d\n" % i)
        time.sleep(0.5)
        if closed_by_peer():
            print("closed after %.1f s at line %d" % (time.monotonic() - t0, i))
            sys.exit(1)
    s.shutdown(socket.SHUT_WR)
    s.settimeout(10)
    s.recv(1)
    print("done")
    sys.exit(0)
while time.monotonic() - t0 < 20:
    if mode == "trickle":
        try:
            s.send(b"t")
        except OSError:
            break
    time.sleep(0.5)
    if closed_by_peer():
        break
print("closed after %.1f s" % (time.monotonic() - t0))
EOF
T python3 "$tmp/client.py" "$port" normal >"$tmp/normal.out" 2>&1 &
npid=$!
T python3 "$tmp/client.py" "$port" trickle >"$tmp/trickle.out" 2>&1 &
tpid=$!
T python3 "$tmp/client.py" "$port" silent >"$tmp/silent.out" 2>&1 &
qpid=$!
bg+=("$npid" "$tpid" "$qpid")

wait "$tpid" || fail "trickle client"
wait "$qpid" || fail "silent client"
wait "$npid" || fail "the normal client was disturbed"
for who in trickle silent; do
	secs=$(sed -n 's/^closed after \([0-9.]*\) s$/\1/p' "$tmp/$who.out")
	[ -n "$secs" ] || fail "$who client not closed"
	python3 -c "import sys; sys.exit(not 1.5 <= $secs <= 8)" ||
		fail "$who client closed after $secs s, want about 2"
	echo "$who client closed after $secs s"
done
grep -q '^done$' "$tmp/normal.out" || fail "normal client"

[ "$(field bridge.partial_discarded)" = 1 ] ||
	fail "partial units discarded: $(field bridge.partial_discarded), want 1"
T "$S" read "$P" --lines --count 12 --timeout 10 >"$tmp/out" || fail "read"
printf 'normal line %02d\n' $(seq 0 11) | cmp -s - "$tmp/out" ||
	fail "the normal client's lines: $(cat "$tmp/out")"
[ "$(field bytes_buffered)" = 0 ] || fail "more bytes in the pipe (the trickle's?)"
[ "$(field bytes_in)" = "$(stat -c %s "$tmp/out")" ] || fail "bytes_in $(field bytes_in)"

[ "$(field bridge.idle_closed)" = 2 ] ||
	fail "stat: bridge.idle_closed $(field bridge.idle_closed), want 2"
kill -USR1 "$spid"
for _ in $(seq 50); do
	grep -q 'stats:' "$tmp/serve.err" && break
	sleep 0.1
done
grep -q 'idle closed 2' "$tmp/serve.err" || fail "report: $(grep stats: "$tmp/serve.err")"
kill -TERM "$spid"
wait "$spid" || fail "serve exit status"
exit 0
