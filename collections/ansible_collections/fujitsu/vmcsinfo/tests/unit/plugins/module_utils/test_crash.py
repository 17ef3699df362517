"""Tests of the dump reader (dumpfile.py), the VMCS finder (vmcsscan.py) and
vmcsinfo-crash (crash.py, CONTRACT 4) on dumps made from page maps: ELF,
kdump-compressed (zlib and uncompressed pages) and flattened, holding a real
Bochs-probed layout's VMCS, a KVM vmcs12 page, the module's note and decoys.
Every format is read by drgn (libkdumpfile) too, and must give the same bytes.
"""

from __future__ import annotations

import hashlib
import json
import os
import random
import struct
import sys
import time
from pathlib import Path

import drgn
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
import dumpgen

from ansible_collections.fujitsu.vmcsinfo.plugins.module_utils import crash
from ansible_collections.fujitsu.vmcsinfo.plugins.module_utils.dumpfile import (
    Dump,
    DumpError,
)
from ansible_collections.fujitsu.vmcsinfo.plugins.module_utils.vmcsinfo import (
    parse,
)
from ansible_collections.fujitsu.vmcsinfo.plugins.module_utils.vmcsscan import (
    check,
)

BOCHS_TEXT, BOCHS, GUEST = dumpgen.BOCHS_TEXT, dumpgen.BOCHS, dumpgen.GUEST
vmcs_page, note_pages, memory = dumpgen.vmcs_page, dumpgen.note_pages, dumpgen.memory
PAGE = 4096

write = dumpgen.write


KINDS = ["elf", "kdump-zlib", "kdump-none", "flat"]


@pytest.mark.parametrize("kind", KINDS)
def test_reader_agrees_with_drgn(tmp_path: Path, kind: str) -> None:
    pages, _where = memory()
    path = write(tmp_path, pages, kind)
    with Dump(str(path)) as d:
        ours = {pfn: d.full(ref) for pfn, _head, ref in d.pages()}
        assert d.page(0x120) == pages[0x120]
        assert d.page(0x50) is None
    assert ours == pages
    prog = drgn.Program()
    prog.set_core_dump(str(path))
    for pfn, data in pages.items():
        assert prog.read(pfn * PAGE, PAGE, True) == data


def test_elf_read_path_equals_the_mapped_one(tmp_path: Path) -> None:
    """The ELF scan maps the file a window at a time; where a file cannot be
    mapped it reads the same windows into a buffer. Both give the same pages,
    heads and scan, also with windows smaller than a PT_LOAD."""
    pages, _where = memory()
    path = write(tmp_path, pages, "elf")
    got = []
    for no_mmap in (False, True):
        with Dump(str(path)) as d:
            d._no_mmap = no_mmap
            d.SCAN_CHUNK = 8 * PAGE  # several windows per segment
            got.append([(pfn, head, d.full(ref)) for pfn, head, ref in d.pages(head=24)])
    assert got[0] == got[1]
    assert {pfn: data for pfn, _head, data in got[0]} == pages
    assert all(head == pages[pfn][:24] for pfn, head, _data in got[0])


@pytest.mark.parametrize("kind", KINDS)
def test_finds_the_guests_and_decodes_them(tmp_path: Path, kind: str) -> None:
    pages, where = memory()
    report = crash.analyze(str(write(tmp_path, pages, kind)))
    vi = report["vmcsinfo"]
    assert vi["source"] == "note"
    assert vi["digest"] == BOCHS.digest() and vi["revision_id"] == 0x2B
    assert vi["note_paddr"] == 0x200 * PAGE
    # The note's own bytes: what sha256sum of the crashed kernel's sysfs text gives.
    assert vi["note_sha256"] == hashlib.sha256(BOCHS_TEXT.encode()).hexdigest()
    assert [v["paddr"] for v in report["vmcs"]] == [where["l1"], where["l2"]]
    l1, l2 = report["vmcs"]
    assert not l1["nested"] and l2["nested"] and l2["revision_id"] == 0x11E57ED0
    for name, value in GUEST.items():
        if BOCHS.field(name):
            assert l1["fields"][name] == value, name
    assert set(l1["fields"]) == {f.name for f in BOCHS.fields}
    assert l2["fields"]["GUEST_RIP"] == 0x7C00
    assert report["rejected"] == 2
    reasons = {r["paddr"]: r["reasons"] for r in report["rejected_detail"]}
    assert any("link pointer 0x0" in r for r in reasons[0x131 * PAGE])
    assert report["groups"]["vpid"] == {"0x1": [where["l1"]]}
    assert report["groups"]["eptp"] == {"0x12345000": [where["l1"]]}


