--- From CSV records to the contacts SendPulse's add_emails_to_mailing_list
-- takes, and the client-side checks that send a row to the rejects file
-- instead of the API.
--
--   local map = assert(contacts.header({ "Email", "Name", "Phone" }))
--   local contact, reason, bytes = contacts.from_record(map, { "ada@example.com", "Ada", "" })
--   --> { email = "ada@example.com", variables = { Name = "Ada" } }, nil, 48
--   (bytes: what the contact adds to a JSON body, at most; the import's
--   batches are bounded by it)
--
-- Header: one column named `email` (any case, spaces around ignored) is
-- required; a column named `phone` becomes the variable `Phone` (the name
-- SendPulse gives a contact's phone); every other column is a variable of
-- that name. Empty cells are left out (an export writes a contact without a
-- variable as an empty cell, so the round trip is exact).
--
-- Text must be UTF-8 (a JSON body is; a strict server drops the connection
-- on anything else): a header that is not is refused, a row with a cell
-- that is not is rejected, naming the column and the byte. Not replaced:
-- a Latin-1 file would be changed silently, row after row; its rejects say
-- what to do (convert it, e.g. iconv -f latin1 -t utf-8).
local core = require "sendpulse.core"

local type, ipairs, format, lower = type, ipairs, string.format, string.lower
local find, match, gsub, pairs = string.find, string.match, string.gsub, pairs
local json_size = core.json_string_size

-- {"email":,"variables":{}} and a comma: a contact's JSON beside its strings.
local OBJECT = 28

local _M = {}

_M.PHONE_VARIABLE = "Phone"
_M.MAX_EMAIL = 254

local function trim(s) return (gsub(s, "^%s+", ""):gsub("%s+$", "")) end

--- The column map of a header record, or nil and a message.
function _M.header(fields)
  local map = { width = #fields, names = {}, sizes = {} }
  local seen = {}
  for i, raw in ipairs(fields) do
    local size, bad = json_size(raw)
    if not size then
      return nil, format("column %d of the header is not UTF-8 text (byte %d): convert the file to UTF-8", i, bad)
    end
    local name = trim(raw)
    if name == "" then return nil, format("column %d of the header has no name", i) end
    local key = lower(name)
    if seen[key] then return nil, format("the header names the column '%s' twice", name) end
    seen[key] = true
    if key == "email" then map.email = i
    elseif key == "phone" then map.phone = i; map.names[i] = _M.PHONE_VARIABLE
    else map.names[i] = name end
    if map.names[i] then map.sizes[i] = json_size(map.names[i]) + 2 end   -- "name": and a comma
  end
  if not map.email then
    return nil, "the header has no 'email' column (phone-only imports are not supported)"
  end
  return map
end

--- Is `s` an address worth sending? something@domain.tld without spaces,
-- at most 254 bytes. Deliberately no stricter than SendPulse: the API has
-- the last word (its refusals reach the rejects file too).
function _M.valid_email(s)
  return type(s) == "string" and #s <= _M.MAX_EMAIL
    and find(s, "^[^%s@]+@[^%s@]+%.[^%s@.][^%s@]*$") ~= nil
end

local function valid_phone(s)
  local digits = gsub(s, "[%s%-%(%)]", "")
  return match(digits, "^%+?%d+$") ~= nil and #digits >= 7 and #digits <= 16
end

--- A contact { email =, variables = } from a record, nil and the bytes it
-- adds to a JSON body (at most); or nil and the reason the row is rejected.
-- A blank line gives nil, "blank" (skipped, not a reject).
function _M.from_record(map, fields)
  if #fields == 1 and fields[1] == "" then return nil, "blank" end
  if #fields ~= map.width then
    return nil, format("has %d fields, the header has %d", #fields, map.width)
  end
  -- one pass: each cell checked (UTF-8), counted and, if a variable, kept
  local variables, bytes, names, sizes, at = {}, OBJECT, map.names, map.sizes, map.email
  for i = 1, #fields do
    local cell = fields[i]
    local size, bad = json_size(cell)
    if not size then
      return nil, format("column '%s' is not UTF-8 text (byte %d): convert the file to UTF-8",
        i == at and "email" or names[i], bad)
    end
    if i == at then bytes = bytes + size
    elseif cell ~= "" then
      variables[names[i]] = cell
      bytes = bytes + size + sizes[i]
    end
  end
  local email = trim(fields[at])
  if email == "" then return nil, "the email column is empty" end
  if not _M.valid_email(email) then return nil, "not an email address" end
  if map.phone and variables[_M.PHONE_VARIABLE] and not valid_phone(variables[_M.PHONE_VARIABLE]) then
    return nil, "not a phone number"
  end
  return { email = email, variables = variables }, nil, bytes
end

--- A contact from a row of an iterator: { email =, variables = } (a `phone`
-- field joins the variables as Phone). Returns contact, nil, bytes (as
-- from_record), or nil and a reason.
function _M.from_row(row)
  if type(row) ~= "table" then return nil, format("a row must be a table, got %s", type(row)) end
  if type(row.email) ~= "string" or row.email == "" then return nil, "the row has no email" end
  if not _M.valid_email(row.email) then return nil, "not an email address" end
  local bytes = json_size(row.email)
  if not bytes then return nil, "the email is not UTF-8 text" end
  bytes = bytes + OBJECT
  local variables = {}
  if row.variables ~= nil then
    if type(row.variables) ~= "table" then return nil, "variables must be a table" end
    for k, v in pairs(row.variables) do
      if type(k) ~= "string" or (type(v) ~= "string" and type(v) ~= "number") then
        return nil, "variables must map names to strings or numbers"
      end
      local name_size = json_size(k)
      if not name_size then return nil, "a variable's name is not UTF-8 text" end
      local size, bad = 24, nil   -- a number: at most 24 characters
      if type(v) == "string" then size, bad = json_size(v) end
      if not size then return nil, format("variable '%s' is not UTF-8 text (byte %d)", k, bad) end
      bytes = bytes + name_size + size + 2
      variables[k] = v
    end
  end
  if row.phone ~= nil then
    if type(row.phone) ~= "string" or not valid_phone(row.phone) then return nil, "not a phone number" end
    variables[_M.PHONE_VARIABLE] = row.phone
    bytes = bytes + #row.phone + 12
  end
  return { email = row.email, variables = variables }, nil, bytes
end

return _M
