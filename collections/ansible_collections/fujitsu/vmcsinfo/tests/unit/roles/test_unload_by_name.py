"""`absent` in deploy.yml's order (build, then load) on a host where vmcsinfo
is loaded: the module must be unloaded by name (rmmod) before DKMS removes
its files, since `modprobe -r` then fails with "not found" and the module
stays loaded (issue 11 fault 7). Read from the roles' task files."""

from __future__ import annotations

from pathlib import Path

import yaml

ROLES = Path(__file__).resolve().parents[3] / "roles"


def _tasks(role: str, name: str) -> list[dict]:
    return yaml.safe_load((ROLES / role / "tasks" / name).read_text())


def _argv(task: dict) -> list[str]:
    cmd = task.get("ansible.builtin.command") or {}
    return cmd.get("argv", []) if isinstance(cmd, dict) else str(cmd).split()


def test_build_absent_unloads_before_dkms_removes_the_files() -> None:
    tasks = _tasks("vmcsinfo_build", "absent.yml")
    dkms = next(i for i, t in enumerate(tasks) if "fujitsu.vmcsinfo.vmcsinfo_dkms" in t)
    rmmod = [i for i, t in enumerate(tasks) if _argv(t)[:1] == ["rmmod"]]
    assert rmmod and rmmod[0] < dkms
    assert _argv(tasks[rmmod[0]]) == ["rmmod", "vmcsinfo"]


def test_no_role_unloads_through_modprobe() -> None:
    for path in sorted(ROLES.glob("*/tasks/*.yml")):
        for t in yaml.safe_load(path.read_text()) or []:
            argv = _argv(t)
            assert not (argv[:2] == ["modprobe", "-r"]), f"{path}: {t['name']}"
