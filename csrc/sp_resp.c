/* A Redis reply (RESP2) checked against bounds as it arrives: see sp_resp.h. */
#include <limits.h>
#include <stdio.h>
#include <string.h>

#include "sp_resp.h"

/* An integer or length line holds at most '-' and 19 digits. */
#define NUMBER_LINE_MAX 20

void sp_resp_start(sp_resp_reader *r, size_t max_bytes, size_t max_elements)
{
    memset(r, 0, sizeof *r);
    r->max_bytes = max_bytes;
    r->max_elements = max_elements;
}

/* Finds the CR LF ending the line whose content starts at `from`; sets *cr
 * to the CR's index. The search resumes where the last one stopped. */
static int find_line_end(sp_resp_reader *r, const char *buf, size_t len, size_t from, size_t *cr)
{
    size_t i = r->scanned > from ? r->scanned : from;
    while (i + 1 < len) {
        const char *p = memchr(buf + i, '\r', len - 1 - i);
        if (p == NULL)
            break;
        i = (size_t)(p - buf);
        if (buf[i + 1] == '\n') {
            *cr = i;
            return 1;
        }
        i++;
    }
    /* The last byte may be a CR whose LF has not come yet: look at it again. */
    r->scanned = len > from ? len - 1 : from;
    return 0;
}

/* An optional '-' and 1 to 19 digits that fit in 64 bits. */
static int parse_integer(const char *p, size_t n, long long *out)
{
    unsigned long long v = 0;
    size_t i = 0;
    int negative = 0;

    if (n > 0 && p[0] == '-') {
        negative = 1;
        i = 1;
    }
    if (i == n || n - i > 19)
        return 0;
    for (; i < n; i++) {
        if (p[i] < '0' || p[i] > '9')
            return 0;
        v = v * 10 + (unsigned long long)(p[i] - '0');   /* < 10^19 < 2^64 */
    }
    if (negative) {
        if (v > (unsigned long long)LLONG_MAX + 1)
            return 0;
        *out = v == (unsigned long long)LLONG_MAX + 1 ? LLONG_MIN : -(long long)v;
    } else {
        if (v > (unsigned long long)LLONG_MAX)
            return 0;
        *out = (long long)v;
    }
    return 1;
}

static sp_resp_status refuse(sp_resp_reader *r, sp_resp_status status, const char *why)
{
    snprintf(r->why, sizeof r->why, "%s", why);
    return status;
}

static sp_resp_status too_large(sp_resp_reader *r)
{
    snprintf(r->why, sizeof r->why, "a reply over %zu bytes (max_reply_bytes)", r->max_bytes);
    return SP_RESP_TOO_LARGE;
}

/* Not whole yet: more bytes may complete it, unless more than the bound
 * came already. */
static sp_resp_status more(sp_resp_reader *r, size_t len)
{
    return len > r->max_bytes ? too_large(r) : SP_RESP_MORE;
}

static int known_type(char c)
{
    return c == '+' || c == '-' || c == ':' || c == '$' || c == '*';
}

