# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The fleet VMCSINFO database (issue 12): from CPU identity to VMCSINFO, for the hosts
that cannot or must not probe, and the `vmcsinfo-db` command on it (DESIGN.md CONTRACT 5).

One implementation: the command, the Ansible side (merge() of a play's probes, serve() of
the hosts without one) and the dump reader use this module. No Ansible import.

On-disk layout (format 1), files an operator reviews and merges in git
-------------------------------------------------------------------------
::

    DIR/index.json                                   the index (below)
    DIR/entries/<digest>/<vendor>-<signature>-<microcode>.vmcsinfo
                                                     a CONTRACT 2 text, byte for byte as added
    DIR/.lock                                        the writers' lock (flock), git-ignored
    DIR/.gitignore                                   written when `add` creates DIR

<digest> is the parser's layout digest (Vmcsinfo.digest()). Texts are kept per key and
digest, not per digest alone: two microcode revisions with one layout have one digest but
two texts (their MICROCODE lines differ), and a host is served the text probed for its own
key when there is one. <vendor> is percent-encoded (urllib.parse.quote, nothing safe);
<signature> and <microcode> are lowercase hex. An entry file is written (temporary file,
fsync, rename, fsync of the directory) before the index names it, and never rewritten
while the index names it.

The key is (CPU vendor, signature, microcode, VMCS revision id, region size), written
`VENDOR/SIGNATURE/MICROCODE/REVISION_ID/REGION_SIZE` (hex as in CONTRACT 2). The platform
id (MSR 0x17) is recorded in the provenance when given (a provenance's `platform_id`, or a
PLATFORM_ID line of the text), not in the key: CONTRACT 5's lookup has no platform option.

index.json: sorted keys, two-space indentation, every object that holds only scalars (a
provenance record, a conflict, a microcode change) on one line, so that git diffs stay
small and merge well::

    {
      "conflicts": {                              # keys with two or more non-partial digests
        "<key>": {"detected_at": "<UTC>", "digests": ["<digest>", "<digest>"]}
      },
      "format": 1,
      "keys": {
        "<key>": {
          "digests": {
            "<digest>": {
              "field_count": 147,                 # FIELD and BITS lines of the text
              "partial": false,                   # true when every provenance is partial
              "provenance": [                     # who added it, in the order they did
                {"added_at": "<UTC>", "host": "h1", "kernel": "6.1.0-56-amd64",
                 "kind": "probe", "module_version": "0.3.0", "platform_id": "1",
                 "source": "deploy.yml"}
              ],
              "sha256": "<sha256 of the entry file's bytes>"
            }
          },
          "microcode": "28", "region_size": "1000", "revision_id": "2b",
          "signature": "306c3", "vendor": "GenuineIntel"
        }
      },
      "microcode_changes": [                      # the drift record, oldest first
        {"at": "<UTC>", "digest": "<new>", "from_digests": ["<old>"], "from_microcode": "27",
         "host": "h1", "kind": "probe", "layout_changed": false, "region_size": "1000",
         "revision_id": "2b", "signature": "306c3", "source": "...", "to_microcode": "28",
         "vendor": "GenuineIntel"}
      ]
    }

- A provenance record has `added_at` (hoststate.now_utc) and `kind` (probe | import |
  seed); `host`, `source`, `kernel`, `module_version`, `platform_id` when known (absent,
  never null); `partial: true` for a partial published layout. A record equal to one
  already there but for `added_at` is not added again (a fleet re-reporting changes
  nothing).
- Partial layouts (imported for the offline reader) are stored and listed, never served,
  and never make a conflict or a drift record.
- `conflicts` is recomputed on every write from `keys` (a key with two or more non-partial
  digests); `detected_at` is kept from the first write that saw it. The provenance of each
  side is under keys[<key>].digests. An operator resolves one by removing the wrong digest.
- `microcode_changes` gets one record when a non-partial text arrives for a vendor,
  signature, revision id and region size with a microcode not seen before for them,
  compared with the nearest known microcode (the greatest lower one, else the least
  higher): `layout_changed` answers "did the microcode change the layout".
- Readers are strict: anything else (JSON error, unknown or missing member, a wrong type,
  a key whose fields do not spell it, a digest not 64 hex digits, a format other than 1)
  is a CorruptIndex error naming index.json and the place. Entry files are checked when read:
  the text must parse, have the digest of its directory, the key of its name and the
  sha256 the index recorded.

Concurrency: every writer takes an exclusive flock on DIR/.lock, reads the index under
the lock, merges, writes the new entry files, then the index (temporary file in DIR,
fsync, rename, fsync of DIR). Readers take no lock: the index and the entries are only
ever replaced by rename, and an entry exists before the index names it.

The command (CONTRACT 5, kept exactly; `add` also takes `--kind probe|import|seed`, default
import, and `--partial` for partial published layouts)::

    vmcsinfo-db --db DIR add [--source TEXT] [--kind K] [--partial] FILE...
    vmcsinfo-db --db DIR lookup --vendor V --signature HEX --microcode HEX [--revision HEX]
                                [--strict]
    vmcsinfo-db --db DIR list [--json]

Exit status: 0 done / served; 2 bad usage, a file the parser rejects (nothing of that call
written), a missing DIR (lookup, list), a corrupt index or a refused entry file; 4 nothing may
be served (stderr says why and what the database has for the vendor and signature, or which
revision ids to choose from with --revision); 5 a conflict (add: recorded and named on
stderr; lookup: both digests named with their provenance). `add` without --source records
each FILE as named as its source. A text served from another microcode says so on stderr.

