/* sendpulse.hiredis: a small blocking Redis connection for the shared token
 * store, the cross-host rate budget and the webhook dedupe store
 * (lua/sendpulse/redis.lua).
 *
 *   local hiredis = require "sendpulse.hiredis"
 *   conn, err = hiredis.connect{ host =, port =, password =, db =, timeout =,
 *                                max_reply_bytes =, max_reply_elements = }
 *   conn:call("SET", key, value, "PX", 1000)
 *       -> reply                 strings, integers, arrays (tables), hiredis.null
 *       -> false, message        Redis answered with an error (NOSCRIPT, WRONGTYPE...)
 *       -> nil, message          I/O failure, or a reply refused: the connection
 *                                is closed for good
 *   conn:close()                 idempotent; also __gc and __close
 *
 * Its own module, not part of sendpulse.core, so that only users of Redis
 * need libhiredis. hiredis connects and writes the commands; replies are
 * read here, with csrc/sp_resp.c (made Lua values by sp_resp_lua.c), because a Redis (or whatever listens on
 * its port) may answer anything: a reply is refused when its header
 * announces more than max_reply_bytes (default 1 MiB) or max_reply_elements
 * (default 1024) or nests arrays deeper than 8, before what it announces is
 * read or allocated; a call (the command and its whole reply) gets
 * `timeout` seconds in all, so a reply that drips in a byte at a time ends
 * too; bytes that come when no command was sent close the connection, as
 * they would otherwise be taken as the reply to the next one. Blocking I/O,
 * like the libcurl transport; inside nginx the cosocket client
 * (lua-resty-redis) replaces it. The password is only ever sent; no message
 * repeats it. */
#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include <hiredis/hiredis.h>

#include "sp_lua.h"
#include "sp_resp.h"

#define SP_HIREDIS_MAX_ARGS 64
/* Bytes read at a time, and the buffer a connection keeps between calls. */
#define READ_CHUNK 16384
#define KEEP_BUFFER 65536
/* The most the bounds may be set to. */
#define MAX_REPLY_BYTES_LIMIT    1073741824
#define MAX_REPLY_ELEMENTS_LIMIT 16777216

__attribute__((visibility("default")))
int luaopen_sendpulse_hiredis(lua_State *L);

typedef struct sp_hiredis {
    redisContext *c;        /* NULL once closed */
    double        timeout;  /* seconds for one call: the command and its whole reply */
    size_t        max_bytes, max_elements;
    char         *buf;      /* the reply being read; freed in one place (drop) */
    size_t        len, cap;
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
    free(r->buf);
    r->buf = NULL;
    r->len = r->cap = 0;
    if (r->c != NULL) {
        redisFree(r->c);
        r->c = NULL;
    }
}

static double now_seconds(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* A failure of the connection: nil, "redis: <why>" pushed, the connection
 * dropped (a context that failed mid-reply cannot be trusted again). */
static int fail(lua_State *L, sp_hiredis *r, const char *fmt, const char *detail)
{
    lua_pushnil(L);
    lua_pushliteral(L, "redis: ");
    lua_pushfstring(L, fmt, detail);
    lua_concat(L, 2);
    drop(r);
    return 2;
}

/* Whether the peer sent anything while no command was waiting: a reply to
 * no command, or its end of the connection. Returns 0, or the values of a
 * failure already pushed. */
static int check_quiet(lua_State *L, sp_hiredis *r)
{
    char byte;
    ssize_t n = recv(r->c->fd, &byte, 1, MSG_PEEK | MSG_DONTWAIT);
    if (n > 0)
        return fail(L, r, "%s", "the server sent bytes nobody asked for (a reply to no command)");
    if (n == 0)
        return fail(L, r, "%s", "the server closed the connection");
    if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)
        return fail(L, r, "%s", strerror(errno));
    return 0;
}

static int grow(sp_hiredis *r)
{
    size_t want = r->cap ? r->cap * 2 : READ_CHUNK;
    char *p;
    /* Room for the whole bound and one read past it, no more. */
    if (want > r->max_bytes + READ_CHUNK)
        want = r->max_bytes + READ_CHUNK;
    if (want <= r->cap)
        return 1;
    p = realloc(r->buf, want);
    if (p == NULL)
        return 0;
    r->buf = p;
    r->cap = want;
    return 1;
}

/* Reads one whole reply into r->buf[0, r->len) by the deadline. Returns 0,
 * or the values of a failure already pushed. */
static int read_reply(lua_State *L, sp_hiredis *r, double deadline)
{
    sp_resp_reader rd;
    char limit[64];

    sp_resp_start(&rd, r->max_bytes, r->max_elements);
    r->len = 0;
    for (;;) {
        struct pollfd pfd;
        double left;
        ssize_t n;
        int ready;
        sp_resp_status st = sp_resp_check(&rd, r->buf, r->len);

        if (st == SP_RESP_DONE)
            break;
        if (st == SP_RESP_PROTOCOL)
            return fail(L, r, "protocol error: %s", rd.why);
        if (st == SP_RESP_TOO_LARGE)
            return fail(L, r, "%s", rd.why);
        left = deadline - now_seconds();
        if (left <= 0) {
            snprintf(limit, sizeof limit, "%g", r->timeout);
            return fail(L, r, "no whole reply within the %s s timeout", limit);
        }
        pfd.fd = r->c->fd;
        pfd.events = POLLIN;
        pfd.revents = 0;
        ready = poll(&pfd, 1, (int)(left * 1000) + 1);
        if (ready < 0 && errno != EINTR)
            return fail(L, r, "%s", strerror(errno));
        if (ready <= 0)
            continue;   /* the deadline is looked at again */
        if (r->cap - r->len < READ_CHUNK / 2 && !grow(r))
            return fail(L, r, "%s", "out of memory");
        n = recv(r->c->fd, r->buf + r->len, r->cap - r->len, MSG_DONTWAIT);
        if (n == 0)
            return fail(L, r, "%s", "the server closed the connection");
        if (n < 0) {
            if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)
                continue;
            return fail(L, r, "%s", strerror(errno));
        }
        r->len += (size_t)n;
    }
    if (r->len > rd.pos)
        return fail(L, r, "%s", "the server sent bytes nobody asked for (after the reply)");
    return 0;
}

