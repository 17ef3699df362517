#!/usr/bin/env bash
# make bench-crash: the speed of vmcsinfo-crash on a synthetic KVM host's
# crash dump (ELF vmcore and zlib kdump-compressed, of the same memory),
# printed as numbers and ratios against their targets, and Volatility 3's
# vmscan on the same ELF dump side by side. Not a pass/fail test: the exit
# status is non-zero only when the benchmark itself cannot run
# (BENCH_STRICT=1 also fails on a missed target).
#
#   (a) ELF scan rate vs `cat dump >/dev/null`          target ratio >= 0.8
#   (b) zlib kdump scan time vs reading every page through drgn
#       (libkdumpfile)                                  target ratio <= 0.3
#   (c) peak RSS of each scan process                   target < 300 MB
#   (d) VMCSes found == planted, no false positive
#
# The dumps are made once (seeded, streamed) and cached under
# build/bench-crash/, keyed by the generator's version and parameters.
# Environment: BENCH_CRASH_GIB (memory size, default 4), BENCH_CRASH_SEED,
# BENCH_RUNS (runs per side, median, default 3), BENCH_VOLATILITY=0 (skip
# Volatility), BENCH_STRICT=1. Volatility 3 is installed (pinned, from PyPI)
# into its own venv under ~/.cache/vmcsinfo/, never into .venv.
set -euo pipefail

here=$(cd "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")" && pwd)
top=$(dirname "$here")
cd "$top"

log() { printf 'bench-crash: %s\n' "$*" >&2; }
die() {
	log "error: $*"
	exit 1
}

[ -x .venv/bin/python ] || die "no .venv: run make venv"
[ -x .venv/bin/vmcsinfo-crash ] || die ".venv/bin/vmcsinfo-crash is missing: run make venv"

vol_version=2.28.2
vol_venv=${XDG_CACHE_HOME:-$HOME/.cache}/vmcsinfo/bench-venv-volatility3-$vol_version
vol=
if [ "${BENCH_VOLATILITY:-1}" != 0 ]; then
	if [ ! -x "$vol_venv/bin/vol" ]; then
		log "installing volatility3==$vol_version into $vol_venv"
		mkdir -p "$(dirname "$vol_venv")"
		vlog=$(dirname "$vol_venv")/bench-venv-volatility3-$vol_version.log
		if ! { "${PYTHON:-python3}" -m venv "$vol_venv" &&
			"$vol_venv/bin/pip" install -q "volatility3==$vol_version"; } >"$vlog" 2>&1; then
			tail -n 20 "$vlog" >&2
			log "Volatility 3 could not be installed (whole output: $vlog): its side is not run"
			rm -rf "$vol_venv"
		fi
	fi
	if [ -x "$vol_venv/bin/vol" ]; then
		vol=$vol_venv/bin/vol
	fi
fi

exec .venv/bin/python tests/bench/crash-bench.py --vol "$vol" --vol-version "$vol_version"
