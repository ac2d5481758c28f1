#!/bin/bash
# install.sh - `make install` into a temporary DESTDIR, then build a small
# consumer with `pkg-config --cflags --libs shmpipe` against the installed
# copy only, and run it against the installed shared library.
set -eu
root=$(cd "$(dirname "$0")/.." && pwd)
command -v pkg-config >/dev/null || { echo "pkg-config missing (apt-get install -y pkgconf)"; exit 77; }
d=$(mktemp -d "${TMPDIR:-/tmp}/shmpipe-install.XXXXXX")
trap 'rm -rf "$d"' EXIT
# A clean sub-make: not the sanitizer build, not the parent's jobserver.
env -u SANITIZE -u MAKEFLAGS -u MFLAGS -u MAKELEVEL \
	make -s -C "$root" install DESTDIR="$d" PREFIX=/usr >"$d/make.log" 2>&1 ||
	{ cat "$d/make.log"; echo "FAIL: make install"; exit 1; }
for f in usr/include/shmpipe.h usr/lib/libshmpipe.a usr/lib/libshmpipe.so \
	usr/lib/libshmpipe.so.0 usr/lib/pkgconfig/shmpipe.pc usr/bin/shmpipe \
	usr/share/man/man1/shmpipe.1 usr/share/man/man3/shmpipe.3; do
	[ -e "$d/$f" ] || { echo "FAIL: $f not installed"; exit 1; }
done
soname=$(readelf -d "$d/usr/lib/libshmpipe.so" | sed -n 's/.*SONAME.*\[\(.*\)\]/\1/p')
[ "$soname" = libshmpipe.so.0 ] || { echo "FAIL: soname '$soname'"; exit 1; }

cat >"$d/consumer.c" <<'C'
#include <shmpipe.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
int main(void)
{
	char name[64];
	snprintf(name, sizeof(name), "t-%ld-consumer", (long)getpid());
	struct shmpipe_region_config cfg = { .size = 4096 };
	shmpipe_region *r;
	int e = shmpipe_region_create(&r, name, &cfg);
	if (e < 0) {
		fprintf(stderr, "create: %s\n", shmpipe_strerror(e));
		return 1;
	}
	strcpy(shmpipe_region_data(r), "installed");
	shmpipe_region *o;
	e = shmpipe_region_open(&o, name);
	int ok = e == 0 && !strcmp(shmpipe_region_data(o), "installed");
	shmpipe_region_close(o);
	shmpipe_region_close(r);
	shmpipe_region_unlink(name);
	printf("%s %s\n", ok ? "ok" : "bad", shmpipe_version_string());
	return ok ? 0 : 1;
}
C
export PKG_CONFIG_SYSROOT_DIR="$d" PKG_CONFIG_PATH="$d/usr/lib/pkgconfig"
flags=$(pkg-config --cflags --libs shmpipe)
case $flags in *"-I$d/usr/include"*) ;; *) echo "FAIL: pkg-config gave '$flags'"; exit 1 ;; esac
# -nostdinc-like check: the consumer must not see the source tree's header.
cc -std=c11 -Wall -Werror -o "$d/consumer" "$d/consumer.c" $flags
out=$(LD_LIBRARY_PATH="$d/usr/lib" "$d/consumer")
want="ok $(sed -n 's/^#define SHMPIPE_VERSION_STRING "\(.*\)"/\1/p' "$root/include/shmpipe.h")"
[ "$out" = "$want" ] || { echo "FAIL: consumer printed '$out', want '$want'"; exit 1; }
ldd "$d/consumer" | grep -q "$d/usr/lib/libshmpipe.so.0" 2>/dev/null ||
	LD_LIBRARY_PATH="$d/usr/lib" ldd "$d/consumer" | grep -q "$d/usr/lib/libshmpipe.so.0" ||
	{ echo "FAIL: consumer is not linked to the installed libshmpipe.so.0"; exit 1; }
"$d/usr/bin/shmpipe" --version | grep -q "shmpipe" || { echo "FAIL: installed CLI"; exit 1; }
# uninstall removes what install put there
env -u SANITIZE -u MAKEFLAGS -u MFLAGS -u MAKELEVEL \
	make -s -C "$root" uninstall DESTDIR="$d" PREFIX=/usr >/dev/null
left=$(find "$d/usr" -type f -o -type l)
[ -z "$left" ] || { echo "FAIL: uninstall left: $left"; exit 1; }
echo "installed, consumer built with pkg-config and ran: $out"
