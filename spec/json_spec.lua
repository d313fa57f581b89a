local json = require "sendpulse.json"
local sendpulse = require "sendpulse"

describe("JSON encoding", function()
  it("keeps integers exact and prints integral floats as integers", function()
    -- Lua 5.3+ has 64-bit integers; on Lua 5.1 and LuaJIT every number is a
    -- double, exact up to 2^53. The literal goes through load() so that
    -- LuaJIT does not round it at compile time of this file.
    local big, text = 2^53, "9007199254740992"
    if math.type then big, text = load("return 9007199254740993")(), "9007199254740993" end
    assert.equal('[1000,' .. text .. ',1000,-5]', json.encode({ 1000, big, 1000.0, -5 }))
  end)

  it("prints other floats so they read back the same", function()
    local values = { 0.1, 1.5, 1e300, 2^-30, 1/3 }
    local out = json.encode(values)
    assert.equal('[0.1,1.5,1e+300,', out:sub(1, 16))
    assert.same(values, json.decode(out))
  end)

  it("sends an empty table as an object and sendpulse.array as an array", function()
    assert.equal('{}', json.encode({}))
    assert.equal('[]', json.encode(sendpulse.array()))
    assert.equal('{"emails":[]}', json.encode({ emails = sendpulse.array({}) }))
    assert.equal('[1,2]', json.encode(sendpulse.array({ 1, 2 })))
  end)

  it("sends sendpulse.null (which is cjson.null) as null", function()
    assert.equal(require("cjson").null, sendpulse.null)
    assert.equal('{"a":null}', json.encode({ a = sendpulse.null }))
    assert.equal('[1,null,3]', json.encode({ 1, sendpulse.null, 3 }))
  end)

  it("escapes strings and keeps UTF-8", function()
    assert.equal('"q\\"\\\\\\n\\u0001Привет"', json.encode('q"\\\n\1Привет'))
  end)

  it("names the place of what it cannot encode", function()
    local cases = {
      { { a = { 1, nil, 3 } }, "array has holes .* at value.a" },
      { { a = { b = function() end } }, "cannot encode a function at value.a.b" },
      { { 1, 2, x = 3 }, "mixes array items and string keys at value" },
      { { [true] = 1 }, "neither strings nor array positions at value" },
      { { n = 0/0 }, "NaN or infinity cannot be encoded at value.n" },
      { { list = { { email = 1/0 } } }, "at value.list%[1%].email" },
      -- marked as an array, yet with named fields: refused, not cut to [] or [1,2]
      { { ids = sendpulse.array({ x = 3 }) }, "table marked as an array has string keys at value.ids" },
      { sendpulse.array({ 1, 2, x = 3 }), "table marked as an array has string keys at value" },
      { sendpulse.array({ [1] = 1, [3] = 3 }), "array has holes" },
    }
    for _, case in ipairs(cases) do
      local ok, err = pcall(json.encode, case[1])
      assert.is_false(ok)
      assert.matches(case[2], err)
    end
  end)

  it("refuses strings and keys that are not UTF-8, naming the byte and the place (issue 21)", function()
    local cases = {
      { { emails = { { email = "a@example.com", variables = { name = "Zo\235" } } } },
        "^json: a string is not UTF%-8 %(byte 3 is 0xEB%) at value.emails%[1%].variables.name$" },
      { "\192\175", "byte 1 is 0xC0" },                -- an overlong '/'
      { { x = "ok \237\160\128" }, "byte 4 is 0xED%) at value.x$" },   -- a surrogate
      { { "ok", "\244\144\128\128" }, "at value%[2%]$" },   -- above U+10FFFF
      { { tail = "ab\226\156" }, "byte 3 is 0xE2" },    -- cut short
      { { list = { ["k\255"] = 1 } }, "^json: a key is not UTF%-8 %(byte 2 is 0xFF%) at value.list$" },
    }
    for _, case in ipairs(cases) do
      local ok, err = pcall(json.encode, case[1])
      assert.is_false(ok)
      assert.matches(case[2], err)
    end
    -- core.json_string_size: the same rule ahead of the encoder, with the size it writes
    local core = require "sendpulse.core"
    assert.same({ nil, 3 }, { core.json_string_size("Zo\235") })
    assert.same({ nil, 6 }, { core.json_string_size("ab\233cd\255", 4) })   -- from a position on
    assert.equal(4, core.json_string_size("ab\233cd", 4))
    for _, v in ipairs { "", "plain", 'q"\\\n\1\127', "Zo\195\171 \240\159\152\128", ("\t"):rep(100) } do
      assert.equal(#json.encode(v), core.json_string_size(v))
    end
    -- what is UTF-8 goes out as it is: up to U+10FFFF, NUL escaped
    assert.equal('"\239\191\191\244\143\191\191\\u0000"', json.encode("\239\191\191\244\143\191\191\0"))
  end)

  it("refuses cycles instead of looping", function()
    local t = {}
    t.self = t
    local ok, err = pcall(json.encode, t)
    assert.is_false(ok)
    assert.matches("nested too deep", err)
  end)

  it("names a place 40 levels deep with long keys (the error path once overflowed the Lua stack)", function()
    -- Issue 10 item 12: longer than LUAL_BUFFERSIZE, the path's buffer boxes
    -- itself; a Lua built with LUA_USE_APICHECK caught the encoder without
    -- room for that (spec/fuzz runs this case on such a Lua too).
    local v, want = function() end, {}
    for i = 40, 1, -1 do
      local key = string.rep(string.char(96 + i % 26 + 1), 40)
      v = { [key] = v }
      table.insert(want, 1, key)
    end
    local ok, err = pcall(json.encode, v)
    assert.is_false(ok)
    assert.equal("json: cannot encode a function at value." .. table.concat(want, "."), err)
  end)

  it("gives correct JSON when encoding runs Lua code that encodes (reentrancy)", function()
    -- Issue 10 item 13: an __index on the metatable's metatable called the
    -- encoder while __jsontype was read, which emptied the shared output
    -- buffer and produced {"b":1}}.
    local inner
    local meta = setmetatable({}, { __index = function()
      inner = json.encode { b = 1 }
      return nil
    end })
    local t = setmetatable({ a = { 1, 2 } }, meta)
    assert.equal('{"x":{"a":[1,2]}}', json.encode { x = t })
    assert.is_nil(inner, "no Lua code runs while a value is encoded")
  end)

  it("does not change the table it encodes", function()
    local t = { b = { 1, 2 }, c = {} }
    json.encode(t)
    assert.same({ b = { 1, 2 }, c = {} }, t)
    assert.is_nil(getmetatable(t.c))
  end)
end)

describe("JSON decoding", function()
  it("gives integers for integral numbers (never 1000.0)", function()
    local v = json.decode('{"id":1000,"list":[1,2.5,{"n":-3}],"big":123456789012}')
    assert.equal("1000", tostring(v.id))
    assert.equal("-3", tostring(v.list[3].n))
    assert.equal("123456789012", tostring(v.big))
    assert.equal(2.5, v.list[2])
  end)

  it("decodes null as sendpulse.null", function()
    assert.equal(sendpulse.null, json.decode('{"a":null}').a)
  end)

  it("returns nil and a message for bad JSON", function()
    local v, err = json.decode('{"a":')
    assert.is_nil(v)
    assert.is_string(err)
    assert.is_nil(json.decode("NaN"))
  end)

  it("round-trips ids without turning them into floats", function()
    local v = json.decode('{"ids":[1,2,3],"id":77}')
    assert.equal('{"id":77}', json.encode({ id = v.id }))
    assert.equal('[1,2,3]', json.encode(v.ids))
  end)
end)
