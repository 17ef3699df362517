#!/usr/bin/env python3
"""The host side of the Bochs crash proof (tests/vmx/vmx-crash.sh): run
vmcsinfo-crash on every dump the crash kernel saved and compare what it
decodes with what the crashed kernel and kvmguest printed on the serial
console.

Usage: crash-check.py SERIAL_LOG CRASH_DIR VMCSINFO_CRASH

CRASH_DIR holds sysfs-vmcsinfo (the crashed kernel's sysfs text), dump.lzo and
dump.zlib (rebuilt by makedumpfile -R) and dump-lzo.flat, dump-zlib.flat (as
the crash kernel wrote them). Prints one line per check, "1|0 TAB name TAB
detail", for the shell's check(); writes report-<dump>.json and the readable
report.txt (zlib dump, --verbose) into CRASH_DIR.
"""

from __future__ import annotations

import hashlib
import json
import re
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
DUMPS = {
    "dump.lzo": "lzo",
    "dump.zlib": "zlib",
    "dump-lzo.flat": "lzo",
    "dump-zlib.flat": "zlib",
}


def out(ok: bool, name: str, detail: str = "") -> None:
    print(f"{int(ok)}\t{name}\t{detail}", flush=True)


def serial_lines(path: Path) -> list[str]:
    return path.read_bytes().decode("utf-8", "replace").replace("\r", "").splitlines()


def main() -> int:
    if len(sys.argv) != 4:
        sys.stderr.write(__doc__ or "")
        return 2
    serial, crash_dir, tool = Path(sys.argv[1]), Path(sys.argv[2]), sys.argv[3]
    lines = serial_lines(serial)
    expect: dict[str, int] = {}
    loop = None
    note_addr = sysfs_sha = None
    for line in lines:
        if m := re.fullmatch(r"VMXTEST: KVMGUEST: expect (\w+)=0x([0-9a-f]+)", line):
            expect[m[1]] = int(m[2], 16)
        elif m := re.fullmatch(r"VMXTEST: KVMGUEST: loop 0x([0-9a-f]+)-0x([0-9a-f]+)", line):
            loop = (int(m[1], 16), int(m[2], 16))
        elif m := re.fullmatch(r"VMXTEST: note=([0-9a-f]+) ([0-9a-f]+)", line):
            note_addr = int(m[1], 16)
        elif m := re.fullmatch(r"VMXTEST: sysfs-sha256=([0-9a-f]{64})", line):
            sysfs_sha = m[1]
    out(
        bool(expect) and loop is not None,
        "kvmguest printed the state it set",
        f"{len(expect)} fields, loop {loop and [hex(x) for x in loop]}",
    )
    text_file = crash_dir / "sysfs-vmcsinfo"
    text = text_file.read_bytes() if text_file.exists() else b""
    out(
        bool(text) and hashlib.sha256(text).hexdigest() == sysfs_sha,
        "the crashed kernel's sysfs VMCSINFO came over the serial line intact",
        f"{len(text)} bytes, sha256 {sysfs_sha}",
    )
    if not expect or loop is None or not text:
        return 0

    decoded: dict[str, dict] = {}
    for name, codec in DUMPS.items():
        path = crash_dir / name
        if not path.exists():
            out(False, f"{name}: vmcsinfo-crash", "no such dump")
            continue
        t0 = time.monotonic()
        p = subprocess.run([tool, "--json", str(path)], capture_output=True, text=True)
        secs = time.monotonic() - t0
        if p.returncode != 0:
            out(
                False,
                f"{name}: vmcsinfo-crash reads the dump",
                f"exit {p.returncode}: {p.stderr.strip()}",
            )
            continue
        report = json.loads(p.stdout)
        (crash_dir / f"report-{name}.json").write_text(json.dumps(report, indent=1, sort_keys=True))
        dump, vi, vmcs = report["dump"], report["vmcsinfo"], report["vmcs"]
        out(
            dump["kind"] == "kdump"
            and codec in dump["codecs"]
            and dump["flattened"] == name.endswith(".flat"),
            f"{name}: vmcsinfo-crash reads the dump",
            f"{dump['kind']}, codecs {dump['codecs']}, flattened {dump['flattened']}, "
            f"{dump['pages']} pages in {secs:.2f} s",
        )
        out(
            vi["source"] == "note"
            and vi.get("note_sha256") == sysfs_sha
            and vi.get("note_paddr") == note_addr,
            f"{name}: VMCSINFO from the dump's own note, byte for byte the sysfs text",
            f"source {vi['source']} at {vi.get('note_paddr', 0):#x} (sysfs note {note_addr:#x}), "
            f"note sha256 {vi.get('note_sha256', '-')[:16]}, sysfs {sysfs_sha[:16]}",
        )
        out(
            len(vmcs) == 1
            and not vmcs[0]["nested"]
            and not vmcs[0]["shadow"]
            and vmcs[0]["revision_id"] == vi["revision_id"],
            f"{name}: exactly one VMCS, the guest's",
            f"{len(vmcs)} found at {[hex(v['paddr']) for v in vmcs]}, "
            f"{report['rejected']} candidates rejected",
        )
        if len(vmcs) != 1:
            continue
        f = vmcs[0]["fields"]
        decoded[name] = f
        bad = [f"{k} {f.get(k, 0):#x} (set {v:#x})" for k, v in expect.items() if f.get(k) != v]
        out(
            not bad,
            f"{name}: the decoded guest state is the state kvmguest set",
            f"{len(expect) - len(bad)} of {len(expect)} fields equal"
            + (": " + ", ".join(bad) if bad else ""),
        )
        rip = f.get("GUEST_RIP", -1)
        out(
            loop[0] <= rip < loop[1],
            f"{name}: GUEST_RIP inside the guest's loop",
            f"{rip:#x} in [{loop[0]:#x}, {loop[1]:#x})",
        )
    if len(decoded) == len(DUMPS):
        first = next(iter(decoded.values()))
        out(
            all(d == first for d in decoded.values()),
            "every dump of the crash decodes to the same fields",
            f"{len(first)} fields",
        )

    # The readable report, as an engineer would read it.
    zlib = crash_dir / "dump.zlib"
    if zlib.exists():
        p = subprocess.run([tool, "--verbose", str(zlib)], capture_output=True, text=True)
        (crash_dir / "report.txt").write_text(p.stdout + p.stderr)
        out(
            p.returncode == 0
            and "rax..r15 are not in the VMCS" in p.stdout
            and "mode       64-bit mode, CPL 0 (kernel)" in p.stdout,
            "the readable report of the zlib dump",
            f"{len(p.stdout.splitlines())} lines in report.txt",
        )
    # The hand-written zlib reader against drgn (libkdumpfile) on the real dump.
    for name in ("dump.zlib", "dump-zlib.flat"):
        path = crash_dir / name
        if not path.exists():
            continue
        p = subprocess.run(
            [sys.executable, str(REPO / "tests/crash/compare-with-drgn.py"), str(path)],
            capture_output=True,
            text=True,
        )
        last = (p.stdout.strip().splitlines() or ["no output"])[-1]
        out(p.returncode == 0, f"{name}: every page equal to drgn's", last)
    return 0


if __name__ == "__main__":
    sys.exit(main())
