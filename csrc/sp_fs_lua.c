/* Private files and folders (see sp_fs.h for the rules every one of them is
 * held to, checked on the open descriptor):
 *
 *   core.dir(path, { what =, create =, private = })
 *       -> dir | nil, message, fault
 *     what: how messages name the folder ("token folder"); create: made
 *     (0700) when missing; private: the private folder's rules (not a
 *     symbolic link, ours, not writable by others)
 *   dir:open(name, { mode =, what =, follow = })
 *       -> file | false (modes "read", "update", "append": no such file;
 *                        mode "lock": another open file holds the lock)
 *               | nil, message, fault
 *     mode: "read" (an existing file), "update" (existing, read and write),
 *     "append" (existing, every write at the end), "create" (existing or
 *     new), "new" (must be new), "lock" ("create" and an exclusive lock,
 *     without waiting); follow: a symbolic link as the
 *     name is followed (the file it leads to is checked all the same)
 *   dir:replace(name, data, what) -> true | nil, message, fault   (atomic, 0600)
 *   dir:temp(target, what) -> file (a temporary that becomes target when
 *                             published) | nil, message, fault
 *   dir:remove(name) -> true | nil, message, fault   (a missing file is fine)
 *   dir:path(), dir:close()   (close idempotent; also __gc and __close)
 *   core.open(path, opts), core.temp(path, what): the same, in the folder of
 *     path (any folder: the file itself is what is checked)
 *
 *   main's path-based calls, on the same rules (sp_fs.h):
 *   core.private_dir(path)          -> true | nil, message, fault   (a
 *                                      private folder, made 0700 if missing)
 *   core.write_private(path, data)  -> true | nil, message, fault   (dir:replace)
 *   core.try_lock(path)             -> file | false (held elsewhere) | nil,
 *                                      message, fault   (mode "lock"; also
 *                                      file:unlock(), the same as close)
 *   core.append_private(path, data [, sync = true]) -> true | nil, message
 *                                      (the outbox's journal: O_APPEND, a
 *                                      private file)
 *   core.read_private(path, offset, max) -> bytes, size | false (no file) |
 *                                      nil, message: at most max bytes from
 *                                      offset, and the file's size; checked
 *                                      as append_private opens it
 *
 *   file:read([max]) -> the whole file | nil, message, "refused" (over max bytes)
 *   file:read_at(offset, n) -> at most n bytes (up to 1 MiB) from offset,
 *     fewer at the end | nil, message, fault   (the position unchanged)
 *   file:write(s) -> true | nil, message, fault   (at the file's position)
 *   file:sync() -> true | nil, message, fault
 *   file:size() -> bytes
 *   file:truncate(n) -> true | nil, message, fault   (the position moves to n)
 *   file:replace(data) -> true | nil, message, fault: a locked file ("lock")
 *     replaced atomically under its name, the lock kept (sp_fs_replace)
 *   file:publish() -> true | nil, message, fault: a temporary renamed over
 *     its target
 *   file:path(), file:close()   (close idempotent, also __gc and __close; a
 *     temporary closed unpublished is removed, a lock released)
 *
 *   core.uid()  -> the effective user id
 *   core.fsync(file) -> true | nil, message: flush a Lua file and sync it
 *   core.storage_errno(n) -> whether errno n means a full (or failing) disk
 *
 * fault: "refused" (a rule broken), "storage" (ENOSPC, EDQUOT, EFBIG, EIO),
 * "system" (any other reason the system gave). Failures are returned, not
 * raised: callers turn them into errors of their own kind (a full disk is
 * not an argument error) or into a reported degradation. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "sp_lua.h"
#include "sp_fs.h"
#include <lualib.h>   /* LUA_FILEHANDLE */

#define PATH_BYTES 4096
#define LABEL_BYTES 40

typedef struct sp_dir {
    int  fd;   /* -1 once closed */
    char path[PATH_BYTES];
    char label[LABEL_BYTES];
} sp_dir;

