-- SMTP: sending and the history. POST /smtp/emails checks the message the
-- way SendPulse does (`to` an array, html and attachments_binary Base64) and
-- writes one history record per recipient. The sandbox's outbox, for tests,
-- shows what a message decoded to, and every send (to count them):
--   GET /_sandbox/smtp/{id} -> {html, text, subject, attachments = {name = {size, hex}}}
--   GET /_sandbox/smtp      -> [{id, account, recipient, sender, subject, send_date}]
--   GET /_sandbox/smtp?total=1 -> {total}
local reply = require "sendpulse.sandbox.reply"
local json = require "sendpulse.sandbox.json"
local base64 = require "sendpulse.sandbox.base64"
local blacklist = require "sendpulse.sandbox.routes.blacklist"
local webhooks = require "sendpulse.sandbox.webhooks"
local inbox = require "sendpulse.sandbox.inbox"

local type, pairs, ipairs, tostring, format = type, pairs, ipairs, tostring, string.format

local _M = {}

_M.MAX_INFO = 500

local function store(ctx)
  local d = ctx.state:data_of("smtp", ctx.account)
  d.list = d.list or {}
  d.by_id = d.by_id or {}
  return d
end

local function bad(message) return reply.error(422, message, 999) end

local function valid_email(s)
  return type(s) == "string" and s:find("^[^%s@]+@[^%s@]+%.[^%s@]+$") ~= nil
end

local function hex(s)
  return (s:gsub(".", function(c) return format("%02x", c:byte()) end))
end

local function record_view(r)
  return {
    id = r.id, sender = r.sender, recipient = r.recipient, subject = r.subject,
    total_size = r.size, sender_ip = "127.0.0.1", used_ip = "127.0.0.1",
    smtp_answer_code = r.blacklisted and 550 or 250, smtp_answer_subcode = "0",
    smtp_answer_data = r.blacklisted and "Recipient is blacklisted" or "Ok",
    send_date = r.send_date,
    tracking = { click = 0, open = 0, link = json.array(), client_info = json.array() },
  }
end

-- The inbox dropped this message (its oldest): the history forgets it too.
-- The oldest of an account's records is the first of its list.
local function forget(d, rec)
  d.by_id[rec.id] = nil
  for i, r in ipairs(d.list) do
    if r == rec then table.remove(d.list, i) break end
  end
end

