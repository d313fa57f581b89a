--- Seen-event keys in private files, for the processes of one user on one
-- host (several server processes behind one port, cron-driven receivers)
-- that share no server.
--
--   local store = require("sendpulse.webhooks.stores.file").new { dir = "/var/lib/myapp/webhooks" }
--   store:add(key, ttl) -> true (new) | false (seen) | nil, message
--
-- Keys are spread over 256 bucket files by a hash. Adding a key locks its bucket (flock on a
-- companion file: the kernel drops it if the holder dies), reads the
-- bucket, drops expired lines, and writes it back whole by atomic rename,
-- mode 0600, in a folder of mode 0700 owned by the user. The folder is
-- opened and checked once and every file opened relative to it and checked
-- on its descriptor (csrc/sp_fs.h): a file another user planted, or a
-- folder exchanged for theirs, is refused (nil, message: the receiver then
-- delivers the event, failing open). A second process
-- adding the same key waits for the lock and then finds it: exactly one of
-- them gets true.
--
-- Bounded: at most max_entries keys in all (max_entries / 256 per bucket,
-- the oldest dropped first); about 60 bytes per key on disk. Waiting for a
-- lock is bounded by lock_timeout seconds (then nil, message). Blocking
-- file I/O: not for inside nginx (use the shared dict store there).
local core = require "sendpulse.core"
local stores = require "sendpulse.stores"

local type, tostring, tonumber, setmetatable, error = type, tostring, tonumber, setmetatable, error
local floor, ceil = math.floor, math.ceil
local os_getenv, os_time = os.getenv, os.time
local format, concat = string.format, table.concat

local _M = {}

_M.MAX_ENTRIES = 100000
_M.LOCK_TIMEOUT = 2
local BUCKETS = 256
local HEADER = "sendpulse-webhook-keys 1\n"
-- The most a bucket file is read of: far more than its share of the keys
-- at any length a caller plausibly gives (the receiver's are 50 bytes), and
-- a bound on the memory a damaged file can take.
local MAX_BUCKET = 64 * 1024 * 1024

--- The folder used when none is given: webhooks/ in the user's runtime
-- folder, else in a folder of our own in /tmp named after the user id (the
-- token store's folder).
function _M.default_dir()
  local xdg = os_getenv("XDG_RUNTIME_DIR")
  local base = (xdg and xdg ~= "") and (xdg .. "/lua-sendpulse") or ("/tmp/lua-sendpulse-" .. core.uid())
  return base .. "/webhooks", base
end

---@class sendpulse.webhooks.FileStore : sendpulse.webhooks.Store
local Store = {}
Store.__index = Store
Store.__name = "sendpulse.webhooks.stores.file"

local function whole(opts, name, default, min)
  local v = opts[name]
  if v == nil then return default end
  if type(v) ~= "number" or v < min or (min >= 1 and v ~= floor(v)) then
    error(format("stores.file.new: '%s' must be a %s >= %s", name,
      min >= 1 and "whole number" or "number", tostring(min)), 3)
  end
  return v
end

--- new{ dir =, max_entries =, lock_timeout = } -> store (sendpulse.stores:
-- the interface). The folder is created (0700) on first use.
---@param opts? { dir?: string, max_entries?: integer, lock_timeout?: number }
---@return sendpulse.webhooks.FileStore
function _M.new(opts)
  opts = stores.options(opts, "stores.file.new", { "dir", "max_entries", "lock_timeout" })
  if opts.dir ~= nil and (type(opts.dir) ~= "string" or opts.dir == "") then
    error("stores.file.new: 'dir' must be a non-empty path (string)", 2)
  end
  local dir, parent = opts.dir, nil
  if not dir then dir, parent = _M.default_dir() end
  local max = whole(opts, "max_entries", _M.MAX_ENTRIES, BUCKETS)
  return setmetatable({
    dir = dir, parent = parent, folder = nil,
    per_bucket = ceil(max / BUCKETS),
    lock_timeout = whole(opts, "lock_timeout", _M.LOCK_TIMEOUT, 0),
  }, Store)
end

--- The folder, created (0700) and checked once, then kept open.
---@return userdata? folder
---@return string? message
function Store:prepare()
  if self.folder then return self.folder end
  if self.parent then
    local parent, err = core.dir(self.parent, { what = "dedupe folder", create = true, private = true })
    if not parent then return nil, err end
    parent:close()
  end
  local folder, err = core.dir(self.dir, { what = "dedupe folder", create = true, private = true })
  if not folder then return nil, err end
  self.folder = folder
  return folder
end

--- Locks bucket file `name` in `folder` (its companion lock file), within
--- lock_timeout.
---@param folder userdata
---@param name string
---@return userdata? lock
---@return string? message
function Store:lock(folder, name)
  local deadline = core.monotonic() + self.lock_timeout
  while true do
    local lock, err = folder:open(name, { mode = "lock", what = "dedupe lock file" })
    if lock then return lock end
    if lock == nil then return nil, err end
    if core.monotonic() >= deadline then
      return nil, format("waited %gs for the lock of %s/%s", self.lock_timeout, self.dir, name)
    end
    core.sleep(0.001)
  end
end

-- The bucket's live lines as two lists (keys, expiry times), oldest first;
-- nil, message when the file is not one of ours.
local function read_bucket(folder, name, now, max)
  local keys, times = {}, {}
  local f, err = folder:open(name, { mode = "read", what = "dedupe file" })
  if f == false then return keys, times end
  if not f then return nil, err end
  local text
  text, err = f:read(max)
  f:close()
  if not text then return nil, err end
  if text:sub(1, #HEADER) ~= HEADER then return keys, times end   -- foreign or damaged: start over
  for at, key in text:gmatch("(%d+) (%S+)\n", #HEADER + 1) do
    local t = tonumber(at)
    if t > now then keys[#keys + 1], times[#times + 1] = key, t end
  end
  return keys, times
end

---@param key string
---@param ttl number seconds to remember it
---@return boolean? new true: new; false: seen within ttl; nil: failed
---@return string? message why it failed
function Store:add(key, ttl)
  if type(key) ~= "string" or key:find("%s") then
    error("stores.file:add: 'key' must be a string without spaces", 2)
  end
  local folder, err = self:prepare()
  if not folder then return nil, err end
  local name = core.fingerprint(key):sub(1, 2) .. ".keys"
  local lock, lerr = self:lock(folder, name .. ".lock")
  if not lock then return nil, lerr end
  local now = os_time()
  local keys, times = read_bucket(folder, name, now, MAX_BUCKET)
  if not keys then
    lock:close()
    return nil, times
  end
  for i = 1, #keys do
    if keys[i] == key then
      lock:close()
      return false
    end
  end
  keys[#keys + 1], times[#times + 1] = key, now + ceil(ttl)
  local first = #keys - self.per_bucket + 1
  if first < 1 then first = 1 end
  local lines = { HEADER }
  for i = first, #keys do lines[#lines + 1] = format("%d %s\n", times[i], keys[i]) end
  local wok, werr = folder:replace(name, concat(lines), "dedupe file")
  lock:close()
  if not wok then return nil, werr end
  return true
end

Store.__tostring = function(self) return Store.__name .. " (" .. self.dir .. ")" end

return _M