typedef struct sp_file {
    int        fd;        /* -1 once closed */
    int        dirfd;     /* its folder (owned), for replace and publish */
    int        locked;    /* opened with mode "lock" */
    int        is_temp;   /* a temporary: temp holds fd */
    sp_fs_temp temp;
    char       name[SP_FS_NAME_MAX];
    char       label[LABEL_BYTES];
    char       shown[PATH_BYTES];
} sp_file;

static const char *const FAULTS[] = { "", "refused", "storage", "system" };

static int push_err(lua_State *L, const sp_fs_err *e)
{
    lua_pushnil(L);
    lua_pushstring(L, e->text);
    lua_pushstring(L, FAULTS[e->fault]);
    return 3;
}

static const char *check_text(lua_State *L, int i, size_t max, const char *what)
{
    size_t n;
    const char *s = luaL_checklstring(L, i, &n);
    if (n == 0 || strlen(s) != n || n >= max)
        luaL_argerror(L, i, lua_pushfstring(L, "%s must be non-empty, without NUL bytes, under %d bytes",
                                             what, (int)max));
    return s;
}

/* A name inside a folder: no '/', not "." or "..". */
static const char *check_name(lua_State *L, int i)
{
    const char *s = check_text(L, i, SP_FS_NAME_MAX, "a file name");
    luaL_argcheck(L, strchr(s, '/') == NULL && strcmp(s, ".") != 0 && strcmp(s, "..") != 0, i,
                  "a file name has no '/' and is not '.' or '..'");
    return s;
}

/* opts.what (default dflt), copied into out. */
static void opt_label(lua_State *L, int t, const char *dflt, char *out)
{
    const char *s = dflt;
    if (lua_istable(L, t)) {
        lua_getfield(L, t, "what");
        if (lua_isstring(L, -1))
            s = lua_tostring(L, -1);
        lua_pop(L, 1);
    }
    snprintf(out, LABEL_BYTES, "%s", s);
}

static int opt_flag(lua_State *L, int t, const char *field)
{
    int v = 0;
    if (lua_istable(L, t)) {
        lua_getfield(L, t, field);
        v = lua_toboolean(L, -1);
        lua_pop(L, 1);
    }
    return v;
}

/* ---- folders ---- */

static sp_dir *check_dir(lua_State *L, int i)
{
    sp_dir *d = luaL_checkudata(L, i, SP_DIR_MT);
    if (d->fd < 0)
        luaL_error(L, "attempt to use a closed " SP_DIR_MT);
    return d;
}

int sp_dir_fd(lua_State *L, int i, const char **path)
{
    sp_dir *d = check_dir(L, i);
    if (path != NULL)
        *path = d->path;
    return d->fd;
}

static int core_dir(lua_State *L)
{
    const char *path = check_text(L, 1, PATH_BYTES, "a folder's path");
    sp_dir *d;
    sp_fs_err e;
    int flags = 0;

    if (!lua_isnoneornil(L, 2))
        luaL_checktype(L, 2, LUA_TTABLE);
    if (opt_flag(L, 2, "create"))
        flags |= SP_FS_CREATE;
    if (opt_flag(L, 2, "private"))
        flags |= SP_FS_PRIVATE;
    d = sp_newuserdata(L, sizeof *d);
    d->fd = -1;
    opt_label(L, 2, "folder", d->label);
    snprintf(d->path, sizeof d->path, "%s", path);
    if (sp_fs_open_dir(path, d->label, flags, &d->fd, &e) != 0)
        return push_err(L, &e);
    luaL_getmetatable(L, SP_DIR_MT);
    lua_setmetatable(L, -2);
    return 1;
}

static int dir_close(lua_State *L)
{
    sp_dir *d = luaL_checkudata(L, 1, SP_DIR_MT);
    if (d->fd >= 0) {
        close(d->fd);
        d->fd = -1;
    }
    return 0;
}

