/* sp_scrub: the secret found in every form a server may echo it in, the
 * text around it kept, nothing found where it is not (issue 10, item 8). */
#include <stdio.h>
#include <string.h>

#include "ctest.h"
#include "sp_buf.h"
#include "sp_encode.h"
#include "sp_scrub.h"

/* '/', '+', ' ', '&', '"' and '~' make every form differ from the secret. */
static const char SECRET[] = "Sec/ret+with space&\"quote\"~0123456789";

/* sp_scrub of text with SECRET (and NULL, skipped); out as a C string. */
static int scrub(const char *text, size_t n, char *out, size_t cap)
{
    const char *secrets[2] = { NULL, SECRET };
    sp_buf b = SP_BUF_INIT;
    int found = sp_scrub(&b, text, n, secrets, 2);
    out[0] = '\0';
    if (found > 0 && b.len < cap) {
        memcpy(out, b.data, b.len);
        out[b.len] = '\0';
    }
    sp_buf_free(&b);
    return found;
}

/* "<" + form + ">" scrubs to "<(hidden)>". */
static void check_form(const char *form)
{
    char text[1024], out[1024];
    int n = snprintf(text, sizeof text, "<%s>", form);
    CHECK(scrub(text, (size_t)n, out, sizeof out) == 1);
    CHECK(strcmp(out, "<" SP_SCRUB_MARK ">") == 0);
}

static void append_base64_of(sp_buf *out, const char *prefix, const char *s, const char *suffix, int url)
{
    sp_buf raw = SP_BUF_INIT;
    size_t from = out->len, i;
    sp_buf_append(&raw, prefix, strlen(prefix));
    sp_buf_append(&raw, s, strlen(s));
    sp_buf_append(&raw, suffix, strlen(suffix));
    sp_base64_encode(out, (const unsigned char *)raw.data, raw.len);
    for (i = from; url && i < out->len; i++)
        out->data[i] = out->data[i] == '+' ? '-' : out->data[i] == '/' ? '_' : out->data[i];
    sp_buf_free(&raw);
}

static void test_forms(void)
{
    sp_buf b = SP_BUF_INIT;
    char form[512];
    size_t i;
    check_form(SECRET);
    sp_percent_encode(&b, SECRET, strlen(SECRET));
    sp_buf_putc(&b, '\0');
    check_form(b.data);                              /* percent-encoded */
    for (i = 0; b.data[i]; i++)                      /* lower-case hex */
        form[i] = (b.data[i] >= 'A' && b.data[i] <= 'F' && i > 0 &&
                   (b.data[i - 1] == '%' || (i > 1 && b.data[i - 2] == '%'))) ? (char)(b.data[i] + 32) : b.data[i];
    form[i] = '\0';
    check_form(form);
    check_form("Sec%2Fret%2Bwith+space%26%22quote%22~0123456789");   /* a form body's '+' */
    check_form("Sec%252Fret%252Bwith%2520space%2526%2522quote%2522~0123456789");   /* encoded twice */
    check_form("Sec/ret+with space&\\\"quote\\\"~0123456789");        /* JSON-escaped */
    check_form("Sec\\/ret+with space&\\\"quote\\\"~0123456789");       /* as PHP writes it */
    sp_buf_free(&b);
}

/* Inside a longer Base64 text, at each alignment, in both alphabets, of
 * the secret and of its percent-encoded form. */
static void test_base64(void)
{
    static const char *prefixes[] = { "", "a", "ab", "abc" };
    sp_buf pct = SP_BUF_INIT;
    int p, url, which;
    sp_percent_encode(&pct, SECRET, strlen(SECRET));
    sp_buf_putc(&pct, '\0');
    for (which = 0; which < 2; which++) {
        for (p = 0; p < 4; p++) {
            for (url = 0; url < 2; url++) {
                sp_buf text = SP_BUF_INIT;
                char out[1024];
                append_base64_of(&text, prefixes[p], which ? pct.data : SECRET, "trailing bytes", url);
                CHECK(scrub(text.data, text.len, out, sizeof out) == 1);
                CHECK(strstr(out, SP_SCRUB_MARK) != NULL);
                /* at most the characters shared with the text around it stay */
                CHECK(strlen(out) < text.len);
                sp_buf_free(&text);
            }
        }
    }
    sp_buf_free(&pct);
}

static void test_text_around(void)
{
    char text[256], out[256];
    int n = snprintf(text, sizeof text, "a %s b %s c", SECRET, SECRET);
    CHECK(scrub(text, (size_t)n, out, sizeof out) == 2);
    CHECK(strcmp(out, "a " SP_SCRUB_MARK " b " SP_SCRUB_MARK " c") == 0);
    n = snprintf(text, sizeof text, "%s%s", SECRET, SECRET);   /* back to back: one run */
    CHECK(scrub(text, (size_t)n, out, sizeof out) == 1);
    CHECK(strcmp(out, SP_SCRUB_MARK) == 0);
    /* nothing found: 0, out untouched (9 bytes of the secret are no part) */
    CHECK(scrub("Sec/ret+w and more", 18, out, sizeof out) == 0);
    CHECK(scrub("", 0, out, sizeof out) == 0);
}

