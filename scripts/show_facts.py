#!/usr/bin/env python3
"""Gather ansible_facts.vmcsinfo from an inventory and print them as a table.

    scripts/show_facts.py -i inventories/lab [PATTERN]

Runs `ansible PATTERN -b -m fujitsu.vmcsinfo.vmcsinfo_facts` with the json
callback (from the repository root, so ansible.cfg applies) and prints, per
host, what an operator wants to see first: where the VMCSINFO comes from (or
why there is none), the layout's size and digest, the module and kdump.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
from pathlib import Path

TOP = Path(__file__).resolve().parent.parent
_ONE_LINE = re.compile(
    r"^(?P<host>\S+) \| (?P<status>[A-Z]+!?)(?: \| rc=\d+)? => (?P<json>\{.*\})$"
)


def gather(inventory: str, pattern: str) -> dict[str, dict]:
    """Run the facts module on each host; its results by host name."""
    env = dict(os.environ)
    for var in ("ANSIBLE_STDOUT_CALLBACK", "ANSIBLE_LOAD_CALLBACK_PLUGINS"):
        env.pop(var, None)
    ansible = TOP / ".venv/bin/ansible"
    cmd = [str(ansible), pattern, "-i", inventory, "-b", "-o"]
    cmd += ["-m", "fujitsu.vmcsinfo.vmcsinfo_facts"]
    proc = subprocess.run(cmd, cwd=TOP, env=env, capture_output=True, text=True, check=False)
    # One line per host (ad-hoc --one-line): "HOST | STATUS => {json}"
    hosts: dict[str, dict] = {}
    for line in proc.stdout.splitlines():
        m = _ONE_LINE.match(line)
        if not m:
            continue
        try:
            res = json.loads(m["json"])
        except json.JSONDecodeError:
            res = {"failed": True, "msg": line}
        if m["status"].startswith("UNREACHABLE"):
            res["unreachable"] = True
        elif not m["status"].startswith("SUCCESS"):
            res["failed"] = True
        hosts[m["host"]] = res
    if not hosts:
        sys.exit(f"show_facts: ansible gave no result (exit {proc.returncode}):\n{proc.stderr}")
    return hosts


def yes(value: object) -> str:
    return "yes" if value else "no"


def show(host: str, res: dict) -> None:
    print(f"{host}")
    if res.get("unreachable") or res.get("failed"):
        print(f"  FAILED     {res.get('msg', '')}")
        return
    f = res.get("ansible_facts", {}).get("vmcsinfo", {})
    cpu = f.get("cpu", {})
    sig = cpu.get("signature")
    mc = cpu.get("microcode")
    print(
        f"  CPU        {cpu.get('vendor')} signature {sig:x}"
        if sig is not None
        else "  CPU        ?",
        f"microcode {mc:#x}" if mc is not None else "",
        f"VMX {yes(cpu.get('vmx'))}",
    )
    print(f"  kernel     {f.get('kernel')}")
    state = "available" if f.get("available") else "not available"
    print(f"  VMCSINFO   {state}, source {f.get('source')}")
    if f.get("reason"):
        print(f"  reason     {f['reason']}")
    if f.get("available"):
        rev, size = f.get("revision_id") or 0, f.get("region_size")
        print(f"  VMCS       revision {rev:#x}, region {size} bytes")
        print(f"  fields     {f.get('field_count')}, digest {f.get('digest')}")
        if f.get("stale"):
            print(f"  STALE      {f.get('stale_reason')}")
    snap = f.get("snapshot") or {}
    if snap.get("exists"):
        origin = f"origin {snap.get('origin')}, saved {snap.get('saved_at')}"
        if snap.get("source"):
            origin += f", from {snap['source']}"
        print(f"  snapshot   {snap.get('path')} ({origin})")
    mod = f.get("module", {})
    load = mod.get("load_result") or {}
    print(
        f"  module     installed {yes(mod.get('installed'))} {mod.get('version') or ''}".rstrip()
        + f", loaded {yes(mod.get('loaded'))}"
        + (f", signed by {mod['signed_by']}" if mod.get("signed_by") else "")
    )
    if load:
        print(f"  last load  {load.get('result')}: {load.get('reason')}")
    kd = f.get("kdump", {})
    print(
        f"  kdump      installed {yes(kd.get('installed'))}, crashkernel reserved "
        f"{yes(kd.get('crashkernel_reserved'))}, ready {yes(kd.get('ready'))}"
    )


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("-i", "--inventory", required=True)
    ap.add_argument("pattern", nargs="?", default="all")
    args = ap.parse_args()
    hosts = gather(args.inventory, args.pattern)
    if not hosts:
        print(f"show_facts: no hosts matched {args.pattern!r} in {args.inventory}")
        return 1
    for host in sorted(hosts):
        show(host, hosts[host])
    return 0 if all(not r.get("failed") and not r.get("unreachable") for r in hosts.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
