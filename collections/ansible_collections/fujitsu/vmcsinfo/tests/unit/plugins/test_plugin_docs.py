"""Every plugin's documentation is valid YAML (a ': ' in a plain scalar once
broke the fingerprint lookup at load time, in every play that used it), and
each filter has its sidecar document."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest
import yaml

PLUGINS = Path(__file__).resolve().parent.parents[2] / "plugins"
SOURCES = sorted([*PLUGINS.glob("modules/*.py"), *PLUGINS.glob("lookup/*.py")])


def _docs(path: Path) -> dict[str, str]:
    out = {}
    for node in ast.parse(path.read_text()).body:
        if isinstance(node, ast.Assign) and isinstance(node.value, ast.Constant):
            for t in node.targets:
                if isinstance(t, ast.Name) and t.id in ("DOCUMENTATION", "EXAMPLES", "RETURN"):
                    out[t.id] = node.value.value
    return out


@pytest.mark.parametrize("path", SOURCES, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_docs_are_yaml(path: Path) -> None:
    docs = _docs(path)
    assert "DOCUMENTATION" in docs
    for text in docs.values():
        yaml.safe_load(text)  # raises on a broken document


FILTER_FILES = sorted(p.stem for p in PLUGINS.glob("filter/*.py") if p.stem != "__init__")


@pytest.mark.parametrize("stem", FILTER_FILES)
def test_every_filter_has_a_document(stem: str) -> None:
    import importlib

    mod = importlib.import_module(f"ansible_collections.fujitsu.vmcsinfo.plugins.filter.{stem}")
    names = mod.FilterModule().filters()
    assert names
    for name in names:
        doc = yaml.safe_load((PLUGINS / "filter" / f"{name}.yml").read_text())
        assert doc["DOCUMENTATION"]["name"] == name
        opts = doc["DOCUMENTATION"].get("options") or {}
        assert "_input" in opts, name
