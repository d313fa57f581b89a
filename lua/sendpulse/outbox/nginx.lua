--- One outbox drainer per host inside nginx, started from init_worker_by_lua
-- (docs/outbox.md, "Inside nginx").
--
--   init_worker_by_lua_block {
--     require("sendpulse.outbox.nginx").start {
--       outbox = make_outbox,   -- a function of yours, called in the timer
--       lock = "/var/lib/myapp/outbox/drainer.lock",                -- default: <dir>/drainer.lock
--     }
--   }
--
-- Every worker runs a timer; the one that holds the lock drains, the others
-- look again every `interval` seconds. The lock is a flock on a file: one
-- holder per host whatever the number of workers or nginx instances, and
-- the kernel drops it when its worker exits or dies (a reload, a crash), so
-- a new worker takes over at its next look. The drainer works in slices of
-- `slice` seconds, stops between entries when its worker is exiting (a
-- reload lets it finish the call in hand), and sends through the outbox's
-- client: cosockets, the shared dict's token and budget, ngx.sleep.
--
-- The outbox's file store and ledger do blocking file I/O (a flock, an
-- append, an fsync: well under a millisecond to a few on a local disk)
-- inside the worker; bench/outbox.lua measures enqueue from a location.
local core = require "sendpulse.core"
local nginx = require "sendpulse.nginx"

local type, pcall, error, tostring = type, pcall, error, tostring
local min = math.min
local monotonic = core.monotonic

local _M = {}

_M.INTERVAL = 1
_M.SLICE = 5

--- start{ outbox = function() -> outbox, lock = path, interval = 1, slice = 5,
-- on_error = function(message) } -> true | nil, err. Call it from
-- init_worker_by_lua*; it only schedules a timer.
---@param opts { outbox: (fun(): sendpulse.Outbox), lock?: string, interval?: number, slice?: number,
---   on_error?: fun(message: string) }
---@return true? started
---@return string? err why not
function _M.start(opts)
  local ngx = nginx.host()
  if not ngx then return nil, "sendpulse.outbox.nginx.start: not inside nginx" end
  if type(opts) ~= "table" or type(opts.outbox) ~= "function" then
    error("sendpulse.outbox.nginx.start: 'outbox' must be a function that makes the outbox", 2)
  end
  if opts.lock ~= nil and (type(opts.lock) ~= "string" or opts.lock == "") then
    error("sendpulse.outbox.nginx.start: 'lock' must be a file path (string)", 2)
  end
  local interval, slice = opts.interval or _M.INTERVAL, opts.slice or _M.SLICE
  local report = opts.on_error or function(message)
    ngx.log(ngx.ERR, "sendpulse.outbox: ", message)
  end
  local box, held

  local function exiting() return ngx.worker.exiting() end

  local function drain()
    local stop_at = monotonic() + slice
    while monotonic() < stop_at and not exiting() do
      local r, err = box:step()
      if not r then
        report(tostring(err))
        return
      end
      if r.outcome == "idle" then
        local wait = min(r.next_due or interval, interval, stop_at - monotonic())
        if wait > 0 then ngx.sleep(wait) end
      end
    end
  end

  local tick
  tick = function(premature)
    if premature then
      if held then held:unlock() end
      return
    end
    local ok, err = pcall(function()
      if not box then
        box = opts.outbox()
        if box and box.raise then
          error("make the drainer's outbox with a safe client (sendpulse.safe.new): it must not raise", 0)
        end
      end
      if not held then
        local path = opts.lock or (box.store.dir and box.store.dir .. "/drainer.lock")
        if not path then error("'lock' is needed with a store that has no folder (Redis)", 0) end
        local dir = path:match("^(.*)/[^/]*$")
        if dir and dir ~= "" then core.private_dir(dir) end
        local lock, lerr = core.try_lock(path)
        if lock == nil then error(lerr, 0) end
        held = lock or nil
      end
      if held then drain() end
    end)
    if not ok then report(tostring(err)) end
    if not exiting() then
      local _, terr = ngx.timer.at(held and 0 or interval, tick)
      if terr then report("cannot schedule the drainer: " .. tostring(terr)) end
    elseif held then
      held:unlock()
      held = nil
    end
  end
  local _, err = ngx.timer.at(0, tick)
  if err then return nil, err end
  return true
end

return _M
