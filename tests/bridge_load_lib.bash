# tests/bridge_load_lib.bash - sourced by the load tests of the bridge
# (tests/bridge_load_*.sh; not a test itself). They sample serve's memory
# and fds by its pid, so they keep to this small scaffolding rather than
# tests/bridge_lib.bash. Before sourcing: P, the pipe name (t-$$-TAG);
# optionally T_SECONDS (how long T may run a command, default 60) and a
# function fail_details that fail() calls to show the test's own logs.
# Gives: $S the CLI, $tmp a private directory, bg (pids killed on exit),
# cleanup on any exit (processes, the pipe, $tmp), fail, T, field KEY
# (`stat --json`, "bridge.refused" for nested keys), wait_for KEY VALUE
# SECONDS, start_serve ARGS... (serve $P on an ephemeral loopback port:
# sets spid, addr, port), mem KEY (kB from serve's /proc status), nfds.
set -u
S=$SHMPIPE
tmp=$(mktemp -d "${TMPDIR:-/tmp}/${0##*/}.XXXXXX")
bg=()
cleanup() {
	for p in "${bg[@]}"; do kill -9 "$p" 2>/dev/null; done
	wait 2>/dev/null
	rm -f /dev/shm/shmpipe."$P"
	rm -rf "$tmp"
}
trap cleanup EXIT
fail() {
	echo "FAIL: $*"
	[ -s "$tmp/serve.err" ] && sed 's/^/  serve: /' "$tmp/serve.err" | tail -n 20
	declare -F fail_details >/dev/null && fail_details
	exit 1
}
T() { timeout -k 5 "${T_SECONDS:-60}" "$@"; }
command -v python3 >/dev/null || { echo "python3 is missing"; exit 77; }

field() {
	T "$S" stat --json "$P" | python3 -c "
import json, sys
v = json.load(sys.stdin)
for k in '$1'.split('.'):
    v = v[k]
print(v)"
}
wait_for() {
	local end=$((SECONDS + $3))
	while [ $SECONDS -lt $end ]; do
		[ "$(field "$1")" = "$2" ] && return 0
		sleep 0.2
	done
	fail "$1 is $(field "$1") after $3 s, want $2"
}
start_serve() {
	"$S" serve "$P" --listen tcp://:0 "$@" >"$tmp/serve.out" 2>"$tmp/serve.err" &
	spid=$!
	bg+=("$spid")
	for _ in $(seq 100); do
		grep -q '^listening' "$tmp/serve.out" && break
		sleep 0.1
	done
	addr=$(sed -n 's/^listening //p' "$tmp/serve.out" | head -n 1)
	port=${addr##*:}
	[ -n "$port" ] || fail "serve did not say where it listens"
}
mem() { sed -n "s/^$1:[[:space:]]*\([0-9]*\) kB/\1/p" "/proc/$spid/status"; }
nfds() { ls "/proc/$spid/fd" | wc -l; }
