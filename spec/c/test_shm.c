/* The host-wide budget: a mapped file shared by real processes (fork), reset
 * on another boot id or an impossible TAT, allocated before it is mapped,
 * and a file cut short seen before it is touched. (The private-file rules
 * it is opened with: test_fs.c.) */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "ctest.h"
#include "sp_limiter.h"
#include "sp_shm.h"

#define S 1000000000ull
#define HOUR (3600ull * S)

static char dir[128];
static sp_fs_err err;

static void path_of(char *out, size_t n, const char *name)
{
    snprintf(out, n, "%s/%s", dir, name);
}

static void test_two_mappings_share_the_word(void)
{
    sp_shm a, b;
    sp_gcra g;
    uint64_t wait;
    char p[512];

    path_of(p, sizeof p, "budget");
    sp_gcra_init(&g, 10, 1, 0);
    CHECK(sp_shm_open(&a, AT_FDCWD, p, p, "boot-1", 5 * S, HOUR, &err) == 0);
    CHECK(sp_shm_open(&b, AT_FDCWD, p, p, "boot-1", 5 * S, HOUR, &err) == 0);
    CHECK_EQ_U64(a.map->tat, 0);
    CHECK(sp_gcra_take(&a.map->tat, &g, 5 * S, 0, &wait) == 0);
    CHECK(sp_gcra_take(&b.map->tat, &g, 5 * S, 0, &wait) == -1);
    CHECK_EQ_U64(wait, g.interval_ns);
    CHECK(sp_gcra_take(&b.map->tat, &g, 5 * S + wait, 0, &wait) == 0);
    sp_shm_close(&a);
    sp_shm_close(&a);   /* idempotent */
    /* Reopened in the same boot: the budget is kept. */
    CHECK(sp_shm_open(&a, AT_FDCWD, p, p, "boot-1", 5 * S, HOUR, &err) == 0);
    CHECK_EQ_U64(a.map->tat, 5 * S + 2 * g.interval_ns);
    sp_shm_close(&a);
    sp_shm_close(&b);
}

static void test_reset_after_reboot_or_impossible_tat(void)
{
    sp_shm m;
    char p[512];
    struct stat st;

    path_of(p, sizeof p, "reboot");
    CHECK(sp_shm_open(&m, AT_FDCWD, p, p, "boot-1", 5 * S, HOUR, &err) == 0);
    m.map->tat = 1000 * S;
    m.map->windows[2].slot[7] = 12345;
    sp_shm_close(&m);
    CHECK(stat(p, &st) == 0 && (st.st_mode & 0777) == 0600);
    /* Another boot: the old TAT means nothing on the new clock. */
    CHECK(sp_shm_open(&m, AT_FDCWD, p, p, "boot-2", 5 * S, HOUR, &err) == 0);
    CHECK_EQ_U64(m.map->tat, 0);
    CHECK_EQ_U64(m.map->windows[2].slot[7], 0);     /* counted on the old clock */
    CHECK(strcmp(m.map->boot_id, "boot-2") == 0);
    m.map->tat = 10 * S;
    sp_shm_close(&m);
    /* Same boot, but a TAT far beyond anything a live budget reaches. */
    CHECK(sp_shm_open(&m, AT_FDCWD, p, p, "boot-2", 5 * S, 2 * S, &err) == 0);
    CHECK_EQ_U64(m.map->tat, 0);
    sp_shm_close(&m);
}

static void test_boot_id_is_read(void)
{
    char id[SP_SHM_BOOT_ID_LEN];
    sp_shm_boot_id(id);
    /* Linux: 36 characters, no newline. */
    CHECK(strlen(id) == 36);
    CHECK(strchr(id, '\n') == NULL);
}

/* Processes taking slots at once from one file never share one: with a
 * burst of PROCS * PER_PROC / 2 at one instant, exactly that many succeed
 * in all. And the window counts, under the file lock, never let more than
 * their limit through. */
#define PROCS 4
#define PER_PROC 500

