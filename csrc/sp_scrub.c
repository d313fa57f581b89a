/* Secrets found and replaced in echoed text: see sp_scrub.h. */
#include <stdlib.h>
#include <string.h>

#include "sp_scrub.h"
#include "sp_encode.h"

/* The forms of one secret: their bytes one after another in `bytes`, where
 * each starts and how long it is in `at`/`len`. */
#define MAX_FORMS 24

typedef struct forms {
    sp_buf bytes;
    size_t at[MAX_FORMS], len[MAX_FORMS];
    int    n;
} forms;

/* Adds bytes [from, bytes.len) as a form, unless it is too short or the
 * same as one already there (then they are dropped again). */
static void keep_form(forms *f, size_t from)
{
    size_t len = f->bytes.len - from;
    int i;
    if (len >= SP_SCRUB_MIN && f->n < MAX_FORMS) {
        for (i = 0; i < f->n; i++)
            if (f->len[i] == len && memcmp(f->bytes.data + f->at[i], f->bytes.data + from, len) == 0)
                break;
        if (i == f->n) {
            f->at[f->n] = from;
            f->len[f->n] = len;
            f->n++;
            return;
        }
    }
    sp_wipe(f->bytes.data + from, len);
    f->bytes.len = from;
}

static int add_raw(forms *f, const char *s, size_t n)
{
    size_t from = f->bytes.len;
    if (sp_buf_append(&f->bytes, s, n) != 0)
        return -1;
    keep_form(f, from);
    return 0;
}

/* s with each byte `c` written as `with` (for '/' -> "\/"). */
static int add_replaced(forms *f, const char *s, size_t n, char c, const char *with)
{
    size_t from = f->bytes.len, i;
    for (i = 0; i < n; i++) {
        int failed = s[i] == c ? sp_buf_append(&f->bytes, with, strlen(with))
                               : sp_buf_putc(&f->bytes, s[i]);
        if (failed)
            return -1;
    }
    keep_form(f, from);
    return 0;
}

/* The percent-encoded text pct (from sp_percent_encode: every '%' has two
 * upper-case hex digits after it) with its hex digits in lower case
 * (lower), or with "%20" written '+' as form bodies do (!lower). */
static int add_variant(forms *f, const char *pct, size_t n, int lower)
{
    size_t from = f->bytes.len, i;
    for (i = 0; i < n; i++) {
        int failed;
        if (pct[i] == '%' && i + 2 < n) {
            char esc[3];
            int d;
            esc[0] = '%';
            esc[1] = pct[i + 1];
            esc[2] = pct[i + 2];
            if (!lower && esc[1] == '2' && esc[2] == '0') {
                failed = sp_buf_putc(&f->bytes, '+');
            } else {
                for (d = 1; lower && d < 3; d++)
                    if (esc[d] >= 'A' && esc[d] <= 'F')
                        esc[d] = (char)(esc[d] - 'A' + 'a');
                failed = sp_buf_append(&f->bytes, esc, 3);
            }
            i += 2;
        } else {
            failed = sp_buf_putc(&f->bytes, pct[i]);
        }
        if (failed)
            return -1;
    }
    keep_form(f, from);
    return 0;
}

/* The characters of the Base64 of (k zero bytes + s) that depend on s
 * alone, in the standard alphabet or (url) base64url. */
static int add_base64(forms *f, const char *s, size_t n, size_t k, int url)
{
    sp_buf tmp = SP_BUF_INIT;
    size_t first = (8 * k + 5) / 6, end = 8 * (k + n) / 6, from = f->bytes.len, i;
    int failed;

    sp_buf_wiping(&tmp);
    failed = sp_buf_append(&tmp, "\0\0", k) || sp_buf_append(&tmp, s, n)
          || sp_base64_encode(&f->bytes, (const unsigned char *)tmp.data, tmp.len);
    sp_buf_free(&tmp);
    if (failed)
        return -1;
    /* keep characters [first, end) of what was just encoded */
    memmove(f->bytes.data + from, f->bytes.data + from + first, end - first);
    sp_wipe(f->bytes.data + from + (end - first), f->bytes.len - from - (end - first));
    f->bytes.len = from + (end - first);
    if (url) {
        for (i = from; i < f->bytes.len; i++) {
            if (f->bytes.data[i] == '+')
                f->bytes.data[i] = '-';
            else if (f->bytes.data[i] == '/')
                f->bytes.data[i] = '_';
        }
    }
    keep_form(f, from);
    return 0;
}

static int make_forms(forms *f, const char *s, size_t n)
{
    sp_buf pct = SP_BUF_INIT;   /* percent-encoded, kept aside to derive from */
    size_t from, k;
    int failed;

    sp_buf_wiping(&pct);
    failed = add_raw(f, s, n) || sp_percent_encode(&pct, s, n);
    if (!failed)
        failed = add_raw(f, pct.data, pct.len)
              || add_variant(f, pct.data, pct.len, 1)
              || (memchr(s, ' ', n) != NULL && add_variant(f, pct.data, pct.len, 0));
    if (!failed) {
        from = f->bytes.len;
        failed = sp_percent_encode(&f->bytes, pct.data, pct.len);
        if (!failed)
            keep_form(f, from);
    }
    /* The secret goes out percent-encoded in the token request's body: an
     * echo of that body in Base64 holds the Base64 of this form. */
    for (k = 0; !failed && pct.len != n && k < 3; k++)
        failed = add_base64(f, pct.data, pct.len, k, 0) || add_base64(f, pct.data, pct.len, k, 1);
    sp_buf_free(&pct);
    if (failed)
        return -1;
    {
        sp_buf js = SP_BUF_INIT;   /* JSON-escaped, and again with "\/" (PHP) */
        sp_buf_wiping(&js);
        failed = sp_json_escape(&js, s, n) || add_raw(f, js.data, js.len)
              || (memchr(js.data, '/', js.len) != NULL && add_replaced(f, js.data, js.len, '/', "\\/"));
        sp_buf_free(&js);
        if (failed)
            return -1;
    }
    for (k = 0; k < 3; k++)
        if (add_base64(f, s, n, k, 0) != 0 || add_base64(f, s, n, k, 1) != 0)
            return -1;
    return 0;
}

