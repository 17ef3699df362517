#!/usr/bin/python
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Gather VMCSINFO facts: the host's VMCS layout, where it came from, and what surrounds it."""

from __future__ import annotations

DOCUMENTATION = r"""
---
module: vmcsinfo_facts
short_description: Gather the host's VMCSINFO (Intel VMX VMCS field layout) as facts
version_added: 0.1.0
description:
  - Sets C(ansible_facts.vmcsinfo) to the VMCS field layout of the host's CPU, parsed from the
    VMCSINFO text exported by the vmcsinfo kernel module (C(/sys/kernel/vmcsinfo/vmcsinfo)) or,
    when that cannot be read, from the snapshot on disk (C(/var/lib/vmcsinfo/vmcsinfo)), together
    with the CPU identity, the kernel module's and kdump's state.
  - The source is chosen in this order. V(probe) when C(/sys/kernel/vmcsinfo/vmcsinfo) is readable
    and parses. V(database) when the snapshot parses and is a text the fleet database served
    (C(ORIGIN=database) in its sidecar, installed by the fujitsu.vmcsinfo.vmcsinfo_db role) with the
    layout digest its sidecar recorded. V(snapshot) when the snapshot parses otherwise (a copy of
    an earlier probe, or a VMCSINFO supplied from elsewhere by
    M(fujitsu.vmcsinfo.vmcsinfo_snapshot), with
    RV(ansible_facts.vmcsinfo.snapshot.origin=supplied)). V(none) otherwise, with
    RV(ansible_facts.vmcsinfo.reason) naming the first cause of, in this order, a non-Intel CPU,
    VMX not exposed to the kernel, the module refusing to load, the module not installed, the
    module installed but not loaded.
  - A missing or unreadable file never fails the module; a malformed VMCSINFO text is reported in
    RV(ansible_facts.vmcsinfo.reason) with the file and the line, and the other source is used if it
    is fine.
  - Host files are never read through a symbolic link, and a FIFO, device, directory or oversized
    file is never read; such a VMCSINFO file is named in RV(ansible_facts.vmcsinfo.reason), any
    other such file counts as missing.
  - When RV(ansible_facts.vmcsinfo.available) is false the layout keys are still present, with
    V(null), V({}) or V(0) values, so templates need no C(default) filter.
  - Reads only; changes nothing on the host.
author:
  - fujitsu.vmcsinfo developers (@fujitsu)
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
  - ansible.builtin.action_common_attributes.facts
options:
  root:
    description:
      - Root directory to read C(sys/), C(proc/), C(var/), C(lib/modules/) and C(usr/) under, for a
        host file system mounted into a container (for example V(/host)).
    type: path
    default: /
  snapshot_dir:
    description:
      - Directory, relative to O(root), holding the VMCSINFO snapshot C(vmcsinfo), its sidecar
        C(vmcsinfo.origin) and the last load attempt's C(load-result), as the collection's roles
        write them.
    type: path
    default: /var/lib/vmcsinfo
  return_text:
    description:
      - Also return the VMCSINFO text the layout came from, byte for byte, as RV(text) (not as a
        fact, so the fact cache stays small). The fujitsu.vmcsinfo.vmcsinfo_db role sends it to the
        fleet database.
    type: bool
    default: false
notes:
  - "C(/sys/kernel/vmcsinfo/vmcsinfo) is readable by root only (mode 0400), so run with
    C(become: true) to use the probe; without it the snapshot is used and
    RV(ansible_facts.vmcsinfo.reason) says so."
  - The module's C(version) and C(signed_by) come from C(modinfo) on the installed module file; if
    C(modinfo) is missing or fails, the version of the loaded module is used and C(signed_by) is
    V(null).
attributes:
  check_mode:
    support: full
  diff_mode:
    support: none
  facts:
    support: full
  platform:
    platforms: posix
"""

EXAMPLES = r"""
- name: Gather VMCSINFO facts
  fujitsu.vmcsinfo.vmcsinfo_facts:
  become: true

- name: Say why a host has no VMCSINFO
  ansible.builtin.debug:
    msg: "{{ inventory_hostname }}: {{ ansible_facts.vmcsinfo.reason }}"
  when: not ansible_facts.vmcsinfo.available

- name: Gather the facts of a host file system mounted at /host in a container
  fujitsu.vmcsinfo.vmcsinfo_facts:
    root: /host
"""

