# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""deploy.yml's decisions as tables in Python, each row tested
(tests/unit/plugins/module_utils/test_decisions.py); the playbook only wires
them (filter plugin fujitsu.vmcsinfo.deploy)."""

from __future__ import annotations

PENDING_KINDS = ("kdump", "load")


def deploy_pending(
    fast: bool,
    pending_before: list[str],
    kdump_reboot_required: bool,
    load_reboot_required: bool,
    load_result: str,
) -> list[str]:
    """What a host waits for a reboot for after the roles ran (or, on the fast
    path, what its record says): "kdump" (crash kernel memory), "load" (the
    module probes before kvm_intel at the next boot)."""
    if fast:
        return [k for k in PENDING_KINDS if k in (pending_before or [])]
    out = []
    if kdump_reboot_required:
        out.append("kdump")
    if load_reboot_required or load_result in ("deferred", "pending"):
        out.append("load")
    return out


def still_pending(
    pending: list[str], rebooted: bool, kdump_ready: bool, module_loaded: bool
) -> list[str]:
    """What a reboot left unsettled, as the facts read after it show: kdump
    needs crash kernel memory reserved and the crash kernel loaded (ready);
    the load needs the module loaded (it probed before KVM)."""
    if not rebooted:
        return list(pending)
    settled = {"kdump": kdump_ready, "load": module_loaded}
    return [p for p in pending if not settled.get(p, False)]


def reboot_decision(
    pending: list[str],
    reboot_ok: bool,
    guests: list[dict] | None,
    with_guests: bool = False,
) -> dict:
    """Whether a host that waits for a reboot gets one now.

    action: "none" (nothing waits), "report" (not allowed: REBOOT REQUIRED),
    "refuse" (allowed, but guests run and vmcsinfo_reboot_with_guests is not
    set, or nobody can tell whether guests run), "reboot". Always with a
    reason an operator reads in the summary, naming the guests.
    """
    if not pending:
        return {"action": "none", "reason": "nothing waits for a reboot"}
    what = " and ".join(pending)
    if not reboot_ok:
        return {
            "action": "report",
            "reason": f"a reboot is required for {what}; vmcsinfo_reboot_ok is false",
        }
    if guests is None:
        return {
            "action": "refuse",
            "reason": f"a reboot is required for {what}, but the running KVM guests could not be "
            "listed: not rebooted",
        }
    if guests:
        names = ", ".join(f"{g.get('name', '?')} (pid {g.get('pid', '?')})" for g in guests)
        if not with_guests:
            return {
                "action": "refuse",
                "reason": f"a reboot is required for {what}, but {len(guests)} KVM guest(s) run: "
                f"{names}; not rebooted (drain them with vmcsinfo_reboot_drain_tasks, or set "
                "vmcsinfo_reboot_with_guests=true to reboot anyway)",
            }
        return {
            "action": "reboot",
            "reason": f"rebooting for {what} with {len(guests)} KVM guest(s) running: {names} "
            "(vmcsinfo_reboot_with_guests)",
        }
    return {"action": "reboot", "reason": f"rebooting for {what}"}


def grub_stale(cfg_mtime: float | None, input_mtimes: list[float | None]) -> bool:
    """Whether grub.cfg must be regenerated: it is missing, or older than one
    of what update-grub builds it from (None: that input does not exist)."""
    if cfg_mtime is None:
        return True
    return any(m is not None and m > cfg_mtime for m in input_mtimes)


def load_decision(
    loaded: bool,
    installed: str,
    loaded_version: str,
    kvm: bool,
    intel_vmx: bool,
    load_now: bool,
    mok: str,
    kernel: str,
    no_probe_reason: str,
) -> dict:
    """What the load role does now (vmcsinfo_load/tasks/decide.yml).

    decision: none (loaded and current), load (modprobe now; reload: unload
    the old version first), skip (cannot or must not load), reboot (the new
    version can probe only at the next boot). result: what the facts and the
    summary say until the load's own outcome is known (load_outcome).

    kvm_intel loaded is not a reason on its own to wait for a boot: on Linux
    6.1 KVM holds VMX only while a VM exists, and vmcsinfo refuses safely
    with EBUSY when VMX is held, so the role tries the load and asks for a
    reboot only when the module answers EBUSY. A loaded older version is not
    unloaded to try (its note would be gone if the new one is refused).
    """
    current = loaded and (not installed or loaded_version == installed)
    if current:
        return _load("none", "loaded", f"vmcsinfo {loaded_version} is loaded")
    if loaded and kvm:
        return _load(
            "reboot",
            "deferred",
            f"vmcsinfo {loaded_version} is loaded and {installed} is installed, but kvm_intel "
            "is loaded: the new version probes at the next boot",
        )
    if loaded:
        return _load("load", "pending", f"reloading vmcsinfo {loaded_version} as {installed}", True)
    if not load_now:
        return _load(
            "skip", "skipped", "vmcsinfo_load_now is false: vmcsinfo loads at the next boot"
        )
    if not intel_vmx:
        return _load("skip", "skipped", f"no Intel VMX: {no_probe_reason}")
    if not installed:
        return _load(
            "skip",
            "skipped",
            f"vmcsinfo is not built for the running kernel {kernel}: add it to "
            "vmcsinfo_build_kernels and run the build role",
        )
    if mok in ("pending", "missing"):
        return _load(
            "skip",
            "skipped",
            f"Secure Boot: the signing key enrollment is {mok}, the kernel would reject the module",
        )
    if kvm:
        return _load(
            "load", "pending", "loading (kvm_intel is loaded: the probe may find VMX held)"
        )
    return _load("load", "pending", "loading")


def _load(decision: str, result: str, reason: str, reload: bool = False) -> dict:
    return {"decision": decision, "result": result, "reason": reason, "reload": reload}


EBUSY_TEXTS = ("Device or resource busy", "EBUSY")


def load_outcome(rc: int, stderr: str, log_line: str, kvm: bool, version: str) -> dict:
    """The result of `modprobe vmcsinfo` (load.yml): loaded; refused with
    EBUSY while kvm_intel is loaded (VMX held: deferred, the module probes at
    the next boot through the softdep, so a reboot is the way); or refused
    (the module's own reason from this load's kernel log line)."""
    if rc == 0:
        return {"result": "loaded", "decision": "load", "reason": f"vmcsinfo {version} is loaded"}
    said = " / ".join(x for x in (stderr.strip(), log_line.strip()) if x)
    if kvm and any(t in said for t in EBUSY_TEXTS):
        return {
            "result": "deferred",
            "decision": "reboot",
            "reason": "kvm_intel holds VMX (the load answered EBUSY): vmcsinfo probes at the "
            "next boot (softdep kvm_intel pre: vmcsinfo)" + (f"; {said}" if said else ""),
        }
    return {"result": "refused", "decision": "load", "reason": said or f"modprobe exit {rc}"}
