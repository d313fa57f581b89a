--- Counters, gauges and histograms in Prometheus' text format (the names,
-- `_total` and `_seconds` conventions of client_golang and
-- nginx-lua-prometheus), kept in this process or, inside nginx, in a shared
-- dict that every worker writes (docs/outbox.md, "Metrics").
--
--   local metrics = require "sendpulse.metrics"
--   local m = metrics.new()                                  -- this process
--   local m = metrics.new { shared_dict = "sendpulse_metrics" }   -- all nginx workers
--   m:inc("sendpulse_calls_total", { service = "smtp", operation = "send", class = "2xx" })
--   m:observe("sendpulse_rate_wait_seconds", nil, 0.08)
--   m:set("sendpulse_outbox_pending", nil, 12)
--   m:text()      -> the exposition text (text/plain; version=0.0.4)
--   m:snapshot()  -> { ["name{labels}"] = value, ... }
--   metrics.serve("sendpulse_metrics")   -- an nginx location's content
--
-- Only the metrics in METRICS exist (a typo is an error, not a new series);
-- label values are cut to 64 characters and stripped of what the format
-- cannot carry, so a hostile path cannot break the exposition. Series are
-- bounded (MAX_SERIES): past it, new series are counted in
-- sendpulse_metrics_dropped_total instead.
local type, pairs, ipairs, tostring, setmetatable, error, tonumber =
      type, pairs, ipairs, tostring, setmetatable, error, tonumber
local format, concat, sort, gsub, sub = string.format, table.concat, table.sort, string.gsub, string.sub

local _M = {}

local by_series_then_le

_M.MAX_SERIES = 2000
_M.BUCKETS = { 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30 }

-- name -> { type, help }
_M.METRICS = {
  sendpulse_calls_total = { "counter", "API calls by service, operation and status class (2xx, 4xx, 5xx, error)" },
  sendpulse_call_duration_seconds = { "histogram", "Duration of API calls, retries and waits included" },
  sendpulse_errors_total = { "counter", "Failed calls by error kind and code" },
  sendpulse_retries_total = { "counter", "Attempts made again by the client, by error kind" },
  sendpulse_rate_wait_seconds = { "histogram", "Time requests waited for a slot of the rate budget" },
  sendpulse_token_fetches_total = { "counter", "OAuth token requests, by result" },
  sendpulse_idempotency_total = { "counter", "Idempotency outcomes (replayed, reconciled, resent, ...)" },
  sendpulse_outbox_enqueued_total = { "counter", "Entries put in the outbox" },
  sendpulse_outbox_sent_total = { "counter", "Outbox entries sent (or found sent)" },
  sendpulse_outbox_retries_total = { "counter", "Outbox entries put back with a backoff, by error kind" },
  sendpulse_outbox_dead_total = { "counter", "Outbox entries moved to the dead letters, by reason" },
  sendpulse_outbox_pending = { "gauge", "Outbox entries waiting, at the last status" },
  sendpulse_outbox_in_flight = { "gauge", "Outbox entries being sent, at the last status" },
  sendpulse_outbox_dead = { "gauge", "Outbox dead entries, at the last status" },
  sendpulse_outbox_oldest_age_seconds = { "gauge", "Age of the oldest waiting entry, at the last status" },
  sendpulse_metrics_dropped_total = { "counter", "Series not recorded: MAX_SERIES reached" },
}

local function clean(v)
  v = sub(tostring(v), 1, 64)
  return (gsub(v, '[%c"\\{}]', "_"))
end

