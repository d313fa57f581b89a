local query = require "sendpulse.wire.query"

describe("query strings", function()
  it("percent-encodes names and values, keys sorted", function()
    assert.equal("a=1&b=x%20y&c=%C3%A9%26%3D", query.encode { c = "é&=", b = "x y", a = 1 })
  end)

  it("writes integral numbers as integers and keeps fractions", function()
    assert.equal("id=1000&r=0.5", query.encode { id = 1000.0, r = 0.5 })
  end)

  it("writes every digit of an integer past 2^53", function()
    if math.type then
      -- (load: a literal of this size would not parse on Lua 5.1 or LuaJIT)
      local big = load("return 9007199254740993")()
      assert.equal("id=9007199254740993", query.encode { id = big })
      assert.equal("id=-9223372036854775807", query.encode { id = -load("return 9223372036854775807")() })
    end
    assert.equal("id=18014398509481984", query.encode { id = 2^54 })
    assert.equal("id=100000000000000000000", query.encode { id = 1e20 })
  end)

  it("repeats array parameters and nests objects", function()
    assert.equal("ids=3&ids=4", query.encode { ids = { 3, 4 } })
    assert.equal("f%5Ba%5D=1&f%5Bb%5D=2", query.encode { f = { b = 2, a = 1 } })
  end)

  it("writes booleans as true/false", function()
    assert.equal("active=true&deleted=false", query.encode { active = true, deleted = false })
  end)

  it("rejects what cannot be a parameter, naming it", function()
    local s, err = query.encode { cb = function() end }
    assert.is_nil(s)
    assert.matches("'cb' cannot be a function", err)
    s, err = query.encode { n = 0/0 }
    assert.is_nil(s)
    assert.matches("'n' must be a finite number", err)
    s, err = query.encode { [1] = "x" }
    assert.is_nil(s)
    assert.matches("names must be strings", err)
  end)

  it("refuses tables that have no query form instead of cutting them (issue 10, item 15)", function()
    local sendpulse = require "sendpulse"
    local t = {}
    t.self = t
    local cases = {
      { { ids = { 1, 2, x = 3 } }, "query value 'ids' mixes array items and named fields" },
      { { ids = { [1] = "x", [3] = "z" } }, "query value 'ids' is an array with holes: item 2 is missing" },
      { { ids = { [2] = "x" } }, "item 1 is missing" },
      { { ids = sendpulse.array({ x = 1 }) }, "query value 'ids' is marked as an array but has named fields" },
      { { f = { [1.5] = "x" } }, "query value 'f' has a key that is neither a name nor an array position" },
      { { f = { a = { [true] = 1 } } }, "query value 'f%[a%]' has a key" },
      { { loop = t }, "is nested more than 16 tables deep %(a cycle%?%)" },
    }
    for _, case in ipairs(cases) do
      local s, err = query.encode(case[1])
      assert.is_nil(s, err)
      assert.matches(case[2], err)
    end
  end)

  it("still encodes arrays, marked arrays, objects and empty tables", function()
    local sendpulse = require "sendpulse"
    assert.equal("a=1&a=2&b%5Bx%5D=1&c=3", query.encode {
      a = sendpulse.array({ 1, 2 }), b = { x = 1 }, c = { 3 }, d = {}, e = sendpulse.array() })
  end)

  it("reads the caller's tables raw: no __index or __pairs runs", function()
    local called = false
    local v = setmetatable({ 1 }, { __index = function() called = true end,
                                    __pairs = function() called = true; return next, {}, nil end })
    assert.equal("v=1", query.encode { v = v })
    assert.is_false(called)
  end)
end)
