-- One meaning per SendPulse error code (issue 18, item 1): sendpulse.errors'
-- table is the only place a code is described, and every classification
-- reads it: the kind an answer gets (sendpulse.wire.response), whether and
-- after how long the client tries again (sendpulse.wire.retry.next_wait),
-- what service:patient waits out, the codes the sandbox answers with. An
-- answer's Retry-After wins over any code's own wait. Against the sandbox,
-- over real sockets, where a server is in the question.
local errors = require "sendpulse.errors"
local response = require "sendpulse.wire.response"
local retry = require "sendpulse.wire.retry"
local patience = require "sendpulse.helpers.patience"
local safe = require "sendpulse.safe"
local sandbox = require "support.sandbox_process"
local sys = require "support.sys"
local socket = require "socket"

local SECRET = "codes-secret"

-- The error an answer with `code` in SendPulse's envelope becomes, settled
-- as the pipeline settles it (sent, answered).
local function answered(status, code, method, headers)
  local _, err = response.classify(status, ('{"message":"m","error_code":%d}'):format(code),
    headers or { ["content-type"] = "application/json" }, { method = method, path = "/x" })
  return retry.settle(err, method, false, true)
end

-- cfg as a client's with these retries, and a retry_max_delay that lets
-- every wait of the table through.
local CFG = { retries = 1, retry_delay = 0.01, retry_max_delay = errors.MAX_WAIT }

describe("sendpulse.errors' table", function()
  it("every code with a wait is a retryable error, waited for by next_wait, whatever the method", function()
    local n = 0
    for code, entry in pairs(errors.codes) do
      if entry.wait then
        for _, method in ipairs { "GET", "POST" } do
          local err = answered(400, code, method)
          assert.is_true(err.retryable, code .. " " .. method)
          assert.is_false(err.maybe_sent, code .. " " .. method)
          assert.equal(entry.kind, err.kind, code)
          assert.equal(entry.wait, err.retry_after, code)
          local d = retry.next_wait(err, 1, CFG, nil)
          assert.is_number(d, code .. " " .. method)
          assert.is_true(d >= entry.wait, code)
          n = n + 1
        end
      end
    end
    assert.is_true(n >= 8, "the table's waiting codes (711, 791, 1004, 2020202020), twice")
  end)

  it("a code without a wait keeps its kind and is not tried again", function()
    for code, entry in pairs(errors.codes) do
      if not entry.wait and not entry.retryable then
        local err = answered(400, code, "GET")
        assert.is_false(err.retryable, code)
        assert.is_nil(retry.next_wait(err, 1, CFG, nil), code)
        assert.equal(entry.hint, err.description, code)
      end
    end
  end)

  it("define refuses an entry that breaks a rule, naming the field", function()
    local function refused(entry, pattern)
      local ok, err = pcall(errors.define, entry)
      assert.is_false(ok)
      assert.is_true(errors.is_error(err))
      assert.equal("argument", err.kind)
      assert.matches(pattern, err.message)
    end
    local good = { code = 4243, name = "x", kind = "api", hint = "h" }
    local function but(k, v)
      local e = {}
      for key, value in pairs(good) do e[key] = value end
      e[k] = v
      return e
    end
    refused(but("code", -1), "field 'code'")
    refused(but("code", 1.5), "field 'code'")
    refused(but("name", "Not Lower"), "field 'name'")
    refused(but("kind", "network"), "field 'kind'")
    refused(but("wait", 86401), "field 'wait'")
    refused(but("hint", ""), "field 'hint'")
    local waits_but_not_retryable = but("wait", 5)
    waits_but_not_retryable.retryable = false
    refused(waits_but_not_retryable, "has a wait, so it is retryable")
    assert.is_nil(errors.codes[4243])
  end)

  it("service:patient waits out the table's waiting codes unless told otherwise", function()
    errors.define { code = 4244, name = "spec_patient_wait", kind = "rate_limit", wait = 2, hint = "h" }
    finally(function() errors.codes[4244] = nil end)
    local s = assert(patience.settings({ _client = {} }, nil))
    for code, entry in pairs(errors.codes) do
      assert.equal(entry.wait ~= nil or nil, s.codes[code], code)
    end
  end)
end)

