--- The event loop behind transport = "multi": calls run as coroutines
-- ("tasks") that suspend where a blocking client would wait, and the host's
-- loop resumes them from client:poll().
--
-- The client pipeline (token, rate budget, retries, 401 replay) does I/O
-- only through transport:perform and waits only through client.sleep. Here
-- perform starts the transfer on the C multi handle and yields, and sleep
-- puts the task on a timer and yields, so that same pipeline becomes
-- non-blocking without a line of it changing.
--
-- The yields happen under the pipeline's pcall (current_token): Lua 5.2+
-- and LuaJIT can yield across pcall, Lua 5.1 cannot, so client/options.lua refuses
-- this transport on Lua 5.1.
--
-- A handle is what client:start / client:run return:
--   handle:done()     finished (answered, failed or cancelled)?
--   handle:result()   the call's values; a failure raised or returned as
--                     nil, err (as the client does)
--   handle:error()    the error object or nil; never raises
--   handle:cancel()   stop it now: it finishes with a "cancelled" error
--   handle:on_done(fn)  fn(handle) when it finishes (errors: see poll)
--   handle:wait([s])  drive the loop until it finishes (blocks the caller)

local core = require "sendpulse.core"
local errors = require "sendpulse.errors"

local create, resume, running, yield, costatus =
      coroutine.create, coroutine.resume, coroutine.running, coroutine.yield, coroutine.status
local insert, remove = table.insert, table.remove
local unpack = table.unpack or unpack   -- luacheck: ignore (5.1)
local type, pairs, pcall, error, setmetatable, select =
      type, pairs, pcall, error, setmetatable, select
local format = string.format
local monotonic = core.monotonic
local new_error, argument_error, is_error, describe = errors.new, errors.argument, errors.is_error, errors.describe

local function pack(...) return { n = select("#", ...), ... } end

local _M = {}

local Loop = {}
Loop.__index = Loop

-- What client:start, client:run and client:async() return (for editors:
-- LuaLS).
---@class sendpulse.Handle
local Handle = {}
Handle.__index = Handle
Handle.__name = "sendpulse.call"