HEX on the command line: lowercase hex without 0x as in CONTRACT 2; uppercase digits and a
0x prefix are accepted and normalised; anything else is refused (exit 2).
"""

from __future__ import annotations

import argparse
import fcntl
import hashlib
import json
import os
import re
import sys
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from urllib.parse import quote

from ansible_collections.fujitsu.vmcsinfo.plugins.module_utils.hostfiles import (
    VMCSINFO_LIMIT,
    HostFileError,
    read_ascii,
    read_bounded,
)
from ansible_collections.fujitsu.vmcsinfo.plugins.module_utils.hoststate import (
    dir_sync,
    now_utc,
    write_file,
)
from ansible_collections.fujitsu.vmcsinfo.plugins.module_utils.vmcsinfo import (
    Vmcsinfo,
    VmcsinfoError,
    parse,
)

FORMAT = 1
INDEX = "index.json"
ENTRIES = "entries"
LOCK = ".lock"
GITIGNORE = ".gitignore"
GITIGNORE_TEXT = (
    "# vmcsinfo-db: the writers' lock and the temporary files of interrupted writes\n"
    "/.lock\n.index.json.*\n.*.vmcsinfo.*\n"
)
# The index of a large fleet: one provenance record per host and layout.
INDEX_LIMIT = 256 << 20
DIR_MODE = 0o755

KINDS = ("probe", "import", "seed")
PROVENANCE_KEYS = ("added_at", "host", "kernel", "kind", "module_version", "platform_id", "source")

EXIT_OK, EXIT_USAGE, EXIT_NONE, EXIT_CONFLICT = 0, 2, 4, 5

# Decision actions
SERVE, CONFLICT, UNKNOWN, AMBIGUOUS = "serve", "conflict", "unknown", "ambiguous"
EXACT, OTHER_MICROCODE = "exact", "other-microcode"

_HEX = re.compile(r"[0-9a-f]+\Z")
_DIGEST = re.compile(r"[0-9a-f]{64}\Z")
_USER_HEX = re.compile(r"(?:0[xX])?([0-9a-fA-F]+)\Z")


class FleetDbError(Exception):
    """A problem the user must fix (bad input, a corrupt database); str() names the file
    and what is wrong. exit_code: the command's exit status for it."""

    def __init__(self, message: str, exit_code: int = EXIT_USAGE) -> None:
        super().__init__(message)
        self.exit_code = exit_code


class CorruptIndex(FleetDbError):
    """index.json is not what this module writes (corrupt or hand-edited)."""


# --- keys ---------------------------------------------------------------------------------------


@dataclass(frozen=True, order=True)
class Key:
    """What a layout is looked up by."""

    vendor: str
    signature: int
    microcode: int
    revision_id: int
    region_size: int

    @classmethod
    def of(cls, info: Vmcsinfo) -> Key:
        return cls(
            info.cpu_vendor, info.cpu_signature, info.microcode, info.revision_id, info.region_size
        )

    @property
    def id(self) -> str:
        return (
            f"{self.vendor}/{self.signature:x}/{self.microcode:x}/"
            f"{self.revision_id:x}/{self.region_size:x}"
        )

    def fields(self) -> dict[str, str]:
        """The key's members as index.json records them."""
        return {
            "vendor": self.vendor,
            "signature": f"{self.signature:x}",
            "microcode": f"{self.microcode:x}",
            "revision_id": f"{self.revision_id:x}",
            "region_size": f"{self.region_size:x}",
        }

    def family(self) -> tuple[str, int, int, int]:
        """(vendor, signature, revision id, region size): the keys across microcode."""
        return (self.vendor, self.signature, self.revision_id, self.region_size)

    def entry(self, digest: str) -> str:
        """The entry file's path relative to DIR."""
        name = f"{quote(self.vendor, safe='')}-{self.signature:x}-{self.microcode:x}.vmcsinfo"
        return os.path.join(ENTRIES, digest, name)

    def describe(self) -> str:
        return (
            f"vendor {self.vendor} signature {self.signature:x} microcode {self.microcode:x} "
            f"revision id {self.revision_id:x} region size {self.region_size:x}"
        )


@dataclass(frozen=True)
class Query:
    """A lookup: vendor, signature and microcode; revision id and region size when known."""

    vendor: str
    signature: int
    microcode: int
    revision_id: int | None = None
    region_size: int | None = None

    def describe(self) -> str:
        out = f"vendor {self.vendor} signature {self.signature:x} microcode {self.microcode:x}"
        if self.revision_id is not None:
            out += f" revision id {self.revision_id:x}"
        if self.region_size is not None:
            out += f" region size {self.region_size:x}"
        return out

    def matches(self, key: Key) -> bool:
        """Same vendor, signature, revision id and region size (when given); any microcode."""
        return (
            key.vendor == self.vendor
            and key.signature == self.signature
            and (self.revision_id is None or key.revision_id == self.revision_id)
            and (self.region_size is None or key.region_size == self.region_size)
        )


# --- the index ----------------------------------------------------------------------------------


def _where(*parts: str) -> str:
    out = parts[0]
    for part in parts[1:]:
        out += f"[{json.dumps(part)}]"
    return out


def _check_members(
    obj: object, where: str, required: tuple[str, ...], optional: tuple[str, ...] = ()
) -> dict:
    if not isinstance(obj, dict):
        raise ValueError(f"{where}: expected a JSON object, got {type(obj).__name__}")
    missing = [k for k in required if k not in obj]
    if missing:
        raise ValueError(f"{where}: missing {', '.join(repr(k) for k in missing)}")
    unknown = sorted(k for k in obj if k not in required and k not in optional)
    if unknown:
        raise ValueError(f"{where}: unknown member(s) {', '.join(repr(k) for k in unknown)}")
    return obj


