-- Choosing the transport and the nginx-only options, outside nginx (the
-- inside is spec/nginx_spec.lua).
local sendpulse = require "sendpulse"
local safe = require "sendpulse.safe"
local nginx = require "sendpulse.nginx"

describe("transport choice outside nginx", function()
  local base = { api_key = "k", base_url = "http://127.0.0.1:1" }
  local function with(extra)
    local t = {}
    for k, v in pairs(base) do t[k] = v end
    for k, v in pairs(extra) do t[k] = v end
    return t
  end

  it("knows it is not inside nginx", function()
    assert.is_false(nginx.inside())
    assert.is_nil(nginx.phase())
    assert.is_false((nginx.can_yield()))
  end)

  it("uses libcurl for auto (the default) and curl", function()
    for _, t in ipairs { "auto", "curl" } do
      local c = sendpulse.new(with { transport = t })
      assert.equal("userdata", type(c.transport))
      assert.equal(0, c:connections())
      c:close()
    end
    local c = sendpulse.new(base)
    assert.equal("userdata", type(c.transport))
    c:close()
  end)

  it("refuses cosocket with a message that says where it works", function()
    local c, err = safe.new(with { transport = "cosocket" })
    assert.is_nil(c)
    assert.equal("argument", err.kind)
    assert.matches("option 'transport' is \"cosocket\", which needs nginx", err.message)
  end)

  it("refuses a transport it does not know, naming the choices", function()
    local ok, err = pcall(sendpulse.new, with { transport = "libuv" })
    assert.is_false(ok)
    assert.matches("option 'transport' must be \"auto\", \"curl\", \"multi\", \"cosocket\", or an object",
      err.message)
  end)

  it("holds a transport object to the contract when it is made: perform, and methods where it has them", function()
    local perform = function() return nil, "network", "not used", false end
    -- (perform is never called: each is refused or closed before a call)
    local good = { perform = perform, close = function() end, usable = function() return true end }
    local c = sendpulse.new(with { transport = good })
    assert.equal(good, c.transport)
    c:close()
    for field, value in pairs { close = true, connections = 1, usable = "yes", sleep = 0.1 } do
      local t = { perform = perform, [field] = value }
      local bad, err = safe.new(with { transport = t })
      assert.is_nil(bad)
      assert.equal("argument", err.kind)
      assert.equal(("sendpulse.new: option 'transport': a transport's '%s', when present, must be a method"
        .. " (a function), got %s"):format(field, type(value)), err.message)
    end
    -- the library's own keep it too
    local transport = require "sendpulse.transport"
    for _, kind in ipairs { "curl", "multi" } do
      if kind == "curl" or _VERSION ~= "Lua 5.1" or rawget(_G, "jit") then
        local m = sendpulse.new(with { transport = kind })
        assert.is_true(transport.check(m.transport))
        m:close()
      end
    end
    assert.same({ nil, "a transport must be an object (a table or userdata), got string" },
      { transport.check("curl") })
    assert.same({ nil, "a transport must have a perform(method, url, headers, body, timeout, connect_timeout) method" },
      { transport.check({}) })
  end)

  it("refuses shared_dict outside nginx at new", function()
    local c, err = safe.new(with { shared_dict = "sendpulse" })
    assert.is_nil(c)
    assert.equal("argument", err.kind)
    assert.matches("option 'shared_dict' must be the name of a lua_shared_dict .*only inside nginx", err.message)
    local _, err2 = safe.new(with { shared_dict = "" })
    assert.matches("option 'shared_dict' must be", err2.message)
  end)

  it("sleeps by blocking when not inside nginx", function()
    local c = sendpulse.new(base)
    assert.equal(require("sendpulse.core").sleep, c.sleep)
    c:close()
  end)
end)
