--- Turns an HTTP answer into a value or an error object.
--
-- SendPulse reports errors in several envelopes (all recognised here):
--   HTTP 4xx/5xx  {"message": "...", "error_code": 213}
--   HTTP 401      {"error": "invalid_client", "error_description": "..."}
--   HTTP 200      {"is_error": true, ...}           (some classic calls)
--   HTTP 200      {"success": false, "data": ...}   (v2 and chatbot APIs)
--   HTTP 500      an HTML page from the proxy in front of the API
-- `{"result": false}` is a real answer, not an error (GET /smtp/unsubscribe/search).
--
-- Field errors, wherever an answer lists them, are kept: `errors` as a map
-- of field -> message(s) (the pop-up API, Laravel's {"message", "errors"})
-- or a list of {field, message}, `validation` of an RFC 7807 problem (a
-- validating proxy or mock), the same inside `data`. They join the message
-- ("The given data was invalid. (phone: required; template.language.code:
-- required)") and the error object (err.field_errors, a list of { field =,
-- message = }). The status is the error's `status`, said once by
-- tostring(err); messages do not repeat it.
--
-- What an error code means (its kind, whether it passes, how long to wait)
-- is sendpulse.errors' table; the HTTP status decides only where the code
-- does not (no code, or one the table does not know). A wait the answer
-- asks for in Retry-After wins over the code's own, and the message says
-- it: "More than 10 requests per second (wait 30 s)".

local json = require "sendpulse.json"
local errors = require "sendpulse.errors"

local type, tostring, pairs, ipairs, tonumber = type, tostring, pairs, ipairs, tonumber
local format, concat, sort, min = string.format, table.concat, table.sort, math.min
local new_error, codes, duration = errors.new, errors.codes, errors.duration

local _M = {}

-- Bytes of a body shown in a message, and how far past them the secret
-- and the token are looked for first: the longest form of one (sp_scrub.h)
-- fits in the margin, so cutting the text cannot leave part of one.
local EXCERPT = 160
local SCRUB_MARGIN = 65536

-- The start of a body that is not JSON, printable, for the message, with
-- the client's secrets taken out (scrub: the client's auth:scrub).
local function excerpt(body, scrub)
  local head = body:sub(1, EXCERPT + SCRUB_MARGIN)
  if scrub then head = scrub(head) end
  local s = head:sub(1, EXCERPT):gsub("%s+", " "):gsub("[%c\128-\255]", "?")
  if #head > EXCERPT or #body > EXCERPT + SCRUB_MARGIN then s = s .. "..." end
  return s
end

local function text(v)
  if type(v) == "string" and v ~= "" then return v end
  if type(v) == "number" then return tostring(v) end
  return nil
end

--- How many field errors the message lists (the rest are counted), how
--- many the error object keeps, and how long one field's text may be.
_M.MESSAGE_FIELDS, _M.KEPT_FIELDS, _M.FIELD_TEXT = 10, 100, 200

-- At most FIELD_TEXT bytes of s, cut before a UTF-8 character, not in it;
-- the client's secrets are taken out first (scrub: see excerpt), so a cut
-- cannot leave the start of one that the client's scrub would not know.
local function cut(s, scrub)
  if scrub then s = scrub(s) end
  local n = _M.FIELD_TEXT
  if #s <= n then return s end
  while n > 0 and s:byte(n + 1) >= 0x80 and s:byte(n + 1) < 0xC0 do n = n - 1 end
  return s:sub(1, n) .. "..."
end

-- The message an envelope gives, wherever this endpoint put it (RFC 7807:
-- title and detail).
local function envelope_message(t)
  local m = text(t.message) or text(t.error_description) or text(t.error)
  if m then return m end
  local title, detail = text(t.title), text(t.detail)
  if title and detail then return title .. ": " .. detail end
  if title or detail then return title or detail end
  if type(t.data) == "table" then return text(t.data.message) end
  return nil
end

