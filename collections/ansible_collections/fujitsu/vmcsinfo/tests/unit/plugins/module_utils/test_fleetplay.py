# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The database round of a play (module_utils/fleetplay.py): the decision table a row per
test, then whole rounds over fake hosts whose facts the real collector reads, and the served
text installed and read back as the facts' source `database`."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ansible_collections.fujitsu.vmcsinfo.plugins.module_utils import fleetdb, fleetplay
from ansible_collections.fujitsu.vmcsinfo.plugins.module_utils.facts import gather, source_text
from ansible_collections.fujitsu.vmcsinfo.plugins.module_utils.hoststate import (
    STATE_DIR,
    state_paths,
    under,
)
from ansible_collections.fujitsu.vmcsinfo.plugins.module_utils.snapshot import (
    SnapshotFailure,
    present,
)
from ansible_collections.fujitsu.vmcsinfo.plugins.module_utils.vmcsinfo import parse
from ansible_collections.fujitsu.vmcsinfo.tests.unit.plugins.fakehost import (
    BOCHS,
    cpuinfo,
    make_root,
)
from ansible_collections.fujitsu.vmcsinfo.tests.unit.plugins.module_utils.test_fleetdb import (
    variant,
)

PROBE_ORIGIN = "ORIGIN=probe\nKERNEL=6.1.0-56-amd64\nBOOT_ID=b\nSAVED_AT=2026-01-01T00:00:00Z\n"
SUPPLIED_ORIGIN = "ORIGIN=supplied\nSOURCE=ops\nKERNEL=k\nBOOT_ID=b\nSAVED_AT=t\n"


def facts(source: str, origin: str | None = None, vendor: str = "GenuineIntel", **kw) -> dict:
    return {
        "source": source,
        "snapshot": {"origin": origin, "source": None},
        "cpu": {"vendor": vendor, "signature": 0x306C3, "microcode": 0},
        "stale": False,
        "stale_reason": "",
        **kw,
    }


@pytest.mark.parametrize(
    ("host_facts", "serve_as", "expected"),
    [
        (facts("probe"), None, fleetplay.CONTRIBUTE),
        (facts("snapshot", "probe"), None, fleetplay.CONTRIBUTE),
        (
            facts("snapshot", "probe", stale=True, stale_reason="MICROCODE 0 vs 28"),
            None,
            "contribute",
        ),
        (facts("snapshot", "supplied"), None, fleetplay.KEEP),
        (facts("database", "database"), None, fleetplay.SERVE_PLAN),
        (facts("snapshot", None), None, fleetplay.SERVE_PLAN),
        (facts("none"), None, fleetplay.SERVE_PLAN),
        (facts("none", vendor="AuthenticAMD"), None, fleetplay.SKIP),
        (facts("none", vendor=None), None, fleetplay.SKIP),
        # the inventory says to serve an AMD or TCG host as an Intel CPU: served
        (facts("none", vendor="AuthenticAMD"), {"vendor": "GenuineIntel"}, fleetplay.SERVE_PLAN),
        # a probe is never replaced, whatever serve_as says
        (facts("probe"), {"vendor": "GenuineIntel"}, fleetplay.CONTRIBUTE),
    ],
)
def test_plan_table(host_facts: dict, serve_as: dict | None, expected: str) -> None:
    how, why = fleetplay.plan(host_facts, serve_as)
    assert how == expected and why


def test_stale_probe_says_why() -> None:
    how, why = fleetplay.plan(
        facts("snapshot", "probe", stale=True, stale_reason="MICROCODE 0 vs 28")
    )
    assert how == "contribute" and "stale: MICROCODE 0 vs 28" in why


@pytest.mark.parametrize(
    ("serve_as", "problem"),
    [
        ({"vendor": "GenuineIntel", "signature": "306c3"}, "serve_as has no microcode"),
        ({"vendor": "GenuineIntel", "signature": "zz", "microcode": "0"}, "not hex"),
    ],
)
def test_bad_serve_as_is_named(serve_as: dict, problem: str) -> None:
    query, why = fleetplay.query_of(facts("none"), serve_as)
    assert query is None and problem in why


