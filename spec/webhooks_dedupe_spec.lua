-- Deduplication: the key of an event, and the stores that remember keys
-- (memory, file, Redis; the nginx shared dict is in webhooks_nginx_spec).
-- The file and Redis stores are raced by several processes: exactly one
-- of them may see each key as new.
local webhooks = require "sendpulse.webhooks"
local redis_process = require "support.redis_process"
local sys = require "support.sys"
local socket = require "socket"

local LUA = os.getenv("LUA") or "lua5.4"

local function one(body)
  return assert(webhooks.parse(body))[1]
end

describe("webhooks dedupe keys", function()
  it("the documented fields decide; the rest does not", function()
    local base = one([[ [{"event":"open","timestamp":"100","task_id":"5","email":"a@example.com"}] ]])
    local same = one([[ [{"email":"a@example.com","task_id":5,"timestamp":100,"event":"open",
                          "open_device":"phone","browser_name":"x"}] ]])
    assert.equal(webhooks.key(base), webhooks.key(same))
    for _, other in ipairs {
      [[ [{"event":"open","timestamp":"101","task_id":"5","email":"a@example.com"}] ]],
      [[ [{"event":"open","timestamp":"100","task_id":"6","email":"a@example.com"}] ]],
      [[ [{"event":"open","timestamp":"100","task_id":"5","email":"b@example.com"}] ]],
      [[ [{"event":"spam","timestamp":"100","task_id":"5","email":"a@example.com"}] ]],
      [[ [{"event":"open","timestamp":"100","task_id":"5","email":"a@example.com","link_id":"1"}] ]],
      [[ [{"event":"open","timestamp":"100","message_id":5,"recipient":"a@example.com"}] ]],
    } do
      assert.are_not.equal(webhooks.key(base), webhooks.key(one(other)), other)
    end
  end)

  it("chatbots: bot, contact, time and the whole info", function()
    local a = one([[ [{"service":"telegram","title":"incoming_message","bot":{"id":"b1","name":"A"},
                      "contact":{"id":"c1","tags":["x"]},"date":1,"info":{"text":"hi","n":[1,{"k":2}]}}] ]])
    local b = one([[ [{"info":{"n":[1,{"k":2}],"text":"hi"},"date":1,"contact":{"id":"c1","tags":["y"]},
                      "bot":{"name":"B","id":"b1"},"title":"incoming_message","service":"telegram"}] ]])
    assert.equal(webhooks.key(a), webhooks.key(b))
    local c = one([[ [{"service":"telegram","title":"incoming_message","bot":{"id":"b1"},
                      "contact":{"id":"c1"},"date":1,"info":{"text":"hi!","n":[1,{"k":2}]}}] ]])
    assert.are_not.equal(webhooks.key(a), webhooks.key(c))
  end)

  it("unknown objects: the whole object, whatever the key order", function()
    assert.equal(webhooks.key(one('[{"a":1,"b":[true,null,"x"]}]')), webhooks.key(one('[{"b":[true,null,"x"],"a":1}]')))
    assert.are_not.equal(webhooks.key(one('[{"a":1}]')), webhooks.key(one('[{"a":"1"}]')))
    assert.are_not.equal(webhooks.key(one('[{"a":"s1:x"}]')), webhooks.key(one('[{"a":"s1","b":"x"}]')))
  end)

  it("fresh: new events in order; within one batch too", function()
    local store = webhooks.stores.memory()
    local events = assert(webhooks.parse([[ [
      {"event":"open","email":"a@example.com","timestamp":"1"},
      {"event":"open","email":"b@example.com","timestamp":"1"},
      {"event":"open","email":"a@example.com","timestamp":"1"}] ]]))
    local new = webhooks.fresh(events, store, 60)
    assert.equal(2, #new)
    assert.equal("a@example.com", new[1].email)
    assert.equal("b@example.com", new[2].email)
    assert.equal(0, #webhooks.fresh(events, store, 60))
  end)

  it("fresh: a failing store lets the event through and says so", function()
    local broken = { add = function() return nil, "disk on fire" end }
    local events = assert(webhooks.parse('[{"event":"open","email":"a@example.com"}]'))
    local new, err, failures = webhooks.fresh(events, broken, 60)
    assert.is_nil(err, "fresh never fails: the second value is nil (the res, err shape)")
    assert.equal(1, #new)
    assert.equal(1, #failures)
    assert.equal("disk on fire", failures[1].message)
    assert.equal(new[1], failures[1].event)
  end)
end)

describe("webhooks memory store", function()
  it("forgets a key after its ttl", function()
    -- The second add comes microseconds after the first (tens of ms on a
    -- loaded machine): half a second of ttl is room for that.
    local store = webhooks.stores.memory()
    assert.is_true(store:add("k", 0.5))
    assert.is_false(store:add("k", 0.5))
    socket.sleep(0.6)
    assert.is_true(store:add("k", 0.5))
    assert.equal(1, store:size())
  end)

  it("holds at most max_entries keys, forgetting the oldest first", function()
    local store = webhooks.stores.memory { max_entries = 3 }
    for _, k in ipairs { "a", "b", "c", "d" } do assert.is_true(store:add(k, 60)) end
    assert.equal(3, store:size())
    assert.is_true(store:add("a", 60))     -- the oldest was forgotten
    assert.is_false(store:add("d", 60))
    assert.equal(3, store:size())
    -- 100,000 keys into a store of 1,000: the size stays bounded
    local big = webhooks.stores.memory { max_entries = 1000 }
    for i = 1, 100000 do big:add("key" .. i, 60) end
    assert.equal(1000, big:size())
    assert.is_false(big:add("key100000", 60))
    assert.is_true(big:add("key1", 60))
  end)

  it("checks its options", function()
    assert.has_error(function() webhooks.stores.memory { max_entries = 0 } end,
      "stores.memory.new: 'max_entries' must be a whole number >= 1")
    assert.has_error(function() webhooks.stores.memory { size = 1 } end,
      "stores.memory.new: unknown option 'size' (known: max_entries)")
  end)
end)

-- Runs `n` processes that each add keys 1..count to `store_code` (a Lua
-- expression making the store) and print the keys they got true for.
-- Returns the list of outputs.
local function race(n, count, store_code)
  local script = os.tmpname()
  sys.write_file(script, ([[
    local socket = require "socket"
    local webhooks = require "sendpulse.webhooks"
    local store = %s
    -- start together: wait for the go file
    while not io.open(arg[1]) do socket.sleep(0.005) end
    local got = {}
    for i = 1, %d do
      local ok, err = store:add("race-key-" .. i, 60)
      if ok == nil then error(err) end
      if ok then got[#got + 1] = i end
    end
    print(table.concat(got, " "))
  ]]):format(store_code, count))
  local go = os.tmpname()
  os.remove(go)
  -- LUA_CPATH (the C core of the interpreter under test) is inherited.
  local env = "LUA_PATH='lua/?.lua;lua/?/init.lua;;' "
  local pipes = {}
  for i = 1, n do pipes[i] = assert(io.popen(env .. LUA .. " " .. script .. " " .. go .. " 2>&1")) end
  socket.sleep(0.2)
  sys.write_file(go, "go")
  local outputs = {}
  for i = 1, n do
    outputs[i] = pipes[i]:read("*a")
    pipes[i]:close()
  end
  os.remove(go)
  os.remove(script)
  return outputs
end

local function exactly_once(outputs, count)
  local seen = {}
  for _, out in ipairs(outputs) do
    assert.truthy(out:find("^[%d ]*\n$"), out)
    for k in out:gmatch("%d+") do
      assert.is_nil(seen[k], "key " .. k .. " was new twice")
      seen[k] = true
    end
  end
  for i = 1, count do assert.is_true(seen[tostring(i)], "key " .. i .. " was never new") end
end

describe("webhooks file store", function()
  local dir
  before_each(function()
    dir = os.tmpname()
    os.remove(dir)
  end)
  after_each(function() os.execute("rm -rf " .. sys.shell_quote(dir)) end)

  it("4 processes racing on 200 keys: each key new exactly once", function()
    -- Each add holds its bucket's lock through an fsync, which a busy disk
    -- stretches to seconds: with the default lock_timeout (2 s) a loaded
    -- machine made a waiter give up ("waited 2s for the lock"). What is
    -- tested here is that no key is new twice, so the waits get 30 s.
    local outputs = race(4, 200, ("webhooks.stores.file { dir = %q, lock_timeout = 30 }"):format(dir))
    exactly_once(outputs, 200)
  end)

  it("private files, expiry, and at most max_entries keys", function()
    local store = webhooks.stores.file { dir = dir, max_entries = 256 }
    assert.is_true(store:add("k1", 1))
    assert.is_false(store:add("k1", 1))
    local mode = io.popen("stat -c %a " .. sys.shell_quote(dir)):read("*l")
    assert.equal("700", mode)
    local files = io.popen("stat -c %a " .. sys.shell_quote(dir) .. "/*.keys"):read("*a")
    for m in files:gmatch("%d+") do assert.equal("600", m) end
    socket.sleep(2.1)                       -- whole seconds on disk: ttl 1 is gone after 2
    assert.is_true(store:add("k1", 1))
    -- one key per bucket at most: 2,000 keys leave at most 256 lines in all
    for i = 1, 2000 do store:add("many" .. i, 60) end
    local lines = io.popen("cat " .. sys.shell_quote(dir) .. "/*.keys | grep -vc sendpulse-webhook-keys"):read("*l")
    assert.is_true(tonumber(lines) <= 256, lines)
  end)

  it("reports a folder it cannot use", function()
    local store = webhooks.stores.file { dir = "/proc/no-such-dir/x" }
    local ok, err = store:add("k", 1)
    assert.is_nil(ok)
    assert.truthy(err:find("cannot create dedupe folder /proc/no-such-dir/x", 1, true), err)
    assert.has_error(function() webhooks.stores.file { dir = "" } end,
      "stores.file.new: 'dir' must be a non-empty path (string)")
    assert.has_error(function() webhooks.stores.file { max_entries = 5 } end,
      "stores.file.new: 'max_entries' must be a whole number >= 256")
  end)
end)

describe("webhooks Redis store", function()
  local rs
  lazy_setup(function() rs = redis_process.start { password = "webhook-redis-pw" } end)
  lazy_teardown(function() if rs then rs:remove() end end)

  it("SET NX PX: new once, forgotten after the ttl", function()
    -- A second of ttl: the add and the redis-cli check after it take a
    -- few ms (tens on a loaded machine).
    local store = webhooks.stores.redis { port = rs.port, password = "webhook-redis-pw", prefix = "t1:" }
    assert.is_true(store:add("k", 1))
    assert.is_false(store:add("k", 1))
    assert.equal(":1", rs:cli("EXISTS", "t1:k"))
    socket.sleep(1.1)
    assert.is_true(store:add("k", 1))
  end)

  it("4 processes racing on 200 keys: each key new exactly once", function()
    local outputs = race(4, 200,
      ("webhooks.stores.redis { port = %d, password = 'webhook-redis-pw', prefix = 'race:' }"):format(rs.port))
    exactly_once(outputs, 200)
  end)

  it("a Redis that is down is an error (the receiver then delivers and reports)", function()
    local store = webhooks.stores.redis { port = sys.free_port(), timeout = 0.5, prefix = "down:" }
    local ok, err = store:add("k", 1)
    assert.is_nil(ok)
    assert.matches("^redis: ", err)
    assert.is_nil(err:find("webhook-redis-pw", 1, true))
  end)

  it("takes any connection with call(self, command, ...)", function()
    local calls = {}
    local conn = { call = function(_, ...) calls[#calls + 1] = { ... }; return #calls == 1 and "OK" or nil end }
    local store = webhooks.stores.redis { connection = conn }
    assert.is_true(store:add("k", 1.5))
    assert.is_false(store:add("k", 1.5))
    assert.same({ "SET", "k", "1", "NX", "PX", "1500" }, calls[1])
    assert.has_error(function() webhooks.stores.redis { connection = {} } end,
      "stores.redis.new: 'connection' must have a call(self, command, ...) method")
    assert.has_error(function() webhooks.stores.redis { port = "6379" } end,
      "stores.redis.new: 'port' must be a number, got string")
  end)
end)
