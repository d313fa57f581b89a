-- docs/rate-limits.md runs as written: every ```lua block in order as one
-- chunk against the sandbox, what they print checked against the text.
local sandbox = require "support.sandbox_process"
local sys = require "support.sys"
local docs = require "support.docs"

describe("docs/rate-limits.md", function()
  local sb
  lazy_setup(function() sb = sandbox.start {} end)
  lazy_teardown(function() if sb then sb:stop() end end)

  it("its Lua examples run, and print what the text says", function()
    local doc = sys.read_file("docs/rate-limits.md")
    local code = {}
    for block in doc:gmatch("\n```lua\n(.-)\n```") do code[#code + 1] = block end
    assert.equal(3, #code)
    local ok, printed = pcall(docs.run_lua, table.concat(code, "\n"), "docs/rate-limits.md", sb.url)
    assert(ok, tostring(printed) .. "\n" .. sb:log():sub(-2000))
    assert.same({ "10 1000 2 998 499998", "false rate_limit per_minute rate false true true", "0" }, printed)
    -- The text says what the blocks print.
    assert.truthy(doc:find("prints `" .. printed[1] .. "`", 1, true))
    assert.truthy(doc:find("prints `" .. printed[2] .. "`", 1, true))
  end)
end)
