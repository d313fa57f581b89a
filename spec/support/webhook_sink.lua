-- A webhook receiver for specs, in the spec's own process: it listens on a
-- free loopback port and, while a test waits in collect(), accepts the
-- POSTs a sandbox sends and answers each with the status the test chooses.
--
--   local sink = require("support.webhook_sink").new()
--   sink.url                                   -- "http://127.0.0.1:PORT"
--   local got = sink:collect(2, 5, function(req) return 200 end)
--   got[1].path, got[1].body, got[1].json, got[1].status (what it answered)
--   sink:close()
local socket = require "socket"
local cjson = require "cjson.safe"

local _M = {}

local Sink = {}
Sink.__index = Sink

function _M.new()
  local server = assert(socket.bind("127.0.0.1", 0))
  local _, port = server:getsockname()
  return setmetatable({ server = server, port = tonumber(port), url = "http://127.0.0.1:" .. port,
                        received = {} }, Sink)
end

local function read_request(c)
  local line, err = c:receive("*l")
  if not line then return nil, err end
  local method, path = line:match("^(%u+) (%S+) HTTP/1%.%d$")
  local headers = {}
  while true do
    local h = c:receive("*l")
    if not h or h == "" then break end
    local k, v = h:match("^([^:]+):%s*(.-)%s*$")
    if k then headers[k:lower()] = v end
  end
  local body = c:receive(tonumber(headers["content-length"] or 0) or 0) or ""
  return { method = method, path = path, headers = headers, body = body, json = cjson.decode(body) }
end

--- Accepts requests until `n` have come in all (counting earlier calls) or
-- `timeout` seconds passed; answers each with answer(req) (default 200).
-- Returns every request received so far.
function Sink:collect(n, timeout, answer)
  local deadline = socket.gettime() + timeout
  while #self.received < n do
    local left = deadline - socket.gettime()
    if left <= 0 then break end
    self.server:settimeout(left)
    local c = self.server:accept()
    if c then
      c:settimeout(2)
      local req = read_request(c)
      if req then
        req.status = answer and answer(req, #self.received + 1) or 200
        req.t = socket.gettime()
        self.received[#self.received + 1] = req
        c:send(("HTTP/1.1 %d X\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"):format(req.status))
      end
      c:close()
    end
  end
  return self.received
end

function Sink:close()
  self.server:close()
end

return _M
