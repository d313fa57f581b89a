-- Scripted failures. A test queues faults through POST /_sandbox/faults; each
-- matching request consumes one use of the first fault that matches it.
--
-- Kinds:
--   delay        answer normally, `delay` seconds late
--   malformed    answer HTTP 200 with the normal body cut in half (invalid JSON)
--   drop         read the request, then close the connection without answering
--   html500      HTTP 500 with an nginx-style HTML page (Content-Type text/html)
--   unauthorized HTTP 401 {"message":"Unauthorized!","error_code":401}, whatever
--                the credentials
--   status       exactly `status` and `body`, and `headers` ({ name = value },
--                e.g. a Retry-After) beside its Content-Type
--   drop_after   process the request (auth, rate limit, state changes: an
--                SMTP send is recorded), then close the connection without
--                answering: the answer that never came (docs/outbox.md)
-- `delay` may be given with every kind: the (faulty) answer then comes late.
-- delay, malformed and drop_after requests are processed (auth, rate limit,
-- state changes); the other kinds never reach the API.
-- `probability` (0 < p <= 1, default 1): a matching request is hit only with
-- that chance (a draw per request; a miss consumes no use), e.g. 5% of the
-- answers dropped. `duration` (seconds > 0): the fault holds for that long
-- from when it is queued, whatever its count (e.g. an outage: every call
-- answered 503 for 20 s), and is gone afterwards.
local type, ipairs, pairs, pcall, setmetatable = type, ipairs, pairs, pcall, setmetatable
local floor, random, upper, find = math.floor, math.random, string.upper, string.find
local gettime = require("socket").gettime

local _M = {}

local KINDS = {
  delay = true, malformed = true, drop = true, html500 = true,
  unauthorized = true, status = true, drop_after = true,
}

-- Whether a request hit by `fault` is still handled by the API.
function _M.processes(fault)
  return fault.kind == "delay" or fault.kind == "malformed" or fault.kind == "drop_after"
end

_M.HTML500 = table.concat({
  "<html>",
  "<head><title>500 Internal Server Error</title></head>",
  "<body>",
  "<center><h1>500 Internal Server Error</h1></center>",
  "<hr><center>nginx</center>",
  "</body>",
  "</html>",
  "",
}, "\r\n")

local UNAUTHORIZED = '{"message":"Unauthorized!","error_code":401}'

local Faults = {}
Faults.__index = Faults

function _M.new()
  return setmetatable({ list = {}, next_id = 1 }, Faults)
end

function Faults:clear()
  self.list = {}
end

local function whole(v)
  return type(v) == "number" and v == floor(v)
end

-- Queue a fault described by `spec` (see the file header for the fields).
-- Returns the stored fault, or nil and a message naming the bad field.
function Faults:add(spec)
  if type(spec) ~= "table" then return nil, "fault must be an object" end
  if not KINDS[spec.kind] then
    return nil, "kind must be one of delay, drop, drop_after, html500, malformed, unauthorized, status"
  end
  if spec.path ~= nil then
    if type(spec.path) ~= "string" then return nil, "path must be a string (a Lua pattern)" end
    if not pcall(find, "", spec.path) then return nil, "path is not a valid Lua pattern" end
  end
  if spec.method ~= nil and type(spec.method) ~= "string" then
    return nil, "method must be a string"
  end
  local count = spec.count == nil and 1 or spec.count
  if not whole(count) or (count < 1 and count ~= -1) then
    return nil, "count must be a whole number >= 1, or -1 for until reset"
  end
  local probability = spec.probability == nil and 1 or spec.probability
  if type(probability) ~= "number" or not (probability > 0 and probability <= 1) then
    return nil, "probability must be a number from 0 (excluded) to 1"
  end
  local duration = spec.duration
  if duration ~= nil and (type(duration) ~= "number" or not (duration > 0 and duration <= 86400)) then
    return nil, "duration must be a number of seconds from 0 (excluded) to 86400"
  end
  local delay = spec.delay == nil and 0 or spec.delay
  if type(delay) ~= "number" or delay < 0 then return nil, "delay must be a number of seconds >= 0" end
  if spec.kind == "delay" and delay <= 0 then return nil, "a delay fault needs delay > 0" end
  local status, body, extra
  if spec.kind == "status" then
    status = spec.status
    if not whole(status) or status < 100 or status > 599 then
      return nil, "status must be a whole number from 100 to 599"
    end
    body = spec.body == nil and "" or spec.body
    if type(body) ~= "string" then return nil, "body must be a string" end
    if spec.headers ~= nil then
      if type(spec.headers) ~= "table" then return nil, "headers must be an object of name: value" end
      extra = {}
      for name, value in pairs(spec.headers) do
        if type(name) ~= "string" or not name:find("^[%w%-]+$") or type(value) ~= "string"
           or value:find("[%c]") then
          return nil, "headers must map header names to values without control characters"
        end
        extra[#extra + 1] = { name, value }
      end
    end
  end
  local fault = {
    id = self.next_id, kind = spec.kind, path = spec.path,
    method = spec.method and upper(spec.method), count = floor(count), delay = delay,
    status = status and floor(status), body = body, headers = extra,
    probability = probability, ends_at = duration and (gettime() + duration) or nil, duration = duration,
  }
  if duration then fault.count = -1 end
  self.next_id = self.next_id + 1
  self.list[#self.list + 1] = fault
  return fault
end

-- Consume one use of the first fault matching this request, if any.
function Faults:take(method, path)
  local now = gettime()
  for i = #self.list, 1, -1 do
    local f = self.list[i]
    if f.ends_at and f.ends_at <= now then table.remove(self.list, i) end
  end
  for i, fault in ipairs(self.list) do
    if (not fault.method or fault.method == method)
       and (not fault.path or find(path, fault.path))
       and (fault.probability >= 1 or random() < fault.probability) then
      if fault.count > 0 then
        fault.count = fault.count - 1
        if fault.count == 0 then table.remove(self.list, i) end
      end
      return fault
    end
  end
  return nil
end

-- The answer for a request hit by `fault`. `normal` is the answer the API
-- gave (for the kinds that process the request). Answers are
-- {status, headers = {{name, value}...}, body} or {drop = true}.
function _M.answer(fault, normal)
  local kind = fault.kind
  if kind == "delay" then
    return normal
  elseif kind == "malformed" then
    local body = normal.body
    return {
      status = 200, headers = { { "Content-Type", "application/json" } },
      body = body:sub(1, floor(#body / 2) > 0 and floor(#body / 2) or 1),
    }
  elseif kind == "drop" or kind == "drop_after" then
    return { drop = true }
  elseif kind == "html500" then
    return { status = 500, headers = { { "Content-Type", "text/html" } }, body = _M.HTML500 }
  elseif kind == "unauthorized" then
    return { status = 401, headers = { { "Content-Type", "application/json" } }, body = UNAUTHORIZED }
  end
  local headers = { { "Content-Type", "application/json" } }
  for _, h in ipairs(fault.headers or {}) do headers[#headers + 1] = h end
  return { status = fault.status, headers = headers, body = fault.body }
end

return _M
