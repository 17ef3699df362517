"""hoststate: the state files' names, the origin sidecar, the clock, the CPU comparison and
the one atomic writer of the snapshot pair."""

from __future__ import annotations

import errno
import os
import re
import stat
import sys
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from fakehost import BOCHS, BOOT, FakeHost

from ansible_collections.fujitsu.vmcsinfo.plugins.module_utils import hoststate
from ansible_collections.fujitsu.vmcsinfo.plugins.module_utils.hoststate import (
    Origin,
    StateWriteError,
    cpu_differences,
    same_cpu,
    staleness,
    write_pair,
)
from ansible_collections.fujitsu.vmcsinfo.plugins.module_utils.vmcsinfo import parse

INFO = parse(BOCHS)  # GenuineIntel 306c3, microcode 0, revision id 2b
HASWELL = {"vendor": "GenuineIntel", "signature": 0x306C3, "microcode": 0, "revision_id": 0x2B}


# --- the origin sidecar -------------------------------------------------------------------------


def test_origin_format_is_the_persist_helpers_lines() -> None:
    probe = Origin(
        origin="probe", kernel="6.1.0-56-amd64", boot_id=BOOT, saved_at="2025-01-31T12:00:00Z"
    )
    assert probe.format() == (
        f"ORIGIN=probe\nKERNEL=6.1.0-56-amd64\nBOOT_ID={BOOT}\nSAVED_AT=2025-01-31T12:00:00Z\n"
    )
    supplied = Origin(origin="supplied", source="fleetdb", kernel="k", boot_id="", saved_at="t")
    assert supplied.format() == "ORIGIN=supplied\nSOURCE=fleetdb\nKERNEL=k\nBOOT_ID=\nSAVED_AT=t\n"
    assert supplied.boot_id is None  # empty reads as None


def test_origin_parse_is_tolerant() -> None:
    text = "# c\nORIGIN=probe\nKERNEL='6.1'\nBOOT_ID=\"b\"\njunk\nUNKNOWN=1\nSOURCE=\n\n"
    assert Origin.parse(text) == Origin(origin="probe", kernel="6.1", boot_id="b")


def test_origin_supplied_reads_the_boot_id_under_root(tmp_path: Path) -> None:
    host = FakeHost(tmp_path)
    host.set_boot_id(BOOT)
    o = Origin.supplied("fleetdb", str(host.root))
    assert (o.origin, o.source, o.boot_id, o.kernel) == (
        "supplied",
        "fleetdb",
        BOOT,
        os.uname().release,
    )
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", o.saved_at or "")
    assert Origin.supplied("x", str(tmp_path / "nowhere")).boot_id is None


@given(st.text(st.characters(blacklist_categories=("Cs",)), max_size=40))
def test_origin_values_read_back_equal(value: str) -> None:
    """Whatever one-line value is written (quotes, blanks, '=', '#'), it reads back equal."""
    if (
        "\n" in value
        or "\r" in value
        or any(c in value for c in "\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029")
    ):
        return  # not one line for splitlines()
    o = Origin(origin="supplied", source=value, kernel="k", boot_id="b", saved_at="t")
    assert Origin.parse(o.format()) == o


def test_origin_value_must_be_one_line() -> None:
    with pytest.raises(ValueError, match="one line"):
        Origin(origin="supplied", source="a\nb").format()


def test_origin_read_of_a_missing_file(tmp_path: Path) -> None:
    assert Origin.read(str(tmp_path / "vmcsinfo.origin")) is None


# --- the clock ----------------------------------------------------------------------------------


def test_now_utc() -> None:
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", hoststate.now_utc())


# --- the CPU comparison -------------------------------------------------------------------------


def test_same_cpu_no_differences() -> None:
    assert cpu_differences(INFO, HASWELL) == ([], [])
    assert staleness(INFO, HASWELL) == ""
    assert staleness(None, HASWELL) == ""


def test_the_messages_of_the_facts_and_of_the_snapshot_module() -> None:
    other = {"vendor": "AuthenticAMD", "signature": 0xB00F21, "microcode": 0x2A, "revision_id": 4}
    model, report = cpu_differences(INFO, other, "the supplied VMCSINFO")
    assert model == [
        "CPU_VENDOR GenuineIntel in the supplied VMCSINFO differs from this CPU's AuthenticAMD",
        "CPU_SIGNATURE 306c3 in the supplied VMCSINFO differs from this CPU's b00f21",
        "REVISION_ID 2b in the supplied VMCSINFO differs from this CPU's VMCS revision id 4 "
        "(IA32_VMX_BASIC)",
    ]
    assert report == [
        "MICROCODE 0x0 in the supplied VMCSINFO differs from the running microcode 0x2a"
    ]
    # the facts' cpu has no revision_id: not compared
    facts_cpu = {k: v for k, v in other.items() if k != "revision_id"}
    assert staleness(INFO, facts_cpu) == (
        "CPU_VENDOR GenuineIntel in the VMCSINFO differs from this CPU's AuthenticAMD; "
        "CPU_SIGNATURE 306c3 in the VMCSINFO differs from this CPU's b00f21; "
        "MICROCODE 0x0 in the VMCSINFO differs from the running microcode 0x2a"
    )


