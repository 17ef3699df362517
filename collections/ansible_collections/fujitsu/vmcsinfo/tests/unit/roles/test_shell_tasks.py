"""No value is pasted into a shell script's text: every ansible.builtin.shell
task in the collection's roles and playbooks and in deploy.yml takes its
values through the environment (or `| quote`), so a path or value holding
a quote, a blank or `$(...)` can never become shell code (issue 11 fault 15:
secureboot.yml put the certificate path into `mokutil --import "..."`)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

COLLECTION = Path(__file__).resolve().parents[3]
FILES = sorted(
    [
        *COLLECTION.glob("roles/*/tasks/*.yml"),
        *COLLECTION.glob("playbooks/*.yml"),
        COLLECTION.parents[3] / "deploy.yml",
    ]
)
JINJA = re.compile(r"{{(.*?)}}", re.S)


def _shell_tasks(node):
    if isinstance(node, list):
        for x in node:
            yield from _shell_tasks(x)
    elif isinstance(node, dict):
        for key in ("ansible.builtin.shell", "shell"):
            if key in node:
                sh = node[key]
                yield node.get("name", "?"), sh["cmd"] if isinstance(sh, dict) else sh
        for v in node.values():
            if isinstance(v, (list, dict)):
                yield from _shell_tasks(v)


@pytest.mark.parametrize("path", FILES, ids=lambda p: str(p.relative_to(COLLECTION.parents[3])))
def test_no_template_in_shell_text(path: Path) -> None:
    bad = [
        (name, expr.strip())
        for name, cmd in _shell_tasks(yaml.safe_load(path.read_text()))
        for expr in JINJA.findall(str(cmd))
        if not re.search(r"\|\s*quote\s*$", expr.strip())
    ]
    assert not bad, f"{path.name}: values pasted into shell text: {bad}"
