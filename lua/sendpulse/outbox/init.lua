--- A durable outbox: calls stored first, sent later, each exactly once
-- (docs/outbox.md).
--
--   local outbox = require("sendpulse.outbox").new { client = client, store = "file", dir = DIR }
--   local id, err = outbox:enqueue("smtp", "send", { subject = ..., ... })
--   local summary, err = outbox:run { until_empty = true, deadline = 60 }
--   local step, err = outbox:step()           -- one non-blocking step (frame loops)
--   outbox:status() -> { pending, in_flight, dead, oldest_age }
--   outbox:dead(max), outbox:retry_dead(), outbox:drop(id)
--
-- Every entry point returns its result, or nil and an error object (the
-- OpenResty `res, err` idiom); with a raising client (sendpulse.new) the
-- error is raised instead, as the client's own methods do.
--
-- enqueue does no network I/O but the store's: the operation's method runs
-- against a stand-in client that keeps the HTTP request it would make
-- (every argument checked as for a real call), and that request is what is
-- stored, with an idempotency key (the caller's, else the entry's id).
-- Draining sends it through the client (its shared budget, its retries)
-- and the outbox's ledger, so an entry taken twice (a drainer killed after
-- sending, a lease that passed) is still sent once.
local core = require "sendpulse.core"
local errors = require "sendpulse.errors"
local json = require "sendpulse.json"
local client_mod = require "sendpulse.client"
local operations = require "sendpulse.operations"

local type, pairs, pcall, tostring, setmetatable, error, getmetatable =
      type, pairs, pcall, tostring, setmetatable, error, getmetatable
local format = string.format
local floor, min, random = math.floor, math.min, math.random
local wallclock, monotonic, fingerprint = core.wallclock, core.monotonic, core.fingerprint
local b64encode, b64decode = core.base64_encode, core.base64_decode

local _M = {}

_M.MAX_PENDING = 10000
_M.MAX_ENTRY_BYTES = 1024 * 1024
_M.LEASE = 60
_M.MAX_ATTEMPTS = 50
_M.BACKOFF_FIRST = 1
_M.BACKOFF_MAX = 300
_M.DEAD_LIST_MAX = 1000
_M.VERSION = 1

-- For editors (LuaLS): new's options, the outbox, and what it answers.
-- Every method returns its result or `nil, err` with a safe client, and
-- raises the error with a raising one.
---@class sendpulse.OutboxOptions
---@field client sendpulse.Client|sendpulse.SafeClient
---@field store "file"|"redis"|sendpulse.OutboxStore
---@field dir? string store = "file": the outbox's folder
---@field redis? table store = "redis": as the client's redis option (default: the client's)
---@field name? string store = "redis": the outbox's name (default "default")
---@field max_pending? integer default 10000
---@field max_entry_bytes? integer default 1 MiB
---@field lease? number seconds (default 60)
---@field max_attempts? integer default 50
---@field backoff_first? number seconds (default 1)
---@field backoff_max? number seconds (default 300)
---@field ledger? sendpulse.idempotency.Ledger default: one beside the store
---@field metrics? sendpulse.Metrics default: the client's

-- A store object of your own: the methods file_store.lua and
-- redis_store.lua have.
---@class sendpulse.OutboxStore
---@field add fun(self: sendpulse.OutboxStore, id: string, entry_text: string, max_pending: integer): boolean?,
---   string?
---@field take fun(self: sendpulse.OutboxStore, owner: string, lease: number): (string|false)?, any, integer?
---@field finish fun(self: sendpulse.OutboxStore, id: string, owner: string): boolean?, string?
---@field again fun(self: sendpulse.OutboxStore, id: string, owner: string, attempts: integer, next_at: number,
---   err?: string): boolean?, string?
---@field bury fun(self: sendpulse.OutboxStore, id: string, owner: string, attempts: integer, reason: string,
---   err?: string): boolean?, string?
---@field status fun(self: sendpulse.OutboxStore): sendpulse.OutboxStatus?, string?
---@field dead fun(self: sendpulse.OutboxStore, max: integer): table[]?, string?
---@field revive fun(self: sendpulse.OutboxStore): integer?, string?
---@field drop fun(self: sendpulse.OutboxStore, id: string): boolean?, string?

