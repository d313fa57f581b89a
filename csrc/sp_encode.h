/* Text encoders used on the wire. Lua-free. Each appends to an sp_buf and
 * returns 0, or -1 when memory ran out (or, for decoders, on bad input). */
#ifndef SP_ENCODE_H
#define SP_ENCODE_H

#include <stddef.h>
#include "sp_buf.h"

/* RFC 3986 percent-encoding: everything but ALPHA / DIGIT / "-" / "." / "_" /
 * "~" becomes %XX (upper-case hex). Used for query strings, form bodies and
 * path segments alike, so a "/" inside an id can never change the path. */
int sp_percent_encode(sp_buf *out, const char *s, size_t n);

/* Standard Base64 (RFC 4648, "+/" alphabet, "=" padding). SendPulse wants it
 * for campaign and template bodies, SMTP html and attachments. */
int sp_base64_encode(sp_buf *out, const unsigned char *s, size_t n);
/* Accepts padded or unpadded input and skips ASCII white space (SendPulse
 * answers may be wrapped); any other character outside the alphabet is an
 * error (-1, *bad_at set to its offset). */
int sp_base64_decode(sp_buf *out, const char *s, size_t n, size_t *bad_at);

/* The inside of a JSON string (no quotes): escapes '"', '\\' and control
 * characters; other bytes, UTF-8 included, pass through unchanged. */
int sp_json_escape(sp_buf *out, const char *s, size_t n);

#endif
