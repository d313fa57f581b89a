/* sendpulse.multi: many transfers at once on one libcurl multi handle.
 *
 *   m = core.multi{ user_agent=, ca_file=, ca_path=, proxy=, http2=, max_answer_size= }
 *   id = m:start(method, url, headers, body, timeout, connect_timeout)
 *   done, running = m:step(seconds)   -- drive transfers, wait at most seconds
 *   id, status, body, headers, seconds, left_after = m:collect()  -- one finished
 *   id, nil, kind, message, sent, left_after       = m:collect()  --   transfer,
 *   nil                                            = m:collect()  --   or none
 *   m:cancel(id)  m:running()  m:connections()  m:close()
 *
 * collect() gives each finished transfer exactly the answer http_session's
 * perform would have, so the Lua pipeline cannot tell the two apart.
 *
 * The multi handle owns the connection cache, so transfers started one
 * after another reuse keep-alive connections (and TLS sessions) whichever
 * easy handle carries them; finished easy handles are pooled for the next
 * transfer. Nothing here calls into Lua while curl runs: answers go into C
 * buffers owned by the transfer, and every transfer is reachable from the
 * userdata, so __gc frees all of it, whatever was in flight. */
#include <curl/curl.h>
#include <stdlib.h>
#include <string.h>

#include "sp_lua.h"
#include "sp_buf.h"
#include "sp_easy.h"

/* Idle easy handles kept for reuse; more are freed when they finish. */
#define SP_POOL_MAX 16

typedef struct sp_xfer {
    struct sp_xfer    *next;
    CURL              *easy;
    struct curl_slist *headers;
    sp_buf             body;          /* the request's: curl only points at it */
    sp_answer          answer;        /* body and headers, see sp_easy.h */
    lua_Integer        id;
    CURLcode           rc;
    int                restarts;      /* on a fresh connection, see gather_done */
    char               errbuf[CURL_ERROR_SIZE];
} sp_xfer;

typedef struct sp_multi {
    CURLM       *multi;
    sp_xfer     *running;    /* added to the multi handle */
    sp_xfer     *done;       /* finished, oldest first, not yet collected */
    sp_xfer     *idle;       /* pooled, configured easy handles */
    int          n_running, n_done, n_idle;
    lua_Integer  next_id;
    long         connects;   /* new connections made, all transfers */
    sp_easy_opts opts;       /* points into owned[] */
    char        *owned[4];   /* user agent, CA file, CA path, proxy */
    sp_sockets   sockets;    /* of the multi handle's connection cache */
} sp_multi;

static sp_multi *check_multi(lua_State *L)
{
    sp_multi *m = luaL_checkudata(L, 1, SP_MULTI_MT);
    if (m->multi == NULL)
        luaL_error(L, "attempt to use a closed " SP_MULTI_MT);
    return m;
}

static void free_xfer(sp_xfer *x)
{
    if (x->easy != NULL)
        curl_easy_cleanup(x->easy);
    sp_easy_free_headers(x->headers);
    sp_buf_free(&x->body);
    sp_buf_free(&x->answer.body);
    sp_buf_free(&x->answer.head);
    free(x);
}

/* A configured easy handle: from the pool, or new. NULL when out of memory. */
static sp_xfer *take_xfer(sp_multi *m)
{
    sp_xfer *x = m->idle;
    if (x != NULL) {
        m->idle = x->next;
        m->n_idle--;
        x->next = NULL;
        return x;
    }
    x = calloc(1, sizeof *x);
    if (x == NULL)
        return NULL;
    x->easy = curl_easy_init();
    if (x->easy == NULL) {
        free(x);
        return NULL;
    }
    curl_easy_setopt(x->easy, CURLOPT_ERRORBUFFER, x->errbuf);
    /* Connections belong to the multi handle and outlive this easy handle:
     * their sockets are the multi's. */
    sp_easy_sockets(x->easy, &m->sockets);
    sp_easy_collect(x->easy, &x->answer, &m->sockets);
    curl_easy_setopt(x->easy, CURLOPT_PRIVATE, x);
    /* A token request's body holds the secret. */
    sp_buf_wiping(&x->body);
    sp_easy_defaults(x->easy, &m->opts);
    x->answer.max_body = m->opts.max_answer;
    /* Over HTTP/2, calls started together share one connection as streams
     * rather than each opening its own (no effect on HTTP/1.1). */
    if (m->opts.http2)
        curl_easy_setopt(x->easy, CURLOPT_PIPEWAIT, 1L);
    return x;
}

