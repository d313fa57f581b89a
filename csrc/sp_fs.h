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

/* Appends `data` to `path` (created 0600 when missing) and syncs it to disk
 * (unless sync is 0). The file is opened without following a symbolic link
 * and must be a regular file of this user. A write cut short (a full disk)
 * leaves a partial tail: callers frame their records so that readers skip
 * it (see lua/sendpulse/outbox/file_store.lua). */
int sp_fs_append_private(const char *path, const char *data, size_t len, int sync,
                         char *err, size_t errlen);

/* Opens `path` for reading without following a symbolic link; it must be a
 * regular file of this user. Returns the descriptor, -2 when the file does
 * not exist, -1 on failure. *size gets its size. */
int sp_fs_open_private(const char *path, long long *size, char *err, size_t errlen);

#endif
