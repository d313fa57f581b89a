/* sendpulse.auth: one account's credentials and its cached OAuth token.
 *
 * The secret and the token live in C memory, wiped when freed, and no method
 * returns the secret: it only ever leaves inside the token request body
 * handed to the transport. __tostring shows neither. The libcurl transports
 * take the object itself among a request's headers and write the
 * Authorization line from the token here (sp_auth_bearer), so a call makes
 * no Lua string of the token; scrub() takes both out of text a server sent
 * back. A token (or API key) must be RFC 6750 token68, at most
 * SP_TOKEN_MAX bytes: it can only ever be one header value.
 *
 * The object is a small state machine; the I/O is done by the Lua layer
 * through whichever transport it uses (libcurl, nginx cosockets), so every
 * transport shares the same token rules:
 *   token()          -> token, generation   | nil (fetch one)
 *   begin_refresh()  -> true: you fetch     | false: someone else is fetching
 *   finish_refresh(token, expires_in) / abort_refresh()
 *   invalidate(generation): the server refused that token (HTTP 401).
 *   current()        -> generation | nil    (token() without the token)
 *   held()           -> generation | nil    (of the token held, due or not)
 *   holds(s)         -> whether s is the token held (due or not)
 *   scrub(s)         -> s without the secret or the token (sp_scrub.h)
 *   bearer()         -> "Authorization: Bearer <token>" | nil */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "sp_lua.h"
#include "sp_buf.h"
#include "sp_clock.h"
#include "sp_encode.h"
#include "sp_scrub.h"

/* A refresh that has not finished after this long is presumed dead (its
 * coroutine was dropped, its worker killed) and may be taken over. */
#define SP_REFRESH_STALE_NS (60ull * 1000000000ull)

typedef struct sp_auth {
    char    *client_id;
    char    *secret;         /* NULL in api_key mode */
    char    *token;          /* NULL until fetched; the key in api_key mode */
    uint64_t refresh_at_ns;  /* monotonic; when token() stops handing it out */
    uint64_t expires_at_ns;
    uint64_t refresh_margin_ns;
    uint64_t refreshing_since_ns;   /* 0: no refresh in flight */
    lua_Integer generation;  /* bumped on every new token */
} sp_auth;

static void wipe_free(char **p)
{
    if (*p != NULL) {
        sp_wipe(*p, strlen(*p));
        free(*p);
        *p = NULL;
    }
}

static int token_char(char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
           c == '-' || c == '.' || c == '_' || c == '~' || c == '+' || c == '/';
}

/* RFC 6750 2.1: 1*( ALPHA / DIGIT / "-" / "." / "_" / "~" / "+" / "/" ) *"=" */
static int is_token68(const char *s, size_t n)
{
    size_t i = 0;
    if (n == 0 || n > SP_TOKEN_MAX)
        return 0;
    while (i < n && token_char(s[i]))
        i++;
    if (i == 0)
        return 0;
    while (i < n && s[i] == '=')
        i++;
    return i == n;
}

static char *dup_field(lua_State *L, const char *field, int required)
{
    const char *s;
    size_t n;
    char *copy;

    lua_getfield(L, 1, field);
    if (lua_isnil(L, -1) && !required) {
        lua_pop(L, 1);
        return NULL;
    }
    if (lua_type(L, -1) != LUA_TSTRING)
        luaL_error(L, "auth: '%s' must be a string", field);
    s = lua_tolstring(L, -1, &n);
    if (n == 0 || strlen(s) != n)
        luaL_error(L, "auth: '%s' must be a non-empty string without NUL bytes", field);
    copy = malloc(n + 1);
    if (copy == NULL)
        luaL_error(L, "not enough memory");
    memcpy(copy, s, n + 1);
    lua_pop(L, 1);
    return copy;
}

static sp_auth *check_auth(lua_State *L)
{
    return luaL_checkudata(L, 1, SP_AUTH_MT);
}

/* core.auth{ client_id=, client_secret=, refresh_margin= } or core.auth{ api_key= } */
static int auth_new(lua_State *L)
{
    sp_auth *a;
    lua_Number margin;

    luaL_checktype(L, 1, LUA_TTABLE);
    lua_settop(L, 1);
    a = sp_newuserdata(L, sizeof *a);   /* index 2, returned at the end */
    memset(a, 0, sizeof *a);
    luaL_getmetatable(L, SP_AUTH_MT);   /* zeroed first: __gc is safe from here */
    lua_setmetatable(L, -2);

    lua_getfield(L, 1, "refresh_margin");
    margin = lua_isnil(L, -1) ? 300 : luaL_checknumber(L, -1);
    lua_pop(L, 1);
    luaL_argcheck(L, margin >= 0 && margin < 86400, 1, "refresh_margin out of range");
    a->refresh_margin_ns = (uint64_t)(margin * 1e9);

    a->token = dup_field(L, "api_key", 0);
    if (a->token != NULL) {
        if (!is_token68(a->token, strlen(a->token)))
            return luaL_error(L, "auth: 'api_key' must be a Bearer token (RFC 6750 token68, "
                              "at most %d bytes)", SP_TOKEN_MAX);
        a->client_id = dup_field(L, "account", 0);
        a->generation = 1;
        a->refresh_at_ns = a->expires_at_ns = UINT64_MAX;
    } else {
        a->client_id = dup_field(L, "client_id", 1);
        a->secret = dup_field(L, "client_secret", 1);
    }
    return 1;
}

