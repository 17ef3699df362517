#!/usr/bin/env python3
"""Read every page of a real crash dump with the collection's dump reader and
with drgn (libkdumpfile), and say whether they agree: the check of the
hand-written reader against the library on a dump that makedumpfile wrote.

Usage: compare-with-drgn.py DUMP     (exit 0: every page equal; 1: a difference)
Prints the page count, the formats and codecs, and the time of each reader.
"""

from __future__ import annotations

import hashlib
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "collections"))

import drgn

from ansible_collections.fujitsu.vmcsinfo.plugins.module_utils.dumpfile import (
    PAGE_SIZE,
    Dump,
)


def main() -> int:
    if len(sys.argv) != 2:
        sys.stderr.write(__doc__)
        return 2
    path = sys.argv[1]
    t0 = time.monotonic()
    ours = hashlib.sha256()
    pfns = []
    with Dump(path) as d:
        for pfn, _head, ref in d.pages():
            page = d.full(ref)
            if page is None:
                print(f"compare: our reader could not read pfn {pfn:#x}")
                return 1
            pfns.append(pfn)
            ours.update(page)
        kind, codecs, unreadable = d.kind, sorted(d.codecs), d.unreadable
    t1 = time.monotonic()
    prog = drgn.Program()
    prog.set_core_dump(path)
    theirs = hashlib.sha256()
    for pfn in pfns:
        theirs.update(prog.read(pfn * PAGE_SIZE, PAGE_SIZE, True))
    t2 = time.monotonic()
    same = ours.digest() == theirs.digest()
    print(
        f"compare: {path}: {kind} {'/'.join(codecs)}, {len(pfns)} pages, {unreadable} unreadable; "
        f"ours {t1 - t0:.2f} s, drgn {t2 - t1:.2f} s: {'EQUAL' if same else 'DIFFERENT'}"
    )
    return 0 if same and not unreadable else 1


if __name__ == "__main__":
    sys.exit(main())
