/* core.json_decode(text [, array_mt]) -> value: JSON answers straight into Lua tables.
 *
 * Why not lua-cjson (which the client used to call, then fix up): bench/
 * measured it. Debian's lua-cjson 2.1.0 decodes every number as a float on
 * Lua 5.3+, so each answer needed a second walk over the whole tree
 * (a second walk over the tree) to turn ids back into integers, 13% more instructions
 * on a contact list; and it creates every table empty and grows it key by
 * key, so an object of 9 keys is rehashed 5 times: about 700 instructions
 * per key, a third of a whole small call. Here:
 *   - integers are exact (any that fit in a lua_Integer) and integral
 *     floats (1000.0) become integers, as that walk did; other
 *     numbers are floats. On Lua 5.1 / LuaJIT every number is a double.
 *   - each table is created at its final size: items are parsed onto the
 *     Lua stack first, then moved into a table sized for them (in batches,
 *     so a huge array cannot overflow the stack);
 *   - null is the NULL light userdata (sendpulse.null == cjson.null);
 *   - strict JSON: no NaN, Infinity, hex, comments, trailing commas, or
 *     unescaped control characters in strings; a repeated key keeps its
 *     last value; nesting deeper than SP_JSON_MAX_NESTING is an error;
 *   - strings must be UTF-8 (RFC 8259 8.1; RFC 3629's rules: no overlong
 *     forms, no surrogates), as \u escapes already had to pair their
 *     surrogates: a decoded value is always one the encoder takes back;
 *   - core.json_decode(text, array_mt): every empty array [] gets array_mt
 *     as its metatable (sendpulse.json passes its array mark), so it
 *     encodes back as [] rather than {}; without it, [] is a plain table.
 * Errors are raised as "json: <what> at character <n>" (json.lua turns them
 * into nil, message). Nothing is allocated outside Lua's own stack and
 * buffers, so a raised error strands nothing. */
#include <math.h>
#include <string.h>

#include "sp_lua.h"
#include "sp_encode.h"

#define SP_JSON_MAX_NESTING 1000
/* Items parsed onto the stack before they are moved into their table. */
#define SP_ARRAY_BATCH 256
#define SP_OBJECT_BATCH 64
/* Above this many stack slots, the pending items of the current table are
 * moved into it before another value is parsed: nested tables each holding
 * a part batch would otherwise add up (LuaJIT lets a C function use 8000
 * slots; 32 levels of 255 pending items overflowed it). What stays per
 * level is the table and a key, so 1000 levels fit too. */
#define SP_STACK_BUDGET 2000

typedef struct decoder {
    lua_State  *L;
    const char *start, *p, *end;
    int         depth;
    int         array_mt;   /* stack index of the mark for [], or 0 */
} decoder;

static void parse_value(decoder *d);

static void fail(decoder *d, const char *what)
{
    luaL_error(d->L, "json: %s at character %d", what, (int)(d->p - d->start) + 1);
}

static void skip_space(decoder *d)
{
    const char *p = d->p, *end = d->end;
    while (p < end && (*p == ' ' || *p == '\n' || *p == '\r' || *p == '\t'))
        p++;
    d->p = p;
}

