"""Test helper: run the venv's ansible commands against this collection's tree."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

BIN = Path(sys.executable).parent
COLLECTIONS = Path(__file__).resolve().parents[7]


def run(
    tmp_path: Path, command: str, *args: str, timeout: int = 180
) -> subprocess.CompletedProcess:
    """`command` (ansible, ansible-playbook) from the venv with the collection on
    its path and an ANSIBLE_HOME of its own under tmp_path."""
    tool = BIN / command
    assert tool.exists(), f"{tool} is missing: make venv installs ansible-core"
    env = dict(
        os.environ,
        ANSIBLE_COLLECTIONS_PATH=str(COLLECTIONS),
        ANSIBLE_LOCALHOST_WARNING="false",
        ANSIBLE_HOME=str(tmp_path / "ansible-home"),
        ANSIBLE_NOCOLOR="1",
    )
    return subprocess.run(
        [str(tool), *args],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def adhoc_result(proc: subprocess.CompletedProcess) -> dict:
    """The JSON result of a one-host `ansible localhost -m ...` run that succeeded."""
    assert proc.returncode == 0, proc.stdout + proc.stderr
    head, sep, body = proc.stdout.partition(" => ")
    assert sep and head.strip() == "localhost | SUCCESS", proc.stdout
    return json.loads(body)
