# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Filters deploy_pending, still_pending, reboot_decision (deploy.yml) and
grub_stale (the kdump role): decisions whose tables live in
module_utils/decisions.py."""

from __future__ import annotations

from ansible.errors import AnsibleFilterError

from ansible_collections.fujitsu.vmcsinfo.plugins.module_utils import decisions
from ansible_collections.fujitsu.vmcsinfo.plugins.plugin_utils.filter_args import (
    as_bool as _bool,
)
from ansible_collections.fujitsu.vmcsinfo.plugins.plugin_utils.filter_args import (
    as_list as _list,
)


def deploy_pending(
    pending_before,
    fast=False,
    kdump_reboot_required=False,
    load_reboot_required=False,
    load_result="",
):
    return decisions.deploy_pending(
        _bool(fast, "fast"),
        _list(pending_before, "pending_before"),
        _bool(kdump_reboot_required, "kdump_reboot_required"),
        _bool(load_reboot_required, "load_reboot_required"),
        str(load_result or ""),
    )


def still_pending(pending, rebooted=False, kdump_ready=False, module_loaded=False):
    return decisions.still_pending(
        _list(pending, "pending"),
        _bool(rebooted, "rebooted"),
        _bool(kdump_ready, "kdump_ready"),
        _bool(module_loaded, "module_loaded"),
    )


def reboot_decision(pending, reboot_ok=False, guests=None, with_guests=False):
    if guests is not None and not isinstance(guests, list):
        raise AnsibleFilterError(f"guests must be a list or null, not {guests!r}")
    return decisions.reboot_decision(
        _list(pending, "pending"),
        _bool(reboot_ok, "reboot_ok"),
        guests,
        _bool(with_guests, "with_guests"),
    )


def grub_stale(stats):
    """stats: the stat results of grub.cfg, then of each of its inputs."""
    stats = _list(stats, "stats")
    if not stats:
        raise AnsibleFilterError("grub_stale needs the stat of grub.cfg first, then its inputs")

    def mtime(st):
        if not isinstance(st, dict):
            raise AnsibleFilterError(f"grub_stale expects stat results, not {st!r}")
        return float(st["mtime"]) if st.get("exists") else None

    return decisions.grub_stale(mtime(stats[0]), [mtime(st) for st in stats[1:]])


def load_decision(
    facts, installed="", loaded_version="", kvm=False, load_now=True, mok="", kernel=""
):
    """facts: ansible_facts.vmcsinfo."""
    if not isinstance(facts, dict):
        raise AnsibleFilterError("load_decision expects ansible_facts.vmcsinfo")
    cpu = facts.get("cpu") or {}
    module = facts.get("module") or {}
    return decisions.load_decision(
        loaded=_bool(module.get("loaded"), "module.loaded"),
        installed=str(installed or ""),
        loaded_version=str(loaded_version or ""),
        kvm=_bool(kvm, "kvm"),
        intel_vmx=cpu.get("vendor") == "GenuineIntel" and bool(cpu.get("vmx")),
        load_now=_bool(load_now, "load_now"),
        mok=str(mok or ""),
        kernel=str(kernel or ""),
        no_probe_reason=str(facts.get("no_probe_reason") or ""),
    )


def load_outcome(rc, stderr="", log_line="", kvm=False, version=""):
    try:
        code = int(rc)
    except (TypeError, ValueError) as e:
        raise AnsibleFilterError(f"load_outcome expects modprobe's exit status, not {rc!r}") from e
    return decisions.load_outcome(
        code, str(stderr or ""), str(log_line or ""), _bool(kvm, "kvm"), str(version or "")
    )


def secureboot_decision(
    sb_state, tests=None, mode="build", enroll=True, password=False, install_unenrolled=False
):
    """sb_state: the role's Secure Boot state. tests: the registered results of
    `mokutil --test-key` looped over the stat results of the certificates (a
    certificate that does not exist has a skipped result); certificates with
    the same checksum count once."""
    keys = {}
    seen = set()
    for r in _list(tests, "tests"):
        if not isinstance(r, dict) or not isinstance(r.get("item"), dict):
            raise AnsibleFilterError(f"secureboot_decision expects --test-key results, not {r!r}")
        st = r["item"]
        path = str(st.get("item") or "")
        stat = st.get("stat") or {}
        exists = bool(stat.get("exists"))
        if exists and stat.get("checksum"):
            # The same certificate next to every kernel's tarball: check and stage it once.
            if stat["checksum"] in seen:
                continue
            seen.add(stat["checksum"])
        out = str(r.get("stdout") or "") + str(r.get("stderr") or "")
        keys[path] = decisions.mok_key_state(exists, out)
    return decisions.secureboot_decision(
        str(sb_state or ""),
        keys,
        str(mode or "build"),
        _bool(enroll, "enroll"),
        _bool(password, "password"),
        _bool(install_unenrolled, "install_unenrolled"),
    )


class FilterModule:
    def filters(self) -> dict:
        return {
            "deploy_pending": deploy_pending,
            "still_pending": still_pending,
            "reboot_decision": reboot_decision,
            "grub_stale": grub_stale,
            "load_decision": load_decision,
            "load_outcome": load_outcome,
            "secureboot_decision": secureboot_decision,
        }