def test_unknown_host_values_are_not_compared() -> None:
    unknown = {"vendor": None, "signature": None, "microcode": None, "revision_id": None}
    assert cpu_differences(INFO, unknown) == ([], [])
    assert same_cpu(INFO, unknown)


def test_same_cpu_is_vendor_and_signature_only() -> None:
    assert same_cpu(INFO, {**HASWELL, "microcode": 0x28, "revision_id": 4})
    assert not same_cpu(INFO, {**HASWELL, "signature": 0x306F2})
    assert not same_cpu(INFO, {**HASWELL, "vendor": "CentaurHauls"})


# --- the atomic writer --------------------------------------------------------------------------


def _pair(tmp_path: Path) -> tuple[Path, Path]:
    d = tmp_path / "state"
    return d / hoststate.SNAPSHOT, d / hoststate.ORIGIN


SUPPLIED = Origin(origin="supplied", source="fleetdb", kernel="k", boot_id="b", saved_at="t")


def test_write_pair_creates_the_directory_and_the_files(tmp_path: Path) -> None:
    snap, origin = _pair(tmp_path)
    write_pair(str(snap), BOCHS, str(origin), SUPPLIED)
    assert snap.read_text() == BOCHS and Origin.read(str(origin)) == SUPPLIED
    assert sorted(os.listdir(snap.parent)) == ["vmcsinfo", "vmcsinfo.origin"]
    for p in (snap, origin):
        assert stat.S_IMODE(p.stat().st_mode) == 0o644
    assert stat.S_IMODE(snap.parent.stat().st_mode) == 0o755


def test_write_pair_replaces_a_link_never_writes_through_it(tmp_path: Path) -> None:
    snap, origin = _pair(tmp_path)
    snap.parent.mkdir()
    target = tmp_path / "target"
    target.write_text("keep\n")
    snap.symlink_to(target)
    origin.symlink_to(target)
    write_pair(str(snap), BOCHS, str(origin), SUPPLIED)
    assert not snap.is_symlink() and snap.read_text() == BOCHS
    assert not origin.is_symlink() and target.read_text() == "keep\n"


@pytest.mark.parametrize("which", [hoststate.SNAPSHOT, hoststate.ORIGIN])
def test_write_pair_refuses_a_directory_in_the_way(tmp_path: Path, which: str) -> None:
    snap, origin = _pair(tmp_path)
    snap.parent.mkdir()
    snap.write_text("old\n")
    origin.write_text("ORIGIN=probe\n")
    (snap.parent / which).unlink()
    (snap.parent / which).mkdir()
    before = sorted(os.listdir(snap.parent))
    with pytest.raises(StateWriteError, match=r"a directory is in the way.*; nothing was changed"):
        write_pair(str(snap), BOCHS, str(origin), SUPPLIED)
    assert sorted(os.listdir(snap.parent)) == before
    assert (snap.parent / which).is_dir()


def test_a_failed_write_puts_back_an_old_snapshot_it_could_not_read(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An old snapshot the module can't read (a FIFO here) is kept aside and put back too,
    not removed as if it had not been there."""
    snap, origin = _pair(tmp_path)
    snap.parent.mkdir()
    os.mkfifo(snap)
    origin.write_text("ORIGIN=probe\n")
    real = hoststate.write_file
    calls: list[str] = []

    def second_write_fails(path: str, text: str) -> None:
        calls.append(path)
        if len(calls) == 2:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), path)
        real(path, text)

    monkeypatch.setattr(hoststate, "write_file", second_write_fails)
    with pytest.raises(StateWriteError, match=r"No space left on device.*; nothing was changed"):
        write_pair(str(snap), BOCHS, str(origin), SUPPLIED)
    assert stat.S_ISFIFO(snap.lstat().st_mode)
    assert origin.read_text() == "ORIGIN=probe\n"
    assert sorted(os.listdir(snap.parent)) == ["vmcsinfo", "vmcsinfo.origin"]


def test_a_failed_first_write_removes_nothing_that_was_there(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    snap, origin = _pair(tmp_path)

    def full(path: str, text: str) -> None:
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), path)

    monkeypatch.setattr(hoststate, "write_file", full)
    with pytest.raises(StateWriteError, match="nothing was changed"):
        write_pair(str(snap), BOCHS, str(origin), SUPPLIED)
    assert os.listdir(snap.parent) == []


def test_remove_pair(tmp_path: Path) -> None:
    snap, origin = _pair(tmp_path)
    write_pair(str(snap), BOCHS, str(origin), SUPPLIED)
    (snap.parent / hoststate.LOAD_RESULT).write_text("RESULT=loaded\n")
    hoststate.remove_pair(str(snap), str(origin))
    assert os.listdir(snap.parent) == [hoststate.LOAD_RESULT]
    hoststate.remove_pair(str(snap), str(origin))  # nothing to remove: no error
