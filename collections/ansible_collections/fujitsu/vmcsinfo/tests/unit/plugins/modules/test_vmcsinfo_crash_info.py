"""vmcsinfo_crash_info: a host's crash dumps, each read as vmcsinfo-crash does,
through the library (crash.list_dumps, crash_dirs) and end to end through
`ansible localhost -m fujitsu.vmcsinfo.vmcsinfo_crash_info`."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "module_utils"))
sys.path.insert(0, str(Path(__file__).resolve().parent))
import ansiblecli
import dumpgen

from ansible_collections.fujitsu.vmcsinfo.plugins.module_utils import crash


def crash_tree(tmp_path: Path) -> Path:
    """/var/crash with a Debian dump (note inside), a RHEL-style one with only the
    sidecar, a directory without a dump, a broken dump and a symlinked one."""
    root = tmp_path / "crash"
    root.mkdir(parents=True)
    pages, _where = dumpgen.memory()
    d1 = root / "202612010905"
    d1.mkdir()
    dumpgen.write(d1, pages, "kdump-zlib").rename(d1 / "dump.202612010905")
    d2 = root / "202611301200"
    d2.mkdir()
    bare, _where = dumpgen.memory(with_note=False)
    dumpgen.write_elf(str(d2 / "vmcore"), bare)
    (d2 / "vmcsinfo").write_text(dumpgen.BOCHS_TEXT)
    (root / "202611290000").mkdir()  # kdump's scratch, no dump
    d4 = root / "202611280000"
    d4.mkdir()
    (d4 / "dump.202611280000").write_bytes(b"KDUMP   " + b"\0" * 100)
    d5 = root / "202612311200"
    d5.mkdir()
    os.symlink(d1 / "dump.202612010905", d5 / "dump.202612311200")
    return root


def test_list_dumps(tmp_path: Path) -> None:
    dumps = crash.list_dumps(str(crash_tree(tmp_path)), limit=10)
    assert [d["stamp"] for d in dumps] == [
        "202612311200",
        "202612010905",
        "202611301200",
        "202611280000",
    ]
    link, newest, older, broken = dumps
    assert "not a regular file" in link["error"] or "Too many levels" in link["error"]
    assert newest["vmcsinfo"]["source"] == "note" and newest["vmcs_count"] == 2
    assert newest["kind"] == "kdump" and "zlib" in newest["codecs"]
    g = newest["guests"][0]
    assert g["rip"] == dumpgen.GUEST["GUEST_RIP"] and g["exit_reason"] == "30 IO_INSTRUCTION"
    assert g["mode"] == "protected mode, 32-bit code, CPL 0 (kernel)"
    assert newest["guests"][1]["nested"] is True
    assert older["vmcsinfo"]["source"] == "file" and older["kind"] == "elf"
    assert "corrupt" in broken["error"] or "beyond the end" in broken["error"]
    assert broken["exit_code"] == 2
    assert len(crash.list_dumps(str(crash_tree(tmp_path / "b")), limit=2)) == 2
    assert crash.list_dumps(str(tmp_path / "none")) == []


def test_bad_vmcsinfo_option_fails_once(tmp_path: Path) -> None:
    bad = tmp_path / "bad"
    bad.write_text("VMCSINFO_FORMAT=2\n")
    with pytest.raises(crash.CrashError, match="not a valid VMCSINFO"):
        crash.list_dumps(str(crash_tree(tmp_path)), str(bad))


def test_crash_dirs(tmp_path: Path) -> None:
    assert crash.crash_dirs(str(tmp_path)) == ("/var/crash", "default")
    (tmp_path / "etc").mkdir()
    (tmp_path / "etc/kdump.conf").write_text(
        "# RHEL\ncore_collector makedumpfile -l -d 31\npath /srv/dumps\n"
    )
    assert crash.crash_dirs(str(tmp_path)) == ("/srv/dumps", "/etc/kdump.conf")
    (tmp_path / "etc/default").mkdir()
    (tmp_path / "etc/default/kdump-tools").write_text('USE_KDUMP=1\nKDUMP_COREDIR="/data/crash"\n')
    assert crash.crash_dirs(str(tmp_path)) == ("/data/crash", "/etc/default/kdump-tools")


def test_ansible_adhoc_end_to_end(tmp_path: Path) -> None:
    root = crash_tree(tmp_path)
    proc = ansiblecli.run(
        tmp_path,
        "ansible",
        "localhost",
        "--check",
        "-m",
        "fujitsu.vmcsinfo.vmcsinfo_crash_info",
        "-a",
        f"path={root} limit=2",
    )
    result = ansiblecli.adhoc_result(proc)
    assert result["changed"] is False and result["crash_dir_from"] == "option"
    assert [d["stamp"] for d in result["dumps"]] == ["202612311200", "202612010905"]
    assert result["dumps"][1]["guests"][0]["rip"] == 0x1004


def test_crash_report_playbook(tmp_path: Path) -> None:
    """ansible-playbook fujitsu.vmcsinfo.crash_report writes HOST.json and HOST.txt."""
    root = crash_tree(tmp_path)
    out = tmp_path / "reports"
    proc = ansiblecli.run(
        tmp_path,
        "ansible-playbook",
        "fujitsu.vmcsinfo.crash_report",
        "-i",
        "localhost,",
        "-c",
        "local",
        "-e",
        "vmcsinfo_crash_hosts=localhost",
        "-e",
        "ansible_become=false",
        "-e",
        f"vmcsinfo_crash_path={root}",
        "-e",
        f"vmcsinfo_crash_report_dir={out}",
        "-e",
        "vmcsinfo_crash_limit=3",
        "-e",
        f"ansible_python_interpreter={sys.executable}",
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    report = json.loads((out / "localhost.json").read_text())
    assert [d["stamp"] for d in report["dumps"]] == ["202612311200", "202612010905", "202611301200"]
    text = (out / "localhost.txt").read_text()
    assert text.startswith(f"localhost: 3 crash dump(s) in {root}")
    assert "2 guest VMCS(es): 1 VM(s), 1 vCPU(s); 2 candidate(s) rejected" in text
    assert "rip=0x1004" in text and "last exit 30 IO_INSTRUCTION" in text
    assert "vmcs12 0x128000: rip=0x7c00" in text
    assert "unreadable:" in text
