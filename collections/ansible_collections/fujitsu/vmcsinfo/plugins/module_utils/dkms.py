# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The DKMS state machine of the vmcsinfo_dkms module: build, sign, install and
remove the vmcsinfo DKMS package, safely.

`present` runs in four phases, each a function:
  plan     reads DKMS's state and decides what to do; the only place check mode
           decides anything (after it, check mode has returned);
  prepare  builds (or loads binaries-only tarballs of) the version for every
           kernel that needs it, with a Rollback of what a same-version rebuild
           replaces;
  install  swaps the installed module kernel by kernel, rolling back the kernel
           that failed;
  publish  packs tarballs and removes old versions.
"""

from __future__ import annotations

import os
import re
import shutil
import tempfile
from dataclasses import dataclass, field

from ansible.module_utils.basic import AnsibleModule

PACKAGE = "vmcsinfo"
_STATUS_RE = re.compile(
    r"^vmcsinfo[/,]\s*(?P<version>[^,:\s]+)"
    r"(?:,\s*(?P<kernel>[^,:\s]+),\s*(?P<arch>[^:\s]+))?:\s*(?P<state>\w+)"
)


class DkmsError(Exception):
    pass


class Dkms:
    """dkms on this host, or on the trees of a system mounted at `root`."""

    def __init__(self, module: AnsibleModule, root: str = "/", required: bool = True) -> None:
        self.module = module
        # Without DKMS (check mode before the role installs it, or state=absent on a host
        # that never had it) every dkms command is a no-op: there is nothing registered.
        self.bin = module.get_bin_path("dkms", required=required and not module.check_mode)
        self.arch = os.uname().machine
        self.root = os.path.abspath(root or "/")
        self.dkms_tree = self.path("/var/lib/dkms")
        self.source_tree = self.path("/usr/src")
        self.install_tree = self.path("/lib/modules")
        # Under another root DKMS is told where its trees are, and depmod
        # (which DKMS runs without a base directory) is run here with one.
        self.tree_opts: list[str] = []
        if self.root != "/":
            self.tree_opts = [
                "--dkmstree",
                self.dkms_tree,
                "--sourcetree",
                self.source_tree,
                "--installtree",
                self.install_tree,
                "--no-depmod",
            ]

    def path(self, absolute: str) -> str:
        """An absolute path of the managed system, under root."""
        if self.root == "/":
            return absolute
        return os.path.join(self.root, absolute.lstrip("/"))

    def src(self, version: str) -> str:
        return os.path.join(self.source_tree, f"{PACKAGE}-{version}")

    def headers(self, kernel: str) -> str:
        return os.path.join(self.install_tree, kernel, "build")

    def built(self, version: str, kernel: str) -> str:
        """DKMS's directory of the module built for kernel (module/, log/)."""
        return os.path.join(self.dkms_tree, PACKAGE, version, kernel, self.arch)

    def run(self, *args: str, check: bool = True) -> tuple[int, str]:
        if self.bin is None:  # DKMS not installed (check mode, or absent): nothing registered
            return 0, ""
        rc, out, err = self.module.run_command([self.bin, *args, *self.tree_opts])
        text = (out or "") + (err or "")
        if check and rc != 0:
            raise DkmsError(f"dkms {' '.join(args)} failed (exit {rc}): {text.strip()[-1500:]}")
        return rc, text

    def build_opts(self, kernel: str) -> list[str]:
        """Where `dkms build` finds the kernel's headers, when not DKMS's default."""
        return [] if self.root == "/" else ["--kernelsourcedir", self.headers(kernel)]

    def depmod(self, kernels: list[str]) -> None:
        """depmod under root (on this host DKMS has run it)."""
        tool = self.module.get_bin_path("depmod") if self.root != "/" else None
        for k in kernels if tool else []:
            if os.path.isdir(os.path.join(self.install_tree, k)):
                self.module.run_command([tool, "-b", self.root, "-a", k])

    def status(self) -> list[dict[str, str | None]]:
        """Entries of `dkms status -m vmcsinfo`: version, kernel, arch, state."""
        out = self.run("status", "-m", PACKAGE, check=False)[1]
        entries = []
        for line in out.splitlines():
            m = _STATUS_RE.match(line.strip())
            if m:
                entries.append(m.groupdict())
        return entries

    def modinfo(self, kernel: str) -> dict[str, str | None]:
        return modinfo(self.module, kernel, None if self.root == "/" else self.root)


