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

Then the kernel log and the fleet database (issue 12): the collection's
printk ring reader (dmesg.py) on every dump gives the records that Debian's
`makedumpfile --dump-dmesg` writes for the same dump (time stamps and texts,
in makedumpfile's escaping), and the CPU identity it finds there is the one
the probed text names; and `vmcsinfo-crash --db DB` on a copy of a dump
directory without the sidecar and without the note (the note's page blanked
in a copy of the dump: a dump of a kernel that never had the module) serves
the layout from a database seeded with the sysfs text (source "database")
and decodes the fields the note gave.
"""

from __future__ import annotations

import hashlib
import json
import re
import shutil
import struct
import subprocess
import sys
import tempfile
import time
import zlib
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "collections"))
from ansible_collections.fujitsu.vmcsinfo.plugins.module_utils import dmesg  # noqa: E402
from ansible_collections.fujitsu.vmcsinfo.plugins.module_utils.dumpfile import (  # noqa: E402
    PAGE_SIZE,
    Dump,
)
from ansible_collections.fujitsu.vmcsinfo.plugins.module_utils.vmcsinfo import (  # noqa: E402
    parse,
)
from ansible_collections.fujitsu.vmcsinfo.plugins.module_utils.vmcsscan import (  # noqa: E402
    collect,
)

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


# makedumpfile --dump-dmesg's record head: "[%5lld.%06ld] ", then (newer
# versions, when printk_info.caller_id exists) "[%6s] " with T<pid> or C<cpu>.
MDF_HEAD = re.compile(r"\[ *(\d+)\.(\d{6})\] (?:\[ *[CT]\d+\] )?")


def mdf_records(text: str) -> list[tuple[str, str]]:
    """(time stamp, text) of each record of makedumpfile --dump-dmesg's output:
    a record's further lines are indented to its text's column."""
    recs: list[list[str]] = []
    indent = 0
    for line in text.split("\n")[:-1]:
        m = MDF_HEAD.match(line)
        if m:
            recs.append([f"{m[1]}.{m[2]}", line[m.end() :]])
            indent = m.end()
        elif recs:
            recs[-1][1] += "\n" + line[indent:]
    return [(a, b) for a, b in recs]


def mdf_escape(raw: bytes) -> str:
    """A record's bytes as makedumpfile prints them: isprint() or isspace()
    bytes as they are, others as \\x%02x of a (signed) char."""
    out = []
    for b in raw:
        if 0x20 <= b <= 0x7E or b in (9, 10, 11, 12, 13):
            out.append(chr(b))
        else:
            out.append(f"\\x{b | (0xFFFFFF00 if b & 0x80 else 0):02x}")
    return "".join(out)


def our_records(path: Path) -> tuple[list[tuple[str, str]], dict, str]:
    with Dump(str(path)) as d:
        log = dmesg.read_log(d)
    recs = [
        (f"{r.ts_nsec // 1_000_000_000}.{r.ts_nsec % 1_000_000_000 // 1000:06d}", mdf_escape(r.raw))
        for r in log.records
    ]
    detail = f"{len(log.records)} records of {log.count} descriptors, skipped {dict(log.skipped)}"
    return recs, dmesg.cpu_identity(log.records), detail


def strip_note(src: Path, dst: Path) -> list[int]:
    """Copy the kdump-compressed dump src to dst with every page that holds a
    VMCSINFO note header replaced by a zero page (a zlib page appended at the
    end, its page descriptor pointed at it): the dump of a kernel without the
    note. Returns the pages replaced. Uses the reader's descriptor index."""
    shutil.copyfile(src, dst)
    with Dump(str(src)) as d:
        if d.kind != "kdump" or d.flattened:
            raise ValueError(f"{src}: not a kdump-compressed file")
        pfns = [paddr // PAGE_SIZE for paddr, _text in collect(d).notes]
        descs = {pfn: d._desc_off + 24 * d._rank(pfn) for pfn in pfns}
    zero = zlib.compress(bytes(PAGE_SIZE))
    with open(dst, "r+b") as f:
        for pfn in pfns:
            end = f.seek(0, 2)
            f.write(zero)
            f.seek(descs[pfn])
            f.write(struct.pack("<qIIQ", end, len(zero), 1, 0))  # DUMP_DH_COMPRESSED_ZLIB
    return pfns


def check_dmesg_and_db(crash_dir: Path, tool: str, text: bytes, decoded: dict) -> None:
    """The kernel log against makedumpfile's, and the database path."""
    probed = parse(text.decode("ascii"))
    mdf_out: dict[str, str] = {}
    for name in DUMPS:
        path = crash_dir / name
        if not path.exists():
            continue
        # makedumpfile reads ELF and kdump files, not the flattened form: a
        # flattened dump is compared with the output for the file -R rebuilt.
        rebuilt = crash_dir / name.replace("dump-", "dump.").removesuffix(".flat")
        if rebuilt.name not in mdf_out:
            out_txt = crash_dir / f"makedumpfile-dmesg-{rebuilt.name}.txt"
            out_txt.unlink(missing_ok=True)
            p = subprocess.run(
                ["makedumpfile", "--dump-dmesg", str(rebuilt), str(out_txt)],
                capture_output=True,
                text=True,
                check=False,
            )
            mdf_out[rebuilt.name] = (
                out_txt.read_text("utf-8", "replace")
                if p.returncode == 0 and out_txt.exists()
                else ""
            )
            if not mdf_out[rebuilt.name]:
                out(False, f"{rebuilt.name}: makedumpfile --dump-dmesg", p.stderr.strip()[-300:])
        theirs = mdf_records(mdf_out[rebuilt.name])
        try:
            ours, ident, detail = our_records(path)
        except (dmesg.DmesgError, OSError, ValueError) as e:
            out(False, f"{name}: the kernel log read from the dump", str(e))
            continue
        first_diff = next(
            (i for i, (a, b) in enumerate(zip(ours, theirs, strict=False)) if a != b), None
        )
        out(
            bool(theirs) and ours == theirs,
            f"{name}: the kernel log read from the dump equals makedumpfile --dump-dmesg's",
            f"{detail}; makedumpfile {len(theirs)} records"
            + (
                f"; first difference at record {first_diff}: ours {ours[first_diff]!r}, "
                f"makedumpfile {theirs[first_diff]!r}"
                if first_diff is not None
                else ""
            ),
        )
        want = {
            "vendor": probed.cpu_vendor,
            "signature": probed.cpu_signature,
            "microcode": probed.microcode,
        }
        got = {k: ident.get(k) for k in want}
        out(
            got == want,
            f"{name}: the CPU the kernel log names is the probed text's",
            f"{dmesg.describe(ident)}; evidence: {' | '.join(ident['evidence'])}",
        )

    # --db on a dump directory with neither sidecar nor note.
    db_tool = str(Path(tool).with_name("vmcsinfo-db"))
    with tempfile.TemporaryDirectory(prefix="crash-db-") as tmp:
        db = Path(tmp) / "db"
        seed = Path(tmp) / "bochs-2.7-corei7_haswell_4770.vmcsinfo"
        seed.write_bytes(text)
        p = subprocess.run(
            [
                db_tool,
                "--db",
                str(db),
                "add",
                "--kind",
                "seed",
                "--source",
                "Bochs crash proof",
                str(seed),
            ],
            capture_output=True,
            text=True,
            check=False,
        )
        out(p.returncode == 0, "a database seeded with the Bochs Haswell text", p.stdout.strip())
        for name in ("dump.zlib", "dump.lzo"):
            src = crash_dir / name
            if not src.exists() or p.returncode != 0:
                continue
            ddir = Path(tmp) / f"no-note-{name}"
            ddir.mkdir()
            try:
                pfns = strip_note(src, ddir / name)
            except (OSError, ValueError) as e:
                out(False, f"{name}: a copy without the note", str(e))
                continue
            q = subprocess.run(
                [tool, "--json", str(ddir)], capture_output=True, text=True, check=False
            )
            out(
                q.returncode == 3 and "no VMCSINFO" in q.stderr,
                f"{name}: without note and sidecar and without --db: exit 3",
                f"exit {q.returncode}, note pages blanked {[hex(x * PAGE_SIZE) for x in pfns]}",
            )
            t0 = time.monotonic()
            q = subprocess.run(
                [tool, "--json", "--db", str(db), str(ddir)],
                capture_output=True,
                text=True,
                check=False,
            )
            secs = time.monotonic() - t0
            if q.returncode != 0:
                out(False, f"{name}: vmcsinfo-crash --db serves the layout", q.stderr.strip())
                continue
            rep = json.loads(q.stdout)
            (crash_dir / f"report-db-{name}.json").write_text(
                json.dumps(rep, indent=1, sort_keys=True)
            )
            vi = rep["vmcsinfo"]
            dbi = vi.get("database", {})
            out(
                vi["source"] == "database"
                and vi["digest"] == probed.digest()
                and dbi.get("key") == "GenuineIntel/306c3/0/2b/1000"
                and "note_paddr" not in vi,
                f"{name}: vmcsinfo-crash --db: VMCSINFO from the database for the CPU in the log",
                f"source {vi['source']}, key {dbi.get('key')}, digest {vi['digest'][:16]} "
                f"({dbi.get('basis')}), evidence {' | '.join(dbi.get('evidence', []))}, "
                f"{secs:.2f} s",
            )
            vmcs = rep["vmcs"]
            same = len(vmcs) == 1 and vmcs[0]["fields"] == decoded.get(name)
            out(
                same,
                f"{name}: --db decodes the same fields as the note",
                f"{len(vmcs)} VMCS, {len(vmcs[0]['fields']) if vmcs else 0} fields",
            )


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
        p = subprocess.run([tool, "--json", str(path)], capture_output=True, text=True, check=False)
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
        p = subprocess.run(
            [tool, "--verbose", str(zlib)], capture_output=True, text=True, check=False
        )
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
            check=False,
        )
        last = (p.stdout.strip().splitlines() or ["no output"])[-1]
        out(p.returncode == 0, f"{name}: every page equal to drgn's", last)
    check_dmesg_and_db(crash_dir, tool, text, decoded)
    return 0


if __name__ == "__main__":
    sys.exit(main())
