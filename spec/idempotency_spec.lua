-- Idempotency keys (docs/outbox.md): the ledger's stores, and calls with a
-- key against the sandbox, whose GET /_sandbox/smtp counts every send.
local sendpulse = require "sendpulse"
local safe = require "sendpulse.safe"
local core = require "sendpulse.core"
local record = require "sendpulse.idempotency.record"
local sandbox = require "support.sandbox_process"
local redis_process = require "support.redis_process"
local sys = require "support.sys"

local function tmpdir()
  local d = os.tmpname()
  os.remove(d)
  return d
end

-- One conformance suite for every store: compare-and-swap, expiry, delete.
local function store_contract(name, make)
  describe("idempotency store " .. name, function()
    local store
    before_each(function() store = make() end)

    it("creates a record only when there is none, and says what is there when it loses", function()
      assert.is_false(store:get("k1"))
      assert.is_true(store:swap("k1", false, '{"a":1}', 60))
      local ok, cur = store:swap("k1", false, '{"a":2}', 60)
      assert.is_false(ok)
      assert.equal('{"a":1}', cur)
      assert.equal('{"a":1}', store:get("k1"))
    end)

    it("replaces only the text it was given, and deletes with false", function()
      assert.is_true(store:swap("k2", false, '{"a":1}', 60))
      local ok, cur = store:swap("k2", '{"a":0}', '{"a":3}', 60)
      assert.is_false(ok)
      assert.equal('{"a":1}', cur)
      assert.is_true(store:swap("k2", '{"a":1}', '{"a":2}', 60))
      assert.is_true(store:swap("k2", '{"a":2}', false, 60))
      assert.is_false(store:get("k2"))
      local lost, none = store:swap("k2", '{"a":2}', false, 60)
      assert.is_false(lost)
      assert.is_false(none)
    end)

    it("forgets a record after its ttl", function()
      assert.is_true(store:swap("k3", false, '{"a":1}', 1))
      -- ttl 1 s; the file store counts whole seconds up: 2.2 s leaves room.
      local deadline = core.monotonic() + 3
      while store:get("k3") and core.monotonic() < deadline do core.sleep(0.1) end
      assert.is_false(store:get("k3"))
    end)
  end)
end

store_contract("memory", function() return require("sendpulse.idempotency.stores.memory").new() end)
store_contract("file", function() return require("sendpulse.idempotency.stores.file").new { dir = tmpdir() } end)

describe("idempotency store redis", function()
  local redis
  lazy_setup(function() redis = redis_process.start {} end)
  lazy_teardown(function() if redis then redis:remove() end end)
  store_contract("redis (on redis-server)", function()
    local conn = require("sendpulse.redis").connection {
      host = "127.0.0.1", port = redis.port, db = 0, timeout = 1 }
    return require("sendpulse.idempotency.stores.redis").new {
      connection = conn, prefix = "t" .. core.fingerprint(tostring({})) .. ":" }
  end)
  store_contract("redis (host and port: the library's own connection)", function()
    return require("sendpulse.idempotency.stores.redis").new {
      port = redis.port, prefix = "h" .. core.fingerprint(tostring({})) .. ":" }
  end)

  it("is made with one options table (sendpulse.stores), and says so to new(conn, prefix)", function()
    local stores_redis = require "sendpulse.idempotency.stores.redis"
    local conn = require("sendpulse.redis").connection {
      host = "127.0.0.1", port = redis.port, db = 0, timeout = 1 }
    assert.has_error(function() stores_redis.new(conn, "p:") end,
      "idempotency.stores.redis.new: argument must be an options table: new { connection = conn, prefix = ... }")
    assert.has_error(function() stores_redis.new { connection = conn, prefix = 7 } end,
      "idempotency.stores.redis.new: 'prefix' must be a string, got number")
    assert.has_error(function() stores_redis.new { connection = { call = function() end } } end,
      "idempotency.stores.redis.new: 'connection' must have a script(self, source, nkeys, ...) method")
  end)

  it("refuses a key that holds another type, as the store's failure", function()
    local conn = require("sendpulse.redis").connection {
      host = "127.0.0.1", port = redis.port, db = 0, timeout = 1 }
    local store = require("sendpulse.idempotency.stores.redis").new { connection = conn, prefix = "wrong:" }
    redis:cli("LPUSH", "wrong:k", "x")
    local ok, err = store:get("k")
    assert.is_nil(ok)
    assert.matches("WRONGTYPE", err)
    ok, err = store:swap("k", false, "{}", 60)
    assert.is_nil(ok)
    assert.matches("WRONGTYPE", err)
  end)
end)

