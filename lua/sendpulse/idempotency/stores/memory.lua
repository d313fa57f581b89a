--- Idempotency records in this Lua state's memory: for one process (a
-- script, a game, tests). Other processes do not see them; use the file
-- store (one host), Redis (many hosts) or an nginx shared dict instead.
--
--   local store = require("sendpulse.idempotency.stores.memory").new { max_entries = 100000 }
--   store:get(key)                  -> text | false (none)
--   store:swap(key, old, new, ttl)  -> true | false, current (text or false) | nil, message
--
-- The interface of every idempotency store (docs/outbox.md): `swap` replaces
-- the record only if it is still `old` (false: absent), writes `new` (false:
-- deletes), and keeps it `ttl` seconds. Compare-and-swap on the whole text
-- is all the ledger needs: of two holders, exactly one wins each step.
--
-- Bounded: at most max_entries live records. A full store refuses new keys
-- (nil, message) rather than forget one before its ttl: a forgotten key is a
-- message that can be sent twice.
local core = require "sendpulse.core"

local type, pairs, tostring, setmetatable, error, floor = type, pairs, tostring, setmetatable, error, math.floor
local monotonic = core.monotonic

local _M = {}

_M.MAX_ENTRIES = 100000

local Store = {}
Store.__index = Store
Store.__name = "sendpulse.idempotency.stores.memory"

function _M.new(opts)
  opts = opts or {}
  if type(opts) ~= "table" then error("idempotency.stores.memory.new: argument must be a table or nil", 2) end
  for k in pairs(opts) do
    if k ~= "max_entries" then
      error("idempotency.stores.memory.new: unknown option '" .. tostring(k) .. "' (known: max_entries)", 2)
    end
  end
  local max = opts.max_entries or _M.MAX_ENTRIES
  if type(max) ~= "number" or max < 1 or max ~= floor(max) then
    error("idempotency.stores.memory.new: 'max_entries' must be a whole number >= 1", 2)
  end
  return setmetatable({ max = max, count = 0, texts = {}, expires = {} }, Store)
end

local function live(self, key, now)
  local at = self.expires[key]
  if at and at <= now then
    self.texts[key], self.expires[key] = nil, nil
    self.count = self.count - 1
    return false
  end
  return self.texts[key] or false
end

function Store:get(key)
  return live(self, key, monotonic())
end

-- Drops every expired record (when the store is full).
function Store:sweep(now)
  for key in pairs(self.expires) do live(self, key, now) end
end

function Store:swap(key, old, new, ttl)
  local now = monotonic()
  local cur = live(self, key, now)
  if cur ~= old then return false, cur end
  if new == false then
    if cur then
      self.texts[key], self.expires[key] = nil, nil
      self.count = self.count - 1
    end
    return true
  end
  if not cur then
    if self.count >= self.max then self:sweep(now) end
    if self.count >= self.max then
      return nil, ("memory store full: %d records (max_entries) live"):format(self.max)
    end
    self.count = self.count + 1
  end
  self.texts[key], self.expires[key] = new, now + ttl
  return true
end

Store.__tostring = function(self)
  return ("%s (%d of %d records)"):format(Store.__name, self.count, self.max)
end

return _M
