-- A C core built for another Lua: the dynamic linker refuses it before it
-- runs ("undefined symbol: lua_tointegerx"), and require "sendpulse" says
-- which Lua it was built for and which this is (lua/sendpulse/load_core.lua,
-- csrc/sp_core_lua.c's built_for line). Each case runs another interpreter
-- on the cores `make` and `make luajit-core` built (what `make check` has).
--
-- Tagged #once: it drives other interpreters, which the valgrind and LuaJIT
-- passes would only repeat.
local sys = require "support.sys"

local q = sys.shell_quote

-- What `lua` prints for require "sendpulse" with only build/<core>/ on its cpath.
local function load_with(lua, core)
  local code = 'local ok, e = pcall(require, "sendpulse") io.write(ok and "loaded" or tostring(e))'
  local ok, out = sys.run(("env LUA_PATH=%s LUA_CPATH=%s %s -e %s 2>&1"):format(
    q("lua/?.lua;lua/?/init.lua"), q("build/" .. core .. "/?.so"), lua, q(code)))
  assert(ok, out)
  return out
end

describe("a C core built for another Lua #once", function()
  for _, c in ipairs {
    { "lua5.1", "lua5.4", "built for Lua 5.4, this is Lua 5.1: build it for this Lua (make LUA_IMPL=lua5.1," },
    { "luajit", "lua5.4", "built for Lua 5.4, this is Lua 5.1 (LuaJIT " },
    { "lua5.3", "lua5.4", "built for Lua 5.4, this is Lua 5.3: build it for this Lua (make LUA_IMPL=lua5.3," },
    { "lua5.4", "luajit", "built for Lua 5.1, this is Lua 5.4: build it for this Lua (make LUA_IMPL=lua5.4," },
  } do
    local lua, core, says = c[1], c[2], c[3]
    it(("is named when %s loads the %s core"):format(lua, core), function()
      assert.is_true(sys.exists("build/" .. core .. "/sendpulse/core.so"), "make (LUA_IMPL=" .. core .. ") first")
      local out = load_with(lua, core)
      assert.matches("^sendpulse: the C core build/" .. core:gsub("%p", "%%%0") .. "/sendpulse/core%.so was ", out)
      assert.matches(says, out, 1, true)
      -- and what the loader itself said, for whoever digs further
      assert.matches("(the loader said: undefined symbol: lua_", out, 1, true)
    end)
  end

  it("loads the core of the same ABI, and raises any other failure as it was", function()
    assert.equal("loaded", load_with("lua5.4", "lua5.4"))
    assert.equal("loaded", load_with("luajit", "luajit"))
    -- nothing on the cpath: Lua's own message, untouched
    local out = load_with("lua5.4", "nowhere")
    assert.matches("^module 'sendpulse.core' not found:", out)
  end)
end)
