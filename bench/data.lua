--- Answers shaped like SendPulse's, for the benches. Deterministic (a
-- fixed linear congruential generator, not math.random, whose sequence
-- differs between Lua versions), so every run decodes the same bytes.

local format, concat = string.format, table.concat

local _M = {}

local function generator(seed)
  local state = seed
  return function(n)   -- an integer in [0, n)
    state = (state * 1103515245 + 12345) % 2147483648
    return state % n
  end
end

local FIRST = { "anna", "boris", "chen", "dana", "emil", "fatima", "gus", "hana",
                "ivan", "julia", "kofi", "lena", "marco", "nina", "omar", "petra" }
local DOMAINS = { "example.com", "mail.example.org", "post.example.net", "inbox.example.io" }
local CITIES = { "Kyiv", "Berlin", "Lisbon", "Warsaw", "Toronto", "Austin", "Osaka" }

--- GET /addressbooks: a short list of mailing lists (the answer every call of
-- the cost bench gets; about 1 KB, a typical small answer).
function _M.addressbooks(count)
  local rnd = generator(7)
  local items = {}
  for i = 1, count or 5 do
    local all = 1000 + rnd(90000)
    local active = all - rnd(math.floor(all / 10))
    items[i] = format(
      '{"id":%d,"name":"Newsletter %d (%s)","all_email_qty":%d,"active_email_qty":%d,'
      .. '"inactive_email_qty":%d,"creationdate":"2024-%02d-%02d %02d:%02d:%02d",'
      .. '"status":0,"status_explain":"Active"}',
      2800000 + rnd(100000), i, CITIES[1 + rnd(#CITIES)], all, active, all - active,
      1 + rnd(12), 1 + rnd(28), rnd(24), rnd(60), rnd(60))
  end
  return "[" .. concat(items, ",") .. "]"
end

--- The shortest kind of answer, as SendPulse gives for sending an email
-- ({"result": true, "id": ...}): per-call overhead without decoding work.
function _M.result()
  return '{"result":true,"id":"c2b3f7a4-3f1e-4b8e-9a51-6f0d2e8b7c11"}'
end

--- GET /addressbooks/{id}/emails: one page of `count` contacts with their
-- variables (strings, integers, a float, booleans, a null), as a list of
-- objects the way SendPulse returns them.
function _M.contacts(count)
  local rnd = generator(42)
  local items = {}
  for i = 1, count do
    local name = FIRST[1 + rnd(#FIRST)]
    local status = rnd(4) == 0 and 0 or 1
    items[i] = format(
      '{"email":"%s.%d@%s","status":%d,"status_explain":"%s","variables":{'
      .. '"name":"%s","phone":"+380%09d","city":"%s","age":%d,"orders":%d,'
      .. '"score":%d.%02d,"vip":%s,"last_order_id":%d,"coupon":%s,'
      .. '"created":"2023-%02d-%02d"}}',
      name, i, DOMAINS[1 + rnd(#DOMAINS)], status, status == 1 and "Active" or "New",
      name:sub(1, 1):upper() .. name:sub(2), rnd(1000000000), CITIES[1 + rnd(#CITIES)],
      18 + rnd(60), rnd(50), rnd(100), rnd(100), rnd(10) == 0 and "true" or "false",
      100000 + rnd(9000000), rnd(3) == 0 and "null" or format('"SAVE%d"', rnd(50)),
      1 + rnd(12), 1 + rnd(28))
  end
  return "[" .. concat(items, ",") .. "]"
end

return _M
