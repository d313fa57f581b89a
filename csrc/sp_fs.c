#define _GNU_SOURCE   /* O_TMPFILE, AT_EMPTY_PATH */
#include "sp_fs.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

/* Names of temporary files: the pid and a counter make them unique in this
 * host; O_EXCL refuses one someone else made, and the next number is tried. */
static unsigned counter;
#define TEMP_TRIES 16

int sp_fs_storage_errno(int e)
{
    return e == ENOSPC || e == EDQUOT || e == EFBIG || e == EIO;
}

static int refuse(sp_fs_err *e, const char *label, const char *shown, const char *fmt, ...)
{
    size_t n;
    va_list ap;

    e->fault = SP_FS_REFUSED;
    e->errnum = 0;
    snprintf(e->text, sizeof e->text, "%s %s ", label, shown);
    n = strlen(e->text);
    va_start(ap, fmt);
    vsnprintf(e->text + n, sizeof e->text - n, fmt, ap);
    va_end(ap);
    return -1;
}

/* "cannot <doing> <label> <shown>: <reason>" */
static int sys_fail(sp_fs_err *e, int errnum, const char *doing, const char *label, const char *shown)
{
    e->fault = sp_fs_storage_errno(errnum) ? SP_FS_STORAGE : SP_FS_SYSTEM;
    e->errnum = errnum;
    snprintf(e->text, sizeof e->text, "cannot %s %s %s: %s", doing, label, shown, strerror(errnum));
    return -1;
}

static const char *type_name(mode_t m)
{
    if (S_ISREG(m))  return "a regular file";
    if (S_ISDIR(m))  return "a folder";
    if (S_ISFIFO(m)) return "a FIFO";
    if (S_ISSOCK(m)) return "a socket";
    if (S_ISCHR(m))  return "a character device";
    if (S_ISBLK(m))  return "a block device";
    if (S_ISLNK(m))  return "a symbolic link";
    return "of an unknown type";
}

/* The rules of a private file, on an open descriptor. */
static int check_file(int fd, const char *label, const char *shown, int flags, sp_fs_err *e)
{
    struct stat st;

    if (fstat(fd, &st) != 0)
        return sys_fail(e, errno, "inspect", label, shown);
    if (!S_ISREG(st.st_mode))
        return refuse(e, label, shown, "is %s, not a regular file: refusing it", type_name(st.st_mode));
    if (st.st_uid != geteuid())
        return refuse(e, label, shown, "is owned by uid %ld, not by you (%ld): refusing it",
                      (long)st.st_uid, (long)geteuid());
    if (st.st_mode & 077)
        return refuse(e, label, shown, "can be read or written by others (mode %o): refusing it; "
                      "run: chmod 600 %s", (unsigned)(st.st_mode & 0777), shown);
    if (!(flags & SP_FS_FOLLOW) && st.st_nlink != 1)
        return refuse(e, label, shown, "has %ld names (hard links): refusing it (another name could "
                      "change it)", (long)st.st_nlink);
    return 0;
}

/* What an open that failed found at the name, for a better message than
 * the errno alone (ELOOP: a symbolic link; ENXIO: a socket). */
static int explain_open(int dirfd, const char *name, const char *label, const char *shown,
                        int errnum, sp_fs_err *e)
{
    struct stat st;

    if ((errnum == ELOOP || errnum == ENXIO || errnum == EISDIR || errnum == ENOTDIR)
        && fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW) == 0 && !S_ISREG(st.st_mode)) {
        if (S_ISLNK(st.st_mode))
            return refuse(e, label, shown, "is a symbolic link: refusing it (a private file is "
                          "never reached through a link)");
        return refuse(e, label, shown, "is %s, not a regular file: refusing it", type_name(st.st_mode));
    }
    return sys_fail(e, errnum, "open", label, shown);
}

int sp_fs_open(int dirfd, const char *name, const char *label, const char *shown,
               int flags, int *fd, sp_fs_err *e)
{
    int oflags = O_CLOEXEC | O_NOCTTY | O_NONBLOCK, f, fl;

    oflags |= (flags & SP_FS_WRITE) ? O_RDWR : O_RDONLY;
    if (flags & SP_FS_CREATE)
        oflags |= O_CREAT | ((flags & SP_FS_EXCL) ? O_EXCL : 0);
    if (!(flags & SP_FS_FOLLOW))
        oflags |= O_NOFOLLOW;
    if (flags & SP_FS_APPEND)
        oflags |= O_APPEND;
    do
        f = openat(dirfd, name, oflags, 0600);
    while (f < 0 && errno == EINTR);
    if (f < 0) {
        if (errno == ENOENT && !(flags & SP_FS_CREATE))
            return SP_FS_MISSING;
        return explain_open(dirfd, name, label, shown, errno, e);
    }
    if (check_file(f, label, shown, flags, e) != 0) {
        close(f);
        return -1;
    }
    /* O_NONBLOCK was for the open (a FIFO); a regular file ignores it, but
     * leave nothing surprising on the descriptor. */
    fl = fcntl(f, F_GETFL);
    if (fl >= 0)
        (void)fcntl(f, F_SETFL, fl & ~O_NONBLOCK);
    *fd = f;
    return 0;
}

