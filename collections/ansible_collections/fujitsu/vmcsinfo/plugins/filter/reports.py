# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Filters module_summary, run_summary, summary_line (deploy.yml's summary)
and kdump_reboot_required, kdump_ready, kdump_reasons (the kdump role's
state): tables in module_utils/reports.py, each row tested."""

from __future__ import annotations

from ansible.errors import AnsibleFilterError

from ansible_collections.fujitsu.vmcsinfo.plugins.module_utils import reports
from ansible_collections.fujitsu.vmcsinfo.plugins.plugin_utils.filter_args import (
    as_bool as _bool,
)
from ansible_collections.fujitsu.vmcsinfo.plugins.plugin_utils.filter_args import (
    as_int as _int,
)
from ansible_collections.fujitsu.vmcsinfo.plugins.plugin_utils.filter_args import (
    as_list,
)
from ansible_collections.fujitsu.vmcsinfo.plugins.plugin_utils.filter_args import (
    as_str_or_none as _str_or_none,
)


def _list(value, name: str) -> list[str]:
    return [str(v) for v in as_list(value, name)]


def module_summary(
    build_state,
    version=None,
    facts_version=None,
    loaded=False,
    load_result=None,
    facts_load_result=None,
):
    if facts_load_result is not None and not isinstance(facts_load_result, dict):
        raise AnsibleFilterError(
            f"facts_load_result must be a dict or null, not {facts_load_result!r}"
        )
    return reports.module_summary(
        str(build_state or ""),
        _str_or_none(version),
        _str_or_none(facts_version),
        _bool(loaded, "loaded"),
        _str_or_none(load_result),
        facts_load_result,
    )


def run_summary(why_full, fast=False, recorded_at=None):
    return reports.run_summary(
        _bool(fast, "fast"), _str_or_none(recorded_at), _list(why_full, "why_full")
    )


def summary_line(summary):
    if summary is not None and not isinstance(summary, dict):
        raise AnsibleFilterError(f"summary_line expects a host's summary (a dict), not {summary!r}")
    if summary:
        summary = dict(summary)
        for key in ("kdump_ready", "reboot_needed", "stale"):
            summary[key] = _bool(summary.get(key), key)
        db = summary.get("database")
        if db is not None and not isinstance(db, dict):
            raise AnsibleFilterError(f"summary_line: database must be a dict or null, not {db!r}")
        if db:
            summary["database"] = {**db, "conflict": _bool(db.get("conflict"), "conflict")}
    return reports.summary_line(summary)


def database_summary(status):
    if status is not None and not isinstance(status, dict):
        raise AnsibleFilterError(
            f"database_summary expects a host's vmcsinfo_db_status (a dict), not {status!r}"
        )
    if status:
        status = {**status, "conflict": _bool(status.get("conflict"), "conflict")}
    return reports.database_summary(status)


def kdump_reboot_required(
    state, configured=False, container=False, crash_size=0, boot_loader="", manage_crashkernel=True
):
    return reports.kdump_reboot_required(
        str(state or ""),
        _bool(configured, "configured"),
        _bool(container, "container"),
        _int(crash_size, "crash_size"),
        str(boot_loader or ""),
        _bool(manage_crashkernel, "manage_crashkernel"),
    )


def kdump_ready(
    state, configured=False, container=False, crash_loaded="", family="", config_status=""
):
    return reports.kdump_ready(
        str(state or ""),
        _bool(configured, "configured"),
        _bool(container, "container"),
        str(crash_loaded or "").strip(),
        str(family or ""),
        str(config_status or ""),
    )


def kdump_reasons(
    before,
    state="present",
    configured=False,
    container=False,
    reboot_required=False,
    ready=False,
    manage_crashkernel=True,
    crashkernel="",
    running_crashkernel="",
    crash_size=0,
    crash_size_file="",
    boot_loader="",
    family="",
    service="",
    attach=True,
):
    return reports.kdump_reasons(
        _list(before, "before"),
        str(state or ""),
        _bool(configured, "configured"),
        _bool(container, "container"),
        _bool(reboot_required, "reboot_required"),
        _bool(ready, "ready"),
        _bool(manage_crashkernel, "manage_crashkernel"),
        str(crashkernel or ""),
        str(running_crashkernel or ""),
        _int(crash_size, "crash_size"),
        str(crash_size_file or ""),
        str(boot_loader or ""),
        str(family or ""),
        str(service or ""),
        _bool(attach, "attach"),
    )


class FilterModule:
    def filters(self) -> dict:
        return {
            "module_summary": module_summary,
            "run_summary": run_summary,
            "summary_line": summary_line,
            "database_summary": database_summary,
            "kdump_reboot_required": kdump_reboot_required,
            "kdump_ready": kdump_ready,
            "kdump_reasons": kdump_reasons,
        }
