/* sp_cleanup: a registered file is removed when a signal ends the process,
 * which still ends by that signal; a released one stays; a signal the
 * process ignores keeps being ignored. Each case runs in a child process
 * (the signal ends it), the parent checks its status and the file. */
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "ctest.h"
#include "sp_cleanup.h"

static char dir[] = "/tmp/sp-cleanup-XXXXXX";

static void make_file(const char *path)
{
    int fd = open(path, O_CREAT | O_WRONLY | O_TRUNC, 0600);
    if (fd >= 0)
        close(fd);
}

static int exists(const char *path)
{
    struct stat st;
    return lstat(path, &st) == 0;
}

/* Runs `body` in a child; returns its wait status. The child starts with
 * the default action for each signal the cases raise: a suite started in
 * the background by a shell without job control inherits SIGINT and
 * SIGQUIT ignored (nohup: SIGHUP), and sp_cleanup rightly keeps an ignored
 * signal ignored, so the cases would test the parent's inheritance. */
static int in_child(void (*body)(const char *), const char *path)
{
    int status = 0;
    pid_t pid = fork();
    if (pid == 0) {
        signal(SIGHUP, SIG_DFL);
        signal(SIGINT, SIG_DFL);
        signal(SIGQUIT, SIG_DFL);
        signal(SIGTERM, SIG_DFL);
        body(path);
        _exit(0);
    }
    waitpid(pid, &status, 0);
    return status;
}

static void killed_while_registered(const char *path)
{
    char err[128];
    make_file(path);
    if (sp_cleanup_add(path, err, sizeof err) < 0)
        _exit(3);
    raise(SIGTERM);
    _exit(4);   /* not reached: SIGTERM ends the process */
}

static void killed_after_release(const char *path)
{
    char err[128];
    int slot;
    make_file(path);
    slot = sp_cleanup_add(path, err, sizeof err);
    sp_cleanup_remove(slot);
    if (sp_cleanup_count() != 0)
        _exit(5);
    raise(SIGINT);   /* the default action again: ends the process */
    _exit(4);
}

static void ignored_signal(const char *path)
{
    char err[128];
    signal(SIGHUP, SIG_IGN);
    make_file(path);
    if (sp_cleanup_add(path, err, sizeof err) < 0)
        _exit(3);
    raise(SIGHUP);   /* still ignored: nothing happens */
    _exit(0);
}

static void relative_path_after_chdir(const char *path)
{
    char err[128];
    if (chdir(dir) != 0)
        _exit(6);
    make_file("rel.tmp");
    if (sp_cleanup_add("rel.tmp", err, sizeof err) < 0)
        _exit(3);
    if (chdir("/") != 0)
        _exit(6);
    (void)path;
    raise(SIGHUP);
    _exit(4);
}

static void full_table(const char *path)
{
    char err[128];
    int i;
    for (i = 0; i < SP_CLEANUP_SLOTS; i++)
        if (sp_cleanup_add(path, err, sizeof err) < 0)
            _exit(3);
    if (sp_cleanup_add(path, err, sizeof err) != -1 || strstr(err, "more than") == NULL)
        _exit(7);
    _exit(0);
}

int main(void)
{
    char path[64];
    int status;

    if (mkdtemp(dir) == NULL)
        return 2;
    snprintf(path, sizeof path, "%s/out.tmp", dir);

    status = in_child(killed_while_registered, path);
    CHECK(WIFSIGNALED(status) && WTERMSIG(status) == SIGTERM);
    CHECK(!exists(path));

    status = in_child(killed_after_release, path);
    CHECK(WIFSIGNALED(status) && WTERMSIG(status) == SIGINT);
    CHECK(exists(path));
    unlink(path);

    status = in_child(ignored_signal, path);
    CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    CHECK(exists(path));
    unlink(path);

    snprintf(path, sizeof path, "%s/rel.tmp", dir);
    status = in_child(relative_path_after_chdir, path);
    CHECK(WIFSIGNALED(status) && WTERMSIG(status) == SIGHUP);
    CHECK(!exists(path));

    status = in_child(full_table, path);
    CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);

    rmdir(dir);
    return ctest_report("test_cleanup");
}
