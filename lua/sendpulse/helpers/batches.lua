--- Inputs over a per-call limit, split into batches. These helpers replace
-- the operations of the same name, so any input size works:
--
--   email:delete_emails_from_mailing_list{ id =, emails = }       100 per call
--   email:unsubscribe_emails_from_mailing_list{ id =, emails = }  100 per call
--   email:add_emails_to_mailing_list{ id =, emails = }            500 per call (no
--       documented maximum; batches keep one failure from losing a large import)
--   smtp:get_smtp_emails_batch_info{ emails = ids }               500 per call
--
-- args.batch_size (1 .. the limit) picks a smaller batch; it is not sent.
-- The call options (the second table) go with every batch. Every item is
-- checked against the operation's record before the first batch leaves;
-- add_emails_to_mailing_list's items, which SendPulse's file does not
-- describe, against what the API takes (contact_rule below), whatever
-- the number of items.
-- Batches go in order and stop at the first failure, so nothing is lost:
--   success: a report { result = true, batches = { {first =, last =, ok = true}, ... },
--            done = {items processed}, pending = {} }  (for batch info: the
--            records of every batch, in order, with the report as meta.batches)
--   failure: the error of the failed batch, reported the client's way, with
--            err.batches, err.done (processed) and err.pending (not processed:
--            the failed batch and all after it); batch info adds err.records.
-- The caller's tables are never changed.

local type, pairs, ipairs, tostring, assert, rawget, next = type, pairs, ipairs, tostring, assert, rawget, next
local ceil = math.ceil
local format = string.format

local catalog = require "sendpulse.operations.catalog"
local arguments = require "sendpulse.operations.arguments"
local common = require "sendpulse.helpers.common"
local number = require "sendpulse.number"

local _M = {}

-- What a batching helper returns above one batch, for editors (LuaLS).
---@class sendpulse.BatchReport
---@field result true
---@field batches sendpulse.BatchResult[]
---@field done any[] the items processed, in order
---@field pending any[] always empty on success

---@class sendpulse.BatchResult
---@field first integer the batch's first item
---@field last integer its last item
---@field ok boolean
---@field error? sendpulse.Error why it failed

-- An item of add_emails_to_mailing_list: an address, or a contact
-- { email = address, variables = { name = value, ... } } (SendPulse refuses
-- a whole call for one bad address, error 906). nil when it fits, else
-- the rule it breaks and where in the item.
local function contact_rule(v)
  if type(v) == "string" then
    if arguments.is_email(v) then return nil end
    return "must be an email address, got " .. arguments.show(v)
  end
  if type(v) ~= "table" then
    return "must be an email address or a contact { email =, variables = }, got " .. arguments.describe(v)
  end
  if not arguments.is_email(v.email) then
    if v.email == nil then return "is required (string)", ".email" end
    return "must be an email address, got " .. arguments.show(v.email), ".email"
  end
  local vars = v.variables
  if vars ~= nil and (type(vars) ~= "table" or (next(vars) ~= nil and vars[1] ~= nil)) then
    return "must be an object (a table with named fields), got " .. arguments.describe(vars), ".variables"
  end
  return nil
end

-- service, operation, list field, limit, merge records?, a rule for each
-- item besides the record's (nil, or the rule broken and where)
_M.LIMITS = {
  { "email", "delete_emails_from_mailing_list", "emails", 100 },
  { "email", "unsubscribe_emails_from_mailing_list", "emails", 100 },
  { "email", "add_emails_to_mailing_list", "emails", 500, false, contact_rule },
  { "smtp", "get_smtp_emails_batch_info", "emails", 500, true },
}

local function sequence_length(t)
  local n = 0
  for k in pairs(t) do
    if type(k) ~= "number" or k < 1 or k % 1 ~= 0 then return nil end
    n = n + 1
  end
  if n > 0 and t[n] == nil then return nil end
  return n
end

