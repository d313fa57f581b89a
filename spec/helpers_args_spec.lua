-- The helpers' argument checks: each bad input fails before any I/O with a
-- message naming the argument and the rule, in both client forms, and the
-- caller's tables are never changed. The client points at a port nothing
-- listens on and its hook counts every exchange: any I/O would show.
local sendpulse = require "sendpulse"
local safe = require "sendpulse.safe"
local unpack = table.unpack or unpack

local function deep_copy(v)
  if type(v) ~= "table" then return v end
  local r = {}
  for k, x in pairs(v) do r[k] = deep_copy(x) end
  return setmetatable(r, getmetatable(v))
end

local io_events = 0
local function hook(e) if e.event == "request" or e.event == "token" then io_events = io_events + 1 end end

local function new(form)
  return (form == "safe" and safe or sendpulse).new {
    api_key = "not-used", base_url = "http://127.0.0.1:9", retries = 0, hook = hook,
  }
end

local GOOD_MAIL = { subject = "Hi", from = "shop@example.com", to = { "ann@example.com" }, html = "<p>x</p>" }
local function mail(changes)
  local m = deep_copy(GOOD_MAIL)
  for k, v in pairs(changes) do
    if v == "__nil" then m[k] = nil else m[k] = v end
  end
  return m
end