def test_unknown_signature_is_unserved_with_why() -> None:
    f = facts("none")
    f["cpu"]["signature"] = None
    assert fleetplay.query_of(f, None) == (
        None,
        "its CPU signature or microcode is unknown (/proc/cpuinfo): nothing to look up",
    )


# --- rounds over fake hosts -------------------------------------------------------------------


def host(
    tmp_path: Path,
    name: str,
    *,
    probe: str | None = None,
    microcode: str = "0x0",
    snapshot: str | None = None,
    origin: str | None = None,
) -> dict:
    """A fake host's report as the role sends it: the real facts of a fake root."""
    root = make_root(
        tmp_path / name,
        cpu=cpuinfo(microcode=microcode),
        loaded=probe is not None,
        sysfs=probe,
        snapshot=snapshot,
        origin=origin,
    )
    f = gather(str(root), STATE_DIR, lambda *_: None)
    return {
        "host": name,
        "facts": f,
        "text": source_text(f)[0],
        "serve_as": None,
        "_root": str(root),
    }


def install(report: dict, result: dict) -> dict:
    """What the role does for a served host: vmcsinfo_snapshot with origin database."""
    mine = result["hosts"][report["host"]]
    snap, orig = state_paths(under(report["_root"], STATE_DIR))
    present(
        {
            "content": mine["text"],
            "source": f"fleet database ({mine['basis']})",
            "validate_cpu": report["serve_as"] is None,
            "origin": "database",
            "db_key": mine["db_key"],
            "digest": mine["digest"],
            "served_for": mine["served_for"],
        },
        snap,
        orig,
        root=report["_root"],
    )
    return gather(report["_root"], STATE_DIR, lambda *_: None)


def test_a_probe_feeds_the_database_and_a_host_without_one_is_served_it(tmp_path: Path) -> None:
    db = tmp_path / "db"
    prober = host(tmp_path, "h1", probe=BOCHS)
    bare = host(tmp_path, "h2")
    result = fleetplay.run_round(str(db), [prober, bare])
    assert result["added"] == ["h1"] and result["changed"]
    h1, h2 = result["hosts"]["h1"], result["hosts"]["h2"]
    assert h1["action"] == "contributed" and h1["contributed"] == "added"
    assert h2["action"] == "served" and h2["basis"] == "exact"
    assert h2["text"] == BOCHS  # byte for byte the probe's
    assert h2["digest"] == parse(BOCHS).digest() == prober["facts"]["digest"]
    prov = json.loads((db / "index.json").read_text())["keys"][h2["db_key"]]["digests"]
    (rec,) = prov[h2["digest"]]["provenance"]
    assert rec["host"] == "h1" and rec["kind"] == "probe" and rec["kernel"] == "6.1.0-56-amd64"
    after = install(bare, result)
    assert after["source"] == "database" and after["digest"] == prober["facts"]["digest"]
    assert after["snapshot"]["db_key"] == "GenuineIntel/306c3/0/2b/1000"
    assert (
        "the fleet database served for CPU GenuineIntel/306c3/0 (key GenuineIntel/306c3/0/2b/1000"
        in after["reason"]
    )
    # The next run: the probe is already there, the host is served the same, nothing changes.
    again = fleetplay.run_round(str(db), [prober, host(tmp_path, "h2b")])
    assert again["already"] == ["h1"] and not again["changed"]


def test_a_served_snapshot_edited_by_hand_is_not_database_any_more(tmp_path: Path) -> None:
    db = tmp_path / "db"
    bare = host(tmp_path, "h2")
    result = fleetplay.run_round(str(db), [host(tmp_path, "h1", probe=BOCHS), bare])
    install(bare, result)
    snap = Path(under(bare["_root"], STATE_DIR)) / "vmcsinfo"
    snap.write_text(variant(layout="b"))
    f = gather(bare["_root"], STATE_DIR, lambda *_: None)
    assert f["source"] == "snapshot" and "edited since it was served" in f["reason"]


def test_a_text_whose_digest_is_not_the_databases_is_refused(tmp_path: Path) -> None:
    bare = host(tmp_path, "h2")
    snap, orig = state_paths(under(bare["_root"], STATE_DIR))
    with pytest.raises(SnapshotFailure, match="changed on its way from the database"):
        present(
            {
                "content": BOCHS,
                "source": "fleet database (exact)",
                "validate_cpu": True,
                "origin": "database",
                "db_key": "GenuineIntel/306c3/0/2b/1000",
                "digest": "0" * 64,
            },
            snap,
            orig,
            root=bare["_root"],
        )
    assert not Path(snap).exists()