---@class sendpulse.OutboxStatus
---@field pending integer
---@field in_flight integer
---@field dead integer
---@field oldest_age number seconds

---@class sendpulse.OutboxStep
---@field id? string
---@field outcome "sent"|"again"|"dead"|"idle"
---@field next_due? number idle: seconds until an entry is due
---@field value? any sent: the answer
---@field replayed? boolean sent: the ledger's recorded outcome
---@field reason? "rejected"|"invalid"|"attempts" dead: why
---@field error? sendpulse.Error again or dead: the failure

---@class sendpulse.OutboxDead
---@field id string
---@field reason "rejected"|"invalid"|"attempts"
---@field error string
---@field attempts integer
---@field entry? { service: string, operation: string, method: string, path: string }

---@class sendpulse.Outbox
local Outbox = {}
Outbox.__index = Outbox
Outbox.__name = "sendpulse.outbox"

local function argument(message) return errors.argument("outbox: " .. message) end

local serial = 0
local function unique(prefix)
  serial = serial + 1
  return prefix .. fingerprint(format("%.6f|%.9f|%s|%d", wallclock(), monotonic(), tostring({}), serial))
end

local KNOWN = { client = true, store = true, dir = true, redis = true, name = true, max_pending = true,
                max_entry_bytes = true, lease = true, max_attempts = true, backoff_first = true,
                backoff_max = true, ledger = true, metrics = true }

local function whole(v, lo, hi) return type(v) == "number" and v == floor(v) and v >= lo and v <= hi end
local function seconds(v, lo, hi) return type(v) == "number" and v >= lo and v <= hi end

