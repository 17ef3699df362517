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
from dataclasses import dataclass
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


# -- the printk ring buffer (Linux >= 5.10), for the kernel log reader ----------
# Byte for byte as kernel/printk/printk_ringbuffer.c lays it out, with the
# sizes and offsets Debian's 6.12 kernel exports in VMCOREINFO (those of the
# Bochs crash proof's dump).

PRINTK_VMCOREINFO = {
    "SIZE(printk_ringbuffer)": "88",
    "OFFSET(printk_ringbuffer.desc_ring)": "0",
    "OFFSET(printk_ringbuffer.text_data_ring)": "48",
    "OFFSET(printk_ringbuffer.fail)": "80",
    "SIZE(prb_desc_ring)": "48",
    "OFFSET(prb_desc_ring.count_bits)": "0",
    "OFFSET(prb_desc_ring.descs)": "8",
    "OFFSET(prb_desc_ring.infos)": "16",
    "OFFSET(prb_desc_ring.head_id)": "24",
    "OFFSET(prb_desc_ring.tail_id)": "32",
    "SIZE(prb_desc)": "24",
    "OFFSET(prb_desc.state_var)": "0",
    "OFFSET(prb_desc.text_blk_lpos)": "8",
    "SIZE(prb_data_blk_lpos)": "16",
    "OFFSET(prb_data_blk_lpos.begin)": "0",
    "OFFSET(prb_data_blk_lpos.next)": "8",
    "SIZE(printk_info)": "88",
    "OFFSET(printk_info.seq)": "0",
    "OFFSET(printk_info.ts_nsec)": "8",
    "OFFSET(printk_info.text_len)": "16",
    "OFFSET(printk_info.caller_id)": "20",
    "OFFSET(printk_info.dev_info)": "24",
    "SIZE(prb_data_ring)": "32",
    "OFFSET(prb_data_ring.size_bits)": "0",
    "OFFSET(prb_data_ring.data)": "8",
    "OFFSET(prb_data_ring.head_lpos)": "16",
    "OFFSET(prb_data_ring.tail_lpos)": "24",
    "SIZE(atomic_long_t)": "8",
    "OFFSET(atomic_long_t.counter)": "0",
}
START_KERNEL_MAP = 0xFFFFFFFF80000000
# A KASLR-relocated kernel: virtual 0xffffffffaf000000 is physical 16 MiB.
KERNEL_VBASE = 0xFFFFFFFFAF000000
KERNEL_PBASE = 0x01000000
PHYS_BASE = KERNEL_PBASE - (KERNEL_VBASE - START_KERNEL_MAP)  # negative, as on the Bochs dump
# A randomized direct map (page_offset_base) and a vmalloc-like area.
PAGE_OFFSET = 0xFFFF9A4540000000
VMALLOC = 0xFFFFB8C000000000
DESC_ID_MASK = (1 << 62) - 1
MASK64 = (1 << 64) - 1
FINALIZED, COMMITTED, RESERVED, REUSABLE = 2, 1, 0, 3
FAILED_LPOS, EMPTY_LINE_LPOS = 0x1, 0x3


@dataclass
class PrintkRecord:
    """What a printk call leaves: text, time stamp; state (finalized unless
    said), a text_len other than len(text) (a record cut short), data-less
    (an empty line, or data lost: EMPTY_LINE_LPOS / FAILED_LPOS)."""

    text: bytes
    ts_nsec: int = 0
    state: int = FINALIZED
    text_len: int | None = None
    caller_id: int = 1
    dataless: int = 0