def test_conflict_flags_the_producers_and_the_hosts_that_ask(tmp_path: Path) -> None:
    db = tmp_path / "db"
    result = fleetplay.run_round(
        str(db),
        [
            host(tmp_path, "h1", probe=BOCHS),
            host(tmp_path, "h2", probe=variant(layout="b")),
            host(tmp_path, "h3"),
        ],
    )
    hosts = result["hosts"]
    assert sorted(result["conflicts"]) == ["h1", "h2"]
    for name in ("h1", "h2"):
        assert (
            hosts[name]["conflict"]
            and "is in conflict: 2 layouts" in hosts[name]["conflict_reason"]
        )
        assert "probe h1" in hosts[name]["conflict_reason"]
        assert "probe h2" in hosts[name]["conflict_reason"]
    assert hosts["h3"]["action"] == "unserved" and hosts["h3"]["conflict"]
    assert not hosts["h3"]["served"] and hosts["h3"]["text"] is None


def test_microcode_drift_is_recorded_and_evidence_serves_a_third(tmp_path: Path) -> None:
    db = tmp_path / "db"
    fleetplay.run_round(str(db), [host(tmp_path, "h1", probe=BOCHS)])
    second = fleetplay.run_round(
        str(db), [host(tmp_path, "h2", probe=variant(microcode=0x28), microcode="0x28")]
    )
    change = second["hosts"]["h2"]["microcode_change"]
    assert change["from_microcode"] == "0" and change["to_microcode"] == "28"
    assert change["layout_changed"] is False and second["microcode_changes"] == [change]
    # A host on microcode 0x2a: not in the database, but two revisions agree.
    third = host(tmp_path, "h3", microcode="0x2a")
    served = fleetplay.run_round(str(db), [third])["hosts"]["h3"]
    assert served["action"] == "served" and served["basis"] == "other-microcode"
    # Installed, it is not stale: it was served for microcode 0x2a, which runs.
    after = install(third, fleetplay.run_round(str(db), [third]))
    assert after["source"] == "database" and not after["stale"], after["stale_reason"]
    assert after["snapshot"]["served_for"] == "GenuineIntel/306c3/2a"
    # A microcode update later (0x2b): stale, saying for what it was served.
    Path(third["_root"], "proc/cpuinfo").write_text(cpuinfo(microcode="0x2b"))
    later = gather(third["_root"], STATE_DIR, lambda *_: None)
    assert (
        later["stale"] and "served for CPU microcode 2a, this CPU's is 2b" in later["stale_reason"]
    )
    strict = fleetplay.run_round(str(db), [third], strict=True)["hosts"]["h3"]
    assert strict["action"] == "unserved" and "--strict" in strict["reason"]
    # the host's own setting wins over the round's, both ways
    own = fleetplay.run_round(str(db), [{**third, "strict": True}])["hosts"]["h3"]
    assert own["action"] == "unserved"
    lax = fleetplay.run_round(str(db), [{**third, "strict": False}], strict=True)["hosts"]["h3"]
    assert lax["action"] == "served"


def test_stale_probe_contributes_under_its_own_microcode(tmp_path: Path) -> None:
    # Probed with microcode 0, running 0x28 now: the facts say stale.
    h = host(tmp_path, "h1", microcode="0x28", snapshot=BOCHS, origin=PROBE_ORIGIN)
    assert h["facts"]["stale"] and h["facts"]["source"] == "snapshot"
    result = fleetplay.run_round(str(tmp_path / "db"), [h])
    mine = result["hosts"]["h1"]
    assert mine["action"] == "contributed" and mine["stale"]
    assert mine["db_key"] == "GenuineIntel/306c3/0/2b/1000"


