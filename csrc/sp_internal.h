/* Declarations shared by the files of the Lua module. Nothing here is
 * exported from the shared object: only luaopen_sendpulse_core is. */
#ifndef SP_INTERNAL_H
#define SP_INTERNAL_H

/* Lua's own headers stay outside the pragma: their functions live in the
 * host program, and hidden declarations would not link against them. */
#include "sp_compat.h"

#if defined(__GNUC__)
#pragma GCC visibility push(hidden)
#endif

#define SP_HTTP_MT    "sendpulse.http"
#define SP_AUTH_MT    "sendpulse.auth"
#define SP_LIMITER_MT "sendpulse.limiter"
#define SP_MULTI_MT   "sendpulse.multi"

/* Each adds its functions to the module table on the top of the stack. */
void sp_open_http(lua_State *L);
void sp_open_auth(lua_State *L);
void sp_open_rate(lua_State *L);
void sp_open_json(lua_State *L);
void sp_open_json_decode(lua_State *L);
void sp_open_encode(lua_State *L);
void sp_open_fs(lua_State *L);
void sp_open_multi(lua_State *L);

/* Shared by the two transports (sp_http.c, sp_multi.c). */
struct sp_buf;
struct sp_easy_opts;
void sp_push_headers(lua_State *L, const struct sp_buf *head);
void sp_easy_options(lua_State *L, struct sp_easy_opts *o);
long sp_ms_arg(lua_State *L, int i);

#if defined(__GNUC__)
#pragma GCC visibility pop
#endif

#endif
