-- Disks that fill, and files that shrink (issue 21, docs/security.md "a full
-- disk"): a small tmpfs (support.tmpfs, mounted and removed here; root
-- only) filled to the last byte under the token folder, an import's journal
-- and an export; and the host budget file cut short under a running
-- process. Real processes: a SIGBUS kills the child, not the suite.
local sandbox = require "support.sandbox_process"
local tmpfs = require "support.tmpfs"
local sys = require "support.sys"
local json = require "sendpulse.json"
local sendpulse = require "sendpulse"

local LUA = os.getenv("LUA") or "lua5.4"
local q = sys.shell_quote

local function tmp()
  local p = os.tmpname()
  os.remove(p)
  return p
end

local function listing(dir)
  local out = {}
  for name in io.popen("ls -A " .. q(dir)):lines() do out[name] = true end
  return out
end

describe("a full disk #files", function()
  local sb, home, env, fs, why

  -- bin/sendpulse with a clean environment (at most 60 s); stdout, stderr, code.
  local function run(args, extra)
    return sys.run_cli(LUA, args, env, extra, 60)
  end

  lazy_setup(function()
    sb = sandbox.start { rate = 0 }
    home = tmp()
    assert(os.execute("mkdir -p " .. q(home .. "/tokens")))
  end)
  lazy_teardown(function()
    if sb then sb:stop() end
    os.execute("rm -rf " .. q(home))
  end)
  before_each(function()
    sb:reset()
    env = { HOME = home, SENDPULSE_BASE_URL = sb.url, SENDPULSE_CLIENT_ID = "sandbox-id",
            SENDPULSE_CLIENT_SECRET = "sandbox-secret", SENDPULSE_TOKEN_DIR = home .. "/tokens" }
    -- a new 256 KiB tmpfs for each test
    fs, why = tmpfs.mount("256k")
  end)
  after_each(function()
    if fs then fs:unmount() end
  end)

  -- spec/support/budget_child.lua with its output and then "exit=<code>".
  local function budget_child(token_dir, go)
    return io.popen(("LUA_PATH='lua/?.lua;lua/?/init.lua;;' SP_BASE=%s SP_TOKEN_DIR=%s SP_GO=%s %s "
      .. "spec/support/budget_child.lua 2>&1; echo exit=$?"):format(q(sb.url), q(token_dir), q(go), LUA))
  end

  local function with_tmpfs(name, fn)
    it(name, function()
      if not fs then
        pending(why)
        return
      end
      fn()
    end)
  end

  with_tmpfs("a full token folder: every command still works, without a SIGBUS", function()
    fs:fill()
    local o, e, rc = run("email get_balance", { SENDPULSE_TOKEN_DIR = fs.path .. "/tokens" })
    assert.equal(0, rc, o .. e)
    assert.is_truthy(json.decode(o))
    -- and again, with the budget file now there (empty: its blocks never
    -- could be allocated)
    o, e, rc = run("email get_balance", { SENDPULSE_TOKEN_DIR = fs.path .. "/tokens" })
    assert.equal(0, rc, o .. e)
  end)

  with_tmpfs("the library says why: the budget falls back to the process's, reported", function()
    fs:fill()
    -- in a child process: were the file mapped unallocated, its SIGBUS
    -- would kill the suite
    local go = tmp()
    sys.write_file(go, "")
    local p = budget_child(fs.path .. "/tokens", go)
    local out = p:read("*a")
    p:close()
    os.remove(go)
    assert.matches("exit=0", out)
    assert.matches("event limiter_error shared=host fallback=process: cannot allocate budget file "
      .. (fs.path .. "/tokens/"):gsub("%p", "%%%0") .. "%x+%.budget: No space left on device", out)
    assert.matches("event store_error", out)
    assert.matches("done", out)
  end)

  it("a budget file cut short under a running process: it goes on with a budget of its own, reported", function()
    local dir = tmp()
    assert(os.execute("mkdir -m 700 " .. q(dir)))
    local go = tmp()
    local p = budget_child(dir, go)
    -- its first call made, the file mapped (nil: the child ended early)
    local first = p:read("*l")
    if first ~= "mapped" then error("the child said " .. tostring(first) .. (p:read("*a") or "")) end
    local budget
    for name in pairs(listing(dir)) do
      if name:find("%.budget$") then budget = dir .. "/" .. name end
    end
    assert.is_truthy(budget, "no budget file")
    assert(os.execute("truncate -s 0 " .. q(budget)))
    sys.write_file(go, "")
    local out = p:read("*a")
    p:close()
    os.remove(go)
    os.execute("rm -rf " .. q(dir))
    assert.matches("exit=0", out)
    assert.matches("event limiter_error shared=host fallback=process: the budget file .* was cut to 0 bytes "
      .. "under this process %(it needs %d+%): this process keeps a budget of its own from now on", out)
    assert.matches("done", out)
  end)

  with_tmpfs("an import on a full disk: exit 15 (storage) naming the journal; nothing lost once there "
    .. "is room", function()
    local file = fs.path .. "/contacts.csv"
    local lines = { "email,name" }
    for i = 1, 30 do lines[#lines + 1] = ("d%d@example.com,Row %d"):format(i, i) end
    sys.write_file(file, table.concat(lines, "\n") .. "\n")
    local client = sendpulse.new { client_id = "sandbox-id", client_secret = "sandbox-secret", base_url = sb.url,
                                   rate_limit = false }
    local id = client.email:create_mailing_list({ bookName = "Full" }).id
    client:close()
    fs:fill()
    local rejects = home .. "/rejects.csv"
    local o, e, rc = run(("import %d %s --batch 10 --rejects %s"):format(id, q(file), q(rejects)))
    assert.equal(15, rc, o .. e)
    assert.matches("storage error", e)
    assert.matches("cannot write journal " .. (file .. ".journal"):gsub("%p", "%%%0")
      .. ": No space left on device", e)
    fs:free()
    local summary
    o, e, rc = run(("import %d %s --batch 10 --rejects %s"):format(id, q(file), q(rejects)))
    assert.equal(0, rc, o .. e)
    summary = json.decode(o)
    assert.equal(30, summary.added + summary.skipped)
    local value = sb:control("GET", "/_sandbox/addressbooks/" .. id)
    assert.equal(30, #value.emails)
  end)

  with_tmpfs("an export on a full disk: exit 15, the earlier export left whole, no temporary left", function()
    local client = sendpulse.new { client_id = "sandbox-id", client_secret = "sandbox-secret", base_url = sb.url,
                                   rate_limit = false }
    local id = client.email:create_mailing_list({ bookName = "Full export" }).id
    local i = 0
    client.email:import { id = id, rows = function()
      i = i + 1
      if i <= 3000 then return { email = ("x%d@example.com"):format(i), variables = { n = i } } end
    end }
    client:close()
    local out = fs.path .. "/out.csv"
    sys.write_file(out, "earlier\n")
    fs:fill()
    local o, e, rc = run(("export %d --output %s"):format(id, q(out)))
    assert.equal(15, rc, o .. e)
    assert.matches("storage error", e)
    assert.matches("No space left on device", e)
    assert.equal("earlier\n", sys.read_file(out))
    assert.same({ ["out.csv"] = true, fill = true }, listing(fs.path))
  end)
end)
