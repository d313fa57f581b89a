-- The `res, err` idiom (issue 18, item 2): a safe call returns value, nil,
-- meta on success and nil, err on failure, so `if err then` and `if not
-- res then` are both right. The docs and the library's header comments are
-- what people copy: this spec fails on the old pattern in README.md,
-- docs/*.md and the leading comment of every Lua file, and the rest of it
-- holds every kind of safe entry point to the shape, against the sandbox.
local sys = require "support.sys"
local sandbox = require "support.sandbox_process"
local safe = require "sendpulse.safe"
local sendpulse = require "sendpulse"
local errors = require "sendpulse.errors"

-- The places of the old pattern in `text` (a doc, or a header comment):
-- { line =, text =, why = }. Two shapes:
--   local _, err = x:method(...)     the second value taken for an error, from a
--                                    method call: a raising client gives meta
--                                    there, so `if err then` fires on every success
--   local v, meta = c:...(...)       a safe client's success read as value, meta:
--                                    its meta is the third value
-- Safe clients are the names bound to require("sendpulse.safe").new (or to
-- .new of a name bound to require "sendpulse.safe") in the same text.
local function old_patterns(text)
  local modules, clients, found = {}, {}, {}
  local n = 0
  for line in (text .. "\n"):gmatch("([^\n]*)\n") do
    n = n + 1
    local m = line:match("local%s+([%w_]+)%s*=%s*require%s*%(?%s*[\"']sendpulse%.safe[\"']")
    if m then modules[m] = true end
    local c, rhs = line:match("^[%s%-]*local%s+([%w_]+)%s*=%s*(.*)$")
    if c and rhs then
      local callee = rhs:match("^assert%s*%(%s*(.*)$") or rhs
      local mod = callee:match("^([%w_]+)%.new%s*[%({]")
      if (mod and modules[mod]) or callee:find("^require%s*%(%s*[\"']sendpulse%.safe[\"']%s*%)%.new") then
        clients[c] = true
      end
    end
    local call = line:match("local%s+_%s*,%s*err%s*=%s*([^\n]*)")
    if call and not call:find("^x?pcall%s*%(") and call:find("^[%w_%.%[%]\"']+:[%w_]+%s*[%({]") then
      found[#found + 1] = { line = n, text = line, why = "local _, err = <a method call>: write local res, err" }
    end
    local who = line:match("local%s+[%w_]+%s*,%s*meta%s*=%s*([%w_]+)[%.:]")
    if who and clients[who] then
      found[#found + 1] = { line = n, text = line,
                            why = "a safe client's success read as value, meta: it is value, nil, meta" }
    end
  end
  return found
end

-- The leading comment of a Lua file: its lines up to the first that is
-- not a comment or blank.
local function header_comment(text)
  local out = {}
  for line in (text .. "\n"):gmatch("([^\n]*)\n") do
    if line:find("^%s*%-%-") then out[#out + 1] = line
    elseif line:find("%S") then break end
  end
  return table.concat(out, "\n")
end

local function files(cmd)
  local list = {}
  local p = assert(io.popen(cmd))
  for f in p:lines() do list[#list + 1] = f end
  p:close()
  return list
end

describe("the old `value, meta` pattern", function()
  it("is recognised, in both shapes, and the new one is not", function()
    local old = old_patterns([[
local safe = require "sendpulse.safe"
local c = safe.new { api_key = "k" }
local _, err = client:request("GET", "/addressbooks")
local lists, meta = c:request("GET", "/addressbooks")
local sent, meta = c.smtp:send { subject = "s" }
--   local _, err = client.email:get_mailing_lists()
]])
    assert.equal(4, #old)
    assert.same({ 3, 4, 5, 6 }, { old[1].line, old[2].line, old[3].line, old[4].line })
    local new = old_patterns([[
local safe = require "sendpulse.safe"
local c = assert(require("sendpulse.safe").new { api_key = "k" })
local r = sendpulse.new { api_key = "k" }
local lists, err, meta = c:request("GET", "/addressbooks")
local lists2, meta2 = r:request("GET", "/addressbooks")
local emails, meta = r:request("GET", "/x")
local ok, err = pcall(client.request, client, "GET", "/x")
local _, err = pcall(client.request, client, "GET", "/x")
local _, err = journal.load(path)
]])
    assert.same({}, new)
  end)

  it("is in none of README.md, docs/*.md and the Lua files' header comments", function()
    local bad = {}
    local docs = files("ls README.md docs/*.md lua/sendpulse/sandbox/README.md")
    assert.is_true(#docs > 10)
    for _, f in ipairs(docs) do
      for _, hit in ipairs(old_patterns(sys.read_file(f))) do
        bad[#bad + 1] = ("%s:%d: %s (%s)"):format(f, hit.line, hit.text, hit.why)
      end
    end
    local sources = files("find lua bin examples -name '*.lua' | sort")
    assert.is_true(#sources > 100)
    for _, f in ipairs(sources) do
      for _, hit in ipairs(old_patterns(header_comment(sys.read_file(f)))) do
        bad[#bad + 1] = ("%s (header comment) line %d: %s (%s)"):format(f, hit.line, hit.text, hit.why)
      end
    end
    assert.same({}, bad)
  end)
end)

describe("every safe entry point", function()
  local sb, c, r
  lazy_setup(function()
    sb = sandbox.start {}
    c = assert(safe.new { client_id = "sandbox-id", client_secret = "sandbox-secret", base_url = sb.url })
    r = sendpulse.new { client_id = "sandbox-id", client_secret = "sandbox-secret", base_url = sb.url }
  end)
  lazy_teardown(function()
    if c then c:close() end
    if r then r:close() end
    if sb then sb:stop() end
  end)

  -- A success: a value, nil, and meta (a table) third.
  local function success(what, value, err, meta)
    assert.is_not_nil(value, what)
    assert.is_nil(err, what .. ": the second value of a success must be nil")
    assert.is_table(meta, what .. ": meta is the third value")
    return value, meta
  end

  -- A failure: nil and an error object.
  local function failure(what, value, err)
    assert.is_nil(value, what)
    assert.is_true(errors.is_error(err), what)
    return err
  end

  it("client:request and the generated operations", function()
    local _, meta = success("request", c:request("GET", "/addressbooks"))
    assert.equal(200, meta.status)
    local list = success("create_mailing_list", c.email:create_mailing_list { bookName = "res-err" })
    success("get_mailing_lists", c.email:get_mailing_lists())
    assert.equal(213, failure("get_mailing_list_by_id", c.email:get_mailing_list_by_id { id = 999999 }).code)
    failure("request with a bad path", c:request("GET", "no-slash"))
    failure("a misspelled service", c.emails:get_mailing_lists())
    -- a helper that reshapes the answer keeps the shape
    success("get_mailing_list_by_id", c.email:get_mailing_list_by_id { id = list.id })
    -- and the raising client is unchanged: value, meta
    local lists, meta2, third = r:request("GET", "/addressbooks")
    assert.is_table(lists)
    assert.equal(200, meta2.status)
    assert.is_nil(third)
  end)

  it("the helpers: all, raw, patient, smtp:send, batches, templates", function()
    local _, meta = success("all", c.email:all("get_mailing_lists"))
    assert.is_number(meta.pages)
    success("raw", c.email:raw("get_mailing_lists"))
    success("patient", c.email:patient():get_mailing_lists())
    success("smtp:send", c.smtp:send { subject = "s", from = "shop@example.com", to = { "a@example.com" },
                                      text = "t" })
    success("get_templates", c.email:get_templates())
    local list = success("create_mailing_list", c.email:create_mailing_list { bookName = "batches" })
    success("add_emails_to_mailing_list", c.email:add_emails_to_mailing_list { id = list.id,
      emails = { "a@example.com", "b@example.com" } })
    failure("raw of no operation", c.email:raw("nope"))
    failure("all of no operation", c.email:all("nope"))
  end)

  it("each: items, and a failure as one last round of false, err", function()
    assert(c.email:create_mailing_list { bookName = "each" })
    local n = 0
    for item, err in c.email:each("get_mailing_lists") do
      assert.is_nil(err)
      assert.is_table(item)
      n = n + 1
    end
    assert.is_true(n > 0)
    local rounds = {}
    for item, err in c.email:each("nope") do rounds[#rounds + 1] = { item, err } end
    assert.equal(1, #rounds)
    assert.is_false(rounds[1][1])
    assert.is_true(errors.is_error(rounds[1][2]))
  end)
end)

describe("every safe entry point, with transport = \"multi\"", function()
  local sb
  lazy_setup(function() sb = sandbox.start {} end)
  lazy_teardown(function() if sb then sb:stop() end end)

  it("handle:result(), handle:wait() and the completion callback read res, err, meta", function()
    if _VERSION == "Lua 5.1" and not rawget(_G, "jit") then
      pending("the multi transport needs Lua 5.2+ or LuaJIT")
      return
    end
    local c = assert(safe.new { client_id = "sandbox-id", client_secret = "sandbox-secret", base_url = sb.url,
                                transport = "multi" })
    local seen
    local h = assert(c:start("GET", "/addressbooks", nil, function(handle)
      seen = { handle:result() }
    end))
    local v, err, meta = h:wait(10)
    assert.is_table(v)
    assert.is_nil(err)
    assert.equal(200, meta.status)
    assert.is_table(seen[1])
    assert.is_nil(seen[2])
    assert.equal(200, seen[3].status)
    local bad = assert(c:start("GET", "/addressbooks/999999"))
    local nothing, why = bad:wait(10)
    assert.is_nil(nothing)
    assert.equal(213, why.code)
    c:close()
  end)
end)
