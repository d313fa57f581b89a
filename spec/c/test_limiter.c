/* GCRA: spacing, bursts, the one-second-window guarantee for callers that
 * are late, and the atomic update under threads (the property shared memory
 * relies on). */
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>

#include "ctest.h"
#include "sp_limiter.h"

#define MS 1000000ull
#define S  1000000000ull

/* Largest number of send times within any half-open window [t, t + 1 s). */
static int max_in_window(const uint64_t *t, int n)
{
    int best = 0, lo = 0, hi;
    for (hi = 0; hi < n; hi++) {
        while (t[hi] - t[lo] >= S)
            lo++;
        if (hi - lo + 1 > best)
            best = hi - lo + 1;
    }
    return best;
}

/* A caller that asks when told, but wakes up to `late_max` ns late each
 * time (a loop polling once a frame), passing `lateness` to take: n
 * departures into sent[]. */
static void late_caller(uint64_t *tat, const sp_gcra *g, uint64_t lateness, uint64_t now,
                        uint64_t late_max, unsigned seed, uint64_t *sent, int n)
{
    int i = 0;
    srand(seed);
    while (i < n) {
        uint64_t wait;
        if (sp_gcra_take(tat, g, now, lateness, &wait) == 0) {
            sent[i++] = now;
            wait = 0;
        }
        now += wait + (late_max ? (uint64_t)rand() % late_max : 0);
    }
}

static void test_default_budget_spacing(void)
{
    sp_gcra g;
    uint64_t tat = 0, sent[200];

    CHECK(sp_gcra_init(&g, 10, 1, 800000) == 0);
    CHECK_EQ_U64(g.interval_ns, 100 * MS + 800000);
    CHECK_EQ_U64(g.tolerance_ns, 0);
    /* A caller that always comes as early as allowed. */
    late_caller(&tat, &g, 0, 5 * S, 0, 1, sent, 200);
    CHECK(max_in_window(sent, 200) == 10);
    /* 199 intervals: sustained rate just under 10/s. */
    CHECK(sent[199] - sent[0] == 199 * g.interval_ns);
}

/* Late by up to the lateness: the schedule does not move (the rate stays
 * 1 / interval); late by more: the budget still never puts 11 in a second. */
static void test_late_callers(void)
{
    sp_gcra g;
    uint64_t tat = 0, sent[300];
    uint64_t lateness = 18 * MS;     /* what options gives a frame loop, guard 3 ms at 10/s */

    CHECK(sp_gcra_init(&g, 10, 1, 3 * MS) == 0);
    late_caller(&tat, &g, lateness, 5 * S, 16 * MS, 7, sent, 300);    /* 60 frames a second */
    CHECK(max_in_window(sent, 300) <= 10);
    /* No push: 299 intervals, give or take the last caller's lateness. */
    CHECK(sent[299] - sent[0] <= 299 * g.interval_ns + lateness);
    tat = 0;
    late_caller(&tat, &g, lateness, 5 * S, 200 * MS, 8, sent, 300);   /* hitches of up to 200 ms */
    CHECK(max_in_window(sent, 300) <= 10);
    /* Without the lateness allowance the same 60-frame caller is pushed
     * by every late wake-up: slower, never faster. */
    tat = 0;
    late_caller(&tat, &g, 0, 5 * S, 16 * MS, 7, sent, 300);
    CHECK(max_in_window(sent, 300) <= 10);
    CHECK(sent[299] - sent[0] > 299 * g.interval_ns + 299 * 4 * MS);
}

static void test_burst(void)
{
    sp_gcra g;
    uint64_t tat = 0, wait, sent[40];
    int i, immediate = 0;

    CHECK(sp_gcra_init(&g, 5, 5, 0) == 0);
    for (i = 0; i < 5; i++)
        if (sp_gcra_take(&tat, &g, S, 0, &wait) == 0)
            immediate++;
    CHECK(immediate == 5);
    CHECK(sp_gcra_take(&tat, &g, S, 0, &wait) == -1);
    CHECK_EQ_U64(wait, 200 * MS);
    tat = 0;
    late_caller(&tat, &g, 0, S, 0, 1, sent, 40);
    /* burst + rate - 1 in any one-second window. */
    CHECK(max_in_window(sent, 40) == 9);
}

