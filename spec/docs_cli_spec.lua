-- docs/cli.md runs as written: its ```sh blocks, in order, in one bash
-- session (a clean environment, a fresh HOME and folder, bin/ on PATH, the
-- sandbox's port 8765 changed to a free one), every command succeeding; its
-- ```lua block against a sandbox.
local sandbox = require "support.sandbox_process"
local sys = require "support.sys"

local q = sys.shell_quote

local function blocks(kind)
  local text = sys.read_file("docs/cli.md")
  assert(text ~= "", "docs/cli.md is missing")
  local out = {}
  for code in text:gmatch("\n```" .. kind .. "\n(.-)\n```") do out[#out + 1] = code end
  return out
end

describe("docs/cli.md #cli", function()
  it("every shell line runs as written", function()
    local sh = blocks("sh")
    assert.is_true(#sh >= 8)
    local port = tostring(sys.free_port())
    local dir = os.tmpname()
    os.remove(dir)
    assert(os.execute("mkdir -p " .. q(dir .. "/home")))
    local root = io.popen("pwd"):read("*l")
    -- A failing command (not one whose failure the line handles with ||)
    -- is reported by the ERR trap; the sandbox the first block starts is
    -- stopped at the end.
    local script = { "trap 'echo \"FAILED: $BASH_COMMAND\" >&2' ERR" }
    for i, code in ipairs(sh) do
      script[#script + 1] = "echo '== block " .. i .. "'"
      script[#script + 1] = (code:gsub("8765", port))
    end
    script[#script + 1] = "kill $(jobs -p) 2>/dev/null; wait 2>/dev/null; true"
    sys.write_file(dir .. "/doc.sh", table.concat(script, "\n") .. "\n")
    local cmd = ("cd %s && env -i PATH=%s HOME=%s SENDPULSE_TOKEN_DIR=%s timeout 300 bash doc.sh 2>&1"):format(q(dir),
      q(root .. "/bin:" .. os.getenv("PATH")), q(dir .. "/home"), q(dir .. "/tokens"))
    local p = io.popen(cmd)
    local out = p:read("*a")
    p:close()
    assert.is_nil(out:find("FAILED:", 1, true), out)
    assert.matches('{"id":1001}', out, 1, true)
    assert.matches("exit 1\n", out, 1, true)            -- the documented failure, with its exit code
    assert.matches("exit 10\n", out, 1, true)           -- an import with a rejected row
    -- an undeclared field is refused (exit 2), with the declared name it is near
    assert.matches("'bookname' is not a field of create_mailing_list; did you mean 'bookName'?", out, 1, true)
    assert.matches("exit 2\n", out, 1, true)
    -- -v marks the sandbox's canned answer, as the page shows it
    assert.matches("; canned answer (X-Sandbox-Canned: crm:get_pipelines): the example of SendPulse's OpenAPI file",
      out, 1, true)
    assert.matches("3,not an email address,not-an-email,Bad,", out, 1, true)
    -- the journal's checks: a field of the wrong type, a journal others can read
    assert.matches("is damaged: 'list' must be a whole number from 1 to 2^53, got \"1001\" (a string)", out, 1, true)
    assert.matches("can be read or written by others (mode 644): refusing it; run: chmod 600", out, 1, true)
    assert.matches("exit 2\n", out, 1, true)
    assert.matches("email,name", sys.read_file(dir .. "/contacts-export.csv"), 1, true)
    os.execute("rm -rf " .. q(dir))
  end)

  it("the Lua block runs against the sandbox", function()
    local sb = sandbox.start { rate = 0 }
    local lua = blocks("lua")
    assert.equal(1, #lua)
    local env = setmetatable({ SANDBOX_URL = sb.url }, { __index = _G })
    local fn
    if setfenv then
      fn = assert(loadstring(lua[1], "=docs/cli.md"))
      setfenv(fn, env)
    else
      fn = assert(load(lua[1], "=docs/cli.md", "t", env))
    end
    local ok, err = pcall(fn)
    sb:stop()
    assert(ok, tostring(err))
  end)
end)
