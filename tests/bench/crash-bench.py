#!/usr/bin/env python3
"""make bench-crash: the speed of vmcsinfo-crash on a synthetic crash dump,
printed as numbers and ratios against the issue's targets (not a pass/fail
test: the exit status is non-zero only when the benchmark cannot run, or
with BENCH_STRICT=1 when a target is missed).

The dump: BENCH_CRASH_GIB GiB (default 4) of a host's memory made from a
seed, written once as an ELF vmcore and as a kdump-compressed file with
zlib pages (makedumpfile -c), both of the same memory, and cached under
build/bench-crash/<generator version, size, seed, digest of the mix>/.
Memory is made in 64-page runs: zero pages (35 %), random pages (40 %,
incompressible: stored uncompressed in the kdump file, as makedumpfile does
when zlib does not shrink a page) and compressible pages (25 %, from a
pool of 4096: text, tables of kernel pointers, sparse structures; zlib
level 1, as makedumpfile uses, makes them 2x, 6.5x and 21x smaller).
Planted in it: the module's VMCSINFO note (the Bochs Haswell fixture), 48
VMCSes of that layout (12 VMs of 4 vCPUs), 4 KVM vmcs12 pages, 16 VMCSes in
Volatility 3's own "haswell" layout (revision id 0x12), and decoys that
start like a VMCS of either layout but hold random bytes.

Measured in one run (page cache warmed first; each side 3 times, median):
  ELF scan rate vs `cat dump >/dev/null`     target ratio >= 0.8
  zlib scan time vs reading every page through drgn (libkdumpfile)
                                             target ratio <= 0.3
  peak RSS of each scan process              target < 300 MB
  VMCSes found == planted, false positives == 0
and Volatility 3's vmscan on the same ELF dump (time, found, false positives).
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import json
import os
import random
import re
import resource
import shutil
import statistics
import struct
import subprocess
import sys
import tempfile
import time
import zlib
from dataclasses import asdict, dataclass, field
from pathlib import Path

TOP = Path(__file__).resolve().parents[2]
COLL = TOP / "collections"
UNIT = COLL / "ansible_collections/fujitsu/vmcsinfo/tests/unit/plugins/module_utils"
sys.path.insert(0, str(COLL))
sys.path.insert(0, str(UNIT))

import dumpgen  # noqa: E402

from ansible_collections.fujitsu.vmcsinfo.plugins.module_utils.vmcsscan import (  # noqa: E402
    VMCS12,
)

PAGE = 4096
GEN_VERSION = 1  # bump when the memory or the file layout made here changes
CHUNK = 4096  # pages made and written at a time (16 MiB)
RUN = 64  # pages of one kind in a row
MIX = (("zero", 35), ("random", 40), ("compressible", 25))
POOL = 4096  # distinct compressible pages, each compressed once
SEED = 20260401
RUNS = 3
RSS_LIMIT = 300 * 1000 * 1000
ELF_TARGET = 0.8
ZLIB_TARGET = 0.3
VOLATILITY_PLUGIN = "vmscan.Vmscan"
# drgn reads memory DRGN_STEP bytes at a time: its fastest way (4 KiB reads,
# one per page, take about 10 % longer)
DRGN_STEP = 1 << 20

# Volatility 3's symbols/generic/vmcs/haswell-architecture.json (2.28.2):
# revision id 18 and the byte offsets of the fields its vmscan reads.
VOL_TABLE = "lib/python*/site-packages/volatility3/symbols/generic/vmcs/haswell-architecture.json"
VOL_HASWELL = {
    "revision_id": 0x12,
    "vpid": (206, 2),
    "vmcs_link_ptr": (248, 8),
    "ept": (320, 8),
    "guest_cr3": (528, 8),
    "guest_cr4": (536, 8),
    "host_cr3": (816, 8),
    "host_cr4": (824, 8),
}


def log(msg: str) -> None:
    print(f"bench-crash: {msg}", flush=True)


# -- the memory -----------------------------------------------------------------


@dataclass
class Plan:
    gib: float
    seed: int
    pages: int
    note_pfn: int
    l1: dict[int, dict[str, int]] = field(default_factory=dict)  # pfn: field values
    l2: dict[int, dict[str, int]] = field(default_factory=dict)
    vol: dict[int, dict[str, int]] = field(default_factory=dict)  # Volatility's layout
    decoys: dict[int, int] = field(default_factory=dict)  # pfn: revision id

    def ours(self) -> set[int]:
        """Physical addresses vmcsinfo-crash must report."""
        return {p * PAGE for p in (*self.l1, *self.l2)}

    def volatility(self) -> set[int]:
        return {p * PAGE for p in self.vol}


def make_plan(gib: float, seed: int) -> Plan:
    pages = int(gib * (1 << 30)) // PAGE // CHUNK * CHUNK
    if pages < 4 * CHUNK:
        raise SystemExit("bench-crash: BENCH_CRASH_GIB is too small (64 MiB at least)")
    rnd = random.Random(f"plan:{seed}")
    # Even pfns above the first MiB, spread over all of memory: none adjacent
    # (the note takes two pages).
    order = sorted(s * 2 for s in rnd.sample(range(128, pages // 2), 200))
    rnd.shuffle(order)
    it = iter(order)
    plan = Plan(gib, seed, pages, note_pfn=next(it))
    host_rip = 0xFFFFFFFFC0A1B2C0
    for vm in range(12):
        eptp = 0x100000000 + vm * 0x1000000
        cr3 = 0x10A2C000 + vm * 0x10000
        for cpu in range(4):
            values = dict(
                dumpgen.GUEST,
                EPT_POINTER=eptp | 0x5E,
                HOST_CR3=cr3,
                HOST_RIP=host_rip,
                HOST_RSP=0xFFFFC90000AB7F40 - (vm * 4 + cpu) * 0x4000,
                VIRTUAL_PROCESSOR_ID=vm * 4 + cpu + 1,
                GUEST_RIP=0x1004 + cpu * 0x10,
                GUEST_RSP=0x8000 - cpu * 0x100,
            )
            plan.l1[next(it)] = values
    for n in range(4):
        plan.l2[next(it)] = dict(
            dumpgen.GUEST,
            GUEST_RIP=0x7C00 + n,
            GUEST_RSP=0x6000,
            VIRTUAL_PROCESSOR_ID=0,
            HOST_RIP=0xFFFFFFFF81A00000,
            HOST_CR3=0x7654000 + n * 0x1000,
        )
    for n in range(16):
        plan.vol[next(it)] = {
            "vpid": n + 1,
            "vmcs_link_ptr": 0xFFFFFFFFFFFFFFFF,
            "ept": (0x200000000 + (n // 4) * 0x1000000) | 0x5E,
            "guest_cr3": 0x3000 + n * 0x1000,
            "guest_cr4": 0x2030,
            "host_cr3": 0x20A2C000 + (n // 4) * 0x10000,
            "host_cr4": 0x003726E0,
        }
    for _n in range(16):
        plan.decoys[next(it)] = dumpgen.BOCHS.revision_id
    for _n in range(16):
        plan.decoys[next(it)] = VOL_HASWELL["revision_id"]
    return plan


def vol_page(values: dict[str, int], rnd: random.Random) -> bytes:
    """A VMCS region in Volatility's haswell layout: its fields, random elsewhere."""
    page = bytearray(rnd.randbytes(PAGE))
    struct.pack_into("<II", page, 0, VOL_HASWELL["revision_id"], 0)
    for name, value in values.items():
        off, size = VOL_HASWELL[name]
        page[off : off + size] = value.to_bytes(size, "little")
    return bytes(page)


