--- The webhook receiver inside nginx (OpenResty, or Debian's nginx with
-- the Lua module): answers SendPulse at once and hands the new events to
-- your code afterwards, in a timer.
--
--   -- init_by_lua_block (once; every worker gets its own copy)
--   local handler = require("sendpulse.webhooks").nginx_handler {
--     secret = os.getenv("SENDPULSE_WEBHOOK_SECRET"),   -- nginx.conf: env SENDPULSE_WEBHOOK_SECRET;
--     shared_dict = "sendpulse_webhooks",               -- lua_shared_dict sendpulse_webhooks 10m;
--     on_event = function(event) ... end,
--   }
--   -- content_by_lua_block of the webhook's location
--   handler:handle()
--
-- Per request, in the content phase: POST only (405); the source address
-- against `allow` and the URL's secret (403); the body, also when nginx
-- buffered it to a file (client_body_buffer_size; 500 if that file cannot
-- be read), parsed (400 when it is not a JSON array of objects, is over
-- max_body or holds over max_events);
-- then 200 at once, and a zero-delay ngx.timer.at runs the rest: repeats
-- are dropped through the shared dict, and on_event(event) is called once
-- per new event. on_event runs where cosockets work: it may call the API.
--
-- An error raised by on_event goes to on_error(err, event); by default it
-- is logged at ERR with the event (its original JSON object), never lost.
-- Refused requests are counted and summed up in the error log at most once
-- a second, from a timer (nginx_report.lua): a line logged while nginx
-- handles the request would carry the URL, and with it the secret.
-- The timer backlog is bounded: at most max_pending batches (per worker)
-- wait for their timer; beyond, and when nginx refuses another timer
-- (lua_max_pending_timers), the request is answered 503 so that SendPulse
-- sends it again later instead of it being dropped.
local errors = require "sendpulse.errors"
local nginx = require "sendpulse.nginx"
local receiver = require "sendpulse.webhooks.receiver"
local parse = require "sendpulse.webhooks.parse"
local secret = require "sendpulse.webhooks.secret"
local shared_dict_store = require "sendpulse.webhooks.stores.shared_dict"
local report = require "sendpulse.webhooks.nginx_report"

local type, pairs, ipairs, tostring, tonumber, error, pcall, setmetatable, floor =
  type, pairs, ipairs, tostring, tonumber, error, pcall, setmetatable, math.floor
local io_open = io.open

local _M = {}

_M.MAX_PENDING = 100

