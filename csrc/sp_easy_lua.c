/* The Lua side of the libcurl settings both transports share (sp_easy.h):
 * session options read from a Lua table, timeouts from Lua seconds, the
 * answer's header block turned into a Lua table, a failure turned into
 * perform's failure values, and the bounds as core.limits. Used by
 * sp_http_lua.c and sp_multi_lua.c, so the two cannot drift apart. */
#include <ctype.h>
#include <stdio.h>
#include <string.h>

#include "sp_lua.h"
#include "sp_buf.h"
#include "sp_easy.h"
#include "sp_headers.h"

/* Pushes field `field` of the options table at index 1, checked to be a
 * string or nil; returns it (NULL for nil). It stays on the stack. */
static const char *string_option(lua_State *L, const char *field)
{
    lua_getfield(L, 1, field);
    if (!lua_isnil(L, -1) && lua_type(L, -1) != LUA_TSTRING)
        luaL_error(L, "http_session: option '%s' must be a string", field);
    return lua_tostring(L, -1);
}

/* Reads the session options shared with core.multi from the table at
 * index 1 into o; pushes 5 values that keep o's strings alive. */
void sp_easy_options(lua_State *L, sp_easy_opts *o)
{
    lua_Number max;

    lua_getfield(L, 1, "max_answer_size");
    max = lua_isnil(L, -1) ? (lua_Number)SP_DEFAULT_MAX_ANSWER : lua_tonumber(L, -1);
    if (lua_type(L, -1) != LUA_TNIL && (lua_type(L, -1) != LUA_TNUMBER || !(max >= 1 && max <= SP_MAX_ANSWER_LIMIT)
                                        || max != (lua_Number)(size_t)max))
        luaL_error(L, "http_session: option 'max_answer_size' must be a whole number of bytes "
                   "from 1 to 2^40");
    lua_pop(L, 1);
    o->max_answer = (size_t)max;
    o->user_agent = string_option(L, "user_agent");
    o->ca_file = string_option(L, "ca_file");
    o->ca_path = string_option(L, "ca_path");
    o->proxy = string_option(L, "proxy");
    lua_getfield(L, 1, "http2");
    o->http2 = lua_isnil(L, -1) || lua_toboolean(L, -1);
}

const char *sp_header_line(lua_State *L, int idx, char *buf, int *no_token)
{
    const char *token;
    size_t n;
    *no_token = 0;
    if (lua_type(L, idx) == LUA_TSTRING)
        return lua_tostring(L, idx);
    if (!sp_auth_bearer(L, idx, &token))
        return NULL;
    if (token == NULL) {
        *no_token = 1;
        return NULL;
    }
    n = strlen(token);   /* at most SP_TOKEN_MAX: sp_auth_lua.c refuses longer */
    memcpy(buf, SP_BEARER_PREFIX, sizeof SP_BEARER_PREFIX - 1);
    memcpy(buf + sizeof SP_BEARER_PREFIX - 1, token, n + 1);
    return buf;
}

int sp_header_is(lua_State *L, int idx, const char *line)
{
    const char *token;
    size_t p = sizeof SP_BEARER_PREFIX - 1;
    if (lua_type(L, idx) == LUA_TSTRING)
        return strcmp(lua_tostring(L, idx), line) == 0;
    return sp_auth_bearer(L, idx, &token) && token != NULL &&
           strncmp(line, SP_BEARER_PREFIX, p) == 0 && strcmp(line + p, token) == 0;
}

int sp_push_no_token(lua_State *L)
{
    lua_pushnil(L);
    lua_pushliteral(L, "network");
    lua_pushliteral(L, "not sent: the token was dropped while the call waited (another call "
                       "was refused with it); a new one is fetched on the next attempt");
    lua_pushboolean(L, 0);
    lua_pushnumber(L, 0);   /* left_after: it never left */
    return 5;
}

/* Milliseconds from a seconds argument; 0 means "no limit" to curl, so a
 * tiny positive timeout becomes 1 ms rather than none. */
long sp_ms_arg(lua_State *L, int i)
{
    lua_Number s = luaL_checknumber(L, i);
    luaL_argcheck(L, s > 0 && s < 1e6, i, "timeout must be a positive number of seconds");
    return s * 1000 < 1 ? 1 : (long)(s * 1000);
}

/* Pushes a table of the answer's headers: lower-case names; repeated names
 * joined with ", " as RFC 9110 allows. Status lines are skipped. The block
 * is bounded by the transports (SP_MAX_HEADER_LINES, SP_MAX_HEADER_BYTES),
 * so joining repeated names stays cheap. */
