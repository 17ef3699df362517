#!/usr/bin/env bash
# shellcheck source-path=SCRIPTDIR
# The seed data of the fleet VMCSINFO database (issue 12): db/seed, rebuilt
# from scratch.
#
# Boots Debian's 6.1 kernel under Bochs 2.7 on each of Bochs' Intel CPU models
# with the real vmcsinfo.ko (tests/vmx/vmx-probe.sh with VMX_CPU_MODEL set,
# one model after the other), records for each whether the kernel booted (and
# why not: Bochs' exit message and panics, the serial log's last lines),
# insmod's result and the probed layout (a model whose kernel does not reach
# /init is booted once more with the kernel's messages on the serial console,
# to show where it stopped), and adds every probed text to a new
# database with `vmcsinfo-db add --kind seed`, then KVM's nested vmcs12
# layout (plugins/module_utils/vmcs12_layout.py, generated from Linux's
# vmcs12.h). The new database, with MODELS.md (the table of models) in it,
# replaces db/seed: a re-run gives the same entries (only the provenance's
# added_at and the boot times differ).
#
# Per model, in build/vmx/<model>/: vmcsinfo and serial-6.1.log (from
# vmx-probe), seed-probe.log (vmx-probe's output), seed-probe.rc, and
# seed-bochs.out / seed-bochs.log (Bochs' output and log of that boot); for
# the second boot of a model that did not reach /init, seed-diag-*.
# Exit 0 when the database was written (models that do not boot are data,
# not failures); 1 when nothing booted, or on an error.
#
# Env: VMX_SEED_MODELS (default: the 11 Bochs 2.7 Intel models below),
# VMX_SEED_TIMEOUT (seconds per boot, default 180: the corei7_haswell_4770
# boot takes about 45 s), VMX_SEED_REUSE=1 (boot nothing: rebuild db/seed and
# MODELS.md from what the last run left in build/vmx/<model>/),
# VMX_SEED_DB (default db/seed), VMX_SEED_DIAG=0 (no second boot),
# VMX_SEED_DIAG_TIMEOUT (default 120); and vmx-probe's own (VMX_IPS, VMX_MEGS).
# Boots run one at a time: vmx-probe's Bochs log (build/vmx/logs/bochs-6.1.*)
# is shared by all models, so nothing else may run vmx-probe meanwhile.
set -euo pipefail
# shellcheck source=lib.sh disable=SC1091
. "$(dirname "$(readlink -f "$0")")/lib.sh"

MODELS=${VMX_SEED_MODELS:-corei5_lynnfield_750 corei5_arrandale_m520 corei7_sandy_bridge_2600k \
corei7_ivy_bridge_3770k corei7_haswell_4770 broadwell_ult corei7_skylake_x corei3_cnl \
corei7_icelake_u tigerlake core2_penryn_t9600}
SEED_TIMEOUT=${VMX_SEED_TIMEOUT:-180}
SEED_DB=${VMX_SEED_DB:-$REPO_ROOT/db/seed}
PY="$REPO_ROOT/.venv/bin/python"
DBCMD="$REPO_ROOT/.venv/bin/vmcsinfo-db"
COLL="$REPO_ROOT/collections"
MU="$COLL/ansible_collections/fujitsu/vmcsinfo/plugins/module_utils"
DIAG=${VMX_SEED_DIAG:-1}
DIAG_TIMEOUT=${VMX_SEED_DIAG_TIMEOUT:-120}
DIAG_CMDLINE="console=ttyS0,115200 earlyprintk=serial,ttyS0,115200 loglevel=7 cryptomgr.notests=1 rodata=off nopti"
SERIES=6.1

if [ ! -x "$PY" ] || [ ! -x "$DBCMD" ]; then
    die "no .venv/bin/vmcsinfo-db: run make venv first"