def _check_str(obj: dict, member: str, where: str, pattern: re.Pattern | None = None) -> str:
    value = obj[member]
    if not isinstance(value, str) or not value or not value.isprintable():
        raise ValueError(f"{where}: {member!r} must be a non-empty printable string")
    if pattern is not None and not pattern.match(value):
        raise ValueError(f"{where}: {member!r} is {value!r}, not lowercase hex")
    return value


def _check_provenance(rec: object, where: str) -> dict:
    rec = _check_members(rec, where, ("added_at", "kind"), (*PROVENANCE_KEYS, "partial"))
    for member in PROVENANCE_KEYS:
        if member in rec:
            _check_str(rec, member, where)
    if rec["kind"] not in KINDS:
        raise ValueError(f"{where}: 'kind' is {rec['kind']!r}, not one of {', '.join(KINDS)}")
    if "partial" in rec and rec["partial"] is not True:
        raise ValueError(f"{where}: 'partial' is true or absent")
    return rec


def validate(index: object) -> dict:
    """index.json's content checked against format 1; raises ValueError saying where."""
    index = _check_members(index, "index", ("format", "keys"), ("conflicts", "microcode_changes"))
    if index["format"] != FORMAT or isinstance(index["format"], bool):
        raise ValueError(f"'format' is {index['format']!r}; this vmcsinfo-db reads format {FORMAT}")
    keys = index["keys"]
    if not isinstance(keys, dict):
        raise ValueError("'keys' must be a JSON object")
    for key_id, rec in keys.items():
        where = _where("keys", key_id)
        rec = _check_members(
            rec,
            where,
            ("digests", "microcode", "region_size", "revision_id", "signature", "vendor"),
        )
        _check_str(rec, "vendor", where)
        for member in ("signature", "microcode", "revision_id", "region_size"):
            _check_str(rec, member, where, _HEX)
        spelled = _key_of(rec).id
        if spelled != key_id:
            raise ValueError(f"{where}: its members spell the key {spelled!r}")
        digests = rec["digests"]
        if not isinstance(digests, dict) or not digests:
            raise ValueError(f"{where}: 'digests' must be a non-empty JSON object")
        for digest, drec in digests.items():
            dwhere = _where("keys", key_id, "digests", digest)
            if not _DIGEST.match(digest):
                raise ValueError(f"{dwhere}: a digest is 64 lowercase hex digits")
            drec = _check_members(drec, dwhere, ("field_count", "partial", "provenance", "sha256"))
            _check_str(drec, "sha256", dwhere, _DIGEST)
            count = drec["field_count"]
            if not isinstance(count, int) or isinstance(count, bool) or count < 0:
                raise ValueError(f"{dwhere}: 'field_count' must be a number")
            if not isinstance(drec["partial"], bool):
                raise ValueError(f"{dwhere}: 'partial' must be true or false")
            prov = drec["provenance"]
            if not isinstance(prov, list) or not prov:
                raise ValueError(f"{dwhere}: 'provenance' must be a non-empty list")
            for i, p in enumerate(prov):
                _check_provenance(p, f"{dwhere}.provenance[{i}]")
            if drec["partial"] != all(p.get("partial", False) for p in prov):
                raise ValueError(
                    f"{dwhere}: 'partial' must be true exactly when every provenance is partial"
                )
    conflicts = index.get("conflicts", {})
    if not isinstance(conflicts, dict):
        raise ValueError("'conflicts' must be a JSON object")
    for key_id, rec in conflicts.items():
        where = _where("conflicts", key_id)
        rec = _check_members(rec, where, ("detected_at", "digests"))
        _check_str(rec, "detected_at", where)
        if not isinstance(rec["digests"], list) or not all(
            isinstance(d, str) and _DIGEST.match(d) for d in rec["digests"]
        ):
            raise ValueError(f"{where}: 'digests' must be a list of digests")
    changes = index.get("microcode_changes", [])
    if not isinstance(changes, list):
        raise ValueError("'microcode_changes' must be a list")
    for i, rec in enumerate(changes):
        where = f"microcode_changes[{i}]"
        rec = _check_members(
            rec,
            where,
            (
                "at",
                "digest",
                "from_digests",
                "from_microcode",
                "kind",
                "layout_changed",
                "region_size",
                "revision_id",
                "signature",
                "to_microcode",
                "vendor",
            ),
            ("host", "source"),
        )
        if not isinstance(rec["layout_changed"], bool):
            raise ValueError(f"{where}: 'layout_changed' must be true or false")
        if not isinstance(rec["from_digests"], list):
            raise ValueError(f"{where}: 'from_digests' must be a list")
    index.setdefault("conflicts", {})
    index.setdefault("microcode_changes", [])
    return index


def _key_of(rec: Mapping) -> Key:
    return Key(
        rec["vendor"],
        int(rec["signature"], 16),
        int(rec["microcode"], 16),
        int(rec["revision_id"], 16),
        int(rec["region_size"], 16),
    )


def _is_leaf(value: object) -> bool:
    return not isinstance(value, (dict, list)) or (
        isinstance(value, list) and all(not isinstance(v, (dict, list)) for v in value)
    )


def dumps(value: object, indent: int = 0) -> str:
    """index.json's text: sorted keys, two-space indentation, an object of scalars (and lists
    of scalars) on one line."""
    pad, inner = "  " * indent, "  " * (indent + 1)
    if isinstance(value, dict):
        if not value:
            return "{}"
        if all(_is_leaf(v) for v in value.values()) and indent > 0:
            return json.dumps(value, sort_keys=True, ensure_ascii=True)
        items = [f"{inner}{json.dumps(k)}: {dumps(value[k], indent + 1)}" for k in sorted(value)]
        return "{\n" + ",\n".join(items) + f"\n{pad}}}"
    if isinstance(value, list):
        if not value:
            return "[]"
        if all(_is_leaf(v) and not isinstance(v, list) for v in value):
            return json.dumps(value)
        items = [f"{inner}{dumps(v, indent + 1)}" for v in value]
        return "[\n" + ",\n".join(items) + f"\n{pad}]"
    return json.dumps(value)


