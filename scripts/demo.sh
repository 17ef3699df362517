#!/usr/bin/env bash
# `make demo`: the whole product on this machine.
#  1. the lab VM (scripts/lab-vm.sh up: image built once, cached in ~/.cache)
#  2. deploy.yml on it (DKMS build + sign, load policy, kdump)
#  3. the VM's VMCSINFO facts as a table
#  4. the VMCSINFO a real VMX CPU gives (Bochs: tests/vmx/vmx-probe.sh, re-run
#     only when the module source changed), so a machine without VMX (QEMU
#     TCG here) still shows a real layout.
# `make demo-down` stops the VM.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
top=$(dirname "$here")
cd "$top"
# shellcheck source=ansible-env.sh
. "$here/ansible-env.sh"
export ANSIBLE_CONFIG=$top/ansible.cfg

t_all=$SECONDS
step() {
	echo
	echo "==== demo: $*"
	t_step=$SECONDS
}
done_step() { echo "==== demo: done in $((SECONDS - t_step)) s"; }

step "1/4 lab VM up (first run builds the image: about 2 minutes)"
scripts/lab-vm.sh up
scripts/lab-vm.sh status
done_step

step "2/4 ansible-playbook deploy.yml -i inventories/lab (first run builds the module: a few minutes under TCG)"
ansible-playbook deploy.yml -i inventories/lab
done_step

step "3/4 the lab VM's VMCSINFO facts"
python "$here/show_facts.py" -i inventories/lab
done_step

step "4/4 VMCSINFO from a real VMX CPU (Bochs corei7_haswell_4770, Debian 6.1 kernel)"
out=build/vmx/corei7_haswell_4770/vmcsinfo
modsrc=collections/ansible_collections/fujitsu/vmcsinfo/module-src
if [ -s "$out" ] && [ -z "$(find "$modsrc" -maxdepth 1 -type f -newer "$out" -print -quit)" ]; then
	echo "demo: reusing $out (the module source has not changed since it was probed)"
else
	tests/vmx/vmx-probe.sh
fi
python "$here/show_vmcsinfo.py" "$out"
done_step

echo
echo "demo: finished in $((SECONDS - t_all)) s. The VM keeps running: scripts/lab-vm.sh ssh,"
echo "demo: ansible -i inventories/lab all -m ping; stop it with: make demo-down"
