-- The sandbox's parts on their own, without sockets: HTTP parsing, JSON
-- encoding, routing, faults, stats and state.
local http = require "sendpulse.sandbox.http"
local json = require "sendpulse.sandbox.json"
local router = require "sendpulse.sandbox.router"
local faults = require "sendpulse.sandbox.faults"
local stats = require "sendpulse.sandbox.stats"
local limits = require "sendpulse.sandbox.limits"
local state = require "sendpulse.sandbox.state"
local reply = require "sendpulse.sandbox.reply"

-- A reader over `text`, handed out `size` bytes at a time.
local function reader_of(text, size)
  local pos = 1
  return http.reader(function()
    if pos > #text then return nil, "closed" end
    local chunk = text:sub(pos, pos + size - 1)
    pos = pos + size
    return chunk
  end)
end

describe("sandbox http", function()
  local GET = "GET /a%20b/c+d?x=1&y=two+words&z=%2F HTTP/1.1\r\nHost: h\r\nX-A: 1\r\nx-a: 2\r\n\r\n"

  it("parses a request fed one byte at a time", function()
    local req = assert(http.read_request(reader_of(GET, 1)))
    assert.equal("GET", req.method)
    assert.equal("/a b/c+d", req.path)
    assert.same({ x = "1", y = "two words", z = "/" }, req.query)
    assert.equal("1, 2", req.headers["x-a"])
    assert.equal("", req.body)
    assert.is_true(req.keepalive)
  end)

  it("reads pipelined requests in order and then reports the end", function()
    local post = "POST /p HTTP/1.1\r\nContent-Length: 5\r\n\r\nhello"
    local r = reader_of(post .. GET .. post, 7)
    assert.equal("hello", http.read_request(r).body)
    assert.equal("/a b/c+d", http.read_request(r).path)
    assert.equal("hello", http.read_request(r).body)
    local req, err, status = http.read_request(r)
    assert.is_nil(req)
    assert.equal("closed", err)
    assert.is_nil(status)
  end)

  it("decodes chunked bodies with extensions and trailers", function()
    local text = "POST /p HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n"
      .. "5;ext=1\r\nhello\r\n6\r\n world\r\n0\r\nTrailer: x\r\n\r\n" .. GET
    local r = reader_of(text, 3)
    assert.equal("hello world", http.read_request(r).body)
    assert.equal("GET", http.read_request(r).method)
  end)

  it("decides keep-alive from the version and Connection", function()
    local function keep(head)
      return http.read_request(reader_of(head .. "\r\n\r\n", 100)).keepalive
    end
    assert.is_true(keep("GET / HTTP/1.1"))
    assert.is_false(keep("GET / HTTP/1.1\r\nConnection: close"))
    assert.is_false(keep("GET / HTTP/1.0"))
    assert.is_true(keep("GET / HTTP/1.0\r\nConnection: keep-alive"))
  end)

  it("refuses bad framing with a status to answer", function()
    local cases = {
      { "GET / HTTP/1.1\r\nContent-Length: x\r\n\r\n", 400 },
      { "POST / HTTP/1.1\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n", 400 },
      { "POST / HTTP/1.1\r\nTransfer-Encoding: gzip\r\n\r\n", 501 },
      { "GET / HTTP/1.1\r\nX: " .. ("a"):rep(http.MAX_HEADER_BYTES + 10) .. "\r\n\r\n", 431 },
      { "GET / HTTP/1.1\r\nX: 1\r\n folded\r\n\r\n", 400 },
      { "get / HTTP/1.1\r\n\r\n", 400 },
    }
    for _, case in ipairs(cases) do
      local req, _, status = http.read_request(reader_of(case[1], 4096))
      assert.is_nil(req and req.method, case[1]:sub(1, 60))
      assert.equal(case[2], status, case[1]:sub(1, 60))
    end
  end)

  it("asks for 100-continue only when the client expects it", function()
    local calls = 0
    local function continue() calls = calls + 1 end
    local body = "POST / HTTP/1.1\r\nContent-Length: 2\r\n"
    http.read_request(reader_of(body .. "\r\nhi", 100), continue)
    assert.equal(0, calls)
    http.read_request(reader_of(body .. "Expect: 100-continue\r\n\r\nhi", 100), continue)
    assert.equal(1, calls)
  end)

  it("formats responses with Content-Length and Connection", function()
    local text = http.response(404, { { "Content-Type", "application/json" } }, "{}", false)
    assert.equal("HTTP/1.1 404 Not Found\r\nContent-Type: application/json\r\n"
                 .. "Content-Length: 2\r\nConnection: close\r\n\r\n{}", text)
  end)
end)

