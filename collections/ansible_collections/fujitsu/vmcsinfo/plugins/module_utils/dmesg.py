# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The kernel log of a crash dump, and the CPU it names.

read_log(dump) reads the printk ring buffer of Linux >= 5.10 (the lockless
`prb`, kernel/printk/printk_ringbuffer.[ch]) from a dump using only what
VMCOREINFO exports for it, the same symbols, sizes and offsets that
`makedumpfile --dump-dmesg` uses (SYMBOL(prb), SIZE/OFFSET of
printk_ringbuffer, prb_desc_ring, prb_data_ring, prb_desc, printk_info,
prb_data_blk_lpos and atomic_long_t.counter):

- SYMBOL(prb) is the address of the `prb` pointer; it points at the ring
  (printk_rb_static, or printk_rb_dynamic after log_buf_len=), whose
  descriptor ring has 2^count_bits descriptors and infos and whose text data
  ring 2^size_bits bytes;
- every id from tail_id to head_id (inclusive) names descriptor id % count.
  A descriptor is read when its state_var holds that id with state committed
  or finalized (reserved, reusable and other ids are skipped, as makedumpfile
  and the kernel skip them); its text_blk_lpos (begin, next: logical
  positions) locate the data block, which starts with the descriptor's id (an
  unsigned long) followed by the text; a block whose next lies in the wrap
  after begin's is stored at the start of the data ring (the kernel's
  get_data()). Data-less blocks (lpos bit 0: lost, or an empty line) give no
  record, as in makedumpfile's output;
- a text_len longer than the block is cut to the block (makedumpfile does so;
  the record says truncated); a block whose lpos are not possible (not
  aligned, more than one wrap apart) or that starts with another
  descriptor's id is skipped and counted. More ids between tail and head than
  descriptors (junk) are cut to the newest `count`.

Addresses (x86_64, as makedumpfile): an address of the kernel image
(__START_KERNEL_map up to NUMBER(KERNEL_IMAGE_SIZE)) is translated with
phys_base (paddr = vaddr - __START_KERNEL_map + phys_base; the symbols in
VMCOREINFO are the running kernel's, KASLR offset included, KERNELOFFSET
says by how much); any other address (the direct map of a dynamic log
buffer, vmalloc) by walking the kernel page tables from SYMBOL(init_top_pgt)
(init_level4_pgt on old kernels), 4 or 5 levels as NUMBER(pgtable_l5_enabled)
says, without the SME mask. phys_base is NUMBER(phys_base) (signed decimal),
else the kdump header's.

Everything read is bounded (ring sizes, record counts) and every failure to
read is a DmesgError saying what could not be read: junk never makes the
reader crash or loop.

