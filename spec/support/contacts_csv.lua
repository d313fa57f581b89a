-- Generates contact CSV files for the bulk specs and bench/import.lua:
-- variables, tricky quoting (commas, doubled quotes, newlines, UTF-8,
-- needless quotes, spaces) and, if asked, bad rows of four kinds.
--
--   local gen = require "support.contacts_csv"
--   local info = gen.write(path, { rows = 20000, bad_every = 100, api_bad_every = 2000, seed = 1 })
--   info.good[email] = { name =, city =, note = }   (the variables an import must store)
--   info.bad[line] = kind   ("email", "width", "quote", "api": refused by the API, not the client)
--   info.good_count, info.bad_count, info.lines
local _M = {}

local NOTES = {
  'plain', 'comma, inside', 'He said "hi", then left', 'two\nlines', 'Zoë ✓ naïve',
  '  padded  ', '"quoted start', 'ends with quote"', 'a,"b",c', 'tab\there', '',
}
local CITIES = { "Kyiv", "Oslo", "São Paulo", "", "New York, NY" }

local function quote(s)
  if s:find('[,"\r\n]') then return '"' .. s:gsub('"', '""') .. '"' end
  return s
end

local function count_nl(s) local _, n = s:gsub("\n", "") return n end

function _M.write(path, opts)
  local n = opts.rows
  local bad_every = opts.bad_every
  local api_every = opts.api_bad_every
  local rng = opts.seed or 1
  local function rand(k)   -- a small LCG: the same file on every Lua
    rng = (rng * 1103515245 + 12345) % 2147483648
    return rng % k + 1
  end
  local f = assert(io.open(path, "wb"))
  local info = { good = {}, bad = {}, good_count = 0, bad_count = 0 }
  local line = 1
  local function put(text)
    f:write(text)
    line = line + count_nl(text)
  end
  put(opts.bom and "\239\187\191email,name,city,note\r\n" or "email,name,city,note\r\n")
  for i = 1, n do
    local email = ("user%06d@example.com"):format(i)
    local name = ("User %d"):format(i)
    local city = CITIES[rand(#CITIES)]
    local note = NOTES[rand(#NOTES)]
    local start = line
    if api_every and i % api_every == 0 then
      local bad_email = ("user%06d@bad_domain.com"):format(i)
      put(table.concat({ bad_email, quote(name), quote(city), quote(note) }, ",") .. "\r\n")
      info.bad[start], info.bad_count = "api", info.bad_count + 1
    elseif bad_every and i % bad_every == 0 then
      local kind = ({ "email", "width", "quote" })[math.floor(i / bad_every) % 3 + 1]
      if kind == "email" then
        put(table.concat({ "not-an-email-" .. i, quote(name), quote(city), quote(note) }, ",") .. "\r\n")
      elseif kind == "width" then
        put(table.concat({ email, quote(name) }, ",") .. "\r\n")
      else
        put(email .. ',Bro"ken,' .. "x,y\r\n")
      end
      info.bad[start], info.bad_count = kind, info.bad_count + 1
    else
      -- needless quotes on some plain fields
      local e = (i % 7 == 0) and ('"' .. email .. '"') or email
      put(table.concat({ e, quote(name), quote(city), quote(note) }, ",") .. "\r\n")
      local vars = { name = name }
      if city ~= "" then vars.city = city end
      if note ~= "" then vars.note = note end
      info.good[email] = vars
      info.good_count = info.good_count + 1
    end
  end
  f:close()
  info.lines = line - 1
  return info
end

return _M
