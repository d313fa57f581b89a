-- One spec for every transport (issue 18, item 3): the contract the client
-- pipeline relies on (sendpulse.transport's header), asserted the same way
-- of the blocking libcurl session ("curl"), the multi interface driven from
-- outside its loop ("multi") and from inside one of its tasks ("multi, in a
-- task": sendpulse.transport.loop), and nginx's cosockets ("cosocket", run
-- inside a real nginx worker by spec/nginx/app.lua). Each is made as a
-- client makes it (sendpulse.transport.new, which checks it), then put
-- through the steps of spec/support/transport_contract.lua against the
-- hostile server on loopback: a plain call, an error answer, a timeout, a
-- close. A transport that cannot run here is pending, never skipped
-- silently.
local core = require "sendpulse.core"
local options = require "sendpulse.client.options"
local transport = require "sendpulse.transport"
local contract = require "support.transport_contract"
local hostile_server = require "support.hostile_server"
local nginx_process = require "support.nginx_process"

-- The timeout step's bound: its 0.5 s deadline plus 4 s of slack for a
-- loaded machine (2 CPUs shared by several suites) and the valgrind pass.
-- The server drips the header for 200 s, so a transport that ignored the
-- deadline still fails it.
local TIMEOUT_BOUND = contract.TIMEOUT + 4

local function made(kind, base)
  local cfg = assert(options.check { api_key = "contract-key", base_url = base, transport = kind,
                                     allow_plain_http = true })
  return assert(transport.new(cfg, false))
end

local MULTI = _VERSION ~= "Lua 5.1" or rawget(_G, "jit") ~= nil

-- Each transport: how to run the steps, or why it cannot run here.
local TRANSPORTS = {
  { name = "curl", run = function(base)
      local t = made("curl", base)
      return { checked = transport.check(t) == true, name = tostring(t),
               calls = contract.calls(t, base, core.monotonic), close = contract.close(t, base) }
    end },
  { name = "multi", missing = not MULTI and "transport = \"multi\" needs Lua 5.2+ or LuaJIT",
    run = function(base)
      local t = made("multi", base)
      return { checked = transport.check(t) == true, name = tostring(t),
               calls = contract.calls(t, base, core.monotonic), close = contract.close(t, base) }
    end },
  { name = "multi, in a task", missing = not MULTI and "transport = \"multi\" needs Lua 5.2+ or LuaJIT",
    run = function(base)
      local t = made("multi", base)
      -- perform suspends the task; the loop's poll drives it (handle:wait)
      local h = t.loop:spawn(function() return contract.calls(t, base, core.monotonic) end)
      h:wait(60)
      local calls, err = h:result()
      assert(calls, tostring(err))
      return { checked = transport.check(t) == true, name = tostring(t), calls = calls,
               close = contract.close(t, base) }
    end },
  { name = "cosocket #nginx", missing = nginx_process.missing(), nginx = true },
}

describe("the transport contract", function()
  local hs, ng

  lazy_setup(function()
    hs = hostile_server.start()
  end)
  lazy_teardown(function()
    if ng then ng:stop() end
    if hs then hs:stop() end
  end)

  for _, each in ipairs(TRANSPORTS) do
    describe(each.name, function()
      local report

      local function get()
        if report then return report end
        if each.nginx then
          ng = ng or nginx_process.start { sandbox_url = hs.base }
          report = ng:call("/transport_contract", { base = hs.base })
        else
          report = each.run(hs.base)
        end
        return report
      end

      local function it_keeps(what, fn)
        if each.missing then
          pending(what .. " (" .. each.missing .. ")")
        else
          it(what, function() fn(get()) end)
        end
      end

      it_keeps("is made as the client makes it, and passes transport.check", function(r)
        assert.is_nil(r.why)
        assert.is_true(r.checked)
      end)

      it_keeps("answers a plain call with the status, the body and headers by lower-case name", function(r)
        local plain = r.calls.plain
        assert.is_nil(plain.failed, plain.message)
        assert.equal(200, plain.status)
        assert.equal('{"path":"/m/echo_path/-/contract?x=1"}', plain.body)
        assert.equal("application/json", plain.content_type)
        assert.equal("table", plain.headers)
        assert.equal("number", plain.seconds)
      end)

      it_keeps("returns an error answer as an answer: its status and body, the request sent as given", function(r)
        local e = r.calls.error_answer
        assert.is_nil(e.failed, e.message)
        assert.equal(400, e.status)
        assert.matches("a=1&b=two", e.body, 1, true)
        assert.matches("X-Contract: kept", e.body, 1, true)
        assert.matches("Content-Type: application/x-www-form-urlencoded", e.body, 1, true)
      end)

      it_keeps("fails by the deadline with kind 'timeout', saying the request may have been sent", function(r)
        local t = r.calls.timeout
        assert.is_true(t.failed)
        assert.equal("timeout", t.kind)
        assert.equal("string", type(t.message))
        assert.is_true(t.sent)
        assert.is_true(t.elapsed >= contract.TIMEOUT * 0.9, "gave up early: " .. t.elapsed .. " s")
        assert.is_true(t.elapsed < TIMEOUT_BOUND, "took " .. t.elapsed .. " s")
        -- and it works on after the timeout
        assert.equal(200, r.calls.after_timeout.status)
      end)

      it_keeps("closes idempotently, and refuses a call after close by raising", function(r)
        assert.is_true(r.close.again)
        assert.is_true(r.close.perform_raised)
        assert.matches("attempt to use a closed ", r.close.message, 1, true)
      end)
    end)
  end
end)
