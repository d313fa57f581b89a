--- One webhook object of SendPulse's, in the one shape all three families
-- share (docs/webhooks.md, "The event"):
--
--   source      "email" (bulk campaigns), "smtp", "chatbot" or "unknown"
--   type        the event's own name as sent: email and SMTP `event`,
--               chatbot `title` ("delivered", "open", "new_subscriber", ...)
--   time        integer Unix seconds: `timestamp` (email, SMTP), `date` (chatbots)
--   email       the address concerned: email `email`, SMTP `recipient`
--   task_id, message_id, book_id, link_id   integers
--   link_url    the clicked link (email `link_url`, SMTP `url` or `link_url`)
--   service     chatbots: messenger, telegram, viber, instagram, livechat
--   bot, contact  chatbots: the objects as sent
--   raw         the object as it arrived (never changed)
--
-- The families disagree on types (the email service sends numbers as
-- strings, SMTP as integers): each field above has one type or is nil. A
-- value of the wrong kind (an id that is not a whole number, a time that is
-- not one) leaves its field nil and stays in `raw`; unknown event names and
-- extra keys are data, never an error.
local type, tonumber, floor = type, tonumber, math.floor
local tointeger = math.tointeger   -- nil on Lua 5.1 / LuaJIT

local _M = {}

-- The event, for editors (LuaLS): the fields above.
---@class sendpulse.webhooks.Event
---@field source "email"|"smtp"|"chatbot"|"unknown"
---@field type? string the event's own name as sent ("delivered", "open", "new_subscriber", ...)
---@field time? integer Unix seconds
---@field email? string the address concerned
---@field task_id? integer
---@field message_id? integer
---@field book_id? integer
---@field link_id? integer
---@field link_url? string
---@field service? string chatbots: messenger, telegram, viber, instagram, livechat
---@field bot? table chatbots: as sent
---@field contact? table chatbots: as sent
---@field raw table the object as it arrived (never changed)

-- Whole numbers beyond 2^53 are no longer exact in a double; digit strings
-- longer than 15 could be, and are refused rather than rounded.
local MAX_EXACT = 2 ^ 53

--- `v` (a number or a string of decimal digits) as an integer, or nil.
---@param v any
---@return integer?
function _M.integer(v)
  local n
  if type(v) == "number" then
    n = v
  elseif type(v) == "string" and #v <= 16 and v:find("^%s*%-?%d+%s*$") then
    n = tonumber(v)
  else
    return nil
  end
  if n ~= n or n ~= floor(n) or n >= MAX_EXACT or n <= -MAX_EXACT then return nil end
  return tointeger and tointeger(n) or n
end
local integer = _M.integer

local function text(v)
  if type(v) == "string" and v ~= "" then return v end
  return nil
end

local function object(v)
  if type(v) == "table" then return v end
  return nil
end

-- Which family an object comes from, by the keys only that family sends.
-- SMTP is asked first: it shares `event` and `timestamp` with the email
-- service but alone names a `recipient` or a `message_id`.
local function family(raw)
  if raw.recipient ~= nil or raw.message_id ~= nil then return "smtp" end
  if raw.event ~= nil or raw.timestamp ~= nil or raw.task_id ~= nil or raw.email ~= nil then
    return "email"
  end
  if raw.service ~= nil or raw.bot ~= nil or raw.contact ~= nil or raw.title ~= nil
     or raw.date ~= nil then
    return "chatbot"
  end
  return "unknown"
end
_M.family = family

local normalisers = {}

function normalisers.email(raw, e)
  e.type = text(raw.event)
  e.time = integer(raw.timestamp)
  e.email = text(raw.email)
  e.task_id = integer(raw.task_id)
  e.book_id = integer(raw.book_id)
  e.link_id = integer(raw.link_id)
  e.link_url = text(raw.link_url)
end

function normalisers.smtp(raw, e)
  e.type = text(raw.event)
  e.time = integer(raw.timestamp)
  e.email = text(raw.recipient)
  e.message_id = integer(raw.message_id)
  e.link_url = text(raw.url) or text(raw.link_url)
end

function normalisers.chatbot(raw, e)
  e.type = text(raw.title)
  e.time = integer(raw.date)
  e.service = text(raw.service)
  e.bot = object(raw.bot)
  e.contact = object(raw.contact)
end

function normalisers.unknown(raw, e)
  e.type = text(raw.event) or text(raw.title)
  e.time = integer(raw.timestamp) or integer(raw.date)
end

--- The event for one decoded object (a table with string keys). `raw` is
-- referenced, not copied, and never changed.
---@param raw table
---@return sendpulse.webhooks.Event
function _M.normalise(raw)
  local e = { source = family(raw), raw = raw }
  normalisers[e.source](raw, e)
  return e
end

--- Whether a decoded JSON value is an object. The decoder does not mark
-- arrays, so an array is a table with an item at 1; `[]` and `{}` both
-- decode to an empty table (parse.lua tells them apart from the text).
---@param v any
---@return boolean
function _M.is_object(v)
  return type(v) == "table" and v[1] == nil
end

return _M