/* Back to the pool (not in the multi handle, in no list). */
static void release_xfer(sp_multi *m, sp_xfer *x)
{
    curl_easy_setopt(x->easy, CURLOPT_POSTFIELDS, NULL);   /* x->body goes */
    sp_easy_free_headers(x->headers);
    x->headers = NULL;
    sp_buf_clear(&x->body, SP_KEEP_BUFFER);
    sp_buf_clear(&x->answer.body, SP_KEEP_BUFFER);
    sp_buf_clear(&x->answer.head, SP_KEEP_BUFFER);
    x->id = 0;
    if (m->n_idle >= SP_POOL_MAX) {
        free_xfer(x);
        return;
    }
    x->next = m->idle;
    m->idle = x;
    m->n_idle++;
}

/* Unlinks x from the list at *list; returns whether it was there. */
static int unlink_xfer(sp_xfer **list, sp_xfer *x)
{
    for (; *list != NULL; list = &(*list)->next) {
        if (*list == x) {
            *list = x->next;
            x->next = NULL;
            return 1;
        }
    }
    return 0;
}

static sp_xfer *find_xfer(sp_xfer *list, lua_Integer id)
{
    for (; list != NULL; list = list->next)
        if (list->id == id)
            return list;
    return NULL;
}

static char *dup_or_null(const char *s)
{
    size_t n;
    char *d;
    if (s == NULL)
        return NULL;
    n = strlen(s) + 1;
    d = malloc(n);
    if (d != NULL)
        memcpy(d, s, n);
    return d;
}

static void free_opts(sp_multi *m)
{
    int i;
    for (i = 0; i < 4; i++) {
        free(m->owned[i]);
        m->owned[i] = NULL;
    }
    memset(&m->opts, 0, sizeof m->opts);
}

/* core.multi{ user_agent=, ca_file=, ca_path=, proxy=, http2=,
 * max_answer_size= }: the same options as core.http_session. */
static int multi_new(lua_State *L)
{
    sp_multi *m;
    sp_easy_opts o;

    luaL_checktype(L, 1, LUA_TTABLE);
    sp_easy_options(L, &o);             /* pushes 5 values */
    m = sp_newuserdata(L, sizeof *m);
    memset(m, 0, sizeof *m);
    luaL_getmetatable(L, SP_MULTI_MT);  /* zeroed: __gc is safe from here on */
    lua_setmetatable(L, -2);
    m->opts.http2 = o.http2;
    m->opts.max_answer = o.max_answer;
    m->opts.user_agent = m->owned[0] = dup_or_null(o.user_agent);
    m->opts.ca_file = m->owned[1] = dup_or_null(o.ca_file);
    m->opts.ca_path = m->owned[2] = dup_or_null(o.ca_path);
    m->opts.proxy = m->owned[3] = dup_or_null(o.proxy);
    if ((o.user_agent && !m->owned[0]) || (o.ca_file && !m->owned[1])
        || (o.ca_path && !m->owned[2]) || (o.proxy && !m->owned[3]))
        return luaL_error(L, "not enough memory");
    m->multi = curl_multi_init();
    if (m->multi == NULL)
        return luaL_error(L, "multi: curl_multi_init failed");
    return 1;
}

