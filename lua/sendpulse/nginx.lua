--- What the host nginx (lua-nginx-module / OpenResty) allows at this moment,
-- and the shared dicts it declares.
--
-- Cosockets and ngx.sleep work only in some phases; elsewhere they raise
-- "API disabled in the context of ...". The list is an allow-list taken
-- from the lua-nginx-module README (the context of ngx.socket.tcp and
-- ngx.sleep), plus stream-lua's preread: an unknown or future phase is
-- refused, never assumed to work.
--
-- The phase is asked for on every call, never cached: a client made in
-- init_worker_by_lua and used in content_by_lua is legitimate, and the same
-- client used later from log_by_lua must be refused.

local core = require "sendpulse.core"

local rawget, type, format, ceil = rawget, type, string.format, math.ceil
local monotonic, blocking_sleep = core.monotonic, core.sleep

local _M = {}

_M.COSOCKET_PHASES = {
  rewrite = true, access = true, content = true, timer = true,
  ssl_cert = true, ssl_session_fetch = true, ssl_client_hello = true,
  preread = true,
}

-- The ngx table when this Lua state runs inside nginx, else nil. Read
-- through _G (nginx sets it as a global), so this module defines none.
local function host()
  local ngx = rawget(_G, "ngx")
  if type(ngx) == "table" and type(ngx.get_phase) == "function" then return ngx end
  return nil
end
_M.host = host

--- Is this Lua state inside nginx?
function _M.inside()
  return host() ~= nil
end

--- The current phase name ("content", "log", ...), or nil outside nginx.
function _M.phase()
  local ngx = host()
  return ngx and ngx.get_phase() or nil
end

--- The lua_shared_dict named `name`, or nil and a message saying why there
-- is none.
function _M.shared_dict(name)
  local ngx = host()
  if not ngx or type(ngx.shared) ~= "table" then
    return nil, "there is no ngx.shared here: shared dicts exist only inside nginx"
  end
  local dict = ngx.shared[name]
  if not dict then
    return nil, format("nginx.conf declares no 'lua_shared_dict %s <size>;'", name)
  end
  return dict
end

--- true if cosockets (and ngx.sleep) work now; else false and a message
-- that names the phase and says what to do instead.
function _M.can_yield()
  local ngx = host()
  if not ngx then return false, "not running inside nginx" end
  local phase = ngx.get_phase()
  if _M.COSOCKET_PHASES[phase] then return true end
  return false, format("cannot call the API from nginx's '%s' phase: " ..
    "cosockets are disabled there and a blocking call would stall the worker; " ..
    "run the call in a timer (ngx.timer.at(0, function(premature) ... end)) " ..
    "or from rewrite, access or content", phase)
end

--- Waits `seconds` without blocking the worker when nginx allows it.
-- ngx.sleep counts in whole milliseconds and its timers run on nginx's
-- cached clock, so it can wake a little early; a rate budget must never
-- send early, so this sleeps again until the monotonic clock (the one the
-- limiters use) has really passed the deadline. Outside a yieldable phase
-- (only reachable with an explicit transport = "curl", e.g. from
-- init_by_lua, where blocking stalls nothing) it falls back to a blocking
-- sleep.
function _M.sleep(seconds)
  local ngx = host()
  if not ngx or not _M.COSOCKET_PHASES[ngx.get_phase()] then
    return blocking_sleep(seconds)
  end
  local deadline = monotonic() + seconds
  local ngx_sleep = ngx.sleep
  repeat
    local left = deadline - monotonic()
    if left <= 0 then break end
    ngx_sleep(ceil(left * 1000) / 1000)
  until monotonic() >= deadline
end

return _M
