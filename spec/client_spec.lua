-- The client against the sandbox server, over real sockets on loopback.
local sendpulse = require "sendpulse"
local safe = require "sendpulse.safe"
local sandbox = require "support.sandbox_process"
local loaded = require "support.loaded"
local core = require "sendpulse.core"

local SECRET = "sandbox-secret"

describe("client against the sandbox", function()
  local sb

  lazy_setup(function()
    sb = sandbox.start {}
  end)

  lazy_teardown(function()
    if sb then sb:stop() end
  end)

  -- Each test gets an account of its own: clients of one account share a
  -- token and a rate budget in this process, which must not leak between
  -- tests.
  local account, api_key, serial = nil, nil, 0
  before_each(function()
    sb:reset()
    serial = serial + 1
    account, api_key = "acct-" .. serial, "key-" .. serial
    sb:configure { accounts = { { client_id = account, client_secret = SECRET, api_keys = { api_key } } } }
  end)

  -- A client for this test's account; extra options merged in.
  local function client(extra, use_safe)
    local opts = { client_id = account, client_secret = SECRET, base_url = sb.url }
    for k, v in pairs(extra or {}) do opts[k] = v end
    return (use_safe and safe or sendpulse).new(opts)
  end

  -- Requests the sandbox logged, without its control calls.
  local function api_requests()
    return sb:stats().requests
  end

  local function count(list, pred)
    local n = 0
    for _, r in ipairs(list) do if pred(r) then n = n + 1 end end
    return n
  end

  describe("token", function()
    it("is fetched lazily, once, and reused", function()
      local c = client()
      assert.equal(0, sb:stats().token_requests)
      for _ = 1, 4 do c:request("GET", "/addressbooks") end
      local stats = sb:stats()
      assert.equal(1, stats.token_requests)
      assert.equal(5, #stats.requests)
      c:close()
    end)

    it("is shared by clients of the same account", function()
      local a, b = client(), client()
      a:request("GET", "/addressbooks")
      b:request("GET", "/addressbooks")
      assert.equal(1, sb:stats().token_requests)
      a:close(); b:close()
    end)

    it("is refreshed before it expires, without a 401", function()
      sb:configure { token_ttl = 2 }
      local c = client()
      -- A 2 s token is used for half its life, then replaced. What is left
      -- of it is 2 s less the time since it came, at most the time since
      -- the call began (whatever a loaded machine made that).
      local t0 = core.monotonic()
      c:request("GET", "/addressbooks")
      local left, since = c:token_expires_in(), core.monotonic() - t0
      assert.is_true(left <= 2 and left >= 2 - since - 0.01, ("%.3f s left after %.3f s"):format(left, since))
      core.sleep(1.1)
      c:request("GET", "/addressbooks")
      local stats = sb:stats()
      assert.equal(2, stats.token_requests)
      assert.equal(0, count(stats.requests, function(r) return r.status == 401 end))
      c:close()
    end)

    it("is replaced once when the API answers 401, and the call replayed once", function()
      local c = client()
      c:request("GET", "/addressbooks")
      sb:fault { kind = "unauthorized", path = "^/addressbooks$", count = 1 }
      local lists, meta = c:request("GET", "/addressbooks")
      assert.is_table(lists)
      assert.equal(200, meta.status)
      local stats = sb:stats()
      assert.equal(2, stats.token_requests)
      assert.equal(1, count(stats.requests, function(r) return r.status == 401 end))
      c:close()
    end)

    it("gives an auth error on a second 401, never a loop", function()
      local c = client()
      sb:fault { kind = "unauthorized", path = "^/addressbooks$", count = -1 }
      local ok, err = pcall(c.request, c, "GET", "/addressbooks")
      assert.is_false(ok)
      assert.equal("auth", err.kind)
      assert.equal(401, err.status)
      assert.matches("after fetching a new token", err.message)
      local stats = sb:stats()
      assert.equal(2, stats.token_requests)
      assert.equal(2, count(stats.requests, function(r) return r.path == "/addressbooks" end))
      c:close()
    end)

    it("reports refused credentials as an auth error without the secret", function()
      local c = client { client_secret = "wrong-secret-value" }
      local ok, err = pcall(c.request, c, "GET", "/addressbooks")
      assert.is_false(ok)
      assert.equal("auth", err.kind)
      assert.equal(401, err.status)
      assert.equal("invalid_client", err.oauth_error)
      assert.matches("refused the client credentials", err.message)
      assert.not_matches("wrong%-secret", tostring(err))
      -- Refused credentials are not retried.
      assert.equal(1, sb:stats().token_requests)
      c:close()
    end)

    it("is never fetched in api_key mode, and a refused key is not replayed", function()
      local c = sendpulse.new { api_key = api_key, base_url = sb.url }
      assert.is_table(c:request("GET", "/addressbooks"))
      assert.equal(0, sb:stats().token_requests)
      sb:fault { kind = "unauthorized", count = -1 }
      local ok, err = pcall(c.request, c, "GET", "/addressbooks")
      assert.is_false(ok)
      assert.equal("auth", err.kind)
      assert.matches("API key was refused", err.message)
      assert.equal(0, sb:stats().token_requests)
      c:close()
    end)
  end)

  describe("connection", function()
    it("is reused: 8 calls, 1 connection", function()
      local c = client()
      for _ = 1, 7 do c:request("GET", "/addressbooks") end
      local ids = {}
      for _, r in ipairs(api_requests()) do ids[r.connection] = true end
      local n = 0
      for _ in pairs(ids) do n = n + 1 end
      assert.equal(1, n)
      assert.equal(1, c:connections())
      c:close()
    end)
  end)

  -- Counted at the sandbox, so with the guard a loaded machine needs
  -- (spec/support/loaded.lua).
  describe("rate limit #timing", function()
    it("never puts more than 10 requests in a 1 s window, and holds no call back past its slot", function()
      local waited = 0
      local c = client { rate_limit = { guard = loaded.GUARD },
                         sleep = function(s) waited = waited + s; core.sleep(s) end }
      local n = 31
      for _ = 1, n - 1 do c:request("GET", "/addressbooks") end
      local stats = sb:stats()
      assert.equal(n, #stats.requests)      -- one token request + 30 calls
      assert.is_true(stats.max_in_window[account] <= 10,
        "max in window: " .. tostring(stats.max_in_window[account]))
      assert.equal(0, count(stats.requests, function(r) return r.status == 429 end))
      -- The waits for a slot add up to one interval per call at most (30 of
      -- 0.125 s): a request a loaded machine made late only shortens the
      -- wait after it, and a budget that held calls back longer (a slot
      -- counted twice, an interval too long) waits more. The rate the
      -- sandbox saw drops with every such pause: printed, not asserted.
      local interval = 0.1 + loaded.GUARD
      local first, last = stats.requests[1].t, stats.requests[n].t
      print(("\n  30 calls: %.2f s of waits for slots (at most %.2f), %.2f requests/s at the sandbox")
        :format(waited, (n - 1) * interval, (n - 1) / (last - first)))
      assert.is_true(waited <= (n - 1) * interval + 1e-6,
        ("waited %.3f s for slots, more than %d intervals"):format(waited, n - 1))
      c:close()
    end)

    it("shares one budget between clients of one account", function()
      local a, b = client { rate_limit = { guard = loaded.GUARD } }, client { rate_limit = { guard = loaded.GUARD } }
      for _ = 1, 8 do a:request("GET", "/addressbooks"); b:request("GET", "/addressbooks") end
      local stats = sb:stats()
      assert.is_true(stats.max_in_window[account] <= 10)
      assert.equal(0, count(stats.requests, function(r) return r.status == 429 end))
      a:close(); b:close()
    end)
  end)

  describe("errors", function()
    local function call_with_fault(fault, opts)
      local c = client(opts or { retries = 0 })
      c:request("GET", "/addressbooks")   -- token first, so the fault hits the call
      sb:fault(fault)
      local ok, err = pcall(c.request, c, "GET", "/addressbooks")
      c:close()
      assert.is_false(ok)
      assert.is_true(sendpulse.is_error(err))
      return err
    end

    it("reads {message, error_code}", function()
      local err = call_with_fault { kind = "status", status = 404,
        body = '{"message":"Book not found","error_code":213}' }
      assert.equal("api", err.kind)
      assert.equal(213, err.code)
      assert.equal(404, err.status)
      assert.equal("list_not_found", err.name)
      assert.equal("Book not found", err.message)
      assert.equal("GET", err.method)
      assert.equal("/addressbooks", err.path)
      assert.is_false(err.retryable)
      assert.equal("sendpulse: api error 213 (list_not_found) on GET /addressbooks: Book not found [HTTP 404]",
        tostring(err))
    end)

    it("reads {error, error_description}", function()
      local err = call_with_fault { kind = "status", status = 400,
        body = '{"error":"invalid_request","error_description":"Bad things"}' }
      assert.equal("api", err.kind)
      assert.equal("Bad things", err.message)
    end)

    it("treats is_error in a 200 answer as an error", function()
      local err = call_with_fault { kind = "status", status = 200,
        body = '{"is_error":true,"message":"Sender not found","error_code":704}' }
      assert.equal("api", err.kind)
      assert.equal(704, err.code)
      assert.equal("sender_not_found", err.name)
    end)

    it("treats success:false as an error", function()
      local err = call_with_fault { kind = "status", status = 200,
        body = '{"success":false,"data":{"message":"Bot not found"}}' }
      assert.equal("api", err.kind)
      assert.equal("Bot not found", err.message)
    end)

    it("says what came back when the answer is an HTML 500 page", function()
      local err = call_with_fault { kind = "html500" }
      assert.equal("api", err.kind)
      assert.equal(500, err.status)
      assert.is_true(err.retryable)
      assert.matches("text/html", err.message)
      assert.matches("<html>", err.message)
      -- the status once, at the end of the line
      local line = tostring(err)
      assert.matches("%[HTTP 500%]$", line)
      assert.equal(1, select(2, line:gsub("HTTP 500", "")))
    end)

    it("reports malformed JSON in a 200 answer as a decode error", function()
      local err = call_with_fault { kind = "malformed" }
      assert.equal("decode", err.kind)
      assert.equal(200, err.status)
      assert.matches("not JSON", err.message)
    end)

    it("reports 2020202020 as a rate_limit error that can be retried", function()
      local err = call_with_fault { kind = "status", status = 429,
        body = '{"message":"More than 10 requests per second","error_code":2020202020}' }
      assert.equal("rate_limit", err.kind)
      assert.equal(2020202020, err.code)
      assert.is_true(err.retryable)
    end)

    it("keeps {result:false} as an answer, not an error", function()
      local c = client()
      c:request("GET", "/addressbooks")
      sb:fault { kind = "status", status = 200, body = '{"result":false}' }
      local v = c:request("GET", "/addressbooks")
      assert.same({ result = false }, v)
      c:close()
    end)

    it("reports a refused connection as a network error with curl's text", function()
      local c = sendpulse.new { api_key = "k", base_url = "http://127.0.0.1:1", retries = 0 }
      local ok, err = pcall(c.request, c, "GET", "/addressbooks")
      assert.is_false(ok)
      assert.equal("network", err.kind)
      assert.matches("[Cc]onnect", err.message)
      c:close()
    end)
  end)

  describe("timeouts and retries", function()
    it("times out a slow answer", function()
      local c = client { retries = 0, timeout = 0.3 }
      c:request("GET", "/addressbooks")
      sb:fault { kind = "delay", delay = 1.5, path = "^/addressbooks$" }
      local started = os.time()
      local ok, err = pcall(c.request, c, "GET", "/addressbooks")
      assert.is_false(ok)
      assert.equal("timeout", err.kind)
      assert.is_true(os.time() - started <= 1)
      c:close()
    end)

    it("retries a GET after 5xx answers, with growing delays", function()
      local slept = {}
      local c = client { rate_limit = false, retries = 3, retry_delay = 0.2,
                         sleep = function(s) slept[#slept + 1] = s end }
      c:request("GET", "/addressbooks")
      sb:fault { kind = "html500", path = "^/addressbooks$", count = 3 }
      local lists, meta = c:request("GET", "/addressbooks")
      assert.is_table(lists)
      assert.equal(4, meta.attempts)
      assert.equal(3, #slept)
      -- equal jitter: each delay is within [base/2, base], base doubling
      for i, s in ipairs(slept) do
        local base = 0.2 * 2 ^ (i - 1)
        assert.is_true(s >= base / 2 and s <= base, ("delay %d = %g"):format(i, s))
      end
      c:close()
    end)

    it("survives dropped connections", function()
      -- libcurl itself replays a request once when a reused keep-alive
      -- connection turns out dead before any answer byte, so two drops are
      -- needed to reach our own retry.
      local c = client { rate_limit = false, retries = 2, sleep = function() end }
      c:request("GET", "/addressbooks")
      sb:fault { kind = "drop", path = "^/addressbooks$", count = 2 }
      local lists, meta = c:request("GET", "/addressbooks")
      assert.is_table(lists)
      assert.equal(2, meta.attempts)
      assert.equal(1 + 3, count(api_requests(), function(r) return r.path == "/addressbooks" end))
      c:close()
    end)

    it("stops after the configured number of retries", function()
      local c = client { rate_limit = false, retries = 2, sleep = function() end }
      c:request("GET", "/addressbooks")
      sb:fault { kind = "html500", path = "^/addressbooks$", count = -1 }
      local ok, err = pcall(c.request, c, "GET", "/addressbooks")
      assert.is_false(ok)
      assert.equal(3, err.attempts)
      assert.equal(1 + 3, count(api_requests(), function(r) return r.path == "/addressbooks" end))
      c:close()
    end)

    it("does not replay a POST that timed out after it was sent", function()
      local c = client { rate_limit = false, retries = 2, timeout = 0.3, sleep = function() end }
      c:request("GET", "/addressbooks")
      sb:fault { kind = "delay", delay = 1, method = "POST", path = "^/addressbooks$", count = -1 }
      local ok, err = pcall(c.request, c, "POST", "/addressbooks", { json = { bookName = "x" } })
      assert.is_false(ok)
      assert.equal("timeout", err.kind)
      assert.equal(1, err.attempts)
      c:close()
    end)

    it("retries a POST rejected with 2020202020, waiting at least a second", function()
      local slept = {}
      local c = client { rate_limit = false, sleep = function(s) slept[#slept + 1] = s end }
      c:request("GET", "/addressbooks")
      sb:fault { kind = "status", status = 429, method = "POST", count = 1,
        body = '{"message":"More than 10 requests per second","error_code":2020202020}' }
      local created = c:request("POST", "/addressbooks", { json = { bookName = "retried" } })
      assert.is_number(created.id)
      assert.equal(1, #slept)
      assert.is_true(slept[1] >= 1)
      c:close()
    end)
  end)

  describe("request", function()
    it("sends query strings, JSON bodies and reads answers (mailing-list flow)", function()
      local c = client()
      local created, meta = c:request("POST", "/addressbooks", { json = { bookName = "Customers é" } })
      assert.equal(200, meta.status)
      assert.is_number(meta.duration)
      assert.is_string(meta.headers["content-type"])
      local id = created.id
      assert.equal(math.type and "integer" or "number", math.type and math.type(id) or type(id))
      local one = c:request("GET", "/addressbooks/" .. id)
      assert.equal("Customers é", one[1].name)
      c:request("PUT", "/addressbooks/" .. id, { json = { name = "Renamed" } })
      c:request("POST", "/addressbooks/" .. id .. "/emails", { json = { emails = {
        { email = "a@example.com", variables = { name = "A" } },
        { email = "b@example.com" } } } })
      local emails = c:request("GET", "/addressbooks/" .. id .. "/emails", { query = { limit = 1, offset = 1 } })
      assert.equal(1, #emails)
      assert.equal("b@example.com", emails[1].email)
      c:request("DELETE", "/addressbooks/" .. id .. "/emails", { json = { emails = { "a@example.com" } } })
      assert.equal(1, c:request("GET", "/addressbooks/" .. id .. "/emails/total").total)
      assert.same({ result = true }, c:request("DELETE", "/addressbooks/" .. id))
      c:close()
    end)

    it("returns the bytes of a file answer with opts.raw, and lets Accept be replaced", function()
      local c = client()
      c:request("GET", "/addressbooks")
      sb:fault { kind = "status", status = 200, body = "id,email\n1,a@example.com\n" }
      local csv, meta = c:request("GET", "/addressbooks", { raw = true, headers = { Accept = "text/csv" } })
      assert.equal("id,email\n1,a@example.com\n", csv)
      assert.equal(200, meta.status)
      -- errors are still decoded from their envelope
      local ok, err = pcall(c.request, c, "GET", "/addressbooks/424242", { raw = true })
      assert.is_false(ok)
      assert.equal(213, err.code)
      c:close()
    end)

    it("returns nil, err from a safe client", function()
      local c = client({}, true)
      local v, err = c:request("GET", "/addressbooks/999999")
      assert.is_nil(v)
      assert.equal(213, err.code)
      v, err = c:request("get", "/x")
      assert.is_nil(v)
      assert.equal("argument", err.kind)
      c:close()
    end)

    it("rejects bad arguments with a message naming them, before any I/O", function()
      local c = client()
      local bad = {
        { { "get", "/a" }, "argument 'method' must be one of" },
        { { 5, "/a" }, "argument 'method'" },
        { { "GET", "a" }, "argument 'path' must be a string starting with '/'" },
        { { "GET", "/a b" }, "argument 'path'" },
        { { "GET", "/a", "x" }, "argument 'opts' must be a table" },
        { { "GET", "/a", { qeury = {} } }, "unknown option 'qeury' in opts" },
        { { "GET", "/a", { query = "a=1" } }, "opts.query must be a table" },
        { { "GET", "/a", { query = { f = print } } }, "opts.query: query value 'f' cannot be a function" },
        { { "POST", "/a", { json = {}, form = {} } }, "at most one of opts.json, opts.form and opts.body" },
        { { "POST", "/a", { json = { x = print } } }, "opts.json cannot be encoded: .*at value.x" },
        { { "POST", "/a", { form = 3 } }, "opts.form must be a table" },
        { { "GET", "/a", { headers = { ["Bad Name"] = "x" } } }, "is not a header name" },
        { { "GET", "/a", { headers = { X = "a\r\nInjected: 1" } } }, "must not contain control characters" },
        { { "GET", "/a", { headers = { Authorization = "x" } } },
          "Authorization cannot be given: it is set by the client" },
        { { "GET", "/a", { timeout = 0 } }, "opts.timeout must be a positive number" },
        { { "GET", "/a", { attempt_timeout = -1 } }, "opts.attempt_timeout must be a positive number" },
        { { "GET", "/a", { raw = "yes" } }, "opts.raw must be a boolean" },
      }
      for _, case in ipairs(bad) do
        local ok, err = pcall(c.request, c, (table.unpack or unpack)(case[1]))
        assert.is_false(ok)
        assert.equal("argument", err.kind)
        assert.matches(case[2], err.message)
      end
      assert.equal(0, #api_requests())
      c:close()
    end)

    it("does not change the caller's tables", function()
      local c = client()
      local opts = { json = { bookName = "Untouched", tags = {} }, headers = { ["X-Trace"] = "1" } }
      c:request("POST", "/addressbooks", opts)
      assert.same({ json = { bookName = "Untouched", tags = {} }, headers = { ["X-Trace"] = "1" } }, opts)
      c:close()
    end)
  end)

  describe("secrets", function()
    it("never reach hooks, errors, tostring or the server's log", function()
      local seen = {}
      local c = client { hook = function(ev) seen[#seen + 1] = ev end }
      c:request("GET", "/addressbooks")
      sb:fault { kind = "unauthorized", count = -1 }
      local _, err = pcall(c.request, c, "GET", "/addressbooks")
      local token_re = "Bearer"
      local texts = { tostring(err), tostring(c), sb:log() }
      for _, ev in ipairs(seen) do
        for k, v in pairs(ev) do texts[#texts + 1] = tostring(k) .. "=" .. tostring(v) end
      end
      for _, t in ipairs(texts) do
        assert.not_matches(SECRET, t, 1, true)
        assert.not_matches(token_re, t, 1, true)
      end
      -- hooks saw each attempt with its fields
      assert.equal("token", seen[1].event)
      assert.equal("request", seen[2].event)
      assert.equal("GET", seen[2].method)
      assert.equal("/addressbooks", seen[2].path)
      assert.equal(200, seen[2].status)
      assert.is_number(seen[2].duration)
      assert.equal(1, seen[2].attempt)
      c:close()
    end)
  end)
end)
