# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Test-only writers of crash dump files from a page map {pfn: 4096 bytes}:
ELF vmcores as /proc/vmcore has them, and kdump-compressed files laid out as
makedumpfile writes them (header, sub-header with VMCOREINFO and notes, two
bitmaps, page descriptors, one shared zero page), optionally flattened (-F).
Their output is checked against drgn (libkdumpfile) in the tests, so the
reader is never checked only against its own writer."""

from __future__ import annotations

import struct
import zlib

PAGE = 4096


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


def kdump_bytes(
    pages: dict[int, bytes],
    info: str | None = None,
    codec: str = "zlib",
    max_mapnr: int | None = None,
    extra_notes: bytes = b"",
) -> bytes:
    """A kdump-compressed file (header_version 6) as makedumpfile -c (zlib) or
    with uncompressed pages (codec 'none') writes it."""
    info_b = (info or vmcoreinfo()).encode()
    notes = note("VMCOREINFO", 0, info_b) + extra_notes
    max_mapnr = max_mapnr or (max(pages) + 1 if pages else 1)
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
    b1 = bytearray(half_blocks * PAGE)
    b2 = bytearray(half_blocks * PAGE)
    for pfn in pages:
        b1[pfn // 8] |= 1 << (pfn % 8)
        b2[pfn // 8] |= 1 << (pfn % 8)
    desc_off = PAGE * (1 + sub_hdr_size + bitmap_blocks)
    n = len(pages)
    data_off = desc_off + 24 * n
    descs = bytearray()
    data = bytearray()
    zero_off = None
    for pfn in sorted(pages):
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
    return bytes(h) + bytes(sub) + bytes(b1) + bytes(b2) + bytes(descs) + bytes(data)


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
