-- One body per documented webhook event of each family, as SendPulse sends
-- it (a JSON array; numbers as strings in the email service, integers in
-- SMTP), and the event each must parse into. The keys per event follow
-- SendPulse's public documentation of webhooks. Only
-- "delivered", "open" and "unsubscribe" are published as email-service
-- action names; the others below are the documentation's event names
-- written as identifiers: stand-ins, parsed as data like any unknown name.
local _M = {}

local EMAIL_BASE = [["timestamp":"1496827422","task_id":"5001","email":"ann@example.com"]]
local DEVICE = [["open_device":"desktop","open_platform":"Linux","browser_name":"Firefox","browser_ver":"120.0"]]

local function email(name, extra, expect)
  local body = "[{" .. EMAIL_BASE .. [[,"event":"]] .. name .. [["]] .. (extra and ("," .. extra) or "") .. "}]"
  local e = { source = "email", type = name, time = 1496827422, email = "ann@example.com", task_id = 5001 }
  for k, v in pairs(expect or {}) do e[k] = v end
  return { family = "email", name = name, body = body, expect = e }
end

local SMTP_BASE = [["timestamp":1700000100,"message_id":987654,"recipient":"bob@example.com",]]
  .. [["sender":"shop@example.com","subject":"Your order"]]

local function smtp(name, extra, expect)
  local body = "[{" .. SMTP_BASE .. [[,"event":"]] .. name .. [["]] .. (extra and ("," .. extra) or "") .. "}]"
  local e = { source = "smtp", type = name, time = 1700000100, email = "bob@example.com", message_id = 987654 }
  for k, v in pairs(expect or {}) do e[k] = v end
  return { family = "smtp", name = name, body = body, expect = e }
end

local BOT = [["bot":{"id":"64f1c0ffee","url":"https://t.me/shop_bot","external_id":6000000001,"name":"Shop"}]]
local CONTACT = [["contact":{"id":"650a1b2c3d","name":"Ann","variables":{"city":"Kyiv"},"tags":["vip"]}]]

local function chatbot(service, title, info)
  local body = "[{" .. ([["service":"%s","title":"%s",%s,%s,"date":1700000200,"info":%s]]):format(
    service, title, BOT, CONTACT, info or "{}") .. "}]"
  return { family = "chatbot", name = service .. " " .. title, body = body,
           expect = { source = "chatbot", type = title, time = 1700000200, service = service } }
end

_M.list = {
  -- Email service (bulk campaigns)
  email("delivered"),
  email("spam"),
  email("open", DEVICE),
  email("redirect", [["link_url":"https://example.com/sale","link_id":"77",]] .. DEVICE,
        { link_id = 77, link_url = "https://example.com/sale" }),
  email("unsubscribe", [["from_all":"1","reason":null,"book_id":"1001","categories":""]], { book_id = 1001 }),
  email("new_emails", [["book_id":"1001"]], { book_id = 1001 }),
  email("delete", [["book_id":"1001"]], { book_id = 1001 }),
  email("campaign_status", [["status":"3"]]),
  email("soft_bounce", [["reason":"mailbox full"]]),
  email("hard_bounce", [["reason":"no such user"]]),

  -- SMTP (transactional)
  smtp("delivered", [["smtp_server_response_code":"250","smtp_server_response_subcode":"2.0.0",]]
    .. [["smtp_server_response":"OK queued"]]),
  smtp("undelivered", [["smtp_server_response_code":"550","smtp_server_response":"no such user"]]),
  smtp("soft_bounce"),
  smtp("hard_bounce"),
  smtp("open"),
  smtp("click", [["url":"https://example.com/track"]], { link_url = "https://example.com/track" }),
  smtp("spam"),
  smtp("unsubscribe"),
  smtp("resubscribe"),
}

for _, service in ipairs { "messenger", "telegram", "viber", "instagram", "livechat" } do
  for _, title in ipairs { "new_subscriber", "incoming_message", "outgoing_message", "open_chat",
                           "run_custom_flow", "link_click", "unsubscribe", "bot_block" } do
    _M.list[#_M.list + 1] = chatbot(service, title, title == "incoming_message"
      and [[{"message":{"type":"text","text":"Hello"}}]] or nil)
  end
end
-- A flow's "send webhook" action carries the title the flow gave it.
_M.list[#_M.list + 1] = chatbot("telegram", "Order placed (custom)", [[{"flow":"checkout"}]])

return _M