def empty_index() -> dict:
    return {"format": FORMAT, "keys": {}, "conflicts": {}, "microcode_changes": []}


@dataclass
class Db:
    """A loaded database: its directory and its validated index."""

    path: str
    index: dict = field(default_factory=empty_index)
    _texts: dict = field(default_factory=dict, repr=False)
    _by_cpu: dict | None = field(default=None, repr=False)
    _conflicts: dict = field(default_factory=dict, repr=False)

    @classmethod
    def load(cls, path: str, must_exist: bool = True) -> Db:
        """The database in `path`. A directory without index.json is an empty database; a
        missing directory is an error when must_exist. Raises FleetDbError naming the file."""
        if not os.path.isdir(path):
            if must_exist or os.path.lexists(path):
                raise FleetDbError(f"{path}: no database directory there")
            return cls(path)
        ipath = os.path.join(path, INDEX)
        try:
            raw = read_bounded(ipath, INDEX_LIMIT)
        except HostFileError as e:
            if not os.path.lexists(ipath):
                return cls(path)
            raise CorruptIndex(str(e)) from e
        try:
            data = json.loads(raw.decode("utf-8"))
        except (UnicodeDecodeError, ValueError) as e:
            raise CorruptIndex(f"{ipath}: not valid JSON ({e}); nothing was written") from e
        try:
            return cls(path, validate(data))
        except ValueError as e:
            raise CorruptIndex(f"{ipath}: {e}; nothing was written") from e

    # --- reading -----------------------------------------------------------------------

    def keys(self) -> list[Key]:
        return sorted(_key_of(rec) for rec in self.index["keys"].values())

    def record(self, key: Key) -> dict | None:
        return self.index["keys"].get(key.id)

    def digests(self, key: Key, partial: bool = False) -> list[str]:
        """The key's digests, sorted; partial ones only when asked."""
        rec = self.record(key)
        if rec is None:
            return []
        return sorted(d for d, r in rec["digests"].items() if partial or not r["partial"])

    def of_cpu(self, vendor: str, signature: int) -> list[Key]:
        """Every key of a vendor and signature, sorted."""
        if self._by_cpu is None:
            by: dict = {}
            for key in self.keys():
                by.setdefault((key.vendor, key.signature), []).append(key)
            self._by_cpu = by
        return self._by_cpu.get((vendor, signature), [])

    def text(self, key: Key, digest: str) -> str:
        """The entry's text, checked: it parses, has this digest and key and the sha256 the
        index recorded. Raises FleetDbError naming the file."""
        cached = self._texts.get((key, digest))
        if cached is not None:
            return cached
        rec = self.index["keys"][key.id]["digests"][digest]
        path = os.path.join(self.path, key.entry(digest))
        text = check_entry(path, key, digest, rec["sha256"])
        self._texts[(key, digest)] = text
        return text

    def provenance(self, key: Key, digest: str) -> list[dict]:
        return self.index["keys"][key.id]["digests"][digest]["provenance"]

    def describe_cpu(self, vendor: str, signature: int) -> str:
        """What the database has for a vendor and signature, for messages."""
        keys = self.of_cpu(vendor, signature)
        if not keys:
            return f"the database has nothing for vendor {vendor} signature {signature:x}"
        parts = []
        for key in keys:
            for digest in self.digests(key, partial=True):
                part = (
                    f"microcode {key.microcode:x} revision id {key.revision_id:x} "
                    f"region size {key.region_size:x} digest {digest[:12]}"
                )
                if self.index["keys"][key.id]["digests"][digest]["partial"]:
                    part += " (partial, never served)"
                parts.append(part)
        return f"the database has for vendor {vendor} signature {signature:x}: " + "; ".join(parts)


def check_entry(path: str, key: Key, digest: str, sha256: str | None) -> str:
    """An entry file's text, refused (FleetDbError naming it) unless it is what its name and
    the index say."""
    try:
        raw = read_bounded(path, VMCSINFO_LIMIT)
    except HostFileError as e:
        raise FleetDbError(f"entry {path}: {e}") from e
    if sha256 is not None and hashlib.sha256(raw).hexdigest() != sha256:
        raise FleetDbError(
            f"entry {path}: its content is not the text the index recorded (sha256 "
            f"{hashlib.sha256(raw).hexdigest()[:12]}, index {sha256[:12]}): edited by hand? "
            "refused"
        )
    try:
        info = parse(raw.decode("ascii"))
    except (UnicodeDecodeError, VmcsinfoError) as e:
        raise FleetDbError(f"entry {path}: not a VMCSINFO text ({e}): refused") from e
    if info.digest() != digest:
        raise FleetDbError(
            f"entry {path}: its layout digest is {info.digest()}, not {digest} as its name "
            "says: refused"
        )
    if Key.of(info) != key:
        raise FleetDbError(f"entry {path}: its text is for {Key.of(info).describe()}: refused")
    return raw.decode("ascii")


# --- serving ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Decision:
    """What serve() decided. action: serve | conflict | unknown | ambiguous; basis (for
    serve): exact | other-microcode; key: the key whose text is served."""

    action: str
    text: str | None
    digest: str | None
    reason: str
    basis: str | None = None
    key: Key | None = None

    @property
    def exit_code(self) -> int:
        if self.action == SERVE:
            return EXIT_OK
        return EXIT_CONFLICT if self.action == CONFLICT else EXIT_NONE


