--- The outbox in Redis: a Stream with one consumer group, for drainers on
-- many hosts. The same methods as sendpulse.outbox.file_store.
--
--   local store = require("sendpulse.outbox.redis_store").new { conn = conn, key = "sendpulse:outbox:default" }
--
-- Keys (K = key):
--   K          the stream: one message { id = <entry id> } per entry waiting or in flight;
--              consumer group "drainers"
--   K:entries  hash  id -> the entry (JSON)
--   K:sid      hash  id -> its stream id (to acknowledge or drop it)
--   K:tries    hash  id -> attempts so far
--   K:delayed  sorted set  id by the time (ms) it may go again (a backoff)
--   K:dead     hash  id -> { reason, error, attempts, at } (JSON)
--   K:ages     sorted set  id by when it was enqueued (ms): pending + in flight
--
-- enqueue: a script checks max_pending (ZCARD of K:ages) and XADDs. take:
-- due backoffs go back on the stream (a script), then XAUTOCLAIM takes a
-- message idle past the lease (its consumer died), else XREADGROUP a new
-- one. finish, again and bury are scripts that first check, with XPENDING,
-- that this consumer still holds the message (a drainer whose lease passed
-- must not undo another's work), then XACK and XDEL it. Every reply is
-- checked for the shape its command or script answers; anything else is
-- the store's failure (a message), never trusted.
local json = require "sendpulse.json"

local type, tostring, tonumber, setmetatable, error = type, tostring, tonumber, setmetatable, error
local format, floor = string.format, math.floor
local wallclock = require("sendpulse.core").wallclock

local _M = {}

_M.GROUP = "drainers"
-- Due backoffs moved back to the stream per take, at most.
local PROMOTE_MAX = 100

local Store = {}
Store.__index = Store
Store.__name = "sendpulse.outbox.redis_store"

local ADD = [[
if redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[4]) then return 'full' end
if redis.call('HEXISTS', KEYS[2], ARGV[1]) == 1 then return 'exists' end
redis.call('HSET', KEYS[2], ARGV[1], ARGV[2])
redis.call('ZADD', KEYS[1], ARGV[3], ARGV[1])
local sid = redis.call('XADD', KEYS[3], '*', 'id', ARGV[1])
redis.call('HSET', KEYS[4], ARGV[1], sid)
return 'ok'
]]

-- KEYS: delayed, stream, sid; ARGV: now (ms), max
local PROMOTE = [[
local ids = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'LIMIT', 0, tonumber(ARGV[2]))
for _, id in ipairs(ids) do
  redis.call('ZREM', KEYS[1], id)
  local sid = redis.call('XADD', KEYS[2], '*', 'id', id)
  redis.call('HSET', KEYS[3], id, sid)
end
return #ids
]]

-- Whether consumer ARGV[2] holds id ARGV[3]'s message; then acknowledges
-- and deletes it. KEYS: stream, sid; ARGV: group, consumer, id.
local HOLD = [[
local sid = redis.call('HGET', KEYS[2], ARGV[3])
if not sid then return false end
local p = redis.call('XPENDING', KEYS[1], ARGV[1], sid, sid, 1)
if #p == 0 or p[1][2] ~= ARGV[2] then return false end
redis.call('XACK', KEYS[1], ARGV[1], sid)
redis.call('XDEL', KEYS[1], sid)
redis.call('HDEL', KEYS[2], ARGV[3])
return true
]]

-- KEYS: stream, sid, entries, ages, tries; ARGV: group, consumer, id
local DONE = HOLD:gsub("return true\n$", "") .. [[
redis.call('HDEL', KEYS[3], ARGV[3])
redis.call('ZREM', KEYS[4], ARGV[3])
redis.call('HDEL', KEYS[5], ARGV[3])
return 'ok'
]]

-- KEYS: stream, sid, tries, delayed; ARGV: group, consumer, id, attempts, next_at (ms)
local AGAIN = HOLD:gsub("return true\n$", "") .. [[
redis.call('HSET', KEYS[3], ARGV[3], ARGV[4])
redis.call('ZADD', KEYS[4], ARGV[5], ARGV[3])
return 'ok'
]]

