-- Installing the way Lua users install things. From this one checkout,
-- luarocks for Lua 5.1, 5.3 and 5.4, each into its own tree: the C core is
-- built for the Lua luarocks targets (the headers in LUA_INCDIR decide, never
-- a build made before), the library rock needs nothing but Lua, and the
-- sandbox is its own rock. Each installed module is then loaded outside the
-- repository, with the tree's paths only, and calls a sandbox: the one of the
-- checkout, and the one installed in the tree.
--
-- Tagged #once: these tests drive luarocks, make and other processes, so the
-- valgrind and LuaJIT passes of `make check` would repeat them to no purpose.

local sys = require "support.sys"
local sandbox_process = require "support.sandbox_process"

local q = sys.shell_quote

-- Checks, from any folder, which files the modules come from and calls the
-- sandbox at arg[1]: prints one "key value" line per fact.
local CHECK = [[
local function where(name, path)
  local file = name:gsub("%.", "/")
  for template in path:gmatch("[^;]+") do
    local candidate = template:gsub("%?", file)
    local f = io.open(candidate)
    if f then f:close() return candidate end
  end
end
print("lua " .. _VERSION)
print("core " .. tostring(where("sendpulse.core", package.cpath)))
print("library " .. tostring(where("sendpulse", package.path)))
print("sandbox " .. tostring(where("sendpulse.sandbox.init", package.path)))
local sendpulse = require "sendpulse"
print("version " .. sendpulse._VERSION)
local client = sendpulse.new { client_id = "sandbox-id", client_secret = "sandbox-secret", base_url = arg[1] }
local list = client.email:create_mailing_list { bookName = "installed, " .. _VERSION }
print("list " .. tostring(list.id))
client:close()
]]

-- Starts the sandbox installed in the tree, prints its port on stdout.
local START_SANDBOX = [[
local server = require("sendpulse.sandbox").new { port = 0 }
local _, port = server:start()
io.stdout:write(port, "\n")
io.stdout:flush()
server:run()
]]

local function facts(out)
  local t = {}
  for key, value in out:gmatch("([%w_]+) ([^\n]*)") do t[key] = value end
  return t
end

