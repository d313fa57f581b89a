--- Receiving webhooks in any server, as plain functions: check who sent the
-- request, parse the body, drop repeats, hand each new event to your code.
-- The nginx handler (webhooks/nginx.lua) is these same steps.
--
--   local receiver = require("sendpulse.webhooks").receiver {
--     secret = "…",            -- required: a string of >= 16 URL-safe characters,
--                              -- a list of them (rotation), or false (no secret check)
--     allow = { "192.0.2.0/24" },  -- optional source-address allow-list (CIDR)
--     store = stores.memory(), -- where seen keys live; false: no deduplication
--     ttl = 86400,             -- seconds a key is remembered
--     max_body = 1048576, max_events = 1000,
--   }
--   local status, events = receiver:receive { secret = s, address = ip, body = body }
--   -- 200 and the new events, or 403 / 400 and an error object
--   receiver:deliver(events, on_event [, on_error])
--
-- Options are checked when the receiver is made: a bad one raises an
-- argument error that names it. Nothing here raises for bad requests.
local errors = require "sendpulse.errors"
local json = require "sendpulse.json"
local parse = require "sendpulse.webhooks.parse"
local dedupe = require "sendpulse.webhooks.dedupe"
local secret = require "sendpulse.webhooks.secret"
local cidr = require "sendpulse.webhooks.cidr"
local memory = require "sendpulse.webhooks.stores.memory"

local type, pairs, ipairs, tostring, error, pcall, setmetatable =
  type, pairs, ipairs, tostring, error, pcall, setmetatable
local format, concat, sort = string.format, table.concat, table.sort
local stderr = io.stderr

local _M = {}

-- receiver(opts)'s options (the top of this file), for editors (LuaLS).
---@class sendpulse.webhooks.ReceiverOptions
---@field secret string|string[]|false a string of >= 16 URL-safe characters, a list of them, or false
---@field allow? string[] source addresses allowed (CIDR)
---@field store? sendpulse.webhooks.Store|false where seen keys live (default: memory); false: no deduplication
---@field ttl? number seconds a key is remembered (default 86400)
---@field max_body? integer bytes (default 1 MiB)
---@field max_events? integer events in one body (default 1000)

---@class sendpulse.webhooks.Receiver
local Receiver = {}
Receiver.__index = Receiver
Receiver.__name = "sendpulse.webhooks.receiver"
_M.Receiver = Receiver

_M.OPTIONS = { "secret", "allow", "store", "ttl", "max_body", "max_events" }

local function bad_option(where, message)
  error(errors.argument(format("%s: %s", where, message)), 4)
end

