#!/bin/bash
# bridge_abuse.sh - guarantee 8, "abusive clients cannot hurt the bridge".
# Every `shmpipe serve` here runs with tests/shim/sockfault.c preloaded
# (built into $tmp): its recv, send and accept4 on sockets return short
# counts, -1/EINTR and -1/EAGAIN at random (SOCKFAULT_RATE percent of the
# calls, 25 by default; SOCKFAULT_SEED, printed, replays the choices),
# never on the pipe's eventfd or anything that is not a socket. Through
# it, in four rounds, each with its own pipe (1 MiB: the pipe fills, so
# backpressure and the notify eventfd are in play too) and serve:
#  A. --framing lines --max-conns 100 --idle-timeout 0 (never): 4 good
#     clients connect, 96 slowloris clients take the other slots (one
#     byte every 3 s, a line never finished), 50 more connect: all 50 are
#     refused (closed by the bridge; bridge.refused 50, active stays 100,
#     nothing of theirs committed). The 4 good ones then send 20000
#     numbered lines each (random chunk sizes): every line arrives once,
#     whole, in per-client order. The 96 are held all along (no idle
#     timeout: none is closed) and, when they leave, each partial line is
#     discarded and counted (bridge.partial_discarded 96).
#  B. --framing lines --idle-timeout 3: 30 slowloris clients (a byte a
#     second, never idle, never a whole line) are each closed between
#     2.5 and 20 s after connecting ("too slow to complete a unit"), the
#     report says "idle closed 30", partial_discarded is 30, while a good
#     client's 20000 lines arrive.
#  C. --framing len32: 4 good clients x 20000 frames (payloads of 0..599
#     bytes of every byte value between a numbered head and tail) while 10
#     slowloris clients announce a 200000-byte frame and trickle it: every
#     frame arrives once, whole, in per-client order.
#  D. --out --framing lines on a message pipe: 2 socket readers take what
#     4 local writers (`shmpipe write --lines`, 20000 lines each) put in
#     the pipe, in two waves with an end of file between them (the bridge
#     then finds the second wave's units on its 100 ms sweep, not through
#     the pipe's fd): every line reaches exactly one reader, whole, each
#     reader's lines in each writer's order; here the faults hit send()
#     (one per line), so a short send whose rest were lost, resent or
#     reordered would show. The readers end with a reset, which the
#     bridge sees at once (after a plain close it keeps an --out
#     connection until a send to it fails: a half-close is not the end).
# Meanwhile each serve's VmRSS and fd count are sampled every 0.2 s from
# /proc/PID: VmRSS stays under its value before the first connection +
# 64 MiB; fds under base + connections allowed + 4; and once the abusers
# are gone the only socket left is the listener and fds are back to base
# (+1: the pipe's notify eventfd, made the first time the pipe was full).
# Each serve's shim must have injected faults, and all three kinds must
# have been injected (else this proves nothing). Figures:
# abuse_connections, abuse_faults_injected, abuse_units_verified.
# Loopback only, ephemeral ports. About 40 s.
. "$(dirname "$0")/../bridge_lib.bash"
here=$(cd "$(dirname "$0")" && pwd)
command -v cc >/dev/null || { echo "no cc to build the socket fault shim"; exit 77; }
cc -shared -fPIC -O2 -o "$tmp/sockfault.so" "$here/../shim/sockfault.c" -ldl 2>"$tmp/cc.err" ||
	fail "building the shim: $(cat "$tmp/cc.err")"

rate=${SOCKFAULT_RATE:-25}
seed=${SOCKFAULT_SEED:-$((RANDOM * 32768 + RANDOM))}
echo "shim: SOCKFAULT_RATE=$rate SOCKFAULT_SEED=$seed"
# ASan (SANITIZE=1 builds) insists on coming first; the shim does not
# intercept anything ASan needs.
serve_prefix=(env LD_PRELOAD="$tmp/sockfault.so" SOCKFAULT_RATE="$rate"
	SOCKFAULT_SEED="$seed" SOCKFAULT_LOG="$tmp/faults.log"
	ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}verify_asan_link_order=0")
rss_slack=$((64 * 1024)) # kB
units_verified=0 abuse_conns=0
TL() { timeout -k 5 120 "$@"; } # for what may take longer than T's 60 s

cat >"$tmp/clients.py" <<'EOF'
import os, random, re, select, socket, struct, sys, time

def connect(port):
    s = socket.create_connection(("127.0.0.1", port), timeout=30)
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return s

