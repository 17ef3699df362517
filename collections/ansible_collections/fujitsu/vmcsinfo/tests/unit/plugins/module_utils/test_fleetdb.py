"""The fleet VMCSINFO database (plugins/module_utils/fleetdb.py, issue 12): storage, the
serving decisions (one test per row of the table), conflicts, drift, partial layouts, bad
input, concurrent writers.

Texts are real: the Bochs 2.7 corei7_haswell_4770 probe result, and variants of it made by
changing its header lines or swapping two fields' offsets, each checked by the parser.
"""

from __future__ import annotations

import hashlib
import json
import multiprocessing
import os
from pathlib import Path

import pytest

from ansible_collections.fujitsu.vmcsinfo.plugins.module_utils import fleetdb
from ansible_collections.fujitsu.vmcsinfo.plugins.module_utils.fleetdb import (
    AMBIGUOUS,
    CONFLICT,
    EXACT,
    OTHER_MICROCODE,
    SERVE,
    UNKNOWN,
    Db,
    FleetDbError,
    Key,
    Query,
    merge,
    serve,
)
from ansible_collections.fujitsu.vmcsinfo.plugins.module_utils.vmcsinfo import parse

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures"
BOCHS = (FIXTURES / "bochs-2.7-corei7_haswell_4770.vmcsinfo").read_text()
INTEL = "GenuineIntel"
SIG = 0x306C3
REV = 0x2B

# Layouts: "a" is the Bochs probe result; "b" and "c" swap two same-width fields' offsets.
SWAPS = {
    "a": (),
    "b": (("FIELD(GUEST_RSP)=e80", "FIELD(GUEST_RIP)=e88"),),
    "c": (("FIELD(GUEST_CR0)=e10", "FIELD(GUEST_CR3)=e18"),),
}


def variant(
    microcode: int = 0,
    layout: str = "a",
    revision: int = REV,
    signature: int = SIG,
    vendor: str = INTEL,
) -> str:
    """The Bochs text with other header values and, for layout b/c, two offsets swapped."""
    text = BOCHS
    for old, new in (
        ("MICROCODE=0\n", f"MICROCODE={microcode:x}\n"),
        ("REVISION_ID=2b\n", f"REVISION_ID={revision:x}\n"),
        ("CPU_SIGNATURE=306c3\n", f"CPU_SIGNATURE={signature:x}\n"),
        ("CPU_VENDOR=GenuineIntel\n", f"CPU_VENDOR={vendor}\n"),
    ):
        assert old in text
        text = text.replace(old, new)
    for one, two in SWAPS[layout]:
        off1, off2 = one.split("=")[1], two.split("=")[1]
        assert one in text and two in text
        text = text.replace(one, "@1").replace(two, "@2")
        text = text.replace("@1", one.replace(off1, off2)).replace("@2", two.replace(off2, off1))
    info = parse(text)  # a real CONTRACT 2 text
    assert (info.microcode, info.revision_id, info.cpu_signature) == (
        microcode,
        revision,
        signature,
    )
    return text


DIGEST = {name: parse(variant(layout=name)).digest() for name in SWAPS}
assert len(set(DIGEST.values())) == 3


def prov(host: str = "h1", **kw: object) -> dict:
    return {"kind": "probe", "host": host, "kernel": "6.1.0-56-amd64", **kw}


def entry_files(db_dir: Path) -> list[Path]:
    return sorted((db_dir / "entries").rglob("*.vmcsinfo")) if db_dir.exists() else []


# --- storage ------------------------------------------------------------------------------------