-- KEYS: stream, sid, ages, tries, dead; ARGV: group, consumer, id, dead (JSON)
local BURY = HOLD:gsub("return true\n$", "") .. [[
redis.call('ZREM', KEYS[3], ARGV[3])
redis.call('HDEL', KEYS[4], ARGV[3])
redis.call('HSET', KEYS[5], ARGV[3], ARGV[4])
return 'ok'
]]

-- KEYS: dead, tries, stream, sid, ages, entries; ARGV: max
local REVIVE = [[
local ids = redis.call('HKEYS', KEYS[1])
local n = 0
for _, id in ipairs(ids) do
  local d = cjson.decode(redis.call('HGET', KEYS[1], id))
  redis.call('HDEL', KEYS[1], id)
  redis.call('HDEL', KEYS[2], id)
  if redis.call('HEXISTS', KEYS[6], id) == 1 then
    local sid = redis.call('XADD', KEYS[3], '*', 'id', id)
    redis.call('HSET', KEYS[4], id, sid)
    redis.call('ZADD', KEYS[5], tonumber(d.at) or 0, id)
    n = n + 1
  end
end
return n
]]

-- KEYS: entries, dead, tries, ages, delayed, sid, stream; ARGV: group, id
local DROP = [[
if redis.call('HEXISTS', KEYS[1], ARGV[2]) == 0 then return 0 end
redis.call('HDEL', KEYS[1], ARGV[2])
redis.call('HDEL', KEYS[2], ARGV[2])
redis.call('HDEL', KEYS[3], ARGV[2])
redis.call('ZREM', KEYS[4], ARGV[2])
redis.call('ZREM', KEYS[5], ARGV[2])
local sid = redis.call('HGET', KEYS[6], ARGV[2])
if sid then
  redis.call('XACK', KEYS[7], ARGV[1], sid)
  redis.call('XDEL', KEYS[7], sid)
  redis.call('HDEL', KEYS[6], ARGV[2])
end
return 1
]]

-- KEYS: stream, delayed, dead, ages; ARGV: group
local STATUS = [[
local xlen = redis.call('XLEN', KEYS[1])
local pel = 0
if xlen > 0 or redis.call('EXISTS', KEYS[1]) == 1 then
  local s = redis.pcall('XPENDING', KEYS[1], ARGV[1])
  if type(s) == 'table' and type(s[1]) == 'number' then pel = s[1] end
end
local oldest = redis.call('ZRANGE', KEYS[4], 0, 0, 'WITHSCORES')
return { xlen - pel + redis.call('ZCARD', KEYS[2]), pel, redis.call('HLEN', KEYS[3]), oldest[2] or '' }
]]

--- new{ conn = (call, script), key = string } -> store
function _M.new(opts)
  if type(opts) ~= "table" or type(opts.conn) ~= "table" or type(opts.key) ~= "string" then
    error("outbox.redis_store.new: needs { conn = a Redis connection, key = string }", 2)
  end
  local k = opts.key
  return setmetatable({ conn = opts.conn, k = k, entries = k .. ":entries", sid = k .. ":sid",
    tries = k .. ":tries", delayed = k .. ":delayed", dead_k = k .. ":dead", ages = k .. ":ages",
    group_ready = false }, Store)
end

local function shape(what, reply)
  return nil, format("redis: unexpected reply to %s (%s)", what, type(reply) == "table" and "an array" or type(reply))
end

local function ms(t) return format("%d", floor(t * 1000)) end

-- The consumer group, made once (BUSYGROUP: it is there already).
local function group(self)
  if self.group_ready then return true end
  local reply, err = self.conn:call("XGROUP", "CREATE", self.k, _M.GROUP, "0", "MKSTREAM")
  if reply == nil and err and not tostring(err):find("BUSYGROUP", 1, true) then return nil, tostring(err) end
  if reply ~= nil and reply ~= "OK" then return shape("XGROUP CREATE", reply) end
  self.group_ready = true
  return true
