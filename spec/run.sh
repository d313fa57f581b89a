#!/bin/sh
# Runs the whole suite and ends with one line: "N passed, N failed, N skipped".
#
#   sh spec/run.sh [C test binaries...]
#
# Environment: LUA_IMPL (lua5.4, lua5.3, lua5.1, luajit) picks the build of
# the C core; LUA the interpreter; SP_MEMCHECK=1 runs busted under valgrind
# only, SP_MEMCHECK=also runs it plainly and then under valgrind (any
# valgrind error or leak is a failure); BUSTED_ARGS adds arguments (a spec
# file, --filter=...); SP_ALSO_IMPLS (below) adds passes on other Lua
# implementations.
set -u
cd "$(dirname "$0")/.." || exit 2
LUA_IMPL=${LUA_IMPL:-lua5.4}
LUA=${LUA:-$LUA_IMPL}
BUSTED=${BUSTED:-/usr/bin/busted}
passed=0 failed=0 skipped=0
# What failed, recalled just above the closing line: CI shows only the end of
# a long log, and a failure in the first pass scrolls out of it.
recap=$(mktemp)
trap 'rm -f "$recap"' EXIT

count() {  # count <text> <word>: the number before "<word>" on the last match
  printf '%s\n' "$1" | sed -n "s/.* \([0-9][0-9]*\) $2.*/\1/p" | tail -n 1
}

for t in "$@"; do
  out=$("$t"); rc=$?
  printf '%s\n' "$out"
  p=$(count "$out" passed); f=$(count "$out" failed)
  passed=$((passed + ${p:-0})); failed=$((failed + ${f:-0}))
  if [ "$rc" -ne 0 ] && [ "${f:-0}" -eq 0 ]; then failed=$((failed + 1)); fi
  if [ "$rc" -ne 0 ]; then echo "$t: exit $rc" >>"$recap"; fi
done

export LUA_CPATH="build/$LUA_IMPL/?.so;;"

# run_busted <label> [valgrind]: runs the busted suite, adds its counts.
run_busted() {
  label=$1 log=$(mktemp) vglog=""
  if [ "${2:-}" = valgrind ]; then
    vglog=$(mktemp)
    # Definite and indirect leaks are errors; "possibly lost" and "still
    # reachable" blocks are libcurl's and OpenSSL's process-wide caches.
    # Tests tagged "timing" measure rates and are meaningless at valgrind's
    # speed: they run in the plain pass only. So do tests tagged "once"
    # (luarocks, release archives, the docs' shell lines): they drive other
    # processes, which valgrind does not watch. And "long": the outbox's
    # multi-process drains (spec/outbox_drain_spec.lua), minutes at the
    # 10/s ceiling in child processes valgrind does not watch either.
    set -- valgrind --quiet --error-exitcode=97 --leak-check=full \
      --errors-for-leak-kinds=definite,indirect --show-leak-kinds=definite,indirect \
      --log-file="$vglog" "$LUA" "$BUSTED" --exclude-tags=timing,once,long
  else
    set -- "$LUA" "$BUSTED"
  fi
  echo "== $label"
  # shellcheck disable=SC2086
  "$@" ${BUSTED_ARGS:-} 2>&1 | tee "$log"
  summary=$(grep -E '[0-9]+ success(es)? / [0-9]+ failures? / [0-9]+ errors? / [0-9]+ pending' "$log" | tail -n 1)
  if [ -z "$summary" ]; then
    echo "busted did not finish (no summary line)"
    failed=$((failed + 1))
  else
    s=$(printf '%s' "$summary" | sed -n 's/^\([0-9]*\) success.*/\1/p')
    fl=$(printf '%s' "$summary" | sed -n 's/.* \([0-9]*\) failure.*/\1/p')
    er=$(printf '%s' "$summary" | sed -n 's/.* \([0-9]*\) error.*/\1/p')
    pe=$(printf '%s' "$summary" | sed -n 's/.* \([0-9]*\) pending.*/\1/p')
    passed=$((passed + s)); failed=$((failed + fl + er)); skipped=$((skipped + pe))
  fi
  # busted's report of each failure: "Failure -> file @ line" (an arrow in
  # a UTF-8 locale), the test's full name, the first line of the message.
  awk -v pass="$label" '
    /^(Failure|Error) .* @ [0-9]+$/ { n = 2; printf "%s: %s", pass, $0; next }
    n > 0 { n--; printf " | %s", substr($0, 1, 200); if (n == 0) print ""; }
    END { if (n > 0) print "" }' "$log" >>"$recap"
  if [ -z "$summary" ]; then echo "$label: did not finish" >>"$recap"; fi
  if [ -n "$vglog" ]; then
    # The valgrind pass counts once more, as one check: clean or not.
    if [ -s "$vglog" ]; then
      echo "valgrind found errors or leaks:"; cat "$vglog"
      failed=$((failed + 1)); echo "$label: valgrind found errors or leaks" >>"$recap"
    else
      echo "valgrind: no errors, no leaks"
      passed=$((passed + 1))
    fi
    rm -f "$vglog"
  fi
  rm -f "$log"
}

# check <label> <command...>: one counted check (lint and the like).
check() {
  label=$1; shift
  if "$@"; then passed=$((passed + 1)); echo "$label: ok"
  else failed=$((failed + 1)); echo "$label: FAILED"; echo "$label: FAILED" >>"$recap"; fi
}
if [ "${SP_LINT:-0}" = 1 ]; then
  # Only the folders that exist (bench/ comes with its own branch).
  lint_dirs=""
  for d in lua spec examples bench bin/sendpulse; do [ -e "$d" ] && lint_dirs="$lint_dirs $d"; done
  # shellcheck disable=SC2086
  check "luacheck" luacheck --quiet --formatter=plain $lint_dirs
  for rockspec in rockspec/*.rockspec; do
    check "luarocks lint $rockspec" luarocks lint "$rockspec"
  done
fi

case "${SP_MEMCHECK:-0}" in
  0) run_busted "busted ($LUA)" ;;
  1) run_busted "busted under valgrind ($LUA)" valgrind ;;
  also) run_busted "busted ($LUA)"; run_busted "busted under valgrind ($LUA)" valgrind ;;
esac
# SP_ALSO_IMPLS: more Lua implementations, one plain busted pass each, with
# the C core built for them (make check: luajit, OpenResty's Lua). Their
# counts join the closing line. The nginx specs are left out of these
# passes: they test the LuaJIT inside nginx whatever interpreter drives them;
# so are the "once" and "long" ones (see above: their children run the
# Lua 5.4 build whatever drives them).
for impl in ${SP_ALSO_IMPLS:-}; do
  main_lua=$LUA main_args=${BUSTED_ARGS:-}
  LUA=$impl BUSTED_ARGS="$main_args --exclude-tags=nginx,once,long"
  export LUA_CPATH="build/$impl/?.so;;"
  run_busted "busted ($impl)"
  LUA=$main_lua BUSTED_ARGS=$main_args
done
if [ -s "$recap" ]; then echo "== what failed"; cat "$recap"; fi
echo "$passed passed, $failed failed, $skipped skipped"
[ "$failed" -eq 0 ]
