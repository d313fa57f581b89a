/* sendpulse.http: one libcurl easy handle per client.
 *
 * Reusing the handle keeps its connection cache, so consecutive calls share
 * one keep-alive connection (and one TLS session). The handle never calls
 * into Lua while curl runs: bodies and headers are collected into C buffers
 * owned by the userdata, so no Lua error can longjmp through libcurl, and
 * everything a raised error could strand is freed by __gc. */
#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <strings.h>
#include <string.h>

#include "sp_lua.h"
#include "sp_buf.h"
#include "sp_easy.h"

typedef struct sp_http {
    CURL              *curl;
    struct curl_slist *req_headers;   /* the request headers last sent */
    int                n_req_headers; /* how many of them came from Lua */
    char              *user_agent;    /* "User-Agent: ...", or NULL */
    char               accept_encoding[64];   /* "Accept-Encoding: ...", or "" */
    sp_answer          answer;        /* body and headers of this call */
    sp_sockets         sockets;       /* of the handle's connection cache */
    long               connects;      /* new connections made, all calls */
    char               errbuf[CURL_ERROR_SIZE];
} sp_http;

static sp_http *check_http(lua_State *L)
{
    sp_http *h = luaL_checkudata(L, 1, SP_HTTP_MT);
    if (h->curl == NULL)
        luaL_error(L, "attempt to use a closed " SP_HTTP_MT);
    return h;
}

/* Asks for every compression this libcurl can decode, and turns decoding
 * on for them. The list is what CURLOPT_ACCEPT_ENCODING "" would send, but
 * it is also kept as a ready header line: given "", libcurl formats the
 * header anew with its own printf on every request (about 5,000
 * instructions a call; bench/cost.lua), and it skips that when the request
 * already has one. Decoding depends on the option, not on who wrote the
 * header. */
static void set_accept_encoding(sp_http *h, CURL *c)
{
    const curl_version_info_data *v = curl_version_info(CURLVERSION_NOW);
    char list[40] = "";

    if (v->features & CURL_VERSION_LIBZ)
        strcat(list, "deflate, gzip");
#ifdef CURL_VERSION_BROTLI
    if (v->features & CURL_VERSION_BROTLI)
        strcat(list, list[0] ? ", br" : "br");
#endif
#ifdef CURL_VERSION_ZSTD
    if (v->features & CURL_VERSION_ZSTD)
        strcat(list, list[0] ? ", zstd" : "zstd");
#endif
    h->accept_encoding[0] = '\0';
    if (list[0] == '\0')
        return;   /* nothing to decode with: ask for nothing */
    curl_easy_setopt(c, CURLOPT_ACCEPT_ENCODING, list);
    snprintf(h->accept_encoding, sizeof h->accept_encoding, "Accept-Encoding: %s", list);
}

/* Whether one of the n caller's header lines at argument 4 is `name`
 * (with its colon), in any case. */
static int has_header(lua_State *L, int n, const char *name)
{
    size_t len = strlen(name);
    int i, found = 0;
    for (i = 1; i <= n && !found; i++) {
        const char *line;
        lua_rawgeti(L, 4, i);
        line = lua_tostring(L, -1);
        found = line != NULL && strncasecmp(line, name, len) == 0;
        lua_pop(L, 1);
    }
    return found;
}

/* core.http_session{ user_agent=, ca_file=, ca_path=, proxy=, http2=,
 *                    max_answer_size= }
 * The Lua layer validates options for the user; this only guards types. */
static int http_new(lua_State *L)
{
    sp_http *h;
    CURL *c;
    sp_easy_opts o;

    luaL_checktype(L, 1, LUA_TTABLE);
    h = sp_newuserdata(L, sizeof *h);
    memset(h, 0, sizeof *h);
    c = curl_easy_init();
    if (c == NULL)
        return luaL_error(L, "http_session: curl_easy_init failed");
    h->curl = c;
    luaL_getmetatable(L, SP_HTTP_MT);   /* only now: __gc sees a whole object */
    lua_setmetatable(L, -2);

    curl_easy_setopt(c, CURLOPT_ERRORBUFFER, h->errbuf);
    sp_easy_sockets(c, &h->sockets);
    sp_easy_collect(c, &h->answer, &h->sockets);
    sp_easy_options(L, &o);
    sp_easy_defaults(c, &o);
    h->answer.max_body = o.max_answer;
    /* On top of the shared defaults, for this blocking session: the
     * user agent and the accepted encodings also as ready header lines
     * (see set_accept_encoding). With CURLOPT_USERAGENT alone libcurl
     * formats "User-Agent: ..." anew with its own printf on every request
     * (about 5,000 instructions a call; bench/cost.lua) and skips that when
     * the header is given; CURLOPT_USERAGENT stays set for a proxy's
     * CONNECT request, which does not carry our headers. */
    set_accept_encoding(h, c);
    if (o.user_agent != NULL) {
        size_t n = strlen(o.user_agent);
        if (strcspn(o.user_agent, "\r\n") != n)
            return luaL_error(L, "http_session: option 'user_agent' must not contain line breaks");
        h->user_agent = malloc(n + sizeof "User-Agent: ");
        if (h->user_agent == NULL)
            return luaL_error(L, "not enough memory");
        memcpy(h->user_agent, "User-Agent: ", sizeof "User-Agent: " - 1);
        memcpy(h->user_agent + sizeof "User-Agent: " - 1, o.user_agent, n + 1);
    }
    lua_pop(L, 5);
    return 1;
}

