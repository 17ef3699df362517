#!/usr/bin/python
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Record and check a host's converged vmcsinfo deployment (deploy.yml's fast path)."""

from __future__ import annotations

DOCUMENTATION = r"""
---
module: vmcsinfo_deploy_state
short_description: Whether a host is still as the last complete vmcsinfo deployment left it
version_added: 0.1.0
description:
  - C(deploy.yml) runs the build, load and kdump roles (dozens of tasks, each a round trip to the
    host) only on hosts that need them. After a run that left nothing pending, it records the host's
    state with O(state=record); the next run checks it with O(state=check) in one round trip and
    skips the roles when nothing changed.
  - The record holds the O(fingerprint) of what was deployed (computed on the controller from the
    collection's content, the module source and the C(vmcsinfo_*) variables), a checksum, mode and
    owner of every file the roles manage (O(paths)), the installed and running kernels, and the
    runtime state the roles act on (crash kernel memory, kdump loaded, the vmcsinfo and kvm_intel
    modules).
  - Any difference, including a file edited or removed by hand, a new kernel, a reboot that left
    kdump unloaded or a changed variable, makes O(state=check) return RV(converged=false) with the
    reasons, and C(deploy.yml) runs the roles in full.
author:
  - fujitsu.vmcsinfo developers (@fujitsu)
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
options:
  state:
    description:
      - V(check) compares the host with the record and changes nothing.
      - V(record) writes the record (only when it differs, ignoring its time stamp).
      - V(absent) removes the record, so that the next run is a full one.
    type: str
    choices: [check, record, absent]
    default: check
  fingerprint:
    description:
      - The controller-side fingerprint of what is being deployed. Required for V(check) and
        V(record).
    type: str
  paths:
    description:
      - Glob patterns (C(**) matches any depth) of the files whose content, mode and owner are part
        of the state. Symbolic links are recorded by their target. Required for V(check) and
        V(record).
      - C(deploy.yml) passes the union of what the collection's roles publish as the files they
        manage, and what the kdump capture wrapper depends on (kdump-tools' init script,
        C(kdump-config), its units and its package version, so that an upgrade of kdump-tools makes
        the next run a full one); the lookup P(fujitsu.vmcsinfo.vmcsinfo_managed_files#lookup)
        returns it.
    type: list
    elements: str
  path:
    description:
      - The record file.
    type: path
    default: /var/lib/vmcsinfo/deploy-state.json
  pending:
    description:
      - With O(state=record), what the recorded state still waits for, only a reboot can settle
        (V(kdump) - crash kernel memory; V(load) - the module's load before kvm_intel). A host that
        waits for a reboot and is otherwise unchanged takes the fast path too; RV(pending) tells
        C(deploy.yml) that the reboot is still due.
    type: list
    elements: str
    choices: [kdump, load]
    default: []
attributes:
  check_mode:
    support: full
  diff_mode:
    support: full
  platform:
    platforms: posix
notes:
  - The record is bookkeeping for C(deploy.yml); the roles do not read it. Removing it (or running
    C(deploy.yml -e vmcsinfo_deploy_full=true)) only makes the next run a full one.
  - C(/var/lib/vmcsinfo/vmcsinfo.origin) is left out on purpose, because the persist helper
    rewrites its time stamp at every boot while the VMCSINFO text itself stays the same.
"""

EXAMPLES = r"""
- name: Is this host still as the last complete run left it?
  fujitsu.vmcsinfo.vmcsinfo_deploy_state:
    fingerprint: "{{ vmcsinfo_deploy_fingerprint }}"
    paths: "{{ query('fujitsu.vmcsinfo.vmcsinfo_managed_files') }}"
  register: vmcsinfo_deploy_check

- name: Run the roles only when it is not
  ansible.builtin.include_role:
    name: fujitsu.vmcsinfo.vmcsinfo_build
  when: not vmcsinfo_deploy_check.converged

- name: Record the converged state for the next run
  fujitsu.vmcsinfo.vmcsinfo_deploy_state:
    state: record
    fingerprint: "{{ vmcsinfo_deploy_fingerprint }}"
    paths: "{{ query('fujitsu.vmcsinfo.vmcsinfo_managed_files') }}"
"""

RETURN = r"""
converged:
  description:
    - Whether the record exists and matches the host and O(fingerprint) (O(state=check)); after
      O(state=record), always true.
  returned: always
  type: bool
  sample: true
reasons:
  description:
    - Why the host is not converged (O(state=check)), at most 20 entries, most important first.
  returned: always
  type: list
  elements: str
  sample: ["changed: /etc/modprobe.d/vmcsinfo.conf", "new kernel: 6.1.0-57-amd64"]
pending:
  description:
    - What the recorded state waits for a reboot for (O(pending) of the record), when the host is
      converged (O(state=check)) or was just recorded; empty otherwise.
  returned: always
  type: list
  elements: str
  sample: [kdump]
recorded_at:
  description: When the record was written (UTC, ISO 8601), or null when there is none.
  returned: always
  type: str
  sample: "2026-11-24T10:00:00Z"
files:
  description: How many files the record covers (after O(state=record) or O(state=check)).
  returned: always
  type: int
  sample: 42
path:
  description: The record file.
  returned: always
  type: str
  sample: /var/lib/vmcsinfo/deploy-state.json
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.fujitsu.vmcsinfo.plugins.module_utils.deploy_record import run_module


def main() -> None:
    module = AnsibleModule(
        argument_spec={
            "state": {"type": "str", "choices": ["check", "record", "absent"], "default": "check"},
            "fingerprint": {"type": "str"},
            "paths": {"type": "list", "elements": "str"},
            "path": {"type": "path", "default": "/var/lib/vmcsinfo/deploy-state.json"},
            "pending": {
                "type": "list",
                "elements": "str",
                "choices": ["kdump", "load"],
                "default": [],
            },
        },
        required_if=[
            ("state", "check", ("fingerprint", "paths")),
            ("state", "record", ("fingerprint", "paths")),
        ],
        supports_check_mode=True,
    )
    run_module(module)


if __name__ == "__main__":
    main()
