--- A token shared through a store, so that every process (or nginx worker)
-- of one account uses one token and only one of them fetches it.
--
-- It wraps the C auth object (which keeps the secret and a local copy of
-- the token) and has the same methods, so the client cannot tell them apart.
-- It keeps no Lua copy of a token: what a store gives is compared with the
-- C object's (auth:holds), and a refused one is remembered by fingerprint.
-- A store is any object with these methods (each may raise; a failure is
-- reported through `report` and the client carries on with its local token
-- and its own fetches, never crashes):
--
--   store:get(key)          -> token, seconds_left | nil
--   store:set(key, token, ttl)
--   store:delete(key)
--   store:lock(key, ttl)    -> true if this caller now holds the lock
--   store:unlock(key)
--   store:count(key, seconds) -> n   (optional: counts one token request in
--                            the current window of `seconds`, returns the
--                            window's count; see account/token_requests.lua)
--
-- Keys are derived from the account (a fingerprint of the client id and
-- secret), never the secret itself. Stores: sendpulse.account.token_store.* and user
-- tables with the methods above.

local core = require "sendpulse.core"
local bearer = require "sendpulse.account.token"
local errors = require "sendpulse.errors"

local pcall, setmetatable, tostring, type = pcall, setmetatable, tostring, type
local fingerprint = core.fingerprint

local _M = {}

local SharedToken = {}
SharedToken.__index = SharedToken
SharedToken.__name = "sendpulse.account.shared_token"

-- The lock outlives a fetch that hangs, but not a process that died.
local LOCK_TTL = 30

--- new(auth, store, key, report): report(operation, message) is called on
-- each store failure.
function _M.new(auth, store, key, report)
  return setmetatable({ auth = auth, store = store, key = key, report = report,
                        locked = false, refused = nil }, SharedToken)
end

local function call(self, op, ...)
  local ok, a, b = pcall(self.store[op], self.store, ...)
  if not ok then
    self.report(op, errors.describe(a))
    return nil
  end
  return true, a, b
end

-- The store's token with the seconds it has left, if there is one worth
-- adopting: a Bearer token (RFC 6750 token68, like any token: a store is
-- read from files, Redis, a dict or the user's code, and a value that is
-- not one is reported and ignored), with a positive lifetime (at most
-- sendpulse.account.token.MAX_LIFETIME), not the token refused with a 401
-- (only its fingerprint is kept), and not the one this process holds and
-- found due: adopting that again would restart its refresh margin on what
-- is left of its life (the margin is at most half the life given), pushing
-- the refresh towards expiry, until every process meets a 401. Refresh it.
local function adoptable(self)
  local ok, shared, ttl = call(self, "get", self.key)
  if not ok or shared == nil then return nil end
  local good, why = bearer.check(shared)
  if not good then
    self.report("get", "the store's token was ignored: " .. why)
    return nil
  end
  if type(ttl) ~= "number" or ttl ~= ttl then
    self.report("get", "the store's token was ignored: its lifetime is not a number")
    return nil
  end
  if ttl <= 0 or self.refused == fingerprint(shared) or self.auth:holds(shared) then return nil end
  if ttl > bearer.MAX_LIFETIME then ttl = bearer.MAX_LIFETIME end
  return shared, ttl
end

--- The generation of the token to send now, or nil (fetch one): the local
-- copy, else one another process put in the store.
function SharedToken:current()
  local auth = self.auth
  local generation = auth:current()
  if generation then return generation end
  local shared, ttl = adoptable(self)
  if shared then
    auth:finish_refresh(shared, ttl)
    return auth:current()
  end
  return nil
end

function SharedToken:begin_refresh()
  if not self.auth:begin_refresh() then return false end
  local ok, got = call(self, "lock", self.key, LOCK_TTL)
  if not ok then return true end         -- store down: fetch it ourselves
  if got then
    -- Another process may have stored a token between our look in the
    -- store and taking the lock: adopt it rather than fetch a second one.
    local shared, ttl = adoptable(self)
    if shared then
      self.auth:finish_refresh(shared, ttl)
      call(self, "unlock", self.key)
      return false   -- the client's next current() finds it
    end
    self.locked = true
    return true
  end
  -- Another process is fetching; the client waits and polls current().
  self.auth:abort_refresh()
  return false
end

function SharedToken:finish_refresh(token, ttl)
  local generation = self.auth:finish_refresh(token, ttl)
  call(self, "set", self.key, token, ttl)
  if self.locked then
    self.locked = false
    call(self, "unlock", self.key)
  end
  return generation
end

function SharedToken:abort_refresh()
  self.auth:abort_refresh()
  if self.locked then
    self.locked = false
    call(self, "unlock", self.key)
  end
end

--- The server refused the token of `generation`: forget it here and in the
-- store, and never take it from the store again.
function SharedToken:invalidate(generation)
  -- Looked at before the local copy goes: the store's copy is deleted only
  -- if it is the refused token (another process may already have put a new
  -- one there, and deleting that would cost every process one more fetch),
  -- and it is remembered by fingerprint, not kept.
  local ok, shared = call(self, "get", self.key)
  local ours = ok and type(shared) == "string" and self.auth:holds(shared)
  if not self.auth:invalidate(generation) then return false end
  if ours then
    self.refused = fingerprint(shared)
    call(self, "delete", self.key)
  elseif ok and shared == nil then
    call(self, "delete", self.key)
  end
  return true
end

--- Counts a token request in the store, for every process sharing it:
-- the window's count, or nil when the store cannot count (no count method)
-- or failed (reported).
function SharedToken:count_requests(seconds)
  if type(self.store.count) ~= "function" then return nil end
  local ok, n = call(self, "count", self.key .. ":requests", seconds)
  if not ok then return nil end
  if type(n) ~= "number" then
    self.report("count", "the store's count was ignored: it is not a number")
    return nil
  end
  return n
end

function SharedToken:token() return self.auth:token() end
function SharedToken:held() return self.auth:held() end
function SharedToken:refreshing() return self.auth:refreshing() end
function SharedToken:token_request() return self.auth:token_request() end
function SharedToken:expires_in() return self.auth:expires_in() end
function SharedToken:is_static() return self.auth:is_static() end
function SharedToken:bearer() return self.auth:bearer() end
function SharedToken:scrub(s) return self.auth:scrub(s) end

SharedToken.__tostring = function(self)
  return "sendpulse.account.shared_token (" .. tostring(self.auth) .. ")"
end

return _M
