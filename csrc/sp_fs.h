/* Private files: every file and folder the library keeps for one user
 * (import journals and rejects files, export temporaries, the token store's
 * folder and files, the host budget file, the webhook dedupe store, the
 * command's profile file). Lua-free.
 *
 * A file is opened once, and the rules are checked on the open descriptor
 * (fstat), never on the path: what was checked is what is read or written,
 * whatever another process does to the path meanwhile. A private file:
 *   - is not a symbolic link (O_NOFOLLOW), unless the caller asks to follow
 *     one (SP_FS_FOLLOW: the profile file, which dotfile managers link);
 *     what the link leads to is checked all the same;
 *   - is a regular file: not a folder, FIFO, socket or device. It is opened
 *     with O_NONBLOCK, so a FIFO cannot block the open itself;
 *   - belongs to the effective user;
 *   - has no permission bits for group or others (0600 or less);
 *   - has one name (no hard link that someone else could reach it by),
 *     unless SP_FS_FOLLOW.
 * A private folder (SP_FS_PRIVATE) is not a symbolic link, belongs to the
 * user and is not writable by group or others. Files inside a folder are
 * opened relative to the folder's descriptor (openat): exchanging the folder
 * for another after it was checked changes nothing. New files are created
 * with mode 0600 (O_EXCL where they must be new).
 *
 * Functions return 0 on success (some return SP_FS_MISSING or SP_FS_BUSY,
 * as documented) and -1 on failure, with an sp_fs_err: a message naming
 * the file and the rule it broke or the system's reason (never the file's
 * contents: a token may be in them), and a fault class. */
#ifndef SP_FS_H
#define SP_FS_H

#include <stddef.h>

/* Return values besides 0 and -1. */
#define SP_FS_MISSING 1   /* no such file (and SP_FS_CREATE not given) */
#define SP_FS_BUSY    2   /* another open file holds the lock */

/* Flags of sp_fs_open, sp_fs_lock and sp_fs_open_dir. */
#define SP_FS_WRITE   0x01   /* open for reading and writing */
#define SP_FS_CREATE  0x02   /* create when missing (files 0600, folders 0700) */
#define SP_FS_EXCL    0x04   /* with SP_FS_CREATE: must not exist yet */
#define SP_FS_FOLLOW  0x08   /* a symbolic link as the last part is followed */
#define SP_FS_PRIVATE 0x10   /* sp_fs_open_dir: the rules of a private folder */
#define SP_FS_APPEND  0x20   /* every write goes to the end (O_APPEND) */

typedef enum sp_fs_fault {
    SP_FS_REFUSED = 1,   /* the file breaks a rule above */
    SP_FS_STORAGE,       /* no room: ENOSPC, EDQUOT, EFBIG, or EIO (sp_fs_storage_errno) */
    SP_FS_SYSTEM         /* any other reason the system gave (permission, no folder...) */
} sp_fs_fault;

typedef struct sp_fs_err {
    sp_fs_fault fault;
    int         errnum;   /* the system's errno, 0 for a rule */
    char        text[4096 + 1024];   /* room for a path (PATH_MAX) and the rule */
} sp_fs_err;

/* Whether errno value e means the storage is full (or failing) rather than
 * a wrong path: ENOSPC, EDQUOT, EFBIG, EIO. */
int sp_fs_storage_errno(int e);

/* Opens the folder at `path` (read-only, O_DIRECTORY) into *fd. label names
 * it in messages ("token folder"). SP_FS_CREATE makes it (0700) when
 * missing; SP_FS_PRIVATE applies the private folder's rules (without it,
 * any folder, symbolic links followed: the folder of a journal beside its
 * CSV file). */
int sp_fs_open_dir(const char *path, const char *label, int flags, int *fd, sp_fs_err *e);

/* Opens `name` inside the folder dirfd (AT_FDCWD: the working folder) into
 * *fd and checks the private file's rules on it. flags: SP_FS_WRITE,
 * SP_FS_CREATE, SP_FS_EXCL, SP_FS_FOLLOW, SP_FS_APPEND. shown: the path as messages show
 * it. Returns 0, SP_FS_MISSING, or -1. */
int sp_fs_open(int dirfd, const char *name, const char *label, const char *shown,
               int flags, int *fd, sp_fs_err *e);

/* sp_fs_open (SP_FS_WRITE added) and an exclusive flock without waiting.
 * The lock is on the file the name leads to when it is taken: a file that
 * sp_fs_replace gave the name to meanwhile is opened again. Returns 0 with
 * *fd holding the lock (closing it releases it, and so does the holder's
 * death: no stale lock to detect), SP_FS_BUSY when another open file holds
 * it, SP_FS_MISSING, or -1. */
int sp_fs_lock(int dirfd, const char *name, const char *label, const char *shown,
               int flags, int *fd, sp_fs_err *e);

/* Replaces `name` in dirfd with `data` atomically: written to a new file in
 * the same folder (O_EXCL, mode 0600), synced to disk, renamed over it (and
 * the folder synced). A reader finds the old file or the whole new one,
 * whenever the writer dies. held: NULL, or the caller's locked descriptor
 * of the current file (-1: none): the new file is locked before the rename
 * and replaces *held (the old descriptor is closed, its lock released), so
 * the name always leads to a locked file. */
int sp_fs_replace(int dirfd, const char *name, const char *label, const char *shown,
                  const void *data, size_t len, int *held, sp_fs_err *e);

/* Writes all of data at fd's position (retrying short writes). */
int sp_fs_write_all(int fd, const void *data, size_t len, const char *label,
                    const char *shown, sp_fs_err *e);

/* fsync(fd), reported. */
int sp_fs_sync(int fd, const char *label, const char *shown, sp_fs_err *e);

/* A temporary file that becomes `target` in dirfd when it is complete (an
 * export). Unnamed when the file system can (O_TMPFILE): a process killed
 * before sp_fs_temp_publish leaves nothing behind. Otherwise (or with
 * `named`) it is `<target>.<uid>.tmp`, created with O_EXCL: one left by a
 * killed run of this user is replaced; anything else there (another user's
 * file, a symbolic link) is refused, never followed or adopted. */
#define SP_FS_NAME_MAX 256
typedef struct sp_fs_temp {
    int  fd;                          /* -1 once published or discarded */
    int  dirfd;                       /* not owned */
    char name[SP_FS_NAME_MAX];        /* the named temporary, "" when unnamed */
    char target[SP_FS_NAME_MAX];
} sp_fs_temp;

int sp_fs_temp_open(int dirfd, const char *target, const char *label, const char *shown,
                    int named, sp_fs_temp *t, sp_fs_err *e);

/* Syncs the temporary file, renames it over its target (the folder synced)
 * and closes it. On failure, call sp_fs_temp_discard. */
int sp_fs_temp_publish(sp_fs_temp *t, const char *label, const char *shown, sp_fs_err *e);

/* Closes the descriptor; a named temporary not published is removed.
 * Idempotent. */
void sp_fs_temp_discard(sp_fs_temp *t);

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
