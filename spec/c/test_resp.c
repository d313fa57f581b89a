/* The Redis reply reader (sp_resp.c): whole replies, replies that arrive a
 * byte at a time, the bounds judged on a header before what it announces,
 * and what is not RESP2. Each reply is copied into a heap buffer of exactly
 * its size, so ASan (make ctest builds with it) reports a read past it. */
#include <stdlib.h>
#include <string.h>

#include "ctest.h"
#include "sp_resp.h"

/* Checks `n` bytes of `text` with the bounds, whole or a byte at a time;
 * the status, with r filled in. */
static sp_resp_status check_n(const char *text, size_t n, size_t max_bytes, size_t max_elements,
                              int bytewise, sp_resp_reader *r)
{
    char *buf = malloc(n ? n : 1);
    sp_resp_status st = SP_RESP_MORE;
    size_t got;

    memcpy(buf, text, n);
    sp_resp_start(r, max_bytes, max_elements);
    if (!bytewise) {
        st = sp_resp_check(r, buf, n);
    } else {
        for (got = 1; got <= n && st == SP_RESP_MORE; got++)
            st = sp_resp_check(r, buf, got);
    }
    free(buf);
    return st;
}

/* Whole and a byte at a time, with the bounds given: the same verdict. */
static sp_resp_status check_with(const char *text, size_t max_bytes, size_t max_elements, sp_resp_reader *r)
{
    sp_resp_reader bytewise;
    sp_resp_status a = check_n(text, strlen(text), max_bytes, max_elements, 0, r);
    sp_resp_status b = check_n(text, strlen(text), max_bytes, max_elements, 1, &bytewise);
    CHECK(a == b);
    CHECK(a != SP_RESP_DONE || bytewise.pos == r->pos);
    CHECK(strcmp(r->why, bytewise.why) == 0);
    return a;
}

static sp_resp_status check(const char *text, sp_resp_reader *r)
{
    return check_with(text, SP_RESP_MAX_BYTES, SP_RESP_MAX_ELEMENTS, r);
}

static int why_is(const sp_resp_reader *r, const char *want)
{
    if (strcmp(r->why, want) == 0)
        return 1;
    fprintf(stderr, "why: \"%s\", expected \"%s\"\n", r->why, want);
    return 0;
}

static void whole_replies(void)
{
    sp_resp_reader r;
    sp_resp_item it;
    size_t pos = 0;
    static const char reply[] = "*4\r\n:-42\r\n$3\r\na\r\n\r\n*-1\r\n*1\r\n+OK\r\n";
    char *buf;

    CHECK(check("+OK\r\n", &r) == SP_RESP_DONE);
    CHECK_EQ_U64(r.pos, 5);
    CHECK(check("-ERR x\r\n", &r) == SP_RESP_DONE);
    CHECK(check(":9223372036854775807\r\n", &r) == SP_RESP_DONE);
    CHECK(check(":-9223372036854775808\r\n", &r) == SP_RESP_DONE);
    CHECK(check("$-1\r\n", &r) == SP_RESP_DONE);
    CHECK(check("$0\r\n\r\n", &r) == SP_RESP_DONE);
    CHECK(check("*0\r\n", &r) == SP_RESP_DONE);
    CHECK(check("+a\rb\r\n", &r) == SP_RESP_DONE);   /* a lone CR is a byte */
    CHECK(check(reply, &r) == SP_RESP_DONE);
    CHECK_EQ_U64(r.pos, sizeof reply - 1);
    CHECK_EQ_U64(r.elements, 5);
    /* Bytes after a whole reply are not looked at. */
    CHECK(check("+OK\r\n+OK\r\n", &r) == SP_RESP_DONE);
    CHECK_EQ_U64(r.pos, 5);

    buf = malloc(sizeof reply - 1);
    memcpy(buf, reply, sizeof reply - 1);
    CHECK(sp_resp_next(buf, sizeof reply - 1, &pos, &it) && it.type == '*' && it.count == 4);
    CHECK(sp_resp_next(buf, sizeof reply - 1, &pos, &it) && it.type == ':' && it.integer == -42);
    CHECK(sp_resp_next(buf, sizeof reply - 1, &pos, &it) && it.type == '$' && it.str_len == 3
          && memcmp(it.str, "a\r\n", 3) == 0);
    CHECK(sp_resp_next(buf, sizeof reply - 1, &pos, &it) && it.type == '*' && it.null);
    CHECK(sp_resp_next(buf, sizeof reply - 1, &pos, &it) && it.type == '*' && it.count == 1);
    CHECK(sp_resp_next(buf, sizeof reply - 1, &pos, &it) && it.type == '+' && it.str_len == 2);
    CHECK_EQ_U64(pos, sizeof reply - 1);
    CHECK(!sp_resp_next(buf, sizeof reply - 1, &pos, &it));
    free(buf);
}

static void incomplete(void)
{
    sp_resp_reader r;
    CHECK(check("", &r) == SP_RESP_MORE);
    CHECK(check("+OK\r", &r) == SP_RESP_MORE);
    CHECK(check("$3\r\nab", &r) == SP_RESP_MORE);
    CHECK(check("$3\r\nabc\r", &r) == SP_RESP_MORE);
    CHECK(check("*2\r\n:1\r\n", &r) == SP_RESP_MORE);
    CHECK(check(":123", &r) == SP_RESP_MORE);
}

