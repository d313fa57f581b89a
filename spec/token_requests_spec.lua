-- Token endpoints whose tokens do not last (issue 21): a token claimed to
-- live 0.0001 s (the hostile server's token_ttl mode, which never lets one
-- lapse) and tokens that really lapse that soon (the sandbox with token_ttl
-- = 0.0001). Before: 246 token requests in 25 s and no call sent. Now a
-- token is believed for at least a second (sendpulse.account.token), the
-- call that fetched a token sends it, and an account makes at most
-- token_requests.MAX_PER_MINUTE token requests a minute, in this process
-- and through a shared token store; past that a call fails at once with a
-- rate_limit error (rule "token_requests").
local sendpulse = require "sendpulse"
local safe = require "sendpulse.safe"
local core = require "sendpulse.core"
local token = require "sendpulse.account.token"
local token_requests = require "sendpulse.account.token_requests"
local file_store = require "sendpulse.account.token_store.file"
local hostile = require "support.hostile_server"
local sandbox = require "support.sandbox_process"
local redis_process = require "support.redis_process"

local function count(list, name)
  local n = 0
  for _, e in ipairs(list) do if e.event == name then n = n + 1 end end
  return n
end

describe("token lifetimes", function()
  it("believes an expires_in under a second as a second", function()
    assert.equal(1, token.lifetime(0.0001))
    assert.equal(1, token.lifetime("0.5"))
    assert.equal(1.5, token.lifetime(1.5))
    assert.equal(3600, token.lifetime(0))
  end)
end)

