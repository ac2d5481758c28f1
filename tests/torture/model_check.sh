#!/bin/bash
# model_check.sh - Guarantee 6, "the ring protocol is model-checked": the
# Spin model checker explores every interleaving of tests/model/ring.pml
# (the ring protocol of src/pipe.c and src/pipelock.c, one shared-memory
# access per step, with a SIGKILL at any step; see tests/model/README).
#   - the model of the protocol as written must show no torn read, no unit
#     out of order, duplicated or lost, no lost wake-up, no deadlock: 0
#     errors, searched exhaustively, in each configuration;
#   - each deliberately broken protocol (BROKEN=1..11) must be rejected,
#     with the kind of error it was broken for: else this check could not
#     fail, and the script fails;
#   - each behaviour the checks are about must be reached (REACH=N): else
#     they would pass vacuously, and the script fails;
#   - a finding: when a reader must be woken by a writer's close (not by
#     its 50 ms slice, STRICT_EOF), the model finds a lost wake-up in the
#     code as it is, and none with a proposed fix (FIX_EOF); expected
#     both ways, so that the model follows any change to it.
# Needs spin (Debian package spin) and a C compiler: exit 77 without.
# Figures: model_states (states stored, correct models), model_broken_
# variants_rejected, model_points_reached. About a minute, < 2 GB.
set -u
here=$(cd "$(dirname "$0")/.." && pwd)
model=$here/model/ring.pml
cc=${CC:-cc}
if ! command -v spin >/dev/null 2>&1; then
	echo "spin (the model checker) is not installed: apt-get install -y spin"
	exit 77
fi
if ! command -v "$cc" >/dev/null 2>&1; then
	command -v gcc >/dev/null 2>&1 || { echo "no C compiler ($cc) to build the verifier"; exit 77; }
	cc=gcc
fi
[ -r "$model" ] || { echo "FAIL: no model at $model"; exit 1; }

tmp=$(mktemp -d "${TMPDIR:-/tmp}/model_check.XXXXXX")
bg=
cleanup() {
	[ -n "$bg" ] && kill "$bg" 2>/dev/null
	for f in "$tmp"/*/pid; do # a verifier still running (interrupted)
		[ -f "$f" ] && kill "$(cat "$f")" 2>/dev/null
	done
	if [ "${keep:-0}" = 1 ]; then
		echo "work files kept in $tmp (replay a trail: cd there/NAME && spin -t -p -g FLAGS ring.pml)"
	else
		rm -rf "$tmp"
	fi
}
trap cleanup EXIT
trap 'exit 1' INT TERM HUP

# verify NAME EXPECT TITLE -- SPIN_FLAGS...
#   EXPECT: pass (0 errors, search complete), or a regular expression
#   that pan's first error line must match.
# Writes NAME's line to stdout and "pass STATES" / "fail" to $tmp/NAME.result.
verify() {
	local name=$1 expect=$2 title=$3
	shift 4
	local dir=$tmp/$name opt=-O0
	[ "$expect" = pass ] && opt=-O2 # long searches: worth optimising
	mkdir -p "$dir"
	cp "$model" "$dir/ring.pml"
	local start=${EPOCHREALTIME/./}
	if ! (cd "$dir" && spin -a "$@" ring.pml >spin.log 2>&1 &&
		"$cc" $opt -w -DCOLLAPSE -DSAFETY -DMEMLIM=1800 -o pan pan.c >cc.log 2>&1); then
		echo "FAIL $name ($title): spin -a $* or the verifier's build failed"
		tail -n 20 "$dir/spin.log" "$dir/cc.log" 2>/dev/null | sed 's/^/    /'
		echo fail >"$dir.result"
		return
	fi
	(cd "$dir" && exec timeout 600 ./pan -m200000 >pan.log 2>&1) &
	echo $! >"$dir/pid"
	wait $!
	local rc=$? ms=$(((${EPOCHREALTIME/./} - start) / 1000))
	rm -f "$dir/pid" # gone: its pid may be reused
	local secs errors states first
	secs=$(printf '%d.%d s' $((ms / 1000)) $((ms % 1000 / 100)))
	errors=$(sed -n 's/.*errors: \([0-9][0-9]*\).*/\1/p' "$dir/pan.log" | head -n 1)
	states=$(awk '/states, stored/ { print $1; exit }' "$dir/pan.log")
	first=$(grep -m 1 -E '^pan:[0-9]+: |invalid end state \(' "$dir/pan.log")
	local incomplete=
	grep -qE 'max search depth too small|MEMLIM|out of memory|pan: aborted' "$dir/pan.log" &&
		incomplete=1
	[ $rc -eq 124 ] && incomplete=1
	if [ "$expect" = pass ]; then
		if [ "${errors:-x}" = 0 ] && [ -z "$incomplete" ] && [ -n "$states" ]; then
			echo "ok   $name ($title): 0 errors, $states states, $secs"
			echo "pass $states" >"$dir.result"
		else
			echo "FAIL $name ($title): errors ${errors:-?}${incomplete:+, search incomplete}, $secs"
			echo "    $* : ${first:-no error line}"
			tail -n 25 "$dir/pan.log" | sed 's/^/    /'
			echo fail >"$dir.result"
			keep=1
		fi
	else
		if [ -n "$errors" ] && [ "$errors" -ge 1 ] && grep -qE -- "$expect" <<<"$first"; then
			local verb=rejected
			case $name in r*) verb=reached ;; f*) verb=found ;; esac
			echo "ok   $name ($title): $verb: ${first#pan:1: }, $secs"
			echo "pass 0" >"$dir.result"
		else
			echo "FAIL $name ($title): expected an error matching '$expect', got errors ${errors:-?}: ${first:-none}"
			tail -n 15 "$dir/pan.log" | sed 's/^/    /'
			echo fail >"$dir.result"
			keep=1
		fi
	fi
}

