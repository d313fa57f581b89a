-- The secret and the token, whatever a server sends back (issue 10, item 8),
-- and what stays of them in the process's memory after close() (item 10).
--
-- Item 8: the hostile server's echo modes answer with an error that quotes
-- the request (the token request's body holds the client secret, every
-- other request the Bearer token), encoded the ways a proxy or an error
-- page plausibly does: in a JSON envelope, percent-encoded, Base64 and
-- base64url, in an HTML page as is, and JSON-escaped the way PHP writes it.
-- No error field, tostring(err) or hook event may hold the secret or the
-- token in any of those forms, nor a run of 10 of its characters; each
-- message must show "(hidden)" where the echo was, or the test proves
-- nothing. On the curl, multi and cosocket transports.
--
-- The secrets here are made up, and no assertion prints a message that
-- could hold one: a failure names the form that leaked, not the text.
local safe = require "sendpulse.safe"
local hostile = require "support.hostile_server"
local nginx_process = require "support.nginx_process"
local mime = require "mime"

-- '/', '+', ' ', '&', '=' and '~' make every encoding differ from the
-- secret itself.
local SECRET = "Sec/ret+with space&and=more~0123456789abcdef"
local API_KEY = "ApiKey/with+plus-0123456789abcdef~ABC=="

local function percent(s)
  return (s:gsub("[^%w%-%._~]", function(c) return ("%%%02X"):format(c:byte()) end))
end

local function json_escaped(s)
  return (s:gsub('[%c"\\]', function(c) return ("\\u%04x"):format(c:byte()) end))
end

