/* Lua 5.1 / LuaJIT 2.1 / 5.3 / 5.4 differences, in one place and under our
 * own prefix: LuaJIT 2.1 already defines several 5.2 names, so redefining the
 * bare lua_* / luaL_* names would clash. */
#ifndef SP_COMPAT_H
#define SP_COMPAT_H

#include <lua.h>
#include <lauxlib.h>

#if LUA_VERSION_NUM >= 502
#define sp_rawlen(L, i) lua_rawlen((L), (i))
#else
#define sp_rawlen(L, i) lua_objlen((L), (i))
#endif

#if LUA_VERSION_NUM >= 504
#define sp_newuserdata(L, sz) lua_newuserdatauv((L), (sz), 1)
#else
#define sp_newuserdata(L, sz) lua_newuserdata((L), (sz))
#endif

#if LUA_VERSION_NUM >= 503
#define sp_isinteger(L, i) lua_isinteger((L), (i))
#else
#define sp_isinteger(L, i) 0
#endif

/* luaL_setfuncs without upvalues. */
static inline void sp_setfuncs(lua_State *L, const luaL_Reg *l)
{
    for (; l->name != NULL; l++) {
        lua_pushcfunction(L, l->func);
        lua_setfield(L, -2, l->name);
    }
}

/* luaL_testudata: the userdata at i if it has metatable `name`, else NULL. */
static inline void *sp_testudata(lua_State *L, int i, const char *name)
{
    void *p = lua_touserdata(L, i);
    int same;
    if (p == NULL || !lua_getmetatable(L, i))
        return NULL;
    luaL_getmetatable(L, name);
    same = lua_rawequal(L, -1, -2);
    lua_pop(L, 2);
    return same ? p : NULL;
}

/* A new metatable `name` with methods in __index, __name for error messages
 * (5.1 does not fill it in itself), and the given metamethods. */
static inline void sp_newclass(lua_State *L, const char *name,
                               const luaL_Reg *methods, const luaL_Reg *meta)
{
    luaL_newmetatable(L, name);
    lua_pushstring(L, name);
    lua_setfield(L, -2, "__name");
    sp_setfuncs(L, meta);
    lua_newtable(L);
    sp_setfuncs(L, methods);
    lua_setfield(L, -2, "__index");
    lua_pop(L, 1);
}

/* Integer argument that also accepts an integral float (Debian's lua-cjson
 * decodes every number as a float). */
static inline lua_Integer sp_checkinteger(lua_State *L, int i)
{
    lua_Number n = luaL_checknumber(L, i);
    lua_Integer v = (lua_Integer)n;
    if ((lua_Number)v != n)
        luaL_argerror(L, i, "number has no integer representation");
    return v;
}

#endif