def tail(path: str, lines: int = 25) -> str:
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            return "".join(f.readlines()[-lines:]).rstrip()
    except OSError:
        return f"(no build log at {path})"


def cert_identity(module: AnsibleModule, path: str | None) -> dict[str, str] | None:
    """What modinfo reports for a module signed with the certificate at path:
    signer (kmod takes it from the issuer's CN, not the subject's) and sig_key
    (the serial number, colon-separated hex). None without a certificate."""
    if not path or not os.path.exists(path):
        return None
    openssl = module.get_bin_path("openssl")
    if not openssl:
        return None
    with open(path, "rb") as f:
        der = f.read(2)[:1] == b"\x30"
    form = "DER" if der else "PEM"
    argv = [openssl, "x509", "-inform", form, "-in", path, "-noout", "-serial", "-issuer"]
    rc, out = module.run_command([*argv, "-nameopt", "multiline"])[:2]
    if rc != 0:
        module.fail_json(msg=f"{path} is not a readable X.509 certificate: fix or replace it")
    serial = issuer_cn = None
    for line in out.splitlines():
        key, _sep, value = line.strip().partition("=")
        if key.strip() == "serial":
            serial = value.strip()
        elif key.strip() == "commonName" and issuer_cn is None:
            issuer_cn = value.strip()
    if not serial:
        module.fail_json(msg=f"{path}: openssl gave no serial number for the certificate")
    return {"signer": issuer_cn or "", "sig_key": sig_key_form(serial)}


def sig_key_form(serial_hex: str) -> str:
    """A serial number as modinfo prints sig_key: uppercase hex byte pairs with colons."""
    digits = serial_hex.replace(":", "").strip().upper()
    if len(digits) % 2:
        digits = "0" + digits
    return ":".join(digits[i : i + 2] for i in range(0, len(digits), 2))


def signed_by(entry: dict, expected: dict[str, str] | None) -> bool:
    """Whether a module's modinfo entry says it was signed with the expected key."""
    if expected is None:
        return True
    have = sig_key_form(entry.get("sig_key") or "") if entry.get("sig_key") else ""
    return have == expected["sig_key"] and (entry.get("signer") or "") == expected["signer"]


def modinfo(
    module: AnsibleModule, kernel: str, basedir: str | None = None
) -> dict[str, str | None]:
    """Path, version, vermagic and signer of the vmcsinfo module installed for kernel
    (under basedir/lib/modules when basedir is given)."""
    tool = module.get_bin_path("modinfo")
    info: dict[str, str | None] = {
        "path": None,
        "vermagic": None,
        "signer": None,
        "sig_key": None,
        "modversion": None,
    }
    if not tool:
        return info
    base = ["-b", basedir] if basedir else []
    for key, name in (
        ("path", "filename"),
        ("vermagic", "vermagic"),
        ("signer", "signer"),
        ("sig_key", "sig_key"),
        ("modversion", "version"),
    ):
        rc, out = module.run_command([tool, *base, "-k", kernel, "-F", name, PACKAGE])[:2]
        value = out.strip() if rc == 0 else ""
        info[key] = value or None
    return info


def new_entry(version: str | None, status: str, action: str) -> dict[str, str | None]:
    """One kernel's entry in the result, with every key present."""
    entry: dict[str, str | None] = {"version": version, "status": status, "action": action}
    entry.update(path=None, vermagic=None, signer=None, sig_key=None, modversion=None, tarball=None)
    return entry


def new_result() -> dict:
    """The module's result before anything ran (RETURN documents every key)."""
    return {
        "changed": False,
        "kernels": {},
        "built": [],
        "installed": [],
        "removed_versions": [],
        "expected_signer": None,
        "expected_sig_key": None,
        "previous_versions": [],
    }


def tarball_name(version: str, kernel: str, arch: str) -> str:
    return f"{PACKAGE}-{version}-kernel-{kernel}-{arch}.dkms.tar.gz"


