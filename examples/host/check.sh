#!/bin/sh
# Builds nothing; runs the example C host (build/$LUA_IMPL/host, from
# `make host`) against a fresh sandbox that answers every /addressbooks call
# 1 s late, and checks that no gap between frames reached 500 ms while the
# calls were in flight: a frame that waited for an answer would make a gap
# of a second. (The loop's gaps are 17 ms; a loaded machine made them 57 ms,
# both CPUs busy and a load of 40: a bound of 50 ms failed there. The frame
# budget of a real game is a matter for bench/, not for this check.) With
# SP_MEMCHECK=1 or also, runs it once more under valgrind (no frame check:
# valgrind is slow), which must be clean.
#
# Prints "N passed, N failed" last, for spec/run.sh.
set -u
cd "$(dirname "$0")/../.." || exit 2
LUA_IMPL=${LUA_IMPL:-lua5.4}
HOST=build/$LUA_IMPL/host
MAX_FRAME_MS=${MAX_FRAME_MS:-500}
passed=0 failed=0

out=$(mktemp)
lua5.4 lua/sendpulse/sandbox/init.lua --port 0 >"$out" 2>&1 &
sandbox_pid=$!
trap 'kill $sandbox_pid 2>/dev/null; rm -f "$out"' EXIT
i=0
until grep -q listening "$out" 2>/dev/null; do
  i=$((i + 1)); [ $i -lt 100 ] || { echo "sandbox did not start"; cat "$out"; echo "0 passed, 1 failed"; exit 1; }
  sleep 0.05
done
port=$(sed -n 's/.*listening [0-9.]*:\([0-9]*\).*/\1/p' "$out")
url="http://127.0.0.1:$port"

control() {  # control PATH JSON
  curl -fsS -o /dev/null -X POST -H 'Content-Type: application/json' -d "$2" "$url$1"
}

run_host() {  # run_host LABEL MAX_FRAME_MS [command prefix...]
  label=$1 max=$2; shift 2
  control /_sandbox/reset '{}' &&
  control /_sandbox/config '{"rate":0}' &&
  control /_sandbox/faults '{"kind":"delay","delay":1,"count":-1,"path":"^/addressbooks"}' || {
    echo "$label: could not configure the sandbox"; failed=$((failed + 1)); return; }
  log=$(mktemp)
  "$@" "$HOST" "$url" lua examples/host/game.lua "$max" 2 >"$log"; rc=$?
  cat "$log"
  # State 1 ran the Lua files from lua/, state 2 the copy compiled in.
  if [ "$rc" -eq 0 ] && grep -q '^state 1: .*library from @lua/sendpulse/safe.lua' "$log" \
     && grep -q '^state 2: .*library from @sendpulse/safe.lua' "$log"; then
    echo "$label: ok"; passed=$((passed + 1))
  else
    echo "$label: FAILED"; failed=$((failed + 1))
  fi
  rm -f "$log"
}

run_host "example host, 2 lua_States, 60 fps" "$MAX_FRAME_MS"
case "${SP_MEMCHECK:-0}" in
  1|also)
    if command -v valgrind >/dev/null; then
      run_host "example host under valgrind" 0 valgrind --quiet --error-exitcode=97 \
        --leak-check=full --errors-for-leak-kinds=definite,indirect \
        --show-leak-kinds=definite,indirect
    fi ;;
esac
echo "host: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
