#!/usr/bin/env bash
# Install every Debian package the project's build and tests need, skipping
# the ones already installed. Runs `apt-get update` first when apt has no
# package lists yet (a bare machine). Needs root (or sudo).
set -euo pipefail

pkgs=(
	# C toolchain, the simulator's JSON library, kernel module builds
	gcc gcc-12 make libc6-dev libjansson-dev libelf-dev dwarves kmod
	# DKMS and module signing
	dkms openssl util-linux
	# Debian kernel packages are fetched and unpacked by scripts/kernels.sh
	dpkg-dev xz-utils zstd cpio
	# Bochs VMX boots
	bochs bochsbios vgabios busybox-static mtools syslinux syslinux-common
	# lint
	shellcheck perl
	# the project venv
	python3-venv
)

sudo=()
[ "$(id -u)" -eq 0 ] || sudo=(sudo)
missing=()
for p in "${pkgs[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'ok installed' || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
	echo "deps: all ${#pkgs[@]} Debian packages present"
	exit 0
fi
if [ -z "$(find /var/lib/apt/lists -maxdepth 1 -name '*_Packages*' -print -quit 2>/dev/null)" ] ||
	! apt-cache show "${missing[0]}" >/dev/null 2>&1; then
	echo "deps: apt-get update"
	"${sudo[@]}" apt-get update -q >/dev/null
fi
echo "deps: installing ${missing[*]}"
"${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}" >/dev/null
echo "deps: done"
