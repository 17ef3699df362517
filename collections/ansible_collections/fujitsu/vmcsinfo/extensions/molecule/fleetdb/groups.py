"""ansible-inventory --list on stdin -> {group: {"hosts": [sorted]}} on stdout: the groups
only (--list also dumps every host's variables, tagged, which from_json refuses)."""

import json
import sys

inv = json.load(sys.stdin)
groups = {g: {"hosts": sorted(v.get("hosts", []))} for g, v in inv.items() if g != "_meta"}
json.dump(groups, sys.stdout)
