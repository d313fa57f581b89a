--- The outbox in one append-only journal, for the processes of one user on
-- one host (scripts, cron jobs, the CLI, games, nginx workers): any number
-- of them enqueue and drain the same folder.
--
--   local store = require("sendpulse.outbox.file_store").new { dir = DIR }
--   store:add(id, entry_text, max_pending) -> true | nil, err
--   store:take(owner, lease)      -> id, entry_text, attempts | false, next_due | nil, err
--   store:finish(id, owner)       -> true | nil, err                     (done: gone)
--   store:again(id, owner, attempts, next_at, error) -> true | nil, err  (backoff)
--   store:bury(id, owner, attempts, reason, error)   -> true | nil, err  (dead)
--   store:status()                -> { pending, in_flight, dead, oldest_age } | nil, err
--   store:dead(max)               -> { { id, reason, error, attempts, entry }... } | nil, err
--   store:revive()                -> n (dead entries back to pending) | nil, err
--   store:drop(id)                -> true | false (no such entry) | nil, err
-- err is a message (the outbox makes it an error object).
--
-- DIR/journal starts with "sendpulse-outbox 1 <generation>\n"; then records,
-- each "\n<length> <checksum> <json>" (checksum: core.fingerprint of the
-- json). Every change is appended under an exclusive flock on
-- DIR/journal.lock (the kernel drops it when its holder dies); before
-- deciding anything a process reads what others appended since its last
-- look, so all of them see one history. The newline goes first so that a
-- record cut short (a writer killed, a full disk) is ended by the next one;
-- readers skip it (its length and checksum do not match), count it in
-- `skipped`, and never trust a record they cannot check.
--
-- What is synced when: add, finish, bury, revive and drop are fsynced
-- before they return (an entry enqueued is on disk; a message sent is not
-- sent again after a power cut, although the ledger would stop that
-- anyway); take (a lease) and again (a backoff) are not: losing one only
-- lets an entry be taken sooner.
--
-- Past compact_bytes, the journal is rewritten with the live entries only
-- (atomic replace, a new generation): others see the new generation in the
-- first line and read it from the start. The folder is private (0700, this
-- user's; core.private_dir), files are opened without following links and
-- must be this user's regular files (core.append_private, read_private).
local core = require "sendpulse.core"
local json = require "sendpulse.json"

local type, pairs, tostring, tonumber, setmetatable, error = type, pairs, tostring, tonumber, setmetatable, error
local format, concat, sub, find, match = string.format, table.concat, string.sub, string.find, string.match
local floor = math.floor
local wallclock, monotonic, fingerprint = core.wallclock, core.monotonic, core.fingerprint

local _M = {}

_M.LOCK_TIMEOUT = 5
_M.COMPACT_BYTES = 4 * 1024 * 1024
-- The most a journal may grow to before it is refused as not ours: far
-- beyond what compaction leaves (max_pending entries of max_entry_bytes).
_M.MAX_JOURNAL_BYTES = 1024 * 1024 * 1024
-- The longest record a reader takes (an entry is at most the outbox's
-- max_entry_bytes, 1 MiB by default, plus its envelope).
_M.MAX_RECORD = 3 * 1024 * 1024
local MAGIC = "sendpulse-outbox 1 "
local READ_CHUNK = 4 * 1024 * 1024

local Store = {}
Store.__index = Store
Store.__name = "sendpulse.outbox.file_store"

--- new{ dir =, lock_timeout =, compact_bytes = } -> store (the folder is
-- made, 0700, on first use).
function _M.new(opts)
  if type(opts) ~= "table" or type(opts.dir) ~= "string" or opts.dir == "" then
    error("outbox.file_store.new: 'dir' must be a non-empty path (string)", 2)
  end
  return setmetatable({
    dir = opts.dir, journal = opts.dir .. "/journal", lockfile = opts.dir .. "/journal.lock",
    lock_timeout = opts.lock_timeout or _M.LOCK_TIMEOUT,
    compact_bytes = opts.compact_bytes or _M.COMPACT_BYTES,
    ready = false, gen = false, offset = 0, size = 0, skipped = 0,
    entries = {}, order = {}, first = 1, live = 0,
  }, Store)
end

local function fresh_generation()
  return fingerprint(format("%.6f|%.9f|%s|%s", wallclock(), monotonic(), tostring({}), tostring(os.clock())))
end

-- The state kept for each entry (the same in every process that read the
-- same journal): id, text (the entry's JSON), enqueued_at, state
-- ("pending" | "leased" | "dead"), attempts, next_at, owner, lease_until,
-- reason, error.
local function reset(self, gen)
  self.gen, self.offset, self.entries, self.order, self.first, self.live = gen, 0, {}, {}, 1, 0
end

local function number(v) return type(v) == "number" and v == v and v > -1e13 and v < 1e13 end
local function text(v) return type(v) == "string" and #v <= 1024 end

-- Applies one checked record; false when its fields are not what its op needs.
local function apply(self, r)
  local op, id = r.op, r.id
  if type(id) ~= "string" or #id > 128 then return false end
  local e = self.entries[id]
  if op == "enq" then
    if type(r.entry) ~= "string" or not number(r.at) then return false end
    if e then return true end   -- the same id twice: the first stands
    e = { id = id, text = r.entry, enqueued_at = r.at, state = "pending", attempts = 0, next_at = 0 }
    -- A compacted journal carries the state with the entry.
    if r.state == "dead" then e.state = "dead" end
    if number(r.attempts) then e.attempts = r.attempts end
    if number(r.next_at) then e.next_at = r.next_at end
    if text(r.reason) then e.reason = r.reason end
    if text(r.error) then e.error = r.error end
    if e.state ~= "dead" and type(r.owner) == "string" and number(r.until_) then
      e.state, e.owner, e.lease_until = "leased", r.owner, r.until_
    end
    self.entries[id] = e
    self.order[#self.order + 1] = id
    if e.state ~= "dead" then self.live = self.live + 1 end
    return true
  end
  if not e then return true end   -- done or dropped meanwhile
  if op == "take" then
    if type(r.owner) ~= "string" or not number(r.until_) then return false end
    if e.state ~= "dead" then e.state, e.owner, e.lease_until = "leased", r.owner, r.until_ end
  elseif op == "again" then
    if type(r.owner) ~= "string" or not number(r.attempts) or not number(r.next_at) then return false end
    if e.state == "leased" and e.owner == r.owner then
      e.state, e.owner, e.attempts, e.next_at = "pending", nil, r.attempts, r.next_at
      e.error = text(r.error) and r.error or nil
    end
  elseif op == "done" then
    if e.state == "leased" and e.owner == r.owner then
      self.entries[id] = nil
      self.live = self.live - 1
    end
  elseif op == "dead" then
    if type(r.owner) ~= "string" or not text(r.reason) then return false end
    if e.state == "leased" and e.owner == r.owner then
      e.state, e.owner, e.reason, e.error = "dead", nil, r.reason, text(r.error) and r.error or nil
      e.attempts = number(r.attempts) and r.attempts or e.attempts
      self.live = self.live - 1
    end
  elseif op == "revive" then
    if e.state == "dead" then
      e.state, e.attempts, e.next_at, e.reason, e.error = "pending", 0, 0, nil, nil
      self.live = self.live + 1
    end
  elseif op == "drop" then
    if e.state ~= "dead" then self.live = self.live - 1 end
    self.entries[id] = nil
  else
    return false
  end
  return true
end

-- Parses the records of `chunk` (read at self.offset); returns how many
-- bytes it consumed, and whether to stop reading (a record cut short at
-- the end of the file: a writer that died, or one that is done when the
-- next record follows).
local function parse(self, chunk, at_eof)
  local at, n = 1, #chunk
  while at <= n do
    -- A record's body never holds a newline (the JSON encoder escapes
    -- them), so the next newline is where the next record starts.
    local next_nl = find(chunk, "\n", at + 1, true)
    if sub(chunk, at, at) ~= "\n" then
      self.skipped = self.skipped + 1              -- bytes that are no record
      if not next_nl then return n, at_eof end
      at = next_nl
    else
      local len, sum, body_at = match(chunk, "^\n(%d+) (%x+) ()", at)
      local stop = len and body_at + tonumber(len) - 1
      if stop and not next_nl and stop > n then
        -- Cut short by the end of what was read.
        if at_eof then return at - 1, true end
        if tonumber(len) <= _M.MAX_RECORD then return at - 1, false end   -- read on from it
        self.skipped = self.skipped + 1
        return n, false
      elseif not stop and not next_nl then
        local rest = sub(chunk, at, at + 63)
        if n - at < 64 and (match(rest, "^\n%d*$") or match(rest, "^\n%d+ %x*$")) then
          return at - 1, at_eof                           -- a header cut short: at the end, or read on
        end
        self.skipped = self.skipped + 1
        return n, at_eof
      elseif not stop or (next_nl and stop >= next_nl) then
        self.skipped = self.skipped + 1              -- malformed, or cut short by the next record
        at = next_nl
      else
        local body = sub(chunk, body_at, stop)
        local r = fingerprint(body) == sum and json.decode(body)
        if type(r) ~= "table" or not apply(self, r) then self.skipped = self.skipped + 1 end
        at = stop + 1
      end
    end
  end
  return n, false
end

-- Reads the journal's new records (under the lock). true | nil, message.
local function catch_up(self)
  local head, size = core.read_private(self.journal, 0, 64)
  if head == nil then return nil, size end
  if head == false or size == 0 then
    reset(self, false)
    self.size = 0
    return true
  end
  local gen = sub(head, 1, #MAGIC) == MAGIC and match(head, "^(%x+)\n", #MAGIC + 1)
  if not gen then
    return nil, self.journal .. " is not an outbox journal (its first line is not '" .. MAGIC .. "<generation>')"
  end
  if size > _M.MAX_JOURNAL_BYTES then return nil, self.journal .. " is larger than a journal may be" end
  if gen ~= self.gen or size < self.offset then reset(self, gen) end
  if self.offset == 0 then self.offset = #MAGIC + #gen + 1 end
  self.size = size
  while self.offset < size do
    local chunk, err = core.read_private(self.journal, self.offset, READ_CHUNK)
    if type(chunk) ~= "string" then return nil, err or ("cannot read " .. self.journal) end
    if chunk == "" then break end
    local used, stop = parse(self, chunk, self.offset + #chunk >= size)
    self.offset = self.offset + used
    if stop or used == 0 then break end
  end
  return true
end

local function lock(self)
  if not self.ready then
    local ok, err = core.private_dir(self.dir)
    if not ok then return nil, err end
    self.ready = true
  end
  local deadline = monotonic() + self.lock_timeout
  while true do
    local held, err = core.try_lock(self.lockfile)
    if held then
      local ok, cerr = catch_up(self)
      if not ok then
        held:unlock()
        return nil, cerr
      end
      return held
    end
    if held == nil then return nil, err end
    if monotonic() >= deadline then
      return nil, format("waited %g s for the lock of %s", self.lock_timeout, self.journal)
    end
    core.sleep(0.002)
  end
end

-- Appends records (tables), synced or not, then reads them back (with
-- anything before them this process had not read). true | nil, message.
local function append(self, records, sync)
  local parts = {}
  if self.gen == false then parts[1] = MAGIC .. fresh_generation() .. "\n" end
  for i = 1, #records do
    local body = json.encode(records[i])
    parts[#parts + 1] = format("\n%d %s %s", #body, fingerprint(body), body)
  end
  local ok, err = core.append_private(self.journal, concat(parts), sync)
  if not ok then return nil, err end
  return catch_up(self)
end

-- Rewrites the journal with the live entries (under the lock).
local function compact(self)
  local gen = fresh_generation()
  local parts = { MAGIC .. gen .. "\n" }
  for _, id in pairs(self.order) do
    local e = self.entries[id]
    if e then
      local body = json.encode { op = "enq", id = id, entry = e.text, at = e.enqueued_at,
        state = e.state == "dead" and "dead" or nil, attempts = e.attempts, next_at = e.next_at,
        reason = e.reason, error = e.error,
        owner = e.state == "leased" and e.owner or nil, until_ = e.state == "leased" and e.lease_until or nil }
      parts[#parts + 1] = format("\n%d %s %s", #body, fingerprint(body), body)
    end
  end
  local data = concat(parts)
  local ok, err = core.write_private(self.journal, data)
  if not ok then return nil, err end
  reset(self, false)
  return catch_up(self)
end

local function with_lock(self, fn)
  local held, err = lock(self)
  if not held then return nil, err end
  local a, b, c = fn()
  if self.size > self.compact_bytes and a ~= nil then
    -- Only when it pays: the live entries are under half the file.
    local live = 0
    for _, e in pairs(self.entries) do live = live + #e.text + 64 end
    if live * 2 < self.size then compact(self) end
  end
  held:unlock()
  return a, b, c
end

function Store:add(id, entry_text, max_pending)
  return with_lock(self, function()
    if self.entries[id] then return nil, "an entry with id " .. id .. " is already in the outbox" end
    if self.live >= max_pending then return nil, "full" end
    return append(self, { { op = "enq", id = id, entry = entry_text, at = wallclock() } }, true)
  end)
end

-- The oldest entry that is due: pending with next_at passed, or leased
-- past its lease (its drainer died). Returns e, or nil and the next time one is due.
local function due(self, now)
  local order, entries = self.order, self.entries
  local next_due
  -- Skip the done prefix once, so a long-lived outbox does not rescan it.
  while self.first <= #order and not entries[order[self.first]] do self.first = self.first + 1 end
  if self.first > 1024 and self.first * 2 > #order then
    local kept = {}
    for i = self.first, #order do if entries[order[i]] then kept[#kept + 1] = order[i] end end
    self.order, self.first, order = kept, 1, kept
  end
  for i = self.first, #order do
    local e = entries[order[i]]
    if e then
      local at = (e.state == "pending" and e.next_at) or (e.state == "leased" and e.lease_until) or nil
      if at then
        if at <= now then return e end
        if not next_due or at < next_due then next_due = at end
      end
    end
  end
  return nil, next_due
end

function Store:take(owner, lease)
  return with_lock(self, function()
    local now = wallclock()
    local e, next_due = due(self, now)
    if not e then return false, next_due end
    local ok, err = append(self, { { op = "take", id = e.id, owner = owner, until_ = now + lease } }, false)
    if not ok then return nil, err end
    return e.id, e.text, e.attempts
  end)
end

local function change(self, record, sync)
  return with_lock(self, function()
    local e = self.entries[record.id]
    if not e or e.state ~= "leased" or e.owner ~= record.owner then
      return nil, "lost the lease of entry " .. record.id .. " (its lease passed and another drainer took it)"
    end
    return append(self, { record }, sync)
  end)
end

function Store:finish(id, owner)
  return change(self, { op = "done", id = id, owner = owner }, true)
end

function Store:again(id, owner, attempts, next_at, err)
  return change(self, { op = "again", id = id, owner = owner, attempts = attempts, next_at = next_at,
                        error = err and sub(err, 1, 1000) }, false)
end

function Store:bury(id, owner, attempts, reason, err)
  return change(self, { op = "dead", id = id, owner = owner, attempts = attempts, reason = reason,
                        error = err and sub(err, 1, 1000) }, true)
end

function Store:status()
  return with_lock(self, function()
    local now = wallclock()
    local pending, in_flight, dead, oldest = 0, 0, 0, nil
    for _, e in pairs(self.entries) do
      if e.state == "dead" then
        dead = dead + 1
      else
        if e.state == "leased" and e.lease_until > now then in_flight = in_flight + 1 else pending = pending + 1 end
        if not oldest or e.enqueued_at < oldest then oldest = e.enqueued_at end
      end
    end
    return { pending = pending, in_flight = in_flight, dead = dead,
             oldest_age = oldest and floor((now - oldest) * 1000) / 1000 or 0, skipped = self.skipped }
  end)
end

function Store:dead(max)
  return with_lock(self, function()
    local out = {}
    for _, id in pairs(self.order) do
      local e = self.entries[id]
      if e and e.state == "dead" then
        out[#out + 1] = { id = id, reason = e.reason, error = e.error, attempts = e.attempts, entry = e.text }
        if #out >= max then break end
      end
    end
    return out
  end)
end

function Store:revive()
  return with_lock(self, function()
    local records = {}
    for id, e in pairs(self.entries) do
      if e.state == "dead" then records[#records + 1] = { op = "revive", id = id } end
    end
    if #records == 0 then return 0 end
    local ok, err = append(self, records, true)
    if not ok then return nil, err end
    return #records
  end)
end

function Store:drop(id)
  return with_lock(self, function()
    if not self.entries[id] then return false end
    local ok, err = append(self, { { op = "drop", id = id } }, true)
    if not ok then return nil, err end
    return true
  end)
end

Store.__tostring = function(self) return Store.__name .. " (" .. self.dir .. ")" end

return _M
