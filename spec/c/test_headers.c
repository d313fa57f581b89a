/* The answer-header reader (sp_headers.c): fields, skipped lines, and no
 * byte read outside the block. Each block is copied into a heap buffer of
 * exactly its size, so ASan (make ctest builds with it) reports any read
 * past its end: the bug of issue 10 item 11 ("HTTP/1.1 200 OK\nx:\n\n" read
 * 4 bytes past the buffer when it was exactly that long). */
#include <stdlib.h>
#include <string.h>

#include "ctest.h"
#include "sp_headers.h"

/* The fields of `text` as "name=value;" pairs. */
static void fields(const char *text, char *out, size_t outlen)
{
    size_t n = strlen(text), used = 0;
    char *block = malloc(n ? n : 1);
    const char *p, *end;
    sp_header h;

    memcpy(block, text, n);
    p = block;
    end = block + n;
    out[0] = '\0';
    while (sp_headers_next(&p, end, &h)) {
        int w = snprintf(out + used, outlen - used, "%.*s=%.*s;", (int)h.name_len, h.name,
                         (int)h.value_len, h.value);
        if (w > 0)
            used += (size_t)w;
        if (used >= outlen)
            break;
    }
    CHECK(p == end);
    free(block);
}

static int fields_are(const char *text, const char *want)
{
    char got[512];
    fields(text, got, sizeof got);
    if (strcmp(got, want) != 0) {
        fprintf(stderr, "fields of %s: got \"%s\", want \"%s\"\n", text, got, want);
        return 0;
    }
    return 1;
}

int main(void)
{
    CHECK(fields_are("HTTP/1.1 200 OK\nx:\n\n", "x=;"));
    CHECK(fields_are("HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nX-A:  1 \t\r\n\r\n",
                     "Content-Type=application/json;X-A=1;"));
    CHECK(fields_are("x:", "x=;"));
    CHECK(fields_are("a:b", "a=b;"));
    CHECK(fields_are("HTTP", ""));
    CHECK(fields_are("HTTP/", ""));
    CHECK(fields_are("\n", ""));
    CHECK(fields_are(":", ""));
    CHECK(fields_are(": no name\nno colon\nk: v", "k=v;"));
    CHECK(fields_are("HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nk: v\r\n", "k=v;"));
    CHECK(fields_are("k: a:b\r", "k=a:b;"));
    CHECK(fields_are("", ""));
    {
        const char *b = "HTTP/1.1 200 OK\r\na: 1\r\nb: 2\r\n\r\n";
        CHECK_EQ_U64(sp_headers_count_lines(b, b + strlen(b)), 4);
        CHECK_EQ_U64(sp_headers_count_lines(b, b + 5), 1);
        CHECK_EQ_U64(sp_headers_count_lines(b, b), 0);
    }
    return ctest_report("test_headers");
}
