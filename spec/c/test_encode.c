/* Buffers and wire encoders: known vectors, round trips, bad input. */
#include <stdlib.h>
#include <string.h>

#include "ctest.h"
#include "sp_buf.h"
#include "sp_encode.h"

static int is(const sp_buf *b, const char *want)
{
    return b->len == strlen(want) && (b->len == 0 || memcmp(b->data, want, b->len) == 0);
}

static void test_buf(void)
{
    sp_buf b = SP_BUF_INIT;
    int i, ok = 1;
    for (i = 0; i < 10000; i++)
        ok &= sp_buf_putc(&b, (char)('a' + i % 26)) == 0;
    CHECK(ok);
    CHECK(b.len == 10000 && b.data[9999] == 'a' + 9999 % 26);
    sp_buf_clear(&b, 1 << 20);
    CHECK(b.len == 0 && b.data != NULL);   /* small: memory kept */
    sp_buf_append(&b, "x", 1);
    sp_buf_clear(&b, 16);
    CHECK(b.data == NULL && b.cap == 0);   /* over keep_max: released */
    sp_buf_append(&b, "x", 1);
    CHECK(sp_buf_reserve(&b, (size_t)-1) == -1);   /* len + extra overflows */
    CHECK(b.len == 1 && b.data[0] == 'x');         /* and nothing changed */
    sp_buf_free(&b);
}

static void test_percent(void)
{
    sp_buf b = SP_BUF_INIT;
    sp_percent_encode(&b, "aZ09-._~", 8);
    CHECK(is(&b, "aZ09-._~"));
    b.len = 0;
    sp_percent_encode(&b, "a b/&=?#%+", 10);
    CHECK(is(&b, "a%20b%2F%26%3D%3F%23%25%2B"));
    b.len = 0;
    sp_percent_encode(&b, "\xc3\xa9\0x", 4);   /* UTF-8 and NUL */
    CHECK(is(&b, "%C3%A9%00x"));
    sp_buf_free(&b);
}

static void test_base64_vectors(void)
{
    /* RFC 4648 section 10. */
    static const char *plain[] = { "", "f", "fo", "foo", "foob", "fooba", "foobar" };
    static const char *coded[] = { "", "Zg==", "Zm8=", "Zm9v", "Zm9vYg==", "Zm9vYmE=", "Zm9vYmFy" };
    sp_buf b = SP_BUF_INIT;
    size_t i, bad;
    for (i = 0; i < 7; i++) {
        b.len = 0;
        sp_base64_encode(&b, (const unsigned char *)plain[i], strlen(plain[i]));
        CHECK(is(&b, coded[i]));
        b.len = 0;
        CHECK(sp_base64_decode(&b, coded[i], strlen(coded[i]), &bad) == 0);
        CHECK(is(&b, plain[i]));
    }
    b.len = 0;
    CHECK(sp_base64_decode(&b, "Zm9v\r\nYmFy", 10, &bad) == 0);   /* wrapped */
    CHECK(is(&b, "foobar"));
    b.len = 0;
    CHECK(sp_base64_decode(&b, "Zm9vYg", 6, &bad) == 0);         /* unpadded */
    CHECK(is(&b, "foob"));
    b.len = 0;
    CHECK(sp_base64_decode(&b, "Zm$v", 4, &bad) == -1 && bad == 2);
    b.len = 0;
    CHECK(sp_base64_decode(&b, "Zg==Zg==", 8, &bad) == -1);     /* data after padding */
    b.len = 0;
    CHECK(sp_base64_decode(&b, "Z", 1, &bad) == -1);            /* a lone sextet */
    sp_buf_free(&b);
}

static void test_base64_round_trip(void)
{
    unsigned char bytes[1000];
    sp_buf enc = SP_BUF_INIT, dec = SP_BUF_INIT;
    size_t n, bad;
    int ok = 1;
    srand(7);
    for (n = 0; n < sizeof bytes; n += 37) {
        size_t i;
        for (i = 0; i < n; i++)
            bytes[i] = (unsigned char)rand();
        enc.len = dec.len = 0;
        sp_base64_encode(&enc, bytes, n);
        ok &= enc.len == (n + 2) / 3 * 4;
        ok &= sp_base64_decode(&dec, enc.data ? enc.data : "", enc.len, &bad) == 0;
        ok &= dec.len == n && (n == 0 || memcmp(dec.data, bytes, n) == 0);
    }
    CHECK(ok);
    sp_buf_free(&enc);
    sp_buf_free(&dec);
}

static void test_json_escape(void)
{
    sp_buf b = SP_BUF_INIT;
    sp_json_escape(&b, "plain", 5);
    CHECK(is(&b, "plain"));
    b.len = 0;
    sp_json_escape(&b, "q\"b\\n\n\t\x01\x7f", 9);
    CHECK(is(&b, "q\\\"b\\\\n\\n\\t\\u0001\\u007F"));
    b.len = 0;
    sp_json_escape(&b, "\xd0\x9f\xd1\x80\xd0\xb8", 6);   /* UTF-8 passes through */
    CHECK(is(&b, "\xd0\x9f\xd1\x80\xd0\xb8"));
    sp_buf_free(&b);
}

/* A second reading of RFC 3629, written differently from sp_utf8_sequence:
 * decode by the bit patterns, then refuse what the code point forbids. */
