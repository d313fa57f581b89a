-- The examples whose output the text states run as written against the
-- sandbox, with the SENDPULSE_* variables pointing at it: the README's
-- Synopsis, and the first examples of docs/guide.md ("Every operation" and
-- "Errors"; spec/docs_spec.lua runs the guide's blocks too, without
-- looking at what they print).
local sandbox = require "support.sandbox_process"
local docs = require "support.docs"

describe("README and guide examples", function()
  local sb
  lazy_setup(function() sb = sandbox.start {} end)
  lazy_teardown(function() if sb then sb:stop() end end)
  before_each(function() sb:reset() end)

  -- the blocks of a section, each on its own
  local function run(file, title)
    local blocks = docs.section_blocks(file, title, "lua")
    assert.is_true(#blocks >= 1)
    local printed = {}
    for i, code in ipairs(blocks) do
      local ok, out = pcall(docs.run_lua, code, file .. " " .. title .. " #" .. i, sb.url)
      assert(ok, tostring(out) .. "\n" .. sb:log():sub(-2000))
      for _, line in ipairs(out) do printed[#printed + 1] = line end
    end
    return printed
  end

  it("Synopsis", function()
    local printed = run("README.md", "Synopsis")
    assert.matches("^1 200 ", printed[1])
    assert.equal("api 213 list_not_found sendpulse: api error 213 (list_not_found) on GET /addressbooks/1: "
      .. "Book not found [HTTP 404]", printed[2])
  end)

  it("docs/guide.md: Every operation", function()
    local printed = run("docs/guide.md", "Every operation")
    assert.equal("ada@example.com", printed[1])
  end)

  it("docs/guide.md: Errors, as its comment says", function()
    local printed = run("docs/guide.md", "Errors")
    assert.same({ "api 213 404 false" }, printed)
    assert.truthy(docs.section_blocks("docs/guide.md", "Errors", "lua")[1]:find("-- " .. printed[1], 1, true))
  end)
end)