def remove_version(dkms: Dkms, version: str) -> None:
    kernels = []
    if dkms.root != "/":  # depmod after the removal is then ours to run
        kernels = [e["kernel"] for e in dkms.status() if e["version"] == version and e["kernel"]]
    dkms.run("remove", "-m", PACKAGE, "-v", version, "--all", check=False)
    shutil.rmtree(dkms.src(version), ignore_errors=True)
    dkms.depmod(kernels)


def absent(module: AnsibleModule, dkms: Dkms, result: dict) -> None:
    versions = sorted({e["version"] for e in dkms.status() if e["version"]})
    tree = dkms.source_tree
    sources = sorted(
        d[len(PACKAGE) + 1 :]
        for d in (os.listdir(tree) if os.path.isdir(tree) else [])
        if d.startswith(f"{PACKAGE}-")
    )
    gone = sorted(set(versions) | set(sources))
    result["previous_versions"] = versions
    result["removed_versions"] = gone
    if gone:
        result["changed"] = True
        if not module.check_mode:
            for version in gone:
                remove_version(dkms, version)


class Rollback:
    """What a same-version rebuild replaces, kept until the new build is installed.

    `dkms build --force` of the installed version first deletes DKMS's built
    directory (<dkms_tree>/vmcsinfo/<version>/<kernel>/<arch>) while the .ko
    stays in /lib/modules and the kernel-<kernel>-<arch> link dangles: a failed
    build then leaves a module DKMS no longer knows, which `dkms remove` (and so
    state=absent) does not remove. So before such a build the directory is
    moved aside (a rename within the DKMS tree: atomic, no copy, and a dot
    directory that `dkms status` never lists) and the build runs without
    anything to unbuild; on failure the directory is moved back, and DKMS, the
    link and the installed .ko are exactly as before. A fresh DKMS version for
    the build was rejected: the version is the package's (dkms.conf, the
    tarball names, modinfo's version), so it would have to be built twice.
    """

    def __init__(self, dkms: Dkms, version: str) -> None:
        self.dkms = dkms
        self.version = version
        self.saved: dict[str, str] = {}
        self.stash: str | None = None

    def keep(self, kernel: str) -> None:
        """Move the installed build of kernel aside (nothing when there is none)."""
        built = self.dkms.built(self.version, kernel)
        if not os.path.isdir(built):
            return
        if self.stash is None:
            self.stash = tempfile.mkdtemp(prefix=f".{PACKAGE}-rollback-", dir=self.dkms.dkms_tree)
        # <stash>/<version>/<kernel>: what recover() needs to put it back
        # should this run be killed before restore() or discard().
        aside = os.path.join(self.stash, self.version, kernel)
        os.makedirs(os.path.dirname(aside), exist_ok=True)
        os.rename(built, aside)
        self.saved[kernel] = aside

    def restore(self, kernels: list[str]) -> list[str]:
        """Put back what keep() moved aside for kernels; the ones restored."""
        done = []
        for k in kernels:
            aside = self.saved.pop(k, None)
            if aside is None:
                continue
            built = self.dkms.built(self.version, k)
            shutil.rmtree(built, ignore_errors=True)
            os.makedirs(os.path.dirname(built), exist_ok=True)
            os.rename(aside, built)
            done.append(k)
        return done

    def discard(self) -> None:
        self.saved.clear()
        if self.stash is not None:
            shutil.rmtree(self.stash, ignore_errors=True)
            self.stash = None


def recover(dkms: Dkms, check_mode: bool) -> list[str]:
    """Finish what a killed run left between Rollback.keep() and its restore()
    or discard(): a build moved aside whose place in the DKMS tree is empty is
    moved back (DKMS knows the installed module again, so `absent` removes
    it); one whose place holds a newer build is dropped. Returns what it did,
    one line each (what it would do, in check mode)."""
    done: list[str] = []
    try:
        stashes = sorted(
            e.path
            for e in os.scandir(dkms.dkms_tree)
            if e.name.startswith(f".{PACKAGE}-rollback-") and e.is_dir(follow_symlinks=False)
        )
    except FileNotFoundError:
        return done
    for stash in stashes:
        for version in sorted(os.listdir(stash)):
            vdir = os.path.join(stash, version)
            for kernel in sorted(os.listdir(vdir)) if os.path.isdir(vdir) else []:
                aside = os.path.join(vdir, kernel)
                built = dkms.built(version, kernel)
                if os.path.isdir(built):
                    done.append(
                        f"dropped the kept build of {version} for {kernel} (a newer one is there)"
                    )
                    if not check_mode:
                        shutil.rmtree(aside)
                else:
                    done.append(
                        f"restored the build of {version} for {kernel} that a killed run kept aside"
                    )
                    if not check_mode:
                        os.makedirs(os.path.dirname(built), exist_ok=True)
                        os.rename(aside, built)
        if not check_mode:
            shutil.rmtree(stash)
    return done


