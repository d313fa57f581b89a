/* sendpulse.limiter: one account's request budget (see sp_limiter.h) and
 * its quota windows (see sp_window.h).
 *
 *   core.limiter{ rate = 10, burst = 1, guard = 0.0008,
 *                 windows = { per_minute = n, per_hour = n, per_day = n },
 *                 file = path, dir = folder }
 *     -> limiter | nil, message, fault (the file cannot be used; fault as
 *        core.dir's: "storage" for a full disk)
 *   With `file`, the budget and the window counts live in that
 *   memory-mapped file and are shared by every process of the host that
 *   opens it (see sp_shm.h). With `dir` (a core.dir object), `file` is a
 *   name in that folder, opened relative to it.
 *   The file's size is checked before every use: a file cut short under
 *   the process (which would make the next access a SIGBUS) is left, and
 *   the limiter goes on with a budget of its own (limiter:shared() turns
 *   false, limiter:fault() says why).
 *   limiter:take([lateness]) -> true: a request may leave now (counted
 *                    everywhere); lateness: seconds this caller may be late
 *                    without moving the schedule (see sp_limiter.h)
 *                  | nil, wait, window: not before `wait` seconds, held up
 *                    by window "per_second", "per_minute", "per_hour" or
 *                    "per_day" (nothing counted)
 *   limiter:peek() -> seconds a request would wait now
 *   limiter:defer(seconds): no request before that long from now
 *   limiter:push(seconds): a request left that much after its slot: the
 *                          schedule moves on by as much
 *   limiter:guard([guard]) -> the guard in force (seconds), after widening
 *                          it to `guard` if that is wider (never narrower)
 *   limiter:state() -> { per_second = { limit, burst, left, wait },
 *                        per_minute = { limit, used, left, wait, period }, ... }
 *   limiter:fault() -> why the host-wide file was left, once (then nil)
 *
 * The limiter never sleeps itself: the caller waits with whatever its host
 * allows (os-level sleep, ngx.sleep, a coroutine yield), so one limiter
 * serves the blocking, nginx and event-loop transports alike. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <math.h>
#include <stdint.h>
#include <string.h>

#include "sp_lua.h"
#include "sp_clock.h"
#include "sp_limiter.h"
#include "sp_shm.h"
#include "sp_window.h"

/* No live budget runs this far ahead of the clock (it would take 36000
 * callers waiting at once at 10/s): a TAT beyond it is from another boot. */
#define SP_SHM_MAX_AHEAD_NS (3600ull * 1000000000ull)

/* The windows, in the order of the file's counts (sp_shm.h). */
static const struct { const char *name; double period; } WINDOWS[SP_SHM_WINDOWS] = {
    { "per_minute", 60 }, { "per_hour", 3600 }, { "per_day", 86400 },
};

typedef struct sp_limiter {
    sp_gcra           gcra;
    lua_Number        rate;
    uint64_t         *tat;          /* where the budget's state lives */
    sp_window_counts *counts;       /* ... and the window counts: */
    uint64_t          local_tat;    /* here, or in the mapped file */
    sp_window_counts  local_counts[SP_SHM_WINDOWS];
    sp_window         window[SP_SHM_WINDOWS];
    int               n_windows;    /* how many have a limit */
    sp_shm            shm;
    char              path[256];    /* the file, for messages */
    char              fault[512];   /* why the file was left, until read */
} sp_limiter;

