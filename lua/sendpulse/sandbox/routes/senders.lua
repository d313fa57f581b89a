-- Senders (also the SMTP senders) and their activation. The activation code
-- the sandbox "mails" is always ACTIVATION_CODE; asking for a new one within
-- 15 minutes of the last (sandbox clock) answers 1004.
local reply = require "sendpulse.sandbox.reply"
local json = require "sendpulse.sandbox.json"
local codes = require("sendpulse.errors").codes

local ipairs, lower = ipairs, string.lower

local _M = {}

_M.ACTIVATION_CODE = "sandbox-code"
_M.CODE_WAIT = codes[1004].wait   -- the library's table's (sendpulse.errors): 15 minutes

local function store(ctx)
  local d = ctx.state:data_of("senders", ctx.account)
  d.list = d.list or {}
  return d
end

local function find(ctx, email)
  for i, s in ipairs(store(ctx).list) do
    if lower(s.email) == lower(email) then return s, i end
  end
  return nil
end

local function valid_email(s)
  return s:find("^[^%s@]+@[%w%-]+%.[%w%-%.]+$") ~= nil
end

local function view(s)
  return { name = s.name, email = s.email, status = s.active and "Active" or "Not active" }
end

local function list(ctx)
  local out = json.array()
  for i, s in ipairs(store(ctx).list) do out[i] = view(s) end
  return 200, out
end

local function add(ctx)
  local body, status, value = reply.params(ctx.req)
  if not body then return status, value end
  local email, s1, v1 = reply.string_field(body, "email", 903)
  if not email then return s1, v1 end
  local name, s2, v2 = reply.string_field(body, "name", 901)
  if not name then return s2, v2 end
  if not valid_email(email) then return reply.error(400, "Email address syntax error", 906) end
  if find(ctx, email) then return reply.error(400, "Selected email address already in use", 902) end
  local d = store(ctx)
  d.list[#d.list + 1] = { email = email, name = name, active = false }
  return 200, { result = true }
end

local function delete(ctx)
  local body, status, value = reply.params(ctx.req)
  if not body then return status, value end
  local email, s1, v1 = reply.string_field(body, "email", 903)
  if not email then return s1, v1 end
  local _, i = find(ctx, email)
  if not i then return reply.error(400, "Can't find sender", 704) end
  table.remove(store(ctx).list, i)
  return 200, { result = true }
end

local function request_code(ctx)
  local s = find(ctx, ctx.params.email)
  if not s then return reply.error(400, "Specified sender doesn't exist", 1003) end
  local now = ctx.state:now(ctx.now)
  if s.code_sent and now - s.code_sent < _M.CODE_WAIT then
    return reply.error(400, "Activation code has been sent. Wait 15 minutes to retry", 1004)
  end
  s.code_sent = now
  return 200, { result = true, email = s.email }
end

local function activate(ctx)
  local s = find(ctx, ctx.params.email)
  if not s then return reply.error(400, "No such email address awaiting activation", 21) end
  local body, status, value = reply.params(ctx.req)
  if not body then return status, value end
  if body.code == nil then return reply.error(400, "Activation code not specified", 1104) end
  if body.code ~= _M.ACTIVATION_CODE then return reply.error(400, "Wrong activation code", 1005) end
  s.active = true
  return 200, { result = true, email = s.email }
end

function _M.register(router)
  router:add { method = "GET", path = "/senders", handler = list }
  router:add { method = "GET", path = "/smtp/senders", handler = list }
  router:add { method = "POST", path = "/senders", handler = add }
  router:add { method = "DELETE", path = "/senders", handler = delete }
  router:add { method = "GET", path = "/senders/{email}/code", handler = request_code }
  router:add { method = "POST", path = "/senders/{email}/code", handler = activate }
end

return _M