@dataclass
class Plan:
    """What present() does, decided by plan()."""

    version: str
    mode: str
    kernels: list[str]
    tar_dir: str
    todo: list[str]  # kernels to build (or load) and install
    publish_todo: list[str]  # kernels to pack a tarball for
    installed: dict[str, str] = field(default_factory=dict)  # kernel: version before
    known_versions: set[str] = field(default_factory=set)
    expected: dict[str, str] | None = None

    def tarball(self, kernel: str, arch: str) -> str:
        return os.path.join(self.tar_dir, tarball_name(self.version, kernel, arch))


def _check_sources(
    module: AnsibleModule, dkms: Dkms, version: str, kernels: list[str], mode: str
) -> bool:
    """Fails when the source or headers a build needs are missing; False when
    check mode must report a change for a source not there yet."""
    src = dkms.src(version)
    if not os.path.isfile(os.path.join(src, "dkms.conf")):
        if module.check_mode:
            return False
        if mode != "tarball":
            module.fail_json(
                msg=f"{src}/dkms.conf is missing: copy the vmcsinfo source there first"
            )
    if mode != "tarball" and not module.check_mode:
        missing = [k for k in kernels if not os.path.exists(dkms.headers(k))]
        if missing:
            module.fail_json(
                msg="no kernel headers for "
                + ", ".join(f"{k} ({dkms.headers(k)})" for k in missing)
                + ": install the headers package for each (Debian: linux-headers-<kernel>, "
                "RHEL: kernel-devel-<kernel>) or drop the kernel from the list",
                missing_kernels=missing,
            )
    return True


def _check_tarballs(module: AnsibleModule, dkms: Dkms, plan: Plan) -> None:
    not_here = [k for k in plan.todo if not os.path.isdir(os.path.join(dkms.install_tree, k))]
    if not_here:
        module.fail_json(
            msg="kernel(s) "
            + ", ".join(not_here)
            + " are not installed on this host (no /lib/modules/<kernel>): install the "
            "kernel first, or drop it from the list",
            missing_kernels=not_here,
        )
    absent_tars = [k for k in plan.todo if not os.path.isfile(plan.tarball(k, dkms.arch))]
    if absent_tars:
        module.fail_json(
            msg="no binaries-only tarball of vmcsinfo "
            + plan.version
            + " for kernel(s) "
            + ", ".join(absent_tars)
            + f" in {plan.tar_dir}: run the build role with mode publish on a builder host "
            "that has those kernels' headers first",
            missing_kernels=absent_tars,
        )


