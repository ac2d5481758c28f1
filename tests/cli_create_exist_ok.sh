#!/bin/bash
# cli_create_exist_ok.sh - `shmpipe create --exist-ok` (what the systemd
# unit runs before `serve`): an existing pipe of the same kind and
# capacity is kept with its data; a different one is an error naming
# both; with --force it is a usage error; a missing one is created.
set -u
fail() { echo "FAIL: $*"; exit 1; }
S=$SHMPIPE
n=t-$$-keep
trap '"$S" rm -f "$n"' EXIT
"$S" create "$n" --size 64K --exist-ok || fail "create a missing pipe with --exist-ok"
printf 'kept\n' | "$S" write "$n" || fail "write"
"$S" create "$n" --size 64K --exist-ok || fail "same kind and size: exit $?"
[ "$("$S" read -t 1 "$n")" = kept ] || fail "the data was not kept"
err=$("$S" create "$n" --size 128K --exist-ok 2>&1); rc=$?
[ $rc -eq 1 ] || fail "other capacity: exit $rc"
grep -q "exists as a stream pipe of 64.0 KiB, not a stream pipe of 128.0 KiB" <<<"$err" ||
	fail "other capacity: $err"
err=$("$S" create "$n" --size 64K --message --exist-ok 2>&1); rc=$?
[ $rc -eq 1 ] && grep -q "not a message pipe" <<<"$err" || fail "other kind: $rc $err"
err=$("$S" create "$n" --size 64K --exist-ok --force 2>&1); rc=$?
[ $rc -eq 2 ] && grep -q contradict <<<"$err" || fail "--force --exist-ok: $rc $err"
# Without --exist-ok an existing pipe is still an error.
"$S" create "$n" --size 64K 2>/dev/null && fail "create over an existing pipe succeeded"
[ "$("$S" ls --json | python3 -c 'import json,sys; print(len([p for p in json.load(sys.stdin) if p["name"]=="'"$n"'"]))')" = 1 ] ||
	fail "ls does not show exactly one $n"
echo ok