static int dir_path(lua_State *L)
{
    lua_pushstring(L, check_dir(L, 1)->path);
    return 1;
}

static int dir_tostring(lua_State *L)
{
    sp_dir *d = luaL_checkudata(L, 1, SP_DIR_MT);
    lua_pushfstring(L, SP_DIR_MT " (%s%s)", d->path, d->fd >= 0 ? "" : ", closed");
    return 1;
}

/* "<folder>/<name>" for messages. */
static void join(char *out, const char *folder, const char *name)
{
    if (strcmp(folder, ".") == 0)
        snprintf(out, PATH_BYTES, "%s", name);
    else if (strcmp(folder, "/") == 0)
        snprintf(out, PATH_BYTES, "/%s", name);
    else
        snprintf(out, PATH_BYTES, "%s/%s", folder, name);
}

/* ---- files ---- */

static sp_file *new_file(lua_State *L, const char *name, const char *label, const char *folder)
{
    sp_file *f = sp_newuserdata(L, sizeof *f);
    memset(f, 0, sizeof *f);
    f->fd = -1;
    f->dirfd = -1;
    f->temp.fd = -1;
    snprintf(f->name, sizeof f->name, "%s", name);
    snprintf(f->label, sizeof f->label, "%s", label);
    join(f->shown, folder, name);
    return f;
}

static void file_release(sp_file *f)
{
    if (f->is_temp) {
        sp_fs_temp_discard(&f->temp);
        f->is_temp = 0;
    } else if (f->fd >= 0) {
        close(f->fd);   /* drops a lock */
    }
    f->fd = -1;
    if (f->dirfd >= 0) {
        close(f->dirfd);
        f->dirfd = -1;
    }
}

static sp_file *check_file(lua_State *L, int i)
{
    sp_file *f = luaL_checkudata(L, i, SP_FILE_MT);
    if (f->fd < 0)
        luaL_error(L, "attempt to use a closed " SP_FILE_MT);
    return f;
}

/* Opens name in dirfd (kept: a dup is owned by the file) by opts.mode;
 * pushes the results of dir:open. */
static int open_in(lua_State *L, int dirfd, const char *folder, const char *name, int opts)
{
    static const char *const modes[] = { "read", "update", "append", "create", "new", "lock", NULL };
    static const int mode_flags[] = { 0, SP_FS_WRITE, SP_FS_WRITE | SP_FS_APPEND, SP_FS_WRITE | SP_FS_CREATE,
                                      SP_FS_WRITE | SP_FS_CREATE | SP_FS_EXCL, SP_FS_CREATE };
    enum { LOCK = 5 };
    char label[LABEL_BYTES];
    int mode, flags, rc;
    sp_file *f;
    sp_fs_err e;

    luaL_checktype(L, opts, LUA_TTABLE);
    lua_getfield(L, opts, "mode");
    mode = luaL_checkoption(L, -1, NULL, modes);
    lua_pop(L, 1);
    flags = mode_flags[mode] | (opt_flag(L, opts, "follow") ? SP_FS_FOLLOW : 0);
    opt_label(L, opts, "file", label);
    f = new_file(L, name, label, folder);
    luaL_getmetatable(L, SP_FILE_MT);
    lua_setmetatable(L, -2);   /* __gc closes whatever is set below */
    f->dirfd = fcntl(dirfd, F_DUPFD_CLOEXEC, 0);
    if (f->dirfd < 0) {
        e.fault = SP_FS_SYSTEM;
        snprintf(e.text, sizeof e.text, "cannot open %s %s: %s", label, f->shown, strerror(errno));
        return push_err(L, &e);
    }
    if (mode == LOCK) {
        rc = sp_fs_lock(f->dirfd, name, label, f->shown, flags, &f->fd, &e);
        f->locked = 1;
    } else {
        rc = sp_fs_open(f->dirfd, name, label, f->shown, flags, &f->fd, &e);
    }
    if (rc < 0) {
        file_release(f);
        return push_err(L, &e);
    }
    if (rc > 0) {
        file_release(f);
        lua_pushboolean(L, 0);
        return 1;
    }
    return 1;
}