def _provenance_text(db: Db, key: Key, digest: str) -> str:
    out = []
    for p in db.provenance(key, digest):
        who = p.get("host") or p.get("source") or "?"
        extra = ", ".join(
            f"{m} {p[m]}" for m in ("source", "kernel", "module_version") if m in p and p[m] != who
        )
        out.append(f"{p['kind']} {who} at {p['added_at']}" + (f" ({extra})" if extra else ""))
    return "; ".join(out)


def describe_conflict(db: Db, key: Key) -> str:
    """Both (all) sides of a conflict with their provenance; computed once per key and
    loaded database (a fleet asks for a conflicting key once per host)."""
    cached = db._conflicts.get(key)
    if cached is None:
        digests = db.digests(key)
        sides = [f"{d} [{_provenance_text(db, key, d)}]" for d in digests]
        cached = db._conflicts[key] = (
            f"{key.describe()} is in conflict: {len(digests)} layouts, " + " vs ".join(sides)
        )
    return cached


def serve(db: Db, query: Query, strict: bool = False) -> Decision:
    """The decision for one lookup (the table in the tests, and CONTRACT 5):

    - the query's microcode has keys with exactly one non-partial digest: serve it (exact);
      one key with two or more digests: conflict; several keys (revision ids or region sizes,
      the query naming neither): ambiguous, they are named;
    - otherwise, unless strict, a key of another microcode with the same vendor, signature,
      revision id and region size is served only when the database holds two or more
      microcode revisions of them, all with one and the same digest and no other digest
      (the text of the nearest microcode, the lower one on a tie);
    - else unknown, saying why and what the database has for the vendor and signature.

    Partial entries are never served and never count as evidence. Reads (and checks) only
    the served entry file.
    """
    known = db.describe_cpu(query.vendor, query.signature)
    family = [k for k in db.of_cpu(query.vendor, query.signature) if query.matches(k)]
    exact = [k for k in family if k.microcode == query.microcode and db.digests(k)]
    if exact:
        if len(exact) > 1:
            names = "; ".join(
                f"revision id {k.revision_id:x} region size {k.region_size:x} digest "
                + ",".join(d[:12] for d in db.digests(k))
                for k in exact
            )
            return Decision(
                AMBIGUOUS,
                None,
                None,
                f"{query.describe()} has several layouts: {names}; ask for one with --revision",
            )
        key = exact[0]
        digests = db.digests(key)
        if len(digests) > 1:
            return Decision(CONFLICT, None, None, describe_conflict(db, key), key=key)
        return Decision(
            SERVE,
            db.text(key, digests[0]),
            digests[0],
            f"exact match: {key.describe()}",
            EXACT,
            key,
        )
    partial_only = any(k.microcode == query.microcode for k in family)
    why_not = f"no layout for {query.describe()}" + (
        " but partial ones, which are never served" if partial_only else ""
    )
    if strict:
        return Decision(
            UNKNOWN, None, None, f"{why_not}; --strict: other microcode not served; {known}"
        )
    groups: dict[tuple, list[Key]] = {}
    for k in family:
        if db.digests(k):
            groups.setdefault(k.family(), []).append(k)
    if not groups:
        return Decision(UNKNOWN, None, None, f"{why_not}; {known}")
    if len(groups) > 1:
        names = "; ".join(f"revision id {g[1]:x} region size {g[3]:x}" for g in sorted(groups))
        return Decision(
            AMBIGUOUS,
            None,
            None,
            f"{why_not}; other microcode revisions have several revision ids or region sizes "
            f"({names}); ask for one with --revision; {known}",
        )
    keys = next(iter(groups.values()))
    microcodes = sorted({k.microcode for k in keys})
    digests = sorted({d for k in keys for d in db.digests(k)})
    mcs = ", ".join(f"{m:x}" for m in microcodes)
    if len(digests) > 1:
        return Decision(
            UNKNOWN,
            None,
            None,
            f"{why_not}; not served from other microcode: the layouts of microcode {mcs} "
            f"differ ({', '.join(d[:12] for d in digests)}); {known}",
        )
    if len(microcodes) < 2:
        return Decision(
            UNKNOWN,
            None,
            None,
            f"{why_not}; not served from other microcode: only one microcode revision "
            f"({mcs}) is known, no evidence that microcode leaves the layout alone; {known}",
        )
    best = min(keys, key=lambda k: (abs(k.microcode - query.microcode), k.microcode))
    return Decision(
        SERVE,
        db.text(best, digests[0]),
        digests[0],
        f"no layout for microcode {query.microcode:x}; served the layout of microcode "
        f"{best.microcode:x}: microcode {mcs} all have the one layout {digests[0][:12]}",
        OTHER_MICROCODE,
        best,
    )


# --- writing ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Outcome:
    """One merged item: its index in the items, a label (the source, host or file), key and
    digest; for a conflict, the key's other digests."""

    item: int
    label: str
    key: Key
    digest: str
    created: bool = False
    others: tuple[str, ...] = ()


@dataclass
class MergeResult:
    added: list[Outcome] = field(default_factory=list)
    already: list[Outcome] = field(default_factory=list)
    conflicts: list[Outcome] = field(default_factory=list)
    # (item index, the microcode_changes record it added)
    drift: list[tuple[int, dict]] = field(default_factory=list)
    # Whether the database changed (an entry, a provenance record, a drift record, the
    # conflicts); when not, nothing was written.
    changed: bool = False


@dataclass(frozen=True)
class _Item:
    label: str
    text: str
    info: Vmcsinfo
    key: Key
    digest: str
    sha256: str
    provenance: dict


