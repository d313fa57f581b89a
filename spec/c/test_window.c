/* Quota windows: never more than `limit` in any span of one period,
 * wherever it starts; the wait until room; counts kept by bucket. */
#include <stdint.h>
#include <stdlib.h>

#include "ctest.h"
#include "sp_window.h"

#define MS 1000000ull
#define S  1000000000ull

/* Largest number of times within any half-open span [t, t + period). */
static int max_in_span(const uint64_t *t, int n, uint64_t period)
{
    int best = 0, lo = 0, hi;
    for (hi = 0; hi < n; hi++) {
        while (t[hi] - t[lo] >= period)
            lo++;
        if (hi - lo + 1 > best)
            best = hi - lo + 1;
    }
    return best;
}

static void test_bad_arguments(void)
{
    sp_window w;
    CHECK(sp_window_init(&w, 59, 10) == -1);
    CHECK(sp_window_init(&w, 60, 0) == -1);
    CHECK(sp_window_init(&w, 60, 3e9) == -1);
    CHECK(sp_window_init(&w, 0.0 / 0.0, 10) == -1);
    CHECK(sp_window_init(&w, 60, 10) == 0);
    CHECK_EQ_U64(w.bucket_ns, S);
    CHECK(sp_window_init(&w, 86400, 500000) == 0);
    CHECK_EQ_U64(w.bucket_ns, 1440 * S);
}

/* A caller that sends whenever the window lets it, as fast as it can (one
 * every 7 ms): the limit holds in every span, and almost the whole limit
 * is used (one bucket of the period at most is lost). */
static void test_flat_out(void)
{
    sp_window w;
    sp_window_counts c = { { 0 } };
    static uint64_t sent[2000];
    uint64_t now = 1000 * S + 123 * MS;
    int n = 0;

    sp_window_init(&w, 60, 100);
    while (n < 2000) {
        uint64_t wait = sp_window_wait(&c, &w, now);
        if (wait == 0) {
            sp_window_add(&c, &w, now);
            sent[n++] = now;
            now += 7 * MS;
        } else {
            now += wait;
        }
    }
    CHECK(max_in_span(sent, n, 60 * S) == 100);
    /* 2000 requests: 20 periods' worth, taking at most 20 * 61 s. */
    CHECK(sent[n - 1] - sent[0] <= 20 * 61 * S);
    CHECK(sent[n - 1] - sent[0] >= 19 * 60 * S);
}

static void test_wait_and_used(void)
{
    sp_window w;
    sp_window_counts c = { { 0 } };
    uint64_t t0 = 500 * S + 400 * MS;
    int i;

    sp_window_init(&w, 60, 3);
    CHECK_EQ_U64(sp_window_wait(&c, &w, t0), 0);
    sp_window_add(&c, &w, t0);                    /* bucket 500 */
    sp_window_add(&c, &w, t0 + 10 * S);           /* bucket 510 */
    CHECK_EQ_U64(sp_window_used(&c, &w, t0 + 10 * S), 2);
    sp_window_add(&c, &w, t0 + 20 * S);           /* bucket 520 */
    /* Full: room again when bucket 500 is out of the 61 counted, at the
     * start of bucket 561. */
    CHECK_EQ_U64(sp_window_wait(&c, &w, t0 + 20 * S), 561 * S - (t0 + 20 * S));
    CHECK_EQ_U64(sp_window_wait(&c, &w, 561 * S - 1), 1);
    CHECK_EQ_U64(sp_window_wait(&c, &w, 561 * S), 0);
    CHECK_EQ_U64(sp_window_used(&c, &w, 561 * S), 2);
    /* Long idle: every bucket aged out, even ones whose slot is reused. */
    CHECK_EQ_U64(sp_window_used(&c, &w, 10000 * S), 0);
    for (i = 0; i < 3; i++)
        sp_window_add(&c, &w, 10000 * S);
    CHECK_EQ_U64(sp_window_used(&c, &w, 10000 * S), 3);
    CHECK_EQ_U64(sp_window_wait(&c, &w, 10000 * S), 61 * S);
}

int main(void)
{
    test_bad_arguments();
    test_flat_out();
    test_wait_and_used();
    return ctest_report("test_window");
}
