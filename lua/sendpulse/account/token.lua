--- What a Bearer token may be, wherever it comes from: the token endpoint's
-- answer, a token store (file, Redis, nginx shared dict, the user's own),
-- or the api_key option. A token goes into every request as
-- "Authorization: Bearer <token>", so it must be a header value and nothing
-- more: a token "abc\r\nX-Injected: 1" from a hostile token endpoint put an
-- extra header line on the wire, and one with a NUL raised a raw Lua error.
--
--   token.check(t) -> true | nil, why   (RFC 6750 token68, bounded length)
--   token.lifetime(expires_in) -> seconds the token is taken to live
--
-- The C auth object (csrc/sp_auth_lua.c) applies the same rule again, so
-- no path can store a token that breaks it.

local type, tonumber = type, tonumber
local format = string.format

local _M = {}

--- Bytes a token may have. SendPulse's are about a kilobyte; nginx refuses
-- header lines over 8 KiB by default.
_M.MAX_LENGTH = 4096

--- The lifetime assumed when an answer gives none (SendPulse's tokens live
-- an hour), the most that is believed: a token endpoint that claims a
-- year (1e7 seconds and more raised inside the C auth object) gets a day,
-- after which the token is fetched again; and the least: a second. A token
-- "of 0.0001 s" was due before the call that fetched it could send it, so
-- every call fetched tokens until its timeout (246 token requests in 25 s,
-- no call sent: issue 21). A server that really lets a token lapse that
-- soon answers 401, which brings one new token and one replay; how many
-- token requests an account may make is bounded apart
-- (sendpulse.account.token_requests).
_M.DEFAULT_LIFETIME = 3600
_M.MAX_LIFETIME = 86400
_M.MIN_LIFETIME = 1

--- RFC 6750 2.1: b64token = 1*( ALPHA / DIGIT / "-" / "." / "_" / "~" / "+" / "/" ) *"="
-- (explicit ranges: %w would follow the C locale).
local TOKEN68 = "^[A-Za-z0-9%-%._~%+/]+=*$"

--- check(t) -> true, or nil and why t cannot be a Bearer token (the why
-- never holds the token).
function _M.check(t)
  if type(t) ~= "string" then return nil, format("it is a %s, not a string", type(t)) end
  if t == "" then return nil, "it is empty" end
  if #t > _M.MAX_LENGTH then
    return nil, format("it is longer than %d bytes (%d)", _M.MAX_LENGTH, #t)
  end
  if not t:find(TOKEN68) then
    return nil, "it holds characters a Bearer token cannot have (RFC 6750 token68: "
      .. "letters, digits, - . _ ~ + / and a trailing =)"
  end
  return true
end

--- The seconds a token answer's expires_in stands for: a positive finite
-- number from MIN_LIFETIME to MAX_LIFETIME as given (a numeric string too),
-- a smaller one raised to MIN_LIFETIME, a larger one cut to MAX_LIFETIME,
-- anything else (missing, zero, negative, NaN, not a number)
-- DEFAULT_LIFETIME.
function _M.lifetime(expires_in)
  local n = tonumber(expires_in)
  if not n or n ~= n or n <= 0 then return _M.DEFAULT_LIFETIME end
  if n > _M.MAX_LIFETIME then return _M.MAX_LIFETIME end
  if n < _M.MIN_LIFETIME then return _M.MIN_LIFETIME end
  return n
end

return _M