void sp_push_headers(lua_State *L, const sp_buf *head)
{
    const char *p = head->data, *end = head->data + head->len;
    sp_header h;
    char lower[64];

    /* Sized for the header lines up front: filled key by key from empty,
     * a table is rehashed at 1, 2, 4 and 8 keys, which made each insert
     * cost ~750 instructions (bench/cost.lua). */
    {
        size_t lines = sp_headers_count_lines(p, end);
        lua_createtable(L, 0, lines > 1 ? (int)(lines - 1) : 0);   /* minus the status line */
    }
    while (sp_headers_next(&p, end, &h)) {
        /* Names are short: lower-cased on the C stack, which costs a tenth
         * of a luaL_Buffer filled a character at a time through the
         * locale's tolower (bench/cost.lua). ASCII is all a header name may
         * hold. */
        if (h.name_len <= sizeof lower) {
            size_t k;
            for (k = 0; k < h.name_len; k++) {
                char ch = h.name[k];
                lower[k] = (ch >= 'A' && ch <= 'Z') ? (char)(ch + ('a' - 'A')) : ch;
            }
            lua_pushlstring(L, lower, h.name_len);
        } else {
            luaL_Buffer name;
            size_t k;
            luaL_buffinit(L, &name);
            for (k = 0; k < h.name_len; k++)
                luaL_addchar(&name, (char)tolower((unsigned char)h.name[k]));
            luaL_pushresult(&name);
        }
        lua_pushvalue(L, -1);
        lua_rawget(L, -3);
        if (lua_type(L, -1) == LUA_TSTRING) {
            lua_pushliteral(L, ", ");
            lua_pushlstring(L, h.value, h.value_len);
            lua_concat(L, 3);
        } else {
            lua_pop(L, 1);
            lua_pushlstring(L, h.value, h.value_len);
        }
        lua_rawset(L, -3);
    }
}

/* Pushes perform's failure values (nil, kind, message, sent) for a transfer
 * that ended with rc; `a` says whether our own callbacks stopped it. */
int sp_push_failure(lua_State *L, void *curl, const sp_answer *a, int code, const char *errbuf)
{
    CURL *c = curl;
    CURLcode rc = (CURLcode)code;
    long request_size = 0;
    char max[24];

    snprintf(max, sizeof max, "%llu", (unsigned long long)a->max_body);
    lua_pushnil(L);
    switch (a->failure) {
    case SP_ANSWER_TOO_LARGE:
        lua_pushliteral(L, "too_large");
        lua_pushfstring(L, "the answer is larger than max_answer_size (%s bytes)", max);
        lua_pushboolean(L, 1);
        return 4;
    case SP_ANSWER_HEADER_LINES:
        lua_pushliteral(L, "too_large");
        lua_pushfstring(L, "the answer has more than %d header lines (core.limits.header_lines)",
                        SP_MAX_HEADER_LINES);
        lua_pushboolean(L, 1);
        return 4;
    case SP_ANSWER_HEADER_BYTES:
        lua_pushliteral(L, "too_large");
        lua_pushfstring(L, "the answer's header is larger than %d bytes (core.limits.header_bytes)",
                        SP_MAX_HEADER_BYTES);
        lua_pushboolean(L, 1);
        return 4;
    case SP_ANSWER_BAD_LENGTH:
        lua_pushliteral(L, "protocol");
        lua_pushliteral(L, "the answer's Content-Length is not a decimal number");
        lua_pushboolean(L, 1);
        return 4;
    case SP_ANSWER_TWO_LENGTHS:
        lua_pushliteral(L, "protocol");
        lua_pushliteral(L, "the answer has two different Content-Length values");
        lua_pushboolean(L, 1);
        return 4;
    case SP_ANSWER_NO_MEMORY:
        lua_pushliteral(L, "network");
        lua_pushliteral(L, "not enough memory to hold the answer");
        lua_pushboolean(L, 1);
        return 4;
    case SP_ANSWER_REPLAY:
        /* The request went out on a reused connection, which closed before
         * any byte of the answer: the server may have acted on it. */
        lua_pushliteral(L, "network");
        lua_pushliteral(L, "the kept-alive connection closed after the request was sent, before any answer: "
                           "the server may have carried it out, so it was not sent again "
                           "(the request is not safe to repeat)");
        lua_pushboolean(L, 1);
        return 4;
    case SP_ANSWER_UNREAD:
        lua_pushliteral(L, "network");
        lua_pushliteral(L, "every kept-alive connection offered had unread bytes (refused, nothing sent)");
        lua_pushboolean(L, 0);
        return 4;
    default:
        break;
    }
    lua_pushstring(L, sp_easy_failure_kind(rc, errbuf));
    if (rc == CURLE_FILESIZE_EXCEEDED)
        lua_pushfstring(L, "the answer is larger than max_answer_size (%s bytes): its Content-Length says so",
                        max);
    else
        /* curl's own account of this failure (it names the host, the port,
         * the time taken) already says what its generic text for the code
         * says: one of them, never both. */
        lua_pushstring(L, errbuf[0] != '\0' ? errbuf : curl_easy_strerror(rc));
    curl_easy_getinfo(c, CURLINFO_REQUEST_SIZE, &request_size);
    lua_pushboolean(L, request_size > 0);
    return 4;
}

void sp_push_left_after(lua_State *L, void *curl)
{
    double left_after = 0;
    curl_easy_getinfo((CURL *)curl, CURLINFO_PRETRANSFER_TIME, &left_after);
    lua_pushnumber(L, left_after);
}

/* core.limits: the bounds every transport puts on an answer, defined once
 * here (sp_headers.h, sp_easy.h) and read by the cosocket transport. */
void sp_open_easy(lua_State *L)
{
    lua_createtable(L, 0, 3);
    lua_pushinteger(L, SP_MAX_HEADER_LINES);
    lua_setfield(L, -2, "header_lines");
    lua_pushinteger(L, SP_MAX_HEADER_BYTES);
    lua_setfield(L, -2, "header_bytes");
    lua_pushinteger(L, (lua_Integer)SP_DEFAULT_MAX_ANSWER);
    lua_setfield(L, -2, "max_answer_size");
    lua_setfield(L, -2, "limits");
}