def test_supplied_is_kept_amd_skipped_bad_text_fails_only_its_host(tmp_path: Path) -> None:
    kept = host(tmp_path, "h1", snapshot=BOCHS, origin=SUPPLIED_ORIGIN)
    amd = host(tmp_path, "h2")
    amd["facts"]["cpu"]["vendor"] = "AuthenticAMD"
    bad = host(tmp_path, "h3", probe=BOCHS)
    bad["text"] = "VMCSINFO_FORMAT=1\nREVISION_ID=zz\n"
    good = host(tmp_path, "h4", probe=BOCHS)
    result = fleetplay.run_round(str(tmp_path / "db"), [kept, amd, bad, good])
    hosts = result["hosts"]
    assert hosts["h1"]["action"] == "keep" and "ops" in hosts["h1"]["reason"]
    assert hosts["h2"]["action"] == "skip"
    assert hosts["h3"]["action"] == "failed" and "not valid" in hosts["h3"]["reason"]
    assert hosts["h4"]["action"] == "contributed"


def test_the_platform_id_the_facts_read_is_in_the_provenance(tmp_path: Path) -> None:
    report = host(tmp_path, "h1", probe=BOCHS)
    report["facts"]["cpu"]["platform_id"] = 1  # as read_cpu gives it (MSR 0x17 bits 52:50)
    fleetplay.run_round(str(tmp_path / "db"), [report])
    index = json.loads((tmp_path / "db" / "index.json").read_text())
    (rec,) = index["keys"]["GenuineIntel/306c3/0/2b/1000"]["digests"][parse(BOCHS).digest()][
        "provenance"
    ]
    assert rec["platform_id"] == "1"


def test_serve_as_serves_the_lab_vm_a_cpu_it_is_not(tmp_path: Path) -> None:
    db = tmp_path / "db"
    fleetdb.merge(str(db), [(BOCHS, {"kind": "seed", "source": "Bochs 2.7 corei7_haswell_4770"})])
    vm = host(tmp_path, "lab-vm")
    vm["facts"]["cpu"].update(vendor="AuthenticAMD", signature=0xA20F12, microcode=0x1)
    assert fleetplay.run_round(str(db), [vm])["hosts"]["lab-vm"]["action"] == "skip"
    vm["serve_as"] = {"vendor": "GenuineIntel", "signature": "306c3", "microcode": "0"}
    result = fleetplay.run_round(str(db), [vm])
    mine = result["hosts"]["lab-vm"]
    assert mine["action"] == "served" and "served as vendor GenuineIntel" in mine["reason"]
    assert install(vm, result)["source"] == "database"


def test_check_mode_writes_nothing(tmp_path: Path) -> None:
    db = tmp_path / "db"
    result = fleetplay.run_round(
        str(db), [host(tmp_path, "h1", probe=BOCHS), host(tmp_path, "h2")], check_mode=True
    )
    assert not db.exists() and not result["changed"]
    assert result["hosts"]["h1"]["contributed"] == "would"
    assert result["hosts"]["h2"]["action"] == "unserved"


def test_corrupt_index_fails_the_round_and_names_it(tmp_path: Path) -> None:
    db = tmp_path / "db"
    fleetdb.merge(str(db), [(BOCHS, {"kind": "seed"})])
    index = db / "index.json"
    index.write_text(index.read_text().replace('"format": 1', '"format": 9'))
    before = index.read_bytes()
    with pytest.raises(fleetdb.FleetDbError, match=r"index\.json"):
        fleetplay.run_round(str(db), [host(tmp_path, "h1", probe=variant(microcode=1))])
    assert index.read_bytes() == before


def test_a_fleet_reporting_the_same_again_changes_nothing_not_even_a_conflict(
    tmp_path: Path,
) -> None:
    db = tmp_path / "db"
    fleet = [
        host(tmp_path, "h1", probe=BOCHS),
        host(tmp_path, "h2", probe=variant(layout="b")),
        host(tmp_path, "h3", probe=variant(microcode=0x28), microcode="0x28"),
    ]
    assert fleetplay.run_round(str(db), fleet)["changed"]
    index = (db / "index.json").read_bytes()
    mtime = (db / "index.json").stat().st_mtime_ns
    again = fleetplay.run_round(str(db), fleet)
    assert not again["changed"] and sorted(again["conflicts"]) == ["h1", "h2"]
    assert (db / "index.json").read_bytes() == index
    assert (db / "index.json").stat().st_mtime_ns == mtime  # not even rewritten
    # one more host with a layout already there: a provenance record, a change
    assert fleetplay.run_round(str(db), [host(tmp_path, "h4", probe=BOCHS)])["changed"]
