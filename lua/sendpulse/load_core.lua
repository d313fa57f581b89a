--- The C core (sendpulse.core), loaded with an error that says what went
-- wrong when the one found on package.cpath was built for another Lua:
--
--   local core = require "sendpulse.load_core"   -- what sendpulse.lua does
--
-- Such a core never runs: the dynamic linker refuses it while loading,
-- with "undefined symbol: lua_tointegerx" (a 5.4 core in Lua 5.1) or
-- "lua_newuserdatauv" (in LuaJIT or 5.3), which names neither Lua. The
-- core carries the line "sendpulse.core built for Lua 5.4"
-- (csrc/sp_core_lua.c), read here from the file the loader named, so the
-- error says "built for Lua 5.4, this is Lua 5.1" and how to build the
-- right one. Any other failure is raised as it was.

local require, pcall, error, type, tostring = require, pcall, error, type, tostring
local open, format = io.open, string.format

-- The running Lua, as the core's line names it, and how a user says it to
-- make (LUA_IMPL) and luarocks (--lua-version).
local function this_lua()
  local jit = rawget(_G, "jit")
  local version = _VERSION:match("Lua %d+%.%d+") or _VERSION
  if type(jit) == "table" then
    return format("%s (%s)", version, tostring(jit.version)), "luajit", "5.1"
  end
  local v = version:match("%d+%.%d+")
  return version, "lua" .. tostring(v), v
end

-- What the file at `path` says it was built for ("Lua 5.4"), or nil. Read
-- only on this failure path; the file is a few hundred KiB.
local function built_for(path)
  local f = open(path, "rb")
  if not f then return nil end
  local data = f:read("*a")
  f:close()
  return data and data:match("\nsendpulse%.core built for (Lua %d+%.%d+)\n")
end

local ok, core = pcall(require, "sendpulse.core")
if ok then return core end
do
  local message = tostring(core)
  local path = message:match("from file '(.-)':")
  local theirs = path and message:find("undefined symbol", 1, true) and built_for(path)
  if not theirs then error(core, 0) end
  local mine, impl, abi = this_lua()
  error(format("sendpulse: the C core %s was built for %s, this is %s: build it for this Lua "
    .. "(make LUA_IMPL=%s, or luarocks --lua-version=%s) or put the build for this Lua first on package.cpath "
    .. "(the loader said: %s)", path, theirs, mine, impl, abi,
    (message:match("(undefined symbol: [%w_]+)"))), 0)
end