/* True when no SP_SCRUB_PART bytes of `secret` stand in `text`. */
static int no_part_of(const char *text, const char *secret)
{
    size_t w;
    for (w = 0; w + SP_SCRUB_PART <= strlen(secret); w++) {
        char part[SP_SCRUB_PART + 1];
        memcpy(part, secret + w, SP_SCRUB_PART);
        part[SP_SCRUB_PART] = '\0';
        if (strstr(text, part) != NULL)
            return 0;
    }
    return 1;
}

/* An echo cut short (found by an audit: "client_secret=Sup3r-Secret-Val..."
 * kept 16 bytes of the secret): every part of SP_SCRUB_PART bytes or more
 * of the secret as is, or percent-encoded, is hidden, at any offset. */
static void test_parts(void)
{
    sp_buf pct = SP_BUF_INIT;
    char text[512], out[512];
    size_t cut;
    int n;
    sp_percent_encode(&pct, SECRET, strlen(SECRET));
    sp_buf_putc(&pct, '\0');
    for (cut = SP_SCRUB_PART; cut < strlen(SECRET); cut++) {
        n = snprintf(text, sizeof text, "bad client_secret=%.*s...", (int)cut, SECRET);
        CHECK(scrub(text, (size_t)n, out, sizeof out) == 1);
        CHECK(strncmp(out, "bad client_secret=" SP_SCRUB_MARK, strlen("bad client_secret=" SP_SCRUB_MARK)) == 0);
        CHECK(no_part_of(out, SECRET));
        /* a part from the middle, too */
        n = snprintf(text, sizeof text, "<%.*s>", (int)SP_SCRUB_PART, SECRET + strlen(SECRET) - cut);
        CHECK(scrub(text, (size_t)n, out, sizeof out) == 1);
        CHECK(strcmp(out, "<" SP_SCRUB_MARK ">") == 0);
    }
    for (cut = SP_SCRUB_PART; cut < strlen(pct.data); cut++) {
        n = snprintf(text, sizeof text, "client_secret=%.*s", (int)cut, pct.data);
        CHECK(scrub(text, (size_t)n, out, sizeof out) == 1);
        CHECK(no_part_of(out, pct.data));
    }
    sp_buf_free(&pct);
}

static void test_short_secrets(void)
{
    const char *secrets[1] = { "k" };   /* shorter than SP_SCRUB_MIN: would hit words */
    sp_buf b = SP_BUF_INIT;
    CHECK(sp_scrub(&b, "a key, kept", 11, secrets, 1) == 0);
    CHECK(b.len == 0);
    sp_buf_free(&b);
}

/* Found by the encode fuzz target: a secret starting with ')' formed again
 * out of the mark's ')' and the text after it. Such a secret gets a mark
 * whose brackets it does not hold. */
static void test_mark_boundary(void)
{
    const char *secrets[1] = { ")xxxxxxxx" };
    const char *text = "a)xxxxxxxxxxxxxxxx";
    sp_buf b = SP_BUF_INIT;
    CHECK(sp_scrub(&b, text, strlen(text), secrets, 1) == 1);
    CHECK(b.len == strlen("a[hidden]xxxxxxxx") && memcmp(b.data, "a[hidden]xxxxxxxx", b.len) == 0);
    sp_buf_free(&b);
    {
        /* every bracket taken: scrubbed again until none is left */
        const char *all[1] = { ")([]<>{}|" };
        const char *t = "x)([]<>{}|)([]<>{}|y";
        int found = sp_scrub(&b, t, strlen(t), all, 1);
        CHECK(found >= 1);
        sp_buf_putc(&b, '\0');
        CHECK(b.len > 1 && strstr(b.data, ")([]<>{}|") == NULL);
        sp_buf_free(&b);
    }
}

/* A buffer marked wiping zeroes what it lets go of. */
static void test_wiping_buffer(void)
{
    sp_buf b = SP_BUF_INIT;
    size_t i;
    int zero = 1;
    sp_buf_wiping(&b);
    sp_buf_append(&b, SECRET, strlen(SECRET));
    sp_buf_clear(&b, 1 << 20);   /* memory kept: readable */
    for (i = 0; i < strlen(SECRET); i++)
        zero &= b.data[i] == 0;
    CHECK(zero);
    for (i = 0; i < 1000; i++)   /* grows by moving: the old blocks are zeroed first */
        sp_buf_append(&b, SECRET, strlen(SECRET));
    CHECK(b.len == 1000 * strlen(SECRET) && memcmp(b.data + b.len - 5, "56789", 5) == 0);
    sp_buf_free(&b);
    CHECK(b.data == NULL && b.len == 0);
}

int main(void)
{
    test_forms();
    test_base64();
    test_text_around();
    test_parts();
    test_short_secrets();
    test_mark_boundary();
    test_wiping_buffer();
    return ctest_report("test_scrub");
}
