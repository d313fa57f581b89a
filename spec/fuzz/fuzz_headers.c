/* The answer-header parser on any bytes, in a buffer of exactly their size
 * (as libcurl may fill it): csrc/sp_headers.c's reader (every field inside
 * the block, a name without ':' or line ends), then sp_push_headers into a
 * Lua table of strings, under the ASan + LUA_USE_APICHECK Lua. The block
 * "HTTP/1.1 200 OK\nx:\n\n" read 4 bytes past such a buffer (issue 10
 * item 11); it is a seed of this target. */
#include <string.h>

#include "harness.h"
#include "sp_buf.h"
#include "sp_headers.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
void sp_push_headers(lua_State *L, const sp_buf *head);

static lua_State *L;

/* Pushes the headers of the sp_buf at upvalue-free light userdata 1. */
static int push_them(lua_State *S)
{
    sp_push_headers(S, lua_touserdata(S, 1));
    return 1;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *block = malloc(size ? size : 1);
    const char *p, *end;
    sp_header h;
    sp_buf head;
    size_t fields = 0;

    if (L == NULL)
        L = sp_fuzz_state();
    memcpy(block, data, size);
    p = block;
    end = block + size;
    while (sp_headers_next(&p, end, &h)) {
        if (h.name < block || h.name + h.name_len > end || h.value < block || h.value + h.value_len > end
            || h.name_len == 0 || memchr(h.name, ':', h.name_len) || memchr(h.name, '\n', h.name_len)
            || memchr(h.value, '\n', h.value_len))
            abort();
        fields++;
    }
    if (p != end || fields > sp_headers_count_lines(block, end))
        abort();

    head.data = block;
    head.len = size;
    head.cap = size;
    lua_pushcfunction(L, push_them);
    lua_pushlightuserdata(L, &head);
    if (lua_pcall(L, 1, 1, 0) != 0)
        abort();   /* only a memory error could raise: none is expected */
    lua_pushnil(L);
    while (lua_next(L, -2) != 0) {
        if (lua_type(L, -2) != LUA_TSTRING || lua_type(L, -1) != LUA_TSTRING)
            abort();
        lua_pop(L, 1);
    }
    lua_pop(L, 1);
    free(block);
    return 0;
}
