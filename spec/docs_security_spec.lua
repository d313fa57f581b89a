-- docs/security.md's Lua examples run as written against the sandbox (the
-- way spec/readme_spec.lua runs the README's Synopsis), with the SENDPULSE_*
-- variables pointing at it.
local sandbox = require "support.sandbox_process"
local docs = require "support.docs"

local function blocks_of(path)
  local f = assert(io.open(path))
  local text = f:read("*a")
  f:close()
  local blocks = {}
  for code in text:gmatch("\n```lua\n(.-)\n```") do blocks[#blocks + 1] = code end
  return blocks
end

describe("docs/security.md examples", function()
  local sb
  lazy_setup(function() sb = sandbox.start {} end)
  lazy_teardown(function() if sb then sb:stop() end end)

  -- Runs a block with the sandbox's SENDPULSE_* variables; returns what it printed.
  local function run_block(code)
    return docs.run_lua(code, "docs/security.md", sb.url, "  ")
  end

  it("run and print what the page says", function()
    local blocks = blocks_of("docs/security.md")
    assert.equal(2, #blocks)
    local printed = run_block(blocks[1])
    -- (The token answer is already too large: the call says it failed
    -- while getting its token.)
    assert.equal("nil  too_large  getting an OAuth token failed (POST /oauth/access_token): "
      .. "the answer is larger than max_answer_size (64 bytes): its Content-Length says so", printed[1])
    printed = run_block(blocks[2])
    assert.equal(3, #printed)
    assert.equal("nil  argument", printed[1])
    -- each block's comments show the lines it prints
    for i, block in ipairs(blocks) do
      for _, line in ipairs(run_block(block)) do
        assert.truthy(block:find("-- " .. line, 1, true), "block " .. i .. " does not show: " .. line)
      end
    end
  end)
end)
