#!/bin/bash
# bridge_unix.sh - Unix socket listeners.
# --allow-uid: with --allow-uid 0 (the socket file made writable by all,
# so that only SO_PEERCRED decides), a client run as uid 65534 (setpriv
# --reuid=65534 --regid=65534 --clear-groups: nc, and `write --connect`,
# which exits 1) is refused: bridge.refused counts it, stderr names the
# uid, nothing goes in; uid 0 is served. With --allow-uid 65534,1234 the
# reverse.
# Stale and live socket files: the socket file left by a SIGKILLed serve
# is replaced by the next serve, which then works; a second serve on the
# path of a live one exits 1 with "in use by a live server", and the live
# one keeps its file and keeps working; a regular file at the path is
# never removed (serve exits 1); a stopped serve removes its socket file.
. "$(dirname "$0")/bridge_lib.bash"

[ "$(id -u)" = 0 ] || { echo "--allow-uid needs root to run a client as another uid"; exit 77; }
command -v setpriv >/dev/null || { echo "setpriv is missing"; exit 77; }
as_nobody() { setpriv --reuid=65534 --regid=65534 --clear-groups "$@"; }

# A directory uid 65534 can reach (mode 755 all the way).
udir=$(mktemp -d "${TMPDIR:-/tmp}/bridge_unix.XXXXXX")
on_exit+=('rm -rf "$udir"')
chmod 755 "$udir"
if ! as_nobody test -x "$udir"; then
	rm -rf "$udir"
	udir=$(mktemp -d /tmp/bridge_unix.XXXXXX)
	chmod 755 "$udir"
fi
as_nobody test -x "$udir" || fail "uid 65534 cannot reach $udir"
# The build tree may sit in a directory only root can enter (a fresh
# clone under a mode-700 temp dir): uid 65534 runs its own copy.
NS=$udir/shmpipe
cp "$S" "$NS" && chmod 755 "$NS" || fail "copy the CLI for uid 65534"
as_nobody test -x "$NS" || { echo "uid 65534 cannot run $NS"; exit 77; }

name=$P-unix
T "$S" create "$name" --size 64K --message || fail "create"
committed=0
took() { # took N: N more messages went in
	committed=$((committed + $1))
	wait_field "$name" messages_in $committed
}

serve "$name" --listen "unix:$udir/s" --allow-uid 0 --framing lines
[ "$ADDR" = "unix:$udir/s" ] || fail "listening $ADDR"
[ -S "$udir/s" ] || fail "no socket file"
chmod 666 "$udir/s"
printf 'nobody-1\n' | as_nobody timeout -k 5 60 nc -N -U "$udir/s" >/dev/null 2>&1
wait_field "$name" bridge.refused 1
printf 'nobody-2\n' | as_nobody timeout -k 5 60 "$NS" write --connect "$ADDR" 2>"$tmp/err"
rc=$?
[ $rc = 1 ] || fail "write --connect as a refused uid: exit $rc: $(cat "$tmp/err")"
wait_field "$name" bridge.refused 2
grep -q 'refused uid 65534' "$SERVE_ERR" || fail "the refusal does not name the uid"
[ "$(field "$name" messages_in bridge.accepted)" = "0 0" ] || fail "a refused uid got in"
printf 'root-1\n' | T nc -N -U "$udir/s" || fail "nc as root"
printf 'root-2\n' | T "$S" write --connect "$ADDR" || fail "write --connect as root"
took 2
stop "$SERVE_PID"
[ -e "$udir/s" ] && fail "a stopped serve left its socket file"

serve "$name" --listen "unix:$udir/s" --allow-uid 65534,1234 --framing lines
chmod 666 "$udir/s"
printf 'nobody-3\n' | as_nobody timeout -k 5 60 nc -N -U "$udir/s" || fail "nc as 65534"
took 1
printf 'root-3\n' | T nc -N -U "$udir/s" >/dev/null 2>&1
wait_field "$name" bridge.refused 1
grep -q 'refused uid 0' "$SERVE_ERR" || fail "the refusal does not name uid 0"
stop "$SERVE_PID"
[ "$(T "$S" read "$name" --lines | tr '\n' ,)" = "root-1,root-2,nobody-3," ] || fail "the pipe holds the wrong lines"
committed=0
T "$S" rm "$name"
T "$S" create "$name" --size 64K --message || fail "create"

# ---------------------------------------------------- stale and live files
serve "$name" --listen "unix:$udir/stale" --framing lines
kill -9 "$SERVE_PID"
reap "$SERVE_PID"
[ -S "$udir/stale" ] || fail "SIGKILL took the socket file away: no stale file to test"
serve "$name" --listen "unix:$udir/stale" --framing lines
live=$SERVE_PID
printf 'after-stale\n' | T nc -N -U "$udir/stale" || fail "nc to the serve that replaced a stale socket"
took 1
T "$S" serve "$name" --listen "unix:$udir/stale" >"$tmp/out" 2>"$tmp/err"
rc=$?
[ $rc = 1 ] || fail "a second serve on a live socket: exit $rc, want 1"
grep -Fq "'unix:$udir/stale': in use by a live server" "$tmp/err" || fail "a second serve on a live socket said: $(cat "$tmp/err")"
[ -s "$tmp/out" ] && fail "a second serve on a live socket: $(cat "$tmp/out")"
[ -S "$udir/stale" ] || fail "the second serve removed the live socket file"
printf 'still-live\n' | T nc -N -U "$udir/stale" || fail "nc to the live serve after the second one"
took 1
[ "$(field "$name" bridge_pid)" = "$live" ] || fail "bridge_pid is not the live serve's"
stop "$live"
[ -e "$udir/stale" ] && fail "the socket file stays after serve"

echo keep >"$udir/file"
T "$S" serve "$name" --listen "unix:$udir/file" >"$tmp/out" 2>"$tmp/err"
rc=$?
[ $rc = 1 ] || fail "serve on a regular file: exit $rc, want 1"
[ "$(cat "$udir/file")" = keep ] || fail "serve took a regular file away"
[ "$(T "$S" read "$name" --lines | tr '\n' ,)" = "after-stale,still-live," ] || fail "the pipe holds the wrong lines"
T "$S" rm "$name"
echo ok
