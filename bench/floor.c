/* The floor for bench/cost.lua: the least a C program does to make the same
 * call with libcurl, to compare our client's cost per call against.
 *
 *   floor URL CALLS WARMUP reuse|fresh
 *
 * One easy handle for the whole run (so libcurl keeps its connection cache),
 * the same request headers our client sends, the body collected in memory
 * (nothing can use an answer it has not kept) and nothing else: no header
 * parsing, no JSON. "fresh" sets CURLOPT_FORBID_REUSE, so every call opens
 * and closes its own connection: the floor for "a new connection per call".
 *
 * Prints one line "calls=N cpu=S wall=S" for the timed loop only (after
 * WARMUP untimed calls): cpu is user + system time of this process from
 * getrusage. Exits non-zero on any failed call. */
#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

typedef struct buffer {
    char  *data;
    size_t len, cap;
} buffer;

static size_t on_body(char *p, size_t size, size_t n, void *ud)
{
    buffer *b = ud;
    size_t len = size * n;
    if (b->len + len > b->cap) {
        size_t cap = b->cap ? b->cap : 4096;
        char *grown;
        while (cap < b->len + len)
            cap *= 2;
        grown = realloc(b->data, cap);
        if (grown == NULL)
            return 0;
        b->data = grown;
        b->cap = cap;
    }
    memcpy(b->data + b->len, p, len);
    b->len += len;
    return len;
}

static double cpu_seconds(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (double)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
           (double)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
}

static double wall_seconds(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int call(CURL *c, buffer *body)
{
    long status = 0;
    CURLcode rc;

    body->len = 0;
    rc = curl_easy_perform(c);
    if (rc != CURLE_OK) {
        fprintf(stderr, "floor: %s\n", curl_easy_strerror(rc));
        return -1;
    }
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
    if (status != 200 || body->len == 0) {
        fprintf(stderr, "floor: HTTP %ld with %zu bytes\n", status, body->len);
        return -1;
    }
    return 0;
}

int main(int argc, char **argv)
{
    struct curl_slist *headers = NULL;
    buffer body = { NULL, 0, 0 };
    long calls, warmup, i;
    double cpu0, wall0, cpu, wall;
    CURL *c;
    int rc = 1;

    if (argc != 5 || (strcmp(argv[4], "reuse") != 0 && strcmp(argv[4], "fresh") != 0)) {
        fprintf(stderr, "usage: floor URL CALLS WARMUP reuse|fresh\n");
        return 2;
    }
    calls = atol(argv[2]);
    warmup = atol(argv[3]);
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK || (c = curl_easy_init()) == NULL) {
        fprintf(stderr, "floor: libcurl did not initialise\n");
        return 1;
    }
    headers = curl_slist_append(headers, "Authorization: Bearer bench-api-key");
    headers = curl_slist_append(headers, "Accept: application/json");
    if (headers == NULL) {
        fprintf(stderr, "floor: out of memory\n");
        goto done;
    }
    curl_easy_setopt(c, CURLOPT_URL, argv[1]);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, headers);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &body);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_FORBID_REUSE, strcmp(argv[4], "fresh") == 0 ? 1L : 0L);

    for (i = 0; i < warmup; i++)
        if (call(c, &body) != 0)
            goto done;
    cpu0 = cpu_seconds();
    wall0 = wall_seconds();
    for (i = 0; i < calls; i++)
        if (call(c, &body) != 0)
            goto done;
    cpu = cpu_seconds() - cpu0;
    wall = wall_seconds() - wall0;
    printf("calls=%ld cpu=%.6f wall=%.6f\n", calls, cpu, wall);
    rc = 0;
done:
    curl_slist_free_all(headers);
    curl_easy_cleanup(c);
    free(body.data);
    curl_global_cleanup();
    return rc;
}
