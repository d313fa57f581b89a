#include "sp_encode.h"

#include <string.h>

static const char HEX[] = "0123456789ABCDEF";

static int is_unreserved(unsigned char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
           (c >= '0' && c <= '9') || c == '-' || c == '.' || c == '_' || c == '~';
}

int sp_percent_encode(sp_buf *out, const char *s, size_t n)
{
    size_t i;

    if (sp_buf_reserve(out, n) != 0)
        return -1;
    for (i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (is_unreserved(c)) {
            if (sp_buf_putc(out, (char)c) != 0)
                return -1;
        } else {
            char esc[3] = { '%', HEX[c >> 4], HEX[c & 15] };
            if (sp_buf_append(out, esc, 3) != 0)
                return -1;
        }
    }
    return 0;
}

static const char B64[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

int sp_base64_encode(sp_buf *out, const unsigned char *s, size_t n)
{
    size_t i;
    char *p;

    if (n == 0)
        return 0;
    if (n / 3 >= ((size_t)-1) / 4 - 1 || sp_buf_reserve(out, (n + 2) / 3 * 4) != 0)
        return -1;
    p = out->data + out->len;
    for (i = 0; i + 2 < n; i += 3) {
        unsigned v = (unsigned)s[i] << 16 | (unsigned)s[i + 1] << 8 | s[i + 2];
        *p++ = B64[v >> 18];
        *p++ = B64[(v >> 12) & 63];
        *p++ = B64[(v >> 6) & 63];
        *p++ = B64[v & 63];
    }
    if (i < n) {
        unsigned v = (unsigned)s[i] << 16 | (i + 1 < n ? (unsigned)s[i + 1] << 8 : 0);
        *p++ = B64[v >> 18];
        *p++ = B64[(v >> 12) & 63];
        *p++ = i + 1 < n ? B64[(v >> 6) & 63] : '=';
        *p++ = '=';
    }
    out->len = (size_t)(p - out->data);
    return 0;
}

static int b64_value(unsigned char c)
{
    if (c >= 'A' && c <= 'Z') return c - 'A';
    if (c >= 'a' && c <= 'z') return c - 'a' + 26;
    if (c >= '0' && c <= '9') return c - '0' + 52;
    if (c == '+') return 62;
    if (c == '/') return 63;
    return -1;
}

int sp_base64_decode(sp_buf *out, const char *s, size_t n, size_t *bad_at)
{
    unsigned acc = 0;
    int bits = 0;
    size_t i, pad = 0;

    if (sp_buf_reserve(out, n / 4 * 3 + 3) != 0) {
        *bad_at = 0;
        return -1;
    }
    for (i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        int v;
        if (c == ' ' || c == '\t' || c == '\r' || c == '\n')
            continue;
        if (c == '=') {
            pad++;
            continue;
        }
        v = b64_value(c);
        if (v < 0 || pad > 0) {   /* bad byte, or data after padding */
            *bad_at = i;
            return -1;
        }
        acc = (acc << 6) | (unsigned)v;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            out->data[out->len++] = (char)((acc >> bits) & 0xFF);
        }
    }
    if (pad > 2 || bits >= 6) {   /* a lone sextet cannot encode a byte */
        *bad_at = n;
        return -1;
    }
    return 0;
}

int sp_json_escape(sp_buf *out, const char *s, size_t n)
{
    size_t i, run = 0;

    for (i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        const char *esc = NULL;
        char u[6];

        if (c >= 0x20 && c != '"' && c != '\\' && c != 0x7F)
            continue;
        if (sp_buf_append(out, s + run, i - run) != 0)
            return -1;
        run = i + 1;
        switch (c) {
        case '"':  esc = "\\\""; break;
        case '\\': esc = "\\\\"; break;
        case '\n': esc = "\\n"; break;
        case '\r': esc = "\\r"; break;
        case '\t': esc = "\\t"; break;
        case '\b': esc = "\\b"; break;
        case '\f': esc = "\\f"; break;
        default:
            memcpy(u, "\\u00", 4);
            u[4] = HEX[c >> 4];
            u[5] = HEX[c & 15];
            if (sp_buf_append(out, u, 6) != 0)
                return -1;
            continue;
        }
        if (sp_buf_append(out, esc, strlen(esc)) != 0)
            return -1;
    }
    return sp_buf_append(out, s + run, n - run);
}

static int continuation(unsigned char c)
{
    return (c & 0xC0) == 0x80;
}

size_t sp_utf8_sequence(const unsigned char *s, size_t avail)
{
    unsigned char c = s[0];
    /* the range allowed for the second byte, by the first (RFC 3629, 4) */
    unsigned char lo = 0x80, hi = 0xBF;
    size_t n, i;

    if (avail == 0)
        return 0;
    if (c < 0x80)
        return 1;
    if (c < 0xC2)
        return 0;                   /* a continuation byte, or overlong C0/C1 */
    if (c < 0xE0) {
        n = 2;
    } else if (c < 0xF0) {
        n = 3;
        if (c == 0xE0)
            lo = 0xA0;              /* overlong below U+0800 */
        else if (c == 0xED)
            hi = 0x9F;              /* the surrogates U+D800..DFFF */
    } else if (c < 0xF5) {
        n = 4;
        if (c == 0xF0)
            lo = 0x90;              /* overlong below U+10000 */
        else if (c == 0xF4)
            hi = 0x8F;              /* above U+10FFFF */
    } else {
        return 0;
    }
    if (avail < n || s[1] < lo || s[1] > hi)
        return 0;
    for (i = 2; i < n; i++)
        if (!continuation(s[i]))
            return 0;
    return n;
}

size_t sp_utf8_check(const char *s, size_t n)
{
    const unsigned char *p = (const unsigned char *)s;
    size_t i = 0;

    while (i < n) {
        size_t len;
        if (p[i] < 0x80) {
            i++;
            continue;
        }
        len = sp_utf8_sequence(p + i, n - i);
        if (len == 0)
            return i;
        i += len;
    }
    return n;
}

/* What each byte below 0x80 becomes inside a JSON string (sp_json_escape's
 * rules): 1 as itself, 2 for \" \\ \n \r \t \b \f, 6 for \u00XX. */
static const unsigned char ESCAPED_SIZE[128] = {
    6, 6, 6, 6, 6, 6, 6, 6, 2, 2, 2, 6, 2, 2, 6, 6,   /* \b \t \n \f \r */
    6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6,
    1, 1, 2, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,   /* '"' */
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 2, 1, 1, 1,   /* '\\' */
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 6,   /* DEL */
};

size_t sp_json_string_size(const char *s, size_t n, size_t *bad)
{
    const unsigned char *p = (const unsigned char *)s;
    size_t i = 0, size = 2;

    while (i < n) {
        unsigned char c = p[i];
        if (c < 0x80) {
            size += ESCAPED_SIZE[c];
            i++;
            continue;
        }
        {
            size_t len = sp_utf8_sequence(p + i, n - i);
            if (len == 0) {
                *bad = i;
                return 0;
            }
            size += len;
            i += len;
        }
    }
    return size;
}
