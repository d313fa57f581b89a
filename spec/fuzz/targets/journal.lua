-- The import's journal reader (sendpulse.bulk.journal.decode) on any bytes,
-- as a journal damaged or edited by hand could hold. It never raises, and
-- returns either nil and a message about this journal, or a state every
-- field of which the import may use as it is: checked here again, by rules
-- written apart from the reader's (whole numbers in [0, 2^53) that are
-- integers where Lua has them, a position within the input, an in-flight
-- batch that starts at it). A state read back once more after encoding is
-- the same state.
local journal = require "sendpulse.bulk.journal"
local json = require "sendpulse.json"

local PATH = "fuzz.journal"
local LIMIT = 2 ^ 53

local function whole(v, min, what)
  if type(v) ~= "number" or v ~= v or v < min or v >= LIMIT or math.floor(v) ~= v then
    error(what .. " is not a whole number from " .. min .. " to 2^53: " .. tostring(v), 0)
  end
  if math.type and math.type(v) ~= "integer" then error(what .. " is a float: " .. tostring(v), 0) end
end

local function position(p, kind, size, what)
  if type(p) ~= "table" then error(what .. " is not a table", 0) end
  if kind == "csv" then
    whole(p.offset, 0, what .. ".offset")
    whole(p.line, 1, what .. ".line")
    if p.offset > size then error(what .. ".offset is past the input", 0) end
    return p.offset
  end
  whole(p.row, 0, what .. ".row")
  return p.row
end

local function usable(s)
  if s.version ~= journal.VERSION then error("version " .. tostring(s.version), 0) end
  whole(s.list, 1, "list")
  whole(s.runs, 1, "runs")
  local input = s.input
  if type(input) ~= "table" then error("input is not a table", 0) end
  local size = 0
  if input.kind == "csv" then
    whole(input.size, 0, "input.size")
    size = input.size
    if type(input.prefix) ~= "string" or not input.prefix:find("^%x%x%x%x%x%x%x%x%x%x%x%x%x%x%x%x$") then
      error("input.prefix is not a fingerprint", 0)
    end
  elseif input.kind ~= "iterator" then
    error("input.kind " .. tostring(input.kind), 0)
  end
  local at = position(s.position, input.kind, size, "position")
  if type(s.counts) ~= "table" then error("counts is not a table", 0) end
  for _, k in ipairs { "added", "rejected", "blank" } do whole(s.counts[k], 0, "counts." .. k) end
  if s.rejects_size ~= nil then whole(s.rejects_size, 0, "rejects_size") end
  if s.in_flight ~= nil then
    local f = s.in_flight
    if type(f) ~= "table" then error("in_flight is not a table", 0) end
    local from = position(f.from, input.kind, size, "in_flight.from")
    local to = position(f.to, input.kind, size, "in_flight.to")
    whole(f.rows, 0, "in_flight.rows")
    if from ~= at or to < from then error("in_flight does not start at the position", 0) end
  end
  if s.complete ~= nil and s.complete ~= true then error("complete " .. tostring(s.complete), 0) end
end

local function same(a, b)
  if type(a) ~= "table" or type(b) ~= "table" then return a == b end
  for k, v in pairs(a) do if not same(v, b[k]) then return false end end
  for k in pairs(b) do if a[k] == nil then return false end end
  return true
end

return function(data)
  local state, err = journal.decode(data, PATH)
  if state == nil then
    if type(err) ~= "string" or not err:find("the journal " .. PATH, 1, true) then
      error("refused without a message about the journal: " .. tostring(err), 0)
    end
    return
  end
  usable(state)
  local again, err2 = journal.decode(json.encode(state), PATH)
  if not again then error("a state read could not be read back: " .. tostring(err2), 0) end
  usable(again)
  if not same(again, state) then error("reading back changed the state", 0) end
end