static void test_processes_share_one_budget(void)
{
    char p[512];
    sp_gcra g;
    sp_window w;
    sp_shm m;
    int fds[2], i;
    pid_t kids[PROCS];
    int all[PROCS * 2];
    size_t got = 0;
    int took = 0, counted = 0;

    path_of(p, sizeof p, "procs");
    sp_gcra_init(&g, 10, PROCS * PER_PROC / 2, 0);
    sp_window_init(&w, 60, PROCS * PER_PROC / 4);
    CHECK(pipe(fds) == 0);
    for (i = 0; i < PROCS; i++) {
        kids[i] = fork();
        if (kids[i] == 0) {
            int out[2] = { 0, 0 }, j;
            uint64_t wait;
            close(fds[0]);
            if (sp_shm_open(&m, AT_FDCWD, p, p, "boot-1", S, HOUR, &err) != 0)
                _exit(2);
            for (j = 0; j < PER_PROC; j++) {
                if (sp_gcra_take(&m.map->tat, &g, S, 0, &wait) == 0)
                    out[0]++;
                if (sp_shm_lock(&m) != 0)
                    _exit(4);
                if (sp_window_wait(&m.map->windows[0], &w, S) == 0) {
                    sp_window_add(&m.map->windows[0], &w, S);
                    out[1]++;
                }
                sp_shm_unlock(&m);
            }
            if (write(fds[1], out, sizeof out) != (ssize_t)sizeof out)
                _exit(3);
            _exit(0);
        }
    }
    close(fds[1]);
    for (;;) {
        ssize_t n = read(fds[0], (char *)all + got, sizeof all - got);
        if (n <= 0)
            break;
        got += (size_t)n;
    }
    close(fds[0]);
    for (i = 0; i < PROCS; i++) {
        int status;
        waitpid(kids[i], &status, 0);
        CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    }
    CHECK(got == sizeof all);
    for (i = 0; i < PROCS; i++) {
        took += all[2 * i];
        counted += all[2 * i + 1];
    }
    CHECK(took == PROCS * PER_PROC / 2);
    CHECK(counted == PROCS * PER_PROC / 4);
}

static void test_refuses_symlink(void)
{
    char p[512], target[512];
    sp_shm m;

    path_of(target, sizeof target, "target");
    path_of(p, sizeof p, "link");
    CHECK(symlink(target, p) == 0);
    CHECK(sp_shm_open(&m, AT_FDCWD, p, p, "boot-1", S, HOUR, &err) == -1);
    CHECK(m.map == NULL);
    CHECK(err.fault == SP_FS_REFUSED);
    CHECK(strstr(err.text, "is a symbolic link") != NULL);
}

/* An older version grew the file with ftruncate: a sparse file, whose pages
 * a full disk cannot supply (SIGBUS at the first write). Opening it now
 * allocates its blocks. */
static void test_sparse_file_is_allocated(void)
{
    char p[512];
    struct stat st;
    sp_shm m;
    int fd;

    path_of(p, sizeof p, "sparse");
    fd = open(p, O_RDWR | O_CREAT | O_EXCL, 0600);
    CHECK(fd >= 0 && ftruncate(fd, sizeof(sp_shm_file)) == 0);
    CHECK(fstat(fd, &st) == 0 && st.st_blocks == 0);
    close(fd);
    CHECK(sp_shm_open(&m, AT_FDCWD, p, p, "boot-1", S, HOUR, &err) == 0);
    CHECK(stat(p, &st) == 0 && st.st_blocks * 512 >= (long long)sizeof(sp_shm_file));
    sp_shm_close(&m);
}

/* A file cut short under a live mapping is seen before it is touched. */
static void test_cut_file_is_seen(void)
{
    char p[512];
    long long size = 0;
    sp_shm m;

    path_of(p, sizeof p, "cut");
    CHECK(sp_shm_open(&m, AT_FDCWD, p, p, "boot-1", S, HOUR, &err) == 0);
    CHECK(sp_shm_intact(&m, &size) == 0);
    CHECK(size == (long long)sizeof(sp_shm_file));
    CHECK(truncate(p, 8) == 0);
    CHECK(sp_shm_intact(&m, &size) == -1);
    CHECK(size == 8);
    sp_shm_close(&m);
    CHECK(sp_shm_intact(&m, &size) == -1);   /* closed */
    /* Opened again, it is whole again. */
    CHECK(sp_shm_open(&m, AT_FDCWD, p, p, "boot-1", S, HOUR, &err) == 0);
    CHECK(sp_shm_intact(&m, NULL) == 0);
    sp_shm_close(&m);
}

int main(void)
{
    char cmd[300];

    snprintf(dir, sizeof dir, "/tmp/sp-test-shm-XXXXXX");
    if (mkdtemp(dir) == NULL) {
        perror("mkdtemp");
        return 1;
    }
    test_two_mappings_share_the_word();
    test_reset_after_reboot_or_impossible_tat();
    test_boot_id_is_read();
    test_processes_share_one_budget();
    test_refuses_symlink();
    test_sparse_file_is_allocated();
    test_cut_file_is_seen();
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd) != 0)
        fprintf(stderr, "could not remove %s\n", dir);
    return ctest_report("test_shm");
}
