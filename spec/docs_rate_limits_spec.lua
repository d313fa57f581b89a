-- docs/rate-limits.md runs as written: every ```lua block in order as one
-- chunk against the sandbox, what they print checked against the text.
local sandbox = require "support.sandbox_process"
local sys = require "support.sys"

describe("docs/rate-limits.md", function()
  local sb
  lazy_setup(function() sb = sandbox.start {} end)
  lazy_teardown(function() if sb then sb:stop() end end)

  it("its Lua examples run, and print what the text says", function()
    local doc = sys.read_file("docs/rate-limits.md")
    local code = {}
    for block in doc:gmatch("\n```lua\n(.-)\n```") do code[#code + 1] = block end
    assert.equal(3, #code)
    local printed = {}
    local env = setmetatable({
      SANDBOX_URL = sb.url,
      print = function(...)
        local parts = { ... }
        for i = 1, select("#", ...) do parts[i] = tostring(parts[i]) end
        printed[#printed + 1] = table.concat(parts, " ")
      end,
    }, { __index = _G })
    local chunk = table.concat(code, "\n")
    local fn, err
    if setfenv then
      fn, err = loadstring(chunk, "=docs/rate-limits.md")
      if fn then setfenv(fn, env) end
    else
      fn, err = load(chunk, "=docs/rate-limits.md", "t", env)
    end
    assert(fn, err)
    local ok, run_err = pcall(fn)
    assert(ok, tostring(run_err) .. "\n" .. sb:log():sub(-2000))
    assert.same({ "10 1000 2 998 499998", "false rate_limit per_minute rate false true true", "0" }, printed)
    -- The text says what the blocks print.
    assert.truthy(doc:find("prints `" .. printed[1] .. "`", 1, true))
    assert.truthy(doc:find("prints `" .. printed[2] .. "`", 1, true))
  end)
end)
