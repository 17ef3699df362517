"""deploy.yml refuses, before it changes anything, an inventory whose
settings would fail hosts later (issue 11 fault 15: the example inventory as
written, with a builder and no vmcsinfo_build_kernels, failed every
production host). Runs the real playbook with ansible-playbook against local
hosts: its first play stops the run, so nothing else is reached."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
import yaml

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "plugins/modules"))
import ansiblecli

REPO = Path(__file__).resolve().parents[7]


def _inventory(tmp_path: Path, kernels: list[str], builders: bool) -> Path:
    local = {"ansible_connection": "local", "ansible_python_interpreter": sys.executable}
    inv = {
        "all": {
            "vars": {"vmcsinfo_build_kernels": kernels},
            "children": {
                "vmcsinfo_builders": {"hosts": {"build01": local} if builders else {}},
                "vmcsinfo_production": {"hosts": {"kvm01": local, "kvm02": local}},
            },
        }
    }
    p = tmp_path / "hosts.yml"
    p.write_text(yaml.safe_dump(inv))
    return p


def _run(tmp_path: Path, inv: Path, *extra: str):
    return ansiblecli.run(
        tmp_path,
        "ansible-playbook",
        str(REPO / "deploy.yml"),
        "-i",
        str(inv),
        "--check",
        "--limit",
        "kvm01,kvm02,build01",
        "-e",
        "vmcsinfo_target=all",
        "--tags",
        "never-matches-a-role",
        *extra,
    )


def test_builders_without_kernels_stop_the_run_first(tmp_path: Path) -> None:
    r = _run(tmp_path, _inventory(tmp_path, [], builders=True))
    out = r.stdout + r.stderr
    assert r.returncode != 0, out
    assert "kvm01 would install the builders' tarballs, but vmcsinfo_build_kernels" in out
    assert "Nothing was changed on any host" in out
    # the run ended in the check play: no other play started
    assert "PLAY [Build once per kernel on the builders]" not in out, out


def test_good_settings_pass_the_check(tmp_path: Path) -> None:
    for kernels, builders in (([], False), (["6.1.0-57-amd64"], True)):
        r = _run(tmp_path, _inventory(tmp_path, kernels, builders))
        out = r.stdout + r.stderr
        assert "TASK [With builders, every other host needs the kernels" in out, out
        assert "would install the builders' tarballs" not in out, out


def test_the_example_inventory_as_written_passes_the_check() -> None:
    inv = yaml.safe_load((REPO / "inventories/example/hosts.yml").read_text())
    builders = inv["all"]["children"]["vmcsinfo_kvm_hosts"]["children"]["vmcsinfo_builders"]
    kernels = yaml.safe_load((REPO / "inventories/example/group_vars/all.yml").read_text())[
        "vmcsinfo_build_kernels"
    ]
    assert not (builders.get("hosts") and not kernels)


@pytest.mark.parametrize("kind", ["relative", "missing", "directory"])
def test_drain_tasks_not_an_absolute_file_stop_the_run_first(tmp_path: Path, kind: str) -> None:
    """The playbook lives in the collection, so a relative vmcsinfo_reboot_drain_tasks
    would be looked up inside it: the first play refuses it, and a missing file, before
    any host changes (rather than at the first reboot, with the fleet half deployed)."""
    (tmp_path / "drain.yml").write_text("- name: Drain\n  ansible.builtin.debug:\n    msg: x\n")
    value = {
        "relative": "drain.yml",
        "missing": str(tmp_path / "nope.yml"),
        "directory": str(tmp_path),
    }
    inv = _inventory(tmp_path, [], builders=False)
    r = _run(tmp_path, inv, "-e", f"vmcsinfo_reboot_drain_tasks={value[kind]}")
    out = r.stdout + r.stderr
    assert r.returncode != 0, out
    assert f"vmcsinfo_reboot_drain_tasks is {value[kind]}, which is not an absolute" in out, out
    assert "PLAY [Give every KVM host its VMCSINFO]" not in out, out


def test_drain_tasks_as_an_absolute_file_pass_the_check(tmp_path: Path) -> None:
    drain = tmp_path / "drain.yml"
    drain.write_text("- name: Drain\n  ansible.builtin.debug:\n    msg: x\n")
    r = _run(
        tmp_path,
        _inventory(tmp_path, [], builders=False),
        "-e",
        f"vmcsinfo_reboot_drain_tasks={drain}",
    )
    out = r.stdout + r.stderr
    assert "TASK [The drain tasks are an absolute path" in out, out
    assert "which is not an absolute" not in out, out
