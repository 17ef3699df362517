# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The collectors of the vmcsinfo facts (plugins/modules/vmcsinfo_facts.py is their
documentation and a thin main): the host's VMCSINFO (the module's sysfs file, else the
snapshot), the CPU, the kernel module, the last load attempt and kdump, read under a
root directory (a host file system mounted into a container).

Every host file is read through hostfiles (never through a link, regular files only,
bounded) and the state under /var/lib/vmcsinfo through hoststate.
"""

from __future__ import annotations

import os
from collections.abc import Callable

from ansible_collections.fujitsu.vmcsinfo.plugins.module_utils.cpuinfo import (
    parse_cpuinfo,
    to_int,
)
from ansible_collections.fujitsu.vmcsinfo.plugins.module_utils.hostfiles import (
    CPUINFO_LIMIT,
    HostFileError,
    read_ascii,
    read_text,
)
from ansible_collections.fujitsu.vmcsinfo.plugins.module_utils.hoststate import (
    CPUINFO,
    DATABASE,
    LOAD_RESULT,
    OSRELEASE,
    PROBE,
    STATE_DIR,
    SUPPLIED,
    SYSFS_VMCSINFO,
    Origin,
    load_vmcsinfo,
    platform_id,
    read_load_result,
    served_staleness,
    staleness,
    state_paths,
    under,
    vmx_revision,
)
from ansible_collections.fujitsu.vmcsinfo.plugins.module_utils.vmcsinfo import (
    Vmcsinfo,
    VmcsinfoError,
    parse,
)

MODULE_FILES = ("vmcsinfo.ko", "vmcsinfo.ko.xz", "vmcsinfo.ko.zst", "vmcsinfo.ko.gz")
PREFERRED_DIRS = ("updates/dkms", "updates", "extra")
KDUMP_TOOLS = ("usr/sbin/kdump-config", "usr/bin/kdumpctl", "usr/sbin/kdumpctl")

Modinfo = Callable[[str, str], "str | None"]


def read_cpu(root: str) -> dict:
    """The first processor of ROOT/proc/cpuinfo; on an Intel CPU also the platform id
    (MSR 0x17) and, with VMX, the VMCS revision id (IA32_VMX_BASIC), when the msr driver
    lets them be read (ROOT/dev/cpu/0/msr; else None)."""
    cpu = parse_cpuinfo(read_text(under(root, CPUINFO), CPUINFO_LIMIT) or "")
    intel = cpu["vendor"] == "GenuineIntel"
    cpu["platform_id"] = platform_id(root) if intel else None
    cpu["revision_id"] = vmx_revision(root) if intel and cpu["vmx"] else None
    return cpu


def read_kernel(root: str) -> str | None:
    """The running kernel release (ROOT/proc/sys/kernel/osrelease; uname on the real root)."""
    kernel = (read_text(under(root, OSRELEASE)) or "").strip() or None
    if kernel is None and os.path.realpath(root) == "/":
        kernel = os.uname().release
    return kernel


def find_module_file(root: str, release: str | None) -> str | None:
    """vmcsinfo.ko[.xz|.zst|.gz] under ROOT/lib/modules/<release>, preferring updates/dkms."""
    if not release:
        return None
    for base in (under(root, f"lib/modules/{release}"), under(root, f"usr/lib/modules/{release}")):
        if not os.path.isdir(base):
            continue
        for sub in PREFERRED_DIRS:
            for name in MODULE_FILES:
                path = os.path.join(base, sub, name)
                if os.path.isfile(path):
                    return path
        for dirpath, dirnames, filenames in os.walk(base):
            dirnames.sort()
            for name in MODULE_FILES:
                if name in filenames:
                    return os.path.join(dirpath, name)
    return None


def layout_facts(info: Vmcsinfo | None) -> dict:
    """The layout keys of the facts; null, {} or 0 values without a layout."""
    if info is None:
        return {
            "probed_cpu": {"vendor": None, "signature": None, "microcode": None},
            "revision_id": None,
            "region_size": None,
            "vmx_basic": None,
            "vmx_misc": None,
            "fields": {},
            "field_count": 0,
            "digest": None,
            "extra": {},
        }
    fields: dict[str, dict] = {}
    for f in info.fields:
        entry: dict = {"encoding": f.encoding, "width": f.width}
        if f.offset is not None:
            entry["offset"] = f.offset
        else:
            entry["bits"] = list(f.bits or ())
        fields[f.name] = entry
    return {
        "probed_cpu": {
            "vendor": info.cpu_vendor,
            "signature": info.cpu_signature,
            "microcode": info.microcode,
        },
        "revision_id": info.revision_id,
        "region_size": info.region_size,
        "vmx_basic": info.vmx_basic,
        "vmx_misc": info.vmx_misc,
        "fields": fields,
        "field_count": len(fields),
        "digest": info.digest(),
        "extra": dict(info.extra),
    }


def module_facts(root: str, release: str | None, state_dir: str, modinfo: Modinfo | None) -> dict:
    """The vmcsinfo kernel module: installed file, loaded version, signer, last load attempt."""
    loaded = os.path.isdir(under(root, "sys/module/vmcsinfo"))
    loaded_version = None
    if loaded:
        loaded_version = (
            read_text(under(root, "sys/module/vmcsinfo/version")) or ""
        ).strip() or None
    path = find_module_file(root, release)
    version = signed_by = None
    if path and modinfo:
        version = modinfo("version", path)
        signed_by = modinfo("signer", path)
    if version is None:
        version = loaded_version
    return {
        "installed": path is not None,
        "loaded": loaded,
        "version": version,
        "loaded_version": loaded_version,
        "signed_by": signed_by,
        "path": path,
        "load_result": read_load_result(os.path.join(state_dir, LOAD_RESULT)),
    }


def kdump_facts(root: str) -> dict:
    """Whether kdump is installed, a crash kernel loaded, memory reserved for it."""
    size = to_int((read_text(under(root, "sys/kernel/kexec_crash_size")) or "").strip())
    loaded = (read_text(under(root, "sys/kernel/kexec_crash_loaded")) or "").strip()
    return {
        "installed": any(os.path.exists(under(root, p)) for p in KDUMP_TOOLS),
        "ready": loaded == "1",
        "crashkernel_reserved": bool(size and size > 0),
    }


def why_no_probe(
    cpu: dict, mod: dict, kernel: str | None, sysfs: str, root: str
) -> tuple[str, bool]:
    """The first reason the module's probe is not there, and whether a snapshot would help."""
    if cpu["vendor"] != "GenuineIntel":
        if cpu["vendor"] is None:
            return (
                f"no CPU vendor in {under(root, CPUINFO)} (missing, or not an x86 CPU): "
                "VMCSINFO applies to Intel VMX only",
                False,
            )
        return f"CPU vendor {cpu['vendor']} has no Intel VMX: VMCSINFO does not apply", False
    if not cpu["vmx"]:
        return (
            "VMX is not exposed to this kernel (disabled in firmware, or a hypervisor does not "
            "pass it through)",
            False,
        )
    lr = mod["load_result"] or {}
    last = ""
    if lr.get("result"):
        on = f" on kernel {lr['kernel']}" if lr.get("kernel") else ""
        at = f" at {lr['time']}" if lr.get("time") else ""
        why = f": {lr['reason']}" if lr.get("reason") else ""
        current = not lr.get("kernel") or lr["kernel"] == kernel
        if lr["result"] == "refused" and current and not mod["loaded"]:
            return f"the vmcsinfo module refused to load{on}{at}{why}", True
        last = f" (last load attempt: {lr['result']}{on}{at}{why})"
    if mod["loaded"]:
        return f"the vmcsinfo module is loaded but {sysfs} does not exist{last}", True
    if not mod["installed"]:
        return f"the vmcsinfo module is not installed for kernel {kernel}{last}", True
    return f"the vmcsinfo module is installed but not loaded{last}", True


