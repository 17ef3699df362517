# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Install (or remove) a VMCSINFO that was not probed on this host as its persisted
snapshot: the logic of plugins/modules/vmcsinfo_snapshot.py (its documentation and a
thin main).

present() and absent() return the module's result, or raise SnapshotFailure with the
message and the result keys to fail with. The files are written through hoststate's
one atomic writer; host paths are read under `root` (/ on a host).
"""

from __future__ import annotations

import os
import stat

from ansible_collections.fujitsu.vmcsinfo.plugins.module_utils.cpuinfo import parse_cpuinfo
from ansible_collections.fujitsu.vmcsinfo.plugins.module_utils.hostfiles import (
    VMCSINFO_LIMIT,
    read_text,
)
from ansible_collections.fujitsu.vmcsinfo.plugins.module_utils.hoststate import (
    CPUINFO,
    DATABASE,
    FILE_MODE,
    NOT_PROBED,
    PROBE,
    SUPPLIED,
    SYSFS_VMCSINFO,
    Origin,
    StateWriteError,
    cpu_differences,
    remove_pair,
    same_cpu,
    under,
    vmx_revision,
    write_pair,
)
from ansible_collections.fujitsu.vmcsinfo.plugins.module_utils.vmcsinfo import (
    Vmcsinfo,
    VmcsinfoError,
    parse,
)

SOURCE_MAX = 200


class SnapshotFailure(Exception):
    """The module fails: str() is its msg, `result` the other keys of the failure."""

    def __init__(self, msg: str, **result) -> None:
        super().__init__(msg)
        self.msg = msg
        self.result = result


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


def read_vmx_revision(root: str = "/") -> int | None:
    """IA32_VMX_BASIC bits 30:0 through the msr driver, or None when it cannot be read
    (hoststate.read_msr: never through a link, no FIFO, directory or socket)."""
    return vmx_revision(root)


def host_cpu(root: str = "/") -> dict:
    """The first processor of /proc/cpuinfo, and the VMCS revision id when readable."""
    cpu = parse_cpuinfo(read_text(under(root, CPUINFO)) or "")
    return {
        "vendor": cpu["vendor"],
        "signature": cpu["signature"],
        "microcode": cpu["microcode"],
        "vmx": cpu["vmx"],
        "revision_id": read_vmx_revision(root) if cpu["vmx"] else None,
    }


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


def own_probe(cpu: dict, snap_text: str | None, origin: Origin, snap_path: str, root: str) -> str:
    """Why this host's own probe wins over a supplied text; empty when it does not have one."""
    sysfs = under(root, SYSFS_VMCSINFO)
    if os.path.lexists(sysfs):
        return f"the vmcsinfo module has probed this host ({sysfs} exists)"
    if origin.origin != PROBE or snap_text is None:
        return ""
    try:
        probed = parse(snap_text)
    except VmcsinfoError:
        return ""  # a broken snapshot is no probe worth keeping
    if not same_cpu(probed, cpu):
        return ""
    when = f", saved {origin.saved_at}" if origin.saved_at else ""
    return (
        f"{snap_path} is this host's own probe (ORIGIN=probe, CPU {probed.cpu_vendor} "
        f"{probed.cpu_signature:x}{when})"
    )


def mode_of(path: str) -> int | None:
    try:
        return stat.S_IMODE(os.stat(path).st_mode)
    except OSError:
        return None


_WHAT = {SUPPLIED: "supplied", DATABASE: "served from the fleet database"}


def snapshot_state(snap_path: str, origin_path: str, exists: bool, origin: Origin) -> dict:
    return {
        "path": snap_path,
        "origin_path": origin_path,
        "exists": exists,
        "origin": origin.origin,
        "source": origin.source,
        "db_key": origin.db_key,
        "digest": origin.digest,
        "served_for": origin.served_for,
    }


def file_diff(path: str, before: str | None, after: str | None) -> dict:
    return {
        "before_header": path,
        "after_header": path,
        "before": before or "",
        "after": after or "",
    }


def _fail(msg: str, **result) -> SnapshotFailure:
    return SnapshotFailure(msg, installed=False, own_probe=False, **result)


