#!/bin/bash
# man_pages.sh - the manual, checked as it is installed:
#  1. every function that libshmpipe.so exports has a page man/FUNC.3, its
#     own or a one-line `.so man3/FAMILY.3` stub; every stub points to a
#     real page, and that page's NAME lists the stub's function;
#  2. `make install` puts every page in man1/man3, and each renders without
#     a single warning: `groff -ww` (stubs resolved from the man root, as
#     man(1) does) and `mandoc -T lint -W warning` on the real pages;
#  3. every real section-3 page has NAME, SYNOPSIS, DESCRIPTION, RETURN
#     VALUE, ERRORS and SEE ALSO, in that order, and every function its NAME
#     lists has a prototype in its SYNOPSIS;
#  4. shmpipe.1 documents (.SS or .TP) every command `shmpipe --help` lists.
# Every problem is reported, naming the page; exit 1 if there was any.
# Skipped (77) only when neither groff nor mandoc is installed.
set -u
root=$(cd "$(dirname "$0")/.." && pwd)
BUILD=${BUILD:-$root/build}
SHMPIPE=${SHMPIPE:-$BUILD/shmpipe}

have_groff=0 have_mandoc=0
command -v groff >/dev/null && have_groff=1
command -v mandoc >/dev/null && have_mandoc=1
if [ $have_groff = 0 ] && [ $have_mandoc = 0 ]; then
	echo "neither groff nor mandoc installed (apt-get install -y groff mandoc)"
	exit 77
fi
[ $have_groff = 1 ] || echo "note: groff missing, pages checked with mandoc only"
[ $have_mandoc = 1 ] || echo "note: mandoc missing, pages checked with groff only"

problems=0
fail() {
	echo "FAIL: $*"
	problems=$((problems + 1))
}

tmp=$(mktemp -d "${TMPDIR:-/tmp}/shmpipe-man.XXXXXX")
trap 'rm -rf "$tmp"' EXIT

# A stub is a page whose only line (comments aside) is `.so man3/X.3`;
# prints its target, or nothing for a real page.
stub_target() {
	awk '/^\.\\"/ || /^[ \t]*$/ { next }
	     { n++; if ($1 == ".so" && NF == 2) t = $2 }
	     END { if (n == 1 && t != "") print t }' "$1"
}