def snapshot_facts(snap_path: str, exists: bool, origin: Origin | None) -> dict:
    """The snapshot key of the facts: the file and its sidecar."""
    o = origin or Origin()
    return {
        "path": snap_path,
        "exists": exists,
        "origin": o.origin,
        "source": o.source,
        "kernel": o.kernel,
        "boot_id": o.boot_id,
        "saved_at": o.saved_at,
        "db_key": o.db_key,
        "digest": o.digest,
        "served_for": o.served_for,
    }


def what_snapshot(snapshot: dict) -> str:
    """What the snapshot is, for the reason of source=snapshot."""
    o = snapshot["origin"]
    if o == PROBE:
        what = "the snapshot of an earlier probe"
        details = [
            f"{k} {snapshot[v]}"
            for k, v in (("kernel", "kernel"), ("boot", "boot_id"), ("saved", "saved_at"))
            if snapshot[v]
        ]
        if details:
            what += f" ({', '.join(details)})"
        return what
    if o == SUPPLIED:
        src = snapshot["source"] or "an unnamed source"
        when = f", installed {snapshot['saved_at']}" if snapshot["saved_at"] else ""
        return f"the VMCSINFO supplied from {src} (not probed on this host{when})"
    if o == DATABASE:
        when = f", installed {snapshot['saved_at']}" if snapshot["saved_at"] else ""
        served_for = f" for CPU {snapshot['served_for']}" if snapshot["served_for"] else ""
        return (
            f"the VMCSINFO the fleet database served{served_for} (key {snapshot['db_key']}, "
            f"not probed on this host{when})"
        )
    if o:
        return f"the snapshot of origin {o}"
    return "the snapshot (origin unknown: no vmcsinfo.origin beside it)"


