--- client.smtp:send{...}: one transactional email, checked before any I/O.
--
--   client.smtp:send({
--     subject = "Your order", from = { name = "Shop", email = "shop@example.com" },
--     to = { "ann@example.com", { email = "bob@example.com", name = "Bob" } },
--     html = "<p>Hello</p>",              -- plain UTF-8; Base64 is done here
--     text = "Hello",                     -- optional with html
--     -- or: template = { id = 123, variables = { name = "Ann" } }
--     attachments = { ["note.txt"] = "text" },
--     attachments_binary = { ["logo.png"] = png_bytes },
--     cc = {...}, bcc = {...}, reply_to = "help@example.com",
--   }, { timeout = 10 })      -- the call options, optional
--
-- Addresses are strings or { email =, name = }. Unknown fields are refused
-- (a typo such as `htlm` would otherwise send an empty mail). The request is
-- SendPulse's {"email": {...}} body for POST /smtp/emails.

local type, pairs, ipairs, next, tostring = type, pairs, ipairs, next, tostring
local format = string.format

local common = require "sendpulse.helpers.common"
local encoding = require "sendpulse.helpers.encoding"
local arguments = require "sendpulse.operations.arguments"

local _M = {}

local FIELDS = {
  subject = true, from = true, to = true, html = true, text = true, template = true,
  attachments = true, attachments_binary = true, cc = true, bcc = true, reply_to = true,
  auto_plain_text = true,
}

-- A loose address check: something@something.something, no spaces or
-- commas (the one the generated methods apply to fields of format email).
local looks_like_address = arguments.is_email

-- One address (string or {email, name}) as {email, name?}; nil, message.
local function address(v, where)
  if type(v) == "string" then
    if not looks_like_address(v) then
      return nil, format("%s must be an email address, got '%s'", where, v)
    end
    return { email = v }
  end
  if type(v) ~= "table" then
    return nil, format("%s must be an email address or { email =, name = }, got %s", where, type(v))
  end
  if v.email == nil then return nil, format("%s needs an 'email'", where) end
  if not looks_like_address(v.email) then
    return nil, format("%s.email must be an email address, got %s", where,
      type(v.email) == "string" and ("'" .. v.email .. "'") or type(v.email))
  end
  if v.name ~= nil and type(v.name) ~= "string" then
    return nil, format("%s.name must be a string, got %s", where, type(v.name))
  end
  for k in pairs(v) do
    if k ~= "email" and k ~= "name" then
      return nil, format("%s has an unknown field '%s' (only email and name)", where, tostring(k))
    end
  end
  return { email = v.email, name = v.name }
end

-- A non-empty list of addresses; nil, message.
local function address_list(v, field)
  if type(v) ~= "table" then
    return nil, format("argument '%s' must be a non-empty list of addresses, got %s", field, type(v))
  end
  if v.email ~= nil or next(v) == nil then
    return nil, format("argument '%s' must be a non-empty list of addresses (wrap a single one in { })", field)
  end
  local n = #v
  for k in pairs(v) do
    if type(k) ~= "number" or k < 1 or k > n or k % 1 ~= 0 then
      return nil, format("argument '%s' must be a list (sequence) of addresses", field)
    end
  end
  local out = {}
  for i = 1, n do
    local a, msg = address(v[i], format("%s[%d]", field, i))
    if not a then return nil, "argument " .. msg end
    out[i] = a
  end
  return out
end

-- A map of file name -> string contents; nil, message.
local function file_map(v, field)
  local ok, msg = common.check_file_map(v, field)
  if not ok then return nil, msg end
  return v
end

