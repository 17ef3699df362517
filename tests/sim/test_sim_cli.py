"""vmcsinfo-sim as CONTRACT 3 defines it: a LAYOUT.json in, the module's VMCSINFO text out.

The expected text comes from the layout alone, written by the collection's
Python VMCSINFO writer (module_utils), and is compared with the simulator's
whole output: the C and Python writers of CONTRACT 2 must agree.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from ansible_collections.fujitsu.vmcsinfo.plugins.module_utils.vmcsinfo import (
    Field,
    Vmcsinfo,
    encoding_width,
    field_name,
)

ROOT = Path(__file__).resolve().parents[2]
MODSRC = ROOT / "collections/ansible_collections/fujitsu/vmcsinfo/module-src"
SIM = MODSRC / "sim/vmcsinfo-sim"


@pytest.fixture(scope="session", autouse=True)
def built_sim() -> None:
    subprocess.run(["make", "-s", "-C", str(MODSRC), "sim"], check=True)


def run(layout: dict | str, tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    path = tmp_path / "layout.json"
    path.write_text(layout if isinstance(layout, str) else json.dumps(layout))
    return subprocess.run([str(SIM), *args, str(path)], capture_output=True, text=True, timeout=60)


def width(enc: int) -> int:
    return encoding_width(enc)


def expected_text(layout: dict) -> str:
    """The VMCSINFO the module must print for a layout, via the Python writer."""
    rev, size = layout["revision_id"], layout["region_size"]
    fields = []
    for f in layout["fields"]:
        enc, w = f["encoding"], width(f["encoding"])
        bits = f.get("bits") or [f["offset"] * 8 + i for i in range(w)]
        if layout.get("absent_reads_zero") and all(b is None for b in bits):
            continue  # never follows memory: absent
        start = bits[0]
        plain = start is not None and start % 8 == 0 and bits == list(range(start, start + w))
        if plain:
            fields.append(Field(field_name(enc), enc, w, offset=start // 8))
        else:
            fields.append(Field(field_name(enc), enc, w, bits=tuple(bits)))
    return Vmcsinfo(
        revision_id=rev,
        region_size=size,
        vmx_basic=rev | size << 32,
        vmx_misc=layout.get("vmx_misc", 0),
        cpu_vendor=layout.get("vendor", "GenuineIntel"),
        cpu_signature=layout.get("cpu_signature", 0),
        microcode=layout.get("microcode", 0),
        fields=tuple(fields),
    ).to_text()


CONTRACT_EXAMPLE = {
    "revision_id": 43,
    "region_size": 4096,
    "vmx_misc": 536870912,
    "vendor": "GenuineIntel",
    "cpu_signature": 198339,
    "microcode": 40,
    "absent_reads_zero": False,
    "clear_scribble": [[8, 16]],
    "fields": [
        {"encoding": 26654, "offset": 3720},
        {"encoding": 18452, "bits": [2664, 2665, None, *list(range(2667, 2696))]},
    ],
}


def test_contract_example(tmp_path: Path) -> None:
    res = run(CONTRACT_EXAMPLE, tmp_path)
    assert res.returncode == 0, res.stderr
    assert res.stdout == expected_text(CONTRACT_EXAMPLE)
    assert "FIELD(GUEST_RIP)=e88\n" in res.stdout
    assert "BITS(GUEST_ES_AR_BYTES)=a68,a69,-,a6b," in res.stdout


def test_contract_example_as_written(tmp_path: Path) -> None:
    """CONTRACT 3's example literally: 3 entries for the 32-bit GUEST_ES_AR_BYTES.
    The bits after the last entry are stored nowhere, as a null one is."""
    layout = {
        **CONTRACT_EXAMPLE,
        "fields": [
            {"encoding": 26654, "offset": 3720},
            {"encoding": 18452, "bits": [2664, 2665, None]},
        ],
    }
    res = run(layout, tmp_path)
    assert res.returncode == 0, res.stderr
    assert "BITS(GUEST_ES_AR_BYTES)=a68,a69," + ",".join(["-"] * 30) + "\n" in res.stdout
    full = {
        **layout,
        "fields": [layout["fields"][0], {"encoding": 18452, "bits": [2664, 2665] + [None] * 30}],
    }
    assert res.stdout == run(full, tmp_path).stdout


def test_probe_failure_exits_nonzero_with_reason(tmp_path: Path) -> None:
    bad = dict(CONTRACT_EXAMPLE, clear_scribble=[[3724, 3728]])  # over GUEST_RIP
    res = run(bad, tmp_path)
    assert res.returncode == 1
    assert res.stdout == ""
    assert "probe failed" in res.stderr and "GUEST_RIP" in res.stderr


@pytest.mark.parametrize("op", ["vmxon", "vmptrld", "vmptrld:30", "vmclear:3"])
def test_backend_failures(tmp_path: Path, op: str) -> None:
    res = run(CONTRACT_EXAMPLE, tmp_path, "--fail", op)
    assert res.returncode == 1
    assert op.split(":")[0].upper() in res.stderr


@pytest.mark.parametrize(
    ("layout", "needle"),
    [
        ("{not json", "line 1"),
        ('{"region_size": 4096, "fields": []}', "revision_id"),
        (
            '{"revision_id": 1, "region_size": 4096, "fields": [{"encoding": 26655, "offset": 8}]}',
            "HIGH",
        ),
        (
            '{"revision_id": 1, "region_size": 4096, "fields": [{"encoding": 2048, "bits": '
            + json.dumps(list(range(40, 57)))
            + "}]}",
            "at most 16 entries",
        ),
    ],
)
def test_bad_layout_is_named(tmp_path: Path, layout: str, needle: str) -> None:
    res = run(layout, tmp_path)
    assert res.returncode == 2
    assert needle in res.stderr and "layout.json" in res.stderr


def test_missing_file_and_usage(tmp_path: Path) -> None:
    res = subprocess.run([str(SIM), str(tmp_path / "nope.json")], capture_output=True, text=True)
    assert res.returncode == 2 and "cannot read" in res.stderr
    res = subprocess.run([str(SIM)], capture_output=True, text=True)
    assert res.returncode == 2 and "usage" in res.stderr


@st.composite
def layouts(draw: st.DrawFn) -> dict:
    size = draw(st.sampled_from([1024, 2048, 4096]))
    free = list(range(16 * 8, size * 8))
    used: set[int] = set()
    fields = []
    encs = draw(st.lists(st.integers(0, 0x3FFF).map(lambda e: e * 2), max_size=25, unique=True))
    for enc in encs:
        w = width(enc)
        kind = draw(st.sampled_from(["offset", "rotated", "scattered"]))
        if kind in ("offset", "rotated"):
            off = draw(st.integers(16 // (w // 8), size // (w // 8) - 1)) * (w // 8)
            span = set(range(off * 8, off * 8 + w))
            if span & used:
                continue
            used |= span
            if kind == "offset":
                fields.append({"encoding": enc, "offset": off})
            else:
                fields.append({"encoding": enc, "bits": [off * 8 + (i + 8) % w for i in range(w)]})
        else:
            picks = draw(st.lists(st.sampled_from(free), min_size=w, max_size=w, unique=True))
            bits = [None if p in used or draw(st.integers(0, 5)) == 0 else p for p in picks]
            used |= {b for b in bits if b is not None}
            fields.append({"encoding": enc, "bits": bits})
    return {
        "revision_id": draw(st.integers(1, 0x7FFFFFFF)),
        "region_size": size,
        "vmx_misc": draw(st.sampled_from([0, 1 << 29])),
        "cpu_signature": draw(st.integers(0, 0xFFFFFFFF)),
        "microcode": draw(st.integers(0, 0xFFFFFFFF)),
        "absent_reads_zero": draw(st.booleans()),
        "clear_scribble": draw(st.sampled_from([[], [[8, 16]], [[0, 4], [4, 16]]])),
        "fields": fields,
    }


@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(layout=layouts())
def test_random_layouts_roundtrip(tmp_path: Path, layout: dict) -> None:
    # A CPU with no stored field at all is a probe failure (C suite covers it).
    assume(
        any(
            f.get("offset") is not None or any(b is not None for b in f["bits"])
            for f in layout["fields"]
        )
    )
    res = run(layout, tmp_path)
    assert res.returncode == 0, res.stderr
    assert res.stdout == expected_text(layout)
