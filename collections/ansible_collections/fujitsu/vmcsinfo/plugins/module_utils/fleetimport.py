# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Partial published VMCS layouts of real CPUs, converted to CONTRACT 2 texts (issue 12).

Three published formats, one converter each, from a file's text to a VMCSINFO text the
parser (vmcsinfo.parse) accepts. The texts are for the offline dump reader only: the
fleet database stores them as partial (`vmcsinfo-db import`), lists them and never
serves them to a host. Each text carries an extra key `PARTIAL=1` (CONTRACT 2: readers
ignore unknown keys), so that it says what it is outside the database too.

- ``volatility``: Volatility 3's volatility3/symbols/generic/vmcs/<microarch>-architecture
  .json, an ISF symbol table: user type ``_VMCS`` with byte offsets and types of a few
  fields, the revision id as the ``revision_id`` symbol's constant_data (base64 of the
  decimal digits, as Volatility's vmscan plugin reads it).
- ``actaeon``: eurecom-s3/actaeon's plugin/hypervisors/vmcs_layouts/<microarch>.py, a
  Python 2 module ``vmcs = {"NAME": INDEX, ...}``. INDEX is a dword index (actaeon reads a
  field at INDEX * 4; its rekall2actaeon.py wrote Rekall's byte offset / 4). The file has
  no revision id: actaeon's db.py names those of penryn, sandy and westmere.
- ``vmcsreverse``: yumaueda/vmcsreverse's result/<family>/<brand>/<model>.txt, the output
  of its kernel module: ``vmcs_revision_id: DECIMAL`` then ``0xENCODING: DECIMAL`` (the
  byte offset where the VMWRITE-n constant of the field's full width was found after
  VMCLEAR) or ``fault`` / ``failed`` (VMWRITE refused: unsupported or read-only).

What the sources do not give is never invented silently; each assumption is said in the
Conversion's `source` (recorded as the provenance source) and `assumptions`:

- the CPU signature (CPUID.1:EAX) comes from the file's name: a microarchitecture name
  (Volatility, actaeon) or a CPU model (vmcsreverse) mapped to one real CPU of it, in
  the tables below; the model and stepping are an assumption for a microarchitecture,
  the stepping for a CPU model. An unknown name is refused.
- MICROCODE=0 (unknown); REGION_SIZE=1000 (4 KiB, what every Intel CPU with these
  revision ids reports); VMX_BASIC synthesized from them (revision id | size << 32, the
  other bits unknown: 0); VMX_MISC=0 (unknown).
- actaeon: haswell.py and nehalem.py have no revision id anywhere in actaeon; the one of
  Volatility 3's file of the same microarchitecture is taken (assumption, said so).
  A 16-bit field alone in its dword is taken at the dword's low half (as actaeon reads
  it); fields sharing a dword index are not taken (it does not say which half each has,
  or which of them is right). A 64-bit field without its _HIGH entry is taken as 8 contiguous bytes
  (as actaeon reads it); with a _HIGH entry elsewhere, as BITS (low and high dword).

