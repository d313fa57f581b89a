--- The client object: one call's way from arguments to a decoded answer.
--
--   token (cached per account; one refresh at a time)
--   -> rate budget (per account; wait in line for a slot, taken as the
--      request leaves)
--   -> the token read again if the call waited (it may have come due)
--   -> transport:perform (libcurl here; nginx cosockets elsewhere)
--   -> response.classify (value or error object)
--   -> on 401: new token, replay once; on a retryable failure: back off, retry
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
local query = require "sendpulse.wire.query"
local caller_headers = require "sendpulse.wire.headers"
local options = require "sendpulse.client.options"
local response = require "sendpulse.wire.response"
local retry = require "sendpulse.wire.retry"
local account = require "sendpulse.account"
local bearer = require "sendpulse.account.token"
local token_requests = require "sendpulse.account.token_requests"
local transport = require "sendpulse.transport"

local type, pairs, pcall, error, setmetatable, getmetatable, tostring, tonumber =
      type, pairs, pcall, error, setmetatable, getmetatable, tostring, tonumber
local format, floor = string.format, math.floor
local monotonic = core.monotonic
local new_error, argument_error = errors.new, errors.argument

local TOKEN_PATH = "/oauth/access_token"

-- A transport's failure kind -> the error kind ("tls" is a network error
-- with err.tls set; "cancelled": the client was closed while the multi
-- transport drove its loop for this call).
local transport_kinds = { timeout = "timeout", too_large = "too_large", protocol = "protocol",
                          cancelled = "cancelled" }

local _M = {}

local Client = {}
local mt = { __name = "sendpulse.client" }

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
function Client:fail(err)
  scrub_error(self, err)
  if self.raise then error(err, 0) end
  return nil, err
end

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

-- Whether to try again after `err` (retries_used so far), and after how
-- long: nil when not (see sendpulse.wire.retry).
local function retry_wait(self, call, err, retries_used)
  local cfg = self.cfg
  if not err.retryable or retries_used >= cfg.retries then return nil end
  -- Longer waits (711: 900 s) are the caller's to decide on.
  if err.retry_after and err.retry_after > cfg.retry_max_delay then return nil end
  local d = retry.delay(retries_used + 1, cfg, err)
  if monotonic() + d >= call.deadline then
    -- (An error of the wait itself, stage "rate", says so already.)
    if not err.stage then
      err.message = format("%s (not tried again: the %g s timeout leaves no time)", err.message, call.timeout)
    end
    return nil
  end
  return d
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
    local d = retry_wait(self, call, err, attempt - 1)
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

local METHODS = { GET = true, POST = true, PUT = true, PATCH = true, DELETE = true,
                  HEAD = true, OPTIONS = true }
-- The options of one call that are not its content: what the generated
-- methods and the helpers take in their second table (sendpulse.operations).
local CALL_OPTS = { headers = true, timeout = true, attempt_timeout = true, idempotent = true, raw = true,
                    idempotency_key = true }
local OPTS = { query = true, json = true, form = true, body = true, content_type = true }
for k in pairs(CALL_OPTS) do OPTS[k] = true end

local URL_CACHE_SIZE = 64

local function bad(rule) return nil, argument_error("request: " .. rule) end

local function positive_seconds(v) return type(v) == "number" and v > 0 and v < 1e6 end
local function boolean(v) return type(v) == "boolean" end
local function idempotency_key(v)
  return type(v) == "string" and #v >= 1 and #v <= 255 and not v:find("[^\32-\126]")
end

-- The values of the call options, one rule each, for client:request's opts
-- and for the second table of the methods and helpers
-- (sendpulse.operations.call_options). headers: see sendpulse.wire.headers.
-- (A list, so that the first wrong one is always the same one reported.)
local CALL_OPTION_RULES = {
  { "timeout", positive_seconds, "must be a positive number of seconds" },
  { "attempt_timeout", positive_seconds, "must be a positive number of seconds" },
  { "idempotent", boolean, "must be a boolean" },
  { "raw", boolean, "must be a boolean" },
  { "idempotency_key", idempotency_key, "must be a string of 1 to 255 printable ASCII characters" },
}
for i = 1, #CALL_OPTION_RULES do
  local rule = CALL_OPTION_RULES[i]
  CALL_OPTION_RULES[rule[1]] = rule
end

--- nil when v (not nil) is a right value for call option `name`, else the
-- rule it breaks ("must be ...").
local function call_option_rule(name, v)
  if name == "headers" then
    local lines, why = caller_headers.lines(v)
    if not lines then return (why:gsub("^opts%.headers:? ?", "")) end
    return nil
  end
  local rule = CALL_OPTION_RULES[name]
  if rule and not rule[2](v) then return rule[3] end
  return nil
end