def test_round_trip_is_byte_exact(tmp_path: Path) -> None:
    db_dir = tmp_path / "db"
    result = merge(str(db_dir), [(BOCHS, prov(module_version="0.3.0", platform_id=1))])
    assert [o.digest for o in result.added] == [parse(BOCHS).digest()]
    key = Key.of(parse(BOCHS))
    path = db_dir / key.entry(DIGEST["a"])
    assert path.read_bytes() == BOCHS.encode()
    assert path.relative_to(db_dir).as_posix() == (
        f"entries/{DIGEST['a']}/GenuineIntel-306c3-0.vmcsinfo"
    )
    db = Db.load(str(db_dir))
    d = serve(db, Query(INTEL, SIG, 0, REV), strict=True)
    assert (d.action, d.basis, d.text, d.digest) == (SERVE, EXACT, BOCHS, DIGEST["a"])
    rec = db.index["keys"]["GenuineIntel/306c3/0/2b/1000"]
    assert rec["vendor"] == INTEL and rec["signature"] == "306c3" and rec["microcode"] == "0"
    drec = rec["digests"][DIGEST["a"]]
    assert drec["sha256"] == hashlib.sha256(BOCHS.encode()).hexdigest()
    assert drec["field_count"] == 0x93 and drec["partial"] is False
    (p,) = drec["provenance"]
    assert p["kind"] == "probe" and p["host"] == "h1" and p["module_version"] == "0.3.0"
    assert p["platform_id"] == "1" and p["kernel"] == "6.1.0-56-amd64"
    assert p["added_at"].endswith("Z")
    assert (db_dir / ".gitignore").read_text().count("/.lock") == 1


def test_text_without_final_newline_is_kept_as_it_was(tmp_path: Path) -> None:
    text = BOCHS.rstrip("\n")
    merge(str(tmp_path), [(text, prov())])
    (path,) = entry_files(tmp_path)
    assert path.read_bytes() == text.encode()
    assert serve(Db.load(str(tmp_path)), Query(INTEL, SIG, 0)).text == text


def test_index_is_sorted_and_one_record_per_line(tmp_path: Path) -> None:
    merge(str(tmp_path), [(BOCHS, prov("h1")), (BOCHS, prov("h2")), (variant(1), prov("h3"))])
    raw = (tmp_path / "index.json").read_text()
    index = json.loads(raw)
    assert index["format"] == fleetdb.FORMAT
    assert raw == fleetdb.dumps(index) + "\n"
    lines = raw.splitlines()
    assert sum('"host": "h' in line for line in lines) == 4  # 3 provenances + 1 drift record
    assert all(line.count('"host"') <= 1 for line in lines)
    assert list(index["keys"]) == sorted(index["keys"])


def test_same_provenance_again_changes_nothing(tmp_path: Path) -> None:
    merge(str(tmp_path), [(BOCHS, prov())])
    before = (tmp_path / "index.json").read_bytes()
    result = merge(str(tmp_path), [(BOCHS, prov()), (BOCHS, prov())])
    assert len(result.already) == 2 and not result.added and not result.conflicts
    assert (tmp_path / "index.json").read_bytes() == before
    merge(str(tmp_path), [(BOCHS, prov("h2"))])
    index = Db.load(str(tmp_path)).index
    hosts = [
        p["host"]
        for p in index["keys"]["GenuineIntel/306c3/0/2b/1000"]["digests"][DIGEST["a"]]["provenance"]
    ]
    assert hosts == ["h1", "h2"]


def test_merge_is_one_index_write_for_many_items(tmp_path: Path, monkeypatch) -> None:
    writes: list[str] = []
    real = fleetdb.write_file

    def counting(path: str, text: str) -> None:
        writes.append(os.path.basename(path))
        real(path, text)

    monkeypatch.setattr(fleetdb, "write_file", counting)
    items = [(variant(m), prov(f"h{m}")) for m in range(20)] + [(BOCHS, prov("h99"))]
    result = merge(str(tmp_path), items)
    assert len(result.added) == 20 and len(result.already) == 1
    assert writes.count("index.json") == 1
    assert len(entry_files(tmp_path)) == 20