def present(
    params: dict,
    snap_path: str,
    origin_path: str,
    *,
    check_mode: bool = False,
    diff: bool = False,
    root: str = "/",
) -> dict:
    """Install the supplied text (params: content, source, validate_cpu; origin supplied or
    database, with db_key and digest for database); returns the result, raises
    SnapshotFailure on bad input or when the files cannot be written."""
    try:
        source = check_source(params["source"])
    except ValueError as e:
        raise _fail(f"{e}. Nothing was written.") from e
    want = params.get("origin") or SUPPLIED
    db_key = params.get("db_key") if want == DATABASE else None
    want_digest = params.get("digest") if want == DATABASE else None
    served_for = (params.get("served_for") or None) if want == DATABASE else None
    if want == DATABASE:
        label = f"the VMCSINFO served from the fleet database ({source}, key {db_key})"
        for name, value in (
            ("db_key", db_key),
            ("digest", want_digest),
            ("served_for", served_for),
        ):
            if value is None and name == "served_for":
                continue
            try:
                check_source(value or "")
            except ValueError as e:
                raise _fail(f"{name}: {e}. Nothing was written.") from e
    else:
        label = f"the VMCSINFO supplied from {source}"
    content = normalize(params["content"] or "")
    if not content.strip():
        raise _fail(
            f"{label} is empty. Nothing was written. Give the VMCSINFO text as the vmcsinfo "
            "module or vmcsinfo-sim prints it, starting with VMCSINFO_FORMAT=1."
        )
    try:
        info = parse(content)
    except VmcsinfoError as e:
        raise _fail(
            f"{label} is not valid VMCSINFO text: {e}. Nothing was written. Give the text "
            f"exactly as the vmcsinfo module (/{SYSFS_VMCSINFO}) or vmcsinfo-sim prints it: "
            "format 1, first line VMCSINFO_FORMAT=1, then one KEY=value line per header key "
            "and field."
        ) from e

    if want_digest is not None and info.digest() != want_digest:
        raise _fail(
            f"{label} has the layout digest {info.digest()}, not the digest {want_digest} the "
            "database named: the text changed on its way from the database. Nothing was written."
        )
    cpu = host_cpu(root)
    hard, soft = cpu_differences(info, cpu, "the supplied VMCSINFO")
    snap_text = read_text(snap_path, VMCSINFO_LIMIT)
    old_origin_text = read_text(origin_path)
    origin = Origin.read(origin_path) or Origin()
    result = {
        "changed": False,
        "installed": False,
        "own_probe": False,
        "supplied": summary(info),
        "host_cpu": cpu,
        "cpu_mismatch": "; ".join(hard + soft),
        "snapshot": snapshot_state(snap_path, origin_path, snap_text is not None, origin),
    }

    why = own_probe(cpu, snap_text, origin, snap_path, root)
    if why:
        result.update(
            own_probe=True,
            msg=f"{label} was not installed: {why}, and a probe always wins over a VMCSINFO "
            "from elsewhere",
        )
        return result

    if cpu["vmx"] and hard and params["validate_cpu"]:
        raise _fail(
            f"{label} does not describe this CPU: {'; '.join(hard)}. Nothing was written. "
            "This host has Intel VMX, so another CPU model's VMCSINFO would decode its crash "
            "dumps wrongly: supply one probed on this CPU model, or let the vmcsinfo module probe "
            "this host (it probes at boot, before kvm_intel), or set validate_cpu=false if you "
            "know the layouts are the same.",
            supplied=result["supplied"],
            host_cpu=cpu,
            cpu_mismatch=result["cpu_mismatch"],
        )

    same_text = snap_text == content
    same_origin = (
        origin.origin == want
        and origin.source == source
        and origin.db_key == db_key
        and origin.digest == want_digest
        and origin.served_for == served_for
    )
    modes_ok = mode_of(snap_path) == FILE_MODE and mode_of(origin_path) == FILE_MODE
    result["snapshot"] = snapshot_state(
        snap_path,
        origin_path,
        True,
        Origin(
            origin=want, source=source, db_key=db_key, digest=want_digest, served_for=served_for
        ),
    )
    result["installed"] = True
    if same_text and same_origin and modes_ok:
        result["msg"] = f"{label} is already installed in {snap_path}"
        return result

    if same_text and same_origin:
        # Only the file modes differ: fix them, keep SAVED_AT.
        if not check_mode:
            os.chmod(snap_path, FILE_MODE)
            os.chmod(origin_path, FILE_MODE)
        result.update(changed=True, msg=f"{label} is installed in {snap_path}; set its mode 0644")
        return result

    new_origin = Origin.supplied(source, root, want, db_key, want_digest, served_for)
    if diff:
        result["diff"] = [
            file_diff(snap_path, snap_text, content),
            file_diff(origin_path, old_origin_text, new_origin.format()),
        ]
    if not check_mode:
        try:
            write_pair(snap_path, content, origin_path, new_origin)
        except StateWriteError as e:
            directory = os.path.dirname(snap_path)
            raise SnapshotFailure(f"cannot install the VMCSINFO in {directory}: {e}") from e

    replaced = ""
    if snap_text is not None and origin.origin not in NOT_PROBED:
        replaced = (
            " (replacing a probe snapshot of another CPU)"
            if origin.origin == PROBE
            else " (replacing a snapshot of unknown origin)"
        )
    note = ""
    if not cpu["vmx"] and result["cpu_mismatch"]:
        note = f"; this host has no Intel VMX to check it against ({result['cpu_mismatch']})"
    result.update(changed=True, msg=f"installed {label} in {snap_path}{replaced}{note}")
    return result


def absent(
    snap_path: str, origin_path: str, *, check_mode: bool = False, diff: bool = False
) -> dict:
    """Remove a supplied snapshot (or one served from the database); leave any other alone."""
    snap_text = read_text(snap_path, VMCSINFO_LIMIT)
    exists = os.path.lexists(snap_path)
    origin = Origin.read(origin_path) or Origin()
    result = {
        "changed": False,
        "installed": False,
        "own_probe": False,
        "snapshot": snapshot_state(snap_path, origin_path, exists, origin),
    }
    if origin.origin not in NOT_PROBED:
        if exists:
            kind = f"ORIGIN={origin.origin}" if origin.origin else "origin unknown"
            result["msg"] = f"{snap_path} is not a supplied snapshot ({kind}): left alone"
        else:
            result["msg"] = f"there is no supplied snapshot in {os.path.dirname(snap_path)}"
        return result
    if diff:
        result["diff"] = [
            file_diff(snap_path, snap_text, None),
            file_diff(origin_path, read_text(origin_path), None),
        ]
    if not check_mode:
        try:
            remove_pair(snap_path, origin_path)
        except OSError as e:
            raise SnapshotFailure(
                f"cannot remove the supplied VMCSINFO {snap_path}: {e.strerror or e}"
            ) from e
    source = f" from {origin.source}" if origin.source else ""
    result.update(
        changed=True,
        snapshot=snapshot_state(snap_path, origin_path, False, Origin()),
        msg=f"removed the VMCSINFO {_WHAT[origin.origin]}{source} from {snap_path}",
    )
    return result
