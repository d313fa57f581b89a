--- Iterators over paginated operations, for the three styles SendPulse uses
-- (the `paging` field of each operation's record):
--
--   limit_offset   limit / offset   (mailing lists, campaigns, templates, SMTP, push, ...)
--   start_count    count / start    (email verifier lists)
--   size_skip      size / skip      (chatbot channels, CRM)
--
--   for list in client.email:each("get_mailing_lists") do print(list.name) end
--   for e in client.email:each("get_emails_from_mailing_list", { id = 7 }, { page_size = 50 }) do ... end
--   local all = client.email:all("get_templates", { owner = "me" }, { timeout = 10 })
--
-- opts: page_size, items, max_items, and the call options (timeout,
-- headers, ...: sendpulse.operations.call_options), given to every page's call.
--
-- Pages are at most 100 items (SendPulse's maximum, also its usual default).
-- The end is the first page shorter than the page size (or empty), or the
-- `total` an answer announces. A page is a JSON array, or an object whose
-- `data` / `list` / `items` (also inside `data`), or its only array field,
-- holds the array; opts.items
-- = function(answer) -> array handles any other shape.
--
-- A server that ignores the position (offset, start or skip) would answer
-- the same full page for ever: a full page equal to the page before (item
-- by item, deeply) ends the walk with a `decode` error (name "paging_loop")
-- instead. A server whose pages differ but never end is bounded only by a
-- `total` in its answers or by opts.max_items.
--
-- A failed page: a raising client raises from the loop; a safe client's
-- iterator yields false, err once and then ends (a for loop stops at the
-- first nil, so the failure cannot be nil, err there), and both checks of
-- the `res, err` idiom catch it:
--   for item, err in client.email:each(...) do if err then ... break end end
-- The same holds for a call that cannot start (no such operation, bad
-- arguments): a raising client raises from each(); a safe client's each()
-- returns such an iterator (and the error as its second value). all()
-- returns items, meta ({ pages = }) from a raising client and items, nil,
-- meta or nil, err from a safe one, as every call does.

local type, pairs, ipairs, next, tostring, rawget, error, math_type =
      type, pairs, ipairs, next, tostring, rawget, error, math.type
local format = string.format

local catalog = require "sendpulse.operations.catalog"
local nearest = require "sendpulse.operations.nearest"
local service_objects = require "sendpulse.operations.service"
local common = require "sendpulse.helpers.common"
local number = require "sendpulse.number"

local _M = {}

_M.MAX_PAGE = 100

-- style -> { page size parameter, position parameter }
_M.STYLES = {
  limit_offset = { "limit", "offset" },
  start_count = { "count", "start" },
  size_skip = { "size", "skip" },
}

-- Positions are counted up page by page: a float beyond MAX_EXACT cannot
-- be (checked where Lua has an integer subtype to use instead).
local function is_count(v, min)
  if not number.is_integer(v) then return false end
  if math_type and math_type(v) ~= "integer" and (v > number.MAX_EXACT or v < -number.MAX_EXACT) then
    return false
  end
  return v >= min
end

local function is_array(v)
  if type(v) ~= "table" then return false end
  if next(v) == nil then return true end
  return v[1] ~= nil and #v > 0
end

--- The items of one page, or nil when the answer has no array where pages
--- keep them.
function _M.items_of(value)
  if is_array(value) then return value end
  if type(value) ~= "table" then return nil end
  for _, key in ipairs { "data", "list", "items" } do
    local v = value[key]
    if is_array(v) then return v end
  end
  local data = value.data
  if type(data) == "table" then
    for _, key in ipairs { "list", "items" } do
      if is_array(data[key]) then return data[key] end
    end
  end
  -- else the one field that holds an array (SMTP bounces keep them in
  -- `emails`, verifier results in `email_addresses`); an empty table counts,
  -- so the empty last page ends the walk
  local found
  for _, v in pairs(value) do
    if is_array(v) then
      if found then return nil end
      found = v
    end
  end
  return found
end

-- The total an answer announces (verifier lists), if any.
local function total_of(value)
  if type(value) ~= "table" then return nil end
  local t = value.total
  if t == nil and type(value.data) == "table" then t = value.data.total end
  return type(t) == "number" and t or nil
end

-- Deep equality of two decoded values (tables of strings, numbers, booleans,
-- null), for "is this page the page before": false at the first difference,
-- which for pages that move on is their first item.
local function same(a, b, depth)
  if a == b then return true end
  if type(a) ~= "table" or type(b) ~= "table" or depth > 32 then return false end
  for k, v in pairs(a) do
    if not same(v, b[k], depth + 1) then return false end
  end
  for k in pairs(b) do
    if a[k] == nil then return false end
  end
  return true
end

local function same_page(a, b)
  if b == nil or #a ~= #b then return false end
  for i = 1, #a do
    if not same(a[i], b[i], 0) then return false end
  end
  return true
end

local OPTS = { "page_size", "items", "max_items" }

-- Checks a call; returns the plan { fn, args, size_key, pos_key, size, pos,
-- items, max_items } or nil, message.
local function plan(self, name, args, opts)
  if type(name) ~= "string" then
    return nil, format("argument 'name' must be an operation name (string), got %s", type(name))
  end
  local service = rawget(self, "_name")
  local op = catalog.operation(service, name)
  if not op then
    local near = nearest.names(catalog.operations(service), name)
    return nil, format("no operation '%s' in service '%s'%s", name, service,
      #near > 0 and (" (nearest: " .. table.concat(near, ", ") .. ")") or "")
  end
  local style = op.paging and _M.STYLES[op.paging]
  if not style then
    return nil, format("operation '%s' is not paginated (no limit/offset, start/count or size/skip parameters)", name)
  end
  if args ~= nil and type(args) ~= "table" then
    return nil, format("argument 'args' must be a table or nil, got %s", type(args))
  end
  for k in pairs(args or {}) do
    if common.call_options.NAMES[k] and not catalog.declares(op, k) then
      return nil, format("'%s' is a call option, not a field of %s: give it in opts,"
        .. " client.%s:each(\"%s\", args, { %s = ... })", k, name, service, name, k)
    end
  end
  local call_opts
  opts, call_opts = common.check_options(opts, OPTS, true)
  if not opts then return nil, call_opts end
  local size_key, pos_key = style[1], style[2]
  local size = opts.page_size
  if size == nil and args then size = args[size_key] end
  if size == nil then size = _M.MAX_PAGE end
  if not is_count(size, 1) or size > _M.MAX_PAGE then
    return nil, format("page size ('%s' or opts.page_size) must be an integer from 1 to %d, got %s",
      size_key, _M.MAX_PAGE, tostring(size))
  end
  local pos = args and args[pos_key] or 0
  if not is_count(pos, 0) then
    return nil, format("argument '%s' must be an integer >= 0, got %s", pos_key, tostring(pos))
  end
  if opts.items ~= nil and type(opts.items) ~= "function" then
    return nil, "option 'items' must be a function(answer) -> array"
  end
  if opts.max_items ~= nil and not is_count(opts.max_items, 1) then
    return nil, "option 'max_items' must be an integer >= 1"
  end
  return {
    -- the helper of that name when there is one (get_templates decodes bodies)
    fn = self[name], name = name, args = args or {},
    size_key = size_key, pos_key = pos_key, size = size, pos = pos,
    items = opts.items or _M.items_of, max_items = opts.max_items, call_opts = call_opts,
  }
end

-- Fetches the page at p.pos. Returns items, done or nil, err.
local function fetch(self, p)
  local args = common.copy(p.args)
  args[p.size_key], args[p.pos_key] = p.size, p.pos
  local ok, value, _, err = common.attempt(p.fn, self, args, p.call_opts)
  if not ok then return nil, err end
  local items = p.items(value)
  if type(items) ~= "table" then
    local errors = require "sendpulse.errors"
    return nil, errors.new { kind = "decode", message = format(
      "%s: the answer holds no array of items (pass opts.items = function(answer) ... end)", p.name) }
  end
  local n = #items
  if n == p.size and same_page(items, p.last) then
    local errors = require "sendpulse.errors"
    return nil, errors.new { kind = "decode", name = "paging_loop", message = format(
      "%s: the page at %s=%s holds the same %d items as the page before: the server ignores '%s'",
      p.name, p.pos_key, tostring(p.pos), n, p.pos_key) }
  end
  p.last = n == p.size and items or nil
  p.pos = p.pos + n
  local total = total_of(value)
  local done = n < p.size or (total ~= nil and p.pos >= total)
  return items, done
end

-- The methods every service object gets from this file (register adds
-- them): for editors (LuaLS), methods of sendpulse.Service, the base of
-- each client.<service> (the safe forms: sendpulse.SafeService).
---@class sendpulse.Service
local Service = {}

-- each's and all's opts: these, and the call options of every page's call.
---@class sendpulse.PageOptions : sendpulse.CallOptions
---@field page_size? integer items per page, at most 100 (default: the operation's own, else 100)
---@field max_items? integer stop after this many items
---@field items? fun(answer: any): any[] the items of a page whose answer holds them elsewhere

--- service:each(name, args, opts) -> iterator over the items of every page.
---@param name string a paginated operation of this service ("get_mailing_lists")
---@param args? table its arguments, as for the operation (the walk starts at their offset)
---@param opts? sendpulse.PageOptions
---@return fun(): any iterator the next item; a raising client raises a failed page from the loop
function Service:each(name, args, opts)
  common.check_self(self, "each")
  local client = rawget(self, "_client")
  local p, msg = plan(self, name, args, opts)
  if not p then
    local err = common.errors.argument(format("%s:each: %s", rawget(self, "_name"), msg))
    if client.raise then return client:fail(err) end
    return service_objects.failed_iterator(err), err
  end
  local page, i, done, finished, count = nil, 0, false, false, 0
  return function()
    if finished then return nil end
    while true do
      if p.max_items and count >= p.max_items then finished = true return nil end
      if page and i < #page then
        i = i + 1
        count = count + 1
        return page[i]
      end
      if done then finished = true return nil end
      local items, d_or_err = fetch(self, p)
      if not items then
        finished = true
        if client.raise then error(d_or_err, 0) end
        return false, d_or_err
      end
      page, i, done = items, 0, d_or_err
    end
  end
end

--- service:all(name, args, opts) -> array of every item (or the client's
--- failure form; a safe client's err carries err.items, the items read
--- before the failure).
---@param name string a paginated operation of this service
---@param args? table its arguments
---@param opts? sendpulse.PageOptions
---@return any[] items every item, in order
---@return { pages: integer } meta
function Service:all(name, args, opts)
  common.check_self(self, "all")
  local p, msg = plan(self, name, args, opts)
  if not p then return common.bad(self, "all", msg) end
  local out, pages = {}, 0
  while true do
    local items, d_or_err = fetch(self, p)
    if not items then
      d_or_err.items = out
      return common.fail(self, d_or_err)
    end
    pages = pages + 1
    for _, item in ipairs(items) do
      if p.max_items and #out >= p.max_items then return common.succeed(self, out, { pages = pages }) end
      out[#out + 1] = item
    end
    if d_or_err then return common.succeed(self, out, { pages = pages }) end
  end
end

function _M.register(add)
  for _, service in ipairs(catalog.services()) do
    add(service, "each", Service.each, "iterator")
    add(service, "all", Service.all)
  end
end

return _M