static void test_idle_budget_refills(void)
{
    sp_gcra g;
    uint64_t tat = 0, wait;

    sp_gcra_init(&g, 10, 1, 0);
    CHECK(sp_gcra_take(&tat, &g, S, 0, &wait) == 0);
    CHECK(sp_gcra_take(&tat, &g, S, 0, &wait) == -1);
    CHECK_EQ_U64(wait, 100 * MS);
    CHECK_EQ_U64(tat, S + 100 * MS);           /* a refused take changes nothing */
    CHECK(sp_gcra_left(&tat, &g, S) == 0);
    /* After a long pause the next request goes at once. */
    CHECK(sp_gcra_take(&tat, &g, 60 * S, 0, &wait) == 0);
    CHECK_EQ_U64(sp_gcra_peek(&tat, &g, 60 * S), 100 * MS);
    CHECK(sp_gcra_left(&tat, &g, 61 * S) == 1);
}

static void test_lateness_lets_a_late_slot_be_caught_up(void)
{
    sp_gcra g;
    uint64_t tat = 0, wait;

    sp_gcra_init(&g, 10, 1, 0);
    CHECK(sp_gcra_take(&tat, &g, S, 20 * MS, &wait) == 0);
    /* Allowed 20 ms before the slot ... */
    CHECK(sp_gcra_take(&tat, &g, S + 79 * MS, 20 * MS, &wait) == -1);
    CHECK_EQ_U64(wait, MS);
    /* ... not for a caller that passes none ... */
    CHECK(sp_gcra_take(&tat, &g, S + 80 * MS, 0, &wait) == -1);
    CHECK(sp_gcra_take(&tat, &g, S + 80 * MS, 20 * MS, &wait) == 0);
    /* ... and the slot after it still comes one interval after this one's. */
    CHECK_EQ_U64(tat, S + 200 * MS);
    /* At most an interval: a lateness beyond it is cut to one. */
    CHECK(sp_gcra_take(&tat, &g, S + 100 * MS + 1, 500 * MS, &wait) == 0);
}

static void test_defer(void)
{
    sp_gcra g;
    uint64_t tat = 0, wait;

    sp_gcra_init(&g, 10, 2, 0);
    sp_gcra_defer(&tat, &g, 5 * S);
    CHECK(sp_gcra_take(&tat, &g, 5 * S - MS, 0, &wait) == -1);
    CHECK_EQ_U64(wait, MS);                    /* nothing before 5 s */
    CHECK(sp_gcra_take(&tat, &g, 5 * S, 0, &wait) == 0);
    sp_gcra_defer(&tat, &g, 2 * S);            /* never moves it back */
    CHECK_EQ_U64(tat, 5 * S + 100 * MS + 100 * MS);
}

static void test_push(void)
{
    sp_gcra g;
    uint64_t tat = 0, wait;

    sp_gcra_init(&g, 10, 1, 0);
    CHECK(sp_gcra_take(&tat, &g, S, 0, &wait) == 0);
    /* It left 250 ms late: the next slot is one interval after that. */
    sp_gcra_push(&tat, 250 * MS);
    CHECK(sp_gcra_take(&tat, &g, S + 300 * MS, 0, &wait) == -1);
    CHECK_EQ_U64(wait, 50 * MS);
}

static void test_bad_arguments(void)
{
    sp_gcra g;
    CHECK(sp_gcra_init(&g, 0, 1, 0) == -1);
    CHECK(sp_gcra_init(&g, -1, 1, 0) == -1);
    CHECK(sp_gcra_init(&g, 10, 0, 0) == -1);
    CHECK(sp_gcra_init(&g, 0.0 / 0.0, 1, 0) == -1);
}

/* Threads taking slots at the same instant must never share one: with a
 * burst of 500, exactly 500 takes succeed in all, whoever wins them. */
#define THREADS 4
#define PER_THREAD 2000
static sp_gcra shared_g;
static uint64_t shared_tat;
static int taken[THREADS];

static void *taker(void *arg)
{
    int *out = arg, i;
    uint64_t wait;
    for (i = 0; i < PER_THREAD; i++)
        if (sp_gcra_take(&shared_tat, &shared_g, S, 0, &wait) == 0)
            (*out)++;
    return NULL;
}

static void test_concurrent_takes(void)
{
    pthread_t th[THREADS];
    int i, total = 0;

    sp_gcra_init(&shared_g, 10, 500, 0);
    for (i = 0; i < THREADS; i++)
        pthread_create(&th[i], NULL, taker, &taken[i]);
    for (i = 0; i < THREADS; i++)
        pthread_join(th[i], NULL);
    for (i = 0; i < THREADS; i++)
        total += taken[i];
    CHECK(total == 500);
    CHECK_EQ_U64(shared_tat, S + 500 * shared_g.interval_ns);
}

int main(void)
{
    test_default_budget_spacing();
    test_late_callers();
    test_burst();
    test_idle_budget_refills();
    test_lateness_lets_a_late_slot_be_caught_up();
    test_defer();
    test_push();
    test_bad_arguments();
    test_concurrent_takes();
    return ctest_report("test_limiter");
}
