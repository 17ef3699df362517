#!/usr/bin/env bash
# Print the path of the VMCSINFO the Bochs VMX CPU gives (tests/vmx/vmx-probe.sh),
# running the probe first when there is no result yet or the module source is
# newer than it. Used by make demo and the vm molecule scenario, which give it
# to a lab VM that cannot probe (QEMU TCG has no VMX). Probe output goes to stderr.
set -euo pipefail
here=$(cd "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")" && pwd)
top=$(dirname "$here")
cd "$top"
out=build/vmx/corei7_haswell_4770/vmcsinfo
modsrc=collections/ansible_collections/fujitsu/vmcsinfo/module-src
if [ -s "$out" ] && [ -z "$(find "$modsrc" -maxdepth 1 -type f -newer "$out" -print -quit)" ]; then
	echo "vmx-probe: reusing $out (the module source has not changed since it was probed)" >&2
else
	tests/vmx/vmx-probe.sh >&2
fi
[ -s "$out" ] || {
	echo "vmx-probe: no $out after the probe" >&2
	exit 1
}
echo "$top/$out"
