/* The Redis reply reader (csrc/sp_resp.c) on any bytes, as a hostile Redis
 * would send them, then its Lua values (csrc/sp_resp_lua.c) under the ASan
 * + LUA_USE_APICHECK Lua. The first input byte chooses the bounds (small
 * ones, so that the fuzzer reaches them) and how the rest arrives: whole,
 * or in pieces of 1 to 16 bytes, as reads from a socket would give it.
 * What must hold:
 *   - the same verdict and reply length however the bytes arrive;
 *   - a reply said whole is exactly the bytes its items walk over
 *     (sp_resp_next), no more array elements than max_elements, no deeper
 *     than SP_RESP_MAX_DEPTH, no longer than max_bytes;
 *   - a reply over a bound or not RESP2 is refused, with a reason;
 *   - the Lua values are built without an error, and an array holds as
 *     many values as it announced. */
#include <string.h>

#include "harness.h"
#include "sp_resp.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
void sp_push_resp(lua_State *L, const char *buf, size_t len);

static lua_State *L;

static int push_it(lua_State *S)
{
    sp_push_resp(S, lua_touserdata(S, 1), (size_t)lua_tointeger(S, 2));
    return 1;
}

/* Walks the items of a whole reply; returns the number of values, or
 * aborts when the walk and the check disagree. */
static size_t walk(const char *buf, size_t len, size_t *pos, int depth, size_t *elements)
{
    sp_resp_item it;
    size_t i, values = 1;

    if (depth > SP_RESP_MAX_DEPTH || !sp_resp_next(buf, len, pos, &it) || *pos > len)
        abort();
    if (it.type == '*' && !it.null) {
        *elements += it.count;
        for (i = 0; i < it.count; i++)
            values += walk(buf, len, pos, depth + 1, elements);
    }
    return values;
}

/* Counts the Lua values of the value on the top of the stack. */
static size_t lua_values(lua_State *S, int depth)
{
    size_t n = 1;
    lua_Integer i, count;

    if (lua_type(S, -1) != LUA_TTABLE)
        return 1;
    if (depth > SP_RESP_MAX_DEPTH)
        abort();
    count = (lua_Integer)lua_rawlen(S, -1);
    for (i = 1; i <= count; i++) {
        lua_rawgeti(S, -1, i);
        if (lua_isnil(S, -1))
            abort();   /* a hole: an element went missing */
        n += lua_values(S, depth + 1);
        lua_pop(S, 1);
    }
    return n;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const size_t bytes_bounds[4] = { 64, 256, 4096, SP_RESP_MAX_BYTES };
    static const size_t element_bounds[4] = { 0, 3, 64, SP_RESP_MAX_ELEMENTS };
    sp_resp_reader whole, pieces;
    sp_resp_status a, b = SP_RESP_MORE;
    size_t max_bytes, max_elements, len, got = 0, pos = 0, elements = 0, values;
    char *buf;
    unsigned step;

    if (size < 1)
        return 0;
    if (L == NULL)
        L = sp_fuzz_state();
    max_bytes = bytes_bounds[data[0] & 3];
    max_elements = element_bounds[(data[0] >> 2) & 3];
    step = (unsigned)(data[0] >> 4);   /* 0: whole; else pieces of that many bytes */
    len = size - 1;
    buf = malloc(len ? len : 1);
    memcpy(buf, data + 1, len);

    sp_resp_start(&whole, max_bytes, max_elements);
    a = sp_resp_check(&whole, buf, len);
    if (step == 0) {
        b = a;
        pieces = whole;
    } else {
        sp_resp_start(&pieces, max_bytes, max_elements);
        while (b == SP_RESP_MORE && got < len) {
            got = got + step < len ? got + step : len;
            b = sp_resp_check(&pieces, buf, got);
        }
    }
    if (a != b)
        abort();
    if (a == SP_RESP_DONE) {
        if (pieces.pos != whole.pos || whole.pos > len || whole.pos > max_bytes || whole.depth != 0)
            abort();
        values = walk(buf, whole.pos, &pos, 0, &elements);
        if (pos != whole.pos || elements > max_elements || elements != whole.elements)
            abort();
        lua_pushcfunction(L, push_it);
        lua_pushlightuserdata(L, buf);
        lua_pushinteger(L, (lua_Integer)whole.pos);
        if (lua_pcall(L, 2, 1, 0) != 0)
            abort();   /* only a memory error could raise: none is expected */
        if (lua_values(L, 0) != values)
            abort();
        lua_pop(L, 1);
    } else if (a == SP_RESP_TOO_LARGE || a == SP_RESP_PROTOCOL) {
        if (whole.why[0] == '\0' || strcmp(whole.why, pieces.why) != 0)
            abort();
    } else if (len > max_bytes) {
        abort();   /* more than the bound and still waiting for more */
    }
    free(buf);
    return 0;
}
