--- Seen-event keys in this Lua state's memory: for one process (a single
-- server, a script, tests). Other processes do not see them; use the file
-- store (one host), Redis (many hosts) or an nginx shared dict instead.
--
--   local store = require("sendpulse.webhooks.stores.memory").new { max_entries = 100000 }
--   store:add(key, ttl) -> true (new) | false (seen within ttl)
--
-- Bounded: at most max_entries keys; beyond, the oldest are forgotten
-- first (an event repeated after that would pass again). Expired keys are
-- dropped as new ones arrive, so memory follows the traffic of one ttl.
local core = require "sendpulse.core"
local stores = require "sendpulse.stores"

local type, setmetatable, error, floor = type, setmetatable, error, math.floor
local monotonic = core.monotonic

local _M = {}

_M.MAX_ENTRIES = 100000

---@class sendpulse.webhooks.MemoryStore : sendpulse.webhooks.Store
local Store = {}
Store.__index = Store
Store.__name = "sendpulse.webhooks.stores.memory"

--- new{ max_entries = } -> store (sendpulse.stores: the interface).
---@param opts? { max_entries?: integer }
---@return sendpulse.webhooks.MemoryStore
function _M.new(opts)
  opts = stores.options(opts, "stores.memory.new", { "max_entries" })
  local max = opts.max_entries or _M.MAX_ENTRIES
  if type(max) ~= "number" or max < 1 or max ~= floor(max) then
    error("stores.memory.new: 'max_entries' must be a whole number >= 1", 2)
  end
  return setmetatable({
    max = max, count = 0,
    expires = {},            -- key -> expiry (monotonic seconds)
    queue_keys = {}, queue_at = {}, head = 1, tail = 0,   -- keys in the order they were added
  }, Store)
end

-- Drops the oldest queued key; it is forgotten unless it was added again
-- since (then a later queue entry carries it).
---@return nil
function Store:drop_oldest()
  local h = self.head
  local key, at = self.queue_keys[h], self.queue_at[h]
  self.queue_keys[h], self.queue_at[h] = nil, nil
  self.head = h + 1
  if self.expires[key] == at then
    self.expires[key] = nil
    self.count = self.count - 1
  end
end

---@param key string
---@param ttl number seconds to remember it
---@return boolean? new true: new; false: seen within ttl; nil: failed
---@return string? message why it failed
function Store:add(key, ttl)
  local now = monotonic()
  -- Expired keys at the front of the queue go first.
  while self.head <= self.tail and self.queue_at[self.head] <= now do self:drop_oldest() end
  local until_ = self.expires[key]
  if until_ and until_ > now then return false end
  if not until_ then self.count = self.count + 1 end
  local at = now + ttl
  self.expires[key] = at
  local t = self.tail + 1
  self.tail = t
  self.queue_keys[t], self.queue_at[t] = key, at
  while self.count > self.max do self:drop_oldest() end
  return true
end

--- Keys remembered now.
function Store:size()
  return self.count
end

Store.__tostring = function(self)
  return ("%s (%d of %d keys)"):format(Store.__name, self.count, self.max)
end

return _M
