/* Private files for the file token store (see sp_fs.h):
 *
 *   core.private_dir(path)          -> true | nil, message
 *   core.write_private(path, data)  -> true | nil, message   (atomic, 0600)
 *   core.try_lock(path)             -> lock | false (held elsewhere) | nil, message
 *   lock:unlock()                   idempotent; also __gc and __close
 *   core.uid()                      -> the effective user id (folder names)
 *   core.fsync(file)                -> true | nil, message: flush a Lua file
 *                                      and sync it to disk (bulk import's
 *                                      rejects file, before its journal)
 *   core.append_private(path, data [, sync = true]) -> true | nil, message
 *                                      (the outbox's journal: O_APPEND, no
 *                                      symbolic link, this user's regular file)
 *   core.read_private(path, offset, max) -> bytes, size | false (no file) |
 *                                      nil, message: at most max bytes from
 *                                      offset, and the file's size; checked
 *                                      as append_private opens it
 *
 * Failures are returned, not raised: the store turns them into a reported
 * degradation, never a crash. */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "sp_lua.h"
#include "sp_fs.h"
#include <lualib.h>   /* LUA_FILEHANDLE */

typedef struct sp_filelock {
    int fd;   /* -1 once released */
} sp_filelock;

static const char *check_path(lua_State *L, int i)
{
    size_t n;
    const char *p = luaL_checklstring(L, i, &n);
    luaL_argcheck(L, n > 0 && strlen(p) == n, i, "path must be non-empty, without NUL bytes");
    return p;
}

static int push_failure(lua_State *L, const char *err)
{
    lua_pushnil(L);
    lua_pushstring(L, err);
    return 2;
}

static int core_private_dir(lua_State *L)
{
    char err[512];
    if (sp_fs_private_dir(check_path(L, 1), err, sizeof err) != 0)
        return push_failure(L, err);
    lua_pushboolean(L, 1);
    return 1;
}

static int core_write_private(lua_State *L)
{
    char err[512];
    size_t n;
    const char *path = check_path(L, 1);
    const char *data = luaL_checklstring(L, 2, &n);
    if (sp_fs_write_private(path, data, n, err, sizeof err) != 0)
        return push_failure(L, err);
    lua_pushboolean(L, 1);
    return 1;
}

static int core_try_lock(lua_State *L)
{
    char err[512];
    const char *path = check_path(L, 1);
    sp_filelock *lk = sp_newuserdata(L, sizeof *lk);
    int rc;

    lk->fd = -1;
    luaL_getmetatable(L, SP_FILELOCK_MT);
    lua_setmetatable(L, -2);
    rc = sp_fs_try_lock(path, &lk->fd, err, sizeof err);
    if (rc < 0)
        return push_failure(L, err);
    if (rc > 0) {
        lua_pushboolean(L, 0);
        return 1;
    }
    return 1;
}

static int filelock_unlock(lua_State *L)
{
    sp_filelock *lk = luaL_checkudata(L, 1, SP_FILELOCK_MT);
    if (lk->fd >= 0) {
        close(lk->fd);   /* drops the flock */
        lk->fd = -1;
    }
    return 0;
}

static int filelock_tostring(lua_State *L)
{
    sp_filelock *lk = luaL_checkudata(L, 1, SP_FILELOCK_MT);
    lua_pushstring(L, lk->fd >= 0 ? SP_FILELOCK_MT " (held)" : SP_FILELOCK_MT " (released)");
    return 1;
}

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
    if (fflush(f) != 0 || fsync(fileno(f)) != 0)
        return push_failure(L, strerror(errno));
    lua_pushboolean(L, 1);
    return 1;
}

static int core_append_private(lua_State *L)
{
    char err[512];
    size_t n;
    const char *path = check_path(L, 1);
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
    const char *path = check_path(L, 1);
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
    static const luaL_Reg methods[] = {
        { "unlock", filelock_unlock },
        { NULL, NULL }
    };
    static const luaL_Reg meta[] = {
        { "__gc", filelock_unlock },
        { "__close", filelock_unlock },
        { "__tostring", filelock_tostring },
        { NULL, NULL }
    };
    static const luaL_Reg funcs[] = {
        { "private_dir", core_private_dir },
        { "write_private", core_write_private },
        { "try_lock", core_try_lock },
        { "uid", core_uid },
        { "fsync", core_fsync },
        { "append_private", core_append_private },
        { "read_private", core_read_private },
        { NULL, NULL }
    };
    sp_newclass(L, SP_FILELOCK_MT, methods, meta);
    sp_setfuncs(L, funcs);
}