def test_render_reads_like_info_registers(tmp_path: Path) -> None:
    pages, _where = memory()
    text = crash.render(crash.analyze(str(write(tmp_path, pages, "elf"))), verbose=True)
    assert "rip        0x0000000000001004" in text
    assert "[IF]" in text  # RFLAGS 0x202: bit 1 is reserved, IF is bit 9
    assert "[PE ET NE PG]" in text
    assert "code readable accessed DPL0 P DB G" in text
    assert "reason 30 IO_INSTRUCTION" in text
    assert "rax..r15 are not in the VMCS" in text
    assert "KVM vmcs12" in text and "rejected 0x131000: VMCS link pointer" in text


@pytest.mark.parametrize(
    "fields, mode",
    [
        ({"GUEST_CR0": 0x10, "GUEST_CS_AR_BYTES": 0x93}, "real mode"),
        (
            {
                "GUEST_CR0": 0x80050033,
                "GUEST_IA32_EFER": 0x500,
                "GUEST_CS_AR_BYTES": 0xA09B,
                "GUEST_SS_AR_BYTES": 0xC093,
            },
            "64-bit mode, CPL 0 (kernel)",
        ),
        (
            {
                "GUEST_CR0": 0x80050033,
                "GUEST_IA32_EFER": 0xD01,
                "GUEST_CS_AR_BYTES": 0xA0FB,
                "GUEST_SS_AR_BYTES": 0xC0F3,
            },
            "64-bit mode, CPL 3 (user)",
        ),
        (
            {
                "GUEST_CR0": 0x80050033,
                "GUEST_IA32_EFER": 0x500,
                "GUEST_CS_AR_BYTES": 0xC0FB,
                "GUEST_SS_AR_BYTES": 0xC0F3,
            },
            "compatibility mode (32-bit code, IA-32e), CPL 3 (user)",
        ),
        (
            {"GUEST_CR0": 0x11, "GUEST_CS_AR_BYTES": 0xC09B, "GUEST_SS_AR_BYTES": 0xC093},
            "protected mode, 32-bit code, CPL 0 (kernel)",
        ),
        (
            {"GUEST_CR0": 0x11, "GUEST_CS_AR_BYTES": 0x9B, "GUEST_SS_AR_BYTES": 0xB3},
            "protected mode, 16-bit code, CPL 1 (ring 1)",
        ),
        (
            {
                "GUEST_CR0": 0x11,
                "GUEST_RFLAGS": 0x20202,
                "GUEST_CS_AR_BYTES": 0xF3,
                "GUEST_SS_AR_BYTES": 0xF3,
            },
            "virtual-8086 mode, CPL 3 (user)",
        ),
        ({"GUEST_RIP": 0x1000}, None),
    ],
)
def test_cpu_mode_rows(fields: dict, mode: str | None) -> None:
    assert crash.cpu_mode(fields) == mode


def test_render_says_when_and_that_the_file_agrees(tmp_path: Path) -> None:
    pages, _where = memory()
    d = tmp_path / "202612010900"
    d.mkdir()
    write(d, pages, "kdump-zlib")
    (d / "vmcsinfo").write_text(BOCHS_TEXT)
    text = crash.render(crash.analyze(str(d)))
    assert "the vmcsinfo file beside the dump agrees" in text
    assert "mode       protected mode" in text or "mode       64-bit" in text


def test_sidecar_file_when_no_note(tmp_path: Path) -> None:
    pages, _where = memory(with_note=False)
    d = tmp_path / "202612010900"
    d.mkdir()
    write(d, pages, "kdump-zlib")
    (d / "vmcsinfo").write_text(BOCHS_TEXT)
    report = crash.analyze(str(d))
    assert report["vmcsinfo"]["source"] == "file"
    assert report["vmcsinfo"]["where"] == str(d / "vmcsinfo")
    assert len(report["vmcs"]) == 2


