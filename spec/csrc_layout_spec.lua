-- The C core's file naming (csrc/sp_lua.h): a file that speaks the Lua C
-- API ends in _lua.c; every other .c is Lua-free and has a header of its
-- name. A new file that breaks the rule fails here, not in review.
local function read(path)
  local f = assert(io.open(path, "rb"))
  local s = f:read("*a")
  f:close()
  return s
end

local function c_files()
  local list = {}
  local pipe = assert(io.popen("ls csrc"))
  for name in pipe:lines() do
    if name:match("%.c$") then list[#list + 1] = name end
  end
  pipe:close()
  return list
end

describe("csrc/ layout", function()
  it("has files on both sides of the rule", function()
    local lua_side, free = 0, 0
    for _, name in ipairs(c_files()) do
      if name:match("_lua%.c$") then lua_side = lua_side + 1 else free = free + 1 end
    end
    assert.is_true(lua_side >= 10 and free >= 6, "csrc/ was not read")
  end)

  it("puts the Lua C API in *_lua.c files only, and gives each Lua-free file its header", function()
    for _, name in ipairs(c_files()) do
      local text = read("csrc/" .. name)
      local speaks_lua = text:find('#include "sp_lua.h"', 1, true) or text:find("#include <lua", 1, true)
        or text:find("#include <lauxlib", 1, true)
      if name:match("_lua%.c$") then
        assert.truthy(speaks_lua, name .. " is named as a binding but does not include sp_lua.h")
      else
        assert.falsy(speaks_lua, name .. " speaks the Lua C API: name it " .. name:gsub("%.c$", "_lua.c"))
        local header = name:gsub("%.c$", ".h")
        assert.truthy(io.open("csrc/" .. header), name .. " has no header " .. header)
      end
    end
  end)
end)
