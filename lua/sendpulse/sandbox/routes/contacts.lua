-- Contacts of the bulk-email service with real state: one address in one
-- list (its variables, phone and status), the variables of a list, and an
-- address across all the lists of the account. Answer shapes after the
-- bulk-email OpenAPI file; an address that is not there is a 404 with
-- SendPulse's "Can't find email address" code (17), never the file's example.
local reply = require "sendpulse.sandbox.reply"
local json = require "sendpulse.sandbox.json"
local books = require "sendpulse.sandbox.routes.addressbooks"

local type, pairs, ipairs, tostring = type, pairs, ipairs, tostring

local _M = {}

local EXPLAIN = books.STATUS_EXPLAIN

local function no_email()
  reply.fail(404, "Email not found", 17)
end

local function invalid(message)
  reply.fail(422, message, 422)
end

-- The list and the entry named by the {id} and {email} path segments (or
-- by `address`), else 404.
local function find_entry(ctx, address)
  local book = books.find_book(ctx)
  local entry = ctx.state:email_entry(book, address or ctx.params.email)
  if not entry then no_email() end
  return book, entry
end

-- A variable value as a string (SendPulse answers them so in this view).
-- Numbers as JSON writes them: a value past 2^63 has no integer form, and
-- format("%d") raised on it, so every later read answered 500.
local function text(v)
  if type(v) == "number" then return json.number_text(v) end
  return tostring(v)
end

-- [{name, type, value}] in the list's order of variables.
local function variables_view(book, entry)
  local list = json.array()
  for _, v in ipairs(book.variables) do
    local value = entry.variables[v.name]
    if value ~= nil then list[#list + 1] = { name = v.name, type = v.type, value = text(value) } end
  end
  return list
end

local function get_email(ctx)
  local book, entry = find_entry(ctx)
  return 200, {
    email = entry.email, abook_id = text(book.id), phone = entry.phone or "",
    status = entry.status, status_explain = EXPLAIN[entry.status],
    variables = variables_view(book, entry),
  }
end

-- {email, variables: [{name, value}, ...]}: changes the variables of one
-- address (others keep theirs); new names join the list's variables.
local function update_variables(ctx)
  local body = reply.params(ctx.req)
  if type(body.email) ~= "string" then invalid("Argument email missing") end
  local vars = body.variables
  if type(vars) ~= "table" or not json.is_array(vars) or #vars == 0 then
    invalid("Argument variables must be a non-empty array")
  end
  local changes = {}
  for _, v in ipairs(vars) do
    if type(v) ~= "table" or type(v.name) ~= "string" or v.name == ""
       or (type(v.value) ~= "string" and type(v.value) ~= "number") then
      invalid("Argument variables must hold {name, value} objects")
    end
    changes[v.name] = v.value
  end
  local book, entry = find_entry(ctx, body.email)
  for name, value in pairs(changes) do entry.variables[name] = value end
  ctx.state:note_variables(book, changes)
  return 200, { result = true }
end

local function list_variables(ctx)
  local book = books.find_book(ctx)
  local list = json.array()
  for i, v in ipairs(book.variables) do list[i] = { name = v.name, type = v.type } end
  return 200, list
end

-- Addresses whose variable equals the value (compared as text).
local function by_variable(ctx)
  local book = books.find_book(ctx)
  local name, wanted = ctx.params.variableName, ctx.params.searchValue
  local list = json.array()
  for _, entry in ipairs(book.emails) do
    local value = entry.variables[name]
    if value ~= nil and text(value) == wanted then
      list[#list + 1] = { email = entry.email, status = entry.status,
                          status_explain = EXPLAIN[entry.status] }
    end
  end
  return 200, list
end

local function update_phone(ctx)
  local body = reply.params(ctx.req)
  if type(body.email) ~= "string" then invalid("Argument email missing") end
  if type(body.phone) ~= "string" or not body.phone:find("^%+?%d+$") then
    invalid("Argument phone is invalid")
  end
  local _, entry = find_entry(ctx, body.email)
  entry.phone = body.phone
  return 200, { result = true }
end

-- The address in every list of the account; 404 when it is in none.
local function everywhere(ctx, address)
  local found = ctx.state:lists_with(ctx.account, address)
  if #found == 0 then no_email() end
  return found
end

local function email_info(ctx)
  local list = json.array()
  for i, f in ipairs(everywhere(ctx, ctx.params.email)) do
    list[i] = { book_id = f.book.id, email = f.entry.email, status = f.entry.status,
                status_explain = EXPLAIN[f.entry.status], variables = f.entry.variables }
  end
  return 200, list
end

local function email_details(ctx)
  local list = json.array()
  for i, f in ipairs(everywhere(ctx, ctx.params.email)) do
    list[i] = { list_name = f.book.name, list_id = f.book.id, source = "api" }
  end
  return 200, list
end

-- {emails: [...]} -> {address: [{book_id, status, status_explain, variables}]}
-- for the addresses found in some list; unknown ones are left out.
local function many_info(ctx)
  local emails = reply.params(ctx.req).emails
  if type(emails) ~= "table" or not json.is_array(emails) or #emails == 0 then
    invalid("Argument emails missing")
  end
  local out = {}
  for _, address in ipairs(emails) do
    if type(address) ~= "string" then invalid("Argument emails is invalid") end
    local found = ctx.state:lists_with(ctx.account, address)
    if #found > 0 then
      local per = json.array()
      for i, f in ipairs(found) do
        per[i] = { book_id = f.book.id, status = f.entry.status,
                   status_explain = EXPLAIN[f.entry.status], variables = f.entry.variables }
      end
      out[address] = per
    end
  end
  return 200, out
end

-- Removes the address from every list of the account (none: still true).
local function delete_everywhere(ctx)
  for _, f in ipairs(ctx.state:lists_with(ctx.account, ctx.params.email)) do
    ctx.state:remove_emails(f.book, { ctx.params.email })
  end
  return 200, { result = true }
end

function _M.register(router)
  router:add { method = "POST", path = "/addressbooks/{id}/emails/variable", handler = update_variables }
  router:add { method = "GET", path = "/addressbooks/{id}/emails/{email}", handler = get_email }
  router:add { method = "GET", path = "/addressbooks/{id}/variables", handler = list_variables }
  router:add { method = "GET", path = "/addressbooks/{id}/variables/{variableName}/{searchValue}",
               handler = by_variable }
  router:add { method = "PUT", path = "/addressbooks/{id}/phone", handler = update_phone }
  router:add { method = "GET", path = "/emails/{email}", handler = email_info }
  router:add { method = "GET", path = "/emails/{email}/details", handler = email_details }
  router:add { method = "POST", path = "/emails", handler = many_info }
  router:add { method = "DELETE", path = "/emails/{email}", handler = delete_everywhere }
end

return _M
