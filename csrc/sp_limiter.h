/* Rate limiter: GCRA (generic cell rate algorithm). Lua-free.
 *
 * The whole state of one budget is a single 64-bit "theoretical arrival time"
 * (TAT) on the monotonic clock, updated with compare-and-swap. That is what
 * lets the same code run on a field of a Lua userdata, on a word in a
 * memory-mapped file shared by several processes, or on a value that a Redis
 * script updates: only where the word lives changes.
 *
 * SendPulse counts requests per account in one-second windows. GCRA with
 * rate r and burst b admits at most b + r - 1 requests in any one-second
 * window, so the default budget (10/s, burst 1) never puts 11 requests in a
 * window, and a small guard added to the interval absorbs network jitter
 * between our clock and the server's. */
#ifndef SP_LIMITER_H
#define SP_LIMITER_H

#include <stdint.h>

typedef struct sp_gcra {
    uint64_t interval_ns;   /* T: spacing of requests at the sustained rate  */
    uint64_t tolerance_ns;  /* tau = (burst - 1) * T: how far ahead one may run */
} sp_gcra;

#define SP_GCRA_NO_LIMIT UINT64_MAX

/* rate: requests per second (> 0); burst: requests allowed at once (>= 1);
 * guard_ns: added to every interval. Returns 0, or -1 on a bad argument. */
int sp_gcra_init(sp_gcra *g, double rate, double burst, uint64_t guard_ns);

/* Reserves one request slot on the budget *tat at time now_ns.
 * On success returns 0 and stores in *wait_ns how long the caller must wait
 * before sending (0: send now). If the wait would exceed max_wait_ns, nothing
 * is reserved, *wait_ns holds the wait that would have been needed, and -1 is
 * returned. *tat may be shared between threads or processes: it is only
 * accessed atomically. A *tat of 0 means "idle". */
int sp_gcra_reserve(uint64_t *tat, const sp_gcra *g, uint64_t now_ns,
                    uint64_t max_wait_ns, uint64_t *wait_ns);

/* Moves the budget's TAT to at least until_ns: no request goes before it.
 * For a hand-over between budgets (a shared budget that failed, whose slots
 * are still being used, gives way to a local one). */
void sp_gcra_defer(uint64_t *tat, uint64_t until_ns);

/* How long a request arriving at now_ns would have to wait; reserves nothing. */
uint64_t sp_gcra_peek(const uint64_t *tat, const sp_gcra *g, uint64_t now_ns);

#endif
