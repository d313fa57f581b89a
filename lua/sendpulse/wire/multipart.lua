--- multipart/form-data bodies (file uploads).
--
--   local body, content_type = multipart.encode(fields)   -- or nil, message
--
-- A field's value is a text part (a string, a boolean or a number), a file
-- { content = "...", filename = ..., content_type = ... }, or a sequence of
-- those (one part each, under the same name). Parts come in the order of
-- the sorted field names, so one table always gives the same body.

local type, pairs, ipairs, tostring = type, pairs, ipairs, tostring
local format, gsub, concat, sort = string.format, string.gsub, table.concat, table.sort

local json = require "sendpulse.json"
local number = require "sendpulse.number"

local _M = {}

--- Is v a file part ({ content = string, ... })?
local function is_file(v)
  return type(v) == "table" and type(v.content) == "string"
end
_M.is_file = is_file

-- A value for a quoted header parameter: no line breaks, no bare quotes.
local function header_safe(s)
  return (gsub(gsub(tostring(s), "[\r\n]", ""), '"', "%%22"))
end

--- Returns body, content type; or nil and a message naming the field.
function _M.encode(fields)
  local names = {}
  for k in pairs(fields) do names[#names + 1] = k end
  sort(names)
  local parts = {}
  for _, name in ipairs(names) do
    local v = fields[name]
    local list = (type(v) == "table" and not is_file(v)) and v or { v }
    for i = 1, #list do
      local item = list[i]
      local head, content
      if is_file(item) then
        head = format('Content-Disposition: form-data; name="%s"; filename="%s"\r\nContent-Type: %s',
          header_safe(name), header_safe(item.filename or name),
          header_safe(item.content_type or "application/octet-stream"))
        content = item.content
      elseif type(item) == "string" or type(item) == "boolean" then
        head = format('Content-Disposition: form-data; name="%s"', header_safe(name))
        content = tostring(item)
      elseif type(item) == "number" then
        head = format('Content-Disposition: form-data; name="%s"', header_safe(name))
        content = number.is_integer(item) and number.integer_string(item) or format("%.17g", item)
      else
        return nil, format("argument '%s' must be a string, a number or a file"
          .. " { content = ..., filename = ... }, got %s", name, item == json.null and "null" or type(item))
      end
      parts[#parts + 1] = { head, content }
    end
  end
  -- a boundary that occurs in no part
  local function unused(boundary)
    for _, p in ipairs(parts) do
      if p[2]:find(boundary, 1, true) then return false end
    end
    return true
  end
  local n = 1
  while not unused("lua-sendpulse-boundary-" .. n) do n = n + 1 end
  local boundary = "lua-sendpulse-boundary-" .. n
  local out = {}
  for _, p in ipairs(parts) do
    out[#out + 1] = "--" .. boundary .. "\r\n" .. p[1] .. "\r\n\r\n" .. p[2] .. "\r\n"
  end
  out[#out + 1] = "--" .. boundary .. "--\r\n"
  return concat(out), "multipart/form-data; boundary=" .. boundary
end

return _M
