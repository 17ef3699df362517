#!/usr/bin/env bash
# `make demo`: the whole product on this machine.
#  1. the lab VM (scripts/lab-vm.sh up: image built once, cached in ~/.cache)
#  2. the VMCSINFO a real VMX CPU gives (Bochs: tests/vmx/vmx-probe.sh, re-run
#     only when the module source changed), so a machine without VMX (QEMU
#     TCG here) still shows a real layout, and the VM gets it as its supplied
#     VMCSINFO (inventories/lab/group_vars/all.yml)
#  3. deploy.yml on the VM (DKMS build + sign, load policy, kdump with
#     crashkernel= through GRUB and one reboot, the supplied VMCSINFO)
#  4. the VM's VMCSINFO facts as a table
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

step "2/4 VMCSINFO from a real VMX CPU (Bochs corei7_haswell_4770, Debian 6.1 kernel)"
out=$("$here/vmx-probe-result.sh")
python "$here/show_vmcsinfo.py" "$out"
done_step

step "3/4 ansible-playbook deploy.yml -i inventories/lab (the first run builds the module and reboots the VM once: several minutes under TCG)"
ansible-playbook deploy.yml -i inventories/lab
done_step

step "4/4 the lab VM's VMCSINFO facts"
python "$here/show_facts.py" -i inventories/lab
done_step

echo
echo "demo: finished in $((SECONDS - t_all)) s. The VM keeps running: scripts/lab-vm.sh ssh,"
echo "demo: ansible -i inventories/lab all -m ping; stop it with: make demo-down"
