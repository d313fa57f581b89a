-- The JSON decoder on any bytes, with a round trip through the encoder:
-- a decode either fails with a "json: ..." message or gives a value that
-- encodes (unless it holds an infinity: 1e400) and decodes back to the
-- same tree.
local core = require "sendpulse.core"
local lib = dofile("spec/fuzz/lib.lua")

local decode, encode, pcall = core.json_decode, core.json_encode, pcall

return function(data)
  local ok, value = pcall(decode, data)
  if not ok then
    lib.expect_message(value, "json: ", "decode")
    return
  end
  local text
  ok, text = pcall(encode, value)
  if not ok then
    lib.expect_message(text, "json: ", "encode of a decoded value")
    if not text:find("NaN or infinity", 1, true) then error("cannot encode a decoded value: " .. text, 0) end
    return
  end
  local ok2, again = pcall(decode, text)
  if not ok2 then error("the encoder's output does not decode: " .. tostring(again), 0) end
  if not lib.same(value, again) then error("round trip changed the value: " .. text, 0) end
end
