# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The one VMCSINFO parser (DESIGN.md CONTRACT 2, format 1).

Used by the facts module, the fleet database and the tools. Strict: any
malformed line raises VmcsinfoError naming the line; unknown keys are kept
aside and otherwise ignored, as the contract requires.
"""

from __future__ import annotations

import dataclasses
import hashlib
import re
from dataclasses import dataclass

from ansible_collections.fujitsu.vmcsinfo.plugins.module_utils.vmcs_fields import (
    VMCS_FIELD_ENCODINGS,
)

FORMAT = 1
_HEX = re.compile(r"[0-9a-f]+\Z")
_NOT_PRINTABLE_ASCII = re.compile(r"[^\x20-\x7e]")
_KEY = re.compile(r"([A-Z][A-Z0-9_]*)(?:\((ENC_[0-9a-f]{4}|[A-Z][A-Z0-9_]*)\))?\Z")
_ENC_NAME = re.compile(r"ENC_([0-9a-f]{4})\Z")
_NAMES_BY_ENCODING = {enc: name for name, enc in VMCS_FIELD_ENCODINGS.items()}
_HEADER_KEYS = (
    "REVISION_ID",
    "REGION_SIZE",
    "VMX_BASIC",
    "VMX_MISC",
    "CPU_VENDOR",
    "CPU_SIGNATURE",
    "MICROCODE",
    "FIELD_COUNT",
)


class VmcsinfoError(ValueError):
    """Malformed VMCSINFO text; str() names the line and the problem."""

    def __init__(self, message: str, line: int | None = None) -> None:
        self.line = line
        self.reason = message
        super().__init__(f"line {line}: {message}" if line else message)


def encoding_width(encoding: int) -> int:
    """Field width in bits from the encoding (SDM: bits 14:13)."""
    return (16, 64, 32, 64)[(encoding >> 13) & 3]


def field_name(encoding: int) -> str:
    """CONTRACT 2 name of an encoding: Linux's enum vmcs_field name or ENC_xxxx."""
    return _NAMES_BY_ENCODING.get(encoding, f"ENC_{encoding:04x}")


def field_encoding(name: str) -> int | None:
    """Encoding of a CONTRACT 2 field name, or None if the name is unknown."""
    if name in VMCS_FIELD_ENCODINGS:
        return VMCS_FIELD_ENCODINGS[name]
    m = _ENC_NAME.match(name)
    return int(m.group(1), 16) if m else None


