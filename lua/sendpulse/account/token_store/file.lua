--- A token store in private files, for the processes of one user on one
-- host (cron jobs, workers) that have no server to share through.
--
--   local store = require("sendpulse.account.token_store.file").new { dir = "/run/user/1000/lua-sendpulse" }
--
-- One file per key, replaced whole by an atomic rename (a reader sees the
-- old token or the new one, never half), mode 0600 in a folder of mode 0700
-- owned by the user. The folder is opened and checked once (core.dir), and
-- every file is opened relative to it and checked on its descriptor (ours,
-- 0600, a regular file, not a link: csrc/sp_fs.h), so another user can
-- neither plant a file nor exchange the folder for theirs. The lock is a
-- flock on a companion file: the kernel drops it when its holder exits or
-- dies, so a crashed process never leaves the others waiting. Keys come
-- from shared_token (a fingerprint of the account), never a secret; they
-- name the files.
--
-- Methods raise on failure (a full disk, a foreign folder): shared_token
-- reports that through the hook and carries on with a local token.

local core = require "sendpulse.core"
local stores = require "sendpulse.stores"

local error, tonumber, type, setmetatable = error, tonumber, type, setmetatable
local os_time, os_getenv = os.time, os.getenv
local format = string.format

local _M = {}

local FORMAT = "sendpulse-token 1"
-- A token file is the format line, a time and a token of at most 4096 bytes.
local MAX_FILE = 8192

--- The folder used when none is given: the user's runtime folder (a tmpfs
-- that only the user can read, emptied at logout and reboot), else a folder
-- of our own in /tmp named after the user id.
function _M.default_dir()
  local xdg = os_getenv("XDG_RUNTIME_DIR")
  if xdg and xdg ~= "" then return xdg .. "/lua-sendpulse" end
  return "/tmp/lua-sendpulse-" .. core.uid()
end

local FileStore = {}
FileStore.__index = FileStore
FileStore.__name = "sendpulse.account.token_store.file"

--- new{ dir = path } -> store (sendpulse.stores: the interface). The
-- folder is created (0700) on first use.
function _M.new(opts)
  opts = stores.options(opts, "token_store.file.new", { "dir" })
  local dir = opts.dir
  if dir ~= nil and (type(dir) ~= "string" or dir == "") then
    error("token_store.file.new: 'dir' must be a non-empty path (string)", 2)
  end
  return setmetatable({ dir = dir or _M.default_dir(), folder = nil, locks = {} }, FileStore)
end

-- The folder (created 0700 and checked on first use, then kept open: every
-- file is opened relative to it), and key's file name with `suffix`.
function FileStore:name(key, suffix)
  if not self.folder then
    local folder, err = core.dir(self.dir, { what = "token folder", create = true, private = true })
    if not folder then error(err, 0) end
    self.folder = folder
  end
  return (key:gsub("[^%w_.-]", "_")) .. suffix
end

function FileStore:get(key)
  local name = self:name(key, ".token")
  local f, err = self.folder:open(name, { mode = "read", what = "token file" })
  if f == false then return nil end   -- none yet
  if not f then error(err, 0) end
  local text, rerr = f:read(MAX_FILE)
  f:close()
  if not text then error(rerr, 0) end
  if text:sub(1, #FORMAT + 1) ~= FORMAT .. "\n" then return nil end   -- foreign: fetch anew
  local expires, token = text:match("^(%d+)\n(.+)$", #FORMAT + 2)
  if not expires then return nil end   -- damaged: fetch anew
  local left = tonumber(expires) - os_time()
  if left <= 0 then return nil end
  return token, left
end

function FileStore:set(key, token, ttl)
  local name = self:name(key, ".token")
  local ok, err = self.folder:replace(name, format("%s\n%d\n%s", FORMAT, os_time() + math.floor(ttl), token),
                                      "token file")
  if not ok then error(err, 0) end
end

function FileStore:delete(key)
  local name = self:name(key, ".token")
  local ok, err = self.folder:remove(name)
  if not ok then error(err, 0) end
end

-- ttl is not needed: a dead holder's lock goes with it.
function FileStore:lock(key)
  if self.locks[key] then return false end
  local name = self:name(key, ".lock")
  local lock, err = self.folder:open(name, { mode = "lock", what = "token lock file" })
  if lock == nil then error(err, 0) end
  if not lock then return false end
  self.locks[key] = lock
  return true
end

function FileStore:unlock(key)
  local lock = self.locks[key]
  if lock then
    self.locks[key] = nil
    lock:close()
  end
end

-- A window's count in key's ".count" file: "<start> <n>" (seconds since
-- 1970). Counted while the process holds the key's lock (shared_token asks
-- then); without it two processes may count one.
function FileStore:count(key, seconds)
  local name = self:name(key, ".count")
  local now, start, n = os_time(), nil, 0
  local f, err = self.folder:open(name, { mode = "read", what = "token count file" })
  if f == nil then error(err, 0) end
  if f then
    local text = f:read(64) or ""   -- "<start> <n>": a longer file is no count of ours
    f:close()
    local s, c = text:match("^(%d+) (%d+)$")
    start, n = tonumber(s), tonumber(c) or 0
  end
  if not start or now - start >= seconds or start > now then start, n = now, 0 end
  n = n + 1
  local ok, werr = self.folder:replace(name, format("%d %d", start, n), "token count file")
  if not ok then error(werr, 0) end
  return n
end

FileStore.__tostring = function(self) return "sendpulse.account.token_store.file (" .. self.dir .. ")" end

return _M
