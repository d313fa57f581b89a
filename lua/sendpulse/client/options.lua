--- Checks the options of sendpulse.new and fills in the defaults.
-- A bad option fails here, at construction, with a message that names it:
-- nothing is discovered later on the first call.

local core = require "sendpulse.core"
local number = require "sendpulse.number"
local account = require "sendpulse.account"
local rate_rules = require "sendpulse.account.rate"
local token = require "sendpulse.account.token"

local type, pairs, format, tostring, tonumber = type, pairs, string.format, tostring, tonumber
local is_integer = number.is_integer

local _M = {}

_M.DEFAULT_BASE_URL = "https://api.sendpulse.com"

local defaults = {
  base_url = _M.DEFAULT_BASE_URL,
  timeout = 30,             -- seconds for a whole call
  connect_timeout = 10,     -- seconds to establish the connection
  retries = 2,              -- extra attempts for calls that are safe to repeat
  retry_delay = 0.5,        -- first backoff, doubled each retry, with jitter
  retry_max_delay = 8,
  refresh_margin = 300,     -- refresh a token this long before it expires
  http2 = true,
  -- bytes of one answer's body, decoded: a bigger one is a too_large error
  max_answer_size = core.limits.max_answer_size,   -- 64 MiB
}

local function within(v, lo, hi) return type(v) == "number" and v >= lo and v <= hi end
local function positive(v) return type(v) == "number" and v > 0 and v < 1e6 end
local function nonempty_string(v) return type(v) == "string" and v ~= "" and not v:find("%z") end
-- Goes into a header line as is: no CR, LF, NUL or other control character.
local function header_text(v) return type(v) == "string" and v ~= "" and not v:find("[%z\1-\8\10-\31\127]") end

-- An API key is sent as the Bearer token: RFC 6750's token68, so that it
-- can only ever be one header value (sendpulse.account.token).
local function bearer_token(v)
  return token.check(v) and true or false
end

--- Whether the host of an http(s) URL is this machine's loopback: the only
-- place plain http may go without allow_plain_http.
function _M.is_loopback(url)
  local authority = url:match("^%a+://([^/?#]*)")
  if not authority then return false end
  local host = authority:match("^(%[[^%]]*%])") or authority:match("^([^:]*)")
  host = host:lower()
  if host == "localhost" or host == "[::1]" then return true end
  local a, b, c = host:match("^127%.(%d+)%.(%d+)%.(%d+)$")
  return a ~= nil and tonumber(a) <= 255 and tonumber(b) <= 255 and tonumber(c) <= 255
end

-- The shared_dict option of the table being checked (idempotency's
-- shared_dict store defaults to it).
local opts_shared_dict

