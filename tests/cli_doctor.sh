#!/bin/bash
# cli_doctor.sh - `shmpipe doctor` reports the real values of this machine:
# --json parses, and its numbers are those of /proc/sys, getrlimit (ulimit)
# and statvfs (df); the robust futex test passes; the text names every
# check, the exit status follows the worst one; usage errors exit 2. Then,
# in a private mount namespace with an 8 MiB tmpfs on /dev/shm (the real
# one is never touched): doctor warns that /dev/shm is small, `create`
# refuses a 64 MiB pipe before allocating (exit 1, naming /dev/shm and the
# remount advice, nothing left), a pipe one page smaller than the tmpfs
# fills it exactly and one byte more is refused, a 1 MiB pipe works and is
# counted; with no free inode, or no /dev/shm at all, doctor fails (exit 1)
# and create says why. That part is skipped, with a message, where a mount
# namespace cannot be made.
set -u
S=$SHMPIPE
P=t-$$
tmp=$(mktemp -d "${TMPDIR:-/tmp}/cli_doctor.XXXXXX")
cleanup() {
	rm -f /dev/shm/shmpipe."$P"-*
	rm -rf "$tmp"
}
fail() {
	echo "FAIL: $*"
	exit 1
}
T() { timeout -k 5 60 "$@"; } # no command may hang the test

# flatten FILE: FILE.flat gets one "key.key=value" line per JSON value
# (true/false/null as such); fails when FILE does not parse.
flatten() {
	python3 - "$1" >"$1.flat" <<'EOF'
import json, sys
def walk(prefix, v):
    if isinstance(v, dict):
        for k, x in v.items():
            walk(prefix + [k], x)
    else:
        s = "null" if v is None else str(v).lower() if isinstance(v, bool) else str(v)
        print(".".join(prefix) + "=" + s)
walk([], json.load(open(sys.argv[1])))
EOF
}
# get FILE KEY.KEY...: one value of a JSON file (flattened once).
get() {
	[ -s "$1.flat" ] || flatten "$1" || return 1
	grep -m 1 "^$2=" "$1.flat" | cut -d= -f2- | grep .
}
# is FILE KEY WANT: the JSON value KEY of FILE is WANT.
is() {
	local got
	got=$(get "$1" "$2") || fail "$2 missing from $(cat "$1")"
	[ "$got" = "$3" ] || fail "doctor: $2 is '$got', want '$3'"
}
# statvfs FIELD: size or free of /dev/shm in bytes, as statvfs(3) says.
statvfs() {
	python3 -c 'import os, sys
s = os.statvfs("/dev/shm")
print(s.f_blocks * s.f_frsize if sys.argv[1] == "size" else s.f_bavail * s.f_frsize)' "$1"
}
# doctor_json FILE: run doctor --json into FILE; it must parse, and exit 1
# exactly when its status is fail.
doctor_json() {
	T "$S" doctor --json >"$1" 2>"$tmp/err"
	local rc=$? status
	rm -f "$1.flat"
	status=$(get "$1" status) || fail "doctor --json does not parse: $(cat "$1" "$tmp/err")"
	case $status/$rc in
	ok/0 | warn/0 | fail/1) ;;
	*) fail "doctor --json: status $status but exit $rc" ;;
	esac
}
PAGE=$(getconf PAGESIZE)
MIB=$((1024 * 1024))
labels=("/dev/shm" pipe-max-size pipe-user-pages-soft pipe-user-pages-hard
	mqueue RLIMIT_MSGQUEUE RLIMIT_MEMLOCK "robust futex" memfd_create
	namespaces container RemoveIPC "shmpipe objects")

