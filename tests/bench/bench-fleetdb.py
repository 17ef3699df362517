#!/usr/bin/env python3
"""make bench-fleetdb: the fleet database (module_utils/fleetdb.py, issue 12) at fleet
scale, printed as numbers (a benchmark, not a pass/fail test: the exit status is non-zero
only when it cannot run).

For N = 1000, 2000, 5000, 10000 synthetic hosts (each N in a process of its own, so that
its peak RSS is its own), with the real merge() and serve():

  merge     the facts of the hosts that probed (70 %) into a fresh database: one merge()
            per play, as deploy.yml does, with a provenance record per host
  serve     the hosts without a probe (30 %): Db.load() once, then serve() per host
  serve-all every host of the fleet served (the issue's "serving all of them")
  re-merge  the same play run again: the same probes merged into the database they made
            (nothing new; the index of N provenance records read and written again)

each timed with time.perf_counter (best of --repeat runs, fresh database each), with
index.json's size and the process's peak RSS (resource.getrusage); then the per-host cost
of 10000 hosts against 1000, which must stay flat.

The fleet (seeded, the same every run): 40 Intel CPU models (real family-6 model numbers)
x 3 microcode revisions. Every text is a real probed one, the Bochs 2.7 Haswell probe
(build/vmx/corei7_haswell_4770/vmcsinfo when `make vmx-probe` made it, else the unit
tests' fixture of it), with its CPU_SIGNATURE and MICROCODE lines changed; for 10 models
two fields' offsets are swapped (another layout, another digest). Hosts are spread over
the models unevenly (a few popular models, a long tail) and over the microcodes (older
ones rarer). Mixed in, as a real fleet has them:
  - drift: every model's microcode revisions arrive in the one merge (microcode_changes
    records); on one model the newest microcode changes the layout;
  - a conflict: 3 hosts of one model and microcode report another layout (a BIOS or
    firmware difference), so that key is never served;
  - served hosts running a microcode nobody probed (5 %): served from the other
    microcodes' one layout with evidence, or refused where the layout changed;
  - served hosts of a CPU the fleet never probed (2 %): unknown.

  .venv/bin/python tests/bench/bench-fleetdb.py [--sizes 1000,2000,5000,10000] [--repeat 3]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

TOP = Path(__file__).resolve().parents[2]
COLL = TOP / "collections"
sys.path.insert(0, str(COLL))

from ansible_collections.fujitsu.vmcsinfo.plugins.module_utils import fleetdb  # noqa: E402
from ansible_collections.fujitsu.vmcsinfo.plugins.module_utils.vmcsinfo import (  # noqa: E402
    parse,
)

PROBED = TOP / "build/vmx/corei7_haswell_4770/vmcsinfo"
FIXTURE = (
    COLL / "ansible_collections/fujitsu/vmcsinfo/tests/unit/fixtures/"
    "bochs-2.7-corei7_haswell_4770.vmcsinfo"
)
SEED = 12
VENDOR = "GenuineIntel"
# Real Intel family 6 model numbers, Nehalem to Sapphire Rapids.
MODELS = (
    0x1A, 0x1E, 0x25, 0x2A, 0x2C, 0x2D, 0x2E, 0x2F, 0x3A, 0x3C,
    0x3D, 0x3E, 0x3F, 0x45, 0x46, 0x47, 0x4E, 0x4F, 0x55, 0x56,
    0x5E, 0x66, 0x6A, 0x6C, 0x7D, 0x7E, 0x8A, 0x8C, 0x8D, 0x8E,
    0x8F, 0x96, 0x97, 0x9A, 0x9C, 0x9E, 0xA5, 0xA6, 0xA7, 0xAA,
)  # fmt: skip
PROBE_SHARE = 0.70
NEW_MICROCODE_SHARE = 0.05
UNKNOWN_CPU_SHARE = 0.02
CONFLICT_HOSTS = 3
KERNELS = ("6.1.0-57-amd64", "6.12.117+deb12-amd64")


def base_text() -> tuple[str, str]:
    for path in (PROBED, FIXTURE):
        try:
            text = path.read_text(encoding="ascii")
            parse(text)
        except (OSError, ValueError):
            continue
        return text, str(path.relative_to(TOP))
    sys.exit(f"bench-fleetdb: no probed VMCSINFO text ({PROBED} or {FIXTURE})")


def signature(model: int, stepping: int) -> int:
    """CPUID.1:EAX for family 6: extended model, family, model, stepping."""
    return (model >> 4) << 16 | 6 << 8 | (model & 0xF) << 4 | stepping


class Texts:
    """The probed text of a CPU (signature, microcode) in one of the layouts: variant 0 is
    the probe's own; variant v > 0 swaps the offsets of two 64-bit FIELD lines (pair v)."""

    def __init__(self, text: str) -> None:
        self.lines = text.splitlines()
        info = parse(text)
        widths = {f.name: f.width for f in info.fields}
        self.wide = [
            i
            for i, line in enumerate(self.lines)
            if line.startswith("FIELD(") and widths.get(line[6 : line.index(")")]) == 64
        ]
        self.cache: dict[tuple[int, int, int], str] = {}

    def get(self, sig: int, microcode: int, variant: int) -> str:
        k = (sig, microcode, variant)
        if k not in self.cache:
            lines = list(self.lines)
            for i, line in enumerate(lines):
                if line.startswith("CPU_SIGNATURE="):
                    lines[i] = f"CPU_SIGNATURE={sig:x}"
                elif line.startswith("MICROCODE="):
                    lines[i] = f"MICROCODE={microcode:x}"
            if variant:
                a, b = self.wide[2 * variant - 2], self.wide[2 * variant - 1]
                (na, va), (nb, vb) = lines[a].split("="), lines[b].split("=")
                lines[a], lines[b] = f"{na}={vb}", f"{nb}={va}"
            text = "\n".join(lines) + "\n"
            parse(text)  # every synthetic text is one the parser takes
            self.cache[k] = text
        return self.cache[k]


