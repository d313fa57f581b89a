--- The per-account state that clients of one account share in this Lua
-- state: the token cache (one token, one refresh at a time) and the rate
-- budget (10 requests per second is SendPulse's limit per account, not per
-- client object). Held weakly: it lives as long as a client uses it.
--
-- Keys use a fingerprint of the secret or API key, never the secret itself.
--
-- Beyond this Lua state (options token_store, rate_limit.shared,
-- shared_dict) the pieces beside this file take over:
--   shared_token.lua     the token through a store, one fetch for all
--   budget.lua           the budget as a call meets it: a line of waiting
--                        calls in front of a limiter
--   token_store/         where: file (one host), redis (many), shared_dict (nginx)
--   limiter/             the budget: host (a file the C limiter maps),
--                        redis (many hosts), shared_dict (nginx); a
--                        process's budget is the C limiter alone
-- (The Redis link of the Redis store and budget is sendpulse.redis.)

local core = require "sendpulse.core"
local shared_token = require "sendpulse.account.shared_token"
local budget = require "sendpulse.account.budget"

local format, type, require, pairs = string.format, type, require, pairs
local floor, max = math.floor, math.max

local _M = {}

--- What the Redis keys of the shared token and budget start with (the
-- default of the option redis.prefix).
_M.DEFAULT_REDIS_PREFIX = "sendpulse:"

local auths = setmetatable({}, { __mode = "v" })
local limiters = setmetatable({}, { __mode = "v" })
local lines = setmetatable({}, { __mode = "v" })

--- The account's identity: what the rate budget is counted against.
function _M.account_key(cfg)
  if cfg.api_key then
    return format("%s|key:%s", cfg.base_url, core.fingerprint(cfg.api_key))
  end
  return format("%s|id:%s", cfg.base_url, cfg.client_id)
end

-- The C auth object of the account, shared by its clients in this state.
local function local_auth(cfg)
  local key
  if cfg.api_key then
    key = _M.account_key(cfg)
  else
    key = format("%s|%s", _M.account_key(cfg), core.fingerprint(cfg.client_secret))
  end
  key = format("%s|margin:%g", key, cfg.refresh_margin)
  local a = auths[key]
  if not a then
    if cfg.api_key then
      a = core.auth { api_key = cfg.api_key }
    else
      a = core.auth { client_id = cfg.client_id, client_secret = cfg.client_secret,
                      refresh_margin = cfg.refresh_margin }
    end
    auths[key] = a
  end
  return a
end

-- The Redis connection of cfg (a shared sendpulse.redis,
-- or the connection object the user gave).
local function redis_conn(cfg)
  local r = cfg.redis
  if type(r.call) == "function" then return r, _M.DEFAULT_REDIS_PREFIX end
  return require("sendpulse.redis").connection(r), r.prefix
end

_M.redis_conn = redis_conn

