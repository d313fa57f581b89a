local sendpulse = require "sendpulse"
local safe = require "sendpulse.safe"

local ok_creds = { client_id = "id", client_secret = "s3cr3t-value" }

local function with(extra)
  local t = {}
  for k, v in pairs(ok_creds) do t[k] = v end
  for k, v in pairs(extra) do t[k] = v end
  return t
end

describe("sendpulse.new options", function()
  -- Each bad input with the message it must give (a pattern).
  local bad = {
    { "not a table", "options must be a table, got string" },
    { {}, "'client_id' and 'client_secret' %(or 'api_key'%) are required" },
    { { client_id = "x" }, "'client_id' and 'client_secret'" },
    { { api_key = "k", client_id = "x", client_secret = "y" }, "either api_key or client_id and client_secret" },
    { with { timout = 3 }, "unknown option 'timout'" },
    { with { timeout = -1 }, "option 'timeout' must be a positive number of seconds" },
    { with { timeout = "5" }, "option 'timeout' must be a positive number" },
    { with { connect_timeout = 0 }, "option 'connect_timeout' must be a positive number" },
    { with { retries = 1.5 }, "option 'retries' must be an integer from 0 to 10" },
    { with { retries = 11 }, "option 'retries' must be an integer from 0 to 10" },
    { with { base_url = "ftp://x" }, "option 'base_url' must be an http:// or https:// URL" },
    { with { base_url = "https://x/?a=1" }, "option 'base_url' must be" },
    { with { rate_limit = true }, "option 'rate_limit' must be false, or a table" },
    { with { rate_limit = { rate = 0 } }, "option 'rate_limit' must be" },
    { with { rate_limit = { rate = 10, burst = 0 } }, "option 'rate_limit' must be" },
    { with { rate_limit = { rps = 10 } }, "option 'rate_limit' must be .*: unknown field 'rps'" },
    { with { rate_limit = { per_minute = 0 } },
      "option 'rate_limit' must be .*: rate_limit.per_minute must be a whole number of requests from 1 to 2%^31" },
    { with { rate_limit = { per_day = 1.5 } }, "rate_limit.per_day must be a whole number" },
    { with { rate_limit = { per_month = 5 } }, "unknown field 'per_month'" },
    { with { attempt_timeout = 0 }, "option 'attempt_timeout' must be a positive number of seconds" },
    { with { hook = "print" }, "option 'hook' must be a function" },
    { with { sleep = 1 }, "option 'sleep' must be a function" },
    { with { http2 = "yes" }, "option 'http2' must be a boolean" },
    { with { client_secret = "" }, "option 'client_secret' must be a non%-empty string" },
    { with { transport = "telnet" }, "option 'transport' must be" },
    { with { max_answer_size = 0 }, "option 'max_answer_size' must be a whole number of bytes from 1 to 2%^40" },
    { with { max_answer_size = 1.5 }, "option 'max_answer_size' must be a whole number of bytes" },
    { with { max_answer_size = 2 ^ 41 }, "option 'max_answer_size' must be" },
    { with { max_answer_size = "64M" }, "option 'max_answer_size' must be" },
  }

  it("raises an argument error that names the option", function()
    for _, case in ipairs(bad) do
      local ok, err = pcall(sendpulse.new, case[1])
      assert.is_false(ok)
      assert.is_true(sendpulse.is_error(err))
      assert.equal("argument", err.kind)
      assert.matches(case[2], err.message)
    end
  end)

  it("returns nil, err from the safe form", function()
    for _, case in ipairs(bad) do
      local client, err = safe.new(case[1])
      assert.is_nil(client)
      assert.matches(case[2], err.message)
    end
  end)

  it("never echoes an option's value (it may be the secret)", function()
    local _, err = safe.new { client_id = "id", client_secret = { "s3cr3t-value" } }
    assert.not_matches("s3cr3t", tostring(err))
    _, err = safe.new(with { proxy = 5 })
    assert.not_matches("s3cr3t", tostring(err))
  end)

  it("bounds answers at 64 MiB unless told otherwise", function()
    local options = require "sendpulse.client.options"
    assert.equal(64 * 1048576, assert(options.check(with {})).max_answer_size)
    assert.equal(require("sendpulse.core").limits.max_answer_size, 64 * 1048576)
    assert.equal(1000, assert(options.check(with { max_answer_size = 1000 })).max_answer_size)
  end)

  it("does not change the caller's table", function()
    local opts = with { timeout = 5, rate_limit = { rate = 5, per_minute = 100, per_day = 1000 } }
    local client = sendpulse.new(opts)
    assert.same(with { timeout = 5, rate_limit = { rate = 5, per_minute = 100, per_day = 1000 } }, opts)
    client:close()
  end)

  it("derives the lateness allowance from the rate and the guard", function()
    local rate_rules = require "sendpulse.account.rate"
    assert.equal(0, rate_rules.lateness(10, 0.0008))              -- 10 * 100.8 ms - 1 s < 12 ms
    assert.near(0.018, rate_rules.lateness(10, 0.003), 1e-9)      -- 10 * 103 ms - 1 s - 12 ms
    assert.equal(0, rate_rules.lateness(10, 0))
    assert.near(0.05, rate_rules.lateness(0.5, 0.003), 1e-9)       -- capped: 50 ms
    assert.near(0.0065, rate_rules.lateness(100, 0.003), 1e-9)    -- half an interval
    -- A frame loop and shared budgets get the wider guard; only a frame
    -- loop's calls may leave late.
    local c = sendpulse.new(with { rate_limit = { shared = "host" } })
    assert.equal(0.003, c.cfg.rate_limit.guard)
    assert.is_false(c.cfg.rate_limit.late)
    c:close()
    if not (_VERSION == "Lua 5.1" and not rawget(_G, "jit")) then
      local blocking = sendpulse.new(with { client_id = "widen-id" })
      assert.near(0.0008, blocking.limiter.limiter:guard(), 1e-9)
      c = sendpulse.new(with { client_id = "widen-id", transport = "multi" })
      assert.equal(0.003, c.cfg.rate_limit.guard)
      assert.is_true(c.cfg.rate_limit.late)
      -- One budget for the account in this process, with the wider guard.
      assert.equal(blocking.limiter.limiter, c.limiter.limiter)
      assert.near(0.003, blocking.limiter.limiter:guard(), 1e-9)
      assert.near(0.018, c.limiter.lateness, 1e-9)
      assert.equal(0, blocking.limiter.lateness)
      c:close()
      blocking:close()
    end
  end)

  it("keeps secrets out of the client object and its tostring", function()
    local client = sendpulse.new(with {})
    local function scan(t, seen)
      seen = seen or {}
      if seen[t] then return end
      seen[t] = true
      for _, v in pairs(t) do
        assert.not_equal("s3cr3t-value", v)
        if type(v) == "table" then scan(v, seen) end
      end
    end
    scan(client)
    assert.not_matches("s3cr3t", tostring(client))
    assert.not_matches("s3cr3t", tostring(client.auth))
    client:close()
  end)

  it("closes idempotently and refuses calls afterwards", function()
    local client = sendpulse.new(with {})
    client:close()
    client:close()
    local ok, err = pcall(client.request, client, "GET", "/addressbooks")
    assert.is_false(ok)
    assert.equal("argument", err.kind)
    assert.matches("closed", err.message)
  end)
end)
