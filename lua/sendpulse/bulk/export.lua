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
-- (statuses are not exported). A path is written to a private temporary
-- file (mode 0600) and renamed when the export is complete, so it never
-- holds half a list (see sink below).
local core = require "sendpulse.core"
local errors = require "sendpulse.errors"
local call_options = require "sendpulse.operations.call_options"
local csv = require "sendpulse.bulk.csv"

local type, pairs, ipairs, pcall, tostring, tonumber, rawget, error =
      type, pairs, ipairs, pcall, tostring, tonumber, rawget, error
local format, concat = string.format, table.concat
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

-- A failure to write the output: a full disk is kind "storage", anything
-- else "argument" (a path that cannot be written).
local function write_error(message, fault)
  return errors.new { kind = fault == "storage" and "storage" or "argument",
                      message = "email:export: " .. tostring(message) }
end

-- Lines are written in pieces of this many bytes.
local FLUSH = 65536

-- Where the lines go: write(line) (raises an error object), finish(ok) ->
-- true | nil, err. A path is written through a private temporary file
-- (core.temp: unnamed where the file system allows, so a killed export
-- leaves nothing; never a file or link someone else put there), mode 0600,
-- renamed over the path when the export is complete; a failed export
-- removes it.
local function sink(out)
  if type(out) == "function" then
    return out, function() return true end
  end
  if io.type(out) == "file" then
    return function(line)
      local ok, err, code = out:write(line)
      if not ok then error(write_error(err, core.storage_errno(code) and "storage" or nil), 0) end
    end, function() out:flush() return true end
  end
  local f, err, fault = core.temp(out, "export")
  if not f then error(write_error(err, fault), 0) end
  local pending, size = {}, 0
  local function flush()
    if size == 0 then return true end
    local ok, werr, wfault = f:write(concat(pending))
    pending, size = {}, 0
    if not ok then return nil, write_error(werr, wfault) end
    return true
  end
  return function(line)
    pending[#pending + 1] = line
    size = size + #line
    if size >= FLUSH then
      local ok, werr = flush()
      if not ok then error(werr, 0) end
    end
  end, function(ok)
    if ok then
      local done, ferr = flush()
      if not done then f:close() return nil, ferr end
      local published, perr, pfault = f:publish()
      if not published then f:close() return nil, write_error(perr, pfault) end
    end
    f:close()   -- an unpublished temporary is removed
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
  if not done then return nil, ferr end
  summary.seconds = monotonic() - started
  return summary
end

--- The email:export helper (registered by sendpulse.bulk).
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
