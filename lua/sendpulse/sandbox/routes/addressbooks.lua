-- Mailing lists (address books) and their emails, after the bulk-email
-- OpenAPI file: paths, parameter names, answer shapes and error examples.
-- Where the file gives no example, the codes come from SendPulse's error table
-- (201 empty list name, 906 email syntax).
local reply = require "sendpulse.sandbox.reply"
local json = require "sendpulse.sandbox.json"

local type, ipairs, next = type, ipairs, next
local lower = string.lower

local _M = {}

_M.MAX_PAGE = 100
_M.MAX_REMOVE = 100

-- Email statuses: added without confirmation -> active; with
-- confirmation ("force", double opt-in) -> new, awaiting confirmation.
local ACTIVE, NEW, UNSUBSCRIBED = 1, 0, 4
local STATUS_EXPLAIN = { [ACTIVE] = "Active", [NEW] = "New", [UNSUBSCRIBED] = "Unsubscribed" }
_M.STATUS_EXPLAIN = STATUS_EXPLAIN

-- Validation helpers end the handler with reply.fail.

local function missing(name)
  reply.fail(422, "Argument " .. name .. " missing", 422)
end

local function invalid(message)
  reply.fail(422, message, 422)
end

-- Local part without spaces or "@", a dotted domain of letters, digits and
-- hyphens.
local function valid_email(s)
  if type(s) ~= "string" then return false end
  local domain = s:match("^[^%s@]+@([^%s@]+)$")
  return domain ~= nil and domain:find("^[%w%-]+%.[%w%-%.]*%w$") ~= nil
         and not domain:find("..", 1, true)
end

-- The caller's list named by the {id} path segment, else 404 / 213.
local function find_book(ctx)
  local digits = ctx.params.id:match("^%d+$")
  local book = digits and ctx.state:book(ctx.account, reply.integer(digits))
  return book or reply.fail(404, "Book not found", 213)
end
-- (also used by routes/contacts.lua)
_M.valid_email, _M.find_book = valid_email, find_book

-- An integer query parameter within bounds, with SendPulse's 422 messages.
local function int_param(query, name, default, min, max)
  local raw = query[name]
  if raw == nil then return default end
  local v = reply.integer(raw) or invalid("Argument " .. name .. " must be integer")
  if v < min then invalid("Argument " .. name .. " must be at least " .. min) end
  if max and v > max then invalid("Argument " .. name .. " may not be greater than " .. max) end
  return v
end

-- {limit, offset} from the query (default 100 and 0, limit at most 100).
local function page_params(query)
  return {
    limit = int_param(query, "limit", _M.MAX_PAGE, 1, _M.MAX_PAGE),
    offset = int_param(query, "offset", 0, 0),
  }
end

local BOOLEANS = { ["true"] = true, ["1"] = true, ["false"] = false, ["0"] = false }

-- An optional boolean query parameter: true, false or nil (absent).
local function bool_param(query, name)
  local raw = query[name]
  if raw == nil then return nil end
  local v = BOOLEANS[lower(raw)]
  if v == nil then invalid("Argument " .. name .. " is invalid") end
  return v
end

