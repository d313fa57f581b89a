/* Private files (sp_fs.h): the rules checked on the open descriptor, folders
 * opened once and used through their descriptor, the lock that follows a
 * replaced file, temporaries that are never someone else's file, and a full
 * disk told apart from other failures. The cases that need a file of
 * another user run as root only (chown); they say so when skipped. */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ctest.h"
#include "sp_fs.h"

static char dir[128];
static sp_fs_err err;

/* Another user's uid for the root-only cases: "nobody". */
#define OTHER_UID 65534

static void path_of(char *out, size_t n, const char *name)
{
    snprintf(out, n, "%s/%s", dir, name);
}

static void write_text(const char *path, const char *text, mode_t mode)
{
    FILE *f = fopen(path, "w");
    if (f != NULL) {
        fputs(text, f);
        fclose(f);
    }
    chmod(path, mode);
}

static int has(const char *needle)
{
    if (strstr(err.text, needle) != NULL)
        return 1;
    fprintf(stderr, "  message was: %s\n", err.text);
    return 0;
}

static void test_file_rules(void)
{
    char p[512], q[512];
    int fd = -1;

    path_of(p, sizeof p, "missing");
    CHECK(sp_fs_open(AT_FDCWD, p, "journal", p, 0, &fd, &err) == SP_FS_MISSING);

    path_of(p, sizeof p, "new");
    CHECK(sp_fs_open(AT_FDCWD, p, "journal", p, SP_FS_WRITE | SP_FS_CREATE | SP_FS_EXCL, &fd, &err) == 0);
    close(fd);
    CHECK(sp_fs_open(AT_FDCWD, p, "journal", p, SP_FS_WRITE | SP_FS_CREATE | SP_FS_EXCL, &fd, &err) == -1);
    CHECK(sp_fs_open(AT_FDCWD, p, "journal", p, 0, &fd, &err) == 0);   /* ours, 0600 */
    close(fd);

    /* A symbolic link, even to a file of ours, is never followed... */
    path_of(q, sizeof q, "link");
    CHECK(symlink(p, q) == 0);
    CHECK(sp_fs_open(AT_FDCWD, q, "journal", q, 0, &fd, &err) == -1);
    CHECK(err.fault == SP_FS_REFUSED && has("is a symbolic link: refusing it"));
    CHECK(sp_fs_open(AT_FDCWD, q, "journal", q, SP_FS_WRITE | SP_FS_CREATE, &fd, &err) == -1);
    /* ...unless asked (the profile file); what it leads to is checked. */
    CHECK(sp_fs_open(AT_FDCWD, q, "profile file", q, SP_FS_FOLLOW, &fd, &err) == 0);
    close(fd);

    /* Others may read it: refused, with the fix. */
    path_of(p, sizeof p, "open");
    write_text(p, "x", 0644);
    CHECK(sp_fs_open(AT_FDCWD, p, "profile file", p, SP_FS_FOLLOW, &fd, &err) == -1);
    CHECK(has("can be read or written by others (mode 644): refusing it; run: chmod 600"));

    /* A second name (a hard link) could be someone else's way in. */
    path_of(p, sizeof p, "linked");
    path_of(q, sizeof q, "linked2");
    write_text(p, "x", 0600);
    CHECK(link(p, q) == 0);
    CHECK(sp_fs_open(AT_FDCWD, p, "journal", p, 0, &fd, &err) == -1);
    CHECK(has("has 2 names (hard links)"));

    /* A folder. */
    path_of(p, sizeof p, "folder");
    CHECK(mkdir(p, 0700) == 0);
    CHECK(sp_fs_open(AT_FDCWD, p, "profile file", p, SP_FS_FOLLOW, &fd, &err) == -1);
    CHECK(has("is a folder, not a regular file: refusing it"));
    CHECK(sp_fs_open(AT_FDCWD, p, "journal", p, SP_FS_WRITE | SP_FS_CREATE, &fd, &err) == -1);
    CHECK(has("is a folder"));

    /* A FIFO with no writer: refused at once (an alarm ends the test
     * program if the open blocks). */
    path_of(p, sizeof p, "fifo");
    CHECK(mkfifo(p, 0600) == 0);
    alarm(10);
    CHECK(sp_fs_open(AT_FDCWD, p, "profile file", p, SP_FS_FOLLOW, &fd, &err) == -1);
    CHECK(has("is a FIFO, not a regular file: refusing it"));
    CHECK(sp_fs_open(AT_FDCWD, p, "journal", p, SP_FS_WRITE | SP_FS_CREATE, &fd, &err) == -1);
    alarm(0);

    /* Another user's file (root only: it takes chown). */
    if (geteuid() == 0) {
        path_of(p, sizeof p, "theirs");
        write_text(p, "x", 0600);
        CHECK(chown(p, OTHER_UID, OTHER_UID) == 0);
        CHECK(sp_fs_open(AT_FDCWD, p, "journal", p, SP_FS_WRITE | SP_FS_CREATE, &fd, &err) == -1);
        CHECK(err.fault == SP_FS_REFUSED && has("is owned by uid 65534, not by you (0): refusing it"));
    } else {
        printf("test_fs: another user's file: skipped (needs root for chown)\n");
    }
}

