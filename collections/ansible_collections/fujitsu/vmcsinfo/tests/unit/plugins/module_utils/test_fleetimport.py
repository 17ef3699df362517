"""Partial published layouts (fleetimport.py, issue 12): one fixture per format, written in
that format by us (tests/unit/fixtures/partial/, the Bochs 2.7 Haswell probe's offsets,
not the published data), converted to CONTRACT 2 and back through the parser;
`vmcsinfo-db import` (exit codes, nothing written on bad input, never served); the
converted real files in db/partial/; vmcsinfo-crash --db decoding a synthetic dump with
a partial layout when no full one may be served; and a fuzz of every converter (a
FleetDbError or a text the parser takes, never another exception)."""

from __future__ import annotations

import contextlib
import io
import json
import random
import sys
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

sys.path.insert(0, str(Path(__file__).resolve().parent))
import dumpgen

from ansible_collections.fujitsu.vmcsinfo.plugins.module_utils import crash, fleetdb
from ansible_collections.fujitsu.vmcsinfo.plugins.module_utils import (
    fleetimport as fi,
)
from ansible_collections.fujitsu.vmcsinfo.plugins.module_utils.fleetdb import (
    SERVE,
    Db,
    FleetDbError,
    Query,
    serve,
)
from ansible_collections.fujitsu.vmcsinfo.plugins.module_utils.vmcsinfo import parse
from ansible_collections.fujitsu.vmcsinfo.tests.unit.plugins.fakehost import repo_root

REPO = repo_root()
in_repo = pytest.mark.skipif(REPO is None, reason="not run from the repository: no db/partial")
FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "partial"
VOL = FIXTURES / "volatility" / "haswell-architecture.json"
ACT = FIXTURES / "actaeon" / "haswell.py.txt"  # Python 2, as actaeon's files
VRS = FIXTURES / "vmcsreverse" / "i7" / "4770.txt"
FILES = {"volatility": VOL, "actaeon": ACT, "vmcsreverse": VRS}
BOCHS = dumpgen.BOCHS
PARTIAL_DIR = (REPO or Path("/nonexistent")) / "db" / "partial"


def conv(fmt: str) -> fi.Conversion:
    return fi.convert(fmt, FILES[fmt].read_text(), str(FILES[fmt]))


def offsets(info) -> dict[str, object]:
    return {f.name: f.offset if f.offset is not None else f.bits for f in info.fields}


# -- the converters ------------------------------------------------------------------------


def test_volatility_fixture() -> None:
    c = conv("volatility")
    info = parse(c.text)
    assert info == c.info and info.extra == {"PARTIAL": "1"}
    assert info.revision_id == 0x2B and info.region_size == 0x1000
    assert info.vmx_basic == 0x10000000002B and info.vmx_misc == 0 and info.microcode == 0
    assert info.cpu_vendor == "GenuineIntel" and info.cpu_signature == 0x306C3
    names = {f.name for f in info.fields}
    assert names == {
        "VIRTUAL_PROCESSOR_ID", "ENC_200c", "EPT_POINTER", "GUEST_PHYSICAL_ADDRESS",
        "VMCS_LINK_POINTER", "GUEST_PDPTR0", "GUEST_PDPTR1", "GUEST_PDPTR2", "GUEST_PDPTR3",
        "GUEST_CR3", "GUEST_CR4", "GUEST_RIP", "HOST_CR3", "HOST_CR4",
    }  # fmt: skip
    # every field where the Bochs probe has it
    for f in info.fields:
        assert BOCHS.field(f.name).offset == f.offset, f.name
    skipped = dict(c.skipped)
    assert "not a VMCS field name" in skipped["frobnicator"]
    assert skipped["host_rip"] == "its type is 32 bits, HOST_RIP is 64 bits wide"
    # the assumptions are said, in the provenance source too
    assert "CPU signature 306c3 for 'haswell'" in c.source and "microcode unknown" in c.source
    assert c.source.startswith(f"volatility {VOL}: partial published layout")
    # deterministic, and the canonical text (FIELD lines in encoding order)
    assert conv("volatility").text == c.text
    assert c.text.splitlines()[9] == "FIELD_COUNT=e"
    assert c.text.splitlines()[8] == "PARTIAL=1"