def test_vendor_with_odd_characters_is_quoted_in_the_file_name(tmp_path: Path) -> None:
    text = variant(vendor="  Shanghai/x ")
    merge(str(tmp_path), [(text, prov())])
    (path,) = entry_files(tmp_path)
    assert path.name == "%20%20Shanghai%2Fx%20-306c3-0.vmcsinfo"
    d = serve(Db.load(str(tmp_path)), Query("  Shanghai/x ", SIG, 0))
    assert d.action == SERVE and d.text == text


def test_platform_id_from_the_text(tmp_path: Path) -> None:
    text = BOCHS.replace("MICROCODE=0\n", "MICROCODE=0\nPLATFORM_ID=4\n")
    merge(str(tmp_path), [(text, {"kind": "probe", "host": "h1"})])
    drec = Db.load(str(tmp_path)).index["keys"]["GenuineIntel/306c3/0/2b/1000"]["digests"]
    assert drec[DIGEST["a"]]["provenance"][0]["platform_id"] == "4"


# --- the serving table --------------------------------------------------------------------------
# Each row: the database (microcode, layout, revision id, partial), the query (microcode,
# revision id or None), strict, then the expected action, basis, the served microcode and a
# phrase of the reason.

SERVE_TABLE = [
    # exact key, one digest
    ("exact", [(0x28, "a", REV, False)], (0x28, None), False, SERVE, EXACT, 0x28, "exact"),
    ("exact-strict", [(0x28, "a", REV, False)], (0x28, None), True, SERVE, EXACT, 0x28, "exact"),
    ("exact-rev", [(0x28, "a", REV, False)], (0x28, REV), False, SERVE, EXACT, 0x28, "exact"),
    (
        "exact-among-other-microcode",
        [(0x27, "b", REV, False), (0x28, "a", REV, False)],
        (0x28, None),
        False,
        SERVE,
        EXACT,
        0x28,
        "exact",
    ),
    # a key with two digests
    (
        "conflict",
        [(0x28, "a", REV, False), (0x28, "b", REV, False)],
        (0x28, None),
        False,
        CONFLICT,
        None,
        None,
        "in conflict",
    ),
    (
        "conflict-rev",
        [(0x28, "a", REV, False), (0x28, "b", REV, False)],
        (0x28, REV),
        True,
        CONFLICT,
        None,
        None,
        "in conflict",
    ),
    # a partial second digest is no conflict; a partial layout is never served
    (
        "exact-beside-partial",
        [(0x28, "a", REV, False), (0x28, "b", REV, True)],
        (0x28, None),
        False,
        SERVE,
        EXACT,
        0x28,
        "exact",
    ),
    (
        "partial-only",
        [(0x28, "a", REV, True)],
        (0x28, None),
        False,
        UNKNOWN,
        None,
        None,
        "partial ones, which are never served",
    ),
    (
        "partial-no-evidence",
        [(0x27, "a", REV, True), (0x29, "a", REV, True)],
        (0x28, None),
        False,
        UNKNOWN,
        None,
        None,
        "has for vendor",
    ),
    # several revision ids, none asked for / one asked for
    (
        "two-revisions",
        [(0x28, "a", REV, False), (0x28, "a", 0x2C, False)],
        (0x28, None),
        False,
        AMBIGUOUS,
        None,
        None,
        "--revision",
    ),
    (
        "two-revisions-one-asked",
        [(0x28, "a", REV, False), (0x28, "a", 0x2C, False)],
        (0x28, 0x2C),
        False,
        SERVE,
        EXACT,
        0x28,
        "exact",
    ),
    (
        "revision-not-there",
        [(0x28, "a", REV, False)],
        (0x28, 0x2C),
        False,
        UNKNOWN,
        None,
        None,
        "revision id 2b",
    ),
    # another microcode: served only with evidence
    (
        "evidence",
        [(0x27, "a", REV, False), (0x29, "a", REV, False)],
        (0x28, None),
        False,
        SERVE,
        OTHER_MICROCODE,
        0x27,
        "all have the one layout",
    ),
    (
        "evidence-nearest",
        [(0x20, "a", REV, False), (0x29, "a", REV, False)],
        (0x28, REV),
        False,
        SERVE,
        OTHER_MICROCODE,
        0x29,
        "microcode 29",
    ),
    (
        "evidence-strict",
        [(0x27, "a", REV, False), (0x29, "a", REV, False)],
        (0x28, None),
        True,
        UNKNOWN,
        None,
        None,
        "--strict",
    ),
    (
        "one-microcode-only",
        [(0x27, "a", REV, False)],
        (0x28, None),
        False,
        UNKNOWN,
        None,
        None,
        "only one microcode revision",
    ),
    (
        "one-microcode-two-texts",
        [(0x27, "a", REV, False), (0x27, "a", REV, False)],
        (0x28, None),
        False,
        UNKNOWN,
        None,
        None,
        "only one microcode revision",
    ),
    (
        "digests-differ",
        [(0x27, "a", REV, False), (0x29, "b", REV, False)],
        (0x28, None),
        False,
        UNKNOWN,
        None,
        None,
        "differ",
    ),
    (
        "evidence-spoilt-by-a-conflict",
        [(0x27, "a", REV, False), (0x29, "a", REV, False), (0x29, "c", REV, False)],
        (0x28, None),
        False,
        UNKNOWN,
        None,
        None,
        "differ",
    ),
    (
        "evidence-of-another-revision-id",
        [(0x27, "a", 0x2C, False), (0x29, "a", 0x2C, False)],
        (0x28, REV),
        False,
        UNKNOWN,
        None,
        None,
        "no layout",
    ),
    (
        "other-microcode-two-revisions",
        [(0x27, "a", REV, False), (0x29, "a", REV, False), (0x27, "a", 0x2C, False)],
        (0x28, None),
        False,
        AMBIGUOUS,
        None,
        None,
        "--revision",
    ),
    (
        "other-microcode-two-revisions-one-asked",
        [(0x27, "a", REV, False), (0x29, "a", REV, False), (0x27, "a", 0x2C, False)],
        (0x28, REV),
        False,
        SERVE,
        OTHER_MICROCODE,
        0x27,
        "all have the one layout",
    ),
    (
        "partial-exact-evidence-elsewhere",
        [(0x28, "b", REV, True), (0x27, "a", REV, False), (0x29, "a", REV, False)],
        (0x28, None),
        False,
        SERVE,
        OTHER_MICROCODE,
        0x27,
        "all have the one layout",
    ),
    ("empty", [], (0x28, None), False, UNKNOWN, None, None, "has nothing for vendor"),
    (
        "other-signature",
        [(0x28, "a", REV, False)],
        (0x28, None),
        False,
        UNKNOWN,
        None,
        None,
        "has nothing for vendor GenuineIntel signature 306c4",
    ),
]


