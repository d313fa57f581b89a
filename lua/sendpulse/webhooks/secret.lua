--- The shared secret in the webhook URL: SendPulse signs nothing, so an
-- unguessable part of the URL you register is what tells its POSTs from
-- anyone else's (docs/webhooks.md, "Authenticity").
--
--   local secret = require "sendpulse.webhooks.secret"
--   local check = secret.checker({ "s3cret...", "old-s3cret..." })  -- rotation: any of them
--   check(given) -> true | false
--   secret.from_path("/hooks/sendpulse/s3cret")   -> "s3cret"
--   secret.equal(a, b)                            -> constant-time comparison
--
-- The comparison takes the same time wherever the strings first differ (it
-- always walks the whole expected secret), so the answer's timing does not
-- reveal how much of a guess was right. It does depend on the expected
-- secret's length, which is not the secret.
local type, ipairs = type, ipairs
local byte, format = string.byte, string.format

local _M = {}

-- 16 characters of a random alphabet of 62 are 95 bits: not guessable
-- over HTTP. Shorter secrets are refused when the checker is made.
_M.MIN_LENGTH = 16
_M.MAX_LENGTH = 512

--- Compares `given` with `expected` in time that depends only on
-- #expected. Both strings; returns true when equal.
---@param given any
---@param expected string
---@return boolean
function _M.equal(given, expected)
  if type(given) ~= "string" or type(expected) ~= "string" then return false end
  local n = #expected
  -- A length mismatch counts as a difference but does not stop the walk.
  local diff = (#given == n) and 0 or 1
  for i = 1, n do
    -- Beyond the end of `given` compare against -1: never equal to a byte.
    local a, b = byte(given, i) or -1, byte(expected, i)
    local d = a - b
    diff = diff + d * d
  end
  return diff == 0
end
local equal = _M.equal

local function check_one(s, where)
  if type(s) ~= "string" then
    return nil, format("%s must be a string, got %s", where, type(s))
  end
  if #s < _M.MIN_LENGTH then
    return nil, format("%s must be at least %d characters (it is %d): use a random one, "
      .. "e.g. from `openssl rand -hex 16`", where, _M.MIN_LENGTH, #s)
  end
  if #s > _M.MAX_LENGTH then
    return nil, format("%s must be at most %d characters", where, _M.MAX_LENGTH)
  end
  if s:find("[^%w%-%._~]") then
    return nil, where .. " may hold only letters, digits and - . _ ~ (it travels in a URL unescaped)"
  end
  return s
end

--- checker(secret_or_list) -> function(given) -> bool; or nil, message
-- naming the bad secret. A list accepts any of its secrets (to rotate: add
-- the new one, move the webhooks to it, drop the old one). Every secret is
-- compared, whichever matches, so the time does not say which one did.
---@param secrets string|string[]
---@return (fun(given: string?): boolean)? check
---@return string? message
function _M.checker(secrets)
  local list = type(secrets) == "table" and secrets or { secrets }
  if #list == 0 then return nil, "'secret' must be a string or a non-empty list of strings" end
  for i, s in ipairs(list) do
    local ok, why = check_one(s, type(secrets) == "table" and format("'secret'[%d]", i) or "'secret'")
    if not ok then return nil, why end
  end
  local copy = {}
  for i, s in ipairs(list) do copy[i] = s end
  return function(given)
    local found = false
    for i = 1, #copy do
      if equal(given, copy[i]) then found = true end
    end
    return found
  end
end

--- The last non-empty segment of a URL path ("/hooks/abc/" -> "abc"), or nil.
---@param path string
---@return string?
function _M.from_path(path)
  if type(path) ~= "string" then return nil end
  return path:match("([^/]+)/*$")
end

return _M
