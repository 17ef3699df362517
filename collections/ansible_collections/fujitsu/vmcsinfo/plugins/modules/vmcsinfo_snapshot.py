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
    O(dir) and renamed over the old one, mode 0644.
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
  - O(state=absent) removes a supplied snapshot (C(ORIGIN=supplied)) and its sidecar. A probe
    snapshot, or one without a sidecar, is left alone.
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
  dir:
    description:
      - Directory of the snapshot C(vmcsinfo) and its sidecar C(vmcsinfo.origin). Created (mode
        0755) when missing.
    type: path
    default: /var/lib/vmcsinfo
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

- name: Give a KVM host the probe of another host with the same CPU
  fujitsu.vmcsinfo.vmcsinfo_snapshot:
    content: "{{ hostvars['kvm-host-01'].ansible_facts.vmcsinfo_text }}"
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
      description: C(ORIGIN) of the sidecar (V(probe) or V(supplied)); V(null) without one.
      returned: always
      type: str
      sample: supplied
    source:
      description: C(SOURCE) of the sidecar (the label of a supplied snapshot), else V(null).
      returned: always
      type: str
      sample: bochs-2.7 probe
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
import stat
import tempfile
import time

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.fujitsu.vmcsinfo.plugins.module_utils.cpuinfo import parse_cpuinfo
from ansible_collections.fujitsu.vmcsinfo.plugins.module_utils.hostfiles import read_kv, read_text
from ansible_collections.fujitsu.vmcsinfo.plugins.module_utils.vmcsinfo import (
    Vmcsinfo,
    VmcsinfoError,
    parse,
)

# Host paths; module-level so the unit tests can point them at a fake host.
SYSFS_VMCSINFO = "/sys/kernel/vmcsinfo/vmcsinfo"
CPUINFO = "/proc/cpuinfo"
BOOT_ID = "/proc/sys/kernel/random/boot_id"
MSR_DEVICE = "/dev/cpu/0/msr"
IA32_VMX_BASIC = 0x480
FILE_MODE = 0o644
SOURCE_MAX = 200


def normalize(text: str) -> str:
    """LF line ends and exactly one final newline; everything else is left to the parser."""
    text = text.replace("\r\n", "\n")
    return text.rstrip("\n") + "\n"


def check_source(source: str | None) -> str:
    """The stripped source label, or a ValueError naming what is wrong with it."""
    label = (source or "").strip()
    if not label:
        raise ValueError(
            "source is empty: say where the VMCSINFO comes from (for example 'bochs-2.7 probe' "
            "or 'fleetdb'); it is recorded as SOURCE in vmcsinfo.origin"
        )
    if not label.isprintable():
        raise ValueError(
            f"source {label[:80]!r} must be one line of printable text (it is written as "
            "SOURCE=<source> in vmcsinfo.origin)"
        )
    if len(label) > SOURCE_MAX:
        raise ValueError(
            f"source is {len(label)} characters long; at most {SOURCE_MAX} are allowed"
        )
    return label


def read_vmx_revision() -> int | None:
    """IA32_VMX_BASIC bits 30:0 through the msr driver, or None when it cannot be read."""
    try:
        fd = os.open(MSR_DEVICE, os.O_RDONLY)
    except OSError:
        return None
    try:
        raw = os.pread(fd, 8, IA32_VMX_BASIC)
    except OSError:
        return None
    finally:
        os.close(fd)
    if len(raw) != 8:
        return None
    return int.from_bytes(raw, "little") & 0x7FFFFFFF


def host_cpu() -> dict:
    """The first processor of /proc/cpuinfo, and the VMCS revision id when readable."""
    cpu = parse_cpuinfo(read_text(CPUINFO) or "")
    return {
        "vendor": cpu["vendor"],
        "signature": cpu["signature"],
        "microcode": cpu["microcode"],
        "vmx": cpu["vmx"],
        "revision_id": read_vmx_revision() if cpu["vmx"] else None,
    }


def same_cpu(info: Vmcsinfo, cpu: dict) -> bool:
    """Whether a VMCSINFO was probed on this CPU model (unknown host CPU: assume it was)."""
    if cpu["vendor"] is not None and info.cpu_vendor != cpu["vendor"]:
        return False
    return cpu["signature"] is None or info.cpu_signature == cpu["signature"]


