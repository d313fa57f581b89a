-- docs/helpers.md runs as written against the sandbox: every ```lua block,
-- in order, as one chunk (so the locals of one block are seen by the next),
-- with SANDBOX_URL set.
local sandbox = require "support.sandbox_process"
local docs = require "support.docs"

describe("docs/helpers.md", function()
  local sb
  lazy_setup(function() sb = sandbox.start {} end)
  lazy_teardown(function() if sb then sb:stop() end end)

  it("its examples run end to end against the sandbox", function()
    local blocks = docs.file_blocks("docs/helpers.md", "lua")
    assert.equal(7, #blocks, "expected the file's 7 examples")
    local ok, printed = pcall(docs.run_lua, table.concat(blocks, "\n"), "docs/helpers.md", sb.url)
    assert(ok, tostring(printed) .. "\n" .. sb:log():sub(-2000))
    assert.matches("^sent ", printed[1])
    assert.matches("^campaign %d+$", printed[2])
    -- the waiting example really waited on the sandbox clock
    local clock = sb:control("GET", "/_sandbox/clock")
    assert.equal(900, clock.offset)
  end)
end)