@pytest.mark.parametrize(
    "rows, query, strict, action, basis, served, phrase",
    [pytest.param(*row[1:], id=row[0]) for row in SERVE_TABLE],
)
def test_serve_table(
    tmp_path: Path,
    rows: list,
    query: tuple,
    strict: bool,
    action: str,
    basis: str | None,
    served: int | None,
    phrase: str,
) -> None:
    items = [
        (variant(mc, layout, rev), {**prov(f"h{n}"), "partial": partial})
        for n, (mc, layout, rev, partial) in enumerate(rows)
    ]
    merge(str(tmp_path), items)
    signature = 0x306C4 if phrase.endswith("306c4") else SIG
    decision = serve(Db.load(str(tmp_path)), Query(INTEL, signature, *query), strict)
    assert decision.action == action, decision.reason
    assert decision.basis == basis
    assert phrase in decision.reason
    if served is None:
        assert decision.text is None and decision.digest is None
        assert decision.exit_code == (fleetdb.EXIT_CONFLICT if action == CONFLICT else 4)
        return
    assert decision.exit_code == 0
    assert decision.key is not None and decision.key.microcode == served
    assert parse(decision.text).microcode == served
    assert decision.digest == parse(decision.text).digest()
    # byte for byte one of the texts added
    assert decision.text in [text for text, _p in items]