# ------------------------------- in a private mount namespace (role "private")
if [ "${1:-}" = private ]; then
	tmp=$2 # the parent's, cleaned up by the parent
	mount --make-rprivate / 2>"$tmp/err" &&
		mount -t tmpfs -o size=8M,mode=1777 shmpipe-test /dev/shm 2>"$tmp/err" ||
		{ echo "cannot mount a private tmpfs on /dev/shm: $(cat "$tmp/err")"; exit 77; }
	empty() { [ -z "$(ls -A /dev/shm)" ] || fail "$1 left: $(ls -A /dev/shm)"; }
	empty "mounting"

	# Small: warned about, with the sizes and the way out.
	doctor_json "$tmp/d.json"
	is "$tmp/d.json" checks.dev_shm.status warn
	is "$tmp/d.json" checks.dev_shm.size $((8 * MIB))
	is "$tmp/d.json" checks.dev_shm.free $((8 * MIB))
	is "$tmp/d.json" checks.dev_shm.fstype tmpfs
	is "$tmp/d.json" checks.dev_shm.mounted true
	is "$tmp/d.json" checks.shmpipe_objects.objects 0
	advice=$(get "$tmp/d.json" checks.dev_shm.advice)
	for want in "small (8.0 MiB)" "mount -o remount,size=" "--shm-size"; do
		grep -qF -- "$want" <<<"$advice" || fail "small /dev/shm advice: '$advice' (want '$want')"
	done
	T "$S" doctor >"$tmp/d.txt" || fail "doctor exit $? with only warnings"
	grep -Eq '^/dev/shm +warn +tmpfs, 8\.0 MiB free of 8\.0 MiB$' "$tmp/d.txt" ||
		fail "doctor text: $(cat "$tmp/d.txt")"
	grep -Eq '^ +small \(8\.0 MiB\)' "$tmp/d.txt" || fail "no advice line: $(cat "$tmp/d.txt")"

	# Far too large: refused before anything is allocated.
	T "$S" create "$P-big" --size 64M 2>"$tmp/err" >/dev/null
	rc=$?
	[ $rc = 1 ] || fail "create 64M in 8M: exit $rc, want 1: $(cat "$tmp/err")"
	for want in "create '$P-big'" "not enough space in /dev/shm" \
		"64.0 MiB ($((64 * MIB + PAGE)) bytes)" "$((8 * MIB)) bytes free" \
		"tmpfs, 8.0 MiB free of 8.0 MiB" "mount -o remount,size=" "--shm-size"; do
		grep -qF -- "$want" "$tmp/err" || fail "refusal said: $(cat "$tmp/err") (want '$want')"
	done
	empty "a refused create"
	[ "$(statvfs free)" = $((8 * MIB)) ] || fail "a refused create used space"

	# The size create computes is the real one: a pipe one page smaller
	# than the tmpfs (one page of header) fills it exactly; a byte more is
	# refused by the same check.
	T "$S" create "$P-fit" --size $((8 * MIB - PAGE)) 2>"$tmp/err" ||
		fail "a pipe filling /dev/shm exactly: $(cat "$tmp/err")"
	[ "$(stat -c %s /dev/shm/shmpipe."$P-fit")" = $((8 * MIB)) ] ||
		fail "object of $(stat -c %s /dev/shm/shmpipe."$P-fit") bytes, want $((8 * MIB))"
	[ "$(statvfs free)" = 0 ] || fail "$(statvfs free) bytes free after filling /dev/shm"
	T "$S" rm "$P-fit" || fail "rm $P-fit"
	T "$S" create "$P-over" --size $((8 * MIB - PAGE + 1)) 2>"$tmp/err"
	rc=$?
	[ $rc = 1 ] || fail "one byte more than fits: exit $rc, want 1"
	grep -qF "($((8 * MIB + PAGE)) bytes)" "$tmp/err" || fail "one byte more said: $(cat "$tmp/err")"
	empty "refusing one byte too many"

	# A pipe that fits works, and doctor counts it.
	T "$S" create "$P-small" --size 1M || fail "create 1M in an 8M /dev/shm"
	echo hello | T "$S" write "$P-small" || fail "write"
	[ "$(T "$S" read "$P-small")" = hello ] || fail "read back"
	doctor_json "$tmp/d.json"
	is "$tmp/d.json" checks.shmpipe_objects.objects 1
	is "$tmp/d.json" checks.shmpipe_objects.pipes 1
	is "$tmp/d.json" checks.shmpipe_objects.bytes $((MIB + PAGE))
	is "$tmp/d.json" checks.dev_shm.free $((7 * MIB - PAGE))
	# What is left decides: 7 MiB is refused now, with what is free.
	T "$S" create "$P-7m" --size 7M 2>"$tmp/err"
	[ $? = 1 ] || fail "7M in what is left: $(cat "$tmp/err")"
	grep -qF "$((7 * MIB - PAGE)) bytes free" "$tmp/err" || fail "7M said: $(cat "$tmp/err")"
	T "$S" rm "$P-small" || fail "rm $P-small"
	empty "rm"

	# No free inode: doctor fails, create says so.
	mount -t tmpfs -o size=8M,nr_inodes=2,mode=1777 shmpipe-test2 /dev/shm || fail "mount nr_inodes=2"
	: >/dev/shm/filler
	T "$S" doctor --json >"$tmp/d.json"
	[ $? = 1 ] || fail "doctor with no free inode: exit 0, want 1"
	rm -f "$tmp/d.json.flat"
	is "$tmp/d.json" checks.dev_shm.status fail
	is "$tmp/d.json" checks.dev_shm.inodes_free 0
	T "$S" create "$P-ino" 2>"$tmp/err"
	[ $? = 1 ] || fail "create with no free inode: $(cat "$tmp/err")"
	grep -qF "no free inode" "$tmp/err" || fail "create with no inode said: $(cat "$tmp/err")"
	[ "$(ls -A /dev/shm)" = filler ] || fail "left: $(ls -A /dev/shm)"
	umount /dev/shm || fail "umount"

	# No /dev/shm at all (an empty /dev): doctor fails, create says so.
	mount -t tmpfs -o size=1M shmpipe-dev /dev || fail "mount an empty /dev"
	T "$S" doctor >"$tmp/d.txt" 2>&1
	[ $? = 1 ] || fail "doctor without /dev/shm: exit 0, want 1"
	grep -Eq '^/dev/shm +fail +missing' "$tmp/d.txt" || fail "without /dev/shm: $(cat "$tmp/d.txt")"
	T "$S" create "$P-none" >"$tmp/out" 2>"$tmp/err"
	[ $? = 1 ] || fail "create without /dev/shm: exit 0"
	grep -qF "no /dev/shm" "$tmp/err" && grep -qF "mount -t tmpfs" "$tmp/err" ||
		fail "create without /dev/shm said: $(cat "$tmp/err")"
	umount /dev || fail "umount /dev"
	exit 0
