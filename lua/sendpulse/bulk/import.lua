--- client.email:import{...}: contacts from a CSV file (or any iterator) into
-- a mailing list, in batches, with progress, a rejects file and a journal
-- that makes a killed run resumable.
--
--   local summary = client.email:import {
--     id = 1234,                        -- the mailing list
--     rows = "contacts.csv",            -- a path, an open file, or an iterator of
--                                       -- { email =, phone =, variables = {...} }
--     batch = 500,                      -- contacts per call (1 .. 1000)
--     batch_bytes = 2097152,            -- and at most about this many bytes of rows per call
--     journal = "contacts.csv.journal", -- resume from here (optional; locked while the run lasts)
--     restart = false,                  -- true: start from the first row whatever the journal says
--     rejects = "contacts.rejects.csv", -- rows not added, with line and reason (optional;
--                                       -- appended to, never truncated: bulk/rejects.lua)
--     progress = function(p) ... end,   -- after every batch (optional)
--     raw_cells = false,                -- true: keep a leading ' (see sendpulse.bulk.cells)
--   }, { timeout = 60 })                -- call options for every batch (optional)
--   --> { added =, rejected =, skipped =, blank =, batches =, seconds =, resumed =,
--   --    resent =, complete = true, rejects_list = {...} (without a rejects file) }
--
-- What the journal guarantees (see docs/cli.md): batches are sent one after
-- another; before a batch leaves, the journal records it as in flight;
-- after its answer (and the rejects it caused are on disk), the journal
-- moves past it. Both writes replace the file atomically and are synced. A
-- run killed at any moment and started again with the same arguments
-- therefore sends no batch the journal marked done, loses no row (every row
-- before the journal's position was added or is in the rejects file, every
-- row after it is sent by the resumed run), and sends again at most the one
-- batch that was in flight: SendPulse adds by email (an upsert), so that
-- second send changes nothing.
--
-- Memory: a batch is bounded by rows (`batch`) and by bytes (`batch_bytes`,
-- 2 MiB): it closes once its contacts' JSON and its rejected rows' cells
-- reach that, so a batch holds at most batch_bytes plus one row (at most
-- max_record, 1 MiB). Wide rows make smaller batches instead of one body
-- of hundreds of megabytes (issue 21: 100 MB of rows under the 1 MiB record
-- limit went out as one call, 5.4 GB of peak RSS).
--
-- Cells: a CSV cell that is a run of quotes and then = + - @ TAB or CR
-- loses its first quote, the one an export adds to keep a spreadsheet from
-- running it (sendpulse.bulk.cells; raw_cells = true keeps it). A cell that
-- is not UTF-8 makes its row a reject (JSON must be UTF-8; a strict server
-- drops the connection otherwise), with the column and the byte.
--
-- Failures: a batch the API refuses for its data (HTTP 400/422, such as
-- 906 "Email address syntax error", which refuses the whole batch) is split
-- in halves until the refused rows are alone; those go to the rejects file
-- with the API's message, the others are added. Any other failure (network,
-- timeout, rate limit, HTTP 5xx, an unknown list, refused credentials) stops
-- the run after the client's own retries, the journal still at the batch
-- that failed: the error is reported (err.import holds the summary) and the
-- same call resumes there. Nothing after that batch was sent.
--
-- The journal and the rejects file are private files (sendpulse.bulk.journal,
-- csrc/sp_fs.h): another user's file at their path is refused, never used.
-- The journal is locked for the whole run: a second run with the same
-- journal is refused at once (kind "busy"). A resumed run checks the
-- journal's every field, and that the input's bytes before the journal's
-- position are those the earlier run read (their fingerprint): so the
-- position is where a record starts. A full disk is kind "storage".
local core = require "sendpulse.core"
local errors = require "sendpulse.errors"
local call_options = require "sendpulse.operations.call_options"
local csv = require "sendpulse.bulk.csv"
local contacts = require "sendpulse.bulk.contacts"
local journal = require "sendpulse.bulk.journal"
local rejects_file = require "sendpulse.bulk.rejects"
local cells = require "sendpulse.bulk.cells"

