"""Offline stand-in for ansible-test's pip bootstrap script (get-pip.py).

ansible-test creates its sanity virtual environments without pip and then runs
~/.ansible/test/cache/get_pip_<version>.py, which it would otherwise download
from a host this machine can't reach. The upstream script is a pip wheel
embedded in a launcher: it puts the wheel on sys.path and runs
`pip install --upgrade --force-reinstall ARGS`. This file does the same with
the wheel that scripts/lint-ansible.sh fetches from PyPI and stores beside it
(pip-<version>-py3-none-any.whl). Like upstream, it installs setuptools and
wheel too unless told --no-setuptools / --no-wheel.
"""

import glob
import os
import re
import sys


def _name(requirement: str) -> str:
    return re.split(r"[<>=!~;\[ ]", requirement, maxsplit=1)[0].lower()


def main() -> int:
    here = os.path.dirname(os.path.abspath(__file__))
    version = os.path.splitext(os.path.basename(__file__))[0].split("_", 2)[2]
    version = version.replace("_", ".")
    wheels = glob.glob(os.path.join(here, f"pip-{version}-*.whl"))
    if not wheels:
        print(f"get-pip stand-in: no pip-{version} wheel in {here}", file=sys.stderr)
        return 1
    sys.path.insert(0, wheels[0])
    from pip._internal.cli.main import main as pip_main

    args = sys.argv[1:]
    named = {_name(a) for a in args if not a.startswith("-")}
    implicit = [] if "pip" in named else [f"pip=={version}"]
    for name in ("setuptools", "wheel"):
        flag = f"--no-{name}"
        if flag in args:
            args.remove(flag)
        elif name not in named:
            implicit.append(name)
    return pip_main(["install", "--upgrade", "--force-reinstall", *args, *implicit])


if __name__ == "__main__":
    sys.exit(main())