fi

trap cleanup EXIT

# ------------------------------------------------------ usage and help
T "$S" doctor --bogus >/dev/null 2>"$tmp/err"
rc=$?
[ $rc = 2 ] || fail "doctor --bogus: exit $rc, want 2"
grep -qF "Try 'shmpipe doctor --help'" "$tmp/err" || fail "doctor --bogus said: $(cat "$tmp/err")"
T "$S" doctor extra >/dev/null 2>&1
[ $? = 2 ] || fail "doctor with an argument should exit 2"
T "$S" doctor --help >"$tmp/help" || fail "doctor --help exit $?"
for l in "${labels[@]}" "Exit status"; do
	grep -qF -- "$l" "$tmp/help" || fail "doctor --help does not explain '$l'"
done
T "$S" --help | grep -Eq '^  doctor +show what limits IPC' || fail "shmpipe --help does not list doctor"

# ------------------------------------------------ the values of this machine
doctor_json "$tmp/d.json"
is "$tmp/d.json" checks.pipe_max_size.bytes "$(cat /proc/sys/fs/pipe-max-size)"
is "$tmp/d.json" checks.pipe_user_pages_soft.pages "$(cat /proc/sys/fs/pipe-user-pages-soft)"
is "$tmp/d.json" checks.pipe_user_pages_hard.pages "$(cat /proc/sys/fs/pipe-user-pages-hard)"
if [ -d /proc/sys/fs/mqueue ]; then
	for k in msg_max msgsize_max queues_max; do
		is "$tmp/d.json" checks.mqueue.$k "$(cat /proc/sys/fs/mqueue/$k)"
	done
fi
# ulimit -q is in bytes, -l in KiB; "unlimited" is null.
limit() {
	local v
	v=$(ulimit "$1" "$2")
	if [ "$v" = unlimited ]; then echo null; else echo $((v * $3)); fi
}
is "$tmp/d.json" checks.rlimit_msgqueue.soft "$(limit -S -q 1)"
is "$tmp/d.json" checks.rlimit_msgqueue.hard "$(limit -H -q 1)"
is "$tmp/d.json" checks.rlimit_memlock.soft "$(limit -S -l 1024)"
is "$tmp/d.json" checks.rlimit_memlock.hard "$(limit -H -l 1024)"
is "$tmp/d.json" checks.robust_futex.status ok
is "$tmp/d.json" checks.dev_shm.present true
is "$tmp/d.json" checks.dev_shm.size "$(statvfs size)"
[ "$(df -B1 --output=size /dev/shm | tail -n 1 | tr -d ' ')" = "$(get "$tmp/d.json" checks.dev_shm.size)" ] ||
	fail "doctor's /dev/shm size is not df's: $(df -B1 /dev/shm)"
