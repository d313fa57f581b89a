-- A request that is not safe to repeat is never sent twice, not even by
-- libcurl itself. libcurl sends a request again, on a new connection, when
-- a reused keep-alive connection closes before any byte of the answer came
-- ("Connection died, retrying a fresh connect"), POSTs included (it rewinds
-- the body). The sandbox's drop_after fault is such a server: it reads the
-- whole request, carries it out, records it, then closes the connection
-- without a word. A POST must then reach the server once and come back as
-- an error that says it may have been carried out (maybe_sent); a GET in
-- the same spot is sent again and succeeds, as it should.
-- Over real sockets, on both libcurl transports; the cosocket transport's
-- cases are in spec/nginx_spec.lua ("token and connections").
--
-- The price of the rule is a POST sent just as the server's idle timeout
-- closes its connection: it fails too. A connection the server closed
-- before the request left must not: it is found closed and replaced (by
-- libcurl's own look at a resting connection, and by our pre-request check
-- in csrc/sp_sockets.c), the POST sent once, without an error (the last
-- describe, against the hostile server's close_after mode).
local safe = require "sendpulse.safe"
local socket = require "socket"
local sandbox = require "support.sandbox_process"
local hostile = require "support.hostile_server"

local SECRET = "sandbox-secret"

describe("no replay of a request that is not safe to repeat", function()
  local sb

  lazy_setup(function()
    sb = sandbox.start {}
  end)

  lazy_teardown(function()
    if sb then sb:stop() end
  end)

  local account, serial = nil, 0
  before_each(function()
    sb:reset()
    serial = serial + 1
    account = "replay-" .. serial
    sb:configure { accounts = { { client_id = account, client_secret = SECRET } } }
  end)

  -- retries = 2: a retry of ours would be allowed if the rules let one
  -- through, so a single POST below is the transports' doing, not for lack
  -- of retries.
  local function client(transport)
    return safe.new { client_id = account, client_secret = SECRET, base_url = sb.url,
                      transport = transport, rate_limit = false, retries = 2 }
  end

  -- The emails the sandbox sent with this subject.
  local function sends(subject)
    local n = 0
    for _, row in ipairs(sb:control("GET", "/_sandbox/smtp")) do
      if row.subject == subject then n = n + 1 end
    end
    return n
  end

  local function message(subject)
    return { subject = subject, from = { email = "shop@example.com" }, to = { "ann@example.com" },
             text = "hello" }
  end

  -- The sandbox's entries for method and path, in arrival order.
  local function arrivals(method, path)
    local list = {}
    for _, r in ipairs(sb:stats().requests) do
      if r.method == method and r.path == path then list[#list + 1] = r end
    end
    return list
  end

  -- A client whose next request goes on a reused connection: the token
  -- request and a GET went before it; returns the client and the
  -- connection that GET was on (the sandbox's number for it).
  local function warm(transport)
    local c = client(transport)
    assert(c:request("GET", "/addressbooks"))
    local gets = arrivals("GET", "/addressbooks")
    assert.equal(1, #gets)
    return c, gets[1].connection
  end

  for _, transport in ipairs { "curl", "multi" } do
    describe("transport = " .. transport, function()
      it("sends a POST once when the reused connection closes unanswered, and says it may have been done", function()
        local c, conn = warm(transport)
        sb:fault { kind = "drop_after", method = "POST", path = "^/smtp/emails$" }
        local v, err = c.smtp:send(message("Once only"))
        -- The sandbox received it and carried it out, once.
        local posts = arrivals("POST", "/smtp/emails")
        assert.equal(1, #posts)
        assert.equal(1, sends("Once only"))
        -- The case at hand: the POST went on the GET's kept-alive connection.
        assert.equal(conn, posts[1].connection)
        assert.is_nil(v)
        assert.equal("network", err.kind, tostring(err))
        assert.is_true(err.maybe_sent)
        assert.is_false(err.retryable)
        assert.equal(1, err.attempts)
        assert.matches("may have carried it out", err.message)
        assert.matches("not sent again", err.message)
        -- The client goes on: the next POST takes a new connection.
        assert.truthy(c.smtp:send(message("Next")))
        assert.equal(1, sends("Next"))
        c:close()
      end)

      it("sends a GET again in the same spot, and it succeeds", function()
        local c, conn = warm(transport)
        sb:fault { kind = "drop_after", method = "GET", path = "^/addressbooks$" }
        local books, err, meta = c:request("GET", "/addressbooks")
        assert.is_table(books, err and tostring(err))
        -- libcurl's own retry, not ours: one attempt of the pipeline.
        assert.equal(1, meta.attempts)
        local gets = arrivals("GET", "/addressbooks")
        assert.equal(3, #gets)
        assert.equal(conn, gets[2].connection)
        assert.are_not.equal(conn, gets[3].connection)
        c:close()
      end)

      it("sends a POST marked idempotent = true again, as a GET", function()
        local c = warm(transport)
        sb:fault { kind = "drop_after", method = "POST", path = "^/smtp/emails$" }
        local sent, err, meta = c.smtp:send(message("Twice is fine"), { idempotent = true })
        assert.is_table(sent, err and tostring(err))
        assert.equal(1, meta.attempts)
        assert.equal(2, #arrivals("POST", "/smtp/emails"))
        assert.equal(2, sends("Twice is fine"))
        c:close()
      end)
    end)
  end

  describe("a connection the server closed while it rested", function()
    local hs
    lazy_setup(function() hs = hostile.start() end)
    lazy_teardown(function() if hs then hs:stop() end end)

    for _, transport in ipairs { "curl", "multi" } do
      it("is replaced before a POST goes out, without an error (" .. transport .. ")", function()
        local c = assert(safe.new { api_key = "replay-key", base_url = hs:url("close_after"),
                                    transport = transport, rate_limit = false, retries = 0 })
        -- n: the request's number on its connection (close_after closes
        -- each connection right after its answer, keep-alive headers and all).
        assert.same({ n = 1 }, (assert(c:request("GET", "/x"))))
        -- The close follows the answer at once on loopback; the pause is
        -- slack for a loaded machine, so that it has arrived.
        socket.sleep(0.2)
        local v, err, meta = c:request("POST", "/x", { json = { a = 1 } })
        assert.same({ n = 1 }, v, err and tostring(err))
        assert.equal(1, meta.attempts)
        assert.equal(2, c:connections())
        c:close()
      end)
    end
  end)
end)
