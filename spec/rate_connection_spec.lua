-- The rate budget counts a request from when it leaves, and a request on a
-- new connection leaves only once the connection is set up: TLS with a far
-- server takes a round trip or two. Here the handshake takes 0.3 s (nginx
-- in front of the sandbox, spec/nginx/slow_tls.conf): the token request
-- leaves 0.3 s after its slot, then ten calls follow on the warm
-- connection. Had the budget counted the token request from its slot, the
-- tenth call would reach the server less than a second after it: 11 in a
-- second, the 11th refused with 2020202020. The budget has the guard a
-- loaded machine needs (spec/support/loaded.lua): intervals of 0.125 s,
-- the token request and ten calls 1.55 s apart from its slot, 1.25 s had
-- it been counted from there (0.3 s short of a second with the 0.3 s
-- handshake, the rest of the way room for the sandbox's jitter).
local sendpulse = require "sendpulse"
local sandbox = require "support.sandbox_process"
local nginx_process = require "support.nginx_process"
local sys = require "support.sys"
local loaded = require "support.loaded"

local SECRET = "conn-secret"

describe("a request that leaves late on a new connection #nginx", function()
  local sb, ng
  lazy_setup(function()
    sb = sandbox.start {}
    ng = nginx_process.start { sandbox_url = sb.url,
      template = sys.read_file("spec/nginx/slow_tls.conf") }
  end)
  lazy_teardown(function()
    if ng then ng:stop() end
    if sb then sb:stop() end
  end)

  local serial = 0
  local function run(transport)
    serial = serial + 1
    local id = "conn-" .. serial
    sb:reset()
    sb:configure { accounts = { { client_id = id, client_secret = SECRET } } }
    local c = sendpulse.new { client_id = id, client_secret = SECRET, base_url = ng.tls_url,
                              ca_file = ng.prefix .. "/ca.pem", retries = 0, transport = transport,
                              rate_limit = { guard = loaded.GUARD } }
    local started = require("sendpulse.core").monotonic()
    if transport == "multi" then
      local h = c:run(function() for _ = 1, 10 do c:request("GET", "/addressbooks") end end)
      while not h:done() do c:poll(0.01) end
      h:result()
    else
      for _ = 1, 10 do c:request("GET", "/addressbooks") end
    end
    local took = require("sendpulse.core").monotonic() - started
    assert.equal(1, c:connections())
    c:close()
    local stats = sb:stats()
    assert.equal(11, stats.per_account[id])
    assert.is_true(stats.max_in_window[id] <= 10, "the sandbox saw " .. stats.max_in_window[id]
      .. " requests in one second")
    return took
  end

  it("is counted from when it left (blocking)", function()
    local took = run("curl")
    -- The handshake's 0.3 s moved the schedule on: ten intervals after it,
    -- 1.55 s; from the token request's slot they would end at 1.25 s (a
    -- lower bound: a loaded machine only makes it later).
    assert.is_true(took > 1.5, "took " .. took)
  end)

  if not (_VERSION == "Lua 5.1" and not rawget(_G, "jit")) then
    it("is counted from when it left (multi)", function()
      run("multi")
    end)
  end
end)