describe("sandbox json", function()
  it("writes integral numbers without a fraction and keeps others exact", function()
    assert.equal("[1000,-3,1.5,0.1,1795709646.9711]",
                 json.encode({ 1000.0, -3, 1.5, 0.1, 1795709646.9711 }))
  end)

  it("writes marked empty tables as arrays and others as objects", function()
    assert.equal('{"a":[],"b":{},"c":null,"d":"x/y\\"z"}',
                 json.encode({ a = json.array(), b = {}, c = json.null, d = 'x/y"z' }))
  end)

  it("refuses what JSON cannot hold", function()
    assert.has_error(function() json.encode({ 0 / 0 }) end)
    assert.has_error(function() json.encode({ f = print }) end)
  end)
end)

describe("sandbox router", function()
  local r = router.new()
  local function h() end
  r:add { method = "GET", path = "/books/{id}/emails", handler = h }
  r:add { method = "POST", path = "/books/{id}/emails", handler = h }

  it("matches templates and names the parameters", function()
    local route, params = r:match("GET", "/books/17/emails/")
    assert.equal("GET", route.method)
    assert.same({ id = "17" }, params)
  end)

  it("tells a wrong method from an unknown path", function()
    local route, why, allowed = r:match("PUT", "/books/17/emails")
    assert.is_nil(route)
    assert.equal("method not allowed", why)
    assert.same({ "GET", "POST" }, allowed)
    assert.equal("not found", select(2, r:match("GET", "/books/17")))
    assert.equal("not found", select(2, r:match("GET", "/books/1/2/emails")))
  end)

  it("refuses an incomplete route", function()
    assert.has_error(function() r:add { method = "GET", path = "/x" } end)
  end)
end)

describe("sandbox reply", function()
  it("turns a raised answer into the handler's result", function()
    local function handler(ctx)
      if ctx.bad then reply.fail(404, "Book not found", 213) end
      return 200, { ok = true }, { { "X", "1" } }
    end
    assert.same({ 200, { ok = true }, { { "X", "1" } } }, { reply.call(handler, {}) })
    assert.same({ 404, { message = "Book not found", error_code = 213 } },
                { reply.call(handler, { bad = true }) })
  end)

  it("lets real errors through, with a traceback", function()
    local ok, err = pcall(reply.call, function() error("boom") end, {})
    assert.is_false(ok)
    assert.matches("boom", err)
    assert.matches("traceback", err)
  end)

  it("reads JSON or form bodies and refuses unreadable ones with 21356", function()
    local form = { headers = { ["content-type"] = "application/x-www-form-urlencoded" },
                   body = "a=1&b=x+y" }
    assert.same({ a = "1", b = "x y" }, reply.params(form))
    assert.same({}, reply.params({ headers = {}, body = "" }))
    local status, value = reply.call(function(ctx) return 200, reply.params(ctx) end,
                                     { headers = {}, body = "[1," })
    assert.equal(422, status)
    assert.equal(21356, value.error_code)
    assert.is_nil(reply.try_json({ headers = {}, body = '"just a string"' }))
  end)
end)

describe("sandbox faults", function()
  it("applies the first matching fault and consumes its count", function()
    local f = faults.new()
    assert(f:add { kind = "drop", method = "post", count = 2 })
    assert(f:add { kind = "html500", path = "^/oauth/" })
    assert.is_nil(f:take("GET", "/addressbooks"))
    assert.equal("drop", f:take("POST", "/oauth/access_token").kind)
    assert.equal("drop", f:take("POST", "/x").kind)
    assert.equal("html500", f:take("POST", "/oauth/access_token").kind)
    assert.is_nil(f:take("POST", "/oauth/access_token"))
  end)

  it("keeps a count -1 fault until cleared", function()
    local f = faults.new()
    assert(f:add { kind = "unauthorized", count = -1 })
    for _ = 1, 5 do assert.equal("unauthorized", f:take("GET", "/").kind) end
    f:clear()
    assert.is_nil(f:take("GET", "/"))
  end)

  it("names the bad field of a fault", function()
    local f = faults.new()
    local cases = {
      { { kind = "nope" }, "kind" },
      { { kind = "delay" }, "delay" },
      { { kind = "status", status = 42 }, "status" },
      { { kind = "drop", count = 0 }, "count" },
      { { kind = "drop", path = "[" }, "path" },
      { { kind = "drop", method = 1 }, "method" },
    }
    for _, case in ipairs(cases) do
      local fault, err = f:add(case[1])
      assert.is_nil(fault)
      assert.matches(case[2], err)
    end
  end)

  it("cuts a malformed answer to invalid JSON", function()
    local normal = { status = 200, body = '{"id":1001}' }
    local answer = faults.answer({ kind = "malformed" }, normal)
    assert.equal(200, answer.status)
    assert.is_nil(json.decode(answer.body))
    assert.is_nil(json.decode(faults.answer({ kind = "malformed" }, { body = "[]" }).body))
  end)
end)

