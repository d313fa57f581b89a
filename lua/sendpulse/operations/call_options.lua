--- The options of one call apart from its content, decided here for both
-- places that take them: client:request's opts, and the second table of a
-- generated method or a helper.
--
--   client:request("GET", "/addressbooks", { timeout = 5 })
--   client.email:create_mailing_list({ bookName = "Newsletter" }, { timeout = 5 })
--   for list in client.email:each("get_mailing_lists", nil, { timeout = 5 }) do ... end
--
-- They are timeout, attempt_timeout, headers, idempotent, raw and
-- idempotency_key (docs/outbox.md): the
-- names (NAMES, LIST) and the rule each value must keep (RULES, rule) live
-- here, and sendpulse.client and sendpulse.operations both read them, so
-- the two never disagree and neither requires the other for them. A
-- method builds the rest of client:request's opts (the content) from its
-- first table; a call option found in the first table, where it would be
-- sent to the API as a field, is refused unless the operation has a field
-- of that name.

local caller_headers = require "sendpulse.wire.headers"

local type, pairs, tostring = type, pairs, tostring
local format, concat, sort = string.format, table.concat, table.sort

local _M = {}

local function positive_seconds(v) return type(v) == "number" and v > 0 and v < 1e6 end
local function boolean(v) return type(v) == "boolean" end
-- (as sendpulse.idempotency.valid_key, a layer above this one)
local function idempotency_key(v)
  return type(v) == "string" and #v >= 1 and #v <= 255 and not v:find("[^\32-\126]")
end

--- The values of the call options but headers (sendpulse.wire.headers
-- checks those, and makes their lines), one rule each: { name, test,
-- "must be ..." }. A list, so that the first wrong one is always the same
-- one reported, whatever the order of the caller's table.
_M.RULES = {
  { "timeout", positive_seconds, "must be a positive number of seconds" },
  { "attempt_timeout", positive_seconds, "must be a positive number of seconds" },
  { "idempotent", boolean, "must be a boolean" },
  { "raw", boolean, "must be a boolean" },
  { "idempotency_key", idempotency_key, "must be a string of 1 to 255 printable ASCII characters" },
}
local by_name = {}
for i = 1, #_M.RULES do
  local rule = _M.RULES[i]
  by_name[rule[1]] = rule
end

--- name -> true for every call option.
_M.NAMES = { headers = true }
for name in pairs(by_name) do _M.NAMES[name] = true end

local list = {}
for name in pairs(_M.NAMES) do list[#list + 1] = name end
sort(list)
--- The names, sorted.
_M.LIST = list
local known = concat(list, ", ")

-- What the method builds itself, from the first table.
local CONTENT = { query = true, json = true, form = true, body = true, content_type = true }

--- nil when v (not nil) is a right value for call option `name`, else the
-- rule it breaks ("must be ...").
function _M.rule(name, v)
  if name == "headers" then
    local lines, why = caller_headers.lines(v)
    if not lines then return (why:gsub("^opts%.headers:? ?", "")) end
    return nil
  end
  local rule = by_name[name]
  if rule and not rule[2](v) then return rule[3] end
  return nil
end

--- nil when `opts` (the second table, or nil) holds call options only, else
--- the message.
function _M.check(opts)
  if opts == nil then return nil end
  if type(opts) ~= "table" then
    return format("the second table (call options: %s) must be a table or nil, got %s", known, type(opts))
  end
  for k in pairs(opts) do
    if not _M.NAMES[k] then
      if CONTENT[k] then
        return format("'%s' is not a call option: the method builds the request from its first table"
          .. " (call options: %s)", tostring(k), known)
      end
      return format("unknown call option '%s' in the second table (known: %s)", tostring(k), known)
    end
    local rule = _M.rule(k, opts[k])
    if rule then return format("call option '%s' %s", k, rule) end
  end
  return nil
end

--- The message for call option `name` given in the first table of
--- service:operation (which has no field of that name).
function _M.misplaced(service, operation, name)
  return format("'%s' is a call option, not a field of this operation: give it in the second table,"
    .. " client.%s:%s({ ... }, { %s = ... })", name, service, operation, name)
end

--- Adds the call options `opts` (checked) to `request`, the opts the
--- method built for client:request (never the caller's table). Headers join
--- the ones the method set (its Accept, which the caller's own Accept
--- replaces).
function _M.add(request, opts)
  for k, v in pairs(opts) do
    local own = request.headers
    if k == "headers" and own and type(v) == "table" then
      local headers = {}
      for name, value in pairs(own) do headers[name] = value end
      for name, value in pairs(v) do
        if type(name) == "string" and name:lower() == "accept" then headers.Accept = nil end
        headers[name] = value
      end
      request.headers = headers
    else
      request[k] = v
    end
  end
  return request
end

return _M