lost='lost_wakeup'
torn='logged\[h\]'
order='consumed\[|delivered\['
holder='gen\['
reach='assertion violated \(\(([0-9]+)!=\1\)'

echo "model: $model ($(spin -V 2>&1 | head -n 1))"
# The largest search first, on the other core.
verify c4 pass "2 writers, 1 unit each, ring of 1, one kill" -- \
	-DNW=2 -DNU=1 -DRING=1 -DMAXCRASH=1 >"$tmp/c4.out" 2>&1 &
bg=$!

echo "--- the protocol as written: must verify (0 errors, exhaustive)"
verify c1 pass "1 writer, 3 units, ring of 2, one kill, read" -- -DNW=1 -DNU=3 -DRING=2 -DMAXCRASH=1
verify c2 pass "1 writer, 3 units, ring of 2, one kill, peek/release" -- -DNW=1 -DNU=3 -DRING=2 -DMAXCRASH=1 -DPEEK
verify c3 pass "2 writers, 2 units each, ring of 2, no kill" -- -DNW=2 -DNU=2 -DRING=2 -DMAXCRASH=0

echo "--- broken protocols: each must be rejected"
verify b1 "$lost" "publish() wakes readers before storing tail" -- -DBROKEN=1 -DNW=1 -DNU=3 -DMAXCRASH=0
verify b2 "$lost" "wait_change() sleeps without re-checking the position" -- -DBROKEN=2 -DNW=1 -DNU=3 -DMAXCRASH=0
verify b3 "$torn" "tail stored before the unit's bytes" -- -DBROKEN=3 -DNW=1 -DNU=3 -DMAXCRASH=0
verify b4 "$torn" "head stored before the unit is read" -- -DBROKEN=4 -DNW=1 -DNU=3 -DMAXCRASH=0
verify b5 "$lost" "a locker sleeps without setting the waiters bit" -- -DBROKEN=5 -DNW=2 -DNU=1 -DMAXCRASH=0
verify b6 "$lost" "wait_change() loads the seq word after the re-check" -- -DBROKEN=6 -DNW=1 -DNU=3 -DMAXCRASH=0
verify b7 "$torn|$order" "writers write without the writer lock" -- -DBROKEN=7 -DNW=2 -DNU=1 -DMAXCRASH=0
verify b8 "$order" "end of file without the second look at the positions" -- -DBROKEN=8 -DNW=1 -DNU=3 -DMAXCRASH=0
verify b9 "$holder" "holder_alive() ignores the slot generation" -- -DBROKEN=9 -DNW=1 -DNU=2 -DMAXCRASH=1
verify b10 "$holder" "no takeover of a dead holder's lock" -- -DBROKEN=10 -DNW=1 -DNU=2 -DMAXCRASH=1
verify b11 "$lost" "waiting flag before the count (the order before e75d346)" -- -DBROKEN=11 -DNW=1 -DNU=3 -DMAXCRASH=1

