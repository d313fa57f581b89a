--- Picks the transport: the object whose perform method does the HTTP.
--
--   transport:perform(method, url, headers, body, timeout, connect_timeout)
--     -> status, body, headers, seconds
--     or nil, kind, message, sent   (kind "timeout" | "tls" | "network";
--        sent: whether the request may have reached the server)
--   transport:close()          (optional)
--   transport:connections()    (optional: connections opened so far)
--
-- "curl" is the C core's libcurl session (blocking). "multi" is libcurl's
-- multi interface driven by client:poll (see sendpulse.transport.multi).
-- Any table with a perform method can be passed as the transport option.
-- A transport may also have sleep(seconds): the client then waits (rate
-- budget, backoff) through it instead of blocking the process.

local core = require "sendpulse.core"
local VERSION = require "sendpulse.version"

local _M = {}

local function session_options(cfg)
  return {
    user_agent = cfg.user_agent or ("lua-sendpulse/" .. VERSION),
    ca_file = cfg.ca_file, ca_path = cfg.ca_path, proxy = cfg.proxy, http2 = cfg.http2,
  }
end

-- raise: the client's mode, for the multi transport's call handles.
function _M.new(cfg, raise)
  local t = cfg.transport
  if t == nil or t == "curl" then
    return core.http_session(session_options(cfg))
  end
  if t == "multi" then
    return require("sendpulse.transport.multi").new(session_options(cfg), raise)
  end
  return t
end

return _M
