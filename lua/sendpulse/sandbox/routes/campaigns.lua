-- Email campaigns, with SendPulse's two sending rules on the sandbox clock
-- (routes/clock.lua moves it):
--   711  a campaign to a mailing list less than 15 minutes after the last one
--        to the same list
--   791  more than 4 API campaigns in an hour (per account)
-- The body (and every attachments_binary value) must be Base64, as SendPulse
-- wants it; the sandbox keeps it decoded and answers it Base64 again.
local reply = require "sendpulse.sandbox.reply"
local json = require "sendpulse.sandbox.json"
local base64 = require "sendpulse.sandbox.base64"
local webhooks = require "sendpulse.sandbox.webhooks"
local inbox = require "sendpulse.sandbox.inbox"
local codes = require("sendpulse.errors").codes

local type, pairs, ipairs, tostring = type, pairs, ipairs, tostring

local _M = {}

-- The waits are the library's table's (sendpulse.errors), so the sandbox
-- and the client never disagree on them.
_M.LIST_WAIT = codes[711].wait    -- 711: 15 minutes
_M.HOUR = codes[791].wait         -- 791: the window of HOURLY_LIMIT
_M.HOURLY_LIMIT = 4               -- 791
_M.FIRST_ID = 5001

-- Campaign statuses as SendPulse numbers them (3 = sent, 13 = scheduled).
local SENT, SCHEDULED = 3, 13

local function campaigns_of(ctx) return ctx.state:data_of("campaigns", ctx.account) end

local function all_campaigns(ctx)
  local d = campaigns_of(ctx)
  d.list = d.list or {}
  return d.list
end

local function find(ctx)
  local id = reply.integer(ctx.params.id)
  for _, c in ipairs(all_campaigns(ctx)) do
    if c.id == id then return c end
  end
  return nil
end

local function summary(c)
  return {
    id = c.id, name = c.name, status = c.status,
    message = { sender_name = c.sender_name, sender_email = c.sender_email,
                subject = c.subject, list_id = c.list_id },
    all_email_qty = c.count, tariff_email_qty = c.count, paid_email_qty = 0,
    overdraft_price = "0.00", company_price = "0.00", overdraft_currency = "USD",
    send_date = c.send_date,
  }
end

