#!/usr/bin/env bash
# Runs one libFuzzer target for a bounded time over its seeds, in a temporary work corpus.
#   run_fuzz.sh FUZZER SEEDS_DIR ARTIFACT_DIR SECONDS [extra libFuzzer flags...]
# Crash inputs are kept in ARTIFACT_DIR (crash-*, leak-*, timeout-*, oom-*); reproduce one with
# `FUZZER ARTIFACT_DIR/crash-...`. Exits non-zero when the fuzzer found something.
set -euo pipefail
fuzzer=$1 seeds=$2 artifacts=$3 seconds=$4
shift 4
mkdir -p "$artifacts"
work=$(mktemp -d "${TMPDIR:-/tmp}/hookdump-fuzz.XXXXXX")
trap 'rm -rf "$work"' EXIT
# Several minutes on a developer's machine: FUZZ_SECONDS overrides the ctest default.
seconds=${FUZZ_SECONDS:-$seconds}
exec "$fuzzer" "$work" "$seeds" \
  -max_total_time="$seconds" -rss_limit_mb=2048 -timeout=25 -print_final_stats=1 \
  -artifact_prefix="$artifacts/" "$@"
