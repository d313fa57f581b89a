-- webhooks.subscribe: the email service's webhooks made to agree with a
-- declaration, against the sandbox (which keeps registrations per account).
local sandbox = require "support.sandbox_process"
local sendpulse = require "sendpulse"
local safe = require "sendpulse.safe"
local webhooks = require "sendpulse.webhooks"

local URL = "https://example.com/hooks/sendpulse/new-secret-0123456789"
local OLD = "https://example.com/hooks/sendpulse/old-secret-0123456789"
local OTHER = "https://other.example/hook"

local function actions_of(rows)
  local list = {}
  for _, r in ipairs(rows) do list[#list + 1] = r.action .. "@" .. r.url end
  table.sort(list)
  return list
end

describe("webhooks.subscribe", function()
  local sb, client
  lazy_setup(function() sb = sandbox.start { rate = 0 } end)
  lazy_teardown(function()
    if client then client:close() end
    if sb then sb:stop() end
  end)
  before_each(function()
    sb:reset()
    client = sendpulse.new { client_id = "sandbox-id", client_secret = "sandbox-secret", base_url = sb.url }
  end)

  local function rows() return client.email:get_webhooks().data end
  local function mutations()
    local n = 0
    for _, r in ipairs(sb:stats().requests) do
      if r.path:find("^/v2/email%-service/webhook") and r.method ~= "GET" then n = n + 1 end
    end
    return n
  end

  it("creates what is missing, deletes what is stale, and a second run changes nothing", function()
    client.email:create_webhook { url = URL, actions = { "spam", "open" } }
    client.email:create_webhook { url = OTHER, actions = { "delivered" } }
    local changes = webhooks.subscribe(client, { url = URL, actions = { "delivered", "open", "unsubscribe" } })
    assert.same({ "delivered@" .. URL, "unsubscribe@" .. URL }, actions_of(changes.created))
    assert.same({ "spam@" .. URL }, actions_of(changes.deleted))
    assert.same({ "open@" .. URL }, actions_of(changes.kept))
    assert.same({}, changes.updated)
    assert.same({ "delivered@" .. URL, "delivered@" .. OTHER, "open@" .. URL, "unsubscribe@" .. URL },
                actions_of(rows()))
    local before = mutations()
    local again = webhooks.subscribe(client, { url = URL, actions = { "unsubscribe", "open", "delivered", "open" } })
    assert.same({}, again.created)
    assert.same({}, again.deleted)
    assert.same({}, again.updated)
    assert.equal(3, #again.kept)
    assert.equal(before, mutations(), "the second run sent a change")
  end)

  it("a rotated secret: rows of the old URL are moved (same id) or deleted, when owned says they are ours", function()
    local old = client.email:create_webhook { url = OLD, actions = { "delivered", "spam" } }.data
    client.email:create_webhook { url = OTHER, actions = { "delivered" } }
    local changes = webhooks.subscribe(client, {
      url = URL, actions = { "delivered", "open" },
      owned = function(u) return u:find("^https://example%.com/hooks/sendpulse/") ~= nil end,
    })
    assert.equal(1, #changes.updated)
    assert.equal(old[1].id, changes.updated[1].id)
    assert.equal(URL, changes.updated[1].url)
    assert.same({ "open@" .. URL }, actions_of(changes.created))
    assert.same({ "spam@" .. OLD }, actions_of(changes.deleted))
    assert.same({ "delivered@" .. URL, "delivered@" .. OTHER, "open@" .. URL }, actions_of(rows()))
  end)

  it("a second row for one action is deleted; dry_run only plans", function()
    client.email:create_webhook { url = URL, actions = { "open", "open" } }
    local plan = webhooks.subscribe(client, { url = URL, actions = { "open", "delivered" }, dry_run = true })
    assert.equal(1, #plan.deleted)
    assert.same({ "delivered@" .. URL }, actions_of(plan.created))
    assert.equal(2, #rows())
    local done = webhooks.subscribe(client, { url = URL, actions = { "open", "delivered" } })
    assert.equal(plan.deleted[1].id, done.deleted[1].id)
    assert.same({ "delivered@" .. URL, "open@" .. URL }, actions_of(rows()))
  end)

  it("bad declarations are argument errors naming the field, before any call", function()
    local before = #sb:stats().requests
    for _, c in ipairs {
      { { url = "ftp://x", actions = { "open" } }, "field 'url' must be an http:// or https:// URL" },
      { { url = URL, actions = {} }, "field 'actions' must be a non-empty list" },
      { { url = URL, actions = { "open", 3 } }, "field 'actions'[2] must be an action name" },
      { { url = URL, actions = { "open" }, owned = "yes" }, "field 'owned' must be a function" },
      { { url = URL, actions = { "open" }, dryrun = true }, "unknown field 'dryrun'" },
    } do
      local ok, err = pcall(webhooks.subscribe, client, c[1])
      assert.is_false(ok)
      assert.equal("argument", err.kind)
      assert.truthy(err.message:find(c[2], 1, true), err.message)
    end
    local ok, err = pcall(webhooks.subscribe, {}, { url = URL, actions = { "open" } })
    assert.is_false(ok)
    assert.matches("argument 'client' must be a sendpulse client", err.message)
    assert.equal(before, #sb:stats().requests)
    local spec = { url = URL, actions = { "open" } }
    webhooks.subscribe(client, spec)
    assert.same({ url = URL, actions = { "open" } }, spec)
  end)

  it("a failure part-way is reported the client's way, with what was done before it", function()
    local sc = safe.new { client_id = "sandbox-id", client_secret = "sandbox-secret", base_url = sb.url,
                          retries = 0 }
    sc.email:create_webhook { url = URL, actions = { "spam" } }
    sb:fault { kind = "status", status = 500, body = '{"message":"boom","error_code":500}',
               method = "DELETE", path = "^/v2/email%-service/webhook/" }
    local value, err = webhooks.subscribe(sc, { url = URL, actions = { "open" } })
    assert.is_nil(value)
    assert.equal("api", err.kind)
    assert.equal(500, err.status)
    assert.same({ "open@" .. URL }, actions_of(err.changes.created))
    assert.same({}, err.changes.deleted)
    local bad, berr = webhooks.subscribe(sc, { url = 1, actions = { "open" } })
    assert.is_nil(bad)
    assert.equal("argument", berr.kind)
    sc:close()
  end)
end)