int sp_fs_open_dir(const char *path, const char *label, int flags, int *fd, sp_fs_err *e)
{
    struct stat st;
    int f;

    if ((flags & SP_FS_CREATE) && mkdir(path, 0700) != 0 && errno != EEXIST)
        return sys_fail(e, errno, "create", label, path);
    f = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC | ((flags & SP_FS_PRIVATE) ? O_NOFOLLOW : 0));
    if (f < 0) {
        int errnum = errno;
        if ((errnum == ELOOP || errnum == ENOTDIR) && lstat(path, &st) == 0 && !S_ISDIR(st.st_mode))
            return refuse(e, label, path, "is %s, not a folder: refusing it", type_name(st.st_mode));
        return sys_fail(e, errnum, "open", label, path);
    }
    if (flags & SP_FS_PRIVATE) {
        if (fstat(f, &st) != 0) {
            sys_fail(e, errno, "inspect", label, path);
            close(f);
            return -1;
        }
        if (st.st_uid != geteuid()) {
            refuse(e, label, path, "is owned by uid %ld, not by you (%ld): refusing it",
                   (long)st.st_uid, (long)geteuid());
            close(f);
            return -1;
        }
        if (st.st_mode & (S_IWGRP | S_IWOTH)) {
            refuse(e, label, path, "is writable by other users (mode %o): refusing it",
                   (unsigned)(st.st_mode & 07777));
            close(f);
            return -1;
        }
    }
    *fd = f;
    return 0;
}

int sp_fs_lock(int dirfd, const char *name, const char *label, const char *shown,
               int flags, int *fd, sp_fs_err *e)
{
    int tries;

    for (tries = 0; tries < 64; tries++) {
        struct stat held, now;
        int f, rc = sp_fs_open(dirfd, name, label, shown, flags | SP_FS_WRITE, &f, e);
        if (rc != 0)
            return rc;
        while (flock(f, LOCK_EX | LOCK_NB) != 0) {
            int errnum = errno;
            if (errnum == EINTR)
                continue;
            close(f);
            if (errnum == EWOULDBLOCK)
                return SP_FS_BUSY;
            return sys_fail(e, errnum, "lock", label, shown);
        }
        /* Taken; but the holder may have given the name to a new file
         * (sp_fs_replace) while this one waited: then this lock guards a
         * file nobody reads any more, and the name is opened again. */
        if (fstat(f, &held) == 0 && held.st_nlink > 0
            && fstatat(dirfd, name, &now, AT_SYMLINK_NOFOLLOW) == 0
            && held.st_dev == now.st_dev && held.st_ino == now.st_ino) {
            *fd = f;
            return 0;
        }
        close(f);
    }
    return refuse(e, label, shown, "kept being replaced while it was being locked: refusing it");
}

/* Makes a rename in dirfd durable (best effort: some file systems cannot
 * sync a folder, and the file itself is already synced). */
static void sync_dir(int dirfd)
{
    if (dirfd == AT_FDCWD) {
        int f = open(".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (f >= 0) {
            (void)fsync(f);
            close(f);
        }
        return;
    }
    (void)fsync(dirfd);
}

int sp_fs_write_all(int fd, const void *data, size_t len, const char *label,
                    const char *shown, sp_fs_err *e)
{
    const char *p = data;
    size_t done = 0;

    while (done < len) {
        ssize_t n = write(fd, p + done, len - done);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return sys_fail(e, errno, "write", label, shown);
        if (n == 0)
            return sys_fail(e, ENOSPC, "write", label, shown);
        done += (size_t)n;
    }
    return 0;
}

int sp_fs_sync(int fd, const char *label, const char *shown, sp_fs_err *e)
{
    if (fsync(fd) != 0 && errno != EINVAL)   /* EINVAL: a file that cannot be synced */
        return sys_fail(e, errno, "sync", label, shown);
    return 0;
}