def wait_file(path, secs=100):
    end = time.monotonic() + secs
    while not os.path.exists(path):
        if time.monotonic() > end:
            sys.exit("timed out waiting for " + path)
        time.sleep(0.05)

def is_closed(s):
    """The bridge closed s (end of file or reset)?"""
    s.setblocking(False)
    try:
        return s.recv(1) == b""
    except BlockingIOError:
        return False
    except OSError:
        return True

BLOCK = bytes(range(256)) * 4

def line(tag, i):  # as lines_gen in tests/bridge_lib.bash
    return b"%s %d %s %s-%d\n" % (tag, i, b"x" * (i % 37), tag, i)

def payload(tag, i):
    o = i % 256
    return b"%s %d " % (tag, i) + BLOCK[o:o + (i * 7919) % 600] + b" %s-%d" % (tag, i)

def frame(tag, i):
    p = payload(tag, i)
    return struct.pack(">I", len(p)) + p

def good(port, tag, n, framing, gofile, seed):
    """Connect; when GOFILE exists (- : at once) send N units in chunks
    of random sizes, half-close, wait for the bridge's orderly close."""
    unit = line if framing == "lines" else frame
    tag = tag.encode()
    data = b"".join(unit(tag, i) for i in range(int(n)))
    s = connect(port)
    print("connected", flush=True)
    if gofile != "-":
        wait_file(gofile)
    r, i = random.Random(seed), 0
    while i < len(data):
        k = r.choice((1, 3, 7, 100, 1500, 4096, 65536))
        s.sendall(data[i:i + k])
        i += k
    s.shutdown(socket.SHUT_WR)
    s.settimeout(60)
    if s.recv(1) != b"":
        sys.exit("the bridge sent something")
    print("sent", n, flush=True)

def hold(port, nhold, nextra, d, interval, kind):
    """NHOLD slowloris connections, one byte each every INTERVAL s, a unit
    never finished; with NEXTRA, when d/go-extra exists, that many more,
    each expected to be closed by the bridge at once. Trickles until
    d/release exists (3 rounds at least); then says how many the bridge
    closed meanwhile."""
    nhold, nextra, interval = int(nhold), int(nextra), float(interval)
    head = b"slow" if kind == "lines" else struct.pack(">I", 200000) + b"slow"
    socks = []
    for _ in range(nhold):
        s = connect(port)
        s.sendall(head)
        socks.append(s)
    print("held", len(socks), flush=True)
    if nextra:
        wait_file(os.path.join(d, "go-extra"))
        extras = [connect(port) for _ in range(nextra)]
        for s in extras:
            try:
                s.sendall(b"extra\n")  # never to be committed
            except OSError:
                pass
        refused, pending = 0, set(extras)
        end = time.monotonic() + 20
        while pending and time.monotonic() < end:
            ready, _, _ = select.select(list(pending), [], [], 0.5)
            for s in ready:
                pending.discard(s)
                try:
                    refused += s.recv(1) == b""
                except OSError:
                    refused += 1
        for s in extras:
            s.close()
        print("refused", refused, flush=True)
    rounds, sent, closed = 0, 0, set()
    release = os.path.join(d, "release")
    end = time.monotonic() + 150
    while rounds < 3 or not os.path.exists(release):
        if time.monotonic() > end:
            sys.exit("never released")
        for s in socks:
            if s not in closed:
                try:
                    s.send(b"s")
                    sent += 1
                except BlockingIOError:
                    pass
                except OSError:
                    closed.add(s)
            time.sleep(interval / len(socks))
        rounds += 1
        print("round", rounds, flush=True)
    closed |= set(s for s in socks if s not in closed and is_closed(s))
    for s in socks:
        s.close()
    print("closed", len(closed), "bytes", sent, flush=True)

def slow(port, n, interval):
    """N slowloris connections, a byte each every INTERVAL s, until the
    bridge closes them (40 s at most): how long each lasted."""
    n, interval = int(n), float(interval)
    alive = {}
    for _ in range(n):
        s = connect(port)
        alive[s] = time.monotonic()
        s.sendall(b"slow")
    lasted, end = [], time.monotonic() + 40
    while alive and time.monotonic() < end:
        for s in list(alive):
            gone = is_closed(s)
            if not gone:
                try:
                    s.send(b"s")
                except BlockingIOError:
                    pass
                except OSError:
                    gone = True
            if gone:
                lasted.append(time.monotonic() - alive.pop(s))
                s.close()
        time.sleep(interval)
    if not lasted:
        lasted = [0]
    print("closed %d of %d, min %.1f max %.1f" % (n - len(alive), n,
          min(lasted), max(lasted)), flush=True)