-- The series key: name{k="v",...} with the labels sorted.
---@param name string
---@param labels? sendpulse.MetricLabels
---@return string
local function series(name, labels)
  if not labels then return name end
  local keys = {}
  for k in pairs(labels) do keys[#keys + 1] = k end
  if #keys == 0 then return name end
  sort(keys)
  local parts = {}
  for i, k in ipairs(keys) do parts[i] = format('%s="%s"', clean(k), clean(labels[k])) end
  return name .. "{" .. concat(parts, ",") .. "}"
end
_M.series = series

-- For editors (LuaLS). Labels are { name = value } (values cut to 64
-- characters); a name not in METRICS, or of another type, raises.
---@alias sendpulse.MetricLabels table<string, string|number>

---@class sendpulse.Metrics
local Metrics = {}
Metrics.__index = Metrics
Metrics.__name = "sendpulse.metrics"

-- The storage: a table here, or a shared dict.
local Local = {}
Local.__index = Local
function Local:get(k) return self.t[k] end
local DROPPED = "sendpulse_metrics_dropped_total"

function Local:incr(k, n)
  local v = self.t[k]
  if v == nil then
    if self.n >= _M.MAX_SERIES and k ~= DROPPED then return nil, "full" end
    self.n = self.n + 1
    v = 0
  end
  self.t[k] = v + n
  return true
end
function Local:set(k, v)
  if self.t[k] == nil then
    if self.n >= _M.MAX_SERIES then return nil, "full" end
    self.n = self.n + 1
  end
  self.t[k] = v
  return true
end
function Local:keys()
  local out = {}
  for k in pairs(self.t) do out[#out + 1] = k end
  return out
end

local Dict = {}
Dict.__index = Dict
function Dict:get(k) return self.d:get(k) end
function Dict:incr(k, n)
  local v, err = self.d:incr(k, n, 0)
  if v then return true end
  return nil, err
end
function Dict:set(k, v) return self.d:safe_set(k, v) end
function Dict:keys() return self.d:get_keys(_M.MAX_SERIES) end

--- new{ shared_dict = name } -> metrics (default: in this process).
---@param opts? { shared_dict?: string }
---@return sendpulse.Metrics
function _M.new(opts)
  opts = opts or {}
  if type(opts) ~= "table" then error("sendpulse.metrics.new: options must be a table or nil", 2) end
  for k in pairs(opts) do
    if k ~= "shared_dict" then error("sendpulse.metrics.new: unknown option '" .. tostring(k) .. "'", 2) end
  end
  local store
  if opts.shared_dict then
    local dict, why = require("sendpulse.nginx").shared_dict(opts.shared_dict)
    if not dict then error("sendpulse.metrics.new: " .. why, 2) end
    store = setmetatable({ d = dict }, Dict)
  else
    store = setmetatable({ t = {}, n = 0 }, Local)
  end
  return setmetatable({ store = store }, Metrics)
end

local function known(name, kind)
  local m = _M.METRICS[name]
  if not m or m[1] ~= kind then
    error(format("sendpulse.metrics: no %s named '%s'", kind, tostring(name)), 3)
  end
end

local function dropped(self)
  self.store:incr(DROPPED, 1)
end

--- Adds n (default 1) to counter `name`.
---@param name string
---@param labels? sendpulse.MetricLabels
---@param n? number
function Metrics:inc(name, labels, n)
  known(name, "counter")
  if not self.store:incr(series(name, labels), n or 1) then dropped(self) end
end

--- Sets gauge `name`.
---@param name string
---@param labels? sendpulse.MetricLabels
---@param v number
function Metrics:set(name, labels, v)
  known(name, "gauge")
  if not self.store:set(series(name, labels), v) then dropped(self) end
end

--- Adds n to a counter by its series key (metrics.key): the fast path of
-- the call pipeline, which keeps its keys.
---@param key string
---@param n? number
function Metrics:inc_key(key, n)
  if not self.store:incr(key, n or 1) then dropped(self) end
end

--- The series key of counter `name` with `labels` (checked once).
---@param name string
---@param labels? sendpulse.MetricLabels
---@return string
function _M.key(name, labels)
  known(name, "counter")
  return series(name, labels)
end

-- name -> the keys of a histogram without labels: its buckets, sum, count.
local plain_histograms = {}

--- Records v in histogram `name` (its buckets: BUCKETS).
---@param name string
---@param labels? sendpulse.MetricLabels
---@param v number
function Metrics:observe(name, labels, v)
  if labels == nil then
    local keys = plain_histograms[name]
    if not keys then
      known(name, "histogram")
      keys = { sum = name .. "_sum", count = name .. "_count", inf = name .. '_bucket{le="+Inf"}' }
      for i, b in ipairs(_M.BUCKETS) do keys[i] = format('%s_bucket{le="%g"}', name, b) end
      plain_histograms[name] = keys
    end
    local store = self.store
    for i, b in ipairs(_M.BUCKETS) do store:incr(keys[i], v <= b and 1 or 0) end
    if not store:incr(keys.inf, 1) then return dropped(self) end
    store:incr(keys.sum, v)
    store:incr(keys.count, 1)
    return
  end
  known(name, "histogram")
  local l = {}
  for k, x in pairs(labels or {}) do l[k] = x end
  local store = self.store
  -- Every bucket, those v is above with 0: a histogram's buckets are all
  -- written (cumulative), as Prometheus expects.
  for _, b in ipairs(_M.BUCKETS) do
    l.le = format("%g", b)
    store:incr(series(name .. "_bucket", l), v <= b and 1 or 0)
  end
  l.le = "+Inf"
  if not store:incr(series(name .. "_bucket", l), 1) then return dropped(self) end
  l.le = nil
  store:incr(series(name .. "_sum", l), v)
  store:incr(series(name .. "_count", l), 1)
end

--- The value of one series (nil when never recorded).
---@param name string
---@param labels? sendpulse.MetricLabels
---@return number?
function Metrics:get(name, labels)
  return self.store:get(series(name, labels))
end

--- { [series] = value } of everything recorded.
---@return table<string, number>
function Metrics:snapshot()
  local out = {}
  for _, k in ipairs(self.store:keys()) do out[k] = self.store:get(k) end
  return out
end

local function base_name(key)
  local name = key:match("^([%w_]+)")
  local m = _M.METRICS[name]
  if m then return name, m end
  local stem = name:gsub("_bucket$", ""):gsub("_sum$", ""):gsub("_count$", "")
  return stem, _M.METRICS[stem]
end

local function number(v)
  if v == math.huge then return "+Inf" end
  if v == -math.huge then return "-Inf" end
  if v == math.floor(v) and v > -2 ^ 53 and v < 2 ^ 53 then return format("%d", v) end
  return format("%.17g", v)
end

-- Lines in order: by series, and a histogram's buckets by their bound
-- (0.005 < 0.01 < ... < +Inf), not as text ("10" < "2.5").
local function le_of(line)
  local le = line:match('le="([^"]*)"')
  if not le then return nil end
  return le == "+Inf" and math.huge or tonumber(le)
end
by_series_then_le = function(a, b)
  local la, lb = le_of(a), le_of(b)
  if la and lb then
    local sa, sb = a:gsub(',?le="[^"]*"', ""), b:gsub(',?le="[^"]*"', "")
    if sa ~= sb then return sa < sb end
    return la < lb
  end
  return a < b
end

--- The exposition text: # HELP and # TYPE once per metric, then its series
-- (sorted, so that the same state gives the same text).
---@return string text text/plain; version=0.0.4
function Metrics:text()
  local snap = self:snapshot()
  local by_metric = {}
  for key, v in pairs(snap) do
    local name, m = base_name(key)
    if m and tonumber(v) then
      by_metric[name] = by_metric[name] or {}
      local list = by_metric[name]
      list[#list + 1] = key .. " " .. number(tonumber(v))
    end
  end
  local names = {}
  for name in pairs(by_metric) do names[#names + 1] = name end
  sort(names)
  local out = {}
  for _, name in ipairs(names) do
    local m = _M.METRICS[name]
    out[#out + 1] = format("# HELP %s %s", name, m[2])
    out[#out + 1] = format("# TYPE %s %s", name, m[1])
    local list = by_metric[name]
    sort(list, by_series_then_le)
    for _, line in ipairs(list) do out[#out + 1] = line end
  end
  out[#out + 1] = ""
  return concat(out, "\n")
end

--- Inside nginx: the content of a location that serves the metrics kept in
-- shared dict `name` (docs/outbox.md, "Metrics").
---@param name string the lua_shared_dict's name
function _M.serve(name)
  local ngx = require("sendpulse.nginx").host()
  local text = _M.new({ shared_dict = name }):text()
  ngx.header.content_type = "text/plain; version=0.0.4"
  ngx.header.content_length = #text
  ngx.print(text)
end

Metrics.__tostring = function() return Metrics.__name end

return _M
