/* Lua bindings of the wire encoders in sp_encode.h:
 *   core.urlencode(s)      -> RFC 3986 percent-encoded s
 *   core.base64_encode(s)  -> Base64 of s
 *   core.base64_decode(s)  -> bytes, or nil, message
 *   core.fingerprint(s [, from]) -> 16 hex digits (FNV-1a, 64 bit): a
 *                             stable, non-reversible-at-a-glance key for a
 *                             secret; not a cryptographic hash. With `from`
 *                             (an earlier result) it goes on from there:
 *                             fingerprint(b, fingerprint(a)) ==
 *                             fingerprint(a .. b), so a file can be
 *                             fingerprinted piece by piece (the import's
 *                             journal does)
 *   core.json_string_size(s [, init]) -> the bytes of s (from position
 *                             init, 1 by default) as a JSON string (quotes
 *                             and escapes included), or nil and the position
 *                             in s of the first byte that is not UTF-8: the
 *                             encoder's rules, for checks and bounds ahead
 *                             of it (the bulk import's batches, the command
 *                             line's output) */
#include <string.h>

#include "sp_lua.h"
#include "sp_buf.h"
#include "sp_encode.h"

/* The scratch buffer is upvalue 1 of each function (freed by its __gc), so a
 * raised error leaks nothing and calls reuse its memory. */
#define SCRATCH(L) ((sp_buf *)lua_touserdata((L), lua_upvalueindex(1)))

static int push_scratch(lua_State *L, sp_buf *b, int failed)
{
    if (failed) {
        sp_buf_clear(b, 0);
        return luaL_error(L, "not enough memory");
    }
    lua_pushlstring(L, b->data ? b->data : "", b->len);
    sp_buf_clear(b, SP_KEEP_BUFFER);
    return 1;
}

static int core_urlencode(lua_State *L)
{
    size_t n;
    const char *s = luaL_checklstring(L, 1, &n);
    sp_buf *b = SCRATCH(L);
    b->len = 0;
    return push_scratch(L, b, sp_percent_encode(b, s, n) != 0);
}

static int core_base64_encode(lua_State *L)
{
    size_t n;
    const char *s = luaL_checklstring(L, 1, &n);
    sp_buf *b = SCRATCH(L);
    b->len = 0;
    return push_scratch(L, b, sp_base64_encode(b, (const unsigned char *)s, n) != 0);
}

static int core_base64_decode(lua_State *L)
{
    size_t n, bad_at = 0;
    const char *s = luaL_checklstring(L, 1, &n);
    sp_buf *b = SCRATCH(L);
    b->len = 0;
    if (sp_base64_decode(b, s, n, &bad_at) != 0) {
        sp_buf_clear(b, SP_KEEP_BUFFER);
        if (b->data == NULL && bad_at == 0 && n > 0)
            return luaL_error(L, "not enough memory");
        lua_pushnil(L);
        lua_pushfstring(L, "invalid Base64 at byte %d", (int)bad_at + 1);
        return 2;
    }
    return push_scratch(L, b, 0);
}

static int core_fingerprint(lua_State *L)
{
    size_t n, i;
    const unsigned char *s = (const unsigned char *)luaL_checklstring(L, 1, &n);
    unsigned long long h = 14695981039346656037ull;
    char hex[17];
    if (!lua_isnoneornil(L, 2)) {
        size_t m;
        const char *from = luaL_checklstring(L, 2, &m);
        luaL_argcheck(L, m == 16 && strspn(from, "0123456789abcdef") == 16, 2,
                      "an earlier fingerprint (16 lowercase hex digits)");
        h = 0;
        for (i = 0; i < 16; i++)
            h = (h << 4) | (unsigned long long)(from[i] <= '9' ? from[i] - '0' : from[i] - 'a' + 10);
    }
    for (i = 0; i < n; i++) {
        h ^= s[i];
        h *= 1099511628211ull;
    }
    for (i = 0; i < 16; i++)
        hex[i] = "0123456789abcdef"[(h >> (60 - 4 * i)) & 15];
    lua_pushlstring(L, hex, 16);
    return 1;
}

static int core_json_string_size(lua_State *L)
{
    size_t n, bad = 0, size;
    const char *s = luaL_checklstring(L, 1, &n);
    lua_Integer init = luaL_optinteger(L, 2, 1);
    luaL_argcheck(L, init >= 1 && (size_t)init <= n + 1, 2, "init must be a position in the string");
    size = sp_json_string_size(s + init - 1, n - (size_t)(init - 1), &bad);
    if (size == 0) {
        lua_pushnil(L);
        lua_pushinteger(L, (lua_Integer)bad + init);
        return 2;
    }
    lua_pushinteger(L, (lua_Integer)size);
    return 1;
}

static int scratch_gc(lua_State *L)
{
    sp_buf_free(lua_touserdata(L, 1));
    return 0;
}

void sp_open_encode(lua_State *L)
{
    static const luaL_Reg funcs[] = {
        { "urlencode", core_urlencode },
        { "base64_encode", core_base64_encode },
        { "base64_decode", core_base64_decode },
        { NULL, NULL }
    };
    const luaL_Reg *f;
    sp_buf *b = sp_newuserdata(L, sizeof *b);   /* shared by the three */
    memset(b, 0, sizeof *b);
    lua_newtable(L);
    lua_pushcfunction(L, scratch_gc);
    lua_setfield(L, -2, "__gc");
    lua_setmetatable(L, -2);
    for (f = funcs; f->name != NULL; f++) {
        lua_pushvalue(L, -1);
        lua_pushcclosure(L, f->func, 1);
        lua_setfield(L, -3, f->name);
    }
    lua_pop(L, 1);
    lua_pushcfunction(L, core_fingerprint);
    lua_setfield(L, -2, "fingerprint");
    lua_pushcfunction(L, core_json_string_size);
    lua_setfield(L, -2, "json_string_size");
}