def fleet(n: int, texts: Texts) -> tuple[list, list, dict]:
    """(probes: [(text, provenance)], served: [Query], facts about the fleet)."""
    rng = random.Random(SEED)
    cpus = []
    for i, model in enumerate(MODELS):
        sig = signature(model, rng.randrange(10))
        base = rng.randrange(0x10, 0xF0)
        microcodes = sorted({base, base + rng.randrange(1, 8), base + rng.randrange(8, 20)})
        variant = 1 + i // 4 if i % 4 == 3 else 0  # 10 models with a layout of their own
        cpus.append((sig, microcodes, variant))
    drift_cpu, conflict_cpu = 0, 1  # model 0: the newest microcode changes the layout
    weights = [1 / (r + 1) ** 0.8 for r in range(len(cpus))]
    probes, served = [], []
    conflicts_left = CONFLICT_HOSTS
    for h in range(n):
        c = rng.choices(range(len(cpus)), weights)[0]
        sig, microcodes, variant = cpus[c]
        mc = rng.choices(microcodes, (2, 3, 5))[0]
        if rng.random() < PROBE_SHARE:
            v = variant
            if c == drift_cpu and mc == microcodes[-1]:
                v = 11
            elif c == conflict_cpu and mc == microcodes[1] and conflicts_left and h % 7 == 0:
                v, conflicts_left = 12, conflicts_left - 1
            # A copy per host, as each host's facts arrive (JSON from the host).
            text = (texts.get(sig, mc, v) + "#")[:-1]
            prov = {
                "host": f"kvm{h:05d}",
                "source": "deploy.yml",
                "kind": "probe",
                "kernel": KERNELS[h % 2],
                "module_version": "0.1.0",
                "platform_id": f"{1 << (h % 3):x}",
            }
            probes.append((text, prov))
        else:
            r = rng.random()
            if r < UNKNOWN_CPU_SHARE:
                sig, mc = signature(0xBE, 0), 0x1
            elif r < UNKNOWN_CPU_SHARE + NEW_MICROCODE_SHARE:
                mc = microcodes[-1] + 0x40
            served.append(fleetdb.Query(VENDOR, sig, mc))
    every = [fleetdb.Query(VENDOR, parse_sig(t), parse_mc(t)) for t, _ in probes] + served
    return probes, served, {"every": every, "cpus": len(cpus)}


def parse_sig(text: str) -> int:
    return int(text.split("CPU_SIGNATURE=", 1)[1].split("\n", 1)[0], 16)


def parse_mc(text: str) -> int:
    return int(text.split("MICROCODE=", 1)[1].split("\n", 1)[0], 16)


class FsyncClock:
    """os.fsync timed (the merge's entry files, index and directories): the part of a
    merge that is the disk's, not the code's."""

    def __init__(self) -> None:
        self.seconds = 0.0
        self.calls = 0
        self._fsync = os.fsync
        os.fsync = self

    def __call__(self, fd: int) -> None:
        t0 = time.perf_counter()
        try:
            self._fsync(fd)
        finally:
            self.seconds += time.perf_counter() - t0
            self.calls += 1


def rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def serve_all(db_dir: str, queries: list) -> tuple[float, float, Counter, Counter]:
    """(total seconds with the load, load seconds, decisions, seconds per decision)."""
    clock = time.perf_counter
    t0 = clock()
    db = fleetdb.Db.load(db_dir)
    t_load = clock() - t0
    outcomes: Counter = Counter()
    spent: Counter = Counter()
    for q in queries:
        t1 = clock()
        d = fleetdb.serve(db, q)
        what = d.action if d.basis is None else f"{d.action} ({d.basis})"
        spent[what] += clock() - t1
        outcomes[what] += 1
    return clock() - t0, t_load, outcomes, spent


