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