def test_note_wins_over_a_disagreeing_file(tmp_path: Path) -> None:
    pages, _where = memory()
    write(tmp_path, pages, "elf")
    # The same fields with GUEST_RIP and GUEST_RSP swapped: another layout.
    rip = next(ln for ln in BOCHS_TEXT.splitlines() if ln.startswith("FIELD(GUEST_RIP)="))
    rsp = next(ln for ln in BOCHS_TEXT.splitlines() if ln.startswith("FIELD(GUEST_RSP)="))
    swap = {
        rip: rip.split("=")[0] + "=" + rsp.split("=")[1],
        rsp: rsp.split("=")[0] + "=" + rip.split("=")[1],
    }
    other = "".join(swap.get(ln, ln) + "\n" for ln in BOCHS_TEXT.splitlines())
    other_layout = parse(other)
    (tmp_path / "vmcsinfo").write_text(other)
    vi = crash.analyze(str(tmp_path))["vmcsinfo"]
    assert vi["source"] == "note"
    assert vi["note_digest"] == BOCHS.digest()
    assert vi["file_digest"] == other_layout.digest() != BOCHS.digest()
    assert "the note was used" in vi["disagree"]


def test_option_first(tmp_path: Path) -> None:
    pages, _where = memory()
    path = write(tmp_path, pages, "elf")
    f = tmp_path / "given.vmcsinfo"
    f.write_text(BOCHS_TEXT)
    vi = crash.analyze(str(path), str(f))["vmcsinfo"]
    assert vi["source"] == "option" and vi["note_digest"] == BOCHS.digest()


def test_vmcsinfo_of_another_revision_reads_cleanly_and_says_so(tmp_path: Path) -> None:
    """A VMCSINFO whose revision id matches no page (another CPU's): exit 0,
    no VMCS, nothing rejected, and a hint that names the likely cause."""
    pages, _where = memory(with_note=False)
    path = write(tmp_path, pages, "kdump-zlib")
    other = BOCHS_TEXT.replace("REVISION_ID=2b\n", "REVISION_ID=7\n").replace(
        "VMX_BASIC=d810000000002b\n", "VMX_BASIC=d8100000000007\n"
    )
    assert other != BOCHS_TEXT
    f = tmp_path / "other.vmcsinfo"
    f.write_text(other)
    report = crash.analyze(str(path), str(f))
    vi = report["vmcsinfo"]
    assert vi["revision_id"] == 7 and vi["pages_with_revision"] == 0
    # KVM's vmcs12 pages have a public layout of their own: still found.
    assert [v["nested"] for v in report["vmcs"]] == [True] and report["rejected"] == 0
    assert "another CPU model" in vi["hint"]
    assert "hint      no page of this dump starts with" in crash.render(report)
    assert crash.main(["--vmcsinfo", str(f), str(path)]) == 0
    # With the right VMCSINFO there is no hint.
    f.write_text(BOCHS_TEXT)
    vi = crash.analyze(str(path), str(f))["vmcsinfo"]
    assert "hint" not in vi and vi["pages_with_revision"] >= 2


def test_no_vmcsinfo_says_what_was_tried(tmp_path: Path) -> None:
    pages, _where = memory(with_note=False)
    path = write(tmp_path, pages, "elf")
    with pytest.raises(crash.CrashError) as e:
        crash.analyze(str(path))
    assert e.value.exit_code == 3
    assert "--vmcsinfo (not given)" in str(e.value) and "beside the dump" in str(e.value)


def test_bad_note_is_reported_not_used(tmp_path: Path) -> None:
    pages, _where = memory(with_note=False)
    bad = BOCHS_TEXT.replace("FIELD_COUNT=", "FIELD_COUNT=f")
    pages[0x300] = note_pages(bad)[0]
    (tmp_path / "vmcsinfo").write_text(BOCHS_TEXT)
    report = crash.analyze(str(write(tmp_path, pages, "elf")))
    assert report["vmcsinfo"]["source"] == "file"


def test_shadow_vmcs_and_link_pointer(tmp_path: Path) -> None:
    pages, _where = memory()
    rnd = random.Random(3)
    pages[0x138] = vmcs_page(BOCHS, GUEST, rnd, shadow=True)
    pages[0x120] = vmcs_page(BOCHS, dict(GUEST, VMCS_LINK_POINTER=0x138 * PAGE), rnd)
    report = crash.analyze(str(write(tmp_path, pages, "kdump-zlib")))
    by = {v["paddr"]: v for v in report["vmcs"]}
    assert by[0x138 * PAGE]["shadow"] and not by[0x120 * PAGE]["shadow"]


