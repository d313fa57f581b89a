/* A checked Redis reply (sp_resp.c) as Lua values, for sendpulse.hiredis:
 *   "+", "$"      strings (a status too: Redis's "OK" is the string "OK")
 *   "-"           the error's text (sp_hiredis_lua.c tells the caller it
 *                 was an error: false, text)
 *   ":"           integers
 *   "*"           tables, elements in order
 *   "$-1", "*-1"  a NULL light userdata (hiredis.null, == ngx.null)
 * Nothing is read that sp_resp_check did not check, and the check bounded
 * the reply: its elements (so the tables) and its depth (so the recursion
 * here and the Lua stack). */
#include <limits.h>

#include "sp_lua.h"
#include "sp_resp.h"

static void push_item(lua_State *L, const char *buf, size_t len, size_t *pos)
{
    sp_resp_item it;
    size_t i;

    luaL_checkstack(L, 3, "redis reply");
    if (!sp_resp_next(buf, len, pos, &it)) {
        lua_pushlightuserdata(L, NULL);   /* never: the reply was checked */
        return;
    }
    if (it.null) {
        lua_pushlightuserdata(L, NULL);
    } else if (it.type == ':') {
        lua_pushinteger(L, (lua_Integer)it.integer);
    } else if (it.type == '*') {
        lua_createtable(L, it.count > INT_MAX ? 0 : (int)it.count, 0);
        for (i = 0; i < it.count; i++) {
            push_item(L, buf, len, pos);
            lua_rawseti(L, -2, (int)i + 1);
        }
    } else {
        lua_pushlstring(L, it.str, it.str_len);
    }
}

void sp_push_resp(lua_State *L, const char *buf, size_t len)
{
    size_t pos = 0;
    push_item(L, buf, len, &pos);
}
