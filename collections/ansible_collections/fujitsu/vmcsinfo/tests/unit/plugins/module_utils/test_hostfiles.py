"""hostfiles.read_bounded: how a root-run reader takes a host file."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from ansible_collections.fujitsu.vmcsinfo.plugins.module_utils.hostfiles import (
    HostFileError,
    read_bounded,
)


def test_reads_a_small_regular_file(tmp_path: Path) -> None:
    f = tmp_path / "f"
    f.write_bytes(b"x" * 10)
    assert read_bounded(str(f), 10) == b"x" * 10


@pytest.mark.parametrize(
    ("make", "why"),
    [
        (lambda t: os.symlink(t / "target", t / "f"), r"is a symbolic link \(not followed\)"),
        (lambda t: os.mkfifo(t / "f"), "not a regular file"),
        (lambda t: (t / "f").write_bytes(b"x" * 11), "larger than 10 bytes"),
        (lambda t: (t / "f").mkdir(), "not a regular file"),
        (lambda t: None, "cannot open"),
    ],
)
def test_refuses(tmp_path: Path, make, why: str) -> None:
    (tmp_path / "target").write_text("root only\n")
    make(tmp_path)
    with pytest.raises(HostFileError, match=why):
        read_bounded(str(tmp_path / "f"), 10)
