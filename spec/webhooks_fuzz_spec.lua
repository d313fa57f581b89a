-- Fuzzing sendpulse.webhooks.parse at the Lua level: a large corpus of
-- random JSON documents (whose right answer the generator knows) and of
-- mutations of real webhook bodies (which must never raise). Bounded in
-- time (SP_FUZZ_SECONDS per part, default 6, or MIN_INPUTS inputs if they
-- take longer; valgrind's pass stops at the same wall-clock bound after
-- fewer inputs) and in memory (checked below).
-- SP_FUZZ_SECONDS=600 runs it for longer by hand; SP_FUZZ_SEED repeats a run.
local webhooks = require "sendpulse.webhooks"
local receiver = require "sendpulse.webhooks.receiver"
local fixtures = require "support.webhook_fixtures"
local socket = require "socket"

local SECONDS = tonumber(os.getenv("SP_FUZZ_SECONDS")) or 6
local SEED = tonumber(os.getenv("SP_FUZZ_SEED")) or os.time()
local MAX_INPUTS = 200000
-- Each part runs this many inputs whatever the time takes: ~1000 random
-- bodies go in 6 s with both CPUs busy, ~30 under valgrind as well, so a
-- count checked after a fixed time would depend on the machine's load.
local MIN_INPUTS = 100

local RULES = { size = true, encoding = true, json = true, array = true, object = true, count = true }
local SOURCES = { email = true, smtp = true, chatbot = true, unknown = true }

local function is_int(v)
  if math.type then return math.type(v) == "integer" end
  return type(v) == "number" and v == math.floor(v)
end

-- Everything an event promises, and that its key and description work.
local function check_event(e)
  assert(SOURCES[e.source], "bad source")
  assert(type(e.raw) == "table", "raw is not a table")
  for _, f in ipairs { "type", "email", "link_url", "service" } do
    assert(e[f] == nil or (type(e[f]) == "string" and e[f] ~= ""), f)
  end
  for _, f in ipairs { "time", "task_id", "message_id", "book_id", "link_id" } do
    assert(e[f] == nil or is_int(e[f]), f)
  end
  for _, f in ipairs { "bot", "contact" } do assert(e[f] == nil or type(e[f]) == "table", f) end
  assert(webhooks.key(e):find("^sendpulse:webhook:%x+$"))
  assert(type(receiver.describe(e)) == "string")
end

