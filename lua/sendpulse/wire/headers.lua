--- The caller's extra request headers (opts.headers), checked before any
-- I/O so that none can break the request's framing.
--
-- The transports frame the request themselves: its length (Content-Length,
-- or no body), the connection's fate (keep-alive), the host it is for. A
-- caller's Content-Length made libcurl announce one length and send
-- another body (the connection then desynchronised); the cosocket transport
-- sent two Content-Length lines; Host and Transfer-Encoding could be
-- replaced; a NUL in a value was cut by libcurl and sent raw by the
-- cosocket transport. So:
--   - names are RFC 9110 tokens, values hold no control character but tab;
--   - the framing and hop-by-hop headers (FRAMING below) are refused;
--   - Authorization is the client's, Content-Type is opts.content_type's
--     (a second line would be sent beside the client's).

local type, pairs, tostring, format = type, pairs, tostring, string.format
local lower = string.lower

local _M = {}

-- lower-case name -> why it is refused
local FRAMING = {
  ["content-length"] = "the transport sets the body's length",
  ["transfer-encoding"] = "the transport sets the body's length",
  ["host"] = "the transport sets it from base_url",
  ["connection"] = "the transport keeps the connection",
  ["keep-alive"] = "the transport keeps the connection",
  ["proxy-connection"] = "the transport keeps the connection",
  ["upgrade"] = "it would change the protocol of the connection",
  ["te"] = "the transport reads the answer's framing",
  ["trailer"] = "the transport sends no trailer",
  ["expect"] = "the transport sends the body at once",
  ["authorization"] = "it is set by the client",
  ["content-type"] = "give it as opts.content_type",
}
_M.REFUSED = FRAMING

local function bad(msg) return nil, "opts.headers: " .. msg end

--- lines(headers) -> { "Name: value", ..., accept = true when an Accept
-- was given }, or nil and the rule broken (for an argument error).
function _M.lines(headers)
  if type(headers) ~= "table" then return nil, "opts.headers must be a table of name = value" end
  local out = {}
  for name, value in pairs(headers) do
    if type(name) ~= "string" or not name:find("^[%w!#$%%&'*+.^_`|~-]+$") then
      return bad(format("'%s' is not a header name (RFC 9110 token characters)", tostring(name)))
    end
    local key = lower(name)
    local why = FRAMING[key]
    if why then return bad(format("%s cannot be given: %s", name, why)) end
    if type(value) ~= "string" then
      return bad(format("the value of %s must be a string, got a %s", name, type(value)))
    end
    -- Control characters (CR, LF, NUL, ...) would end the line early,
    -- be cut, or be sent raw; a tab is allowed (RFC 9110 5.5).
    if value:find("[%z\1-\8\10-\31\127]") then
      return bad(format("the value of %s must not contain control characters (only tab)", name))
    end
    out[#out + 1] = name .. ": " .. value
    if key == "accept" then out.accept = true end
  end
  return out
end

return _M
