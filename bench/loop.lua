--- The Lua side of bench/cost.lua and bench/memory.lua: makes the same GET
-- call over and over, one way, and prints its figures on one line.
--
--   lua loop.lua WAY URL CALLS WARMUP [CHECKPOINTS] [PATH]
--
-- WAY:
--   ours        one sendpulse client (api_key, rate_limit = false), reused
--   ours_fresh  a new client per call: a new connection each time
--   luasocket   socket.http.request + cjson.decode: what a Lua program
--               without this library writes (socket.http closes the
--               connection after every call)
--   method      client.email:get_mailing_lists(): the generated method of
--               GET /addressbooks (the operations layer over `ours`)
--   body_request  client:request("POST", PATH, { json = TEMPLATE }): a body
--               with nested fields (PATH: the whatsapp send_template_by_phone
--               call), encoded as given
--   body_method   the same body through client.whatsapp:send_template_by_phone
--               (checked and shaped by its record before it is encoded)
--
-- Prints "calls=N cpu=S wall=S" for the timed loop (after WARMUP untimed
-- calls); cpu is os.clock(), the process's user + system time. With
-- CHECKPOINTS ("1000,100000") it also prints, after that many timed calls,
-- rssN (resident set, kB, from /proc/self/status) and heapN (Lua heap after
-- a full collection, kB). PATH (default /addressbooks, a list of mailing
-- lists) may be /result, a one-line {"result":true,...} answer. Every answer
-- is checked; a wrong one exits 1.

local way, url, calls, warmup, checkpoints, path = ...
calls, warmup = tonumber(calls), tonumber(warmup)
if not (way and url and calls and warmup) then
  io.stderr:write("usage: loop.lua ours|ours_fresh|luasocket|method|body_request|body_method"
    .. " URL CALLS WARMUP [CHECKPOINTS]\n")
  os.exit(2)
end

local PATH = path or "/addressbooks"
local API_KEY = "bench-api-key"   -- the static server does not check it

-- The nested body of the body_* ways: a WhatsApp template message with
-- components, as SendPulse's file shows it.
local TEMPLATE = {
  bot_id = "5f8d2a0b1c9e4a3b2d7f6e51", phone = "380931112233",
  template = {
    name = "order_shipped", language = { code = "en" },
    components = {
      { type = "header", parameters = { { type = "image", image = { link = "https://example.com/p.jpg" } } } },
      { type = "body", parameters = { { type = "text", text = "Ada" }, { type = "text", text = "#1042" } } },
    },
  },
}

local call
if way == "method" or way == "body_method" or way == "body_request" then
  local sendpulse = require "sendpulse"
  local client = sendpulse.new { api_key = API_KEY, base_url = url, rate_limit = false, retries = 0 }
  if way == "method" then
    local email = client.email
    call = function() return email:get_mailing_lists() end
  elseif way == "body_method" then
    local whatsapp = client.whatsapp
    call = function() return whatsapp:send_template_by_phone(TEMPLATE) end
  else
    local opts = { json = TEMPLATE }
    call = function() return client:request("POST", PATH, opts) end
  end
elseif way == "ours" or way == "ours_fresh" then
  local sendpulse = require "sendpulse"
  local opts = { api_key = API_KEY, base_url = url, rate_limit = false, retries = 0 }
  if way == "ours" then
    local client = sendpulse.new(opts)
    call = function() return client:request("GET", PATH) end
  else
    call = function()
      local client = sendpulse.new(opts)
      local value = client:request("GET", PATH)
      client:close()
      return value
    end
  end
elseif way == "luasocket" then
  local http = require "socket.http"
  local ltn12 = require "ltn12"
  local cjson = require "cjson"
  local concat = table.concat
  call = function()
    local chunks = {}
    local ok, status = http.request {
      url = url .. PATH,
      headers = { authorization = "Bearer " .. API_KEY, accept = "application/json" },
      sink = ltn12.sink.table(chunks),
    }
    if not ok or status ~= 200 then error("HTTP " .. tostring(status)) end
    return cjson.decode(concat(chunks))
  end
else
  io.stderr:write("unknown way: " .. way .. "\n")
  os.exit(2)
end

-- The static answer is a list of mailing lists; a wrong answer must not be
-- timed as a right one.
local function checked()
  local value = call()
  if type(value) ~= "table" or not (value.result == true or type(value[1]) == "table" and value[1].id) then
    io.stderr:write("unexpected answer\n")
    os.exit(1)
  end
end

local function rss_kb()
  local f = assert(io.open("/proc/self/status"))
  local text = f:read("*a")
  f:close()
  return tonumber(text:match("VmRSS:%s*(%d+)"))
end

local marks = {}
for n in (checkpoints or ""):gmatch("%d+") do marks[tonumber(n)] = true end

for _ = 1, warmup do checked() end
local out = {}
local clock = os.clock
local monotonic = require("socket").gettime
local cpu0, wall0 = clock(), monotonic()
for i = 1, calls do
  checked()
  if marks[i] then
    -- Outside the timing that matters for memory runs only.
    collectgarbage("collect")
    out[#out + 1] = string.format("rss%d=%d heap%d=%.1f", i, rss_kb(), i, collectgarbage("count"))
  end
end
local cpu, wall = clock() - cpu0, monotonic() - wall0
out[#out + 1] = string.format("calls=%d cpu=%.6f wall=%.6f", calls, cpu, wall)
print(table.concat(out, " "))
