--- A token store in Redis, for processes on several hosts.
--
--   local store = require("sendpulse.account.token_store.redis").new(conn, "sendpulse:")
--
-- conn is a sendpulse.redis (or anything with the same
-- call and script methods, such as an adapter over the nginx cosocket client).
-- The token is a key with an expiry (PX), so Redis drops it when it lapses;
-- the lock is SET NX PX with a random owner, so a holder that dies frees it
-- after `ttl` and a late unlock never frees someone else's lock.
--
-- Methods raise on failure; shared_token reports that through the hook and
-- carries on with a local token.

local core = require "sendpulse.core"

local error, tonumber, tostring, type, setmetatable = error, tonumber, tostring, type, setmetatable
local floor = math.floor

local _M = {}

-- The token and its remaining lifetime in one round trip.
local GET = [[
local v = redis.call('GET', KEYS[1])
if not v then return false end
return { v, redis.call('PTTL', KEYS[1]) }
]]

-- Deletes the lock only if we still own it.
local UNLOCK = [[
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
]]

local RedisStore = {}
RedisStore.__index = RedisStore
RedisStore.__name = "sendpulse.account.token_store.redis"

local serial = 0

-- An owner id unlikely to repeat across processes and hosts: the time, the
-- clocks and a fresh table's address differ between them.
local function owner_id()
  serial = serial + 1
  return core.fingerprint(table.concat({ tostring(os.time()), tostring(os.clock()),
    tostring(core.monotonic()), tostring({}), tostring(serial) }, "|"))
end

function _M.new(conn, prefix)
  if type(conn) ~= "table" or type(conn.call) ~= "function" then
    error("token_store.redis.new: argument 'conn' must be a Redis connection "
      .. "(an object with call and script)", 2)
  end
  return setmetatable({ conn = conn, prefix = prefix or "", owner = owner_id() }, RedisStore)
end

local function check(reply, err)
  if err then error(err, 0) end
  return reply
end

function RedisStore:get(key)
  local reply = check(self.conn:script(GET, 1, self.prefix .. key))
  if type(reply) ~= "table" then return nil end
  local pttl = tonumber(reply[2]) or -1
  if pttl <= 0 then return nil end
  return reply[1], pttl / 1000
end

function RedisStore:set(key, token, ttl)
  local ms = floor(ttl * 1000)
  if ms <= 0 then return end
  check(self.conn:call("SET", self.prefix .. key, token, "PX", ms))
end

function RedisStore:delete(key)
  check(self.conn:call("DEL", self.prefix .. key))
end

function RedisStore:lock(key, ttl)
  local reply = check(self.conn:call("SET", self.prefix .. key .. ":lock", self.owner,
    "NX", "PX", floor((ttl or 30) * 1000)))
  return reply == "OK"
end

function RedisStore:unlock(key)
  check(self.conn:script(UNLOCK, 1, self.prefix .. key .. ":lock", self.owner))
end

RedisStore.__tostring = function(self)
  return "sendpulse.account.token_store.redis (" .. tostring(self.conn) .. ")"
end

return _M