-- The store object for cfg.token_store ("file", "redis" or the user's own).
local function token_store(cfg)
  local s = cfg.token_store
  if s == "file" then
    return require("sendpulse.account.token_store.file").new { dir = cfg.token_dir }
  elseif s == "redis" then
    local conn, prefix = redis_conn(cfg)
    return require("sendpulse.account.token_store.redis").new { connection = conn, prefix = prefix }
  end
  return s
end

--- The account's token holder for one client: the shared C object, or, with
-- a token_store, a wrapper that shares the token with other processes.
-- report(operation, message) hears of store failures.
function _M.auth(cfg, report)
  local a = local_auth(cfg)
  local store = token_store(cfg)
  -- shared_dict (inside nginx): the dict is the store of every worker.
  if not store and cfg.shared_dict then
    store = require("sendpulse.account.token_store.shared_dict").new { dict = cfg.shared_dict }
  end
  if not store or cfg.api_key then return a end
  return shared_token.new(a, store, _M.token_key(cfg), report)
end

--- The key of the account's token in a store: a fingerprint of the URL,
-- the client id and a fingerprint of the secret, never the secret.
function _M.token_key(cfg)
  local id = cfg.client_id .. "|" .. core.fingerprint(cfg.client_secret)
  return "sendpulse:token:" .. core.fingerprint(cfg.base_url .. "|" .. id)
end

-- The quota windows scaled to a share of the budget (a fallback, a
-- worker's share): at least one request each.
local function scaled(windows, share)
  if not windows or share >= 1 then return windows end
  local out = {}
  for k, n in pairs(windows) do out[k] = max(1, floor(n * share)) end
  return out
end

-- What names one budget's settings in a key. Not the guard: clients of
-- one account whose guards differ (a frame loop's and a blocking one's)
-- must still share one budget; it takes the widest (local_limiter).
local function settings_key(rl, rate, windows)
  windows = windows or {}
  return format("%g/%d/%s/%s/%s", rate, rl.burst,
    windows.per_minute or "-", windows.per_hour or "-", windows.per_day or "-")
end

-- One C limiter per key in this Lua state.
local function local_limiter(key, rl, rate, windows)
  local l = limiters[key]
  if not l then
    l = core.limiter { rate = rate, burst = rl.burst, guard = rl.guard, windows = windows }
    limiters[key] = l
  else
    l:guard(rl.guard)
  end
  return l
end

-- This process's budget for the account: shared by the clients of this Lua
-- state with the same account and rate settings.
local function process_limiter(cfg, rate)
  local rl = cfg.rate_limit
  rate = rate or rl.rate
  local windows = scaled(rl.windows, rate / rl.rate)
  return local_limiter(_M.account_key(cfg) .. "|" .. settings_key(rl, rate, windows), rl, rate, windows)
end

-- The host's budget for the account: a mapped file in the token folder,
-- named by a fingerprint of the account (sendpulse.account.host_limiter).
-- Falls back to the process budget (reported) when the file cannot be
-- used, or is cut short later.
local function host_limiter(cfg, observe, rate)
  local rl = cfg.rate_limit
  rate = rate or rl.rate
  return require("sendpulse.account.host_limiter").new {
    dir = cfg.token_dir or require("sendpulse.account.token_store.file").default_dir(),
    name = core.fingerprint(_M.account_key(cfg)) .. ".budget",
    settings = { rate = rate, burst = rl.burst, guard = rl.guard, windows = scaled(rl.windows, rate / rl.rate) },
    fallback = function() return process_limiter(cfg, rate) end,
    report = observe,
  }
end

-- The limiter behind the account's budget (see _M.limiter).
local function new_limiter(cfg, report, observe)
  local rl = cfg.rate_limit
  if cfg.shared_dict then
    -- One budget for all nginx workers, in the dict; if the dict fails, each
    -- worker keeps to its share.
    local key = format("%s|%g/%d", _M.account_key(cfg), rl.rate, rl.burst)
    local nginx = require "sendpulse.nginx"
    local ngx = nginx.host()
    local workers = ngx.worker and ngx.worker.count and ngx.worker.count() or 1
    local name = cfg.shared_dict
    local share = rl.rate / workers
    local share_windows = scaled(rl.windows, 1 / workers)
    return require("sendpulse.account.limiter.shared_dict").new {
      dict = name,
      key = "sendpulse:rate:" .. core.fingerprint(key),
      rate = rl.rate, burst = rl.burst, guard = rl.guard,
      windows = rl.windows, report = report,
      fallback = local_limiter(key .. "|share|" .. settings_key(rl, share, share_windows), rl, share,
                               share_windows),
    }
  end
  if rl.shared == "host" then return host_limiter(cfg, observe) end
  if rl.shared == "redis" then
    local conn, prefix = redis_conn(cfg)
    local r = rl.fallback_rate
    local fallback = rl.fallback == "host" and host_limiter(cfg, observe, r) or process_limiter(cfg, r)
    return require("sendpulse.account.limiter.redis").new {
      connection = conn, key = prefix .. "rate:" .. core.fingerprint(_M.account_key(cfg)),
      rate = rl.rate, burst = rl.burst, guard = rl.guard,
      windows = rl.windows, fallback = fallback,
      fallback_kind = fallback:shared() and "host" or "process", report = observe,
    }
  end
  return process_limiter(cfg)
end

--- The account's budget (sendpulse.account.budget), or nil when rate
-- limiting is off. Clients of this Lua state with the same account and
-- settings share the line their calls wait in.
-- rate_limit.shared: "process" (clients of this Lua state share a budget),
-- "host" (every process of the host, through a mapped file), "redis" (every
-- host, through Redis; while Redis fails, the `fallback` budget serves).
-- With shared_dict (inside nginx) the dict holds the budget of all workers.
-- report(operation, message) hears of shared-dict failures; observe(event)
-- of host and Redis budget failures and recoveries (limiter_error,
-- limiter_recovered).
function _M.limiter(cfg, report, observe)
  local rl = cfg.rate_limit
  if not rl then return nil end
  observe = observe or function() end
  -- One line per budget this Lua state's calls contend for. (The line
  -- only orders them: two clients that reach the same account's budget in
  -- different ways and share a line lose nothing but a little speed.)
  local key = format("%s|%s|%s|%s", _M.account_key(cfg), rl.shared, cfg.shared_dict or "-",
    settings_key(rl, rl.rate, rl.windows))
  local line = lines[key]
  if not line then
    line = budget.line()
    lines[key] = line
  end
  return budget.new(new_limiter(cfg, report, observe), rl, line)
end

return _M
