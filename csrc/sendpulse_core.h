/* The C core's one public function, for programs that embed Lua and link
 * the core in (make static: build/<lua>/libsendpulse.a; docs/loops.md):
 *
 *   #include <lua.h>
 *   #include "sendpulse_core.h"     (cc -I<checkout>/csrc)
 *   luaL_requiref(L, "sendpulse.core", luaopen_sendpulse_core, 0);
 *
 * The core must be built for the host's Lua (make static LUA_IMPL=...);
 * csrc/sp_core_lua.c defines it, including this header, so the two cannot
 * drift apart. Every other symbol of the core is hidden. */
#ifndef SENDPULSE_CORE_H
#define SENDPULSE_CORE_H

#include <lua.h>

#if defined(__GNUC__)
#define SENDPULSE_CORE_API __attribute__((visibility("default")))
#else
#define SENDPULSE_CORE_API
#endif

#ifdef __cplusplus
extern "C" {
#endif

/* Pushes the core's module table (what require "sendpulse.core" returns). */
SENDPULSE_CORE_API int luaopen_sendpulse_core(lua_State *L);

#ifdef __cplusplus
}
#endif

#endif
