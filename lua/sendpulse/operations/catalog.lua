--- The operation records: what every operation of the API is, as data.
--
-- Each service's records are in lua/sendpulse/api/<service>.lua (generated
-- from SendPulse's OpenAPI files by spec/tools/gen_api.lua; never edited by
-- hand) and lua/sendpulse/api/extra.lua (calls the files miss, written by
-- hand). A service's file is loaded the first time something asks for it:
-- a program that calls two services never parses the other seventeen.
--
-- A record holds name, operationId, method, path (without the base path),
-- path_params, query, body, paging, accept and example: see
-- lua/sendpulse/api/REFERENCE.md. Records are shared: never change one.

local pairs, require = pairs, require
local sort = table.sort

local index = require "sendpulse.api"
local extra = require "sendpulse.api.extra"

local _M = {}

-- service name -> { base, generated = records by name, extra = records by name }
local loaded = {}

local function load(service)
  local d = loaded[service]
  if d ~= nil then return d end
  local entry = index.services[service]
  local x = extra[service]
  if not entry and not x then return nil end
  local gen = entry and require(entry.module) or { operations = {}, base = "" }
  d = {
    base = entry and entry.base or gen.base,
    generated = gen.operations,
    extra = x and x.operations or {},
  }
  loaded[service] = d
  return d
end

--- The record of one operation (generated, else hand-written), or nil.
function _M.operation(service, name)
  local d = load(service)
  if not d then return nil end
  return d.generated[name] or d.extra[name]
end

--- Does record `op` declare a field `name` (path, query or body)?
local function listed(list, name)
  for i = 1, list and #list or 0 do
    if list[i].name == name then return true end
  end
  return false
end

function _M.declares(op, name)
  local body = op.body
  return listed(op.path_params, name) or listed(op.query, name)
    or (body ~= nil and (listed(body.fields, name) or (body.raw == true and name == "body")))
end

--- The names of the services, sorted.
function _M.services()
  local list, seen = {}, {}
  for name in pairs(index.services) do list[#list + 1] = name; seen[name] = true end
  for name in pairs(extra) do if not seen[name] then list[#list + 1] = name end end
  sort(list)
  return list
end

--- The base path of a service ("" for the classic services, "/crm/v1", ...),
--- or nil when there is no such service.
function _M.base(service)
  local d = load(service)
  return d and d.base
end

--- The names of the operations of a service, sorted (generated and hand-written).
function _M.operations(service)
  local d = load(service)
  if not d then return nil end
  local list = {}
  for name in pairs(d.generated) do list[#list + 1] = name end
  for name in pairs(d.extra) do if not d.generated[name] then list[#list + 1] = name end end
  sort(list)
  return list
end

return _M
