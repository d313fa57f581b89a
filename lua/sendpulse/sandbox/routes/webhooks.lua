-- The email service's webhook registrations (/v2/email-service/webhook),
-- kept per account, and the control calls that drive the sandbox's
-- webhook deliveries (webhooks/):
--
--   GET/POST /v2/email-service/webhook, GET/PUT/DELETE /v2/email-service/webhook/{id}
--   POST /_sandbox/webhooks/events   an open, click, unsubscribe, ... of a sent message
--   POST /_sandbox/webhooks/flush    send every queued batch now
--   POST /_sandbox/webhooks/config   flush_interval, flush_count, retry_delay, max_attempts, timeout
--   GET  /_sandbox/webhooks          settings, queued events, every delivery attempt
--
-- Rows are {id, user_id, url, action}; one row per action of a POST, as
-- SendPulse answers it. Answers are v2 envelopes {success, data}.
local reply = require "sendpulse.sandbox.reply"
local json = require "sendpulse.sandbox.json"
local webhooks = require "sendpulse.sandbox.webhooks"
local outbox = require "sendpulse.sandbox.webhooks.outbox"
local events = require "sendpulse.sandbox.webhooks.events"

local type, ipairs, pairs, tostring = type, ipairs, pairs, tostring
local remove = table.remove

local _M = {}

_M.FIRST_ID = 162001
_M.FIRST_USER = 7000001
_M.MAX_URL = 2048

local function row_view(r)
  return { id = r.id, user_id = r.user_id, url = r.url, action = r.action }
end

local function check_url(url)
  if type(url) ~= "string" or #url > _M.MAX_URL or not url:find("^[hH][tT][tT][pP][sS]?://[^%s/]+")
     or url:find("%s") then
    reply.fail(400, "url must be an http:// or https:// URL", 400)
  end
  return url
end

local function registry(ctx)
  local reg = webhooks.registry(ctx.state, ctx.account)
  reg.user_id = reg.user_id or ctx.state:new_id("webhook_user", _M.FIRST_USER)
  return reg
end

local function find(ctx)
  local id = reply.integer(ctx.params.id)
  for i, r in ipairs(registry(ctx).rows) do
    if r.id == id then return r, i end
  end
  reply.fail(404, "Webhook not found", 404)
end

local function list(ctx)
  local out = json.array()
  for i, r in ipairs(registry(ctx).rows) do out[i] = row_view(r) end
  return 200, { success = true, data = out }
end

local function create(ctx)
  local body = reply.json_body(ctx.req)
  local url = check_url(body.url)
  local actions = body.actions
  if type(actions) ~= "table" or #actions == 0 or not json.is_array(actions) then
    reply.fail(400, "actions must be a non-empty array of action names", 400)
  end
  for _, a in ipairs(actions) do
    if type(a) ~= "string" or a == "" then reply.fail(400, "actions must hold action names (strings)", 400) end
  end
  local reg, made = registry(ctx), json.array()
  for _, a in ipairs(actions) do
    local r = { id = ctx.state:new_id("webhook", _M.FIRST_ID), user_id = reg.user_id, url = url, action = a }
    reg.rows[#reg.rows + 1] = r
    made[#made + 1] = row_view(r)
  end
  return 200, { success = true, data = made }
end

local function one(ctx)
  return 200, { success = true, data = row_view(find(ctx)) }
end

local function update(ctx)
  local r = find(ctx)
  r.url = check_url(reply.json_body(ctx.req).url)
  return 200, { success = true, data = json.array { true } }
end

local function delete(ctx)
  local _, i = find(ctx)
  remove(registry(ctx).rows, i)
  return 200, { success = true, data = json.array { true } }
end

---------------------------------------------------------------------------
-- Control

-- The message (SMTP) or campaign (email service) an event is about, with
-- its owning account: { account, rec } or { account, campaign }.
local function smtp_message(state, id)
  for account, d in pairs(state.data.smtp or {}) do
    local rec = d.by_id and d.by_id[id]
    if rec then return account, rec end
  end
  return nil
end

local function campaign(state, id)
  for account, d in pairs(state.data.campaigns or {}) do
    for _, c in ipairs(d.list or {}) do
      if c.id == id then return account, c end
    end
  end
  return nil
end

local function event_name(body)
  local name = body.event
  if type(name) ~= "string" or not name:find("^[%w_]+$") then
    reply.fail(400, "event must be an event name such as open, click, redirect, unsubscribe", 400)
  end
  return name
end

-- {"message_id": "sbx00000001", "event": "open" | "click" | ..., "url": link}
-- {"task_id": 5001, "email": "ann@example.com", "event": "open" | "redirect" | ..., "link_url": link}
local function emit(ctx)
  local body = reply.json_body(ctx.req)
  local name = event_name(body)
  local now = ctx.state:now(ctx.now)
  local account, event, family
  if body.message_id ~= nil then
    local rec
    account, rec = smtp_message(ctx.state, tostring(body.message_id))
    if not account then reply.fail(404, "no SMTP message " .. tostring(body.message_id), 404) end
    family, event = "smtp", events.smtp(rec, name, now, { url = body.url })
  elseif body.task_id ~= nil then
    local c
    account, c = campaign(ctx.state, reply.integer(body.task_id))
    if not account then reply.fail(404, "no campaign " .. tostring(body.task_id), 404) end
    if type(body.email) ~= "string" then reply.fail(400, "email (the recipient) is required", 400) end
    family, event = "email", events.email(c, body.email, name, now, { link_url = body.link_url })
  else
    reply.fail(400, "give message_id (an SMTP message) or task_id and email (a campaign)", 400)
  end
  local queued = webhooks.emit({ state = ctx.state, server = ctx.server, now = ctx.now }, account, family, event)
  return 200, { result = true, queued = queued, event = event }
end

local function flush(ctx)
  local box = outbox.of(ctx.server)
  return 200, { result = true, batches = box:flush_due(ctx.server.loop, ctx.now, true) }
end

local function configure(ctx)
  local ok, err = outbox.of(ctx.server):configure(reply.json_body(ctx.req))
  if not ok then reply.fail(400, err, 400) end
  return 200, { result = true }
end

local function show(ctx)
  return 200, outbox.of(ctx.server):summary()
end

function _M.register(router)
  local base = "/v2/email-service/webhook"
  router:add { method = "GET", path = base, handler = list }
  router:add { method = "POST", path = base, handler = create }
  router:add { method = "GET", path = base .. "/{id}", handler = one }
  router:add { method = "PUT", path = base .. "/{id}", handler = update }
  router:add { method = "DELETE", path = base .. "/{id}", handler = delete }
  router:add { method = "POST", path = "/_sandbox/webhooks/events", handler = emit, control = true }
  router:add { method = "POST", path = "/_sandbox/webhooks/flush", handler = flush, control = true }
  router:add { method = "POST", path = "/_sandbox/webhooks/config", handler = configure, control = true }
  router:add { method = "GET", path = "/_sandbox/webhooks", handler = show, control = true }
end

return _M
