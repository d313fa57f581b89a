--- The client object: made (new) from checked options with its account's
-- token and budget and a transport, closed (close), and what it tells
-- about itself. Its calls run through pipeline.lua (client:request) and
-- async.lua (the non-blocking methods); the service tables (client.email,
-- ...) come from sendpulse.operations.

local errors = require "sendpulse.errors"
local options = require "sendpulse.client.options"
local account = require "sendpulse.account"
local transport = require "sendpulse.transport"
local pipeline = require "sendpulse.client.pipeline"
local async = require "sendpulse.client.async"

local type, pairs, error, setmetatable, getmetatable =
      type, pairs, error, setmetatable, getmetatable
local format = string.format
local argument_error = errors.argument

local _M = {}

-- The client's methods. For editors (LuaLS), its types: the raising form
-- here; the safe form (sendpulse.SafeClient) in sendpulse/safe.lua; the
-- services (client.email, ...) and their operations in sendpulse/api/meta.lua.
---@class sendpulse.Client
---@field cfg table the checked options (without the secret)
local Client = {}
local mt = { __name = "sendpulse.client" }

---@alias sendpulse.HttpMethod "GET"|"POST"|"PUT"|"PATCH"|"DELETE"|"HEAD"|"OPTIONS"

-- client:request's opts: the call options, and the request's content.
---@class sendpulse.RequestOptions : sendpulse.CallOptions
---@field query? table a table that becomes the query string
---@field json? any a body sent as JSON
---@field form? table<string, any> a body sent as a form
---@field body? string a body sent as given (with content_type)
---@field content_type? string the Content-Type of `body`

-- What a successful call returns beside its value.
---@class sendpulse.Meta
---@field status integer the HTTP status
---@field headers table<string, string> the answer's headers, names in lower case
---@field duration number seconds the call took, waits and retries included
---@field attempts integer attempts that reached the transport
---@field replayed? boolean an idempotency key's recorded outcome: no request was made
---@field reconciled? boolean found by the idempotency reconciler
---@field resent? boolean sent again after an uncertain first attempt
---@field value_dropped? boolean a replay whose value was too large to record
---@field batches? sendpulse.BatchResult[] smtp:get_smtp_emails_batch_info: every batch

-- Service tables (client.email, client.smtp, ...) come from generated data,
-- created on first use; see sendpulse.operations. Loaded on first use too:
-- a client that only calls request() never loads the operation tables.
local operations
mt.__index = function(self, key)
  local method = Client[key]
  if method ~= nil then return method end
  if type(key) ~= "string" then return nil end
  operations = operations or require "sendpulse.operations"
  return operations.get(self, key)
end

mt.__tostring = function(self)
  local cfg = self.cfg
  local rl = cfg.rate_limit
  return format("sendpulse.client (%s, %s, %s%s)", cfg.base_url, self.identity,
    rl and format("%g requests/s", rl.rate) or "no rate limit",
    self.closed and ", closed" or "")
end

-- Takes the secret and the token (as is, percent-encoded, JSON-escaped,
-- Base64: see csrc/sp_scrub.h) out of every text of an error: whatever a
-- server echoed into its message, or any other field.
local function scrub_error(self, err)
  local auth = self.auth
  if auth and type(err) == "table" then
    for k, v in pairs(err) do
      if type(v) == "string" then err[k] = auth:scrub(v) end
    end
    -- (an api error's field_errors quote the server too)
    local fields = err.field_errors
    if type(fields) == "table" then
      for i = 1, #fields do
        local f = fields[i]
        if type(f.field) == "string" then f.field = auth:scrub(f.field) end
        if type(f.message) == "string" then f.message = auth:scrub(f.message) end
      end
    end
  end
  return err
end

--- Reports a failure: raises it, or returns nil, err for a safe client.
-- Every failure of a client passes here, scrubbed of its secrets.
-- (Internal: the helpers and modules of the library report through it.)
---@param err sendpulse.Error
---@return nil
---@return sendpulse.Error err
function Client:fail(err)
  scrub_error(self, err)
  if self.raise then error(err, 0) end
  return nil, err
end

--- client:request(method, path, opts) -> value, meta (see pipeline.lua)
Client.request = pipeline.request

--- client:stats() -> { metrics = { [series] = value }, text = Prometheus text }: what
-- this client counted (sendpulse.metrics), or nil with metrics = false.
---@return { metrics: table<string, number>, text: string }?
function Client:stats()
  local m = self.metrics
  if not m then return nil end
  return { metrics = m:snapshot(), text = m:text() }
end

--- The client's idempotency ledger (sendpulse.idempotency): the one its
-- `idempotency` option describes, else (on first use) one in this
-- process's memory with the defaults.
---@return sendpulse.idempotency.Ledger
function Client:ledger()
  local ledger = self.ledger_obj
  if not ledger then
    local idempotency = require "sendpulse.idempotency"
    local idem = self.cfg.idempotency or {}
    local store = idempotency.store_for(idem, self.cfg, account.redis_conn)
    ledger = idempotency.new({ store = store, ttl = idem.ttl, lease = idem.lease, grace = idem.grace,
      on_uncertain = idem.on_uncertain, reconcile = idem.reconcile, clock_slack = idem.clock_slack },
      account.account_key(self.cfg), function(event)
        local m = self.metrics
        if m then m:inc("sendpulse_idempotency_total", { outcome = event.outcome }) end
        local hook = self.cfg.hook
        if hook then
          if type(event.message) == "string" then event.message = self.scrub(event.message) end
          hook(event)
        end
      end)
    self.ledger_obj = ledger
  end
  return ledger
end

--- Closes the connection. Idempotent; later calls fail with an argument
-- error. Also run by `<close>` variables on Lua 5.4.
function Client:close()
  if not self.closed then
    self.closed = true
    self.token_form = false
    local t = self.transport
    if type(t) == "userdata" or (type(t) == "table" and t.close) then t:close() end
  end
end
mt.__close = function(self) self:close() end

--- Seconds the account's token stays valid (nil: none yet; math.huge for an
-- API key). Never the token itself.
---@return number? seconds
function Client:token_expires_in()
  return self.auth:expires_in()
