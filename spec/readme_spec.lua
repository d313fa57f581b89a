-- The README's first examples run as written against the sandbox: each
-- ```lua block of the Synopsis and of "Every operation", with the
-- SENDPULSE_* variables pointing at the sandbox.
local sandbox = require "support.sandbox_process"

local function section(title)
  local f = assert(io.open("README.md"))
  local text = f:read("*a")
  f:close()
  local start = assert(text:find("\n## " .. title, 1, true), "README.md has no '## " .. title .. "' section")
  local stop = text:find("\n## ", start + 1, true) or #text + 1
  local blocks = {}
  for code in text:sub(start, stop - 1):gmatch("\n```lua\n(.-)\n```") do blocks[#blocks + 1] = code end
  return blocks
end

describe("README examples", function()
  local sb
  lazy_setup(function() sb = sandbox.start {} end)
  lazy_teardown(function() if sb then sb:stop() end end)
  before_each(function() sb:reset() end)

  local function run(title)
    local blocks = section(title)
    assert.is_true(#blocks >= 1)
    local vars = { SENDPULSE_CLIENT_ID = "sandbox-id", SENDPULSE_CLIENT_SECRET = "sandbox-secret",
                   SENDPULSE_BASE_URL = sb.url }
    local fake_os = setmetatable({ getenv = function(k) return vars[k] end }, { __index = os })
    local printed = {}
    local env = setmetatable({ os = fake_os,
      print = function(...)
        local parts = { ... }
        for i = 1, select("#", ...) do parts[i] = tostring(parts[i]) end
        printed[#printed + 1] = table.concat(parts, " ")
      end,
    }, { __index = _G })
    for i, code in ipairs(blocks) do
      local fn, err
      if setfenv then
        fn, err = loadstring(code, "=README " .. title .. " #" .. i)
        if fn then setfenv(fn, env) end
      else
        fn, err = load(code, "=README " .. title .. " #" .. i, "t", env)
      end
      assert(fn, err)
      local ok, run_err = pcall(fn)
      assert(ok, tostring(run_err) .. "\n" .. sb:log():sub(-2000))
    end
    return printed
  end

  it("Synopsis", function()
    local printed = run("Synopsis")
    assert.matches("^1 200 ", printed[1])
    assert.equal("api 213 list_not_found sendpulse: api error 213 (list_not_found) on GET /addressbooks/1: "
      .. "Book not found [HTTP 404]", printed[2])
  end)

  it("Every operation", function()
    local printed = run("Every operation")
    assert.equal("ada@example.com", printed[1])
  end)
end)
