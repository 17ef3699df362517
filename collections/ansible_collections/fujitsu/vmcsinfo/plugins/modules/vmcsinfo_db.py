#!/usr/bin/python
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Merge a batch of hosts' probes into the fleet VMCSINFO database and serve the others."""

from __future__ import annotations

DOCUMENTATION = r"""
---
module: vmcsinfo_db
short_description: Feed the fleet VMCSINFO database from a batch of hosts and serve the rest
version_added: 0.4.0
description:
  - Runs where the database is (the controller; C(delegate_to=localhost), C(run_once=true)), once
    for a batch of hosts. The fujitsu.vmcsinfo.vmcsinfo_db role calls it after the vmcsinfo_load
    role.
  - Every host whose VMCSINFO is its own probe (facts source V(probe), or a snapshot with
    C(ORIGIN=probe)) contributes the text to the database in O(db), with its provenance (host,
    kernel, module version, time, kind V(probe)). All of them in one merge (one lock, one index
    write).
  - Every other Intel host (no VMCSINFO, a snapshot of unknown origin, one the database served
    before) is served from the database as it is after the merge, by its CPU vendor, signature
    and microcode (and VMCS revision id when the facts have it), or by the identity in its
    report's C(serve_as). An exact key serves its text; another microcode of the same signature
    and revision id only with evidence (two or more microcode revisions with one and the same
    layout and no other), unless O(strict). A key with two layouts (a conflict) is never served,
    and the hosts that produced or asked for it are flagged (RV(hosts)).
  - A snapshot the operator supplied (C(ORIGIN=supplied)) is kept; a host whose CPU is not Intel
    is skipped.
  - The served text is the probed text byte for byte, so its digest is the probe's. This module
    does not write to the hosts; the role installs each served text with
    M(fujitsu.vmcsinfo.vmcsinfo_snapshot)
    (O(fujitsu.vmcsinfo.vmcsinfo_snapshot#module:origin=database)).
  - The database is the directory C(vmcsinfo-db) works on (DESIGN.md CONTRACT 5); writers lock it
    and replace its files atomically, so two plays or controllers on one database never corrupt it.
author:
  - fujitsu.vmcsinfo developers (@fujitsu)
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
options:
  db:
    description:
      - The database directory, created when a probe is added to a missing one.
    type: path
    required: true
  hosts:
    description:
      - One report per host of the batch.
    type: list
    elements: dict
    required: true
    suboptions:
      host:
        description: The inventory name.
        type: str
        required: true
      facts:
        description: The host's C(ansible_facts.vmcsinfo) (M(fujitsu.vmcsinfo.vmcsinfo_facts)).
        type: dict
        required: true
      text:
        description:
          - The VMCSINFO text the host's layout came from
            (M(fujitsu.vmcsinfo.vmcsinfo_facts) with
            O(fujitsu.vmcsinfo.vmcsinfo_facts#module:return_text=true)).
        type: str
      serve_as:
        description:
          - Serve the host as if its CPU were this one (C(vendor), C(signature), C(microcode),
            hex as in CONTRACT 2; C(revision_id) optional), when the inventory says so explicitly,
            as the lab does for a VM under QEMU TCG, which has no VMX of its own.
        type: dict
      strict:
        description:
          - This host's own O(strict) (its C(vmcsinfo_db_strict)); unset, the round's.
        type: bool
  strict:
    description:
      - Serve exact keys only (CONTRACT 5's C(--strict)), never a layout of another microcode.
    type: bool
    default: false
  source:
    description:
      - The provenance C(source) of the contributed probes.
    type: str
    default: deploy.yml
notes:
  - Needs no root and no become; it reads and writes only O(db).
  - A corrupt or hand-edited C(index.json), or an entry file that is not what the index says,
    fails the task with the file and the place, and nothing is written.
attributes:
  check_mode:
    support: full
    details: Nothing is written; the hosts are served from the database as it is.
  diff_mode:
    support: none
  platform:
    platforms: posix
seealso:
  - module: fujitsu.vmcsinfo.vmcsinfo_snapshot
  - module: fujitsu.vmcsinfo.vmcsinfo_facts
"""

