-- The outbox (docs/outbox.md): enqueue's checks and bounds, draining,
-- dead letters, the journal against torn, foreign and full-disk writes,
-- the Redis store, metrics and the CLI. The multi-process drains with
-- kills and an outage are spec/outbox_drain_spec.lua (#long).
local sendpulse = require "sendpulse"
local safe = require "sendpulse.safe"
local core = require "sendpulse.core"
local outbox = require "sendpulse.outbox"
local file_store = require "sendpulse.outbox.stores.file"
local metrics = require "sendpulse.metrics"
local sandbox = require "support.sandbox_process"
local redis_process = require "support.redis_process"
local sys = require "support.sys"

local q = sys.shell_quote

local function tmpdir()
  local d = os.tmpname()
  os.remove(d)
  return d
end

local function message(i)
  return { subject = "box-" .. i, from = { email = "shop@example.com" }, to = { "r" .. i .. "@example.com" },
           text = "hello " .. i }
end

describe("outbox", function()
  local sb, client, dir
  lazy_setup(function() sb = sandbox.start {} end)
  lazy_teardown(function() if sb then sb:stop() end end)
  before_each(function()
    sb:control("DELETE", "/_sandbox/faults")
    dir = tmpdir()
    client = assert(safe.new { client_id = "sandbox-id", client_secret = "sandbox-secret", base_url = sb.url,
                               idempotency = { grace = 0 } })
  end)
  after_each(function()
    client:close()
    os.execute("rm -rf " .. q(dir))
  end)

  local function sends(subject)
    local n = 0
    for _, row in ipairs(sb:control("GET", "/_sandbox/smtp")) do
      if row.subject == subject then n = n + 1 end
    end
    return n
  end

  describe("enqueue", function()
    it("checks the call as a real one would, with no request", function()
      local box = assert(outbox.new { client = client, store = "file", dir = dir })
      local before = #sb:stats().requests
      local id = assert(box:enqueue("smtp", "send", message(1)))
      assert.matches("^ob%-%x+$", id)
      local v, err = box:enqueue("smtp", "send", { subject = "x" })
      assert.is_nil(v)
      assert.equal("argument", err.kind)
      assert.matches("smtp:send", err.message)
      v, err = box:enqueue("smtp", "sned", message(2))
      assert.is_nil(v)
      assert.matches("no operation 'sned'", err.message)
      v, err = box:enqueue("nope", "x", {})
      assert.is_nil(v)
      assert.matches("no service 'nope'", err.message)
      v, err = box:enqueue("email", "each", { operation = "get_mailing_lists" })
      assert.is_nil(v)
      assert.equal("argument", err.kind)
      v, err = box:enqueue("smtp", "send", message(3), { idempotency_key = "bad\tkey" })
      assert.is_nil(v)
      assert.matches("idempotency_key", err.message)
      assert.equal(before, #sb:stats().requests)
      assert.same({ pending = 1, in_flight = 0, dead = 0 },
        (function(s) return { pending = s.pending, in_flight = s.in_flight, dead = s.dead } end)(box:status()))
    end)

    it("refuses past max_pending and max_entry_bytes, adding nothing", function()
      local box = assert(outbox.new { client = client, store = "file", dir = dir, max_pending = 2,
                                      max_entry_bytes = 2048 })
      assert(box:enqueue("smtp", "send", message(1)))
      assert(box:enqueue("smtp", "send", message(2)))
      local v, err = box:enqueue("smtp", "send", message(3))
      assert.is_nil(v)
      assert.equal("full", err.kind)
      local big = message(4)
      big.text = string.rep("x", 4000)
      v, err = box:enqueue("smtp", "send", big)
      assert.is_nil(v)
      assert.matches("max_entry_bytes", err.message)
      assert.equal(2, box:status().pending)
    end)

    it("raises with a raising client, returns nil, err with a safe one", function()
      local raising = sendpulse.new { client_id = "sandbox-id", client_secret = "sandbox-secret", base_url = sb.url }
      local box = outbox.new { client = raising, store = "file", dir = dir }
      local ok, err = pcall(box.enqueue, box, "smtp", "send", { subject = "x" })
      assert.is_false(ok)
      assert.equal("argument", err.kind)
      raising:close()
      local v, e = outbox.new { client = client, store = "file" }
      assert.is_nil(v)
      assert.matches("needs 'dir'", e.message)
      v, e = outbox.new { client = client, store = "file", dir = dir, lease = -1 }
      assert.is_nil(v)
      assert.matches("'lease'", e.message)
      assert.has_error(function() outbox.new { client = "nope", store = "file", dir = dir } end)
    end)
  end)

  describe("draining", function()
    it("sends every entry once, a lost answer settled by the ledger, a refusal dead with its error", function()
      local box = assert(outbox.new { client = client, store = "file", dir = dir })
      for i = 10, 14 do assert(box:enqueue("smtp", "send", message(i))) end
      local bad = assert(box:enqueue("request", "POST", { path = "/addressbooks", json = {} }))
      sb:fault { kind = "drop_after", method = "POST", path = "^/smtp/emails$" }
      local summary = assert(box:run { until_empty = true, deadline = 60 })
      assert.equal(5, summary.sent)
      assert.equal(1, summary.dead)
      for i = 10, 14 do assert.equal(1, sends("box-" .. i)) end
      local st = box:status()
      assert.equal(0, st.pending)
      assert.equal(1, st.dead)
      local dead = box:dead()
      assert.equal(bad, dead[1].id)
      assert.equal("rejected", dead[1].reason)
      assert.matches("bookName", dead[1].error)
      assert.equal("/addressbooks", dead[1].entry.path)
      assert.equal(1, box:retry_dead())
      assert.equal(1, box:status().pending)
      assert.is_true(box:drop(bad))
      assert.is_false(box:drop(bad))
      assert.equal(0, box:status().pending)
    end)

    it("backs off a passing failure and buries it after max_attempts", function()
      local box = assert(outbox.new { client = client, store = "file", dir = dir, max_attempts = 2,
                                      backoff_first = 0.05, backoff_max = 0.1 })
      local id = assert(box:enqueue("request", "GET", { path = "/addressbooks" }))
      sb:fault { kind = "status", status = 503, count = -1 }
      local r1 = assert(box:step())
      assert.equal("again", r1.outcome)
      assert.equal(id, r1.id)
      local idle = assert(box:step())
      assert.equal("idle", idle.outcome)
      assert.is_true(idle.next_due <= 0.1)
      core.sleep(0.12)
      local r2 = assert(box:step())
      assert.equal("dead", r2.outcome)
      assert.equal("attempts", r2.reason)
    end)

    it("brings back a refusal whose code the error table gives a wait, whatever its kind", function()
      local errors = require "sendpulse.errors"
      errors.define { code = 4246, name = "spec_outbox_wait", kind = "api", wait = 1, hint = "come back" }
      finally(function() errors.codes[4246] = nil end)
      local box = assert(outbox.new { client = client, store = "file", dir = dir, backoff_first = 0.05,
                                      backoff_max = 0.1 })
      assert(box:enqueue("request", "GET", { path = "/addressbooks" }))
      -- (retries = 0 would not matter: the wait, 1 s, fits the client's own retries; a count of
      -- 3 outlasts them)
      sb:fault { kind = "status", status = 400, count = 3, path = "^/addressbooks$",
                 body = '{"message":"come back","error_code":4246}' }
      local r = assert(box:step())
      assert.equal("again", r.outcome)
      assert.equal(4246, r.error.code)
    end)

    it("steps without blocking when nothing is due, saying when the next is", function()
      local box = assert(outbox.new { client = client, store = "file", dir = dir })
      local r = assert(box:step())
      assert.equal("idle", r.outcome)
      assert.is_nil(r.next_due)
    end)

    it("counts in the client's metrics and reports the outbox's gauges", function()
      local box = assert(outbox.new { client = client, store = "file", dir = dir })
      assert(box:enqueue("smtp", "send", message(20)))
      assert(box:run { until_empty = true, deadline = 30 })
      box:status()
      local text = client:stats().text
      assert.matches("# TYPE sendpulse_outbox_sent_total counter\nsendpulse_outbox_sent_total 1\n", text, 1, true)
      assert.matches('sendpulse_calls_total{class="2xx",operation="send",service="smtp"} 1', text, 1, true)
      assert.matches("sendpulse_outbox_pending 0", text, 1, true)
      assert.matches("# TYPE sendpulse_rate_wait_seconds histogram", text, 1, true)
    end)
  end)

  describe("the journal", function()
    local function journal() return dir .. "/journal" end

    it("skips a record cut short by a killed writer, and keeps what follows", function()
      local a = file_store.new { dir = dir }
      assert(a:add("one", '{"x":1}', 10))
      -- a writer killed in the middle of a record
      assert(core.append_private(journal(), '\n999 abcdef {"op":"enq","id":"torn"'))
      local b = file_store.new { dir = dir }
      assert(b:add("two", '{"x":2}', 10))
      local st = assert(file_store.new { dir = dir }:status())
      assert.equal(2, st.pending)
      assert.equal(1, st.skipped)
    end)

    it("never trusts a record whose checksum or fields are wrong", function()
      local a = file_store.new { dir = dir }
      assert(a:add("one", '{"x":1}', 10))
      local body = '{"op":"enq","id":"forged","entry":"{}","at":1}'
      assert(core.append_private(journal(), ("\n%d %s %s"):format(#body, "0000000000000000", body)))
      local wrong = '{"op":"enq","id":5,"entry":"{}","at":1}'
      assert(core.append_private(journal(), ("\n%d %s %s"):format(#wrong, core.fingerprint(wrong), wrong)))
      assert(core.append_private(journal(), "\ngarbage line"))
      local st = assert(file_store.new { dir = dir }:status())
      assert.equal(1, st.pending)
      assert.equal(3, st.skipped)
    end)

    it("refuses a journal that is not one, or a symbolic link", function()
      os.execute("mkdir -m 0700 " .. q(dir))
      sys.write_file(journal(), "#!/bin/sh\nrm -rf /\n")
      -- readable by others (the umask's 0644): a private file's rule (csrc/sp_fs.h)
      local st, err = file_store.new { dir = dir }:status()
      assert.is_nil(st)
      assert.matches("can be read or written by others %(mode 644%)", err)
      os.execute("chmod 600 " .. q(journal()))
      st, err = file_store.new { dir = dir }:status()
      assert.is_nil(st)
      assert.matches("not an outbox journal", err)
      os.remove(journal())
      os.execute("ln -s /etc/passwd " .. q(journal()))
      st, err = file_store.new { dir = dir }:status()
      assert.is_nil(st)
      assert.matches("journal", err)
      local box = assert(outbox.new { client = client, store = "file", dir = dir })
      local v, e = box:enqueue("smtp", "send", message(1))
      assert.is_nil(v)
      assert.equal("store", e.kind)
    end)

    it("refuses a journal with a second name (a hard link someone else could change it by)", function()
      local a = file_store.new { dir = dir }
      assert(a:status())
      assert(outbox.new { client = client, store = "file", dir = dir }:enqueue("smtp", "send", message(1)))
      assert(os.execute("ln " .. q(journal()) .. " " .. q(dir .. "/other-name")))
      local st, err = file_store.new { dir = dir }:status()
      assert.is_nil(st)
      assert.matches("has 2 names %(hard links%)", err)
      os.remove(dir .. "/other-name")
      assert.equal(1, assert(file_store.new { dir = dir }:status()).pending)
    end)

    it("is compacted past compact_bytes, the state kept, other processes following", function()
      local a = file_store.new { dir = dir, compact_bytes = 2000 }
      local b = file_store.new { dir = dir }
      for i = 1, 30 do assert(a:add("e" .. i, '{"n":' .. i .. '}', 100)) end
      for _ = 1, 25 do
        local id = assert(a:take("me", 60))
        assert(a:finish(id, "me"))
      end
      local id = assert(a:take("me", 60))
      assert(a:bury(id, "me", 1, "rejected", "no"))
      local size = #sys.read_file(journal())
      assert.is_true(size < 2000, size)
      local st = assert(b:status())
      assert.equal(4, st.pending)
      assert.equal(1, st.dead)
    end)

    it("lets one drainer hold an entry for its lease; after it another takes it", function()
      local a = file_store.new { dir = dir }
      local b = file_store.new { dir = dir }
      -- held: a lease far longer than any pause of a loaded machine
      assert(a:add("held", "{}", 10))
      assert.equal("held", (a:take("a", 600)))
      assert.is_false((b:take("b", 30)))
      assert.is_nil(b:finish("held", "b"))
      -- lapsed: a short lease, then a wait longer than it
      assert(a:add("only", "{}", 10))
      assert.equal("only", (a:take("a", 0.3)))
      core.sleep(0.35)
      assert.equal("only", (b:take("b", 30)))
      local ok, err = a:finish("only", "a")
      assert.is_nil(ok)
      assert.matches("lost the lease", err)
      assert(b:finish("only", "b"))
    end)

    it("refuses on a full disk and stays readable (needs root to mount a small tmpfs)", function()
      os.execute("mkdir -p " .. q(dir))
      local mounted = sys.run("mount -t tmpfs -o size=64k,mode=0700 tmpfs " .. q(dir))
      if not mounted then
        pending("cannot mount a tmpfs here (not root)")
        return
      end
      local ok, err = pcall(function()
        local box = assert(outbox.new { client = client, store = "file", dir = dir .. "/box" })
        local ids, failure = {}, nil
        for i = 1, 200 do
          local m = message(100 + i)
          m.text = string.rep("z", 1500)
          local id, e = box:enqueue("smtp", "send", m)
          if not id then failure = e break end
          ids[#ids + 1] = id
        end
        assert.is_truthy(failure, "the disk never filled")
        assert.equal("store", failure.kind)
        assert.matches("No space left on device", failure.message)
        local st = assert(file_store.new { dir = dir .. "/box" }:status())
        assert.equal(#ids, st.pending)
      end)
      sys.run("umount " .. q(dir))
      assert(ok, err)
    end)
  end)

  describe("in Redis", function()
    local redis
    lazy_setup(function() redis = redis_process.start {} end)
    lazy_teardown(function() if redis then redis:remove() end end)

    it("enqueues, drains, buries, revives and drops like the file store", function()
      local box = assert(outbox.new { client = client, store = "redis", redis = { port = redis.port },
                                      name = "spec", max_pending = 3 })
      for i = 30, 32 do assert(box:enqueue("smtp", "send", message(i))) end
      local v, err = box:enqueue("smtp", "send", message(33))
      assert.is_nil(v)
      assert.equal("full", err.kind)
      sb:fault { kind = "drop_after", method = "POST", path = "^/smtp/emails$" }
      local summary = assert(box:run { until_empty = true, deadline = 60 })
      assert.equal(3, summary.sent)
      for i = 30, 32 do assert.equal(1, sends("box-" .. i)) end
      local bad = assert(box:enqueue("request", "POST", { path = "/addressbooks", json = {} }))
      assert(box:run { until_empty = true, deadline = 30 })
      local st = box:status()
      assert.equal(0, st.pending)
      assert.equal(1, st.dead)
      assert.equal("rejected", box:dead()[1].reason)
      assert.equal(1, box:retry_dead())
      assert.equal(1, box:status().pending)
      assert.is_true(box:drop(bad))
      assert.equal(0, box:status().pending)
    end)

    it("gives an entry whose drainer died to another after the lease (XAUTOCLAIM)", function()
      local conn = require("sendpulse.redis").connection {
        host = "127.0.0.1", port = redis.port, db = 0, timeout = 1 }
      local store = require("sendpulse.outbox.stores.redis").new { connection = conn, key = "spec:lease" }
      assert(store:add("e0", "{}", 10))
      assert.equal("e0", (store:take("holder", 600)))
      assert.is_false((store:take("other", 600)))   -- held: not idle for 600 s
      assert(store:finish("e0", "holder"))
      -- (the lease is the taker's: drainers of one outbox share it)
      assert(store:add("e1", "{}", 10))
      assert.equal("e1", (store:take("dead-drainer", 600)))
      core.sleep(0.35)
      assert.equal("e1", (store:take("other", 0.3)))  -- idle past this lease: claimed
      local ok, err = store:finish("e1", "dead-drainer")
      assert.is_nil(ok)
      assert.matches("lost the lease", err)
      assert(store:finish("e1", "other"))
      assert.equal(0, store:status().in_flight)
    end)

    it("refuses what Redis should not hold, as the store's failure", function()
      redis:cli("SET", "spec:wrong", "a string, not a stream")
      local conn = require("sendpulse.redis").connection {
        host = "127.0.0.1", port = redis.port, db = 0, timeout = 1 }
      local store = require("sendpulse.outbox.stores.redis").new { connection = conn, key = "spec:wrong" }
      local ok, err = store:add("e1", "{}", 10)
      assert.is_nil(ok)
      assert.matches("WRONGTYPE", err)
      local id, terr = store:take("me", 1)
      assert.is_nil(id)
      assert.is_string(terr)
    end)
  end)

  describe("metrics", function()
    it("writes Prometheus' text format: HELP and TYPE once, sorted series, buckets to +Inf", function()
      local m = metrics.new()
      m:inc("sendpulse_calls_total", { service = "smtp", operation = "send", class = "2xx" })
      m:inc("sendpulse_calls_total", { service = "smtp", operation = "send", class = "2xx" }, 2)
      m:inc("sendpulse_errors_total", { kind = "api", code = 213 })
      m:observe("sendpulse_rate_wait_seconds", nil, 0.03)
      m:set("sendpulse_outbox_pending", nil, 7)
      local text = m:text()
      assert.matches('sendpulse_calls_total{class="2xx",operation="send",service="smtp"} 3\n', text, 1, true)
      assert.matches('sendpulse_rate_wait_seconds_bucket{le="0.025"} 0\n', text, 1, true)
      assert.matches('sendpulse_rate_wait_seconds_bucket{le="0.05"} 1\n', text, 1, true)
      assert.matches('sendpulse_rate_wait_seconds_bucket{le="+Inf"} 1\n', text, 1, true)
      assert.matches("sendpulse_rate_wait_seconds_count 1\n", text, 1, true)
      assert.matches("sendpulse_outbox_pending 7\n", text, 1, true)
      local _, helps = text:gsub("# HELP sendpulse_calls_total", "")
      assert.equal(1, helps)
      assert.has_error(function() m:inc("sendpulse_typo_total") end)
    end)

    it("keeps label values from breaking the format, and bounds the series", function()
      local m = metrics.new()
      m:inc("sendpulse_errors_total", { kind = 'a"b\n{c}', code = "" })
      assert.matches('kind="a_b__c_"', m:text(), 1, true)
      local max = metrics.MAX_SERIES
      metrics.MAX_SERIES = 5
      for i = 1, 10 do m:inc("sendpulse_errors_total", { kind = "k" .. i, code = "" }) end
      metrics.MAX_SERIES = max
      assert.is_true(m:get("sendpulse_metrics_dropped_total") > 0)
    end)

    it("can be turned off, and a client's stats say so", function()
      local c = assert(safe.new { client_id = "a", client_secret = "b", metrics = false })
      assert.is_nil(c:stats())
      local v, err = safe.new { client_id = "a", client_secret = "b", metrics = "yes" }
      assert.is_nil(v)
      assert.matches("metrics", err.message)
    end)
  end)
end)