describe("the table against the sandbox", function()
  local sb
  lazy_setup(function() sb = sandbox.start {} end)
  lazy_teardown(function() if sb then sb:stop() end end)

  local account, serial = nil, 0
  before_each(function()
    sb:reset()
    serial = serial + 1
    account = "codes-" .. serial
    sb:configure { accounts = { { client_id = account, client_secret = SECRET } } }
  end)

  local function client(extra)
    local opts = { client_id = account, client_secret = SECRET, base_url = sb.url, retry_delay = 0.01 }
    for k, v in pairs(extra or {}) do opts[k] = v end
    local c = assert(safe.new(opts))
    assert(c:request("GET", "/addressbooks"))      -- the token, and a warm connection
    return c
  end

  local function requests_to(path)
    local n = 0
    for _, r in ipairs(sb:stats().requests) do if r.path == path then n = n + 1 end end
    return n
  end

  it("a code given a wait in the table alone is retried, a POST too", function()
    errors.define { code = 4242, name = "spec_new_wait", kind = "api", wait = 1,
                    hint = "a code SendPulse started sending" }
    finally(function() errors.codes[4242] = nil end)
    assert.is_true(errors.codes[4242].retryable)
    local c = client { retries = 1 }
    sb:fault { kind = "status", status = 400, method = "POST", path = "^/addressbooks$", count = 1,
      body = '{"message":"come back in a second","error_code":4242}' }
    local before = requests_to("/addressbooks")
    local started = socket.gettime()
    local book, err = c:request("POST", "/addressbooks", { json = { bookName = "again" } })
    assert.is_table(book, tostring(err))
    assert.equal(before + 2, requests_to("/addressbooks"), "the refusal, then the call again")
    -- the code's wait, not the 0.01 s backoff (slack: the clock's resolution)
    assert.is_true(socket.gettime() - started >= 0.95, "tried again before the code's second was over")
    c:close()
  end)

  it("a 429 with 2020202020 and Retry-After: 30 waits 30 s, not the code's 1 s", function()
    local c = client { retries = 2 }
    sb:fault { kind = "status", status = 429, path = "^/addressbooks$", count = 1,
      headers = { ["Retry-After"] = "30" },
      body = '{"message":"More than 10 requests per second","error_code":2020202020}' }
    local before = requests_to("/addressbooks")
    local value, err = c:request("GET", "/addressbooks")
    assert.is_nil(value)
    assert.equal("rate_limit", err.kind)
    assert.equal(2020202020, err.code)
    assert.equal(30, err.retry_after)
    assert.is_true(err.retryable)
    assert.matches("(wait 30 s)", err.message, 1, true)
    assert.is_nil(err.message:find("wait 1 s", 1, true), err.message)
    -- 30 s is past retry_max_delay (8 s): the caller's to wait, not tried again
    assert.matches("not tried again: a wait of 30 s is longer than retry_max_delay, 8 s", err.message, 1, true)
    assert.equal(before + 1, requests_to("/addressbooks"))
    c:close()
  end)

  it("a Retry-After shorter than the code's wait wins too: 711 with Retry-After: 1 is tried again", function()
    local c = client { retries = 1 }
    sb:fault { kind = "status", status = 400, method = "GET", path = "^/addressbooks$", count = 1,
      headers = { ["Retry-After"] = "1" },
      body = '{"message":"Wait 15 minutes","error_code":711}' }
    local before = requests_to("/addressbooks")
    local lists, err = c:request("GET", "/addressbooks")
    assert.is_table(lists, tostring(err))
    assert.equal(before + 2, requests_to("/addressbooks"))
    c:close()
  end)

  it("the sandbox answers with the table's codes, and waits what the table says", function()
    local campaigns = require "sendpulse.sandbox.routes.campaigns"
    local senders = require "sendpulse.sandbox.routes.senders"
    assert.equal(errors.codes[711].wait, campaigns.LIST_WAIT)
    assert.equal(errors.codes[791].wait, campaigns.HOUR)
    assert.equal(errors.codes[1004].wait, senders.CODE_WAIT)
    -- every code a route answers with (error_code beside a status it does
    -- not merely repeat) is one the table knows
    local reply = require "sendpulse.sandbox.reply"
    local ok, err = pcall(reply.error, 400, "no such code", 4245)
    assert.is_false(ok)
    assert.matches("4245 is not in sendpulse.errors", tostring(err), 1, true)
    local files = io.popen("find lua/sendpulse/sandbox -name '*.lua'")
    for file in files:lines() do
      local text = sys.read_file(file)
      for status, code in text:gmatch("reply%.[a-z]+%((%d+),[^\n]-,%s*(%d+)%)") do
        if status ~= code then
          assert.is_table(errors.codes[tonumber(code)], file .. " answers " .. code .. ", not in the table")
        end
      end
    end
    files:close()
  end)
end)
