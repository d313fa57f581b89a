-- The sandbox sends webhooks: what the sandbox simulates (SMTP sends,
-- campaign sends, and opens, clicks and unsubscribes a test asks for) goes
-- to the webhooks an account registered through the email service's API
-- (routes/webhooks.lua), through the outbox (batched, retried).
--
-- The route files that simulate sending call one function each:
--   smtp_sent(ctx, rec)              routes/smtp.lua, per recipient
--   campaign_sent(ctx, campaign, book)  routes/campaigns.lua, when sent now
--
-- SendPulse configures SMTP webhooks in the account settings only (no
-- API); the sandbox sends SMTP events to the same registrations as the
-- email service's, in the SMTP format. A registration receives the events
-- whose name is its action ("delivered", "open", "unsubscribe", ...; an
-- SMTP "click" counts as "redirect").
local outbox = require "sendpulse.sandbox.webhooks.outbox"
local events = require "sendpulse.sandbox.webhooks.events"

local ipairs, type = ipairs, type

local _M = {}

-- An account's registrations: { rows = { {id, user_id, url, action}, ... } }.
function _M.registry(state, account)
  local d = state:data_of("webhooks", account)
  d.rows = d.rows or {}
  return d
end

-- Queues `event` (of `family`) for every URL of `account` registered for
-- its action. Returns how many URLs it was queued for.
function _M.emit(ctx, account, family, event)
  local rows = _M.registry(ctx.state, account).rows
  if #rows == 0 then return 0 end
  local action = events.action(family, event.event)
  local box, urls, n = outbox.of(ctx.server), {}, 0
  for _, r in ipairs(rows) do
    if r.action == action and not urls[r.url] then
      urls[r.url] = true
      box:add(ctx.server.loop, r.url, family, event, ctx.now)
      n = n + 1
    end
  end
  return n
end

function _M.smtp_sent(ctx, rec)
  local name = rec.blacklisted and "undelivered" or "delivered"
  _M.emit(ctx, ctx.account, "smtp", events.smtp(rec, name, ctx.state:now(ctx.now)))
end

function _M.campaign_sent(ctx, campaign, book)
  local now = ctx.state:now(ctx.now)
  for _, entry in ipairs(type(book) == "table" and book.emails or {}) do
    -- Every address of the list but those who unsubscribed (status 4).
    if type(entry) == "table" and type(entry.email) == "string" and entry.status ~= 4 then
      _M.emit(ctx, ctx.account, "email", events.email(campaign, entry.email, "delivered", now))
    end
  end
end

return _M