end

local function script(self, src, nkeys, ...)
  local reply, err = self.conn:script(src, nkeys, ...)
  if err then
    if tostring(err):find("NOGROUP", 1, true) then self.group_ready = false end
    return nil, tostring(err)
  end
  return reply
end

function Store:add(id, entry_text, max_pending)
  local ok, err = group(self)
  if not ok then return nil, err end
  local reply
  reply, err = script(self, ADD, 4, self.ages, self.entries, self.k, self.sid, id, entry_text, ms(wallclock()),
    format("%d", max_pending))
  if reply == nil then return nil, err end
  if reply == "ok" then return true end
  if reply == "full" then return nil, "full" end
  if reply == "exists" then return nil, "an entry with id " .. id .. " is already in the outbox" end
  return shape("the add script", reply)
end

-- The first message of an XREADGROUP / XAUTOCLAIM list: sid, id | false | nil, err.
local function first_message(list, what)
  if type(list) ~= "table" then return shape(what, list) end
  local m = list[1]
  if m == nil then return false end
  if type(m) ~= "table" or type(m[1]) ~= "string" or type(m[2]) ~= "table" then return shape(what, list) end
  local fields = m[2]
  if fields[1] ~= "id" or type(fields[2]) ~= "string" or fields[3] ~= nil then return shape(what, list) end
  return m[1], fields[2]
end

-- A message this consumer may work on: sid, id | false | nil, err.
local function claim(self, owner, lease)
  -- XAUTOCLAIM key group consumer min-idle start COUNT 1 -> [next, [messages], [deleted]]
  local reply, err = self.conn:call("XAUTOCLAIM", self.k, _M.GROUP, owner, ms(lease), "0-0", "COUNT", "1")
  if err then
    if tostring(err):find("NOGROUP", 1, true) then self.group_ready = false end
    return nil, tostring(err)
  end
  if type(reply) ~= "table" or type(reply[1]) ~= "string" or type(reply[2]) ~= "table" then
    return shape("XAUTOCLAIM", reply)
  end
  local sid, id = first_message(reply[2], "XAUTOCLAIM")
  if sid ~= false then return sid, id end
  -- XREADGROUP GROUP g c COUNT 1 STREAMS key > -> [[key, [messages]]] | null
  reply, err = self.conn:call("XREADGROUP", "GROUP", _M.GROUP, owner, "COUNT", "1", "STREAMS", self.k, ">")
  if err then
    if tostring(err):find("NOGROUP", 1, true) then self.group_ready = false end
    return nil, tostring(err)
  end
  if reply == nil then return false end
  if type(reply) ~= "table" or type(reply[1]) ~= "table" or reply[1][1] ~= self.k or reply[2] ~= nil then
    return shape("XREADGROUP", reply)
  end
  return first_message(reply[1][2], "XREADGROUP")
end

function Store:take(owner, lease)
  local ok, err = group(self)
  if not ok then return nil, err end
  local moved
  moved, err = script(self, PROMOTE, 3, self.delayed, self.k, self.sid, ms(wallclock()), format("%d", PROMOTE_MAX))
  if moved == nil then return nil, err end
  if type(moved) ~= "number" then return shape("the promote script", moved) end
  for _ = 1, 10 do
    local sid, id = claim(self, owner, lease)
    if not sid then
      if sid == false then
        local due, derr = self.conn:call("ZRANGE", self.delayed, "0", "0", "WITHSCORES")
        if derr then return nil, tostring(derr) end
        if type(due) ~= "table" then return shape("ZRANGE", due) end
        return false, due[2] and tonumber(due[2]) and tonumber(due[2]) / 1000 or nil
      end
      return nil, id
    end
    local text, terr = self.conn:call("HGET", self.entries, id)
    if terr then return nil, tostring(terr) end
    if text ~= nil and type(text) ~= "string" then return shape("HGET", text) end
    if text then
      local tries
      tries, terr = self.conn:call("HGET", self.tries, id)
      if terr then return nil, tostring(terr) end
      if tries ~= nil and not tonumber(tries) then return shape("HGET", tries) end
      return id, text, tonumber(tries) or 0
    end
    -- Dropped meanwhile: let the message go.
    self.conn:call("XACK", self.k, _M.GROUP, sid)
    self.conn:call("XDEL", self.k, sid)
  end
  return false