-- C(service, method, arguments..., expected message); n counts nil arguments
local function C(...) return { n = select("#", ...), ... } end
local CASES = {
  -- smtp:send
  C("smtp", "send", nil, "smtp:send: arguments must be a table, got nil"),
  C("smtp", "send", "x", "smtp:send: arguments must be a table, got string"),
  C("smtp", "send", mail { htlm = "<p>typo</p>" },
    "smtp:send: unknown argument 'htlm' (known: subject, from, to, html, text, template,"
      .. " attachments, attachments_binary, cc, bcc, reply_to, auto_plain_text)"),
  C("smtp", "send", mail { subject = "__nil" },
    "smtp:send: argument 'subject' is required (a non-empty string)"),
  C("smtp", "send", mail { subject = "  " },
    "smtp:send: argument 'subject' must be a non-empty string, got a blank string"),
  C("smtp", "send", mail { subject = 7 },
    "smtp:send: argument 'subject' must be a non-empty string, got number"),
  C("smtp", "send", mail { from = "__nil" },
    "smtp:send: argument 'from' is required (an address with an email)"),
  C("smtp", "send", mail { from = { name = "Shop" } }, "smtp:send: argument 'from' needs an 'email'"),
  C("smtp", "send", mail { from = "not an address" },
    "smtp:send: argument 'from' must be an email address, got 'not an address'"),
  C("smtp", "send", mail { from = { email = "a@b.c", nmae = "x" } },
    "smtp:send: argument 'from' has an unknown field 'nmae' (only email and name)"),
  C("smtp", "send", mail { to = "__nil" },
    "smtp:send: argument 'to' is required (a non-empty list of addresses)"),
  C("smtp", "send", mail { to = "ann@example.com" },
    "smtp:send: argument 'to' must be a non-empty list of addresses, got string"),
  C("smtp", "send", mail { to = {} },
    "smtp:send: argument 'to' must be a non-empty list of addresses (wrap a single one in { })"),
  C("smtp", "send", mail { to = { email = "ann@example.com" } },
    "smtp:send: argument 'to' must be a non-empty list of addresses (wrap a single one in { })"),
  C("smtp", "send", mail { to = { "ann@example.com", [3] = "bob@example.com" } },
    "smtp:send: argument 'to' must be a list (sequence) of addresses"),
  C("smtp", "send", mail { to = { "ann@example.com", { name = "Bob" } } },
    "smtp:send: argument to[2] needs an 'email'"),
  C("smtp", "send", mail { to = { { email = "bob" } } },
    "smtp:send: argument to[1].email must be an email address, got 'bob'"),
  C("smtp", "send", mail { to = { { email = "bob@example.com", name = 5 } } },
    "smtp:send: argument to[1].name must be a string, got number"),
  C("smtp", "send", mail { cc = { 42 } },
    "smtp:send: argument cc[1] must be an email address or { email =, name = }, got number"),
  C("smtp", "send", mail { bcc = {} },
    "smtp:send: argument 'bcc' must be a non-empty list of addresses (wrap a single one in { })"),
  C("smtp", "send", mail { reply_to = "nobody" },
    "smtp:send: argument 'reply_to' must be an email address, got 'nobody'"),
  C("smtp", "send", mail { html = "__nil" }, "smtp:send: one of 'html', 'text' or 'template' is required"),
  C("smtp", "send", mail { template = 5 }, "smtp:send: give either 'template' or 'html'/'text', not both"),
  C("smtp", "send", mail { html = "__nil", template = { variables = {} } },
    "smtp:send: argument 'template.id' must be a template id (integer or string)"),
  C("smtp", "send", mail { html = "__nil", template = { id = 1, variables = "x" } },
    "smtp:send: argument 'template.variables' must be a table of name = value, got string"),
  C("smtp", "send", mail { html = "__nil", template = true },
    "smtp:send: argument 'template' must be a template id or { id =, variables = }, got boolean"),
  C("smtp", "send", mail { html = 5 }, "smtp:send: argument 'html' must be a string, got number"),
  C("smtp", "send", mail { text = {} }, "smtp:send: argument 'text' must be a string, got table"),
  C("smtp", "send", mail { auto_plain_text = "yes" },
    "smtp:send: argument 'auto_plain_text' must be a boolean"),
  C("smtp", "send", mail { attachments = "x" },
    "smtp:send: argument 'attachments' must be a table of file name = content, got string"),
  C("smtp", "send", mail { attachments_binary = { "no name" } },
    "smtp:send: argument 'attachments_binary' must map file names (strings) to contents"),
  C("smtp", "send", mail { attachments_binary = { ["a.png"] = 12 } },
    "smtp:send: argument 'attachments_binary': the content of 'a.png' must be a string, got number"),
  -- Base64 fields
  C("email", "add_to_blacklist", { emails = {} },
    "email:add_to_blacklist: argument 'emails' must not be empty"),
  C("email", "add_to_blacklist", { emails = "" },
    "email:add_to_blacklist: argument 'emails' must not be empty"),
  C("email", "add_to_blacklist", { emails = 5 },
    "email:add_to_blacklist: argument 'emails' must be a list of addresses or a string, got number"),
  C("email", "remove_from_blacklist", { emails = { "a@b.c", "x,y@b.c" } },
    "email:remove_from_blacklist: argument 'emails' item 2 must be an address without commas"),
  C("email", "add_to_blacklist", nil, "email:add_to_blacklist: argument 'emails' is required (string)"),
  C("email", "create_campaign", { sender_name = "S", sender_email = "s@e.com", subject = "x", list_id = 1,
      body = "b", attachments_binary = { ["f"] = false } },
    "email:create_campaign: argument 'attachments_binary': the content of 'f' must be a"
      .. " string, got boolean"),
  C("email", "create_campaign", { sender_name = "S", sender_email = "s@e.com", subject = "x",
      attachments_binary = "f" },
    "email:create_campaign: argument 'attachments_binary' must be a table of file name ="
      .. " content, got string"),
  C("email", "create_template", { body = 7 },
    "email:create_template: argument 'body' must be a string, got integer 7"),
  C("smtp", "send_smtp_email", { email = { html = "x", attachments_binary = { a = 1 } } },
    "smtp:send_smtp_email: argument 'email.attachments_binary': the content of 'a' must be a"
      .. " string, got number"),
  -- pagination
  C("email", "each", 5, "email:each: argument 'name' must be an operation name (string), got number"),
  C("email", "each", "no_such_thing", "email:each: no operation 'no_such_thing' in service 'email'"),
  C("email", "each", "create_mailing_list",
    "email:each: operation 'create_mailing_list' is not paginated (no limit/offset,"
      .. " start/count or size/skip parameters)"),
  C("email", "each", "get_mailing_lists", { limit = 101 },
    "email:each: page size ('limit' or opts.page_size) must be an integer from 1 to 100, got 101"),
  C("email", "all", "get_mailing_lists", nil, { page_size = 0 },
    "email:all: page size ('limit' or opts.page_size) must be an integer from 1 to 100, got 0"),
  C("email", "each", "get_mailing_lists", { offset = -1 },
    "email:each: argument 'offset' must be an integer >= 0, got -1"),
  C("verifier", "each", "get_verified_lists", { count = 500 },
    "verifier:each: page size ('count' or opts.page_size) must be an integer from 1 to 100, got 500"),
  C("instagram", "each", "get_chats", { bot_id = "b", skip = 1.5 },
    "instagram:each: argument 'skip' must be an integer >= 0, got 1.5"),
  C("email", "each", "get_mailing_lists", "x",
    "email:each: argument 'args' must be a table or nil, got string"),
  C("email", "each", "get_mailing_lists", nil, { pagesize = 5 },
    "email:each: unknown option 'pagesize' (known: page_size, items, max_items,"
      .. " and the call options attempt_timeout, headers, idempotency_key, idempotent, raw, timeout)"),
  C("email", "each", "get_mailing_lists", nil, { items = "data" },
    "email:each: option 'items' must be a function(answer) -> array"),
  C("email", "each", "get_mailing_lists", nil, { max_items = 0 },
    "email:each: option 'max_items' must be an integer >= 1"),
  -- batches
  C("email", "delete_emails_from_mailing_list", { id = 1, emails = { "a@b.c" }, batch_size = 101 },
    "email:delete_emails_from_mailing_list: argument 'batch_size' must be an integer from 1"
      .. " to 100, got 101"),
  C("smtp", "get_smtp_emails_batch_info", { emails = { "x" }, batch_size = 0.5 },
    "smtp:get_smtp_emails_batch_info: argument 'batch_size' must be an integer from 1 to 500, got 0.5"),
  C("email", "unsubscribe_emails_from_mailing_list", { id = 1, emails = "a@b.c" },
    "email:unsubscribe_emails_from_mailing_list: argument 'emails' must be an array (a"
      .. " sequence table), got string"),
  -- waiting
  C("email", "patient", 5, "email:patient: argument 'opts' must be a table or nil, got number"),
  C("email", "patient", { max_wiat = 5 },
    "email:patient: unknown option 'max_wiat' (known: max_wait, attempts, codes, sleep, clock, on_wait)"),
  C("email", "patient", { max_wait = -1 },
    "email:patient: option 'max_wait' must be a number of seconds from 0 to 86400"),
  C("email", "patient", { attempts = 0 },
    "email:patient: option 'attempts' must be an integer from 1 to 100"),
  C("email", "patient", { sleep = 1 }, "email:patient: option 'sleep' must be a function"),
  C("email", "patient", { clock = "now" }, "email:patient: option 'clock' must be a function"),
  C("email", "patient", { codes = {} },
    "email:patient: option 'codes' must be a non-empty list of error codes"),
  C("email", "patient", { on_wait = true }, "email:patient: option 'on_wait' must be a function"),
  -- raw
  C("email", "raw", "nope", "email:raw: no operation 'nope' in service 'email'"),
  C("email", "raw", nil, "email:raw: argument 'name' must be an operation name (string), got nil"),
}

