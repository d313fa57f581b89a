-- A game's frame loop driving a transport = "multi" client: one
-- client:poll(0) per frame at a fixed frame rate, calls started from
-- completion callbacks, a mix of the three ways to start a call
-- (client:start, client:async():request, a generated operation through
-- client:async()). Used by spec/rate_loop_spec.lua and bench/loop_rate.lua.
--
--   local frame_loop = require "support.frame_loop"
--   local r = frame_loop.run(client, { calls = 100, chains = 5, fps = 60 })
--   r.ok, r.failed, r.errors (error objects), r.elapsed (s), r.frames,
--   r.longest_poll (s), r.first_start, r.last_done (monotonic seconds)
--
-- Every call is GET /addressbooks; the sandbox counts arrivals per account.

local core = require "sendpulse.core"

local monotonic, sleep = core.monotonic, core.sleep

local _M = {}

-- The three ways of starting a call, taken in turn.
local function starter(client, i)
  local kind = i % 3
  if kind == 0 then
    return function(on_done) return client:start("GET", "/addressbooks", nil, on_done) end
  elseif kind == 1 then
    return function(on_done) return client:async():request("GET", "/addressbooks"):on_done(on_done) end
  end
  return function(on_done) return client:async().email:get_mailing_lists():on_done(on_done) end
end

--- run(client, { calls, chains, fps, max_seconds }) -> report (see above).
-- `chains` calls start at once; each completion callback starts the next
-- call of its chain until `calls` have started.
function _M.run(client, o)
  local calls, chains, fps = o.calls or 100, o.chains or 5, o.fps or 60
  local max_seconds = o.max_seconds or (calls / 5 + 10)
  local frame = 1 / fps
  local r = { ok = 0, failed = 0, errors = {}, frames = 0, longest_poll = 0 }
  local started = 0
  local on_done
  local function start_next()
    if started >= calls then return end
    started = started + 1
    starter(client, started)(on_done)
  end
  on_done = function(h)
    local err = h:error()
    if err then
      r.failed = r.failed + 1
      r.errors[#r.errors + 1] = err
    else
      r.ok = r.ok + 1
    end
    r.last_done = monotonic()
    start_next()
  end
  r.first_start = monotonic()
  for _ = 1, chains do start_next() end
  local next_frame = monotonic()
  while r.ok + r.failed < calls do
    local t0 = monotonic()
    if t0 - r.first_start > max_seconds then
      error(("frame loop: %d of %d calls done after %g s"):format(r.ok + r.failed, calls, max_seconds), 2)
    end
    local n, err = client:poll(0)
    if n == nil then error(err, 2) end
    local took = monotonic() - t0
    if took > r.longest_poll then r.longest_poll = took end
    r.frames = r.frames + 1
    -- The rest of the frame: the game's update and render.
    next_frame = next_frame + frame
    local left = next_frame - monotonic()
    if left > 0 then sleep(left) else next_frame = monotonic() end
  end
  r.elapsed = r.last_done - r.first_start
  return r
end

return _M
