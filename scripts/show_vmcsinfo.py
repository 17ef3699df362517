#!/usr/bin/env python3
"""Show a VMCSINFO file as a readable table: header, then one row per field.

Usage: show_vmcsinfo.py FILE [--all]   (default: summary + the first 24 fields
and every bit-mapped field)
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "collections"))

from ansible_collections.fujitsu.vmcsinfo.plugins.module_utils.vmcsinfo import (
    VmcsinfoError,
    parse,
)


def compress(bits: tuple) -> str:
    """Runs of consecutive positions as a-b, unstored bits as '-'."""
    out, i = [], 0
    while i < len(bits):
        j = i
        while bits[i] is not None and j + 1 < len(bits) and bits[j + 1] == bits[j] + 1:
            j += 1
        if bits[i] is None:
            out.append("-")
        elif j > i:
            out.append(f"{bits[i]:x}-{bits[j]:x}")
        else:
            out.append(f"{bits[i]:x}")
        i = j + 1
    return ",".join(out)


def main() -> int:
    args = [a for a in sys.argv[1:] if a != "--all"]
    if len(args) != 1:
        print(__doc__, file=sys.stderr)
        return 2
    path = Path(args[0])
    try:
        info = parse(path.read_text())
    except OSError as e:
        print(f"show_vmcsinfo: cannot read {path}: {e.strerror}", file=sys.stderr)
        return 1
    except VmcsinfoError as e:
        print(f"show_vmcsinfo: {path}: {e}", file=sys.stderr)
        return 1
    plain = [f for f in info.fields if f.offset is not None]
    mapped = [f for f in info.fields if f.offset is None]
    print(f"VMCSINFO from {path}")
    print(
        f"  CPU        {info.cpu_vendor} signature {info.cpu_signature:x}, "
        f"microcode {info.microcode:x}"
    )
    print(f"  VMCS       revision {info.revision_id:#x}, region {info.region_size} bytes")
    print(f"  fields     {len(info.fields)} ({len(plain)} FIELD, {len(mapped)} BITS)")
    print(f"  digest     {info.digest()}")
    print()
    print(f"  {'field':<40} {'enc':>6} {'width':>5}  storage")
    shown = info.fields if "--all" in sys.argv else plain[:24] + mapped
    for f in sorted(shown, key=lambda f: f.encoding):
        where = (
            f"bytes {f.offset:#x}..{f.offset + f.width // 8 - 1:#x}"
            if f.offset is not None
            else f"bits {compress(f.positions())}"
        )
        print(f"  {f.name:<40} {f.encoding:>#6x} {f.width:>5}  {where}")
    if len(shown) < len(info.fields):
        print(f"  ... {len(info.fields) - len(shown)} more plain fields (--all shows them)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
