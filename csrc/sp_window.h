/* Quota windows: "at most `limit` requests in any `period`", the plan
 * quotas SendPulse keeps beside its 10 requests per second (per minute,
 * per day). Lua-free.
 *
 * A period is counted in SP_WINDOW_BUCKETS buckets (a minute in 60 buckets
 * of one second, a day in 60 of 24 minutes). Any span of one period
 * touches at most SP_WINDOW_BUCKETS + 1 consecutive buckets, so a request
 * is let through only while those buckets, the current one included, hold
 * fewer than `limit`: no span of one period, wherever it starts, ever holds
 * more. The price is at most one bucket of the period (1/60) left unused.
 *
 * Requests are counted when they leave (the caller's "now"), never ahead,
 * so no bucket lies in the future. Each slot of the ring is one 64-bit word,
 * bucket number (high 32 bits) and count (low 32 bits): a slot whose bucket
 * number is not the one asked for is empty. These functions do not lock:
 * callers that share the counts between processes hold a lock around
 * sp_window_wait and sp_window_add (see sp_shm.h). */
#ifndef SP_WINDOW_H
#define SP_WINDOW_H

#include <stdint.h>

#define SP_WINDOW_BUCKETS 60
#define SP_WINDOW_SLOTS (SP_WINDOW_BUCKETS + 1)

typedef struct sp_window {
    uint64_t bucket_ns;   /* period / SP_WINDOW_BUCKETS */
    uint32_t limit;       /* requests allowed in any one period */
} sp_window;

typedef struct sp_window_counts {
    uint64_t slot[SP_WINDOW_SLOTS];
} sp_window_counts;

/* period_s: the period in seconds (60 to 31 days); limit: 1 to 2^31.
 * Returns 0, or -1 on a bad argument. */
int sp_window_init(sp_window *w, double period_s, double limit);

/* Requests counted in the buckets that a period ending at now_ns touches. */
uint64_t sp_window_used(const sp_window_counts *c, const sp_window *w, uint64_t now_ns);

/* 0 when a request may leave at now_ns; else how long until one may (the
 * oldest buckets must age out first). */
uint64_t sp_window_wait(const sp_window_counts *c, const sp_window *w, uint64_t now_ns);

/* Counts one request leaving at now_ns. */
void sp_window_add(sp_window_counts *c, const sp_window *w, uint64_t now_ns);

#endif