echo "--- behaviours that must be reached (else the checks are vacuous)"
verify r1 "$reach" "a new reader takes the dead reader's lock over" -- -DREACH=1 -DNW=1 -DNU=3
verify r2 "$reach" "a writer takes a dead writer's lock over" -- -DREACH=2 -DNW=2 -DNU=1 -DRING=1
verify r3 "$reach" "a locker sleeps on a lock word" -- -DREACH=3 -DNW=2 -DNU=1 -DMAXCRASH=0
verify r4 "$reach" "a writer sleeps for room" -- -DREACH=4 -DNW=1 -DNU=3
verify r5 "$reach" "a reader sleeps for data" -- -DREACH=5 -DNW=1 -DNU=3
verify r6 "$reach" "the sleep of a killed process is uncounted by reap" -- -DREACH=6 -DNW=1 -DNU=3
verify r7 "$reach" "the new reader reaches end of file" -- -DREACH=7 -DNW=1 -DNU=3
verify r8 "$reach" "peek returns a unit again after a kill" -- -DREACH=8 -DNW=1 -DNU=3 -DPEEK
verify r9 "$reach" "a ring cell is used again" -- -DREACH=9 -DNW=1 -DNU=3
verify r10 "$reach" "read loses the unit of a reader killed after consume" -- -DREACH=10 -DNW=1 -DNU=3
verify r11 "$reach" "end of file after the writer was killed" -- -DREACH=11 -DNW=1 -DNU=3

echo "--- finding: a close must wake the reader (see tests/model/README)"
verify f1 "$lost" "STRICT_EOF: a close between the reader's writer count and its sleep" -- -DSTRICT_EOF -DNW=1 -DNU=3 -DMAXCRASH=0
verify f2 pass "STRICT_EOF with FIX_EOF (data_seq loaded before the positions)" -- -DSTRICT_EOF -DFIX_EOF -DNW=1 -DNU=3 -DMAXCRASH=1

wait "$bg"
bg=
echo "--- (run on the other core)"
cat "$tmp/c4.out"

fail=0 states=0 rejected=0 reached=0
for r in "$tmp"/*.result; do
	name=$(basename "$r" .result)
	read -r verdict n <"$r"
	[ "$verdict" = pass ] || { fail=1; continue; }
	case $name in
	c*) states=$((states + n)) ;;
	b*) rejected=$((rejected + 1)) ;;
	r*) reached=$((reached + 1)) ;;
	esac
done
[ "$(ls "$tmp"/c*.result 2>/dev/null | wc -l)" -eq 4 ] || fail=1
echo "summary: 4 configurations of the protocol verified with $states states;" \
	"$rejected of 11 broken variants rejected; $reached of 11 behaviours reached"
echo "figure model_states $states"
echo "figure model_broken_variants_rejected $rejected"
echo "figure model_points_reached $reached"
[ $fail -eq 0 ] || { keep=1; echo "FAIL: see above"; }
exit $fail
