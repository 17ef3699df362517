# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The one reader of crash dump files: physical memory by page frame.

Formats, as the kernel and makedumpfile write them:
- ELF vmcore (/proc/vmcore, ``makedumpfile -E``): ELF64 little-endian, PT_LOAD
  segments by physical address, VMCOREINFO in a PT_NOTE;
- kdump-compressed (``makedumpfile -c/-l/-p/-z``, "KDUMP   " signature): a
  header block, the kdump sub-header (VMCOREINFO, notes), two bitmaps (pages
  present, pages dumped), then one page descriptor per dumped page;
- makedumpfile's flattened form (``-F``): the kdump or ELF file as a stream
  of (offset, size, data) records, read here through an index of the records.

Only the standard library is needed for ELF, uncompressed and zlib pages, so
a host without drgn reads Debian's default dumps (``-c``). lzo, snappy and
zstd pages are read through drgn (its bundled libkdumpfile) when it is
installed, else reported as unreadable. Every structure read from the file
is checked against the file's size before use: a truncated or corrupt dump
raises DumpError naming what is wrong, never an unbounded allocation.
"""

from __future__ import annotations

import mmap
import os
import re
import stat
import struct
import sys
import zlib
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass

PAGE_SIZE = 4096
KDUMP_SIGNATURE = b"KDUMP   "
FLAT_SIGNATURE = b"makedumpfile\0"
ELF_MAGIC = b"\x7fELF"

# page_desc_t flags (makedumpfile diskdump_mod.h)
DUMP_DH_COMPRESSED_ZLIB = 0x1
DUMP_DH_COMPRESSED_LZO = 0x2
DUMP_DH_COMPRESSED_SNAPPY = 0x4
DUMP_DH_COMPRESSED_INCOMPLETE = 0x8
DUMP_DH_COMPRESSED_ZSTD = 0x20
CODECS = {
    0: "none",
    DUMP_DH_COMPRESSED_ZLIB: "zlib",
    DUMP_DH_COMPRESSED_LZO: "lzo",
    DUMP_DH_COMPRESSED_SNAPPY: "snappy",
    DUMP_DH_COMPRESSED_ZSTD: "zstd",
}

# Bounds: what a real dump never exceeds (a corrupt header must not make the
# reader allocate or loop without end).
MAX_NOTES = 16 * 1024 * 1024
MAX_PFN = 1 << 40  # 4 PiB of memory
DESC_CHUNK = 8192  # page descriptors read at a time
DATA_WINDOW = 1 << 20  # bytes of kdump page data read at a time when pages() reads on
# A run of 0xff bytes in a bitmap (8 pages each) or one byte with some bits set.
_BITMAP_RUNS = re.compile(rb"\xff+|[^\x00\xff]")
_BITS = [tuple(b for b in range(8) if v >> b & 1) for v in range(256)]


class DumpError(Exception):
    """The dump cannot be read; str() says what is wrong and where."""


@dataclass(frozen=True)
class Note:
    name: str
    type: int
    desc: bytes


def parse_notes(data: bytes) -> list[Note]:
    """ELF notes (4-byte aligned, as the kernel writes them) from a note segment."""
    notes = []
    off = 0
    while off + 12 <= len(data):
        namesz, descsz, ntype = struct.unpack_from("<III", data, off)
        if namesz == 0 and descsz == 0 and ntype == 0:
            break
        name_end = off + 12 + namesz
        desc_off = off + 12 + ((namesz + 3) & ~3)
        desc_end = desc_off + descsz
        if name_end > len(data) or desc_end > len(data):
            raise DumpError(f"note at offset {off:#x} runs past its segment")
        name = data[off + 12 : name_end].rstrip(b"\0").decode("ascii", "replace")
        notes.append(Note(name, ntype, bytes(data[desc_off:desc_end])))
        off = desc_off + ((descsz + 3) & ~3)
    return notes


def vmcoreinfo_dict(text: str) -> dict[str, str]:
    """VMCOREINFO's KEY=value lines (SYMBOL(x)=..., OFFSET(a.b)=... keep their key)."""
    out = {}
    for line in text.splitlines():
        key, sep, value = line.partition("=")
        if sep:
            out[key] = value
    return out


