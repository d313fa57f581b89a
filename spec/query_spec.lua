local query = require "sendpulse.wire.query"

describe("query strings", function()
  it("percent-encodes names and values, keys sorted", function()
    assert.equal("a=1&b=x%20y&c=%C3%A9%26%3D", query.encode { c = "é&=", b = "x y", a = 1 })
  end)

  it("writes integral numbers as integers and keeps fractions", function()
    assert.equal("id=1000&r=0.5", query.encode { id = 1000.0, r = 0.5 })
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
end)
