--- Seen-event keys in an nginx shared dict, for all workers of one nginx.
--
--   lua_shared_dict sendpulse_webhooks 10m;     # nginx.conf
--   local store = require("sendpulse.webhooks.stores.shared_dict").new("sendpulse_webhooks")
--   store:add(key, ttl) -> true (new) | false (seen) | nil, message
--
-- `add` on the dict is atomic across workers (one shared-memory mutex), so
-- exactly one worker gets true for a key; the dict forgets it after ttl.
-- The dict's size is the bound: when it is full, nginx evicts the least
-- recently used keys to make room (about 8,000 keys a megabyte: measured
-- in spec/webhooks_nginx_spec.lua), and an event repeated after its key
-- was evicted would pass again. The first eviction in a worker is logged
-- as a warning naming the dict.
local stores = require "sendpulse.stores"

local tostring, setmetatable, error = tostring, setmetatable, error
local format = string.format

local _M = {}

---@class sendpulse.webhooks.SharedDictStore : sendpulse.webhooks.Store
local Store = {}
Store.__index = Store
Store.__name = "sendpulse.webhooks.stores.shared_dict"

--- open(name or { dict = name }) -> store, or nil and why there is none.
---@param opts string|{ dict: string }
---@return sendpulse.webhooks.SharedDictStore?
---@return string? why
function _M.open(opts)
  local dict, name, ngx = stores.open_shared_dict(opts)
  if not dict then return nil, name end
  return setmetatable({ dict = dict, name = name, ngx = ngx, warned = false }, Store)
end

--- new(name or { dict = name }) -> store (sendpulse.stores: the
-- interface); raises when there is no such dict.
---@param opts string|{ dict: string } the lua_shared_dict's name
---@return sendpulse.webhooks.SharedDictStore
function _M.new(opts)
  local store, why = _M.open(opts)
  if not store then error("stores.shared_dict.new: " .. why, 2) end
  return store
end

---@param key string
---@param ttl number seconds to remember it
---@return boolean? new true: new; false: seen within ttl; nil: failed
---@return string? message why it failed
function Store:add(key, ttl)
  local ok, err, forcible = self.dict:add(key, true, ttl)
  if forcible and not self.warned then
    self.warned = true
    -- From a timer: a line logged during a request carries its URL, which
    -- may hold the webhook's secret.
    local ngx, line = self.ngx, format("sendpulse.webhooks: shared dict '%s' is full: older keys "
      .. "are being evicted before their ttl; make it larger", self.name)
    ngx.timer.at(0, function() ngx.log(ngx.WARN, line) end)
  end
  if ok then return true end
  if err == "exists" then return false end
  return nil, format("shared dict '%s': add failed: %s", self.name, tostring(err))
end

Store.__tostring = function(self) return format("%s (%s)", Store.__name, self.name) end

return _M
