#include "sp_headers.h"

#include <string.h>

static int is_status_line(const char *p, const char *eol)
{
    return eol - p >= 5 && memcmp(p, "HTTP/", 5) == 0;
}

int sp_headers_next(const char **pp, const char *end, sp_header *h)
{
    const char *p = *pp;

    while (p < end) {
        const char *eol = memchr(p, '\n', (size_t)(end - p));
        const char *next, *colon, *v, *ve;

        if (eol == NULL)
            eol = end;
        next = eol < end ? eol + 1 : end;
        colon = memchr(p, ':', (size_t)(eol - p));
        if (colon == NULL || colon == p || is_status_line(p, eol)) {
            p = next;
            continue;
        }
        v = colon + 1;
        ve = eol;
        while (v < ve && (*v == ' ' || *v == '\t'))
            v++;
        while (ve > v && (ve[-1] == '\r' || ve[-1] == ' ' || ve[-1] == '\t'))
            ve--;
        h->name = p;
        h->name_len = (size_t)(colon - p);
        h->value = v;
        h->value_len = (size_t)(ve - v);
        *pp = next;
        return 1;
    }
    *pp = p;
    return 0;
}

size_t sp_headers_count_lines(const char *p, const char *end)
{
    size_t lines = 0;

    while (p < end) {
        const char *eol = memchr(p, '\n', (size_t)(end - p));
        lines++;
        if (eol == NULL)
            break;
        p = eol + 1;
    }
    return lines;
}
