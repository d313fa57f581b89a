-- One account shared by processes and hosts: the file and Redis token
-- stores, the host-wide budget file, the Redis budget and what happens when
-- either fails. Real files, a real redis-server, the sandbox over loopback.
-- (The 10-second multi-process runs are in shared_timing_spec.lua.)
local sendpulse = require "sendpulse"
local core = require "sendpulse.core"
local file_store = require "sendpulse.account.token_store.file"
local redis_store = require "sendpulse.account.token_store.redis"
local redis_connection = require "sendpulse.redis"
local redis_limiter = require "sendpulse.account.limiter.redis"
local sandbox = require "support.sandbox_process"
local redis_process = require "support.redis_process"
local assert_wait = require("support.loaded").assert_wait

local LUA = os.getenv("LUA") or "lua5.4"
local SECRET = "shared-secret"

local function sh(cmd)
  local p = assert(io.popen(cmd))
  local out = p:read("*a")
  p:close()
  return (out:gsub("%s+$", ""))
end

local function tmpdir()
  local d = os.tmpname()
  os.remove(d)
  assert(os.execute("mkdir -m 0700 " .. d))
  return d
end

local function mode(path) return sh("stat -c %a " .. path) end

local function events_of(list, name)
  local out = {}
  for _, ev in ipairs(list) do if ev.event == name then out[#out + 1] = ev end end
  return out
end

describe("shared account", function()
  local sb, root
  local account, serial = nil, 0

  lazy_setup(function()
    sb = sandbox.start {}
    root = tmpdir()
  end)
  lazy_teardown(function()
    if sb then sb:stop() end
    if root then os.execute("rm -rf " .. root) end
  end)

  before_each(function()
    sb:reset()
    serial = serial + 1
    account = "shared-acct-" .. serial
    sb:configure { accounts = { { client_id = account, client_secret = SECRET } } }
  end)

  local function client(extra)
    local opts = { client_id = account, client_secret = SECRET, base_url = sb.url }
    for k, v in pairs(extra) do opts[k] = v end
    return sendpulse.new(opts)
  end

  describe("file token store", function()
    it("keeps a token in a 0600 file of a 0700 folder, with its expiry", function()
      local dir = root .. "/store-" .. serial
      local s = file_store.new { dir = dir }
      assert.is_nil(s:get("sendpulse:token:abc"))
      s:set("sendpulse:token:abc", "tok-1", 60)
      local token, left = s:get("sendpulse:token:abc")
      assert.equal("tok-1", token)
      assert.is_true(left > 58 and left <= 60)
      assert.equal("700", mode(dir))
      assert.equal("600", mode(dir .. "/sendpulse_token_abc.token"))
      s:set("sendpulse:token:abc", "tok-2", 0)       -- already expired
      assert.is_nil(s:get("sendpulse:token:abc"))
      s:set("sendpulse:token:abc", "tok-3", 60)
      s:delete("sendpulse:token:abc")
      s:delete("sendpulse:token:abc")                -- deleting nothing is fine
      assert.is_nil(s:get("sendpulse:token:abc"))
    end)

    it("has a lock that excludes other holders and dies with its holder", function()
      local dir = root .. "/lock-" .. serial
      local a, b = file_store.new { dir = dir }, file_store.new { dir = dir }
      assert.is_true(a:lock("k", 30))
      assert.is_false(b:lock("k", 30))
      assert.is_false(a:lock("k", 30))    -- not re-entrant either
      a:unlock("k")
      a:unlock("k")                       -- idempotent
      assert.is_true(b:lock("k", 30))
      b:unlock("k")
      -- Another process takes the lock and is killed holding it.
      local script = ("package.path = 'lua/?.lua;' .. package.path; "
        .. "local s = require('sendpulse.account.token_store.file').new { dir = %q }; "
        .. "assert(s:lock('k', 30)); print('locked'); io.stdout:flush(); "
        .. "require('sendpulse.core').sleep(30)"):format(dir)
      local p = assert(io.popen(("exec sh -c 'echo $$; exec %s -e \"$0\"' %q"):format(LUA, script)))
      local pid = p:read("*l")
      assert.equal("locked", p:read("*l"))
      assert.is_false(b:lock("k", 30))
      os.execute("kill -KILL " .. pid)
      p:close()
      assert.is_true(b:lock("k", 30))
      b:unlock("k")
    end)

    it("lets two token holders share one token (one fetch) with no secret on disk", function()
      local dir = root .. "/share-" .. serial
      local a = client { token_store = "file", token_dir = dir, refresh_margin = 100 }
      local b = client { token_store = "file", token_dir = dir, refresh_margin = 200 }
      a:request("GET", "/addressbooks")
      b:request("GET", "/addressbooks")
      assert.equal(1, sb:stats().token_requests)
      local listing = sh("ls " .. dir .. "; cat " .. dir .. "/*")
      assert.not_matches(SECRET, listing, 1, true)
      assert.matches("sendpulse_token_%x+%.token", listing)
      a:close(); b:close()
    end)

    it("refuses a folder others can write to, and the client goes on with its own token", function()
      local dir = root .. "/open-" .. serial
      assert(os.execute("mkdir " .. dir .. " && chmod 0777 " .. dir))
      local events = {}
      local c = client { token_store = "file", token_dir = dir,
                         hook = function(ev) events[#events + 1] = ev end }
      assert.is_table(c:request("GET", "/addressbooks"))
      assert.is_table(c:request("GET", "/addressbooks"))
      local errs = events_of(events, "store_error")
      assert.is_true(#errs >= 1)
      assert.matches("writable by other users", errs[1].message, 1, true)
      assert.equal(1, sb:stats().token_requests)
      c:close()
    end)

    it("defaults to the user's runtime folder, else a per-user folder in /tmp", function()
      local xdg = os.getenv("XDG_RUNTIME_DIR")
      if xdg and xdg ~= "" then
        assert.equal(xdg .. "/lua-sendpulse", file_store.default_dir())
      else
        assert.equal("/tmp/lua-sendpulse-" .. core.uid(), file_store.default_dir())
      end
      assert.equal(sh("id -u"), tostring(core.uid()))
    end)
  end)

  describe("host budget file", function()
    it("is one budget for every limiter that maps it", function()
      -- One request every 10 s: slow enough that neither valgrind's pace
      -- nor a loaded machine lets the budget refill between the steps (two
      -- full collections took more than 2 s once, both CPUs busy).
      local path = root .. "/budget-" .. serial
      local a = assert(core.limiter { rate = 0.1, burst = 1, file = path })
      local b = assert(core.limiter { rate = 0.1, burst = 1, file = path })
      local other = assert(core.limiter { rate = 0.1, burst = 1, file = path .. "-other" })
      assert.is_true(a:shared())
      assert.matches("shared by the host", tostring(a))
      local since = core.monotonic()
      assert.is_true(a:take())
      local none, w = b:take()
      assert.is_nil(none)
      assert_wait(w, 10.0008, since, "the next one waits one interval")
      assert.is_true(other:take())
      assert.equal("600", mode(path))
      a, b, other = nil, nil, nil   -- luacheck: ignore (dropped for the collector)
      collectgarbage(); collectgarbage()   -- unmapped by __gc
      local c = assert(core.limiter { rate = 0.1, file = path })
      local _, later = c:take()
      assert_wait(later, 10.0008, since, "the budget outlived the mappings")
    end)

    it("can be deferred (a hand-over from another budget), never backwards", function()
      local l = core.limiter { rate = 10 }
      local since = core.monotonic()
      l:defer(2)
      local _, w = l:take()
      assert_wait(w, 2, since, "deferred 2 s")
      l:defer(0)
      _, w = l:take()
      assert_wait(w, 2, since, "still 2 s")
      assert.has_error(function() l:defer(-1) end)
    end)

    it("counts quota windows for every process of the host", function()
      local path = root .. "/windows-" .. serial
      local a = assert(core.limiter { rate = 1000, windows = { per_hour = 2 }, file = path })
      local b = assert(core.limiter { rate = 1000, windows = { per_hour = 2 }, file = path })
      assert.is_true(a:take())
      core.sleep(0.002)
      assert.is_true(b:take())
      core.sleep(0.002)
      local none, wait, which = a:take()
      assert.is_nil(none)
      assert.equal("per_hour", which)
      assert.is_true(wait > 3500, "wait " .. wait)
      assert.equal(2, b:state().per_hour.used)
    end)

    it("reports a file it cannot use, without raising", function()
      local l, err = core.limiter { rate = 10, file = root .. "/missing-folder/budget" }
      assert.is_nil(l)
      assert.matches("cannot open .*missing%-folder/budget: No such file", err)
      assert.has_error(function() core.limiter { file = 42 } end, "limiter: 'file' must be a path (string)")
      assert.is_false(core.limiter { rate = 10 }:shared())
    end)

    it("falls back to the process budget when the folder is unusable, and says so", function()
      local notdir = root .. "/plain-file-" .. serial
      assert(io.open(notdir, "w")):close()
      local events = {}
      local c = client { rate_limit = { shared = "host" }, token_dir = notdir,
                         hook = function(ev) events[#events + 1] = ev end }
      assert.is_table(c:request("GET", "/addressbooks"))
      local errs = events_of(events, "limiter_error")
      assert.equal(1, #errs)
      assert.equal("host", errs[1].shared)
      assert.equal("process", errs[1].fallback)
      assert.is_false(c.limiter.limiter:shared())
      c:close()
    end)

    it("is used by clients with rate_limit.shared = 'host'", function()
      local dir = root .. "/hostdir-" .. serial
      local a = client { rate_limit = { shared = "host", rate = 0.5 }, token_dir = dir }
      local b = client { rate_limit = { shared = "host", rate = 0.5 }, token_dir = dir, refresh_margin = 10 }
      assert.is_true(a.limiter.limiter:shared())
      assert.are_not.equal(a.limiter.limiter, b.limiter.limiter)    -- two mappings, one budget
      local since = core.monotonic()
      assert.is_true(a.limiter.limiter:take())
      local _, w = b.limiter.limiter:take()
      assert_wait(w, 2.003, since, "one budget for both")   -- (the shared guard: 3 ms)
      assert.matches("%x+%.budget", sh("ls " .. dir))
      a:close(); b:close()
    end)
  end)

  describe("options", function()
    local function err_of(opts)
      opts.client_id, opts.client_secret = opts.client_id or "a", opts.client_secret or "b"
      local ok, err = pcall(sendpulse.new, opts)
      assert.is_false(ok)
      return err.message
    end

    it("name the option and the rule", function()
      assert.matches("option 'rate_limit' must be .*shared = \"process\" | \"host\" | \"redis\"",
        err_of { rate_limit = { shared = "cluster" } })
      assert.matches("option 'rate_limit'", err_of { rate_limit = { fallback = "redis" } })
      assert.matches("option 'token_store' must be \"memory\", \"file\", \"redis\"",
        err_of { token_store = "disk" })
      assert.matches("option 'token_dir' must be a folder path", err_of { token_dir = "" })
      assert.matches("option 'redis' must be a table { host = string, port = integer 1%-65535",
        err_of { redis = { port = 0 } })
      assert.matches("option 'redis'", err_of { redis = { colour = "red" } })
      local msg = err_of { redis = { password = 42, host = "h" } }
      assert.not_matches("42", msg)
    end)

    it("never keep the Redis password in the client, nor change the caller's table", function()
      local r = { host = "127.0.0.1", port = 1, password = "redis-pw-secret" }
      local c = client { token_store = "redis", redis = r }
      assert.equal("redis-pw-secret", r.password)
      assert.equal("(hidden)", c.cfg.redis.password)
      assert.is_nil(c.cfg.redis.colour)
      c:close()
    end)

    it("give shared budgets a wider guard and a fallback rate", function()
      local c = client { rate_limit = { shared = "redis", fallback_rate = 5 }, redis = { port = 1 },
                         token_dir = root .. "/opts-" .. serial }
      assert.same({ rate = 10, burst = 1, shared = "redis", fallback = "host", fallback_rate = 5,
                    guard = 0.003, late = false }, c.cfg.rate_limit)
      c:close()
      c = client {}
      assert.same({ rate = 10, burst = 1, shared = "process", fallback = "host", fallback_rate = 10,
                    guard = 0.0008, late = false }, c.cfg.rate_limit)
      c:close()
      assert.matches("option 'rate_limit'", err_of { rate_limit = { fallback_rate = 0 } })
      assert.matches("option 'rate_limit'", err_of { rate_limit = { guard = 1 } })
    end)

    it("treat 'memory' as the in-process default", function()
      local c = client { token_store = "memory" }
      assert.equal("userdata", type(c.auth))
      c:close()
    end)
  end)

  describe("with Redis", function()
    local rs
    lazy_setup(function()
      rs = redis_process.start { password = "test-redis-pw" }
    end)
    lazy_teardown(function()
      if rs then rs:remove() end
    end)

    local saved_retry, saved_handover
    before_each(function()
      saved_retry, saved_handover = redis_connection.RETRY_INTERVAL, redis_limiter.HANDOVER
      redis_connection.RETRY_INTERVAL, redis_limiter.HANDOVER = 0.2, 0.3
    end)
    after_each(function()
      redis_connection.RETRY_INTERVAL, redis_limiter.HANDOVER = saved_retry, saved_handover
    end)

    local function ropts(extra)
      local o = { host = "127.0.0.1", port = rs.port, password = "test-redis-pw", db = 0,
                  timeout = 1, prefix = "t" .. serial .. ":" }
      for k, v in pairs(extra or {}) do o[k] = v end
      return o
    end

    it("connects with hiredis, answers replies, errors and null apart, and hides the password", function()
      local hiredis = require "sendpulse.hiredis"
      local c = assert(hiredis.connect { port = rs.port, password = "test-redis-pw", db = 3 })
      -- The C connection is named for its module (sendpulse.redis is the Lua connection).
      assert.equal("sendpulse.hiredis (connected)", tostring(c))
      assert.equal("OK", c:call("SET", "k", "v", "PX", 5000))
      assert.equal("v", c:call("GET", "k"))
      assert.equal(hiredis.null, c:call("GET", "absent"))
      assert.same({ 1, 2, "x" }, c:call("EVAL", "return {1, 2, 'x'}", 0))
      local no, msg = c:call("EVALSHA", "0000000000000000000000000000000000000000", 0)
      assert.is_false(no)
      assert.matches("^NOSCRIPT", msg)
      assert.has_error(function() c:call() end)
      assert.has_error(function() c:call("GET", {}) end)
      c:close(); c:close()
      assert.equal("sendpulse.hiredis (closed)", tostring(c))
      local none, err = c:call("PING")
      assert.is_nil(none)
      assert.matches("closed", err)
      local bad, why = hiredis.connect { port = rs.port, password = "wrong-pw-value" }
      assert.is_nil(bad)
      assert.matches("AUTH refused", why)
      assert.not_matches("wrong-pw-value", why, 1, true)
      assert.has_error(function() hiredis.connect { port = 70000 } end,
        "hiredis.connect: 'port' must be an integer from 1 to 65535")
    end)

    it("stores a token with its expiry and locks with an owner", function()
      local conn = redis_connection.connection(ropts())
      local a = redis_store.new { connection = conn, prefix = "t" .. serial .. ":" }
      local b = redis_store.new { connection = conn, prefix = "t" .. serial .. ":" }
      assert.is_nil(a:get("tok"))
      a:set("tok", "the-token", 60)
      local token, left = b:get("tok")
      assert.equal("the-token", token)
      assert.is_true(left > 59 and left <= 60)
      assert.equal("$9", rs:cli("GET", "t" .. serial .. ":tok"))   -- under the prefix
      a:delete("tok")
      assert.is_nil(b:get("tok"))
      assert.is_true(a:lock("tok", 30))
      assert.is_false(b:lock("tok", 30))
      b:unlock("tok")                        -- not the owner: nothing happens
      assert.is_false(b:lock("tok", 30))
      a:unlock("tok")
      assert.is_true(b:lock("tok", 0.2))
      core.sleep(0.3)                        -- a dead holder's lock lapses
      assert.is_true(a:lock("tok", 30))
    end)

    it("lets clients share one token (one fetch) through token_store = 'redis'", function()
      local a = client { token_store = "redis", redis = ropts(), refresh_margin = 100 }
      local b = client { token_store = "redis", redis = ropts(), refresh_margin = 200 }
      a:request("GET", "/addressbooks")
      b:request("GET", "/addressbooks")
      assert.equal(1, sb:stats().token_requests)
      a:close(); b:close()
    end)

    it("keeps one budget in Redis for every limiter, and survives a flushed script cache", function()
      local conn = redis_connection.connection(ropts())
      local fallback = core.limiter { rate = 10 }
      -- One request every 10 s, so neither valgrind's pace nor a loaded
      -- machine (redis-cli is a process of its own) refills the budget.
      local function new() return redis_limiter.new { connection = conn, key = "t" .. serial .. ":rate",
        rate = 0.1, burst = 1, fallback = fallback, fallback_kind = "process" } end
      local a, b = new(), new()
      local since = core.monotonic()
      assert.is_true(a:take())
      local none, w, which = b:take()
      assert.is_nil(none)
      assert.equal("per_second", which)
      assert_wait(w, 10.0008, since, "waits one interval")
      assert.equal("+OK", rs:cli("SCRIPT", "FLUSH"))
      local _, w2 = a:take()
      assert_wait(w2, 10.0008, since, "reloaded, same budget")
      assert.equal(0, fallback:peek())         -- the fallback was never used
      assert.equal(0, a:state().per_second.left)
      -- A request that left 3 s after its slot moves the schedule on by as
      -- much, less the time between the two looks.
      local before_at = core.monotonic()
      local _, before = b:take()
      a:push(3)
      local _, after = b:take()
      assert_wait(after, before + 3, before_at, "pushed 3 s on")
    end)

    it("counts quota windows in Redis for every limiter of the account", function()
      local conn = redis_connection.connection(ropts())
      local fallback = core.limiter { rate = 1000 }
      local function new() return redis_limiter.new { connection = conn, key = "t" .. serial .. ":quota",
        rate = 1000, burst = 1, windows = { per_minute = 3, per_day = 10 }, fallback = fallback,
        fallback_kind = "process" } end
      local a, b = new(), new()
      local taken = 0
      for _, l in ipairs { a, b, a } do
        local ok, w = l:take()
        if not ok then core.sleep(w); ok = l:take() end
        if ok then taken = taken + 1 end
      end
      assert.equal(3, taken)
      core.sleep(0.005)
      local none, wait, which = b:take()
      assert.is_nil(none)
      assert.equal("per_minute", which)
      assert.is_true(wait > 55 and wait <= 61, "wait " .. wait)
      local s = a:state()
      assert.equal(3, s.per_minute.used)
      assert.equal(0, s.per_minute.left)
      assert.equal(7, s.per_day.left)
      assert.equal(86400, s.per_day.period)
      assert.is_nil(s.per_hour)
      assert.equal(0, fallback:peek())
    end)

    it("goes on through the fallback while Redis is down, warns, and recovers", function()
      local events = {}
      local hook = function(ev) events[#events + 1] = ev end
      local c = client { token_store = "redis", redis = ropts(),
                         rate_limit = { shared = "redis", fallback = "process" }, hook = hook }
      assert.is_table(c:request("GET", "/addressbooks"))
      assert.equal(0, #events_of(events, "limiter_error"))
      rs:stop()
      local ok, err = pcall(function()
        for _ = 1, 3 do assert.is_table(c:request("GET", "/addressbooks")) end
        local errs = events_of(events, "limiter_error")
        assert.equal(1, #errs)                 -- once per outage, not per request
        assert.equal("redis", errs[1].shared)
        assert.equal("process", errs[1].fallback)
        assert.matches("redis", errs[1].message)
        assert.not_matches("test%-redis%-pw", errs[1].message)
      end)
      rs:launch()
      assert(ok, err)
      core.sleep(redis_connection.RETRY_INTERVAL + 0.05)
      assert.is_table(c:request("GET", "/addressbooks"))
      assert.equal(1, #events_of(events, "limiter_recovered"))
      assert.equal(1, sb:stats().token_requests)
      c:close()
    end)

    it("hands over without overlap: fallback after Redis's slots, Redis after the fallback's", function()
      local conn = redis_connection.connection(ropts { timeout = 0.9 })
      local fallback = core.limiter { rate = 10 }
      local events = {}
      local lim = redis_limiter.new { connection = conn, key = "t" .. serial .. ":handover", rate = 10,
        burst = 1, fallback = fallback, fallback_kind = "process",
        report = function(ev) events[#events + 1] = ev end }
      assert.is_true(lim:take())                 -- Redis's budget now runs ~0.1 s ahead
      rs:stop()
      local ok, err = pcall(function()
        -- The fallback starts after Redis's slot (if it is still to come:
        -- under valgrind it may have passed) plus HANDOVER (0.3 s), counted
        -- from the failure.
        local since = core.monotonic()
        local none, w = lim:take()
        assert.is_nil(none)
        -- (at most a Redis interval is still to come: 0.3 to 0.4 s)
        assert.is_true(w < 0.5, "first fallback slot after the hand-over, got " .. tostring(w))
        assert_wait(math.min(w, 0.3), 0.3, since, "first fallback slot after the hand-over")
        assert.equal(1, #events_of(events, "limiter_error"))
        core.sleep(w)
        assert.is_true(lim:take())                -- the fallback's slot
      end)
      rs:launch()
      assert(ok, err)
      core.sleep(redis_connection.RETRY_INTERVAL + 0.05)
      -- Back: no Redis slot before the fallback's next one + RETRY_INTERVAL
      -- + HANDOVER, written to Redis's budget for every process.
      local since = core.monotonic()
      local none, w = lim:take()
      assert.is_nil(none)
      -- RETRY_INTERVAL + HANDOVER and what is left of the fallback's
      -- interval: 0.5 to 0.6 s from when the take asked
      assert.is_true(w < 0.61, "first Redis slot after the outage, got " .. tostring(w))
      assert_wait(math.min(w, 0.5), 0.5, since, "first Redis slot after the outage")
      assert.equal(1, #events_of(events, "limiter_recovered"))
      local _, w2 = lim:take()
      assert_wait(math.min(w2, 0.5), 0.5, since, "still held back")
    end)

    it("treats a token store failure as store_error and fetches its own token", function()
      local events = {}
      local c = client { token_store = "redis", redis = ropts { port = rs.port, db = 5 },
                         hook = function(ev) events[#events + 1] = ev end }
      rs:stop()
      local ok, err = pcall(function()
        assert.is_table(c:request("GET", "/addressbooks"))
        local errs = events_of(events, "store_error")
        assert.is_true(#errs >= 1)
        assert.matches("redis", errs[1].message)
      end)
      rs:launch()
      assert(ok, err)
      c:close()
    end)
  end)
end)
