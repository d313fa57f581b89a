-- The nginx side of spec/outbox_nginx_spec.lua: every worker enqueues from
-- /enqueue?i=N (an SMTP send "ngx-N"); one drains (sendpulse.outbox.nginx).
local sendpulse = require "sendpulse.safe"
local outbox = require "sendpulse.outbox"
local metrics = require "sendpulse.metrics"
local ngx = ngx  -- luacheck: read globals ngx

local _M = {}

-- One outbox per worker: its store keeps what it read of the journal.
local box

local function make(url)
  if box then return box end
  local client = assert(sendpulse.new { client_id = "sandbox-id", client_secret = "sandbox-secret",
    -- guard: 25 ms a slot (support.loaded.GUARD), as spec/support/outbox_child.lua says why
    base_url = url, shared_dict = "sendpulse", timeout = 5, rate_limit = { guard = 0.025 },
    metrics = metrics.new { shared_dict = "sendpulse_metrics" }, idempotency = { grace = 2 } })
  box = assert(outbox.new { client = client, store = "file", dir = os.getenv("OUTBOX_DIR"), lease = 15,
                            backoff_first = 0.5, backoff_max = 4 })
  return box
end

function _M.init_worker(url)
  assert(require("sendpulse.outbox.nginx").start { outbox = function() return make(url) end, interval = 0.5 })
end

function _M.enqueue(url)
  local i = ngx.var.arg_i
  local id, err = make(url):enqueue("smtp", "send", { subject = "ngx-" .. i, from = { email = "shop@example.com" },
    to = { "n" .. i .. "@example.com" }, text = "from nginx " .. i })
  local body = id or tostring(err)
  if not id then ngx.status = 500 end
  ngx.header.content_length = #body
  ngx.print(body)
end

-- /idem?key=K&subject=S: an SMTP send with idempotency key K through a
-- ledger in the shared dict (every worker's), answering the id and
-- whether it was replayed, or the error's kind and reason.
local idem_client
function _M.idem(url)
  idem_client = idem_client or assert(sendpulse.new { client_id = "sandbox-id", client_secret = "sandbox-secret",
    base_url = url, shared_dict = "sendpulse", timeout = 5, idempotency = { store = "shared_dict" } })
  local value, err, meta = idem_client.smtp:send({ subject = ngx.var.arg_subject,
    from = { email = "shop@example.com" }, to = { "idem@example.com" }, text = "once" },
    { idempotency_key = ngx.var.arg_key })
  local body
  if value then
    body = tostring(value.id) .. (meta.replayed and " replayed" or " sent")
  else
    body = "error " .. tostring(err.kind) .. " " .. tostring(err.reason)
  end
  ngx.header.content_length = #body
  ngx.print(body)
end

return _M
