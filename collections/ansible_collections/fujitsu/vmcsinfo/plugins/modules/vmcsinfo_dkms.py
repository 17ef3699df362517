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
  root:
    description:
      - Manage the DKMS tree, the sources and the installed modules of a system mounted at this
        directory instead of this host's (C(var/lib/dkms), C(usr/src) and C(lib/modules) under
        it, headers at C(lib/modules/<kernel>/build)); C(depmod) and C(modinfo) are then run with
        it as their base directory. The compiler and DKMS's own configuration (its signing
        settings) are still this host's.
      - Meant for tests and image builds; the default is this host.
    type: path
    default: /
notes:
  - In check mode it reports what would be built, installed or removed, and runs nothing.
  - A rebuild of the installed version (O(rebuild), or a module signed by another key) keeps
    DKMS's record of the installed build aside until the new build is installed, so a failed
    rebuild leaves DKMS and the installed module as they were, and O(state=absent) still
    removes it. The kept build lies in C(<dkms tree>/.vmcsinfo-rollback-*/<version>/<kernel>);
    should a run be killed before it put it back, the next run (either O(state)) puts it back
    first, or drops it when a newer build took its place, and says so in a warning.
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

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.fujitsu.vmcsinfo.plugins.module_utils.dkms import run_module


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
            "root": {"type": "path", "default": "/"},
        },
        supports_check_mode=True,
    )
    run_module(module)


if __name__ == "__main__":
    main()
