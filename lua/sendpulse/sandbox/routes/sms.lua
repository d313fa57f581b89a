-- SMS: phone numbers in mailing lists, campaigns to a list or to numbers.
-- Sender names are at most 11 characters, as SendPulse requires.
local reply = require "sendpulse.sandbox.reply"
local json = require "sendpulse.sandbox.json"
local inbox = require "sendpulse.sandbox.inbox"

local type, ipairs, tostring, next = type, ipairs, tostring, next

local _M = {}

_M.MAX_SENDER = 11
_M.FIRST_CAMPAIGN = 9001

local function store(ctx)
  local d = ctx.state:data_of("sms", ctx.account)
  d.campaigns = d.campaigns or {}
  return d
end

local function phones_of(book)
  book.phones = book.phones or { list = {}, index = {} }
  return book.phones
end

local function phone_ok(p)
  -- a JSON number: only a whole one within 2^53 can be a phone number
  if type(p) == "number" then p = reply.integer(p) and string.format("%d", p) end
  return type(p) == "string" and p:find("^%+?%d%d%d%d%d+$") ~= nil and p:gsub("^%+", "") or nil
end

local function book_of(ctx, body)
  local id = reply.integer(body.addressBookId)
  if body.addressBookId == nil then return nil, reply.error(422, "Argument addressBookId missing", 422) end
  local book = id and ctx.state:book(ctx.account, id)
  if not book then return nil, reply.error(404, "Book not found", 213) end
  return book
end

