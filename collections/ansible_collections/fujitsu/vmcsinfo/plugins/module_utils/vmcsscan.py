# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Find the VMCS pages of a crash dump and decode them with a VMCSINFO layout.

One pass over the dump's pages (dumpfile.Dump.pages, first bytes only) keeps
the pages that start like a VMCS (a plausible revision id, a small VMX-abort
indicator) and the pages that start like the vmcsinfo module's ELF note.
Once the layout is known (CONTRACT 4's order: --vmcsinfo, the note, the file
beside the dump), each candidate whose revision id is the layout's (bit 31
set: a shadow VMCS) or KVM's vmcs12 (0x11e57ed0) is read whole and checked
with what only a known layout allows: the VMCS link pointer, a 64-bit Linux
host's host state (CR0 PE/PG/WP, CR4.VMXE, selectors with RPL and TI 0, a
kernel HOST_RIP shared by every VMCS of the host), the default-1 control
bits, the EPT pointer's format, a canonical guest RIP and well-formed access
rights. A rejected candidate keeps its reasons (--verbose shows them).
"""

from __future__ import annotations

import struct
from collections import Counter
from dataclasses import dataclass, field

from ansible_collections.fujitsu.vmcsinfo.plugins.module_utils.dumpfile import PAGE_SIZE, Dump
from ansible_collections.fujitsu.vmcsinfo.plugins.module_utils.vmcs12_layout import (
    VMCS12_REVISION,
    VMCS12_VMCSINFO,
)
from ansible_collections.fujitsu.vmcsinfo.plugins.module_utils.vmcsinfo import (
    Vmcsinfo,
    VmcsinfoError,
    parse,
)

VMCS12 = parse(VMCS12_VMCSINFO)
NOTE_NAME = b"VMCSINFO\0"
# Revision ids a VMCS page can start with: real CPUs use small numbers;
# software VMMs their own (KVM 0x11e57ed0, Xen 0xda0400 / 0x40000001).
_MAX_HW_REVISION = 0xFFFF
MAX_CANDIDATES = 1 << 20  # a dump with more such pages is not a plausible host

# Default-1 bits of the VMX controls as KVM leaves them (SDM Appendix A.3-A.5;
# KVM clears CR3-load/store exiting with EPT, and the TRUE controls let the
# debug-controls bits of the exit/entry controls be 0).
PIN_DEFAULT1 = 0x16
PROC_DEFAULT1 = 0x0401E172 & ~((1 << 15) | (1 << 16))
EXIT_DEFAULT1 = 0x00036DFF & ~(1 << 2)
ENTRY_DEFAULT1 = 0x000011FF & ~(1 << 2)
KERNEL_HALF = 0xFFFF800000000000
KERNEL_TEXT = 0xFFFFFFFF80000000  # __START_KERNEL_map: kernel text and modules above
SEGMENTS = ("ES", "CS", "SS", "DS", "FS", "GS", "LDTR", "TR")


@dataclass
class Candidate:
    paddr: int
    revision_id: int
    shadow: bool
    abort: int
    ref: object = None
    reasons: list[str] = field(default_factory=list)


@dataclass
class Vmcs:
    paddr: int
    revision_id: int
    shadow: bool
    nested: bool  # a KVM vmcs12 page: L2 state kept by KVM for an L1 hypervisor
    layout: Vmcsinfo
    fields: dict[str, int]


@dataclass
class ScanResult:
    notes: list[tuple[int, str]]  # (paddr, text) of every valid VMCSINFO note
    bad_notes: list[tuple[int, str]]  # (paddr, why) of note-like pages that failed
    candidates: list[Candidate]
    pages: int = 0

    vmcs: list[Vmcs] = field(default_factory=list)
    rejected: list[Candidate] = field(default_factory=list)


def _plausible(d0: int, d1: int) -> bool:
    rev = d0 & 0x7FFFFFFF
    if rev == 0 or d1 > 0xFF:
        return False
    return rev <= _MAX_HW_REVISION or rev in (VMCS12_REVISION, 0xDA0400, 0x40000001)


_NOTE_D0 = len(NOTE_NAME)
_SOFT_REVISIONS = frozenset(
    r | s for r in (VMCS12_REVISION, 0xDA0400, 0x40000001) for s in (0, 1 << 31)
)


def _first_dword(d0: int) -> bool:
    """Whether a page starting with d0 may be the note or a VMCS (the cheap filter)."""
    return 0 < (d0 & 0x7FFFFFFF) <= _MAX_HW_REVISION or d0 in _SOFT_REVISIONS


def collect(dump: Dump) -> ScanResult:
    """The pass over the dump: note pages and VMCS-like pages."""
    notes: list[tuple[int, str]] = []
    bad: list[tuple[int, str]] = []
    cands: list[Candidate] = []
    for pfn, head, ref in dump.pages(head=24, keep=_first_dword):
        if len(head) < 24:
            continue
        d0, d1, d2 = struct.unpack_from("<III", head)
        if d0 == len(NOTE_NAME) and d2 == 0 and head[12:21] == NOTE_NAME:
            text, why = _read_note(dump, pfn, ref, d1)
            if text is None:
                bad.append((pfn * PAGE_SIZE, why))
            else:
                notes.append((pfn * PAGE_SIZE, text))
            continue
        if _plausible(d0, d1):
            if len(cands) >= MAX_CANDIDATES:
                continue
            cands.append(Candidate(pfn * PAGE_SIZE, d0 & 0x7FFFFFFF, bool(d0 >> 31), d1, ref))
    return ScanResult(notes, bad, cands, dump.scanned)


def _read_note(dump: Dump, pfn: int, ref, descsz: int) -> tuple[str | None, str]:
    """The note's text (CONTRACT 2, checked by the parser), or None and why not."""
    if not 0 < descsz <= 1 << 20:
        return None, f"note size {descsz} is implausible"
    page = dump.full(ref)
    if page is None:
        return None, "page unreadable"
    data = bytearray(page[24:])
    nxt = pfn + 1
    while len(data) < descsz:
        more = dump.page(nxt)  # the module's note pages are physically contiguous
        if more is None:
            return None, f"note continues into page {nxt:#x}, which the dump lacks"
        data += more
        nxt += 1
    raw = bytes(data[:descsz])
    try:
        text = raw.decode("ascii")
        parse(text)
    except (UnicodeDecodeError, VmcsinfoError) as e:
        return None, f"note text rejected: {e}"
    return text, ""


