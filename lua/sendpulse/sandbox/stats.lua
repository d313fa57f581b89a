-- The traffic log behind GET /_sandbox/stats and the rate limiter. Every
-- non-control request is one entry, in arrival order:
--   {t, method, path, connection, auth, account?, status, fault?, canned?
--    (answered with the OpenAPI example), counted (passed the rate limiter), token (a token request)}
-- Everything the stats answer reports is derived from these entries; so
-- connections_opened counts the connections that carried at least one such
-- request (a test's own control calls do not count).
local json = require "sendpulse.sandbox.json"

local ipairs, pairs, setmetatable = ipairs, pairs, setmetatable

local _M = {}

_M.WINDOW = 1.0

local Stats = {}
Stats.__index = Stats

function _M.new()
  return setmetatable({ entries = {} }, Stats)
end

function Stats:clear()
  self.entries = {}
end

function Stats:record(entry)
  self.entries[#self.entries + 1] = entry
end

-- How many requests of `account` passed the rate limiter after time `since`.
function Stats:accepted_since(account, since)
  local n = 0
  local entries = self.entries
  for i = #entries, 1, -1 do
    local e = entries[i]
    if e.t <= since then break end
    if e.counted and e.account == account then n = n + 1 end
  end
  return n
end

-- The most arrivals in any window of WINDOW seconds, from sorted times.
local function max_in_window(times)
  local best, first = 0, 1
  for last = 1, #times do
    while times[last] - times[first] >= _M.WINDOW do first = first + 1 end
    if last - first + 1 > best then best = last - first + 1 end
  end
  return best
end

-- The answer of GET /_sandbox/stats.
function Stats:summary()
  local requests = json.array()
  local per_account, times, connections = {}, {}, {}
  local opened, token_requests = 0, 0
  for i, e in ipairs(self.entries) do
    requests[i] = {
      t = e.t, method = e.method, path = e.path, account = e.account,
      status = e.status, connection = e.connection, auth = e.auth, fault = e.fault,
      canned = e.canned,
      query = e.query,
    }
    if not connections[e.connection] then
      connections[e.connection] = true
      opened = opened + 1
    end
    if e.token then token_requests = token_requests + 1 end
    if e.account then
      per_account[e.account] = (per_account[e.account] or 0) + 1
      times[e.account] = times[e.account] or {}
      local list = times[e.account]
      list[#list + 1] = e.t
    end
  end
  local windows = {}
  for account, list in pairs(times) do windows[account] = max_in_window(list) end
  return {
    connections_opened = opened,
    token_requests = token_requests,
    requests = requests,
    per_account = per_account,
    max_in_window = windows,
  }
end

return _M
