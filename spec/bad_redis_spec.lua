-- A Redis that answers nonsense (issue 21, "backends that answer
-- nonsense"): the C reply reader, the webhook dedupe store, the shared
-- token store and the shared budget against a scripted bad Redis
-- (spec/support/bad_redis.lua) over loopback, and the reader's normal path
-- against a real redis-server.
--
-- What must hold: a reply the library did not ask for is never taken for a
-- meaning it does not have; every failure comes back in the form the
-- caller was promised (the store's nil, message; a hook event and the
-- documented fallback; hiredis's nil, message), never as a raw Lua error,
-- a wait of the whole timeout, or memory without bound.
local sendpulse = require "sendpulse"
local safe = require "sendpulse.safe"
local webhooks = require "sendpulse.webhooks"
local redis_connection = require "sendpulse.redis"
local bad_redis = require "support.bad_redis"
local redis_process = require "support.redis_process"
local sandbox = require "support.sandbox_process"
local sys = require "support.sys"

local hiredis = require "sendpulse.hiredis"

local LUA = os.getenv("LUA") or "lua5.4"

-- Replies no command of the library expects; each name says what it is.
local NONSENSE = {
  { "an integer", ":1\r\n" },
  { "QUEUED (a MULTI's answer)", "+QUEUED\r\n" },
  { "an empty array", "*0\r\n" },
  { "a string", "$5\r\nhello\r\n" },
  { "an array of an integer and a status", "*2\r\n:1\r\n+x\r\n" },
  { "an error", "-ERR nonsense\r\n" },
  { "a string over the reply bound", { bulk = 2 * 1048576 } },
  { "an array of 2^31 - 1 elements", "*2147483647\r\n" },
  { "a closed connection", { close = true } },
}

local function events_of(list, name)
  local out = {}
  for _, e in ipairs(list) do if e.event == name then out[#out + 1] = e end end
  return out
end

local bad
local saved_retry

-- Each test gets connections of its own: the library shares one per
-- address and timeout, and a test's nonsense must not meet the next one's.
local timeouts = 0
local function fresh_timeout()
  timeouts = timeouts + 1
  return 1 + timeouts / 1000
end

describe("a Redis that answers nonsense", function()
  lazy_setup(function()
    bad = bad_redis.start()
    -- A failed connection is tried again after RETRY_INTERVAL: shorter, so
    -- that the tests after a closed connection do not wait for it.
    saved_retry = redis_connection.RETRY_INTERVAL
    redis_connection.RETRY_INTERVAL = 0.05
  end)
  lazy_teardown(function()
    if bad then bad:stop() end
    redis_connection.RETRY_INTERVAL = saved_retry
  end)

  describe("the webhook dedupe store", function()
    local BODY = '[{"event":"open","timestamp":"100","task_id":"5","email":"a@example.com"}]'

    local function receive(action)
      bad:script { SET = action }
      local store = webhooks.stores.redis { port = bad.port, timeout = fresh_timeout() }
      local receiver = webhooks.receiver { secret = false, store = store }
      return receiver:receive { body = BODY }
    end

    it("takes OK as new and a null as seen", function()
      local status, events, failures = receive("+OK\r\n")
      assert.equal(200, status)
      assert.equal(1, #events)
      assert.same({}, failures)
      status, events, failures = receive("$-1\r\n")
      assert.equal(200, status)
      assert.equal(0, #events)
      assert.same({}, failures)
    end)

    for _, case in ipairs(NONSENSE) do
      it("delivers the event when SET NX gets " .. case[1] .. ", and says why", function()
        local status, events, failures = receive(case[2])
        assert.equal(200, status)
        assert.equal(1, #events, "the event was dropped as seen")
        assert.equal(1, #failures)
        assert.matches("^redis: ", failures[1].message)
        assert.same({ "SET" }, bad:seen())
      end)
    end

    it("says what the reply was", function()
      local _, _, failures = receive(":1\r\n")
      assert.equal("redis: unexpected reply to SET NX: the integer 1 (OK means new, a null means seen)",
        failures[1].message)
      _, _, failures = receive("+QUEUED\r\n")
      assert.matches('the string "QUEUED"', failures[1].message, 1, true)
      _, _, failures = receive("*0\r\n")
      assert.matches("an array of 0 elements", failures[1].message, 1, true)
    end)

    it("delivers the event when the connection object raises", function()
      local conn = { call = function() error("adapter broke") end }
      local store = webhooks.stores.redis { connection = conn }
      local new, failures = webhooks.fresh(assert(webhooks.parse(BODY)), store, 60)
      assert.equal(1, #new)
      assert.matches("adapter broke", failures[1].message, 1, true)
    end)
  end)

  describe("the shared budget", function()
    local sb
    lazy_setup(function() sb = sandbox.start {} end)
    lazy_teardown(function() if sb then sb:stop() end end)

    local accounts = 0
    -- One GET by a fresh client of a fresh account whose budget is in the
    -- bad Redis. Returns whether it raised, the value, the error, the events.
    local function call(new)
      accounts = accounts + 1
      local id = "budget-acct-" .. accounts
      sb:configure { accounts = { { client_id = id, client_secret = "budget-secret" } } }
      local events = {}
      local c = new { client_id = id, client_secret = "budget-secret", base_url = sb.url, timeout = 10,
        rate_limit = { shared = "redis", fallback = "process" },
        redis = { port = bad.port, timeout = fresh_timeout() },
        hook = function(e) events[#events + 1] = e end }
      local ok, value, err = pcall(c.request, c, "GET", "/addressbooks")
      c:close()
      return ok, value, err, events
    end

    for _, case in ipairs(NONSENSE) do
      for _, where in ipairs { "every command", "EVALSHA (SCRIPT LOAD works)" } do
        it(("goes on through the fallback budget when Redis answers %s to %s"):format(case[1], where), function()
          if where == "every command" then
            bad:script { ["*"] = case[2] }
          else
            bad:script { SCRIPT = "$40\r\n" .. ("5"):rep(40) .. "\r\n", EVALSHA = case[2] }
          end
          for _, new in ipairs { safe.new, sendpulse.new } do
            local ok, value, err, events = call(new)
            assert.is_true(ok, "raised: " .. tostring(value))
            assert.is_table(value, err and tostring(err))
            local down = events_of(events, "limiter_error")
            assert.is_true(#down >= 1, "no limiter_error event")
            assert.equal("redis", down[1].shared)
            assert.equal("process", down[1].fallback)
            assert.matches("redis", down[1].message)
          end
        end)
      end
    end

    it("names the reply it could not use", function()
      bad:script { SCRIPT = "$40\r\n" .. ("5"):rep(40) .. "\r\n", EVALSHA = "*3\r\n:1\r\n:-5\r\n:0\r\n" }
      local _, _, _, events = call(safe.new)
      assert.equal("redis: unexpected reply to the rate script: an array of 3 elements",
        events_of(events, "limiter_error")[1].message)
      bad:script { ["*"] = "*0\r\n" }
      _, _, _, events = call(safe.new)
      assert.equal("redis: unexpected reply to SCRIPT LOAD: an array of 0 elements (a SHA1 was expected)",
        events_of(events, "limiter_error")[1].message)
    end)
    it("goes on through the fallback when the connection object raises, quota() too", function()
      local conn = { call = function() error("adapter broke") end, script = function() error("adapter broke") end }
      accounts = accounts + 1
      local id = "budget-acct-" .. accounts
      sb:configure { accounts = { { client_id = id, client_secret = "budget-secret" } } }
      local events = {}
      local c = safe.new { client_id = id, client_secret = "budget-secret", base_url = sb.url,
        rate_limit = { shared = "redis", fallback = "process" }, redis = conn,
        hook = function(e) events[#events + 1] = e end }
      local ok, value, err = pcall(c.request, c, "GET", "/addressbooks")
      assert.is_true(ok, "raised: " .. tostring(value))
      assert.is_table(value, err and tostring(err))
      assert.matches("adapter broke", events_of(events, "limiter_error")[1].message, 1, true)
      local quota = c:quota()
      assert.is_true(quota.fallback)
      c:close()
    end)
  end)

  describe("the shared token store", function()
    local sb
    lazy_setup(function() sb = sandbox.start {} end)
    lazy_teardown(function() if sb then sb:stop() end end)

    local accounts = 0
    local function call(timeout)
      accounts = accounts + 1
      local id = "token-acct-" .. accounts
      sb:configure { accounts = { { client_id = id, client_secret = "token-secret" } } }
      local events = {}
      local c = safe.new { client_id = id, client_secret = "token-secret", base_url = sb.url,
        timeout = timeout, token_store = "redis", redis = { port = bad.port, timeout = fresh_timeout() },
        hook = function(e) events[#events + 1] = e end }
      local ok, value, err = pcall(c.request, c, "GET", "/addressbooks")
      c:close()
      return ok, value, err, events
    end

    for _, case in ipairs(NONSENSE) do
      it("fetches a token of its own when Redis answers " .. case[1], function()
        bad:script { ["*"] = case[2] }
        -- 5 s: a call that waits for a lock nobody holds fails at its
        -- timeout instead of going on; a good call takes milliseconds.
        local ok, value, err, events = call(5)
        assert.is_true(ok, "raised: " .. tostring(value))
        assert.is_table(value, err and tostring(err))
        local broken = events_of(events, "store_error")
        assert.is_true(#broken >= 1, "no store_error event")
        assert.equal(1, #events_of(events, "token"))
      end)
    end

    it("says which reply it could not use", function()
      bad:script { SCRIPT = "$40\r\n" .. ("5"):rep(40) .. "\r\n", ["*"] = ":1\r\n" }
      local _, _, _, events = call(5)
      local said = {}
      for _, e in ipairs(events_of(events, "store_error")) do said[e.operation] = e.message end
      assert.equal("redis: unexpected reply to the token script: the integer 1", said.get)
      assert.equal("redis: unexpected reply to SET NX: the integer 1 (OK means locked, a null means held)",
        said.lock)
    end)
  end)

  describe("the C reply reader", function()
    local function connect(opts)
      opts = opts or {}
      opts.port = bad.port
      opts.timeout = opts.timeout or 1
      return assert(hiredis.connect(opts))
    end

    -- call(...) on a fresh connection; the connection and its results.
    local function one(action, opts)
      bad:script { GET = action }
      local c = connect(opts)
      local value, err = c:call("GET", "k")
      return c, value, err
    end

    it("refuses a string over max_reply_bytes when its length arrives, and closes the connection", function()
      local c, value, err = one { bulk = 400 * 1000 * 1000 }
      -- (Not assert.is_nil: on failure it would print the 400 MB.)
      assert.is_true(value == nil, "a reply was taken: a " .. type(value))
      assert.equal("redis: a reply over 1048576 bytes (max_reply_bytes): a string of 400000000 bytes", err)
      assert.is_true(c:closed())
    end)

    it("refuses an array of 2^31 - 1 elements at its header", function()
      local c, value, err = one "*2147483647\r\n"
      assert.is_nil(value)
      assert.equal("redis: a reply of more than 1024 array elements (max_reply_elements): an array of 2147483647",
        err)
      assert.is_true(c:closed())
    end)

    it("counts the elements of nested arrays together", function()
      local _, value, err = one(("*2\r\n*1000\r\n" .. (":1\r\n"):rep(1000)) .. "*1000\r\n" .. (":1\r\n"):rep(1000))
      assert.is_nil(value)
      assert.matches("more than 1024 array elements", err, 1, true)
    end)

    it("refuses arrays nested deeper than 8", function()
      local _, value, err = one(("*1\r\n"):rep(9) .. ":1\r\n")
      assert.is_nil(value)
      assert.equal("redis: a reply nested deeper than 8 arrays", err)
      local _, fine = one(("*1\r\n"):rep(8) .. ":1\r\n")
      for _ = 1, 8 do fine = fine[1] end
      assert.equal(1, fine)
    end)

    it("takes its bounds as options, and checks them", function()
      local _, value, err = one({ bulk = 200 }, { max_reply_bytes = 100 })
      assert.is_nil(value)
      assert.equal("redis: a reply over 100 bytes (max_reply_bytes): a string of 200 bytes", err)
      _, value, err = one("*3\r\n:1\r\n:2\r\n:3\r\n", { max_reply_elements = 2 })
      assert.is_nil(value)
      assert.matches("more than 2 array elements", err, 1, true)
      _, value = one("*3\r\n:1\r\n:2\r\n:3\r\n", { max_reply_elements = 3 })
      assert.same({ 1, 2, 3 }, value)
      for _, bad_opts in ipairs {
        { { max_reply_bytes = 0 }, "'max_reply_bytes' must be an integer from 64 to" },
        { { max_reply_bytes = 1.5 }, "'max_reply_bytes' must be an integer" },
        { { max_reply_elements = -1 }, "'max_reply_elements' must be an integer from 0 to" },
        { { max_reply_elements = "9" }, "'max_reply_elements' must be an integer" },
      } do
        local o = bad_opts[1]
        o.port = bad.port
        assert.has_error(function() hiredis.connect(o) end)
        local ok, msg = pcall(hiredis.connect, o)
        assert.is_false(ok)
        assert.matches(bad_opts[2], msg, 1, true)
      end
    end)

    it("gives up on a reply that drips in, at the timeout of the whole call", function()
      -- One byte every 0.1 s: 6 s for the whole reply. Each byte arrives
      -- well within the 1 s timeout; the call as a whole does not.
      local c, value, err = one({ drip = "+" .. ("O"):rep(58) .. "\r\n", every = 0.1 }, { timeout = 1 })
      assert.is_nil(value)
      assert.equal("redis: no whole reply within the 1 s timeout", err)
      assert.is_true(c:closed())
    end)

    it("reports a reply cut short, and a closed connection", function()
      local _, value, err = one "$10\r\nabc"
      assert.is_nil(value)
      assert.matches("timeout", err, 1, true)
      local _, v2, err2 = one { close = true }
      assert.is_nil(v2)
      assert.equal("redis: the server closed the connection", err2)
    end)

    it("refuses what is not RESP2", function()
      for _, case in ipairs {
        { ":12a\r\n", "an integer line that is not one" },
        { ":99999999999999999999\r\n", "an integer line that is not one" },
        { "$2\r\nabXY", "a string not followed by CR LF" },
        { "$-2\r\n", "a negative length" },
        { "*-2\r\n", "a negative length" },
        { "~1\r\n:1\r\n", "a reply type byte '~' (0x7e)" },
      } do
        local c, value, err = one(case[1], { timeout = 0.5 })
        assert.is_nil(value, case[1])
        assert.equal("redis: protocol error: " .. case[2], err, case[1])
        assert.is_true(c:closed())
      end
    end)

    it("refuses bytes nobody asked for: after a reply, and before the next command", function()
      bad:script { SET = "+OK\r\n+OK\r\n" }
      local c = connect()
      local value, err = c:call("SET", "k", "v")
      assert.is_nil(value)
      assert.equal("redis: the server sent bytes nobody asked for (after the reply)", err)
      assert.is_true(c:closed())
      bad:script { SET = "+OK\r\n" }
      c = connect()
      assert.equal("OK", c:call("SET", "k", "v"))
      bad:push "$-1\r\n"
      value, err = c:call("SET", "k", "v", "NX")
      assert.is_nil(value)
      assert.equal("redis: the server sent bytes nobody asked for (a reply to no command)", err)
      assert.same({ "SET" }, bad:seen(), "the command went out after the stray reply")
    end)

    it("keeps memory bounded: 400 MB and 2^31 - 1 elements refused (peak RSS and address space)", function()
      -- A child process: its peak resident size (VmHWM) and address space
      -- (VmPeak) after both replies, against before. Slack: 64 MiB of
      -- resident memory (the reader's buffer is at most 1 MiB; the rest is
      -- the allocator and the interpreter), 1 GiB of address space (today
      -- hiredis reserved 16 GiB for the array and took 1.2 GiB for the string).
      bad:script { GET = { seq = { { bulk = 400 * 1000 * 1000 }, "*2147483647\r\n" } } }
      local code = ([[
        local hiredis = require "sendpulse.hiredis"
        local function kb(field)
          for line in io.lines("/proc/self/status") do
            local n = line:match("^" .. field .. ":%%s*(%%d+) kB")
            if n then return tonumber(n) end
          end
        end
        local rss, vm = kb("VmHWM"), kb("VmPeak")
        for _ = 1, 2 do
          local c = assert(hiredis.connect { port = %d, timeout = 5 })
          local v, err = c:call("GET", "k")
          assert(v == nil, "a reply was taken")
          io.stderr:write(err, "\n")
        end
        print(kb("VmHWM") - rss, kb("VmPeak") - vm)
      ]]):format(bad.port)
      local p = assert(io.popen(LUA .. " -e " .. sys.shell_quote(code) .. " 2>&1"))
      local out = p:read("*a")
      p:close()
      local rss, vm = out:match("(%-?%d+)%s+(%-?%d+)%s*$")
      assert.truthy(rss, out)
      assert.is_true(tonumber(rss) < 64 * 1024, "peak RSS grew by " .. rss .. " kB: " .. out)
      assert.is_true(tonumber(vm) < 1024 * 1024, "address space grew by " .. vm .. " kB: " .. out)
    end)
  end)
end)

describe("the C reply reader on a real redis-server", function()
  local rs
  lazy_setup(function() rs = redis_process.start {} end)
  lazy_teardown(function() if rs then rs:remove() end end)

  it("reads strings, integers, nulls, errors and nested arrays as Redis sends them", function()
    local c = assert(hiredis.connect { port = rs.port })
    local big = ("0123456789abcdef"):rep(32768)   -- 512 KiB: half the default bound
    assert.equal("OK", c:call("SET", "big", big))
    assert.equal(big, c:call("GET", "big"))
    assert.equal("", (c:call("EVAL", "return ''", 0)))
    assert.equal("OK", c:call("SET", "n", "2"))
    assert.equal(-3, c:call("INCRBY", "n", "-5"))
    assert.equal(2 ^ 40, c:call("INCRBY", "n", ("%.0f"):format(2 ^ 40 + 3)))
    local nested = c:call("EVAL", "return { 1, { 'a', { false, -2 } }, 'z' }", 0)
    assert.same({ 1, { "a", { hiredis.null, -2 } }, "z" }, nested)
    local list = c:call("EVAL", "local t = {} for i = 1, 1000 do t[i] = i end return t", 0)
    assert.equal(1000, #list)
    assert.equal(1000, list[1000])
    local no, msg = c:call("INCR", "big")
    assert.is_false(no)
    assert.matches("^ERR value is not an integer", msg)
    local inner = c:call("EVAL", "return { redis.error_reply('E inner'), 1 }", 0)
    assert.same({ "E inner", 1 }, inner)
    assert.equal("PONG", c:call("PING"))
    c:close()
  end)
end)