local function detail(c)
  local v = summary(c)
  v.message.body = c.body and base64.encode(c.body) or ""
  v.message.attachments = json.array()
  for name in pairs(c.attachments) do v.message.attachments[#v.message.attachments + 1] = name end
  v.statistics = { sent = c.count, delivered = c.count, opening = 0, link_redirected = 0,
                   unsubscribe = 0, error = 0 }
  return v
end

local function bad_data(message) return reply.error(422, message, 21356) end

local function parse_date(s)
  local y, mo, d, h, mi, se = s:match("^(%d%d%d%d)%-(%d%d)%-(%d%d) (%d%d):(%d%d):(%d%d)$")
  if not y then return nil end
  return os.time { year = y, month = mo, day = d, hour = h, min = mi, sec = se }
end

local function create(ctx)
  local body, status, value = reply.params(ctx.req)
  if not body then return status, value end
  local now = ctx.state:now(ctx.now)
  for _, f in ipairs { "sender_name", "sender_email", "subject" } do
    local _, s, v = reply.string_field(body, f)
    if s then return s, v end
  end
  local list_id = reply.integer(body.list_id)
  if body.list_id == nil then return reply.error(400, "Mailing list ID not specified", 722) end
  local book = list_id and ctx.state:book(ctx.account, list_id)
  if not book then return reply.error(400, "Can't find mailing list", 703) end
  if #book.emails == 0 then return reply.error(400, "Mailing list is empty", 211) end

  local plain, template
  if body.body ~= nil then
    if type(body.body) ~= "string" then return bad_data("Argument body must be a Base64 string") end
    plain = base64.decode(body.body)
    if not plain then return bad_data("Argument body must be Base64") end
  elseif body.template_id ~= nil then
    local templates = ctx.state:data_of("templates", ctx.account)
    local t = templates.by_id and templates.by_id[reply.integer(body.template_id) or -1]
    if not t then return reply.error(400, "Template not found", 31) end
    plain = t.body
    template = { id = t.id, name = t.name }
  else
    return reply.error(400, "Email message empty", 721)
  end
  if body.body_amp ~= nil and not base64.decode(body.body_amp) then
    return bad_data("Argument body_amp must be Base64")
  end
  local attachments = {}
  for _, field in ipairs { "attachments", "attachments_binary" } do
    local a = body[field]
    if a ~= nil then
      if type(a) ~= "table" then return bad_data("Argument " .. field .. " must be an object") end
      for name, content in pairs(a) do
        local bytes = content
        if field == "attachments_binary" then bytes = base64.decode(content) end
        if type(bytes) ~= "string" then
          return bad_data("Argument " .. field .. "." .. tostring(name) .. " is invalid")
        end
        attachments[name] = bytes
      end
    end
  end
  local count = 0
  for _ in pairs(attachments) do count = count + 1 end
  if count > 5 then return reply.error(400, "Too many attachments (at most 5)", 400) end

  local send_at = now
  if body.send_date ~= nil then
    send_at = type(body.send_date) == "string" and parse_date(body.send_date)
    if not send_at or send_at < now - 60 then
      return reply.error(400, "Incorrect date format. Use YYYY-MM-DD hh:ii:ss that equals or is more"
        .. " than current date", 799)
    end
  end

  local list = all_campaigns(ctx)
  if body.is_test ~= true then
    local recent = 0
    for _, c in ipairs(list) do
      if c.created > now - _M.HOUR then recent = recent + 1 end
    end
    if recent >= _M.HOURLY_LIMIT then
      return reply.error(400, "API campaign limit exceeded: at most " .. _M.HOURLY_LIMIT .. " campaigns an hour", 791)
    end
    for _, c in ipairs(list) do
      if c.list_id == list_id and c.created > now - _M.LIST_WAIT then
        return reply.error(400, "Must wait 15 minutes before sending another campaign to the same mailing list", 711)
      end
    end
  end

  local c = {
    id = ctx.state:new_id("campaign", _M.FIRST_ID), name = body.name or body.subject,
    sender_name = body.sender_name, sender_email = body.sender_email, subject = body.subject,
    list_id = list_id, body = plain, attachments = attachments, count = #book.emails,
    created = now, send_date = reply.date(send_at),
    status = send_at > now + 60 and SCHEDULED or SENT,
  }
  if body.is_test ~= true then list[#list + 1] = c end
  -- "delivered" per address to the account's webhooks
  if body.is_test ~= true and c.status == SENT then webhooks.campaign_sent(ctx, c, book) end
  if body.is_test ~= true then inbox.campaign(ctx, c, book, template) end
  return 200, { id = c.id, status = c.status, count = c.count, tariff_email_qty = c.count,
                overdraft_price = "0.00", ovedraft_currency = "USD" }
end

local function list_campaigns(ctx)
  local range, s, v = reply.page(ctx.query, nil, 100, 100)
  if not range then return s, v end
  local list = all_campaigns(ctx)
  if ctx.query.order == "desc" then
    local r = {}
    for i = #list, 1, -1 do r[#r + 1] = list[i] end
    list = r
  end
  return 200, reply.slice(list, range, summary)
end

local function get_campaign(ctx)
  local c = find(ctx)
  if not c then return reply.error(400, "Campaign not found", 802) end
  return 200, detail(c)
end

local function update_campaign(ctx)
  local c = find(ctx)
  if not c then return reply.error(400, "Campaign not found", 802) end
  local body, status, value = reply.params(ctx.req)
  if not body then return status, value end
  if type(body.name) == "string" then c.name = body.name end
  if type(body.subject) == "string" then c.subject = body.subject end
  return 200, { result = true }
end

local function cancel_campaign(ctx)
  local c = find(ctx)
  if not c or c.status ~= SCHEDULED then
    return reply.error(400, "Can't find campaign. Probably, it has already been sent", 602)
  end
  local list = all_campaigns(ctx)
  for i, x in ipairs(list) do
    if x == c then table.remove(list, i) break end
  end
  return 200, { result = true }
end

local function by_list(ctx)
  local id = reply.integer(ctx.params.id)
  if not (id and ctx.state:book(ctx.account, id)) then return reply.error(404, "Book not found", 213) end
  local range, s, v = reply.page(ctx.query, nil, 100, 100)
  if not range then return s, v end
  local mine = {}
  for _, c in ipairs(all_campaigns(ctx)) do
    if c.list_id == id then mine[#mine + 1] = c end
  end
  return 200, reply.slice(mine, range, function(c)
    return { task_id = c.id, task_name = c.name, task_status = c.status }
  end)
end

function _M.register(router)
  router:add { method = "POST", path = "/campaigns", handler = create }
  router:add { method = "GET", path = "/campaigns", handler = list_campaigns }
  router:add { method = "GET", path = "/campaigns/{id}", handler = get_campaign }
  router:add { method = "PATCH", path = "/campaigns/{id}", handler = update_campaign }
  router:add { method = "DELETE", path = "/campaigns/{id}", handler = cancel_campaign }
  router:add { method = "GET", path = "/addressbooks/{id}/campaigns", handler = by_list }
end

return _M
