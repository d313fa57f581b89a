-- A token shared through a store is refreshed before it expires by every
-- holder, not adopted again and again until the API says 401.
local sendpulse = require "sendpulse"
local sandbox = require "support.sandbox_process"
local core = require "sendpulse.core"

-- A store whose get reports the seconds left, as real stores do.
local function expiring_store()
  local data, locks = {}, {}
  local store = {}
  function store.get(_, key)
    local e = data[key]
    if not e then return nil end
    local left = e.expires - core.monotonic()
    if left <= 0 then return nil end
    return e.token, left
  end
  function store.set(_, key, token, ttl) data[key] = { token = token, expires = core.monotonic() + ttl } end
  function store.delete(_, key) data[key] = nil end
  function store.lock(_, key) if locks[key] then return false end; locks[key] = true; return true end
  function store.unlock(_, key) locks[key] = nil end
  return store
end

describe("token shared through a store #timing", function()
  local sb
  lazy_setup(function() sb = sandbox.start {} end)
  lazy_teardown(function() if sb then sb:stop() end end)

  it("is refreshed ahead of expiry by its holders: no 401 over three token lifetimes", function()
    sb:configure { accounts = { { client_id = "refresh-acct", client_secret = "s" } }, token_ttl = 2 }
    local store = expiring_store()
    local function client(margin)
      -- Different margins: separate token caches in this process, the
      -- same situation as two processes sharing the store.
      return sendpulse.new { client_id = "refresh-acct", client_secret = "s", base_url = sb.url,
                             token_store = store, refresh_margin = margin }
    end
    local a, b = client(1), client(0.9)
    local deadline = core.monotonic() + 4.5
    while core.monotonic() < deadline do
      a:request("GET", "/addressbooks")
      b:request("GET", "/addressbooks")
    end
    local stats = sb:stats()
    local unauthorized = 0
    for _, r in ipairs(stats.requests) do
      if r.status == 401 then unauthorized = unauthorized + 1 end
    end
    assert.equal(0, unauthorized)
    assert.is_true(stats.token_requests >= 3, "only " .. stats.token_requests .. " token requests")
    a:close(); b:close()
  end)
end)

describe("token shared through a store, refused by the API", function()
  local sb
  lazy_setup(function() sb = sandbox.start {} end)
  lazy_teardown(function() if sb then sb:stop() end end)

  it("is replaced once for all holders: a late holder adopts the new one", function()
    sb:configure { accounts = { { client_id = "revoke-acct", client_secret = "s" } } }
    local store = expiring_store()
    local function client(margin)
      return sendpulse.new { client_id = "revoke-acct", client_secret = "s", base_url = sb.url,
                             token_store = store, refresh_margin = margin }
    end
    local a, b = client(100), client(200)   -- two token caches, as two processes
    a:request("GET", "/addressbooks")
    b:request("GET", "/addressbooks")
    assert.equal(1, sb:stats().token_requests)
    -- The token is refused: a fetches a new one and stores it...
    sb:fault { kind = "unauthorized", path = "^/addressbooks", count = 1 }
    a:request("GET", "/addressbooks")
    assert.equal(2, sb:stats().token_requests)
    -- ...and b, refused with the old one afterwards, takes that one from the
    -- store instead of deleting it and fetching a third.
    sb:fault { kind = "unauthorized", path = "^/addressbooks", count = 1 }
    b:request("GET", "/addressbooks")
    assert.equal(2, sb:stats().token_requests)
    a:close(); b:close()
  end)
end)
