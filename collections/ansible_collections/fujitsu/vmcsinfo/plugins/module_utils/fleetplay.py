# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""One round of the fleet database in a play (issue 12): the probes of a batch of hosts
merged into the database on the controller, and the hosts without a probe of their own
served from it. The logic of plugins/modules/vmcsinfo_db.py (its documentation and a thin
main); the vmcsinfo_db role calls that module once per batch (run_once), so a play costs
one lock and one index write, O(hosts).

A host's report (what the role sends, per host): `host`, `facts` (its vmcsinfo facts:
source, cpu, snapshot, stale, kernel, module), `text` (the VMCSINFO text its layout came
from, byte for byte, or null), `serve_as` (the CPU identity the inventory says to serve
it as: vendor, signature, microcode; else null) and `strict` (the host's own setting;
null: the round's).

plan() is the decision table (one test per row in test_fleetplay.py):

  facts                                                 plan
  ----------------------------------------------------- -----------------------------------
  CPU vendor unknown, or not GenuineIntel (no serve_as) skip: VMCSINFO does not apply
  source probe                                          contribute (its own probe)
  source snapshot, origin probe                         contribute (an earlier probe of
                                                        its own; a stale one too, under
                                                        the microcode it was probed with)
  source snapshot, origin supplied                      keep (the operator supplied it:
                                                        vmcsinfo_load_supplied_vmcsinfo)
  source database                                       serve (again: the database may
                                                        have changed, or found a conflict)
  source snapshot of unknown origin, or source none     serve
  CPU signature or microcode unknown (no serve_as)      unserved: nothing to look up by

Serving uses fleetdb.serve() (exact key, or other microcode only with evidence, never a
conflict or a partial entry); `strict` is CONTRACT 5's --strict.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from ansible_collections.fujitsu.vmcsinfo.plugins.module_utils.fleetdb import (
    CONFLICT,
    SERVE,
    Db,
    FleetDbError,
    Key,
    Query,
    describe_conflict,
    merge,
    serve,
    user_hex,
)
from ansible_collections.fujitsu.vmcsinfo.plugins.module_utils.hoststate import (
    DATABASE,
    PROBE,
    SUPPLIED,
)
from ansible_collections.fujitsu.vmcsinfo.plugins.module_utils.vmcsinfo import (
    VmcsinfoError,
    parse,
)

INTEL = "GenuineIntel"

# Plans
CONTRIBUTE, SERVE_PLAN, KEEP, SKIP = "contribute", "serve", "keep", "skip"


def plan(facts: Mapping, serve_as: Mapping | None = None) -> tuple[str, str]:
    """(plan, why) for one host: the table in the module docstring."""
    source = facts.get("source")
    origin = (facts.get("snapshot") or {}).get("origin")
    vendor = (facts.get("cpu") or {}).get("vendor")
    if source == "probe":
        return CONTRIBUTE, "its own probe (the vmcsinfo module's sysfs file)"
    if source == "snapshot" and origin == PROBE:
        stale = " (stale: " + facts["stale_reason"] + ")" if facts.get("stale") else ""
        return CONTRIBUTE, f"an earlier probe of its own (the snapshot){stale}"
    if not serve_as and vendor != INTEL:
        return SKIP, (
            f"CPU vendor {vendor} has no Intel VMX: VMCSINFO does not apply"
            if vendor
            else "the CPU vendor is unknown (no vendor_id in /proc/cpuinfo)"
        )
    if source == "snapshot" and origin == SUPPLIED:
        src = (facts.get("snapshot") or {}).get("source") or "an unnamed source"
        return KEEP, f"a VMCSINFO the operator supplied ({src}) is kept over the database"
    if source == DATABASE:
        return SERVE_PLAN, "served from the database before: served again"
    if source == "snapshot":
        return SERVE_PLAN, "a snapshot of unknown origin (no vmcsinfo.origin): served"
    return SERVE_PLAN, "no VMCSINFO of its own"


def query_of(facts: Mapping, serve_as: Mapping | None) -> tuple[Query | None, str]:
    """(query, problem): what a host is looked up by (its CPU, or serve_as)."""
    if serve_as:
        try:
            vendor = str(serve_as["vendor"])
            sig = user_hex(str(serve_as["signature"]), "serve_as.signature")
            mc = user_hex(str(serve_as["microcode"]), "serve_as.microcode")
            rev = serve_as.get("revision_id")
            rev = None if rev in (None, "") else user_hex(str(rev), "serve_as.revision_id")
        except KeyError as e:
            return None, f"serve_as has no {e.args[0]}: give vendor, signature and microcode"
        except FleetDbError as e:
            return None, str(e)
        return Query(vendor, sig, mc, rev), ""
    cpu = facts.get("cpu") or {}
    if cpu.get("signature") is None or cpu.get("microcode") is None:
        return None, "its CPU signature or microcode is unknown (/proc/cpuinfo): nothing to look up"
    rev = cpu.get("revision_id")
    return Query(cpu["vendor"], int(cpu["signature"]), int(cpu["microcode"]), rev), ""


