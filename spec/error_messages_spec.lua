-- Every failure of a generated method or a helper is an error object with
-- the right message (issue 11, item 4), over real sockets to the sandbox:
-- a misspelled operation names the nearest ones (it raised Lua's "attempt to
-- call a nil value"), a call with '.' says to use ':' (it raised a string),
-- a safe client's each() over no such operation gives the loop the error
-- ("attempt to call a nil value (for iterator)" before), and an API error
-- keeps the server's message and field errors, saying the status once
-- ("api error on POST ...: HTTP 422 [HTTP 422]" before).
local sendpulse = require "sendpulse"
local safe = require "sendpulse.safe"
local sandbox = require "support.sandbox_process"

local function count(s, pattern)
  local _, n = s:gsub(pattern, "")
  return n
end

describe("error messages", function()
  local sb

  lazy_setup(function() sb = sandbox.start {} end)
  lazy_teardown(function() if sb then sb:stop() end end)
  before_each(function() sb:reset() end)

  local function client(form, extra)
    local opts = { client_id = "sandbox-id", client_secret = "sandbox-secret", base_url = sb.url, retries = 0 }
    for k, v in pairs(extra or {}) do opts[k] = v end
    return assert((form == "safe" and safe or sendpulse).new(opts))
  end

  local function requests()
    return #sb:stats().requests
  end

  -- Calls fn(...) with a client of each form; returns the error object each
  -- reported (raised, or the second value of a safe client).
  local function both(fn)
    local out = {}
    for _, form in ipairs { "raise", "safe" } do
      local c = client(form)
      local ok, v, err = pcall(fn, c)
      if form == "raise" then
        assert.is_false(ok, "a raising client raises")
        err = v
      else
        assert.is_true(ok, tostring(v))
        assert.is_nil(v)
      end
      assert.is_true(sendpulse.is_error(err), "an error object, got " .. tostring(err))
      out[form] = err
      c:close()
    end
    return out
  end

  describe("a misspelled operation", function()
    it("is an argument error naming the service and the nearest operations, before any I/O", function()
      local errs = both(function(c) return c.email:get_mailing_list {} end)
      for _, err in pairs(errs) do
        assert.equal("argument", err.kind)
        assert.equal("email: no operation 'get_mailing_list' (nearest: get_mailing_lists,"
          .. " get_mailing_list_by_id, get_mailing_list_variables)", err.message)
      end
      local err = both(function(c) return c.whatsapp:send_template { bot_id = "b" } end).safe
      assert.equal("whatsapp: no operation 'send_template' (nearest: send_template_by_phone,"
        .. " send_template_campaign, send_template_to_contact)", err.message)
      err = both(function(c) return c.crm:xyzzy() end).safe
      assert.equal("crm: no operation 'xyzzy'", err.message)
      assert.equal(0, requests())
    end)

    it("still leaves a name that exists alone, helpers included", function()
      local c = client()
      assert.is_function(c.email.each)
      assert.is_table(c.email:get_mailing_lists())
      c:close()
    end)
  end)

  describe("a call with '.' instead of ':'", function()
    it("is an argument error saying to use ':', reported the client's way", function()
      local errs = both(function(c) return c.email.get_mailing_lists { limit = 1 } end)
      for _, err in pairs(errs) do
        assert.equal("argument", err.kind)
        assert.equal("email:get_mailing_lists: call it with ':', not '.': client.email:get_mailing_lists(...)",
          err.message)
      end
      local err = both(function(c) return c.smtp.send { subject = "s" } end).safe
      assert.equal("smtp:send: call it with ':', not '.': client.smtp:send(...)", err.message)
      err = both(function(c) return c.email:patient().create_mailing_list { bookName = "x" } end).safe
      assert.matches("call it with ':'", err.message, 1, true)
      assert.equal(0, requests())
    end)

    it("on the client's own methods, or on nil, raises an argument error object, even for a safe client", function()
      for _, form in ipairs { "raise", "safe" } do
        local c = client(form)
        for name, call in pairs {
          request = function() return c.request("GET", "/addressbooks") end,
          close = function() return c.close() end,
          quota = function() return c.quota("GET") end,
          token_expires_in = function() return c.token_expires_in() end,
          connections = function() return c.connections() end,
          async = function() return c.async() end,
        } do
          local ok, err = pcall(call)
          assert.is_false(ok, name)
          assert.is_true(sendpulse.is_error(err), name .. ": " .. tostring(err))
          assert.equal("argument", err.kind)
          assert.equal(("client:%s: call it on a client with ':', not '.': client:%s(...)"):format(name, name),
            err.message)
        end
        local ok, err = pcall(c.request, nil, "GET", "/addressbooks")
        assert.is_false(ok)
        assert.equal("argument", err.kind)
        c:close()
      end
      assert.equal(0, requests())
    end)

    it("on an async view is an argument error, never a call without its arguments", function()
      local c = client("safe", { transport = "multi" })
      local view = c:async()
      local h, err = view.email.get_mailing_lists { limit = 1 }
      assert.is_nil(h)
      assert.equal("client:async().email:get_mailing_lists: call it with ':', not '.':"
        .. " client:async().email:get_mailing_lists(...)", err.message)
      h, err = view.request("GET", "/addressbooks")
      assert.is_nil(h)
      assert.equal("client:async():request: call it with ':', not '.': client:async():request(...)", err.message)
      -- with ':' both run
      h = assert(view.email:get_mailing_lists { limit = 1 })
      while not h:done() do c:poll(0.01) end
      assert.is_table(h:result())
      c:close()
    end)

    it("comes out of a safe client's each() as the loop's error, not Lua's", function()
      local c = client("safe")
      local seen = {}
      for item, err in c.email.each("get_mailing_lists") do seen[#seen + 1] = { item, err } end
      assert.equal(1, #seen)
      assert.is_false(seen[1][1])
      assert.equal("email:each: call it with ':', not '.': client.email:each(...)", seen[1][2].message)
      c:close()
    end)
  end)

  describe("each over an operation that does not exist", function()
    it("gives a safe client's loop the real error", function()
      local c = client("safe")
      local seen = {}
      for item, err in c.email:each("nope", {}) do seen[#seen + 1] = { item, err } end
      assert.equal(1, #seen)
      assert.is_false(seen[1][1])
      assert.equal("argument", seen[1][2].kind)
      assert.equal("email:each: no operation 'nope' in service 'email'", seen[1][2].message)
      -- the error is also each()'s second value, for code that checks before looping
      local iter, err = c.email:each("get_mailing_list")
      assert.is_function(iter)
      assert.equal("email:each: no operation 'get_mailing_list' in service 'email' (nearest: get_mailing_lists,"
        .. " get_mailing_list_by_id, get_mailing_list_variables)", err.message)
      c:close()
    end)

    it("raises it from a raising client's each()", function()
      local c = client()
      local ok, err = pcall(c.email.each, c.email, "nope", {})
      assert.is_false(ok)
      assert.is_true(sendpulse.is_error(err))
      assert.equal("email:each: no operation 'nope' in service 'email'", err.message)
      c:close()
    end)
  end)

  describe("an API error", function()
    local function fail_with(status, body)
      sb:fault { kind = "status", status = status, body = body, path = "^/addressbooks$" }
      local c = client("safe")
      local v, err = c.email:create_mailing_list { bookName = "x" }
      c:close()
      assert.is_nil(v)
      return err
    end

    it("keeps the server's message and every field error, on the object too", function()
      local err = fail_with(422, '{"message":"The given data was invalid.","errors":{'
        .. '"template.language.code":["The code field is required."],"phone":["The phone field is required.",'
        .. '"The phone must be digits."]}}')
      assert.equal("api", err.kind)
      assert.equal(422, err.status)
      assert.equal("The given data was invalid. (phone: The phone field is required.; The phone must be digits.;"
        .. " template.language.code: The code field is required.)", err.message)
      assert.same({
        { field = "phone", message = "The phone field is required.; The phone must be digits." },
        { field = "template.language.code", message = "The code field is required." },
      }, err.field_errors)
      local line = tostring(err)
      assert.equal(1, count(line, "422"), line)
      assert.matches("%[HTTP 422%]$", line)
    end)

    it("reads the pop-up API's errors and a validating proxy's problem", function()
      local err = fail_with(400, '{"result":false,"errors":{"url":"Invalid URL \'bad_url\'",'
        .. '"name.length.max":"Too long, max length - {{255}}"}}')
      assert.equal("name.length.max: Too long, max length - {{255}}; url: Invalid URL 'bad_url'", err.message)
      -- an RFC 7807 problem, as prism (a mock that validates against the files) answers
      err = fail_with(422, '{"type":"https://stoplight.io/prism/errors#UNPROCESSABLE_ENTITY",'
        .. '"title":"Invalid request","status":422,"detail":"Your request is not valid.",'
        .. '"validation":[{"location":["body","template","components"],"severity":"Error","code":"type",'
        .. '"message":"must be array"}]}')
      assert.equal("Invalid request: Your request is not valid. (body.template.components: must be array)",
        err.message)
      assert.equal("sendpulse: api error on POST /addressbooks: Invalid request: Your request is not valid."
        .. " (body.template.components: must be array) [HTTP 422]", tostring(err))
    end)

    it("says the status once when the code only repeats it", function()
      local err = fail_with(422, '{"message":"Argument emails missing","error_code":422}')
      assert.equal(422, err.code)
      assert.equal("sendpulse: api error on POST /addressbooks: Argument emails missing [HTTP 422]", tostring(err))
      err = fail_with(400, '{"message":"Book not found","error_code":213}')
      assert.equal("sendpulse: api error 213 (list_not_found) on POST /addressbooks: Book not found [HTTP 400]",
        tostring(err))
    end)

    it("shows what came back when it says nothing recognisable", function()
      local err = fail_with(422, '{"success":false,"data":{"id":7}}')
      assert.equal('the answer gives no message: {"success":false,"data":{"id":7}}', err.message)
      local line = tostring(err)
      assert.equal(1, count(line, "HTTP 422"), line)
      err = fail_with(502, "")
      assert.equal(1, count(tostring(err), "502"), tostring(err))
      sb:fault { kind = "html500", path = "^/addressbooks$" }
      local c = client("safe")
      local _, e = c.email:create_mailing_list { bookName = "x" }
      c:close()
      assert.matches("text/html", e.message, 1, true)
      assert.matches("<html>", e.message, 1, true)
      assert.equal(1, count(tostring(e), "HTTP 500"), tostring(e))
    end)

    it("bounds what a flood of field errors puts in the message and on the object", function()
      local parts = {}
      for i = 1, 1000 do parts[i] = ('{"field":"f%04d","message":"%s"}'):format(i, ("x"):rep(300)) end
      local err = fail_with(422, '{"errors":[' .. table.concat(parts, ",") .. "]}")
      local response = require "sendpulse.wire.response"
      assert.equal(response.KEPT_FIELDS, #err.field_errors)
      assert.equal(response.FIELD_TEXT + 3, #err.field_errors[1].message)
      assert.matches("; and 990 more$", err.message)
      assert.equal(response.MESSAGE_FIELDS, count(err.message, "f%d%d%d%d: "))
    end)

    it("cuts a long field error between characters, and reads no deeper than two lists", function()
      local err = fail_with(422, '{"errors":{"name":"' .. ("é"):rep(300) .. '"}}')
      local text = err.field_errors[1].message
      assert.matches("%.%.%.$", text)
      local kept = text:sub(1, -4)
      assert.is_true(#kept <= require("sendpulse.wire.response").FIELD_TEXT)
      -- whole two-byte letters only
      assert.equal(("é"):rep(math.floor(#kept / 2)), kept)
      -- lists in lists in lists: the third level is not read; the answer is quoted
      err = fail_with(422, '{"errors":[[[["deep"]]]]}')
      assert.is_nil(err.field_errors)
      assert.matches("^the answer gives no message: ", err.message)
      assert.equal(422, err.status)
    end)
  end)
end)
