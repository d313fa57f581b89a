-- A careless caller (issue 10, items 6, 9 and 15, and the path side of 1):
-- headers that would break the request's framing, query tables that cannot
-- be represented, plain http to a remote host. Each must be refused before
-- any I/O, with an argument error that names the argument and the rule; a
-- real client talks to the hostile server on loopback, and the hook and the
-- connection count show that nothing went out.
local safe = require "sendpulse.safe"
local hostile = require "support.hostile_server"
local nginx_process = require "support.nginx_process"

local hs

-- A safe client of `mode` whose hook counts the exchanges.
local function client_of(mode, extra)
  local seen = { events = {} }
  local opts = { api_key = "caller-key", base_url = hs:url(mode), retries = 0, rate_limit = false,
                 hook = function(e) seen.events[#seen.events + 1] = e end }
  for k, v in pairs(extra or {}) do opts[k] = v end
  return assert(safe.new(opts)), seen
end

local function assert_refused(client, seen, opts, rule)
  local value, err = client:request("POST", "/x", opts)
  assert.is_nil(value, "sent: " .. rule)
  assert.equal("argument", err.kind)
  assert.matches(rule, err.message, 1, true)
  assert.equal(0, #seen.events, "it reached the transport")
  assert.equal(0, client:connections())
end

describe("a careless caller", function()
  lazy_setup(function() hs = hostile.start() end)
  lazy_teardown(function() if hs then hs:stop() end end)

  describe("with headers that break framing (item 6)", function()
    local cases = {
      { { ["Content-Length"] = "0" }, "Content-Length cannot be given: the transport sets the body's length" },
      { { ["transfer-encoding"] = "chunked" }, "transfer-encoding cannot be given" },
      { { Host = "evil.example" }, "Host cannot be given: the transport sets it from base_url" },
      { { Connection = "close" }, "Connection cannot be given" },
      { { Upgrade = "h2c" }, "Upgrade cannot be given" },
      { { Expect = "100-continue" }, "Expect cannot be given" },
      { { ["Content-Type"] = "text/plain" }, "Content-Type cannot be given: give it as opts.content_type" },
      { { ["X-A"] = "a\0b" }, "the value of X-A must not contain control characters" },
      { { ["X-A"] = "a\r\nX-Injected: 1" }, "the value of X-A must not contain control characters" },
      { { ["X-A"] = "a\127" }, "must not contain control characters" },
      { { ["X-A\r\nX-B"] = "1" }, "is not a header name" },
      { { ["X A"] = "1" }, "is not a header name" },
      { { ["X-A"] = 1 }, "the value of X-A must be a string, got a number" },
    }

    for _, transport in ipairs { "curl", "multi" } do
      it("refuses each before any I/O (" .. transport .. ")", function()
        local client, seen = client_of("echo_path", { transport = transport })
        for _, case in ipairs(cases) do assert_refused(client, seen, { json = {}, headers = case[1] }, case[2]) end
        assert_refused(client, seen, { body = "x", content_type = "text/plain\0x" },
          "opts.content_type must be a string without control characters")
        client:close()
      end)
    end

    it("sends an ordinary header, a tab in its value, exactly once", function()
      local client = client_of("token_year")
      local value = assert(client:request("GET", "/x", { headers = { ["X-Trace"] = "a\tb" } }))
      local found = 0
      for _, line in ipairs(value.headers) do
        if line == "X-Trace: a\tb" then found = found + 1 end
        assert.is_nil(line:lower():find("^content%-length"), "a GET got a Content-Length")
      end
      assert.equal(1, found)
      client:close()
    end)

    describe("inside nginx #nginx", function()
      local ng
      lazy_setup(function() ng = nginx_process.start {} end)
      lazy_teardown(function() if ng then ng:stop() end end)

      it("refuses a Content-Length and a NUL on the cosocket transport too", function()
        for _, headers in ipairs { { ["Content-Length"] = "0" }, { ["X-A"] = "a\0b" } } do
          local report = ng:call("/call", { client = { api_key = "caller-key", base_url = hs:url("echo_path"),
            retries = 0, hook = true }, method = "POST", path = "/x", opts = { json = { a = 1 }, headers = headers } })
          local r = report.results[1]
          assert.is_nil(r.value)
          assert.equal("argument", r.err.kind)
          assert.equal(0, #report.events)
        end
      end)
    end)
  end)

  describe("with query tables that cannot be represented (item 15)", function()
    it("refuses them before any I/O, and form bodies the same", function()
      local client, seen = client_of("echo_path")
      assert_refused(client, seen, { query = { ids = { 1, 2, x = 3 } } },
        "opts.query: query value 'ids' mixes array items and named fields")
      assert_refused(client, seen, { query = { ids = { [1] = "x", [3] = "z" } } },
        "query value 'ids' is an array with holes: item 2 is missing")
      assert_refused(client, seen, { query = { ids = require("sendpulse").array { x = 1 } } },
        "query value 'ids' is marked as an array but has named fields")
      assert_refused(client, seen, { form = { ids = { 1, nil, 3 } } },
        "opts.form: query value 'ids' is an array with holes")
      assert_refused(client, seen, { json = { ids = require("sendpulse").array { 1, x = 2 } } },
        "opts.json cannot be encoded: json: table marked as an array has string keys at value.ids")
      client:close()
    end)

    it("sends the tables that have a form, as before", function()
      local client = client_of("echo_path")
      local value = assert(client:request("GET", "/q", { query = { ids = { 1, 2 }, f = { a = "b" } } }))
      assert.equal("/m/echo_path/-/q?f%5Ba%5D=b&ids=1&ids=2", value.path)
      client:close()
    end)
  end)

  describe("sending to a path with dot segments (item 1)", function()
    it("names the path that was sent in the error and in the hook event", function()
      local client, seen = client_of("bad_status")
      local _, err = client:request("GET", "/a/./../b")
      assert.equal("protocol", err.kind)
      assert.equal("/a/./../b", err.path)
      assert.equal("/a/./../b", seen.events[1].path)
      client:close()
      -- and that is what the server got
      client = client_of("echo_path")
      assert.equal("/m/echo_path/-/a/./../b", assert(client:request("GET", "/a/./../b")).path)
      client:close()
    end)
  end)

  describe("with plain http (item 9)", function()
    -- sendpulse.new does no I/O: a refusal here is a refusal before any
    -- byte (no name lookup either) could go out.
    it("refuses http:// to a host that is not this machine", function()
      for _, url in ipairs { "http://api.sendpulse.com", "http://10.0.0.1:8080", "http://127.0.0.1.nip.io",
                             "http://localhost.example.com", "http://[::2]:80", "http://0x7f000001" } do
        local client, err = safe.new { api_key = "k", base_url = url }
        assert.is_nil(client, url)
        assert.equal("argument", err.kind)
        assert.matches("option 'base_url' is plain http:// to a host that is not this machine", err.message, 1, true)
        assert.matches("allow_plain_http = true", err.message, 1, true)
      end
    end)

    it("takes it when the user says so, and loopback always", function()
      assert(safe.new { api_key = "k", base_url = "http://api.sendpulse.com", allow_plain_http = true }):close()
      for _, url in ipairs { "http://127.0.0.1:1", "http://127.1.2.3", "http://localhost:8765", "http://LOCALHOST",
                             "http://[::1]:8765", "https://api.sendpulse.com" } do
        assert(safe.new { api_key = "k", base_url = url }):close()
      end
      local _, err = safe.new { api_key = "k", base_url = "http://h.example", allow_plain_http = "yes" }
      assert.matches("option 'allow_plain_http' must be a boolean", err.message, 1, true)
    end)

    it("refuses credentials in base_url and control characters in user_agent", function()
      local _, err = safe.new { api_key = "k", base_url = "https://user:pw@api.sendpulse.com" }
      assert.matches("option 'base_url' must be .*: it must not hold credentials", err.message)
      assert.is_nil(err.message:find("pw@", 1, true))
      _, err = safe.new { api_key = "k", user_agent = "ua\r\nX-Injected: 1" }
      assert.matches("option 'user_agent' must be a non-empty string without control characters", err.message, 1, true)
    end)
  end)
end)
