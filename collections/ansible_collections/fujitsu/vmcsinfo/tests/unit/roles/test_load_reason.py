"""The refusal reason vmcsinfo_load reports is this load's kernel log line,
never an older attempt's (issue 11 fault 15: it was "the last vmcsinfo:
line", whichever load wrote it). The two shell commands of load.yml run for
real under bash with a dmesg that prints a recorded kernel log."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest
import yaml

LOAD = Path(__file__).resolve().parents[3] / "roles/vmcsinfo_load/tasks/load.yml"
BEFORE = """[    1.000000] Linux version 6.12.117+deb12-amd64
[    5.250000] vmcsinfo: VMX is owned by another hypervisor (CR4.VMXE set): refusing
[   90.123456] random: crng reseeded
"""
AFTER_NEW = BEFORE + "[  120.500000] vmcsinfo: IA32_FEATURE_CONTROL is locked without VMXON\n"
AFTER_NONE = BEFORE + "[  120.500000] kvm: something else\n"


def _task(name_start: str) -> dict:
    for t in yaml.safe_load(LOAD.read_text()):
        if t["name"].startswith(name_start):
            return t
    raise AssertionError(f"no task {name_start!r} in {LOAD}")


def _run(task: dict, log: str, tmp_path: Path, env: dict | None = None) -> str:
    fake = tmp_path / "bin"
    fake.mkdir(exist_ok=True)
    (tmp_path / "log").write_text(log)
    (fake / "dmesg").write_text(f"#!/bin/sh\ncat {tmp_path / 'log'}\n")
    (fake / "dmesg").chmod(0o755)
    e = {"PATH": f"{fake}:{os.environ['PATH']}", **(env or {})}
    sh = task["ansible.builtin.shell"]
    r = subprocess.run(
        [sh["executable"], "-c", sh["cmd"]], capture_output=True, text=True, env=e, check=True
    )
    return r.stdout.strip()


@pytest.mark.parametrize(
    ("after", "want"),
    [
        (AFTER_NEW, "vmcsinfo: IA32_FEATURE_CONTROL is locked without VMXON"),
        (AFTER_NONE, ""),  # this load logged nothing: not the older line
        (BEFORE, ""),
    ],
)
def test_only_this_loads_line(tmp_path: Path, after: str, want: str) -> None:
    mark = _run(_task("Read where the kernel log stands"), BEFORE, tmp_path)
    assert float(mark) == pytest.approx(90.123456)
    reason = _task("Read the module's own reason")
    assert "vmcsinfo_load_log_mark.stdout" in reason["environment"]["T0"]
    assert _run(reason, after, tmp_path, {"T0": mark}) == want


def test_an_empty_log(tmp_path: Path) -> None:
    mark = _run(_task("Read where the kernel log stands"), "", tmp_path)
    assert mark == "0"
    got = _run(_task("Read the module's own reason"), AFTER_NEW, tmp_path, {"T0": mark})
    assert got.endswith("IA32_FEATURE_CONTROL is locked without VMXON")
