#!/usr/bin/env bash
# Run the kernel's checkpatch.pl (--strict) on the module's C sources.
# checkpatch.pl ships in Debian's linux-source-6.12 package only: download it
# once (apt-get download), extract checkpatch.pl and its data files into
# ~/.cache/vmcsinfo/checkpatch, and reuse them.
set -euo pipefail

top=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cache=${VMCSINFO_CACHE:-$HOME/.cache/vmcsinfo}/checkpatch
modsrc=$top/collections/ansible_collections/fujitsu/vmcsinfo/module-src

# shellcheck source=debpkgs.sh
. "$top/scripts/debpkgs.sh"
PROG=checkpatch

source_pkg() { apt-cache pkgnames linux-source-6.12 | sort -V | tail -n1; }

if [ ! -x "$cache/scripts/checkpatch.pl" ]; then
	ensure_apt_lists
	pkg=$(source_pkg)
	if [ -z "$pkg" ] && apt_retry_refresh "linux-source-6.12"; then
		pkg=$(source_pkg)
	fi
	[ -n "$pkg" ] || die "no linux-source-6.12 package in apt (suites searched: $(apt_suites))"
	say "fetching $pkg (once, cached in $cache)"
	tmp=$(mktemp -d)
	trap 'rm -rf "$tmp"' EXIT
	opts=()
	[ "$(id -u)" -eq 0 ] && opts=(-o APT::Sandbox::User=root)
	(cd "$tmp" && run_logged "apt-get download" "$tmp/log" apt-get "${opts[@]}" -q download "$pkg") ||
		die "could not download $pkg"
	dpkg-deb -x "$tmp"/*.deb "$tmp/x"
	tarball=$(find "$tmp/x/usr/src" -name 'linux-source-*.tar.*' | head -n1)
	dir=$(basename "$tarball" | sed 's/\.tar\..*//')
	tar -xf "$tarball" -C "$tmp" "$dir/scripts/checkpatch.pl" \
		"$dir/scripts/spelling.txt" "$dir/scripts/const_structs.checkpatch"
	mkdir -p "$cache/scripts"
	cp "$tmp/$dir/scripts/"* "$cache/scripts/"
fi

# Gate: no ERROR and no WARNING. --strict CHECKs are printed; the known ones are
# user-visible strings kept whole (kernel style: never split them) and the
# %l[label] operand of asm goto, which checkpatch reads as a '%' operator.
cd "$modsrc"
out=$("$cache/scripts/checkpatch.pl" --no-tree --strict --show-types --terse \
	-f vmcsinfo_main.c vmcsinfo_core.c vmcsinfo_core.h 2>/dev/null || true)
echo "$out"
if echo "$out" | grep -qE ': (ERROR|WARNING):'; then
	echo "checkpatch: FAIL (errors or warnings above)"
	exit 1
fi
echo "checkpatch: ok (0 errors, 0 warnings; --strict CHECKs listed above)"
