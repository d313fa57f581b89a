-- The nginx webhook handler in Debian's nginx with 4 workers
-- (spec/nginx/webhooks.conf, worker code spec/nginx/webhook_app.lua):
-- 1,000 POSTs from a load generator with exact repeats and malformed
-- bodies, every valid event handed to on_event exactly once; bodies kept
-- in a file; the timer backlog; on_event's errors logged; and end to end,
-- a webhook registered in the sandbox fed by an SMTP send.
local nginx_process = require "support.nginx_process"
local sandbox = require "support.sandbox_process"
local loadgen = require "support.loadgen"
local rawhttp = require "support.rawhttp"
local sys = require "support.sys"
local webhooks = require "sendpulse.webhooks"
local sendpulse = require "sendpulse"
local cjson = require "cjson"
local socket = require "socket"

local SECRET = "nginx-hook-secret-7f3a9c"

-- A deterministic generator (the same mix on every run and interpreter).
local function prng(seed)
  local x = seed
  return function(n)
    x = (x * 1103515245 + 12345) % 2147483648
    return x % n + 1
  end
end

-- A body of `n` events, unique for `i`, from the three families in turn.
local function valid_body(i, n)
  local items = {}
  for j = 1, n do
    local kind = (i + j) % 3
    if kind == 0 then
      items[j] = ('{"event":"delivered","timestamp":"%d","task_id":"%d","email":"u%d-%d@example.com"}')
        :format(1700000000 + i, 5000 + i, i, j)
    elseif kind == 1 then
      items[j] = ('{"event":"open","timestamp":%d,"message_id":%d,"recipient":"u%d-%d@example.com","subject":"S"}')
        :format(1700000000 + i, i * 10 + j, i, j)
    else
      items[j] = ('{"service":"telegram","title":"incoming_message","bot":{"id":"b1"},"contact":{"id":"c%d-%d"},'
        .. '"date":%d,"info":{"message":{"text":"hello %d"}}}'):format(i, j, 1700000000 + i, j)
    end
  end
  return "[" .. table.concat(items, ",") .. "]"
end

local MALFORMED = {
  '[{"event":"open",', '{"event":"open","email":"x@example.com"}', "[1,2,3]", "not json at all", "",
  '[{"event":"open"},]', "[[]]", '[{"a":1}] [{"b":2}]', "[null]", ('[{"x":"' .. ("y"):rep(100) .. '"'),
}