--- new{ client =, store = "file" | "redis" | store object, dir = (file), redis = (redis: as the
-- client's option; default the client's), name = (redis: the stream's name, "default"),
-- max_pending = 10000, max_entry_bytes = 1 MiB, lease = 60, max_attempts = 50,
-- backoff_first = 1, backoff_max = 300, ledger = (a sendpulse.idempotency ledger; default:
-- one beside the store) } -> outbox | nil, err
---@param opts sendpulse.OutboxOptions
---@return sendpulse.Outbox? outbox
---@return sendpulse.Error? err with a safe client
function _M.new(opts)
  local raise = true
  if type(opts) == "table" and getmetatable(opts.client) == client_mod.metatable then
    raise = opts.client.raise
  end
  local function fail(msg)
    local err = argument(msg)
    if raise then error(err, 2) end
    return nil, err
  end
  if type(opts) ~= "table" then return fail("new: options must be a table") end
  for k in pairs(opts) do
    if not KNOWN[k] then return fail(format("new: unknown option '%s'", tostring(k))) end
  end
  if getmetatable(opts.client) ~= client_mod.metatable then
    return fail("new: 'client' must be a sendpulse client (sendpulse.new or sendpulse.safe.new)")
  end
  local checks = {
    { "max_pending", whole, 1, 10000000, "a whole number from 1 to 10000000" },
    { "max_entry_bytes", whole, 1024, 3 * 1024 * 1024 - 4096, "a whole number of bytes from 1024 to 3 MiB" },
    { "lease", seconds, 1, 86400, "a number of seconds from 1 to 86400" },
    { "max_attempts", whole, 1, 1000000, "a whole number from 1 to 1000000" },
    { "backoff_first", seconds, 0, 3600, "a number of seconds from 0 to 3600" },
    { "backoff_max", seconds, 0, 86400, "a number of seconds from 0 to 86400" },
  }
  for _, c in ipairs(checks) do
    local v = opts[c[1]]
    if v ~= nil and not c[2](v, c[3], c[4]) then return fail(format("new: '%s' must be %s", c[1], c[5])) end
  end
  local client = opts.client
  local store, ledger = opts.store, opts.ledger
  if store == "file" then
    if type(opts.dir) ~= "string" or opts.dir == "" then
      return fail("new: store = \"file\" needs 'dir', the outbox's folder (string)")
    end
    store = require("sendpulse.outbox.file_store").new { dir = opts.dir }
    if not ledger then
      local idem_store = require("sendpulse.idempotency.stores.file").new { dir = opts.dir .. "/ledger" }
      ledger = _M.ledger_for(client, idem_store)
    end
  elseif store == "redis" then
    local conn, prefix, why = _M.redis_conn(client, opts.redis)
    if not conn then return fail("new: " .. why) end
    local name = opts.name or "default"
    if type(name) ~= "string" or not name:find("^[%w_.:-]+$") or #name > 100 then
      return fail("new: 'name' must be 1 to 100 letters, digits and _ . : -")
    end
    store = require("sendpulse.outbox.redis_store").new { conn = conn, key = prefix .. "outbox:" .. name }
    if not ledger then
      ledger = _M.ledger_for(client, require("sendpulse.idempotency.stores.redis").new(conn, prefix))
    end
  elseif type(store) == "table" then
    for _, m in ipairs { "add", "take", "finish", "again", "bury", "status", "dead", "revive", "drop" } do
      if type(store[m]) ~= "function" then return fail("new: a store object needs a '" .. m .. "' method") end
    end
    ledger = ledger or client:ledger()
  else
    return fail("new: 'store' must be \"file\", \"redis\" or a store object")
  end
  return setmetatable({
    client = client, store = store, ledger = ledger, raise = raise,
    owner = unique("drainer-"),
    max_pending = opts.max_pending or _M.MAX_PENDING,
    max_entry_bytes = opts.max_entry_bytes or _M.MAX_ENTRY_BYTES,
    lease = opts.lease or _M.LEASE, max_attempts = opts.max_attempts or _M.MAX_ATTEMPTS,
    backoff_first = opts.backoff_first or _M.BACKOFF_FIRST, backoff_max = opts.backoff_max or _M.BACKOFF_MAX,
    metrics = opts.metrics or client.metrics or false,
  }, Outbox)
end

--- The ledger an outbox uses with `store`, with the client's idempotency
-- settings (grace, on_uncertain, reconcile...).
---@param client sendpulse.Client
---@param store sendpulse.idempotency.Store
---@return sendpulse.idempotency.Ledger
function _M.ledger_for(client, store)
  local idem = client.cfg.idempotency or {}
  local account = require "sendpulse.account"
  return require("sendpulse.idempotency").new({ store = store, ttl = idem.ttl, lease = idem.lease,
    grace = idem.grace, on_uncertain = idem.on_uncertain, reconcile = idem.reconcile,
    clock_slack = idem.clock_slack }, account.account_key(client.cfg), function(event)
      local m = client.metrics
      if m then m:inc("sendpulse_idempotency_total", { outcome = event.outcome }) end
      local hook = client.cfg.hook
      if hook then hook(event) end
    end)
end

--- The Redis connection for an outbox: the given settings, else the client's.
---@param client sendpulse.Client
---@param r? table
---@return table? conn
---@return string? prefix
---@return string? why
function _M.redis_conn(client, r)
  local options = require "sendpulse.client.options"
  r = r or client.cfg.redis
  if r == nil then r = {} end
  if type(r) ~= "table" then return nil, nil, "'redis' must be a table of connection settings" end
  if type(r.call) == "function" then return r, options.DEFAULT_REDIS_PREFIX end
  local cfg, why = options.check { api_key = "x", redis = r }
  if not cfg then return nil, nil, (why:gsub("^sendpulse.new: option", "option")) end
  local conn = require("sendpulse.redis").connection(cfg.redis)
  return conn, cfg.redis.prefix
end

-- Reports err the outbox's way. (Internal.)
---@param err sendpulse.Error
---@return nil
---@return sendpulse.Error
function Outbox:fail(err)
  if self.raise then error(err, 2) end
  return nil, err
end

local function store_error(what, message)
  if message == "full" then
    return errors.new { kind = "full", message = "outbox: the outbox holds max_pending entries; nothing was added",
                        retryable = true }
  end
  return errors.new { kind = "store", store = "outbox", retryable = true,
                      message = format("outbox: the store failed to %s: %s", what, tostring(message)) }
end

-- A stand-in client for enqueue: keeps the request a method would make.
local Capture = {}
Capture.__index = Capture
Capture.raise = false
local CAPTURED = setmetatable({}, { __name = "sendpulse.outbox.captured" })
function Capture:request(method, path, opts)
  self.count = self.count + 1
  self.method, self.path, self.opts = method, path, opts
  return CAPTURED, nil, { status = 0 }
end
function Capture.fail(_, err) return nil, err end

-- The request `service`:`operation`(args, opts) would make: method, path
-- (with its query), opts (call options and content) | nil, err.
local function capture(service, operation, args, opts)
  if service == "request" then
    if type(args) ~= "table" or type(args.path) ~= "string" then
      return nil, argument("enqueue(\"request\", METHOD, { path =, query =, json = ... }): args.path must be a string")
    end
    local o = {}
    for k, v in pairs(args) do if k ~= "path" then o[k] = v end end
    for k, v in pairs(opts or {}) do o[k] = v end
    return operation, args.path, o
  end
  if type(service) ~= "string" or type(operation) ~= "string" then
    return nil, argument("enqueue: 'service' and 'operation' must be strings (client.<service>:<operation>)")
  end
  local stand_in = setmetatable({ count = 0 }, Capture)
  local svc = operations.get(stand_in, service)
  if not svc then return nil, argument(format("enqueue: no service '%s'", service)) end
  local ok, value, err = pcall(function() return svc[operation](svc, args, opts) end)
  if not ok then
    if errors.is_error(value) then return nil, value end
    return nil, argument(format("enqueue: %s:%s raised %s", service, operation, errors.describe(value)))
  end
  if value == nil and err then return nil, err end
  if stand_in.count ~= 1 or value ~= CAPTURED then
    return nil, argument(format("enqueue: %s:%s makes %d requests or works on the answer; only an operation "
      .. "that is one request can be enqueued", service, operation, stand_in.count))
  end
  return stand_in.method, stand_in.path, stand_in.opts
end

local STORED_OPTS = { timeout = true, attempt_timeout = true, idempotent = true, raw = true, headers = true }

--- enqueue(service, operation, args, opts) -> id | nil, err. service
-- "request" takes operation = an HTTP method and args = { path =, query =,
-- json = ... } (client:request's opts). opts: the call options, and
-- idempotency_key (default: the entry's id).
---@param service string "smtp", "email", ... or "request"
---@param operation string the operation's name, or the HTTP method for "request"
---@param args? table the operation's arguments (for "request": client:request's opts and `path`)
---@param opts? sendpulse.CallOptions
---@return string? id
---@return sendpulse.Error? err
function Outbox:enqueue(service, operation, args, opts)
  if opts ~= nil and type(opts) ~= "table" then
    return self:fail(argument("enqueue: 'opts' (the call options) must be a table or nil"))
  end
  local method, path, copts = capture(service, operation, args, opts)
  if not method then return self:fail(path) end
  copts = copts or {}
  -- The real client's checks: path, body encoding, headers, call options.
  local url, body, ctype = client_mod.checked(self.client, method, path, copts)
  if not url then return self:fail(body) end
  local id = unique("ob-")
  local entry = {
    v = _M.VERSION, id = id, key = copts.idempotency_key or id, service = service, operation = operation,
    method = method, path = url:sub(#self.client.cfg.base_url + 1),
    body = body and b64encode(body) or nil, content_type = ctype,
  }
  for k in pairs(STORED_OPTS) do entry[k] = copts[k] end
  local ok, text = pcall(json.encode, entry)
  if not ok then return self:fail(argument("enqueue: the call cannot be stored: " .. tostring(text))) end
  if #text > self.max_entry_bytes then
    return self:fail(argument(format("enqueue: the entry is %d bytes, over max_entry_bytes (%d)", #text,
      self.max_entry_bytes)))
  end
  local added, why = self.store:add(id, text, self.max_pending)
  if not added then return self:fail(store_error("add the entry", why)) end
  if self.metrics then self.metrics:inc("sendpulse_outbox_enqueued_total", nil, 1) end
  return id
end

-- The entry of `text`, checked: it may come from a journal or a stream
-- someone else wrote.
local function decode_entry(text)
  local e = json.decode(text)
  if type(e) ~= "table" or e.v ~= _M.VERSION then return nil, "not an outbox entry of this version" end
  if type(e.id) ~= "string" or type(e.key) ~= "string" or type(e.method) ~= "string"
     or type(e.path) ~= "string" then
    return nil, "an entry without id, key, method or path"
  end
  if e.body ~= nil and type(e.body) ~= "string" then return nil, "a body that is not Base64 text" end
  local opts = { idempotency_key = e.key, content_type = e.content_type }
  if e.body then
    opts.body = b64decode(e.body)
    if not opts.body then return nil, "a body that is not Base64" end
  end
  for k in pairs(STORED_OPTS) do opts[k] = e[k] end
  return e, opts
end

-- Seconds before attempt n + 1 (n >= 1 failed): exponential, capped, with
-- equal jitter; at least what the error asked for (retry_after).
local function backoff(self, n, err)
  local base = min(self.backoff_max, self.backoff_first * 2 ^ (n - 1))
  local d = base / 2 + random() * base / 2
  if err and err.retry_after and err.retry_after > d then d = min(err.retry_after, self.backoff_max) end
  return d
end

-- What a failed send means for its entry: "dead", reason | "again". A
-- refusal whose code sendpulse.errors marks retryable (a wait) comes back,
-- whatever its kind.
local function verdict(err)
  if err.kind == "argument" then return "dead", "invalid" end
  local entry = err.code and errors.codes[err.code]
  if entry and entry.retryable then return "again" end
  if err.kind == "api" and not (err.status and err.status >= 500) then return "dead", "rejected" end
  return "again"
end

--- step() -> { id =, outcome = "sent" | "again" | "dead" | "idle", next_due = (seconds) } | nil, err
-- Takes one due entry and sends it (blocking for that one call, or, with
-- transport = "multi", inside a task of the client's loop).
---@return sendpulse.OutboxStep? step
---@return sendpulse.Error? err
function Outbox:step()
  local id, text, attempts = self.store:take(self.owner, self.lease)
  if id == nil then return self:fail(store_error("take an entry", text)) end
  if id == false then
    local next_due = text and (text - wallclock()) or nil
    return { outcome = "idle", next_due = next_due and (next_due > 0 and next_due or 0) or nil }
  end
  local m = self.metrics
  local entry, opts = decode_entry(text)
  if not entry then
    local ok, err = self.store:bury(id, self.owner, attempts + 1, "invalid", "unreadable entry: " .. opts)
    if not ok then return self:fail(store_error("bury an entry", err)) end
    if m then m:inc("sendpulse_outbox_dead_total", { reason = "invalid" }, 1) end
    return { id = id, outcome = "dead", reason = "invalid" }
  end
  local label = type(entry.service) == "string" and type(entry.operation) == "string"
    and { service = entry.service, operation = entry.operation } or nil
  local value, meta = client_mod.call_with_ledger(self.client, self.ledger, entry.method, entry.path, opts, label)
  local ok, serr
  if value ~= nil then
    ok, serr = self.store:finish(id, self.owner)
    if not ok then return self:fail(store_error("record a sent entry", serr)) end
    if m then m:inc("sendpulse_outbox_sent_total", nil, 1) end
    return { id = id, outcome = "sent", value = value, replayed = meta.replayed }
  end
  local err = meta
  local n = attempts + 1
  local what, reason = verdict(err)
  if what == "again" and n >= self.max_attempts then what, reason = "dead", "attempts" end
  local message = errors.describe(err)
  if what == "dead" then
    ok, serr = self.store:bury(id, self.owner, n, reason, message)
    if m then m:inc("sendpulse_outbox_dead_total", { reason = reason }, 1) end
  else
    ok, serr = self.store:again(id, self.owner, n, wallclock() + backoff(self, n, err), message)
    if m then m:inc("sendpulse_outbox_retries_total", { kind = err.kind }, 1) end
  end
  if not ok then return self:fail(store_error("record a failed entry", serr)) end
  return { id = id, outcome = what, reason = reason, error = err }
end

--- run{ until_empty = false, deadline = seconds, sleep = function } ->
-- { sent, again, dead } | nil, err. Steps until the deadline passes, or
-- (until_empty) until nothing is pending or in flight. Waits between
-- entries with the client's sleep (ngx.sleep in nginx).
---@param opts? { until_empty?: boolean, deadline?: number, sleep?: fun(seconds: number) }
---@return { sent: integer, again: integer, dead: integer }? summary
---@return sendpulse.Error? err
function Outbox:run(opts)
  opts = opts or {}
  if type(opts) ~= "table" then return self:fail(argument("run: options must be a table or nil")) end
  if opts.deadline ~= nil and not seconds(opts.deadline, 0, 1e7) then
    return self:fail(argument("run: 'deadline' must be a number of seconds"))
  end
  local stop_at = opts.deadline and (monotonic() + opts.deadline) or math.huge
  local sleep = opts.sleep or self.client.sleep
  local summary = { sent = 0, again = 0, dead = 0 }
  while monotonic() < stop_at do
    local ok, r, err = pcall(self.step, self)
    if not ok then
      if self.raise then error(r, 0) end
      return nil, r
    end
    if not r then return nil, err end
    if r.outcome == "idle" then
      if opts.until_empty then
        local st = self.store:status()
        if st and st.pending == 0 and st.in_flight == 0 then return summary end
      end
      local wait = r.next_due or 1
      wait = min(wait, 1, stop_at - monotonic())
      if wait > 0 then sleep(wait < 0.01 and 0.01 or wait) end
    else
      summary[r.outcome] = summary[r.outcome] + 1
      if r.outcome == "again" and r.error and r.error.kind == "store" then
        -- A store that fails (Redis down): do not spin on it.
        sleep(min(1, stop_at - monotonic()))
      end
    end
  end
  return summary
end

--- status() -> { pending, in_flight, dead, oldest_age } | nil, err
---@return sendpulse.OutboxStatus? status
---@return sendpulse.Error? err
function Outbox:status()
  local st, err = self.store:status()
  if not st then return self:fail(store_error("report its status", err)) end
  local m = self.metrics
  if m then
    m:set("sendpulse_outbox_pending", nil, st.pending)
    m:set("sendpulse_outbox_in_flight", nil, st.in_flight)
    m:set("sendpulse_outbox_dead", nil, st.dead)
    m:set("sendpulse_outbox_oldest_age_seconds", nil, st.oldest_age)
  end
  return st
end

--- dead(max = 1000) -> { { id, reason, error, attempts, entry = { service, operation, method, path } }... }
---@param max? integer at most this many (default 1000)
---@return sendpulse.OutboxDead[]? dead
---@return sendpulse.Error? err
function Outbox:dead(max)
  if max ~= nil and not whole(max, 1, 1e7) then
    return self:fail(argument("dead: 'max' must be a whole number >= 1"))
  end
  local list, err = self.store:dead(max or _M.DEAD_LIST_MAX)
  if not list then return self:fail(store_error("list dead entries", err)) end
  for _, d in pairs(list) do
    local e = json.decode(d.entry or "")
    d.entry = type(e) == "table" and { service = e.service, operation = e.operation, method = e.method,
                                       path = e.path } or nil
  end
  return list
end

--- retry_dead() -> n: every dead entry back to pending, its attempts from 0.
---@return integer? n
---@return sendpulse.Error? err
function Outbox:retry_dead()
  local n, err = self.store:revive()
  if not n then return self:fail(store_error("revive dead entries", err)) end
  return n
end

--- drop(id) -> true | false (no such entry): gone, sent or not.
---@param id string
---@return boolean? dropped
---@return sendpulse.Error? err
function Outbox:drop(id)
  if type(id) ~= "string" or id == "" then return self:fail(argument("drop: 'id' must be an entry id (string)")) end
  local ok, err = self.store:drop(id)
  if ok == nil then return self:fail(store_error("drop an entry", err)) end
  return ok
end

Outbox.__tostring = function(self) return format("%s (%s)", Outbox.__name, tostring(self.store)) end

return _M
