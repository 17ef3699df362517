# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""From a crash dump to every guest's VMCS: the library behind vmcsinfo-crash
(DESIGN.md CONTRACT 4) and the Ansible module that triages a fleet's dumps.

analyze(path) opens a dump file or a dump directory (/var/crash/<stamp>/),
finds the VMCSINFO (--vmcsinfo FILE, else the module's ELF note in the dump's
own memory, else the `vmcsinfo` file beside the dump; note and file
disagreeing: the note wins and both digests are reported; else, with --db
DIR, the fleet database), finds and decodes the VMCS pages, and returns the
CONTRACT 4 report. render() is the readable view, like a debugger's `info
registers`.

--db DIR (issue 12), for a dump with neither note nor file: the CPU is
identified from the dump itself: vendor, signature and microcode from the
kernel log in the dump (dmesg.read_log, dmesg.cpu_identity), the VMCS
revision id from the VMCS-like pages (those with a zero VMX-abort
indicator): each revision id among them that the database has for that CPU
is looked up (the one most pages carry first) with fleetdb.serve(), as
`vmcsinfo-db lookup` does without --strict (CONTRACT 4 has no --strict; the
library's analyze(strict=True) refuses other microcode revisions). No such
page (a host without guests): the lookup is made without a revision id and
serve() decides (one layout for the CPU, or ambiguous). vmcsinfo.source is
then "database" and vmcsinfo.database says the key, digest, the basis
(exact / other-microcode), the identity and its evidence lines. Nothing
served: exit 3 naming the identity found and the database's answer. With a
VMCSINFO from the option, the note or the file, the database is not opened
and vmcsinfo.database says it was not needed. A --db that is not a directory
is bad usage (exit 2); a corrupt database when it is needed is exit 3.

Partial layouts (issue 12): when the database serves no full layout for the
dump's CPU (for whatever reason: unknown, ambiguous, conflict, other
microcode without evidence), its partial entries (published layouts of real
CPUs, `vmcsinfo-db import`, never served to a host) of the dump's CPU vendor
whose revision id a VMCS-like page of the dump carries are tried: each
decodes the candidates on a copy of the scan, and the one used is the first
of: one that finds a VMCS, then the closest CPU identity (same signature,
same family and model, revision id only: the signature of a partial entry is
an assumption of its import), then the most VMCSes found, then the most
fields. vmcsinfo.source is then "database-partial", vmcsinfo.partial is true
and vmcsinfo.database says the entry (key, digest, field count, its
provenance sources), how it matched, the database's answers for the full
layout and every partial entry tried. The VMCSes hold only the fields the
partial layout has. strict (the library's) never falls back to a partial
layout.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import sys
import time
from collections import Counter, defaultdict
from dataclasses import replace

from ansible_collections.fujitsu.vmcsinfo.plugins.module_utils.dmesg import (
    DmesgError,
    cpu_identity,
    read_log,
)
from ansible_collections.fujitsu.vmcsinfo.plugins.module_utils.dmesg import (
    describe as describe_cpu,
)
from ansible_collections.fujitsu.vmcsinfo.plugins.module_utils.dumpfile import Dump, DumpError
from ansible_collections.fujitsu.vmcsinfo.plugins.module_utils.fleetdb import (
    SERVE,
    Db,
    FleetDbError,
    Query,
    serve,
)
from ansible_collections.fujitsu.vmcsinfo.plugins.module_utils.hostfiles import (
    HostFileError,
    read_ascii,
)
from ansible_collections.fujitsu.vmcsinfo.plugins.module_utils.vmcsinfo import (
    Vmcsinfo,
    VmcsinfoError,
    parse,
)
from ansible_collections.fujitsu.vmcsinfo.plugins.module_utils.vmcsscan import (
    SEGMENTS,
    ScanResult,
    collect,
    resolve,
)

SIDECAR = "vmcsinfo"
# Dump file names in a dump directory: Debian kdump-tools (dump.<stamp>),
# RHEL kdump (vmcore, vmcore.flat), makedumpfile by hand.
# The dump's own file in a dump directory: kdump-tools' dump.<stamp>, RHEL
# kdump's vmcore (vmcore.flat when flattened). Not the kernel log kept beside
# it (dmesg.<stamp>, vmcore-dmesg.txt).
DUMP_NAMES = ("dump.", "vmcore")
NOT_DUMPS = ("vmcore-dmesg.txt",)
# What RHEL kdump leaves when it could not finish saving the dump.
INCOMPLETE = "vmcore-incomplete"

EXIT_OK, EXIT_USAGE, EXIT_NO_VMCSINFO = 0, 2, 3


class CrashError(Exception):
    """A problem the user must fix; exit_code says which (CONTRACT 4)."""

    def __init__(self, message: str, exit_code: int = EXIT_USAGE) -> None:
        super().__init__(message)
        self.exit_code = exit_code


def read_small(path: str, what: str) -> str:
    """A small ASCII text file, read as hostfiles.read_bounded reads (no links,
    regular files only, bounded)."""
    try:
        return read_ascii(path)
    except HostFileError as e:
        raise CrashError(f"{what}: {e}") from e


def locate(path: str) -> tuple[str, str | None]:
    """(dump file, sidecar vmcsinfo path or None) for a file or a dump directory."""
    if os.path.isdir(path):
        present = set(os.listdir(path))
        names = sorted(
            n
            for n in present
            if n.startswith(DUMP_NAMES)
            and n not in NOT_DUMPS
            and n != INCOMPLETE
            and os.path.isfile(os.path.join(path, n))
        )
        if not names and INCOMPLETE in present:
            raise CrashError(
                f"{path}: only {INCOMPLETE} here: kdump did not finish saving this dump. Give "
                f"{os.path.join(path, INCOMPLETE)} itself to read what was saved"
            )
        if not names:
            raise CrashError(f"{path}: no dump.* or vmcore file in this directory")
        dump = os.path.join(path, names[0])
        side = os.path.join(path, SIDECAR)
    elif os.path.exists(path):
        dump = path
        side = _sidecar_path(path)
    else:
        raise CrashError(f"{path}: no such file or directory")
    return dump, side if os.path.lexists(side) else None


def _sidecar_path(dump_path: str) -> str:
    return os.path.join(os.path.dirname(os.path.abspath(dump_path)), SIDECAR)


def _layout(text: str, where: str) -> Vmcsinfo:
    try:
        return parse(text)
    except VmcsinfoError as e:
        raise CrashError(f"{where}: not a valid VMCSINFO: {e}") from e


def from_database(dump: Dump, scan, db_dir: str, strict: bool = False) -> tuple[Vmcsinfo, dict]:
    """The layout the database serves for the dump's CPU (identified from the
    dump itself) and the report's vmcsinfo.database; CrashError (exit 3)
    saying what was tried when nothing can be served."""
    out: dict = {"dir": db_dir, "used": True}
    try:
        log = read_log(dump)
    except DmesgError as e:
        raise CrashError(
            f"the database {db_dir} was not asked: the CPU could not be identified, the "
            f"kernel log of the dump cannot be read ({e})",
            EXIT_NO_VMCSINFO,
        ) from e
    identity = cpu_identity(log.records)
    out["identity"] = identity
    out["log_records"] = len(log.records)
    lacking = [k for k in ("vendor", "signature", "microcode") if identity[k] is None]
    if lacking:
        raise CrashError(
            f"the database {db_dir} was not asked: the kernel log of the dump "
            f"({len(log.records)} records) does not say the CPU's "
            + ", ".join(lacking)
            + f" (found: {describe_cpu(identity)}"
            + ("; evidence: " + " | ".join(identity["evidence"]) if identity["evidence"] else "")
            + ")",
            EXIT_NO_VMCSINFO,
        )
    try:
        db = Db.load(db_dir)
    except FleetDbError as e:
        raise CrashError(f"the database cannot be read: {e}", EXIT_NO_VMCSINFO) from e
    vendor, sig, mc = identity["vendor"], identity["signature"], identity["microcode"]
    # VMCS-like pages (zero VMX-abort indicator), by revision id, most first;
    # only the revision ids the database knows for this CPU are asked for.
    pages = Counter(c.revision_id for c in scan.candidates if not c.abort)
    known = {k.revision_id for k in db.of_cpu(vendor, sig)}
    revisions: list[int | None] = sorted(
        (r for r in pages if r in known), key=lambda r: (-pages[r], r)
    )
    out["revision_ids_in_dump"] = {f"{r:x}": pages[r] for r in revisions}
    if not revisions:
        revisions = [None]
    answers = []
    try:
        for rev in revisions:
            q = Query(vendor, sig, mc, rev)
            decision = serve(db, q, strict)
            answers.append(f"{q.describe()}: {decision.action}: {decision.reason}")
            if decision.action == SERVE and decision.text is not None:
                break
        else:
            partial = None if strict else _partial_layout(db, dump, scan, identity)
            if partial is not None and partial[0] is not None:
                layout, pinfo = partial
                out.update(pinfo, answers=answers, evidence=identity["evidence"])
                return layout, out
            tried_partial = partial[1] if partial is not None else None
            raise CrashError(
                f"no VMCSINFO for this dump: neither --vmcsinfo, a note in the dump nor a file "
                f"beside it; the kernel log of the dump identifies the CPU as "
                f"{describe_cpu(identity)} ("
                + " | ".join(identity["evidence"])
                + "); "
                + (
                    "no VMCS-like page of the dump carries a revision id the database has for "
                    "it, so it was asked without one; "
                    if revisions == [None]
                    else ""
                )
                + f"the database {db_dir} answered: "
                + "; ".join(answers)
                + (f"; {tried_partial}" if tried_partial else ""),
                EXIT_NO_VMCSINFO,
            )
    except FleetDbError as e:
        raise CrashError(f"the database cannot be read: {e}", EXIT_NO_VMCSINFO) from e
    if decision.key is None or decision.text is None:  # serve() gives both with SERVE
        raise CrashError(f"the database {db_dir} served no text", EXIT_NO_VMCSINFO)
    layout = _layout(decision.text, f"database {db_dir} entry {decision.key.id}")
    out.update(
        key=decision.key.id,
        digest=decision.digest,
        basis=decision.basis,
        reason=decision.reason,
        revision_id=rev,
        answers=answers,
        evidence=identity["evidence"],
    )
    return layout, out


_MATCHES = ("signature", "model", "revision-id")


def _partial_layout(db: Db, dump: Dump, scan: ScanResult, identity: dict) -> tuple:
    """(layout, vmcsinfo.database members) of the partial entry to decode the dump with,
    or (None, why none) when the database has partial entries but none fits the dump's
    VMCS-like pages, or None when it has none at all (see the module's docstring)."""
    vendor, sig = identity["vendor"], identity["signature"]
    pages = Counter(c.revision_id for c in scan.candidates if not c.abort)
    entries = []
    any_partial = False
    for key in db.keys():
        rec = db.record(key)
        if rec is None:
            continue
        for digest in sorted(rec["digests"]):
            if not rec["digests"][digest]["partial"]:
                continue
            any_partial = True
            if key.vendor != vendor or key.revision_id not in pages:
                continue
            if key.signature == sig:
                match = "signature"
            elif key.signature >> 4 == sig >> 4:
                match = "model"
            else:
                match = "revision-id"
            entries.append((key, digest, match))
    if not entries:
        if not any_partial:
            return None
        revs = ", ".join(f"{r:x}" for r in sorted(pages)) or "none"
        return None, (
            f"its partial layouts (never served to hosts) fit none of the revision ids of the "
            f"dump's VMCS-like pages ({revs}) for vendor {vendor}"
        )
    tried = []
    for key, digest, match in entries:
        layout = _layout(db.text(key, digest), f"database {db.path} entry {key.id}")
        trial = ScanResult(
            scan.notes, scan.bad_notes, [replace(c, reasons=[]) for c in scan.candidates]
        )
        resolve(trial, dump, layout)
        found = sum(1 for v in trial.vmcs if not v.nested)
        tried.append((key, digest, match, layout, found))
    tried.sort(
        key=lambda t: (t[4] == 0, _MATCHES.index(t[2]), -t[4], -len(t[3].fields), t[0], t[1])
    )
    key, digest, match, layout, found = tried[0]
    sources = []
    for p in db.provenance(key, digest):
        who = p.get("source") or p.get("host")
        if who and who not in sources:
            sources.append(who)
    how = {
        "signature": f"the dump's CPU signature {sig:x}",
        "model": f"the family and model of the dump's CPU signature {sig:x} (another stepping)",
        "revision-id": f"the revision id {key.revision_id:x} only (its CPU signature "
        f"{key.signature:x} is not the dump's {sig:x})",
    }[match]
    info = {
        "key": key.id,
        "digest": digest,
        "basis": "partial",
        "partial": True,
        "match": match,
        "field_count": len(layout.fields),
        "revision_id": key.revision_id,
        "sources": sources,
        "reason": (
            f"no full layout may be served; decoded with the partial layout {key.id} "
            f"{digest[:12]} ({len(layout.fields)} fields), matched by {how}: a partial "
            "published layout, never served to a host; fields it lacks are not decoded"
        ),
        "partial_tried": [
            {
                "key": k.id,
                "digest": d,
                "match": m,
                "field_count": len(lay.fields),
                "vmcs_found": n,
            }
            for k, d, m, lay, n in tried
        ],
    }
    return layout, info


def analyze(
    path: str,
    vmcsinfo_file: str | None = None,
    nofollow: bool = False,
    db: str | None = None,
    strict: bool = False,
) -> dict:
    """The CONTRACT 4 report of the dump at path (raises CrashError). With
    nofollow (a root-run module), the dump is opened only as a regular file,
    never through a symbolic link. db: the fleet database, asked only when
    neither the option, a note nor a file gives the VMCSINFO (strict: never
    the layout of another microcode revision)."""
    dump_path, side = locate(path)
    if db is not None and not os.path.isdir(db):
        raise CrashError(f"--db {db}: no database directory there")
    option = None
    if vmcsinfo_file:
        option = _layout(read_small(vmcsinfo_file, "VMCSINFO file"), vmcsinfo_file)
    try:
        dump = Dump(dump_path, nofollow=nofollow)
    except DumpError as e:
        raise CrashError(str(e)) from e
    with dump:
        try:
            scan = collect(dump)
        except DumpError as e:
            raise CrashError(str(e)) from e
        notes = [(paddr, text, parse(text)) for paddr, text in scan.notes]
        note = None
        if notes:
            votes = Counter(n[2].digest() for n in notes)
            best = votes.most_common(1)[0][0]
            note = [n for n in notes if n[2].digest() == best][-1]
        file_layout = file_error = None
        if side:
            try:
                file_layout = _layout(read_small(side, "VMCSINFO file"), side)
            except CrashError as e:
                file_error = str(e)
        info: dict = {}
        if option is not None:
            layout, source, where = option, "option", vmcsinfo_file
        elif notes:
            # Several notes: the module was loaded more than once and an older
            # note survived in memory. The digest most of them agree on wins.
            paddr, _text, layout = note
            source, where = "note", f"ELF note at {paddr:#x}"
            info["note_paddr"] = paddr
            info["notes"] = len(notes)
        elif file_layout is not None:
            layout, source, where = file_layout, "file", side
        elif db is not None:
            layout, info["database"] = from_database(dump, scan, db, strict)
            partial = bool(info["database"].get("partial"))
            source = "database-partial" if partial else "database"
            where = f"database {db}, key {info['database']['key']}" + (
                ", a partial layout" if partial else ""
            )
            if partial:
                info["partial"] = True
        else:
            tried = [
                "--vmcsinfo (not given)",
                f"a VMCSINFO note in the dump's memory ({len(scan.bad_notes)} note-like pages, "
                + (
                    "none valid: " + "; ".join(w for _p, w in scan.bad_notes[:3])
                    if scan.bad_notes
                    else "none"
                )
                + ")",
                f"the file beside the dump ({file_error or 'none: ' + _sidecar_path(dump_path)})",
            ]
            raise CrashError(
                "no VMCSINFO for this dump; tried " + ", ".join(tried) + ". Give one with "
                "--vmcsinfo FILE (the host's /var/lib/vmcsinfo/vmcsinfo, or a probe of the same "
                "CPU model)",
                EXIT_NO_VMCSINFO,
            )
        # Pages that start with the layout's revision id, before resolve()
        # sorts them into VMCSes and rejects: none at all, with a VMCSINFO
        # from elsewhere, most likely means a VMCSINFO of another CPU.
        same_revision = sum(1 for c in scan.candidates if c.revision_id == layout.revision_id)
        resolve(scan, dump, layout)
        report = {
            "format": 1,
            "dump": {
                "path": dump_path,
                "kind": dump.kind,
                "flattened": dump.flattened,
                "codecs": sorted(dump.codecs),
                "pages": scan.pages,
                "unreadable_pages": dump.unreadable,
                "osrelease": dump.info.get("OSRELEASE", ""),
                "crashtime": _int(dump.info.get("CRASHTIME")),
            },
            "vmcsinfo": {
                "source": source,
                "where": where,
                "digest": layout.digest(),
                "revision_id": layout.revision_id,
                "cpu_signature": layout.cpu_signature,
                "microcode": layout.microcode,
                "field_count": len(layout.fields),
                **info,
            },
            "vmcs": [],
            "rejected": len(scan.rejected),
            "rejected_detail": [
                {"paddr": c.paddr, "revision_id": c.revision_id, "reasons": c.reasons}
                for c in scan.rejected
            ],
        }
        report["vmcsinfo"]["pages_with_revision"] = same_revision
        if not same_revision and source != "note":
            report["vmcsinfo"]["hint"] = (
                f"no page of this dump starts with the VMCSINFO's revision id "
                f"{layout.revision_id:#x}: if the host ran guests, this VMCSINFO is of another "
                "CPU model (the revision id is the first dword of every VMCS of a CPU)"
            )
        if notes:
            report["vmcsinfo"]["note_digest"] = note[2].digest()
            # Of the note's text itself, byte for byte: equal to sha256sum of
            # the crashed kernel's /sys/kernel/vmcsinfo/vmcsinfo.
            report["vmcsinfo"]["note_sha256"] = hashlib.sha256(note[1].encode()).hexdigest()
        if file_layout is not None:
            report["vmcsinfo"]["file_digest"] = file_layout.digest()
        if file_error:
            report["vmcsinfo"]["file_error"] = file_error
        if db is not None and source not in ("database", "database-partial"):
            report["vmcsinfo"]["database"] = {
                "dir": db,
                "used": False,
                "reason": f"not needed: the VMCSINFO came from the {source} ({where})",
            }
        if notes and file_layout is not None and note[2].digest() != file_layout.digest():
            report["vmcsinfo"]["disagree"] = (
                f"the note in the dump ({note[2].digest()[:16]}) and {side} "
                f"({file_layout.digest()[:16]}) differ; the note was used"
            )
        for v in scan.vmcs:
            report["vmcs"].append(
                {
                    "paddr": v.paddr,
                    "revision_id": v.revision_id,
                    "shadow": v.shadow,
                    "nested": v.nested,
                    "fields": v.fields,
                }
            )
        report["groups"] = groups(report["vmcs"])
        return report


def _int(text: str | None) -> int | None:
    return int(text) if text and text.isdigit() else None


def groups(vmcs: list[dict]) -> dict:
    """EPTP: one VM's address space; HOST_CR3: one QEMU process; VPID: one vCPU."""
    out: dict = {}
    for key, name in (
        ("eptp", "EPT_POINTER"),
        ("host_cr3", "HOST_CR3"),
        ("vpid", "VIRTUAL_PROCESSOR_ID"),
    ):
        g: dict = defaultdict(list)
        for v in vmcs:
            if name in v["fields"] and not v["nested"]:
                val = v["fields"][name] & (~0xFFF if key == "eptp" else -1)
                g[f"{val:#x}"].append(v["paddr"])
        out[key] = dict(g)
    return out


# -- the readable view --------------------------------------------------------

RFLAGS = {
    0: "CF",
    2: "PF",
    4: "AF",
    6: "ZF",
    7: "SF",
    8: "TF",
    9: "IF",
    10: "DF",
    11: "OF",
    14: "NT",
    16: "RF",
    17: "VM",
    18: "AC",
    19: "VIF",
    20: "VIP",
    21: "ID",
}
CR0 = {
    0: "PE",
    1: "MP",
    2: "EM",
    3: "TS",
    4: "ET",
    5: "NE",
    16: "WP",
    18: "AM",
    29: "NW",
    30: "CD",
    31: "PG",
}
CR4 = {
    0: "VME",
    1: "PVI",
    2: "TSD",
    3: "DE",
    4: "PSE",
    5: "PAE",
    6: "MCE",
    7: "PGE",
    8: "PCE",
    9: "OSFXSR",
    10: "OSXMMEXCPT",
    11: "UMIP",
    12: "LA57",
    13: "VMXE",
    14: "SMXE",
    16: "FSGSBASE",
    17: "PCIDE",
    18: "OSXSAVE",
    20: "SMEP",
    21: "SMAP",
    22: "PKE",
    23: "CET",
    24: "PKS",
}
EFER = {0: "SCE", 8: "LME", 10: "LMA", 11: "NXE", 12: "SVME", 13: "LMSLE", 14: "FFXSR", 15: "TCE"}
INTERRUPTIBILITY = {0: "STI", 1: "MOV-SS", 2: "SMI", 3: "NMI", 4: "ENCLAVE"}
ACTIVITY = {0: "active", 1: "HLT", 2: "shutdown", 3: "wait-for-SIPI"}
# Basic exit reasons (SDM Vol. 3D Appendix C; Linux's EXIT_REASON_* names).
EXIT_REASONS = {
    0: "EXCEPTION_NMI",
    1: "EXTERNAL_INTERRUPT",
    2: "TRIPLE_FAULT",
    3: "INIT_SIGNAL",
    4: "SIPI_SIGNAL",
    5: "IO_SMI",
    6: "OTHER_SMI",
    7: "INTERRUPT_WINDOW",
    8: "NMI_WINDOW",
    9: "TASK_SWITCH",
    10: "CPUID",
    11: "GETSEC",
    12: "HLT",
    13: "INVD",
    14: "INVLPG",
    15: "RDPMC",
    16: "RDTSC",
    17: "RSM",
    18: "VMCALL",
    19: "VMCLEAR",
    20: "VMLAUNCH",
    21: "VMPTRLD",
    22: "VMPTRST",
    23: "VMREAD",
    24: "VMRESUME",
    25: "VMWRITE",
    26: "VMOFF",
    27: "VMON",
    28: "CR_ACCESS",
    29: "DR_ACCESS",
    30: "IO_INSTRUCTION",
    31: "MSR_READ",
    32: "MSR_WRITE",
    33: "INVALID_STATE",
    34: "MSR_LOAD_FAIL",
    36: "MWAIT_INSTRUCTION",
    37: "MONITOR_TRAP_FLAG",
    39: "MONITOR_INSTRUCTION",
    40: "PAUSE_INSTRUCTION",
    41: "MCE_DURING_VMENTRY",
    43: "TPR_BELOW_THRESHOLD",
    44: "APIC_ACCESS",
    45: "EOI_INDUCED",
    46: "GDTR_IDTR",
    47: "LDTR_TR",
    48: "EPT_VIOLATION",
    49: "EPT_MISCONFIG",
    50: "INVEPT",
    51: "RDTSCP",
    52: "PREEMPTION_TIMER",
    53: "INVVPID",
    54: "WBINVD",
    55: "XSETBV",
    56: "APIC_WRITE",
    57: "RDRAND",
    58: "INVPCID",
    59: "VMFUNC",
    60: "ENCLS",
    61: "RDSEED",
    62: "PML_FULL",
    63: "XSAVES",
    64: "XRSTORS",
    67: "UMWAIT",
    68: "TPAUSE",
    74: "BUS_LOCK",
    75: "NOTIFY",
}


def flags(value: int, names: dict[int, str]) -> str:
    return " ".join(n for b, n in sorted(names.items()) if value >> b & 1)


def access_rights(ar: int) -> str:
    """A segment's VMX access-rights field in words."""
    if ar >> 16 & 1:
        return "unusable"
    typ, s = ar & 0xF, ar >> 4 & 1
    if s:
        kind = (
            ("code" if typ & 8 else "data")
            + (
                (" conforming" if typ & 4 else "") + (" readable" if typ & 2 else "")
                if typ & 8
                else (" expand-down" if typ & 4 else "") + (" writable" if typ & 2 else "")
            )
            + (" accessed" if typ & 1 else "")
        )
    else:
        kind = {1: "TSS16-avail", 2: "LDT", 3: "TSS16-busy", 9: "TSS-avail", 11: "TSS-busy"}.get(
            typ, f"system type {typ}"
        )
    bits = [kind, f"DPL{ar >> 5 & 3}"]
    bits += [n for b, n in ((7, "P"), (12, "AVL"), (13, "L"), (14, "DB"), (15, "G")) if ar >> b & 1]
    return " ".join(bits)


def exit_reason(reason: int) -> str:
    basic = reason & 0xFFFF
    name = EXIT_REASONS.get(basic, "unknown")
    extra = " (VM-entry failure)" if reason >> 31 & 1 else ""
    return f"{basic} {name}{extra}"


def cpu_mode(f: dict) -> str | None:
    """The guest's execution mode and privilege level from CR0, EFER, RFLAGS
    and the CS/SS access rights (SDM Vol. 3A 2.2, 5.2): what an engineer asks
    first (was the guest in its kernel or in user space?)."""
    cr0, ar_cs, ar_ss = f.get("GUEST_CR0"), f.get("GUEST_CS_AR_BYTES"), f.get("GUEST_SS_AR_BYTES")
    if cr0 is None or ar_cs is None:
        return None
    efer, rflags = f.get("GUEST_IA32_EFER", 0), f.get("GUEST_RFLAGS", 0)
    if not cr0 & 1:
        return "real mode"
    if rflags >> 17 & 1:
        mode = "virtual-8086 mode"
    elif efer >> 10 & 1:
        mode = "64-bit mode" if ar_cs >> 13 & 1 else "compatibility mode (32-bit code, IA-32e)"
    else:
        mode = f"protected mode, {32 if ar_cs >> 14 & 1 else 16}-bit code"
    # CPL is SS.DPL (the VMCS keeps it there for VM entry).
    cpl = (ar_ss if ar_ss is not None else ar_cs) >> 5 & 3
    who = {0: "kernel", 3: "user"}.get(cpl, f"ring {cpl}")
    return f"{mode}, CPL {cpl} ({who})"


def render_vmcs(v: dict, index: int) -> list[str]:
    f = v["fields"]
    g = f.get
    kind = "KVM vmcs12 (L2 guest of a nested hypervisor)" if v["nested"] else "VMCS"
    head = f"#{index} {kind} at {v['paddr']:#x}, revision {v['revision_id']:#x}"
    if v["shadow"]:
        head += " (shadow)"
    if "EPT_POINTER" in f:
        head += f", VM eptp {f['EPT_POINTER'] & ~0xFFF:#x}"
    if "HOST_CR3" in f and not v["nested"]:
        head += f", process HOST_CR3 {f['HOST_CR3']:#x}"
    if "VIRTUAL_PROCESSOR_ID" in f:
        head += f", vCPU VPID {f['VIRTUAL_PROCESSOR_ID']}"
    out = [head]

    def reg(name: str, field: str, names: dict[int, str] | None = None) -> None:
        if field in f:
            s = f"  {name:<10} {f[field]:#018x}"
            if names:
                s += f"  [{flags(f[field], names) or 'none'}]"
            out.append(s)

    mode = cpu_mode(f)
    if mode:
        out.append(f"  {'mode':<10} {mode}")
    reg("rip", "GUEST_RIP")
    reg("rsp", "GUEST_RSP")
    reg("rflags", "GUEST_RFLAGS", RFLAGS)
    reg("cr0", "GUEST_CR0", CR0)
    reg("cr3", "GUEST_CR3")
    reg("cr4", "GUEST_CR4", CR4)
    reg("efer", "GUEST_IA32_EFER", EFER)
    for seg in SEGMENTS:
        sel, base = g(f"GUEST_{seg}_SELECTOR"), g(f"GUEST_{seg}_BASE")
        lim, ar = g(f"GUEST_{seg}_LIMIT"), g(f"GUEST_{seg}_AR_BYTES")
        if sel is None and base is None:
            continue
        line = (
            f"  {seg.lower():<10} {sel or 0:#06x}  base {base or 0:#018x}  limit {lim or 0:#010x}"
        )
        if ar is not None:
            line += f"  ar {ar:#06x} [{access_rights(ar)}]"
        out.append(line)
    for t in ("GDTR", "IDTR"):
        if f"GUEST_{t}_BASE" in f:
            out.append(
                f"  {t.lower():<10} base {f[f'GUEST_{t}_BASE']:#018x}"
                f"  limit {g(f'GUEST_{t}_LIMIT', 0):#06x}"
            )
    reg("dr7", "GUEST_DR7")
    if "GUEST_SYSENTER_CS" in f:
        out.append(
            f"  {'sysenter':<10} cs {f['GUEST_SYSENTER_CS']:#x}"
            f"  esp {g('GUEST_SYSENTER_ESP', 0):#x}  eip {g('GUEST_SYSENTER_EIP', 0):#x}"
        )
    reg("pat", "GUEST_IA32_PAT")
    if "GUEST_INTERRUPTIBILITY_INFO" in f:
        i = f["GUEST_INTERRUPTIBILITY_INFO"]
        out.append(f"  {'blocking':<10} {i:#x} [{flags(i, INTERRUPTIBILITY) or 'none'}]")
    if "GUEST_ACTIVITY_STATE" in f:
        a = f["GUEST_ACTIVITY_STATE"]
        out.append(f"  {'activity':<10} {a} ({ACTIVITY.get(a, 'unknown')})")
    if "VM_EXIT_REASON" in f:
        out.append(
            f"  {'last exit':<10} reason {exit_reason(f['VM_EXIT_REASON'])}, qualification "
            f"{g('EXIT_QUALIFICATION', 0):#x}"
        )
    out.append(
        "  (rax..r15 are not in the VMCS: KVM keeps them in its vcpu structure, "
        "struct kvm_vcpu_arch.regs)"
    )
    return out


def render(report: dict, verbose: bool = False) -> str:
    d, vi = report["dump"], report["vmcsinfo"]
    lines = [
        f"dump      {d['path']} ({d['kind']}{', flattened' if d['flattened'] else ''}"
        f"{', ' + '/'.join(d['codecs']) if d['codecs'] else ''}; {d['pages']} pages"
        f"{', ' + str(d['unreadable_pages']) + ' unreadable' if d['unreadable_pages'] else ''})",
        f"kernel    {d['osrelease'] or 'unknown'}"
        + (
            f", crashed {time.strftime('%Y-%m-%d %H:%M:%S UTC', time.gmtime(d['crashtime']))}"
            if d.get("crashtime")
            else ""
        ),
        f"VMCSINFO  from {vi['source']} ({vi['where']}): revision {vi['revision_id']:#x}, "
        f"{vi['field_count']} fields, digest {vi['digest'][:16]}"
        + (
            "; the vmcsinfo file beside the dump agrees"
            if vi["source"] == "note" and vi.get("file_digest") == vi["digest"]
            else ""
        ),
    ]
    dbi = vi.get("database")
    if dbi and dbi.get("used"):
        ident = dbi["identity"]
        lines.append(
            f"database  key {dbi['key']}, digest {dbi['digest'][:16]} ({dbi['basis']}: "
            f"{dbi['reason']})"
        )
        if dbi.get("partial"):
            lines.append(
                f"PARTIAL   a partial published layout: {dbi['field_count']} fields, matched by "
                f"{dbi['match']}; only those fields are decoded (from "
                + ("; ".join(dbi["sources"]) or "?")
                + ")"
            )
            for a in dbi["answers"]:
                lines.append(f"full      {a}")
        lines.append(
            f"cpu       {describe_cpu(ident)}: from the dump's kernel log "
            f"({dbi['log_records']} records)"
        )
        for e in dbi["evidence"]:
            lines.append(f"evidence  {e}")
    elif dbi:
        lines.append(f"database  {dbi['dir']}: {dbi['reason']}")
    if vi.get("disagree"):
        lines.append(f"WARNING   {vi['disagree']}")
    if vi.get("file_error"):
        lines.append(f"file      {vi['file_error']}")
    if vi.get("hint"):
        lines.append(f"hint      {vi['hint']}")
    lines.append(
        f"found     {len(report['vmcs'])} VMCS page(s); {report['rejected']} candidate(s) rejected"
        + ("" if verbose or not report["rejected"] else " (--verbose says why)")
    )
    if verbose:
        for r in report["rejected_detail"]:
            lines.append(f"  rejected {r['paddr']:#x}: " + "; ".join(r["reasons"]))
    g = report.get("groups", {})
    if report["vmcs"]:
        lines.append(
            f"groups    {len(g.get('eptp', {}))} VM(s) by EPT pointer, "
            f"{len(g.get('host_cr3', {}))} QEMU process(es) by HOST_CR3, "
            f"{len(g.get('vpid', {}))} vCPU(s) by VPID"
        )
    for i, v in enumerate(report["vmcs"]):
        lines.append("")
        lines += render_vmcs(v, i)
    return "\n".join(lines) + "\n"


# -- a host's crash dumps (the Ansible module vmcsinfo_crash_info) -------------

# Where kdump writes: Debian's kdump-tools (KDUMP_COREDIR in
# /etc/default/kdump-tools), RHEL's kdump (`path` in /etc/kdump.conf).
KDUMP_TOOLS_DEFAULTS = "/etc/default/kdump-tools"
KDUMP_CONF = "/etc/kdump.conf"
DEFAULT_CRASH_DIR = "/var/crash"
KEY_REGISTERS = (
    ("rip", "GUEST_RIP"),
    ("rsp", "GUEST_RSP"),
    ("rflags", "GUEST_RFLAGS"),
    ("cr0", "GUEST_CR0"),
    ("cr3", "GUEST_CR3"),
    ("cr4", "GUEST_CR4"),
    ("efer", "GUEST_IA32_EFER"),
    ("cs_selector", "GUEST_CS_SELECTOR"),
    ("vpid", "VIRTUAL_PROCESSOR_ID"),
    ("eptp", "EPT_POINTER"),
    ("host_cr3", "HOST_CR3"),
)


def _small_or_none(path: str) -> str | None:
    try:
        return read_small(path, "configuration file")
    except CrashError:
        return None


def crash_dirs(root: str = "/") -> tuple[str, str]:
    """(the directory kdump writes dumps into, where that was found)."""
    text = _small_or_none(os.path.join(root, KDUMP_TOOLS_DEFAULTS.lstrip("/")))
    for line in (text or "").splitlines():
        key, sep, value = line.strip().partition("=")
        if sep and key == "KDUMP_COREDIR" and value.strip("\"'"):
            return value.strip().strip("\"'"), KDUMP_TOOLS_DEFAULTS
    text = _small_or_none(os.path.join(root, KDUMP_CONF.lstrip("/")))
    for line in (text or "").splitlines():
        words = line.split("#", 1)[0].split()
        if len(words) == 2 and words[0] == "path":
            return words[1], KDUMP_CONF
    return DEFAULT_CRASH_DIR, "default"


def guest_summary(v: dict) -> dict:
    f = v["fields"]
    out = {"paddr": v["paddr"], "nested": v["nested"], "shadow": v["shadow"]}
    for key, name in KEY_REGISTERS:
        if name in f:
            out[key] = f[name]
    mode = cpu_mode(f)
    if mode:
        out["mode"] = mode
    if "VM_EXIT_REASON" in f:
        out["exit_reason"] = exit_reason(f["VM_EXIT_REASON"])
        out["exit_qualification"] = f.get("EXIT_QUALIFICATION", 0)
    return out


def list_dumps(
    crash_dir: str, vmcsinfo_file: str | None = None, limit: int = 5, fields: bool = False
) -> list[dict]:
    """The newest `limit` dump directories under crash_dir, each analyzed:
    when, which VMCSINFO, how many guest VMCSes, and each guest's key
    registers (every field with `fields`). A dump that cannot be read gets
    an `error` instead. Directories are not followed through symbolic links."""
    if vmcsinfo_file:  # a bad one is the caller's error, not each dump's
        _layout(read_small(vmcsinfo_file, "VMCSINFO file"), vmcsinfo_file)
    try:
        entries = sorted(os.scandir(crash_dir), key=lambda e: e.name, reverse=True)
    except FileNotFoundError:
        return []
    except OSError as e:
        raise CrashError(f"cannot list {crash_dir}: {e.strerror}") from e
    out = []
    for e in entries:
        if not e.is_dir(follow_symlinks=False):
            continue
        try:
            dump_path, _side = locate(e.path)
        except CrashError as err:
            incomplete = os.path.join(e.path, INCOMPLETE)
            if not os.path.isfile(incomplete):
                continue  # no dump file in it (kdump's own scratch, an empty directory)
            # A crash whose dump kdump could not finish saving: listed, with why.
            out.append(
                {
                    "path": e.path,
                    "dump_file": incomplete,
                    "stamp": e.name,
                    "error": str(err),
                    "exit_code": EXIT_USAGE,
                }
            )
            if len(out) >= limit:
                break
            continue
        item: dict = {"path": e.path, "dump_file": dump_path, "stamp": e.name}
        try:
            st = os.stat(dump_path, follow_symlinks=False)
            item["size"] = st.st_size
            item["mtime"] = int(st.st_mtime)
            report = analyze(e.path, vmcsinfo_file, nofollow=True)
        except (CrashError, OSError) as err:
            item["error"] = str(err)
            item["exit_code"] = getattr(err, "exit_code", EXIT_USAGE)
            out.append(item)
            if len(out) >= limit:
                break
            continue
        d = report["dump"]
        item.update(
            kind=d["kind"],
            flattened=d["flattened"],
            codecs=d["codecs"],
            kernel=d["osrelease"],
            crashtime=d["crashtime"],
            pages=d["pages"],
            unreadable_pages=d["unreadable_pages"],
            vmcsinfo={
                k: report["vmcsinfo"][k]
                for k in ("source", "where", "digest", "revision_id", "disagree")
                if k in report["vmcsinfo"]
            },
            vmcs_count=len(report["vmcs"]),
            rejected=report["rejected"],
            groups={k: len(v) for k, v in report["groups"].items()},
            guests=[guest_summary(v) for v in report["vmcs"]],
        )
        if fields:
            item["vmcs"] = report["vmcs"]
        out.append(item)
        if len(out) >= limit:
            break
    return out


def triage_text(host: str, result: dict) -> str:
    """One host's crash triage (vmcsinfo_crash_info's result) as a short text."""
    dumps = result.get("dumps") or []
    lines = [f"{host}: {len(dumps)} crash dump(s) in {result.get('crash_dir', '?')}"]
    for d in dumps:
        lines.append(f"  {d['path']}")
        if "error" in d:
            lines.append(f"    unreadable: {d['error']}")
            continue
        vi = d.get("vmcsinfo", {})
        lines.append(
            f"    kernel {d.get('kernel') or '?'}, {d.get('kind')} "
            f"{'/'.join(d.get('codecs', []))}, "
            f"VMCSINFO from {vi.get('source')} (digest {str(vi.get('digest', ''))[:16]})"
        )
        if vi.get("disagree"):
            lines.append(f"    WARNING {vi['disagree']}")
        g = d.get("groups", {})
        lines.append(
            f"    {d.get('vmcs_count', 0)} guest VMCS(es): {g.get('eptp', 0)} VM(s), "
            f"{g.get('vpid', 0)} vCPU(s); {d.get('rejected', 0)} candidate(s) rejected"
        )
        for gu in d.get("guests", []):
            regs = " ".join(
                f"{k}={gu[k]:#x}" for k in ("rip", "rsp", "rflags", "cr0", "cr3") if k in gu
            )
            kind = "vmcs12 " if gu.get("nested") else ""
            exit_ = f", {gu['mode']}" if "mode" in gu else ""
            exit_ += f", last exit {gu['exit_reason']}" if "exit_reason" in gu else ""
            lines.append(f"      {kind}{gu['paddr']:#x}: {regs}{exit_}")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        prog="vmcsinfo-crash",
        description="Find every guest VMCS in a KVM host's crash dump and decode it.",
    )
    p.add_argument("--vmcsinfo", metavar="FILE", help="VMCSINFO text to decode with (CONTRACT 2)")
    p.add_argument(
        "--db",
        metavar="DIR",
        help="fleet VMCSINFO database (vmcsinfo-db) for a dump with neither note nor file: the "
        "CPU is identified from the dump's kernel log and VMCS pages (other microcode "
        "revisions only with the database's evidence, as vmcsinfo-db lookup without --strict)",
    )
    p.add_argument("--json", action="store_true", help="one JSON object on stdout (CONTRACT 4)")
    p.add_argument("--verbose", action="store_true", help="say why each candidate was rejected")
    p.add_argument(
        "dump", metavar="DUMP", help="vmcore file or dump directory (/var/crash/<stamp>/)"
    )
    args = p.parse_args(argv)
    try:
        report = analyze(args.dump, args.vmcsinfo, db=args.db)
    except CrashError as e:
        sys.stderr.write(f"vmcsinfo-crash: {e}\n")
        return e.exit_code
    if args.json:
        json.dump(report, sys.stdout, sort_keys=True)
        sys.stdout.write("\n")
    else:
        sys.stdout.write(render(report, args.verbose))
    return EXIT_OK