-- nginx_handler(opts)'s options, for editors (LuaLS).
---@class sendpulse.webhooks.HandlerOptions : sendpulse.webhooks.ReceiverOptions
---@field shared_dict? string the lua_shared_dict holding seen keys (or give `store`)
---@field on_event fun(event: sendpulse.webhooks.Event) runs in a timer, where cosockets work
---@field on_error? fun(err: any, event: sendpulse.webhooks.Event) default: logged at ERR with the event
---@field secret_in? "path"|"query" where the secret is (default "path": the URL's last segment)
---@field secret_arg? string the query argument holding it (default "secret")
---@field max_pending? integer batches waiting for their timer, per worker (default 100)

-- The handler has the receiver's authenticate, parse and fresh too.
---@class sendpulse.webhooks.Handler : sendpulse.webhooks.Receiver
local Handler = {}
Handler.__index = Handler
Handler.__name = "sendpulse.webhooks.nginx_handler"

local EXTRA = { "shared_dict", "on_event", "on_error", "secret_in", "secret_arg", "max_pending" }
local IS_EXTRA = {}
for _, k in ipairs(EXTRA) do IS_EXTRA[k] = true end

local WHERE = "sendpulse.webhooks.nginx_handler"

local function bad(message)
  error(errors.argument(WHERE .. ": " .. message), 3)
end

--- nginx_handler(opts) -> handler. Options: those of receiver() (secret,
-- allow, store, ttl, max_body, max_events) and
--   shared_dict  the lua_shared_dict holding seen keys (or give `store`)
--   on_event     function(event), required
--   on_error     function(err, event); default: logged at ERR with the event
--   secret_in    "path" (the URL's last segment, the default) or "query"
--   secret_arg   the query argument holding the secret ("secret")
--   max_pending  batches waiting for their timer, per worker (100)
---@param opts sendpulse.webhooks.HandlerOptions
---@return sendpulse.webhooks.Handler
function _M.new(opts)
  if type(opts) ~= "table" then bad("options must be a table") end
  local ngx = nginx.host()
  if not ngx then bad("this runs inside nginx only; elsewhere use receiver()") end
  -- The receiver's own options go to receiver.settings, which also names
  -- any unknown key (with these extra ones as known).
  local base = {}
  for k, v in pairs(opts) do
    if not IS_EXTRA[k] then base[k] = v end
  end
  if opts.shared_dict ~= nil then
    if opts.store ~= nil then bad("give 'shared_dict' or 'store', not both") end
    local store, why = shared_dict_store.open(opts.shared_dict)
    if not store then bad(why) end
    base.store = store
  elseif opts.store == nil then
    bad("name a 'shared_dict' (seen keys must be shared by the workers), give a 'store', "
      .. "or store = false to deliver repeats too")
  end
  local s = receiver.settings(base, WHERE, EXTRA)
  if type(opts.on_event) ~= "function" then bad("'on_event' must be a function(event)") end
  if opts.on_error ~= nil and type(opts.on_error) ~= "function" then
    bad("'on_error' must be a function(err, event) or nil")
  end
  local secret_in = opts.secret_in or "path"
  if secret_in ~= "path" and secret_in ~= "query" then bad("'secret_in' must be \"path\" or \"query\"") end
  local arg = opts.secret_arg or "secret"
  if type(arg) ~= "string" or not arg:find("^[%w_]+$") then
    bad("'secret_arg' must be a query argument name (letters, digits, _)")
  end
  local max_pending = opts.max_pending or _M.MAX_PENDING
  if type(max_pending) ~= "number" or max_pending < 1 or max_pending ~= floor(max_pending) then
    bad("'max_pending' must be a whole number >= 1")
  end
  local self = setmetatable(s, Handler)
  self.ngx, self.on_event, self.secret_in, self.secret_arg = ngx, opts.on_event, secret_in, arg
  self.max_pending, self.pending = max_pending, 0
  self.report = report.new(ngx)
  self.on_error = opts.on_error or function(err, event)
    ngx.log(ngx.ERR, "sendpulse.webhooks: on_event failed: ", tostring(err), "; event: ",
      receiver.describe(event))
  end
  return self
end

-- Receiver's methods work on the handler's settings as they are.
Handler.authenticate = receiver.Receiver.authenticate
Handler.parse = receiver.Receiver.parse
Handler.fresh = receiver.Receiver.fresh

local function answer(ngx, status, text)
  ngx.status = status
  ngx.header["Content-Type"] = "text/plain"
  ngx.header["Content-Length"] = #text + 1
  ngx.print(text, "\n")
  return status
end

-- The body (a string), or nil and an error object. nginx keeps a body
-- larger than client_body_buffer_size in a file: read it from there, at
-- most max_body + 1 bytes (enough to say it is too large).
local function read_body(self, ngx)
  ngx.req.read_body()
  local body = ngx.req.get_body_data()
  if body then return body end
  local path = ngx.req.get_body_file()
  if not path then return "" end
  local f, err = io_open(path, "rb")
  if not f then
    return nil, errors.new { kind = "network", message = "webhook body: cannot read nginx's body file: "
      .. tostring(err) }
  end
  body = f:read(self.limits.max_body + 1) or ""
  f:close()
  return body
end

-- The timer. When nginx reloads or stops, the timer runs at once with
-- `premature` set; the batch was answered 200 already, so it is processed
-- all the same (nginx waits up to worker_shutdown_timeout for it).
local function run(_premature, self, events)
  local ngx = self.ngx
  local ok, err = pcall(function()
    local new, _, failures = self:fresh(events)
    for i = 1, #failures do
      local f = failures[i]
      ngx.log(ngx.ERR, "sendpulse.webhooks: the dedupe store failed (", f.message,
        "); the event is delivered all the same: ", receiver.describe(f.event))
    end
    receiver.deliver(new, self.on_event, self.on_error)
  end)
  self.pending = self.pending - 1
  if not ok then ngx.log(ngx.ERR, "sendpulse.webhooks: processing a batch failed: ", tostring(err)) end
end

--- Handles the current request (content phase). Returns the status sent.
---@return integer status
function Handler:handle()
  local ngx = self.ngx
  if ngx.req.get_method() ~= "POST" then
    ngx.header["Allow"] = "POST"
    return answer(ngx, 405, "POST only")
  end
  local given
  if self.secret_in == "query" then
    given = ngx.var["arg_" .. self.secret_arg]
    if given then given = ngx.unescape_uri(given) end
  else
    given = secret.from_path(ngx.var.uri)
  end
  local ok, why = self:authenticate(given, ngx.var.remote_addr)
  if not ok then
    self.report:add("forbidden (403)", why.message, ngx.var.remote_addr, ngx.WARN)
    return answer(ngx, 403, "forbidden")
  end
  local length = tonumber(ngx.var.http_content_length)
  local events, err, body
  if length and length > self.limits.max_body then
    -- Refused before reading a byte of it.
    events, err = parse.too_large(length, self.limits.max_body)
  else
    body, err = read_body(self, ngx)
    if not body then
      -- Our failure, not the sender's: 500, so that SendPulse tries again.
      self.report:add("unreadable body (500)", err.message, ngx.var.remote_addr, ngx.ERR)
      return answer(ngx, 500, "cannot read the body")
    end
    events, err = parse.checked(body, { ["content-encoding"] = ngx.var.http_content_encoding }, self.limits)
  end
  if not events then
    self.report:add("bad body (400)", err.message, ngx.var.remote_addr, ngx.WARN)
    return answer(ngx, 400, err.message)
  end
  if #events == 0 then return answer(ngx, 200, "ok") end
  if self.pending >= self.max_pending then
    self.report:add("busy (503)", self.pending .. " batches wait for processing (max_pending); "
      .. "SendPulse will send them again", ngx.var.remote_addr, ngx.ERR)
    ngx.header["Retry-After"] = "5"
    return answer(ngx, 503, "busy")
  end
  local scheduled, terr = ngx.timer.at(0, run, self, events)
  if not scheduled then
    self.report:add("busy (503)", "cannot start a timer (" .. tostring(terr) .. "); SendPulse will send "
      .. "the batch again", ngx.var.remote_addr, ngx.ERR)
    ngx.header["Retry-After"] = "5"
    return answer(ngx, 503, "busy")
  end
  self.pending = self.pending + 1
  return answer(ngx, 200, "ok")
end

Handler.__call = Handler.handle
Handler.__tostring = function() return Handler.__name end

return _M
