#!/usr/bin/env lua
-- Makes the screenshots of docs/sandbox.md (`make screenshots`): starts a
-- sandbox, sends it a fixed set of messages through the library, and has
-- headless Chromium (spec/support/browser.lua's flags) photograph the
-- message list and one message.
--
--   lua5.4 spec/tools/sandbox_screenshots.lua OUTDIR
--   -> OUTDIR/sandbox-messages.png, OUTDIR/sandbox-message.png (1280 x 900)
--
-- Needs the C core built (LUA_CPATH at build/lua5.4, as make sets it). The
-- times in the list are the run's own: a rebuild differs in them, nothing
-- else (spec/sandbox_screenshots_spec.lua rebuilds them).
local here = (arg and arg[0] or ""):match("^(.*)[/\\]") or "."
local root = here .. "/../.."
package.path = root .. "/lua/?.lua;" .. root .. "/lua/?/init.lua;" .. root .. "/spec/?.lua;" .. package.path

local sendpulse = require "sendpulse"
local sp = require "support.sandbox_process"
local browser = require "support.browser"
local sys = require "support.sys"
local b64 = require("sendpulse.sandbox.base64").encode

local out = arg[1]
if not out then
  io.stderr:write("usage: lua5.4 spec/tools/sandbox_screenshots.lua OUTDIR\n")
  os.exit(2)
end

local WINDOW = "1280,900"

local sb = sp.start { rate = 0 }
local ok, err = pcall(function()
  local c = sendpulse.new { client_id = "sandbox-id", client_secret = "sandbox-secret", base_url = sb.url,
                            rate_limit = false }
  local list = c:request("POST", "/addressbooks", { json = { bookName = "Spring newsletter" } })
  c:request("POST", "/addressbooks/" .. list.id .. "/emails", { json = { emails = {
    { email = "ada@example.com", variables = { name = "Ada" } },
    { email = "grace@example.com", variables = { name = "Grace" } },
    { email = "linus@example.com", variables = { name = "Linus" } } } } })
  c:request("POST", "/campaigns", { json = { sender_name = "Lua Shop", sender_email = "news@shop.example",
    subject = "Spring sale: 20% off", list_id = list.id,
    body = b64("<h1>Spring sale</h1><p>Everything 20% off this week.</p>") } })
  c:request("POST", "/sms/send", { json = { sender = "LuaShop", phones = { "380501234567" },
    body = "Your code is 4242" } })
  c:request("POST", "/push/tasks", { json = { title = "Order shipped", body = "Your order #1042 is on its way",
    website_id = c:request("GET", "/push/websites")[1].id, ttl = 3600 } })
  c:request("POST", "/smtp/emails", { json = { email = {
    subject = "Your receipt for order #1042", from = { name = "Lua Shop", email = "orders@shop.example" },
    to = { { email = "ada@example.com", name = "Ada" } },
    html = b64('<div style="font-family:sans-serif"><h1 style="color:#0b2942">Thank you, Ada!</h1>'
      .. '<p>Your order <b>#1042</b> is paid: 2 items, 31.50 EUR.</p>'
      .. '<p><img src="https://cdn.shop.example/logo.png"> <a href="https://shop.example/orders/1042">'
      .. 'See your order</a> · <a href="http://shop.example/unsubscribe">Unsubscribe</a></p></div>'),
    text = "Thank you, Ada! Your order #1042 is paid: 2 items, 31.50 EUR.",
    attachments_binary = { ["receipt-1042.pdf"] = b64("%PDF-1.4 receipt") } } } })
  c:close()
  local shots = {
    { "sandbox-messages.png", sb.ui_url .. "messages" },
    { "sandbox-message.png", sb.ui_url .. "messages/6" },
  }
  for _, s in ipairs(shots) do
    local profile = os.tmpname()
    os.remove(profile)
    local file = out .. "/" .. s[1]
    local cmd = browser.command(profile, { "--window-size=" .. WINDOW, "--screenshot=" .. file, s[2] })
    local done, output = sys.run(cmd)
    os.execute("rm -rf " .. sys.shell_quote(profile))
    assert(done and sys.exists(file), "chromium made no " .. file .. ": " .. output)
    print(file)
  end
end)
sb:stop()
if not ok then
  io.stderr:write("screenshots: ", tostring(err), "\n")
  os.exit(1)
end