static int auth_token(lua_State *L)
{
    sp_auth *a = check_auth(L);
    if (a->token == NULL || sp_clock_monotonic_ns() >= a->refresh_at_ns) {
        lua_pushnil(L);
        return 1;
    }
    lua_pushstring(L, a->token);
    lua_pushinteger(L, a->generation);
    return 2;
}

/* auth:current() -> the generation of the token to send now, or nil: what
 * token() says, without making a Lua string of the token. */
static int auth_current(lua_State *L)
{
    sp_auth *a = check_auth(L);
    if (a->token == NULL || sp_clock_monotonic_ns() >= a->refresh_at_ns)
        lua_pushnil(L);
    else
        lua_pushinteger(L, a->generation);
    return 1;
}

/* auth:held() -> the generation of the token held, due for refresh or not,
 * or nil when none is: what a call may still send when it may not ask for
 * a new one (sendpulse.account.token_requests); the server decides. */
static int auth_held(lua_State *L)
{
    sp_auth *a = check_auth(L);
    if (a->token == NULL)
        lua_pushnil(L);
    else
        lua_pushinteger(L, a->generation);
    return 1;
}

/* auth:holds(s) -> whether s is the token this object holds, due for
 * refresh or not (a token store's copy is compared here, not in Lua). */
static int auth_holds(lua_State *L)
{
    sp_auth *a = check_auth(L);
    size_t n;
    const char *s = lua_tolstring(L, 2, &n);
    lua_pushboolean(L, s != NULL && a->token != NULL && strlen(a->token) == n &&
                       memcmp(a->token, s, n) == 0);
    return 1;
}

/* auth:scrub(s) -> s, or a copy with the secret and the token (in the
 * forms of sp_scrub.h) replaced by "(hidden)". Non-strings come back as
 * they are. */
static int auth_scrub(lua_State *L)
{
    sp_auth *a = check_auth(L);
    const char *secrets[2];
    sp_buf out = SP_BUF_INIT;
    size_t n;
    const char *s;
    int found;

    if (lua_type(L, 2) != LUA_TSTRING) {
        lua_settop(L, 2);
        return 1;
    }
    s = lua_tolstring(L, 2, &n);
    secrets[0] = a->secret;
    secrets[1] = a->token;
    found = sp_scrub(&out, s, n, secrets, 2);
    if (found < 0) {
        sp_buf_free(&out);
        return luaL_error(L, "not enough memory");
    }
    if (found == 0)
        lua_pushvalue(L, 2);
    else
        lua_pushlstring(L, out.data, out.len);
    sp_buf_free(&out);
    return 1;
}

int sp_auth_bearer(lua_State *L, int idx, const char **token)
{
    sp_auth *a = sp_testudata(L, idx, SP_AUTH_MT);
    if (a == NULL)
        return 0;
    *token = a->token;
    return 1;
}

/* auth:bearer() -> "Authorization: Bearer <token>", or nil without a
 * token: the line for a transport that takes strings only (the cosocket
 * transport, a user's); the libcurl transports take the object itself. */
static int auth_bearer(lua_State *L)
{
    sp_auth *a = check_auth(L);
    if (a->token == NULL) {
        lua_pushnil(L);
    } else {
        lua_pushstring(L, SP_BEARER_PREFIX);
        lua_pushstring(L, a->token);
        lua_concat(L, 2);
    }
    return 1;
}

static int auth_begin_refresh(lua_State *L)
{
    sp_auth *a = check_auth(L);
    uint64_t now = sp_clock_monotonic_ns();
    if (a->secret == NULL)
        return luaL_error(L, "auth: an api_key is never refreshed");
    if (a->refreshing_since_ns != 0 && now - a->refreshing_since_ns < SP_REFRESH_STALE_NS) {
        lua_pushboolean(L, 0);
        return 1;
    }
    a->refreshing_since_ns = now;
    lua_pushboolean(L, 1);
    return 1;
}

/* auth:finish_refresh(token, expires_in): the margin shrinks for short
 * lifetimes so a token is always used for at least half of its life. */
