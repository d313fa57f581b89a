-- The sandbox clock, for the time rules (711: 15 minutes per mailing list,
-- 791: 4 campaigns an hour, 1004: 15 minutes between activation codes):
--   POST /_sandbox/clock {"advance": seconds}  moves the sandbox's time on
--   GET  /_sandbox/clock                       {"now": ..., "offset": ...}
-- Only these rules read the moved clock; tokens and the rate limit keep real
-- time. A reset puts the clock back.
local reply = require "sendpulse.sandbox.reply"

local type = type

local _M = {}

local function show(ctx)
  return 200, { now = ctx.state:now(ctx.now), offset = ctx.state.clock_offset }
end

local function advance(ctx)
  local body, status, value = reply.json_body(ctx.req)
  if not body then return status, value end
  local s = body.advance
  if type(s) ~= "number" or s ~= s or s < 0 or s > 10 * 365 * 86400 then
    return reply.error(400, "advance must be a number of seconds >= 0", 400)
  end
  ctx.state:advance_clock(s)
  return show(ctx)
end

function _M.register(router)
  router:add { method = "GET", path = "/_sandbox/clock", handler = show, control = true }
  router:add { method = "POST", path = "/_sandbox/clock", handler = advance, control = true }
end

return _M