def one(n: int, repeat: int, profile: str | None) -> dict:
    """One fleet size, in this process: the numbers as a dict."""
    text, origin = base_text()
    texts = Texts(text)
    probes, served, facts = fleet(n, texts)
    rss_fleet = rss_mb()
    out: dict = {"n": n, "origin": origin, "probes": len(probes), "served": len(served)}
    runs: dict[str, list[float]] = {
        k: [] for k in ("merge", "merge_fsync", "serve", "load", "all", "remerge")
    }
    fsync = FsyncClock()
    with tempfile.TemporaryDirectory(prefix="bench-fleetdb.") as work:
        for r in range(repeat):
            db_dir = os.path.join(work, f"db{r}")
            fsync.seconds, fsync.calls = 0.0, 0
            t0 = time.perf_counter()
            result = fleetdb.merge(db_dir, probes)
            runs["merge"].append(time.perf_counter() - t0)
            runs["merge_fsync"].append(fsync.seconds)
            out["merge_fsyncs"] = fsync.calls
            t, t_load, outcomes, _ = serve_all(db_dir, served)
            runs["serve"].append(t)
            runs["load"].append(t_load)
            t, _, outcomes_all, spent = serve_all(db_dir, facts["every"])
            runs["all"].append(t)
            if t == min(runs["all"]):
                out["us_per_call"] = {k: spent[k] / c * 1e6 for k, c in outcomes_all.items()}
            t0 = time.perf_counter()
            again = fleetdb.merge(db_dir, probes)
            runs["remerge"].append(time.perf_counter() - t0)
        if profile:
            import cProfile

            pr = cProfile.Profile()
            pr.runcall(fleetdb.merge, os.path.join(work, "profiled"), probes)
            pr.dump_stats(f"{profile}-merge.prof")
            pr = cProfile.Profile()
            pr.runcall(serve_all, db_dir, facts["every"])
            pr.dump_stats(f"{profile}-serve.prof")
        index = json.loads(Path(db_dir, fleetdb.INDEX).read_text())
        out["index_bytes"] = os.path.getsize(os.path.join(db_dir, fleetdb.INDEX))
        out["entry_files"] = sum(len(f) for _, _, f in os.walk(os.path.join(db_dir, "entries")))
    for k, v in runs.items():
        out[k] = min(v)
        out[k + "_median"] = statistics.median(v)
    out["keys"] = len(index["keys"])
    out["digests"] = len({d for k in index["keys"].values() for d in k["digests"]})
    out["provenance"] = sum(
        len(d["provenance"]) for k in index["keys"].values() for d in k["digests"].values()
    )
    out["conflict_keys"] = len(index["conflicts"])
    out["microcode_changes"] = len(index["microcode_changes"])
    out["layout_changed"] = sum(c["layout_changed"] for c in index["microcode_changes"])
    out["merge_result"] = {
        "added": len(result.added),
        "already": len(result.already),
        "conflicts": len(result.conflicts),
    }
    out["remerge_added"] = len(again.added)
    out["outcomes"] = dict(sorted(outcomes.items()))
    out["outcomes_all"] = dict(sorted(outcomes_all.items()))
    out["rss_fleet_mb"] = rss_fleet
    out["rss_peak_mb"] = rss_mb()
    return out


def per_host_us(seconds: float, hosts: int) -> float:
    return seconds / hosts * 1e6 if hosts else 0.0


