#include "sp_buf.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

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
    p = realloc(b->data, cap);
    if (p == NULL)
        return -1;
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
    b->len = 0;
    if (b->cap > keep_max)
        sp_buf_free(b);
}

void sp_buf_free(sp_buf *b)
{
    free(b->data);
    b->data = NULL;
    b->len = b->cap = 0;
}
