--- A token shared through a store, so that every process (or nginx worker)
-- of one account uses one token and only one of them fetches it.
--
-- It wraps the C auth object (which keeps the secret and a local copy of
-- the token) and has the same methods, so the client cannot tell them apart.
-- A store is any object with these methods (each may raise; a failure is
-- reported through `report` and the client carries on with its local token
-- and its own fetches, never crashes):
--
--   store:get(key)          -> token, seconds_left | nil
--   store:set(key, token, ttl)
--   store:delete(key)
--   store:lock(key, ttl)    -> true if this caller now holds the lock
--   store:unlock(key)
--
-- Keys are derived from the account (a fingerprint of the client id and
-- secret), never the secret itself. Stores: sendpulse.account.token_store.* and user
-- tables with the methods above.

local pcall, setmetatable, tostring = pcall, setmetatable, tostring

local _M = {}

-- The last token each C auth object held, by object: clients come and go
-- (one per nginx request, say) but share the account's auth object.
local seen = setmetatable({}, { __mode = "k" })

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
    self.report(op, tostring(a))
    return nil
  end
  return true, a, b
end

function SharedToken:token()
  local auth = self.auth
  local token, generation = auth:token()
  if token then
    seen[auth] = token
    return token, generation
  end
  -- Our copy is missing or due for refresh: another process may have a
  -- newer one in the store. Not the one we already hold and found due:
  -- adopting that again would restart its refresh margin on what is left
  -- of its life (the margin is at most half the life given), pushing the
  -- refresh towards expiry, until every process meets a 401. Refresh it.
  local ok, shared, ttl = call(self, "get", self.key)
  if ok and shared and shared ~= self.refused and shared ~= seen[auth] and ttl and ttl > 0 then
    auth:finish_refresh(shared, ttl)
    token, generation = auth:token()
    if token then seen[auth] = token end
    return token, generation
  end
  return nil
end

function SharedToken:begin_refresh()
  if not self.auth:begin_refresh() then return false end
  local ok, got = call(self, "lock", self.key, LOCK_TTL)
  if not ok then return true end         -- store down: fetch it ourselves
  if got then
    -- Another process may have stored a token between our look in the
    -- store and taking the lock: adopt it rather than fetch a second one
    -- (not the one we hold and found due: see token()).
    local found, shared, ttl = call(self, "get", self.key)
    if found and shared and shared ~= self.refused and shared ~= seen[self.auth] and ttl and ttl > 0 then
      self.auth:finish_refresh(shared, ttl)
      seen[self.auth] = shared
      call(self, "unlock", self.key)
      return false   -- the client's next token() finds it
    end
    self.locked = true
    return true
  end
  -- Another process is fetching; the client waits and polls token().
  self.auth:abort_refresh()
  return false
end

function SharedToken:finish_refresh(token, ttl)
  local generation = self.auth:finish_refresh(token, ttl)
  seen[self.auth] = token
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
  local current, g = self.auth:token()
  if not self.auth:invalidate(generation) then return false end
  if g == generation then self.refused = current end
  -- Delete the store's copy only if it is the refused token: another
  -- process may already have put a new one there, and deleting that would
  -- cost every process one more fetch.
  local ok, shared = call(self, "get", self.key)
  if ok and (shared == nil or current == nil or shared == current) then
    call(self, "delete", self.key)
  end
  return true
end

function SharedToken:refreshing() return self.auth:refreshing() end
function SharedToken:token_request() return self.auth:token_request() end
function SharedToken:expires_in() return self.auth:expires_in() end
function SharedToken:is_static() return self.auth:is_static() end

SharedToken.__tostring = function(self)
  return "sendpulse.account.shared_token (" .. tostring(self.auth) .. ")"
end

return _M
