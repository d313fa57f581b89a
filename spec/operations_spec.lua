-- luacheck: max line length 160
-- The generated methods: argument checks before any I/O, what reaches
-- client:request, and that the caller's table is never changed.
--
-- A recording client stands in for the real one here (its request and fail
-- follow the client's contract); spec/contract_spec.lua drives the real
-- client against prism.

-- Until the core's error module is on this branch, a stand-in with the same
-- contract (errors.argument(message) -> object of kind "argument").
local function findable(name)
  for template in package.path:gmatch("[^;]+") do
    local f = io.open((template:gsub("%?", (name:gsub("%.", "/")))), "r")
    if f then f:close() return true end
  end
  return false
end
if not findable("sendpulse.errors") then
  package.preload["sendpulse.errors"] = package.preload["sendpulse.errors"] or function()
    return { argument = function(msg)
      return setmetatable({ kind = "argument", message = msg }, { __tostring = function(e) return e.message end })
    end }
  end
end

local operations = require "sendpulse.operations"

local function message_of(err)
  if type(err) == "table" and err.message then return err.message end
  return tostring(err)
end

-- mode "raise" raises the error object, mode "safe" returns nil, err
local function fake_client(mode)
  local c = { calls = {}, mode = mode or "raise" }
  function c:request(method, path, opts)
    self.calls[#self.calls + 1] = { method = method, path = path, opts = opts }
    return { ok = true }, { status = 200, headers = {} }
  end
  function c:fail(err, level)
    if self.mode == "safe" then return nil, err end
    error(err, level and level + 1 or 2)
  end
  return c
end

local function deep_copy(v)
  if type(v) ~= "table" then return v end
  local r = {}
  for k, x in pairs(v) do r[k] = deep_copy(x) end
  return setmetatable(r, getmetatable(v))
end

local function raises(fn, expected)
  local ok, err = pcall(fn)
  assert.is_false(ok, "expected an error: " .. expected)
  assert.equal(expected, message_of(err))
  if type(err) == "table" then assert.equal("argument", err.kind) end
end

describe("operations", function()
  describe("service objects", function()
    it("are created on first use and cached on the client", function()
      local c = fake_client()
      local a = operations.get(c, "email")
      assert.equal(a, operations.get(c, "email"))
      assert.not_equal(a, operations.get(fake_client(), "email"))
      -- a name that is no service: an object reporting it, not kept
      local none = operations.get(c, "no_such_service")
      assert.equal("sendpulse.no_service: no_such_service", tostring(none))
      assert.is_nil(rawget(c._services, "no_such_service"))
      assert.is_nil(operations.get(c, 1))
      assert.equal("sendpulse.service: email", tostring(a))
    end)

    it("build a method on first use and keep it", function()
      local email = operations.get(fake_client(), "email")
      assert.is_nil(rawget(email, "create_mailing_list"))
      local m = email.create_mailing_list
      assert.is_function(m)
      assert.equal(m, rawget(email, "create_mailing_list"))
      -- a name that is no operation is a function that reports it (and is not kept)
      local ok, err = pcall(email.no_such_operation, email)
      assert.is_false(ok)
      assert.equal("argument", err.kind)
      assert.equal("email: no operation 'no_such_operation'", err.message)
      assert.is_nil(rawget(email, "no_such_operation"))
    end)

    it("do not keep a client alive", function()
      local weak = setmetatable({}, { __mode = "v" })
      do
        local c = fake_client()
        local email = operations.get(c, "email")
        local _ = email.create_mailing_list
        email:get_mailing_lists()
        weak.client, weak.service = c, email
      end
      collectgarbage()
      collectgarbage()
      assert.is_nil(weak.client)
      assert.is_nil(weak.service)
    end)

    it("know every service of the issue", function()
      local want = { "automation360", "chatbots", "crm", "edu", "email", "files", "instagram",
        "live_chat", "messenger", "popups", "push", "sms", "smtp", "telegram", "tiktok",
        "verifier", "viber", "viber_bots", "whatsapp" }
      assert.same(want, operations.services())
    end)

    it("use the base path of their service", function()
      local c = fake_client()
      operations.get(c, "telegram"):get_account()
      operations.get(c, "crm"):get_contact_by_id{ contactId = 7 }
      operations.get(c, "files"):get_directory()
      operations.get(c, "popups"):get_tariff_limits()
      assert.equal("/telegram/account", c.calls[1].path)
      assert.equal("/crm/v1/contacts/7", c.calls[2].path)
      assert.equal("/fm/public/v1/directory", c.calls[3].path)
      assert.equal("/v2/pop-ups/public/api/tariff/limits", c.calls[4].path)
    end)

    it("take helpers written by hand before generated methods", function()
      local called
      operations.add_helper("sms", "spec_helper", function(svc, x) called = { svc, x } return "done" end)
      local sms = operations.get(fake_client(), "sms")
      assert.equal("done", sms:spec_helper(1))
      assert.equal(sms, called[1])
    end)
  end)

  describe("requests", function()
    it("put body fields in the JSON body and path parameters in the path", function()
      local c = fake_client()
      local body, meta = operations.get(c, "email"):create_mailing_list{ bookName = "Newsletter" }
      assert.same({ ok = true }, body)
      assert.equal(200, meta.status)
      assert.same({ method = "POST", path = "/addressbooks",
        opts = { json = { bookName = "Newsletter" } } }, c.calls[1])
    end)

    it("put query parameters in the query of a GET", function()
      local c = fake_client()
      operations.get(c, "email"):get_mailing_lists{ limit = 10, offset = 20 }
      assert.same({ method = "GET", path = "/addressbooks",
        opts = { query = { limit = 10, offset = 20 } } }, c.calls[1])
    end)

    it("send nothing but the path when no arguments are needed", function()
      local c = fake_client()
      operations.get(c, "email"):get_mailing_lists()
      assert.same({ method = "GET", path = "/addressbooks", opts = {} }, c.calls[1])
    end)

    it("pass on fields the spec does not list: body when there is one, else query", function()
      local c = fake_client()
      local email = operations.get(c, "email")
      email:create_mailing_list{ bookName = "x", future_field = { a = 1 } }
      assert.same({ bookName = "x", future_field = { a = 1 } }, c.calls[1].opts.json)
      email:get_mailing_lists{ limit = 5, new_filter = "y" }
      assert.same({ limit = 5, new_filter = "y" }, c.calls[2].opts.query)
      assert.is_nil(c.calls[2].opts.json)
    end)

    it("format integral floats in the path as integers", function()
      local c = fake_client()
      local email = operations.get(c, "email")
      email:get_mailing_list_by_id{ id = 1000.0 }
      email:get_mailing_list_by_id{ id = 2^40 }
      email:get_mailing_list_by_id{ id = 0 }
      email:get_mailing_list_by_id{ id = "1000" }
      assert.equal("/addressbooks/1000", c.calls[1].path)
      assert.equal("/addressbooks/1099511627776", c.calls[2].path)
      assert.equal("/addressbooks/0", c.calls[3].path)
      assert.equal("/addressbooks/1000", c.calls[4].path)
    end)

    it("percent-encode path parameters", function()
      local c = fake_client()
      operations.get(c, "email"):get_email_info{ email = "a+b@example.com" }
      operations.get(c, "automation360"):send_event{ eventName = "order paid/€", email = "x@example.com" }
      assert.equal("/emails/a%2Bb%40example.com", c.calls[1].path)
      assert.equal("/events/name/order%20paid%2F%E2%82%AC", c.calls[2].path)
    end)

    it("send an array body given as args.body", function()
      local c = fake_client()
      local list = { { email = "a@example.com", comment = "asked" } }
      operations.get(c, "smtp"):unsubscribe_smtp_recipients{ body = list }
      assert.equal("POST", c.calls[1].method)
      assert.equal("/smtp/unsubscribe", c.calls[1].path)
      assert.same(list, c.calls[1].opts.json)
    end)

    it("copy a path parameter into the body when the spec requires it there too", function()
      local c = fake_client()
      operations.get(c, "crm"):create_pipeline_attribute{ pipelineId = 3, name = "Budget", type = 1 }
      assert.equal("/crm/v1/pipelines/3/attributes", c.calls[1].path)
      assert.same({ pipelineId = 3, name = "Budget", type = 1 }, c.calls[1].opts.json)
    end)

    it("send an upload as a multipart/form-data body", function()
      local c = fake_client()
      operations.get(c, "files"):upload_file{
        ["content[]"] = { { content = "hello\n", filename = "a.txt", content_type = "text/plain" },
                          { content = "\0\1\2", filename = 'b"c.bin' } },
        pathToStore = "/docs", width = 100.0 }
      local call = c.calls[1]
      assert.equal("POST", call.method)
      assert.equal("/fm/public/v1/file", call.path)
      assert.is_nil(call.opts.json)
      local boundary = call.opts.content_type:match("^multipart/form%-data; boundary=(%S+)$")
      assert.is_string(boundary)
      local b = "--" .. boundary
      assert.equal(table.concat({
        b, 'Content-Disposition: form-data; name="content[]"; filename="a.txt"', "Content-Type: text/plain", "", "hello\n",
        b, 'Content-Disposition: form-data; name="content[]"; filename="b%22c.bin"',
        "Content-Type: application/octet-stream", "", "\0\1\2",
        b, 'Content-Disposition: form-data; name="pathToStore"', "", "/docs",
        b, 'Content-Disposition: form-data; name="width"', "", "100",
        b .. "--", "" }, "\r\n"), call.opts.body)
    end)

    it("pick a multipart boundary that is not in the content", function()
      local c = fake_client()
      operations.get(c, "files"):upload_file{
        ["content[]"] = { { content = "--lua-sendpulse-boundary-1\r\n" } }, pathToStore = "/" }
      assert.equal("multipart/form-data; boundary=lua-sendpulse-boundary-2", c.calls[1].opts.content_type)
    end)

    it("send the hand-written calls the files miss", function()
      local c = fake_client()
      local smtp = operations.get(c, "smtp")
      smtp:list_domains()
      smtp:add_domain{ email = "postmaster@example.com" }
      smtp:verify_domain{ email = "postmaster@example.com" }
      operations.get(c, "automation360"):send_event{ eventName = "signup", phone = "380931234567", plan = "pro" }
      assert.same({ "GET", "/smtp/domains" }, { c.calls[1].method, c.calls[1].path })
      assert.same({ email = "postmaster@example.com" }, c.calls[2].opts.json)
      assert.equal("/smtp/domains/postmaster%40example.com", c.calls[3].path)
      assert.same({ phone = "380931234567", plan = "pro" }, c.calls[4].opts.json)
    end)

    it("never change the caller's table", function()
      local c = fake_client()
      local args = { id = 1000.0, emails = { { email = "a@example.com", variables = { name = "A" } } },
        extra = "x", limit = 3 }
      local before = deep_copy(args)
      operations.get(c, "email"):add_emails_to_mailing_list(args)
      assert.same(before, args)
      assert.equal(1000.0, args.id)
      assert.is_nil(getmetatable(args))
      -- the body is a new table, not the caller's
      assert.not_equal(args, c.calls[1].opts.json)
      local q = { limit = 1 }
      operations.get(c, "email"):get_mailing_lists(q)
      assert.not_equal(q, c.calls[2].opts.query)
      assert.same({ limit = 1 }, q)
    end)

    it("send an empty array field as a fresh table, leaving the caller's alone", function()
      local c = fake_client()
      local empty = {}
      operations.get(c, "email"):add_emails_to_mailing_list{ id = 1, emails = empty }
      assert.is_table(c.calls[1].opts.json.emails)
      assert.not_equal(empty, c.calls[1].opts.json.emails)
      assert.is_nil(getmetatable(empty))
    end)
  end)

  describe("argument checks", function()
    -- service, operation, args, expected message (before any request)
    local cases = {
      { "email", "create_mailing_list", {},
        "email:create_mailing_list: argument 'bookName' is required (string)" },
      { "email", "create_mailing_list", nil,
        "email:create_mailing_list: argument 'bookName' is required (string)" },
      { "email", "create_mailing_list", "Newsletter",
        "email:create_mailing_list: arguments must be a table, got string" },
      { "email", "create_mailing_list", { bookName = 12 },
        "email:create_mailing_list: argument 'bookName' must be a string, got integer 12" },
      { "email", "create_mailing_list", { bookName = "x", [1] = "y" },
        "email:create_mailing_list: arguments must be named fields, got a number key" },
      { "email", "get_mailing_list_by_id", nil,
        "email:get_mailing_list_by_id: argument 'id' is required (integer)" },
      { "email", "get_mailing_list_by_id", {},
        "email:get_mailing_list_by_id: argument 'id' is required (integer)" },
      { "email", "get_mailing_list_by_id", { id = 1.5 },
        "email:get_mailing_list_by_id: argument 'id' must be a string or an integer, got number 1.5" },
      { "email", "get_mailing_list_by_id", { id = true },
        "email:get_mailing_list_by_id: argument 'id' must be a string or an integer, got boolean" },
      { "email", "get_mailing_list_by_id", { id = "" },
        "email:get_mailing_list_by_id: argument 'id' must not be empty" },
      { "email", "get_mailing_list_by_id", { id = math.huge },
        "email:get_mailing_list_by_id: argument 'id' must be a string or an integer, got number " .. tostring(math.huge) },
      { "email", "get_mailing_lists", { limit = "10" },
        "email:get_mailing_lists: argument 'limit' must be an integer, got string" },
      { "email", "get_mailing_lists", { limit = 2.5 },
        "email:get_mailing_lists: argument 'limit' must be an integer, got number 2.5" },
      { "email", "get_emails_from_mailing_list", { id = 1, active = "yes" },
        "email:get_emails_from_mailing_list: argument 'active' must be a boolean, got string" },
      -- of two bad fields, always the first in the spec's order is named
      { "email", "get_emails_from_mailing_list", { id = 1, order = 5, limit = "x", active = "y" },
        "email:get_emails_from_mailing_list: argument 'active' must be a boolean, got string" },
      { "email", "add_emails_to_mailing_list", { id = 1, emails = "a@example.com" },
        "email:add_emails_to_mailing_list: argument 'emails' must be an array (a sequence table), got string" },
      { "email", "add_emails_to_mailing_list", { id = 1, emails = { a = 1 } },
        "email:add_emails_to_mailing_list: argument 'emails' must be an array (a sequence table), got table" },
      { "smtp", "unsubscribe_smtp_recipients", { { email = "a@example.com" } },
        "smtp:unsubscribe_smtp_recipients: arguments must be named fields; give the request body (an array) as args.body" },
      { "smtp", "unsubscribe_smtp_recipients", {},
        "smtp:unsubscribe_smtp_recipients: argument 'body' is required (array)" },
      { "viber", "create_viber_campaign", { message_type = 2, sender_id = 1, message_live_time = 60, send_date = "now" },
        "viber:create_viber_campaign: one of 'address_book' or 'recipients' is required" },
      { "viber", "create_viber_campaign", { sender_id = 1, message_live_time = 60, send_date = "now", recipients = { 1 } },
        "viber:create_viber_campaign: argument 'message_type' is required (integer)" },
      { "telegram", "send_contact_message", { contact_id = "c1", message = "hi" },
        "telegram:send_contact_message: argument 'message' must be an object (a table with named fields), got string" },
      { "telegram", "send_contact_message", { contact_id = "c1", message = { "a", "b" } },
        "telegram:send_contact_message: argument 'message' must be an object (a table with named fields), got table" },
      { "automation360", "send_event", { email = "x@example.com" },
        "automation360:send_event: argument 'eventName' is required (string)" },
      { "files", "upload_file", { ["content[]"] = { { filename = "a.txt" } }, pathToStore = "/" },
        "files:upload_file: argument 'content[]' must be a string, a number or a file { content = ..., filename = ... }, got table" },
      { "smtp", "add_domain", { email = false },
        "smtp:add_domain: argument 'email' must be a string, got boolean" },
    }

    for i, case in ipairs(cases) do
      local service, op, args, expected = case[1], case[2], case[3], case[4]
      if expected then
        it(("#%d %s:%s refuses bad input before any request"):format(i, service, op), function()
          local c = fake_client()
          local svc = operations.get(c, service)
          local snapshot = deep_copy(args)
          raises(function() return svc[op](svc, args) end, expected)
          assert.equal(0, #c.calls)
          assert.same(snapshot, args)
          -- a safe client gets nil, err instead
          local s = fake_client("safe")
          local ssvc = operations.get(s, service)
          local res, err = ssvc[op](ssvc, args)
          assert.is_nil(res)
          assert.equal(expected, message_of(err))
          assert.equal(0, #s.calls)
        end)
      end
    end

    it("accept null where the spec allows it", function()
      local ok, sp = pcall(require, "sendpulse")
      if not ok or type(sp) ~= "table" or sp.null == nil then
        pending("sendpulse.null is not there yet")
        return
      end
      local c = fake_client()
      local r = operations.get(c, "telegram")
      r:get_contact_by_telegram_id{ bot_id = "b", telegram_id = 1, business_connection_id = sp.null }
      assert.equal(sp.null, c.calls[1].opts.query.business_connection_id)
      raises(function() return r:get_contact_by_telegram_id{ bot_id = sp.null, telegram_id = 1 } end,
        "telegram:get_contact_by_telegram_id: argument 'bot_id' must be a string, got null")
    end)

    it("refuse a call with '.' instead of ':'", function()
      local c = fake_client()
      local email = operations.get(c, "email")
      local ok, err = pcall(email.create_mailing_list, { bookName = "x" })
      assert.is_false(ok)
      assert.equal("argument", err.kind)
      assert.equal("email:create_mailing_list: call it with ':', not '.': client.email:create_mailing_list(...)",
        err.message)
      assert.equal(0, #c.calls)
      -- the plain method, called on anything but a service object
      local plain = operations.method("email", "create_mailing_list")
      ok, err = pcall(plain, { bookName = "x" })
      assert.is_false(ok)
      assert.matches("call it as a method: client.email:create_mailing_list{...}", err.message, 1, true)
    end)
  end)
end)

describe("operations with the real client", function()
  local ok, sendpulse = pcall(require, "sendpulse")
  local safe = ok and require "sendpulse.safe"

  it("are reached as client.<service>", function()
    if not ok then pending("the C core is not built: " .. tostring(sendpulse)) return end
    local client = sendpulse.new { api_key = "test-key", base_url = "http://127.0.0.1:9" }
    assert.equal(operations.get(client, "email"), client.email)
    client:close()
  end)

  it("a misspelled service is an argument error naming the nearest, raised or returned, before any I/O", function()
    if not ok then pending("the C core is not built") return end
    -- port 9 (discard): a request would be a network error, not an argument one
    local client = sendpulse.new { api_key = "test-key", base_url = "http://127.0.0.1:9", retries = 0 }
    local okc, err = pcall(function() return client.emails:get_mailing_lists { limit = 1 } end)
    assert.is_false(okc)
    assert.is_true(sendpulse.is_error(err))
    assert.equal("argument", err.kind)
    assert.equal("no service 'emails' (nearest: email)", err.message)
    -- a name near nothing lists the services
    okc, err = pcall(function() return client.qwxz:anything() end)
    assert.is_false(okc)
    assert.matches("^no service 'qwxz' %(the services: automation360, chatbots, crm, ", err.message)
    client:close()

    local s = assert(safe.new { api_key = "test-key", base_url = "http://127.0.0.1:9", retries = 0 })
    local value, e = s.smpt:send { email = {} }
    assert.is_nil(value)
    assert.equal("no service 'smpt' (nearest: smtp, sms)", e.message)
    -- a safe client's loop sees the error instead of "attempt to call a nil value"
    local n = 0
    for item, e2 in s.emails:each("get_mailing_lists") do
      n = n + 1
      assert.is_false(item)
      assert.equal("no service 'emails' (nearest: email)", e2.message)
    end
    assert.equal(1, n)
    s:close()
  end)

  it("raise argument errors from a raising client, before any I/O", function()
    if not ok then pending("the C core is not built") return end
    -- port 9 (discard) on loopback: a request would fail as a network error
    local client = sendpulse.new { api_key = "test-key", base_url = "http://127.0.0.1:9", retries = 0 }
    local okc, err = pcall(client.email.create_mailing_list, client.email, { bookName = 1 })
    assert.is_false(okc)
    assert.is_true(sendpulse.is_error(err))
    assert.equal("argument", err.kind)
    assert.equal("email:create_mailing_list: argument 'bookName' must be a string, got integer 1",
      err.message)
    assert.equal("sendpulse: argument error: email:create_mailing_list: argument 'bookName' must be a string,"
      .. " got integer 1", tostring(err))
    client:close()
  end)

  it("return nil, err from a safe client", function()
    if not ok then pending("the C core is not built") return end
    local client = assert(safe.new { api_key = "test-key", base_url = "http://127.0.0.1:9", retries = 0 })
    local value, err = client.crm:get_contact_by_id{ contactId = 2.5 }
    assert.is_nil(value)
    assert.equal("argument", err.kind)
    assert.equal("crm:get_contact_by_id: argument 'contactId' must be a string or an integer, got number 2.5",
      err.message)
    client:close()
  end)
end)