describe("luarocks, for Lua 5.1, 5.3 and 5.4 from one checkout #once", function()
  local work, sb

  lazy_setup(function()
    local p = io.popen("mktemp -d")
    work = p:read("*l")
    p:close()
    sys.write_file(work .. "/check.lua", CHECK)
    sys.write_file(work .. "/start_sandbox.lua", START_SANDBOX)
    sb = sandbox_process.start {}
  end)

  lazy_teardown(function()
    if sb then sb:stop() end
    if work then os.execute("rm -rf " .. q(work)) end
  end)

  for _, v in ipairs { "5.1", "5.3", "5.4" } do
    local lua = "lua" .. v
    it("Lua " .. v .. ": builds for it, installs both rocks, loads outside the checkout and calls a sandbox", function()
      local tree = work .. "/tree-" .. v
      local luarocks = ("env -u LUA_PATH -u LUA_CPATH luarocks --lua-version=%s --tree %s"):format(v, q(tree))
      -- What the rocks depend on (LPeg, argparse, LuaSocket, lua-cjson)
      -- comes from Debian here, which luarocks does not see, and there is no
      -- network to fetch them: no dependency check (the next describe checks
      -- the declared dependencies against what the modules load).
      local ok, out = sys.run(luarocks .. " make --deps-mode=none rockspec/lua-sendpulse-scm-1.rockspec")
      assert(ok, out)
      -- built (now or by an earlier run with the same settings) from Lua v's headers
      local flags = sys.read_file("build/luarocks/lua" .. v .. "/build-flags")
      assert.matches("-I/usr/include/lua" .. v .. " ", flags, 1, true)
      ok, out = sys.run(luarocks .. " make --deps-mode=none rockspec/lua-sendpulse-sandbox-scm-1.rockspec")
      assert(ok, out)
      assert.is_true(sys.exists(tree .. "/lib/lua/" .. v .. "/sendpulse/core.so"))

      local env = ('cd %s && eval "$(%s path)" || exit 1; '):format(q(work), luarocks)
      -- against the checkout's sandbox
      ok, out = sys.run(env .. lua .. " check.lua " .. q(sb.url))
      assert(ok, out)
      local f = facts(out)
      assert.equal("Lua " .. v, f.lua)
      assert.equal(tree .. "/lib/lua/" .. v .. "/sendpulse/core.so", f.core)
      assert.equal(tree .. "/share/lua/" .. v .. "/sendpulse.lua", f.library)
      assert.equal(tree .. "/share/lua/" .. v .. "/sendpulse/sandbox/init.lua", f.sandbox)
      assert.equal(require("sendpulse.version"), f.version)
      assert.matches("^%d+$", f.list)
      -- the command the library rock installs, run by this Lua
      ok, out = sys.run(env .. q(tree .. "/bin/sendpulse") .. " services")
      assert(ok, out)
      assert.matches("email", out, 1, true)

      -- against the sandbox installed in the tree, started from it
      ok, out = sys.run(env .. lua .. " start_sandbox.lua >sandbox-" .. v .. ".port 2>&1 & pid=$!; "
        .. "i=0; while [ ! -s sandbox-" .. v .. ".port ] && [ $i -lt 200 ]; do sleep 0.05; i=$((i+1)); done; "
        .. lua .. " check.lua http://127.0.0.1:$(cat sandbox-" .. v .. ".port); rc=$?; "
        .. "kill $pid; cat sandbox-" .. v .. ".port; exit $rc")
      assert(ok, out)
      f = facts(out)
      assert.matches("^%d+$", f.list)
    end)
  end

  it("keeps luarocks' builds apart from the one make made for the suite", function()
    assert.is_true(sys.exists("build/luarocks/lua5.1/sendpulse/core.so"))
    assert.is_true(sys.exists("build/luarocks/lua5.3/sendpulse/core.so"))
    assert.is_true(sys.exists("build/luarocks/lua5.4/sendpulse/core.so"))
  end)
end)

-- The external modules a set of Lua files require (string literals), and
-- the rocks that provide them.
local ROCK_OF = { lpeg = "lpeg", argparse = "argparse", socket = "luasocket", cjson = "lua-cjson",
  ["cjson.safe"] = "lua-cjson" }

local function rocks_loaded_by(cmd)
  local rocks, own = {}, false
  local p = io.popen(cmd)
  for file in p:lines() do
    local text = sys.read_file(file)
    for name in text:gmatch("require%s*%(?%s*[\"']([%w_.]+)[\"']") do
      if name:match("^sendpulse") then
        own = own or not name:match("^sendpulse%.sandbox")
      else
        local rock = ROCK_OF[name]
        assert(rock, file .. " loads " .. name .. ": say which rock provides it (ROCK_OF) and declare it")
        rocks[rock] = true
      end
    end
  end
  p:close()
  return rocks, own
end

local function declared(rockspec)
  local env = {}
  local chunk = assert(loadfile(rockspec, "t", env))
  chunk()
  local out = {}
  for _, d in ipairs(env.dependencies) do
    local name = d:match("^([%w_-]+)")
    if name ~= "lua" then out[name] = true end
  end
  return out
end

describe("the rocks declare what their modules load #once", function()
  it("the library: what lua/ (but the sandbox) and bin/sendpulse require, and no lua-cjson", function()
    local rocks = rocks_loaded_by("find lua -name '*.lua' -not -path 'lua/sendpulse/sandbox/*'; echo bin/sendpulse")
    assert.same(rocks, declared("rockspec/lua-sendpulse-scm-1.rockspec"))
    assert.is_nil(rocks["lua-cjson"])
  end)

  it("the sandbox: what lua/sendpulse/sandbox/ requires, and the library for its operation data", function()
    local rocks, own = rocks_loaded_by("find lua/sendpulse/sandbox -name '*.lua'")
    assert.is_true(own)
    rocks["lua-sendpulse"] = true
    assert.same(rocks, declared("rockspec/lua-sendpulse-sandbox-scm-1.rockspec"))
  end)
end)