static void test_folders(void)
{
    char p[512], q[512], r[512], buf[16];
    int d, fd;
    ssize_t n;

    path_of(p, sizeof p, "private");
    CHECK(sp_fs_open_dir(p, "token folder", SP_FS_CREATE | SP_FS_PRIVATE, &d, &err) == 0);
    {
        struct stat st;
        CHECK(fstat(d, &st) == 0 && (st.st_mode & 0777) == 0700);
    }
    /* Opened once: files are reached through the descriptor, so exchanging
     * the folder afterwards changes nothing. */
    CHECK(sp_fs_replace(d, "token", "token file", "token", "mine", 4, NULL, &err) == 0);
    path_of(q, sizeof q, "private.real");
    path_of(r, sizeof r, "decoy");
    CHECK(rename(p, q) == 0);
    CHECK(mkdir(r, 0700) == 0);
    {
        char t[600];
        snprintf(t, sizeof t, "%s/token", r);
        write_text(t, "theirs", 0600);
    }
    CHECK(rename(r, p) == 0);
    CHECK(sp_fs_open(d, "token", "token file", "token", 0, &fd, &err) == 0);
    n = read(fd, buf, sizeof buf);
    close(fd);
    CHECK(n == 4 && memcmp(buf, "mine", 4) == 0);
    close(d);

    /* Writable by others, a symbolic link, not a folder: refused. */
    path_of(p, sizeof p, "shared");
    CHECK(mkdir(p, 0777) == 0 && chmod(p, 0777) == 0);
    CHECK(sp_fs_open_dir(p, "token folder", SP_FS_PRIVATE, &d, &err) == -1);
    CHECK(has("token folder") && has("is writable by other users (mode 777): refusing it"));
    CHECK(sp_fs_open_dir(p, "the folder of journal", 0, &d, &err) == 0);   /* not private: fine */
    close(d);
    path_of(q, sizeof q, "private.link");
    path_of(r, sizeof r, "private.real");
    CHECK(symlink(r, q) == 0);
    CHECK(sp_fs_open_dir(q, "token folder", SP_FS_PRIVATE, &d, &err) == -1);
    CHECK(has("is a symbolic link, not a folder"));
    path_of(p, sizeof p, "plain");
    write_text(p, "x", 0600);
    CHECK(sp_fs_open_dir(p, "token folder", SP_FS_CREATE | SP_FS_PRIVATE, &d, &err) == -1);
    CHECK(has("is a regular file, not a folder: refusing it"));
    if (geteuid() == 0) {
        path_of(p, sizeof p, "their-folder");
        CHECK(mkdir(p, 0700) == 0 && chown(p, OTHER_UID, OTHER_UID) == 0);
        CHECK(sp_fs_open_dir(p, "token folder", SP_FS_CREATE | SP_FS_PRIVATE, &d, &err) == -1);
        CHECK(has("is owned by uid 65534"));
    }
}

static void test_lock_follows_replace(void)
{
    int d, held = -1, other = -1;
    char p[512];

    path_of(p, sizeof p, "locks");
    CHECK(sp_fs_open_dir(p, "folder", SP_FS_CREATE | SP_FS_PRIVATE, &d, &err) == 0);
    CHECK(sp_fs_lock(d, "j", "journal", "j", SP_FS_CREATE, &held, &err) == 0);
    CHECK(sp_fs_lock(d, "j", "journal", "j", SP_FS_CREATE, &other, &err) == SP_FS_BUSY);
    /* Replaced under the lock: the name leads to the new file, locked. */
    CHECK(sp_fs_replace(d, "j", "journal", "j", "{}", 2, &held, &err) == 0);
    CHECK(sp_fs_lock(d, "j", "journal", "j", SP_FS_CREATE, &other, &err) == SP_FS_BUSY);
    close(held);
    CHECK(sp_fs_lock(d, "j", "journal", "j", SP_FS_CREATE, &other, &err) == 0);
    close(other);
    close(d);
}

