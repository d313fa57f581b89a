/* Clocks. Lua-free. The limiter and token expiry use the monotonic clock only:
 * wall-clock jumps (NTP, a user changing the date) must not open or close the
 * rate budget or expire a token early. CLOCK_MONOTONIC is shared by every
 * process of one host, so a timestamp from it can live in shared memory. */
#ifndef SP_CLOCK_H
#define SP_CLOCK_H

#include <stdint.h>

uint64_t sp_clock_monotonic_ns(void);
double   sp_clock_monotonic(void);   /* seconds, as a double */

/* Sleeps the whole thread, resuming after signals. For the blocking
 * transport only: nginx and event loops wait their own way. */
void     sp_clock_sleep(double seconds);

#endif
