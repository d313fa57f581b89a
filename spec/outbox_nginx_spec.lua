-- The outbox inside nginx (docs/outbox.md, "Inside nginx"): 4 workers
-- enqueue from a location (a loop of requests, bounded), one drains
-- (sendpulse.outbox.nginx, a flock), and during the drain nginx is reloaded
-- twice and stopped and started once. Each message reaches the sandbox
-- exactly once, and no second holds more than 10 requests.
--
-- Tagged #long (about a minute: 300 sends at 10/s; see
-- spec/outbox_drain_spec.lua for why such specs run once) and #nginx.
local core = require "sendpulse.core"
local sandbox = require "support.sandbox_process"
local nginx_process = require "support.nginx_process"
local sys = require "support.sys"

local TOTAL = 300
-- 300 sends at 10/s are 30 s; a stop and start and two reloads add a few
-- seconds, an entry whose worker was stopped mid-send waits out its lease
-- (15 s). 300 s is several times that.
local DRAIN_BOUND = 300

describe("the outbox in nginx #long #nginx", function()
  local sb, ng, dir
  lazy_setup(function()
    sb = sandbox.start {}
    dir = os.tmpname()
    os.remove(dir)
    ng = nginx_process.start { sandbox_url = sb.url, template = sys.read_file("spec/nginx/outbox.conf"),
                               env = { OUTBOX_DIR = dir } }
  end)
  lazy_teardown(function()
    if ng then ng:stop() end
    if sb then sb:stop() end
    if dir then os.execute("rm -rf " .. sys.shell_quote(dir)) end
  end)

  it("sends what 4 workers enqueued exactly once through two reloads and a stop and start", function()
    for i = 1, TOTAL do
      local res = ng:request("GET", "/enqueue?i=" .. i)
      assert.equal(200, res.status, res.body)
    end
    local store = require("sendpulse.outbox.file_store").new { dir = dir }
    local steps = { math.floor(TOTAL / 4), math.floor(TOTAL / 2), math.floor(TOTAL * 3 / 4) }
    local done_steps = 0
    local deadline = core.monotonic() + DRAIN_BOUND
    while true do
      local sent = sb:control("GET", "/_sandbox/smtp?total=1").total
      if done_steps < 3 and sent >= steps[done_steps + 1] then
        done_steps = done_steps + 1
        if done_steps < 3 then ng:reload() else ng:stop_and_start() end
      end
      local st = assert(store:status())
      if done_steps == 3 and st.pending == 0 and st.in_flight == 0 then break end
      assert(core.monotonic() < deadline, "the drain did not end within " .. DRAIN_BOUND .. " s: "
        .. sent .. " sent\n" .. ng:log():sub(-3000))
      core.sleep(0.3)
    end
    local counts = {}
    for _, row in ipairs(sb:control("GET", "/_sandbox/smtp")) do
      counts[row.subject] = (counts[row.subject] or 0) + 1
    end
    for i = 1, TOTAL do assert.equal(1, counts["ngx-" .. i], "sends of ngx-" .. i) end
    assert.equal(0, store:status().dead)
    local stats = sb:stats()
    assert.is_true(stats.max_in_window["sandbox-id"] <= 10, stats.max_in_window["sandbox-id"])
    -- the metrics location serves what the workers counted
    local text = ng:request("GET", "/metrics").body
    assert.matches("# TYPE sendpulse_outbox_sent_total counter", text, 1, true)
    -- (counted since the stop and start: a shared dict does not outlive nginx)
    assert.matches("sendpulse_outbox_sent_total %d+", text)
  end)
end)

describe("idempotency keys in nginx's shared dict #nginx", function()
  local sb, ng, dir
  lazy_setup(function()
    sb = sandbox.start {}
    dir = os.tmpname()
    os.remove(dir)
    ng = nginx_process.start { sandbox_url = sb.url, template = sys.read_file("spec/nginx/outbox.conf"),
                               env = { OUTBOX_DIR = dir } }
  end)
  lazy_teardown(function()
    if ng then ng:stop() end
    if sb then sb:stop() end
    if dir then os.execute("rm -rf " .. sys.shell_quote(dir)) end
  end)

  it("sends once for one key whichever workers get the calls; another body is a mismatch", function()
    local answers = {}
    -- new connections: reuseport spreads them over the 4 workers
    for i = 1, 8 do answers[i] = ng:request("GET", "/idem?key=k1&subject=Same").body end
    local id = answers[1]:match("^(%S+) sent$")
    assert.is_truthy(id, answers[1])
    for i = 2, 8 do assert.equal(id .. " replayed", answers[i]) end
    assert.equal("error argument idempotency_mismatch", ng:request("GET", "/idem?key=k1&subject=Other").body)
    local n = 0
    for _, row in ipairs(sb:control("GET", "/_sandbox/smtp")) do
      if row.subject == "Same" then n = n + 1 end
    end
    assert.equal(1, n)
  end)
end)
