"""Tests of the kernel log reader (dmesg.py): the printk ring of Linux >= 5.10
written byte for byte as the kernel lays it out (dumpgen.printk_ring), in
every dump format, in the kernel image (phys_base, KASLR) and behind page
tables (a randomized direct map, 2 MiB and 4 KiB pages); wrap-around of the
data ring, of the descriptor ids and of the logical positions; reusable,
reserved and reused descriptors, impossible positions, a truncated record;
fuzzed structures and offsets (never a crash or a hang, only records or a
DmesgError). On the real Bochs dump, tests/vmx/crash-check.py compares the
records with makedumpfile --dump-dmesg's. And the CPU identity from the log.
"""

from __future__ import annotations

import os
import struct
import sys
import time
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

sys.path.insert(0, str(Path(__file__).resolve().parent))
import dumpgen
from dumpgen import PrintkRecord

from ansible_collections.fujitsu.vmcsinfo.plugins.module_utils import dmesg
from ansible_collections.fujitsu.vmcsinfo.plugins.module_utils.dumpfile import (
    Dump,
    vmcoreinfo_dict,
)

KINDS = ["elf", "kdump-zlib", "kdump-none", "flat"]
# More examples for a longer fuzzing run by hand: VMCSINFO_FUZZ_EXAMPLES=5000.
FUZZ = int(os.environ.get("VMCSINFO_FUZZ_EXAMPLES", "150"))


def texts(n: int, start: int = 0) -> list[PrintkRecord]:
    return [
        PrintkRecord(f"message {i}: {'x' * (i % 23)}".encode(), ts_nsec=i * 1_234_567_891)
        for i in range(start, start + n)
    ]


class FakeDump:
    """What dmesg.Memory uses of a Dump: info and page()."""

    def __init__(self, pages: dict[int, bytes], info: dict[str, str]) -> None:
        self.pages = pages
        self.info = info
        self.phys_base = 0

    def page(self, pfn: int) -> bytes | None:
        return self.pages.get(pfn)


def got(log: dmesg.Log) -> list[tuple[int, int, bytes, bool]]:
    return [(r.seq, r.ts_nsec, r.raw, r.truncated) for r in log.records]


def info_text(extra: dict[str, str]) -> str:
    return dumpgen.vmcoreinfo(extra)


# -- the ring in every dump format ---------------------------------------------


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("layout", ["static", "dynamic"])
def test_reads_the_ring_from_every_format(tmp_path: Path, kind: str, layout: str) -> None:
    ring = dumpgen.printk_ring(texts(40), count_bits=4, size_bits=9)
    pages, extra = dumpgen.ring_memory(ring, layout)
    path = dumpgen.write_info(tmp_path, pages, kind, info_text(extra))
    with Dump(str(path)) as d:
        log = dmesg.read_log(d)
    assert got(log) == ring.expected
    assert log.records, "the newest records are there"
    # the data ring (512 bytes) holds far fewer than 40 records: the oldest are gone
    assert log.records[-1].seq == 39 and log.records[0].seq > 0
    assert log.count == 16 and log.data_size == 512
    assert log.records[-1].text.startswith("message 39: ")
    assert log.records[-1].line().startswith("[   48.148147] message 39")


def test_kernel_initial_ids_and_every_record_kept() -> None:
    """A ring that never wrapped (the kernel's DESC0_ID / BLK0_LPOS): every record."""
    ring = dumpgen.printk_ring(texts(10), count_bits=5, size_bits=12)
    pages, info = dumpgen.ring_memory(ring)
    log = dmesg.read_log(FakeDump(pages, info))
    assert [r.seq for r in log.records] == list(range(10))
    assert got(log) == ring.expected
    assert log.tail_id == 2**32 - 32 - 1 and log.head_id == log.tail_id + 9


def test_id_and_lpos_wrap_around() -> None:
    """Descriptor ids wrap at 2^62, logical positions at 2^64."""
    ring = dumpgen.printk_ring(
        texts(30), count_bits=3, size_bits=8, first_id=dmesg.DESC_ID_MASK - 5, first_lpos=-64
    )
    assert ring.ids[0] > ring.ids[-1]  # wrapped
    pages, info = dumpgen.ring_memory(ring)
    log = dmesg.read_log(FakeDump(pages, info))
    assert got(log) == ring.expected and log.records
    assert log.records[-1].seq == 29


