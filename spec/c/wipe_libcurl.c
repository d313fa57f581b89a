/* A preload for spec/secrets_spec.lua's memory scan (issue 10, item 10):
 * zeroes the memory libcurl frees, and only libcurl's.
 *
 * libcurl builds each request (its header lines, the Bearer token among
 * them, and a small body such as the token request's, which holds the
 * client secret) in buffers it frees without zeroing; the library cannot
 * change that (docs/security.md, "Secrets in memory"). The spec scans a
 * process's memory for copies of the secret and the token after close():
 * with this preloaded, what it finds is what the library and the Lua
 * runtime left, not libcurl. Nothing else changes: every other caller's
 * free() and realloc() go straight to the C library.
 *
 * A free() is libcurl's when its return address lies in libcurl's code
 * (found with dl_iterate_phdr). A realloc() of libcurl's that moves its
 * block would free the old one inside the C library: it is done here as
 * malloc + copy + zero + free instead. Linux and glibc (malloc_usable_size). */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <link.h>
#include <malloc.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

void free(void *p);
void *realloc(void *p, size_t n);

static void (*next_free)(void *);
static void *(*next_realloc)(void *, size_t);
static void *(*next_malloc)(size_t);
static uintptr_t curl_lo, curl_hi;   /* libcurl's executable segment */

/* Not dropped as a dead store before free(): called through a volatile pointer. */
static void *(*const volatile zero)(void *, int, size_t) = memset;

static int find_libcurl(struct dl_phdr_info *info, size_t size, void *ud)
{
    int i;
    (void)size;
    (void)ud;
    if (info->dlpi_name == NULL || strstr(info->dlpi_name, "/libcurl") == NULL)
        return 0;
    for (i = 0; i < info->dlpi_phnum; i++) {
        const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
        if (ph->p_type == PT_LOAD && (ph->p_flags & PF_X)) {
            curl_lo = info->dlpi_addr + ph->p_vaddr;
            curl_hi = curl_lo + ph->p_memsz;
        }
    }
    return 1;
}

static int from_libcurl(void *return_address)
{
    uintptr_t ra = (uintptr_t)return_address;
    if (curl_lo == 0)
        dl_iterate_phdr(find_libcurl, NULL);   /* until libcurl is loaded */
    return curl_lo != 0 && ra >= curl_lo && ra < curl_hi;
}

static void resolve(void)
{
    if (next_free == NULL) {
        next_free = (void (*)(void *))dlsym(RTLD_NEXT, "free");
        next_realloc = (void *(*)(void *, size_t))dlsym(RTLD_NEXT, "realloc");
        next_malloc = (void *(*)(size_t))dlsym(RTLD_NEXT, "malloc");
    }
}

void free(void *p)
{
    resolve();
    if (p != NULL && from_libcurl(__builtin_return_address(0)))
        zero(p, 0, malloc_usable_size(p));
    next_free(p);
}

void *realloc(void *p, size_t n)
{
    resolve();
    if (p != NULL && n > 0 && from_libcurl(__builtin_return_address(0))) {
        size_t old = malloc_usable_size(p);
        void *q = next_malloc(n);
        if (q == NULL)
            return NULL;
        memcpy(q, p, old < n ? old : n);
        zero(p, 0, old);
        next_free(p);
        return q;
    }
    return next_realloc(p, n);
}
