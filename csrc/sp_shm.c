#include "sp_shm.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

static const char MAGIC[8] = "SPGCRA1";

void sp_shm_boot_id(char out[SP_SHM_BOOT_ID_LEN])
{
    int fd = open("/proc/sys/kernel/random/boot_id", O_RDONLY | O_CLOEXEC);
    ssize_t n = 0;

    memset(out, 0, SP_SHM_BOOT_ID_LEN);
    if (fd >= 0) {
        n = read(fd, out, SP_SHM_BOOT_ID_LEN - 1);
        close(fd);
    }
    if (n <= 0) {
        out[0] = '\0';
        return;
    }
    out[n] = '\0';
    out[strcspn(out, "\r\n")] = '\0';
}

static int fail(sp_fs_err *e, int errnum, const char *doing, const char *shown)
{
    e->fault = sp_fs_storage_errno(errnum) ? SP_FS_STORAGE : SP_FS_SYSTEM;
    e->errnum = errnum;
    snprintf(e->text, sizeof e->text, "cannot %s budget file %s: %s", doing, shown, strerror(errnum));
    return -1;
}

int sp_shm_open(sp_shm *m, int dirfd, const char *name, const char *shown, const char *boot_id,
                uint64_t now_ns, uint64_t max_ahead_ns, sp_fs_err *e)
{
    struct stat st;
    sp_shm_file *f;
    char id[SP_SHM_BOOT_ID_LEN];
    int fd, rc;

    m->map = NULL;
    m->fd = -1;
    memset(id, 0, sizeof id);
    strncpy(id, boot_id, sizeof id - 1);
    if (sp_fs_open(dirfd, name, "budget file", shown, SP_FS_WRITE | SP_FS_CREATE, &fd, e) != 0)
        return -1;
    /* Only openers take the lock, and only to initialise: a process that
     * dies holding it releases it with its file descriptors. */
    while (flock(fd, LOCK_EX) != 0) {
        if (errno != EINTR) {
            fail(e, errno, "lock", shown);
            goto out;
        }
    }
    /* Every block of the layout on the disk before it is mapped, also for
     * a sparse file an older version made with ftruncate: on a full file
     * system this fails here, instead of a SIGBUS at the first write. */
    do
        rc = posix_fallocate(fd, 0, sizeof *f);
    while (rc == EINTR);
    if (rc != 0) {
        fail(e, rc, "allocate", shown);
        goto out;
    }
    if (fstat(fd, &st) != 0) {
        fail(e, errno, "inspect", shown);
        goto out;
    }
    if ((size_t)st.st_size < sizeof *f) {
        fail(e, EIO, "size", shown);
        goto out;
    }
    f = mmap(NULL, sizeof *f, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    if (f == MAP_FAILED) {
        fail(e, errno, "map", shown);
        goto out;
    }
    m->map = f;
    m->fd = fd;
    if (sp_shm_intact(m, NULL) != 0) {   /* cut between the fstat and the mmap */
        sp_shm_close(m);
        fail(e, EIO, "use", shown);
        fd = -1;
        goto out;
    }
    if (memcmp(f->magic, MAGIC, sizeof MAGIC) != 0
        || memcmp(f->boot_id, id, sizeof id) != 0
        || __atomic_load_n(&f->tat, __ATOMIC_ACQUIRE) > now_ns + max_ahead_ns) {
        /* New file, another boot, or a TAT no clock of this boot made: the
         * window counts are numbered on the same clock. */
        __atomic_store_n(&f->tat, 0, __ATOMIC_RELEASE);
        memset(f->windows, 0, sizeof f->windows);
        memcpy(f->boot_id, id, sizeof id);
        memcpy(f->magic, MAGIC, sizeof MAGIC);
    }
out:
    /* Unlock explicitly: the mapping keeps the open file (and so a lock on
     * it) alive after close. */
    if (fd >= 0) {
        flock(fd, LOCK_UN);
        if (m->map == NULL)
            close(fd);
    }
    return m->map ? 0 : -1;
}

int sp_shm_intact(const sp_shm *m, long long *size)
{
    struct stat st;

    if (size != NULL)
        *size = -1;
    if (m->map == NULL || fstat(m->fd, &st) != 0)
        return -1;
    if (size != NULL)
        *size = (long long)st.st_size;
    return (size_t)st.st_size >= sizeof *m->map ? 0 : -1;
}

int sp_shm_lock(sp_shm *m)
{
    while (flock(m->fd, LOCK_EX) != 0) {
        if (errno != EINTR)
            return -1;
    }
    return 0;
}

void sp_shm_unlock(sp_shm *m)
{
    flock(m->fd, LOCK_UN);
}

/* A zeroed sp_shm (never opened) has map NULL: its fd is not a file of
 * ours and is left alone. */
void sp_shm_close(sp_shm *m)
{
    if (m->map != NULL) {
        munmap(m->map, sizeof *m->map);
        close(m->fd);
        m->map = NULL;
        m->fd = -1;
    }
}