fi
# vmx-probe says "bochs"; dpkg knows the version (2.7+dfsg-4+deb12u1).
BOCHS_PKG=$(dpkg-query -W -f='${Version}' bochs 2>/dev/null || true)
[ -n "$BOCHS_PKG" ] || { vmx_host_setup; BOCHS_PKG=$(dpkg-query -W -f='${Version}' bochs); }
BOCHS_VERSION=${BOCHS_PKG%%[+~-]*}
[ "$BOCHS_VERSION" = 2.7 ] || say "warning: Bochs is $BOCHS_PKG, not 2.7 (the sources will say so)"
MOD_VERSION=$(sed -n 's/^MODULE_VERSION("\(.*\)");/\1/p' "$MODSRC/vmcsinfo_main.c")
[ -n "$MOD_VERSION" ] || die "no MODULE_VERSION in $MODSRC/vmcsinfo_main.c"

# --- the boots -------------------------------------------------------------------------------

probe_model() {
    local model=$1 dir="$REPO_ROOT/build/vmx/$1" rc=0
    mkdir -p "$dir"
    # Nothing of an earlier run may pass for this one's.
    rm -f "$dir/vmcsinfo" "$dir/serial-$SERIES.log" "$dir"/seed-*
    rm -f "$LOG_DIR/bochs-$SERIES.out" "$LOG_DIR/bochs-$SERIES.log"
    say "probing $model (timeout ${SEED_TIMEOUT}s)"
    VMX_CPU_MODEL=$model VMX_TIMEOUT=$SEED_TIMEOUT "$VMX_DIR/vmx-probe.sh" \
        >"$dir/seed-probe.log" 2>&1 || rc=$?
    printf '%s\n' "$rc" >"$dir/seed-probe.rc"
    # vmx-probe's Bochs output and log are per series, not per model: keep them.
    for f in out log; do
        if [ -f "$LOG_DIR/bochs-$SERIES.$f" ]; then
            cp "$LOG_DIR/bochs-$SERIES.$f" "$dir/seed-bochs.$f"
        fi
    done
    grep -E 'TIMING|SUMMARY' "$dir/seed-probe.log" | sed "s/^/  $model: /" >&2 || true
    if [ "$DIAG" = 1 ] && ! grep -qs '^VMXTEST: BEGIN' "$dir/serial-$SERIES.log"; then
        diag_model "$model"
    fi
}

# A model whose kernel did not reach /init: once more with the kernel's messages on the
# serial console (vmx-probe's command line has quiet and a console loglevel of 1), to see
# where it stopped. Its serial log and Bochs output go to seed-diag-*; the first boot's
# files stay as they were.
diag_model() {
    local model=$1 dir="$REPO_ROOT/build/vmx/$1" rc=0
    mv "$dir/serial-$SERIES.log" "$dir/seed-serial.keep" 2>/dev/null || : >"$dir/seed-serial.keep"
    say "$model: no /init; booting it once more with the kernel's messages (timeout ${DIAG_TIMEOUT}s)"
    VMX_CPU_MODEL=$model VMX_TIMEOUT=$DIAG_TIMEOUT VMX_CMDLINE="$DIAG_CMDLINE" \
        "$VMX_DIR/vmx-probe.sh" >"$dir/seed-diag-probe.log" 2>&1 || rc=$?
    printf '%s\n' "$rc" >"$dir/seed-diag-probe.rc"
    mv "$dir/serial-$SERIES.log" "$dir/seed-diag-serial.log" 2>/dev/null || : >"$dir/seed-diag-serial.log"
    mv "$dir/seed-serial.keep" "$dir/serial-$SERIES.log"
    # Only the first boot's probe counts (there was none).
    rm -f "$dir/vmcsinfo"
    if [ -f "$LOG_DIR/bochs-$SERIES.out" ]; then
        cp "$LOG_DIR/bochs-$SERIES.out" "$dir/seed-diag-bochs.out"
    fi
    grep -E 'TIMING' "$dir/seed-diag-probe.log" | sed "s/^/  $model (diagnostic boot): /" >&2 || true
}

# --- what a boot left ------------------------------------------------------------------------

# md_cell TEXT: TEXT fit for a Markdown table cell (one line, no pipes).
md_cell() { printf '%s' "$1" | tr '\n|' ' /' | sed 's/  */ /g; s/ $//'; }

