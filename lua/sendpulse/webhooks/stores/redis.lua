--- Seen-event keys in Redis, for receivers on several hosts.
--
--   local store = require("sendpulse.webhooks.stores.redis").new {
--     host = "127.0.0.1", port = 6379, password = nil, db = 0, timeout = 1,
--     prefix = "",                 -- put before every key
--   }
--   -- or new { connection = conn } with conn:call(command, ...) -> reply | nil, err
--   store:add(key, ttl) -> true (new) | false (seen) | nil, message
--
-- One round trip per event: SET key 1 NX PX ttl. NX makes Redis the
-- arbiter, so among any number of processes exactly one gets true. Only
-- OK means new and only a null means seen: any other reply (an integer,
-- QUEUED, an array, a string, an error, nothing) is a failure, so that the
-- receiver delivers the event and reports why (a possible repeat beats a
-- lost event; docs/webhooks.md). PX lets
-- Redis forget the key after ttl (Redis's memory is the bound: a 50-byte
-- key plus the prefix and Redis's own overhead per event). Without `connection` the library's hiredis connection
-- is used: it blocks, so inside nginx pass a cosocket client instead (an
-- object whose call(self, command, ...) answers like lua-resty-redis).
local core = require "sendpulse.core"
local errors = require "sendpulse.errors"
local redis_connection = require "sendpulse.redis"
local stores = require "sendpulse.stores"

local type, pairs, setmetatable, error, pcall, floor =
  type, pairs, setmetatable, error, pcall, math.floor
local format = string.format
local NULL = core.null   -- hiredis.null and ngx.null are this NULL light userdata

local _M = {}

---@class sendpulse.webhooks.RedisStore : sendpulse.webhooks.Store
local Store = {}
Store.__index = Store
Store.__name = "sendpulse.webhooks.stores.redis"

local NAMES = { "host", "port", "password", "db", "timeout", "prefix", "connection" }
local KNOWN = { host = "string", port = "number", password = "string", db = "number",
                timeout = "number", prefix = "string", connection = "table" }

--- new{ connection = | host =, port =, password =, db =, timeout =; prefix = }
-- -> store (sendpulse.stores: the interface).
---@param opts? { host?: string, port?: integer, password?: string, db?: integer, timeout?: number,
---   prefix?: string, connection?: table }
---@return sendpulse.webhooks.RedisStore
function _M.new(opts)
  opts = stores.options(opts, "stores.redis.new", NAMES)
  for k, v in pairs(opts) do
    local want = KNOWN[k]
    if type(v) ~= want then
      error(format("stores.redis.new: '%s' must be a %s, got %s", k, want, type(v)), 2)
    end
  end
  local conn = stores.redis_connection(opts, "stores.redis.new")
  return setmetatable({ conn = conn, prefix = opts.prefix or "" }, Store)
end

-- A failure's message, "redis: ..." (the library's connection says so
-- already; a connection given by the caller may not).
local function failure(err)
  local text = errors.describe(err)
  if text:find("^redis: ") then return text end
  return "redis: " .. text
end

---@param key string
---@param ttl number seconds to remember it
---@return boolean? new true: new; false: seen within ttl; nil: failed
---@return string? message why it failed
function Store:add(key, ttl)
  local ms = floor(ttl * 1000 + 0.5)
  if ms < 1 then ms = 1 end
  local ok, reply, err = pcall(self.conn.call, self.conn, "SET", self.prefix .. key, "1", "NX", "PX",
    format("%d", ms))
  if not ok then return nil, failure(reply) end
  if reply == "OK" or (type(reply) == "table" and reply.ok == "OK") then return true end
  if err ~= nil then return nil, failure(err) end
  if reply == nil or reply == NULL then return false end   -- the key was there
  return nil, "redis: unexpected reply to SET NX: " .. redis_connection.describe(reply)
    .. " (OK means new, a null means seen)"
end

Store.__tostring = function() return Store.__name end

return _M
