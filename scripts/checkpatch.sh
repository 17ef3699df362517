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

# Also kept from the same tarball: the Linux sources that the generated tables
# come from (scripts/gen-vmcs-names.py: vmx.h; scripts/gen-vmcs12.py:
# vmcs12.[ch]), so a test can regenerate them.
linux_files=(arch/x86/include/asm/vmx.h arch/x86/kvm/vmx/vmcs12.h arch/x86/kvm/vmx/vmcs12.c)
if [ ! -x "$cache/scripts/checkpatch.pl" ] || [ ! -f "$cache/src/${linux_files[2]}" ]; then
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
		"$dir/scripts/spelling.txt" "$dir/scripts/const_structs.checkpatch" \
		"${linux_files[@]/#/$dir/}"
	mkdir -p "$cache/scripts" "$cache/src"
	cp "$tmp/$dir/scripts/"* "$cache/scripts/"
	(cd "$tmp/$dir" && cp --parents "${linux_files[@]}" "$cache/src/")
	echo "Debian $pkg $(dpkg-deb -f "$tmp"/*.deb Version)" >"$cache/src/SOURCE"
fi

# Gate: no ERROR and no WARNING. --strict CHECKs are printed; the known ones are
# user-visible strings kept whole (kernel style: never split them) and the
# %l[label] operand of asm goto, which checkpatch reads as a '%' operator.
cd "$modsrc"
out=$("$cache/scripts/checkpatch.pl" --no-tree --strict --show-types --terse \
	-f vmcsinfo_main.c vmcsinfo_core.c vmcsinfo_core.h vmcsinfo_names.h 2>/dev/null || true)
echo "$out"
if echo "$out" | grep -qE ': (ERROR|WARNING):'; then
	echo "checkpatch: FAIL (errors or warnings above)"
	exit 1
fi
echo "checkpatch: ok (0 errors, 0 warnings; --strict CHECKs listed above)"

# The tables generated from Linux's sources are current.
"$top/.venv/bin/python" "$top/scripts/gen-vmcs12.py" --check "$cache/src"
"$top/.venv/bin/python" "$top/scripts/gen-vmcs-names.py" --check "$cache/src/arch/x86/include/asm/vmx.h"
