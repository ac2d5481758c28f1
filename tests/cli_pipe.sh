#!/bin/bash
# cli_pipe.sh - the pipe commands of the CLI, end to end: create (sizes,
# kinds, modes, --force, errors), write/read round trips (raw, --lines from
# concurrent writers, --len32 frames), read --count/--timeout, a unit larger
# than the pipe, at-least-once delivery when stdout closes, stat and
# stat --json counters, ls (with a dead pipe), rm, and --help everywhere.
# Every pipe is named t-PID-...; all are removed on exit, failed or not.
set -u
S=$SHMPIPE
P=t-$$
tmp=$(mktemp -d "${TMPDIR:-/tmp}/cli_pipe.XXXXXX")
bg=() # background processes to kill on exit

cleanup() {
	for p in "${bg[@]}"; do kill -9 "$p" 2>/dev/null; done
	wait 2>/dev/null
	rm -f /dev/shm/shmpipe."$P"-*
	rm -rf "$tmp"
}
trap cleanup EXIT
fail() {
	echo "FAIL: $*"
	exit 1
}
T() { timeout -k 5 60 "$@"; } # no command may hang the test

# await_writers NAME N: wait (10 s at most) until N writers are attached.
await_writers() {
	for _ in $(seq 100); do
		[ "$(field "$1" writers)" = "$2" ] && return 0
		sleep 0.1
	done
	fail "$1: never $2 writers attached"
}
# field NAME KEY: one value from `stat --json`.
field() {
	T "$S" stat --json "$1" |
		python3 -c "import json, sys; v = json.load(sys.stdin)['$2']; print(str(v).lower() if isinstance(v, bool) else v)"
}
# expect_fail CODE REGEX COMMAND...: exits CODE, stderr matches REGEX.
expect_fail() {
	local code=$1 re=$2 rc
	shift 2
	T "$@" >/dev/null 2>"$tmp/err"
	rc=$?
	[ $rc -eq "$code" ] || fail "'$*' exit $rc, want $code: $(cat "$tmp/err")"
	grep -Eq -- "$re" "$tmp/err" || fail "'$*' said: $(cat "$tmp/err") (want /$re/)"
}

# ------------------------------------------------------------- create
for spec in "4096 4096" "2k 2048" "64K 65536" "4KiB 4096" "3M 3145728" \
	"1G 1073741824"; do
	set -- $spec
	if ! T "$S" create "$P-size" --size "$1" 2>"$tmp/err"; then
		# A small /dev/shm may not hold 1G: that must be the reason.
		[ "$1" = 1G ] && grep -q 'not enough space' "$tmp/err" && continue
		fail "create --size $1: $(cat "$tmp/err")"
	fi
	[ "$(field "$P-size" capacity)" = "$2" ] || fail "--size $1 gave capacity $(field "$P-size" capacity)"
	[ "$(field "$P-size" kind)" = stream ] || fail "default kind"
	T "$S" rm "$P-size" || fail "rm after --size $1"
done
T "$S" create "$P-msg" --size 64K --message || fail "create --message"
[ "$(field "$P-msg" kind)" = message ] || fail "--message kind"
T "$S" rm "$P-msg"

# Exactly the mode asked for, whatever the umask; 600 by default.
(umask 077 && T "$S" create "$P-mode" --mode 640) || fail "create --mode 640"
[ "$(stat -c %a /dev/shm/shmpipe."$P-mode")" = 640 ] || fail "mode $(stat -c %a /dev/shm/shmpipe."$P-mode"), want 640"
(umask 077 && T "$S" create "$P-mode2" --mode 0666) || fail "create --mode 0666"
[ "$(stat -c %a /dev/shm/shmpipe."$P-mode2")" = 666 ] || fail "mode 0666 under umask 077"
(umask 000 && T "$S" create "$P-mode3") || fail "create"
[ "$(stat -c %a /dev/shm/shmpipe."$P-mode3")" = 600 ] || fail "default mode under umask 000"
T "$S" rm "$P-mode" "$P-mode2" "$P-mode3" || fail "rm of three"

