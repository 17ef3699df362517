"""The committed seed database db/seed (issue 12; written by `make vmx-seed`,
tests/vmx/vmx-seed.sh): it loads, every entry file is what the index says, the table in
db/seed/MODELS.md agrees with the entries, the Bochs Haswell layout is served for its own
key, and the vmcs12 entry is KVM's layout as generated (vmcs12_layout.py).
"""

from __future__ import annotations

import os
import re

import pytest

from ansible_collections.fujitsu.vmcsinfo.plugins.module_utils import fleetdb
from ansible_collections.fujitsu.vmcsinfo.plugins.module_utils.fleetdb import (
    EXACT,
    SERVE,
    Db,
    Query,
    serve,
)
from ansible_collections.fujitsu.vmcsinfo.plugins.module_utils.vmcs12_layout import (
    VMCS12_REVISION,
    VMCS12_VMCSINFO,
)
from ansible_collections.fujitsu.vmcsinfo.plugins.module_utils.vmcsinfo import parse
from ansible_collections.fujitsu.vmcsinfo.tests.unit.plugins.fakehost import repo_root

REPO = repo_root()
if REPO is None:
    pytest.skip("not run from the repository checkout: no db/seed", allow_module_level=True)
SEED = REPO / "db" / "seed"
MODELS_MD = SEED / "MODELS.md"
INTEL = "GenuineIntel"
HASWELL = "corei7_haswell_4770"
HASWELL_SIGNATURE = 0x306C3
TABLE_HEADER = (
    "model",
    "boots Debian 6.1 kernel",
    "insmod",
    "REVISION_ID",
    "CPU_SIGNATURE",
    "MICROCODE",
    "field count",
    "digest",
)
SOURCE = re.compile(r"Bochs 2\.7 (\S+), vmcsinfo \S+ probe \(make vmx-seed\)\Z")


@pytest.fixture(scope="module")
def db() -> Db:
    return Db.load(str(SEED))


@pytest.fixture(scope="module")
def table() -> dict[str, dict[str, str]]:
    """MODELS.md's first table: model -> column -> cell."""
    lines = MODELS_MD.read_text(encoding="utf-8").splitlines()
    start = next(
        i for i, line in enumerate(lines) if line.startswith("| model | boots Debian 6.1 kernel")
    )
    header = tuple(c.strip() for c in lines[start].strip("|").split("|"))
    assert header == TABLE_HEADER
    rows = {}
    for line in lines[start + 2 :]:
        if not line.startswith("|"):
            break
        cells = [c.strip() for c in line.strip("|").split("|")]
        assert len(cells) == len(header), line
        rows[cells[0]] = dict(zip(header, cells, strict=True))
    return rows


def _bochs_entries(db: Db) -> dict[str, tuple[fleetdb.Key, str]]:
    """The Bochs seed entries by model (from their provenance's source)."""
    out: dict[str, tuple[fleetdb.Key, str]] = {}
    for key in db.keys():
        for digest in db.digests(key, partial=True):
            for p in db.provenance(key, digest):
                m = SOURCE.match(p.get("source", ""))
                if m:
                    assert p["kind"] == "seed"
                    assert m.group(1) not in out, f"two entries for {m.group(1)}"
                    out[m.group(1)] = (key, digest)
    return out


def test_every_entry_is_what_the_index_says(db: Db) -> None:
    named = set()
    partial = 0
    assert db.keys()
    for key in db.keys():
        for digest in db.digests(key, partial=True):
            text = db.text(key, digest)  # parses, digest, key and sha256 checked
            rec = db.record(key)["digests"][digest]
            assert rec["field_count"] == len(parse(text).fields)
            if rec["partial"]:
                # db/partial's published layouts: imported, partial, never served
                assert all(p["kind"] == "import" and p["partial"] for p in rec["provenance"])
                assert parse(text).extra.get("PARTIAL") == "1"
                partial += 1
            else:
                assert all(p["kind"] == "seed" for p in rec["provenance"])
            named.add(key.entry(digest))
    on_disk = {
        os.path.relpath(os.path.join(d, f), SEED)
        for d, _dirs, files in os.walk(SEED / fleetdb.ENTRIES)
        for f in files
    }
    assert on_disk == named, "entry files the index does not name (or missing ones)"
    assert partial == len(list((REPO / "db" / "partial").glob("*.vmcsinfo")))
    assert db.index["conflicts"] == {}
    assert (SEED / fleetdb.GITIGNORE).read_text() == fleetdb.GITIGNORE_TEXT


def test_table_agrees_with_the_entries(db: Db, table: dict) -> None:
    entries = _bochs_entries(db)
    assert set(entries) <= set(table), "an entry for a model MODELS.md does not list"
    booted = [m for m, row in table.items() if row["boots Debian 6.1 kernel"] == "yes"]
    assert HASWELL in booted
    for model, row in table.items():
        if row["boots Debian 6.1 kernel"] == "yes" and row["insmod"] == "ok":
            assert model in entries, f"{model} booted and probed, but has no entry"
        if model not in entries:
            assert row["digest"] == "-", f"{model}: a digest in the table but no entry"
            continue
        key, digest = entries[model]
        assert row["boots Debian 6.1 kernel"] == "yes"
        assert row["digest"] == digest[:16], model
        assert row["REVISION_ID"] == f"{key.revision_id:x}", model
        assert row["CPU_SIGNATURE"] == f"{key.signature:x}", model
        assert row["MICROCODE"] == f"{key.microcode:x}", model
        assert row["field count"] == str(len(parse(db.text(key, digest)).fields)), model
        assert key.vendor == INTEL


def test_haswell_is_served_for_its_exact_key(db: Db) -> None:
    key, digest = _bochs_entries(db)[HASWELL]
    assert key.signature == HASWELL_SIGNATURE
    decision = serve(db, Query(INTEL, key.signature, key.microcode, key.revision_id))
    assert decision.action == SERVE, decision.reason
    assert decision.basis == EXACT
    assert decision.digest == digest
    assert decision.text == db.text(key, digest)
    assert parse(decision.text).digest() == digest
    # Without the revision id too: the signature and microcode have this one layout.
    assert serve(db, Query(INTEL, key.signature, key.microcode)).digest == digest


def test_vmcs12_entry_is_the_generated_layout(db: Db) -> None:
    info = parse(VMCS12_VMCSINFO)
    key = fleetdb.Key.of(info)
    assert key.revision_id == VMCS12_REVISION
    assert db.digests(key) == [info.digest()]
    assert db.text(key, info.digest()) == VMCS12_VMCSINFO
    (prov,) = db.provenance(key, info.digest())
    assert prov["kind"] == "seed"
    assert "vmcs12.h" in prov["source"]
