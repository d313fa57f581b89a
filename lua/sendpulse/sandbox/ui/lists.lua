-- The pages of what the API keeps: mailing lists and their contacts
-- (variables, status, phone, unsubscribes, the blacklist) and campaigns
-- (status, recipients, and the 711 / 791 clock).
local html = require "sendpulse.sandbox.ui.html"
local json = require "sendpulse.sandbox.json"
local blacklist = require "sendpulse.sandbox.routes.blacklist"
local campaigns = require "sendpulse.sandbox.routes.campaigns"
local books = require "sendpulse.sandbox.routes.addressbooks"

local ipairs, pairs, tonumber, tostring, type = ipairs, pairs, tonumber, tostring, type
local format, concat, sort = string.format, table.concat, table.sort
local esc, BASE = html.esc, html.BASE

local _M = {}

_M.PER_PAGE = 50

local function accounts(state)
  local list = {}
  for id in pairs(state.accounts) do list[#list + 1] = id end
  sort(list)
  return list
end

-- GET /_sandbox/ui/lists
function _M.lists(ctx)
  local state = ctx.state
  local rows = {}
  for _, account in ipairs(accounts(state)) do
    for _, b in ipairs(state:books_of(account)) do
      local unsub, bl = 0, 0
      for _, e in ipairs(b.emails) do
        if e.status == 4 then unsub = unsub + 1 end
        if blacklist.contains(state, account, e.email) then bl = bl + 1 end
      end
      rows[#rows + 1] = { esc(b.id), format('<a href="%s/lists/%d">%s</a>', BASE, b.id, esc(b.name)), esc(account),
                          esc(#b.emails), esc(unsub), esc(bl), esc(b.creationdate) }
    end
  end
  local bl_rows = {}
  for _, account in ipairs(accounts(state)) do
    local d = state.data.blacklist and state.data.blacklist[account]
    for _, e in ipairs(d and d.list or {}) do bl_rows[#bl_rows + 1] = { esc(e), esc(account) } end
  end
  return html.page("Lists and contacts", "lists", {
    html.table("Mailing lists", { "Id", "Name", "Account", "Contacts", "Unsubscribed", "Blacklisted", "Created" },
      rows, { empty = "No mailing list yet." }),
    html.table("Blacklist", { "Address", "Account" }, bl_rows, { empty = "The blacklist is empty." }),
  })
end

local function variables_text(vars)
  local keys = {}
  for k in pairs(vars or {}) do keys[#keys + 1] = tostring(k) end
  sort(keys)
  local out = {}
  for i, k in ipairs(keys) do
    local v = vars[k]
    out[i] = '<span class="var">' .. esc(k) .. ' = ' .. esc(type(v) == "table" and json.encode(v) or
      (type(v) == "number" and json.number_text(v) or tostring(v))) .. '</span>'
  end
  return concat(out, " ")
end

-- GET /_sandbox/ui/lists/{id}[?page=]
function _M.list(ctx)
  local id = tonumber(ctx.params.id)
  local b = id and ctx.state.books[id]
  if not b then
    return html.page("No such list", "lists", format('<p>No mailing list %s. <a href="%s/lists">All lists</a></p>',
      esc(ctx.params.id), BASE), { status = 404 })
  end
  local page = html.page_number(ctx.query)
  local rows = {}
  local from = (page - 1) * _M.PER_PAGE
  for i = from + 1, math.min(#b.emails, from + _M.PER_PAGE) do
    local e = b.emails[i]
    rows[#rows + 1] = {
      esc(e.email), esc(books.STATUS_EXPLAIN[e.status] or e.status), esc(e.phone),
      variables_text(e.variables),
      blacklist.contains(ctx.state, b.owner, e.email) and "yes" or "no", esc(e.writes),
      format('<a href="%s/messages%s">messages</a>', BASE, html.query { { "q", e.email } }),
    }
  end
  return html.page("List " .. b.name, "lists", {
    html.dl { { "Id", esc(b.id) }, { "Account", esc(b.owner) }, { "Created", esc(b.creationdate) },
              { "Contacts", esc(#b.emails) } },
    html.table("Contacts", { "Address", "Status", "Phone", "Variables", "Blacklisted", "Times sent", "Messages" },
      rows, { empty = "No contact in this list." }),
    html.pager(page, #b.emails, _M.PER_PAGE, function(n)
      return format("%s/lists/%d%s", BASE, b.id, html.query { { "page", n } })
    end),
  })
end

local STATUS = { [3] = "sent", [13] = "scheduled" }

-- GET /_sandbox/ui/campaigns
function _M.campaigns(ctx)
  local state = ctx.state
  local now = state:now(ctx.now)
  local rows, clock_rows = {}, {}
  for _, account in ipairs(accounts(state)) do
    local d = state.data.campaigns and state.data.campaigns[account]
    local list = d and d.list or {}
    local last_per_list, in_hour, oldest = {}, 0, nil
    for _, c in ipairs(list) do
      rows[#rows + 1] = {
        esc(c.id), esc(c.name), esc(c.subject), esc(account),
        format('<a href="%s/lists/%s">%s</a>', BASE, esc(c.list_id), esc(c.list_id)),
        esc(STATUS[c.status] or c.status), esc(c.send_date), esc(c.count),
        format('<a href="%s/messages?campaign=%d">recipients</a>', BASE, c.id),
      }
      if not last_per_list[c.list_id] or c.created > last_per_list[c.list_id] then
        last_per_list[c.list_id] = c.created
      end
      if c.created > now - 3600 then
        in_hour = in_hour + 1
        if not oldest or c.created < oldest then oldest = c.created end
      end
    end
    local lists = {}
    for list_id in pairs(last_per_list) do lists[#lists + 1] = list_id end
    sort(lists)
    for _, list_id in ipairs(lists) do
      local free = last_per_list[list_id] + campaigns.LIST_WAIT
      clock_rows[#clock_rows + 1] = { esc(account), "711: list " .. esc(list_id),
        free > now and ("busy until " .. esc(html.time(free))) or "free" }
    end
    if #list > 0 then
      clock_rows[#clock_rows + 1] = { esc(account), "791: campaigns in the last hour",
        format("%d of %d%s", in_hour, campaigns.HOURLY_LIMIT, in_hour >= campaigns.HOURLY_LIMIT and oldest
          and (", next at " .. esc(html.time(oldest + 3600))) or "") }
    end
  end
  return html.page("Campaigns", "campaigns", {
    html.dl { { "Sandbox clock (UTC)", esc(html.time(now)) },
              { "Offset", esc(json.number_text(state.clock_offset)) .. ' s (<a href="' .. BASE
                .. '/control#clock">advance it</a>)' } },
    html.table("Sending rules on the sandbox clock", { "Account", "Rule", "State" }, clock_rows,
      { empty = "No campaign yet: both rules are free." }),
    html.table("Campaigns", { "Id", "Name", "Subject", "Account", "List", "Status", "Send date", "Recipients",
      "Messages" }, rows, { empty = "No campaign yet." }),
  })
end

return _M