# An existing name: exit 1 naming the pipe; --force replaces it (empty).
T "$S" create "$P-ex" --size 4K || fail "create"
echo hello | T "$S" write "$P-ex" || fail "write"
expect_fail 1 "'$P-ex'.*exists" "$S" create "$P-ex"
[ "$(field "$P-ex" bytes_buffered)" = 6 ] || fail "failed create touched the pipe"
T "$S" create "$P-ex" --size 8K --message --force || fail "create --force"
[ "$(field "$P-ex" bytes_buffered)" = 0 ] || fail "--force kept the data"
[ "$(field "$P-ex" capacity)" = 8192 ] || fail "--force kept the old size"
[ "$(field "$P-ex" kind)" = message ] || fail "--force kept the old kind"
T "$S" rm "$P-ex"

# Bad sizes, modes and names: usage errors (2), or 1 for a real failure.
expect_fail 2 "bad size '12Q'" "$S" create "$P-bad" --size 12Q
expect_fail 2 "bad size '0'" "$S" create "$P-bad" --size 0
expect_fail 2 "bad size '-5'" "$S" create "$P-bad" --size -5
expect_fail 2 "bad size '1.5M'" "$S" create "$P-bad" --size 1.5M
expect_fail 2 "bad size" "$S" create "$P-bad" --size 99999999999999999999
expect_fail 2 "at least 16 bytes" "$S" create "$P-bad" --size 8 --message
expect_fail 1 "'$P-bad'.*(space|too large)" "$S" create "$P-bad" --size 100T
expect_fail 2 "bad mode '999'" "$S" create "$P-bad" --mode 999
expect_fail 2 "bad mode '4755'" "$S" create "$P-bad" --mode 4755
expect_fail 2 "bad mode 'rw'" "$S" create "$P-bad" --mode rw
expect_fail 2 "invalid name" "$S" create "a/b"
expect_fail 2 "invalid name" "$S" create ".."
expect_fail 2 "invalid name" "$S" create "$(printf 'x%.0s' {1..300})"
expect_fail 2 "expected one pipe NAME" "$S" create
expect_fail 2 "Try 'shmpipe create --help'" "$S" create "$P-bad" --size 12Q
[ -e /dev/shm/shmpipe."$P-bad" ] && fail "a failed create left $P-bad"

# -------------------------------------------- 100 MiB through 1 MiB, at once
gen() { python3 -c 'import random, sys
r = random.Random(7)
for _ in range(100): sys.stdout.buffer.write(r.randbytes(1 << 20))'; }
T "$S" create "$P-big" --size 1M || fail "create big"
want=$(gen | sha256sum)
# The reader starts first and the writer must overlap it: 100 MiB cannot
# wait in a 1 MiB pipe.
T "$S" read "$P-big" | sha256sum >"$tmp/got" &
reader=$!
bg+=($reader)
gen | T "$S" write "$P-big" || fail "write 100 MiB"
wait $reader || fail "read 100 MiB"
[ "$(cat "$tmp/got")" = "$want" ] || fail "100 MiB: sha256 $(cat "$tmp/got"), want $want"
[ "$(field "$P-big" bytes_out)" = 104857600 ] || fail "bytes_out after 100 MiB"
T "$S" rm "$P-big"

# ---------------------------------------- --lines from 4 writers at once
# A writer held open through a FIFO keeps end of file away until all four
# have finished, whatever order they start in.
check_lines() { # FILE: every line once, whole, per-writer order kept
	python3 - "$1" <<'EOF'
import re, sys
seqs = {w: [] for w in "abcd"}
for line in open(sys.argv[1]):
    m = re.fullmatch(r"([abcd]) (\d+) \1-\2-x{20}\n", line)
    if not m:
        sys.exit("torn or foreign line: %r" % line)
    seqs[m.group(1)].append(int(m.group(2)))
for w, s in seqs.items():
    if s != list(range(1, 20001)):
        sys.exit("writer %s: %d lines, in order: %s" % (w, len(s), s == sorted(s)))
EOF
}
for kind in --message ""; do
	T "$S" create "$P-lines" --size 64K $kind || fail "create lines"
	mkfifo "$tmp/keep"
	T "$S" write "$P-lines" <"$tmp/keep" &
	keeper=$!
	bg+=($keeper)
	exec 3>"$tmp/keep"
	await_writers "$P-lines" 1
	writers=()
	for w in a b c d; do
		# (3>&-: only this shell may hold the keeper's FIFO open)
		awk -v w=$w 'BEGIN { for (i = 1; i <= 20000; i++)
			printf "%s %d %s-%d-xxxxxxxxxxxxxxxxxxxx\n", w, i, w, i }' 3>&- |
			T "$S" write "$P-lines" --lines 3>&- &
		writers+=($!)
		bg+=($!)
	done
	T "$S" read "$P-lines" --lines >"$tmp/lines" 3>&- &
	reader=$!
	bg+=($reader)
	for p in "${writers[@]}"; do wait "$p" || fail "write --lines ($kind)"; done
	exec 3>&-
	wait $keeper || fail "keeper writer"
	wait $reader || fail "read --lines ($kind)"
	rm -f "$tmp/keep"
	check_lines "$tmp/lines" || fail "--lines ${kind:---stream}"
	[ "$(field "$P-lines" bytes_buffered)" = 0 ] || fail "lines left"
	T "$S" rm "$P-lines"