describe("sandbox stats", function()
  it("finds the busiest one-second window per account", function()
    local s = stats.new(limits.DEFAULTS)
    local times = { 0, 0.1, 0.5, 0.99, 1.0, 1.05, 3 }
    local connections = { [0] = { id = 0 }, { id = 1 }, { id = 9 } }
    local accepted_after_05 = {}
    for i, t in ipairs(times) do
      s:record({ t = t, method = "GET", path = "/", connection = i % 2, auth = "api_key",
                 account = "a", status = 200, counted = i ~= 2 }, connections[i % 2])
      -- the rate limiter's question, asked as each request arrives
      if t == 1.05 then accepted_after_05[#accepted_after_05 + 1] = s:accepted_since("a", 0.05) end
    end
    s:record({ t = 1.0, method = "GET", path = "/", connection = 9, auth = "none", status = 401 }, connections[2])
    local sum = s:summary()
    -- [0.1, 1.1) holds 0.1, 0.5, 0.99, 1.0 and 1.05; [0, 1.0) only four.
    assert.equal(5, sum.max_in_window.a)
    assert.equal(7, sum.per_account.a)
    assert.equal(3, sum.connections_opened)
    assert.equal(8, #sum.requests)
    -- Counted requests after 0.05, at 1.05: 0.5, 0.99, 1.0, 1.05 (0.1 was
    -- not counted; the window keeps the last second only).
    assert.same({ 4 }, accepted_after_05)
    assert.equal(1, s:accepted_since("a", 2.5))
  end)

  it("keeps the newest max_requests rows, each path and query cut", function()
    local s = stats.new { max_requests = 3, max_request_text = 16 }
    local conn = { id = 1 }
    for i = 1, 5 do
      s:record({ t = i, method = "GET", path = "/p" .. i .. string.rep("x", i * 10), query = "q=" .. i,
                 connection = 1, auth = "none", status = 401 }, conn)
    end
    local sum = s:summary()
    assert.equal(3, #sum.requests)
    assert.equal("q=3", sum.requests[1].query)
    assert.equal(2, sum.requests_dropped)
    assert.equal("/p5xxxxxxxxxxxxx...[cut: 53 bytes]", sum.requests[3].path)
    assert.equal(1, sum.connections_opened)
    -- a connection kept alive across a reset counts again
    s:clear()
    s:record({ t = 6, method = "GET", path = "/", connection = 1, auth = "none", status = 401 }, conn)
    assert.equal(1, s:summary().connections_opened)
  end)
end)

describe("sandbox state", function()
  it("expires tokens and keeps API keys", function()
    local st = state.new()
    assert(st:configure { token_ttl = 10 })
    local token, ttl = st:issue_token("sandbox-id", 100)
    assert.equal(10, ttl)
    assert.equal(40, #token)
    assert.same({ "sandbox-id", "token" }, { st:authenticate(token, 109.9) })
    assert.is_nil(st:authenticate(token, 110))
    assert.same({ "sandbox-id", "api_key" }, { st:authenticate("sandbox-api-key", 1e9) })
  end)

  it("checks a configuration whole before applying any of it", function()
    local st = state.new()
    local ok, err = st:configure { rate = 5, accounts = { { client_id = "" } } }
    assert.is_nil(ok)
    assert.matches("client_id", err)
    assert.equal(10, st.rate)
    assert.is_nil(st:configure { token_ttl = 0 })
    assert.is_nil(st:configure { rate = 1.5 })
  end)
end)

describe("sandbox faults for the outbox", function()

  it("drop_after processes the request, then drops the answer", function()
    local f = faults.new()
    local fault = assert(f:add { kind = "drop_after" })
    assert.is_true(faults.processes(fault))
    assert.same({ drop = true }, faults.answer(fault, { status = 200, body = "{}" }))
  end)

  it("hits a matching request with the given probability, a miss using nothing", function()
    local f = faults.new()
    assert(f:add { kind = "drop", count = -1, probability = 0.25 })
    local hits = 0
    for _ = 1, 4000 do
      if f:take("GET", "/x") then hits = hits + 1 end
    end
    -- 1,000 expected; the binomial's standard deviation is ~27: 8 of them
    -- either side cannot fail by chance in any run.
    assert.is_true(hits > 780 and hits < 1220, hits)
    assert.equal(1, #f.list)
  end)

  it("holds a fault for its duration whatever its count, then drops it", function()
    local f = faults.new()
    assert(f:add { kind = "status", status = 503, duration = 0.2 })
    assert.truthy(f:take("GET", "/a"))
    assert.truthy(f:take("POST", "/b"))
    require("socket").sleep(0.25)
    assert.is_nil(f:take("GET", "/a"))
    assert.equal(0, #f.list)
  end)

  it("names a bad probability or duration", function()
    local f = faults.new()
    assert.matches("probability", select(2, f:add { kind = "drop", probability = 0 }))
    assert.matches("probability", select(2, f:add { kind = "drop", probability = 1.5 }))
    assert.matches("duration", select(2, f:add { kind = "drop", duration = -1 }))
  end)
end)