def test_wrapping_data_block_is_read_from_the_start() -> None:
    """A block that does not fit before the end of the data ring is stored at
    its start (get_next_lpos); its lpos wrap."""
    recs = [PrintkRecord(b"A" * 40), PrintkRecord(b"B" * 40), PrintkRecord(b"C" * 40)]
    ring = dumpgen.printk_ring(recs, count_bits=4, size_bits=7, first_lpos=0)
    # 48-byte blocks in 128 bytes: the third wraps to index 0
    assert struct.unpack_from("<Q", ring.data, 0)[0] == ring.ids[2]
    pages, info = dumpgen.ring_memory(ring)
    log = dmesg.read_log(FakeDump(pages, info))
    assert [r.raw for r in log.records] == [b"B" * 40, b"C" * 40]
    assert dict(log.skipped) == {"reusable": 1}


def test_states_reuse_dataless_and_impossible_positions() -> None:
    recs = texts(8)
    recs[2] = PrintkRecord(b"", dataless=dumpgen.EMPTY_LINE_LPOS)
    recs[3] = PrintkRecord(b"lost", dataless=dumpgen.FAILED_LPOS)
    recs[5] = PrintkRecord(b"committed, not finalized", state=dumpgen.COMMITTED)
    recs[7] = PrintkRecord(b"being written", state=dumpgen.RESERVED)
    ring = dumpgen.printk_ring(recs, count_bits=4, size_bits=10)
    # record 1's slot taken by an id one lap ahead (a descriptor reused)
    ring.set_desc(ring.ids[1], state_var=dumpgen.FINALIZED << 62 | (ring.ids[1] + 16))
    # record 4: positions more than one wrap apart
    ring.set_desc(ring.ids[4], lpos=(0x10, 0x10 + 3 * 1024))
    # record 6: its data block names another id
    off = struct.unpack_from("<Q", ring.descs, ring.desc_off(ring.ids[6]) + 8)[0] % 1024
    struct.pack_into("<Q", ring.data, off, ring.ids[0])
    pages, info = dumpgen.ring_memory(ring)
    log = dmesg.read_log(FakeDump(pages, info))
    assert [r.seq for r in log.records] == [0, 5]
    assert log.records[1].state == "committed"
    assert dict(log.skipped) == {
        "descriptor of another id": 1,
        "data-less": 2,
        "impossible data position": 1,
        "data block of another id": 1,
        "reserved": 1,
    }


def test_truncated_record_is_cut_to_its_block() -> None:
    """text_len beyond the data block: cut to the block, as makedumpfile does."""
    recs = [PrintkRecord(b"short one", text_len=200), PrintkRecord(b"next")]
    ring = dumpgen.printk_ring(recs, count_bits=4, size_bits=10)
    pages, info = dumpgen.ring_memory(ring)
    log = dmesg.read_log(FakeDump(pages, info))
    first = log.records[0]
    assert first.truncated and first.raw == b"short one" + bytes(7)  # block padding
    assert not log.records[1].truncated and log.records[1].raw == b"next"
    assert got(log) == ring.expected


def test_junk_head_and_tail_are_bounded() -> None:
    ring = dumpgen.printk_ring(texts(5), count_bits=4, size_bits=10)
    ring.tail_id = (ring.head_id - 10**15) & dmesg.DESC_ID_MASK
    pages, info = dumpgen.ring_memory(ring)
    t0 = time.monotonic()
    log = dmesg.read_log(FakeDump(pages, info))
    assert time.monotonic() - t0 < 5
    assert [r.seq for r in log.records] == list(range(5))
    assert "more than the 16 descriptors" in log.warnings[0]


def test_kaslr_phys_base_is_signed_decimal() -> None:
    ring = dumpgen.printk_ring(texts(3))
    pages, info = dumpgen.ring_memory(ring)
    assert int(info["NUMBER(phys_base)"]) < 0
    mem = dmesg.Memory(FakeDump(pages, info))  # type: ignore[arg-type]
    assert mem.vtop(dumpgen.KERNEL_VBASE + 0x123, "x") == dumpgen.KERNEL_PBASE + 0x123


def test_page_table_walk() -> None:
    ring = dumpgen.printk_ring(texts(3))
    pages, info = dumpgen.ring_memory(ring, "dynamic")
    mem = dmesg.Memory(FakeDump(pages, info))  # type: ignore[arg-type]
    assert mem.vtop(dumpgen.PAGE_OFFSET + 0x1234567, "x") == 0x1234567  # 1 GiB page
    assert mem.vtop(dumpgen.VMALLOC + 0x200000 + 0x1FFFF, "x") == 0x04000000 + 0x1FFFF  # 2 MiB
    with pytest.raises(dmesg.DmesgError, match="not mapped"):
        mem.vtop(0xFFFFEA0000000000, "x")
    del info["SYMBOL(init_top_pgt)"]
    mem = dmesg.Memory(FakeDump(pages, info))  # type: ignore[arg-type]
    with pytest.raises(dmesg.DmesgError, match="names no page table"):
        mem.vtop(dumpgen.PAGE_OFFSET, "the descriptors")


