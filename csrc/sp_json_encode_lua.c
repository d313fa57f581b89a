/* JSON for request bodies (answers are decoded by sp_json_decode_lua.c).
 *
 * Encoding is ours rather than lua-cjson's because the Debian build of
 * lua-cjson (2.1.0) prints numbers with 14 significant digits and always
 * encodes an empty table as {}. Here:
 *   - integers are exact; floats are printed with the shortest form that
 *     reads back to the same double, and an integral float is printed as
 *     an integer (a decoded 1000.0 goes back out as 1000);
 *   - an empty table is {} unless its metatable says __jsontype = "array"
 *     (sendpulse.array, the dkjson convention), then []; a table so marked
 *     that has other keys than 1..n is an error, not an array cut short;
 *   - a table whose keys are exactly 1..n is an array, one with only string
 *     keys an object, anything else an error that names the place;
 *   - the JSON null is the NULL light userdata (the same value as cjson.null);
 *   - strings (keys too) must be UTF-8: anything else is an error that names
 *     the place and the byte (the decoder refuses the same). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sp_lua.h"
#include "sp_buf.h"
#include "sp_encode.h"

#define SP_JSON_MAX_DEPTH 128

typedef struct encoder {
    lua_State *L;
    sp_buf    *out;
    int        depth;
    /* Where we are, for error messages: keys of the enclosing tables are on
     * the Lua stack, reached through this index list. */
    int        path[SP_JSON_MAX_DEPTH];
} encoder;

static void encode_value(encoder *e, int idx);

static void out_of_memory(encoder *e)
{
    luaL_error(e->L, "not enough memory");
}

static void put(encoder *e, const char *s, size_t n)
{
    if (sp_buf_append(e->out, s, n) != 0)
        out_of_memory(e);
}

/* Raises "json: <what> at <path>", the path built from the key stack. The
 * stack may be as full as the encoder left it: room for the buffer (which
 * boxes itself once the path outgrows LUAL_BUFFERSIZE), one piece of the
 * path and luaL_error's own values is made first. */
static void encode_error(encoder *e, const char *what)
{
    lua_State *L = e->L;
    luaL_Buffer b;
    int i;

    luaL_checkstack(L, 8, "json: nested too deep");
    luaL_buffinit(L, &b);
    luaL_addstring(&b, "value");
    for (i = 0; i < e->depth; i++) {
        int k = e->path[i];
        if (lua_type(L, k) == LUA_TNUMBER) {
            lua_pushfstring(L, "[%d]", (int)lua_tointeger(L, k));
        } else if (lua_type(L, k) == LUA_TSTRING) {
            lua_pushfstring(L, ".%s", lua_tostring(L, k));
        } else {
            lua_pushfstring(L, "[%s]", luaL_typename(L, k));
        }
        luaL_addvalue(&b);
    }
    luaL_pushresult(&b);
    luaL_error(L, "json: %s at %s", what, lua_tostring(L, -1));
}

static void encode_number(encoder *e, int idx)
{
    char tmp[40];
    int n;
#if LUA_VERSION_NUM >= 503
    if (lua_isinteger(e->L, idx)) {
        n = snprintf(tmp, sizeof tmp, LUA_INTEGER_FMT, (LUAI_UACINT)lua_tointeger(e->L, idx));
    } else
#endif
    {
        double d = (double)lua_tonumber(e->L, idx);
        if (isnan(d) || isinf(d))
            encode_error(e, "NaN or infinity cannot be encoded");
        if (d == floor(d) && fabs(d) <= SP_MAX_SAFE_INTEGER) {
            n = snprintf(tmp, sizeof tmp, "%.0f", d);
        } else {
            n = snprintf(tmp, sizeof tmp, "%.15g", d);
            if (strtod(tmp, NULL) != d)
                n = snprintf(tmp, sizeof tmp, "%.17g", d);
        }
    }
    put(e, tmp, (size_t)n);
}

