-- Worker code of spec/nginx/webhooks.conf: webhook handlers whose on_event
-- records what it was given in the hook_results dict, which the spec reads
-- through /results. One handler per way of configuring it.
local ngx = ngx  -- luacheck: read globals ngx
local webhooks = require "sendpulse.webhooks"
local cjson = require "cjson"

local _M = {}

local handlers = {}
local results = ngx.shared.hook_results

-- Counts each event by its key ("n:<key>"), remembers the last event per
-- address ("last:<email>"), and refuses events for raise@example.com so
-- that the spec can see on_event's errors logged.
local function record(e)
  if e.email == "raise@example.com" then error("on_event refused " .. e.email) end
  results:incr("n:" .. webhooks.key(e), 1, 0)
  results:incr("total", 1, 0)
  if e.email then results:set("last:" .. e.email, cjson.encode { source = e.source, type = e.type,
    time = e.time, message_id = e.message_id, task_id = e.task_id }) end
end

function _M.init()
  local secret = os.getenv("SENDPULSE_WEBHOOK_SECRET")
  handlers.main = webhooks.nginx_handler { secret = secret, shared_dict = "sendpulse_webhooks", on_event = record }
  handlers.query = webhooks.nginx_handler { secret = secret, shared_dict = "sendpulse_webhooks",
    secret_in = "query", secret_arg = "key", on_event = record }
  handlers.allow = webhooks.nginx_handler { secret = secret, shared_dict = "sendpulse_webhooks",
    allow = { "192.0.2.0/24", "2001:db8::/32" }, on_event = record }
  handlers.slow = webhooks.nginx_handler { secret = secret, store = false, max_pending = 2,
    on_event = function(e) ngx.sleep(1); record(e) end }
  handlers.small = webhooks.nginx_handler { secret = secret, shared_dict = "sendpulse_webhooks",
    max_body = 1000, max_events = 3, on_event = record }
end

function _M.handle(name)
  handlers[name]:handle()
end

-- {"total": n, "counts": {key: n}, "last": {email: event}}
function _M.results()
  local counts, last = {}, {}
  for _, k in ipairs(results:get_keys(0)) do
    if k:sub(1, 2) == "n:" then counts[k:sub(3)] = results:get(k) end
    if k:sub(1, 5) == "last:" then last[k:sub(6)] = cjson.decode(results:get(k)) end
  end
  local body = cjson.encode { total = results:get("total") or 0, counts = counts, last = last }
  ngx.header.content_length = #body
  ngx.print(body)
end

-- How many dedupe keys (as the store writes them: the key, true, a ttl) a
-- 1 MB dict holds before nginx evicts; then fills it through the store,
-- which must warn once that it is full.
function _M.dict_probe()
  local dict = ngx.shared.dict_probe
  dict:flush_all()
  dict:flush_expired()
  local function key(n) return webhooks.key { source = "unknown", raw = { n = n } } end
  local n = 0
  while n < 1000000 do
    local _, _, forcible = dict:add(key(n), true, 3600)
    if forcible then break end
    n = n + 1
  end
  dict:flush_all()
  dict:flush_expired()
  local store = webhooks.stores.shared_dict("dict_probe")
  for i = 1, n + 100 do assert(store:add(key(i), 3600)) end
  local body = cjson.encode { keys = n }
  ngx.header.content_length = #body
  ngx.print(body)
end

return _M
