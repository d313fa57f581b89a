--- One idempotency record: what a ledger store holds for a key, as one
-- line of JSON (docs/outbox.md, "The ledger: states of a key").
--
--   { v = 1, state = "claimed" | "sending" | "reconciling" | "done" | "uncertain",
--     hash = 32 hex digits (the request), owner = the holder,
--     lease_until = Unix s (claimed, sending, reconciling),
--     first_at = Unix s of the first attempt that may have been sent,
--     outcome = { status =, value = } | { error = { kind, code, status, message, ... } },
--     reconciled = true, resent = true }
--
-- A store is storage, not a source of truth about its own contents:
-- decode checks every field, and a record that fails is the store's error.
local json = require "sendpulse.json"

local type, pairs, tostring = type, pairs, tostring

local _M = {}

_M.VERSION = 1

local STATES = { claimed = true, sending = true, reconciling = true, done = true, uncertain = true }
_M.STATES = STATES

local function number(v) return type(v) == "number" and v == v and v > -1e12 and v < 1e12 end

--- The text of record `r`.
function _M.encode(r)
  r.v = _M.VERSION
  return json.encode(r)
end

-- The fields of an error outcome kept (and replayed).
local ERROR_FIELDS = { kind = "string", code = "number", status = "number", message = "string",
                       name = "string", description = "string", method = "string", path = "string",
                       retry_after = "number" }
_M.ERROR_FIELDS = ERROR_FIELDS

--- The record of `text`, or nil and why it cannot be one.
function _M.decode(text)
  local r = json.decode(text)
  if type(r) ~= "table" then return nil, "not a JSON object" end
  if r.v ~= _M.VERSION then return nil, "written by another version (" .. tostring(r.v) .. ")" end
  if not STATES[r.state] then return nil, "no known state" end
  if type(r.hash) ~= "string" or not r.hash:find("^%x+$") or #r.hash ~= 32 then return nil, "a bad hash" end
  if r.owner ~= nil and type(r.owner) ~= "string" then return nil, "a bad owner" end
  if r.lease_until ~= nil and not number(r.lease_until) then return nil, "a bad lease" end
  if r.first_at ~= nil and not number(r.first_at) then return nil, "a bad first_at" end
  if r.state ~= "done" and r.state ~= "uncertain" and not (r.owner and r.lease_until) then
    return nil, "a " .. r.state .. " record without owner and lease"
  end
  local o = r.outcome
  if o ~= nil then
    if type(o) ~= "table" then return nil, "a bad outcome" end
    if o.error ~= nil then
      if type(o.error) ~= "table" or type(o.error.kind) ~= "string" then return nil, "a bad error outcome" end
      for k, v in pairs(o.error) do
        if ERROR_FIELDS[k] ~= type(v) then return nil, "a bad error field" end
      end
    elseif o.status ~= nil and not number(o.status) then
      return nil, "a bad status"
    end
  end
  if r.state == "done" and type(o) ~= "table" then return nil, "a done record without outcome" end
  return r
end

return _M