RETURN = r"""
ansible_facts:
  description: Facts to add to C(ansible_facts).
  returned: always
  type: dict
  contains:
    vmcsinfo:
      description: The host's VMCSINFO and its surroundings.
      returned: always
      type: dict
      contains:
        available:
          description: Whether a VMCSINFO layout was found and parsed.
          returned: always
          type: bool
          sample: true
        source:
          description:
            - Where the layout came from. V(probe) is the loaded kernel module's sysfs file,
              V(database) a snapshot the fleet database served (its sidecar names the key and
              digest, RV(ansible_facts.vmcsinfo.snapshot.db_key)), V(snapshot) another copy on
              disk, V(none) nothing.
          returned: always
          type: str
          choices: [probe, snapshot, database, none]
          sample: probe
        reason:
          description:
            - Empty for V(probe). For V(snapshot), why the probe was not used and what the snapshot
              is; a supplied snapshot is named as such, with its source, as not probed on this
              host. For V(none), why no VMCSINFO is available.
          returned: always
          type: str
          sample: "CPU vendor AuthenticAMD has no Intel VMX: VMCSINFO does not apply"
        no_probe_reason:
          description:
            - Why the kernel module's probe is not the source, the first part of
              RV(ansible_facts.vmcsinfo.reason) without what the snapshot is (or that there is
              none); empty for V(probe).
            - It does not change when a snapshot is installed or replaced, so a load decision can
              quote it and stay the same from one run to the next.
          returned: always
          type: str
          sample: "CPU vendor AuthenticAMD has no Intel VMX: VMCSINFO does not apply"
        cpu:
          description: The current CPU (the first processor in C(/proc/cpuinfo)).
          returned: always
          type: dict
          contains:
            vendor:
              description: C(vendor_id), or V(null) when absent.
              returned: always
              type: str
              sample: GenuineIntel
            signature:
              description:
                - CPUID.1:EAX rebuilt from the displayed family, model and stepping (V(null) if any
                  is missing). The processor type bits 13:12 are taken as 0.
                - For family 15 and above the base family is 15 and the extended family is
                  family - 15; for family 6 and 15 and above the model's high nibble is the
                  extended model.
              returned: always
              type: int
              sample: 198339
            family:
              description: Displayed CPU family (decimal in C(/proc/cpuinfo)).
              returned: always
              type: int
              sample: 6
            model:
              description: Displayed CPU model.
              returned: always
              type: int
              sample: 60
            stepping:
              description: CPU stepping.
              returned: always
              type: int
              sample: 3
            microcode:
              description: Running microcode revision, or V(null) when C(/proc/cpuinfo) has none.
              returned: always
              type: int
              sample: 40
            vmx:
              description: Whether C(/proc/cpuinfo) lists the C(vmx) flag.
              returned: always
              type: bool
              sample: true
            platform_id:
              description:
                - The platform id, IA32_PLATFORM_ID (MSR 0x17) bits 52:50, which with the
                  signature selects a microcode update; the fleet database records it with each
                  probe. V(null) unless the CPU is Intel and C(/dev/cpu/0/msr) is readable (the
                  C(msr) kernel module loaded, root).
              returned: always
              type: int
              sample: 1
            revision_id:
              description:
                - The running CPU's VMCS revision id, IA32_VMX_BASIC bits 30:0, read the same way
                  (V(null) without VMX or without the msr driver); the fleet database is asked
                  for it when the host is served.
              returned: always
              type: int
              sample: 43
        probed_cpu:
          description: The CPU the VMCSINFO was probed on (its C(CPU_VENDOR), C(CPU_SIGNATURE),
            C(MICROCODE)); V(null) values when not available.
          returned: always
          type: dict
          contains:
            vendor:
              description: C(CPU_VENDOR).
              returned: always
              type: str
              sample: GenuineIntel
            signature:
              description: C(CPU_SIGNATURE).
              returned: always
              type: int
              sample: 198339
            microcode:
              description: C(MICROCODE).
              returned: always
              type: int
              sample: 40
        revision_id:
          description: VMCS revision identifier (IA32_VMX_BASIC bits 30:0); V(null) when not
            available.
          returned: always
          type: int
          sample: 43
        region_size:
          description: VMCS region size in bytes; V(null) when not available.
          returned: always
          type: int
          sample: 4096
        vmx_basic:
          description: Raw IA32_VMX_BASIC MSR; V(null) when not available.
          returned: always
          type: int
          sample: 60798718524440619
        vmx_misc:
          description: Raw IA32_VMX_MISC MSR; V(null) when not available.
          returned: always
          type: int
          sample: 537133536
        fields:
          description:
            - Every field the CPU supports, by C(enum vmcs_field) name (or C(ENC_xxxx)). Each is
              C({encoding, width, offset}) (full width stored little-endian at byte C(offset)) or
              C({encoding, width, bits}) (VMCS bit position of each field bit, least significant
              first, V(null) for a bit stored nowhere).
            - Empty when not available.
          returned: always
          type: dict
          sample:
            GUEST_RIP: {encoding: 26654, width: 64, offset: 3720}
            GUEST_ES_AR_BYTES: {encoding: 18452, width: 32, bits: [2664, 2665, null]}
        field_count:
          description: Number of entries in RV(ansible_facts.vmcsinfo.fields); 0 when not available.
          returned: always
          type: int
          sample: 147
        digest:
          description:
            - sha256 of the canonical layout (revision id, region size, every field's bit
              positions); equal layouts have equal digests. V(null) when not available.
          returned: always
          type: str
          sample: 3f5c0e1d2b8a4c6e9f7a1b3c5d7e9f0a2b4c6d8e0f1a3b5c7d9e1f2a4b6c8d0e
        extra:
          description: Keys of the VMCSINFO text this reader does not know, as strings.
          returned: always
          type: dict
          sample: {}
        stale:
          description:
            - Whether the layout's C(MICROCODE), C(CPU_SIGNATURE) or C(CPU_VENDOR) differ from the
              current CPU (microcode updated since the probe, or a snapshot from another CPU).
            - Only the CPU counts. A snapshot's C(KERNEL) and C(BOOT_ID) are never compared, as a
              supplied snapshot was never tied to this host's kernel or boot, and a probe
              snapshot stays valid across reboots and kernel updates.
          returned: always
          type: bool
          sample: false
        stale_reason:
          description: What differs when RV(ansible_facts.vmcsinfo.stale) is true, else empty.
          returned: always
          type: str
          sample: "MICROCODE 0x28 in the VMCSINFO differs from the running microcode 0x2a"
        kernel:
          description: Running kernel release (C(/proc/sys/kernel/osrelease)), or V(null).
          returned: always
          type: str
          sample: 6.1.0-56-amd64
        sysfs:
          description: Path of the kernel module's VMCSINFO file, as read (under O(root)).
          returned: always
          type: str
          sample: /sys/kernel/vmcsinfo/vmcsinfo
        snapshot:
          description: The snapshot on disk and its C(vmcsinfo.origin) sidecar.
          returned: always
          type: dict
          contains:
            path:
              description: Path of the snapshot, as read (under O(root)).
              returned: always
              type: str
              sample: /var/lib/vmcsinfo/vmcsinfo
            exists:
              description: Whether the snapshot file exists.
              returned: always
              type: bool
              sample: true
            origin:
              description:
                - C(ORIGIN) of the sidecar, V(null) without one. V(probe) is a copy of the
                  vmcsinfo module's probe on this host (the persist helper writes it); V(supplied)
                  a VMCSINFO from elsewhere, not probed on this host
                  (M(fujitsu.vmcsinfo.vmcsinfo_snapshot) writes it); V(database) one the fleet
                  database served.
              returned: always
              type: str
              sample: probe
            source:
              description: C(SOURCE) of the sidecar, where a supplied snapshot came from (a free
                text label such as V(bochs-2.7 probe) or V(fleetdb)); V(null) for a probe or
                without one.
              returned: always
              type: str
              sample: bochs-2.7 probe
            kernel:
              description: C(KERNEL) of the sidecar, the kernel the snapshot was saved (or, when
                supplied, installed) on.
              returned: always
              type: str
              sample: 6.1.0-56-amd64
            boot_id:
              description: C(BOOT_ID) of the sidecar, the boot it was saved (or installed) in.
              returned: always
              type: str
              sample: 0f4b3c1e-5a2d-4c8e-9b7a-1d2e3f4a5b6c
            saved_at:
              description: C(SAVED_AT) of the sidecar (UTC ISO 8601).
              returned: always
              type: str
              sample: "2025-01-31T12:00:00Z"
            db_key:
              description: C(DB_KEY) of the sidecar, the fleet database key a served snapshot
                is the text of (C(VENDOR/SIGNATURE/MICROCODE/REVISION_ID/REGION_SIZE)); else
                V(null).
              returned: always
              type: str
              sample: GenuineIntel/306c3/0/2b/1000
            digest:
              description: C(DIGEST) of the sidecar, the layout digest the database recorded for a
                served snapshot; else V(null).
              returned: always
              type: str
              sample: 3f5c0e1d2b8a4c6e9f7a1b3c5d7e9f0a2b4c6d8e0f1a3b5c7d9e1f2a4b6c8d0e
            served_for:
              description: C(SERVED_FOR) of the sidecar, the CPU (C(VENDOR/SIGNATURE/MICROCODE))
                the database served a snapshot for; RV(ansible_facts.vmcsinfo.stale) compares the
                running CPU with it. Else V(null).
              returned: always
              type: str
              sample: GenuineIntel/306c3/2a
        module:
          description: The vmcsinfo kernel module.
          returned: always
          type: dict
          contains:
            installed:
              description: Whether C(vmcsinfo.ko) (or C(.ko.xz), C(.ko.zst), C(.ko.gz)) is under
                C(/lib/modules/<kernel>/).
              returned: always
              type: bool
              sample: true
            loaded:
              description: Whether C(/sys/module/vmcsinfo) exists.
              returned: always
              type: bool
              sample: true
            version:
              description: C(modinfo -F version) of the installed file, else the loaded module's
                version, else V(null).
              returned: always
              type: str
              sample: 0.1.0
            loaded_version:
              description: Version of the loaded module (C(/sys/module/vmcsinfo/version)), or
                V(null).
              returned: always
              type: str
              sample: 0.1.0
            signed_by:
              description: C(modinfo -F signer) of the installed file, V(null) when unsigned or
                unknown.
              returned: always
              type: str
              sample: DKMS module signing key
            path:
              description: The installed module file (under O(root)), preferring C(updates/dkms/),
                or V(null).
              returned: always
              type: str
              sample: /lib/modules/6.1.0-56-amd64/updates/dkms/vmcsinfo.ko
            load_result:
              description: The last load attempt (C(load-result) in O(snapshot_dir)), or V(null).
              returned: always
              type: dict
              contains:
                result:
                  description: V(loaded), V(refused), V(deferred) or V(skipped).
                  returned: success
                  type: str
                  sample: refused
                reason:
                  description: One line saying why.
                  returned: success
                  type: str
                  sample: another hypervisor owns VMX (CR4.VMXE set)
                kernel:
                  description: Kernel release of the attempt.
                  returned: success
                  type: str
                  sample: 6.1.0-56-amd64
                time:
                  description:
                    - When this outcome (result, reason and kernel) was first recorded (UTC ISO
                      8601); a later attempt with the same outcome keeps it.
                  returned: success
                  type: str
                  sample: "2025-01-31T12:00:00Z"
        kdump:
          description: Whether crash dumps can be taken.
          returned: always
          type: dict
          contains:
            installed:
              description: Whether C(kdump-config) (Debian) or C(kdumpctl) (RHEL) is installed.
              returned: always
              type: bool
              sample: true
            ready:
              description: Whether a crash kernel is loaded (C(/sys/kernel/kexec_crash_loaded)
                reads 1).
              returned: always
              type: bool
              sample: true
            crashkernel_reserved:
              description: Whether memory is reserved for a crash kernel
                (C(/sys/kernel/kexec_crash_size) > 0).
              returned: always
              type: bool
              sample: true
text:
  description: The VMCSINFO text the layout came from, byte for byte (O(return_text)); V(null)
    without one.
  returned: when O(return_text=true)
  type: str
  sample: "VMCSINFO_FORMAT=1\nREVISION_ID=2b\n..."
text_problem:
  description: Why RV(text) is V(null) (no VMCSINFO, or the file changed while it was read).
  returned: when O(return_text=true)
  type: str
  sample: ""
"""