def test_clear_errors() -> None:
    ring = dumpgen.printk_ring(texts(3))
    pages, info = dumpgen.ring_memory(ring)
    bare = vmcoreinfo_dict(dumpgen.vmcoreinfo())
    with pytest.raises(dmesg.DmesgError, match="VMCOREINFO lacks"):
        dmesg.read_log(FakeDump(pages, bare))
    with pytest.raises(dmesg.DmesgError, match=r"pre-5\.10 log_buf"):
        dmesg.read_log(FakeDump(pages, dict(bare, **{"SYMBOL(log_buf)": "ffffffff82000000"})))
    # the ring's pages excluded from the dump
    ring_pfn = dumpgen._text_pa(dumpgen.KERNEL_VBASE + 0x80000) // 4096
    with pytest.raises(dmesg.DmesgError, match=r"text data ring: physical page .* not in the dump"):
        dmesg.read_log(FakeDump({k: v for k, v in pages.items() if k != ring_pfn}, info))
    bad = dict(info, **{"OFFSET(printk_info.text_len)": "87"})
    with pytest.raises(dmesg.DmesgError, match="outside SIZE"):
        dmesg.read_log(FakeDump(pages, bad))


# -- fuzzing: junk never crashes or hangs the reader -----------------------------


@settings(max_examples=FUZZ, deadline=2000, suppress_health_check=[HealthCheck.too_slow])
@given(
    data=st.data(),
    which=st.sampled_from(["prb", "descs", "infos", "data", "all"]),
)
def test_fuzz_ring_contents(data: st.DataObject, which: str) -> None:
    ring = dumpgen.printk_ring(texts(12), count_bits=3, size_bits=8)
    if which in ("descs", "all"):
        ring.descs[:] = data.draw(st.binary(min_size=len(ring.descs), max_size=len(ring.descs)))
    if which in ("infos", "all"):
        ring.infos[:] = data.draw(st.binary(min_size=len(ring.infos), max_size=len(ring.infos)))
    if which in ("data", "all"):
        ring.data[:] = data.draw(st.binary(min_size=len(ring.data), max_size=len(ring.data)))
    pages, info = dumpgen.ring_memory(ring, data.draw(st.sampled_from(["static", "dynamic"])))
    if which in ("prb", "all"):
        rb = dumpgen._text_pa(dumpgen.KERNEL_VBASE + 0x1100)
        page = bytearray(pages[rb // 4096])
        o = rb % 4096
        page[o : o + 88] = data.draw(st.binary(min_size=88, max_size=88))
        pages[rb // 4096] = bytes(page)
    t0 = time.monotonic()
    try:
        log = dmesg.read_log(FakeDump(pages, info))
    except dmesg.DmesgError as e:
        assert str(e)
    else:
        assert len(log.records) <= log.count
        for r in log.records:
            assert isinstance(r.text, str) and len(r.raw) <= log.data_size
    assert time.monotonic() - t0 < 2


@settings(max_examples=FUZZ, deadline=2000)
@given(
    key=st.sampled_from([k for k in dmesg.NEEDED if not k.startswith("SYMBOL")]),
    value=st.one_of(
        st.integers(min_value=-(2**40), max_value=2**40).map(str),
        st.text(max_size=8),
    ),
    ptr=st.integers(min_value=0, max_value=2**64 - 1),
)
def test_fuzz_vmcoreinfo(key: str, value: str, ptr: int) -> None:
    ring = dumpgen.printk_ring(texts(6), count_bits=3, size_bits=8)
    pages, info = dumpgen.ring_memory(ring, "dynamic")
    info = dict(info, **{key: value})
    if ptr % 3 == 0:
        info["SYMBOL(prb)"] = f"{ptr:x}"
    try:
        log = dmesg.read_log(FakeDump(pages, info))
    except dmesg.DmesgError as e:
        assert str(e)
    else:
        assert len(log.records) <= log.count


# -- the CPU ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("family", "model", "stepping", "sig"),
    [
        (6, 0x3C, 3, 0x306C3),  # Haswell i7-4770 (the Bochs model)
        (6, 0x1A, 5, 0x106A5),  # Nehalem
        (6, 0x55, 4, 0x50654),  # Skylake-SP
        (6, 0x8C, 1, 0x806C1),  # Tiger Lake
        (6, 0x17, 0xA, 0x1067A),  # Penryn
        (0xF, 0x4, 1, 0xF41),  # Pentium 4 (family 15, no extended family)
        (0x17, 0x31, 0, 0x830F10),  # AMD Zen 2 Rome
        (0x19, 0x1, 1, 0xA00F11),  # AMD Zen 3 Milan
        (5, 0x10, 0, None),  # no signature gives a model above 15 below family 6
        (6, 0x3C, 0x10, None),
    ],
)
def test_signature(family: int, model: int, stepping: int, sig: int | None) -> None:
    assert dmesg.signature(family, model, stepping) == sig


def recs(lines: list[bytes]) -> list[dmesg.Record]:
    return [dmesg.Record(i, i * 1000, t) for i, t in enumerate(lines)]


def test_identity_of_the_bochs_log() -> None:
    ident = dmesg.cpu_identity(recs(dumpgen.BOCHS_BOOT_LOG))
    assert ident["vendor"] == "GenuineIntel"
    assert ident["signature"] == 0x306C3 == dumpgen.BOCHS.cpu_signature
    assert (ident["family"], ident["model"], ident["stepping"]) == (6, 0x3C, 3)
    assert ident["microcode"] == 0 == dumpgen.BOCHS.microcode
    assert ident["model_name"] == "Intel(R) Core(TM) i7-4770 CPU @ 3.40GHz"
    assert ident["unknown"] == []
    assert len(ident["evidence"]) == 2
    assert "smpboot: CPU0" in ident["evidence"][0] and "Current revision" in ident["evidence"][1]


def test_identity_older_kernel_sig_line_and_updates() -> None:
    ident = dmesg.cpu_identity(
        recs(
            [
                b"microcode: microcode updated early to revision 0x27, date = 2019-02-26",
                b"smpboot: CPU0: Intel(R) Xeon(R) CPU E5-2680 v3 @ 2.50GHz (family: 0x6, "
                b"model: 0x3f, stepping: 0x2)",
                b"microcode: CPU0 sig=0x306f2, pf=0x1, revision=0x27",
                b"microcode: Microcode Update Driver: v2.2.",
            ]
        )
    )
    assert ident["signature"] == 0x306F2 and ident["microcode"] == 0x27
    assert ident["platform_flags"] == 1 and ident["vendor"] == "GenuineIntel"
    later = dmesg.cpu_identity(
        recs(
            [
                b"microcode: Updated early from: 0x00000027",
                b"microcode: Current revision: 0x00000049",
            ]
        )
    )
    assert later["microcode"] == 0x49 and later["microcode_before_update"] == 0x27
    assert later["unknown"] == ["vendor", "signature", "model_name"]


def test_identity_amd() -> None:
    ident = dmesg.cpu_identity(
        recs(
            [
                b"smpboot: CPU0: AMD EPYC 7763 64-Core Processor (family: 0x19, model: 0x1, "
                b"stepping: 0x1)",
                b"microcode: CPU0: patch_level=0x0a001173",
            ]
        )
    )
    assert ident["vendor"] == "AuthenticAMD" and ident["signature"] == 0xA00F11
    assert ident["microcode"] == 0xA001173


def test_identity_unknown_is_never_guessed() -> None:
    ident = dmesg.cpu_identity(
        recs(
            [
                b"KERNEL supported cpus:",
                b"  Intel GenuineIntel",
                b"please update microcode to version: 0x22 (or later)",
                b"smpboot: CPU0: Some CPU (family: 0x6, model: 0x3c)",  # no stepping
            ]
        )
    )
    assert ident["vendor"] is None and ident["signature"] is None and ident["microcode"] is None
    assert ident["unknown"] == ["vendor", "signature", "microcode", "model_name"]
    assert "unknown" in dmesg.describe(ident)


def test_identity_of_a_big_host_names_each_revision_once() -> None:
    lines = [b"smpboot: CPU0: Intel(R) Xeon(R) (family: 0x6, model: 0x3f, stepping: 0x2)"]
    lines += [f"microcode: CPU{i} sig=0x306f2, pf=0x1, revision=0x27".encode() for i in range(64)]
    lines += [b"microcode: updated to revision 0x49, date = 2021-01-27"]
    ident = dmesg.cpu_identity(recs(lines))
    assert ident["microcode"] == 0x49 and len(ident["evidence"]) == 3
    assert "0x27, 0x49" in ident["notes"][0]
