-- The email blacklist. `emails` is the Base64 of ONE comma-separated string
-- (SendPulse's format); GET /blacklist answers the addresses as an array.
local reply = require "sendpulse.sandbox.reply"
local json = require "sendpulse.sandbox.json"
local base64 = require "sendpulse.sandbox.base64"

local type, ipairs, lower = type, ipairs, string.lower

local _M = {}

local function store(ctx)
  local d = ctx.state:data_of("blacklist", ctx.account)
  d.list = d.list or {}
  d.index = d.index or {}
  return d
end

-- The addresses in the body, or nil plus an answer.
local function addresses(ctx)
  local body, status, value = reply.params(ctx.req)
  if not body then return nil, status, value end
  if body.emails == nil then return nil, reply.error(422, "Argument emails missing", 422) end
  local text = type(body.emails) == "string" and base64.decode(body.emails)
  if not text then
    return nil, reply.error(422, "Argument emails must be the Base64 of a comma-separated string", 832)
  end
  local out = {}
  for e in text:gmatch("[^,]+") do
    e = e:match("^%s*(.-)%s*$")
    if not e:find("^[^%s@]+@[^%s@]+%.[^%s@]+$") then
      return nil, reply.error(400, "Email address syntax error", 906)
    end
    out[#out + 1] = e
  end
  if #out == 0 then return nil, reply.error(422, "The emails parameter is empty or wrong", 832) end
  return out
end

local function list(ctx)
  local out = json.array()
  for i, e in ipairs(store(ctx).list) do out[i] = e end
  return 200, out
end

local function add(ctx)
  local emails, s, v = addresses(ctx)
  if not emails then return s, v end
  local d = store(ctx)
  for _, e in ipairs(emails) do
    if not d.index[lower(e)] then
      d.index[lower(e)] = true
      d.list[#d.list + 1] = e
    end
  end
  return 200, { result = true }
end

local function remove(ctx)
  local emails, s, v = addresses(ctx)
  if not emails then return s, v end
  local d = store(ctx)
  local drop = {}
  for _, e in ipairs(emails) do drop[lower(e)] = true; d.index[lower(e)] = nil end
  local kept = {}
  for _, e in ipairs(d.list) do if not drop[lower(e)] then kept[#kept + 1] = e end end
  d.list = kept
  return 200, { result = true }
end

-- Whether an address is blacklisted (used by the SMTP route).
function _M.contains(state, account, email)
  local d = state:data_of("blacklist", account)
  return d.index ~= nil and d.index[lower(email)] == true
end

function _M.register(router)
  router:add { method = "GET", path = "/blacklist", handler = list }
  router:add { method = "POST", path = "/blacklist", handler = add }
  router:add { method = "DELETE", path = "/blacklist", handler = remove }
end

return _M
