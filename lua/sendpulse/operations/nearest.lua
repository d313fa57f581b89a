--- The names nearest to a misspelled one, for "no operation 'get_mailing_list'
-- (nearest: get_mailing_lists, ...)": the method behind an error message
-- and the command line's "did you mean".
--
-- A name is near when few edits turn one into the other (insert, delete,
-- replace, or swap two neighbours: the optimal string alignment distance),
-- when one holds the other (send_template, send_template_by_phone), or when
-- they share a word of three letters or more (get_lists and
-- get_mailing_lists share "lists"). The nearest come first; ties by name.

local ipairs, min, floor, sort = ipairs, math.min, math.floor, table.sort
local byte = string.byte

local _M = {}

-- The optimal string alignment distance of a and b, or a number above
-- `limit` as soon as it cannot be within it.
local function distance(a, b, limit)
  local la, lb = #a, #b
  if la - lb > limit or lb - la > limit then return limit + 1 end
  local before, previous, current = {}, {}, {}
  for j = 0, lb do previous[j] = j end
  for i = 1, la do
    current[0] = i
    local ca, best = byte(a, i), i
    for j = 1, lb do
      local cb = byte(b, j)
      local d = min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (ca == cb and 0 or 1))
      if i > 1 and j > 1 and ca == byte(b, j - 1) and byte(a, i - 1) == cb then
        d = min(d, before[j - 2] + 1)
      end
      current[j] = d
      if d < best then best = d end
    end
    if best > limit then return limit + 1 end
    before, previous, current = previous, current, before
  end
  return previous[lb]
end
_M.distance = distance

local function words(name)
  local set = {}
  for w in name:gmatch("[^_]+") do
    if #w >= 3 then set[w] = true end
  end
  return set
end

--- Up to `n` (default 3) of `candidates` (a list of names) nearest to
--- `name`, nearest first; an empty list when none is near.
function _M.names(candidates, name, n)
  n = n or 3
  local limit = #name < 6 and 2 or min(8, floor(#name / 2))
  local mine = words(name)
  local found = {}
  for _, c in ipairs(candidates) do
    local d = distance(name, c, limit)
    local near = d <= limit
    if c:find(name, 1, true) or name:find(c, 1, true) then
      -- one inside the other (send_template, send_template_by_phone): as
      -- near as one edit, the closer in length first
      local by = 1 + (#c > #name and #c - #name or #name - #c) / 1000
      if not near or by < d then near, d = true, by end
    end
    if not near then
      -- a shared word: ranked after every name near by its letters
      for w in c:gmatch("[^_]+") do
        if mine[w] then
          near, d = true, limit + distance(name, c, #name + #c)
          break
        end
      end
    end
    if near then found[#found + 1] = { name = c, d = d } end
  end
  sort(found, function(x, y)
    if x.d ~= y.d then return x.d < y.d end
    return x.name < y.name
  end)
  local out = {}
  for i = 1, min(n, #found) do out[i] = found[i].name end
  return out
end

return _M