import os

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.fujitsu.vmcsinfo.plugins.module_utils.facts import gather, source_text
from ansible_collections.fujitsu.vmcsinfo.plugins.module_utils.hoststate import STATE_DIR


def main() -> None:
    module = AnsibleModule(
        argument_spec={
            "root": {"type": "path", "default": "/"},
            "snapshot_dir": {"type": "path", "default": STATE_DIR},
            "return_text": {"type": "bool", "default": False},
        },
        supports_check_mode=True,
    )
    root = module.params["root"]
    if not os.path.isdir(root):
        module.fail_json(
            msg=f"root {root} is not a directory: give the directory where the host's root file "
            "system is mounted (default /)"
        )
    modinfo_bin = module.get_bin_path("modinfo")

    def modinfo(field: str, path: str) -> str | None:
        if not modinfo_bin:
            return None
        rc, out = module.run_command([modinfo_bin, "-F", field, path])[:2]
        if rc != 0:
            return None
        lines = (out or "").strip().splitlines()
        return lines[0].strip() if lines and lines[0].strip() else None

    facts = gather(root, module.params["snapshot_dir"], modinfo)
    extra = {}
    if module.params["return_text"]:
        extra["text"], extra["text_problem"] = source_text(facts)
    module.exit_json(changed=False, ansible_facts={"vmcsinfo": facts}, **extra)


if __name__ == "__main__":
    main()
