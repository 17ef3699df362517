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