done

# ------------------------------------------------------------ --len32
python3 - "$tmp/frames" <<'EOF'
import random, struct, sys
r = random.Random(3)
sizes = [r.randint(1, 3000) for _ in range(400)] + [1, 65528, 2, 8, 7, 9]
with open(sys.argv[1], "wb") as f:
    for n in sizes:
        f.write(struct.pack(">I", n) + r.randbytes(n))
EOF
for kind in --message ""; do
	T "$S" create "$P-len" --size 64K $kind || fail "create len32"
	T "$S" read "$P-len" --len32 >"$tmp/frames.out" &
	reader=$!
	bg+=($reader)
	T "$S" write "$P-len" --len32 <"$tmp/frames" || fail "write --len32 $kind"
	wait $reader || fail "read --len32 $kind"
	cmp -s "$tmp/frames" "$tmp/frames.out" || fail "--len32 ${kind:---stream} round trip differs"
	if [ "$kind" = --message ]; then
		[ "$(field "$P-len" messages_out)" = 406 ] || fail "406 frames, 406 messages"
	fi
	# A frame larger than the pipe: an error naming it, nothing written.
	python3 -c 'import struct, sys; sys.stdout.buffer.write(struct.pack(">I", 70000) + bytes(70000))' >"$tmp/huge"
	in=$(field "$P-len" bytes_in)
	expect_fail 1 "larger than the pipe can hold" "$S" write "$P-len" --len32 <"$tmp/huge"
	[ "$(field "$P-len" bytes_in)" = "$in" ] || fail "part of a huge frame went in"
	T "$S" rm "$P-len"
done

# --------------------------------------------------------- read --count
T "$S" create "$P-count" --size 64K --message || fail "create"
seq 1 10 | T "$S" write "$P-count" --lines || fail "write 10 lines"
[ "$(T "$S" read "$P-count" --lines --count 3 | tr '\n' ,)" = "1,2,3," ] || fail "read --count 3"
[ "$(field "$P-count" messages_buffered)" = 7 ] || fail "--count 3 left $(field "$P-count" messages_buffered)"
[ "$(T "$S" read "$P-count" --lines | tr '\n' ,)" = "4,5,6,7,8,9,10," ] || fail "the rest after --count"
T "$S" rm "$P-count"
T "$S" create "$P-count" --size 64K || fail "create"
seq 1 10 | T "$S" write "$P-count" --lines || fail "write 10 lines (stream)"
[ "$(T "$S" read "$P-count" --lines --count 4 | tr '\n' ,)" = "1,2,3,4," ] || fail "stream read --lines --count 4"
[ "$(field "$P-count" bytes_buffered)" = 13 ] || fail "stream --count 4 left $(field "$P-count" bytes_buffered) bytes"
[ "$(T "$S" read "$P-count" --count 2)" = 5 ] || fail "raw --count 2 bytes"
[ "$(T "$S" read "$P-count" | tr '\n' ,)" = "6,7,8,9,10," ] || fail "stream rest after --count"
T "$S" rm "$P-count"

