#!/bin/bash
# bridge_lines.sh - many writers at once through `serve --framing lines`:
# 8 concurrent clients (3 nc, 3 socat, 2 python3 sending in chunks of
# random sizes) each send 100k numbered lines of varied lengths, into a
# message pipe and then a stream pipe of 1 MiB drained meanwhile by
# `shmpipe read --lines`. Asserts: every client exits 0; every line
# arrives once, whole, in its client's order; `stat --json` shows the
# bridge's counters (accepted 8, active 0, units 800000 and the payload
# bytes for the message pipe, every byte for the stream pipe, nothing
# discarded or oversize) and the pipe's (messages_in 800000); SIGTERM then
# stops serve with exit 0 and the reader sees end of file.
. "$(dirname "$0")/bridge_lib.bash"

N=100000
tags=(c0 c1 c2 c3 c4 c5 c6 c7)
line_bytes=$(lines_gen c0 $N | wc -c) # the same for every two-letter tag

for kind in --message ""; do
	name=$P-lines${kind:+-msg}
	T "$S" create "$name" --size 1M $kind || fail "create $name"
	serve "$name" --listen tcp://:0 --framing lines
	T "$S" read "$name" --lines >"$tmp/out" &
	reader=$!
	bg+=("$reader")
	clients=()
	for i in 0 1 2 3 4 5 6 7; do
		case $i in
		0 | 1 | 2) lines_gen c$i $N | T nc -N "$HOST" "$PORT" >/dev/null & ;;
		3 | 4 | 5) lines_gen c$i $N | T socat -u - "TCP:$HOST:$PORT" & ;;
		*) lines_gen c$i $N | sendpy "$ADDR" & ;;
		esac
		clients+=($!)
		bg+=($!)
	done
	for i in "${!clients[@]}"; do
		reap "${clients[$i]}" 60
		[ "$REAPED" = 0 ] || fail "${kind:-stream}: client c$i exit $REAPED"
	done
	if [ -n "$kind" ]; then
		wait_field "$name" bridge.units $((8 * N)) 30
		wait_field "$name" bridge.bytes $((8 * (line_bytes - N)))
		[ "$(field "$name" messages_in)" = $((8 * N)) ] || fail "messages_in $(field "$name" messages_in)"
	else
		wait_field "$name" bridge.bytes $((8 * line_bytes)) 30
		[ "$(field "$name" bytes_in)" = $((8 * line_bytes)) ] || fail "bytes_in $(field "$name" bytes_in)"
	fi
	wait_field "$name" bridge.active 0
	for k in accepted=8 refused=0 partial_discarded=0 oversize=0 token_failures=0; do
		[ "$(field "$name" "bridge.${k%=*}")" = "${k#*=}" ] ||
			fail "${kind:-stream}: bridge.${k%=*} is $(field "$name" "bridge.${k%=*}"), want ${k#*=}"
	done
	stop "$SERVE_PID"
	reap "$reader" 30
	[ "$REAPED" = 0 ] || fail "${kind:-stream}: read --lines exit $REAPED"
	check_lines "$tmp/out" $N "${tags[@]}" || fail "${kind:-stream} pipe: lines"
	[ "$(field "$name" bytes_buffered)" = 0 ] || fail "data left in the pipe"
	T "$S" rm "$name" || fail "rm"
done
echo ok
