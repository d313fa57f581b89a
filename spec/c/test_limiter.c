/* GCRA: spacing, bursts, the one-second-window guarantee, max_wait, and the
 * atomic update under threads (the property shared memory will rely on). */
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

static void test_default_budget_spacing(void)
{
    sp_gcra g;
    uint64_t tat = 0, wait, now = 5 * S, sent[200];
    int i;

    CHECK(sp_gcra_init(&g, 10, 1, 800000) == 0);
    CHECK_EQ_U64(g.interval_ns, 100 * MS + 800000);
    CHECK_EQ_U64(g.tolerance_ns, 0);
    /* Callers that always come as early as allowed. */
    for (i = 0; i < 200; i++) {
        CHECK(sp_gcra_reserve(&tat, &g, now, SP_GCRA_NO_LIMIT, &wait) == 0);
        sent[i] = now + wait;
        now += wait;
    }
    CHECK(max_in_window(sent, 200) == 10);
    /* 199 intervals: sustained rate just under 10/s. */
    CHECK(sent[199] - sent[0] == 199 * g.interval_ns);
}

static void test_burst(void)
{
    sp_gcra g;
    uint64_t tat = 0, wait, now = S, sent[40];
    int i, immediate = 0;

    CHECK(sp_gcra_init(&g, 5, 5, 0) == 0);
    for (i = 0; i < 40; i++) {
        CHECK(sp_gcra_reserve(&tat, &g, now, SP_GCRA_NO_LIMIT, &wait) == 0);
        if (wait == 0)
            immediate++;
        sent[i] = now + wait;
    }
    CHECK(immediate == 5);
    /* burst + rate - 1 in any one-second window. */
    CHECK(max_in_window(sent, 40) == 9);
}

static void test_idle_budget_refills(void)
{
    sp_gcra g;
    uint64_t tat = 0, wait;

    sp_gcra_init(&g, 10, 1, 0);
    sp_gcra_reserve(&tat, &g, S, SP_GCRA_NO_LIMIT, &wait);
    sp_gcra_reserve(&tat, &g, S, SP_GCRA_NO_LIMIT, &wait);
    CHECK_EQ_U64(wait, 100 * MS);
    /* After a long pause the next request goes at once. */
    sp_gcra_reserve(&tat, &g, 60 * S, SP_GCRA_NO_LIMIT, &wait);
    CHECK_EQ_U64(wait, 0);
    CHECK_EQ_U64(sp_gcra_peek(&tat, &g, 60 * S), 100 * MS);
}

static void test_max_wait_reserves_nothing(void)
{
    sp_gcra g;
    uint64_t tat = 0, wait, before;

    sp_gcra_init(&g, 10, 1, 0);
    sp_gcra_reserve(&tat, &g, S, SP_GCRA_NO_LIMIT, &wait);
    before = tat;
    CHECK(sp_gcra_reserve(&tat, &g, S, 50 * MS, &wait) == -1);
    CHECK_EQ_U64(wait, 100 * MS);
    CHECK_EQ_U64(tat, before);
    CHECK(sp_gcra_reserve(&tat, &g, S, 100 * MS, &wait) == 0);
}

static void test_defer(void)
{
    sp_gcra g;
    uint64_t tat = 0, wait;

    sp_gcra_init(&g, 10, 1, 0);
    sp_gcra_defer(&tat, 5 * S);
    CHECK_EQ_U64(tat, 5 * S);
    CHECK(sp_gcra_reserve(&tat, &g, 4 * S, SP_GCRA_NO_LIMIT, &wait) == 0);
    CHECK_EQ_U64(wait, S);                  /* nothing before 5 s */
    sp_gcra_defer(&tat, 2 * S);              /* never moves it back */
    CHECK_EQ_U64(tat, 5 * S + 100 * MS);
}

static void test_bad_arguments(void)
{
    sp_gcra g;
    CHECK(sp_gcra_init(&g, 0, 1, 0) == -1);
    CHECK(sp_gcra_init(&g, -1, 1, 0) == -1);
    CHECK(sp_gcra_init(&g, 10, 0, 0) == -1);
    CHECK(sp_gcra_init(&g, 0.0 / 0.0, 1, 0) == -1);
}

/* Threads reserving at the same instant must get distinct slots: no two
 * reservations may share a send time. */
#define THREADS 4
#define PER_THREAD 2000
static sp_gcra shared_g;
static uint64_t shared_tat;
static uint64_t slots[THREADS][PER_THREAD];

static void *reserver(void *arg)
{
    uint64_t *out = arg, wait;
    int i;
    for (i = 0; i < PER_THREAD; i++) {
        sp_gcra_reserve(&shared_tat, &shared_g, S, SP_GCRA_NO_LIMIT, &wait);
        out[i] = S + wait;
    }
    return NULL;
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

static void test_concurrent_reservations(void)
{
    pthread_t th[THREADS];
    uint64_t all[THREADS * PER_THREAD];
    int i, j, distinct = 1;

    sp_gcra_init(&shared_g, 10, 1, 0);
    for (i = 0; i < THREADS; i++)
        pthread_create(&th[i], NULL, reserver, slots[i]);
    for (i = 0; i < THREADS; i++)
        pthread_join(th[i], NULL);
    for (i = 0; i < THREADS; i++)
        for (j = 0; j < PER_THREAD; j++)
            all[i * PER_THREAD + j] = slots[i][j];
    qsort(all, THREADS * PER_THREAD, sizeof all[0], cmp_u64);
    for (i = 1; i < THREADS * PER_THREAD; i++)
        if (all[i] - all[i - 1] != shared_g.interval_ns)
            distinct = 0;
    CHECK(distinct);
    CHECK_EQ_U64(shared_tat, S + (uint64_t)THREADS * PER_THREAD * shared_g.interval_ns);
}

int main(void)
{
    test_default_budget_spacing();
    test_burst();
    test_idle_budget_refills();
    test_max_wait_reserves_nothing();
    test_defer();
    test_bad_arguments();
    test_concurrent_reservations();
    return ctest_report("test_limiter");
}
