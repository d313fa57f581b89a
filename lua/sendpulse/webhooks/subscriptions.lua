--- Keeping the email service's webhooks as declared: say which URL should
-- receive which actions, and the helper makes the account agree, over the
-- operations client.email:get_webhooks / create_webhook / update_webhook /
-- delete_webhook (/v2/email-service/webhook).
--
--   local changes = require("sendpulse.webhooks").subscribe(client, {
--     url = "https://example.com/hooks/sendpulse/<secret>",
--     actions = { "delivered", "open", "unsubscribe" },
--     owned = function(url) return url:find("^https://example%.com/hooks/sendpulse/") end,
--     dry_run = false,
--   })
--   -- changes = { created = {rows}, updated = {rows}, deleted = {rows}, kept = {rows} }
--
-- Rows are SendPulse's: { id, url, action, user_id }. A row is "ours" when
-- owned(row.url) says so (default: its URL is `url`); rows of other URLs
-- are never touched. Among ours: one row per wanted action with `url` is
-- kept; a wanted action that has none is given one, by moving a stale row
-- of that action to `url` (update_webhook: after a secret rotation the old
-- row keeps its id) or else by creating it; every other row of ours
-- (unwanted action, old URL, a second row for one action) is deleted.
-- Creates and moves come before deletes, so a wanted action is never left
-- without a row. A second call with the same declaration changes nothing.
--
-- Failures are reported the client's way (raised, or nil, err for a
-- sendpulse.safe client); the error carries `changes`, what was done
-- before it. Bad arguments are argument errors naming the field, found
-- before any call.
local errors = require "sendpulse.errors"
local json = require "sendpulse.json"

local type, ipairs, pairs, pcall, tostring, getmetatable = type, ipairs, pairs, pcall, tostring, getmetatable
local format = string.format

local _M = {}

-- subscribe's declaration and answer, for editors (LuaLS).
---@class sendpulse.webhooks.Declaration
---@field url string the URL that should receive the actions
---@field actions string[] "delivered", "open", "unsubscribe", ...
---@field owned? fun(url: string): any which rows are ours (default: those whose URL is `url`)
---@field dry_run? boolean say what would change, change nothing

---@alias sendpulse.webhooks.Row { id?: integer, url: string, action: string, user_id?: integer }

---@class sendpulse.webhooks.Changes
---@field created sendpulse.webhooks.Row[]
---@field updated sendpulse.webhooks.Row[]
---@field deleted sendpulse.webhooks.Row[]
---@field kept sendpulse.webhooks.Row[]

local KNOWN = { url = true, actions = true, owned = true, dry_run = true }

