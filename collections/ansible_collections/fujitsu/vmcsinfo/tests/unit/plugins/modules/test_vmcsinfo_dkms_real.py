# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""vmcsinfo_dkms against real dkms (issue 11 fault 4): a failed rebuild of the
installed version leaves DKMS and the installed module as they were.

`dkms build --force` of the installed version deletes DKMS's built directory
before it builds; when the build then failed, DKMS forgot the module while the
.ko stayed installed, and `state: absent` left it there. These tests run the
module (option `root`) on a private DKMS tree, source tree and install tree
under tmp_path, with real kernel headers (the ones scripts/kernels.sh caches,
which `make test` fills before this step, or /lib/modules/*/build) and a tiny
module (tests/unit/fixtures/dkms-rebuild) whose build fails while a file
broken.h lies beside its source.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest
from ansible.module_utils.testing import patch_module_args

from ansible_collections.fujitsu.vmcsinfo.plugins.modules import vmcsinfo_dkms

FIXTURE = Path(__file__).resolve().parents[2] / "fixtures" / "dkms-rebuild"
VERSION = "0.0.1"
ARCH = os.uname().machine
DKMS = shutil.which("dkms", path=os.environ.get("PATH", "") + os.pathsep + "/usr/sbin:/sbin")


def _version_key(kernel: str) -> list[int]:
    return [int(n) for n in re.findall(r"\d+", kernel)]


def kernel_headers() -> dict[str, Path]:
    """Kernel release -> kbuild directory, of every kernel with headers here."""
    found: dict[str, Path] = {}
    cache = Path(os.environ.get("VMCSINFO_CACHE") or Path.home() / ".cache" / "vmcsinfo")
    for mk in sorted(cache.glob("kernels/*/headers/usr/src/linux-headers-*/Makefile")):
        abi = mk.parents[4].name
        if mk.parent.name == f"linux-headers-{abi}" and (mk.parent / "scripts").is_dir():
            found[abi] = mk.parent
    for mk in sorted(Path("/lib/modules").glob("*/build/Makefile")):
        found.setdefault(mk.parents[1].name, mk.parent)
    return dict(sorted(found.items(), key=lambda kv: _version_key(kv[0])))


HEADERS = kernel_headers()
NEEDS = (
    "dkms is not installed (scripts/install-deps.sh installs it)"
    if DKMS is None
    else "no kernel headers (scripts/kernels.sh headers 6.1 caches them)"
    if not HEADERS
    else "dkms install needs root"
    if os.geteuid() != 0
    else None
)
pytestmark = pytest.mark.skipif(NEEDS is not None, reason=NEEDS or "")


class Host:
    """A private root: var/lib/dkms, usr/src/vmcsinfo-0.0.1, lib/modules/K/build."""

    def __init__(self, root: Path, kernels: list[str]) -> None:
        self.root = root
        self.kernels = kernels
        self.dkms_tree = root / "var/lib/dkms"
        self.src = root / "usr/src" / f"vmcsinfo-{VERSION}"
        self.dkms_tree.mkdir(parents=True)
        shutil.copytree(FIXTURE, self.src)
        for k in kernels:
            (root / "lib/modules" / k).mkdir(parents=True)
            (root / "lib/modules" / k / "build").symlink_to(HEADERS[k])

    def run(self, capsys: pytest.CaptureFixture[str], **args: object) -> dict:
        args = {"version": VERSION, "kernels": self.kernels, "root": str(self.root), **args}
        with patch_module_args(args), pytest.raises(SystemExit):
            vmcsinfo_dkms.main()
        out = json.loads(capsys.readouterr().out)
        assert not list(self.dkms_tree.glob(".vmcsinfo-rollback-*")), "a rollback copy was left"
        return out

    def status(self) -> list[str]:
        trees = ["--dkmstree", str(self.dkms_tree), "--sourcetree", str(self.root / "usr/src")]
        trees += ["--installtree", str(self.root / "lib/modules")]
        argv = [str(DKMS), "status", "-m", "vmcsinfo", *trees]
        proc = subprocess.run(argv, capture_output=True, text=True, check=True)
        return proc.stdout.splitlines()

    def installed_ko(self, kernel: str) -> Path:
        return self.root / "lib/modules" / kernel / "updates/dkms/vmcsinfo.ko"

    def built_ko(self, kernel: str) -> Path:
        return self.dkms_tree / "vmcsinfo" / VERSION / kernel / ARCH / "module/vmcsinfo.ko"

    def break_build(self, text: str) -> None:
        (self.src / "broken.h").write_text(text)

    def mend_build(self) -> None:
        (self.src / "broken.h").unlink()


BROKEN = '#error "deliberately broken for the rollback test"\n'


def test_a_failed_rebuild_of_the_installed_version_keeps_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    k = next(iter(HEADERS))
    host = Host(tmp_path / "root", [k])
    first = host.run(capsys)
    assert not first.get("failed"), first["msg"]
    assert first["changed"] and first["built"] == [k] and first["installed"] == [k]
    assert first["kernels"][k]["path"] == str(host.installed_ko(k))
    assert host.status() == [f"vmcsinfo/{VERSION}, {k}, {ARCH}: installed"]
    ko = host.installed_ko(k).read_bytes()

    again = host.run(capsys)
    assert not again["changed"] and again["built"] == []
    check = host.run(capsys, rebuild=True, _ansible_check_mode=True)
    assert check["changed"] and check["built"] == []
    assert check["kernels"][k]["action"] == "would build"

    host.break_build(BROKEN)
    failed = host.run(capsys, rebuild=True)
    assert failed["failed"]
    assert f"building vmcsinfo {VERSION} for kernel {k} failed" in failed["msg"]
    assert "deliberately broken" in failed["msg"]
    assert f"Nothing was replaced: vmcsinfo {VERSION} is still installed" in failed["msg"]
    # ... and it is: DKMS still knows it, with the build the installed .ko came from.
    assert host.status() == [f"vmcsinfo/{VERSION}, {k}, {ARCH}: installed"]
    assert host.installed_ko(k).read_bytes() == ko
    assert host.built_ko(k).read_bytes() == ko

    # The next run sees what is installed as before: nothing to do ...
    assert not host.run(capsys)["changed"]
    # ... and a mended source rebuilds.
    host.mend_build()
    rebuilt = host.run(capsys, rebuild=True)
    assert not rebuilt.get("failed"), rebuilt["msg"]
    assert rebuilt["built"] == [k] and rebuilt["installed"] == [k]
    assert host.status() == [f"vmcsinfo/{VERSION}, {k}, {ARCH}: installed"]

    # state=absent removes what a failed rebuild left installed.
    host.break_build(BROKEN)
    assert host.run(capsys, rebuild=True)["failed"]
    gone = host.run(capsys, state="absent", kernels=[])
    assert gone["changed"] and gone["removed_versions"] == [VERSION]
    assert host.status() == []
    assert not host.installed_ko(k).exists()
    assert not host.src.exists()


def _version_code(kbuild: Path) -> int | None:
    """LINUX_VERSION_CODE of a kernel's headers."""
    for rel in ("include/generated/uapi/linux/version.h", "include/linux/version.h"):
        path = kbuild / rel
        if path.is_file():
            m = re.search(r"LINUX_VERSION_CODE\s+(\d+)", path.read_text())
            if m:
                return int(m[1])
    return None


def _two_kernels() -> list[str]:
    """Two kernels whose headers have different version codes, oldest first."""
    seen: dict[int, str] = {}
    for k, kbuild in HEADERS.items():
        code = _version_code(kbuild)
        if code is not None:
            seen.setdefault(code, k)
    return [seen[c] for c in sorted(seen)][:2]


@pytest.mark.skipif(len(_two_kernels()) < 2, reason="headers of two kernel versions are needed")
def test_a_rebuild_failing_on_the_second_kernel_keeps_the_first_kernels_build(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    first_k, second_k = _two_kernels()
    host = Host(tmp_path / "root", [first_k, second_k])
    assert not host.run(capsys).get("failed")
    before = {k: host.installed_ko(k).read_bytes() for k in host.kernels}

    # The first kernel's rebuild succeeds (and makes a different module), the
    # second kernel's fails.
    code = _version_code(HEADERS[first_k])
    host.break_build(
        "#include <linux/version.h>\n"
        f"#if LINUX_VERSION_CODE == {code}\n"
        'MODULE_INFO(rebuild, "new");\n'
        "#else\n" + BROKEN + "#endif\n"
    )
    failed = host.run(capsys, rebuild=True)
    assert failed["failed"]
    assert failed["built"] == [first_k]
    assert f"building vmcsinfo {VERSION} for kernel {second_k} failed" in failed["msg"]
    assert f"Nothing was replaced: vmcsinfo {VERSION} is still installed" in failed["msg"]
    assert host.status() == [f"vmcsinfo/{VERSION}, {k}, {ARCH}: installed" for k in host.kernels]
    for k in host.kernels:
        assert host.installed_ko(k).read_bytes() == before[k]
        assert host.built_ko(k).read_bytes() == before[k], (
            f"{k}: DKMS's build is not the installed one"
        )

    gone = host.run(capsys, state="absent", kernels=[])
    assert gone["removed_versions"] == [VERSION]
    assert host.status() == []
    assert not any(host.installed_ko(k).exists() for k in host.kernels)


def test_a_rebuild_killed_midway_is_recovered_by_the_next_run(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A run killed after it moved the installed build aside (and before it put
    it back) left DKMS without the module while its .ko stayed installed: the
    next run moves it back first, so `absent` then removes the .ko."""
    from ansible_collections.fujitsu.vmcsinfo.plugins.module_utils import dkms as du

    k = next(iter(HEADERS))
    host = Host(tmp_path / "root", [k])
    assert not host.run(capsys).get("failed")

    class Module:
        check_mode = False

        @staticmethod
        def get_bin_path(name: str, required: bool = False) -> str | None:
            return shutil.which(name, path=os.environ.get("PATH", "") + os.pathsep + "/usr/sbin")

    # What the killed run did: keep() and nothing after it.
    dkms = du.Dkms(Module(), str(host.root))  # type: ignore[arg-type]
    du.Rollback(dkms, VERSION).keep(k)
    assert host.status() != [f"vmcsinfo/{VERSION}, {k}, {ARCH}: installed"]
    assert list(host.dkms_tree.glob(".vmcsinfo-rollback-*"))
    # What the next run does first (in check mode it only says so; the module
    # passes these lines on as warnings) ...
    said = du.recover(dkms, check_mode=True)
    assert said == [f"restored the build of {VERSION} for {k} that a killed run kept aside"]
    assert list(host.dkms_tree.glob(".vmcsinfo-rollback-*"))

    # ... and the next run does it: DKMS knows the module again, absent removes it.
    out = host.run(capsys, state="absent")
    assert not out.get("failed"), out
    assert not host.installed_ko(k).exists()
    assert host.status() == []


def test_publish_writes_whole_tarballs_only(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """mode=publish: real `dkms mktarball`, the tarball renamed into place (no
    temporary copy left), and it lists the built module."""
    import tarfile

    k = next(iter(HEADERS))
    host = Host(tmp_path / "root", [k])
    tar_dir = tmp_path / "tarballs"
    out = host.run(capsys, mode="publish", tarball_dir=str(tar_dir))
    assert not out.get("failed"), out.get("msg")
    name = f"vmcsinfo-{VERSION}-kernel-{k}-{ARCH}.dkms.tar.gz"
    assert sorted(p.name for p in tar_dir.iterdir()) == [name]
    assert out["kernels"][k]["tarball"] == str(tar_dir / name)
    assert (tar_dir / name).stat().st_mode & 0o777 == 0o644
    with tarfile.open(tar_dir / name) as t:
        assert any(m.name.endswith("vmcsinfo.ko") for m in t.getmembers())