cpu_identity(records) finds the CPU in the log (Linux's print_cpu_info line
`smpboot: CPU0: <model name> (family: 0x6, model: 0x3c, stepping: 0x3)`, the
microcode driver's lines); what the log does not say is None and listed in
`unknown`, never guessed.
"""

from __future__ import annotations

import re
import struct
from collections import Counter
from dataclasses import dataclass, field

from ansible_collections.fujitsu.vmcsinfo.plugins.module_utils.dumpfile import (
    PAGE_SIZE,
    Dump,
    DumpError,
)

START_KERNEL_MAP = 0xFFFFFFFF80000000
KERNEL_IMAGE_SIZE = 1 << 30  # KERNEL_IMAGE_SIZE with KASLR, when VMCOREINFO lacks it
ENTRY_MASK = ~0xFFF0000000000FFF & 0xFFFFFFFFFFFFFFFF
PAGE_PRESENT, PAGE_PSE = 0x1, 0x80
MASK64 = (1 << 64) - 1
# printk_ringbuffer.h: the two top bits of state_var are the state.
DESC_FLAGS_SHIFT = 62
DESC_ID_MASK = (1 << DESC_FLAGS_SHIFT) - 1
STATES = {0: "reserved", 1: "committed", 2: "finalized", 3: "reusable"}
# Bounds on what a kernel has (CONFIG_LOG_BUF_SHIFT <= 25; log_buf_len= may
# give more, not this much).
MAX_SIZE_BITS = 28
MAX_COUNT_BITS = 23
MAX_RING_BYTES = 512 << 20  # all the ring's arrays together
# What read_log needs from VMCOREINFO.
NEEDED = (
    "SYMBOL(prb)",
    "SIZE(printk_ringbuffer)",
    "OFFSET(printk_ringbuffer.desc_ring)",
    "OFFSET(printk_ringbuffer.text_data_ring)",
    "OFFSET(prb_desc_ring.count_bits)",
    "OFFSET(prb_desc_ring.descs)",
    "OFFSET(prb_desc_ring.infos)",
    "OFFSET(prb_desc_ring.head_id)",
    "OFFSET(prb_desc_ring.tail_id)",
    "SIZE(prb_desc)",
    "OFFSET(prb_desc.state_var)",
    "OFFSET(prb_desc.text_blk_lpos)",
    "OFFSET(prb_data_blk_lpos.begin)",
    "OFFSET(prb_data_blk_lpos.next)",
    "SIZE(printk_info)",
    "OFFSET(printk_info.seq)",
    "OFFSET(printk_info.ts_nsec)",
    "OFFSET(printk_info.text_len)",
    "OFFSET(prb_data_ring.size_bits)",
    "OFFSET(prb_data_ring.data)",
    "OFFSET(atomic_long_t.counter)",
)


class DmesgError(Exception):
    """The kernel log cannot be read from this dump; str() says why."""


@dataclass(frozen=True)
class Record:
    """One printk record: its sequence number, time stamp (ns since boot), the
    text's bytes as stored and decoded (UTF-8, invalid bytes replaced)."""

    seq: int
    ts_nsec: int
    raw: bytes
    caller_id: int | None = None
    truncated: bool = False
    state: str = "finalized"

    @property
    def text(self) -> str:
        return self.raw.decode("utf-8", "replace")

    def line(self) -> str:
        """As dmesg prints it: `[    2.012540] text`."""
        secs, ns = divmod(self.ts_nsec, 1_000_000_000)
        return f"[{secs:5d}.{ns // 1000:06d}] {self.text}"


@dataclass
class Log:
    records: list[Record]
    count: int  # descriptors in the ring
    data_size: int  # bytes of the text data ring
    head_id: int
    tail_id: int
    skipped: Counter = field(default_factory=Counter)  # why ids gave no record
    warnings: list[str] = field(default_factory=list)


# -- memory --------------------------------------------------------------------


def _number(info: dict[str, str], key: str) -> int | None:
    """A VMCOREINFO number: NUMBER() and OFFSET()/SIZE() are decimal (NUMBER may be
    negative), SYMBOL() and KERNELOFFSET hex; None when absent or not a number."""
    value = info.get(key)
    if value is None:
        return None
    value = value.strip()
    try:
        if key.startswith("SYMBOL(") or key == "KERNELOFFSET":
            return int(value, 16)
        return int(value, 0) if value.lower().startswith(("0x", "-0x")) else int(value, 10)
    except ValueError:
        return None


class Memory:
    """Physical and kernel-virtual reads of a dump, page by page."""

    def __init__(self, dump: Dump) -> None:
        self.dump = dump
        info = dump.info
        pb = _number(info, "NUMBER(phys_base)")
        if pb is None:
            pb = getattr(dump, "phys_base", 0) or 0
        self.phys_base = pb & MASK64
        self.image_size = _number(info, "NUMBER(KERNEL_IMAGE_SIZE)") or KERNEL_IMAGE_SIZE
        self.l5 = bool(_number(info, "NUMBER(pgtable_l5_enabled)"))
        self.entry_mask = ENTRY_MASK & ~((_number(info, "NUMBER(sme_mask)") or 0) & MASK64)
        pgt = _number(info, "SYMBOL(init_level4_pgt)")
        if pgt is None:
            pgt = _number(info, "SYMBOL(init_top_pgt)")
        self.pgt = None if pgt is None or not self._in_image(pgt) else self._text_pa(pgt)
        self._cache: dict[int, bytes | None] = {}

    def _in_image(self, vaddr: int) -> bool:
        return START_KERNEL_MAP <= vaddr < START_KERNEL_MAP + self.image_size

    def _text_pa(self, vaddr: int) -> int:
        return (vaddr - START_KERNEL_MAP + self.phys_base) & MASK64

    def page(self, pfn: int) -> bytes | None:
        if pfn not in self._cache:
            if len(self._cache) > 8192:
                self._cache.clear()
            try:
                self._cache[pfn] = self.dump.page(pfn) if 0 <= pfn < 1 << 52 else None
            except (DumpError, OSError, ValueError):
                self._cache[pfn] = None
        return self._cache[pfn]

    def pread(self, paddr: int, n: int, what: str) -> bytes:
        out = bytearray()
        while len(out) < n:
            pfn, off = divmod(paddr + len(out), PAGE_SIZE)
            take = min(PAGE_SIZE - off, n - len(out))
            p = self.page(pfn)
            if p is None:
                raise DmesgError(
                    f"{what}: physical page {pfn * PAGE_SIZE:#x} is not in the dump "
                    "(excluded or unreadable)"
                )
            out += p[off : off + take]
        return bytes(out)

    def _u64(self, paddr: int, what: str) -> int:
        return struct.unpack("<Q", self.pread(paddr, 8, what))[0]

    def vtop(self, vaddr: int, what: str) -> int:
        vaddr &= MASK64
        if self._in_image(vaddr):
            return self._text_pa(vaddr)
        if self.pgt is None:
            raise DmesgError(
                f"{what}: {vaddr:#x} is outside the kernel image and VMCOREINFO names no "
                "page table (SYMBOL(init_top_pgt))"
            )
        table = self.pgt
        levels = [(48, "PGD"), (39, "P4D"), (30, "PUD"), (21, "PMD"), (12, "PTE")]
        if not self.l5:
            levels = [(39, "PGD"), (30, "PUD"), (21, "PMD"), (12, "PTE")]
        for shift, name in levels:
            entry = self._u64(table + ((vaddr >> shift) & 0x1FF) * 8, f"{what}: {name}")
            if not entry & PAGE_PRESENT:
                raise DmesgError(f"{what}: {vaddr:#x} is not mapped ({name} {entry:#x})")
            base = entry & self.entry_mask
            if shift in (30, 21) and entry & PAGE_PSE:  # 1 GiB, 2 MiB pages
                size = 1 << shift
                return (base & ~(size - 1)) + (vaddr & (size - 1))
            table = base
        return table + (vaddr & 0xFFF)

    def vread(self, vaddr: int, n: int, what: str) -> bytes:
        out = bytearray()
        while len(out) < n:
            va = vaddr + len(out)
            take = min(PAGE_SIZE - va % PAGE_SIZE, n - len(out))
            out += self.pread(self.vtop(va, what), take, what)
        return bytes(out)


# -- the ring ------------------------------------------------------------------


def read_log(dump: Dump) -> Log:
    """Every record of the dump's printk ring, oldest first (raises DmesgError)."""
    info = dump.info
    missing = [k for k in NEEDED if _number(info, k) is None]
    if missing:
        if "SYMBOL(prb)" in missing and "SYMBOL(log_buf)" in info:
            raise DmesgError(
                "this kernel keeps its log in the pre-5.10 log_buf, which is not read here"
            )
        raise DmesgError(
            "VMCOREINFO lacks what the printk ring needs: "
            + ", ".join(missing[:4])
            + (f" (and {len(missing) - 4} more)" if len(missing) > 4 else "")
        )
    n = {k: _number(info, k) or 0 for k in NEEDED}
    bad = [f"{k}={n[k]}" for k in NEEDED if not k.startswith("SYMBOL") and not 0 <= n[k] <= 4096]
    if bad:
        raise DmesgError("implausible VMCOREINFO for the printk ring: " + ", ".join(bad[:4]))
    caller_off = _number(info, "OFFSET(printk_info.caller_id)")
    counter = n["OFFSET(atomic_long_t.counter)"]
    mem = Memory(dump)
    pointer = struct.unpack("<Q", mem.vread(n["SYMBOL(prb)"], 8, "the prb pointer"))[0]
    size_rb = n["SIZE(printk_ringbuffer)"]
    if not 0 < size_rb <= 4096:
        raise DmesgError(f"SIZE(printk_ringbuffer)={size_rb} is implausible")
    rb = mem.vread(pointer, size_rb, f"the printk ring buffer at {pointer:#x}")

    def field_(buf: bytes, off: int, fmt: str, what: str) -> int:
        if off < 0 or off + struct.calcsize(fmt) > len(buf):
            raise DmesgError(f"{what}: offset {off} lies outside its structure")
        return struct.unpack_from(fmt, buf, off)[0]

    dr = n["OFFSET(printk_ringbuffer.desc_ring)"]
    tr = n["OFFSET(printk_ringbuffer.text_data_ring)"]
    count_bits = field_(rb, dr + n["OFFSET(prb_desc_ring.count_bits)"], "<I", "count_bits")
    size_bits = field_(rb, tr + n["OFFSET(prb_data_ring.size_bits)"], "<I", "size_bits")
    if not 0 < count_bits <= MAX_COUNT_BITS or not 3 < size_bits <= MAX_SIZE_BITS:
        raise DmesgError(
            f"implausible printk ring: 2^{count_bits} descriptors, 2^{size_bits} bytes of text"
        )
    count, dsize = 1 << count_bits, 1 << size_bits
    sd, si = n["SIZE(prb_desc)"], n["SIZE(printk_info)"]
    if not 0 < sd <= 256 or not 0 < si <= 1024:
        raise DmesgError(f"implausible SIZE(prb_desc)={sd} or SIZE(printk_info)={si}")
    if (sd + si) * count + dsize > MAX_RING_BYTES:
        raise DmesgError(
            f"implausible printk ring: {(sd + si) * count + dsize} bytes "
            f"(2^{count_bits} descriptors of {sd} + {si} bytes, 2^{size_bits} bytes of text)"
        )
    descs_va = field_(rb, dr + n["OFFSET(prb_desc_ring.descs)"], "<Q", "descs")
    infos_va = field_(rb, dr + n["OFFSET(prb_desc_ring.infos)"], "<Q", "infos")
    data_va = field_(rb, tr + n["OFFSET(prb_data_ring.data)"], "<Q", "data")
    head = field_(rb, dr + n["OFFSET(prb_desc_ring.head_id)"] + counter, "<Q", "head_id")
    tail = field_(rb, dr + n["OFFSET(prb_desc_ring.tail_id)"] + counter, "<Q", "tail_id")
    descs = mem.vread(descs_va, sd * count, "the printk descriptors")
    infos = mem.vread(infos_va, si * count, "the printk infos")
    data = mem.vread(data_va, dsize, "the printk text data ring")
    log = Log([], count, dsize, head & DESC_ID_MASK, tail & DESC_ID_MASK)
    head, tail = log.head_id, log.tail_id
    span = ((head - tail) & DESC_ID_MASK) + 1
    if span > count:
        log.warnings.append(
            f"tail id {tail:#x} and head id {head:#x} are {span} ids apart, more than the "
            f"{count} descriptors: read the newest {count}"
        )
        tail = (head - count + 1) & DESC_ID_MASK
        span = count
    off_state = n["OFFSET(prb_desc.state_var)"] + counter
    off_lpos = n["OFFSET(prb_desc.text_blk_lpos)"]
    off_begin = off_lpos + n["OFFSET(prb_data_blk_lpos.begin)"]
    off_next = off_lpos + n["OFFSET(prb_data_blk_lpos.next)"]
    off_seq, off_ts = n["OFFSET(printk_info.seq)"], n["OFFSET(printk_info.ts_nsec)"]
    off_len = n["OFFSET(printk_info.text_len)"]
    for m, what in ((off_state, "state_var"), (off_begin, "begin"), (off_next, "next")):
        if m + 8 > sd:
            raise DmesgError(f"prb_desc.{what} at {m} lies outside SIZE(prb_desc)={sd}")
    for m, width, what in ((off_seq, 8, "seq"), (off_ts, 8, "ts_nsec"), (off_len, 2, "text_len")):
        if m + width > si:
            raise DmesgError(f"printk_info.{what} at {m} lies outside SIZE(printk_info)={si}")
    if caller_off is not None and not 0 <= caller_off <= si - 4:
        caller_off = None
    for k in range(span):
        rid = (tail + k) & DESC_ID_MASK
        slot = rid % count
        d = slot * sd
        state_var = struct.unpack_from("<Q", descs, d + off_state)[0]
        if state_var & DESC_ID_MASK != rid:
            log.skipped["descriptor of another id"] += 1
            continue
        state = state_var >> DESC_FLAGS_SHIFT
        if state not in (1, 2):
            log.skipped[STATES[state]] += 1
            continue
        begin = struct.unpack_from("<Q", descs, d + off_begin)[0]
        nxt = struct.unpack_from("<Q", descs, d + off_next)[0]
        if begin & 1 or nxt & 1:  # LPOS_DATALESS: lost, or an empty line
            log.skipped["data-less"] += 1
            continue
        wraps_b, wraps_n = begin >> size_bits, nxt >> size_bits
        if wraps_b == wraps_n and begin < nxt:
            start, length = begin & (dsize - 1), nxt - begin
        elif ((begin + dsize) & MASK64) >> size_bits == wraps_n:
            start, length = 0, nxt & (dsize - 1)
        else:
            log.skipped["impossible data position"] += 1
            continue
        if begin % 8 or nxt % 8 or length < 8 or start + length > dsize:
            log.skipped["impossible data position"] += 1
            continue
        if struct.unpack_from("<Q", data, start)[0] & DESC_ID_MASK != rid:
            log.skipped["data block of another id"] += 1
            continue
        i = slot * si
        text_len = struct.unpack_from("<H", infos, i + off_len)[0]
        room = length - 8
        truncated = text_len > room
        raw = data[start + 8 : start + 8 + min(text_len, room)]
        log.records.append(
            Record(
                seq=struct.unpack_from("<Q", infos, i + off_seq)[0],
                ts_nsec=struct.unpack_from("<Q", infos, i + off_ts)[0],
                raw=raw,
                caller_id=(
                    None
                    if caller_off is None
                    else struct.unpack_from("<I", infos, i + caller_off)[0]
                ),
                truncated=truncated,
                state=STATES[state],
            )
        )
    return log


# -- the CPU -------------------------------------------------------------------

# print_cpu_info() (arch/x86/kernel/cpu/common.c): the boot CPU's model name,
# preceded by the vendor's short name when the model name lacks it.
_CPU_LINE = re.compile(
    r"(?:smpboot: )?CPU(\d+): (.*?) \(family: 0x([0-9a-f]+), model: 0x([0-9a-f]+)"
    r"(?:, stepping: 0x([0-9a-f]+))?\)\s*$"
)
# The microcode driver: older kernels' per-CPU line gives the signature too.
_UCODE_SIG = re.compile(
    r"microcode: (?:CPU\d+:? )?sig=0x([0-9a-f]+), pf=0x([0-9a-f]+), revision=0x([0-9a-f]+)"
)
_UCODE_CURRENT = (
    re.compile(r"microcode: Current revision: 0x([0-9a-f]+)"),
    re.compile(r"microcode: (?:microcode )?updated early to revision 0x([0-9a-f]+)"),
    re.compile(r"microcode: updated early: 0x[0-9a-f]+ -> 0x([0-9a-f]+)"),
    re.compile(r"microcode: (?:CPU\d+: )?[Uu]pdated to revision:? 0x([0-9a-f]+)"),
    re.compile(r"microcode: (?:CPU\d+: )?patch_level=0x([0-9a-f]+)"),
)
_UCODE_FROM = re.compile(r"microcode: Updated early from: 0x([0-9a-f]+)")
# The vendor's short names in print_cpu_info (cpu_dev.c_vendor) and model names.
VENDORS = {
    "Intel": "GenuineIntel",
    "AMD": "AuthenticAMD",
    "Hygon": "HygonGenuine",
}
_VENDOR_IDS = ("GenuineIntel", "AuthenticAMD", "HygonGenuine")
_VENDOR_LINE = re.compile(r"^(?:x86/cpu|CPU): .*\b(" + "|".join(_VENDOR_IDS) + r")\b")


def signature(family: int, model: int, stepping: int) -> int | None:
    """CPUID.1:EAX for the family, model and stepping Linux prints (x86_family(),
    x86_model() of arch/x86/lib/cpu.c inverted: the extended family holds
    family - 0xf when family >= 0xf; the extended model holds model >> 4 when
    family >= 6). None when no signature gives them. The processor type bits
    (13:12), which Linux does not print, are taken as 0 (an OEM processor)."""
    if family < 0 or model < 0 or not 0 <= stepping <= 0xF:
        return None
    base_family, ext_family = (family, 0) if family < 0xF else (0xF, family - 0xF)
    if ext_family > 0xFF or model > 0xFF or (family < 6 and model > 0xF):
        return None
    return stepping | (model & 0xF) << 4 | base_family << 8 | (model >> 4) << 16 | ext_family << 20


def cpu_identity(records: list[Record]) -> dict:
    """The boot CPU as the kernel log names it: vendor (CPUID vendor id),
    signature (CPUID.1:EAX), family/model/stepping, microcode (the running
    revision), platform flags (when the log gives them), model_name, the
    evidence lines, and `unknown`: the pieces the log does not give (None)."""
    out: dict = {
        "vendor": None,
        "signature": None,
        "family": None,
        "model": None,
        "stepping": None,
        "microcode": None,
        "model_name": None,
        "evidence": [],
    }
    evidence: list[str] = out["evidence"]
    sig_exact = None
    notes: list[str] = []
    vendor_id = None
    seen: list[int] = []

    def microcode(value: int, r: Record) -> None:
        # One evidence line per revision (not one per CPU of a big host); the
        # latest statement wins (a late load updates every CPU).
        if value not in seen:
            seen.append(value)
            evidence.append(r.line())
        out["microcode"] = value

    for r in records:
        text = r.text.rstrip("\n")
        first = text.split("\n", 1)[0]
        m = _CPU_LINE.search(first)
        if m and out["model_name"] is None and m[5] is not None:
            fam, mod, step = int(m[3], 16), int(m[4], 16), int(m[5], 16)
            out.update(family=fam, model=mod, stepping=step, model_name=m[2].strip())
            out["signature"] = signature(fam, mod, step)
            evidence.append(r.line())
            continue
        m = _UCODE_SIG.search(first)
        if m:
            if sig_exact is None:
                sig_exact = int(m[1], 16)
                out["platform_flags"] = int(m[2], 16)
            microcode(int(m[3], 16), r)
            continue
        for pat in _UCODE_CURRENT:
            m = pat.search(first)
            if m:
                microcode(int(m[1], 16), r)
                break
        else:
            m = _UCODE_FROM.search(first)
            if m:
                out["microcode_before_update"] = int(m[1], 16)
                evidence.append(r.line())
                continue
            m = _VENDOR_LINE.search(first)
            if m and vendor_id is None:
                vendor_id = m[1]
                evidence.append(r.line())
    if sig_exact is not None:
        if out["signature"] is not None and out["signature"] != sig_exact:
            notes.append(
                f"the microcode driver's sig={sig_exact:#x} differs from {out['signature']:#x} "
                "computed from family/model/stepping: the driver's is used"
            )
        out["signature"] = sig_exact
    if len(seen) > 1:
        notes.append(
            "the log names several microcode revisions ("
            + ", ".join(f"{v:#x}" for v in seen)
            + f"): the last one, {seen[-1]:#x}, is taken as the running one"
        )
    if vendor_id is not None:
        out["vendor"] = vendor_id
    elif out["model_name"] is not None:
        words = re.findall(r"[A-Za-z]+", out["model_name"])
        found = {VENDORS[w] for w in words if w in VENDORS}
        if len(found) == 1:
            out["vendor"] = found.pop()
    if notes:
        out["notes"] = notes
    out["unknown"] = [
        k for k in ("vendor", "signature", "microcode", "model_name") if out[k] is None
    ]
    return out


def describe(identity: dict) -> str:
    """An identity in words, for messages."""

    def hx(v: int | None) -> str:
        return "unknown" if v is None else f"{v:x}"

    return (
        f"vendor {identity.get('vendor') or 'unknown'}, signature {hx(identity.get('signature'))}, "
        f"microcode {hx(identity.get('microcode'))}"
        + (f" ({identity['model_name']})" if identity.get("model_name") else "")
    )
