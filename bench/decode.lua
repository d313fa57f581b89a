--- Bench 2: decoding a large answer, a 10,000-contact list page, into Lua
-- tables: sendpulse.json.decode (what every answer goes through) against
-- lua-cjson's decode of the same bytes.
--
--   lua5.4 bench/decode.lua
--
-- Each figure is the median of BENCH_RUNS child processes, each timing
-- DECODES decodes (CPU time, os.clock) after one untimed decode; instructions
-- per decode come from callgrind (1 and 2 decodes, so start-up and the
-- page's generation cancel out).

local support = require "support"
local data = require "data"

local format = string.format

local CONTACTS = tonumber(os.getenv("BENCH_CONTACTS")) or 10000
local DECODES = tonumber(os.getenv("BENCH_DECODES")) or 5

local WAYS = {
  { name = "cjson", label = "lua-cjson decode" },
  { name = "ours", label = "sendpulse.json.decode" },
}

-- The child: `decode.lua child WAY CONTACTS DECODES`.
local function child(way, contacts, decodes)
  local text = data.contacts(contacts)
  local decode
  if way == "ours" then
    decode = require("sendpulse.json").decode
  else
    local cjson = require("cjson").new()
    cjson.decode_invalid_numbers(false)   -- as sendpulse.json sets it
    decode = cjson.decode
  end
  local first = decode(text)
  -- The right answer, or the timing means nothing.
  assert(#first == contacts and first[contacts].variables.city, "wrong decode")
  if way == "ours" and math.type then
    assert(math.type(first[1].status) == "integer" and math.type(first[1].variables.age) == "integer"
      and math.type(first[1].variables.score) == "float", "numbers not fixed")
  end
  first = nil   -- luacheck: ignore
  collectgarbage("collect")
  local cpu0 = os.clock()
  for _ = 1, decodes do decode(text) end
  local cpu = os.clock() - cpu0
  print(format("decodes=%d cpu=%.6f bytes=%d", decodes, cpu, #text))
end

if arg and arg[1] == "child" then
  child(arg[2], tonumber(arg[3]), tonumber(arg[4]))
  return
end

local function program(way, decodes)
  return format("%s %s child %s %d %d", support.quote(support.LUA),
    support.quote(support.DIR .. "/decode.lua"), way, CONTACTS, decodes), support.lua_env()
end

local results, bytes = {}, nil
for _, w in ipairs(WAYS) do
  local cmd, env = program(w.name, DECODES)
  local med = support.median_of_runs(env .. " " .. cmd)
  bytes = med.bytes
  results[w.name] = {
    ms = med.cpu / med.decodes * 1e3,
    ir = support.instructions_per_call(function(n) return program(w.name, n) end, 1, 1),
  }
end

print(format("decode: a %d-contact list page (%.1f MB of JSON) into Lua tables", CONTACTS, bytes / 1e6))
print(format("  CPU: median of %d runs of %d decodes; instructions: callgrind, 1 and 2 decodes",
  support.RUNS, DECODES))
print()
local base = results.cjson
local rows = { { "way", "CPU ms/decode", "MB/s", "Minstr/decode", "CPU vs cjson", "instr vs cjson" } }
for _, w in ipairs(WAYS) do
  local r = results[w.name]
  rows[#rows + 1] = { w.label, format("%.1f", r.ms), format("%.0f", bytes / 1e6 / (r.ms / 1e3)),
    format("%.1f", r.ir / 1e6), support.ratio(r.ms, base.ms), support.ratio(r.ir, base.ir) }
end
support.print_table(rows)
print()
