--- Idempotency records in Redis, for processes on several hosts.
--
--   local store = require("sendpulse.idempotency.stores.redis").new(conn, "sendpulse:")
--   store:get(key)                  -> text | false (none) | nil, message
--   store:swap(key, old, new, ttl)  -> true | false, current | nil, message
--
-- conn is a sendpulse.redis (the client's `redis`
-- option: the same connection the shared token and budget use) or anything
-- with the same call and script methods. The compare-and-swap is one Lua
-- script, so Redis is the arbiter between any number of holders; the record
-- expires with PX. Every reply is checked for the one shape the script
-- answers; anything else is the store's failure, never trusted.
local type, tostring, setmetatable, error, floor = type, tostring, setmetatable, error, math.floor
local format = string.format

local _M = {}

-- KEYS[1] the record; ARGV: old ('' for none), new ('' deletes), ttl ms.
-- Records are JSON objects, never empty: '' cannot be one.
local SWAP = [[
local cur = redis.call('GET', KEYS[1])
if not cur then cur = '' end
if cur ~= ARGV[1] then return { 0, cur } end
if ARGV[2] == '' then
  redis.call('DEL', KEYS[1])
else
  redis.call('SET', KEYS[1], ARGV[2], 'PX', ARGV[3])
end
return { 1 }
]]

local Store = {}
Store.__index = Store
Store.__name = "sendpulse.idempotency.stores.redis"

function _M.new(conn, prefix)
  if type(conn) ~= "table" or type(conn.call) ~= "function" or type(conn.script) ~= "function" then
    error("idempotency.stores.redis.new: argument 'conn' must be a Redis connection "
      .. "(an object with call and script)", 2)
  end
  if prefix ~= nil and type(prefix) ~= "string" then
    error("idempotency.stores.redis.new: argument 'prefix' must be a string or nil", 2)
  end
  return setmetatable({ conn = conn, prefix = prefix or "" }, Store)
end

local function shape(what, reply)
  return nil, format("redis: unexpected reply to %s (%s)", what, type(reply))
end

function Store:get(key)
  local reply, err = self.conn:call("GET", self.prefix .. key)
  if err then return nil, tostring(err) end
  if reply == nil then return false end
  if type(reply) ~= "string" then return shape("GET", reply) end
  return reply
end

function Store:swap(key, old, new, ttl)
  local ms = floor(ttl * 1000 + 0.5)
  if ms < 1 then ms = 1 end
  local reply, err = self.conn:script(SWAP, 1, self.prefix .. key, old or "", new or "", format("%d", ms))
  if err then return nil, tostring(err) end
  if type(reply) ~= "table" then return shape("the swap script", reply) end
  if reply[1] == 1 and reply[2] == nil then return true end
  if reply[1] == 0 and type(reply[2]) == "string" and reply[3] == nil then
    local cur = reply[2]
    if cur == "" then return false, false end
    return false, cur
  end
  return shape("the swap script", reply)
end

Store.__tostring = function(self)
  return Store.__name .. " (" .. tostring(self.conn) .. ")"
end

return _M
