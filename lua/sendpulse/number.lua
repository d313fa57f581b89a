--- Integers as the API takes them, decided in one place.
--
-- SendPulse's ids, counts and sizes are integers, but a Lua program may
-- hold one as a float (1000.0 from arithmetic, or any number on Lua 5.1
-- and LuaJIT, which have no integer subtype). Here an integer is any
-- finite number without a fraction, whatever its subtype, and it is
-- written "1000", never "1000.0" or "1e+03". The JSON encoder in C follows
-- the same rule for bodies.

local type, format = type, string.format
local math_type, huge = math.type, math.huge   -- math.type: nil before 5.3

local _M = {}

--- Floats hold every integer up to this magnitude exactly; beyond it, a
-- float integer may not be the number that was meant.
_M.MAX_EXACT = 2 ^ 53

--- Is v a number that holds an integer (1000 or 1000.0; never NaN or an
-- infinity)?
function _M.is_integer(v)
  if math_type then
    local t = math_type(v)
    if t == "integer" then return true end
    if t ~= "float" then return false end
  elseif type(v) ~= "number" then
    return false
  end
  return v == v and v ~= huge and v ~= -huge and v % 1 == 0
end

--- The decimal digits of v, a number for which is_integer holds.
function _M.integer_string(v)
  if math_type and math_type(v) == "integer" then return format("%d", v) end
  if v == 0 then return "0" end   -- not "-0"
  return format("%.0f", v)
end

return _M