def _provenance(report: Mapping, source: str) -> dict:
    facts = report.get("facts") or {}
    snap = facts.get("snapshot") or {}
    mod = facts.get("module") or {}
    kernel = facts.get("kernel") if facts.get("source") == "probe" else snap.get("kernel")
    prov = {
        "kind": "probe",
        "host": str(report["host"]),
        "source": source,
        "kernel": kernel,
        "module_version": mod.get("version"),
        "label": f"host {report['host']}",
    }
    platform = (facts.get("cpu") or {}).get("platform_id")
    if platform is not None:
        prov["platform_id"] = platform
    return prov


def _host_result(report: Mapping, how: str, why: str) -> dict:
    facts = report.get("facts") or {}
    return {
        "plan": how,
        "why": why,
        "contributed": None,
        "served": False,
        "action": how if how in (KEEP, SKIP) else None,
        "text": None,
        "db_key": None,
        "digest": None,
        "basis": None,
        "served_for": None,
        "reason": why,
        "conflict": False,
        "conflict_reason": "",
        "stale": bool(facts.get("stale")),
        "stale_reason": facts.get("stale_reason") or "",
        "microcode_change": None,
    }


def run_round(
    db_dir: str,
    reports: Sequence[Mapping],
    *,
    strict: bool = False,
    check_mode: bool = False,
    source: str = "deploy.yml",
) -> dict:
    """Merge the batch's probes (one merge), then serve the others from the database as it
    is after the merge. Returns {changed, hosts: {host: result}, added, already,
    conflicts, microcode_changes, msg}. A text a host sent that the parser rejects is that
    host's failure (`action` failed), never the batch's. Raises FleetDbError for what
    concerns the whole database (corrupt index, cannot lock or write)."""
    hosts: dict[str, dict] = {}
    items: list[tuple[str, dict]] = []
    item_host: list[str] = []
    to_serve: list[tuple[str, Mapping, Mapping | None, bool]] = []
    for report in reports:
        name = str(report["host"])
        facts = report.get("facts") or {}
        serve_as = report.get("serve_as") or None
        how, why = plan(facts, serve_as)
        res = hosts[name] = _host_result(report, how, why)
        if how == CONTRIBUTE:
            text = report.get("text")
            if not isinstance(text, str):
                res.update(action="failed", reason=f"its VMCSINFO text was not read: {why}")
                continue
            try:
                info = parse(text)
            except VmcsinfoError as e:
                res.update(action="failed", reason=f"its VMCSINFO text is not valid: {e}")
                continue
            items.append((text, _provenance(report, source)))
            item_host.append(name)
            res.update(db_key=Key.of(info).id, digest=info.digest())
        elif how == SERVE_PLAN:
            own = report.get("strict")
            to_serve.append((name, facts, serve_as, strict if own is None else bool(own)))

    added, already, conflicts, changes = [], [], [], []
    changed = False
    if items and not check_mode:
        result = merge(db_dir, items)
        for bucket, outcomes in (
            ("added", result.added),
            ("already", result.already),
            ("conflict", result.conflicts),
        ):
            for o in outcomes:
                name = item_host[o.item]
                hosts[name].update(
                    contributed=bucket,
                    action="contributed",
                    db_key=o.key.id,
                    digest=o.digest,
                    reason=f"{hosts[name]['why']}: {bucket} as {o.key.id} {o.digest[:12]}",
                )
                {"added": added, "already": already, "conflict": conflicts}[bucket].append(name)
        changed = result.changed
        for n, change in result.drift:
            name = item_host[n]
            hosts[name]["microcode_change"] = change
            changes.append(change)
    elif items:
        for name in item_host:
            res = hosts[name]
            res.update(
                contributed="would",
                action="contributed",
                reason=f"{res['why']}: would be added as {res['db_key']} {res['digest'][:12]} "
                "(check mode)",
            )

    db = Db.load(db_dir, must_exist=False) if (to_serve or conflicts) else None
    for name in conflicts:
        res = hosts[name]
        key = next(k for k in db.keys() if k.id == res["db_key"])
        res.update(conflict=True, conflict_reason=describe_conflict(db, key))
    for name, facts, serve_as, host_strict in to_serve:
        res = hosts[name]
        query, problem = query_of(facts, serve_as)
        if query is None:
            res.update(action="unserved", reason=problem)
            continue
        decision = serve(db, query, host_strict)
        if decision.action == SERVE and decision.key is not None:
            res.update(
                action="served",
                served=True,
                text=decision.text,
                db_key=decision.key.id,
                digest=decision.digest,
                basis=decision.basis,
                served_for=f"{query.vendor}/{query.signature:x}/{query.microcode:x}",
                reason=decision.reason + (f" (served as {query.describe()})" if serve_as else ""),
            )
        else:
            res.update(action="unserved", reason=f"{decision.action}: {decision.reason}")
            if decision.action == CONFLICT:
                res.update(conflict=True, conflict_reason=decision.reason)
    counts: dict[str, int] = {}
    for res in hosts.values():
        counts[res["action"]] = counts.get(res["action"], 0) + 1
    msg = ", ".join(f"{n} {a}" for a, n in sorted(counts.items())) or "no hosts"
    return {
        "changed": changed,
        "hosts": hosts,
        "added": added,
        "already": already,
        "conflicts": conflicts,
        "microcode_changes": changes,
        "msg": f"fleet database {db_dir}: {msg}",
    }
