-- The sandbox's inbox: every message its services simulate sending, newest
-- last, for the pages under /_sandbox/ui/ (ui/). Bounded (limits.lua): at
-- most `max_messages` messages, and their contents at most
-- `max_message_bytes` bytes in all; the oldest go first.
--
-- A message is one recipient's copy:
--   { id (1, 2, ... never reused until a reset), t, kind ("smtp",
--     "campaign", "sms", "push", "chatbot"), account, from, to, subject,
--     status, ref = {kind, id} (the API's own record: "smtp" "sbx0000002a",
--     "campaign" 5001, ...), body, forget? }
-- and `body` is what the copies of one send share (a campaign to 10,000
-- addresses keeps its HTML once):
--   { html?, text?, files = { {name, bytes}, ... }, source? (the request's
--     JSON, cut to MAX_SOURCE bytes), source_size, method, path, template?
--     = {id, name?, variables?}, link? }
-- Its bytes count once, while any copy is kept. `forget()` (optional) is
-- called when a message goes, so the service's own record of it goes too.
local setmetatable, ipairs = setmetatable, ipairs
local lower, find, sub = string.lower, string.find, string.sub

local _M = {}

-- Bytes of a request body kept for the "source" view.
_M.MAX_SOURCE = 256 * 1024
-- Bytes of a message's text searched (the whole text is still shown).
_M.SEARCHED_TEXT = 8192

local Store = {}
Store.__index = Store

-- limits: { max_messages, max_message_bytes } (limits.lua).
function _M.new(limits)
  local self = setmetatable({ max_messages = limits.max_messages, max_bytes = limits.max_message_bytes }, Store)
  self:clear()
  return self
end

function Store:clear()
  self.rows, self.first, self.last = {}, 1, 0   -- rows[id], ids first..last
  self.bytes = 0
  self.dropped = 0
  self.version = (self.version or 0) + 1        -- changes whenever the inbox does
end

local function body_bytes(body)
  local n = #(body.html or "") + #(body.text or "") + #(body.source or "") + #(body.searched or "")
  for _, f in ipairs(body.files or {}) do n = n + #f.bytes + #f.name end
  return n + 256
end

-- The text searched in a body: its subject-independent part, lower case.
local function searched(body)
  local text = body.text
  if not text and body.html then
    text = body.html:gsub("<[^>]*>", " ")
  end
  return lower(sub(text or "", 1, _M.SEARCHED_TEXT))
end

local function drop_oldest(self)
  local id = self.first
  local m = self.rows[id]
  self.rows[id] = nil
  self.first = id + 1
  self.dropped = self.dropped + 1
  local body = m.body
  body.refs = body.refs - 1
  if body.refs == 0 then self.bytes = self.bytes - body.bytes end
  if m.forget then m.forget() end
end

function Store:count() return self.last - self.first + 1 end

-- Keep a new message (see the file header); returns its id.
function Store:add(m)
  local body = m.body
  if not body.refs then
    body.searched = searched(body)
    body.bytes = body_bytes(body)
    body.refs = 0
  end
  if body.refs == 0 then self.bytes = self.bytes + body.bytes end
  body.refs = body.refs + 1
  m.who = lower((m.from or "") .. "\n" .. (m.to or "") .. "\n" .. (m.subject or ""))
  self.last = self.last + 1
  m.id = self.last
  self.rows[m.id] = m
  self.version = self.version + 1
  while self:count() > self.max_messages or (self.bytes > self.max_bytes and self:count() > 1) do
    drop_oldest(self)
  end
  return m.id
end

-- The message `id`, if it is still kept.
function Store:get(id)
  return self.rows[id]
end

-- Whether `m` matches a filter { q = words (all must be found in its
-- sender, recipients, subject or text, case-insensitive), kind, ref_kind,
-- ref_id }.
local function matches(m, f)
  if f.kind and m.kind ~= f.kind then return false end
  if f.ref_kind and not (m.ref and m.ref.kind == f.ref_kind and m.ref.id == f.ref_id) then return false end
  if f.words then
    for _, w in ipairs(f.words) do
      if not find(m.who, w, 1, true) and not find(m.body.searched, w, 1, true) then return false end
    end
  end
  return true
end

-- Filter words from a search text.
function _M.words(q)
  local words = {}
  for w in lower(q or ""):gmatch("%S+") do words[#words + 1] = w end
  return #words > 0 and words or nil
end

-- Newest first: the messages matching `filter` from the `offset`+1-th, at
-- most `limit`, and how many match in all.
function Store:page(filter, offset, limit)
  local out, total = {}, 0
  local plain = not (filter.kind or filter.ref_kind or filter.words)
  if plain then
    total = self:count()
    for id = self.last - offset, self.first, -1 do
      if #out >= limit then break end
      out[#out + 1] = self.rows[id]
    end
    return out, total
  end
  for id = self.last, self.first, -1 do
    local m = self.rows[id]
    if matches(m, filter) then
      total = total + 1
      if total > offset and #out < limit then out[#out + 1] = m end
    end
  end
  return out, total
end

-- Every kept message, oldest first.
function Store:each()
  local id = self.first - 1
  return function()
    id = id + 1
    if id <= self.last then return self.rows[id] end
  end
end

return _M
