--- The rejects file of an import: a CSV of the rows that were not added,
-- `line,reason,<the input's columns...>`, so a user can fix them and import
-- that file again (after deleting the first two columns).
--
-- Rows are collected per batch and written when the batch is committed:
-- appended, then synced to disk before the journal records the file's new
-- size. A resumed run first cuts the file back to the size its journal
-- recorded, so the rejects of a batch that was in flight at a kill are
-- never written twice. A write cut short (a full disk) is cut back too: the
-- file never holds half a row.
--
-- A new run never truncates an earlier rejects file (the rows of a past
-- run may be all a user has of them): it appends to a file with the same
-- header, starts a missing or empty one, and refuses one whose first line
-- is another header (rows of other columns would make it unreadable).
--
-- It is a private file (csrc/sp_fs.h: mode 0600, ours, a regular file,
-- never reached through a symbolic link), opened once and written through
-- that descriptor.
local core = require "sendpulse.core"
local csv = require "sendpulse.bulk.csv"

local setmetatable, ipairs, format = setmetatable, ipairs, string.format
local concat = table.concat

local _M = {}

local Rejects = {}
Rejects.__index = Rejects

-- Writes text at the end of f (size bytes long); a write cut short is cut
-- back, so the file is as it was. Returns true or nil, message, fault.
local function append(f, size, text)
  local ok, err, fault = f:write(text)
  if not ok then
    f:truncate(size)
    return nil, err, fault
  end
  return true
end

--- Opens `path` for a run. `keep` (a resumed run): the size the journal
--- recorded, the file is cut back to it; nil (a new run): rows are appended
--- to a file with this header, or the file is started with it. Returns the
--- object (its size: where this run's rows begin), or nil, a message and a
--- fault ("storage" for a full disk, "refused" for a file that is not
--- this import's).
function _M.open(path, columns, keep)
  -- "create": read and write, at the position (a new run moves it to the
  -- end below); "append": every write at the end
  local f, err, fault = core.open(path, { mode = keep and "append" or "create", what = "rejects file" })
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
  else
    local header = { "line", "reason" }
    for _, c in ipairs(columns) do header[#header + 1] = c end
    header = csv.format(header)
    local ok
    if size == 0 then
      ok, err, fault = append(f, 0, header)
      if ok then ok, err, fault = f:sync() end
      size = #header
    else
      ok, err, fault = f:read_at(0, #header)
      if ok and ok ~= header then
        ok, err, fault = nil, "the rejects file " .. path .. " holds rows of another input (its first line is "
          .. "not " .. header:sub(1, -2) .. "): give another rejects file, or move this one away", "refused"
      end
      -- this run's rows go after the earlier ones: the position to the end
      -- (cut to its own size, nothing is removed)
      if ok then ok, err, fault = f:truncate(size) end
    end
    if not ok then
      f:close()
      return nil, err, fault
    end
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
    local ok, err, fault = append(self.file, self.size, text)
    if not ok then return nil, err, fault end
    self.pending = {}
    ok, err, fault = self.file:sync()
    if not ok then
      self.file:truncate(self.size)
      return nil, err, fault
    end
    self.size = self.size + #text
  end
  return self.size
end

function Rejects:close()
  if self.file then self.file:close() end
  self.file = nil
end

return _M