/* m:start(method, url, headers, body, timeout, connect_timeout, fresh) -> id
 * Arguments as http_session:perform (fresh: a new connection). Returns at once; the transfer runs
 * while step() is called. nil, "network", message, false, 0: not started,
 * the auth object among the headers held no token. */
static int multi_start(lua_State *L)
{
    sp_multi *m = check_multi(L);
    const char *method = luaL_checkstring(L, 2);
    const char *url = luaL_checkstring(L, 3);
    size_t body_len = 0;
    const char *body;
    long timeout_ms, connect_ms;
    struct curl_slist *list = NULL;
    sp_xfer *x;
    int i, n;

    luaL_checktype(L, 4, LUA_TTABLE);
    body = luaL_optlstring(L, 5, NULL, &body_len);
    timeout_ms = sp_ms_arg(L, 6);
    connect_ms = sp_ms_arg(L, 7);
    n = (int)sp_rawlen(L, 4);
    /* Every check that can raise comes before anything is allocated. */
    for (i = 1; i <= n; i++) {
        const char *token;
        lua_rawgeti(L, 4, i);
        if (lua_type(L, -1) != LUA_TSTRING && !sp_auth_bearer(L, -1, &token))
            return luaL_error(L, "start: header %d is not a string", i);
        lua_pop(L, 1);
    }
    for (i = 1; i <= n + 1; i++) {
        struct curl_slist *next;
        if (i <= n) {
            char bearer[SP_BEARER_LINE_MAX];
            int no_token;
            const char *line;
            lua_rawgeti(L, 4, i);
            line = sp_header_line(L, -1, bearer, &no_token);
            next = line != NULL ? curl_slist_append(list, line) : NULL;
            if (line == bearer)
                sp_wipe(bearer, sizeof bearer);
            lua_pop(L, 1);
            if (no_token) {
                sp_easy_free_headers(list);
                return sp_push_no_token(L);
            }
        } else {
            /* No "Expect: 100-continue" round trip for large bodies. */
            next = curl_slist_append(list, "Expect:");
        }
        if (next == NULL) {
            sp_easy_free_headers(list);
            return luaL_error(L, "not enough memory");
        }
        list = next;
    }
    x = take_xfer(m);
    if (x == NULL) {
        sp_easy_free_headers(list);
        return luaL_error(L, "not enough memory");
    }
    x->headers = list;
    x->restarts = 0;
    x->errbuf[0] = '\0';
    sp_easy_begin(&x->answer);
    curl_easy_setopt(x->easy, CURLOPT_URL, url);
    curl_easy_setopt(x->easy, CURLOPT_HTTPHEADER, x->headers);
    curl_easy_setopt(x->easy, CURLOPT_TIMEOUT_MS, timeout_ms);
    curl_easy_setopt(x->easy, CURLOPT_CONNECTTIMEOUT_MS, connect_ms);
    curl_easy_setopt(x->easy, CURLOPT_FRESH_CONNECT, lua_toboolean(L, 8) ? 1L : 0L);
    /* The body is copied: the Lua string may be collected mid-transfer.
     * Into the transfer's own buffer, not curl's (COPYPOSTFIELDS), which
     * would be freed without being zeroed. */
    if (body != NULL && sp_buf_append(&x->body, body, body_len) != 0) {
        release_xfer(m, x);
        return luaL_error(L, "not enough memory");
    }
    sp_easy_request(x->easy, method, body != NULL ? (x->body.data != NULL ? x->body.data : "") : NULL,
                    body_len);
    if (curl_multi_add_handle(m->multi, x->easy) != CURLM_OK) {
        release_xfer(m, x);
        return luaL_error(L, "start: curl_multi_add_handle failed");
    }
    x->id = ++m->next_id;
    x->next = m->running;
    m->running = x;
    m->n_running++;
    lua_pushinteger(L, x->id);
    return 1;
}