sp_resp_status sp_resp_check(sp_resp_reader *r, const char *buf, size_t len)
{
    /* Only the first max_bytes bytes are ever looked at: a reply is judged
     * the same however its bytes arrive, whole or a few at a time (the fuzz
     * target holds the reader to that). */
    size_t avail = len < r->max_bytes ? len : r->max_bytes;

    for (;;) {
        size_t start = r->pos, cr = 0, end, line;
        long long n = 0;
        int found;
        char type;

        if (start >= avail)
            return more(r, len);
        type = buf[start];
        if (!known_type(type)) {
            snprintf(r->why, sizeof r->why, "a reply type byte '%c' (0x%02x)",
                     type >= 0x21 && type < 0x7f ? type : '?', (unsigned char)type);
            return SP_RESP_PROTOCOL;
        }
        found = find_line_end(r, buf, avail, start + 1, &cr);
        /* A number never needs more than NUMBER_LINE_MAX bytes: judged on
         * the bytes so far (a last CR may start the line's end). Any other
         * line is bounded by the reply's size. */
        line = found ? cr - start - 1 : avail - start - 1 - (buf[avail - 1] == '\r');
        if ((type == ':' || type == '$' || type == '*') && line > NUMBER_LINE_MAX)
            return refuse(r, SP_RESP_PROTOCOL, type == ':' ? "an integer line that is not one"
                                                           : "a length that is not one");
        if (!found)
            return more(r, len);
        end = cr + 2;   /* within avail, so within max_bytes */
        if (type == ':' || type == '$' || type == '*') {
            if (!parse_integer(buf + start + 1, cr - start - 1, &n))
                return refuse(r, SP_RESP_PROTOCOL, type == ':' ? "an integer line that is not one"
                                                               : "a length that is not one");
            if (type != ':' && n < -1)
                return refuse(r, SP_RESP_PROTOCOL, "a negative length");
        }
        if (type == '$' && n >= 0) {
            /* Judged on its header: nothing it announces is read first. */
            if ((unsigned long long)n > r->max_bytes - end || r->max_bytes - end - (size_t)n < 2) {
                if (start == 0)
                    snprintf(r->why, sizeof r->why,
                             "a reply over %zu bytes (max_reply_bytes): a string of %lld bytes", r->max_bytes, n);
                else
                    snprintf(r->why, sizeof r->why,
                             "a reply over %zu bytes (max_reply_bytes): a string of %lld bytes at byte %zu",
                             r->max_bytes, n, start);
                return SP_RESP_TOO_LARGE;
            }
            if (avail < end + (size_t)n + 2)
                return more(r, len);
            if (buf[end + n] != '\r' || buf[end + n + 1] != '\n')
                return refuse(r, SP_RESP_PROTOCOL, "a string not followed by CR LF");
            end += (size_t)n + 2;
        }
        if (type == '*' && n > 0) {
            if ((unsigned long long)n > r->max_elements - r->elements) {
                snprintf(r->why, sizeof r->why,
                         "a reply of more than %zu array elements (max_reply_elements): an array of %lld",
                         r->max_elements, n);
                return SP_RESP_TOO_LARGE;
            }
            if (r->depth == SP_RESP_MAX_DEPTH) {
                snprintf(r->why, sizeof r->why, "a reply nested deeper than %d arrays", SP_RESP_MAX_DEPTH);
                return SP_RESP_TOO_LARGE;
            }
            r->elements += (size_t)n;
            r->left[r->depth++] = n;
            r->pos = r->scanned = end;
            continue;   /* its elements follow */
        }
        /* The item at start is whole: it completes the arrays it ends. */
        r->pos = r->scanned = end;
        while (r->depth > 0 && --r->left[r->depth - 1] == 0)
            r->depth--;
        if (r->depth == 0)
            return SP_RESP_DONE;
    }
}

int sp_resp_next(const char *buf, size_t len, size_t *pos, sp_resp_item *item)
{
    size_t start = *pos, cr, end;
    const char *p;
    long long n = 0;

    memset(item, 0, sizeof *item);
    if (start + 1 >= len)
        return 0;
    p = buf + start + 1;
    for (;;) {
        p = memchr(p, '\r', len - (size_t)(p - buf));
        if (p == NULL || p + 1 >= buf + len)
            return 0;
        if (p[1] == '\n')
            break;
        p++;
    }
    cr = (size_t)(p - buf);
    end = cr + 2;
    item->type = buf[start];
    switch (item->type) {
    case '+':
    case '-':
        item->str = buf + start + 1;
        item->str_len = cr - start - 1;
        break;
    case ':':
        if (!parse_integer(buf + start + 1, cr - start - 1, &item->integer))
            return 0;
        break;
    case '$':
    case '*':
        if (!parse_integer(buf + start + 1, cr - start - 1, &n) || n < -1)
            return 0;
        if (n == -1) {
            item->null = 1;
        } else if (item->type == '*') {
            item->count = (size_t)n;
        } else {
            if ((unsigned long long)n > len - end || len - end - (size_t)n < 2)
                return 0;
            item->str = buf + end;
            item->str_len = (size_t)n;
            end += (size_t)n + 2;
        }
        break;
    default:
        return 0;
    }
    *pos = end;
    return 1;
}
