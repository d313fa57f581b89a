-- The sandbox sends webhooks: registered through the email service's API,
-- fed by SMTP and campaign sends and by control calls, batched, retried.
-- The receiving end is a real HTTP listener in this process
-- (support.webhook_sink); what it gets is parsed with sendpulse.webhooks.
local sandbox = require "support.sandbox_process"
local sink_mod = require "support.webhook_sink"
local sendpulse = require "sendpulse"
local webhooks = require "sendpulse.webhooks"
local socket = require "socket"

local SECRET = "sandbox-hook-secret-0123"

describe("sandbox webhooks", function()
  local sb, client, sink

  lazy_setup(function()
    sb = sandbox.start { rate = 0 }
  end)
  lazy_teardown(function()
    if client then client:close() end
    if sb then sb:stop() end
  end)
  before_each(function()
    sb:reset()
    client = sendpulse.new { client_id = "sandbox-id", client_secret = "sandbox-secret", base_url = sb.url }
    sink = sink_mod.new()
  end)
  after_each(function() sink:close() end)

  local function hook_url() return sink.url .. "/hooks/" .. SECRET end
  local function configure(t)
    local v, status = sb:control("POST", "/_sandbox/webhooks/config", t)
    assert.equal(200, status, v and v.message)
  end
  local function outbox() return (sb:control("GET", "/_sandbox/webhooks")) end
  -- The sandbox records an attempt's outcome after the receiver answered,
  -- so a test that already holds the request polls for the record (a fixed
  -- sleep was too short under load).
  local function outbox_when(ready)
    local deadline = socket.gettime() + 5
    local log = outbox()
    while not ready(log) and socket.gettime() < deadline do
      socket.sleep(0.02)
      log = outbox()
    end
    return log
  end
  local function last_outcome_is(outcome)
    return function(log)
      local d = log.deliveries
      return #d > 0 and d[#d].outcome == outcome
    end
  end
  local function send(to)
    local list = {}
    for i, a in ipairs(to) do list[i] = a end
    return client.smtp:send { subject = "Hi", from = "shop@example.com", to = list, html = "<p>Hi</p>" }
  end

  it("registrations: create, list, get, move, delete through the client's operations", function()
    local made = client.email:create_webhook { url = hook_url(), actions = { "delivered", "open" } }
    assert.is_true(made.success)
    assert.equal(2, #made.data)
    assert.equal("delivered", made.data[1].action)
    assert.equal(hook_url(), made.data[2].url)
    local listed = client.email:get_webhooks()
    assert.equal(2, #listed.data)
    local id = made.data[2].id
    assert.equal("open", client.email:get_webhook_by_id { id = id }.data.action)
    client.email:update_webhook { id = id, url = sink.url .. "/elsewhere" }
    assert.equal(sink.url .. "/elsewhere", client.email:get_webhook_by_id { id = id }.data.url)
    assert.same({ true }, client.email:delete_webhook { id = id }.data)
    assert.equal(1, #client.email:get_webhooks().data)
    local ok, err = pcall(client.email.get_webhook_by_id, client.email, { id = id })
    assert.is_false(ok)
    assert.equal(404, err.status)
    local bad, berr = pcall(client.email.create_webhook, client.email, { url = "ftp://x", actions = { "open" } })
    assert.is_false(bad)
    assert.equal(400, berr.status)
    assert.matches("url must be", berr.message)
    bad, berr = pcall(client.email.create_webhook, client.email, { url = hook_url(), actions = sendpulse.array() })
    assert.is_false(bad)
    assert.matches("actions must be", berr.message)
  end)

  it("an SMTP send reaches the receiver as a delivered event, after flush_interval", function()
    configure { flush_interval = 0.3 }
    client.email:create_webhook { url = hook_url(), actions = { "delivered" } }
    local t0 = socket.gettime()
    local sent = send { "ann@example.com" }
    local got = sink:collect(1, 5)
    assert.equal(1, #got, sb:log())
    local req = got[1]
    -- (a lower bound: a loaded machine only delays the flush; 0.05 s for
    -- the two processes' clocks)
    assert.is_true(req.t - t0 >= 0.25, "sent before flush_interval: " .. (req.t - t0))
    assert.equal("POST", req.method)
    assert.equal("/hooks/" .. SECRET, req.path)
    assert.equal("application/json", req.headers["content-type"])
    local events = assert(webhooks.parse(req.body))
    assert.equal(1, #events)
    local e = events[1]
    assert.equal("smtp", e.source)
    assert.equal("delivered", e.type)
    assert.equal("ann@example.com", e.email)
    assert.equal(tonumber(sent.id:match("%x+$"), 16), e.message_id)
    assert.equal("250", e.raw.smtp_server_response_code)
    assert.equal("Hi", e.raw.subject)
    assert.equal("number", type(e.raw.timestamp))   -- SMTP sends integers
    -- the log names where it went, never the path holding the secret
    local log = outbox_when(function(l) return #l.deliveries >= 1 end)
    assert.equal("127.0.0.1:" .. sink.port, log.deliveries[1].target)
    assert.equal("delivered", log.deliveries[1].outcome)
    assert.is_nil(require("cjson").encode(log):find(SECRET, 1, true))
    assert.is_nil(sb:log():find(SECRET, 1, true))
  end)

  it("batches: a full queue goes at once, the rest on flush; only registered actions", function()
    configure { flush_interval = 60, flush_count = 3 }
    client.email:create_webhook { url = hook_url(), actions = { "delivered" } }
    local to = {}
    for i = 1, 7 do to[i] = ("user%d@example.com"):format(i) end
    send(to)
    local got = sink:collect(2, 5)
    assert.equal(2, #got)
    assert.equal(3, #got[1].json)
    assert.equal(3, #got[2].json)
    assert.equal(1, outbox().queued[1].events)
    local flushed = sb:control("POST", "/_sandbox/webhooks/flush")
    assert.equal(1, flushed.batches)
    got = sink:collect(3, 5)
    assert.equal(1, #got[3].json)
    local seen = {}
    for _, req in ipairs(got) do
      for _, e in ipairs(assert(webhooks.parse(req.body))) do seen[#seen + 1] = e.email end
    end
    table.sort(seen)
    assert.same(to, seen)
    -- an "open" registration only: a send queues nothing for it
    sb:reset()
    client.email:create_webhook { url = hook_url(), actions = { "open" } }
    send { "x@example.com" }
    assert.equal(0, #outbox().queued)
  end)

  it("retries a batch answered with a non-2xx status, with the same body, then gives up", function()
    configure { flush_interval = 0.05, retry_delay = 0.1, max_attempts = 3 }
    client.email:create_webhook { url = hook_url(), actions = { "delivered" } }
    send { "ann@example.com" }
    local got = sink:collect(3, 5, function(_, n) return n < 3 and 500 or 204 end)
    assert.equal(3, #got)
    assert.equal(got[1].body, got[2].body)
    assert.equal(got[1].body, got[3].body)
    -- the third attempt leaves 0.2 s after the second's answer, which the
    -- sink sent after stamping the second: a lower bound, whatever the load
    assert.is_true(got[3].t - got[2].t >= 0.15, "the delay doubles")
    local d = outbox_when(last_outcome_is("delivered")).deliveries
    assert.same({ "retry", "retry", "delivered" }, { d[1].outcome, d[2].outcome, d[3].outcome })
    assert.same({ 500, 500, 204 }, { d[1].status, d[2].status, d[3].status })
    -- a receiver that keeps failing: max_attempts, then the batch is dropped
    sb:reset()
    configure { flush_interval = 0.05, retry_delay = 0.05, max_attempts = 2 }
    client.email:create_webhook { url = hook_url(), actions = { "delivered" } }
    send { "bob@example.com" }
    got = sink:collect(5, 1.5, function() return 503 end)
    assert.equal(5, #got)   -- 3 above + 2 now, and no third attempt
    d = outbox_when(last_outcome_is("dropped")).deliveries
    assert.equal("dropped", d[#d].outcome)
    assert.equal(2, #d)
  end)

  it("a receiver that is down: recorded as failed attempts, nothing stops", function()
    configure { flush_interval = 0.05, retry_delay = 0.05, max_attempts = 2 }
    local port = sink.port
    sink:close()
    client.email:create_webhook { url = "http://127.0.0.1:" .. port .. "/h/" .. SECRET, actions = { "delivered" } }
    send { "ann@example.com" }
    local d = outbox_when(last_outcome_is("dropped")).deliveries
    assert.equal(2, #d)
    assert.equal(0, d[1].status)
    assert.matches("cannot connect", d[1].error)
    assert.equal("dropped", d[2].outcome)
    sink = sink_mod.new()   -- for after_each
  end)

  it("opens, clicks and unsubscribes of an SMTP message, when a test says so", function()
    configure { flush_interval = 0.05 }
    client.email:create_webhook { url = hook_url(), actions = { "open", "redirect", "unsubscribe" } }
    local sent = send { "ann@example.com" }
    for _, c in ipairs { { event = "open" }, { event = "click", url = "https://example.com/sale" },
                         { event = "unsubscribe" } } do
      c.message_id = sent.id
      local v = sb:control("POST", "/_sandbox/webhooks/events", c)
      assert.equal(1, v.queued)
    end
    local events = {}
    for _, req in ipairs(sink:collect(1, 5)) do
      for _, e in ipairs(assert(webhooks.parse(req.body))) do events[#events + 1] = e end
    end
    assert.same({ "open", "click", "unsubscribe" }, { events[1].type, events[2].type, events[3].type })
    assert.equal("https://example.com/sale", events[2].link_url)
    for _, e in ipairs(events) do assert.equal("ann@example.com", e.email) end
    local _, status = sb:control("POST", "/_sandbox/webhooks/events", { message_id = "sbx0badbad", event = "open" })
    assert.equal(404, status)
    local _, bad = sb:control("POST", "/_sandbox/webhooks/events", { event = "open" })
    assert.equal(400, bad)
  end)

  it("a campaign send: delivered per address in the email service's format, then opens and clicks", function()
    configure { flush_interval = 0.05 }
    client.email:create_webhook { url = hook_url(), actions = { "delivered", "open", "redirect", "unsubscribe" } }
    local list = client.email:create_mailing_list { bookName = "Hooks" }
    client.email:add_emails_to_mailing_list { id = list.id, emails = { { email = "a@example.com" },
                                                                       { email = "b@example.com" } } }
    local campaign = client.email:create_campaign { sender_name = "Shop", sender_email = "shop@example.com",
      subject = "News", list_id = list.id, body = "<p>News</p>" }
    local got = sink:collect(1, 5)
    local events = assert(webhooks.parse(got[1].body))
    assert.equal(2, #events)
    for i, e in ipairs(events) do
      assert.equal("email", e.source)
      assert.equal("delivered", e.type)
      assert.equal(campaign.id, e.task_id)
      assert.equal(i == 1 and "a@example.com" or "b@example.com", e.email)
      assert.equal("string", type(e.raw.timestamp))   -- the email service sends strings
      assert.equal("string", type(e.raw.task_id))
    end
    -- The three go in one batch, flushed by hand: with a 0.05 s interval a
    -- loaded machine's pause between two of these requests split them.
    configure { flush_interval = 60 }
    for _, c in ipairs { { event = "open" }, { event = "redirect", link_url = "https://example.com/x" },
                         { event = "unsubscribe" } } do
      c.task_id, c.email = campaign.id, "b@example.com"
      assert.equal(1, sb:control("POST", "/_sandbox/webhooks/events", c).queued)
    end
    assert.equal(1, sb:control("POST", "/_sandbox/webhooks/flush").batches)
    got = sink:collect(2, 5)
    local more = assert(webhooks.parse(got[2].body))
    assert.same({ "open", "redirect", "unsubscribe" }, { more[1].type, more[2].type, more[3].type })
    assert.equal("desktop", more[1].raw.open_device)
    assert.equal("https://example.com/x", more[2].link_url)
    assert.is_number(more[2].link_id)
    assert.equal(list.id, more[3].book_id)
  end)

  it("checks its settings, and a reset forgets registrations and queues", function()
    for _, bad in ipairs { { flush_count = 0 }, { flush_count = 1.5 }, { flush_interval = "1" }, { speed = 1 } } do
      local _, status = sb:control("POST", "/_sandbox/webhooks/config", bad)
      assert.equal(400, status)
    end
    configure { flush_interval = 60 }
    client.email:create_webhook { url = hook_url(), actions = { "delivered" } }
    send { "ann@example.com" }
    assert.equal(1, #outbox().queued)
    sb:reset()
    assert.equal(0, #outbox().queued)
    assert.equal(2, outbox().config.flush_interval)
    assert.equal(0, #client.email:get_webhooks().data)
  end)
end)
