--- The import's journal: where a run stands, on disk after every batch, so a
-- run killed at any moment (SIGKILL included) resumes where it stopped.
--
--   local j, err, kind = journal.open(path)   -- locked; kind "busy", "storage" or "argument"
--   local state, why = j:load()               -- the state, nil (a new journal), or nil, why
--   j:save(state)                             -- true | nil, message, fault
--   j:close()                                 -- the lock goes with it
--   journal.decode(text, path)                -- a state read and checked, or nil, why
--
-- The file is a private file (csrc/sp_fs.h): opened once without following
-- a symbolic link, and refused unless it is a regular file of this user's,
-- mode 0600, with one name: a journal another user planted in a shared
-- folder cannot make an import skip rows. It is JSON, replaced whole each
-- time: written to a new file in the same folder, synced, renamed over the
-- old one, the folder synced. A reader therefore finds the old state or the
-- new one, never a mix, whenever the writer was killed.
--
-- The journal is locked (flock) for the whole run, so two imports with the
-- same journal cannot run at once: the second one is refused at once
-- (kind "busy"), it does not wait. Each new file is locked before it takes
-- the name, so the name always leads to a locked file while a run lasts;
-- the kernel drops the lock when the run ends or dies.
--
-- Everything read back is checked before it is used (decode): a field
-- missing or of the wrong type, a count that is not a whole number from 0
-- to 2^53, a position past the input, is refused with a message naming the
-- field, never a Lua error. Whether the position is where a record starts
-- is checked against the input by the import: the journal records a
-- fingerprint of every byte before it (input.prefix).
local core = require "sendpulse.core"
local json = require "sendpulse.json"

local type, tostring, ipairs, setmetatable, pcall, error = type, tostring, ipairs, setmetatable, pcall, error
local format = string.format
local math_type, tointeger = math.type, math.tointeger

local _M = {}

_M.VERSION = 2
-- A journal is a few numbers and a fingerprint: anything larger is not one.
_M.MAX_SIZE = 65536
_M.MAX_COUNT = 2 ^ 53

local Journal = {}
Journal.__index = Journal
Journal.__name = "sendpulse.bulk.journal"

--- Opens (creates when missing) and locks the journal at `path`. Returns
--- the journal, or nil, message and a kind: "busy" (another run holds it),
--- "storage" (a full disk) or "argument" (a file that breaks the rules, a
--- folder that cannot be written).
function _M.open(path)
  local f, err, fault = core.open(path, { mode = "lock", what = "journal" })
  if f == false then
    return nil, format("another import is running with the journal %s (it holds the journal's lock): "
      .. "refusing to start a second one at the same time; when it has ended, run the same command "
      .. "again", path), "busy"
  end
  if not f then return nil, err, fault == "storage" and "storage" or "argument" end
  return setmetatable({ file = f, path = path }, Journal)
end

--- The saved state (checked), nil for a new journal (empty), or nil and a
--- message.
function Journal:load()
  local text, err = self.file:read(_M.MAX_SIZE)
  if not text then return nil, err end
  if text == "" then return nil end
  return _M.decode(text, self.path)
end

--- Replaces the journal with `state` (atomically, synced, still locked).
--- Returns true, or nil, message and fault ("storage" for a full disk).
function Journal:save(state)
  state.version = _M.VERSION
  return self.file:replace(json.encode(state))
end

function Journal:close()
  self.file:close()
end

---------------------------------------------------------------------------
-- Checking what was read