def plan(module: AnsibleModule, dkms: Dkms, result: dict) -> Plan | None:
    """What to build, install and publish; None when there is nothing to run
    (nothing to do, or check mode, which has then filled in the result)."""
    p = module.params
    version, kernels, mode = p["version"], p["kernels"], p["mode"]
    if not version:
        module.fail_json(msg="version is required with state=present")
    if not kernels:
        module.fail_json(msg="kernels is required with state=present: name at least one kernel")
    if module.check_mode and dkms.bin is None:
        # A first run in check mode: the package install before this did not happen.
        result["changed"] = True
        for k in kernels:
            result["kernels"][k] = new_entry(None, "absent", "would install DKMS and build")
        return None
    if not _check_sources(module, dkms, version, kernels, mode):
        result["changed"] = True  # check mode: the source is not in place yet

    entries = dkms.status()
    installed = {e["kernel"]: e["version"] for e in entries if e["state"] == "installed"}
    result["previous_versions"] = sorted(set(installed.values()))
    expected = cert_identity(module, p["signing_certificate"]) if mode != "tarball" else None
    result["expected_signer"] = expected["signer"] if expected else None
    result["expected_sig_key"] = expected["sig_key"] if expected else None

    todo = []
    for k in kernels:
        entry = new_entry(installed.get(k), "installed" if installed.get(k) else "absent", "none")
        entry.update(dkms.modinfo(k) if installed.get(k) else {})
        result["kernels"][k] = entry
        if installed.get(k) == version and not p["rebuild"] and signed_by(entry, expected):
            continue
        todo.append(k)

    the_plan = Plan(
        version=version,
        mode=mode,
        kernels=kernels,
        tar_dir=p["tarball_dir"],
        todo=todo,
        publish_todo=[],
        installed={k: v for k, v in installed.items() if k and v},
        known_versions={e["version"] for e in entries if e["version"]},
        expected=expected,
    )
    if mode == "tarball":
        _check_tarballs(module, dkms, the_plan)
    if mode == "publish":
        the_plan.publish_todo = [
            k for k in kernels if k in todo or not os.path.isfile(the_plan.tarball(k, dkms.arch))
        ]

    if not todo and not the_plan.publish_todo:
        return None
    result["changed"] = True
    if module.check_mode:
        for k in todo:
            result["kernels"][k]["action"] = "would build" if mode != "tarball" else "would load"
        return None
    return the_plan


def _load_tarballs(dkms: Dkms, plan: Plan) -> None:
    for k in plan.todo:
        tar = plan.tarball(k, dkms.arch)
        rc, out = dkms.run("ldtarball", tar, "--force", check=False)
        # DKMS 3.0.x ends a binaries-only load with a test that is false
        # when no /usr/src tree exists, so it exits 1 after loading
        # everything: judge by what it loaded.
        built = os.path.join(dkms.built(plan.version, k), "module")
        if not os.path.isdir(built) or not os.listdir(built):
            tail_out = out.strip()[-1500:]
            raise DkmsError(f"dkms ldtarball {tar} failed (exit {rc}): {tail_out}")


def _build(dkms: Dkms, plan: Plan, result: dict) -> None:
    for k in plan.todo:
        argv = ["build", "-m", PACKAGE, "-v", plan.version, "-k", k, "--force"]
        rc, out = dkms.run(*argv, *dkms.build_opts(k), check=False)
        if rc != 0:
            log = os.path.join(dkms.dkms_tree, PACKAGE, plan.version, "build", "make.log")
            raise DkmsError(
                f"building vmcsinfo {plan.version} for kernel {k} failed (dkms exit {rc}). "
                f"Tail of {log}:\n{tail(log)}\n--- dkms said:\n{out.strip()[-800:]}"
            )
        result["built"].append(k)


def prepare(module: AnsibleModule, dkms: Dkms, plan: Plan, result: dict) -> Rollback:
    """Build (or load from tarballs) plan.version for every kernel to do, the
    installed version untouched. On failure, DKMS is put back as it was and the
    module fails saying what is still installed."""
    rollback = Rollback(dkms, plan.version)
    newly_added = plan.version not in plan.known_versions
    try:
        # A same-version rebuild (or reload) replaces DKMS's record of the
        # installed module: keep it (Rollback says why).
        for k in plan.todo:
            if plan.installed.get(k) == plan.version:
                rollback.keep(k)
        if plan.mode == "tarball":
            _load_tarballs(dkms, plan)
        else:
            if newly_added:
                dkms.run("add", "-m", PACKAGE, "-v", plan.version)
            _build(dkms, plan, result)
    except DkmsError as e:
        rollback.restore(plan.todo)
        rollback.discard()
        if newly_added:
            remove_version(dkms, plan.version)
        keep = sorted(set(plan.installed.values()))
        module.fail_json(
            msg=f"{e}\nNothing was replaced: "
            + (
                f"vmcsinfo {', '.join(keep)} is still installed (and loaded where it was loaded)."
                if keep
                else "no other vmcsinfo version was installed."
            ),
            **result,
        )
    except BaseException:
        rollback.restore(plan.todo)
        rollback.discard()
        raise
    return rollback


