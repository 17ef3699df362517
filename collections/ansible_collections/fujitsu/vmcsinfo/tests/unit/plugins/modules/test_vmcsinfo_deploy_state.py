# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Unit tests for vmcsinfo_deploy_state (deploy.yml's fast-path record).

The module runs for real in the vm molecule scenario (record after a full
run, fast path on the re-run, drift found after a file is changed by hand);
these cover the comparison and the record file on a temporary tree.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from ansible.module_utils.testing import patch_module_args

from ansible_collections.fujitsu.vmcsinfo.plugins.module_utils import deploy_record as dr
from ansible_collections.fujitsu.vmcsinfo.plugins.modules import vmcsinfo_deploy_state as m


def run_main(args: dict, capsys: pytest.CaptureFixture[str]) -> dict:
    with patch_module_args(args), pytest.raises(SystemExit):
        m.main()
    return json.loads(capsys.readouterr().out)


@pytest.fixture
def tree(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A managed file, a symlink and a fake /sys; kernels fixed."""
    etc = tmp_path / "etc"
    etc.mkdir()
    (etc / "vmcsinfo.conf").write_text("softdep kvm_intel pre: vmcsinfo\n")
    (etc / "wants").mkdir()
    os.symlink(
        "/etc/systemd/system/vmcsinfo-persist.service", etc / "wants" / "vmcsinfo-persist.service"
    )
    sys_root = tmp_path / "sys"
    (sys_root / "kernel").mkdir(parents=True)
    (sys_root / "kernel" / "kexec_crash_size").write_text("268435456\n")
    (sys_root / "kernel" / "kexec_crash_loaded").write_text("1\n")
    kernels = {
        "running": "6.1.0-41-amd64",
        "boot": ["6.1.0-41-amd64"],
        "modules": ["6.1.0-41-amd64"],
    }
    monkeypatch.setattr(dr, "SYS", str(sys_root))
    monkeypatch.setattr(dr, "observe_kernels", lambda root="/": json.loads(json.dumps(kernels)))
    return tmp_path


def args(tree: Path, **kw: object) -> dict:
    base = {
        "fingerprint": "f1",
        "paths": [str(tree / "etc" / "**")],
        "path": str(tree / "state" / "deploy-state.json"),
    }
    base.update(kw)
    return base


def test_check_without_record_is_not_converged(
    tree: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = run_main(args(tree), capsys)
    assert out["converged"] is False
    assert out["changed"] is False
    assert "no record" in out["reasons"][0]
    assert out["recorded_at"] is None
    assert not (tree / "state").exists()


def test_record_then_check_converged(tree: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = run_main(args(tree, state="record"), capsys)
    assert out["changed"] is True and out["converged"] is True
    assert out["files"] == 2
    rec = json.loads((tree / "state" / "deploy-state.json").read_text())
    assert rec["fingerprint"] == "f1"
    assert rec["runtime"]["crash_kernel_memory"] == "268435456"
    assert any(v.startswith("link:") for v in rec["files"].values())
    assert oct((tree / "state" / "deploy-state.json").stat().st_mode & 0o777) == "0o600"

    out = run_main(args(tree), capsys)
    assert out["converged"] is True, out["reasons"]
    assert out["reasons"] == []
    assert out["recorded_at"] == rec["recorded_at"]

    # Recording the same state again changes nothing (not even the time stamp).
    out = run_main(args(tree, state="record"), capsys)
    assert out["changed"] is False
    assert (
        json.loads((tree / "state" / "deploy-state.json").read_text())["recorded_at"]
        == rec["recorded_at"]
    )


@pytest.mark.parametrize(
    ("drift", "reason"),
    [
        (lambda t: (t / "etc" / "vmcsinfo.conf").write_text("edited\n"), "changed: "),
        (lambda t: (t / "etc" / "vmcsinfo.conf").chmod(0o600), "changed: "),
        (lambda t: (t / "etc" / "vmcsinfo.conf").unlink(), "missing: "),
        (lambda t: (t / "etc" / "new.conf").write_text("x\n"), "new: "),
        (lambda t: (t / "etc" / "wants" / "vmcsinfo-persist.service").unlink(), "missing: "),
        (
            lambda t: (t / "sys" / "kernel" / "kexec_crash_loaded").write_text("0\n"),
            "crash kernel loaded is 0",
        ),
        (
            lambda t: (t / "sys" / "kernel" / "kexec_crash_size").write_text("0\n"),
            "crash kernel memory is 0",
        ),
        (
            lambda t: (t / "sys" / "module" / "vmcsinfo").mkdir(parents=True),
            "vmcsinfo loaded is True",
        ),
    ],
)
def test_drift_is_found(tree: Path, capsys: pytest.CaptureFixture[str], drift, reason: str) -> None:
    run_main(args(tree, state="record"), capsys)
    drift(tree)
    out = run_main(args(tree), capsys)
    assert out["converged"] is False
    assert any(r.startswith(reason) for r in out["reasons"]), out["reasons"]


def test_new_fingerprint_and_kernel(
    tree: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    run_main(args(tree, state="record"), capsys)
    out = run_main(args(tree, fingerprint="f2"), capsys)
    assert out["converged"] is False
    assert out["reasons"] == [
        "what is deployed changed (collection, module source or vmcsinfo_* variables)"
    ]

    new = {
        "running": "6.1.0-41-amd64",
        "boot": ["6.1.0-41-amd64", "6.1.0-42-amd64"],
        "modules": ["6.1.0-41-amd64"],
    }
    monkeypatch.setattr(dr, "observe_kernels", lambda root="/": new)
    out = run_main(args(tree), capsys)
    assert out["reasons"] == ["new kernel in /boot: 6.1.0-42-amd64"]


def test_many_reasons_are_capped(tree: Path, capsys: pytest.CaptureFixture[str]) -> None:
    run_main(args(tree, state="record"), capsys)
    for i in range(30):
        (tree / "etc" / f"n{i:02}.conf").write_text("x\n")
    out = run_main(args(tree), capsys)
    assert len(out["reasons"]) == dr.MAX_REASONS
    assert out["reasons"][-1] == f"... and {30 - dr.MAX_REASONS + 1} more differences"


def test_corrupt_record(tree: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tree / "state").mkdir()
    (tree / "state" / "deploy-state.json").write_text("{not json")
    out = run_main(args(tree), capsys)
    assert out["converged"] is False
    assert "unreadable" in out["reasons"][0]
    out = run_main(args(tree, state="record"), capsys)
    assert out["changed"] is True
    assert run_main(args(tree), capsys)["converged"] is True


def test_check_mode_and_diff(tree: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = run_main(args(tree, state="record", _ansible_check_mode=True, _ansible_diff=True), capsys)
    assert out["changed"] is True
    assert '"fingerprint": "f1"' in out["diff"]["after"]
    assert not (tree / "state").exists()
    run_main(args(tree, state="record"), capsys)
    out = run_main(args(tree, state="absent", _ansible_check_mode=True), capsys)
    assert out["changed"] is True
    assert (tree / "state" / "deploy-state.json").exists()


def test_absent(tree: Path, capsys: pytest.CaptureFixture[str]) -> None:
    run_main(args(tree, state="record"), capsys)
    out = run_main(args(tree, state="absent"), capsys)
    assert out["changed"] is True
    assert not (tree / "state" / "deploy-state.json").exists()
    out = run_main(args(tree, state="absent"), capsys)
    assert out["changed"] is False


def test_fingerprint_required(capsys: pytest.CaptureFixture[str]) -> None:
    out = run_main({"state": "check"}, capsys)
    assert out["failed"] is True
    assert "fingerprint" in out["msg"]


def test_pending_reboot_is_recorded_and_returned(
    tree: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A host that waits only for a reboot is recorded with what the reboot is for;
    the check of an unchanged host hands it back (deploy.yml reboots or reports
    it without running the roles); a record without pending hands back []."""
    out = run_main(args(tree, state="record", pending=["kdump", "load", "kdump"]), capsys)
    assert out["changed"] is True and out["pending"] == ["kdump", "load"]
    out = run_main(args(tree), capsys)
    assert out["converged"] is True and out["pending"] == ["kdump", "load"]
    # The reboot settled it: recording again without pending rewrites the record.
    out = run_main(args(tree, state="record"), capsys)
    assert out["changed"] is True and out["pending"] == []
    assert run_main(args(tree), capsys)["pending"] == []
    # A host that differs from the record is not converged and has nothing pending.
    run_main(args(tree, state="record", pending=["kdump"]), capsys)
    (tree / "etc" / "vmcsinfo.conf").write_text("edited\n")
    out = run_main(args(tree), capsys)
    assert out["converged"] is False and out["pending"] == []


def test_pending_choices(tree: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = run_main(args(tree, state="record", pending=["firmware"]), capsys)
    assert out["failed"] is True and "pending" in out["msg"]


def test_deployed_paths_cover_what_the_capture_wrapper_depends_on() -> None:
    """After a kdump-tools upgrade (new init script, kdump-config, units,
    package version) the host must not count as converged: the wrapper runs
    "/etc/init.d/kdump-tools start" and mirrors what it does (issue 11 fault 9).
    deploy.yml records what the roles publish (vmcsinfo_managed_files)."""
    import fnmatch

    from ansible_collections.fujitsu.vmcsinfo.plugins.lookup import vmcsinfo_managed_files as mf

    spec = mf.managed_files(mf.collection_root())
    for path in (
        "/etc/init.d/kdump-tools",
        "/usr/sbin/kdump-config",
        "/lib/systemd/system/kdump-tools-dump.service",
        "/usr/lib/systemd/system/kdump-tools.service",
        "/var/lib/dpkg/info/kdump-tools.md5sums",
        "/etc/kdump/pre.d/50-vmcsinfo",
    ):
        assert any(fnmatch.fnmatch(path, p) for p in spec), path


def test_check_and_record_need_the_paths(tree: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """No built-in list to drift from the roles' own: deploy.yml passes them."""
    for state in ("check", "record"):
        a = args(tree, state=state)
        del a["paths"]
        out = run_main(a, capsys)
        assert out["failed"] is True and "paths" in out["msg"], out


@pytest.mark.parametrize("kind", ["symlink", "fifo", "directory", "oversized", "not json"])
def test_a_hostile_record_is_not_followed_and_only_makes_a_full_run(
    tree: Path, capsys: pytest.CaptureFixture[str], kind: str
) -> None:
    """The record is read as every root-run reader reads host files: a link to
    a root-only file is not followed (its bytes never reach the reasons), a FIFO
    never blocks, a huge file is refused. The run is a full one, and recording
    replaces the bad record (a link itself, not what it points to)."""
    record = tree / "state" / "deploy-state.json"
    record.parent.mkdir(parents=True, exist_ok=True)
    secret = tree / "secret"
    secret.write_text('{"fingerprint": "f1", "secret": "root-only bytes"}\n')
    if kind == "symlink":
        record.symlink_to(secret)
    elif kind == "fifo":
        os.mkfifo(record)
    elif kind == "directory":
        record.mkdir()
    elif kind == "oversized":
        with record.open("wb") as f:
            f.truncate(dr.RECORD_LIMIT + 1)
    else:
        record.write_text("{not json\n")
    out = run_main(args(tree), capsys)
    assert out["converged"] is False
    assert "it will be rewritten" in out["reasons"][0], out["reasons"]
    assert "root-only bytes" not in json.dumps(out)
    if kind != "directory":
        rec = run_main(args(tree, state="record"), capsys)
        assert rec["changed"] is True, rec
        assert record.is_file() and not record.is_symlink()
        assert secret.read_text().startswith('{"fingerprint": "f1", "secret"')
        assert run_main(args(tree), capsys)["converged"] is True
