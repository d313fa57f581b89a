-- transport = "multi": non-blocking calls driven by client:poll, against the
-- sandbox over real sockets.
local sendpulse = require "sendpulse"
local safe = require "sendpulse.safe"
local core = require "sendpulse.core"
local sandbox = require "support.sandbox_process"

local SECRET = "sandbox-secret"
local DELAY = 0.2

-- Calls yield from inside the pipeline's pcall: Lua 5.1 (not LuaJIT) cannot.
if _VERSION == "Lua 5.1" and not rawget(_G, "jit") then
  describe("transport multi on Lua 5.1", function()
    it("is refused at construction, naming the reason", function()
      local ok, err = pcall(sendpulse.new, { client_id = "a", client_secret = "b", transport = "multi" })
      assert.is_false(ok)
      assert.matches("Lua 5.2 or later, or LuaJIT", tostring(err))
    end)
    pending("non-blocking calls: they need Lua 5.2+ or LuaJIT")
  end)
  return
end

describe("transport multi", function()
  local sb

  lazy_setup(function()
    sb = sandbox.start {}
  end)

  lazy_teardown(function()
    if sb then sb:stop() end
  end)

  -- An account per test: the token and rate budget are shared per account.
  local account, serial = nil, 0
  before_each(function()
    sb:reset()
    serial = serial + 1
    account = "multi-" .. serial
    sb:configure { accounts = { { client_id = account, client_secret = SECRET } } }
  end)

  local function client(extra, use_safe)
    local opts = { client_id = account, client_secret = SECRET, base_url = sb.url,
                   transport = "multi" }
    for k, v in pairs(extra or {}) do opts[k] = v end
    return (use_safe and safe or sendpulse).new(opts)
  end

  -- Polls until nothing is in flight (bounded); returns the number of polls
  -- that came back while calls were still in flight.
  local function drain(c, timeout, limit)
    local ticks = 0
    for _ = 1, limit or 2000 do
      local n = c:poll(timeout or 0.005)
      if n == 0 then return ticks end
      ticks = ticks + 1
    end
    error("calls still in flight after " .. (limit or 2000) .. " polls")
  end

  local function api_requests()
    local list = {}
    for _, r in ipairs(sb:stats().requests) do
      if r.path == "/addressbooks" then list[#list + 1] = r end
    end
    return list
  end

  describe("20 calls started together, each answered 200 ms late", function()
    local function run_twenty()
      sb:configure { rate = 0 }
      local c = client { rate_limit = { rate = 1000, burst = 50 } }
      sb:fault { kind = "delay", delay = DELAY, count = -1, path = "^/addressbooks$" }
      local handles = {}
      for i = 1, 20 do handles[i] = c:start("GET", "/addressbooks") end
      local started_pending = c:pending()
      local t0 = core.monotonic()
      local ticks = drain(c)
      local elapsed = core.monotonic() - t0
      return c, handles, ticks, elapsed, started_pending
    end

    it("are all in flight at once while the loop keeps ticking", function()
      local c, handles, ticks, _, pending = run_twenty()
      assert.equal(20, pending)           -- start never waited for an answer
      for i = 1, 20 do
        assert.is_true(handles[i]:done())
        local value, meta = handles[i]:result()
        assert.same({}, value)
        assert.equal(200, meta.status)
      end
      -- The loop came back to its caller again and again while they ran (a
      -- poll that waited for the answers would come back once, with none
      -- in flight). Each poll waits 5 ms at most: ~40 ticks in the 0.2 s,
      -- 9 seen with both CPUs busy and a load of 25, each poll held longer.
      assert.is_true(ticks >= 3, "ticks while in flight: " .. ticks)
      -- The server saw all 20 arrive close together: one after another they
      -- would have spread over 19 x 200 ms (together: a few ms, and a
      -- loaded machine adds tens).
      local reqs = api_requests()
      assert.equal(20, #reqs)
      local first, last = math.huge, -math.huge
      for _, r in ipairs(reqs) do
        first, last = math.min(first, r.t), math.max(last, r.t)
      end
      assert.is_true(last - first < 19 * DELAY / 2, "arrivals spread over " .. (last - first) .. " s")
      -- One token for all of them: the others waited for the first fetch.
      assert.equal(1, sb:stats().token_requests)
      c:close()
    end)

    it("finish in well under 20 x 200 ms #timing", function()
      local c, _, _, elapsed = run_twenty()
      -- together they take one delay (0.2-0.3 s); half of one after
      -- another leaves 1.7 s for a loaded machine
      assert.is_true(elapsed < 20 * DELAY / 2, "20 delayed calls took " .. elapsed .. " s")
      c:close()
    end)

    it("leave connections that the next calls reuse", function()
      local c = run_twenty()
      local opened = c:connections()
      assert.is_true(opened >= 2 and opened <= 21, "connections " .. opened)
      local handles = {}
      for i = 1, 10 do handles[i] = c:start("GET", "/addressbooks") end
      drain(c)
      for i = 1, 10 do assert.is_nil(handles[i]:error()) end
      assert.equal(opened, c:connections())
      c:close()
    end)
  end)

  it("runs sequential code in a coroutine with client:run", function()
    local c = client()
    local steps = {}
    local h = c:run(function()
      local made = c:request("POST", "/addressbooks", { json = { bookName = "run-list" } })
      steps[#steps + 1] = "created"
      local lists = c:request("GET", "/addressbooks")
      steps[#steps + 1] = "listed"
      return made.id, #lists
    end)
    assert.is_false(h:done())
    assert.same({}, steps)               -- nothing ran past the first call yet
    drain(c)
    assert.is_true(h:done())
    local id, n = h:result()
    assert.is_number(id)
    assert.equal(1, n)
    assert.same({ "created", "listed" }, steps)
    assert.is_nil(h:error())
    c:close()
  end)

  it("waits for the rate budget without blocking the loop", function()
    local c = client { rate_limit = { rate = 10, burst = 1 } }
    c:request("GET", "/addressbooks")    -- token first (a blocking call works too)
    local handles = {}
    for i = 1, 6 do handles[i] = c:start("GET", "/addressbooks") end
    local ticks = drain(c, 0.002)
    for i = 1, 6 do assert.is_nil(handles[i]:error()) end
    -- 5 of them waited ~100 ms each for a slot, as timers: the loop ticked
    -- (a poll waits 2 ms at most: ~50 ticks a slot; a loaded machine made
    -- each poll ~20 ms: ~25 in the 0.5 s).
    assert.is_true(ticks >= 5, "ticks " .. ticks)
    -- And they really were spaced out by the budget: 0.5 s from the first
    -- to the last at the client; without it, a few ms. The sandbox stamps
    -- an arrival when it gets the CPU, so a pause of the sandbox at the
    -- first arrival shortens the spread it sees: half is kept for that.
    local reqs = api_requests()
    assert.equal(7, #reqs)
    local spread = reqs[7].t - reqs[2].t
    assert.is_true(spread >= 5 * 0.1 / 2, "6 calls at 10/s arrived within " .. spread .. " s")
    c:close()
  end)

  it("retries with backoff as timers, and replays after a 401", function()
    local c = client { retries = 2, retry_delay = 0.05 }
    c:request("GET", "/addressbooks")
    sb:fault { kind = "html500", path = "^/addressbooks$", count = 1 }
    local h1 = c:start("GET", "/addressbooks")
    drain(c)
    local _, meta = h1:result()
    assert.equal(2, meta.attempts)
    sb:fault { kind = "unauthorized", path = "^/addressbooks$", count = 1 }
    local h2 = c:start("GET", "/addressbooks")
    drain(c)
    assert.is_nil(h2:error())
    assert.equal(2, sb:stats().token_requests)
    c:close()
  end)

  it("reports API errors in the handle, raised or as nil, err per client", function()
    local c = client { retries = 0 }
    local h = c:start("GET", "/addressbooks/999999")
    drain(c)
    local err = h:error()
    assert.is_true(sendpulse.is_error(err))
    assert.equal("api", err.kind)
    local ok, raised = pcall(h.result, h)
    assert.is_false(ok)
    assert.equal(err, raised)
    c:close()

    local s = client({ retries = 0 }, true)
    local h2 = s:start("GET", "/addressbooks/999999")
    drain(s)
    local v, err2 = h2:result()
    assert.is_nil(v)
    assert.equal("api", err2.kind)
    s:close()
  end)

  it("reports timeouts and refused connections like the blocking transport", function()
    local c = client { retries = 0 }
    c:request("GET", "/addressbooks")
    sb:fault { kind = "delay", delay = 1, count = 1, path = "^/addressbooks$" }
    local slow = c:start("GET", "/addressbooks", { timeout = 0.3 })
    drain(c)
    assert.equal("timeout", slow:error().kind)
    c:close()

    -- A port nothing listens on: bind one, note it, close it.
    local socket = require "socket"
    local server = assert(socket.bind("127.0.0.1", 0))
    local _, port = server:getsockname()
    server:close()
    local dead = sendpulse.new { api_key = "k", base_url = "http://127.0.0.1:" .. port,
                                 transport = "multi", retries = 0 }
    local h = dead:start("GET", "/addressbooks")
    drain(dead)
    local err = h:error()
    assert.equal("network", err.kind)
    assert.matches("onnect", err.message)
    dead:close()
  end)

  it("cancels a call in flight", function()
    -- Two slots a second: the call after h waits 0.5 s for its slot, the
    -- one after it 1 s, so neither is sent by the one short poll below
    -- even if a loaded machine holds that poll back most of a second.
    local c = client { rate_limit = { rate = 2 } }
    c:request("GET", "/addressbooks")    -- the token, then the call: slots at 0 and 0.5 s
    core.sleep(0.55)                     -- the budget has a slot free again
    sb:fault { kind = "delay", delay = 2, count = 1, path = "^/addressbooks$" }
    local seen
    local h = c:start("GET", "/addressbooks", nil, function(done) seen = done end)
    local other = c:start("GET", "/addressbooks")
    local queued = c:start("GET", "/addressbooks")
    c:poll(0.05)
    assert.is_false(h:done())
    assert.is_true(h:cancel())
    assert.is_true(h:done())
    assert.equal(h, seen)                -- its callback ran, once
    local err = h:error()
    assert.equal("cancelled", err.kind)
    assert.equal("GET", err.method)
    assert.matches("cancelled", tostring(err))
    assert.is_true(err.maybe_sent)       -- its request was on its way
    assert.is_false(err.retryable)
    -- One still waiting for its slot was never sent.
    assert.is_true(queued:cancel())
    assert.is_false(queued:error().maybe_sent)
    assert.is_false(h:cancel())          -- already finished
    drain(c)
    assert.is_nil(other:error())         -- the other call was not disturbed
    assert.equal(0, c:pending())
    c:close()
  end)

  it("gives up a token fetch that is cancelled, so the next call fetches again", function()
    local c = client()
    sb:fault { kind = "delay", delay = 2, count = 1, path = "^/oauth/access_token$" }
    local h = c:start("GET", "/addressbooks")
    c:poll(0.05)
    h:cancel()
    assert.equal("cancelled", h:error().kind)
    local h2 = c:start("GET", "/addressbooks")
    drain(c)
    assert.is_nil(h2:error())
    c:close()
  end)

  it("closes with calls in flight: each gets a cancelled error", function()
    local c = client()
    c:request("GET", "/addressbooks")
    sb:fault { kind = "delay", delay = 2, count = -1, path = "^/addressbooks$" }
    local handles, callbacks = {}, 0
    for i = 1, 3 do
      handles[i] = c:start("GET", "/addressbooks", nil, function() callbacks = callbacks + 1 end)
    end
    local sleeper = c:run(function() c.sleep(5) end)   -- waiting on a timer
    c:poll(0.05)
    c:close()
    for i = 1, 3 do
      local err = handles[i]:error()
      assert.equal("cancelled", err.kind)
      assert.matches("closed", err.message)
    end
    assert.equal("cancelled", sleeper:error().kind)
    assert.equal(3, callbacks)
    assert.equal(0, c:pending())
    c:close()                            -- idempotent
    local ok, err = pcall(c.poll, c)
    assert.is_false(ok)
    assert.matches("closed", tostring(err))
    ok, err = pcall(c.start, c, "GET", "/addressbooks")
    assert.is_false(ok)
    assert.matches("closed", tostring(err))
  end)

  it("can be closed from a completion callback while other calls are in flight", function()
    local c = client()
    c:request("GET", "/addressbooks")
    sb:fault { kind = "delay", delay = 2, count = 1, method = "POST", path = "^/addressbooks$" }
    local slow = c:start("POST", "/addressbooks", { json = { bookName = "slow" } })
    local fast = c:start("GET", "/addressbooks", nil, function() c:close() end)
    drain(c)
    assert.is_nil(fast:error())
    assert.equal("cancelled", slow:error().kind)
    assert.equal(0, c:pending())
  end)

  it("reports an error raised in a completion callback from poll, and loses nothing", function()
    local c = client()
    local h1 = c:start("GET", "/addressbooks", nil, function() error("boom in callback") end)
    local h2 = c:start("GET", "/addressbooks")
    local raised
    for _ = 1, 500 do
      local ok, n = pcall(c.poll, c, 0.01)
      if not ok then raised = n end
      if ok and n == 0 then break end
    end
    assert.is_truthy(raised)
    assert.equal("callback", raised.kind)
    assert.matches("boom in callback", raised.message)
    assert.matches("boom in callback", tostring(raised.cause))
    assert.is_nil(h1:error())            -- the call itself succeeded
    assert.is_nil(h2:error())
    c:close()

    local s = client(nil, true)
    s:start("GET", "/addressbooks", nil, function() error({ mine = true }) end)
    local v, err
    for _ = 1, 500 do
      v, err = s:poll(0.01)
      if v == nil or v == 0 then break end
    end
    assert.is_nil(v)
    assert.equal("callback", err.kind)
    assert.is_true(err.cause.mine)
    assert.equal(0, s:poll())
    s:close()
  end)

  it("stores an error raised inside client:run in the handle", function()
    local c = client()
    local h = c:run(function()
      c:request("GET", "/addressbooks")
      error("raised after a call")
    end)
    drain(c)
    local err = h:error()
    assert.equal("callback", err.kind)
    assert.matches("raised after a call", err.message)
    c:close()
  end)

  it("makes a blocking call outside a task, and waits on a handle", function()
    local c = client()
    local h = c:start("GET", "/addressbooks")
    local lists = c:request("GET", "/addressbooks")   -- drives h too
    assert.same({}, lists)
    assert.same({}, h:wait(5))
    local ok, err = pcall(h.wait, h, -1)
    assert.is_false(ok)
    assert.matches("seconds", tostring(err))
    c:close()
  end)

  it("refuses a blocking call inside a completion callback", function()
    local c = client()
    c:request("GET", "/addressbooks")
    local inner
    c:start("GET", "/addressbooks", nil, function()
      inner = { pcall(c.request, c, "GET", "/addressbooks") }
    end)
    drain(c)
    assert.is_false(inner[1])
    assert.matches("already running", tostring(inner[2]))
    assert.equal("argument", inner[2].kind)
    c:close()
  end)

  it("reports a callback or a task that raises a value whose __tostring raises", function()
    local c = client(nil, true)
    local raising = setmetatable({}, { __tostring = function() error("a __tostring that raises") end })
    c:start("GET", "/addressbooks", nil, function() error(raising) end)
    local reported
    while c:pending() > 0 or not reported do
      local n, err = c:poll(0.01)
      if n == nil then reported = err end
    end
    assert.equal("callback", reported.kind)
    assert.equal(raising, reported.cause)
    assert.matches("(a table whose __tostring failed)", reported.message, 1, true)
    local h = c:run(function() error(raising) end)
    while not h:done() do c:poll(0.01) end
    local _, err = h:result()
    assert.equal("callback", err.kind)
    assert.matches("(a table whose __tostring failed)", err.message, 1, true)
    c:close()
  end)

  it("returns that refusal from a safe client, for a blocking call and for poll", function()
    local c = client(nil, true)
    assert(c:request("GET", "/addressbooks"))
    local before = #sb:stats().requests
    local inner
    c:start("GET", "/addressbooks", nil, function()
      inner = { pcall(c.request, c, "GET", "/addressbooks") }
      inner.poll = { pcall(c.poll, c, 0) }
    end)
    drain(c)
    -- no raise: nil and the error object, before any I/O
    assert.is_true(inner[1])
    assert.is_nil(inner[2])
    assert.equal("argument", inner[3].kind)
    assert.matches("already running", inner[3].message)
    assert.is_true(inner.poll[1])
    assert.is_nil(inner.poll[2])
    assert.matches("already running", inner.poll[3].message)
    assert.equal(before + 1, #sb:stats().requests)   -- the started call only
    c:close()
  end)

  it("resumes a bare coroutine.yield() on the next poll, and lets a call cancel itself", function()
    local c = client()
    local polls_seen = {}
    local h = c:run(function()
      for i = 1, 3 do
        polls_seen[#polls_seen + 1] = i
        coroutine.yield()
      end
      return "yielded 3 times"
    end)
    assert.same({ 1 }, polls_seen)
    c:poll()
    assert.same({ 1, 2 }, polls_seen)
    drain(c)
    assert.equal("yielded 3 times", h:result())

    local self_handle
    self_handle = c:run(function()
      coroutine.yield()                  -- so self_handle is set
      self_handle:cancel()
      c:request("GET", "/addressbooks")  -- raises: this call was cancelled
      return "not reached"
    end)
    drain(c)
    assert.equal("cancelled", self_handle:error().kind)
    assert.equal(0, sb:stats().token_requests)
    c:close()
  end)

  it("gives up waiting on a handle after the time given, leaving the call in flight", function()
    local c = client()
    c:request("GET", "/addressbooks")
    sb:fault { kind = "delay", delay = 1, count = 1, path = "^/addressbooks$" }
    local h = c:start("GET", "/addressbooks")
    local ok, err = pcall(h.wait, h, 0.1)
    assert.is_false(ok)
    assert.equal("timeout", err.kind)
    assert.is_false(h:done())
    assert.same({}, h:wait(5))
    c:close()
  end)

  it("checks its arguments", function()
    local c = client()
    assert.has_error(function() c:poll(-1) end)
    assert.has_error(function() c:run("not a function") end)
    assert.has_error(function() c:start("GET", "/addressbooks", nil, 42) end)
    local h = c:start("GET", "no-slash")
    assert.is_true(h:done())
    assert.equal("argument", h:error().kind)
    local pending = c:start("GET", "/addressbooks")
    local ok, err = pcall(pending.result, pending)
    assert.is_false(ok)
    assert.matches("not finished", tostring(err))
    drain(c)
    c:close()

    local blocking = sendpulse.new { client_id = account, client_secret = SECRET, base_url = sb.url }
    ok, err = pcall(blocking.start, blocking, "GET", "/addressbooks")
    assert.is_false(ok)
    assert.matches('transport = "multi"', tostring(err))
    blocking:close()

    ok, err = pcall(sendpulse.new, { client_id = "a", client_secret = "b", transport = "multi",
                                     sleep = function() end })
    assert.is_false(ok)
    assert.matches("sleep", tostring(err))
  end)

  it("gives every method and service operation a non-blocking form: client:async()", function()
    local c = client()
    -- A service table as sendpulse.operations makes them: operations that
    -- call client:request.
    rawset(c, "books", {
      list = function(svc, limit)
        assert.equal(c.books, svc)
        return c:request("GET", "/addressbooks", { query = { limit = limit } })
      end,
    })
    local view = c:async()
    assert.equal(view, c:async())
    local h1 = view:request("GET", "/addressbooks")
    local h2 = view.books:list(5)
    assert.is_false(h1:done())
    assert.is_false(h2:done())
    drain(c)
    assert.same({}, h1:result())
    assert.same({}, h2:result())
    assert.is_nil(view.books.nothing)
    -- a name that is no service is what the client makes of it: a call of
    -- it ends in the argument error that names the nearest service
    local h3 = view.emails:get_mailing_lists()
    drain(c)
    assert.equal("argument", h3:error().kind)
    assert.equal("no service 'emails' (nearest: email)", h3:error().message)
    local seen = 0
    h1:on_done(function(h) seen = seen + 1; assert.equal(h1, h) end)   -- already done: runs now
    assert.equal(1, seen)
    h1:on_done(function() error("late callback") end)
    local ok, err = pcall(c.poll, c)
    assert.is_false(ok)
    assert.matches("late callback", err.message)
    c:close()
  end)

  it("frees everything when a client with calls in flight is collected", function()
    local weak = setmetatable({}, { __mode = "v" })
    do
      local c = client()
      sb:fault { kind = "delay", delay = 2, count = -1, path = "^/addressbooks$" }
      weak.h = c:start("GET", "/addressbooks")
      c:poll(0.05)
      weak.c = c
    end
    collectgarbage()
    collectgarbage()
    assert.is_nil(weak.c)
    assert.is_nil(weak.h)
  end)
end)

describe("transport multi over HTTPS", function()
  local tls = require "support.tls_server"
  local srv
  lazy_setup(function() srv = tls.start() end)
  lazy_teardown(function() if srv then srv.stop() end end)

  it("verifies the certificate, and multiplexes calls started together on one HTTP/2 connection", function()
    local c = sendpulse.new { api_key = "tls-test-key", base_url = srv.url, ca_file = srv.ca_file,
                              rate_limit = false, transport = "multi" }
    local handles = {}
    for i = 1, 10 do handles[i] = c:start("GET", "/multi") end
    for _ = 1, 1000 do if c:poll(0.01) == 0 then break end end
    for i = 1, 10 do
      local v, meta = handles[i]:result()
      assert.equal(1000, v.id)
      assert.equal("gzip", meta.headers["content-encoding"])
    end
    assert.equal(1, c:connections())
    assert.is_true(srv.logged("HTTP/2.0 GET /multi 200"), srv.access_log())
    c:close()

    local untrusted = sendpulse.new { api_key = "tls-test-key", base_url = srv.url,
                                      rate_limit = false, transport = "multi" }
    local h = untrusted:start("GET", "/multi-untrusted")
    for _ = 1, 1000 do if untrusted:poll(0.01) == 0 then break end end
    assert.is_true(h:error().tls)
    untrusted:close()
  end)
end)