static int dir_open(lua_State *L)
{
    sp_dir *d = check_dir(L, 1);
    return open_in(L, d->fd, d->path, check_name(L, 2), 3);
}

/* Splits path into its folder and its last part (into dir and name);
 * raises on a path that names no file. */
static void split(lua_State *L, int i, char *dir, char *name)
{
    const char *path = check_text(L, i, PATH_BYTES, "a path");
    const char *slash = strrchr(path, '/');
    if (slash == NULL) {
        strcpy(dir, ".");
        snprintf(name, SP_FS_NAME_MAX, "%s", path);
    } else {
        size_t n = (size_t)(slash - path);
        if (n == 0)
            strcpy(dir, "/");
        else {
            memcpy(dir, path, n);
            dir[n] = '\0';
        }
        snprintf(name, SP_FS_NAME_MAX, "%s", slash + 1);
    }
    luaL_argcheck(L, name[0] != '\0' && strcmp(name, ".") != 0 && strcmp(name, "..") != 0
                  && strlen(slash ? slash + 1 : path) < SP_FS_NAME_MAX, i,
                  "a path must end with a file name (under 256 bytes)");
}

/* The folder of a path given by the caller (any folder: the file in it is
 * what the rules apply to), or pushes the failure and returns -1. */
static int open_folder(lua_State *L, const char *dir, const char *label, sp_fs_err *e)
{
    char what[LABEL_BYTES + 16];
    int fd;
    snprintf(what, sizeof what, "the folder of %s", label);
    if (sp_fs_open_dir(dir, what, 0, &fd, e) != 0) {
        push_err(L, e);
        return -1;
    }
    return fd;
}

static int core_open(lua_State *L)
{
    char dir[PATH_BYTES], name[SP_FS_NAME_MAX], label[LABEL_BYTES];
    sp_fs_err e;
    int fd, n, existing;

    split(L, 1, dir, name);
    luaL_checktype(L, 2, LUA_TTABLE);
    opt_label(L, 2, "file", label);
    lua_getfield(L, 2, "mode");
    existing = lua_isstring(L, -1) && (strcmp(lua_tostring(L, -1), "read") == 0
                                       || strcmp(lua_tostring(L, -1), "update") == 0
                                       || strcmp(lua_tostring(L, -1), "append") == 0);
    lua_pop(L, 1);
    fd = open_folder(L, dir, label, &e);
    if (fd < 0) {
        /* No folder, so no such file either (modes that want one). */
        if (existing && e.errnum == ENOENT) {
            lua_settop(L, 0);
            lua_pushboolean(L, 0);
            return 1;
        }
        return 3;
    }
    n = open_in(L, fd, dir, name, 2);
    close(fd);
    return n;
}

static int dir_replace(lua_State *L)
{
    sp_dir *d = check_dir(L, 1);
    const char *name = check_name(L, 2);
    size_t n;
    const char *data = luaL_checklstring(L, 3, &n);
    const char *label = luaL_optstring(L, 4, "file");
    char shown[PATH_BYTES];
    sp_fs_err e;

    join(shown, d->path, name);
    if (sp_fs_replace(d->fd, name, label, shown, data, n, NULL, &e) != 0)
        return push_err(L, &e);
    lua_pushboolean(L, 1);
    return 1;
}

static int dir_remove(lua_State *L)
{
    sp_dir *d = check_dir(L, 1);
    const char *name = check_name(L, 2);
    char shown[PATH_BYTES];
    sp_fs_err e;

    if (unlinkat(d->fd, name, 0) != 0 && errno != ENOENT) {
        join(shown, d->path, name);
        e.fault = sp_fs_storage_errno(errno) ? SP_FS_STORAGE : SP_FS_SYSTEM;
        snprintf(e.text, sizeof e.text, "cannot remove %s: %s", shown, strerror(errno));
        return push_err(L, &e);
    }
    lua_pushboolean(L, 1);
    return 1;
}