# ------------------------------------------------------- read --timeout
T "$S" create "$P-to" || fail "create"
start=${EPOCHREALTIME/./}
expect_fail 1 "'$P-to'.*timed out" "$S" read "$P-to" --timeout 0.5
took_ms=$(((${EPOCHREALTIME/./} - start) / 1000))
[ $took_ms -ge 400 ] && [ $took_ms -lt 10000 ] || fail "--timeout 0.5 took $took_ms ms"
# Data and a writer that stays: the data, then exit 0 at the timeout.
mkfifo "$tmp/keep"
T "$S" write "$P-to" <"$tmp/keep" &
keeper=$!
bg+=($keeper)
exec 3>"$tmp/keep"
await_writers "$P-to" 1
echo data | T "$S" write "$P-to" 3>&- || fail "write"
out=$(T "$S" read "$P-to" --timeout 0.5 3>&-) || fail "read --timeout with data: exit $?"
[ "$out" = data ] || fail "read --timeout with data gave '$out'"
exec 3>&-
wait $keeper
rm -f "$tmp/keep"
T "$S" rm "$P-to"

# ------------------------------------------- a unit larger than the pipe
for kind in --message ""; do
	T "$S" create "$P-long" --size 4K $kind || fail "create"
	{ echo ok; printf 'y%.0s' {1..5000}; echo; } >"$tmp/long"
	expect_fail 1 "'$P-long'.*larger than the pipe can hold" "$S" write "$P-long" --lines <"$tmp/long"
	[ "$(field "$P-long" messages_in)" = 1 ] || fail "the line before the long one"
	[ "$(T "$S" read "$P-long" --lines)" = ok ] || fail "the long line went in ($kind)"
	T "$S" rm "$P-long"
done

# -------------------------------- stdout closed: the rest stays in the pipe
T "$S" create "$P-head" --size 2M || fail "create"
python3 -c 'import random, sys
sys.stdout.buffer.write(random.Random(5).randbytes(1500000))' >"$tmp/head.in"
T "$S" write "$P-head" <"$tmp/head.in" || fail "write 1.5 MB"
T "$S" read "$P-head" | head -c 10 >/dev/null
[ "${PIPESTATUS[0]}" = 1 ] || fail "read into a closed stdout: exit ${PIPESTATUS[0]}"
out=$(field "$P-head" bytes_out)
left=$(field "$P-head" bytes_buffered)
[ "$left" -gt 0 ] && [ $((out + left)) = 1500000 ] || fail "closed stdout: out $out + left $left != 1500000"
T "$S" read "$P-head" >"$tmp/head.rest" || fail "read the rest"
cmp -s "$tmp/head.rest" <(tail -c +$((out + 1)) "$tmp/head.in") || fail "the rest is not what was left"
T "$S" rm "$P-head"

T "$S" create "$P-head" --size 4M --message || fail "create"
python3 -c 'import sys
for i in range(300): print("%04d" % i + "m" * 9995)' >"$tmp/head.in"
T "$S" write "$P-head" --lines <"$tmp/head.in" || fail "write 300 messages"
T "$S" read "$P-head" --lines | head -c 10 >/dev/null
[ "${PIPESTATUS[0]}" = 1 ] || fail "message read into a closed stdout: exit ${PIPESTATUS[0]}"
out=$(field "$P-head" messages_out)
left=$(field "$P-head" messages_buffered)
[ "$left" -gt 0 ] && [ $((out + left)) = 300 ] || fail "closed stdout: out $out + left $left != 300"
T "$S" read "$P-head" --lines >"$tmp/head.rest" || fail "read the rest"
cmp -s "$tmp/head.rest" <(tail -n +$((out + 1)) "$tmp/head.in") || fail "the rest is not the messages left"
T "$S" rm "$P-head"

# ------------------------------------------------------ stat and --json
T "$S" create "$P-st" --size 64K --message || fail "create"
printf 'a\nbb\nccc\n' | T "$S" write "$P-st" --lines || fail "write"
T "$S" read "$P-st" --count 1 >/dev/null || fail "read --count 1"
T "$S" stat --json "$P-st" >"$tmp/json" || fail "stat --json"
python3 - "$tmp/json" "$P-st" <<'EOF' || fail "stat --json counters"
import json, sys
st = json.load(open(sys.argv[1]))
want = dict(name=sys.argv[2], kind="message", capacity=65536, bytes_in=6,
            bytes_out=1, bytes_buffered=5, messages_in=3, messages_out=1,
            messages_buffered=2, writers=0, readers=0, writers_ever=True,
            writer_lock_holder=0, reader_lock_holder=0, state="idle",
            procs=[])
bad = {k: (st.get(k), v) for k, v in want.items() if st.get(k) != v}
if bad:
    sys.exit("stat --json: (got, want) %r" % bad)