static size_t reference_sequence(const unsigned char *s, size_t avail)
{
    unsigned long cp;
    size_t n, i;
    if (avail == 0) return 0;
    if (s[0] < 0x80) return 1;
    if ((s[0] & 0xE0) == 0xC0) { n = 2; cp = s[0] & 0x1F; }
    else if ((s[0] & 0xF0) == 0xE0) { n = 3; cp = s[0] & 0x0F; }
    else if ((s[0] & 0xF8) == 0xF0) { n = 4; cp = s[0] & 0x07; }
    else return 0;
    if (avail < n) return 0;
    for (i = 1; i < n; i++) {
        if ((s[i] & 0xC0) != 0x80) return 0;
        cp = cp << 6 | (s[i] & 0x3F);
    }
    if ((n == 2 && cp < 0x80) || (n == 3 && cp < 0x800) || (n == 4 && cp < 0x10000)) return 0;
    if (cp >= 0xD800 && cp <= 0xDFFF) return 0;
    if (cp > 0x10FFFF) return 0;
    return n;
}

static void test_utf8(void)
{
    unsigned char b[4];
    unsigned a, c, d;
    int same = 1;

    CHECK(sp_utf8_check("plain ascii", 11) == 11);
    CHECK(sp_utf8_check("", 0) == 0);
    CHECK(sp_utf8_check("Zo\xc3\xab \xe2\x9c\x93 \xf0\x9f\x98\x80", 13) == 13);   /* Zoë ✓ 😀 */
    CHECK(sp_utf8_check("caf\xe9", 4) == 3);             /* Latin-1 é */
    CHECK(sp_utf8_check("ab\xc3", 3) == 2);              /* cut short */
    CHECK(sp_utf8_check("\xc0\xaf", 2) == 0);             /* overlong '/' */
    CHECK(sp_utf8_check("\xe0\x80\xaf", 3) == 0);         /* overlong, 3 bytes */
    CHECK(sp_utf8_check("x\xed\xa0\x80", 4) == 1);        /* the surrogate U+D800 */
    CHECK(sp_utf8_check("\xf4\x90\x80\x80", 4) == 0);     /* U+110000 */
    CHECK(sp_utf8_check("\xf4\x8f\xbf\xbf", 4) == 4);     /* U+10FFFF */
    CHECK(sp_utf8_check("\xef\xbf\xbf", 3) == 3);         /* U+FFFF */
    CHECK(sp_utf8_check("\x80", 1) == 0);                 /* a lone continuation */
    CHECK(sp_utf8_check("\xff", 1) == 0);
    CHECK(sp_utf8_check("a\0b", 3) == 3);                 /* NUL is UTF-8 */
    /* every sequence of up to three bytes, and four-byte ones from every
     * first byte, against the reference */
    for (a = 0; a < 256; a++) {
        b[0] = (unsigned char)a;
        same &= sp_utf8_sequence(b, 1) == reference_sequence(b, 1);
        for (c = 0; c < 256; c++) {
            b[1] = (unsigned char)c;
            same &= sp_utf8_sequence(b, 2) == reference_sequence(b, 2);
            for (d = 0; d < 256; d++) {
                b[2] = (unsigned char)d;
                same &= sp_utf8_sequence(b, 3) == reference_sequence(b, 3);
                b[3] = (unsigned char)((d * 7 + c) & 0xFF);
                same &= sp_utf8_sequence(b, 4) == reference_sequence(b, 4);
                b[3] = (unsigned char)(0x80 | (d & 0x3F));
                same &= sp_utf8_sequence(b, 4) == reference_sequence(b, 4);
            }
        }
    }
    CHECK(same);
}

/* sp_json_string_size is the length sp_json_escape writes, plus the quotes,
 * for any UTF-8 string; 0 with the first bad byte for any other. */
static void test_json_string_size(void)
{
    sp_buf b = SP_BUF_INIT;
    size_t bad = 99;
    unsigned seed = 7;
    int i, same = 1;

    CHECK(sp_json_string_size("", 0, &bad) == 2);
    CHECK(sp_json_string_size("q\"b\\n\n\t\x01\x7f", 9, &bad) == 2 + 23);
    CHECK(sp_json_string_size("caf\xe9!", 5, &bad) == 0 && bad == 3);
    CHECK(sp_json_string_size("\xd0\x9f", 2, &bad) == 4);
    for (i = 0; i < 20000; i++) {
        unsigned char s[24];
        size_t n = (size_t)(i % 24), k, size;
        for (k = 0; k < n; k++) {
            seed = seed * 1103515245u + 12345u;
            s[k] = (unsigned char)(seed >> 16);
        }
        b.len = 0;
        size = sp_json_string_size((const char *)s, n, &bad);
        if (sp_utf8_check((const char *)s, n) == n) {
            sp_json_escape(&b, (const char *)s, n);
            same &= size == b.len + 2;
        } else {
            same &= size == 0 && bad == sp_utf8_check((const char *)s, n);
        }
    }
    CHECK(same);
    sp_buf_free(&b);
}

int main(void)
{
    test_buf();
    test_percent();
    test_base64_vectors();
    test_base64_round_trip();
    test_json_escape();
    test_utf8();
    test_json_string_size();
    return ctest_report("test_encode");
}
