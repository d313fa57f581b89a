/* sendpulse.hiredis: a small blocking Redis connection for the shared token
 * store and the cross-host rate budget (lua/sendpulse/redis.lua).
 *
 *   local hiredis = require "sendpulse.hiredis"
 *   conn, err = hiredis.connect{ host =, port =, password =, db =, timeout = }
 *   conn:call("SET", key, value, "PX", 1000)
 *       -> reply                 strings, integers, arrays (tables), hiredis.null
 *       -> false, message        Redis answered with an error (NOSCRIPT, WRONGTYPE...)
 *       -> nil, message          I/O failure: the connection is closed for good
 *   conn:close()                 idempotent; also __gc and __close
 *
 * Its own module, not part of sendpulse.core, so that only users of Redis
 * need libhiredis. Blocking I/O with a timeout, like the libcurl transport;
 * inside nginx, the cosocket client (lua-resty-redis) replaces it. The
 * password is only ever sent; no message repeats it. */
#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>

#include <hiredis/hiredis.h>

#include "sp_lua.h"

#define SP_HIREDIS_MAX_ARGS 64

__attribute__((visibility("default")))
int luaopen_sendpulse_hiredis(lua_State *L);

typedef struct sp_hiredis {
    redisContext *c;        /* NULL once closed */
    redisReply   *pending;  /* a reply being converted; freed in one place */
} sp_hiredis;

/* hiredis writes with write(2): a peer that went away would raise SIGPIPE
 * and kill the host process. Block it for the duration of a call and
 * swallow one we caused, leaving the program's own handling untouched. */
typedef struct sigpipe_guard {
    sigset_t old;
    int      was_pending;
} sigpipe_guard;

static void sigpipe_block(sigpipe_guard *g)
{
    sigset_t set, pending;
    sigemptyset(&set);
    sigaddset(&set, SIGPIPE);
    sigpending(&pending);
    g->was_pending = sigismember(&pending, SIGPIPE);
    pthread_sigmask(SIG_BLOCK, &set, &g->old);
}

static void sigpipe_restore(sigpipe_guard *g)
{
    sigset_t set, pending;
    sigemptyset(&set);
    sigaddset(&set, SIGPIPE);
    if (!g->was_pending && sigpending(&pending) == 0 && sigismember(&pending, SIGPIPE)) {
        struct timespec zero = { 0, 0 };
        while (sigtimedwait(&set, NULL, &zero) < 0 && errno == EINTR)
            ;
    }
    pthread_sigmask(SIG_SETMASK, &g->old, NULL);
}

static void drop(sp_hiredis *r)
{
    if (r->pending != NULL) {
        freeReplyObject(r->pending);
        r->pending = NULL;
    }
    if (r->c != NULL) {
        redisFree(r->c);
        r->c = NULL;
    }
}

static void push_reply(lua_State *L, const redisReply *rep, int depth)
{
    size_t i;

    luaL_checkstack(L, 3, "redis reply too deep");
    switch (rep->type) {
    case REDIS_REPLY_STRING:
    case REDIS_REPLY_STATUS:
    case REDIS_REPLY_ERROR:
        lua_pushlstring(L, rep->str, rep->len);
        break;
    case REDIS_REPLY_INTEGER:
        lua_pushinteger(L, (lua_Integer)rep->integer);
        break;
    case REDIS_REPLY_ARRAY:
        if (depth > 8)
            luaL_error(L, "redis reply nested too deep");
        lua_createtable(L, rep->elements > INT_MAX ? 0 : (int)rep->elements, 0);
        for (i = 0; i < rep->elements; i++) {
            push_reply(L, rep->element[i], depth + 1);
            lua_rawseti(L, -2, (int)i + 1);
        }
        break;
    default:   /* REDIS_REPLY_NIL */
        lua_pushlightuserdata(L, NULL);
        break;
    }
}

/* Runs one command; leaves the reply in r->pending, or returns the values
 * of a failure (nil, message) already pushed. */
