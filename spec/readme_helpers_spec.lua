-- The README's helper examples run as written against the sandbox: every
-- ```lua block of the "## Helpers" section, in order, as one chunk (so the
-- locals of one block are seen by the next), with SANDBOX_URL set.
local sandbox = require "support.sandbox_process"
local docs = require "support.docs"

describe("README helper examples", function()
  local sb
  lazy_setup(function() sb = sandbox.start {} end)
  lazy_teardown(function() if sb then sb:stop() end end)

  it("run end to end against the sandbox", function()
    local blocks = docs.section_blocks("README.md", "Helpers", "lua")
    assert.is_true(#blocks >= 6, "expected the section's examples, found " .. #blocks)
    local ok, printed = pcall(docs.run_lua, table.concat(blocks, "\n"), "README.md", sb.url)
    assert(ok, tostring(printed) .. "\n" .. sb:log():sub(-2000))
    assert.matches("^sent ", printed[1])
    assert.matches("^campaign %d+$", printed[2])
    -- the waiting example really waited on the sandbox clock
    local clock = sb:control("GET", "/_sandbox/clock")
    assert.equal(900, clock.offset)
  end)
end)
