--- The rate budget of an account shared by every process of the host: the C
-- limiter over a mapped file in the token folder (csrc/sp_shm.h), and what
-- happens when that file cannot be used.
--
--   local lim = require("sendpulse.account.host_limiter").new {
--     dir = "/run/user/1000/lua-sendpulse", name = "<account>.budget",
--     settings = { rate =, burst =, guard =, windows = },   -- core.limiter's
--     fallback = function() return process_limiter end,
--     report = function(event) end }
--   lim:take([lateness]) -> true | nil, wait, window   (the limiter interface)
--
-- The file is opened relative to the checked token folder and checked on
-- its descriptor (csrc/sp_fs.h); its blocks are allocated before it is
-- mapped. When it cannot be used (a full disk, a file of another user, a
-- folder others can write) new() gives the process budget instead, and
-- report hears limiter_error { shared = "host", fallback = "process",
-- message = why }. A file cut short while the process runs (it would make
-- the next access a SIGBUS) is left at the next use: the C limiter goes on
-- with a budget of its own, and report hears the same event once.

local core = require "sendpulse.core"

local setmetatable, tostring = setmetatable, tostring

local _M = {}

local Host = {}
Host.__index = Host
Host.__name = "sendpulse.account.host_limiter"

local function event(message)
  return { event = "limiter_error", shared = "host", fallback = "process", message = message }
end

--- new{ dir =, name =, settings =, fallback =, report = } -> a limiter (this
-- wrapper, or fallback()'s when the file cannot be used).
function _M.new(o)
  local folder, err = core.dir(o.dir, { what = "token folder", create = true, private = true })
  local c
  if folder then
    local s = o.settings
    c, err = core.limiter { rate = s.rate, burst = s.burst, guard = s.guard, windows = s.windows,
                            dir = folder, file = o.name }
    -- (the limiter keeps its own descriptor of the file; the folder's is
    -- not needed any more)
    folder:close()
  end
  if not c then
    o.report(event(err))
    return o.fallback()
  end
  return setmetatable({ c = c, report = o.report }, Host)
end

-- After each use: a file cut short was left (once).
local function check(self)
  local why = self.c:fault()
  if why then self.report(event(why)) end
end

function Host:take(lateness)
  local ok, wait, which = self.c:take(lateness)
  check(self)
  return ok, wait, which
end

function Host:peek()
  local wait = self.c:peek()
  check(self)
  return wait
end

function Host:state()
  local s = self.c:state()
  check(self)
  return s
end

function Host:push(seconds)
  self.c:push(seconds)
  check(self)
end

function Host:defer(seconds)
  self.c:defer(seconds)
  check(self)
end

function Host:guard(g) return self.c:guard(g) end
function Host:shared() return self.c:shared() end

Host.__tostring = function(self) return tostring(self.c) end

return _M
