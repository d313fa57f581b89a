/* sendpulse.limiter: one account's request budget (see sp_limiter.h).
 *
 *   core.limiter{ rate = 10, burst = 1, guard = 0.0008 [, file = path] }
 *     -> limiter | nil, message (the file cannot be used)
 *   With `file`, the budget lives in that memory-mapped file and is shared by
 *   every process of the host that opens it (see sp_shm.h).
 *   limiter:reserve([max_wait]) -> seconds to wait before sending (0: now),
 *                                  or nil, needed_wait when over max_wait
 *   limiter:peek() -> seconds a request would wait now
 *   limiter:defer(seconds): no request before that long from now
 *
 * The limiter never sleeps itself: the caller waits with whatever its host
 * allows (os-level sleep, ngx.sleep, a coroutine yield), so one limiter
 * serves the blocking, nginx and event-loop transports alike. */
#include <stdint.h>
#include <string.h>

#include "sp_lua.h"
#include "sp_clock.h"
#include "sp_limiter.h"
#include "sp_shm.h"

/* No live budget runs this far ahead of the clock (it would take 36000
 * callers waiting at once at 10/s): a TAT beyond it is from another boot. */
#define SP_SHM_MAX_AHEAD_NS (3600ull * 1000000000ull)

typedef struct sp_limiter {
    sp_gcra   gcra;
    uint64_t *tat;        /* where the budget's state lives */
    uint64_t  local_tat;  /* ... here, or in the mapped file: */
    sp_shm    shm;
} sp_limiter;

static lua_Number opt_number(lua_State *L, const char *field, lua_Number dflt)
{
    lua_Number v;
    lua_getfield(L, 1, field);
    if (lua_isnil(L, -1))
        v = dflt;
    else if (lua_type(L, -1) != LUA_TNUMBER)
        return luaL_error(L, "limiter: '%s' must be a number", field);
    else
        v = lua_tonumber(L, -1);
    lua_pop(L, 1);
    return v;
}

static int limiter_new(lua_State *L)
{
    sp_limiter *lim;
    lua_Number rate, burst, guard;
    const char *file = NULL;
    char boot_id[SP_SHM_BOOT_ID_LEN], err[512];

    luaL_checktype(L, 1, LUA_TTABLE);
    rate = opt_number(L, "rate", 10);
    burst = opt_number(L, "burst", 1);
    guard = opt_number(L, "guard", 0.0008);
    luaL_argcheck(L, guard >= 0 && guard < 1, 1, "guard must be within [0, 1) seconds");
    lua_getfield(L, 1, "file");
    if (!lua_isnil(L, -1)) {
        size_t n;
        if (lua_type(L, -1) != LUA_TSTRING)
            return luaL_error(L, "limiter: 'file' must be a path (string)");
        file = lua_tolstring(L, -1, &n);
        if (n == 0 || strlen(file) != n)
            return luaL_error(L, "limiter: 'file' must be a non-empty path without NUL bytes");
    }
    lim = sp_newuserdata(L, sizeof *lim);
    memset(lim, 0, sizeof *lim);
    if (sp_gcra_init(&lim->gcra, rate, burst, (uint64_t)(guard * 1e9)) != 0)
        return luaL_error(L, "limiter: rate must be > 0 and burst >= 1");
    lim->tat = &lim->local_tat;
    if (file != NULL) {
        sp_shm_boot_id(boot_id);
        if (sp_shm_open(&lim->shm, file, boot_id, sp_clock_monotonic_ns(),
                        SP_SHM_MAX_AHEAD_NS, err, sizeof err) != 0) {
            lua_pushnil(L);
            lua_pushstring(L, err);
            return 2;
        }
        lim->tat = &lim->shm.map->tat;
    }
    /* Only now: __gc sees a whole object. */
    luaL_getmetatable(L, SP_LIMITER_MT);
    lua_setmetatable(L, -2);
    return 1;
}

static int limiter_reserve(lua_State *L)
{
    sp_limiter *lim = luaL_checkudata(L, 1, SP_LIMITER_MT);
    lua_Number max_wait = luaL_optnumber(L, 2, -1);
    uint64_t max_ns = max_wait < 0 ? SP_GCRA_NO_LIMIT : (uint64_t)(max_wait * 1e9);
    uint64_t wait_ns;

    if (sp_gcra_reserve(lim->tat, &lim->gcra, sp_clock_monotonic_ns(), max_ns, &wait_ns) != 0) {
        lua_pushnil(L);
        lua_pushnumber(L, (lua_Number)wait_ns / 1e9);
        return 2;
    }
    lua_pushnumber(L, (lua_Number)wait_ns / 1e9);
    return 1;
}

static int limiter_peek(lua_State *L)
{
    sp_limiter *lim = luaL_checkudata(L, 1, SP_LIMITER_MT);
    uint64_t wait_ns = sp_gcra_peek(lim->tat, &lim->gcra, sp_clock_monotonic_ns());
    lua_pushnumber(L, (lua_Number)wait_ns / 1e9);
    return 1;
}

static int limiter_tostring(lua_State *L)
{
    sp_limiter *lim = luaL_checkudata(L, 1, SP_LIMITER_MT);
    lua_pushfstring(L, SP_LIMITER_MT " (one request every %d us, %d ahead%s)",
                    (int)(lim->gcra.interval_ns / 1000),
                    (int)(lim->gcra.tolerance_ns / (lim->gcra.interval_ns ? lim->gcra.interval_ns : 1)),
                    lim->shm.map ? ", shared by the host" : "");
    return 1;
}

static int limiter_defer(lua_State *L)
{
    sp_limiter *lim = luaL_checkudata(L, 1, SP_LIMITER_MT);
    lua_Number s = luaL_checknumber(L, 2);
    luaL_argcheck(L, s >= 0 && s < 3600, 2, "seconds must be within [0, 3600)");
    sp_gcra_defer(lim->tat, sp_clock_monotonic_ns() + (uint64_t)(s * 1e9));
    return 0;
}

/* limiter:shared() -> true when the budget lives in a host-wide file. */
static int limiter_shared(lua_State *L)
{
    sp_limiter *lim = luaL_checkudata(L, 1, SP_LIMITER_MT);
    lua_pushboolean(L, lim->shm.map != NULL);
    return 1;
}

/* Unmaps the host-wide file; the file itself stays for other processes. */
static int limiter_gc(lua_State *L)
{
    sp_limiter *lim = luaL_checkudata(L, 1, SP_LIMITER_MT);
    lim->tat = &lim->local_tat;
    sp_shm_close(&lim->shm);
    return 0;
}

void sp_open_limiter(lua_State *L)
{
    static const luaL_Reg methods[] = {
        { "reserve", limiter_reserve },
        { "peek", limiter_peek },
        { "shared", limiter_shared },
        { "defer", limiter_defer },
        { NULL, NULL }
    };
    static const luaL_Reg meta[] = {
        { "__tostring", limiter_tostring },
        { "__gc", limiter_gc },
        { NULL, NULL }
    };
    static const luaL_Reg funcs[] = {
        { "limiter", limiter_new },
        { NULL, NULL }
    };
    sp_newclass(L, SP_LIMITER_MT, methods, meta);
    sp_setfuncs(L, funcs);
}
