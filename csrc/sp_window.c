#include "sp_window.h"

int sp_window_init(sp_window *w, double period_s, double limit)
{
    if (!(period_s >= 60) || period_s > 31 * 86400.0 || !(limit >= 1) || limit > 2147483648.0)
        return -1;
    w->bucket_ns = (uint64_t)(period_s * 1e9) / SP_WINDOW_BUCKETS;
    w->limit = (uint32_t)limit;
    return 0;
}

/* The count of bucket number `b` (0 when its slot holds another bucket). */
static uint32_t count_of(const sp_window_counts *c, uint32_t b)
{
    uint64_t v = c->slot[b % SP_WINDOW_SLOTS];
    return (uint32_t)(v >> 32) == b ? (uint32_t)v : 0;
}

/* Bucket numbers are 32 bits of now / bucket_ns: on the monotonic clock
 * that lasts 136 years at one-second buckets. */
static uint32_t bucket_of(const sp_window *w, uint64_t now_ns)
{
    return (uint32_t)(now_ns / w->bucket_ns);
}

uint64_t sp_window_used(const sp_window_counts *c, const sp_window *w, uint64_t now_ns)
{
    uint32_t cur = bucket_of(w, now_ns), i;
    uint64_t sum = 0;

    for (i = 0; i < SP_WINDOW_SLOTS; i++)
        sum += count_of(c, cur - i);
    return sum;
}

uint64_t sp_window_wait(const sp_window_counts *c, const sp_window *w, uint64_t now_ns)
{
    uint32_t cur = bucket_of(w, now_ns), oldest = cur - SP_WINDOW_BUCKETS, i;
    uint64_t sum = sp_window_used(c, w, now_ns);

    if (sum < w->limit)
        return 0;
    /* Drop buckets from the oldest on: bucket oldest + i is gone at the
     * start of bucket cur + i + 1; once the rest hold fewer than limit, a
     * request may leave. At the latest that is when every bucket counted
     * now is gone (i = SP_WINDOW_BUCKETS, the current one). */
    for (i = 0; i < SP_WINDOW_BUCKETS; i++) {
        sum -= count_of(c, oldest + i);
        if (sum < w->limit)
            break;
    }
    {
        uint64_t at = ((uint64_t)cur + i + 1) * w->bucket_ns;
        return at > now_ns ? at - now_ns : 0;
    }
}

void sp_window_add(sp_window_counts *c, const sp_window *w, uint64_t now_ns)
{
    uint32_t b = bucket_of(w, now_ns);
    uint64_t *slot = &c->slot[b % SP_WINDOW_SLOTS];
    uint32_t n = count_of(c, b);

    *slot = ((uint64_t)b << 32) | (uint64_t)(n + 1);
}
