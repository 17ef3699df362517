#!/usr/bin/env bash
# Install the command-line tools into the venv (make venv): small launchers
# in .venv/bin that run the collection's own code (plugins/module_utils), so
# the tools on a desk and the modules on the hosts are one implementation.
#   vmcsinfo-crash   the dump reader (DESIGN.md CONTRACT 4)
#   vmcsinfo-db      the fleet VMCSINFO database (DESIGN.md CONTRACT 5)
set -euo pipefail
top=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
venv=${1:-$top/.venv}
[ -x "$venv/bin/python" ] || {
	echo "install-tools: no venv at $venv (run make venv)" >&2
	exit 1
}
# An absolute path: the launchers' #! line must not depend on the caller's directory.
venv=$(cd "$venv" && pwd)
install_tool() {
	local name=$1 module=$2 out=$venv/bin/$1
	cat >"$out.tmp" <<PY
#!$venv/bin/python
# $name: installed by scripts/install-tools.sh; the code is $module.
import sys
sys.path.insert(0, "$top/collections")
from ansible_collections.fujitsu.vmcsinfo.plugins.module_utils.$module import main
sys.exit(main())
PY
	chmod 0755 "$out.tmp"
	mv "$out.tmp" "$out"
}
install_tool vmcsinfo-crash crash
install_tool vmcsinfo-db fleetdb
