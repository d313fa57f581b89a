/* What every libcurl easy handle of this module shares, whichever object
 * drives it (the blocking session in sp_http_lua.c, the multi handle in
 * sp_multi_lua.c): TLS and protocol settings, how a request's method and body
 * are set, and how a failure is named. Lua-free. Kept in one place so the
 * security settings cannot drift apart between the two transports. */
#ifndef SP_EASY_H
#define SP_EASY_H

#include <stddef.h>
#include <stdint.h>
#include <curl/curl.h>

#include "sp_buf.h"
#include "sp_sockets.h"

#if defined(__GNUC__)
#pragma GCC visibility push(hidden)
#endif

#define SP_CURL_VER_GE(maj, min, pat) \
    (LIBCURL_VERSION_NUM >= (((maj) << 16) | ((min) << 8) | (pat)))

/* The answer size a session accepts when it is not told otherwise: the
 * default of the max_answer_size option (core.limits.max_answer_size). */
#define SP_DEFAULT_MAX_ANSWER ((size_t)64 * 1024 * 1024)
/* The largest bound one may set (1 TiB): beyond any answer's reason. */
#define SP_MAX_ANSWER_LIMIT 1099511627776.0

/* Options of a session; NULL strings are left at curl's defaults. */
typedef struct sp_easy_opts {
    const char *user_agent;
    const char *ca_file;
    const char *ca_path;
    const char *proxy;
    int         http2;
    size_t      max_answer;   /* bytes of body, after decoding (> 0) */
} sp_easy_opts;

/* Why a transfer was stopped by our own callbacks (curl then reports
 * CURLE_WRITE_ERROR or CURLE_ABORTED_BY_CALLBACK). */
enum {
    SP_ANSWER_OK = 0,
    SP_ANSWER_NO_MEMORY,     /* an append failed */
    SP_ANSWER_TOO_LARGE,     /* the body passed max_body */
    SP_ANSWER_HEADER_LINES,  /* more than SP_MAX_HEADER_LINES */
    SP_ANSWER_HEADER_BYTES,  /* more than SP_MAX_HEADER_BYTES */
    SP_ANSWER_BAD_LENGTH,    /* a Content-Length that is not a number */
    SP_ANSWER_TWO_LENGTHS,   /* two different Content-Length values */
    SP_ANSWER_UNREAD,        /* the reused connection had unread bytes */
    SP_ANSWER_REPLAY         /* libcurl was about to send a request that is
                              * not safe to repeat a second time */
};

/* Where a transfer's answer is collected. curl's callbacks only append to
 * these C buffers, never call into Lua: no Lua error can longjmp through
 * libcurl. Every byte is counted against the bounds as it arrives, so an
 * endless body, a gzip bomb or 50,000 header lines stop the transfer
 * within one read, not after they were held in memory. */
typedef struct sp_answer {
    sp_buf      body;
    sp_buf      head;        /* header lines of the last answer (after any 100 Continue) */
    size_t      max_body;    /* from sp_easy_opts.max_answer */
    size_t      head_lines, head_bytes;   /* of every block together */
    int         failure;     /* SP_ANSWER_* */
    int         has_length;  /* the current block gave a Content-Length, */
    uint64_t    length;      /* this one */
    sp_sockets *sockets;     /* the cache's sockets (sp_easy_sockets) */
    int         once;        /* the request must not be sent twice (sp_easy_once) */
    int         prereqs;     /* pre-request callbacks in this transfer */
} sp_answer;

/* Points the handle's body, header and pre-request callbacks at `a`, whose
 * connection cache's sockets are `sockets` (may be NULL: no unread-bytes
 * check). */
void sp_easy_collect(CURL *c, sp_answer *a, sp_sockets *sockets);

/* Makes the handle open and close its sockets through `s`, which must
 * outlive every connection the handle makes (for a multi handle: the multi
 * handle's, as connections outlive the easy handle that opened them). */
void sp_easy_sockets(CURL *c, sp_sockets *s);

/* Whether the next transfer's request is one that must never be sent
 * twice (a POST, a PATCH: not idempotent). libcurl sends a request again
 * by itself, on a new connection, when a reused connection closes before
 * any byte of the answer came (lib/transfer.c, Curl_retry_request), and a
 * server may have carried out the first one before closing. With once
 * set, that second sending is stopped before it starts: the transfer fails
 * with SP_ANSWER_REPLAY (curl: CURLE_ABORTED_BY_CALLBACK), the request
 * sent once, maybe carried out. Kept across sp_easy_begin. */
void sp_easy_once(CURL *c, sp_answer *a, int once);

/* Empties `a` for the next transfer (keeping its memory). */
void sp_easy_begin(sp_answer *a);

/* After a transfer that succeeded: its connection rests in the cache (see
 * sp_sockets.h). */
void sp_easy_rested(CURL *c, sp_answer *a);

/* Settings every handle gets once: no signals, TLS verification on (there is
 * deliberately no way to turn it off), http/https only, no redirects, the
 * path sent exactly as given (no dot-segment removal: "/a/../b" must not
 * become "/b"), answers over o->max_answer refused. curl copies the
 * strings, so o may go away afterwards. */
void sp_easy_defaults(CURL *c, const sp_easy_opts *o);

/* Frees a request's header list, zeroing each line first: one of them
 * carries the Bearer token. */
void sp_easy_free_headers(struct curl_slist *list);

/* Sets the method and body of the next transfer. curl does not copy the
 * body: it must stay where it is until the transfer ends (a copy of
 * curl's own would be freed without being zeroed, and a token request's
 * body holds the secret). */
void sp_easy_request(CURL *c, const char *method, const char *body, size_t len);

/* "timeout" | "tls" | "network" | "too_large" | "protocol": the kind the
 * Lua side turns into an error, for a transfer our callbacks did not stop;
 * errbuf is curl's error text for it (framing errors are told apart by it:
 * curl reports a bad chunk with the code of a failed read). */
const char *sp_easy_failure_kind(CURLcode rc, const char *errbuf);

#if defined(__GNUC__)
#pragma GCC visibility pop
#endif

#endif