def cpu_differences(info: Vmcsinfo, cpu: dict) -> tuple[list[str], list[str]]:
    """(differences that make the text wrong for this CPU, differences only worth reporting)."""
    hard, soft = [], []
    if cpu["vendor"] is not None and info.cpu_vendor != cpu["vendor"]:
        hard.append(
            f"CPU_VENDOR {info.cpu_vendor} in the supplied VMCSINFO differs from this CPU's "
            f"{cpu['vendor']}"
        )
    if cpu["signature"] is not None and info.cpu_signature != cpu["signature"]:
        hard.append(
            f"CPU_SIGNATURE {info.cpu_signature:x} in the supplied VMCSINFO differs from this "
            f"CPU's {cpu['signature']:x}"
        )
    if cpu["revision_id"] is not None and info.revision_id != cpu["revision_id"]:
        hard.append(
            f"REVISION_ID {info.revision_id:x} in the supplied VMCSINFO differs from this CPU's "
            f"VMCS revision id {cpu['revision_id']:x} (IA32_VMX_BASIC)"
        )
    if cpu["microcode"] is not None and info.microcode != cpu["microcode"]:
        soft.append(
            f"MICROCODE {info.microcode:#x} in the supplied VMCSINFO differs from the running "
            f"microcode {cpu['microcode']:#x}"
        )
    return hard, soft


def summary(info: Vmcsinfo) -> dict:
    return {
        "cpu_vendor": info.cpu_vendor,
        "cpu_signature": info.cpu_signature,
        "microcode": info.microcode,
        "revision_id": info.revision_id,
        "region_size": info.region_size,
        "field_count": len(info.fields),
        "digest": info.digest(),
    }


def own_probe(cpu: dict, snap_text: str | None, origin: dict, snap_path: str) -> str:
    """Why this host's own probe wins over a supplied text; empty when it does not have one."""
    if os.path.lexists(SYSFS_VMCSINFO):
        return f"the vmcsinfo module has probed this host ({SYSFS_VMCSINFO} exists)"
    if origin.get("ORIGIN") != "probe" or snap_text is None:
        return ""
    try:
        probed = parse(snap_text)
    except VmcsinfoError:
        return ""  # a broken snapshot is no probe worth keeping
    if not same_cpu(probed, cpu):
        return ""
    when = f", saved {origin['SAVED_AT']}" if origin.get("SAVED_AT") else ""
    return (
        f"{snap_path} is this host's own probe (ORIGIN=probe, CPU {probed.cpu_vendor} "
        f"{probed.cpu_signature:x}{when})"
    )


def origin_text(source: str) -> str:
    boot_id = (read_text(BOOT_ID) or "").strip()
    saved_at = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    return (
        f"ORIGIN=supplied\nSOURCE={source}\nKERNEL={os.uname().release}\n"
        f"BOOT_ID={boot_id}\nSAVED_AT={saved_at}\n"
    )


def mode_of(path: str) -> int | None:
    try:
        return stat.S_IMODE(os.stat(path).st_mode)
    except OSError:
        return None


