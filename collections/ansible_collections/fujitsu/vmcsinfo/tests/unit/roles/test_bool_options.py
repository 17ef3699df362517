"""Every boolean option of the roles is read with `| bool` wherever the roles
decide on it. `-e vmcsinfo_load_at_boot=false` on the command line gives the
string "false", which meta/argument_specs.yml validates but does not convert:
ansible-core 2.19 then fails the task ("Conditional result ... of type str"),
halfway through the host (found by the container scenario's aborted run).
Passing the value on whole (a module or filter argument, which converts it) is
fine."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

ROLES = Path(__file__).resolve().parents[3] / "roles"
PLAYBOOKS = Path(__file__).resolve().parents[3] / "playbooks"
JINJA = re.compile(r"{{(.*?)}}", re.S)


def _bool_options() -> list[str]:
    out = set()
    for spec in ROLES.glob("*/meta/argument_specs.yml"):
        for entry in (yaml.safe_load(spec.read_text())["argument_specs"] or {}).values():
            for name, opt in (entry.get("options") or {}).items():
                if (opt or {}).get("type") == "bool":
                    out.add(name)
    return sorted(out)


BOOLS = _bool_options()
USE = re.compile(r"(?<![\w=])(" + "|".join(BOOLS) + r")\b(?!\s*\|\s*bool)(?!\s*=)")


def _expressions(node, in_when: bool = False):
    """(text, where) of every `when` condition and every {{ }} expression."""
    if isinstance(node, dict):
        for k, v in node.items():
            yield from _expressions(
                v, in_when=k in ("when", "failed_when", "changed_when", "until")
            )
    elif isinstance(node, list):
        for x in node:
            yield from _expressions(x, in_when)
    elif isinstance(node, str):
        if in_when:
            yield node
        for m in JINJA.finditer(node):
            expr = m.group(1).strip()
            if expr in BOOLS:  # passed on whole: the module or filter converts it
                continue
            yield expr


FILES = sorted(
    [
        *ROLES.glob("*/tasks/*.yml"),
        *ROLES.glob("*/handlers/*.yml"),
        *ROLES.glob("*/vars/*.yml"),
        *PLAYBOOKS.glob("*.yml"),
    ]
)


def test_there_are_boolean_options() -> None:
    assert "vmcsinfo_load_at_boot" in BOOLS and len(BOOLS) > 8


@pytest.mark.parametrize("path", FILES, ids=lambda p: str(p.relative_to(p.parents[2])))
def test_boolean_options_are_cast(path: Path) -> None:
    bad = []
    for expr in _expressions(yaml.safe_load(path.read_text())):
        for m in USE.finditer(expr):
            bad.append(f"{m.group(1)} in: {expr.strip()[:120]}")
    assert not bad, "\n".join(bad)