def test_host_rip_shared_by_the_host(tmp_path: Path) -> None:
    pages, _where = memory()
    rnd = random.Random(5)
    pages[0x121] = vmcs_page(BOCHS, dict(GUEST, VIRTUAL_PROCESSOR_ID=2), rnd)
    pages[0x122] = vmcs_page(BOCHS, dict(GUEST, HOST_RIP=0xFFFFFFFFC0FFEE00), rnd)
    report = crash.analyze(str(write(tmp_path, pages, "elf")))
    assert 0x122 * PAGE not in [v["paddr"] for v in report["vmcs"]]
    assert any("differs from" in r for d in report["rejected_detail"] for r in d["reasons"])


def test_check_rows() -> None:
    rnd = random.Random(9)
    good = vmcs_page(BOCHS, GUEST, rnd)
    assert check(good, BOCHS) == []
    rows = {
        "HOST_CR4": (0x6E0, "lacks VMXE"),
        "HOST_CR0": (0x33, "lacks PE, WP or PG"),
        "HOST_CS_SELECTOR": (0x13, "RPL 0"),
        "HOST_RIP": (0x401000, "kernel text"),
        "PIN_BASED_VM_EXEC_CONTROL": (0x1, "default-1"),
        "EPT_POINTER": (0x12345001, "EPT pointer"),
        "GUEST_RIP": (0x1_0000_1000, "not canonical"),
        "GUEST_CS_AR_BYTES": (0xC49B, "reserved bits"),
        "GUEST_TR_AR_BYTES": (0x0B, "not present"),
    }
    for name, (value, why) in rows.items():
        page = vmcs_page(BOCHS, dict(GUEST, **{name: value}), rnd)
        got = check(page, BOCHS)
        assert any(why in r for r in got), (name, got)


def test_cli_json_contract(tmp_path: Path, capsys) -> None:
    pages, where = memory()
    path = write(tmp_path, pages, "kdump-zlib")
    assert crash.main(["--json", str(path)]) == 0
    out = capsys.readouterr().out
    assert out.count("\n") == 1
    report = json.loads(out)
    assert report["format"] == 1 and report["dump"] == dict(report["dump"], kind="kdump")
    assert isinstance(report["vmcs"][0]["fields"]["GUEST_RIP"], int)
    assert isinstance(report["rejected"], int)
    assert report["vmcs"][0]["paddr"] == where["l1"]


def test_cli_exit_codes(tmp_path: Path, capsys) -> None:
    assert crash.main([str(tmp_path / "missing")]) == 2
    junk = tmp_path / "junk"
    junk.write_bytes(b"not a dump at all" * 10)
    assert crash.main([str(junk)]) == 2
    assert "not a crash dump" in capsys.readouterr().err
    pages, _where = memory(with_note=False)
    assert crash.main([str(write(tmp_path, pages, "elf"))]) == 3


def test_vmcsinfo_file_is_not_followed_through_a_symlink(tmp_path: Path) -> None:
    pages, _where = memory(with_note=False)
    path = write(tmp_path, pages, "elf")
    secret = tmp_path / "secret"
    secret.write_text("root only\n")
    os.symlink(secret, tmp_path / "vmcsinfo")
    with pytest.raises(crash.CrashError) as e:
        crash.analyze(str(path))
    assert e.value.exit_code == 3 and "root only" not in str(e.value)


def mutate(data: bytes, rnd: random.Random, region: int) -> bytes:
    b = bytearray(data)
    for _n in range(rnd.randint(1, 8)):
        i = rnd.randrange(min(region, len(b)))
        b[i] = rnd.randrange(256)
    if rnd.random() < 0.3:
        b = b[: rnd.randrange(len(b))]
    return bytes(b)