-- Checks request's arguments; returns url, body, content type, extra
-- headers, or nil and an argument error.
local function prepare(self, method, path, opts)
  if type(method) ~= "string" or not METHODS[method] then
    return bad("argument 'method' must be one of GET, POST, PUT, PATCH, DELETE, HEAD, OPTIONS (upper case)")
  end
  -- Checked paths and their URLs are remembered: programs call a few paths
  -- over and over, and the check and the concatenation were a sixth of the
  -- pipeline's own cost (bench/cost.lua). Bounded, for paths holding ids.
  local urls = self.urls
  local url = urls[path]
  if url == nil then
    if type(path) ~= "string" or path:sub(1, 1) ~= "/" or path:find("[%s#%c]") then
      return bad("argument 'path' must be a string starting with '/', without spaces or '#'")
    end
    url = self.cfg.base_url .. path
    if self.n_urls >= URL_CACHE_SIZE then
      urls = {}
      self.urls, self.n_urls = urls, 0
    end
    urls[path] = url
    self.n_urls = self.n_urls + 1
  end
  if opts == nil then return url end
  if type(opts) ~= "table" then return bad("argument 'opts' must be a table or nil") end
  for k in pairs(opts) do
    if not OPTS[k] then return bad(format("unknown option '%s' in opts", tostring(k))) end
  end
  if opts.query ~= nil then
    if type(opts.query) ~= "table" then return bad("opts.query must be a table") end
    local qs, err = query.encode(opts.query)
    if not qs then return bad("opts.query: " .. err) end
    if qs ~= "" then url = url .. (path:find("?", 1, true) and "&" or "?") .. qs end
  end
  local given = (opts.json ~= nil and 1 or 0) + (opts.form ~= nil and 1 or 0) + (opts.body ~= nil and 1 or 0)
  if given > 1 then return bad("give at most one of opts.json, opts.form and opts.body") end
  local body, ctype
  if opts.json ~= nil then
    local ok, encoded = pcall(json.encode, opts.json)
    if not ok then return bad("opts.json cannot be encoded: " .. tostring(encoded)) end
    body, ctype = encoded, "application/json"
  elseif opts.form ~= nil then
    if type(opts.form) ~= "table" then return bad("opts.form must be a table") end
    local encoded, err = query.encode(opts.form)
    if not encoded then return bad("opts.form: " .. err) end
    body, ctype = encoded, "application/x-www-form-urlencoded"
  elseif opts.body ~= nil then
    if type(opts.body) ~= "string" then return bad("opts.body must be a string") end
    body, ctype = opts.body, "application/octet-stream"
  end
  if opts.content_type ~= nil then
    if type(opts.content_type) ~= "string" or opts.content_type:find("[%z\1-\8\10-\31\127]") then
      return bad("opts.content_type must be a string without control characters")
    end
    ctype = opts.content_type
  end
  for i = 1, #CALL_OPTION_RULES do
    local rule = CALL_OPTION_RULES[i]
    local v = opts[rule[1]]
    if v ~= nil and not rule[2](v) then return bad(format("opts.%s %s", rule[1], rule[3])) end
  end
  local extra
  if opts.headers ~= nil then
    local why
    extra, why = caller_headers.lines(opts.headers)
    if not extra then return bad(why) end
  end
  return url, body, ctype, extra
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
      local d = retry_wait(self, call, err, retries_used)
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

--- client:request(method, path, opts) -> value, meta
-- Reaches any endpoint. opts: query, json | form | body (+ content_type),
-- headers, timeout, idempotent, raw (answer bytes undecoded),
-- idempotency_key (docs/outbox.md). See docs/guide.md ("Calling the API")
-- for the full contract.
function Client:request(method, path, opts)
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
  if m then self:count(label, method, path, t0, value, meta) end
  if value == nil then return self:fail(meta) end
  return value, meta
end

local CLASSES = { [2] = "2xx", [3] = "3xx", [4] = "4xx", [5] = "5xx" }
local metrics_key = require("sendpulse.metrics").key

-- Counts one call in the client's metrics: by service and operation (the
-- generated method's, else "request" and the method with the path's first
-- segment: bounded labels), status class, duration, error kind and code.
-- label (a method's table, or "METHOD /segment") -> class -> series key:
-- a call's counter is one table lookup, not a key built each time.
local call_keys = setmetatable({}, { __mode = "k" })

function Client:count(label, method, path, t0, value, meta)
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

--- client:stats() -> { metrics = { [series] = value }, text = Prometheus text }: what
-- this client counted (sendpulse.metrics), or nil with metrics = false.
function Client:stats()
  local m = self.metrics
  if not m then return nil end
  return { metrics = m:snapshot(), text = m:text() }
end

--- The client's idempotency ledger (sendpulse.idempotency): the one its
-- `idempotency` option describes, else (on first use) one in this
-- process's memory with the defaults.
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
function Client:token_expires_in()
  return self.auth:expires_in()
end

--- What is left of the account's budget in each window, as the budget
-- this client uses sees it (shared or not): { per_second = { limit, burst,
-- left, wait }, per_minute = { limit, used, left, wait, period }, per_hour
-- = ..., per_day = ..., queued = calls of this Lua state waiting for a
-- slot }; a window without a limit is absent. wait: seconds until a request
-- may leave. nil when rate_limit = false. Takes nothing.
function Client:quota()
  if self.closed then
    return self:fail(argument_error("attempt to use a closed sendpulse client"))
  end
  local budget = self.limiter
  if not budget then return nil end
  return budget:state()
end

--- Number of connections the transport has opened (keep-alive check).
function Client:connections()
  local t = self.transport
  if t.connections then return t:connections() end
  return nil
end

--- new(opts, raise) -> client, or (safe) nil, err
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
  -- write the Authorization line from it (see request).
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

-- Non-blocking calls (transport = "multi"): start, run, poll, pending.
for name, fn in pairs(require "sendpulse.client.async") do Client[name] = fn end

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
_M.CALL_OPTIONS = CALL_OPTS
_M.call_option_rule = call_option_rule
-- For sendpulse.outbox: a call through a given ledger, and a plain one,
-- both value, meta | nil, err.
function _M.call_with_ledger(self, ledger, method, path, opts, label)
  local url, body, ctype, extra = checked(self, method, path, opts)
  if not url then return nil, body end
  local m = self.metrics
  local t0 = m and monotonic()
  local value, meta = call_with_key(self, method, path, opts, url, body, ctype, extra, ledger)
  -- [metrics] the call's outcome, as client:request counts it
  if m then self:count(label, method, path, t0, value, meta) end
  return value, meta
end
_M.call_plain = call_plain
_M.checked = checked
return _M
