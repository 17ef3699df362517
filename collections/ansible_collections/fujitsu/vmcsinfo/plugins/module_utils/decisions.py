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


def mok_key_state(exists: bool, test_key_output: str) -> str:
    """One signing certificate's MOK state from `mokutil --test-key CERT`:
    enrolled, pending (in the enrollment request), missing, or absent (the
    certificate file is not there: DKMS has not made its key yet, or no
    certificate came with a tarball)."""
    if not exists:
        return "absent"
    if "already enrolled" in test_key_output:
        return "enrolled"
    if "enrollment request" in test_key_output:
        return "pending"
    return "missing"


def secureboot_decision(
    sb_state: str,
    keys: dict[str, str],
    mode: str,
    enroll: bool,
    password: bool,
    install_unenrolled: bool,
) -> dict:
    """What the build role does about Secure Boot BEFORE anything is built,
    installed or replaced (vmcsinfo_build/tasks/secureboot.yml).

    sb_state: enabled, disabled, "unsupported (no EFI)" or "unknown: ...".
    keys: each certificate the modules are (to be) signed with, by path, and
    its mok_key_state. mode: build, publish or tarball (the certificates are
    then the ones that signed the tarballs' modules).

    action: proceed, enroll (stage the enrollment of `enroll` now, then
    install), "enroll after build" (DKMS's first build makes its key: stage it
    right after; no module signed by it can be installed yet), refuse (fail,
    nothing touched). mok: what the status reports (the load role skips a
    load while it is pending or missing). reason: for the operator.
    """
    if sb_state != "enabled":
        mok = "unknown" if sb_state.startswith("unknown") else "not needed"
        return _sb("proceed", mok, f"Secure Boot is {sb_state}")
    missing = [c for c, s in keys.items() if s == "missing"]
    absent = [c for c, s in keys.items() if s == "absent"]
    pending = [c for c, s in keys.items() if s == "pending"]
    nothing = "Nothing was built, installed or replaced."
    anyway = (
        "or set vmcsinfo_build_secure_boot_install_unenrolled=true to install a module the "
        "kernel rejects until the key is enrolled"
    )
    can_stage = enroll and password
    how = (
        "vmcsinfo_build_secure_boot_enroll is false"
        if not enroll
        else "vmcsinfo_build_mok_password is empty"
    )
    if not keys or (absent and mode == "tarball"):
        if install_unenrolled:
            return _sb("proceed", "missing", "Secure Boot is on; the tarballs' signer is unknown")
        where = ", ".join(absent) or "(none)"
        return _sb(
            "refuse",
            "missing",
            "Secure Boot is on, but the certificate that signed the tarballs' modules is not "
            f"next to them ({where}): the role cannot tell whether the kernel would accept "
            "them. Publish the tarballs again (vmcsinfo_build_mode=publish, which fetches the "
            f"signing certificate with them), {anyway}. {nothing}",
        )
    if absent:
        if can_stage:
            return _sb(
                "enroll after build",
                "pending",
                f"Secure Boot is on and DKMS has no signing key yet ({', '.join(absent)}): its "
                "first build makes one, whose enrollment is staged right after",
                absent,
            )
        if install_unenrolled:
            return _sb("proceed", "missing", f"Secure Boot is on; {absent[0]} does not exist yet")
        return _sb(
            "refuse",
            "missing",
            f"Secure Boot is on and DKMS has no signing key yet ({', '.join(absent)}): the key "
            "its first build makes is not enrolled, and the kernel would reject vmcsinfo "
            f'("Key was rejected by service"), but {how}. Set vmcsinfo_build_mok_password (from '
            "Vault) with vmcsinfo_build_secure_boot_enroll=true so the role stages the "
            "enrollment after the build, or sign with an enrolled fleet key "
            f"(vmcsinfo_build_signing_key and vmcsinfo_build_signing_cert), {anyway}. {nothing}",
        )
    if missing:
        if can_stage:
            return _sb(
                "enroll",
                "pending",
                f"Secure Boot is on and {', '.join(missing)} is not enrolled: its enrollment "
                "is staged before the module is installed (confirm it in MokManager at the "
                "next boot)",
                missing,
            )
        if install_unenrolled:
            return _sb(
                "proceed",
                "missing",
                f"Secure Boot is on and {', '.join(missing)} is not enrolled "
                "(vmcsinfo_build_secure_boot_install_unenrolled)",
            )
        return _sb(
            "refuse",
            "missing",
            f"Secure Boot is on and the module signing certificate {', '.join(missing)} is not "
            'enrolled: the kernel would reject vmcsinfo ("Key was rejected by service"), and '
            f"{how}. Set vmcsinfo_build_mok_password (from Vault) with "
            "vmcsinfo_build_secure_boot_enroll=true so the role stages the enrollment with "
            f"mokutil --import, or enroll the certificate yourself, {anyway}. {nothing}",
        )
    if pending:
        return _sb(
            "proceed",
            "pending",
            f"Secure Boot is on and the enrollment of {', '.join(pending)} waits for the console",
        )
    return _sb("proceed", "enrolled", "Secure Boot is on and the signing key is enrolled")


def _sb(action: str, mok: str, reason: str, enroll: list[str] | None = None) -> dict:
    return {"action": action, "mok": mok, "reason": reason, "enroll": list(enroll or [])}