def test_unknown_key_says_what_the_db_has(tmp_path: Path) -> None:
    merge(str(tmp_path), [(variant(0x27), prov()), (variant(0x27, "a", 0x2C), prov())])
    d = serve(Db.load(str(tmp_path)), Query(INTEL, SIG, 0x28, REV), strict=True)
    assert d.action == UNKNOWN
    assert "microcode 28 revision id 2b" in d.reason
    assert "microcode 27 revision id 2b region size 1000 digest " + DIGEST["a"][:12] in d.reason
    assert "microcode 27 revision id 2c" in d.reason


# --- conflicts, drift, partial ------------------------------------------------------------------


def test_conflict_is_recorded_with_both_provenances(tmp_path: Path) -> None:
    first = merge(str(tmp_path), [(variant(0x28, "a"), prov("h1"))])
    assert first.added and not first.conflicts
    second = merge(str(tmp_path), [(variant(0x28, "b"), prov("h2"))])
    (c,) = second.conflicts
    assert c.digest == DIGEST["b"] and c.others == (DIGEST["a"],) and c.created
    db = Db.load(str(tmp_path))
    kid = "GenuineIntel/306c3/28/2b/1000"
    rec = db.index["conflicts"][kid]
    assert rec["digests"] == sorted([DIGEST["a"], DIGEST["b"]])
    at = rec["detected_at"]
    assert db.index["keys"][kid]["digests"][DIGEST["a"]]["provenance"][0]["host"] == "h1"
    assert db.index["keys"][kid]["digests"][DIGEST["b"]]["provenance"][0]["host"] == "h2"
    d = serve(db, Query(INTEL, SIG, 0x28))
    assert d.action == CONFLICT and "h1" in d.reason and "h2" in d.reason
    assert DIGEST["a"] in d.reason and DIGEST["b"] in d.reason
    # a host re-reporting either side is in conflict too; the record keeps its first time
    again = merge(str(tmp_path), [(variant(0x28, "a"), prov("h3"))])
    assert [o.others for o in again.conflicts] == [(DIGEST["b"],)]
    assert Db.load(str(tmp_path)).index["conflicts"][kid]["detected_at"] == at
    listed = fleetdb.listing(Db.load(str(tmp_path)))
    assert [k["conflict"] for k in listed["keys"]] == [True]


def test_conflict_inside_one_merge_flags_both(tmp_path: Path) -> None:
    result = merge(
        str(tmp_path), [(variant(0x28, "a"), prov("h1")), (variant(0x28, "b"), prov("h2"))]
    )
    assert sorted(o.label for o in result.conflicts) == ["h1", "h2"]
    assert not result.added


def test_resolved_conflict_leaves_the_conflicts(tmp_path: Path) -> None:
    merge(str(tmp_path), [(variant(0x28, "a"), prov("h1")), (variant(0x28, "b"), prov("h2"))])
    path = tmp_path / "index.json"
    index = json.loads(path.read_text())
    del index["keys"]["GenuineIntel/306c3/28/2b/1000"]["digests"][DIGEST["b"]]
    path.write_text(fleetdb.dumps(index) + "\n")  # the operator's resolution, in git
    assert serve(Db.load(str(tmp_path)), Query(INTEL, SIG, 0x28)).action == SERVE
    merge(str(tmp_path), [(variant(0x29, "a"), prov("h3"))])
    assert Db.load(str(tmp_path)).index["conflicts"] == {}


