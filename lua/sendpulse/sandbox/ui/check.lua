-- The HTML check of a message (the message page's "Check" and "Links"):
-- images without alt text or without a size, links and images not on
-- https, and the message's weight. A plain scan of the tags, not a
-- parser: it reads what mail clients read, and says so when it cannot.
local ipairs, lower, format = ipairs, string.lower, string.format

local _M = {}

-- Gmail clips a message whose HTML passes about 102 KB.
_M.CLIP_BYTES = 102 * 1024

-- The attributes of a tag's text: { name = value } (names lower case).
function _M.attributes(text)
  local attrs = {}
  for name, value in text:gmatch('([%w_:%-]+)%s*=%s*"([^"]*)"') do attrs[lower(name)] = value end
  for name, value in text:gmatch("([%w_:%-]+)%s*=%s*'([^']*)'") do attrs[lower(name)] = attrs[lower(name)] or value end
  for name, value in text:gmatch("([%w_:%-]+)%s*=%s*([^%s\"'=<>`]+)") do
    attrs[lower(name)] = attrs[lower(name)] or value
  end
  -- attributes without a value (<img alt>)
  for name in (" " .. text):gmatch("%s([%w_:%-]+)%f[%s/>%z]") do
    attrs[lower(name)] = attrs[lower(name)] or ""
  end
  return attrs
end

local function strip_tags(s)
  return (s:gsub("<[^>]*>", ""):gsub("%s+", " "):match("^%s*(.-)%s*$"))
end

local function is_remote(url)
  return url:find("^[%a][%w+.-]*:") ~= nil and not url:find("^[dD][aA][tT][aA]:") and not url:find("^cid:")
    or url:find("^//") ~= nil
end

-- { issues = { {what, detail}, ... }, links = { {href, text}, ... },
--   images = n, remote_images = n, html_bytes, text_bytes, files_bytes, total }
function _M.run(html, text, files)
  local r = { issues = {}, links = {}, images = 0, remote_images = 0 }
  html = html or ""
  local function issue(what, detail) r.issues[#r.issues + 1] = { what, detail } end
  for tag in html:gmatch("<[iI][mM][gG]([^>]*)>") do
    local a = _M.attributes(tag)
    local src = a.src or ""
    r.images = r.images + 1
    if is_remote(src) then r.remote_images = r.remote_images + 1 end
    if a.alt == nil then issue("image without alt text", src) end
    local style = lower(a.style or "")
    if (a.width == nil or a.height == nil) and not (style:find("width") and style:find("height")) then
      issue("image without a width and height", src)
    end
    if lower(src):find("^http:") then issue("image not on https", src) end
  end
  for tag, inner in html:gmatch("<[aA]([%s][^>]*)>(.-)</[aA]%s*>") do
    local href = _M.attributes(tag).href
    if href then
      r.links[#r.links + 1] = { href = href, text = strip_tags(inner) }
      local l = lower(href)
      if l:find("^http:") then issue("link not on https", href)
      elseif l:find("^javascript:") then issue("link that runs script", href) end
    end
  end
  if html:find("<[sS][cC][rR][iI][pP][tT]") then issue("a <script> (no mail client runs it)", "") end
  if html:find("<[fF][oO][rR][mM]") then issue("a <form> (most mail clients block it)", "") end
  r.html_bytes, r.text_bytes, r.files_bytes = #html, #(text or ""), 0
  for _, f in ipairs(files or {}) do r.files_bytes = r.files_bytes + #f.bytes end
  r.total = r.html_bytes + r.text_bytes + r.files_bytes
  if r.html_bytes > _M.CLIP_BYTES then
    issue("HTML over 102 KB", format("%d bytes: Gmail clips it", r.html_bytes))
  end
  return r
end

return _M
