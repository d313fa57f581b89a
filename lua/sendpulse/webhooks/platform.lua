--- The only place where the webhook modules reach into the rest of the
-- library. Everything else under webhooks/ asks this file, so when modules
-- move (issue 14 regroups lua/sendpulse/ by concern) only these lines change.
--
--   core       the C core: json_decode, fingerprint, private_dir,
--              write_private, try_lock, uid, monotonic, sleep
--   errors     error objects (sendpulse.errors)
--   json       JSON as the client speaks it (null, encode, decode)
--   ngx()      nginx's ngx table when running inside nginx, else nil
--   redis(o)   a shared hiredis connection (sendpulse.account.redis_connection), loaded on use
local rawget, type, require = rawget, type, require

local _M = {
  core = require "sendpulse.core",
  errors = require "sendpulse.errors",
  json = require "sendpulse.json",
}

--- nginx's ngx table when this Lua state runs inside nginx, else nil. Read
-- through _G: nginx sets it as a global, and this module must define none.
function _M.ngx()
  local ngx = rawget(_G, "ngx")
  if type(ngx) == "table" and type(ngx.get_phase) == "function" then return ngx end
  return nil
end

--- A Redis connection with call(self, command, ...) for these settings
-- ({ host, port, password, db, timeout }), shared within the Lua state.
-- Loaded on first use: only users of Redis need libhiredis.
function _M.redis(opts)
  return require("sendpulse.account.redis_connection").connection(opts)
end

return _M