local type, pairs, ipairs, pcall, tostring, tonumber, rawget, setmetatable, math_type =
      type, pairs, ipairs, pcall, tostring, tonumber, rawget, setmetatable, math.type
local floor = math.floor
local format, byte = string.format, string.byte
local QUOTE = 39   -- '
local restore, neutralise_record = cells.restore, cells.neutralise_record
local monotonic = core.monotonic

local _M = {}

_M.DEFAULT_BATCH = 500
_M.MAX_BATCH = 1000
_M.DEFAULT_BATCH_BYTES = 2 * 1024 * 1024
_M.MIN_BATCH_BYTES = 1024
_M.MAX_BATCH_BYTES = 64 * 1024 * 1024
_M.ROW_OVERHEAD = 64     -- bytes a row costs beyond its cells (its tables), in the batch's count
_M.KEEP_REJECTS = 1000   -- rejects kept in the summary when there is no rejects file
_M.HASH_CHUNK = 65536    -- bytes read at a time to fingerprint the input
_M.OPERATION = "add_emails_to_mailing_list"

local ARGS = { id = true, rows = true, batch = true, journal = true, rejects = true, progress = true,
               max_record = true, batch_bytes = true, raw_cells = true, restart = true }

local function is_integer(v)
  if type(v) ~= "number" or v % 1 ~= 0 then return false end
  return math_type == nil or math_type(v) == "integer" or (v > -2^53 and v < 2^53)
end

-- Checks the arguments; returns nil or the message of an argument error.
local function check(args)
  if type(args) ~= "table" then return "arguments must be a table, got " .. type(args) end
  for k in pairs(args) do
    if not ARGS[k] then return format("unknown argument '%s'", tostring(k)) end
  end
  if not (is_integer(args.id) and args.id > 0) and not (type(args.id) == "string" and args.id:find("^%d+$")) then
    return "argument 'id' is required: the mailing list's id (a positive integer)"
  end
  local rows = args.rows
  if type(rows) ~= "string" and type(rows) ~= "function" and io.type(rows) ~= "file" then
    return "argument 'rows' must be a CSV file (a path or an open file) or an iterator function, got "
      .. type(rows)
  end
  if args.batch ~= nil and not (is_integer(args.batch) and args.batch >= 1 and args.batch <= _M.MAX_BATCH) then
    return format("argument 'batch' must be an integer from 1 to %d, got %s", _M.MAX_BATCH, tostring(args.batch))
  end
  for _, name in ipairs { "journal", "rejects" } do
    if args[name] ~= nil and (type(args[name]) ~= "string" or args[name] == "") then
      return format("argument '%s' must be a file path (string)", name)
    end
  end
  if args.progress ~= nil and type(args.progress) ~= "function" then
    return "argument 'progress' must be a function(p)"
  end
  if args.restart ~= nil and type(args.restart) ~= "boolean" then
    return "argument 'restart' must be a boolean"
  end
  if args.max_record ~= nil and not (is_integer(args.max_record) and args.max_record >= 1024) then
    return "argument 'max_record' must be an integer >= 1024 (bytes)"
  end
  local bb = args.batch_bytes
  if bb ~= nil and not (is_integer(bb) and bb >= _M.MIN_BATCH_BYTES and bb <= _M.MAX_BATCH_BYTES) then
    return format("argument 'batch_bytes' must be an integer from %d to %d (bytes), got %s",
      _M.MIN_BATCH_BYTES, _M.MAX_BATCH_BYTES, tostring(bb))
  end
  if args.raw_cells ~= nil and type(args.raw_cells) ~= "boolean" then
    return "argument 'raw_cells' must be a boolean"
  end
  return nil
end

---------------------------------------------------------------------------
-- Sources: the CSV reader or an iterator, as a stream of rows with a
-- position to resume from.

local function file_size(f)
  local here = f:seek()
  local size = f:seek("end")
  f:seek("set", here)
  return size