class _Flat:
    """A flattened makedumpfile stream seen as the file it rebuilds (read-only)."""

    HEADER = 4096  # MAX_SIZE_MDF_HEADER

    def __init__(self, f, size: int) -> None:
        self.f = f
        self.records: list[tuple[int, int, int]] = []  # (offset, size, position in f)
        pos = self.HEADER
        end = 0
        while True:
            if pos + 16 > size:
                raise DumpError(f"flattened dump: truncated at record header {pos:#x}")
            f.seek(pos)
            off, n = struct.unpack(">qq", f.read(16))
            if off == -1 and n == -1:
                break
            if off < 0 or n < 0 or pos + 16 + n > size:
                raise DumpError(f"flattened dump: bad record at {pos:#x} (offset {off}, size {n})")
            self.records.append((off, n, pos + 16))
            end = max(end, off + n)
            pos += 16 + n
            if len(self.records) > MAX_PFN:
                raise DumpError("flattened dump: too many records")
        self.records.sort()
        self.size = end

    def pread(self, n: int, off: int) -> bytes:
        out = bytearray(n)
        # Records are few relative to pages: a linear pass over those that
        # overlap is fine for the header reads; page reads use _locate.
        for roff, rn, rpos in self._overlapping(off, n):
            lo = max(off, roff)
            hi = min(off + n, roff + rn)
            self.f.seek(rpos + lo - roff)
            out[lo - off : hi - off] = self.f.read(hi - lo)
        return bytes(out)

    def _overlapping(self, off: int, n: int):
        import bisect

        i = bisect.bisect_right(self.records, (off, float("inf"), 0)) - 1
        i = max(i, 0)
        while i < len(self.records):
            roff, rn, rpos = self.records[i]
            if roff >= off + n:
                break
            if roff + rn > off:
                yield roff, rn, rpos
            i += 1


