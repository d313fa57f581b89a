--- Source-address allow-lists: "192.0.2.0/24", "2001:db8::/32", or a bare
-- address (one host).
--
--   local cidr = require "sendpulse.webhooks.cidr"
--   local allowed, err = cidr.matcher { "192.0.2.0/24", "2001:db8::/32" }
--   allowed("192.0.2.7") -> true;  allowed("198.51.100.1") -> false
--
-- Every address is kept as 16 bytes: IPv4 as its IPv4-mapped IPv6 form
-- (::ffff:a.b.c.d), so an IPv4 rule also matches a peer that a dual-stack
-- socket reports as ::ffff:a.b.c.d. A peer address that cannot be read is
-- never allowed. IPv4 parts are strict decimal (no leading zeros, no
-- shortened forms such as "10.1"); a zone ("fe80::1%eth0") is refused in a
-- rule and ignored in a peer address.
local type, ipairs, tonumber, floor = type, ipairs, tonumber, math.floor
local format, tostring = string.format, tostring

local _M = {}

local function v4_bytes(s, out, at)
  local a, b, c, d = s:match("^(%d+)%.(%d+)%.(%d+)%.(%d+)$")
  if not a then return nil end
  for i, part in ipairs { a, b, c, d } do
    if #part > 3 or (#part > 1 and part:sub(1, 1) == "0") then return nil end
    local n = tonumber(part)
    if n > 255 then return nil end
    out[at + i - 1] = n
  end
  return out
end

local function groups(s, allow_v4_tail)
  local list = {}
  if s == "" then return list end
  local parts = {}
  for g in (s .. ":"):gmatch("([^:]*):") do parts[#parts + 1] = g end
  for i, g in ipairs(parts) do
    if i == #parts and allow_v4_tail and g:find(".", 1, true) then
      local four = v4_bytes(g, {}, 1)
      if not four then return nil end
      list[#list + 1] = four[1] * 256 + four[2]
      list[#list + 1] = four[3] * 256 + four[4]
    else
      if not g:find("^%x%x?%x?%x?$") then return nil end
      list[#list + 1] = tonumber(g, 16)
    end
  end
  return list
end

local function v6_bytes(s)
  if s:find("[^%x:%.]") then return nil end
  local head, tail = s:match("^(.-)::(.*)$")
  local words
  if head then
    if tail:find("::", 1, true) then return nil end
    local h, t = groups(head, false), groups(tail, true)
    if not h or not t or #h + #t > 7 then return nil end
    words = h
    for _ = 1, 8 - #h - #t do words[#words + 1] = 0 end
    for _, w in ipairs(t) do words[#words + 1] = w end
  else
    words = groups(s, true)
    if not words or #words ~= 8 then return nil end
  end
  local out = {}
  for i, w in ipairs(words) do
    out[2 * i - 1] = floor(w / 256)
    out[2 * i] = w % 256
  end
  return out
end

--- An address as 16 bytes (a list), and whether it was written as IPv4;
-- nil when it is not an address.
function _M.address(s)
  if type(s) ~= "string" or #s > 64 then return nil end
  if s:find(":", 1, true) then
    return v6_bytes(s), false
  end
  local out = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 255, 255 }
  return v4_bytes(s, out, 13), true
end
local address = _M.address

--- One rule: { bytes = 16 bytes, bits = prefix length over 128 }, or nil
-- and why.
function _M.rule(s)
  if type(s) ~= "string" then return nil, "must be a string" end
  local addr, len = s:match("^([^/]+)/(%d+)$")
  if not addr then
    if s:find("/", 1, true) then return nil, "has a bad prefix length" end
    addr = s
  end
  local bytes, v4 = address(addr)
  if not bytes then return nil, "is not an IPv4 or IPv6 address" end
  if len and #len > 1 and len:sub(1, 1) == "0" then return nil, "has a bad prefix length" end
  local max = v4 and 32 or 128
  local bits = len and tonumber(len) or max
  if bits > max then return nil, format("has a prefix length over %d", max) end
  return { bytes = bytes, bits = v4 and bits + 96 or bits }
end

local function inside(bytes, rule)
  local bits, want = rule.bits, rule.bytes
  local i = 1
  while bits >= 8 do
    if bytes[i] ~= want[i] then return false end
    i, bits = i + 1, bits - 8
  end
  if bits == 0 then return true end
  local unit = 2 ^ (8 - bits)
  return floor(bytes[i] / unit) == floor(want[i] / unit)
end

--- matcher(list) -> function(peer_address) -> bool; or nil and a message
-- that names the bad entry.
function _M.matcher(list)
  if type(list) ~= "table" or #list == 0 then
    return nil, "'allow' must be a non-empty list of addresses or CIDR ranges"
  end
  local rules = {}
  for i, s in ipairs(list) do
    local rule, why = _M.rule(s)
    if not rule then return nil, format("'allow'[%d] (%s) %s", i, tostring(s):sub(1, 64), why) end
    rules[i] = rule
  end
  return function(peer)
    if type(peer) ~= "string" then return false end
    local bytes = address((peer:gsub("%%.*$", "")))
    if not bytes then return false end
    for _, rule in ipairs(rules) do
      if inside(bytes, rule) then return true end
    end
    return false
  end
end

return _M
