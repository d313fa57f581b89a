--- A token store in private files, for the processes of one user on one
-- host (cron jobs, workers) that have no server to share through.
--
--   local store = require("sendpulse.account.token_store.file").new { dir = "/run/user/1000/lua-sendpulse" }
--
-- One file per key, replaced whole by an atomic rename (a reader sees the
-- old token or the new one, never half), mode 0600 in a folder of mode 0700
-- owned by the user. The lock is a flock on a companion file: the kernel
-- drops it when its holder exits or dies, so a crashed process never leaves
-- the others waiting. Keys come from shared_token (a fingerprint of the
-- account), never a secret; they name the files.
--
-- Methods raise on failure (a full disk, a foreign folder): shared_token
-- reports that through the hook and carries on with a local token.

local core = require "sendpulse.core"
local stores = require "sendpulse.stores"

local error, tonumber, type, setmetatable = error, tonumber, type, setmetatable
local io_open, os_remove, os_time, os_getenv = io.open, os.remove, os.time, os.getenv
local format = string.format

local _M = {}

local FORMAT = "sendpulse-token 1"

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
  return setmetatable({ dir = dir or _M.default_dir(), ready = false, locks = {} }, FileStore)
end

-- The path of key's file with `suffix`; creates and checks the folder once.
function FileStore:path(key, suffix)
  if not self.ready then
    local ok, err = core.private_dir(self.dir)
    if not ok then error(err, 0) end
    self.ready = true
  end
  return format("%s/%s%s", self.dir, (key:gsub("[^%w_.-]", "_")), suffix)
end

function FileStore:get(key)
  local f = io_open(self:path(key, ".token"), "rb")
  if not f then return nil end   -- none yet
  local text = f:read("*a")
  f:close()
  text = text or ""
  if text:sub(1, #FORMAT + 1) ~= FORMAT .. "\n" then return nil end   -- foreign: fetch anew
  local expires, token = text:match("^(%d+)\n(.+)$", #FORMAT + 2)
  if not expires then return nil end   -- damaged: fetch anew
  local left = tonumber(expires) - os_time()
  if left <= 0 then return nil end
  return token, left
end

function FileStore:set(key, token, ttl)
  local ok, err = core.write_private(self:path(key, ".token"),
    format("%s\n%d\n%s", FORMAT, os_time() + math.floor(ttl), token))
  if not ok then error(err, 0) end
end

function FileStore:delete(key)
  local path = self:path(key, ".token")
  local ok, err = os_remove(path)
  if not ok and io_open(path) then error(err, 0) end
end

-- ttl is not needed: a dead holder's lock goes with it.
function FileStore:lock(key)
  if self.locks[key] then return false end
  local lock, err = core.try_lock(self:path(key, ".lock"))
  if lock == nil then error(err, 0) end
  if not lock then return false end
  self.locks[key] = lock
  return true
end

function FileStore:unlock(key)
  local lock = self.locks[key]
  if lock then
    self.locks[key] = nil
    lock:unlock()
  end
end

-- A window's count in key's ".count" file: "<start> <n>" (seconds since
-- 1970). Counted while the process holds the key's lock (shared_token asks
-- then); without it two processes may count one.
function FileStore:count(key, seconds)
  local path = self:path(key, ".count")
  local now, start, n = os_time(), nil, 0
  local f = io_open(path, "rb")
  if f then
    local text = f:read("*a") or ""
    f:close()
    local s, c = text:match("^(%d+) (%d+)$")
    start, n = tonumber(s), tonumber(c) or 0
  end
  if not start or now - start >= seconds or start > now then start, n = now, 0 end
  n = n + 1
  local ok, err = core.write_private(path, format("%d %d", start, n))
  if not ok then error(err, 0) end
  return n
end

FileStore.__tostring = function(self) return "sendpulse.account.token_store.file (" .. self.dir .. ")" end

return _M
