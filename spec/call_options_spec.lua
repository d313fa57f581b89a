-- Call options on the generated methods and the helpers (issue 11, item 3):
-- the second table carries timeout, headers, idempotent and raw to the call,
-- over real sockets to the sandbox and to a server that echoes what it got.
-- Before this, `client.email:create_mailing_list{ bookName = "x", timeout = 1 }`
-- sent `timeout` in the JSON body, waited out the delay and reported nothing.
local sendpulse = require "sendpulse"
local safe = require "sendpulse.safe"
local core = require "sendpulse.core"
local sandbox = require "support.sandbox_process"
local echo_server = require "support.echo_server"

-- The header lines named `name` (any case) in an echoed request.
local function named(answer, name)
  local found = {}
  for _, line in ipairs(answer.lines) do
    if line:lower():sub(1, #name + 1) == name:lower() .. ":" then found[#found + 1] = line end
  end
  return found
end

describe("call options in the second table", function()
  local sb, echo

  lazy_setup(function()
    sb = sandbox.start {}
    echo = echo_server.start()
  end)
  lazy_teardown(function()
    if sb then sb:stop() end
    if echo then echo:stop() end
  end)
  before_each(function() sb:reset() end)

  local function client(form, extra)
    local opts = { client_id = "sandbox-id", client_secret = "sandbox-secret", base_url = sb.url,
                   retries = 0 }
    for k, v in pairs(extra or {}) do opts[k] = v end
    return assert((form == "safe" and safe or sendpulse).new(opts))
  end

  local function api_requests()
    local n = 0
    for _, r in ipairs(sb:stats().requests) do
      if r.path ~= "/oauth/access_token" then n = n + 1 end
    end
    return n
  end

  it("a timeout in the second table bounds the call", function()
    local c = client()
    sb:fault { kind = "delay", delay = 3, path = "^/addressbooks$", method = "POST" }
    local started = core.monotonic()
    local ok, err = pcall(c.email.create_mailing_list, c.email, { bookName = "Slow" }, { timeout = 0.5 })
    local took = core.monotonic() - started
    assert.is_false(ok)
    assert.equal("timeout", err.kind)
    -- 0.5 s and the token; without the timeout the answer comes after 3 s
    assert.is_true(took < 2, "took " .. took .. " s")
    c:close()
  end)

  it("a call option in the first table is an argument error naming the second table, before any I/O", function()
    for _, form in ipairs { "raise", "safe" } do
      local c = client(form)
      local args = { bookName = "x", timeout = 1 }
      local ok, v, err = pcall(c.email.create_mailing_list, c.email, args)
      if form == "raise" then err = v; assert.is_false(ok) else assert.is_nil(v) end
      assert.is_true(sendpulse.is_error(err))
      assert.equal("argument", err.kind)
      assert.equal("email:create_mailing_list: 'timeout' is a call option, not a field of this operation:"
        .. " give it in the second table, client.email:create_mailing_list({ ... }, { timeout = ... })",
        err.message)
      assert.same({ bookName = "x", timeout = 1 }, args)
      c:close()
    end
    assert.equal(0, api_requests())
  end)

  it("a field of the operation named like a call option is still a field", function()
    -- No operation of SendPulse's files has one: a record made for the test,
    -- built into a method by the same code, called through the real client.
    local method = require "sendpulse.operations.method"
    local service = require "sendpulse.operations.service"
    local record = { name = "set_timeout", method = "POST", path = "/settings/{id}",
      path_params = { { name = "id", required = true, type = "integer" } },
      body = { content = "json", type = "object", fields = { { name = "timeout", type = "integer" } } } }
    local fn = method.build("spec", "", record, service.Service)
    local c = sendpulse.new { api_key = "k", base_url = echo.url, rate_limit = false, retries = 0 }
    local svc = setmetatable({ _client = c, _name = "spec", _base = "" }, service.Service)
    local answer = fn(svc, { id = 3, timeout = 30 }, { timeout = 5 })
    assert.equal("POST /settings/3 HTTP/1.1", answer.lines[1])
    assert.equal('{"timeout":30}', answer.body)
    c:close()
  end)

  it("headers reach the wire, beside the Accept a method sets itself", function()
    local c = sendpulse.new { api_key = "k", base_url = echo.url, rate_limit = false, retries = 0 }
    local answer = c.email:get_mailing_lists(nil, { headers = { ["X-Trace"] = "abc" } })
    assert.same({ "X-Trace: abc" }, named(answer, "X-Trace"))
    assert.same({ "Accept: application/json" }, named(answer, "Accept"))
    -- a report download asks for its own content type (and its bytes) ...
    local json = require "sendpulse.json"
    local raw = c.verifier:download_verification_report({ id = 1 }, { headers = { ["X-Trace"] = "r" } })
    local echoed = json.decode(raw)
    assert.same({ "Accept: application/octet-stream" }, named(echoed, "Accept"))
    assert.same({ "X-Trace: r" }, named(echoed, "X-Trace"))
    -- ... which the caller's Accept replaces, whatever its case
    raw = c.verifier:download_verification_report({ id = 1 }, { headers = { accept = "text/csv" } })
    assert.same({ "accept: text/csv" }, named(json.decode(raw), "Accept"))
    c:close()
  end)

  it("raw = true returns the answer's bytes", function()
    local c = client()
    local bytes = c.email:get_mailing_lists(nil, { raw = true })
    assert.equal("string", type(bytes))
    assert.equal("[", bytes:sub(1, 1))
    c:close()
  end)

  it("idempotent = true lets a POST be retried after a 5xx", function()
    local c = client(nil, { retries = 1, retry_delay = 0.01 })
    sb:fault { kind = "html500", path = "^/addressbooks$", method = "POST" }
    local list = c.email:create_mailing_list({ bookName = "Twice" }, { idempotent = true })
    assert.is_number(list.id)
    -- without it the same failure reaches the caller: a POST is not replayed
    sb:fault { kind = "html500", path = "^/addressbooks$", method = "POST" }
    local ok, err = pcall(c.email.create_mailing_list, c.email, { bookName = "Once" })
    assert.is_false(ok)
    assert.equal(500, err.status)
    c:close()
  end)

  it("idempotent must be a boolean: anything else was taken as false", function()
    local c = client("safe")
    local v, err = c:request("POST", "/addressbooks", { json = { bookName = "x" }, idempotent = 1 })
    assert.is_nil(v)
    assert.equal("request: opts.idempotent must be a boolean", err.message)
    c:close()
    assert.equal(0, api_requests())
  end)

  it("an unknown key in the second table names the known ones", function()
    local c = client("safe")
    local v, err = c.email:create_mailing_list({ bookName = "x" }, { timout = 1 })
    assert.is_nil(v)
    assert.equal("argument", err.kind)
    assert.matches("unknown call option 'timout' in the second table %(known: [%w_, ]*timeout", err.message)
    v, err = c.email:create_mailing_list({ bookName = "x" }, { json = {} })
    assert.is_nil(v)
    assert.matches("'json' is not a call option", err.message, 1, true)
    v, err = c.email:create_mailing_list({ bookName = "x" }, 5)
    assert.is_nil(v)
    assert.matches("the second table", err.message, 1, true)
    -- a bad value: named with the method and the option, by the client's rules
    v, err = c.email:create_mailing_list({ bookName = "x" }, { timeout = -1 })
    assert.is_nil(v)
    assert.equal("email:create_mailing_list: call option 'timeout' must be a positive number of seconds",
      err.message)
    v, err = c.email:get_mailing_lists(nil, { idempotent = "yes" })
    assert.is_nil(v)
    assert.equal("email:get_mailing_lists: call option 'idempotent' must be a boolean", err.message)
    v, err = c.email:get_mailing_lists(nil, { headers = 1 })
    assert.is_nil(v)
    assert.matches("^email:get_mailing_lists: call option 'headers' ", err.message)
    for _, call in ipairs {
      function() return c.email:all("get_mailing_lists", nil, { timeout = "5" }) end,
      function() return c.email:patient():get_mailing_lists(nil, { attempt_timeout = 0 }) end,
    } do
      v, err = call()
      assert.is_nil(v)
      assert.equal("argument", err.kind)
      assert.matches("call option '%a+_?%a*' must be a positive number of seconds", err.message)
      assert.not_matches("opts%.", err.message)
    end
    c:close()
    assert.equal(0, api_requests())
  end)

  it("the caller's second table is never changed", function()
    local c = sendpulse.new { api_key = "k", base_url = echo.url, rate_limit = false, retries = 0 }
    local call_opts = { headers = { ["X-A"] = "1" }, timeout = 5 }
    c.email:get_mailing_lists({ limit = 1 }, call_opts)
    assert.same({ headers = { ["X-A"] = "1" }, timeout = 5 }, call_opts)
    c:close()
  end)

  describe("the helpers take and pass them", function()
    local function slow(path, method)
      sb:fault { kind = "delay", delay = 3, path = path, method = method }
    end
    local function times_out(fn)
      local started = core.monotonic()
      local ok, err = pcall(fn)
      assert.is_false(ok, "expected a timeout")
      assert.equal("timeout", err.kind, tostring(err))
      -- (as above: the answer would come after 3 s)
      assert.is_true(core.monotonic() - started < 2)
    end

    it("each and all: beside page_size", function()
      local c = client()
      slow("^/addressbooks$", "GET")
      times_out(function()
        for _ in c.email:each("get_mailing_lists", nil, { page_size = 10, timeout = 0.5 }) do end
      end)
      slow("^/addressbooks$", "GET")
      times_out(function() return c.email:all("get_mailing_lists", nil, { timeout = 0.5 }) end)
      -- and a call option among the operation's arguments is sent back to opts
      local ok, err = pcall(c.email.each, c.email, "get_mailing_lists", { timeout = 1 })
      assert.is_false(ok)
      assert.equal("email:each: 'timeout' is a call option, not a field of get_mailing_lists: give it in opts,"
        .. ' client.email:each("get_mailing_lists", args, { timeout = ... })', err.message)
      c:close()
    end)

    it("smtp:send", function()
      local c = client()
      slow("^/smtp/emails$", "POST")
      times_out(function()
        return c.smtp:send({ subject = "s", from = "shop@example.com", to = { "a@example.com" }, text = "t" },
          { timeout = 0.5 })
      end)
      local ok, err = pcall(c.smtp.send, c.smtp,
        { subject = "s", from = "shop@example.com", to = { "a@example.com" }, text = "t", timeout = 2 })
      assert.is_false(ok)
      assert.matches("smtp:send: 'timeout' is a call option", err.message, 1, true)
      c:close()
    end)

    it("batches: every batch", function()
      local c = client()
      local list = c.email:create_mailing_list { bookName = "b" }
      local emails = {}
      for i = 1, 120 do emails[i] = ("u%03d@example.com"):format(i) end
      sb:fault { kind = "delay", delay = 0.01, path = "/emails/unsubscribe$", count = 1 }
      slow("/emails/unsubscribe$", "POST")
      times_out(function()
        return c.email:unsubscribe_emails_from_mailing_list({ id = list.id, emails = emails }, { timeout = 0.5 })
      end)
      c:close()
    end)

    it("patient, raw, the Base64 helpers and the normalised answers", function()
      local c = client()
      local list = c.email:create_mailing_list { bookName = "p" }
      slow("^/addressbooks$", "POST")
      times_out(function()
        return c.email:patient():create_mailing_list({ bookName = "q" }, { timeout = 0.5 })
      end)
      slow("^/addressbooks$", "GET")
      times_out(function() return c.email:raw("get_mailing_lists", nil, { timeout = 0.5 }) end)
      slow("^/addressbooks/%d+$", "GET")
      times_out(function() return c.email:get_mailing_list_by_id({ id = list.id }, { timeout = 0.5 }) end)
      slow("^/templates$", "GET")
      times_out(function() return c.email:get_templates(nil, { timeout = 0.5 }) end)
      c:close()
    end)

    it("import and export: every call", function()
      local c = client()
      local list = c.email:create_mailing_list { bookName = "i" }
      local rows = { { email = "a@example.com" }, { email = "b@example.com" } }
      local i = 0
      slow("/emails$", "POST")
      times_out(function()
        return c.email:import({ id = list.id, rows = function() i = i + 1 return rows[i] end }, { timeout = 0.5 })
      end)
      slow("/variables$", "GET")
      times_out(function()
        return c.email:export({ id = list.id, out = function() end }, { timeout = 0.5 })
      end)
      c:close()
    end)
  end)
end)
