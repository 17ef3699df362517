"""Tests of the vmcsinfo_snapshot module (plugins/modules/vmcsinfo_snapshot.py) on a fake host."""

from __future__ import annotations

import errno
import json
import os
import stat
import sys
from pathlib import Path

import pytest
from ansible.module_utils.testing import patch_module_args
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from fakehost import BOCHS, BOOT, FakeHost, cpuinfo, point_snapshot_module_at

from ansible_collections.fujitsu.vmcsinfo.plugins.module_utils import hoststate
from ansible_collections.fujitsu.vmcsinfo.plugins.module_utils.facts import gather
from ansible_collections.fujitsu.vmcsinfo.plugins.module_utils.vmcsinfo import parse
from ansible_collections.fujitsu.vmcsinfo.plugins.modules import vmcsinfo_snapshot

SOURCE = "bochs-2.7 probe"
# the same layout from another CPU model (Haswell-E 306f2), as a probe on such a host finds it
OTHER_CPU = BOCHS.replace("CPU_SIGNATURE=306c3", "CPU_SIGNATURE=306f2")
# another layout: one field moved
MOVED = BOCHS.replace("FIELD(VIRTUAL_PROCESSOR_ID)=10\n", "FIELD(VIRTUAL_PROCESSOR_ID)=18\n")

# A QEMU TCG guest: an AMD CPU model without VMX.
AMD_TCG = cpuinfo(
    vendor="AuthenticAMD",
    family=26,
    model=2,
    stepping=1,
    microcode="0xb002110",
    flags="fpu vme de pse tsc msr pae svm hypervisor",
)
# The CPU the Bochs probe ran on (i7-4770, 306c3, microcode 0), with VMX.
HASWELL = cpuinfo(
    vendor="GenuineIntel", family=6, model=60, stepping=3, microcode="0x0", flags="fpu msr vmx"
)


