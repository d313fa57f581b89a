--- Telling a new event from one already seen: SendPulse repeats a batch
-- when it did not get a 2xx, and nothing in an event says "this is a
-- repeat". Each event gets a key from the fields that identify it
-- (docs/webhooks.md, "Duplicates"); a store remembers the keys for `ttl`
-- seconds and says whether a key is new.
--
--   local dedupe = require "sendpulse.webhooks.dedupe"
--   dedupe.key(event)                       -> "sendpulse:webhook:<32 hex digits>"
--   dedupe.fresh(events, store, ttl)        -> new_events, nil, failures
--
-- The identifying fields:
--   email    source, type, task_id, email, time, link_id
--   smtp     source, type, message_id, email (recipient), time
--   chatbot  source, service, type, bot.id, contact.id, time, and the whole `info`
--   unknown  the whole object
-- A field the normaliser left nil (wrong type) is taken from `raw` as sent.
-- The key is a 128-bit digest (two 64-bit FNV-1a) of those fields in a
-- canonical form (object keys sorted), so its size is fixed whatever the
-- event holds.
local core = require "sendpulse.core"
local json = require "sendpulse.json"

local type, pairs, ipairs, tostring, tonumber, floor = type, pairs, ipairs, tostring, tonumber, math.floor
local sort, concat = table.sort, table.concat
local format = string.format

local fingerprint = core.fingerprint
local null = json.null

local _M = {}

-- What a store of seen keys is (stores/), for editors (LuaLS): add(key,
-- ttl) -> true (new) | false (seen within ttl) | nil, message (failed).
---@class sendpulse.webhooks.Store
---@field add fun(self: sendpulse.webhooks.Store, key: string, ttl: number): boolean?, string?

_M.PREFIX = "sendpulse:webhook:"
-- One day: SendPulse documents no retry schedule; repeats come within
-- minutes to hours. Memory per key is in docs/webhooks.md.
_M.TTL = 86400

-- Decoded JSON is at most 1000 levels deep (the C decoder's limit); deeper
-- tables can only come from a caller and are cut short, not followed.
local MAX_DEPTH = 1000

local canonical

local function put_table(t, out, depth)
  if depth > MAX_DEPTH then out[#out + 1] = "~"; return end
  if t[1] ~= nil then
    out[#out + 1] = "["
    for i = 1, #t do canonical(t[i], out, depth + 1) end
    out[#out + 1] = "]"
    return
  end
  local keys = {}
  for k in pairs(t) do keys[#keys + 1] = tostring(k) end
  sort(keys)
  out[#out + 1] = "{"
  for _, k in ipairs(keys) do
    local v = t[k]
    if v == nil then v = t[tonumber(k)] end
    canonical(k, out, depth + 1)
    canonical(v, out, depth + 1)
  end
  out[#out + 1] = "}"
end

-- Appends the canonical text of `v` to `out`: type-tagged, strings with
-- their length, whole numbers written as integers (so "5" and 5 differ but
-- 5 and 5.0 do not), object keys sorted.
canonical = function(v, out, depth)
  local t = type(v)
  if t == "string" then
    out[#out + 1] = format("s%d:%s", #v, v)
  elseif t == "number" then
    if v == floor(v) and v > -2 ^ 63 and v < 2 ^ 63 then
      out[#out + 1] = format("i%d;", v)
    else
      out[#out + 1] = format("n%.17g;", v)
    end
  elseif t == "boolean" then
    out[#out + 1] = v and "T" or "F"
  elseif t == "table" then
    put_table(v, out, depth)
  elseif v == null or v == nil then
    out[#out + 1] = "z"
  else
    out[#out + 1] = "?" .. t
  end
end

local function field(value, raw_value, out)
  if value ~= nil then canonical(value, out, 0) else canonical(raw_value, out, 0) end
end

local function id_of(obj)
  return type(obj) == "table" and obj.id or nil
end

--- The text a key is a digest of (exposed for the docs and the tests).
---@param e sendpulse.webhooks.Event
---@return string
function _M.identity(e)
  local raw, out = e.raw or {}, { e.source or "unknown", "|" }
  if e.source == "email" then
    field(e.type, raw.event, out); field(e.task_id, raw.task_id, out)
    field(e.email, raw.email, out); field(e.time, raw.timestamp, out)
    field(e.link_id, raw.link_id, out)
  elseif e.source == "smtp" then
    field(e.type, raw.event, out); field(e.message_id, raw.message_id, out)
    field(e.email, raw.recipient, out); field(e.time, raw.timestamp, out)
  elseif e.source == "chatbot" then
    field(e.service, raw.service, out); field(e.type, raw.title, out)
    canonical(id_of(raw.bot), out, 0); canonical(id_of(raw.contact), out, 0)
    field(e.time, raw.date, out); canonical(raw.info, out, 0)
  else
    canonical(raw, out, 0)
  end
  return concat(out)
end

--- The event's key: PREFIX and a 128-bit digest of its identity.
---@param e sendpulse.webhooks.Event
---@return string key "sendpulse:webhook:<32 hex digits>"
function _M.key(e)
  local id = _M.identity(e)
  return _M.PREFIX .. fingerprint(id) .. fingerprint("\1" .. id)
end

--- fresh(events, store, ttl) -> new events, nil, failures: the events of
-- `events` whose key `store` has not seen within `ttl` seconds, in order,
-- each key now remembered. It never fails (the nil keeps the `res, err`
-- shape: a second value is an error, docs/guide.md): a store that fails
-- lets the event through (a possible repeat beats a lost event) and adds
-- { event =, message = } to `failures`.
---@param events sendpulse.webhooks.Event[]
---@param store sendpulse.webhooks.Store
---@param ttl number seconds a key is remembered
---@return sendpulse.webhooks.Event[] new
---@return { event: sendpulse.webhooks.Event, message: string }[] failures
function _M.fresh(events, store, ttl)
  local new, failures = {}, {}
  for _, e in ipairs(events) do
    local added, err = store:add(_M.key(e), ttl)
    if added then
      new[#new + 1] = e
    elseif err ~= nil then
      new[#new + 1] = e
      failures[#failures + 1] = { event = e, message = tostring(err) }
    end
  end
  return new, nil, failures
end

return _M