-- The options of sendpulse.new, for editors (LuaLS); docs/guide.md has
-- the table with the defaults, and the rules are below.
---@class sendpulse.Options
---@field client_id? string OAuth client id (the account's API settings)
---@field client_secret? string OAuth client secret
---@field api_key? string a static API key instead: sent as the Bearer token
---@field base_url? string default "https://api.sendpulse.com" (the sandbox's URL in tests)
---@field timeout? number seconds for a whole call (default 30): a deadline
---@field attempt_timeout? number seconds for one attempt, within timeout
---@field connect_timeout? number seconds to establish the connection (default 10)
---@field retries? integer extra attempts for failures safe to retry (default 2)
---@field retry_delay? number first backoff in seconds (default 0.5)
---@field retry_max_delay? number the backoff's cap in seconds (default 8)
---@field rate_limit? sendpulse.RateLimit|false the account's budget (default { rate = 10, burst = 1 }); false: none
---@field refresh_margin? number fetch a new token this long before the old one expires (default 300)
---@field ca_file? string extra trust for TLS (verification cannot be turned off)
---@field ca_path? string
---@field proxy? string a proxy URL for libcurl
---@field allow_plain_http? boolean take http:// for a host other than this machine's loopback
---@field user_agent? string
---@field http2? boolean default true
---@field max_answer_size? integer bytes of one answer's body (default 64 MiB)
---@field hook? fun(event: table) called after each HTTP exchange (docs/guide.md, "Hooks")
---@field sleep? fun(seconds: number) used for rate waits and backoff (ngx.sleep inside nginx)
---@field token_store? "memory"|"file"|"redis"|table where the token is kept (docs/scaling.md)
---@field token_dir? string the folder of the token file and the host budget file
---@field redis? { host?: string, port?: integer, password?: string, db?: integer, prefix?: string, timeout?: number }
---@field transport? "auto"|"curl"|"multi"|"cosocket"|table default "auto" (docs/loops.md, docs/nginx.md)
---@field shared_dict? string inside nginx: a lua_shared_dict for the token and the budget of all workers
---@field metrics? boolean|sendpulse.Metrics false: count nothing; a registry: count there
---@field idempotency? sendpulse.IdempotencyOptions the ledger of idempotency keys (docs/outbox.md)

---@class sendpulse.RateLimit
---@field rate? number requests per second (default 10)
---@field burst? integer (default 1)
---@field per_minute? integer plan quotas (docs/rate-limits.md)
---@field per_hour? integer
---@field per_day? integer
---@field shared? "process"|"host"|"redis" a budget shared by processes or hosts (docs/scaling.md)
---@field fallback? "process"|"host"
---@field fallback_rate? number
---@field guard? number

---@class sendpulse.IdempotencyOptions
---@field store? "memory"|"file"|"redis"|"shared_dict"|sendpulse.idempotency.Store
---@field dir? string the file store's folder
---@field shared_dict? string the shared_dict store's dict
---@field max_entries? integer
---@field ttl? number seconds a key's outcome is kept
---@field lease? number
---@field grace? number
---@field on_uncertain? "reconcile"|"resend"|"hold"
---@field reconcile? fun(client: sendpulse.Client, request: table, record: table): any
---@field clock_slack? number

-- option -> { check, rule }; the rule is what the error message says.
local rules = {
  client_id = { nonempty_string, "a non-empty string" },
  client_secret = { nonempty_string, "a non-empty string" },
  api_key = { bearer_token, format("a Bearer token: at most %d letters, digits and - . _ ~ + /, "
    .. "then any '=' (RFC 6750 token68)", token.MAX_LENGTH) },
  base_url = { function(v)
      if not (type(v) == "string" and v:find("^https?://[^/%s]+") ~= nil and not v:find("[%s%c?#]")) then
        return false
      end
      if (v:match("^%a+://([^/]*)") or ""):find("@", 1, true) then
        return false, "it must not hold credentials (user:password@): they would show in messages"
      end
      return true
    end, "an http:// or https:// URL without query or fragment" },
  allow_plain_http = { function(v) return type(v) == "boolean" end, "a boolean" },
  timeout = { positive, "a positive number of seconds" },
  attempt_timeout = { positive, "a positive number of seconds" },
  connect_timeout = { positive, "a positive number of seconds" },
  retries = { function(v) return is_integer(v) and v >= 0 and v <= 10 end, "an integer from 0 to 10" },
  retry_delay = { function(v) return within(v, 0, 60) end, "a number of seconds from 0 to 60" },
  retry_max_delay = { function(v) return within(v, 0, 3600) end, "a number of seconds from 0 to 3600" },
  refresh_margin = { function(v) return within(v, 0, 3599) end, "a number of seconds from 0 to 3599" },
  rate_limit = { function(v)
      if v == false then return true end
      if type(v) ~= "table" then return false end
      for k in pairs(v) do
        if k ~= "rate" and k ~= "burst" and k ~= "shared" and k ~= "fallback" and k ~= "guard"
           and k ~= "fallback_rate" and not rate_rules.QUOTA_WINDOWS[k] then
          return false, format("unknown field '%s'", tostring(k))
        end
      end
      for k in pairs(rate_rules.QUOTA_WINDOWS) do
        local n = v[k]
        if n ~= nil and not (is_integer(n) and n >= 1 and n <= 2 ^ 31) then
          return false, format("rate_limit.%s must be a whole number of requests from 1 to 2^31", k)
        end
      end
      return (v.rate == nil or positive(v.rate))
         and (v.burst == nil or (is_integer(v.burst) and v.burst >= 1 and v.burst <= 1000))
         and (v.shared == nil or v.shared == "process" or v.shared == "host" or v.shared == "redis")
         and (v.fallback == nil or v.fallback == "process" or v.fallback == "host")
         and (v.guard == nil or (type(v.guard) == "number" and v.guard >= 0 and v.guard <= 0.1))
         and (v.fallback_rate == nil or positive(v.fallback_rate))
    end, "false, or a table { rate = requests per second > 0, burst = integer >= 1, "
      .. "per_minute, per_hour, per_day = requests (whole numbers >= 1), "
      .. "shared = \"process\" | \"host\" | \"redis\", fallback = \"host\" | \"process\", "
      .. "fallback_rate = requests per second > 0, guard = seconds from 0 to 0.1 }" },
  ca_file = { nonempty_string, "a path (string)" },
  ca_path = { nonempty_string, "a path (string)" },
  proxy = { nonempty_string, "a proxy URL (string)" },
  user_agent = { header_text, "a non-empty string without control characters" },
  http2 = { function(v) return type(v) == "boolean" end, "a boolean" },
  max_answer_size = { function(v) return is_integer(v) and v >= 1 and v <= 2 ^ 40 end,
    "a whole number of bytes from 1 to 2^40" },
  hook = { function(v) return type(v) == "function" end, "a function(event)" },
  sleep = { function(v) return type(v) == "function" end, "a function(seconds)" },
  token_store = { function(v)
      if v == "memory" or v == "file" or v == "redis" then return true end
      if type(v) ~= "table" then return false end
      for _, m in ipairs { "get", "set", "delete", "lock", "unlock" } do
        if type(v[m]) ~= "function" then return false end
      end
      return true
    end, "\"memory\", \"file\", \"redis\", or a store object with get, set, delete, lock and unlock methods" },
  token_dir = { nonempty_string, "a folder path (string)" },
  -- What the client counts (sendpulse.metrics): its own registry (true, the
  -- default), none (false), or one given (in nginx, one over a shared dict).
  metrics = { function(v)
      return type(v) == "boolean" or (type(v) == "table" and type(v.inc) == "function"
        and type(v.observe) == "function" and type(v.snapshot) == "function" and type(v.text) == "function")
    end, "true, false, or a sendpulse.metrics object" },
  -- The ledger of idempotency keys (sendpulse.idempotency, docs/outbox.md).
  idempotency = { function(v)
      if type(v) ~= "table" then return false end
      for k, x in pairs(v) do
        local ok
        if k == "store" then
          ok = x == "memory" or x == "file" or x == "redis" or x == "shared_dict"
            or (type(x) == "table" and type(x.get) == "function" and type(x.swap) == "function")
          if not ok then
            return false, "idempotency.store must be \"memory\", \"file\", \"redis\", \"shared_dict\" "
              .. "or a store object with get and swap methods"
          end
        elseif k == "ttl" or k == "lease" or k == "grace" or k == "clock_slack" then
          ok = (k == "grace" or k == "clock_slack") and within(x, 0, 86400 * 30) or within(x, 1, 86400 * 30)
          if not ok then return false, format("idempotency.%s must be a number of seconds (%s to 2592000)", k,
            (k == "grace" or k == "clock_slack") and "0" or "1") end
        elseif k == "on_uncertain" then
          if not (x == "reconcile" or x == "resend" or x == "hold") then
            return false, "idempotency.on_uncertain must be \"reconcile\", \"resend\" or \"hold\""
          end
        elseif k == "reconcile" then
          if type(x) ~= "function" then
            return false, "idempotency.reconcile must be a function(client, request, record)"
          end
        elseif k == "dir" or k == "shared_dict" then
          if not nonempty_string(x) then return false, "idempotency." .. k .. " must be a non-empty string" end
        elseif k == "max_entries" then
          if not (is_integer(x) and x >= 256 and x <= 2 ^ 31) then
            return false, "idempotency.max_entries must be a whole number from 256 to 2^31"
          end
        else
          return false, format("unknown field '%s'", tostring(k))
        end
      end
      if v.store == "shared_dict" then
        local name = v.shared_dict or opts_shared_dict
        if not name then
          return false, "idempotency.store = \"shared_dict\" needs a dict "
            .. "(option shared_dict or idempotency.shared_dict)"
        end
        local ok, why = require("sendpulse.nginx").shared_dict(name)
        if not ok then return false, why end
      end
      return true
    end, "a table { store = \"memory\" | \"file\" | \"redis\" | \"shared_dict\" | store object, "
      .. "ttl = seconds, lease = seconds, grace = seconds, on_uncertain = \"reconcile\" | \"resend\" | \"hold\", "
      .. "reconcile = function, clock_slack = seconds, dir = path, shared_dict = name, max_entries = n }" },
  redis = { function(v)
      if type(v) ~= "table" then return false end
      -- A ready connection (an adapter over another Redis client).
      if type(v.call) == "function" then return type(v.script) == "function" end
      for k, x in pairs(v) do
        local ok = (k == "host" and nonempty_string(x))
          or (k == "port" and is_integer(x) and x >= 1 and x <= 65535)
          or (k == "password" and type(x) == "string")
          or (k == "prefix" and type(x) == "string" and not x:find("[%s%c]"))
          or (k == "db" and is_integer(x) and x >= 0 and x <= 1000000)
          or (k == "timeout" and positive(x))
        if not ok then return false end
      end
      return true
    end, "a table { host = string, port = integer 1-65535, password = string, prefix = string "
      .. "without spaces, db = integer >= 0, timeout = seconds > 0 }, or a connection object "
      .. "with call and script methods" },
  transport = { function(v)
      return v == "auto" or v == "curl" or v == "multi" or v == "cosocket"
        or (type(v) == "table" and type(v.perform) == "function")
    end, "\"auto\", \"curl\", \"multi\", \"cosocket\", or an object with a perform method" },
  -- Inside nginx: the lua_shared_dict that holds the token and the rate
  -- budget of every worker. Checked here so a typo fails at new.
  shared_dict = { function(v)
      if not nonempty_string(v) then return false end
      local ok, why = require("sendpulse.nginx").shared_dict(v)
      if not ok then return false, why end
      return true
    end, "the name of a lua_shared_dict declared in nginx.conf" },
}

--- Returns a new table of settings, or nil and a message naming the option.
-- The caller's table is only read.
function _M.check(opts)
  if type(opts) ~= "table" then
    return nil, format("sendpulse.new: options must be a table, got %s", type(opts))
  end
  local cfg = {}
  opts_shared_dict = opts.shared_dict
  for k, v in pairs(opts) do
    local rule = rules[k]
    if not rule then
      return nil, format("sendpulse.new: unknown option '%s'", tostring(k))
    end
    local ok, why = rule[1](v)
    if not ok then
      -- Never echo the value: it may be a secret.
      return nil, format("sendpulse.new: option '%s' must be %s%s", k, rule[2],
        why and (": " .. why) or "")
    end
    cfg[k] = v
  end
  if cfg.api_key then
    if cfg.client_id or cfg.client_secret then
      return nil, "sendpulse.new: give either api_key or client_id and client_secret, not both"
    end
  elseif not (cfg.client_id and cfg.client_secret) then
    return nil, "sendpulse.new: options 'client_id' and 'client_secret' (or 'api_key') are required"
  end
  -- Plain http carries the secret (token request) and the Bearer token in
  -- clear: only to this machine, or when the user says so.
  if cfg.base_url and cfg.base_url:find("^http://") and not _M.is_loopback(cfg.base_url)
     and not cfg.allow_plain_http then
    return nil, "sendpulse.new: option 'base_url' is plain http:// to a host that is not this machine: "
      .. "the client secret and the token would travel in clear; use https://, or set "
      .. "allow_plain_http = true if the network in between is yours"
  end
  if cfg.transport == "multi" then
    -- Its calls yield from inside the pipeline's pcall: Lua 5.1 cannot.
    if _VERSION == "Lua 5.1" and not rawget(_G, "jit") then
      return nil, "sendpulse.new: option 'transport' = \"multi\" needs Lua 5.2 or later, or LuaJIT"
    end
    if cfg.sleep then
      return nil, "sendpulse.new: option 'sleep' cannot be combined with transport = \"multi\""
        .. " (its loop does the waiting)"
    end
  end
  for k, v in pairs(defaults) do
    if cfg[k] == nil then cfg[k] = v end
  end
  if cfg.connect_timeout > cfg.timeout then cfg.connect_timeout = cfg.timeout end
  cfg.base_url = cfg.base_url:gsub("/+$", "")
  if cfg.rate_limit ~= false then
    local rl = cfg.rate_limit or {}
    local shared = rl.shared or "process"
    -- The guard is added to every interval, room in each second for the
    -- jitter between when requests leave and when the server counts them.
    -- Requests of several processes (a shared budget) meet more of it and
    -- get more room; so does a frame loop (transport = "multi"), whose
    -- requests may use the room beyond JITTER_MARGIN to leave late (see
    -- sendpulse.account.rate's lateness): 3 ms a slot, 30 ms a second at 10/s, for 3% of the rate.
    -- (A process budget is one per account whatever its clients' guards:
    -- the widest in use applies, see sendpulse.account.)
    local late = cfg.transport == "multi"
    local wide = late or shared ~= "process" or cfg.shared_dict ~= nil
    local rate = rl.rate or 10
    local guard = rl.guard or (wide and rate_rules.DEFAULT_SHARED_GUARD or rate_rules.DEFAULT_GUARD)
    local windows
    for k in pairs(rate_rules.QUOTA_WINDOWS) do
      if rl[k] then
        windows = windows or {}
        windows[k] = rl[k]
      end
    end
    cfg.rate_limit = { rate = rate, burst = rl.burst or 1, shared = shared,
                       fallback = rl.fallback or "host",
                       -- While Redis fails, each host (or process) has its own
                       -- budget: with N of them, rate / N keeps the sum right.
                       fallback_rate = rl.fallback_rate or rate,
                       -- Whether this client's calls leave late by nature
                       -- (a frame loop): they get the lateness allowance.
                       guard = guard, late = late,
                       windows = windows,
                       per_minute = rl.per_minute, per_hour = rl.per_hour, per_day = rl.per_day }
  end
  if cfg.token_store == "memory" then cfg.token_store = nil end
  -- A copy with the defaults: the client may drop the password from it,
  -- never from the caller's table.
  local r = cfg.redis
  if not r and (cfg.token_store == "redis" or (cfg.rate_limit and cfg.rate_limit.shared == "redis")
                or (cfg.idempotency and cfg.idempotency.store == "redis")) then
    r = {}
  end
  if r and type(r.call) ~= "function" then
    cfg.redis = { host = r.host or "127.0.0.1", port = r.port or 6379, password = r.password,
                  prefix = r.prefix or account.DEFAULT_REDIS_PREFIX, db = r.db or 0, timeout = r.timeout or 1 }
  end
  return cfg
end

return _M