# md_block TITLE TEXT: a list item TITLE and TEXT as a code block, when TEXT is not empty.
# shellcheck disable=SC2016 # the backquotes are Markdown
md_block() {
    [ -n "$2" ] || return 0
    printf -- '- %s:\n\n```\n%s\n```\n' "$1" "$2"
}

# md_block TITLE TEXT, or the line OTHERWISE when TEXT is empty.
md_block_or() {
    if [ -n "$2" ]; then
        md_block "$1" "$2"
    else
        printf -- '%s\n' "$3"
    fi
}

# analyze MODEL: sets R_* for the model from build/vmx/MODEL/.
analyze() {
    local model=$1 dir="$REPO_ROOT/build/vmx/$1" serial log out
    serial="$dir/serial-$SERIES.log"
    log="$dir/seed-probe.log"
    out="$dir/seed-bochs.out"
    [ -f "$dir/seed-probe.rc" ] || die "$model: no probe result in ${dir#"$REPO_ROOT"/} (run without VMX_SEED_REUSE)"
    R_RC=$(cat "$dir/seed-probe.rc")
    R_KERNEL=$(sed -n 's/^vmx-probe: kernel //p' "$log" | head -n1)
    R_TIME=$(sed -n 's/^vmx-probe: TIMING: boot [^:]*: \([0-9]*\)s.*/\1/p' "$log" | head -n1)
    R_TIMEOUT=$(sed -n 's/^vmx-probe: booting .*, timeout \([0-9]*\)s.*/\1/p' "$log" | head -n1)
    R_TIMEDOUT=no
    grep -q 'TIMING: boot.*TIMED OUT' "$log" && R_TIMEDOUT=yes
    touch "$serial"
    R_CPU=$(serial_get "$serial" "cpu=")
    R_BOOTED=no
    [ -n "$(serial_get "$serial" "BEGIN ")" ] && R_BOOTED=yes
    R_END=$(serial_get "$serial" "END ")
    R_VMX=$(serial_get "$serial" "cpu-flag vmx=")
    R_INSMOD=$(serial_get "$serial" "insmod=")
    R_DMESG=$(serial_text "$serial" | sed -n 's/^DMESG: \[[ 0-9.]*\] //p' | grep -v -e 'taints kernel' \
        -e 'module verification failed' || true)
    # Bochs' own words: its exit message and the first panics of its log.
    R_EXIT=
    if [ -f "$out" ]; then
        R_EXIT=$(tr -d '\r' <"$out" | awk '
            /^Bochs is exiting with the following message:/ { on = 1; next }
            on && /^=+$/ { exit }
            on { print }')
    fi
    R_PANIC=
    R_ERRORS=
    if [ -f "$dir/seed-bochs.log" ]; then
        # Bochs log lines: <ticks><level>[<device>] text, level p = panic, e = error.
        R_PANIC=$(tr -d '\r' <"$dir/seed-bochs.log" | grep -E '^[0-9]+p\[' | head -n 5 || true)
        # RDMSR/WRMSR of MSRs Bochs lacks (ignore_bad_msrs=1) are in every model's log.
        R_ERRORS=$(tr -d '\r' <"$dir/seed-bochs.log" | grep -E '^[0-9]+e\[' \
            | grep -v -E '(RD|WR)MSR: Unknown register' | tail -n 3 || true)
    fi
    R_TAIL=$(serial_text "$serial" | grep -v '^[[:space:]]*$' | tail -n 8 || true)
    R_TEXT=
    [ -s "$dir/vmcsinfo" ] && R_TEXT="$dir/vmcsinfo"
    # The diagnostic boot, when there was one.
    R_DIAG=
    R_DIAG_KERNEL=
    R_DIAG_TAIL=
    if [ -f "$dir/seed-diag-serial.log" ]; then
        R_DIAG=$(sed -n 's/^vmx-probe: TIMING: boot [^:]*: //p' "$dir/seed-diag-probe.log" | head -n1 \
            | sed -E 's/^[0-9]+s \(TIMED OUT after ([0-9]+s)\)$/timed out after \1/; s/^([0-9]+s) \((.*)\)$/ended after \1, \2/')
        R_DIAG_KERNEL=$(serial_text "$dir/seed-diag-serial.log" | grep -E \
            'WARNING:|Kernel panic|BUG:|Oops|invalid opcode|general protection|misordered|Unknown|unchecked MSR' \
            | head -n 8 || true)
        R_DIAG_TAIL=$(serial_text "$dir/seed-diag-serial.log" | grep -v '^[[:space:]]*$' | tail -n 8 || true)
    fi
}

# layout FILE: "REVISION_ID CPU_SIGNATURE MICROCODE FIELD_COUNT DIGEST" by the parser.
layout() {
    PYTHONPATH="$COLL" "$PY" - "$1" <<'EOF'
import sys
from ansible_collections.fujitsu.vmcsinfo.plugins.module_utils.vmcsinfo import parse
with open(sys.argv[1], encoding="ascii") as f:
    info = parse(f.read())
print(f"{info.revision_id:x} {info.cpu_signature:x} {info.microcode:x} {len(info.fields)} {info.digest()}")
EOF
}

# --- main ------------------------------------------------------------------------------------

read -r -a MODEL_LIST <<<"$MODELS"
t_start=$SECONDS
if [ -z "${VMX_SEED_REUSE:-}" ]; then
    for m in "${MODEL_LIST[@]}"; do
        probe_model "$m"
    done
fi

mkdir -p "$(dirname "$SEED_DB")"
TMP=$(mktemp -d "$(dirname "$SEED_DB")/.seed.XXXXXX")
trap 'rm -rf "$TMP"' EXIT
NEW="$TMP/$(basename "$SEED_DB")"
TABLE="$TMP/table"
RUNS="$TMP/runs"
WHY="$TMP/why"
: >"$TABLE"
: >"$RUNS"
: >"$WHY"
booted=0
probed=0
conflicts=
kernel=
timeouts=
for m in "${MODEL_LIST[@]}"; do
    analyze "$m"
    [ -n "$R_KERNEL" ] && kernel=$R_KERNEL
    [ -n "$R_TIMEOUT" ] && timeouts+=" $R_TIMEOUT"
    rev=- sig=- mc=- count=- digest=-
    if [ -n "$R_TEXT" ]; then
        read -r rev sig mc count digest < <(layout "$R_TEXT")
        src="Bochs $BOCHS_VERSION $m, vmcsinfo $MOD_VERSION probe (make vmx-seed)"
        rc=0
        "$DBCMD" --db "$NEW" add --kind seed --source "$src" "$R_TEXT" >"$TMP/add.out" 2>&1 || rc=$?
        sed "s#$REPO_ROOT/##" "$TMP/add.out" | sed 's/^/  /' >&2
        case $rc in
            0) ;;
            5) conflicts+=" $m" ;;
            *) die "vmcsinfo-db add of $m's text failed (exit $rc)" ;;
        esac
        probed=$((probed + 1))
        digest=${digest:0:16}
    fi
    [ "$R_BOOTED" = yes ] && booted=$((booted + 1))
    case $R_INSMOD in
        ok) ins=ok ;;
        '') ins=- ;;
        *) ins="fail: ${R_INSMOD#fail msg=}" ;;
    esac
    printf '| %s | %s | %s | %s | %s | %s | %s | %s |\n' "$m" "$R_BOOTED" "$(md_cell "$ins")" \
        "$rev" "$sig" "$mc" "$count" "$digest" >>"$TABLE"
    if [ "$R_TIMEDOUT" = yes ]; then
        result="timed out after ${R_TIMEOUT:-?}s"
    elif [ -n "$R_END" ]; then
        result="guest ran to completion (${R_END})"
    else
        result="ended without the guest's END marker (vmx-probe exit $R_RC)"
    fi
    printf '| %s | %s | %s | %s | %s |\n' "$m" "$(md_cell "${R_CPU:--}")" "${R_VMX:--}" \
        "${R_TIME:-?}" "$(md_cell "$result")" >>"$RUNS"
    if [ "$R_BOOTED" != yes ] || [ "$ins" != ok ] || [ -z "$R_TEXT" ]; then
        {
            printf '### %s\n\n' "$m"
            if [ "$R_BOOTED" != yes ]; then
                printf -- "- Debian's kernel did not reach /init: %s (Bochs ran %ss).\n" "$result" "${R_TIME:-?}"
            else
                printf -- '- The kernel booted; insmod: %s.\n' "$ins"
            fi
            if [ -n "$R_EXIT" ]; then
                md_block "Bochs exited with" "$R_EXIT"
            fi
            md_block_or "Panics in the Bochs log" "$R_PANIC" "- No panic in the Bochs log."
            if [ -n "$R_ERRORS" ]; then
                md_block "The last errors in the Bochs log" "$R_ERRORS"
            elif [ "$R_BOOTED" != yes ]; then
                printf -- "- No error in the Bochs log but RDMSR/WRMSR of MSRs Bochs does not know (ignore_bad_msrs=1), as in the booted models' logs.\n"
            fi
            md_block "vmcsinfo's kernel log lines" "$R_DMESG"
            md_block_or "The last lines of the serial log (vmx-probe's command line has quiet and a console loglevel of 1)" \
                "$R_TAIL" "- The serial log is empty (not even the boot loader greeted)."
            if [ -n "$R_DIAG" ]; then
                printf -- "- A second boot with the kernel's messages on the console (\`%s\`): %s.\n" \
                    "$DIAG_CMDLINE" "$(md_cell "$R_DIAG")"
                md_block "The second boot's warnings and errors" "$R_DIAG_KERNEL"
                md_block "The second boot's last lines (where the kernel stopped)" "$R_DIAG_TAIL"
            fi
            printf '\n'
        } >>"$WHY"
    fi