@dataclass
class PrintkRing:
    count_bits: int
    size_bits: int
    descs: bytearray
    infos: bytearray
    data: bytearray
    head_id: int
    tail_id: int
    head_lpos: int
    tail_lpos: int
    expected: list[tuple[int, int, bytes, bool]]  # (seq, ts, raw text, truncated)
    ids: list[int]  # the id of each record given, in order

    def desc_off(self, rid: int) -> int:
        return (rid % (1 << self.count_bits)) * 24

    def set_desc(self, rid: int, state_var: int | None = None, lpos: tuple | None = None) -> None:
        o = self.desc_off(rid)
        if state_var is not None:
            struct.pack_into("<Q", self.descs, o, state_var & MASK64)
        if lpos is not None:
            struct.pack_into("<QQ", self.descs, o + 8, lpos[0] & MASK64, lpos[1] & MASK64)

    def prb(self, descs_va: int, infos_va: int, data_va: int) -> bytes:
        """struct printk_ringbuffer (88 bytes) pointing at the three arrays."""
        b = bytearray(88)
        struct.pack_into(
            "<IxxxxQQQQ", b, 0, self.count_bits, descs_va, infos_va, self.head_id, self.tail_id
        )
        struct.pack_into(
            "<IxxxxQQQ", b, 48, self.size_bits, data_va, self.head_lpos, self.tail_lpos
        )
        return bytes(b)


def printk_ring(
    records: list[PrintkRecord],
    count_bits: int = 4,
    size_bits: int = 9,
    first_id: int | None = None,
    first_lpos: int | None = None,
) -> PrintkRing:
    """The ring after the kernel wrote `records` in order (prb_reserve,
    data_alloc, get_next_lpos, desc/data tail pushing as the kernel does):
    old records whose descriptor or data space was needed are gone (their
    descriptor reusable until its slot is taken). First id and lpos default
    to the kernel's DESC0_ID / BLK0_LPOS (unsigned int arithmetic)."""
    count, size = 1 << count_bits, 1 << size_bits
    rid = ((2**32 - count - 1) & DESC_ID_MASK) if first_id is None else first_id
    lpos = ((2**32 - size) if first_lpos is None else first_lpos) & MASK64
    descs = bytearray(24 * count)
    infos = bytearray(88 * count)
    data = bytearray(size)
    first = rid
    tail_lpos = lpos
    live: list[tuple[int, int, int]] = []  # (id, begin, next) of records holding data
    ids = []
    meta: dict[int, tuple[PrintkRecord, int, bool]] = {}
    head = rid
    for seq, rec in enumerate(records):
        head = rid
        ids.append(rid)
        # desc_push_tail: the slot of id - count must be free.
        while live and ((rid - live[0][0]) & DESC_ID_MASK) >= count:
            old = live.pop(0)
            struct.pack_into("<Q", descs, (old[0] % count) * 24, REUSABLE << 62 | old[0])
            tail_lpos = old[2]
        meta = {k: v for k, v in meta.items() if ((rid - k) & DESC_ID_MASK) < count}
        o = (rid % count) * 24
        if rec.dataless:
            begin = nxt = rec.dataless
        else:
            blk = (8 + len(rec.text) + 7) & ~7
            begin = lpos
            nxt = (begin + blk) & MASK64
            if begin >> size_bits != nxt >> size_bits:
                nxt = (((nxt >> size_bits) << size_bits) + blk) & MASK64
            # data_push_tail: the space up to nxt must be free.
            while live and (nxt - tail_lpos) & MASK64 > size:
                old = live.pop(0)
                struct.pack_into("<Q", descs, (old[0] % count) * 24, REUSABLE << 62 | old[0])
                meta.pop(old[0], None)
                tail_lpos = old[2]
            start = (begin & (size - 1)) if (begin >> size_bits) == (nxt >> size_bits) else 0
            struct.pack_into("<Q", data, start, rid)
            data[start + 8 : start + blk] = rec.text + bytes(blk - 8 - len(rec.text))
            lpos = nxt
            live.append((rid, begin, nxt))
        struct.pack_into("<QQQ", descs, o, rec.state << 62 | rid, begin, nxt)
        i = (rid % count) * 88
        infos[i : i + 88] = bytes(88)
        text_len = len(rec.text) if rec.text_len is None else rec.text_len
        struct.pack_into("<QQHxxI", infos, i, seq, rec.ts_nsec, text_len, rec.caller_id)
        meta[rid] = (rec, seq, bool(rec.dataless))
        rid = (rid + 1) & DESC_ID_MASK
    tail = first if ((head - first) & DESC_ID_MASK) < count else (head - count + 1) & DESC_ID_MASK
    live_ids = {x[0] for x in live}
    expected = []
    span = ((head - tail) & DESC_ID_MASK) + 1 if records else 0
    for k in range(span):
        r = (tail + k) & DESC_ID_MASK
        if r not in meta or r not in live_ids:
            continue
        rec, seq, _dl = meta[r]
        if rec.state not in (COMMITTED, FINALIZED):
            continue
        blk = (8 + len(rec.text) + 7) & ~7
        text_len = len(rec.text) if rec.text_len is None else rec.text_len
        room = blk - 8
        raw = (rec.text + bytes(room - len(rec.text)))[: min(text_len, room)]
        expected.append((seq, rec.ts_nsec, raw, text_len > room))
    return PrintkRing(
        count_bits, size_bits, descs, infos, data, head, tail, lpos, tail_lpos, expected, ids
    )


