-- The sandbox's pages at their bound (issue 20): how long the message list
-- takes with 10,000 stored messages, against a baseline in the same run
-- (the same page with 100 messages stored), and how much memory the
-- sandbox holds at its bounds.
--
--   make && sh bench/run.sh sandbox_ui
--
-- Page times are the median of 31 fetches each (one keep-alive
-- connection, from the first byte of the request to the last of the
-- answer), for: the list's first page, a search that scans every message,
-- one message. Memory is the sandbox process's RSS (VmRSS): at start, with
-- 10,000 small messages kept, after 20,000 more sent (still 10,000 kept),
-- and after 1,000 sends of a 64 KB message filled max_message_bytes
-- (64 MiB) twice over.
-- Every answer's status is checked, so a broken page cannot post a fast
-- figure.
local root = (debug.getinfo(1, "S").source:match("^@(.*)[/\\]") or ".") .. "/.."
package.path = root .. "/lua/?.lua;" .. root .. "/lua/?/init.lua;" .. root .. "/spec/?.lua;" .. package.path

local support = require "support"
local sp = require "support.sandbox_process"
local sys = require "support.sys"
local socket = require "socket"
local b64 = require("sendpulse.sandbox.base64").encode

local format = string.format
local FETCHES = 31

local function rss_mib(pid)
  return tonumber(sys.read_file("/proc/" .. pid .. "/status"):match("VmRSS:%s*(%d+)")) / 1024
end

-- `n` SMTP messages in sends of `per` recipients each (100: the copies of a
-- send share its contents).
local function fill(conn, n, html, per)
  local sent = 0
  while sent < n do
    local to = {}
    for i = 1, math.min(per or 100, n - sent) do to[i] = { email = format("user%d@example.com", sent + i) } end
    local res = assert(conn:request("POST", "/smtp/emails", { token = "sandbox-api-key", json = { email = {
      subject = "Order " .. sent, from = { email = "shop@example.com" }, to = to, text = "Thank you for order "
        .. sent, html = html } } }))
    assert(res.status == 200, res.body)
    sent = sent + #to
  end
end

local function page_time(conn, path)
  local times = {}
  for i = 1, FETCHES do
    local t0 = socket.gettime()
    local res = assert(conn:request("GET", path, {}))
    times[i] = socket.gettime() - t0
    assert(res.status == 200, path .. " -> " .. res.status)
  end
  return support.median(times)
end

local sb = sp.start { rate = 0 }
local ok, err = pcall(function()
  local conn = sb:connect(60)
  local small = b64("<p>Thank you for your order.</p>")
  local start_rss = rss_mib(sb.pid)
  fill(conn, 100, small)
  local base = page_time(conn, "/_sandbox/ui/messages")
  fill(conn, 9900, small)
  local list = page_time(conn, "/_sandbox/ui/messages")
  local search = page_time(conn, "/_sandbox/ui/messages?q=user5000%40example.com")
  local last = page_time(conn, "/_sandbox/ui/messages?page=200")
  local one = page_time(conn, "/_sandbox/ui/messages/5000")
  collectgarbage()
  local rss_10k = rss_mib(sb.pid)
  fill(conn, 20000, small)
  local rss_30k = rss_mib(sb.pid)
  local big = b64(string.rep("<p>A long newsletter paragraph, sixty-four bytes of it. </p>\n", 1024))
  fill(conn, 1000, big, 1)   -- 1,000 sends of ~150 KB each (HTML and its request): past 64 MiB twice
  local rss_bytes = rss_mib(sb.pid)
  local kept = conn:request("GET", "/_sandbox/ui/messages", {}).body:match("(%d+) kept now")
  conn:close()
  support.print_table {
    { "page (10,000 messages kept)", "median ms", "vs list with 100" },
    { "list, first page (baseline: 100 stored)", format("%.2f", base * 1000), "1.00x" },
    { "list, first page", format("%.2f", list * 1000), support.ratio(list, base) },
    { "list, page 200 (the oldest)", format("%.2f", last * 1000), support.ratio(last, base) },
    { "search scanning every message", format("%.2f", search * 1000), support.ratio(search, base) },
    { "one message", format("%.2f", one * 1000), support.ratio(one, base) },
  }
  print()
  support.print_table {
    { "sandbox memory", "RSS MiB" },
    { "at start", format("%.1f", start_rss) },
    { "10,000 small messages kept", format("%.1f", rss_10k) },
    { "30,000 sent, 10,000 kept", format("%.1f", rss_30k) },
    { "64 KB messages past max_message_bytes (" .. tostring(kept) .. " kept)", format("%.1f", rss_bytes) },
  }
  support.target(list < 0.25, format("the list's first page under 250 ms with 10,000 messages (%.1f ms)", list * 1000))
  support.target(rss_30k < rss_10k * 1.5, "memory stays at the count bound while 20,000 more are sent")
end)
sb:stop()
if not ok then error(err, 0) end
