/* sendpulse.limiter: one account's request budget (see sp_limiter.h).
 *
 *   core.limiter{ rate = 10, burst = 1, guard = 0.0008 }
 *   limiter:reserve([max_wait]) -> seconds to wait before sending (0: now),
 *                                  or nil, needed_wait when over max_wait
 *   limiter:peek() -> seconds a request would wait now
 *
 * The limiter never sleeps itself: the caller waits with whatever its host
 * allows (os-level sleep, ngx.sleep, a coroutine yield), so one limiter
 * serves the blocking, nginx and event-loop transports alike. */
#include <stdint.h>
#include <string.h>

#include "sp_internal.h"
#include "sp_clock.h"
#include "sp_limiter.h"

typedef struct sp_limiter {
    sp_gcra   gcra;
    uint64_t *tat;        /* where the budget's state lives */
    uint64_t  local_tat;  /* ... which, for now, is always here */
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

    luaL_checktype(L, 1, LUA_TTABLE);
    rate = opt_number(L, "rate", 10);
    burst = opt_number(L, "burst", 1);
    guard = opt_number(L, "guard", 0.0008);
    luaL_argcheck(L, guard >= 0 && guard < 1, 1, "guard must be within [0, 1) seconds");
    lim = sp_newuserdata(L, sizeof *lim);
    memset(lim, 0, sizeof *lim);
    if (sp_gcra_init(&lim->gcra, rate, burst, (uint64_t)(guard * 1e9)) != 0)
        return luaL_error(L, "limiter: rate must be > 0 and burst >= 1");
    lim->tat = &lim->local_tat;
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
    lua_pushfstring(L, SP_LIMITER_MT " (one request every %d us, %d ahead)",
                    (int)(lim->gcra.interval_ns / 1000),
                    (int)(lim->gcra.tolerance_ns / (lim->gcra.interval_ns ? lim->gcra.interval_ns : 1)));
    return 1;
}

/* core.monotonic() -> seconds on the monotonic clock. */
static int monotonic(lua_State *L)
{
    lua_pushnumber(L, sp_clock_monotonic());
    return 1;
}

/* core.sleep(seconds): blocks the thread (the default sleep outside nginx). */
static int sleep_for(lua_State *L)
{
    lua_Number s = luaL_checknumber(L, 1);
    luaL_argcheck(L, s >= 0 && s < 1e7, 1, "seconds out of range");
    sp_clock_sleep(s);
    return 0;
}

void sp_open_rate(lua_State *L)
{
    static const luaL_Reg methods[] = {
        { "reserve", limiter_reserve },
        { "peek", limiter_peek },
        { NULL, NULL }
    };
    static const luaL_Reg meta[] = {
        { "__tostring", limiter_tostring },
        { NULL, NULL }
    };
    static const luaL_Reg funcs[] = {
        { "limiter", limiter_new },
        { "monotonic", monotonic },
        { "sleep", sleep_for },
        { NULL, NULL }
    };
    sp_newclass(L, SP_LIMITER_MT, methods, meta);
    sp_setfuncs(L, funcs);
}
