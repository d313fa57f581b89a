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
--
-- Cells a spreadsheet would run as a formula (starting with = + - @ TAB CR)
-- get a ' in front (sendpulse.bulk.cells; raw_cells = true writes them as
-- they are); the import takes it away again, so the round trip is exact.
--
-- A server that ignores `offset` (answering the same page again, or pages
-- in any order without end) would make the walk endless. The walk stops
-- with a `decode` error when a full page is the page before again, or when
-- more contacts came than get_emails_total_count says the list holds (asked
-- again when passed, since a list can grow during an export).
--
-- The temporary file is private (core.temp): unnamed where the file system
-- allows (O_TMPFILE), so a signal, a SIGKILL or a power cut leaves nothing
-- behind and two exports to one path each publish a whole file (the last
-- one wins); elsewhere `<out>.<uid>.tmp`, made with O_EXCL, one left by a
-- killed run of this user replaced, anything else there refused.
local core = require "sendpulse.core"
local errors = require "sendpulse.errors"
local call_options = require "sendpulse.operations.call_options"
local csv = require "sendpulse.bulk.csv"
local cells = require "sendpulse.bulk.cells"

local type, pairs, ipairs, pcall, tostring, tonumber, rawget, error =
      type, pairs, ipairs, pcall, tostring, tonumber, rawget, error
local format, concat = string.format, table.concat
local monotonic = core.monotonic
local neutralise_record = cells.neutralise_record

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
    if k ~= "id" and k ~= "out" and k ~= "progress" and k ~= "raw_cells" then
      return format("unknown argument '%s'", tostring(k))
    end
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
  if args.raw_cells ~= nil and type(args.raw_cells) ~= "boolean" then
    return "argument 'raw_cells' must be a boolean"
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

-- How many contacts the list holds: a number, false when the answer has no
-- count (then only a repeated page stops a walk that does not end), or
-- nil, err.
local function list_total(service, id, call_opts)
  local answer, err = attempt(service.raw, service, "get_emails_total_count", { id = id }, call_opts)
  if answer == nil then return nil, err end
  local total = type(answer) == "table" and answer.total
  if type(total) == "number" and total >= 0 and total % 1 == 0 then return total end
  return false
end

local function paging_error(message)
  error(errors.new { kind = "decode", name = "paging_loop", message = "email:export: " .. message }, 0)
end

-- The emails of a page, as one string (to compare it with the next).
local function page_key(page)
  local emails = {}
  for i, contact in ipairs(page) do
    emails[i] = type(contact) == "table" and type(contact.email) == "string" and contact.email or ""
  end
  return concat(emails, "\n")
end

local function run(service, args, call_opts)
  local id = tonumber(args.id)
  local started = monotonic()
  local vars, err = attempt(service.raw, service, "get_mailing_list_variables", { id = id }, call_opts)
  if not vars then return nil, err end
  local total
  total, err = list_total(service, id, call_opts)
  if total == nil then return nil, err end
  local format_cells = args.raw_cells and function(record) return record end or neutralise_record
  local columns, names = { "email" }, {}
  for _, v in ipairs(vars) do
    if type(v) == "table" and type(v.name) == "string" and not names[v.name] then
      names[v.name] = true
      columns[#columns + 1] = v.name
    end
  end
  local write, finish = sink(args.out)
  -- variables a contact has but the list's variables do not name: no column
  local summary = { contacts = 0, columns = columns, unlisted = {}, total = total or nil }
  local unlisted = {}
  local ok, failure = pcall(function()
    write(csv.format(format_cells(columns)))
    -- offset paging, one page in memory at a time
    local offset, previous = 0, nil
    while true do
      local page, perr = attempt(service.raw, service, "get_emails_from_mailing_list",
        { id = id, limit = _M.PAGE, offset = offset }, call_opts)
      if not page then error(perr, 0) end
      -- checked before the page is written: a page that breaks the walk
      -- adds nothing to the output
      if #page == _M.PAGE then
        local key = page_key(page)
        if key == previous then
          paging_error(format("the page at offset %d holds the same %d contacts as the page before: the server "
            .. "ignores 'offset' (stopped after %d contacts)", offset, #page, summary.contacts))
        end
        previous = key
      end
      if total and summary.contacts + #page > total then
        -- the list may have grown meanwhile (an answer without a count, or
        -- a smaller one, keeps the count we have: the walk still ends)
        local again = list_total(service, id, call_opts)
        if again and again > total then total = again end
        if summary.contacts + #page > total then
          paging_error(format("the pages up to offset %d hold %d contacts, more than the %d the list has "
            .. "(get_emails_total_count): the server does not follow 'offset' (stopped after %d contacts)",
            offset, summary.contacts + #page, total, summary.contacts))
        end
        summary.total = total
      end
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
        write(csv.format(format_cells(row, #columns), #columns))
      end
      summary.contacts = summary.contacts + #page
      offset = offset + #page
      if args.progress then
        args.progress { contacts = summary.contacts, total = summary.total, elapsed = monotonic() - started }
      end
      if #page < _M.PAGE then break end
    end
  end)
  local done, ferr = finish(ok)
  if not ok then return nil, failure end
  if not done then return nil, ferr end
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
