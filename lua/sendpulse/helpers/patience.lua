--- Waiting out SendPulse's "wait, then try again" answers: the codes with a
-- wait in sendpulse.errors' table (711: 15 minutes before sending to the
-- same mailing list again; 791: at most 4 API campaigns an hour; 1004: a
-- sender activation code already sent; 2020202020: a second, once the
-- client's own retries are spent). By default these are errors with
-- retry_after (seconds: the answer's Retry-After, else the code's wait);
-- nothing waits longer than the client's retry_max_delay.
-- service:patient(opts) returns the same service whose calls wait
-- err.retry_after and try again:
--
--   local email = client.email:patient{ max_wait = 1800, attempts = 3 }
--   email:create_campaign{ ... }      -- on 711: sleeps 900 s, sends again
--
-- opts (all optional):
--   max_wait   total seconds one call may spend waiting (default 1800); a wait
--              that would go past it is not started: the error is reported
--   attempts   calls in all, the first included (default 3)
--   codes      the codes to wait on (default: every code with a wait in
--              sendpulse.errors' table when patient is called)
--   sleep      function(seconds) (default: the client's sleep option, which is
--              ngx.sleep-friendly; else the C core's sleep)
--   clock      function() -> seconds, monotonic (default core.monotonic)
--   on_wait    function{ code =, seconds =, attempt = } called before each wait
-- Injecting sleep and clock lets a test wait 15 "minutes" in milliseconds.
-- A reported error carries err.waited (seconds spent waiting) and
-- err.attempts_made.

local type, ipairs, rawget, tostring, setmetatable, error =
      type, ipairs, rawget, tostring, setmetatable, error
local format = string.format

local core = require "sendpulse.core"
local catalog = require "sendpulse.operations.catalog"
local common = require "sendpulse.helpers.common"
local errors = require "sendpulse.errors"
local duration = errors.duration
local number = require "sendpulse.number"

local _M = {}

_M.DEFAULT_MAX_WAIT = 1800
_M.DEFAULT_ATTEMPTS = 3

local OPTS = { "max_wait", "attempts", "codes", "sleep", "clock", "on_wait" }

-- Returns the settings or nil, message.
local function settings(self, opts)
  local msg
  opts, msg = common.check_options(opts, OPTS)
  if not opts then return nil, msg end
  local s = {
    max_wait = opts.max_wait or _M.DEFAULT_MAX_WAIT,
    attempts = opts.attempts or _M.DEFAULT_ATTEMPTS,
    sleep = opts.sleep or rawget(self, "_client").sleep or core.sleep,
    clock = opts.clock or core.monotonic,
    on_wait = opts.on_wait,
    codes = {},
  }
  if type(s.max_wait) ~= "number" or s.max_wait ~= s.max_wait or s.max_wait < 0 or s.max_wait > 86400 then
    return nil, "option 'max_wait' must be a number of seconds from 0 to 86400"
  end
  if not number.is_integer(s.attempts) or s.attempts < 1 or s.attempts > 100 then
    return nil, "option 'attempts' must be an integer from 1 to 100"
  end
  for _, k in ipairs { "sleep", "clock" } do
    if type(s[k]) ~= "function" then return nil, format("option '%s' must be a function", k) end
  end
  if s.on_wait ~= nil and type(s.on_wait) ~= "function" then
    return nil, "option 'on_wait' must be a function"
  end
  local codes = opts.codes or errors.waiting_codes()
  if type(codes) ~= "table" or codes[1] == nil then
    return nil, "option 'codes' must be a non-empty list of error codes"
  end
  for _, c in ipairs(codes) do
    if type(c) ~= "number" then return nil, "option 'codes' must hold numbers (error codes)" end
    s.codes[c] = true
  end
  return s
end

-- Calls fn(service, ...) until it succeeds, fails otherwise, or the budget
-- of attempts and waiting runs out.
local function call_patiently(s, service, fn, ...)
  local deadline = s.clock() + s.max_wait
  local waited, attempt = 0, 0
  while true do
    attempt = attempt + 1
    local ok, value, meta, err = common.attempt(fn, service, ...)
    if ok then return common.succeed(service, value, meta) end
    if not common.errors.is_error(err) then error(err, 0) end
    local wait = err.retry_after
    local waitable = s.codes[err.code] and type(wait) == "number"
    if not waitable or attempt >= s.attempts or s.clock() + wait > deadline then
      err.waited, err.attempts_made = waited, attempt
      if waitable then
        err.message = format("%s (gave up after %d %s and %s of waiting: waiting %s more %s)",
          tostring(err.message), attempt, attempt == 1 and "attempt" or "attempts", duration(waited),
          duration(wait), attempt >= s.attempts and "would pass attempts" or "would pass max_wait")
      end
      return common.fail(service, err)
    end
    if s.on_wait then s.on_wait { code = err.code, seconds = wait, attempt = attempt } end
    s.sleep(wait)
    waited = waited + wait
  end
end

local Patient = { __name = "sendpulse.patient_service" }

Patient.__index = function(proxy, key)
  local service = rawget(proxy, "_service")
  local fn = service[key]
  if type(fn) ~= "function" then return fn end
  local s = rawget(proxy, "_settings")
  local wrapped = function(self, ...)
    if self ~= proxy then
      local name = rawget(service, "_name")
      return common.fail(service, common.errors.argument(format(
        "%s:%s: call it with ':', not '.': %s:%s(...)", name, tostring(key), name, tostring(key))))
    end
    return call_patiently(s, service, fn, ...)
  end
  proxy[key] = wrapped
  return wrapped
end

Patient.__tostring = function(proxy)
  return "sendpulse.patient_service: " .. tostring(rawget(rawget(proxy, "_service"), "_name"))
end

-- service:patient, for editors (LuaLS) a method of sendpulse.Service.
---@class sendpulse.Service
local Service = {}

-- patient's opts (the top of this file says what each does).
---@class sendpulse.PatienceOptions
---@field max_wait? number seconds of waiting one call may spend in all (default 1800)
---@field attempts? integer calls in all, the first included (default 3)
---@field codes? integer[] the codes to wait on (default: every code with a wait, errors.waiting_codes())
---@field sleep? fun(seconds: number)
---@field clock? fun(): number monotonic seconds
---@field on_wait? fun(wait: { code: integer, seconds: number, attempt: integer })

--- service:patient(opts) -> the same service, whose calls wait out 711,
--- 791 and 1004 and try again.
---@generic S: sendpulse.Service
---@param self S
---@param opts? sendpulse.PatienceOptions
---@return S service
function Service.patient(self, opts)
  common.check_self(self, "patient")
  local s, msg = settings(self, opts)
  if not s then return common.bad(self, "patient", msg) end
  return setmetatable({ _service = self, _settings = s }, Patient)
end

_M.call = call_patiently
_M.settings = settings

function _M.register(add)
  for _, service in ipairs(catalog.services()) do
    add(service, "patient", Service.patient)
  end
end

return _M