static int hex_value(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* The four hex digits after "\u" at d->p + 2. */
static unsigned read_hex4(decoder *d, const char *at)
{
    unsigned v = 0;
    int i;
    if (d->end - at < 4) {
        d->p = at;
        fail(d, "truncated \\u escape");
    }
    for (i = 0; i < 4; i++) {
        int h = hex_value(at[i]);
        if (h < 0) {
            d->p = at + i;
            fail(d, "invalid \\u escape");
        }
        v = v << 4 | (unsigned)h;
    }
    return v;
}

static void add_utf8(luaL_Buffer *b, unsigned cp)
{
    if (cp < 0x80) {
        luaL_addchar(b, (char)cp);
    } else if (cp < 0x800) {
        luaL_addchar(b, (char)(0xC0 | cp >> 6));
        luaL_addchar(b, (char)(0x80 | (cp & 0x3F)));
    } else if (cp < 0x10000) {
        luaL_addchar(b, (char)(0xE0 | cp >> 12));
        luaL_addchar(b, (char)(0x80 | (cp >> 6 & 0x3F)));
        luaL_addchar(b, (char)(0x80 | (cp & 0x3F)));
    } else {
        luaL_addchar(b, (char)(0xF0 | cp >> 18));
        luaL_addchar(b, (char)(0x80 | (cp >> 12 & 0x3F)));
        luaL_addchar(b, (char)(0x80 | (cp >> 6 & 0x3F)));
        luaL_addchar(b, (char)(0x80 | (cp & 0x3F)));
    }
}

/* Skips the bytes of a string that stand for themselves (not '"', '\\' or
 * a control character) from p; returns where they stop. Bytes above 0x7F
 * must form UTF-8 sequences. */
static const char *scan_plain(decoder *d, const char *p)
{
    const char *end = d->end;
    for (;;) {
        while (p < end && (unsigned char)*p >= 0x20 && (unsigned char)*p < 0x80 && *p != '"' && *p != '\\')
            p++;
        if (p < end && (unsigned char)*p >= 0x80) {
            size_t n = sp_utf8_sequence((const unsigned char *)p, (size_t)(end - p));
            if (n == 0) {
                d->p = p;
                fail(d, "string is not UTF-8");
            }
            p += n;
            continue;
        }
        return p;
    }
}

/* A string with escapes, from `from` (just after the opening quote). */
static void parse_escaped_string(decoder *d, const char *from)
{
    const char *p = from, *end = d->end;
    luaL_Buffer b;

    luaL_buffinit(d->L, &b);
    for (;;) {
        const char *run = p;
        p = scan_plain(d, p);
        luaL_addlstring(&b, run, (size_t)(p - run));
        if (p >= end) {
            d->p = p;
            fail(d, "unterminated string");
        }
        if (*p == '"')
            break;
        if (*p != '\\') {
            d->p = p;
            fail(d, "control character in string");
        }
        if (p + 1 >= end) {
            d->p = p;
            fail(d, "unterminated string");
        }
        switch (p[1]) {
        case '"':  luaL_addchar(&b, '"');  break;
        case '\\': luaL_addchar(&b, '\\'); break;
        case '/':  luaL_addchar(&b, '/');  break;
        case 'b':  luaL_addchar(&b, '\b'); break;
        case 'f':  luaL_addchar(&b, '\f'); break;
        case 'n':  luaL_addchar(&b, '\n'); break;
        case 'r':  luaL_addchar(&b, '\r'); break;
        case 't':  luaL_addchar(&b, '\t'); break;
        case 'u': {
            unsigned cp = read_hex4(d, p + 2);
            p += 4;
            if (cp >= 0xD800 && cp <= 0xDBFF) {
                /* A high surrogate: only valid followed by a low one. */
                unsigned lo;
                if (end - p < 8 || p[2] != '\\' || p[3] != 'u') {
                    d->p = p;
                    fail(d, "unpaired surrogate in \\u escape");
                }
                lo = read_hex4(d, p + 4);
                if (lo < 0xDC00 || lo > 0xDFFF) {
                    d->p = p + 2;
                    fail(d, "unpaired surrogate in \\u escape");
                }
                cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
                p += 6;
            } else if (cp >= 0xDC00 && cp <= 0xDFFF) {
                d->p = p - 4;
                fail(d, "unpaired surrogate in \\u escape");
            }
            add_utf8(&b, cp);
            break;
        }
        default:
            d->p = p;
            fail(d, "invalid escape in string");
        }
        p += 2;
    }
    luaL_pushresult(&b);
    d->p = p + 1;
}

/* Pushes the string at d->p (on its opening quote). */
static void parse_string(decoder *d)
{
    const char *from = d->p + 1, *end = d->end;
    /* The common case, no escapes: one lua_pushlstring from the text. */
    const char *p = scan_plain(d, from);
    if (p < end && *p == '"') {
        lua_pushlstring(d->L, from, (size_t)(p - from));
        d->p = p + 1;
        return;
    }
    parse_escaped_string(d, from);
}

static void push_float(lua_State *L, lua_Number v)
{
#if LUA_VERSION_NUM >= 503
    if (v == floor(v) && fabs(v) <= SP_MAX_SAFE_INTEGER) {
        lua_pushinteger(L, (lua_Integer)v);
        return;
    }
#endif
    lua_pushnumber(L, v);
}

/* -? (0 | [1-9][0-9]*) (. [0-9]+)? ([eE] [+-]? [0-9]+)? */
static void parse_number(decoder *d)
{
    const char *s = d->p, *p = s, *end = d->end;
    int negative = 0, digits = 0, is_float = 0;
    lua_Integer v = 0;

    if (*p == '-') {
        negative = 1;
        p++;
    }
    if (p < end && *p == '0') {
        p++;
        digits = 1;
    } else {
        while (p < end && *p >= '0' && *p <= '9') {
            if (++digits <= 18)       /* 18 digits cannot overflow 64 bits */
                v = v * 10 + (*p - '0');
            else
                is_float = 1;         /* longer: Lua's own conversion below */
            p++;
        }
    }
    if (digits == 0) {
        d->p = p;
        fail(d, "invalid number");
    }
    if (p < end && *p == '.') {
        is_float = 1;
        p++;
        if (p >= end || *p < '0' || *p > '9') {
            d->p = p;
            fail(d, "invalid number");
        }
        while (p < end && *p >= '0' && *p <= '9')
            p++;
    }
    if (p < end && (*p == 'e' || *p == 'E')) {
        is_float = 1;
        p++;
        if (p < end && (*p == '+' || *p == '-'))
            p++;
        if (p >= end || *p < '0' || *p > '9') {
            d->p = p;
            fail(d, "invalid number");
        }
        while (p < end && *p >= '0' && *p <= '9')
            p++;
    }
    d->p = p;
    if (!is_float) {
#if LUA_VERSION_NUM >= 503
        lua_pushinteger(d->L, negative ? -v : v);
#else
        lua_pushnumber(d->L, (lua_Number)(negative ? -v : v));
#endif
        return;
    }
    {
        /* Lua's own conversion (locale-proof since 5.3) on a NUL-terminated
         * copy; the syntax was checked above, so no hex or "inf" gets here.
         * A number too long for the copy on the C stack (any length is
         * valid JSON) is copied into a Lua string instead. */
        char tmp[72];
        const char *text = tmp;
        size_t n = (size_t)(p - s);
        int on_stack = 0;
        if (n < sizeof tmp) {
            memcpy(tmp, s, n);
            tmp[n] = '\0';
        } else {
            lua_pushlstring(d->L, s, n);
            text = lua_tostring(d->L, -1);
            on_stack = 1;
        }
#if LUA_VERSION_NUM >= 503
        if (lua_stringtonumber(d->L, text) == 0) {
            d->p = s;
            fail(d, "invalid number");
        }
        if (on_stack)
            lua_remove(d->L, -2);
        /* A 19-digit integer that fits stays exact; any float that is a
         * whole number within 2^53 becomes an integer. */
        if (!lua_isinteger(d->L, -1)) {
            lua_Number f = lua_tonumber(d->L, -1);
            lua_pop(d->L, 1);
            push_float(d->L, f);
        }
#else
        if (!on_stack)
            lua_pushlstring(d->L, text, n);
        {
            lua_Number f = lua_tonumber(d->L, -1);
            lua_pop(d->L, 1);
            push_float(d->L, f);
        }
#endif
    }
}

static void enter(decoder *d)
{
    if (++d->depth > SP_JSON_MAX_NESTING)
        fail(d, "nested too deep");
}

/* Moves the `count` values above `base` (+1 if the table exists) into the
 * array at base + 1, creating it, sized, on the first batch. */
static void flush_array(decoder *d, int base, int *created, lua_Integer *done, int count)
{
    lua_State *L = d->L;
    int i;
    if (!*created) {
        lua_createtable(L, count, 0);
        lua_insert(L, base + 1);
        *created = 1;
    }
    for (i = count; i >= 1; i--)   /* rawseti pops the top value */
        lua_rawseti(L, base + 1, (int)(*done + i));
    *done += count;
}

static void parse_array(decoder *d)
{
    lua_State *L = d->L;
    int base = lua_gettop(L), created = 0, pending = 0;
    lua_Integer done = 0;

    enter(d);
    d->p++;
    skip_space(d);
    if (d->p < d->end && *d->p == ']') {
        d->p++;
        lua_createtable(L, 0, 0);
        if (d->array_mt) {
            lua_pushvalue(L, d->array_mt);
            lua_setmetatable(L, -2);
        }
        d->depth--;
        return;
    }
    for (;;) {
        if (pending > 0 && lua_gettop(L) > SP_STACK_BUDGET) {
            flush_array(d, base, &created, &done, pending);
            pending = 0;
        }
        luaL_checkstack(L, 4, "json: answer nested too deep");
        parse_value(d);
        if (++pending == SP_ARRAY_BATCH) {
            flush_array(d, base, &created, &done, pending);
            pending = 0;
        }
        skip_space(d);
        if (d->p < d->end && *d->p == ',') {
            d->p++;
            continue;
        }
        if (d->p < d->end && *d->p == ']') {
            d->p++;
            break;
        }
        fail(d, "expected ',' or ']'");
    }
    flush_array(d, base, &created, &done, pending);
    d->depth--;
}

/* Moves the `count` key/value pairs above the table into it, in order, so a
 * repeated key keeps its last value. */
static void flush_object(decoder *d, int base, int *created, int count)
{
    lua_State *L = d->L;
    int t = base + 1, i;
    if (!*created) {
        lua_createtable(L, 0, count);
        lua_insert(L, t);
        *created = 1;
    }
    for (i = 0; i < count; i++) {
        lua_pushvalue(L, t + 1 + 2 * i);
        lua_pushvalue(L, t + 2 + 2 * i);
        lua_rawset(L, t);
    }
    lua_settop(L, t);
}

static void parse_object(decoder *d)
{
    lua_State *L = d->L;
    int base = lua_gettop(L), created = 0, pending = 0;

    enter(d);
    d->p++;
    skip_space(d);
    if (d->p < d->end && *d->p == '}') {
        d->p++;
        lua_createtable(L, 0, 0);
        d->depth--;
        return;
    }
    for (;;) {
        if (pending > 0 && lua_gettop(L) > SP_STACK_BUDGET) {
            flush_object(d, base, &created, pending);
            pending = 0;
        }
        luaL_checkstack(L, 6, "json: answer nested too deep");
        if (d->p >= d->end || *d->p != '"')
            fail(d, "expected a string key");
        parse_string(d);
        skip_space(d);
        if (d->p >= d->end || *d->p != ':')
            fail(d, "expected ':'");
        d->p++;
        parse_value(d);
        if (++pending == SP_OBJECT_BATCH) {
            flush_object(d, base, &created, pending);
            pending = 0;
        }
        skip_space(d);
        if (d->p < d->end && *d->p == ',') {
            d->p++;
            skip_space(d);
            continue;
        }
        if (d->p < d->end && *d->p == '}') {
            d->p++;
            break;
        }
        fail(d, "expected ',' or '}'");
    }
    flush_object(d, base, &created, pending);
    d->depth--;
}

static void parse_literal(decoder *d, const char *word, size_t n)
{
    if ((size_t)(d->end - d->p) < n || memcmp(d->p, word, n) != 0)
        fail(d, "unexpected character");
    d->p += n;
}

static void parse_value(decoder *d)
{
    skip_space(d);
    if (d->p >= d->end)
        fail(d, "unexpected end of input");
    switch (*d->p) {
    case '{':
        parse_object(d);
        break;
    case '[':
        parse_array(d);
        break;
    case '"':
        parse_string(d);
        break;
    case 't':
        parse_literal(d, "true", 4);
        lua_pushboolean(d->L, 1);
        break;
    case 'f':
        parse_literal(d, "false", 5);
        lua_pushboolean(d->L, 0);
        break;
    case 'n':
        parse_literal(d, "null", 4);
        lua_pushlightuserdata(d->L, NULL);
        break;
    default:
        if (*d->p == '-' || (*d->p >= '0' && *d->p <= '9'))
            parse_number(d);
        else
            fail(d, "unexpected character");
    }
}

/* core.json_decode(text [, array_mt]) -> value */
static int core_json_decode(lua_State *L)
{
    size_t len;
    decoder d;

    d.start = luaL_checklstring(L, 1, &len);
    if (!lua_isnoneornil(L, 2))
        luaL_checktype(L, 2, LUA_TTABLE);
    lua_settop(L, 2);
    d.array_mt = lua_istable(L, 2) ? 2 : 0;
    d.L = L;
    d.p = d.start;
    d.end = d.start + len;
    d.depth = 0;
    parse_value(&d);
    skip_space(&d);
    if (d.p != d.end)
        fail(&d, "text after the JSON value");
    return 1;
}

void sp_open_json_decode(lua_State *L)
{
    lua_pushcfunction(L, core_json_decode);
    lua_setfield(L, -2, "json_decode");
}
