/* A minimal test harness for the Lua-free C parts. Each CHECK counts; the
 * program prints "<file>: N passed, N failed" and exits non-zero on failure,
 * so spec/run.sh can add the counts to the suite's total. */
#ifndef CTEST_H
#define CTEST_H

#include <stdio.h>

static int ctest_passed, ctest_failed;

#define CHECK(cond) do { \
    if (cond) { ctest_passed++; } \
    else { ctest_failed++; fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #cond); } \
} while (0)

#define CHECK_EQ_U64(a, b) do { \
    unsigned long long ctest_a = (a), ctest_b = (b); \
    if (ctest_a == ctest_b) { ctest_passed++; } \
    else { ctest_failed++; fprintf(stderr, "%s:%d: %s == %llu, expected %llu\n", \
           __FILE__, __LINE__, #a, ctest_a, ctest_b); } \
} while (0)

static int ctest_report(const char *name)
{
    printf("%s: %d passed, %d failed\n", name, ctest_passed, ctest_failed);
    return ctest_failed == 0 ? 0 : 1;
}

#endif