def outread(port, n, total, d):
    """N reader connections of a --out bridge, each into d/outK, until
    TOTAL lines have come in all (or none for 30 s)."""
    socks = [connect(port) for _ in range(int(n))]
    files = {s: open(os.path.join(d, "out%d" % k), "wb", buffering=0)
             for k, s in enumerate(socks)}
    print("connected", flush=True)
    for s in socks:
        s.setblocking(False)
    count, last = 0, time.monotonic()
    while count < int(total):
        ready, _, _ = select.select(socks, [], [], 1)
        for s in ready:
            data = s.recv(65536)
            if not data:
                sys.exit("the bridge closed a reader after %d lines" % count)
            files[s].write(data)
            count += data.count(b"\n")
            last = time.monotonic()
        if time.monotonic() - last > 30:
            sys.exit("no data for 30 s after %d of %s lines" % (count, total))
    for f in files.values():
        f.close()
    # An abortive close: the bridge sees it at once. After an orderly
    # close (FIN) it would keep the connection until a send to it fails
    # (a half-close is not the end of an --out reader).
    for s in socks:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        s.close()
    print("lines", count, flush=True)

def check_frames(path, n, *tags):
    """PATH holds exactly the frames of good(..., "len32") for each TAG,
    each whole, in each TAG's order."""
    data, pos, seen = open(path, "rb").read(), 0, {t.encode(): 0 for t in tags}
    while pos < len(data):
        if pos + 4 > len(data):
            sys.exit("torn length at byte %d" % pos)
        size = struct.unpack(">I", data[pos:pos + 4])[0]
        p = data[pos + 4:pos + 4 + size]
        m = re.match(rb"(\S+) (\d+) ", p)
        t = m and m.group(1)
        if not m or t not in seen or p != payload(t, int(m.group(2))):
            sys.exit("frame at byte %d torn or foreign: %r" % (pos, p[:60]))
        if int(m.group(2)) != seen[t]:
            sys.exit("frame at byte %d: %s %s, want %d (lost, repeated or "
                     "reordered)" % (pos, t, m.group(2), seen[t]))
        seen[t] += 1
        pos += 4 + size
    short = {t: k for t, k in seen.items() if k != int(n)}
    if short:
        sys.exit("frames per client (want %s each): %r" % (n, short))

def check_split(n, tags, *paths):
    """Every line of lines_gen TAG N for each TAG (comma-separated) is in
    exactly one of PATHS, whole; in each path each TAG's lines are in
    order."""
    pat = re.compile(rb"(\S+) (\d+) (x*) (\S+)-(\d+)\n")
    want = set(t.encode() for t in tags.split(","))
    seen = set()
    for path in paths:
        last = {}
        with open(path, "rb") as f:
            for no, l in enumerate(f, 1):
                m = pat.fullmatch(l)
                if (not m or m.group(1) not in want or m.group(4) != m.group(1)
                        or m.group(2) != m.group(5)
                        or len(m.group(3)) != int(m.group(2)) % 37):
                    sys.exit("%s line %d torn or foreign: %r" % (path, no, l[:100]))
                t, i = m.group(1), int(m.group(2))
                if (t, i) in seen:
                    sys.exit("%s line %d: %s %d delivered twice" % (path, no, t, i))
                if i <= last.get(t, -1):
                    sys.exit("%s line %d: %s %d after %d" % (path, no, t, i, last[t]))
                last[t] = i
                seen.add((t, i))
    if len(seen) != len(want) * int(n):
        missing = sorted((t, i) for t in want for i in range(int(n)) if (t, i) not in seen)
        sys.exit("%d lines missing, first %r" % (len(missing), missing[:3]))

globals()[sys.argv[1]](*sys.argv[2:])
EOF
clients() { python3 "$tmp/clients.py" "$@"; }

