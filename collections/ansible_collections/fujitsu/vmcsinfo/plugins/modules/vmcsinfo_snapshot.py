#!/usr/bin/python
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Install (or remove) a VMCSINFO that was not probed on this host as its persisted snapshot."""

from __future__ import annotations

DOCUMENTATION = r"""
---
module: vmcsinfo_snapshot
short_description: Install a VMCSINFO from elsewhere as the host's persisted snapshot
version_added: 0.1.0
description:
  - For a host that cannot probe its own VMCSINFO (no Intel VMX, as under QEMU TCG; KVM owns VMX;
    policy forbids the vmcsinfo kernel module), installs a VMCSINFO text obtained elsewhere (a
    probe of the same CPU model on another host, the Bochs VMX probe, the fleet database) as the
    host's persisted snapshot C(vmcsinfo) in O(dir), which the facts module falls back to and the
    kdump capture path copies beside every crash dump.
  - The text is parsed with the collection's one VMCSINFO parser (format 1) first. A malformed
    text, including a missing or unknown C(VMCSINFO_FORMAT) first line, fails the task with the
    line and the problem, and nothing is written.
  - Writes C(vmcsinfo) (the text, with exactly one final newline; CR LF line ends become LF) and
    its sidecar C(vmcsinfo.origin) with the lines C(ORIGIN=supplied), C(SOURCE=<source>),
    C(KERNEL=<running kernel>), C(BOOT_ID=<boot id>) and C(SAVED_AT=<UTC time>), in the
    C(KEY=value) style of the role's persist helper. Each file is written to a temporary file in
    O(dir) and renamed over the old one, mode 0644. A symbolic link in the place of either file
    is replaced, never written through; a directory there fails the task and nothing is changed.
  - Idempotent. When the snapshot already holds the same text from the same O(source), nothing
    is written (not even C(SAVED_AT)).
  - A probe always wins. The text is not installed, and the module returns RV(own_probe=true) and
    C(changed=false), when the vmcsinfo module has probed this host
    (C(/sys/kernel/vmcsinfo/vmcsinfo) exists) or the snapshot in O(dir) is a probe (C(ORIGIN=probe))
    of this host's CPU (same C(CPU_VENDOR) and C(CPU_SIGNATURE) as C(/proc/cpuinfo); a probe
    snapshot of another CPU, for example on a cloned disk, is replaced). The other way round, the
    vmcsinfo_load role's persist helper replaces a supplied snapshot whenever the module probes.
  - On a host whose CPU has Intel VMX (the C(vmx) flag), the text must describe this CPU, checked
    while nothing is written; see O(validate_cpu). On a host without VMX (AMD, QEMU TCG, VMX
    hidden or disabled) no such check is possible and none is made; the differences are
    reported in RV(cpu_mismatch).
  - With O(origin=database) the text is one the fleet database served (the
    fujitsu.vmcsinfo.vmcsinfo_db role installs it so). The sidecar then says C(ORIGIN=database)
    and adds C(DB_KEY=<key>) and C(DIGEST=<layout digest>), and a text whose layout digest is
    not O(digest) is refused with nothing written. M(fujitsu.vmcsinfo.vmcsinfo_facts) then
    reports C(source=database).
  - O(state=absent) removes a supplied snapshot (C(ORIGIN=supplied) or C(ORIGIN=database)) and
    its sidecar. A probe snapshot, or one without a sidecar, is left alone.
