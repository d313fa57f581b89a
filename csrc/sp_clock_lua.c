/* Clocks for Lua (see sp_clock.h):
 *   core.monotonic()      -> seconds on the monotonic clock
 *   core.sleep(seconds)   blocks the thread (the default sleep outside nginx)
 *   core.wallclock()      -> Unix time in seconds, with fractions: for what other
 *                            processes and hosts must read (leases, ages) */
#include <time.h>

#include "sp_lua.h"
#include "sp_clock.h"

/* core.monotonic() -> seconds on the monotonic clock. */
static int core_monotonic(lua_State *L)
{
    lua_pushnumber(L, sp_clock_monotonic());
    return 1;
}

/* core.sleep(seconds): blocks the thread (the default sleep outside nginx). */
static int core_sleep(lua_State *L)
{
    lua_Number s = luaL_checknumber(L, 1);
    luaL_argcheck(L, s >= 0 && s < 1e7, 1, "seconds out of range");
    sp_clock_sleep(s);
    return 0;
}

/* core.wallclock() -> Unix time in seconds (CLOCK_REALTIME, fractional). */
static int core_wallclock(lua_State *L)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    lua_pushnumber(L, (lua_Number)ts.tv_sec + (lua_Number)ts.tv_nsec / 1e9);
    return 1;
}

void sp_open_clock(lua_State *L)
{
    static const luaL_Reg funcs[] = {
        { "monotonic", core_monotonic },
        { "sleep", core_sleep },
        { "wallclock", core_wallclock },
        { NULL, NULL }
    };
    sp_setfuncs(L, funcs);
}
