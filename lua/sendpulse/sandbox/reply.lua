-- Helpers shared by route files: SendPulse's error envelope and request
-- bodies.
local json = require "sendpulse.sandbox.json"
local http = require "sendpulse.sandbox.http"

local type, floor, tonumber = type, math.floor, tonumber

local _M = {}

-- SendPulse's classic error answer: HTTP `status`,
-- {"message": message, "error_code": code (default: the status)}.
function _M.error(status, message, code)
  return status, { message = message, error_code = code or status }
end

function _M.not_found()
  return _M.error(404, "Not found", 404)
end

-- The request body as a JSON object (memoized on the request). Returns the
-- table, or nil followed by an error answer (status, value) to return as is.
-- An empty body reads as an empty object.
function _M.json_body(req)
  if req.json == nil then
    if req.body:find("^%s*$") then
      req.json = {}
    else
      local value = json.decode(req.body)
      req.json = type(value) == "table" and value or false
    end
  end
  if req.json == false then
    return nil, _M.error(422, "Badly formed data. Check API documentation", 21356)
  end
  return req.json
end

-- Form or JSON parameters, by Content-Type (JSON when unsure).
function _M.params(req)
  local ctype = (req.headers["content-type"] or ""):lower()
  if ctype:find("application/x-www-form-urlencoded", 1, true) then
    return http.form_decode(req.body)
  end
  return _M.json_body(req)
end

-- A JSON or query value as an integer (cjson on Lua 5.4 decodes 7 as 7.0;
-- a query gives "7"), or nil when it is not a whole number.
function _M.integer(v)
  v = tonumber(v)
  if v and v == floor(v) and v > -2^53 and v < 2^53 then
    return floor(v)
  end
  return nil
end

return _M