EXAMPLES = r"""
- name: Feed the database and serve this batch
  fujitsu.vmcsinfo.vmcsinfo_db:
    db: "{{ inventory_dir }}/vmcsinfo-db"
    hosts:
      - host: kvm-host-01
        facts: "{{ hostvars['kvm-host-01'].ansible_facts.vmcsinfo }}"
        text: "{{ hostvars['kvm-host-01'].vmcsinfo_text.text }}"
  delegate_to: localhost
  run_once: true
  become: false
  register: round
"""

RETURN = r"""
msg:
  description: How many hosts contributed, were served, kept, skipped, unserved or failed.
  returned: always
  type: str
  sample: "fleet database inventories/prod/vmcsinfo-db: 12 contributed, 3 served"
added:
  description: The hosts whose probe added a new key or layout.
  returned: always
  type: list
  elements: str
  sample: [kvm-host-01]
already:
  description: The hosts whose probe was in the database already.
  returned: always
  type: list
  elements: str
  sample: [kvm-host-02]
conflicts:
  description: The hosts whose probe gave a key a second layout (recorded, never served).
  returned: always
  type: list
  elements: str
  sample: []
microcode_changes:
  description: The database's drift records this run added (a microcode revision seen for the
    first time for a CPU and revision id, and whether its layout differs).
  returned: always
  type: list
  elements: dict
  sample: []
hosts:
  description: Per host, what happened.
  returned: always
  type: dict
  sample:
    kvm-host-03:
      action: served
      basis: exact
      db_key: GenuineIntel/306c3/28/2b/1000
      digest: 3f5c0e1d2b8a4c6e9f7a1b3c5d7e9f0a2b4c6d8e0f1a3b5c7d9e1f2a4b6c8d0e
      served: true
      conflict: false
      reason: "exact match: vendor GenuineIntel signature 306c3 microcode 28 ..."
  contains:
    action:
      description: V(contributed), V(served), V(unserved) (nothing may be served,
        RV(hosts.reason) says why), V(keep), V(skip) or V(failed) (its text did not parse).
      type: str
      returned: always
    plan:
      description: What the decision table planned (V(contribute), V(serve), V(keep), V(skip)).
      type: str
      returned: always
    contributed:
      description: For a contributing host, V(added), V(already), V(conflict), or V(would) in check
        mode; else V(null).
      type: str
      returned: always
    served:
      description: Whether a text was served.
      type: bool
      returned: always
    text:
      description: The served text, byte for byte as probed; else V(null).
      type: str
      returned: always
    db_key:
      description: The database key of the served or contributed text.
      type: str
      returned: always
    digest:
      description: Its layout digest.
      type: str
      returned: always
    basis:
      description: For a served text, V(exact) or V(other-microcode).
      type: str
      returned: always
    served_for:
      description: For a served text, the CPU the database was asked for
        (C(VENDOR/SIGNATURE/MICROCODE)).
      type: str
      returned: always
    reason:
      description: Why, in one line.
      type: str
      returned: always
    conflict:
      description: Whether the host produced, or asked for, a key in conflict.
      type: bool
      returned: always
    conflict_reason:
      description: The conflict with both layouts' provenance.
      type: str
      returned: always
    stale:
      description: The facts' C(stale) (microcode changed since the probe).
      type: bool
      returned: always
    microcode_change:
      description: The drift record this host's probe added, else V(null).
      type: dict
      returned: always
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.fujitsu.vmcsinfo.plugins.module_utils.fleetdb import FleetDbError
from ansible_collections.fujitsu.vmcsinfo.plugins.module_utils.fleetplay import run_round


def main() -> None:
    module = AnsibleModule(
        argument_spec={
            "db": {"type": "path", "required": True},
            "hosts": {
                "type": "list",
                "elements": "dict",
                "required": True,
                "options": {
                    "host": {"type": "str", "required": True},
                    "facts": {"type": "dict", "required": True},
                    "text": {"type": "str"},
                    "serve_as": {"type": "dict"},
                    "strict": {"type": "bool"},
                },
            },
            "strict": {"type": "bool", "default": False},
            "source": {"type": "str", "default": "deploy.yml"},
        },
        supports_check_mode=True,
    )
    p = module.params
    try:
        result = run_round(
            p["db"],
            p["hosts"],
            strict=p["strict"],
            check_mode=module.check_mode,
            source=p["source"],
        )
    except FleetDbError as e:
        module.fail_json(msg=f"fleet database {p['db']}: {e}")
    module.exit_json(**result)


if __name__ == "__main__":
    main()
