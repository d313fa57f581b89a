--- The request pipeline: one call's way from arguments to a decoded answer
-- (client:request; sendpulse.client makes the client it runs on).
--
--   token (cached per account; one refresh at a time)
--   -> rate budget (per account; wait in line for a slot, taken as the
--      request leaves)
--   -> the token read again if the call waited (it may have come due)
--   -> transport:perform (libcurl here; nginx cosockets elsewhere)
--   -> response.classify (value or error object)
--   -> on 401: new token, replay once; on another failure: retry after the
--      wait sendpulse.wire.retry's next_wait decides, or report it
--
-- `timeout` is a deadline for the whole call: the token fetch, the wait for
-- a slot, every attempt (each is given the time left) and the backoff
-- between them. What cannot fit in it is not started: a call whose wait for
-- a slot would pass it fails at once, a retry whose backoff would pass it
-- is not made.
--
-- The transport is the only part that does I/O and the sleep function the
-- only part that waits, so the same code runs blocking, inside nginx, or in
-- an event loop.

local core = require "sendpulse.core"
local errors = require "sendpulse.errors"
local json = require "sendpulse.json"
local metrics_key = require("sendpulse.metrics").key
local response = require "sendpulse.wire.response"
local retry = require "sendpulse.wire.retry"
local bearer = require "sendpulse.account.token"
local token_requests = require "sendpulse.account.token_requests"
local arguments = require "sendpulse.client.arguments"

local type, pcall, error, tonumber, setmetatable = type, pcall, error, tonumber, setmetatable
local format, floor = string.format, math.floor
local monotonic = core.monotonic
local new_error, argument_error = errors.new, errors.argument
local prepare = arguments.prepare
local next_wait = retry.next_wait

local TOKEN_PATH = "/oauth/access_token"

-- A transport's failure kind -> the error kind ("tls" is a network error
-- with err.tls set; "cancelled": the client was closed while the multi
-- transport drove its loop for this call).
local transport_kinds = { timeout = "timeout", too_large = "too_large", protocol = "protocol",
                          cancelled = "cancelled" }

local _M = {}

-- A call in progress: { method, path, timeout, deadline } (monotonic
-- seconds). Errors name the call, never the token request made for it.

-- Takes a slot in the account's budget for a request leaving now, waiting
-- in line if needed. Returns true, waited | nil, err.
local function take_slot(self, call)
  local budget = self.limiter
  if not budget then return true, false end
  local m = self.metrics
  local t0 = m and monotonic()
  local ok, waited = budget:take(call.deadline, self.sleep, call)
  if ok then call.taken_at = monotonic() end
  -- [metrics] the time waited for the budget
  if m then m:observe("sendpulse_rate_wait_seconds", nil, monotonic() - t0) end
  return ok, waited
end

