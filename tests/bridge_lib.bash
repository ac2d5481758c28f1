# tests/bridge_lib.bash - sourced by the functional tests of the bridge
# (tests/bridge_*.sh; not a test itself). It gives each test:
#   $S the CLI, $P a name prefix t-PID (pipes are "$P-what"), $tmp a
#   private directory, and a trap that runs the commands in ${on_exit[@]},
#   ends every process it started (those in ${bg[@]} and every child),
#   removes the pipes and $tmp, on success, failure or a signal alike;
#   fail MSG (with the last lines of every serve's stderr), T CMD (a
#   command that may not hang: 60 s at most), serve (start `shmpipe serve`
#   and learn where it listens), stop (signal a serve and check its exit),
#   field/wait_field (`stat --json` values), reap (wait for a background
#   process, boundedly).
# Network: loopback only; ports are ephemeral (--listen tcp://:0).
set -u
S=$SHMPIPE
P=t-$$
tmp=$(mktemp -d "${TMPDIR:-/tmp}/${0##*/}.XXXXXX")
bg=()      # processes to kill on exit
on_exit=() # commands to run on exit (before the processes are killed)

# descendants PID: the pids of PID's children, theirs, and so on.
descendants() {
	local c
	for c in $(cat /proc/"$1"/task/*/children 2>/dev/null); do
		echo "$c"
		descendants "$c"
	done
}
# Every process this shell started, and theirs, is ended by its pid: TERM
# first (a serve stops, a `timeout` passes it on), KILL for what is left
# a moment later.
bridge_cleanup() {
	local c p kids
	for c in "${on_exit[@]}"; do eval "$c"; done
	kids="${bg[*]} $(descendants $$)"
	for p in $kids; do kill -TERM "$p" 2>/dev/null; done
	for p in $kids; do
		kill -0 "$p" 2>/dev/null && sleep 0.2 && break
	done
	for p in $kids; do kill -9 "$p" 2>/dev/null; done
	wait 2>/dev/null
	rm -f /dev/shm/shmpipe."$P"-*
	rm -rf "$tmp"
}
trap bridge_cleanup EXIT
trap 'exit 1' INT TERM HUP

fail() {
	local f
	echo "FAIL: $*"
	for f in "$tmp"/serve*.err; do
		[ -s "$f" ] && sed "s|^|  ${f##*/}: |" "$f" | tail -n 10
	done
	# Called in a subshell (a pipeline, a $(...)), fail the test itself.
	[ "$BASHPID" != $$ ] && kill -TERM $$
	exit 1
}
T() { timeout -k 5 60 "$@"; }

for tool in python3 nc socat; do
	command -v $tool >/dev/null || { echo "$tool is missing (scripts/deps.sh installs it)"; exit 77; }
done

# field NAME KEY...: values of `stat --json NAME`, space-separated; a KEY
# may be a path such as bridge.units. Booleans print as true/false.
field() {
	local name=$1
	shift
	T "$S" stat --json "$name" | python3 -c '
import json, sys
st, out = json.load(sys.stdin), []
for key in sys.argv[1:]:
    v = st
    for k in key.split("."):
        v = v[k]
    out.append(str(v).lower() if isinstance(v, bool) else str(v))
print(" ".join(out))' "$@"
}
# wait_field NAME KEY VALUE [SECONDS]: until field is VALUE (20 s default).
wait_field() {
	local end=$((SECONDS + ${4:-20})) v
	while :; do
		v=$(field "$1" "$2")
		[ "$v" = "$3" ] && return 0
		[ $SECONDS -ge $end ] && fail "$1: $2 is $v after ${4:-20} s, want $3"
		sleep 0.1
	done
}