def test_actaeon_fixture() -> None:
    c = conv("actaeon")
    info = parse(c.text)
    assert info.revision_id == 0x12 and info.cpu_signature == 0x306C3  # haswell: assumed
    assert any("actaeon gives none for haswell" in a for a in c.assumptions)
    got = offsets(info)
    for name in ("VMCS_LINK_POINTER", "EPT_POINTER", "GUEST_CR3", "GUEST_CR4", "GUEST_RIP",
                 "HOST_CR3", "HOST_CR4", "HOST_RIP", "HOST_CS_SELECTOR",
                 "VIRTUAL_PROCESSOR_ID", "ENC_6402"):  # fmt: skip
        assert got[name] == BOCHS.field(name).offset, name
    # a _HIGH dword that does not follow its field: per-bit positions
    tsc = info.field("TSC_OFFSET")
    assert tsc.bits == tuple(range(64, 96)) + tuple(range(0x3FE * 32, 0x3FE * 32 + 32))
    skipped = dict(c.skipped)
    assert "Python 2 octal literal (0x2c)" in skipped["GUEST_DS_BASE"]
    assert "outside the 0x1000-byte region" in skipped["GUEST_ES_AR_BYTES"]
    assert "shares dword 0x90 with HOST_DS_SELECTOR" in skipped["HOST_ES_SEL"]
    assert "shares dword 0x90 with HOST_ES_SELECTOR" in skipped["HOST_DS_SEL"]
    assert "not a VMCS field name" in skipped["FROBNICATOR"]
    assert "GUEST_CS_AR_BYTES" not in skipped  # a comment
    assert "REVISION_ID" not in skipped and "ABORT_INDICATOR" not in skipped  # the header


def test_actaeon_revision_from_its_db() -> None:
    text = 'vmcs = {\n"GUEST_CR3": 0x86,\n"HOST_CR3": 0x90, }\n'
    c = fi.convert("actaeon", text, "vmcs_layouts/sandy.py")
    assert c.info.revision_id == 0x10 and c.info.cpu_signature == 0x206A7
    assert "revision id from actaeon's vmcs_layouts/db.py" in c.source
    assert not any("revision id" in a and "Volatility" in a for a in c.assumptions)


def test_vmcsreverse_fixture() -> None:
    c = conv("vmcsreverse")
    info = parse(c.text)
    assert info.revision_id == 0x2B and info.cpu_signature == 0x306C3
    assert len(info.fields) == 23
    for f in info.fields:
        assert BOCHS.field(f.name).offset == f.offset, f.name
    skipped = dict(c.skipped)
    assert skipped["0x00000002"].startswith("fault") and skipped["0x00004826"].startswith("failed")
    assert c.name == "i7-4770" and "CPU model i7-4770" in c.source


