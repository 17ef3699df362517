"""Tests of THE VMCSINFO parser (plugins/module_utils/vmcsinfo.py)."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ansible_collections.fujitsu.vmcsinfo.plugins.module_utils.vmcsinfo import (
    Field,
    Vmcsinfo,
    VmcsinfoError,
    encoding_width,
    field_name,
    parse,
)

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures"
BOCHS = (FIXTURES / "bochs-2.7-corei7_haswell_4770.vmcsinfo").read_text()

HEAD = (
    "VMCSINFO_FORMAT=1\nREVISION_ID=2b\nREGION_SIZE=1000\nVMX_BASIC=10000000002b\n"
    "VMX_MISC=20000000\nCPU_VENDOR=GenuineIntel\nCPU_SIGNATURE=306c3\nMICROCODE=28\n"
)


def test_real_bochs_probe_result() -> None:
    info = parse(BOCHS)
    assert info.revision_id == 0x2B and info.region_size == 4096
    assert len(info.fields) == 0x93
    rip = info.field("GUEST_RIP")
    assert rip is not None and rip.offset is not None and rip.width == 64
    ar = info.field("GUEST_ES_AR_BYTES")
    assert ar is not None and ar.bits is not None and len(ar.bits) == 32
    # Bochs rotates access rights by 8 bits
    assert ar.bits[0] == ar.bits[24] + 8
    assert info.to_text() == BOCHS


def test_decode_plain_and_bits() -> None:
    info = parse(
        HEAD
        + "FIELD_COUNT=2\nFIELD(GUEST_RIP)=10\nBITS(GUEST_ES_AR_BYTES)="
        + ",".join(f"{0x100 + (i + 8) % 32:x}" for i in range(32))
        + "\n"
    )
    region = bytearray(64)
    region[0x10:0x18] = (0x1122334455667788).to_bytes(8, "little")
    region[0x20:0x24] = (0xAABBCCDD).to_bytes(4, "little")
    assert info.field("GUEST_RIP").decode(bytes(region)) == 0x1122334455667788
    # field bit i lives at region bit 0x100 + (i + 8) % 32: a right rotate by 8
    assert info.field("GUEST_ES_AR_BYTES").decode(bytes(region)) == 0xDDAABBCC


def test_digest_ignores_cpu_identity_but_not_layout() -> None:
    a = parse(BOCHS)
    b = parse(BOCHS.replace("MICROCODE=0", "MICROCODE=99"))
    assert a.digest() == b.digest()
    moved = BOCHS.replace("REVISION_ID=2b", "REVISION_ID=2c")
    assert parse(moved).digest() != a.digest()


def test_unknown_keys_are_ignored() -> None:
    info = parse(
        HEAD.replace("MICROCODE=28\n", "MICROCODE=28\nPROBE_US=1234\n")
        + "FIELD_COUNT=1\nFIELD(ENC_6840)=20\n"
    )
    assert info.extra == {"PROBE_US": "1234"}
    assert info.fields[0].encoding == 0x6840 and field_name(0x6840) == "ENC_6840"


@pytest.mark.parametrize(
    ("text", "line", "needle"),
    [
        ("", None, "empty"),
        ("VMCSINFO_FORMAT=2\n", 1, "unsupported VMCSINFO_FORMAT"),
        ("REVISION_ID=2b\n", 1, "first line"),
        (HEAD + "FIELD_COUNT=1\nFIELD(GUEST_RIP)=0x10\n", 10, "lowercase hex"),
        (HEAD + "FIELD_COUNT=1\nFIELD(GUEST_RIP)=ffe\n", 10, "does not fit"),
        (HEAD + "FIELD_COUNT=1\nFIELD(NOT_A_FIELD)=10\n", 10, "unknown field name"),
        (HEAD + "FIELD_COUNT=1\nBITS(GUEST_ES_SELECTOR)=20,21\n", 10, "2 entries"),
        (HEAD + "FIELD_COUNT=2\nFIELD(GUEST_RIP)=10\nFIELD(GUEST_RIP)=20\n", 11, "twice"),
        (HEAD + "FIELD_COUNT=2\nFIELD(GUEST_RIP)=10\nFIELD(GUEST_RSP)=14\n", 11, "both claim"),
        (HEAD + "FIELD_COUNT=2\nFIELD(GUEST_RIP)=10\n", 9, "FIELD_COUNT says"),
        (HEAD + "FIELD_COUNT=0\ngarbage\n", 10, "KEY=VALUE"),
        (HEAD + "REVISION_ID=2c\nFIELD_COUNT=0\n", 9, "given twice"),
        (HEAD.replace("REGION_SIZE=1000\n", ""), None, "missing key(s): REGION_SIZE"),
    ],
)
def test_errors_name_the_line(text: str, line: int | None, needle: str) -> None:
    with pytest.raises(VmcsinfoError) as exc:
        parse(text)
    assert exc.value.line == line
    assert needle in str(exc.value)
    if line:
        assert str(exc.value).startswith(f"line {line}: ")


@st.composite
def layouts(draw: st.DrawFn) -> Vmcsinfo:
    size = draw(st.sampled_from([64, 1024, 4096]))
    free = set(range(32, size * 8))
    fields = []
    for enc in draw(
        st.lists(st.integers(0, 0x3FFF).map(lambda e: e * 2), max_size=12, unique=True)
    ):
        w = encoding_width(enc)
        if draw(st.booleans()):
            off = draw(st.integers(4, size - w // 8))
            span = set(range(off * 8, off * 8 + w))
            if not span <= free:
                continue
            free -= span
            fields.append(Field(field_name(enc), enc, w, offset=off))
        else:
            if len(free) < w:
                continue
            picks = draw(
                st.lists(st.sampled_from(sorted(free)), min_size=w, max_size=w, unique=True)
            )
            bits = tuple(None if draw(st.integers(0, 4)) == 0 else p for p in picks)
            free -= {b for b in bits if b is not None}
            fields.append(Field(field_name(enc), enc, w, bits=bits))
    return Vmcsinfo(
        revision_id=draw(st.integers(0, 0x7FFFFFFF)),
        region_size=size,
        vmx_basic=draw(st.integers(0, 2**64 - 1)),
        vmx_misc=draw(st.integers(0, 2**64 - 1)),
        cpu_vendor="GenuineIntel",
        cpu_signature=draw(st.integers(0, 2**32 - 1)),
        microcode=draw(st.integers(0, 2**32 - 1)),
        fields=tuple(sorted(fields, key=lambda f: f.encoding)),
    )


@settings(max_examples=200, deadline=None)
@given(layouts())
def test_roundtrip_generated_layouts(info: Vmcsinfo) -> None:
    text = info.to_text()
    again = parse(text)
    assert again == info
    assert again.to_text() == text
    assert again.digest() == info.digest()


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=300), st.integers(0, len(BOCHS)), st.integers(0, 40))
def test_junk_gives_clear_errors_only(junk: str, at: int, cut: int) -> None:
    for text in (junk, BOCHS[:at] + junk + BOCHS[at + cut :], HEAD + junk):
        try:
            parse(text)
        except VmcsinfoError as e:
            assert str(e)
