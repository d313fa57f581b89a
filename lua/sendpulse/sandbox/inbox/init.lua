-- What each simulated send puts in the inbox (store.lua): the route files
-- that send call one function each, with the request's ctx:
--   smtp(ctx, email, recs, parts)     routes/smtp.lua, one message per recipient
--   campaign(ctx, campaign, book)     routes/campaigns.lua, one per address
--   sms(ctx, campaign)                routes/sms.lua, one per phone number
--   push(ctx, task, site)             routes/push.lua, one per task
--   chatbot(ctx, service, operation)  routes/examples.lua, the chatbots' send
--                                     operations (answered from examples)
-- Each notes the messages on ctx.touched, so the request log links them.
local gettime = require("socket").gettime

local type, pairs, ipairs, tostring, sort = type, pairs, ipairs, tostring, table.sort

local _M = {}

-- The server's inbox (sandbox.new makes it).
local function inbox_of(ctx) return ctx.server.inbox end

local function source_of(ctx)
  local req = ctx.req
  local max = require("sendpulse.sandbox.inbox.store").MAX_SOURCE
  local body = req.body or ""
  return { source = #body > max and body:sub(1, max) or body, source_size = #body,
           method = req.method, path = req.path }
end

local function touch(ctx, id)
  ctx.touched = ctx.touched or {}
  ctx.touched[#ctx.touched + 1] = id
end

local function add(ctx, m)
  m.t = m.t or gettime()
  m.account = ctx.account
  local id = inbox_of(ctx):add(m)
  touch(ctx, id)
  return id
end

-- Attachments as a list sorted by name: { {name, bytes}, ... }.
local function file_list(files)
  local list = {}
  for name, bytes in pairs(files or {}) do list[#list + 1] = { name = tostring(name), bytes = bytes } end
  sort(list, function(a, b) return a.name < b.name end)
  return list
end

-- email: the request's `email` object; recs: routes/smtp.lua's records, one
-- per recipient; parts: { html, text, files, template = {id, name, variables} };
-- forget(rec): drops the service's record when the inbox drops the message.
function _M.smtp(ctx, email, recs, parts, forget)
  local body = source_of(ctx)
  body.html, body.text, body.files, body.template = parts.html, parts.text, file_list(parts.files), parts.template
  local from = email.from
  local sender = type(from) == "table" and (type(from.name) == "string" and from.name ~= ""
    and (from.name .. " <" .. tostring(from.email) .. ">") or tostring(from.email)) or ""
  for _, rec in ipairs(recs) do
    add(ctx, { kind = "smtp", from = sender, to = rec.recipient, subject = rec.subject,
               status = rec.blacklisted and "undelivered (blacklisted)" or "delivered",
               ref = { kind = "smtp", id = rec.id }, body = body,
               forget = forget and function() forget(rec) end })
  end
end

-- A campaign sent now or scheduled: one message per address of the list
-- (unsubscribed ones are not sent to).
function _M.campaign(ctx, c, book, template)
  local body = source_of(ctx)
  body.html, body.files, body.template = c.body, file_list(c.attachments), template
  local sender = (c.sender_name or "") .. " <" .. tostring(c.sender_email) .. ">"
  local status = c.status == 13 and ("scheduled for " .. tostring(c.send_date)) or "sent"
  for _, entry in ipairs(book.emails) do
    if entry.status ~= 4 then
      add(ctx, { kind = "campaign", from = sender, to = entry.email, subject = c.subject, status = status,
                 ref = { kind = "campaign", id = c.id }, body = body })
    end
  end
end

function _M.sms(ctx, c)
  local body = source_of(ctx)
  body.text = c.body
  for _, phone in ipairs(c.phones) do
    add(ctx, { kind = "sms", from = c.sender, to = phone, subject = nil, status = "sent",
               ref = { kind = "sms", id = c.id }, body = body })
  end
end

function _M.push(ctx, t, site)
  local body = source_of(ctx)
  body.text, body.link = t.body, t.link
  add(ctx, { kind = "push", from = site and site.url or "", to = "subscribers of " .. (site and site.url or "?"),
             subject = t.title, status = "sent", ref = { kind = "push", id = t.id }, body = body })
end

-- The text of a chatbot message in the shapes the chatbots' send
-- operations take (message.text, text, ...), else nil.
local function chatbot_text(b)
  if type(b) ~= "table" then return nil end
  local m = b.message
  if type(m) == "table" then
    if type(m.text) == "string" then return m.text end
    if type(m.text) == "table" and type(m.text.body) == "string" then return m.text.body end
  end
  if type(b.text) == "string" then return b.text end
  return nil
end

local function field(b, names)
  if type(b) ~= "table" then return nil end
  for _, n in ipairs(names) do
    local v = b[n]
    if type(v) == "string" or type(v) == "number" then return tostring(v) end
  end
  return nil
end

-- A chatbot's send operation (answered from the example): one message,
-- to the contact, phone or list the body names.
function _M.chatbot(ctx, service, operation)
  local reply = require "sendpulse.sandbox.reply"
  local b = reply.try_json(ctx.req)
  local body = source_of(ctx)
  body.text = chatbot_text(b)
  local to = field(b, { "contact_id", "phone", "phone_number", "list_id", "bot_id" }) or "?"
  add(ctx, { kind = "chatbot", from = service .. " bot " .. (field(b, { "bot_id" }) or ""), to = to,
             subject = operation, status = "sent (example answer)",
             ref = { kind = "chatbot", id = service }, body = body })
end

-- Whether an operation of routes/examples.lua sends a chatbot message.
local CHATBOTS = { instagram = true, live_chat = true, messenger = true, telegram = true, tiktok = true,
                   viber_bots = true, whatsapp = true }
function _M.is_chatbot_send(service, path)
  return CHATBOTS[service] and (path:find("/contacts/send", 1, true) or path:find("/campaigns/send", 1, true))
    and not path:find("Typing", 1, true) and true or false
end

return _M