end

-- The fingerprint (core.fingerprint, carried on) of the bytes [from, to)
-- of f, `sum` being that of the bytes before `from`; f's position is kept
-- (the CSV reader reads on from it). Returns the fingerprint, or nil when
-- the file ends before `to`.
local function fingerprint_range(f, from, to, sum)
  local here = f:seek()
  f:seek("set", from)
  local at = from
  while at < to do
    local n = to - at
    local piece = f:read(n < _M.HASH_CHUNK and n or _M.HASH_CHUNK)
    if not piece or piece == "" then break end
    sum = core.fingerprint(piece, sum)
    at = at + #piece
  end
  f:seek("set", here)
  if at < to then return nil end
  return sum
end

local CsvSource = {}
CsvSource.__index = CsvSource

-- Opens the CSV and reads its header. Returns the source or nil, message.
local function csv_source(rows, max_record, raw_cells)
  local file, owned = rows, false
  if type(rows) == "string" then
    local f, err = io.open(rows, "rb")
    if not f then return nil, "cannot open " .. rows .. ": " .. tostring(err) end
    file, owned = f, true
  end
  local start = file:seek()
  local reader, err = csv.reader(file, { max_record = max_record, offset = start > 0 and start or nil })
  if not reader then return nil, err end
  local header, where = reader:next()
  if not header then
    if owned then file:close() end
    return nil, header == nil and "the CSV file is empty (it needs a header row naming an 'email' column)"
      or format("the header row is malformed: %s", where.reason)
  end
  local names = header
  if not raw_cells then
    names = {}
    for i, cell in ipairs(header) do names[i] = restore(cell) end
  end
  local map, why = contacts.header(names)
  if not map then
    if owned then file:close() end
    return nil, why
  end
  return setmetatable({ kind = "csv", file = file, owned = owned, reader = reader, map = map, columns = header,
                        names = names, raw_cells = raw_cells,
                        size = file_size(file), start = where.next_offset, start_line = where.line + 1,
                        offset = where.next_offset, line = where.line + 1,
                        hashed = { at = 0, sum = core.fingerprint("") } }, CsvSource)
end

-- What identifies the input at a position (the offset of a journal): its
-- size, and the fingerprint of every byte before the position. Positions
-- only move on within a run, so the fingerprint is carried on from the
-- last one (each byte is read once more in all).
function CsvSource:identity(at)
  local h = self.hashed
  if at.offset < h.at then h.at, h.sum = 0, core.fingerprint("") end
  h.sum = fingerprint_range(self.file, h.at, at.offset, h.sum) or "0000000000000000"
  h.at = at.offset
  return { kind = "csv", size = self.size, prefix = h.sum }
end

-- Whether a record can start at `offset`: where the first one does, or
-- after a line end. (A line end inside a quoted field passes too: the
-- fingerprint of the bytes before a journal's position is what ties it to
-- a record the earlier run read.)
function CsvSource:record_start(offset)
  if offset == self.start then return true end
  if offset < self.start or offset > self.size then return false end
  local here = self.file:seek()
  self.file:seek("set", offset - 1)
  local before = self.file:read(1)
  self.file:seek("set", here)
  return before == "\n"
end

function CsvSource:position() return { offset = self.offset, line = self.line } end

-- Moves to a saved position (a resumed run).
function CsvSource:seek(pos)
  local reader, err = csv.reader(self.file, { offset = pos.offset, line = pos.line,
                                              max_record = self.reader.max_record })
  if not reader then return nil, err end
  self.reader, self.offset, self.line = reader, pos.offset, pos.line
  return true
end

