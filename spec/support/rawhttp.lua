-- A deliberately small blocking HTTP/1.1 client over raw LuaSocket, for
-- talking to the sandbox in tests: it sends exactly what it is told (so tests
-- control keep-alive, pipelining and chunking) and reads one Content-Length
-- response at a time.
local socket = require "socket"
local cjson = require "cjson.safe"

local _M = {}

local Conn = {}
Conn.__index = Conn

-- Open a connection. Returns a connection, or nil and an error.
function _M.connect(host, port, timeout)
  local sock, err = socket.connect(host, port)
  if not sock then return nil, err end
  sock:settimeout(timeout or 5)
  sock:setoption("tcp-nodelay", true)
  return setmetatable({ sock = sock }, Conn)
end

-- The bytes of one request. opts: headers (table name -> value), body
-- (string), json (a table sent as a JSON body), token (sent as Bearer),
-- form (table sent urlencoded), close (send Connection: close).
function _M.format_request(method, path, opts)
  opts = opts or {}
  local headers = { Host = "127.0.0.1" }
  local body = opts.body
  if opts.json ~= nil then
    body = assert(cjson.encode(opts.json))
    headers["Content-Type"] = "application/json"
  elseif opts.form then
    local parts = {}
    for k, v in pairs(opts.form) do
      parts[#parts + 1] = k .. "=" .. tostring(v):gsub("[^%w%-_%.~]", function(c)
        return string.format("%%%02X", c:byte())
      end)
    end
    table.sort(parts)
    body = table.concat(parts, "&")
    headers["Content-Type"] = "application/x-www-form-urlencoded"
  end
  if opts.token then headers["Authorization"] = "Bearer " .. opts.token end
  if opts.close then headers["Connection"] = "close" end
  if body then headers["Content-Length"] = tostring(#body) end
  for k, v in pairs(opts.headers or {}) do headers[k] = v end
  local lines = { method .. " " .. path .. " HTTP/1.1" }
  for k, v in pairs(headers) do
    if v ~= false then lines[#lines + 1] = k .. ": " .. v end
  end
  return table.concat(lines, "\r\n") .. "\r\n\r\n" .. (body or "")
end

function Conn:send(data)
  local ok, err = self.sock:send(data)
  if not ok then return nil, err end
  return true
end

-- Read one response: {status, headers (lower-case names), body, json (the
-- decoded body or nil)}, or nil and an error ("closed" when the server
-- closed without answering).
function Conn:read_response()
  local line, err = self.sock:receive("*l")
  if not line then return nil, err end
  local status = tonumber(line:match("^HTTP/1%.%d (%d%d%d)"))
  if not status then return nil, "bad status line: " .. line end
  local headers = {}
  while true do
    local h, herr = self.sock:receive("*l")
    if not h then return nil, herr end
    if h == "" then break end
    local name, value = h:match("^([^:]+):%s*(.-)%s*$")
    headers[name:lower()] = value
  end
  local length = tonumber(headers["content-length"])
  if not length then return nil, "response without Content-Length" end
  local body = ""
  if length > 0 then
    local berr
    body, berr = self.sock:receive(length)
    if not body then return nil, berr end
  end
  return { status = status, headers = headers, body = body, json = cjson.decode(body) }
end

-- Send one request and read its response.
function Conn:request(method, path, opts)
  local ok, err = self:send(_M.format_request(method, path, opts))
  if not ok then return nil, err end
  return self:read_response()
end

-- Whether the server has closed its side (waits up to `timeout` seconds).
function Conn:closed_by_peer(timeout)
  self.sock:settimeout(timeout or 1)
  local data, err = self.sock:receive(1)
  return data == nil and err == "closed"
end

function Conn:close()
  self.sock:close()
end

-- One request on a new connection that is closed afterwards.
function _M.request(host, port, method, path, opts)
  local conn, err = _M.connect(host, port)
  if not conn then return nil, err end
  local res, rerr = conn:request(method, path, opts)
  conn:close()
  return res, rerr
end

return _M
