-- The C core's objects, driven directly: the token state machine and the
-- limiter that every transport shares.
local core = require "sendpulse.core"

describe("core.auth", function()
  local function new_auth(margin)
    return core.auth { client_id = "id-123456789", client_secret = "p@ss w/rd&=", refresh_margin = margin }
  end

  it("has no token until one is fetched", function()
    local a = new_auth()
    assert.is_nil(a:token())
    assert.is_nil(a:expires_in())
  end)

  it("lets only one caller refresh at a time", function()
    local a = new_auth()
    assert.is_true(a:begin_refresh())
    assert.is_false(a:begin_refresh())
    assert.is_true(a:refreshing())
    local gen = a:finish_refresh("tok-1", 3600)
    assert.is_false(a:refreshing())
    local token, g = a:token()
    assert.equal("tok-1", token)
    assert.equal(gen, g)
    assert.is_true(a:begin_refresh())   -- free again once finished
    a:abort_refresh()
    assert.is_false(a:refreshing())
  end)

  it("drops a refused token only if it is still the current one", function()
    local a = new_auth()
    a:begin_refresh()
    local old = a:finish_refresh("tok-1", 3600)
    a:begin_refresh()
    a:finish_refresh("tok-2", 3600)
    assert.is_false(a:invalidate(old))  -- someone already replaced it
    assert.equal("tok-2", (a:token()))
    local _, current = a:token()
    assert.is_true(a:invalidate(current))
    assert.is_nil(a:token())
  end)

  it("stops handing out a token margin seconds before it expires", function()
    local a = new_auth(300)
    a:begin_refresh()
    a:finish_refresh("tok", 3600)
    assert.is_true(a:expires_in() > 3599)
    -- For a short lifetime the margin shrinks to half of it: a 2 s token is
    -- handed out for 1 s, then due for 1 s more. The checks on each side of
    -- the 1 s mark have 0.95 s of slack each: a loaded 2-CPU machine holds
    -- a runnable process back for tens of milliseconds, not seconds.
    a:begin_refresh()
    a:finish_refresh("short", 2)
    assert.equal("short", (a:token()))
    core.sleep(1.05)
    assert.is_nil(a:token())
    assert.is_number(a:expires_in())     -- still valid, but due for refresh
  end)

  it("encodes the token request with the secret percent-encoded", function()
    local body = new_auth():token_request()
    assert.equal("grant_type=client_credentials&client_id=id-123456789&client_secret=p%40ss%20w%2Frd%26%3D", body)
  end)

  it("never shows the secret or the token in tostring", function()
    local a = new_auth()
    a:begin_refresh()
    a:finish_refresh("tok-secret-value", 3600)
    local s = tostring(a)
    assert.not_matches("p@ss", s, 1, true)
    assert.not_matches("tok-secret", s, 1, true)
    assert.matches("id-123...", s, 1, true)
  end)

  it("treats an api_key as a token that never expires or refreshes", function()
    local a = core.auth { api_key = "key-1" }
    assert.equal("key-1", (a:token()))
    assert.is_true(a:is_static())
    assert.equal(math.huge, a:expires_in())
    assert.has_error(function() a:begin_refresh() end, "auth: an api_key is never refreshed")
    local _, gen = a:token()
    assert.is_false(a:invalidate(gen))
  end)

  it("rejects bad construction arguments", function()
    assert.has_error(function() core.auth {} end, "auth: 'client_id' must be a string")
    assert.has_error(function() core.auth { client_id = "a", client_secret = "" } end)
    assert.has_error(function() core.auth { client_id = "a", client_secret = "b", refresh_margin = -1 } end)
  end)
end)

