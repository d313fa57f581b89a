--- Checks the options of sendpulse.new and fills in the defaults.
-- A bad option fails here, at construction, with a message that names it:
-- nothing is discovered later on the first call.

local type, pairs, format, math_type = type, pairs, string.format, math.type
local floor = math.floor

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
}

local function is_integer(v)
  if math_type then return math_type(v) == "integer" or (type(v) == "number" and v == floor(v)) end
  return type(v) == "number" and v == floor(v)
end

local function within(v, lo, hi) return type(v) == "number" and v >= lo and v <= hi end
local function positive(v) return type(v) == "number" and v > 0 and v < 1e6 end
local function nonempty_string(v) return type(v) == "string" and v ~= "" and not v:find("%z") end

-- option -> { check, rule }; the rule is what the error message says.
local rules = {
  client_id = { nonempty_string, "a non-empty string" },
  client_secret = { nonempty_string, "a non-empty string" },
  api_key = { nonempty_string, "a non-empty string" },
  base_url = { function(v)
      return type(v) == "string" and v:find("^https?://[^/%s]+") ~= nil and not v:find("[%s?#]")
    end, "an http:// or https:// URL without query or fragment" },
  timeout = { positive, "a positive number of seconds" },
  connect_timeout = { positive, "a positive number of seconds" },
  retries = { function(v) return is_integer(v) and v >= 0 and v <= 10 end, "an integer from 0 to 10" },
  retry_delay = { function(v) return within(v, 0, 60) end, "a number of seconds from 0 to 60" },
  retry_max_delay = { function(v) return within(v, 0, 3600) end, "a number of seconds from 0 to 3600" },
  refresh_margin = { function(v) return within(v, 0, 3599) end, "a number of seconds from 0 to 3599" },
  rate_limit = { function(v)
      if v == false then return true end
      if type(v) ~= "table" then return false end
      for k in pairs(v) do if k ~= "rate" and k ~= "burst" then return false end end
      return (v.rate == nil or positive(v.rate))
         and (v.burst == nil or (is_integer(v.burst) and v.burst >= 1 and v.burst <= 1000))
    end, "false, or a table { rate = requests per second > 0, burst = integer >= 1 }" },
  ca_file = { nonempty_string, "a path (string)" },
  ca_path = { nonempty_string, "a path (string)" },
  proxy = { nonempty_string, "a proxy URL (string)" },
  user_agent = { nonempty_string, "a non-empty string" },
  http2 = { function(v) return type(v) == "boolean" end, "a boolean" },
  hook = { function(v) return type(v) == "function" end, "a function(event)" },
  sleep = { function(v) return type(v) == "function" end, "a function(seconds)" },
  token_store = { function(v)
      if type(v) ~= "table" then return false end
      for _, m in ipairs { "get", "set", "delete", "lock", "unlock" } do
        if type(v[m]) ~= "function" then return false end
      end
      return true
    end, "a store object with get, set, delete, lock and unlock methods" },
  transport = { function(v)
      return v == "curl" or v == "multi" or (type(v) == "table" and type(v.perform) == "function")
    end, "\"curl\", \"multi\", or an object with a perform method" },
}

--- Returns a new table of settings, or nil and a message naming the option.
-- The caller's table is only read.
function _M.check(opts)
  if type(opts) ~= "table" then
    return nil, format("sendpulse.new: options must be a table, got %s", type(opts))
  end
  local cfg = {}
  for k, v in pairs(opts) do
    local rule = rules[k]
    if not rule then
      return nil, format("sendpulse.new: unknown option '%s'", tostring(k))
    end
    if not rule[1](v) then
      -- Never echo the value: it may be a secret.
      return nil, format("sendpulse.new: option '%s' must be %s", k, rule[2])
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
    cfg.rate_limit = { rate = rl.rate or 10, burst = rl.burst or 1 }
  end
  return cfg
end

return _M
