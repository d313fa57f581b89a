--- client.email:export{...}: every contact of a mailing list as CSV, page by
-- page, so memory stays flat for any list size.
--
--   local summary = client.email:export { id = 1234, out = "contacts.csv" }
--   client.email:export { id = 1234, out = io.stdout }
--   client.email:export { id = 1234, out = function(line) ... end }
--   client.email:export({ id = 1234, out = "contacts.csv" }, { timeout = 60 })  -- call options, every page
--   --> { contacts =, columns = { "email", ... }, seconds = }
--
-- The header is `email` and then the list's variables, in the order
-- get_mailing_list_variables gives them; a contact without a variable has
-- an empty cell. The CSV rules are those of the import (sendpulse.bulk.csv),
-- so importing an export gives back the same contacts and variables
-- (statuses are not exported). A path is written to a temporary file and
-- renamed when the export is complete, so it never holds half a list.
local core = require "sendpulse.core"
local errors = require "sendpulse.errors"
local call_options = require "sendpulse.operations.call_options"
local csv = require "sendpulse.bulk.csv"

local type, pairs, ipairs, pcall, tostring, tonumber, rawget, error, assert =
      type, pairs, ipairs, pcall, tostring, tonumber, rawget, error, assert
local format = string.format
local monotonic = core.monotonic

local _M = {}

_M.PAGE = 100

-- Calls fn and returns value or nil, err whatever the client's mode.
local function attempt(fn, ...)
  local ok, value, err = pcall(fn, ...)
  if not ok then return nil, value end
  if value == nil then return nil, err end
  return value
end

local function check(args)
  if type(args) ~= "table" then return "arguments must be a table" end
  for k in pairs(args) do
    if k ~= "id" and k ~= "out" and k ~= "progress" then return format("unknown argument '%s'", tostring(k)) end
  end
  local id = args.id
  if not ((type(id) == "number" and id > 0 and id % 1 == 0) or (type(id) == "string" and id:find("^%d+$"))) then
    return "argument 'id' is required: the mailing list's id (a positive integer)"
  end
  local out = args.out
  if not (type(out) == "string" and out ~= "") and io.type(out) ~= "file" and type(out) ~= "function" then
    return "argument 'out' must be a path, an open file or a function(line)"
  end
  if args.progress ~= nil and type(args.progress) ~= "function" then
    return "argument 'progress' must be a function(p)"
  end
end

-- Where the lines go: write(line), finish(ok) -> true | nil, message.
local function sink(out)
  if type(out) == "function" then
    return out, function() return true end
  end
  if io.type(out) == "file" then
    return function(line) assert(out:write(line)) end, function() out:flush() return true end
  end
  local tmp = format("%s.%d.tmp", out, core.uid() or 0)
  local f, err = io.open(tmp, "wb")
  if not f then error(errors.argument("email:export: cannot write " .. tmp .. ": " .. tostring(err)), 0) end
  return function(line) assert(f:write(line)) end, function(ok)
    local closed, cerr = f:close()
    if not ok then os.remove(tmp) return true end
    if not closed then os.remove(tmp) return nil, tostring(cerr) end
    local renamed, rerr = os.rename(tmp, out)
    if not renamed then os.remove(tmp) return nil, tostring(rerr) end
    return true
  end
end

local function run(service, args, call_opts)
  local id = tonumber(args.id)
  local started = monotonic()
  local vars, err = attempt(service.raw, service, "get_mailing_list_variables", { id = id }, call_opts)
  if not vars then return nil, err end
  local columns, names = { "email" }, {}
  for _, v in ipairs(vars) do
    if type(v) == "table" and type(v.name) == "string" and not names[v.name] then
      names[v.name] = true
      columns[#columns + 1] = v.name
    end
  end
  local write, finish = sink(args.out)
  -- variables a contact has but the list's variables do not name: no column
  local summary = { contacts = 0, columns = columns, unlisted = {} }
  local unlisted = {}
  local ok, failure = pcall(function()
    write(csv.format(columns))
    -- offset paging, one page in memory at a time
    local offset = 0
    while true do
      local page, perr = attempt(service.raw, service, "get_emails_from_mailing_list",
        { id = id, limit = _M.PAGE, offset = offset }, call_opts)
      if not page then error(perr, 0) end
      for _, contact in ipairs(page) do
        local row = { contact.email }
        local values = type(contact.variables) == "table" and contact.variables or {}
        for i = 2, #columns do
          local v = values[columns[i]]
          row[i] = (v == nil or type(v) == "table" or type(v) == "userdata") and "" or v
        end
        for name in pairs(values) do
          if not names[name] and not unlisted[name] then
            unlisted[name] = true
            summary.unlisted[#summary.unlisted + 1] = name
          end
        end
        write(csv.format(row, #columns))
      end
      summary.contacts = summary.contacts + #page
      offset = offset + #page
      if args.progress then args.progress { contacts = summary.contacts, elapsed = monotonic() - started } end
      if #page < _M.PAGE then break end
    end
  end)
  local done, ferr = finish(ok)
  if not ok then return nil, failure end
  if not done then return nil, errors.argument("email:export: " .. ferr) end
  summary.seconds = monotonic() - started
  return summary
end

-- email:export's arguments and answer, for editors (LuaLS).
---@class sendpulse.ExportArgs
---@field id integer the mailing list
---@field out string|file*|fun(line: string) a path (written whole or not at all), a file, or a function
---@field progress? fun(p: { contacts: integer, elapsed: number })

---@class sendpulse.ExportSummary
---@field contacts integer
---@field columns string[] "email", then the list's variables
---@field unlisted string[] variables contacts had that the list does not name
---@field seconds number

--- The email:export helper (registered by sendpulse.bulk).
---@param service sendpulse.api.email
---@param args sendpulse.ExportArgs
---@param call_opts? sendpulse.CallOptions
---@return sendpulse.ExportSummary summary
function _M.export(service, args, call_opts)
  local client = rawget(service, "_client")
  local msg = check(args) or call_options.check(call_opts)
  if msg then return client:fail(errors.argument("email:export: " .. msg)) end
  local ok, summary, err = pcall(run, service, args, call_opts)
  if not ok then return client:fail(summary) end
  if not summary then return client:fail(err) end
  return summary
end

return _M