describe("core.limiter", function()
  -- A wait is checked against what the clock says passed since the slot
  -- (support.loaded.assert_wait), not against a margin. Intervals are 1 s
  -- or more, so that a second take is refused unless a whole second went
  -- by between two calls.
  local assert_wait = require("support.loaded").assert_wait

  it("takes a slot when the request leaves, and says how long until the next", function()
    local l = core.limiter { rate = 1, burst = 1, guard = 0 }
    local since = core.monotonic()
    assert.is_true(l:take())
    local none, w, which = l:take()
    assert.is_nil(none)
    assert_wait(w, 1, since, "take")
    assert.equal("per_second", which)
    -- A refused take takes nothing: the wait does not grow.
    local _, w2 = l:take()
    assert.is_true(w2 <= w, "wait " .. w2)
    assert_wait(l:peek(), 1, since, "peek")
  end)

  it("lets a burst through at once", function()
    local l = core.limiter { rate = 1, burst = 3, guard = 0 }
    local since = core.monotonic()
    assert.is_true(l:take())
    assert.equal(2, l:state().per_second.left)
    assert.is_true(l:take())
    assert.is_true(l:take())
    local none, w = l:take()
    assert.is_nil(none)
    assert_wait(w, 1, since, "after the burst")
    assert.equal(0, l:state().per_second.left)
  end)

  it("lets a caller that may be late by `lateness` leave that much early on the schedule", function()
    local l = core.limiter { rate = 1, guard = 0 }
    local since = core.monotonic()
    assert.is_true(l:take())
    local _, w = l:take()
    assert_wait(w, 1, since, "on time")
    local _, w2 = l:take(0.4)
    assert_wait(w2, 0.6, since, "0.4 s late")
    assert.has_error(function() l:take(2) end)
  end)

  it("widens its guard for a client that needs more, never narrows it", function()
    local l = core.limiter { rate = 1, guard = 0.0008 }
    assert.near(0.0008, l:guard(), 1e-9)
    assert.near(0.003, l:guard(0.003), 1e-9)
    assert.near(0.003, l:guard(0.001), 1e-9)
    local since = core.monotonic()
    assert.is_true(l:take())
    local _, w = l:take()
    assert_wait(w, 1.003, since, "one interval and the guard")
  end)

  it("counts quota windows and refuses past their limit, naming the window", function()
    local l = core.limiter { rate = 1000, windows = { per_minute = 3, per_day = 100 } }
    for _ = 1, 3 do
      local ok, w = l:take()
      if not ok then core.sleep(w); assert.is_true(l:take()) end
    end
    core.sleep(0.01)
    local none, wait, which = l:take()
    assert.is_nil(none)
    assert.equal("per_minute", which)
    -- the minute from the first take, less the time since (2 s of slack:
    -- microseconds without load, tens of milliseconds with)
    assert.is_true(wait > 58 and wait <= 61, "wait " .. wait)
    local s = l:state()
    assert.same({ limit = 3, used = 3, left = 0, period = 60 },
      { limit = s.per_minute.limit, used = s.per_minute.used, left = s.per_minute.left, period = s.per_minute.period })
    assert.equal(97, s.per_day.left)
    assert.is_nil(s.per_hour)
    assert.equal(1000, s.per_second.limit)
    assert.matches("2 quota windows", tostring(l))
  end)

  it("rejects bad settings", function()
    assert.has_error(function() core.limiter { rate = 0 } end)
    assert.has_error(function() core.limiter { rate = 10, burst = 0 } end)
    assert.has_error(function() core.limiter { rate = "10" } end, "limiter: 'rate' must be a number")
    assert.has_error(function() core.limiter { windows = { per_minute = 0.5 } } end,
      "limiter: windows.per_minute must be a number of requests from 1 to 2^31")
  end)
end)

describe("core.http_session", function()
  it("closes idempotently and refuses use afterwards", function()
    local h = core.http_session {}
    h:close()
    h:close()
    assert.has_error(function() h:perform("GET", "http://127.0.0.1:1/", {}, nil, 1, 1) end,
      "attempt to use a closed sendpulse.http")
    assert.equal("sendpulse.http (closed)", tostring(h))
  end)

  it("reports a refused connection as not sent", function()
    local h = core.http_session {}
    local status, kind, message, sent = h:perform("POST", "http://127.0.0.1:1/", {}, "x", 2, 1)
    assert.is_nil(status)
    assert.equal("network", kind)
    assert.is_string(message)
    assert.is_false(sent)
    h:close()
  end)

  it("refuses non-HTTP URLs", function()
    local h = core.http_session {}
    local status, kind, message = h:perform("GET", "file:///etc/passwd", {}, nil, 1, 1)
    assert.is_nil(status)
    assert.equal("network", kind)
    assert.matches("[Pp]rotocol", message)
    h:close()
  end)
end)

describe("core encoders", function()
  it("Base64-encodes and decodes", function()
    assert.equal("0J/RgNC40LLQtdGC", core.base64_encode("Привет"))
    assert.equal("Привет", core.base64_decode("0J/RgNC40LLQtdGC"))
    local v, err = core.base64_decode("a$b")
    assert.is_nil(v)
    assert.equal("invalid Base64 at byte 2", err)
  end)
end)

describe("core private files for the outbox's journal", function()
  local dir
  before_each(function()
    dir = os.tmpname(); os.remove(dir)
    assert(core.private_dir(dir))
  end)
  after_each(function() os.execute("rm -rf '" .. dir .. "'") end)

  it("appends (synced) and reads back from an offset, with the file's size", function()
    local path = dir .. "/journal"
    assert.is_false(core.read_private(path, 0, 10))          -- no file yet
    assert.is_true(core.append_private(path, "hello "))
    assert.is_true(core.append_private(path, "world", false)) -- not synced: still appended
    local bytes, size = core.read_private(path, 6, 100)
    assert.equal("world", bytes)
    assert.equal(11, size)
    assert.equal("hel", (core.read_private(path, 0, 3)))
  end)

  it("refuses a symbolic link, for appending and for reading", function()
    local target = dir .. "/target"
    assert(core.append_private(target, "secret"))
    os.execute("ln -s '" .. target .. "' '" .. dir .. "/link'")
    local ok, err = core.append_private(dir .. "/link", "x")
    assert.is_nil(ok)
    assert.matches("/link is a symbolic link: refusing it", err)
    local bytes, rerr = core.read_private(dir .. "/link", 0, 10)
    assert.is_nil(bytes)
    assert.matches("/link", rerr)
  end)

  it("refuses what is not a regular file", function()
    os.execute("mkdir '" .. dir .. "/sub'")
    local ok, err = core.append_private(dir .. "/sub", "x")
    assert.is_nil(ok)
    assert.is_string(err)
    local bytes, rerr = core.read_private(dir .. "/sub", 0, 1)
    assert.is_nil(bytes)
    assert.matches("not a regular file", rerr)
  end)

  it("bounds one read and rejects bad arguments", function()
    assert.has_error(function() core.read_private(dir .. "/x", -1, 1) end)
    assert.has_error(function() core.read_private(dir .. "/x", 0, 65 * 1024 * 1024) end)
  end)

  it("has a wall clock in Unix seconds", function()
    local t = core.wallclock()
    assert.is_true(math.abs(t - os.time()) < 2)
  end)
end)
