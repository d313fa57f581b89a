-- Helpers shared by route files: SendPulse's error envelope, request bodies,
-- and raising an answer from deep inside a handler.
--
-- A handler returns `status, value [, headers]`. Anywhere below it,
-- `reply.fail(status, message, code)` ends the handler with that error
-- answer instead, so validation helpers need no `nil, status, value` chains.
local json = require "sendpulse.sandbox.json"
local http = require "sendpulse.sandbox.http"
local codes = require("sendpulse.errors").codes

local type, floor, tonumber, tostring = type, math.floor, tonumber, tostring
local format = string.format
local error, xpcall, setmetatable, getmetatable = error, xpcall, setmetatable, getmetatable
local traceback = debug.traceback

local _M = {}

-- Marks a raised answer, so it is never mistaken for a Lua error.
local Raised = {}

-- SendPulse's classic error answer: HTTP `status`,
-- {"message": message, "error_code": code (default: the status)}. A code
-- other than the status must be one sendpulse.errors' table knows: the
-- sandbox speaks the codes the client classifies (a route answering a code
-- the table lacks is a bug of the sandbox's, raised here).
function _M.error(status, message, code)
  if code and code ~= status and not codes[code] then
    error(format("sandbox: error code %s is not in sendpulse.errors (define it there first)", tostring(code)), 2)
  end
  return status, { message = message, error_code = code or status }
end

-- End the running handler with `status` and `value`.
function _M.raise(status, value)
  error(setmetatable({ status = status, value = value }, Raised), 0)
end

-- End the running handler with a SendPulse error answer.
function _M.fail(status, message, code)
  _M.raise(_M.error(status, message, code))
end

-- Run `handler(ctx)` and return its status, value, headers, or the answer it
-- raised. Any other error is raised again with its traceback.
function _M.call(handler, ctx)
  local results
  local ok, err = xpcall(function() results = { handler(ctx) } end, function(e)
    if getmetatable(e) == Raised then return e end
    return traceback(tostring(e), 2)
  end)
  if ok then return results[1], results[2], results[3] end
  if getmetatable(err) == Raised then return err.status, err.value end
  error(err, 0)
end

-- The request body as a JSON object (memoized on the request), or nil when
-- it is not one. An empty body reads as an empty object.
function _M.try_json(req)
  if req.json == nil then
    if req.body:find("^%s*$") then
      req.json = {}
    else
      local value = json.decode(req.body)
      req.json = type(value) == "table" and value or false
    end
  end
  return req.json or nil
end

-- Form parameters when the Content-Type says so, else the JSON object; nil
-- when the body cannot be read.
function _M.try_params(req)
  local ctype = (req.headers["content-type"] or ""):lower()
  if ctype:find("application/x-www-form-urlencoded", 1, true) then
    return http.form_decode(req.body)
  end
  return _M.try_json(req)
end

local function badly_formed()
  _M.fail(422, "Badly formed data. Check API documentation", 21356)
end

-- try_json, failing with SendPulse's 422 / 21356 when the body is unreadable.
function _M.json_body(req)
  return _M.try_json(req) or badly_formed()
end

-- try_params, failing with SendPulse's 422 / 21356 when the body is unreadable.
function _M.params(req)
  return _M.try_params(req) or badly_formed()
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

-- {limit, offset} (or other names) from the query: defaults `default` and
-- 0, the size at most `max`. Returns the range, or nil plus a 422 answer.
function _M.page(query, names, default, max)
  names = names or { "limit", "offset" }
  local size_name, pos_name = names[1], names[2]
  local size, pos = default or 100, 0
  if query[size_name] ~= nil then
    size = _M.integer(query[size_name])
    if not size or size < 1 then
      return nil, _M.error(422, "Argument " .. size_name .. " must be a positive integer", 422)
    end
    if max and size > max then
      return nil, _M.error(422, "Argument " .. size_name .. " may not be greater than " .. max, 422)
    end
  end
  if query[pos_name] ~= nil then
    pos = _M.integer(query[pos_name])
    if not pos or pos < 0 then
      return nil, _M.error(422, "Argument " .. pos_name .. " must be at least 0", 422)
    end
  end
  return { limit = size, offset = pos }
end

-- The items of `list` in `range`, through `view` when given, as a JSON array.
function _M.slice(list, range, view)
  local page = json.array()
  for i = range.offset + 1, range.offset + range.limit do
    local item = list[i]
    if item == nil then break end
    page[#page + 1] = view and view(item) or item
  end
  return page
end

-- A string field of a JSON body; nil plus a 422 answer naming it when it is
-- missing or not a non-empty string.
function _M.string_field(body, name, code)
  local v = body[name]
  if v == nil then return nil, _M.error(422, "Argument " .. name .. " missing", code or 422) end
  if type(v) ~= "string" or v == "" then
    return nil, _M.error(422, "Argument " .. name .. " must be a non-empty string", code or 422)
  end
  return v
end

-- A time stamp as SendPulse writes them, "YYYY-MM-DD HH:MM:SS" (UTC).
function _M.date(t)
  return os.date("!%Y-%m-%d %H:%M:%S", floor(t))
end

return _M