/* Marks every occurrence of needle in s. */
static void mark_all(unsigned char *mark, const char *s, size_t n, const char *needle, size_t len)
{
    size_t i;
    if (len == 0 || len > n)
        return;
    for (i = 0; i + len <= n; i++) {
        const char *p = memchr(s + i, needle[0], n - len + 1 - i);
        if (p == NULL)
            return;
        i = (size_t)(p - s);
        if (memcmp(p, needle, len) == 0)
            memset(mark + i, 1, len);
    }
}

/* The mark: "(hidden)", or the first of the others whose brackets appear
 * in no secret. A secret occurrence that overlapped a mark would have to
 * hold one of its brackets (its letters are fewer than SP_SCRUB_MIN), so
 * with such a mark one pass leaves no secret formed across a mark and the
 * text after it. NULL when every secret holds some bracket of each. */
static const char *pick_mark(const char *const *secrets, size_t count)
{
    static const char *const marks[] = { SP_SCRUB_MARK, "[hidden]", "<hidden>", "{hidden}", "|hidden|" };
    size_t m, i;
    for (m = 0; m < sizeof marks / sizeof marks[0]; m++) {
        const char *mk = marks[m];
        int clash = 0;
        for (i = 0; i < count && !clash; i++)
            clash = secrets[i] != NULL && strlen(secrets[i]) >= SP_SCRUB_MIN &&
                    (strchr(secrets[i], mk[0]) != NULL || strchr(secrets[i], mk[7]) != NULL);
        if (!clash)
            return mk;
    }
    return NULL;
}

/* One pass: marks every form of every secret in s, writes s with each
 * marked run as `mk` to out. Returns the number of runs, or -1. */
static int scrub_pass(sp_buf *out, const char *s, size_t n, const char *const *secrets, size_t count,
                      const char *mk)
{
    unsigned char *mark;
    size_t i, j, found = 0;
    size_t start = out->len;

    if (n == 0)
        return 0;
    mark = calloc(n, 1);
    if (mark == NULL)
        return -1;
    for (i = 0; i < count; i++) {
        forms f;
        int k;
        if (secrets[i] == NULL || strlen(secrets[i]) < SP_SCRUB_MIN)
            continue;
        memset(&f, 0, sizeof f);
        sp_buf_wiping(&f.bytes);
        if (make_forms(&f, secrets[i], strlen(secrets[i])) != 0) {
            sp_buf_free(&f.bytes);
            free(mark);
            return -1;
        }
        for (k = 0; k < f.n; k++)
            mark_all(mark, s, n, f.bytes.data + f.at[k], f.len[k]);
        /* Parts: the first two forms are the secret as is and
         * percent-encoded (make_forms adds them first). Marking every run of
         * SP_SCRUB_PART bytes of them marks every longer part too. */
        for (k = 0; k < f.n && k < 2; k++) {
            size_t w;
            for (w = 0; w + SP_SCRUB_PART <= f.len[k]; w++)
                mark_all(mark, s, n, f.bytes.data + f.at[k] + w, SP_SCRUB_PART);
        }
        sp_buf_free(&f.bytes);
    }
    for (j = 0; j < n; j++) {
        if (!mark[j])
            continue;
        found++;
        while (j + 1 < n && mark[j + 1])
            j++;
    }
    if (found > 0) {
        for (j = 0; j < n; j++) {
            int failed;
            if (mark[j]) {
                failed = sp_buf_append(out, mk, strlen(mk));
                while (j + 1 < n && mark[j + 1])
                    j++;
            } else {
                failed = sp_buf_putc(out, s[j]);
            }
            if (failed) {
                out->len = start;
                free(mark);
                return -1;
            }
        }
    }
    free(mark);
    return found > (size_t)0x7fffffff ? 0x7fffffff : (int)found;
}

/* Passes when every mark clashes with a secret: each pass consumes text
 * around a mark, so they end; a secret that is itself made of marks could
 * go on forever, hence the bound. */
#define MAX_PASSES 8

int sp_scrub(sp_buf *out, const char *s, size_t n, const char *const *secrets, size_t count)
{
    const char *mk = pick_mark(secrets, count);
    size_t start = out->len;
    sp_buf a = SP_BUF_INIT, b = SP_BUF_INIT;
    int found, total, pass;

    found = scrub_pass(out, s, n, secrets, count, mk != NULL ? mk : SP_SCRUB_MARK);
    if (found <= 0 || mk != NULL)
        return found;
    /* No mark is safe: scrub what came out again, until nothing is found. */
    total = found;
    if (sp_buf_append(&a, out->data + start, out->len - start) != 0)
        return -1;
    for (pass = 1; pass < MAX_PASSES; pass++) {
        b.len = 0;
        found = scrub_pass(&b, a.data, a.len, secrets, count, SP_SCRUB_MARK);
        if (found <= 0)
            break;
        total += found;
        a.len = 0;
        if (sp_buf_append(&a, b.data, b.len) != 0) {
            found = -1;
            break;
        }
    }
    if (found < 0) {
        sp_buf_free(&a);
        sp_buf_free(&b);
        out->len = start;
        return -1;
    }
    out->len = start;
    found = sp_buf_append(out, a.data, a.len);
    sp_buf_free(&a);
    sp_buf_free(&b);
    return found != 0 ? -1 : total;
}
