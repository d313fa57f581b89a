/* A rate budget shared by every process of one host: the GCRA state (one
 * 64-bit TAT, see sp_limiter.h) in a small memory-mapped file. Lua-free.
 *
 * Processes update the word with compare-and-swap only, so there is nothing
 * to unlock and nothing to repair when a process dies mid-call. The file
 * lock is taken only while a process opens the file (to initialise it once).
 *
 * The TAT is a CLOCK_MONOTONIC time, which restarts at boot: the file records
 * the boot id, and a file from an earlier boot (kept on a disk-backed /tmp)
 * has its TAT reset rather than blocking requests for hours.
 *
 * After the TAT come the counts of the quota windows (per minute, hour,
 * day; see sp_window.h). A window's check and count are two steps, so
 * processes that use windows hold the file lock around them (sp_shm_lock):
 * flock, which the kernel drops when a holder dies. The TAT alone stays
 * lock-free. The layout only grew at the end: the TAT keeps its offset, and
 * an older 64-byte file is extended with zeroed counts.
 *
 * A mapped file is memory whose pages the file system must supply: a page
 * it cannot supply (a full tmpfs, a file cut short) is a SIGBUS, which
 * kills the process. So the file's blocks are allocated (posix_fallocate)
 * before it is mapped, and the size is checked before every use
 * (sp_shm_intact): a caller that finds it cut stops using the mapping. */
#ifndef SP_SHM_H
#define SP_SHM_H

#include <stddef.h>
#include <stdint.h>

#include "sp_fs.h"
#include "sp_window.h"

#define SP_SHM_BOOT_ID_LEN 48

/* The quota windows a budget file counts: per minute, per hour, per day. */
#define SP_SHM_WINDOWS 3

/* The file's layout: the TAT 8-byte aligned at offset 56, then the window
 * counts. */
typedef struct sp_shm_file {
    char             magic[8];
    char             boot_id[SP_SHM_BOOT_ID_LEN];
    uint64_t         tat;
    sp_window_counts windows[SP_SHM_WINDOWS];
} sp_shm_file;

typedef struct sp_shm {
    sp_shm_file *map;   /* NULL when closed */
    int          fd;    /* kept open for sp_shm_lock while map is set */
} sp_shm;

/* The current boot's id (from /proc/sys/kernel/random/boot_id), or "" when
 * the system does not tell. */
void sp_shm_boot_id(char out[SP_SHM_BOOT_ID_LEN]);

/* Maps the budget file `name` in the folder dirfd (AT_FDCWD: the working
 * folder), created 0600 when missing; it must be a private file (sp_fs.h).
 * shown: its path for messages. boot_id: the current boot (see above). A
 * TAT more than `max_ahead_ns` after now_ns cannot come from this boot's
 * clock either, and is reset too. Returns 0, or -1 with e filled in (a full
 * disk is e->fault SP_FS_STORAGE). */
int sp_shm_open(sp_shm *m, int dirfd, const char *name, const char *shown, const char *boot_id,
                uint64_t now_ns, uint64_t max_ahead_ns, sp_fs_err *e);

/* Whether the file still holds the whole layout (fstat). 0 when it does;
 * -1 when it was cut short (or cannot be inspected), with its size in
 * *size (-1 when unknown): the mapping must not be touched any more. The
 * check and the use that follows are not one step: a file cut between the
 * two (a window of a few instructions) can still raise SIGBUS. */
int sp_shm_intact(const sp_shm *m, long long *size);

/* Takes (sp_shm_lock) and releases the file lock of the window counts.
 * Returns 0, or -1 (lock: with errno set). */
int sp_shm_lock(sp_shm *m);
void sp_shm_unlock(sp_shm *m);

/* Unmaps; idempotent. The file stays for the other processes. */
void sp_shm_close(sp_shm *m);

#endif