def report(rows: list[dict], repeat: int) -> None:
    first = rows[0]
    print(f"bench-fleetdb: texts from {first['origin']} (a real Bochs 2.7 probe), "
          f"{len(MODELS)} CPU models x 3 microcode revisions, seed {SEED}")  # fmt: skip
    print(f"bench-fleetdb: best of {repeat} runs per size, each on a fresh database; "
          "per host = total / hosts of that phase")  # fmt: skip
    print()
    hdr = (
        f"{'hosts':>6} {'probe':>6} {'served':>6} | {'merge s':>8} {'us/host':>8} | "
        f"{'serve s':>8} {'us/host':>8} | {'all s':>7} {'us/host':>8} | "
        f"{'re-merge':>8} {'us/host':>8} | {'index KB':>9} {'RSS MB':>7} {'(fleet)':>7}"
    )
    print(hdr)
    print("-" * len(hdr))
    for r in rows:
        print(
            f"{r['n']:>6} {r['probes']:>6} {r['served']:>6} | "
            f"{r['merge']:>8.3f} {per_host_us(r['merge'], r['probes']):>8.1f} | "
            f"{r['serve']:>8.3f} {per_host_us(r['serve'], r['served']):>8.1f} | "
            f"{r['all']:>7.3f} {per_host_us(r['all'], r['n']):>8.1f} | "
            f"{r['remerge']:>8.3f} {per_host_us(r['remerge'], r['probes']):>8.1f} | "
            f"{r['index_bytes'] / 1024:>9.0f} {r['rss_peak_mb']:>7.0f} {r['rss_fleet_mb']:>7.0f}"
        )
    print()
    print("RSS MB: the process's peak; (fleet): its peak before the first merge, with the")
    print("synthetic facts of every host in memory (one text copy per probing host)")
    print("merge s includes its fsyncs (entry files, index, directories); fsync alone:")
    print(
        "  "
        + ", ".join(
            f"{r['n']}: {r['merge_fsync'] * 1e3:.0f} ms ({r['merge_fsyncs']} calls)" for r in rows
        )
    )
    print("serve s includes Db.load() of index.json (once per play); load alone:")
    print("  " + ", ".join(f"{r['n']}: {r['load'] * 1e3:.1f} ms" for r in rows))
    print()
    for r in rows:
        print(
            f"{r['n']:>6} hosts: {r['keys']} keys, {r['digests']} digests, "
            f"{r['entry_files']} entry files, {r['provenance']} provenance records, "
            f"{r['conflict_keys']} conflict key(s), {r['microcode_changes']} microcode changes "
            f"({r['layout_changed']} changed the layout); merge: {r['merge_result']}; "
            f"re-merge added {r['remerge_added']}"
        )
        print(f"{'':>13}served: {r['outcomes']}")
        print(f"{'':>13}all:    {r['outcomes_all']}")
        calls = ", ".join(f"{k} {v:.0f}" for k, v in sorted(r["us_per_call"].items()))
        print(f"{'':>13}serve() us per call (all, first calls check the entry): {calls}")
    small = next((r for r in rows if r["n"] == 1000), rows[0])
    big = next((r for r in rows if r["n"] == 10000), rows[-1])
    if small is big:
        return
    print()

    def ratio(phase: str, hosts: str) -> float:
        a = per_host_us(small[phase], small[hosts])
        b = per_host_us(big[phase], big[hosts])
        return b / a if a else float("nan")

    label = f"{big['n']}/{small['n']}"
    for phase, hosts, what in (
        ("merge", "probes", "merge"),
        ("serve", "served", "serve (Db.load + serve())"),
        ("all", "n", "serve all hosts"),
        ("remerge", "probes", "re-merge"),
    ):
        print(f"per-host {what} ratio ({label}): {ratio(phase, hosts):.2f}")
    print(f"marginal cost per added host ({small['n']} -> {big['n']} hosts):")
    for phase, hosts, what in (
        ("merge", "probes", "merge"),
        ("serve", "served", "serve"),
        ("all", "n", "serve all"),
        ("remerge", "probes", "re-merge"),
    ):
        extra = big[hosts] - small[hosts]
        print(f"  {what}: {per_host_us(big[phase] - small[phase], extra):.1f} us/host")
    total_small = (small["merge"] + small["serve"]) / small["n"]
    total_big = (big["merge"] + big["serve"]) / big["n"]
    x = total_big / total_small
    print(f"per-host cost ratio ({label}): {x:.2f} (flat if <= 1.5)")
    print("  (merge of the probing hosts + serve of the others, per host of the fleet)")


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0])
    p.add_argument("--sizes", default="1000,2000,5000,10000", help="fleet sizes, comma-separated")
    p.add_argument("--repeat", type=int, default=3, help="runs per size (best is shown)")
    p.add_argument("--one", type=int, help=argparse.SUPPRESS)
    p.add_argument(
        "--profile",
        metavar="PREFIX",
        help="with --one N: cProfile of a merge and of serve-all into PREFIX-{merge,serve}.prof",
    )
    args = p.parse_args()
    if args.one:
        json.dump(one(args.one, args.repeat, args.profile), sys.stdout)
        return 0
    sizes = [int(s) for s in args.sizes.split(",")]
    rows = []
    for n in sizes:
        t0 = time.perf_counter()
        proc = subprocess.run(
            [sys.executable, __file__, "--one", str(n), "--repeat", str(args.repeat)],
            capture_output=True,
            text=True,
            check=False,
        )
        if proc.returncode:
            sys.stderr.write(proc.stderr)
            print(f"bench-fleetdb: N={n} failed (exit {proc.returncode})", file=sys.stderr)
            return 1
        rows.append(json.loads(proc.stdout))
        print(f"bench-fleetdb: N={n} done in {time.perf_counter() - t0:.1f} s", file=sys.stderr)
    report(rows, args.repeat)
    return 0


if __name__ == "__main__":
    sys.exit(main())