--- Checks `args` and builds the `email` object of the request (plain text,
-- not yet Base64). Returns it, or nil and the message.
function _M.build(args)
  if type(args) ~= "table" then
    return nil, format("arguments must be a table, got %s", type(args))
  end
  for k in pairs(args) do
    if common.call_options.NAMES[k] then return nil, common.call_options.misplaced("smtp", "send", k) end
    if not FIELDS[k] then
      return nil, format("unknown argument '%s' (known: subject, from, to, html, text, template,"
        .. " attachments, attachments_binary, cc, bcc, reply_to, auto_plain_text)", tostring(k))
    end
  end
  local email = {}
  if type(args.subject) ~= "string" or not args.subject:find("%S") then
    return nil, args.subject == nil and "argument 'subject' is required (a non-empty string)"
      or format("argument 'subject' must be a non-empty string, got %s",
        type(args.subject) == "string" and "a blank string" or type(args.subject))
  end
  email.subject = args.subject

  if args.from == nil then return nil, "argument 'from' is required (an address with an email)" end
  local from, msg = address(args.from, "argument 'from'")
  if not from then return nil, msg end
  -- SendPulse requires a sender name: the address stands in for a missing one.
  from.name = from.name or from.email
  email.from = from

  if args.to == nil then return nil, "argument 'to' is required (a non-empty list of addresses)" end
  local to
  to, msg = address_list(args.to, "to")
  if not to then return nil, msg end
  email.to = to
  for _, field in ipairs { "cc", "bcc" } do
    if args[field] ~= nil then
      local list
      list, msg = address_list(args[field], field)
      if not list then return nil, msg end
      email[field] = list
    end
  end
  if args.reply_to ~= nil then
    local r
    r, msg = address(args.reply_to, "argument 'reply_to'")
    if not r then return nil, msg end
    email.reply_to = r
  end

  local html, text, template = args.html, args.text, args.template
  if template ~= nil then
    if html ~= nil or text ~= nil then
      return nil, "give either 'template' or 'html'/'text', not both"
    end
    if type(template) == "number" or type(template) == "string" then
      email.template = { id = template, variables = {} }
    elseif type(template) == "table" then
      local id, vars = template.id, template.variables
      if type(id) ~= "number" and type(id) ~= "string" then
        return nil, "argument 'template.id' must be a template id (integer or string)"
      end
      if vars ~= nil and type(vars) ~= "table" then
        return nil, format("argument 'template.variables' must be a table of name = value, got %s", type(vars))
      end
      email.template = { id = id, variables = vars or {} }
    else
      return nil, format("argument 'template' must be a template id or { id =, variables = }, got %s", type(template))
    end
  else
    if html == nil and text == nil then
      return nil, "one of 'html', 'text' or 'template' is required"
    end
    if html ~= nil and type(html) ~= "string" then
      return nil, format("argument 'html' must be a string, got %s", type(html))
    end
    if text ~= nil and type(text) ~= "string" then
      return nil, format("argument 'text' must be a string, got %s", type(text))
    end
    email.html, email.text = html, text
  end
  if args.auto_plain_text ~= nil then
    if type(args.auto_plain_text) ~= "boolean" then
      return nil, "argument 'auto_plain_text' must be a boolean"
    end
    email.auto_plain_text = args.auto_plain_text
  elseif email.html and not email.text then
    -- SendPulse then writes the plain-text part itself.
    email.auto_plain_text = true
  end
  for _, field in ipairs { "attachments", "attachments_binary" } do
    if args[field] ~= nil then
      local m
      m, msg = file_map(args[field], field)
      if not m then return nil, msg end
      email[field] = m
    end
  end
  return email
end

-- smtp:send, for editors (LuaLS) a method of client.smtp.
---@class sendpulse.api.smtp
local Smtp = {}

-- The safe form of smtp:send, for editors (LuaLS).
---@class sendpulse.safe_api.smtp
---@field send fun(self: sendpulse.safe_api.smtp, args: sendpulse.SmtpMessage,
---   call_opts?: sendpulse.CallOptions): sendpulse.answer.smtp.send_smtp_email?, sendpulse.Error?, sendpulse.Meta?

-- An address: "ann@example.com" or { email = "ann@example.com", name = "Ann" }.
---@alias sendpulse.Address string|{ email: string, name?: string }

-- smtp:send's message (the top of this file).
---@class sendpulse.SmtpMessage
---@field subject string
---@field from sendpulse.Address
---@field to sendpulse.Address[]
---@field html? string plain UTF-8: the Base64 is done for you
---@field text? string
---@field template? integer|string|{ id: integer|string, variables?: table<string, any> }
---@field cc? sendpulse.Address[]
---@field bcc? sendpulse.Address[]
---@field reply_to? sendpulse.Address
---@field attachments? table<string, string> file name -> text
---@field attachments_binary? table<string, string> file name -> bytes
---@field auto_plain_text? boolean

--- smtp:send(message, call_opts): one email through send_smtp_email,
--- checked before any I/O.
---@param args sendpulse.SmtpMessage
---@param call_opts? sendpulse.CallOptions
---@return sendpulse.answer.smtp.send_smtp_email value
---@return sendpulse.Meta meta
function Smtp:send(args, call_opts)
  common.check_self(self, "send")
  local email, msg = _M.build(args)
  if not email then return common.bad(self, "send", msg) end
  email, msg = encoding.encode_smtp_email(email)
  if not email then return common.bad(self, "send", msg) end
  return common.call(self, "send_smtp_email", { email = email }, call_opts)
end

function _M.register(add)
  add("smtp", "send", Smtp.send)
end

return _M