author:
  - fujitsu.vmcsinfo developers (@fujitsu)
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
options:
  state:
    description:
      - V(present) installs O(content) unless the host has its own probe; V(absent) removes a
        supplied snapshot.
    type: str
    choices: [present, absent]
    default: present
  content:
    description:
      - The VMCSINFO text (format 1), exactly as the vmcsinfo kernel module
        or C(vmcsinfo-sim) prints it, starting with C(VMCSINFO_FORMAT=1).
      - Required with O(state=present).
    type: str
  source:
    description:
      - Where the text comes from, free text on one line (for example V(bochs-2.7 probe),
        V(fleetdb), V(probe of kvm-host-17)); recorded as C(SOURCE) in C(vmcsinfo.origin).
      - Required with O(state=present). A different source with the same text rewrites the
        sidecar.
    type: str
  origin:
    description:
      - V(supplied) for a text from elsewhere (C(ORIGIN=supplied)); V(database) for a text the
        fleet database served (C(ORIGIN=database), with O(db_key) and O(digest)).
    type: str
    choices: [supplied, database]
    default: supplied
  db_key:
    description:
      - The fleet database key whose text this is
        (C(VENDOR/SIGNATURE/MICROCODE/REVISION_ID/REGION_SIZE)), recorded as C(DB_KEY).
        Required with O(origin=database), ignored otherwise.
    type: str
  digest:
    description:
      - The layout digest the database recorded for the text, recorded as C(DIGEST); the text
        must have it. Required with O(origin=database), ignored otherwise.
    type: str
  served_for:
    description:
      - The CPU the database was asked for (C(VENDOR/SIGNATURE/MICROCODE), hex as in CONTRACT 2),
        recorded as C(SERVED_FOR). The facts call the snapshot stale when the running CPU differs
        from it (a microcode update since), not when the text's own C(MICROCODE) does (a layout
        served from another microcode with the database's evidence). Only with O(origin=database).
    type: str
  dir:
    description:
      - Directory of the snapshot C(vmcsinfo) and its sidecar C(vmcsinfo.origin). Created (mode
        0755) when missing.
    type: path
    default: /var/lib/vmcsinfo
  root:
    description:
      - Root directory to read C(proc/), C(sys/) and C(dev/) under (this host's CPU, the vmcsinfo
        module's sysfs file), and to take O(dir) under, as
        O(fujitsu.vmcsinfo.vmcsinfo_facts#module:root) (a host file system mounted elsewhere).
    type: path
    default: /
  validate_cpu:
    description:
      - On a host whose CPU has Intel VMX, refuse a text whose C(CPU_VENDOR) or C(CPU_SIGNATURE)
        differ from this CPU's, or, when C(/dev/cpu/0/msr) is readable (the C(msr) kernel module
        is loaded), whose C(REVISION_ID) differs from IA32_VMX_BASIC bits 30:0. A VMCSINFO of
        another CPU model would decode this host's crash dumps wrongly.
      - V(false) installs such a text anyway (the differences are still reported in
        RV(cpu_mismatch)). A different C(MICROCODE) is only reported, never refused.
      - Has no effect on a host without VMX.
    type: bool
    default: true
notes:
  - Needs root to write O(dir) (C(become=true)).
  - The persisted snapshot is what survives reboots while the kernel module is not loaded; the
    vmcsinfo_load role's persist helper leaves it alone when there is no probe to save.
seealso:
  - module: fujitsu.vmcsinfo.vmcsinfo_facts
attributes:
  check_mode:
    support: full
  diff_mode:
    support: full
    details: The diff shows the VMCSINFO text and the C(vmcsinfo.origin) sidecar.
  platform:
    platforms: posix
"""

EXAMPLES = r"""
- name: Give a QEMU TCG host the VMCSINFO the Bochs VMX probe found
  fujitsu.vmcsinfo.vmcsinfo_snapshot:
    content: "{{ lookup('ansible.builtin.file', 'files/bochs-corei7_haswell_4770.vmcsinfo') }}"
    source: bochs-2.7 probe
  become: true

- name: Read the VMCSINFO kvm-host-01 probed (its persisted snapshot)
  ansible.builtin.slurp:
    src: /var/lib/vmcsinfo/vmcsinfo
  delegate_to: kvm-host-01
  register: probed

- name: Give a KVM host the probe of another host with the same CPU
  fujitsu.vmcsinfo.vmcsinfo_snapshot:
    content: "{{ probed.content | b64decode }}"
    source: probe of kvm-host-01
  become: true
  register: supplied

- name: Say why it was not installed
  ansible.builtin.debug:
    msg: "{{ supplied.msg }}"
  when: supplied.own_probe

- name: Remove a supplied snapshot (a probe snapshot stays)
  fujitsu.vmcsinfo.vmcsinfo_snapshot:
    state: absent
  become: true
"""

RETURN = r"""
msg:
  description: What was done, or why not, in one sentence.
  returned: always
  type: str
  sample: "installed the VMCSINFO supplied from bochs-2.7 probe in /var/lib/vmcsinfo/vmcsinfo"
installed:
  description: Whether the snapshot holds the supplied text from O(source) after the run (also
    when it already did). Always V(false) with O(state=absent).
  returned: always
  type: bool
  sample: true
own_probe:
  description: Whether the text was not installed because this host has its own probe (the
    loaded vmcsinfo module's sysfs file, or a probe snapshot of this CPU). RV(msg) says which.
  returned: always
  type: bool
  sample: false
snapshot:
  description: The snapshot in O(dir) after the run (as it would be, in check mode).
  returned: always
  type: dict
  contains:
    path:
      description: Path of the snapshot.
      returned: always
      type: str
      sample: /var/lib/vmcsinfo/vmcsinfo
    origin_path:
      description: Path of its sidecar.
      returned: always
      type: str
      sample: /var/lib/vmcsinfo/vmcsinfo.origin
    exists:
      description: Whether the snapshot file exists.
      returned: always
      type: bool
      sample: true
    origin:
      description: C(ORIGIN) of the sidecar (V(probe), V(supplied) or V(database)); V(null)
        without one.
      returned: always
      type: str
      sample: supplied
    source:
      description: C(SOURCE) of the sidecar (the label of a supplied snapshot), else V(null).
      returned: always
      type: str
      sample: bochs-2.7 probe
    db_key:
      description: C(DB_KEY) of the sidecar (a snapshot served from the database), else V(null).
      returned: always
      type: str
      sample: GenuineIntel/306c3/0/2b/1000
    digest:
      description: C(DIGEST) of the sidecar (a snapshot served from the database), else V(null).
      returned: always
      type: str
      sample: 3f5c0e1d2b8a4c6e9f7a1b3c5d7e9f0a2b4c6d8e0f1a3b5c7d9e1f2a4b6c8d0e
    served_for:
      description: C(SERVED_FOR) of the sidecar (a snapshot served from the database), else V(null).
      returned: always
      type: str
      sample: GenuineIntel/306c3/2a
supplied:
  description: What the supplied text describes (its header and layout digest).
  returned: when O(state=present) and the text parsed
  type: dict
  contains:
    cpu_vendor:
      description: C(CPU_VENDOR).
      returned: success
      type: str
      sample: GenuineIntel
    cpu_signature:
      description: C(CPU_SIGNATURE) (CPUID.1:EAX).
      returned: success
      type: int
      sample: 198339
    microcode:
      description: C(MICROCODE).
      returned: success
      type: int
      sample: 40
    revision_id:
      description: C(REVISION_ID), the VMCS revision identifier.
      returned: success
      type: int
      sample: 43
    region_size:
      description: C(REGION_SIZE) in bytes.
      returned: success
      type: int
      sample: 4096
    field_count:
      description: Number of fields.
      returned: success
      type: int
      sample: 147
    digest:
      description: sha256 of the canonical layout, the same as the C(digest) fact of
        M(fujitsu.vmcsinfo.vmcsinfo_facts) for this layout.
      returned: success
      type: str
      sample: 3f5c0e1d2b8a4c6e9f7a1b3c5d7e9f0a2b4c6d8e0f1a3b5c7d9e1f2a4b6c8d0e
host_cpu:
  description: This host's CPU, from C(/proc/cpuinfo) (and C(/dev/cpu/0/msr) when readable).
  returned: when O(state=present)
  type: dict
  contains:
    vendor:
      description: C(vendor_id), or V(null).
      returned: success
      type: str
      sample: AuthenticAMD
    signature:
      description: CPUID.1:EAX rebuilt from family, model and stepping, or V(null).
      returned: success
      type: int
      sample: 11538209
    microcode:
      description: Running microcode revision, or V(null).
      returned: success
      type: int
      sample: 40
    vmx:
      description: Whether the CPU flags list C(vmx).
      returned: success
      type: bool
      sample: false
    revision_id:
      description: VMCS revision identifier from IA32_VMX_BASIC, or V(null) when the MSR could not
        be read (no VMX, or the C(msr) kernel module is not loaded).
      returned: success
      type: int
      sample: null
cpu_mismatch:
  description: How the supplied text's CPU differs from this host's (vendor, signature, microcode,
    revision id), C(; ) separated; empty when it matches or cannot be compared.
  returned: when O(state=present) and the text parsed
  type: str
  sample: "CPU_VENDOR GenuineIntel in the supplied VMCSINFO differs from this CPU's AuthenticAMD"
"""

import os

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.fujitsu.vmcsinfo.plugins.module_utils.hoststate import (
    STATE_DIR,
    state_paths,
    under,
)
from ansible_collections.fujitsu.vmcsinfo.plugins.module_utils.snapshot import (
    SnapshotFailure,
    absent,
    present,
)

# The host's root for /proc, /sys and /dev when O(root) is the default (module-level so that
# the unit tests can point it at a fake host); O(dir) is taken as given.
ROOT = "/"


def main() -> None:
    module = AnsibleModule(
        argument_spec={
            "state": {"type": "str", "choices": ["present", "absent"], "default": "present"},
            "content": {"type": "str"},
            "source": {"type": "str"},
            "dir": {"type": "path", "default": STATE_DIR},
            "validate_cpu": {"type": "bool", "default": True},
            "origin": {"type": "str", "choices": ["supplied", "database"], "default": "supplied"},
            "db_key": {"type": "str", "no_log": False},
            "digest": {"type": "str"},
            "served_for": {"type": "str"},
            "root": {"type": "path", "default": "/"},
        },
        required_if=[
            ("state", "present", ("content", "source")),
            ("origin", "database", ("db_key", "digest")),
        ],
        supports_check_mode=True,
    )
    root = module.params["root"]
    directory = module.params["dir"] if root == "/" else under(root, module.params["dir"])
    if os.path.lexists(directory) and not os.path.isdir(directory):
        module.fail_json(msg=f"dir {directory} exists and is not a directory")
    snap_path, origin_path = state_paths(directory)
    try:
        if module.params["state"] == "present":
            result = present(
                module.params,
                snap_path,
                origin_path,
                check_mode=module.check_mode,
                diff=module._diff,
                root=ROOT if root == "/" else root,
            )
        else:
            result = absent(snap_path, origin_path, check_mode=module.check_mode, diff=module._diff)
    except SnapshotFailure as e:
        module.fail_json(msg=e.msg, **e.result)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
