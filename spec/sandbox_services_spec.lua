-- The sandbox's distribution services, through the client's raw form
-- (client:request, so the helpers are not involved): the rules it enforces
-- (711, 791, Base64, SMTP's `to`, SMS sender names), its clock, and the
-- example answers of every operation it does not model.
local safe = require "sendpulse.safe"
local json = require "sendpulse.json"
local sandbox = require "support.sandbox_process"

local b64 = require("sendpulse.core").base64_encode

describe("sandbox distribution services", function()
  local sb, c, serial = nil, nil, 0

  lazy_setup(function() sb = sandbox.start {} end)
  lazy_teardown(function() if sb then sb:stop() end end)

  before_each(function()
    sb:reset()
    serial = serial + 1
    local account = "svc-" .. serial
    sb:configure { accounts = { { client_id = account, client_secret = "s" } }, rate = 0 }
    c = safe.new { client_id = account, client_secret = "s", base_url = sb.url, retries = 0, rate_limit = false }
  end)
  after_each(function() c:close() end)

  local function call(method, path, body, query)
    return c:request(method, path, { json = body, query = query })
  end
  local function ok(method, path, body, query)
    local v, err = call(method, path, body, query)
    assert(v ~= nil, tostring(err))
    return v
  end
  local function fails(code, method, path, body)
    local v, err = call(method, path, body)
    assert.is_nil(v)
    assert.equal(code, err.code, tostring(err))
    return err
  end

  local function list_with(n)
    local id = ok("POST", "/addressbooks", { bookName = "l" .. math.random(1e9) }).id
    if n > 0 then
      local emails = {}
      for i = 1, n do emails[i] = ("p%d@example.com"):format(i) end
      ok("POST", "/addressbooks/" .. id .. "/emails", { emails = emails })
    end
    return id
  end

  local function campaign(list_id, extra)
    local b = { sender_name = "S", sender_email = "s@example.com", subject = "x", list_id = list_id,
                body = b64("<p>x</p>") }
    for k, v in pairs(extra or {}) do b[k] = v end
    return b
  end

  local function advance(s) return sb:control("POST", "/_sandbox/clock", { advance = s }) end

  describe("clock", function()
    it("starts at the real time, moves on request, and a reset puts it back", function()
      local before = sb:control("GET", "/_sandbox/clock")
      assert.equal(0, before.offset)
      local moved = advance(600)
      assert.equal(600, moved.offset)
      assert.is_true(moved.now - before.now >= 600)
      local _, status = sb:control("POST", "/_sandbox/clock", { advance = -5 })
      assert.equal(400, status)
      sb:reset()
      assert.equal(0, sb:control("GET", "/_sandbox/clock").offset)
    end)
  end)

  describe("campaigns", function()
    it("711: one campaign per list every 15 minutes on the sandbox clock", function()
      local a, b = list_with(2), list_with(2)
      assert.equal(2, ok("POST", "/campaigns", campaign(a)).count)
      local err = fails(711, "POST", "/campaigns", campaign(a))
      assert.equal("rate_limit", err.kind)
      assert.equal(900, err.retry_after)
      ok("POST", "/campaigns", campaign(b))          -- another list is fine
      advance(899)
      fails(711, "POST", "/campaigns", campaign(a))
      advance(2)
      ok("POST", "/campaigns", campaign(a))
    end)

    it("791: at most 4 campaigns an hour per account", function()
      local lists = {}
      for i = 1, 5 do lists[i] = list_with(1) end
      for i = 1, 4 do ok("POST", "/campaigns", campaign(lists[i])) end
      local err = fails(791, "POST", "/campaigns", campaign(lists[5]))
      assert.equal(3600, err.retry_after)
      ok("POST", "/campaigns", campaign(lists[5], { is_test = true }))   -- test sends do not count
      advance(3601)
      ok("POST", "/campaigns", campaign(lists[5]))
    end)

    it("refuses a body that is not Base64, an unknown or empty list, a date in the past", function()
      local id = list_with(1)
      fails(21356, "POST", "/campaigns", campaign(id, { body = "<p>plain</p>" }))
      fails(21356, "POST", "/campaigns", campaign(id, { attachments_binary = { f = "not base64!" } }))
      fails(703, "POST", "/campaigns", campaign(999999))
      fails(211, "POST", "/campaigns", campaign(list_with(0)))
      fails(799, "POST", "/campaigns", campaign(id, { send_date = "2001-01-01 00:00:00" }))
      local no_body = campaign(id)
      no_body.body = nil
      fails(721, "POST", "/campaigns", no_body)
    end)

    it("lists, shows, renames; a sent campaign cannot be cancelled, a scheduled one can", function()
      local id = list_with(3)
      local made = ok("POST", "/campaigns", campaign(id, { name = "First" }))
      local later = os.date("!%Y-%m-%d %H:%M:%S", os.time() + 86400)
      local other = list_with(1)
      local scheduled = ok("POST", "/campaigns", campaign(other, { send_date = later }))
      local all = ok("GET", "/campaigns")
      assert.equal(2, #all)
      assert.equal("First", all[1].name)
      ok("PATCH", "/campaigns/" .. made.id, { name = "Renamed" })
      local one = ok("GET", "/campaigns/" .. made.id)
      assert.equal("Renamed", one.name)
      assert.equal(b64("<p>x</p>"), one.message.body)
      assert.same({ { task_id = made.id, task_name = "Renamed", task_status = 3 } },
        ok("GET", "/addressbooks/" .. id .. "/campaigns"))
      fails(602, "DELETE", "/campaigns/" .. made.id)
      ok("DELETE", "/campaigns/" .. scheduled.id)
      assert.equal(1, #ok("GET", "/campaigns"))
    end)
  end)

  describe("templates, senders, blacklist", function()
    it("templates keep a Base64 body; names are unique", function()
      local t = ok("POST", "/template", { name = "a", body = b64("<p>é</p>") })
      assert.equal(b64("<p>é</p>"), ok("GET", "/template/" .. t.real_id).body)
      fails(573, "POST", "/template", { name = "a", body = b64("x") })
      fails(290, "GET", "/template/424242")
      assert.equal(1, #ok("GET", "/templates"))
    end)

    it("senders: add, activate with the sandbox code, delete", function()
      ok("POST", "/senders", { email = "me@example.com", name = "Me" })
      fails(902, "POST", "/senders", { email = "me@example.com", name = "Me" })
      fails(906, "POST", "/senders", { email = "nope", name = "Me" })
      ok("GET", "/senders/me@example.com/code")
      fails(1004, "GET", "/senders/me@example.com/code")
      fails(1005, "POST", "/senders/me@example.com/code", { code = "wrong" })
      ok("POST", "/senders/me@example.com/code", { code = "sandbox-code" })
      assert.same({ { email = "me@example.com", name = "Me", status = "Active" } }, ok("GET", "/senders"))
      ok("DELETE", "/senders", { email = "me@example.com" })
      assert.same({}, ok("GET", "/senders"))
    end)

    it("the blacklist takes only the Base64 of one comma-separated string", function()
      ok("POST", "/blacklist", { emails = b64("a@example.com, b@example.com") })
      fails(832, "POST", "/blacklist", { emails = { "c@example.com" } })
      fails(832, "POST", "/blacklist", { emails = "c@example.com" })
      assert.same({ "a@example.com", "b@example.com" }, ok("GET", "/blacklist"))
    end)
  end)

  describe("SMTP", function()
    local function message(extra)
      local m = { subject = "s", from = { name = "n", email = "f@example.com" },
                  to = { { email = "t@example.com" } }, html = b64("<p>h</p>") }
      for k, v in pairs(extra or {}) do m[k] = v end
      return { email = m }
    end

    it("refuses `to` that is not an array, html that is not Base64, a missing subject", function()
      fails(999, "POST", "/smtp/emails", message { to = { email = "t@example.com" } })
      fails(999, "POST", "/smtp/emails", message { html = "<p>plain</p>" })
      fails(12, "POST", "/smtp/emails", message { subject = json.null })
      fails(999, "POST", "/smtp/emails", { html = "x" })
    end)

    it("keeps a history per recipient, filtered and counted; info takes at most 500 ids", function()
      local two = { { email = "a@example.com" }, { email = "b@example.com" } }
      local sent = ok("POST", "/smtp/emails", message { to = two })
      assert.equal(2, ok("GET", "/smtp/emails/total").total)
      local only_b = ok("GET", "/smtp/emails", nil, { recipient = "b@example.com" })
      assert.equal(1, #only_b)
      assert.equal(250, ok("GET", "/smtp/emails/" .. sent.id).smtp_answer_code)
      local ids = {}
      for i = 1, 501 do ids[i] = "x" .. i end
      fails(550, "POST", "/smtp/emails/info", { emails = ids })
      fails(14, "GET", "/smtp/emails/nope")
    end)

    it("finds a send by recipient and date window, and lists every send to count them", function()
      ok("POST", "/smtp/emails", message { to = { { email = "w@example.com" } } })
      local today = os.date("!%Y-%m-%d")
      local rows = ok("GET", "/smtp/emails", nil, { recipient = "w@example.com", from = today, to = today })
      assert.equal(1, #rows)
      assert.matches("^%d%d%d%d%-%d%d%-%d%d %d%d:%d%d:%d%d$", rows[1].send_date)
      assert.equal(0, #ok("GET", "/smtp/emails", nil, { recipient = "w@example.com", from = "2000-01-01",
                                                       to = "2000-01-02" }))
      local all = sb:control("GET", "/_sandbox/smtp?recipient=w%40example.com")
      assert.equal(1, #all)
      assert.equal("w@example.com", all[1].recipient)
      assert.equal(rows[1].id, all[1].id)
    end)
  end)

  describe("SMS", function()
    it("numbers in a list, a campaign to it, one to numbers; sender names of at most 11 characters", function()
      local id = list_with(0)
      local added = ok("POST", "/sms/numbers", { addressBookId = id, phones = { "380931234567", "380931234568", "x" } })
      assert.same({ added = 2, exceptions = 1, exists = 0 }, added.counters)
      assert.equal("380931234567", ok("GET", "/sms/numbers/info/" .. id .. "/380931234567").data.phone)
      fails(422, "POST", "/sms/campaigns", { addressBookId = id, sender = "TwelveLetter", body = "hi" })
      local camp = ok("POST", "/sms/campaigns", { addressBookId = id, sender = "Shop", body = "hi" })
      local info = ok("GET", "/sms/campaigns/info/" .. camp.campaign_id).data
      assert.equal(2, #info.task_phones_info)
      ok("POST", "/sms/send", { phones = { "380931234569" }, sender = "Shop", body = "hi" })
      assert.equal(2, #ok("GET", "/sms/campaigns/list").data)
      ok("DELETE", "/sms/numbers", { addressBookId = id, phones = { "380931234567" } })
      fails(404, "GET", "/sms/numbers/info/" .. id .. "/380931234567")
      ok("DELETE", "/sms/campaigns", { id = camp.campaign_id })
      assert.equal(1, #ok("GET", "/sms/campaigns/list").data)
    end)
  end)

  describe("web push", function()
    it("every account has a website; tasks are created on it and listed", function()
      local sites = ok("GET", "/push/websites")
      assert.equal(1, #sites)
      assert.equal(1, ok("GET", "/push/websites/total").total)
      local task = ok("POST", "/push/tasks", { title = "T", body = "B", website_id = sites[1].id, ttl = 3600 })
      assert.equal("T", ok("GET", "/push/tasks/" .. task.id).message.title)
      assert.equal(1, #ok("GET", "/push/tasks", nil, { website_id = sites[1].id }))
      fails(404, "POST", "/push/tasks", { title = "T", body = "B", website_id = 1, ttl = 1 })
      fails(422, "POST", "/push/tasks", { title = ("x"):rep(51), body = "B", website_id = sites[1].id, ttl = 1 })
    end)
  end)

  describe("every other operation", function()
    it("answers its example from the OpenAPI file", function()
      local examples = require "sendpulse.sandbox.examples"
      local function strip(v)   -- drop the array marks for comparison
        if type(v) ~= "table" then return v end
        local r = {}
        for k, x in pairs(v) do r[k] = strip(x) end
        return r
      end
      for _, case in ipairs {
        { "crm", "GET", "/crm/v1", "/pipelines" },
        { "viber", "GET", "", "/viber/task", { limit = 1 } },
        { "telegram", "GET", "/telegram", "/bots" },
        { "email", "GET", "", "/balance" },
      } do
        local want = examples[case[1]][case[2] .. " " .. case[4]]
        assert.is_not_nil(want, case[4])
        local got = ok(case[2], case[3] .. case[4], nil, case[5])
        assert.same(strip(want), strip(got))
      end
    end)

    it("every operation of the client's data has a route", function()
      local routes = require "sendpulse.sandbox.routes.examples"
      local n = 0
      for _ in ipairs(routes.operations()) do n = n + 1 end
      assert.is_true(n >= 635)
    end)

    it("the committed examples are what the OpenAPI files give (regeneration changes nothing)", function()
      local lua = os.getenv("LUA") or "lua5.4"
      local p = io.popen(lua .. " spec/tools/gen_sandbox_examples.lua --check 2>&1; echo \"rc=$?\"")
      local out = p:read("*a")
      p:close()
      assert.matches("rc=0", out, 1, true)
      assert.matches("up to date (635 operations)", out, 1, true)
    end)
  end)

  it("stats keep each request's query string", function()
    ok("GET", "/addressbooks", nil, { limit = 5, offset = 10 })
    local reqs = sb:stats().requests
    assert.equal("limit=5&offset=10", reqs[#reqs].query)
  end)
end)