/* A string that is not UTF-8 would make the text something else than JSON
 * (RFC 8259 8.1): a strict server drops the connection, a lenient one
 * stores whatever its decoder makes of the bytes. Refused, naming the byte
 * (and not showing the string: it may be anything, of any size). A key's
 * error names the table that holds it. */
static void encode_string(encoder *e, int idx, int is_key)
{
    size_t n, bad;
    const char *s = lua_tolstring(e->L, idx, &n);
    bad = sp_utf8_check(s, n);
    if (bad != n) {
        char what[96];
        if (is_key)
            e->depth--;
        snprintf(what, sizeof what, "%s is not UTF-8 (byte %lu is 0x%02X)",
                 is_key ? "a key" : "a string", (unsigned long)bad + 1, (unsigned)(unsigned char)s[bad]);
        encode_error(e, what);
    }
    if (sp_buf_putc(e->out, '"') != 0 || sp_json_escape(e->out, s, n) != 0 ||
        sp_buf_putc(e->out, '"') != 0)
        out_of_memory(e);
}

/* -1: an object; n >= 0: an array of n items. A table marked as an array
 * must be one: keys 1..n and nothing else (a named field would be lost). */
static lua_Integer classify(encoder *e, int idx)
{
    lua_State *L = e->L;
    lua_Integer count = 0, max = 0;
    int strings = 0, others = 0, marked = 0;

    if (lua_getmetatable(L, idx)) {
        const char *kind;
        /* Raw: no Lua code runs while a value is encoded (a metatable's
         * __index could call the encoder again). */
        lua_pushliteral(L, "__jsontype");
        lua_rawget(L, -2);
        kind = lua_type(L, -1) == LUA_TSTRING ? lua_tostring(L, -1) : NULL;
        marked = kind != NULL && strcmp(kind, "array") == 0;
        lua_pop(L, 2);
    }
    lua_pushnil(L);
    while (lua_next(L, idx) != 0) {
        lua_pop(L, 1);
        if (lua_type(L, -1) == LUA_TSTRING) {
            strings++;
        } else if (lua_type(L, -1) == LUA_TNUMBER) {
            lua_Number k = lua_tonumber(L, -1);
            if (k >= 1 && k == floor(k) && k <= 2147483647.0) {
                count++;
                if ((lua_Integer)k > max)
                    max = (lua_Integer)k;
            } else {
                others++;
            }
        } else {
            others++;
        }
    }
    if (marked && strings > 0 && others == 0)
        encode_error(e, "table marked as an array has string keys");
    if (count == 0 && others == 0)
        return marked ? 0 : -1;   /* [], or {} or an object */
    if (others > 0 || strings > 0)
        encode_error(e, strings > 0 && others == 0
                     ? "table mixes array items and string keys"
                     : "table has keys that are neither strings nor array positions");
    if (max != count)
        encode_error(e, "array has holes (use sendpulse.null for JSON null)");
    return count;
}

static void encode_table(encoder *e, int idx)
{
    lua_State *L = e->L;
    lua_Integer n, i;
    int first = 1;

    if (e->depth >= SP_JSON_MAX_DEPTH)
        encode_error(e, "tables nested too deep (a cycle?)");
    luaL_checkstack(L, 6, "json: nested too deep");
    n = classify(e, idx);
    if (n >= 0) {
        put(e, "[", 1);
        for (i = 1; i <= n; i++) {
            if (i > 1)
                put(e, ",", 1);
            lua_pushinteger(L, i);
            e->path[e->depth++] = lua_gettop(L);
            lua_rawgeti(L, idx, (int)i);
            encode_value(e, lua_gettop(L));
            lua_pop(L, 2);
            e->depth--;
        }
        put(e, "]", 1);
        return;
    }
    put(e, "{", 1);
    lua_pushnil(L);
    while (lua_next(L, idx) != 0) {
        int key = lua_gettop(L) - 1;
        e->path[e->depth++] = key;
        if (!first)
            put(e, ",", 1);
        first = 0;
        encode_string(e, key, 1);
        put(e, ":", 1);
        encode_value(e, lua_gettop(L));
        lua_pop(L, 1);
        e->depth--;
    }
    put(e, "}", 1);
}

