-- The objects the sandbox's webhooks carry, in the formats SendPulse
-- documents for each family (../../../../docs/webhooks.md, "The sandbox
-- sends webhooks"):
--   SMTP           integers: timestamp, message_id; recipient, sender, subject
--   email service  strings for every number: timestamp, task_id, book_id, link_id
-- and which registered action each event answers to.
local json = require "sendpulse.sandbox.json"

local pairs, tostring, tonumber, floor, format = pairs, tostring, tonumber, math.floor, string.format

local _M = {}

local DEVICE = { open_device = "desktop", open_platform = "Linux", browser_name = "Firefox",
                 browser_ver = "120.0" }

-- The registered action an event is sent for: the event's name, except
-- that an SMTP click is the email service's "redirect".
function _M.action(family, name)
  if family == "smtp" and name == "click" then return "redirect" end
  return name
end

-- The integer message_id of an SMTP message: the sandbox's ids are
-- "sbx" and 8 hex digits, and the webhook carries that number.
function _M.message_number(id)
  return tonumber(tostring(id):match("^sbx(%x+)$") or "", 16)
end

-- An SMTP event for a message record of routes/smtp.lua. extra: { url = } for a click.
function _M.smtp(rec, name, now, extra)
  local e = { event = name, timestamp = floor(now), message_id = _M.message_number(rec.id),
              recipient = rec.recipient, sender = rec.sender, subject = rec.subject }
  if name == "delivered" then
    e.smtp_server_response_code, e.smtp_server_response_subcode = "250", "2.0.0"
    e.smtp_server_response = "250 2.0.0 OK (sandbox)"
  elseif name == "undelivered" then
    e.smtp_server_response_code, e.smtp_server_response_subcode = "550", "5.7.1"
    e.smtp_server_response = "550 5.7.1 Recipient is blacklisted (sandbox)"
  elseif name == "click" then
    e.url = extra and extra.url or "https://example.com/"
  end
  return e
end

-- An email-service event for a campaign of routes/campaigns.lua and one of
-- its addresses. extra: { link_url = } for a redirect.
function _M.email(campaign, address, name, now, extra)
  local e = { event = name, timestamp = format("%d", floor(now)), task_id = tostring(campaign.id),
              email = address }
  if name == "open" or name == "redirect" then
    for k, v in pairs(DEVICE) do e[k] = v end
  end
  if name == "redirect" then
    local url = extra and extra.link_url or "https://example.com/"
    e.link_url = url
    -- a stable id per link, as a string like every number here
    local id = 0
    for i = 1, #url do id = (id * 31 + url:byte(i)) % 1000000 end
    e.link_id = tostring(id + 1)
  elseif name == "unsubscribe" then
    e.from_all, e.reason, e.categories = "0", json.null, ""
    e.book_id = tostring(campaign.list_id)
  end
  return e
end

return _M
