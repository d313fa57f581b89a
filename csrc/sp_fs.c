#include "sp_fs.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

static int fail(char *err, size_t errlen, const char *what, const char *path, int e)
{
    snprintf(err, errlen, "%s %s: %s", what, path, strerror(e));
    return -1;
}

int sp_fs_private_dir(const char *path, char *err, size_t errlen)
{
    struct stat st;

    if (mkdir(path, 0700) != 0 && errno != EEXIST)
        return fail(err, errlen, "cannot create folder", path, errno);
    if (lstat(path, &st) != 0)
        return fail(err, errlen, "cannot inspect folder", path, errno);
    if (!S_ISDIR(st.st_mode)) {
        snprintf(err, errlen, "%s is not a folder (or is a symbolic link)", path);
        return -1;
    }
    if (st.st_uid != geteuid()) {
        snprintf(err, errlen, "folder %s belongs to another user", path);
        return -1;
    }
    if (st.st_mode & (S_IWGRP | S_IWOTH)) {
        snprintf(err, errlen, "folder %s is writable by other users", path);
        return -1;
    }
    return 0;
}

int sp_fs_check_owned(int fd, const char *path, char *err, size_t errlen)
{
    struct stat st;

    if (fstat(fd, &st) != 0)
        return fail(err, errlen, "cannot inspect", path, errno);
    if (!S_ISREG(st.st_mode)) {
        snprintf(err, errlen, "%s is not a regular file", path);
        return -1;
    }
    if (st.st_uid != geteuid()) {
        snprintf(err, errlen, "%s belongs to another user", path);
        return -1;
    }
    return 0;
}

/* Makes a rename in the folder of `path` durable (best effort: some file
 * systems cannot sync a folder, and the file itself is already synced). */
static void sync_parent(const char *path)
{
    char dir[4096];
    const char *slash = strrchr(path, '/');
    size_t n = slash == NULL ? 0 : (size_t)(slash - path);
    int fd;

    if (n >= sizeof dir)
        return;
    if (n == 0) {
        dir[0] = slash == NULL ? '.' : '/';
        dir[1] = '\0';
    } else {
        memcpy(dir, path, n);
        dir[n] = '\0';
    }
    fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd >= 0) {
        (void)fsync(fd);
        close(fd);
    }
}

int sp_fs_write_private(const char *path, const char *data, size_t len,
                        char *err, size_t errlen)
{
    static unsigned counter;
    char tmp[4096];
    int fd, e;
    size_t done = 0;

    if ((size_t)snprintf(tmp, sizeof tmp, "%s.%ld.%u.tmp", path, (long)getpid(),
                         __atomic_add_fetch(&counter, 1, __ATOMIC_RELAXED)) >= sizeof tmp) {
        snprintf(err, errlen, "path too long");
        return -1;
    }
    fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (fd < 0)
        return fail(err, errlen, "cannot create", tmp, errno);
    while (done < len) {
        ssize_t n = write(fd, data + done, len - done);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            e = n < 0 ? errno : EIO;
            close(fd);
            unlink(tmp);
            return fail(err, errlen, "cannot write", tmp, e);
        }
        done += (size_t)n;
    }
    /* On disk before the rename: after a crash the file is the old one or
     * the whole new one (the bulk import's journal relies on it). */
    if (fsync(fd) != 0) {
        e = errno;
        close(fd);
        unlink(tmp);
        return fail(err, errlen, "cannot sync", tmp, e);
    }
    if (close(fd) != 0) {
        e = errno;
        unlink(tmp);
        return fail(err, errlen, "cannot write", tmp, e);
    }
    if (rename(tmp, path) != 0) {
        e = errno;
        unlink(tmp);
        return fail(err, errlen, "cannot replace", path, e);
    }
    sync_parent(path);
    return 0;
}

int sp_fs_try_lock(const char *path, int *fd, char *err, size_t errlen)
{
    int f = open(path, O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600);

    if (f < 0)
        return fail(err, errlen, "cannot open lock file", path, errno);
    if (sp_fs_check_owned(f, path, err, errlen) != 0) {
        close(f);
        return -1;
    }
    while (flock(f, LOCK_EX | LOCK_NB) != 0) {
        int e = errno;
        if (e == EINTR)
            continue;
        close(f);
        if (e == EWOULDBLOCK)
            return 1;
        return fail(err, errlen, "cannot lock", path, e);
    }
    *fd = f;
    return 0;
}

int sp_fs_append_private(const char *path, const char *data, size_t len, int sync,
                         char *err, size_t errlen)
{
    int fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600);
    int e;
    size_t done = 0;

    if (fd < 0)
        return fail(err, errlen, "cannot open", path, errno);
    if (sp_fs_check_owned(fd, path, err, errlen) != 0) {
        close(fd);
        return -1;
    }
    while (done < len) {
        ssize_t n = write(fd, data + done, len - done);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            e = n < 0 ? errno : EIO;
            close(fd);
            return fail(err, errlen, "cannot append to", path, e);
        }
        done += (size_t)n;
    }
    if (sync && fsync(fd) != 0) {
        e = errno;
        close(fd);
        return fail(err, errlen, "cannot sync", path, e);
    }
    if (close(fd) != 0)
        return fail(err, errlen, "cannot append to", path, errno);
    return 0;
}

int sp_fs_open_private(const char *path, long long *size, char *err, size_t errlen)
{
    struct stat st;
    int fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);

    if (fd < 0) {
        if (errno == ENOENT)
            return -2;
        return fail(err, errlen, "cannot open", path, errno);
    }
    if (sp_fs_check_owned(fd, path, err, errlen) != 0) {
        close(fd);
        return -1;
    }
    if (fstat(fd, &st) != 0) {
        int e = errno;
        close(fd);
        return fail(err, errlen, "cannot inspect", path, e);
    }
    *size = (long long)st.st_size;
    return fd;
}
