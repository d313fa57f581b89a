/* What the fuzz targets share: a Lua state of the Lua 5.4 the Makefile
 * builds for fuzzing (from Debian's source, with ASan and LUA_USE_APICHECK,
 * so a misuse of the Lua C API stops the run like a memory error does),
 * the standard libraries, the C core linked in as sendpulse.core, and the
 * repository's Lua files on package.path: targets run from the repository
 * root (spec/fuzz/run.sh goes there). One state serves every input of a
 * run, as one serves every call of a client. */
#ifndef SP_FUZZ_HARNESS_H
#define SP_FUZZ_HARNESS_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include <lua.h>
#include <lauxlib.h>
#include <lualib.h>

int luaopen_sendpulse_core(lua_State *L);

static inline lua_State *sp_fuzz_state(void)
{
    lua_State *L = luaL_newstate();
    if (L == NULL)
        abort();
    luaL_openlibs(L);
    luaL_getsubtable(L, LUA_REGISTRYINDEX, LUA_PRELOAD_TABLE);
    lua_pushcfunction(L, luaopen_sendpulse_core);
    lua_setfield(L, -2, "sendpulse.core");
    lua_pop(L, 1);
    lua_getglobal(L, "package");
    lua_pushliteral(L, "lua/?.lua;lua/?/init.lua");
    lua_setfield(L, -2, "path");
    lua_pushliteral(L, "");
    lua_setfield(L, -2, "cpath");
    lua_pop(L, 1);
    return L;
}

/* The message handler of sp_fuzz_pcall: the error with a traceback. */
static inline int sp_fuzz_traceback(lua_State *L)
{
    luaL_traceback(L, L, lua_tostring(L, 1), 1);
    return 1;
}

/* Calls the function below its nargs arguments under a traceback handler;
 * a raised error is a finding: printed, then abort(), so libFuzzer keeps
 * the input that caused it. */
static inline void sp_fuzz_pcall(lua_State *L, int nargs, const char *what)
{
    int base = lua_gettop(L) - nargs;
    lua_pushcfunction(L, sp_fuzz_traceback);
    lua_insert(L, base);
    if (lua_pcall(L, nargs, 0, base) != 0) {
        fprintf(stderr, "%s raised: %s\n", what, lua_tostring(L, -1));
        abort();
    }
    lua_remove(L, base);
}

#endif
