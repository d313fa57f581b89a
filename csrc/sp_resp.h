/* A Redis reply (RESP2) read from a peer that may be hostile: checked with
 * bounds before anything is built from it. Lua-free.
 *
 * sendpulse.hiredis (sp_hiredis_lua.c) reads replies with this instead of
 * hiredis' own reader: Debian's hiredis 0.14 has no maxbulklen or
 * maxelements, buffered a 400 MB string whole (the process reached 1.2
 * GB), and gave "*2147483647" a calloc of 16 GB. Here a length or a count
 * is judged when its header arrives, before a byte of what it announces is
 * read or a byte of memory is reserved for it:
 *   - the whole reply, as sent, at most max_bytes (a string's length is
 *     checked against the room left);
 *   - at most max_elements array elements in all (nested ones counted);
 *   - arrays nested at most SP_RESP_MAX_DEPTH deep.
 * Strict RESP2: "+", "-", ":" lines and "$", "*" headers end in CR LF; an
 * integer is an optional '-' and 1 to 19 digits that fit 64 bits; a length
 * is -1 (null) or digits; a string is followed by CR LF; any other type
 * byte (RESP3's among them) is a protocol error.
 *
 * The reader is incremental: call sp_resp_check with the bytes received so
 * far (from the reply's first byte) as often as more arrive; what was
 * checked is not read again. */
#ifndef SP_RESP_H
#define SP_RESP_H

#include <stddef.h>

/* Arrays inside arrays: hiredis allowed 7; the library's replies use 2. */
#define SP_RESP_MAX_DEPTH 8

/* The defaults of sendpulse.hiredis: the library's own replies are at most
 * a token (4 KiB) and a number, or a few numbers. */
#define SP_RESP_MAX_BYTES    1048576
#define SP_RESP_MAX_ELEMENTS 1024

typedef enum sp_resp_status {
    SP_RESP_MORE = 0,    /* no whole reply yet: call again with more bytes */
    SP_RESP_DONE,        /* a whole reply: r->pos is its length */
    SP_RESP_TOO_LARGE,   /* over a bound (r->why says which) */
    SP_RESP_PROTOCOL     /* not RESP2 (r->why says what) */
} sp_resp_status;

typedef struct sp_resp_reader {
    size_t max_bytes, max_elements;
    size_t pos;          /* where the next item starts: all before is checked */
    size_t scanned;      /* where the search for the current line's CR LF resumes */
    size_t elements;     /* array elements announced so far */
    int    depth;        /* arrays open */
    long long left[SP_RESP_MAX_DEPTH];   /* elements still to come in each */
    char   why[128];     /* after TOO_LARGE or PROTOCOL */
} sp_resp_reader;

/* Starts a reply. */
void sp_resp_start(sp_resp_reader *r, size_t max_bytes, size_t max_elements);

/* Checks buf[0, len): the reply's bytes so far (len never shrinks between
 * calls of one reply; bytes past a whole reply are not looked at). */
sp_resp_status sp_resp_check(sp_resp_reader *r, const char *buf, size_t len);

/* One item of a checked reply, for building values from it. */
typedef struct sp_resp_item {
    char        type;    /* '+', '-', ':', '$', '*' */
    int         null;    /* "$-1" or "*-1" */
    long long   integer; /* ':' */
    const char *str;     /* '+', '-', '$': the bytes, str_len of them */
    size_t      str_len;
    size_t      count;   /* '*': its elements, which follow it in order */
} sp_resp_item;

/* Reads the item at *pos of a reply sp_resp_check said DONE to, and moves
 * *pos past it (past an array's header only: its elements are the next
 * items). Returns 0 on a malformed reply, which a checked one never is. */
int sp_resp_next(const char *buf, size_t len, size_t *pos, sp_resp_item *item);

#endif
