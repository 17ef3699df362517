#!/usr/bin/python
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Build, sign, install and remove the vmcsinfo DKMS package, safely."""

from __future__ import annotations

DOCUMENTATION = r"""
---
module: vmcsinfo_dkms
short_description: Build, sign and install the vmcsinfo kernel module with DKMS, safely
version_added: 0.1.0
description:
  - Drives C(dkms) for the C(vmcsinfo) package on a list of kernels, so that a second run with the
    same source, kernels and signing certificate runs no build and reports no change.
  - A new version is added and built for every kernel first; only when every build succeeded does
    it replace the installed version, kernel by kernel. A failed build removes the new version again
    and leaves the previously installed version installed (and, if loaded, loaded), and the error
    names the kernel, the version still installed and the tail of DKMS's C(make.log).
  - Signing is DKMS's own (its C(framework.conf)); this module only checks the signer of each
    installed module against O(signing_certificate) and rebuilds when it differs, so a new fleet key
    re-signs every kernel's module.
  - Can also pack binaries-only tarballs (C(dkms mktarball --binaries-only)) on a builder host and
    install such tarballs (C(dkms ldtarball)) on hosts that must not compile.
author:
  - fujitsu.vmcsinfo developers (@fujitsu)
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
options:
  version:
    description:
      - The vmcsinfo package version (C(PACKAGE_VERSION) in the source's C(dkms.conf)).
      - Required unless O(state=absent).
    type: str
  kernels:
    description:
      - Kernel releases (C(uname -r) form) to build for. Their headers must be installed
        (C(/lib/modules/<kernel>/build)) for O(mode=build) and O(mode=publish).
      - Required unless O(state=absent).
    type: list
    elements: str
    default: []
  state:
    description:
      - V(present) builds and installs O(version) for every kernel in O(kernels).
      - V(absent) uninstalls and removes every vmcsinfo version from DKMS and deletes their sources
        under C(/usr/src).
    type: str
    choices: [present, absent]
    default: present
  mode:
    description:
      - V(build) builds from C(/usr/src/vmcsinfo-<version>) (which the caller has put in place).
      - V(publish) is V(build) plus a binaries-only tarball per kernel in O(tarball_dir).
      - V(tarball) installs from the binaries-only tarballs in O(tarball_dir) and never builds.
    type: str
    choices: [build, publish, tarball]
    default: build
  tarball_dir:
    description:
      - Directory on the managed host holding the tarballs, named
        C(vmcsinfo-<version>-kernel-<kernel>-<arch>.dkms.tar.gz) (written for O(mode=publish),
        read for O(mode=tarball)).
    type: path
    default: /var/lib/vmcsinfo/dkms-tarballs
  rebuild:
    description:
      - Rebuild and reinstall every kernel even if installed (the caller sets this when the source
        in C(/usr/src/vmcsinfo-<version>) changed).
    type: bool
    default: false
  signing_certificate:
    description:
      - Certificate (DER or PEM) that DKMS signs with. When set and the file exists, a module not
        signed with this certificate's key is rebuilt. The check is by key, as C(modinfo) reports
        it, C(sig_key) (the certificate's serial number) and C(signer) (its issuer's CN), so a
        CA-issued fleet certificate matches and a key rotated under the same name is noticed.
    type: path
  keep_old_versions:
    description:
      - Keep older vmcsinfo versions in the DKMS tree (not installed) instead of removing them and
        their C(/usr/src) trees after the new version is installed.
    type: bool
    default: false
notes:
  - In check mode it reports what would be built, installed or removed, and runs nothing.
  - Needs root.
attributes:
  check_mode:
    support: full
  diff_mode:
    support: none
  platform:
    platforms: posix
"""

EXAMPLES = r"""
- name: Build and install vmcsinfo 0.1.0 for two kernels
  fujitsu.vmcsinfo.vmcsinfo_dkms:
    version: 0.1.0
    kernels:
      - 6.1.0-56-amd64
      - 6.12.117+deb12-amd64

- name: On a builder, also pack binaries-only tarballs
  fujitsu.vmcsinfo.vmcsinfo_dkms:
    version: 0.1.0
    kernels: ["{{ ansible_facts.kernel }}"]
    mode: publish

- name: Remove vmcsinfo from DKMS
  fujitsu.vmcsinfo.vmcsinfo_dkms:
    state: absent
"""

RETURN = r"""
kernels:
  description: Per kernel, what is installed now.
  returned: always
  type: dict
  sample:
    6.1.0-56-amd64:
      version: 0.1.0
      status: installed
      action: built
      path: /lib/modules/6.1.0-56-amd64/updates/dkms/vmcsinfo.ko
      vermagic: 6.1.0-56-amd64 SMP preempt mod_unload modversions
      signer: DKMS module signing key
      tarball: null
built:
  description: Kernels a build ran for.
  returned: always
  type: list
  elements: str
installed:
  description: Kernels where O(version) was (re)installed in this run.
  returned: always
  type: list
  elements: str
removed_versions:
  description: Versions removed from the DKMS tree in this run.
  returned: always
  type: list
  elements: str
expected_signer:
  description: What C(modinfo) reports as the signer of a module signed with
    O(signing_certificate) (its issuer's CN), or null when none was checked.
  returned: always
  type: str
expected_sig_key:
  description: The serial number of O(signing_certificate) as C(modinfo) reports C(sig_key)
    (colon-separated hex), or null when none was checked.
  returned: always
  type: str
previous_versions:
  description: Versions that were installed (on any kernel) before this run.
  returned: always
  type: list
  elements: str
"""

import os
import re
import shutil

from ansible.module_utils.basic import AnsibleModule

PACKAGE = "vmcsinfo"
_STATUS_RE = re.compile(
    r"^vmcsinfo[/,]\s*(?P<version>[^,:\s]+)"
    r"(?:,\s*(?P<kernel>[^,:\s]+),\s*(?P<arch>[^:\s]+))?:\s*(?P<state>\w+)"
)


class DkmsError(Exception):
    pass


class Dkms:
    def __init__(self, module: AnsibleModule) -> None:
        self.module = module
        self.bin = module.get_bin_path("dkms", required=not module.check_mode)
        self.arch = os.uname().machine

    def run(self, *args: str, check: bool = True) -> tuple[int, str]:
        if self.bin is None:  # check mode on a host where DKMS is not installed yet
            return 0, ""
        rc, out, err = self.module.run_command([self.bin, *args])
        text = (out or "") + (err or "")
        if check and rc != 0:
            raise DkmsError(f"dkms {' '.join(args)} failed (exit {rc}): {text.strip()[-1500:]}")
        return rc, text

    def status(self) -> list[dict[str, str | None]]:
        """Entries of `dkms status -m vmcsinfo`: version, kernel, arch, state."""
        out = self.run("status", "-m", PACKAGE, check=False)[1]
        entries = []
        for line in out.splitlines():
            m = _STATUS_RE.match(line.strip())
            if m:
                entries.append(m.groupdict())
        return entries


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


def modinfo(module: AnsibleModule, kernel: str) -> dict[str, str | None]:
    """Path, version, vermagic and signer of the vmcsinfo module installed for kernel."""
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
    for key, field in (
        ("path", "filename"),
        ("vermagic", "vermagic"),
        ("signer", "signer"),
        ("sig_key", "sig_key"),
        ("modversion", "version"),
    ):
        rc, out = module.run_command([tool, "-k", kernel, "-F", field, PACKAGE])[:2]
        value = out.strip() if rc == 0 else ""
        info[key] = value or None
    return info


def new_entry(version: str | None, status: str, action: str) -> dict[str, str | None]:
    """One kernel's entry in the result, with every key present."""
    entry: dict[str, str | None] = {"version": version, "status": status, "action": action}
    entry.update(path=None, vermagic=None, signer=None, sig_key=None, modversion=None, tarball=None)
    return entry


def tarball_name(version: str, kernel: str, arch: str) -> str:
    return f"{PACKAGE}-{version}-kernel-{kernel}-{arch}.dkms.tar.gz"


def remove_version(dkms: Dkms, version: str) -> None:
    dkms.run("remove", "-m", PACKAGE, "-v", version, "--all", check=False)
    shutil.rmtree(f"/usr/src/{PACKAGE}-{version}", ignore_errors=True)


def absent(module: AnsibleModule, dkms: Dkms, result: dict) -> None:
    versions = sorted({e["version"] for e in dkms.status() if e["version"]})
    sources = sorted(
        d[len(PACKAGE) + 1 :]
        for d in (os.listdir("/usr/src") if os.path.isdir("/usr/src") else [])
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


def present(module: AnsibleModule, dkms: Dkms, result: dict) -> None:
    p = module.params
    version, kernels, mode = p["version"], p["kernels"], p["mode"]
    if not version:
        module.fail_json(msg="version is required with state=present")
    if not kernels:
        module.fail_json(msg="kernels is required with state=present: name at least one kernel")
    src = f"/usr/src/{PACKAGE}-{version}"
    if module.check_mode and dkms.bin is None:
        # A first run in check mode: the package install before this did not happen.
        result["changed"] = True
        for k in kernels:
            result["kernels"][k] = new_entry(None, "absent", "would install DKMS and build")
        return
    if module.check_mode and not os.path.isfile(os.path.join(src, "dkms.conf")):
        result["changed"] = True
    elif mode != "tarball" and not os.path.isfile(os.path.join(src, "dkms.conf")):
        module.fail_json(msg=f"{src}/dkms.conf is missing: copy the vmcsinfo source there first")
    if mode != "tarball" and not module.check_mode:
        missing = [k for k in kernels if not os.path.exists(f"/lib/modules/{k}/build")]
        if missing:
            module.fail_json(
                msg="no kernel headers for "
                + ", ".join(f"{k} (/lib/modules/{k}/build)" for k in missing)
                + ": install the headers package for each (Debian: linux-headers-<kernel>, "
                "RHEL: kernel-devel-<kernel>) or drop the kernel from the list",
                missing_kernels=missing,
            )

    entries = dkms.status()
    installed = {e["kernel"]: e["version"] for e in entries if e["state"] == "installed"}
    known_versions = {e["version"] for e in entries}
    result["previous_versions"] = sorted(set(installed.values()))
    expected = cert_identity(module, p["signing_certificate"]) if mode != "tarball" else None
    result["expected_signer"] = expected["signer"] if expected else None
    result["expected_sig_key"] = expected["sig_key"] if expected else None

    todo = []
    for k in kernels:
        entry = new_entry(installed.get(k), "installed" if installed.get(k) else "absent", "none")
        entry.update(modinfo(module, k) if installed.get(k) else {})
        result["kernels"][k] = entry
        if installed.get(k) == version:
            stale_sig = not signed_by(entry, expected)
            if not p["rebuild"] and not stale_sig:
                continue
        todo.append(k)

    tar_dir = p["tarball_dir"]
    if mode == "tarball":
        not_here = [k for k in todo if not os.path.isdir(f"/lib/modules/{k}")]
        if not_here:
            module.fail_json(
                msg="kernel(s) "
                + ", ".join(not_here)
                + " are not installed on this host (no /lib/modules/<kernel>): install the "
                "kernel first, or drop it from the list",
                missing_kernels=not_here,
            )
        absent_tars = [
            k
            for k in todo
            if not os.path.isfile(os.path.join(tar_dir, tarball_name(version, k, dkms.arch)))
        ]
        if absent_tars:
            module.fail_json(
                msg="no binaries-only tarball of vmcsinfo "
                + version
                + " for kernel(s) "
                + ", ".join(absent_tars)
                + f" in {tar_dir}: run the build role with mode publish on a builder host "
                "that has those kernels' headers first",
                missing_kernels=absent_tars,
            )
    publish_todo = []
    if mode == "publish":
        publish_todo = [
            k
            for k in kernels
            if k in todo
            or not os.path.isfile(os.path.join(tar_dir, tarball_name(version, k, dkms.arch)))
        ]

    if not todo and not publish_todo:
        return
    result["changed"] = True
    if module.check_mode:
        for k in todo:
            result["kernels"][k]["action"] = "would build" if mode != "tarball" else "would load"
        return

    newly_added = version not in known_versions
    try:
        if mode == "tarball":
            for k in todo:
                tar = os.path.join(tar_dir, tarball_name(version, k, dkms.arch))
                rc, out = dkms.run("ldtarball", tar, "--force", check=False)
                # DKMS 3.0.x ends a binaries-only load with a test that is false
                # when no /usr/src tree exists, so it exits 1 after loading
                # everything: judge by what it loaded.
                built = f"/var/lib/dkms/{PACKAGE}/{version}/{k}/{dkms.arch}/module"
                if not os.path.isdir(built) or not os.listdir(built):
                    tail_out = out.strip()[-1500:]
                    raise DkmsError(f"dkms ldtarball {tar} failed (exit {rc}): {tail_out}")
        elif newly_added:
            dkms.run("add", "-m", PACKAGE, "-v", version)
        if mode != "tarball":
            for k in todo:
                rc, out = dkms.run(
                    "build", "-m", PACKAGE, "-v", version, "-k", k, "--force", check=False
                )
                if rc != 0:
                    log = f"/var/lib/dkms/{PACKAGE}/{version}/build/make.log"
                    raise DkmsError(
                        f"building vmcsinfo {version} for kernel {k} failed (dkms exit {rc}). "
                        f"Tail of {log}:\n{tail(log)}\n--- dkms said:\n{out.strip()[-800:]}"
                    )
                result["built"].append(k)
    except DkmsError as e:
        if newly_added:
            remove_version(dkms, version)
        keep = sorted(set(installed.values()))
        module.fail_json(
            msg=f"{e}\nNothing was replaced: "
            + (
                f"vmcsinfo {', '.join(keep)} is still installed (and loaded where it was loaded)."
                if keep
                else "no other vmcsinfo version was installed."
            ),
            **result,
        )

    for k in todo:
        old = installed.get(k)
        try:
            if old is not None:
                dkms.run("uninstall", "-m", PACKAGE, "-v", old, "-k", k, check=old == version)
            dkms.run("install", "-m", PACKAGE, "-v", version, "-k", k, "--force")
        except DkmsError as e:
            if old is not None and old != version:
                dkms.run("install", "-m", PACKAGE, "-v", old, "-k", k, "--force", check=False)
            module.fail_json(
                msg=f"installing vmcsinfo {version} for kernel {k} failed: {e}", **result
            )
        result["installed"].append(k)
        entry = result["kernels"][k]
        entry.update(modinfo(module, k))
        entry.update(
            version=version,
            status="installed",
            action="loaded from tarball" if mode == "tarball" else "built",
        )
        if not signed_by(entry, expected):
            module.fail_json(
                msg=f"vmcsinfo for {k} is signed by {entry.get('signer')!r} key "
                f"{entry.get('sig_key')!r}, not by the configured certificate (issuer "
                f"{expected['signer']!r}, serial {expected['sig_key']}): check DKMS's "
                "framework.conf signing settings (mok_signing_key, mok_certificate, sign_file)",
                **result,
            )

    for k in publish_todo:
        os.makedirs(tar_dir, mode=0o755, exist_ok=True)
        name = tarball_name(version, k, dkms.arch)
        dkms.run(
            "mktarball", "-m", PACKAGE, "-v", version, "-k", k, "--binaries-only", "--archive", name
        )
        made = f"/var/lib/dkms/{PACKAGE}/{version}/tarball/{name}"
        shutil.copy2(made, os.path.join(tar_dir, name))
        result["kernels"][k]["tarball"] = os.path.join(tar_dir, name)

    if not p["keep_old_versions"]:
        still = {e["version"] for e in dkms.status() if e["state"] == "installed"}
        for old in sorted({e["version"] for e in dkms.status()} - still - {version}):
            remove_version(dkms, old)
            result["removed_versions"].append(old)


def main() -> None:
    module = AnsibleModule(
        argument_spec={
            "version": {"type": "str"},
            "kernels": {"type": "list", "elements": "str", "default": []},
            "state": {"type": "str", "choices": ["present", "absent"], "default": "present"},
            "mode": {"type": "str", "choices": ["build", "publish", "tarball"], "default": "build"},
            "tarball_dir": {"type": "path", "default": "/var/lib/vmcsinfo/dkms-tarballs"},
            "rebuild": {"type": "bool", "default": False},
            "signing_certificate": {"type": "path"},
            "keep_old_versions": {"type": "bool", "default": False},
        },
        supports_check_mode=True,
    )
    result: dict = {
        "changed": False,
        "kernels": {},
        "built": [],
        "installed": [],
        "removed_versions": [],
        "expected_signer": None,
        "expected_sig_key": None,
        "previous_versions": [],
    }
    dkms = Dkms(module)
    try:
        if module.params["state"] == "absent":
            absent(module, dkms, result)
        else:
            present(module, dkms, result)
    except DkmsError as e:
        module.fail_json(msg=str(e), **result)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
