-- The generated operation data (lua/sendpulse/api/) and its generator.

local index = require "sendpulse.api"
local extra = require "sendpulse.api.extra"

local SERVICES = {
  email = { "sendpulse-bulk-email-openapi.yml", "", 60 },
  smtp = { "sendpulse-smtp-openapi.yml", "", 17 },
  sms = { "sendpulse-sms-openapi.yml", "", 18 },
  push = { "sendpulse-web-push-openapi.yml", "", 11 },
  viber = { "sendpulse-viber-openapi.yml", "", 9 },
  automation360 = { "sendpulse-a360-openapi.yml", "", 14 },
  verifier = { "sendpulse-verifier-openapi.yml", "", 9 },
  chatbots = { "sendpulse-chatbots-openapi.yml", "/chatbots", 3 },
  telegram = { "sendpulse-telegram-openapi.yml", "/telegram", 39 },
  whatsapp = { "sendpulse-whatsapp-openapi.yml", "/whatsapp", 46 },
  messenger = { "sendpulse-facebook-openapi.yml", "/messenger", 38 },
  instagram = { "sendpulse-instagram-openapi.yml", "/instagram", 36 },
  viber_bots = { "sendpulse-viber-chatbot-openapi.yml", "/viber/chatbots", 36 },
  live_chat = { "sendpulse-live-chat-openapi.yml", "/live-chat", 36 },
  tiktok = { "sendpulse-tiktok-openapi.yml", "/tiktok", 36 },
  crm = { "sendpulse-crm-openapi.yml", "/crm/v1", 191 },
  edu = { "sendpulse-edu-openapi.yml", "/edu/public/v1", 12 },
  files = { "sendpulse-file-manager-openapi.yml", "/fm/public/v1", 9 },
  popups = { "sendpulse-popups-openapi.yml", "/v2/pop-ups", 15 },
}

local METHODS = { GET = true, POST = true, PUT = true, PATCH = true, DELETE = true }
local TYPES = { string = true, integer = true, number = true, boolean = true, array = true, object = true }

local function count(t)
  local n = 0
  for _ in pairs(t) do n = n + 1 end
  return n
end

local function each_operation(fn)
  for service in pairs(index.services) do
    local data = require("sendpulse.api." .. service)
    for name, op in pairs(data.operations) do fn(service, name, op, data) end
  end
end

