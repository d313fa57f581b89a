--- A webhook body (the bytes SendPulse POSTs) into a list of events.
--
--   local events, err = parse(body [, headers [, limits]])
--
-- A body must be a JSON array of objects (SendPulse batches its events),
-- at most `limits.max_body` bytes long and holding at most
-- `limits.max_events` objects. Anything else is `nil, err`, with `err` an
-- error object of kind "decode" whose `rule` says which check failed:
--
--   size      longer than max_body
--   encoding  a Content-Encoding other than identity (nothing is inflated)
--   json      not JSON at all (the decoder's message and position)
--   array     JSON, but not an array
--   object    an item of the array is not an object (`index` names it)
--   count     more than max_events items
--
-- A malformed body never raises and never crashes (spec/webhooks_fuzz_spec.lua).
-- A body or limits of the wrong type is the caller's mistake: an argument
-- error is raised.
local errors = require "sendpulse.errors"
local json = require "sendpulse.json"
local event = require "sendpulse.webhooks.event"

local type, pairs, next, error, tostring, floor = type, pairs, next, error, tostring, math.floor
local format, lower = string.format, string.lower

local decode = json.decode
local normalise, is_object = event.normalise, event.is_object

local _M = {}

-- SendPulse sends at most 1,000 events a batch (SMTP; the email service
-- 100); a chatbot event with a contact's variables is a few kB.
_M.MAX_BODY = 1024 * 1024
_M.MAX_EVENTS = 1000

local function bad_content(rule, message, extra)
  local e = { kind = "decode", rule = rule, argument = "body",
              message = "webhook body: " .. message }
  for k, v in pairs(extra or {}) do e[k] = v end
  return nil, errors.new(e)
end

local function argument(message)
  error(errors.argument("sendpulse.webhooks.parse: " .. message), 3)
end

local function positive(limits, name, default)
  local v = limits[name]
  if v == nil then return default end
  if type(v) ~= "number" or v < 1 or v ~= floor(v) then
    argument(format("limit '%s' must be a whole number >= 1, got %s", name, tostring(v)))
  end
  return v
end

--- Checks a limits table ({ max_body =, max_events = }); returns the
-- limits in force. Raises an argument error naming a bad one.
---@param limits? { max_body?: integer, max_events?: integer }
---@return { max_body: integer, max_events: integer }
function _M.limits(limits)
  if limits == nil then return { max_body = _M.MAX_BODY, max_events = _M.MAX_EVENTS } end
  if type(limits) ~= "table" then argument("'limits' must be a table or nil") end
  for k in pairs(limits) do
    if k ~= "max_body" and k ~= "max_events" then
      argument(format("unknown limit '%s' (known: max_body, max_events)", tostring(k)))
    end
  end
  return { max_body = positive(limits, "max_body", _M.MAX_BODY),
           max_events = positive(limits, "max_events", _M.MAX_EVENTS) }
end

local function content_encoding(headers)
  for name, value in pairs(headers) do
    if type(name) == "string" and lower(name) == "content-encoding" then
      if type(value) == "table" then value = value[#value] end
      return type(value) == "string" and lower(value) or nil
    end
  end
  return nil
end

local function describe(v)
  if v == json.null then return "null" end
  if type(v) == "table" then return "an array" end
  return "a " .. type(v)
end

-- The first character of every item of the top-level array of `body` (valid
-- JSON, already decoded), skipping strings and nested values by jumping
-- from one bracket or quote to the next.
local function item_kinds(body)
  local kinds, depth, pos = {}, 0, 1
  local expecting = false
  while true do
    local at, _, c = body:find('([%[%]{}",])', pos)
    if not at then break end
    if depth == 1 and expecting then
      -- The first non-space character since the "[" or "," is this item's.
      local first = body:match("^[ \t\r\n]*(.)", pos)
      kinds[#kinds + 1] = first
      expecting = false
    end
    if c == '"' then
      -- Jump to the closing quote: one not preceded by an odd run of backslashes.
      local p = at + 1
      while true do
        local q = body:find('["\\]', p)
        if not q then return kinds end
        if body:byte(q) == 92 then p = q + 2 else pos = q + 1; break end
      end
    else
      if c == "[" or c == "{" then
        depth = depth + 1
        if depth == 1 then expecting = true end
      elseif c == "]" or c == "}" then
        depth = depth - 1
      elseif c == "," and depth == 1 then
        expecting = true
      end
      pos = at + 1
    end
  end
  return kinds
end

--- The error for a body of `size` bytes over `limit` (also for callers
-- that learn the size from a Content-Length before reading the body).
---@param size integer
---@param limit integer
---@return nil
---@return sendpulse.Error err
function _M.too_large(size, limit)
  return bad_content("size", format("%d bytes, more than max_body (%d)", size, limit),
    { size = size, limit = limit })
end

--- Checks `body` against already checked limits and decodes it: the list
-- of events, or nil and an error object (see the top of this file).
---@param body string
---@param headers? table<string, string>
---@param limits { max_body: integer, max_events: integer }
---@return sendpulse.webhooks.Event[]? events
---@return sendpulse.Error? err
function _M.checked(body, headers, limits)
  if #body > limits.max_body then return _M.too_large(#body, limits.max_body) end
  if headers then
    local encoding = content_encoding(headers)
    if encoding and encoding ~= "identity" then
      return bad_content("encoding", format("Content-Encoding '%s' is not supported (send it plain)",
        encoding:sub(1, 40)))
    end
  end
  if not body:find("^[ \t\r\n]*%[") then
    -- Not starting with "[": say whether it is JSON at all.
    local _, why = decode(body)
    if why then return bad_content("json", "not JSON: " .. why) end
    return bad_content("array", "not a JSON array (SendPulse sends an array of events)")
  end
  local list, why = decode(body)
  if list == nil then return bad_content("json", "not JSON: " .. tostring(why)) end
  local n = #list
  if n > limits.max_events then
    return bad_content("count", format("%d events, more than max_events (%d)", n, limits.max_events),
      { count = n, limit = limits.max_events })
  end
  local kinds   -- the first character of each item, found only when needed
  local events = {}
  for i = 1, n do
    local raw = list[i]
    local object = is_object(raw)
    if object and next(raw) == nil and body:find("%[[ \t\r\n]*%]", 2) then
      -- An empty table was {} or []: the decoder does not say; the text does.
      kinds = kinds or item_kinds(body)
      object = kinds[i] ~= "["
    end
    if not object then
      return bad_content("object", format("item %d is %s, not an object", i, describe(raw)),
        { index = i })
    end
    events[i] = normalise(raw)
  end
  return events
end

--- parse(body [, headers [, limits]]) -> events | nil, err
---@param body string the bytes SendPulse POSTed
---@param headers? table<string, string> the request's headers (Content-Encoding is checked)
---@param limits? { max_body?: integer, max_events?: integer }
---@return sendpulse.webhooks.Event[]? events
---@return sendpulse.Error? err kind "decode", `rule` naming the check (the top of this file)
function _M.parse(body, headers, limits)
  if type(body) ~= "string" then argument("'body' must be a string, got " .. type(body)) end
  if headers ~= nil and type(headers) ~= "table" then
    argument("'headers' must be a table or nil, got " .. type(headers))
  end
  return _M.checked(body, headers, _M.limits(limits))
end

return _M
