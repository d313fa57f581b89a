/* The header block of an HTTP answer: the bounds every transport puts on
 * it, and a reader of its fields. Lua-free.
 *
 * The bounds are defined here once; the Lua side sees them as core.limits
 * (header_lines, header_bytes), so the cosocket transport, which parses
 * answers itself, refuses exactly what the libcurl transports refuse. They
 * cover every header block of one answer together (a "100 Continue" block
 * and the final one): a real answer has a few dozen short lines, and a
 * server that sends 50,000 cannot make a call spend its CPU on them. */
#ifndef SP_HEADERS_H
#define SP_HEADERS_H

#include <stddef.h>

#define SP_MAX_HEADER_LINES 200
#define SP_MAX_HEADER_BYTES 65536

/* One "Name: value" field: name and value point into the block; the value
 * is trimmed of surrounding blanks (and of the line's CR). */
typedef struct sp_header {
    const char *name;
    size_t      name_len;
    const char *value;
    size_t      value_len;
} sp_header;

/* Reads the next field of the block [*p, end) into h and moves *p past its
 * line; returns 1, or 0 when no field is left. Status lines ("HTTP/...") and
 * lines that are not a field (no colon, or nothing before it) are skipped.
 * Never reads outside [*p, end); the block need not end with a newline. */
int sp_headers_next(const char **p, const char *end, sp_header *h);

/* How many lines the block [p, end) has (a last line without a newline
 * counts): an upper bound on its fields. */
size_t sp_headers_count_lines(const char *p, const char *end);

#endif
