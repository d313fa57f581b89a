/* luaopen_sendpulse_core: assembles the C core. The only exported symbol.
 *
 *   http_session{...}, curl_version   blocking libcurl transport (sp_http_lua.c)
 *   multi{...}           non-blocking libcurl transfers (sp_multi_lua.c)
 *   auth{...}            credentials and token cache (sp_auth_lua.c)
 *   limiter{...}         GCRA rate budget (sp_limiter_lua.c)
 *   monotonic, sleep     (sp_clock_lua.c)
 *   json_encode, null    (sp_json_encode_lua.c); json_decode (sp_json_decode_lua.c)
 *   urlencode, base64_encode, base64_decode, fingerprint   (sp_encode_lua.c)
 *   dir, open, temp, uid, fsync, storage_errno              (sp_fs_lua.c)
 *   limits               the bounds on an answer (sp_easy_lua.c) */
#include "sp_lua.h"

/* The interface between this core and the Lua files, not a release number
 * (that is set once, in lua/sendpulse/version.lua). Bumped whenever a
 * function's contract changes, so a stale core.so is refused at require. */
#define SP_CORE_ABI 7

__attribute__((visibility("default")))
int luaopen_sendpulse_core(lua_State *L);

int luaopen_sendpulse_core(lua_State *L)
{
    lua_newtable(L);
    sp_open_http(L);
    sp_open_multi(L);
    sp_open_auth(L);
    sp_open_limiter(L);
    sp_open_clock(L);
    sp_open_json_encode(L);
    sp_open_json_decode(L);
    sp_open_encode(L);
    sp_open_fs(L);
    sp_open_easy(L);
    lua_pushinteger(L, SP_CORE_ABI);
    lua_setfield(L, -2, "ABI");
    return 1;
}
