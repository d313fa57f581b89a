#!/bin/sh
# Runs `make check` RUNS times in a row with every CPU kept busy by
# stress-ng, the proof that the suite does not flake on a loaded machine
# (docs/maintaining.md, Tests). Stops at the first run that fails; prints
# each run's closing line ("N passed, N failed, N skipped") and how long it
# took. Each run's output is kept in build/loaded/run-N.log.
#
#   sh spec/tools/loaded_check.sh [RUNS]      (make check-loaded LOADED_RUNS=3)
#
# Environment: LOADED_CPUS, the stress-ng workers (default: every CPU);
# LOADED_HOURS, the most stress-ng runs (default 6: it is stopped when the
# runs end, and never outlives that bound if this script is killed).
set -u
cd "$(dirname "$0")/../.." || exit 2
runs=${1:-3}
cpus=${LOADED_CPUS:-$(nproc)}
hours=${LOADED_HOURS:-6}
if ! command -v stress-ng >/dev/null 2>&1; then
  echo "loaded_check: stress-ng is not installed (sh .ci/setup installs it)" >&2
  exit 2
fi
mkdir -p build/loaded
stress-ng --cpu "$cpus" --timeout "$((hours * 3600))" --quiet &
stress=$!
trap 'kill "$stress" 2>/dev/null' EXIT INT TERM
echo "stress-ng: $cpus CPU workers (pid $stress), at most $hours h"
i=0
while [ "$i" -lt "$runs" ]; do
  i=$((i + 1))
  log=build/loaded/run-$i.log
  start=$(date +%s)
  make check >"$log" 2>&1
  rc=$?
  took=$(($(date +%s) - start))
  echo "run $i of $runs: $(tail -n 1 "$log") ($((took / 60)) min $((took % 60)) s, load $(cut -d' ' -f1-3 /proc/loadavg))"
  if [ "$rc" -ne 0 ]; then
    echo "run $i failed: see $log" >&2
    exit 1
  fi
done
