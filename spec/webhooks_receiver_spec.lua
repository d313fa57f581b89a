-- The receiver for servers other than nginx: the same steps as plain
-- functions (check, parse, drop repeats, deliver).
local webhooks = require "sendpulse.webhooks"
local sys = require "support.sys"

local SECRET = "k7Qe0m2VxR9tLpZc4s"
local BODY = [[ [{"event":"delivered","timestamp":1700000000,"message_id":1,"recipient":"a@example.com"},
               {"event":"open","timestamp":"1700000001","task_id":"9","email":"b@example.com"}] ]]

describe("webhooks.receiver", function()
  it("refuses headers that are not a table with an argument error", function()
    local r = webhooks.receiver { secret = SECRET }
    local ok, err = pcall(r.parse, r, BODY, "notatable")
    assert.is_false(ok)
    assert.equal("argument", err.kind)
    assert.equal("receiver:parse: 'headers' must be a table or nil, got string", err.message)
  end)

  it("200 with the new events, then none for the same body again", function()
    local r = webhooks.receiver { secret = SECRET }
    local status, events, failures = r:receive { secret = SECRET, address = "127.0.0.1", body = BODY }
    assert.equal(200, status)
    assert.equal(2, #events)
    assert.same({}, failures)
    assert.equal("smtp", events[1].source)
    local again, none = r:receive { secret = SECRET, address = "127.0.0.1", body = BODY }
    assert.equal(200, again)
    assert.same({}, none)
  end)

  it("403 for a wrong or missing secret and an address outside the allow-list", function()
    local r = webhooks.receiver { secret = { SECRET, "second-secret-abcdef" }, allow = { "192.0.2.0/24" } }
    local function status(req) return (r:receive(req)) end
    assert.equal(200, status { secret = "second-secret-abcdef", address = "192.0.2.1", body = "[]" })
    assert.equal(403, status { secret = SECRET .. "x", address = "192.0.2.1", body = "[]" })
    assert.equal(403, status { address = "192.0.2.1", body = "[]" })
    local code, err = r:receive { secret = SECRET, address = "198.51.100.1", body = "[]" }
    assert.equal(403, code)
    assert.equal("auth", err.kind)
    assert.equal("address", err.rule)
    -- the error never holds the secret, given or expected
    local _, wrong = r:receive { secret = SECRET .. "x", address = "192.0.2.1", body = "[]" }
    assert.equal("secret", wrong.rule)
    assert.is_nil(tostring(wrong):find(SECRET, 1, true))
  end)

  it("400 with the parse error for a malformed body; limits apply", function()
    local r = webhooks.receiver { secret = SECRET, max_body = 100, max_events = 1 }
    local code, err = r:receive { secret = SECRET, body = "[{" }
    assert.equal(400, code)
    assert.equal("json", err.rule)
    assert.equal("size", select(2, r:receive { secret = SECRET, body = ("[" .. (" "):rep(100) .. "]") }).rule)
    assert.equal("count", select(2, r:receive { secret = SECRET, body = "[{},{}]" }).rule)
  end)

  it("secret = false accepts any URL; store = false delivers repeats", function()
    local r = webhooks.receiver { secret = false, store = false }
    assert.equal(2, #select(2, r:receive { body = BODY }))
    assert.equal(2, #select(2, r:receive { body = BODY }))
  end)

  it("deliver: on_event per event; an error goes to on_error with the event, the rest go on", function()
    local r = webhooks.receiver { secret = SECRET }
    local _, events = r:receive { secret = SECRET, body = BODY }
    local seen, errors = {}, {}
    local done, failed = r:deliver(events, function(e)
      seen[#seen + 1] = e.email
      if e.source == "smtp" then error("cannot store " .. e.email) end
    end, function(err, e) errors[#errors + 1] = { err = err, event = e } end)
    assert.same({ "a@example.com", "b@example.com" }, seen)
    assert.equal(1, done)
    assert.equal(1, #failed)
    assert.matches("cannot store a@example.com", errors[1].err)
    assert.equal(events[1], errors[1].event)
  end)

  it("deliver: without on_error the failure and its event are written to stderr", function()
    local script = os.tmpname()
    sys.write_file(script, ([[
      local webhooks = require "sendpulse.webhooks"
      local events = webhooks.parse(%q)
      webhooks.deliver(events, function(e) error("boom for " .. e.email, 0) end,
        function(err) error("on_error broke too", 0) end)
      webhooks.deliver(events, function(e) error("plain boom", 0) end)
    ]]):format(BODY))
    local p = io.popen("LUA_PATH='lua/?.lua;lua/?/init.lua;;' " .. (os.getenv("LUA") or "lua5.4") .. " "
      .. script .. " 2>&1")
    local out = p:read("*a")
    p:close()
    os.remove(script)
    assert.truthy(out:find("on_event failed: boom for a@example.com (and on_error failed too: "
      .. "on_error broke too); event: {", 1, true), out)
    local found
    for line in out:gmatch("[^\n]+") do
      if line:find("on_event failed: plain boom; event: {", 1, true)
         and line:find('"email":"b@example.com"', 1, true) then
        found = line
      end
    end
    assert.truthy(found, out)
  end)

  it("options are checked when the receiver is made, naming the bad one", function()
    for _, c in ipairs {
      { {}, "'secret' is required" },
      { { secret = "short" }, "'secret' must be at least 16 characters" },
      { { secret = SECRET, allow = { "nope" } }, "'allow'[1] (nope) is not an IPv4 or IPv6 address" },
      { { secret = SECRET, store = {} }, "'store' must be a store" },
      { { secret = SECRET, ttl = 0 }, "'ttl' must be a number of seconds > 0" },
      { { secret = SECRET, max_body = 1.5 }, "limit 'max_body' must be a whole number >= 1" },
      { { secret = SECRET, secrte = 1 }, "unknown option 'secrte'" },
    } do
      local ok, err = pcall(webhooks.receiver, c[1])
      assert.is_false(ok)
      assert.equal("argument", err.kind)
      assert.truthy(err.message:find(c[2], 1, true), err.message)
      assert.is_nil(err.message:find(SECRET, 1, true))
    end
    local opts = { secret = SECRET, allow = { "10.0.0.0/8" } }
    webhooks.receiver(opts)
    assert.same({ secret = SECRET, allow = { "10.0.0.0/8" } }, opts)
  end)
end)
