-- HTML for the sandbox's pages (ui/): escaping, the page around each view,
-- tables, the pager, and the answers with their security headers.
--
-- Every value that reaches a page goes through esc(): subjects, names,
-- variables and file names are chosen by whoever called the API (in a test,
-- anyone). Pages run no inline script or style (the CSP below forbids both),
-- only /_sandbox/ui/static/app.js and app.css.
local type, tostring, tonumber, ipairs, floor, format = type, tostring, tonumber, ipairs, math.floor, string.format
local concat = table.concat

local _M = {}

_M.BASE = "/_sandbox/ui"

local ENTITIES = { ["&"] = "&amp;", ["<"] = "&lt;", [">"] = "&gt;", ['"'] = "&quot;", ["'"] = "&#39;" }

-- Text (or a number) as HTML text or a quoted attribute value; nil is "".
function _M.esc(v)
  if v == nil then return "" end
  return (tostring(v):gsub("[&<>\"']", ENTITIES))
end
local esc = _M.esc

-- A query string component.
function _M.qs(v)
  return (tostring(v):gsub("[^%w%-_%.~]", function(c) return format("%%%02X", c:byte()) end))
end

-- "?a=1&b=x" from a list of {name, value} (nil and "" values left out).
function _M.query(pairs_list)
  local out = {}
  for _, p in ipairs(pairs_list) do
    if p[2] ~= nil and p[2] ~= "" then out[#out + 1] = _M.qs(p[1]) .. "=" .. _M.qs(p[2]) end
  end
  return #out > 0 and ("?" .. concat(out, "&")) or ""
end

function _M.time(t)
  if type(t) ~= "number" then return "" end
  return os.date("!%Y-%m-%d %H:%M:%S", floor(t)) .. "Z"
end

-- The same moment as a datetime attribute wants it.
function _M.iso(t)
  if type(t) ~= "number" then return "" end
  return os.date("!%Y-%m-%dT%H:%M:%SZ", floor(t))
end

function _M.bytes(n)
  if n < 1024 then return format("%d B", n) end
  if n < 1024 * 1024 then return format("%.1f KiB", n / 1024) end
  return format("%.1f MiB", n / 1024 / 1024)
end

-- The pages' own policy: scripts, styles, frames and fetches from this
-- origin only; no framing by others; forms post here only.
_M.PAGE_CSP = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
  .. "frame-src 'self'; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"

-- Referrer-Policy: same-origin for the pages (with no-referrer, Chromium
-- sends "Origin: null" on their own forms, which guard.lua refuses);
-- no-referrer for the email's HTML and attachments.
local function headers(content_type, csp, extra)
  local h = {
    { "Content-Type", content_type },
    { "Content-Security-Policy", csp },
    { "X-Content-Type-Options", "nosniff" },
    { "Referrer-Policy", csp == _M.PAGE_CSP and "same-origin" or "no-referrer" },
    { "Cache-Control", "no-store" },
  }
  for _, x in ipairs(extra or {}) do h[#h + 1] = x end
  return h
end
_M.headers = headers

-- An answer of the sandbox's server: {status, headers, body}.
function _M.answer(status, body, content_type, csp, extra)
  return { status = status, headers = headers(content_type or "text/html; charset=utf-8",
                                              csp or _M.PAGE_CSP, extra), body = body }
end

function _M.redirect(location)
  return { status = 303, headers = headers("text/plain; charset=utf-8", _M.PAGE_CSP, { { "Location", location } }),
           body = "See " .. location }
end

local NAV = {
  { "messages", "Messages" }, { "lists", "Lists and contacts" }, { "campaigns", "Campaigns" },
  { "webhooks", "Webhooks" }, { "requests", "Requests" }, { "control", "Control" },
}

-- A whole page: `active` names the section in the navigation, `parts` is
-- the already escaped HTML of the main content (a string or a list).
function _M.page(title, active, parts, opts)
  opts = opts or {}
  local nav = {}
  for _, n in ipairs(NAV) do
    nav[#nav + 1] = format('<li><a href="%s/%s"%s>%s</a></li>', _M.BASE, n[1],
      n[1] == active and ' aria-current="page"' or "", n[2])
  end
  local body = type(parts) == "table" and concat(parts) or parts
  return _M.answer(opts.status or 200, concat {
    '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">',
    '<meta name="viewport" content="width=device-width, initial-scale=1">',
    '<title>', esc(title), ' · SendPulse sandbox</title>',
    -- no icon: else the browser asks /favicon.ico, which lands in the request log
    '<link rel="icon" href="data:,">',
    '<link rel="stylesheet" href="', _M.BASE, '/static/app.css">',
    '<script src="', _M.BASE, '/static/app.js" defer></script>',
    '</head><body', opts.live and (' data-live="' .. esc(opts.live) .. '"') or "",
    opts.version and format(' data-version="%d"', opts.version) or "", '>',
    '<a class="skip" href="#main">Skip to content</a>',
    '<header><span class="brand">SendPulse sandbox</span><nav aria-label="Sections"><ul>',
    concat(nav), '</ul></nav></header>',
    '<main id="main" tabindex="-1"><h1>', esc(title), '</h1>', body, '</main></body></html>\n',
  })
end

-- A table: `columns` are header texts, `rows` lists of already escaped cells.
function _M.table(caption, columns, rows, opts)
  opts = opts or {}
  local out = { '<table', opts.id and (' id="' .. esc(opts.id) .. '"') or "", '><caption>', esc(caption),
                '</caption><thead><tr>' }
  for _, c in ipairs(columns) do out[#out + 1] = '<th scope="col">' .. esc(c) .. '</th>' end
  out[#out + 1] = '</tr></thead><tbody' .. (opts.body_id and (' id="' .. esc(opts.body_id) .. '"') or "") .. '>'
  out[#out + 1] = _M.rows(rows, #columns, opts.empty)
  out[#out + 1] = '</tbody></table>'
  return concat(out)
end

-- Just the <tr>s (the live list replaces them).
function _M.rows(rows, ncols, empty)
  local out = {}
  if #rows == 0 then
    out[1] = format('<tr><td colspan="%d" class="empty">%s</td></tr>', ncols, esc(empty or "Nothing yet."))
  end
  for _, r in ipairs(rows) do out[#out + 1] = '<tr><td>' .. concat(r, '</td><td>') .. '</td></tr>' end
  return concat(out)
end

-- Previous / next links for page `page` (1-based) of `total` items,
-- `per` a page; `link(n)` is the URL of page n.
function _M.pager(page, total, per, link)
  local pages = floor((total + per - 1) / per)
  if pages <= 1 then return format('<p class="pager">%d in all</p>', total) end
  local out = { '<nav class="pager" aria-label="Pages"><p>' }
  if page > 1 then
    out[#out + 1] = format('<a href="%s" rel="prev">Newer (page %d)</a> ', esc(link(page - 1)), page - 1)
  end
  out[#out + 1] = format('<span>Page %d of %d (%d in all)</span>', page, pages, total)
  if page < pages then
    out[#out + 1] = format(' <a href="%s" rel="next">Older (page %d)</a>', esc(link(page + 1)), page + 1)
  end
  out[#out + 1] = '</p></nav>'
  return concat(out)
end

-- The page number of a query (1 when absent or wrong).
function _M.page_number(query)
  local n = tonumber(query.page)
  if not n or n < 1 or n ~= floor(n) or n > 1e9 then return 1 end
  return n
end

-- A definition list from {term, escaped HTML} pairs.
function _M.dl(items)
  local out = { "<dl>" }
  for _, it in ipairs(items) do
    out[#out + 1] = "<dt>" .. esc(it[1]) .. "</dt><dd>" .. (it[2] or "") .. "</dd>"
  end
  out[#out + 1] = "</dl>"
  return concat(out)
end

-- A state-changing form: POST to `action` with the sandbox's token, the
-- given (already escaped) fields and a submit button labelled `label`.
function _M.form(action, token, fields, label, opts)
  opts = opts or {}
  return concat {
    '<form method="post" action="', esc(action), '"', opts.class and (' class="' .. esc(opts.class) .. '"') or "", '>',
    '<input type="hidden" name="token" value="', esc(token), '">', fields or "",
    '<button type="submit">', esc(label), '</button></form>',
  }
end

return _M
