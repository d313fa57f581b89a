-- token_store: a token shared through a store, and a store that fails.
local sendpulse = require "sendpulse"
local sandbox = require "support.sandbox_process"

-- A store in a plain table, as a user could write one.
local function table_store()
  local data, locks, calls = {}, {}, {}
  local store = { data = data, calls = calls }
  local function log(op) calls[#calls + 1] = op end
  function store:get(key) log("get"); local e = data[key]; if e then return e[1], e[2] end end
  function store:set(key, token, ttl) log("set"); data[key] = { token, ttl } end
  function store:delete(key) log("delete"); data[key] = nil end
  function store:lock(key) log("lock"); if locks[key] then return false end; locks[key] = true; return true end
  function store:unlock(key) log("unlock"); locks[key] = nil end
  return store
end

describe("token_store", function()
  local sb
  lazy_setup(function() sb = sandbox.start {} end)
  lazy_teardown(function() if sb then sb:stop() end end)

  local account, serial = nil, 0
  before_each(function()
    sb:reset()
    serial = serial + 1
    account = "store-acct-" .. serial
    sb:configure { accounts = { { client_id = account, client_secret = "store-secret" } } }
  end)

  local function client(extra)
    local opts = { client_id = account, client_secret = "store-secret", base_url = sb.url }
    for k, v in pairs(extra) do opts[k] = v end
    return sendpulse.new(opts)
  end

  it("lets a second holder take the token from the store instead of fetching", function()
    local store = table_store()
    -- Different refresh margins give separate in-process token caches: the
    -- same situation as two processes.
    local a = client { token_store = store, refresh_margin = 100 }
    local b = client { token_store = store, refresh_margin = 200 }
    a:request("GET", "/addressbooks")
    b:request("GET", "/addressbooks")
    assert.equal(1, sb:stats().token_requests)
    local n = 0
    for _ in pairs(store.data) do n = n + 1 end
    assert.equal(1, n)
    for key, entry in pairs(store.data) do
      assert.not_matches("store%-secret", key)
      assert.matches("^sendpulse:token:%x+$", key)
      assert.is_string(entry[1])
    end
    a:close(); b:close()
  end)

  it("waits for the holder of the lock rather than fetching a second token", function()
    local store = table_store()
    local a = client { token_store = store, refresh_margin = 100 }
    store:lock("anything")   -- unrelated lock: ignored
    -- Simulate another process fetching right now: hold the account's lock
    -- and publish a token after a moment, from the sleep hook.
    local key
    local b_sleeps = 0
    local b = client { token_store = store, refresh_margin = 200, sleep = function(s)
      b_sleeps = b_sleeps + 1
      if b_sleeps == 3 then
        a:request("GET", "/addressbooks")     -- the "other process" fetches
        store:unlock(key)
      end
      require("sendpulse.core").sleep(s)
    end }
    -- Take the lock b will need.
    local orig_lock = store.lock
    function store:lock(k, ttl)
      key = k
      if b_sleeps < 3 then return false end
      return orig_lock(self, k, ttl)
    end
    b:request("GET", "/addressbooks")
    assert.equal(1, sb:stats().token_requests)
    assert.is_true(b_sleeps >= 3)
    a:close(); b:close()
  end)

  it("degrades to a local token when the store fails, and reports it", function()
    local broken = {}
    for _, m in ipairs { "get", "set", "delete", "lock", "unlock" } do
      broken[m] = function() error("store is down (connection refused)") end
    end
    local events = {}
    local c = client { token_store = broken, hook = function(ev) events[#events + 1] = ev end }
    assert.is_table(c:request("GET", "/addressbooks"))
    assert.is_table(c:request("GET", "/addressbooks"))
    local failures = {}
    for _, ev in ipairs(events) do
      if ev.event == "store_error" then failures[#failures + 1] = ev end
    end
    assert.is_true(#failures >= 2)
    assert.matches("store is down", failures[1].message)
    assert.equal(1, sb:stats().token_requests)
    c:close()
  end)

  it("rejects a store without the required methods", function()
    local ok, err = pcall(sendpulse.new, { client_id = "a", client_secret = "b", token_store = { get = print } })
    assert.is_false(ok)
    assert.matches("option 'token_store' must be a store object with get, set, delete, lock and unlock", err.message)
  end)
end)