done
# The microcode revisions the probed texts report (Bochs has no microcode).
MICROCODES=$(cut -d'|' -f7 "$TABLE" | tr -d ' ' | grep -v '^-$' | sort -u | paste -sd, - || true)
TIMEOUTS=$(printf "%s" "$timeouts" | tr " " "\n" | grep . | sort -un | paste -sd/ - || true)
if [ "$MICROCODES" = 0 ]; then MICROCODES="0 for every model"; fi
[ "$booted" -gt 0 ] || die "no model booted Debian's kernel: nothing to seed (see build/vmx/<model>/seed-probe.log)"

# KVM's nested vmcs12 layout, as generated from Linux's vmcs12.h.
PYTHONPATH="$COLL" "$PY" - "$TMP/vmcs12.vmcsinfo" <<'EOF'
import sys
from ansible_collections.fujitsu.vmcsinfo.plugins.module_utils.vmcs12_layout import VMCS12_VMCSINFO
with open(sys.argv[1], "w", encoding="ascii") as f:
    f.write(VMCS12_VMCSINFO)
EOF
linux=$(sed -n "s/^# Linux's arch\/x86\/kvm\/vmx\/vmcs12\.\[ch\] (\(.*\))\.$/\1/p" "$MU/vmcs12_layout.py")
[ -n "$linux" ] || die "no Linux version in the header of $MU/vmcs12_layout.py"
src12="Linux arch/x86/kvm/vmx/vmcs12.h ($linux), KVM's nested vmcs12 layout by scripts/gen-vmcs12.py"
"$DBCMD" --db "$NEW" add --kind seed --source "$src12" "$TMP/vmcs12.vmcsinfo" >"$TMP/add.out" 2>&1 \
    || { cat "$TMP/add.out" >&2; die "vmcsinfo-db add of the vmcs12 layout failed"; }
