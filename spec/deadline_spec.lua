-- `timeout` is a deadline for the whole call: the token fetch, the wait for
-- a rate slot, every attempt and the backoff between them, in every
-- transport (curl and multi here; the cosocket transport in nginx_spec).
-- And the token is read after the wait for a slot, not before it. Against
-- the sandbox over loopback, its faults scripting the slow answers.
local sendpulse = require "sendpulse"
local core = require "sendpulse.core"
local sandbox = require "support.sandbox_process"

local monotonic = core.monotonic
local SECRET = "deadline-secret"

local has_multi = not (_VERSION == "Lua 5.1" and not rawget(_G, "jit"))
local TRANSPORTS = has_multi and { "curl", "multi" } or { "curl" }

describe("the call's deadline", function()
  local sb
  lazy_setup(function() sb = sandbox.start {} end)
  lazy_teardown(function() if sb then sb:stop() end end)

  local account, serial = nil, 0
  before_each(function()
    sb:reset()
    serial = serial + 1
    account = "deadline-" .. serial
    sb:configure { accounts = { { client_id = account, client_secret = SECRET } } }
  end)

  local function client(extra)
    local opts = { client_id = account, client_secret = SECRET, base_url = sb.url }
    for k, v in pairs(extra or {}) do opts[k] = v end
    return sendpulse.new(opts)
  end

  -- Runs fn(c) in c's way (a handle driven to its end for multi); returns
  -- ok, value_or_err, seconds taken.
  --
  -- The bounds on those seconds tell a call that gave up at its deadline
  -- from one that did not: each is below what the wrong behaviour takes at
  -- the least, and 0.9 s or more above what the call needs, room for a
  -- loaded 2-CPU machine (tens of milliseconds of delay) and valgrind (a
  -- call's own work ~30 times slower) alike.
  local function timed(c, transport, fn)
    local started = monotonic()
    local ok, v
    if transport == "multi" then
      local h = c:run(function() return fn(c) end)
      while not h:done() do c:poll(0.01) end
      ok, v = pcall(h.result, h)
    else
      ok, v = pcall(fn, c)
    end
    return ok, v, monotonic() - started
  end

  for _, transport in ipairs(TRANSPORTS) do
    describe("with transport = " .. transport, function()
      it("bounds retries and their backoff: 1 s against a server 3 s late, GET with 2 retries", function()
        local c = client { transport = transport, retries = 2, retry_delay = 0.1 }
        c:request("GET", "/addressbooks")            -- the token, outside the timing
        sb:fault { kind = "delay", delay = 3, path = "^/addressbooks$", count = -1 }
        local ok, err, took = timed(c, transport, function(x)
          return x:request("GET", "/addressbooks", { timeout = 1 })
        end)
        assert.is_false(ok)
        assert.equal("timeout", err.kind)
        -- a second attempt would make it 2.1 s at least (1 + 0.1 + 1)
        assert.is_true(took < 1.9, "a 1 s call took " .. took .. " s")
        assert.is_true(took > 0.9, "gave up early: " .. took .. " s")   -- (timers are never early)
        assert.equal(1, err.attempts)
        assert.matches("not tried again: the 1 s timeout leaves no time", err.message)
        c:close()
      end)

      it("includes the token fetch, and says the call failed while getting the token", function()
        local c = client { transport = transport, retries = 2, retry_delay = 0.1 }
        sb:fault { kind = "delay", delay = 3, path = "^/oauth/access_token$", count = -1 }
        local ok, err, took = timed(c, transport, function(x)
          return x:request("GET", "/addressbooks", { timeout = 1 })
        end)
        assert.is_false(ok)
        -- the token answer comes after 3 s
        assert.is_true(took < 1.9, "a 1 s call took " .. took .. " s")
        assert.equal("timeout", err.kind)
        assert.equal("token", err.stage)
        assert.equal("GET", err.method)
        assert.equal("/addressbooks", err.path)
        assert.is_false(err.maybe_sent)
        assert.matches("^sendpulse: timeout error on GET /addressbooks: getting an OAuth token failed "
          .. "%(POST /oauth/access_token%): ", tostring(err))
        c:close()
      end)

      it("fails at once when a quota window has no room before the deadline", function()
        -- The token request and two calls use the window of three.
        local c = client { transport = transport, rate_limit = { per_minute = 3 } }
        c:request("GET", "/addressbooks")
        c:request("GET", "/addressbooks")
        local ok, err, took = timed(c, transport, function(x)
          return x:request("GET", "/addressbooks", { timeout = 5 })
        end)
        assert.is_false(ok)
        -- waiting would last until the 5 s deadline (without load: ~0.01 s)
        assert.is_true(took < 2, "waited " .. took .. " s for a window that has no room for a minute")
        assert.equal("rate_limit", err.kind)
        assert.equal("per_minute", err.window)
        assert.equal("rate", err.stage)
        assert.is_true(err.retry_after > 50 and err.retry_after <= 61, tostring(err.retry_after))
        assert.is_true(err.retryable)
        assert.is_false(err.maybe_sent)
        assert.matches("not sent: the account's per_minute quota is used up, room again in [56]%d s "
          .. "%(rate_limit.per_minute%)", err.message)
        assert.equal(3, sb:stats().per_account[account])
        local q = c:quota()
        assert.same({ 3, 3, 0, 60 }, { q.per_minute.limit, q.per_minute.used, q.per_minute.left,
                                       q.per_minute.period })
        assert.is_true(q.per_minute.wait > 50)
        assert.equal(10, q.per_second.limit)
        c:close()
      end)
    end)
  end

  if has_multi then
    it("fails a call at once when the line for a slot is longer than its deadline (multi)", function()
      -- One slot a second: the token request and the first call take the
      -- first two; of six calls started then, with 2.4 s each, the next two
      -- slots (1 and 2 s away) are within reach, the rest not. A pause of
      -- up to a second between the starts moves a deadline past one more
      -- slot (3 refused, not 4); a start that waited for a slot would take
      -- the 1 s to the first one.
      local c = client { transport = "multi", rate_limit = { rate = 1 } }
      c:request("GET", "/addressbooks")
      local handles, started = {}, monotonic()
      for i = 1, 6 do handles[i] = c:start("GET", "/addressbooks", { timeout = 2.4 }) end
      -- The ones that cannot have a slot within 1.2 s are done already.
      local refused = 0
      for i = 1, 6 do
        local err = handles[i]:error()
        if handles[i]:done() then
          refused = refused + 1
          assert.equal("timeout", err.kind)
          assert.equal("per_second", err.window)
          assert.equal("rate", err.stage)
          assert.is_false(err.maybe_sent)
          assert.is_true(err.retry_after > 2.4)
          assert.matches("not sent: the account's budget of 1 requests/s has no slot for it for", err.message)
          assert.matches("calls of this process ahead", err.message)
        end
      end
      assert.is_true(monotonic() - started < 0.9)
      assert.is_true(refused >= 3 and refused <= 4, "refused " .. refused)
      while c:poll(0.01) > 0 do end
      local ok = 0
      for i = 1, 6 do if not handles[i]:error() then ok = ok + 1 end end
      assert.equal(6 - refused, ok)
      c:close()
    end)

    it("reads the token after the wait: a call queued past the token's refresh sends a new one", function()
      -- Tokens live 4 s and are due 1.5 s early; one request a second:
      -- the token request at 0 s, calls at 1 and 2, then the third, queued
      -- at 0 s, finds the token due (at 2.5 s) when its slot comes at 3 s,
      -- fetches a new one and leaves at 4 s with it. Read before the wait,
      -- the first token would have served all three. Late calls (a loaded
      -- machine) change nothing: a late second call fetches the new token
      -- itself, and the new token is due 2.5 s after it came, well after the
      -- last call. A token is due 1.5 s before it expires: none is sent
      -- expired unless a request takes that long to reach the sandbox.
      sb:configure { token_ttl = 4 }
      local c = client { transport = "multi", refresh_margin = 1.5, rate_limit = { rate = 1 } }
      local handles = {}
      for i = 1, 3 do handles[i] = c:start("GET", "/addressbooks") end
      while c:poll(0.01) > 0 do end
      for i = 1, 3 do assert.is_nil(handles[i]:error(), tostring(handles[i]:error())) end
      local stats = sb:stats()
      for _, r in ipairs(stats.requests) do
        assert.are_not.equal(401, r.status, "a call sent an expired token")
      end
      assert.equal(2, stats.token_requests)
      c:close()
    end)
  end
end)
