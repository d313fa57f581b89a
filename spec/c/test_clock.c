/* The monotonic clock never goes back, and sleep waits at least as asked. */
#include "ctest.h"
#include "sp_clock.h"

int main(void)
{
    uint64_t a = sp_clock_monotonic_ns(), b;
    int i, monotone = 1;
    double s0, s1;

    for (i = 0; i < 100000; i++) {
        b = sp_clock_monotonic_ns();
        if (b < a)
            monotone = 0;
        a = b;
    }
    CHECK(monotone);
    s0 = sp_clock_monotonic();
    sp_clock_sleep(0.02);
    s1 = sp_clock_monotonic();
    CHECK(s1 - s0 >= 0.02);
    CHECK(s1 - s0 < 2.0);
    s0 = sp_clock_monotonic();
    sp_clock_sleep(0);      /* nothing to do */
    sp_clock_sleep(-1);     /* nor for a negative time */
    CHECK(sp_clock_monotonic() - s0 < 0.5);
    return ctest_report("test_clock");
}
