--- Import progress for people and for programs:
--   terminal  one line on stderr redrawn in place (rows, rate, ETA, percent),
--             at most 5 times a second, ended with a newline
--   json      one JSON object per batch on stderr: {"rows", "added",
--             "rejected", "skipped", "rate", "eta", "fraction", "done"}
-- `auto` picks terminal when stderr is a terminal, else nothing.
local json = require "sendpulse.json"
local core = require "sendpulse.core"

local format, floor = string.format, math.floor

local _M = {}

_M.REDRAW = 0.2   -- seconds between two redraws of the terminal line

local function clock(seconds)
  if not seconds or seconds ~= seconds or seconds == math.huge then return "--:--" end
  seconds = floor(seconds + 0.5)
  local h, m, s = floor(seconds / 3600), floor(seconds / 60) % 60, seconds % 60
  if h > 0 then return format("%d:%02d:%02d", h, m, s) end
  return format("%d:%02d", m, s)
end
_M.clock = clock

--- The terminal renderer: a function(p) for email:import's progress.
function _M.terminal(stream)
  local last = -math.huge
  return function(p)
    local now = core.monotonic()
    if not p.done and now - last < _M.REDRAW then return end
    last = now
    local pct = p.fraction and format(" %3d%%", floor(p.fraction * 100)) or ""
    stream:write(format("\r%d rows (%d added, %d rejected)  %.0f rows/s  ETA %s%s\027[K",
      p.rows, p.added, p.rejected, p.rate, p.done and "0:00" or clock(p.eta), pct))
    if p.done then stream:write("\n") end
    stream:flush()
  end
end

--- The JSON-lines renderer.
function _M.json_lines(stream)
  return function(p)
    stream:write(json.encode {
      rows = p.rows, added = p.added, rejected = p.rejected, skipped = p.skipped,
      rate = floor(p.rate * 10 + 0.5) / 10, eta = p.eta and floor(p.eta * 10 + 0.5) / 10 or json.null,
      fraction = p.fraction or json.null, line = p.line, done = p.done,
    }, "\n")
    stream:flush()
  end
end

return _M