local function slice(list, range)
  local page = json.array()
  for i = range.offset + 1, range.offset + range.limit do
    if not list[i] then break end
    page[#page + 1] = list[i]
  end
  return page
end

---------------------------------------------------------------------------
-- Views

local function book_view(book)
  local active = 0
  for _, entry in ipairs(book.emails) do
    if entry.status == ACTIVE then active = active + 1 end
  end
  return {
    id = book.id, name = book.name,
    all_email_qty = #book.emails, active_email_qty = active,
    inactive_email_qty = #book.emails - active,
    creationdate = book.creationdate, status = 0, status_explain = "Active",
  }
end

local function email_view(entry)
  return {
    email = entry.email, status = entry.status,
    status_explain = STATUS_EXPLAIN[entry.status], variables = entry.variables,
  }
end

---------------------------------------------------------------------------
-- Mailing lists

-- A new or changed list name from body field `field`.
local function book_name(body, field)
  local name = body[field]
  if name == nil then missing(field) end
  if type(name) ~= "string" then invalid("Argument " .. field .. " must be string") end
  if not name:find("%S") then reply.fail(400, "Empty mailing list name", 201) end
  return name
end

local function name_in_use()
  reply.fail(422, "Name already in use", 203)
end

local function list_books(ctx)
  local page = slice(ctx.state:books_of(ctx.account), page_params(ctx.query))
  for i, book in ipairs(page) do page[i] = book_view(book) end
  return 200, page
end

local function create_book(ctx)
  local name = book_name(reply.params(ctx.req), "bookName")
  local book = ctx.state:create_book(ctx.account, name) or name_in_use()
  return 200, { id = book.id }
end

-- SendPulse answers a one-element array here, not an object.
local function get_book(ctx)
  return 200, json.array { book_view(find_book(ctx)) }
end

local function rename_book(ctx)
  local book = find_book(ctx)
  local name = book_name(reply.params(ctx.req), "name")
  if not ctx.state:rename_book(book, name) then name_in_use() end
  return 200, { result = true }
end

local function delete_book(ctx)
  ctx.state:delete_book(find_book(ctx))
  return 200, { result = true }
end

---------------------------------------------------------------------------
-- Emails

-- The `emails` field of an add request as a list of {email, variables}.
-- Every element is checked before anything is added.
local function emails_to_add(body)
  local emails = body.emails
  if emails == nil or (type(emails) == "table" and next(emails) == nil) then missing("emails") end
  if not json.is_array(emails) then invalid("Argument emails must be array") end
  local items = {}
  for i, e in ipairs(emails) do
    local address, variables
    if type(e) == "string" then
      address, variables = e, {}
    elseif type(e) == "table" then
      address, variables = e.email, e.variables or {}
      if type(address) ~= "string" then invalid("Argument email is invalid") end
      if type(variables) ~= "table" or #variables > 0 then
        invalid("Argument emails.*.variables is invalid")
      end
    else
      invalid("Argument emails is invalid")
    end
    if not valid_email(address) then reply.fail(400, "Email address syntax error", 906) end
    items[i] = { email = address, variables = variables }
  end
  return items
end

-- Added emails are active, or new (awaiting confirmation) with
-- "confirmation": "force", which needs a sender_email.
local function added_status(body)
  if body.confirmation == nil then return ACTIVE end
  if body.confirmation ~= "force" then invalid("Argument confirmation is invalid") end
  if body.sender_email == nil then missing("sender_email") end
  if type(body.sender_email) ~= "string" or not valid_email(body.sender_email) then
    invalid("Argument sender_email is invalid")
  end
  return NEW
end

local function add_emails(ctx)
  local book = find_book(ctx)
  local body = reply.params(ctx.req)
  local items = emails_to_add(body)
  ctx.state:add_emails(book, items, added_status(body))
  return 200, { result = true }
end

local function remove_emails(ctx)
  local book = find_book(ctx)
  local emails = reply.params(ctx.req).emails
  if emails == nil then missing("emails") end
  if not json.is_array(emails) then invalid("Argument emails must be array") end
  if #emails == 0 then reply.fail(422, "No emails", 303) end
  if #emails > _M.MAX_REMOVE then invalid("Limit is exceeded. Max count: " .. _M.MAX_REMOVE) end
  for _, e in ipairs(emails) do
    if type(e) ~= "string" then invalid("Argument emails is invalid") end
  end
  ctx.state:remove_emails(book, emails)
  return 200, { result = true }
end

-- Unsubscribe addresses from the list (at most 100 a call, as SendPulse):
-- they stay in the list with status 4. Unknown addresses are ignored.
local function unsubscribe_emails(ctx)
  local book = find_book(ctx)
  local emails = reply.params(ctx.req).emails
  if emails == nil then missing("emails") end
  if not json.is_array(emails) then invalid("Argument emails must be array") end
  if #emails == 0 then reply.fail(422, "No emails", 303) end
  if #emails > _M.MAX_REMOVE then invalid("Limit is exceeded. Max count: " .. _M.MAX_REMOVE) end
  for _, e in ipairs(emails) do
    if type(e) ~= "string" then invalid("Argument emails is invalid") end
  end
  for _, e in ipairs(emails) do
    local entry = book.index[lower(e)]
    if entry then entry.status = UNSUBSCRIBED end
  end
  return 200, { result = true }
end

-- The list's emails, filtered by the `active` / `not_active` parameters.
local function filtered_emails(book, query)
  local active = bool_param(query, "active")
  local not_active = bool_param(query, "not_active")
  if active == nil and not_active == nil then return book.emails end
  local list = {}
  for _, entry in ipairs(book.emails) do
    local is_active = entry.status == ACTIVE
    if (active == nil or active == is_active) and (not_active == nil or not_active ~= is_active) then
      list[#list + 1] = entry
    end
  end
  return list
end

local function list_emails(ctx)
  local book = find_book(ctx)
  local range = page_params(ctx.query)
  local order = ctx.query.order
  if order ~= nil and order ~= "asc" and order ~= "desc" then
    invalid("Argument order is invalid")
  end
  local list = filtered_emails(book, ctx.query)
  if order == "desc" then
    local reversed = {}
    for i = #list, 1, -1 do reversed[#reversed + 1] = list[i] end
    list = reversed
  end
  local page = slice(list, range)
  for i, entry in ipairs(page) do page[i] = email_view(entry) end
  return 200, page
end

local function total_emails(ctx)
  return 200, { total = #filtered_emails(find_book(ctx), ctx.query) }
end

function _M.register(router)
  router:add { method = "GET", path = "/addressbooks", handler = list_books }
  router:add { method = "POST", path = "/addressbooks", handler = create_book }
  router:add { method = "GET", path = "/addressbooks/{id}", handler = get_book }
  router:add { method = "PUT", path = "/addressbooks/{id}", handler = rename_book }
  router:add { method = "DELETE", path = "/addressbooks/{id}", handler = delete_book }
  router:add { method = "GET", path = "/addressbooks/{id}/emails", handler = list_emails }
  router:add { method = "POST", path = "/addressbooks/{id}/emails", handler = add_emails }
  router:add { method = "DELETE", path = "/addressbooks/{id}/emails", handler = remove_emails }
  router:add { method = "GET", path = "/addressbooks/{id}/emails/total", handler = total_emails }
  router:add { method = "POST", path = "/addressbooks/{id}/emails/unsubscribe", handler = unsubscribe_emails }
end

return _M
