#!/usr/bin/python
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The KVM guests running on a host (deploy.yml asks before a reboot)."""

from __future__ import annotations

DOCUMENTATION = r"""
---
module: vmcsinfo_guests_info
short_description: List the KVM guests running on a host
version_added: 0.1.0
description:
  - Lists every process that holds a KVM VM (a C(anon_inode:kvm-vm) file descriptor, what
    C(KVM_CREATE_VM) returns), whatever started it (libvirt, a bare QEMU, another VMM), with the
    guest's name as QEMU's C(-name) gives it (libvirt passes C(guest=NAME)) and its vCPU count.
  - C(deploy.yml) runs it before rebooting a host and does not reboot one with running guests
    unless C(vmcsinfo_reboot_with_guests) is true.
  - Reads C(/proc) only, without following links (C(readlink) of C(/proc/PID/fd/N)), with bounded
    reads.
author:
  - fujitsu.vmcsinfo developers (@fujitsu)
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
options:
  proc:
    description:
      - Where procfs is mounted (another root's, for a host seen from a container).
    type: path
    default: /proc
attributes:
  check_mode:
    support: full
  diff_mode:
    support: none
  platform:
    platforms: posix
"""

EXAMPLES = r"""
- name: List the guests before a reboot
  fujitsu.vmcsinfo.vmcsinfo_guests_info:
  register: kvm

- name: Say which guests run
  ansible.builtin.debug:
    msg: "{{ kvm.guests | map(attribute='name') | join(', ') or 'no KVM guests' }}"
"""

RETURN = r"""
guests:
  description: One entry per process holding a KVM VM, sorted by pid.
  returned: always
  type: list
  elements: dict
  contains:
    pid:
      description: The process id.
      type: int
    name:
      description: The guest's name (QEMU's C(-name)), else C(COMM[PID]).
      type: str
    comm:
      description: The process's command name.
      type: str
    vcpus:
      description: How many vCPU file descriptors the process holds.
      type: int
count:
  description: How many guests run.
  returned: always
  type: int
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.fujitsu.vmcsinfo.plugins.module_utils.guests import list_guests


def main() -> None:
    module = AnsibleModule(
        argument_spec={"proc": {"type": "path", "default": "/proc"}},
        supports_check_mode=True,
    )
    try:
        guests = list_guests(module.params["proc"])
    except OSError as e:
        module.fail_json(msg=f"cannot list the KVM guests from {module.params['proc']}: {e}")
    module.exit_json(changed=False, guests=guests, count=len(guests))


if __name__ == "__main__":
    main()