static int add_header(sp_http *h, const char *line)
{
    struct curl_slist *next = curl_slist_append(h->req_headers, line);
    if (next == NULL)
        return 0;
    h->req_headers = next;
    return 1;
}

/* Whether the n header values at argument 4 are those of the list built
 * for the previous call. Consecutive calls mostly send the same headers
 * (same token, same Accept), and comparing is cheaper than the 2n
 * allocations and frees of rebuilding the list. */
static int same_headers(lua_State *L, const sp_http *h, int n)
{
    const struct curl_slist *node = h->req_headers;
    int i, same = 1;

    if (node == NULL || n != h->n_req_headers)
        return 0;
    for (i = 1; i <= n && same; i++, node = node->next) {
        lua_rawgeti(L, 4, i);
        same = sp_header_is(L, -1, node->data);
        lua_pop(L, 1);
    }
    return same;
}

/* http:perform(method, url, headers, body, timeout, connect_timeout, fresh)
 *   headers: array of "Name: value" strings, or the auth object for the
 *   Authorization line (written here from its token: no Lua string of the
 *   token is made); body: string or nil. fresh: true for a request that
 *   must never be sent twice (a call with an idempotency key): it goes on a
 *   new connection, since libcurl sends a request again, by itself, when a
 *   reused connection closes before any byte of the answer came, and the
 *   server may have acted on the first (docs/outbox.md).
 * Returns status, body, headers, seconds, left_after
 *      or nil, kind, message, sent, left_after   (kind: "timeout" | "tls" |
 *         "network" | "too_large" | "protocol"; sent: whether any of the
 *         request reached the wire, which decides whether a non-idempotent
 *         call may be replayed).
 *   left_after: seconds from the start until the request was about to be
 *   sent (the connection and TLS set up), 0 if it never was: the rate
 *   budget counts the request from then. */
