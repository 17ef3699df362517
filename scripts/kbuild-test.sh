#!/usr/bin/env bash
# Prove the vmcsinfo DKMS package builds warning-free and signed against
# Debian bookworm's real kernel headers, for every series given (default:
# 6.1 6.12). Headers come from scripts/kernels.sh (apt-get download, cached
# under ~/.cache/vmcsinfo, never installed into /).
#
# Per series:
#  1. a plain kbuild build with KCFLAGS=-Werror: no compiler or modpost warning;
#  2. real DKMS 3.x: dkms add + build, signed by DKMS with a throwaway key via
#     sign-file, run in a private mount namespace so /etc/dkms of this machine
#     is never touched; then modinfo must show the kernel's vermagic and the
#     key as signer.
set -euo pipefail

top=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
modsrc=$top/collections/ansible_collections/fujitsu/vmcsinfo/module-src
version=$(sed -n 's/^PACKAGE_VERSION="\(.*\)"/\1/p' "$modsrc/dkms.conf")
series=("$@")
[ ${#series[@]} -gt 0 ] || series=(6.1 6.12)

# shellcheck source=debpkgs.sh
. "$top/scripts/debpkgs.sh"
PROG=kbuild-test
ensure_pkgs dkms openssl util-linux

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
openssl req -new -x509 -newkey rsa:2048 -nodes -days 36500 \
	-subj "/CN=vmcsinfo kbuild-test key/" -keyout "$work/mok.key" \
	-outform DER -out "$work/mok.der" 2>/dev/null

fails=0
for s in "${series[@]}"; do
	kver=$("$top/scripts/kernels.sh" version "$s")
	kdir=$("$top/scripts/kernels.sh" headers "$s")
	start=$SECONDS

	# 1. plain kbuild, warnings are errors
	rm -rf "$work/plain" && cp -r "$modsrc" "$work/plain"
	if ! make -s -C "$kdir" M="$work/plain" KCFLAGS=-Werror modules >"$work/plain.log" 2>&1 ||
		grep -qiE 'warning:' "$work/plain.log"; then
		echo "FAIL kbuild $kver: build failed or warned:" && cat "$work/plain.log"
		fails=$((fails + 1))
		continue
	fi

	# 2. DKMS build + sign
	d=$work/dkms-$s
	mkdir -p "$d/tree" "$d/src" "$d/etc"
	cp -r "$modsrc" "$d/src/vmcsinfo-$version"
	rm -f "$d/src/vmcsinfo-$version"/sim/{vmcsinfo-sim,test-probe}
	printf 'sign_file="%s"\nmok_signing_key="%s"\nmok_certificate="%s"\n' \
		"$(readlink -f "$kdir/scripts/sign-file")" "$work/mok.key" "$work/mok.der" \
		>"$d/etc/framework.conf"
	# shellcheck disable=SC2016 # expanded by the inner bash
	if ! unshare -m --propagation private bash -c '
		set -e
		mount --bind "$1/etc" /etc/dkms
		dkms add --dkmstree "$1/tree" --sourcetree "$1/src" -m vmcsinfo -v "$2"
		dkms build --dkmstree "$1/tree" --sourcetree "$1/src" -m vmcsinfo -v "$2" \
			-k "$3" --kernelsourcedir "$4"' _ "$d" "$version" "$kver" "$kdir" \
		>"$d/dkms.log" 2>&1; then
		echo "FAIL dkms $kver:" && cat "$d/dkms.log"
		fails=$((fails + 1))
		continue
	fi
	ko=$d/tree/vmcsinfo/$version/$kver/x86_64/module/vmcsinfo.ko
	vermagic=$(modinfo -F vermagic "$ko")
	signer=$(modinfo -F signer "$ko")
	if [[ $vermagic != "$kver "* ]] || [ "$signer" != "vmcsinfo kbuild-test key" ]; then
		echo "FAIL dkms $kver: vermagic '$vermagic', signer '$signer'"
		fails=$((fails + 1))
		continue
	fi
	echo "ok   $kver: kbuild -Werror clean; dkms build signed by '$signer'; vermagic '$vermagic' ($((SECONDS - start)) s)"
done
[ "$fails" -eq 0 ] || { echo "kbuild-test: $fails kernel(s) failed"; exit 1; }
