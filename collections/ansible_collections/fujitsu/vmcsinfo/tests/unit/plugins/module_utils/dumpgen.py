# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Test-only writers of crash dump files from a page map {pfn: 4096 bytes}:
ELF vmcores as /proc/vmcore has them, and kdump-compressed files laid out as
makedumpfile writes them (header, sub-header with VMCOREINFO and notes, two
bitmaps, page descriptors, one shared zero page), optionally flattened (-F).
Their output is checked against drgn (libkdumpfile) in the tests, so the
reader is never checked only against its own writer."""

from __future__ import annotations

import random
import struct
import zlib
from pathlib import Path

from ansible_collections.fujitsu.vmcsinfo.plugins.module_utils.vmcsinfo import Vmcsinfo, parse
from ansible_collections.fujitsu.vmcsinfo.plugins.module_utils.vmcsscan import VMCS12

PAGE = 4096
FIXTURES = Path(__file__).resolve().parents[2] / "fixtures"
BOCHS_TEXT = (FIXTURES / "bochs-2.7-corei7_haswell_4770.vmcsinfo").read_text()
BOCHS = parse(BOCHS_TEXT)


def vmcoreinfo(extra: dict[str, str] | None = None) -> str:
    """A VMCOREINFO that drgn accepts for physical reads (no debug info)."""
    keys = {
        "OSRELEASE": "6.12.57+deb12-amd64",
        "BUILD-ID": "0" * 40,
        "PAGESIZE": "4096",
        "SYMBOL(swapper_pg_dir)": "ffffffff8260a000",
        "SYMBOL(_stext)": "ffffffff81000000",
        "NUMBER(phys_base)": "0",
        "KERNELOFFSET": "0",
        "NUMBER(pgtable_l5_enabled)": "0",
        "CRASHTIME": "1764500000",
    }
    keys.update(extra or {})
    return "".join(f"{k}={v}\n" for k, v in keys.items())


def note(name: str, ntype: int, desc: bytes) -> bytes:
    n = name.encode() + b"\0"

    def pad(b: bytes) -> bytes:
        return b + b"\0" * (-len(b) % 4)

    return struct.pack("<III", len(n), len(desc), ntype) + pad(n) + pad(desc)


def _runs(pages: dict[int, bytes]) -> list[tuple[int, int]]:
    """Contiguous pfn runs [start, end) of the page map."""
    runs: list[tuple[int, int]] = []
    for pfn in sorted(pages):
        if runs and runs[-1][1] == pfn:
            runs[-1] = (runs[-1][0], pfn + 1)
        else:
            runs.append((pfn, pfn + 1))
    return runs


def write_elf(path: str, pages: dict[int, bytes], info: str | None = None) -> None:
    """An ELF64 vmcore: a PT_NOTE with VMCOREINFO, one PT_LOAD per run of pages."""
    notes = note("VMCOREINFO", 0, (info or vmcoreinfo()).encode())
    runs = _runs(pages)
    phnum = 1 + len(runs)
    off = 64 + 56 * phnum
    notes_off = off
    off = (off + len(notes) + PAGE - 1) & ~(PAGE - 1)
    phs = [struct.pack("<IIQQQQQQ", 4, 0, notes_off, 0, 0, len(notes), len(notes), 0)]
    body = []
    for start, end in runs:
        size = (end - start) * PAGE
        vaddr = 0xFFFF888000000000 + start * PAGE
        phs.append(struct.pack("<IIQQQQQQ", 1, 7, off, vaddr, start * PAGE, size, size, PAGE))
        body.append((off, b"".join(pages[p] for p in range(start, end))))
        off += size
    eh = b"\x7fELF" + bytes([2, 1, 1, 0]) + bytes(8)
    eh += struct.pack("<HHIQQQIHHHHHH", 4, 62, 1, 0, 64, 0, 0, 64, 56, phnum, 0, 0, 0)
    with open(path, "wb") as f:
        f.write(eh + b"".join(phs) + notes)
        for o, data in body:
            f.seek(o)
            f.write(data)


def kdump_header(
    max_mapnr: int, bitmap: bytes, info: str | None = None, extra_notes: bytes = b""
) -> bytes:
    """What a kdump-compressed file (header_version 6) holds before its page
    descriptors: header block, sub-header (VMCOREINFO, notes) and the two
    bitmaps, both `bitmap` (every page present is dumped). The descriptors
    start at len() of the result."""
    info_b = (info or vmcoreinfo()).encode()
    notes = note("VMCOREINFO", 0, info_b) + extra_notes
    bitmap_bytes = (max_mapnr + 7) // 8
    half_blocks = max(1, (bitmap_bytes + PAGE - 1) // PAGE)
    bitmap_blocks = 2 * half_blocks
    sub_hdr_size = 1 + (len(info_b) + len(notes) + PAGE - 1) // PAGE
    # header block
    h = bytearray(PAGE)
    h[0:8] = b"KDUMP   "
    struct.pack_into("<i", h, 8, 6)
    uts = [b"Linux", b"host", b"6.12.57+deb12-amd64", b"#1 SMP", b"x86_64", b"(none)"]
    for i, s in enumerate(uts):
        h[12 + 65 * i : 12 + 65 * i + len(s)] = s
    struct.pack_into("<qq", h, 408, 1764500000, 0)
    struct.pack_into(
        "<IiiIIIIIIi",
        h,
        424,
        0,
        PAGE,
        sub_hdr_size,
        bitmap_blocks,
        min(max_mapnr, 0xFFFFFFFF),
        0,
        0,
        0,
        0,
        1,
    )
    # sub-header: VMCOREINFO and notes right after its first 104 bytes
    sub = bytearray(sub_hdr_size * PAGE)
    info_off = PAGE + 128
    notes_off = info_off + len(info_b)
    sub[128 : 128 + len(info_b)] = info_b
    sub[128 + len(info_b) : 128 + len(info_b) + len(notes)] = notes
    struct.pack_into(
        "<QiiQQqQqQqQQQQ",
        sub,
        0,
        0,
        31,
        0,
        0,
        max_mapnr,
        info_off,
        len(info_b),
        notes_off,
        len(notes),
        0,
        0,
        0,
        max_mapnr,
        max_mapnr,
    )
    b = bytearray(half_blocks * PAGE)
    b[: len(bitmap)] = bitmap
    return bytes(h) + bytes(sub) + bytes(b) + bytes(b)


def kdump_bytes(
    pages: dict[int, bytes],
    info: str | None = None,
    codec: str = "zlib",
    max_mapnr: int | None = None,
    extra_notes: bytes = b"",
    stored: dict[int, tuple[int, bytes]] | None = None,
) -> bytes:
    """A kdump-compressed file (header_version 6) as makedumpfile -c (zlib) or
    with uncompressed pages (codec 'none') writes it. `stored` gives pages
    written as they are, with their page_desc flags: {pfn: (flags, data)}."""
    stored = stored or {}
    max_mapnr = max_mapnr or (max(pages) + 1 if pages else 1)
    bitmap = bytearray((max_mapnr + 7) // 8)
    for pfn in pages:
        bitmap[pfn // 8] |= 1 << (pfn % 8)
    head = kdump_header(max_mapnr, bytes(bitmap), info, extra_notes)
    desc_off = len(head)
    n = len(pages)
    data_off = desc_off + 24 * n
    descs = bytearray()
    data = bytearray()
    zero_off = None
    for pfn in sorted(pages):
        if pfn in stored:
            flags, raw = stored[pfn]
            descs += struct.pack("<qIIQ", data_off + len(data), len(raw), flags, 0)
            data += raw
            continue
        page = pages[pfn]
        assert len(page) == PAGE
        if page == bytes(PAGE):
            if zero_off is None:
                zero_off = data_off + len(data)
                z = zlib.compress(page) if codec == "zlib" else page
                flags = 1 if codec == "zlib" else 0
                data += z
                zero = (len(z), flags)
            descs += struct.pack("<qIIQ", zero_off, zero[0], zero[1], 0)
            continue
        if codec == "zlib":
            z = zlib.compress(page)
            if len(z) < PAGE:
                descs += struct.pack("<qIIQ", data_off + len(data), len(z), 1, 0)
                data += z
                continue
        descs += struct.pack("<qIIQ", data_off + len(data), PAGE, 0, 0)
        data += page
    return head + bytes(descs) + bytes(data)


def flatten(image: bytes, record: int = 65536) -> bytes:
    """makedumpfile's flattened form (-F) of a dump image: big-endian records."""
    head = bytearray(4096)
    head[0:13] = b"makedumpfile\0"
    struct.pack_into(">qq", head, 16, 1, 1)
    out = bytearray(head)
    # Out of order on purpose: the header block last, as makedumpfile writes it.
    chunks = [(o, image[o : o + record]) for o in range(0, len(image), record)]
    for o, c in chunks[1:] + chunks[:1]:
        out += struct.pack(">qq", o, len(c)) + c
    out += struct.pack(">qq", -1, -1)
    return bytes(out)


