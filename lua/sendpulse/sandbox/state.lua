-- The sandbox's data: configuration (accounts, token lifetime, rate), issued
-- tokens, and each account's mailing lists with their emails. Knows nothing
-- about HTTP; route files turn it into SendPulse's answers.
--
-- An account is named by its client_id.
-- luacheck: ignore 212/self
local socket = require "socket"
local json = require "sendpulse.sandbox.json"

local type, ipairs, pairs, setmetatable = type, ipairs, pairs, setmetatable
local floor, random = math.floor, math.random
local sort, concat = table.sort, table.concat
local lower = string.lower

local _M = {}

-- Ids handed to new mailing lists start here; they are unique across
-- accounts, like SendPulse's.
_M.FIRST_BOOK_ID = 1001
_M.TOKEN_LENGTH = 40

math.randomseed(floor(socket.gettime() * 1e6) % 2^31)

function _M.defaults()
  return {
    accounts = {
      { client_id = "sandbox-id", client_secret = "sandbox-secret",
        api_keys = { "sandbox-api-key" } },
    },
    token_ttl = 3600,
    rate = 10,
  }
end

local State = {}
State.__index = State

function _M.new()
  local self = setmetatable({}, State)
  self:clear()
  assert(self:configure(_M.defaults()))
  return self
end

-- Forget tokens and mailing lists (configuration stays).
function State:clear()
  self.tokens = {}       -- token -> {account = client_id, expires = time}
  self.books = {}        -- id -> book
  self.next_book_id = _M.FIRST_BOOK_ID
  self.data = {}         -- service -> account -> the route file's own data
  self.ids = {}          -- kind -> last id handed out
  self.clock_offset = 0  -- seconds added to the real time (POST /_sandbox/clock)
end

-- The sandbox's time: the real time plus the offset tests move it by, so the
-- 15-minute and one-hour rules (711, 791, 1004) can be crossed at once.
function State:now(real)
  return real + self.clock_offset
end

function State:advance_clock(seconds)
  self.clock_offset = self.clock_offset + seconds
end

-- The data a route file keeps for one account (created empty).
function State:data_of(service, account)
  local per = self.data[service]
  if not per then per = {}; self.data[service] = per end
  local d = per[account]
  if not d then d = {}; per[account] = d end
  return d
end

-- A new id of `kind`, unique across accounts; counts up from `first`.
function State:new_id(kind, first)
  local id = (self.ids[kind] or (first or 1) - 1) + 1
  self.ids[kind] = id
  return id
end

---------------------------------------------------------------------------
-- Configuration

local function check_accounts(list)
  if not json.is_array(list) then return nil, "accounts must be an array" end
  local seen_ids, seen_keys = {}, {}
  for i, a in ipairs(list) do
    local where = "accounts[" .. i .. "]"
    if type(a) ~= "table" then return nil, where .. " must be an object" end
    if type(a.client_id) ~= "string" or a.client_id == "" then
      return nil, where .. ".client_id must be a non-empty string"
    end
    if type(a.client_secret) ~= "string" then
      return nil, where .. ".client_secret must be a string"
    end
    if seen_ids[a.client_id] then return nil, where .. ".client_id is repeated" end
    seen_ids[a.client_id] = true
    if a.api_keys ~= nil then
      if not json.is_array(a.api_keys) then return nil, where .. ".api_keys must be an array" end
      for _, key in ipairs(a.api_keys) do
        if type(key) ~= "string" or key == "" then
          return nil, where .. ".api_keys must hold non-empty strings"
        end
        if seen_keys[key] then return nil, where .. ": an API key is repeated" end
        seen_keys[key] = true
      end
    end
  end
  return true
end

-- Apply any subset of {accounts, token_ttl, rate}. Everything is checked
-- before anything changes. Returns true, or nil and a message.
function State:configure(cfg)
  if type(cfg) ~= "table" then return nil, "configuration must be an object" end
  if cfg.accounts ~= nil then
    local ok, err = check_accounts(cfg.accounts)
    if not ok then return nil, err end
  end
  if cfg.token_ttl ~= nil and (type(cfg.token_ttl) ~= "number" or cfg.token_ttl <= 0) then
    return nil, "token_ttl must be a positive number of seconds"
  end
  if cfg.rate ~= nil and (type(cfg.rate) ~= "number" or cfg.rate < 0
                          or cfg.rate ~= floor(cfg.rate)) then
    return nil, "rate must be a whole number >= 0 (0 turns the limit off)"
  end

  if cfg.accounts ~= nil then
    self.accounts, self.api_keys = {}, {}
    for _, a in ipairs(cfg.accounts) do
      self.accounts[a.client_id] = { client_id = a.client_id, client_secret = a.client_secret }
      for _, key in ipairs(a.api_keys or {}) do self.api_keys[key] = a.client_id end
    end
  end
  if cfg.token_ttl ~= nil then self.token_ttl = cfg.token_ttl end
  if cfg.rate ~= nil then self.rate = floor(cfg.rate) end
  return true
end

---------------------------------------------------------------------------
-- Credentials

-- Whether an account has this client_id.
function State:has_account(client_id)
  return type(client_id) == "string" and self.accounts[client_id] ~= nil
end

function State:check_secret(client_id, secret)
  local a = type(client_id) == "string" and self.accounts[client_id]
  return a and a.client_secret == secret or false
