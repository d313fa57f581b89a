--- Idempotency records in private files, for the processes of one user on
-- one host (scripts, cron jobs, the CLI, an outbox's drainers).
--
--   local store = require("sendpulse.idempotency.stores.file").new { dir = "/var/lib/myapp/ledger" }
--   store:get(key)                  -> text | false (none) | nil, message
--   store:swap(key, old, new, ttl)  -> true | false, current | nil, message
--
-- Keys are spread over 256 bucket files by a hash, as the webhook store
-- does (sendpulse.webhooks.stores.file). A swap locks its bucket (flock on a
-- companion file: the kernel drops it if the holder dies), reads it, drops
-- expired lines, compares, and writes it back whole by atomic rename with
-- fsync (core.write_private): a record is on disk before swap returns, and
-- a reader finds the old bucket or the new one, never half. Files are
-- opened without following links and must be this user's regular files, in
-- a folder of mode 0700 owned by the user (core.private_dir). A bucket that
-- does not start with the format line, or a line that does not parse, is
-- refused as the store's failure: never trusted, never silently emptied
-- (that would forget keys).
--
-- Bounded: at most max_entries live records (max_entries / 256 a bucket; a
-- full bucket refuses new keys rather than forget one). Waiting for a lock
-- is bounded by lock_timeout seconds. Blocking file I/O: inside nginx it
-- holds the worker for one fsync.
local core = require "sendpulse.core"

local type, pairs, tostring, tonumber, setmetatable, error = type, pairs, tostring, tonumber, setmetatable, error
local floor, ceil = math.floor, math.ceil
local format, concat = string.format, table.concat
local wallclock = core.wallclock

local _M = {}

_M.MAX_ENTRIES = 256000
_M.LOCK_TIMEOUT = 5
-- The most one bucket file may hold: beyond, it is not ours.
_M.MAX_BUCKET_BYTES = 64 * 1024 * 1024
local BUCKETS = 256
local HEADER = "sendpulse-idempotency 1\n"

--- The folder used when none is given: idempotency/ beside the token
-- store's folder (the user's runtime folder, else /tmp/lua-sendpulse-<uid>).
function _M.default_dir()
  local base = require("sendpulse.account.token_store.file").default_dir()
  return base .. "/idempotency", base
end

local Store = {}
Store.__index = Store
Store.__name = "sendpulse.idempotency.stores.file"

local function whole(opts, name, default, min)
  local v = opts[name]
  if v == nil then return default end
  if type(v) ~= "number" or v < min or v ~= floor(v) then
    error(format("idempotency.stores.file.new: '%s' must be a whole number >= %d", name, min), 3)
  end
  return v
end

--- new{ dir =, max_entries =, lock_timeout = } -> store. The folder is
-- created (0700) on first use.
function _M.new(opts)
  opts = opts or {}
  if type(opts) ~= "table" then error("idempotency.stores.file.new: argument must be a table or nil", 2) end
  for k in pairs(opts) do
    if k ~= "dir" and k ~= "max_entries" and k ~= "lock_timeout" then
      error("idempotency.stores.file.new: unknown option '" .. tostring(k)
        .. "' (known: dir, max_entries, lock_timeout)", 2)
    end
  end
  if opts.dir ~= nil and (type(opts.dir) ~= "string" or opts.dir == "") then
    error("idempotency.stores.file.new: 'dir' must be a non-empty path (string)", 2)
  end
  local dir, parent = opts.dir, nil
  if not dir then dir, parent = _M.default_dir() end
  return setmetatable({
    dir = dir, parent = parent, ready = false,
    per_bucket = ceil(whole(opts, "max_entries", _M.MAX_ENTRIES, BUCKETS) / BUCKETS),
    lock_timeout = whole(opts, "lock_timeout", _M.LOCK_TIMEOUT, 0),
  }, Store)
end

function Store:prepare()
  if self.ready then return true end
  if self.parent then
    local ok, err = core.private_dir(self.parent)
    if not ok then return nil, err end
  end
  local ok, err = core.private_dir(self.dir)
  if not ok then return nil, err end
  self.ready = true
  return true
end

local function bucket_of(self, key)
  return format("%s/%s.records", self.dir, core.fingerprint(key):sub(1, 2))
end

local function lock(self, path)
  local deadline = core.monotonic() + self.lock_timeout
  while true do
    local held, err = core.try_lock(path)
    if held then return held end
    if held == nil then return nil, err end
    if core.monotonic() >= deadline then
      return nil, format("waited %gs for the lock of %s", self.lock_timeout, path)
    end
    core.sleep(0.001)
  end
end

-- The bucket's live records: keys (in order), key -> { expires, text }; or
-- nil, message for a file that is not ours.
local function read_bucket(path, now)
  local text, err = core.read_private(path, 0, _M.MAX_BUCKET_BYTES)
  local keys, recs = {}, {}
  if text == false then return keys, recs end
  if text == nil then return nil, err end
  if #text >= _M.MAX_BUCKET_BYTES then return nil, path .. " is larger than a bucket may be" end
  if text:sub(1, #HEADER) ~= HEADER then
    return nil, path .. " is not an idempotency bucket (its first line is not '" .. HEADER:sub(1, -2) .. "')"
  end
  local at = #HEADER + 1
  while at <= #text do
    local nl = text:find("\n", at, true)
    if not nl then return nil, path .. " ends with a line cut short" end
    local expires, key, rec = text:sub(at, nl - 1):match("^(%d+) (%S+) ({.*})$")
    if not expires then return nil, format("%s: line at byte %d does not parse", path, at) end
    local t = tonumber(expires)
    if t > now then
      if not recs[key] then keys[#keys + 1] = key end
      recs[key] = { t, rec }
    end
    at = nl + 1
  end
  return keys, recs
end

function Store:get(key)
  local ok, err = self:prepare()
  if not ok then return nil, err end
  local keys, recs = read_bucket(bucket_of(self, key), wallclock())
  if not keys then return nil, recs end
  local r = recs[key]
  return r and r[2] or false
end

function Store:swap(key, old, new, ttl)
  if type(key) ~= "string" or key:find("%s") then
    error("idempotency.stores.file:swap: 'key' must be a string without spaces", 2)
  end
  if new and new:find("\n", 1, true) then
    error("idempotency.stores.file:swap: a record must be one line", 2)
  end
  local ok, err = self:prepare()
  if not ok then return nil, err end
  local path = bucket_of(self, key)
  local held, lerr = lock(self, path .. ".lock")
  if not held then return nil, lerr end
  local now = wallclock()
  local keys, recs = read_bucket(path, now)
  if not keys then
    held:unlock()
    return nil, recs
  end
  local cur = recs[key] and recs[key][2] or false
  if cur ~= old then
    held:unlock()
    return false, cur
  end
  if new == false then
    recs[key] = nil
  else
    if not cur then
      local live = 0
      for _ in pairs(recs) do live = live + 1 end
      if live >= self.per_bucket then
        held:unlock()
        return nil, format("%s is full (%d records: max_entries / 256)", path, self.per_bucket)
      end
      keys[#keys + 1] = key
    end
    recs[key] = { ceil(now + ttl), new }
  end
  local lines = { HEADER }
  for i = 1, #keys do
    local k = keys[i]
    local r = recs[k]
    if r then lines[#lines + 1] = format("%d %s %s\n", r[1], k, r[2]) end
  end
  local wok, werr = core.write_private(path, concat(lines))
  held:unlock()
  if not wok then return nil, werr end
  return true
end

Store.__tostring = function(self) return Store.__name .. " (" .. self.dir .. ")" end

return _M