-- The record of the items of field `field` of service:name, or nil.
local function items_record(service, name, field)
  local body = catalog.operation(service, name).body
  for _, f in ipairs(body and body.fields or {}) do
    if f.name == field then return f.items end
  end
  return nil
end

local function slice(list, first, last)
  local out = {}
  for i = first, last do out[#out + 1] = list[i] end
  return out
end

local function batched(name, field, limit, records, item_rule)
  -- The operation's method (meta.lua types its arguments and answer: the
  -- operation's, or a sendpulse.BatchReport above one batch).
  ---@param args table
  ---@param call_opts? sendpulse.CallOptions
  return function(self, args, call_opts)
    common.check_self(self, name)
    local bad_opts = common.call_options.check(call_opts)
    if bad_opts then return common.bad(self, name, bad_opts) end
    -- Leave wrong shapes to the operation's own checks (same messages).
    if type(args) ~= "table" or type(args[field]) ~= "table" then
      if type(args) == "table" and args.batch_size ~= nil then
        args = common.copy(args)
        args.batch_size = nil
      end
      return common.call(self, name, args, call_opts)
    end
    local size = args.batch_size or limit
    if not number.is_integer(size) or size < 1 or size > limit then
      return common.bad(self, name, format("argument 'batch_size' must be an integer from 1 to %d, got %s",
        limit, tostring(size)))
    end
    local list = args[field]
    local n = sequence_length(list)
    if n and item_rule then
      for i = 1, n do
        local rule, at = item_rule(list[i])
        if rule then return common.bad(self, name, format("argument '%s[%d]%s' %s", field, i, at or "", rule)) end
      end
    end
    if n == nil or n <= size then
      -- One call (or a shape the operation's own check refuses, with its
      -- message): the operation's answer, unchanged.
      local call_args = common.copy(args)
      call_args.batch_size = nil
      return common.call(self, name, call_args, call_opts)
    end
    -- Every item checked before the first batch leaves: the operation's
    -- own check sees one batch, after the ones before it were sent.
    local each_item = items_record(rawget(self, "_name"), name, field)
    if each_item then
      local _, msg = arguments.checked({ name = field, type = "array", items = each_item }, list)
      if msg then return common.bad(self, name, msg) end
    end
    local report = { result = true, batches = {}, done = {}, pending = {} }
    local merged = records and {} or nil
    local last_meta
    for first = 1, n, size do
      local last = first + size - 1
      if last > n then last = n end
      local chunk = slice(list, first, last)
      local call_args = common.copy(args)
      call_args.batch_size = nil
      call_args[field] = chunk
      local ok, value, meta, err = common.attempt(common.plain(self, name), self, call_args, call_opts)
      if not ok then
        report.batches[#report.batches + 1] = { first = first, last = last, ok = false, error = err }
        report.pending = slice(list, first, n)
        if common.errors.is_error(err) then
          err.batches, err.done, err.pending = report.batches, report.done, report.pending
          err.records = merged
          err.message = format("%s (batch %d of %d, items %d-%d; %d items processed, %d not: see err.pending)",
            tostring(err.message), #report.batches, ceil(n / size), first, last,
            #report.done, #report.pending)
        end
        return common.fail(self, err)
      end
      report.batches[#report.batches + 1] = { first = first, last = last, ok = true }
      for i = first, last do report.done[#report.done + 1] = list[i] end
      if merged then
        local items = type(value) == "table" and value or {}
        for _, r in ipairs(items) do merged[#merged + 1] = r end
      end
      last_meta = meta
    end
    if merged then
      local meta = last_meta and common.copy(last_meta) or {}
      meta.batches = report.batches
      return common.succeed(self, merged, meta)
    end
    return common.succeed(self, report, last_meta)
  end
end

function _M.register(add)
  for _, l in ipairs(_M.LIMITS) do
    assert(catalog.operation(l[1], l[2]), "sendpulse.helpers.batches: no operation " .. l[1] .. ":" .. l[2])
    add(l[1], l[2], batched(l[2], l[3], l[4], l[5], l[6]))
  end
end

return _M
