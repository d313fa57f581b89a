-- The C JSON decoder behind sendpulse.json.decode (csrc/sp_json_decode_lua.c):
-- the same trees lua-cjson + an integer fix gave, strict JSON, clear
-- errors, and no raise for any broken input.
local json = require "sendpulse.json"
local sendpulse = require "sendpulse"
local cjson = require "cjson"

local decode = json.decode
local has_integers = math.type ~= nil

-- What the client did before: lua-cjson, then integral floats made integers.
local reference = cjson.new()
reference.decode_invalid_numbers(false)
-- The integer fix, written here independently of the decoder under test:
-- integral floats within 2^53 become integers (5.3+ only).
local function fix_numbers(v)
  if type(v) == "table" then
    for k, x in pairs(v) do v[k] = fix_numbers(x) end
  elseif has_integers and math.type(v) == "float" and v == math.floor(v) and math.abs(v) <= 2^53 then
    return math.tointeger(v)
  end
  return v
end
local function old_decode(text)
  return fix_numbers(reference.decode(text))
end

-- Deep equality that also compares number subtypes (5.3+).
local function same(a, b, path)
  path = path or "value"
  if type(a) ~= type(b) then return false, path .. ": " .. type(a) .. " vs " .. type(b) end
  if type(a) == "number" and has_integers and math.type(a) ~= math.type(b) then
    return false, path .. ": " .. math.type(a) .. " vs " .. math.type(b)
  end
  if type(a) ~= "table" then
    if a == b or (a ~= a and b ~= b) then return true end
    return false, path .. ": " .. tostring(a) .. " vs " .. tostring(b)
  end
  for k, v in pairs(a) do
    local ok, why = same(v, b[k], path .. "." .. tostring(k))
    if not ok then return false, why end
  end
  for k in pairs(b) do
    if a[k] == nil then return false, path .. "." .. tostring(k) .. " missing" end
  end
  return true
end

local function assert_same(a, b)
  local ok, why = same(a, b)
  assert(ok, why)
end

