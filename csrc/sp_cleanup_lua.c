/* core.remove_on_signal(path) -> handle | nil, message (sp_cleanup.h):
 * `path` is removed if SIGHUP, SIGINT, SIGQUIT or SIGTERM ends the process
 * (where their action is the default) until handle:release() (idempotent;
 * also __gc and __close), called once the file is renamed or removed. */
#include <string.h>

#include "sp_lua.h"
#include "sp_cleanup.h"

typedef struct sp_cleanup_handle {
    int slot;   /* -1 once released */
} sp_cleanup_handle;

static int core_remove_on_signal(lua_State *L)
{
    char err[256];
    size_t n;
    const char *path = luaL_checklstring(L, 1, &n);
    sp_cleanup_handle *h;

    luaL_argcheck(L, n > 0 && strlen(path) == n, 1, "path must be non-empty, without NUL bytes");
    h = sp_newuserdata(L, sizeof *h);
    h->slot = -1;
    luaL_getmetatable(L, SP_CLEANUP_MT);
    lua_setmetatable(L, -2);
    h->slot = sp_cleanup_add(path, err, sizeof err);
    if (h->slot < 0) {
        lua_pushnil(L);
        lua_pushfstring(L, "cannot remove %s on a signal: %s", path, err);
        return 2;
    }
    return 1;
}

static int cleanup_release(lua_State *L)
{
    sp_cleanup_handle *h = luaL_checkudata(L, 1, SP_CLEANUP_MT);
    if (h->slot >= 0) {
        sp_cleanup_remove(h->slot);
        h->slot = -1;
    }
    return 0;
}

static int cleanup_tostring(lua_State *L)
{
    sp_cleanup_handle *h = luaL_checkudata(L, 1, SP_CLEANUP_MT);
    lua_pushstring(L, h->slot >= 0 ? SP_CLEANUP_MT " (armed)" : SP_CLEANUP_MT " (released)");
    return 1;
}

void sp_open_cleanup(lua_State *L)
{
    static const luaL_Reg methods[] = {
        { "release", cleanup_release },
        { NULL, NULL }
    };
    luaL_newmetatable(L, SP_CLEANUP_MT);
    lua_newtable(L);
    sp_setfuncs(L, methods);
    lua_setfield(L, -2, "__index");
    lua_pushcfunction(L, cleanup_release);
    lua_setfield(L, -2, "__gc");
    lua_pushcfunction(L, cleanup_release);
    lua_setfield(L, -2, "__close");
    lua_pushcfunction(L, cleanup_tostring);
    lua_setfield(L, -2, "__tostring");
    lua_pop(L, 1);
    lua_pushcfunction(L, core_remove_on_signal);
    lua_setfield(L, -2, "remove_on_signal");
}
