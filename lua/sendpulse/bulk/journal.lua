--- The import's journal: where a run stands, on disk after every batch, so a
-- run killed at any moment (SIGKILL included) resumes where it stopped.
--
-- The file is JSON, replaced whole each time: written to a temporary file
-- in the same folder, synced to disk, renamed over the old one, the folder
-- synced (core.write_private). A reader therefore finds the old state or
-- the new one, never a mix, whenever the writer was killed.
--
--   local j = journal.open(path)        -- state or nil (no journal yet); raises on a bad file
--   journal.save(path, state)           -- nil, message on failure
local core = require "sendpulse.core"
local json = require "sendpulse.json"

local type, tostring = type, tostring
local open = io.open

local _M = {}

_M.VERSION = 1

--- The saved state, nil when there is no journal, or nil and a message when
--- the file cannot be used.
function _M.load(path)
  local f = open(path, "rb")
  if not f then return nil end
  local text = f:read("*a")
  f:close()
  local state, err = json.decode(text)
  if type(state) ~= "table" then
    return nil, "the journal " .. path .. " is not readable (" .. tostring(err or "not an object") .. ")"
  end
  if state.version ~= _M.VERSION then
    return nil, "the journal " .. path .. " was written by another version (" .. tostring(state.version) .. ")"
  end
  return state
end

--- Replaces the journal with `state` (atomically, synced). Returns true or
--- nil and a message.
function _M.save(path, state)
  state.version = _M.VERSION
  local ok, err = core.write_private(path, json.encode(state))
  if not ok then return nil, "cannot write the journal: " .. tostring(err) end
  return true
end

return _M