-- The Base64 characters of s that do not depend on what comes before it
-- (at each of the three alignments), in both alphabets.
local function base64_cores(s)
  local out = {}
  for k = 0, 2 do
    local b = mime.b64(("\0"):rep(k) .. s)
    local first, last = math.ceil(8 * k / 6) + 1, math.floor(8 * (k + #s) / 6)
    local core = b:sub(first, last)
    out[#out + 1] = core
    out[#out + 1] = (core:gsub("[+/]", { ["+"] = "-", ["/"] = "_" }))
  end
  return out
end

-- name -> text: every form of s a leak could take.
local function forms_of(s)
  local pct = percent(s)
  local f = {
    raw = s, percent = pct, percent_lower = pct:gsub("%%(%x%x)", function(h) return "%" .. h:lower() end),
    form = pct:gsub("%%20", "+"), percent_twice = percent(pct), json = json_escaped(s),
    json_php = json_escaped(s):gsub("/", "\\/"),
  }
  for i, core in ipairs(base64_cores(s)) do f["base64_" .. i] = core end
  -- the token request's body carries the secret percent-encoded
  for i, core in ipairs(base64_cores(pct)) do f["base64_percent_" .. i] = core end
  return f
end

-- Raises naming the form of `secret` (or the 10-character run of it) that
-- `text` holds; the text itself is never shown.
local function assert_clean(text, secret, where)
  if type(text) ~= "string" then return end
  for name, form in pairs(forms_of(secret)) do
    assert(not text:find(form, 1, true), ("%s holds the secret's %s form"):format(where, name))
  end
  for _, s in ipairs { secret, percent(secret) } do
    for i = 1, #s - 9 do
      assert(not text:find(s:sub(i, i + 9), 1, true), ("%s holds 10 characters of the secret"):format(where))
    end
  end
end

-- Every string in v (a table of tables), as "field: text" pairs.
local function strings_in(v, prefix, out)
  out = out or {}
  if type(v) == "string" then
    out[#out + 1] = { prefix, v }
  elseif type(v) == "table" then
    for k, x in pairs(v) do strings_in(x, prefix .. "." .. tostring(k), out) end
  end
  return out
end

local hs, ng

-- One GET /x of a fresh client in `transport`; returns the error's fields
-- (as plain strings, tostring included) and the hook's events.
local function failed_call(transport, opts)
  local o = { retries = 0 }
  for k, v in pairs(opts) do o[k] = v end
  if transport == "cosocket" then
    o.hook = true
    local report = ng:call("/call", { client = o, method = "GET", path = "/x" })
    assert.is_nil(report.new_error)
    local err = report.results[1].err
    assert.is_table(err, "the call succeeded")
    assert.is_nil(err.raised, "a raw error was raised")
    return err, report.events
  end
  local events = {}
  o.transport = transport
  o.hook = function(e) events[#events + 1] = e end
  local client = assert(safe.new(o))
  local value, err = client:request("GET", "/x")
  client:close()
  assert.is_nil(value, "the call succeeded")
  local fields = {}
  for k, v in pairs(err) do fields[k] = v end
  fields.text = tostring(err)
  return fields, events
end

local accounts = 0

describe("secrets echoed back (item 8)", function()
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

      for _, how in ipairs { "json", "pct", "base64", "base64url", "html", "htmljson", "fields", "cut" } do
        it(("keeps the client secret out of a token error that quotes the request (%s)"):format(how), function()
          accounts = accounts + 1
          local err, events = failed_call(transport, { client_id = "echo-" .. accounts, client_secret = SECRET,
                                                       base_url = hs:url("echo_request", how) })
          assert.truthy(err.message:find("(hidden)", 1, true), "nothing was hidden: the echo did not arrive")
          for _, pair in ipairs(strings_in(err, "err")) do assert_clean(pair[2], SECRET, pair[1]) end
          for _, pair in ipairs(strings_in(events, "events")) do assert_clean(pair[2], SECRET, pair[1]) end
        end)

        it(("keeps the fetched token out of an error that quotes the request (%s)"):format(how), function()
          accounts = accounts + 1
          local err, events = failed_call(transport, { client_id = "echo-" .. accounts, client_secret = SECRET,
                                                       base_url = hs:url("token_then_echo", how) })
          assert.truthy(err.message:find("(hidden)", 1, true), "nothing was hidden: the echo did not arrive")
          for _, pair in ipairs(strings_in(err, "err")) do
            assert_clean(pair[2], hostile.ECHO_TOKEN, pair[1])
            assert_clean(pair[2], SECRET, pair[1])
          end
          for _, pair in ipairs(strings_in(events, "events")) do assert_clean(pair[2], hostile.ECHO_TOKEN, pair[1]) end
        end)

        it(("keeps the API key out of an error that quotes the request (%s)"):format(how), function()
          local err = failed_call(transport, { api_key = API_KEY, base_url = hs:url("echo_request", how) })
          assert.truthy(err.message:find("(hidden)", 1, true), "nothing was hidden: the echo did not arrive")
          for _, pair in ipairs(strings_in(err, "err")) do assert_clean(pair[2], API_KEY, pair[1]) end
        end)
      end
    end)
  end

  it("hides the token in a store's failure message", function()
    local events = {}
    local store = {
      get = function() return nil end,
      -- a store that fails quoting what it was given
      set = function(_, _, token) error("cannot store " .. token .. " now") end,
      delete = function() end, lock = function() return true end, unlock = function() end,
    }
    accounts = accounts + 1
    local client = assert(safe.new { client_id = "store-echo-" .. accounts, client_secret = SECRET,
      base_url = hs:url("token_given", "tokenXYZ-fromthestore-0123456789"), retries = 0, token_store = store,
      hook = function(e) events[#events + 1] = e end })
    assert(client:request("GET", "/a"))
    client:close()
    local seen = false
    for _, e in ipairs(events) do
      if e.event == "store_error" and e.operation == "set" then
        seen = true
        assert.truthy(e.message:find("cannot store (hidden) now", 1, true), "the message was not scrubbed")
        assert_clean(e.message, ("tokenXYZ-fromthestore-0123456789"):reverse(), "store_error.message")
      end
    end
    assert.is_true(seen, "no store_error event for set")
  end)
end)

-- Item 10. A child process (spec/support/secret_child.lua) makes a client,
-- makes 30 calls (its token fetched from the hostile server), then closes
-- it and collects its garbage; this process counts the copies of the
-- secret and the token in the child's memory at both points
-- (spec/support/memscan.lua reads /proc/PID/mem).
--
-- libcurl frees the buffers it builds each request in (the Bearer line; a
-- token request's body, which holds the secret) without zeroing them, and
-- the library cannot change that (docs/security.md, "Secrets in memory").
-- So the child runs twice: as it is, for the figures (printed), and with
-- spec/c/wipe_libcurl.c preloaded, which zeroes what libcurl frees and
-- nothing else: what remains then is the library's and the Lua runtime's.
-- That must be at most the Lua strings no library can wipe: the caller's
-- secret string and the token request's body (2 of the secret), the token
-- answer and its decoded access_token (2 of the token), whatever the number
-- of calls. Before this work 3 to 23 copies of the token remained after
-- 30 calls with libcurl's frees zeroed (8 and 23 on Lua 5.4, curl and
-- multi; 5 and 3 on LuaJIT): the library's C buffers (the request header
-- lists, the answer buffer, curl's copy of a multi request's body) were
-- freed as they were, and every call made a Lua string of the token and
-- another of its header line.
describe("copies of the secret and the token in memory (item 10)", function()
  local memscan = require "support.memscan"
  local LUA_LEFT = 2   -- see above
  local CALLS = 30
  local PRELOAD = "build/ctest/wipe_libcurl.so"
  local SECRET_10 = "MemorySecret-6b1d0f2a9c7e4b8d0a1f"
  local TOKEN_10 = "MemoryToken-3f9a7c1e5b2d8f0a4c6e-tail"

  lazy_setup(function() hs = hostile.start() end)
  lazy_teardown(function() if hs then hs:stop() end end)

  local function interpreter()
    if rawget(_G, "jit") then return "luajit" end
    return "lua" .. _VERSION:match("%d+%.%d+")
  end

  -- Runs the child; returns the counts { open = {secret =, token =},
  -- closed = {...} }.
  -- failing: every token request fails (a mode the server does not know
  -- answers 404), so each call sends one.
  local function scan_child(transport, preload, failing)
    local fifo = os.tmpname()
    os.remove(fifo)
    assert(os.execute("mkfifo '" .. fifo .. "'"))
    local base = failing and hs:url("no_such_mode") or hs:url("token_given", TOKEN_10:reverse())
    local cmd = ("echo $$; SP_CALLS=%d SP_SECRET='%s' SP_BASE='%s' SP_TRANSPORT=%s SP_GO='%s' SP_FAILING=%s "
      .. "LUA_PATH='lua/?.lua;lua/?/init.lua;;' %s exec %s spec/support/secret_child.lua")
      :format(CALLS, SECRET_10, base, transport, fifo, failing and "1" or "0",
              preload and ("LD_PRELOAD=" .. preload) or "", interpreter())
    local child = assert(io.popen(cmd, "r"))
    local pid = child:read("*l")
    local go = assert(io.open(fifo, "w"))
    go:setvbuf("no")
    local counts, failure = {}, nil
    for _, phase in ipairs { "open", "closed" } do
      local said = child:read("*l")
      if said ~= phase then
        failure = "the child said " .. tostring(said) .. " instead of " .. phase
        break
      end
      counts[phase] = memscan.count(pid, { secret = SECRET_10, token = TOKEN_10 })
      go:write("\n")
    end
    go:close()
    child:close()
    os.remove(fifo)
    if failure then error(failure) end
    return counts
  end

  for _, transport in ipairs { "curl", "multi" } do
    it(("leaves no copy of its own after close(), only Lua's strings (%s)"):format(transport), function()
      assert(io.open(PRELOAD), "missing " .. PRELOAD .. " (make " .. PRELOAD .. ")"):close()
      local plain = scan_child(transport)
      local without_libcurl = scan_child(transport, PRELOAD)
      print(("\n  %s, %s, %d calls: after close, %d copies of the secret and %d of the token"
        .. " (%d and %d with libcurl's frees zeroed; while open: %d and %d)")
        :format(interpreter(), transport, CALLS, plain.closed.secret, plain.closed.token,
                without_libcurl.closed.secret, without_libcurl.closed.token,
                without_libcurl.open.secret, without_libcurl.open.token))
      -- while open the C auth object holds both: the scan sees the memory
      assert.is_true(without_libcurl.open.secret >= 1 and without_libcurl.open.token >= 1, "the scan found nothing")
      assert.is_true(without_libcurl.closed.token <= LUA_LEFT,
        ("%d copies of the token after close()"):format(without_libcurl.closed.token))
      assert.is_true(without_libcurl.closed.secret <= LUA_LEFT,
        ("%d copies of the secret after close()"):format(without_libcurl.closed.secret))
    end)

    it(("leaves as few after %d failed token requests as after one (%s)"):format(CALLS, transport), function()
      assert(io.open(PRELOAD), "missing " .. PRELOAD .. " (make " .. PRELOAD .. ")"):close()
      local counts = scan_child(transport, PRELOAD, true)
      print(("\n  %s, %s, %d failed token requests: after close, %d copies of the secret (while open: %d)")
        :format(interpreter(), transport, CALLS, counts.closed.secret, counts.open.secret))
      assert.is_true(counts.open.secret >= 1, "the scan found nothing")
      -- (one form body per client: a new one per request left 17 to 31)
      assert.is_true(counts.closed.secret <= LUA_LEFT + 1,
        ("%d copies of the secret after close()"):format(counts.closed.secret))
    end)
  end
end)
