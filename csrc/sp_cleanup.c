#include "sp_cleanup.h"

#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#ifndef PATH_MAX
#define PATH_MAX 4096
#endif

static const int SIGNALS[] = { SIGHUP, SIGINT, SIGQUIT, SIGTERM };
#define NSIGNALS ((int)(sizeof SIGNALS / sizeof SIGNALS[0]))

/* A slot's path is written before `used` is set and `used` is cleared
 * before the path changes, so the handler only reads whole paths. */
static char paths[SP_CLEANUP_SLOTS][PATH_MAX];
static volatile sig_atomic_t used[SP_CLEANUP_SLOTS];
static int registered;
static int installed[NSIGNALS];
static struct sigaction previous[NSIGNALS];

static void on_signal(int sig)
{
    int i;
    for (i = 0; i < SP_CLEANUP_SLOTS; i++)
        if (used[i])
            unlink(paths[i]);
    /* SA_RESETHAND made the action the default again: the signal, raised
     * once more, ends the process as it would have without us (it is
     * delivered when this handler returns and unblocks it). */
    raise(sig);
}

static void install(void)
{
    struct sigaction ours;
    int i;

    memset(&ours, 0, sizeof ours);
    ours.sa_handler = on_signal;
    ours.sa_flags = SA_RESETHAND;
    sigemptyset(&ours.sa_mask);
    for (i = 0; i < NSIGNALS; i++)
        sigaddset(&ours.sa_mask, SIGNALS[i]);   /* one cleanup at a time */
    for (i = 0; i < NSIGNALS; i++) {
        struct sigaction now;
        installed[i] = 0;
        if (sigaction(SIGNALS[i], NULL, &now) != 0)
            continue;
        if ((now.sa_flags & SA_SIGINFO) || now.sa_handler != SIG_DFL)
            continue;   /* the host's own action, or ignored: left alone */
        if (sigaction(SIGNALS[i], &ours, &previous[i]) == 0)
            installed[i] = 1;
    }
}

static void uninstall(void)
{
    int i;
    for (i = 0; i < NSIGNALS; i++) {
        struct sigaction now;
        if (!installed[i])
            continue;
        installed[i] = 0;
        /* Someone may have set their own action since: keep theirs. */
        if (sigaction(SIGNALS[i], NULL, &now) == 0 && !(now.sa_flags & SA_SIGINFO) &&
            now.sa_handler == on_signal)
            sigaction(SIGNALS[i], &previous[i], NULL);
    }
}

int sp_cleanup_add(const char *path, char *err, size_t errlen)
{
    char full[PATH_MAX];
    int slot, n;

    if (path[0] == '/') {
        n = snprintf(full, sizeof full, "%s", path);
    } else {
        char cwd[PATH_MAX];
        if (getcwd(cwd, sizeof cwd) == NULL) {
            snprintf(err, errlen, "cannot read the current folder: %s", strerror(errno));
            return -1;
        }
        n = snprintf(full, sizeof full, "%s/%s", cwd, path);
    }
    if (n < 0 || (size_t)n >= sizeof full) {
        snprintf(err, errlen, "the path is longer than %d bytes", PATH_MAX - 1);
        return -1;
    }
    for (slot = 0; slot < SP_CLEANUP_SLOTS; slot++)
        if (!used[slot])
            break;
    if (slot == SP_CLEANUP_SLOTS) {
        snprintf(err, errlen, "more than %d files at once", SP_CLEANUP_SLOTS);
        return -1;
    }
    memcpy(paths[slot], full, (size_t)n + 1);
    used[slot] = 1;
    if (registered++ == 0)
        install();
    return slot;
}

void sp_cleanup_remove(int slot)
{
    if (slot < 0 || slot >= SP_CLEANUP_SLOTS || !used[slot])
        return;
    used[slot] = 0;
    if (--registered == 0)
        uninstall();
}

int sp_cleanup_count(void)
{
    return registered;
}