@pytest.mark.parametrize(
    ("fmt", "text", "path", "message"),
    [
        ("volatility", "{not json", "x/haswell-architecture.json", "not JSON"),
        ("volatility", "[]", "x/haswell-architecture.json", "not an ISF symbol table"),
        ("volatility", '{"user_types": {}}', "x/haswell-architecture.json", "no user type _VMCS"),
        ("volatility", None, "x/pentium-architecture.json", "unknown microarchitecture"),
        ("actaeon", "x = 1\n", "haswell.py", "no 'vmcs = {' dictionary"),
        ("actaeon", 'vmcs = {\n"A": 1,\n', "haswell.py", "is not closed"),
        ("actaeon", 'vmcs = {\n"GUEST_CR3": 1,\n"GUEST_CR3": 2}', "haswell.py", "given twice"),
        ("actaeon", 'vmcs = {\n"GUEST_CR3": 0x86\n"X": 1}', "haswell.py", "line 2: expected"),
        ("actaeon", 'vmcs = {"GUEST_CR3": 0x86}', "atom.py", "unknown microarchitecture"),
        ("actaeon", 'vmcs = {"FOO": 0x86}', "haswell.py", "no field of it can be taken"),
        ("vmcsreverse", "0x0: 00016\n", "i7/4770.txt", "expected 'vmcs_revision_id"),
        ("vmcsreverse", "vmcs_revision_id: 43\nhello\n", "i7/4770.txt", "line 2: expected"),
        ("vmcsreverse", "vmcs_revision_id: 0\n0x0: 16\n", "i7/4770.txt", "revision id 0x0"),
        ("vmcsreverse", "vmcs_revision_id: 43\n0x0: 16\n0x0: 16\n", "i7/4770.txt", "twice"),
        ("vmcsreverse", "vmcs_revision_id: 43\n0x0: 16\n", "i9/1.txt", "unknown CPU model"),
        ("vmcsreverse", "vmcs_revision_id: 43\n0x0: fault\n", "i7/4770.txt", "no field"),
        ("vmcsreverse", "", "i7/4770.txt", "no 'vmcs_revision_id:' line"),
    ],
)
def test_bad_input_names_the_file(fmt: str, text: str | None, path: str, message: str) -> None:
    if text is None:
        text = VOL.read_text()
    with pytest.raises(FleetDbError) as e:
        fi.convert(fmt, text, path)
    assert str(e.value).startswith(f"{path}: ") and message in str(e.value), str(e.value)
    assert "nothing was written" in str(e.value)


def test_overlaps_and_aliases_are_not_taken() -> None:
    text = (
        "vmcs = {\n"
        '"GUEST_CR3": 0x86, "EXCEPTION_BITMAP": 0x87,\n'  # CR3's high dword
        '"VPID": 0x40, "VIRTUAL_PROCESSOR_ID": 0x40,\n'  # two names, one place: fine
        '"VM_EXIT_REASON": 0x50, "EXIT_REASON": 0x51,\n'  # two names, two places
        '"HOST_CR3": 0x90 }\n'
    )
    c = fi.convert("actaeon", text, "haswell.py")
    assert {f.name for f in c.info.fields} == {"VIRTUAL_PROCESSOR_ID", "HOST_CR3"}
    skipped = dict(c.skipped)
    assert "shares dword 0x87 with EXCEPTION_BITMAP" in skipped["GUEST_CR3"]
    assert "shares dword 0x87 with GUEST_CR3" in skipped["EXCEPTION_BITMAP"]
    assert "different dword indexes" in skipped["VM_EXIT_REASON/EXIT_REASON"]
    # HIGH encodings and invalid ones in vmcsreverse output
    c = fi.convert(
        "vmcsreverse",
        "vmcs_revision_id: 43\n0x6802: 16\n0x2001: 100\n0x1000: 200\n0x0810: 4095\n",
        "i7/4770.txt",
    )
    skipped = dict(c.skipped)
    assert "HIGH half" in skipped["0x00002001"] and "reserved" in skipped["0x00001000"]
    assert "outside the 0x1000-byte region" in skipped["0x00000810"]
    assert [f.name for f in c.info.fields] == ["GUEST_CR3"]
    # byte offsets that overlap: neither is taken
    c = fi.convert(
        "vmcsreverse", "vmcs_revision_id: 43\n0x6802: 16\n0x6804: 20\n0x6806: 28\n", "i7/4770.txt"
    )
    skipped = dict(c.skipped)
    assert skipped["0x00006802"] == (
        "GUEST_CR3 overlaps GUEST_CR4: which of them is right is not known"
    )
    assert "GUEST_CR4 overlaps GUEST_CR3" in skipped["0x00006804"]
    assert [f.name for f in c.info.fields] == ["GUEST_ES_BASE"]


# -- the real files, converted: db/partial/ --------------------------------------------------