/* A new file `<name>.<pid>.<n>.tmp` in dirfd, O_EXCL, mode 0600. */
static int new_temp(int dirfd, const char *name, char *tmp, size_t tmplen, const char *label,
                    const char *shown, int *fd, sp_fs_err *e)
{
    int i, f = -1;

    for (i = 0; i < TEMP_TRIES; i++) {
        unsigned n = __atomic_add_fetch(&counter, 1, __ATOMIC_RELAXED);
        if ((size_t)snprintf(tmp, tmplen, "%s.%ld.%u.tmp", name, (long)getpid(), n) >= tmplen)
            return sys_fail(e, ENAMETOOLONG, "name a temporary file for", label, shown);
        f = openat(dirfd, tmp, O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
        if (f >= 0 || errno != EEXIST)
            break;
    }
    if (f < 0)
        return sys_fail(e, errno, "create a temporary file for", label, shown);
    *fd = f;
    return 0;
}

int sp_fs_replace(int dirfd, const char *name, const char *label, const char *shown,
                  const void *data, size_t len, int *held, sp_fs_err *e)
{
    char tmp[SP_FS_NAME_MAX + 32];
    int f = -1;

    if (new_temp(dirfd, name, tmp, sizeof tmp, label, shown, &f, e) != 0)
        return -1;
    if (sp_fs_write_all(f, data, len, label, shown, e) != 0)
        goto fail;
    /* On disk before the rename: after a crash the file is the old one or
     * the whole new one (the bulk import's journal relies on it). */
    if (sp_fs_sync(f, label, shown, e) != 0)
        goto fail;
    if (held != NULL && flock(f, LOCK_EX | LOCK_NB) != 0) {
        sys_fail(e, errno, "lock", label, shown);
        goto fail;
    }
    if (renameat(dirfd, tmp, dirfd, name) != 0) {
        sys_fail(e, errno, "replace", label, shown);
        goto fail;
    }
    sync_dir(dirfd);
    if (held != NULL) {
        if (*held >= 0)
            close(*held);
        *held = f;
    } else if (close(f) != 0) {
        return sys_fail(e, errno, "write", label, shown);
    }
    return 0;
fail:
    close(f);
    unlinkat(dirfd, tmp, 0);
    return -1;
}

/* An unnamed file can be given a name only through /proc/self/fd (or with
 * CAP_DAC_READ_SEARCH): check that this process can before relying on it. */
static int can_link_unnamed(int fd)
{
    char proc[64];
    struct stat a, b;

    snprintf(proc, sizeof proc, "/proc/self/fd/%d", fd);
    return (fstat(fd, &a) == 0 && stat(proc, &b) == 0 && a.st_ino == b.st_ino && a.st_dev == b.st_dev)
        || geteuid() == 0;
}

int sp_fs_temp_open(int dirfd, const char *target, const char *label, const char *shown,
                    int named, sp_fs_temp *t, sp_fs_err *e)
{
    struct stat st;
    int tries;

    t->fd = -1;
    t->dirfd = dirfd;
    t->name[0] = '\0';
    if ((size_t)snprintf(t->target, sizeof t->target, "%s", target) >= sizeof t->target)
        return sys_fail(e, ENAMETOOLONG, "write", label, shown);
#ifdef O_TMPFILE
    if (!named) {
        int f = openat(dirfd, ".", O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
        if (f >= 0 && can_link_unnamed(f)) {
            t->fd = f;
            return 0;
        }
        if (f >= 0)
            close(f);
        /* EOPNOTSUPP, EISDIR (an older kernel), EINVAL: named, below */
    }
#endif
    if ((size_t)snprintf(t->name, sizeof t->name, "%s.%ld.tmp", target, (long)geteuid()) >= sizeof t->name)
        return sys_fail(e, ENAMETOOLONG, "name a temporary file for", label, shown);
    for (tries = 0; tries < 2; tries++) {
        int f = openat(dirfd, t->name, O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
        if (f >= 0) {
            t->fd = f;
            return 0;
        }
        if (errno != EEXIST)
            break;
        /* Left by a killed run of this user (a regular file of ours, one
         * name): replaced. Anything else is refused, never followed. */
        if (fstatat(dirfd, t->name, &st, AT_SYMLINK_NOFOLLOW) != 0)
            continue;
        if (S_ISREG(st.st_mode) && st.st_uid == geteuid() && st.st_nlink == 1) {
            unlinkat(dirfd, t->name, 0);
            continue;
        }
        t->name[0] = '\0';
        if (!S_ISREG(st.st_mode))
            return refuse(e, label, shown, "cannot be written: its temporary file %s.%ld.tmp is %s: "
                          "refusing to use it (remove it)", shown, (long)geteuid(), type_name(st.st_mode));
        return refuse(e, label, shown, "cannot be written: its temporary file %s.%ld.tmp is owned by "
                      "uid %ld, not by you (%ld): refusing to use it (remove it)", shown, (long)geteuid(),
                      (long)st.st_uid, (long)geteuid());
    }
    t->name[0] = '\0';
    return sys_fail(e, errno, "create a temporary file for", label, shown);
}

int sp_fs_temp_publish(sp_fs_temp *t, const char *label, const char *shown, sp_fs_err *e)
{
    char link[SP_FS_NAME_MAX + 32];

    if (sp_fs_sync(t->fd, label, shown, e) != 0)
        return -1;
    if (t->name[0] == '\0') {
        /* Unnamed: given a temporary name first (linkat cannot replace),
         * then renamed over the target. */
        char proc[64];
        int tries, rc = -1;
        snprintf(proc, sizeof proc, "/proc/self/fd/%d", t->fd);
        for (tries = 0; tries < TEMP_TRIES && rc != 0; tries++) {
            unsigned n = __atomic_add_fetch(&counter, 1, __ATOMIC_RELAXED);
            if ((size_t)snprintf(link, sizeof link, "%s.%ld.%u.tmp", t->target, (long)getpid(), n)
                >= sizeof link)
                return sys_fail(e, ENAMETOOLONG, "name a temporary file for", label, shown);
            rc = linkat(AT_FDCWD, proc, t->dirfd, link, AT_SYMLINK_FOLLOW);
#ifdef AT_EMPTY_PATH
            if (rc != 0 && errno != EEXIST)
                rc = linkat(t->fd, "", t->dirfd, link, AT_EMPTY_PATH);
#endif
            if (rc != 0 && errno != EEXIST)
                break;
        }
        if (rc != 0)
            return sys_fail(e, errno, "write", label, shown);
        if (snprintf(t->name, sizeof t->name, "%s", link) >= (int)sizeof t->name) {
            unlinkat(t->dirfd, link, 0);
            return sys_fail(e, ENAMETOOLONG, "write", label, shown);
        }
    }
    if (renameat(t->dirfd, t->name, t->dirfd, t->target) != 0)
        return sys_fail(e, errno, "replace", label, shown);
    t->name[0] = '\0';
    sync_dir(t->dirfd);
    if (close(t->fd) != 0) {
        t->fd = -1;
        return sys_fail(e, errno, "write", label, shown);
    }
    t->fd = -1;
    return 0;
}

void sp_fs_temp_discard(sp_fs_temp *t)
{
    if (t->fd >= 0) {
        close(t->fd);
        t->fd = -1;
    }
    if (t->name[0] != '\0') {
        unlinkat(t->dirfd, t->name, 0);
        t->name[0] = '\0';
    }
}

/* The outbox's path-based calls, on the same rules (sp_fs_open on the
 * whole path): a file opened once, checked on its descriptor. */
static int copy_err(const sp_fs_err *fe, char *err, size_t errlen)
{
    snprintf(err, errlen, "%s", fe->text);
    return -1;
}

int sp_fs_append_private(const char *path, const char *data, size_t len, int sync,
                         char *err, size_t errlen)
{
    sp_fs_err e;
    int fd;

    if (sp_fs_open(AT_FDCWD, path, "file", path, SP_FS_WRITE | SP_FS_CREATE | SP_FS_APPEND, &fd, &e) != 0)
        return copy_err(&e, err, errlen);
    if (sp_fs_write_all(fd, data, len, "file", path, &e) != 0
        || (sync && sp_fs_sync(fd, "file", path, &e) != 0)) {
        close(fd);
        return copy_err(&e, err, errlen);
    }
    if (close(fd) != 0) {
        sys_fail(&e, errno, "write", "file", path);
        return copy_err(&e, err, errlen);
    }
    return 0;
}

int sp_fs_open_private(const char *path, long long *size, char *err, size_t errlen)
{
    struct stat st;
    sp_fs_err e;
    int fd, rc = sp_fs_open(AT_FDCWD, path, "file", path, 0, &fd, &e);

    if (rc == SP_FS_MISSING)
        return -2;
    if (rc != 0)
        return copy_err(&e, err, errlen);
    if (fstat(fd, &st) != 0) {
        sys_fail(&e, errno, "inspect", "file", path);
        close(fd);
        return copy_err(&e, err, errlen);
    }
    *size = (long long)st.st_size;
    return fd;
}