@pytest.fixture
def host(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> FakeHost:
    """A fake host (AMD, no VMX, no state directory yet) the module reads /proc, /sys and
    /dev of."""
    h = FakeHost(tmp_path)
    h.set_boot_id(BOOT)
    h.set_release(os.uname().release, installed=False)
    h.set_cpu(AMD_TCG)
    point_snapshot_module_at(h, monkeypatch)
    return h


def run(host: FakeHost, capsys: pytest.CaptureFixture, **args) -> dict:
    params = {"dir": str(host.dir), **args}
    with patch_module_args(params), pytest.raises(SystemExit):
        vmcsinfo_snapshot.main()
    return json.loads(capsys.readouterr().out)


def install(host: FakeHost, capsys: pytest.CaptureFixture, content: str = BOCHS, **args) -> dict:
    return run(host, capsys, content=content, source=args.pop("source", SOURCE), **args)


PROBE_ORIGIN = (
    f"ORIGIN=probe\nKERNEL=6.1.0-56-amd64\nBOOT_ID={BOOT}\nSAVED_AT=2025-01-31T12:00:00Z\n"
)


# --- present -------------------------------------------------------------------------------------


def test_install_on_a_host_without_vmx(host: FakeHost, capsys: pytest.CaptureFixture) -> None:
    result = install(host, capsys)
    assert result["changed"] is True and result["installed"] is True
    assert result["own_probe"] is False
    assert host.snap.read_text() == BOCHS
    for path in (host.snap, host.origin):
        assert stat.S_IMODE(path.stat().st_mode) == 0o644
    assert stat.S_IMODE(host.dir.stat().st_mode) == 0o755
    kv = host.origin_kv()
    assert list(kv) == ["ORIGIN", "SOURCE", "KERNEL", "BOOT_ID", "SAVED_AT"]
    assert kv["ORIGIN"] == "supplied" and kv["SOURCE"] == SOURCE
    assert kv["KERNEL"] == os.uname().release and kv["BOOT_ID"] == BOOT
    assert len(kv["SAVED_AT"]) == 20 and kv["SAVED_AT"].endswith("Z")
    assert sorted(os.listdir(host.dir)) == ["vmcsinfo", "vmcsinfo.origin"]  # no temporary left
    info = parse(BOCHS)
    assert result["supplied"] == {
        "cpu_vendor": "GenuineIntel",
        "cpu_signature": 0x306C3,
        "microcode": 0,
        "revision_id": 0x2B,
        "region_size": 0x1000,
        "field_count": 0x93,
        "digest": info.digest(),
    }
    assert result["host_cpu"] == {
        "vendor": "AuthenticAMD",
        "signature": 0xB00F21,
        "microcode": 0xB002110,
        "vmx": False,
        "revision_id": None,
    }
    # Not refused on a host without VMX, but the differences are reported.
    assert "CPU_VENDOR GenuineIntel in the supplied VMCSINFO differs" in result["cpu_mismatch"]
    assert "CPU_SIGNATURE 306c3" in result["cpu_mismatch"]
    assert result["msg"].startswith(f"installed the VMCSINFO supplied from {SOURCE} in {host.snap}")
    assert "no Intel VMX to check it against" in result["msg"]
    assert result["snapshot"] == {
        "path": str(host.snap),
        "origin_path": str(host.origin),
        "exists": True,
        "origin": "supplied",
        "source": SOURCE,
        "db_key": None,
        "digest": None,
        "served_for": None,
    }


def test_rerun_is_idempotent(host: FakeHost, capsys: pytest.CaptureFixture) -> None:
    install(host, capsys)
    before = host.files()
    mtimes = [p.stat().st_mtime_ns for p in (host.snap, host.origin)]
    # the same text without its final newline (as lookup('file') gives it) is the same text
    result = install(host, capsys, content=BOCHS.rstrip("\n"), _ansible_diff=True)
    assert result["changed"] is False and result["installed"] is True
    assert "diff" not in result
    assert (
        result["msg"] == f"the VMCSINFO supplied from {SOURCE} is already installed in {host.snap}"
    )
    assert host.files() == before  # SAVED_AT not rewritten
    assert [p.stat().st_mtime_ns for p in (host.snap, host.origin)] == mtimes
    assert install(host, capsys, content=BOCHS.replace("\n", "\r\n"))["changed"] is False


def test_different_content_or_source_changes(host: FakeHost, capsys: pytest.CaptureFixture) -> None:
    install(host, capsys)
    result = install(host, capsys, content=MOVED, _ansible_diff=True)
    assert result["changed"] is True and host.snap.read_text() == MOVED
    text_diff, origin_diff = result["diff"]
    assert text_diff["before"] == BOCHS and text_diff["after"] == MOVED
    assert text_diff["before_header"] == str(host.snap)
    assert origin_diff["after"].startswith(f"ORIGIN=supplied\nSOURCE={SOURCE}\n")
    result = install(host, capsys, content=MOVED, source="fleetdb")
    assert result["changed"] is True and host.origin_kv()["SOURCE"] == "fleetdb"
    assert result["snapshot"]["source"] == "fleetdb"
    assert install(host, capsys, content=MOVED, source=" fleetdb ")["changed"] is False


def test_wrong_modes_are_fixed(host: FakeHost, capsys: pytest.CaptureFixture) -> None:
    install(host, capsys)
    saved = host.origin_kv()["SAVED_AT"]
    host.snap.chmod(0o600)
    result = install(host, capsys)
    assert result["changed"] is True and "mode 0644" in result["msg"]
    assert stat.S_IMODE(host.snap.stat().st_mode) == 0o644
    assert host.origin_kv()["SAVED_AT"] == saved


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (BOCHS.replace("VMX_MISC=200401e0", "VMX_MISC=0x200401E0"), "line 5: VMX_MISC must be"),
        (BOCHS.split("\n", 1)[1], "line 1: the first line must be VMCSINFO_FORMAT=1"),
        ("VMCSINFO_FORMAT=2\n" + BOCHS.split("\n", 1)[1], "unsupported VMCSINFO_FORMAT '2'"),
        (BOCHS.replace("FIELD_COUNT=93", "FIELD_COUNT=92"), "FIELD_COUNT says 0x92"),
        ("not VMCSINFO at all", "line 1: expected KEY=VALUE"),
        ("\n\n", "is empty"),
    ],
    ids=["bad-hex", "no-header", "format-2", "field-count", "garbage", "empty"],
)
def test_bad_text_fails_and_writes_nothing(
    host: FakeHost, capsys: pytest.CaptureFixture, content: str, expected: str
) -> None:
    result = install(host, capsys, content=content)
    assert result["failed"] is True and result["installed"] is False
    assert expected in result["msg"], result["msg"]
    assert f"the VMCSINFO supplied from {SOURCE}" in result["msg"]
    assert "Nothing was written" in result["msg"]
    assert not host.dir.exists()
    # ... and an installed snapshot stays as it was
    install(host, capsys)
    before = host.files()
    assert install(host, capsys, content=content, source="fleetdb")["failed"] is True
    assert host.files() == before