static lua_Number opt_number(lua_State *L, int t, const char *field, lua_Number dflt)
{
    lua_Number v;
    lua_getfield(L, t, field);
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
    lua_Number rate, burst, guard, limits[SP_SHM_WINDOWS] = { 0, 0, 0 };
    const char *file = NULL, *dir_path = NULL;
    char boot_id[SP_SHM_BOOT_ID_LEN];
    sp_fs_err e;
    int i, dirfd = AT_FDCWD;

    luaL_checktype(L, 1, LUA_TTABLE);
    rate = opt_number(L, 1, "rate", 10);
    burst = opt_number(L, 1, "burst", 1);
    guard = opt_number(L, 1, "guard", 0.0008);
    luaL_argcheck(L, guard >= 0 && guard < 1, 1, "guard must be within [0, 1) seconds");
    lua_getfield(L, 1, "windows");
    if (!lua_isnil(L, -1)) {
        luaL_argcheck(L, lua_type(L, -1) == LUA_TTABLE, 1, "windows must be a table");
        for (i = 0; i < SP_SHM_WINDOWS; i++)
            limits[i] = opt_number(L, lua_gettop(L), WINDOWS[i].name, 0);
    }
    lua_pop(L, 1);
    lua_getfield(L, 1, "file");
    if (!lua_isnil(L, -1)) {
        size_t n;
        if (lua_type(L, -1) != LUA_TSTRING)
            return luaL_error(L, "limiter: 'file' must be a path (string)");
        file = lua_tolstring(L, -1, &n);
        if (n == 0 || strlen(file) != n)
            return luaL_error(L, "limiter: 'file' must be a non-empty path without NUL bytes");
    }
    lua_getfield(L, 1, "dir");
    if (!lua_isnil(L, -1)) {
        if (file == NULL || strchr(file, '/') != NULL)
            return luaL_error(L, "limiter: with 'dir', 'file' is a name in that folder");
        dirfd = sp_dir_fd(L, lua_gettop(L), &dir_path);
    }
    lim = sp_newuserdata(L, sizeof *lim);
    memset(lim, 0, sizeof *lim);
    if (sp_gcra_init(&lim->gcra, rate, burst, (uint64_t)(guard * 1e9)) != 0)
        return luaL_error(L, "limiter: rate must be > 0 and burst >= 1");
    lim->rate = rate;
    for (i = 0; i < SP_SHM_WINDOWS; i++) {
        if (limits[i] == 0)
            continue;
        if (sp_window_init(&lim->window[i], WINDOWS[i].period, limits[i]) != 0)
            return luaL_error(L, "limiter: windows.%s must be a number of requests from 1 to 2^31",
                              WINDOWS[i].name);
        lim->n_windows++;
    }
    lim->tat = &lim->local_tat;
    lim->counts = lim->local_counts;
    if (file != NULL) {
        if (dir_path != NULL)
            snprintf(lim->path, sizeof lim->path, "%s/%s", dir_path, file);
        else
            snprintf(lim->path, sizeof lim->path, "%s", file);
        sp_shm_boot_id(boot_id);
        if (sp_shm_open(&lim->shm, dirfd, file, lim->path, boot_id, sp_clock_monotonic_ns(),
                        SP_SHM_MAX_AHEAD_NS, &e) != 0) {
            lua_pushnil(L);
            lua_pushstring(L, e.text);
            lua_pushstring(L, e.fault == SP_FS_STORAGE ? "storage" : e.fault == SP_FS_REFUSED ? "refused"
                                                                                         : "system");
            return 3;
        }
        lim->tat = &lim->shm.map->tat;
        lim->counts = lim->shm.map->windows;
    }
    /* Only now: __gc sees a whole object. */
    luaL_getmetatable(L, SP_LIMITER_MT);
    lua_setmetatable(L, -2);
    return 1;
}

/* Before every use of the mapped file: one cut short (truncated by hand,
 * say) would make the next access a SIGBUS. Then the limiter leaves it and
 * keeps a budget of its own, starting as if a request had just left (the
 * file's last state can no longer be read), and says why in lim->fault. */
static void check_file(sp_limiter *lim)
{
    long long size;

    if (lim->shm.map == NULL || sp_shm_intact(&lim->shm, &size) == 0)
        return;
    lim->local_tat = sp_clock_monotonic_ns() + lim->gcra.interval_ns;
    memset(lim->local_counts, 0, sizeof lim->local_counts);
    lim->tat = &lim->local_tat;
    lim->counts = lim->local_counts;
    sp_shm_close(&lim->shm);
    snprintf(lim->fault, sizeof lim->fault, "the budget file %s was cut to %lld bytes under this process "
             "(it needs %u): this process keeps a budget of its own from now on", lim->path, size,
             (unsigned)sizeof(sp_shm_file));
}

/* The window counts are read and written under the file lock when they
 * are shared; a process's own need none (one Lua state uses them). */
static void lock_counts(lua_State *L, sp_limiter *lim)
{
    check_file(lim);
    if (lim->n_windows > 0 && lim->shm.map != NULL && sp_shm_lock(&lim->shm) != 0)
        luaL_error(L, "limiter: cannot lock the budget file: %s", strerror(errno));
}

