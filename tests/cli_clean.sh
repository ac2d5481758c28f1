#!/bin/bash
# cli_clean.sh - stale objects are reclaimed, live ones never touched.
# After a crash loop (writers SIGKILLed while attached to 5 pipes),
# `shmpipe ls` flags those pipes dead and `shmpipe clean` removes them
# and the temporary file of a creator that died mid-creation, while at the
# same moment a live pipe in use (a reader blocked in it) and an idle pipe
# holding data survive and keep working. /dev/shm entries and the live
# reader's open fds are counted before and after; --dry-run removes
# nothing; a temporary file of a live pid, or a fresh one, is kept. The
# runs are limited to this test's pipes ("$P-*"): other dead pipes on the
# machine are not ours to remove.
set -u
S=$SHMPIPE
P=t-$$
tmp=$(mktemp -d "${TMPDIR:-/tmp}/cli_clean.XXXXXX")
pids=()
cleanup() {
	for p in "${pids[@]}" $(cat /proc/$$/task/*/children 2>/dev/null); do
		kill -9 "$p" 2>/dev/null
	done
	wait 2>/dev/null
	"$S" rm -f "$P-live" "$P-idle" $(for i in 1 2 3 4 5; do echo "$P-dead$i"; done)
	rm -f /dev/shm/.shmpipe-tmp.$$.* /dev/shm/.shmpipe-tmp."$deadpid".* 2>/dev/null
	rm -rf "$tmp"
}
trap cleanup EXIT
fail() { echo "FAIL: $*"; exit 1; }
state() { "$S" ls | awk -v n="$1" '$1 == n { print $NF }'; }
entries() { ls -A /dev/shm | grep -c -e "^shmpipe\.$P-" -e '^\.shmpipe-tmp\.'"$$"'\.' -e '^\.shmpipe-tmp\.'"$deadpid"'\.'; }

# A pid that is surely gone: a child we started and reaped.
sh -c 'exit 0' & deadpid=$!
wait $deadpid

# Crash loop: a writer attaches to each pipe and is SIGKILLed there.
for i in 1 2 3 4 5; do
	"$S" create "$P-dead$i" --size 64K || fail "create dead$i"
	sleep 60 | "$S" write "$P-dead$i" &
	w=$!
	pids+=($w)
	w=$(pgrep -P "$$" -f "write $P-dead$i" | head -n 1)
	for _ in $(seq 100); do [ "$(state "$P-dead$i")" = live ] && break; sleep 0.05; done
	[ "$(state "$P-dead$i")" = live ] || fail "dead$i: the writer never attached"
	kill -9 "$w"
	for _ in $(seq 100); do [ "$(state "$P-dead$i")" = dead ] && break; sleep 0.05; done
	[ "$(state "$P-dead$i")" = dead ] || fail "ls does not flag $P-dead$i dead: $("$S" ls | grep "$P-dead$i")"
done

# A live pipe in use: a reader attached, waiting for data.
"$S" create "$P-live" --size 64K || fail "create live"
"$S" read "$P-live" >"$tmp/live.out" &
reader=$!
pids+=($reader)
for _ in $(seq 100); do [ "$(state "$P-live")" = live ] && break; sleep 0.05; done
[ "$(state "$P-live")" = live ] || fail "the live reader never attached"
# An idle pipe: nobody attached, data waiting.
"$S" create "$P-idle" --size 64K || fail "create idle"
echo "kept" | "$S" write "$P-idle" || fail "write idle"
[ "$(state "$P-idle")" = idle ] || fail "idle pipe shows $(state "$P-idle")"
# Temporary files: of a dead creator (old: stale), of a live pid (ours:
# kept), of a dead creator but fresh (kept: it might be a live creator in
# another pid namespace).
touch -d '-5 minutes' "/dev/shm/.shmpipe-tmp.$deadpid.0.1" "/dev/shm/.shmpipe-tmp.$$.0.2"
touch "/dev/shm/.shmpipe-tmp.$deadpid.0.3"

before=$(entries)
fds_before=$(ls /proc/$reader/fd | wc -l)
[ "$before" = 10 ] || fail "expected 10 entries before, got $before"

out=$("$S" clean --dry-run "$P-*") || fail "clean --dry-run exit $?"
[ "$(entries)" = "$before" ] || fail "--dry-run removed something"
for i in 1 2 3 4 5; do grep -q "would remove dead pipe '$P-dead$i'" <<<"$out" || fail "dry run: $out"; done
grep -q "\.shmpipe-tmp\.$deadpid\.0\.1" <<<"$out" || fail "dry run misses the stale temp file: $out"

out=$("$S" clean "$P-*") || fail "clean exit $?"
echo "$out"
for i in 1 2 3 4 5; do
	[ -e "/dev/shm/shmpipe.$P-dead$i" ] && fail "$P-dead$i survived clean"
done
[ -e "/dev/shm/.shmpipe-tmp.$deadpid.0.1" ] && fail "the stale temp file survived"
[ -e "/dev/shm/.shmpipe-tmp.$$.0.2" ] || fail "clean removed the temp file of a live pid"
[ -e "/dev/shm/.shmpipe-tmp.$deadpid.0.3" ] || fail "clean removed a fresh temp file"
[ -e "/dev/shm/shmpipe.$P-live" ] || fail "clean removed the live pipe"
[ -e "/dev/shm/shmpipe.$P-idle" ] || fail "clean removed the idle pipe"
after=$(entries)
[ "$after" = $((before - 6)) ] || fail "entries: $before before, $after after, want $((before - 6))"
[ "$(ls /proc/$reader/fd | wc -l)" = "$fds_before" ] || fail "the live reader's fds changed"
grep -q "removed 5 dead pipes" <<<"$out" || fail "summary: $out"

# The survivors work: the live reader gets what is written now and ends
# at end of file; the idle pipe's data is still there.
echo "hello" | "$S" write "$P-live" || fail "write live"
for _ in $(seq 100); do kill -0 $reader 2>/dev/null || break; sleep 0.05; done
wait $reader || fail "the live reader failed"
[ "$(cat "$tmp/live.out")" = hello ] || fail "the live reader got: $(cat "$tmp/live.out")"
[ "$("$S" read -t 1 "$P-idle")" = kept ] || fail "the idle pipe lost its data"

# Nothing left to do: a second run removes nothing.
out=$("$S" clean "$P-*") || fail "second clean exit $?"
grep -q "removed 0 dead pipes" <<<"$out" || fail "second clean: $out"
"$S" clean --bogus 2>/dev/null; [ $? = 2 ] || fail "clean --bogus should be a usage error"
echo ok