@in_repo
def test_db_partial_texts() -> None:
    """Every converted real layout in db/partial/ parses, says it is partial, and is named
    with its source (repository, path, commit, license) in SOURCES.md."""
    texts = sorted(PARTIAL_DIR.glob("*.vmcsinfo"))
    assert len(texts) == 13, texts
    sources = (PARTIAL_DIR / "SOURCES.md").read_text()
    for path in texts:
        info = parse(path.read_text())
        assert info.extra.get("PARTIAL") == "1" and info.microcode == 0, path
        assert path.name in sources, path
    for repo in ("volatilityfoundation/volatility3", "eurecom-s3/actaeon", "yumaueda/vmcsreverse"):
        assert repo in sources
    # Where two sources have a field of one revision id, they agree.
    by_rev: dict[int, dict[str, set]] = {}
    for path in texts:
        info = parse(path.read_text())
        for f in info.fields:
            by_rev.setdefault(info.revision_id, {}).setdefault(f.name, set()).add(
                f.offset if f.offset is not None else f.bits
            )
    for rev, fields in by_rev.items():
        assert all(len(v) == 1 for v in fields.values()), (rev, fields)


# -- vmcsinfo-db import ----------------------------------------------------------------------


def run(*argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = fleetdb.main(list(argv))
    return code, out.getvalue(), err.getvalue()


def test_cli_import_never_served(tmp_path: Path) -> None:
    d = tmp_path / "db"
    code, out, err = run("--db", str(d), "import", "--format", "volatility", str(VOL))
    assert code == 0, err
    assert out.startswith(f"imported {VOL}: GenuineIntel/306c3/0/2b/1000 ")
    assert "partial, 14 fields (2 not taken), never served" in out
    assert f"vmcsinfo-db: {VOL}: not taken: host_rip: its type is 32 bits" in err
    index = json.loads((d / "index.json").read_text())
    (drec,) = index["keys"]["GenuineIntel/306c3/0/2b/1000"]["digests"].values()
    assert drec["partial"] is True and drec["field_count"] == 14
    (prov,) = drec["provenance"]
    assert prov["kind"] == "import" and prov["partial"] is True
    assert prov["source"].startswith(f"volatility {VOL}: partial published layout")
    # again: already there; with --source, it leads the provenance source
    code, out, _err = run("--db", str(d), "import", "--format", "volatility", str(VOL))
    assert code == 0 and out.startswith("already there")
    code, out, _err = run(
        "--db", str(d), "import", "--format", "vmcsreverse", "--source", "lab notes", str(VRS)
    )
    assert code == 0 and "imported" in out
    index = json.loads((d / "index.json").read_text())
    srcs = [
        p["source"]
        for r in index["keys"]["GenuineIntel/306c3/0/2b/1000"]["digests"].values()
        for p in r["provenance"]
    ]
    assert any(s.startswith("lab notes; vmcsreverse ") for s in srcs)
    # never served: lookup exits 4 and says why; serve() agrees; list says partial
    code, out, err = run(
        "--db", str(d), "lookup", "--vendor", "GenuineIntel", "--signature", "306c3",
        "--microcode", "0",
    )  # fmt: skip
    assert code == 4 and out == "" and "partial ones, which are never served" in err
    db = Db.load(str(d))
    for mc in (0, 1, 0x28):
        decision = serve(db, Query("GenuineIntel", 0x306C3, mc, 0x2B))
        assert decision.action != SERVE and decision.text is None
    code, out, _err = run("--db", str(d), "list")
    assert code == 0 and out.rstrip().endswith(" partial") and "(partial)" in out
    # a full layout of the same key alongside: served, and the partial is no conflict
    code, _out, err = run("--db", str(d), "add", str(FIXTURES.parent / BOCHS_NAME))
    assert code == 0, err
    decision = serve(Db.load(str(d)), Query("GenuineIntel", 0x306C3, 0))
    assert decision.action == SERVE and parse(decision.text).digest() == BOCHS.digest()
    assert Db.load(str(d)).index["conflicts"] == {}


BOCHS_NAME = "bochs-2.7-corei7_haswell_4770.vmcsinfo"


def test_cli_import_bad_input_writes_nothing(tmp_path: Path) -> None:
    d = tmp_path / "db"
    bad = tmp_path / "haswell-architecture.json"
    bad.write_text("{not json")
    code, out, err = run("--db", str(d), "import", "--format", "volatility", str(VOL), str(bad))
    assert code == 2 and out == ""
    assert err.startswith(f"vmcsinfo-db: {bad}: not JSON") and "nothing was written" in err
    assert not d.exists()  # not even created
    # an existing database is left as it was
    assert run("--db", str(d), "import", "--format", "actaeon", str(ACT))[0] == 0
    before = {p: p.read_bytes() for p in d.rglob("*") if p.is_file()}
    code, _out, err = run("--db", str(d), "import", "--format", "vmcsreverse", str(VRS), str(bad))
    assert code == 2 and "expected 'vmcs_revision_id: DECIMAL' first" in err
    assert {p: p.read_bytes() for p in d.rglob("*") if p.is_file()} == before
    # a file that is not there, not ASCII, a format not known: exit 2
    assert run("--db", str(d), "import", "--format", "actaeon", str(tmp_path / "none.py"))[0] == 2
    binary = tmp_path / "haswell.py"
    binary.write_bytes(b"vmcs = {\xff}")
    code, _out, err = run("--db", str(d), "import", "--format", "actaeon", str(binary))
    assert code == 2 and "not ASCII" in err
    with pytest.raises(SystemExit) as e, contextlib.redirect_stderr(io.StringIO()):
        fleetdb.main(["--db", str(d), "import", "--format", "rekall", str(VOL)])
    assert e.value.code == 2
    assert {p: p.read_bytes() for p in d.rglob("*") if p.is_file()} == before


# -- the fuzz: FleetDbError or a text the parser takes -----------------------------------------


def _check(fmt: str, text: str, path: str) -> None:
    try:
        c = fi.convert(fmt, text, path)
    except FleetDbError as e:
        assert str(e).startswith(f"{path}: ")
        return
    assert parse(c.text) == c.info and c.info.fields


def _mutate(text: str, rnd: random.Random) -> str:
    chars = list(text)
    for _edit in range(rnd.randint(1, 8)):
        op = rnd.randrange(4)
        i = rnd.randrange(len(chars) + 1)
        if op == 0 and chars:
            del chars[min(i, len(chars) - 1)]
        elif op == 1:
            chars.insert(i, rnd.choice('0123456789abcdefx:{}[],"\n #_ABCGHIPRSTUVX-'))
        elif op == 2 and chars:
            lines = "".join(chars).split("\n")
            j = rnd.randrange(len(lines))
            lines.insert(rnd.randrange(len(lines) + 1), lines[j])
            chars = list("\n".join(lines))
        elif chars:
            j = min(i, len(chars) - 1)
            chars[j] = chr(rnd.randrange(32, 127))
    return "".join(chars)


@pytest.mark.parametrize("fmt", fi.FORMATS)
@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 2**32 - 1))
def test_fuzz_mutated_fixtures(fmt: str, seed: int) -> None:
    text = FILES[fmt].read_text()
    _check(fmt, _mutate(text, random.Random(seed)), str(FILES[fmt]))


