#!/bin/bash
# completion.sh - the bash completion (dist/bash-completion/shmpipe):
# subcommands, each command's options as its --help lists them, option
# values, and the names of existing pipes; and that `make install` puts
# it where bash-completion looks.
set -u
fail() { echo "FAIL: $*"; exit 1; }
root=$(cd "$(dirname "$0")/.." && pwd)
P=t-$$
tmp=$(mktemp -d "${TMPDIR:-/tmp}/completion.XXXXXX")
trap '"$SHMPIPE" rm -f "$P-alpha" "$P-beta" 2>/dev/null; rm -rf "$tmp"' EXIT
# The completion runs `shmpipe` from PATH, as it will when installed.
mkdir "$tmp/bin" && ln -s "$SHMPIPE" "$tmp/bin/shmpipe"
PATH=$tmp/bin:$PATH
source "$root/dist/bash-completion/shmpipe"
complete -p shmpipe | grep -q -- '-F _shmpipe' || fail "not registered: $(complete -p shmpipe)"

# complete WORDS...: COMPREPLY for the last word, sorted, one per line.
complete_words() {
	COMP_WORDS=("$@")
	COMP_CWORD=$(($# - 1))
	COMP_LINE="$*" COMP_POINT=${#COMP_LINE}
	COMPREPLY=()
	_shmpipe shmpipe "${COMP_WORDS[COMP_CWORD]}" "${COMP_WORDS[COMP_CWORD - 1]}"
	printf '%s\n' "${COMPREPLY[@]}" | sort
}
expect() { # expect "WORDS" EXPECTED...: each EXPECTED is offered
	local words=$1 got w
	shift
	got=$(complete_words $words)
	for w in "$@"; do
		grep -qxF -- "$w" <<<"$got" || fail "'$words<TAB>' lacks '$w'; got: $(echo $got)"
	done
}
refuse() { # refuse "WORDS" WORD...: none of them is offered
	local words=$1 got w
	shift
	got=$(complete_words $words)
	for w in "$@"; do
		grep -qxF -- "$w" <<<"$got" && fail "'$words<TAB>' offers '$w'"
	done
	return 0
}

# Every subcommand `shmpipe --help` lists, and only matching ones.
cmds=$("$SHMPIPE" --help | sed -n '/^Commands:/,/^$/s/^  \([a-z][a-z-]*\) .*/\1/p')
[ "$(wc -l <<<"$cmds")" -ge 7 ] || fail "commands from --help: $cmds"
expect "shmpipe ''" $cmds
[ "$(complete_words shmpipe wr)" = write ] || fail "'shmpipe wr': $(complete_words shmpipe wr)"
[ "$(complete_words shmpipe se)" = serve ] || fail "'shmpipe se': $(complete_words shmpipe se)"
refuse "shmpipe r" write create

# Each command's long options, read from its --help.
for c in $cmds; do
	opts=$("$SHMPIPE" "$c" --help | grep -oE '(^|[ ,])--[a-z][a-z0-9-]*' | sed 's/^[ ,]*//' | sort -u)
	[ -n "$opts" ] || fail "$c --help lists no options"
	expect "shmpipe $c --" $opts
done
expect "shmpipe serve --fr" --framing
refuse "shmpipe serve --fr" --fifo --help
expect "shmpipe write --" --lines --len32 --connect --token-file
refuse "shmpipe write --" --framing

# Option values.
expect "shmpipe serve p --framing ''" raw lines len32
[ "$(complete_words shmpipe serve p --framing l)" = "$(printf 'len32\nlines')" ] ||
	fail "framing l: $(complete_words shmpipe serve p --framing l)"
touch "$tmp/token.txt"
(cd "$tmp" && expect "shmpipe serve p --token-file tok" token.txt) || exit 1
[ -z "$(complete_words shmpipe create p --size '')" ] || fail "--size offers words"

# Existing pipes, for the commands that take one; none for create.
"$SHMPIPE" create "$P-alpha" --size 64K || fail "create alpha"
"$SHMPIPE" create "$P-beta" --size 64K --message || fail "create beta"
for c in read write stat rm serve; do
	expect "shmpipe $c $P-" "$P-alpha" "$P-beta"
done
[ "$(complete_words shmpipe stat "$P-a")" = "$P-alpha" ] || fail "stat $P-a: $(complete_words shmpipe stat "$P-a")"
refuse "shmpipe create $P-" "$P-alpha"
"$SHMPIPE" rm "$P-beta"
refuse "shmpipe read $P-" "$P-beta"

# Installed where bash-completion finds it.
make -s -C "$root" install DESTDIR="$tmp/inst" PREFIX=/usr B="$BUILD" >/dev/null ||
	fail "make install"
cmp -s "$root/dist/bash-completion/shmpipe" "$tmp/inst/usr/share/bash-completion/completions/shmpipe" ||
	fail "not installed in share/bash-completion/completions"
echo ok