static void test_replace(void)
{
    char p[512], q[512], buf[16];
    struct stat st;
    int d, fd;
    ssize_t n;

    path_of(p, sizeof p, "repl");
    CHECK(sp_fs_open_dir(p, "folder", SP_FS_CREATE | SP_FS_PRIVATE, &d, &err) == 0);
    /* A link at the name is replaced itself, its target left alone. */
    path_of(q, sizeof q, "victim");
    write_text(q, "victim", 0600);
    CHECK(symlinkat(q, d, "file") == 0);
    CHECK(sp_fs_replace(d, "file", "file", "file", "new", 3, NULL, &err) == 0);
    CHECK(fstatat(d, "file", &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISREG(st.st_mode) && (st.st_mode & 0777) == 0600);
    fd = open(q, O_RDONLY);
    n = read(fd, buf, sizeof buf);
    close(fd);
    CHECK(n == 6 && memcmp(buf, "victim", 6) == 0);
    close(d);
}

static int entries(const char *path)
{
    char cmd[600];
    FILE *p;
    int n = -1;
    snprintf(cmd, sizeof cmd, "ls -A '%s' | wc -l", path);
    p = popen(cmd, "r");
    if (p != NULL) {
        if (fscanf(p, "%d", &n) != 1)
            n = -1;
        pclose(p);
    }
    return n;
}

static void test_temporaries(void)
{
    char p[512], q[512], buf[16], tmpname[64];
    sp_fs_temp t;
    struct stat st;
    int d, fd;
    ssize_t n;

    path_of(p, sizeof p, "temps");
    CHECK(mkdir(p, 0777) == 0 && chmod(p, 0777) == 0);   /* a shared folder */
    CHECK(sp_fs_open_dir(p, "the folder of export", 0, &d, &err) == 0);

    /* Unnamed where the file system allows it: nothing in the folder until
     * it is published, nothing left when it is dropped. */
    CHECK(sp_fs_temp_open(d, "out.csv", "export", "out.csv", 0, &t, &err) == 0);
    CHECK(t.fd >= 0);
    if (t.name[0] == '\0')
        CHECK(entries(p) == 0);
    CHECK(sp_fs_write_all(t.fd, "a,b\n", 4, "export", "out.csv", &err) == 0);
    sp_fs_temp_discard(&t);
    CHECK(entries(p) == 0);
    CHECK(sp_fs_temp_open(d, "out.csv", "export", "out.csv", 0, &t, &err) == 0);
    CHECK(sp_fs_write_all(t.fd, "a,b\n", 4, "export", "out.csv", &err) == 0);
    CHECK(sp_fs_temp_publish(&t, "export", "out.csv", &err) == 0);
    sp_fs_temp_discard(&t);
    CHECK(fstatat(d, "out.csv", &st, 0) == 0 && st.st_size == 4 && (st.st_mode & 0777) == 0600);
    CHECK(entries(p) == 1);

    /* Named (as on a file system without O_TMPFILE): <target>.<uid>.tmp. */
    snprintf(tmpname, sizeof tmpname, "out.csv.%ld.tmp", (long)geteuid());
    /* one a killed run of ours left: replaced */
    fd = openat(d, tmpname, O_WRONLY | O_CREAT | O_EXCL, 0600);
    CHECK(fd >= 0 && write(fd, "stale", 5) == 5);
    close(fd);
    CHECK(sp_fs_temp_open(d, "out.csv", "export", "out.csv", 1, &t, &err) == 0);
    CHECK(strcmp(t.name, tmpname) == 0);
    CHECK(fstat(t.fd, &st) == 0 && st.st_size == 0 && (st.st_mode & 0777) == 0600);
    CHECK(sp_fs_write_all(t.fd, "x\n", 2, "export", "out.csv", &err) == 0);
    CHECK(sp_fs_temp_publish(&t, "export", "out.csv", &err) == 0);
    CHECK(fstatat(d, tmpname, &st, AT_SYMLINK_NOFOLLOW) == -1 && errno == ENOENT);
    /* a symbolic link planted there: refused, its target untouched */
    path_of(q, sizeof q, "private-file");
    write_text(q, "secret", 0600);
    CHECK(symlinkat(q, d, tmpname) == 0);
    CHECK(sp_fs_temp_open(d, "out.csv", "export", "out.csv", 1, &t, &err) == -1);
    CHECK(err.fault == SP_FS_REFUSED && has("is a symbolic link: refusing to use it"));
    fd = open(q, O_RDONLY);
    n = read(fd, buf, sizeof buf);
    close(fd);
    CHECK(n == 6 && memcmp(buf, "secret", 6) == 0);
    /* ...and not there at all for an unnamed one */
    CHECK(sp_fs_temp_open(d, "out.csv", "export", "out.csv", 0, &t, &err) == 0);
    if (t.name[0] == '\0') {
        CHECK(sp_fs_temp_publish(&t, "export", "out.csv", &err) == 0);
    } else {
        printf("test_fs: no O_TMPFILE on this file system: the unnamed case is not tested\n");
    }
    sp_fs_temp_discard(&t);
    CHECK(unlinkat(d, tmpname, 0) == 0);
    if (geteuid() == 0) {
        /* another user's file there: refused, not adopted */
        fd = openat(d, tmpname, O_WRONLY | O_CREAT | O_EXCL, 0666);
        CHECK(fd >= 0 && fchown(fd, OTHER_UID, OTHER_UID) == 0);
        close(fd);
        CHECK(sp_fs_temp_open(d, "out.csv", "export", "out.csv", 1, &t, &err) == -1);
        CHECK(has("is owned by uid 65534, not by you (0): refusing to use it"));
        CHECK(fstatat(d, tmpname, &st, 0) == 0 && st.st_uid == OTHER_UID);
    }
    close(d);
}

static void test_full_disk_is_storage(void)
{
    int fd = open("/dev/full", O_WRONLY | O_CLOEXEC);
    CHECK(fd >= 0);
    CHECK(sp_fs_write_all(fd, "x", 1, "journal", "/dev/full", &err) == -1);
    CHECK(err.fault == SP_FS_STORAGE && err.errnum == ENOSPC);
    CHECK(has("cannot write journal /dev/full: No space left on device"));
    close(fd);
    CHECK(sp_fs_storage_errno(ENOSPC) && sp_fs_storage_errno(EDQUOT) && sp_fs_storage_errno(EFBIG));
    CHECK(!sp_fs_storage_errno(EACCES) && !sp_fs_storage_errno(ENOENT));
}

/* The outbox's path-based calls (append_private, open_private) keep the
 * same rules: a link, others' bits, a second name are refused. */
static void test_path_calls(void)
{
    char p[256], q[256], text[512];
    long long size = -1;
    int fd;

    path_of(p, sizeof p, "outbox-journal");
    path_of(q, sizeof q, "outbox-link");
    CHECK(sp_fs_open_private(p, &size, text, sizeof text) == -2);   /* none yet */
    CHECK(sp_fs_append_private(p, "hello ", 6, 1, text, sizeof text) == 0);
    CHECK(sp_fs_append_private(p, "world", 5, 0, text, sizeof text) == 0);
    fd = sp_fs_open_private(p, &size, text, sizeof text);
    CHECK(fd >= 0 && size == 11);
    if (fd >= 0)
        close(fd);
    CHECK(symlink(p, q) == 0);
    CHECK(sp_fs_append_private(q, "x", 1, 1, text, sizeof text) == -1);
    CHECK(strstr(text, "is a symbolic link: refusing it") != NULL);
    CHECK(sp_fs_open_private(q, &size, text, sizeof text) == -1);
    unlink(q);
    CHECK(chmod(p, 0644) == 0);
    CHECK(sp_fs_append_private(p, "x", 1, 1, text, sizeof text) == -1);
    CHECK(strstr(text, "mode 644") != NULL);
    CHECK(chmod(p, 0600) == 0);
    CHECK(link(p, q) == 0);
    CHECK(sp_fs_open_private(p, &size, text, sizeof text) == -1);
    CHECK(strstr(text, "has 2 names") != NULL);
    unlink(q);
    unlink(p);
}

int main(void)
{
    char cmd[300];

    signal(SIGALRM, SIG_DFL);
    snprintf(dir, sizeof dir, "/tmp/sp-test-fs-XXXXXX");
    if (mkdtemp(dir) == NULL) {
        perror("mkdtemp");
        return 1;
    }
    test_file_rules();
    test_folders();
    test_lock_follows_replace();
    test_replace();
    test_temporaries();
    test_full_disk_is_storage();
    test_path_calls();
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd) != 0)
        fprintf(stderr, "could not remove %s\n", dir);
    return ctest_report("test_fs");
}
