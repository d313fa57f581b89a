--- A token store in Redis, for processes on several hosts.
--
--   local store = require("sendpulse.account.token_store.redis").new {
--     connection = conn, prefix = "sendpulse:" }
--
-- conn is a sendpulse.redis connection (or anything with the same call and
-- script methods, such as an adapter over the nginx cosocket client);
-- without it, host, port, password, db and timeout make one
-- (sendpulse.stores: the interface).
-- The token is a key with an expiry (PX), so Redis drops it when it lapses;
-- the lock is SET NX PX with a random owner, so a holder that dies frees it
-- after `ttl` and a late unlock never frees someone else's lock.
--
-- Methods raise on failure; shared_token reports that through the hook and
-- carries on with a local token. A reply a command cannot get from Redis (an
-- integer to SET, QUEUED, an array to the lock) is a failure too: taken as
-- "no token" or "the lock is held", it made every call wait out its timeout
-- for a token nobody was fetching.

local core = require "sendpulse.core"
local redis_connection = require "sendpulse.redis"
local stores = require "sendpulse.stores"

local error, tostring, type, setmetatable = error, tostring, type, setmetatable
local floor = math.floor
local format = string.format
local NULL = core.null

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

-- Counts one in a window: the key lives `seconds` from its first count.
local COUNT = [[
local n = redis.call('INCR', KEYS[1])
if redis.call('PTTL', KEYS[1]) < 0 then redis.call('PEXPIRE', KEYS[1], ARGV[1]) end
return n
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

local NAMES = { "connection", "prefix", "host", "port", "password", "db", "timeout" }

function _M.new(opts)
  opts = stores.options(opts, "token_store.redis.new", NAMES)
  local conn = stores.redis_connection(opts, "token_store.redis.new", true)
  return setmetatable({ conn = conn, prefix = opts.prefix or "", owner = owner_id() }, RedisStore)
end

local function check(reply, err)
  if err then error(err, 0) end
  return reply
end

local function unexpected(command, reply, meaning)
  error(format("redis: unexpected reply to %s: %s%s", command, redis_connection.describe(reply),
    meaning and " (" .. meaning .. ")" or ""), 0)
end

local function is_null(reply) return reply == nil or reply == NULL end

function RedisStore:get(key)
  local reply = check(self.conn:script(GET, 1, self.prefix .. key))
  if is_null(reply) then return nil end
  if type(reply) ~= "table" or #reply ~= 2 or type(reply[1]) ~= "string" or type(reply[2]) ~= "number" then
    unexpected("the token script", reply)
  end
  local pttl = reply[2]
  if pttl <= 0 then return nil end
  return reply[1], pttl / 1000
end

function RedisStore:set(key, token, ttl)
  local ms = floor(ttl * 1000)
  if ms <= 0 then return end
  local reply = check(self.conn:call("SET", self.prefix .. key, token, "PX", ms))
  if reply ~= "OK" then unexpected("SET", reply) end
end

function RedisStore:delete(key)
  local reply = check(self.conn:call("DEL", self.prefix .. key))
  if type(reply) ~= "number" then unexpected("DEL", reply) end
end

function RedisStore:lock(key, ttl)
  local reply = check(self.conn:call("SET", self.prefix .. key .. ":lock", self.owner,
    "NX", "PX", floor((ttl or 30) * 1000)))
  if reply == "OK" then return true end
  if is_null(reply) then return false end
  unexpected("SET NX", reply, "OK means locked, a null means held")
end

function RedisStore:unlock(key)
  local reply = check(self.conn:script(UNLOCK, 1, self.prefix .. key .. ":lock", self.owner))
  if reply ~= 0 and reply ~= 1 then unexpected("the unlock script", reply) end
end

function RedisStore:count(key, seconds)
  local reply = check(self.conn:script(COUNT, 1, self.prefix .. key, floor(seconds * 1000)))
  if type(reply) ~= "number" or reply < 1 then unexpected("the count script", reply) end
  return reply
end

RedisStore.__tostring = function(self)
  return "sendpulse.account.token_store.redis (" .. tostring(self.conn) .. ")"
end

return _M
