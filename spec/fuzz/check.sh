#!/bin/sh
# What make check runs of the fuzzing: the regression tests of past
# findings on the ASan + LUA_USE_APICHECK Lua, then every target for
# FUZZ_SECONDS (20 by default) over its seeds. One closing line:
# "N passed, N failed" (spec/run.sh adds it to the suite's total).
set -u
cd "$(dirname "$0")/../.." || exit 2
out=$(build/fuzz/regress 2>&1); rc=$?
printf '%s\n' "$out"
p=$(printf '%s\n' "$out" | sed -n 's/.* \([0-9][0-9]*\) passed.*/\1/p' | tail -n 1)
f=$(printf '%s\n' "$out" | sed -n 's/.* \([0-9][0-9]*\) failed.*/\1/p' | tail -n 1)
[ "$rc" -ne 0 ] && [ "${f:-0}" -eq 0 ] && f=1
# The Makefile names the targets it built; by hand, whatever is built.
targets=${FUZZ_TARGETS:-$(ls build/fuzz/fuzz_* build/fuzz/lua_* 2>/dev/null)}
out=$(sh spec/fuzz/run.sh "${FUZZ_SECONDS:-20}" $targets 2>&1)
printf '%s\n' "$out"
p2=$(printf '%s\n' "$out" | sed -n 's/^fuzz: \([0-9]*\) passed.*/\1/p')
f2=$(printf '%s\n' "$out" | sed -n 's/.* \([0-9]*\) failed$/\1/p' | tail -n 1)
[ -z "$targets" ] && f2=$((${f2:-0} + 1)) && echo "no fuzz target is built"
passed=$((${p:-0} + ${p2:-0})) failed=$((${f:-0} + ${f2:-0}))
echo "fuzzing: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