def test_drift_records_whether_microcode_changed_the_layout(tmp_path: Path) -> None:
    merge(str(tmp_path), [(variant(0x27, "a"), prov("h1"))])
    assert Db.load(str(tmp_path)).index["microcode_changes"] == []
    merge(str(tmp_path), [(variant(0x28, "a"), prov("h1")), (variant(0x28, "a"), prov("h2"))])
    merge(str(tmp_path), [(variant(0x2A, "b"), prov("h2"))])
    merge(str(tmp_path), [(variant(0x26, "a"), prov("h4", kind="import"))])
    merge(str(tmp_path), [(variant(0x29, "a", revision=0x2C), prov("h5"))])  # another family
    changes = Db.load(str(tmp_path)).index["microcode_changes"]
    summary = [
        (c["from_microcode"], c["to_microcode"], c["layout_changed"], c.get("host"), c["kind"])
        for c in changes
    ]
    assert summary == [
        ("27", "28", False, "h1", "probe"),
        ("28", "2a", True, "h2", "probe"),
        ("27", "26", False, "h4", "import"),  # no lower one: compared with the least higher
    ]
    assert changes[1]["from_digests"] == [DIGEST["a"]] and changes[1]["digest"] == DIGEST["b"]
    assert {c["revision_id"] for c in changes} == {"2b"}


def test_partial_is_stored_listed_never_served_and_upgraded_by_a_probe(tmp_path: Path) -> None:
    r = merge(
        str(tmp_path), [(variant(0x28, "b"), {"kind": "import", "source": "vol3", "partial": True})]
    )
    assert r.added and not r.conflicts
    db = Db.load(str(tmp_path))
    assert serve(db, Query(INTEL, SIG, 0x28)).action == UNKNOWN
    assert "(partial, never served)" in serve(db, Query(INTEL, SIG, 0x28)).reason
    assert fleetdb.listing(db)["keys"][0]["digests"][0]["partial"] is True
    # a probe of another layout for the key: no conflict, no drift record, served
    r = merge(str(tmp_path), [(variant(0x28, "a"), prov())])
    assert r.added and not r.conflicts
    db = Db.load(str(tmp_path))
    assert db.index["conflicts"] == {} and db.index["microcode_changes"] == []
    assert serve(db, Query(INTEL, SIG, 0x28)).digest == DIGEST["a"]
    # a probe of the partial layout itself makes it a full entry
    merge(str(tmp_path), [(variant(0x29, "b"), {"kind": "import", "partial": True})])
    merge(str(tmp_path), [(variant(0x29, "b"), prov())])
    drec = Db.load(str(tmp_path)).index["keys"]["GenuineIntel/306c3/29/2b/1000"]["digests"]
    assert drec[DIGEST["b"]]["partial"] is False


# --- bad input ----------------------------------------------------------------------------------


def snapshot(db_dir: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(db_dir)): p.read_bytes()
        for p in sorted(db_dir.rglob("*"))
        if p.is_file() and p.name != ".lock"
    }


def test_rejected_text_writes_nothing(tmp_path: Path) -> None:
    db_dir = tmp_path / "db"
    bad = BOCHS.replace("FIELD_COUNT=93", "FIELD_COUNT=94")
    with pytest.raises(
        FleetDbError, match=r"bad\.vmcsinfo: not a VMCSINFO text: line 9: FIELD_COUNT"
    ):
        merge(str(db_dir), [(BOCHS, prov()), (bad, {"kind": "import", "label": "bad.vmcsinfo"})])
    assert not db_dir.exists()  # not even the directory
    merge(str(db_dir), [(BOCHS, prov())])
    before = snapshot(db_dir)
    with pytest.raises(FleetDbError, match="nothing was written"):
        merge(str(db_dir), [(variant(1), prov()), (bad, prov())])
    assert snapshot(db_dir) == before


