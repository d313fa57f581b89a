-- The helpers against the sandbox, over real sockets: Base64 fields,
-- smtp:send, the normalised list answer, page iterators, batches and waiting
-- out 711 / 791 / 1004 on a fake clock that also moves the sandbox's clock.
local sendpulse = require "sendpulse"
local safe = require "sendpulse.safe"
local core = require "sendpulse.core"
local operations = require "sendpulse.operations"
local sandbox = require "support.sandbox_process"

local SECRET = "sandbox-secret"

local function hex(s)
  return (s:gsub(".", function(c) return ("%02x"):format(c:byte()) end))
end

describe("helpers against the sandbox", function()
  local sb

  lazy_setup(function() sb = sandbox.start {} end)
  lazy_teardown(function() if sb then sb:stop() end end)

  local account, serial = nil, 0
  before_each(function()
    sb:reset()
    serial = serial + 1
    account = "helpers-" .. serial
    sb:configure { accounts = { { client_id = account, client_secret = SECRET } } }
  end)

  local function client(extra, use_safe)
    local opts = { client_id = account, client_secret = SECRET, base_url = sb.url }
    for k, v in pairs(extra or {}) do opts[k] = v end
    return (use_safe and safe or sendpulse).new(opts)
  end

  -- A fake clock for the waiting helper: sleeping moves it and the sandbox's
  -- clock by the same amount, so nothing really waits.
  local function fake_time()
    local t = { now = 1000, slept = {} }
    function t.clock() return t.now end
    function t.sleep(s)
      t.slept[#t.slept + 1] = s
      t.now = t.now + s
      sb:control("POST", "/_sandbox/clock", { advance = s })
    end
    return t
  end

  local function contacts(n, prefix)
    local list = {}
    for i = 1, n do
      list[i] = { email = ("%s%03d@example.com"):format(prefix or "user", i),
                  variables = { name = "User " .. i, n = i } }
    end
    return list
  end

  local function new_list(c, name, n)
    local list = c.email:create_mailing_list { bookName = name }
    if n and n > 0 then c.email:add_emails_to_mailing_list { id = list.id, emails = contacts(n, name) } end
    return list.id
  end

  local CAMPAIGN = { sender_name = "Shop", sender_email = "shop@example.com", subject = "News" }
  local function campaign(list_id, body)
    local a = {}
    for k, v in pairs(CAMPAIGN) do a[k] = v end
    a.list_id, a.body = list_id, body or "<p>Hello</p>"
    return a
  end

  local function requests(pred)
    local out = {}
    for _, r in ipairs(sb:stats().requests) do
      if not pred or pred(r) then out[#out + 1] = r end
    end
    return out
  end

  describe("Base64 fields", function()
    it("templates: plain UTF-8 in, Base64 on the wire, plain text back", function()
      local c = client()
      local body = "<h1>Здравствуйте, мир</h1> ünïcödé"
      local t = c.email:create_template { name = "welcome", body = body }
      local raw = c.email:raw("get_template_by_id", { template_id = t.real_id })
      assert.equal(core.base64_encode(body), raw.body)
      local got = c.email:get_template_by_id { template_id = t.real_id }
      assert.equal(body, got.body)
      assert.equal("welcome", got.name)
      assert.equal(body, c.email:get_template_by_slug { name_slug = "welcome" }.body)
      assert.equal(body, c.email:get_templates()[1].body)
      for tpl in c.email:each("get_templates") do assert.equal(body, tpl.body) end
      c.email:update_template { id = t.real_id, body = "<p>второй</p>" }
      assert.equal("<p>второй</p>", c.email:get_template_by_id { template_id = t.real_id }.body)
      c:close()
    end)

    it("the sandbox refuses a body that is not Base64 (the raw form sends it as given)", function()
      local c = client({}, true)
      local v, err = c.email:raw("create_template", { name = "x", body = "<p>plain</p>" })
      assert.is_nil(v)
      assert.equal("api", err.kind)
      assert.equal(21356, err.code)
      c:close()
    end)

    it("campaigns: body and attachments_binary encoded, the caller's table unchanged", function()
      local c = client()
      local id = new_list(c, "b64", 3)
      local args = campaign(id, "<p>Привет</p>")
      args.attachments_binary = { ["logo.bin"] = "\0\1\2\255" }
      local before = { body = args.body, file = args.attachments_binary["logo.bin"] }
      local made = c.email:create_campaign(args)
      assert.equal(before.body, args.body)
      assert.equal(before.file, args.attachments_binary["logo.bin"])
      local raw = c.email:get_campaign_by_id { id = made.id }
      assert.equal(core.base64_encode("<p>Привет</p>"), raw.message.body)
      assert.same({ "logo.bin" }, raw.message.attachments)
      c:close()
    end)

    it("blacklist: a list or one comma-separated string becomes the Base64 of one string", function()
      local c = client()
      c.email:add_to_blacklist { emails = { "a@example.com", "b@example.com" }, comment = "bounces" }
      c.email:add_to_blacklist { emails = "c@example.com,d@example.com" }
      assert.same({ "a@example.com", "b@example.com", "c@example.com", "d@example.com" }, c.email:get_blacklist())
      c.email:remove_from_blacklist { emails = { "b@example.com", "c@example.com" } }
      assert.same({ "a@example.com", "d@example.com" }, c.email:get_blacklist())
      c:close()
    end)

    it("send_smtp_email (the operation itself) encodes email.html and attachments_binary", function()
      local c = client()
      local sent = c.smtp:send_smtp_email { email = {
        subject = "s", from = { name = "n", email = "shop@example.com" }, to = { { email = "x@example.com" } },
        html = "<b>ß</b>", text = "t", attachments_binary = { ["z.bin"] = "\255\0" } } }
      local box = sb:control("GET", "/_sandbox/smtp/" .. sent.id)
      assert.equal("<b>ß</b>", box.html)
      assert.equal("ff00", box.attachments["z.bin"].hex)
      c:close()
    end)
  end)

  describe("smtp:send", function()
    it("sends html with text and binary attachments; the history shows it", function()
      local c = client()
      local png = "\137PNG\r\n\26\n\0\0\0\rIHDR\255\254"
      local sent = c.smtp:send {
        subject = "Your order", from = { name = "Shop", email = "shop@example.com" },
        to = { "ann@example.com", { email = "bob@example.com", name = "Bob" } },
        cc = { "boss@example.com" }, reply_to = "help@example.com",
        html = "<p>Thanks, Ann — €12</p>", text = "Thanks",
        attachments = { ["note.txt"] = "plain note" }, attachments_binary = { ["logo.png"] = png },
      }
      assert.is_true(sent.result)
      local box = sb:control("GET", "/_sandbox/smtp/" .. sent.id)
      assert.equal("<p>Thanks, Ann — €12</p>", box.html)
      assert.equal("Thanks", box.text)
      assert.equal(hex(png), box.attachments["logo.png"].hex)
      assert.equal(#png, box.attachments["logo.png"].size)
      assert.equal(hex("plain note"), box.attachments["note.txt"].hex)
      local seen = {}
      for rec in c.smtp:each("get_smtp_emails") do seen[#seen + 1] = rec.recipient .. " " .. rec.subject end
      assert.same({ "ann@example.com Your order", "bob@example.com Your order" }, seen)
      assert.equal(2, c.smtp:get_smtp_emails_total().total)
      c:close()
    end)

    it("a template instead of html; a sender given as a bare address is also its name", function()
      local c = client()
      local t = c.email:create_template { name = "receipt", body = "<p>{{name}}</p>" }
      local sent = c.smtp:send { subject = "Receipt", from = "shop@example.com", to = { "ann@example.com" },
                                 template = { id = t.real_id, variables = { name = "Ann" } } }
      local box = sb:control("GET", "/_sandbox/smtp/" .. sent.id)
      assert.equal("<p>{{name}}</p>", box.html)
      c:close()
    end)

    it("SendPulse's refusal comes back as an api error (unknown template)", function()
      local c = client({}, true)
      local v, err = c.smtp:send { subject = "x", from = "shop@example.com", to = { "a@example.com" }, template = 999 }
      assert.is_nil(v)
      assert.equal(31, err.code)
      c:close()
    end)
  end)

  describe("normalised answers", function()
    it("get_mailing_list_by_id returns the list object; raw keeps SendPulse's one-element array", function()
      local c = client()
      local id = new_list(c, "shape", 2)
      local book = c.email:get_mailing_list_by_id { id = id }
      assert.equal(id, book.id)
      assert.equal(2, book.all_email_qty)
      local raw = c.email:raw("get_mailing_list_by_id", { id = id })
      assert.equal(1, #raw)
      assert.same(book, raw[1])
      c:close()
    end)
  end)

  describe("page iterators", function()
    local function page_queries(path_pattern)
      local out = {}
      for _, r in ipairs(requests(function(r) return r.method == "GET" and r.path:find(path_pattern) end)) do
        out[#out + 1] = r.query
      end
      return out
    end

    it("walk 250 emails in pages of 100 and stop on the short page", function()
      local c = client()
      local id = new_list(c, "pages", 250)
      local seen = {}
      for e in c.email:each("get_emails_from_mailing_list", { id = id }) do
        seen[#seen + 1] = e
      end
      assert.equal(250, #seen)
      assert.equal("pages001@example.com", seen[1].email)
      assert.equal("User 250", seen[250].variables.name)
      assert.same({ "limit=100&offset=0", "limit=100&offset=100", "limit=100&offset=200" },
        page_queries("/emails$"))
      c:close()
    end)

    it("an exact multiple of the page size ends on an empty page; all() collects; max_items stops early", function()
      local c = client()
      local id = new_list(c, "exact", 100)
      local all, meta = c.email:all("get_emails_from_mailing_list", { id = id }, { page_size = 50 })
      assert.equal(100, #all)
      assert.equal(3, meta.pages)
      local first = c.email:all("get_emails_from_mailing_list", { id = id, offset = 10, limit = 5 }, { max_items = 7 })
      assert.equal(7, #first)
      assert.equal("exact011@example.com", first[1].email)
      c:close()
    end)

    it("a failing page: raising client raises from the loop, safe client yields false, err", function()
      for _, use_safe in ipairs { false, true } do
        sb:reset()
        sb:configure { accounts = { { client_id = account, client_secret = SECRET } } }
        local c = client({ retries = 0 }, use_safe)
        local id = new_list(c, "fail", 150)
        local got, failure = 0, nil
        local ok, raised = pcall(function()
          for item, err in c.email:each("get_emails_from_mailing_list", { id = id }) do
            if not item then failure = err break end
            got = got + 1
            if got == 1 then
              sb:fault { kind = "status", status = 400, path = "/emails$", count = 1,
                         body = '{"message":"broken page","error_code":400}' }
            end
          end
        end)
        assert.equal(100, got)
        if use_safe then
          assert.is_true(ok)
          assert.equal("broken page", failure.message)
        else
          assert.is_false(ok)
          assert.equal("broken page", raised.message)
        end
        c:close()
      end
    end)

    it("works with every paginated operation of every service (all three styles)", function()
      sb:configure { rate = 0 }
      local c = client({ rate_limit = false }, true)
      local odd = {}
      -- ids the stateful routes know (the other operations answer examples)
      local ids = {
        email = new_list(c, "any", 3),
        push = c.push:get_web_push_websites()[1].id,
      }
      local styles, ops = {}, 0
      for _, service in ipairs(operations.services()) do
        for _, name in ipairs(operations.operations(service)) do
          local op = operations.operation(service, name)
          if op.paging then
            ops = ops + 1
            local args = {}
            for k, v in pairs(op.example or {}) do args[k] = v end
            if args.id and ids[service] then args.id = ids[service] end
            local n, failure = 0, nil
            for item, err in c[service]:each(name, args) do
              if not item then failure = err break end
              n = n + 1
            end
            if failure then
              -- The spec's own example has no array where pages keep items
              -- (e.g. chatbot get_flows: `data` is one object): a decode
              -- error that says how to read such an answer, then opts.items.
              assert.equal("decode", failure.kind, service .. ":" .. name .. " " .. tostring(failure))
              assert.matches("opts.items", failure.message, 1, true)
              odd[#odd + 1] = service .. ":" .. name
              for item in c[service]:each(name, args, { items = function(a) return { a.data or a } end }) do
                assert.is_table(item)
                n = n + 1
              end
              assert.equal(1, n)
            end
            local last = requests()
            local q = last[#last].query
            local keys = require("sendpulse.helpers.paging").STYLES[op.paging]
            assert.truthy(q:find(keys[1] .. "=100", 1, true), service .. ":" .. name .. " " .. q)
            assert.truthy(q:find(keys[2] .. "=", 1, true), service .. ":" .. name .. " " .. q)
            styles[op.paging] = (styles[op.paging] or 0) + 1
          end
        end
      end
      assert.truthy(styles.limit_offset and styles.start_count and styles.size_skip)
      assert.is_true(ops >= 80)
      assert.is_true(#odd < ops / 4, table.concat(odd, " "))
      c:close()
    end)
  end)

  describe("batches", function()
    it("remove 250 emails in three calls of at most 100", function()
      local c = client()
      local id = new_list(c, "rm", 260)
      local addrs = {}
      for i = 1, 250 do addrs[i] = ("rm%03d@example.com"):format(i) end
      local report = c.email:delete_emails_from_mailing_list { id = id, emails = addrs }
      assert.is_true(report.result)
      assert.same({ { first = 1, last = 100, ok = true }, { first = 101, last = 200, ok = true },
                    { first = 201, last = 250, ok = true } }, report.batches)
      assert.equal(250, #report.done)
      assert.same({}, report.pending)
      assert.equal(10, c.email:get_emails_total_count { id = id }.total)
      assert.equal(3, #requests(function(r) return r.method == "DELETE" end))
      c:close()
    end)

    it("a failure part-way loses nothing: the error says what was done and what was not", function()
      local c = client({}, true)
      local id = new_list(c, "us", 150)
      local addrs = {}
      for i = 1, 150 do addrs[i] = ("us%03d@example.com"):format(i) end
      -- the first two batches go through, the sandbox refuses the third
      sb:fault { kind = "delay", delay = 0.001, path = "/emails/unsubscribe$", count = 2 }
      sb:fault { kind = "status", status = 422, path = "/emails/unsubscribe$",
                 body = '{"message":"Argument emails is invalid","error_code":422}' }
      local v, err = c.email:unsubscribe_emails_from_mailing_list { id = id, emails = addrs, batch_size = 50 }
      assert.is_nil(v)
      assert.equal("api", err.kind)
      assert.equal(100, #err.done)
      assert.equal(50, #err.pending)
      assert.equal(101, err.batches[3].first)
      assert.is_false(err.batches[3].ok)
      assert.equal("us101@example.com", err.pending[1])
      assert.matches("batch 3 of 3", err.message, 1, true)
      -- the first 100 really were unsubscribed, the rest not
      local statuses = {}
      for e in c.email:each("get_emails_from_mailing_list", { id = id }) do statuses[e.email] = e.status end
      assert.equal(4, statuses["us100@example.com"])
      assert.equal(1, statuses["us101@example.com"])
      c:close()
    end)

    it("adding 3,000 contacts checks every address before the first batch leaves, and names the bad one", function()
      local c = client({}, true)
      local id = new_list(c, "checked", 0)
      local function added() return #requests(function(r) return r.method == "POST" and r.path:find("/emails$") end) end
      local list = contacts(3000, "chk")
      local cases = {
        { { email = "chk2500.example.com", variables = { n = 2500 } },
          "argument 'emails[2500].email' must be an email address, got \"chk2500.example.com\"" },
        { "not an address", "argument 'emails[2500]' must be an email address, got \"not an address\"" },
        { { variables = { n = 2500 } }, "argument 'emails[2500].email' is required (string)" },
        { { email = "chk2500@example.com", variables = { "a", "b" } },
          "argument 'emails[2500].variables' must be an object (a table with named fields), got table" },
        { 2500, "argument 'emails[2500]' must be an email address or a contact { email =, variables = }, "
          .. "got integer 2500" },
      }
      for _, case in ipairs(cases) do
        local good = list[2500]
        list[2500] = case[1]
        local v, err = c.email:add_emails_to_mailing_list { id = id, emails = list }
        assert.is_nil(v)
        assert.equal("argument", err.kind)
        assert.equal("email:add_emails_to_mailing_list: " .. case[2], err.message)
        assert.equal(0, added(), "a batch reached the sandbox before the bad address was found")
        list[2500] = good
      end
      -- one batch's worth is checked the same way
      local v, err = c.email:add_emails_to_mailing_list { id = id, emails = { "ann@example.com", "bob" } }
      assert.is_nil(v)
      assert.equal("email:add_emails_to_mailing_list: argument 'emails[2]' must be an email address, got \"bob\"",
        err.message)
      assert.equal(0, added())
      -- the list without the bad one goes, in 6 batches, addresses and contacts alike
      list[1] = "chk001@example.com"
      local report = assert(c.email:add_emails_to_mailing_list { id = id, emails = list })
      assert.equal(6, #report.batches)
      assert.equal(6, added())
      assert.equal(3000, c.email:get_emails_total_count { id = id }.total)
      c:close()
    end)

    it("SMTP status for 1200 ids in batches of 500, records merged in order", function()
      local c = client()
      local sent = c.smtp:send { subject = "s", from = "shop@example.com",
                                 to = { "a@example.com", "b@example.com" }, text = "t" }
      local ids = {}
      for i = 1, 1200 do ids[i] = "missing-" .. i end
      ids[1], ids[1199] = sent.id, sent.id
      local records, meta = c.smtp:get_smtp_emails_batch_info { emails = ids }
      assert.equal(2, #records)
      assert.equal(sent.id, records[1].id)
      assert.equal(3, #meta.batches)
      assert.equal(1001, meta.batches[3].first)
      c:close()
    end)
  end)

  describe("waiting out the codes with a wait (711, 791, 1004)", function()
    it("711 is a rate_limit error with retry_after 900 by default; patient waits it out", function()
      local c = client()
      local id = new_list(c, "w711", 5)
      c.email:create_campaign(campaign(id))
      local ok, err = pcall(c.email.create_campaign, c.email, campaign(id))
      assert.is_false(ok)
      assert.equal("rate_limit", err.kind)
      assert.equal(711, err.code)
      assert.equal(900, err.retry_after)
      local t = fake_time()
      local waits = {}
      local email = c.email:patient { sleep = t.sleep, clock = t.clock,
                                      on_wait = function(e) waits[#waits + 1] = e end }
      local made = email:create_campaign(campaign(id))
      assert.is_number(made.id)
      assert.same({ 900 }, t.slept)
      assert.same({ { code = 711, seconds = 900, attempt = 1 } }, waits)
      c:close()
    end)

    it("gives up without waiting when the wait would pass max_wait, or attempts run out", function()
      local c = client({}, true)
      local id = new_list(c, "giveup", 5)
      c.email:create_campaign(campaign(id))
      local t = fake_time()
      local v, err = c.email:patient({ max_wait = 600, sleep = t.sleep, clock = t.clock }):create_campaign(campaign(id))
      assert.is_nil(v)
      assert.equal(711, err.code)
      assert.equal(0, #t.slept)
      assert.equal(1, err.attempts_made)
      assert.matches("would pass max_wait", err.message, 1, true)
      v, err = c.email:patient({ attempts = 1, sleep = t.sleep, clock = t.clock }):create_campaign(campaign(id))
      assert.is_nil(v)
      assert.matches("would pass attempts", err.message, 1, true)
      assert.equal(0, #t.slept)
      c:close()
    end)

    it("791: the fifth campaign in an hour waits an hour", function()
      local c = client()
      local lists = {}
      for i = 1, 5 do lists[i] = new_list(c, "l" .. i, 1) end
      for i = 1, 4 do c.email:create_campaign(campaign(lists[i])) end
      local t = fake_time()
      local email = c.email:patient { max_wait = 4000, sleep = t.sleep, clock = t.clock }
      assert.is_number(email:create_campaign(campaign(lists[5])).id)
      assert.same({ 3600 }, t.slept)
      c:close()
    end)

    it("1004: a second activation code within 15 minutes", function()
      local c = client()
      c.email:add_sender { email = "me@example.com", name = "Me" }
      c.email:request_sender_activation_code { email = "me@example.com" }
      local t = fake_time()
      local email = c.email:patient { sleep = t.sleep, clock = t.clock }
      local r = email:request_sender_activation_code { email = "me@example.com" }
      assert.is_true(r.result)
      assert.same({ 900 }, t.slept)
      c.email:activate_sender { email = "me@example.com", code = "sandbox-code" }
      assert.equal("Active", c.email:get_senders()[1].status)
      c:close()
    end)

    it("other errors pass straight through, without waiting", function()
      local c = client()
      local t = fake_time()
      local ok, err = pcall(function()
        return c.email:patient({ sleep = t.sleep, clock = t.clock }):get_mailing_list_by_id { id = 999999 }
      end)
      assert.is_false(ok)
      assert.equal(213, err.code)
      assert.equal(0, #t.slept)
      c:close()
    end)
  end)

  describe("end to end", function()
    it("list, 250 contacts, pages, campaign, 711 waited out, SMTP with attachment, history", function()
      local c = client()
      local list = c.email:create_mailing_list { bookName = "Customers" }
      local added = c.email:add_emails_to_mailing_list { id = list.id, emails = contacts(250, "cust") }
      assert.is_true(added.result)
      assert.equal(250, c.email:get_mailing_list_by_id { id = list.id }.all_email_qty)

      local n, names = 0, {}
      for contact in c.email:each("get_emails_from_mailing_list", { id = list.id }) do
        n = n + 1
        names[contact.variables.name] = true
      end
      assert.equal(250, n)
      assert.is_true(names["User 1"] and names["User 250"])

      local first = c.email:create_campaign(campaign(list.id, "<h1>Sale — 20%</h1>"))
      assert.equal(250, first.count)

      local ok, err = pcall(c.email.create_campaign, c.email, campaign(list.id, "<h1>Again</h1>"))
      assert.is_false(ok)
      assert.equal(711, err.code)

      local t = fake_time()
      local email = c.email:patient { sleep = t.sleep, clock = t.clock }
      local second = email:create_campaign(campaign(list.id, "<h1>Again</h1>"))
      assert.is_true(second.id > first.id)
      assert.same({ 900 }, t.slept)

      local pdf = "%PDF-1.4\n\0\1\2\255 binary"
      local sent = c.smtp:send { subject = "Invoice", from = { name = "Shop", email = "shop@example.com" },
                                 to = { "cust001@example.com" }, html = "<p>Invoice attached</p>",
                                 attachments_binary = { ["invoice.pdf"] = pdf } }
      local history = c.smtp:all("get_smtp_emails")
      assert.equal(1, #history)
      assert.equal(sent.id, history[1].id)
      assert.equal("cust001@example.com", history[1].recipient)
      assert.equal("Invoice", c.smtp:get_smtp_email_info { id = sent.id }.subject)
      assert.equal(hex(pdf), sb:control("GET", "/_sandbox/smtp/" .. sent.id).attachments["invoice.pdf"].hex)
      c:close()
    end)
  end)
end)
