-- The webhooks page: every delivery the sandbox made (webhooks/outbox.lua),
-- newest first, with its payload, target, attempts and answers, and a
-- button to send a batch again; the registrations of each account.
local html = require "sendpulse.sandbox.ui.html"
local outbox = require "sendpulse.sandbox.webhooks.outbox"
local json = require "sendpulse.sandbox.json"

local ipairs, pairs, tonumber, sort = ipairs, pairs, tonumber, table.sort
local format, concat = string.format, table.concat
local esc, BASE = html.esc, html.BASE

local _M = {}

_M.PER_PAGE = 20

-- A receiver's URL as shown: scheme, host and port; the path and query
-- hidden (a receiver's secret lives there, as the log also keeps it out).
local function shown_url(url)
  local origin = url:match("^(%a+://[^/?#]+)") or "?"
  return origin .. (url:find("^%a+://[^/?#]+[/?#].") and "/…" or "")
end

-- GET /_sandbox/ui/webhooks[?page=]
function _M.page(ctx)
  local box = outbox.of(ctx.server)
  local token = ctx.server.ui_token
  -- attempts per batch, in order
  local attempts = {}
  for _, d in ipairs(box.deliveries) do
    local list = attempts[d.batch]
    if not list then list = {}; attempts[d.batch] = list end
    list[#list + 1] = d
  end
  local ids = {}
  for id in pairs(box.batches) do ids[#ids + 1] = id end
  sort(ids, function(a, b) return a > b end)
  local page = html.page_number(ctx.query)
  local parts = {}
  for i = (page - 1) * _M.PER_PAGE + 1, math.min(#ids, page * _M.PER_PAGE) do
    local b = box.batches[ids[i]]
    local rows = {}
    for j, d in ipairs(attempts[b.id] or {}) do
      rows[j] = { esc(d.attempt), esc(html.time(d.t)), esc(d.status ~= 0 and d.status or "none"),
                  esc(d.error or ""), esc(d.outcome) }
    end
    local pretty = b.payload
    local decoded = b.size == #b.payload and json.decode(b.payload)
    if decoded then pretty = json.encode(decoded) end
    parts[#parts + 1] = concat {
      format('<article class="delivery" id="batch-%d"><h2>Batch %d</h2>', b.id, b.id),
      html.dl {
        { "Target", '<code>' .. esc(shown_url(b.url)) .. '</code> (the path is hidden: it may hold a secret)' },
        { "Family", esc(b.family) }, { "Events", esc(b.events) }, { "First sent (UTC)", esc(html.time(b.t)) },
        { "Resent from", b.resent_from and format('<a href="#batch-%d">batch %d</a>', b.resent_from, b.resent_from)
          or "no" },
      },
      html.table(format("Attempts of batch %d", b.id), { "Attempt", "Time (UTC)", "Answer", "Error", "Outcome" },
        rows, { empty = "Not sent yet." }),
      format('<details><summary>Payload of batch %d (%s)</summary><pre class="source">%s</pre></details>', b.id,
        esc(html.bytes(b.size)), esc(pretty)),
      html.form(format("%s/webhooks/%d/resend", BASE, b.id), token, "", format("Send batch %d again", b.id)),
      '</article>',
    }
  end
  if #parts == 0 then
    parts[1] = '<p class="empty">No delivery yet. Register a webhook (POST /v2/email-service/webhook) '
      .. 'and send a message: the sandbox posts the events to it.</p>'
  end
  local regs = {}
  for account, d in pairs(ctx.state.data.webhooks or {}) do
    for _, r in ipairs(d.rows or {}) do
      regs[#regs + 1] = { esc(r.id), esc(account), esc(r.action), '<code>' .. esc(shown_url(r.url)) .. '</code>' }
    end
  end
  sort(regs, function(a, b) return a[1] < b[1] end)
  local cfg = box.config
  return html.page("Webhooks", "webhooks", {
    html.dl { { "Settings", esc(format("flush after %gs or %d events; %d attempts, retry after %gs doubling",
      cfg.flush_interval, cfg.flush_count, cfg.max_attempts, cfg.retry_delay)) },
      { "In flight", esc(box.in_flight) } },
    html.table("Registrations", { "Id", "Account", "Action", "Target" }, regs, { empty = "No webhook registered." }),
    concat(parts),
    html.pager(page, #ids, _M.PER_PAGE, function(n) return BASE .. "/webhooks" .. html.query { { "page", n } } end),
  })
end

-- POST /_sandbox/ui/webhooks/{id}/resend
function _M.resend(ctx)
  local id, err = outbox.of(ctx.server):resend(ctx.server.loop, tonumber(ctx.params.id) or -1)
  if not id then return html.page("Not sent", "webhooks", '<p>' .. esc(err) .. '</p>', { status = 404 }) end
  return html.redirect(format("%s/webhooks#batch-%d", BASE, id))
end

return _M