-- Parses `body`; raises (failing the test) unless the outcome is an event
-- list that keeps its promises or a decode error with a known rule.
local function check(body, limits)
  local ok, events, err = pcall(webhooks.parse, body, nil, limits)
  if not ok then error(("parse raised on %q: %s"):format(body:sub(1, 200), tostring(events)), 0) end
  if events then
    assert(err == nil)
    for _, e in ipairs(events) do check_event(e) end
    return events
  end
  assert(err.kind == "decode" and RULES[err.rule], "unexpected error: " .. tostring(err))
  assert(type(err.message) == "string" and #err.message < 400, "an overlong message")
  return nil, err
end

-- A random JSON generator that knows what it made.
local function generator(rand)
  local KEYS = { "event", "timestamp", "task_id", "email", "recipient", "message_id", "service", "title",
                 "bot", "contact", "date", "info", "link_id", "link_url", "book_id", "url", "x", "" }
  local STRINGS = { "", "open", "delivered", "a@example.com", "1700000000", "[]", "{}", "\\", "\"", "]\",[",
                    "ÿ€", "12a", "-5", "9999999999999999999" }
  local value
  local function str()
    local s = STRINGS[rand(#STRINGS)]
    return '"' .. s:gsub('[\\"]', "\\%0") .. '"'
  end
  local function number()
    local pick = rand(6)
    if pick == 1 then return tostring(rand(2 ^ 31)) end
    if pick == 2 then return "-" .. rand(1000) end
    if pick == 3 then return rand(1000) .. "." .. rand(99) end
    if pick == 4 then return "1e" .. rand(40) end
    if pick == 5 then return "9007199254740993" end
    return "0"
  end
  local function object(depth)
    local parts = {}
    for _ = 1, rand(6) - 1 do parts[#parts + 1] = '"' .. KEYS[rand(#KEYS)] .. '":' .. value(depth + 1) end
    return "{" .. table.concat(parts, ",") .. "}"
  end
  local function array(depth)
    local parts = {}
    for _ = 1, rand(4) - 1 do parts[#parts + 1] = value(depth + 1) end
    return "[" .. table.concat(parts, " , ") .. "]"
  end
  value = function(depth)
    local pick = depth > 4 and rand(4) or rand(7)
    if pick == 1 then return str() end
    if pick == 2 then return number() end
    if pick == 3 then return ({ "true", "false", "null" })[rand(3)] end
    if pick == 4 then return depth > 4 and "[]" or "{}" end
    if pick == 5 or pick == 6 then return object(depth) end
    return array(depth)
  end
  -- A body of n items; with `bad`, item `bad` is not an object.
  return function()
    local n, items = rand(8) - 1, {}
    local bad = rand(3) == 1 and n > 0 and rand(n) or nil
    for i = 1, n do
      if i == bad then
        local pick = rand(5)
        items[i] = pick == 1 and array(1) or pick == 2 and "[]" or pick == 3 and str()
          or pick == 4 and number() or "null"
      else
        items[i] = object(1)
      end
    end
    local ws = ({ "", " ", "\n", "\t \r\n" })[rand(4)]
    return ws .. "[" .. ws .. table.concat(items, "," .. ws) .. ws .. "]" .. ws, n, bad
  end
end

local function mutator(rand, seeds)
  local TOKENS = { "[", "]", "{", "}", '"', "\\", ",", ":", "null", "0", "-", "1e999", "\\u0000", "\\ud800",
                   "\0", "\255", ("["):rep(50), ("{\"a\":"):rep(30), "[]", "{}", " ", "true" }
  return function()
    local s = seeds[rand(#seeds)]
    for _ = 1, rand(4) do
      local n = #s
      local at = rand(n + 1)
      local pick = rand(7)
      if pick == 1 and n > 0 then        -- flip a byte
        s = s:sub(1, at - 1) .. string.char(rand(256) - 1) .. s:sub(at + 1)
      elseif pick == 2 then              -- insert a token
        s = s:sub(1, at - 1) .. TOKENS[rand(#TOKENS)] .. s:sub(at)
      elseif pick == 3 and n > 0 then    -- delete a range
        s = s:sub(1, at - 1) .. s:sub(at + rand(8))
      elseif pick == 4 and n > 0 then    -- repeat a range
        local len = rand(16)
        s = s:sub(1, at + len - 1) .. s:sub(at, at + len - 1) .. s:sub(at + len)
      elseif pick == 5 then              -- splice another seed in
        local other = seeds[rand(#seeds)]
        s = s:sub(1, at - 1) .. other:sub(rand(#other + 1))
      elseif pick == 6 then              -- truncate
        s = s:sub(1, at - 1)
      else                               -- swap two bytes
        local b = rand(n + 1)
        if at <= n and b <= n then
          local x, y = s:sub(at, at), s:sub(b, b)
          s = s:sub(1, at - 1) .. y .. s:sub(at + 1)
          s = s:sub(1, b - 1) .. x .. s:sub(b + 1)
        end
      end
    end
    return s
  end
end

describe("webhooks.parse fuzzing", function()
  local rand
  before_each(function()
    math.randomseed(SEED)
    rand = math.random
  end)

  it("random JSON bodies: the generator's answer, or the item it broke (seed " .. SEED .. ")", function()
    local gen = generator(rand)
    local deadline, inputs = socket.gettime() + SECONDS, 0
    while (socket.gettime() < deadline or inputs < MIN_INPUTS) and inputs < MAX_INPUTS do
      local body, n, bad = gen()
      local events, err = check(body)
      if bad then
        assert(err and err.rule == "object" and err.index == bad,
          ("item %d is not an object, parse said %s: %s"):format(bad, tostring(err or #events), body))
      else
        assert(events and #events == n, ("%d objects, parse said %s: %s"):format(n, tostring(err), body))
      end
      inputs = inputs + 1
    end
    print(("\n  random JSON: %d bodies in %gs"):format(inputs, SECONDS))
    assert.is_true(inputs >= MIN_INPUTS)
  end)

  it("mutated webhook bodies never raise (seed " .. SEED .. ")", function()
    local seeds = {}
    for _, f in ipairs(fixtures.list) do seeds[#seeds + 1] = f.body end
    for _, s in ipairs { "[]", "[{}]", '[{"a":[]},{}]', '[{"s":"]\\"[{"}]', ("[{}"):rep(20) .. "]" } do
      seeds[#seeds + 1] = s
    end
    local mutate = mutator(rand, seeds)
    local deadline, inputs, accepted = socket.gettime() + SECONDS, 0, 0
    local before = collectgarbage("count")
    while (socket.gettime() < deadline or inputs < MIN_INPUTS) and inputs < MAX_INPUTS do
      local body = mutate()
      if check(body, { max_body = 65536, max_events = 50 }) then accepted = accepted + 1 end
      inputs = inputs + 1
    end
    collectgarbage()
    collectgarbage()
    local growth = collectgarbage("count") - before
    print(("\n  mutations: %d bodies in %gs, %d accepted; heap %+.0f kB after"):format(inputs, SECONDS,
      accepted, growth))
    assert.is_true(inputs >= MIN_INPUTS)
    assert.is_true(growth < 4096, "the heap grew by " .. growth .. " kB")
  end)

  it("the worst bodies within max_body stay within a bounded heap", function()
    -- Per byte, the costliest bodies are many tiny objects and deep nesting;
    -- both at the 1 MiB default limit.
    local limit = webhooks.MAX_BODY
    local many = "[" .. ("{},"):rep(math.floor((limit - 3) / 3)) .. "{}]"
    local deep = ("["):rep(999) .. ("]"):rep(999)
    local worst_events = "[" .. ('{"event":"open","email":"a@example.com","timestamp":"1"},'):rep(1000) .. "{}]"
    for _, c in ipairs { { many, "count" }, { deep, "object" }, { worst_events, "count" },
                         { ("x"):rep(limit + 1), "size" } } do
      collectgarbage()
      collectgarbage("stop")
      local before = collectgarbage("count")
      local events, err = webhooks.parse(c[1])
      local used = collectgarbage("count") - before
      collectgarbage("restart")
      assert.is_nil(events)
      assert.equal(c[2], err.rule)
      -- about 40 bytes of Lua heap per body byte at worst
      print(("\n  %s: %.0f kB of heap for a %d-byte body"):format(c[2], used, #c[1]))
      assert.is_true(used < 48 * 1024, ("%.0f kB for a %d-byte body"):format(used, #c[1]))
    end
  end)
end)
