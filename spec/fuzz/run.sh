#!/bin/sh
# Runs libFuzzer targets for a bounded time each and ends with one line:
# "fuzz: N passed, N failed" (spec/run.sh adds it to the suite's count).
#
#   sh spec/fuzz/run.sh SECONDS build/fuzz/fuzz_encode build/fuzz/lua_http1 ...
#
# Target "fuzz_X" or "lua_X" is named X: its seeds are spec/fuzz/corpus/X/
# (read, never written: what a run finds goes to a temporary folder), its
# dictionary spec/fuzz/dict/X.dict. A crash, leak, sanitizer report or
# timeout fails the target; its input is kept in build/fuzz/artifacts/X/
# and its log in build/fuzz/logs/X.log.
set -u
cd "$(dirname "$0")/../.." || exit 2
SECONDS_EACH=${1:?usage: run.sh SECONDS TARGET...}
shift
passed=0 failed=0
for bin in "$@"; do
  name=$(basename "$bin"); name=${name#fuzz_}; name=${name#lua_}
  seeds=spec/fuzz/corpus/$name
  work=$(mktemp -d)
  mkdir -p "build/fuzz/artifacts/$name" build/fuzz/logs
  log=build/fuzz/logs/$name.log
  set -- -max_total_time="$SECONDS_EACH" -timeout=10 -rss_limit_mb=2560 -max_len=16384 \
    -print_final_stats=1 -artifact_prefix="build/fuzz/artifacts/$name/"
  [ -f "spec/fuzz/dict/$name.dict" ] && set -- "$@" -dict="spec/fuzz/dict/$name.dict"
  if [ ! -x "$bin" ]; then
    echo "fuzz $name: FAILED ($bin is not built)"
    failed=$((failed + 1))
  elif "$bin" "$@" "$work" "$seeds" > "$log" 2>&1; then
    runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n 1)
    cov=$(grep -o 'cov: [0-9]*' "$log" | tail -n 1)
    echo "fuzz $name: ok, ${runs:-?} inputs in ${SECONDS_EACH} s ($cov, $(ls "$seeds" | wc -l) seeds)"
    passed=$((passed + 1))
  else
    echo "fuzz $name: FAILED (see $log and build/fuzz/artifacts/$name/)"
    grep -E 'ERROR|raised|SUMMARY|Test unit written' "$log" | head -n 20
    failed=$((failed + 1))
  fi
  rm -rf "$work"
done
echo "fuzz: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