static int temp_in(lua_State *L, int dirfd, const char *folder, const char *target, const char *label)
{
    sp_file *f = new_file(L, target, label, folder);
    sp_fs_err e;

    luaL_getmetatable(L, SP_FILE_MT);
    lua_setmetatable(L, -2);
    f->dirfd = fcntl(dirfd, F_DUPFD_CLOEXEC, 0);
    if (f->dirfd < 0) {
        e.fault = SP_FS_SYSTEM;
        snprintf(e.text, sizeof e.text, "cannot open %s %s: %s", label, f->shown, strerror(errno));
        return push_err(L, &e);
    }
    if (sp_fs_temp_open(f->dirfd, target, label, f->shown, 0, &f->temp, &e) != 0) {
        file_release(f);
        return push_err(L, &e);
    }
    f->is_temp = 1;
    f->fd = f->temp.fd;
    return 1;
}

static int dir_temp(lua_State *L)
{
    sp_dir *d = check_dir(L, 1);
    return temp_in(L, d->fd, d->path, check_name(L, 2), luaL_optstring(L, 3, "file"));
}

static int core_temp(lua_State *L)
{
    char dir[PATH_BYTES], name[SP_FS_NAME_MAX];
    const char *label = luaL_optstring(L, 2, "file");
    sp_fs_err e;
    int fd, n;

    split(L, 1, dir, name);
    fd = open_folder(L, dir, label, &e);
    if (fd < 0)
        return 3;
    n = temp_in(L, fd, dir, name, label);
    close(fd);
    return n;
}

/* A read of f that failed with errnum: what was read so far is dropped,
 * and the failure is returned as push_err returns one. */
static int read_failed(lua_State *L, luaL_Buffer *b, const sp_file *f, int errnum)
{
    sp_fs_err e;
    luaL_pushresult(b);
    lua_pop(L, 1);
    e.fault = sp_fs_storage_errno(errnum) ? SP_FS_STORAGE : SP_FS_SYSTEM;
    snprintf(e.text, sizeof e.text, "cannot read %s %s: %s", f->label, f->shown, strerror(errnum));
    return push_err(L, &e);
}

static int file_read(lua_State *L)
{
    sp_file *f = check_file(L, 1);
    lua_Integer max = luaL_optinteger(L, 2, 1 << 20);
    luaL_Buffer b;
    struct stat st;
    off_t at = 0;
    sp_fs_err e;

    luaL_argcheck(L, max >= 0 && max < ((lua_Integer)1 << 40), 2, "max must be from 0 to 2^40 bytes");
    if (fstat(f->fd, &st) == 0 && st.st_size > (off_t)max) {
        e.fault = SP_FS_REFUSED;
        snprintf(e.text, sizeof e.text, "%s %s is larger than %lld bytes (%lld): refusing it", f->label,
                 f->shown, (long long)max, (long long)st.st_size);
        return push_err(L, &e);
    }
    luaL_buffinit(L, &b);
    for (;;) {
        char *p = luaL_prepbuffer(&b);
        ssize_t n = pread(f->fd, p, LUAL_BUFFERSIZE, at);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return read_failed(L, &b, f, errno);
        if (n == 0)
            break;
        luaL_addsize(&b, (size_t)n);
        at += n;
        if (at > (off_t)max) {   /* it grew since the fstat */
            luaL_pushresult(&b);
            lua_pop(L, 1);
            e.fault = SP_FS_REFUSED;
            snprintf(e.text, sizeof e.text, "%s %s is larger than %lld bytes: refusing it", f->label,
                     f->shown, (long long)max);
            return push_err(L, &e);
        }
    }
    luaL_pushresult(&b);
    return 1;
}

