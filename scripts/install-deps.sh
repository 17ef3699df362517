#!/usr/bin/env bash
# Install every Debian package the project's build and tests need, skipping
# the ones already installed. Refreshes the apt lists first when they are
# missing, old or lack a suite the sources name (scripts/debpkgs.sh says
# when and why). Needs root (or sudo).
set -euo pipefail

pkgs=(
	# C toolchain, the simulator's JSON library, kernel module builds
	gcc gcc-12 make libc6-dev libjansson-dev libelf-dev dwarves kmod
	# DKMS and module signing
	dkms openssl util-linux
	# Debian kernel packages are fetched and unpacked by scripts/kernels.sh
	dpkg-dev xz-utils zstd cpio
	# Bochs VMX boots (bochs brings its default GUI, bochs-wx, as a user's
	# install does: with it, Bochs 2.7 aborted in its sound code, which the
	# bare-machine step must be able to see; the tests use rfb)
	bochs bochsbios vgabios busybox-static mtools syslinux syslinux-common
	# the Bochs crash proof: Debian's kexec-tools and makedumpfile run in the
	# Bochs guest (copied with their libraries); makedumpfile -R here
	kexec-tools makedumpfile
	# lint
	shellcheck perl
	# molecule container tests: rootful podman with runc (crun fails on these
	# hosts), its network stack, and mmdebstrap for the Debian 12 image
	podman runc netavark aardvark-dns iptables mmdebstrap
	# the lab VM (scripts/lab-vm.sh): QEMU, its qcow2 overlays, the ext4 root
	# image made with mkfs.ext4 -d, and ssh into the guest
	qemu-system-x86 qemu-utils e2fsprogs fdisk openssh-client
	# the project venv
	python3-venv
)

# shellcheck source=debpkgs.sh
. "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")/debpkgs.sh"
PROG=deps
ensure_apt_lists
ensure_pkgs "${pkgs[@]}"
echo "deps: ${#pkgs[@]} Debian packages present"