class Dump:
    """A crash dump opened for reading physical pages.

    kind is "elf" or "kdump"; flattened says whether it came as -F.
    pfns() yields every page frame the dump holds; head(pfn, n) the first n
    bytes of that page, cheaply (a compressed page is inflated only that
    far); page(pfn) the whole page. vmcoreinfo is the VMCOREINFO text.
    """

    def __init__(self, path: str, nofollow: bool = False) -> None:
        self.path = path
        flags = os.O_RDONLY | (os.O_NOFOLLOW | os.O_NONBLOCK if nofollow else 0)
        try:
            self._f = os.fdopen(os.open(path, flags), "rb")
            st = os.fstat(self._f.fileno())
        except OSError as e:
            raise DumpError(f"cannot open {path}: {e.strerror}") from e
        if not stat.S_ISREG(st.st_mode):
            self._f.close()
            raise DumpError(f"{path} is not a regular file")
        self.size = st.st_size
        self._flat: _Flat | None = None
        self._drgn = None
        self.notes: list[Note] = []
        self.vmcoreinfo = ""
        self.codecs: set[str] = set()
        self.unreadable = 0  # pages skipped: codec not available, corrupt data
        self.scanned = 0  # pages pages() went over
        self._window: tuple[int, bytes | memoryview] = (-1, b"")  # pages()' block of kdump data
        self._no_mmap = False  # mmap failed once: ELF pages are read, not mapped
        magic = self._pread(16, 0)
        if magic.startswith(FLAT_SIGNATURE):
            self.flattened = True
            self._flat = _Flat(self._f, self.size)
            self.size = self._flat.size
            magic = self._pread(16, 0)
        else:
            self.flattened = False
        if magic.startswith(ELF_MAGIC):
            self.kind = "elf"
            self._open_elf()
        elif magic.startswith(KDUMP_SIGNATURE):
            self.kind = "kdump"
            self._open_kdump()
        else:
            self.close()
            raise DumpError(
                f"{path}: not a crash dump (no ELF, KDUMP or flattened makedumpfile signature)"
            )
        self.info = vmcoreinfo_dict(self.vmcoreinfo)

    # -- file access -------------------------------------------------------
    def _pread(self, n: int, off: int) -> bytes:
        if off < 0 or n < 0:
            raise DumpError(f"negative offset or size ({off}, {n})")
        if self._flat is not None:
            return self._flat.pread(n, off)
        return os.pread(self._f.fileno(), n, off)

    def _need(self, off: int, n: int, what: str) -> bytes:
        if off < 0 or n < 0 or off + n > self.size:
            raise DumpError(
                f"{self.path}: {what} at {off:#x}+{n:#x} lies beyond the end of the file "
                f"({self.size:#x} bytes): truncated or corrupt"
            )
        data = self._pread(n, off)
        if len(data) != n:
            raise DumpError(f"{self.path}: short read of {what} at {off:#x}")
        return data

    def close(self) -> None:
        self._f.close()

    def __enter__(self) -> Dump:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # -- ELF ---------------------------------------------------------------
    def _open_elf(self) -> None:
        eh = self._need(0, 64, "ELF header")
        if eh[4] != 2 or eh[5] != 1:
            raise DumpError(f"{self.path}: only 64-bit little-endian ELF dumps are read")
        (e_phoff,) = struct.unpack_from("<Q", eh, 32)
        e_phentsize, e_phnum = struct.unpack_from("<HH", eh, 54)
        if e_phentsize != 56:
            raise DumpError(f"{self.path}: ELF program header size {e_phentsize}, expected 56")
        if e_phnum == 0xFFFF or e_phnum == 0:
            raise DumpError(f"{self.path}: ELF dump without program headers")
        ph = self._need(e_phoff, 56 * e_phnum, "ELF program headers")
        self._loads: list[tuple[int, int, int, int]] = []  # (paddr, filesz, memsz, offset)
        for i in range(e_phnum):
            p_type, _flags, p_offset, _vaddr, p_paddr, p_filesz, p_memsz, _align = (
                struct.unpack_from("<IIQQQQQQ", ph, 56 * i)
            )
            if p_type == 4:  # PT_NOTE
                if p_filesz > MAX_NOTES:
                    raise DumpError(f"{self.path}: PT_NOTE of {p_filesz} bytes is implausible")
                self.notes += parse_notes(self._need(p_offset, p_filesz, "PT_NOTE segment"))
            elif p_type == 1 and p_memsz:  # PT_LOAD
                if p_filesz > p_memsz:
                    raise DumpError(f"{self.path}: PT_LOAD {i} has filesz > memsz")
                if p_offset + p_filesz > self.size:
                    raise DumpError(
                        f"{self.path}: PT_LOAD {i} (paddr {p_paddr:#x}) ends at "
                        f"{p_offset + p_filesz:#x}, past the end of the file ({self.size:#x}): "
                        "truncated"
                    )
                self._loads.append((p_paddr, p_filesz, p_memsz, p_offset))
        self._loads.sort()
        for n in self.notes:
            if n.name == "VMCOREINFO":
                self.vmcoreinfo = n.desc.decode("ascii", "replace")

    def _elf_locate(self, pfn: int) -> int | None:
        """File offset of pfn's page in an ELF dump (None: not in the file)."""
        addr = pfn * PAGE_SIZE
        for paddr, filesz, _memsz, off in self._loads:
            if paddr <= addr and addr + PAGE_SIZE <= paddr + filesz:
                return off + addr - paddr
        return None

    # -- kdump-compressed --------------------------------------------------
    def _open_kdump(self) -> None:
        h = self._need(0, 464, "kdump header")
        (self.header_version,) = struct.unpack_from("<i", h, 8)
        self.utsname_release = (
            h[12 + 65 * 2 : 12 + 65 * 3].split(b"\0")[0].decode("ascii", "replace")
        )
        (self.status, block_size, sub_hdr_size, bitmap_blocks, max_mapnr) = struct.unpack_from(
            "<IiiII", h, 424
        )
        if block_size != PAGE_SIZE:
            raise DumpError(f"{self.path}: kdump block size {block_size}, expected {PAGE_SIZE}")
        if not 0 < sub_hdr_size < 1 << 16 or bitmap_blocks <= 0 or bitmap_blocks % 2:
            raise DumpError(
                f"{self.path}: corrupt kdump header (sub-header {sub_hdr_size} blocks, "
                f"bitmap {bitmap_blocks} blocks)"
            )
        self.block_size = block_size
        sub = self._need(block_size, 104 if self.header_version >= 6 else 80, "kdump sub-header")
        (self.phys_base,) = struct.unpack_from("<Q", sub, 0)
        if self.header_version >= 3:
            off_vi, size_vi = struct.unpack_from("<qQ", sub, 32)
            if size_vi:
                if size_vi > MAX_NOTES:
                    raise DumpError(f"{self.path}: VMCOREINFO of {size_vi} bytes is implausible")
                self.vmcoreinfo = self._need(off_vi, size_vi, "VMCOREINFO").decode(
                    "ascii", "replace"
                )
        if self.header_version >= 4:
            off_n, size_n = struct.unpack_from("<qQ", sub, 48)
            if size_n:
                if size_n > MAX_NOTES:
                    raise DumpError(f"{self.path}: notes of {size_n} bytes are implausible")
                self.notes = parse_notes(self._need(off_n, size_n, "ELF notes"))
        if self.header_version >= 6:
            (max_mapnr,) = struct.unpack_from("<Q", sub, 96)
        if not 0 < max_mapnr <= MAX_PFN:
            raise DumpError(f"{self.path}: implausible max_mapnr {max_mapnr}")
        self.max_mapnr = max_mapnr
        bitmap_off = block_size * (1 + sub_hdr_size)
        half = bitmap_blocks * block_size // 2
        if half * 8 < max_mapnr:
            raise DumpError(f"{self.path}: bitmaps of {half} bytes cannot cover {max_mapnr} pages")
        self._bitmap2_off = bitmap_off + half
        self._need(bitmap_off, 2 * half, "kdump bitmaps")
        self._desc_off = block_size * (1 + sub_hdr_size + bitmap_blocks)
        self._rank_chunks: list[int] | None = None

    def _dumped_runs(self) -> Iterator[tuple[int, int]]:
        """[start, end) runs of the pfns set in the second (dumped) bitmap, ascending."""
        nbytes = (self.max_mapnr + 7) // 8
        chunk = 1 << 20
        start = end = 0
        for base in range(0, nbytes, chunk):
            data = self._pread(min(chunk, nbytes - base), self._bitmap2_off + base)
            for m in _BITMAP_RUNS.finditer(data):
                i, j = m.span()
                pfn0 = (base + i) * 8
                if data[i] == 0xFF:
                    runs: Iterable[tuple[int, int]] = ((pfn0, (base + j) * 8),)
                else:
                    runs = ((pfn0 + bit, pfn0 + bit + 1) for bit in _BITS[data[i]])
                for lo, hi in runs:
                    hi = min(hi, self.max_mapnr)
                    if lo >= hi:
                        continue
                    if lo == end:
                        end = hi
                        continue
                    if end > start:
                        yield start, end
                    start, end = lo, hi
        if end > start:
            yield start, end

    def _dumped_pfns(self) -> Iterator[int]:
        """pfns set in the second (dumped) bitmap, ascending."""
        for lo, hi in self._dumped_runs():
            yield from range(lo, hi)

    def _pfn_batches(self) -> Iterator[list[int]]:
        """The dumped pfns, DESC_CHUNK at a time (their descriptors are read so)."""
        batch: list[int] = []
        for lo, hi in self._dumped_runs():
            while lo < hi:
                take = min(hi - lo, DESC_CHUNK - len(batch))
                batch.extend(range(lo, lo + take))
                lo += take
                if len(batch) == DESC_CHUNK:
                    yield batch
                    batch = []
        if batch:
            yield batch

    def _descriptors(self) -> Iterator[tuple[int, int, int, int]]:
        """(pfn, offset, size, flags) of every dumped page, in pfn order."""
        index = 0
        for pfns in self._pfn_batches():
            data = self._pread(24 * len(pfns), self._desc_off + 24 * index)
            index += len(pfns)
            k = len(data) // 24  # a truncated dump: what is there is still read
            for pfn, (off, size, flags, _pf) in zip(
                pfns[:k], struct.iter_unpack("<qIIQ", data[: 24 * k]), strict=True
            ):
                yield pfn, off, size, flags
            if k < len(pfns):
                return

    # -- pages -------------------------------------------------------------
    SCAN_CHUNK = 16 << 20  # bytes of an ELF dump read at a time: bounded memory

    def pages(
        self, head: int = 16, keep: Callable[[int], bool] | None = None
    ) -> Iterator[tuple[int, bytes, object]]:
        """(pfn, first `head` bytes, ref) of every page the dump holds, ascending;
        full(ref) reads that whole page. With `keep`, only the pages whose
        first little-endian dword keep() accepts are yielded (and nothing more
        of the others is read or inflated).

        Pages whose data cannot be read (codec without a decoder here,
        corrupt compressed data, beyond a truncated end) are counted in
        self.unreadable and skipped.
        """
        if self.kind == "elf":
            yield from self._elf_pages(head, keep)
            return
        n = max(head, 4)
        # The page data is read on in DATA_WINDOW blocks (makedumpfile writes
        # it in pfn order); a page whose data lies behind (the one zero page
        # that every zero page of the dump points to) is inflated once.
        shared: dict[tuple[int, int, int], bytes | None] = {}
        ahead = -1
        self._window = (-1, b"")
        try:
            for pfn, off, size, flags in self._descriptors():
                key = (off, size, flags)
                if off < ahead:
                    if key in shared:
                        data = shared[key]
                        if data is None:
                            self.unreadable += 1
                    else:
                        data = shared[key] = self._kdump_data(pfn, off, size, flags, n)
                        if len(shared) > 4096:
                            shared.clear()
                else:
                    ahead = off + size
                    data = self._kdump_data(pfn, off, size, flags, n, window=True)
                if data is None:
                    continue
                self.scanned += 1
                if keep is not None and not keep(int.from_bytes(data[:4], "little")):
                    continue
                yield pfn, data[:head], (pfn, off, size, flags)
        finally:
            self._window = (-1, b"")

    def _elf_pages(self, head: int, keep) -> Iterator[tuple[int, bytes, object]]:
        """ELF pages, SCAN_CHUNK at a time: mapped (a window of the file, so
        only its pages count in the reader's RSS, and only the first bytes of
        each page are touched), or read into one buffer where the file cannot
        be mapped (a flattened dump, a file system without mmap)."""
        buf: bytearray | None = None
        per = self.SCAN_CHUNK // PAGE_SIZE
        for paddr, filesz, _memsz, off in self._loads:
            first = (paddr + PAGE_SIZE - 1) // PAGE_SIZE
            last = (paddr + filesz) // PAGE_SIZE
            fo0 = off + first * PAGE_SIZE - paddr
            for start in range(first, last, per):
                n = min(per, last - start)
                fo = fo0 + (start - first) * PAGE_SIZE
                mapped = self._map(fo, n * PAGE_SIZE)
                if mapped is not None:
                    mm, delta, got = mapped
                    try:
                        with memoryview(mm) as whole, whole[delta : delta + got] as view:
                            yield from self._elf_window(view, start, fo, head, keep)
                    finally:
                        mm.close()
                    if got < n * PAGE_SIZE:
                        return  # the file became shorter under us
                    continue
                if buf is None:
                    buf = bytearray(self.SCAN_CHUNK)
                with memoryview(buf) as whole, whole[: n * PAGE_SIZE] as view:
                    got = self._readinto(view, fo) // PAGE_SIZE * PAGE_SIZE
                    with view[:got] as part:
                        yield from self._elf_window(part, start, fo, head, keep)

    def _map(self, off: int, n: int) -> tuple[mmap.mmap, int, int] | None:
        """A read-only mapping of the file's n bytes at off (fewer when the
        file is now shorter): (map, where off is in it, bytes mapped)."""
        if self._flat is not None or self._no_mmap:
            return None
        try:
            size = os.fstat(self._f.fileno()).st_size
            got = max(0, min(n, size - off)) // PAGE_SIZE * PAGE_SIZE
            if not got:
                return None
            base = off - off % mmap.ALLOCATIONGRANULARITY
            mm = mmap.mmap(self._f.fileno(), off - base + got, access=mmap.ACCESS_READ, offset=base)
        except (OSError, ValueError, OverflowError):
            self._no_mmap = True
            return None
        return mm, off - base, got

    def _elf_window(
        self, view: memoryview, start: int, fo: int, head: int, keep
    ) -> Iterator[tuple[int, bytes, object]]:
        """The pages of one window (view: whole pages from file offset fo, the
        first of them page frame start)."""
        n = len(view) // PAGE_SIZE
        self.scanned += n
        if keep is None:
            idx: Iterable[int] = range(n)
        elif sys.byteorder == "little":
            with view.cast("I") as dwords:
                firsts = dwords[:: PAGE_SIZE // 4].tolist()
            idx = [i for i, d0 in enumerate(firsts) if keep(d0)]
        else:
            idx = [
                i
                for i in range(n)
                if keep(int.from_bytes(view[i * PAGE_SIZE : i * PAGE_SIZE + 4], "little"))
            ]
        for i in idx:
            b = i * PAGE_SIZE
            yield start + i, bytes(view[b : b + head]), (start + i, fo + b)

    def _readinto(self, view: memoryview, off: int) -> int:
        if self._flat is not None:
            data = self._flat.pread(len(view), off)
            view[: len(data)] = data
            return len(data)
        total = 0
        while total < len(view):
            got = os.preadv(self._f.fileno(), [view[total:]], off + total)
            if got <= 0:
                break
            total += got
        return total

    def full(self, ref) -> bytes | None:
        """The whole page that pages() gave `ref` for."""
        if self.kind == "elf":
            return self._pread(PAGE_SIZE, ref[1])
        return self._kdump_data(*ref, PAGE_SIZE)

    def _ahead(self, n: int, off: int) -> bytes | memoryview:
        """n bytes at off, from the block of page data read last or a new one
        read from off on (pages() reads the data in file order)."""
        start, buf = self._window
        end = start + len(buf)
        if start <= off and off + n <= end:
            return buf[off - start : off - start + n]
        # Data on from the block (a page across its end, the next ones): a new
        # block; elsewhere just n bytes (data out of file order is not read a
        # block per page).
        sequential = start < 0 or start <= off <= end + PAGE_SIZE
        want = max(n, min(DATA_WINDOW, self.size - off)) if sequential else n
        buf = memoryview(self._pread(want, off))
        self._window = (off, buf)
        return buf[:n]

    def _kdump_data(
        self, pfn: int, off: int, size: int, flags: int, n: int, window: bool = False
    ) -> bytes | None:
        codec = flags & ~DUMP_DH_COMPRESSED_INCOMPLETE & 0xFF
        if size == 0 or size > PAGE_SIZE or off <= 0 or off + size > self.size:
            self.unreadable += 1
            return None
        read = self._ahead if window else self._pread
        if codec == 0:
            if size != PAGE_SIZE:
                self.unreadable += 1
                return None
            self.codecs.add("none")
            return bytes(read(n, off))
        if codec == DUMP_DH_COMPRESSED_ZLIB:
            self.codecs.add("zlib")
            raw = read(size if n >= PAGE_SIZE else min(size, 64 + n * 2), off)
            try:
                d = zlib.decompressobj()
                out = d.decompress(raw, n)
                if len(out) < n and len(raw) < size:
                    d = zlib.decompressobj()
                    out = d.decompress(self._pread(size, off), n)
            except zlib.error:
                self.unreadable += 1
                return None
            if len(out) < n:
                self.unreadable += 1
                return None
            return out
        name = CODECS.get(codec, f"flags {codec:#x}")
        self.codecs.add(name)
        return self._drgn_read(pfn, n)

    def _drgn_read(self, pfn: int, n: int) -> bytes | None:
        """A page through drgn/libkdumpfile (lzo, snappy, zstd), or None."""
        if self._drgn is None:
            try:
                import drgn

                prog = drgn.Program()
                prog.set_core_dump(self.path)
                self._drgn = prog
            except Exception:
                self._drgn = False
        if self._drgn is False:
            self.unreadable += 1
            return None
        try:
            return self._drgn.read(pfn * PAGE_SIZE, n, True)
        except Exception:
            self.unreadable += 1
            return None

    def page(self, pfn: int) -> bytes | None:
        """The whole page at pfn, or None when the dump does not hold it."""
        if self.kind == "elf":
            fo = self._elf_locate(pfn)
            return None if fo is None else self._pread(PAGE_SIZE, fo)
        if not 0 <= pfn < self.max_mapnr:
            return None
        byte = self._pread(1, self._bitmap2_off + pfn // 8)
        if not byte or not byte[0] >> (pfn % 8) & 1:
            return None
        index = self._rank(pfn)
        d = self._pread(24, self._desc_off + 24 * index)
        if len(d) < 24:
            return None
        off, size, flags, _pf = struct.unpack("<qIIQ", d)
        return self._kdump_data(pfn, off, size, flags, PAGE_SIZE)

    _RANK_CHUNK = 1 << 16  # bitmap bytes per prefix count

    def _rank(self, pfn: int) -> int:
        """How many dumped pages come before pfn (its descriptor index)."""
        if self._rank_chunks is None:
            nbytes = (self.max_mapnr + 7) // 8
            counts, total = [], 0
            for base in range(0, nbytes, self._RANK_CHUNK):
                counts.append(total)
                data = self._pread(min(self._RANK_CHUNK, nbytes - base), self._bitmap2_off + base)
                total += int.from_bytes(data, "little").bit_count()
            self._rank_chunks = counts
        nbytes = pfn // 8
        chunk = nbytes // self._RANK_CHUNK
        base = chunk * self._RANK_CHUNK
        count = self._rank_chunks[chunk] if chunk < len(self._rank_chunks) else 0
        data = self._pread(nbytes - base, self._bitmap2_off + base)
        count += int.from_bytes(data, "little").bit_count()
        last = self._pread(1, self._bitmap2_off + nbytes)
        if last:
            count += (last[0] & ((1 << (pfn % 8)) - 1)).bit_count()
        return count

    def read(self, paddr: int, n: int) -> bytes | None:
        """n bytes at a physical address within one page, or None."""
        pfn, off = divmod(paddr, PAGE_SIZE)
        if off + n > PAGE_SIZE:
            raise ValueError("read crosses a page boundary")
        p = self.page(pfn)
        return None if p is None else p[off : off + n]
