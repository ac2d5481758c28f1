#!/bin/bash
# exports.sh - libshmpipe.so exports exactly the public API: every symbol
# is shmpipe_* (no shmpipe__ internals, nothing else), every function the
# header declares is exported, and the header compiles on its own as C11
# (pedantic) and as C++.
set -eu
root=$(cd "$(dirname "$0")/.." && pwd)
lib="$BUILD/libshmpipe.so"
syms=$(nm -D --defined-only "$lib" | awk '$2 == "T" || $2 == "D" || $2 == "B" {print $3}' | sed 's/@.*//' | sort -u)
bad=$(echo "$syms" | grep -v '^shmpipe_[a-z]' || true)
[ -z "$bad" ] || { echo "FAIL: unexpected exports: $bad"; exit 1; }
declared=$(grep -o 'SHMPIPE_API[^(]*[ *]\(shmpipe_[a-z0-9_]*\)(' "$root/include/shmpipe.h" |
	sed 's/.*\(shmpipe_[a-z0-9_]*\)(/\1/' | sort -u)
missing=$(comm -23 <(echo "$declared") <(echo "$syms"))
[ -z "$missing" ] || { echo "FAIL: declared but not exported: $missing"; exit 1; }
n=$(echo "$declared" | wc -l)
[ "$n" -ge 30 ] || { echo "FAIL: only $n declarations found"; exit 1; }
t=$(mktemp -d); trap 'rm -rf "$t"' EXIT
echo '#include "shmpipe.h"' >"$t/h.c"
cc -std=c11 -pedantic -Wall -Wextra -Werror -I"$root/include" -c -o "$t/h.o" "$t/h.c"
if command -v c++ >/dev/null; then
	cp "$t/h.c" "$t/h.cc"
	c++ -Wall -Wextra -Werror -I"$root/include" -c -o "$t/hh.o" "$t/h.cc"
fi
echo "$n public functions, all exported, nothing else"
