-- The "Source" of a message: the JSON request that sent it, pretty-printed,
-- with its Base64 fields decoded and every secret hidden. Hidden: the
-- values of keys that name a secret (secret, token, password, api key,
-- authorization) and, anywhere, any client secret, API key or token the
-- sandbox knows.
local json = require "sendpulse.sandbox.json"
local base64 = require "sendpulse.sandbox.base64"

local type, pairs, ipairs, tostring, tonumber, next, pcall = type, pairs, ipairs, tostring, tonumber, next, pcall
local sort, concat, rep = table.sort, table.concat, string.rep
local lower, format = string.lower, string.format

local _M = {}

_M.HIDDEN = "[hidden by the sandbox]"
-- Decoded Base64 shown as text up to this many bytes.
_M.MAX_DECODED_SHOWN = 64 * 1024

-- Fields holding Base64 in the requests the sandbox keeps.
local BASE64 = { html = true, body = true, body_amp = true }

local function secret_key(k)
  k = lower(tostring(k))
  return (k:find("secret") or k:find("token") or k:find("passw") or k:find("api_?key")
    or k == "authorization" or k == "auth") and true or false
end
_M.secret_key = secret_key

-- Whether bytes are text to show (valid UTF-8 without control characters
-- other than tab and line breaks).
local function is_text(s)
  if s:find("[%z\1-\8\11\12\14-\31\127]") then return false end
  local ok = pcall(function()
    if utf8 and utf8.len then assert(utf8.len(s)) end
  end)
  return ok
end

local function decoded(v)
  local bytes = base64.decode(v)
  if not bytes then return v end
  if #bytes <= _M.MAX_DECODED_SHOWN and is_text(bytes) then return bytes end
  return format("[Base64 of %d bytes]", #bytes)
end

-- The value with Base64 decoded and secret keys hidden (a copy).
local function clean(v, key, parent_key)
  if type(v) == "table" then
    local out = {}
    for k, x in pairs(v) do out[k] = clean(x, k, key) end
    if json.is_array(v) and next(v) == nil then return json.array() end
    return out
  end
  if key ~= nil and secret_key(key) and v ~= nil and v ~= json.null then return _M.HIDDEN end
  if type(v) == "string" and (BASE64[key] or parent_key == "attachments_binary") then return decoded(v) end
  return v
end

local function pretty(v, indent)
  local pad = rep("  ", indent)
  if type(v) ~= "table" or v == json.null then return json.encode(v) end
  if json.is_array(v) then
    if #v == 0 then return "[]" end
    local items = {}
    for i, x in ipairs(v) do items[i] = pad .. "  " .. pretty(x, indent + 1) end
    return "[\n" .. concat(items, ",\n") .. "\n" .. pad .. "]"
  end
  local keys = {}
  for k in pairs(v) do keys[#keys + 1] = tostring(k) end
  sort(keys)
  local items = {}
  for i, k in ipairs(keys) do
    local x = v[k]
    if x == nil then x = v[tonumber(k)] end
    items[i] = pad .. "  " .. json.encode(k) .. ": " .. pretty(x, indent + 1)
  end
  return "{\n" .. concat(items, ",\n") .. "\n" .. pad .. "}"
end

-- Every secret the sandbox knows: client secrets, API keys, live tokens.
local function known_secrets(state)
  local list = {}
  for _, a in pairs(state.accounts or {}) do
    if a.client_secret and #a.client_secret >= 4 then list[#list + 1] = a.client_secret end
  end
  for key in pairs(state.api_keys or {}) do if #key >= 4 then list[#list + 1] = key end end
  for token in pairs(state.tokens or {}) do list[#list + 1] = token end
  sort(list, function(a, b) return #a > #b end)
  return list
end

local function hide_known(text, state)
  for _, s in ipairs(known_secrets(state)) do
    local from = 1
    while true do
      local i, j = text:find(s, from, true)
      if not i then break end
      text = text:sub(1, i - 1) .. _M.HIDDEN .. text:sub(j + 1)
      from = i + #_M.HIDDEN
    end
  end
  return text
end

-- The text of the source view of `body` (inbox/store.lua's), and whether it
-- was cut.
function _M.render(body, state)
  local raw = body.source or ""
  local cut = (body.source_size or #raw) > #raw
  local value = not cut and raw ~= "" and json.decode(raw)
  local text
  if type(value) == "table" then
    text = pretty(clean(value), 0)
  else
    text = raw
  end
  text = format("%s %s\n\n", body.method or "POST", body.path or "?") .. text
  if cut then
    text = text .. format("\n\n[the request was %d bytes: the first %d are kept]", body.source_size, #raw)
  end
  return hide_known(text, state), cut
end

return _M
