--- CSV as people export it (RFC 4180), read record by record with LPeg and
-- written back with the same rules.
--
--   local csv = require "sendpulse.bulk.csv"
--   local r = assert(csv.reader("contacts.csv"))        -- or an open file, or csv.string_reader(text)
--   while true do
--     local fields, where = r:next()                     -- where = { line =, offset =, next_offset = }
--     if fields == nil then break end                    -- end of input
--     if fields == false then print(where.line, where.reason) end   -- a malformed record, skipped
--   end
--   io.write(csv.format({ "a", "b,c", 'say "hi"' }))     -- a,"b,c","say ""hi"""\n
--
-- The rules: fields separated by commas; a field that holds a comma, a
-- double quote, CR or LF is quoted, and a quote inside it is doubled;
-- records end with LF or CRLF (the last one may end without); a UTF-8 BOM at
-- the start is dropped. A quote inside an unquoted field, or anything after
-- a closing quote but a comma or the end of the record, makes the record
-- malformed: it is reported with its line and skipped, and reading goes on
-- at the next line. A quoted field still open after `max_record` bytes (or
-- at the end of the input) is reported the same way, so one stray quote
-- cannot swallow the rest of a file.
--
-- Memory: the reader holds one chunk (64 KiB) plus the record being read
-- (at most max_record, 1 MiB by default), whatever the size of the file.
-- Byte offsets make a position to resume from: csv.reader(path, { offset =,
-- line = }) starts there.
local lpeg = require "lpeg"

local type, tostring, setmetatable, error = type, tostring, setmetatable, error
local find, sub, gsub, format = string.find, string.sub, string.gsub, string.format
local concat = table.concat
local P, S, C, Cs, Ct, Cp = lpeg.P, lpeg.S, lpeg.C, lpeg.Cs, lpeg.Ct, lpeg.Cp
local match = lpeg.match

local _M = {}

_M.CHUNK = 65536
_M.MAX_RECORD = 1048576
_M.BOM = "\239\187\191"

-- The grammar.
local quoted = P'"' * Cs(((P'""' / '"') + (1 - P'"'))^0) * P'"'
local bare = C((1 - S',"\r\n')^0)
local field = quoted + bare
local fields = Ct(field * (P',' * field)^0)
local eol = P"\r\n" + P"\n"
-- A whole record and where the next one starts.
local complete = fields * eol * Cp()
-- The input ends inside this record: a valid start of one (with its line
-- end still to come), or a quoted field opened and not yet closed.
local at_end = fields * P"\r"^-1 * P(-1) * Cp()
local open_quote = (field * P',')^0 * P'"' * (P'""' + (1 - P'"'))^0 * P(-1)
local unfinished = at_end + open_quote
-- Where the line after `pos` starts (to skip a malformed record).
local next_line = (1 - P"\n")^0 * P"\n" * Cp()

local Reader = {}
Reader.__index = Reader
Reader.__name = "sendpulse.bulk.csv.reader"

local function newlines(s, first, last)
  local n, at = 0, first
  while true do
    local i = find(s, "\n", at, true)
    if not i or i > last then return n end
    n, at = n + 1, i + 1
  end
end

-- Reads the next chunk onto the buffer (dropping what was consumed). Returns
-- false at the end of the input.
local function refill(self)
  if self.eof then return false end
  local chunk = self.file:read(self.chunk)
  if chunk == nil or chunk == "" then
    self.eof = true
    return false
  end
  local buf = self.buf
  if self.pos > 1 then
    self.base = self.base + self.pos - 1
    buf = sub(buf, self.pos)
    self.pos = 1
  end
  self.buf = buf .. chunk
  return true
end

-- Skips to the start of the next line; returns its offset in the buffer.
local function skip_line(self)
  while true do
    local e = match(next_line, self.buf, self.pos)
    if e then return e end
    -- No line end in the buffer: drop what there is and read on.
    self.base = self.base + #self.buf
    self.buf, self.pos = "", 1
    if not refill(self) then return 1 end
  end