/* Moves every transfer curl reports finished from running to done. */
static void gather_done(sp_multi *m)
{
    CURLMsg *msg;
    int left;
    while ((msg = curl_multi_info_read(m->multi, &left)) != NULL) {
        sp_xfer *x = NULL, **tail;
        long connects = 0;
        if (msg->msg != CURLMSG_DONE)
            continue;
        curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, (char **)&x);
        if (x == NULL)
            continue;
        x->rc = msg->data.result;   /* msg dies with remove_handle */
        curl_easy_getinfo(x->easy, CURLINFO_NUM_CONNECTS, &connects);
        m->connects += connects;
        if (x->rc == CURLE_OK && x->answer.failure == SP_ANSWER_OK)
            sp_easy_rested(x->easy, &x->answer);
        curl_multi_remove_handle(m->multi, x->easy);
        /* Refused a kept-alive connection with unread bytes before sending
         * (sp_sockets.h); curl closed it. Start again, on another. */
        if (x->rc == CURLE_ABORTED_BY_CALLBACK && x->answer.failure == SP_ANSWER_UNREAD
            && x->restarts < 2) {
            x->restarts++;
            x->errbuf[0] = '\0';
            sp_easy_begin(&x->answer);
            if (curl_multi_add_handle(m->multi, x->easy) == CURLM_OK)
                continue;
            x->answer.failure = SP_ANSWER_UNREAD;   /* report the refusal */
        }
        if (unlink_xfer(&m->running, x))
            m->n_running--;
        for (tail = &m->done; *tail != NULL; tail = &(*tail)->next)
            ;
        *tail = x;
        m->n_done++;
    }
}

/* m:step(seconds) -> finished, running
 * Drives every transfer; when none has finished yet, waits up to `seconds`
 * (0: never) for network activity, then drives them again. Also waits with
 * nothing in flight, so a loop's timers can sleep here. */
static int multi_step(lua_State *L)
{
    sp_multi *m = check_multi(L);
    lua_Number s = luaL_optnumber(L, 2, 0);
    int still = 0;
    CURLMcode mc;

    luaL_argcheck(L, s >= 0 && s < 1e6, 2, "timeout must be a number of seconds >= 0");
    mc = curl_multi_perform(m->multi, &still);
    gather_done(m);
    if (mc == CURLM_OK && m->n_done == 0 && s > 0) {
        int ms = (int)(s * 1000);
#if SP_CURL_VER_GE(7, 66, 0)
        mc = curl_multi_poll(m->multi, NULL, 0, ms < 1 ? 1 : ms, NULL);
#else
        mc = curl_multi_wait(m->multi, NULL, 0, ms < 1 ? 1 : ms, NULL);
#endif
        if (mc == CURLM_OK)
            mc = curl_multi_perform(m->multi, &still);
        gather_done(m);
    }
    if (mc != CURLM_OK && mc != CURLM_CALL_MULTI_PERFORM)
        return luaL_error(L, "step: %s", curl_multi_strerror(mc));
    lua_pushinteger(L, m->n_done);
    lua_pushinteger(L, m->n_running);
    return 2;
}

/* m:collect() -> id, <perform's results> for the oldest finished transfer,
 * or nil when none is waiting. */
static int multi_collect(lua_State *L)
{
    sp_multi *m = check_multi(L);
    sp_xfer *x = m->done;
    long status = 0;
    double seconds = 0;

    if (x == NULL) {
        lua_pushnil(L);
        return 1;
    }
    /* x stays in the done list while its answer is pushed: if a push runs
     * out of memory and raises, x is still owned (and freed by close). */
    lua_pushinteger(L, x->id);
    if (x->rc != CURLE_OK || x->answer.failure != SP_ANSWER_OK) {
        sp_push_failure(L, x->easy, &x->answer, x->rc, x->errbuf);
    } else {
        curl_easy_getinfo(x->easy, CURLINFO_RESPONSE_CODE, &status);
        curl_easy_getinfo(x->easy, CURLINFO_TOTAL_TIME, &seconds);
        lua_pushinteger(L, (lua_Integer)status);
        lua_pushlstring(L, x->answer.body.data ? x->answer.body.data : "", x->answer.body.len);
        sp_push_headers(L, &x->answer.head);
        lua_pushnumber(L, seconds);
    }
    sp_push_left_after(L, x->easy);
    m->done = x->next;
    m->n_done--;
    x->next = NULL;
    release_xfer(m, x);
    return 6;
}