def planted_pages(plan: Plan) -> dict[int, bytes]:
    rnd = random.Random(f"planted:{plan.seed}")
    out: dict[int, bytes] = {}
    for i, p in enumerate(dumpgen.note_pages(dumpgen.BOCHS_TEXT)):
        out[plan.note_pfn + i] = p
    for pfn, values in plan.l1.items():
        out[pfn] = dumpgen.vmcs_page(dumpgen.BOCHS, values, rnd)
    for pfn, values in plan.l2.items():
        out[pfn] = dumpgen.vmcs_page(VMCS12, values, rnd)
    for pfn, values in plan.vol.items():
        out[pfn] = vol_page(values, rnd)
    for pfn, rev in plan.decoys.items():
        decoy = bytearray(rnd.randbytes(PAGE))
        struct.pack_into("<II", decoy, 0, rev, 0)
        out[pfn] = bytes(decoy)
    return out


def compressible_pool(seed: int) -> list[tuple[bytes, bytes | None]]:
    """(page, its zlib form or None when zlib does not shrink it)."""
    rnd = random.Random(f"pool:{seed}")
    words = [rnd.randbytes(rnd.randint(2, 9)).hex()[: rnd.randint(2, 12)] for _ in range(400)] + [
        "kvm",
        "vcpu",
        "qemu",
        "ext4",
        "eth0",
        "irq",
        "pid",
        "task",
        "0x0",
        "ok",
    ]
    pool = []
    for i in range(POOL):
        kind = i % 3
        if kind == 0:  # text: log lines, file contents
            text = bytearray()
            while len(text) < PAGE:
                text += (" ".join(rnd.choices(words, k=rnd.randint(4, 14))) + "\n").encode()
            page = bytes(text[:PAGE])
        elif kind == 1:  # a table of kernel pointers (struct page *, list heads)
            base = 0xFFFF888000000000 + rnd.getrandbits(30) * 64
            step = rnd.choice((8, 16, 64, 4096))
            page = struct.pack("<512Q", *(base + k * step for k in range(512)))
        else:  # a sparse structure: mostly zero, a few counters and pointers
            buf = bytearray(PAGE)
            for _k in range(rnd.randint(4, 40)):
                off = rnd.randrange(0, PAGE // 8) * 8
                struct.pack_into("<Q", buf, off, rnd.getrandbits(rnd.choice((8, 16, 32, 64))))
            page = bytes(buf)
        z = zlib.compress(page, 1)  # makedumpfile: compress2(..., Z_BEST_SPEED)
        pool.append((page, z if len(z) < PAGE else None))
    return pool


def cache_key(gib: float, seed: int) -> str:
    h = hashlib.sha256(
        json.dumps(
            [GEN_VERSION, CHUNK, RUN, MIX, POOL, VOL_HASWELL, dumpgen.BOCHS.digest()]
        ).encode()
    ).hexdigest()[:12]
    return f"gen{GEN_VERSION}-{gib:g}gib-seed{seed}-{h}"


ZERO = bytes(PAGE)


def generate(plan: Plan, out: Path) -> None:
    """Write out/dump.elf and out/dump.kdump-zlib, one chunk of memory at a time."""
    t0 = time.monotonic()
    pool = compressible_pool(plan.seed)
    planted = planted_pages(plan)
    n = plan.pages
    info = dumpgen.vmcoreinfo().encode()
    notes = dumpgen.note("VMCOREINFO", 0, info)
    # ELF: header, PT_NOTE, one PT_LOAD of all of memory from paddr 0.
    phnum = 2
    notes_off = 64 + 56 * phnum
    load_off = (notes_off + len(notes) + PAGE - 1) & ~(PAGE - 1)
    eh = b"\x7fELF" + bytes([2, 1, 1, 0]) + bytes(8)
    eh += struct.pack("<HHIQQQIHHHHHH", 4, 62, 1, 0, 64, 0, 0, 64, 56, phnum, 0, 0, 0)
    ph = struct.pack("<IIQQQQQQ", 4, 0, notes_off, 0, 0, len(notes), len(notes), 0)
    ph += struct.pack("<IIQQQQQQ", 1, 7, load_off, 0xFFFF888000000000, 0, n * PAGE, n * PAGE, PAGE)
    # kdump: header, bitmaps (every page dumped), descriptors, then the data:
    # the shared zero page first (makedumpfile's pd_zero), then page by page.
    head = dumpgen.kdump_header(n, b"\xff" * (n // 8))
    desc_off = len(head)
    data_off = desc_off + 24 * n
    zero_z = zlib.compress(ZERO, 1)
    zero_desc = struct.pack("<qIIQ", data_off, len(zero_z), 1, 0)
    tmp_elf, tmp_kd = out / "dump.elf.tmp", out / "dump.kdump-zlib.tmp"
    kinds = [k for k, _w in MIX]
    weights = [w for _k, w in MIX]
    with open(tmp_elf, "wb") as fe, open(tmp_kd, "wb") as fk:
        fe.write(eh + ph + notes)
        fe.seek(load_off)
        fk.write(head)
        fk.seek(data_off)
        fk.write(zero_z)
        pos = data_off + len(zero_z)
        for c in range(n // CHUNK):
            rnd = random.Random(f"chunk:{plan.seed}:{c}")
            raw = bytearray()
            descs = bytearray()
            data: list[bytes] = []
            base = c * CHUNK
            for r in range(CHUNK // RUN):
                kind = rnd.choices(kinds, weights)[0]
                if kind == "random":
                    block = rnd.randbytes(RUN * PAGE)
                for k in range(RUN):
                    pfn = base + r * RUN + k
                    page = planted.get(pfn)
                    if page is not None:
                        z: bytes | None = zlib.compress(page, 1)
                        if len(z) >= PAGE:
                            z = None
                    elif kind == "zero":
                        raw += ZERO
                        descs += zero_desc
                        continue
                    elif kind == "random":
                        page, z = block[k * PAGE : (k + 1) * PAGE], None
                    else:
                        page, z = pool[rnd.randrange(POOL)]
                    raw += page
                    if z is None:
                        descs += struct.pack("<qIIQ", pos, PAGE, 0, 0)
                        data.append(page)
                        pos += PAGE
                    else:
                        descs += struct.pack("<qIIQ", pos, len(z), 1, 0)
                        data.append(z)
                        pos += len(z)
            fe.write(raw)
            fk.write(b"".join(data))
            os.pwrite(fk.fileno(), descs, desc_off + 24 * base)
            if c % 64 == 63:
                done = (c + 1) * CHUNK * PAGE / (1 << 30)
                log(f"  generated {done:.2f} of {plan.pages * PAGE / (1 << 30):.2f} GiB")
    tmp_elf.rename(out / "dump.elf")
    tmp_kd.rename(out / "dump.kdump-zlib")
    log(f"generated in {time.monotonic() - t0:.1f} s")


def ensure_dumps(gib: float, seed: int, root: Path) -> tuple[Plan, Path]:
    plan = make_plan(gib, seed)
    out = root / cache_key(gib, seed)
    plan_file = out / "planted.json"
    if plan_file.is_file() and (out / "dump.elf").is_file() and (out / "dump.kdump-zlib").is_file():
        log(f"using the cached dumps in {out}")
        return plan, out
    need = int(plan.pages * PAGE * 1.8)
    out.mkdir(parents=True, exist_ok=True)
    free = shutil.disk_usage(out).free
    if free < need + (4 << 30):
        raise SystemExit(
            f"bench-crash: {need / 1e9:.1f} GB needed in {out}, {free / 1e9:.1f} GB free"
        )
    log(f"generating {gib:g} GiB of memory (seed {seed}) as ELF and zlib kdump in {out}")
    generate(plan, out)
    plan_file.write_text(json.dumps(asdict(plan), indent=1) + "\n")
    return plan, out


# -- measuring ------------------------------------------------------------------


@dataclass
class Run:
    seconds: float
    maxrss: int  # bytes
    floor: int  # this process's peak RSS at the fork, which the child's counts
    status: int
    stdout: str
    stderr: str


def run_child(argv: list[str], capture: bool = True) -> Run:
    """One child process: wall time, peak RSS (os.wait4's rusage), output
    (to /dev/null without `capture`: this process must stay small, since a
    child's peak RSS counts its parent's at the fork)."""
    with (
        tempfile.TemporaryFile() as out,
        tempfile.TemporaryFile() as err,
        open(os.devnull, "wb") as null,
    ):
        floor = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
        t0 = time.perf_counter()
        p = subprocess.Popen(
            argv, stdin=subprocess.DEVNULL, stdout=out if capture else null, stderr=err
        )
        _pid, status, ru = os.wait4(p.pid, 0)
        t = time.perf_counter() - t0
        p.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        return Run(
            t,
            ru.ru_maxrss * 1024,
            floor,
            p.returncode,
            out.read(64 << 20).decode(errors="replace"),
            err.read(1 << 20).decode(errors="replace"),
        )


def median_run(
    argv: list[str], runs: int, what: str, capture: bool = True
) -> tuple[float, list[Run]]:
    got = []
    for _i in range(runs):
        r = run_child(argv, capture)
        if r.status != 0:
            raise SystemExit(
                f"bench-crash: {what} failed (exit {r.status}): {' '.join(argv)}\n"
                + r.stderr[-3000:]
            )
        got.append(r)
    return statistics.median(r.seconds for r in got), got


DRGN_READ = """
import sys, drgn
path, n, step = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
prog = drgn.Program()
prog.set_core_dump(path)
read = prog.read
for addr in range(0, n * 4096, step):
    read(addr, step, True)
"""


def ok(good: bool) -> str:
    return "ok" if good else "MISSED"


def scan_check(r: Run, plan: Plan, what: str) -> tuple[bool, str]:
    report = json.loads(r.stdout)
    found = {v["paddr"] for v in report["vmcs"]}
    expect = plan.ours()
    fp = found - expect
    missed = expect - found
    vol = found & plan.volatility()
    good = not fp and not missed
    line = (
        f"{what}: found {len(found)} VMCSes of {len(expect)} planted "
        f"({len(plan.l1)} L1 + {len(plan.l2)} vmcs12), {len(fp)} false positive(s) "
        f"({len(vol)} of the {len(plan.vol)} in Volatility's layout, revision "
        f"{VOL_HASWELL['revision_id']:#x}), "
        f"{len(missed)} missed, {report['rejected']} candidate(s) rejected, "
        f"VMCSINFO from {report['vmcsinfo']['source']}, {report['dump']['pages']} pages: {ok(good)}"
    )
    return good, line


def gb(n: float) -> str:
    return f"{n / 1e9:.2f}"


def mb(n: float) -> str:
    return f"{n / 1e6:.0f}"


def vol_layout_differs(table: dict) -> list[str]:
    """What in Volatility's installed haswell table is not what the pages
    planted here assume (VOL_HASWELL)."""
    rev = int(base64.b64decode(table["symbols"]["revision_id"]["constant_data"]))
    fields = table["user_types"]["_VMCS"]["fields"]
    bad = [] if rev == VOL_HASWELL["revision_id"] else [f"revision id {rev:#x}"]
    bad += [
        name
        for name, value in VOL_HASWELL.items()
        if name != "revision_id" and fields.get(name, {}).get("offset") != value[0]
    ]
    if not bad:
        return []
    return [f"Volatility 3: WARNING its haswell table differs from the planted pages: {bad}"]


def volatility(vol: str, version: str, elf: Path, plan: Plan) -> list[str]:
    """Volatility 3's vmscan on the ELF dump: its time, finds, false positives."""
    lines: list[str] = []
    if not vol or not os.access(vol, os.X_OK):
        return [f"Volatility 3: not run ({vol or 'no vol command given'} is not there)"]
    for table in Path(vol).resolve().parent.parent.glob(VOL_TABLE):
        lines += vol_layout_differs(json.loads(table.read_text()))
    cache = Path(tempfile.mkdtemp(prefix="bench-crash-vol-"))
    argv = [
        vol,
        "--offline",
        "--cache-path",
        str(cache),
        "-q",
        "-r",
        "json",
        "-f",
        str(elf),
        VOLATILITY_PLUGIN,
    ]
    try:
        r = run_child(argv)
    finally:
        shutil.rmtree(cache, ignore_errors=True)
    head = f"Volatility 3 {version} `vol -f dump.elf {VOLATILITY_PLUGIN}`"
    try:
        rows = json.loads(r.stdout) if r.status == 0 else None
    except json.JSONDecodeError:
        rows = None
    if rows is None:
        why = (r.stderr.strip() or r.stdout.strip() or "no output").splitlines()[-8:]
        return [f"{head}: could not run on this dump (exit {r.status}): " + " | ".join(why)]
    found = {int(row["VMCS Physical offset"]) for row in rows}
    arch = sorted({re.sub(r"-architecture\d*$", "", str(row["Architecture"])) for row in rows})
    good = plan.volatility()
    fp = found - good
    ours = plan.ours() & found
    size = elf.stat().st_size
    lines.append(
        f"{head}: {r.seconds:.1f} s ({gb(size / r.seconds)} GB/s), "
        f"peak RSS {mb(r.maxrss)} MB, found {len(found)} VMCS(es) (tables {', '.join(arch) or '-'})"
    )
    lines.append(
        f"Volatility 3: {len(found & good)} of the {len(good)} planted in its own haswell layout "
        f"(revision {VOL_HASWELL['revision_id']:#x}), {len(ours)} of the {len(plan.ours())} "
        f"Bochs-layout (revision {dumpgen.BOCHS.revision_id:#x}) and vmcs12 "
        f"({VMCS12.revision_id:#x}) ones (it knows only the revision ids of its "
        f"symbols/generic/vmcs/*.json), {len(fp)} false positive(s)"
    )
    return lines


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--gib", type=float, default=float(os.environ.get("BENCH_CRASH_GIB", "4")))
    ap.add_argument("--seed", type=int, default=int(os.environ.get("BENCH_CRASH_SEED", SEED)))
    ap.add_argument("--runs", type=int, default=int(os.environ.get("BENCH_RUNS", RUNS)))
    ap.add_argument("--out", type=Path, default=TOP / "build" / "bench-crash")
    ap.add_argument("--tool", default=str(TOP / ".venv" / "bin" / "vmcsinfo-crash"))
    ap.add_argument("--vol", default=os.environ.get("BENCH_VOL", ""), help="Volatility's vol")
    ap.add_argument("--vol-version", default="", help="its version, for the output")
    ap.add_argument("--generate-only", action="store_true")
    args = ap.parse_args()
    strict = os.environ.get("BENCH_STRICT") == "1"
    if not os.access(args.tool, os.X_OK):
        raise SystemExit(f"bench-crash: {args.tool} is missing: make venv installs it")

    plan, d = ensure_dumps(args.gib, args.seed, args.out)
    elf, kd = d / "dump.elf", d / "dump.kdump-zlib"
    if args.generate_only:
        return 0
    esize, ksize = elf.stat().st_size, kd.stat().st_size
    log(
        f"dump: {plan.pages} pages ({plan.pages * PAGE / (1 << 30):g} GiB of memory); "
        f"ELF {gb(esize)} GB, zlib kdump {gb(ksize)} GB; mix "
        + ", ".join(f"{k} {w} %" for k, w in MIX)
        + f"; planted {len(plan.l1)} VMCSes + {len(plan.l2)} vmcs12 (ours), "
        f"{len(plan.vol)} in Volatility's layout, {len(plan.decoys)} decoys, the note"
    )
    results: list[bool] = []
    lines: list[str] = []

    log("warming the page cache (cat of both files)")
    for f in (elf, kd):
        run_child(["cat", str(f)], capture=False)

    # ELF: the scan against cat of the same file.
    t_cat, _ = median_run(["cat", str(elf)], args.runs, "cat", capture=False)
    t_elf, elf_runs = median_run([args.tool, "--json", str(elf)], args.runs, "ELF scan")
    cat_rate, elf_rate = esize / t_cat, esize / t_elf
    ratio = elf_rate / cat_rate
    results.append(ratio >= ELF_TARGET)
    lines.append(
        f"ELF scan {gb(elf_rate)} GB/s ({t_elf:.2f} s), cat {gb(cat_rate)} GB/s ({t_cat:.2f} s), "
        f"ratio {ratio:.2f} (target >= {ELF_TARGET}): {ok(results[-1])}"
    )
    good, line = scan_check(elf_runs[0], plan, "ELF scan")
    results.append(good)
    lines.append(line)

    # zlib kdump: the scan against reading every page through drgn.
    py = sys.executable
    t_drgn, drgn_runs = median_run(
        [py, "-c", DRGN_READ, str(kd), str(plan.pages), str(DRGN_STEP)], args.runs, "drgn read"
    )
    t_kd, kd_runs = median_run([args.tool, "--json", str(kd)], args.runs, "zlib kdump scan")
    ratio = t_kd / t_drgn
    results.append(ratio <= ZLIB_TARGET)
    mem = plan.pages * PAGE
    lines.append(
        f"zlib scan {t_kd:.2f} s ({gb(mem / t_kd)} GB/s of memory), drgn reading every page "
        f"({DRGN_STEP >> 20} MiB reads) "
        f"{t_drgn:.2f} s ({gb(mem / t_drgn)} GB/s), ratio {ratio:.2f} "
        f"(target <= {ZLIB_TARGET}): {ok(results[-1])}"
    )
    good, line = scan_check(kd_runs[0], plan, "zlib scan")
    results.append(good)
    lines.append(line)

    rss_elf, rss_kd, rss_drgn = (
        max(r.maxrss for r in runs) for runs in (elf_runs, kd_runs, drgn_runs)
    )
    results.append(max(rss_elf, rss_kd) < RSS_LIMIT)
    floor = max(r.floor for r in (*elf_runs, *kd_runs, *drgn_runs))

    def rss(n: int) -> str:
        return f"<= {mb(n)} MB" if n <= floor else f"{mb(n)} MB"

    lines.append(
        f"peak RSS: ELF scan {rss(rss_elf)}, zlib scan {rss(rss_kd)} "
        f"(target < {mb(RSS_LIMIT)} MB): {ok(results[-1])}; drgn read {rss(rss_drgn)} "
        f"(a child's peak includes this process's {mb(floor)} MB at the fork)"
    )
    for line in lines:
        log(line)

    if os.environ.get("BENCH_VOLATILITY", "1") != "0":
        log("running Volatility 3's vmscan on the ELF dump (once)")
        for line in volatility(args.vol, args.vol_version, elf, plan):
            log(line)
    missed = results.count(False)
    log(
        f"{len(results) - missed} of {len(results)} targets met"
        + (f", {missed} missed" if missed else "")
        + f" ({args.gib:g} GiB)"
    )
    return 1 if strict and missed else 0


if __name__ == "__main__":
    sys.exit(main())
