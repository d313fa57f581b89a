--- transport = "curl" (the default outside nginx): the C core's blocking
-- libcurl session (csrc/sp_http_lua.c).
--
--   local t = require("sendpulse.transport.curl").new(settings)
--   t:perform(method, url, headers, body, timeout, connect_timeout, once)
--     (once: never sent twice, see sendpulse.transport and csrc/sp_easy.h)
--     -> status, body, headers (lower-case names), seconds, left_after
--     or nil, kind ("timeout" | "tls" | "network" | "too_large" | "protocol"),
--        message, sent, left_after
--   t:connections() -> connections opened so far (1 while keep-alive works)
--   t:close()       idempotent; also __gc
--
-- One easy handle per client, reused for every call, so consecutive calls
-- share one keep-alive connection and one TLS session. perform blocks the
-- calling thread until the answer is in or the timeout passes: inside nginx
-- that stalls the worker (use the cosocket transport there), in a game loop
-- the frame (use "multi").
--
-- The session is the C userdata itself, not a Lua table around it: the
-- client calls perform directly, and a wrapper's extra call per request
-- shows in bench/cost.lua.

local core = require "sendpulse.core"

local _M = {}

--- new(settings) -> session; settings { user_agent, ca_file, ca_path,
-- proxy, http2, max_answer_size } (sendpulse.transport makes them from the
-- client's options). TLS is always verified: ca_file and ca_path add trust,
-- nothing removes it. Answers are bounded by max_answer_size and
-- core.limits (see docs/security.md).
function _M.new(settings)
  return core.http_session(settings)
end

return _M
