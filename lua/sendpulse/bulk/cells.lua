--- Cells a spreadsheet would run as formulas, and how an export keeps them
-- text (CSV injection, as OWASP describes it).
--
--   cells.neutralise("=HYPERLINK(\"http://x\")")   --> "'=HYPERLINK(\"http://x\")"
--   cells.restore("'=HYPERLINK(\"http://x\")")     --> "=HYPERLINK(\"http://x\")"
--
-- A contact's variables are whatever anyone typed into a signup form, so an
-- export opened in Excel, LibreOffice or Google Sheets would evaluate a cell
-- that starts with = + - @ (a formula: =HYPERLINK(...) leaks data when
-- clicked, +cmd|'...'!A0 runs a program on old Excel) or with a TAB or CR
-- (which some of them skip before looking for one). OWASP's advice is to
-- start such a cell with a single quote, which spreadsheets show as text
-- and do not evaluate.
--
-- The rule, both ways, so that an export imported again gives back exactly
-- the values it held:
--   neutralise: a cell that is a run of zero or more ' and then one of
--               = + - @ TAB CR gets one more ' in front;
--   restore:    a cell that is a run of one or more ' and then one of those
--               loses the first '.
-- restore(neutralise(v)) == v for every v: neutralise only adds a quote
-- where restore takes one away, and a cell neutralise leaves alone is one
-- restore leaves alone too (it cannot start with quotes and then a trigger).
-- A hand-made file whose cell is '+380501234567 (a quote typed to keep a
-- spreadsheet from eating the +) is therefore imported as +380501234567.
-- Numbers written as numbers are left alone: a number cannot hold a formula.
local type, find, sub = type, string.find, string.sub

local _M = {}

-- A cell that starts with quotes (none or more) and then a trigger.
local ARMED = "^'*[=+%-@\t\r]"
local QUOTED = "^''*[=+%-@\t\r]"

--- `v` with a quote in front when a spreadsheet would run it.
function _M.neutralise(v)
  if type(v) == "string" and find(v, ARMED) then return "'" .. v end
  return v
end

--- The cell as it was before neutralise (`v` itself for any other cell).
function _M.restore(v)
  if find(v, QUOTED) then return sub(v, 2) end
  return v
end

--- A record with each cell neutralised (a new table; `record` is not
--- changed), for csv.format(_, n).
function _M.neutralise_record(record, n)
  local out = {}
  for i = 1, n or #record do out[i] = _M.neutralise(record[i]) end
  return out
end

return _M
