-- Helpers the Lua fuzz targets share (loaded with dofile from the
-- repository root, as the targets are).
local _M = {}

--- Whether two decoded JSON values are the same tree. Numbers compare by
-- value (1 == 1.0: an integral float goes back out as an integer).
function _M.same(a, b, depth)
  depth = depth or 0
  if depth > 2000 then error("same: nested too deep") end
  if type(a) ~= type(b) then return false end
  if type(a) ~= "table" then return a == b end
  for k, v in pairs(a) do
    if not _M.same(v, b[k], depth + 1) then return false end
  end
  for k in pairs(b) do
    if a[k] == nil then return false end
  end
  return true
end

--- Raises unless `err` is a string that starts with `prefix` (the form a
-- documented failure takes).
function _M.expect_message(err, prefix, what)
  if type(err) ~= "string" or err:sub(1, #prefix) ~= prefix then
    error(what .. ": not a " .. prefix .. " message: " .. tostring(err), 0)
  end
end

return _M