def test_invalid_text_message_says_what_to_do(
    host: FakeHost, capsys: pytest.CaptureFixture
) -> None:
    msg = install(host, capsys, content=BOCHS.split("\n", 1)[1])["msg"]
    assert (
        "Give the text exactly as the vmcsinfo module" in msg
        and "first line VMCSINFO_FORMAT=1" in msg
    )


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        ({"content": BOCHS}, "state is present but all of the following are missing: source"),
        ({"source": SOURCE}, "state is present but all of the following are missing: content"),
        ({"content": BOCHS, "source": "  "}, "source is empty: say where the VMCSINFO comes from"),
        ({"content": BOCHS, "source": "a\nb"}, "must be one line of printable text"),
        ({"content": BOCHS, "source": "x" * 201}, "at most 200 are allowed"),
    ],
    ids=["no-source", "no-content", "blank-source", "two-line-source", "long-source"],
)
def test_bad_arguments(
    host: FakeHost, capsys: pytest.CaptureFixture, args: dict, expected: str
) -> None:
    result = run(host, capsys, **args)
    assert result["failed"] is True and expected in result["msg"], result["msg"]
    assert not host.dir.exists()


def test_dir_that_is_a_file(host: FakeHost, capsys: pytest.CaptureFixture) -> None:
    host.dir.parent.mkdir(parents=True)
    host.dir.write_text("")
    result = install(host, capsys)
    assert result["failed"] is True and "is not a directory" in result["msg"]


# --- a probe always wins -------------------------------------------------------------------------


def test_probe_snapshot_of_this_cpu_is_not_overwritten(
    host: FakeHost, capsys: pytest.CaptureFixture
) -> None:
    host.set_cpu(HASWELL)
    host.put_snapshot(BOCHS, PROBE_ORIGIN)
    before = host.files()
    result = install(host, capsys, content=MOVED, _ansible_diff=True)
    assert result["changed"] is False
    assert result["own_probe"] is True and result["installed"] is False
    assert "diff" not in result
    assert result["msg"].startswith(f"the VMCSINFO supplied from {SOURCE} was not installed: ")
    assert "is this host's own probe (ORIGIN=probe, CPU GenuineIntel 306c3" in result["msg"]
    assert "a probe always wins" in result["msg"]
    assert result["snapshot"]["origin"] == "probe" and result["snapshot"]["source"] is None
    assert result["supplied"]["digest"] == parse(MOVED).digest()
    assert host.files() == before
    # another microcode is still this host's CPU
    host.set_cpu(HASWELL.replace("0x0", "0x28"))
    assert install(host, capsys, content=MOVED)["own_probe"] is True
    assert host.files() == before