describe("idempotency file store", function()
  it("refuses a bucket someone else wrote, never emptying it", function()
    local dir = tmpdir()
    local store = require("sendpulse.idempotency.stores.file").new { dir = dir }
    assert.is_true(store:swap("k", false, '{"a":1}', 60))
    local bucket = dir .. "/" .. core.fingerprint("k"):sub(1, 2) .. ".records"
    sys.write_file(bucket, "not ours\n")
    local ok, err = store:get("k")
    assert.is_nil(ok)
    assert.matches("is not an idempotency bucket", err)
    ok, err = store:swap("k", false, '{"a":1}', 60)
    assert.is_nil(ok)
    assert.matches("is not an idempotency bucket", err)
    assert.equal("not ours\n", sys.read_file(bucket))
    -- a symbolic link in its place is refused too
    os.remove(bucket)
    os.execute("ln -s /etc/passwd '" .. bucket .. "'")
    ok, err = store:get("k")
    assert.is_nil(ok)
    assert.is_string(err)
    os.execute("rm -rf '" .. dir .. "'")
  end)

  it("keeps its buckets as private files: others' bits, a second name or a FIFO are refused", function()
    -- csrc/sp_fs.h's rules, checked on the opened descriptor: a record
    -- store that others can read, or reach by another name, is not ours
    local dir = tmpdir()
    local store = require("sendpulse.idempotency.stores.file").new { dir = dir }
    assert.is_true(store:swap("k", false, '{"a":1}', 60))
    local bucket = dir .. "/" .. core.fingerprint("k"):sub(1, 2) .. ".records"
    assert(os.execute("chmod 644 '" .. bucket .. "'"))
    local ok, err = store:get("k")
    assert.is_nil(ok)
    assert.matches("can be read or written by others %(mode 644%)", err)
    ok, err = store:swap("k", '{"a":1}', '{"a":2}', 60)
    assert.is_nil(ok)
    assert.matches("mode 644", err)
    assert(os.execute("chmod 600 '" .. bucket .. "'"))
    assert.equal('{"a":1}', (store:get("k")))
    assert(os.execute("ln '" .. bucket .. "' '" .. dir .. "/second-name'"))
    ok, err = store:get("k")
    assert.is_nil(ok)
    assert.matches("has 2 names %(hard links%)", err)
    os.remove(dir .. "/second-name")
    os.remove(bucket)
    assert(os.execute("mkfifo -m 600 '" .. bucket .. "'"))
    ok, err = store:get("k")   -- at once: the open does not wait for a writer
    assert.is_nil(ok)
    assert.matches("is a FIFO, not a regular file", err)
    os.execute("rm -rf '" .. dir .. "'")
  end)

  it("refuses new keys when full rather than forget one", function()
    local store = require("sendpulse.idempotency.stores.memory").new { max_entries = 2 }
    assert.is_true(store:swap("a", false, "{}", 60))
    assert.is_true(store:swap("b", false, "{}", 60))
    local ok, err = store:swap("c", false, "{}", 60)
    assert.is_nil(ok)
    assert.matches("full", err)
    assert.equal("{}", store:get("a"))
  end)
end)

describe("idempotency records", function()
  it("are checked field by field: a record a store cannot vouch for is refused", function()
    local good = record.encode { state = "done", hash = string.rep("a", 32), outcome = { status = 200, value = 1 } }
    assert.truthy(record.decode(good))
    assert.is_nil(record.decode("[]"))
    assert.is_nil(record.decode('{"v":1,"state":"gone","hash":"' .. string.rep("a", 32) .. '"}'))
    assert.is_nil(record.decode('{"v":1,"state":"claimed","hash":"' .. string.rep("a", 32) .. '"}'))
    assert.is_nil(record.decode('{"v":1,"state":"done","hash":"zz"}'))
    assert.is_nil(record.decode('{"v":1,"state":"done","hash":"' .. string.rep("a", 32)
      .. '","outcome":{"error":{"kind":1}}}'))
  end)
end)