-- The text of one field's error: a string, a list of strings, or an
-- object with a message (lists in lists: two levels, then nothing).
local function error_text(v, depth)
  local s = text(v)
  if s then return s end
  if type(v) ~= "table" then return nil end
  s = text(v.message) or text(v.msg) or text(v.error) or text(v.detail) or text(v.description)
  if s then return s end
  depth = (depth or 0) + 1
  if depth > 2 then return nil end
  local parts, length = {}, 0
  for i = 1, #v do
    local p = error_text(v[i], depth)
    if p then
      parts[#parts + 1] = p
      length = length + #p + 2
      if length > _M.FIELD_TEXT then break end   -- (it is cut there anyway)
    end
  end
  if #parts > 0 then return concat(parts, "; ") end
  return nil
end

-- The field an entry of a list of errors is about.
local function field_of(item)
  if type(item) ~= "table" then return nil end
  local loc = item.location or item.loc
  if type(loc) == "table" and #loc > 0 then
    local parts = {}
    for i = 1, #loc do parts[i] = tostring(loc[i]) end
    return concat(parts, ".")
  end
  return text(item.field) or text(item.property) or text(item.path) or text(item.param)
    or text(item.name) or text(item.key) or text(loc)
end

-- The field errors of an envelope: a list of { field =, message = } (field
-- may be nil), at most KEPT_FIELDS, and how many there were; or nil.
local function field_errors(t, scrub)
  local src = t.errors
  if type(src) ~= "table" then src = t.validation end
  if type(src) ~= "table" and type(t.data) == "table" then src = t.data.errors end
  if type(src) ~= "table" then return nil end
  local out, n = {}, 0
  if src[1] ~= nil then
    for i = 1, #src do
      local item = src[i]
      local msg = error_text(item)
      if msg then
        n = n + 1
        if n <= _M.KEPT_FIELDS then out[n] = { field = field_of(item), message = cut(msg, scrub) } end
      end
    end
  else
    local names = {}
    for k in pairs(src) do
      if type(k) == "string" then names[#names + 1] = k end
    end
    sort(names)
    for _, k in ipairs(names) do
      local msg = error_text(src[k])
      if msg then
        n = n + 1
        if n <= _M.KEPT_FIELDS then out[n] = { field = k, message = cut(msg, scrub) } end
      end
    end
  end
  if n == 0 then return nil end
  return out, n
end

-- "field: message; field: message" for the first MESSAGE_FIELDS of them.
local function fields_text(list, n)
  local parts = {}
  for i = 1, min(#list, _M.MESSAGE_FIELDS) do
    local e = list[i]
    parts[i] = e.field and (e.field .. ": " .. e.message) or e.message
  end
  if n > #parts then parts[#parts + 1] = format("and %d more", n - #parts) end
  return concat(parts, "; ")
end

local function integer_code(v)
  if type(v) == "number" then return v end
  if type(v) == "string" and v:find("^%d+$") then return tonumber(v) end
  return nil
end

--- Classifies an error envelope into kind, code, retryable.
local function api_error(status, t, ctx, body)
  local code = integer_code(t.error_code) or integer_code(t.code)
  local message = envelope_message(t)
  local fields, n = field_errors(t, ctx.scrub)
  if fields then
    local listed = fields_text(fields, n)
    -- (an envelope whose message is its only field error says it once)
    if message == nil or message == fields[1].message then message = listed
    else message = message .. " (" .. listed .. ")" end
  end
  local entry = code and codes[code]
  message = message or (entry and entry.hint) or ("the answer gives no message: " .. excerpt(body, ctx.scrub))
  local kind, retryable = "api", false
  if entry and entry.kind ~= "api" then
    -- (rate_limit: 2020202020 and the waits, 711, 791, 1004)
    kind, retryable = entry.kind, entry.retryable
  elseif status == 429 then
    kind, retryable = "rate_limit", true
  elseif status == 401 or t.error == "invalid_client" then
    kind = "auth"
    if t.error == "invalid_client" then
      message = "SendPulse refused the client credentials (invalid_client): " .. message
    end
  elseif entry and entry.retryable then
    retryable = true
  elseif status >= 500 then
    retryable = true
  end
  return new_error {
    kind = kind, code = code, status = status, message = message,
    method = ctx.method, path = ctx.path, retryable = retryable,
    oauth_error = type(t.error) == "string" and t.error or nil,
    field_errors = fields,
  }
end

-- Seconds an answer's Retry-After asks to wait, when it gives whole
-- seconds (1 to errors.MAX_WAIT, a day); else nil. SendPulse's own refusal
-- (2020202020) and its plan quotas' plain 429 document no header; a proxy
-- in front of it may send one, and it knows best.
local function asked_wait(headers)
  local v = headers["retry-after"]
  local n = type(v) == "string" and v:match("^%s*(%d%d?%d?%d?%d?)%s*$")
  n = n and tonumber(n)
  if n and n >= 1 and n <= errors.MAX_WAIT then return n end
  return nil
end

--- The wait of a 429 that says nothing of one (no Retry-After, no code
-- with a wait): a second, SendPulse's window.
_M.DEFAULT_429_WAIT = 1

local classify

--- Returns the decoded value, or nil and an error object.
-- ctx = { method =, path =, scrub = } for the error's place; scrub(text)
-- takes the client's secrets out of text quoted from the body. raw: a successful
-- answer is returned as its bytes (a file download), errors still decoded.
-- A 429 is a rate_limit error whatever its body says. retry_after: the
-- answer's Retry-After, else its code's wait (sendpulse.errors), else for
-- a 429 DEFAULT_429_WAIT.
function _M.classify(status, body, headers, ctx, raw)
  local value, err = classify(status, body, headers, ctx, raw)
  if err then
    if status == 429 then err.kind, err.retryable = "rate_limit", true end
    local asked = asked_wait(headers)
    if asked then
      err.retry_after = asked
    elseif err.retry_after == nil and status == 429 then
      err.retry_after = _M.DEFAULT_429_WAIT
    end
    if err.retry_after and (err.kind == "rate_limit" or asked) then
      err.message = format("%s (wait %s)", err.message, duration(err.retry_after))
    end
  end
  return value, err
end

classify = function(status, body, headers, ctx, raw)
  local ctype = headers["content-type"] or ""
  if raw and status >= 200 and status < 300 then return body end
  if body == "" then
    if status >= 200 and status < 300 then return true end
    return nil, new_error {
      kind = status == 401 and "auth" or (status == 429 and "rate_limit" or "api"),
      status = status, method = ctx.method, path = ctx.path,
      message = "an empty body",
      retryable = status >= 500 or status == 429,
    }
  end
  local value, decode_err = json.decode(body)
  if value == nil then
    local failed = status < 200 or status >= 300
    return nil, new_error {
      kind = failed and (status == 429 and "rate_limit" or "api") or "decode",
      status = status, method = ctx.method, path = ctx.path,
      content_type = ctype,
      message = format("a %s body that is not JSON (%s): %s",
        ctype ~= "" and ctype or "untyped", decode_err, excerpt(body, ctx.scrub)),
      retryable = status >= 500 or status == 429,
    }
  end
  if type(value) == "table" then
    if status >= 300 or value.is_error == true or value.success == false then
      return nil, api_error(status, value, ctx, body)
    end
  elseif status >= 300 then
    return nil, new_error {
      kind = status == 401 and "auth" or "api", status = status,
      method = ctx.method, path = ctx.path, retryable = status >= 500,
      message = "the answer gives no message: " .. excerpt(body, ctx.scrub),
    }
  end
  return value
end

return _M
