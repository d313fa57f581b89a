#!/bin/sh
# Runs the benches (make bench). Each prints its figures, the ratios against
# baselines measured in the same run, and a "target met / MISSED" line per
# goal; a missed target is reported, not turned into a failure (speed is
# measured, never asserted). An error in a bench (a server that does not
# start, a wrong answer) does fail.
#
#   sh bench/run.sh [cost] [decode] [rate] [loop_rate] [memory]   (default: all five)
#
# Environment: LUA, LUA_IMPL as for the tests; BENCH_RUNS (5) runs per
# median; BENCH_RATE_SECONDS (60); see each bench/*.lua for the others.
set -eu
cd "$(dirname "$0")/.."
LUA=${LUA:-lua5.4}
export LUA LUA_IMPL=${LUA_IMPL:-lua5.4}
export LUA_PATH="bench/?.lua;;"
[ $# -gt 0 ] || set -- cost decode rate loop_rate memory
cpu=$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n 1)
echo "machine: $cpu, $(nproc) CPUs; $($LUA -v 2>&1 | head -n 1 | cut -d' ' -f1-2); libcurl $(curl-config --version | sed 's/libcurl //'); $(date -u '+%Y-%m-%d %H:%M UTC')"
echo "load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
for b in "$@"; do
  echo
  echo "== bench/$b.lua"
  "$LUA" "bench/$b.lua"
done
echo
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