def gather(root: str, snapshot_dir: str = STATE_DIR, modinfo: Modinfo | None = None) -> dict:
    """The vmcsinfo facts of the host whose file system is at `root`."""
    state_dir = under(root, snapshot_dir)
    sysfs = under(root, SYSFS_VMCSINFO)
    snap_path, origin_path = state_paths(state_dir)
    kernel = read_kernel(root)
    cpu = read_cpu(root)
    mod = module_facts(root, kernel, state_dir, modinfo)

    snap_exists, snap_info, snap_problem = load_vmcsinfo(snap_path)
    snapshot = snapshot_facts(snap_path, snap_exists, Origin.read(origin_path))

    probe_info, probe_problem = load_vmcsinfo(
        sysfs, denied=f"{sysfs} is root-only (0400): run with become: true"
    )[1:]

    info: Vmcsinfo | None
    if probe_info is not None:
        source, reason, no_probe, info = "probe", "", "", probe_info
    else:
        cause, snapshot_helps = why_no_probe(cpu, mod, kernel, sysfs, root)
        if probe_problem:
            cause = probe_problem
        no_probe = cause
        if snap_info is not None:
            source, info = "snapshot", snap_info
            reason = f"{cause}; using {what_snapshot(snapshot)} in {snap_path}"
            if snapshot["origin"] == DATABASE:
                if snapshot["digest"] == snap_info.digest():
                    source = "database"
                else:
                    reason += (
                        f" (but its layout digest {snap_info.digest()} is not the DIGEST "
                        f"{snapshot['digest']} its sidecar recorded: edited since it was served)"
                    )
        else:
            source, info = "none", None
            if snapshot_helps and not probe_problem and not snap_exists:
                cause += f", and there is no snapshot at {snap_path}"
            reason = "; ".join(p for p in (cause, snap_problem) if p)

    if source == "database" and snapshot["served_for"]:
        stale_reason = served_staleness(snapshot["served_for"], cpu)
    else:
        stale_reason = staleness(info, cpu)
    return {
        "available": info is not None,
        "source": source,
        "reason": reason,
        "no_probe_reason": no_probe,
        "cpu": cpu,
        **layout_facts(info),
        "stale": bool(stale_reason),
        "stale_reason": stale_reason,
        "kernel": kernel,
        "sysfs": sysfs,
        "snapshot": snapshot,
        "module": mod,
        "kdump": kdump_facts(root),
    }


def source_text(facts: dict) -> tuple[str | None, str]:
    """(text, problem): the VMCSINFO text the facts' layout came from, byte for byte (the
    sysfs file for source probe, else the snapshot), read as every host file is (no link,
    regular, bounded), for the fleet database. None with the problem when there is none, or
    when the file no longer has the digest the facts report (it changed in between)."""
    if not facts["available"]:
        return None, facts["reason"] or "no VMCSINFO"
    path = facts["sysfs"] if facts["source"] == "probe" else facts["snapshot"]["path"]
    try:
        text = read_ascii(path)
        digest = parse(text).digest()
    except (HostFileError, VmcsinfoError) as e:
        return None, f"{path}: {e}"
    if digest != facts["digest"]:
        return None, f"{path} changed while the facts were read (digest {digest})"
    return text, ""
