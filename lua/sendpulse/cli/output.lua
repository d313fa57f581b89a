--- What the command writes: answers as JSON on stdout (indented on a
-- terminal, compact otherwise, one object per line for --all), errors on
-- stderr as one line (plus the error object as JSON with --verbose).
--
-- JSON text is UTF-8, and the encoder refuses anything else. What the
-- command prints may hold other bytes all the same: a file answer without
-- --raw, a template body decoded from Base64, a file name. Those are
-- printed with each such byte shown as U+FFFD, and a note on stderr.
local json = require "sendpulse.json"
local core = require "sendpulse.core"

local type, pairs, tostring, setmetatable, getmetatable, format, pcall, error =
      type, pairs, tostring, setmetatable, getmetatable, string.format, pcall, error
local byte, sub, rep, concat, find = string.byte, string.sub, string.rep, table.concat, string.find
local json_size = core.json_string_size

local _M = {}

--- Is file descriptor `fd` (1 stdout, 2 stderr) a terminal? Asked of the
-- shell's `test -t`, which sees the same descriptors as this process.
function _M.isatty(fd)
  local ok, _, code = os.execute(format("test -t %d", fd))
  if type(ok) == "number" then return ok == 0 end   -- Lua 5.1 / LuaJIT without 5.2 compat
  return ok == true and (code == nil or code == 0)
end

local OPEN = { [123] = true, [91] = true }    -- { [
local CLOSE = { [125] = true, [93] = true }   -- } ]

--- Indents compact JSON text (two spaces), keeping every byte of its
--- strings. Empty {} and [] stay on one line.
function _M.indent(text)
  local out, depth, i, n = {}, 0, 1, #text
  local function newline() out[#out + 1] = "\n" .. rep("  ", depth) end
  while i <= n do
    local c = byte(text, i)
    if c == 34 then   -- a string: copy it whole
      local j = i + 1
      while true do
        local d = byte(text, j)
        if d == 92 then j = j + 2
        elseif d == 34 or d == nil then break
        else j = j + 1 end
      end
      out[#out + 1] = sub(text, i, j)
      i = j + 1
    elseif OPEN[c] then
      local nxt = byte(text, i + 1)
      if CLOSE[nxt] then
        out[#out + 1] = sub(text, i, i + 1)
        i = i + 2
      else
        out[#out + 1] = sub(text, i, i)
        depth = depth + 1
        newline()
        i = i + 1
      end
    elseif CLOSE[c] then
      depth = depth - 1
      newline()
      out[#out + 1] = sub(text, i, i)
      i = i + 1
    elseif c == 44 then   -- ,
      out[#out + 1] = ","
      newline()
      i = i + 1
    elseif c == 58 then   -- :
      out[#out + 1] = ": "
      i = i + 1
    else
      out[#out + 1] = sub(text, i, i)
      i = i + 1
    end
  end
  return concat(out)
end

local REPLACEMENT = "\239\191\189"   -- U+FFFD

-- `s` with each byte that is not part of UTF-8 replaced by U+FFFD.
local function utf8_text(s)
  local parts, pos = {}, 1
  while true do
    local size, bad = json_size(s, pos)
    if size then
      parts[#parts + 1] = sub(s, pos)
      return concat(parts)
    end
    parts[#parts + 1] = sub(s, pos, bad - 1)
    parts[#parts + 1] = REPLACEMENT
    pos = bad + 1
  end
end

-- A copy of `v` whose strings (keys too) are UTF-8 (the array mark kept).
local function printable(v, depth)
  if type(v) == "string" then return utf8_text(v) end
  if type(v) ~= "table" or depth > 200 then return v end
  local r = {}
  for k, x in pairs(v) do r[printable(k, depth + 1)] = printable(x, depth + 1) end
  return setmetatable(r, getmetatable(v))
end

-- JSON for `v`; true as the second value when bytes had to be replaced.
local function encode(v)
  local ok, text = pcall(json.encode, v)
  if ok then return text end
  if not find(text, "is not UTF-8", 1, true) then error(text, 0) end
  return json.encode(printable(v, 0)), true
end

local Out = {}
Out.__index = Out

--- A writer: opts.pretty (true/false; nil: stdout is a terminal), opts.verbose.
function _M.new(opts)
  local pretty = opts.pretty
  if pretty == nil then pretty = _M.isatty(1) end
  return setmetatable({ pretty = pretty, verbose = opts.verbose,
                        stdout = opts.stdout or io.stdout, stderr = opts.stderr or io.stderr }, Out)
end

function Out:replaced()
  if self.noted then return end
  self.noted = true
  self.stderr:write("sendpulse: the answer holds bytes that are not UTF-8 text; they are shown as U+FFFD "
    .. "(a file answer: write it with --raw)\n")
end

--- One value as JSON on stdout.
function Out:value(v)
  local text, replaced = encode(v)
  if replaced then self:replaced() end
  if self.pretty then text = _M.indent(text) end
  self.stdout:write(text, "\n")
end

--- One value as one compact line (the --all form).
function Out:line(v)
  local text, replaced = encode(v)
  if replaced then self:replaced() end
  self.stdout:write(text, "\n")
end

-- The fields of an error object that can be shown: no functions, no tables
-- but plain data.
local function plain(v, depth)
  if type(v) == "table" then
    if depth > 3 then return nil end
    local r = {}
    for k, x in pairs(v) do
      if type(k) == "string" or type(k) == "number" then r[k] = plain(x, depth + 1) end
    end
    return r
  end
  if type(v) == "function" or type(v) == "thread" or type(v) == "userdata" and v ~= json.null then return nil end
  return v
end

--- An error: one line on stderr, and with --verbose the object as JSON.
function Out:error(err)
  local line = tostring(err)
  if type(err) == "table" then
    if line:sub(1, 11) ~= "sendpulse: " then line = "sendpulse: " .. line end
    -- (the message says how long to wait, when anyone said: "(wait 15 min)")
  elseif line:sub(1, 11) ~= "sendpulse: " then
    line = "sendpulse: " .. line
  end
  self.stderr:write((line:gsub("[\r\n]+", " ")), "\n")
  if self.verbose and type(err) == "table" then
    self.stderr:write((encode(plain(err, 0))), "\n")
  end
end

--- A note on stderr (hints, summaries for --verbose).
function Out:note(text)
  self.stderr:write(text, "\n")
end

return _M
