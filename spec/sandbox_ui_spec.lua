-- Issue 20, over raw HTTP (the browser specs are sandbox_browser_spec.lua):
-- who may call /_sandbox/ (guard.lua), the pages' headers, a hostile file
-- name's Content-Disposition, the inbox's bounds and pages, escaping.
local sp = require "support.sandbox_process"
local rawhttp = require "support.rawhttp"
local html = require "sendpulse.sandbox.ui.html"
local messages = require "sendpulse.sandbox.ui.messages"
local sandbox = require "sendpulse.sandbox"

local function b64(s) return require("sendpulse.sandbox.base64").encode(s) end

describe("sandbox pages over HTTP", function()
  local sb
  lazy_setup(function() sb = sp.start { rate = 0, args = { "--max-messages", "60" } } end)
  lazy_teardown(function() if sb then sb:stop() end end)
  before_each(function() sb:reset() end)

  local function call(method, path, opts)
    return assert(rawhttp.request(sb.host, sb.port, method, path, opts))
  end

  local function send(n, extra)
    local to = {}
    for i = 1, n do to[i] = { email = ("r%d@example.com"):format(i) } end
    local email = { subject = "Hello", from = { email = "s@example.com" }, to = to, text = "plain" }
    for k, v in pairs(extra or {}) do email[k] = v end
    local res = call("POST", "/smtp/emails", { token = "sandbox-api-key", json = { email = email } })
    assert.equal(200, res.status, res.body)
    return res
  end

  it("prints the pages' address and a token at start", function()
    assert.equal(sb.url .. "/_sandbox/ui/", sb.ui_url)
    assert.matches("^%x+$", sb.ui_token)
    assert.equal(32, #sb.ui_token)
  end)

  it("refuses a state change from another origin or site, and a non-loopback Host", function()
    local cases = {
      { { Origin = "http://127.0.0.1:1" }, 403 },
      { { Origin = "null" }, 403 },
      { { ["Sec-Fetch-Site"] = "same-site" }, 403 },
      { { ["Sec-Fetch-Site"] = "cross-site" }, 403 },
      { { Host = "attacker.example:" .. sb.port }, 403 },       -- DNS rebinding
      { { Host = "127.0.0.1:" .. sb.port, Origin = "http://127.0.0.1:" .. sb.port,
          ["Sec-Fetch-Site"] = "same-origin" }, 200 },          -- the pages themselves
      { {}, 200 },                                              -- curl, the library, tests
    }
    for _, c in ipairs(cases) do
      local res = call("POST", "/_sandbox/faults", { json = { kind = "drop" }, headers = c[1] })
      assert.equal(c[2], res.status, res.body)
    end
    assert.equal(2, #sb:control("GET", "/_sandbox/faults"))
    -- reads from a rebinding name are refused too; the API itself is not concerned
    assert.equal(403, call("GET", "/_sandbox/ui/messages", { headers = { Host = "attacker.example" } }).status)
    assert.equal(403, call("GET", "/_sandbox/stats", { headers = { Host = "attacker.example" } }).status)
  end)

  it("needs the token for the pages' forms", function()
    local path = "/_sandbox/ui/control/faults"
    local none = call("POST", path, { form = { kind = "drop" } })
    assert.equal(403, none.status)
    local wrong = call("POST", path, { form = { kind = "drop", token = string.rep("0", 32) } })
    assert.equal(403, wrong.status)
    assert.equal(0, #sb:control("GET", "/_sandbox/faults"))
    local right = call("POST", path, { form = { kind = "drop", token = sb.ui_token } })
    assert.equal(303, right.status)
    assert.equal("drop", sb:control("GET", "/_sandbox/faults")[1].kind)
  end)

  it("serves pages with a strict CSP, and an email's HTML with no script and nothing remote", function()
    send(1, { html = b64("<p>hi</p><iframe src='http://x.example/'></iframe>") })
    local page = call("GET", "/_sandbox/ui/messages/1")
    assert.equal(200, page.status)
    assert.equal(html.PAGE_CSP, page.headers["content-security-policy"])
    assert.matches("frame%-ancestors 'none'", page.headers["content-security-policy"])
    assert.equal("nosniff", page.headers["x-content-type-options"])
    local mail = call("GET", "/_sandbox/ui/messages/1/html")
    assert.equal(messages.MAIL_CSP, mail.headers["content-security-policy"])
    assert.matches("default%-src 'none'", mail.headers["content-security-policy"])
    assert.matches("; sandbox$", mail.headers["content-security-policy"])
    assert.equal("<p>hi</p><sandbox-removed-iframe src='http://x.example/'></sandbox-removed-iframe>", mail.body)
    local remote = call("GET", "/_sandbox/ui/messages/1/html?remote=1")
    assert.matches("img%-src data: http: https:", remote.headers["content-security-policy"])
    assert.not_matches("script", remote.headers["content-security-policy"])
  end)

  it("downloads an attachment under its name and type, whatever the name holds", function()
    local name = 'a"b\\c;\r\nSet-Cookie: x=1; ../../évil<script>.pdf'
    send(1, { attachments_binary = { [name] = b64("%PDF") } })
    local res = call("GET", "/_sandbox/ui/messages/1/attachments/1")
    assert.equal(200, res.status)
    assert.equal("%PDF", res.body)
    assert.equal("application/pdf", res.headers["content-type"])
    assert.is_nil(res.headers["set-cookie"])
    local d = res.headers["content-disposition"]
    assert.equal("attachment; filename=\"__vil_script_.pdf\"; filename*=UTF-8''%C3%A9vil%3Cscript%3E.pdf", d)
    assert.equal("default-src 'none'; sandbox", res.headers["content-security-policy"])
    -- the page shows the whole name, escaped
    local page = call("GET", "/_sandbox/ui/messages/1").body
    assert.matches("a&quot;b\\c;", page, 1, true)
    assert.not_matches("<script>", page:gsub('<script src="/_sandbox/ui/static/app.js" defer></script>', ""), 1, true)
  end)

  it("keeps at most --max-messages messages, newest first, in pages of 50; the oldest go, API records too", function()
    send(70)
    local first = call("GET", "/_sandbox/ui/messages").body
    local _, rows = first:gsub("<tr><td><time", "")
    assert.equal(50, rows)
    assert.matches("r70@example.com", first, 1, true)
    assert.matches("Page 1 of 2 %(60 in all%)", first)
    local second = call("GET", "/_sandbox/ui/messages?page=2").body
    _, rows = second:gsub("<tr><td><time", "")
    assert.equal(10, rows)
    assert.matches("r11@example.com", second, 1, true)
    assert.not_matches("r10@example.com", second, 1, true)
    assert.equal(404, call("GET", "/_sandbox/ui/messages/10").status)
    assert.equal(200, call("GET", "/_sandbox/ui/messages/11").status)
    -- the SMTP history forgets what the inbox dropped
    local total = call("GET", "/smtp/emails/total", { token = "sandbox-api-key" }).json.total
    assert.equal(60, total)
    assert.equal(400, call("GET", "/smtp/emails/sbx00000001", { token = "sandbox-api-key" }).status)
    -- search
    local found = call("GET", "/_sandbox/ui/messages?q=r65%40example").body
    _, rows = found:gsub("<tr><td><time", "")
    assert.equal(1, rows)
  end)

  -- The live list's stream (ui/live.lua). `events(query, headers, seconds)`
  -- opens /_sandbox/ui/events and returns the first `messages` event's id
  -- (nil when none came within `seconds`), reading with a socket timeout.
  local function events(query, headers, seconds)
    local socket = require "socket"
    local sock = assert(socket.connect(sb.host, sb.port))
    local head = { "GET /_sandbox/ui/events" .. query .. " HTTP/1.1", "Host: 127.0.0.1:" .. sb.port }
    for k, v in pairs(headers or {}) do head[#head + 1] = k .. ": " .. v end
    sock:send(table.concat(head, "\r\n") .. "\r\n\r\n")
    local deadline, id = socket.gettime() + seconds, nil
    while not id and socket.gettime() < deadline do
      sock:settimeout(math.max(0.01, deadline - socket.gettime()))
      local line = sock:receive("*l")
      if not line then break end
      local n = line:match("^id: (%d+)$")
      if n then
        assert.equal("event: messages", sock:receive("*l"))
        id = tonumber(n)
      end
    end
    sock:close()
    return id
  end

  local function shown_version()
    return tonumber(call("GET", "/_sandbox/ui/messages").body:match('data%-version="(%d+)"'))
  end

  it("tells a live list of messages sent before its stream opened (since=, Last-Event-ID)", function()
    local drawn = shown_version()
    assert.is_number(drawn)
    send(1)   -- after the page was drawn, before its stream opens
    local now = shown_version()
    assert.is_true(now > drawn)
    -- from the page's version: told at once (at the stream's first look, POLL = 0.5 s)
    assert.equal(now, events("?since=" .. drawn, nil, 10))
    -- a reconnecting browser's Last-Event-ID wins over the page's since=
    assert.is_nil(events("?since=" .. drawn, { ["Last-Event-ID"] = tostring(now) }, 1.2))
    assert.equal(now, events("", { ["Last-Event-ID"] = tostring(drawn) }, 10))
    -- anything but a plain version is no version: counted from the stream's start
    for _, bad in ipairs { "?since=abc", "?since=-1", "?since=" .. string.rep("9", 16), "" } do
      assert.is_nil(events(bad, nil, 1.2), bad)
    end
  end)

  it("escapes every value it writes", function()
    assert.equal("&lt;script&gt;&quot;x&quot;&amp;&#39;", html.esc("<script>\"x\"&'"))
    assert.equal("", html.esc(nil))
  end)

  it("warns when it listens beyond loopback", function()
    assert.is_nil(sandbox.new { host = "127.0.0.1" }:exposure_warning())
    assert.is_nil(sandbox.new { host = "::1" }:exposure_warning())
    assert.matches("not on loopback", sandbox.new { host = "0.0.0.0" }:exposure_warning())
  end)
end)

describe("sandbox inbox bytes bound", function()
  it("drops the oldest messages while their contents pass --max-message-bytes", function()
    local sb = sp.start { rate = 0, args = { "--max-message-bytes", "20000" } }
    for i = 1, 5 do
      local res = assert(rawhttp.request(sb.host, sb.port, "POST", "/smtp/emails", { token = "sandbox-api-key",
        json = { email = { subject = "big " .. i, from = { email = "s@example.com" },
          to = { { email = "a@example.com" } }, html = b64(string.rep("x", 8000)) } } }))
      assert.equal(200, res.status)
    end
    local page = assert(rawhttp.request(sb.host, sb.port, "GET", "/_sandbox/ui/messages", {})).body
    sb:stop()
    -- each keeps ~8 KB of HTML and ~11 KB of request: one fits in 20,000 bytes
    assert.matches("big 5", page, 1, true)
    assert.not_matches("big 4", page, 1, true)
    assert.matches("1 kept now, 4 dropped", page, 1, true)
  end)
end)
