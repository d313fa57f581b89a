--- Store families: the one interface of the places where state outlives a
-- call or is shared beyond this Lua state, and what its families share.
--
-- The families, each a folder with one module per place:
--   account/token_store/   the account's OAuth token     (file, redis, shared_dict)
--   account/limiter/       the account's rate budget     (redis, shared_dict)
--   webhooks/stores/       the webhook events seen       (memory, file, redis, shared_dict)
--   (idempotency stores, when they land, are one more)
-- A family's doc comment (its folder's modules, or the module that uses
-- them) says what its objects do; this one says what they all share.
--
-- Places, and a module's name is its place's:
--   memory       this Lua state only (where a family has none, its own
--                C object stands in: the token cache, the process budget)
--   file         private files: the processes of one user on one host
--   redis        a Redis server: processes on any number of hosts
--   shared_dict  an nginx lua_shared_dict: the workers of one nginx
--
-- Making one: M.new(opts) -> store, opts one table, checked at once (a
-- wrong or unknown option raises an error naming "<family>.<place>.new"
-- and the option). The places' own options are named alike in every
-- family:
--   file         dir = a folder, created mode 0700 (default: the user's
--                runtime folder, else /tmp/lua-sendpulse-<uid>)
--   redis        connection = an object with call(self, command, ...) (and,
--                for a family that runs scripts, script(self, source,
--                nkeys, ...)), such as an adapter over lua-resty-redis;
--                without it host, port, password, db, timeout make the
--                library's own (sendpulse.redis, blocking: not for inside
--                nginx); prefix = put before every key
--   shared_dict  dict = the lua_shared_dict's name (a string alone stands
--                for { dict = name }), looked up through sendpulse.nginx
--
-- The object: its metatable's __name is "sendpulse.<family>.<place>" and
-- its __tostring names the place (folder, dict, connection), never a key
-- or a value. Every wait it makes is bounded in time and every place it
-- fills is bounded in size (each module's header says how). Keys come
-- from the caller and are never secrets (an account's key is a
-- fingerprint). A failure at run time is a message that names the place
-- and the operation, never a token or a secret, and reaches the caller in
-- the family's form: a token store raises (shared_token reports it through
-- the hook and keeps a token of its own), a limiter reports and falls back
-- to a budget of its own, a webhook store returns nil, message (the event
-- then passes: a repeat beats a loss).
--
-- The helpers below are what the families share in making one.

local nginx = require "sendpulse.nginx"
local redis = require "sendpulse.redis"

local type, pairs, tostring, error = type, pairs, tostring, error
local format, concat = string.format, table.concat

local _M = {}

--- The options table of who's new (nil stands for {}), every key of it one
-- of `known` (a list); raises "<who>: ..." at the caller's caller.
function _M.options(opts, who, known)
  if opts == nil then return {} end
  if type(opts) ~= "table" then error(who .. ": argument must be a table or nil", 3) end
  local set = {}
  for i = 1, #known do set[known[i]] = true end
  for k in pairs(opts) do
    if not set[k] then
      error(format("%s: unknown option '%s' (known: %s)", who, tostring(k), concat(known, ", ")), 3)
    end
  end
  return opts
end

--- The Redis connection of a redis store's options: opts.connection,
-- which must have call (and script, if `scripts`), or the library's own
-- for opts' host, port, password, db and timeout (defaults 127.0.0.1,
-- 6379, none, 0, 1 s). Raises "<who>: ..." at the caller's caller.
function _M.redis_connection(opts, who, scripts)
  local conn = opts.connection
  if conn ~= nil then
    if type(conn) ~= "table" or type(conn.call) ~= "function" then
      error(who .. ": 'connection' must have a call(self, command, ...) method", 3)
    end
    if scripts and type(conn.script) ~= "function" then
      error(who .. ": 'connection' must have a script(self, source, nkeys, ...) method", 3)
    end
    return conn
  end
  return redis.connection { host = opts.host or "127.0.0.1", port = opts.port or 6379,
    password = opts.password, db = opts.db or 0, timeout = opts.timeout or 1 }
end

--- The shared dict a shared_dict store's options name (a string, or
-- { dict = name }): dict, name, the ngx table; or nil and why there is
-- none.
function _M.open_shared_dict(opts)
  local name = opts
  if type(opts) == "table" then name = opts.dict end
  if type(name) ~= "string" or name == "" then
    return nil, "'shared_dict' must be the name of a lua_shared_dict (string)"
  end
  local dict, why = nginx.shared_dict(name)
  if not dict then return nil, why end
  return dict, name, nginx.host()
end

--- As open_shared_dict, raising "<who>: ..." at the caller's caller when
-- there is no such dict.
function _M.shared_dict(opts, who)
  local dict, name, ngx = _M.open_shared_dict(opts)
  if not dict then error(who .. ": " .. name, 3) end
  return dict, name, ngx
end

return _M
