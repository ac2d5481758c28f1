#!/bin/bash
# systemd_unit.sh - the unit template shmpipe-serve@.service as `make
# install` writes it: `systemd-analyze verify` accepts it (skipped where
# systemd-analyze is missing), its commands name the installed CLI and
# options that CLI really has, the sandboxing is there, and nothing in it
# would hide /dev/shm from other processes or remove the pipe on stop.
set -u
fail() { echo "FAIL: $*"; exit 1; }
root=$(cd "$(dirname "$0")/.." && pwd)
tmp=$(mktemp -d "${TMPDIR:-/tmp}/systemd_unit.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
make -s -C "$root" install DESTDIR="$tmp/inst" PREFIX=/usr B="$BUILD" >/dev/null ||
	fail "make install"
unit=$tmp/inst/usr/lib/systemd/system/shmpipe-serve@.service
[ -f "$unit" ] || fail "not installed: $unit"
[ -f "$tmp/inst/usr/lib/sysusers.d/shmpipe.conf" ] || fail "sysusers.d file not installed"
[ -f "$tmp/inst/usr/share/doc/shmpipe/shmpipe-serve.env.example" ] || fail "env example not installed"
grep -q '@[A-Z]*@' "$unit" && fail "unsubstituted: $(grep '@[A-Z]*@' "$unit")"

key() { sed -n "s/^$1=//p" "$unit"; }
[ "$(key ExecStart)" = '/usr/bin/shmpipe serve %i $SHMPIPE_SERVE_OPTIONS' ] ||
	fail "ExecStart: $(key ExecStart)"
grep -q '^ExecStartPre=/usr/bin/shmpipe create %i --exist-ok ' "$unit" || fail "ExecStartPre"
for k in NoNewPrivileges=yes ProtectSystem=strict ProtectHome=yes PrivateTmp=yes \
	RuntimeDirectory=shmpipe-%i User=shmpipe 'RestrictAddressFamilies=AF_UNIX AF_INET AF_INET6' \
	'CapabilityBoundingSet=' EnvironmentFile=/etc/shmpipe/%i.env; do
	grep -qxF "$k" "$unit" || fail "missing $k"
done
# Each of these would make the pipe invisible to others or delete it.
for k in DynamicUser=yes PrivateDevices=yes PrivateIPC=yes RemoveIPC=yes; do
	grep -qxF "$k" "$unit" && fail "$k must not be set (see the unit's comment)"
done
# The options the unit and the env example use exist in the CLI.
"$SHMPIPE" create --help | grep -q -- '--exist-ok' || fail "create has no --exist-ok"
eval "$(grep '^SHMPIPE_' "$tmp/inst/usr/share/doc/shmpipe/shmpipe-serve.env.example" | sed 's/=\(.*\)/="\1"/')"
for o in $SHMPIPE_CREATE_OPTIONS $SHMPIPE_SERVE_OPTIONS; do
	case $o in
	--*) "$SHMPIPE" "$( [[ " $SHMPIPE_CREATE_OPTIONS " == *" $o "* ]] && echo create || echo serve)" --help |
		grep -q -- "$o" || fail "env example uses unknown option $o" ;;
	esac
done

if ! command -v systemd-analyze >/dev/null; then
	echo "systemd-analyze not installed: verify skipped"
	exit 77
fi
# verify needs an instance and an existing ExecStart binary: point the
# copy at the CLI under test.
mkdir "$tmp/units"
sed "s|/usr/bin/shmpipe|$SHMPIPE|g" "$unit" >"$tmp/units/shmpipe-serve@t.service"
out=$(cd "$tmp/units" && SYSTEMD_LOG_LEVEL=warning systemd-analyze verify --man=no \
	"$tmp/units/shmpipe-serve@t.service" 2>&1)
rc=$?
# Messages about units other than ours (the host's) are not ours to judge.
mine=$(grep -F 'shmpipe-serve@' <<<"$out")
[ $rc -eq 0 ] && [ -z "$mine" ] || fail "systemd-analyze verify (rc $rc): $out"
# And it can fail: a misspelt directive is caught.
sed 's/^ProtectHome=yes/ProtectHom=yes/' "$tmp/units/shmpipe-serve@t.service" >"$tmp/units/shmpipe-serve@u.service"
bad=$(cd "$tmp/units" && systemd-analyze verify --man=no "$tmp/units/shmpipe-serve@u.service" 2>&1)
grep -q 'ProtectHom' <<<"$bad" || fail "verify did not catch a misspelt key: $bad"
echo ok