def _prepare(n: int, text: object, provenance: Mapping, parsed: dict) -> _Item:
    """An item checked and its provenance record made. `parsed` caches the parse of each
    distinct text of one merge (a fleet reports few distinct texts)."""
    prov = dict(provenance)
    label = str(prov.pop("label", None) or prov.get("source") or prov.get("host") or f"item {n}")
    if not isinstance(text, str):
        raise FleetDbError(f"{label}: the VMCSINFO must be text")
    known = parsed.get(text)
    if known is None:
        try:
            info = parse(text)
        except VmcsinfoError as e:
            raise FleetDbError(f"{label}: not a VMCSINFO text: {e}; nothing was written") from e
        known = parsed[text] = (
            info,
            Key.of(info),
            info.digest(),
            hashlib.sha256(text.encode("ascii")).hexdigest(),
        )
    info, key, digest, sha256 = known
    partial = prov.pop("partial", False)
    if not isinstance(partial, bool):
        raise FleetDbError(f"{label}: provenance 'partial' must be true or false")
    if info.extra.get("PARTIAL", "0") != "0":
        # A text that says it is partial (PARTIAL=1, as `import` writes it) is never made
        # servable by an `add` that forgot --partial.
        partial = True
    prov.setdefault("kind", "import")
    if "platform_id" not in prov and "PLATFORM_ID" in info.extra:
        prov["platform_id"] = info.extra["PLATFORM_ID"]
    if isinstance(prov.get("platform_id"), int) and not isinstance(prov["platform_id"], bool):
        prov["platform_id"] = f"{prov['platform_id']:x}"
    rec = {k: v for k, v in prov.items() if v is not None and v != ""}
    rec["added_at"] = now_utc()
    if partial:
        rec["partial"] = True
    try:
        _check_provenance(rec, "provenance")
    except ValueError as e:
        raise FleetDbError(f"{label}: {e}") from e
    return _Item(label, text, info, key, digest, sha256, rec)


def _identity(rec: Mapping) -> tuple:
    return tuple(sorted((k, v) for k, v in rec.items() if k != "added_at"))


class _Lock:
    """An exclusive flock on DIR/.lock for the life of the context."""

    def __init__(self, directory: str) -> None:
        self.path = os.path.join(directory, LOCK)
        self.fd = -1

    def __enter__(self) -> _Lock:
        try:
            self.fd = os.open(
                self.path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, 0o644
            )
            fcntl.flock(self.fd, fcntl.LOCK_EX)
        except OSError as e:
            if self.fd >= 0:
                os.close(self.fd)
            raise FleetDbError(f"{self.path}: cannot lock the database: {e.strerror}") from e
        return self

    def __exit__(self, *exc: object) -> None:
        os.close(self.fd)  # releases the flock


def _family_microcodes(index: dict) -> dict[tuple, dict[int, set[str]]]:
    """(vendor, signature, revision id, region size) -> microcode -> non-partial digests."""
    out: dict[tuple, dict[int, set[str]]] = {}
    for rec in index["keys"].values():
        key = _key_of(rec)
        digests = {d for d, r in rec["digests"].items() if not r["partial"]}
        if digests:
            out.setdefault(key.family(), {}).setdefault(key.microcode, set()).update(digests)
    return out


def _drift(item: _Item, seen: dict[int, set[str]]) -> dict:
    lower = [m for m in seen if m < item.key.microcode]
    base = max(lower) if lower else min(seen)
    rec = {
        "at": item.provenance["added_at"],
        "digest": item.digest,
        "from_digests": sorted(seen[base]),
        "from_microcode": f"{base:x}",
        "kind": item.provenance["kind"],
        "layout_changed": seen[base] != {item.digest},
        "to_microcode": f"{item.key.microcode:x}",
        **{k: v for k, v in item.key.fields().items() if k != "microcode"},
    }
    for member in ("host", "source"):
        if member in item.provenance:
            rec[member] = item.provenance[member]
    return rec


