/* luaopen_sendpulse_core: assembles the C core. The only exported symbol.
 *
 *   http_session{...}    libcurl transport (sp_http.c)
 *   multi{...}           non-blocking libcurl transfers (sp_multi.c)
 *   auth{...}            credentials and token cache (sp_auth.c)
 *   limiter{...}         GCRA rate budget, monotonic clock, sleep (sp_rate.c)
 *   json_encode, null   (sp_json.c); json_decode (sp_json_decode.c)
 *   json_decode          (sp_json_decode.c)
 *   urlencode, base64_encode, base64_decode   (sp_lencode.c)
 *   private_dir, write_private, try_lock, uid, fsync (sp_lfs.c) */
#include "sp_internal.h"

/* The interface between this core and the Lua files, not a release number
 * (that is set once, in lua/sendpulse/version.lua). Bumped whenever a
 * function's contract changes, so a stale core.so is refused at require. */
#define SP_CORE_ABI 4

__attribute__((visibility("default")))
int luaopen_sendpulse_core(lua_State *L);

int luaopen_sendpulse_core(lua_State *L)
{
    lua_newtable(L);
    sp_open_http(L);
    sp_open_multi(L);
    sp_open_auth(L);
    sp_open_rate(L);
    sp_open_json(L);
    sp_open_json_decode(L);
    sp_open_encode(L);
    sp_open_fs(L);
    lua_pushinteger(L, SP_CORE_ABI);
    lua_setfield(L, -2, "ABI");
    return 1;
}