Entries a converter cannot place faithfully are left out and listed in `skipped` with
why (an unknown name, a type that is not the field's width, a position outside the
region or in its header, two fields claiming one byte, an ambiguous number): the text
holds only what the source says. A file that is not of its format at all (not JSON, no
``vmcs = {`` dict, no revision id, a malformed line, a name given twice, no field left)
raises FleetDbError naming the file and what is wrong; nothing is written then.
"""

from __future__ import annotations

import base64
import binascii
import json
import os
import re
from dataclasses import dataclass

from ansible_collections.fujitsu.vmcsinfo.plugins.module_utils.fleetdb import FleetDbError
from ansible_collections.fujitsu.vmcsinfo.plugins.module_utils.vmcs_fields import (
    VMCS_FIELD_ENCODINGS,
)
from ansible_collections.fujitsu.vmcsinfo.plugins.module_utils.vmcsinfo import (
    Field as VmcsField,
)
from ansible_collections.fujitsu.vmcsinfo.plugins.module_utils.vmcsinfo import (
    Vmcsinfo,
    VmcsinfoError,
    encoding_width,
    field_name,
    parse,
)

FORMATS = ("volatility", "actaeon", "vmcsreverse")
VENDOR = "GenuineIntel"  # VMX: every one of these layouts is of an Intel CPU
REGION_SIZE = 0x1000
HEADER_BYTES = 4  # the parser keeps fields out of the revision id dword
MAX_REVISION = 0x7FFFFFFF  # IA32_VMX_BASIC bits 30:0
PARTIAL_KEY = "PARTIAL"


@dataclass(frozen=True)
class Cpu:
    """One real CPU a name stands for: its signature and what it is."""

    signature: int
    what: str


# Microarchitecture names (Volatility's and actaeon's file names) -> one real CPU of it.
# Which model and stepping is an assumption (the sources name the microarchitecture
# only); the models chosen are the common desktop parts (and the ones Bochs 2.7 models,
# where it has one).
MICROARCHS = {
    "penryn": Cpu(0x10676, "Penryn: Core 2 Duo E8x00/T9x00 (family 6 model 17h stepping 6)"),
    "nehalem": Cpu(0x106A5, "Nehalem: Bloomfield Core i7-9xx (family 6 model 1ah stepping 5)"),
    "westmere": Cpu(
        0x20655, "Westmere: Clarkdale/Arrandale Core i5-6xx (family 6 model 25h stepping 5)"
    ),
    "sandybridge": Cpu(0x206A7, "Sandy Bridge: Core i7-2600K (family 6 model 2ah stepping 7)"),
    "haswell": Cpu(0x306C3, "Haswell: Core i7-4770 (family 6 model 3ch stepping 3)"),
    "skylake": Cpu(0x506E3, "Skylake: Core i7-6700K (family 6 model 5eh stepping 3)"),
}
MICROARCH_ALIASES = {"sandy": "sandybridge"}  # actaeon's sandy.py

# CPU models (vmcsreverse's result/<family>/<brand>/<model>.txt: "<brand>-<model>") ->
# the CPU; the stepping is an assumption where the model shipped in several.
CPU_MODELS = {
    "i3-3220": Cpu(0x306A9, "Ivy Bridge: Core i3-3220 (family 6 model 3ah stepping 9)"),
    "i7-860": Cpu(0x106E5, "Lynnfield: Core i7-860 (family 6 model 1eh stepping 5)"),
    "i7-4770": Cpu(0x306C3, "Haswell: Core i7-4770 (family 6 model 3ch stepping 3)"),
    "i7-9700k": Cpu(0x906ED, "Coffee Lake: Core i7-9700K (family 6 model 9eh stepping 0dh)"),
}

# actaeon's plugin/hypervisors/vmcs_layouts/db.py (microarch_db): the revision ids it gives.
ACTAEON_REVISIONS = {"penryn": 0x0D, "sandy": 0x10, "westmere": 0x0F}
# Those it does not give: Volatility 3's files of the same microarchitecture
# (nehalem-architecture.json 14, haswell-architecture.json 18). An assumption.
ACTAEON_ASSUMED_REVISIONS = {"nehalem": 0x0E, "haswell": 0x12}

# Encodings (SDM Vol. 3D Appendix B) of fields Linux's enum vmcs_field has no name for.
EXECUTIVE_VMCS_POINTER = 0x200C
GUEST_SMBASE = 0x4828
IO_RCX, IO_RSI, IO_RDI, IO_RIP = 0x6402, 0x6404, 0x6406, 0x6408

# Volatility 3's _VMCS member names (those not a Linux name in lower case).
VOLATILITY_NAMES: dict[str, int | tuple[int, ...]] = {
    "ept": VMCS_FIELD_ENCODINGS["EPT_POINTER"],
    "executive_vmcs_ptr": EXECUTIVE_VMCS_POINTER,
    "guest_pdpte": tuple(VMCS_FIELD_ENCODINGS[f"GUEST_PDPTR{i}"] for i in range(4)),
    "guest_physical_addr": VMCS_FIELD_ENCODINGS["GUEST_PHYSICAL_ADDRESS"],
    "vmcs_link_ptr": VMCS_FIELD_ENCODINGS["VMCS_LINK_POINTER"],
    "vpid": VMCS_FIELD_ENCODINGS["VIRTUAL_PROCESSOR_ID"],
}


def _linux(name: str) -> int:
    return VMCS_FIELD_ENCODINGS[name]


# actaeon's names (those not Linux's); a trailing _HIGH names the high dword of a
# 64-bit field, a trailing _FULL its full field.
ACTAEON_NAMES: dict[str, int] = {
    "ADDRESS_MSR_BITMAPS": _linux("MSR_BITMAP"),
    "PROC_VM_EXEC_CONTROLS": _linux("CPU_BASED_VM_EXEC_CONTROL"),
    "PROC_VM_EXEC_CONTROLS2": _linux("SECONDARY_VM_EXEC_CONTROL"),
    "PIN_VM_EXEC_CONTROLS": _linux("PIN_BASED_VM_EXEC_CONTROL"),
    "CR0_MASK": _linux("CR0_GUEST_HOST_MASK"),
    "CR4_MASK": _linux("CR4_GUEST_HOST_MASK"),
    "ENTRY_CONTROLS": _linux("VM_ENTRY_CONTROLS"),
    "ENTRY_EXCEPTION_ERROR_CODE": _linux("VM_ENTRY_EXCEPTION_ERROR_CODE"),
    "ENTRY_INSTR_LENGTH": _linux("VM_ENTRY_INSTRUCTION_LEN"),
    "VM_ENTRY_INSTRUCTION_LENGTH": _linux("VM_ENTRY_INSTRUCTION_LEN"),
    "ENTRY_INT_INFO_FIELD": _linux("VM_ENTRY_INTR_INFO_FIELD"),
    "ENTRY_MSR_LOAD_ADDR": _linux("VM_ENTRY_MSR_LOAD_ADDR"),
    "ENTRY_MSR_LOAD_COUNT": _linux("VM_ENTRY_MSR_LOAD_COUNT"),
    "EXECUTIVE_VMCS_POINTER": EXECUTIVE_VMCS_POINTER,
    "EXECUTIVE_VMCS_PTR": EXECUTIVE_VMCS_POINTER,
    "EXIT_CONTROLS": _linux("VM_EXIT_CONTROLS"),
    "EXIT_INSTR_LEN": _linux("VM_EXIT_INSTRUCTION_LEN"),
    "EXIT_INTERRUPT_ERRCODE": _linux("VM_EXIT_INTR_ERROR_CODE"),
    "EXIT_INTERRUPT_INFO": _linux("VM_EXIT_INTR_INFO"),
    "EXIT_MSR_LOAD_ADDR": _linux("VM_EXIT_MSR_LOAD_ADDR"),
    "EXIT_MSR_LOAD_COUNT": _linux("VM_EXIT_MSR_LOAD_COUNT"),
    "EXIT_MSR_STORE_ADDR": _linux("VM_EXIT_MSR_STORE_ADDR"),
    "EXIT_MSR_STORE_COUNT": _linux("VM_EXIT_MSR_STORE_COUNT"),
    "EXIT_REASON": _linux("VM_EXIT_REASON"),
    "GUEST_IA32_PERF_CTL": _linux("GUEST_IA32_PERF_GLOBAL_CTRL"),
    "HOST_IA32_PERF_CTL": _linux("HOST_IA32_PERF_GLOBAL_CTRL"),
    "GUEST_IA32_SYSENTER_CS": _linux("GUEST_SYSENTER_CS"),
    "GUEST_IA32_SYSENTER_ESP": _linux("GUEST_SYSENTER_ESP"),
    "GUEST_IA32_SYSENTER_EIP": _linux("GUEST_SYSENTER_EIP"),
    "GUEST_INTERRUPT_STATUS": _linux("GUEST_INTR_STATUS"),
    "GUEST_LINEAR_ADDR": _linux("GUEST_LINEAR_ADDRESS"),
    "GUEST_LDTR_LDTR": _linux("GUEST_LDTR_SELECTOR"),
    "GUEST_PENDING_DEBUG_EXCEPT": _linux("GUEST_PENDING_DBG_EXCEPTIONS"),
    "GUEST_PHYSICAL_ADDR": _linux("GUEST_PHYSICAL_ADDRESS"),
    "GUEST_SMBASE": GUEST_SMBASE,
    "GUEST_SM_BASE": GUEST_SMBASE,
    "GUEST_VMX_PREEMTION_TIMER": _linux("VMX_PREEMPTION_TIMER_VALUE"),
    "IDT_VECTORING_ERRCODE": _linux("IDT_VECTORING_ERROR_CODE"),
    "INSTR_ERROR": _linux("VM_INSTRUCTION_ERROR"),
    "INSTR_INFO": _linux("VMX_INSTRUCTION_INFO"),
    "VM_EXIT_INSTRUCTION_INFO": _linux("VMX_INSTRUCTION_INFO"),
    "IO_RCX": IO_RCX,
    "IO_RSI": IO_RSI,
    "IO_RDI": IO_RDI,
    "IO_RIP": IO_RIP,
    "PAGEFAULT_ERRCODE_MASK": _linux("PAGE_FAULT_ERROR_CODE_MASK"),
    "PAGEFAULT_ERRCODE_MATCH": _linux("PAGE_FAULT_ERROR_CODE_MATCH"),
    "VE_INFO_ADDRESS": _linux("VE_INFORMATION_ADDRESS"),
    "VMCS_LINK_PTR": _linux("VMCS_LINK_POINTER"),
    "VMREAD_BITMAP_ADDRESS": _linux("VMREAD_BITMAP"),
    "VMWRITE_BITMAP_ADDRESS": _linux("VMWRITE_BITMAP"),
    "VM_FUNCTION_CTRL": _linux("VM_FUNCTION_CONTROL"),
    "VPID": _linux("VIRTUAL_PROCESSOR_ID"),
}
for _i in range(4):
    ACTAEON_NAMES[f"CR3_TARGET_{_i}"] = _linux(f"CR3_TARGET_VALUE{_i}")
    ACTAEON_NAMES[f"EOI_EXIT_BITMAP_{_i}"] = _linux(f"EOI_EXIT_BITMAP{_i}")
    ACTAEON_NAMES[f"PDPTE{_i}"] = _linux(f"GUEST_PDPTR{_i}")
    ACTAEON_NAMES[f"GUEST_PDPTE{_i}"] = _linux(f"GUEST_PDPTR{_i}")
for _seg in ("ES", "CS", "SS", "DS", "FS", "GS", "LDTR", "TR"):
    ACTAEON_NAMES[f"GUEST_{_seg}_SEL"] = _linux(f"GUEST_{_seg}_SELECTOR")
    ACTAEON_NAMES[f"GUEST_{_seg}_ATTR"] = _linux(f"GUEST_{_seg}_AR_BYTES")
for _seg in ("ES", "CS", "SS", "DS", "FS", "GS", "TR"):
    ACTAEON_NAMES[f"HOST_{_seg}_SEL"] = _linux(f"HOST_{_seg}_SELECTOR")
del _i, _seg
# The VMCS header (revision id, abort indicator, shadow bit): not fields.
ACTAEON_HEADER = frozenset({"REVISION_ID", "ABORT_INDICATOR", "IS_SHADOW_VMCS"})


@dataclass(frozen=True)
class Conversion:
    """A converted file: the CONTRACT 2 text (parsed: info), what it is for (the
    provenance source, naming every assumption), and the entries left out with why."""

    format: str
    path: str
    name: str
    cpu: Cpu
    text: str
    info: Vmcsinfo
    source: str
    assumptions: tuple[str, ...]
    skipped: tuple[tuple[str, str], ...]


@dataclass
class _Placed:
    """One field as a source places it: its names in the source, plain offset or bits."""

    names: list[str]
    encoding: int
    offset: int | None = None
    bits: tuple[int | None, ...] | None = None

    def positions(self) -> tuple[int | None, ...]:
        if self.bits is not None:
            return self.bits
        width = encoding_width(self.encoding)
        base = (self.offset or 0) * 8
        return tuple(range(base, base + width))

    def same(self, other: _Placed) -> bool:
        return self.offset == other.offset and self.bits == other.bits


def _bad(path: str, what: str) -> FleetDbError:
    return FleetDbError(f"{path}: {what}; nothing was written")


def valid_encoding(encoding: int) -> str | None:
    """Why `encoding` is not the FULL encoding of a VMCS field (None: it is one)."""
    if not 0 <= encoding <= 0x7FFF or encoding & 0x1000:
        return "not a VMCS field encoding (bits 31:15 and 12 are reserved)"
    if encoding & 1:
        if encoding_width(encoding) == 64 and (encoding >> 13) & 3 == 1:
            return "the HIGH half of a 64-bit field (CONTRACT 2 lists the FULL encoding)"
        return "not a VMCS field encoding (access type high on a field that is not 64-bit)"
    return None


def _assemble(placed: list[_Placed], skipped: list[tuple[str, str]]) -> list[VmcsField]:
    """The fields that can be taken: one placement per encoding, inside the region after
    its header, no two claiming one bit. Everything else goes to `skipped`."""
    by_enc: dict[int, _Placed] = {}
    conflicting: set[int] = set()
    for p in placed:
        label = "/".join(p.names)
        why = valid_encoding(p.encoding)
        if why:
            skipped.append((label, f"encoding {p.encoding:#06x}: {why}"))
            continue
        pos = [q for q in p.positions() if q is not None]
        if not pos:
            skipped.append((label, "no bit of it is stored anywhere"))
            continue
        if min(pos) < HEADER_BYTES * 8 or max(pos) >= REGION_SIZE * 8:
            skipped.append(
                (
                    label,
                    f"bytes {min(pos) // 8:#x}..{max(pos) // 8:#x} are outside the "
                    f"{REGION_SIZE:#x}-byte region's field area (after its 4-byte header)",
                )
            )
            continue
        known = by_enc.get(p.encoding)
        if known is None:
            by_enc[p.encoding] = _Placed(list(p.names), p.encoding, p.offset, p.bits)
        elif known.same(p):
            known.names += [n for n in p.names if n not in known.names]
        else:
            known.names += [n for n in p.names if n not in known.names]
            conflicting.add(p.encoding)
    for enc in sorted(conflicting):
        p = by_enc.pop(enc)
        skipped.append(
            ("/".join(p.names), f"{field_name(enc)} is placed at two different positions")
        )
    claims: dict[int, set[int]] = {}
    for enc, p in by_enc.items():
        for q in p.positions():
            if q is not None:
                claims.setdefault(q, set()).add(enc)
    overlapping: dict[int, set[int]] = {}
    for encs in claims.values():
        if len(encs) > 1:
            for e in encs:
                overlapping.setdefault(e, set()).update(encs - {e})
    for enc in sorted(overlapping):
        p = by_enc.pop(enc)
        others = ", ".join(field_name(e) for e in sorted(overlapping[enc]))
        skipped.append(
            (
                "/".join(p.names),
                f"{field_name(enc)} overlaps {others}: which of them is right is not known",
            )
        )
    out = []
    for enc in sorted(by_enc):
        p = by_enc[enc]
        out.append(
            VmcsField(field_name(enc), enc, encoding_width(enc), offset=p.offset, bits=p.bits)
        )
    return out


def _build(
    fmt: str,
    path: str,
    name: str,
    cpu: Cpu,
    revision_id: int,
    placed: list[_Placed],
    skipped: list[tuple[str, str]],
    assumptions: list[str],
    what: str,
) -> Conversion:
    if not 0 < revision_id <= MAX_REVISION:
        raise _bad(path, f"revision id {revision_id:#x} is outside 1..{MAX_REVISION:#x}")
    fields = _assemble(placed, skipped)
    if not fields:
        why = "; ".join(f"{n}: {w}" for n, w in skipped[:5])
        raise _bad(path, "no field of it can be taken" + (f" ({why})" if why else ""))
    layout = Vmcsinfo(
        revision_id=revision_id,
        region_size=REGION_SIZE,
        vmx_basic=revision_id | REGION_SIZE << 32,
        vmx_misc=0,
        cpu_vendor=VENDOR,
        cpu_signature=cpu.signature,
        microcode=0,
        fields=tuple(fields),
    )
    lines = layout.to_text().split("\n")
    at = next(i for i, line in enumerate(lines) if line.startswith("FIELD_COUNT="))
    lines.insert(at, f"{PARTIAL_KEY}=1")
    text = "\n".join(lines)
    try:
        info = parse(text)
    except VmcsinfoError as e:  # _assemble keeps to what the parser takes
        raise _bad(path, f"the converted text is refused by the parser: {e}") from e
    assumptions = [
        *assumptions,
        f"CPU signature {cpu.signature:x} for {name!r} ({cpu.what})",
        "microcode unknown (MICROCODE=0)",
        f"region size {REGION_SIZE:x}; VMX_BASIC synthesized from revision id and size; "
        "VMX_MISC unknown (0)",
    ]
    source = (
        f"{fmt} {path}: partial published layout, {what}, {len(fields)} fields "
        f"(revision id {revision_id:x}); assumed: " + "; ".join(assumptions)
    )
    return Conversion(fmt, path, name, cpu, text, info, source, tuple(assumptions), tuple(skipped))


def _microarch(path: str, name: str) -> tuple[str, Cpu]:
    key = MICROARCH_ALIASES.get(name, name)
    cpu = MICROARCHS.get(key)
    if cpu is None:
        raise _bad(
            path,
            f"unknown microarchitecture {name!r} (from the file name): known are "
            + ", ".join(sorted((*MICROARCHS, *MICROARCH_ALIASES))),
        )
    return key, cpu


# --- Volatility 3 ------------------------------------------------------------------------------


def _vol_size(path: str, doc: dict, typ: object, where: str) -> tuple[int, int]:
    """(element size in bytes, count) of an ISF type: a base or user type, or an array."""
    if not isinstance(typ, dict):
        raise _bad(path, f"{where}: 'type' is not a JSON object")
    count = 1
    if typ.get("kind") == "array":
        count = typ.get("count")
        if not isinstance(count, int) or isinstance(count, bool) or not 0 < count <= 64:
            raise _bad(path, f"{where}: an array needs a count of 1..64")
        typ = typ.get("subtype")
        if not isinstance(typ, dict):
            raise _bad(path, f"{where}: an array needs a subtype object")
    tname = typ.get("name")
    if not isinstance(tname, str):
        raise _bad(path, f"{where}: the type has no name")
    for table in ("base_types", "user_types"):
        types = doc.get(table)
        entry = types.get(tname) if isinstance(types, dict) else None
        if isinstance(entry, dict):
            size = entry.get("size")
            if isinstance(size, int) and not isinstance(size, bool) and size > 0:
                return size, count
            raise _bad(path, f"{where}: type {tname!r} has no size")
    raise _bad(path, f"{where}: type {tname!r} is neither a base nor a user type of the file")


def convert_volatility(text: str, path: str) -> Conversion:
    """Volatility 3's symbols/generic/vmcs/<microarch>-architecture.json."""
    try:
        doc = json.loads(text)
    except ValueError as e:
        raise _bad(path, f"not JSON ({e})") from e
    if not isinstance(doc, dict):
        raise _bad(path, "not an ISF symbol table (the top level is not a JSON object)")
    utypes = doc.get("user_types")
    vmcs = utypes.get("_VMCS") if isinstance(utypes, dict) else None
    members = vmcs.get("fields") if isinstance(vmcs, dict) else None
    if not isinstance(members, dict):
        raise _bad(path, "no user type _VMCS with fields (not a Volatility 3 VMCS table)")
    symbols = doc.get("symbols")
    rev = symbols.get("revision_id") if isinstance(symbols, dict) else None
    data = rev.get("constant_data") if isinstance(rev, dict) else None
    if not isinstance(data, str):
        raise _bad(path, "no revision_id symbol with constant_data")
    try:
        digits = base64.b64decode(data, validate=True).decode("ascii")
    except (binascii.Error, UnicodeDecodeError) as e:
        raise _bad(path, f"revision_id constant_data {data[:40]!r} is not base64 text") from e
    if not re.fullmatch(r"[0-9]{1,10}", digits):
        raise _bad(path, f"revision_id constant_data says {digits[:40]!r}, not a decimal number")
    revision_id = int(digits)
    base = os.path.basename(path)
    stem = base[: -len(".json")] if base.endswith(".json") else base
    stem = stem[: -len("-architecture")] if stem.endswith("-architecture") else stem
    name, cpu = _microarch(path, stem.lower())
    placed: list[_Placed] = []
    skipped: list[tuple[str, str]] = []
    for member in sorted(members):
        spec = members[member]
        where = f"_VMCS member {member!r}"
        if not isinstance(spec, dict):
            raise _bad(path, f"{where} is not a JSON object")
        offset = spec.get("offset")
        if not isinstance(offset, int) or isinstance(offset, bool) or offset < 0:
            raise _bad(path, f"{where}: 'offset' must be a non-negative number")
        size, count = _vol_size(path, doc, spec.get("type"), where)
        enc = VOLATILITY_NAMES.get(member, VMCS_FIELD_ENCODINGS.get(member.upper()))
        if enc is None:
            skipped.append((member, "not a VMCS field name this converter knows"))
            continue
        encs = enc if isinstance(enc, tuple) else (enc,)
        if len(encs) != count:
            skipped.append((member, f"{count} element(s) where {len(encs)} fields are meant"))
            continue
        for i, e in enumerate(encs):
            width = encoding_width(e)
            if size * 8 != width:
                skipped.append(
                    (member, f"its type is {size * 8} bits, {field_name(e)} is {width} bits wide")
                )
                continue
            placed.append(
                _Placed([member if count == 1 else f"{member}[{i}]"], e, offset + i * size)
            )
    return _build(
        "volatility",
        path,
        name,
        cpu,
        revision_id,
        placed,
        skipped,
        [],
        f"microarchitecture {name}",
    )


# --- actaeon -----------------------------------------------------------------------------------

_ACT_DICT = re.compile(r"^[ \t]*vmcs[ \t]*=[ \t]*\{", re.M)
_ACT_ITEM = re.compile(r'\s*"([A-Za-z_][A-Za-z0-9_]*)"\s*:\s*([0-9][0-9A-Za-z]*)\s*\Z')


def _act_number(raw: str) -> tuple[int | None, str | None]:
    """A Python integer literal: (value, None), or (None, why it is not taken)."""
    if re.fullmatch(r"0[xX][0-9a-fA-F]+", raw):
        return int(raw, 16), None
    if raw == "0" or re.fullmatch(r"[1-9][0-9]*", raw):
        return int(raw), None
    if re.fullmatch(r"0+", raw):
        return 0, None
    if re.fullmatch(r"0[0-7]+", raw):
        return None, (
            f"{raw} is a Python 2 octal literal ({int(raw, 8):#x}); whether it is meant as "
            "that or as hex is not known"
        )
    if re.fullmatch(r"0[0-9]+", raw):
        return None, f"{raw} is not a Python 2 number (a leading 0 makes it octal)"
    return None, f"{raw} is not a number"


def convert_actaeon(text: str, path: str) -> Conversion:
    """actaeon's plugin/hypervisors/vmcs_layouts/<microarch>.py."""
    # Comments go first ('#' to the end of the line; names never hold one).
    body_text = re.sub(r"#[^\n]*", "", text)
    m = _ACT_DICT.search(body_text)
    if m is None:
        raise _bad(path, "no 'vmcs = {' dictionary (not an actaeon VMCS layout)")
    end = body_text.find("}", m.end())
    if end < 0:
        raise _bad(path, "the 'vmcs = {' dictionary is not closed")
    start_line = body_text.count("\n", 0, m.end()) + 1
    entries: dict[str, tuple[int, str]] = {}
    pos = m.end()
    for piece in body_text[m.end() : end].split(","):
        lead = len(piece) - len(piece.lstrip())
        line = start_line + body_text.count("\n", m.end(), pos + lead)
        pos += len(piece) + 1
        if not piece.strip():
            continue
        im = _ACT_ITEM.match(piece)
        if im is None:
            raise _bad(path, f'line {line}: expected "NAME": NUMBER, got {piece.strip()[:60]!r}')
        name, raw = im.group(1), im.group(2)
        if name in entries:
            raise _bad(path, f"line {line}: {name} given twice (first on line {entries[name][0]})")
        entries[name] = (line, raw)
    if not entries:
        raise _bad(path, "the 'vmcs' dictionary is empty")
    # haswell.py (or haswell.py.txt, a copy kept away from Python 3 tools: actaeon's files
    # are Python 2)
    stem = os.path.basename(path).split(".", 1)[0].lower()
    name, cpu = _microarch(path, stem)
    assumptions = []
    if stem in ACTAEON_REVISIONS:
        revision_id = ACTAEON_REVISIONS[stem]
        rev_from = "revision id from actaeon's vmcs_layouts/db.py"
    elif stem in ACTAEON_ASSUMED_REVISIONS:
        revision_id = ACTAEON_ASSUMED_REVISIONS[stem]
        rev_from = "revision id not in actaeon"
        assumptions.append(
            f"revision id {revision_id:x} taken from Volatility 3's {stem}-architecture.json "
            f"(actaeon gives none for {stem})"
        )
    else:
        raise _bad(
            path,
            f"actaeon gives no revision id for {stem!r} (its db.py names "
            + ", ".join(sorted(ACTAEON_REVISIONS))
            + ")",
        )
    skipped: list[tuple[str, str]] = []
    full: dict[int, list[tuple[str, int]]] = {}
    high: dict[int, list[tuple[str, int]]] = {}
    for src, (_line, raw) in entries.items():
        if src in ACTAEON_HEADER:
            continue
        value, why = _act_number(raw)
        if value is None:
            skipped.append((src, why or "not a number"))
            continue
        base, is_high = src, False
        if base.endswith("_HIGH"):
            base, is_high = base[: -len("_HIGH")], True
        if base.endswith("_FULL"):
            base = base[: -len("_FULL")]
        enc = ACTAEON_NAMES.get(base, VMCS_FIELD_ENCODINGS.get(base))
        if enc is None:
            skipped.append((src, "not a VMCS field name this converter knows"))
            continue
        if value > REGION_SIZE // 4:
            skipped.append(
                (src, f"dword index {value:#x} is outside the {REGION_SIZE:#x}-byte region")
            )
            continue
        (high if is_high else full).setdefault(enc, []).append((src, value))

    # One index per encoding; aliases must agree.
    def one(table: dict, enc: int) -> tuple[list[str], int] | None:
        items = table[enc]
        if len({v for _n, v in items}) > 1:
            skipped.append(
                (
                    "/".join(n for n, _v in items),
                    f"{field_name(enc)} is given at different dword indexes",
                )
            )
            return None
        return [n for n, _v in items], items[0][1]

    chosen: dict[int, tuple[list[str], int]] = {}
    for enc in sorted(full):
        got = one(full, enc)
        if got:
            chosen[enc] = got
    highs: dict[int, tuple[list[str], int]] = {}
    for enc in sorted(high):
        got = one(high, enc)
        if got is None:
            chosen.pop(enc, None)
        elif enc not in full:
            skipped.append(("/".join(got[0]), "a _HIGH half without its field"))
        else:
            highs[enc] = got

    # Every dword a field claims (a 64-bit one two: its own and its high dword); a dword
    # claimed by two fields: none of them is taken (a dword index cannot say which half
    # of it each 16-bit field has, and otherwise one of them is wrong).
    def dwords(enc: int) -> tuple[int, ...]:
        idx = chosen[enc][1]
        if encoding_width(enc) != 64:
            return (idx,)
        return (idx, highs[enc][1] if enc in highs else idx + 1)

    by_dword: dict[int, list[int]] = {}
    for enc in chosen:
        for dw in dwords(enc):
            by_dword.setdefault(dw, []).append(enc)
    placed: list[_Placed] = []
    for enc in sorted(chosen):
        names, idx = chosen[enc]
        shared = [dw for dw in dwords(enc) if len(by_dword[dw]) > 1]
        if shared:
            others = sorted({e for dw in shared for e in by_dword[dw] if e != enc})
            skipped.append(
                (
                    "/".join(names + (highs[enc][0] if enc in highs else [])),
                    "shares dword "
                    + ", ".join(f"{dw:#x}" for dw in shared)
                    + " with "
                    + ", ".join(field_name(e) for e in others)
                    + ": a dword index cannot tell them apart (which half each has, or "
                    "which of them is right)",
                )
            )
            continue
        if enc in highs and highs[enc][1] != idx + 1:
            hidx = highs[enc][1]
            bits = tuple(range(idx * 32, idx * 32 + 32)) + tuple(range(hidx * 32, hidx * 32 + 32))
            placed.append(_Placed(names + highs[enc][0], enc, bits=bits))
            continue
        placed.append(_Placed(names + (highs[enc][0] if enc in highs else []), enc, idx * 4))
    assumptions.append(
        "offsets are actaeon's dword indexes * 4; a 16-bit field alone in its dword at its "
        "low half, a 64-bit field without _HIGH as 8 contiguous bytes (as actaeon reads them)"
    )
    return _build(
        "actaeon",
        path,
        name,
        cpu,
        revision_id,
        placed,
        skipped,
        assumptions,
        f"microarchitecture {name} ({rev_from})",
    )


# --- vmcsreverse -------------------------------------------------------------------------------

_VR_REVISION = re.compile(r"vmcs_revision_id:[ \t]*([0-9]{1,10})\Z")
_VR_FIELD = re.compile(r"0x([0-9a-fA-F]{1,8}):[ \t]*([0-9]{1,5}|fault|failed)\Z")


def convert_vmcsreverse(text: str, path: str) -> Conversion:
    """vmcsreverse's result/<family>/<brand>/<model>.txt."""
    revision_id = None
    placed: list[_Placed] = []
    skipped: list[tuple[str, str]] = []
    seen: dict[int, int] = {}
    for no, raw in enumerate(text.split("\n"), 1):
        line = raw.strip()
        if not line:
            continue
        if revision_id is None:
            m = _VR_REVISION.match(line)
            if m is None:
                raise _bad(
                    path,
                    f"line {no}: expected 'vmcs_revision_id: DECIMAL' first, got {line[:60]!r}",
                )
            revision_id = int(m.group(1))
            continue
        m = _VR_FIELD.match(line)
        if m is None:
            raise _bad(
                path, f"line {no}: expected '0xENCODING: OFFSET|fault|failed', got {line[:60]!r}"
            )
        enc, value = int(m.group(1), 16), m.group(2)
        if enc in seen:
            raise _bad(
                path, f"line {no}: encoding {enc:#010x} given twice (first on line {seen[enc]})"
            )
        seen[enc] = no
        label = f"{enc:#010x}"
        if value in ("fault", "failed"):
            skipped.append((label, f"{value}: VMWRITE refused (unsupported or read-only)"))
            continue
        placed.append(_Placed([label], enc, int(value, 10)))
    if revision_id is None:
        raise _bad(path, "no 'vmcs_revision_id:' line (not a vmcsreverse result)")
    parts = os.path.normpath(path).split(os.sep)
    stem = parts[-1][: -len(".txt")] if parts[-1].endswith(".txt") else parts[-1]
    model = f"{parts[-2]}-{stem}".lower() if len(parts) > 1 else stem.lower()
    cpu = CPU_MODELS.get(model)
    if cpu is None:
        raise _bad(
            path,
            f"unknown CPU model {model!r} (from the path: <brand>/<model>.txt): known are "
            + ", ".join(sorted(CPU_MODELS)),
        )
    return _build(
        "vmcsreverse",
        path,
        model,
        cpu,
        revision_id,
        placed,
        skipped,
        ["offsets of writable fields only (vmcsreverse cannot write read-only ones)"],
        f"CPU model {model}",
    )


CONVERTERS = {
    "volatility": convert_volatility,
    "actaeon": convert_actaeon,
    "vmcsreverse": convert_vmcsreverse,
}


def convert(fmt: str, text: str, path: str) -> Conversion:
    """A published layout file's text in format `fmt` as a partial CONTRACT 2 text.
    `path` names the file in messages and gives the microarchitecture or CPU model.
    Raises FleetDbError naming the file and what is wrong."""
    conv = CONVERTERS.get(fmt)
    if conv is None:
        raise FleetDbError(f"unknown format {fmt!r}: one of {', '.join(FORMATS)}")
    if not isinstance(text, str):
        raise _bad(path, "the file must be text")
    return conv(text, path)
