-- Strict Base64 (RFC 4648, with padding) for the sandbox, in plain Lua: the
-- sandbox must refuse what SendPulse refuses (a body sent as plain text where
-- Base64 is due), and LuaSocket's mime.unb64 accepts anything.
local byte, char, sub = string.byte, string.char, string.sub
local concat = table.concat
local floor = math.floor

local _M = {}

local ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
local VALUE = {}
for i = 1, 64 do VALUE[byte(ALPHABET, i)] = i - 1 end

function _M.encode(s)
  local out = {}
  for i = 1, #s, 3 do
    local a, b, c = byte(s, i, i + 2)
    local n = a * 65536 + (b or 0) * 256 + (c or 0)
    local c1, c2 = floor(n / 262144) % 64, floor(n / 4096) % 64
    local c3, c4 = floor(n / 64) % 64, n % 64
    out[#out + 1] = sub(ALPHABET, c1 + 1, c1 + 1) .. sub(ALPHABET, c2 + 1, c2 + 1)
      .. (b and sub(ALPHABET, c3 + 1, c3 + 1) or "=") .. (c and sub(ALPHABET, c4 + 1, c4 + 1) or "=")
  end
  return concat(out)
end

-- Returns the bytes, or nil when `s` is not Base64 (line breaks allowed).
function _M.decode(s)
  if type(s) ~= "string" then return nil end
  s = s:gsub("[\r\n]", "")
  if #s % 4 ~= 0 then return nil end
  local out = {}
  for i = 1, #s, 4 do
    local last = i + 4 > #s
    local v = {}
    for j = 0, 3 do
      local ch = byte(s, i + j)
      if ch == 61 and last and j >= 2 then
        v[j + 1] = false
      else
        local x = VALUE[ch]
        if x == nil or (v[j] == false) then return nil end
        v[j + 1] = x
      end
    end
    local n = v[1] * 262144 + v[2] * 4096 + (v[3] or 0) * 64 + (v[4] or 0)
    local a, b, c = floor(n / 65536), floor(n / 256) % 256, n % 256
    if v[3] == false then out[#out + 1] = char(a)
    elseif v[4] == false then out[#out + 1] = char(a, b)
    else out[#out + 1] = char(a, b, c) end
  end
  return concat(out)
end

return _M