end

-- A malformed record at `pos`: reported, then skipped to the next line.
local function malformed(self, reason)
  local start, line = self.base + self.pos - 1, self.line
  self.pos = skip_line(self)
  self.line = line + 1
  return false, { line = line, offset = start, next_offset = self.base + self.pos - 1, reason = reason }
end

--- The next record: fields (an array of strings), where; false, where (with
-- `reason`) for a malformed record (already skipped); nil at the end.
-- `where` = { line = first line (1-based), offset = its first byte (0-based),
-- next_offset = the byte after it } -- a position to resume from.
function Reader:next()
  while true do
    local buf, pos = self.buf, self.pos
    if pos > #buf and not refill(self) then return nil end
    buf, pos = self.buf, self.pos
    local record, stop = match(complete, buf, pos)
    if not record and self.eof then record, stop = match(at_end, buf, pos) end
    if record then
      local line = self.line
      self.line = line + newlines(buf, pos, stop - 1)
      self.pos = stop
      return record, { line = line, offset = self.base + pos - 1, next_offset = self.base + stop - 1 }
    end
    if match(unfinished, buf, pos) then
      if #buf - pos + 1 > self.max_record then
        return malformed(self, format("a record longer than %d bytes (an unclosed quote?)", self.max_record))
      end
      -- At the end of the input a record may end without a line end (the
      -- next turn takes it); a quote still open there is malformed.
      if not refill(self) and not match(at_end, buf, pos) then
        return malformed(self, "a quoted field is not closed before the end of the file")
      end
    else
      return malformed(self, "malformed quoting (a quote inside an unquoted field, "
        .. "or text after a closing quote)")
    end
  end
end

--- Closes the file if the reader opened it.
function Reader:close()
  if self.owned and self.file then self.file:close() end
  self.file = nil
end

local function new(file, owned, opts)
  opts = opts or {}
  local self = setmetatable({
    file = file, owned = owned, buf = "", pos = 1, base = opts.offset or 0,
    line = opts.line or 1, eof = false,
    chunk = opts.chunk or _M.CHUNK, max_record = opts.max_record or _M.MAX_RECORD,
  }, Reader)
  if self.base > 0 then
    local ok, err = file:seek("set", self.base)
    if not ok then
      if owned then file:close() end
      return nil, "cannot seek to byte " .. self.base .. ": " .. tostring(err)
    end
  else
    refill(self)
    if sub(self.buf, 1, 3) == _M.BOM then self.pos = 4 end
  end
  return self
end

--- csv.reader(path or file, opts) -> reader, or nil and a message.
-- opts: offset and line (resume there), max_record, chunk.
function _M.reader(source, opts)
  if type(source) == "string" then
    local f, err = io.open(source, "rb")
    if not f then return nil, err end
    return new(f, true, opts)
  end
  if io.type(source) ~= "file" then
    error("sendpulse.bulk.csv.reader: source must be a path or an open file", 2)
  end
  return new(source, false, opts)
end

--- A reader over a string (tests, small inputs).
function _M.string_reader(text, opts)
  local done = false
  local file = { read = function()
    if done then return nil end
    done = true
    return text
  end, seek = function() return nil, "a string cannot seek" end }
  return new(file, false, opts)
end

local function quote(s)
  if find(s, '[,"\r\n]') then return '"' .. gsub(s, '"', '""') .. '"' end
  return s
end

--- One record as a CSV line (LF at the end). Fields are strings, numbers
-- (integers written without ".0") or booleans; nil is an empty field up to n.
function _M.format(record, n)
  local out = {}
  for i = 1, n or #record do
    local v = record[i]
    if v == nil then v = ""
    elseif type(v) == "number" then
      v = (v % 1 == 0 and v > -2^53 and v < 2^53) and format("%d", v) or format("%.17g", v)
    else v = tostring(v) end
    out[i] = quote(v)
  end
  return concat(out, ",") .. "\n"
end

return _M