# What KVM on a 64-bit Linux host leaves in a VMCS of a guest that was set to
# run a small loop in 32-bit protected mode (the values the Bochs crash proof's
# helper sets, and KVM's host state).
GUEST = {
    "VMCS_LINK_POINTER": 0xFFFFFFFFFFFFFFFF,
    "HOST_CR0": 0x80050033,
    "HOST_CR3": 0x10A2C000,
    "HOST_CR4": 0x003726E0,
    "HOST_CS_SELECTOR": 0x10,
    "HOST_SS_SELECTOR": 0x18,
    "HOST_TR_SELECTOR": 0x40,
    "HOST_RIP": 0xFFFFFFFFC0A1B2C0,
    "HOST_RSP": 0xFFFFC90000AB7F40,
    "PIN_BASED_VM_EXEC_CONTROL": 0x3F,
    "CPU_BASED_VM_EXEC_CONTROL": 0x960061F2,
    "SECONDARY_VM_EXEC_CONTROL": 0xA2,
    "VM_EXIT_CONTROLS": 0x3EFFF,
    "VM_ENTRY_CONTROLS": 0x11FF,
    "EPT_POINTER": 0x1234505E,
    "VIRTUAL_PROCESSOR_ID": 1,
    "GUEST_RIP": 0x1004,
    "GUEST_RSP": 0x8000,
    "GUEST_RFLAGS": 0x202,
    "GUEST_CR0": 0x80000031,
    "GUEST_CR3": 0x3000,
    "GUEST_CR4": 0x2030,
    "GUEST_IA32_EFER": 0,
    "GUEST_CS_SELECTOR": 0x8,
    "GUEST_CS_BASE": 0,
    "GUEST_CS_LIMIT": 0xFFFFFFFF,
    "GUEST_CS_AR_BYTES": 0xC09B,
    "GUEST_DS_SELECTOR": 0x10,
    "GUEST_DS_LIMIT": 0xFFFFFFFF,
    "GUEST_DS_AR_BYTES": 0xC093,
    "GUEST_SS_SELECTOR": 0x10,
    "GUEST_SS_LIMIT": 0xFFFFFFFF,
    "GUEST_SS_AR_BYTES": 0xC093,
    "GUEST_ES_AR_BYTES": 0x10000,
    "GUEST_FS_AR_BYTES": 0x10000,
    "GUEST_GS_AR_BYTES": 0x10000,
    "GUEST_LDTR_AR_BYTES": 0x10000,
    "GUEST_TR_SELECTOR": 0x18,
    "GUEST_TR_LIMIT": 0x67,
    "GUEST_TR_AR_BYTES": 0x8B,
    "GUEST_GDTR_BASE": 0x500,
    "GUEST_GDTR_LIMIT": 0x1F,
    "GUEST_IA32_PAT": 0x0007040600070406,
    "GUEST_ACTIVITY_STATE": 0,
    "VM_EXIT_REASON": 30,
    "EXIT_QUALIFICATION": 0x3F80008,
}


