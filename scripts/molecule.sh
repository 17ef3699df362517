#!/usr/bin/env bash
# Run a molecule scenario of the fujitsu.vmcsinfo collection on rootful podman.
#   scripts/molecule.sh SCENARIO                 molecule test -s SCENARIO
#   scripts/molecule.sh SCENARIO --destroy=never molecule test -s SCENARIO --destroy=never
#   scripts/molecule.sh SCENARIO SUBCOMMAND ...  molecule SUBCOMMAND -s SCENARIO ...
#                                                (converge, verify, idempotence, login, destroy...)
# Scenarios live in COLL/extensions/molecule/SCENARIO (molecule 26's place for a
# collection's scenarios). This sets up the environment they expect:
# CONTAINERS_CONF (podman-env.sh), the venv and ANSIBLE_COLLECTIONS_PATH
# (ansible-env.sh), VMCSINFO_CONTAINER_IMAGE (container-image.sh builds or
# reuses the image) and VMCSINFO_APT_ARCHIVES (host apt cache for the
# containers). Prints the wall time at the end.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
top=$(dirname "$here")
coll=$top/collections/ansible_collections/fujitsu/vmcsinfo

if [ $# -lt 1 ] || [ ! -f "$coll/extensions/molecule/$1/molecule.yml" ]; then
	echo "usage: $0 SCENARIO [SUBCOMMAND] [MOLECULE ARGS...]" >&2
	echo "scenarios: $(cd "$coll/extensions/molecule" && printf '%s ' */)" >&2
	exit 2
fi
scenario=$1
shift
sub="test"
if [ $# -gt 0 ] && [[ $1 != -* ]]; then
	sub=$1
	shift
fi

t0=$SECONDS
# shellcheck source=podman-env.sh
. "$here/podman-env.sh"
# shellcheck source=ansible-env.sh
. "$here/ansible-env.sh"

export VMCSINFO_TOP=$top
if [ "$scenario" = container ] || [ "$scenario" = fleetdb ]; then
	VMCSINFO_CONTAINER_IMAGE=$("$here/container-image.sh")
	export VMCSINFO_CONTAINER_IMAGE
fi
if [ "$scenario" = container ]; then
	export VMCSINFO_APT_ARCHIVES=${VMCSINFO_APT_ARCHIVES:-${XDG_CACHE_HOME:-$HOME/.cache}/vmcsinfo/apt-archives}
	# The two Debian kernels the scenario builds for (the newest 6.1 and 6.12
	# that bookworm's apt sources carry, as for the kbuild and Bochs tests).
	VMCSINFO_KERNEL_6_1=$("$here/kernels.sh" version 6.1)
	VMCSINFO_KERNEL_6_12=$("$here/kernels.sh" version 6.12)
	export VMCSINFO_KERNEL_6_1 VMCSINFO_KERNEL_6_12
fi

if [ "$scenario" = vm ]; then
	# The lab VM of this scenario has its own run state, apart from make demo's.
	export VMCSINFO_LAB_STATE=${VMCSINFO_LAB_STATE:-$top/build/lab-molecule}
	# The VM's fleet database (TCG has no VMX to probe): a fresh copy of the
	# seed database (db/seed, make vmx-seed), which serves it the Bochs
	# Haswell layout because the scenario's inventory says so (serve_as).
	export VMCSINFO_LAB_DB=$VMCSINFO_LAB_STATE/vmcsinfo-db
	mkdir -p "$VMCSINFO_LAB_STATE"
	rm -rf "$VMCSINFO_LAB_DB"
	cp -a "$top/db/seed" "$VMCSINFO_LAB_DB"
fi

# Deterministic scenario discovery (molecule would fall back to COLL/molecule/
# if that directory existed), and no Galaxy: see molecule.yml.
export MOLECULE_GLOB='extensions/molecule/*/molecule.yml'

cd "$coll"
rc=0
molecule "$sub" -s "$scenario" "$@" || rc=$?
echo "molecule: $sub -s $scenario: $([ "$rc" -eq 0 ] && echo ok || echo "FAILED (rc $rc)") in $((SECONDS - t0)) s"
exit "$rc"
