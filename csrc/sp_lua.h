/* Declarations shared by the binding files (sp_*_lua.c). Nothing here is
 * exported from the shared object: only luaopen_sendpulse_core is.
 *
 * File naming: a file that speaks the Lua C API ends in _lua.c; the others
 * are Lua-free and come with a header of the same name. A binding carries
 * the name of the Lua-free part it exposes (sp_limiter.c: the GCRA;
 * sp_limiter_lua.c: core.limiter), so the pairs read off the file list.
 *
 * Static function naming, in every file:
 *   - functions Lua calls (lua_CFunction): <class>_<method> for methods and
 *     metamethods (http_perform, http_gc), <class>_new for constructors,
 *     core_<name> for functions of the module table (core_urlencode), and
 *     hiredis_<name> in the separate sendpulse.hiredis module;
 *   - every other helper: a verb phrase without prefix (check_http,
 *     push_failure). */
#ifndef SP_LUA_H
#define SP_LUA_H

/* Lua's own headers stay outside the pragma: their functions live in the
 * host program, and hidden declarations would not link against them. */
#include "sp_compat.h"

#if defined(__GNUC__)
#pragma GCC visibility push(hidden)
#endif

#define SP_HTTP_MT     "sendpulse.http"
#define SP_AUTH_MT     "sendpulse.auth"
#define SP_LIMITER_MT  "sendpulse.limiter"
#define SP_MULTI_MT    "sendpulse.multi"
#define SP_FILELOCK_MT "sendpulse.filelock"
#define SP_HIREDIS_MT  "sendpulse.hiredis"

/* 2^53: beyond it a double no longer holds every integer (the JSON encoder
 * and decoder both decide on it). */
#define SP_MAX_SAFE_INTEGER 9007199254740992.0

/* Each adds its functions to the module table on the top of the stack. */
void sp_open_http(lua_State *L);          /* sp_http_lua.c */
void sp_open_multi(lua_State *L);         /* sp_multi_lua.c */
void sp_open_auth(lua_State *L);          /* sp_auth_lua.c */
void sp_open_limiter(lua_State *L);       /* sp_limiter_lua.c */
void sp_open_clock(lua_State *L);         /* sp_clock_lua.c */
void sp_open_json_encode(lua_State *L);   /* sp_json_encode_lua.c */
void sp_open_json_decode(lua_State *L);   /* sp_json_decode_lua.c */
void sp_open_encode(lua_State *L);        /* sp_encode_lua.c */
void sp_open_fs(lua_State *L);            /* sp_fs_lua.c */
void sp_open_easy(lua_State *L);          /* sp_easy_lua.c: core.limits */

/* The Lua side of sp_easy.h, shared by the two libcurl transports
 * (sp_http_lua.c, sp_multi_lua.c): see sp_easy_lua.c. */
struct sp_buf;
struct sp_easy_opts;
struct sp_answer;
void sp_push_headers(lua_State *L, const struct sp_buf *head);
void sp_easy_options(lua_State *L, struct sp_easy_opts *o);
long sp_ms_arg(lua_State *L, int i);
/* c is a CURL *: kept opaque here so Lua-only files need no curl.h. */
int  sp_push_failure(lua_State *L, void *c, const struct sp_answer *a, int rc, const char *errbuf);
/* Pushes left_after: seconds from the transfer's start until its request
 * was about to be sent, connection and TLS set up (0: it never was). */
void sp_push_left_after(lua_State *L, void *c);

#if defined(__GNUC__)
#pragma GCC visibility pop
#endif

#endif
