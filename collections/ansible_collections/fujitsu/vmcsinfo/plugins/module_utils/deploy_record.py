# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""deploy.yml's fast-path record of a host (module vmcsinfo_deploy_state):
what the host is now (observe), how it differs from the record (compare), and
the record's reading and writing."""

from __future__ import annotations

import errno
import glob
import hashlib
import json
import os
import stat
import tempfile
from typing import Any

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.fujitsu.vmcsinfo.plugins.module_utils.hostfiles import (
    HostFileError,
    read_bounded,
    read_text,
)
from ansible_collections.fujitsu.vmcsinfo.plugins.module_utils.hoststate import now_utc

FORMAT = 1
MAX_REASONS = 20
# A record lists a few hundred files; far below this.
RECORD_LIMIT = 16 << 20
SYS = "/sys"


def _file_entry(path: str) -> str | None:
    """What a path is, in one comparable string; None for directories and vanished paths."""
    try:
        st = os.lstat(path)
    except OSError:
        return None
    if stat.S_ISLNK(st.st_mode):
        return "link:" + os.readlink(path)
    if not stat.S_ISREG(st.st_mode):
        return None
    h = hashlib.sha256()
    try:
        with open(path, "rb") as f:
            for chunk in iter(lambda: f.read(1 << 20), b""):
                h.update(chunk)
    except OSError as e:
        return f"unreadable:{e.strerror}"
    return f"{stat.S_IMODE(st.st_mode):04o}:{st.st_uid}:{st.st_gid}:sha256:{h.hexdigest()}"


def observe_files(patterns: list[str], exclude: str) -> dict[str, str]:
    files: dict[str, str] = {}
    for pattern in patterns:
        for p in glob.glob(pattern, recursive=True):
            if p == exclude or p in files:
                continue
            entry = _file_entry(p)
            if entry is not None:
                files[p] = entry
    return dict(sorted(files.items()))


def observe_kernels(root: str = "/") -> dict[str, Any]:
    def names(d: str, prefix: str = "") -> list[str]:
        try:
            entries = os.listdir(os.path.join(root, d))
        except OSError:
            return []
        return sorted(
            e[len(prefix) :] for e in entries if e.startswith(prefix) and len(e) > len(prefix)
        )

    return {
        "running": os.uname().release,
        "boot": names("boot", "vmlinuz-"),
        "modules": names("lib/modules"),
    }


def observe_runtime(sys_root: str) -> dict[str, Any]:
    def sysval(rel: str) -> str | None:
        text = read_text(os.path.join(sys_root, rel))
        return None if text is None else text.strip()

    return {
        "crash_kernel_memory": sysval("kernel/kexec_crash_size"),
        "crash_kernel_loaded": sysval("kernel/kexec_crash_loaded"),
        "vmcsinfo_loaded": os.path.isdir(os.path.join(sys_root, "module/vmcsinfo")),
        "vmcsinfo_version": sysval("module/vmcsinfo/version"),
        "vmcsinfo_srcversion": sysval("module/vmcsinfo/srcversion"),
        "kvm_intel_loaded": os.path.isdir(os.path.join(sys_root, "module/kvm_intel")),
    }


def observe(patterns: list[str], record_path: str) -> dict[str, Any]:
    return {
        "kernels": observe_kernels(),
        "runtime": observe_runtime(SYS),
        "files": observe_files(patterns, record_path),
    }


def compare(record: dict[str, Any] | None, fingerprint: str, now: dict[str, Any]) -> list[str]:
    """Reasons the host differs from the record (empty: converged)."""
    if record is None:
        return ["no record of a complete run (first run, or the last one left something pending)"]
    if record.get("format") != FORMAT:
        return [f"record format {record.get('format')!r} is not {FORMAT}"]
    reasons: list[str] = []
    if record.get("fingerprint") != fingerprint:
        reasons.append(
            "what is deployed changed (collection, module source or vmcsinfo_* variables)"
        )
    old_k, new_k = record.get("kernels") or {}, now["kernels"]
    if old_k.get("running") != new_k["running"]:
        reasons.append(f"running kernel is {new_k['running']} (was {old_k.get('running')})")
    for key, what in (("boot", "/boot"), ("modules", "/lib/modules")):
        old, new = set(old_k.get(key) or []), set(new_k[key])
        reasons += [f"new kernel in {what}: {k}" for k in sorted(new - old)]
        reasons += [f"kernel gone from {what}: {k}" for k in sorted(old - new)]
    old_r = record.get("runtime") or {}
    for key, value in now["runtime"].items():
        if old_r.get(key) != value:
            reasons.append(f"{key.replace('_', ' ')} is {value} (was {old_r.get(key)})")
    old_f, new_f = record.get("files") or {}, now["files"]
    for p in sorted(set(old_f) | set(new_f)):
        if p not in new_f:
            reasons.append(f"missing: {p}")
        elif p not in old_f:
            reasons.append(f"new: {p}")
        elif old_f[p] != new_f[p]:
            reasons.append(f"changed: {p}")
    return reasons