/* At most n bytes from offset (fewer at the end of the file), without
 * moving the position: a prefix of a file that may be large (the header of
 * a rejects file a new run appends to). */
#define SP_READ_AT_MAX (1 << 20)
static int file_read_at(lua_State *L)
{
    sp_file *f = check_file(L, 1);
    lua_Integer offset = sp_checkinteger(L, 2);
    lua_Integer n = sp_checkinteger(L, 3);
    luaL_Buffer b;
    size_t got = 0;

    luaL_argcheck(L, offset >= 0 && offset < ((lua_Integer)1 << 53), 2, "offset must be from 0 to 2^53");
    luaL_argcheck(L, n >= 0 && n <= SP_READ_AT_MAX, 3, "n must be from 0 to 1 MiB");
    luaL_buffinit(L, &b);
    while (got < (size_t)n) {
        size_t want = (size_t)n - got < LUAL_BUFFERSIZE ? (size_t)n - got : LUAL_BUFFERSIZE;
        char *p = luaL_prepbuffer(&b);
        ssize_t r = pread(f->fd, p, want, (off_t)offset + (off_t)got);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0)
            return read_failed(L, &b, f, errno);
        if (r == 0)
            break;
        luaL_addsize(&b, (size_t)r);
        got += (size_t)r;
    }
    luaL_pushresult(&b);
    return 1;
}

static int file_write(lua_State *L)
{
    sp_file *f = check_file(L, 1);
    size_t n;
    const char *s = luaL_checklstring(L, 2, &n);
    sp_fs_err e;
    if (sp_fs_write_all(f->fd, s, n, f->label, f->shown, &e) != 0)
        return push_err(L, &e);
    lua_pushboolean(L, 1);
    return 1;
}

static int file_sync(lua_State *L)
{
    sp_file *f = check_file(L, 1);
    sp_fs_err e;
    if (sp_fs_sync(f->fd, f->label, f->shown, &e) != 0)
        return push_err(L, &e);
    lua_pushboolean(L, 1);
    return 1;
}

static int file_size(lua_State *L)
{
    sp_file *f = check_file(L, 1);
    struct stat st;
    if (fstat(f->fd, &st) != 0)
        return luaL_error(L, "cannot inspect %s: %s", f->shown, strerror(errno));
    lua_pushinteger(L, (lua_Integer)st.st_size);
    return 1;
}

static int file_truncate(lua_State *L)
{
    sp_file *f = check_file(L, 1);
    lua_Integer n = sp_checkinteger(L, 2);
    sp_fs_err e;

    luaL_argcheck(L, n >= 0 && n < ((lua_Integer)1 << 53), 2, "size must be from 0 to 2^53");
    if (ftruncate(f->fd, (off_t)n) != 0 || lseek(f->fd, (off_t)n, SEEK_SET) < 0) {
        int errnum = errno;
        e.fault = sp_fs_storage_errno(errnum) ? SP_FS_STORAGE : SP_FS_SYSTEM;
        snprintf(e.text, sizeof e.text, "cannot cut %s %s: %s", f->label, f->shown, strerror(errnum));
        return push_err(L, &e);
    }
    lua_pushboolean(L, 1);
    return 1;
}

static int file_replace(lua_State *L)
{
    sp_file *f = check_file(L, 1);
    size_t n;
    const char *data = luaL_checklstring(L, 2, &n);
    sp_fs_err e;

    luaL_argcheck(L, f->locked, 1, "only a file opened with mode 'lock' is replaced in place");
    if (sp_fs_replace(f->dirfd, f->name, f->label, f->shown, data, n, &f->fd, &e) != 0)
        return push_err(L, &e);
    lua_pushboolean(L, 1);
    return 1;
}

static int file_publish(lua_State *L)
{
    sp_file *f = check_file(L, 1);
    sp_fs_err e;

    luaL_argcheck(L, f->is_temp, 1, "only a temporary file is published");
    if (sp_fs_temp_publish(&f->temp, f->label, f->shown, &e) != 0)
        return push_err(L, &e);
    f->is_temp = 0;
    f->fd = -1;
    file_release(f);
    lua_pushboolean(L, 1);
    return 1;
}