local function describe(v)
  if type(v) == "string" then return format("%q (a string)", #v > 40 and v:sub(1, 40) .. "..." or v) end
  if type(v) == "number" then return format("%.17g", v) end
  if v == json.null then return "null" end
  return type(v)
end

-- A whole number from min to MAX_COUNT, as an integer where Lua has them.
local function whole(v, min)
  if type(v) ~= "number" or v ~= v or v < min or v >= _M.MAX_COUNT or v % 1 ~= 0 then return nil end
  if math_type and math_type(v) == "float" then return tointeger(v) end
  return v
end

local Check = {}
Check.__index = Check

-- Raises (to decode's pcall) the message for field `name` and `rule`.
function Check:fail(name, rule, v)
  error({ journal_error = format("the journal %s is damaged: '%s' %s, got %s; delete it (or run the "
    .. "import with --restart) to start over", self.path, name, rule, describe(v)) }, 0)
end

function Check:table(t, name)
  local v = t[name]
  if type(v) ~= "table" then self:fail(self.prefix .. name, "must be an object", v) end
  return v
end

function Check:number(t, name, min, optional)
  local v = t[name]
  if v == nil and optional then return nil end
  local n = whole(v, min)
  if n == nil then
    self:fail(self.prefix .. name, format("must be a whole number from %d to 2^53", min), v)
  end
  t[name] = n
  return n
end

-- Checks t as a position of `kind`; limit: the input's size (csv).
local function position(c, t, name, kind, limit)
  local p = c:table(t, name)
  local outer = c.prefix
  c.prefix = outer .. name .. "."
  if kind == "csv" then
    local offset = c:number(p, "offset", 0)
    if offset > limit then
      c:fail(c.prefix .. "offset", format("must be within the input (%d bytes)", limit), offset)
    end
    c:number(p, "line", 1)
  else
    c:number(p, "row", 0)
  end
  c.prefix = outer
  return p
end

local function check(c, state)
  if type(state.version) ~= "number" then c:fail("version", "must be a number", state.version) end
  if state.version ~= _M.VERSION then
    error({ journal_error = format("the journal %s was written by another version (%s; this one writes %d): "
      .. "delete it (or run the import with --restart) to start over", c.path, describe(state.version),
      _M.VERSION) }, 0)
  end
  c:number(state, "list", 1)
  c:number(state, "runs", 1)
  local input = c:table(state, "input")
  c.prefix = "input."
  local kind = input.kind
  if kind ~= "csv" and kind ~= "iterator" then c:fail("input.kind", "must be \"csv\" or \"iterator\"", kind) end
  local size = 0
  if kind == "csv" then
    size = c:number(input, "size", 0)
    local sum = input.prefix
    if type(sum) ~= "string" or not sum:find("^%x+$") or #sum ~= 16 then
      c:fail("input.prefix", "must be a fingerprint (16 hexadecimal digits)", sum)
    end
  end
  c.prefix = ""
  local at = position(c, state, "position", kind, size)
  local counts = c:table(state, "counts")
  c.prefix = "counts."
  for _, name in ipairs { "added", "rejected", "blank" } do c:number(counts, name, 0) end
  c.prefix = ""
  c:number(state, "rejects_size", 0, true)
  if state.in_flight ~= nil then
    local flight = c:table(state, "in_flight")
    c.prefix = "in_flight."
    local from = position(c, flight, "from", kind, size)
    local to = position(c, flight, "to", kind, size)
    c:number(flight, "rows", 0)
    local key = kind == "csv" and "offset" or "row"
    if from[key] ~= at[key] then c:fail("in_flight.from." .. key, "must be the position's", from[key]) end
    if to[key] < from[key] then c:fail("in_flight.to." .. key, "must not be before in_flight.from", to[key]) end
    c.prefix = ""
  end
  if state.complete ~= nil and state.complete ~= true then
    c:fail("complete", "must be true or absent", state.complete)
  end
  return state
end

--- The state in `text` (a journal's content), checked: every field the
--- import reads is there, of its type and within its bounds. Returns the
--- state (numbers as integers where Lua has them), or nil and a message
--- naming the journal, the field and the rule. Never raises.
function _M.decode(text, path)
  local state, err = json.decode(text)
  if type(state) ~= "table" then
    return nil, format("the journal %s is not readable (%s): delete it (or run the import with --restart) "
      .. "to start over", tostring(path), tostring(err or "not a JSON object"))
  end
  local c = setmetatable({ path = tostring(path), prefix = "" }, Check)
  local ok, result = pcall(check, c, state)
  if ok then return result end
  if type(result) == "table" and result.journal_error then return nil, result.journal_error end
  error(result, 0)   -- a bug here, not a damaged journal
end

return _M