end

-- client:quota()'s answer; a window without a limit is absent.
---@class sendpulse.Quota
---@field per_second? { limit: number, burst: integer, left: number, wait: number }
---@field per_minute? { limit: integer, used: integer, left: integer, wait: number, period: number }
---@field per_hour? { limit: integer, used: integer, left: integer, wait: number, period: number }
---@field per_day? { limit: integer, used: integer, left: integer, wait: number, period: number }
---@field queued integer calls of this Lua state waiting for a slot

--- What is left of the account's budget in each window, as the budget
-- this client uses sees it (shared or not): { per_second = { limit, burst,
-- left, wait }, per_minute = { limit, used, left, wait, period }, per_hour
-- = ..., per_day = ..., queued = calls of this Lua state waiting for a
-- slot }; a window without a limit is absent. wait: seconds until a request
-- may leave. nil when rate_limit = false. Takes nothing.
---@return sendpulse.Quota?
function Client:quota()
  if self.closed then
    return self:fail(argument_error("attempt to use a closed sendpulse client"))
  end
  local budget = self.limiter
  if not budget then return nil end
  return budget:state()
end

--- Number of connections the transport has opened (keep-alive check).
---@return integer? n nil when the transport does not count them
function Client:connections()
  local t = self.transport
  if t.connections then return t:connections() end
  return nil
end

--- new(opts, raise) -> client, or (safe) nil, err
---@param opts sendpulse.Options
---@param raise boolean
---@return sendpulse.Client?
---@return sendpulse.Error?
function _M.new(opts, raise)
  local cfg, msg = options.check(opts)
  if not cfg then
    local err = argument_error(msg)
    if raise then error(err, 0) end
    return nil, err
  end
  local t, why = transport.new(cfg, raise and true or false)
  if not t then
    local err = argument_error(why)
    if raise then error(err, 0) end
    return nil, err
  end
  -- closed and limiter are always set (false, not nil): a missing field
  -- would go through mt.__index, a function call, on every request.
  local self = setmetatable({ raise = raise and true or false, closed = false,
                              urls = {}, n_urls = 0, token_form = false, ledger_obj = false,
                              metrics = false, call_label = false }, mt)
  -- A store's or a budget's message may quote what a server sent: hook
  -- events get it without the secret and the token too.
  local function scrub(text) return self.auth:scrub(text) end
  self.scrub = scrub
  local function report(operation, message)
    -- A failing token store degrades to this process's own token.
    if cfg.hook then cfg.hook { event = "store_error", operation = operation, message = scrub(message) } end
  end
  self.auth = account.auth(cfg, report)
  -- A shared budget that fails degrades to a local one (limiter_error),
  -- and recovers (limiter_recovered).
  self.limiter = account.limiter(cfg, report, function(event)
    if cfg.hook then
      if type(event.message) == "string" then event.message = scrub(event.message) end
      cfg.hook(event)
    end
  end) or false
  -- The libcurl transports take the C auth object among the headers and
  -- write the Authorization line from it (see pipeline.lua).
  local c_auth = type(self.auth) == "table" and self.auth.auth or self.auth
  self.bearer = transport.takes_auth(t) and c_auth or false
  self.identity = cfg.api_key and "api key" or format("client id %.6s...", cfg.client_id)
  -- The secrets now live in the C auth object only: drop them from the
  -- settings, so neither a dump of the client nor an error can show them.
  cfg.client_secret, cfg.api_key = nil, nil
  if cfg.redis and cfg.redis.password then cfg.redis.password = "(hidden)" end
  self.cfg = cfg
  -- [metrics] the client's own registry, unless given one or told not to.
  if cfg.metrics == nil or cfg.metrics == true then
    self.metrics = require("sendpulse.metrics").new()
  elseif cfg.metrics then
    self.metrics = cfg.metrics
  end
  self.sleep = transport.sleep(cfg, t)
  self.transport = t
  return self
end

-- Non-blocking calls (transport = "multi"): start, run, poll, pending, async.
for name, fn in pairs(async) do Client[name] = fn end

-- A method called with '.' (client.request("GET", ...)) or on nil gets no
-- client as self: without one there is nobody to ask whether to raise, so
-- even a safe client's method raises, an argument error object that says
-- how to call it (never Lua's "attempt to index a string value").
for name, fn in pairs(Client) do
  Client[name] = function(self, ...)
    if getmetatable(self) ~= mt then
      error(argument_error(format("client:%s: call it on a client with ':', not '.': client:%s(...)",
        name, name)), 2)
    end
    return fn(self, ...)
  end
end

_M.Client = Client
_M.metatable = mt
-- For sendpulse.outbox: a call through a given ledger, a plain one (both
-- value, meta | nil, err, never raised), and the check of a call's
-- arguments (see pipeline.lua).
_M.call_with_ledger = pipeline.call_with_ledger
_M.call_plain = pipeline.call_plain
_M.checked = pipeline.checked
return _M
