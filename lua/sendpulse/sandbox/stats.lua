-- The traffic log behind GET /_sandbox/stats and the rate limiter. Every
-- non-control request is one entry:
--   {id, t, method, path, query, connection, auth, account?, status, fault?,
--    canned? (answered with the OpenAPI example), example? (which one),
--    counted (passed the rate limiter), token (a token request)}
--
-- Bounded (limits.lua): the log keeps the newest `max_requests` entries (the
-- oldest go first) and each entry's path and query string are cut to
-- `max_request_text` bytes. The totals the stats answer reports
-- (connections_opened, token_requests, per_account, max_in_window) are
-- counted as requests arrive, so they cover every request, dropped rows
-- included; the rate limiter keeps its own window of arrival times.
local json = require "sendpulse.sandbox.json"

local pairs, setmetatable = pairs, setmetatable
local format = string.format

local _M = {}

_M.WINDOW = 1.0

local Stats = {}
Stats.__index = Stats

-- limits: { max_requests, max_request_text } (limits.lua).
function _M.new(limits)
  local self = setmetatable({ max_rows = limits.max_requests, max_text = limits.max_request_text }, Stats)
  self:clear()
  return self
end

function Stats:clear()
  self.rows, self.first, self.last = {}, 1, 0   -- entries first..last, oldest first
  self.next_id = 1
  self.dropped = 0
  -- a connection kept alive across a reset counts again after it
  self.generation = (self.generation or 0) + 1
  self.opened, self.token_requests = 0, 0
  self.per_account = {}
  self.windows = {}   -- account -> { all = times, accepted = times, best = n }
end

-- `s` cut to the bound, saying how long it was.
local function cut(s, max)
  if s == nil or #s <= max then return s end
  return s:sub(1, max) .. format("...[cut: %d bytes]", #s)
end

-- Arrival times of the last WINDOW seconds: a queue {head, tail, [i] = t}
-- pruned from the head as times arrive. Returns how many it holds.
local function push_time(q, t)
  q.tail = q.tail + 1
  q[q.tail] = t
  while t - q[q.head] >= _M.WINDOW do
    q[q.head] = nil
    q.head = q.head + 1
  end
  return q.tail - q.head + 1
end

local function new_times() return { head = 1, tail = 0 } end

-- `connection` is the connection's record ({id}); its first request since
-- the last clear counts it as opened.
function Stats:record(entry, connection)
  entry.path = cut(entry.path, self.max_text)
  entry.query = cut(entry.query, self.max_text)
  entry.id = self.next_id
  self.next_id = self.next_id + 1
  if connection and connection.counted ~= self.generation then
    connection.counted = self.generation
    self.opened = self.opened + 1
  end
  if entry.token then self.token_requests = self.token_requests + 1 end
  local account = entry.account
  if account then
    self.per_account[account] = (self.per_account[account] or 0) + 1
    local w = self.windows[account]
    if not w then w = { all = new_times(), accepted = new_times(), best = 0 }; self.windows[account] = w end
    local n = push_time(w.all, entry.t)
    if n > w.best then w.best = n end
    if entry.counted then push_time(w.accepted, entry.t) end
  end
  self.last = self.last + 1
  self.rows[self.last] = entry
  while self.last - self.first + 1 > self.max_rows do
    self.rows[self.first] = nil
    self.first = self.first + 1
    self.dropped = self.dropped + 1
  end
  return entry
end

-- How many requests of `account` passed the rate limiter after time `since`
-- (at most WINDOW seconds ago).
function Stats:accepted_since(account, since)
  local w = self.windows[account]
  if not w then return 0 end
  local n, q = 0, w.accepted
  for i = q.tail, q.head, -1 do
    if q[i] <= since then break end
    n = n + 1
  end
  return n
end

-- The kept entries, oldest first: for i, entry in stats:each() do ... end
function Stats:each()
  local i = self.first - 1
  return function()
    i = i + 1
    if i <= self.last then return i - self.first + 1, self.rows[i] end
  end
end

-- How many entries are kept, and the entry `n` places from the newest (1:
-- the newest).
function Stats:count() return self.last - self.first + 1 end
function Stats:newest(n) return self.rows[self.last - n + 1] end

-- The answer of GET /_sandbox/stats.
function Stats:summary()
  local requests = json.array()
  for i, e in self:each() do
    requests[i] = {
      t = e.t, method = e.method, path = e.path, account = e.account,
      status = e.status, connection = e.connection, auth = e.auth, fault = e.fault,
      canned = e.canned,
      query = e.query,
    }
  end
  local per_account, windows = {}, {}
  for account, n in pairs(self.per_account) do per_account[account] = n end
  for account, w in pairs(self.windows) do windows[account] = w.best end
  return {
    connections_opened = self.opened,
    token_requests = self.token_requests,
    requests = requests,
    requests_dropped = self.dropped,
    per_account = per_account,
    max_in_window = windows,
  }
end

return _M