kb() { sed -n "s/^$2:[[:space:]]*\([0-9]*\) kB/\1/p" "/proc/$1/status" 2>/dev/null; }
nfds() { ls "/proc/$1/fd" 2>/dev/null | wc -l; }
nsockets() { find "/proc/$1/fd" -lname 'socket:*' 2>/dev/null | wc -l; }
# sample PID FILE: until PID ends, every 0.2 s, FILE says the largest
# VmRSS (kB) and fd count of PID seen so far.
sample() {
	local maxr=0 maxf=0 r f
	while kill -0 "$1" 2>/dev/null; do
		r=$(kb "$1" VmRSS) f=$(nfds "$1")
		[ -n "$r" ] && [ "$r" -gt $maxr ] && maxr=$r
		[ "$f" -gt $maxf ] && maxf=$f
		echo "$maxr $maxf" >"$2.tmp" && mv "$2.tmp" "$2"
		sleep 0.2
	done
}
# start_round NAME [--message] SERVE-ARGS...: a 1 MiB stream (or message)
# pipe $P-NAME and its serve (shim loaded), sampled; sets PID, BASE_RSS,
# BASE_FDS.
start_round() {
	local name=$1 kind=()
	shift
	[ "$1" = --message ] && kind=(--message) && shift
	T "$S" create "$P-$name" --size 1M "${kind[@]}" || fail "create $P-$name"
	serve "$P-$name" --listen tcp://:0 "$@"
	case $ADDR in tcp://127.*) ;; *) fail "not loopback: $ADDR" ;; esac
	PID=$SERVE_PID
	sleep 0.2
	BASE_RSS=$(kb "$PID" VmRSS) BASE_FDS=$(nfds "$PID")
	[ -n "$BASE_RSS" ] || fail "no VmRSS for serve $PID"
	sample "$PID" "$tmp/sample-$name" &
	bg+=($!)
}
# end_round NAME CONNS: the bounds of the round (CONNS: most connections
# the serve may have held), then the serve is stopped and its shim's
# fault counts checked.
end_round() {
	local name=$1 conns=$2 maxr maxf end=$((SECONDS + 20)) f
	wait_field "$P-$name" bridge.active 0
	until [ "$(nsockets "$PID")" = 1 ] && [ "$(nfds "$PID")" -le $((BASE_FDS + 1)) ]; do
		[ $SECONDS -ge $end ] && fail "round $name: serve still has $(nfds "$PID") fds," \
			"$(nsockets "$PID") sockets, after its clients left (base $BASE_FDS fds)"
		sleep 0.2
	done
	sleep 0.5 # a last sample
	read -r maxr maxf <"$tmp/sample-$name"
	echo "round $name: serve VmRSS base $BASE_RSS kB, max $maxr kB; fds base $BASE_FDS," \
		"max $maxf, after $(nfds "$PID") with $(nsockets "$PID") socket"
	[ "$maxr" -lt $((BASE_RSS + rss_slack)) ] ||
		fail "round $name: VmRSS reached $maxr kB (base $BASE_RSS kB)"
	[ "$maxf" -le $((BASE_FDS + conns + 4)) ] ||
		fail "round $name: $maxf fds (base $BASE_FDS, at most $conns connections)"
	[ "$(field "$P-$name" bytes_buffered)" = 0 ] ||
		fail "round $name: $(field "$P-$name" bytes_buffered) bytes left in the pipe"
	stop "$PID"
	f=$(grep "^sockfault pid $PID " "$tmp/faults.log") ||
		fail "round $name: the shim wrote no counts (not loaded?)"
	echo "round $name: $f"
	[[ $f =~ faults\ ([0-9]+)\ short ]] || fail "round $name: bad shim line: $f"
	[ "${BASH_REMATCH[1]}" -gt 0 ] || fail "round $name: no fault was injected: $f"
}
# wait_line FILE REGEX [SECONDS]: until a line of FILE matches (30 s).
wait_line() {
	local end=$((SECONDS + ${3:-30}))
	until grep -Eq "$2" "$1" 2>/dev/null; do
		[ $SECONDS -ge $end ] && fail "no '$2' in ${1##*/}: $(tail -n 3 "$1")"
		sleep 0.1
	done
}
# running PID: PID (a child) has not ended yet.
running() {
	local state
	state=$(sed 's/.*) //' "/proc/$1/stat" 2>/dev/null | cut -d' ' -f1)
	[ -n "$state" ] && [ "$state" != Z ]
}
# reap_ok PID WHAT LOG [SECONDS]: PID exits 0 in time, else fail with LOG.
reap_ok() {
	reap "$1" "${4:-60}"
	[ "$REAPED" = 0 ] || fail "$2 exit $REAPED: $(tail -n 5 "$3")"
}

