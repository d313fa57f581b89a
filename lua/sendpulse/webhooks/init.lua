--- SendPulse's webhooks, received safely: parsed into one event shape for
-- the email service, SMTP and chatbots, checked for the URL's secret and
-- the source address, deduplicated, and handed to your code; plus keeping
-- the email service's webhook subscriptions as declared.
-- docs/webhooks.md is the guide; each module's header has the details.
--
--   local webhooks = require "sendpulse.webhooks"
--   webhooks.parse(body [, headers [, limits]])  -> events | nil, err   (parse.lua, event.lua)
--   webhooks.receiver(opts)                      -> a receiver for any server (receiver.lua)
--   webhooks.nginx_handler(opts)                 -> handler:handle() in content_by_lua (nginx.lua)
--   webhooks.stores.memory/file/redis/shared_dict(...) -> dedupe stores (stores/)
--   webhooks.key(event), webhooks.fresh(events, store, ttl) -> new, nil, failures   (dedupe.lua)
--   webhooks.equal(a, b)                         -> constant-time comparison (secret.lua)
--   webhooks.subscribe(client, { url =, actions = }) -> what changed (subscriptions.lua)
local require = require

local parse = require "sendpulse.webhooks.parse"
local event = require "sendpulse.webhooks.event"
local dedupe = require "sendpulse.webhooks.dedupe"
local secret = require "sendpulse.webhooks.secret"
local receiver = require "sendpulse.webhooks.receiver"

---@class sendpulse.webhooks
local _M = { _VERSION = require("sendpulse.version") }

_M.MAX_BODY = parse.MAX_BODY
_M.MAX_EVENTS = parse.MAX_EVENTS
_M.TTL = dedupe.TTL

_M.parse = parse.parse
_M.normalise = event.normalise
_M.key = dedupe.key
_M.fresh = dedupe.fresh
_M.equal = secret.equal
_M.receiver = receiver.new
_M.deliver = receiver.deliver

--- nginx_handler(opts) -> handler; handler:handle() in content_by_lua (nginx.lua).
---@param opts sendpulse.webhooks.HandlerOptions
---@return sendpulse.webhooks.Handler handler
function _M.nginx_handler(opts)
  return require("sendpulse.webhooks.nginx").new(opts)
end

--- subscribe(client, { url =, actions = }) -> what changed (subscriptions.lua).
---@param client sendpulse.Client|sendpulse.SafeClient
---@param spec sendpulse.webhooks.Declaration
---@return sendpulse.webhooks.Changes? changes
---@return sendpulse.Error? err a safe client's failure (err.changes: what was done before it)
function _M.subscribe(client, spec)
  return require("sendpulse.webhooks.subscriptions").sync(client, spec)
end

-- Store constructors, loaded on first use.
local stores = {}

--- A store in this Lua state's memory (stores/memory.lua).
---@param opts? { max_entries?: integer }
---@return sendpulse.webhooks.Store
function stores.memory(opts) return require("sendpulse.webhooks.stores.memory").new(opts) end

--- A store in private files, for the processes of one host (stores/file.lua).
---@param opts? { dir?: string, max_entries?: integer, lock_timeout?: number }
---@return sendpulse.webhooks.Store
function stores.file(opts) return require("sendpulse.webhooks.stores.file").new(opts) end

--- A store in Redis, for receivers on several hosts (stores/redis.lua).
---@param opts? { host?: string, port?: integer, password?: string, db?: integer, timeout?: number,
---   prefix?: string, connection?: table }
---@return sendpulse.webhooks.Store
function stores.redis(opts) return require("sendpulse.webhooks.stores.redis").new(opts) end

--- A store in an nginx shared dict, for all workers of one nginx (stores/shared_dict.lua).
---@param name string|{ dict: string } the lua_shared_dict's name
---@return sendpulse.webhooks.Store
function stores.shared_dict(name) return require("sendpulse.webhooks.stores.shared_dict").new(name) end

_M.stores = stores
-- Its earlier name, documented in releases before the store families were
-- named alike: kept so that code written against it goes on working.
_M.stores.shdict = _M.stores.shared_dict

return _M