end

local ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"

local function random_token()
  local out = {}
  for i = 1, _M.TOKEN_LENGTH do
    local k = random(1, #ALPHABET)
    out[i] = ALPHABET:sub(k, k)
  end
  return concat(out)
end

-- A new token for `client_id`, valid for token_ttl seconds from `now`.
-- Earlier tokens stay valid until they expire. Returns token, ttl.
function State:issue_token(client_id, now)
  for token, t in pairs(self.tokens) do
    if t.expires <= now then self.tokens[token] = nil end
  end
  local token
  repeat token = random_token() until not self.tokens[token] and not self.api_keys[token]
  self.tokens[token] = { account = client_id, expires = now + self.token_ttl }
  return token, self.token_ttl
end

-- The account a Bearer credential belongs to and how it was recognised
-- ("token" or "api_key"), or nil when it is unknown or expired.
function State:authenticate(credential, now)
  if not credential then return nil end
  local owner = self.api_keys[credential]
  if owner then return owner, "api_key" end
  local t = self.tokens[credential]
  if not t then return nil end
  if t.expires <= now then
    self.tokens[credential] = nil
    return nil
  end
  if not self.accounts[t.account] then return nil end
  return t.account, "token"
end

---------------------------------------------------------------------------
-- Mailing lists

-- An account's lists, ordered by id.
function State:books_of(account)
  local list = {}
  for _, book in pairs(self.books) do
    if book.owner == account then list[#list + 1] = book end
  end
  sort(list, function(a, b) return a.id < b.id end)
  return list
end

-- The list `id` if it belongs to `account`.
function State:book(account, id)
  local book = self.books[id]
  if book and book.owner == account then return book end
  return nil
end

local function name_taken(self, account, name, except)
  for _, book in pairs(self.books) do
    if book.owner == account and book.name == name and book ~= except then return true end
  end
  return false
end

-- Returns the new list, or nil, "exists".
function State:create_book(account, name)
  if name_taken(self, account, name) then return nil, "exists" end
  local id = self.next_book_id
  self.next_book_id = id + 1
  local book = {
    id = id, owner = account, name = name,
    creationdate = os.date("%Y-%m-%d %H:%M:%S"),
    emails = {},   -- entries in the order they were added
    index = {},    -- lower-cased address -> entry
    variables = {},       -- { name =, type = } in the order first seen
    variable_index = {},  -- name -> that record
  }
  self.books[id] = book
  return book
end

-- Returns true, or nil, "exists".
function State:rename_book(book, name)
  if name_taken(self, book.owner, name, book) then return nil, "exists" end
  book.name = name
  return true
end

function State:delete_book(book)
  self.books[book.id] = nil
end

-- A variable's type as SendPulse lists it: "number" for JSON numbers, else
-- "string" (the API also has "date", which it never guesses).
local function variable_type(value)
  return type(value) == "number" and "number" or "string"
end

-- Register the names of `variables` in the list's variable set (first type
-- seen wins, as a column keeps its type). A JSON object has no order, so
-- names new in one call join sorted.
function State:note_variables(book, variables)
  local new = {}
  for name in pairs(variables) do
    if not book.variable_index[name] then new[#new + 1] = name end
  end
  sort(new)
  for _, name in ipairs(new) do
    local v = { name = name, type = variable_type(variables[name]) }
    book.variable_index[name] = v
    book.variables[#book.variables + 1] = v
  end
end

-- The entry of `address` in the list, or nil.
function State:email_entry(book, address)
  return type(address) == "string" and book.index[lower(address)] or nil
end

-- Add or update emails: `items` is a list of {email = ..., variables = {...}}.
-- An address already in the list keeps its place; its variables are merged.
-- `writes` counts how often an address was sent (GET /_sandbox/addressbooks/{id}
-- shows it), so a test can tell an upsert that hid a duplicate send.
function State:add_emails(book, items, status)
  for _, item in ipairs(items) do
    local key = lower(item.email)
    local entry = book.index[key]
    if entry then
      for k, v in pairs(item.variables) do entry.variables[k] = v end
      entry.status = status
      entry.writes = entry.writes + 1
    else
      entry = { email = item.email, status = status, variables = {}, writes = 1 }
      for k, v in pairs(item.variables) do entry.variables[k] = v end
      book.index[key] = entry
      book.emails[#book.emails + 1] = entry
    end
    self:note_variables(book, item.variables)
  end
end

-- Remove addresses (unknown ones are ignored). Returns how many went.
function State:remove_emails(book, addresses)
  local drop = {}
  for _, address in ipairs(addresses) do
    local key = lower(address)
    if book.index[key] then
      drop[book.index[key]] = true
      book.index[key] = nil
    end
  end
  local kept, removed = {}, 0
  for _, entry in ipairs(book.emails) do
    if drop[entry] then removed = removed + 1 else kept[#kept + 1] = entry end
  end
  book.emails = kept
  return removed
end

-- Every list of `account` that holds `address`: { {book =, entry =}, ... } by list id.
function State:lists_with(account, address)
  local found = {}
  for _, book in ipairs(self:books_of(account)) do
    local entry = self:email_entry(book, address)
    if entry then found[#found + 1] = { book = book, entry = entry } end
  end
  return found
end

return _M