def test_live_probe_wins_without_a_snapshot(host: FakeHost, capsys: pytest.CaptureFixture) -> None:
    host.set_cpu(HASWELL)
    host.sysfs.parent.mkdir(parents=True)
    host.sysfs.write_text(BOCHS)
    host.sysfs.chmod(0o400)
    result = install(host, capsys)
    assert result["changed"] is False and result["own_probe"] is True
    assert f"the vmcsinfo module has probed this host ({host.sysfs} exists)" in result["msg"]
    assert result["snapshot"]["exists"] is False
    assert not host.dir.exists()


def test_probe_snapshot_of_another_cpu_is_replaced(
    host: FakeHost, capsys: pytest.CaptureFixture
) -> None:
    host.put_snapshot(OTHER_CPU, PROBE_ORIGIN)  # on an AMD host
    result = install(host, capsys)
    assert result["changed"] is True and result["own_probe"] is False
    assert "replacing a probe snapshot of another CPU" in result["msg"]
    assert host.snap.read_text() == BOCHS and host.origin_kv()["ORIGIN"] == "supplied"


@pytest.mark.parametrize(
    ("snapshot", "origin", "replaced"),
    [
        ("garbage\n", PROBE_ORIGIN, "replacing a probe snapshot"),
        (BOCHS, None, "replacing a snapshot of unknown origin"),
    ],
    ids=["broken-probe", "no-origin"],
)
def test_other_snapshots_are_replaced(
    host: FakeHost, capsys: pytest.CaptureFixture, snapshot: str, origin: str | None, replaced: str
) -> None:
    host.set_cpu(HASWELL)
    host.put_snapshot(snapshot, origin)
    result = install(host, capsys)
    assert result["changed"] is True and replaced in result["msg"]
    assert host.origin_kv()["ORIGIN"] == "supplied"


def test_supplied_snapshot_is_replaced_by_another_supplied(
    host: FakeHost, capsys: pytest.CaptureFixture
) -> None:
    host.set_cpu(HASWELL)
    install(host, capsys, content=MOVED, source="fleetdb")
    result = install(host, capsys)
    assert result["changed"] is True and "replacing" not in result["msg"]
    assert host.snap.read_text() == BOCHS


# --- checked against a host with VMX -------------------------------------------------------------


def test_vmx_host_of_the_same_cpu(host: FakeHost, capsys: pytest.CaptureFixture) -> None:
    host.set_cpu(HASWELL.replace("0x0", "0x28"))
    host.set_msr_revision(0x2B)
    result = install(host, capsys)
    assert result["changed"] is True
    assert result["host_cpu"]["vmx"] is True and result["host_cpu"]["revision_id"] == 0x2B
    # microcode is reported, not refused, and the msg has no "no VMX" note
    assert result["cpu_mismatch"] == (
        "MICROCODE 0x0 in the supplied VMCSINFO differs from the running microcode 0x28"
    )
    assert result["msg"] == f"installed the VMCSINFO supplied from {SOURCE} in {host.snap}"


@pytest.mark.parametrize(
    ("cpu", "revision", "expected"),
    [
        (HASWELL.replace("model\t\t: 60", "model\t\t: 63"), None, "CPU_SIGNATURE 306c3 in the"),
        (HASWELL.replace("GenuineIntel", "CentaurHauls"), None, "CPU_VENDOR GenuineIntel in the"),
        (HASWELL, 0x4, "REVISION_ID 2b in the supplied VMCSINFO differs from this CPU's VMCS"),
    ],
    ids=["signature", "vendor", "revision-id"],
)
def test_vmx_host_of_another_cpu_is_refused(
    host: FakeHost, capsys: pytest.CaptureFixture, cpu: str, revision: int | None, expected: str
) -> None:
    host.set_cpu(cpu)
    if revision is not None:
        host.set_msr_revision(revision)
    result = install(host, capsys)
    assert result["failed"] is True and expected in result["msg"], result["msg"]
    assert "Nothing was written" in result["msg"] and "validate_cpu=false" in result["msg"]
    assert not host.dir.exists()
    result = install(host, capsys, validate_cpu=False)
    assert result["changed"] is True and expected in result["cpu_mismatch"]
    assert host.snap.read_text() == BOCHS


