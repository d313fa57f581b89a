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

int main(void)
{
    test_buf();
    test_percent();
    test_base64_vectors();
    test_base64_round_trip();
    test_json_escape();
    return ctest_report("test_encode");
}