@pytest.mark.parametrize("kind", ["elf", "kdump-zlib", "flat"])
def test_fuzz_mutated_dumps(tmp_path: Path, kind: str) -> None:
    """Thousands of mutated dumps: a report or a CrashError naming the problem,
    never another exception; each within a bounded time."""
    pages, _where = memory()
    base = write(tmp_path, pages, kind).read_bytes()
    # Headers, bitmaps and descriptors are in the first blocks; the rest is
    # page data (a corrupt compressed page is a reported skip).
    region = min(len(base), 8 * PAGE if kind != "elf" else 2 * PAGE)
    rnd = random.Random(kind)
    target = tmp_path / "fuzz"
    outcomes = {"report": 0, "error": 0}
    t_end = time.monotonic() + 60
    for i in range(1000):
        target.write_bytes(mutate(base, rnd, region if i % 4 else len(base)))
        t0 = time.monotonic()
        try:
            crash.analyze(str(target))
            outcomes["report"] += 1
        except crash.CrashError as e:
            assert str(e)
            outcomes["error"] += 1
        assert time.monotonic() - t0 < 5, f"mutation {i} took too long"
        if time.monotonic() > t_end:
            break
    assert outcomes["report"] + outcomes["error"] >= 300, outcomes
    assert outcomes["report"] and outcomes["error"], outcomes