# -- checks -------------------------------------------------------------------


def _canonical(v: int) -> bool:
    top = v >> 47
    return top in (0, 0x1FFFF)


def check(page: bytes, layout: Vmcsinfo, dump: Dump | None = None) -> list[str]:
    """Why this page is not a VMCS of `layout` (empty: it is one)."""
    values = {f.name: f.decode(page) for f in layout.fields}

    def has(*names: str) -> bool:
        return all(n in values for n in names)

    why: list[str] = []
    rev = layout.revision_id
    if has("VMCS_LINK_POINTER"):
        link = values["VMCS_LINK_POINTER"]
        if link != 0xFFFFFFFFFFFFFFFF:
            ok = False
            if link % PAGE_SIZE == 0 and dump is not None:
                head = dump.read(link, 4)
                ok = head is not None and struct.unpack("<I", head)[0] == (rev | 1 << 31)
            if not ok:
                why.append(f"VMCS link pointer {link:#x} is neither ~0 nor a shadow VMCS")
    if has("HOST_CR4") and not values["HOST_CR4"] >> 13 & 1:
        why.append(f"HOST_CR4 {values['HOST_CR4']:#x} lacks VMXE")
    if has("HOST_CR0"):
        cr0 = values["HOST_CR0"]
        if cr0 & 0x80010001 != 0x80010001:
            why.append(f"HOST_CR0 {cr0:#x} lacks PE, WP or PG (not a 64-bit Linux host)")
    for seg in ("CS", "TR"):
        name = f"HOST_{seg}_SELECTOR"
        if has(name) and (values[name] == 0 or values[name] & 7):
            why.append(f"{name} {values[name]:#x} is not a GDT selector with RPL 0")
    for seg in ("SS", "DS", "ES", "FS", "GS"):
        name = f"HOST_{seg}_SELECTOR"
        if has(name) and values[name] & 7:
            why.append(f"{name} {values[name]:#x} has RPL or TI set")
    if has("HOST_RIP") and values["HOST_RIP"] < KERNEL_TEXT:
        why.append(f"HOST_RIP {values['HOST_RIP']:#x} is not a kernel text address")
    for name, mask in (
        ("PIN_BASED_VM_EXEC_CONTROL", PIN_DEFAULT1),
        ("CPU_BASED_VM_EXEC_CONTROL", PROC_DEFAULT1),
        ("VM_EXIT_CONTROLS", EXIT_DEFAULT1),
        ("VM_ENTRY_CONTROLS", ENTRY_DEFAULT1),
    ):
        if has(name) and values[name] & mask != mask:
            why.append(f"{name} {values[name]:#x} lacks default-1 bits {mask & ~values[name]:#x}")
    if (
        has("CPU_BASED_VM_EXEC_CONTROL", "SECONDARY_VM_EXEC_CONTROL", "EPT_POINTER")
        and values["CPU_BASED_VM_EXEC_CONTROL"] >> 31 & 1
        and values["SECONDARY_VM_EXEC_CONTROL"] >> 1 & 1
    ):
        eptp = values["EPT_POINTER"]
        if eptp & 7 not in (0, 6) or (eptp >> 3) & 7 not in (3, 4) or (eptp >> 7) & 0x1F:
            why.append(f"EPT pointer {eptp:#x} has no valid memory type / walk length")
    if has("GUEST_RIP"):
        rip = values["GUEST_RIP"]
        long_mode = (
            has("GUEST_IA32_EFER", "GUEST_CS_AR_BYTES")
            and values["GUEST_IA32_EFER"] >> 10 & 1
            and values["GUEST_CS_AR_BYTES"] >> 13 & 1
        )
        if not _canonical(rip) or (has("GUEST_IA32_EFER") and not long_mode and rip >> 32):
            why.append(f"GUEST_RIP {rip:#x} is not canonical for the guest's mode")
    for seg in SEGMENTS:
        name = f"GUEST_{seg}_AR_BYTES"
        if not has(name):
            continue
        ar = values[name]
        if ar >> 16 & 1:  # unusable: the other bits do not matter
            continue
        if ar & 0xFFFE0F00:
            why.append(f"{name} {ar:#x} sets reserved bits")
        elif seg in ("CS", "TR") and not ar >> 7 & 1:
            why.append(f"{name} {ar:#x}: usable but not present")
    return why