@pytest.mark.parametrize("fmt", fi.FORMATS)
@settings(max_examples=300, deadline=None)
@given(text=st.text(max_size=400))
def test_fuzz_any_text(fmt: str, text: str) -> None:
    _check(fmt, text, str(FILES[fmt]))


@settings(max_examples=300, deadline=None)
@given(
    members=st.dictionaries(
        st.sampled_from(["ept", "vpid", "guest_cr3", "guest_pdpte", "host_cr4", "x", "guest_rip"]),
        st.fixed_dictionaries(
            {
                "offset": st.one_of(st.integers(-8, 5000), st.text(max_size=3), st.none()),
                "type": st.one_of(
                    st.fixed_dictionaries(
                        {"kind": st.just("base"), "name": st.sampled_from(["u8", "u2", "zz"])}
                    ),
                    st.fixed_dictionaries(
                        {
                            "kind": st.just("array"),
                            "count": st.integers(-1, 70),
                            "subtype": st.fixed_dictionaries({"name": st.just("u8")}),
                        }
                    ),
                    st.integers(),
                ),
            }
        ),
    ),
    revision=st.one_of(st.binary(max_size=12), st.just(b"43")),
)
def test_fuzz_volatility_structure(members: dict, revision: bytes) -> None:
    import base64

    doc = {
        "base_types": {"u8": {"size": 8}, "u2": {"size": 2}},
        "symbols": {"revision_id": {"constant_data": base64.b64encode(revision).decode()}},
        "user_types": {"_VMCS": {"fields": members}},
    }
    _check("volatility", json.dumps(doc), "haswell-architecture.json")


