--- Idempotency keys: a call with `idempotency_key` runs at most once per
-- key, whatever the crashes, repeats and lost answers (docs/outbox.md).
--
--   local ledger = idempotency.new(cfg, account_key)   -- cfg: the client's checked `idempotency` option
--   idempotency.request(client, ledger, call, perform) -> value, meta | nil, err
--
-- `call` is the prepared request (method, path, target = path with query,
-- body, content type, key, timeout); `perform(before_send)` runs the
-- client's pipeline and calls before_send() once, first (before the token
-- and the slot: see sendpulse.client). The ledger's steps:
--
--   get the record -> none: claim it (compare-and-swap)
--                  -> another request: idempotency_mismatch
--                  -> done: the recorded outcome (replayed, no I/O)
--                  -> claimed / sending / reconciling with a live lease:
--                     wait within the call's deadline, then in_progress
--                  -> claimed past its lease: take it over
--                  -> sending / reconciling past its lease, uncertain:
--                     settle it by on_uncertain
--   before_send: claimed -> sending (first_at)
--   the answer:  value or a definite refusal -> done; maybe sent ->
--                uncertain; nothing done (refused connection, 429, no
--                token) -> released
--
-- Every step is a compare-and-swap on the record's whole text, so of two
-- holders exactly one wins it; the loser reads the record again.
local core = require "sendpulse.core"
local errors = require "sendpulse.errors"
local json = require "sendpulse.json"
local record = require "sendpulse.idempotency.record"
local canonical = require "sendpulse.idempotency.canonical"
local smtp = require "sendpulse.idempotency.smtp"

local type, pairs, tostring, pcall, setmetatable = type, pairs, tostring, pcall, setmetatable
local format = string.format
local min = math.min
local fingerprint, wallclock, monotonic = core.fingerprint, core.wallclock, core.monotonic

local _M = {}

_M.DEFAULT_TTL = 86400
_M.DEFAULT_GRACE = 300
_M.DEFAULT_CLOCK_SLACK = 120
_M.LEASE_MARGIN = 5
-- A recorded value beyond this many bytes of JSON is not kept: its replay
-- gives sendpulse.null and meta.value_dropped = true.
_M.MAX_VALUE_BYTES = 256 * 1024
_M.ON_UNCERTAIN = { reconcile = true, resend = true, hold = true }

--- Is `key` a valid idempotency key? 1-255 printable ASCII characters.
---@param key any
---@return boolean
function _M.valid_key(key)
  return type(key) == "string" and #key >= 1 and #key <= 255 and not key:find("[^\32-\126]")
end
_M.KEY_RULE = "must be a string of 1 to 255 printable ASCII characters"