# ---- A: the connection cap, slowloris without an idle timeout, faults.
start_round a --framing lines --max-conns 100 --idle-timeout 0
portA=$PORT
TL "$S" read "$P-a" --lines --count 80000 --timeout 100 >"$tmp/a.out" &
rpid=$!
bg+=($rpid)
mkdir "$tmp/a"
good=()
for k in 0 1 2 3; do
	TL python3 "$tmp/clients.py" good "$portA" a$k 20000 lines "$tmp/a/go" "$seed$k" \
		>"$tmp/good-a$k.log" 2>&1 &
	good+=($!)
	bg+=($!)
done
wait_field "$P-a" bridge.active 4
TL python3 "$tmp/clients.py" hold "$portA" 96 50 "$tmp/a" 3 lines >"$tmp/hold-a.log" 2>&1 &
hpid=$!
bg+=($hpid)
wait_line "$tmp/hold-a.log" '^held 96$'
wait_field "$P-a" bridge.active 100
touch "$tmp/a/go-extra"
wait_line "$tmp/hold-a.log" '^refused '
grep -qx 'refused 50' "$tmp/hold-a.log" || fail "extra connections: $(grep refused "$tmp/hold-a.log")"
wait_field "$P-a" bridge.refused 50
set -- $(field "$P-a" bridge.active bridge.accepted bytes_in)
[ "$*" = "100 100 0" ] || fail "after the extras: active, accepted, bytes_in are $*, want 100 100 0"
grep -q 'limit' "$SERVE_ERR" || fail "the refusals were not logged"
abuse_conns=$((abuse_conns + 146))

touch "$tmp/a/go" # the good clients send, among the 96 slowloris
for k in 0 1 2 3; do reap_ok "${good[$k]}" "good client a$k" "$tmp/good-a$k.log"; done
reap_ok "$rpid" "read $P-a" /dev/null 100
check_lines "$tmp/a.out" 20000 a0 a1 a2 a3 || fail "round a: the good clients' lines"
units_verified=$((units_verified + 80000))
grep -q '^round 3$' "$tmp/hold-a.log" || wait_line "$tmp/hold-a.log" '^round 3$' 60
touch "$tmp/a/release"
reap_ok "$hpid" "slowloris (a)" "$tmp/hold-a.log" 60
grep -Eq '^closed 0 bytes [0-9]+$' "$tmp/hold-a.log" ||
	fail "slowloris closed without an idle timeout: $(tail -n 1 "$tmp/hold-a.log")"
echo "round a: $(tail -n 1 "$tmp/hold-a.log") (slowloris, held to the end)"
wait_field "$P-a" bridge.partial_discarded 96
end_round a 100

# ---- B: slowloris against --idle-timeout 3, faults.
start_round b --framing lines --idle-timeout 3
T "$S" read "$P-b" --lines --count 20000 --timeout 50 >"$tmp/b.out" &
rpid=$!
bg+=($rpid)
T python3 "$tmp/clients.py" slow "$PORT" 30 1 >"$tmp/slow-b.log" 2>&1 &
spid=$!
bg+=($spid)
T python3 "$tmp/clients.py" good "$PORT" b0 20000 lines - "${seed}b" >"$tmp/good-b.log" 2>&1 &
gpid=$!
bg+=($gpid)
reap_ok "$gpid" "good client b0" "$tmp/good-b.log"
reap_ok "$rpid" "read $P-b" /dev/null
check_lines "$tmp/b.out" 20000 b0 || fail "round b: the good client's lines"
units_verified=$((units_verified + 20000))
reap_ok "$spid" "slowloris (b)" "$tmp/slow-b.log"
cat "$tmp/slow-b.log"
[[ $(cat "$tmp/slow-b.log") =~ ^closed\ 30\ of\ 30,\ min\ ([0-9.]+)\ max\ ([0-9.]+)$ ]] ||
	fail "slowloris (b): $(cat "$tmp/slow-b.log")"
python3 -c "import sys; sys.exit(not (2.5 <= float(sys.argv[1]) and float(sys.argv[2]) <= 20))" \
	"${BASH_REMATCH[1]}" "${BASH_REMATCH[2]}" ||
	fail "slowloris closed after ${BASH_REMATCH[1]}..${BASH_REMATCH[2]} s, want 2.5..20 (timeout 3 s)"
abuse_conns=$((abuse_conns + 30))
wait_field "$P-b" bridge.partial_discarded 30
kill -USR1 "$PID"
wait_line "$SERVE_ERR" 'stats: accepted' 10
grep -q 'idle closed 30$' "$SERVE_ERR" ||
	fail "report: $(grep 'stats:' "$SERVE_ERR")"
