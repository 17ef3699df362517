#!/usr/bin/env bash
# The bare-machine step of `make test`: the README's set-up path, run for real
# in a fresh Debian 12 container, as a new user's machine would run it.
#
# The container is made from the project's own Debian 12 image
# (scripts/container-image.sh: mmdebstrap minbase), rootful podman, with the
# project's tree as it is (tracked and untracked files, no build products, no
# .venv) and nothing of ~/.cache mounted: every package and wheel is
# downloaded. Inside, tests/bare/inside.sh:
#  1. makes the apt lists stale the way a fresh machine had them (only
#     `bookworm main`, months old; BARE_APT=none removes them instead);
#  2. runs scripts/install-deps.sh (`make deps`), which must refresh them and
#     say why; then `make venv`;
#  3. side by side: the kernel lookups and downloads (scripts/kernels.sh, both
#     series, headers and images), a Bochs start to its first serial output
#     (tests/vmx/vmx-start.sh), and the lab image build (scripts/lab-vm.sh
#     image: mmdebstrap's install of the whole package set, postinsts and all,
#     and the disk);
#  4. install-deps.sh again: fresh lists now, so no refresh.
# What breaks there breaks this step, with the tail of the tool's own output.
# Logs: build/bare/ (the container's build/bare/ is copied out at the end).
# Env: BARE_APT=stale|none, BARE_KEEP=1 keeps the container and its tree.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
top=$(cd "$here/../.." && pwd)
# shellcheck source=../../scripts/common.sh
. "$top/scripts/common.sh"
# shellcheck source=../../scripts/podman-env.sh
. "$top/scripts/podman-env.sh"
PROG=bare-machine

out=$top/build/bare
rm -rf "$out"
mkdir -p "$out"
work=$(mktemp -d "${TMPDIR:-/tmp}/bare-machine.XXXXXX")
name=vmcsinfo-bare-$$
cleanup() {
	if [ -n "${BARE_KEEP:-}" ]; then
		say "kept container $name and $work"
		return 0
	fi
	podman rm -f "$name" >/dev/null 2>&1 || true
	rm -rf "$work"
}
trap cleanup EXIT

t0=$SECONDS
image=$("$top/scripts/container-image.sh")
say "image $image ready in $((SECONDS - t0)) s"

# The tree as a clone would have it plus what is not committed yet: the
# files git tracks or would track, none of what it ignores (.venv, build/).
mkdir -p "$work/src"
(cd "$top" && git ls-files -z --cached --others --exclude-standard |
	while IFS= read -r -d '' f; do [ -e "$f" ] && printf '%s\0' "$f"; done |
	tar --null -T - -cf -) | tar -xf - -C "$work/src"
say "tree copied ($(du -sh "$work/src" | cut -f1))"

# What the machine, not the project, gives every program: its network
# settings (proxies, package index, the CAs that TLS to the registries needs:
# this workplace's egress presents its own CA). Nothing of the project's.
machine=()
for v in http_proxy https_proxy no_proxy HTTP_PROXY HTTPS_PROXY NO_PROXY \
	PIP_INDEX_URL PIP_EXTRA_INDEX_URL PIP_TRUSTED_HOST PIP_CERT PIP_DEFAULT_TIMEOUT \
	REQUESTS_CA_BUNDLE SSL_CERT_FILE; do
	[ -n "${!v:-}" ] && machine+=(--env "$v")
done
# And its locale: a UTF-8 one, as Debian installs set (Bochs 2.7 with its
# default wx GUI package aborted in its sound code under LANG=C.UTF-8 and
# not without a LANG: a container without the machine's locale hid that).
for v in LC_ALL LC_CTYPE LANGUAGE; do
	[ -n "${!v:-}" ] && machine+=(--env "$v")
done
machine+=(--env "LANG=${LANG:-C.UTF-8}")
if compgen -G '/usr/local/share/ca-certificates/*.crt' >/dev/null; then
	machine+=(--volume /usr/local/share/ca-certificates:/usr/local/share/ca-certificates:ro)
fi

# --privileged: mmdebstrap mounts /proc, /sys and /dev in its chroot, and
# Bochs gets a network namespace of its own, as on the host.
t1=$SECONDS
rc=0
podman run --name "$name" --privileged --hostname bare-machine \
	--volume "$work/src:/src" --workdir /src "${machine[@]}" \
	--env BARE_APT="${BARE_APT:-stale}" --env HOME=/root \
	"$image" bash /src/tests/bare/inside.sh || rc=$?
cp -a "$work/src/build/bare/." "$out/" 2>/dev/null || true
if [ "$rc" -ne 0 ]; then
	say "FAIL: the set-up failed on a bare Debian 12 (exit $rc) after $((SECONDS - t1)) s; logs in ${out#"$top"/}/"
	exit 1
fi
say "PASS: the set-up works on a bare Debian 12: container run $((SECONDS - t1)) s, whole step $((SECONDS - t0)) s"
