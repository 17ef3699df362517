# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""What deploy.yml and the kdump role say about a host, as tables in Python,
each row tested (tests/unit/plugins/module_utils/test_reports.py); the
playbook and the role only wire them (filter plugin fujitsu.vmcsinfo.reports).

- module_summary, run_summary, summary_line: deploy.yml's per-host summary and
  its fleet summary line;
- kdump_reboot_required, kdump_ready, kdump_reasons: the kdump role's state
  and the reasons it gives (roles/vmcsinfo_kdump/tasks/status.yml)."""

from __future__ import annotations

from typing import Any

FAILED_LINE = "FAILED or UNREACHABLE: see the errors above"


def module_summary(
    build_state: str,
    version: str | None,
    facts_version: str | None,
    loaded: bool,
    load_result: str | None,
    facts_load_result: dict[str, Any] | None,
) -> str:
    """ "absent", or "<version>, <loaded | the load's result>". The version is
    the build role's (this run), else the facts'; the load result is the load
    role's (this run), else the one the facts read from the host."""
    if build_state == "absent":
        return "absent"
    v = version if version is not None else facts_version
    if loaded:
        state = "loaded"
    elif load_result is not None:
        state = load_result
    else:
        state = (facts_load_result or {}).get("result") or "not loaded"
    return f"{v or '?'}, {state}"


def run_summary(fast: bool, recorded_at: str | None, why_full: list[str]) -> str:
    """How the roles ran: the fast path (since when the host is unchanged), or
    a full run with its first reason and how many more there are."""
    if fast:
        return f"unchanged since {recorded_at} (fast path)"
    first = why_full[0] if why_full else "?"
    more = f" (+{len(why_full) - 1} more)" if len(why_full) > 1 else ""
    return f"full: {first}{more}"


def summary_line(summary: dict[str, Any] | None) -> str:
    """The fleet summary's line for one host (FAILED_LINE when the host has
    no summary: it failed or was unreachable before the end of its play)."""
    if not summary:
        return FAILED_LINE
    source = summary.get("vmcsinfo_source")
    reason = summary.get("vmcsinfo_reason") or ""
    why = f" ({reason})" if source != "probe" and reason else ""
    kdump = "ready" if summary.get("kdump_ready") else "not ready"
    reboot = "REBOOT REQUIRED" if summary.get("reboot_needed") else "no reboot needed"
    note = summary.get("reboot_note") or ""
    if summary.get("reboot_needed") and note:
        reboot += f" ({note})"
    stale = (
        f" STALE ({summary.get('stale_reason') or 'microcode changed'})"
        if summary.get("stale")
        else ""
    )
    db = database_summary(summary.get("database"))
    db = f"{db}; " if db else ""
    return (
        f"module {summary.get('module')}; VMCSINFO {source}{why}{stale}; {db}kdump {kdump}; "
        f"{reboot}; run {summary.get('run')}"
    )


def database_summary(status: dict[str, Any] | None) -> str:
    """The fleet database's part of a host's summary line, empty without a database: what
    the host's round did, and a conflict in capitals."""
    if not status:
        return ""
    action = status.get("action") or "?"
    key = status.get("db_key")
    digest = (status.get("digest") or "")[:12]
    if action == "contributed":
        how = status.get("contributed")
        how = "would be added, check mode" if how == "would" else how
        what = f"contributed its probe ({how}: {key} {digest})"
    elif action == "served":
        what = f"served {status.get('basis')} {key} {digest}"
    elif status.get("conflict"):
        what = action  # its reason is the conflict, said once below
    else:
        what = f"{action} ({status.get('reason') or ''})"
    if status.get("conflict"):
        what += f"; DATABASE CONFLICT ({status.get('conflict_reason') or key})"
    return f"database {what}"


def kdump_reboot_required(
    state: str,
    configured: bool,
    container: bool,
    crash_size: int,
    boot_loader: str,
    manage_crashkernel: bool,
) -> bool:
    """Only a reboot reserves crash kernel memory: none is reserved, kdump is
    configured, and a reboot can help (a boot loader the role manages, or one
    the operator manages: manage_crashkernel false). Never in a container."""
    return (
        state == "present"
        and configured
        and crash_size == 0
        and not container
        and (boot_loader != "none" or not manage_crashkernel)
    )


def kdump_ready(
    state: str,
    configured: bool,
    container: bool,
    crash_loaded: str,
    family: str,
    config_status: str,
) -> bool:
    """A crash is captured: the crash kernel is loaded (kexec_crash_loaded 1)
    and, on Debian, kdump-config status says ready."""
    if not (state == "present" and configured and not container and crash_loaded == "1"):
        return False
    if family != "debian":
        return True
    return "ready to kdump" in config_status and "Not ready" not in config_status


def kdump_reasons(
    before: list[str],
    state: str,
    configured: bool,
    container: bool,
    reboot_required: bool,
    ready: bool,
    manage_crashkernel: bool,
    crashkernel: str,
    running_crashkernel: str,
    crash_size: int,
    crash_size_file: str,
    boot_loader: str,
    family: str,
    service: str,
    attach: bool,
) -> list[str]:
    """The kdump role's reasons, after the ones it found before (before)."""
    out = list(before)
    present = state == "present"
    if state == "absent":
        out.append("vmcsinfo_kdump_state=absent: the additions of the role are removed")
    if container and present:
        out.append(
            "container: no crash kernel can be loaded here (the kernel is the host one); "
            "configuration only"
        )
    if reboot_required:
        reserved = f"reboot required: no crash kernel memory reserved ({crash_size_file} is 0); "
        if manage_crashkernel:
            out.append(f"{reserved}crashkernel={crashkernel} applies from the next boot")
        else:
            out.append(
                f"{reserved}the boot loader must pass crashkernel= "
                "(vmcsinfo_kdump_manage_crashkernel is false)"
            )
    if (
        present
        and configured
        and manage_crashkernel
        and boot_loader != "none"
        and crash_size > 0
        and running_crashkernel != crashkernel
    ):
        out.append(
            f"running with crashkernel={running_crashkernel}; crashkernel={crashkernel} "
            "applies from the next boot"
        )
    if present and configured and crash_size > 0 and not container and not ready:
        status = "kdump-config status" if family == "debian" else "kdumpctl status"
        out.append(
            "crash kernel memory reserved but no crash kernel loaded: see "
            f"{status} and journalctl -u {service}"
        )
    if present and not attach:
        out.append(
            "vmcsinfo_kdump_attach_vmcsinfo is false: dumps carry VMCSINFO only as the ELF "
            "note in the vmcore"
        )
    if ready:
        out.append("kdump ready")
    return out
