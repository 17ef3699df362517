"""Write the fleetdb scenario's probe texts (DIR/<name>.vmcsinfo) from the seed database's
real Bochs 2.7 corei7_haswell_4770 probe (argv[1]: the database, argv[2]: DIR).

probe       the seed's text, byte for byte
probe-mc28  its MICROCODE line 0 -> 28 (the same layout under another microcode)
conflict-a  CPU_SIGNATURE 306f2, MICROCODE 3c (the layout unchanged)
conflict-b  the same key with GUEST_RSP's and GUEST_RIP's offsets swapped (another layout)
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

from ansible_collections.fujitsu.vmcsinfo.plugins.module_utils.fleetdb import Db, Query, serve
from ansible_collections.fujitsu.vmcsinfo.plugins.module_utils.vmcsinfo import parse


def header(text: str, key: str, value: str) -> str:
    new, n = re.subn(rf"(?m)^{key}=.*$", f"{key}={value}", text, count=1)
    assert n == 1, key
    return new


def main() -> int:
    db, out = Db.load(sys.argv[1]), Path(sys.argv[2])
    decision = serve(db, Query("GenuineIntel", 0x306C3, 0), strict=True)
    if decision.text is None:
        sys.exit(f"texts.py: the seed database has no Haswell 306c3 entry: {decision.reason}")
    probe = decision.text
    texts = {
        "probe": probe,
        "probe-mc28": header(probe, "MICROCODE", "28"),
        "conflict-a": header(header(probe, "CPU_SIGNATURE", "306f2"), "MICROCODE", "3c"),
    }
    rsp = re.search(r"(?m)^FIELD\(GUEST_RSP\)=(\w+)$", probe).group(1)
    rip = re.search(r"(?m)^FIELD\(GUEST_RIP\)=(\w+)$", probe).group(1)
    b = texts["conflict-a"].replace(f"FIELD(GUEST_RSP)={rsp}\n", "@RSP\n")
    b = b.replace(f"FIELD(GUEST_RIP)={rip}\n", f"FIELD(GUEST_RIP)={rsp}\n")
    texts["conflict-b"] = b.replace("@RSP\n", f"FIELD(GUEST_RSP)={rip}\n")
    digests = {name: parse(text).digest() for name, text in texts.items()}
    assert digests["probe"] == digests["probe-mc28"] == digests["conflict-a"]
    assert digests["conflict-b"] != digests["conflict-a"]
    for name, text in texts.items():
        (out / f"{name}.vmcsinfo").write_text(text)
        print(f"{name}: {digests[name][:16]}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