describe("JSON decoder", function()
  it("gives the trees lua-cjson + the integer fix gave", function()
    local texts = {
      '{"id":1000,"list":[1,2.5,{"n":-3}],"big":123456789012}',
      '[true,false,null,"",[],{},0,-0,1e3,2.5e-3,-1.25E+2,1000.0]',
      '{"emails":[{"email":"a@example.com","status":1,"variables":{"name":"A","age":30}}],'
        .. '"total":1,"is_error":false,"message":"ok"}',
      '  {"nested":{"a":{"b":{"c":[[[1]]]}}}}  ',
      '"just a string"', "42", "-7", "3.25", "true", "null",
      '{"esc":"a\\"b\\\\c\\/d\\b\\f\\n\\r\\t","u":"\\u00e9\\u4e2d\\ud83d\\ude00"}',
    }
    for _, text in ipairs(texts) do
      assert_same(old_decode(text), decode(text))
    end
  end)

  it("agrees with the old path on a large generated contact list", function()
    local parts = {}
    for i = 1, 2000 do
      parts[i] = string.format(
        '{"email":"user%d@example.com","status":%d,"status_explain":"Active",'
        .. '"variables":{"name":"User %d","score":%d.%d,"vip":%s,"coupon":null,"ids":[%d,%d]}}',
        i, i % 2, i, i % 97, i % 10, i % 3 == 0 and "true" or "false", i, i * 7)
    end
    local text = "[" .. table.concat(parts, ",") .. "]"
    assert_same(old_decode(text), decode(text))
  end)

  it("fills arrays and objects larger than one batch, in order", function()
    local items, fields = {}, {}
    for i = 1, 1000 do items[i] = tostring(i * 3) end
    for i = 1, 300 do fields[i] = string.format('"k%d":%d', i, i) end
    local arr = decode("[" .. table.concat(items, ",") .. "]")
    assert.equal(1000, #arr)
    for i = 1, 1000 do assert.equal(i * 3, arr[i]) end
    local obj = decode("{" .. table.concat(fields, ",") .. "}")
    for i = 1, 300 do assert.equal(i, obj["k" .. i]) end
  end)

  it("keeps the last value of a repeated key, also across batches", function()
    assert.equal(2, decode('{"a":1,"a":2}').a)
    local fields = { '"dup":"first"' }
    for i = 1, 100 do fields[#fields + 1] = string.format('"k%d":%d', i, i) end
    fields[#fields + 1] = '"dup":"last"'
    assert.equal("last", decode("{" .. table.concat(fields, ",") .. "}").dup)
  end)

  it("decodes null as sendpulse.null, {} as a plain empty table and [] as one marked an array", function()
    local v = decode('{"a":null,"b":[],"c":{},"d":[[],{}]}')
    assert.equal(sendpulse.null, v.a)
    assert.equal(cjson.null, v.a)
    assert.same({}, v.b)
    assert.equal(json.array_mt, getmetatable(v.b))
    assert.same({}, v.c)
    assert.is_nil(getmetatable(v.c))
    -- so each goes back out as it came (issue 21: the command printed {} for [])
    assert.equal("[]", json.encode(v.b))
    assert.equal("{}", json.encode(v.c))
    assert.equal("[[],{}]", json.encode(v.d))
    -- the core without the mark: plain tables, as before
    local core = require "sendpulse.core"
    assert.is_nil(getmetatable(core.json_decode("[]")))
    assert.has_error(function() core.json_decode("[]", "mark") end)
  end)

  it("refuses strings that are not UTF-8 (issue 21), as the encoder does", function()
    -- Latin-1, an overlong '/', a surrogate, above U+10FFFF, cut short, a
    -- lone continuation byte, in a key, after an escape
    for _, text in ipairs { '"caf\233"', '"\192\175"', '"\237\160\128"', '"\244\144\128\128"',
                            '"ab\195"', '["ok","\128"]', '{"k\255":1}', '"x\\n\233"' } do
      local v, err = decode(text)
      assert.is_nil(v, text)
      assert.matches("^json: string is not UTF%-8 at character %d+$", err)
    end
    local _, err = decode('["ok","ab\233"]')
    assert.equal("json: string is not UTF-8 at character 10", err)
    assert.equal("Zo\195\171 \226\156\147 \240\159\152\128", decode('"Zo\195\171 \226\156\147 \240\159\152\128"'))
    assert.equal("\239\191\191\244\143\191\191", decode('"\239\191\191\244\143\191\191"'))
  end)

  it("decodes escapes to UTF-8, including surrogate pairs and NUL", function()
    assert.equal("\195\169", decode('"\\u00e9"'))
    assert.equal("\240\159\152\128", decode('"\\ud83d\\ude00"'))
    assert.equal("a\0b", decode('"a\\u0000b"'))
    assert.equal('/"\\', decode('"\\/\\"\\\\"'))
  end)

  if has_integers then
    it("keeps integers exact beyond 2^53 and makes whole floats integers", function()
      assert.equal("9007199254740993", tostring(decode("9007199254740993")))
      assert.equal("9223372036854775807", tostring(decode("9223372036854775807")))
      assert.equal("-123456789012345678", tostring(decode("-123456789012345678")))
      assert.equal("float", math.type(decode("12345678901234567890123")))
      assert.equal("integer", math.type(decode("1000.0")))
      assert.equal("integer", math.type(decode("1e3")))
      assert.equal("float", math.type(decode("1e300")))
      assert.equal(0.5, decode("5e-1"))
    end)
  end

  it("returns nil and a message naming the place for invalid JSON", function()
    local bad = {
      "", "   ", "{", '{"a":', '{"a" 1}', '{a:1}', "[1,]", '{"a":1,}', "[1 2]",
      "NaN", "Infinity", "-Infinity", "0x10", "01", "1.", ".5", "-", "1e", "1e+",
      "+1", "tru", "nul", "falsey", "'s'", '"abc', '"a\\x"', '"\\u12"', '"\\u12zz"',
      '"\\ud800"', '"\\ud800\\u0041"', '"\\udc00"', '"a\1b"', '"tab\there"', "[1] x", "{} {}",
      "/* c */ 1", "[1,2,3", '{"a":[}',
    }
    for _, text in ipairs(bad) do
      local v, err = decode(text)
      assert(v == nil, "decoded invalid JSON: " .. text)
      assert(type(err) == "string" and err:find("^json: .+ at character %d+$"),
        "message for " .. text .. ": " .. tostring(err))
    end
    local _, err = decode('{"a": tru}')
    assert.equal("json: unexpected character at character 7", err)
  end)

  it("limits nesting to 1000 levels", function()
    assert.is_table(decode(("["):rep(1000) .. ("]"):rep(1000)))
    local v, err = decode(("["):rep(1001) .. ("]"):rep(1001))
    assert.is_nil(v)
    assert.matches("nested too deep", err)
    v, err = decode(('{"a":'):rep(5000) .. "1" .. ("}"):rep(5000))
    assert.is_nil(v)
    assert.matches("nested too deep", err)
  end)

  it("decodes valid numbers of any length (issue 10 item 14)", function()
    local long = "0." .. string.rep("1", 100) .. "e2"
    assert.equal(tonumber(long), decode("[" .. long .. "]")[1])
    local digits = string.rep("9", 400)
    assert.equal(tonumber(digits), decode(digits))
    assert.equal(-tonumber(long), decode("-" .. long))
    local v, err = decode(string.rep("1", 100) .. "x")
    assert.is_nil(v)
    assert.matches("at character 101", err)
  end)

  it("nests wide tables as deep as the limit on every Lua (LuaJIT's C stack of 8000 slots)", function()
    -- Issue 10 item 14: 32 arrays, each after 255 siblings, overflowed
    -- LuaJIT's stack far inside the 1000-level limit.
    local open, close = {}, {}
    for i = 1, 32 do open[i] = "[" .. string.rep("0,", 255) end
    for i = 1, 32 do close[i] = "]" end
    local v = decode(table.concat(open) .. "1" .. table.concat(close))
    for _ = 1, 31 do
      assert.equal(256, #v)
      v = v[256]
    end
    assert.same({ 0, 1 }, { v[255], v[256] })
    -- objects too, and the full 1000 levels of wide arrays
    open = {}
    for i = 1, 40 do open[i] = "{" .. string.rep('"k":0,', 63):gsub("k", function() return "k" .. i end) .. '"z":' end
    v = decode(table.concat(open) .. "1" .. string.rep("}", 40))
    assert.is_table(v.z)
    open = {}
    for i = 1, 999 do open[i] = "[" .. string.rep("0,", 10) end
    v = decode(table.concat(open) .. "1" .. string.rep("]", 999))
    assert.equal(11, #v)
  end)

  it("never raises on a truncated or damaged answer", function()
    local text = '{"emails":[{"email":"a\\u00e9@x.org","n":-1.5e3,"ok":true,"x":null}],"t":12}'
    for i = 0, #text do
      local cut = text:sub(1, i)
      local ok = pcall(decode, cut)
      assert(ok, "raised on " .. cut)
      local damaged = text:sub(1, i) .. "\255" .. text:sub(i + 2)
      assert(pcall(decode, damaged), "raised on " .. damaged)
    end
  end)
end)
