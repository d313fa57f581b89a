--- The operations the command knows, from the generated data: the one place
-- the command reads the client's operation tables (help, completion, field
-- types all come through here).
--
--   catalog.services()                 -> { "automation360", ... } sorted
--   catalog.operations(service)        -> { "activate_sender", ... } sorted, or nil
--   catalog.operation(service, name)   -> the record (method, path, path_params, query, body, example, ...)
--   catalog.base(service)              -> "" | "/crm/v1" | ...
--   catalog.fields(op)                 -> { { name =, type =, required =, where = "path"|"query"|"body" } ... }
local catalog = require "sendpulse.operations.catalog"

local ipairs = ipairs

local _M = {}

function _M.services() return catalog.services() end
function _M.operations(service) return catalog.operations(service) end
function _M.operation(service, name) return catalog.operation(service, name) end
function _M.base(service) return catalog.base(service) end

--- The fields of an operation in the order the help lists them: path
--- parameters, query parameters, body fields (a body field that repeats a
--- path parameter is left out).
function _M.fields(op)
  local out, seen = {}, {}
  local function add(list, where)
    for _, f in ipairs(list or {}) do
      if not seen[f.name] and not f.from_path then
        seen[f.name] = true
        out[#out + 1] = { name = f.name, type = f.type, required = f.required and true or false,
                          where = where, enum = f.enum }
      end
    end
  end
  add(op.path_params, "path")
  add(op.query, "query")
  local body = op.body
  if body and body.raw then
    out[#out + 1] = { name = "body", type = body.type, required = body.required and true or false, where = "body" }
  elseif body then
    add(body.fields, body.content == "multipart" and "form" or "body")
  end
  return out
end

--- The field record of `name` in `op`, or nil.
function _M.field(op, name)
  for _, f in ipairs(_M.fields(op)) do
    if f.name == name then return f end
  end
  return nil
end

return _M
