-- The README's first examples run as written against the sandbox: each
-- ```lua block of the Synopsis and of "Every operation", with the
-- SENDPULSE_* variables pointing at the sandbox.
local sandbox = require "support.sandbox_process"
local docs = require "support.docs"

describe("README examples", function()
  local sb
  lazy_setup(function() sb = sandbox.start {} end)
  lazy_teardown(function() if sb then sb:stop() end end)
  before_each(function() sb:reset() end)

  -- each block on its own, with the SENDPULSE_* variables of the sandbox
  local function run(title)
    local blocks = docs.section_blocks("README.md", title, "lua")
    assert.is_true(#blocks >= 1)
    local printed = {}
    for i, code in ipairs(blocks) do
      local ok, out = pcall(docs.run_lua, code, "README " .. title .. " #" .. i, sb.url)
      assert(ok, tostring(out) .. "\n" .. sb:log():sub(-2000))
      for _, line in ipairs(out) do printed[#printed + 1] = line end
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