-- For editors (LuaLS): the ledger (client:ledger()), and a store of your
-- own (the `idempotency.store` option): get(key) -> text | false |
-- nil, message; swap(key, old, new, ttl) -> true | false, current | nil,
-- message (compare-and-swap on the record's whole text; old false: absent).
---@class sendpulse.idempotency.Store
---@field get fun(self: sendpulse.idempotency.Store, key: string): (string|false)?, string?
---@field swap fun(self: sendpulse.idempotency.Store, key: string, old: string|false, new: string|false,
---   ttl: number): boolean?, (string|false)?

---@class sendpulse.idempotency.Ledger
---@field store sendpulse.idempotency.Store
local Ledger = {}
Ledger.__index = Ledger
Ledger.__name = "sendpulse.idempotency"

local serial = 0
local function unique()
  serial = serial + 1
  return fingerprint(format("%.6f|%.9f|%s|%s|%d", wallclock(), monotonic(), tostring({}),
    tostring(os.clock()), serial))
end

--- new(opts, account_key) -> ledger. opts (checked by sendpulse.options):
-- store (an object with get and swap), ttl, lease, grace, on_uncertain,
-- reconcile, clock_slack; report(event) hears of what the caller must know
-- (a resend without a check, a store that failed to record an outcome).
---@param opts sendpulse.IdempotencyOptions|{ store: sendpulse.idempotency.Store }
---@param account_key string
---@param report? fun(event: table)
---@return sendpulse.idempotency.Ledger
function _M.new(opts, account_key, report)
  return setmetatable({
    store = opts.store, ttl = opts.ttl or _M.DEFAULT_TTL, lease = opts.lease,
    grace = opts.grace or _M.DEFAULT_GRACE, on_uncertain = opts.on_uncertain or "reconcile",
    reconcile = opts.reconcile, clock_slack = opts.clock_slack or _M.DEFAULT_CLOCK_SLACK,
    account = fingerprint(account_key), id = unique(), report = report or function() end,
  }, Ledger)
end

--- The store key of idempotency key `key` (a digest: the key may be long).
---@param key string
---@return string
function Ledger:store_key(key)
  local s = self.account .. "\0" .. key
  return "sendpulse:idem:" .. fingerprint(s) .. fingerprint("\1" .. s)
end

--- The request's digest: method, path with query, content type, and the
-- body: a JSON body by its value (canonical: the same table in another
-- process encodes its keys in another order), any other by its bytes.
---@param call table
---@return string
function _M.request_hash(call)
  local body = call.body or ""
  if call.json ~= nil and call.canonical then body = "json:" .. canonical.text(call.json) end
  local s = table.concat({ call.method, call.target, call.ctype or "", body }, "\0")
  return fingerprint(s) .. fingerprint("\1" .. s)
end

local function store_error(call, what, err)
  return errors.new { kind = "store", store = "idempotency", method = call.method, path = call.path,
    message = format("the idempotency ledger failed %s (key '%s'): %s", what, call.key, tostring(err)),
    retryable = true, maybe_sent = false }
end

-- Reads the record of the call: rec, text | nil, err.
local function read(self, call)
  local text, err = self.store:get(call.skey)
  if text == nil then return nil, store_error(call, "to read", err) end
  if text == false then return false, false end
  local rec, why = record.decode(text)
  if not rec then return nil, store_error(call, "to decode a record", why) end
  return rec, text
end

-- One compare-and-swap: true, new_text | false (lost: read again) | nil, err.
local function swap(self, call, old_text, rec)
  local new_text = rec and record.encode(rec) or false
  local ok, err = self.store:swap(call.skey, old_text, new_text, self.ttl)
  if ok == nil then return nil, store_error(call, "to write", err) end
  if not ok then return false end
  return true, new_text
end

local function claim(call, prev)
  return { state = "claimed", hash = call.hash, owner = call.owner,
           lease_until = wallclock() + call.lease, first_at = prev and prev.first_at,
           resent = prev and prev.first_at and true or nil }
end

-- The recorded outcome, as the first call had it.
local function replay(call, rec, extra)
  local o = rec.outcome
  if o.error then
    local err = errors.new(o.error)
    err.replayed, err.retryable, err.maybe_sent = true, false, true
    err.message = (err.message or "") .. format(" (replayed: idempotency key '%s')", call.key)
    return nil, err
  end
  local meta = { status = o.status, headers = {}, duration = 0, attempts = 0, replayed = true,
                 reconciled = rec.reconciled or nil, value_dropped = o.value_dropped or nil }
  if extra then for k, v in pairs(extra) do meta[k] = v end end
  local value = o.value
  if value == nil then value = json.null end
  return value, meta
end

local function in_progress(call, rec)
  return errors.new { kind = "in_progress", method = call.method, path = call.path,
    message = format("idempotency key '%s' is held by another call (%s), which did not finish within "
      .. "this call's %g s timeout", call.key, rec.state, call.timeout),
    retryable = true, maybe_sent = false, state = rec.state }
end

local function uncertain(call, rec, why)
  return errors.new { kind = "uncertain", method = call.method, path = call.path,
    message = format("idempotency key '%s': the first attempt (%s UTC) may have been sent; %s", call.key,
      os.date("!%Y-%m-%d %H:%M:%S", math.floor(rec.first_at or 0)), why),
    first_at = rec.first_at, retryable = why:find("^not settled yet") ~= nil, maybe_sent = true }
end

-- The outcome to keep for `value` (answered with meta's status).
local function value_outcome(value, meta)
  local ok, text = pcall(json.encode, value)
  if not ok or #text > _M.MAX_VALUE_BYTES then return { status = meta.status, value_dropped = true } end
  return { status = meta.status, value = value }
end

local function error_outcome(err)
  local e = {}
  for k, t in pairs(record.ERROR_FIELDS) do
    if type(err[k]) == t then e[k] = err[k] end
  end
  return { error = e }
end

-- Did SendPulse refuse the request itself (keep the refusal), rather than
-- fail to do it (nothing done: let it go again)?
local function definite_refusal(err)
  return err.kind == "api" and not (err.status and err.status >= 500)
end

-- Sends the call holding the record `mine_text` (claimed by call.owner).
local function send(self, call, rec, mine_text, perform)
  local sending_written = false
  local function before_send()
    local r = { state = "sending", hash = call.hash, owner = call.owner,
                lease_until = wallclock() + call.lease, first_at = rec.first_at or wallclock(),
                resent = rec.resent }
    local ok, new_text = swap(self, call, mine_text, r)
    if not ok then
      return nil, new_text or in_progress(call, r)   -- lost the record: someone took it over
    end
    mine_text, rec, sending_written = new_text, r, true
    return true
  end
  local value, meta = perform(before_send)
  if value ~= nil then
    local done = { state = "done", hash = call.hash, first_at = rec.first_at, outcome = value_outcome(value, meta),
                   resent = rec.resent }
    local ok, err = swap(self, call, mine_text, done)
    if not ok then
      -- Sent and answered, but the ledger did not take it: say so (a repeat
      -- would meet a sending record and settle it as uncertain).
      self.report { event = "idempotency", outcome = "unrecorded", key = call.key,
                    message = err and err.message or "the record changed under its holder" }
    end
    if rec.resent then meta.resent = true end
    return value, meta
  end
  local err = meta
  if err.kind == "store" or (err.kind == "in_progress" and not sending_written) then
    -- before_send failed: nothing left.
    swap(self, call, mine_text, nil)
    return nil, err
  end
  local next_rec
  if not sending_written then
    next_rec = nil                          -- failed before a byte left: release
  elseif definite_refusal(err) then
    next_rec = { state = "done", hash = call.hash, first_at = rec.first_at, outcome = error_outcome(err) }
  elseif err.maybe_sent then
    next_rec = { state = "uncertain", hash = call.hash, first_at = rec.first_at, outcome = error_outcome(err) }
    err.idempotency = "uncertain"
  else
    next_rec = nil
  end
  local ok, serr = swap(self, call, mine_text, next_rec)
  if ok == nil then
    self.report { event = "idempotency", outcome = "unrecorded", key = call.key, message = serr.message }
  end
  return nil, err
end

-- Settles an uncertain record (or a holder that died sending): per
-- on_uncertain. Returns value, meta | nil, err | "again" (lost a race).
local function settle(self, call, rec, text, perform, pipeline)
  local mode = self.on_uncertain
  if mode == "hold" then
    return nil, uncertain(call, rec, "on_uncertain = \"hold\" leaves it to you")
  end
  local reconciler = self.reconcile
  if not reconciler and smtp.applies(call) then
    reconciler = function(_, request, r)
      return smtp.reconcile(pipeline, request, r, { now = wallclock(), clock_slack = self.clock_slack })
    end
  end
  if mode == "reconcile" and reconciler then
    local mine = { state = "reconciling", hash = call.hash, owner = call.owner,
                   lease_until = wallclock() + call.lease, first_at = rec.first_at, outcome = rec.outcome }
    local ok, mine_text = swap(self, call, text, mine)
    if ok == nil then return nil, mine_text end
    if not ok then return "again" end
    local request = { method = call.method, path = call.path, target = call.target, body = call.body,
                      json = call.json, key = call.key }
    local pok, verdict, value = pcall(reconciler, call.client, request, rec)
    if pok and verdict == "found" then
      local done = { state = "done", hash = call.hash, first_at = rec.first_at, reconciled = true,
                     outcome = value_outcome(value, { status = 200 }) }
      local dok, derr = swap(self, call, mine_text, done)
      if dok == nil then return nil, derr end
      self.report { event = "idempotency", outcome = "reconciled", key = call.key }
      return replay(call, done)
    end
    local age = wallclock() - (rec.first_at or 0)
    if pok and verdict == "not_found" and age >= self.grace then
      self.report { event = "idempotency", outcome = "resent", key = call.key }
      local c = claim(call, rec)
      local cok, c_text = swap(self, call, mine_text, c)
      if cok == nil then return nil, c_text end
      if not cok then return "again" end
      return send(self, call, c, c_text, perform)
    end
    -- Not settled: put it back for a later call.
    local back = { state = "uncertain", hash = call.hash, first_at = rec.first_at, outcome = rec.outcome }
    swap(self, call, mine_text, back)
    local why
    if not pok then
      why = "not settled yet: the reconciler raised " .. errors.describe(verdict)
    elseif verdict == "not_found" then
      why = format("not settled yet: not found, and the grace period (%g s) has %d s left", self.grace,
        math.ceil(self.grace - age))
    elseif verdict == nil then
      why = "not settled yet: looking it up failed: " .. errors.describe(value)
    else
      why = "not settled yet: the reconciler answered " .. errors.describe(verdict)
    end
    return nil, uncertain(call, rec, why)
  end
  -- resend, or reconcile without a reconciler for this operation.
  local c = claim(call, rec)
  local ok, c_text = swap(self, call, text, c)
  if ok == nil then return nil, c_text end
  if not ok then return "again" end
  if mode == "reconcile" then
    self.report { event = "idempotency", outcome = "resent_unverified", key = call.key,
                  message = format("no reconciler for %s %s: sent again without a check", call.method, call.path) }
  else
    self.report { event = "idempotency", outcome = "resent", key = call.key }
  end
  return send(self, call, c, c_text, perform)
end

--- The call through the ledger. call: method, path, target, body, ctype,
-- key, timeout, deadline, json (the decoded body, when JSON), client,
-- sleep. perform(before_send) -> value, meta | nil, err: the client's
-- pipeline; pipeline(method, path, opts): the same for other calls (the
-- reconciler's). Returns value, meta | nil, err.
---@param call table
---@param perform fun(before_send: fun()): any, sendpulse.Meta|sendpulse.Error
---@param pipeline fun(method: string, path: string, opts: table): any, sendpulse.Meta|sendpulse.Error
---@return any value
---@return sendpulse.Meta|sendpulse.Error meta_or_err
function Ledger:request(call, perform, pipeline)
  call.skey = self:store_key(call.key)
  call.hash = _M.request_hash(call)
  call.owner = self.id .. ":" .. unique()
  call.lease = self.lease or (call.timeout + _M.LEASE_MARGIN)
  local pause = 0.02
  while true do
    local rec, text = read(self, call)
    if rec == nil then return nil, text end
    local value, meta
    if rec and rec.hash ~= call.hash then
      local err = errors.argument(format("idempotency key '%s' was used with another request (method, path, "
        .. "query or body differ): a key names one request", call.key))
      err.reason, err.method, err.path = "idempotency_mismatch", call.method, call.path
      return nil, err
    elseif not rec then
      local ok, mine = swap(self, call, false, claim(call))
      if ok == nil then return nil, mine end
      if ok then return send(self, call, { state = "claimed" }, mine, perform) end
      value = "again"
    elseif rec.state == "done" then
      return replay(call, rec)
    elseif rec.state == "uncertain" then
      value, meta = settle(self, call, rec, text, perform, pipeline)
    elseif rec.lease_until > wallclock() then
      -- A live holder: wait for it, within this call's deadline.
      if monotonic() + pause >= call.deadline then return nil, in_progress(call, rec) end
      call.sleep(pause)
      pause = min(pause * 2, 0.25)
      value = "again"
    elseif rec.state == "claimed" then
      -- Its holder died before sending: take the key over.
      local ok, mine = swap(self, call, text, claim(call, rec))
      if ok == nil then return nil, mine end
      if ok then return send(self, call, rec, mine, perform) end
      value = "again"
    else
      -- Died sending or reconciling: the outcome is uncertain.
      value, meta = settle(self, call, rec, text, perform, pipeline)
    end
    if value ~= "again" then return value, meta end
  end
end

Ledger.__tostring = function(self)
  return format("%s (%s, on_uncertain = %s)", Ledger.__name, tostring(self.store), self.on_uncertain)
end

--- The store object for the checked option `idem` of a client with
-- settings `cfg` ("memory", "file", "redis", "shared_dict" or the user's).
---@param idem sendpulse.IdempotencyOptions
---@param cfg table
---@param redis_conn fun(cfg: table): table, string
---@return sendpulse.idempotency.Store
function _M.store_for(idem, cfg, redis_conn)
  local s = idem.store or "memory"
  if s == "memory" then
    return require("sendpulse.idempotency.stores.memory").new { max_entries = idem.max_entries }
  elseif s == "file" then
    return require("sendpulse.idempotency.stores.file").new { dir = idem.dir, max_entries = idem.max_entries }
  elseif s == "redis" then
    local conn, prefix = redis_conn(cfg)
    return require("sendpulse.idempotency.stores.redis").new(conn, prefix)
  elseif s == "shared_dict" then
    return require("sendpulse.idempotency.stores.shared_dict").new(idem.shared_dict or cfg.shared_dict)
  end
  return s
end

return _M