describe("helper argument checks", function()
  for i, case in ipairs(CASES) do
    local service, method = case[1], case[2]
    local n = case.n
    local expected = case[n]
    -- the arguments between the method name and the message (nil-safe)
    local nargs = n - 3
    local function args_of()
      local a = {}
      for k = 1, nargs do a[k] = deep_copy(case[2 + k]) end
      return a
    end

    it(("#%d %s:%s refuses bad input before any I/O"):format(i, service, method), function()
      for _, form in ipairs { "raise", "safe" } do
        local c = new(form)
        local args = args_of()
        local before = deep_copy(args)
        local events = io_events
        local svc = c[service]
        local ok, r1, r2 = pcall(svc[method], svc, unpack(args, 1, nargs))
        local err
        if form == "raise" then
          assert.is_false(ok, "expected an error: " .. expected)
          err = r1
        elseif method == "each" then
          -- a safe client's each() gives the loop an iterator that yields
          -- false, err (and err as its second value)
          assert.is_true(ok, tostring(r1))
          assert.is_function(r1)
          local item, loop_err = r1()
          assert.is_false(item)
          assert.equal(r2, loop_err)
          assert.is_nil(r1())
          err = r2
        else
          assert.is_true(ok, tostring(r1))
          assert.is_nil(r1)
          err = r2
        end
        assert.is_true(sendpulse.is_error(err), tostring(err))
        assert.equal("argument", err.kind)
        assert.equal(expected, err.message)
        assert.equal(events, io_events, "no request may be sent")
        assert.same(before, args, "the caller's arguments must not change")
        c:close()
      end
    end)
  end

  it("the names helpers add to every service hide no operation of the API", function()
    local operations = require "sendpulse.operations"
    for _, service in ipairs(operations.services()) do
      for _, name in ipairs { "raw", "each", "all", "patient" } do
        assert.is_nil(operations.operation(service, name), service .. ":" .. name)
      end
    end
    assert.is_nil(operations.operation("smtp", "send"))
  end)

  it("a helper called with '.' instead of ':' says so", function()
    local c = new()
    local events = io_events
    for _, call in ipairs {
      { function() c.smtp.send(GOOD_MAIL) end, "smtp:send" },
      { function() c.email.each("get_mailing_lists") end, "email:each" },
      { function() c.email:patient().create_campaign({}) end, "email:create_campaign" },
    } do
      local ok, err = pcall(call[1])
      assert.is_false(ok)
      assert.is_true(sendpulse.is_error(err))
      assert.equal("argument", err.kind)
      assert.matches("^" .. call[2] .. ": call it with ':', not '.'", err.message)
    end
    assert.equal(events, io_events)
    c:close()
  end)
end)

describe("page shapes", function()
  local items_of = require("sendpulse.helpers.paging").items_of
  local A, B = { id = 1 }, { id = 2 }
  -- answer -> the items a page iterator reads from it (nil: none found)
  local SHAPES = {
    { "a JSON array", { A, B }, { A, B } },
    { "an empty page", {}, {} },
    { "chatbot envelope", { success = true, data = { A } }, { A } },
    { "verifier lists", { total = 2, list = { A, B } }, { A, B } },
    { "items", { items = { B } }, { B } },
    { "CRM data.list", { data = { list = { A }, total = 1 } }, { A } },
    { "SMTP bounces", { found = 1, emails = { A }, total = 1, request_limit = 100 }, { A } },
    { "SMTP bounces, empty page", { found = 0, emails = {}, total = 0 }, {} },
    { "verifier results", { id = 7, data = { ["0"] = 1, ["1"] = 2 }, email_addresses = { B } }, { B } },
    { "two arrays: ambiguous", { a = { A }, b = { B } }, nil },
    { "an object in data", { success = true, data = { id = 1 } }, nil },
    { "a scalar", true, nil },
  }
  for _, case in ipairs(SHAPES) do
    it(case[1], function()
      assert.same(case[3], items_of(case[2]))
    end)
  end
end)