# The text of section $2 of page $1 (from its .SH to the next), with the
# font and special-character escapes removed.
section() {
	awk -v want="$2" '
		/^\.SH[ \t]/ { s = $0; sub(/^\.SH[ \t]+/, "", s); gsub(/"/, "", s)
			       on = (s == want); next }
		on' "$1" |
		sed -e 's/\\f[BIRP]//g' -e 's/\\f\[[^]]*\]//g' -e 's/\\-/-/g' \
			-e 's/\\&//g' -e 's/\\(dq/"/g' -e 's/\\e/\\/g'
}

# The names listed in the NAME section of page $1, one a line.
name_list() {
	section "$1" NAME | tr '\n' ' ' | sed 's/[[:space:]]-[[:space:]].*//' |
		tr ',' '\n' | sed 's/^[[:space:]]*//; s/[[:space:]]*$//' | grep -v '^$'
}

# ------------------------------------------------- 1. a page per function
lib="$BUILD/libshmpipe.so"
if [ ! -e "$lib" ]; then
	fail "$lib does not exist (build first, or set BUILD)"
else
	syms=$(nm -D --defined-only "$lib" | awk '{print $NF}' | sed 's/@.*//' |
		grep '^shmpipe_' | sort -u)
	[ -n "$syms" ] || fail "no shmpipe_* symbols exported by $lib"
	for s in $syms; do
		[ -f "$root/man/$s.3" ] || fail "$s: no page man/$s.3 (nor a .so stub)"
	done
fi
for page in "$root"/man/*.3; do
	t=$(stub_target "$page")
	[ -n "$t" ] || continue
	rel=man/$(basename "$page")
	case $t in
	man3/*.3) ;;
	*) fail "$rel: stub points to '$t', not man3/PAGE.3"; continue ;;
	esac
	target="$root/man/${t#man3/}"
	if [ ! -f "$target" ]; then
		fail "$rel: stub points to $t, which does not exist"
	elif [ -n "$(stub_target "$target")" ]; then
		fail "$rel: stub points to $t, which is a stub itself"
	elif ! name_list "$target" | grep -qx "$(basename "$page" .3)"; then
		fail "$rel: stub points to $t, whose NAME does not list $(basename "$page" .3)"
	fi
done

# -------------------------------------- 2. installed pages render cleanly
dest="$tmp/dest"
# Not the parent make's jobserver; the build directory as it is (with
# SANITIZE as the runner was given, so nothing there is rebuilt otherwise).
if ! env -u MAKEFLAGS -u MFLAGS -u MAKELEVEL \
	make -s -C "$root" install DESTDIR="$dest" PREFIX=/usr B="$BUILD" \
	>"$tmp/install.log" 2>&1; then
	cat "$tmp/install.log"
	fail "make install DESTDIR=$dest PREFIX=/usr B=$BUILD failed"
fi
mandir="$dest/usr/share/man"
for page in "$root"/man/*.[0-9]; do
	b=$(basename "$page")
	[ -f "$mandir/man${b##*.}/$b" ] || fail "man/$b: not installed in $mandir/man${b##*.}"
done
npages=0
for page in "$mandir"/man1/* "$mandir"/man3/*; do
	[ -f "$page" ] || continue
	npages=$((npages + 1))
	rel=${page#"$mandir"/}
	t=$(stub_target "$page")
	if [ -n "$t" ] && [ ! -f "$mandir/$t" ]; then
		fail "$rel (installed): stub points to $t, which is not installed"
		continue
	fi
	if [ $have_groff = 1 ]; then
		# From the man root, so that `.so man3/X.3` resolves as for man(1).
		out=$(cd "$mandir" && groff -ww -man -z -t "$rel" 2>&1)
		rc=$?
		if [ $rc -ne 0 ] || [ -n "$out" ]; then
			fail "$rel: groff -ww -man -z -t (exit $rc):"
			printf '%s\n' "$out" | sed 's/^/    /'
		fi
	fi
	if [ $have_mandoc = 1 ] && [ -z "$t" ]; then
		out=$(mandoc -T lint -W warning "$page" 2>&1)
		rc=$?
		if [ $rc -ne 0 ] || [ -n "$out" ]; then
			fail "$rel: mandoc -T lint -W warning (exit $rc):"
			printf '%s\n' "$out" | sed "s|$mandir/||; s/^/    /"
		fi
	fi
done
[ $npages -gt 1 ] || fail "only $npages pages installed under $mandir"

# ------------------------------------ 3. sections, and NAME in SYNOPSIS
required=("NAME" "SYNOPSIS" "DESCRIPTION" "RETURN VALUE" "ERRORS" "SEE ALSO")
for page in "$root"/man/*.3; do
	[ -z "$(stub_target "$page")" ] || continue
	rel=man/$(basename "$page")
	headings=$(sed -n 's/^\.SH[ \t]\{1,\}//p' "$page" | tr -d '"')
	last=0
	for sec in "${required[@]}"; do
		line=$(grep -nxF "$sec" <<<"$headings" | head -n 1 | cut -d: -f1)
		if [ -z "$line" ]; then
			fail "$rel: no $sec section"
		elif [ "$line" -lt "$last" ]; then
			fail "$rel: $sec section out of order (want ${required[*]})"
		else
			last=$line
		fi
	done
	names=$(name_list "$page")
	[ -n "$names" ] || { fail "$rel: NAME section lists nothing"; continue; }
	synopsis=$(section "$page" SYNOPSIS | tr '\n' ' ' | tr -s ' \t' ' ')
	for n in $names; do
		# A function has a prototype "NAME("; another name (the library
		# itself, in shmpipe.3) appears as a word.
		case $n in
		shmpipe_*) pat="(^|[^A-Za-z0-9_])$n[[:space:]]*\(" ;;
		*) pat="(^|[^A-Za-z0-9_])$n([^A-Za-z0-9_]|$)" ;;
		esac
		grep -qE "$pat" <<<"$synopsis" ||
			fail "$rel: $n is in NAME but not in SYNOPSIS"
	done
done

# --------------------------------------- 4. every CLI command in shmpipe.1
if [ ! -x "$SHMPIPE" ]; then
	fail "$SHMPIPE is not an executable (set SHMPIPE)"
else
	commands=$("$SHMPIPE" --help 2>&1 | awk '/^Commands:/ { on = 1; next }
		on && /^[ \t]*$/ { exit } on { print $1 }')
	[ -n "$commands" ] || fail "no commands found in '$SHMPIPE --help'"
	for c in $commands; do
		awk -v c="$c" '
			function words(s) {
				sub(/^\.[A-Z]+[ \t]+/, "", s)
				gsub(/\\f[BIRP]|\\f\[[^]]*\]|\\&|"/, "", s)
				return split(s, w, /[ \t]+/)
			}
			function named(s) {
				words(s)
				return w[1] == c || (w[1] == "shmpipe" && w[2] == c)
			}
			tp { tp = 0; if (named($0)) found = 1; next }
			/^\.TP/ { tp = 1; next }
			/^\.SS[ \t]/ { if (named($0)) found = 1 }
			END { exit !found }' "$root/man/shmpipe.1" ||
			fail "man/shmpipe.1: command '$c' (in 'shmpipe --help') has no .SS or .TP entry"
	done
fi

if [ $problems -gt 0 ]; then
	echo "$problems problem(s) in the manual"
	exit 1
fi
echo "$npages pages installed and clean; every exported function and every command documented"