static int file_close(lua_State *L)
{
    file_release(luaL_checkudata(L, 1, SP_FILE_MT));
    return 0;
}

static int file_path(lua_State *L)
{
    lua_pushstring(L, ((sp_file *)luaL_checkudata(L, 1, SP_FILE_MT))->shown);
    return 1;
}

static int file_tostring(lua_State *L)
{
    sp_file *f = luaL_checkudata(L, 1, SP_FILE_MT);
    lua_pushfstring(L, SP_FILE_MT " (%s %s%s)", f->label, f->shown,
                    f->fd < 0 ? ", closed" : f->locked ? ", locked" : f->is_temp ? ", temporary" : "");
    return 1;
}

/* ---- the rest ---- */

static int core_uid(lua_State *L)
{
    lua_pushinteger(L, (lua_Integer)geteuid());
    return 1;
}

static int core_fsync(lua_State *L)
{
    /* A Lua file handle starts with its FILE * (5.1's FILE **, 5.2+'s
     * luaL_Stream). */
    FILE **pf = luaL_checkudata(L, 1, LUA_FILEHANDLE);
    FILE *f = *pf;
#if LUA_VERSION_NUM >= 502
    if (((luaL_Stream *)pf)->closef == NULL)
        f = NULL;
#endif
    if (f == NULL)
        return luaL_argerror(L, 1, "attempt to use a closed file");
    if (fflush(f) != 0 || fsync(fileno(f)) != 0) {
        lua_pushnil(L);
        lua_pushstring(L, strerror(errno));
        return 2;
    }
    lua_pushboolean(L, 1);
    return 1;
}

static int core_storage_errno(lua_State *L)
{
    lua_pushboolean(L, lua_type(L, 1) == LUA_TNUMBER && sp_fs_storage_errno((int)lua_tointeger(L, 1)));
    return 1;
}

static int push_failure(lua_State *L, const char *err)
{
    lua_pushnil(L);
    lua_pushstring(L, err);
    return 2;
}

static int core_private_dir(lua_State *L)
{
    const char *path = check_text(L, 1, PATH_BYTES, "a path");
    sp_fs_err e;
    int fd;

    if (sp_fs_open_dir(path, "folder", SP_FS_CREATE | SP_FS_PRIVATE, &fd, &e) != 0)
        return push_err(L, &e);
    close(fd);
    lua_pushboolean(L, 1);
    return 1;
}

static int core_write_private(lua_State *L)
{
    char dir[PATH_BYTES], name[SP_FS_NAME_MAX];
    size_t n;
    const char *data = luaL_checklstring(L, 2, &n);
    const char *path = check_text(L, 1, PATH_BYTES, "a path");
    sp_fs_err e;
    int fd, rc;

    split(L, 1, dir, name);
    fd = open_folder(L, dir, "file", &e);
    if (fd < 0)
        return 3;
    rc = sp_fs_replace(fd, name, "file", path, data, n, NULL, &e);
    close(fd);
    if (rc != 0)
        return push_err(L, &e);
    lua_pushboolean(L, 1);
    return 1;
}

static int core_try_lock(lua_State *L)
{
    check_text(L, 1, PATH_BYTES, "a path");
    lua_settop(L, 1);
    lua_createtable(L, 0, 2);
    lua_pushliteral(L, "lock");
    lua_setfield(L, -2, "mode");
    lua_pushliteral(L, "lock file");
    lua_setfield(L, -2, "what");
    return core_open(L);
}

static int core_append_private(lua_State *L)
{
    char err[512];
    size_t n;
    const char *path = check_text(L, 1, PATH_BYTES, "a path");
    const char *data = luaL_checklstring(L, 2, &n);
    int sync = lua_isnoneornil(L, 3) ? 1 : lua_toboolean(L, 3);
    if (sp_fs_append_private(path, data, n, sync, err, sizeof err) != 0)
        return push_failure(L, err);
    lua_pushboolean(L, 1);
    return 1;
}

