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
 * characters; other bytes, UTF-8 included, pass through unchanged (the
 * JSON encoder checks them with sp_utf8_check first; sp_scrub escapes
 * secrets of any bytes with it). */
int sp_json_escape(sp_buf *out, const char *s, size_t n);

/* UTF-8 as RFC 3629 defines it (JSON text must be UTF-8, RFC 8259 8.1): no
 * overlong forms, no surrogates (U+D800..DFFF), nothing above U+10FFFF.
 * sp_utf8_sequence: the length (1..4) of the valid sequence that starts at
 * s, given `avail` bytes there; 0 when none does. sp_utf8_check: n when all
 * n bytes are UTF-8, else the offset of the first byte of the first
 * sequence that is not. */
size_t sp_utf8_sequence(const unsigned char *s, size_t avail);
size_t sp_utf8_check(const char *s, size_t n);

/* The bytes the JSON encoder writes for a string of these n bytes, its
 * quotes included (sp_json_escape's rules), in one pass that also checks
 * UTF-8: returns 0 and sets *bad to the offset of the first byte that is
 * not UTF-8 when there is one (a JSON string is never 0 bytes: it has its
 * quotes). For bounding what a batch of strings will cost before encoding
 * them. */
size_t sp_json_string_size(const char *s, size_t n, size_t *bad);

#endif
