--- A token store over an nginx shared dict (lua_shared_dict), so that all
-- workers of one nginx use one token per account and only one of them
-- fetches it (see sendpulse.account.shared_token for the protocol).
--
--   local store = require("sendpulse.account.token_store.shared_dict").new { dict = "sendpulse" }
--   store:get(key) -> token, seconds_left | nil
--   store:set(key, token, ttl)
--   store:delete(key)
--   store:lock(key, ttl) -> true if this caller now holds the lock
--   store:unlock(key)
--   store:count(key, seconds) -> n   (incr, its key living `seconds`)
--
-- The lock is `add` on a second key: add is atomic across workers (the dict
-- is guarded by one shared-memory mutex) and fails with "exists" while
-- another worker holds it; its expiry frees the lock of a worker that died
-- while fetching. Failures raise an error that names the dict and the
-- operation (never the token): shared_token reports it and carries on with
-- the worker's own token.
--
-- The value keeps its own expiry (wall clock, ngx.now) in front of the
-- token, so get needs neither resty.core's ttl() nor a second key.

local stores = require "sendpulse.stores"

local tonumber, tostring, error, setmetatable = tonumber, tostring, error, setmetatable
local format = string.format
local match = string.match

local _M = {}

local Store = {}
Store.__index = Store
Store.__name = "sendpulse.account.token_store.shared_dict"

--- new{ dict = name } (or the name alone) -> store (sendpulse.stores: the
-- interface); raises when the dict does not exist.
function _M.new(opts)
  local dict, name, ngx = stores.shared_dict(opts, "token_store.shared_dict.new")
  return setmetatable({ dict = dict, name = name, ngx = ngx }, Store)
end

local function fail(self, op, err)
  error(format("shared dict '%s': %s failed: %s", self.name, op, tostring(err)), 0)
end

function Store:get(key)
  local value, err = self.dict:get(key)
  if value == nil then
    if err then fail(self, "get", err) end
    return nil
  end
  local expires, token = match(value, "^([%d%.]+) (.+)$")
  if not expires then return nil end
  local left = tonumber(expires) - self.ngx.now()
  if left <= 0 then return nil end
  return token, left
end

function Store:set(key, token, ttl)
  self.ngx.update_time()
  local ok, err = self.dict:set(key, format("%.3f %s", self.ngx.now() + ttl, token), ttl)
  if not ok then fail(self, "set", err) end
  return true
end

function Store:delete(key)
  self.dict:delete(key)
  return true
end

function Store:lock(key, ttl)
  local ok, err = self.dict:add(key .. ":lock", true, ttl)
  if ok then return true end
  if err == "exists" then return false end
  fail(self, "lock", err)
end

function Store:unlock(key)
  self.dict:delete(key .. ":lock")
  return true
end

function Store:count(key, seconds)
  local n, err = self.dict:incr(key, 1, 0, seconds)
  if not n then fail(self, "count", err) end
  return n
end

Store.__tostring = function(self)
  return format("%s (%s)", Store.__name, self.name)
end

return _M
