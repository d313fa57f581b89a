/* Unit tests for what the fuzzers and the APICHECK Lua found (issue 10
 * items 11-14), on the Lua 5.4 built with ASan and LUA_USE_APICHECK: the
 * cases in regress.lua, and sp_push_headers on a block that fills its
 * buffer exactly. Prints "fuzz regressions: N passed, N failed" for
 * spec/run.sh; an ASan or API-check failure aborts, which counts too. */
#include <string.h>

#include "harness.h"
#include "sp_buf.h"

void sp_push_headers(lua_State *L, const sp_buf *head);

static int passed, failed;

static int push_block(lua_State *L)
{
    sp_push_headers(L, lua_touserdata(L, 1));
    return 1;
}

/* Item 11: "HTTP/1.1 200 OK\nx:\n\n" in a buffer of exactly its size. */
static void headers_exact_buffer(lua_State *L)
{
    static const char text[] = "HTTP/1.1 200 OK\nx:\n\n";
    size_t n = sizeof text - 1;
    char *block = malloc(n);
    sp_buf head;
    int ok;

    memcpy(block, text, n);
    head.data = block;
    head.len = head.cap = n;
    lua_pushcfunction(L, push_block);
    lua_pushlightuserdata(L, &head);
    ok = lua_pcall(L, 1, 1, 0) == 0;
    if (ok) {
        lua_getfield(L, -1, "x");
        ok = lua_type(L, -1) == LUA_TSTRING && lua_rawlen(L, -1) == 0;
        lua_pop(L, 1);
    }
    lua_pop(L, 1);
    free(block);
    printf("%s: item 11: the header block that filled its buffer\n", ok ? "ok" : "FAILED");
    if (ok)
        passed++;
    else
        failed++;
}

int main(void)
{
    lua_State *L = sp_fuzz_state();
    lua_Integer i, n;

    headers_exact_buffer(L);
    if (luaL_dofile(L, "spec/fuzz/regress.lua") != 0) {
        printf("FAILED: spec/fuzz/regress.lua: %s\n", lua_tostring(L, -1));
        failed++;
    } else {
        n = luaL_len(L, -1);
        for (i = 1; i <= n; i++) {
            const char *name;
            lua_geti(L, -1, i);
            lua_geti(L, -1, 1);
            name = lua_tostring(L, -1);
            lua_geti(L, -2, 2);
            lua_pushcfunction(L, sp_fuzz_traceback);
            lua_insert(L, -2);
            if (lua_pcall(L, 0, 0, -2) == 0) {
                printf("ok: %s\n", name);
                passed++;
                lua_pop(L, 1);
            } else {
                printf("FAILED: %s: %s\n", name, lua_tostring(L, -1));
                failed++;
                lua_pop(L, 2);
            }
            lua_pop(L, 2);
        }
    }
    lua_close(L);
    printf("fuzz regressions: %d passed, %d failed\n", passed, failed);
    return failed == 0 ? 0 : 1;
}