def decode(page: bytes, layout: Vmcsinfo) -> dict[str, int]:
    return {f.name: f.decode(page) for f in layout.fields}


def resolve(scan: ScanResult, dump: Dump, layout: Vmcsinfo) -> ScanResult:
    """Check every candidate against the layout (or vmcs12); fill vmcs/rejected."""
    layouts = {layout.revision_id: layout}
    layouts.setdefault(VMCS12_REVISION, VMCS12)
    found: list[Vmcs] = []
    rejected: list[Candidate] = []
    for c in scan.candidates:
        lay = layouts.get(c.revision_id)
        if lay is None:  # another revision id: not a candidate for this layout
            continue
        page = dump.full(c.ref)
        if page is None:
            c.reasons.append("page unreadable")
            rejected.append(c)
            continue
        if c.abort:
            c.reasons.append(f"VMX-abort indicator {c.abort:#x} is set")
        c.reasons += check(page, lay, dump)
        if c.reasons:
            rejected.append(c)
            continue
        nested = lay is VMCS12 and lay is not layout
        found.append(Vmcs(c.paddr, c.revision_id, c.shadow, nested, lay, decode(page, lay)))
    # One HOST_RIP for the VMCSes of one host (KVM's VM-exit entry point).
    l1 = [v for v in found if not v.nested and "HOST_RIP" in v.fields]
    rips = Counter(v.fields["HOST_RIP"] for v in l1)
    if len(rips) > 1:
        common, count = rips.most_common(1)[0]
        if count > 1:
            keep = []
            for v in found:
                if v in l1 and v.fields["HOST_RIP"] != common:
                    c = Candidate(v.paddr, v.revision_id, v.shadow, 0)
                    c.reasons.append(
                        f"HOST_RIP {v.fields['HOST_RIP']:#x} differs from {common:#x}, "
                        f"shared by {count} other VMCSes of this host"
                    )
                    rejected.append(c)
                else:
                    keep.append(v)
            found = keep
    scan.vmcs = sorted(found, key=lambda v: v.paddr)
    scan.rejected = sorted(rejected, key=lambda c: c.paddr)
    return scan
