/* The wire encoders of csrc/sp_encode.c (Lua-free) on any bytes:
 *   - Base64: encoding then decoding gives the input back; decoding any
 *     input either fails at an offset inside it or gives bytes whose
 *     encoding decodes to them again;
 *   - percent-encoding: the output holds only unreserved characters and
 *     %XX escapes, and decodes to the input;
 *   - scrubbing (sp_scrub.h): with the first bytes (up to a NUL) taken as
 *     the secret and the rest as the text, no copy of the secret is left
 *     in what comes out, nor a part of SP_SCRUB_PART bytes of it, and a
 *     text without any comes back untouched. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "sp_buf.h"
#include "sp_encode.h"
#include "sp_scrub.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int contains(const char *s, size_t n, const char *needle, size_t len)
{
    size_t i;
    for (i = 0; len > 0 && i + len <= n; i++)
        if (memcmp(s + i, needle, len) == 0)
            return 1;
    return 0;
}

static void check_scrub(const uint8_t *data, size_t size)
{
    const char *nul = memchr(data, 0, size);
    char secret[64];
    const char *secrets[1] = { secret };
    const char *text;
    size_t len, n, w;
    sp_buf out = SP_BUF_INIT;
    int found, clash;

    if (nul == NULL || (size_t)(nul - (const char *)data) >= sizeof secret)
        return;
    len = (size_t)(nul - (const char *)data);
    memcpy(secret, data, len + 1);
    text = nul + 1;
    n = size - len - 1;
    found = sp_scrub(&out, text, n, secrets, 1);
    if (found < 0)
        abort();
    clash = strpbrk(secret, "()") && strpbrk(secret, "[]") && strpbrk(secret, "<>")
            && strpbrk(secret, "{}") && strchr(secret, '|');
    if (found == 0) {
        if (out.len != 0 || (len >= SP_SCRUB_MIN && contains(text, n, secret, len)))
            abort();
        for (w = 0; len >= SP_SCRUB_MIN && w + SP_SCRUB_PART <= len; w++)
            if (contains(text, n, secret + w, SP_SCRUB_PART))
                abort();   /* a part of the secret not found */
    } else if (len >= SP_SCRUB_MIN && contains(out.data, out.len, secret, len) && clash) {
        /* every mark clashes with this secret: a bounded number of passes */
    } else if (len >= SP_SCRUB_MIN && contains(out.data, out.len, secret, len)) {
        abort();   /* a copy left */
    } else if (len >= SP_SCRUB_MIN && !clash) {
        for (w = 0; w + SP_SCRUB_PART <= len; w++)
            if (contains(out.data, out.len, secret + w, SP_SCRUB_PART))
                abort();   /* a part of it left */
    }
    sp_buf_free(&out);
}

static int hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    sp_buf enc = SP_BUF_INIT, dec = SP_BUF_INIT, again = SP_BUF_INIT;
    size_t bad_at = 0, i, k;

    if (sp_base64_encode(&enc, data, size) != 0)
        abort();
    if (sp_base64_decode(&dec, enc.data, enc.len, &bad_at) != 0)
        abort();
    if (dec.len != size || (size > 0 && memcmp(dec.data, data, size) != 0))
        abort();

    dec.len = 0;
    if (sp_base64_decode(&dec, (const char *)data, size, &bad_at) != 0) {
        if (bad_at > size)
            abort();
    } else {
        enc.len = 0;
        if (sp_base64_encode(&enc, (const unsigned char *)dec.data, dec.len) != 0)
            abort();
        if (sp_base64_decode(&again, enc.data, enc.len, &bad_at) != 0 || again.len != dec.len
            || (dec.len > 0 && memcmp(again.data, dec.data, dec.len) != 0))
            abort();
    }

    enc.len = 0;
    if (sp_percent_encode(&enc, (const char *)data, size) != 0)
        abort();
    for (i = 0, k = 0; i < enc.len; k++) {
        char c = enc.data[i];
        unsigned char want = k < size ? data[k] : 0;
        if (k >= size)
            abort();
        if (c == '%') {
            if (i + 2 >= enc.len)   /* an escape cut short */
                abort();
            if (hexval(enc.data[i + 1]) < 0 || hexval(enc.data[i + 2]) < 0)
                abort();
            if ((unsigned char)(hexval(enc.data[i + 1]) * 16 + hexval(enc.data[i + 2])) != want)
                abort();
            i += 3;
        } else {
            if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9')
                  || c == '-' || c == '.' || c == '_' || c == '~') || (unsigned char)c != want)
                abort();
            i++;
        }
    }
    if (k != size)
        abort();
    check_scrub(data, size);
    sp_buf_free(&enc);
    sp_buf_free(&dec);
    sp_buf_free(&again);
    return 0;
}