def _put(pages: dict[int, bytes], paddr: int, blob: bytes) -> None:
    """Write blob at a physical address into the page map (pages created zeroed)."""
    pos = 0
    while pos < len(blob):
        pfn, off = divmod(paddr + pos, PAGE)
        take = min(PAGE - off, len(blob) - pos)
        page = bytearray(pages.get(pfn, bytes(PAGE)))
        page[off : off + take] = blob[pos : pos + take]
        pages[pfn] = bytes(page)
        pos += take


def _text_pa(vaddr: int) -> int:
    return vaddr - START_KERNEL_MAP + PHYS_BASE


def ring_memory(
    ring: PrintkRing, layout: str = "static", pages: dict[int, bytes] | None = None
) -> tuple[dict[int, bytes], dict[str, str]]:
    """The ring placed in a page map, and the VMCOREINFO lines that find it.

    static: prb, the descriptors, infos and text data in the kernel image
    (printk_rb_static, as Debian's kernels boot), found through phys_base.
    dynamic: as after log_buf_len=: the descriptors in the (randomized) direct
    map (a 1 GiB page), the infos behind a 2 MiB page, the text data in a
    vmalloc-like area of 4 KiB pages in reverse physical order, reached
    through 4-level page tables from init_top_pgt."""
    pages = {} if pages is None else pages
    prb_sym = KERNEL_VBASE + 0x1000
    rb_va = KERNEL_VBASE + 0x1100
    pgt_va = KERNEL_VBASE + 0x20000
    info = dict(PRINTK_VMCOREINFO)
    info.update(
        {
            "SYMBOL(prb)": f"{prb_sym:x}",
            "SYMBOL(printk_rb_static)": f"{rb_va:x}",
            "SYMBOL(init_top_pgt)": f"{pgt_va:x}",
            "SYMBOL(_stext)": f"{KERNEL_VBASE:x}",
            "NUMBER(phys_base)": str(PHYS_BASE),
            "KERNELOFFSET": f"{KERNEL_VBASE - 0xFFFFFFFF81000000:x}",
            "NUMBER(KERNEL_IMAGE_SIZE)": str(1 << 30),
            "NUMBER(pgtable_l5_enabled)": "0",
            "NUMBER(sme_mask)": "0",
        }
    )
    if layout == "static":
        descs_va = KERNEL_VBASE + 0x40000
        infos_va = descs_va + len(ring.descs)
        data_va = KERNEL_VBASE + 0x80000
        _put(pages, _text_pa(descs_va), bytes(ring.descs))
        _put(pages, _text_pa(infos_va), bytes(ring.infos))
        _put(pages, _text_pa(data_va), bytes(ring.data))
    elif layout == "dynamic":
        pgt = _text_pa(pgt_va)
        tables = 0x00800000  # page-table pages
        alloc = iter(range(tables, tables + 64 * PAGE, PAGE))

        def table(parent: int, index: int) -> int:
            page = pages.get(parent // PAGE, bytes(PAGE))
            (entry,) = struct.unpack_from("<Q", page, index * 8)
            if entry & 1:
                return entry & 0x000FFFFFFFFFF000
            new = next(alloc)
            pages[new // PAGE] = bytes(PAGE)
            _put(pages, parent + index * 8, struct.pack("<Q", new | 0x63))
            return new

        def idx(va: int, shift: int) -> int:
            return (va >> shift) & 0x1FF

        # the direct map: one 1 GiB page for physical 0..1 GiB
        pud = table(pgt, idx(PAGE_OFFSET, 39))
        _put(pages, pud + idx(PAGE_OFFSET, 30) * 8, struct.pack("<Q", 0 | 0xE3))
        descs_pa = 0x02000000
        descs_va = PAGE_OFFSET + descs_pa
        _put(pages, descs_pa, bytes(ring.descs))
        # the infos behind a 2 MiB page at VMALLOC (physical 0x04000000)
        infos_va = VMALLOC + 0x00200000 + 0x1230
        pmd = table(table(pgt, idx(infos_va, 39)), idx(infos_va, 30))
        _put(pages, pmd + idx(infos_va, 21) * 8, struct.pack("<Q", 0x04000000 | 0xE3))
        _put(pages, 0x04000000 + 0x1230, bytes(ring.infos))
        # the text data in 4 KiB pages, physically in reverse order
        data_va = VMALLOC + 0x40000000
        n = (len(ring.data) + PAGE - 1) // PAGE
        for k in range(n):
            va = data_va + k * PAGE
            pa = 0x06000000 + (n - 1 - k) * PAGE
            pte = table(table(table(pgt, idx(va, 39)), idx(va, 30)), idx(va, 21))
            _put(pages, pte + idx(va, 12) * 8, struct.pack("<Q", pa | 0x63))
            _put(pages, pa, bytes(ring.data[k * PAGE : (k + 1) * PAGE]))
        # the kernel image's first 2 MiB, as the kernel maps it (makedumpfile
        # translates every address through the page tables)
        pmd = table(table(pgt, idx(KERNEL_VBASE, 39)), idx(KERNEL_VBASE, 30))
        _put(pages, pmd + idx(KERNEL_VBASE, 21) * 8, struct.pack("<Q", KERNEL_PBASE | 0xE3))
        pages.setdefault(pgt // PAGE, bytes(PAGE))
    else:
        raise ValueError(layout)
    _put(pages, _text_pa(prb_sym), struct.pack("<Q", rb_va))
    _put(pages, _text_pa(rb_va), ring.prb(descs_va, infos_va, data_va))
    # init_uts_ns (struct new_utsname first), which makedumpfile checks
    uts_va = KERNEL_VBASE + 0x3000
    uts = [b"Linux", b"host", b"6.12.57+deb12-amd64", b"#1 SMP", b"x86_64", b"(none)"]
    _put(pages, _text_pa(uts_va), b"".join(u + bytes(65 - len(u)) for u in uts))
    info.update({"SYMBOL(init_uts_ns)": f"{uts_va:x}", "OFFSET(uts_namespace.name)": "0"})
    return pages, info


def write_info(tmp: Path, pages: dict[int, bytes], kind: str, info: str) -> Path:
    """As write(), with the VMCOREINFO text given."""
    path = tmp / f"dump.{kind}"
    if kind == "elf":
        write_elf(str(path), pages, info)
    elif kind == "kdump-zlib":
        path.write_bytes(kdump_bytes(pages, info))
    elif kind == "kdump-none":
        path.write_bytes(kdump_bytes(pages, info, codec="none"))
    elif kind == "flat":
        path.write_bytes(flatten(kdump_bytes(pages, info)))
    else:
        raise ValueError(kind)
    return path


# The boot messages a 6.12 kernel logs about the Bochs Haswell CPU (from the
# crash proof's dump), with neighbours that must not be taken for them.
BOCHS_BOOT_LOG = [
    b"Linux version 6.12.117+deb12-amd64 (debian-kernel@lists.debian.org)",
    b"KERNEL supported cpus:",
    b"  AMD AuthenticAMD",
    b"  Intel GenuineIntel",
    b"[Firmware Bug]: TSC_DEADLINE disabled due to Errata; please update microcode to "
    b"version: 0x22 (or later)",
    b"smpboot: CPU0: Intel(R) Core(TM) i7-4770 CPU @ 3.40GHz (family: 0x6, model: 0x3c, "
    b"stepping: 0x3)",
    b"MDS: Vulnerable: Clear CPU buffers attempted, no microcode",
    b"microcode: Current revision: 0x00000000",
]