@pytest.mark.parametrize(
    "edit, phrase",
    [
        (lambda s: s[:-10], "not valid JSON"),
        (lambda s: s.replace('"format": 1', '"format": 2'), "reads format 1"),
        (
            lambda s: s.replace('"partial": false', '"partial": "no"'),
            "'partial' must be true or false",
        ),
        (lambda s: s.replace('"microcode": "0"', '"microcode": "1"'), "spell the key"),
        (lambda s: s.replace('"kind": "probe"', '"kind": "guess"'), "'kind' is 'guess'"),
        (
            lambda s: s.replace('"field_count"', '"colour": 1, "field_count"'),
            "unknown member(s) 'colour'",
        ),
        (lambda s: s.replace('"sha256": "', '"sha256": "x'), "not lowercase hex"),
        (lambda s: "[]", "expected a JSON object"),
        (
            lambda s: s.replace('"provenance": [', '"provenance": [{"kind": "probe"},'),
            "missing 'added_at'",
        ),
    ],
)
def test_corrupt_index_is_named_and_nothing_written(tmp_path: Path, edit, phrase: str) -> None:
    merge(str(tmp_path), [(BOCHS, prov())])
    path = tmp_path / "index.json"
    path.write_text(edit(path.read_text()))
    before = snapshot(tmp_path)
    with pytest.raises(FleetDbError) as e:
        merge(str(tmp_path), [(variant(1), prov())])
    assert str(path) in str(e.value) and phrase in str(e.value)
    assert snapshot(tmp_path) == before
    with pytest.raises(FleetDbError, match=r"index\.json"):
        Db.load(str(tmp_path))


def test_index_as_a_symbolic_link_is_refused(tmp_path: Path) -> None:
    merge(str(tmp_path / "real"), [(BOCHS, prov())])
    (tmp_path / "db").mkdir()
    (tmp_path / "db" / "index.json").symlink_to(tmp_path / "real" / "index.json")
    with pytest.raises(FleetDbError, match="symbolic link"):
        Db.load(str(tmp_path / "db"))


def test_tampered_entry_is_named_and_refused(tmp_path: Path) -> None:
    merge(str(tmp_path), [(BOCHS, prov())])
    (path,) = entry_files(tmp_path)
    path.write_text(BOCHS.replace("VMX_MISC=200401e0", "VMX_MISC=200401e1"))
    db = Db.load(str(tmp_path))
    with pytest.raises(FleetDbError, match=f"entry {path}: its content is not the text"):
        serve(db, Query(INTEL, SIG, 0))
    with pytest.raises(FleetDbError, match=str(path)):
        fleetdb.listing(db)
    before = snapshot(tmp_path)
    with pytest.raises(FleetDbError, match=str(path)):
        merge(str(tmp_path), [(BOCHS, prov("h2"))])
    assert snapshot(tmp_path) == before


def test_entry_of_another_layout_is_refused_even_with_its_sha(tmp_path: Path) -> None:
    """The index's sha256 edited to match: the layout digest still names the lie."""
    merge(str(tmp_path), [(BOCHS, prov())])
    (path,) = entry_files(tmp_path)
    other = variant(layout="b")
    path.write_text(other)
    index = tmp_path / "index.json"
    index.write_text(
        index.read_text().replace(
            hashlib.sha256(BOCHS.encode()).hexdigest(), hashlib.sha256(other.encode()).hexdigest()
        )
    )
    with pytest.raises(FleetDbError, match=f"layout digest is {DIGEST['b']}, not {DIGEST['a']}"):
        serve(Db.load(str(tmp_path)), Query(INTEL, SIG, 0))
    path.write_text(variant(microcode=5))
    index.write_text(
        index.read_text().replace(
            hashlib.sha256(other.encode()).hexdigest(),
            hashlib.sha256(variant(microcode=5).encode()).hexdigest(),
        )
    )
    with pytest.raises(
        FleetDbError, match="its text is for vendor GenuineIntel signature 306c3 microcode 5"
    ):
        serve(Db.load(str(tmp_path)), Query(INTEL, SIG, 0))


def test_missing_entry_is_named(tmp_path: Path) -> None:
    merge(str(tmp_path), [(BOCHS, prov())])
    (path,) = entry_files(tmp_path)
    path.unlink()
    with pytest.raises(FleetDbError, match=f"entry .*cannot open {path}"):
        serve(Db.load(str(tmp_path)), Query(INTEL, SIG, 0))