static int http_perform(lua_State *L)
{
    sp_http *h = check_http(L);
    const char *method = luaL_checkstring(L, 2);
    const char *url = luaL_checkstring(L, 3);
    size_t body_len = 0;
    const char *body;
    long timeout_ms, connect_ms, status = 0;
    double seconds = 0;
    CURL *c = h->curl;
    CURLcode rc;
    int i, n, attempt;

    luaL_checktype(L, 4, LUA_TTABLE);
    body = luaL_optlstring(L, 5, NULL, &body_len);
    timeout_ms = sp_ms_arg(L, 6);
    connect_ms = sp_ms_arg(L, 7);

    n = (int)sp_rawlen(L, 4);
    if (!same_headers(L, h, n)) {
        /* Built into the userdata, so a Lua error part-way leaks nothing. */
        sp_easy_free_headers(h->req_headers);
        h->req_headers = NULL;
        h->n_req_headers = -1;   /* incomplete until the end: never reused */
        for (i = 1; i <= n; i++) {
            char bearer[SP_BEARER_LINE_MAX];
            int no_token, added;
            const char *line;
            lua_rawgeti(L, 4, i);
            line = sp_header_line(L, -1, bearer, &no_token);
            if (line == NULL) {
                if (no_token)
                    return sp_push_no_token(L);
                return luaL_error(L, "perform: header %d is not a string", i);
            }
            added = add_header(h, line);
            if (line == bearer)
                sp_wipe(bearer, sizeof bearer);
            if (!added)
                return luaL_error(L, "not enough memory");
            lua_pop(L, 1);
        }
        h->n_req_headers = n;
        /* curl would add "Expect: 100-continue" to large bodies and wait a
         * round trip for it; SendPulse does not need it. */
        if (!add_header(h, "Expect:"))
            return luaL_error(L, "not enough memory");
        /* Ours only when the caller did not give their own. */
        if (h->user_agent != NULL && !has_header(L, n, "User-Agent:") &&
            !add_header(h, h->user_agent))
            return luaL_error(L, "not enough memory");
        if (h->accept_encoding[0] != '\0' && !has_header(L, n, "Accept-Encoding:") &&
            !add_header(h, h->accept_encoding))
            return luaL_error(L, "not enough memory");
    }

    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, h->req_headers);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, timeout_ms);
    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, connect_ms);
    curl_easy_setopt(c, CURLOPT_FRESH_CONNECT, lua_toboolean(L, 8) ? 1L : 0L);
    sp_easy_request(c, method, body, body_len);

    /* A kept-alive connection found with unread bytes is refused before
     * the request is sent (sp_sockets.h), and curl closes it: the request
     * goes again, on another connection. Twice at most. */
    for (attempt = 0;; attempt++) {
        long connects = 0;
        sp_easy_begin(&h->answer);
        h->errbuf[0] = '\0';
        rc = curl_easy_perform(c);
        curl_easy_getinfo(c, CURLINFO_NUM_CONNECTS, &connects);
        h->connects += connects;
        if (rc != CURLE_ABORTED_BY_CALLBACK || h->answer.failure != SP_ANSWER_UNREAD || attempt == 2)
            break;
    }
    curl_easy_setopt(c, CURLOPT_POSTFIELDS, NULL);   /* body is Lua's memory */

    if (rc != CURLE_OK || h->answer.failure != SP_ANSWER_OK) {
        int pushed = sp_push_failure(L, c, &h->answer, rc, h->errbuf);
        sp_push_left_after(L, c);
        sp_buf_clear(&h->answer.body, SP_KEEP_BUFFER);
        sp_buf_clear(&h->answer.head, SP_KEEP_BUFFER);
        return pushed + 1;
    }
    sp_easy_rested(c, &h->answer);
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
    curl_easy_getinfo(c, CURLINFO_TOTAL_TIME, &seconds);
    lua_pushinteger(L, (lua_Integer)status);
    lua_pushlstring(L, h->answer.body.data ? h->answer.body.data : "", h->answer.body.len);
    sp_push_headers(L, &h->answer.head);
    lua_pushnumber(L, seconds);
    sp_push_left_after(L, c);
    sp_buf_clear(&h->answer.body, SP_KEEP_BUFFER);
    sp_buf_clear(&h->answer.head, SP_KEEP_BUFFER);
    return 5;
}

/* http:connections() -> number of connections this session has opened. */
static int http_connections(lua_State *L)
{
    sp_http *h = check_http(L);
    lua_pushinteger(L, (lua_Integer)h->connects);
    return 1;
}

static int http_close(lua_State *L)
{
    sp_http *h = luaL_checkudata(L, 1, SP_HTTP_MT);
    if (h->curl != NULL) {
        curl_easy_cleanup(h->curl);   /* closes its sockets through h->sockets */
        h->curl = NULL;
    }
    sp_sockets_free(&h->sockets);
    sp_easy_free_headers(h->req_headers);
    h->req_headers = NULL;
    h->n_req_headers = 0;
    free(h->user_agent);
    h->user_agent = NULL;
    sp_buf_free(&h->answer.body);
    sp_buf_free(&h->answer.head);
    return 0;
}

static int http_tostring(lua_State *L)
{
    sp_http *h = luaL_checkudata(L, 1, SP_HTTP_MT);
    if (h->curl == NULL)
        lua_pushliteral(L, SP_HTTP_MT " (closed)");
    else
        lua_pushfstring(L, SP_HTTP_MT " (%p)", (void *)h);
    return 1;
}

/* core.curl_version() -> version string, has_http2, has_ssl */
static int core_curl_version(lua_State *L)
{
    const curl_version_info_data *v = curl_version_info(CURLVERSION_NOW);
    lua_pushstring(L, v->version);
    lua_pushboolean(L, (v->features & CURL_VERSION_HTTP2) != 0);
    lua_pushboolean(L, (v->features & CURL_VERSION_SSL) != 0);
    return 3;
}

void sp_open_http(lua_State *L)
{
    static const luaL_Reg methods[] = {
        { "perform", http_perform },
        { "connections", http_connections },
        { "close", http_close },
        { NULL, NULL }
    };
    static const luaL_Reg meta[] = {
        { "__gc", http_close },
        { "__close", http_close },
        { "__tostring", http_tostring },
        { NULL, NULL }
    };
    static const luaL_Reg funcs[] = {
        { "http_session", http_new },
        { "curl_version", core_curl_version },
        { NULL, NULL }
    };
    /* Reference-counted inside libcurl and thread-safe since 7.84, so a host
     * that also uses libcurl is not disturbed. Never cleaned up here: the
     * host, not a module, owns the end of the process. */
    curl_global_init(CURL_GLOBAL_DEFAULT);
    sp_newclass(L, SP_HTTP_MT, methods, meta);
    sp_setfuncs(L, funcs);
}
