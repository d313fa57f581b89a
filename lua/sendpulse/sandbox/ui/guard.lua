-- Who may use the sandbox's own pages and control calls (/_sandbox/...).
--
-- A page open in the same browser, from another origin (another port of
-- 127.0.0.1 is another origin), must not reset the sandbox or queue a fault:
-- a cross-origin form or fetch can still POST there. And a name that an
-- attacker's DNS points at 127.0.0.1 (DNS rebinding) makes the attacker's
-- page same-origin with the sandbox. So, for every /_sandbox/ request:
--   * when the sandbox listens on loopback, the Host header must name
--     loopback (127.x.x.x, localhost, [::1]): a rebinding name is refused,
--     reads included;
--   * a request that changes state (any method but GET and HEAD) is refused
--     when the browser says it comes from another origin: an Origin header
--     other than this origin, or Sec-Fetch-Site other than same-origin or
--     none. Browsers send both on every such request; curl, the library and
--     the tests send neither, and pass;
--   * the pages' own forms (POST /_sandbox/ui/...) also carry the token the
--     sandbox printed at start (token()), which only its pages hold.
-- Refusals are 403s with a message saying which rule.
local type, format, byte, char = type, string.format, string.byte, string.char
local lower, concat = string.lower, table.concat

local _M = {}

local LOOPBACK_NAMES = { localhost = true, ["[::1]"] = true, ["::1"] = true }

function _M.is_loopback(host)
  host = lower(host or "")
  return LOOPBACK_NAMES[host] or host:find("^127%.%d+%.%d+%.%d+$") ~= nil
    or host:find("%.localhost$") ~= nil
end

-- The host part of a Host header ("127.0.0.1:8765" -> "127.0.0.1").
local function host_name(h)
  if h:sub(1, 1) == "[" then return h:match("^(%[[^%]]*%])") end
  return h:match("^([^:]*)")
end

local SAFE_METHODS = { GET = true, HEAD = true }

-- nil when `req` may go on, else the reason for a 403.
-- `server`: its host (what it listens on).
function _M.refusal(server, req)
  local host = req.headers["host"]
  if _M.is_loopback(server.host) and host and not _M.is_loopback(host_name(host)) then
    return "Host " .. host .. " is not a loopback name: the sandbox listens on loopback only"
  end
  if SAFE_METHODS[req.method] then return nil end
  local site = req.headers["sec-fetch-site"]
  if site and site ~= "same-origin" and site ~= "none" then
    return "a request from another site or origin (Sec-Fetch-Site: " .. site .. ") may not change the sandbox"
  end
  local origin = req.headers["origin"]
  if origin and (not host or lower(origin) ~= "http://" .. lower(host)) then
    return "a request from another origin (" .. origin .. ") may not change the sandbox"
  end
  return nil
end

-- A new random token: 32 hex digits from /dev/urandom (math.random when
-- there is none).
function _M.new_token()
  local f = io.open("/dev/urandom", "rb")
  local raw = f and f:read(16)
  if f then f:close() end
  if not raw or #raw < 16 then
    local t = {}
    for i = 1, 16 do t[i] = char(math.random(0, 255)) end
    raw = concat(t)
  end
  return (raw:gsub(".", function(c) return format("%02x", byte(c)) end))
end

-- Whether `given` is the token (compared in full whatever the first
-- difference, so the time taken tells nothing).
function _M.token_ok(token, given)
  if type(given) ~= "string" or #given ~= #token then return false end
  local diff = 0
  for i = 1, #token do
    if byte(token, i) ~= byte(given, i) then diff = diff + 1 end
  end
  return diff == 0
end

return _M