static int auth_finish_refresh(lua_State *L)
{
    sp_auth *a = check_auth(L);
    size_t n;
    const char *token = luaL_checklstring(L, 2, &n);
    lua_Number ttl = luaL_checknumber(L, 3);
    uint64_t now = sp_clock_monotonic_ns(), life, margin;
    char *copy;

    luaL_argcheck(L, is_token68(token, n), 2, "token must be a Bearer token (RFC 6750 token68)");
    luaL_argcheck(L, ttl > 0 && ttl < 1e7, 3, "expires_in must be a positive number");
    if (a->secret == NULL)
        return luaL_error(L, "auth: an api_key is never refreshed");
    copy = malloc(n + 1);
    if (copy == NULL)
        return luaL_error(L, "not enough memory");
    memcpy(copy, token, n + 1);
    wipe_free(&a->token);
    a->token = copy;
    life = (uint64_t)(ttl * 1e9);
    margin = a->refresh_margin_ns < life / 2 ? a->refresh_margin_ns : life / 2;
    a->expires_at_ns = now + life;
    a->refresh_at_ns = now + life - margin;
    a->refreshing_since_ns = 0;
    a->generation++;
    lua_pushinteger(L, a->generation);
    return 1;
}

static int auth_abort_refresh(lua_State *L)
{
    sp_auth *a = check_auth(L);
    a->refreshing_since_ns = 0;
    return 0;
}

static int auth_refreshing(lua_State *L)
{
    sp_auth *a = check_auth(L);
    lua_pushboolean(L, a->refreshing_since_ns != 0);
    return 1;
}

/* auth:invalidate(generation): drop the token the server refused, unless a
 * newer one already replaced it (another caller refreshed meanwhile). Returns
 * whether anything was dropped. An api_key cannot be replaced: false. */
static int auth_invalidate(lua_State *L)
{
    sp_auth *a = check_auth(L);
    lua_Integer gen = luaL_checkinteger(L, 2);
    if (a->secret == NULL || gen != a->generation || a->token == NULL) {
        lua_pushboolean(L, 0);
        return 1;
    }
    wipe_free(&a->token);
    lua_pushboolean(L, 1);
    return 1;
}

/* The form body of POST /oauth/access_token. */
static int auth_token_request(lua_State *L)
{
    sp_auth *a = check_auth(L);
    sp_buf b = SP_BUF_INIT;
    int failed;

    if (a->secret == NULL)
        return luaL_error(L, "auth: an api_key is never refreshed");
    sp_buf_wiping(&b);   /* it holds the secret, as it grows too */
    failed = sp_buf_append(&b, "grant_type=client_credentials&client_id=", 40)
          || sp_percent_encode(&b, a->client_id, strlen(a->client_id))
          || sp_buf_append(&b, "&client_secret=", 15)
          || sp_percent_encode(&b, a->secret, strlen(a->secret));
    if (!failed)
        lua_pushlstring(L, b.data, b.len);
    sp_buf_free(&b);
    if (failed)
        return luaL_error(L, "not enough memory");
    return 1;
}

/* Seconds the current token stays valid, or nil. */
static int auth_expires_in(lua_State *L)
{
    sp_auth *a = check_auth(L);
    uint64_t now = sp_clock_monotonic_ns();
    if (a->token == NULL || now >= a->expires_at_ns)
        lua_pushnil(L);
    else if (a->expires_at_ns == UINT64_MAX)
        lua_pushnumber(L, HUGE_VAL);
    else
        lua_pushnumber(L, (lua_Number)(a->expires_at_ns - now) / 1e9);
    return 1;
}

static int auth_is_static(lua_State *L)
{
    sp_auth *a = check_auth(L);
    lua_pushboolean(L, a->secret == NULL);
    return 1;
}

static int auth_gc(lua_State *L)
{
    sp_auth *a = check_auth(L);
    wipe_free(&a->client_id);
    wipe_free(&a->secret);
    wipe_free(&a->token);
    return 0;
}

/* Never the secret or the token; the client id only shortened. */
static int auth_tostring(lua_State *L)
{
    sp_auth *a = check_auth(L);
    char id[10] = "?";
    if (a->client_id != NULL) {
        size_t n = strlen(a->client_id);
        memcpy(id, a->client_id, n > 6 ? 6 : n + 1);
        if (n > 6)
            memcpy(id + 6, "...", 4);
    }
    lua_pushfstring(L, SP_AUTH_MT " (%s, %s, %s)",
                    a->secret ? "client credentials" : "api key", id,
                    a->token ? "token cached" : "no token");
    return 1;
}

void sp_open_auth(lua_State *L)
{
    static const luaL_Reg methods[] = {
        { "token", auth_token },
        { "current", auth_current },
        { "held", auth_held },
        { "holds", auth_holds },
        { "scrub", auth_scrub },
        { "bearer", auth_bearer },
        { "begin_refresh", auth_begin_refresh },
        { "finish_refresh", auth_finish_refresh },
        { "abort_refresh", auth_abort_refresh },
        { "refreshing", auth_refreshing },
        { "invalidate", auth_invalidate },
        { "token_request", auth_token_request },
        { "expires_in", auth_expires_in },
        { "is_static", auth_is_static },
        { NULL, NULL }
    };
    static const luaL_Reg meta[] = {
        { "__gc", auth_gc },
        { "__tostring", auth_tostring },
        { NULL, NULL }
    };
    static const luaL_Reg funcs[] = {
        { "auth", auth_new },
        { NULL, NULL }
    };
    sp_newclass(L, SP_AUTH_MT, methods, meta);
    sp_setfuncs(L, funcs);
}
