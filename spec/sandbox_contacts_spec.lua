-- Issue 11, item 8: the sandbox keeps real state for the contacts of the
-- bulk-email service (variables, one address in a list with 404 for unknown
-- ones, totals, unsubscribes, deletes), and every answer it makes up from
-- the OpenAPI file's example says so (a header, the stats, a log line).
-- Through the generated methods, as a user's test would call them.
local safe = require "sendpulse.safe"
local sandbox = require "support.sandbox_process"

describe("sandbox contacts", function()
  local sb, c, list

  lazy_setup(function() sb = sandbox.start { rate = 0 } end)
  lazy_teardown(function() if sb then sb:stop() end end)

  before_each(function()
    sb:reset()
    c = safe.new { client_id = "sandbox-id", client_secret = "sandbox-secret", base_url = sb.url,
                   retries = 0, rate_limit = false }
    list = assert(c.email:create_mailing_list { bookName = "Contacts" }).id
    assert(c.email:add_emails_to_mailing_list { id = list, emails = {
      { email = "ada@example.com", variables = { name = "Ada", age = 36 } },
      { email = "bob@example.com", variables = { name = "Bob" } },
    } })
  end)
  after_each(function() c:close() end)

  -- a safe client's success: value, nil, meta
  local function ok(v, err, meta)
    assert(v ~= nil, tostring(err))
    return v, meta
  end

  it("reads one address in a list, and answers 404 for an address not in it", function()
    local got, meta = ok(c.email:get_email_from_list { id = list, email = "ada@example.com" })
    assert.equal("ada@example.com", got.email)
    assert.equal(tostring(list), got.abook_id)
    assert.equal(1, got.status)
    -- names new in one call join the list's variables sorted (a JSON object has no order)
    assert.same({ { name = "age", type = "number", value = "36" }, { name = "name", type = "string", value = "Ada" } },
      got.variables)
    assert.is_nil(meta.headers["x-sandbox-canned"])
    local none, err = c.email:get_email_from_list { id = list, email = "nobody@example.com" }
    assert.is_nil(none)
    assert.equal(404, err.status)
    assert.equal(17, err.code)
  end)

  it("updates variables for real, lists them, and finds contacts by a variable", function()
    ok(c.email:update_contact_variables { id = list, email = "bob@example.com",
      variables = { { name = "name", value = "Robert" }, { name = "city", value = "Oslo" } } })
    local got = ok(c.email:get_email_from_list { id = list, email = "bob@example.com" })
    local by = {}
    for _, v in ipairs(got.variables) do by[v.name] = v.value end
    assert.same({ name = "Robert", city = "Oslo" }, by)
    local vars = ok(c.email:get_mailing_list_variables { id = list })
    assert.same({ { name = "age", type = "number" }, { name = "name", type = "string" },
                  { name = "city", type = "string" } }, vars)
    local found = ok(c.email:get_contacts_by_variable { id = list, variableName = "city", searchValue = "Oslo" })
    assert.equal(1, #found)
    assert.equal("bob@example.com", found[1].email)
    local _, err = c.email:update_contact_variables { id = list, email = "nobody@example.com",
      variables = { { name = "name", value = "X" } } }
    assert.equal(404, err.status)
  end)

  -- Issue 21: a variable past 2^63 (cjson reads it as a float) made every
  -- later read of the address answer 500 (format "%d" raised).
  it("keeps a variable too large for an integer, and every later read answers", function()
    local raw = require "support.rawhttp"
    local body = '{"email": "bob@example.com", "variables": [{"name": "big", "value": 12345678901234567890}]}'
    local res = assert(raw.request(sb.host, sb.port, "POST", "/addressbooks/" .. list .. "/emails/variable",
      { token = "sandbox-api-key", body = body, headers = { ["Content-Type"] = "application/json" } }))
    assert.equal(200, res.status)
    for _ = 1, 2 do
      local got = ok(c.email:get_email_from_list { id = list, email = "bob@example.com" })
      local by = {}
      for _, v in ipairs(got.variables) do by[v.name] = v.value end
      -- the closest double, written so it reads back as the same number
      assert.equal(12345678901234567890, tonumber(by.big))
      local found = ok(c.email:get_contacts_by_variable { id = list, variableName = "big", searchValue = by.big })
      assert.equal("bob@example.com", found[1].email)
    end
  end)

  it("keeps totals, unsubscribes, phones, and deletes across lists", function()
    assert.equal(2, ok(c.email:get_emails_total_count { id = list }).total)
    ok(c.email:unsubscribe_emails_from_mailing_list { id = list, emails = { "bob@example.com" } })
    assert.equal(4, ok(c.email:get_email_from_list { id = list, email = "bob@example.com" }).status)
    assert.equal(1, ok(c.email:get_emails_total_count { id = list, active = true }).total)
    ok(c.email:update_contact_phone { id = list, email = "ada@example.com", phone = "+380501234567" })
    assert.equal("+380501234567", ok(c.email:get_email_from_list { id = list, email = "ada@example.com" }).phone)

    local other = ok(c.email:create_mailing_list { bookName = "Other" }).id
    ok(c.email:add_emails_to_mailing_list { id = other, emails = { { email = "ada@example.com" } } })
    local info = ok(c.email:get_email_info { email = "ada@example.com" })
    assert.equal(2, #info)
    assert.same({ list, other }, { info[1].book_id, info[2].book_id })
    local details = ok(c.email:get_email_details { email = "ada@example.com" })
    assert.equal("Contacts", details[1].list_name)
    local many = ok(c.email:get_multiple_emails_info { emails = { "ada@example.com", "zed@example.com" } })
    assert.equal(2, #many["ada@example.com"])
    assert.is_nil(many["zed@example.com"])

    ok(c.email:delete_email_globally { email = "ada@example.com" })
    local _, err = c.email:get_email_info { email = "ada@example.com" }
    assert.equal(404, err.status)
    assert.equal(1, ok(c.email:get_emails_total_count { id = list }).total)
    assert.equal(0, ok(c.email:get_emails_total_count { id = other }).total)
  end)

  it("counts how often each address was sent (the control API), for exactly-once checks", function()
    ok(c.email:add_emails_to_mailing_list { id = list, emails = { { email = "ada@example.com" } } })
    local writes = sb:control("GET", "/_sandbox/addressbooks/" .. list)
    assert.same({ { email = "ada@example.com", writes = 2 }, { email = "bob@example.com", writes = 1 } },
      writes.emails)
  end)

  it("marks every canned answer: a header, the stats and a log line", function()
    local _, meta = ok(c.email:get_balance())
    assert.equal("email:get_balance", meta.headers["x-sandbox-canned"])
    local _, real = ok(c.email:get_mailing_lists())
    assert.is_nil(real.headers["x-sandbox-canned"])
    local stats = sb:stats()
    local canned = {}
    for _, r in ipairs(stats.requests) do if r.canned then canned[#canned + 1] = r.path end end
    assert.same({ "/balance" }, canned)
    assert.matches("GET /balance %-> 200 .* canned=email:get_balance", sb:log())
  end)
end)
