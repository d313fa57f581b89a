--- The per-account state that clients of one account share in this Lua
-- state: the token cache (one token, one refresh at a time) and the rate
-- budget (10 requests per second is SendPulse's limit per account, not per
-- client object). Held weakly: it lives as long as a client uses it.
--
-- Keys use a fingerprint of the secret or API key, never the secret itself.

local core = require "sendpulse.core"
local shared_auth = require "sendpulse.shared_auth"

local format = string.format

local _M = {}

local auths = setmetatable({}, { __mode = "v" })
local limiters = setmetatable({}, { __mode = "v" })

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

--- The account's token holder for one client: the shared C object, or, with
-- a token_store, a wrapper that shares the token with other processes.
-- report(operation, message) hears of store failures.
function _M.auth(cfg, report)
  local a = local_auth(cfg)
  -- shared_dict (inside nginx): the dict is the store of every worker.
  local store = cfg.token_store
  if not store and cfg.shared_dict then store = require("sendpulse.store.shdict").new(cfg.shared_dict) end
  if not store or cfg.api_key then return a end
  local id = cfg.client_id .. "|" .. core.fingerprint(cfg.client_secret)
  local key = "sendpulse:token:" .. core.fingerprint(cfg.base_url .. "|" .. id)
  return shared_auth.new(a, store, key, report)
end

-- One C limiter per key in this Lua state.
local function local_limiter(key, rate, burst)
  local l = limiters[key]
  if not l then
    l = core.limiter { rate = rate, burst = burst }
    limiters[key] = l
  end
  return l
end

--- The account's limiter, or nil when rate limiting is off. Clients with the
-- same account and the same rate settings share one budget.
-- report(operation, message) hears of shared-dict failures.
function _M.limiter(cfg, report)
  local rl = cfg.rate_limit
  if not rl then return nil end
  local key = format("%s|%g/%d", _M.account_key(cfg), rl.rate, rl.burst)
  if cfg.shared_dict then
    -- One budget for all nginx workers, in the dict; if the dict fails, each
    -- worker keeps to its share.
    local ngx = require("sendpulse.nginx").host()
    local workers = ngx.worker and ngx.worker.count and ngx.worker.count() or 1
    local name = cfg.shared_dict
    return require("sendpulse.limiter.shdict").new {
      dict = ngx.shared[name], name = name,
      key = "sendpulse:rate:" .. core.fingerprint(key),
      rate = rl.rate, burst = rl.burst, report = report,
      fallback = local_limiter(key .. "|share", rl.rate / workers, rl.burst),
    }
  end
  return local_limiter(key, rl.rate, rl.burst)
end

return _M
