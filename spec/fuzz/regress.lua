-- The findings of issue 10 that only a Lua built with LUA_USE_APICHECK or
-- ASan shows, as unit tests run on that Lua by spec/fuzz/regress.c (the
-- busted suite checks their visible behaviour on the ordinary Luas too).
-- Each entry: name, function that raises on failure.
local core = require "sendpulse.core"

return {
  { "item 12: encoder error path 40 levels deep with 40-character keys", function()
    local v, want = function() end, {}
    for i = 40, 1, -1 do
      local key = string.rep(string.char(96 + i % 26 + 1), 40)
      v = { [key] = v }
      table.insert(want, 1, key)
    end
    local ok, err = pcall(core.json_encode, v)
    assert(not ok and err == "json: cannot encode a function at value." .. table.concat(want, "."), err)
    -- and the deepest path the encoder allows
    v = function() end
    for _ = 1, 127 do v = { [string.rep("k", 200)] = v } end
    ok, err = pcall(core.json_encode, v)
    assert(not ok and err:find("^json: cannot encode a function at value%.k"), err)
  end },
  { "item 13: an __index that calls the encoder does not corrupt its output", function()
    local meta = setmetatable({}, { __index = function() core.json_encode { b = 1 } end })
    local text = core.json_encode { x = setmetatable({ a = { 1, 2 } }, meta) }
    assert(text == '{"x":{"a":[1,2]}}', text)
  end },
  { "item 14: numbers of any length, wide tables nested deep", function()
    local long = "0." .. string.rep("1", 300)
    assert(core.json_decode(long) == tonumber(long))
    local open, close = {}, {}
    for i = 1, 40 do open[i], close[i] = "[" .. string.rep("0,", 255), "]" end
    assert(type(core.json_decode(table.concat(open) .. "1" .. table.concat(close))) == "table")
  end },
}