/* m:cancel(id) -> true if the transfer was in flight or uncollected. Its
 * connection is closed by curl, never handed to another transfer half-used. */
static int multi_cancel(lua_State *L)
{
    sp_multi *m = check_multi(L);
    lua_Integer id = (lua_Integer)sp_checkinteger(L, 2);
    sp_xfer *x = find_xfer(m->running, id);
    if (x != NULL) {
        curl_multi_remove_handle(m->multi, x->easy);
        unlink_xfer(&m->running, x);
        m->n_running--;
    } else if ((x = find_xfer(m->done, id)) != NULL) {
        unlink_xfer(&m->done, x);
        m->n_done--;
    }
    if (x != NULL)
        release_xfer(m, x);
    lua_pushboolean(L, x != NULL);
    return 1;
}

/* m:running() -> transfers in flight, finished ones not yet collected */
static int multi_running(lua_State *L)
{
    sp_multi *m = check_multi(L);
    lua_pushinteger(L, m->n_running);
    lua_pushinteger(L, m->n_done);
    return 2;
}

/* m:connections() -> connections opened so far (keep-alive check) */
static int multi_connections(lua_State *L)
{
    sp_multi *m = check_multi(L);
    lua_pushinteger(L, (lua_Integer)m->connects);
    return 1;
}

static void free_list(sp_multi *m, sp_xfer *x, int attached)
{
    while (x != NULL) {
        sp_xfer *next = x->next;
        if (attached)
            curl_multi_remove_handle(m->multi, x->easy);
        free_xfer(x);
        x = next;
    }
}

/* Idempotent; also __gc and __close. Transfers in flight are dropped. */
static int multi_close(lua_State *L)
{
    sp_multi *m = luaL_checkudata(L, 1, SP_MULTI_MT);
    if (m->multi != NULL) {
        free_list(m, m->running, 1);
        curl_multi_cleanup(m->multi);
        m->multi = NULL;
    }
    free_list(m, m->done, 0);
    free_list(m, m->idle, 0);
    m->running = m->done = m->idle = NULL;
    m->n_running = m->n_done = m->n_idle = 0;
    free_opts(m);
    sp_sockets_free(&m->sockets);   /* after cleanup closed the sockets */
    return 0;
}

static int multi_tostring(lua_State *L)
{
    sp_multi *m = luaL_checkudata(L, 1, SP_MULTI_MT);
    if (m->multi == NULL)
        lua_pushliteral(L, SP_MULTI_MT " (closed)");
    else
        lua_pushfstring(L, SP_MULTI_MT " (%p, %d in flight)", (void *)m, m->n_running);
    return 1;
}

void sp_open_multi(lua_State *L)
{
    static const luaL_Reg methods[] = {
        { "start", multi_start },
        { "step", multi_step },
        { "collect", multi_collect },
        { "cancel", multi_cancel },
        { "running", multi_running },
        { "connections", multi_connections },
        { "close", multi_close },
        { NULL, NULL }
    };
    static const luaL_Reg meta[] = {
        { "__gc", multi_close },
        { "__close", multi_close },
        { "__tostring", multi_tostring },
        { NULL, NULL }
    };
    static const luaL_Reg funcs[] = {
        { "multi", multi_new },
        { NULL, NULL }
    };
    /* curl_global_init is done (reference-counted) by sp_open_http. */
    sp_newclass(L, SP_MULTI_MT, methods, meta);
    sp_setfuncs(L, funcs);
}