-- The next row: "contact", contact, line, fields, bytes (its JSON, at most)
-- | "reject", reason, line, fields | "blank" | nil at the end.
function CsvSource:next()
  local fields, where = self.reader:next()
  if fields == nil then return nil end
  -- (the reader counts the lines of records that hold line breaks)
  self.offset, self.line = where.next_offset, self.reader.line
  if fields == false then return "reject", where.reason, where.line, {} end
  if not self.raw_cells then
    for i = 1, #fields do
      local cell = fields[i]
      if byte(cell, 1) == QUOTE then fields[i] = restore(cell) end   -- (most cells: one comparison)
    end
  end
  local contact, reason, bytes = contacts.from_record(self.map, fields)
  if contact then return "contact", contact, where.line, fields, bytes end
  if reason == "blank" then return "blank" end
  return "reject", reason, where.line, fields
end

function CsvSource:done_fraction()
  local span = self.size - self.start
  if span <= 0 then return 1 end
  return (self.offset - self.start) / span
end

function CsvSource:close()
  if self.owned then self.file:close() end
end

local IterSource = {}
IterSource.__index = IterSource

local function iter_source(fn)
  return setmetatable({ kind = "iterator", fn = fn, row = 0, columns = { "email" }, names = { "email" } },
                      IterSource)
end

function IterSource:identity() return { kind = "iterator" } end
function IterSource:position() return { row = self.row } end
function IterSource:done_fraction() return nil end
function IterSource:close() end

-- Skips the rows a previous run did (the iterator must give the same rows
-- in the same order).
function IterSource:seek(pos)
  while self.row < pos.row do
    if self.fn() == nil then return nil, "the iterator ended before row " .. pos.row .. " where the journal stands" end
    self.row = self.row + 1
  end
  return true
end

function IterSource:next()
  local row = self.fn()
  if row == nil then return nil end
  self.row = self.row + 1
  local contact, reason, bytes = contacts.from_row(row)
  local email = type(row) == "table" and type(row.email) == "string" and row.email or ""
  if contact then return "contact", contact, self.row, { email }, bytes end
  return "reject", reason, self.row, { email }
end

-- What a rejected row adds to a batch (its part of the bound batch_bytes):
-- its cells, held until the batch's rejects are written.
local function reject_size(fields)
  local n = _M.ROW_OVERHEAD
  for i = 1, #fields do n = n + #fields[i] end
  return n
end

---------------------------------------------------------------------------
-- Sending

