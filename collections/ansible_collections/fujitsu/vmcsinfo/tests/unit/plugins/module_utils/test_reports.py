# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Every row of deploy.yml's summary and of the kdump role's state tables
(module_utils/reports.py), and the filters that wire them."""

from __future__ import annotations

import pytest
from ansible.errors import AnsibleFilterError

from ansible_collections.fujitsu.vmcsinfo.plugins.filter import reports as flt
from ansible_collections.fujitsu.vmcsinfo.plugins.module_utils import reports as r


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        # the build role removed the module
        (("absent", "0.1.0", "0.1.0", True, "loaded", None), "absent"),
        # this run's version and load result
        (("present", "0.1.0", "0.0.9", False, "deferred", None), "0.1.0, deferred"),
        # loaded wins over any load result
        (("present", "0.1.0", None, True, "refused", None), "0.1.0, loaded"),
        # the roles did not run (fast path): the facts' version and load result
        (("", None, "0.1.0", False, None, {"result": "refused"}), "0.1.0, refused"),
        # no load result anywhere
        (("", None, "0.1.0", False, None, None), "0.1.0, not loaded"),
        (("", None, "0.1.0", False, None, {"result": ""}), "0.1.0, not loaded"),
        # no version anywhere
        (("", None, None, False, None, None), "?, not loaded"),
        (("present", "", "0.1.0", False, "", None), "?, "),
    ],
)
def test_module_summary(args: tuple, expected: str) -> None:
    assert r.module_summary(*args) == expected


@pytest.mark.parametrize(
    ("fast", "at", "why", "expected"),
    [
        (True, "2026-12-01T10:00:00Z", [], "unchanged since 2026-12-01T10:00:00Z (fast path)"),
        (False, None, ["a builder"], "full: a builder"),
        (False, None, ["kernel changed", "x", "y"], "full: kernel changed (+2 more)"),
        (False, None, [], "full: ?"),
    ],
)
def test_run_summary(fast: bool, at: str | None, why: list[str], expected: str) -> None:
    assert r.run_summary(fast, at, why) == expected


BASE = {
    "module": "0.1.0, loaded",
    "vmcsinfo_source": "probe",
    "vmcsinfo_reason": "",
    "kdump_ready": True,
    "reboot_needed": False,
    "reboot_note": "",
    "run": "full: a builder",
}


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (
            {},
            "module 0.1.0, loaded; VMCSINFO probe; kdump ready; no reboot needed; "
            "run full: a builder",
        ),
        # a probe's reason is not shown; another source's is
        ({"vmcsinfo_reason": "r"}, "VMCSINFO probe; kdump"),
        (
            {"vmcsinfo_source": "snapshot", "vmcsinfo_reason": "not loaded"},
            "VMCSINFO snapshot (not loaded);",
        ),
        ({"vmcsinfo_source": "none"}, "VMCSINFO none; kdump"),
        ({"kdump_ready": False}, "; kdump not ready;"),
        ({"reboot_needed": True}, "; REBOOT REQUIRED; run"),
        (
            {"reboot_needed": True, "reboot_note": "guests vm1"},
            "; REBOOT REQUIRED (guests vm1); run",
        ),
        # a note without a needed reboot is not shown
        ({"reboot_note": "guests vm1"}, "; no reboot needed; run"),
        # issue 12: drift and the fleet database
        (
            {"stale": True, "stale_reason": "MICROCODE 0 vs 28"},
            "VMCSINFO probe STALE (MICROCODE 0 vs 28); kdump",
        ),
        ({"stale": False}, "VMCSINFO probe; kdump"),
        (
            {
                "database": {
                    "action": "contributed",
                    "contributed": "added",
                    "db_key": "K",
                    "digest": "d" * 64,
                }
            },
            "VMCSINFO probe; database contributed its probe (added: K dddddddddddd); kdump",
        ),
        (
            {
                "vmcsinfo_source": "database",
                "vmcsinfo_reason": "r",
                "database": {
                    "action": "served",
                    "basis": "exact",
                    "db_key": "K",
                    "digest": "e" * 64,
                },
            },
            "VMCSINFO database (r); database served exact K eeeeeeeeeeee; kdump",
        ),
        (
            {"database": {"action": "unserved", "reason": "unknown: no layout", "conflict": False}},
            "; database unserved (unknown: no layout); kdump",
        ),
        (
            {
                "database": {
                    "action": "contributed",
                    "contributed": "conflict",
                    "db_key": "K",
                    "digest": "d" * 64,
                    "conflict": True,
                    "conflict_reason": "K is in conflict",
                }
            },
            "(conflict: K dddddddddddd); DATABASE CONFLICT (K is in conflict); kdump",
        ),
        ({"database": None}, "VMCSINFO probe; kdump ready"),
        # a host asking for a key in conflict: the conflict said once
        (
            {
                "database": {
                    "action": "unserved",
                    "reason": "conflict: K is in conflict",
                    "conflict": True,
                    "conflict_reason": "K is in conflict",
                }
            },
            "; database unserved; DATABASE CONFLICT (K is in conflict); kdump",
        ),
    ],
)
def test_summary_line(change: dict, expected: str) -> None:
    assert expected in r.summary_line({**BASE, **change})


def test_summary_line_of_a_failed_host() -> None:
    assert r.summary_line(None) == "FAILED or UNREACHABLE: see the errors above"
    assert flt.summary_line(None) == r.FAILED_LINE
    assert flt.summary_line({}) == r.FAILED_LINE


def test_summary_line_filter_reads_booleans_as_ansible_gives_them() -> None:
    line = flt.summary_line({**BASE, "kdump_ready": "False", "reboot_needed": "True"})
    assert "kdump not ready; REBOOT REQUIRED;" in line
    line = flt.summary_line(
        {
            **BASE,
            "stale": "False",
            "database": {"action": "keep", "reason": "x", "conflict": "False"},
        }
    )
    assert "STALE" not in line and "CONFLICT" not in line and "database keep (x)" in line
    with pytest.raises(AnsibleFilterError, match="database must be a dict"):
        flt.summary_line({**BASE, "database": "served"})
    with pytest.raises(AnsibleFilterError, match="a dict"):
        flt.summary_line("x")


REBOOT = {
    "state": "present",
    "configured": True,
    "container": False,
    "crash_size": 0,
    "boot_loader": "grub",
    "manage_crashkernel": True,
}


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        ({}, True),
        ({"state": "absent"}, False),
        ({"configured": False}, False),
        ({"crash_size": 268435456}, False),
        ({"container": True}, False),
        # no boot loader the role can manage: a reboot does not help ...
        ({"boot_loader": "none"}, False),
        # ... unless the operator manages crashkernel= in theirs
        ({"boot_loader": "none", "manage_crashkernel": False}, True),
    ],
)
def test_kdump_reboot_required(change: dict, expected: bool) -> None:
    assert r.kdump_reboot_required(**{**REBOOT, **change}) is expected


READY = {
    "state": "present",
    "configured": True,
    "container": False,
    "crash_loaded": "1",
    "family": "debian",
    "config_status": "current state   : ready to kdump",
}


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        ({}, True),
        ({"state": "absent"}, False),
        ({"configured": False}, False),
        ({"container": True}, False),
        ({"crash_loaded": "0"}, False),
        ({"crash_loaded": ""}, False),
        ({"config_status": "current state   : Not ready to kdump"}, False),
        ({"config_status": ""}, False),
        # RedHat: the loaded crash kernel is enough
        ({"family": "redhat", "config_status": ""}, True),
    ],
)
def test_kdump_ready(change: dict, expected: bool) -> None:
    assert r.kdump_ready(**{**READY, **change}) is expected


REASONS = {
    "before": ["earlier"],
    "state": "present",
    "configured": True,
    "container": False,
    "reboot_required": False,
    "ready": True,
    "manage_crashkernel": True,
    "crashkernel": "256M",
    "running_crashkernel": "256M",
    "crash_size": 268435456,
    "crash_size_file": "/sys/kernel/kexec_crash_size",
    "boot_loader": "grub",
    "family": "debian",
    "service": "kdump-tools",
    "attach": True,
}


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        ({}, ["earlier", "kdump ready"]),
        (
            {"state": "absent", "ready": False, "configured": False},
            ["earlier", "vmcsinfo_kdump_state=absent: the additions of the role are removed"],
        ),
        (
            {"container": True, "ready": False, "crash_size": 0},
            [
                "earlier",
                "container: no crash kernel can be loaded here (the kernel is the host one); "
                "configuration only",
            ],
        ),
        (
            {"reboot_required": True, "ready": False, "crash_size": 0},
            [
                "earlier",
                "reboot required: no crash kernel memory reserved (/sys/kernel/kexec_crash_size "
                "is 0); crashkernel=256M applies from the next boot",
            ],
        ),
        (
            {"reboot_required": True, "ready": False, "crash_size": 0, "manage_crashkernel": False},
            [
                "earlier",
                "reboot required: no crash kernel memory reserved (/sys/kernel/kexec_crash_size "
                "is 0); the boot loader must pass crashkernel= (vmcsinfo_kdump_manage_crashkernel "
                "is false)",
            ],
        ),
        (
            {"running_crashkernel": "128M"},
            [
                "earlier",
                "running with crashkernel=128M; crashkernel=256M applies from the next boot",
                "kdump ready",
            ],
        ),
        # not when the role does not manage it, or there is no boot loader
        ({"running_crashkernel": "128M", "manage_crashkernel": False}, ["earlier", "kdump ready"]),
        ({"running_crashkernel": "128M", "boot_loader": "none"}, ["earlier", "kdump ready"]),
        (
            {"ready": False},
            [
                "earlier",
                "crash kernel memory reserved but no crash kernel loaded: see kdump-config status "
                "and journalctl -u kdump-tools",
            ],
        ),
        (
            {"ready": False, "family": "redhat", "service": "kdump"},
            [
                "earlier",
                "crash kernel memory reserved but no crash kernel loaded: see kdumpctl status "
                "and journalctl -u kdump",
            ],
        ),
        (
            {"attach": False},
            [
                "earlier",
                "vmcsinfo_kdump_attach_vmcsinfo is false: dumps carry VMCSINFO only as the ELF "
                "note in the vmcore",
                "kdump ready",
            ],
        ),
    ],
)
def test_kdump_reasons(change: dict, expected: list[str]) -> None:
    assert r.kdump_reasons(**{**REASONS, **change}) == expected


def test_filters_convert_what_ansible_passes() -> None:
    assert flt.kdump_reboot_required(
        "present", configured="True", crash_size="0", boot_loader="grub"
    )
    assert not flt.kdump_ready("present", configured=True, crash_loaded="1\n", family="debian")
    assert flt.kdump_ready("present", configured=True, crash_loaded="1\n", family="redhat")
    with pytest.raises(AnsibleFilterError, match="crash_size must be a number"):
        flt.kdump_reboot_required("present", crash_size="lots")
    with pytest.raises(AnsibleFilterError, match="before must be a list"):
        flt.kdump_reasons("x")
    assert (
        flt.module_summary("", facts_version="0.1.0", facts_load_result=None) == "0.1.0, not loaded"
    )
    with pytest.raises(AnsibleFilterError, match="facts_load_result"):
        flt.module_summary("", facts_load_result="refused")
    assert flt.run_summary(["a"], fast="false") == "full: a"
