#include "sp_buf.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* Called through a volatile pointer: the compiler cannot prove it is
 * memset, so it cannot drop the call before free(). */
static void *(*const volatile wipe_memset)(void *, int, size_t) = memset;

void sp_wipe(void *p, size_t n)
{
    if (p != NULL && n > 0)
        wipe_memset(p, 0, n);
}

void sp_buf_wiping(sp_buf *b)
{
    b->wipe = 1;
}

int sp_buf_reserve(sp_buf *b, size_t extra)
{
    size_t need, cap;
    char *p;

    if (extra <= b->cap - b->len)
        return 0;
    if (extra > SIZE_MAX - b->len)
        return -1;
    need = b->len + extra;
    cap = b->cap ? b->cap : 256;
    while (cap < need)
        cap = cap > SIZE_MAX / 2 ? need : cap * 2;
    if (b->wipe) {
        /* Not realloc: a block it moves from is freed as it is. */
        p = malloc(cap);
        if (p == NULL)
            return -1;
        if (b->len > 0)
            memcpy(p, b->data, b->len);
        sp_wipe(b->data, b->len);
        free(b->data);
    } else {
        p = realloc(b->data, cap);
        if (p == NULL)
            return -1;
    }
    b->data = p;
    b->cap = cap;
    return 0;
}

int sp_buf_append(sp_buf *b, const void *p, size_t n)
{
    if (n == 0)
        return 0;
    if (sp_buf_reserve(b, n) != 0)
        return -1;
    memcpy(b->data + b->len, p, n);
    b->len += n;
    return 0;
}

int sp_buf_putc(sp_buf *b, char c)
{
    if (b->len == b->cap && sp_buf_reserve(b, 1) != 0)
        return -1;
    b->data[b->len++] = c;
    return 0;
}

void sp_buf_clear(sp_buf *b, size_t keep_max)
{
    if (b->wipe)
        sp_wipe(b->data, b->len);
    b->len = 0;
    if (b->cap > keep_max)
        sp_buf_free(b);
}

void sp_buf_free(sp_buf *b)
{
    if (b->wipe)
        sp_wipe(b->data, b->len);
    free(b->data);
    b->data = NULL;
    b->len = b->cap = 0;
}