local function add_numbers(ctx)
  local body, status, value = reply.json_body(ctx.req)
  if not body then return status, value end
  local book, s, v = book_of(ctx, body)
  if not book then return s, v end
  if type(body.phones) ~= "table" or #body.phones == 0 then return reply.error(422, "Argument phones missing", 422) end
  local p = phones_of(book)
  local added, exists, bad = 0, 0, 0
  for _, raw in ipairs(body.phones) do
    local phone = phone_ok(raw)
    if not phone then bad = bad + 1
    elseif p.index[phone] then exists = exists + 1
    else
      p.index[phone] = { phone = phone, variables = {} }
      p.list[#p.list + 1] = p.index[phone]
      added = added + 1
    end
  end
  return 200, { result = true, counters = { added = added, exceptions = bad, exists = exists } }
end

local function remove_numbers(ctx)
  local body, status, value = reply.json_body(ctx.req)
  if not body then return status, value end
  local book, s, v = book_of(ctx, body)
  if not book then return s, v end
  if type(body.phones) ~= "table" then return reply.error(422, "Argument phones missing", 422) end
  local p, removed = phones_of(book), 0
  for _, raw in ipairs(body.phones) do
    local phone = phone_ok(raw)
    if phone and p.index[phone] then p.index[phone] = nil; removed = removed + 1 end
  end
  local kept = {}
  for _, e in ipairs(p.list) do if p.index[e.phone] then kept[#kept + 1] = e end end
  p.list = kept
  return 200, { result = true, counters = { removed = removed } }
end

local function number_info(ctx)
  local id = reply.integer(ctx.params.addressBookId)
  local book = id and ctx.state:book(ctx.account, id)
  if not book then return reply.error(404, "Book not found", 213) end
  local e = phones_of(book).index[ctx.params.phoneNumber:gsub("^%+", "")]
  if not e then return reply.error(404, "Phone not found", 404) end
  return 200, { result = true, data = { phone = e.phone, status = 0, in_blacklist = false,
                                        variables = next(e.variables) and e.variables or json.array() } }
end

local function check_message(body)
  if type(body.sender) ~= "string" or body.sender == "" then
    return reply.error(422, "Argument sender missing", 422)
  end
  if #body.sender > _M.MAX_SENDER then
    return reply.error(422, "Sender name must be at most " .. _M.MAX_SENDER .. " characters", 422)
  end
  if type(body.body) ~= "string" or body.body == "" then
    return reply.error(422, "Argument body missing", 422)
  end
  return nil
end

local function new_campaign(ctx, body, phones, book_id)
  local d = store(ctx)
  local now = ctx.state:now(ctx.now)
  local c = { id = ctx.state:new_id("sms_campaign", _M.FIRST_CAMPAIGN), sender = body.sender,
              body = body.body, phones = phones, book_id = book_id, created = reply.date(now),
              send_date = type(body.date) == "string" and body.date or reply.date(now) }
  d.campaigns[#d.campaigns + 1] = c
  inbox.sms(ctx, c)
  return c
end

local function create_campaign(ctx)
  local body, status, value = reply.json_body(ctx.req)
  if not body then return status, value end
  local book, s, v = book_of(ctx, body)
  if not book then return s, v end
  local ms, mv = check_message(body)
  if ms then return ms, mv end
  local phones = {}
  for i, e in ipairs(phones_of(book).list) do phones[i] = e.phone end
  if #phones == 0 then return reply.error(400, "Mailing list is empty", 211) end
  local c = new_campaign(ctx, body, phones, book.id)
  return 200, { result = true, campaign_id = c.id }
end

local function send_to_numbers(ctx)
  local body, status, value = reply.json_body(ctx.req)
  if not body then return status, value end
  local ms, mv = check_message(body)
  if ms then return ms, mv end
  if type(body.phones) ~= "table" or #body.phones == 0 then return reply.error(422, "Argument phones missing", 422) end
  local phones = {}
  for _, raw in ipairs(body.phones) do
    local p = phone_ok(raw)
    if not p then return reply.error(422, "Argument phones is invalid: " .. tostring(raw), 422) end
    phones[#phones + 1] = p
  end
  local c = new_campaign(ctx, body, phones, nil)
  return 200, { result = true, campaign_id = c.id, counters = { sent = #phones } }
end

local function campaign_view(c)
  return { id = c.id, address_book_id = c.book_id or 0, company_price = 0, company_currency = "USD",
           send_date = c.send_date, date_created = c.created, sender_name = c.sender,
           external_stat = { sent = #c.phones } }
end

local function list_campaigns(ctx)
  local out = json.array()
  for i, c in ipairs(store(ctx).campaigns) do out[i] = campaign_view(c) end
  return 200, { result = true, data = out }
end

local function find(ctx, id)
  id = reply.integer(id)
  for i, c in ipairs(store(ctx).campaigns) do if c.id == id then return c, i end end
  return nil
end

local function campaign_info(ctx)
  local c = find(ctx, ctx.params.id)
  if not c then return reply.error(404, "Campaign not found", 802) end
  local v = campaign_view(c)
  v.task_phones_info = json.array()
  for i, p in ipairs(c.phones) do
    v.task_phones_info[i] = { phone = p, status = 1, status_explain = "Delivered", country_code = "UA",
                              money_spent = 0 }
  end
  return 200, { result = true, data = v }
end

local function delete_campaign(ctx)
  local body, status, value = reply.json_body(ctx.req)
  if not body then return status, value end
  local c, i = find(ctx, body.id)
  if not c then return reply.error(404, "Campaign not found", 802) end
  table.remove(store(ctx).campaigns, i)
  return 200, { result = true }
end

function _M.register(router)
  router:add { method = "POST", path = "/sms/numbers", handler = add_numbers }
  router:add { method = "DELETE", path = "/sms/numbers", handler = remove_numbers }
  router:add { method = "GET", path = "/sms/numbers/info/{addressBookId}/{phoneNumber}", handler = number_info }
  router:add { method = "POST", path = "/sms/campaigns", handler = create_campaign }
  router:add { method = "DELETE", path = "/sms/campaigns", handler = delete_campaign }
  router:add { method = "POST", path = "/sms/send", handler = send_to_numbers }
  router:add { method = "GET", path = "/sms/campaigns/list", handler = list_campaigns }
  router:add { method = "GET", path = "/sms/campaigns/info/{id}", handler = campaign_info }
end

return _M
