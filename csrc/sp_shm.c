#include "sp_shm.h"
#include "sp_fs.h"

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

static int fail(char *err, size_t errlen, const char *what, const char *path, int e)
{
    snprintf(err, errlen, "%s %s: %s", what, path, strerror(e));
    return -1;
}

int sp_shm_open(sp_shm *m, const char *path, const char *boot_id,
                uint64_t now_ns, uint64_t max_ahead_ns, char *err, size_t errlen)
{
    struct stat st;
    sp_shm_file *f;
    char id[SP_SHM_BOOT_ID_LEN];
    int fd;

    m->map = NULL;
    m->fd = -1;
    memset(id, 0, sizeof id);
    strncpy(id, boot_id, sizeof id - 1);
    fd = open(path, O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (fd < 0)
        return fail(err, errlen, "cannot open", path, errno);
    if (sp_fs_check_owned(fd, path, err, errlen) != 0)
        goto out;
    /* Only openers take the lock, and only to initialise: a process that
     * dies holding it releases it with its file descriptors. */
    while (flock(fd, LOCK_EX) != 0) {
        if (errno != EINTR) {
            fail(err, errlen, "cannot lock", path, errno);
            goto out;
        }
    }
    if (fstat(fd, &st) != 0) {
        fail(err, errlen, "cannot inspect", path, errno);
        goto out;
    }
    if ((size_t)st.st_size < sizeof *f && ftruncate(fd, sizeof *f) != 0) {
        fail(err, errlen, "cannot size", path, errno);
        goto out;
    }
    f = mmap(NULL, sizeof *f, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    if (f == MAP_FAILED) {
        fail(err, errlen, "cannot map", path, errno);
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
    m->map = f;
out:
    /* Unlock explicitly: the mapping keeps the open file (and so a lock on
     * it) alive after close. */
    flock(fd, LOCK_UN);
    if (m->map != NULL)
        m->fd = fd;      /* for sp_shm_lock */
    else
        close(fd);
    return m->map ? 0 : -1;
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
