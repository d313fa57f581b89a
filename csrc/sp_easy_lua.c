/* The Lua side of the libcurl settings both transports share (sp_easy.h):
 * session options read from a Lua table, timeouts from Lua seconds, and the
 * answer's header block turned into a Lua table. Used by sp_http_lua.c and
 * sp_multi_lua.c, so the two cannot drift apart. */
#include <ctype.h>
#include <string.h>

#include "sp_lua.h"
#include "sp_buf.h"
#include "sp_easy.h"

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
    o->user_agent = string_option(L, "user_agent");
    o->ca_file = string_option(L, "ca_file");
    o->ca_path = string_option(L, "ca_path");
    o->proxy = string_option(L, "proxy");
    lua_getfield(L, 1, "http2");
    o->http2 = lua_isnil(L, -1) || lua_toboolean(L, -1);
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
 * joined with ", " as RFC 9110 allows. The status line is skipped. */
void sp_push_headers(lua_State *L, const sp_buf *head)
{
    const char *p = head->data, *end = head->data + head->len;
    luaL_Buffer name;
    char lower[64];

    /* Sized for the header lines up front: filled key by key from empty,
     * a table is rehashed at 1, 2, 4 and 8 keys, which made each insert
     * cost ~750 instructions (bench/cost.lua). */
    {
        const char *q = p;
        int lines = 0;
        while ((q = memchr(q, '\n', (size_t)(end - q))) != NULL) {
            lines++;
            q++;
        }
        lua_createtable(L, 0, lines > 1 ? lines - 1 : 0);   /* minus the status line */
    }
    while (p < end) {
        const char *eol = memchr(p, '\n', (size_t)(end - p));
        const char *colon, *v, *ve;
        if (eol == NULL)
            eol = end;
        colon = memchr(p, ':', (size_t)(eol - p));
        if (colon != NULL && colon > p && memcmp(p, "HTTP/", 5) != 0) {
            const char *c;
            v = colon + 1;
            ve = eol;
            while (v < ve && (*v == ' ' || *v == '\t'))
                v++;
            while (ve > v && (ve[-1] == '\r' || ve[-1] == ' ' || ve[-1] == '\t'))
                ve--;
            /* Names are short: lower-cased on the C stack, which costs a
             * tenth of a luaL_Buffer filled a character at a time through
             * the locale's tolower (bench/cost.lua). ASCII is all a header
             * name may hold. */
            if ((size_t)(colon - p) <= sizeof lower) {
                size_t k, len = (size_t)(colon - p);
                for (k = 0; k < len; k++) {
                    char ch = p[k];
                    lower[k] = (ch >= 'A' && ch <= 'Z') ? (char)(ch + ('a' - 'A')) : ch;
                }
                lua_pushlstring(L, lower, len);
            } else {
                luaL_buffinit(L, &name);
                for (c = p; c < colon; c++)
                    luaL_addchar(&name, (char)tolower((unsigned char)*c));
                luaL_pushresult(&name);
            }
            lua_pushvalue(L, -1);
            lua_rawget(L, -3);
            if (lua_isstring(L, -1)) {
                lua_pushliteral(L, ", ");
                lua_pushlstring(L, v, (size_t)(ve - v));
                lua_concat(L, 3);
            } else {
                lua_pop(L, 1);
                lua_pushlstring(L, v, (size_t)(ve - v));
            }
            lua_rawset(L, -3);
        }
        p = eol + 1;
    }
}
