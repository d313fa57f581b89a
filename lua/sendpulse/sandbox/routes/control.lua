-- The sandbox's own control API under /_sandbox/: no auth, no rate limit,
-- no faults, not counted as traffic.
local reply = require "sendpulse.sandbox.reply"
local json = require "sendpulse.sandbox.json"

local pairs, ipairs, sort = pairs, ipairs, table.sort

local _M = {}

local function reset(ctx)
  ctx.server:reset()
  return 200, { result = true }
end

local function configure(ctx)
  local ok, err = ctx.state:configure(reply.json_body(ctx.req))
  if not ok then return reply.error(400, err, 400) end
  return 200, { result = true }
end

-- The configuration in force, secrets left out.
local function show_config(ctx)
  local state = ctx.state
  local accounts = json.array()
  for client_id in pairs(state.accounts) do accounts[#accounts + 1] = client_id end
  sort(accounts)
  return 200, { accounts = accounts, token_ttl = state.token_ttl, rate = state.rate }
end

local function add_fault(ctx)
  local fault, err = ctx.server.faults:add(reply.json_body(ctx.req))
  if not fault then return reply.error(400, err, 400) end
  return 200, { result = true, id = fault.id }
end

local function list_faults(ctx)
  local list = json.array()
  for i, f in ipairs(ctx.server.faults.list) do
    list[i] = { id = f.id, kind = f.kind, path = f.path, method = f.method,
                count = f.count, delay = f.delay, status = f.status,
                probability = f.probability, duration = f.duration }
  end
  return 200, list
end

local function clear_faults(ctx)
  ctx.server.faults:clear()
  return 200, { result = true }
end

local function stats(ctx)
  return 200, ctx.server.stats:summary()
end

-- A list's addresses with how often each was sent to it (`writes`): the
-- API upserts, so only this shows whether an import sent a row twice.
local function book_writes(ctx)
  local book = ctx.state.books[reply.integer(ctx.params.id) or -1]
  if not book then return reply.error(404, "Book not found", 213) end
  local emails = json.array()
  for i, e in ipairs(book.emails) do emails[i] = { email = e.email, writes = e.writes } end
  return 200, { id = book.id, emails = emails }
end

function _M.register(router)
  router:add { method = "POST", path = "/_sandbox/reset", handler = reset, control = true }
  router:add { method = "POST", path = "/_sandbox/config", handler = configure, control = true }
  router:add { method = "GET", path = "/_sandbox/config", handler = show_config, control = true }
  router:add { method = "POST", path = "/_sandbox/faults", handler = add_fault, control = true }
  router:add { method = "GET", path = "/_sandbox/faults", handler = list_faults, control = true }
  router:add { method = "DELETE", path = "/_sandbox/faults", handler = clear_faults, control = true }
  router:add { method = "GET", path = "/_sandbox/stats", handler = stats, control = true }
  router:add { method = "GET", path = "/_sandbox/addressbooks/{id}", handler = book_writes, control = true }
end

return _M
