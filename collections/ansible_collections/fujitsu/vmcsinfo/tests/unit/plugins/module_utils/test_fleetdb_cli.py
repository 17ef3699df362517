"""The installed `.venv/bin/vmcsinfo-db` (DESIGN.md CONTRACT 5), run as a command: its
command line and every exit status of the contract (0, 2, 4, 5), on the real Bochs probe
result and variants of it (header lines changed, two offsets swapped; each one parsed)."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from ansible_collections.fujitsu.vmcsinfo.plugins.module_utils.vmcsinfo import parse

TOP = Path(__file__).resolve().parents[8]
TOOL = TOP / ".venv" / "bin" / "vmcsinfo-db"
FIXTURES = Path(__file__).resolve().parents[2] / "fixtures"
BOCHS_FILE = FIXTURES / "bochs-2.7-corei7_haswell_4770.vmcsinfo"
BOCHS = BOCHS_FILE.read_text()
HASWELL = ["--vendor", "GenuineIntel", "--signature", "306c3"]


def variant(microcode: int, swapped: bool = False, revision: int = 0x2B) -> str:
    text = BOCHS.replace("MICROCODE=0\n", f"MICROCODE={microcode:x}\n")
    text = text.replace("REVISION_ID=2b\n", f"REVISION_ID={revision:x}\n")
    if swapped:
        text = text.replace("FIELD(GUEST_RSP)=e80", "FIELD(GUEST_RSP)=XX")
        text = text.replace("FIELD(GUEST_RIP)=e88", "FIELD(GUEST_RIP)=e80")
        text = text.replace("FIELD(GUEST_RSP)=XX", "FIELD(GUEST_RSP)=e88")
    info = parse(text)
    assert info.microcode == microcode and info.revision_id == revision
    return text


def db(*args: str | Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [str(TOOL), *map(str, args)], capture_output=True, check=False, timeout=120
    )


@pytest.fixture
def files(tmp_path: Path) -> dict[str, Path]:
    out = {}
    for name, text in {
        "mc27": variant(0x27),
        "mc29": variant(0x29),
        "mc28": variant(0x28),
        "mc28b": variant(0x28, swapped=True),
        "mc30": variant(0x30),
        "mc31b": variant(0x31, swapped=True),
        "rev2c": variant(0x28, revision=0x2C),
    }.items():
        path = tmp_path / f"{name}.vmcsinfo"
        path.write_text(text)
        out[name] = path
    return out


def test_installed() -> None:
    assert TOOL.is_file(), f"{TOOL} is missing: make venv (scripts/install-tools.sh) installs it"


def test_add_then_lookup_is_byte_exact(tmp_path: Path) -> None:
    d = tmp_path / "new" / "db"  # add creates DIR (and its parent)
    r = db("--db", d, "add", "--source", "bochs 2.7 haswell", BOCHS_FILE)
    assert r.returncode == 0, r.stderr
    assert b"added" in r.stdout and b"GenuineIntel/306c3/0/2b/1000" in r.stdout
    r = db("--db", d, "add", BOCHS_FILE)
    assert r.returncode == 0 and b"already there" in r.stdout
    r = db("--db", d, "lookup", *HASWELL, "--microcode", "0")
    assert r.returncode == 0, r.stderr
    assert r.stdout == BOCHS_FILE.read_bytes() and r.stderr == b""
    # HEX: uppercase and 0x accepted, normalised
    r = db("--db", d, "lookup", "--vendor", "GenuineIntel", "--signature", "0x306C3",
           "--microcode", "0X0", "--revision", "2B", "--strict")  # fmt: skip
    assert r.returncode == 0 and r.stdout == BOCHS_FILE.read_bytes()
    index = json.loads((d / "index.json").read_text())
    digest = parse(BOCHS).digest()
    first, second = index["keys"]["GenuineIntel/306c3/0/2b/1000"]["digests"][digest]["provenance"]
    assert first["source"] == "bochs 2.7 haswell" and first["kind"] == "import"
    assert second["source"] == str(BOCHS_FILE)  # without --source: the file as named


def test_add_conflict_exits_5_and_is_recorded(tmp_path: Path, files: dict[str, Path]) -> None:
    d = tmp_path / "db"
    assert db("--db", d, "add", files["mc28"]).returncode == 0
    r = db("--db", d, "add", "--source", "host b", files["mc28b"])
    assert r.returncode == 5
    err = r.stderr.decode()
    assert str(files["mc28b"]) in err and "conflict" in err
    assert parse(variant(0x28)).digest() in err and parse(variant(0x28, True)).digest() in err
    assert "host b" in err and str(files["mc28"]) in err  # both provenances
    assert (
        "GenuineIntel/306c3/28/2b/1000" in json.loads((d / "index.json").read_text())["conflicts"]
    )
    r = db("--db", d, "lookup", *HASWELL, "--microcode", "28")
    assert r.returncode == 5 and r.stdout == b"" and b"in conflict" in r.stderr
    r = db("--db", d, "list")
    assert r.returncode == 0 and b"CONFLICT" in r.stdout


def test_add_of_a_rejected_file_writes_nothing(tmp_path: Path, files: dict[str, Path]) -> None:
    bad = tmp_path / "bad.vmcsinfo"
    bad.write_text(BOCHS.replace("REGION_SIZE=1000", "REGION_SIZE=2000"))
    d = tmp_path / "db"
    r = db("--db", d, "add", files["mc27"], bad)
    assert r.returncode == 2
    err = r.stderr.decode()
    assert str(bad) in err and "line 3: REGION_SIZE 0x2000 is outside" in err
    assert not d.exists()
    assert db("--db", d, "add", files["mc27"]).returncode == 0
    before = {p: p.read_bytes() for p in d.rglob("*") if p.is_file()}
    binary = tmp_path / "binary"
    binary.write_bytes(b"\xff\xfe")
    for path in (bad, binary, tmp_path / "missing"):
        r = db("--db", d, "add", files["mc29"], path)
        assert r.returncode == 2 and str(path).encode() in r.stderr, r.stderr
    assert {p: p.read_bytes() for p in d.rglob("*") if p.is_file()} == before


def test_lookup_other_microcode_needs_evidence(tmp_path: Path, files: dict[str, Path]) -> None:
    d = tmp_path / "db"
    assert db("--db", d, "add", files["mc27"]).returncode == 0
    r = db("--db", d, "lookup", *HASWELL, "--microcode", "28")
    assert r.returncode == 4 and r.stdout == b""
    assert b"only one microcode revision" in r.stderr and b"microcode 27" in r.stderr
    assert db("--db", d, "add", files["mc29"]).returncode == 0
    r = db("--db", d, "lookup", *HASWELL, "--microcode", "28")
    assert r.returncode == 0 and r.stdout == files["mc27"].read_bytes()
    assert b"served the layout of microcode 27" in r.stderr
    r = db("--db", d, "lookup", *HASWELL, "--microcode", "28", "--strict")
    assert r.returncode == 4 and r.stdout == b"" and b"--strict" in r.stderr
    assert db("--db", d, "add", files["mc31b"]).returncode == 0  # another layout: no evidence
    r = db("--db", d, "lookup", *HASWELL, "--microcode", "28")
    assert r.returncode == 4 and b"differ" in r.stderr


def test_lookup_unknown_key_exits_4_saying_what_there_is(
    tmp_path: Path, files: dict[str, Path]
) -> None:
    d = tmp_path / "db"
    assert db("--db", d, "add", files["mc27"]).returncode == 0
    r = db("--db", d, "lookup", "--vendor", "GenuineIntel", "--signature", "506e3",
           "--microcode", "28")  # fmt: skip
    assert r.returncode == 4
    assert b"signature 506e3 microcode 28" in r.stderr
    assert b"has nothing for vendor GenuineIntel signature 506e3" in r.stderr
    r = db("--db", d, "lookup", *HASWELL, "--microcode", "28", "--revision", "2c")
    assert r.returncode == 4 and b"microcode 27 revision id 2b" in r.stderr


def test_lookup_without_revision_among_several(tmp_path: Path, files: dict[str, Path]) -> None:
    d = tmp_path / "db"
    assert db("--db", d, "add", files["mc28"], files["rev2c"]).returncode == 0
    r = db("--db", d, "lookup", *HASWELL, "--microcode", "28")
    assert r.returncode == 4 and b"--revision" in r.stderr
    assert b"revision id 2b" in r.stderr and b"revision id 2c" in r.stderr
    r = db("--db", d, "lookup", *HASWELL, "--microcode", "28", "--revision", "2c")
    assert r.returncode == 0 and r.stdout == files["rev2c"].read_bytes()


def test_partial_is_listed_never_served(tmp_path: Path, files: dict[str, Path]) -> None:
    d = tmp_path / "db"
    r = db("--db", d, "add", "--partial", "--source", "volatility3 symbols", files["mc28b"])
    assert r.returncode == 0, r.stderr
    r = db("--db", d, "lookup", *HASWELL, "--microcode", "28")
    assert r.returncode == 4 and b"partial" in r.stderr
    r = db("--db", d, "list")
    assert r.stdout.decode().rstrip("\n").endswith(" partial")
    assert db("--db", d, "add", files["mc28"]).returncode == 0  # no conflict with a partial


def test_list_text_and_json(tmp_path: Path, files: dict[str, Path]) -> None:
    d = tmp_path / "db"
    r = db("--db", d, "add", "--kind", "seed", "--source", "bochs", files["mc27"], files["mc29"])
    assert r.returncode == 0, r.stderr
    r = db("--db", d, "list")
    assert r.returncode == 0
    digest = parse(variant(0x27)).digest()
    assert r.stdout.decode().splitlines() == [
        f"GenuineIntel signature=306c3 microcode={m} revision=2b size=1000 "
        f"digest={digest[:12]} sources=bochs"
        for m in ("27", "29")
    ]
    r = db("--db", d, "list", "--json")
    assert r.returncode == 0
    report = json.loads(r.stdout)
    assert [k["key"] for k in report["keys"]] == [
        "GenuineIntel/306c3/27/2b/1000",
        "GenuineIntel/306c3/29/2b/1000",
    ]
    assert report["keys"][0]["digests"][0]["digest"] == digest
    assert report["keys"][0]["digests"][0]["provenance"][0]["kind"] == "seed"
    (change,) = report["microcode_changes"]
    assert change["layout_changed"] is False and change["to_microcode"] == "29"


def test_bad_usage_and_bad_database_exit_2(tmp_path: Path, files: dict[str, Path]) -> None:
    d = tmp_path / "db"
    r = db("--db", d, "lookup", *HASWELL, "--microcode", "28")
    assert r.returncode == 2 and b"no database directory" in r.stderr
    assert db("--db", d, "list").returncode == 2
    assert db("--db", d, "add", files["mc27"]).returncode == 0
    r = db("--db", d, "lookup", *HASWELL, "--microcode", "zz")
    assert r.returncode == 2 and b"--microcode: 'zz' is not hex" in r.stderr
    assert db("--db", d, "lookup", "--vendor", "GenuineIntel").returncode == 2  # argparse
    assert db("add", files["mc27"]).returncode == 2
    index = d / "index.json"
    index.write_text(index.read_text().replace('"format": 1', '"format": "1"'))
    for args in (("list",), ("lookup", *HASWELL, "--microcode", "27"), ("add", files["mc29"])):
        r = db("--db", d, *args)
        assert r.returncode == 2 and str(index).encode() in r.stderr, (args, r.stderr)
        assert b"format" in r.stderr
    (entry,) = (d / "entries").rglob("*.vmcsinfo")
    index.write_text(index.read_text().replace('"format": "1"', '"format": 1'))
    entry.write_text(variant(0x27).replace("VMX_MISC=200401e0", "VMX_MISC=0"))
    r = db("--db", d, "lookup", *HASWELL, "--microcode", "27")
    assert r.returncode == 2 and str(entry).encode() in r.stderr and r.stdout == b""