# -- vmcsinfo-crash --db: a partial layout when no full one may be served ---------------------


def db_dump(tmp_path: Path, pages: dict[int, bytes] | None = None) -> Path:
    """As test_crash.db_dump: memory() without the note (or `pages`), the printk ring with
    the Bochs boot log (CPU signature 306c3, microcode 0), no vmcsinfo file beside it."""
    if pages is None:
        pages, _where = dumpgen.memory(with_note=False)
    recs = [
        dumpgen.PrintkRecord(t, ts_nsec=i * 10**7) for i, t in enumerate(dumpgen.BOCHS_BOOT_LOG)
    ]
    pages, extra = dumpgen.ring_memory(dumpgen.printk_ring(recs, 6, 12), pages=pages)
    d = tmp_path / "crash" / "202612011151"
    d.mkdir(parents=True)
    dumpgen.write_info(d, pages, "kdump-zlib", dumpgen.vmcoreinfo(extra))
    return d


def imported(tmp_path: Path, *specs: tuple[str, Path | str]) -> Path:
    d = tmp_path / "db"
    for fmt, path in specs:
        code, _out, err = run("--db", str(d), "import", "--format", fmt, str(path))
        assert code == 0, err
    return d


def test_crash_decodes_with_a_partial_layout(tmp_path: Path, capsys) -> None:
    dump, db = db_dump(tmp_path), imported(tmp_path, ("volatility", VOL))
    assert crash.main(["--json", "--db", str(db), str(dump)]) == 0
    report = json.loads(capsys.readouterr().out)
    vi = report["vmcsinfo"]
    assert vi["source"] == "database-partial" and vi["partial"] is True
    assert vi["field_count"] == 14 and vi["revision_id"] == 0x2B
    dbi = vi["database"]
    assert dbi["used"] and dbi["partial"] and dbi["basis"] == "partial"
    assert dbi["key"] == "GenuineIntel/306c3/0/2b/1000" and dbi["match"] == "signature"
    assert dbi["field_count"] == 14 and dbi["sources"][0].startswith(f"volatility {VOL}")
    assert "no full layout may be served" in dbi["reason"]
    assert any("partial ones, which are never served" in a for a in dbi["answers"])
    assert dbi["partial_tried"] == [
        {
            "key": dbi["key"],
            "digest": dbi["digest"],
            "match": "signature",
            "field_count": 14,
            "vmcs_found": 1,
        }
    ]
    # the guest's VMCS, with the fields the partial layout has, as the full layout reads them
    l1, l2 = report["vmcs"]
    assert l1["paddr"] == 0x120 * 4096 and not l1["nested"]
    full = crash.analyze(str(dump), vmcsinfo_file=str(FIXTURES.parent / BOCHS_NAME))
    assert set(l1["fields"]) == {f.name for f in parse(fi_text(VOL, "volatility")).fields}
    assert l1["fields"] == {k: full["vmcs"][0]["fields"][k] for k in l1["fields"]}
    assert l1["fields"]["GUEST_RIP"] == 0x1004 and l1["fields"]["GUEST_CR3"] == 0x3000
    assert l2["nested"] and l2["revision_id"] == 0x11E57ED0  # vmcs12: its own full layout
    assert crash.main(["--db", str(db), str(dump)]) == 0
    text = capsys.readouterr().out
    assert "VMCSINFO  from database-partial (database " in text and ", a partial layout)" in text
    assert "PARTIAL   a partial published layout: 14 fields, matched by signature" in text
    assert "rip        0x0000000000001004" in text


def fi_text(path: Path, fmt: str) -> str:
    return fi.convert(fmt, path.read_text(), str(path)).text