local function check(client, spec)
  if type(client) ~= "table" or type(client.email) ~= "table" or type(client.fail) ~= "function" then
    return nil, "argument 'client' must be a sendpulse client (sendpulse.new{...})"
  end
  if type(spec) ~= "table" then return nil, "argument 'spec' must be a table { url =, actions = }" end
  for k in pairs(spec) do
    if not KNOWN[k] then
      return nil, format("unknown field '%s' (known: url, actions, owned, dry_run)", tostring(k))
    end
  end
  local url = spec.url
  if type(url) ~= "string" or not url:find("^[hH][tT][tT][pP][sS]?://[^%s/]+") or #url > 2048
     or url:find("%s") then
    return nil, "field 'url' must be an http:// or https:// URL without spaces (at most 2048 characters)"
  end
  local actions = spec.actions
  if type(actions) ~= "table" or #actions == 0 then
    return nil, "field 'actions' must be a non-empty list of action names (\"delivered\", \"open\", ...)"
  end
  local wanted, order = {}, {}
  for i, a in ipairs(actions) do
    if type(a) ~= "string" or not a:find("^[%w_%-]+$") then
      return nil, format("field 'actions'[%d] must be an action name (letters, digits, _ or -)", i)
    end
    if not wanted[a] then
      wanted[a] = true
      order[#order + 1] = a
    end
  end
  if spec.owned ~= nil and type(spec.owned) ~= "function" then
    return nil, "field 'owned' must be a function(url) -> boolean"
  end
  if spec.dry_run ~= nil and type(spec.dry_run) ~= "boolean" then
    return nil, "field 'dry_run' must be a boolean"
  end
  return { url = url, wanted = wanted, order = order, owned = spec.owned, dry_run = spec.dry_run }
end

-- Calls an operation whatever the client's mode: value, or nil and err.
local function call(client, name, args)
  local ok, value, err = pcall(client.email[name], client.email, args)
  if not ok then
    if errors.is_error(value) then return nil, value end
    error(value, 0)
  end
  if value == nil then return nil, err end
  return value
end

-- The rows of an answer: { success, data = [rows] } or a bare array.
local function rows_of(answer)
  local data = type(answer) == "table" and answer.data or answer
  if type(data) ~= "table" then return {} end
  if data[1] == nil and data.id ~= nil then return { data } end
  local rows = {}
  for _, r in ipairs(data) do
    if type(r) == "table" then rows[#rows + 1] = r end
  end
  return rows
end

local function copy_row(r)
  return { id = r.id, url = r.url, action = r.action, user_id = r.user_id }
end

--- The plan for `rows` (pure: no call): kept, moves ({ row, action }),
-- actions to create, rows to delete.
function _M.plan(rows, decl)
  local owned = decl.owned or function(u) return u == decl.url end
  local kept, stale, have = {}, {}, {}
  for _, r in ipairs(rows) do
    if type(r.url) == "string" and owned(r.url) then
      if r.url == decl.url and decl.wanted[r.action] and not have[r.action] then
        have[r.action] = true
        kept[#kept + 1] = copy_row(r)
      else
        stale[#stale + 1] = copy_row(r)
      end
    end
  end
  local moves, create, used = {}, {}, {}
  for _, a in ipairs(decl.order) do
    if not have[a] then
      local found
      for i, r in ipairs(stale) do
        if not used[i] and r.action == a and r.url ~= decl.url then found = i; break end
      end
      if found then
        used[found] = true
        moves[#moves + 1] = stale[found]
      else
        create[#create + 1] = a
      end
    end
  end
  local delete = {}
  for i, r in ipairs(stale) do
    if not used[i] then delete[#delete + 1] = r end
  end
  return kept, moves, create, delete
end

local function array(t)
  return json.array(t)
end

--- sync(client, spec) -> { created, updated, deleted, kept } (lists of rows)
---@param client sendpulse.Client|sendpulse.SafeClient
---@param spec sendpulse.webhooks.Declaration
---@return sendpulse.webhooks.Changes? changes
---@return sendpulse.Error? err
function _M.sync(client, spec)
  local decl, why = check(client, spec)
  if not decl then
    local e = errors.argument("sendpulse.webhooks.subscribe: " .. why)
    if type(client) == "table" and type(client.fail) == "function" and getmetatable(client) then
      return client:fail(e)
    end
    error(e, 2)
  end
  local answer, err = call(client, "get_webhooks")
  if not answer then return client:fail(err) end
  local kept, moves, create, delete = _M.plan(rows_of(answer), decl)
  local changes = { created = {}, updated = {}, deleted = {}, kept = kept }
  if decl.dry_run then
    for _, a in ipairs(create) do changes.created[#changes.created + 1] = { url = decl.url, action = a } end
    for _, r in ipairs(moves) do
      changes.updated[#changes.updated + 1] = { id = r.id, url = decl.url, action = r.action, user_id = r.user_id }
    end
    changes.deleted = delete
    return changes
  end
  local function failed(e)
    if errors.is_error(e) then e.changes = changes end
    return client:fail(e)
  end
  for _, r in ipairs(moves) do
    local _, uerr = call(client, "update_webhook", { id = r.id, url = decl.url })
    if uerr then return failed(uerr) end
    changes.updated[#changes.updated + 1] = { id = r.id, url = decl.url, action = r.action, user_id = r.user_id }
  end
  if #create > 0 then
    local made, cerr = call(client, "create_webhook", { url = decl.url, actions = array(create) })
    if not made then return failed(cerr) end
    local rows = rows_of(made)
    if #rows == 0 then
      for _, a in ipairs(create) do rows[#rows + 1] = { url = decl.url, action = a } end
    end
    for _, r in ipairs(rows) do changes.created[#changes.created + 1] = copy_row(r) end
  end
  for _, r in ipairs(delete) do
    local _, derr = call(client, "delete_webhook", { id = r.id })
    if derr then return failed(derr) end
    changes.deleted[#changes.deleted + 1] = r
  end
  return changes
end

return _M
