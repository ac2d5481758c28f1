#!/bin/sh
# scripts/deps.sh GROUP... - make sure the Debian packages a make target
# needs are there. As root, missing ones are installed with apt-get; as
# anyone else the exact command to run is printed and we go on (the tests
# that need a missing tool skip themselves, exit 77).
#   check  what `make check` uses (clients for the bridge tests too)
#   bench  the competitors of `make bench`   ci  a second compiler (clang)
#   torture  clang (libFuzzer) and spin (the model checker) for `make torture`
set -u
need=""
want() { # want COMMAND PACKAGE
	command -v "$1" >/dev/null 2>&1 || need="$need $2"
}
for group in "$@"; do
	case $group in
	check)
		want pkg-config pkgconf
		want python3 python3
		want setpriv util-linux
		want socat socat
		want nc netcat-openbsd
		want ip iproute2
		want groff groff-base
		want mandoc mandoc
		;;
	bench)
		want socat socat
		want nc netcat-openbsd
		want mbuffer mbuffer
		want python3 python3
		want gnuplot gnuplot-nox
		;;
	ci)
		want clang clang
		;;
	torture)
		want clang clang
		want spin spin
		;;
	*) echo "deps.sh: unknown group '$group'" >&2; exit 2 ;;
	esac
done
[ -z "$need" ] && exit 0
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
	echo "deps.sh: installing:$need"
	# The package lists may be missing on a fresh machine: update once.
	if ! apt-get install -y --no-install-recommends $need >/dev/null 2>&1; then
		apt-get update -qq >/dev/null 2>&1
		apt-get install -y --no-install-recommends $need >/dev/null ||
			{ echo "deps.sh: apt-get install$need failed" >&2; exit 1; }
	fi
else
	echo "deps.sh: missing:$need; install with: sudo apt-get install -y$need" >&2
fi
exit 0