/* The most one read_private call returns (a bound on what a hostile file
 * can make us allocate at once). */
#define SP_READ_MAX (64 * 1024 * 1024)

static int core_read_private(lua_State *L)
{
    char err[512];
    const char *path = check_text(L, 1, PATH_BYTES, "a path");
    lua_Integer offset = luaL_checkinteger(L, 2);
    lua_Integer max = luaL_checkinteger(L, 3);
    long long size = 0;
    luaL_Buffer b;
    size_t left;
    int fd;

    luaL_argcheck(L, offset >= 0, 2, "offset must be >= 0");
    luaL_argcheck(L, max >= 0 && max <= SP_READ_MAX, 3, "max must be from 0 to 64 MiB");
    fd = sp_fs_open_private(path, &size, err, sizeof err);
    if (fd == -2) {
        lua_pushboolean(L, 0);
        return 1;
    }
    if (fd < 0)
        return push_failure(L, err);
    if (lseek(fd, (off_t)offset, SEEK_SET) < 0) {
        int e = errno;
        close(fd);
        snprintf(err, sizeof err, "cannot seek in %s: %s", path, strerror(e));
        return push_failure(L, err);
    }
    left = (size_t)max;
    luaL_buffinit(L, &b);
    while (left > 0) {
        size_t want = left < LUAL_BUFFERSIZE ? left : LUAL_BUFFERSIZE;
        char *p = luaL_prepbuffer(&b);
        ssize_t got = read(fd, p, want);
        if (got < 0 && errno == EINTR)
            continue;
        if (got < 0) {
            int e = errno;
            close(fd);
            snprintf(err, sizeof err, "cannot read %s: %s", path, strerror(e));
            return push_failure(L, err);
        }
        if (got == 0)
            break;
        luaL_addsize(&b, (size_t)got);
        left -= (size_t)got;
    }
    close(fd);
    luaL_pushresult(&b);
    lua_pushinteger(L, (lua_Integer)size);
    return 2;
}

void sp_open_fs(lua_State *L)
{
    static const luaL_Reg dir_methods[] = {
        { "open", dir_open },
        { "replace", dir_replace },
        { "remove", dir_remove },
        { "temp", dir_temp },
        { "path", dir_path },
        { "close", dir_close },
        { NULL, NULL }
    };
    static const luaL_Reg dir_meta[] = {
        { "__gc", dir_close },
        { "__close", dir_close },
        { "__tostring", dir_tostring },
        { NULL, NULL }
    };
    static const luaL_Reg file_methods[] = {
        { "read", file_read },
        { "read_at", file_read_at },
        { "write", file_write },
        { "sync", file_sync },
        { "size", file_size },
        { "truncate", file_truncate },
        { "replace", file_replace },
        { "publish", file_publish },
        { "path", file_path },
        { "close", file_close },
        { "unlock", file_close },
        { NULL, NULL }
    };
    static const luaL_Reg file_meta[] = {
        { "__gc", file_close },
        { "__close", file_close },
        { "__tostring", file_tostring },
        { NULL, NULL }
    };
    static const luaL_Reg funcs[] = {
        { "dir", core_dir },
        { "open", core_open },
        { "temp", core_temp },
        { "uid", core_uid },
        { "fsync", core_fsync },
        { "storage_errno", core_storage_errno },
        { "private_dir", core_private_dir },
        { "write_private", core_write_private },
        { "try_lock", core_try_lock },
        { "append_private", core_append_private },
        { "read_private", core_read_private },
        { NULL, NULL }
    };
    sp_newclass(L, SP_DIR_MT, dir_methods, dir_meta);
    sp_newclass(L, SP_FILE_MT, file_methods, file_meta);
    sp_setfuncs(L, funcs);
}