def write_file(module: AnsibleModule, path: str, text: str) -> None:
    """Write `text` to `path` through a temporary file in the same directory, mode 0644."""
    directory = os.path.dirname(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{os.path.basename(path)}.", dir=directory)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, FILE_MODE)
        module.atomic_move(tmp, path)
    finally:
        if os.path.lexists(tmp):
            os.unlink(tmp)
    os.chmod(path, FILE_MODE)


def write_pair(
    module: AnsibleModule,
    snap_path: str,
    text: str,
    origin_path: str,
    origin: str,
    old_text: str | None,
    old_origin: str | None,
) -> None:
    """Replace the snapshot and its origin sidecar as one change.

    The old pair is kept aside first (a hard link of the text, a rename of
    the origin: no data written), the old origin leaves its place before the
    new text takes its, then the new origin is written. A process killed at
    any moment leaves at worst a text without an origin (the facts call it of
    unknown origin), never a supplied text labelled with the old ORIGIN=probe.
    A failure (ENOSPC, a read-only /var) renames the old pair back, which needs
    no space, and fails the module with what happened.
    """
    directory = os.path.dirname(snap_path)
    prev_text = os.path.join(directory, ".vmcsinfo.prev")
    prev_origin = os.path.join(directory, ".vmcsinfo.origin.prev")
    kept: list[tuple[str, str]] = []
    try:
        if not os.path.isdir(directory):
            os.makedirs(directory, mode=0o755)
            os.chmod(directory, 0o755)
        for stale in (prev_text, prev_origin):
            if os.path.lexists(stale):
                os.unlink(stale)
        if old_text is not None and os.path.lexists(snap_path):
            os.link(snap_path, prev_text)
            kept.append((prev_text, snap_path))
        if os.path.lexists(origin_path):
            os.rename(origin_path, prev_origin)
            kept.append((prev_origin, origin_path))
        dir_sync(directory)
        write_file(module, snap_path, text)
        write_file(module, origin_path, origin)
        for prev, _path in kept:
            os.unlink(prev)
        dir_sync(directory)
    except OSError as e:
        problem = restore(kept, snap_path, old_text, origin_path, old_origin)
        module.fail_json(
            msg=f"cannot install the VMCSINFO in {directory}: {e.strerror or e}"
            + (f" ({e.filename})" if e.filename else "")
            + "; "
            + (
                "nothing was changed"
                if problem is None
                else f"the previous snapshot could not be put back ({problem}): check {directory}"
            )
        )


def restore(
    kept: list[tuple[str, str]],
    snap_path: str,
    old_text: str | None,
    origin_path: str,
    old_origin: str | None,
) -> str | None:
    """Rename the kept pair back (no space needed); remove what did not exist
    before. None when done, else why not."""
    try:
        for prev, path in kept:
            if os.path.lexists(path) and os.path.samefile(prev, path):
                # Still the old file (a hard link of it): rename() would do
                # nothing and leave prev behind.
                os.unlink(prev)
            else:
                os.rename(prev, path)
        restored = {path for _prev, path in kept}
        for path, old in ((snap_path, old_text), (origin_path, old_origin)):
            if old is None and path not in restored and os.path.lexists(path):
                os.unlink(path)
        return None
    except OSError as e:
        return e.strerror or str(e)


def dir_sync(directory: str) -> None:
    """fsync a directory, so that renames and unlinks in it are on disk."""
    fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def snapshot_state(snap_path: str, origin_path: str, exists: bool, origin: dict) -> dict:
    return {
        "path": snap_path,
        "origin_path": origin_path,
        "exists": exists,
        "origin": origin.get("ORIGIN") or None,
        "source": origin.get("SOURCE") or None,
    }


def file_diff(path: str, before: str | None, after: str | None) -> dict:
    return {
        "before_header": path,
        "after_header": path,
        "before": before or "",
        "after": after or "",
    }


def present(module: AnsibleModule, snap_path: str, origin_path: str) -> dict:
    """Install the supplied text; returns the result (fails the module on bad input)."""
    p = module.params
    try:
        source = check_source(p["source"])
    except ValueError as e:
        module.fail_json(msg=f"{e}. Nothing was written.", installed=False, own_probe=False)
    label = f"the VMCSINFO supplied from {source}"
    content = normalize(p["content"] or "")
    if not content.strip():
        module.fail_json(
            msg=f"{label} is empty. Nothing was written. Give the VMCSINFO text as the vmcsinfo "
            "module or vmcsinfo-sim prints it, starting with VMCSINFO_FORMAT=1.",
            installed=False,
            own_probe=False,
        )
    try:
        info = parse(content)
    except VmcsinfoError as e:
        module.fail_json(
            msg=f"{label} is not valid VMCSINFO text: {e}. Nothing was written. Give the text "
            f"exactly as the vmcsinfo module ({SYSFS_VMCSINFO}) or vmcsinfo-sim prints it: format "
            "1, first line VMCSINFO_FORMAT=1, then one KEY=value line per header key and field.",
            installed=False,
            own_probe=False,
        )

    cpu = host_cpu()
    hard, soft = cpu_differences(info, cpu)
    snap_text = read_text(snap_path)
    origin = read_kv(origin_path) or {}
    result = {
        "changed": False,
        "installed": False,
        "own_probe": False,
        "supplied": summary(info),
        "host_cpu": cpu,
        "cpu_mismatch": "; ".join(hard + soft),
        "snapshot": snapshot_state(snap_path, origin_path, snap_text is not None, origin),
    }

    why = own_probe(cpu, snap_text, origin, snap_path)
    if why:
        result.update(
            own_probe=True,
            msg=f"{label} was not installed: {why}, and a probe always wins over a supplied "
            "VMCSINFO",
        )
        return result

    if cpu["vmx"] and hard and p["validate_cpu"]:
        module.fail_json(
            msg=f"{label} does not describe this CPU: {'; '.join(hard)}. Nothing was written. "
            "This host has Intel VMX, so another CPU model's VMCSINFO would decode its crash "
            "dumps wrongly: supply one probed on this CPU model, or let the vmcsinfo module probe "
            "this host (it probes at boot, before kvm_intel), or set validate_cpu=false if you "
            "know the layouts are the same.",
            installed=False,
            own_probe=False,
            supplied=result["supplied"],
            host_cpu=cpu,
            cpu_mismatch=result["cpu_mismatch"],
        )

    same_text = snap_text == content
    same_origin = origin.get("ORIGIN") == "supplied" and origin.get("SOURCE") == source
    modes_ok = mode_of(snap_path) == FILE_MODE and mode_of(origin_path) == FILE_MODE
    new_origin = {"ORIGIN": "supplied", "SOURCE": source}
    result["snapshot"] = snapshot_state(snap_path, origin_path, True, new_origin)
    result["installed"] = True
    if same_text and same_origin and modes_ok:
        result["msg"] = f"{label} is already installed in {snap_path}"
        return result

    old_origin_text = read_text(origin_path)
    if same_text and same_origin:
        # Only the file modes differ: fix them, keep SAVED_AT.
        if not module.check_mode:
            os.chmod(snap_path, FILE_MODE)
            os.chmod(origin_path, FILE_MODE)
        result.update(changed=True, msg=f"{label} is installed in {snap_path}; set its mode 0644")
        return result

    new_origin_text = origin_text(source)
    if module._diff:
        result["diff"] = [
            file_diff(snap_path, snap_text, content),
            file_diff(origin_path, old_origin_text, new_origin_text),
        ]
    if not module.check_mode:
        write_pair(
            module, snap_path, content, origin_path, new_origin_text, snap_text, old_origin_text
        )

    replaced = ""
    if snap_text is not None and not (origin.get("ORIGIN") == "supplied"):
        replaced = (
            " (replacing a probe snapshot of another CPU)"
            if origin.get("ORIGIN") == "probe"
            else " (replacing a snapshot of unknown origin)"
        )
    note = ""
    if not cpu["vmx"] and result["cpu_mismatch"]:
        note = f"; this host has no Intel VMX to check it against ({result['cpu_mismatch']})"
    result.update(changed=True, msg=f"installed {label} in {snap_path}{replaced}{note}")
    return result


def absent(module: AnsibleModule, snap_path: str, origin_path: str) -> dict:
    """Remove a supplied snapshot; leave any other alone."""
    snap_text = read_text(snap_path)
    exists = os.path.lexists(snap_path)
    origin = read_kv(origin_path) or {}
    result = {
        "changed": False,
        "installed": False,
        "own_probe": False,
        "snapshot": snapshot_state(snap_path, origin_path, exists, origin),
    }
    if origin.get("ORIGIN") != "supplied":
        if exists:
            kind = f"ORIGIN={origin['ORIGIN']}" if origin.get("ORIGIN") else "origin unknown"
            result["msg"] = f"{snap_path} is not a supplied snapshot ({kind}): left alone"
        else:
            result["msg"] = f"there is no supplied snapshot in {os.path.dirname(snap_path)}"
        return result
    old_origin_text = read_text(origin_path)
    if module._diff:
        result["diff"] = [
            file_diff(snap_path, snap_text, None),
            file_diff(origin_path, old_origin_text, None),
        ]
    if not module.check_mode:
        for path in (snap_path, origin_path):
            if os.path.lexists(path):
                os.unlink(path)
    source = f" from {origin['SOURCE']}" if origin.get("SOURCE") else ""
    result.update(
        changed=True,
        snapshot=snapshot_state(snap_path, origin_path, False, {}),
        msg=f"removed the VMCSINFO supplied{source} from {snap_path}",
    )
    return result


def main() -> None:
    module = AnsibleModule(
        argument_spec={
            "state": {"type": "str", "choices": ["present", "absent"], "default": "present"},
            "content": {"type": "str"},
            "source": {"type": "str"},
            "dir": {"type": "path", "default": "/var/lib/vmcsinfo"},
            "validate_cpu": {"type": "bool", "default": True},
        },
        required_if=[("state", "present", ("content", "source"))],
        supports_check_mode=True,
    )
    directory = module.params["dir"]
    if os.path.lexists(directory) and not os.path.isdir(directory):
        module.fail_json(msg=f"dir {directory} exists and is not a directory")
    snap_path = os.path.join(directory, "vmcsinfo")
    origin_path = os.path.join(directory, "vmcsinfo.origin")
    if module.params["state"] == "present":
        result = present(module, snap_path, origin_path)
    else:
        result = absent(module, snap_path, origin_path)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