def merge(db_dir: str, items: Iterable[tuple[str, Mapping]]) -> MergeResult:
    """Add VMCSINFO texts with their provenance (host, source, kernel, module_version, kind,
    platform_id; `partial` for a partial published layout; `label` names the item in
    messages) under one lock and with one index write: O(items).

    Every text is parsed first: one the parser rejects raises FleetDbError naming it, and
    nothing is written (nor DIR created). A corrupt index, or an entry file the index names
    that is not what it says, raises FleetDbError and nothing is written.
    Returns the items added (a new key or digest), already there, and in conflict (their
    key ends with two or more non-partial digests; recorded, never served).
    """
    parsed: dict = {}
    prepared = [_prepare(n, text, prov, parsed) for n, (text, prov) in enumerate(items)]
    result = MergeResult()
    if not prepared:
        return result
    if os.path.lexists(db_dir) and not os.path.isdir(db_dir):
        raise FleetDbError(f"{db_dir}: not a directory")
    created_dir = not os.path.isdir(db_dir)
    try:
        os.makedirs(db_dir, mode=DIR_MODE, exist_ok=True)
    except OSError as e:
        raise FleetDbError(f"{db_dir}: cannot create the database: {e.strerror}") from e
    with _Lock(db_dir):
        db = Db.load(db_dir)
        index = db.index
        keys = index["keys"]
        families = _family_microcodes(index)
        identities: dict[tuple[str, str], set[tuple]] = {}
        new_entries: dict[tuple[str, str], _Item] = {}
        checked: set[tuple[str, str]] = set()
        created: list[tuple[int, bool]] = []
        for n, item in enumerate(prepared):
            kid, digest = item.key.id, item.digest
            krec = keys.setdefault(kid, {**item.key.fields(), "digests": {}})
            drec = krec["digests"].get(digest)
            is_new = drec is None
            if is_new:
                drec = {
                    "field_count": len(item.info.fields),
                    "partial": True,
                    "provenance": [],
                    "sha256": item.sha256,
                }
                krec["digests"][digest] = drec
                new_entries[(kid, digest)] = item
            elif (kid, digest) not in new_entries and (kid, digest) not in checked:
                # Named by the index already: it must be what the index says.
                db.text(item.key, digest)
                checked.add((kid, digest))
            ids = identities.get((kid, digest))
            if ids is None:
                ids = identities[(kid, digest)] = {_identity(p) for p in drec["provenance"]}
            ident = _identity(item.provenance)
            if ident not in ids:
                ids.add(ident)
                drec["provenance"].append(item.provenance)
                result.changed = True
            partial = "partial" in item.provenance
            if not partial:
                if drec["partial"]:
                    result.changed = True
                drec["partial"] = False
                fam = families.setdefault(item.key.family(), {})
                if fam and item.key.microcode not in fam:
                    change = _drift(item, fam)
                    index["microcode_changes"].append(change)
                    result.drift.append((n, change))
                fam.setdefault(item.key.microcode, set()).add(digest)
            created.append((n, is_new))
        # The conflicts, recomputed from the keys.
        old = index["conflicts"]
        conflicts = {}
        for kid, krec in keys.items():
            digests = sorted(d for d, r in krec["digests"].items() if not r["partial"])
            if len(digests) > 1:
                at = old.get(kid, {}).get("detected_at") or now_utc()
                conflicts[kid] = {"detected_at": at, "digests": digests}
        if conflicts != old:
            result.changed = True
        index["conflicts"] = conflicts
        for n, is_new in created:
            item = prepared[n]
            in_conflict = item.key.id in conflicts and "partial" not in item.provenance
            others = tuple(d for d in conflicts.get(item.key.id, {}).get("digests", ()))
            outcome = Outcome(
                n,
                item.label,
                item.key,
                item.digest,
                is_new,
                tuple(d for d in others if d != item.digest),
            )
            if in_conflict:
                result.conflicts.append(outcome)
            elif is_new:
                result.added.append(outcome)
            else:
                result.already.append(outcome)
        result.changed = result.changed or bool(new_entries or result.drift)
        if result.changed or created_dir:
            _write(db_dir, index, new_entries, created_dir)
    return result


def _write(
    db_dir: str, index: dict, new_entries: dict[tuple[str, str], _Item], created_dir: bool
) -> None:
    """The new entry files, then the index; each atomically, directories fsynced."""
    try:
        if created_dir:
            write_file(os.path.join(db_dir, GITIGNORE), GITIGNORE_TEXT)
        synced: set[str] = set()
        for item in new_entries.values():
            path = os.path.join(db_dir, item.key.entry(item.digest))
            directory = os.path.dirname(path)
            if not os.path.isdir(directory):
                os.makedirs(directory, mode=DIR_MODE, exist_ok=True)
                # entries/ (and DIR, when entries/ is new) gained a directory
                synced.update((os.path.dirname(directory), db_dir))
            write_file(path, item.text)
            synced.add(directory)
        # Deepest first: every entry is on disk, and reachable, before the index names it.
        for directory in sorted(synced, key=len, reverse=True):
            dir_sync(directory)
        write_file(os.path.join(db_dir, INDEX), dumps(index) + "\n")
        dir_sync(db_dir)
    except OSError as e:
        raise FleetDbError(
            f"{e.filename or db_dir}: cannot write the database: {e.strerror or e}; the index "
            "was not changed (new entry files may be left, unnamed by it)"
        ) from e


# --- the command --------------------------------------------------------------------------------


def user_hex(value: str, what: str) -> int:
    """A HEX argument: lowercase hex without 0x (CONTRACT 2); uppercase and 0x accepted."""
    m = _USER_HEX.match(value.strip())
    if not m:
        raise FleetDbError(f"{what}: {value!r} is not hex (lowercase hex without 0x, as 306c3)")
    return int(m.group(1), 16)


def _read_input(path: str) -> str:
    try:
        return read_ascii(path)
    except HostFileError as e:
        raise FleetDbError(f"{e}; nothing was written") from e


def _cmd_add(args: argparse.Namespace) -> int:
    items = []
    for path in args.files:
        text = _read_input(path)
        prov = {"kind": args.kind, "source": args.source or path, "label": path}
        if args.partial:
            prov["partial"] = True
        items.append((text, prov))
    result = merge(args.db, items)
    for o in result.added:
        sys.stdout.write(f"added {o.label}: {o.key.id} {o.digest[:12]}\n")
    for o in result.already:
        sys.stdout.write(f"already there {o.label}: {o.key.id} {o.digest[:12]}\n")
    if not result.conflicts:
        return EXIT_OK
    db = Db.load(args.db)
    for o in result.conflicts:
        sys.stderr.write(
            f"vmcsinfo-db: {o.label}: conflict: {describe_conflict(db, o.key)}; recorded, "
            "never served\n"
        )
    return EXIT_CONFLICT


def _cmd_import(args: argparse.Namespace) -> int:
    """Partial published layouts (fleetimport): every FILE converted first (one that does
    not convert: exit 2, nothing written), then one merge, kind import, partial."""
    # Imported here: fleetimport imports this module (FleetDbError).
    from ansible_collections.fujitsu.vmcsinfo.plugins.module_utils import fleetimport

    items, conversions = [], []
    for path in args.files:
        conv = fleetimport.convert(args.format, _read_input(path), path)
        source = conv.source if not args.source else f"{args.source}; {conv.source}"
        prov = {"kind": "import", "partial": True, "source": source, "label": path}
        items.append((conv.text, prov))
        conversions.append(conv)
    result = merge(args.db, items)
    for conv in conversions:
        for name, why in conv.skipped:
            sys.stderr.write(f"vmcsinfo-db: {conv.path}: not taken: {name}: {why}\n")
    outcomes = sorted([*result.added, *result.already], key=lambda o: o.item)
    for o in outcomes:
        conv = conversions[o.item]
        what = "imported" if o.created else "already there"
        sys.stdout.write(
            f"{what} {o.label}: {o.key.id} {o.digest[:12]} partial, {len(conv.info.fields)} "
            f"fields ({len(conv.skipped)} not taken), never served\n"
        )
    return EXIT_OK