static int run_command(lua_State *L, sp_hiredis *r, int argc, const char **argv, const size_t *lens)
{
    sigpipe_guard g;
    redisReply *rep;

    if (r->pending != NULL) {
        freeReplyObject(r->pending);
        r->pending = NULL;
    }
    sigpipe_block(&g);
    rep = redisCommandArgv(r->c, argc, argv, lens);
    sigpipe_restore(&g);
    if (rep == NULL) {
        lua_pushnil(L);
        lua_pushfstring(L, "redis: %s", r->c->errstr[0] ? r->c->errstr : "connection lost");
        drop(r);   /* a broken context cannot be reused */
        return 2;
    }
    r->pending = rep;
    return 0;
}

static lua_Integer opt_integer(lua_State *L, const char *field, lua_Integer dflt,
                               lua_Integer lo, lua_Integer hi)
{
    lua_Number v;
    lua_getfield(L, 1, field);
    if (lua_isnil(L, -1)) {
        lua_pop(L, 1);
        return dflt;
    }
    v = lua_tonumber(L, -1);
    if (lua_type(L, -1) != LUA_TNUMBER || v != (lua_Number)(lua_Integer)v || v < (lua_Number)lo || v > (lua_Number)hi)
        luaL_error(L, "hiredis.connect: '%s' must be an integer from %d to %d", field, (int)lo, (int)hi);
    lua_pop(L, 1);
    return (lua_Integer)v;
}

static double opt_seconds(lua_State *L, const char *field, double dflt)
{
    double v = dflt;
    lua_getfield(L, 1, field);
    if (!lua_isnil(L, -1)) {
        if (lua_type(L, -1) != LUA_TNUMBER)
            luaL_error(L, "hiredis.connect: '%s' must be a number of seconds", field);
        v = lua_tonumber(L, -1);
        if (!(v > 0 && v < 1e6))
            luaL_error(L, "hiredis.connect: '%s' must be a positive number of seconds", field);
    }
    lua_pop(L, 1);
    return v;
}

static int hiredis_connect(lua_State *L)
{
    const char *host, *password = NULL;
    size_t plen = 0;
    lua_Integer port, db;
    double timeout;
    struct timeval tv;
    sp_hiredis *r;

    luaL_checktype(L, 1, LUA_TTABLE);
    lua_getfield(L, 1, "host");
    host = lua_isnil(L, -1) ? "127.0.0.1" : lua_tostring(L, -1);
    if (host == NULL || lua_type(L, -1) == LUA_TNUMBER)
        return luaL_error(L, "hiredis.connect: 'host' must be a string");
    port = opt_integer(L, "port", 6379, 1, 65535);
    db = opt_integer(L, "db", 0, 0, 1000000);
    lua_getfield(L, 1, "password");
    if (!lua_isnil(L, -1)) {
        if (lua_type(L, -1) != LUA_TSTRING)
            return luaL_error(L, "hiredis.connect: 'password' must be a string");
        password = lua_tolstring(L, -1, &plen);
    }
    /* host and password stay on the stack (indexes 2 and 3) while used. */
    timeout = opt_seconds(L, "timeout", 1.0);
    tv.tv_sec = (time_t)timeout;
    tv.tv_usec = (suseconds_t)((timeout - (double)tv.tv_sec) * 1e6);

    r = sp_newuserdata(L, sizeof *r);
    memset(r, 0, sizeof *r);
    luaL_getmetatable(L, SP_HIREDIS_MT);
    lua_setmetatable(L, -2);
    r->c = redisConnectWithTimeout(host, (int)port, tv);
    if (r->c == NULL || r->c->err) {
        lua_pushnil(L);
        lua_pushfstring(L, "redis %s:%d: %s", host, (int)port,
                        r->c ? r->c->errstr : "out of memory");
        drop(r);
        return 2;
    }
    redisSetTimeout(r->c, tv);
    if (password != NULL) {
        const char *argv[2] = { "AUTH", password };
        size_t lens[2] = { 4, plen };
        if (run_command(L, r, 2, argv, lens))
            return 2;
        if (r->pending->type == REDIS_REPLY_ERROR) {
            lua_pushnil(L);
            /* Redis's answer names no password ("WRONGPASS invalid..."). */
            lua_pushfstring(L, "redis %s:%d: AUTH refused: %s", host, (int)port, r->pending->str);
            drop(r);
            return 2;
        }
    }
    if (db != 0) {
        char num[32];
        const char *argv[2] = { "SELECT", num };
        size_t lens[2] = { 6, 0 };
        lens[1] = (size_t)snprintf(num, sizeof num, "%lld", (long long)db);
        if (run_command(L, r, 2, argv, lens))
            return 2;
        if (r->pending->type == REDIS_REPLY_ERROR) {
            lua_pushnil(L);
            lua_pushfstring(L, "redis %s:%d: SELECT %s refused: %s", host, (int)port, num, r->pending->str);
            drop(r);
            return 2;
        }
    }
    return 1;
}

