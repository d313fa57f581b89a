-- The inbox's pages: the list of messages (newest first, searchable, live)
-- and one message (its HTML in a sandboxed frame, its text, source,
-- attachments, template, the HTML check and its links), plus the two
-- answers the message page points at: the email's HTML itself and an
-- attachment.
local html = require "sendpulse.sandbox.ui.html"
local check = require "sendpulse.sandbox.ui.check"
local source = require "sendpulse.sandbox.ui.source"
local store = require "sendpulse.sandbox.inbox.store"
local json = require "sendpulse.sandbox.json"

local ipairs, pairs, tonumber, tostring, type, next = ipairs, pairs, tonumber, tostring, type, next
local format, concat, lower = string.format, table.concat, string.lower
local esc, BASE = html.esc, html.BASE

local _M = {}

_M.PER_PAGE = 50

local KINDS = { "smtp", "campaign", "sms", "push", "chatbot" }
local KIND_NAMES = { smtp = "SMTP", campaign = "Campaign", sms = "SMS", push = "Push", chatbot = "Chatbot" }

-- The email's HTML is its own document, framed by the message page:
-- no script, nothing loaded from anywhere (images from data: only, and
-- cid: ones cannot load either), and `sandbox` puts it in an origin of its
-- own even when opened directly. "Show remote images" allows images over
-- http(s) and nothing more.
_M.MAIL_CSP = "default-src 'none'; style-src 'unsafe-inline'; img-src data:; font-src data:; "
  .. "form-action 'none'; base-uri 'none'; frame-ancestors 'self'; sandbox"
_M.MAIL_CSP_REMOTE_IMAGES = "default-src 'none'; style-src 'unsafe-inline'; img-src data: http: https:; "
  .. "font-src data:; form-action 'none'; base-uri 'none'; frame-ancestors 'self'; sandbox"
-- Attachments are downloaded, never shown; should a browser show one
-- anyway, it runs nothing.
_M.FILE_CSP = "default-src 'none'; sandbox"

local function filter_of(query)
  local f = { words = store.words(query.q) }
  if query.kind and KIND_NAMES[query.kind] then f.kind = query.kind end
  local campaign = tonumber(query.campaign)
  if campaign then f.ref_kind, f.ref_id = "campaign", campaign end
  return f
end

local function list_link(query, page)
  return BASE .. "/messages" .. html.query { { "q", query.q }, { "kind", query.kind },
    { "campaign", query.campaign }, { "page", page > 1 and page or nil } }
end

local function row(m)
  local subject = m.subject
  if not subject or subject == "" then subject = (m.body.text or ""):sub(1, 80) end
  if subject == "" then subject = "(no subject)" end
  return {
    '<time datetime="' .. esc(html.iso(m.t)) .. '">' .. esc(html.time(m.t)) .. '</time>',
    esc(KIND_NAMES[m.kind] or m.kind),
    esc(m.from),
    esc(m.to),
    format('<a href="%s/messages/%d">%s</a>', BASE, m.id, esc(subject)),
    esc(m.status),
  }
end

local COLUMNS = { "Time (UTC)", "Kind", "From", "To", "Subject", "Status" }