def test_unreadable_msr_skips_the_revision_check(
    host: FakeHost, capsys: pytest.CaptureFixture
) -> None:
    host.set_cpu(HASWELL)
    host.msr.parent.mkdir(parents=True)
    host.msr.write_bytes(b"\0" * 16)  # too short: no IA32_VMX_BASIC
    result = install(host, capsys)
    assert result["changed"] is True and result["host_cpu"]["revision_id"] is None


# --- check mode and absent -----------------------------------------------------------------------


def test_check_mode_writes_nothing(host: FakeHost, capsys: pytest.CaptureFixture) -> None:
    result = install(host, capsys, _ansible_check_mode=True, _ansible_diff=True)
    assert result["changed"] is True and result["installed"] is True
    assert result["diff"][0] == {
        "before_header": str(host.snap),
        "after_header": str(host.snap),
        "before": "",
        "after": BOCHS,
    }
    assert result["snapshot"]["origin"] == "supplied"
    assert not host.dir.exists()
    install(host, capsys)
    before = host.files()
    result = install(host, capsys, content=MOVED, _ansible_check_mode=True)
    assert result["changed"] is True and host.files() == before
    assert install(host, capsys, _ansible_check_mode=True)["changed"] is False


def test_absent_removes_a_supplied_snapshot(host: FakeHost, capsys: pytest.CaptureFixture) -> None:
    install(host, capsys)
    (host.dir / "load-result").write_text("RESULT=skipped\n")
    result = run(host, capsys, state="absent", _ansible_check_mode=True, _ansible_diff=True)
    assert result["changed"] is True and host.snap.exists()
    assert result["diff"][0]["before"] == BOCHS and result["diff"][0]["after"] == ""
    result = run(host, capsys, state="absent")
    assert result["changed"] is True
    assert result["msg"] == f"removed the VMCSINFO supplied from {SOURCE} from {host.snap}"
    assert result["snapshot"]["exists"] is False and result["snapshot"]["origin"] is None
    assert sorted(os.listdir(host.dir)) == ["load-result"]
    result = run(host, capsys, state="absent")
    assert result["changed"] is False and "there is no supplied snapshot" in result["msg"]


@pytest.mark.parametrize(("origin", "kind"), [(PROBE_ORIGIN, "ORIGIN=probe"), (None, "unknown")])
def test_absent_leaves_other_snapshots(
    host: FakeHost, capsys: pytest.CaptureFixture, origin: str | None, kind: str
) -> None:
    host.put_snapshot(BOCHS, origin)
    before = host.files()
    result = run(host, capsys, state="absent")
    assert result["changed"] is False and kind in result["msg"] and "left alone" in result["msg"]
    assert host.files() == before


# --- what the facts module makes of it -----------------------------------------------------------


def test_facts_read_the_installed_snapshot(host: FakeHost, capsys: pytest.CaptureFixture) -> None:
    install(host, capsys)
    facts = gather(str(host.root))
    assert facts["source"] == "snapshot" and facts["available"] is True
    assert facts["snapshot"]["origin"] == "supplied" and facts["snapshot"]["source"] == SOURCE
    assert facts["snapshot"]["boot_id"] == BOOT
    assert facts["digest"] == parse(BOCHS).digest()
    assert f"supplied from {SOURCE}" in facts["reason"]
    assert "not probed on this host" in facts["reason"]


# --- failures while writing (issue 11 fault 13) ---------------------------------------------------


def _fail_writes(monkeypatch: pytest.MonkeyPatch, after: int, err: int) -> list[str]:
    """Let `after` file writes succeed, then fail every write with errno err."""
    real = hoststate.write_file
    done: list[str] = []

    def write_file(path, text):
        if len(done) >= after:
            raise OSError(err, os.strerror(err), path)
        done.append(path)
        real(path, text)

    monkeypatch.setattr(hoststate, "write_file", write_file)
    return done


