#!/usr/bin/env python3
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Regenerate db/partial/ from the published files (issue 12): each file read from a git
directory at a commit (`git show COMMIT:PATH`), converted with fleetimport (the same
converter as `vmcsinfo-db import`), written as db/partial/<format>-<name>.vmcsinfo, and
recorded in db/partial/sources.json; SOURCES.md is written from sources.json.

    .venv/bin/python db/partial/regenerate.py --format volatility \\
        --repo volatilityfoundation/volatility3 --git-dir DIR [--commit SHA] \\
        --license "Volatility Software License 1.0" PATH...

The provenance `source` recorded for each text is what `vmcsinfo-db import --format F
--source github.com/REPO@COMMIT PATH` gives when run in a checkout of REPO at COMMIT.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "..", "collections"))

from ansible_collections.fujitsu.vmcsinfo.plugins.module_utils import (  # noqa: E402
    fleetimport,
)

MANIFEST = os.path.join(HERE, "sources.json")


def out_name(fmt: str, path: str, conv: fleetimport.Conversion) -> str:
    base = os.path.basename(path)
    if fmt == "volatility":
        stem = base.removesuffix(".json").removesuffix("-architecture")
    elif fmt == "actaeon":
        stem = base.removesuffix(".py")
    else:
        stem = conv.name
    return f"{fmt}-{stem.lower()}.vmcsinfo"


def write_sources_md(manifest: dict) -> None:
    lines = [
        "# Partial published VMCS layouts of real CPUs (issue 12)",
        "",
        "Converted by `db/partial/regenerate.py` with fleetimport.py (the converter of",
        "`vmcsinfo-db import`). For the offline dump reader only: the database stores them",
        "as partial (provenance kind `import`, `partial: true`), lists them and never serves",
        "them to a host. Each text says `PARTIAL=1`. The `source` of each entry below is its",
        "provenance source: it names every assumption (CPU signature from a",
        "microarchitecture or model name, microcode 0 = unknown, region size, synthesized",
        "VMX_BASIC, and for actaeon's haswell and nehalem the revision id).",
        "",
        "Cross-check (at conversion): where two sources give a field of one revision id",
        "(Volatility, actaeon and vmcsreverse for 0xe and 0x10; Volatility and actaeon for",
        "0xf and 0x12; Volatility and vmcsreverse for 4), they agree on every such field.",
        "",
    ]
    repos: dict[str, list[str]] = {}
    for name, rec in sorted(manifest.items()):
        repos.setdefault(rec["repo"], []).append(name)
    for repo, names in sorted(repos.items()):
        first = manifest[names[0]]
        lines += [
            f"## {repo}",
            "",
            f"- repository: https://github.com/{repo}",
            f"- commit: {first['commit']}",
            f"- license: {first['license']}",
            f"- format: `{first['format']}`",
            "",
            "| file | source path | revision id | CPU signature (assumed) | fields | not taken |",
            "|---|---|---|---|---|---|",
        ]
        for name in names:
            rec = manifest[name]
            lines.append(
                f"| {name} | {rec['path']} | {rec['revision_id']} | {rec['cpu_signature']} "
                f"({rec['cpu']}) | {rec['fields']} | {len(rec['not_taken'])} |"
            )
        lines.append("")
        for name in names:
            rec = manifest[name]
            lines += [f"### {name}", "", f"source: {rec['source']}", ""]
            noted = [f"- {n}: {w}" for n, w in rec["not_taken"] if not w.startswith("fault")]
            faults = [n for n, w in rec["not_taken"] if w.startswith(("fault", "failed"))]
            if noted:
                lines += ["Not taken:", "", *noted, ""]
            if faults:
                lines += [
                    f"VMWRITE refused (fault/failed: unsupported or read-only), not in the "
                    f"result: {', '.join(faults)}",
                    "",
                ]
    with open(os.path.join(HERE, "SOURCES.md"), "w", encoding="ascii") as f:
        f.write("\n".join(lines).rstrip("\n") + "\n")


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--format", required=True, choices=fleetimport.FORMATS)
    p.add_argument("--repo", required=True, help="OWNER/NAME on GitHub")
    p.add_argument("--git-dir", required=True)
    p.add_argument("--commit", help="default: the git directory's HEAD")
    p.add_argument("--license", required=True, help="the source repository's license")
    p.add_argument("paths", nargs="+", metavar="PATH")
    args = p.parse_args()
    git = ["git", "--git-dir", args.git_dir]
    commit = args.commit or subprocess.check_output([*git, "rev-parse", "HEAD"], text=True)
    commit = commit.strip()
    manifest = {}
    if os.path.exists(MANIFEST):
        with open(MANIFEST, encoding="ascii") as f:
            manifest = json.load(f)
    for path in args.paths:
        text = subprocess.check_output([*git, "show", f"{commit}:{path}"]).decode("ascii")
        conv = fleetimport.convert(args.format, text, path)
        name = out_name(args.format, path, conv)
        with open(os.path.join(HERE, name), "w", encoding="ascii") as f:
            f.write(conv.text)
        manifest[name] = {
            "format": args.format,
            "repo": args.repo,
            "path": path,
            "commit": commit,
            "license": args.license,
            "revision_id": f"{conv.info.revision_id:x}",
            "cpu_signature": f"{conv.info.cpu_signature:x}",
            "cpu": conv.cpu.what,
            "fields": len(conv.info.fields),
            "not_taken": [list(s) for s in conv.skipped],
            "source": f"github.com/{args.repo}@{commit[:12]}; {conv.source}",
        }
        print(f"{name}: {len(conv.info.fields)} fields, {len(conv.skipped)} not taken")
    with open(MANIFEST, "w", encoding="ascii") as f:
        json.dump(manifest, f, indent=1, sort_keys=True)
        f.write("\n")
    write_sources_md(manifest)
    return 0


if __name__ == "__main__":
    sys.exit(main())
