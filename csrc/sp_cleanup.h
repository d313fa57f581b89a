/* Files to remove when a signal ends the process: the temporary file of an
 * export (written, then renamed over the output when complete) must not be
 * left behind by Ctrl-C, `kill` or a closed terminal. Lua-free.
 *
 * Handlers go only on SIGHUP, SIGINT, SIGQUIT and SIGTERM, and only while a
 * path is registered, and only where the signal's action is the default
 * one (which ends the process): a host that handles or ignores a signal
 * (nginx handles all four; `cmd &` ignores SIGINT) keeps its own action.
 * The handler removes the registered paths, then ends the process with
 * the same signal, so the exit status is what it would have been.
 * SIGKILL cannot be caught: the export's next run removes a temporary file
 * left that way (bulk/export.lua).
 *
 * Slots are few and fixed (no allocation in a handler); a path is made
 * absolute when registered, so a later chdir cannot misdirect the unlink. */
#ifndef SP_CLEANUP_H
#define SP_CLEANUP_H

#include <stddef.h>

#define SP_CLEANUP_SLOTS 8

/* Registers `path`: returns a slot (>= 0), or -1 with a message in err (no
 * free slot, a path too long). The first registration installs the
 * handlers. */
int sp_cleanup_add(const char *path, char *err, size_t errlen);

/* Forgets a slot (the file was renamed or removed by its owner); the last
 * one restores the signals' previous actions where ours are still set. */
void sp_cleanup_remove(int slot);

/* How many paths are registered (for tests). */
int sp_cleanup_count(void);

#endif
