/* A rate budget shared by every process of one host: the GCRA state (one
 * 64-bit TAT, see sp_limiter.h) in a small memory-mapped file. Lua-free.
 *
 * Processes update the word with compare-and-swap only, so there is nothing
 * to unlock and nothing to repair when a process dies mid-call. The file
 * lock is taken only while a process opens the file (to initialise it once).
 *
 * The TAT is a CLOCK_MONOTONIC time, which restarts at boot: the file records
 * the boot id, and a file from an earlier boot (kept on a disk-backed /tmp)
 * has its TAT reset rather than blocking requests for hours. */
#ifndef SP_SHM_H
#define SP_SHM_H

#include <stddef.h>
#include <stdint.h>

#define SP_SHM_BOOT_ID_LEN 48

/* The file's layout: 64 bytes, the TAT 8-byte aligned. */
typedef struct sp_shm_file {
    char     magic[8];
    char     boot_id[SP_SHM_BOOT_ID_LEN];
    uint64_t tat;
} sp_shm_file;

typedef struct sp_shm {
    sp_shm_file *map;   /* NULL when closed */
} sp_shm;

/* The current boot's id (from /proc/sys/kernel/random/boot_id), or "" when
 * the system does not tell. */
void sp_shm_boot_id(char out[SP_SHM_BOOT_ID_LEN]);

/* Maps the budget file at `path` (created 0600 when missing; it must be a
 * regular file owned by this user). boot_id: the current boot (see above).
 * A TAT more than `max_ahead_ns` after now_ns cannot come from this boot's
 * clock either, and is reset too. Returns 0, or -1 with a message in err. */
int sp_shm_open(sp_shm *m, const char *path, const char *boot_id,
                uint64_t now_ns, uint64_t max_ahead_ns, char *err, size_t errlen);

/* Unmaps; idempotent. The file stays for the other processes. */
void sp_shm_close(sp_shm *m);

#endif
