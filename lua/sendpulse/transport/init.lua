--- Picks the transport: the object whose perform method does the HTTP.
--
--   transport:perform(method, url, headers, body, timeout, connect_timeout)
--     (headers: "Name: value" strings; for the C core's transports the
--     first may be the account's C auth object instead, see takes_auth)
--     -> status, body, headers, seconds, left_after   (any status: an
--        error answer is an answer; headers by lower-case name)
--     or nil, kind, message, sent, left_after   (kind "timeout" | "tls" |
--        "network" | "too_large" (the answer or its headers over a bound) |
--        "protocol" (the server broke HTTP framing); sent: whether the
--        request may have reached the server)
--     left_after (optional): seconds from the call until the request was
--     sent, its connection set up (TLS included); the rate budget is moved
--     on by as much when the request left late (see sendpulse.account.budget)
--   transport:close()          (optional; idempotent; a perform after it
--                               raises "attempt to use a closed ...")
--   transport:connections()    (optional: connections opened so far)
--   transport:usable()         (optional: true, or false and why a call
--                               cannot be made now; checked before any work)
--   transport:sleep(seconds)   (optional: the client then waits (rate
--                               budget, backoff) through it instead of
--                               blocking the process)
-- A timeout passes `timeout` seconds after the call, however the answer
-- trickles in. check(t) below holds a transport to the shape of this when
-- it is made; spec/transport_contract_spec.lua holds every transport of
-- the library to its behaviours.
--
-- The option `transport`:
--   "auto" (default)  inside nginx the cosocket transport, elsewhere libcurl
--   "curl"            the C core's libcurl session (blocking: inside nginx
--                     only for init_by_lua or tools, never on the event loop;
--                     see sendpulse.transport.curl)
--   "multi"           libcurl's multi interface driven by client:poll (see
--                     sendpulse.transport.multi)
--   "cosocket"        ngx.socket.tcp; an error outside nginx
--   an object         any table with a perform method

local core = require "sendpulse.core"
local curl = require "sendpulse.transport.curl"
local nginx = require "sendpulse.nginx"
local VERSION = require "sendpulse.version"

local type, rawget, ipairs = type, rawget, ipairs
local format = string.format

local _M = {}

-- The methods the pipeline calls when a transport has them (see above).
local OPTIONAL = { "close", "connections", "usable", "sleep" }

--- check(t) -> true, or nil and what t lacks: whether t keeps the contract
-- above as far as can be seen without a call: perform is a method, and
-- each optional method, if present, is one too. Run on every transport
-- when it is made (new), the library's own included, so that a missing
-- piece fails at sendpulse.new and not at the first call.
function _M.check(t)
  local kind = type(t)
  if kind ~= "table" and kind ~= "userdata" then
    return nil, format("a transport must be an object (a table or userdata), got %s", kind)
  end
  if type(t.perform) ~= "function" then
    return nil, "a transport must have a perform(method, url, headers, body, timeout, connect_timeout) method"
  end
  for _, name in ipairs(OPTIONAL) do
    local m = t[name]
    if m ~= nil and type(m) ~= "function" then
      return nil, format("a transport's '%s', when present, must be a method (a function), got %s", name, type(m))
    end
  end
  return true
end

local function user_agent(cfg)
  return cfg.user_agent or ("lua-sendpulse/" .. VERSION)
end

-- What a libcurl session (blocking or multi) takes from the options.
local function libcurl_settings(cfg)
  return {
    user_agent = user_agent(cfg),
    ca_file = cfg.ca_file, ca_path = cfg.ca_path, proxy = cfg.proxy, http2 = cfg.http2,
    max_answer_size = cfg.max_answer_size,
  }
end

-- Options the cosocket transport cannot honour fail at construction,
-- naming what to do instead.
local function check_cosocket(cfg)
  if cfg.proxy then
    return nil, "sendpulse.new: option 'proxy' is not supported by the cosocket transport (inside nginx)"
  end
  if cfg.ca_file or cfg.ca_path then
    return nil, "sendpulse.new: options 'ca_file' and 'ca_path' do not apply inside nginx: " ..
      "set lua_ssl_trusted_certificate in nginx.conf"
  end
  return true
end

-- The transport cfg names, before it is checked.
local function make(cfg, raise)
  local t = cfg.transport
  if t == nil or t == "auto" then
    t = nginx.inside() and "cosocket" or "curl"
  end
  if t == "curl" then
    return curl.new(libcurl_settings(cfg))
  end
  if t == "multi" then
    return require("sendpulse.transport.multi").new(libcurl_settings(cfg), raise)
  end
  if t == "cosocket" then
    if not nginx.inside() then
      return nil, "sendpulse.new: option 'transport' is \"cosocket\", which needs nginx with " ..
        "the lua module (ngx.socket.tcp); use \"auto\" or \"curl\" outside nginx"
    end
    local ok, msg = check_cosocket(cfg)
    if not ok then return nil, msg end
    return require("sendpulse.transport.cosocket").new { user_agent = user_agent(cfg),
      max_answer_size = cfg.max_answer_size }
  end
  return t
end

--- new(cfg, raise) -> transport, or nil and a message naming the option.
-- raise: the client's mode, for the multi transport's call handles.
function _M.new(cfg, raise)
  local t, why = make(cfg, raise)
  if not t then return nil, why end
  local ok, lacks = _M.check(t)
  if not ok then return nil, "sendpulse.new: option 'transport': " .. lacks end
  return t
end

--- Whether transport t takes the account's C auth object among a
-- request's headers (the C core's libcurl transports: the C session, and
-- the multi transport, which says so with bearer_from_auth) instead of an
-- "Authorization: Bearer ..." string. Then no Lua string of the token is
-- made for a call.
function _M.takes_auth(t)
  return type(t) == "userdata" or (type(t) == "table" and rawget(t, "bearer_from_auth") == true)
end

--- The client's sleep function: the `sleep` option; else the transport's
-- own (a timer in an event loop); inside nginx a yielding ngx.sleep where
-- nginx allows it; elsewhere a blocking sleep.
function _M.sleep(cfg, t)
  if cfg.sleep then return cfg.sleep end
  if type(t) == "table" and type(t.sleep) == "function" then
    return function(seconds) return t:sleep(seconds) end
  end
  if nginx.inside() then return nginx.sleep end
  return core.sleep
end

return _M