if st.get("fill", 32) != 32 or st["high_water"] != 48:  # 16 bytes a message
    sys.exit("fill %r high water %r" % (st.get("fill"), st["high_water"]))
EOF
T "$S" stat "$P-st" >"$tmp/human" || fail "stat"
grep -q "^pipe $P-st: message, capacity 65536" "$tmp/human" || fail "stat: $(cat "$tmp/human")"
grep -Eq "^ +in +6 bytes, 3 messages" "$tmp/human" || fail "stat in: $(cat "$tmp/human")"
grep -Eq "^ +out +1 bytes, 1 messages" "$tmp/human" || fail "stat out: $(cat "$tmp/human")"
grep -Eq "buffered +5 bytes in 2 messages" "$tmp/human" || fail "stat buffered: $(cat "$tmp/human")"
T "$S" rm "$P-st"
expect_fail 1 "'$P-none'.*no such pipe" "$S" stat "$P-none"
expect_fail 2 "expected one pipe NAME" "$S" stat

# ---------------------------------------------------- ls, and a dead pipe
T "$S" create "$P-dead" --size 4K || fail "create"
head -c 100K /dev/zero | "$S" write "$P-dead" &
writer=$!
bg+=($writer)
for i in $(seq 100); do # the writer fills the pipe and blocks
	[ "$(field "$P-dead" bytes_buffered)" = 4096 ] && break
	sleep 0.1
done
[ "$(field "$P-dead" writers)" = 1 ] || fail "blocked writer not attached"
T "$S" ls >"$tmp/ls" || fail "ls"
grep -Eq "^$P-dead +stream .* live$" "$tmp/ls" || fail "ls: $(cat "$tmp/ls")"
kill -9 $writer
wait $writer 2>/dev/null
T "$S" ls >"$tmp/ls" || fail "ls"
grep -Eq "^$P-dead +stream .* dead$" "$tmp/ls" || fail "ls after kill: $(cat "$tmp/ls")"
T "$S" ls --json >"$tmp/json" || fail "ls --json"
python3 - "$tmp/json" "$P-dead" "$writer" <<'EOF' || fail "ls --json dead pipe"
import json, sys
mine = [p for p in json.load(open(sys.argv[1])) if p["name"] == sys.argv[2]]
if len(mine) != 1:
    sys.exit("ls --json lists %s %d times" % (sys.argv[2], len(mine)))
p = mine[0]
if p["state"] != "dead" or p["procs"] != [{"pid": int(sys.argv[3]), "role": "writer", "alive": False}]:
    sys.exit("ls --json: %r" % p)
EOF
T "$S" stat "$P-dead" | grep -q "$writer (dead)" || fail "stat does not show the dead writer"
# The data stays and is read; the dead writer is no writer: end of file.
[ "$(T "$S" read "$P-dead" | wc -c)" = 4096 ] || fail "data of the dead writer"

# ------------------------------------------------------------------- rm
T "$S" rm "$P-dead" || fail "rm"
[ -e /dev/shm/shmpipe."$P-dead" ] && fail "rm left the object"
T "$S" ls | grep -q "^$P-dead " && fail "ls lists a removed pipe"
expect_fail 1 "'$P-dead'.*no such pipe" "$S" rm "$P-dead"
T "$S" rm --force "$P-dead" || fail "rm --force of a missing pipe"
T "$S" create "$P-rm1" && T "$S" create "$P-rm2" || fail "create"
expect_fail 1 "'$P-none'.*no such pipe" "$S" rm "$P-rm1" "$P-none" "$P-rm2"
[ -e /dev/shm/shmpipe."$P-rm1" ] || [ -e /dev/shm/shmpipe."$P-rm2" ] && fail "rm stopped at the missing name"
expect_fail 2 "expected at least one pipe NAME" "$S" rm

# --------------------------------------------------------------- --help
cmds=$(T "$S" --help | sed -n '/^Commands:/,/^$/s/^  \([a-z]\+\) .*/\1/p')
[ -n "$cmds" ] || fail "no commands in --help"
for c in $cmds; do
	out=$(T "$S" "$c" --help) || fail "$c --help exit $?"
	grep -q "^Usage: shmpipe $c" <<<"$out" || fail "$c --help: $out"
done
echo ok
