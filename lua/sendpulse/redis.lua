--- A Redis connection for the shared token store and rate budget: connects
-- on first use, and after a failure waits RETRY_INTERVAL before trying
-- again, so a dead Redis costs two refused connections per second, not one
-- per request.
--
--   local conn = require("sendpulse.redis").connection {
--     host =, port =, password =, db =, timeout =, prefix = }
--   conn:call("GET", key)      -> reply | nil, message (I/O or Redis error)
--   conn:script(src, nkeys, ...) -> reply | nil, message: EVALSHA, loading
--                                  the script when Redis does not know it
--   describe(reply)            -> "the integer 1", "an array of 0 elements", ...
--
-- A null reply is nil without a message. Every message starts "redis: ".
-- What a reply means is for the caller to check: Redis, or whatever listens
-- on its port, may answer anything (spec/bad_redis_spec.lua), and only the
-- caller knows which replies a command may get. The C reader bounds a
-- reply's size (docs/security.md, "A broken Redis").
--
-- The socket is sendpulse.hiredis (C, blocking, with a timeout). Inside
-- nginx a cosocket client takes its place: anything with the same
-- call(self, command, ...) method (reply | nil, err | false, err) works.
-- Connections are shared by the clients of a Lua state with the same
-- address, database and password.

local core = require "sendpulse.core"

local tostring, setmetatable, pcall, require, type = tostring, setmetatable, pcall, require, type
local format = string.format
local monotonic = core.monotonic
local NULL = core.null   -- also hiredis.null and ngx.null: a NULL light userdata

local _M = {}

_M.RETRY_INTERVAL = 0.5

local hiredis   -- loaded on first use: only users of Redis need libhiredis
local missing   -- why it could not be loaded

local Conn = {}
Conn.__index = Conn
Conn.__name = "sendpulse.redis"

local conns = setmetatable({}, { __mode = "v" })

--- What a reply is, for messages that say why it was not used: its type
-- and size. Only a short all-capitals status ("QUEUED") is quoted: a longer
-- string may be a token.
function _M.describe(reply)
  local t = type(reply)
  if reply == nil or reply == NULL then return "a null" end
  if t == "number" then return "the integer " .. tostring(reply) end
  if t == "string" then
    if #reply <= 20 and reply:find("^[A-Z0-9_ ]+$") then return format('the string "%s"', reply) end
    return format("a string of %d bytes", #reply)
  end
  if t == "table" then return format("an array of %d elements", #reply) end
  if t == "boolean" then return "the boolean " .. tostring(reply) end
  return "a " .. t
end

--- connection(opts) -> a shared connection for these settings (opts as
-- checked by sendpulse.client.options: host, port, password, db, timeout, prefix).
function _M.connection(opts)
  local id = format("%s|%d|%d|%s|%g", opts.host, opts.port, opts.db,
    opts.password and core.fingerprint(opts.password) or "", opts.timeout)
  local c = conns[id]
  if not c then
    -- A copy: the client hides the password in its own settings afterwards.
    local o = { host = opts.host, port = opts.port, password = opts.password, db = opts.db,
                timeout = opts.timeout }
    c = setmetatable({ opts = o, sock = nil, retry_at = 0, last_error = nil, shas = {} }, Conn)
    conns[id] = c
  end
  return c
end

function Conn:connect()
  if self.sock and not self.sock:closed() then return self.sock end
  if monotonic() < self.retry_at then
    return nil, "redis unavailable (" .. tostring(self.last_error) .. ")"
  end
  if hiredis == nil then
    local ok, mod = pcall(require, "sendpulse.hiredis")
    if not ok then
      -- Not installed: say so each time, but look for it only once.
      hiredis = false
      missing = "the Redis module sendpulse.hiredis is not installed: " .. tostring(mod)
    else
      hiredis = mod
    end
  end
  if not hiredis then return nil, missing end
  local o = self.opts
  local sock, err = hiredis.connect { host = o.host, port = o.port, password = o.password,
                                      db = o.db, timeout = o.timeout }
  if not sock then return self:failed(err) end
  self.sock = sock
  return sock
end

function Conn:failed(err)
  self.last_error = err
  self.retry_at = monotonic() + _M.RETRY_INTERVAL
  if self.sock then self.sock:close(); self.sock = nil end
  return nil, err
end

function Conn:call(...)
  local sock, err = self:connect()
  if not sock then return nil, err end
  local reply, msg = sock:call(...)
  if reply == nil then return self:failed(msg) end
  if reply == false then return nil, "redis: " .. tostring(msg) end
  if reply == hiredis.null then return nil end
  return reply
end

--- Runs a Lua script on the server by its SHA1, loading it when Redis does
-- not have it (first use, or after a restart flushed its script cache).
function Conn:script(src, ...)
  local sock, err = self:connect()
  if not sock then return nil, err end
  for _ = 1, 2 do
    local sha = self.shas[src]
    if not sha then
      local loaded, msg = sock:call("SCRIPT", "LOAD", src)
      if loaded == nil then return self:failed(msg) end
      if loaded == false then return nil, "redis: " .. tostring(msg) end
      if type(loaded) ~= "string" or #loaded ~= 40 or not loaded:find("^%x+$") then
        return nil, "redis: unexpected reply to SCRIPT LOAD: " .. _M.describe(loaded) .. " (a SHA1 was expected)"
      end
      sha = loaded
      self.shas[src] = sha
    end
    local reply, msg = sock:call("EVALSHA", sha, ...)
    if reply == nil then return self:failed(msg) end
    if reply ~= false then
      if reply == hiredis.null then return nil end
      return reply
    end
    if not tostring(msg):find("^NOSCRIPT") then return nil, "redis: " .. tostring(msg) end
    self.shas[src] = nil
  end
  return nil, "redis: the script could not be loaded"
end

Conn.__tostring = function(self)
  return format("sendpulse.redis (%s:%d/%d)", self.opts.host, self.opts.port, self.opts.db)
end

return _M
