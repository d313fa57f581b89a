-- docs/webhooks.md runs as written: every ```lua block in order as one
-- chunk against the sandbox (what they print is checked), the nginx.conf
-- with only install paths, the port and nginx's own pid/log lines changed
-- (a webhook registered in the sandbox then reaches its on_event), and
-- every ```sh line from the repository's root.
local sandbox = require "support.sandbox_process"
local nginx_process = require "support.nginx_process"
local sys = require "support.sys"
local docs = require "support.docs"
local sendpulse = require "sendpulse"
local webhooks = require "sendpulse.webhooks"
local socket = require "socket"

local function doc()
  return sys.read_file("docs/webhooks.md")
end

local function blocks(kind)
  local list = {}
  for code in doc():gmatch("\n```" .. kind .. "\n(.-)\n```") do list[#list + 1] = code end
  return list
end

describe("docs/webhooks.md #nginx", function()
  local sb
  lazy_setup(function() sb = sandbox.start { rate = 0 } end)
  lazy_teardown(function() if sb then sb:stop() end end)

  it("its Lua examples run, and print what the text says", function()
    local code = blocks("lua")
    assert.is_true(#code >= 4, "expected the examples, found " .. #code)
    local ok, printed = pcall(docs.run_lua, table.concat(code, "\n"), "docs/webhooks.md", sb.url)
    assert(ok, tostring(printed) .. "\n" .. sb:log():sub(-2000))
    assert.same({
      "smtp delivered 1700000100 bob@example.com 987654",
      "email open 1496827422 ann@example.com 5001",
      "nil decode array",
      "sendpulse: decode error: webhook body: not a JSON array (SendPulse sends an array of events)",
      "new smtp delivered bob@example.com",
      "new email open ann@example.com",
      "200",
      "200",
      "403",
      "4 0 0 0",
      "0 0 0 4",
      "0 2 2 0",
      "smtp 1",
    }, printed)
  end)

  it("its nginx.conf receives the sandbox's webhook of an SMTP send", function()
    local confs = blocks("nginx")
    assert.equal(1, #confs)
    local conf, n = confs[1], nil
    local function sub(pattern, repl)
      conf, n = conf:gsub(pattern, repl)
      assert(n >= 1, "docs/webhooks.md's nginx.conf no longer has " .. pattern)
    end
    sub('lua_package_path%s+"[^"]*";', 'lua_package_path "${ROOT}/lua/?.lua;${ROOT}/lua/?/init.lua;;";')
    sub('lua_package_cpath%s+"[^"]*";', 'lua_package_cpath "${ROOT}/build/luajit/?.so;;";')
    sub("listen 127%.0%.0%.1:8080;", "listen 127.0.0.1:${PORT};")
    conf = "${USER_LINE}\ndaemon on;\npid ${PREFIX}/nginx.pid;\nerror_log ${PREFIX}/error.log notice;\n" .. conf
    local secret = "docs0secret0" .. ("%x"):format(os.time())
    local ng = nginx_process.start { template = conf, env = { SENDPULSE_WEBHOOK_SECRET = secret } }
    local ok, err = pcall(function()
      sb:control("POST", "/_sandbox/webhooks/config", { flush_interval = 0.1 })
      local client = sendpulse.new { client_id = "sandbox-id", client_secret = "sandbox-secret", base_url = sb.url }
      webhooks.subscribe(client, { url = ng.url .. "/sendpulse/webhook/" .. secret, actions = { "delivered" } })
      client.smtp:send { subject = "Docs", from = "shop@example.com", to = { "docs@example.com" },
                         html = "<p>Docs</p>" }
      client:close()
      local deadline = socket.gettime() + 10
      local line
      repeat
        socket.sleep(0.05)
        line = ng:log():match("[^\n]*sendpulse smtp delivered docs@example%.com[^\n]*")
      until line or socket.gettime() > deadline
      assert.truthy(line, ng:log() .. "\n" .. sb:log())
      assert.equal(403, ng:request("POST", "/sendpulse/webhook/wrong-secret-0000000000", { body = "[]" }).status)
      assert.is_nil(ng:log():find(secret, 1, true))
    end)
    ng:stop()
    assert(ok, err)
  end)

  it("its shell lines run as written", function()
    for _, code in ipairs(blocks("sh")) do
      for line in code:gmatch("[^\n]+") do
        local cmd = line:gsub("%s+#.*$", "")
        local ok, out = sys.run(cmd)
        assert(ok, cmd .. "\n" .. out)
      end
    end
  end)
end)
