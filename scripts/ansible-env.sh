# shellcheck shell=bash
# Sourced by scripts/lint-ansible.sh and scripts/molecule.sh: puts the project
# venv (.venv, from requirements.txt) first on PATH and sets
# ANSIBLE_COLLECTIONS_PATH to the repo's collections/ (fujitsu.vmcsinfo) plus
# the third-party collections the tests use, and nothing else (no
# ~/.ansible/collections, no Galaxy).
#
# Galaxy is unreachable; the `ansible` package on PyPI bundles the community
# collections. Installing it into .venv costs 473 MB in 36,700 files (17 s
# from a cached wheel) for the one collection needed, containers.podman (the
# molecule scenarios' connection plugin: 74 files, 0.8 MB). So the wheel
# (54 MB) is downloaded once into ~/.cache/vmcsinfo/wheels and only the listed
# collections are extracted (0.1 s) into build/collections/ansible-VERSION/.
# 12.3.0 is the newest `ansible` for ansible-core 2.19 (requirements.txt).
ANSIBLE_BUNDLE_VERSION=12.3.0
ANSIBLE_THIRD_PARTY=(containers/podman)

ansible_env_top=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
if [ ! -x "$ansible_env_top/.venv/bin/ansible-playbook" ]; then
	echo "ansible-env: no $ansible_env_top/.venv: run 'make venv' first" >&2
	return 1
fi
export VIRTUAL_ENV=$ansible_env_top/.venv
export PATH=$VIRTUAL_ENV/bin:$PATH
# Plain logs when not on a terminal (CI): molecule and ansible-lint colour
# their output even into a pipe otherwise.
if [ ! -t 1 ] && [ -z "${FORCE_COLOR:-}" ]; then
	export NO_COLOR=1
fi

# Extract ANSIBLE_THIRD_PARTY from the cached `ansible` wheel, once.
ansible_env_collections() {
	local dest=$ansible_env_top/build/collections/ansible-$ANSIBLE_BUNDLE_VERSION
	local wheels=${XDG_CACHE_HOME:-$HOME/.cache}/vmcsinfo/wheels
	local wheel=$wheels/ansible-$ANSIBLE_BUNDLE_VERSION-py3-none-any.whl
	local stamp=$dest/.extracted
	[ -e "$stamp" ] && [ "$(cat "$stamp")" = "${ANSIBLE_THIRD_PARTY[*]}" ] && return 0
	if [ ! -s "$wheel" ]; then
		echo "ansible-env: downloading ansible==$ANSIBLE_BUNDLE_VERSION (for ${ANSIBLE_THIRD_PARTY[*]})" >&2
		"$VIRTUAL_ENV/bin/pip" download -q --no-deps --only-binary=:all: \
			-d "$wheels" "ansible==$ANSIBLE_BUNDLE_VERSION" >&2 || return 1
	fi
	rm -rf "$dest"
	"$VIRTUAL_ENV/bin/python" - "$wheel" "$dest" "${ANSIBLE_THIRD_PARTY[@]}" <<-'PY' || return 1
		import sys, zipfile
		wheel, dest, *names = sys.argv[1:]
		with zipfile.ZipFile(wheel) as z:
		    for name in names:
		        prefix = f"ansible_collections/{name}/"
		        members = [m for m in z.namelist() if m.startswith(prefix)]
		        if not members:
		            sys.exit(f"ansible-env: {name} is not in {wheel}")
		        z.extractall(dest, members)
	PY
	printf '%s\n' "${ANSIBLE_THIRD_PARTY[*]}" >"$stamp"
	echo "ansible-env: extracted ${ANSIBLE_THIRD_PARTY[*]} into $dest" >&2
}
ansible_env_collections || return 1
export ANSIBLE_COLLECTIONS_PATH=$ansible_env_top/collections:$ansible_env_top/build/collections/ansible-$ANSIBLE_BUNDLE_VERSION
