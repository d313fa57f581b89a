-- A local SendPulse-compatible sandbox server, for tests.
--
--   local sandbox = require "sendpulse.sandbox"
--   local server = sandbox.new { port = 0, log = "/tmp/sandbox.log" }
--   local host, port = server:start()
--   server:run()                          -- serves forever
--
-- or as a script (prints one line, then logs only to --log):
--
--   lua5.4 lua/sendpulse/sandbox/init.lua [--host 127.0.0.1] [--port 8765|0]
--          [--log FILE] [--token-ttl 3600] [--rate 10]
--   sandbox listening 127.0.0.1:8765 pid 12345
--
-- One process, one coroutine per connection over non-blocking LuaSocket
-- sockets (see loop.lua). Services live in routes/*.lua; control calls under
-- /_sandbox/ reset, configure, script faults and read the traffic stats.
local modname = ...
local script_mode = modname ~= "sendpulse.sandbox" and modname ~= "sendpulse.sandbox.init"
if script_mode then
  -- Run as a file: find the sibling modules from the script's own location.
  local dir = (arg and arg[0] or ""):match("^(.*)[/\\]") or "."
  local lua_dir = dir .. "/../.."
  package.path = lua_dir .. "/?.lua;" .. lua_dir .. "/?/init.lua;" .. package.path
end

local socket = require "socket"
local http = require "sendpulse.sandbox.http"
local json = require "sendpulse.sandbox.json"
local reply = require "sendpulse.sandbox.reply"
local loop = require "sendpulse.sandbox.loop"
local router = require "sendpulse.sandbox.router"
local state = require "sendpulse.sandbox.state"
local faults = require "sendpulse.sandbox.faults"
local stats = require "sendpulse.sandbox.stats"
local limits = require "sendpulse.sandbox.limits"
local inbox = require "sendpulse.sandbox.inbox.store"
local guard = require "sendpulse.sandbox.ui.guard"

local gettime = socket.gettime
local type, ipairs, tostring, tonumber = type, ipairs, tostring, tonumber
local setmetatable, xpcall, require, error = setmetatable, xpcall, require, error
local format = string.format
local traceback = debug.traceback

-- the release of lua-sendpulse it comes with (set once, in sendpulse.version)
local _M = { _VERSION = require "sendpulse.version" }

-- Services served by default; each module's register(router) adds its routes.
_M.ROUTES = {
  "sendpulse.sandbox.routes.control",
  "sendpulse.sandbox.routes.oauth",
  "sendpulse.sandbox.routes.addressbooks",
  "sendpulse.sandbox.routes.contacts",
  "sendpulse.sandbox.routes.clock",
  "sendpulse.sandbox.routes.campaigns",
  "sendpulse.sandbox.routes.templates",
  "sendpulse.sandbox.routes.senders",
  "sendpulse.sandbox.routes.blacklist",
  "sendpulse.sandbox.routes.smtp",
  "sendpulse.sandbox.routes.sms",
  "sendpulse.sandbox.routes.push",
  "sendpulse.sandbox.routes.webhooks",
  -- the pages under /_sandbox/ui/ (ui/)
  "sendpulse.sandbox.ui",
  -- last: the spec's example for every operation not modelled above
  "sendpulse.sandbox.routes.examples",
}

local CONTROL_PREFIX = "/_sandbox/"
local RECV_BLOCK = 16384

local Server = {}
Server.__index = Server

-- The configuration a reset returns to: the defaults with the options given
-- at start (token_ttl, rate, accounts) applied.
local function start_config(opts)
  local cfg = state.defaults()
  if opts.accounts ~= nil then cfg.accounts = opts.accounts end
  if opts.token_ttl ~= nil then cfg.token_ttl = opts.token_ttl end
  if opts.rate ~= nil then cfg.rate = opts.rate end
  return cfg
end

local function new_state(cfg)
  local s = state.new()
  local ok, err = s:configure(cfg)
  if not ok then error("sendpulse.sandbox.new: " .. err, 3) end
  return s
end

-- opts: host ("127.0.0.1"), port (8765; 0 picks a free one), log (a file
-- name or an open file; default: no log), token_ttl, rate, accounts
-- (as in POST /_sandbox/config), routes (list of module names or modules;
-- default _M.ROUTES), the bounds of limits.lua (max_connections,
-- max_requests, max_request_text, max_messages, max_message_bytes), and
-- ui_token (the token the pages' forms need; default: a random one).
function _M.new(opts)
  opts = opts or {}
  if type(opts) ~= "table" then error("sendpulse.sandbox.new: opts must be a table", 2) end
  local bounds, bad = limits.from(opts)
  if not bounds then error("sendpulse.sandbox.new: " .. bad, 2) end
  if opts.ui_token ~= nil and (type(opts.ui_token) ~= "string" or not opts.ui_token:find("^[%w%-_]+$")
                               or #opts.ui_token < 16) then
    error("sendpulse.sandbox.new: ui_token must be at least 16 letters, digits, - or _", 2)
  end
  local self = setmetatable({
    host = opts.host or "127.0.0.1",
    port = opts.port or 8765,
    config = start_config(opts),
    limits = bounds,
    faults = faults.new(),
    stats = stats.new(bounds),
    inbox = inbox.new(bounds),
    router = router.new(),
    next_connection = 0,
    open_connections = 0,
    ui_token = opts.ui_token or guard.new_token(),
  }, Server)
  self.state = new_state(self.config)
  if type(opts.log) == "string" then
    local f, err = io.open(opts.log, "a")
    if not f then error("sendpulse.sandbox.new: cannot open log: " .. tostring(err), 2) end
    f:setvbuf("line")
    self.logfile = f
  elseif opts.log then
    self.logfile = opts.log
  end
  for _, r in ipairs(opts.routes or _M.ROUTES) do
    local service = type(r) == "string" and require(r) or r
    service.register(self.router)
  end
  self.loop = loop.new(function(err) self:log("task failed: " .. err) end)
  return self
end

function Server:log(line)
  if self.logfile then
    self.logfile:write(os.date("!%Y-%m-%dT%H:%M:%SZ "), line, "\n")
  end
end

-- Back to the start configuration; no tokens, lists, faults or stats.
function Server:reset()
  self.state = new_state(self.config)
  self.faults:clear()
  self.stats:clear()
  self.inbox:clear()
end

---------------------------------------------------------------------------
-- Requests

local function json_answer(status, value, headers)
  local h = { { "Content-Type", "application/json" } }
  for _, extra in ipairs(headers or {}) do h[#h + 1] = extra end
  return { status = status, headers = h, body = json.encode(value) }
end

local function error_answer(status, message, code)
  return json_answer(reply.error(status, message, code))
end

local function bearer(req)
  local h = req.headers["authorization"]
  return h and h:match("^[Bb][Ee][Aa][Rr][Ee][Rr]%s+(%S+)%s*$")
end

-- An answer from the OpenAPI file's example, not from state, says so in
-- this header (and in the log line and the stats), so a test can tell.
_M.CANNED_HEADER = "X-Sandbox-Canned"

local function route_answer(route, ctx)
  -- the pages (ui/) answer whole: {status, headers, body} or a stream
  if route.raw then return route.handler(ctx) end
  local status, value, headers = reply.call(route.handler, ctx)
  if route.example then
    local marked = { { _M.CANNED_HEADER, route.example } }
    for _, h in ipairs(headers or {}) do marked[#marked + 1] = h end
    headers = marked
  end
  return json_answer(status, value, headers)
end

local function no_route(why, allowed)
  if why == "method not allowed" then
    return json_answer(405, { message = "Method not allowed", error_code = 405 },
                       { { "Allow", table.concat(allowed, ", ") } })
  end
  return error_answer(404, "Not found", 404)
end

-- Who sent the request: the route's own identify(), else the Bearer
-- credential. Returns account or nil, and "token" | "api_key" | "none".
function Server:identify(route, ctx)
  if route and route.identify then return route.identify(ctx), "none" end
  local account, how = self.state:authenticate(bearer(ctx.req), ctx.now)
  return account, how or "none"
end

-- The API proper: authentication, rate limit, route. Fills in `entry`.
function Server:process(route, ctx, why, allowed, entry)
  local account, how = self:identify(route, ctx)
  entry.account, entry.auth = account, how
  if not account and not (route and route.identify) then
    return error_answer(401, "Unauthorized!", 401)
  end
  local rate = self.state.rate
  if account and rate > 0 and self.stats:accepted_since(account, ctx.now - stats.WINDOW) >= rate then
    return error_answer(429, format("More than %d requests per second", rate), 2020202020)
  end
  entry.counted = true
  if not route then return no_route(why, allowed) end
  ctx.account = account
  entry.canned = route.example and true or nil
  return route_answer(route, ctx)
end

-- `connection` is the connection's record: {id, counted}.
function Server:dispatch(req, connection)
  local now = gettime()
  local route, params_or_why, allowed = self.router:match(req.method, req.path)
  local ctx = {
    req = req, query = req.query, now = now, server = self, state = self.state,
    params = route and params_or_why,
  }

  if req.path:sub(1, #CONTROL_PREFIX) == CONTROL_PREFIX then
    local answer
    local refused = guard.refusal(self, req)
    if refused then
      answer = json_answer(403, { message = refused, error_code = 403 })
    elseif route and route.control then
      answer = route_answer(route, ctx)
    else
      answer = no_route(params_or_why, allowed)
    end
    self:log(format("conn=%d %s %s -> %d (control)", connection.id, req.method, req.path,
                    answer.status))
    return answer
  end
  local entry = { t = now, method = req.method, path = req.path, query = req.query_string,
                  connection = connection.id, auth = "none", token = route and route.token }
  local fault = self.faults:take(req.method, req.path)
  local answer
  if fault and not faults.processes(fault) then
    entry.account, entry.auth = self:identify(route, ctx)
    answer = faults.answer(fault)
  else
    answer = self:process(route, ctx, params_or_why, allowed, entry)
    if fault then answer = faults.answer(fault, answer) end
  end
  if fault then
    entry.fault = fault.kind
    answer.delay = fault.delay
  end
  entry.status = answer.drop and 0 or answer.status
  entry.example = entry.canned and route.example or nil
  entry.touched = ctx.touched   -- inbox message ids (inbox/init.lua)
  answer.entry = entry          -- serve() adds how long the answer took
  self.stats:record(entry, connection)
  self:log(format("conn=%d %s %s -> %s account=%s auth=%s%s%s", connection.id, req.method,
                  req.path, answer.drop and "dropped" or tostring(answer.status),
                  tostring(entry.account or "-"), entry.auth,
                  fault and (" fault=" .. fault.kind) or "",
                  entry.canned and (" canned=" .. route.example) or ""))
  return answer
end

-- Answer one request: {status, headers, body, delay?} or {drop = true}.
-- A Lua error in a handler becomes a JSON 500 (and a log line).
-- `connection`: the connection's record, {id, ...}.
function Server:handle(req, connection)
  local ok, answer = xpcall(function() return self:dispatch(req, connection) end, traceback)
  if ok then return answer end
  self:log("handler error: " .. tostring(answer))
  return error_answer(500, "sandbox internal error", 500)
end

---------------------------------------------------------------------------
-- Connections

function Server:serve(sock)
  self.next_connection = self.next_connection + 1
  local id = self.next_connection
  local connection = { id = id }
  local lp = self.loop

  local function recv()
    while true do
      local data, err, partial = sock:receive(RECV_BLOCK)
      if data then return data end
      if partial and partial ~= "" then return partial end
      if err ~= "timeout" then return nil, err end
      lp:wait_readable(sock)
    end
  end

  local function send(data)
    local i = 1
    while i <= #data do
      local last, err, partial_last = sock:send(data, i)
      if last then
        i = last + 1
      elseif err == "timeout" then
        i = partial_last + 1
        lp:wait_writable(sock)
      else
        return nil, err
      end
    end
    return true
  end

  local reader = http.reader(recv)
  local function continue() send(http.CONTINUE) end
  while true do
    local req, err, status = http.read_request(reader, continue)
    if not req then
      if status then
        self:log(format("conn=%d bad request: %s -> %d", id, tostring(err), status))
        send(http.response(status, { { "Content-Type", "application/json" } },
                           json.encode({ message = err, error_code = status }), false))
      end
      return
    end
    local answer = self:handle(req, connection)
    if answer.delay and answer.delay > 0 then lp:sleep(answer.delay) end
    local entry = answer.entry
    if entry then entry.duration = gettime() - entry.t end
    if answer.drop then return end
    if answer.stream then
      -- a page's live stream (ui/live.lua): it writes until it ends, then
      -- the connection closes
      -- gone(): whether the browser closed its side (it sends nothing more)
      local function gone()
        local data, why = sock:receive(1)
        return not data and why ~= "timeout"
      end
      if send(http.stream_head(answer.status, answer.headers)) then answer.stream(send, lp, gone) end
      return
    end
    local keepalive = req.keepalive
    if not send(http.response(answer.status, answer.headers, answer.body, keepalive)) then
      return
    end
    if entry then entry.duration = gettime() - entry.t end
    if not keepalive then return end
  end
end

-- Past max_connections (or on a descriptor LuaSocket's select cannot
-- watch), a new connection is answered 503 at once and closed: a fresh
-- socket takes a short answer without waiting, so the loop never selects
-- on it. Returns whether the connection may be served.
local REFUSED = http.response(503, { { "Content-Type", "application/json" }, { "Retry-After", "1" } },
  '{"message":"The sandbox serves at most its max_connections connections at once","error_code":503}', false)

function Server:admit(client)
  if self.open_connections < self.limits.max_connections and limits.selectable(client) then
    return true
  end
  client:settimeout(0)
  client:send(REFUSED)
  client:close()
  self.refused = (self.refused or 0) + 1
  -- one log line per 100 refusals: a flood must not fill the log either
  if self.refused % 100 == 1 then
    self:log(format("refused connection (%d open, max_connections %d) -> 503; %d refused so far",
                    self.open_connections, self.limits.max_connections, self.refused))
  end
  return false
end

-- Bind and start accepting. Returns host, port (the real one when port 0
-- was asked for). Raises when the address cannot be bound.
function Server:start()
  if self.sock then return self.host, self.port end
  local make = self.host:find(":", 1, true) and socket.tcp6 or socket.tcp4 or socket.tcp
  local sock = assert(make())
  sock:setoption("reuseaddr", true)
  local ok, err = sock:bind(self.host, self.port)
  if not ok then
    sock:close()
    error(format("sendpulse.sandbox: cannot bind %s:%s: %s", self.host, self.port, err), 2)
  end
  assert(sock:listen(1024))
  sock:settimeout(0)
  local _, port = sock:getsockname()
  self.sock, self.port = sock, tonumber(port)
  local lp = self.loop
  lp:spawn(function()
    while true do
      local client, accept_err = sock:accept()
      if client and not self:admit(client) then
        client = nil
      elseif client then
        client:settimeout(0)
        client:setoption("tcp-nodelay", true)
        self.open_connections = self.open_connections + 1
        lp:spawn(function() self:serve(client) end, function()
          self.open_connections = self.open_connections - 1
          lp:forget(client)
          client:close()
        end)
      elseif accept_err == "timeout" then
        lp:wait_readable(sock)
      else
        -- Out of descriptors, say: back off instead of spinning on select.
        self:log("accept failed: " .. tostring(accept_err))
        lp:sleep(0.1)
      end
    end
  end)
  self:log(format("listening %s:%d", self.host, self.port))
  return self.host, self.port
end

-- The address of the pages (ui/), once started.
function Server:ui_url()
  local host = self.host
  if host == "0.0.0.0" or host == "*" then host = "127.0.0.1" elseif host == "::" then host = "[::1]"
  elseif host:find(":", 1, true) then host = "[" .. host .. "]" end
  return format("http://%s:%d/_sandbox/ui/", host, self.port)
end

-- A warning when the sandbox listens beyond loopback: whoever reaches the
-- address reads what your code sent and can use the control API.
function Server:exposure_warning()
  if guard.is_loopback(self.host) then return nil end
  return format("listening on %s, not on loopback: anyone who can reach it can read every message "
    .. "and request it keeps and reset it; use --host 127.0.0.1 unless that is what you want", self.host)
end

-- Serve forever.
function Server:run()
  self:start()
  self.loop:run()
end

---------------------------------------------------------------------------
-- Script mode

local USAGE = [==[
usage: init.lua [--host 127.0.0.1] [--port 8765|0] [--log FILE]
                [--token-ttl 3600] [--rate 10]
                [--max-connections 900] [--max-requests 10000]
                [--max-request-text 1024] [--max-messages 10000]
                [--max-message-bytes 67108864] [--ui-token TOKEN]]==]

local function parse_args(args)
  local opts = {}
  local i = 1
  while i <= #args do
    local name, value = args[i], args[i + 1]
    if name == "--help" or name == "-h" then
      io.stderr:write(USAGE, "\n")
      os.exit(0)
    end
    if value == nil then return nil, "missing value for " .. tostring(name) end
    local bound = name:match("^%-%-(max%-[%a%-]+)$")
    bound = bound and bound:gsub("%-", "_")
    if bound and limits.DEFAULTS[bound] then
      opts[bound] = tonumber(value)
      if not opts[bound] then return nil, name .. " needs a number, got " .. value end
    elseif name == "--host" then opts.host = value
    elseif name == "--ui-token" then opts.ui_token = value
    elseif name == "--log" then opts.log = value
    elseif name == "--port" or name == "--token-ttl" or name == "--rate" then
      local n = tonumber(value)
      if not n then return nil, name .. " needs a number, got " .. value end
      if name == "--port" then opts.port = n
      elseif name == "--token-ttl" then opts.token_ttl = n
      else opts.rate = n end
    else
      return nil, "unknown option " .. tostring(name)
    end
    i = i + 2
  end
  return opts
end

-- LuaSocket has no getpid; /proc/self/stat starts with it (Linux), else the
-- shell's parent pid is ours.
local function getpid()
  local f = io.open("/proc/self/stat")
  if f then
    local pid = f:read("*n")
    f:close()
    if pid then return format("%d", pid) end
  end
  local p = io.popen("echo $PPID")
  local pid = p and p:read("*l")
  if p then p:close() end
  return pid or "?"
end

local function main(args)
  local opts, err = parse_args(args)
  if not opts then
    io.stderr:write("sandbox: ", err, "\n", USAGE, "\n")
    os.exit(2)
  end
  -- Bad option values and a busy port end the process with one clear line.
  local ok, server = pcall(_M.new, opts)
  local host, port
  if ok then ok, host, port = pcall(server.start, server) end
  if not ok then
    io.stderr:write("sandbox: ", tostring(host or server), "\n")
    os.exit(1)
  end
  io.stdout:write(format("sandbox listening %s:%d pid %s\n", host, port, getpid()))
  io.stdout:write(format("sandbox ui %s token %s\n", server:ui_url(), server.ui_token))
  io.stdout:flush()
  local warning = server:exposure_warning()
  if warning then io.stderr:write("sandbox: ", warning, "\n") end
  server:run()
end

if script_mode then
  main({ ... })
else
  return _M
end
