-- The JSON encoder on Lua values built from the input: strings of any
-- bytes, integers, floats from 8 raw bytes (NaN and infinities included),
-- booleans, null, functions, arrays (some marked with __jsontype), objects,
-- tables with holes, mixed or odd keys, cycles, and long chains of long keys
-- (the error path that once overflowed the stack). An encode either fails
-- with a "json: ..." message or gives text that decodes to the same tree.
local core = require "sendpulse.core"
local lib = dofile("spec/fuzz/lib.lua")

local encode, decode, null, pcall = core.json_encode, core.json_decode, core.null, pcall
local ARRAY = { __jsontype = "array" }

return function(data)
  local pos = 1
  local function byte()
    local b = data:byte(pos) or 0
    pos = pos + 1
    return b
  end
  local function bytes(n)
    local s = data:sub(pos, pos + n - 1)
    pos = pos + n
    return s
  end

  local function gen(level)
    if level > 140 or pos > #data then return byte() end
    local op = byte() % 13
    if op == 0 then
      return bytes(byte() % 48)
    elseif op == 1 then
      return (byte() << 8 | byte()) - 32768
    elseif op == 2 then
      local s = bytes(8)
      return #s == 8 and (string.unpack("<d", s)) or 0.5
    elseif op == 3 then
      return (string.unpack("<i8", bytes(8) .. string.rep("\0", 8), 1))
    elseif op == 4 then
      return byte() % 2 == 0
    elseif op == 5 then
      return byte() % 8 == 0 and function() end or null
    elseif op == 6 or op == 7 then
      local t = {}
      for i = 1, byte() % 8 do t[i] = gen(level + 1) end
      if byte() % 4 == 0 then setmetatable(t, ARRAY) end
      return t
    elseif op == 8 or op == 9 then
      local t = {}
      for _ = 1, byte() % 8 do t[bytes(byte() % 24)] = gen(level + 1) end
      return t
    elseif op == 10 then
      local t, k = { gen(level + 1) }, byte() % 5
      if k == 0 then t[3] = 1 elseif k == 1 then t.x = 1 elseif k == 2 then t[true] = 1
      elseif k == 3 then t[1.5] = 1 else t[0] = 1 end
      return t
    elseif op == 11 then
      local t = { a = gen(level + 1) }
      t.self = t
      return t
    end
    local n, m = byte() % 64, byte() % 64
    local v = gen(level + n)
    for i = 1, n do v = { [string.rep(string.char(97 + i % 26), m + 1)] = v } end
    return v
  end

  local value = gen(0)
  local ok, text = pcall(encode, value)
  if not ok then
    lib.expect_message(text, "json: ", "encode")
    return
  end
  local ok2, back = pcall(decode, text)
  if not ok2 then error("the encoder's output does not decode: " .. tostring(back) .. " in " .. text, 0) end
  if not lib.same(value, back) then error("encode then decode changed the value: " .. text, 0) end
end