@dataclass(frozen=True)
class Field:
    """One VMCS field: plain storage at `offset`, or per-bit `bits` positions."""

    name: str
    encoding: int
    width: int
    offset: int | None = None
    bits: tuple[int | None, ...] | None = None

    def positions(self) -> tuple[int | None, ...]:
        """Region bit position of each field bit (None: not stored)."""
        if self.bits is not None:
            return self.bits
        if self.offset is None:
            raise VmcsinfoError(f"{self.name} has neither an offset nor bit positions")
        return tuple(self.offset * 8 + i for i in range(self.width))

    def decode(self, region: bytes) -> int:
        """The field's value from a VMCS region image."""
        if self.offset is not None:
            return int.from_bytes(region[self.offset : self.offset + self.width // 8], "little")
        value = 0
        for i, pos in enumerate(self.positions()):
            if pos is not None and region[pos // 8] >> (pos % 8) & 1:
                value |= 1 << i
        return value


@dataclass(frozen=True)
class Vmcsinfo:
    """A parsed VMCSINFO text."""

    revision_id: int
    region_size: int
    vmx_basic: int
    vmx_misc: int
    cpu_vendor: str
    cpu_signature: int
    microcode: int
    fields: tuple[Field, ...]
    extra: dict = dataclasses.field(default_factory=dict, compare=False)

    def field(self, name: str) -> Field | None:
        for f in self.fields:
            if f.name == name:
                return f
        return None

    def digest(self) -> str:
        """sha256 of the canonical layout: equal layouts give equal digests.

        Covers the revision id, region size and every field's encoding and
        bit positions; not the CPU identity or microcode, which do not change
        where bits are stored.
        """
        h = hashlib.sha256()
        h.update(f"{self.revision_id:x}/{self.region_size:x}\n".encode())
        for f in sorted(self.fields, key=lambda f: f.encoding):
            pos = ",".join("-" if p is None else f"{p:x}" for p in f.positions())
            h.update(f"{f.encoding:04x}:{pos}\n".encode())
        return h.hexdigest()

    def to_text(self) -> str:
        """CONTRACT 2 text, as the kernel module writes it."""
        out = [
            f"VMCSINFO_FORMAT={FORMAT}",
            f"REVISION_ID={self.revision_id:x}",
            f"REGION_SIZE={self.region_size:x}",
            f"VMX_BASIC={self.vmx_basic:x}",
            f"VMX_MISC={self.vmx_misc:x}",
            f"CPU_VENDOR={self.cpu_vendor}",
            f"CPU_SIGNATURE={self.cpu_signature:x}",
            f"MICROCODE={self.microcode:x}",
            f"FIELD_COUNT={len(self.fields):x}",
        ]
        for f in sorted(self.fields, key=lambda f: f.encoding):
            if f.offset is not None:
                out.append(f"FIELD({f.name})={f.offset:x}")
            else:
                pos = ",".join("-" if p is None else f"{p:x}" for p in f.positions())
                out.append(f"BITS({f.name})={pos}")
        return "\n".join(out) + "\n"


def _hex(value: str, what: str, line: int) -> int:
    if not _HEX.match(value):
        raise VmcsinfoError(f"{what} must be lowercase hex without 0x, got {value!r}", line)
    return int(value, 16)


def parse(text: str) -> Vmcsinfo:
    """Parse VMCSINFO text (format 1). Raises VmcsinfoError on any malformed line."""
    if not isinstance(text, str):
        raise VmcsinfoError("VMCSINFO must be text")
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    if not lines:
        raise VmcsinfoError("empty VMCSINFO text")
    header: dict = {}
    extra: dict = {}
    fields: list = []
    seen: dict = {}
    claimed: dict = {}
    for no, raw in enumerate(lines, 1):
        bad = _NOT_PRINTABLE_ASCII.search(raw)
        if bad:
            raise VmcsinfoError(
                f"character {bad.group()!r} is not printable ASCII (VMCSINFO is ASCII text, "
                "one KEY=VALUE line each, ending in a line feed)",
                no,
            )
        key, sep, value = raw.partition("=")
        m = _KEY.match(key)
        if not sep or not m:
            raise VmcsinfoError(f"expected KEY=VALUE, got {raw[:80]!r}", no)
        name, arg = m.group(1), m.group(2)
        if no == 1:
            if key != "VMCSINFO_FORMAT":
                raise VmcsinfoError("the first line must be VMCSINFO_FORMAT=1", no)
            if value != str(FORMAT):
                raise VmcsinfoError(
                    f"unsupported VMCSINFO_FORMAT {value!r}; this reader knows format {FORMAT}",
                    no,
                )
            continue
        if name in ("FIELD", "BITS") and arg:
            if arg in seen:
                raise VmcsinfoError(f"field {arg} listed twice (first on line {seen[arg]})", no)
            seen[arg] = no
            fields.append((no, name, arg, value))
            continue
        if arg is not None or name in ("FIELD", "BITS"):
            raise VmcsinfoError(f"unexpected key {key!r}", no)
        if name in header or name in extra or name == "VMCSINFO_FORMAT":
            raise VmcsinfoError(f"key {name} given twice", no)
        if name in _HEADER_KEYS:
            header[name] = (no, value)
        else:
            extra[name] = value
    missing = [k for k in _HEADER_KEYS if k not in header]
    if missing:
        raise VmcsinfoError(f"missing key(s): {', '.join(missing)}")

    def num(key: str) -> int:
        no, value = header[key]
        return _hex(value, key, no)

    region_size = num("REGION_SIZE")
    if not 8 <= region_size <= 4096:
        raise VmcsinfoError(
            f"REGION_SIZE {region_size:#x} is outside 0x8..0x1000", header["REGION_SIZE"][0]
        )
    vendor_no, vendor = header["CPU_VENDOR"]
    if not vendor or not vendor.isprintable():
        raise VmcsinfoError("CPU_VENDOR must be a printable string", vendor_no)
    out = []
    for no, kind, name, value in fields:
        encoding = field_encoding(name)
        if encoding is None:
            raise VmcsinfoError(
                f"unknown field name {name}: not in Linux's enum vmcs_field nor ENC_xxxx", no
            )
        width = encoding_width(encoding)
        if kind == "FIELD":
            offset = _hex(value, f"FIELD({name}) offset", no)
            if offset * 8 < 32 or offset + width // 8 > region_size:
                raise VmcsinfoError(
                    f"FIELD({name}) at offset {offset:#x} does not fit a {width}-bit field "
                    f"in a {region_size:#x}-byte region after the header",
                    no,
                )
            f = Field(name, encoding, width, offset=offset)
        else:
            items = value.split(",")
            if len(items) != width:
                raise VmcsinfoError(
                    f"BITS({name}) has {len(items)} entries; the field is {width} bits wide", no
                )
            bits = []
            for item in items:
                if item == "-":
                    bits.append(None)
                    continue
                pos = _hex(item, f"BITS({name}) position", no)
                if not 32 <= pos < region_size * 8:
                    raise VmcsinfoError(
                        f"BITS({name}) position {pos:#x} is outside the region's field area", no
                    )
                bits.append(pos)
            f = Field(name, encoding, width, bits=tuple(bits))
        for pos in f.positions():
            if pos is None:
                continue
            if pos in claimed:
                raise VmcsinfoError(f"{name} and {claimed[pos]} both claim VMCS bit {pos:#x}", no)
            claimed[pos] = name
        out.append(f)
    count_no = header["FIELD_COUNT"][0]
    if num("FIELD_COUNT") != len(out):
        raise VmcsinfoError(
            f"FIELD_COUNT says {num('FIELD_COUNT'):#x} but {len(out):#x} FIELD/BITS lines follow",
            count_no,
        )
    return Vmcsinfo(
        revision_id=num("REVISION_ID"),
        region_size=region_size,
        vmx_basic=num("VMX_BASIC"),
        vmx_misc=num("VMX_MISC"),
        cpu_vendor=vendor,
        cpu_signature=num("CPU_SIGNATURE"),
        microcode=num("MICROCODE"),
        fields=tuple(out),
        extra=extra,
    )
