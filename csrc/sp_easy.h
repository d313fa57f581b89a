/* What every libcurl easy handle of this module shares, whichever object
 * drives it (the blocking session in sp_http_lua.c, the multi handle in
 * sp_multi_lua.c): TLS and protocol settings, how a request's method and body
 * are set, and how a failure is named. Lua-free. Kept in one place so the
 * security settings cannot drift apart between the two transports. */
#ifndef SP_EASY_H
#define SP_EASY_H

#include <stddef.h>
#include <curl/curl.h>

#include "sp_buf.h"

#if defined(__GNUC__)
#pragma GCC visibility push(hidden)
#endif

#define SP_CURL_VER_GE(maj, min, pat) \
    (LIBCURL_VERSION_NUM >= (((maj) << 16) | ((min) << 8) | (pat)))

/* Options of a session; NULL strings are left at curl's defaults. */
typedef struct sp_easy_opts {
    const char *user_agent;
    const char *ca_file;
    const char *ca_path;
    const char *proxy;
    int         http2;
} sp_easy_opts;

/* Where a transfer's answer is collected. curl's callbacks only append to
 * these C buffers, never call into Lua: no Lua error can longjmp through
 * libcurl. out_of_memory is set when an append failed (curl then stops the
 * transfer with CURLE_WRITE_ERROR). */
typedef struct sp_answer {
    sp_buf body;
    sp_buf head;    /* header lines of the last answer (after any 100 Continue) */
    int    out_of_memory;
} sp_answer;

/* Points the handle's body and header callbacks at `a`. */
void sp_easy_collect(CURL *c, sp_answer *a);

/* Settings every handle gets once: no signals, TLS verification on (there is
 * deliberately no way to turn it off), http/https only, no redirects. curl
 * copies the strings, so o may go away afterwards. */
void sp_easy_defaults(CURL *c, const sp_easy_opts *o);

/* Sets the method and body of the next transfer. copy: let curl keep its
 * own copy of the body (needed when the caller's memory may go away while
 * the transfer runs, as with the multi interface). Returns 0, or -1 when
 * curl ran out of memory copying it. */
int sp_easy_request(CURL *c, const char *method, const char *body, size_t len, int copy);

/* "timeout" | "tls" | "network": the kind the Lua side turns into an error. */
const char *sp_easy_failure_kind(CURLcode rc);

#if defined(__GNUC__)
#pragma GCC visibility pop
#endif

#endif