end

local function held(reply, err, what)
  if reply == nil and err then return nil, err end
  if reply == "ok" then return true end
  if reply == nil then
    return nil, "lost the lease of the entry (its lease passed and another drainer took it)"
  end
  return shape(what, reply)
end

function Store:finish(id, owner)
  return held(script(self, DONE, 5, self.k, self.sid, self.entries, self.ages, self.tries, _M.GROUP, owner, id))
end

function Store:again(id, owner, attempts, next_at)
  return held(script(self, AGAIN, 4, self.k, self.sid, self.tries, self.delayed, _M.GROUP, owner, id,
    format("%d", attempts), ms(next_at)))
end

function Store:bury(id, owner, attempts, reason, err)
  local ages, aerr = self.conn:call("ZSCORE", self.ages, id)
  if aerr then return nil, tostring(aerr) end
  local dead = json.encode { reason = reason, error = err, attempts = attempts, at = tonumber(ages) or 0 }
  return held(script(self, BURY, 5, self.k, self.sid, self.ages, self.tries, self.dead_k, _M.GROUP, owner, id,
    dead))
end

function Store:status()
  local reply, err = script(self, STATUS, 4, self.k, self.delayed, self.dead_k, self.ages, _M.GROUP)
  if reply == nil then return nil, err end
  if type(reply) ~= "table" or type(reply[1]) ~= "number" or type(reply[2]) ~= "number"
     or type(reply[3]) ~= "number" or type(reply[4]) ~= "string" or reply[5] ~= nil then
    return shape("the status script", reply)
  end
  local oldest = tonumber(reply[4])
  return { pending = reply[1], in_flight = reply[2], dead = reply[3],
           oldest_age = oldest and floor((wallclock() - oldest / 1000) * 1000) / 1000 or 0 }
end

function Store:dead(max)
  local out, cursor = {}, "0"
  repeat
    local reply, err = self.conn:call("HSCAN", self.dead_k, cursor, "COUNT", format("%d", max))
    if err then return nil, tostring(err) end
    if type(reply) ~= "table" or type(reply[1]) ~= "string" or type(reply[2]) ~= "table" then
      return shape("HSCAN", reply)
    end
    cursor = reply[1]
    local kv = reply[2]
    for i = 1, #kv, 2 do
      local id, d = kv[i], json.decode(kv[i + 1] or "")
      if type(id) ~= "string" or type(d) ~= "table" then return shape("HSCAN", reply) end
      local text = self.conn:call("HGET", self.entries, id)
      out[#out + 1] = { id = id, reason = d.reason, error = d.error, attempts = d.attempts,
                        entry = type(text) == "string" and text or nil }
      if #out >= max then return out end
    end
  until cursor == "0"
  return out
end

function Store:revive()
  local ok, err = group(self)
  if not ok then return nil, err end
  local n
  n, err = script(self, REVIVE, 6, self.dead_k, self.tries, self.k, self.sid, self.ages, self.entries)
  if n == nil then return nil, err end
  if type(n) ~= "number" then return shape("the revive script", n) end
  return n
end

function Store:drop(id)
  local n, err = script(self, DROP, 7, self.entries, self.dead_k, self.tries, self.ages, self.delayed, self.sid,
    self.k, _M.GROUP, id)
  if n == nil then return nil, err end
  if n ~= 0 and n ~= 1 then return shape("the drop script", n) end
  return n == 1
end

Store.__tostring = function(self) return Store.__name .. " (" .. self.k .. ")" end

return _M
