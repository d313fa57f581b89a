-- The three fields every failure carries, applied one way everywhere (the
-- table in docs/errors.md): maybe_sent (the server may have acted),
-- retryable (repeating can succeed and cannot do harm), retry_after (when a
-- repeat can succeed). And a failure says once what failed, for which call.
-- Against the sandbox and a closed port, over real sockets.
local safe = require "sendpulse.safe"
local sandbox = require "support.sandbox_process"
local socket = require "socket"

local b64 = require("sendpulse.core").base64_encode
local SECRET = "fields-secret"

-- A loopback port nothing listens on.
local function dead_port()
  local server = assert(socket.bind("127.0.0.1", 0))
  local _, port = server:getsockname()
  server:close()
  return port
end

local function count(text, plain)
  local n, at = 0, 1
  while true do
    local i = text:find(plain, at, true)
    if not i then return n end
    n, at = n + 1, i + 1
  end
end

describe("error fields", function()
  local sb
  lazy_setup(function() sb = sandbox.start {} end)
  lazy_teardown(function() if sb then sb:stop() end end)

  local account, serial = nil, 0
  before_each(function()
    sb:reset()
    serial = serial + 1
    account = "fields-" .. serial
    sb:configure { accounts = { { client_id = account, client_secret = SECRET } } }
  end)

  local function client(extra)
    local opts = { client_id = account, client_secret = SECRET, base_url = sb.url,
                   retries = 2, retry_delay = 0.01 }
    for k, v in pairs(extra or {}) do opts[k] = v end
    local c = safe.new(opts)
    assert(c:request("GET", "/addressbooks"))      -- the token, and a warm connection
    return c
  end

  -- kind, maybe_sent, retryable, retry_after, attempts of err.
  local function fields(err)
    return { err.kind, err.maybe_sent, err.retryable, err.retry_after or false, err.attempts }
  end

  it("a POST that timed out after it was sent: maybe sent, not retryable, not replayed", function()
    local c = client { timeout = 0.4 }
    sb:fault { kind = "delay", delay = 1, method = "POST", path = "^/addressbooks$", count = -1 }
    local _, err = c:request("POST", "/addressbooks", { json = { bookName = "x" } })
    assert.same({ "timeout", true, false, false, 1 }, fields(err))
    -- and its message says why it was not repeated
    assert.matches("(it may have been carried out, so it was not repeated: a POST is not safe to send twice;"
      .. " check before sending it again)", err.message, 1, true)
    c:close()
  end)

  it("a GET that timed out: maybe sent, and retryable (retried when attempt_timeout leaves time)", function()
    local c = client { timeout = 2 }
    sb:fault { kind = "delay", delay = 1, path = "^/addressbooks$", count = -1 }
    local _, err = c:request("GET", "/addressbooks", { timeout = 0.3 })
    assert.same({ "timeout", true, true, false, 1 }, fields(err))
    -- Each attempt at most 0.3 s of the 1.5: the retries happen.
    local _, err2 = c:request("GET", "/addressbooks", { timeout = 1.5, attempt_timeout = 0.3 })
    assert.same({ "timeout", true, true, false, 3 }, fields(err2))
    -- A POST is not replayed, attempt_timeout or not.
    local _, err3 = c:request("POST", "/addressbooks", { json = { bookName = "x" }, timeout = 1.5,
                                                        attempt_timeout = 0.3 })
    assert.same({ "timeout", true, false, false, 1 }, fields(err3))
    c:close()
  end)

  it("HTTP 5xx: maybe sent; retryable for a GET, not for a POST", function()
    local c = client()
    sb:fault { kind = "html500", path = "^/addressbooks$", count = -1 }
    local _, get_err = c:request("GET", "/addressbooks")
    assert.same({ "api", true, true, false, 3 }, fields(get_err))
    local _, post_err = c:request("POST", "/addressbooks", { json = { bookName = "x" } })
    assert.same({ "api", true, false, false, 1 }, fields(post_err))
    local _, marked = c:request("POST", "/addressbooks", { json = { bookName = "x" }, idempotent = true })
    assert.same({ "api", true, true, false, 3 }, fields(marked))
    c:close()
  end)

  it("2020202020: not acted on, retryable after 1 s (a POST too)", function()
    local c = client { retries = 0 }
    sb:fault { kind = "status", status = 429, method = "POST", count = 1,
      body = '{"message":"More than 10 requests per second","error_code":2020202020}' }
    local _, err = c:request("POST", "/addressbooks", { json = { bookName = "x" } })
    assert.same({ "rate_limit", false, true, 1, 1 }, fields(err))
    c:close()
  end)

  it("a plain 429 (a plan quota's): a rate limit, retryable after 1 s or what its Retry-After says", function()
    local c = client { retries = 0 }
    for _, case in ipairs {
      { body = '{"message":"Too many requests"}', after = 1 },
      { body = "", after = 1 },
      { body = '"slow down"', after = 1 },
      { body = '{"message":"Too many requests"}', headers = { ["Retry-After"] = "3" }, after = 3 },
      { body = '{"message":"Too many requests"}', headers = { ["Retry-After"] = "Fri, 31 Dec 1999 23:59:59 GMT" },
        after = 1 },
    } do
      sb:fault { kind = "status", status = 429, method = "POST", count = 1, body = case.body,
        headers = case.headers }
      local _, err = c:request("POST", "/addressbooks", { json = { bookName = "x" } })
      assert.same({ "rate_limit", false, true, case.after, 1 }, fields(err))
    end
    c:close()
    -- and the library waits that second before it tries again (not its
    -- 0.3 s backoff): the two requests are at least a second apart
    c = client { retries = 1, retry_delay = 0.01 }
    sb:reset()
    sb:configure { accounts = { { client_id = account, client_secret = SECRET } } }
    assert(c:request("GET", "/addressbooks"))
    sb:fault { kind = "status", status = 429, path = "^/addressbooks$", count = 1, body = '{"message":"quota"}' }
    local started = socket.gettime()
    assert(c:request("GET", "/addressbooks"))
    -- (a lower bound: a loaded machine only makes it longer; 0.05 s for
    -- the two clocks, the library's monotonic one and this wall clock)
    assert.is_true(socket.gettime() - started >= 0.95, "tried again before the second was over")
    c:close()
  end)

  it("711: not acted on, retryable after 900 s, which the library leaves to the caller", function()
    local c = client()
    local list = assert(c:request("POST", "/addressbooks", { json = { bookName = "l" } }))
    assert(c:request("POST", "/addressbooks/" .. list.id .. "/emails", { json = { emails = { "a@example.com" } } }))
    local campaign = { json = { sender_name = "S", sender_email = "s@example.com", subject = "x",
                                list_id = list.id, body = b64("<p>x</p>") } }
    assert(c:request("POST", "/campaigns", campaign))
    local _, err = c:request("POST", "/campaigns", campaign)
    assert.equal(711, err.code)
    assert.same({ "rate_limit", false, true, 900, 1 }, fields(err))
    c:close()
  end)

  it("an API refusal (4xx): not acted on, not retryable; a 2xx that is not JSON: acted on", function()
    local c = client()
    local _, err = c:request("GET", "/addressbooks/999999")
    assert.same({ "api", false, false, false, 1 }, fields(err))
    sb:fault { kind = "malformed", path = "^/addressbooks$", count = 1 }
    local _, bad = c:request("GET", "/addressbooks")
    assert.same({ "decode", true, false, false, 1 }, fields(bad))
    c:close()
  end)

  it("a refused connection: never sent, retryable whatever the method", function()
    local c = safe.new { api_key = "k", base_url = "http://127.0.0.1:" .. dead_port(), retries = 0 }
    local _, err = c:request("POST", "/addressbooks", { json = { bookName = "x" } })
    assert.same({ "network", false, true, false, 1 }, fields(err))
    c:close()
  end)

  it("an argument error: never sent, not retryable", function()
    local c = client()
    local _, err = c:request("GET", "no-slash")
    assert.same({ "argument", false, false, false }, { err.kind, err.maybe_sent, err.retryable,
                                                       err.retry_after or false })
    c:close()
  end)

  it("says once what failed, for the call asked for, and that it was while getting the token", function()
    local port = dead_port()
    local c = safe.new { client_id = "id", client_secret = "secret", retries = 0,
                         base_url = "http://127.0.0.1:" .. port }
    local _, err = c:request("GET", "/addressbooks")
    local text = tostring(err)
    assert.equal("GET", err.method)
    assert.equal("/addressbooks", err.path)
    assert.equal("token", err.stage)
    assert.same({ "network", false, true }, { err.kind, err.maybe_sent, err.retryable })
    assert.matches("^sendpulse: network error on GET /addressbooks: getting an OAuth token failed "
      .. "%(POST /oauth/access_token%): ", text)
    -- curl's account, once: not "Couldn't connect to server: ... Couldn't connect to server"
    assert.equal(1, count(text, "onnect to server"), text)
    assert.equal(1, count(text, tostring(port)), text)
    assert.equal(1, count(text, "/oauth/access_token"), text)
    c:close()
  end)
end)