read -r rev12 _ _ count12 digest12 < <(layout "$TMP/vmcs12.vmcsinfo")
# The partial published layouts of real CPUs (db/partial, converted by
# vmcsinfo-db import from Volatility 3, actaeon and vmcsreverse): for the
# offline dump reader only, stored partial, never served to a host.
PARTIAL_DIR="$REPO_ROOT/db/partial"
npartial=0
if [ -s "$PARTIAL_DIR/sources.json" ]; then
    "$PY" -c 'import json, sys
for name, rec in sorted(json.load(open(sys.argv[1])).items()):
    print("%s\t%s" % (name, rec["source"]))' "$PARTIAL_DIR/sources.json" >"$TMP/partial.tsv" \
        || die "cannot read $PARTIAL_DIR/sources.json"
    while IFS=$'\t' read -r file source; do
        "$DBCMD" --db "$NEW" add --kind import --partial --source "$source" "$PARTIAL_DIR/$file" \
            >"$TMP/add.out" 2>&1 || { cat "$TMP/add.out" >&2; die "vmcsinfo-db add of db/partial/$file failed"; }
        npartial=$((npartial + 1))
    done <"$TMP/partial.tsv"
fi
"$DBCMD" --db "$NEW" list >"$TMP/list"

{
    cat <<EOF
# The seed database: Bochs $BOCHS_VERSION Intel CPU models and KVM's vmcs12

Written by \`make vmx-seed\` (tests/vmx/vmx-seed.sh); do not edit: re-run it. Each model below was
booted under Bochs $BOCHS_VERSION (Debian package bochs $BOCHS_PKG, \`cpu: model=<model>\`, one CPU,
${VMX_MEGS} MiB) with Debian's kernel ${kernel:-?} and the real vmcsinfo.ko $MOD_VERSION, by
tests/vmx/vmx-probe.sh (timeout ${TIMEOUTS:-?}s a boot). Every text a model's probe gave is an entry
of this database (\`vmcsinfo-db add --kind seed\`, source "Bochs $BOCHS_VERSION <model>, vmcsinfo
$MOD_VERSION probe (make vmx-seed)"), byte for byte.${MICROCODES:+ Bochs reports microcode $MICROCODES.}

| model | boots Debian 6.1 kernel | insmod | REVISION_ID | CPU_SIGNATURE | MICROCODE | field count | digest |
|---|---|---|---|---|---|---|---|
EOF
    cat "$TABLE"
    cat <<EOF

digest: the first 16 hex digits of the parser's layout digest (the entry's directory under
entries/); field count: the FIELD and BITS lines of the text.

## The boots

| model | guest CPU (/proc/cpuinfo) | vmx flag | boot (s) | result |
|---|---|---|---|---|
EOF
    cat "$RUNS"
    printf '\n'
    if [ -s "$WHY" ]; then
        printf '## The models that did not boot, or gave no layout\n\n'
        cat "$WHY"
    fi
    if [ -n "$conflicts" ]; then
        printf '## Conflicts\n\nvmcsinfo-db add reported a conflict for:%s (see index.json "conflicts").\n\n' \
            "$conflicts"
    fi
    cat <<EOF
## KVM's nested vmcs12

KVM's software VMCS (struct vmcs12, revision id $rev12), from $linux
arch/x86/kvm/vmx/vmcs12.h by scripts/gen-vmcs12.py (plugins/module_utils/vmcs12_layout.py's
VMCS12_VMCSINFO): $count12 fields, digest ${digest12:0:16}. Key vendor KVMKVMKVM, signature 0: no
host CPU matches it; the dump reader decodes vmcs12 pages with it.

## Partial published layouts

$npartial partial layouts of real CPUs from db/partial (db/partial/SOURCES.md: Volatility 3,
actaeon, vmcsreverse, with commits and licences), added with \`--kind import --partial\`: listed,
used by the offline dump reader (\`vmcsinfo-crash --db\`, source database-partial) when no full
layout may be served, never served to a host.

## vmcsinfo-db list

\`\`\`
EOF
    cat "$TMP/list"
    printf '```\n'
} >"$NEW/MODELS.md"

# The writers' lock (git-ignored) is no part of the data.
rm -f "$NEW/.lock"
# Replace the database as a whole.
if [ -e "$SEED_DB" ]; then
    mv "$SEED_DB" "$TMP/old"
fi
mv "$NEW" "$SEED_DB"
say "wrote ${SEED_DB#"$REPO_ROOT"/}: $probed Bochs layouts ($booted of ${#MODEL_LIST[@]} models booted) and vmcs12, in $((SECONDS - t_start))s"
if [ -n "$conflicts" ]; then
    say "warning: conflicts for:$conflicts"
fi