def vmcs_page(layout: Vmcsinfo, values: dict[str, int], rnd: random.Random, shadow=False) -> bytes:
    """A VMCS region image: `values` stored where the layout says, every other
    field bit 0, and the bytes no field uses random (as real CPUs leave them)."""
    page = bytearray(rnd.randbytes(PAGE))
    struct.pack_into("<II", page, 0, layout.revision_id | (1 << 31 if shadow else 0), 0)
    for f in layout.fields:
        v = values.get(f.name, 0)
        for i, pos in enumerate(f.positions()):
            if pos is None:
                continue
            if v >> i & 1:
                page[pos // 8] |= 1 << (pos % 8)
            else:
                page[pos // 8] &= ~(1 << (pos % 8)) & 0xFF
    return bytes(page)


def note_pages(text: str) -> list[bytes]:
    """The module's note: header, "VMCSINFO", the text; page aligned, zero padded."""
    blob = note("VMCSINFO", 0, text.encode())
    blob += bytes(-len(blob) % PAGE)
    return [blob[i : i + PAGE] for i in range(0, len(blob), PAGE)]


def memory(with_note: bool = True, seed: int = 7) -> tuple[dict[int, bytes], dict]:
    """A small host's memory: random and zero pages, one L1 VMCS, one vmcs12,
    the note (when asked), and decoys that start like a VMCS but are not one."""
    rnd = random.Random(seed)
    pages: dict[int, bytes] = {}
    for pfn in range(0x100, 0x140):
        pages[pfn] = rnd.randbytes(PAGE) if pfn % 3 else bytes(PAGE)
    pages[0x120] = vmcs_page(BOCHS, GUEST, rnd)
    l2 = dict(GUEST, GUEST_RIP=0x7C00, GUEST_RSP=0x6000, VIRTUAL_PROCESSOR_ID=0)
    l2.update(HOST_RIP=0xFFFFFFFF81A00000, HOST_CR3=0x7654000)
    pages[0x128] = vmcs_page(VMCS12, l2, rnd)
    # Decoys: the right revision id but host state that no Linux host has, and
    # one whose link pointer is 0.
    decoy = bytearray(rnd.randbytes(PAGE))
    struct.pack_into("<II", decoy, 0, BOCHS.revision_id, 0)
    pages[0x130] = bytes(decoy)
    pages[0x131] = vmcs_page(BOCHS, dict(GUEST, VMCS_LINK_POINTER=0), rnd)
    if with_note:
        for i, p in enumerate(note_pages(BOCHS_TEXT)):
            pages[0x200 + i] = p
    return pages, {"l1": 0x120 * PAGE, "l2": 0x128 * PAGE, "l2_values": l2}


def write(tmp: Path, pages: dict[int, bytes], kind: str) -> Path:
    """Write the page map as dump.KIND in tmp: elf, kdump-zlib, kdump-none or flat."""
    path = tmp / f"dump.{kind}"
    if kind == "elf":
        write_elf(str(path), pages)
    elif kind == "kdump-zlib":
        path.write_bytes(kdump_bytes(pages))
    elif kind == "kdump-none":
        path.write_bytes(kdump_bytes(pages, codec="none"))
    elif kind == "flat":
        path.write_bytes(flatten(kdump_bytes(pages)))
    return path
