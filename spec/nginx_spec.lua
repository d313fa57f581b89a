-- The client inside real nginx (Debian's nginx + lua module, 4 workers, on
-- loopback), calling the sandbox over cosockets. nginx runs
-- spec/nginx/app.lua, which only drives the client and reports JSON; the
-- checks are here. See spec/support/nginx_process.lua for the setup.
local socket = require "socket"
local sandbox = require "support.sandbox_process"
local nginx_process = require "support.nginx_process"
local rawhttp = require "support.rawhttp"
local loaded = require "support.loaded"

local SECRET = "sandbox-secret"
local PHASE_HINT = "ngx.timer.at%(0"

describe("inside nginx #nginx", function()
  local sb, ng

  lazy_setup(function()
    sb = sandbox.start {}
    ng = nginx_process.start { sandbox_url = sb.url }
  end)

  lazy_teardown(function()
    if ng then
      -- Whatever went wrong, nginx's own complaints are shown.
      local errs = ng:errors()
      if #errs > 0 then print("\n--- nginx error log ([error] and worse) ---\n" .. table.concat(errs, "\n")) end
      ng:stop()
    end
    if sb then sb:stop() end
  end)

  -- An account per test: the token and the budget live in the shared dict
  -- for as long as nginx runs.
  local account, serial = nil, 0
  before_each(function()
    sb:reset()
    serial = serial + 1
    account = "ngx-acct-" .. serial
    sb:configure { accounts = { { client_id = account, client_secret = SECRET, api_keys = { "ngx-key-" .. serial } } } }
  end)

  local function client_opts(extra)
    local opts = { client_id = account, client_secret = SECRET, base_url = sb.url,
                   shared_dict = "sendpulse" }
    for k, v in pairs(extra or {}) do opts[k] = v end
    return opts
  end

  -- One /call: the client is made and used inside an nginx worker.
  local function call(req, location)
    req.client = req.client or client_opts()
    return ng:call(location or "/call", req)
  end

  local function first(report)
    assert.is_nil(report.new_error, report.new_error and report.new_error.text)
    return report.results[1]
  end

  local function count(list, pred)
    local n = 0
    for _, r in ipairs(list) do if pred(r) then n = n + 1 end end
    return n
  end

  describe("burst from all workers #timing", function()
    it("keeps 100 concurrent calls to <= 10 per second with one token, and nginx keeps answering", function()
      local N = 100
      -- Every answer takes 1 s: a worker blocked on I/O (libcurl) would
      -- hold its pings that long; cosockets leave it free.
      -- (SP_BURST_TRANSPORT=curl runs the burst over libcurl instead: the
      -- pings then take seconds and this test fails, as it should.)
      -- The sandbox counts the budget, so it has the guard a loaded machine
      -- needs (spec/support/loaded.lua): with the dict's 3 ms the sandbox
      -- of a machine with both CPUs busy counted 11 in a second.
      sb:fault { kind = "delay", path = "^/addressbooks", delay = 1, count = -1 }
      local body = rawhttp.format_request("POST", "/call", {
        json = { client = client_opts { timeout = 60, transport = os.getenv("SP_BURST_TRANSPORT"),
                                        rate_limit = { guard = loaded.GUARD } },
                 path = "/addressbooks" }, close = true })
      -- All 100 requests are sent before any answer is read: nginx holds
      -- them all at once, spread by reuseport over its 4 workers.
      local conns = {}
      for i = 1, N do
        local c = assert(rawhttp.connect("127.0.0.1", ng.port, 60))
        assert(c:send(body))
        conns[i] = c
      end
      local started = socket.gettime()
      -- Meanwhile: a Lua location answers at once, on new connections
      -- (so on every worker), while the calls wait for their slots.
      local pings = {}
      while socket.gettime() - started < 5 do
        local t0 = socket.gettime()
        local res = ng:get("/ping")
        pings[#pings + 1] = socket.gettime() - t0
        assert.equal("pong", res.body)
        socket.sleep(0.1)
      end
      local pids, ok_calls, errors = {}, 0, {}
      for i = 1, N do
        local res = assert(conns[i]:read_response())
        conns[i]:close()
        assert.equal(200, res.status, res.body)
        local r = res.json.results[1]
        pids[res.json.pid] = true
        if r.value then ok_calls = ok_calls + 1 else errors[#errors + 1] = r.err.text end
      end
      local elapsed = socket.gettime() - started
      local stats = sb:stats()
      local workers = 0
      for _ in pairs(pids) do workers = workers + 1 end
      table.sort(pings)
      print(("\n  nginx burst: %d calls by %d workers in %.2f s; sandbox max %d per 1 s window, " ..
        "%d token fetch(es); /ping %d times, median %.1f ms, max %.1f ms"):format(
        ok_calls, workers, elapsed, stats.max_in_window[account] or -1, stats.token_requests,
        #pings, pings[math.ceil(#pings / 2)] * 1000, pings[#pings] * 1000))
      assert.same({}, errors)
      assert.equal(N, ok_calls)
      assert.is_true(workers >= 2, "the burst reached only one worker")
      assert.equal(1, stats.token_requests)
      assert.equal(N + 1, #stats.requests)
      assert.equal(0, count(stats.requests, function(r) return r.status == 429 end))
      assert.is_true(stats.max_in_window[account] <= 10, "max in window " .. stats.max_in_window[account])
      -- A worker blocked on I/O holds the pings it gets: with
      -- SP_BURST_TRANSPORT=curl 4 pings went in the 5 s, one of them held
      -- 18 s; over cosockets ~40 (one each 0.1 s sleep), their median a few
      -- ms and the longest 0.2 s at most with both CPUs busy. So: how many,
      -- how long most took, and the longest, each with a loaded machine's
      -- delays (tens of ms a ping) ten times over.
      assert.is_true(#pings >= 20, ("%d /ping in 5 s"):format(#pings))
      assert.is_true(pings[math.ceil(#pings / 2)] < 0.05,
        ("the median /ping took %.1f ms"):format(pings[math.ceil(#pings / 2)] * 1000))
      assert.is_true(pings[#pings] < 2, ("a /ping took %.0f ms"):format(pings[#pings] * 1000))
    end)
  end)

  describe("token requests from all workers", function()
    it("stop at MAX_PER_MINUTE a minute for the account: the shared dict counts them", function()
      -- Tokens that lapse at once: every call meets a 401 and asks again.
      -- Counted per worker only, 4 workers would make up to 4 times the bound.
      local MAX = require("sendpulse.account.token_requests").MAX_PER_MINUTE
      sb:configure { token_ttl = 0.0001 }
      local workers, n_workers, in_dict = {}, 0, 0
      for _ = 1, 4 * MAX do
        local report = call { client = client_opts { retries = 0 }, path = "/addressbooks" }
        local err = first(report).err
        if not workers[report.pid] then
          workers[report.pid] = true
          n_workers = n_workers + 1
        end
        assert.truthy(err, "a call went through with a lapsed token")
        if err.rule == "token_requests" and err.message:find("in the shared token store", 1, true) then
          in_dict = in_dict + 1
        end
      end
      assert.is_true(n_workers >= 2, "every call met the same worker: nothing was shared")
      assert.equal(MAX, sb:stats().token_requests)
      assert.is_true(in_dict >= 1, "no call met the bound in the shared dict")
    end)
  end)

  describe("token refresh from all workers #timing", function()
    it("is single-flight: never two token requests at once, never a 401", function()
      sb:configure { accounts = { { client_id = account, client_secret = SECRET } }, token_ttl = 2 }
      local N = 30
      local body = rawhttp.format_request("POST", "/call", {
        json = { client = client_opts { timeout = 30, refresh_margin = 1 }, path = "/addressbooks" },
        close = true })
      -- Paced at the budget's rate, so no call queues long enough for its
      -- token to expire while it waits (that one would be replayed after
      -- a 401, which is not what this test is about).
      local conns = {}
      for i = 1, N do
        conns[i] = assert(rawhttp.connect("127.0.0.1", ng.port, 30))
        assert(conns[i]:send(body))
        socket.sleep(0.1)
      end
      for i = 1, N do
        local res = assert(conns[i]:read_response())
        conns[i]:close()
        local r = res.json.results[1]
        assert.is_nil(r.err, r.err and r.err.text)
      end
      local stats = sb:stats()
      local times = {}
      for _, r in ipairs(stats.requests) do
        if r.path == "/oauth/access_token" then times[#times + 1] = r.t end
        assert.are_not.equal(401, r.status)
      end
      -- ~3 s of calls with tokens good for 1 s before their refresh: a few
      -- fetches, each by one worker for all, so never two close together
      -- (a second apart; 0.5 s of it is room for the sandbox's stamps,
      -- which a loaded machine delays by tens of ms).
      assert.is_true(#times >= 2, "the token was never refreshed")
      for i = 2, #times do
        assert.is_true(times[i] - times[i - 1] > 0.5,
          ("token requests %.3f s apart"):format(times[i] - times[i - 1]))
      end
    end)
  end)

  describe("phases without cosockets", function()
    local function check(report, phase)
      assert.equal(phase, report.got_phase)
      assert.is_nil(report.value)
      assert.is_table(report.err, "no error from the " .. phase .. " phase")
      assert.equal("argument", report.err.kind, report.err.text)
      assert.matches("'" .. phase .. "' phase", report.err.message)
      assert.matches(PHASE_HINT, report.err.message)
    end

    it("refuse a call at once from set_by_lua", function()
      local res = ng:get("/phase/set")
      assert.equal(200, res.status)
      check(res.json, "set")
    end)

    for _, phase in ipairs { "header_filter", "body_filter", "log", "balancer" } do
      it("refuse a call at once from " .. phase .. "_by_lua", function()
        local res = ng:get("/phase/" .. phase)
        assert.equal(200, res.status, res.body)
        check(ng:result("phase:" .. phase), phase)
      end)
    end

    it("refuse a call at once from init_by_lua and init_worker_by_lua", function()
      check(ng:result("phase:init"), "init")
      check(ng:result("phase:init_worker"), "init_worker")
    end)
  end)

  describe("phases with cosockets", function()
    for _, where in ipairs { { "/call", "content" }, { "/call/access", "access" },
                             { "/call/rewrite", "rewrite" } } do
      it("send from " .. where[2], function()
        local report = call({ path = "/addressbooks" }, where[1])
        assert.equal(where[2], report.phase)
        local r = first(report)
        assert.is_nil(r.err, r.err and r.err.text)
        assert.equal(200, r.meta.status)
      end)
    end

    it("send from a timer", function()
      local key = "timer-" .. serial
      local started = ng:call("/call/timer?key=" .. key, { client = client_opts(), path = "/addressbooks" })
      assert.is_true(started.started)
      local report = ng:result(key)
      assert.equal("timer", report.phase)
      local r = first(report)
      assert.is_nil(r.err, r.err and r.err.text)
    end)

    it("send from ssl_certificate_by_lua (during a TLS handshake nginx serves)", function()
      sb:configure { accounts = { { client_id = account, client_secret = SECRET, api_keys = { "ssl-cert-key" } } } }
      ng:call("/arm?key=ssl_cert:key&value=ssl-cert-key", {})
      -- A new TLS connection to nginx's TLS server runs its ssl_cert phase.
      local tls = first(ng:call("/call", { client = { api_key = "k", base_url = ng.sslcert_url, retries = 0 },
                                           path = "/fake/echo" }))
      assert.is_nil(tls.err, tls.err and tls.err.text)
      local report = ng:result("phase:ssl_cert")
      assert.equal("ssl_cert", report.phase)
      local r = first(report)
      assert.is_nil(r.err, r.err and r.err.text)
      assert.equal(200, r.meta.status)
    end)

    it("accept a client made in init_worker and used in content", function()
      sb:configure { accounts = { { client_id = "prebuilt", client_secret = SECRET } } }
      local report = ng:call("/call/prebuilt", { path = "/addressbooks" })
      local r = report.results[1]
      assert.is_nil(r.err, r.err and r.err.text)
    end)
  end)

  describe("generated services", function()
    it("send an SMTP email with client.smtp:send (Base64 done by the helper)", function()
      local r = first(call { helper = { service = "smtp", name = "send", args = {
        subject = "Hello from nginx", from = "shop@example.com", to = { "ann@example.com" },
        html = "<p>Hi Ann</p>" } } })
      assert.is_nil(r.err, r.err and r.err.text)
      local sent = sb:control("GET", "/_sandbox/smtp/" .. r.value.id)
      assert.equal("<p>Hi Ann</p>", sent.html)
      assert.equal("ann@example.com", sent.recipient)
    end)
  end)

  describe("token and connections", function()
    it("fetches one token for calls landing on different workers", function()
      -- Each /call is a new connection to nginx, so reuseport spreads
      -- them over the workers.
      for _ = 1, 8 do
        assert.is_nil(first(call { path = "/addressbooks" }).err)
      end
      assert.equal(1, sb:stats().token_requests)
    end)

    it("keeps the connection alive between calls (8 calls, 1 connection)", function()
      local report = call { path = "/addressbooks", times = 8 }
      for _, r in ipairs(report.results) do assert.is_nil(r.err, r.err and r.err.text) end
      local stats = sb:stats()
      assert.equal(9, #stats.requests)
      assert.equal(1, stats.connections_opened)
    end)

    it("sends again on a new connection when a kept-alive one was closed unanswered", function()
      -- The token request leaves first, so the GET goes on a reused
      -- connection, which the sandbox closes without answering.
      sb:fault { kind = "drop", path = "^/addressbooks", count = 1 }
      local r = first(call { path = "/addressbooks", client = client_opts { retries = 0 } })
      assert.is_nil(r.err, r.err and r.err.text)
      assert.equal(1, r.meta.attempts)
      local gets = count(sb:stats().requests, function(q) return q.path == "/addressbooks" end)
      assert.equal(2, gets)
    end)

    it("replaces the token once on a 401 and replays the call", function()
      assert.is_nil(first(call { path = "/addressbooks" }).err)
      sb:fault { kind = "unauthorized", path = "^/addressbooks", count = 1 }
      local r = first(call { path = "/addressbooks" })
      assert.is_nil(r.err, r.err and r.err.text)
      assert.equal(2, r.meta.attempts)
      assert.equal(2, sb:stats().token_requests)
    end)

    it("reports refused credentials as an auth error without the secret", function()
      local r = first(call { client = client_opts { client_secret = "wrong-secret-123" } })
      assert.equal("auth", r.err.kind)
      assert.is_nil(r.err.text:find("wrong-secret-123", 1, true))
    end)
  end)

  describe("quota windows", function()
    it("are counted in the dict for every worker, and a call past them fails at once", function()
      -- The token request and two calls fill the window of three.
      local opts = client_opts { rate_limit = { per_minute = 3 }, retries = 0 }
      local report = call { path = "/addressbooks", times = 4, client = opts }
      assert.is_nil(report.results[1].err, report.results[1].err and report.results[1].err.text)
      assert.is_nil(report.results[2].err, report.results[2].err and report.results[2].err.text)
      for i = 3, 4 do
        local err = report.results[i].err
        assert.equal("rate_limit", err.kind, err.text)
        assert.equal("per_minute", err.window)
        assert.is_false(err.maybe_sent)
        assert.is_true(err.retry_after > 50)
      end
      -- three slots 0.1 s apart, then two refusals at once; waiting for the
      -- window would take a minute
      assert.is_true(report.elapsed < 2, "took " .. report.elapsed)
      -- Whichever worker answers next, the dict says the same.
      for _ = 1, 3 do
        local err = first(call { path = "/addressbooks", client = opts }).err
        assert.equal("per_minute", err and err.window)
      end
      assert.equal(3, sb:stats().per_account[account])
    end)
  end)

  describe("shared dict trouble", function()
    it("falls back to the worker's share of the budget when the dict lock never frees, and says so", function()
      local report = call { path = "/addressbooks", jam_rate_lock = true,
                            client = client_opts { hook = true } }
      local r = first(report)
      assert.is_nil(r.err, r.err and r.err.text)
      local reported
      for _, e in ipairs(report.events) do
        if e.event == "store_error" and e.operation == "rate" then reported = e.message end
      end
      assert.is_string(reported, "no store_error event for the rate budget")
      assert.matches("shared dict 'sendpulse': lock: still taken", reported)
    end)
  end)

  describe("errors", function()
    it("reads {message, error_code} into an api error", function()
      sb:fault { kind = "status", path = "^/addressbooks", status = 400,
                 body = '{"message":"Book not found","error_code":213}' }
      local r = first(call { path = "/addressbooks/1", client = client_opts { retries = 0 } })
      assert.equal("api", r.err.kind)
      assert.equal(213, r.err.code)
      assert.equal("list_not_found", r.err.name)
      assert.equal(400, r.err.status)
    end)

    it("says what came back when the answer is an HTML 500 page", function()
      sb:fault { kind = "html500", path = "^/addressbooks", count = -1 }
      local r = first(call { path = "/addressbooks", client = client_opts { retries = 0 } })
      assert.equal("api", r.err.kind)
      assert.equal(500, r.err.status)
      assert.matches("text/html", r.err.message)
    end)

    it("reports malformed JSON in a 200 answer as a decode error", function()
      sb:fault { kind = "malformed", path = "^/addressbooks" }
      local r = first(call { path = "/addressbooks", client = client_opts { retries = 0 } })
      assert.equal("decode", r.err.kind)
    end)

    it("reports a refused connection as a network error", function()
      local port = nginx_process.free_port()
      local r = first(call { client = { api_key = "k", base_url = "http://127.0.0.1:" .. port, retries = 0 } })
      assert.equal("network", r.err.kind)
      assert.matches("connection refused", r.err.message)
    end)

    it("fails at new when the shared dict does not exist", function()
      local report = call { client = client_opts { shared_dict = "no_such_dict" } }
      assert.equal("argument", report.new_error.kind)
      assert.matches("option 'shared_dict'.*lua_shared_dict no_such_dict", report.new_error.message)
    end)

    it("fails at new on options the cosocket transport cannot honour", function()
      local report = call { client = client_opts { proxy = "http://127.0.0.1:3128" } }
      assert.equal("argument", report.new_error.kind)
      assert.matches("'proxy' is not supported by the cosocket transport", report.new_error.message)
    end)
  end)

  describe("timeouts and retries", function()
    it("times out a slow answer", function()
      sb:fault { kind = "delay", path = "^/addressbooks", delay = 2 }
      local report = call { path = "/addressbooks", client = client_opts { timeout = 0.5, retries = 0 } }
      local r = first(report)
      assert.equal("timeout", r.err.kind)
      -- 0.5 s; the answer would come after 2 s
      assert.is_true(report.elapsed < 1.5, "took " .. report.elapsed)
    end)

    it("bounds the whole call by timeout: retries and backoff included", function()
      sb:fault { kind = "delay", path = "^/addressbooks$", delay = 3, count = -1 }
      local report = call { path = "/addressbooks", opts = { timeout = 1 },
                            client = client_opts { retries = 2, retry_delay = 0.1 } }
      local r = first(report)
      assert.equal("timeout", r.err.kind, r.err.text)
      assert.equal(1, r.err.attempts)
      assert.is_true(r.err.maybe_sent)
      assert.is_true(r.err.retryable)
      -- a second attempt would make it 2.1 s at least (1 + 0.1 + 1)
      assert.is_true(report.elapsed < 1.9, "a 1 s call took " .. report.elapsed)
      assert.matches("not tried again", r.err.message)
    end)

    it("retries a GET after 5xx answers", function()
      sb:fault { kind = "status", path = "^/addressbooks", status = 503, count = 2, body = "{}" }
      local r = first(call { path = "/addressbooks", client = client_opts { retries = 2, retry_delay = 0.05 } })
      assert.is_nil(r.err, r.err and r.err.text)
      assert.equal(3, r.meta.attempts)
    end)

    it("does not replay a POST that timed out after it was sent", function()
      sb:fault { kind = "delay", path = "^/addressbooks", method = "POST", delay = 1.5 }
      local r = first(call { method = "POST", path = "/addressbooks", opts = { json = { bookName = "x" } },
                             client = client_opts { timeout = 0.5, retries = 2 } })
      assert.equal("timeout", r.err.kind)
      local posts = count(sb:stats().requests, function(q)
        return q.method == "POST" and q.path == "/addressbooks" end)
      assert.equal(1, posts)
    end)
  end)

  describe("HTTP over cosockets", function()
    local function fake(base, path, extra)
      local req = { client = { api_key = "k", base_url = base, retries = 0 }, path = path }
      for k, v in pairs(extra or {}) do req[k] = v end
      return first(ng:call("/call", req))
    end

    it("reads a chunked answer", function()
      local r = fake(ng.url, "/fake/chunked")
      assert.is_nil(r.err, r.err and r.err.text)
      assert.equal(50, #r.value.parts)
      for i, part in ipairs(r.value.parts) do assert.equal(i * 10, #part) end
    end)

    it("reads an answer that ends when the server closes", function()
      local r = fake(ng.url, "/fake/nolength")
      assert.is_nil(r.err, r.err and r.err.text)
      assert.equal("closed", r.value["until"])
    end)

    it("does not wait for a body after HEAD", function()
      local report = ng:call("/call", { client = { api_key = "k", base_url = ng.url, retries = 0, timeout = 2 },
                                        method = "HEAD", path = "/fake/echo" })
      local r = first(report)
      assert.is_nil(r.err, r.err and r.err.text)
      assert.equal(200, r.meta.status)
      -- a few ms; waiting for a body would last the 2 s timeout
      assert.is_true(report.elapsed < 1.5, "HEAD took " .. report.elapsed)
    end)

    it("sends method, body, Host, User-Agent and no Accept-Encoding", function()
      local r = fake(ng.url, "/fake/echo", { method = "PUT", opts = { json = { a = 1 }, query = { q = "x y" } } })
      local seen = r.value
      assert.equal("PUT", seen.method)
      assert.equal('{"a":1}', seen.body)
      assert.equal("/fake/echo?q=x%20y", seen.uri)
      assert.equal("application/json", seen.headers["content-type"])
      assert.equal("127.0.0.1:" .. ng.port, seen.headers.host)
      assert.matches("^lua%-sendpulse/", seen.headers["user-agent"])
      assert.is_nil(seen.headers["accept-encoding"])
    end)

    it("reports an encoded answer it did not ask for", function()
      local r = fake(ng.url, "/fake/gzip")
      assert.equal("network", r.err.kind)
      assert.matches("gzip%-encoded", r.err.message)
    end)

    it("verifies TLS against lua_ssl_trusted_certificate", function()
      local r = fake(ng.tls_url, "/fake/echo")
      assert.is_nil(r.err, r.err and r.err.text)
      assert.equal("GET", r.value.method)
    end)

    it("refuses a certificate for another name", function()
      local r = fake(ng.badname_url, "/fake/echo")
      assert.equal("network", r.err.kind, r.err.text)
      assert.is_true(r.err.tls, r.err.text)
      assert.is_false(r.err.retryable)
      -- nginx names the reason unless its handshake had to wait (see
      -- the cosocket transport); the request is refused either way.
      assert.is_truthy(r.err.message:find("host mismatch", 1, true)
        or r.err.message:find("certificate was refused", 1, true), r.err.text)
    end)

    it("refuses a certificate from an unknown CA", function()
      local r = fake(ng.self_url, "/fake/echo")
      assert.is_true(r.err.tls, r.err.text)
      assert.is_false(r.err.retryable)
      assert.is_truthy(r.err.message:find("self-signed", 1, true)
        or r.err.message:find("certificate was refused", 1, true), r.err.text)
    end)
  end)

  it("leaves no errors and no secret in nginx's error log", function()
    local log = ng:log()
    assert.same({}, ng:errors())
    assert.is_nil(log:find(SECRET, 1, true))
    assert.is_nil(log:find("wrong-secret-123", 1, true))
  end)
end)
