-- The README's helper examples run as written against the sandbox: every
-- ```lua block of the "## Helpers" section, in order, as one chunk (so the
-- locals of one block are seen by the next), with SANDBOX_URL set.
local sandbox = require "support.sandbox_process"

local function helpers_section()
  local f = assert(io.open("README.md"))
  local text = f:read("*a")
  f:close()
  local start = text:find("\n## Helpers", 1, true)
  assert(start, "README.md has no '## Helpers' section")
  local stop = text:find("\n## ", start + 1, true) or #text + 1
  return text:sub(start, stop - 1)
end

describe("README helper examples", function()
  local sb
  lazy_setup(function() sb = sandbox.start {} end)
  lazy_teardown(function() if sb then sb:stop() end end)

  it("run end to end against the sandbox", function()
    local blocks = {}
    for code in helpers_section():gmatch("\n```lua\n(.-)\n```") do blocks[#blocks + 1] = code end
    assert.is_true(#blocks >= 6, "expected the section's examples, found " .. #blocks)
    local printed = {}
    local env = setmetatable({
      SANDBOX_URL = sb.url,
      print = function(...) printed[#printed + 1] = table.concat({ ... }, " ") end,
    }, { __index = _G })
    local chunk = table.concat(blocks, "\n")
    local fn, err
    if setfenv then
      fn, err = loadstring(chunk, "=README.md")
      if fn then setfenv(fn, env) end
    else
      fn, err = load(chunk, "=README.md", "t", env)
    end
    assert(fn, err)
    local ok, run_err = pcall(fn)
    assert(ok, tostring(run_err) .. "\n" .. sb:log():sub(-2000))
    assert.matches("^sent ", printed[1])
    assert.matches("^campaign %d+$", printed[2])
    -- the waiting example really waited on the sandbox clock
    local clock = sb:control("GET", "/_sandbox/clock")
    assert.equal(900, clock.offset)
  end)
end)