describe("a token endpoint whose tokens claim 0.0001 s", function()
  local hs
  lazy_setup(function() hs = hostile.start() end)
  lazy_teardown(function() if hs then hs:stop() end end)

  for _, transport in ipairs { "curl", "multi" } do
    it("lets calls through: a token request at most every half second, none past the bound (" .. transport .. ")",
      function()
        local events = {}
        local c = safe.new { client_id = "tiny-ttl-" .. transport, client_secret = "tiny-secret",
          base_url = hs:url("token_ttl", "0.0001"), transport = transport, timeout = 5, retries = 0,
          hook = function(e) events[#events + 1] = e end }
        local started = core.monotonic()
        -- 100 calls at 10 a second: past the bound of token requests
        -- (reached after about 6 s), the token held goes on.
        for i = 1, 100 do
          local value, err = c:request("GET", "/x")
          assert.is_table(value, ("call %d: %s"):format(i, tostring(err)))
        end
        local elapsed = core.monotonic() - started
        -- A token is believed for a second and refreshed at half its life:
        -- one token request per half second of the run, and the first.
        local tokens = count(events, "token")
        assert.is_true(tokens <= elapsed / 0.5 + 1, ("%d token requests in %.1f s"):format(tokens, elapsed))
        assert.is_true(tokens <= token_requests.MAX_PER_MINUTE, tokens .. " token requests")
        assert.equal(100, count(events, "request"))
        c:close()
      end)
  end
end)

describe("token requests of an account", function()
  local sb
  lazy_setup(function() sb = sandbox.start {} end)
  lazy_teardown(function() if sb then sb:stop() end end)

  local accounts = 0
  local function account()
    accounts = accounts + 1
    local id = "capped-acct-" .. accounts
    -- Tokens that really lapse at once: every call meets a 401, fetches a
    -- new token and replays, and meets a 401 again.
    sb:reset()
    sb:configure { accounts = { { client_id = id, client_secret = "capped-secret" } }, token_ttl = 0.0001 }
    return id
  end

  local function client(id, extra)
    local o = { client_id = id, client_secret = "capped-secret", base_url = sb.url, retries = 0 }
    for k, v in pairs(extra or {}) do o[k] = v end
    return safe.new(o)
  end

  local MAX = token_requests.MAX_PER_MINUTE

  -- Calls until one fails for the bound; each meets a 401 and asks for a
  -- token (a call replays once: two at the first). Returns that error.
  local function until_bound(c)
    for i = 1, 2 * MAX do
      local value, err = c:request("GET", "/addressbooks")
      assert.is_nil(value, "call " .. i)
      if err.kind == "rate_limit" then return err end
      assert.equal("auth", err.kind, tostring(err))
    end
    error("no call met the bound of token requests")
  end

  it("stop at MAX_PER_MINUTE a minute: then a call fails at once with a rate_limit error", function()
    local c = client(account())
    local err = until_bound(c)
    local at_bound = sb:stats()
    assert.equal(MAX, at_bound.token_requests)
    for _ = 1, 5 do
      assert.equal("token_requests", err.rule)
      assert.equal("token", err.stage)
      assert.is_false(err.retryable)
      assert.is_false(err.maybe_sent)
      assert.is_true(err.retry_after > 0 and err.retry_after <= token_requests.WINDOW)
      assert.matches(("made %d token requests within 60 s in this process, the most it may"):format(MAX),
        err.message, 1, true)
      local value
      value, err = c:request("GET", "/addressbooks")
      assert.is_nil(value)
      assert.equal("rate_limit", err.kind)
    end
    -- Nothing more reached the server: no token request, and no call
    -- (each failed before it was sent).
    local stats = sb:stats()
    assert.equal(MAX, stats.token_requests)
    assert.equal(#at_bound.requests, #stats.requests)
    c:close()
  end)

  it("are counted for every client of the account in this process", function()
    local id = account()
    local a, b = client(id), client(id)
    until_bound(a)
    local _, err = b:request("GET", "/addressbooks")
    assert.equal("token_requests", err.rule)
    assert.equal(MAX, sb:stats().token_requests)
    a:close(); b:close()
  end)

  local function shared_store_test(store_opts)
    local id = account()
    local function shared_client(margin)
      -- Different refresh margins: separate token caches, as two processes.
      return client(id, { refresh_margin = margin, token_store = store_opts.token_store,
                          redis = store_opts.redis, token_dir = store_opts.token_dir })
    end
    local a = shared_client(100)
    local err = until_bound(a)
    assert.matches("in this process", err.message, 1, true)
    local b = shared_client(200)
    local _, berr = b:request("GET", "/addressbooks")
    assert.equal("rate_limit", berr.kind)
    assert.equal("token_requests", berr.rule)
    assert.matches("in the shared token store", berr.message, 1, true)
    assert.equal(MAX, sb:stats().token_requests)
    a:close(); b:close()
  end

  it("are counted for every process sharing a Redis token store", function()
    local r = redis_process.start()
    local ok, err = pcall(shared_store_test, { token_store = "redis", redis = { port = r.port } })
    r:remove()
    assert(ok, err)
  end)

  it("are counted for every process sharing a token folder", function()
    local dir = os.tmpname()
    os.remove(dir)
    local ok, err = pcall(shared_store_test, { token_store = "file", token_dir = dir })
    os.execute("rm -rf '" .. dir .. "'")
    assert(ok, err)
  end)

  it("are counted in windows by the file store", function()
    local dir = os.tmpname()
    os.remove(dir)
    local store = file_store.new { dir = dir }
    assert.equal(1, store:count("k", 60))
    assert.equal(2, store:count("k", 60))
    assert.equal(1, store:count("other", 60))
    -- A window of 0 s has always passed: each count starts a new one.
    assert.equal(1, store:count("k", 0))
    os.execute("rm -rf '" .. dir .. "'")
  end)

  it("of a healthy endpoint stay far below the bound", function()
    sb:reset()
    sb:configure { accounts = { { client_id = "healthy-acct", client_secret = "capped-secret" } } }
    local c = sendpulse.new { client_id = "healthy-acct", client_secret = "capped-secret", base_url = sb.url }
    for _ = 1, 30 do c:request("GET", "/addressbooks") end
    assert.equal(1, sb:stats().token_requests)
    c:close()
  end)
end)