static void bounds(void)
{
    sp_resp_reader r;
    static const char deep_ok[] = "*1\r\n*1\r\n*1\r\n*1\r\n*1\r\n*1\r\n*1\r\n*1\r\n:1\r\n";
    static const char deep[] = "*1\r\n*1\r\n*1\r\n*1\r\n*1\r\n*1\r\n*1\r\n*1\r\n*1\r\n:1\r\n";

    /* Judged on the header alone: nothing of the string is there. */
    CHECK(check("$400000000\r\n", &r) == SP_RESP_TOO_LARGE);
    CHECK(why_is(&r, "a reply over 1048576 bytes (max_reply_bytes): a string of 400000000 bytes"));
    CHECK(check("*2\r\n$1048000\r\n", &r) == SP_RESP_MORE);
    CHECK(check_with("*2\r\n+a\r\n$60\r\n", 64, 8, &r) == SP_RESP_TOO_LARGE);
    CHECK(why_is(&r, "a reply over 64 bytes (max_reply_bytes): a string of 60 bytes at byte 8"));
    CHECK(check("*2147483647\r\n", &r) == SP_RESP_TOO_LARGE);
    CHECK(why_is(&r, "a reply of more than 1024 array elements (max_reply_elements): an array of 2147483647"));
    CHECK(check_with("*2\r\n*2\r\n", 64, 3, &r) == SP_RESP_TOO_LARGE);   /* nested ones count */
    CHECK(check_with("*0\r\n", 64, 0, &r) == SP_RESP_DONE);
    CHECK(check(deep_ok, &r) == SP_RESP_DONE);
    CHECK(check(deep, &r) == SP_RESP_TOO_LARGE);
    CHECK(why_is(&r, "a reply nested deeper than 8 arrays"));
    /* A line without its end: refused once the bytes pass the bound. */
    CHECK(check_with("+aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", 64, 8, &r)
          == SP_RESP_TOO_LARGE);
    CHECK(why_is(&r, "a reply over 64 bytes (max_reply_bytes)"));
}

/* The fuzz target's findings: a verdict that depended on how the bytes
 * arrived (a long number line past the size bound, whole: too large; in
 * pieces: not a number). check_with compares the two ways. */
static void arrival_independent(void)
{
    sp_resp_reader r;
    CHECK(check_with("*:937203685477580\x7f\x7f\x7f\x7f\x7f\x7f\x7f\x7f\x7f\x7f\x7f\x7f\x7f\x7f\x7f\x7f"
                     "\x7f\x7f\x7f\x7f\x7f\x7f\x7f\x7f\x7f\x7f\x7f\x7f\x7f\x7f\x7f\x7f\x7f\x7f\x7f\x7f"
                     "\x7f\x7f\x7f\x7f\x7f\x7f\x7f\x7f\x7f\x7f" "7\r\n", 64, 3, &r) == SP_RESP_PROTOCOL);
    CHECK(why_is(&r, "a length that is not one"));
    CHECK(check_with("*2\r\n+aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\r\n$-Tok/en-4eN7q~9_Ab.cdEf\r\n", 64, 8, &r)
          == SP_RESP_TOO_LARGE);
    CHECK(why_is(&r, "a reply over 64 bytes (max_reply_bytes)"));
}

static void not_resp2(void)
{
    sp_resp_reader r;
    CHECK(check(":12a\r\n", &r) == SP_RESP_PROTOCOL);
    CHECK(why_is(&r, "an integer line that is not one"));
    CHECK(check(":\r\n", &r) == SP_RESP_PROTOCOL);
    CHECK(check(":-\r\n", &r) == SP_RESP_PROTOCOL);
    CHECK(check(":+1\r\n", &r) == SP_RESP_PROTOCOL);
    CHECK(check(":9223372036854775808\r\n", &r) == SP_RESP_PROTOCOL);
    CHECK(check(":99999999999999999999\r\n", &r) == SP_RESP_PROTOCOL);
    CHECK(check(":11111111111111111111111111", &r) == SP_RESP_PROTOCOL);   /* no end, too long */
    CHECK(check("$2\r\nabXY", &r) == SP_RESP_PROTOCOL);
    CHECK(why_is(&r, "a string not followed by CR LF"));
    CHECK(check("$-2\r\n", &r) == SP_RESP_PROTOCOL);
    CHECK(why_is(&r, "a negative length"));
    CHECK(check("*-2\r\n", &r) == SP_RESP_PROTOCOL);
    CHECK(check("$x\r\n", &r) == SP_RESP_PROTOCOL);
    CHECK(why_is(&r, "a length that is not one"));
    CHECK(check("~1\r\n", &r) == SP_RESP_PROTOCOL);
    CHECK(why_is(&r, "a reply type byte '~' (0x7e)"));
    CHECK(check("*1\r\n\x01", &r) == SP_RESP_PROTOCOL);
    CHECK(why_is(&r, "a reply type byte '?' (0x01)"));
}

int main(void)
{
    whole_replies();
    incomplete();
    bounds();
    arrival_independent();
    not_resp2();
    return ctest_report("test_resp");
}
