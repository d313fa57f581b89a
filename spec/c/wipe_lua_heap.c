/* A Lua module for spec/secrets_spec.lua's memory scan (issue 17): zeroes
 * every block the Lua runtime lets go of, and counts the copies of given
 * strings among them.
 *
 *   local freed = package.loadlib(".../wipe_lua_heap.so", "luaopen_wipe_lua_heap")()
 *   freed() -> n1, n2, ...   copies of each string of SP_FREED_NEEDLES
 *                            (space-separated) in the blocks freed so far
 *
 * Why: the scan is to count what the library and the live Lua values hold.
 * A dead Lua string stays in freed memory until that memory is reused, and
 * how many stay depends on when the collector ran and on what the
 * allocator reused, which a loaded machine changes from run to run (issue
 * 17: 3 copies of the token once on LuaJIT, where 2 were the most seen).
 * Zeroed, they are gone; counted as they go, what the Lua runtime let go of
 * becomes a number that depends only on how many strings the library made
 * (each string is freed once), not on the collector's timing: a library
 * that makes a Lua string of the token per call shows it.
 *
 * How: the state's allocator is wrapped (lua_getallocf, lua_setallocf). A
 * freed block is counted and zeroed before the allocator has it; a block
 * resized is moved, never resized in place, and the old block zeroed (not
 * counted: its bytes live on in the new one), so nothing stays in a shrunk
 * block's tail either. Lua 5.4 allocates with the C library's realloc and
 * free, LuaJIT 2.1 (64-bit) with its own allocator over mmap, which a
 * preloaded free() never sees (recording LuaJIT's mappings would only
 * tell where its dead strings are, not which are dead); both call the
 * allocator they are given, so one wrapper holds on each. Blocks made
 * before it was installed go back to the allocator that made them, with the
 * sizes Lua gives. One state per process: a second load raises.
 *
 * The needles are read where getenv() finds them (the environment, on the
 * process's stack, which the scan skips): this module makes no copy. */
#define _GNU_SOURCE
#include <stdlib.h>
#include <string.h>

#include <lua.h>

int luaopen_wipe_lua_heap(lua_State *L);

#define MAX_NEEDLES 4

static lua_Alloc inner;
static void *inner_ud;
static struct { const char *at; size_t len; lua_Integer freed; } needles[MAX_NEEDLES];
static int n_needles;

/* Not dropped as a dead store before the block is freed: called through a
 * volatile pointer. */
static void *(*const volatile zero)(void *, int, size_t) = memset;

static void count(const char *block, size_t size)
{
    int i;
    for (i = 0; i < n_needles; i++) {
        const char *p = block, *end = block + size, *hit;
        while ((hit = memmem(p, (size_t)(end - p), needles[i].at, needles[i].len)) != NULL) {
            needles[i].freed++;
            p = hit + 1;
        }
    }
}

static void *wiping_alloc(void *ud, void *ptr, size_t osize, size_t nsize)
{
    void *moved;
    (void)ud;
    if (ptr == NULL)   /* a new block (osize is Lua 5.4's type tag then) */
        return inner(inner_ud, NULL, osize, nsize);
    if (nsize == 0) {
        count(ptr, osize);
        zero(ptr, 0, osize);
        return inner(inner_ud, ptr, osize, 0);
    }
    moved = inner(inner_ud, NULL, 0, nsize);
    if (moved == NULL)
        return NULL;   /* as a failed realloc: Lua keeps the old block */
    memcpy(moved, ptr, osize < nsize ? osize : nsize);
    zero(ptr, 0, osize);
    inner(inner_ud, ptr, osize, 0);
    return moved;
}

static int freed_counts(lua_State *L)
{
    int i;
    for (i = 0; i < n_needles; i++)
        lua_pushinteger(L, needles[i].freed);
    return n_needles;
}

static void read_needles(void)
{
    const char *p = getenv("SP_FREED_NEEDLES");
    while (p != NULL && *p != '\0' && n_needles < MAX_NEEDLES) {
        size_t len = strcspn(p, " ");
        if (len > 0) {
            needles[n_needles].at = p;
            needles[n_needles].len = len;
            n_needles++;
        }
        p += len + (p[len] == ' ');
    }
}

int luaopen_wipe_lua_heap(lua_State *L)
{
    if (inner != NULL) {
        lua_pushstring(L, "wipe_lua_heap: already installed");
        return lua_error(L);
    }
    read_needles();
    inner = lua_getallocf(L, &inner_ud);
    lua_setallocf(L, wiping_alloc, NULL);
    lua_pushcfunction(L, freed_counts);
    return 1;
}
