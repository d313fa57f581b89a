-- Issue 20: headless Chromium reads the sandbox's pages (/_sandbox/ui/)
-- right after the library used the sandbox, and every assertion is on the
-- DOM the browser built (support/cdp.lua). Attacks come from the API's
-- inputs (subjects, names, file names, an email's HTML) and from a page of
-- another loopback port (CSRF). Tagged #once: the browser is its own
-- process, which the valgrind and LuaJIT passes would only repeat.
local socket = require "socket"
local cjson = require "cjson.safe"
local sendpulse = require "sendpulse"
local sp = require "support.sandbox_process"
local browser = require "support.browser"
local sink_mod = require "support.webhook_sink"
local sys = require "support.sys"

local function b64(s) return require("sendpulse.sandbox.base64").encode(s) end

local TAB = { key = "Tab", code = "Tab", windowsVirtualKeyCode = 9 }

-- A page server of its own process (support/page_server.lua): another
-- origin, or a "remote" host whose log shows every connection.
local function page_server(html)
  local dir = os.tmpname()
  sys.write_file(dir .. ".html", html)
  local log = dir .. ".log"
  sys.write_file(log, "")
  local lua = os.getenv("SP_SANDBOX_LUA") or "lua5.4"
  local p = io.popen("exec " .. lua .. " spec/support/page_server.lua " .. sys.shell_quote(dir .. ".html") .. " "
    .. sys.shell_quote(log))
  local port, pid = p:read("*l"):match("127%.0%.0%.1:(%d+) pid (%d+)")
  return { port = tonumber(port), url = "http://127.0.0.1:" .. port, log_file = log,
           log = function() return sys.read_file(log) end,
           set_page = function(text) sys.write_file(dir .. ".html", text) end,
           stop = function()
             os.execute("kill " .. pid .. " 2>/dev/null")
             p:close()
             os.remove(dir); os.remove(dir .. ".html"); os.remove(log)
           end }
end

describe("sandbox pages in headless Chromium #once", function()
  local sb, b, page, client

  lazy_setup(function()
    sb = sp.start { rate = 0 }
    b = browser.start()
    page = b:page()
  end)
  lazy_teardown(function()
    if b then b:stop() end
    if sb then sb:stop() end
  end)
  before_each(function()
    sb:reset()
    client = sendpulse.new { client_id = "sandbox-id", client_secret = "sandbox-secret", base_url = sb.url,
                             retries = 0, rate_limit = false }
  end)
  after_each(function() client:close() end)

  local function ui(path) return sb.url .. "/_sandbox/ui" .. (path or "") end
  local function text() return page:eval("document.body.innerText") end
  local function open(path)
    assert(page:navigate(ui(path)), "no load event for " .. path)
  end

  it("shows what the library just sent: SMTP, a campaign to 3, an SMS, a webhook, a canned answer, a fault",
  function()
    local sink = sink_mod.new()
    sb:control("POST", "/_sandbox/webhooks/config", { flush_interval = 0.1 })
    client:request("POST", "/v2/email-service/webhook", { json = {
      url = sink.url .. "/hooks/receiver-secret", actions = { "delivered" } } })
    local template = client:request("POST", "/template", { json = { name = "Reset",
      body = b64("<p>Reset {{name}}</p>") } })
    local smtp = client:request("POST", "/smtp/emails", { json = { email = {
      subject = "Your receipt", from = { name = "Shop", email = "shop@example.com" },
      to = { { email = "ada@example.com", name = "Ada" } },
      html = b64('<h1>Receipt</h1><img src="https://cdn.example.com/logo.png">'
        .. '<a href="http://example.com/track">Track</a> <a href="https://example.com/help">Help</a>'),
      text = "Your receipt, plain.",
      attachments_binary = { ["receipt.pdf"] = b64("%PDF-1.4 sandbox") } } } })
    client:request("POST", "/smtp/emails", { json = { email = {
      subject = "Reset your password", from = { email = "shop@example.com" }, to = { { email = "ada@example.com" } },
      template = { id = template.real_id or template.id, variables = { name = "Ada", reset_token = "tok-3141592653" } },
    } } })
    local list = client:request("POST", "/addressbooks", { json = { bookName = "Three" } })
    client:request("POST", "/addressbooks/" .. list.id .. "/emails", { json = { emails = {
      "a@example.com", "b@example.com", "c@example.com" } } })
    local campaign = client:request("POST", "/campaigns", { json = { sender_name = "Shop",
      sender_email = "shop@example.com", subject = "Spring sale", list_id = list.id, body = b64("<p>Sale</p>") } })
    client:request("POST", "/sms/send", { json = { sender = "Shop", phones = { "380501234567" },
      body = "Your code is 4242" } })
    client:request("GET", "/balance")                               -- answered from the example
    sb:fault { kind = "status", status = 500, body = '{"message":"boom"}', path = "^/addressbooks$", method = "GET" }
    assert.is_false(pcall(client.request, client, "GET", "/addressbooks"))
    local got = sink:collect(1, 10, function() return 200 end)
    assert.equal(1, #got)

    open("/messages")
    local rows = page:eval([[Array.from(document.querySelectorAll('#rows tr')).map(function (tr) {
      return Array.from(tr.cells).map(function (td) { return td.textContent; }); })]])
    assert.equal(6, #rows)   -- 2 SMTP, 3 campaign copies, 1 SMS; newest first
    assert.same({ "SMS", "Shop", "380501234567", "Your code is 4242", "sent" },
      { rows[1][2], rows[1][3], rows[1][4], rows[1][5], rows[1][6] })
    local campaign_to = {}
    for i = 2, 4 do
      assert.equal("Campaign", rows[i][2])
      assert.equal("Spring sale", rows[i][5])
      campaign_to[#campaign_to + 1] = rows[i][4]
    end
    table.sort(campaign_to)
    assert.same({ "a@example.com", "b@example.com", "c@example.com" }, campaign_to)
    assert.same({ "SMTP", "Shop <shop@example.com>", "ada@example.com", "Your receipt", "delivered" },
      { rows[6][2], rows[6][3], rows[6][4], rows[6][5], rows[6][6] })

    -- search by recipient, subject and text
    open("/messages?q=receipt")
    assert.equal(1, page:eval("document.querySelectorAll('#rows tr').length"))
    open("/messages?q=4242")
    assert.equal("SMS", page:eval("document.querySelector('#rows tr td:nth-child(2)').textContent"))

    -- the SMTP message: its HTML framed and sandboxed, text, attachment, check, links
    open("/messages")
    page:eval("document.querySelector('#rows tr:last-child a').click()")
    assert(page:wait_event("Page.loadEventFired", 10))
    assert.matches("/messages/%d+$", page:eval("location.pathname"))
    assert.equal("", page:eval("document.querySelector('iframe').getAttribute('sandbox')"))
    assert.matches("Your receipt, plain.", page:eval("document.querySelector('#text pre').textContent"), 1, true)
    local file = page:eval([[(function () {
      var a = document.querySelector('#attachments a');
      return fetch(a.href).then(function (r) { return r.text().then(function (t) {
        return { name: a.textContent, type: r.headers.get('content-type'),
                 disposition: r.headers.get('content-disposition'), body: t }; }); });
    })()]])
    assert.same({ name = "receipt.pdf", type = "application/pdf", body = "%PDF-1.4 sandbox",
      disposition = "attachment; filename=\"receipt.pdf\"; filename*=UTF-8''receipt.pdf" }, file)
    local check = page:eval("document.querySelector('#check').innerText")
    assert.matches("image without alt text", check, 1, true)
    assert.matches("image without a width and height", check, 1, true)
    assert.matches("link not on https", check, 1, true)
    assert.matches("Total weight", check, 1, true)
    local links = page:eval(
      "Array.from(document.querySelectorAll('#links code')).map(function (c) { return c.textContent; })")
    assert.same({ "http://example.com/track", "https://example.com/help" }, links)
    assert.matches('"subject": "Your receipt"', page:eval("document.querySelector('#source pre').textContent"), 1, true)
    -- the framed HTML is the email's own, rendered
    local frame_doc = page:eval([[(function () {
      var f = document.querySelector('iframe'); return f.getAttribute('src'); })()]])
    assert.matches("/html$", frame_doc)

    -- the template message: its variables shown, the token hidden, in the source too
    open("/messages?q=reset")
    page:eval("document.querySelector('#rows a').click()")
    assert(page:wait_event("Page.loadEventFired", 10))
    local tpl = page:eval("document.querySelector('#template').innerText")
    assert.matches("Reset", tpl, 1, true)
    assert.matches("Ada", tpl, 1, true)
    assert.not_matches("tok-3141592653", tpl, 1, true)
    assert.not_matches("tok-3141592653", page:eval("document.body.innerText"), 1, true)
    assert.matches("[hidden by the sandbox]", page:eval("document.querySelector('#source pre').textContent"), 1, true)

    -- the campaign: status, per-recipient rows, the 711 clock
    open("/campaigns")
    local camp = text()
    assert.matches("Spring sale", camp, 1, true)
    assert.matches("711: list " .. list.id, camp, 1, true)
    assert.matches("busy until", camp, 1, true)
    assert.matches("791: campaigns in the last hour\t1 of 4", camp, 1, true)
    open("/messages?campaign=" .. campaign.id)
    assert.equal(3, page:eval("document.querySelectorAll('#rows tr').length"))

    -- the requests log: the canned answer, the fault, a row linked to its message
    open("/requests")
    local log = page:eval([[Array.from(document.querySelectorAll('tbody tr')).map(function (tr) {
      return tr.innerText; })]])
    local canned, fault, linked
    for _, r in ipairs(log) do
      if r:find("/balance", 1, true) and r:find("canned: email:get_balance", 1, true) then canned = true end
      if r:find("/addressbooks\t500", 1, true) and r:find("status", 1, true) then fault = true end
      if r:find("/smtp/emails", 1, true) and r:find("message %d") then linked = true end
    end
    assert.is_true(canned, table.concat(log, "\n"))
    assert.is_true(fault, table.concat(log, "\n"))
    assert.is_true(linked, table.concat(log, "\n"))
    assert.is_nil(smtp.error)

    -- the webhook delivery: target (its secret path hidden), answer, payload; sent again
    open("/webhooks")
    local hooks = text()
    assert.matches("Batch 1", hooks, 1, true)
    assert.matches("delivered", hooks, 1, true)
    assert.matches(sink.url .. "/…", hooks, 1, true)
    assert.not_matches("receiver-secret", hooks, 1, true)
    assert.matches('"event":"delivered"', page:eval("document.querySelector('details pre').textContent"), 1, true)
    page:eval("document.querySelector('form[action$=\"/webhooks/1/resend\"] button').click()")
    local again = sink:collect(1, 10, function() return 200 end)
    assert.equal(1, #again)
    assert.equal("/hooks/receiver-secret", again[1].path)
    assert.same(got[1].json, again[1].json)
    sink:close()
  end)

  it("does with the control forms what the control API does: faults, the clock, reset", function()
    client:request("GET", "/addressbooks")
    open("/control")
    page:eval([[(function () {
      document.getElementById('kind').value = '429';
      document.getElementById('path').value = '^/balance$';
      document.getElementById('count').value = '-1';
      document.querySelector('form[action$="/control/faults"] button').click(); })()]])
    assert(page:wait_event("Page.loadEventFired", 10))
    assert.matches("queued", text())
    local ok, err = pcall(client.request, client, "GET", "/balance")
    assert.is_false(ok)
    assert.equal(429, err.status)
    local faults = sb:control("GET", "/_sandbox/faults")
    assert.equal("status", faults[1].kind)
    assert.equal(429, faults[1].status)
    page:eval("document.querySelector('form[action$=\"/control/faults/clear\"] button').click()")
    assert(page:wait_event("Page.loadEventFired", 10))
    assert.equal(0, #sb:control("GET", "/_sandbox/faults"))
    page:eval("document.getElementById('advance').value = '3600'; "
      .. "document.querySelector('form[action$=\"/control/clock\"] button').click()")
    assert(page:wait_event("Page.loadEventFired", 10))
    assert.equal(3600, sb:control("GET", "/_sandbox/clock").offset)
    assert.is_true(#sb:stats().requests > 0)
    page:eval("document.querySelector('form[action$=\"/control/reset\"] button').click()")
    assert(page:wait_event("Page.loadEventFired", 10))
    assert.equal(0, #sb:stats().requests)
    assert.equal(0, sb:control("GET", "/_sandbox/clock").offset)
  end)

  it("shows attacker-chosen subjects, names and file names as text, and runs nothing", function()
    local remote = page_server("<p>remote</p>")
    local mark = "window.top.__xss = 1"
    local markup = '<script>' .. mark .. '</script>"onerror="' .. mark .. '"<img src=x onerror="' .. mark .. '">'
    local body = '<p>Hello</p><script>' .. mark .. '; fetch("' .. remote.url .. '/script")</script>'
      .. '<img src="' .. remote.url .. '/image.png" alt="logo" onerror="' .. mark .. '">'
      .. '<img src=x onerror="' .. mark .. '">'
      .. '<meta http-equiv="refresh" content="0;url=' .. remote.url .. '/refresh">'
      .. '<form action="' .. remote.url .. '/form" method="post"><input name="a" value="b"></form>'
      .. '<link rel="stylesheet" href="' .. remote.url .. '/style.css">'
      .. '<iframe src="' .. remote.url .. '/frame"></iframe>'
      .. '<style>body { background: url(' .. remote.url .. '/bg.png) }</style>'
    client:request("POST", "/smtp/emails", { json = { email = {
      subject = "Hi " .. markup, from = { name = markup, email = "shop@example.com" },
      to = { { email = "ada@example.com" } }, html = b64(body), text = markup,
      attachments_binary = { [markup .. ".txt"] = b64("x") } } } })
    local list = client:request("POST", "/addressbooks", { json = { bookName = "Names " .. markup } })
    client:request("POST", "/addressbooks/" .. list.id .. "/emails", { json = { emails = {
      { email = "eve@example.com", variables = { name = markup } } } } })

    local requests_seen = {}
    local function note_requests()
      for _, e in ipairs(page.events) do
        if e.method == "Network.requestWillBeSent" then requests_seen[#requests_seen + 1] = e.params.request.url end
      end
    end
    for _, path in ipairs { "/messages", "/messages/1", "/lists", "/lists/" .. list.id } do
      open(path)
      socket.sleep(1)   -- time for a refresh, a late onerror or a fetch to happen
      page:call("Runtime.evaluate", { expression = "1" })   -- collect the events so far
      note_requests()
      assert.is_nil(page:eval("window.__xss"), path)
      -- only the sandbox's own script element
      assert.equal(1, page:eval("document.querySelectorAll('script').length"), path)
      assert.matches("/_sandbox/ui" .. path:gsub("%-", "%%-") .. "$", page:eval("location.pathname"))
    end
    -- shown as text
    open("/messages/1")
    local shown = text()
    assert.matches("Hi " .. markup, shown, 1, true)
    assert.matches(markup .. ".txt", page:eval("document.querySelector('#attachments a').textContent"), 1, true)
    assert.matches(markup, page:eval("document.querySelector('#text pre').textContent"), 1, true)
    open("/lists/" .. list.id)
    assert.matches("name = " .. markup, text(), 1, true)
    -- nothing fetched from the "remote" host: not by the browser, not at the host
    for _, url in ipairs(requests_seen) do
      assert.is_nil(url:find(remote.url, 1, true), url)
    end
    assert.equal("", remote.log())
    -- and the sandbox saw only its pages' own requests
    assert.is_nil(sb:log():find("/script", 1, true))
    -- the email's HTML answer: its CSP
    local res = assert(require("support.rawhttp").request(sb.host, sb.port, "GET", "/_sandbox/ui/messages/1/html", {}))
    assert.equal("default-src 'none'; style-src 'unsafe-inline'; img-src data:; font-src data:; "
      .. "form-action 'none'; base-uri 'none'; frame-ancestors 'self'; sandbox", res.headers["content-security-policy"])

    -- "Show remote images" loads the image, and only that; still no script
    open("/messages/1?remote=1")
    socket.sleep(1)
    assert.is_nil(page:eval("window.__xss"))
    local log = remote.log()
    assert.matches("GET /image.png", log, 1, true)
    assert.is_nil(log:find("/script", 1, true))
    assert.is_nil(log:find("/refresh", 1, true))
    assert.is_nil(log:find("/form", 1, true))
    assert.is_nil(log:find("/style.css", 1, true))
    assert.is_nil(log:find("/frame", 1, true))
    remote.stop()
  end)

  it("refuses a reset and a fault from a page of another loopback port (CSRF)", function()
    client:request("GET", "/addressbooks")
    local before = #sb:stats().requests
    local target = sb.url
    local attacker = page_server(([[<!DOCTYPE html><html><body>
<form id="reset" method="post" action="%s/_sandbox/reset" target="out"></form>
<form id="ui" method="post" action="%s/_sandbox/ui/control/reset" target="out2">
<input name="token" value="guess"></form>
<iframe name="out"></iframe><iframe name="out2"></iframe>
<script>
fetch("%s/_sandbox/faults", { method: "POST", mode: "no-cors", headers: { "Content-Type": "text/plain" },
  body: JSON.stringify({ kind: "drop", count: -1 }) });
fetch("%s/_sandbox/ui/control/faults", { method: "POST", mode: "no-cors",
  headers: { "Content-Type": "application/x-www-form-urlencoded" }, body: "kind=drop&count=-1&token=guess" });
fetch("%s/_sandbox/clock", { method: "POST", mode: "no-cors", headers: { "Content-Type": "text/plain" },
  body: JSON.stringify({ advance: 3600 }) });
document.getElementById("reset").submit();
document.getElementById("ui").submit();
</script></body></html>]]):format(target, target, target, target, target))
    assert(page:navigate(attacker.url .. "/attack"))
    socket.sleep(1.5)
    attacker.stop()
    assert.equal(0, #sb:control("GET", "/_sandbox/faults"))
    assert.equal(before, #sb:stats().requests)   -- not reset
    assert.equal(0, sb:control("GET", "/_sandbox/clock").offset)
    -- the requests did arrive, and were refused
    local log = sb:log()
    assert.matches("POST /_sandbox/reset %-> 403", log)
    assert.matches("POST /_sandbox/faults %-> 403", log)
    assert.matches("POST /_sandbox/clock %-> 403", log)
    assert.matches("POST /_sandbox/ui/control/reset %-> 403", log)
  end)

  it("adds new messages to the open list without a reload (Server-Sent Events)", function()
    open("/messages")
    page:eval("window.__same_page = true")
    client:request("POST", "/smtp/emails", { json = { email = { subject = "Arrived live",
      from = { email = "shop@example.com" }, to = { { email = "ada@example.com" } }, text = "hi" } } })
    local seen = page:wait_for("document.querySelector('#rows').textContent.indexOf('Arrived live') >= 0", 15)
    assert.is_true(seen)
    assert.is_true(page:eval("window.__same_page === true"))
    -- the stream counts from the version the page shows, so a message sent
    -- before it opened is not missed (ui/live.lua; sandbox_ui_spec has the race)
    page:call("Runtime.evaluate", { expression = "1" })   -- collect the events so far
    local stream
    for _, e in ipairs(page.events) do
      local url = e.method == "Network.requestWillBeSent" and e.params.request.url
      if url and url:find("/_sandbox/ui/events", 1, true) then stream = url end
    end
    assert.matches("/_sandbox/ui/events%?since=%d+$", stream or "no stream")
  end)

  it("reaches every control with Tab, and every control has a label", function()
    client:request("POST", "/smtp/emails", { json = { email = { subject = "Tab", from = { email = "s@example.com" },
      to = { { email = "ada@example.com" } }, html = b64('<a href="https://example.com">x</a>'), text = "t",
      attachments_binary = { ["a.txt"] = b64("a") } } } })
    for _, path in ipairs { "/messages", "/messages/1", "/control", "/webhooks", "/lists", "/requests" } do
      open(path)
      local controls = page:eval([[(function () {
        var sel = 'a[href], button, input:not([type=hidden]), select, textarea, iframe, summary';
        return Array.from(document.querySelectorAll(sel)).map(function (el, i) {
          el.setAttribute('data-tab-index', i);
          var name = '';
          if (el.labels && el.labels.length) name = el.labels[0].textContent;
          else if (el.tagName === 'IFRAME') name = el.title;
          else name = el.getAttribute('aria-label') || el.textContent;
          return { tag: el.tagName, name: name.trim() };
        });
      })()]])
      assert.is_true(#controls > 0, path)
      for i, c in ipairs(controls) do
        assert.is_true(c.name ~= "", path .. ": control " .. i .. " (" .. c.tag .. ") has no label")
      end
      local reached, count = {}, 0
      for _ = 1, #controls * 3 + 10 do
        page:press(TAB)
        local k = page:eval("(document.activeElement && document.activeElement.getAttribute('data-tab-index'))")
        if k and k ~= cjson.null and not reached[k] then reached[k] = true; count = count + 1 end
        if count == #controls then break end
      end
      assert.equal(#controls, count, path .. ": Tab reached " .. count .. " of " .. #controls .. " controls")
    end
  end)
end)
