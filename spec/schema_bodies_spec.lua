-- Bodies shaped and checked by what SendPulse's OpenAPI files declare
-- (issue 11, item 5), over real sockets: a server that echoes the bytes it
-- got shows what went on the wire, the sandbox's request log shows when
-- nothing did.
--
-- Before this, an empty Lua table in a field the file declares as an array
-- went out as {} (whatsapp:send_template_by_phone with template.components =
-- {}, which SendPulse refuses), and only the top-level fields' types were
-- checked: a missing template.language.code reached the API.
local sendpulse = require "sendpulse"
local safe = require "sendpulse.safe"
local sandbox = require "support.sandbox_process"
local echo_server = require "support.echo_server"

local function deep_copy(v)
  if type(v) ~= "table" then return v end
  local r = {}
  for k, x in pairs(v) do r[k] = deep_copy(x) end
  return setmetatable(r, getmetatable(v))
end

-- Every table in v has no metatable (the caller's tables were not marked).
local function unmarked(v)
  if type(v) ~= "table" then return true end
  if getmetatable(v) ~= nil then return false end
  for _, x in pairs(v) do if not unmarked(x) then return false end end
  return true
end

describe("bodies shaped by the OpenAPI files", function()
  local echo, c

  lazy_setup(function()
    echo = echo_server.start()
    c = sendpulse.new { api_key = "k", base_url = echo.url, rate_limit = false, retries = 0 }
  end)
  lazy_teardown(function()
    if c then c:close() end
    if echo then echo:stop() end
  end)

  local function template(extra)
    local t = { bot_id = "b1", phone = "380931112233",
                template = { name = "thanks", language = { code = "en" }, components = {} } }
    for k, v in pairs(extra or {}) do t.template[k] = v end
    return t
  end

  it("sends [] for an empty table where the file declares an array, nested too", function()
    local args = template()
    local before = deep_copy(args)
    local answer = c.whatsapp:send_template_by_phone(args)
    assert.equal("POST /whatsapp/contacts/sendTemplateByPhone HTTP/1.1", answer.lines[1])
    assert.matches('"components":[]', answer.body, 1, true)
    assert.matches('"language":{"code":"en"}', answer.body, 1, true)
    -- the caller's tables are the same, unmarked
    assert.same(before, args)
    assert.is_true(unmarked(args))

    -- deeper: the parameters of a component, an array inside an array's items
    args = template { components = { { type = "body", parameters = {} } } }
    answer = c.whatsapp:send_template_by_phone(args)
    assert.matches('"components":[{', answer.body, 1, true)
    assert.matches('"parameters":[]', answer.body, 1, true)
    assert.is_true(unmarked(args))
  end)

  it("sends {} for a declared object, and leaves undeclared fields to sendpulse.array", function()
    local args = template { language = { code = "en" } }
    args.note = {}                                       -- undeclared: an object, as before
    args.tags = sendpulse.array({})                      -- undeclared, marked: an array
    local answer = c.whatsapp:send_template_by_phone(args)
    local body = answer.body
    assert.matches('"note":{}', body, 1, true)
    assert.matches('"tags":[]', body, 1, true)
    -- an object declared with no required field may be empty
    answer = c.viber:create_viber_campaign { message_type = 2, sender_id = 1, message_live_time = 60,
      send_date = "now", address_book = 1, additional = {} }
    assert.matches('"additional":{}', answer.body, 1, true)
    -- a raw array body (smtp:unsubscribe_smtp_recipients takes args.body)
    answer = c.smtp:unsubscribe_smtp_recipients { body = {} }
    assert.equal("[]", answer.body)
  end)

  it("a table already marked keeps its mark", function()
    local args = template { components = sendpulse.array({}) }
    assert.matches('"components":[]', c.whatsapp:send_template_by_phone(args).body, 1, true)
  end)

  describe("checks before any I/O", function()
    local sb, sc
    lazy_setup(function()
      sb = sandbox.start {}
      sc = assert(safe.new { client_id = "sandbox-id", client_secret = "sandbox-secret", base_url = sb.url,
                             retries = 0 })
    end)
    lazy_teardown(function()
      if sc then sc:close() end
      if sb then sb:stop() end
    end)
    before_each(function() sb:reset() end)

    -- service:operation(...) -> the argument error's message; nothing sent.
    local function refused(service, op, ...)
      local args = select(select("#", ...), ...)
      local before = deep_copy(args)
      local v, err = sc[service][op](sc[service], ...)
      assert.is_nil(v)
      assert.is_true(sendpulse.is_error(err), tostring(err))
      assert.equal("argument", err.kind)
      assert.same(before, args)
      assert.equal(0, #sb:stats().requests, "nothing may be sent")
      return err.message
    end

    it("nested required fields, with the field's path", function()
      assert.equal("whatsapp:send_template_by_phone: argument 'template.language.code' is required (string)",
        refused("whatsapp", "send_template_by_phone", template { language = {} }))
      local nameless = template()
      nameless.template.name = nil
      assert.equal("whatsapp:send_template_by_phone: argument 'template.name' is required (string)",
        refused("whatsapp", "send_template_by_phone", nameless))
    end)

    it("nested types, in arrays too", function()
      assert.equal("whatsapp:send_template_by_phone: argument 'template.components' must be an array"
        .. " (a sequence table), got table",
        refused("whatsapp", "send_template_by_phone", template { components = { type = "body" } }))
      assert.equal("whatsapp:send_template_by_phone: argument 'template.components[2].type' must be a string,"
        .. " got integer 5", refused("whatsapp", "send_template_by_phone",
          template { components = { { type = "body" }, { type = 5 } } }))
    end)

    it("enums", function()
      assert.equal('whatsapp:send_contact_message: argument \'message.type\' must be one of "text", "image",'
        .. ' "document", "audio", "interactive", "reaction", got "sticker"',
        refused("whatsapp", "send_contact_message", { contact_id = "c", message = { type = "sticker" } }))
      assert.equal("viber:create_viber_campaign: argument 'message_type' must be one of integer 2, integer 3,"
        .. " got integer 4", refused("viber", "create_viber_campaign", { message_type = 4, sender_id = 1,
          message_live_time = 60, send_date = "now", address_book = 1 }))
    end)

    it("maxItems, maxLength, minimum and maximum", function()
      local ids = {}
      for i = 1, 501 do ids[i] = "id" .. i end
      -- the plain operation (raw): its batching helper would split the list
      assert.equal("smtp:get_smtp_emails_batch_info: argument 'emails' must hold at most 500 items, got 501",
        refused("smtp", "raw", "get_smtp_emails_batch_info", { emails = ids }))
      assert.equal("crm:add_contact_emails: argument 'emails[1].email' must be at most 50 characters long, got 51",
        refused("crm", "add_contact_emails",
          { contactId = 1, emails = { { email = ("a"):rep(39) .. "@example.com" } } }))
      -- characters, not bytes: 50 two-byte letters fit
      local v, err = sc.crm:add_contact_emails { contactId = 1, emails = { { email = ("é"):rep(50) } } }
      assert.is_true(v ~= nil or err.kind ~= "argument", tostring(err))
      sb:reset()
      assert.equal("viber:create_viber_campaign: argument 'message_live_time' must be at least 60, got integer 59",
        refused("viber", "create_viber_campaign", { message_type = 2, sender_id = 1, message_live_time = 59,
          send_date = "now", address_book = 1 }))
      assert.equal("email:get_mailing_lists: argument 'limit' must be at most 100, got integer 101",
        refused("email", "get_mailing_lists", { limit = 101 }))
    end)

    it("formats: email", function()
      assert.equal('email:unsubscribe_emails_from_mailing_list: argument \'emails[2]\' must be an email address,'
        .. ' got "not an address"', refused("email", "unsubscribe_emails_from_mailing_list",
          { id = 1, emails = { "a@example.com", "not an address" } }))
      assert.equal('verifier:get_single_verification_result: argument \'email\' must be an email address,'
        .. ' got "nobody"', refused("verifier", "get_single_verification_result", { email = "nobody" }))
    end)

    it("the batching helpers check every item before the first batch leaves", function()
      local emails = {}
      for i = 1, 250 do emails[i] = ("u%03d@example.com"):format(i) end
      emails[240] = "u240 at example.com"
      assert.equal("email:delete_emails_from_mailing_list: argument 'emails[240]' must be an email address,"
        .. ' got "u240 at example.com"',
        refused("email", "delete_emails_from_mailing_list", { id = 1, emails = emails }))
    end)

    it("unknown fields still pass, at every level", function()
      local v, err = sc.whatsapp:send_template_by_phone(template { future = { anything = true } })
      assert.is_true(v ~= nil or err.kind ~= "argument", tostring(err))
      assert.is_true(#sb:stats().requests > 0)
    end)
  end)
end)
