--- Turns an HTTP answer into a value or an error object.
--
-- SendPulse reports errors in several envelopes (all recognised here):
--   HTTP 4xx/5xx  {"message": "...", "error_code": 213}
--   HTTP 401      {"error": "invalid_client", "error_description": "..."}
--   HTTP 200      {"is_error": true, ...}           (some classic calls)
--   HTTP 200      {"success": false, "data": ...}   (v2 and chatbot APIs)
--   HTTP 500      an HTML page from the proxy in front of the API
-- `{"result": false}` is a real answer, not an error (GET /smtp/unsubscribe/search).

local json = require "sendpulse.json"
local errors = require "sendpulse.errors"

local type, tostring, format = type, tostring, string.format
local new_error = errors.new

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

-- The message of an error envelope, wherever this endpoint put it.
local function envelope_message(t)
  local m = text(t.message) or text(t.error_description) or text(t.error)
  if m then return m end
  if type(t.errors) == "table" then
    local first = t.errors[1]
    if first == nil then local _; _, first = next(t.errors) end
    if type(first) == "table" then first = first.message or first[1] end
    return text(first)
  end
  if type(t.data) == "table" then return text(t.data.message) end
  return nil
end

local function integer_code(v)
  if type(v) == "number" then return v end
  if type(v) == "string" and v:find("^%d+$") then return tonumber(v) end
  return nil
end

--- Classifies an error envelope into kind, code, retryable.
local function api_error(status, t, ctx)
  local code = integer_code(t.error_code) or integer_code(t.code)
  local message = envelope_message(t) or format("HTTP %d", status)
  local kind, retryable = "api", false
  if code == 2020202020 or status == 429 then
    kind, retryable = "rate_limit", true
  elseif code == 711 or code == 791 or code == 1004 then
    kind = "rate_limit"
  elseif status == 401 or t.error == "invalid_client" then
    kind = "auth"
    if t.error == "invalid_client" then
      message = "SendPulse refused the client credentials (invalid_client): " .. message
    end
  elseif status >= 500 then
    retryable = true
  end
  return new_error {
    kind = kind, code = code, status = status, message = message,
    method = ctx.method, path = ctx.path, retryable = retryable,
    oauth_error = type(t.error) == "string" and t.error or nil,
  }
end

--- Returns the decoded value, or nil and an error object.
-- ctx = { method =, path =, scrub = } for the error's place; scrub(text)
-- takes the client's secrets out of text quoted from the body. raw: a successful
-- answer is returned as its bytes (a file download), errors still decoded.
function _M.classify(status, body, headers, ctx, raw)
  local ctype = headers["content-type"] or ""
  if raw and status >= 200 and status < 300 then return body end
  if body == "" then
    if status >= 200 and status < 300 then return true end
    return nil, new_error {
      kind = status == 401 and "auth" or (status == 429 and "rate_limit" or "api"),
      status = status, method = ctx.method, path = ctx.path,
      message = format("HTTP %d with an empty body", status),
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
      message = format("HTTP %d with %s body that is not JSON (%s): %s",
        status, ctype ~= "" and ctype or "an untyped", decode_err, excerpt(body, ctx.scrub)),
      retryable = status >= 500 or status == 429,
    }
  end
  if type(value) == "table" then
    if status >= 300 or value.is_error == true or value.success == false then
      return nil, api_error(status, value, ctx)
    end
  elseif status >= 300 then
    return nil, new_error {
      kind = status == 401 and "auth" or "api", status = status,
      method = ctx.method, path = ctx.path, retryable = status >= 500,
      message = format("HTTP %d: %s", status, excerpt(body, ctx.scrub)),
    }
  end
  return value
end

return _M
