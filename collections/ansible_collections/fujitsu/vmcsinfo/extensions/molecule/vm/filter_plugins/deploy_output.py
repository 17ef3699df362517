# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Read what an ansible-playbook deploy.yml run printed (vm scenario only)."""

from __future__ import annotations

import re

RECAP = re.compile(
    r"^(\S+)\s+:\s+ok=(\d+)\s+changed=(\d+)\s+unreachable=(\d+)\s+failed=(\d+)\s+"
    r"skipped=(\d+)\s+rescued=(\d+)\s+ignored=(\d+)",
    re.M,
)
ITEM = re.compile(r"^ok: \[[^\]]+\] => \(item=([^)]+)\) =>\s*$")


def deploy_recap(stdout: str) -> dict[str, dict[str, int]]:
    """PLAY RECAP counts per host."""
    keys = ("ok", "changed", "unreachable", "failed", "skipped", "rescued", "ignored")
    return {
        m[0]: dict(zip(keys, (int(x) for x in m[1:]), strict=True)) for m in RECAP.findall(stdout)
    }


def deploy_lines(stdout: str) -> dict[str, str]:
    """The fleet summary line per host (the last play's "One line per host")."""
    text = stdout.rsplit("TASK [One line per host]", 1)
    if len(text) < 2:
        return {}
    lines: dict[str, str] = {}
    host = None
    for line in text[1].splitlines():
        m = ITEM.match(line)
        if m:
            host = m.group(1)
            lines[host] = ""
        elif host and line.startswith("  "):
            part = line.strip()
            if part.startswith("msg:"):
                part = part[4:].strip()
            lines[host] = (lines[host] + " " + part).strip()
        else:
            host = None
    for h, v in lines.items():
        # the yaml result format quotes and folds long strings
        if len(v) > 1 and v[0] == v[-1] == "'":
            lines[h] = v[1:-1].replace("''", "'")
        elif len(v) > 1 and v[0] == v[-1] == '"':
            lines[h] = v[1:-1].replace('\\"', '"')
    return lines


class FilterModule:
    def filters(self) -> dict:
        return {"deploy_recap": deploy_recap, "deploy_lines": deploy_lines}
