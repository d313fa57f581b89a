--- The rejects file of an import: a CSV of the rows that were not added,
-- `line,reason,<the input's columns...>`, so a user can fix them and import
-- that file again (after deleting the first two columns).
--
-- Rows are collected per batch and written when the batch is committed:
-- appended, then synced to disk before the journal records the file's new
-- size. A resumed run first cuts the file back to the size its journal
-- recorded, so the rejects of a batch that was in flight at a kill are
-- never written twice.
--
-- A new run never truncates an earlier rejects file (the rows of a past
-- run may be all a user has of them): it appends to a file with the same
-- header, starts a missing or empty one, and refuses one whose first line
-- is another header (rows of other columns would make it unreadable).
local core = require "sendpulse.core"
local csv = require "sendpulse.bulk.csv"

local setmetatable, tostring, ipairs = setmetatable, tostring, ipairs
local open = io.open

local _M = {}

local Rejects = {}
Rejects.__index = Rejects

--- Opens `path` for a run. `keep` (a resumed run): the size the journal
--- recorded, the file is cut back to it; nil (a new run): rows are appended
--- to a file with this header, or the file is started with it. Returns the
--- object (its size: where this run's rows begin), or nil and a message.
function _M.open(path, columns, keep)
  if keep then
    local f = open(path, "rb")
    local data = f and f:read(keep) or ""
    if f then f:close() end
    if #data ~= keep then
      return nil, "the rejects file " .. path .. " is shorter than its journal says (" .. keep .. " bytes)"
    end
    local ok, err = core.write_private(path, data)
    if not ok then return nil, err end
  else
    local header = { "line", "reason" }
    for _, c in ipairs(columns) do header[#header + 1] = c end
    header = csv.format(header)
    local f = open(path, "rb")
    local first = f and f:read(#header) or ""
    if f then f:close() end
    if first == "" then
      local ok, err = core.write_private(path, header)
      if not ok then return nil, err end
    elseif first ~= header then
      return nil, "the rejects file " .. path .. " holds rows of another input (its first line is not "
        .. header:sub(1, -2) .. "): give another rejects file, or move this one away"
    end
  end
  local f, err = open(path, "ab")
  if not f then return nil, err end
  local self = setmetatable({ path = path, file = f, pending = {} }, Rejects)
  self.size = f:seek("end")
  return self
end

--- A rejected row (written at the next commit).
function Rejects:add(line, reason, fields)
  local record = { line or "", reason }
  for i, v in ipairs(fields or {}) do record[i + 2] = v end
  self.pending[#self.pending + 1] = csv.format(record)
end

--- Writes the pending rows and syncs the file. Returns its size, or nil and
--- a message.
function Rejects:commit()
  if #self.pending > 0 then
    local ok, err = self.file:write(table.concat(self.pending))
    if not ok then return nil, "cannot write " .. self.path .. ": " .. tostring(err) end
    self.pending = {}
    ok, err = core.fsync(self.file)
    if not ok then return nil, "cannot sync " .. self.path .. ": " .. tostring(err) end
    self.size = self.file:seek("end")
  end
  return self.size
end

function Rejects:close()
  if self.file then self.file:close() end
  self.file = nil
end

return _M