static void encode_value(encoder *e, int idx)
{
    lua_State *L = e->L;
    switch (lua_type(L, idx)) {
    case LUA_TSTRING:
        encode_string(e, idx, 0);
        break;
    case LUA_TNUMBER:
        encode_number(e, idx);
        break;
    case LUA_TBOOLEAN:
        if (lua_toboolean(L, idx))
            put(e, "true", 4);
        else
            put(e, "false", 5);
        break;
    case LUA_TTABLE:
        encode_table(e, idx);
        break;
    case LUA_TLIGHTUSERDATA:
        if (lua_touserdata(L, idx) == NULL) {
            put(e, "null", 4);
            break;
        }
        /* fall through */
    default:
        lua_pushfstring(L, "cannot encode a %s", luaL_typename(L, idx));
        encode_error(e, lua_tostring(L, -1));
    }
}

/* The encoder proper, run under lua_pcall by core_json_encode: value at 1,
 * the output buffer (light userdata) at 2. */
static int encode_protected(lua_State *L)
{
    encoder e;
    e.L = L;
    e.out = lua_touserdata(L, 2);
    e.depth = 0;
    lua_settop(L, 1);
    encode_value(&e, 1);
    return 0;
}

/* The output buffer shared by the calls of core.json_encode (upvalue 1). */
typedef struct json_out {
    sp_buf buf;
    int    busy;   /* a call is using buf */
} json_out;

/* core.json_encode(value) -> string. The output buffer is upvalue 1, a
 * userdata that frees it on __gc: a raised error strands nothing. A call
 * made while another one runs (from a finaliser the collector ran mid-way)
 * gets a buffer of its own instead of emptying the running call's; the
 * encoding runs under lua_pcall so the buffer is marked free again however
 * it ends. */
static int core_json_encode(lua_State *L)
{
    json_out *shared = lua_touserdata(L, lua_upvalueindex(1));
    sp_buf *out;
    int status;

    luaL_checkany(L, 1);
    lua_settop(L, 1);
    if (shared->busy) {
        out = sp_newuserdata(L, sizeof *out);   /* at 2, freed by its __gc */
        memset(out, 0, sizeof *out);
        lua_getmetatable(L, lua_upvalueindex(1));
        lua_setmetatable(L, -2);
    } else {
        out = &shared->buf;
        shared->busy = 1;
    }
    out->len = 0;
    lua_pushcfunction(L, encode_protected);
    lua_pushvalue(L, 1);
    lua_pushlightuserdata(L, out);
    status = lua_pcall(L, 2, 0, 0);
    if (out == &shared->buf)
        shared->busy = 0;
    if (status != 0) {
        sp_buf_clear(out, SP_KEEP_BUFFER);
        return lua_error(L);
    }
    lua_pushlstring(L, out->data ? out->data : "", out->len);
    sp_buf_clear(out, SP_KEEP_BUFFER);
    return 1;
}

/* __gc of the shared json_out and of a nested call's sp_buf: both start
 * with the buffer. */
static int buffer_gc(lua_State *L)
{
    sp_buf_free(lua_touserdata(L, 1));
    return 0;
}

void sp_open_json_encode(lua_State *L)
{
    json_out *shared;

    shared = sp_newuserdata(L, sizeof *shared);
    memset(shared, 0, sizeof *shared);
    lua_newtable(L);
    lua_pushcfunction(L, buffer_gc);
    lua_setfield(L, -2, "__gc");
    lua_setmetatable(L, -2);
    lua_pushcclosure(L, core_json_encode, 1);
    lua_setfield(L, -2, "json_encode");
    /* The JSON null: NULL light userdata, equal to lua-cjson's cjson.null. */
    lua_pushlightuserdata(L, NULL);
    lua_setfield(L, -2, "null");
}