static void unlock_counts(sp_limiter *lim)
{
    if (lim->n_windows > 0 && lim->shm.map != NULL)
        sp_shm_unlock(&lim->shm);
}

/* The longest wait any window imposes at now (0: none), and which. */
static uint64_t window_wait(const sp_limiter *lim, uint64_t now, int *which)
{
    uint64_t worst = 0;
    int i;
    for (i = 0; i < SP_SHM_WINDOWS; i++) {
        uint64_t w;
        if (lim->window[i].limit == 0)
            continue;
        w = sp_window_wait(&lim->counts[i], &lim->window[i], now);
        if (w > worst) {
            worst = w;
            *which = i;
        }
    }
    return worst;
}

static int limiter_take(lua_State *L)
{
    sp_limiter *lim = luaL_checkudata(L, 1, SP_LIMITER_MT);
    lua_Number late = luaL_optnumber(L, 2, 0);
    uint64_t now, wait;
    int which = -1, i;

    luaL_argcheck(L, late >= 0 && late < 1, 2, "lateness must be within [0, 1) seconds");
    lock_counts(L, lim);
    now = sp_clock_monotonic_ns();
    wait = window_wait(lim, now, &which);
    if (wait == 0 && sp_gcra_take(lim->tat, &lim->gcra, now, (uint64_t)(late * 1e9), &wait) == 0) {
        for (i = 0; i < SP_SHM_WINDOWS; i++)
            if (lim->window[i].limit != 0)
                sp_window_add(&lim->counts[i], &lim->window[i], now);
        unlock_counts(lim);
        lua_pushboolean(L, 1);
        return 1;
    }
    unlock_counts(lim);
    lua_pushnil(L);
    lua_pushnumber(L, (lua_Number)wait / 1e9);
    lua_pushstring(L, which >= 0 ? WINDOWS[which].name : "per_second");
    return 3;
}

static int limiter_peek(lua_State *L)
{
    sp_limiter *lim = luaL_checkudata(L, 1, SP_LIMITER_MT);
    uint64_t now, wait, w;
    int which = -1;

    lock_counts(L, lim);
    now = sp_clock_monotonic_ns();
    wait = sp_gcra_peek(lim->tat, &lim->gcra, now);
    w = window_wait(lim, now, &which);
    unlock_counts(lim);
    lua_pushnumber(L, (lua_Number)(w > wait ? w : wait) / 1e9);
    return 1;
}

static void set_number(lua_State *L, const char *k, lua_Number v)
{
    lua_pushnumber(L, v);
    lua_setfield(L, -2, k);
}

static void set_integer(lua_State *L, const char *k, lua_Integer v)
{
    lua_pushinteger(L, v);
    lua_setfield(L, -2, k);
}

/* limiter:state() -> what is left in each window (see the top). The
 * figures are read under the lock, the tables built after it: a raise
 * (out of memory) must not leave other processes locked out. */
static int limiter_state(lua_State *L)
{
    sp_limiter *lim = luaL_checkudata(L, 1, SP_LIMITER_MT);
    uint64_t now, left, wait, used[SP_SHM_WINDOWS], wwait[SP_SHM_WINDOWS];
    int i;

    lock_counts(L, lim);
    now = sp_clock_monotonic_ns();
    left = sp_gcra_left(lim->tat, &lim->gcra, now);
    wait = sp_gcra_peek(lim->tat, &lim->gcra, now);
    for (i = 0; i < SP_SHM_WINDOWS; i++) {
        used[i] = wwait[i] = 0;
        if (lim->window[i].limit == 0)
            continue;
        used[i] = sp_window_used(&lim->counts[i], &lim->window[i], now);
        wwait[i] = sp_window_wait(&lim->counts[i], &lim->window[i], now);
    }
    unlock_counts(lim);

    lua_createtable(L, 0, 1 + lim->n_windows);
    lua_createtable(L, 0, 4);
    if (lim->rate == (lua_Number)(lua_Integer)lim->rate)
        set_integer(L, "limit", (lua_Integer)lim->rate);   /* 10, not 10.0 */
    else
        set_number(L, "limit", lim->rate);
    set_integer(L, "burst", (lua_Integer)lim->gcra.burst);
    set_integer(L, "left", (lua_Integer)left);
    set_number(L, "wait", (lua_Number)wait / 1e9);
    lua_setfield(L, -2, "per_second");
    for (i = 0; i < SP_SHM_WINDOWS; i++) {
        const sp_window *w = &lim->window[i];
        if (w->limit == 0)
            continue;
        lua_createtable(L, 0, 5);
        set_integer(L, "limit", (lua_Integer)w->limit);
        set_integer(L, "used", (lua_Integer)used[i]);
        set_integer(L, "left", used[i] < w->limit ? (lua_Integer)(w->limit - used[i]) : 0);
        set_number(L, "wait", (lua_Number)wwait[i] / 1e9);
        set_number(L, "period", WINDOWS[i].period);
        lua_setfield(L, -2, WINDOWS[i].name);
    }
    return 1;
}