-- GET /_sandbox/ui/messages[?q=&kind=&campaign=&page=&fragment=rows]
function _M.list(ctx)
  local inbox, query = ctx.server.inbox, ctx.query
  local page = html.page_number(query)
  local items, total = inbox:page(filter_of(query), (page - 1) * _M.PER_PAGE, _M.PER_PAGE)
  local rows = {}
  for i, m in ipairs(items) do rows[i] = row(m) end
  local empty = (query.q or query.kind or query.campaign) and "No message matches." or
    "No message yet: send one through the API and it shows here."
  if query.fragment == "rows" then
    -- what the live list swaps in (app.js); the same escaped rows
    return html.answer(200, html.rows(rows, #COLUMNS, empty) .. format('<!--total:%d-->', total))
  end
  local kinds = { '<option value="">all</option>' }
  for _, k in ipairs(KINDS) do
    kinds[#kinds + 1] = format('<option value="%s"%s>%s</option>', k, query.kind == k and " selected" or "",
      KIND_NAMES[k])
  end
  local live = page == 1 and list_link(query, 1) .. (list_link(query, 1):find("?", 1, true) and "&" or "?")
    .. "fragment=rows" or nil
  return html.page("Messages", "messages", {
    '<form class="search" method="get" action="', BASE, '/messages" role="search">',
    '<label for="q">Search recipients, subjects and text</label>',
    '<input id="q" name="q" type="search" value="', esc(query.q), '">',
    '<label for="kind">Kind</label><select id="kind" name="kind">', concat(kinds), '</select>',
    query.campaign and ('<input type="hidden" name="campaign" value="' .. esc(query.campaign) .. '">') or "",
    '<button type="submit">Search</button></form>',
    format('<p class="note">The sandbox keeps the newest %d messages (%s of contents); %d kept now, %d dropped. ',
      inbox.max_messages, html.bytes(inbox.max_bytes), inbox:count(), inbox.dropped),
    live and '<span id="live-status" role="status">New messages appear here as they are sent.</span>' or "",
    '<noscript> Reload the page to see new ones.</noscript></p>',
    html.table("Messages, newest first", COLUMNS, rows, { id = "messages", body_id = "rows", empty = empty }),
    html.pager(page, total, _M.PER_PAGE, function(n) return list_link(query, n) end),
  }, { live = live, version = live and inbox.version })
end

local function message_of(ctx)
  local id = tonumber(ctx.params.id)
  return id and ctx.server.inbox:get(id)
end

local function not_kept(ctx)
  return html.page("No such message", "messages", format(
    '<p>The sandbox keeps no message %s: it was never sent, or the oldest went past the bound, or a reset.</p>'
    .. '<p><a href="%s/messages">All messages</a></p>', esc(ctx.params.id), BASE), { status = 404 })
end

-- The MIME type of an attachment, from its name's extension; anything
-- unknown is a download of bytes.
local TYPES = {
  pdf = "application/pdf", txt = "text/plain; charset=utf-8", csv = "text/csv; charset=utf-8",
  png = "image/png", jpg = "image/jpeg", jpeg = "image/jpeg", gif = "image/gif", webp = "image/webp",
  svg = "image/svg+xml", html = "text/html; charset=utf-8", htm = "text/html; charset=utf-8",
  json = "application/json", xml = "application/xml", zip = "application/zip", ics = "text/calendar",
  doc = "application/msword", xlsx = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
  docx = "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
}
function _M.file_type(name)
  local ext = lower(name:match("%.([%w]+)$") or "")
  return TYPES[ext] or "application/octet-stream"
end

-- Content-Disposition for an attacker's file name: the plain filename=
-- keeps only safe characters (no quote, backslash, control character or
-- path), filename*= carries the exact name percent-encoded (RFC 6266).
function _M.disposition(name)
  local base = name:gsub("^.*[/\\]", "")
  local plain = base:gsub("[^%w%.%-_ ()%[%]+,]", "_")
  if plain == "" or plain:find("^%.+$") then plain = "attachment" end
  local star = base:gsub("[^%w%.%-_~]", function(c) return format("%%%02X", c:byte()) end)
  return format('attachment; filename="%s"; filename*=UTF-8\'\'%s', plain, star)
end

local function section(id, title, inner)
  return format('<section id="%s" aria-labelledby="%s-h"><h2 id="%s-h">%s</h2>%s</section>', id, id, id,
    esc(title), inner)
end

local function template_view(t)
  if not t then return '<p>No template: the message carried its own content.</p>' end
  local items = { { "Template id", esc(t.id) }, { "Name", esc(t.name) } }
  local vars = t.variables
  if type(vars) == "table" and next(vars) ~= nil then
    local rows = {}
    for k, v in pairs(vars) do
      local shown = source.secret_key(k) and source.HIDDEN or (type(v) == "table" and json.encode(v) or tostring(v))
      rows[#rows + 1] = { esc(k), esc(shown) }
    end
    table.sort(rows, function(a, b) return a[1] < b[1] end)
    items[#items + 1] = { "Variables", html.table("Template variables", { "Name", "Value" }, rows) }
  else
    items[#items + 1] = { "Variables", "none" }
  end
  return html.dl(items)
end

local function check_view(r)
  local items = {
    { "Total weight", esc(html.bytes(r.total)) .. format(" (HTML %s, text %s, attachments %s)",
      esc(html.bytes(r.html_bytes)), esc(html.bytes(r.text_bytes)), esc(html.bytes(r.files_bytes))) },
    { "Images", format("%d (%d remote)", r.images, r.remote_images) },
  }
  local out = { html.dl(items) }
  if #r.issues == 0 then
    out[#out + 1] = '<p class="ok">No issue found.</p>'
  else
    local rows = {}
    for i, it in ipairs(r.issues) do rows[i] = { esc(it[1]), '<code>' .. esc(it[2]) .. '</code>' } end
    out[#out + 1] = html.table(format("%d issues", #r.issues), { "Issue", "Where" }, rows)
  end
  return concat(out)
end

local function links_view(r)
  if #r.links == 0 then return '<p>No links.</p>' end
  local rows = {}
  for i, l in ipairs(r.links) do
    local scheme = lower(l.href):match("^(%a[%w+.-]*):") or "relative"
    rows[i] = { '<code>' .. esc(l.href) .. '</code>', esc(l.text), esc(scheme) }
  end
  return html.table(format("%d links (not followed: copy one to open it)", #r.links),
    { "Address", "Text", "Scheme" }, rows)
end

-- GET /_sandbox/ui/messages/{id}[?remote=1]
function _M.show(ctx)
  local m = message_of(ctx)
  if not m then return not_kept(ctx) end
  local body, remote = m.body, ctx.query.remote == "1"
  local r = check.run(body.html, body.text, body.files)
  local base = format("%s/messages/%d", BASE, m.id)
  local parts = {
    html.dl {
      { "Time (UTC)", esc(html.time(m.t)) }, { "Kind", esc(KIND_NAMES[m.kind] or m.kind) },
      { "From", esc(m.from) }, { "To", esc(m.to) }, { "Subject", esc(m.subject) },
      { "Status", esc(m.status) }, { "Account", esc(m.account) },
      { "API record", esc(m.ref and (m.ref.kind .. " " .. tostring(m.ref.id))) },
    },
    '<nav aria-label="Parts of the message"><ul class="tabs">',
    '<li><a href="#html">HTML</a></li><li><a href="#text">Text</a></li><li><a href="#source">Source</a></li>',
    '<li><a href="#attachments">Attachments</a></li><li><a href="#template">Template</a></li>',
    '<li><a href="#check">Check</a></li><li><a href="#links">Links</a></li></ul></nav>',
  }
  local html_part
  if body.html then
    local frame_src = base .. "/html" .. (remote and "?remote=1" or "")
    html_part = concat {
      '<p>', remote and format('Remote images are shown for this message. <a href="%s#html">Block them again</a>', base)
        or format('Remote images are blocked (%d in this message). <a href="%s?remote=1#html">Show remote images</a>',
          r.remote_images, base), '</p>',
      '<iframe title="The message as HTML" sandbox="" referrerpolicy="no-referrer" src="', esc(frame_src),
      '"></iframe>',
    }
  else
    html_part = '<p>No HTML part.</p>'
  end
  parts[#parts + 1] = section("html", "HTML", html_part)
  parts[#parts + 1] = section("text", "Text", body.text and ('<pre class="text">' .. esc(body.text) .. '</pre>')
    or '<p>No text part.</p>')
  local src = source.render(body, ctx.state)
  parts[#parts + 1] = section("source", "Source",
    '<p>The JSON that arrived, Base64 decoded, secrets hidden.</p><pre class="source">' .. esc(src) .. '</pre>')
  local files = {}
  for i, f in ipairs(body.files or {}) do
    files[i] = { format('<a href="%s/attachments/%d" download>%s</a>', base, i, esc(f.name)),
                 esc(_M.file_type(f.name)), esc(html.bytes(#f.bytes)) }
  end
  parts[#parts + 1] = section("attachments", "Attachments",
    html.table(format("%d attachments", #files), { "Name", "Type", "Size" }, files, { empty = "No attachments." }))
  parts[#parts + 1] = section("template", "Template and variables", template_view(body.template))
  parts[#parts + 1] = section("check", "Size and HTML check", check_view(r))
  parts[#parts + 1] = section("links", "Links", links_view(r))
  if body.link then
    parts[#parts + 1] = section("push-link", "Push link", '<p><code>' .. esc(body.link) .. '</code></p>')
  end
  return html.page(m.subject and m.subject ~= "" and m.subject or ("Message " .. m.id), "messages", parts)
end

-- Elements renamed in the HTML the frame shows, so they do nothing even
-- before the CSP is asked: Chromium opens a TCP connection to a framed
-- page's host (an <iframe> in the email) although the CSP then refuses the
-- request; mail clients drop these elements too. A tag starts with "<" and
-- its name at once (a space makes it text), so a rename cannot be dodged.
_M.INERT = { iframe = true, frame = true, frameset = true, object = true, embed = true, applet = true,
             link = true, meta = true, base = true, script = true, portal = true, fencedframe = true }

function _M.inert(text)
  return (text:gsub("<(/?)([%a][%w%-]*)", function(slash, name)
    if _M.INERT[lower(name)] then return "<" .. slash .. "sandbox-removed-" .. name end
  end))
end

-- GET /_sandbox/ui/messages/{id}/html[?remote=1]: the email's own HTML.
function _M.mail_html(ctx)
  local m = message_of(ctx)
  if not m or not m.body.html then
    return html.answer(404, "no such message", "text/plain; charset=utf-8", _M.FILE_CSP)
  end
  local csp = ctx.query.remote == "1" and _M.MAIL_CSP_REMOTE_IMAGES or _M.MAIL_CSP
  return html.answer(200, _M.inert(m.body.html), "text/html; charset=utf-8", csp)
end

-- GET /_sandbox/ui/messages/{id}/attachments/{n}
function _M.attachment(ctx)
  local m = message_of(ctx)
  local f = m and m.body.files and m.body.files[tonumber(ctx.params.n) or 0]
  if not f then return html.answer(404, "no such attachment", "text/plain; charset=utf-8", _M.FILE_CSP) end
  return html.answer(200, f.bytes, _M.file_type(f.name), _M.FILE_CSP,
    { { "Content-Disposition", _M.disposition(f.name) } })
end

return _M
