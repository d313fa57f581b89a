-- The requests page: the request log (stats.lua), newest first: method,
-- path, status, duration, who, whether the answer was canned and from
-- which example, which fault applied, and a link to what it touched.
local html = require "sendpulse.sandbox.ui.html"

local ipairs, format, concat = ipairs, string.format, table.concat
local esc, BASE = html.esc, html.BASE

local _M = {}

_M.PER_PAGE = 100

-- Links to what a request touched: the messages it sent, else the list,
-- campaign or contact its path names.
local function links(e)
  local out = {}
  for _, id in ipairs(e.touched or {}) do
    if #out >= 5 then out[#out + 1] = "…" break end
    out[#out + 1] = format('<a href="%s/messages/%d">message %d</a>', BASE, id, id)
  end
  if #out > 0 then return concat(out, " ") end
  local path = e.path or ""
  local list = path:match("^/addressbooks/(%d+)")
  if list then return format('<a href="%s/lists/%s">list %s</a>', BASE, list, list) end
  local campaign = path:match("^/campaigns/(%d+)")
  if campaign then return format('<a href="%s/messages?campaign=%s">campaign %s</a>', BASE, campaign, campaign) end
  local email = path:match("^/emails/([^/]+)")
  if email then return format('<a href="%s/messages%s">contact</a>', BASE, esc(html.query { { "q", email } })) end
  return ""
end

-- GET /_sandbox/ui/requests[?page=]
function _M.page(ctx)
  local stats = ctx.server.stats
  local page = html.page_number(ctx.query)
  local rows = {}
  local total = stats:count()
  for n = (page - 1) * _M.PER_PAGE + 1, math.min(total, page * _M.PER_PAGE) do
    local e = stats:newest(n)
    local path = e.path .. (e.query and e.query ~= "" and ("?" .. e.query) or "")
    rows[#rows + 1] = {
      esc(e.id), esc(html.time(e.t)), esc(e.method), '<code>' .. esc(path) .. '</code>',
      esc(e.status == 0 and "dropped" or e.status),
      esc(e.duration and format("%.1f ms", e.duration * 1000) or ""),
      esc(e.account or "-"), esc(e.auth),
      e.example and ("canned: " .. esc(e.example)) or "no", esc(e.fault or ""), links(e),
    }
  end
  return html.page("Requests", "requests", {
    format('<p class="note">The log keeps the newest %d requests (path and query cut to %d bytes); %d dropped. '
      .. 'Calls of the sandbox\'s own pages and control API are not in it.</p>',
      stats.max_rows, stats.max_text, stats.dropped),
    html.table("Requests, newest first", { "#", "Time (UTC)", "Method", "Path", "Status", "Duration", "Account",
      "Auth", "Canned", "Fault", "Touched" }, rows, { empty = "No request yet." }),
    html.pager(page, total, _M.PER_PAGE, function(n) return BASE .. "/requests" .. html.query { { "page", n } } end),
  })
end

return _M