def test_bad_provenance_is_refused(tmp_path: Path) -> None:
    with pytest.raises(FleetDbError, match="'kind' is 'guess'"):
        merge(str(tmp_path / "db"), [(BOCHS, {"kind": "guess"})])
    with pytest.raises(FleetDbError, match="unknown member"):
        merge(str(tmp_path / "db"), [(BOCHS, {"kind": "probe", "hostname": "x"})])
    with pytest.raises(FleetDbError, match="must be a non-empty printable string"):
        merge(str(tmp_path / "db"), [(BOCHS, {"kind": "probe", "kernel": 6})])
    assert not (tmp_path / "db").exists()


def test_missing_db_and_empty_db(tmp_path: Path) -> None:
    with pytest.raises(FleetDbError, match="no database directory"):
        Db.load(str(tmp_path / "nothing"))
    assert Db.load(str(tmp_path / "nothing"), must_exist=False).keys() == []
    assert Db.load(str(tmp_path)).keys() == []  # a directory without index.json
    assert merge(str(tmp_path / "x"), []).added == [] and not (tmp_path / "x").exists()


def test_user_hex() -> None:
    assert fleetdb.user_hex("306c3", "x") == fleetdb.user_hex("0x306C3", "x") == 0x306C3
    with pytest.raises(FleetDbError, match="--signature: '306g3' is not hex"):
        fleetdb.user_hex("306g3", "--signature")


# --- concurrency --------------------------------------------------------------------------------

WRITERS, TEXTS = 8, 25


def _writer(args: tuple[str, int]) -> int:
    db_dir, w = args
    for i in range(TEXTS):
        text = variant(microcode=w * 0x100 + i + 1)
        merge(db_dir, [(text, prov(f"w{w}", source=f"writer {w}"))])
        if i % 5 == 0:
            merge(db_dir, [(BOCHS, prov(f"w{w}"))])  # all writers add this one too
    return w


def test_concurrent_writers_lose_nothing(tmp_path: Path) -> None:
    db_dir = str(tmp_path / "db")
    ctx = multiprocessing.get_context("fork")
    with ctx.Pool(WRITERS) as pool:
        assert sorted(pool.map(_writer, [(db_dir, w) for w in range(WRITERS)])) == list(
            range(WRITERS)
        )
    db = Db.load(db_dir)
    keys = db.keys()
    assert len(keys) == WRITERS * TEXTS + 1
    assert len(entry_files(Path(db_dir))) == WRITERS * TEXTS + 1
    listed = fleetdb.listing(db)  # every entry file checked
    assert not db.index["conflicts"]
    shared = db.provenance(Key.of(parse(BOCHS)), DIGEST["a"])
    assert sorted(p["host"] for p in shared) == [f"w{w}" for w in range(WRITERS)]
    # one drift record per microcode after the family's first, none lost
    assert len(db.index["microcode_changes"]) == WRITERS * TEXTS
    assert all(not c["layout_changed"] for c in db.index["microcode_changes"])
    assert {k["microcode"] for k in listed["keys"]} == {
        f"{w * 0x100 + i + 1:x}" for w in range(WRITERS) for i in range(TEXTS)
    } | {"0"}
    leftovers = [n for n in os.listdir(db_dir) if n.startswith(".index.json.")]
    assert leftovers == []


def test_a_text_saying_partial_stays_partial_without_the_option(tmp_path: Path) -> None:
    db = tmp_path / "db"
    text = variant(signature=0x906ED).replace("FIELD_COUNT=", "PARTIAL=1\nFIELD_COUNT=", 1)
    fleetdb.merge(str(db), [(text, {"kind": "import", "source": "vmcsreverse"})])
    loaded = fleetdb.Db.load(str(db))
    (key,) = loaded.keys()
    assert loaded.digests(key) == [] and len(loaded.digests(key, partial=True)) == 1
    decision = fleetdb.serve(loaded, fleetdb.Query(INTEL, 0x906ED, 0))
    assert decision.action == fleetdb.UNKNOWN and "partial" in decision.reason
