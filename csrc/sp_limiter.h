/* Rate limiter: GCRA (generic cell rate algorithm). Lua-free.
 *
 * The whole state of one budget is a single 64-bit "theoretical arrival time"
 * (TAT) on the monotonic clock, updated with compare-and-swap. That is what
 * lets the same code run on a field of a Lua userdata, on a word in a
 * memory-mapped file shared by several processes, or on a value that a Redis
 * script updates: only where the word lives changes.
 *
 * A slot is taken when the request leaves (sp_gcra_take), never reserved
 * ahead: a caller that is late (a game loop that polls once a frame, a busy
 * worker) cannot meet an on-time caller whose slot was computed from its
 * own. A caller that can only ever leave late (a loop that wakes at its
 * next poll) may pass a lateness L: it may then leave up to L before the
 * budget's next theoretical time (TAT), so being that late does not move
 * the schedule: the next slot still comes one interval after the one it
 * was due at.
 *
 * SendPulse counts requests per account in one-second windows. With rate r
 * and interval T = 1/r + guard, the N-th request after any other (N =
 * ceil(r)) leaves at least N * T - L later. With L below N * T - 1 s
 * (sendpulse.account.rate keeps a margin for the network's jitter besides) no
 * one-second window ever holds more than N + burst - 1. */
#ifndef SP_LIMITER_H
#define SP_LIMITER_H

#include <stdint.h>

typedef struct sp_gcra {
    uint64_t interval_ns;   /* T: spacing of requests at the sustained rate */
    uint64_t tolerance_ns;  /* (burst - 1) * T: how far ahead one may run  */
    uint32_t burst;
} sp_gcra;

/* rate: requests per second (> 0); burst: requests allowed at once (>= 1);
 * guard_ns: added to every interval. Returns 0, or -1 on a bad argument. */
int sp_gcra_init(sp_gcra *g, double rate, double burst, uint64_t guard_ns);

/* Makes the interval 1/rate + guard_ns if that is longer than it is: a
 * client that needs a wider guard joins a budget others already use. */
void sp_gcra_widen(sp_gcra *g, double rate, uint64_t guard_ns);

/* Takes a slot on the budget *tat for a request leaving at now_ns, whose
 * caller may be up to lateness_ns late (see above; below one interval):
 * returns 0, or -1 when none is free yet, with *wait_ns = how long until
 * one is (nothing taken). *tat may be shared between threads or processes:
 * it is only accessed atomically. A *tat of 0 means "idle". */
int sp_gcra_take(uint64_t *tat, const sp_gcra *g, uint64_t now_ns, uint64_t lateness_ns,
                 uint64_t *wait_ns);

/* No request goes before until_ns (the TAT moves to until_ns plus the
 * tolerance, unless it is later already). For a hand-over between budgets
 * (a shared budget that failed, whose slots are still being used, gives
 * way to a local one). */
void sp_gcra_defer(uint64_t *tat, const sp_gcra *g, uint64_t until_ns);

/* Moves the whole schedule on by add_ns: a request left that much later
 * than its slot (its connection had to be set up first), so every slot
 * after it, taken or not, counts from its real departure. */
void sp_gcra_push(uint64_t *tat, uint64_t add_ns);

/* How long a request at now_ns would have to wait; takes nothing. */
uint64_t sp_gcra_peek(const uint64_t *tat, const sp_gcra *g, uint64_t now_ns);

/* How many requests could leave at now_ns, one after another (0 to burst). */
uint32_t sp_gcra_left(const uint64_t *tat, const sp_gcra *g, uint64_t now_ns);

#endif