end_round b 31

# ---- C: len32 frames among len32 slowloris, faults.
start_round c --framing len32 --idle-timeout 0
TL "$S" read "$P-c" --len32 --count 80000 --timeout 100 >"$tmp/c.out" &
rpid=$!
bg+=($rpid)
mkdir "$tmp/c"
TL python3 "$tmp/clients.py" hold "$PORT" 10 0 "$tmp/c" 1 len32 >"$tmp/hold-c.log" 2>&1 &
hpid=$!
bg+=($hpid)
wait_line "$tmp/hold-c.log" '^held 10$'
good=()
for k in 0 1 2 3; do
	TL python3 "$tmp/clients.py" good "$PORT" c$k 20000 len32 - "$seed$k" \
		>"$tmp/good-c$k.log" 2>&1 &
	good+=($!)
	bg+=($!)
done
for k in 0 1 2 3; do reap_ok "${good[$k]}" "good client c$k" "$tmp/good-c$k.log" 100; done
reap_ok "$rpid" "read $P-c" /dev/null 100
clients check_frames "$tmp/c.out" 20000 c0 c1 c2 c3 || fail "round c: the good clients' frames"
units_verified=$((units_verified + 80000))
touch "$tmp/c/release"
reap_ok "$hpid" "slowloris (c)" "$tmp/hold-c.log"
grep -Eq '^closed 0 bytes' "$tmp/hold-c.log" || fail "slowloris (c): $(tail -n 1 "$tmp/hold-c.log")"
abuse_conns=$((abuse_conns + 10))
wait_field "$P-c" bridge.partial_discarded 10
end_round c 14

# ---- D: --out, two socket readers, faults on send().
start_round d --message --out --framing lines
mkdir "$tmp/d"
TL python3 "$tmp/clients.py" outread "$PORT" 2 80000 "$tmp/d" >"$tmp/outread.log" 2>&1 &
opid=$!
bg+=($opid)
wait_line "$tmp/outread.log" '^connected$'
wait_field "$P-d" bridge.active 2
# Two waves of writers: between them the pipe is empty with no writer
# (end of file), which the bridge notices, and then data comes again.
for k in 0 1 2 3; do lines_gen d$k 20000 >"$tmp/d$k.in"; done
for wave in "0 1" "2 3"; do
	writers=()
	for k in $wave; do
		TL "$S" write "$P-d" --lines <"$tmp/d$k.in" &
		writers+=($!)
		bg+=($!)
	done
	for p in "${writers[@]}"; do
		# without readers the pipe fills and a writer waits for ever
		end=$((SECONDS + 100))
		while running "$p"; do
			running "$opid" || fail "round d: the --out readers ended before" \
				"the writers: $(tail -n 1 "$tmp/outread.log")"
			[ $SECONDS -lt $end ] || fail "round d: writer ($wave) still runs after 100 s"
			sleep 0.1
		done
		reap_ok "$p" "write ($wave)" /dev/null
	done
	[ "$wave" = "0 1" ] && wait_field "$P-d" messages_out 40000 60 && sleep 0.5
done
reap "$opid" 100
# What the readers got, checked even if they gave up (it says why).
clients check_split 20000 d0,d1,d2,d3 "$tmp/d/out0" "$tmp/d/out1" ||
	fail "round d: the lines the readers got (readers: $(tail -n 1 "$tmp/outread.log"))"
[ "$REAPED" = 0 ] || fail "the --out readers exit $REAPED: $(tail -n 5 "$tmp/outread.log")"
echo "round d: reader 0 got $(wc -l <"$tmp/d/out0") lines, reader 1 $(wc -l <"$tmp/d/out1")"
units_verified=$((units_verified + 80000))
end_round d 2

# Every kind of fault, in all (round d alone sends each line with its own
# send(): thousands of faults).
read -r faults short eintr eagain < <(awk '{ f += $7; s += $9; i += $11; a += $13 }
	END { print f + 0, s + 0, i + 0, a + 0 }' "$tmp/faults.log")
[ "$short" -gt 0 ] && [ "$eintr" -gt 0 ] && [ "$eagain" -gt 0 ] ||
	fail "not every kind of fault was injected: $short short, $eintr EINTR, $eagain EAGAIN"
echo "figure abuse_connections $abuse_conns"
echo "figure abuse_faults_injected $faults"
echo "figure abuse_units_verified $units_verified"
exit 0