def test_crash_picks_among_partial_layouts_and_full_wins(tmp_path: Path) -> None:
    dump = db_dump(tmp_path)
    db = imported(tmp_path, ("volatility", VOL), ("vmcsreverse", VRS))
    dbi = crash.analyze(str(dump), db=str(db))["vmcsinfo"]["database"]
    # both match the signature and find the guest: the one with more fields
    assert [t["field_count"] for t in dbi["partial_tried"]] == [23, 14]
    assert dbi["field_count"] == 23 and dbi["sources"][0].startswith("vmcsreverse ")
    # a full layout in the database: served as before, the partial ones not looked at
    run("--db", str(db), "add", str(FIXTURES.parent / BOCHS_NAME))
    report = crash.analyze(str(dump), db=str(db))
    assert report["vmcsinfo"]["source"] == "database" and "partial" not in report["vmcsinfo"]
    assert report["vmcsinfo"]["database"]["basis"] == "exact"


def test_crash_partial_of_another_cpu_by_revision_id(tmp_path: Path) -> None:
    """A partial entry of another CPU signature with the dump's revision id: used, and
    the report says it matched by revision id only."""
    text = VRS.read_text()
    other = tmp_path / "src" / "i7" / "860.txt"  # an i7-860 (106e5) claiming revision 43
    other.parent.mkdir(parents=True)
    other.write_text(text)
    dump, db = db_dump(tmp_path), imported(tmp_path, ("vmcsreverse", other))
    report = crash.analyze(str(dump), db=str(db))
    dbi = report["vmcsinfo"]["database"]
    assert report["vmcsinfo"]["source"] == "database-partial" and dbi["match"] == "revision-id"
    assert (
        "revision id 2b only (its CPU signature 106e5 is not the dump's 306c3)" in (dbi["reason"])
    )
    assert len([v for v in report["vmcs"] if not v["nested"]]) == 1


def test_crash_partial_that_fits_no_page_is_exit_3(tmp_path: Path, capsys) -> None:
    dump = db_dump(tmp_path)
    db = imported(tmp_path, ("actaeon", ACT))  # revision 12: no page of the dump has it
    assert crash.main(["--db", str(db), str(dump)]) == 3
    err = capsys.readouterr().err
    assert "its partial layouts (never served to hosts) fit none of the revision ids" in err
    assert "(2b, 11e57ed0)" in err
    # the library's strict never falls back to a partial layout
    db2 = imported(tmp_path / "s", ("volatility", VOL))
    with pytest.raises(crash.CrashError) as e:
        crash.analyze(str(dump), db=str(db2), strict=True)
    assert e.value.exit_code == 3
    assert crash.analyze(str(dump), db=str(db2))["vmcsinfo"]["source"] == "database-partial"


@in_repo
def test_crash_with_a_converted_real_layout(tmp_path: Path, capsys) -> None:
    """db/partial/vmcsreverse-i7-9700k.vmcsinfo (revision 4), added as the seed will add
    it (add --kind import --partial): a guest VMCS laid out by it in the dump of a host
    whose log names another CPU is decoded with it, matched by revision id only."""
    real = PARTIAL_DIR / "vmcsreverse-i7-9700k.vmcsinfo"
    layout = parse(real.read_text())
    pages, _where = dumpgen.memory(with_note=False)
    pages[0x120] = dumpgen.vmcs_page(layout, dumpgen.GUEST, random.Random(3))
    dump = db_dump(tmp_path, pages)
    d = tmp_path / "db"
    code, _out, err = run("--db", str(d), "add", "--kind", "import", "--partial", str(real))
    assert code == 0, err
    assert crash.main(["--json", "--db", str(d), str(dump)]) == 0
    vi = json.loads(capsys.readouterr().out)["vmcsinfo"]
    assert vi["source"] == "database-partial" and vi["database"]["match"] == "revision-id"
    assert vi["database"]["key"] == "GenuineIntel/906ed/0/4/1000"
    report = crash.analyze(str(dump), db=str(d))
    (l1,) = [v for v in report["vmcs"] if not v["nested"]]
    assert l1["paddr"] == 0x120 * 4096 and l1["revision_id"] == 4
    for name, value in dumpgen.GUEST.items():
        if layout.field(name):
            assert l1["fields"][name] == value, name
