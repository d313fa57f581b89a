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
#define SP_DIR_MT      "sendpulse.dir"
#define SP_FILE_MT     "sendpulse.file"
#define SP_HIREDIS_MT  "sendpulse.hiredis"
#define SP_CLEANUP_MT  "sendpulse.cleanup"

/* The longest Bearer token (or API key) the core holds, in bytes. */
#define SP_TOKEN_MAX 4096

/* For the libcurl transports (sp_auth_lua.c): when the value at idx is an
 * auth object, sets *token to its token (NULL when it holds none: it was
 * dropped after a 401 while the call waited) and returns 1; returns 0 for
 * any other value. The token stays the object's: copy it, and zero the copy
 * when done. Expiry is not judged here: the server answers 401 to an
 * expired token, and the client replays the call with a new one. */
int sp_auth_bearer(lua_State *L, int idx, const char **token);

/* The line an auth object stands for among a request's headers, and the
 * room it takes (sp_easy_lua.c's sp_header_line writes it). */
#define SP_BEARER_PREFIX "Authorization: Bearer "
#define SP_BEARER_LINE_MAX (sizeof SP_BEARER_PREFIX + SP_TOKEN_MAX)

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
void sp_open_cleanup(lua_State *L);       /* sp_cleanup_lua.c */
void sp_open_json_decode(lua_State *L);   /* sp_json_decode_lua.c */
void sp_open_encode(lua_State *L);        /* sp_encode_lua.c */
void sp_open_fs(lua_State *L);            /* sp_fs_lua.c */
void sp_open_easy(lua_State *L);          /* sp_easy_lua.c: core.limits */

/* The descriptor of the folder object (core.dir) at i, raising for
 * anything else; *path (when not NULL) gets its path (sp_fs_lua.c). */
int sp_dir_fd(lua_State *L, int i, const char **path);
/* sendpulse.hiredis (its own module): pushes a reply sp_resp_check said
 * DONE to (buf[0, len)) as Lua values: strings, integers, tables, and a
 * NULL light userdata for a null (sp_resp_lua.c). */
void sp_push_resp(lua_State *L, const char *buf, size_t len);

/* The Lua side of sp_easy.h, shared by the two libcurl transports
 * (sp_http_lua.c, sp_multi_lua.c): see sp_easy_lua.c. */
struct sp_buf;
struct sp_easy_opts;
struct sp_answer;
void sp_push_headers(lua_State *L, const struct sp_buf *head);
void sp_easy_options(lua_State *L, struct sp_easy_opts *o);
long sp_ms_arg(lua_State *L, int i);
/* The header line a request's header list holds at `idx`: a string as it
 * is, or for an auth object its Authorization line, written into buf (of
 * SP_BEARER_LINE_MAX bytes; zero it when done). NULL for anything else,
 * with *no_token set when it was an auth object holding no token. */
const char *sp_header_line(lua_State *L, int idx, char *buf, int *no_token);
/* Whether the header list's value at idx stands for `line` (a string equal
 * to it, or an auth object whose Authorization line it is). */
int  sp_header_is(lua_State *L, int idx, const char *line);
/* Pushes perform's failure for a request whose auth object held no token
 * (dropped while the call waited): nil, "network", message, false, 0. */
int  sp_push_no_token(lua_State *L);
/* c is a CURL *: kept opaque here so Lua-only files need no curl.h. */
int  sp_push_failure(lua_State *L, void *c, const struct sp_answer *a, int rc, const char *errbuf);
/* Pushes left_after: seconds from the transfer's start until its request
 * was about to be sent, connection and TLS set up (0: it never was). */
void sp_push_left_after(lua_State *L, void *c);

#if defined(__GNUC__)
#pragma GCC visibility pop
#endif

#endif