--- Checks the receiver options of `opts` (other keys are the caller's to
-- check, named in `extra`). Returns the receiver's settings.
---@param opts sendpulse.webhooks.ReceiverOptions
---@param where string the caller's name, for messages
---@param extra? string[] other option names the caller checks
---@return table settings
function _M.settings(opts, where, extra)
  if type(opts) ~= "table" then bad_option(where, "options must be a table") end
  local known = {}
  for _, k in ipairs(_M.OPTIONS) do known[k] = true end
  for _, k in ipairs(extra or {}) do known[k] = true end
  for k in pairs(opts) do
    if not known[k] then
      local names = {}
      for n in pairs(known) do names[#names + 1] = n end
      sort(names)
      bad_option(where, format("unknown option '%s' (known: %s)", tostring(k), concat(names, ", ")))
    end
  end
  local s = {}
  if opts.secret == nil then
    bad_option(where, "'secret' is required: the random part of the webhook URL "
      .. "(or secret = false to accept any URL)")
  elseif opts.secret ~= false then
    local check, why = secret.checker(opts.secret)
    if not check then bad_option(where, why) end
    s.check_secret = check
  end
  if opts.allow ~= nil then
    local allowed, why = cidr.matcher(opts.allow)
    if not allowed then bad_option(where, why) end
    s.allowed = allowed
  end
  if opts.store == nil then
    s.store = memory.new()
  elseif opts.store ~= false then
    if type(opts.store) ~= "table" or type(opts.store.add) ~= "function" then
      bad_option(where, "'store' must be a store (an object with add(key, ttl)) or false")
    end
    s.store = opts.store
  end
  local ttl = opts.ttl
  if ttl == nil then
    ttl = dedupe.TTL
  elseif type(ttl) ~= "number" or not (ttl > 0 and ttl < 2 ^ 31) then
    bad_option(where, "'ttl' must be a number of seconds > 0")
  end
  s.ttl = ttl
  local ok, limits = pcall(parse.limits, { max_body = opts.max_body, max_events = opts.max_events })
  if not ok then bad_option(where, tostring(limits.message or limits):gsub("^[^:]*: ", "")) end
  s.limits = limits
  return s
end

--- receiver(opts) -> receiver
---@param opts sendpulse.webhooks.ReceiverOptions
---@return sendpulse.webhooks.Receiver
function _M.new(opts)
  return setmetatable(_M.settings(opts, "sendpulse.webhooks.receiver"), Receiver)
end

local function refused(rule, message)
  return nil, errors.new { kind = "auth", rule = rule, status = 403, message = "webhook: " .. message }
end

--- Whether the request may be a SendPulse webhook: the secret taken from
-- its URL (given; nil when it had none) and the peer address. true, or nil
-- and an error object (kind "auth", rule "secret" or "address").
---@param given? string the secret the request's URL carried
---@param address? string the peer's address
---@return true?
---@return sendpulse.Error? err
function Receiver:authenticate(given, address)
  if self.allowed and not self.allowed(address) then
    return refused("address", "the source address is not in the allow-list")
  end
  if self.check_secret and not self.check_secret(given) then
    return refused("secret", "the URL does not carry the webhook secret")
  end
  return true
end

--- parse(body [, headers]) -> events | nil, err: see webhooks/parse.lua.
---@param body string
---@param headers? table<string, string>
---@return sendpulse.webhooks.Event[]? events
---@return sendpulse.Error? err
function Receiver:parse(body, headers)
  if type(body) ~= "string" then
    error(errors.argument("receiver:parse: 'body' must be a string, got " .. type(body)), 2)
  end
  if headers ~= nil and type(headers) ~= "table" then
    error(errors.argument("receiver:parse: 'headers' must be a table or nil, got " .. type(headers)), 2)
  end
  return parse.checked(body, headers, self.limits)
end

--- fresh(events) -> the events not seen before, nil, and the store's
-- failures (see dedupe.fresh).
---@param events sendpulse.webhooks.Event[]
---@return sendpulse.webhooks.Event[] new
---@return nil
---@return { event: sendpulse.webhooks.Event, message: string }[] failures
function Receiver:fresh(events)
  if not self.store then return events, nil, {} end
  return dedupe.fresh(events, self.store, self.ttl)
end

--- One request: { body =, secret =, address =, headers = } ->
--   200, new events, store failures | 403 or 400, error object.
-- (Not the `res, err` shape on purpose: it always gives the HTTP status to
-- answer first, the way a handler needs it.)
---@param req { body?: string, secret?: string, address?: string, headers?: table<string, string> }
---@return integer status 200, 403 or 400
---@return sendpulse.webhooks.Event[]|sendpulse.Error events_or_err
---@return { event: sendpulse.webhooks.Event, message: string }[]? failures
function Receiver:receive(req)
  if type(req) ~= "table" then
    error(errors.argument("receiver:receive: 'request' must be a table"), 2)
  end
  local ok, err = self:authenticate(req.secret, req.address)
  if not ok then return 403, err end
  local events, perr = self:parse(req.body or "", req.headers)
  if not events then return 400, perr end
  local new, _, failures = self:fresh(events)
  return 200, new, failures
end

--- The event as one line of JSON for logs (its original object).
---@param event sendpulse.webhooks.Event|table
---@return string
function _M.describe(event)
  local ok, text = pcall(json.encode, type(event) == "table" and event.raw or event)
  if not ok then return "(an event that cannot be shown as JSON)" end
  if #text > 2000 then text = text:sub(1, 2000) .. "…" end
  return text
end

local function default_on_error(err, event)
  stderr:write(format("sendpulse.webhooks: on_event failed: %s; event: %s\n",
    tostring(err), _M.describe(event)))
end
_M.default_on_error = default_on_error

--- Calls on_event(event) for each event. An error raised by on_event is
-- passed to on_error(err, event) (default: a line on stderr with the
-- event), and one raised by on_error too is written to stderr: none is
-- lost, none stops the other events. Returns how many succeeded, and the
-- list of { event =, error = } that failed.
---@param events sendpulse.webhooks.Event[]
---@param on_event fun(event: sendpulse.webhooks.Event)
---@param on_error? fun(err: any, event: sendpulse.webhooks.Event)
---@return integer done
---@return { event: sendpulse.webhooks.Event, error: any }[] failed
function _M.deliver(events, on_event, on_error)
  on_error = on_error or default_on_error
  local done, failed = 0, {}
  for _, e in ipairs(events) do
    local ok, err = pcall(on_event, e)
    if ok then
      done = done + 1
    else
      failed[#failed + 1] = { event = e, error = err }
      local rok, rerr = pcall(on_error, err, e)
      if not rok then
        default_on_error(format("%s (and on_error failed too: %s)", tostring(err), tostring(rerr)), e)
      end
    end
  end
  return done, failed
end

--- receiver:deliver(events, on_event [, on_error]): as deliver, its
-- arguments checked.
---@param events sendpulse.webhooks.Event[]
---@param on_event fun(event: sendpulse.webhooks.Event)
---@param on_error? fun(err: any, event: sendpulse.webhooks.Event)
---@return integer done
---@return { event: sendpulse.webhooks.Event, error: any }[] failed
function Receiver:deliver(events, on_event, on_error)
  if type(on_event) ~= "function" then
    error(errors.argument("receiver:deliver: 'on_event' must be a function"), 2)
  end
  if on_error ~= nil and type(on_error) ~= "function" then
    error(errors.argument("receiver:deliver: 'on_error' must be a function or nil"), 2)
  end
  return _M.deliver(events, on_event, on_error)
end

Receiver.__tostring = function() return Receiver.__name end

return _M
