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
--   webhooks.key(event), webhooks.fresh(events, store, ttl)   (dedupe.lua)
--   webhooks.equal(a, b)                         -> constant-time comparison (secret.lua)
--   webhooks.subscribe(client, { url =, actions = }) -> what changed (subscriptions.lua)
local require = require

local parse = require "sendpulse.webhooks.parse"
local event = require "sendpulse.webhooks.event"
local dedupe = require "sendpulse.webhooks.dedupe"
local secret = require "sendpulse.webhooks.secret"
local receiver = require "sendpulse.webhooks.receiver"

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

function _M.nginx_handler(opts)
  return require("sendpulse.webhooks.nginx").new(opts)
end

function _M.subscribe(client, spec)
  return require("sendpulse.webhooks.subscriptions").sync(client, spec)
end

-- Store constructors, loaded on first use.
_M.stores = {
  memory = function(opts) return require("sendpulse.webhooks.stores.memory").new(opts) end,
  file = function(opts) return require("sendpulse.webhooks.stores.file").new(opts) end,
  redis = function(opts) return require("sendpulse.webhooks.stores.redis").new(opts) end,
  shared_dict = function(name) return require("sendpulse.webhooks.stores.shared_dict").new(name) end,
}
-- Its earlier name, documented in releases before the store families were
-- named alike: kept so that code written against it goes on working.
_M.stores.shdict = _M.stores.shared_dict

return _M
