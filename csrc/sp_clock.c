#include "sp_clock.h"

#include <errno.h>
#include <time.h>

uint64_t sp_clock_monotonic_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

double sp_clock_monotonic(void)
{
    return (double)sp_clock_monotonic_ns() / 1e9;
}

void sp_clock_sleep(double seconds)
{
    struct timespec ts;

    if (!(seconds > 0))
        return;
    ts.tv_sec = (time_t)seconds;
    ts.tv_nsec = (long)((seconds - (double)ts.tv_sec) * 1e9);
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
        ;
}