def _cmd_lookup(args: argparse.Namespace) -> int:
    query = Query(
        args.vendor,
        user_hex(args.signature, "--signature"),
        user_hex(args.microcode, "--microcode"),
        None if args.revision is None else user_hex(args.revision, "--revision"),
    )
    db = Db.load(args.db)
    decision = serve(db, query, args.strict)
    if decision.action == SERVE and decision.text is not None:
        sys.stdout.write(decision.text)
        sys.stdout.flush()
        if decision.basis != EXACT:
            sys.stderr.write(f"vmcsinfo-db: {decision.reason}\n")
    else:
        sys.stderr.write(f"vmcsinfo-db: {decision.action}: {decision.reason}\n")
    return decision.exit_code


def listing(db: Db) -> dict:
    """list --json's object; every entry file checked on the way."""
    out = []
    for key in db.keys():
        rec = db.record(key)
        if rec is None:  # keys() lists only recorded keys
            continue
        digests = []
        for digest in sorted(rec["digests"]):
            drec = rec["digests"][digest]
            db.text(key, digest)
            sources = []
            for p in drec["provenance"]:
                who = p.get("host") or p.get("source")
                if who and who not in sources:
                    sources.append(who)
            digests.append({"digest": digest, "sources": sources, **drec})
        out.append(
            {
                "key": key.id,
                **key.fields(),
                "conflict": key.id in db.index["conflicts"],
                "digests": digests,
            }
        )
    return {
        "format": FORMAT,
        "db": db.path,
        "keys": out,
        "conflicts": db.index["conflicts"],
        "microcode_changes": db.index["microcode_changes"],
    }


def _cmd_list(args: argparse.Namespace) -> int:
    report = listing(Db.load(args.db))
    if args.json:
        json.dump(report, sys.stdout, sort_keys=True)
        sys.stdout.write("\n")
        return EXIT_OK
    for k in report["keys"]:
        digests = ",".join(
            d["digest"][:12] + ("(partial)" if d["partial"] else "") for d in k["digests"]
        )
        sources = sorted({s for d in k["digests"] for s in d["sources"]})
        line = (
            f"{k['vendor']} signature={k['signature']} microcode={k['microcode']} "
            f"revision={k['revision_id']} size={k['region_size']} digest={digests} "
            f"sources={','.join(sources)}"
        )
        if k["conflict"]:
            line += " CONFLICT"
        if all(d["partial"] for d in k["digests"]):
            line += " partial"
        sys.stdout.write(line + "\n")
    return EXIT_OK


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        prog="vmcsinfo-db",
        description="The fleet VMCSINFO database: CPU identity to VMCSINFO (CONTRACT 5).",
    )
    p.add_argument("--db", metavar="DIR", required=True, help="the database directory")
    sub = p.add_subparsers(dest="command", required=True)
    add = sub.add_parser("add", help="import CONTRACT 2 texts (as the module probed them)")
    add.add_argument("--source", metavar="TEXT", help="where the texts came from (provenance)")
    add.add_argument(
        "--kind", choices=KINDS, default="import", help="provenance kind (default: import)"
    )
    add.add_argument(
        "--partial", action="store_true", help="partial published layouts: stored, never served"
    )
    add.add_argument("files", metavar="FILE", nargs="+")
    imp = sub.add_parser(
        "import",
        help="import partial published layouts (Volatility 3, actaeon, vmcsreverse): stored, "
        "listed, never served; for the offline dump reader",
        epilog="Exit 0: every file imported or already there; 2: a file that does not convert "
        "(nothing of that call is written).",
    )
    imp.add_argument(
        "--format",
        required=True,
        choices=("volatility", "actaeon", "vmcsreverse"),
        help="the files' format",
    )
    imp.add_argument("--source", metavar="TEXT", help="where the files came from (provenance)")
    imp.add_argument("files", metavar="FILE", nargs="+")
    look = sub.add_parser(
        "lookup",
        help="print the VMCSINFO served for a CPU",
        epilog="HEX: lowercase hex without 0x as in CONTRACT 2 (uppercase and 0x are accepted). "
        "Exit 0: served; 4: nothing may be served (why on stderr); 5: the key is in conflict.",
    )
    look.add_argument("--vendor", metavar="V", required=True)
    look.add_argument("--signature", metavar="HEX", required=True)
    look.add_argument("--microcode", metavar="HEX", required=True)
    look.add_argument("--revision", metavar="HEX", help="VMCS revision id (IA32_VMX_BASIC)")
    look.add_argument(
        "--strict", action="store_true", help="never serve the layout of another microcode"
    )
    lst = sub.add_parser("list", help="one line per key")
    lst.add_argument("--json", action="store_true", help="one JSON object")
    args = p.parse_args(argv)
    try:
        if args.command == "add":
            return _cmd_add(args)
        if args.command == "import":
            return _cmd_import(args)
        if args.command == "lookup":
            return _cmd_lookup(args)
        return _cmd_list(args)
    except FleetDbError as e:
        sys.stderr.write(f"vmcsinfo-db: {e}\n")
        return e.exit_code
    except BrokenPipeError:
        # `vmcsinfo-db list | head`: the reader left; no traceback at exit's flush either.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_OK
