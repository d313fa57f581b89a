--- Reporting refused webhook requests in nginx's error log without the URL.
--
-- Any ngx.log call made while nginx handles a request gets the request
-- line appended by nginx (`request: "POST /hooks/<secret> HTTP/1.1"`), and
-- the webhook's secret lives in that URL. So the handler never logs from
-- the request: it counts refusals here, and a timer (whose lines carry no
-- request) writes one summary line per interval at most:
--
--   sendpulse.webhooks: refused 3 requests in the last 1s: 2 forbidden (403), 1 bad body (400);
--   last: webhook body: not JSON: ... (from 127.0.0.1)
--
-- Bounded: one pending timer per handler and worker, one line a second,
-- however many requests are refused.
local setmetatable, pairs, tostring = setmetatable, pairs, tostring
local format, concat, sort = string.format, table.concat, table.sort

local _M = {}

_M.INTERVAL = 1

local Report = {}
Report.__index = Report

function _M.new(ngx)
  return setmetatable({ ngx = ngx, counts = {}, total = 0, level = nil, last = nil,
                        scheduled = false, next_at = 0 }, Report)
end

local function flush(_premature, self)
  local ngx = self.ngx
  self.scheduled = false
  self.next_at = ngx.now() + _M.INTERVAL
  if self.total == 0 then return end
  local parts = {}
  for reason, n in pairs(self.counts) do parts[#parts + 1] = format("%d %s", n, reason) end
  sort(parts)
  ngx.log(self.level, format("sendpulse.webhooks: refused %d request%s in the last %gs: %s; last: %s",
    self.total, self.total == 1 and "" or "s", _M.INTERVAL, concat(parts, ", "), self.last))
  self.counts, self.total, self.level, self.last = {}, 0, nil, nil
end

--- Counts one refusal: `reason` ("forbidden (403)", ...), a message that
-- holds no secret, the peer address, and the log level (ngx.WARN, ngx.ERR).
function Report:add(reason, message, address, level)
  self.counts[reason] = (self.counts[reason] or 0) + 1
  self.total = self.total + 1
  self.last = format("%s (from %s)", message, tostring(address))
  -- ngx.ERR is 4, ngx.WARN 5: the most severe level seen wins.
  if not self.level or level < self.level then self.level = level end
  if self.scheduled then return end
  local ngx = self.ngx
  local delay = self.next_at - ngx.now()
  if ngx.timer.at(delay > 0 and delay or 0, flush, self) then self.scheduled = true end
end

return _M