/* Runs one command; leaves its reply in r->buf[0, r->len), or returns the
 * values of a failure already pushed. */
static int run_command(lua_State *L, sp_hiredis *r, int argc, const char **argv, const size_t *lens)
{
    sigpipe_guard g;
    double deadline = now_seconds() + r->timeout;
    int done = 0, failed = 0;

    if (check_quiet(L, r))
        return 2;
    if (redisAppendCommandArgv(r->c, argc, argv, lens) != REDIS_OK)
        return fail(L, r, "%s", r->c->errstr[0] ? r->c->errstr : "out of memory");
    sigpipe_block(&g);
    /* A blocking write: each waits at most `timeout` (SO_SNDTIMEO). */
    while (!done && !failed) {
        if (redisBufferWrite(r->c, &done) != REDIS_OK || (!done && now_seconds() > deadline))
            failed = 1;
    }
    sigpipe_restore(&g);
    if (failed)
        return fail(L, r, "%s", r->c->errstr[0] ? r->c->errstr : "the command could not be sent in time");
    return read_reply(L, r, deadline);
}

/* The first item of the reply in r->buf: its type, and its text for an
 * error. */
static char reply_type(const sp_hiredis *r, const char **text, size_t *text_len)
{
    sp_resp_item it;
    size_t pos = 0;
    if (!sp_resp_next(r->buf, r->len, &pos, &it))
        return 0;
    *text = it.str;
    *text_len = it.str_len;
    return it.type;
}

/* The buffer goes back to its small size after a large reply. */
static void trim(sp_hiredis *r)
{
    r->len = 0;
    if (r->cap > KEEP_BUFFER) {
        free(r->buf);
        r->buf = NULL;
        r->cap = 0;
    }
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

static int contains(const char *text, size_t text_len, const char *part, size_t part_len)
{
    size_t i;
    for (i = 0; part_len > 0 && i + part_len <= text_len; i++)
        if (memcmp(text + i, part, part_len) == 0)
            return 1;
    return 0;
}

/* After a refused AUTH or SELECT: nil, "redis HOST:PORT: <what> refused:
 * <Redis's error>", the connection dropped. The error is quoted only when it
 * does not hold the password (Redis's never does; a peer that echoes
 * commands would). */
static int refused(lua_State *L, sp_hiredis *r, const char *host, int port, const char *what,
                   const char *password, size_t plen)
{
    const char *text = "";
    size_t text_len = 0;
    luaL_Buffer b;

    reply_type(r, &text, &text_len);
    if (text_len > 200)
        text_len = 200;
    lua_pushnil(L);
    luaL_buffinit(L, &b);
    lua_pushfstring(L, "redis %s:%d: %s refused: ", host, port, what);
    luaL_addvalue(&b);
    if (password != NULL && plen > 0 && contains(text, text_len, password, plen))
        luaL_addstring(&b, "(an answer that quotes the password)");
    else
        luaL_addlstring(&b, text, text_len);
    luaL_pushresult(&b);
    drop(r);
    return 2;
}

static int hiredis_connect(lua_State *L)
{
    const char *host, *password = NULL, *text;
    size_t plen = 0, text_len;
    lua_Integer port, db, max_bytes, max_elements;
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
    max_bytes = opt_integer(L, "max_reply_bytes", SP_RESP_MAX_BYTES, 64, MAX_REPLY_BYTES_LIMIT);
    max_elements = opt_integer(L, "max_reply_elements", SP_RESP_MAX_ELEMENTS, 0, MAX_REPLY_ELEMENTS_LIMIT);
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
    r->timeout = timeout;
    r->max_bytes = (size_t)max_bytes;
    r->max_elements = (size_t)max_elements;
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
        if (reply_type(r, &text, &text_len) == '-')
            return refused(L, r, host, (int)port, "AUTH", password, plen);
        trim(r);
    }
    if (db != 0) {
        char num[32];
        const char *argv[2] = { "SELECT", num };
        size_t lens[2] = { 6, 0 };
        lens[1] = (size_t)snprintf(num, sizeof num, "%lld", (long long)db);
        if (run_command(L, r, 2, argv, lens))
            return 2;
        if (reply_type(r, &text, &text_len) == '-') {
            lua_pushfstring(L, "SELECT %s", num);
            return refused(L, r, host, (int)port, lua_tostring(L, -1), password, plen);
        }
        trim(r);
    }
    return 1;
}

static int hiredis_call(lua_State *L)
{
    sp_hiredis *r = luaL_checkudata(L, 1, SP_HIREDIS_MT);
    const char *argv[SP_HIREDIS_MAX_ARGS], *text;
    size_t lens[SP_HIREDIS_MAX_ARGS], text_len;
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
    if (reply_type(r, &text, &text_len) == '-') {
        lua_pushboolean(L, 0);
        n = 2;
    }
    /* A memory error while the values are built leaves the buffer to
     * drop() (close or __gc): nothing leaks. */
    sp_push_resp(L, r->buf, r->len);
    trim(r);
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
