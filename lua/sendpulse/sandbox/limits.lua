-- The sandbox's bounds: every count and size it holds is one of these, set
-- by sandbox.new{...} or the script's options, checked here, documented in
-- the README ("Bounds"). A test farm or a browser left open all day meets
-- them; none grows with the traffic.
--
--   max_connections   connections served at once; one more is answered 503
--                     and closed. LuaSocket's select cannot watch a
--                     descriptor past FD_SETSIZE (socket._SETSIZE, 1024 on
--                     Linux), so the bound leaves RESERVED_FDS below it for
--                     the log, the listening socket and webhook deliveries.
--   max_requests      rows of the request log (/_sandbox/stats); the oldest
--                     go first
--   max_request_text  bytes of a row's path, and of its query string, kept
--   max_messages      messages in the inbox (inbox/store.lua, the pages
--                     under /_sandbox/ui/); the oldest go first
--   max_message_bytes bytes of the messages' contents (HTML, text,
--                     attachments, the request kept as their source); the
--                     oldest go first while the sum is over it
local socket = require "socket"

local type, floor, pairs, tostring, format = type, math.floor, pairs, tostring, string.format

local _M = {}

_M.SETSIZE = socket._SETSIZE or 1024
_M.RESERVED_FDS = 64

_M.DEFAULTS = {
  max_connections = 900,
  max_requests = 10000,
  max_request_text = 1024,
  max_messages = 10000,
  max_message_bytes = 64 * 1024 * 1024,
}

-- name -> { lowest, highest, what the number counts }
local RULES = {
  max_connections = { 1, _M.SETSIZE - _M.RESERVED_FDS, "connections" },
  max_requests = { 1, 10000000, "rows" },
  max_request_text = { 16, 16 * 1024 * 1024, "bytes" },
  max_messages = { 1, 10000000, "messages" },
  max_message_bytes = { 1024, 2 ^ 40, "bytes" },
}

-- The bounds from `opts` (a table that may hold any of them), defaults for
-- the others. Returns the table, or nil and a message naming the bad one.
function _M.from(opts)
  local out = {}
  for name, default in pairs(_M.DEFAULTS) do
    local v = opts[name]
    if v == nil then
      v = default
    else
      local rule = RULES[name]
      if type(v) ~= "number" or v ~= floor(v) or v < rule[1] or v > rule[2] then
        return nil, format("%s must be a whole number of %s from %d to %d, got %s",
                           name, rule[3], rule[1], rule[2], tostring(v))
      end
    end
    out[name] = v
  end
  return out
end

-- Whether LuaSocket's select can watch `sock`: its descriptor is below
-- FD_SETSIZE (or it has none yet, -1).
function _M.selectable(sock)
  return sock:getfd() < _M.SETSIZE
end

return _M