-- What a failed add means: "data" (the batch's rows: split it), or "stop".
local function classify(err)
  if errors.is_error(err) and err.kind == "api" and (err.status == 400 or err.status == 422) then
    return "data"
  end
  if errors.is_error(err) and err.kind == "too_large" then return "data" end
  return "stop"
end

-- Calls the plain operation; returns true or nil, err whatever the client's
-- mode (a raising client's error is caught here and reported at the end the
-- client's way).
local function add(service, id, items, call_opts)
  local emails = {}
  for i, item in ipairs(items) do emails[i] = item.contact end
  local ok, value, err = pcall(service.raw, service, _M.OPERATION, { id = id, emails = emails }, call_opts)
  -- not one of the library's errors (Ctrl-C's "interrupted!", a bug): on
  -- its way, the journal stays at the batch in flight, as after a kill
  if not ok and not errors.is_error(value) then error(value, 0) end
  if not ok then return nil, value end
  if value == nil then return nil, err end
  return true
end

-- Sends `items`, splitting on data refusals. Returns added, or nil, err
-- (a failure that stops the run). Rows the API refuses alone go to `out`.
local function send(service, id, items, out, calls, call_opts)
  calls.n = calls.n + 1
  local ok, err = add(service, id, items, call_opts)
  if ok then return #items end
  if classify(err) ~= "data" then return nil, err end
  if #items == 1 then
    local message = errors.is_error(err) and (err.message or tostring(err)) or tostring(err)
    out[#out + 1] = { items[1].line, "refused by the API: " .. message, items[1].fields }
    return 0
  end
  local half = floor(#items / 2)
  local left, right = {}, {}
  for i, item in ipairs(items) do
    if i <= half then left[#left + 1] = item else right[#right + 1] = item end
  end
  local a, e1 = send(service, id, left, out, calls, call_opts)
  if not a then return nil, e1 end
  local b, e2 = send(service, id, right, out, calls, call_opts)
  if not b then return nil, e2 end
  return a + b
end

---------------------------------------------------------------------------
-- The run

-- Rejects kept in memory when there is no rejects file (the first 1000).
local function memory_rejects(summary)
  local pending = {}
  return {
    add = function(_, line, reason, fields)
      pending[#pending + 1] = { line = line, reason = reason, fields = fields }
    end,
    commit = function()
      for _, r in ipairs(pending) do
        if #summary.rejects_list < _M.KEEP_REJECTS then summary.rejects_list[#summary.rejects_list + 1] = r end
      end
      pending = {}
      return 0
    end,
    close = function() end,
  }
end

local function same_identity(a, b)
  return a.kind == b.kind and a.size == b.size and a.prefix == b.prefix
end

-- An error of the journal's or the rejects file's: a full disk is kind
-- "storage", another run holding the journal "busy", the rest "argument"
-- (a path that cannot be used, a file that breaks the rules).
local function file_error(message, fault)
  local kind = (fault == "storage" or fault == "busy") and fault or "argument"
  return errors.new { kind = kind, message = "email:import: " .. tostring(message) }
end

-- The steps of a run (run, below).

-- The rows of args.rows as a source. Returns src, or nil, err.
local function open_source(args)
  local src, why
  if type(args.rows) == "function" then src = iter_source(args.rows)
  else src, why = csv_source(args.rows, args.max_record, args.raw_cells) end
  if not src then return nil, errors.argument("email:import: " .. why) end
  return src
end

-- The journal args.journal, opened and locked for the whole run (a second
-- run on it is kind "busy"), and the state it holds (nil: no journal, none
-- yet, or args.restart). Returns log, state, or nil, nil, err.
local function journal_state(args)
  if not args.journal then return nil, nil end
  local log, jerr, kind = journal.open(args.journal)
  if not log then return nil, nil, file_error(jerr, kind) end
  if args.restart then return log, nil end
  local state
  state, jerr = log:load()
  if jerr then
    log:close()
    return nil, nil, file_error(jerr)
  end
  return log, state
end

-- The run's summary, the source and the journal closed (its lock
-- released), and the rejects writer: summary, or nil, err (an error
-- object; err.import = summary).
local function finished(summary, src, log, started, err)
  summary.seconds = monotonic() - started
  src:close()
  if summary.rejects_writer then summary.rejects_writer:close() end
  if log then log:close() end
  summary.rejects_writer = nil
  if err then
    err.import = summary
    return nil, err
  end
  return summary
end

-- A resumed run: the journal must be this list's and this input's; the
-- summary counts what the earlier runs did, and the source moves to where
-- they stopped (summary.complete: nothing is left). Returns true, or nil,
-- err.
local function resume(summary, state, src, args, id)
  if tonumber(state.list) ~= id then
    return nil, errors.argument(format("email:import: the journal %s belongs to list %s, not %s "
      .. "(use another journal, or delete it)", args.journal, tostring(state.list), tostring(id)))
  end
  -- The identity is checked at the journal's position: the fingerprint
  -- of every byte before it. (A size that differs is not read at all.)
  local now = state.input.kind == src.kind
    and (src.kind ~= "csv" or (state.input.size == src.size and src:record_start(state.position.offset)))
    and src:identity(state.position)
  if not now or not same_identity(state.input, now) then
    return nil, errors.argument(format("email:import: %s is not the file the journal %s was written for "
      .. "(its size or content changed, or the journal's position is not where a record starts): delete "
      .. "the journal (or use --restart) to start over", tostring(args.rows), args.journal))
  end
  summary.resumed = true
  summary.skipped = state.counts.added + state.counts.rejected
  summary.previous = { added = state.counts.added, rejected = state.counts.rejected }
  if state.complete then
    summary.complete = true
    return true
  end
  local ok, err = src:seek(state.position)
  if not ok then return nil, errors.argument("email:import: " .. err) end
  if state.in_flight then summary.resent = state.in_flight.rows end
  return true
end

-- Where the rejects go: the file args.rejects (a private file, appended to
-- at the size the journal recorded), or the summary's rejects_list.
-- Returns the writer, or nil, err.
local function open_rejects(summary, args, src, state)
  if args.rejects then
    -- a spreadsheet opens this file too: its cells are neutralised as an
    -- export's are (and restored when it is imported again)
    local header = args.raw_cells and src.names or neutralise_record(src.names)
    local w, err, fault = rejects_file.open(args.rejects, header, state and state.rejects_size or nil)
    if not w then return nil, file_error(err, fault) end
    summary.rejects = args.rejects
    return w
  end
  summary.rejects_list = {}
  return memory_rejects(summary)
end

-- save(extra): records `current` with extra's position, batch in flight and
-- completeness in the journal `log` (replaced whole: written, synced,
-- renamed, its lock kept; nothing without a journal). Returns true, or nil,
-- err (kind "storage" for a full disk).
local function journal_saver(log, src, current)
  return function(extra)
    current.position = extra.position or current.position
    current.in_flight = extra.in_flight
    current.complete = extra.complete or nil
    if not log then return true end
    current.input = src:identity(current.position)
    local ok, err, fault = log:save(current)
    if not ok then return nil, file_error(err, fault) end
    return true
  end
end

-- report(done, run_rows): calls args.progress, if any, with where the run
-- is (run_rows: rows this run has done, for the rate).
local function progress_reporter(progress, src, summary, counts, started)
  return function(done, run_rows)
    if not progress then return end
    local elapsed = monotonic() - started
    local fraction = src:done_fraction()
    local rate = elapsed > 0 and run_rows / elapsed or 0
    local eta
    if fraction and fraction > 0 and elapsed > 0 then eta = elapsed * (1 - fraction) / fraction end
    progress {
      rows = counts.added + counts.rejected, added = counts.added, rejected = counts.rejected,
      skipped = summary.skipped, fraction = fraction, elapsed = elapsed, rate = rate,
      eta = eta, line = src.line, done = done or false,
    }
  end
end

-- The next batch: the positions before and after it, up to `size`
-- contacts and about `max_bytes` of request body (contacts' JSON and the
-- refused rows kept), the rows refused on the way ({ line, reason,
-- fields }), the blank rows, and whether the input ended.
local function read_batch(src, size, max_bytes)
  local from = src:position()
  local items, refused, blanks, ended, bytes = {}, {}, 0, false, 0
  while #items < size and bytes < max_bytes do
    local kind, value, line, fields, json_bytes = src:next()
    if kind == nil then ended = true break end
    if kind == "contact" then
      items[#items + 1] = { contact = value, line = line, fields = fields }
      bytes = bytes + _M.ROW_OVERHEAD + json_bytes
    elseif kind == "reject" then
      refused[#refused + 1] = { line, value, fields }
      bytes = bytes + reject_size(fields)
    else blanks = blanks + 1 end
  end
  return from, src:position(), items, refused, blanks, ended
end

-- Counts a batch done: added contacts, refused rows, blank rows.
local function count_batch(summary, counts, added, refused, blanks)
  counts.added = counts.added + added
  counts.rejected = counts.rejected + refused
  counts.blank = counts.blank + blanks
  summary.added, summary.rejected = summary.added + added, summary.rejected + refused
  summary.blank = summary.blank + blanks
end

-- Returns summary, or nil, err (an error object; err.import = summary).
local function run(service, args, call_opts)
  local id = tonumber(args.id)
  local size = args.batch or _M.DEFAULT_BATCH
  local max_bytes = args.batch_bytes or _M.DEFAULT_BATCH_BYTES
  local src, err = open_source(args)
  if not src then return nil, err end

  local started = monotonic()
  local summary = { added = 0, rejected = 0, skipped = 0, blank = 0, batches = 0, calls = 0,
                    resent = 0, resumed = false, complete = false, list = id }
  local log, state
  log, state, err = journal_state(args)
  if err then src:close(); return nil, err end
  local function finish(e) return finished(summary, src, log, started, e) end

  if state then
    local resumed
    resumed, err = resume(summary, state, src, args, id)
    if not resumed or summary.complete then return finish(err) end
  end
  local writer
  writer, err = open_rejects(summary, args, src, state)
  if not writer then return finish(err) end
  summary.rejects_writer = writer

  local counts = state and state.counts or { added = 0, rejected = 0, blank = 0 }
  -- (a new run's rejects begin where the file ended: a resume cuts back to there)
  local current = {
    list = id, input = nil, position = src:position(), counts = counts,
    rejects_size = state and state.rejects_size or (args.rejects and writer.size) or nil,
    runs = (state and state.runs or 0) + 1,
  }
  local save = journal_saver(log, src, current)
  local ok
  ok, err = save({})
  if not ok then return finish(err) end

  local report = progress_reporter(args.progress, src, summary, counts, started)
  local run_rows = 0
  while true do
    local from, to, items, refused, blanks, ended = read_batch(src, size, max_bytes)
    local added = 0
    if #items > 0 then
      -- Write-ahead: the batch is in flight before it leaves.
      ok, err = save({ position = from, in_flight = { from = from, to = to, rows = #items } })
      if not ok then return finish(err) end
      local calls = { n = 0 }
      added, err = send(service, id, items, refused, calls, call_opts)
      summary.calls = summary.calls + calls.n
      if not added then
        -- Stop; the journal stays at this batch, still marked in flight.
        summary.stopped_at = from.line or from.row
        return finish(err)
      end
      summary.batches = summary.batches + 1
    end
    for _, r in ipairs(refused) do
      local fields = r[3]
      if args.rejects and not args.raw_cells then fields = neutralise_record(fields) end
      writer:add(r[1], r[2], fields)
    end
    local rsize, werr, wfault = writer:commit()
    if not rsize then return finish(file_error(werr, wfault)) end
    count_batch(summary, counts, added, #refused, blanks)
    run_rows = run_rows + added + #refused
    if args.rejects then current.rejects_size = rsize end
    ok, err = save({ position = to, complete = ended })
    if not ok then return finish(err) end
    report(ended, run_rows)
    if ended then
      summary.complete = true
      return finish()
    end
  end
end

-- email:import's arguments and answer (the top of this file), for
-- editors (LuaLS).
---@class sendpulse.ImportArgs
---@field id integer the mailing list
---@field rows string|file*|fun(): { email?: string, phone?: string, variables?: table<string, any> }?
---@field batch? integer contacts per call (1 .. 1000, default 500)
---@field journal? string a path: resume from here (locked while the run lasts)
---@field restart? boolean start from the first row whatever the journal says
---@field rejects? string a path: rows not added, appended to
---@field progress? fun(p: { rows: integer, added: integer, rejected: integer, skipped: integer,
---   fraction?: number, elapsed: number, rate: number, eta?: number, line?: integer, done: boolean })
---@field max_record? integer bytes of one CSV record (default 1 MiB)

---@class sendpulse.ImportSummary
---@field added integer
---@field rejected integer
---@field skipped integer rows a resumed run skipped (the journal counts them)
---@field blank integer
---@field batches integer
---@field calls integer
---@field resent integer rows of the batch that was in flight when an earlier run stopped
---@field resumed boolean
---@field complete boolean
---@field seconds number
---@field rejects_list? table[] the first 1,000 rejects, without a rejects file

--- The email:import helper (registered by sendpulse.bulk).
---@param service sendpulse.api.email
---@param args sendpulse.ImportArgs
---@param call_opts? sendpulse.CallOptions
---@return sendpulse.ImportSummary summary a failure's error carries err.import, the summary so far
function _M.import(service, args, call_opts)
  local client = rawget(service, "_client")
  local msg = check(args) or call_options.check(call_opts)
  if msg then return client:fail(errors.argument("email:import: " .. msg)) end
  local summary, err = run(service, args, call_opts)
  if not summary then return client:fail(err) end
  return summary
end

return _M
