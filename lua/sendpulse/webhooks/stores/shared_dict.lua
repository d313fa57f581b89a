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
local nginx = require "sendpulse.nginx"

local type, tostring, setmetatable, error = type, tostring, setmetatable, error
local format = string.format

local _M = {}

local Store = {}
Store.__index = Store
Store.__name = "sendpulse.webhooks.stores.shared_dict"

--- open(name) -> store, or nil and why there is none.
function _M.open(name)
  if type(name) ~= "string" or name == "" then
    return nil, "'shared_dict' must be the name of a lua_shared_dict (string)"
  end
  local dict, why = nginx.shared_dict(name)
  if not dict then return nil, why end
  return setmetatable({ dict = dict, name = name, ngx = nginx.host(), warned = false }, Store)
end

--- new(name) -> store; raises when there is no such dict.
function _M.new(name)
  local store, why = _M.open(name)
  if not store then error("stores.shared_dict.new: " .. why, 2) end
  return store
end

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
