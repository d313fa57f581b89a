-- docs/operations.md's Lua blocks run as written against the sandbox (one
-- chunk, in order), and print what the page says they print: each comment
-- line of a block that stands alone is a line the code before it printed
-- (a comment line starting with more spaces continues the one above).
local sandbox = require "support.sandbox_process"
local docs = require "support.docs"

local PATH = "docs/operations.md"

local function read(path)
  local f = assert(io.open(path))
  local text = f:read("*a")
  f:close()
  return text
end

-- The blocks' code, and the printed lines their comments claim, in order.
local function blocks_and_claims(text)
  local code, claims = {}, {}
  for block in text:gmatch("\n```lua\n(.-)\n```") do
    code[#code + 1] = block
    for line in (block .. "\n"):gmatch("(.-)\n") do
      local comment = line:match("^%s*%-%- (.*)$")
      if comment then
        local continued = comment:match("^%s+(.*)$")
        if continued and #claims > 0 then
          claims[#claims] = claims[#claims] .. " " .. continued
        else
          claims[#claims + 1] = comment
        end
      end
    end
  end
  return table.concat(code, "\n"), claims
end

describe("docs/operations.md", function()
  local sb
  lazy_setup(function() sb = sandbox.start {} end)
  lazy_teardown(function() if sb then sb:stop() end end)

  it("runs, and prints what its comments say", function()
    local code, claims = blocks_and_claims(read(PATH))
    local printed = docs.run_lua(code, PATH, sb.url, "  ")
    assert.is_true(#claims >= 7, "the page claims " .. #claims .. " lines")
    local seen = {}
    for _, line in ipairs(printed) do seen[line] = true end
    for _, claim in ipairs(claims) do
      assert.is_true(seen[claim] == true, "printed no line " .. claim .. "\nprinted:\n" .. table.concat(printed, "\n"))
    end
  end)
end)
