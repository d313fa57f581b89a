-- The SendPulse sandbox over real sockets: one server process for the file,
-- reset before every test. A failing test prints the server's log.
local busted = require "busted"
local socket = require "socket"
local cjson = require "cjson.safe"
local sp = require "support.sandbox_process"
local rawhttp = require "support.rawhttp"

local API_KEY = "sandbox-api-key"
local UNAUTHORIZED = { message = "Unauthorized!", error_code = 401 }

describe("sandbox", function()
  local sb

  setup(function()
    sb = sp.start()
  end)

  teardown(function()
    if sb then sb:stop() end
  end)

  before_each(function()
    sb:reset()
  end)

  busted.subscribe({ "test", "end" }, function(_, _, status)
    if status ~= "success" and sb then
      -- The log since this test's reset.
      local log = sb:log()
      local from = 1
      for pos in log:gmatch("()[^\n]*POST /_sandbox/reset") do from = pos end
      io.stderr:write("\n--- sandbox log ---\n", log:sub(from), "--- end of log ---\n")
    end
    return nil, true
  end)

  -- One request on a new connection.
  local function call(method, path, opts)
    local res, err = rawhttp.request(sb.host, sb.port, method, path, opts)
    assert(res, err)
    return res
  end

  local function api(method, path, json)
    return call(method, path, { token = API_KEY, json = json })
  end

  local function get_token(client_id, secret)
    return call("POST", "/oauth/access_token", {
      form = { grant_type = "client_credentials", client_id = client_id or "sandbox-id",
               client_secret = secret or "sandbox-secret" },
    })
  end

  describe("start-up", function()
    it("reports its address and pid, and the pid is the server", function()
      assert.is_number(sb.pid)
      assert.is_true(sb.port > 0)
      -- The pid names a live process (os.execute: true on 5.2+, 0 on 5.1).
      local alive = os.execute("kill -0 " .. sb.pid)
      assert.is_true(alive == true or alive == 0)
      local cmdline = io.open("/proc/" .. sb.pid .. "/cmdline")
      if cmdline then -- Linux: the pid is the interpreter running the server
        assert.matches("sandbox/init.lua", cmdline:read("*a"), 1, true)
        cmdline:close()
      end
    end)

    it("fails to start with the server's own reason", function()
      local ok, err = pcall(sp.start, { port = sb.port })
      assert.is_false(ok)
      assert.matches("address already in use", err, 1, true)
      ok, err = pcall(sp.start, { rate = 1.5 })
      assert.is_false(ok)
      assert.matches("rate must be a whole number", err, 1, true)
    end)

    it("answers JSON with Content-Length on every response", function()
      local res = api("GET", "/addressbooks")
      assert.equal(200, res.status)
      assert.equal("application/json", res.headers["content-type"])
      assert.equal(tostring(#res.body), res.headers["content-length"])
      assert.equal("[]", res.body)
    end)
  end)

  describe("OAuth tokens", function()
    it("issues a Bearer token for form credentials", function()
      local res = get_token()
      assert.equal(200, res.status)
      assert.equal("Bearer", res.json.token_type)
      assert.equal(3600, res.json.expires_in)
      assert.matches("^[%w]+$", res.json.access_token)
      assert.equal(40, #res.json.access_token)
      assert.equal(200, call("GET", "/addressbooks", { token = res.json.access_token }).status)
    end)

    it("accepts JSON credentials, and earlier tokens stay valid", function()
      local first = get_token().json.access_token
      local res = call("POST", "/oauth/access_token", { json = {
        grant_type = "client_credentials", client_id = "sandbox-id",
        client_secret = "sandbox-secret" } })
      assert.equal(200, res.status)
      local second = res.json.access_token
      assert.are_not.equal(first, second)
      assert.equal(200, call("GET", "/addressbooks", { token = first }).status)
      assert.equal(200, call("GET", "/addressbooks", { token = second }).status)
    end)

    it("refuses a wrong secret or an unknown client with invalid_client", function()
      for _, creds in ipairs { { "sandbox-id", "wrong" }, { "nobody", "sandbox-secret" } } do
        local res = get_token(creds[1], creds[2])
        assert.equal(401, res.status)
        assert.same({ error = "invalid_client",
                      error_description = "Client authentication failed",
                      message = "Client authentication failed" }, res.json)
      end
    end)

    it("refuses another grant type", function()
      local res = call("POST", "/oauth/access_token", {
        form = { grant_type = "password", client_id = "sandbox-id",
                 client_secret = "sandbox-secret" } })
      assert.equal(400, res.status)
      assert.equal("unsupported_grant_type", res.json.error)
    end)

    it("uses configured accounts and their API keys", function()
      sb:configure { accounts = {
        { client_id = "acme", client_secret = "s3", api_keys = { "acme-key" } } } }
      assert.equal(401, get_token().status)
      assert.equal(200, get_token("acme", "s3").status)
      assert.equal(200, call("GET", "/addressbooks", { token = "acme-key" }).status)
      assert.equal(401, api("GET", "/addressbooks").status)
      local _, status = sb:control("POST", "/_sandbox/config", { rate = -1 })
      assert.equal(400, status)
    end)
  end)

  describe("authentication", function()
    it("answers 401 Unauthorized! without a credential or with an unknown one", function()
      local res = call("GET", "/addressbooks")
      assert.equal(401, res.status)
      assert.same(UNAUTHORIZED, res.json)
      res = call("GET", "/addressbooks", { token = "not-a-token" })
      assert.equal(401, res.status)
      assert.same(UNAUTHORIZED, res.json)
      assert.equal(401, call("GET", "/nowhere").status)
    end)

    it("expires tokens after token_ttl", function()
      -- The call with the fresh token has a second (a few ms without load,
      -- tens with valgrind or a loaded machine); the one after the sleep
      -- comes after the token's end whatever the load.
      sb:configure { token_ttl = 1 }
      local res = get_token()
      assert.equal(1, res.json.expires_in)
      local token = res.json.access_token
      assert.equal(200, call("GET", "/addressbooks", { token = token }).status)
      socket.sleep(1.1)
      res = call("GET", "/addressbooks", { token = token })
      assert.equal(401, res.status)
      assert.same(UNAUTHORIZED, res.json)
    end)

    it("accepts the static API key and says so in the stats", function()
      assert.equal(200, api("GET", "/addressbooks").status)
      local token = get_token().json.access_token
      assert.equal(200, call("GET", "/addressbooks", { token = token }).status)
      local reqs = sb:stats().requests
      assert.equal(3, #reqs)
      assert.equal("api_key", reqs[1].auth)
      assert.equal("none", reqs[2].auth)
      assert.equal("token", reqs[3].auth)
      for _, r in ipairs(reqs) do assert.equal("sandbox-id", r.account) end
    end)

    it("keeps secrets, tokens and bodies out of the log", function()
      local token = get_token().json.access_token
      call("GET", "/addressbooks", { token = token })
      api("POST", "/addressbooks", { bookName = "private-list-name" })
      local log = sb:log()
      assert.matches("GET /addressbooks", log, 1, true)
      assert.is_nil(log:find("sandbox-secret", 1, true))
      assert.is_nil(log:find(token, 1, true))
      assert.is_nil(log:find(API_KEY, 1, true))
      assert.is_nil(log:find("Bearer", 1, true))
      assert.is_nil(log:find("private-list-name", 1, true))
    end)
  end)

  describe("rate limit", function()
    it("answers 2020202020 after 10 requests in a second, and recovers", function()
      -- The 11 requests are sent together (pipelined on one connection), so
      -- that they arrive within the second however slow this process is
      -- (valgrind, a loaded machine); one after another they took up to a
      -- third of it under valgrind alone.
      local conn = sb:connect()
      assert(conn:send(rawhttp.format_request("GET", "/addressbooks", { token = API_KEY }):rep(11)))
      for i = 1, 10 do
        assert.equal(200, conn:read_response().status, i)
      end
      local res = conn:read_response()
      assert.equal(429, res.status)
      assert.same({ message = "More than 10 requests per second", error_code = 2020202020 },
                  res.json)
      socket.sleep(1.05)
      assert.equal(200, conn:request("GET", "/addressbooks", { token = API_KEY }).status)
      conn:close()

      local stats = sb:stats()
      assert.equal(12, stats.per_account["sandbox-id"])
      assert.equal(11, stats.max_in_window["sandbox-id"])
      local statuses = {}
      for _, r in ipairs(stats.requests) do statuses[#statuses + 1] = r.status end
      assert.equal(429, statuses[11])
      -- Arrival times are there for a test's own windows.
      assert.is_true(stats.requests[12].t - stats.requests[1].t >= 1.0)
    end)

    it("counts token requests against the client's account and uses the configured rate",
       function()
      sb:configure { rate = 3 }
      -- Pipelined, as above: the five arrive within the second.
      local function token_request(secret)
        return rawhttp.format_request("POST", "/oauth/access_token", { form = {
          grant_type = "client_credentials", client_id = "sandbox-id", client_secret = secret } })
      end
      local api_request = rawhttp.format_request("GET", "/addressbooks", { token = API_KEY })
      local conn = sb:connect()
      assert(conn:send(token_request("sandbox-secret") .. token_request("wrong") .. api_request:rep(2)
        .. token_request("sandbox-secret")))
      assert.equal(200, conn:read_response().status)
      assert.equal(401, conn:read_response().status)
      assert.equal(200, conn:read_response().status)
      local res = conn:read_response()
      assert.equal(429, res.status)
      assert.equal("More than 3 requests per second", res.json.message)
      res = conn:read_response()
      assert.equal(429, res.status)
      assert.equal(2020202020, res.json.error_code)
      conn:close()
      local stats = sb:stats()
      assert.equal(3, stats.token_requests)
      assert.equal(5, stats.max_in_window["sandbox-id"])
    end)

    it("is off with rate 0 and never applies to control calls", function()
      sb:configure { rate = 0 }
      for _ = 1, 15 do assert.equal(200, api("GET", "/addressbooks").status) end
      sb:configure { rate = 1 }
      for _ = 1, 5 do sb:stats() end
      assert.equal(15, #sb:stats().requests)
    end)
  end)

  describe("HTTP", function()
    it("keeps a connection alive across requests", function()
      local conn = sb:connect()
      for _ = 1, 3 do
        local res = conn:request("GET", "/addressbooks", { token = API_KEY })
        assert.equal(200, res.status)
        assert.equal("keep-alive", res.headers["connection"])
      end
      conn:close()
      local stats = sb:stats()
      assert.equal(1, stats.connections_opened)
      assert.equal(3, #stats.requests)
      assert.equal(stats.requests[1].connection, stats.requests[3].connection)
    end)

    it("honours Connection: close", function()
      local conn = sb:connect()
      local res = conn:request("GET", "/addressbooks", { token = API_KEY, close = true })
      assert.equal(200, res.status)
      assert.equal("close", res.headers["connection"])
      assert.is_true(conn:closed_by_peer(1))
      conn:close()
    end)

    it("answers pipelined requests in order", function()
      local conn = sb:connect()
      local a = rawhttp.format_request("POST", "/addressbooks",
                                       { token = API_KEY, json = { bookName = "A" } })
      local b = rawhttp.format_request("GET", "/addressbooks", { token = API_KEY })
      local c = rawhttp.format_request("GET", "/nowhere", { token = API_KEY })
      assert(conn:send(a .. b .. c))
      local ra, rb, rc = conn:read_response(), conn:read_response(), conn:read_response()
      assert.equal(200, ra.status)
      assert.equal(200, rb.status)
      assert.equal("A", rb.json[1].name)
      assert.equal(404, rc.status)
      conn:close()
    end)

    it("reads chunked request bodies", function()
      local body = '{"bookName": "chunked list"}'
      local chunked = string.format("%x\r\n%s\r\n%x\r\n%s\r\n0\r\n\r\n",
                                    10, body:sub(1, 10), #body - 10, body:sub(11))
      local res = call("POST", "/addressbooks", { token = API_KEY, body = chunked, headers = {
        ["Transfer-Encoding"] = "chunked", ["Content-Type"] = "application/json",
        ["Content-Length"] = false } })
      assert.equal(200, res.status)
      assert.equal("chunked list", api("GET", "/addressbooks").json[1].name)
    end)

    it("answers Expect: 100-continue before the body is sent", function()
      local conn = sb:connect()
      local body = cjson.encode { bookName = "big" }
      assert(conn:send("POST /addressbooks HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer "
                       .. API_KEY .. "\r\nContent-Type: application/json\r\nContent-Length: "
                       .. #body .. "\r\nExpect: 100-continue\r\n\r\n"))
      assert.equal("HTTP/1.1 100 Continue", conn.sock:receive("*l"))
      assert.equal("", conn.sock:receive("*l"))
      assert(conn:send(body))
      assert.equal(200, conn:read_response().status)
      conn:close()
    end)

    it("answers 400 to a malformed request line and closes", function()
      local conn = sb:connect()
      assert(conn:send("NONSENSE\r\n\r\n"))
      local res = conn:read_response()
      assert.equal(400, res.status)
      assert.is_true(conn:closed_by_peer(1))
      conn:close()
    end)

    it("answers 404 Not found for unknown routes and 405 for a wrong method", function()
      local res = api("GET", "/nowhere")
      assert.equal(404, res.status)
      assert.same({ message = "Not found", error_code = 404 }, res.json)
      res = api("PATCH", "/addressbooks")
      assert.equal(405, res.status)
      assert.equal(404, call("GET", "/_sandbox/nothing").status)
    end)
  end)

  describe("faults", function()
    -- These tests make more than 10 calls a second.
    before_each(function() sb:configure { rate = 0 } end)

    it("delay: answers normally, late", function()
      sb:fault { kind = "delay", delay = 0.3, path = "^/addressbooks$" }
      local t0 = socket.gettime()
      local res = api("GET", "/addressbooks")
      local took = socket.gettime() - t0
      assert.equal(200, res.status)
      assert.equal("[]", res.body)
      assert.is_true(took >= 0.3, "took " .. took)   -- (a lower bound: load only adds)
      api("GET", "/addressbooks")
      -- the fault was used up: the second request had none (its time would
      -- tell too, less surely on a loaded machine)
      local reqs = sb:stats().requests
      assert.same({ "delay", "none" }, { reqs[1].fault or "none", reqs[2].fault or "none" })
    end)

    it("drop: closes the connection without an answer", function()
      sb:fault { kind = "drop" }
      local conn = sb:connect()
      local res, err = conn:request("GET", "/addressbooks", { token = API_KEY })
      assert.is_nil(res)
      assert.equal("closed", err)
      conn:close()
      assert.equal(200, api("GET", "/addressbooks").status)
      local reqs = sb:stats().requests
      assert.equal("drop", reqs[1].fault)
      assert.equal(0, reqs[1].status)
      assert.is_nil(reqs[2].fault)
    end)

    it("html500: an nginx HTML page with status 500", function()
      sb:fault { kind = "html500" }
      local res = api("GET", "/addressbooks")
      assert.equal(500, res.status)
      assert.equal("text/html", res.headers["content-type"])
      assert.matches("<html>", res.body, 1, true)
      assert.matches("500 Internal Server Error", res.body, 1, true)
      assert.is_nil(res.json)
    end)

    it("malformed: status 200 with a body that is not JSON", function()
      sb:fault { kind = "malformed" }
      local res = api("POST", "/addressbooks", { bookName = "half" })
      assert.equal(200, res.status)
      assert.equal("application/json", res.headers["content-type"])
      assert.is_true(#res.body > 0)
      assert.is_nil(cjson.decode(res.body))
    end)

    it("unauthorized: 401 even with a valid credential", function()
      sb:fault { kind = "unauthorized" }
      local res = api("GET", "/addressbooks")
      assert.equal(401, res.status)
      assert.same(UNAUTHORIZED, res.json)
      assert.equal(200, api("GET", "/addressbooks").status)
    end)

    it("status: exactly the given status and body", function()
      sb:fault { kind = "status", status = 503, body = "busy, come back later" }
      local res = api("GET", "/addressbooks")
      assert.equal(503, res.status)
      assert.equal("busy, come back later", res.body)
    end)

    it("matches method and path pattern, in order, and consumes counts", function()
      sb:fault { kind = "status", status = 502, body = "{}", method = "POST", count = 2 }
      sb:fault { kind = "status", status = 504, body = "{}", path = "^/oauth/" }
      assert.equal(200, api("GET", "/addressbooks").status)
      assert.equal(502, api("POST", "/addressbooks", { bookName = "x" }).status)
      assert.equal(502, get_token().status)
      assert.equal(504, get_token().status)
      assert.equal(200, get_token().status)
      assert.equal(200, api("POST", "/addressbooks", { bookName = "x" }).status)
    end)

    it("count -1 lasts until reset, and faults never touch /_sandbox/", function()
      sb:fault { kind = "html500", count = -1 }
      for _ = 1, 3 do assert.equal(500, api("GET", "/addressbooks").status) end
      assert.equal(3, #sb:stats().requests)
      sb:reset()
      assert.equal(200, api("GET", "/addressbooks").status)
    end)

    it("delays other kinds too", function()
      sb:fault { kind = "status", status = 500, body = "late", delay = 0.25 }
      local t0 = socket.gettime()
      local res = api("GET", "/addressbooks")
      assert.equal(500, res.status)
      assert.is_true(socket.gettime() - t0 >= 0.25)   -- (a lower bound: load only adds)
    end)

    it("rejects a bad fault description", function()
      local value, status = sb:control("POST", "/_sandbox/faults", { kind = "explode" })
      assert.equal(400, status)
      assert.matches("kind", value.message)
      value, status = sb:control("POST", "/_sandbox/faults", { kind = "status" })
      assert.equal(400, status)
      assert.matches("status", value.message)
    end)
  end)

  describe("mailing lists", function()
    -- These tests make more than 10 calls a second.
    before_each(function() sb:configure { rate = 0 } end)

    local function create(name)
      local res = api("POST", "/addressbooks", { bookName = name })
      assert.equal(200, res.status, res.body)
      -- Ids are JSON integers, never 1001.0.
      assert.matches('^{"id":%d+}$', res.body)
      return math.floor(res.json.id)
    end

    it("creates, lists with limit/offset, and keeps id order", function()
      local ids = { create("one"), create("two"), create("three") }
      assert.is_true(ids[1] < ids[2] and ids[2] < ids[3])
      local res = api("GET", "/addressbooks?limit=2&offset=1")
      assert.equal(200, res.status)
      assert.equal(2, #res.json)
      assert.equal(ids[2], res.json[1].id)
      assert.equal("three", res.json[2].name)
      local book = res.json[1]
      assert.equal(0, book.all_email_qty)
      assert.equal(0, book.active_email_qty)
      assert.equal(0, book.inactive_email_qty)
      assert.matches("^%d%d%d%d%-%d%d%-%d%d %d%d:%d%d:%d%d$", book.creationdate)
      assert.is_number(book.status)
      assert.is_string(book.status_explain)
      assert.equal(3, #api("GET", "/addressbooks").json)
      assert.equal("[]", api("GET", "/addressbooks?offset=3").body)
    end)

    it("checks limit and offset", function()
      local res = api("GET", "/addressbooks?limit=101")
      assert.equal(422, res.status)
      assert.equal("Argument limit may not be greater than 100", res.json.message)
      assert.equal(422, api("GET", "/addressbooks?offset=-1").status)
      assert.equal(422, api("GET", "/addressbooks?limit=abc").status)
    end)

    it("gets one list as a one-element array", function()
      local id = create("solo")
      local res = api("GET", "/addressbooks/" .. id)
      assert.equal(200, res.status)
      assert.matches("^%[{", res.body)
      assert.equal(1, #res.json)
      assert.equal("solo", res.json[1].name)
      assert.equal(id, res.json[1].id)
    end)

    it("renames and deletes", function()
      local id = create("old")
      local res = api("PUT", "/addressbooks/" .. id, { name = "new" })
      assert.equal(200, res.status)
      assert.same({ result = true }, res.json)
      assert.equal("new", api("GET", "/addressbooks/" .. id).json[1].name)
      res = api("DELETE", "/addressbooks/" .. id)
      assert.same({ result = true }, res.json)
      res = api("GET", "/addressbooks/" .. id)
      assert.equal(404, res.status)
      assert.same({ message = "Book not found", error_code = 213 }, res.json)
    end)

    it("answers SendPulse's errors 201, 203, 213 and 422", function()
      local res = api("POST", "/addressbooks", { bookName = "  " })
      assert.equal(400, res.status)
      assert.equal(201, res.json.error_code)
      create("taken")
      res = api("POST", "/addressbooks", { bookName = "taken" })
      assert.equal(203, res.json.error_code)
      local other = create("other")
      assert.equal(203, api("PUT", "/addressbooks/" .. other, { name = "taken" }).json.error_code)
      res = api("POST", "/addressbooks", {})
      assert.equal(422, res.status)
      assert.same({ message = "Argument bookName missing", error_code = 422 }, res.json)
      for _, path in ipairs { "/addressbooks/999999", "/addressbooks/abc",
                              "/addressbooks/999999/emails", "/addressbooks/999999/emails/total" } do
        res = api("GET", path)
        assert.equal(404, res.status, path)
        assert.equal(213, res.json.error_code, path)
      end
      assert.equal(213, api("DELETE", "/addressbooks/999999").json.error_code)
      res = call("POST", "/addressbooks", { token = API_KEY, body = "{not json",
                                            headers = { ["Content-Type"] = "application/json" } })
      assert.equal(422, res.status)
    end)

    it("keeps accounts apart", function()
      sb:configure { accounts = {
        { client_id = "sandbox-id", client_secret = "sandbox-secret", api_keys = { API_KEY } },
        { client_id = "other", client_secret = "x", api_keys = { "other-key" } } } }
      local id = create("mine")
      local res = call("GET", "/addressbooks/" .. id, { token = "other-key" })
      assert.equal(404, res.status)
      assert.equal("[]", call("GET", "/addressbooks", { token = "other-key" }).body)
      -- The same name is free in another account.
      assert.equal(200, call("POST", "/addressbooks",
                             { token = "other-key", json = { bookName = "mine" } }).status)
    end)

    it("adds emails with variables, lists, counts and removes them", function()
      local id = create("people")
      local base = "/addressbooks/" .. id .. "/emails"
      local res = api("POST", base, { emails = {
        { email = "ann@example.com", variables = { name = "Ann", age = 33 } },
        "bob@example.org",
        { email = "cy@example.net" },
      } })
      assert.equal(200, res.status, res.body)
      assert.same({ result = true }, res.json)

      res = api("GET", base)
      assert.equal(3, #res.json)
      assert.equal("ann@example.com", res.json[1].email)
      assert.same({ name = "Ann", age = 33 }, res.json[1].variables)
      assert.matches('"age":33[,}]', res.body)
      assert.is_number(res.json[1].status)
      assert.is_string(res.json[1].status_explain)
      assert.same({}, res.json[2].variables)

      res = api("GET", base .. "?limit=1&offset=1")
      assert.equal(1, #res.json)
      assert.equal("bob@example.org", res.json[1].email)

      assert.same({ total = 3 }, api("GET", base .. "/total").json)
      assert.equal(3, api("GET", "/addressbooks/" .. id).json[1].all_email_qty)

      res = api("DELETE", base, { emails = { "bob@example.org", "nobody@example.com" } })
      assert.same({ result = true }, res.json)
      assert.same({ total = 2 }, api("GET", base .. "/total").json)
      res = api("GET", base)
      assert.equal("cy@example.net", res.json[2].email)
    end)

    it("updates the variables of an address added again", function()
      local id = create("again")
      local base = "/addressbooks/" .. id .. "/emails"
      api("POST", base, { emails = { { email = "a@example.com", variables = { x = 1 } } } })
      api("POST", base, { emails = { { email = "A@example.com", variables = { y = 2 } } } })
      local res = api("GET", base)
      assert.equal(1, #res.json)
      assert.same({ x = 1, y = 2 }, res.json[1].variables)
    end)

    it("refuses bad email input, adding nothing", function()
      local id = create("strict")
      local base = "/addressbooks/" .. id .. "/emails"
      local res = api("POST", base, { emails = { "good@example.com", "not an email" } })
      assert.equal(400, res.status)
      assert.equal(906, res.json.error_code)
      assert.same({ total = 0 }, api("GET", base .. "/total").json)
      res = api("POST", base, {})
      assert.equal(422, res.status)
      assert.same({ message = "Argument emails missing", error_code = 422 }, res.json)
      assert.equal(422, api("POST", base, { emails = "x@example.com" }).status)
      assert.equal(422, api("POST", base, { emails = { { variables = {} } } }).status)
    end)

    it("removes at most 100 emails per call", function()
      local id = create("big")
      local base = "/addressbooks/" .. id .. "/emails"
      local many = {}
      for i = 1, 101 do many[i] = "user" .. i .. "@example.com" end
      assert.equal(200, api("POST", base, { emails = many }).status)
      local res = api("DELETE", base, { emails = many })
      assert.equal(422, res.status)
      assert.equal("Limit is exceeded. Max count: 100", res.json.message)
      assert.same({ total = 101 }, api("GET", base .. "/total").json)
      table.remove(many)
      assert.equal(200, api("DELETE", base, { emails = many }).status)
      assert.same({ total = 1 }, api("GET", base .. "/total").json)
      assert.equal(422, api("DELETE", base, {}).status)
    end)
  end)

  describe("concurrency", function()
    it("does not let a delayed answer hold up another connection", function()
      -- The slow answer takes 2 s; the fast one, asked 0.05 s after it, a
      -- few ms (tens on a loaded machine): held up, it would take the 2 s.
      sb:fault { kind = "delay", delay = 2, path = "^/addressbooks$" }
      local slow, fast = sb:connect(), sb:connect()
      local t0 = socket.gettime()
      assert(slow:send(rawhttp.format_request("GET", "/addressbooks", { token = API_KEY })))
      -- Let the server take the fault for the slow request first.
      socket.sleep(0.05)
      local res = fast:request("GET", "/addressbooks/1/emails/total", { token = API_KEY })
      assert.equal(404, res.status)
      assert.is_true(socket.gettime() - t0 < 1.5, "the fast answer waited")
      res = slow:read_response()
      assert.equal(200, res.status)
      assert.is_true(socket.gettime() - t0 >= 2)
      slow:close()
      fast:close()
    end)

    it("overlaps 20 delayed calls", function()
      sb:configure { rate = 0 }
      sb:fault { kind = "delay", delay = 0.2, count = 20 }
      local conns = {}
      local t0 = socket.gettime()
      for i = 1, 20 do
        conns[i] = sb:connect()
        assert(conns[i]:send(rawhttp.format_request("GET", "/addressbooks", { token = API_KEY })))
      end
      for i = 1, 20 do
        assert.equal(200, conns[i]:read_response().status)
        conns[i]:close()
      end
      local took = socket.gettime() - t0
      -- together: one delay and a little; one after another: 20 delays (4 s)
      assert.is_true(took >= 0.2 and took < 2, "20 delayed calls took " .. took)
    end)

    it("serves 120 simultaneous keep-alive connections", function()
      sb:configure { rate = 0 }
      local conns = {}
      for i = 1, 120 do
        conns[i] = sb:connect()
        assert(conns[i]:send(rawhttp.format_request("GET", "/addressbooks", { token = API_KEY })))
      end
      for round = 1, 2 do
        for i = 1, 120 do
          local res = assert(conns[i]:read_response())
          assert.equal(200, res.status)
          if round == 1 then
            assert(conns[i]:send(rawhttp.format_request("GET", "/addressbooks",
                                                         { token = API_KEY })))
          end
        end
      end
      for i = 1, 120 do conns[i]:close() end
      local stats = sb:stats()
      assert.equal(120, stats.connections_opened)
      assert.equal(240, #stats.requests)
    end)
  end)
end)