local function send(ctx)
  local body, status, value = reply.json_body(ctx.req)
  if not body then return status, value end
  local email = body.email
  if type(email) ~= "table" then return bad("Badly formed incoming data: email must be an object") end
  local to = email.to
  if type(to) ~= "table" or #to == 0 then return bad("Badly formed incoming data: to must be an array") end
  for _, r in ipairs(to) do
    if type(r) ~= "table" or not valid_email(r.email) then
      return bad("Badly formed incoming data: to[].email is not an address")
    end
  end
  if type(email.from) ~= "table" or not valid_email(email.from.email) then
    return reply.error(422, "Sender email address missing", 10)
  end
  if type(email.subject) ~= "string" or email.subject == "" then
    return reply.error(422, "Subject missing", 12)
  end
  local html, text = nil, email.text
  if email.html ~= nil then
    html = type(email.html) == "string" and base64.decode(email.html)
    if not html then return bad("Badly formed incoming data: html must be Base64") end
  end
  local template
  if email.template ~= nil then
    local t = email.template
    local templates = ctx.state:data_of("templates", ctx.account)
    local found = type(t) == "table" and templates.by_id and templates.by_id[reply.integer(t.id) or -1]
    if not found then return reply.error(422, "Template not found", 31) end
    html = found.body
    template = { id = found.id, name = found.name, variables = t.variables }
  end
  if html == nil and type(text) ~= "string" then return reply.error(422, "Empty email message content field", 13) end
  local files, size = {}, #(html or "") + #(text or "")
  for _, field in ipairs { "attachments", "attachments_binary" } do
    local a = email[field]
    if a ~= nil then
      if type(a) ~= "table" then return bad("Badly formed incoming data: " .. field .. " must be an object") end
      for name, content in pairs(a) do
        local bytes = content
        if field == "attachments_binary" then bytes = base64.decode(content) end
        if type(bytes) ~= "string" then
          return bad("Badly formed incoming data: " .. field .. "." .. tostring(name) .. " is invalid")
        end
        files[name] = bytes
        size = size + #bytes
      end
    end
  end
  local d = store(ctx)
  local now = ctx.state:now(ctx.now)
  local first
  local recs = {}
  for _, r in ipairs(to) do
    local id = format("sbx%08x", ctx.state:new_id("smtp", 1))
    local rec = {
      id = id, sender = email.from.email, recipient = r.email, subject = email.subject,
      size = size, send_date = reply.date(now), html = html, text = text, files = files,
      blacklisted = blacklist.contains(ctx.state, ctx.account, r.email),
    }
    d.list[#d.list + 1] = rec
    d.by_id[id] = rec
    recs[#recs + 1] = rec
    webhooks.smtp_sent(ctx, rec)   -- "delivered" to the account's webhooks
    first = first or id
  end
  -- the inbox (the pages under /_sandbox/ui/) bounds how many are kept
  inbox.smtp(ctx, email, recs, { html = html, text = text, files = files, template = template },
    function(rec) forget(d, rec) end)
  return 200, { result = true, id = first }
end

local function matches(r, q)
  if q.sender and r.sender ~= q.sender then return false end
  if q.recipient and r.recipient ~= q.recipient then return false end
  if q.from and r.send_date:sub(1, #q.from) < q.from then return false end
  if q.to and r.send_date:sub(1, #q.to) > q.to then return false end
  return true
end

local function history(ctx)
  local range, s, v = reply.page(ctx.query, nil, 100, 100)
  if not range then return s, v end
  local list = {}
  for _, r in ipairs(store(ctx).list) do
    if matches(r, ctx.query) then list[#list + 1] = r end
  end
  return 200, reply.slice(list, range, record_view)
end

local function total(ctx)
  return 200, { total = #store(ctx).list }
end

local function one(ctx)
  local r = store(ctx).by_id[ctx.params.id]
  if not r then return reply.error(400, "Can't find email address with a specified ID", 14) end
  return 200, record_view(r)
end

local function info(ctx)
  local body, status, value = reply.json_body(ctx.req)
  if not body then return status, value end
  local ids = body.emails
  if type(ids) ~= "table" or #ids == 0 then return reply.error(400, "Emails param empty or incorrect", 832) end
  if #ids > _M.MAX_INFO then return reply.error(400, "Too many emails: at most " .. _M.MAX_INFO, 550) end
  local d, out = store(ctx), json.array()
  for _, id in ipairs(ids) do
    local r = d.by_id[id]
    if r then out[#out + 1] = record_view(r) end
  end
  return 200, out
end

-- Control: what a message decoded to.
local function outbox(ctx)
  for _, per in pairs(ctx.state.data.smtp or {}) do
    local r = per.by_id and per.by_id[ctx.params.id]
    if r then
      local files = {}
      for name, bytes in pairs(r.files) do files[name] = { size = #bytes, hex = hex(bytes) } end
      return 200, { html = r.html, text = r.text, subject = r.subject, recipient = r.recipient,
                    attachments = files }
    end
  end
  return reply.error(404, "Not found", 404)
end

-- Control: every SMTP send of every account, in the order recorded (one
-- row per recipient), so a test can count sends exactly:
--   GET /_sandbox/smtp[?recipient=] -> [{id, account, recipient, sender, subject, send_date}]
--   GET /_sandbox/smtp?total=1       -> {total}: how many, without the rows
local function sent(ctx)
  if ctx.query.total then
    -- Just the number: cheap enough to poll (a test watching a drain must
    -- not hold up the requests it measures).
    local n = 0
    for _, per in pairs(ctx.state.data.smtp or {}) do n = n + #(per.list or {}) end
    return 200, { total = n }
  end
  local rows = json.array()
  for account, per in pairs(ctx.state.data.smtp or {}) do
    for _, r in ipairs(per.list or {}) do
      if not ctx.query.recipient or ctx.query.recipient == r.recipient then
        rows[#rows + 1] = { id = r.id, account = account, recipient = r.recipient, sender = r.sender,
                            subject = r.subject, send_date = r.send_date }
      end
    end
  end
  table.sort(rows, function(a, b) return a.id < b.id end)
  return 200, rows
end

function _M.register(router)
  router:add { method = "POST", path = "/smtp/emails", handler = send }
  router:add { method = "GET", path = "/smtp/emails", handler = history }
  router:add { method = "GET", path = "/smtp/emails/total", handler = total }
  router:add { method = "POST", path = "/smtp/emails/info", handler = info }
  router:add { method = "GET", path = "/smtp/emails/{id}", handler = one }
  router:add { method = "GET", path = "/_sandbox/smtp/{id}", handler = outbox, control = true }
  router:add { method = "GET", path = "/_sandbox/smtp", handler = sent, control = true }
end

return _M