def load_record(path: str) -> tuple[dict[str, Any] | None, str | None]:
    """The record, or (None, why not). Read as every host file a root-run
    module reads: never through a symbolic link, a regular file only, at most
    RECORD_LIMIT bytes. Anything else only makes the run a full one."""
    try:
        data = json.loads(read_bounded(path, RECORD_LIMIT).decode("utf-8"))
    except HostFileError as e:
        if e.errno == errno.ENOENT:
            return None, None
        return None, f"record {path} is unreadable ({e}); it will be rewritten"
    except ValueError as e:
        return None, f"record {path} is unreadable ({e}); it will be rewritten"
    if not isinstance(data, dict):
        return None, f"record {path} is not a JSON object; it will be rewritten"
    return data, None


def write_record(path: str, data: dict[str, Any]) -> None:
    d = os.path.dirname(path)
    os.makedirs(d, mode=0o755, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".deploy-state.", dir=d)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            json.dump(data, f, indent=1, sort_keys=True)
            f.write("\n")
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o600)
        os.replace(tmp, path)
        dfd = os.open(d, os.O_RDONLY | os.O_DIRECTORY)
        try:
            os.fsync(dfd)
        finally:
            os.close(dfd)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def _comparable(data: dict[str, Any] | None) -> str:
    if not data:
        return ""
    return (
        json.dumps({k: v for k, v in data.items() if k != "recorded_at"}, indent=1, sort_keys=True)
        + "\n"
    )


def run_module(module: AnsibleModule) -> None:
    """The module's work on its parsed parameters; exits."""
    p = module.params
    path: str = p["path"]
    record, bad = load_record(path)
    result: dict[str, Any] = {
        "changed": False,
        "converged": False,
        "reasons": [],
        "recorded_at": (record or {}).get("recorded_at"),
        "files": 0,
        "path": path,
        "pending": [],
    }

    if p["state"] == "absent":
        if os.path.lexists(path):
            result["changed"] = True
            if module._diff:
                result["diff"] = {"before": _comparable(record), "after": "", "before_header": path}
            if not module.check_mode:
                os.unlink(path)
        result["recorded_at"] = None
        module.exit_json(**result)

    now = observe(p["paths"], path)
    result["files"] = len(now["files"])
    if p["state"] == "check":
        reasons = compare(record, p["fingerprint"], now)
        if bad:
            reasons.insert(0, bad)
        result["converged"] = not reasons
        if not reasons:
            result["pending"] = list((record or {}).get("pending", []))
        result["reasons"] = reasons[:MAX_REASONS]
        if len(reasons) > MAX_REASONS:
            result["reasons"][-1] = f"... and {len(reasons) - MAX_REASONS + 1} more differences"
        module.exit_json(**result)

    new = {"format": FORMAT, "fingerprint": p["fingerprint"], **now}
    new["pending"] = sorted(set(p["pending"]))
    result["pending"] = new["pending"]
    result["converged"] = True
    if _comparable(record) != _comparable(new):
        result["changed"] = True
        new["recorded_at"] = now_utc()
        result["recorded_at"] = new["recorded_at"]
        if module._diff:
            result["diff"] = {
                "before": _comparable(record),
                "after": _comparable(new),
                "before_header": path,
                "after_header": path,
            }
        if not module.check_mode:
            try:
                write_record(path, new)
            except OSError as e:
                module.fail_json(msg=f"cannot write the deploy record {path}: {e}", **result)
    module.exit_json(**result)
