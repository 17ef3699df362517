#!/usr/bin/python
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""A host's crash dumps and the guest VMCSes in each (post-crash triage)."""

from __future__ import annotations

DOCUMENTATION = r"""
---
module: vmcsinfo_crash_info
short_description: List a KVM host's crash dumps and the guest state each one holds
version_added: 0.1.0
description:
  - Lists the crash dumps that kdump wrote on the host (the directory Debian's kdump-tools names in
    C(KDUMP_COREDIR) of C(/etc/default/kdump-tools), RHEL's kdump the C(path) of
    C(/etc/kdump.conf), else C(/var/crash)), newest first, and reads each one as
    C(vmcsinfo-crash) does.
  - For each dump it says when the host crashed, its kernel, the dump format, which VMCSINFO
    decoded it (the module's ELF note in the dump's own memory, else the C(vmcsinfo) file kdump
    put beside it; the note wins when they disagree, and the disagreement is reported), how many
    guest VMCS pages it holds, and each guest's key registers and last VM exit.
  - Reads only. ELF and zlib-compressed dumps (Debian's default) need nothing but Python on the
    host; lzo, snappy and zstd pages need drgn there.
  - Dumps are opened without following symbolic links, regular files only.
author:
  - fujitsu.vmcsinfo developers (@fujitsu)
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
options:
  path:
    description:
      - The directory that holds the dump directories. By default the one kdump is configured to
        write to.
    type: path
  vmcsinfo:
    description:
      - A VMCSINFO text file on the host to decode every dump with (as C(vmcsinfo-crash
        --vmcsinfo)), for dumps that carry neither a note nor a C(vmcsinfo) file.
    type: path
  limit:
    description:
      - How many dump directories to read, newest first.
    type: int
    default: 5
  fields:
    description:
      - Also return every decoded field of every VMCS (RV(dumps[].vmcs)), as C(vmcsinfo-crash
        --json) does.
    type: bool
    default: false
attributes:
  check_mode:
    support: full
  diff_mode:
    support: none
  platform:
    platforms: posix
"""

EXAMPLES = r"""
- name: Triage the crash dumps of every KVM host
  fujitsu.vmcsinfo.vmcsinfo_crash_info:
  register: crashes

- name: Show each guest's RIP in the newest dump
  ansible.builtin.debug:
    msg: "{{ crashes.dumps[0].guests | map(attribute='rip') | map('int') | list }}"
  when: crashes.dumps | length > 0

- name: Decode dumps that carry no VMCSINFO with a probe of the same CPU model
  fujitsu.vmcsinfo.vmcsinfo_crash_info:
    vmcsinfo: /var/lib/vmcsinfo/vmcsinfo
    limit: 1
    fields: true
"""

RETURN = r"""
crash_dir:
  description: The directory that was listed.
  returned: always
  type: str
  sample: /var/crash
crash_dir_from:
  description: Where that directory came from (C(/etc/default/kdump-tools), C(/etc/kdump.conf),
    C(default) or C(option)).
  returned: always
  type: str
  sample: /etc/default/kdump-tools
dumps:
  description: One entry per dump directory, newest first.
  returned: always
  type: list
  elements: dict
  contains:
    path:
      description: The dump directory.
      type: str
      sample: /var/crash/202612010905
    dump_file:
      description: The dump file in it.
      type: str
      sample: /var/crash/202612010905/dump.202612010905
    stamp:
      description: The directory's name, as kdump stamps it.
      type: str
    size:
      description: The dump file's size in bytes.
      type: int
    mtime:
      description: The dump file's modification time (seconds since the epoch).
      type: int
    error:
      description: Why the dump could not be read (then most other keys are absent).
      type: str
      returned: when the dump could not be read
    exit_code:
      description: C(vmcsinfo-crash)'s exit code for that error (2 unreadable, 3 no VMCSINFO).
      type: int
      returned: when the dump could not be read
    kind:
      description: C(elf) or C(kdump).
      type: str
    flattened:
      description: Whether the dump is makedumpfile's flattened form.
      type: bool
    codecs:
      description: The page compressions met (C(none), C(zlib), C(lzo), C(snappy), C(zstd)).
      type: list
      elements: str
    kernel:
      description: The crashed kernel's release (VMCOREINFO OSRELEASE).
      type: str
    crashtime:
      description: When the kernel crashed (VMCOREINFO CRASHTIME, seconds since the epoch).
      type: int
    pages:
      description: Pages the dump holds.
      type: int
    unreadable_pages:
      description: Pages that could not be read (a codec without a decoder on the host, corrupt
        data).
      type: int
    vmcsinfo:
      description: The VMCSINFO used (source C(option), C(note) or C(file); where; digest;
        revision_id; disagree when note and file differ).
      type: dict
    vmcs_count:
      description: Guest VMCS pages found (L1 VMCSes and KVM vmcs12 pages).
      type: int
    rejected:
      description: Pages that started like a VMCS of this layout but failed its checks.
      type: int
    groups:
      description: How many VMs (EPT pointers), QEMU processes (HOST_CR3) and vCPUs (VPIDs).
      type: dict
    guests:
      description: Per VMCS its physical address, whether it is a vmcs12 (C(nested)) or shadow
        VMCS, the key guest registers (rip, rsp, rflags, cr0, cr3, cr4, efer, cs_selector), vpid,
        eptp, host_cr3, the execution mode and privilege level (C(mode), for example
        C(64-bit mode, CPL 0 (kernel))) and the last exit reason by name with its qualification.
      type: list
      elements: dict
    vmcs:
      description: Every decoded field of every VMCS (CONTRACT 4's C(vmcs) list).
      type: list
      elements: dict
      returned: when O(fields=true)
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.fujitsu.vmcsinfo.plugins.module_utils.crash import (
    CrashError,
    crash_dirs,
    list_dumps,
)


def main() -> None:
    module = AnsibleModule(
        argument_spec={
            "path": {"type": "path"},
            "vmcsinfo": {"type": "path"},
            "limit": {"type": "int", "default": 5},
            "fields": {"type": "bool", "default": False},
        },
        supports_check_mode=True,
    )
    p = module.params
    if p["limit"] < 1:
        module.fail_json(msg=f"limit must be 1 or more, not {p['limit']}")
    if p["path"]:
        crash_dir, source = p["path"], "option"
    else:
        crash_dir, source = crash_dirs()
    try:
        dumps = list_dumps(crash_dir, p["vmcsinfo"], p["limit"], p["fields"])
    except CrashError as e:
        module.fail_json(msg=str(e), crash_dir=crash_dir)
    module.exit_json(changed=False, crash_dir=crash_dir, crash_dir_from=source, dumps=dumps)


if __name__ == "__main__":
    main()