# serve NAME ARGS...: start `shmpipe serve NAME ARGS...` in the background
# (prefixed by the words in ${serve_prefix[@]}, e.g. ip netns exec NS) and
# wait for its "listening" lines. Sets SERVE_PID, SERVE_ERR (its stderr),
# ADDRS (every address it listens on), ADDR (the first), HOST and PORT
# (of ADDR, when TCP; HOST without brackets).
serve_prefix=()
serve_n=0
serve() {
	serve_n=$((serve_n + 1))
	local out=$tmp/serve$serve_n.out
	SERVE_ERR=$tmp/serve$serve_n.err
	"${serve_prefix[@]}" "$S" serve "$@" >"$out" 2>"$SERVE_ERR" &
	SERVE_PID=$!
	bg+=("$SERVE_PID")
	local i
	for i in $(seq 200); do
		grep -q '^listening ' "$out" && break
		kill -0 "$SERVE_PID" 2>/dev/null || break
		sleep 0.05
	done
	grep -q '^listening ' "$out" || fail "serve $*: never listened: $(cat "$SERVE_ERR")"
	mapfile -t ADDRS < <(sed -n 's/^listening //p' "$out")
	ADDR=${ADDRS[0]}
	HOST= PORT=
	if [[ $ADDR =~ ^tcp://\[?([^]]*)\]?:([0-9]+)$ ]]; then
		HOST=${BASH_REMATCH[1]} PORT=${BASH_REMATCH[2]}
	fi
}

# reap PID [SECONDS]: wait for the background process PID (20 s at most,
# then it is killed and the test fails); sets REAPED to its exit status.
reap() {
	local end=$((SECONDS + ${2:-20})) state p
	while :; do
		state=$(sed 's/.*) //' "/proc/$1/stat" 2>/dev/null | cut -d' ' -f1)
		[ -z "$state" ] || [ "$state" = Z ] && break
		if [ $SECONDS -ge $end ]; then
			state=$(tr "\0" " " 2>/dev/null <"/proc/$1/cmdline")
			for p in $(descendants "$1") "$1"; do kill -9 "$p" 2>/dev/null; done
			fail "process $1 ($state) did not exit in ${2:-20} s"
		fi
		sleep 0.05
	done
	{ wait "$1"; } 2>/dev/null
	REAPED=$?
}

# stop PID [SIGNAL]: stop a serve (TERM by default); it must exit 0.
stop() {
	kill -"${2:-TERM}" "$1" || fail "serve $1 is gone before SIG${2:-TERM}"
	reap "$1"
	[ "$REAPED" = 0 ] || fail "serve $1 exit $REAPED after SIG${2:-TERM}, want 0"
}

# lines_gen TAG N: N numbered lines "TAG I x..x TAG-I" (I from 0, I%37
# x's: lengths vary, and a torn line cannot pass check_lines).
lines_gen() {
	awk -v t="$1" -v n="$2" 'BEGIN {
		xs = "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
		for (i = 0; i < n; i++)
			printf "%s %d %s %s-%d\n", t, i, substr(xs, 1, i % 37), t, i
	}'
}
# check_lines FILE N TAG...: FILE holds exactly lines_gen TAG N for every
# TAG (or lines_gen TAG M for a TAG given as TAG:M), each line whole, in
# each TAG's order (interleaved in any way).
check_lines() {
	python3 - "$@" <<'EOF'
import re, sys
path, n = sys.argv[1], int(sys.argv[2])
want = dict((t.split(":")[0], int(t.split(":")[1]) if ":" in t else n)
            for t in sys.argv[3:])
seen = {t: 0 for t in want}
pat = re.compile(rb"(\S+) (\d+) (x*) (\S+)-(\d+)\n")
with open(path, "rb") as f:
    for no, line in enumerate(f, 1):
        m = pat.fullmatch(line)
        t = m and m.group(1).decode()
        if (not m or t not in seen or m.group(4) != m.group(1) or
                m.group(2) != m.group(5) or
                len(m.group(3)) != int(m.group(2)) % 37):
            sys.exit("line %d torn or foreign: %r" % (no, line[:100]))
        if int(m.group(2)) != seen[t]:
            sys.exit("line %d: %s %s, want %s %d (lost, repeated or "
                     "reordered)" % (no, t, m.group(2).decode(), t, seen[t]))
        seen[t] += 1
short = {t: (k, want[t]) for t, k in seen.items() if k != want[t]}
if short:
    sys.exit("lines per client (got, want): %r" % short)
EOF
}

# sendpy ADDR [TOKEN] < data: python3 sends stdin to ADDR (tcp://H:P,
# tcp://[V6]:P or unix:PATH) in chunks of random sizes, half-closes and
# waits for the bridge to close (it has then read everything). 60 s at most.
sendpy() {
	T python3 -c '
import random, re, socket, sys
addr = sys.argv[1]
if addr.startswith("unix:"):
    s = socket.socket(socket.AF_UNIX)
    s.connect(addr[5:])
else:
    host, port = re.fullmatch(r"tcp://\[?([^]]*)\]?:(\d+)", addr).groups()
    s = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET)
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    s.connect((host, int(port)))
if len(sys.argv) > 2:
    s.sendall(sys.argv[2].encode() + b"\n")
data, r, i = sys.stdin.buffer.read(), random.Random(), 0
while i < len(data):
    n = r.choice((1, 7, 100, 1500, 65536))
    s.sendall(data[i:i + n])
    i += n
s.shutdown(socket.SHUT_WR)
s.settimeout(30)
while s.recv(4096):
    pass
' "$@"
}
