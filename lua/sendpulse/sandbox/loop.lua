-- A small cooperative event loop over LuaSocket: one coroutine per task,
-- `socket.select` for readiness and a sorted timer list for sleeps. A task
-- blocks only itself (waiting for its socket or its timer); every other task
-- keeps running.
--
-- Nothing here yields across pcall, so it also runs on Lua 5.1.
local socket = require "socket"

local select, gettime = socket.select, socket.gettime
local create, resume, running, yield, status =
  coroutine.create, coroutine.resume, coroutine.running, coroutine.yield, coroutine.status
local insert, remove = table.insert, table.remove
local pairs, ipairs, setmetatable, tostring = pairs, ipairs, setmetatable, tostring

local _M = {}

local Loop = {}
Loop.__index = Loop

-- `on_error(message)` is told about a task that raised; the task's cleanup
-- function (see spawn) is still run.
function _M.new(on_error)
  return setmetatable({
    readers = {},  -- socket -> coroutine waiting for it to be readable
    writers = {},  -- socket -> coroutine waiting for it to be writable
    timers = {},   -- {at = time, co = coroutine}, sorted by `at`
    cleanups = {}, -- coroutine -> function run when it ends, however it ends
    on_error = on_error or function() end,
  }, Loop)
end

function Loop:resume(co, ...)
  local ok, err = resume(co, ...)
  if not ok then self.on_error(tostring(err)) end
  if status(co) == "dead" then
    local cleanup = self.cleanups[co]
    if cleanup then
      self.cleanups[co] = nil
      cleanup()
    end
  end
end

-- Start `fn(...)` as a new task now. `cleanup()` runs when the task ends,
-- normally or by an error.
function Loop:spawn(fn, cleanup, ...)
  local co = create(fn)
  if cleanup then self.cleanups[co] = cleanup end
  self:resume(co, ...)
  return co
end

-- Inside a task: wait until `sock` is readable.
function Loop:wait_readable(sock)
  self.readers[sock] = running()
  yield()
end

-- Inside a task: wait until `sock` is writable.
function Loop:wait_writable(sock)
  self.writers[sock] = running()
  yield()
end

-- Inside a task: let `seconds` pass while other tasks run.
function Loop:sleep(seconds)
  local at = gettime() + seconds
  local timers = self.timers
  local i = #timers
  while i > 0 and timers[i].at > at do i = i - 1 end
  insert(timers, i + 1, { at = at, co = running() })
  yield()
end

-- Forget a socket that is being closed, so select never sees it again.
function Loop:forget(sock)
  self.readers[sock] = nil
  self.writers[sock] = nil
end

local function keys(map)
  local list = {}
  for k in pairs(map) do list[#list + 1] = k end
  return list
end

-- Wait for the next readiness or timer (at most `max_wait` seconds if given)
-- and resume the tasks concerned.
function Loop:step(max_wait)
  local timeout = max_wait
  local first = self.timers[1]
  if first then
    local due = first.at - gettime()
    if due < 0 then due = 0 end
    if not timeout or due < timeout then timeout = due end
  end
  local readable, writable = select(keys(self.readers), keys(self.writers), timeout)
  for _, sock in ipairs(readable or {}) do
    local co = self.readers[sock]
    if co then
      self.readers[sock] = nil
      self:resume(co)
    end
  end
  for _, sock in ipairs(writable or {}) do
    local co = self.writers[sock]
    if co then
      self.writers[sock] = nil
      self:resume(co)
    end
  end
  local now = gettime()
  local timers = self.timers
  while timers[1] and timers[1].at <= now do
    self:resume(remove(timers, 1).co)
  end
end

function Loop:run()
  while true do self:step() end
end

return _M