--- new(multi, raise): a loop over a core.multi object. raise: how handles
-- report failures (the client's mode).
function _M.new(multi, raise)
  return setmetatable({
    multi = multi,
    raise = raise,
    tasks = {},       -- coroutine -> handle, for tasks not finished
    count = 0,        -- number of such tasks
    transfers = {},   -- transfer id -> handle waiting for it
    timers = {},      -- { at =, handle = }, soonest first
    ready = {},       -- handles that yielded bare: resumed on the next poll
    reports = {},     -- errors raised by completion callbacks, not yet reported
    polling = false,
    closed = false,
  }, Loop)
end

local function fail(raise, err)
  if raise then error(err, 0) end
  return nil, err
end

-- The handle of the task running now, or nil outside any of our tasks (the
-- main thread, or a coroutine of the host's own).
function Loop:current()
  local co = running()
  return co and self.tasks[co] or nil
end

-- Inside a task: yield until the loop resumes it; raises the cancellation
-- error when the task was cancelled meanwhile, so the pipeline unwinds
-- through its own pcalls (an unfinished token refresh is given up).
local function suspend(h)
  local r = pack(yield())
  if h.cancelled then error(h.cancel_err, 0) end
  return unpack(r, 1, r.n)
end

-- Runs a completion callback; what it raises is never lost: the next
-- client:poll reports it.
local function run_callback(self, h, cb)
  local ok, err = pcall(cb, h)
  if not ok then
    self.reports[#self.reports + 1] = is_error(err) and err or new_error {
      kind = "callback", method = h.method, path = h.path,
      message = "a completion callback raised: " .. describe(err), cause = err }
  end
end

local function finish(self, h, ok, res)
  self.tasks[h.co] = nil
  self.count = self.count - 1
  h.finished = true
  if h.cancelled then
    h.err = h.cancel_err
  elseif ok then
    h.values = res
    -- A safe client's failure: nil, err.
    if res[1] == nil and is_error(res[2]) then h.err = res[2] end
  elseif is_error(res) then
    h.err, h.raised = res, res
  else
    -- Lua code inside the call raised (the function given to run, a hook):
    -- kept as an error object, the raised value in `cause`.
    h.err = new_error { kind = "callback", method = h.method, path = h.path,
      message = "the call raised a Lua error: " .. describe(res), cause = res }
    h.raised = res
  end
  local cb = h.callback
  if cb then
    h.callback = nil
    run_callback(self, h, cb)
  end
end

-- Resumes a task with the values of what it waited for.
local function step_task(self, h, ...)
  local ok, res = resume(h.co, ...)
  if not ok then
    finish(self, h, false, res)
  elseif costatus(h.co) == "dead" then
    finish(self, h, true, res)
  elseif h.waiting == nil then
    -- A bare coroutine.yield() in the caller's code: carry on next poll.
    self.ready[#self.ready + 1] = h
  end
end

--- spawn(fn, on_done, args...) -> handle: runs fn(args...) as a task, now,
-- up to its first wait.
function Loop:spawn(fn, on_done, method, path, ...)
  local h = setmetatable({ loop = self, callback = on_done, method = method, path = path,
                           finished = false }, Handle)
  h.co = create(function(...) return pack(fn(...)) end)
  self.tasks[h.co] = h
  self.count = self.count + 1
  step_task(self, h, ...)
  return h
end

--- Inside task h: start a transfer and suspend until it finishes. Returns
-- what http_session:perform would.
function Loop:transfer(h, method, url, headers, body, timeout, connect_timeout, fresh)
  if h.cancelled then error(h.cancel_err, 0) end
  local id, kind, message, sent, left_after = self.multi:start(method, url, headers, body, timeout,
    connect_timeout, fresh)
  if not id then return nil, kind, message, sent, left_after end   -- (no token: not sent)
  h.waiting = id
  self.transfers[id] = h
  -- Send it now, not at the next poll: its rate slot was taken now, and a
  -- request leaving a frame after its slot is what the budget's lateness
  -- allowance would otherwise have to cover. (A transfer that needs a new
  -- connection still leaves once it is connected.)
  self.multi:step(0)
  return suspend(h)
end

--- Inside task h: suspend for `seconds` while the loop goes on.
function Loop:sleep(h, seconds)
  if h.cancelled then error(h.cancel_err, 0) end
  local t = { at = monotonic() + seconds, handle = h }
  local timers, i = self.timers, #self.timers
  while i > 0 and timers[i].at > t.at do i = i - 1 end
  insert(timers, i + 1, t)
  h.waiting = t
  return suspend(h)
end

local function drop_wait(self, h)
  local w = h.waiting
  h.waiting = nil
  if type(w) == "number" then
    self.transfers[w] = nil
    self.multi:cancel(w)
  elseif type(w) == "table" then
    local timers = self.timers
    for i = 1, #timers do
      if timers[i] == w then remove(timers, i); break end
    end
  end
  local ready = self.ready
  for i = #ready, 1, -1 do
    if ready[i] == h then remove(ready, i) end
  end
end

-- One round: wait at most `timeout` seconds for activity (less when a timer
-- is due sooner), then resume every task whose transfer finished, whose
-- timer expired, or that yielded bare.
local function round(self, timeout)
  local wait = timeout
  if #self.ready > 0 or #self.reports > 0 then wait = 0 end
  local first = self.timers[1]
  if first then
    local left = first.at - monotonic()
    if left < wait then wait = left > 0 and left or 0 end
  end
  self.multi:step(wait)
  -- A callback may close the client mid-round: stop touching the multi then.
  while not self.closed do
    local id, a, b, c, d, e = self.multi:collect()
    if id == nil then break end
    local h = self.transfers[id]
    if h then
      self.transfers[id] = nil
      h.waiting = nil
      step_task(self, h, a, b, c, d, e)
    end
  end
  -- Timers due now; ones set while resuming these wait for the next round.
  -- (No table is made in a round where nothing is due: a game polls every
  -- frame and should not feed the collector for nothing.)
  local timers = self.timers
  if timers[1] and timers[1].at <= monotonic() then
    local now, due = monotonic(), {}
    while timers[1] and timers[1].at <= now do due[#due + 1] = remove(timers, 1) end
    for i = 1, #due do
      local h = due[i].handle
      if h.waiting == due[i] and not self.closed then
        h.waiting = nil
        step_task(self, h)
      end
    end
  end
  local ready = self.ready
  if #ready > 0 then
    self.ready = {}
    for i = 1, #ready do
      if not ready[i].finished and not self.closed then step_task(self, ready[i]) end
    end
  end
end

-- What a blocking call, handle:wait() or client:poll() inside a completion
-- callback (the loop is running) is told.
local REENTERED = "sendpulse: the loop is already running (a blocking call, handle:wait() "
  .. "or client:poll() inside a completion callback): use client:start or client:run there"

--- Whether a blocking call may drive the loop now: true, or false and why
-- (inside a completion callback; a task's calls suspend instead).
function Loop:usable()
  if self.polling and not self:current() then return false, REENTERED end
  return true
end

local function guarded_round(self, timeout)
  if self.polling then error(argument_error(REENTERED), 0) end
  if self.closed then return end
  self.polling = true
  local ok, err = pcall(round, self, timeout)
  self.polling = false
  if not ok then error(err, 0) end
end

--- poll(timeout) -> tasks still in flight, or nil, err when a completion
-- callback raised (one report per poll; the round itself completed).
function Loop:poll(timeout)
  if self.polling then return nil, argument_error(REENTERED) end
  guarded_round(self, timeout or 0)
  if #self.reports > 0 then return nil, remove(self.reports, 1) end
  return self.count
end

-- Drives the loop until h is done or `limit` seconds passed.
local function drive(self, h, limit)
  local deadline = limit and monotonic() + limit
  while not h.finished and not self.closed do
    local wait = 0.05
    if deadline then
      local left = deadline - monotonic()
      if left <= 0 then return false end
      if left < wait then wait = left end
    end
    guarded_round(self, wait)
  end
  return h.finished
end

--- Outside a task: run fn(...) as a task and drive the loop until it ends
-- (other calls in flight progress meanwhile). Returns fn's values; raises
-- what it raised.
function Loop:block(fn, ...)
  if self.polling then guarded_round(self, 0) end   -- raises the re-entrancy error
  local h = self:spawn(fn, nil, nil, nil, ...)
  drive(self, h)
  if not h.finished then   -- closed meanwhile
    error(new_error { kind = "cancelled", message = "the client was closed during the call" }, 0)
  end
  if h.values == nil then error(h.raised or h.err, 0) end
  return unpack(h.values, 1, h.values.n)
end

--- Cancels h (see Handle:cancel). reason: the error message.
function Loop:cancel(h, reason)
  if h.finished then return false end
  h.cancelled = true
  -- A transfer in flight may have reached the server.
  h.cancel_err = h.cancel_err or new_error { kind = "cancelled", method = h.method, path = h.path,
    message = reason or "the call was cancelled", retryable = false,
    maybe_sent = type(h.waiting) == "number" }
  drop_wait(self, h)
  -- Resume it so its wait raises and it unwinds now; a task that is running
  -- (cancelling itself) raises at its next wait instead.
  if costatus(h.co) == "suspended" then step_task(self, h) end
  return true
end

--- Cancels every task with a "closed" error, then frees the transfers.
-- Idempotent.
function Loop:close()
  if self.closed then return end
  local list = {}
  for _, h in pairs(self.tasks) do list[#list + 1] = h end
  for i = 1, #list do
    self:cancel(list[i], "the client was closed with this call in flight")
  end
  self.closed = true
  self.multi:close()
end

-- Handles ------------------------------------------------------------------

--- Has the call finished (answered, failed or cancelled)?
---@return boolean
function Handle:done()
  return self.finished
end

--- The call's error object, or nil; never raises.
---@return sendpulse.Error?
function Handle:error()
  return self.err
end

--- The call's values (those of the method it ran: for a request, value
-- and meta); a failure raised, or returned as nil, err, as the client does.
---@return any ...
function Handle:result()
  local raise = self.loop.raise
  if not self.finished then
    return fail(raise, argument_error("handle:result: the call has not finished yet " ..
      "(call client:poll() until handle:done())"))
  end
  if self.err then return fail(raise, self.err) end
  return unpack(self.values, 1, self.values.n)
end

--- Stops the call now: it finishes with a "cancelled" error.
---@return boolean cancelled false when it had already finished
function Handle:cancel()
  return self.loop:cancel(self)
end

--- handle:on_done(fn): fn(handle) runs when the call finishes (at once if
-- it already has); replaces a callback given before. Returns the handle.
---@param fn fun(handle: sendpulse.Handle)
---@return sendpulse.Handle
function Handle:on_done(fn)
  if type(fn) ~= "function" then
    return fail(self.loop.raise, argument_error("handle:on_done: argument 'fn' must be a function"))
  end
  if self.finished then
    run_callback(self.loop, self, fn)
  else
    self.callback = fn
  end
  return self
end

--- handle:wait([seconds]) -> result(); drives the loop (blocking the
-- caller) until the call finishes, at most `seconds`.
---@param seconds? number
---@return any ... the call's values, as result()
function Handle:wait(seconds)
  local raise = self.loop.raise
  if seconds ~= nil and not (type(seconds) == "number" and seconds >= 0 and seconds < 1e6) then
    return fail(raise, argument_error("handle:wait: argument 'seconds' must be a number >= 0 or nil"))
  end
  if self.loop:current() == self then
    return fail(raise, argument_error("handle:wait: a call cannot wait for itself"))
  end
  if not drive(self.loop, self, seconds) and not self.finished then
    return fail(raise, new_error { kind = "timeout", method = self.method, path = self.path,
      message = format("the call did not finish within %g s (it is still in flight)", seconds) })
  end
  return self:result()
end

Handle.__tostring = function(h)
  local state = h.finished and (h.cancelled and "cancelled" or h.err and "failed" or "done") or "in flight"
  if h.method then return format("sendpulse.call (%s %s, %s)", h.method, h.path, state) end
  return format("sendpulse.call (%s)", state)
end

_M.Handle = Handle
return _M
