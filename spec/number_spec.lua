-- The one definition of "an integer" that options, query strings, path
-- parameters, multipart parts and the helpers share (sendpulse.number).
local number = require "sendpulse.number"

describe("sendpulse.number", function()
  it("takes any finite number without a fraction as an integer, whatever its subtype", function()
    for _, v in ipairs { 0, 1, -7, 1000.0, -0.0, 2 ^ 53, 2 ^ 60, 1e300 } do
      assert.is_true(number.is_integer(v), tostring(v))
    end
    if math.maxinteger then assert.is_true(number.is_integer(math.maxinteger)) end
  end)

  it("refuses fractions, NaN, infinities and what is not a number", function()
    for _, v in ipairs { 1.5, -0.25, 0 / 0, math.huge, -math.huge, "1", true, {} } do
      assert.is_false(number.is_integer(v), tostring(v))
    end
    assert.is_false(number.is_integer(nil))
  end)

  it("writes integers without a fraction or an exponent", function()
    assert.equal("1000", number.integer_string(1000))
    assert.equal("1000", number.integer_string(1000.0))
    assert.equal("0", number.integer_string(-0.0))
    assert.equal("-42", number.integer_string(-42.0))
    assert.equal("9007199254740992", number.integer_string(2 ^ 53))
    assert.equal("1000000000000000000000", number.integer_string(1e21))
    if math.maxinteger then
      assert.equal("9223372036854775807", number.integer_string(math.maxinteger))
    end
  end)
end)