@pytest.mark.parametrize("err", [errno.ENOSPC, errno.EROFS])
def test_a_full_or_read_only_var_fails_cleanly_and_changes_nothing(
    host: FakeHost, capsys: pytest.CaptureFixture, monkeypatch: pytest.MonkeyPatch, err: int
) -> None:
    host.put_snapshot(OTHER_CPU, PROBE_ORIGIN)
    before = host.files()
    _fail_writes(monkeypatch, 0, err)
    result = install(host, capsys)
    assert result["failed"] is True and os.strerror(err) in result["msg"]
    assert "nothing was changed" in result["msg"]
    assert host.files() == before


def test_a_failure_between_the_text_and_its_origin_is_rolled_back(
    host: FakeHost, capsys: pytest.CaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The text written, its origin not: the old pair comes back, never the
    supplied text labelled ORIGIN=probe (this host's own probe)."""
    host.put_snapshot(OTHER_CPU, PROBE_ORIGIN)
    before = host.files()
    _fail_writes(monkeypatch, 1, errno.ENOSPC)
    result = install(host, capsys)
    assert result["failed"] is True
    assert host.files() == before


def test_a_kill_between_the_text_and_its_origin_never_mislabels(
    host: FakeHost, capsys: pytest.CaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A SIGKILL can't roll back: whatever moment it comes, the facts must not
    call a supplied text this host's probe. The old origin goes first."""
    host.put_snapshot(OTHER_CPU, PROBE_ORIGIN)
    real = hoststate.write_file

    def killed_after_the_text(path, text):
        real(path, text)
        if path.endswith("/vmcsinfo"):
            raise KeyboardInterrupt  # the process dies here: no rollback runs

    monkeypatch.setattr(hoststate, "write_file", killed_after_the_text)
    with patch_module_args({"dir": str(host.dir), "content": BOCHS, "source": SOURCE}):
        with pytest.raises(KeyboardInterrupt):
            vmcsinfo_snapshot.main()
    assert host.snap.read_text() == BOCHS
    assert not host.origin.exists() or host.origin_kv().get("ORIGIN") != "probe"


# --- writer and reader agree (issue 11 fault 11) --------------------------------------------------

_LINES = BOCHS.splitlines(keepends=True)


@st.composite
def _variants(draw) -> tuple[str, str]:
    """The Bochs text as an operator might paste it, and a source label."""
    lines = list(_LINES)
    for _edit in range(draw(st.integers(0, 3))):
        i = draw(st.integers(0, len(lines) - 1))
        kind = draw(st.sampled_from(["crlf", "lone-cr", "non-ascii", "trailing-blank", "tab"]))
        line = lines[i].rstrip("\n")
        if kind == "crlf":
            lines[i] = line + "\r\n"
        elif kind == "lone-cr":
            cut = draw(st.integers(0, len(line)))
            lines[i] = line[:cut] + "\r" + line[cut:] + "\n"
        elif kind == "non-ascii":
            lines[i] = line + draw(st.sampled_from(["é", "\u00a0", "\u2028", "µ"])) + "\n"
        elif kind == "trailing-blank":
            lines[i] = line + " \n"
        else:
            lines[i] = line.replace("=", "=\t", 1) + "\n"
    text = "".join(lines)
    if draw(st.booleans()):
        text = text.rstrip("\n")
    source = draw(st.text(min_size=0, max_size=40))
    return text, source


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(_variants())
# The values the parser takes as free text (the vendor string, extension keys):
@example((BOCHS.replace("CPU_VENDOR=GenuineIntel", "CPU_VENDOR=GenuineIntel\u00e9"), SOURCE))
@example((BOCHS.replace("CPU_VENDOR=GenuineIntel", "CPU_VENDOR=Genuine\rIntel"), SOURCE))
@example((BOCHS + "X_NOTE=caf\u00e9\n", SOURCE))
@example((BOCHS.replace("\n", "\r\n"), SOURCE))
@example((BOCHS.rstrip("\n") + "\n\n\n", "  lab probe  "))
# A label in quotes: written so that the tolerant KEY=value reader gives it back as it was.
@example((BOCHS, "'lab probe'"))
@example((BOCHS, '"x" = #y'))
def test_whatever_the_snapshot_writes_the_facts_read_back_equal(
    host: FakeHost, capsys: pytest.CaptureFixture, variant: tuple[str, str]
) -> None:
    text, source = variant
    for p in (host.snap, host.origin):
        p.unlink(missing_ok=True)
    result = install(host, capsys, content=text, source=source)
    if result.get("failed"):
        assert "Nothing was written" in result["msg"], result
        assert not host.snap.exists() and not host.origin.exists()
        return
    facts = gather(str(host.root))
    assert facts["source"] == "snapshot" and facts["available"] is True, facts["reason"]
    assert facts["digest"] == parse(host.snap.read_text()).digest()
    assert facts["snapshot"]["source"] == source.strip()
    assert facts["snapshot"]["origin"] == "supplied"
    again = install(host, capsys, content=text, source=source)
    assert again["changed"] is False, again["msg"]


# --- a text served from the fleet database (issue 12) ---------------------------------------------

DB_KEY = "GenuineIntel/306c3/0/2b/1000"


def test_database_origin_records_key_and_digest(host: FakeHost, capsys) -> None:
    digest = parse(BOCHS).digest()
    args = {"content": BOCHS, "source": "fleet database (exact)", "origin": "database"}
    result = run(host, capsys, **args, db_key=DB_KEY, digest=digest)
    assert result["changed"] and result["snapshot"]["origin"] == "database"
    assert result["snapshot"]["db_key"] == DB_KEY and result["snapshot"]["digest"] == digest
    kv = host.origin_kv()
    assert list(kv) == ["ORIGIN", "SOURCE", "DB_KEY", "DIGEST", "KERNEL", "BOOT_ID", "SAVED_AT"]
    assert kv["ORIGIN"] == "database" and kv["DB_KEY"] == DB_KEY and kv["DIGEST"] == digest
    facts = gather(str(host.root))
    assert facts["source"] == "database" and facts["digest"] == digest
    assert facts["snapshot"]["db_key"] == DB_KEY
    # again: nothing changes; another key rewrites the sidecar
    assert not run(host, capsys, **args, db_key=DB_KEY, digest=digest)["changed"]
    assert run(host, capsys, **args, db_key=DB_KEY.replace("/0/", "/28/"), digest=digest)["changed"]
    # a database snapshot goes with state=absent, as a supplied one does
    gone = run(host, capsys, state="absent")
    assert gone["changed"] and "served from the fleet database" in gone["msg"]
    assert not host.snap.exists()


def test_database_origin_needs_key_and_digest(host: FakeHost, capsys) -> None:
    result = run(host, capsys, content=BOCHS, source="db", origin="database")
    assert result["failed"] and "db_key, digest" in result["msg"]
    assert not host.dir.exists() or not host.snap.exists()


def test_database_digest_mismatch_writes_nothing(host: FakeHost, capsys) -> None:
    result = run(
        host,
        capsys,
        content=MOVED,
        source="db",
        origin="database",
        db_key=DB_KEY,
        digest=parse(BOCHS).digest(),
    )
    assert result["failed"] and "changed on its way from the database" in result["msg"]
    assert not host.snap.exists()


def test_root_takes_dir_under_it(tmp_path: Path, capsys) -> None:
    h = FakeHost(tmp_path / "other")
    h.set_cpu(HASWELL)
    params = {"root": str(h.root), "dir": "/var/lib/vmcsinfo", "content": BOCHS, "source": "x"}
    with patch_module_args(params), pytest.raises(SystemExit):
        vmcsinfo_snapshot.main()
    result = json.loads(capsys.readouterr().out)
    assert result["changed"] and h.snap.read_text() == BOCHS
    assert result["snapshot"]["path"] == str(h.snap)
