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
-- It is a private file (csrc/sp_fs.h: mode 0600, ours, a regular file,
-- never reached through a symbolic link), opened once and written through
-- that descriptor: a new run gives the name a new file (atomically), a
-- resumed run opens the one there and checks it.
local core = require "sendpulse.core"
local csv = require "sendpulse.bulk.csv"

local setmetatable, ipairs, format = setmetatable, ipairs, string.format
local concat = table.concat

local _M = {}

local Rejects = {}
Rejects.__index = Rejects

--- Opens `path` for a run. `keep` (a resumed run): the size the journal
--- recorded, the file is cut back to it; nil (a new run): the file is
--- created with its header. Returns the object, or nil, a message and a
--- fault ("storage" for a full disk).
function _M.open(path, columns, keep)
  if not keep then
    local header = { "line", "reason" }
    for _, c in ipairs(columns) do header[#header + 1] = c end
    local t, err, fault = core.temp(path, "rejects file")
    if not t then return nil, err, fault end
    local ok
    ok, err, fault = t:write(csv.format(header))
    if ok then ok, err, fault = t:publish() end
    t:close()
    if not ok then return nil, err, fault end
  end
  local f, err, fault = core.open(path, { mode = "append", what = "rejects file" })
  if f == false then
    return nil, format("the rejects file %s is missing, but its journal says it holds %d bytes: delete the "
      .. "journal (or run the import with --restart) to start over", path, keep), "refused"
  end
  if not f then return nil, err, fault end
  local size = f:size()
  if keep then
    if size < keep then
      f:close()
      return nil, format("the rejects file %s is shorter (%d bytes) than its journal says (%d bytes): delete "
        .. "the journal (or run the import with --restart) to start over", path, size, keep), "refused"
    end
    local ok
    ok, err, fault = f:truncate(keep)
    if not ok then
      f:close()
      return nil, err, fault
    end
    size = keep
  end
  return setmetatable({ path = path, file = f, pending = {}, size = size }, Rejects)
end

--- A rejected row (written at the next commit).
function Rejects:add(line, reason, fields)
  local record = { line or "", reason }
  for i, v in ipairs(fields or {}) do record[i + 2] = v end
  self.pending[#self.pending + 1] = csv.format(record)
end

--- Writes the pending rows and syncs the file. Returns its size, or nil, a
--- message and a fault.
function Rejects:commit()
  if #self.pending > 0 then
    local text = concat(self.pending)
    local ok, err, fault = self.file:write(text)
    if not ok then return nil, err, fault end
    self.pending = {}
    ok, err, fault = self.file:sync()
    if not ok then return nil, err, fault end
    self.size = self.size + #text
  end
  return self.size
end

function Rejects:close()
  if self.file then self.file:close() end
  self.file = nil
end

return _M