static int hiredis_call(lua_State *L)
{
    sp_hiredis *r = luaL_checkudata(L, 1, SP_HIREDIS_MT);
    const char *argv[SP_HIREDIS_MAX_ARGS];
    size_t lens[SP_HIREDIS_MAX_ARGS];
    int argc = lua_gettop(L) - 1, i, n = 1;

    luaL_argcheck(L, argc >= 1, 2, "a Redis command is required");
    luaL_argcheck(L, argc <= SP_HIREDIS_MAX_ARGS, SP_HIREDIS_MAX_ARGS + 2, "too many arguments");
    for (i = 0; i < argc; i++) {
        int t = lua_type(L, i + 2);
        luaL_argcheck(L, t == LUA_TSTRING || t == LUA_TNUMBER, i + 2, "string or number expected");
        argv[i] = lua_tolstring(L, i + 2, &lens[i]);
    }
    if (r->c == NULL) {
        lua_pushnil(L);
        lua_pushliteral(L, "redis: connection closed");
        return 2;
    }
    if (run_command(L, r, argc, argv, lens))
        return 2;
    if (r->pending->type == REDIS_REPLY_ERROR) {
        lua_pushboolean(L, 0);
        n = 2;
    }
    push_reply(L, r->pending, 0);
    freeReplyObject(r->pending);
    r->pending = NULL;
    return n;
}

static int hiredis_close(lua_State *L)
{
    drop(luaL_checkudata(L, 1, SP_HIREDIS_MT));
    return 0;
}

static int hiredis_closed(lua_State *L)
{
    sp_hiredis *r = luaL_checkudata(L, 1, SP_HIREDIS_MT);
    lua_pushboolean(L, r->c == NULL);
    return 1;
}

static int hiredis_tostring(lua_State *L)
{
    sp_hiredis *r = luaL_checkudata(L, 1, SP_HIREDIS_MT);
    lua_pushstring(L, r->c ? SP_HIREDIS_MT " (connected)" : SP_HIREDIS_MT " (closed)");
    return 1;
}

int luaopen_sendpulse_hiredis(lua_State *L)
{
    static const luaL_Reg methods[] = {
        { "call", hiredis_call },
        { "close", hiredis_close },
        { "closed", hiredis_closed },
        { NULL, NULL }
    };
    static const luaL_Reg meta[] = {
        { "__gc", hiredis_close },
        { "__close", hiredis_close },
        { "__tostring", hiredis_tostring },
        { NULL, NULL }
    };
    sp_newclass(L, SP_HIREDIS_MT, methods, meta);
    lua_newtable(L);
    lua_pushcfunction(L, hiredis_connect);
    lua_setfield(L, -2, "connect");
    lua_pushlightuserdata(L, NULL);
    lua_setfield(L, -2, "null");
    return 1;
}
