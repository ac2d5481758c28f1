#!/bin/bash
# cli_basic.sh - `shmpipe --help`, `--version`, and usage errors (exit 2).
set -u
fail() { echo "FAIL: $*"; exit 1; }
out=$("$SHMPIPE" --help) || fail "--help exit $?"
grep -q '^Usage: shmpipe COMMAND' <<<"$out" || fail "--help: $out"
ver=$(sed -n 's/^#define SHMPIPE_VERSION_STRING "\(.*\)"/\1/p' "$(dirname "$0")/../include/shmpipe.h")
out=$("$SHMPIPE" --version) || fail "--version exit $?"
[ "$out" = "shmpipe $ver (library $ver)" ] || fail "--version: '$out'"
"$SHMPIPE" >/dev/null 2>&1; [ $? -eq 2 ] || fail "no command should exit 2"
err=$("$SHMPIPE" frobnicate 2>&1 >/dev/null); rc=$?
[ $rc -eq 2 ] || fail "unknown command exit $rc"
grep -q "unknown command 'frobnicate'" <<<"$err" || fail "message: $err"
echo ok
