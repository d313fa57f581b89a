--- How often an account may ask for a token: at most MAX_PER_MINUTE token
-- requests in any WINDOW seconds. A healthy client asks once per token
-- lifetime (an hour at SendPulse), and once more after a 401; a token
-- endpoint whose tokens do not last (expires_in 0.0001) or are refused at
-- once had a client ask 246 times in 25 s with no call going through
-- (issue 21). Past the bound a call fails at once with a rate_limit error
-- (rule "token_requests") instead of asking again.
--
--   token_requests.take(auth) -> true | nil, seconds_to_wait, where
--
-- Counted for the account in this Lua state (its auth object, shared by its
-- clients), and, when the account's token store can count, for every
-- process sharing the store: a store with count(key, seconds) -> n (the
-- token requests counted in the current window of that many seconds, this
-- one included) is asked through shared_token's count_requests. The file,
-- Redis and shared-dict stores can; a store that cannot, or fails, leaves
-- the count of this Lua state alone.
local core = require "sendpulse.core"

local type, setmetatable, remove = type, setmetatable, table.remove
local monotonic = core.monotonic

local _M = {}

_M.MAX_PER_MINUTE = 12
_M.WINDOW = 60

-- The C auth object of an account -> the times of its recent token requests.
local logs = setmetatable({}, { __mode = "k" })

--- take(auth) -> true (the request may go; it is counted), or nil, the
-- seconds until one may, and where the bound was met ("in this process" or
-- "in the shared token store").
function _M.take(auth)
  local key = type(auth) == "table" and auth.auth or auth
  local log = logs[key]
  if not log then
    log = {}
    logs[key] = log
  end
  local now = monotonic()
  while log[1] and log[1] <= now - _M.WINDOW do remove(log, 1) end
  if #log >= _M.MAX_PER_MINUTE then
    return nil, log[1] + _M.WINDOW - now, "in this process"
  end
  if type(auth) == "table" and auth.count_requests then
    local n = auth:count_requests(_M.WINDOW)
    -- (The store's window is fixed: the wait is at most a window.)
    if n and n > _M.MAX_PER_MINUTE then return nil, _M.WINDOW, "in the shared token store" end
  end
  log[#log + 1] = now
  return true
end

return _M
