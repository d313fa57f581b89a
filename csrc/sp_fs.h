/* Private files for state shared between processes of one user: a folder
 * only its owner can enter, files written whole (never half-read by another
 * process) with mode 0600, and a lock the kernel drops when its holder dies.
 * Lua-free.
 *
 * Every function returns 0 on success and -1 on failure with a message in
 * err (never the file's contents: a token may be in them). */
#ifndef SP_FS_H
#define SP_FS_H

#include <stddef.h>

/* Creates `path` with mode 0700 when missing. Either way, it must be a real
 * folder (not a symlink) owned by this user and not writable by others:
 * anything else could be another user's trap in a shared /tmp. */
int sp_fs_private_dir(const char *path, char *err, size_t errlen);

/* Checks that an open file is a regular file owned by this user. */
int sp_fs_check_owned(int fd, const char *path, char *err, size_t errlen);

/* Replaces `path` with `data` atomically: written to a temporary file in the
 * same folder (mode 0600), synced to disk, then renamed over it (and the
 * folder synced). */
int sp_fs_write_private(const char *path, const char *data, size_t len,
                        char *err, size_t errlen);

/* Tries to take an exclusive flock on `path` (created 0600 if missing)
 * without waiting. Returns 0 with *fd set when taken, 1 when another open
 * file holds it, -1 on failure. Closing *fd releases it, and so does the
 * holder's death: no stale lock to detect. */
int sp_fs_try_lock(const char *path, int *fd, char *err, size_t errlen);

#endif