describe("calls with an idempotency key", function()
  local sb
  lazy_setup(function() sb = sandbox.start {} end)
  lazy_teardown(function() if sb then sb:stop() end end)
  -- (Not a reset: the clients of this process share the account's token.)
  before_each(function() sb:control("DELETE", "/_sandbox/faults") end)

  -- Sends of messages with this subject (each test uses its own).
  local function sends(subject)
    local n = 0
    for _, row in ipairs(sb:control("GET", "/_sandbox/smtp")) do
      if row.subject == subject then n = n + 1 end
    end
    return n
  end

  local function client(idem, extra)
    local opts = { client_id = "sandbox-id", client_secret = "sandbox-secret", base_url = sb.url,
                   idempotency = idem }
    for k, v in pairs(extra or {}) do opts[k] = v end
    return safe.new(opts)
  end

  local function message(subject, to)
    return { subject = subject, from = { email = "shop@example.com" }, to = { to or "ann@example.com" },
             text = "hello" }
  end

  it("sends once for the same key twice, the second a replay with no I/O", function()
    local c = client()
    local v1, v1_err = c.smtp:send(message("Twice"), { idempotency_key = "order-1" })
    assert.truthy(v1, tostring(v1_err))
    local before = #sb:stats().requests
    local v2, _, m2 = c.smtp:send(message("Twice"), { idempotency_key = "order-1" })
    assert.equal(v1.id, v2.id)
    assert.is_true(m2.replayed)
    assert.equal(before, #sb:stats().requests)
    assert.equal(1, sends("Twice"))
    c:close()
  end)

  it("refuses the same key with another body: idempotency_mismatch, naming the key", function()
    local c = client()
    assert.truthy(c.smtp:send(message("One"), { idempotency_key = "order-2" }))
    local v, err = c.smtp:send(message("Another"), { idempotency_key = "order-2" })
    assert.is_nil(v)
    assert.equal("argument", err.kind)
    assert.equal("idempotency_mismatch", err.reason)
    assert.matches("order%-2", err.message)
    assert.not_matches("sandbox%-secret", tostring(err))
    assert.equal(1, sends("One"))
    assert.equal(0, sends("Another"))
    -- a raising client raises it
    local r = sendpulse.new { client_id = "sandbox-id", client_secret = "sandbox-secret", base_url = sb.url }
    r.smtp:send(message("One"), { idempotency_key = "order-2r" })
    local ok, raised = pcall(r.smtp.send, r.smtp, message("Two"), { idempotency_key = "order-2r" })
    assert.is_false(ok)
    assert.equal("idempotency_mismatch", raised.reason)
    r:close(); c:close()
  end)

  it("settles an uncertain send as done by finding it, without sending again", function()
    local c = client()
    sb:fault { kind = "drop_after", method = "POST", path = "^/smtp/emails$" }
    local v, err = c.smtp:send(message("Dropped answer"), { idempotency_key = "reset-1" })
    assert.is_nil(v)
    assert.is_true(err.maybe_sent)
    assert.equal("uncertain", err.idempotency)
    assert.equal(1, sends("Dropped answer"))
    local v2, v2_err, m2 = c.smtp:send(message("Dropped answer"), { idempotency_key = "reset-1" })
    assert.truthy(v2, tostring(v2_err))
    assert.is_true(m2.reconciled)
    assert.is_true(m2.replayed)
    assert.is_string(v2.id)
    assert.equal(1, sends("Dropped answer"))
    c:close()
  end)

  it("sends again, once, one that is not found after the grace period", function()
    local c = client { grace = 0 }
    sb:fault { kind = "drop", method = "POST", path = "^/smtp/emails$" }   -- never reaches the API
    local v, err = c.smtp:send(message("Lost"), { idempotency_key = "reset-2" })
    assert.is_nil(v)
    assert.equal("uncertain", err.idempotency)
    assert.equal(0, sends("Lost"))
    local v2, v2_err, m2 = c.smtp:send(message("Lost"), { idempotency_key = "reset-2" })
    assert.truthy(v2, tostring(v2_err))
    assert.is_true(m2.resent)
    local v3, _, m3 = c.smtp:send(message("Lost"), { idempotency_key = "reset-2" })
    assert.equal(v2.id, v3.id)
    assert.is_true(m3.replayed)
    assert.equal(1, sends("Lost"))
    c:close()
  end)

  it("within the grace period, keeps an unfound send uncertain (retryable) instead of guessing", function()
    local c = client { grace = 3600 }
    sb:fault { kind = "drop", method = "POST", path = "^/smtp/emails$" }
    c.smtp:send(message("Wait"), { idempotency_key = "reset-3" })
    local v, err = c.smtp:send(message("Wait"), { idempotency_key = "reset-3" })
    assert.is_nil(v)
    assert.equal("uncertain", err.kind)
    assert.is_true(err.retryable)
    assert.matches("grace period", err.message)
    assert.equal(0, sends("Wait"))
    c:close()
  end)

  it("holds with on_uncertain = \"hold\": an uncertain error naming the first attempt's time", function()
    local c = client { on_uncertain = "hold" }
    sb:fault { kind = "drop_after", method = "POST", path = "^/smtp/emails$" }
    local t0 = os.time()
    c.smtp:send(message("Held"), { idempotency_key = "reset-4" })
    local v, err = c.smtp:send(message("Held"), { idempotency_key = "reset-4" })
    assert.is_nil(v)
    assert.equal("uncertain", err.kind)
    assert.is_false(err.retryable)
    assert.is_true(math.abs(err.first_at - t0) < 5)
    assert.truthy(err.message:find(os.date("!%Y-%m-%d", t0), 1, true))
    assert.equal(1, sends("Held"))
    c:close()
  end)

  it("resends without a check where no reconciler applies, and says so", function()
    local events = {}
    local c = client({ grace = 0 }, { hook = function(e)
      if e.event == "idempotency" then events[#events + 1] = e end
    end })
    sb:fault { kind = "drop", method = "POST", path = "^/addressbooks$" }
    local v, err = c:request("POST", "/addressbooks", { json = { bookName = "Once" }, idempotency_key = "book-1" })
    assert.is_nil(v)
    assert.equal("uncertain", err.idempotency)
    local v2 = assert(c:request("POST", "/addressbooks", { json = { bookName = "Once" }, idempotency_key = "book-1" }))
    assert.is_number(v2.id)
    assert.equal("resent_unverified", events[#events].outcome)
    c:close()
  end)

  it("takes a user reconciler for other operations", function()
    local seen
    local c = client { reconcile = function(_, request, rec)
      seen = { request.method, request.path, rec.state }
      return "found", { id = 77 }
    end }
    sb:fault { kind = "drop_after", method = "POST", path = "^/addressbooks$" }
    c:request("POST", "/addressbooks", { json = { bookName = "Mine" }, idempotency_key = "book-2" })
    local v, _, m = c:request("POST", "/addressbooks", { json = { bookName = "Mine" }, idempotency_key = "book-2" })
    assert.same({ id = 77 }, v)
    assert.is_true(m.reconciled)
    assert.same({ "POST", "/addressbooks", "uncertain" }, seen)
    c:close()
  end)

  it("replays a recorded API refusal as it was the first time", function()
    local c = client()
    local body = { email = { from = { email = "shop@example.com" }, to = { { email = "a@example.com" } }, text = "x" } }
    local v, err = c:request("POST", "/smtp/emails", { json = body, idempotency_key = "bad-1" })
    assert.is_nil(v)
    assert.equal("api", err.kind)
    assert.equal(12, err.code)
    local before = #sb:stats().requests
    local v2, err2 = c:request("POST", "/smtp/emails", { json = body, idempotency_key = "bad-1" })
    assert.is_nil(v2)
    assert.equal("api", err2.kind)
    assert.equal(12, err2.code)
    assert.equal(422, err2.status)
    assert.is_true(err2.replayed)
    assert.equal(before, #sb:stats().requests)
    c:close()
  end)

  it("releases the key when nothing was sent (a refused connection), so the next call sends", function()
    local c = client(nil, { base_url = "http://127.0.0.1:" .. sys.free_port(), retries = 0 })
    local v, err = c.smtp:send(message("Refused"), { idempotency_key = "down-1" })
    assert.is_nil(v)
    assert.is_false(err.maybe_sent)
    local rec = c:ledger().store:get(c:ledger():store_key("down-1"))
    assert.is_false(rec)
    c:close()
  end)

  it("waits for a live holder within the deadline, then fails with in_progress", function()
    local c = client()
    local ledger = c:ledger()
    local key = ledger:store_key("busy-1")
    local held = record.encode { state = "sending", hash = string.rep("0", 32), owner = "other",
                                 lease_until = core.wallclock() + 60 }
    -- the same request's hash: take it from a first call's claim
    local first = assert(c.smtp:send(message("Busy"), { idempotency_key = "busy-0" }))
    assert.truthy(first)
    local done = record.decode(ledger.store:get(ledger:store_key("busy-0")))
    held = held:gsub(string.rep("0", 32), done.hash)
    assert.is_true(ledger.store:swap(key, false, held, 60))
    local t0 = core.monotonic()
    local v, err = c.smtp:send(message("Busy"), { idempotency_key = "busy-1", timeout = 0.5 })
    assert.is_nil(v)
    assert.equal("in_progress", err.kind)
    assert.is_true(err.retryable)
    -- it waited (0.5 s, less one pause of at most 0.25 s), and not much more
    local waited = core.monotonic() - t0
    assert.is_true(waited >= 0.2 and waited < 5, waited)
    c:close()
  end)

  it("frees the key of a holder that died while claimed when its lease ends; one that died sending is uncertain",
  function()
    local c = client { on_uncertain = "hold" }
    local ledger = c:ledger()
    assert(c.smtp:send(message("Lease"), { idempotency_key = "lease-0" }))
    local hash = record.decode(ledger.store:get(ledger:store_key("lease-0"))).hash
    local past = core.wallclock() - 1
    assert.is_true(ledger.store:swap(ledger:store_key("lease-1"), false,
      record.encode { state = "claimed", hash = hash, owner = "dead", lease_until = past }, 60))
    local v, v_err, m = c.smtp:send(message("Lease"), { idempotency_key = "lease-1" })
    assert.truthy(v, tostring(v_err))
    assert.is_nil(m.replayed)
    assert.is_true(ledger.store:swap(ledger:store_key("lease-2"), false,
      record.encode { state = "sending", hash = hash, owner = "dead", lease_until = past, first_at = past }, 60))
    local v2, err = c.smtp:send(message("Lease"), { idempotency_key = "lease-2" })
    assert.is_nil(v2)
    assert.equal("uncertain", err.kind)
    assert.equal(2, sends("Lease"))
    c:close()
  end)

  it("refuses a bad key, naming the option and the rule", function()
    local c = client()
    for _, bad in ipairs { "", string.rep("k", 256), "tab\there", 42 } do
      local v, err = c.smtp:send(message("Bad"), { idempotency_key = bad })
      assert.is_nil(v)
      assert.equal("argument", err.kind)
      assert.matches("idempotency_key", err.message)
    end
    local v, err = c:request("POST", "/smtp/emails", { json = {}, idempotency_key = "é" })
    assert.is_nil(v)
    assert.matches("opts.idempotency_key must be a string of 1 to 255 printable ASCII", err.message)
    c:close()
  end)

  it("refuses a bad idempotency option at new, naming the field", function()
    local c, err = safe.new { client_id = "a", client_secret = "b", idempotency = { on_uncertain = "guess" } }
    assert.is_nil(c)
    assert.matches("idempotency.on_uncertain", err.message)
    c, err = safe.new { client_id = "a", client_secret = "b", idempotency = { store = "shared_dict" } }
    assert.is_nil(c)
    assert.matches("shared_dict", err.message)
    c, err = safe.new { client_id = "a", client_secret = "b", idempotency = { ttl = 0 } }
    assert.is_nil(c)
    assert.matches("idempotency.ttl", err.message)
  end)

  it("lets one of two processes with the same key send; the other waits for its replay or gets in_progress",
  function()
    local dir = tmpdir()
    -- The first send is held 1.5 s in the sandbox, so the second process
    -- arrives while the first holds the key (seen in the ledger, polled).
    sb:fault { kind = "delay", delay = 1.5, method = "POST", path = "^/smtp/emails$" }
    local env = "LUA_PATH='lua/?.lua;lua/?/init.lua;;' LUA_CPATH='" .. (os.getenv("LUA_CPATH") or "") .. "' "
    local lua = os.getenv("SP_LUA") or (arg and arg[-1]) or "lua5.4"
    local function spawn(timeout)
      return io.popen(env .. lua .. " spec/support/idempotency_child.lua " .. sb.url .. " " .. dir
        .. " same-key " .. timeout, "r")
    end
    local a = spawn(20)
    local store = require("sendpulse.idempotency.stores.file").new { dir = dir }
    local ledger = require("sendpulse.idempotency").new({ store = store },
      require("sendpulse.account").account_key { base_url = sb.url, client_id = "sandbox-id" })
    local key = ledger:store_key("same-key")
    local deadline = core.monotonic() + 15
    while true do
      local text = store:get(key)
      if text and record.decode(text).state == "sending" then break end
      assert(core.monotonic() < deadline, "the first process never held the key")
      core.sleep(0.02)
    end
    local b = spawn(20)
    local out_a, out_b = a:read("*l"), b:read("*l")
    a:close(); b:close()
    assert.matches("^sent ", out_a)
    assert.truthy(out_b:match("^replayed ") or out_b:match("^error in_progress"), out_b)
    if out_b:match("^replayed") then assert.equal(out_a:match(" (.*)"), out_b:match(" (.*)")) end
    assert.equal(1, sends("Once"))
    os.execute("rm -rf '" .. dir .. "'")
  end)
end)
