#!/usr/bin/env bash
# `make demo`: the whole product on this machine.
#  1. the lab VM (scripts/lab-vm.sh up: image built once, cached in ~/.cache)
#  2. the VMCSINFO a real VMX CPU gives (Bochs: tests/vmx/vmx-probe.sh, re-run
#     only when the module source changed), so a machine without VMX (QEMU
#     TCG here) still shows a real layout, compared with the seed fleet
#     database's entry for that CPU (db/seed), which the VM is served
#  3. deploy.yml on the VM (DKMS build + sign, load policy, the VMCSINFO
#     served from db/seed, kdump with crashkernel= through GRUB and one reboot)
#  4. the VM's VMCSINFO facts as a table
#  5. the inventory groups built from the fact cache (ansible-inventory --graph)
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

step "1/5 lab VM up (first run builds the image: about 2 minutes)"
scripts/lab-vm.sh up
scripts/lab-vm.sh status
done_step

step "2/5 VMCSINFO from a real VMX CPU (Bochs corei7_haswell_4770, Debian 6.1 kernel)"
out=$("$here/vmx-probe-result.sh")
python "$here/show_vmcsinfo.py" "$out"
seed=$(.venv/bin/vmcsinfo-db --db db/seed lookup --vendor GenuineIntel --signature 306c3 --microcode 0 --strict)
PYTHONPATH=$top/collections python - "$out" "$seed" <<'PY'
import sys

from ansible_collections.fujitsu.vmcsinfo.plugins.module_utils.vmcsinfo import parse

probe, seed = parse(open(sys.argv[1]).read()).digest(), parse(sys.argv[2] + "\n").digest()
same = "the same layout" if probe == seed else "ANOTHER layout (re-seed: make vmx-seed)"
print(f"db/seed's entry GenuineIntel/306c3/0: digest {seed[:16]}: {same} as this probe")
PY
done_step

step "3/5 ansible-playbook deploy.yml -i inventories/lab (the first run builds the module and reboots the VM once: several minutes under TCG)"
ansible-playbook deploy.yml -i inventories/lab
done_step

step "4/5 the lab VM's VMCSINFO facts"
python "$here/show_facts.py" -i inventories/lab
done_step

step "5/5 the inventory groups from the fact cache (inventories/lab/vmcsinfo-groups.yml)"
ansible-inventory -i inventories/lab --graph
done_step

echo
echo "demo: finished in $((SECONDS - t_all)) s. The VM keeps running: scripts/lab-vm.sh ssh,"
echo "demo: ansible -i inventories/lab all -m ping; stop it with: make demo-down"