local function keys_of(body)
  local list = {}
  for _, e in ipairs(assert(webhooks.parse(body))) do list[#list + 1] = webhooks.key(e) end
  return list
end

describe("webhooks in nginx #nginx", function()
  local ng

  lazy_setup(function()
    ng = nginx_process.start {
      template = sys.read_file("spec/nginx/webhooks.conf"),
      env = { SENDPULSE_WEBHOOK_SECRET = SECRET },
    }
  end)
  lazy_teardown(function()
    if ng then
      local log = ng:log()
      ng:stop()
      -- Our lines never carry the request (nor so the secret). nginx's own
      -- warnings do (the body-in-a-file one above): docs/webhooks.md says so.
      for line in log:gmatch("[^\n]+") do
        if line:find("sendpulse.webhooks", 1, true) then
          assert.is_nil(line:find(SECRET, 1, true), line)
          assert.is_nil(line:find("request: ", 1, true), line)
        end
      end
    end
  end)

  local function results() return cjson.decode(ng:get("/results").body) end

  -- Waits (up to 10 s: refusals are summed up once a second) for a log line.
  local function log_line(text)
    local deadline = socket.gettime() + 10
    repeat
      local line = ng:log():match("[^\n]*" .. text:gsub("%p", "%%%0") .. "[^\n]*")
      if line then return line end
      socket.sleep(0.1)
    until socket.gettime() > deadline
    error("no log line with " .. text .. ":\n" .. ng:log():sub(-3000))
  end

  -- Polls /results until `done(results)` or `timeout` seconds.
  local function wait_for(done, timeout)
    local deadline = socket.gettime() + (timeout or 10)
    local r
    repeat
      r = results()
      if done(r) then return r end
      socket.sleep(0.05)
    until socket.gettime() > deadline
    return r
  end

  it("1,000 POSTs, 20% exact repeats, 5% malformed, plus wrong secrets: each valid event once", function()
    local rand = prng(20261126)
    local requests, kinds, expected, originals = {}, {}, {}, {}
    local n_events = 0
    for i = 1, 750 do
      local body = valid_body(i, 1 + i % 4)
      originals[#originals + 1] = body
      for _, k in ipairs(keys_of(body)) do
        assert.is_nil(expected[k])
        expected[k] = true
        n_events = n_events + 1
      end
      requests[#requests + 1] = { path = "/hooks/" .. SECRET, body = body }
      kinds[#kinds + 1] = "valid"
    end
    for _ = 1, 200 do
      requests[#requests + 1] = { path = "/hooks/" .. SECRET, body = originals[rand(#originals)] }
      kinds[#kinds + 1] = "repeat"
    end
    for i = 1, 50 do
      requests[#requests + 1] = { path = "/hooks/" .. SECRET, body = MALFORMED[(i - 1) % #MALFORMED + 1] }
      kinds[#kinds + 1] = "malformed"
    end
    assert.equal(1000, #requests)
    for i = 1, 25 do
      local wrong = i % 2 == 0 and SECRET:sub(1, -2) .. "x" or "no-secret-here"
      requests[#requests + 1] = { path = "/hooks/" .. wrong, body = valid_body(10000 + i, 2) }
      kinds[#kinds + 1] = "wrong secret"
    end
    -- shuffled: a repeat may come before, or at the same time as, its original
    for i = #requests, 2, -1 do
      local j = rand(i)
      requests[i], requests[j] = requests[j], requests[i]
      kinds[i], kinds[j] = kinds[j], kinds[i]
    end

    local answers = loadgen.run { port = ng.port, requests = requests, concurrency = 16, timeout = 60 }
    local want = { valid = 200, ["repeat"] = 200, malformed = 400, ["wrong secret"] = 403 }
    local tally = {}
    for i, a in ipairs(answers) do
      assert.equal(want[kinds[i]], a.status, kinds[i] .. " request " .. i .. ": " .. tostring(a.error))
      tally[kinds[i]] = (tally[kinds[i]] or 0) + 1
    end
    assert.same({ valid = 750, ["repeat"] = 200, malformed = 50, ["wrong secret"] = 25 }, tally)

    wait_for(function(x) return x.total >= n_events end, 20)
    socket.sleep(0.5)   -- anything late would be a second delivery
    local r = results()
    assert.equal(n_events, r.total)
    local delivered = 0
    for k, count in pairs(r.counts) do
      assert.is_true(expected[k], "an event nobody sent validly was delivered: " .. k)
      assert.equal(1, count, "delivered " .. count .. " times: " .. k)
      delivered = delivered + 1
    end
    assert.equal(n_events, delivered)
    -- the wrong-secret and malformed requests were summed up in the log, without the URL
    log_line("forbidden (403)")
    log_line("bad body (400)")
  end)

  it("reads a body that nginx kept in a file (over client_body_buffer_size)", function()
    local body = valid_body(20000, 200)
    assert.is_true(#body > 20000)
    local res = ng:request("POST", "/hooks-buffered/" .. SECRET, { body = body })
    assert.equal(200, res.status)
    local keys = keys_of(body)
    local r = wait_for(function(x) return x.counts[keys[#keys]] ~= nil end)
    for _, k in ipairs(keys) do assert.equal(1, r.counts[k]) end
    assert.truthy(ng:log():find("a client request body is buffered to a temporary file", 1, true),
      "nginx did not buffer the body to a file")
  end)

  it("answers before on_event runs; beyond max_pending batches it answers 503", function()
    local conn = assert(rawhttp.connect("127.0.0.1", ng.port, 5))   -- one connection: one worker
    local statuses, times = {}, {}
    for i = 1, 3 do
      local t0 = socket.gettime()
      local res = assert(conn:request("POST", "/hooks-slow/" .. SECRET,
        { body = ('[{"event":"open","email":"slow%d@example.com","timestamp":"1"}]'):format(i) }))
      times[i] = socket.gettime() - t0
      statuses[i] = res.status
      if i == 3 then assert.equal("5", res.headers["retry-after"]) end
    end
    conn:close()
    assert.same({ 200, 200, 503 }, statuses)
    -- on_event takes 1 s (spec/nginx/webhook_app.lua): an answer that
    -- waited for it takes that; one that did not, a few ms (a loaded
    -- machine: tens)
    assert.is_true(times[1] < 0.75, "the answer waited for on_event: " .. times[1])
    local r = wait_for(function(x) return x.last["slow2@example.com"] ~= nil end, 10)
    assert.truthy(r.last["slow1@example.com"])
    assert.is_nil(r.last["slow3@example.com"])
    log_line("batches wait for processing (max_pending)")
  end)

  it("logs an error raised by on_event with the event, and goes on with the others", function()
    local res = ng:request("POST", "/hooks/" .. SECRET, { body = [=[[
      {"event":"open","email":"raise@example.com","timestamp":"1700000001","task_id":"1"},
      {"event":"open","email":"after-raise@example.com","timestamp":"1700000001","task_id":"1"}]]=] })
    assert.equal(200, res.status)
    wait_for(function(x) return x.last["after-raise@example.com"] ~= nil end)
    local log = ng:log()
    local line = log:match("[^\n]*on_event failed[^\n]*")
    assert.truthy(line, log:sub(-3000))
    assert.truthy(line:find("on_event refused raise@example.com", 1, true), line)
    local event = line:match("; event: (%b{})")
    assert.truthy(event, line)
    assert.same({ event = "open", email = "raise@example.com", timestamp = "1700000001", task_id = "1" },
                cjson.decode(event))
  end)

  it("405, 403 (secret, allow-list), 400 (size, count) and the query-string secret", function()
    assert.equal(405, ng:get("/hooks/" .. SECRET).status)
    local body = '[{"event":"open","email":"q@example.com","timestamp":"5"}]'
    assert.equal(403, ng:request("POST", "/hooks/", { body = body }).status)
    assert.equal(403, ng:request("POST", "/hooks-allow/" .. SECRET, { body = body }).status)
    assert.equal(200, ng:request("POST", "/hooks-query?key=" .. SECRET, { body = body }).status)
    assert.equal(403, ng:request("POST", "/hooks-query?key=x" .. SECRET, { body = body }).status)
    assert.equal(403, ng:request("POST", "/hooks-query?other=" .. SECRET, { body = body }).status)
    wait_for(function(x) return x.last["q@example.com"] ~= nil end)
    local big = ng:request("POST", "/hooks-small/" .. SECRET, { body = "[" .. (" "):rep(1000) .. "]" })
    assert.equal(400, big.status)
    assert.matches("more than max_body %(1000%)", big.body)
    local many = ng:request("POST", "/hooks-small/" .. SECRET, { body = "[{},{},{},{}]" })
    assert.equal(400, many.status)
    assert.matches("more than max_events %(3%)", many.body)
    -- a Content-Length over max_body is refused before the body is read
    local conn = assert(rawhttp.connect("127.0.0.1", ng.port, 5))
    assert(conn:send("POST /hooks-small/" .. SECRET .. " HTTP/1.1\r\nHost: x\r\nContent-Length: 5000\r\n\r\n"))
    local early = assert(conn:read_response())
    conn:close()
    assert.equal(400, early.status)
    assert.matches("5000 bytes, more than max_body", early.body)
  end)

  it("a 1 MB shared dict holds thousands of keys, and the store warns once when it is full", function()
    local probe = cjson.decode(ng:get("/dict-probe").body)
    print(("\n  shared dict: %d dedupe keys per MB before eviction"):format(probe.keys))
    assert.is_true(probe.keys >= 3000, probe.keys)
    log_line("shared dict 'dict_probe' is full")
    local warnings = 0
    for _ in ng:log():gmatch("shared dict 'dict_probe' is full") do warnings = warnings + 1 end
    assert.equal(1, warnings)
  end)

  describe("end to end with the sandbox", function()
    local sb
    lazy_setup(function() sb = sandbox.start { rate = 0 } end)
    lazy_teardown(function() if sb then sb:stop() end end)

    it("register a webhook, send an SMTP email with the client: nginx's on_event gets the delivered event", function()
      local v, st = sb:control("POST", "/_sandbox/webhooks/config", { flush_interval = 0.2 })
      assert.equal(200, st, v and v.message)
      local client = sendpulse.new { client_id = "sandbox-id", client_secret = "sandbox-secret", base_url = sb.url }
      local changes = webhooks.subscribe(client, { url = ng.url .. "/hooks/" .. SECRET, actions = { "delivered" } })
      assert.equal(1, #changes.created)
      local sent = client.smtp:send { subject = "Order 42", from = "shop@example.com", to = { "e2e@example.com" },
                                      html = "<p>Thanks</p>" }
      local r = wait_for(function(x) return x.last["e2e@example.com"] ~= nil end, 10)
      local got = r.last["e2e@example.com"]
      assert.truthy(got, sb:log())
      assert.equal("smtp", got.source)
      assert.equal("delivered", got.type)
      assert.equal(tonumber(sent.id:match("%x+$"), 16), got.message_id)
      local d = sb:control("GET", "/_sandbox/webhooks").deliveries
      assert.equal(200, d[#d].status)
      client:close()
    end)
  end)
end)