-- One HTTP exchange, its slot taken: perform with the time left (at most
-- the call's attempt_timeout), classify, tell the hook. Returns value, meta
-- or nil, err.
local function send(self, call, method, path, url, headers, body, attempt, raw, idempotent)
  if self.closed then
    -- close() from inside a hook (or a store, or another coroutine) while
    -- this call was on its way: its transport is gone.
    return nil, new_error { kind = "cancelled", method = method, path = path, attempts = attempt - 1,
      message = "the client was closed during this call", maybe_sent = false }
  end
  local started = monotonic()
  local left = call.deadline - started
  local limit = call.attempt_timeout
  if limit and limit < left then left = limit end
  if left <= 0 then
    return nil, new_error { kind = "timeout", method = method, path = path, attempts = attempt - 1,
      message = format("not sent: the %g s timeout passed before it could be", call.timeout),
      stage = "rate", retryable = true, maybe_sent = false }
  end
  local connect_timeout = self.cfg.connect_timeout
  if connect_timeout > left then connect_timeout = left end
  local status, rbody, rheaders, sent, left_after = self.transport:perform(
    method, url, headers, body, left, connect_timeout, call.once)
  local duration = monotonic() - started
  local budget = self.limiter
  if budget then
    -- When the request really left: a connection set up first, or a slow
    -- Lua state, count from then (sendpulse.account.budget).
    budget:late(started - call.taken_at + (tonumber(left_after) or 0))
  end
  local value, err
  if status == nil then
    -- perform's failure form: nil, kind, message, sent
    err = retry.settle(new_error {
      kind = transport_kinds[rbody] or "network",
      message = rheaders, method = method, path = path, tls = rbody == "tls" or nil,
    }, method, idempotent, sent)
  else
    value, err = response.classify(status, rbody, rheaders,
      { method = method, path = path, scrub = self.scrub }, raw)
    if err then retry.settle(err, method, idempotent, true) end
  end
  -- Only built when someone listens: a table per call is measurable
  -- (bench/cost.lua).
  local hook = self.cfg.hook
  if hook then
    hook {
      event = path == TOKEN_PATH and "token" or "request",
      method = method, path = path, status = status, duration = duration,
      attempt = attempt, error = err and err.kind or nil,
    }
  end
  if err then
    err.attempts = attempt
    return nil, err
  end
  return value, { status = status, headers = rheaders, duration = duration, attempts = attempt }
end

-- POST /oauth/access_token for `call`, within its deadline, with the same
-- retry rules as any call (asking for a token again is harmless). Returns
-- the new token's generation or nil, err. slot_held: the first attempt uses
-- a slot the call already took.
local function fetch_token(self, call, slot_held)
  local cfg, auth = self.cfg, self.auth
  local url = cfg.base_url .. TOKEN_PATH
  local headers = { "Accept: application/json", "Content-Type: application/x-www-form-urlencoded" }
  local attempt = 0
  while true do
    attempt = attempt + 1
    -- At most token_requests.MAX_PER_MINUTE for the account: past it, a
    -- token endpoint is handing out tokens that do not last, and asking
    -- again would only repeat that.
    local allowed, wait, where = token_requests.take(auth)
    if not allowed then
      return nil, new_error { kind = "rate_limit", rule = "token_requests", method = "POST", path = TOKEN_PATH,
        message = format("not sent: the account made %d token requests within %d s %s, the most it may "
          .. "(sendpulse.account.token_requests); the next may go in %.0f s. The token endpoint's tokens "
          .. "do not last (expires_in) or are refused at once (401)", token_requests.MAX_PER_MINUTE,
          token_requests.WINDOW, where, wait),
        retry_after = wait, retryable = false, maybe_sent = false }
    end
    -- The token request is a request: it takes a slot of its own.
    local ok, err = true, nil
    if not (slot_held and attempt == 1) then ok, err = take_slot(self, call) end
    if not ok then return nil, err end
    local value
    -- One Lua string of the form body per client, however many token
    -- requests fail: each new one would leave a copy of the secret in
    -- freed memory (a Lua string cannot be wiped; docs/security.md).
    local form = self.token_form
    if not form then
      form = auth:token_request()
      self.token_form = form
    end
    value, err = send(self, call, "POST", TOKEN_PATH, url, headers, form, attempt, false, true)
    -- [metrics] token fetches
    local m = self.metrics
    if m then m:inc("sendpulse_token_fetches_total", { result = value and "ok" or err.kind }) end
    if value then
      local token = type(value) == "table" and value.access_token or nil
      if token == nil then
        return nil, new_error { kind = "decode", method = "POST", path = TOKEN_PATH,
          message = "the token answer has no access_token", maybe_sent = true }
      end
      -- Whatever the endpoint sent (CR LF, NUL, megabytes): it must be a
      -- Bearer token, and its lifetime believable (sendpulse.account.token).
      local good, why = bearer.check(token)
      if not good then
        return nil, new_error { kind = "decode", method = "POST", path = TOKEN_PATH,
          message = "the token answer's access_token cannot be a Bearer token: " .. why, maybe_sent = true }
      end
      return auth:finish_refresh(token, bearer.lifetime(value.expires_in))
    end
    local d = next_wait(err, attempt, self.cfg, call)
    if not d then return nil, err end
    self.sleep(d)
  end
end

-- The generation of the account's current token, fetching one if needed
-- (the token itself stays in the C auth object: see request). When another
-- caller (a coroutine, an nginx light thread) is already fetching, waits
-- for it instead of sending a second token request, until the call's
-- deadline. Returns generation, keep (send it even if a wait makes it
-- due: this call fetched it, or may not fetch another) or nil, err.
local function current_token(self, call, slot_held)
  local auth = self.auth
  local generation = auth:current()
  if generation then return generation, false end
  while true do
    if auth:begin_refresh() then
      local ok, g, err = pcall(fetch_token, self, call, slot_held)
      if not ok or not g then auth:abort_refresh() end
      if not ok then error(g, 0) end   -- a hook raised, or out of memory
      if g then return g, true end
      -- Past the bound of token requests, the token held (due, not
      -- refused) goes until the server refuses it with a 401; only a call
      -- without one fails.
      if err.rule == "token_requests" then
        local held = auth:held()
        if held then return held, true end
      end
      return nil, err
    end
    if monotonic() > call.deadline then
      return nil, new_error { kind = "timeout", method = "POST", path = TOKEN_PATH,
        message = "gave up waiting for another caller's token request", retryable = true,
        maybe_sent = false }
    end
    self.sleep(0.01)
    generation = auth:current()
    if generation then return generation, false end
  end
end

-- A failure to get a token, told as a failure of `call`: what failed, that
-- it was while getting the token, and the call it was for. The call itself
-- was not sent; repeating it is safe if getting a token may work next time.
local function token_failure(err, call)
  err.message = "getting an OAuth token failed (POST " .. TOKEN_PATH .. "): " .. err.message
  err.method, err.path, err.stage = call.method, call.path, "token"
  err.maybe_sent = false
  return err
end

-- The token, then a slot; the token is read again when the call waited
-- for the slot, so a call queued past the refresh margin never sends a
-- token that came due meanwhile. Returns the token's generation or nil,
-- err (the token stays in the C auth object).
local function token_and_slot(self, call)
  if not self.limiter then
    -- No budget (rate_limit = false): the cached token is all there is to it.
    local generation = self.auth:current()
    if generation then return generation end
  end
  local slot_held = false
  while true do
    local generation, keep = current_token(self, call, slot_held)
    if not generation then return nil, token_failure(keep, call) end
    local ok, waited = take_slot(self, call)
    if not ok then return nil, waited end
    -- A token this call fetched goes with it, even when the wait made it
    -- due: fetching again would meet the same wait (tokens "of 0.0001 s"
    -- had every call fetch until its timeout). Had it lapsed, the server's
    -- 401 brings one new token and one replay.
    if not waited or keep then return generation end
    generation = self.auth:current()
    if generation then return generation end
    -- Due (or dropped after a 401 elsewhere) while this call waited: the
    -- slot it holds carries the token request (unless another caller is
    -- already fetching one), then the call takes a slot again.
    slot_held = true
  end
end

-- The pipeline of one prepared call: token, slot, send, retries. Returns
-- value, meta | nil, err (never raises an error object: the caller fails
-- it). before_send, when given, runs once before anything else: the
-- idempotency ledger writes `sending` there; if it fails, nothing is sent.
local function perform(self, method, path, opts, url, body, ctype, extra, before_send)
  local cfg = self.cfg
  local timeout = opts and opts.timeout or cfg.timeout
  local idempotent = opts and opts.idempotent or false
  -- once: a call through the idempotency ledger that is not safe to repeat
  -- must never be sent twice by the transport either (a new connection:
  -- see transport perform's `fresh`).
  local call = { method = method, path = path, timeout = timeout, deadline = monotonic() + timeout,
                 attempt_timeout = opts and opts.attempt_timeout or cfg.attempt_timeout,
                 once = before_send ~= nil and not retry.idempotent(method, idempotent) }
  local raw = opts and opts.raw or false
  -- [idempotency hook] the ledger's `sending`, before the token and the
  -- slot: a slot is spent on the request the moment it is taken, and a
  -- store write in between (an fsync) would let the requests of several
  -- processes bunch up past the budget within one second.
  if before_send then
    local ok, why = before_send()
    if not ok then return nil, why end
  end
  local static_key = self.auth:is_static()
  local retries_used, replayed = 0, false
  local attempt = 0
  while true do
    attempt = attempt + 1
    local generation, token_err = token_and_slot(self, call)
    if not generation then
      token_err.attempts = attempt - 1
      return nil, token_err
    end
    -- The libcurl transports write the Authorization line from the C auth
    -- object (self.bearer): no Lua string of the token is made for the call.
    -- Others get the line as a string.
    local headers = { self.bearer or self.auth:bearer() }
    if not (extra and extra.accept) then headers[2] = "Accept: application/json" end
    if ctype then headers[#headers + 1] = "Content-Type: " .. ctype end
    if extra then
      for i = 1, #extra do headers[#headers + 1] = extra[i] end
    end
    local value, meta_or_err = send(self, call, method, path, url, headers, body, attempt, raw, idempotent)
    if value ~= nil then return value, meta_or_err end
    local err = meta_or_err
    if err.kind == "auth" and err.status == 401 and not replayed and not static_key then
      -- The token expired early or was revoked: one new token, one replay.
      replayed = true
      self.auth:invalidate(generation)
    else
      local d = next_wait(err, retries_used + 1, cfg, call)
      if not d then
        if err.kind == "auth" and replayed then
          err.message = err.message .. " (after fetching a new token)"
        elseif err.kind == "auth" and static_key then
          err.message = err.message .. " (the API key was refused)"
        end
        return nil, err
      end
      retries_used = retries_used + 1
      -- [metrics] retries
      local m = self.metrics
      if m then m:inc("sendpulse_retries_total", { kind = err.kind }) end
      self.sleep(d)
    end
  end
end

-- Checks and prepares a call: url, body, ctype, extra | nil, err.
local function checked(self, method, path, opts)
  if self.closed then return nil, argument_error("attempt to use a closed sendpulse client") end
  local url, body, ctype, extra = prepare(self, method, path, opts)
  if not url then return nil, body end
  -- Inside nginx: refuse at once in phases without cosockets, before a
  -- token or a rate slot is taken.
  local usable = self.transport.usable
  if usable then
    local ok, why = usable(self.transport)
    if not ok then return nil, argument_error(why) end
  end
  return url, body, ctype, extra
end

-- A call without the ledger and without failing: value, meta | nil, err
-- (the idempotency reconciler's lookups, the outbox).
local function call_plain(self, method, path, opts)
  local url, body, ctype, extra = checked(self, method, path, opts)
  if not url then return nil, body end
  return perform(self, method, path, opts, url, body, ctype, extra)
end

-- [idempotency hook] A call with opts.idempotency_key, through the
-- client's ledger (sendpulse.idempotency): value, meta | nil, err.
local function call_with_key(self, method, path, opts, url, body, ctype, extra, ledger)
  ledger = ledger or self:ledger()
  -- The decoded body, for a reconciler (an outbox's entry carries the
  -- encoded bytes).
  local decoded
  if opts.json ~= nil then
    decoded = opts.json
  elseif ctype == "application/json" and body then
    decoded = json.decode(body)
  end
  local timeout = opts.timeout or self.cfg.timeout
  local call = { method = method, path = path, target = url:sub(#self.cfg.base_url + 1), body = body,
                 ctype = ctype, json = decoded, canonical = opts.json ~= nil, key = opts.idempotency_key,
                 timeout = timeout,
                 deadline = monotonic() + timeout, client = self, sleep = self.sleep }
  return ledger:request(call, function(before_send)
    return perform(self, method, path, opts, url, body, ctype, extra, before_send)
  end, function(m, p, o) return call_plain(self, m, p, o) end)
end

local CLASSES = { [2] = "2xx", [3] = "3xx", [4] = "4xx", [5] = "5xx" }

-- label (a method's table, or "METHOD /segment") -> class -> series key:
-- a call's counter is one table lookup, not a key built each time.
local call_keys = setmetatable({}, { __mode = "k" })

-- [metrics] Counts one call in the client's metrics: by service and
-- operation (the generated method's, else "request" and the method with
-- the path's first segment: bounded labels), status class, duration, error
-- kind and code.
local function count(self, label, method, path, t0, value, meta)
  local m = self.metrics
  if not label then
    label = method .. " /" .. (type(path) == "string" and path:match("^/([%w_-]*)") or "")
  end
  local status = value ~= nil and meta.status or (meta and meta.status)
  local class = status and CLASSES[floor(status / 100)] or "error"
  local by_class = call_keys[label]
  if not by_class then
    by_class = {}
    call_keys[label] = by_class
  end
  local key = by_class[class]
  if not key then
    local service, operation = "request", label
    if type(label) == "table" then service, operation = label.service, label.operation end
    key = metrics_key("sendpulse_calls_total", { service = service, operation = operation, class = class })
    by_class[class] = key
  end
  m:inc_key(key, 1)
  m:observe("sendpulse_call_duration_seconds", nil, monotonic() - t0)
  if value == nil and type(meta) == "table" then
    m:inc("sendpulse_errors_total", { kind = meta.kind, code = meta.code or "" })
  end
  if value ~= nil and meta.replayed then m:inc("sendpulse_idempotency_total", { outcome = "replayed" }) end
end

--- client:request(method, path, opts) -> value, meta (raising client) |
-- value, nil, meta or nil, err (safe client: the `res, err` idiom, so that
-- both `if err then` and `if not res then` are right; the helpers answer
-- the same way, sendpulse.helpers.common.succeed).
-- Reaches any endpoint. opts: query, json | form | body (+ content_type),
-- headers, timeout, idempotent, raw (answer bytes undecoded),
-- idempotency_key (docs/outbox.md). See docs/guide.md ("Calling the API")
-- for the full contract. (The client's method: client/init.lua.)
---@param self sendpulse.Client
---@param method sendpulse.HttpMethod
---@param path string the path after base_url, starting with "/" ("/addressbooks/7")
---@param opts? sendpulse.RequestOptions
---@return any value the decoded answer (`raw = true`: its bytes)
---@return sendpulse.Meta meta
function _M.request(self, method, path, opts)
  local label = self.call_label
  if label then self.call_label = false end
  local url, body, ctype, extra = checked(self, method, path, opts)
  if not url then return self:fail(body) end
  local m = self.metrics
  local t0 = m and monotonic()
  local value, meta
  if opts and opts.idempotency_key ~= nil then
    value, meta = call_with_key(self, method, path, opts, url, body, ctype, extra)
  else
    value, meta = perform(self, method, path, opts, url, body, ctype, extra)
  end
  -- [metrics] the call's outcome
  if m then count(self, label, method, path, t0, value, meta) end
  if value == nil then return self:fail(meta) end
  if self.raise then return value, meta end
  return value, nil, meta
end

-- For sendpulse.outbox: a call through a given ledger, and a plain one,
-- both value, meta | nil, err, and the check of a call's arguments.
function _M.call_with_ledger(self, ledger, method, path, opts, label)
  local url, body, ctype, extra = checked(self, method, path, opts)
  if not url then return nil, body end
  local m = self.metrics
  local t0 = m and monotonic()
  local value, meta = call_with_key(self, method, path, opts, url, body, ctype, extra, ledger)
  -- [metrics] the call's outcome, as client:request counts it
  if m then count(self, label, method, path, t0, value, meta) end
  return value, meta
end
_M.call_plain = call_plain
_M.checked = checked

return _M