describe("the Makefile's build directories #once", function()
  local root

  lazy_setup(function()
    local p = io.popen("mktemp -d")
    root = p:read("*l")
    p:close()
  end)

  lazy_teardown(function() os.execute("rm -rf " .. q(root)) end)

  local function make(args)
    return sys.run("make --no-print-directory BUILD_ROOT=" .. q(root) .. " " .. args)
  end

  it("are named for the Lua of the headers in LUA_INCDIR", function()
    for incdir, target in pairs { ["/usr/include/lua5.1"] = "lua5.1", ["/usr/include/lua5.3"] = "lua5.3",
        ["/usr/include/lua5.4"] = "lua5.4", ["/usr/include/luajit-2.1"] = "luajit" } do
      local ok, out = make("LUA_INCDIR=" .. incdir .. " config")
      assert(ok, out)
      assert.matches("BUILD       = " .. root .. "/" .. target .. "\n", out, 1, true)
    end
    -- by hand, LUA_IMPL picks the headers
    local ok, out = make("LUA_IMPL=lua5.3 config")
    assert(ok, out)
    assert.matches("/lua5.3\n", out, 1, true)
  end)

  it("rebuild when the compiler flags change, and only then", function()
    local ok, out = make("LUA_INCDIR=/usr/include/lua5.1 all")
    assert(ok, out)
    assert.matches(" -c -o " .. root .. "/lua5.1/obj/sp_buf.o", out, 1, true)
    assert.is_true(sys.exists(root .. "/lua5.1/sendpulse/core.so"))
    ok, out = make("LUA_INCDIR=/usr/include/lua5.1 all")
    assert(ok, out)
    assert.is_nil(out:find(" -c -o ", 1, true), out)
    ok, out = make("LUA_INCDIR=/usr/include/lua5.1 'CFLAGS=-O1 -g' all")
    assert(ok, out)
    assert.matches("-O1 -g -I/usr/include/lua5.1 ", out, 1, true)
    assert.matches(" -c -o " .. root .. "/lua5.1/obj/sp_buf.o", out, 1, true)
    assert.matches("-O1 -g", sys.read_file(root .. "/lua5.1/build-flags"), 1, true)
  end)

  it("leave out sendpulse.hiredis, saying so, when its header is missing", function()
    local ok, out = make("LUA_INCDIR=/usr/include/lua5.4 HIREDIS_INCDIR=/nonexistent all")
    assert(ok, out)
    assert.matches("note: /nonexistent/hiredis/hiredis.h not found: sendpulse.hiredis is not built", out, 1, true)
    assert.is_true(sys.exists(root .. "/lua5.4/sendpulse/core.so"))
    assert.is_false(sys.exists(root .. "/lua5.4/sendpulse/hiredis.so"))
    ok, out = make("LUA_INCDIR=/usr/include/lua5.4 all")
    assert(ok, out)
    assert.is_nil(out:find("note:", 1, true), out)
    assert.is_true(sys.exists(root .. "/lua5.4/sendpulse/hiredis.so"))
  end)

  it("make env points a shell at this checkout's modules", function()
    local ok, out = sys.run('eval "$(make --no-print-directory env BUILD_ROOT=' .. q(root)
      .. ' 2>/dev/null)" && cd /tmp && lua5.4 -e "print(require(\\"sendpulse\\")._VERSION, package.cpath)"')
    assert(ok, out)
    assert.matches("^" .. require("sendpulse.version"):gsub("%p", "%%%0") .. "\t", out)
    assert.matches("\t" .. root .. "/lua5.4/?.so;", out, 1, true)
  end)
end)
