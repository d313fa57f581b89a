--- The second table of a generated method or a helper: the options of one
-- call, apart from its content.
--
--   client.email:create_mailing_list({ bookName = "Newsletter" }, { timeout = 5 })
--   for list in client.email:each("get_mailing_lists", nil, { timeout = 5 }) do ... end
--
-- They are client:request's opts without the content, which the method
-- builds from the first table: timeout, headers, idempotent, raw (the set
-- is the client's, sendpulse.client.CALL_OPTIONS). Their values are checked
-- here, by the client's rules, so a mistake names the method and the
-- option rather than client:request's opts. A call option found in the first
-- table, where it would be sent to the API as a field, is refused unless
-- the operation has a field of that name.

local type, pairs, tostring = type, pairs, tostring
local format, concat, sort = string.format, table.concat, table.sort

local client = require "sendpulse.client"

local _M = {}

--- name -> true for every call option.
_M.NAMES = client.CALL_OPTIONS

local list = {}
for name in pairs(_M.NAMES) do list[#list + 1] = name end
sort(list)
--- The names, sorted.
_M.LIST = list
local known = concat(list, ", ")

-- What the method builds itself, from the first table.
local CONTENT = { query = true, json = true, form = true, body = true, content_type = true }

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
    local rule = client.call_option_rule(k, opts[k])
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