def test_truncated_and_corrupt_headers(tmp_path: Path) -> None:
    pages, _where = memory()
    image = dumpgen.kdump_bytes(pages)
    p = tmp_path / "t"
    for cut in (0, 10, 500, PAGE, 2 * PAGE + 7, len(image) // 2):
        p.write_bytes(image[:cut])
        with pytest.raises(crash.CrashError):
            crash.analyze(str(p))
    bad = bytearray(image)
    struct.pack_into("<i", bad, 428, 512)  # block size
    p.write_bytes(bytes(bad))
    with pytest.raises(crash.CrashError, match="block size"):
        crash.analyze(str(p))
    with pytest.raises(DumpError, match="not a crash dump"):
        p.write_bytes(b"\0" * 100)
        Dump(str(p))


def test_installed_command(tmp_path: Path) -> None:
    """make venv installs .venv/bin/vmcsinfo-crash (CONTRACT 4), running this code."""
    import subprocess

    tool = Path(__file__).resolve().parents[8] / ".venv" / "bin" / "vmcsinfo-crash"
    assert tool.is_file(), f"{tool} is missing: make venv installs it"
    pages, where = memory()
    path = write(tmp_path, pages, "flat")
    r = subprocess.run(
        [str(tool), "--json", str(path)], capture_output=True, text=True, check=False
    )
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["vmcs"][0]["paddr"] == where["l1"]
    r = subprocess.run(
        [str(tool), str(tmp_path / "nothing")], capture_output=True, text=True, check=False
    )
    assert r.returncode == 2 and "no such file" in r.stderr


def test_page_of_another_codec_through_drgn(tmp_path: Path) -> None:
    """An lzo page goes to drgn's libkdumpfile; one it cannot decompress is a
    reported skip (unreadable_pages), and the rest of the dump is still read."""
    pages, where = memory()
    pages[0x135] = bytes(PAGE)
    image = dumpgen.kdump_bytes(pages, stored={0x135: (0x2, b"\x01not lzo data" * 8)})
    path = tmp_path / "dump.lzo"
    path.write_bytes(image)
    with Dump(str(path)) as d:
        got = {pfn for pfn, _head, _ref in d.pages()}
        assert d.unreadable == 1 and "lzo" in d.codecs
    assert got == set(pages) - {0x135}
    prog = drgn.Program()
    prog.set_core_dump(str(path))
    with pytest.raises(Exception):  # noqa: B017 - the library refuses it too
        prog.read(0x135 * PAGE, PAGE, True)
    report = crash.analyze(str(path))
    assert report["dump"]["unreadable_pages"] == 1
    assert [v["paddr"] for v in report["vmcs"]] == [where["l1"], where["l2"]]


@pytest.mark.parametrize("codec", ["snappy", "zstd"])
def test_snappy_and_zstd_pages_through_drgn(tmp_path: Path, codec: str) -> None:
    """Debian 12's makedumpfile is built without snappy and zstd (-p and -z
    are ignored), so these pages are compressed here with the real codecs
    (cramjam: raw snappy as makedumpfile's snappy_compress writes it, a zstd
    frame as ZSTD_compressCCtx does) and read through drgn's libkdumpfile:
    the bytes, and the VMCS found in a compressed page, match the plain dump."""
    import cramjam

    flag, pack = {
        "snappy": (0x4, lambda b: bytes(cramjam.snappy.compress_raw(b))),
        "zstd": (0x20, lambda b: bytes(cramjam.zstd.compress(b))),
    }[codec]
    pages, where = memory()
    # As makedumpfile does: a page that does not shrink is stored as it is.
    packed = {pfn: pack(data) for pfn, data in pages.items() if any(data)}
    stored = {pfn: (flag, c) for pfn, c in packed.items() if len(c) < PAGE}
    assert where["l1"] // PAGE in stored and 0x200 in stored  # the VMCS and the note
    path = tmp_path / f"dump.{codec}"
    path.write_bytes(dumpgen.kdump_bytes(pages, stored=stored))
    with Dump(str(path)) as d:
        assert {pfn: d.full(ref) for pfn, _head, ref in d.pages()} == pages
        assert codec in d.codecs and d.unreadable == 0
    prog = drgn.Program()
    prog.set_core_dump(str(path))
    assert prog.read(where["l1"], PAGE, True) == pages[where["l1"] // PAGE]
    report = crash.analyze(str(path))
    assert report["vmcsinfo"]["source"] == "note"
    assert [v["paddr"] for v in report["vmcs"]] == [where["l1"], where["l2"]]
    assert report["vmcs"][0]["fields"]["GUEST_RIP"] == GUEST["GUEST_RIP"]


@pytest.mark.parametrize(
    ("files", "expected"),
    [
        (["dmesg.202612011000", "dump.202612011000"], "dump.202612011000"),
        (["vmcore", "vmcore-dmesg.txt"], "vmcore"),
        (["vmcore-dmesg.txt", "vmcore.flat"], "vmcore.flat"),
    ],
)
def test_locate_takes_the_dump_not_the_kernel_log(
    tmp_path: Path, files: list[str], expected: str
) -> None:
    for name in files:
        (tmp_path / name).write_bytes(b"x")
    dump, side = crash.locate(str(tmp_path))
    assert dump == str(tmp_path / expected)
    assert side is None


def test_locate_says_when_rhel_kdump_did_not_finish(tmp_path: Path) -> None:
    """RHEL kdump leaves vmcore-dmesg.txt and vmcore-incomplete when saving
    failed: the text file was taken for the dump."""
    for name in ("vmcore-dmesg.txt", "vmcore-incomplete"):
        (tmp_path / name).write_bytes(b"x")
    with pytest.raises(crash.CrashError, match="kdump did not finish saving this dump"):
        crash.locate(str(tmp_path))
    (tmp_path / "vmcore-incomplete").unlink()
    with pytest.raises(crash.CrashError, match=r"no dump\.\* or vmcore file"):
        crash.locate(str(tmp_path))


def test_list_dumps_names_an_incomplete_dump(tmp_path: Path) -> None:
    d = tmp_path / "127.0.0.1-2026-12-01-10:00:00"
    d.mkdir()
    for name in ("vmcore-dmesg.txt", "vmcore-incomplete"):
        (d / name).write_bytes(b"x")
    (tmp_path / "kdump-scratch").mkdir()
    (items,) = crash.list_dumps(str(tmp_path))
    assert items["dump_file"] == str(d / "vmcore-incomplete")
    assert "kdump did not finish saving this dump" in items["error"]


# -- --db DIR: a dump with neither note nor file, served from the fleet database --


def db_dump(
    tmp_path: Path, with_note: bool = False, log: list[bytes] | None = None, ring: bool = True
) -> Path:
    """A dump directory: memory() (its VMCS pages; the note when asked) plus the
    kernel's printk ring holding the Bochs boot messages, no file beside it."""
    pages, _where = memory(with_note=with_note)
    extra: dict[str, str] = {}
    if ring:
        recs = [dumpgen.PrintkRecord(t, ts_nsec=i * 10**7) for i, t in enumerate(log or BOOT)]
        pages, extra = dumpgen.ring_memory(dumpgen.printk_ring(recs, 6, 12), pages=pages)
    d = tmp_path / "crash" / "202612011151"
    d.mkdir(parents=True)
    dumpgen.write_info(d, pages, "kdump-zlib", dumpgen.vmcoreinfo(extra))
    return d


BOOT = dumpgen.BOCHS_BOOT_LOG


def seeded_db(tmp_path: Path, *texts: str) -> Path:
    import contextlib
    import io

    from ansible_collections.fujitsu.vmcsinfo.plugins.module_utils import fleetdb

    db = tmp_path / "db"
    files = []
    for i, t in enumerate(texts or (BOCHS_TEXT,)):
        f = tmp_path / f"seed-{i}.vmcsinfo"
        f.write_text(t)
        files.append(str(f))
    with contextlib.redirect_stdout(io.StringIO()):
        assert fleetdb.main(["--db", str(db), "add", "--kind", "seed", *files]) == 0
    return db


def test_db_serves_a_dump_without_note_or_file(tmp_path: Path, capsys) -> None:
    d, db = db_dump(tmp_path), seeded_db(tmp_path)
    assert crash.main(["--json", "--db", str(db), str(d)]) == 0
    report = json.loads(capsys.readouterr().out)
    vi = report["vmcsinfo"]
    assert vi["source"] == "database" and vi["digest"] == BOCHS.digest()
    assert vi["revision_id"] == 0x2B and "note_paddr" not in vi
    dbi = vi["database"]
    assert dbi["used"] and dbi["key"] == "GenuineIntel/306c3/0/2b/1000"
    assert dbi["digest"] == BOCHS.digest() and dbi["basis"] == "exact"
    assert dbi["identity"]["signature"] == 0x306C3 and dbi["identity"]["vendor"] == "GenuineIntel"
    assert dbi["revision_ids_in_dump"] == {"2b": 3} and dbi["revision_id"] == 0x2B
    assert len(dbi["evidence"]) == 2 and "smpboot: CPU0: Intel(R) Core(TM)" in dbi["evidence"][0]
    assert isinstance(report["rejected"], int)
    # the same guest as decoded with the note
    pages, _where = memory()
    with_note = crash.analyze(str(write(tmp_path, pages, "elf")))
    assert [v["fields"] for v in report["vmcs"]] == [v["fields"] for v in with_note["vmcs"]]
    assert crash.main(["--db", str(db), str(d)]) == 0
    text = capsys.readouterr().out
    assert "VMCSINFO  from database (database " in text
    assert "database  key GenuineIntel/306c3/0/2b/1000, digest " in text
    assert "cpu       vendor GenuineIntel, signature 306c3, microcode 0" in text
    assert "evidence  [    0.050000] smpboot: CPU0: Intel(R) Core(TM) i7-4770" in text


def test_db_asks_for_the_revision_ids_of_the_dump(tmp_path: Path) -> None:
    """Two layouts for the CPU (revision ids 2b and 2c): the dump's VMCS pages
    say which; without them the lookup would be ambiguous."""
    other = BOCHS_TEXT.replace("REVISION_ID=2b", "REVISION_ID=2c").replace(
        "VMX_BASIC=d810000000002b", "VMX_BASIC=d810000000002c"
    )
    d, db = db_dump(tmp_path), seeded_db(tmp_path, other, BOCHS_TEXT)
    report = crash.analyze(str(d), db=str(db))
    assert report["vmcsinfo"]["database"]["key"] == "GenuineIntel/306c3/0/2b/1000"
    assert len(report["vmcs"]) == 2


def test_db_other_microcode_with_evidence(tmp_path: Path) -> None:
    texts = [BOCHS_TEXT.replace("MICROCODE=0\n", f"MICROCODE={m}\n") for m in ("1", "2")]
    d, db = db_dump(tmp_path), seeded_db(tmp_path, *texts)
    report = crash.analyze(str(d), db=str(db))
    dbi = report["vmcsinfo"]["database"]
    assert dbi["basis"] == "other-microcode" and dbi["key"] == "GenuineIntel/306c3/1/2b/1000"
    with pytest.raises(crash.CrashError) as e:
        crash.analyze(str(d), db=str(db), strict=True)
    assert e.value.exit_code == 3 and "--strict" in str(e.value)


def test_db_nothing_served_says_what_was_tried(tmp_path: Path, capsys) -> None:
    d = db_dump(tmp_path)
    empty = tmp_path / "empty"
    empty.mkdir()
    assert crash.main(["--db", str(empty), str(d)]) == 3
    err = capsys.readouterr().err
    assert "neither --vmcsinfo, a note in the dump nor a file beside it" in err
    assert "identifies the CPU as vendor GenuineIntel, signature 306c3, microcode 0" in err
    assert "smpboot: CPU0" in err and "the database has nothing for vendor GenuineIntel" in err
    # another CPU's layout only
    db = seeded_db(tmp_path, BOCHS_TEXT.replace("CPU_SIGNATURE=306c3", "CPU_SIGNATURE=306c4"))
    assert crash.main(["--db", str(db), str(d)]) == 3
    assert "answered: vendor GenuineIntel signature 306c3 microcode 0: unknown" in (
        capsys.readouterr().err
    )


def test_db_identity_not_in_the_log(tmp_path: Path, capsys) -> None:
    db = seeded_db(tmp_path)
    d = db_dump(tmp_path / "a", log=[line for line in BOOT if b"microcode: Current" not in line])
    assert crash.main(["--db", str(db), str(d)]) == 3
    err = capsys.readouterr().err
    assert "does not say the CPU's microcode" in err and "was not asked" in err
    d = db_dump(tmp_path / "b", ring=False)
    assert crash.main(["--db", str(db), str(d)]) == 3
    assert "kernel log of the dump cannot be read (VMCOREINFO lacks" in capsys.readouterr().err


def test_db_not_needed_when_the_note_is_there(tmp_path: Path, capsys) -> None:
    d, db = db_dump(tmp_path, with_note=True), seeded_db(tmp_path)
    assert crash.main(["--json", "--db", str(db), str(d)]) == 0
    vi = json.loads(capsys.readouterr().out)["vmcsinfo"]
    assert vi["source"] == "note"
    assert vi["database"] == {
        "dir": str(db),
        "used": False,
        "reason": f"not needed: the VMCSINFO came from the note (ELF note at {0x200 * PAGE:#x})",
    }
    (d / "vmcsinfo").write_text(BOCHS_TEXT)  # and the file wins over the database too
    d2 = db_dump(tmp_path / "f")
    (d2 / "vmcsinfo").write_text(BOCHS_TEXT)
    assert crash.main(["--db", str(db), str(d2)]) == 0
    assert "database  " + str(db) + ": not needed: the VMCSINFO came from the file" in (
        capsys.readouterr().out
    )


def test_db_not_a_directory_is_bad_usage(tmp_path: Path, capsys) -> None:
    d = db_dump(tmp_path)
    assert crash.main(["--db", str(tmp_path / "nodb"), str(d)]) == 2
    assert "--db" in capsys.readouterr().err


def test_db_with_a_mangled_kernel_log_never_crashes(tmp_path: Path) -> None:
    """Junk in the ring's pages: served, or exit 3 saying why; nothing else."""
    db = seeded_db(tmp_path)
    recs = [dumpgen.PrintkRecord(t, ts_nsec=i * 10**7) for i, t in enumerate(BOOT)]
    ring = dumpgen.printk_ring(recs, 6, 12)
    base, _where = memory(with_note=False)
    for seed in range(25):
        rnd = random.Random(seed)
        pages, extra = dumpgen.ring_memory(ring, rnd.choice(["static", "dynamic"]), dict(base))
        ring_pfns = sorted(set(pages) - set(base))
        for _n in range(rnd.randint(1, 40)):
            pfn = rnd.choice(ring_pfns)
            page = bytearray(pages[pfn])
            o = rnd.randrange(PAGE - 8)
            page[o : o + 8] = rnd.randbytes(8)
            pages[pfn] = bytes(page)
        d = tmp_path / f"m{seed}"
        d.mkdir()
        dumpgen.write_info(d, pages, "elf", dumpgen.vmcoreinfo(extra))
        try:
            report = crash.analyze(str(d), db=str(db))
        except crash.CrashError as e:
            assert e.exit_code == 3 and str(e)
        else:
            assert report["vmcsinfo"]["source"] == "database"


def test_db_corrupt_index_is_exit_3_naming_it(tmp_path: Path, capsys) -> None:
    d, db = db_dump(tmp_path), seeded_db(tmp_path)
    (db / "index.json").write_text("{not json")
    assert crash.main(["--db", str(db), str(d)]) == 3
    err = capsys.readouterr().err
    assert "the database cannot be read" in err and "index.json" in err