static int limiter_tostring(lua_State *L)
{
    sp_limiter *lim = luaL_checkudata(L, 1, SP_LIMITER_MT);
    lua_pushfstring(L, SP_LIMITER_MT " (one request every %d us, burst %d, %d quota window%s%s)",
                    (int)(lim->gcra.interval_ns / 1000), (int)lim->gcra.burst, lim->n_windows,
                    lim->n_windows == 1 ? "" : "s", lim->shm.map ? ", shared by the host" : "");
    return 1;
}

static int limiter_defer(lua_State *L)
{
    sp_limiter *lim = luaL_checkudata(L, 1, SP_LIMITER_MT);
    lua_Number s = luaL_checknumber(L, 2);
    luaL_argcheck(L, s >= 0 && s < 3600, 2, "seconds must be within [0, 3600)");
    check_file(lim);
    sp_gcra_defer(lim->tat, &lim->gcra, sp_clock_monotonic_ns() + (uint64_t)(s * 1e9));
    return 0;
}

static int limiter_push(lua_State *L)
{
    sp_limiter *lim = luaL_checkudata(L, 1, SP_LIMITER_MT);
    lua_Number s = luaL_checknumber(L, 2);
    luaL_argcheck(L, s >= 0 && s < 3600, 2, "seconds must be within [0, 3600)");
    check_file(lim);
    sp_gcra_push(lim->tat, (uint64_t)(s * 1e9));
    return 0;
}

static int limiter_guard(lua_State *L)
{
    sp_limiter *lim = luaL_checkudata(L, 1, SP_LIMITER_MT);
    double base = ceil(1e9 / lim->rate);
    if (!lua_isnoneornil(L, 2)) {
        lua_Number g = luaL_checknumber(L, 2);
        luaL_argcheck(L, g >= 0 && g < 1, 2, "guard must be within [0, 1) seconds");
        sp_gcra_widen(&lim->gcra, lim->rate, (uint64_t)(g * 1e9));
    }
    lua_pushnumber(L, ((double)lim->gcra.interval_ns - base) / 1e9);
    return 1;
}

/* limiter:shared() -> true when the budget lives in a host-wide file. */
static int limiter_shared(lua_State *L)
{
    sp_limiter *lim = luaL_checkudata(L, 1, SP_LIMITER_MT);
    lua_pushboolean(L, lim->shm.map != NULL);
    return 1;
}

/* limiter:fault() -> why the host-wide file was left (once), or nil. */
static int limiter_fault(lua_State *L)
{
    sp_limiter *lim = luaL_checkudata(L, 1, SP_LIMITER_MT);
    if (lim->fault[0] == '\0')
        return 0;
    lua_pushstring(L, lim->fault);
    lim->fault[0] = '\0';
    return 1;
}

/* Unmaps the host-wide file; the file itself stays for other processes. */
static int limiter_gc(lua_State *L)
{
    sp_limiter *lim = luaL_checkudata(L, 1, SP_LIMITER_MT);
    lim->tat = &lim->local_tat;
    lim->counts = lim->local_counts;
    sp_shm_close(&lim->shm);
    return 0;
}

void sp_open_limiter(lua_State *L)
{
    static const luaL_Reg methods[] = {
        { "take", limiter_take },
        { "peek", limiter_peek },
        { "state", limiter_state },
        { "shared", limiter_shared },
        { "fault", limiter_fault },
        { "defer", limiter_defer },
        { "push", limiter_push },
        { "guard", limiter_guard },
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