describe("generated API data", function()
  it("has every service, with its file, base path and count", function()
    assert.equal(count(SERVICES), count(index.services))
    for service, want in pairs(SERVICES) do
      local entry = index.services[service]
      assert.is_table(entry, service)
      local data = require(entry.module)
      assert.equal(want[1], entry.source, service)
      assert.equal(want[1], data.source, service)
      assert.equal(want[2], entry.base, service)
      assert.equal(want[2], data.base, service)
      assert.equal(want[3], count(data.operations), service)
      assert.equal(want[3], entry.count, service)
      assert.equal(service, data.service)
    end
  end)

  it("has the 635 operations of the OpenAPI files", function()
    local n = 0
    each_operation(function() n = n + 1 end)
    assert.equal(635, n)
    assert.equal(635, index.operations)
  end)

  it("names each operation by its key, once per service, in snake_case", function()
    each_operation(function(service, name, op)
      assert.equal(name, op.name, service .. ":" .. name)
      assert.matches("^[a-z][a-z0-9_]*$", name)
      assert.is_nil(extra[service] and extra[service].operations[name], "extra.lua repeats " .. name)
    end)
  end)

  it("derives names from operationIds, with the documented exceptions", function()
    local renamed = {
      ["crm POST /contacts"] = "create_contact_deprecated",
      ["crm GET /contacts/{contactId}/attributes"] = "get_contact_attribute_values",
      ["crm POST /products/{productId}/sections"] = "create_product_sections",
      ["messenger POST /contacts/deleteNote"] = "delete_contact_note",
    }
    local seen = 0
    each_operation(function(service, name, op)
      local key = service .. " " .. op.method .. " " .. op.path
      if renamed[key] then
        assert.equal(renamed[key], name)
        seen = seen + 1
      else
        local snake = op.operationId:gsub("(%u+)(%u%l)", "%1_%2"):gsub("([%l%d])(%u)", "%1_%2"):lower()
        assert.equal(snake, name, key)
      end
    end)
    assert.equal(4, seen)
    assert.equal("create_mailing_list", require("sendpulse.api.email").operations.create_mailing_list.name)
  end)

  it("keeps updateContactPhone in both bulk-email and SMS", function()
    local a = require("sendpulse.api.email").operations.update_contact_phone
    local b = require("sendpulse.api.sms").operations.update_contact_phone
    assert.same({ "PUT", "/addressbooks/{id}/phone" }, { a.method, a.path })
    assert.same({ "PUT", "/addressbooks/{id}/phone" }, { b.method, b.path })
  end)

  it("describes each operation completely and consistently", function()
    each_operation(function(service, name, op)
      local where = service .. ":" .. name
      assert.is_true(METHODS[op.method] ~= nil, where)
      assert.matches("^/", op.path, 1, false)
      -- path parameters: exactly the placeholders, in order
      local placeholders = {}
      for p in op.path:gmatch("{([^}]+)}") do placeholders[#placeholders + 1] = p end
      local declared = {}
      for _, f in ipairs(op.path_params or {}) do
        declared[#declared + 1] = f.name
        assert.is_true(f.required, where)
        assert.is_true(f.type == "string" or f.type == "integer" or f.type == "number", where)
        assert.is_not_nil(op.example[f.name], where .. " example lacks " .. f.name)
      end
      assert.same(placeholders, declared, where)
      for _, f in ipairs(op.query or {}) do
        assert.is_true(f.type == nil or TYPES[f.type] ~= nil, where)
        if f.required then assert.is_not_nil(op.example[f.name], where .. " example lacks " .. f.name) end
      end
      if op.body then
        assert.is_true(op.body.content == "json" or op.body.content == "multipart"
          or op.body.content == "form", where)
        if op.body.raw then
          assert.is_not_nil(op.example.body, where)
        end
        for _, f in ipairs(op.body.fields or {}) do
          assert.is_true(f.type == nil or TYPES[f.type] ~= nil, where)
          if f.required then assert.is_not_nil(op.example[f.name], where .. " example lacks " .. f.name) end
        end
      end
      if op.paging then
        assert.is_true(op.paging == "limit_offset" or op.paging == "start_count" or op.paging == "size_skip", where)
      end
    end)
  end)

  it("describes nested fields with the keys the checks read, and only those", function()
    local KEYS = { name = true, type = true, required = true, nullable = true, enum = true, min_length = true,
      max_length = true, format = true, minimum = true, maximum = true, min_items = true, max_items = true,
      items = true, fields = true }
    local seen = {}
    local function walk(f, where, named)
      for k in pairs(f) do assert.is_true(KEYS[k] ~= nil, where .. ": key " .. tostring(k)) end
      assert.equal(named, f.name ~= nil, where)
      assert.is_true(f.type == nil or TYPES[f.type] ~= nil, where)
      if f.format then assert.equal("email", f.format, where) end
      if f.items then
        assert.equal("array", f.type, where)
        walk(f.items, where .. "[]", false)
        seen.items = true
      end
      for _, sub in ipairs(f.fields or {}) do
        assert.equal("object", f.type, where)
        walk(sub, where .. "." .. sub.name, true)
        seen.fields = true
      end
      for _, k in ipairs { "min_length", "max_length", "minimum", "maximum", "min_items", "max_items" } do
        if f[k] ~= nil then assert.is_number(f[k], where) seen[k] = true end
      end
    end
    each_operation(function(service, name, op)
      local body = op.body
      for _, f in ipairs(op.query or {}) do walk(f, service .. ":" .. name .. " " .. f.name, true) end
      for _, f in ipairs(body and body.fields or {}) do
        if not f.from_path then walk(f, service .. ":" .. name .. " " .. f.name, true) end
      end
      if body and body.items then walk(body.items, service .. ":" .. name .. " body[]", false) end
    end)
    -- the files use each of them somewhere
    for _, k in ipairs { "items", "fields", "min_length", "max_length", "minimum", "maximum", "max_items" } do
      assert.is_true(seen[k], k)
    end
  end)

  it("gives examples that pass their own operation's checks", function()
    -- (the contract test sends them to prism; this holds them to our own
    -- checks without it)
    local arguments = require "sendpulse.operations.arguments"
    each_operation(function(service, name, op)
      local body = op.body
      local fields = {}
      for _, f in ipairs(op.query or {}) do fields[#fields + 1] = f end
      if body and body.content ~= "multipart" then
        for _, f in ipairs(body.fields or {}) do fields[#fields + 1] = f end
        if body.raw then
          fields[#fields + 1] = { name = "body", type = body.type, items = body.items,
                                  min_items = body.min_items, max_items = body.max_items }
        end
      end
      for _, f in ipairs(fields) do
        local v = op.example[f.name]
        if v ~= nil then
          local _, msg = arguments.checked(f, v)
          assert.is_nil(msg, service .. ":" .. name .. ": " .. tostring(msg))
        end
      end
    end)
  end)

  it("detects the three pagination styles", function()
    local styles = {}
    each_operation(function(_, _, op) if op.paging then styles[op.paging] = (styles[op.paging] or 0) + 1 end end)
    assert.is_true((styles.limit_offset or 0) > 10)
    assert.is_true((styles.start_count or 0) > 0)
    assert.is_true((styles.size_skip or 0) > 0)
    assert.equal("limit_offset", require("sendpulse.api.email").operations.get_mailing_lists.paging)
  end)

  it("holds the hand-written calls the files miss", function()
    local a360 = extra.automation360.operations.send_event
    assert.same({ "POST", "/events/name/{eventName}" }, { a360.method, a360.path })
    local smtp = extra.smtp.operations
    assert.same({ "GET", "/smtp/domains" }, { smtp.list_domains.method, smtp.list_domains.path })
    assert.same({ "POST", "/smtp/domains" }, { smtp.add_domain.method, smtp.add_domain.path })
    assert.same({ "GET", "/smtp/domains/{email}" }, { smtp.verify_domain.method, smtp.verify_domain.path })
    for service, x in pairs(extra) do
      assert.is_table(index.services[service], service)
      for name, op in pairs(x.operations) do assert.equal(name, op.name) end
    end
  end)
end)

describe("lua/sendpulse/api/REFERENCE.md", function()
  it("documents every operation, generated and hand-written, once", function()
    local f = assert(io.open("lua/sendpulse/api/REFERENCE.md"))
    local text = f:read("*a")
    f:close()
    local headings = {}
    for h in text:gmatch("\n### ([%w_]+:[%w_]+)\n") do
      assert.is_nil(headings[h], "twice: " .. h)
      headings[h] = true
    end
    local want = 0
    each_operation(function(service, name)
      want = want + 1
      assert.is_true(headings[service .. ":" .. name], service .. ":" .. name)
    end)
    for service, x in pairs(extra) do
      for name in pairs(x.operations) do
        want = want + 1
        assert.is_true(headings[service .. ":" .. name], service .. ":" .. name)
      end
    end
    assert.equal(want, count(headings))
  end)
end)

describe("lua/sendpulse/api/REFERENCE.md on the helpers and examples", function()
  local text
  setup(function()
    local f = assert(io.open("lua/sendpulse/api/REFERENCE.md"))
    text = f:read("*a")
    f:close()
  end)

  it("documents each, all, patient, raw and smtp:send, and every operation a helper replaces", function()
    local helpers = text:match("\n## Helpers\n(.-)\n## Services\n")
    assert.is_string(helpers)
    local names = { "service:each(", "service:all(", "service:patient(", "service:raw(", "client.smtp:send{" }
    for _, name in ipairs(names) do
      assert.matches(name, helpers, 1, true)
    end
    for _, l in ipairs(require("sendpulse.helpers.batches").LIMITS) do
      assert.matches(("| `%s:%s` | any number of `%s`, sent in batches of %d per call"):format(l[1], l[2], l[3], l[4]),
        helpers, 1, true)
    end
    for _, w in ipairs(require("sendpulse.helpers.encoding").WRAPPED) do
      assert.matches(("| `%s:%s` |"):format(w[1], w[2]), helpers, 1, true)
    end
    assert.matches("| `email:get_mailing_list_by_id` | returns the list object", helpers, 1, true)
  end)

  it("gives a body to the examples of operations whose body has no required field", function()
    local op = require("sendpulse.api.email").operations.add_emails_to_mailing_list
    assert.same({ id = 1, emails = { "user@example.com" } }, op.example)
    assert.matches('client.email:add_emails_to_mailing_list{\n  emails = { "user@example.com" },\n  id = 1,\n}',
      text, 1, true)
    each_operation(function(service, name, o)
      if o.body and o.body.fields and not o.body.raw then
        local shows = false
        for _, f in ipairs(o.body.fields) do if o.example[f.name] ~= nil then shows = true end end
        assert.is_true(shows, service .. ":" .. name .. "'s example has none of its body's fields")
      end
    end)
  end)
end)

describe("spec/tools/gen_api.lua", function()
  local lua = os.getenv("SP_GEN_LUA") or "lua5.4"

  it("--check finds the committed output current", function()
    local p = io.popen(lua .. " spec/tools/gen_api.lua --check 2>&1; echo \"rc=$?\"")
    local out = p:read("*a")
    p:close()
    assert.matches("rc=0", out, 1, true)
    assert.matches("up to date, 635 operations", out, 1, true)
  end)

  it("--check fails, naming the file, when the output was changed", function()
    local tmp = os.tmpname()
    os.remove(tmp)
    os.execute("mkdir -p " .. tmp .. "/spec/contract")
    os.execute("cp -r spec/tools " .. tmp .. "/spec/")
    os.execute("cp -r spec/contract/openapi.lua spec/contract/openapi " .. tmp .. "/spec/contract/")
    os.execute("cp -r lua " .. tmp .. "/")
    -- the helpers it reads load the C core: this checkout's build
    os.execute("ln -s \"$(pwd)/build\" " .. tmp .. "/build")
    local f = assert(io.open(tmp .. "/lua/sendpulse/api/sms.lua", "a"))
    f:write("-- edited by hand\n")
    f:close()
    local p = io.popen(lua .. " " .. tmp .. "/spec/tools/gen_api.lua --check 2>&1; echo \"rc=$?\"")
    local out = p:read("*a")
    p:close()
    os.execute("rm -rf " .. tmp)
    assert.matches("rc=1", out, 1, true)
    assert.matches("lua/sendpulse/api/sms.lua", out, 1, true)
    assert.not_matches("email.lua", out, 1, true)
  end)
end)
