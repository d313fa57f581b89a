-- Tokens from places that cannot be trusted, and a hook that closes its
-- client (issue 10, items 4 and 5), over real sockets: the hostile server's
-- token modes (spec/support/hostile_server.lua), stores holding what is not
-- a token (a user store, files, Redis, nginx's shared dict), on the curl,
-- multi and cosocket transports (the last inside real nginx:
-- spec/nginx/app.lua runs the client there and reports).
--
-- Every failure must come back from a sendpulse.safe client as an error
-- object, never as a raised Lua error, and no token that is not an RFC 6750
-- token68 may reach the wire: a token "abc\r\nX-Injected: 1" put an extra
-- header line into every request.
local safe = require "sendpulse.safe"
local sendpulse = require "sendpulse"
local account = require "sendpulse.account"
local options = require "sendpulse.client.options"
local hostile = require "support.hostile_server"
local nginx_process = require "support.nginx_process"
local redis_process = require "support.redis_process"

local hs, ng

-- One GET /x by a fresh client in `transport`. Returns { ok = not raised,
-- value =, err = { kind =, message =, text = } (a plain copy), raised =,
-- events = hook events, expires_in = the token's seconds left }.
local function call(transport, opts, close_in_hook)
  local o = {}
  for k, v in pairs(opts) do o[k] = v end
  o.retries = o.retries or 0
  if transport == "cosocket" then
    o.hook, o.close_in_hook = true, close_in_hook or nil
    local report = ng:call("/call", { client = o, method = "GET", path = "/x" })
    assert.is_nil(report.new_error, report.new_error and report.new_error.text)
    local r = report.results[1]
    return { ok = not (r.err and r.err.raised), raised = r.err and r.err.raised, value = r.value, err = r.err,
             events = report.events, expires_in = report.token_expires_in }
  end
  local events, client = {}, nil
  o.transport = transport
  o.hook = function(e)
    events[#events + 1] = e
    if close_in_hook then client:close() end
  end
  client = assert(safe.new(o))
  local ok, value, err = pcall(client.request, client, "GET", "/x")
  local out = { ok = ok, events = events, expires_in = client:token_expires_in() }
  if not ok then
    out.raised = tostring(value)
  else
    out.value = value
    if value == nil then
      assert.is_true(sendpulse.is_error(err), "not an error object")
      out.err = { kind = err.kind, message = err.message, text = tostring(err) }
    end
  end
  client:close()
  return out
end

-- The request lines the token_* modes echo, or {} when none came back.
local function echoed(out)
  return type(out.value) == "table" and out.value.headers or {}
end

local function has_line(out, prefix)
  for _, line in ipairs(echoed(out)) do
    if line:sub(1, #prefix) == prefix then return true end
  end
  return false
end

describe("hostile tokens", function()
  lazy_setup(function() hs = hostile.start() end)
  lazy_teardown(function() if hs then hs:stop() end end)

  for _, transport in ipairs { "curl", "multi", "cosocket" } do
    local tags = transport == "cosocket" and " #nginx" or ""
    describe("on the " .. transport .. " transport" .. tags, function()
      if transport == "cosocket" then
        lazy_setup(function() ng = nginx_process.start {} end)
        lazy_teardown(function()
          if ng then ng:stop() end
          ng = nil
        end)
      end

      -- A new account each time: clients of one account in a Lua state share
      -- its token, and each test must see its own token request.
      local accounts = 0
      local function client_opts(mode, arg)
        accounts = accounts + 1
        return { client_id = ("tok-id-%s-%d"):format(transport, accounts), client_secret = "tok-secret",
                 base_url = hs:url(mode, arg) }
      end

      for _, mode in ipairs { "token_crlf", "token_nul" } do
        it(("refuses a token endpoint's %s token with a decode error, sending nothing with it"):format(mode),
          function()
            local out = call(transport, client_opts(mode))
            assert.is_true(out.ok, "raised: " .. tostring(out.raised))
            assert.is_nil(out.value, "the call went through with that token")
            assert.equal("decode", out.err.kind)
            assert.matches("access_token cannot be a Bearer token: it holds characters", out.err.message, 1, true)
            -- one exchange: the token request; nothing carried the token
            assert.equal(1, #out.events)
            assert.equal("token", out.events[1].event)
          end)
      end

      -- expires_in -> the seconds the client believes (at most a day)
      local lifetimes = { ["1e7"] = 86400, ["1e400"] = 86400, ["-5"] = 3600, ["0"] = 3600,
                          str = 3600, null = 3600, ["120"] = 120 }
      for value, believed in pairs(lifetimes) do
        it(("takes an expires_in of %s as %d seconds"):format(value, believed), function()
          local out = call(transport, client_opts("token_ttl", value))
          assert.is_true(out.ok, "raised: " .. tostring(out.raised))
          assert.is_table(out.value, out.err and out.err.text)
          assert.is_true(has_line(out, "Authorization: Bearer tok-ttl"))
          assert.is_number(out.expires_in)
          assert.is_true(out.expires_in <= believed and out.expires_in > believed - 30,
            ("%s: the token is held for %s s"):format(value, tostring(out.expires_in)))
        end)
      end

      it("takes a token of a year for a day", function()
        local out = call(transport, client_opts("token_year"))
        assert.is_true(out.ok, "raised: " .. tostring(out.raised))
        assert.is_table(out.value, out.err and out.err.text)
        assert.is_true(out.expires_in <= 86400)
      end)

      it("reports close() from inside a hook as a cancelled call", function()
        -- the hook runs after the token request; the call's own request
        -- would go out on the closed transport
        local out = call(transport, client_opts("token_year"), true)
        assert.is_true(out.ok, "raised: " .. tostring(out.raised))
        assert.is_nil(out.value)
        assert.equal("cancelled", out.err.kind)
        assert.matches("the client was closed during this call", out.err.message, 1, true)
      end)

      it("reports close() from the hook of a call's own exchange on a retry", function()
        local out = call(transport, { api_key = "hook-key", base_url = hs:url("bad_status"), retries = 2 }, true)
        assert.is_true(out.ok, "raised: " .. tostring(out.raised))
        assert.equal("cancelled", out.err.kind)
      end)
    end)
  end

  describe("from token stores", function()
    local BAD = "abc\r\nX-Injected: 1"

    -- A client in token_year mode (the endpoint gives "tok-year"; other
    -- requests echo their header lines) with the given store, of a new
    -- account (see client_opts above).
    local accounts = 0
    local function store_opts(extra)
      accounts = accounts + 1
      local o = { client_id = "store-id-" .. accounts, client_secret = "store-secret", base_url = hs:url("token_year") }
      for k, v in pairs(extra or {}) do o[k] = v end
      return o
    end

    local function key_of(opts)
      return account.token_key(assert(options.check(opts)))
    end

    -- The store's bad value was ignored (and said so), the endpoint's token
    -- used, nothing injected.
    local function assert_ignored(out, why)
      assert.is_true(out.ok, "raised: " .. tostring(out.raised))
      assert.is_table(out.value, out.err and out.err.text)
      assert.is_true(has_line(out, "Authorization: Bearer tok-year"), "the endpoint's token was not used")
      assert.is_false(has_line(out, "X-Injected"), "the store's value put a header line on the wire")
      local said = false
      for _, e in ipairs(out.events) do
        if e.event == "store_error" and e.message:find(why, 1, true) then said = true end
      end
      assert.is_true(said, "no store_error event says: " .. why)
    end

    -- A user store whose get returns `token, ttl`; the rest does nothing.
    local function user_store(token, ttl)
      return {
        get = function() return token, ttl end,
        set = function() end, delete = function() end,
        lock = function() return true end, unlock = function() end,
      }
    end

    for _, transport in ipairs { "curl", "multi" } do
      it("ignores a user store's token with CR LF (" .. transport .. ")", function()
        assert_ignored(call(transport, store_opts { token_store = user_store(BAD, 3000) }),
          "it holds characters a Bearer token cannot have")
      end)
    end

    it("ignores a user store's value that is not a string, and a lifetime that is not a number", function()
      assert_ignored(call("curl", store_opts { token_store = user_store({ "t" }, 3000) }), "it is a table")
      assert_ignored(call("curl", store_opts { token_store = user_store("good-token", "3000") }),
        "its lifetime is not a number")
      assert_ignored(call("curl", store_opts { token_store = user_store(("a"):rep(5000), 3000) }),
        "longer than 4096 bytes")
    end)

    it("reports a user store that raises a value whose __tostring raises, and carries on", function()
      local raising = setmetatable({}, { __tostring = function() error("a __tostring that raises") end })
      local store = user_store("stored-token", 3000)
      store.get = function() error(raising) end
      assert_ignored(call("curl", store_opts { token_store = store }), "(a table whose __tostring failed)")
    end)

    it("takes a user store's lifetime of a year for a day", function()
      local out = call("curl", store_opts { token_store = user_store("stored-token", 31536000) })
      assert.is_true(out.ok, "raised: " .. tostring(out.raised))
      assert.is_true(has_line(out, "Authorization: Bearer stored-token"))
      assert.is_true(out.expires_in <= 86400)
    end)

    it("ignores a token file holding CR LF", function()
      local dir = os.tmpname()
      os.remove(dir)
      local opts = store_opts { token_store = "file", token_dir = dir }
      local files = require("sendpulse.account.token_store.file").new { dir = dir }
      files:set(key_of(opts), BAD, 3000)
      assert_ignored(call("curl", opts), "it holds characters a Bearer token cannot have")
      os.execute("rm -rf '" .. dir .. "'")
    end)

    it("ignores a token in Redis holding CR LF", function()
      local r = redis_process.start()
      local ok, err = pcall(function()
        local opts = store_opts { token_store = "redis", redis = { port = r.port } }
        local conn = require("sendpulse.redis").connection { host = "127.0.0.1", port = r.port,
          db = 0, timeout = 1 }
        local store = require("sendpulse.account.token_store.redis").new {
          connection = conn, prefix = account.DEFAULT_REDIS_PREFIX }
        store:set(key_of(opts), BAD, 3000)
        assert_ignored(call("curl", opts), "it holds characters a Bearer token cannot have")
      end)
      r:stop()
      assert(ok, err)
    end)

    describe("in nginx's shared dict #nginx", function()
      lazy_setup(function() ng = nginx_process.start {} end)
      lazy_teardown(function()
        if ng then ng:stop() end
        ng = nil
      end)

      it("ignores a token holding CR LF", function()
        local plain = store_opts()
        local opts = { shared_dict = "sendpulse" }
        for k, v in pairs(plain) do opts[k] = v end
        -- the dict store's value: "<expiry> <token>" (token_store/shared_dict.lua)
        local value = ("%.3f %s"):format(os.time() + 3000, BAD)
        local esc = function(s) return (s:gsub("[^%w]", function(c) return ("%%%02X"):format(c:byte()) end)) end
        ng:call("/arm?dict=sendpulse&key=" .. esc(key_of(plain)) .. "&value=" .. esc(value), {})
        assert_ignored(call("cosocket", opts), "it holds characters a Bearer token cannot have")
      end)
    end)
  end)
end)
