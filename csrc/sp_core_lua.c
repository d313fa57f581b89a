/* luaopen_sendpulse_core: assembles the C core. The only exported symbol
 * (declared in sendpulse_core.h, the header a C host includes).
 *
 *   http_session{...}, curl_version   blocking libcurl transport (sp_http_lua.c)
 *   multi{...}           non-blocking libcurl transfers (sp_multi_lua.c)
 *   auth{...}            credentials and token cache (sp_auth_lua.c)
 *   limiter{...}         GCRA rate budget (sp_limiter_lua.c)
 *   monotonic, sleep, wallclock   (sp_clock_lua.c)
 *   json_encode, null    (sp_json_encode_lua.c); json_decode (sp_json_decode_lua.c)
 *   urlencode, base64_encode, base64_decode, fingerprint, json_string_size   (sp_encode_lua.c)
 *   dir, open, temp, uid, fsync, storage_errno,
 *   private_dir, write_private, try_lock, append_private, read_private   (sp_fs_lua.c)
 *   limits               the bounds on an answer (sp_easy_lua.c)
 *   remove_on_signal     a file removed if a signal ends the process (sp_cleanup_lua.c) */
#include "sp_lua.h"
#include "sendpulse_core.h"

/* The interface between this core and the Lua files, not a release number
 * (that is set once, in lua/sendpulse/version.lua). Bumped whenever a
 * function's contract changes, so a stale core.so is refused at require. */
#define SP_CORE_ABI 11

/* Which Lua this core was compiled for, as text in the file itself. A core
 * built for another Lua never reaches luaopen: the dynamic linker refuses
 * it first (the 5.4 core needs lua_newuserdatauv, the 5.1 one
 * lua_tointeger, ...), with "undefined symbol". lua/sendpulse/load_core.lua
 * then reads this line from the file to say "built for Lua 5.4, this is
 * Lua 5.1". (LuaJIT's lua.h says "Lua 5.1": its ABI, which a 5.1 core
 * shares.) */
__attribute__((used)) static const char built_for[] = "\nsendpulse.core built for " LUA_VERSION "\n";

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
    sp_open_cleanup(L);
    lua_pushinteger(L, SP_CORE_ABI);
    lua_setfield(L, -2, "ABI");
    return 1;
}