def install(
    module: AnsibleModule, dkms: Dkms, plan: Plan, rollback: Rollback, result: dict
) -> None:
    """Replace the installed module kernel by kernel. A kernel whose install
    fails gets its previous module back: the old version's, or for a
    same-version rebuild the kept build (so are the kernels not reached yet)."""
    version = plan.version
    for i, k in enumerate(plan.todo):
        old = plan.installed.get(k)
        try:
            if old is not None:
                dkms.run("uninstall", "-m", PACKAGE, "-v", old, "-k", k, check=old == version)
            dkms.run("install", "-m", PACKAGE, "-v", version, "-k", k, "--force")
        except DkmsError as e:
            rollback.restore(plan.todo[i + 1 :])
            if old is not None and old != version:
                dkms.run("install", "-m", PACKAGE, "-v", old, "-k", k, "--force", check=False)
            elif rollback.restore([k]):
                dkms.run("install", "-m", PACKAGE, "-v", old, "-k", k, "--force", check=False)
            dkms.depmod([k])
            rollback.discard()
            module.fail_json(
                msg=f"installing vmcsinfo {version} for kernel {k} failed: {e}", **result
            )
        dkms.depmod([k])
        result["installed"].append(k)
        entry = result["kernels"][k]
        entry.update(dkms.modinfo(k))
        entry.update(
            version=version,
            status="installed",
            action="loaded from tarball" if plan.mode == "tarball" else "built",
        )
        if not signed_by(entry, plan.expected):
            rollback.restore(plan.todo[i + 1 :])
            rollback.discard()
            expected = plan.expected or {}
            module.fail_json(
                msg=f"vmcsinfo for {k} is signed by {entry.get('signer')!r} key "
                f"{entry.get('sig_key')!r}, not by the configured certificate (issuer "
                f"{expected.get('signer')!r}, serial {expected.get('sig_key')}): check DKMS's "
                "framework.conf signing settings (mok_signing_key, mok_certificate, sign_file)",
                **result,
            )
    rollback.discard()


def publish(module: AnsibleModule, dkms: Dkms, plan: Plan, result: dict) -> None:
    """Binaries-only tarballs for plan.publish_todo; then old versions go."""
    version = plan.version
    for k in plan.publish_todo:
        os.makedirs(plan.tar_dir, mode=0o755, exist_ok=True)
        name = tarball_name(version, k, dkms.arch)
        dkms.run(
            "mktarball", "-m", PACKAGE, "-v", version, "-k", k, "--binaries-only", "--archive", name
        )
        made = os.path.join(dkms.dkms_tree, PACKAGE, version, "tarball", name)
        # Copied beside its final name and renamed over it: a reader (the
        # fetch to the controller) never sees half a tarball.
        fd, tmp = tempfile.mkstemp(prefix=f".{name}.", dir=plan.tar_dir)
        os.close(fd)
        try:
            shutil.copy2(made, tmp)
            os.chmod(tmp, 0o644)
            os.replace(tmp, os.path.join(plan.tar_dir, name))
        except BaseException:
            if os.path.lexists(tmp):
                os.unlink(tmp)
            raise
        result["kernels"][k]["tarball"] = os.path.join(plan.tar_dir, name)

    if not module.params["keep_old_versions"]:
        still = {e["version"] for e in dkms.status() if e["state"] == "installed"}
        for old in sorted({e["version"] for e in dkms.status()} - still - {version}):
            remove_version(dkms, old)
            result["removed_versions"].append(old)


def present(module: AnsibleModule, dkms: Dkms, result: dict) -> None:
    the_plan = plan(module, dkms, result)
    if the_plan is None:
        return
    rollback = prepare(module, dkms, the_plan, result)
    install(module, dkms, the_plan, rollback, result)
    publish(module, dkms, the_plan, result)


def run_module(module: AnsibleModule) -> None:
    """The vmcsinfo_dkms module's work on its parsed parameters; exits."""
    result = new_result()
    dkms = Dkms(
        module, module.params.get("root") or "/", required=module.params["state"] == "present"
    )
    for line in recover(dkms, module.check_mode):
        module.warn(f"vmcsinfo_dkms: {line}")
    try:
        if module.params["state"] == "absent":
            absent(module, dkms, result)
        else:
            present(module, dkms, result)
    except DkmsError as e:
        module.fail_json(msg=str(e), **result)
    module.exit_json(**result)
