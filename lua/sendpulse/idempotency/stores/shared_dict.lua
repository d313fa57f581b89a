--- Idempotency records in an nginx shared dict, for all workers of one nginx.
--
--   lua_shared_dict sendpulse 10m;     # nginx.conf
--   local store = require("sendpulse.idempotency.stores.shared_dict").new("sendpulse")
--   store:get(key)                  -> text | false (none) | nil, message
--   store:swap(key, old, new, ttl)  -> true | false, current | nil, message
--
-- A dict has no compare-and-swap, so a swap runs under a dict lock, as the
-- shared budget does (sendpulse.account.limiter.shared_dict): `add` of a
-- lock key succeeds for exactly one worker, which reads, compares, writes
-- and deletes the lock with no yield in between (microseconds). A worker
-- that finds it taken spins, then sleeps 1 ms where nginx allows it, for
-- at most LOCK_WAIT seconds. The lock expires by itself after LOCK_TTL, so
-- a worker killed in between cannot wedge the key. The dict's size is the
-- bound: a set that would evict another record is refused (`safe_set`),
-- since a forgotten record is a message that can be sent twice.
local core = require "sendpulse.core"
local nginx = require "sendpulse.nginx"

local type, tostring, setmetatable, error = type, tostring, setmetatable, error
local format = string.format
local monotonic = core.monotonic

local _M = {}

_M.LOCK_TTL = 1
_M.LOCK_WAIT = 2
local SPINS = 50

local Store = {}
Store.__index = Store
Store.__name = "sendpulse.idempotency.stores.shared_dict"

--- new(name) -> store; raises when the dict does not exist.
function _M.new(name)
  local dict, why = nginx.shared_dict(name)
  if not dict then error("idempotency.stores.shared_dict.new: " .. why, 2) end
  return setmetatable({ dict = dict, name = name }, Store)
end

local function failed(self, op, err)
  return nil, format("shared dict '%s': %s failed: %s", self.name, op, tostring(err))
end

function Store:get(key)
  local v, err = self.dict:get(key)
  if v == nil then
    if err then return failed(self, "get", err) end
    return false
  end
  if type(v) ~= "string" then return nil, format("shared dict '%s': key %s holds a %s", self.name, key, type(v)) end
  return v
end

local function acquire(self, lock)
  local deadline = monotonic() + _M.LOCK_WAIT
  local spins = 0
  while true do
    local ok, err = self.dict:add(lock, true, _M.LOCK_TTL)
    if ok then return true end
    if err ~= "exists" then return failed(self, "lock", err) end
    if monotonic() > deadline then
      return nil, format("shared dict '%s': the lock of a record stayed taken %g s", self.name, _M.LOCK_WAIT)
    end
    spins = spins + 1
    if spins > SPINS then nginx.sleep(0.001) end
  end
end

function Store:swap(key, old, new, ttl)
  local lock = key .. ":lock"
  local ok, err = acquire(self, lock)
  if not ok then return nil, err end
  local cur
  cur, err = self:get(key)
  if cur == nil then
    self.dict:delete(lock)
    return nil, err
  end
  if cur ~= old then
    self.dict:delete(lock)
    return false, cur
  end
  local set_ok, set_err
  if new == false then
    self.dict:delete(key)
    set_ok = true
  else
    set_ok, set_err = self.dict:safe_set(key, new, ttl)
  end
  self.dict:delete(lock)
  if not set_ok then return failed(self, "set", set_err) end
  return true
end

Store.__tostring = function(self) return format("%s (%s)", Store.__name, self.name) end

return _M
