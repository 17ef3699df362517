#!/usr/bin/env bash
# Build, or reuse, the Debian 12 (bookworm) systemd image that the molecule
# `container` scenario runs, and print its reference on stdout (progress goes
# to stderr).
#
# The root file system comes from mmdebstrap (minbase + systemd, dbus and what
# Ansible's modules need: python3, python3-apt). Nothing the roles under test
# install themselves (dkms, gcc, kernel headers, kdump-tools) is baked in.
# The tarball is cached as ~/.cache/vmcsinfo/images/deb12-KEY.tar and imported
# as localhost/vmcsinfo-deb12:KEY (also tagged :latest), where KEY hashes this
# script (the recipe) and the apt mirror: a change of either builds anew.
# The image uses the Debian mirror that this host's apt uses.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=podman-env.sh
. "$here/podman-env.sh"
# shellcheck source=debpkgs.sh
. "$here/debpkgs.sh"
PROG=container-image

suite=bookworm
repo=localhost/vmcsinfo-deb12
cache=${XDG_CACHE_HOME:-$HOME/.cache}/vmcsinfo/images
include=systemd,systemd-sysv,dbus,python3,python3-apt,ca-certificates

log() { say "$@"; }

ensure_apt_lists
mapfile -t sources < <(mirror_sources "$suite")
[ ${#sources[@]} -gt 0 ] || die "no apt sources for $suite"

key=$(printf '%s\n' "${sources[@]}" | cat "${BASH_SOURCE[0]}" - | sha256sum | cut -c1-12)
tag=$repo:$key
tar=$cache/deb12-$key.tar

if podman image exists "$tag"; then
	log "$tag present"
	podman tag "$tag" "$repo:latest"
	echo "$tag"
	exit 0
fi

mkdir -p "$cache"
exec 9>"$cache/.lock"
flock 9 # one build at a time; a concurrent run finds the result below

t0=$SECONDS
if [ ! -s "$tar" ]; then
	ensure_pkgs mmdebstrap
	log "building $tar with mmdebstrap ($suite from ${sources[0]#deb })"
	rm -f "$tar.tmp" "$cache/mmdebstrap.log"
	# The hooks run in mmdebstrap's shell, where $1 is the new root.
	# shellcheck disable=SC2016
	hooks=(
		--customize-hook='cat >"$1/etc/apt/apt.conf.d/90vmcsinfo-test" <<-EOF
			// Test container: /var/cache/apt/archives is a host cache bind mount.
			// Keep what apt downloads, so a re-run does not download it again.
			APT::Keep-Downloaded-Packages "true";
			Binary::apt::APT::Keep-Downloaded-Packages "true";
			// The mount is owned by root: download as root (no _apt sandbox).
			APT::Sandbox::User "root";
		EOF'
		# podman provides these per container; systemd makes a machine id.
		--customize-hook='rm -f "$1/etc/hostname" "$1/etc/resolv.conf"; : >"$1/etc/machine-id"'
	)
	run_logged mmdebstrap "$cache/mmdebstrap.log" \
		mmdebstrap --variant=minbase --format=tar --include="$include" "${hooks[@]}" \
		"$suite" "$tar.tmp" "${sources[@]}" ||
		die "mmdebstrap could not build the container image (log: $cache/mmdebstrap.log)"
	mv "$tar.tmp" "$tar"
	log "built $(du -h "$tar" | cut -f1) rootfs in $((SECONDS - t0)) s"
	# Older recipes' tarballs are dead weight now.
	find "$cache" -maxdepth 1 -name 'deb12-*.tar' ! -name "deb12-$key.tar" -delete
fi

if ! podman image exists "$tag"; then
	t1=$SECONDS
	run_logged "podman import" "$cache/podman-import.log" podman import \
		--change 'CMD ["/sbin/init"]' \
		--change 'STOPSIGNAL SIGRTMIN+3' \
		--change "LABEL org.vmcsinfo.recipe=$key" \
		"$tar" "$tag" || die "podman import of $tar failed"
	log "imported $tag in $((SECONDS - t1)) s"
fi
podman tag "$tag" "$repo:latest"
# Drop the images of older recipes (kept while a container still uses one).
podman images --format '{{.Repository}}:{{.Tag}}' --filter "reference=$repo" |
	grep -vxF -e "$tag" -e "$repo:latest" | xargs -r podman rmi >/dev/null 2>&1 || true
log "image ready in $((SECONDS - t0)) s"
echo "$tag"
