#include "sp_limiter.h"

#include <math.h>

int sp_gcra_init(sp_gcra *g, double rate, double burst, uint64_t guard_ns)
{
    double interval;

    if (!(rate > 0) || !(burst >= 1) || rate > 1e9 || burst > 1e6)
        return -1;
    interval = ceil(1e9 / rate) + (double)guard_ns;
    g->interval_ns = (uint64_t)interval;
    g->tolerance_ns = (uint64_t)((floor(burst) - 1) * interval);
    g->burst = (uint32_t)floor(burst);
    return 0;
}

void sp_gcra_widen(sp_gcra *g, double rate, uint64_t guard_ns)
{
    uint64_t interval = (uint64_t)(ceil(1e9 / rate) + (double)guard_ns);

    if (interval > g->interval_ns) {
        g->interval_ns = interval;
        g->tolerance_ns = (uint64_t)(g->burst - 1) * interval;
    }
}

/* The earliest time a request may go when the budget's TAT is `tat`. */
static uint64_t allowed_at(uint64_t tat, uint64_t tolerance)
{
    return tat > tolerance ? tat - tolerance : 0;
}

int sp_gcra_take(uint64_t *tat, const sp_gcra *g, uint64_t now_ns, uint64_t lateness_ns,
                 uint64_t *wait_ns)
{
    uint64_t old = __atomic_load_n(tat, __ATOMIC_ACQUIRE);
    uint64_t tolerance = g->tolerance_ns
        + (lateness_ns < g->interval_ns ? lateness_ns : g->interval_ns - 1);

    for (;;) {
        uint64_t base = old > now_ns ? old : now_ns;
        uint64_t at = allowed_at(base, tolerance);

        if (at > now_ns) {
            *wait_ns = at - now_ns;
            return -1;
        }
        *wait_ns = 0;
        if (__atomic_compare_exchange_n(tat, &old, base + g->interval_ns, 0,
                                        __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE))
            return 0;
        /* Another thread or process moved the TAT: `old` was reloaded. */
    }
}

void sp_gcra_defer(uint64_t *tat, const sp_gcra *g, uint64_t until_ns)
{
    uint64_t old = __atomic_load_n(tat, __ATOMIC_ACQUIRE);

    until_ns += g->tolerance_ns;
    while (old < until_ns
           && !__atomic_compare_exchange_n(tat, &old, until_ns, 0,
                                           __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE))
        ;   /* `old` was reloaded: another caller moved it */
}

void sp_gcra_push(uint64_t *tat, uint64_t add_ns)
{
    __atomic_add_fetch(tat, add_ns, __ATOMIC_ACQ_REL);
}

uint64_t sp_gcra_peek(const uint64_t *tat, const sp_gcra *g, uint64_t now_ns)
{
    uint64_t cur = __atomic_load_n(tat, __ATOMIC_ACQUIRE);
    uint64_t at = allowed_at(cur > now_ns ? cur : now_ns, g->tolerance_ns);
    return at > now_ns ? at - now_ns : 0;
}

uint32_t sp_gcra_left(const uint64_t *tat, const sp_gcra *g, uint64_t now_ns)
{
    uint64_t cur = __atomic_load_n(tat, __ATOMIC_ACQUIRE);
    uint64_t base = cur > now_ns ? cur : now_ns, room, n;

    /* Room ahead of the schedule: now + tolerance - TAT; each request
     * uses one interval of it, the first none. */
    if (now_ns + g->tolerance_ns < base)
        return 0;
    room = now_ns + g->tolerance_ns - base;
    n = room / g->interval_ns + 1;
    return n < g->burst ? (uint32_t)n : g->burst;
}