[ "$(stat -f -c %T /dev/shm)" = tmpfs ] && is "$tmp/d.json" checks.dev_shm.fstype tmpfs
# Free space moves with whatever else runs here: doctor's figure must lie
# between statvfs before and after it, give or take 64 MiB; three tries.
for try in 1 2 3; do
	before=$(statvfs free)
	doctor_json "$tmp/f.json"
	after=$(statvfs free)
	got=$(get "$tmp/f.json" checks.dev_shm.free)
	lo=$((before < after ? before : after)) hi=$((before > after ? before : after))
	[ "$got" -ge $((lo - 64 * MIB)) ] && [ "$got" -le $((hi + 64 * MIB)) ] && break
	[ $try = 3 ] && fail "doctor's /dev/shm free $got, statvfs says $before then $after"
done
# Namespaces: compared with PID 1's where it can be read.
for ns in ipc mnt; do
	if init=$(readlink /proc/1/ns/$ns 2>/dev/null); then
		[ "$(readlink /proc/self/ns/$ns)" = "$init" ] && want=true || want=false
	else
		want=null
	fi
	is "$tmp/d.json" checks.namespaces.${ns}_same_as_pid1 $want
done
if [ -e /.dockerenv ] || [ -e /run/.containerenv ]; then
	is "$tmp/d.json" checks.container.detected true
fi
# RemoveIPC: the last [Login] setting of logind.conf and its drop-ins.
want=$(python3 - <<'EOF'
import glob, os
files = ["/etc/systemd/logind.conf"] + sorted(glob.glob("/etc/systemd/logind.conf.d/*.conf"))
found, value = False, True  # logind's default is yes
for f in files:
    if not os.path.exists(f):
        continue
    found, section = True, None
    for line in open(f):
        line = line.strip()
        if line.startswith("["):
            section = line
        elif section == "[Login]" and line.split("=")[0].strip() == "RemoveIPC":
            value = line.split("=", 1)[1].strip().lower() in ("yes", "true", "on", "1")
print(("true" if value else "false") if found else "null")
EOF
)
is "$tmp/d.json" checks.remove_ipc.remove_ipc "$want"

# The text names every check, in aligned columns, with the same values.
T "$S" doctor >"$tmp/d.txt"
rc=$?
[ $rc = "$(get "$tmp/d.json" status | sed 's/fail/1/; s/ok/0/; s/warn/0/')" ] ||
	fail "doctor exit $rc, JSON status $(get "$tmp/d.json" status)"
for l in "${labels[@]}"; do
	grep -Eq "^$l +(ok|warn|fail) +[^ ]" "$tmp/d.txt" || fail "doctor text has no line for '$l': $(cat "$tmp/d.txt")"
done
grep -Eq "^pipe-max-size +ok +$(cat /proc/sys/fs/pipe-max-size) bytes" "$tmp/d.txt" ||
	fail "pipe-max-size line: $(grep pipe-max-size "$tmp/d.txt")"
grep -Eq '^robust futex +ok +.*EOWNERDEAD' "$tmp/d.txt" || fail "robust futex line: $(grep robust "$tmp/d.txt")"
# Every check not ok is followed by one indented line saying why.
python3 - "$tmp/d.txt" <<'EOF' || fail "advice lines: $(cat "$tmp/d.txt")"
import re, sys
lines = open(sys.argv[1]).read().splitlines()
for i, l in enumerate(lines):
    m = re.match(r"^\S.*?  (ok|warn|fail)  ", l)
    if not m:
        continue
    nxt = lines[i + 1] if i + 1 < len(lines) else ""
    if (m.group(1) != "ok") != nxt.startswith(" "):
        sys.exit("%r then %r" % (l, nxt))
EOF

# ------------------------------------------- in a private, small /dev/shm
if ! unshare -m true 2>/dev/null; then
	echo "not checked: a small private /dev/shm (unshare -m is not permitted here)"
	exit 0
fi
unshare -m "$0" private "$tmp"
rc=$?
case $rc in
0) ;;
77) echo "not checked: a small private /dev/shm (mount not permitted)" ;;
*) exit 1 ;;
esac
# The real /dev/shm never saw any of it.
ls /dev/shm/shmpipe."$P"-* >/dev/null 2>&1 && fail "the real /dev/shm has $(ls /dev/shm/shmpipe."$P"-*)"
echo ok
